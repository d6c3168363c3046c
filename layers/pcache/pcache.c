/* pcache.c — the persistent disk cache layer.
 *
 *   layers: ["pcache:dir=/var/lib/netstick/cache,size-mib=4096"]
 *
 * Keeps what the media returned in DIR, keyed by the image's identity
 * (backend_identity()), so it survives re-insert and daemon restarts;
 * shared with every other instance naming DIR (the same image on two
 * LUNs, a warm job).  store.c has the files, their format and eviction;
 * pcache.h says why checksums make it crash-safe.
 *
 * A read, per cache block of its range:
 *
 *   PRESENT    read from the data file and verified (a block that fails
 *              its checksum is dropped and fetched again)
 *   ABSENT     claimed (FETCHING); contiguous claims are one read of
 *              next, stored, then PRESENT
 *   FETCHING   someone else is fetching it: wait for them, then again
 *
 * so two readers of a missing block cause one read of next.  Every pass
 * finishes or waits for at least one block; after PCACHE_PASSES passes
 * (blocks evicted under us again and again) the rest is read from next
 * without caching.
 *
 * Writes (writable media): write-through.  The blocks written are
 * invalidated first, durably (fdatasync of the map) when any was
 * present, so a crash after the media took the write never serves the
 * old bytes; fills that raced with the write are not kept (wgen).  Reads
 * during a write go to next.  FUA and flush are next's.
 *
 * Media that reads only in order (an HTTP server without Range support,
 * no-range=download): fill.c downloads it into the cache from open on,
 * and reads wait for what has not arrived (BE_ERETRY after a while, so
 * the host sees BECOMING READY and retries).
 *
 * Threads: PARALLEL.  Locks in pcache.h; none is held across next.
 */
#include "pcache.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PCACHE_PASSES 8

static const char *const pcache_known_opts[] = {
	"dir", "size-mib", "block-kib", "allow-weak", NULL,
};

/* ---- geometry ---------------------------------------------------------- */

static uint64_t pcache_bstart(const struct pcache_call *c, uint64_t i)
{
	return (c->first + i) * c->pl->store->block_size;
}

/* Copies the request's part of blocks [i, j) from data (which holds
 * those whole blocks) into the caller's buffer. */
static void pcache_deliver(struct pcache_call *c, uint64_t i, uint64_t j,
			   const char *data)
{
	uint64_t s = pcache_bstart(c, i), e = pcache_bstart(c, j);
	uint64_t lo = c->off > s ? c->off : s;
	uint64_t hi = c->off + c->count < e ? c->off + c->count : e;

	memcpy(c->buf + (lo - c->off), data + (lo - s), hi - lo);
	for (uint64_t k = i; k < j; k++)
		c->todo[k] = 0;
}

/* Bytes of blocks [i, j), the last one possibly short. */
static uint64_t pcache_run_len(const struct pcache_call *c, uint64_t i,
			       uint64_t j)
{
	uint64_t s = pcache_bstart(c, i), e = pcache_bstart(c, j);
	uint64_t size = c->pl->im->size;

	return (e < size ? e : size) - s;
}

/* ---- claiming ------------------------------------------------------------ */

/* Classifies every block still to do; claims the absent ones.  Returns
 * false when a write-through is in flight (read next directly). */
bool pcache_classify(struct pcache_call *c, uint64_t *wgen, bool claim)
{
	struct pcache_image *im = c->pl->im;
	bool ok = true;

	pthread_mutex_lock(&im->lock);
	if (im->writers) {
		ok = false;
		goto out;
	}
	*wgen = im->wgen;
	for (uint64_t i = 0; i < c->nb; i++) {
		uint8_t *v = &im->st[c->first + i];
		c->cls[i] = PC_NONE;
		if (!c->todo[i])
			continue;
		switch (*v & PCACHE_STATE) {
		case PCACHE_PRESENT:
			*v |= PCACHE_REF;
			c->cls[i] = PC_HIT;
			break;
		case PCACHE_FETCHING:
			c->cls[i] = PC_WAIT;
			break;
		default:
			if (!claim) {        /* sequential media: the filler's */
				c->cls[i] = PC_WAIT;
				break;
			}
			*v = PCACHE_FETCHING;
			c->cls[i] = PC_MINE;
		}
	}
out:
	pthread_mutex_unlock(&im->lock);
	return ok;
}

