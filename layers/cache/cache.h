/* cache.h — the block cache layer's internals, shared by its files:
 *
 *   cache.c      the layer: options, pread/pwrite/trim, stats
 *   blocks.c     shards of block entries and their 2Q replacement
 *   readahead.c  sequential stream detection, window, prefetch threads
 *   estimate.c   RTT and throughput of the backend reads (the window cap)
 *   writeback.c  write=back: dirty blocks, their flushes and flusher
 *
 * Nothing here is seen outside layers/cache/.
 *
 * Blocks.  The image is cut into blocks of `bs` bytes (the last one may be
 * shorter).  Each cached block is one entry in one shard; the shard is
 * picked by a hash of the block number, so neighbouring blocks spread
 * over shards and concurrent readers rarely meet on a lock.
 *
 *   entry state    in the hash   holds data   on a list
 *   -----------    -----------   ----------   ---------------------------
 *   GHOST          yes           no           A1out (recently evicted)
 *   LOADING        yes           buffer       none: one loader fills it
 *   VALID          yes           yes          A1in (seen once) or Am (hot)
 *   DEAD           no            yes          none: freed at the last unpin
 *
 *        claim            install ok
 *   (absent|GHOST) ──▶ LOADING ──────────▶ VALID ──evict A1in──▶ GHOST
 *                         │                  │  ──evict Am────▶ (freed)
 *                         │ failed / stale   │ write while pinned,
 *                         ▼                  ▼ failed write, trim
 *                      (freed)             DEAD ──last unpin──▶ (freed)
 *
 * 2Q (Johnson & Shasha, VLDB '94, the "full" version): a block read for
 * the first time enters A1in, a FIFO of at most `kin` blocks; hits there
 * do not move it.  Evicted from A1in it leaves a key-only ghost on A1out
 * (at most `kout`); a block claimed while its ghost is on A1out was
 * wanted again after a while and goes to Am, an LRU of everything hot.
 * A whole-image sequential read only ever cycles A1in, so the hot set on
 * Am survives it.  One refinement: a hit on a block in the older half of
 * A1in (more than kin/2 blocks entered after it) also moves it to Am, so a
 * block re-read after a while is promoted before a scan can push it out;
 * hits soon after a block entered (the rest of one command, small reads
 * of one block, a prefetched block's first reader) are correlated and do
 * not count, as in 2Q's correlated reference period.
 *
 * Locks: each shard's `lock` guards its table, lists, counts and the
 * state/pins of its entries; a VALID entry's data is read outside the lock
 * by whoever holds a pin, and is only written while unpinned, under the
 * lock.  A LOADING entry's buffer belongs to its loader alone.  `wlock`
 * (cache.c) orders writes' start and end against each other; it is taken
 * before a shard lock, never after.  No lock is held across a backend
 * call, except write=back's flush_lock (writeback.c), which is taken
 * before all of these and serialises the writes of dirty blocks.
 */
#ifndef NS_CACHE_H
#define NS_CACHE_H

#include "backend.h"

#include <pthread.h>
#include <stdatomic.h>

enum cache_state { CE_GHOST, CE_LOADING, CE_VALID, CE_DEAD };
enum cache_list { CL_NONE, CL_A1IN, CL_AM, CL_A1OUT };

struct cache_entry {
	uint64_t blk;
	struct cache_entry *hnext;          /* hash chain */
	struct cache_entry *prev, *next;    /* list (head = newest) */
	unsigned char state, list;
	bool to_am;         /* claimed from a ghost: installs into Am */
	bool prefetched;    /* installed by read-ahead, not read yet */
	bool failed;        /* LOADING ended without data: waiters retry */
	unsigned pins;
	uint64_t wgen;      /* cache.wgen when claimed */
	uint64_t ins;       /* shard.ins when it entered A1in */
	unsigned char *data;
};

struct cache_list_head {
	struct cache_entry *head, *tail;
	size_t n;
};

/* Where block buffers come from (blocks.c): 2 MiB chunks carved into
 * blocks; freed blocks go on a list and back to the system only at close.
 * Filling 256 MiB of cache from nginx on loopback took 0.45-0.49 s this
 * way against 0.64-0.77 s with a malloc() per block (betool, 16 KiB
 * blocks, four runs each).  Asking for transparent huge pages
 * (MADV_HUGEPAGE) on the chunks made it slower (1.7-2.5 s: the kernel
 * compacts memory to find them), so they are plain pages.  Bounded by the
 * cache's capacity: buffers are only taken within it. */
struct cache_arena {
	pthread_mutex_t lock;               /* inside a shard lock */
	unsigned char *next;                /* the rest of the newest chunk */
	size_t left;
	unsigned char *free;                /* freed buffers, linked */
	void **chunks;
	size_t nchunks, chunks_cap;
	size_t bs;
};

