/* cache.c — the block cache layer: a bounded, scan-resistant cache of the
 * image in memory, with adaptive read-ahead, over any backend.
 *
 *   layers: ["cache:size-mib=64,block-kib=64"]
 *
 * Reads.  A read is cut into blocks (block-kib).  Each block is a hit
 * (copied from the cache), in flight (someone else is reading it from
 * the backend, maybe a prefetch: wait for that read instead of issuing a
 * second one), or missing: the reader claims it and the consecutive
 * missing blocks after it, and fetches that run with one backend read.
 * When the cache has no free buffer (every one pinned or loading) the
 * block is read around the cache.  Replacement is 2Q (blocks.c).
 *
 * Writes are write-through by default (write=back: writeback.c): the
 * backend write first, with the caller's
 * FUA; only when the backend acknowledged it are the cached blocks it
 * covers updated, and a failed write drops them (the medium's content is
 * then unknown).  The cache never holds data the backend did not
 * acknowledge, so flush and SYNCHRONIZE CACHE pass straight through and
 * keep their order.  A read that loads a block while any write is in
 * flight, or that started before a write ended, serves its caller but is
 * not kept (blocks.c, cache_load_stale): the backend may have answered it
 * with the bytes from before the write.  Two writes that overlap in time
 * drop the blocks instead of updating them, since the cache cannot know
 * which one the backend applied last.  Trim drops the blocks.
 *
 * Read-ahead (readahead.c) lives here, not in a layer of its own: it
 * needs to know which blocks are missing or already in flight and a place
 * to put what it fetched; as a separate layer it would copy every
 * prefetched byte through this layer's pread into a throwaway buffer and
 * could not skip blocks that are already here.
 *
 * Threads: PARALLEL.  Per-shard locks (blocks.c); data is copied outside
 * them; no lock is held across a backend call; prefetch runs on the
 * layer's own threads, so a host read never waits for read-ahead it did
 * not need.
 */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX_RUN 256        /* blocks fetched by one backend read */

static const char *const cache_known_opts[] = {
	"size-mib", "block-kib", "readahead", "ra-threads", "ra-max-mib",
	"write", "dirty-mib", "flush-seconds", NULL,
};

struct cache_cfg {
	unsigned size_mib, block_kib, ra_threads, ra_max_mib;
	bool readahead;
	bool write_back;
	unsigned dirty_mib, flush_seconds;
};

static int cache_parse_write(struct cache_cfg *k,
			     const struct backend_optset *s, char *err,
			     size_t errlen)
{
	const char *w = backend_opt_get(s, "write");

	k->write_back = w && strcmp(w, "back") == 0;
	if (w && !k->write_back && strcmp(w, "through") != 0) {
		snprintf(err, errlen, "option write: \"through\" or \"back\"");
		return BE_EOPEN;
	}
	if (backend_opt_uint(s, "dirty-mib", 16, 1, 65536, &k->dirty_mib,
			     err, errlen) < 0 ||
	    backend_opt_uint(s, "flush-seconds", 5, 0, 3600,
			     &k->flush_seconds, err, errlen) < 0)
		return BE_EOPEN;
	if ((uint64_t)k->dirty_mib * 1024 < 16ull * k->block_kib) {
		snprintf(err, errlen,
			 "option dirty-mib: must hold at least 16 blocks");
		return BE_EOPEN;
	}
	return 0;
}

static int cache_parse(struct cache_cfg *k, const struct backend_optset *s,
		       char *err, size_t errlen)
{
	if (backend_opt_uint(s, "size-mib", 64, 1, 65536, &k->size_mib,
			     err, errlen) < 0 ||
	    backend_opt_uint(s, "block-kib", 64, 4, 1024, &k->block_kib,
			     err, errlen) < 0 ||
	    backend_opt_bool(s, "readahead", true, &k->readahead,
			     err, errlen) < 0 ||
	    backend_opt_uint(s, "ra-threads", 4, 1, CACHE_RA_MAX_THREADS,
			     &k->ra_threads, err, errlen) < 0 ||
	    backend_opt_uint(s, "ra-max-mib", 16, 1, 1024, &k->ra_max_mib,
			     err, errlen) < 0)
		return BE_EOPEN;
	if (k->block_kib & (k->block_kib - 1)) {
		snprintf(err, errlen, "option block-kib: must be a power of two");
		return BE_EOPEN;
	}
	if ((uint64_t)k->size_mib * 1024 < 16ull * k->block_kib) {
		snprintf(err, errlen,
			 "option size-mib: must hold at least 16 blocks");
		return BE_EOPEN;
	}
	return cache_parse_write(k, s, err, errlen);
}

