/* fill.c — the persistent cache over media that reads only in order
 * (backend_sequential(): an HTTP server without Range support under
 * no-range=download).
 *
 * A filler thread reads the media from offset 0 to the end, one chunk
 * after another, and stores every block that is not cached yet; one
 * filler per image at a time, whichever instance started it.  Host reads
 * are served from what has arrived:
 *
 *   ready()   BE_ERETRY (NOT READY, BECOMING READY 02/04/01) until the
 *             first chunk is in, then next's
 *   read      hits as usual; a block not in yet is waited for, at most
 *             PCACHE_SEQ_WAIT_MS, then BE_ERETRY (the host retries)
 *
 * A block that is missing while no filler runs (the last one ended, or
 * evicted the block again in a cache smaller than the image) starts a
 * new filler, which downloads from 0 again, storing only what is
 * missing.  An image already whole in the cache starts none: nothing is
 * downloaded.
 *
 * Threads: the filler runs next's reads (the only caller of next, so
 * they are in order) and stores like a miss does (pcache_keep_run);
 * im->filling and the waits are under im->lock, im->cond.
 */
#include "pcache.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PCACHE_FILL_CHUNK (1u << 20)
#define PCACHE_SEQ_WAIT_MS 3000     /* UEFI gives a command 5 s */
#define PCACHE_FILL_RETRIES 150     /* BE_ERETRY in a row: a stalled server */

static bool pcache_whole(struct pcache_layer *pl)
{
	struct pcache_store *s = pl->store;
	bool whole;

	pthread_mutex_lock(&s->lock);
	whole = pl->im->bytes >= pl->im->size;
	pthread_mutex_unlock(&s->lock);
	return whole;
}

/* Stores the blocks of [off, off+n) (in data) that are still absent. */
static void pcache_fill_store(struct pcache_layer *pl, const char *data,
			      uint32_t n, uint64_t off)
{
	uint32_t bs = pl->store->block_size;
	uint64_t nb = (n + bs - 1) / bs;
	uint8_t *todo = malloc(2 * nb);
	struct pcache_call c = { .pl = pl, .off = off, .count = n,
				 .first = off / bs, .nb = nb, .todo = todo };
	uint64_t wgen;

	if (!todo)
		return;
	c.cls = todo + nb;
	memset(todo, 1, nb);
	pcache_classify(&c, &wgen, true);
	for (uint64_t i = 0; i < nb; i++) {
		uint64_t j = i;
		if (c.cls[i] != PC_MINE)
			continue;
		while (j < nb && c.cls[j] == PC_MINE)
			j++;
		pcache_keep_run(&c, i, j, data + i * bs, wgen);
		atomic_fetch_add(&pl->misses, j - i);
		i = j - 1;
	}
	atomic_fetch_add(&pl->bytes_next, n);
	free(todo);
}

/* One chunk from next, retrying while it has not arrived; 0 or error. */
static int pcache_fill_read(struct pcache_layer *pl, char *buf, uint32_t n,
			    uint64_t off)
{
	int r = BE_ERETRY;

	for (unsigned i = 0; i < PCACHE_FILL_RETRIES && r == BE_ERETRY &&
	     !atomic_load(&pl->stop); i++) {
		r = backend_pread(pl->next, buf, n, off);
		if (r == BE_ERETRY)
			usleep(100 * 1000);
	}
	return r;
}

static void pcache_fill_run(struct pcache_layer *pl, char *buf)
{
	struct pcache_image *im = pl->im;
	uint32_t bs = pl->store->block_size;
	uint32_t chunk = PCACHE_FILL_CHUNK < bs ? bs : PCACHE_FILL_CHUNK / bs * bs;
	int r = 0;

	for (uint64_t off = 0; off < im->size && !atomic_load(&pl->stop);
	     off += chunk) {
		uint32_t n = im->size - off < chunk ? (uint32_t)(im->size - off)
						    : chunk;
		if (pcache_whole(pl))
			break;
		if ((r = pcache_fill_read(pl, buf, n, off)) < 0)
			break;
		pcache_fill_store(pl, buf, n, off);
		atomic_store(&pl->seq_ready, true);
	}
	if (r < 0 && !atomic_load(&pl->stop)) {
		log_warnx("pcache: %s: %s: download failed: %s",
			  pl->store->dir, im->name, backend_strerror(r));
		atomic_store(&im->fill_err, r == BE_ERETRY ? BE_EIO_READ : r);
		if (r == BE_ECHANGED)
			atomic_store(&im->changed, true);
	}
}