/* Ends the claims on blocks [i, j): PRESENT with hash[] when stored and
 * no write raced, else ABSENT.  Returns whether they were kept. */
static bool pcache_settle(struct pcache_call *c, uint64_t i, uint64_t j,
			  const uint64_t *hash, uint64_t wgen)
{
	struct pcache_image *im = c->pl->im;
	bool keep;

	pthread_mutex_lock(&im->lock);
	keep = hash && im->wgen == wgen;
	for (uint64_t k = i; k < j; k++) {
		uint64_t b = c->first + k;
		im->st[b] = keep ? PCACHE_PRESENT | PCACHE_REF : PCACHE_ABSENT;
		if (keep)
			im->hash[b] = hash[k - i];
	}
	pthread_cond_broadcast(&im->cond);
	pthread_mutex_unlock(&im->lock);
	return keep;
}

/* ---- filling ------------------------------------------------------------ */

/* Writes blocks [i, j) of data to the data file, then their entries.
 * Fills hash[].  0 or -1 (nothing is vouched for then). */
static int pcache_store_run(struct pcache_call *c, uint64_t i, uint64_t j,
			    const char *data, uint64_t *hash)
{
	struct pcache_image *im = c->pl->im;
	uint64_t s = pcache_bstart(c, i), len = pcache_run_len(c, i, j);
	uint32_t bs = c->pl->store->block_size;

	for (uint64_t k = i; k < j; k++)
		hash[k - i] = pcache_block_hash(im, c->first + k,
						data + (k - i) * bs,
						pcache_block_len(im, c->first + k));
	if (pwrite(im->data_fd, data, len, (off_t)s) != (ssize_t)len ||
	    pcache_write_entries(im, c->first + i, j - i, hash) < 0) {
		if (!atomic_exchange(&c->pl->warned_store, true))
			log_warn("pcache: %s: cannot store blocks (served "
				 "uncached)", c->pl->store->dir);
		return -1;
	}
	return 0;
}

/* Counts len bytes into (or, with the reservation, out of) the image's
 * share; before the blocks turn PRESENT, so an eviction never takes
 * more than was counted. */
static void pcache_account(struct pcache_image *im, uint64_t len, bool add)
{
	struct pcache_store *s = im->store;

	pthread_mutex_lock(&s->lock);
	if (add) {
		im->bytes += len;
	} else {
		im->bytes -= len < im->bytes ? len : im->bytes;
		s->used -= len < s->used ? len : s->used;
	}
	pthread_mutex_unlock(&s->lock);
}

/* Stores a fetched run if there is room and no write raced; the claims
 * end either way. */
void pcache_keep_run(struct pcache_call *c, uint64_t i, uint64_t j,
		     const char *data, uint64_t wgen)
{
	struct pcache_image *im = c->pl->im;
	uint64_t len = pcache_run_len(c, i, j);
	uint64_t *hash = malloc((j - i) * sizeof *hash);
	bool stored = hash && pcache_reserve(im->store, len) == 0;

	if (stored && pcache_store_run(c, i, j, data, hash) < 0) {
		pcache_unreserve(im->store, len);
		stored = false;
	}
	if (stored)
		pcache_account(im, len, true);
	if (!pcache_settle(c, i, j, stored ? hash : NULL, wgen) && stored) {
		pcache_write_entries(im, c->first + i, j - i, NULL);
		pcache_account(im, len, false);
	}
	free(hash);
}

/* Releases the claims on every MINE block from i on (after a failure). */
static void pcache_release_from(struct pcache_call *c, uint64_t i)
{
	for (; i < c->nb; i++)
		if (c->cls[i] == PC_MINE)
			pcache_settle(c, i, i + 1, NULL, 0);
}

/* Fetches every run of MINE blocks from next.  0 or the error of next
 * (every claim released). */