struct cache_shard {
	pthread_mutex_t lock;
	pthread_cond_t loaded;              /* a LOADING entry ended */
	struct cache_entry **table;
	size_t mask;                        /* buckets - 1 */
	struct cache_list_head a1in, am, a1out;
	size_t loading;                     /* LOADING entries */
	size_t dead;                        /* DEAD entries (hold data) */
	size_t cap, kin, kout;              /* in blocks */
	uint64_t ins;                       /* blocks that entered A1in */
	unsigned char *spare;               /* one free data buffer */
	struct cache_arena *arena;
} __attribute__((aligned(64)));

/* RTT and throughput of backend reads (estimate.c). */
struct cache_est {
	pthread_mutex_t lock;
	unsigned inflight;
	uint64_t busy_since_ns, busy_ns;    /* time with >= 1 read in flight */
	uint64_t bytes;
	uint64_t snap_bytes, snap_busy_ns;
	unsigned samples;
	uint64_t rtt_min_ns, rtt_prev_min_ns;  /* min latency, this / last epoch */
	uint64_t bw;                        /* delivered, bytes/s, EWMA */
	uint64_t xfer_bw;                   /* transfer view, bytes/s, EWMA */
};

#define CACHE_RA_STREAMS 8
#define CACHE_RA_QUEUE 64
#define CACHE_RA_MAX_THREADS 16

struct cache_stream {
	uint64_t next_off;    /* where the stream's next read should start */
	uint64_t issued;      /* prefetch queued up to here */
	uint64_t used;        /* tick of the last read: the LRU stream goes */
	uint32_t window;      /* bytes kept prefetched ahead of next_off */
	unsigned seq;         /* reads that continued the stream */
};

struct cache_ra_job {
	uint64_t off;
	uint32_t len;
};

struct cache_ra {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct cache_stream streams[CACHE_RA_STREAMS];
	uint64_t tick;
	struct cache_ra_job q[CACHE_RA_QUEUE];
	unsigned qhead, qlen;
	unsigned running;                   /* jobs being read */
	bool stop;
	pthread_t threads[CACHE_RA_MAX_THREADS];
	unsigned nthreads;
	uint32_t min_window, max_window, chunk;
};

/* write=back (writeback.c, where its states and locks are described). */
struct cache_dirty;
struct cache_wb {
	bool on, thread_on, stop;
	pthread_mutex_t lock;               /* the table, list and entries */
	pthread_mutex_t flush_lock;         /* one write-down at a time */
	pthread_cond_t changed;             /* an entry filled or freed */
	pthread_cond_t tick;                /* wakes the flusher (stop) */
	struct cache_dirty **table;
	size_t mask;
	struct cache_dirty *oldest, *newest;
	size_t n, limit;                    /* dirty blocks, most allowed */
	uint64_t expire_ns;                 /* flush-seconds */
	pthread_t thread;
	atomic_uint_fast64_t epoch;         /* bumped when blocks are freed */
	atomic_uint_fast64_t writes, write_bytes, rmw_reads, full_waits;
	atomic_uint_fast64_t runs, written_bytes, errors, flushes;
	atomic_uint_fast64_t read_retries;
};

struct cache {
	struct backend *next;
	uint64_t size;                      /* of the image */
	uint32_t bs;                        /* block size, a power of two */
	unsigned bs_shift;
	uint64_t nblocks;
	size_t nblocks_cap;                 /* blocks the cache may hold */
	unsigned nshards;
	struct cache_shard *shards;
	struct cache_arena arena;

	/* Writes in flight and their generation (cache.c). */
	pthread_mutex_t wlock;
	atomic_uint_fast64_t wgen;
	atomic_uint writes_inflight;

	bool ra_on;
	struct cache_ra ra;
	struct cache_est est;
	struct cache_wb wb;

	/* Statistics, relaxed atomics. */
	atomic_uint_fast64_t hits, misses, waits, bypass, evictions;
	atomic_uint_fast64_t backend_reads, backend_bytes;
	atomic_uint_fast64_t ra_bytes, ra_hits, ra_wasted;
	atomic_uint in_flight;
};

/* ---- blocks.c ---------------------------------------------------------- */

/* Sets up nshards shards sharing cap_blocks blocks.  0 or BE_ENOMEM. */
int cache_blocks_init(struct cache *c, size_t cap_blocks);
void cache_blocks_fini(struct cache *c);

struct cache_shard *cache_shard_of(const struct cache *c, uint64_t blk);

enum cache_get_result {
	CACHE_HIT,      /* *e is VALID and pinned: copy, then cache_unpin() */
	CACHE_CLAIMED,  /* *e is LOADING and ours: fill, then cache_install() */
	CACHE_BUSY,     /* another caller is loading it (only when !wait) */
	CACHE_NOROOM,   /* absent and no buffer free: read around the cache */
};
/* Looks up blk.  wait: on a LOADING entry, sleep until it ends (then
 * look again), else return CACHE_BUSY.  A HIT on a prefetched block counts
 * it as a read-ahead hit. */
enum cache_get_result cache_get(struct cache *c, uint64_t blk, bool wait,
				struct cache_entry **e);
/* Looks up blk without waiting or claiming: true with *e VALID and
 * pinned (a HIT: copy, then cache_unpin()), false when it is not cached
 * (absent, loading or dead). */