/* ---- reads ---------------------------------------------------------------- */

/* Copies the part of block blk (whose bytes are at src) inside
 * [off, off+count) to buf, which holds that range. */
static void cache_copy_out(struct cache *c, uint64_t blk, const void *src,
			   void *buf, uint64_t off, uint32_t count)
{
	uint64_t start = blk << c->bs_shift;
	uint64_t end = start + cache_blk_len(c, blk);
	uint64_t lo = off > start ? off : start;
	uint64_t hi = off + count < end ? off + count : end;

	memcpy((unsigned char *)buf + (lo - off),
	       (const unsigned char *)src + (lo - start), (size_t)(hi - lo));
}

/* One backend read into dst, measured and counted. */
static int cache_fetch(struct cache *c, void *dst, uint32_t len, uint64_t off)
{
	uint64_t t;
	int r;

	atomic_fetch_add(&c->in_flight, 1);
	t = cache_est_begin(&c->est);
	r = backend_pread(c->next, dst, len, off);
	cache_est_end(&c->est, t, r == 0 ? len : 0);
	atomic_fetch_sub(&c->in_flight, 1);
	atomic_fetch_add_explicit(&c->backend_reads, 1, memory_order_relaxed);
	if (r == 0)
		atomic_fetch_add_explicit(&c->backend_bytes, len,
					  memory_order_relaxed);
	return r;
}

/* Claims the missing blocks after run[0] (up to last), without waiting:
 * the run ends at the first block that is cached, in flight or cannot
 * be had.  Returns the run's length. */
static unsigned cache_extend(struct cache *c, struct cache_entry **run,
			     uint64_t last)
{
	unsigned n = 1;

	while (n < CACHE_MAX_RUN && run[0]->blk + n <= last) {
		struct cache_entry *e;
		enum cache_get_result r = cache_get(c, run[0]->blk + n, false,
						    &e);
		if (r == CACHE_HIT)
			cache_unpin(c, e);
		if (r != CACHE_CLAIMED)
			break;
		run[n++] = e;
	}
	return n;
}

/* Fetches the claimed run into tmp (or into buf, when the run lies inside
 * the caller's range [off, off+count); a NULL tmp is allocated when
 * needed), fills the entries and ends the claims; the caller's part is
 * copied to buf when buf is set. */
static int cache_load_run(struct cache *c, struct cache_entry **run,
			  unsigned n, void *tmp, void *buf, uint64_t off,
			  uint32_t count, bool prefetch)
{
	uint64_t start = run[0]->blk << c->bs_shift;
	uint64_t end = (run[n - 1]->blk << c->bs_shift) +
		       cache_blk_len(c, run[n - 1]->blk);
	uint32_t len = (uint32_t)(end - start);
	bool inside = buf && start >= off && end <= off + count;
	unsigned char *own = NULL, *dst;
	int r;

	if (inside)
		dst = (unsigned char *)buf + (start - off);
	else if (!(dst = tmp))
		dst = own = malloc(len);
	r = dst ? cache_fetch(c, dst, len, start) : BE_ENOMEM;

	for (unsigned i = 0; i < n; i++) {
		const unsigned char *src = dst + ((size_t)i << c->bs_shift);

		if (r == 0) {
			memcpy(run[i]->data, src, cache_blk_len(c, run[i]->blk));
			if (buf && !inside)
				cache_copy_out(c, run[i]->blk, src, buf, off,
					       count);
		}
		cache_install(c, run[i], r == 0, prefetch);
	}
	free(own);
	if (prefetch && r == 0)
		atomic_fetch_add_explicit(&c->ra_bytes, len,
					  memory_order_relaxed);
	return r;
}