static int pcache_fetch_mine(struct pcache_call *c, uint64_t wgen)
{
	uint32_t bs = c->pl->store->block_size;

	for (uint64_t i = 0; i < c->nb; i++) {
		uint64_t j = i, len;
		char *data;
		int r;

		if (c->cls[i] != PC_MINE)
			continue;
		while (j < c->nb && c->cls[j] == PC_MINE)
			j++;
		len = pcache_run_len(c, i, j);
		data = malloc((size_t)(j - i) * bs);
		r = data ? backend_pread(c->pl->next, data, (uint32_t)len,
					 pcache_bstart(c, i)) : BE_ENOMEM;
		if (r < 0) {
			free(data);
			pcache_release_from(c, i);
			return r;
		}
		atomic_fetch_add(&c->pl->misses, j - i);
		atomic_fetch_add(&c->pl->bytes_next, len);
		pcache_deliver(c, i, j, data);
		pcache_keep_run(c, i, j, data, wgen);
		free(data);
		i = j - 1;
	}
	return 0;
}

/* ---- hits ----------------------------------------------------------------- */

/* A block that failed its checksum: dropped if still the same. */
static void pcache_bad_block(struct pcache_call *c, uint64_t b,
			     uint64_t hash)
{
	struct pcache_image *im = c->pl->im;
	struct pcache_store *s = im->store;

	pthread_mutex_lock(&s->lock);
	pthread_mutex_lock(&im->lock);
	if ((im->st[b] & PCACHE_STATE) == PCACHE_PRESENT &&
	    im->hash[b] == hash) {
		pcache_drop_block(im, b);
		atomic_fetch_add(&s->bad_blocks, 1);
		log_warnx("pcache: %s: %s: block %" PRIu64 " failed its "
			  "checksum, fetched again", s->dir, im->name, b);
	}
	pthread_mutex_unlock(&im->lock);
	pthread_mutex_unlock(&s->lock);
}

/* Reads run [i, j) of HIT blocks from the data file into data (direct:
 * the caller's buffer itself, the run lying inside the request); each
 * block that verifies is delivered, the others dropped (fetched next
 * pass). */
static void pcache_read_run(struct pcache_call *c, uint64_t i, uint64_t j,
			    char *data, bool direct)
{
	struct pcache_image *im = c->pl->im;
	uint32_t bs = c->pl->store->block_size;
	ssize_t got = pread(im->data_fd, data, pcache_run_len(c, i, j),
			    (off_t)pcache_bstart(c, i));

	for (uint64_t k = i; k < j; k++) {
		uint64_t b = c->first + k, want;
		uint32_t bl = pcache_block_len(im, b);
		char *d = data + (k - i) * bs;
		bool ok;

		pthread_mutex_lock(&im->lock);
		want = im->hash[b];
		pthread_mutex_unlock(&im->lock);
		ok = got >= 0 && (uint64_t)got >= (k - i) * bs + bl &&
		     pcache_block_hash(im, b, d, bl) == want;
		if (!ok) {
			pcache_bad_block(c, b, want);
			continue;
		}
		if (direct)
			c->todo[k] = 0;
		else
			pcache_deliver(c, k, k + 1, d);
		atomic_fetch_add(&c->pl->hits, 1);
	}
}

static int pcache_read_bounced(struct pcache_call *c, uint64_t i, uint64_t j)
{
	char *data;

	if (i == j)
		return 0;
	if (!(data = malloc((size_t)(j - i) * c->pl->store->block_size)))
		return BE_ENOMEM;
	pcache_read_run(c, i, j, data, false);
	free(data);
	return 0;
}

/* Blocks wholly inside the request are read straight into the caller's
 * buffer (no copy); the partial ones at its edges through a bounce. */
static int pcache_read_hits(struct pcache_call *c, uint64_t i, uint64_t j)
{
	uint64_t end = c->off + c->count, ii = i, jj = j;

	while (ii < j && pcache_bstart(c, ii) < c->off)
		ii++;
	while (jj > ii && pcache_bstart(c, jj - 1) +
	       pcache_block_len(c->pl->im, c->first + jj - 1) > end)
		jj--;
	if (ii < jj)
		pcache_read_run(c, ii, jj, c->buf + (pcache_bstart(c, ii) - c->off),
				true);
	if (pcache_read_bounced(c, i, ii) < 0 || pcache_read_bounced(c, jj, j) < 0)
		return BE_ENOMEM;
	return 0;
}

