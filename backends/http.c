/* http.c — HTTP(S) range backend on libcurl: http://, https://.
 *
 * Serves a remote image read-only with Range GETs (a cache layer adds a
 * copy-on-write overlay on top).  At open:
 *
 *   HEAD          status, size, Accept-Ranges, ETag, Last-Modified
 *                 (a server that refuses HEAD is tolerated)
 *   GET 0-0       must be 206 with "Content-Range: bytes 0-0/SIZE": a server
 *                 that ignores Range is refused here with a clear error,
 *                 before any full download could start
 *
 * The size, ETag and Last-Modified are pinned then; a later response that
 * disagrees means the object was replaced, and from then on every call
 * returns BE_ECHANGED: never a mix of two versions.
 *
 * Reads are split into up to `connections` pieces of at least chunk-size
 * (256 KiB by default, so a 120 KiB read is one range request) run
 * together on one curl multi handle (http-io.c), retried with backoff
 * until the call's deadline.
 *
 * Threads: BACKEND_PARALLEL.  A call takes a lane (http.h: a multi handle
 * and its easy handles, used by one call at a time) from the free list
 * under lane_lock, waiting on lane_freed when all `lanes` are busy, and
 * gives it back at the end; the lock is never held during a transfer.
 * So up to `lanes` reads run at the same time, each on its own
 * connections (at most lanes x connections to the server).  Everything
 * else is fixed at open except `changed`, an atomic.
 *
 * TLS: verified against the system store, or ca-file/ca-path.  Turning
 * verification off takes the explicit per-source option insecure=1, and is
 * logged at every open.  Credentials (user/password, bearer, header) come
 * from source options or the URI userinfo, and are never logged: messages
 * use backend_redact().
 */
#include "http.h"
#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const http_known_opts[] = {
	"connections", "lanes", "timeout-ms", "connect-timeout-ms", "low-speed-time",
	"chunk-size", "max-redirects", "http2", "insecure", "no-range", "ca-file",
	"ca-path", "client-cert", "client-key", "user", "password", "bearer",
	"header", NULL,
};

/* Never accepted in a URI fragment: a URI gets shown and logged. */
static const char *const http_secret_opts[] = {
	"user", "password", "bearer", "header", "client-key", NULL,
};

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLcode http_global_rc;

static void http_global_init(void)
{
	http_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- options --------------------------------------------------------- */

static int http_cfg_strs(struct http_cfg *c, const struct backend_optset *s)
{
	struct { char **dst; const char *key; } map[] = {
		{ &c->ca_file, "ca-file" }, { &c->ca_path, "ca-path" },
		{ &c->client_cert, "client-cert" },
		{ &c->client_key, "client-key" }, { &c->user, "user" },
		{ &c->password, "password" }, { &c->bearer, "bearer" },
	};

	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		const char *v = backend_opt_get(s, map[i].key);
		if (v && !(*map[i].dst = strdup(v)))
			return BE_ENOMEM;
	}
	for (const char **kv = s->kv; *kv; kv++) {
		struct curl_slist *l;
		if (strncmp(*kv, "header=", 7) != 0)
			continue;
		if (!(l = curl_slist_append(c->headers, *kv + 7)))
			return BE_ENOMEM;
		c->headers = l;
	}
	return 0;
}

/* no-range=refuse (default) | download. */
static int http_cfg_no_range(struct http_cfg *c,
			     const struct backend_optset *s, char *err,
			     size_t errlen)
{
	const char *v = backend_opt_get(s, "no-range");

	if (!v || strcmp(v, "refuse") == 0)
		return 0;
	if (strcmp(v, "download") == 0) {
		c->no_range_download = true;
		return 0;
	}
	snprintf(err, errlen, "option no-range: must be refuse or download");
	return BE_EOPEN;
}

