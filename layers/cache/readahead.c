/* readahead.c — adaptive read-ahead for the block cache.
 *
 * Streams.  Up to CACHE_RA_STREAMS sequential streams are followed at once
 * (a file system reading several files, a host with several readers).  A
 * host read continues a stream when it starts within one read's length
 * of where the stream's last read ended, before or after: the media I/O
 * workers hand in the segments of one command out of order, and a reader
 * may skip a little; otherwise it starts a new stream in the least
 * recently used slot.  A stream's life:
 *
 *     new (seq 0) ─follows─▶ seq 1 ─follows─▶ sequential (seq >= 2):
 *       window = max(min_window, 2 x read), then doubled on every
 *       following read, up to cap; prefetch from here on
 *     no read follows: replaced by newer streams (random reads hardly
 *       ever follow each other twice, so they do not prefetch)
 *
 * cap = clamp(2 x RTT x throughput, min_window, max_window), measured on
 * the backend reads (estimate.c); max_window is the ra-max-mib option,
 * at most an eighth of the cache (half of 2Q's A1in, where prefetched
 * blocks wait for their reader: a larger window would evict its own
 * prefetches before they are read).
 *
 * Prefetch.  When less than half the window is left ahead of the reader,
 * the bytes from `issued` to next_off + window are queued as jobs of at
 * most `chunk` bytes; `nthreads` threads of the layer take them and
 * read the missing blocks (cache_prefetch: blocks cached or in flight are
 * skipped, and a host read of a block being prefetched waits for that
 * read, blocks.c).  The host's read only queues: it never waits for a
 * prefetch it does not need.  A full queue drops the rest; the next read
 * of the stream queues it again.
 *
 * Threads: `lock` guards the streams and the queue; taken briefly by
 * host reads (cache_ra_note) and the threads; lock order ra.lock ->
 * est.lock.
 */
#include "cache.h"

#include <stdlib.h>

static uint32_t cache_ra_cap(struct cache *c)
{
	struct cache_ra *ra = &c->ra;
	uint64_t rtt, bw, bdp;

	cache_est_get(&c->est, &rtt, &bw);
	if (!bw || !rtt)
		return ra->min_window * 4 < ra->max_window ? ra->min_window * 4
							   : ra->max_window;
	bdp = (uint64_t)((double)bw * (double)rtt / 1e9) * 2;
	if (bdp < ra->min_window)
		return ra->min_window;
	return bdp > ra->max_window ? ra->max_window : (uint32_t)bdp;
}

/* The stream that [off, off+count) continues, or NULL. */
static struct cache_stream *cache_ra_match(struct cache_ra *ra, uint64_t off,
					   uint32_t count)
{
	for (unsigned i = 0; i < CACHE_RA_STREAMS; i++) {
		struct cache_stream *s = &ra->streams[i];
		uint64_t slack = count;

		if (s->used && off <= s->next_off + slack &&
		    off + count + slack >= s->next_off)
			return s;
	}
	return NULL;
}

static struct cache_stream *cache_ra_lru(struct cache_ra *ra)
{
	struct cache_stream *old = &ra->streams[0];

	for (unsigned i = 1; i < CACHE_RA_STREAMS; i++)
		if (ra->streams[i].used < old->used)
			old = &ra->streams[i];
	return old;
}

/* Queues [s->issued, s->next_off + s->window) in chunks, once less than
 * half the window is left ahead of the reader (as Linux's asynchronous
 * read-ahead marker does): prefetches go out in batches of at least half
 * a window, never one host read's worth at a time, so each backend read
 * is large and the throughput measured on them is the link's, not that of
 * small requests.  Returns whether anything was queued. */
static bool cache_ra_queue(struct cache *c, struct cache_stream *s)
{
	struct cache_ra *ra = &c->ra;
	uint64_t want = s->next_off + s->window;
	bool any = false;

	if (want > c->size)
		want = c->size;
	if (s->issued > s->next_off && s->issued - s->next_off >= s->window / 2)
		return false;
	while (s->issued < want && ra->qlen < CACHE_RA_QUEUE) {
		uint64_t len = want - s->issued;
		struct cache_ra_job *j;

		if (len > ra->chunk)
			len = ra->chunk;
		j = &ra->q[(ra->qhead + ra->qlen++) % CACHE_RA_QUEUE];
		j->off = s->issued;
		j->len = (uint32_t)len;
		s->issued += len;
		any = true;
	}
	return any;
}