/* A block with no room in the cache: the caller's part of it, directly. */
static int cache_read_around(struct cache *c, uint64_t blk, void *buf,
			     uint64_t off, uint32_t count)
{
	uint64_t start = blk << c->bs_shift;
	uint64_t lo = off > start ? off : start;
	uint64_t end = start + cache_blk_len(c, blk);
	uint64_t hi = off + count < end ? off + count : end;

	atomic_fetch_add_explicit(&c->bypass, 1, memory_order_relaxed);
	return cache_fetch(c, (unsigned char *)buf + (lo - off),
			   (uint32_t)(hi - lo), lo);
}

int cache_read(struct cache *c, void *buf, uint32_t count, uint64_t off)
{
	uint64_t b = off >> c->bs_shift, last = (off + count - 1) >> c->bs_shift;
	struct cache_entry *run[CACHE_MAX_RUN];
	int r = 0;

	while (b <= last && r == 0) {
		switch (cache_get(c, b, true, &run[0])) {
		case CACHE_HIT:
			atomic_fetch_add_explicit(&c->hits, 1,
						  memory_order_relaxed);
			cache_copy_out(c, b, run[0]->data, buf, off, count);
			cache_unpin(c, run[0]);
			b++;
			break;
		case CACHE_CLAIMED: {
			unsigned n = cache_extend(c, run, last);

			atomic_fetch_add_explicit(&c->misses, n,
						  memory_order_relaxed);
			r = cache_load_run(c, run, n, NULL, buf, off, count,
					   false);
			b += n;
			break;
		}
		default:   /* CACHE_NOROOM: never BUSY when waiting */
			atomic_fetch_add_explicit(&c->misses, 1,
						  memory_order_relaxed);
			r = cache_read_around(c, b, buf, off, count);
			b++;
			break;
		}
	}
	return r;
}

int cache_prefetch(struct cache *c, void *tmp, uint64_t off, uint32_t len)
{
	uint64_t b = off >> c->bs_shift, last = (off + len - 1) >> c->bs_shift;
	struct cache_entry *run[CACHE_MAX_RUN];
	int r = 0;

	while (b <= last && r == 0) {
		switch (cache_get(c, b, false, &run[0])) {
		case CACHE_HIT:
			cache_unpin(c, run[0]);
			/* fall through */
		case CACHE_BUSY:
			b++;
			break;
		case CACHE_CLAIMED: {
			unsigned n = cache_extend(c, run, last);

			r = cache_load_run(c, run, n, tmp, NULL, 0, 0, true);
			b += n;
			break;
		}
		default:
			return 0;   /* no room: stop prefetching */
		}
	}
	return r;
}

static int cache_pread(void *handle, void *buf, uint32_t count, uint64_t off)
{
	struct cache *c = handle;

	if (c->ra_on)
		cache_ra_note(c, off, count);
	if (c->wb.on)
		return cache_wb_read(c, buf, count, off);
	return cache_read(c, buf, count, off);
}

/* backend_ops.try_pread: the host's read when every block of it is
 * cached; on the USB thread, so nothing here waits. */
static int cache_try_pread(void *handle, void *buf, uint32_t count,
			   uint64_t off)
{
	struct cache *c = handle;
	uint64_t first = off >> c->bs_shift;
	uint64_t last = (off + count - 1) >> c->bs_shift;
	uint64_t epoch = atomic_load(&c->wb.epoch);
	struct cache_entry *e;

	for (uint64_t b = first; b <= last; b++) {
		if (!cache_peek(c, b, &e))
			return 1;
		cache_copy_out(c, b, e->data, buf, off, count);
		cache_unpin(c, e);
	}
	if (c->wb.on && !cache_wb_overlay_try(c, buf, count, off, epoch))
		return 1;
	atomic_fetch_add_explicit(&c->hits, last - first + 1,
				  memory_order_relaxed);
	if (c->ra_on)
		cache_ra_note(c, off, count);
	return 0;
}

/* ---- writes --------------------------------------------------------------- */

uint64_t cache_write_begin(struct cache *c)
{
	uint64_t g;

	pthread_mutex_lock(&c->wlock);
	atomic_fetch_add(&c->writes_inflight, 1);
	g = atomic_fetch_add(&c->wgen, 1) + 1;
	pthread_mutex_unlock(&c->wlock);
	return g;
}

