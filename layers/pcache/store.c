/* store.c — the persistent cache's directory: the registry of stores,
 * image files and their format, space accounting and eviction.  See
 * pcache.h for the layout and why checksums make it crash-safe.
 *
 * Eviction, when a fill would pass the limit:
 *   1. closed images (no instance open), least recently used first, go
 *      whole (both files deleted): an image nobody serves is the best
 *      victim, and deleting it is one unlink;
 *   2. then blocks of open images, by CLOCK over every open image's
 *      PRESENT blocks (a hit sets REF; the hand clears it or evicts), so
 *      a block read again survives a scan; FETCHING blocks are skipped.
 * The hand goes round at most twice per reservation: when nothing can go
 * (everything in flight), the fill is served but not stored.
 */
#include "pcache.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static pthread_mutex_t pcache_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pcache_store *pcache_stores;

/* ---- format ----------------------------------------------------------- */

uint32_t pcache_block_len(const struct pcache_image *im, uint64_t b)
{
	uint64_t bs = im->store->block_size, start = b * bs;

	return im->size - start < bs ? (uint32_t)(im->size - start)
				     : (uint32_t)bs;
}

uint64_t pcache_block_hash(const struct pcache_image *im, uint64_t b,
			   const void *data, uint32_t len)
{
	return XXH3_64bits_withSeed(data, len, im->salt ^ b);
}

static uint32_t pcache_entry_check(const struct pcache_image *im,
				   uint64_t hash, uint32_t index)
{
	unsigned char k[12];

	memcpy(k, &hash, 8);
	memcpy(k + 8, &index, 4);
	return (uint32_t)XXH3_64bits_withSeed(k, sizeof k, im->salt);
}

bool pcache_entry_valid(const struct pcache_image *im, uint64_t b,
			const struct pcache_entry *e, uint64_t *hash)
{
	if (e->index != (uint32_t)b ||
	    e->check != pcache_entry_check(im, e->hash, e->index))
		return false;
	*hash = e->hash;
	return true;
}

int pcache_write_entries(struct pcache_image *im, uint64_t b, uint64_t n,
			 const uint64_t *hash)
{
	struct pcache_entry *e = calloc(n, sizeof *e);
	ssize_t w;

	if (!e)
		return -1;
	for (uint64_t i = 0; hash && i < n; i++) {
		e[i].hash = hash[i];
		e[i].index = (uint32_t)(b + i);
		e[i].check = pcache_entry_check(im, e[i].hash, e[i].index);
	}
	w = pwrite(im->map_fd, e, n * sizeof *e,
		   (off_t)(PCACHE_PAGE + b * PCACHE_ENTRY));
	free(e);
	return w == (ssize_t)(n * sizeof *e) ? 0 : -1;
}