bool cache_peek(struct cache *c, uint64_t blk, struct cache_entry **e);
/* Drops a pin taken by a HIT. */
void cache_unpin(struct cache *c, struct cache_entry *e);
/* Ends a claim: ok with the block's data in e->data makes it VALID (unless
 * a write raced the load: then it is dropped); !ok drops it.  Either way
 * waiters wake.  prefetched marks a read-ahead load. */
void cache_install(struct cache *c, struct cache_entry *e, bool ok,
		   bool prefetched);
/* After a write or trim of blocks [first, last]: data (the bytes written
 * at byte offset off, count bytes) is copied into the VALID, unpinned
 * entries when update; every other VALID entry of the range is dropped
 * (DEAD when pinned). */
void cache_written(struct cache *c, uint64_t first, uint64_t last,
		   const void *data, uint64_t off, uint32_t count, bool update);
/* Bytes of block data held (VALID, LOADING, DEAD) and ghosts. */
uint64_t cache_bytes(struct cache *c, uint64_t *ghosts);

/* Bytes in block blk (the last block of the image may be short). */
static inline uint32_t cache_blk_len(const struct cache *c, uint64_t blk)
{
	uint64_t start = blk << c->bs_shift;

	return c->size - start < c->bs ? (uint32_t)(c->size - start) : c->bs;
}

/* ---- cache.c ------------------------------------------------------------ */

/* The backend's view of [off, off+count) through the cache (what a
 * write-through cache serves; write=back lays its dirty blocks over it). */
int cache_read(struct cache *c, void *buf, uint32_t count, uint64_t off);
/* Around every write or trim below: begin returns its generation; end
 * updates the blocks it covers with buf when ok and no other write
 * overlapped it in time, else drops them. */
uint64_t cache_write_begin(struct cache *c);
void cache_write_end(struct cache *c, uint64_t g, const void *buf,
		     uint64_t off, uint32_t count, bool ok);

/* Reads the missing blocks of [off, off+len) into the cache without
 * waiting on blocks someone else is loading (read-ahead); tmp holds at
 * least len + 2 blocks.  Returns 0 or the first backend error. */
int cache_prefetch(struct cache *c, void *tmp, uint64_t off, uint32_t len);

/* ---- readahead.c -------------------------------------------------------- */

/* Starts nthreads prefetch threads.  0 or BE_ENOMEM. */
int cache_ra_init(struct cache *c, unsigned nthreads, uint32_t max_window);
/* Stops and joins them; queued jobs are dropped. */
void cache_ra_fini(struct cache *c);
/* A host read of [off, off+count): follows or starts a stream and queues
 * prefetch ahead of it.  Never waits on I/O. */
void cache_ra_note(struct cache *c, uint64_t off, uint32_t count);
/* The largest window of a live stream, and the number of live streams. */
uint32_t cache_ra_window(struct cache *c, unsigned *streams);

/* ---- writeback.c -------------------------------------------------------- */

/* Sets write=back up: at most dirty_mib of dirty blocks, written down
 * after expire_s seconds by a thread (none when 0).  0 or BE_ENOMEM. */
int cache_wb_init(struct cache *c, unsigned dirty_mib, unsigned expire_s);
/* Stops the thread, writes what is dirty down (logging what cannot be)
 * and frees it.  Nothing may be in flight. */
void cache_wb_fini(struct cache *c);
/* The host's write: into dirty blocks (FUA: written down and flushed
 * before returning).  0 or a backend error. */
int cache_wb_write(struct cache *c, const void *buf, uint32_t count,
		   uint64_t off, uint32_t flags);
/* The host's read: the backend's view with the dirty blocks over it. */
int cache_wb_read(struct cache *c, void *buf, uint32_t count, uint64_t off);
/* For try_pread: lays the dirty blocks over buf unless blocks were freed
 * since epoch (then false: read with cache_wb_read). */
bool cache_wb_overlay_try(struct cache *c, void *buf, uint32_t count,
			  uint64_t off, uint64_t epoch);
int cache_wb_trim(struct cache *c, uint32_t count, uint64_t off);
/* Writes every dirty block down (flush_below: then flushes the backend:
 * SYNCHRONIZE CACHE).  0 or the first error; what failed stays dirty. */
int cache_wb_writeback(struct cache *c, bool flush_below);
int cache_wb_writeback_range(struct cache *c, uint64_t first, uint64_t last);
uint64_t cache_wb_dirty_bytes(struct cache *c);

/* ---- estimate.c --------------------------------------------------------- */

void cache_est_init(struct cache_est *e);
void cache_est_fini(struct cache_est *e);
/* Around every backend read: begin returns the start time. */
uint64_t cache_est_begin(struct cache_est *e);
void cache_est_end(struct cache_est *e, uint64_t start_ns, uint32_t bytes);
/* The estimates: RTT in ns (0 unknown), throughput in bytes/s (0
 * unknown). */
void cache_est_get(struct cache_est *e, uint64_t *rtt_ns, uint64_t *bw);
uint64_t cache_now_ns(void);

#endif
