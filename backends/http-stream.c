/* http-stream.c — media on a server without Range support, read in order
 * (the per-source option no-range=download).
 *
 * One GET of the whole object runs on a thread of its own, on its own
 * easy handle and connection, writing into a ring of HTTP_STREAM_RING
 * bytes; reads take bytes out of the ring in stream order.  The media is
 * therefore sequential (backend_ops.sequential): only a layer that keeps
 * what arrives (layers/pcache) can serve it to a host, and backend_open()
 * refuses it without one.
 *
 *   read(off)  off == the stream position: waits (at most timeout-ms) for
 *              the bytes, else BE_ERETRY with nothing consumed;
 *              off ahead: the bytes in between are skipped;
 *              off behind, or the download failed: a new GET from 0
 *
 * The first body bytes are checked like every range response: status 200,
 * the size and validators pinned at open, else BE_ECHANGED (sticky).
 *
 * Threads: the download thread and the callers share `lock`; the write
 * callback waits on `cond` while the ring is full (a stall the transfer's
 * low-speed limit tolerates for HTTP_STREAM_STALL_S), readers wait on it
 * for data.  A caller holds `read_lock` for its whole read, so reads are
 * in order even when several threads call.
 */
#include "http.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HTTP_STREAM_RING (8u << 20)
#define HTTP_STREAM_STALL_S 120

struct http_stream {
	struct http_media *m;
	pthread_mutex_t read_lock;    /* one reader at a time */
	pthread_mutex_t lock;         /* everything below */
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_live;             /* started and not joined */
	bool stop;                    /* the reader wants the thread gone */
	bool ended;                   /* the transfer finished (ok or not) */
	bool checked;
	enum http_fail fail;          /* of the ended transfer */
	char *ring;
	uint64_t pos;                 /* stream offset of the next unread byte */
	uint64_t got;                 /* stream bytes received */
	struct http_req req;          /* its easy handle and error buffer */
};

static size_t http_stream_avail(const struct http_stream *s)
{
	return (size_t)(s->got - s->pos);
}

/* The 200 and its headers, as http_check_206 does for ranges. */
static enum http_fail http_stream_check(struct http_stream *s)
{
	struct http_media *m = s->m;
	const char *et = http_header(s->req.easy, "ETag");
	const char *lm = http_header(s->req.easy, "Last-Modified");
	curl_off_t len = -1;

