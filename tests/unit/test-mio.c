/* test-mio.c — the media I/O workers: jobs run on workers and their done()
 * comes back through mio_reap() (or the deliver hook), fire-and-forget
 * calls, a 0-worker mio run by hand, and stopping with jobs queued. */
#include "mio.h"
#include "log.h"
#include "test.h"

#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct tjob {
	struct mio_job job;
	int n;
	bool done;
};

static atomic_int ran, called;
static int done_count;

static void tjob_run(struct mio_job *j)
{
	struct tjob *t = (struct tjob *)j;

	usleep(100);
	j->result = t->n * 2;
	atomic_fetch_add(&ran, 1);
}

static void tjob_done(struct mio_job *j)
{
	struct tjob *t = (struct tjob *)j;

	t->done = j->result == t->n * 2;
	done_count++;
}

static void reset(void)
{
	atomic_store(&ran, 0);
	atomic_store(&called, 0);
	done_count = 0;
}

/* 64 jobs on 4 workers: every done() runs once, on the reaping thread,
 * with run()'s result; the eventfd says when to reap. */
TEST(test_mio_jobs_run_and_reap)
{
	static struct tjob jobs[64];
	struct mio m;

	reset();
	CHECK_EQ(mio_init(&m, 4), 0);
	for (int i = 0; i < 64; i++) {
		jobs[i] = (struct tjob){ .job = { .run = tjob_run,
						  .done = tjob_done }, .n = i };
		CHECK_EQ(mio_submit(&m, &jobs[i].job), 0);
	}
	for (int i = 0; i < 5000 && done_count < 64; i++) {
		struct pollfd p = { .fd = mio_fd(&m), .events = POLLIN };

		if (poll(&p, 1, 10) > 0)
			mio_reap(&m);
	}
	CHECK_EQ(done_count, 64);
	for (int i = 0; i < 64; i++)
		CHECK(jobs[i].done);
	CHECK_EQ(mio_pending(&m), 0);
	mio_fini(&m);
}

static atomic_int delivered;

static void deliver(void *ctx, struct mio_job *j)
{
	(void)ctx;
	atomic_fetch_add(&delivered, 1);
	j->done = NULL;           /* done() itself would race the test */
}

/* With a deliver hook, workers hand every finished job to it; nothing is
 * left for mio_reap(). */
TEST(test_mio_deliver_hook_on_the_worker)
{
	static struct tjob jobs[16];
	struct mio m;

	reset();
	atomic_store(&delivered, 0);
	CHECK_EQ(mio_init(&m, 2), 0);
	mio_set_deliver(&m, deliver, NULL);
	for (int i = 0; i < 16; i++) {
		jobs[i] = (struct tjob){ .job = { .run = tjob_run,
						  .done = tjob_done }, .n = i };
		CHECK_EQ(mio_submit(&m, &jobs[i].job), 0);
	}
	for (int i = 0; i < 5000 && atomic_load(&delivered) < 16; i++)
		usleep(1000);
	CHECK_EQ(atomic_load(&delivered), 16);
	CHECK_EQ(mio_reap(&m), 0);
	mio_fini(&m);
}

static void call_fn(void *arg)
{
	atomic_fetch_add(&called, *(int *)arg);
}

/* mio_call runs fn(arg) on a worker, or at once without workers. */
TEST(test_mio_call_fire_and_forget)
{
	static int one = 1;
	struct mio m;

	reset();
	CHECK_EQ(mio_call(NULL, call_fn, &one), 0);
	CHECK_EQ(atomic_load(&called), 1);
	CHECK_EQ(mio_init(&m, 2), 0);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(mio_call(&m, call_fn, &one), 0);
	mio_fini(&m);                    /* runs what is queued */
	CHECK_EQ(atomic_load(&called), 11);
}

/* 0 workers: nothing runs until mio_run_one(), oldest first. */
TEST(test_mio_zero_workers_run_by_hand)
{
	static struct tjob jobs[3];
	struct mio m;

	reset();
	CHECK_EQ(mio_init(&m, 0), 0);
	for (int i = 0; i < 3; i++) {
		jobs[i] = (struct tjob){ .job = { .run = tjob_run,
						  .done = tjob_done }, .n = i };
		CHECK_EQ(mio_submit(&m, &jobs[i].job), 0);
	}
	CHECK_EQ(atomic_load(&ran), 0);
	CHECK_EQ(mio_pending(&m), 3);
	CHECK(mio_run_one(&m));
	CHECK_EQ(mio_reap(&m), 1);
	CHECK(jobs[0].done && !jobs[1].done);
	while (mio_run_one(&m))
		;
	CHECK_EQ(mio_reap(&m), 2);
	CHECK_EQ(done_count, 3);
	mio_fini(&m);
}

int main(void)
{
	log_init("test-mio", LOG_LVL_WARN);
	RUN(test_mio_jobs_run_and_reap);
	RUN(test_mio_deliver_hook_on_the_worker);
	RUN(test_mio_call_fire_and_forget);
	RUN(test_mio_zero_workers_run_by_hand);
	return test_summary();
}
