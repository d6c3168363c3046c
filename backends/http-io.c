/* http-io.c — range requests on a curl multi handle, with retries.
 *
 * A call (a read, or a probe at open) is a few requests run together on
 * the multi handle of one lane (http.h), which the call holds alone: the
 * lane's connection pool is kept between calls (keep-alive) and HTTP/2
 * multiplexes them on one connection when offered.  The calling thread
 * drives the multi handle until every request succeeded, one failed for
 * good, or the call's deadline passed; nothing runs between calls.  Calls
 * on other lanes run at the same time on their own threads: nothing here
 * touches anything outside the lane but the media's fixed fields.
 *
 * Each response is checked before a byte is kept (http_req_check), from
 * the first body callback or, for empty bodies, at completion:
 *
 *   status   206 required for a range; 200 means the server ignored Range
 *            and the transfer is cut at once (never a full download)
 *   range    Content-Range must be exactly the bytes asked for
 *   version  the total in Content-Range, ETag and Last-Modified must be
 *            those pinned at open, else the object changed
 *
 *   failure                         retried?  at the deadline / at once
 *   connect, reset, stall           yes       BE_ERETRY
 *   408 429 503 504                 yes       BE_ERETRY
 *   other 5xx, short body           yes       BE_EIO_READ
 *   200 for a range, bad range,
 *   long body, 4xx, TLS refused     no        BE_EIO_READ
 *   404 410                         no        BE_ENOMEDIUM
 *   changed object, 412, 416        no        BE_ECHANGED
 */
#include "http.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define HTTP_BACKOFF_MIN_MS 50
#define HTTP_BACKOFF_MAX_MS 1000

int64_t http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *http_header(CURL *easy, const char *name)
{
	struct curl_header *h;

	if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return NULL;
	return h->value;
}

int http_fail_to_err(enum http_fail f)
{
	switch (f) {
	case HTTP_OK: return 0;
	case HTTP_FAIL_CONN: case HTTP_FAIL_BUSY: return BE_ERETRY;
	case HTTP_FAIL_CHANGED: return BE_ECHANGED;
	case HTTP_FAIL_GONE: return BE_ENOMEDIUM;
	default: return BE_EIO_READ;
	}
}

const char *http_fail_name(enum http_fail f)
{
	static const char *const names[] = {
		[HTTP_OK] = "ok",
		[HTTP_FAIL_CONN] = "connection failed",
		[HTTP_FAIL_BUSY] = "server busy",
		[HTTP_FAIL_5XX] = "server error",
		[HTTP_FAIL_SHORT] = "short body",
		[HTTP_FAIL_NORANGE] = "server ignored the Range header "
			"(200 with the whole object)",
		[HTTP_FAIL_BADRANGE] = "Content-Range is not the range asked for",
		[HTTP_FAIL_LONG] = "body longer than the range",
		[HTTP_FAIL_CHANGED] = "object changed since it was opened",
		[HTTP_FAIL_GONE] = "object not found",
		[HTTP_FAIL_STATUS] = "unexpected HTTP status",
		[HTTP_FAIL_TLS] = "TLS certificate refused",
		[HTTP_FAIL_CURL] = "transfer failed",
		[HTTP_FAIL_POLICY] = "redirected to a host or scheme the "
				     "source policy refuses",
	};

	return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "?";
}

static enum http_fail http_status_fail(long code)
{
	switch (code) {
	case 408: case 429: case 503: case 504: return HTTP_FAIL_BUSY;
	case 404: case 410: return HTTP_FAIL_GONE;
	case 412: case 416: return HTTP_FAIL_CHANGED;
	default: return code >= 500 ? HTTP_FAIL_5XX : HTTP_FAIL_STATUS;
	}
}

/* Same validator as pinned?  An absent one in the response proves
 * nothing either way. */
static bool http_same(const char *pinned, const char *now)
{
	return !pinned || !now || strcmp(pinned, now) == 0;
}

static enum http_fail http_check_206(struct http_req *r)
{
	struct http_media *m = r->m;
	uint64_t first, last;

	if (http_parse_content_range(http_header(r->easy, "Content-Range"),
				     &first, &last, &r->total) < 0)
		return HTTP_FAIL_BADRANGE;
	if ((m->size && r->total != m->size) ||
	    !http_same(m->etag, http_header(r->easy, "ETag")) ||
	    !http_same(m->last_modified, http_header(r->easy, "Last-Modified")))
		return HTTP_FAIL_CHANGED;
	if (first != r->off || last != r->off + r->len - 1)
		return HTTP_FAIL_BADRANGE;
	return HTTP_OK;
}

