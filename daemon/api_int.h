/* api_int.h — what the api*.c files share.  Not for use elsewhere.
 *
 *   api.c         libmicrohttpd daemon, request bodies, auth, replies
 *   api_routes.c  the route table and handlers (JSON in, JSON out)
 *   api_json.c    status / LUN / image objects, error bodies
 *   api_token.c   the bearer token: load, generate, compare
 *   api_sse.c     GET /api/v1/events
 *   api_stats.c   its live "stats" events (a sampler thread)
 *   api_warm.c    /api/v1/warm (warm jobs, warm.h)
 *   api_static.c  the web UI files
 *   metrics.c     GET /metrics
 *
 * Handlers never see libmicrohttpd: they take a struct api_request and
 * fill a struct api_reply, so unit tests call api_route() directly.
 */
#ifndef NS_API_INT_H
#define NS_API_INT_H

#include "api.h"
#include "config.h"
#include "lun.h"
#include "media.h"
#include "redfish.h"

#include <json-c/json.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_TOKEN_MAX 256
#define API_PREFIX "/api/v1"

/* Limits against hostile clients (api_guard.c, docs/security.md). */
#define API_CONN_LIMIT 1024         /* connections in total */
#define API_CONN_PER_IP 16          /* connections from one address */
#define API_REQ_DEADLINE_MS 10000   /* a request's headers and body */
#define API_SSE_MAX 128             /* event streams in total */
#define API_SSE_PER_IP 8            /* event streams from one address */
#define API_SSE_POLL_MS 500         /* how soon a gone client is seen */
#define API_STATS_MS 1000           /* the "stats" sampler's period */

struct api_peer;

/* An event stream's slot: counted against the caps while it lives. */
struct api_sse_slot {
	struct api_sse_slot *next;    /* on guard.sse; under guard.lock */
	char addr[48];                /* the client's address */
	int fd;                       /* a dup of its socket, or -1 */
	bool taken;
};

struct api_guard {
	pthread_mutex_t lock;         /* peers, npeers, nsse */
	struct api_peer *peers;
	struct api_sse_slot *sse;     /* live streams */
	unsigned npeers, nsse;
	pthread_mutex_t log_lock;     /* the log rate limit */
	int64_t log_window_ms;
	unsigned log_lines, log_dropped;
	pthread_t watchdog;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stopping, running, inited;
};

struct warm_service;
struct api_stats;

/* Which sources the API accepts (config api.allowed_*). */
struct api_server {
	const struct config *cfg;
	struct lun *luns;
	unsigned nluns;
	struct MHD_Daemon *mhd;
	unsigned port;
	bool tls;
	char token[API_TOKEN_MAX + 1];
	struct media_policy policy;
	struct media_service media;   /* inserts and ejects (media.h) */
	struct redfish *redfish;      /* /redfish (redfish.h), or NULL */
	uint64_t started_ms;          /* CLOCK_MONOTONIC */
	bool usb_enabled;
	atomic_int usb_state;         /* enum usb_state */
	pthread_mutex_t udc_lock;
	char udc[256];
	/* Counters for /metrics: replies by status class 2xx..5xx. */
	atomic_uint_fast64_t replies[6];
	atomic_uint_fast64_t auth_failures;
	atomic_uint_fast64_t deadline_drops;  /* api_guard's watchdog */
	atomic_uint_fast64_t sse_refused;
	struct api_guard guard;
	struct warm_service *warm;    /* warm jobs (warm.h), or NULL */
	struct api_stats *stats;      /* the "stats" sampler, or NULL */
};

struct api_request {
	const char *method;           /* "GET", "PUT", ... */
	const char *path;             /* URL path, no query */
	const char *body;             /* NUL-terminated, may be NULL */
	size_t body_len;
	/* Query argument lookup, NULL when absent. */
	const char *(*query)(void *ctx, const char *key);
	void *query_ctx;
};

struct api_reply {
	unsigned status;
	json_object *json;            /* body, owned; or text below */
	char *text;                   /* heap, owned */
	size_t text_len;
	const char *content_type;     /* for text */
	const char *allow;            /* Allow header for 405 */
};

/* api_routes.c.  Fills rp for any request under /api/v1 or /metrics.
 * Auth is checked by the caller. */
void api_route(struct api_server *s, const struct api_request *rq,
	       struct api_reply *rp);
void api_reply_free(struct api_reply *rp);
/* The whole body as one JSON value (nothing after it), nested at most 8
 * deep; NULL when it is not (also used by redfish_json.c). */
json_object *api_parse_json(const char *body, size_t len);
/* A request's "options" object as "key=value" strings (api_routes.c),
 * owned by the struct: api_options_free() releases them. */
