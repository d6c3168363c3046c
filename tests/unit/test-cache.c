/* test-cache.c — the block cache layer (layers/cache/): data through the
 * cache equals the medium, hits cost no backend read, 2Q keeps the hot set
 * through a whole-image scan, the size bound holds, two readers of a
 * missing block cause one backend read, write-through honours FUA and
 * updates only what the backend acknowledged, read-ahead follows several
 * streams and stays off for random reads, and the stats hook; write=back
 * holds writes until a flush, FUA or close, writes down when its dirty
 * set is full, keeps what the backend refused, and never lets a read see
 * bytes older than a write it follows.
 *
 * Below the cache sits "probe", a test layer over memory: that counts
 * reads, records write flags, can delay reads and fail writes on demand.
 * Its calls to memory are under one mutex: the tests race reads against
 * writes of the same bytes on purpose, and memory's own answer to that
 * is an unsynchronised memcpy.
 */
#include "backend.h"
#include "log.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char err[512];
static const struct backend_open_opts opts512 = { .block_size = 512 };

/* ---- probe ------------------------------------------------------------- */

struct probe {
	struct backend *next;
	atomic_uint reads, writes, flushes;
	atomic_uint last_flags;
	atomic_uint read_delay_ms;
	atomic_bool fail_writes;
	pthread_mutex_t lock;     /* around calls to next */
};

static struct probe *probe_last;

static int probe_open(struct backend *next, const struct backend_open_opts *o,
		      void **h, char *e, size_t el)
{
	struct probe *p = calloc(1, sizeof *p);

	(void)o; (void)e; (void)el;
	p->next = next;
	pthread_mutex_init(&p->lock, NULL);
	probe_last = p;
	*h = p;
	return 0;
}
static void probe_close(void *h)
{
	pthread_mutex_destroy(&((struct probe *)h)->lock);
	free(h);
}
static int probe_yes(void *h) { (void)h; return 1; }
static int probe_pread(void *h, void *b, uint32_t c, uint64_t o)
{
	struct probe *p = h;
	unsigned ms = atomic_load(&p->read_delay_ms);

	int r;

	atomic_fetch_add(&p->reads, 1);
	/* The bytes as they are now, then the delay: a write meanwhile
	 * makes them stale. */
	pthread_mutex_lock(&p->lock);
	r = backend_pread(p->next, b, c, o);
	pthread_mutex_unlock(&p->lock);
	if (ms)
		usleep(ms * 1000);
	return r;
}
static int probe_pwrite(void *h, const void *b, uint32_t c, uint64_t o,
			uint32_t f)
{
	struct probe *p = h;

	atomic_fetch_add(&p->writes, 1);
	atomic_store(&p->last_flags, f);
	int r;

	if (atomic_load(&p->fail_writes))
		return BE_EIO_WRITE;
	pthread_mutex_lock(&p->lock);
	r = backend_pwrite(p->next, b, c, o, f & ~BACKEND_FUA);
	pthread_mutex_unlock(&p->lock);
	return r;
}
static int probe_flush(void *h, uint32_t f)
{
	(void)f;
	atomic_fetch_add(&((struct probe *)h)->flushes, 1);
	return 0;
}

static const struct backend_ops probe_ops = {
	.ops_size = sizeof(struct backend_ops),
	.name = "probe",
	.thread_model = BACKEND_PARALLEL,
	.open_layer = probe_open,
	.close = probe_close,
	.pread = probe_pread,
	.pwrite = probe_pwrite,
	.flush = probe_flush,
	.can_flush = probe_yes,
	.can_fua = probe_yes,
};

/* ---- helpers ------------------------------------------------------------ */

static unsigned char pattern_byte(uint64_t off)
{
	uint64_t z = off * 0x9e3779b97f4a7c15ull;
	return (unsigned char)(z >> 56 ^ off);
}

/* memory:SIZE filled with the pattern, probe over it, then the cache
 * with `opts` ("size-mib=1,block-kib=4", ...). */
static struct backend *open_cached(const char *size, const char *const *copts)
{
	struct backend *m = backend_open(size, &opts512, err, sizeof err);
	struct backend *p, *c;
	unsigned char *buf;