static void pcache_name_of(const char *identity, char name[33])
{
	XXH128_hash_t h = XXH3_128bits(identity, strlen(identity));

	snprintf(name, 33, "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
}

static void pcache_path(const struct pcache_store *s, const char *name,
			const char *ext, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.%s", s->dir, name, ext);
}

/* Length of the first line (the object's name). */
static size_t pcache_source_len(const char *identity)
{
	return strcspn(identity, "\n");
}

static bool pcache_same_object(const char *a, const char *b)
{
	size_t n = pcache_source_len(a);

	return n == pcache_source_len(b) && strncmp(a, b, n) == 0;
}

static uint64_t pcache_header_check(const unsigned char *page)
{
	unsigned char copy[PCACHE_PAGE];
	struct pcache_header *h = (struct pcache_header *)copy;

	memcpy(copy, page, PCACHE_PAGE);
	h->check = 0;
	return XXH3_64bits(copy, PCACHE_PAGE);
}

/* Reads and checks the header page of fd.  0, or -1 when it is not a
 * valid header of this format. */
static int pcache_read_header(int fd, struct pcache_header *out)
{
	unsigned char page[PCACHE_PAGE];
	const struct pcache_header *h = (const struct pcache_header *)page;

	if (pread(fd, page, sizeof page, 0) != (ssize_t)sizeof page ||
	    memcmp(h->magic, PCACHE_MAGIC, 8) != 0 ||
	    h->version != PCACHE_VERSION ||
	    h->byte_order != PCACHE_BYTE_ORDER ||
	    h->id_len == 0 || h->id_len >= BACKEND_IDENTITY_MAX ||
	    h->check != pcache_header_check(page))
		return -1;
	memcpy(out, h, sizeof *out);
	out->identity[out->id_len] = '\0';
	return strlen(out->identity) == out->id_len ? 0 : -1;
}

static int pcache_write_header(const struct pcache_image *im, int fd)
{
	unsigned char page[PCACHE_PAGE] = { 0 };
	struct pcache_header *h = (struct pcache_header *)page;
	size_t n = strlen(im->identity);

	memcpy(h->magic, PCACHE_MAGIC, 8);
	h->version = PCACHE_VERSION;
	h->byte_order = PCACHE_BYTE_ORDER;
	h->block_size = im->store->block_size;
	h->id_len = (uint32_t)n;
	h->image_size = im->size;
	h->last_used = im->last_used;
	memcpy(h->identity, im->identity, n);
	h->check = pcache_header_check(page);
	return pwrite(fd, page, sizeof page, 0) == (ssize_t)sizeof page ? 0
									: -1;
}

/* ---- images: known, open, gone ---------------------------------------- */

static struct pcache_image *pcache_image_new(struct pcache_store *s,
					     const char *identity,
					     uint64_t size)
{
	struct pcache_image *im = calloc(1, sizeof *im);

	if (!im || !(im->identity = strdup(identity))) {
		free(im);
		return NULL;
	}
	im->store = s;
	im->size = size;
	im->salt = XXH3_64bits(identity, strlen(identity));
	im->data_fd = im->map_fd = -1;
	pcache_name_of(identity, im->name);
	return im;
}

/* Deletes both files of im and forgets it; store lock held, not open. */
static void pcache_image_delete(struct pcache_image *im)
{
	struct pcache_store *s = im->store;
	struct pcache_image **p;
	char path[4200];

	pcache_path(s, im->name, "map", path, sizeof path);
	unlink(path);
	pcache_path(s, im->name, "data", path, sizeof path);
	unlink(path);
	for (p = &s->images; *p && *p != im; p = &(*p)->next)
		;
	if (*p)
		*p = im->next;
	if (s->hand_img == im) {
		s->hand_img = NULL;
		s->hand_blk = 0;
	}
	s->used -= im->bytes < s->used ? im->bytes : s->used;
	free(im->identity);
	free(im);
}

/* A file pair found in the directory at store open. */
static void pcache_scan_one(struct pcache_store *s, const char *name)
{
	struct pcache_header h;
	struct pcache_image *im;
	char path[4200];
	struct stat st;
	int fd;

	pcache_path(s, name, "map", path, sizeof path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (pcache_read_header(fd, &h) < 0 || h.block_size != s->block_size ||
	    !(im = pcache_image_new(s, h.identity, h.image_size)) ||
	    strcmp(im->name, name) != 0) {
		close(fd);
		log_info("pcache: %s: %s: not a valid cache image for these "
			 "settings, removed", s->dir, name);
		unlink(path);
		pcache_path(s, name, "data", path, sizeof path);
		unlink(path);
		return;
	}
	close(fd);
	im->last_used = h.last_used;
	pcache_path(s, name, "data", path, sizeof path);
	if (stat(path, &st) == 0)
		im->bytes = (uint64_t)st.st_blocks * 512;
	s->used += im->bytes;
	im->next = s->images;
	s->images = im;
}

/* Every DIR/<32 hex>.map; anything else is left alone. */
static void pcache_scan(struct pcache_store *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char name[33];
		if (strlen(de->d_name) != 36 ||
		    strcmp(de->d_name + 32, ".map") != 0 ||
		    strspn(de->d_name, "0123456789abcdef") != 32)
			continue;
		memcpy(name, de->d_name, 32);
		name[32] = '\0';
		pcache_scan_one(s, name);
	}
	if (d)
		closedir(d);
}

/* Loads the entries that verify; counts the bytes. */
static int pcache_load_map(struct pcache_image *im)
{
	struct pcache_entry e[256];

	for (uint64_t b = 0; b < im->nblocks; b += 256) {
		uint64_t n = im->nblocks - b < 256 ? im->nblocks - b : 256;
		ssize_t r = pread(im->map_fd, e, n * sizeof e[0],
				  (off_t)(PCACHE_PAGE + b * PCACHE_ENTRY));
		if (r < 0)
			return -1;
		for (uint64_t i = 0; i < n && (i + 1) * sizeof e[0] <=
		     (uint64_t)r; i++)
			if (pcache_entry_valid(im, b + i, &e[i], &im->hash[b + i])) {
				im->st[b + i] = PCACHE_PRESENT;
				im->bytes += pcache_block_len(im, b + i);
			}
	}
	return 0;
}

/* Punches out data the map does not vouch for (a crash between a data
 * write and its entry), so the space accounting stays true. */
static void pcache_trim_orphans(struct pcache_image *im)
{
	uint64_t bs = im->store->block_size;
	off_t pos = 0, end;

	for (unsigned guard = 0; guard < 1u << 20; guard++) {
		pos = lseek(im->data_fd, pos, SEEK_DATA);
		if (pos < 0)
			return;
		end = lseek(im->data_fd, pos, SEEK_HOLE);
		if (end < 0)
			return;
		for (uint64_t b = (uint64_t)pos / bs;
		     b * bs < (uint64_t)end && b < im->nblocks; b++)
			if (im->st[b] != PCACHE_PRESENT)
				fallocate(im->data_fd, FALLOC_FL_PUNCH_HOLE |
					  FALLOC_FL_KEEP_SIZE, (off_t)(b * bs),
					  (off_t)bs);
		pos = end;
	}
}

static int pcache_open_files(struct pcache_image *im, bool fresh)
{
	struct pcache_store *s = im->store;
	char path[4200];
	int fl = O_RDWR | O_CREAT | O_CLOEXEC | (fresh ? O_TRUNC : 0);

	pcache_path(s, im->name, "map", path, sizeof path);
	im->map_fd = open(path, fl, 0600);
	pcache_path(s, im->name, "data", path, sizeof path);
	im->data_fd = open(path, fl, 0600);
	if (im->map_fd < 0 || im->data_fd < 0 ||
	    ftruncate(im->data_fd, (off_t)im->size) < 0)
		return -1;
	if (fresh && (pcache_write_header(im, im->map_fd) < 0 ||
		      ftruncate(im->map_fd, (off_t)(PCACHE_PAGE +
				im->nblocks * PCACHE_ENTRY)) < 0 ||
		      fdatasync(im->map_fd) < 0))
		return -1;
	return 0;
}

static void pcache_close_fds(struct pcache_image *im)
{
	if (im->map_fd >= 0)
		close(im->map_fd);
	if (im->data_fd >= 0)
		close(im->data_fd);
	im->map_fd = im->data_fd = -1;
}

/* Sets up the in-memory state and the files of im; store lock held. */
static int pcache_image_activate(struct pcache_image *im, bool fresh)
{
	struct pcache_store *s = im->store;
	struct pcache_header h;

	im->nblocks = (im->size + s->block_size - 1) / s->block_size;
	im->st = calloc(im->nblocks, 1);
	im->hash = calloc(im->nblocks, sizeof *im->hash);
	if (!im->st || !im->hash || pcache_open_files(im, fresh) < 0)
		goto fail;
	if (!fresh && (pcache_read_header(im->map_fd, &h) < 0 ||
		       strcmp(h.identity, im->identity) != 0))
		goto fail;
	s->used -= im->bytes < s->used ? im->bytes : s->used;
	im->bytes = 0;
	if (!fresh && pcache_load_map(im) < 0)
		goto fail;
	pcache_trim_orphans(im);
	s->used += im->bytes;
	pthread_mutex_init(&im->lock, NULL);
	backend_cond_init(&im->cond);
	atomic_init(&im->changed, false);
	atomic_init(&im->fill_err, 0);
	im->filling = false;
	im->last_used = (uint64_t)time(NULL);
	pcache_write_header(im, im->map_fd);
	return 0;
fail:
	pcache_close_fds(im);
	free(im->st);
	free(im->hash);
	im->st = NULL;
	im->hash = NULL;
	return -1;
}

/* Other versions of the same object are stale: gone now, or at their
 * last close when open. */
static void pcache_drop_versions(struct pcache_store *s, const char *identity)
{
	struct pcache_image *im = s->images, *next;

	for (; im; im = next) {
		next = im->next;
		if (strcmp(im->identity, identity) == 0 ||
		    !pcache_same_object(im->identity, identity))
			continue;
		log_info("pcache: %s: %s: the object changed, old version "
			 "dropped", s->dir, im->name);
		if (im->refs)
			im->stale = true;
		else
			pcache_image_delete(im);
	}
}

static struct pcache_image *pcache_image_find(struct pcache_store *s,
					      const char *identity)
{
	for (struct pcache_image *im = s->images; im; im = im->next)
		if (strcmp(im->identity, identity) == 0 && !im->stale)
			return im;
	return NULL;
}

/* An image found at scan but not openable as it is: start it over. */
static int pcache_image_reset(struct pcache_image *im)
{
	if (pcache_image_activate(im, false) == 0)
		return 0;
	log_info("pcache: %s: %s: unreadable, starting it empty",
		 im->store->dir, im->name);
	return pcache_image_activate(im, true);
}

struct pcache_image *pcache_image_open(struct pcache_store *s,
				       const char *identity, uint64_t size,
				       char *err, size_t errlen)
{
	struct pcache_image *im;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	pcache_drop_versions(s, identity);
	im = pcache_image_find(s, identity);
	if (im && im->size != size) {
		pcache_image_delete(im);   /* closed: refs would pin size */
		im = NULL;
	}
	if (!im && (im = pcache_image_new(s, identity, size)) != NULL) {
		r = pcache_image_activate(im, true);
		if (r == 0) {
			im->next = s->images;
			s->images = im;
		}
	} else if (im && im->refs == 0) {
		r = pcache_image_reset(im);
	}
	if (!im || r < 0) {
		snprintf(err, errlen, "%s: cannot create the cache files: %s",
			 s->dir, strerror(errno ? errno : ENOMEM));
		if (im && r < 0 && im->refs == 0)
			pcache_image_delete(im);
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	im->refs++;
	pthread_mutex_unlock(&s->lock);
	return im;
}

void pcache_image_close(struct pcache_image *im)
{
	struct pcache_store *s = im->store;

	pthread_mutex_lock(&s->lock);
	if (--im->refs > 0) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (atomic_load(&im->changed))
		im->stale = true;
	im->last_used = (uint64_t)time(NULL);
	if (!im->stale)
		pcache_write_header(im, im->map_fd);
	pcache_close_fds(im);
	pthread_mutex_destroy(&im->lock);
	pthread_cond_destroy(&im->cond);
	free(im->st);
	free(im->hash);
	im->st = NULL;
	im->hash = NULL;
	if (s->hand_img == im) {
		s->hand_img = NULL;
		s->hand_blk = 0;
	}
	if (im->stale)
		pcache_image_delete(im);
	pthread_mutex_unlock(&s->lock);
}

/* ---- eviction ---------------------------------------------------------- */

void pcache_drop_block(struct pcache_image *im, uint64_t b)
{
	struct pcache_store *s = im->store;
	uint64_t bs = s->block_size;
	uint32_t len = pcache_block_len(im, b);

	im->st[b] = PCACHE_ABSENT;
	pcache_write_entries(im, b, 1, NULL);
	fallocate(im->data_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		  (off_t)(b * bs), (off_t)len);
	im->bytes -= len < im->bytes ? len : im->bytes;
	s->used -= len < s->used ? len : s->used;
}

/* The least recently used closed image, or NULL. */
static struct pcache_image *pcache_lru_closed(struct pcache_store *s)
{
	struct pcache_image *best = NULL;

	for (struct pcache_image *im = s->images; im; im = im->next)
		if (!im->refs && (!best || im->last_used < best->last_used))
			best = im;
	return best;
}

/* The next open image after im (wrapping), or NULL when none is open. */
static struct pcache_image *pcache_next_open(struct pcache_store *s,
					     struct pcache_image *im)
{
	struct pcache_image *start = im ? im->next : s->images;

	for (struct pcache_image *p = start; p; p = p->next)
		if (p->refs && p->st)
			return p;
	for (struct pcache_image *p = s->images; p && p != start; p = p->next)
		if (p->refs && p->st)
			return p;
	return NULL;
}

/* One step of the CLOCK hand: true when it evicted a block. */
static bool pcache_clock_step(struct pcache_image *im, uint64_t b)
{
	uint8_t v;
	bool evicted = false;

	pthread_mutex_lock(&im->lock);
	v = im->st[b];
	if ((v & PCACHE_STATE) == PCACHE_PRESENT) {
		if (v & PCACHE_REF) {
			im->st[b] = v & ~PCACHE_REF;
		} else {
			pcache_drop_block(im, b);
			evicted = true;
		}
	}
	pthread_mutex_unlock(&im->lock);
	return evicted;
}

/* Evicts one block of an open image by CLOCK; false when a full two
 * turns found none.  Store lock held. */
static bool pcache_clock_evict(struct pcache_store *s)
{
	uint64_t total = 0;

	for (struct pcache_image *im = s->images; im; im = im->next)
		if (im->refs && im->st)
			total += im->nblocks;
	for (uint64_t steps = 0; steps < 2 * total; steps++) {
		if (!s->hand_img || s->hand_blk >= s->hand_img->nblocks) {
			s->hand_img = pcache_next_open(s, s->hand_img);
			s->hand_blk = 0;
			if (!s->hand_img)
				return false;
		}
		if (pcache_clock_step(s->hand_img, s->hand_blk++)) {
			atomic_fetch_add(&s->evicted_blocks, 1);
			return true;
		}
	}
	return false;
}

int pcache_reserve(struct pcache_store *s, uint64_t n)
{
	struct pcache_image *victim;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	while (s->used + n > s->limit) {
		if ((victim = pcache_lru_closed(s)) != NULL) {
			log_debug(LOG_MOD_BACKEND, "pcache: %s: evicting %s "
				  "(%" PRIu64 " bytes)", s->dir, victim->name,
				  victim->bytes);
			pcache_image_delete(victim);
			atomic_fetch_add(&s->evicted_images, 1);
		} else if (!pcache_clock_evict(s)) {
			r = -1;
			break;
		}
	}
	if (r == 0)
		s->used += n;
	pthread_mutex_unlock(&s->lock);
	return r;
}

void pcache_unreserve(struct pcache_store *s, uint64_t n)
{
	pthread_mutex_lock(&s->lock);
	s->used -= n < s->used ? n : s->used;
	pthread_mutex_unlock(&s->lock);
}

/* ---- stores ------------------------------------------------------------ */

static struct pcache_store *pcache_store_new(const char *real, uint64_t limit,
					     uint32_t block_size, char *err,
					     size_t errlen)
{
	struct pcache_store *s = calloc(1, sizeof *s);
	char path[4200];

	if (!s || !(s->dir = strdup(real))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(path, sizeof path, "%s/LOCK", real);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "%s: %s", real, s->lock_fd < 0 ?
			 strerror(errno) : "in use by another process");
		if (s->lock_fd >= 0)
			close(s->lock_fd);
		free(s->dir);
		free(s);
		return NULL;
	}
	s->limit = limit;
	s->block_size = block_size;
	pthread_mutex_init(&s->lock, NULL);
	atomic_init(&s->evicted_blocks, 0);
	atomic_init(&s->evicted_images, 0);
	atomic_init(&s->bad_blocks, 0);
	pcache_scan(s);
	return s;
}

/* The realpath of dir, creating it (0700) when only it is missing. */
static char *pcache_realdir(const char *dir, char *err, size_t errlen)
{
	char *real;
	struct stat st;

	if (dir[0] != '/') {
		snprintf(err, errlen, "option dir: must be an absolute path");
		return NULL;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	if (!(real = realpath(dir, NULL)) || stat(real, &st) < 0 ||
	    !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		free(real);
		return NULL;
	}
	return real;
}

struct pcache_store *pcache_store_open(const char *dir, uint64_t limit,
				       uint32_t block_size, char *err,
				       size_t errlen)
{
	char *real = pcache_realdir(dir, err, errlen);
	struct pcache_store *s;

	if (!real)
		return NULL;
	pthread_mutex_lock(&pcache_registry_lock);
	for (s = pcache_stores; s && strcmp(s->dir, real) != 0; s = s->next)
		;
	if (s && (s->limit != limit || s->block_size != block_size)) {
		snprintf(err, errlen, "%s: already in use with size-mib=%" PRIu64
			 ", block-kib=%u: give the same settings everywhere",
			 real, s->limit >> 20, s->block_size >> 10);
		s = NULL;
	} else if (s) {
		s->refs++;
	} else if ((s = pcache_store_new(real, limit, block_size, err,
					 errlen)) != NULL) {
		s->refs = 1;
		s->next = pcache_stores;
		pcache_stores = s;
	}
	pthread_mutex_unlock(&pcache_registry_lock);
	free(real);
	return s;
}

void pcache_store_close(struct pcache_store *s)
{
	struct pcache_store **p;

	pthread_mutex_lock(&pcache_registry_lock);
	if (--s->refs > 0) {
		pthread_mutex_unlock(&pcache_registry_lock);
		return;
	}
	for (p = &pcache_stores; *p && *p != s; p = &(*p)->next)
		;
	if (*p)
		*p = s->next;
	pthread_mutex_unlock(&pcache_registry_lock);
	while (s->images) {
		struct pcache_image *im = s->images;
		s->images = im->next;
		free(im->identity);
		free(im);
	}
	close(s->lock_fd);   /* drops the flock */
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
}
