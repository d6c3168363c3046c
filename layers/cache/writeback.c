/* writeback.c — the cache layer's write-back mode ("write=back"): host
 * writes are acknowledged once they are in memory and reach the backend
 * later, in coalesced runs, on SYNCHRONIZE CACHE (flush), at eject and
 * shutdown (the LUN flushes before it closes, and close flushes again),
 * after flush-seconds, and whenever the dirty set is full.  A FUA write
 * goes all the way down before it is acknowledged.  The device already
 * reports a volatile write cache (WCE=1 in the caching mode page), so
 * hosts send SYNCHRONIZE CACHE where they need durability; that is the
 * contract this mode keeps, as a disk with its write cache on does.
 *
 * Dirty blocks are whole blocks of the cache's block size, kept apart
 * from the 2Q blocks (which only ever hold the backend's bytes): a read
 * takes the backend's view through the cache, then lays the dirty blocks
 * of its range over it.  A write of part of a block that is not dirty
 * yet reads the block first (read-modify-write, usually a cache hit).
 *
 *   dirty entry   LOADING ──filled (RMW)──▶ DIRTY ──written down, no
 *                    │ read failed            ▲ │    write since──▶ (freed)
 *                    ▼                        └─┘ a write patches it
 *                 (freed)                         (gen++)
 *
 * A write holds the partial blocks at its ends (holds > 0) from their
 * read to its last byte: flushes write them but do not free them, and a
 * trim zeroes them instead of dropping them.
 *
 * Only flushes write below, one at a time (flush_lock), so the backend
 * never sees two writes of a block race.  A flush copies a run of dirty
 * blocks and their generations under the lock, writes the copy, and then
 * frees the blocks no write touched meanwhile; the others stay dirty for
 * the next flush.  A reader that took the backend's view before a flush
 * freed blocks might have read the bytes from before that flush wrote
 * them, so freeing bumps `epoch` and such a reader reads again (after
 * eight tries, under flush_lock, which keeps blocks from being freed).
 *
 * Locks: wb.lock guards the table, the age list, counts and every entry's
 * fields and data; it is never held across a backend call.  flush_lock is
 * taken before wb.lock and is held across the backend writes of a flush.
 */
#include "cache.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WB_RUN_MAX (1u << 20)     /* bytes written below by one call */
#define WB_READ_TRIES 8

struct cache_dirty {
	uint64_t blk;
	struct cache_dirty *hnext;
	struct cache_dirty *older, *newer;   /* the age list */
	uint64_t gen;                        /* writes into it */
	uint64_t since_ns;                   /* dirty since */
	bool loading;                        /* its RMW read is running */
	unsigned holds;                      /* writes that need it kept */
	unsigned char *data;                 /* bs bytes */
};

static size_t wb_bucket(const struct cache_wb *w, uint64_t blk)
{
	return (size_t)((blk * 0x9e3779b97f4a7c15ull) >> 20) & w->mask;
}

static struct cache_dirty *wb_find(const struct cache_wb *w, uint64_t blk)
{
	struct cache_dirty *d = w->table[wb_bucket(w, blk)];

	while (d && d->blk != blk)
		d = d->hnext;
	return d;
}

/* Adds a new, loading or dirty entry for blk; NULL without memory. */
static struct cache_dirty *wb_add(struct cache *c, uint64_t blk)
{
	struct cache_wb *w = &c->wb;
	struct cache_dirty *d = calloc(1, sizeof *d);
	size_t b = wb_bucket(w, blk);

	if (!d || !(d->data = malloc(c->bs))) {
		free(d);
		return NULL;
	}
	d->blk = blk;
	d->since_ns = cache_now_ns();
	d->hnext = w->table[b];
	w->table[b] = d;
	d->older = w->newest;
	if (w->newest)
		w->newest->newer = d;
	else
		w->oldest = d;
	w->newest = d;
	w->n++;
	return d;
}