	curl_easy_getinfo(s->req.easy, CURLINFO_RESPONSE_CODE, &s->req.status);
	curl_easy_getinfo(s->req.easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
	if (s->req.status != 200)
		return s->req.status == 404 || s->req.status == 410
			       ? HTTP_FAIL_GONE : HTTP_FAIL_STATUS;
	if ((len >= 0 && (uint64_t)len != m->size) ||
	    (m->etag && et && strcmp(m->etag, et) != 0) ||
	    (m->last_modified && lm && strcmp(m->last_modified, lm) != 0))
		return HTTP_FAIL_CHANGED;
	return HTTP_OK;
}

/* Copies what fits into the ring, waiting while it is full. */
static size_t http_stream_write(char *data, size_t size, size_t nmemb,
				void *ud)
{
	struct http_stream *s = ud;
	size_t n = size * nmemb, done = 0;

	pthread_mutex_lock(&s->lock);
	if (!s->checked) {
		s->checked = true;
		if ((s->fail = http_stream_check(s)) != HTTP_OK)
			goto out;
	}
	if (s->got + n > s->m->size) {
		s->fail = HTTP_FAIL_LONG;
		goto out;
	}
	while (done < n && !s->stop) {
		size_t room = HTTP_STREAM_RING - http_stream_avail(s), k;
		size_t at = (size_t)(s->got % HTTP_STREAM_RING);
		if (!room) {
			pthread_cond_wait(&s->cond, &s->lock);
			continue;
		}
		k = n - done < room ? n - done : room;
		if (k > HTTP_STREAM_RING - at)
			k = HTTP_STREAM_RING - at;
		memcpy(s->ring + at, data + done, k);
		done += k;
		s->got += k;
		pthread_cond_broadcast(&s->cond);
	}
out:
	pthread_mutex_unlock(&s->lock);
	return done;   /* short: libcurl aborts the transfer */
}

static void *http_stream_thread(void *arg)
{
	struct http_stream *s = arg;
	CURLcode res = curl_easy_perform(s->req.easy);

	pthread_mutex_lock(&s->lock);
	if (s->fail == HTTP_OK && res != CURLE_OK)
		s->fail = res == CURLE_PARTIAL_FILE ? HTTP_FAIL_SHORT
						    : HTTP_FAIL_CONN;
	if (s->fail == HTTP_OK && s->got != s->m->size)
		s->fail = HTTP_FAIL_SHORT;
	s->ended = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Ends the download thread, if any; lock not held. */
static void http_stream_halt(struct http_stream *s)
{
	if (!s->thread_live)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	s->thread_live = false;
}

/* A new GET from offset 0; read_lock held. */
static int http_stream_restart(struct http_stream *s)
{
	http_stream_halt(s);
	s->stop = s->ended = s->checked = false;
	s->fail = HTTP_OK;
	s->pos = s->got = 0;
	s->req.errbuf[0] = '\0';
	curl_easy_setopt(s->req.easy, CURLOPT_HTTPGET, 1L);
	if (pthread_create(&s->thread, NULL, http_stream_thread, s) != 0)
		return BE_ENOMEM;
	s->thread_live = true;
	log_debug(LOG_MOD_BACKEND, "http: %s: downloading the whole object "
		  "(no Range support)", s->m->redacted);
	return 0;
}

/* Waits until want bytes are in the ring, the transfer ended, or the
 * deadline; lock held.  Returns false at the deadline. */
static bool http_stream_wait(struct http_stream *s, size_t want,
			     const struct timespec *deadline)
{
	while (http_stream_avail(s) < want && !s->ended)
		if (pthread_cond_timedwait(&s->cond, &s->lock, deadline) != 0)
			return http_stream_avail(s) >= want || s->ended;
	return true;
}

/* Takes up to n bytes (NULL buf: discards them); lock held. */
static size_t http_stream_take(struct http_stream *s, char *buf, size_t n)
{
	size_t k = http_stream_avail(s), at;

	if (k > n)
		k = n;
	at = (size_t)(s->pos % HTTP_STREAM_RING);
	if (k > HTTP_STREAM_RING - at)
		k = HTTP_STREAM_RING - at;
	if (buf)
		memcpy(buf, s->ring + at, k);
	s->pos += k;
	pthread_cond_broadcast(&s->cond);
	return k;
}

/* Moves to off, then reads count bytes; lock held. */
static int http_stream_copy(struct http_stream *s, char *buf, uint32_t count,
			    uint64_t off, const struct timespec *deadline)
{
	size_t done = 0;

	while (s->pos < off) {
		if (!http_stream_wait(s, 1, deadline))
			return BE_ERETRY;
		if (!http_stream_avail(s))
			return http_fail_to_err(s->fail ? s->fail : HTTP_FAIL_SHORT);
		http_stream_take(s, NULL, off - s->pos);
	}
	/* All of it, or nothing consumed (a retry at off must not restart). */
	if (count <= HTTP_STREAM_RING && !http_stream_wait(s, count, deadline))
		return BE_ERETRY;
	while (done < count) {
		if (!http_stream_avail(s)) {
			if (!http_stream_wait(s, 1, deadline))
				return BE_ERETRY;
			if (!http_stream_avail(s))
				return http_fail_to_err(s->fail ? s->fail
							      : HTTP_FAIL_SHORT);
		}
		done += http_stream_take(s, buf + done, count - done);
	}
	return 0;
}

int http_stream_read(struct http_media *m, char *buf, uint32_t count,
		     uint64_t off)
{
	struct http_stream *s = m->stream;
	struct timespec deadline;
	int r = 0;

	pthread_mutex_lock(&s->read_lock);
	pthread_mutex_lock(&s->lock);
	if (!s->thread_live || off < s->pos ||
	    (s->ended && s->fail != HTTP_OK)) {
		pthread_mutex_unlock(&s->lock);
		r = http_stream_restart(s);
		pthread_mutex_lock(&s->lock);
	}
	backend_deadline(&deadline, m->cfg.timeout_ms);
	if (r == 0)
		r = http_stream_copy(s, buf, count, off, &deadline);
	if (r == BE_ECHANGED && !atomic_exchange(&m->changed, true))
		log_warnx("http: %s: the object changed (ETag, Last-Modified "
			  "or size): medium changed", m->redacted);
	else if (r < 0 && r != BE_ERETRY)
		log_warnx("http: %s: download: %s (HTTP %ld%s%s)", m->redacted,
			  http_fail_name(s->fail), s->req.status,
			  s->req.errbuf[0] ? ", " : "", s->req.errbuf);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->read_lock);
	return r;
}

int http_stream_new(struct http_media *m)
{
	struct http_stream *s = calloc(1, sizeof *s);

	if (!s || !(s->ring = malloc(HTTP_STREAM_RING)) ||
	    http_req_init(m, &s->req) < 0 ||
	    http_req_auth(m, s->req.easy) < 0) {
		if (s) {
			if (s->req.easy)
				curl_easy_cleanup(s->req.easy);
			free(s->ring);
			free(s);
		}
		return -1;
	}
	s->m = m;
	curl_easy_setopt(s->req.easy, CURLOPT_WRITEFUNCTION, http_stream_write);
	curl_easy_setopt(s->req.easy, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->req.easy, CURLOPT_LOW_SPEED_TIME,
			 (long)HTTP_STREAM_STALL_S);
	pthread_mutex_init(&s->read_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	backend_cond_init(&s->cond);
	m->stream = s;
	return 0;
}

void http_stream_free(struct http_media *m)
{
	struct http_stream *s = m->stream;

	if (!s)
		return;
	http_stream_halt(s);
	curl_easy_cleanup(s->req.easy);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->read_lock);
	free(s->ring);
	free(s);
	m->stream = NULL;
}