void cache_ra_note(struct cache *c, uint64_t off, uint32_t count)
{
	struct cache_ra *ra = &c->ra;
	struct cache_stream *s;
	bool queued = false;

	pthread_mutex_lock(&ra->lock);
	ra->tick++;
	if (!(s = cache_ra_match(ra, off, count))) {
		s = cache_ra_lru(ra);
		*s = (struct cache_stream){ .next_off = off + count,
					    .issued = off + count };
	} else {
		uint32_t cap = cache_ra_cap(c);

		if (off + count > s->next_off)
			s->next_off = off + count;
		if (s->issued < s->next_off)
			s->issued = s->next_off;
		if (++s->seq < 2)
			goto out;
		if (!s->window)
			s->window = count * 2 > ra->min_window ? count * 2
							       : ra->min_window;
		else
			s->window = s->window * 2;
		if (s->window > cap)
			s->window = cap;
		queued = cache_ra_queue(c, s);
	}
out:
	s->used = ra->tick;
	if (queued)
		pthread_cond_broadcast(&ra->work);
	pthread_mutex_unlock(&ra->lock);
}

uint32_t cache_ra_window(struct cache *c, unsigned *streams)
{
	struct cache_ra *ra = &c->ra;
	uint32_t w = 0;
	unsigned n = 0;

	pthread_mutex_lock(&ra->lock);
	for (unsigned i = 0; i < CACHE_RA_STREAMS; i++) {
		const struct cache_stream *s = &ra->streams[i];

		/* Live: sequential, and among the last 64 reads. */
		if (s->seq >= 2 && ra->tick - s->used < 64) {
			n++;
			if (s->window > w)
				w = s->window;
		}
	}
	pthread_mutex_unlock(&ra->lock);
	*streams = n;
	return w;
}

static void *cache_ra_thread(void *arg)
{
	struct cache *c = arg;
	struct cache_ra *ra = &c->ra;
	void *tmp = malloc((size_t)ra->chunk + 2 * (size_t)c->bs);

	pthread_mutex_lock(&ra->lock);
	while (!ra->stop) {
		struct cache_ra_job j;

		if (!ra->qlen) {
			pthread_cond_wait(&ra->work, &ra->lock);
			continue;
		}
		j = ra->q[ra->qhead];
		ra->qhead = (ra->qhead + 1) % CACHE_RA_QUEUE;
		ra->qlen--;
		ra->running++;
		pthread_mutex_unlock(&ra->lock);
		if (tmp)
			(void)cache_prefetch(c, tmp, j.off, j.len);
		pthread_mutex_lock(&ra->lock);
		ra->running--;
	}
	pthread_mutex_unlock(&ra->lock);
	free(tmp);
	return NULL;
}

int cache_ra_init(struct cache *c, unsigned nthreads, uint32_t max_window)
{
	struct cache_ra *ra = &c->ra;
	uint64_t eighth = ((uint64_t)c->nblocks_cap << c->bs_shift) / 8;

	ra->min_window = c->bs > (256u << 10) ? c->bs : 256u << 10;
	ra->chunk = c->bs > (1u << 20) ? c->bs : 1u << 20;
	ra->max_window = max_window;
	if (ra->max_window > eighth)
		ra->max_window = (uint32_t)eighth;
	if (ra->max_window < ra->min_window)
		ra->max_window = ra->min_window;
	pthread_mutex_init(&ra->lock, NULL);
	pthread_cond_init(&ra->work, NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&ra->threads[i], NULL, cache_ra_thread, c)) {
			cache_ra_fini(c);
			return BE_ENOMEM;
		}
		ra->nthreads++;
	}
	return 0;
}

void cache_ra_fini(struct cache *c)
{
	struct cache_ra *ra = &c->ra;

	pthread_mutex_lock(&ra->lock);
	ra->stop = true;
	pthread_cond_broadcast(&ra->work);
	pthread_mutex_unlock(&ra->lock);
	for (unsigned i = 0; i < ra->nthreads; i++)
		pthread_join(ra->threads[i], NULL);
	ra->nthreads = 0;
	pthread_mutex_destroy(&ra->lock);
	pthread_cond_destroy(&ra->work);
}
