/* test-pcache.c — the persistent cache layer (layers/pcache/) over real
 * files: fills and hits across reopen, the map/file format (entries,
 * header, checksums: a flipped data byte, a torn entry, a bad header),
 * identity changes, eviction within the bound and across images,
 * in-flight de-duplication with concurrent readers, write-through,
 * refusals (no identity, bad options), and media that reads only in
 * order (filled in the background, served as it arrives). */
#include "backend.h"
#include "pcache/pcache.h"
#include "test.h"

#include <dirent.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char err[512];
static char tmpdir[] = "/tmp/netstick-pcache.XXXXXX";
static char cachedir[128], spec[200];

/* A file of n random bytes at tmpdir/name; its path in out. */
static void make_image(const char *name, size_t n, char *out, size_t len,
		       unsigned seed)
{
	char *b = malloc(n);
	int fd;

	snprintf(out, len, "%s/%s", tmpdir, name);
	srand(seed);
	for (size_t i = 0; i < n; i++)
		b[i] = (char)rand();
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, b, n) != (ssize_t)n)
		abort();
	close(fd);
	free(b);
}

static char *slurp(const char *path, size_t n)
{
	char *b = malloc(n);
	int fd = open(path, O_RDONLY);

	if (fd < 0 || read(fd, b, n) != (ssize_t)n)
		abort();
	close(fd);
	return b;
}

static struct backend *open_cached(const char *path, const char *layers0,
				   const char *layers1, bool ro)
{
	const char *layers[3] = { layers0, layers1, NULL };
	struct backend_open_opts o = { .block_size = 512, .readonly = ro,
				       .layers = layers };
	struct backend *be = backend_open(path, &o, err, sizeof err);

	if (!be)
		fprintf(stderr, "  open: %s\n", err);
	return be;
}

static void set_spec(unsigned size_mib, unsigned block_kib)
{
	snprintf(spec, sizeof spec, "pcache:dir=%s,size-mib=%u,block-kib=%u",
		 cachedir, size_mib, block_kib);
}

/* Reads all of be in chunk-byte pieces (unaligned to the cache's blocks)
 * and compares with want.  Returns the number of bad reads. */
static int read_compare(struct backend *be, const char *want, uint32_t chunk)
{
	char *b = malloc(chunk);
	int bad = 0;

	for (uint64_t off = 0; off < be->size; off += chunk) {
		uint32_t n = be->size - off < chunk ? (uint32_t)(be->size - off)
						     : chunk;
		if (backend_pread(be, b, n, off) != 0 ||
		    memcmp(b, want + off, n) != 0)
			bad++;
	}
	free(b);
	return bad;
}

static unsigned count_maps(void)
{
	DIR *d = opendir(cachedir);
	struct dirent *de;
	unsigned n = 0;

	while (d && (de = readdir(d)))
		n += strstr(de->d_name, ".map") != NULL;
	if (d)
		closedir(d);
	return n;
}

/* The single .map/.data path of the cache dir with this extension. */
static void cache_file(const char *ext, char *out, size_t len)
{
	DIR *d = opendir(cachedir);
	struct dirent *de;

	out[0] = '\0';
	while (d && (de = readdir(d)))
		if (strstr(de->d_name, ext) &&
		    (size_t)snprintf(out, len, "%s/%.64s", cachedir,
				     de->d_name) >= len)
			abort();
	closedir(d);
}

static void clear_cache(void)
{
	char cmd[200];

	snprintf(cmd, sizeof cmd, "rm -rf %s", cachedir);
	if (system(cmd) != 0)
		abort();
}

/* ---- tests ------------------------------------------------------------- */