int pcache_serve_hits(struct pcache_call *c)
{
	for (uint64_t i = 0; i < c->nb; i++) {
		uint64_t j = i;
		int r;

		if (c->cls[i] != PC_HIT)
			continue;
		while (j < c->nb && c->cls[j] == PC_HIT)
			j++;
		if ((r = pcache_read_hits(c, i, j)) < 0)
			return r;
		i = j - 1;
	}
	return 0;
}

/* Waits until none of this pass's WAIT blocks is FETCHING. */
static void pcache_wait_others(struct pcache_call *c)
{
	struct pcache_image *im = c->pl->im;

	pthread_mutex_lock(&im->lock);
	for (uint64_t i = 0; i < c->nb; i++)
		while (c->cls[i] == PC_WAIT &&
		       (im->st[c->first + i] & PCACHE_STATE) ==
		       PCACHE_FETCHING)
			pthread_cond_wait(&im->cond, &im->lock);
	pthread_mutex_unlock(&im->lock);
}

/* ---- the read ------------------------------------------------------------ */

/* Reads the whole range straight from next, uncached. */
static int pcache_read_direct(struct pcache_call *c)
{
	int r = backend_pread(c->pl->next, c->buf, c->count, c->off);

	if (r == 0)
		atomic_fetch_add(&c->pl->bytes_next, c->count);
	return r;
}

static bool pcache_all_done(const struct pcache_call *c)
{
	for (uint64_t i = 0; i < c->nb; i++)
		if (c->todo[i])
			return false;
	return true;
}

static int pcache_passes(struct pcache_call *c)
{
	uint64_t wgen = 0;
	int r;

	for (unsigned pass = 0; pass < PCACHE_PASSES; pass++) {
		if (!pcache_classify(c, &wgen, true))
			return pcache_read_direct(c);
		if ((r = pcache_fetch_mine(c, wgen)) < 0 ||
		    (r = pcache_serve_hits(c)) < 0)
			return r;
		pcache_wait_others(c);
		if (pcache_all_done(c))
			return 0;
	}
	return pcache_read_direct(c);
}

static int pcache_changed(struct pcache_layer *pl, int r)
{
	if (r == BE_ECHANGED)
		atomic_store(&pl->im->changed, true);
	return r;
}

static int pcache_pread(void *handle, void *buf, uint32_t count, uint64_t off)
{
	struct pcache_layer *pl = handle;
	uint32_t bs = pl->store->block_size;
	struct pcache_call c = { .pl = pl, .buf = buf, .off = off,
				 .count = count, .first = off / bs };
	int r;

	if (atomic_load(&pl->im->changed))
		return BE_ECHANGED;
	if (pcache_changed(pl, backend_ready(pl->next)) == BE_ECHANGED)
		return BE_ECHANGED;
	c.nb = (off + count - 1) / bs - c.first + 1;
	c.todo = malloc(2 * c.nb);
	if (!c.todo)
		return BE_ENOMEM;
	c.cls = c.todo + c.nb;
	memset(c.todo, 1, c.nb);
	r = pl->sequential ? pcache_seq_read(&c) : pcache_passes(&c);
	free(c.todo);
	return pcache_changed(pl, r);
}

/* ---- writes: through, invalidating ------------------------------------- */

/* Invalidates blocks of [off, off+count) and counts a writer in. */
static int pcache_write_begin(struct pcache_layer *pl, uint32_t count,
			      uint64_t off)
{
	struct pcache_image *im = pl->im;
	struct pcache_store *s = pl->store;
	uint64_t b0 = off / s->block_size;
	uint64_t b1 = (off + count - 1) / s->block_size;
	bool dropped = false;

	pthread_mutex_lock(&s->lock);
	pthread_mutex_lock(&im->lock);
	im->writers++;
	im->wgen++;
	for (uint64_t b = b0; b <= b1; b++)
		if ((im->st[b] & PCACHE_STATE) == PCACHE_PRESENT) {
			pcache_drop_block(im, b);
			dropped = true;
		}
	pthread_mutex_unlock(&im->lock);
	pthread_mutex_unlock(&s->lock);
	/* The old bytes must not come back after a crash. */
	return dropped && fdatasync(im->map_fd) < 0 ? BE_EIO_WRITE : 0;
}