static int http_cfg_parse(struct http_cfg *c, const struct backend_optset *s,
			  char *err, size_t errlen)
{
	if (backend_opt_uint(s, "connections", 4, 1, HTTP_MAX_CONNS,
			     &c->connections, err, errlen) < 0 ||
	    backend_opt_uint(s, "lanes", 4, 1, HTTP_MAX_LANES,
			     &c->lanes, err, errlen) < 0 ||
	    backend_opt_uint(s, "timeout-ms", 4000, 100, 60000,
			     &c->timeout_ms, err, errlen) < 0 ||
	    backend_opt_uint(s, "connect-timeout-ms", 3000, 100, 60000,
			     &c->connect_timeout_ms, err, errlen) < 0 ||
	    backend_opt_uint(s, "low-speed-time", 3, 1, 600,
			     &c->low_speed_s, err, errlen) < 0 ||
	    backend_opt_uint(s, "chunk-size", 262144, 4096, 1u << 24,
			     &c->chunk, err, errlen) < 0 ||
	    backend_opt_uint(s, "max-redirects", 5, 0, 20,
			     &c->max_redirects, err, errlen) < 0 ||
	    backend_opt_bool(s, "http2", true, &c->http2, err, errlen) < 0 ||
	    backend_opt_bool(s, "insecure", false, &c->insecure, err, errlen) < 0)
		return BE_EOPEN;
	if (http_cfg_no_range(c, s, err, errlen) < 0)
		return BE_EOPEN;
	if (http_cfg_strs(c, s) < 0) {
		snprintf(err, errlen, "out of memory");
		return BE_EOPEN;
	}
	return 0;
}

static void http_cfg_free(struct http_cfg *c)
{
	free(c->url);
	free(c->ca_file);
	free(c->ca_path);
	free(c->client_cert);
	free(c->client_key);
	free(c->user);
	free(c->password);
	free(c->bearer);
	curl_slist_free_all(c->headers);
	memset(c, 0, sizeof *c);
}

/* Refuses what libcurl would misread or we must not serve. */
static int http_check_url(const char *url, const char *shown, char *err,
			  size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int r = BE_EOPEN;

	if (!u)
		return BE_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		snprintf(err, errlen, "%s: malformed URL", shown);
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcmp(scheme, "http") && strcmp(scheme, "https")))
		snprintf(err, errlen, "%s: not an http or https URL", shown);
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
		 !host[0])
		snprintf(err, errlen, "%s: no host in URL", shown);
	else
		r = 0;
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

/* ---- easy handle options that come from the source options ------------ */

int http_req_auth(struct http_media *m, CURL *e)
{
	const struct http_cfg *c = &m->cfg;
	bool bad = false;

	if (c->insecure) {
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK;
	}
	if (c->ca_file)
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file) != CURLE_OK;
	if (c->ca_path)
		bad |= curl_easy_setopt(e, CURLOPT_CAPATH, c->ca_path) != CURLE_OK;
	if (c->client_cert)
		bad |= curl_easy_setopt(e, CURLOPT_SSLCERT, c->client_cert) != CURLE_OK;
	if (c->client_key)
		bad |= curl_easy_setopt(e, CURLOPT_SSLKEY, c->client_key) != CURLE_OK;
	if (c->user || c->password) {
		bad |= curl_easy_setopt(e, CURLOPT_USERNAME, c->user ? c->user : "") != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, c->password ? c->password : "") != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK;
	}
	if (c->bearer) {
		bad |= curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, c->bearer) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER) != CURLE_OK;
	}
	if (c->headers)
		bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK;
	return bad ? -1 : 0;
}

/* ---- open: probe and pin -------------------------------------------- */

/* A one-line reason for a failed probe request. */
static void http_probe_error(struct http_media *m, const struct http_req *r,
			     const char *what, char *err, size_t errlen)
{
	if (r->status >= 300 && r->fail != HTTP_FAIL_NORANGE)
		snprintf(err, errlen, "%s: %s: HTTP %ld", m->redacted, what,
			 r->status);
	else if (r->errbuf[0] && r->fail != HTTP_FAIL_NORANGE)
		snprintf(err, errlen, "%s: %s: %s", m->redacted, what, r->errbuf);
	else
		snprintf(err, errlen, "%s: %s: %s", m->redacted, what,
			 http_fail_name(r->fail));
}

static char *http_dup_header(CURL *e, const char *name)
{
	const char *v = http_header(e, name);

	return v && v[0] ? strdup(v) : NULL;
}

/* HEAD: returns 0 (headers read), 1 (server refuses HEAD: carry on
 * without) or an error with err set. */
static int http_probe_head(struct http_media *m, int64_t deadline,
			   curl_off_t *len, bool *ranges_none, bool *ranges_ok,
			   char *err, size_t errlen)
{
	struct http_req *r = &m->lanes[0].req[0], *bad;
	const char *ar;

	r->kind = HTTP_REQ_HEAD;
	if (http_transfer(m, &m->lanes[0], 1, deadline, &bad) < 0) {
		if (r->status == 405 || r->status == 501 || r->status == 403)
			return 1;
		http_probe_error(m, r, "HEAD", err, errlen);
		return BE_EOPEN;
	}
	curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, len);
	ar = http_header(r->easy, "Accept-Ranges");
	*ranges_none = ar && !http_accepts_bytes(ar);
	*ranges_ok = ar && http_accepts_bytes(ar);
	m->etag = http_dup_header(r->easy, "ETag");
	m->last_modified = http_dup_header(r->easy, "Last-Modified");
	return 0;
}

