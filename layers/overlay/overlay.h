/* overlay.h — the copy-on-write overlay's internals, shared by its files:
 *
 *   overlay.c  the layer: options, read merge, write, flush, stats
 *   store.c    where overlay blocks live: memory or a sparse file, the
 *              presence bitmap, and the map file that keeps it
 *
 * Nothing here is seen outside layers/overlay/.
 *
 * The image is cut into blocks of `bs` bytes.  A block is either absent
 * (its bytes are the layer below's) or present (its bytes are in the
 * store, the whole block: a write of part of an absent block first reads
 * the rest from below).  Blocks only ever become present while the
 * overlay is open; nothing is written below.
 *
 *   presence bitmap   1 bit a block, always in memory
 *   memory store      a two-level table: dir[blk >> 10][blk & 1023] -> data
 *   file store        block blk at byte blk * bs of a sparse file; the
 *                     bitmap goes to PATH.map (keep=1) after the data is
 *                     synced, by write-temp-then-rename, so a crash leaves
 *                     the last complete map
 *
 * Locks: `lock` (a rwlock) guards the bitmap, the table and the store's
 * bytes: readers take it shared to copy present blocks, writers
 * exclusively to store them.  Reads from below happen outside it.
 */
#ifndef NS_OVERLAY_H
#define NS_OVERLAY_H

#include "backend.h"

#include <pthread.h>
#include <stdatomic.h>

#define OVERLAY_DIR_SHIFT 10

struct overlay {
	struct backend *next;
	uint64_t size;
	uint32_t bs;
	unsigned shift;
	uint64_t nblocks;
	uint64_t limit;            /* most present blocks */

	pthread_rwlock_t lock;
	uint64_t *bits;            /* presence, nblocks bits */
	uint64_t present;          /* blocks present */
	unsigned char ***dir;      /* memory store; NULL for a file */
	int fd;                    /* file store, or -1 */
	char *path;                /* file store's path */
	bool keep;                 /* keep the file and its map at close */
	bool map_dirty;            /* blocks added since the map was saved */

	atomic_uint_fast64_t writes, write_bytes, rmw_reads, full_errors;
	atomic_uint_fast64_t read_overlay_bytes, read_below_bytes;
};

static inline bool overlay_has(const struct overlay *o, uint64_t blk)
{
	return o->bits[blk >> 6] >> (blk & 63) & 1;
}

/* ---- store.c ------------------------------------------------------------ */

/* Opens the store: memory when path is NULL, else the file at path
 * (reusing it and its map when keep and they match this image, else
 * starting empty).  Returns 0, BE_ENOMEM, or BE_EOPEN with a message. */
int overlay_store_open(struct overlay *o, const char *path, bool keep,
		       char *err, size_t errlen);
/* Saves the map (keep) and closes; a memory store or keep=0 is gone. */
void overlay_store_close(struct overlay *o);
/* Under the write lock: stores the whole block blk (bs bytes, the last
 * block's tail beyond the image is ignored) and marks it present.
 * 0, BE_ENOMEM or BE_EIO_WRITE. */
int overlay_store_put(struct overlay *o, uint64_t blk, const void *data);
/* Under the write lock: changes bytes [at, at+len) of present block blk. */
int overlay_store_patch(struct overlay *o, uint64_t blk, uint32_t at,
			const void *data, uint32_t len);
/* Under the read lock: bytes [at, at+len) of present block blk. */
int overlay_store_get(struct overlay *o, uint64_t blk, uint32_t at,
		      void *buf, uint32_t len);
/* Makes everything stored durable (file: fdatasync, then the map when
 * keep).  0 or BE_EIO_WRITE. */
int overlay_store_sync(struct overlay *o);

#endif