static void wb_remove(struct cache_wb *w, struct cache_dirty *d)
{
	struct cache_dirty **p = &w->table[wb_bucket(w, d->blk)];

	while (*p != d)
		p = &(*p)->hnext;
	*p = d->hnext;
	if (d->older)
		d->older->newer = d->newer;
	else
		w->oldest = d->newer;
	if (d->newer)
		d->newer->older = d->older;
	else
		w->newest = d->older;
	w->n--;
	free(d->data);
	free(d);
}

/* ---- writes --------------------------------------------------------------- */

/* The part of block b inside [off, off+count): [lo - start, hi - start). */
static void wb_span(const struct cache *c, uint64_t b, uint64_t off,
		    uint32_t count, uint64_t *start, uint64_t *lo,
		    uint64_t *hi)
{
	uint64_t end;

	*start = b << c->bs_shift;
	end = *start + cache_blk_len(c, b);
	*lo = off > *start ? off : *start;
	*hi = off + count < end ? off + count : end;
}

/* Fills a new, loading entry's block from the backend's view (the read
 * of a read-modify-write); lock not held on entry or exit. */
static int wb_fill(struct cache *c, struct cache_dirty *d)
{
	struct cache_wb *w = &c->wb;
	int r = cache_read(c, d->data, cache_blk_len(c, d->blk),
			   d->blk << c->bs_shift);

	atomic_fetch_add_explicit(&w->rmw_reads, 1, memory_order_relaxed);
	pthread_mutex_lock(&w->lock);
	d->loading = false;
	d->gen++;
	if (r != 0)
		wb_remove(w, d);
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->lock);
	return r == 0 ? 0 : BE_EIO_WRITE;
}

/* Makes sure block blk has a filled dirty entry and holds it (a flush
 * writes it but does not free it) until wb_release().  1 when the dirty
 * set has no room, else 0 or an error. */
static int wb_prepare(struct cache *c, uint64_t blk)
{
	struct cache_wb *w = &c->wb;
	struct cache_dirty *d;

	pthread_mutex_lock(&w->lock);
	while ((d = wb_find(w, blk)) && d->loading)
		pthread_cond_wait(&w->changed, &w->lock);
	if (d) {
		d->holds++;
		pthread_mutex_unlock(&w->lock);
		return 0;
	}
	if (w->n >= w->limit || !(d = wb_add(c, blk))) {
		pthread_mutex_unlock(&w->lock);
		return 1;
	}
	d->loading = true;
	d->holds = 1;
	pthread_mutex_unlock(&w->lock);
	return wb_fill(c, d);
}

static void wb_release(struct cache *c, uint64_t blk)
{
	struct cache_dirty *d;

	pthread_mutex_lock(&c->wb.lock);
	if ((d = wb_find(&c->wb, blk)) != NULL && d->holds)
		d->holds--;
	pthread_mutex_unlock(&c->wb.lock);
}

/* Runs step until it finds room (1 means none yet: dirty blocks are
 * written down to make some).  0 or an error. */
static int wb_with_room(struct cache *c, int (*step)(struct cache *, void *),
			void *arg)
{
	for (int tries = 0; tries < 16; tries++) {
		int r = step(c, arg);

		if (r <= 0)
			return r;
		atomic_fetch_add_explicit(&c->wb.full_waits, 1,
					  memory_order_relaxed);
		if ((r = cache_wb_writeback(c, false)) < 0)
			return r;
	}
	return BE_EIO_WRITE;
}

struct wb_req {
	const unsigned char *src;
	uint64_t off, first, last, blk;
	uint32_t count;
};

static int wb_prepare_step(struct cache *c, void *arg)
{
	return wb_prepare(c, ((struct wb_req *)arg)->blk);
}

/* Whether some block of the request is being filled; lock held. */
static bool wb_loading_locked(const struct cache *c, const struct wb_req *q,
			      size_t *absent)
{
	*absent = 0;
	for (uint64_t b = q->first; b <= q->last; b++) {
		const struct cache_dirty *d = wb_find(&c->wb, b);

		if (d && d->loading)
			return true;
		*absent += !d;
	}
	return false;
}

