/* mio.h — media I/O workers: where media reads, writes, flushes, opens and
 * closes run, so the USB threads never wait on media.
 *
 *   submitter (USB thread, API)      workers (mio.c)         completion
 *   mio_submit(job) ──▶ queue ──▶ job->run(job) ──▶ done list ──▶ mio_reap()
 *                      (FIFO)      no lock held          │       job->done(job)
 *                                                        └─ eventfd readable
 *
 * A job is owned by its submitter, who embeds `struct mio_job` in a larger
 * struct (container_of) and keeps it alive until done() has run, or, for a
 * job without done(), until run() has returned (run() may free it then:
 * nothing touches the job after a done-less run()).
 *
 * Threads: run() is called on a worker with no mio lock held; done() is
 * called by whoever calls mio_reap(), on that thread, in completion order
 * -- or, with a deliver hook (mio_set_deliver), by the worker itself
 * through the hook, which takes the lock done() needs (netstickd: the USB
 * lock, as the serial thread does for transfers: one wake-up fewer per
 * job than going through the USB thread's event loop).
 *
 * A mio with 0 workers runs nothing by itself: mio_run_one() runs the
 * oldest queued job on the caller's thread.  The unit tests and fuzzers
 * use that to play completions in any order, deterministically.
 */
#ifndef NS_MIO_H
#define NS_MIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define MIO_MAX_WORKERS 16

struct mio_job {
	void (*run)(struct mio_job *j);    /* on a worker */
	void (*done)(struct mio_job *j);   /* in mio_reap(); NULL: none */
	int result;                        /* set by run(), read by done() */
	struct mio_job *next;              /* mio's */
};

struct mio {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct mio_job *queue, **queue_tail;   /* submitted, not running */
	struct mio_job *done, **done_tail;     /* ran, done() pending */
	unsigned running;                      /* jobs inside run() */
	unsigned nworkers;
	pthread_t workers[MIO_MAX_WORKERS];
	bool stop;
	int efd;                               /* eventfd: done list non-empty */
	/* Set before jobs are submitted: done() through this, on the worker. */
	void (*deliver)(void *ctx, struct mio_job *j);
	void *deliver_ctx;
};

/* Starts nworkers (0..MIO_MAX_WORKERS) workers.  Returns 0 or -1 (errno). */
int mio_init(struct mio *m, unsigned nworkers);
/* Runs every job still queued, waits for running ones, reaps nothing
 * (done() callbacks still pending are dropped: call mio_reap() before if
 * they matter), stops the workers and frees everything. */
void mio_fini(struct mio *m);

/* Workers hand finished jobs to deliver(ctx, j), which must call
 * j->done(j) (under whatever lock done() needs), instead of filing them
 * for mio_reap().  Set before the first mio_submit(); NULL: mio_reap(). */
void mio_set_deliver(struct mio *m, void (*deliver)(void *, struct mio_job *),
		     void *ctx);

/* Queues j.  Never blocks on media; 0, or -1 when the mio is stopping. */
int mio_submit(struct mio *m, struct mio_job *j);
/* Readable while done() callbacks are pending (poll it, then mio_reap). */
int mio_fd(const struct mio *m);
/* Calls done() for every job that has run; returns how many. */
unsigned mio_reap(struct mio *m);
/* With 0 workers: runs the oldest queued job here.  Returns false when
 * none was queued. */
bool mio_run_one(struct mio *m);
/* Jobs queued or running (not yet reaped ones excluded). */
unsigned mio_pending(struct mio *m);

/* A fire-and-forget call of fn(arg) on a worker (or at once, on the
 * caller's thread, when m is NULL or has no workers).  Returns 0 or -1. */
int mio_call(struct mio *m, void (*fn)(void *), void *arg);

#endif
