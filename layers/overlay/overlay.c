/* overlay.c — the copy-on-write overlay layer: a read-only source (HTTP,
 * a read-only NBD export) made writable; the host's writes go to a local
 * overlay and never below.
 *
 *   layers: ["cache:size-mib=256", "overlay:size-mib=512"]
 *   layers: ["overlay:file=/var/lib/netstick/overlay/lun0,keep=1"]
 *
 * Reads merge: blocks the host wrote come from the overlay, the rest from
 * the layer below (one read for the span of absent blocks; the overlay's
 * blocks are copied over it under the shared lock, so a read sees the
 * overlay at one instant).  Writes store whole blocks: a write of part of
 * an absent block reads the rest from below first.  The overlay is
 * bounded (size-mib): a write that needs more blocks than are left fails
 * whole, before anything is stored, with BE_ENOSPC, which the host gets as
 * DATA PROTECT / SPACE ALLOCATION FAILED WRITE PROTECT (07/27/07, sense.c)
 * - the sense of a thin-provisioned disk out of backing space: Linux
 * reports it to the file system as ENOSPC ("No space left on device"),
 * not as a media error, and nothing the host was told is written is ever
 * dropped.
 *
 * Lifetime: in memory, or in a sparse file (file=PATH).  Discarded when the
 * media closes (eject, swap, shutdown) unless keep=1 (file only): then the
 * file and its map (store.c) stay, and the next open of an image of the
 * same size with the same file continues from them.  Flush and FUA make
 * a file overlay durable (data synced, then the map); a memory overlay is
 * volatile by design and they are no-ops.
 *
 * The LUN reports writable: the layer defines pwrite and can_write, so the
 * core no longer sees the read-only backend below (backend.c,
 * backend_probe).  Trim is not offered: the bytes below would show again.
 *
 * Threads: PARALLEL.  One rwlock (overlay.h); reads from below never hold
 * it.
 */
#include "overlay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const overlay_known_opts[] = {
	"size-mib", "block-kib", "file", "keep", NULL,
};

/* ---- reads ------------------------------------------------------------------ */

/* Under the read lock: the first and last absent blocks of [first, last];
 * false when every block is present. */
static bool overlay_absent_span(struct overlay *o, uint64_t first,
				uint64_t last, uint64_t *fa, uint64_t *la)
{
	bool any = false;

	for (uint64_t b = first; b <= last; b++)
		if (!overlay_has(o, b)) {
			if (!any)
				*fa = b;
			*la = b;
			any = true;
		}
	return any;
}

/* Bytes of [off, off+count) that fall in blocks [a, b]: *lo, *hi. */
static void overlay_clip(const struct overlay *o, uint64_t a, uint64_t b,
			 uint64_t off, uint32_t count, uint64_t *lo,
			 uint64_t *hi)
{
	uint64_t s = a << o->shift, e = (b + 1) << o->shift;

	*lo = off > s ? off : s;
	*hi = off + count < e ? off + count : e;
	if (*hi > o->size)
		*hi = o->size;
}

/* Under the read lock: the present blocks' part of the range over buf. */
static int overlay_copy_present(struct overlay *o, void *buf, uint32_t count,
				uint64_t off)
{
	uint64_t first = off >> o->shift, last = (off + count - 1) >> o->shift;

	for (uint64_t b = first; b <= last; b++) {
		uint64_t lo, hi;
		int r;

		if (!overlay_has(o, b))
			continue;
		overlay_clip(o, b, b, off, count, &lo, &hi);
		r = overlay_store_get(o, b, (uint32_t)(lo - (b << o->shift)),
				      (unsigned char *)buf + (lo - off),
				      (uint32_t)(hi - lo));
		if (r < 0)
			return r;
		atomic_fetch_add_explicit(&o->read_overlay_bytes, hi - lo,
					  memory_order_relaxed);
	}
	return 0;
}

static int overlay_pread(void *handle, void *buf, uint32_t count,
			 uint64_t off)
{
	struct overlay *o = handle;
	uint64_t first = off >> o->shift, last = (off + count - 1) >> o->shift;
	uint64_t fa = 0, la = 0, lo, hi;
	bool below;
	int r;

	pthread_rwlock_rdlock(&o->lock);
	below = overlay_absent_span(o, first, last, &fa, &la);
	pthread_rwlock_unlock(&o->lock);
	if (below) {
		overlay_clip(o, fa, la, off, count, &lo, &hi);
		r = backend_pread(o->next, (unsigned char *)buf + (lo - off),
				  (uint32_t)(hi - lo), lo);
		if (r < 0)
			return r;
		atomic_fetch_add_explicit(&o->read_below_bytes, hi - lo,
					  memory_order_relaxed);
	}
	/* Blocks never leave the overlay: those absent then may have come
	 * since (newer bytes, copied now), none of the others went. */
	pthread_rwlock_rdlock(&o->lock);
	r = overlay_copy_present(o, buf, count, off);
	pthread_rwlock_unlock(&o->lock);
	return r;
}