	if (!m)
		return NULL;
	buf = malloc(m->size);
	for (uint64_t i = 0; i < m->size; i++)
		buf[i] = pattern_byte(i);
	backend_pwrite(m, buf, (uint32_t)m->size, 0, 0);
	free(buf);
	p = backend_open_layer(&probe_ops, m, NULL, &opts512, err, sizeof err);
	c = backend_open_layer(&layer_cache_ops, p, copts, &opts512, err,
			       sizeof err);
	if (!c)
		fprintf(stderr, "  cache: %s\n", err);
	return c;
}

struct stat_find {
	const char *layer, *key;
	uint64_t value;
	bool found;
};

static void stat_put(void *ctx, const char *layer, const char *key,
		     uint64_t value, bool counter)
{
	struct stat_find *f = ctx;

	(void)counter;
	if (strcmp(layer, f->layer) == 0 && strcmp(key, f->key) == 0) {
		f->value = value;
		f->found = true;
	}
}

static uint64_t stat_of(struct backend *be, const char *key)
{
	struct stat_find f = { .layer = "cache", .key = key };
	struct backend_stat_sink s = { .put = stat_put, .ctx = &f };

	backend_stats(be, &s);
	if (!f.found)
		fprintf(stderr, "  no stat %s\n", key);
	return f.value;
}

static bool range_is_pattern(const unsigned char *b, uint64_t off,
			     uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (b[i] != pattern_byte(off + i))
			return false;
	return true;
}

static int read_check(struct backend *be, uint64_t off, uint32_t len)
{
	unsigned char *b = malloc(len);
	int r = backend_pread(be, b, len, off);

	if (r == 0 && !range_is_pattern(b, off, len))
		r = 1;
	free(b);
	return r;
}

static const char *const small_noRA[] = {
	"size-mib=1", "block-kib=4", "readahead=0", NULL,
};

/* ---- tests -------------------------------------------------------------- */

TEST(cache_reads_equal_the_medium_at_any_offset)
{
	struct backend *be = open_cached("memory:3M", small_noRA);
	unsigned seed = 7;

	CHECK(be != NULL);
	if (!be)
		return;
	for (int i = 0; i < 500; i++) {
		uint64_t off = (uint64_t)(rand_r(&seed) % (3 << 11)) * 512;
		uint32_t len = (uint32_t)(1 + rand_r(&seed) % 64) * 512;

		if (off + len > be->size)
			len = (uint32_t)(be->size - off);
		CHECK_EQ(read_check(be, off, len), 0);
	}
	backend_close(be);
}

TEST(cache_second_read_is_a_hit_without_backend_read)
{
	struct backend *be = open_cached("memory:2M", small_noRA);

	CHECK_EQ(read_check(be, 4096, 65536), 0);
	CHECK_EQ(atomic_load(&probe_last->reads), 1);   /* one run */
	CHECK_EQ(stat_of(be, "misses"), 16);
	CHECK_EQ(read_check(be, 8192, 8192), 0);
	CHECK_EQ(atomic_load(&probe_last->reads), 1);
	CHECK_EQ(stat_of(be, "hits"), 2);
	CHECK_EQ(stat_of(be, "backend_bytes"), 65536);
	backend_close(be);
}

TEST(cache_size_is_bounded)
{
	struct backend *be = open_cached("memory:8M", small_noRA);

	for (uint64_t off = 0; off < be->size; off += 65536)
		CHECK_EQ(read_check(be, off, 65536), 0);
	CHECK(stat_of(be, "cache_bytes") <= 1 << 20);
	CHECK_EQ(stat_of(be, "cache_limit_bytes"), 1 << 20);
	CHECK(stat_of(be, "evictions") >= 7 * 256 - 16);
	backend_close(be);
}

/* The hot set (32 blocks, re-read after a while) survives reading the
 * whole 16 MiB image through a 1 MiB cache, and a second pass during
 * which the hot set is read now and then (file system metadata while a
 * large file is copied). */
#define HOT (32 * 4096)
TEST(cache_hot_set_survives_a_whole_image_scan)
{
	struct backend *be = open_cached("memory:16M", small_noRA);
	unsigned before;

	CHECK_EQ(read_check(be, 0, HOT), 0);
	for (uint64_t off = 1 << 20; off < be->size; off += 128 << 10) {
		CHECK_EQ(read_check(be, off, 128 << 10), 0);
		if (off == 2 << 20)   /* after a while: hot */
			CHECK_EQ(read_check(be, 0, HOT), 0);
	}
	before = atomic_load(&probe_last->reads);
	CHECK_EQ(read_check(be, 0, HOT), 0);
	CHECK_EQ(atomic_load(&probe_last->reads), before);
	for (uint64_t off = 1 << 20; off < be->size; off += 128 << 10) {
		CHECK_EQ(read_check(be, off, 128 << 10), 0);
		if (off % (2 << 20) == 0)
			CHECK_EQ(read_check(be, 0, HOT), 0);
	}
	before = atomic_load(&probe_last->reads);
	CHECK_EQ(read_check(be, 0, HOT), 0);
	CHECK_EQ(atomic_load(&probe_last->reads), before);
	backend_close(be);
}