/* Copies the request's bytes into its blocks, all under one hold of the
 * lock, when the dirty set has room for the absent ones (1 when not).
 * The partial blocks at either end were prepared, so every absent block
 * is a whole one. */
static int wb_apply_step(struct cache *c, void *arg)
{
	struct wb_req *q = arg;
	struct cache_wb *w = &c->wb;
	size_t absent;

	pthread_mutex_lock(&w->lock);
	while (wb_loading_locked(c, q, &absent))
		pthread_cond_wait(&w->changed, &w->lock);
	if (w->n + absent > w->limit) {
		pthread_mutex_unlock(&w->lock);
		return 1;
	}
	for (uint64_t b = q->first; b <= q->last; b++) {
		struct cache_dirty *d = wb_find(w, b);
		uint64_t start, lo, hi;

		if (!d && !(d = wb_add(c, b))) {
			pthread_mutex_unlock(&w->lock);
			return BE_ENOMEM;
		}
		wb_span(c, b, q->off, q->count, &start, &lo, &hi);
		memcpy(d->data + (lo - start), q->src + (lo - q->off),
		       (size_t)(hi - lo));
		d->gen++;
	}
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* A write of more blocks than the dirty set holds, block by block. */
static int wb_apply_split(struct cache *c, const struct wb_req *q)
{
	for (uint64_t b = q->first; b <= q->last; b++) {
		uint64_t start, lo, hi;
		struct wb_req one;
		int r;

		wb_span(c, b, q->off, q->count, &start, &lo, &hi);
		one = (struct wb_req){ .src = q->src + (lo - q->off), .off = lo,
				       .count = (uint32_t)(hi - lo),
				       .first = b, .last = b };
		if ((r = wb_with_room(c, wb_apply_step, &one)) < 0)
			return r;
	}
	return 0;
}

int cache_wb_write(struct cache *c, const void *buf, uint32_t count,
		   uint64_t off, uint32_t flags)
{
	struct wb_req q = { .src = buf, .off = off, .count = count,
			    .first = off >> c->bs_shift,
			    .last = (off + count - 1) >> c->bs_shift };
	uint64_t edge[2] = { q.first, q.last };
	bool held[2] = { false, false };
	int r = 0;

	/* The partial blocks at the ends are read first, so a failed read
	 * fails the write before any of its bytes are taken. */
	for (int i = 0; i < 2 && r == 0; i++) {
		uint64_t start, lo, hi;

		wb_span(c, edge[i], off, count, &start, &lo, &hi);
		if ((i == 1 && edge[1] == edge[0]) ||
		    (lo == start && hi - start == cache_blk_len(c, edge[i])))
			continue;
		q.blk = edge[i];
		r = wb_with_room(c, wb_prepare_step, &q);
		held[i] = r == 0;
	}
	if (r == 0)
		r = q.last - q.first + 1 <= c->wb.limit / 2 ?
			wb_with_room(c, wb_apply_step, &q) :
			wb_apply_split(c, &q);
	for (int i = 0; i < 2; i++)
		if (held[i])
			wb_release(c, edge[i]);
	if (r < 0)
		return r;
	atomic_fetch_add_explicit(&c->wb.writes, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->wb.write_bytes, count,
				  memory_order_relaxed);
	if (flags & BACKEND_FUA)
		return cache_wb_writeback_range(c, q.first, q.last);
	return 0;
}

/* ---- writing dirty blocks down --------------------------------------------- */

static int wb_cmp_blk(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The dirty, filled blocks in [first, last], sorted; *n of them.  NULL
 * and *n = 0 when there are none (or no memory: BE_ENOMEM in *r). */
static uint64_t *wb_collect(struct cache *c, uint64_t first, uint64_t last,
			    size_t *n, int *r)
{
	struct cache_wb *w = &c->wb;
	uint64_t *v;

	*n = 0;
	*r = 0;
	pthread_mutex_lock(&w->lock);
	if (!w->n || !(v = malloc(w->n * sizeof *v))) {
		*r = w->n ? BE_ENOMEM : 0;
		pthread_mutex_unlock(&w->lock);
		return NULL;
	}
	for (struct cache_dirty *d = w->oldest; d; d = d->newer)
		if (!d->loading && d->blk >= first && d->blk <= last)
			v[(*n)++] = d->blk;
	pthread_mutex_unlock(&w->lock);
	qsort(v, *n, sizeof *v, wb_cmp_blk);
	return v;
}

/* Copies the run of consecutive dirty blocks starting at v[0] (at most
 * WB_RUN_MAX bytes, within v[0..n)) into buf with their generations;
 * returns how many blocks it took (0: v[0] is no longer dirty). */
static size_t wb_copy_run(struct cache *c, const uint64_t *v, size_t n,
			  unsigned char *buf, uint64_t *gens, uint32_t *len)
{
	struct cache_wb *w = &c->wb;
	size_t k = 0;

	*len = 0;
	pthread_mutex_lock(&w->lock);
	while (k < n && (k == 0 || v[k] == v[0] + k) &&
	       *len + c->bs <= WB_RUN_MAX) {
		struct cache_dirty *d = wb_find(w, v[k]);
		uint32_t blen = cache_blk_len(c, v[k]);

		if (!d || d->loading)
			break;
		memcpy(buf + *len, d->data, blen);
		gens[k++] = d->gen;
		*len += blen;
	}
	pthread_mutex_unlock(&w->lock);
	return k;
}

/* Frees the run's blocks that no write touched since they were copied. */
static void wb_clean_run(struct cache *c, const uint64_t *v, size_t k,
			 const uint64_t *gens)
{
	struct cache_wb *w = &c->wb;

	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < k; i++) {
		struct cache_dirty *d = wb_find(w, v[i]);

		if (d && !d->loading && !d->holds && d->gen == gens[i])
			wb_remove(w, d);
	}
	atomic_fetch_add(&w->epoch, 1);
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->lock);
}

