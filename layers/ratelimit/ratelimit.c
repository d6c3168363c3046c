/* ratelimit.c — a bandwidth limit on the reads that reach next.
 *
 *   layers: ["ratelimit:rate-kib=20480", "pcache:dir=..."]
 *
 * Reads pass at no more than rate-kib KiB/s on average, so a background
 * job (a warm, daemon/warm.c) leaves the rest of the link to the host.
 * Put it below a cache: hits then cost nothing, only bytes fetched from
 * the media count.  Writes, flushes and everything else pass through.
 *
 * Scheduling, not a bucket that refills: each read books the next slot of
 * the link, [start, start + count / rate), with start = max(now, the end
 * of the last booking), then sleeps until its start.  Concurrent readers
 * so queue fairly in booking order and the average never exceeds the
 * rate; an idle link gives no burst credit beyond burst-kib.
 *
 * Threads: PARALLEL.  The booking is a few arithmetic operations under a
 * mutex; the sleep holds nothing.
 */
#include "backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct ratelimit_layer {
	struct backend *next;
	uint64_t rate;              /* bytes per second */
	uint64_t burst_ns;          /* credit an idle link may keep */
	pthread_mutex_t lock;
	uint64_t booked_ns;         /* end of the last booking, monotonic */
};

static const char *const ratelimit_known_opts[] = {
	"rate-kib", "burst-kib", NULL,
};

static uint64_t ratelimit_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Books count bytes; returns when the read may start. */
static uint64_t ratelimit_book(struct ratelimit_layer *rl, uint32_t count)
{
	uint64_t now = ratelimit_now_ns(), start;

	pthread_mutex_lock(&rl->lock);
	start = rl->booked_ns;
	if (start + rl->burst_ns < now)
		start = now - rl->burst_ns;
	rl->booked_ns = start + (uint64_t)count * 1000000000ull / rl->rate;
	pthread_mutex_unlock(&rl->lock);
	return start;
}

static void ratelimit_sleep_until(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

static int ratelimit_pread(void *handle, void *buf, uint32_t count,
			   uint64_t off)
{
	struct ratelimit_layer *rl = handle;
	uint64_t start = ratelimit_book(rl, count);

	if (start > ratelimit_now_ns())
		ratelimit_sleep_until(start);
	return backend_pread(rl->next, buf, count, off);
}

static int ratelimit_open(struct backend *next,
			  const struct backend_open_opts *opts, void **handle,
			  char *err, size_t errlen)
{
	struct backend_optset set;
	struct ratelimit_layer *rl;
	unsigned rate, burst;
	int r;

	if (backend_optset_init(&set, "", opts, ratelimit_known_opts, NULL,
				err, errlen) < 0)
		return BE_EOPEN;
	r = backend_opt_uint(&set, "rate-kib", 10240, 1, 100u << 20, &rate,
			     err, errlen);
	if (r == 0)
		r = backend_opt_uint(&set, "burst-kib", 256, 0, 1u << 20,
				     &burst, err, errlen);
	backend_optset_free(&set);
	if (r < 0)
		return BE_EOPEN;
	if (!(rl = calloc(1, sizeof *rl)))
		return BE_ENOMEM;
	rl->next = next;
	rl->rate = (uint64_t)rate << 10;
	rl->burst_ns = ((uint64_t)burst << 10) * 1000000000ull / rl->rate;
	pthread_mutex_init(&rl->lock, NULL);
	rl->booked_ns = ratelimit_now_ns();
	*handle = rl;
	return 0;
}

static void ratelimit_close(void *handle)
{
	struct ratelimit_layer *rl = handle;

	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

const struct backend_ops layer_ratelimit_ops = {
	.ops_size = sizeof(struct backend_ops),
	.name = "ratelimit",
	.thread_model = BACKEND_PARALLEL,
	.open_layer = ratelimit_open,
	.close = ratelimit_close,
	.pread = ratelimit_pread,
};
