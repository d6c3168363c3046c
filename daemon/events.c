/* events.c — the event bus (see events.h).
 *
 *   ring[id % EVENTS_RING]   slot of event `id`; ids first..last are held
 *   latest[key]              the newest volatile event of key; its seq is
 *                            the value of latest_seq when it was put
 *
 * A condition variable broadcast on every publish wakes the SSE streams;
 * each one takes the next event after the id it last sent.
 */
#include "events.h"
#include "backend.h"   /* backend_cond_init */

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
	uint64_t latest_seq;      /* bumped by every events_put_latest() */
	struct event latest[EVENTS_LATEST];   /* .id: that seq, 0 = none */
	unsigned subscribers;
} bus = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool bus_cond_ready;

int events_open(void)
{
	int r = 0;

	pthread_mutex_lock(&bus.lock);
	if (!bus_cond_ready) {
		r = backend_cond_init(&bus.cond) == 0 ? 0 : -1;
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
	for (unsigned i = 0; i < EVENTS_LATEST; i++) {
		free(bus.latest[i].data);
		bus.latest[i].data = NULL;
		bus.latest[i].id = 0;
	}
	bus.first = bus.last + 1;
	if (bus_cond_ready)
		pthread_cond_broadcast(&bus.cond);
	pthread_mutex_unlock(&bus.lock);
}

/* The slot for a new event, its old data freed and its id set (lock
 * held): the ring's next one for key < 0, else latest slot key. */
static struct event *events_slot(int key)
{
	struct event *e;

	if (key >= 0) {
		e = &bus.latest[key];
		e->id = ++bus.latest_seq;
	} else {
		bus.last++;
		if (bus.first == 0 || bus.last - bus.first >= EVENTS_RING)
			bus.first = bus.last >= EVENTS_RING
				  ? bus.last - EVENTS_RING + 1 : 1;
		e = &bus.ring[bus.last % EVENTS_RING];
		e->id = bus.last;
	}
	free(e->data);
	return e;
}

static void events_put(int key, const char *type, const char *data)
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
	e = events_slot(key);
	snprintf(e->type, sizeof e->type, "%s", type);
	e->data = copy;
	pthread_cond_broadcast(&bus.cond);
	pthread_mutex_unlock(&bus.lock);
}

void events_publish(const char *type, const char *data)
{
	events_put(-1, type, data);
}

void events_put_latest(unsigned key, const char *type, const char *data)
{
	if (key < EVENTS_LATEST)
		events_put((int)key, type, data);
}

static uint64_t events_read(const uint64_t *v)
{
	uint64_t x;

	pthread_mutex_lock(&bus.lock);
	x = *v;
	pthread_mutex_unlock(&bus.lock);
	return x;
}

uint64_t events_latest_seq(void)
{
	return events_read(&bus.latest_seq);
}

uint64_t events_last_id(void)
{
	return events_read(&bus.last);
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

/* The latest slot changed first after *seen, or NULL (lock held). */
static const struct event *events_latest_after(uint64_t seen)
{
	const struct event *best = NULL;

	for (unsigned i = 0; i < EVENTS_LATEST; i++) {
		const struct event *e = &bus.latest[i];

		if (e->data && e->id > seen && (!best || e->id < best->id))
			best = e;
	}
	return best;
}

/* Lock held. */
static enum events_wait events_take_latest(const struct event *e,
					   uint64_t *seen, struct event *out)
{
	*seen = e->id;
	out->id = 0;
	memcpy(out->type, e->type, sizeof out->type);
	out->data = strdup(e->data);
	return out->data ? EVENTS_GOT : EVENTS_CLOSED;
}

enum events_wait events_next(uint64_t after, struct event *out,
			     int timeout_ms)
{
	return events_next_latest(after, NULL, out, timeout_ms);
}

enum events_wait events_next_latest(uint64_t after, uint64_t *seen,
				    struct event *out, int timeout_ms)
{
	enum events_wait r = EVENTS_TIMEOUT;
	const struct event *e;
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
		if (seen && (e = events_latest_after(*seen)) != NULL) {
			r = events_take_latest(e, seen, out);
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