/* GET bytes=0-0: proves Range works, gives the size and validators. */
static int http_probe_range(struct http_media *m, int64_t deadline,
			    bool *ranges_ok, char *err, size_t errlen)
{
	struct http_req *r = &m->lanes[0].req[0], *bad;
	char byte;

	r->kind = HTTP_REQ_RANGE;
	r->buf = &byte;
	r->off = 0;
	r->len = 1;
	if (http_transfer(m, &m->lanes[0], 1, deadline, &bad) < 0) {
		http_probe_error(m, r, "range request", err, errlen);
		return BE_EOPEN;
	}
	m->size = r->total;
	if (!m->etag)
		m->etag = http_dup_header(r->easy, "ETag");
	if (!m->last_modified)
		m->last_modified = http_dup_header(r->easy, "Last-Modified");
	*ranges_ok |= http_accepts_bytes(http_header(r->easy, "Accept-Ranges"));
	curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &m->http_version);
	return 0;
}

/* No Range support, and no-range=download: the size from HEAD or the
 * 200 (which the range probe cut after its first bytes), the validators
 * from either; the reads then come from one download (http-stream.c). */
static int http_probe_download(struct http_media *m, curl_off_t len,
			       char *err, size_t errlen)
{
	CURL *e = m->lanes[0].req[0].easy;
	curl_off_t got = -1;

	curl_easy_getinfo(e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &got);
	if (len < 0)
		len = got;
	if (len <= 0) {
		snprintf(err, errlen, "%s: no Range support and no "
			 "Content-Length: the size is unknown", m->redacted);
		return BE_EOPEN;
	}
	m->size = (uint64_t)len;
	if (!m->etag)
		m->etag = http_dup_header(e, "ETag");
	if (!m->last_modified)
		m->last_modified = http_dup_header(e, "Last-Modified");
	if (http_stream_new(m) < 0) {
		snprintf(err, errlen, "cannot set up libcurl");
		return BE_EOPEN;
	}
	log_info("http: %s: the server has no Range support: served as it "
		 "downloads (no-range=download)", m->redacted);
	return 0;
}

/* Range probe failed with 200 (or HEAD said none): refuse, or download
 * when the source allows it. */
static int http_no_range(struct http_media *m, curl_off_t len,
			 const char *why, char *err, size_t errlen)
{
	if (m->cfg.no_range_download)
		return http_probe_download(m, len, err, errlen);
	if (why)
		snprintf(err, errlen, "%s: %s", m->redacted, why);
	return BE_EOPEN;
}

static int http_probe(struct http_media *m, char *err, size_t errlen)
{
	int64_t deadline = http_now_ms() + m->cfg.timeout_ms;
	curl_off_t len = -1;
	bool none = false, ok = false;
	int r = http_probe_head(m, deadline, &len, &none, &ok, err, errlen);

	if (r < 0)
		return r;
	if (none && m->cfg.no_range_download && r == 0)
		return http_probe_download(m, len, err, errlen);
	if (none) {
		snprintf(err, errlen, "%s: server says Accept-Ranges: none",
			 m->redacted);
		return BE_EOPEN;
	}
	if (http_probe_range(m, deadline, &ok, err, errlen) < 0)
		return m->lanes[0].req[0].fail == HTTP_FAIL_NORANGE
			       ? http_no_range(m, len, NULL, err, errlen)
			       : BE_EOPEN;
	if (!ok)
		return http_no_range(m, len, "server does not send "
				     "Accept-Ranges: bytes", err, errlen);
	if (r == 0 && len >= 0 && (uint64_t)len != m->size) {
		snprintf(err, errlen, "%s: HEAD says %" PRId64 " bytes, "
			 "Content-Range says %" PRIu64, m->redacted,
			 (int64_t)len, m->size);
		return BE_EOPEN;
	}
	return 0;
}

/* ---- open and close -------------------------------------------------- */

static void http_lane_free(struct http_lane *l)
{
	for (unsigned i = 0; i < HTTP_MAX_CONNS; i++) {
		if (!l->req[i].easy)
			continue;
		if (l->req[i].active)
			curl_multi_remove_handle(l->multi, l->req[i].easy);
		curl_easy_cleanup(l->req[i].easy);
	}
	if (l->multi)
		curl_multi_cleanup(l->multi);
}

