/* api.c — the HTTP side of the admin API: the libmicrohttpd daemon,
 * request bodies, the bearer token, and turning replies into responses.
 * Routes are in api_routes.c, the event stream in api_sse.c.
 *
 * Per request, libmicrohttpd calls api_access() several times:
 *
 *   1st call          headers are known: auth → 401 and a declared
 *                     Content-Length over max_body → 413 at once, before
 *                     a byte of the body is read; else allocate
 *                     struct api_conn
 *   calls with data   append to the body, or only count it past max_body
 *                     (a chunked body that grows too large)
 *   last call         size → 413, then route and respond
 *
 * An early answer makes libmicrohttpd close the connection after it, so
 * an unauthenticated client cannot make us read (or wait for) a body.
 * Connection limits, the per-request deadline, the event-stream caps and
 * the log rate limit are api_guard.c's.
 */
#include "api_int.h"
#include "warm.h"
#include "events.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define API_CONN_TIMEOUT 30      /* seconds idle before a connection drops */
#define API_THREAD_STACK (512 * 1024)
#define API_TLS_FILE_MAX (1 << 20)

#define API_STR2(x) #x
#define API_STR(x) API_STR2(x)

struct api_conn {
	char *body;
	size_t len, cap;
	size_t seen;                 /* bytes received, kept or not */
	bool too_large;
};

/* ---- responses ---------------------------------------------------------- */

static void api_count(struct api_server *s, unsigned status)
{
	if (status >= 200 && status < 600)
		atomic_fetch_add(&s->replies[status / 100], 1);
}

static enum MHD_Result api_send(struct api_server *s, struct MHD_Connection *c,
				struct api_reply *rp)
{
	struct MHD_Response *r;
	const char *body = rp->text, *type = rp->content_type;
	size_t len = rp->text_len;
	char *json = NULL;
	enum MHD_Result ret;