void cache_write_end(struct cache *c, uint64_t g, const void *buf,
		     uint64_t off, uint32_t count, bool ok)
{
	bool clean;

	pthread_mutex_lock(&c->wlock);
	clean = ok && buf && atomic_load(&c->writes_inflight) == 1 &&
		atomic_load(&c->wgen) == g;
	cache_written(c, off >> c->bs_shift, (off + count - 1) >> c->bs_shift,
		      buf, off, count, clean);
	atomic_fetch_add(&c->wgen, 1);
	atomic_fetch_sub(&c->writes_inflight, 1);
	pthread_mutex_unlock(&c->wlock);
}

static int cache_pwrite(void *handle, const void *buf, uint32_t count,
			uint64_t off, uint32_t flags)
{
	struct cache *c = handle;
	uint64_t g;
	int r;

	if (c->wb.on)
		return cache_wb_write(c, buf, count, off, flags);
	g = cache_write_begin(c);
	r = backend_pwrite(c->next, buf, count, off, flags);
	cache_write_end(c, g, buf, off, count, r == 0);
	return r;
}

static int cache_trim(void *handle, uint32_t count, uint64_t off,
		      uint32_t flags)
{
	struct cache *c = handle;
	uint64_t g;
	int r;

	(void)flags;
	if (c->wb.on)
		return cache_wb_trim(c, count, off);
	g = cache_write_begin(c);
	r = backend_trim(c->next, count, off);
	cache_write_end(c, g, NULL, off, count, false);
	return r;
}

/* SYNCHRONIZE CACHE: write=back writes its dirty blocks down first. */
static int cache_flush(void *handle, uint32_t flags)
{
	struct cache *c = handle;

	(void)flags;
	if (c->wb.on)
		return cache_wb_writeback(c, true);
	return backend_flush(c->next);
}

/* write=back holds data the backend has not seen, so it always has
 * something to flush, and it does FUA itself (writeback.c). */
static int cache_can_flush(void *handle)
{
	struct cache *c = handle;

	return c->wb.on || c->next->can_flush;
}

static int cache_can_fua(void *handle)
{
	struct cache *c = handle;

	return c->wb.on || c->next->can_fua;
}

/* ---- stats ---------------------------------------------------------------- */

#define CACHE_LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void cache_stats(void *handle, const struct backend_stat_sink *s)
{
	struct cache *c = handle;
	uint64_t ghosts, bytes = cache_bytes(c, &ghosts), rtt = 0, bw = 0;
	unsigned streams = 0;
	uint32_t window = c->ra_on ? cache_ra_window(c, &streams) : 0;

	cache_est_get(&c->est, &rtt, &bw);
	backend_stat_counter(s, "hits", CACHE_LOAD(c->hits));
	backend_stat_counter(s, "misses", CACHE_LOAD(c->misses));
	backend_stat_counter(s, "inflight_waits", CACHE_LOAD(c->waits));
	backend_stat_counter(s, "bypass", CACHE_LOAD(c->bypass));
	backend_stat_counter(s, "evictions", CACHE_LOAD(c->evictions));
	backend_stat_counter(s, "backend_reads", CACHE_LOAD(c->backend_reads));
	backend_stat_counter(s, "backend_bytes", CACHE_LOAD(c->backend_bytes));
	backend_stat_gauge(s, "in_flight", atomic_load(&c->in_flight));
	backend_stat_gauge(s, "cache_bytes", bytes);
	backend_stat_gauge(s, "cache_limit_bytes",
			   (uint64_t)c->nblocks_cap << c->bs_shift);
	backend_stat_gauge(s, "ghosts", ghosts);
	backend_stat_gauge(s, "ra_window_bytes", window);
	backend_stat_gauge(s, "ra_streams", streams);
	backend_stat_counter(s, "ra_bytes", CACHE_LOAD(c->ra_bytes));
	backend_stat_counter(s, "ra_hits", CACHE_LOAD(c->ra_hits));
	backend_stat_counter(s, "ra_wasted", CACHE_LOAD(c->ra_wasted));
	backend_stat_gauge(s, "rtt_us", rtt / 1000);
	backend_stat_gauge(s, "bandwidth_bytes", bw);
	if (!c->wb.on)
		return;
	backend_stat_gauge(s, "dirty_bytes", cache_wb_dirty_bytes(c));
	backend_stat_gauge(s, "dirty_limit_bytes",
			   (uint64_t)c->wb.limit << c->bs_shift);
	backend_stat_counter(s, "wb_writes", CACHE_LOAD(c->wb.writes));
	backend_stat_counter(s, "wb_write_bytes", CACHE_LOAD(c->wb.write_bytes));
	backend_stat_counter(s, "wb_rmw_reads", CACHE_LOAD(c->wb.rmw_reads));
	backend_stat_counter(s, "wb_full_waits", CACHE_LOAD(c->wb.full_waits));
	backend_stat_counter(s, "wb_runs", CACHE_LOAD(c->wb.runs));
	backend_stat_counter(s, "wb_written_bytes",
			     CACHE_LOAD(c->wb.written_bytes));
	backend_stat_counter(s, "wb_errors", CACHE_LOAD(c->wb.errors));
	backend_stat_counter(s, "wb_flushes", CACHE_LOAD(c->wb.flushes));
	backend_stat_counter(s, "wb_read_retries",
			     CACHE_LOAD(c->wb.read_retries));
}

