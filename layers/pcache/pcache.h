/* pcache.h — internals of the persistent disk cache layer, shared by
 * store.c (the directory, the on-disk format, eviction) and pcache.c (the
 * layer: reads, in-flight de-duplication, write-through).  Tests include
 * it for the format and the statistics; nothing else should.
 *
 * A cache directory holds one pair of files per image identity
 * (backend_identity()), named by a 128-bit xxHash of it:
 *
 *   DIR/LOCK            flock()ed by the process that uses the directory
 *   DIR/<32 hex>.data   sparse: block i at offset i * block_size
 *   DIR/<32 hex>.map    header page, then one 16-byte entry per block
 *
 *   .map  offset 0     struct pcache_header (one 4096-byte page, checked
 *                      by an xxHash of the page with `check` zeroed)
 *         4096 + 16*i  struct pcache_entry of block i (all zero = absent)
 *
 * Crash safety is by per-block checksums, not by ordering with fsync: a
 * block is served from the data file only when the XXH3-64 of its bytes
 * (seeded with the image's salt and the block number) is the one in its
 * entry, and an entry counts only when its own check matches.  So
 * whatever a crash or a power cut leaves behind (an entry without its
 * data, data without its entry, a torn entry, a block half written, the
 * kernel having written the pages in any order), a block either verifies
 * or is fetched again.  Fills therefore need no fsync on the hot path (an
 * SD card pays dearly for each); the data file is written before the
 * entry only so that a crash seldom wastes a fetched block.  The one
 * place ordering matters is write-through (pcache.c): invalidated entries
 * are made durable before the write goes down.
 *
 * Locks: pcache_registry_lock (store.c) > store->lock > image->lock.  No
 * lock is held across a call to next.  I/O on the cache's own files under
 * store->lock only for evictions (a 16-byte entry write and a hole punch).
 */
#ifndef NS_PCACHE_H
#define NS_PCACHE_H

#include "backend.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define PCACHE_MAGIC "NSPCACHE"
#define PCACHE_VERSION 1
#define PCACHE_BYTE_ORDER 0x01020304u
#define PCACHE_PAGE 4096
#define PCACHE_ENTRY 16

struct pcache_header {
	char magic[8];              /* PCACHE_MAGIC, no NUL */
	uint32_t version;           /* PCACHE_VERSION */
	uint32_t byte_order;        /* PCACHE_BYTE_ORDER as written */
	uint32_t block_size;        /* bytes */
	uint32_t id_len;            /* bytes of identity, no NUL */
	uint64_t image_size;        /* bytes */
	uint64_t last_used;         /* seconds since the epoch */
	uint64_t check;             /* XXH3-64 of the page, check = 0 */
	char identity[BACKEND_IDENTITY_MAX];
};

struct pcache_entry {
	uint64_t hash;              /* XXH3-64 of the block, seed salt ^ i */
	uint32_t index;             /* the block number, again */
	uint32_t check;             /* XXH3-64(hash, index; seed salt), low */
};

/* Per-block state (in memory; the entry on disk mirrors PRESENT):
 *
 *   ABSENT ──claimed by a reader──▶ FETCHING ──stored──▶ PRESENT
 *      ▲                               │                    │
 *      └──── fetch failed / write ─────┘◀─ evicted, bad ────┘
 *
 * REF is the CLOCK reference bit, set by hits, cleared by the hand. */
enum {
	PCACHE_ABSENT = 0,
	PCACHE_PRESENT = 1,
	PCACHE_FETCHING = 2,
	PCACHE_STATE = 3,           /* mask of the two above */
	PCACHE_REF = 4,
};

struct pcache_store;

/* One identity in the directory: known from its header (closed) or open
 * by one or more layer instances (st != NULL).  All fields under
 * store->lock unless said otherwise. */
struct pcache_image {
	struct pcache_store *store;
	struct pcache_image *next;  /* the store's list */
	char name[33];              /* 32 hex digits */
	char *identity;             /* heap; first line names the object */
	uint64_t size;              /* image bytes */
	uint64_t last_used;         /* seconds, for eviction of closed ones */
	uint64_t bytes;             /* cached data bytes counted in store */
	unsigned refs;              /* open instances */
	bool stale;                 /* delete when the last instance closes */
	uint64_t salt;              /* XXH3-64 of the identity */

	/* Open images only (refs > 0): */
	int data_fd, map_fd;
	uint64_t nblocks;
	pthread_mutex_t lock;       /* protects st, hash, wgen, writers */
	pthread_cond_t cond;        /* a FETCHING block changed state */
	uint8_t *st;                /* per-block state, above */
	uint64_t *hash;             /* per-block expected hash if PRESENT */
	uint64_t wgen;              /* moves on each write-through */
	unsigned writers;           /* write-throughs in flight */
	atomic_bool changed;        /* next said BE_ECHANGED */
	bool filling;               /* sequential media: a filler runs */
	atomic_int fill_err;        /* why the last filler gave up, or 0 */
};