	if (rp->json || !rp->text) {
		const char *j = json_object_to_json_string_ext(rp->json,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		if (asprintf(&json, "%s\n", j) < 0)
			return MHD_NO;
		body = json;
		len = strlen(json);
		type = "application/json";
	}
	r = MHD_create_response_from_buffer(len, (void *)body,
					    MHD_RESPMEM_MUST_COPY);
	free(json);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (rp->allow)
		MHD_add_response_header(r, "Allow", rp->allow);
	if (rp->status == 401)
		MHD_add_response_header(r, "WWW-Authenticate",
					"Bearer realm=\"netstick\"");
	api_count(s, rp->status);
	ret = MHD_queue_response(c, rp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result api_send_error(struct api_server *s,
				      struct MHD_Connection *c,
				      unsigned status, const char *code,
				      const char *msg)
{
	struct api_reply rp = { .status = 0 };
	enum MHD_Result r;

	api_error(&rp, status, code, "%s", msg);
	r = api_send(s, c, &rp);
	api_reply_free(&rp);
	return r;
}

/* ---- requests ----------------------------------------------------------- */

static const char *api_query(void *ctx, const char *key)
{
	return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

/* Keeps at most max_body bytes; counts the rest. */
static void api_take_body(struct api_server *s, struct api_conn *ac,
			  const char *data, size_t n)
{
	size_t max = s->cfg->api.max_body;

	ac->seen += n;
	if (ac->too_large || ac->len + n > max) {
		ac->too_large = true;
		return;
	}
	if (ac->len + n + 1 > ac->cap) {
		size_t cap = ac->len + n + 1 > 2 * ac->cap ? ac->len + n + 1
							   : 2 * ac->cap;
		char *b = realloc(ac->body, cap);
		if (!b) {
			ac->too_large = true;
			return;
		}
		ac->body = b;
		ac->cap = cap;
	}
	memcpy(ac->body + ac->len, data, n);
	ac->len += n;
	ac->body[ac->len] = '\0';
}

static bool api_is_api(const char *url)
{
	return strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0 ||
	       strcmp(url, "/metrics") == 0;
}

static void api_audit(struct api_server *s, const char *method,
		      const char *url, unsigned status)
{
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	    api_guard_log_ok(&s->guard))
		log_info("api: %s %.200s: %u", method, url, status);
}

static bool api_authorized(struct api_server *s, struct MHD_Connection *c)
{
	return api_token_ok(s->token, MHD_lookup_connection_value(c,
			    MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
}

static enum MHD_Result api_send_401(struct api_server *s,
				    struct MHD_Connection *c)
{
	atomic_fetch_add(&s->auth_failures, 1);
	return api_send_error(s, c, 401, "unauthorized", "a valid "
			      "\"Authorization: Bearer TOKEN\" header is "
			      "required");
}

static enum MHD_Result api_send_413(struct api_server *s,
				    struct MHD_Connection *c)
{
	char msg[128];

	snprintf(msg, sizeof msg, "the body is larger than %u bytes "
		 "(api.max_body)", s->cfg->api.max_body);
	return api_send_error(s, c, 413, "body_too_large", msg);
}

/* A declared Content-Length over max_body (chunked bodies are counted as
 * they come). */
static bool api_declared_too_large(struct api_server *s,
				   struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;
	unsigned long long n;

	if (!v)
		return false;
	errno = 0;
	n = strtoull(v, &end, 10);
	return errno != 0 || end == v || n > s->cfg->api.max_body;
}

static enum MHD_Result api_answer_events(struct api_server *s,
					 struct MHD_Connection *c,
					 const char *method)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (strcmp(method, "HEAD") == 0) {
		r = api_sse_head_response();
	} else {
		r = api_sse_response(s, api_guard_peer(c),
			MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    "Last-Event-ID"));
		if (!r && errno == EAGAIN) {
			atomic_fetch_add(&s->sse_refused, 1);
			return api_send_error(s, c, 503, "too_many_streams",
				"too many event streams (at most " 
				API_STR(API_SSE_PER_IP) " per address, "
				API_STR(API_SSE_MAX) " in all)");
		}
	}
	if (!r)
		return MHD_NO;
	api_count(s, 200);
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result api_answer_api(struct api_server *s,
				      struct MHD_Connection *c,
				      const char *url, const char *method,
				      struct api_conn *ac)
{
	struct api_request rq = {
		.method = method, .path = url, .body = ac->body,
		.body_len = ac->len, .query = api_query, .query_ctx = c,
	};
	struct api_reply rp;
	enum MHD_Result r;

	if (ac->too_large)
		return api_send_413(s, c);
	if (strcmp(url, API_PREFIX "/events") == 0 &&
	    (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0))
		return api_answer_events(s, c, method);
	api_route(s, &rq, &rp);
	api_audit(s, method, url, rp.status);
	r = api_send(s, c, &rp);
	api_reply_free(&rp);
	return r;
}

static enum MHD_Result api_answer_static(struct api_server *s,
					 struct MHD_Connection *c,
					 const char *url, const char *method)
{
	struct MHD_Response *r;
	unsigned status;
	enum MHD_Result ret;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return api_send_error(s, c, 405, "method_not_allowed",
				      "only GET is allowed here");
	r = api_static_response(s->cfg->api.webui_dir, url, &status);
	if (!r)
		return api_send_error(s, c, 404, "not_found",
				      "no such resource");
	api_count(s, status);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result api_access(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **ptr)
{
	struct api_server *s = cls;
	struct api_conn *ac = *ptr;

	(void)version;
	if (!ac) {
		/* Headers only so far: refuse before reading any body. */
		if (api_is_api(url) && !api_authorized(s, c))
			return api_send_401(s, c);
		if (api_is_api(url) && api_declared_too_large(s, c))
			return api_send_413(s, c);
		if ((ac = calloc(1, sizeof *ac)) == NULL)
			return MHD_NO;
		*ptr = ac;
		return MHD_YES;
	}
	if (*upload_size) {
		api_take_body(s, ac, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	api_guard_answering(&s->guard, api_guard_peer(c));
	if (api_is_api(url))
		return api_answer_api(s, c, url, method, ac);
	if (redfish_is_path(url))
		return (enum MHD_Result)redfish_answer(s->redfish, c, url,
			method, ac->body, ac->len, ac->too_large);
	return api_answer_static(s, c, url, method);
}

static void api_completed(void *cls, struct MHD_Connection *c, void **ptr,
			  enum MHD_RequestTerminationCode toe)
{
	struct api_server *s = cls;
	struct api_conn *ac = *ptr;

	(void)toe;
	api_guard_completed(&s->guard, api_guard_peer(c));
	if (ac) {
		free(ac->body);
		free(ac);
		*ptr = NULL;
	}
}

static void api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct api_server *s = cls;
	char msg[512];

	/* Refused connections (limits reached) log here: under a flood,
	 * one line per refusal would fill the disk. */
	if (!api_guard_log_ok(&s->guard))
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warnx("api: %s", msg);
}

/* ---- start and stop ------------------------------------------------------- */

/* A PEM file for TLS: a regular file (opened O_NONBLOCK, so a FIFO is
 * refused, not waited on) of 1 byte to 1 MiB. */
static char *api_read_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	char *buf = NULL;
	struct stat st;
	ssize_t n = -1;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > 0 && st.st_size < API_TLS_FILE_MAX &&
	    (buf = calloc(1, (size_t)st.st_size + 1)) != NULL)
		n = read(fd, buf, (size_t)st.st_size);
	if (n != (fd >= 0 && buf ? (ssize_t)st.st_size : -2)) {
		log_errx("api: cannot read %s (a regular file of at most "
			 "1 MiB)%s%s", path, errno ? ": " : "",
			 errno ? strerror(errno) : "");
		free(buf);
		buf = NULL;
	}
	if (fd >= 0)
		close(fd);
	return buf;
}

static struct addrinfo *api_resolve(const struct config_api *a)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char port[8], host[72];
	int r;

	snprintf(port, sizeof port, "%u", a->port);
	snprintf(host, sizeof host, "%s", a->listen);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if ((r = getaddrinfo(host, port, &hints, &ai)) != 0) {
		log_errx("api: listen address %s: %s", a->listen,
			 gai_strerror(r));
		return NULL;
	}
	return ai;
}

static int api_start_mhd(struct api_server *s, char *cert, char *key)
{
	const struct config_api *a = &s->cfg->api;
	struct addrinfo *ai = api_resolve(a);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
			 MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;

	if (!ai)
		return -1;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cert)
		flags |= MHD_USE_TLS;
	s->mhd = MHD_start_daemon(flags, (uint16_t)a->port, NULL, NULL,
		api_access, s,
		MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, s,
		MHD_OPTION_SOCK_ADDR, ai->ai_addr,
		MHD_OPTION_NOTIFY_COMPLETED, api_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, api_guard_notify, s,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_CONN_LIMIT,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)API_CONN_PER_IP,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_CONN_TIMEOUT,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)API_THREAD_STACK,
		cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
		MHD_OPTION_HTTPS_MEM_KEY, key,
		MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!s->mhd) {
		log_errx("api: cannot listen on %s port %u", a->listen, a->port);
		return -1;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : a->port;
	return 0;
}

struct api_server *api_start(const struct config *cfg, struct lun *luns,
			     unsigned nluns, bool usb_enabled)
{
	struct api_server *s = calloc(1, sizeof *s);
	char *cert = NULL, *key = NULL;
	bool rf_failed;

	if (!s)
		return NULL;
	s->cfg = cfg;
	s->luns = luns;
	s->nluns = nluns;
	s->usb_enabled = usb_enabled;
	s->started_ms = api_now_ms();
	s->tls = cfg->api.tls_cert != NULL;
	pthread_mutex_init(&s->udc_lock, NULL);
	if (s->tls && !MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		log_errx("api: this libmicrohttpd has no TLS support");
		goto fail;
	}
	if (s->tls && (!(cert = api_read_file(cfg->api.tls_cert)) ||
		       !(key = api_read_file(cfg->api.tls_key))))
		goto fail;
	if (api_token_load(&cfg->api, cfg->path, s->token,
			   sizeof s->token) < 0 ||
	    media_policy_init(&s->policy, &cfg->api) < 0 || events_open() < 0)
		goto fail;
	s->media = (struct media_service){ .cfg = cfg, .policy = &s->policy };
	s->redfish = redfish_new(cfg, luns, nluns, &s->media, &rf_failed);
	if (rf_failed)
		goto fail;
	if (!(s->warm = warm_start(cfg, &s->media)))
		goto fail;
	lun_set_observer(api_sse_lun_observer, s);
	if (api_stats_start(s) < 0 || api_guard_start(s) < 0 || api_start_mhd(s, cert, key) < 0)
		goto fail;
	log_info("api: listening on %s://%s:%u/", s->tls ? "https" : "http",
		 cfg->api.listen, s->port);
	free(cert);
	free(key);
	return s;
fail:
	free(cert);
	free(key);
	api_stop(s);
	return NULL;
}

void api_stop(struct api_server *s)
{
	if (!s)
		return;
	lun_set_observer(NULL, NULL);
	api_stats_stop(s);        /* before the warm service and the LUNs */
	events_close();           /* ends the event streams */
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	api_guard_stop(s);
	warm_stop(s->warm);       /* no API thread left: cancel, join */
	redfish_free(s->redfish);
	media_policy_fini(&s->policy);
	pthread_mutex_destroy(&s->udc_lock);
	explicit_bzero(s->token, sizeof s->token);
	free(s);
}

unsigned api_port(const struct api_server *s)
{
	return s ? s->port : 0;
}

void api_set_usb(struct api_server *s, enum usb_state state)
{
	char data[96];

	if (!s || atomic_exchange(&s->usb_state, (int)state) == (int)state)
		return;
	snprintf(data, sizeof data, "{\"state\":\"%s\"}",
		 api_usb_state_name(state));
	events_publish("usb", data);
}

void api_set_udc(struct api_server *s, const char *udc)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->udc_lock);
	snprintf(s->udc, sizeof s->udc, "%s", udc ? udc : "");
	pthread_mutex_unlock(&s->udc_lock);
}