/* ---- writes ------------------------------------------------------------------ */

/* The edge blocks of a write that cover only part of a block, with the
 * bytes below them when they were absent (read before the write lock). */
struct overlay_edge {
	uint64_t blk;
	bool partial, have;
	unsigned char *below;
};

static bool overlay_partial(const struct overlay *o, uint64_t blk,
			    uint64_t off, uint32_t count)
{
	uint64_t lo, hi;

	overlay_clip(o, blk, blk, off, count, &lo, &hi);
	return hi - lo < (((blk + 1) << o->shift) > o->size
			  ? o->size - (blk << o->shift) : o->bs);
}

/* Reads the block below an absent partial edge. */
static int overlay_edge_fetch(struct overlay *o, struct overlay_edge *e)
{
	uint64_t start = e->blk << o->shift;
	uint32_t len = o->size - start < o->bs ? (uint32_t)(o->size - start)
					       : o->bs;
	bool absent;

	if (!e->partial)
		return 0;
	pthread_rwlock_rdlock(&o->lock);
	absent = !overlay_has(o, e->blk);
	pthread_rwlock_unlock(&o->lock);
	if (!absent)
		return 0;
	if (!(e->below = calloc(1, o->bs)))
		return BE_ENOMEM;
	atomic_fetch_add_explicit(&o->rmw_reads, 1, memory_order_relaxed);
	if (backend_pread(o->next, e->below, len, start) < 0)
		return BE_EIO_WRITE;
	e->have = true;
	return 0;
}

/* Under the write lock: stores block b's part of the write. */
static int overlay_store_one(struct overlay *o, uint64_t b, const void *buf,
			     uint64_t off, uint32_t count,
			     struct overlay_edge *edge)
{
	uint64_t lo, hi, start = b << o->shift;
	const unsigned char *src;

	overlay_clip(o, b, b, off, count, &lo, &hi);
	src = (const unsigned char *)buf + (lo - off);
	if (overlay_has(o, b))
		return overlay_store_patch(o, b, (uint32_t)(lo - start), src,
					   (uint32_t)(hi - lo));
	if (!edge)   /* the whole block */
		return overlay_store_put(o, b, src);
	if (!edge->have)   /* present when checked: cannot be absent now */
		return BE_EIO_WRITE;
	memcpy(edge->below + (lo - start), src, (size_t)(hi - lo));
	return overlay_store_put(o, b, edge->below);
}

/* Under the write lock: stores every block, or nothing when they do not
 * fit (BE_ENOSPC). */
static int overlay_store_range(struct overlay *o, const void *buf,
			       uint64_t off, uint32_t count,
			       struct overlay_edge *edges)
{
	uint64_t first = off >> o->shift, last = (off + count - 1) >> o->shift;
	uint64_t need = 0;
	int r = 0;

	for (uint64_t b = first; b <= last; b++)
		need += !overlay_has(o, b);
	if (o->present + need > o->limit) {
		atomic_fetch_add_explicit(&o->full_errors, 1,
					  memory_order_relaxed);
		return BE_ENOSPC;
	}
	for (uint64_t b = first; b <= last && r == 0; b++) {
		struct overlay_edge *e = NULL;

		if (b == edges[0].blk && edges[0].partial)
			e = &edges[0];
		else if (b == edges[1].blk && edges[1].partial)
			e = &edges[1];
		r = overlay_store_one(o, b, buf, off, count, e);
	}
	return r;
}

static int overlay_pwrite(void *handle, const void *buf, uint32_t count,
			  uint64_t off, uint32_t flags)
{
	struct overlay *o = handle;
	uint64_t first = off >> o->shift, last = (off + count - 1) >> o->shift;
	struct overlay_edge edges[2] = {
		{ .blk = first, .partial = overlay_partial(o, first, off, count) },
		{ .blk = last, .partial = last != first &&
					  overlay_partial(o, last, off, count) },
	};
	int r = overlay_edge_fetch(o, &edges[0]);

	if (r == 0)
		r = overlay_edge_fetch(o, &edges[1]);
	if (r == 0) {
		pthread_rwlock_wrlock(&o->lock);
		r = overlay_store_range(o, buf, off, count, edges);
		if (r == 0 && (flags & BACKEND_FUA))
			r = overlay_store_sync(o);
		pthread_rwlock_unlock(&o->lock);
	}
	free(edges[0].below);
	free(edges[1].below);
	if (r == 0) {
		atomic_fetch_add_explicit(&o->writes, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&o->write_bytes, count,
					  memory_order_relaxed);
	}
	return r;
}