/* One backend write of a copied run, through the cache's write
 * generation (the 2Q blocks it covers take the bytes when it succeeds). */
static int wb_write_run(struct cache *c, const unsigned char *buf,
			uint32_t len, uint64_t off)
{
	uint64_t g = cache_write_begin(c);
	int r = backend_pwrite(c->next, buf, len, off, 0);

	cache_write_end(c, g, buf, off, len, r == 0);
	atomic_fetch_add_explicit(&c->wb.runs, 1, memory_order_relaxed);
	if (r == 0)
		atomic_fetch_add_explicit(&c->wb.written_bytes, len,
					  memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&c->wb.errors, 1,
					  memory_order_relaxed);
	return r;
}

/* Under flush_lock: writes every dirty block of [first, last] down;
 * every run is tried, the first error is returned. */
static int wb_write_range(struct cache *c, uint64_t first, uint64_t last)
{
	size_t n, i = 0;
	int r, err = 0;
	uint64_t *v = wb_collect(c, first, last, &n, &r);
	size_t maxk = WB_RUN_MAX / c->bs ? WB_RUN_MAX / c->bs : 1;
	unsigned char *buf = n ? malloc(WB_RUN_MAX > c->bs ? WB_RUN_MAX
							   : c->bs) : NULL;
	uint64_t *gens = n ? malloc(maxk * sizeof *gens) : NULL;

	if (r < 0 || (n && (!buf || !gens)))
		err = r < 0 ? r : BE_ENOMEM;
	while (err != BE_ENOMEM && i < n) {
		uint32_t len;
		size_t k = wb_copy_run(c, v + i, n - i, buf, gens, &len);

		if (k == 0) {          /* written by a FUA write meanwhile */
			i++;
			continue;
		}
		r = wb_write_run(c, buf, len, v[i] << c->bs_shift);
		if (r == 0)
			wb_clean_run(c, v + i, k, gens);
		else if (!err)
			err = r;
		i += k;
	}
	free(gens);
	free(buf);
	free(v);
	return err;
}

/* A FUA write's blocks: written down, then the backend flushed (another
 * flush may have written some of them already, without FUA). */