/* ---- open / close ----------------------------------------------------------- */

static void cache_free(struct cache *c)
{
	cache_est_fini(&c->est);
	pthread_mutex_destroy(&c->wlock);
	free(c);
}

static int cache_setup(struct cache *c, struct backend *next,
		       const struct cache_cfg *k)
{
	size_t cap;

	c->next = next;
	c->size = next->size;
	c->bs = k->block_kib * 1024u;
	while ((1u << c->bs_shift) < c->bs)
		c->bs_shift++;
	c->nblocks = (c->size + c->bs - 1) >> c->bs_shift;
	cap = (size_t)(((uint64_t)k->size_mib << 20) >> c->bs_shift);
	c->nblocks_cap = cap;
	pthread_mutex_init(&c->wlock, NULL);
	cache_est_init(&c->est);
	if (cache_blocks_init(c, cap) < 0)
		return BE_ENOMEM;
	c->ra_on = k->readahead;
	if (c->ra_on && cache_ra_init(c, k->ra_threads,
				      k->ra_max_mib << 20) < 0) {
		cache_blocks_fini(c);
		return BE_ENOMEM;
	}
	/* Over read-only media (or a read-only LUN) there is nothing to
	 * write back. */
	if (k->write_back && !next->readonly &&
	    cache_wb_init(c, k->dirty_mib, k->flush_seconds) < 0) {
		if (c->ra_on)
			cache_ra_fini(c);
		cache_blocks_fini(c);
		return BE_ENOMEM;
	}
	return 0;
}

static int cache_open(struct backend *next,
		      const struct backend_open_opts *opts, void **handle,
		      char *err, size_t errlen)
{
	struct backend_optset set;
	struct cache_cfg k;
	struct cache *c;
	int r;

	if (backend_optset_init(&set, "", opts, cache_known_opts, NULL,
				err, errlen) < 0)
		return BE_EOPEN;
	r = cache_parse(&k, &set, err, errlen);
	backend_optset_free(&set);
	if (r < 0)
		return r;
	if (!(c = calloc(1, sizeof *c)))
		return BE_ENOMEM;
	if ((r = cache_setup(c, next, &k)) < 0) {
		cache_free(c);
		return r;
	}
	*handle = c;
	return 0;
}

static void cache_close(void *handle)
{
	struct cache *c = handle;

	if (c->ra_on)
		cache_ra_fini(c);
	cache_wb_fini(c);      /* writes dirty blocks down: blocks still up */
	cache_blocks_fini(c);
	cache_free(c);
}

static unsigned cache_max_in_flight(void *handle)
{
	struct cache *c = handle;
	unsigned below = backend_max_in_flight(c->next);

	return c->ra_on ? below + c->ra.nthreads : below;
}

const struct backend_ops layer_cache_ops = {
	.ops_size = sizeof(struct backend_ops),
	.name = "cache",
	.thread_model = BACKEND_PARALLEL,
	.open_layer = cache_open,
	.close = cache_close,
	.pread = cache_pread,
	.pwrite = cache_pwrite,
	.trim = cache_trim,
	.flush = cache_flush,
	.can_flush = cache_can_flush,
	.can_fua = cache_can_fua,
	.max_in_flight = cache_max_in_flight,
	.stats = cache_stats,
	.try_pread = cache_try_pread,
};
