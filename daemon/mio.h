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
 * called by whoever calls mio_reap(), on that thread (netstickd: the USB
 * thread, with the USB lock held), in completion order.
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
};

/* Starts nworkers (0..MIO_MAX_WORKERS) workers.  Returns 0 or -1 (errno). */
int mio_init(struct mio *m, unsigned nworkers);
/* Runs every job still queued, waits for running ones, reaps nothing
 * (done() callbacks still pending are dropped: call mio_reap() before if
 * they matter), stops the workers and frees everything. */
void mio_fini(struct mio *m);

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