TEST(fill_then_hits_after_reopen)
{
	char img[128];
	struct pcache_stats st;
	struct backend *be;
	char *want;

	clear_cache();
	set_spec(64, 64);
	make_image("a.img", 4 << 20, img, sizeof img, 1);
	want = slurp(img, 4 << 20);
	CHECK((be = open_cached(img, spec, NULL, true)) != NULL);
	CHECK_EQ(read_compare(be, want, 100 * 1024), 0);
	pcache_get_stats(be, &st);
	CHECK_EQ(st.misses, 64);            /* each block fetched once */
	CHECK_EQ(st.bytes_next, 4 << 20);
	CHECK_EQ(st.image_bytes, 4 << 20);
	backend_close(be);
	CHECK((be = open_cached(img, spec, NULL, true)) != NULL);
	CHECK_EQ(read_compare(be, want, 100 * 1024), 0);
	pcache_get_stats(be, &st);
	CHECK_EQ(st.bytes_next, 0);
	CHECK(st.hits >= 64);
	CHECK_EQ(st.used, 4 << 20);
	backend_close(be);
	free(want);
}

TEST(identity_change_drops_old_version)
{
	char img[128];
	struct pcache_stats st;
	struct backend *be;
	struct timespec ts[2] = { { .tv_sec = 1000000000 },
				  { .tv_sec = 1000000000 } };
	char *want;

	clear_cache();
	set_spec(64, 64);
	make_image("b.img", 1 << 20, img, sizeof img, 2);
	CHECK((be = open_cached(img, spec, NULL, true)) != NULL);
	want = slurp(img, 1 << 20);
	CHECK_EQ(read_compare(be, want, 65536), 0);
	backend_close(be);
	free(want);
	CHECK_EQ(count_maps(), 1);
	/* Same inode, new content and mtime: a new version. */
	make_image("b.img", 1 << 20, img, sizeof img, 3);
	utimensat(AT_FDCWD, img, ts, 0);
	want = slurp(img, 1 << 20);
	CHECK((be = open_cached(img, spec, NULL, true)) != NULL);
	CHECK_EQ(count_maps(), 1);
	CHECK_EQ(read_compare(be, want, 65536), 0);
	pcache_get_stats(be, &st);
	CHECK_EQ(st.hits, 0);
	CHECK_EQ(st.misses, 16);
	backend_close(be);
	free(want);
}

/* Fills a 1 MiB image with 64 KiB blocks and closes it; returns want. */
static char *filled(const char *name, char *img, size_t len, unsigned seed)
{
	struct backend *be;
	char *want;

	make_image(name, 1 << 20, img, len, seed);
	want = slurp(img, 1 << 20);
	be = open_cached(img, spec, NULL, true);
	if (!be || read_compare(be, want, 65536) != 0)
		abort();
	backend_close(be);
	return want;
}

static void poke(const char *path, off_t off, const void *b, size_t n)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || pwrite(fd, b, n, off) != (ssize_t)n)
		abort();
	close(fd);
}

TEST(flipped_data_byte_is_refetched)
{
	char img[128], data[200];
	struct pcache_stats st;
	struct backend *be;
	char *want, x = 0x5a;

	clear_cache();
	set_spec(64, 64);
	want = filled("c.img", img, sizeof img, 4);
	cache_file(".data", data, sizeof data);
	poke(data, 3 * 65536 + 100, &x, 1);
	CHECK((be = open_cached(img, spec, NULL, true)) != NULL);
	CHECK_EQ(read_compare(be, want, 65536), 0);
	pcache_get_stats(be, &st);
	CHECK_EQ(st.misses, 1);
	CHECK_EQ(st.hits, 15);
	backend_close(be);
	free(want);
}

TEST(torn_entry_and_lost_data_are_misses)
{
	char img[128], map[200], data[200];
	struct pcache_stats st;
	struct backend *be;
	char junk[8] = "torn!!!";
	char *want, *zero = calloc(1, 65536);

	clear_cache();
	set_spec(64, 64);
	want = filled("d.img", img, sizeof img, 5);
	cache_file(".map", map, sizeof map);
	cache_file(".data", data, sizeof data);
	/* Entry 5 half overwritten; block 9's data never reached the disk
	 * (a hole where its entry says data). */
	poke(map, PCACHE_PAGE + 5 * PCACHE_ENTRY + 4, junk, sizeof junk);
	poke(data, 9 * 65536, zero, 65536);
	CHECK((be = open_cached(img, spec, NULL, true)) != NULL);
	CHECK_EQ(read_compare(be, want, 65536), 0);
	pcache_get_stats(be, &st);
	CHECK_EQ(st.misses, 2);
	backend_close(be);
	free(want);
	free(zero);
}