int cache_wb_writeback_range(struct cache *c, uint64_t first, uint64_t last)
{
	int r;

	pthread_mutex_lock(&c->wb.flush_lock);
	r = wb_write_range(c, first, last);
	if (r == 0)
		r = backend_flush(c->next);
	pthread_mutex_unlock(&c->wb.flush_lock);
	return r;
}

int cache_wb_writeback(struct cache *c, bool flush_below)
{
	int r;

	pthread_mutex_lock(&c->wb.flush_lock);
	r = wb_write_range(c, 0, UINT64_MAX);
	if (r == 0 && flush_below)
		r = backend_flush(c->next);
	pthread_mutex_unlock(&c->wb.flush_lock);
	if (flush_below)
		atomic_fetch_add_explicit(&c->wb.flushes, 1,
					  memory_order_relaxed);
	return r;
}

/* ---- reads ---------------------------------------------------------------- */

/* Lays the dirty blocks of [off, off+count) over buf; wb.lock held. */
static void wb_overlay_locked(struct cache *c, void *buf, uint32_t count,
			      uint64_t off)
{
	uint64_t first = off >> c->bs_shift;
	uint64_t last = (off + count - 1) >> c->bs_shift;

	for (uint64_t b = first; b <= last && c->wb.n; b++) {
		struct cache_dirty *d = wb_find(&c->wb, b);
		uint64_t start = b << c->bs_shift;
		uint64_t lo = off > start ? off : start;
		uint64_t end = start + cache_blk_len(c, b);
		uint64_t hi = off + count < end ? off + count : end;

		if (d && !d->loading)
			memcpy((unsigned char *)buf + (lo - off),
			       d->data + (lo - start), (size_t)(hi - lo));
	}
}

int cache_wb_read(struct cache *c, void *buf, uint32_t count, uint64_t off)
{
	struct cache_wb *w = &c->wb;
	int r;

	for (int t = 0; t < WB_READ_TRIES; t++) {
		uint64_t e = atomic_load(&w->epoch);

		if ((r = cache_read(c, buf, count, off)) < 0)
			return r;
		pthread_mutex_lock(&w->lock);
		if (atomic_load(&w->epoch) == e) {
			wb_overlay_locked(c, buf, count, off);
			pthread_mutex_unlock(&w->lock);
			return 0;
		}
		pthread_mutex_unlock(&w->lock);
		atomic_fetch_add_explicit(&w->read_retries, 1,
					  memory_order_relaxed);
	}
	/* Flushes keep freeing blocks: read with them held off. */
	pthread_mutex_lock(&w->flush_lock);
	r = cache_read(c, buf, count, off);
	if (r == 0) {
		pthread_mutex_lock(&w->lock);
		wb_overlay_locked(c, buf, count, off);
		pthread_mutex_unlock(&w->lock);
	}
	pthread_mutex_unlock(&w->flush_lock);
	return r;
}

bool cache_wb_overlay_try(struct cache *c, void *buf, uint32_t count,
			  uint64_t off, uint64_t epoch)
{
	struct cache_wb *w = &c->wb;
	bool ok;

	pthread_mutex_lock(&w->lock);
	ok = atomic_load(&w->epoch) == epoch;
	if (ok)
		wb_overlay_locked(c, buf, count, off);
	pthread_mutex_unlock(&w->lock);
	return ok;
}

/* ---- trim ----------------------------------------------------------------- */