struct reader_arg {
	struct backend *be;
	uint64_t off;
	uint32_t len;
	int r;
	pthread_barrier_t *start;   /* or NULL */
};

static void *reader(void *arg)
{
	struct reader_arg *a = arg;

	if (a->start)
		pthread_barrier_wait(a->start);
	a->r = read_check(a->be, a->off, a->len);
	return NULL;
}

TEST(cache_two_readers_of_a_missing_block_cause_one_backend_read)
{
	struct backend *be = open_cached("memory:1M", small_noRA);
	struct reader_arg a[4];
	pthread_barrier_t start;
	pthread_t t[4];

	/* Whoever comes after the load ended hits instead of waiting: the
	 * backend read stays one either way. */
	pthread_barrier_init(&start, NULL, 4);
	atomic_store(&probe_last->read_delay_ms, 300);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct reader_arg){ .be = be, .off = 8192, .len = 4096,
					    .start = &start };
		pthread_create(&t[i], NULL, reader, &a[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(a[i].r, 0);
	}
	CHECK_EQ(atomic_load(&probe_last->reads), 1);
	CHECK(stat_of(be, "inflight_waits") >= 1);
	CHECK_EQ(stat_of(be, "hits"), 3);   /* waiters then hit */
	pthread_barrier_destroy(&start);
	backend_close(be);
}

TEST(cache_write_through_updates_cache_and_passes_fua)
{
	struct backend *be = open_cached("memory:1M", small_noRA);
	unsigned char w[6000], r[6000];
	unsigned reads;

	CHECK_EQ(read_check(be, 0, 16384), 0);
	memset(w, 0xab, sizeof w);
	CHECK_EQ(backend_pwrite(be, w, 4608, 1024, BACKEND_FUA), 0);
	CHECK_EQ(atomic_load(&probe_last->last_flags), BACKEND_FUA);
	reads = atomic_load(&probe_last->reads);
	CHECK_EQ(backend_pread(be, r, 6000, 0), 0);
	CHECK_EQ(atomic_load(&probe_last->reads), reads);   /* all hits */
	CHECK(range_is_pattern(r, 0, 1024));
	CHECK(memcmp(r + 1024, w, 4608) == 0);
	CHECK(range_is_pattern(r + 5632, 5632, 368));
	CHECK_EQ(backend_flush(be), 0);
	CHECK_EQ(atomic_load(&probe_last->flushes), 1);
	backend_close(be);
}

TEST(cache_failed_write_drops_the_blocks)
{
	struct backend *be = open_cached("memory:1M", small_noRA);
	unsigned char w[4096];
	unsigned reads;

	CHECK_EQ(read_check(be, 0, 16384), 0);
	atomic_store(&probe_last->fail_writes, true);
	memset(w, 0xcd, sizeof w);
	CHECK_EQ(backend_pwrite(be, w, 4096, 4096, 0), BE_EIO_WRITE);
	reads = atomic_load(&probe_last->reads);
	/* Block 1 is read again from the backend (which kept old data). */
	CHECK_EQ(read_check(be, 0, 16384), 0);
	CHECK_EQ(atomic_load(&probe_last->reads), reads + 1);
	backend_close(be);
}

/* A read that loads a block while a write to it is in flight serves its
 * caller but does not keep the (possibly older) bytes. */
struct writer_arg {
	struct backend *be;
	unsigned char *buf;
	int r;
};

static void *writer(void *arg)
{
	struct writer_arg *a = arg;

	a->r = backend_pwrite(a->be, a->buf, 4096, 0, 0);
	return NULL;
}