/* One directory, shared by every instance in the process that names it. */
struct pcache_store {
	struct pcache_store *next;  /* the registry's list */
	char *dir;                  /* realpath */
	int lock_fd;                /* DIR/LOCK, flock()ed */
	unsigned refs;
	uint64_t limit;             /* bytes of cached data */
	uint32_t block_size;
	pthread_mutex_t lock;
	uint64_t used;              /* bytes of cached data, all images */
	struct pcache_image *images;
	struct pcache_image *hand_img;   /* CLOCK hand: image and block */
	uint64_t hand_blk;
	/* Counters for tests and status. */
	atomic_uint_fast64_t evicted_blocks, evicted_images, bad_blocks;
};

/* ---- store.c -------------------------------------------------------- */

/* Opens (or shares) the store for dir with these settings; a second
 * opener must give the same block size and limit.  NULL with err set. */
struct pcache_store *pcache_store_open(const char *dir, uint64_t limit,
				       uint32_t block_size, char *err,
				       size_t errlen);
void pcache_store_close(struct pcache_store *s);

/* Opens (or shares) the image for identity of size bytes: loads the
 * entries that verify, or starts empty; an image of the same object
 * (same first line) with another identity is stale and goes.  NULL with
 * err set. */
struct pcache_image *pcache_image_open(struct pcache_store *s,
				       const char *identity, uint64_t size,
				       char *err, size_t errlen);
/* Drops one instance's reference; the last one writes last_used (or
 * deletes the files of a stale image). */
void pcache_image_close(struct pcache_image *im);

/* Reserves room for n more bytes of cached data, evicting (closed images
 * least recently used first, then blocks of open images by CLOCK, never
 * a FETCHING block).  Returns 0, or -1 when nothing more can go. */
int pcache_reserve(struct pcache_store *s, uint64_t n);
/* Gives back a reservation that was not used. */
void pcache_unreserve(struct pcache_store *s, uint64_t n);

/* Block geometry. */
uint32_t pcache_block_len(const struct pcache_image *im, uint64_t b);
uint64_t pcache_block_hash(const struct pcache_image *im, uint64_t b,
			   const void *data, uint32_t len);

/* Writes the entries of blocks [b, b+n) (hash[] valid, or NULL: absent)
 * with one pwrite.  0 or -1. */
int pcache_write_entries(struct pcache_image *im, uint64_t b, uint64_t n,
			 const uint64_t *hash);
/* Decodes an entry: true and *hash when it is valid for block b. */
bool pcache_entry_valid(const struct pcache_image *im, uint64_t b,
			const struct pcache_entry *e, uint64_t *hash);
/* Drops block b (PRESENT): state ABSENT, entry cleared, hole punched,
 * bytes given back.  store->lock and im->lock held. */
void pcache_drop_block(struct pcache_image *im, uint64_t b);

/* ---- pcache.c ------------------------------------------------------- */

/* One layer instance. */
struct pcache_layer {
	struct backend *next;
	struct pcache_store *store;
	struct pcache_image *im;
	atomic_uint_fast64_t hits, misses, bytes_next;
	atomic_bool warned_store;
	/* Sequential media (fill.c). */
	bool sequential;            /* next reads only in order */
	atomic_bool seq_ready;      /* the first blocks are in */
	atomic_bool stop;           /* closing: the filler ends */
	pthread_mutex_t fill_lock;  /* starting and joining the filler */
	pthread_t filler;
	bool filler_live;           /* under fill_lock */
};

/* One read in progress: block b of the image is first + i. */
struct pcache_call {
	struct pcache_layer *pl;
	char *buf;
	uint64_t off;
	uint32_t count;
	uint64_t first;
	uint64_t nb;
	uint8_t *todo;     /* 1 until block i's part of buf is filled */
	uint8_t *cls;      /* this pass: HIT, MINE, WAIT, or 0 */
};

enum { PC_NONE, PC_HIT, PC_MINE, PC_WAIT };

/* Classifies the blocks still to do: PRESENT ones HIT, FETCHING ones
 * WAIT, ABSENT ones claimed (MINE) or, without claim, WAIT.  false when a
 * write-through is in flight. */
bool pcache_classify(struct pcache_call *c, uint64_t *wgen, bool claim);
/* Stores run [i, j) of fetched data (block i at data) if there is room
 * and no write raced; ends the claims either way. */
void pcache_keep_run(struct pcache_call *c, uint64_t i, uint64_t j,
		     const char *data, uint64_t wgen);
/* Serves every HIT block from the data file (bad ones are dropped and
 * stay to do).  0 or BE_ENOMEM. */
int pcache_serve_hits(struct pcache_call *c);

/* ---- fill.c: sequential media ---------------------------------------- */

/* At open: starts the filler unless everything is cached already. */
void pcache_fill_begin(struct pcache_layer *pl);
/* Starts a filler for the image unless one runs (any instance's). */
void pcache_fill_start(struct pcache_layer *pl);
/* Stops and joins this instance's filler. */
void pcache_fill_stop(struct pcache_layer *pl);
/* A read of sequential media: hits, and waits (bounded) for the filler. */
int pcache_seq_read(struct pcache_call *c);

/* Statistics of one layer instance (tests, status). */
struct pcache_stats {
	uint64_t hits, misses;      /* blocks */
	uint64_t bytes_next;        /* bytes read from next */
	uint64_t used, limit;       /* store bytes */
	uint64_t image_bytes;       /* cached bytes of this image */
};
void pcache_get_stats(struct backend *be, struct pcache_stats *out);

#endif