static enum http_fail http_req_check(struct http_req *r)
{
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	r->checked = true;
	if (r->kind == HTTP_REQ_HEAD)
		return r->status / 100 == 2 ? HTTP_OK
					    : http_status_fail(r->status);
	if (r->status == 206)
		return http_check_206(r);
	if (r->status == 200)
		return HTTP_FAIL_NORANGE;
	return http_status_fail(r->status);
}

/* Body callback: checks the response once, then copies at most what was
 * asked.  Returning a short count makes libcurl abort the transfer. */
static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
	struct http_req *r = ud;
	size_t n = size * nmemb;

	if (!r->checked && (r->fail = http_req_check(r)) != HTTP_OK)
		return 0;
	if (n > r->len - r->got) {
		r->fail = HTTP_FAIL_LONG;
		return 0;
	}
	memcpy(r->buf + r->got, data, n);
	r->got += (uint32_t)n;
	return n;
}

static enum http_fail http_curl_fail(CURLcode res)
{
	switch (res) {
	case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT: case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM: case CURLE_SSL_CONNECT_ERROR:
		return HTTP_FAIL_CONN;
	case CURLE_PARTIAL_FILE:
		return HTTP_FAIL_SHORT;
	case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_ISSUER_ERROR:
		return HTTP_FAIL_TLS;
	case CURLE_TOO_MANY_REDIRECTS:
		return HTTP_FAIL_STATUS;
	default:
		return HTTP_FAIL_CURL;
	}
}

/* Classifies a finished transfer. */
static void http_req_finish(struct http_req *r, CURLcode res)
{
	if (res == CURLE_ABORTED_BY_CALLBACK && r->fail == HTTP_FAIL_POLICY) {
		/* A refused hop: our reason, not libcurl's "aborted". */
		snprintf(r->errbuf, sizeof r->errbuf, "%s",
			 http_fail_name(HTTP_FAIL_POLICY));
		return;
	}
	if (res == CURLE_WRITE_ERROR && r->fail != HTTP_OK)
		return;                   /* our own abort, reason kept */
	if (res != CURLE_OK) {
		r->fail = http_curl_fail(res);
		return;
	}
	if (!r->checked && (r->fail = http_req_check(r)) != HTTP_OK)
		return;
	if (r->kind == HTTP_REQ_RANGE && r->got != r->len)
		r->fail = HTTP_FAIL_SHORT;
}

/* Before each request is sent, on every redirect hop too: the URL it is
 * about to ask (CURLINFO_EFFECTIVE_URL, already the Location target) is
 * parsed and checked like the source itself.  A refused hop has its
 * connection made but nothing sent on it, credentials least of all. */
static int http_prereq_cb(void *clientp, char *primary_ip, char *local_ip,
			  int primary_port, int local_port)
{
	struct http_req *r = clientp;
	const char *code;
	char *url = NULL, msg[160];
	struct uri u;
	int ok;

	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	if (curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &url) !=
	    CURLE_OK || !url || uri_parse(url, &u, msg, sizeof msg) < 0) {
		r->fail = HTTP_FAIL_POLICY;
		return CURL_PREREQFUNC_ABORT;
	}
	ok = u.kind == URI_HTTP &&
	     uri_policy_check(r->m->policy, &u, &code, msg, sizeof msg) == 0;
	uri_free(&u);
	if (ok)
		return CURL_PREREQFUNC_OK;
	r->fail = HTTP_FAIL_POLICY;
	return CURL_PREREQFUNC_ABORT;
}

int http_req_init(struct http_media *m, struct http_req *r)
{
	const struct http_cfg *c = &m->cfg;
	CURL *e = r->easy = curl_easy_init();
	bool bad = !e;

	r->m = m;
	if (bad)
		return -1;
	bad |= curl_easy_setopt(e, CURLOPT_URL, c->url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, c->max_redirects ? 1L : 0L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)c->max_redirects) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, c->http2 ?
				(long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)c->low_speed_s) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "netstick/" NETSTICK_VERSION) != CURLE_OK;
	if (m->policy) {
		bad |= curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, http_prereq_cb) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_PREREQDATA, r) != CURLE_OK;
	}
	return bad ? -1 : 0;
}

static void http_req_start(struct http_lane *l, struct http_req *r,
			   int64_t deadline)
{
	char range[48];
	int64_t left = deadline - http_now_ms();

	r->got = 0;
	r->checked = false;
	r->fail = HTTP_OK;
	r->status = 0;
	r->errbuf[0] = '\0';
	r->attempts++;
	if (r->kind == HTTP_REQ_HEAD) {
		curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(r->easy, CURLOPT_RANGE, NULL);
	} else {
		/* The end of an HTTP range is inclusive. */
		snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, r->off,
			 r->off + r->len - 1);
		curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(r->easy, CURLOPT_RANGE, range);
	}
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)(left > 1 ? left : 1));
	r->active = curl_multi_add_handle(l->multi, r->easy) == CURLM_OK;
	if (!r->active)
		r->fail = HTTP_FAIL_CURL;
}