TEST(cache_load_racing_a_write_is_not_kept)
{
	struct backend *be = open_cached("memory:1M", small_noRA);
	unsigned char w[4096], r[4096];
	struct writer_arg wa = { .be = be, .buf = w };
	struct reader_arg ra = { .be = be, .off = 0, .len = 4096 };
	pthread_t tw, tr;

	memset(w, 0x5a, sizeof w);
	atomic_store(&probe_last->read_delay_ms, 100);
	pthread_create(&tr, NULL, reader, &ra);   /* loads old bytes slowly */
	usleep(20000);
	pthread_create(&tw, NULL, writer, &wa);
	pthread_join(tw, NULL);
	pthread_join(tr, NULL);
	CHECK_EQ(wa.r, 0);
	atomic_store(&probe_last->read_delay_ms, 0);
	CHECK_EQ(backend_pread(be, r, 4096, 0), 0);
	CHECK(memcmp(r, w, 4096) == 0);
	backend_close(be);
}

static const char *const ra_opts[] = {
	"size-mib=16", "block-kib=64", "ra-threads=4", NULL,
};

TEST(readahead_prefetches_sequential_streams)
{
	struct backend *be = open_cached("memory:32M", ra_opts);
	uint64_t a = 0, b = 16 << 20;

	atomic_store(&probe_last->read_delay_ms, 5);
	/* Two interleaved sequential readers. */
	for (int i = 0; i < 48; i++) {
		CHECK_EQ(read_check(be, a, 128 << 10), 0);
		CHECK_EQ(read_check(be, b, 128 << 10), 0);
		a += 128 << 10;
		b += 128 << 10;
		usleep(2000);
	}
	CHECK(stat_of(be, "ra_bytes") > 4 << 20);
	CHECK(stat_of(be, "ra_hits") > 16);
	CHECK(stat_of(be, "ra_streams") == 2);
	CHECK(stat_of(be, "ra_window_bytes") >= 256 << 10);
	CHECK(stat_of(be, "rtt_us") >= 4000);
	CHECK(stat_of(be, "bandwidth_bytes") > 0);
	backend_close(be);
}

TEST(readahead_stays_off_for_random_reads)
{
	struct backend *be = open_cached("memory:32M", ra_opts);
	unsigned seed = 3;

	for (int i = 0; i < 200; i++) {
		uint64_t off = (uint64_t)(rand_r(&seed) % 8192) * 4096;
		CHECK_EQ(read_check(be, off, 4096), 0);
	}
	CHECK_EQ(stat_of(be, "ra_bytes"), 0);
	CHECK_EQ(stat_of(be, "ra_streams"), 0);
	backend_close(be);
}

/* 1 MiB + 1536 bytes: the last 4 KiB cache block holds 1536 bytes. */
TEST(cache_short_last_block_reads_and_writes)
{
	struct backend *be = open_cached("memory:1050112", small_noRA);
	unsigned char w[2048], r[4096];

	CHECK(be != NULL);
	if (!be)
		return;
	CHECK_EQ(read_check(be, (1 << 20) - 2048, 3584), 0);
	CHECK_EQ(read_check(be, (1 << 20) + 1024, 512), 0);   /* a hit */
	memset(w, 0x42, sizeof w);
	CHECK_EQ(backend_pwrite(be, w, 1024, (1 << 20) + 512, 0), 0);
	CHECK_EQ(backend_pread(be, r, 1536, 1 << 20), 0);
	CHECK(range_is_pattern(r, 1 << 20, 512));
	CHECK(memcmp(r + 512, w, 1024) == 0);
	backend_close(be);
}

TEST(cache_bad_options_give_clear_errors)
{
	static const char *const bad1[] = { "block-kib=12", NULL };
	static const char *const bad2[] = { "size-mib=0", NULL };
	static const char *const bad3[] = { "colour=red", NULL };
	const char *const *bads[] = { bad1, bad2, bad3 };
	const char *want[] = { "power of two", "size-mib", "colour" };

	for (int i = 0; i < 3; i++) {
		struct backend *m = backend_open("memory:1M", &opts512, err,
						 sizeof err);
		struct backend *c = backend_open_layer(&layer_cache_ops, m,
						       bads[i], &opts512, err,
						       sizeof err);
		CHECK(c == NULL);
		CHECK(strstr(err, want[i]) != NULL);
		backend_close(c ? c : m);
	}
}

TEST(cache_from_a_spec_reports_through_the_stats_hook)
{
	const char *layers[] = { "cache:size-mib=2,block-kib=16", NULL };
	struct backend_open_opts o = { .block_size = 512, .layers = layers };
	struct backend *be = backend_open("memory:1M", &o, err, sizeof err);
	char b[512];

	CHECK(be != NULL);
	CHECK_EQ(backend_pread(be, b, 512, 0), 0);
	CHECK_EQ(stat_of(be, "misses"), 1);
	CHECK_EQ(stat_of(be, "cache_bytes"), 16384);
	backend_close(be);
}