static void pcache_write_end(struct pcache_layer *pl)
{
	struct pcache_image *im = pl->im;

	pthread_mutex_lock(&im->lock);
	im->wgen++;
	im->writers--;
	pthread_mutex_unlock(&im->lock);
}

static int pcache_pwrite(void *handle, const void *buf, uint32_t count,
			 uint64_t off, uint32_t flags)
{
	struct pcache_layer *pl = handle;
	int r = pcache_write_begin(pl, count, off);

	if (r == 0)
		r = backend_pwrite(pl->next, buf, count, off, flags);
	pcache_write_end(pl);
	return pcache_changed(pl, r);
}

static int pcache_trim(void *handle, uint32_t count, uint64_t off,
		       uint32_t flags)
{
	struct pcache_layer *pl = handle;
	int r = pcache_write_begin(pl, count, off);

	(void)flags;
	if (r == 0)
		r = backend_trim(pl->next, count, off);
	pcache_write_end(pl);
	return pcache_changed(pl, r);
}

static int pcache_ready(void *handle)
{
	struct pcache_layer *pl = handle;

	if (atomic_load(&pl->im->changed))
		return BE_ECHANGED;
	if (pl->sequential && !atomic_load(&pl->seq_ready))
		return atomic_load(&pl->im->fill_err) ? atomic_load(&pl->im->fill_err)
						      : BE_ERETRY;
	return pcache_changed(pl, backend_ready(pl->next));
}

/* What arrives in order is served in any order: not sequential above. */
static int pcache_sequential(void *handle)
{
	(void)handle;
	return 0;
}

/* ---- open and close -------------------------------------------------------- */

struct pcache_cfg {
	const char *dir;
	unsigned size_mib, block_kib;
	bool allow_weak;
};

static int pcache_parse(struct pcache_cfg *c, const struct backend_optset *s,
			char *err, size_t errlen)
{
	if (backend_opt_uint(s, "size-mib", 1024, 1, 16u << 20, &c->size_mib,
			     err, errlen) < 0 ||
	    backend_opt_uint(s, "block-kib", 128, 4, 4096, &c->block_kib,
			     err, errlen) < 0 ||
	    backend_opt_bool(s, "allow-weak", false, &c->allow_weak, err,
			     errlen) < 0)
		return BE_EOPEN;
	if (c->block_kib & (c->block_kib - 1)) {
		snprintf(err, errlen, "option block-kib: must be a power of "
			 "two in 4..4096");
		return BE_EOPEN;
	}
	if (!(c->dir = backend_opt_get(s, "dir"))) {
		snprintf(err, errlen, "option dir: required (the cache "
			 "directory)");
		return BE_EOPEN;
	}
	return 0;
}

/* The identity to cache under, refusing what cannot be trusted. */
static int pcache_get_identity(struct backend *next, bool allow_weak,
			       char *id, char *err, size_t errlen)
{
	int r = backend_identity(next, id, BACKEND_IDENTITY_MAX);

	if (r == BE_EUNSUPP) {
		snprintf(err, errlen, "the media has no stable identity to "
			 "cache it under");
		return BE_EOPEN;
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot get the media's identity: %s",
			 backend_strerror(r));
		return BE_EOPEN;
	}
	if (r > 0 && !allow_weak) {
		snprintf(err, errlen, "the media has no version validator "
			 "(ETag, Last-Modified): a changed image would be "
			 "served from stale cache (allow-weak=1 accepts it)");
		return BE_EOPEN;
	}
	return 0;
}

static int pcache_attach(struct pcache_layer *pl, const struct pcache_cfg *c,
			 const char *id, char *err, size_t errlen)
{
	pl->store = pcache_store_open(c->dir, (uint64_t)c->size_mib << 20,
				      c->block_kib << 10, err, errlen);
	if (!pl->store)
		return BE_EOPEN;
	pl->im = pcache_image_open(pl->store, id, pl->next->size, err, errlen);
	if (!pl->im) {
		pcache_store_close(pl->store);
		return BE_EOPEN;
	}
	return 0;
}

