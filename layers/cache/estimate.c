/* estimate.c — what the link below delivers, measured on the backend
 * reads the cache makes (host misses and prefetches alike):
 *
 *   RTT         the smallest latency of one read over the last two epochs
 *               of 64 reads: a read costs RTT + bytes / throughput, and
 *               the quickest recent one is the best view of the RTT alone
 *               (the min-filter of TCP BBR); two epochs let it rise again
 *               when the path gets slower.
 *   throughput  the larger of two views, each smoothed (EWMA, 1/4 weight
 *               to the new sample):
 *               - delivered: bytes per second of "busy" time (at least
 *                 one read in flight), sampled every 64 reads.  A floor:
 *                 it is bounded by what was asked.
 *               - transfer: a read of n bytes takes RTT + n / rate, so a
 *                 read of 64 KiB or more that took t gives n / (t - RTT)
 *                 for its share of the link, times the reads in flight
 *                 with it (they share the link).  This one sees the
 *                 link's capacity even while the window is still small;
 *                 a link with no transfer time to speak of (t - RTT
 *                 under 1/16 of RTT) counts as 16 n / RTT a read.
 *
 * The read-ahead window is capped at twice their product, the
 * bandwidth-delay product: enough bytes in flight to keep the link full
 * through one round trip with margin.
 *
 * Threads: one short mutex; never blocks otherwise.
 */
#include "cache.h"

#include <time.h>

#define CACHE_EST_EPOCH 64

uint64_t cache_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cache_est_init(struct cache_est *e)
{
	*e = (struct cache_est){ .rtt_min_ns = UINT64_MAX,
				 .rtt_prev_min_ns = UINT64_MAX };
	pthread_mutex_init(&e->lock, NULL);
}

void cache_est_fini(struct cache_est *e)
{
	pthread_mutex_destroy(&e->lock);
}

uint64_t cache_est_begin(struct cache_est *e)
{
	uint64_t now = cache_now_ns();

	pthread_mutex_lock(&e->lock);
	if (e->inflight++ == 0)
		e->busy_since_ns = now;
	pthread_mutex_unlock(&e->lock);
	return now;
}

/* Every epoch: a throughput sample, and the RTT filter moves on. */
static void cache_est_epoch(struct cache_est *e, uint64_t busy)
{
	uint64_t db = e->bytes - e->snap_bytes;
	uint64_t dt = busy - e->snap_busy_ns;

	if (dt > 0) {
		uint64_t sample = (uint64_t)((double)db * 1e9 / (double)dt);
		e->bw = e->bw ? (3 * e->bw + sample) / 4 : sample;
	}
	e->snap_bytes = e->bytes;
	e->snap_busy_ns = busy;
	e->rtt_prev_min_ns = e->rtt_min_ns;
	e->rtt_min_ns = UINT64_MAX;
	e->samples = 0;
}

/* The transfer view of one read of n bytes that took lat with k reads in
 * flight. */
static void cache_est_transfer(struct cache_est *e, uint64_t lat, uint32_t n,
			       unsigned k)
{
	uint64_t rtt = e->rtt_min_ns < e->rtt_prev_min_ns ? e->rtt_min_ns
							  : e->rtt_prev_min_ns;
	uint64_t xfer, sample;

	if (n < 65536 || rtt == UINT64_MAX || !rtt)
		return;
	xfer = lat > rtt ? lat - rtt : 0;
	if (xfer < rtt / 16)
		xfer = rtt / 16;
	if (!xfer)
		return;
	sample = (uint64_t)((double)n * 1e9 / (double)xfer) * k;
	e->xfer_bw = e->xfer_bw ? (3 * e->xfer_bw + sample) / 4 : sample;
}

void cache_est_end(struct cache_est *e, uint64_t start_ns, uint32_t bytes)
{
	uint64_t now = cache_now_ns(), lat = now - start_ns, busy;

	pthread_mutex_lock(&e->lock);
	if (bytes)
		cache_est_transfer(e, lat, bytes, e->inflight);
	if (--e->inflight == 0)
		e->busy_ns += now - e->busy_since_ns;
	busy = e->busy_ns + (e->inflight ? now - e->busy_since_ns : 0);
	e->bytes += bytes;
	if (lat < e->rtt_min_ns)
		e->rtt_min_ns = lat;
	if (++e->samples >= CACHE_EST_EPOCH)
		cache_est_epoch(e, busy);
	pthread_mutex_unlock(&e->lock);
}

void cache_est_get(struct cache_est *e, uint64_t *rtt_ns, uint64_t *bw)
{
	uint64_t r;

	pthread_mutex_lock(&e->lock);
	r = e->rtt_min_ns < e->rtt_prev_min_ns ? e->rtt_min_ns
					       : e->rtt_prev_min_ns;
	*rtt_ns = r == UINT64_MAX ? 0 : r;
	*bw = e->bw;
	/* Before the first epoch: what the reads so far delivered. */
	if (!*bw && e->busy_ns > 0 && e->samples >= 4)
		*bw = (uint64_t)((double)e->bytes * 1e9 / (double)e->busy_ns);
	if (e->xfer_bw > *bw)
		*bw = e->xfer_bw;
	pthread_mutex_unlock(&e->lock);
}