#define API_MAX_OPTIONS 32
struct api_options {
	const char *v[API_MAX_OPTIONS + 1];   /* NULL-terminated */
	char *buf[API_MAX_OPTIONS];
	unsigned n;
};
/* 0, or -1 with a 400 in rp (not an object of strings, too many, a key
 * with '='); o's pairs are appended to opts. */
int api_parse_options(json_object *o, struct api_options *opts,
		      struct api_reply *rp);
void api_options_free(struct api_options *opts);
/* A JSON string field: 0 with *out set, or -1 with a 400 in rp. */
int api_get_string(json_object *v, const char *key, const char **out,
		   struct api_reply *rp);
/* api_warm.c: /api/v1/warm and /api/v1/warm/{id} (p: what follows). */
void api_route_warm(struct api_server *s, const struct api_request *rq,
		    struct api_reply *rp);
void api_route_warm_job(struct api_server *s, const struct api_request *rq,
			const char *p, struct api_reply *rp);

/* api_json.c */
void api_error(struct api_reply *rp, unsigned status, const char *code,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
json_object *api_json_lun(const struct lun_info *li);
json_object *api_json_lun_of(struct lun *l);   /* takes lun_get_info */
/* The LUN object's "io" and "layers" (NULL when no layer reports). */
json_object *api_json_io(const struct lun_stats *st);
json_object *api_json_layers(const struct lun_info *li);
json_object *api_json_status(struct api_server *s);
json_object *api_json_images(const struct config *cfg);
const char *api_usb_speed(struct api_server *s, char *buf, size_t len);
uint64_t api_now_ms(void);
/* "not_attached", "attached", "configured", "suspended". */
const char *api_usb_state_name(enum usb_state s);

/* api_token.c.  api_token_load: the configured token, or the one in
 * token_file, generated (0600) when the file does not exist.  Returns 0
 * or -1 with a logged error.  api_token_ok: the Authorization header
 * value is "Bearer <token>"; constant-time in the token. */
int api_token_load(const struct config_api *cfg, const char *config_path,
		   char *out, size_t outlen);
bool api_token_ok(const char *token, const char *authorization);

/* metrics.c: the Prometheus text exposition, heap, *len set. */
char *metrics_render(struct api_server *s, size_t *len);

/* api_sse.c: a libmicrohttpd response streaming the event bus from
 * last_event_id (0 = from now, after a "hello" snapshot). */
struct MHD_Response *api_sse_response(struct api_server *s,
				      struct api_peer *peer,
				      const char *last_event_id);
/* The response a HEAD gets: the stream's headers, no body. */
struct MHD_Response *api_sse_head_response(void);
/* api_stats.c: the sampler thread behind the "stats" events.  Start
 * after warm_start() (it reads s->warm), stop before the warm service
 * and the LUNs go.  start: 0, or -1 logged. */
int api_stats_start(struct api_server *s);
void api_stats_stop(struct api_server *s);   /* idempotent */
/* Publishes a LUN's state on the bus (the lun observer). */
void api_sse_lun_observer(struct lun *l, enum lun_event ev, void *arg);

/* api_guard.c (see there for the peer state machine).  Start before
 * the libmicrohttpd daemon, stop after it.  api_guard_notify is the
 * MHD_OPTION_NOTIFY_CONNECTION callback (cls: the api_server).
 * api_guard_peer: the connection's peer, or NULL.  answering: the
 * request is all in, no deadline while it is answered; completed: the
 * reply is done, a new deadline for the next request.  sse_take fills
 * *slot (the caller's, until sse_give) for peer p: 0, or -1 when the
 * caps are reached; sse_give returns it (idempotent).  sse_gone: the
 * stream's client closed its end (never blocks).  log_ok:
 * whether a flood-prone message may be logged now. */
int api_guard_start(struct api_server *s);
void api_guard_stop(struct api_server *s);
void api_guard_notify(void *cls, struct MHD_Connection *c,
		      void **socket_context,
		      enum MHD_ConnectionNotificationCode toe);
struct api_peer *api_guard_peer(struct MHD_Connection *c);
void api_guard_answering(struct api_guard *g, struct api_peer *p);
void api_guard_completed(struct api_guard *g, struct api_peer *p);
int api_guard_sse_take(struct api_guard *g, struct api_peer *p,
		       struct api_sse_slot *slot);
void api_guard_sse_give(struct api_guard *g, struct api_sse_slot *slot);
bool api_guard_sse_gone(const struct api_sse_slot *slot);
bool api_guard_log_ok(struct api_guard *g);

/* api_static.c: the web UI file for path, or NULL (404). */
struct MHD_Response *api_static_response(const char *dir, const char *path,
					 unsigned *status);

#endif