static void *pcache_fill_thread(void *arg)
{
	struct pcache_layer *pl = arg;
	struct pcache_image *im = pl->im;
	char *buf = malloc(PCACHE_FILL_CHUNK > pl->store->block_size ?
			   PCACHE_FILL_CHUNK : pl->store->block_size);

	if (buf)
		pcache_fill_run(pl, buf);
	free(buf);
	pthread_mutex_lock(&im->lock);
	im->filling = false;
	pthread_cond_broadcast(&im->cond);
	pthread_mutex_unlock(&im->lock);
	return NULL;
}

void pcache_fill_start(struct pcache_layer *pl)
{
	struct pcache_image *im = pl->im;

	if (atomic_load(&pl->stop))
		return;
	pthread_mutex_lock(&im->lock);
	if (im->filling) {
		pthread_mutex_unlock(&im->lock);
		return;
	}
	im->filling = true;
	atomic_store(&im->fill_err, 0);
	pthread_mutex_unlock(&im->lock);
	pthread_mutex_lock(&pl->fill_lock);
	if (pl->filler_live)           /* ended: it cleared filling */
		pthread_join(pl->filler, NULL);
	pl->filler_live = pthread_create(&pl->filler, NULL,
					 pcache_fill_thread, pl) == 0;
	pthread_mutex_unlock(&pl->fill_lock);
	if (!pl->filler_live) {
		pthread_mutex_lock(&im->lock);
		im->filling = false;
		pthread_mutex_unlock(&im->lock);
	}
}

void pcache_fill_begin(struct pcache_layer *pl)
{
	pl->sequential = true;
	if (pcache_whole(pl)) {
		atomic_store(&pl->seq_ready, true);
		return;
	}
	pcache_fill_start(pl);
}

void pcache_fill_stop(struct pcache_layer *pl)
{
	atomic_store(&pl->stop, true);
	pthread_mutex_lock(&pl->fill_lock);
	if (pl->filler_live)
		pthread_join(pl->filler, NULL);
	pl->filler_live = false;
	pthread_mutex_unlock(&pl->fill_lock);
}

/* ---- reads ------------------------------------------------------------- */

/* Waits until a WAIT block of this pass is PRESENT, no filler runs, or
 * the deadline.  Returns false at the deadline; *idle when no filler
 * runs. */
static bool pcache_wait_fill(struct pcache_call *c,
			     const struct timespec *deadline, bool *idle)
{
	struct pcache_image *im = c->pl->im;
	bool ok = true;

	pthread_mutex_lock(&im->lock);
	for (;;) {
		bool some = false;
		for (uint64_t i = 0; i < c->nb && !some; i++)
			some = c->cls[i] == PC_WAIT &&
			       (im->st[c->first + i] & PCACHE_STATE) ==
			       PCACHE_PRESENT;
		*idle = !im->filling;
		if (some || *idle)
			break;
		if (pthread_cond_timedwait(&im->cond, &im->lock, deadline) ==
		    ETIMEDOUT) {
			ok = false;
			break;
		}
	}
	pthread_mutex_unlock(&im->lock);
	return ok;
}

static bool pcache_done(const struct pcache_call *c)
{
	for (uint64_t i = 0; i < c->nb; i++)
		if (c->todo[i])
			return false;
	return true;
}

int pcache_seq_read(struct pcache_call *c)
{
	struct timespec deadline;
	uint64_t wgen;
	int r, err;

	backend_deadline(&deadline, PCACHE_SEQ_WAIT_MS);
	for (unsigned pass = 0; pass < 64; pass++) {
		bool idle = false;
		pcache_classify(c, &wgen, false);
		if ((r = pcache_serve_hits(c)) < 0)
			return r;
		if (pcache_done(c))
			return 0;
		if (!pcache_wait_fill(c, &deadline, &idle))
			return BE_ERETRY;
		if (idle) {
			err = atomic_load(&c->pl->im->fill_err);
			if (err && err != BE_EIO_READ)
				return err;
			pcache_fill_start(c->pl);
		}
	}
	return BE_ERETRY;
}
