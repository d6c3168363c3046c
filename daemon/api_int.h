/* api_int.h — what the api*.c files share.  Not for use elsewhere.
 *
 *   api.c         libmicrohttpd daemon, request bodies, auth, replies
 *   api_routes.c  the route table and handlers (JSON in, JSON out)
 *   api_json.c    status / LUN / image objects, error bodies
 *   api_token.c   the bearer token: load, generate, compare
 *   api_sse.c     GET /api/v1/events
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

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_TOKEN_MAX 256
#define API_PREFIX "/api/v1"

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
	uint64_t started_ms;          /* CLOCK_MONOTONIC */
	bool usb_enabled;
	atomic_int usb_state;         /* enum usb_state */
	pthread_mutex_t udc_lock;
	char udc[256];
	/* Counters for /metrics: replies by status class 2xx..5xx. */
	atomic_uint_fast64_t replies[6];
	atomic_uint_fast64_t auth_failures;
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

/* api_json.c */
void api_error(struct api_reply *rp, unsigned status, const char *code,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
json_object *api_json_lun(const struct lun_info *li);
json_object *api_json_lun_of(struct lun *l);   /* takes lun_get_info */
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
int api_token_load(const struct config_api *cfg, char *out, size_t outlen);
bool api_token_ok(const char *token, const char *authorization);

/* metrics.c: the Prometheus text exposition, heap, *len set. */
char *metrics_render(struct api_server *s, size_t *len);

/* api_sse.c: a libmicrohttpd response streaming the event bus from
 * last_event_id (0 = from now, after a "hello" snapshot). */
struct MHD_Response *api_sse_response(struct api_server *s,
				      const char *last_event_id);
/* Publishes a LUN's state on the bus (the lun observer). */
void api_sse_lun_observer(struct lun *l, enum lun_event ev, void *arg);

/* api_static.c: the web UI file for path, or NULL (404). */
struct MHD_Response *api_static_response(const char *dir, const char *path,
					 unsigned *status);

#endif