/* ---- write=back ---------------------------------------------------------- */

static const char *const wb_opts[] = {
	"size-mib=1", "block-kib=4", "readahead=0", "write=back",
	"flush-seconds=0", NULL,
};

/* The bytes below the cache (the memory under probe). */
static bool below_equals(const unsigned char *want, uint64_t off, uint32_t len)
{
	unsigned char *b = malloc(len);
	bool same = backend_pread(probe_last->next, b, len, off) == 0 &&
		    memcmp(b, want, len) == 0;

	free(b);
	return same;
}

static bool below_is_pattern(uint64_t off, uint32_t len)
{
	unsigned char *b = malloc(len);
	bool same = backend_pread(probe_last->next, b, len, off) == 0 &&
		    range_is_pattern(b, off, len);

	free(b);
	return same;
}

TEST(writeback_holds_writes_until_flush)
{
	struct backend *be = open_cached("memory:1M", wb_opts);
	unsigned char w[6000], r[8192];

	CHECK(be && be->can_flush && be->can_fua);
	memset(w, 0x3c, sizeof w);
	/* Partial blocks at both ends: read-modify-write. */
	CHECK_EQ(backend_pwrite(be, w, 4608, 1024, 0), 0);
	CHECK_EQ(atomic_load(&probe_last->writes), 0);
	CHECK(below_is_pattern(0, 8192));
	CHECK_EQ(stat_of(be, "dirty_bytes"), 8192);
	CHECK_EQ(stat_of(be, "wb_rmw_reads"), 2);
	CHECK_EQ(backend_pread(be, r, 8192, 0), 0);
	CHECK(range_is_pattern(r, 0, 1024));
	CHECK(memcmp(r + 1024, w, 4608) == 0);
	CHECK(range_is_pattern(r + 5632, 5632, 8192 - 5632));
	CHECK_EQ(backend_flush(be), 0);
	CHECK_EQ(atomic_load(&probe_last->writes), 1);   /* one run */
	CHECK_EQ(atomic_load(&probe_last->flushes), 1);
	CHECK(below_equals(r, 0, 8192));
	CHECK_EQ(stat_of(be, "dirty_bytes"), 0);
	/* After the flush the cache still serves the new bytes. */
	memset(r, 0, sizeof r);
	CHECK_EQ(backend_pread(be, r + 1024, 4608, 1024), 0);
	CHECK(memcmp(r + 1024, w, 4608) == 0);
	backend_close(be);
}

TEST(writeback_fua_write_is_down_before_it_returns)
{
	struct backend *be = open_cached("memory:1M", wb_opts);
	unsigned char w[4096];

	memset(w, 0x77, sizeof w);
	CHECK_EQ(backend_pwrite(be, w, 4096, 8192, 0), 0);
	CHECK_EQ(backend_pwrite(be, w, 4096, 65536, BACKEND_FUA), 0);
	CHECK(below_equals(w, 65536, 4096));
	CHECK(below_is_pattern(8192, 4096));      /* not FUA: still held */
	CHECK(atomic_load(&probe_last->flushes) >= 1);
	CHECK_EQ(stat_of(be, "dirty_bytes"), 4096);
	backend_close(be);
}

TEST(writeback_full_dirty_set_writes_down_and_goes_on)
{
	static const char *const o[] = {
		"size-mib=1", "block-kib=4", "readahead=0", "write=back",
		"dirty-mib=1", "flush-seconds=0", NULL,
	};
	struct backend *be = open_cached("memory:8M", o);
	unsigned char *w = malloc(65536), *r = malloc(65536);
	bool same = true;

	/* 4 MiB of writes through a 1 MiB dirty set. */
	for (uint64_t off = 0; off < (4u << 20); off += 65536) {
		memset(w, (int)(off >> 16), 65536);
		CHECK_EQ(backend_pwrite(be, w, 65536, off, 0), 0);
	}
	CHECK(atomic_load(&probe_last->writes) > 0);
	CHECK(stat_of(be, "wb_full_waits") > 0);
	CHECK(stat_of(be, "dirty_bytes") <= (1u << 20));
	for (uint64_t off = 0; off < (4u << 20) && same; off += 65536) {
		memset(w, (int)(off >> 16), 65536);
		same = backend_pread(be, r, 65536, off) == 0 &&
		       memcmp(r, w, 65536) == 0;
	}
	CHECK(same);
	free(w);
	free(r);
	backend_close(be);
}