int cache_wb_trim(struct cache *c, uint32_t count, uint64_t off)
{
	struct cache_wb *w = &c->wb;
	uint64_t first = off >> c->bs_shift;
	uint64_t last = (off + count - 1) >> c->bs_shift;
	uint64_t g;
	int r;

	/* No flush may write a block down after the trim reached it. */
	pthread_mutex_lock(&w->flush_lock);
	pthread_mutex_lock(&w->lock);
	for (uint64_t b = first; b <= last && w->n; b++) {
		struct cache_dirty *d;
		uint64_t start = b << c->bs_shift;
		uint64_t lo = off > start ? off : start;
		uint64_t end = start + cache_blk_len(c, b);
		uint64_t hi = off + count < end ? off + count : end;

		while ((d = wb_find(w, b)) && d->loading)
			pthread_cond_wait(&w->changed, &w->lock);
		if (!d)
			continue;
		if (lo == start && hi == end && !d->holds) {
			wb_remove(w, d);
		} else {    /* what a trim leaves is what the backend reads */
			memset(d->data + (lo - start), 0, (size_t)(hi - lo));
			d->gen++;
		}
	}
	atomic_fetch_add(&w->epoch, 1);
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->lock);
	g = cache_write_begin(c);
	r = backend_trim(c->next, count, off);
	cache_write_end(c, g, NULL, off, count, false);
	pthread_mutex_unlock(&w->flush_lock);
	return r;
}

/* ---- the flusher thread ------------------------------------------------------ */

/* Whether the oldest dirty block is older than the expiry, or the set is
 * more than half full; wb.lock held. */
static bool wb_due_locked(const struct cache *c, uint64_t now)
{
	const struct cache_wb *w = &c->wb;

	return w->n && (w->n * 2 > w->limit ||
			now - w->oldest->since_ns >= w->expire_ns);
}

static void *wb_thread(void *arg)
{
	struct cache *c = arg;
	struct cache_wb *w = &c->wb;

	bool failing = false;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		struct timespec ts;
		int r;

		backend_deadline(&ts, 1000);
		pthread_cond_timedwait(&w->tick, &w->lock, &ts);
		if (w->stop || !wb_due_locked(c, cache_now_ns()))
			continue;
		pthread_mutex_unlock(&w->lock);
		r = cache_wb_writeback(c, false);
		if (r < 0 && !failing)
			log_warnx("cache: writing dirty blocks back: %s; they "
				  "stay dirty and are retried",
				  backend_strerror(r));
		else if (r == 0 && failing)
			log_info("cache: dirty blocks written back again");
		failing = r < 0;
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int cache_wb_init(struct cache *c, unsigned dirty_mib, unsigned expire_s)
{
	struct cache_wb *w = &c->wb;
	size_t buckets = 64;

	w->limit = (size_t)(((uint64_t)dirty_mib << 20) >> c->bs_shift);
	if (w->limit == 0)
		w->limit = 1;
	while (buckets < w->limit)
		buckets <<= 1;
	if (!(w->table = calloc(buckets, sizeof *w->table)))
		return BE_ENOMEM;
	w->mask = buckets - 1;
	w->expire_ns = (uint64_t)expire_s * 1000000000ull;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->flush_lock, NULL);
	pthread_cond_init(&w->changed, NULL);
	backend_cond_init(&w->tick);
	w->on = true;
	if (expire_s && pthread_create(&w->thread, NULL, wb_thread, c) != 0) {
		cache_wb_fini(c);
		return BE_ENOMEM;
	}
	w->thread_on = expire_s != 0;
	return 0;
}

void cache_wb_fini(struct cache *c)
{
	struct cache_wb *w = &c->wb;

	if (!w->on)
		return;
	if (w->thread_on) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_cond_signal(&w->tick);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	/* The LUN flushed before closing; this catches everyone else. */
	if (w->n && cache_wb_writeback(c, true) < 0)
		log_errx("cache: %zu dirty blocks (%zu KiB) could not be "
			 "written back at close and are lost", w->n,
			 (w->n << c->bs_shift) >> 10);
	while (w->oldest)
		wb_remove(w, w->oldest);
	free(w->table);
	pthread_cond_destroy(&w->tick);
	pthread_cond_destroy(&w->changed);
	pthread_mutex_destroy(&w->flush_lock);
	pthread_mutex_destroy(&w->lock);
	w->on = false;
}

uint64_t cache_wb_dirty_bytes(struct cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->wb.lock);
	n = c->wb.n;
	pthread_mutex_unlock(&c->wb.lock);
	return (uint64_t)n << c->bs_shift;
}