TEST(bad_header_discards_the_image)
{
	char img[128], map[200];
	struct pcache_stats st;
	struct backend *be;
	char x = 1;
	char *want;

	clear_cache();
	set_spec(64, 64);
	want = filled("e.img", img, sizeof img, 6);
	cache_file(".map", map, sizeof map);
	poke(map, 40, &x, 1);   /* inside the header page */
	CHECK((be = open_cached(img, spec, NULL, true)) != NULL);
	CHECK_EQ(read_compare(be, want, 65536), 0);
	pcache_get_stats(be, &st);
	CHECK_EQ(st.misses, 16);
	backend_close(be);
	free(want);
}

TEST(entry_format_checks_index_and_salt)
{
	struct pcache_store s = { .block_size = 65536 };
	struct pcache_image a = { .store = &s, .size = 1 << 20, .salt = 7 };
	struct pcache_image b = a;
	struct pcache_entry e = { .hash = 0x1234 };
	uint64_t h;

	b.salt = 8;
	/* An all-zero entry is absent. */
	CHECK(!pcache_entry_valid(&a, 0, &(struct pcache_entry){ 0 }, &h));
	/* Build a valid one the way the writer does: through a file. */
	{
		char path[200];
		int fd;
		snprintf(path, sizeof path, "%s/entry-test", tmpdir);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		a.map_fd = fd;
		CHECK_EQ(pcache_write_entries(&a, 3, 1, &e.hash), 0);
		CHECK(pread(fd, &e, sizeof e, PCACHE_PAGE + 3 * PCACHE_ENTRY) ==
		      (ssize_t)sizeof e);
		close(fd);
	}
	CHECK(pcache_entry_valid(&a, 3, &e, &h));
	CHECK_EQ(h, 0x1234);
	CHECK(!pcache_entry_valid(&a, 4, &e, &h));   /* another block */
	CHECK(!pcache_entry_valid(&b, 3, &e, &h));   /* another image */
	CHECK_EQ(pcache_block_len(&a, 15), 65536);
	a.size = 15 * 65536 + 512;
	CHECK_EQ(pcache_block_len(&a, 15), 512);
}

TEST(eviction_keeps_within_the_bound)
{
	char img[128];
	struct pcache_stats st;
	struct backend *be;
	char *want;

	clear_cache();
	set_spec(1, 64);
	make_image("f.img", 4 << 20, img, sizeof img, 7);
	want = slurp(img, 4 << 20);
	CHECK((be = open_cached(img, spec, NULL, true)) != NULL);
	CHECK_EQ(read_compare(be, want, 100 * 1024), 0);
	pcache_get_stats(be, &st);
	CHECK(st.used <= 1 << 20);
	CHECK(st.used >= (1 << 20) - 2 * 65536);
	CHECK_EQ(read_compare(be, want, 65536), 0);
	pcache_get_stats(be, &st);
	CHECK(st.used <= 1 << 20);
	backend_close(be);
	free(want);
}

TEST(eviction_takes_closed_images_first)
{
	char a[128], b[128], map_a[200];
	struct stat sb;
	char *wa, *wb;

	clear_cache();
	set_spec(1, 64);
	wa = filled("g.img", a, sizeof a, 8);
	cache_file(".map", map_a, sizeof map_a);
	CHECK(stat(map_a, &sb) == 0);
	wb = filled("h.img", b, sizeof b, 9);  /* needs all of the 1 MiB */
	CHECK(stat(map_a, &sb) < 0);           /* a went whole */
	CHECK_EQ(count_maps(), 1);
	free(wa);
	free(wb);
}

struct reader { struct backend *be; const char *want; int bad; };