static void http_req_stop(struct http_lane *l, struct http_req *r)
{
	if (r->active)
		curl_multi_remove_handle(l->multi, r->easy);
	r->active = false;
}

/* Handles finished transfers: schedules retries, returns the first
 * request that failed for good (or NULL). */
static struct http_req *http_reap(struct http_media *m, struct http_lane *l,
				  int64_t deadline)
{
	struct http_req *r, *fatal = NULL;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(l->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		http_req_stop(l, r);
		http_req_finish(r, msg->data.result);
		if (r->fail == HTTP_OK) {
			r->done = true;
			continue;
		}
		r->last_fail = r->fail;
		r->last_status = r->status;
		memcpy(r->last_err, r->errbuf, sizeof r->last_err);
		unsigned ms = HTTP_BACKOFF_MIN_MS << (r->attempts < 5 ? r->attempts - 1 : 4);
		r->retry_at = http_now_ms() + (ms > HTTP_BACKOFF_MAX_MS ? HTTP_BACKOFF_MAX_MS : ms);
		log_debug(LOG_MOD_BACKEND, "http: %s: bytes %" PRIu64 "+%u: %s "
			  "(HTTP %ld%s%s), attempt %u", m->redacted, r->off,
			  r->len, http_fail_name(r->fail), r->status,
			  r->errbuf[0] ? ", " : "", r->errbuf, r->attempts);
		if ((r->fail >= HTTP_FAIL_FATAL || r->retry_at >= deadline) &&
		    !fatal)
			fatal = r;
	}
	return fatal;
}

/* Starts due retries; returns ms until the next one (or `cap`). */
static int64_t http_restart(struct http_lane *l, unsigned n, int64_t deadline,
			    int64_t cap)
{
	struct http_req *r = l->req;
	int64_t now = http_now_ms(), wait = cap;

	for (unsigned k = 0; k < n; k++) {
		if (r[k].done || r[k].active)
			continue;
		if (r[k].retry_at <= now)
			http_req_start(l, &r[k], deadline);
		else if (r[k].retry_at - now < wait)
			wait = r[k].retry_at - now;
	}
	return wait;
}

static bool http_all_done(const struct http_req *r, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		if (!r[k].done)
			return false;
	return true;
}

/* Explains a request that had not succeeded by the deadline: the last
 * failed attempt if there was one, else "no response in time". */
static struct http_req *http_unfinished(struct http_media *m,
					struct http_req *r)
{
	if (r->fail != HTTP_OK && !r->active)
		return r;                 /* failed, retry pending */
	if (r->last_fail != HTTP_OK) {
		r->fail = r->last_fail;
		r->status = r->last_status;
		memcpy(r->errbuf, r->last_err, sizeof r->errbuf);
	} else {
		r->fail = HTTP_FAIL_CONN;
		r->status = 0;
		snprintf(r->errbuf, sizeof r->errbuf,
			 "no response within %u ms", m->cfg.timeout_ms);
	}
	return r;
}

int http_transfer(struct http_media *m, struct http_lane *l, unsigned n,
		  int64_t deadline, struct http_req **failed)
{
	struct http_req *r = l->req, *bad = NULL;
	int running;

	for (unsigned k = 0; k < n; k++) {
		r[k].done = r[k].active = false;
		r[k].attempts = 0;
		r[k].retry_at = 0;
		r[k].last_fail = HTTP_OK;
	}
	while (!http_all_done(r, n)) {
		int64_t left = deadline - http_now_ms();
		int64_t wait = http_restart(l, n, deadline, left);
		if (left <= 0 || (bad = http_reap(m, l, deadline)))
			break;
		curl_multi_perform(l->multi, &running);
		if ((bad = http_reap(m, l, deadline)) || http_all_done(r, n))
			break;
		curl_multi_poll(l->multi, NULL, 0,
				(int)(wait < 1 ? 1 : wait > 500 ? 500 : wait), NULL);
	}
	for (unsigned k = 0; k < n; k++) {
		if (!bad && !r[k].done)
			bad = http_unfinished(m, &r[k]);
		http_req_stop(l, &r[k]);
	}
	if (failed)
		*failed = bad;
	return bad ? http_fail_to_err(bad->fail) : 0;
}
