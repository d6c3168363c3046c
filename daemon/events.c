/* events.c — the event bus (see events.h).
 *
 *   ring[id % EVENTS_RING]   slot of event `id`; ids first..last are held
 *
 * A condition variable broadcast on every publish wakes the SSE streams;
 * each one takes the next event after the id it last sent.
 */
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	uint64_t first, last;     /* held ids: first..last; none if last == 0 */
	struct event ring[EVENTS_RING];
	unsigned subscribers;
} bus = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool bus_cond_ready;

int events_open(void)
{
	pthread_condattr_t a;
	int r = 0;

	pthread_mutex_lock(&bus.lock);
	if (!bus_cond_ready) {
		pthread_condattr_init(&a);
		pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
		r = pthread_cond_init(&bus.cond, &a) == 0 ? 0 : -1;
		pthread_condattr_destroy(&a);
		bus_cond_ready = r == 0;
	}
	bus.open = r == 0;
	pthread_mutex_unlock(&bus.lock);
	return r;
}

void events_close(void)
{
	pthread_mutex_lock(&bus.lock);
	bus.open = false;
	for (unsigned i = 0; i < EVENTS_RING; i++) {
		free(bus.ring[i].data);
		bus.ring[i].data = NULL;
	}
	bus.first = bus.last + 1;
	if (bus_cond_ready)
		pthread_cond_broadcast(&bus.cond);
	pthread_mutex_unlock(&bus.lock);
}

void events_publish(const char *type, const char *data)
{
	char *copy = strdup(data);
	struct event *e;

	if (!copy)
		return;
	pthread_mutex_lock(&bus.lock);
	if (!bus.open) {
		pthread_mutex_unlock(&bus.lock);
		free(copy);
		return;
	}
	bus.last++;
	if (bus.first == 0 || bus.last - bus.first >= EVENTS_RING)
		bus.first = bus.last >= EVENTS_RING ? bus.last - EVENTS_RING + 1
						    : 1;
	e = &bus.ring[bus.last % EVENTS_RING];
	free(e->data);
	e->id = bus.last;
	snprintf(e->type, sizeof e->type, "%s", type);
	e->data = copy;
	pthread_cond_broadcast(&bus.cond);
	pthread_mutex_unlock(&bus.lock);
}

uint64_t events_last_id(void)
{
	uint64_t id;

	pthread_mutex_lock(&bus.lock);
	id = bus.last;
	pthread_mutex_unlock(&bus.lock);
	return id;
}

static void events_deadline(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Lock held. */
static enum events_wait events_take(uint64_t after, struct event *out)
{
	const struct event *e;

	if (after + 1 < bus.first)
		return EVENTS_GAP;
	e = &bus.ring[(after + 1) % EVENTS_RING];
	out->id = e->id;
	memcpy(out->type, e->type, sizeof out->type);
	out->data = strdup(e->data);
	return out->data ? EVENTS_GOT : EVENTS_CLOSED;
}

enum events_wait events_next(uint64_t after, struct event *out,
			     int timeout_ms)
{
	enum events_wait r = EVENTS_TIMEOUT;
	struct timespec ts;

	events_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&bus.lock);
	for (;;) {
		if (!bus.open) {
			r = EVENTS_CLOSED;
			break;
		}
		if (after > bus.last) {  /* an id from a previous process */
			r = EVENTS_GAP;
			break;
		}
		if (after < bus.last) {
			r = events_take(after, out);
			break;
		}
		if (pthread_cond_timedwait(&bus.cond, &bus.lock, &ts) ==
		    ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&bus.lock);
	return r;
}

void events_subscribe(int delta)
{
	pthread_mutex_lock(&bus.lock);
	bus.subscribers = (unsigned)((int)bus.subscribers + delta);
	pthread_mutex_unlock(&bus.lock);
}

unsigned events_subscribers(void)
{
	unsigned n;

	pthread_mutex_lock(&bus.lock);
	n = bus.subscribers;
	pthread_mutex_unlock(&bus.lock);
	return n;
}