static void *reader_thread(void *arg)
{
	struct reader *r = arg;

	r->bad = read_compare(r->be, r->want, 65536);
	return NULL;
}

TEST(concurrent_readers_fetch_each_block_once)
{
	char img[128];
	struct pcache_stats st;
	struct backend *be;
	pthread_t t[8];
	struct reader r[8];
	char *want;

	clear_cache();
	set_spec(64, 64);
	make_image("i.img", 1 << 20, img, sizeof img, 10);
	want = slurp(img, 1 << 20);
	CHECK((be = open_cached(img, "inject:delay-ms=5", spec, true)) != NULL);
	CHECK(be->thread_model == BACKEND_PARALLEL);
	for (int i = 0; i < 8; i++) {
		r[i] = (struct reader){ .be = be, .want = want };
		pthread_create(&t[i], NULL, reader_thread, &r[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(r[i].bad, 0);
	}
	pcache_get_stats(be, &st);
	CHECK_EQ(st.bytes_next, 1 << 20);
	CHECK_EQ(st.misses, 16);
	CHECK_EQ(st.hits, 7 * 16);
	backend_close(be);
	free(want);
}

TEST(write_through_invalidates)
{
	char img[128];
	struct backend *be;
	char *want, *nb = malloc(65536), *got = malloc(65536);

	clear_cache();
	set_spec(64, 64);
	make_image("j.img", 1 << 20, img, sizeof img, 11);
	want = slurp(img, 1 << 20);
	CHECK((be = open_cached(img, spec, NULL, false)) != NULL);
	CHECK(!be->readonly);
	CHECK_EQ(read_compare(be, want, 65536), 0);
	memset(nb, 0x77, 65536);
	CHECK_EQ(backend_pwrite(be, nb, 4096, 2 * 65536 + 512, 0), 0);
	memcpy(want + 2 * 65536 + 512, nb, 4096);
	CHECK_EQ(backend_pread(be, got, 65536, 2 * 65536), 0);
	CHECK(memcmp(got, want + 2 * 65536, 65536) == 0);
	CHECK_EQ(read_compare(be, want, 65536), 0);
	backend_close(be);
	free(want);
	free(nb);
	free(got);
}

TEST(refusals)
{
	struct backend *be;
	char img[128];

	clear_cache();
	set_spec(64, 64);
	CHECK((be = open_cached("memory:1M", spec, NULL, false)) == NULL);
	CHECK(strstr(err, "no stable identity") != NULL);
	make_image("k.img", 1 << 20, img, sizeof img, 12);
	CHECK(open_cached(img, "pcache:size-mib=4", NULL, true) == NULL);
	CHECK(strstr(err, "option dir: required") != NULL);
	CHECK(open_cached(img, "pcache:dir=rel/dir", NULL, true) == NULL);
	CHECK(strstr(err, "absolute") != NULL);
	snprintf(spec, sizeof spec, "pcache:dir=%s,block-kib=48", cachedir);
	CHECK(open_cached(img, spec, NULL, true) == NULL);
	CHECK(strstr(err, "power of two") != NULL);
	/* A second user of the directory with other settings. */
	set_spec(64, 64);
	be = open_cached(img, spec, NULL, true);
	CHECK(be != NULL);
	set_spec(32, 64);
	CHECK(open_cached(img, spec, NULL, true) == NULL);
	CHECK(strstr(err, "same settings") != NULL);
	backend_close(be);
}

/* ---- media that reads only in order ------------------------------------ */

/* "seq": a layer over memory that serves reads only at its cursor (as the
 * HTTP download does), 64 KiB per 2 ms, with an identity and
 * sequential() = 1. */
struct seqfake { struct backend *next; atomic_uint_fast64_t pos, reads; };

static int seq_open(struct backend *next, const struct backend_open_opts *o,
		    void **h, char *e, size_t el)
{
	struct seqfake *f = calloc(1, sizeof *f);

	(void)o; (void)e; (void)el;
	f->next = next;
	*h = f;
	return 0;
}
static void seq_close(void *h) { free(h); }
static int seq_pread(void *h, void *b, uint32_t c, uint64_t o)
{
	struct seqfake *f = h;

	atomic_fetch_add(&f->reads, 1);
	if (o != atomic_load(&f->pos))
		return BE_EINVAL;          /* out of order: a bug above */
	usleep(2000 * (c >> 16));
	atomic_store(&f->pos, o + c == f->next->size ? 0 : o + c);
	return backend_pread(f->next, b, c, o);
}
static int seq_identity(void *h, char *buf, size_t len)
{
	(void)h;
	snprintf(buf, len, "source=seqfake\nsize=4194304\nversion=1");
	return 0;
}
static int seq_yes(void *h) { (void)h; return 1; }

static const struct backend_ops seq_ops = {
	.ops_size = sizeof(struct backend_ops), .name = "seq",
	.thread_model = BACKEND_SERIALIZE_REQUESTS, .open_layer = seq_open,
	.close = seq_close, .pread = seq_pread, .identity = seq_identity,
	.sequential = seq_yes,
};

/* memory:4M filled with a pattern, seq over it, pcache over that. */
static struct backend *open_seq(char **want, struct seqfake **fake)
{
	struct backend_open_opts o = { .block_size = 512 };
	const char *pc[] = { spec + strlen("pcache:"), NULL };
	struct backend *mem = backend_open("memory:4M", &o, err, sizeof err);
	struct backend *seq, *top;

	*want = malloc(4 << 20);
	for (size_t i = 0; i < 4 << 20; i++)
		(*want)[i] = (char)(i * 7 + (i >> 12));
	for (uint64_t off = 0; mem && off < 4 << 20; off += 1 << 20)
		backend_pwrite(mem, *want + off, 1 << 20, off, 0);
	seq = mem ? backend_open_layer(&seq_ops, mem, NULL, &o, err,
				       sizeof err) : NULL;
	top = seq ? backend_open_layer(&layer_pcache_ops, seq, pc, &o, err,
				       sizeof err) : NULL;
	if (!top)
		fprintf(stderr, "  open_seq: %s\n", err);
	*fake = seq ? seq->handle : NULL;
	return top;
}

TEST(sequential_media_is_filled_and_served_as_it_arrives)
{
	struct backend *be;
	struct seqfake *f;
	struct pcache_stats st;
	char *want, *got = malloc(65536);
	int r = BE_ERETRY;

	clear_cache();
	set_spec(64, 64);
	CHECK((be = open_seq(&want, &f)) != NULL);
	CHECK(!backend_sequential(be));          /* pcache serves any order */
	CHECK_EQ(backend_ready(be), BE_ERETRY);   /* nothing in yet */
	/* The last block arrives last: a host retries BECOMING READY. */
	for (int i = 0; i < 50 && r == BE_ERETRY; i++)
		r = backend_pread(be, got, 65536, (4 << 20) - 65536);
	CHECK_EQ(r, 0);
	CHECK(memcmp(got, want + (4 << 20) - 65536, 65536) == 0);
	CHECK_EQ(backend_ready(be), 0);
	CHECK_EQ(read_compare(be, want, 100 * 1024), 0);
	pcache_get_stats(be, &st);
	CHECK_EQ(st.image_bytes, 4 << 20);
	backend_close(be);
	free(want);
	/* Whole in the cache: nothing is read from the media again. */
	CHECK((be = open_seq(&want, &f)) != NULL);
	CHECK_EQ(backend_ready(be), 0);
	CHECK_EQ(read_compare(be, want, 65536), 0);
	CHECK_EQ(atomic_load(&f->reads), 0);
	backend_close(be);
	free(want);
	free(got);
}

/* ---- a fill racing a write -------------------------------------------------- */

/* "gate": a layer over memory whose first read waits until the test opens
 * the gate, so a write can land while that read is in flight. */
struct gate {
	struct backend *next;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool entered, open;
};
static struct gate *the_gate;

static int gate_open_layer(struct backend *next,
			   const struct backend_open_opts *o, void **h,
			   char *e, size_t el)
{
	struct gate *g = calloc(1, sizeof *g);

	(void)o; (void)e; (void)el;
	g->next = next;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	the_gate = g;
	*h = g;
	return 0;
}
static void gate_close(void *h)
{
	struct gate *g = h;

	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
static int gate_pread(void *h, void *b, uint32_t c, uint64_t o)
{
	struct gate *g = h;
	/* The old bytes are taken first: the write that lands meanwhile must
	 * not make them the cache's. */
	int r = backend_pread(g->next, b, c, o);

	pthread_mutex_lock(&g->lock);
	g->entered = true;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return r;
}
static int gate_identity(void *h, char *buf, size_t len)
{
	(void)h;
	snprintf(buf, len, "source=gate\nsize=1048576");
	return 0;
}

static const struct backend_ops gate_ops = {
	.ops_size = sizeof(struct backend_ops), .name = "gate",
	.thread_model = BACKEND_PARALLEL, .open_layer = gate_open_layer,
	.close = gate_close, .pread = gate_pread, .identity = gate_identity,
};

static void *gate_reader(void *arg)
{
	static char buf[65536];

	backend_pread(arg, buf, sizeof buf, 0);
	return NULL;
}

TEST(fill_racing_a_write_is_not_kept)
{
	struct backend_open_opts o = { .block_size = 512 };
	const char *pc[] = { spec + strlen("pcache:"), NULL };
	struct backend *mem, *g, *be;
	static char nb[65536], got[65536];
	pthread_t t;

	clear_cache();
	set_spec(64, 64);
	mem = backend_open("memory:1M", &o, err, sizeof err);
	g = mem ? backend_open_layer(&gate_ops, mem, NULL, &o, err, sizeof err)
		: NULL;
	be = g ? backend_open_layer(&layer_pcache_ops, g, pc, &o, err,
				    sizeof err) : NULL;
	CHECK(be != NULL);
	if (!be)
		return;
	pthread_create(&t, NULL, gate_reader, be);
	pthread_mutex_lock(&the_gate->lock);
	while (!the_gate->entered)
		pthread_cond_wait(&the_gate->cond, &the_gate->lock);
	pthread_mutex_unlock(&the_gate->lock);
	/* The fill of block 0 holds the old (zero) bytes; now a write. */
	memset(nb, 0x42, sizeof nb);
	CHECK_EQ(backend_pwrite(be, nb, sizeof nb, 0, 0), 0);
	pthread_mutex_lock(&the_gate->lock);
	the_gate->open = true;
	pthread_cond_broadcast(&the_gate->cond);
	pthread_mutex_unlock(&the_gate->lock);
	pthread_join(t, NULL);
	CHECK_EQ(backend_pread(be, got, sizeof got, 0), 0);
	CHECK(memcmp(got, nb, sizeof got) == 0);
	backend_close(be);
}

/* ---- randomized model --------------------------------------------------- */

/* Thousands of mixed reads, writes, trims and flushes from 4 threads (each
 * owning a quarter of the image, so its reference is exact), over inject
 * failing 2% of calls, with a cache a quarter of the image (evictions all
 * along), 8 ejects (close and reopen) and, every third one, the image
 * changed behind the cache's back (a new identity).  Every read that
 * succeeds must equal the reference. */
#define MODEL_SIZE (2u << 20)
#define MODEL_THREADS 4
#define MODEL_OPS 400

struct model {
	struct backend *be;
	char *ref;                 /* what the image holds */
	unsigned t;
	unsigned seed;
	int bad, reads_ok;
};

static unsigned model_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void model_op(struct model *m, char *buf)
{
	uint32_t region = MODEL_SIZE / MODEL_THREADS;
	uint32_t len = (model_rand(&m->seed) % 128 + 1) * 512;
	uint64_t off = (uint64_t)m->t * region +
		       (model_rand(&m->seed) % ((region - len) / 512 + 1)) * 512;
	unsigned kind = model_rand(&m->seed) % 100;

	if (kind < 65) {
		if (backend_pread(m->be, buf, len, off) == 0) {
			m->reads_ok++;
			m->bad += memcmp(buf, m->ref + off, len) != 0;
		}
	} else if (kind < 88) {
		for (uint32_t i = 0; i < len; i++)
			buf[i] = (char)model_rand(&m->seed);
		if (backend_pwrite(m->be, buf, len, off,
				   kind & 1 ? BACKEND_FUA : 0) == 0)
			memcpy(m->ref + off, buf, len);
	} else if (kind < 94) {
		if (backend_trim(m->be, len, off) == 0)
			memset(m->ref + off, 0, len);
	} else {
		backend_flush(m->be);
	}
}

static void *model_thread(void *arg)
{
	struct model *m = arg;
	char *buf = malloc(128 * 512);

	for (int i = 0; i < MODEL_OPS; i++)
		model_op(m, buf);
	free(buf);
	return NULL;
}

/* The image changed behind the cache: new bytes, a new mtime. */
static void model_change(const char *img, char *ref, unsigned round)
{
	struct timespec ts[2] = { { .tv_sec = 1000000 + round },
				  { .tv_sec = 1000000 + round } };
	unsigned seed = round;
	char junk[4096];

	for (unsigned i = 0; i < sizeof junk; i++)
		junk[i] = (char)model_rand(&seed);
	for (uint64_t off = 0; off < MODEL_SIZE; off += 64 * 1024)
		memcpy(ref + off, junk, sizeof junk);
	for (uint64_t off = 0; off < MODEL_SIZE; off += 64 * 1024)
		poke(img, (off_t)off, junk, sizeof junk);
	utimensat(AT_FDCWD, img, ts, 0);
}

TEST(randomized_model_with_failures_evictions_ejects_and_changes)
{
	char img[128], inj[64];
	char *ref;
	int bad = 0, ok = 0;

	clear_cache();
	set_spec(1, 16);            /* 1 MiB of cache for 2 MiB of image */
	make_image("model.img", MODEL_SIZE, img, sizeof img, 13);
	ref = slurp(img, MODEL_SIZE);
	for (unsigned round = 0; round < 8; round++) {
		struct model m[MODEL_THREADS];
		pthread_t t[MODEL_THREADS];
		struct backend *be;

		if (round && round % 3 == 0)
			model_change(img, ref, round);
		snprintf(inj, sizeof inj, "inject:error-rate=0.02,seed=%u",
			 round + 1);
		be = open_cached(img, inj, spec, false);
		CHECK(be != NULL);
		if (!be)
			break;
		for (unsigned i = 0; i < MODEL_THREADS; i++) {
			m[i] = (struct model){ .be = be, .ref = ref, .t = i,
					       .seed = round * 97 + i };
			pthread_create(&t[i], NULL, model_thread, &m[i]);
		}
		for (unsigned i = 0; i < MODEL_THREADS; i++) {
			pthread_join(t[i], NULL);
			bad += m[i].bad;
			ok += m[i].reads_ok;
		}
		backend_close(be);
	}
	CHECK_EQ(bad, 0);
	CHECK(ok > 8 * MODEL_THREADS * MODEL_OPS / 2);
	free(ref);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(cachedir, sizeof cachedir, "%s/cache", tmpdir);
	RUN(fill_then_hits_after_reopen);
	RUN(identity_change_drops_old_version);
	RUN(flipped_data_byte_is_refetched);
	RUN(torn_entry_and_lost_data_are_misses);
	RUN(bad_header_discards_the_image);
	RUN(entry_format_checks_index_and_salt);
	RUN(eviction_keeps_within_the_bound);
	RUN(eviction_takes_closed_images_first);
	RUN(concurrent_readers_fetch_each_block_once);
	RUN(write_through_invalidates);
	RUN(refusals);
	RUN(sequential_media_is_filled_and_served_as_it_arrives);
	RUN(fill_racing_a_write_is_not_kept);
	RUN(randomized_model_with_failures_evictions_ejects_and_changes);
	{
		char cmd[200];
		snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			return 1;
	}
	return test_summary();
}
