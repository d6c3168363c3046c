/* http.h — internals of the HTTP(S) backend, shared by http.c (options,
 * open, ops), http-io.c (range transfers on a curl multi handle) and
 * http-parse.c (header values we parse ourselves). */
#ifndef NS_HTTP_H
#define NS_HTTP_H

#include "backend.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define HTTP_MAX_CONNS 16
#define HTTP_MAX_LANES 16

/* Per-source options (docs/backends.md lists the keys). */
struct http_stream;

struct http_cfg {
	char *url;                  /* the source without its #fragment */
	unsigned connections;       /* requests in flight per call, 1..16 */
	unsigned lanes;             /* calls served at once, 1..16 */
	unsigned timeout_ms;        /* deadline of one call, retries included */
	unsigned connect_timeout_ms;
	unsigned low_speed_s;       /* abort a transfer stalled this long */
	unsigned chunk;             /* smallest piece a read is split into */
	unsigned max_redirects;
	bool http2;                 /* offer HTTP/2 over TLS (ALPN) */
	bool insecure;              /* skip TLS verification: explicit only */
	bool no_range_download;     /* no-range=download: a server without
	                             * Range support is downloaded whole */
	char *ca_file, *ca_path, *client_cert, *client_key;
	char *user, *password, *bearer;   /* secrets: never logged */
	struct curl_slist *headers;       /* "header" options: secrets too */
};

/* Why a request failed.  The retryable ones are retried with backoff
 * until the call's deadline; the others end the call at once. */
enum http_fail {
	HTTP_OK = 0,
	HTTP_FAIL_CONN,      /* connect, reset, stall, TLS handshake cut */
	HTTP_FAIL_BUSY,      /* 408, 429, 503, 504 */
	HTTP_FAIL_5XX,       /* other 5xx */
	HTTP_FAIL_SHORT,     /* body shorter than the range */
	HTTP_FAIL_FATAL,     /* first non-retryable value */
	HTTP_FAIL_NORANGE = HTTP_FAIL_FATAL, /* 200: Range ignored */
	HTTP_FAIL_BADRANGE,  /* Content-Range is not the range asked */
	HTTP_FAIL_LONG,      /* more bytes than asked */
	HTTP_FAIL_CHANGED,   /* ETag, Last-Modified or size differ */
	HTTP_FAIL_GONE,      /* 404, 410 */
	HTTP_FAIL_STATUS,    /* any other unexpected status */
	HTTP_FAIL_TLS,       /* certificate refused */
	HTTP_FAIL_CURL,      /* any other libcurl error */
	HTTP_FAIL_POLICY,    /* a redirect hop the source policy refuses */
};

enum http_kind { HTTP_REQ_HEAD, HTTP_REQ_RANGE };

struct http_media;

/* One request slot with its own easy handle (reused: keeps its
 * connection in the multi handle's pool). */
struct http_req {
	struct http_media *m;
	CURL *easy;
	enum http_kind kind;
	char *buf;
	uint64_t off;
	uint32_t len, got;
	uint64_t total;             /* from Content-Range */
	bool active, done, checked;
	unsigned attempts;
	int64_t retry_at;           /* ms, CLOCK_MONOTONIC */
	enum http_fail fail;         /* of the current attempt */
	long status;
	char errbuf[CURL_ERROR_SIZE];
	/* The last failed attempt, reported when the deadline passes while
	 * a retry is under way. */
	enum http_fail last_fail;
	long last_status;
	char last_err[CURL_ERROR_SIZE];
};

/* A lane serves one call at a time: its own multi handle (and so its own
 * connection pool) and `connections` request slots.  Calls on different
 * lanes share nothing in libcurl, so they run at the same time. */
struct http_lane {
	CURLM *multi;
	struct http_req req[HTTP_MAX_CONNS];
	struct http_lane *next_free;   /* on the free list; under lane_lock */
};

struct http_media {
	struct http_cfg cfg;
	char redacted[256];
	/* A client's source: every hop is checked against it (http-io.c's
	 * prerequest callback).  NULL for the config's sources. */
	const struct uri_policy *policy;
	struct http_lane *lanes;     /* cfg.lanes of them */
	pthread_mutex_t lane_lock;   /* protects free_lanes */
	pthread_cond_t lane_freed;
	struct http_lane *free_lanes;
	uint64_t size;              /* pinned at open; 0 while probing */
	char *etag, *last_modified; /* pinned at open, or NULL */
	atomic_bool changed;        /* sticky: the object changed */
	long http_version;          /* CURL_HTTP_VERSION_* seen at open */
	struct http_stream *stream; /* no Range support: the download
	                             * (http-stream.c), else NULL */
};

/* http-io.c */
int64_t http_now_ms(void);
/* Sets up req[i]'s easy handle with the source's options.  0 or -1. */
int http_req_init(struct http_media *m, struct http_req *r);
/* Runs l->req[0..n) (already filled: kind, buf, off, len) on the lane the
 * caller holds, until all succeed, one fails for good, or the deadline
 * passes.  Returns 0 or the failure of the first request that did not
 * succeed (r->fail, r->status, r->errbuf). */
int http_transfer(struct http_media *m, struct http_lane *l, unsigned n,
		  int64_t deadline_ms, struct http_req **failed);
/* The backend error for a failure at the end of a call. */
int http_fail_to_err(enum http_fail f);
const char *http_fail_name(enum http_fail f);
/* A response header of the last request, or NULL. */
const char *http_header(CURL *easy, const char *name);

/* http.c: the source's TLS and credential options on an easy handle.
 * 0 or -1. */
int http_req_auth(struct http_media *m, CURL *e);

/* http-stream.c: the whole-object download of a server without Range
 * support (no-range=download), read in order.  new: 0 or -1; read:
 * 0 or an enum backend_err (BE_ERETRY while the bytes have not arrived
 * within timeout-ms). */
int http_stream_new(struct http_media *m);
void http_stream_free(struct http_media *m);
int http_stream_read(struct http_media *m, char *buf, uint32_t count,
		     uint64_t off);

/* http-parse.c: "bytes FIRST-LAST/TOTAL" (RFC 9110 14.4) with a known
 * total; strict, no whitespace games beyond what the RFC allows.
 * Returns 0 or -1. */
int http_parse_content_range(const char *s, uint64_t *first, uint64_t *last,
			     uint64_t *total);
/* True when an Accept-Ranges value lists "bytes" (case-insensitive). */
bool http_accepts_bytes(const char *s);

#endif
