/* events.h — the event bus behind GET /api/v1/events (Server-Sent Events).
 *
 * One process-wide bus: publishers (LUN changes from any thread, USB state
 * from the USB thread) append an event; each SSE stream follows the bus
 * from the id it last sent.  Events are kept in a ring of EVENTS_RING
 * entries, so a reader that falls behind by more than that (or reconnects
 * with an old Last-Event-ID) is told to resynchronise instead of silently
 * missing changes.
 *
 *   id:    1, 2, 3 ... (never reused while the process lives)
 *   type:  "lun", "usb", ...  (SSE "event:" field)
 *   data:  one line of JSON   (SSE "data:" field)
 *
 * Thread safety: every function may be called from any thread.
 * events_publish() never blocks for long (a mutex and a copy): the USB
 * thread may call it.
 */
#ifndef NS_EVENTS_H
#define NS_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#define EVENTS_RING 256
#define EVENTS_TYPE_MAX 16

struct event {
	uint64_t id;
	char type[EVENTS_TYPE_MAX];
	char *data;               /* heap copy owned by the receiver */
};

/* Opens the bus (again, after events_close()).  Returns 0 or -1. */
int events_open(void);
/* Wakes every waiter with EVENTS_CLOSED and drops the ring. */
void events_close(void);

/* Appends an event; data is copied.  A no-op when the bus is closed. */
void events_publish(const char *type, const char *data);

/* The id of the newest event, 0 when none yet. */
uint64_t events_last_id(void);

enum events_wait {
	EVENTS_GOT = 1,           /* *out holds the event after `after` */
	EVENTS_TIMEOUT = 0,       /* nothing new in timeout_ms */
	EVENTS_CLOSED = -1,       /* the bus is closing: end the stream */
	EVENTS_GAP = -2,          /* `after` has left the ring: resync */
};
/* Waits at most timeout_ms for the first event with an id above `after`. */
enum events_wait events_next(uint64_t after, struct event *out,
			     int timeout_ms);

/* Open streams, for /metrics: events_subscribe(+1) / (-1). */
void events_subscribe(int delta);
unsigned events_subscribers(void);

#endif