TEST(writeback_failed_write_down_keeps_the_data_dirty)
{
	struct backend *be = open_cached("memory:1M", wb_opts);
	unsigned char w[4096], r[4096];

	memset(w, 0xe1, sizeof w);
	CHECK_EQ(backend_pwrite(be, w, 4096, 4096, 0), 0);
	atomic_store(&probe_last->fail_writes, true);
	CHECK(backend_flush(be) < 0);
	CHECK_EQ(stat_of(be, "dirty_bytes"), 4096);
	CHECK_EQ(backend_pread(be, r, 4096, 4096), 0);
	CHECK(memcmp(r, w, 4096) == 0);
	atomic_store(&probe_last->fail_writes, false);
	CHECK_EQ(backend_flush(be), 0);
	CHECK(below_equals(w, 4096, 4096));
	CHECK_EQ(stat_of(be, "wb_errors"), 1);
	backend_close(be);
}

/* A flush racing reads of the blocks it frees: the writer stores
 * generation i in every word of 16 KiB and flushes, over and over; a read
 * must see one generation throughout, never older than the last write
 * that returned before the read began. */
struct wb_reader {
	struct backend *be;
	atomic_uint committed;    /* the last generation whose write returned */
	atomic_bool stop;
	atomic_uint reads;
	unsigned bad;
};

static bool wb_one_gen(const uint32_t *v, size_t n, uint32_t min)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] != v[0])
			return false;
	return v[0] >= min;
}

static void *wb_reader_run(void *arg)
{
	static uint32_t b[4096];
	struct wb_reader *a = arg;

	while (!atomic_load(&a->stop) && atomic_load(&a->reads) < 50000) {
		uint32_t min = atomic_load(&a->committed);

		if (backend_pread(a->be, b, sizeof b, 0) != 0 ||
		    !wb_one_gen(b, 4096, min))
			a->bad++;
		atomic_fetch_add(&a->reads, 1);
	}
	return NULL;
}

TEST(writeback_reads_racing_flushes_see_the_new_bytes)
{
	static uint32_t w[4096];
	struct backend *be = open_cached("memory:1M", wb_opts);
	struct wb_reader a = { .be = be };
	pthread_t t;
	uint32_t gen = 1;

	for (int k = 0; k < 4096; k++)
		w[k] = gen;
	CHECK_EQ(backend_pwrite(be, w, sizeof w, 0, 0), 0);
	atomic_store(&a.committed, gen);
	pthread_create(&t, NULL, wb_reader_run, &a);
	/* Until the reader has met a few hundred flushes (bounded). */
	for (int i = 0; i < 20000 && atomic_load(&a.reads) < 1000; i++) {
		gen++;
		for (int k = 0; k < 4096; k++)
			w[k] = gen;
		CHECK_EQ(backend_pwrite(be, w, sizeof w, 0, 0), 0);
		atomic_store(&a.committed, gen);
		CHECK_EQ(backend_flush(be), 0);
	}
	atomic_store(&a.stop, true);
	pthread_join(t, NULL);
	printf("  %u reads across %u write+flush rounds\n",
	       atomic_load(&a.reads), gen - 1);
	CHECK(atomic_load(&a.reads) > 0);
	CHECK_EQ(a.bad, 0);
	backend_close(be);
}

/* The same, made to happen: a read misses, takes the backend's old bytes
 * and stalls; a flush writes the dirty block down and frees it; the read
 * must notice and read again. */
static unsigned char wb_got[8192];

static void *wb_read_into(void *arg)
{
	struct reader_arg *a = arg;

	a->r = backend_pread(a->be, wb_got, a->len, a->off);
	return NULL;
}