static void http_media_free(struct http_media *m)
{
	http_stream_free(m);
	for (unsigned i = 0; m->lanes && i < m->cfg.lanes; i++)
		http_lane_free(&m->lanes[i]);
	free(m->lanes);
	pthread_cond_destroy(&m->lane_freed);
	pthread_mutex_destroy(&m->lane_lock);
	free(m->etag);
	free(m->last_modified);
	http_cfg_free(&m->cfg);
	free(m);
}

/* A multi handle and `connections` easy handles.  0 or -1. */
static int http_lane_init(struct http_media *m, struct http_lane *l)
{
	l->multi = curl_multi_init();
	if (!l->multi ||
	    curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			      (long)m->cfg.connections) != CURLM_OK ||
	    curl_multi_setopt(l->multi, CURLMOPT_PIPELINING,
			      (long)CURLPIPE_MULTIPLEX) != CURLM_OK)
		return -1;
	for (unsigned i = 0; i < m->cfg.connections; i++)
		if (http_req_init(m, &l->req[i]) < 0 ||
		    http_req_auth(m, l->req[i].easy) < 0)
			return -1;
	return 0;
}

static int http_setup(struct http_media *m, const char *source,
		      const struct backend_open_opts *opts, char *err,
		      size_t errlen)
{
	struct backend_optset set;
	int r;

	if (backend_optset_init(&set, source, opts, http_known_opts,
				http_secret_opts, err, errlen) < 0)
		return BE_EOPEN;
	r = http_cfg_parse(&m->cfg, &set, err, errlen);
	m->cfg.url = set.uri;
	set.uri = NULL;
	backend_optset_free(&set);
	if (r < 0 || http_check_url(m->cfg.url, m->redacted, err, errlen) < 0)
		return BE_EOPEN;
	m->lanes = calloc(m->cfg.lanes, sizeof *m->lanes);
	if (!m->lanes)
		goto nomem;
	for (unsigned i = 0; i < m->cfg.lanes; i++) {
		if (http_lane_init(m, &m->lanes[i]) < 0)
			goto nomem;
		m->lanes[i].next_free = m->free_lanes;
		m->free_lanes = &m->lanes[i];
	}
	return 0;
nomem:
	snprintf(err, errlen, "cannot set up libcurl");
	return BE_EOPEN;
}

static int http_open(const char *source, const struct backend_open_opts *opts,
		     void **handle, char *err, size_t errlen)
{
	struct http_media *m;

	pthread_once(&http_once, http_global_init);
	if (http_global_rc != CURLE_OK) {
		snprintf(err, errlen, "libcurl initialisation failed");
		return BE_EOPEN;
	}
	m = calloc(1, sizeof *m);
	if (!m)
		return BE_ENOMEM;
	pthread_mutex_init(&m->lane_lock, NULL);
	pthread_cond_init(&m->lane_freed, NULL);
	atomic_init(&m->changed, false);
	backend_redact(source, m->redacted, sizeof m->redacted);
	m->policy = opts->policy;
	if (http_setup(m, source, opts, err, errlen) < 0 ||
	    http_probe(m, err, errlen) < 0) {
		http_media_free(m);
		return BE_EOPEN;
	}
	if (m->cfg.insecure)
		log_warnx("http: %s: TLS certificate verification is OFF "
			  "(insecure=1)", m->redacted);
	log_debug(LOG_MOD_BACKEND, "http: %s: %" PRIu64 " bytes, HTTP/%s, "
		  "%u lanes of %u connections, ETag %s, Last-Modified %s",
		  m->redacted, m->size,
		  m->http_version == CURL_HTTP_VERSION_2_0 ? "2" :
		  m->http_version == CURL_HTTP_VERSION_3 ? "3" : "1.1",
		  m->cfg.lanes, m->cfg.connections, m->etag ? m->etag : "none",
		  m->last_modified ? m->last_modified : "none");
	*handle = m;
	return 0;
}

static void http_close(void *handle)
{
	http_media_free(handle);
}

/* ---- operations ------------------------------------------------------ */

static int64_t http_get_size(void *handle)
{
	return (int64_t)((struct http_media *)handle)->size;
}

static int http_can_no(void *handle)
{
	(void)handle;
	return 0;   /* read-only: writes are refused centrally (BE_EROFS) */
}

