/* mio.c — media I/O workers.  See mio.h for the job life cycle. */
#include "mio.h"
#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* A worker's stack: backend calls (libcurl + OpenSSL, libnbd) run on it. */
#define MIO_STACK_SIZE (512u * 1024)

/* Pops the oldest queued job; lock held.  NULL when none. */
static struct mio_job *mio_pop_locked(struct mio *m)
{
	struct mio_job *j = m->queue;

	if (!j)
		return NULL;
	m->queue = j->next;
	if (!m->queue)
		m->queue_tail = &m->queue;
	j->next = NULL;
	m->running++;
	return j;
}

static void mio_signal_done(struct mio *m)
{
	uint64_t one = 1;

	if (write(m->efd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_warn("mio: eventfd");
}

/* Runs j (popped, counted in running) and files it as done. */
static void mio_execute(struct mio *m, struct mio_job *j)
{
	bool has_done = j->done != NULL;
	bool wake;

	j->run(j);
	if (has_done && m->deliver && m->nworkers) {
		m->deliver(m->deliver_ctx, j);
		has_done = false;           /* delivered: nothing to file */
	}
	pthread_mutex_lock(&m->lock);
	m->running--;
	wake = has_done && !m->done;
	if (has_done) {
		*m->done_tail = j;
		m->done_tail = &j->next;
	}
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
	if (wake)
		mio_signal_done(m);
}

static void *mio_worker(void *arg)
{
	struct mio *m = arg;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		struct mio_job *j = mio_pop_locked(m);

		if (!j) {
			if (m->stop)
				break;
			pthread_cond_wait(&m->wake, &m->lock);
			continue;
		}
		pthread_mutex_unlock(&m->lock);
		mio_execute(m, j);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int mio_init(struct mio *m, unsigned nworkers)
{
	pthread_attr_t attr;

	*m = (struct mio){ .efd = -1 };
	m->queue_tail = &m->queue;
	m->done_tail = &m->done;
	if (nworkers > MIO_MAX_WORKERS) {
		errno = EINVAL;
		return -1;
	}
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->efd < 0)
		return -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->wake, NULL);
	pthread_attr_init(&attr);
	/* Small stacks: the daemon locks its memory (mlockall) once the
	 * workers exist, and a default 8 MiB stack each would be resident. */
	pthread_attr_setstacksize(&attr, MIO_STACK_SIZE);
	for (; m->nworkers < nworkers; m->nworkers++) {
		int r = pthread_create(&m->workers[m->nworkers], &attr,
				       mio_worker, m);
		if (r != 0) {
			pthread_attr_destroy(&attr);
			errno = r;
			mio_fini(m);
			return -1;
		}
	}
	pthread_attr_destroy(&attr);
	return 0;
}

void mio_fini(struct mio *m)
{
	if (m->efd < 0)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
	for (unsigned i = 0; i < m->nworkers; i++)
		pthread_join(m->workers[i], NULL);
	/* No workers: run what is left here, so nothing queued is lost
	 * (closes of retired media, mostly). */
	while (mio_run_one(m))
		;
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
	close(m->efd);
	m->efd = -1;
	m->nworkers = 0;
}

void mio_set_deliver(struct mio *m, void (*deliver)(void *, struct mio_job *),
		     void *ctx)
{
	m->deliver_ctx = ctx;
	m->deliver = deliver;
}

int mio_submit(struct mio *m, struct mio_job *j)
{
	int r = 0;

	j->next = NULL;
	pthread_mutex_lock(&m->lock);
	if (m->stop && m->nworkers) {
		r = -1;
	} else {
		*m->queue_tail = j;
		m->queue_tail = &j->next;
		pthread_cond_signal(&m->wake);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int mio_fd(const struct mio *m)
{
	return m->efd;
}

unsigned mio_reap(struct mio *m)
{
	struct mio_job *list;
	uint64_t v;
	unsigned n = 0;

	if (read(m->efd, &v, sizeof v) < 0 && errno != EAGAIN)
		log_warn("mio: eventfd");
	pthread_mutex_lock(&m->lock);
	list = m->done;
	m->done = NULL;
	m->done_tail = &m->done;
	pthread_mutex_unlock(&m->lock);
	while (list) {
		struct mio_job *j = list;

		list = j->next;
		j->next = NULL;
		j->done(j);
		n++;
	}
	return n;
}

bool mio_run_one(struct mio *m)
{
	struct mio_job *j;

	pthread_mutex_lock(&m->lock);
	j = m->nworkers && !m->stop ? NULL : mio_pop_locked(m);
	pthread_mutex_unlock(&m->lock);
	if (!j)
		return false;
	mio_execute(m, j);
	return true;
}

unsigned mio_pending(struct mio *m)
{
	unsigned n = 0;

	pthread_mutex_lock(&m->lock);
	for (struct mio_job *j = m->queue; j; j = j->next)
		n++;
	n += m->running;
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* --- fire and forget ------------------------------------------------------ */

struct mio_call {
	struct mio_job job;   /* first: the job is the allocation */
	void (*fn)(void *);
	void *arg;
};

static void mio_call_run(struct mio_job *j)
{
	struct mio_call *c = (struct mio_call *)j;

	c->fn(c->arg);
	free(c);
}

int mio_call(struct mio *m, void (*fn)(void *), void *arg)
{
	struct mio_call *c;

	if (!m || m->nworkers == 0) {
		fn(arg);
		return 0;
	}
	if (!(c = calloc(1, sizeof *c)))
		return -1;
	c->job.run = mio_call_run;
	c->fn = fn;
	c->arg = arg;
	if (mio_submit(m, &c->job) < 0) {
		free(c);
		return -1;
	}
	return 0;
}