TEST(writeback_read_stalled_across_a_flush_reads_again)
{
	static unsigned char old[8192], cur[8192];
	unsigned char *got = wb_got;
	struct backend *be = open_cached("memory:1M", wb_opts);
	struct reader_arg ra = { .be = be, .off = 0, .len = 8192 };
	pthread_t tr;

	memset(old, 0x11, sizeof old);
	memset(cur, 0x22, sizeof cur);
	CHECK_EQ(backend_pwrite(be, old, sizeof old, 0, 0), 0);
	CHECK_EQ(backend_flush(be), 0);         /* below: old, not cached */
	CHECK_EQ(backend_pwrite(be, cur, sizeof cur, 0, 0), 0);  /* dirty */
	atomic_store(&probe_last->read_delay_ms, 100);
	pthread_create(&tr, NULL, wb_read_into, &ra);  /* old, stalls */
	usleep(30000);
	CHECK_EQ(backend_flush(be), 0);         /* cur down, block freed */
	pthread_join(tr, NULL);
	atomic_store(&probe_last->read_delay_ms, 0);
	CHECK_EQ(ra.r, 0);
	CHECK(memcmp(got, cur, sizeof cur) == 0);
	CHECK(stat_of(be, "wb_read_retries") >= 1);
	backend_close(be);
}

TEST(writeback_close_writes_dirty_blocks_down)
{
	char path[] = "/tmp/netstick-wb.XXXXXX";
	const char *layers[] = { "cache:size-mib=1,block-kib=4,write=back", NULL };
	struct backend_open_opts o = { .block_size = 512, .layers = layers };
	static unsigned char w[12288], r[12288];
	int fd = mkstemp(path);
	struct backend *be;

	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	memset(w, 0x99, sizeof w);
	be = backend_open(path, &o, err, sizeof err);
	CHECK(be != NULL);
	CHECK_EQ(backend_pwrite(be, w, sizeof w, 2048, 0), 0);
	backend_close(be);        /* no flush first: close writes it down */
	CHECK(pread(fd, r, sizeof r, 2048) == (ssize_t)sizeof r);
	CHECK(memcmp(r, w, sizeof w) == 0);
	close(fd);
	unlink(path);
}

TEST(writeback_bad_options_and_read_only_media)
{
	static const char *const bad1[] = { "write=sideways", NULL };
	static const char *const bad2[] = { "write=back", "block-kib=1024",
					    "size-mib=16", "dirty-mib=8", NULL };
	static const struct backend_open_opts ro = { .block_size = 512,
						     .readonly = true };
	const char *const *bads[] = { bad1, bad2 };
	const char *want[] = { "through", "dirty-mib" };
	struct backend *m, *c;

	for (int i = 0; i < 2; i++) {
		m = backend_open("memory:1M", &opts512, err, sizeof err);
		c = backend_open_layer(&layer_cache_ops, m, bads[i], &opts512,
				       err, sizeof err);
		CHECK(c == NULL);
		CHECK(strstr(err, want[i]) != NULL);
		backend_close(c ? c : m);
	}
	/* Over read-only media there is nothing to hold: write-through. */
	m = backend_open("memory:1M", &ro, err, sizeof err);
	c = backend_open_layer(&layer_cache_ops, m, wb_opts, &ro, err,
			       sizeof err);
	CHECK(c != NULL && c->readonly);
	backend_close(c ? c : m);
}

int main(void)
{
	log_init("test-cache", LOG_LVL_WARN);
	RUN(cache_reads_equal_the_medium_at_any_offset);
	RUN(cache_second_read_is_a_hit_without_backend_read);
	RUN(cache_size_is_bounded);
	RUN(cache_hot_set_survives_a_whole_image_scan);
	RUN(cache_two_readers_of_a_missing_block_cause_one_backend_read);
	RUN(cache_write_through_updates_cache_and_passes_fua);
	RUN(cache_failed_write_drops_the_blocks);
	RUN(cache_load_racing_a_write_is_not_kept);
	RUN(readahead_prefetches_sequential_streams);
	RUN(readahead_stays_off_for_random_reads);
	RUN(cache_short_last_block_reads_and_writes);
	RUN(cache_bad_options_give_clear_errors);
	RUN(cache_from_a_spec_reports_through_the_stats_hook);
	RUN(writeback_holds_writes_until_flush);
	RUN(writeback_fua_write_is_down_before_it_returns);
	RUN(writeback_full_dirty_set_writes_down_and_goes_on);
	RUN(writeback_failed_write_down_keeps_the_data_dirty);
	RUN(writeback_reads_racing_flushes_see_the_new_bytes);
	RUN(writeback_read_stalled_across_a_flush_reads_again);
	RUN(writeback_close_writes_dirty_blocks_down);
	RUN(writeback_bad_options_and_read_only_media);
	return test_summary();
}