/* Splits [off, off+count) into up to `connections` pieces on lane l. */
static unsigned http_split(struct http_media *m, struct http_lane *l,
			   char *buf, uint32_t count, uint64_t off)
{
	unsigned n = (count + m->cfg.chunk - 1) / m->cfg.chunk;
	uint32_t piece, done = 0;

	if (n > m->cfg.connections)
		n = m->cfg.connections;
	piece = (count + n - 1) / n;
	piece = (piece + 4095) & ~4095u;
	for (n = 0; done < count; n++) {
		struct http_req *r = &l->req[n];
		r->kind = HTTP_REQ_RANGE;
		r->buf = buf + done;
		r->off = off + done;
		r->len = count - done < piece ? count - done : piece;
		done += r->len;
	}
	return n;
}

/* Takes a free lane, waiting while all are busy. */
static struct http_lane *http_lane_take(struct http_media *m)
{
	struct http_lane *l;

	pthread_mutex_lock(&m->lane_lock);
	while (!m->free_lanes)
		pthread_cond_wait(&m->lane_freed, &m->lane_lock);
	l = m->free_lanes;
	m->free_lanes = l->next_free;
	pthread_mutex_unlock(&m->lane_lock);
	return l;
}

static void http_lane_give(struct http_media *m, struct http_lane *l)
{
	pthread_mutex_lock(&m->lane_lock);
	l->next_free = m->free_lanes;
	m->free_lanes = l;
	pthread_cond_signal(&m->lane_freed);
	pthread_mutex_unlock(&m->lane_lock);
}

/* Runs one read on lane l; logs the reason of a failure (while the lane,
 * and so *bad, is still ours). */
static int http_read_on(struct http_media *m, struct http_lane *l, char *buf,
			uint32_t count, uint64_t off)
{
	unsigned n = http_split(m, l, buf, count, off);
	struct http_req *bad;
	int r = http_transfer(m, l, n, http_now_ms() + m->cfg.timeout_ms, &bad);

	if (r == 0)
		return 0;
	if (r == BE_ECHANGED && !atomic_exchange(&m->changed, true)) {
		log_warnx("http: %s: the object changed (ETag, Last-Modified "
			  "or size): medium changed", m->redacted);
	} else if (r != BE_ECHANGED) {
		log_warnx("http: %s: read %u bytes at %" PRIu64 ": %s (HTTP %ld%s%s)",
			  m->redacted, count, off, http_fail_name(bad->fail),
			  bad->status, bad->errbuf[0] ? ", " : "", bad->errbuf);
	}
	return r;
}

static int http_pread(void *handle, void *buf, uint32_t count, uint64_t off)
{
	struct http_media *m = handle;
	struct http_lane *l;
	int r;

	if (atomic_load(&m->changed))
		return BE_ECHANGED;
	if (m->stream)
		return http_stream_read(m, buf, count, off);
	l = http_lane_take(m);
	r = http_read_on(m, l, buf, count, off);
	http_lane_give(m, l);
	return r;
}

static int http_ready(void *handle)
{
	return atomic_load(&((struct http_media *)handle)->changed) ?
		BE_ECHANGED : 0;
}

static unsigned http_max_in_flight(void *handle)
{
	return ((struct http_media *)handle)->cfg.connections;
}

/* source=, size=, and the validators pinned at open (http_check_206
 * refuses any response that disagrees, so the bytes served are this
 * version's).  Weak without ETag and Last-Modified. */
static int http_identity(void *handle, char *buf, size_t len)
{
	struct http_media *m = handle;
	char shown[512];
	int n;

	backend_redact(m->cfg.url, shown, sizeof shown);
	n = snprintf(buf, len, "source=%s\nsize=%" PRIu64 "%s%s%s%s", shown,
		     m->size, m->etag ? "\netag=" : "",
		     m->etag ? m->etag : "",
		     m->last_modified ? "\nlast-modified=" : "",
		     m->last_modified ? m->last_modified : "");
	if (n < 0 || (size_t)n >= len)
		return BE_EINVAL;
	return m->etag || m->last_modified ? 0 : 1;
}

static int http_sequential(void *handle)
{
	return ((struct http_media *)handle)->stream != NULL;
}

static const char *const http_schemes[] = { "http", "https", NULL };

const struct backend_ops backend_http_ops = {
	.ops_size = sizeof(struct backend_ops),
	.name = "http",
	.schemes = http_schemes,
	.thread_model = BACKEND_PARALLEL,
	.open = http_open,
	.close = http_close,
	.get_size = http_get_size,
	.can_write = http_can_no,
	.can_flush = http_can_no,
	.can_fua = http_can_no,
	.can_trim = http_can_no,
	.can_multi_conn = http_can_no,
	.pread = http_pread,
	.ready = http_ready,
	.max_in_flight = http_max_in_flight,
	.identity = http_identity,
	.sequential = http_sequential,
};
