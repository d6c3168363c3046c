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
 * Beside the ring, EVENTS_LATEST "latest" slots hold volatile events
 * (events_put_latest: the live "stats"): a slot keeps only its newest
 * value, has no id, is never replayed for a Last-Event-ID and never
 * pushes a ring event out.  A reader follows them with a sequence of its
 * own (events_next_latest): one that falls behind skips to the newest
 * value of each slot; it never queues them.
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
#define EVENTS_LATEST 16          /* latest slots: keys 0..15 */

struct event {
	uint64_t id;              /* 0: from a latest slot */
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

/* Replaces latest slot `key` (< EVENTS_LATEST; others are ignored) with
 * a copy of data and wakes the readers.  A no-op when the bus is closed. */
void events_put_latest(unsigned key, const char *type, const char *data);
/* Where a reader starts following the latest slots: what it is given
 * from here on is newer than this. */
uint64_t events_latest_seq(void);
/* events_next() that also hands out latest slots changed since *seen
 * (oldest change first, after any ring event): EVENTS_GOT with out->id
 * 0 and *seen advanced. */
enum events_wait events_next_latest(uint64_t after, uint64_t *seen,
				    struct event *out, int timeout_ms);

/* Open streams, for /metrics: events_subscribe(+1) / (-1). */
void events_subscribe(int delta);
unsigned events_subscribers(void);

#endif