static int overlay_flush(void *handle, uint32_t flags)
{
	struct overlay *o = handle;
	int r;

	(void)flags;
	pthread_rwlock_wrlock(&o->lock);
	r = overlay_store_sync(o);
	pthread_rwlock_unlock(&o->lock);
	return r;
}

static int overlay_yes(void *handle) { (void)handle; return 1; }
static int overlay_no(void *handle) { (void)handle; return 0; }

/* ---- stats ------------------------------------------------------------------ */

#define OVERLAY_LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void overlay_stats(void *handle, const struct backend_stat_sink *s)
{
	struct overlay *o = handle;
	uint64_t present;

	pthread_rwlock_rdlock(&o->lock);
	present = o->present;
	pthread_rwlock_unlock(&o->lock);
	backend_stat_gauge(s, "overlay_bytes", present << o->shift);
	backend_stat_gauge(s, "overlay_limit_bytes", o->limit << o->shift);
	backend_stat_counter(s, "writes", OVERLAY_LOAD(o->writes));
	backend_stat_counter(s, "write_bytes", OVERLAY_LOAD(o->write_bytes));
	backend_stat_counter(s, "rmw_reads", OVERLAY_LOAD(o->rmw_reads));
	backend_stat_counter(s, "full_errors", OVERLAY_LOAD(o->full_errors));
	backend_stat_counter(s, "read_overlay_bytes",
			     OVERLAY_LOAD(o->read_overlay_bytes));
	backend_stat_counter(s, "read_below_bytes",
			     OVERLAY_LOAD(o->read_below_bytes));
}

/* ---- open / close ------------------------------------------------------------ */

struct overlay_cfg {
	unsigned size_mib, block_kib;
	bool keep;
	const char *file;
};

static int overlay_parse(struct overlay_cfg *k, const struct backend_optset *s,
			 char *err, size_t errlen)
{
	if (backend_opt_uint(s, "size-mib", 1024, 1, 1048576, &k->size_mib,
			     err, errlen) < 0 ||
	    backend_opt_uint(s, "block-kib", 4, 4, 1024, &k->block_kib,
			     err, errlen) < 0 ||
	    backend_opt_bool(s, "keep", false, &k->keep, err, errlen) < 0)
		return BE_EOPEN;
	k->file = backend_opt_get(s, "file");
	if (k->block_kib & (k->block_kib - 1)) {
		snprintf(err, errlen, "option block-kib: must be a power of two");
		return BE_EOPEN;
	}
	if (k->file && k->file[0] != '/') {
		snprintf(err, errlen, "option file: must be an absolute path");
		return BE_EOPEN;
	}
	if (k->keep && !k->file) {
		snprintf(err, errlen, "option keep: needs file=PATH "
			 "(a memory overlay ends with the media)");
		return BE_EOPEN;
	}
	return 0;
}

static void overlay_free(struct overlay *o)
{
	overlay_store_close(o);
	pthread_rwlock_destroy(&o->lock);
	free(o);
}

static int overlay_setup(struct overlay *o, struct backend *next,
			 const struct overlay_cfg *k, char *err, size_t errlen)
{
	o->next = next;
	o->size = next->size;
	o->bs = k->block_kib * 1024u;
	while ((1u << o->shift) < o->bs)
		o->shift++;
	o->nblocks = (o->size + o->bs - 1) >> o->shift;
	o->limit = ((uint64_t)k->size_mib << 20) >> o->shift;
	pthread_rwlock_init(&o->lock, NULL);
	return overlay_store_open(o, k->file, k->keep, err, errlen);
}

static int overlay_open(struct backend *next,
			const struct backend_open_opts *opts, void **handle,
			char *err, size_t errlen)
{
	struct backend_optset set;
	struct overlay_cfg k;
	struct overlay *o;
	int r;

	if (backend_optset_init(&set, "", opts, overlay_known_opts, NULL,
				err, errlen) < 0)
		return BE_EOPEN;
	r = overlay_parse(&k, &set, err, errlen);
	if (r == 0 && !(o = calloc(1, sizeof *o)))
		r = BE_ENOMEM;
	if (r == 0 && (r = overlay_setup(o, next, &k, err, errlen)) < 0)
		overlay_free(o);
	backend_optset_free(&set);   /* k.file points into it */
	if (r < 0)
		return r;
	*handle = o;
	return 0;
}

static void overlay_close(void *handle)
{
	overlay_free(handle);
}

const struct backend_ops layer_overlay_ops = {
	.ops_size = sizeof(struct backend_ops),
	.name = "overlay",
	.thread_model = BACKEND_PARALLEL,
	.open_layer = overlay_open,
	.close = overlay_close,
	.can_write = overlay_yes,
	.can_flush = overlay_yes,
	.can_fua = overlay_yes,
	.can_trim = overlay_no,
	.pread = overlay_pread,
	.pwrite = overlay_pwrite,
	.flush = overlay_flush,
	.stats = overlay_stats,
};
