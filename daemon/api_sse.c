/* api_sse.c — GET /api/v1/events, a Server-Sent Events stream.
 *
 *   event: hello            first, always: {"status": ..., "luns": [...],
 *                            "ts_ms": when the LUNs' counters were read}
 *   id: 17                  then every bus event after it:
 *   event: lun              {"lun": {...the GET /luns/{id} object...},
 *   data: {...}              "change": "media" | "host_lock"}
 *
 *   event: usb              {"state": "configured", "speed": "high-speed"}
 *   event: warm             {"warm": {...the GET /warm/{id} object...}}
 *                           (hello also lists them: "warm": [...])
 *   event: stats            no id: {"lun": 3, "ts_ms": ..., "since_ms": ...,
 *   data: {...}              "prev_ts_ms": ..., "io": {...},
 *                            "layers": {...}, "warm": {...}}
 *                           about every API_STATS_MS for a LUN whose
 *                           counters changed, never while it is idle
 *                           (api_stats.c)
 *   : keepalive             a comment every API_SSE_KEEPALIVE_MS
 *
 * A client that reconnects with Last-Event-ID gets what it missed, or a
 * fresh "hello" when that is no longer in the ring (events.h).  "stats"
 * events are volatile: they take no place in the ring, carry no id (so
 * they never move a client's Last-Event-ID) and are never replayed; a
 * stream gets those put after it started (or after its last "hello"),
 * and one that falls behind gets only the newest per LUN.  The
 * connection thread blocks in events_next_latest(), in slices of
 * API_SSE_POLL_MS between which it checks that the client is still
 * there; api_stop() closes the bus, which ends every stream.  Streams
 * are capped per address and in total (api_guard.c): over the caps the
 * request gets 503 too_many_streams.
 */
#include "api_int.h"
#include "events.h"
#include "warm.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_SSE_KEEPALIVE_MS 15000

struct api_sse {
	struct api_server *s;
	struct api_sse_slot slot;     /* counted against the caps */
	uint64_t last;        /* id of the last event sent */
	uint64_t latest;      /* the bus's latest slots seen (events.h) */
	bool hello_sent;
	char *pending;        /* formatted text not yet handed out */
	size_t len, off;
};

/* Takes ownership of text. */
static void api_sse_set(struct api_sse *st, char *text)
{
	free(st->pending);
	st->pending = text;
	st->len = text ? strlen(text) : 0;
	st->off = 0;
}

static char *api_sse_format(uint64_t id, const char *type, const char *data)
{
	char *out = NULL;

	if (id && asprintf(&out, "id: %llu\nevent: %s\ndata: %s\n\n",
			   (unsigned long long)id, type, data) < 0)
		return NULL;
	if (!id && asprintf(&out, "event: %s\ndata: %s\n\n", type, data) < 0)
		return NULL;
	return out;
}

/* The snapshot a new (or resynchronising) client starts from. */
static char *api_sse_hello(struct api_sse *st)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	char *text;

	st->last = events_last_id();
	st->latest = events_latest_seq();
	json_object_object_add(o, "ts_ms", json_object_new_uint64(api_now_ms()));
	for (unsigned i = 0; i < st->s->nluns; i++)
		json_object_array_add(a, api_json_lun_of(&st->s->luns[i]));
	json_object_object_add(o, "status", api_json_status(st->s));
	json_object_object_add(o, "luns", a);
	if (st->s->warm)
		json_object_object_add(o, "warm", warm_json_list(st->s->warm));
	text = api_sse_format(st->last, "hello",
			      json_object_to_json_string_ext(o,
				JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	st->hello_sent = true;
	return text;
}

/* events_next() in slices, so a client that has gone is seen within
 * API_SSE_POLL_MS and its slot freed (EVENTS_CLOSED ends the stream),
 * not at the next keepalive's failed write. */
static enum events_wait api_sse_wait(struct api_sse *st, struct event *ev)
{
	for (int waited = 0; waited < API_SSE_KEEPALIVE_MS;
	     waited += API_SSE_POLL_MS) {
		enum events_wait w = events_next_latest(st->last, &st->latest,
							ev, API_SSE_POLL_MS);
		if (w != EVENTS_TIMEOUT)
			return w;
		if (api_guard_sse_gone(&st->slot))
			return EVENTS_CLOSED;
	}
	return EVENTS_TIMEOUT;
}

/* Next piece of the stream: NULL at the end. */
static char *api_sse_next(struct api_sse *st)
{
	struct event ev;
	char *text;

	if (!st->hello_sent)
		return api_sse_hello(st);
	switch (api_sse_wait(st, &ev)) {
	case EVENTS_GOT:
		if (ev.id)            /* 0: a latest slot's, no id */
			st->last = ev.id;
		text = api_sse_format(ev.id, ev.type, ev.data);
		free(ev.data);
		return text;
	case EVENTS_TIMEOUT:
		return strdup(": keepalive\n\n");
	case EVENTS_GAP:
		return api_sse_hello(st);
	case EVENTS_CLOSED:
	default:
		return NULL;
	}
}

static ssize_t api_sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct api_sse *st = cls;
	size_t n;

	(void)pos;
	if (st->off == st->len) {
		api_sse_set(st, api_sse_next(st));
		if (!st->pending)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	n = st->len - st->off < max ? st->len - st->off : max;
	memcpy(buf, st->pending + st->off, n);
	st->off += n;
	return (ssize_t)n;
}

static void api_sse_free(void *cls)
{
	struct api_sse *st = cls;

	events_subscribe(-1);
	api_guard_sse_give(&st->s->guard, &st->slot);
	free(st->pending);
	free(st);
}

struct MHD_Response *api_sse_head_response(void)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL,
		MHD_RESPMEM_PERSISTENT);

	if (!r)
		return NULL;
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	return r;
}

struct MHD_Response *api_sse_response(struct api_server *s,
				      struct api_peer *peer,
				      const char *last_event_id)
{
	struct api_sse *st = calloc(1, sizeof *st);
	struct MHD_Response *r;

	if (!st)
		return NULL;
	st->s = s;
	if (api_guard_sse_take(&s->guard, peer, &st->slot) < 0) {
		free(st);
		errno = EAGAIN;
		return NULL;
	}
	if (last_event_id && *last_event_id) {
		st->last = strtoull(last_event_id, NULL, 10);
		st->hello_sent = true;   /* resume; a gap sends hello */
	}
	st->latest = events_latest_seq();   /* stats: from now on only */
	events_subscribe(1);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
					      api_sse_read, st, api_sse_free);
	if (!r) {
		api_sse_free(st);
		return NULL;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	return r;
}

/* The lun observer: every change becomes a "lun" event carrying the
 * LUN's full state, so clients never need a second request. */
void api_sse_lun_observer(struct lun *l, enum lun_event ev, void *arg)
{
	json_object *o = json_object_new_object();

	(void)arg;
	json_object_object_add(o, "change", json_object_new_string(
		ev == LUN_EV_LOCK ? "host_lock"
		: ev == LUN_EV_EJECT_REQUEST ? "eject_request" : "media"));
	json_object_object_add(o, "lun", api_json_lun_of(l));
	events_publish("lun", json_object_to_json_string_ext(o,
		JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}
