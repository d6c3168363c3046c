/* http.c — the CLI's HTTP: libcurl easy handles, bearer token, JSON
 * bodies, and the Server-Sent Events parser for `netstick watch`. */
#include "cli.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_REPLY_MAX (16 << 20)

struct buf {
	char *data;
	size_t len;
	bool overflow;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n;
	char *d;

	if (b->len + len > CLI_REPLY_MAX) {
		b->overflow = true;
		return 0;
	}
	if ((d = realloc(b->data, b->len + len + 1)) == NULL)
		return 0;
	memcpy(d + b->len, p, len);
	b->data = d;
	b->len += len;
	d[b->len] = '\0';
	return len;
}

static CURL *cli_easy(const struct cli *c, const char *path,
		      struct curl_slist **hdrs, char *url, size_t urllen)
{
	CURL *h = curl_easy_init();
	char auth[600];

	if (!h)
		return NULL;
	snprintf(url, urllen, "%s%s", c->url, path);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
	*hdrs = curl_slist_append(NULL, auth);
	*hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->cacert)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	return h;
}

int cli_request(const struct cli *c, const char *method, const char *path,
		const char *body, long *status, json_object **reply,
		char **text)
{
	struct curl_slist *hdrs = NULL;
	struct buf b = { NULL, 0, false };
	char url[2048];
	CURL *h = cli_easy(c, path, &hdrs, url, sizeof url);
	CURLcode rc;

	if (!h)
		return -1;
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		fprintf(stderr, "netstick: %s: %s\n", c->url,
			b.overflow ? "reply too large" : curl_easy_strerror(rc));
		free(b.data);
		return -1;
	}
	*reply = b.data ? json_tokener_parse(b.data) : NULL;
	if (text)
		*text = b.data;
	else
		free(b.data);
	return 0;
}

/* ---- Server-Sent Events ------------------------------------------------ */

struct sse {
	struct buf line;      /* bytes since the last newline */
	char type[32];
	struct buf data;
	int (*on_event)(const char *, json_object *, void *);
	void *arg;
	bool stop;
};

static void sse_dispatch(struct sse *s)
{
	json_object *o;

	if (!s->data.len)
		return;
	o = json_tokener_parse(s->data.data);
	if (s->on_event(s->type[0] ? s->type : "message", o, s->arg))
		s->stop = true;
	json_object_put(o);
	s->type[0] = '\0';
	s->data.len = 0;
}

static void sse_line(struct sse *s, char *l)
{
	size_t n = strlen(l);

	if (n && l[n - 1] == '\r')
		l[--n] = '\0';
	if (n == 0) {
		sse_dispatch(s);
	} else if (strncmp(l, "event: ", 7) == 0) {
		snprintf(s->type, sizeof s->type, "%s", l + 7);
	} else if (strncmp(l, "data: ", 6) == 0) {
		on_body(l + 6, 1, n - 6, &s->data);
	}
}

static size_t on_stream(char *p, size_t size, size_t n, void *arg)
{
	struct sse *s = arg;
	size_t len = size * n;

	for (size_t i = 0; i < len && !s->stop; i++) {
		if (p[i] == '\n') {
			sse_line(s, s->line.data ? s->line.data : (char[]){ 0 });
			s->line.len = 0;
			if (s->line.data)
				s->line.data[0] = '\0';
		} else if (on_body(p + i, 1, 1, &s->line) != 1) {
			return 0;
		}
	}
	return s->stop ? 0 : len;
}

int cli_stream(const struct cli *c,
	       int (*on_event)(const char *, json_object *, void *), void *arg)
{
	struct curl_slist *hdrs = NULL;
	struct sse s = { .on_event = on_event, .arg = arg };
	char url[2048];
	CURL *h = cli_easy(c, "/api/v1/events", &hdrs, url, sizeof url);
	CURLcode rc;
	long status = 0;

	if (!h)
		return CLI_ERR;
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	free(s.line.data);
	free(s.data.data);
	if (s.stop)
		return CLI_OK;
	if (status >= 400)
		return cli_fail(status, NULL);
	if (rc != CURLE_OK) {
		fprintf(stderr, "netstick: %s: %s\n", c->url,
			curl_easy_strerror(rc));
		return CLI_CONNECT;
	}
	return CLI_OK;
}
