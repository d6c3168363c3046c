/* redfish_int.h — what the redfish*.c files share.  Not for use elsewhere.
 *
 *   redfish_http.c    libmicrohttpd glue: request in, headers out
 *   redfish_routes.c  the URI tree, auth, ServiceRoot, Managers,
 *                     SessionService
 *   redfish_auth.c    users (crypt(3) hashes), Basic, sessions
 *   redfish_json.c    @odata helpers, ETags, the error body and its
 *                     Base message registry entries
 *   redfish_system.c  ComputerSystem: Boot override, PowerState, Reset
 *   redfish_hook.c    running the configured power hook commands
 *   redfish_vmedia.c  VirtualMedia: members, InsertMedia/EjectMedia, PATCH
 *
 * Handlers never see libmicrohttpd: they take a struct rf_request and fill
 * a struct rf_reply, so the fuzzer calls rf_route() directly.
 */
#ifndef NS_REDFISH_INT_H
#define NS_REDFISH_INT_H

#include "redfish.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define RF_ROOT "/redfish/v1"
#define RF_MAX_SESSIONS 64
#define RF_TOKEN_HEX 64               /* X-Auth-Token: 32 random bytes */
#define RF_ID_MAX 64                  /* path segment (system, session id) */

struct rf_request {
	const char *method;           /* "GET", "PATCH", ... */
	const char *path;             /* URL path, no query */
	const char *body;             /* NUL-terminated, may be NULL */
	size_t body_len;
	bool too_large;               /* the body was dropped (413) */
	/* Header lookup (case-insensitive name), NULL when absent. */
	const char *(*header)(void *ctx, const char *name);
	void *ctx;
};

/* A reply: status, JSON body (owned, may be NULL: no body) and headers. */
struct rf_reply {
	unsigned status;
	json_object *json;
	const char *allow;            /* Allow header, static */
	char etag[48];                /* ETag header, "" = none */
	char location[160];           /* Location header, "" = none */
	char token[RF_TOKEN_HEX + 1]; /* X-Auth-Token header, "" = none */
};

struct rf_session {
	bool used;
	char id[17];                  /* 16 hex digits */
	char token[RF_TOKEN_HEX + 1];
	char user[65];
	time_t last;                  /* CLOCK_MONOTONIC seconds, last use */
};

/* The boot override a client set (stored and returned; netstick cannot
 * change the host firmware's boot order itself). */
struct rf_boot {
	char target[16];              /* BootSourceOverrideTarget */
	char enabled[16];             /* BootSourceOverrideEnabled */
	char mode[16];                /* BootSourceOverrideMode */
	uint32_t gen;                 /* bumped by each change: the ETag */
};

/* What a client inserted through Redfish, so Image reads back exactly as
 * it was sent (Ironic compares it with its boot URL). */
struct rf_vmedia {
	char *image;                  /* heap, as given (redacted), or NULL */
	uint32_t gen;                 /* the LUN's media_gen it belongs to */
};

struct redfish {
	const struct config *cfg;
	const struct config_redfish *rc;
	struct lun *luns;
	unsigned nluns;
	const struct media_service *ms;

	pthread_mutex_t lock;         /* everything below */
	struct rf_session sessions[RF_MAX_SESSIONS];
	struct rf_boot boot;
	char power[8];                /* last commanded: "On", "Off" */
	struct rf_vmedia vm[CONFIG_MAX_LUNS];

	pthread_mutex_t hook_lock;    /* one power hook at a time */
};

/* ---- redfish_routes.c --------------------------------------------- */

/* Fills rp for any request under /redfish, auth included.  rp is
 * zeroed first; release with rf_reply_free(). */
void rf_route(struct redfish *rf, const struct rf_request *rq,
	      struct rf_reply *rp);
void rf_reply_free(struct rf_reply *rp);

/* ---- redfish_json.c ------------------------------------------------ */

/* Base message registry entries netstick answers with. */
enum rf_msg {
	RF_GENERAL_ERROR,             /* 500 unless given */
	RF_RESOURCE_NOT_FOUND,        /* 404: type, id */
	RF_METHOD_NOT_ALLOWED,        /* 405 */
	RF_MALFORMED_JSON,            /* 400 */
	RF_PROPERTY_UNKNOWN,          /* 400: property */
	RF_PROPERTY_VALUE_TYPE,       /* 400: value, property */
	RF_PROPERTY_NOT_IN_LIST,      /* 400: value, property */
	RF_PROPERTY_NOT_WRITABLE,     /* 400: property */
	RF_ACTION_NOT_SUPPORTED,      /* 400: action */
	RF_ACTION_PARAM_MISSING,      /* 400: action, parameter */
	RF_ACTION_PARAM_UNKNOWN,      /* 400: action, parameter */
	RF_ACTION_PARAM_TYPE,         /* 400: value, parameter, action */
	RF_ACTION_PARAM_NOT_IN_LIST,  /* 400: value, parameter, action */
	RF_ACTION_PARAM_NOT_SUPP,     /* 400: parameter, action */
	RF_ACTION_PARAM_FORMAT,       /* 400: value, parameter, action */
	RF_COULD_NOT_CONNECT,         /* 400: uri */
	RF_RESOURCE_IN_USE,           /* 409 */
	RF_NO_VALID_SESSION,          /* 401 */
	RF_LOGIN_FAILED,              /* 401: uri */
	RF_SESSION_LIMIT,             /* 503 */
	RF_PRECONDITION_FAILED,       /* 412 */
	RF_PAYLOAD_TOO_LARGE,         /* 413 */
	RF_NOT_IMPLEMENTED,           /* 501: what */
	RF_MSG_COUNT
};