static int pcache_open(struct backend *next,
		       const struct backend_open_opts *opts, void **handle,
		       char *err, size_t errlen)
{
	struct backend_optset set;
	struct pcache_cfg c;
	struct pcache_layer *pl = NULL;
	char id[BACKEND_IDENTITY_MAX];
	int r;

	if (backend_optset_init(&set, "", opts, pcache_known_opts, NULL,
				err, errlen) < 0)
		return BE_EOPEN;
	r = pcache_parse(&c, &set, err, errlen);
	if (r == 0)
		r = pcache_get_identity(next, c.allow_weak, id, err, errlen);
	if (r == 0 && !(pl = calloc(1, sizeof *pl)))
		r = BE_ENOMEM;
	if (r == 0) {
		pl->next = next;
		pthread_mutex_init(&pl->fill_lock, NULL);
		r = pcache_attach(pl, &c, id, err, errlen);
	}
	if (r == 0 && backend_sequential(next))
		pcache_fill_begin(pl);
	backend_optset_free(&set);
	if (r < 0) {
		free(pl);
		return r;
	}
	log_debug(LOG_MOD_BACKEND, "pcache: %s: image %s, %" PRIu64 " of %"
		  PRIu64 " bytes cached", pl->store->dir, pl->im->name,
		  pl->im->bytes, pl->im->size);
	*handle = pl;
	return 0;
}

static void pcache_close(void *handle)
{
	struct pcache_layer *pl = handle;

	log_debug(LOG_MOD_BACKEND, "pcache: %s: %s: %" PRIu64 " hits, %"
		  PRIu64 " misses, %" PRIu64 " bytes from the media",
		  pl->store->dir, pl->im->name, (uint64_t)pl->hits,
		  (uint64_t)pl->misses, (uint64_t)pl->bytes_next);
	pcache_fill_stop(pl);
	pcache_image_close(pl->im);
	pcache_store_close(pl->store);
	pthread_mutex_destroy(&pl->fill_lock);
	free(pl);
}

/* The per-layer statistics hook (docs/layers.md): never blocks on I/O,
 * the store's short lock only. */
static void pcache_stats_op(void *handle, const struct backend_stat_sink *s)
{
	struct pcache_stats st;
	struct backend be = { .ops = &layer_pcache_ops, .handle = handle };

	pcache_get_stats(&be, &st);
	backend_stat_counter(s, "hits", st.hits);
	backend_stat_counter(s, "misses", st.misses);
	backend_stat_counter(s, "backend_bytes", st.bytes_next);
	backend_stat_gauge(s, "image_bytes", st.image_bytes);
	backend_stat_gauge(s, "store_bytes", st.used);
	backend_stat_gauge(s, "store_limit_bytes", st.limit);
}

const struct backend_ops layer_pcache_ops = {
	.ops_size = sizeof(struct backend_ops),
	.name = "pcache",
	.thread_model = BACKEND_PARALLEL,
	.open_layer = pcache_open,
	.close = pcache_close,
	.pread = pcache_pread,
	.pwrite = pcache_pwrite,
	.trim = pcache_trim,
	.ready = pcache_ready,
	.stats = pcache_stats_op,
	.sequential = pcache_sequential,
};

void pcache_get_stats(struct backend *be, struct pcache_stats *out)
{
	struct pcache_layer *pl;

	memset(out, 0, sizeof *out);
	while (be && be->ops != &layer_pcache_ops)
		be = be->next;
	if (!be)
		return;
	pl = be->handle;
	out->hits = atomic_load(&pl->hits);
	out->misses = atomic_load(&pl->misses);
	out->bytes_next = atomic_load(&pl->bytes_next);
	pthread_mutex_lock(&pl->store->lock);
	out->used = pl->store->used;
	out->limit = pl->store->limit;
	out->image_bytes = pl->im->bytes;
	pthread_mutex_unlock(&pl->store->lock);
}