/* The Redfish error body:
 *   {"error": {"code": "Base.1.8.X", "message": "...",
 *              "@Message.ExtendedInfo": [{MessageId, Message,
 *              MessageArgs, RelatedProperties, Severity, Resolution}]}}
 * status 0 takes the entry's own.  prop: "#/Image" style, or NULL.
 * detail: text appended to the message, or NULL.  The args (strings,
 * NULL-terminated) fill %1, %2, %3 of the entry's message. */
void rf_error(struct rf_reply *rp, unsigned status, enum rf_msg id,
	      const char *prop, const char *detail, ...)
	__attribute__((sentinel));

/* {"@odata.id": path} */
json_object *rf_link(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* A new resource with @odata.id, @odata.type, Id and Name. */
json_object *rf_resource(const char *odata_id, const char *type,
			 const char *id, const char *name);
/* A collection with its members' links. */
json_object *rf_collection(const char *odata_id, const char *type,
			   const char *name, const char *const *members,
			   unsigned n);
/* The VirtualMedia link of self (a System or the Manager) and
 * "Links": {rel: [{"@odata.id": other}]}. */
void rf_add_owner_links(json_object *o, const char *self, const char *rel,
			const char *other);
/* {"State": "Enabled", "Health": "OK"} */
json_object *rf_status_ok(void);
void rf_ok(struct rf_reply *rp, json_object *o, const char *allow);
/* Sets ETag (W/"tag") on rp and @odata.etag on rp->json. */
void rf_set_etag(struct rf_reply *rp, const char *tag);
/* If-Match against tag: true when absent, "*", or one of its entities
 * equals W/"tag" or "tag" (a weak comparison, as clients send either). */
bool rf_if_match(const struct rf_request *rq, const char *tag);
/* The body as one JSON object, or NULL with a 400 in rp. */
json_object *rf_body_object(const struct rf_request *rq, struct rf_reply *rp);

/* ---- redfish_auth.c ------------------------------------------------ */

/* Constant-time check of name/password against the users (crypt(3)).
 * Takes as long for an unknown name as for a wrong password. */
bool rf_auth_password(const struct redfish *rf, const char *name,
		      const char *password);
/* "Basic <base64>" → true when the user and password are good. */
bool rf_auth_basic(const struct redfish *rf, const char *authorization);
/* An X-Auth-Token of a live session: true (and its idle clock reset);
 * expired sessions are dropped.  Takes rf->lock. */
bool rf_auth_token(struct redfish *rf, const char *token);
/* A new session for user: 0 with *s copied out, -1 when the table is
 * full.  Takes rf->lock. */
int rf_session_new(struct redfish *rf, const char *user,
		   struct rf_session *out);
/* Removes the session id: 0, or -1 when there is none. */
int rf_session_delete(struct redfish *rf, const char *id);
/* Copies the live sessions' ids (at most max) and returns how many;
 * one: fills *out for id and returns 1, or 0. */
unsigned rf_session_ids(struct redfish *rf, char ids[][17], unsigned max);
int rf_session_get(struct redfish *rf, const char *id, struct rf_session *out);

/* ---- redfish_system.c ---------------------------------------------- */

void rf_boot_init(struct rf_boot *b);
/* /redfish/v1/Systems/{id}[/...]: rest is what follows the id. */
void rf_route_system(struct redfish *rf, const struct rf_request *rq,
		     const char *rest, struct rf_reply *rp);

/* ---- redfish_hook.c ------------------------------------------------ */

/* Runs cmd with /bin/sh -c, NETSTICK_RESET_TYPE=reset_type (when not
 * NULL), at most timeout_s seconds (then its process group is killed).
 * Up to outlen-1 bytes of its stdout go to out (when out).  Returns its
 * exit status (0..255), or -1 (spawn failed or timed out; err says why). */
int rf_hook_run(const char *cmd, const char *reset_type, unsigned timeout_s,
		char *out, size_t outlen, char *err, size_t errlen);

/* ---- redfish_vmedia.c ---------------------------------------------- */

/* {base}/VirtualMedia[/...] under the Manager or the System: rest is what
 * follows "VirtualMedia".  base is the owner's @odata.id. */
void rf_route_vmedia(struct redfish *rf, const struct rf_request *rq,
		     const char *base, const char *rest, struct rf_reply *rp);
/* Whether LUN l presents optical media (MediaTypes CD, DVD) or a disk
 * (USBStick). */
bool rf_lun_optical(const struct lun *l);
void rf_vmedia_free(struct redfish *rf);

#endif
