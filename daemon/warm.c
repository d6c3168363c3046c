/* warm.c — warm jobs (see warm.h for the states and the stack a job
 * opens).
 *
 * Each job owns a thread that opens the media, reads [0, total) in
 * chunks, and records its progress under the service's lock; readers
 * (the API) take a JSON snapshot under the same lock.  The rate shown is
 * an exponentially weighted average over about two seconds; the ETA is
 * what is left at that rate.
 */
#include "warm.h"
#include "backend.h"
#include "events.h"
#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WARM_CHUNK_MAX (1u << 20)
#define WARM_CHUNK_MIN (64u << 10)
#define WARM_RETRIES 50            /* BE_ERETRY, 200 ms apart */
#define WARM_MAX_LAYERS 16

enum warm_state {
	WARM_QUEUED, WARM_OPENING, WARM_RUNNING, WARM_DONE, WARM_FAILED,
	WARM_CANCELLED,
};

static const char *const warm_state_names[] = {
	[WARM_QUEUED] = "queued", [WARM_OPENING] = "opening",
	[WARM_RUNNING] = "running", [WARM_DONE] = "done",
	[WARM_FAILED] = "failed", [WARM_CANCELLED] = "cancelled",
};

struct warm_job {
	struct warm_service *w;
	struct warm_job *next;         /* newest first */
	unsigned id;
	pthread_t thread;
	bool thread_started;
	atomic_bool cancel;

	/* Fixed at submit. */
	char *source;                  /* to open (may hold credentials) */
	char shown[LUN_SOURCE_SHOW];   /* redacted, for clients */
	char image[65];
	char **options;                /* NULL-terminated copies, or NULL */
	bool readonly;
	unsigned lun;
	uint32_t block_size;
	char *layers[WARM_MAX_LAYERS + 1];   /* the stack, owned */
	uint64_t max_bytes, rate;

	/* Progress: under w->lock. */
	enum warm_state state;
	uint64_t size, total, done;
	uint64_t fetched;              /* of done, read from below pcache */
	double rate_now;               /* bytes/s, smoothed */
	uint64_t started_ms, ended_ms, last_event_ms, last_sample_ms;
	uint64_t last_sample_done;
	char error[256];
};

struct warm_service {
	const struct config *cfg;
	const struct media_service *ms;
	pthread_mutex_t lock;
	struct warm_job *jobs;
	/* Bytes every job with a LUN's layers fetched from the media. */
	uint64_t lun_fetched[CONFIG_MAX_LUNS];
	unsigned next_id;
	unsigned njobs;
};

static uint64_t warm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool warm_ended(enum warm_state s)
{
	return s >= WARM_DONE;
}

/* ---- JSON ----------------------------------------------------------------- */

static void warm_add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

/* w->lock held. */
static json_object *warm_json_locked(const struct warm_job *j)
{
	json_object *o = json_object_new_object();
	uint64_t end = warm_ended(j->state) ? j->ended_ms : warm_now_ms();

	warm_add_u64(o, "id", j->id);
	json_object_object_add(o, "state",
			       json_object_new_string(warm_state_names[j->state]));
	json_object_object_add(o, "source", json_object_new_string(j->shown));
	json_object_object_add(o, "image", j->image[0] ?
			       json_object_new_string(j->image) : NULL);
	warm_add_u64(o, "lun", j->lun);
	warm_add_u64(o, "size", j->size);
	warm_add_u64(o, "bytes_total", j->total);
	warm_add_u64(o, "bytes_done", j->done);
	warm_add_u64(o, "bytes_fetched", j->fetched);
	warm_add_u64(o, "rate_limit", j->rate);
	warm_add_u64(o, "rate", (uint64_t)j->rate_now);
	if (j->state == WARM_RUNNING && j->rate_now >= 1.0 && j->total)
		warm_add_u64(o, "eta_s", (uint64_t)((double)(j->total - j->done) /
						    j->rate_now + 0.5));
	else
		json_object_object_add(o, "eta_s", NULL);
	warm_add_u64(o, "elapsed_ms", j->started_ms ? end - j->started_ms : 0);
	json_object_object_add(o, "error", json_object_new_string(j->error));
	return o;
}

/* Publishes the job (w->lock held). */
static void warm_publish_locked(struct warm_job *j)
{
	json_object *o = json_object_new_object();

	j->last_event_ms = warm_now_ms();
	json_object_object_add(o, "warm", warm_json_locked(j));
	events_publish("warm", json_object_to_json_string_ext(o,
		JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void warm_set_state(struct warm_job *j, enum warm_state st,
			   const char *error)
{
	struct warm_service *w = j->w;

	pthread_mutex_lock(&w->lock);
	j->state = st;
	if (error)
		snprintf(j->error, sizeof j->error, "%s", error);
	if (warm_ended(st)) {
		j->ended_ms = warm_now_ms();
		/* Ended: the average over the whole job. */
		if (j->started_ms && j->ended_ms > j->started_ms)
			j->rate_now = (double)j->done * 1000.0 /
				      (double)(j->ended_ms - j->started_ms);
	}
	warm_publish_locked(j);
	pthread_mutex_unlock(&w->lock);
}

/* Counts n more bytes done, fetched of them in all from the media;
 * updates the rate; publishes now and then. */
static void warm_progress(struct warm_job *j, uint64_t n, uint64_t fetched)
{
	struct warm_service *w = j->w;
	uint64_t now = warm_now_ms(), dt;

	pthread_mutex_lock(&w->lock);
	j->done += n;
	if (fetched > j->fetched) {
		if (j->lun < CONFIG_MAX_LUNS)
			w->lun_fetched[j->lun] += fetched - j->fetched;
		j->fetched = fetched;
	}
	dt = now - j->last_sample_ms;
	/* The first estimate over a whole second: the first chunk goes out
	 * before the rate limit has booked anything, a shorter window would
	 * overstate the rate. */
	if (dt >= (j->rate_now ? 200u : 1000u)) {
		double inst = (double)(j->done - j->last_sample_done) * 1000.0 /
			      (double)dt;
		double a = dt >= 2000 ? 1.0 : (double)dt / 2000.0;
		j->rate_now = j->rate_now ? j->rate_now + a * (inst - j->rate_now)
					  : inst;
		j->last_sample_ms = now;
		j->last_sample_done = j->done;
	}
	if (now - j->last_event_ms >= WARM_EVENT_MS)
		warm_publish_locked(j);
	pthread_mutex_unlock(&w->lock);
}

/* ---- the job's thread --------------------------------------------------- */

static struct backend *warm_open(struct warm_job *j, char *err, size_t len)
{
	struct backend_open_opts o = {
		.readonly = true, .block_size = j->block_size,
		.options = (const char *const *)j->options,
		.layers = (const char *const *)j->layers,
	};

	return backend_open(j->source, &o, err, len);
}

static uint32_t warm_chunk(const struct warm_job *j)
{
	uint64_t c = j->rate ? j->rate / 4 : WARM_CHUNK_MAX;

	if (c > WARM_CHUNK_MAX)
		c = WARM_CHUNK_MAX;
	c &= ~(uint64_t)(WARM_CHUNK_MIN - 1);
	return c ? (uint32_t)c : WARM_CHUNK_MIN;
}

static void warm_fetched_put(void *ctx, const char *layer, const char *key,
			     uint64_t value, bool counter)
{
	(void)layer;
	if (counter && strcmp(key, "backend_bytes") == 0)
		*(uint64_t *)ctx = value;    /* the walk ends bottom-most */
}

/* What the job's stack read from the media so far: the bottom-most
 * layer's backend_bytes (its pcache's: the ratelimit layer below it has
 * no statistics). */
static uint64_t warm_fetched(struct backend *be)
{
	uint64_t v = 0;
	struct backend_stat_sink sink = { .put = warm_fetched_put, .ctx = &v };

	backend_stats(be, &sink);
	return v;
}

/* One chunk, retrying while the media reconnects (bounded). */
static int warm_read(struct warm_job *j, struct backend *be, char *buf,
		     uint32_t n, uint64_t off)
{
	int r = BE_ERETRY;

	for (unsigned i = 0; i <= WARM_RETRIES && r == BE_ERETRY; i++) {
		if (i)
			usleep(200 * 1000);
		if (atomic_load(&j->cancel))
			return 0;
		r = backend_pread(be, buf, n, off);
	}
	return r;
}

/* Reads [0, total); returns the final state. */
static enum warm_state warm_run(struct warm_job *j, struct backend *be,
				char *err, size_t len)
{
	uint32_t chunk = warm_chunk(j);
	char *buf = malloc(chunk);
	int r = 0;

	if (!buf) {
		snprintf(err, len, "out of memory");
		return WARM_FAILED;
	}
	for (uint64_t off = 0; off < j->total; off += chunk) {
		uint32_t n = j->total - off < chunk ? (uint32_t)(j->total - off)
						    : chunk;
		if (atomic_load(&j->cancel))
			break;
		if ((r = warm_read(j, be, buf, n, off)) < 0)
			break;
		if (!atomic_load(&j->cancel))
			warm_progress(j, n, warm_fetched(be));
	}
	free(buf);
	if (r < 0) {
		snprintf(err, len, "read failed: %s", backend_strerror(r));
		return WARM_FAILED;
	}
	return atomic_load(&j->cancel) ? WARM_CANCELLED : WARM_DONE;
}

static void warm_sized(struct warm_job *j, uint64_t size)
{
	struct warm_service *w = j->w;

	pthread_mutex_lock(&w->lock);
	j->size = size;
	j->total = j->max_bytes && j->max_bytes < size ? j->max_bytes : size;
	j->started_ms = j->last_sample_ms = warm_now_ms();
	j->state = WARM_RUNNING;
	warm_publish_locked(j);
	pthread_mutex_unlock(&w->lock);
}

static void *warm_thread(void *arg)
{
	struct warm_job *j = arg;
	char err[512] = "";
	struct backend *be;
	enum warm_state st;

	warm_set_state(j, WARM_OPENING, NULL);
	be = warm_open(j, err, sizeof err);
	if (!be) {
		log_warnx("warm %u: %s: %s", j->id, j->shown, err);
		warm_set_state(j, atomic_load(&j->cancel) ? WARM_CANCELLED
							  : WARM_FAILED, err);
		return NULL;
	}
	warm_sized(j, be->size);
	log_info("warm %u: %s: %" PRIu64 " of %" PRIu64 " bytes%s", j->id,
		 j->shown, j->total, j->size, j->rate ? "" : ", no rate limit");
	st = warm_run(j, be, err, sizeof err);
	backend_close(be);
	log_info("warm %u: %s: %s%s%s", j->id, j->shown, warm_state_names[st],
		 err[0] ? ": " : "", err);
	warm_set_state(j, st, err[0] ? err : NULL);
	return NULL;
}

/* ---- submitting ------------------------------------------------------------ */

static bool warm_is_pcache(const char *spec)
{
	return strncmp(spec, "pcache", 6) == 0 &&
	       (spec[6] == '\0' || spec[6] == ':');
}

/* The layers source opens with on a LUN (its layers:, or for a network
 * source its network_layers). */
static const char *const *warm_lun_layers(const struct config_lun *cl,
					  const char *source)
{
	return lun_layers_pick((const char *const *)cl->layers,
			       config_network_layers(cl), source);
}

/* The index of the pcache spec in layers v (NULL-terminated, or NULL),
 * or -1. */
static int warm_pcache_at(const char *const *v)
{
	for (int i = 0; v && v[i]; i++)
		if (warm_is_pcache(v[i]))
			return i;
	return -1;
}

static int warm_fail(struct media_result *res, enum media_err e,
		     const char *code, const char *msg)
{
	res->err = e;
	res->code = code;
	snprintf(res->msg, sizeof res->msg, "%s", msg);
	return -1;
}

/* The LUN whose layers the job uses: rq->lun, or the first with pcache
 * for source. */
static int warm_pick_lun(const struct warm_service *w, int want,
			 const char *source, struct media_result *res)
{
	const struct config *cfg = w->cfg;

	if (want >= (int)cfg->nluns)
		return warm_fail(res, MEDIA_EBADREQ, "unknown_lun",
				 "no such LUN");
	for (unsigned i = 0; i < cfg->nluns; i++)
		if ((want < 0 || (unsigned)want == i) &&
		    warm_pcache_at(warm_lun_layers(&cfg->luns[i], source)) >= 0)
			return (int)i;
	return warm_fail(res, MEDIA_EBADREQ, "no_cache", want < 0 ?
			 "no LUN has a pcache layer (docs/layers.md): a warm "
			 "job has nowhere to store the image" :
			 "that LUN has no pcache layer (docs/layers.md)");
}

/* The stack: the LUN's layers up to pcache, ratelimit just below it. */
static int warm_layers(struct warm_job *j, const struct config_lun *cl)
{
	const char *const *v = warm_lun_layers(cl, j->source);
	int p = warm_pcache_at(v), n = 0;

	if (p + 2 > WARM_MAX_LAYERS)
		return -1;
	for (int i = 0; i <= p; i++) {
		if (i == p && j->rate &&
		    asprintf(&j->layers[n++], "ratelimit:rate-kib=%" PRIu64,
			     (j->rate + 1023) >> 10) < 0)
			return -1;
		if (!(j->layers[n++] = strdup(v[i])))
			return -1;
	}
	return 0;
}

static char **warm_strv_dup(const char *const *v)
{
	size_t n = 0;
	char **out;

	while (v && v[n])
		n++;
	if (!n || !(out = calloc(n + 1, sizeof *out)))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(out[i] = strdup(v[i])))
			return out;   /* a short list: its options fail at open */
	return out;
}

static void warm_job_free(struct warm_job *j)
{
	for (unsigned i = 0; i < WARM_MAX_LAYERS && j->layers[i]; i++)
		free(j->layers[i]);
	for (size_t i = 0; j->options && j->options[i]; i++)
		free(j->options[i]);
	free(j->options);
	free(j->source);
	free(j);
}

/* The default rate: config warm.share percent of warm.link_mbit. */
static uint64_t warm_default_rate(const struct config_warm *c)
{
	return (uint64_t)c->link_mbit * 1000000u / 8u * c->share / 100u;
}

static struct warm_job *warm_job_new(struct warm_service *w,
				     const struct warm_request *rq, int lun,
				     const struct lun_media_req *req)
{
	const struct config_lun *cl = &w->cfg->luns[lun];
	struct warm_job *j = calloc(1, sizeof *j);

	if (!j)
		return NULL;
	j->w = w;
	j->lun = (unsigned)lun;
	j->block_size = cl->block_size;
	j->max_bytes = rq->max_bytes;
	j->rate = rq->rate ? rq->rate : warm_default_rate(&w->cfg->warm);
	j->readonly = true;
	atomic_init(&j->cancel, false);
	snprintf(j->image, sizeof j->image, "%s", req->image ? req->image : "");
	backend_redact(req->source, j->shown, sizeof j->shown);
	j->options = warm_strv_dup(req->options);
	if (!(j->source = strdup(req->source)) || warm_layers(j, cl) < 0) {
		warm_job_free(j);
		return NULL;
	}
	return j;
}

static unsigned warm_running(const struct warm_service *w)
{
	unsigned n = 0;

	for (const struct warm_job *j = w->jobs; j; j = j->next)
		n += !warm_ended(j->state);
	return n;
}

/* Drops the oldest ended jobs beyond WARM_KEEP; w->lock held.  Their
 * threads have ended (or are about to: joined). */
static void warm_prune_locked(struct warm_service *w)
{
	while (w->njobs >= WARM_KEEP) {
		struct warm_job **p, **victim = NULL, *j;
		for (p = &w->jobs; *p; p = &(*p)->next)
			if (warm_ended((*p)->state))
				victim = p;
		if (!victim)
			return;
		j = *victim;
		*victim = j->next;
		w->njobs--;
		if (j->thread_started)
			pthread_join(j->thread, NULL);
		warm_job_free(j);
	}
}

unsigned warm_submit(struct warm_service *w, const struct warm_request *rq,
		     struct media_result *res)
{
	static __thread char src[LUN_SOURCE_SHOW];
	struct media_request mr = { .source = rq->source, .image = rq->image,
				    .options = rq->options, .readonly = true };
	struct lun_media_req req;
	struct warm_job *j;
	int lun;

	if (media_resolve(w->ms, &mr, &req, src, sizeof src, res) < 0 ||
	    (lun = warm_pick_lun(w, rq->lun, req.source, res)) < 0)
		return 0;
	if (!(j = warm_job_new(w, rq, lun, &req))) {
		warm_fail(res, MEDIA_EOPEN, "internal", "out of memory");
		return 0;
	}
	pthread_mutex_lock(&w->lock);
	if (warm_running(w) >= w->cfg->warm.max_jobs) {
		pthread_mutex_unlock(&w->lock);
		warm_job_free(j);
		warm_fail(res, MEDIA_EBUSY, "warm_busy", "as many warm jobs "
			  "as warm.max_jobs are running: cancel one or wait");
		return 0;
	}
	warm_prune_locked(w);
	j->id = ++w->next_id;
	j->next = w->jobs;
	w->jobs = j;
	w->njobs++;
	j->thread_started = pthread_create(&j->thread, NULL, warm_thread,
					   j) == 0;
	if (!j->thread_started) {
		j->state = WARM_FAILED;
		snprintf(j->error, sizeof j->error, "cannot start a thread");
	}
	pthread_mutex_unlock(&w->lock);
	return j->id;
}

/* ---- queries ---------------------------------------------------------------- */

static struct warm_job *warm_find_locked(struct warm_service *w, unsigned id)
{
	struct warm_job *j = w->jobs;

	while (j && j->id != id)
		j = j->next;
	return j;
}

json_object *warm_json_job(struct warm_service *w, unsigned id)
{
	json_object *o = NULL;
	struct warm_job *j;

	pthread_mutex_lock(&w->lock);
	if ((j = warm_find_locked(w, id)))
		o = warm_json_locked(j);
	pthread_mutex_unlock(&w->lock);
	return o;
}

json_object *warm_json_list(struct warm_service *w)
{
	json_object *a = json_object_new_array();

	pthread_mutex_lock(&w->lock);
	for (struct warm_job *j = w->jobs; j; j = j->next)
		json_object_array_add(a, warm_json_locked(j));
	pthread_mutex_unlock(&w->lock);
	return a;
}

uint64_t warm_lun_fetched(struct warm_service *w, unsigned lun)
{
	uint64_t v;

	if (!w || lun >= CONFIG_MAX_LUNS)
		return 0;
	pthread_mutex_lock(&w->lock);
	v = w->lun_fetched[lun];
	pthread_mutex_unlock(&w->lock);
	return v;
}

/* Unlinks an ended job; w->lock held.  The caller joins and frees it. */
static void warm_unlink_locked(struct warm_service *w, struct warm_job *j)
{
	struct warm_job **p;

	for (p = &w->jobs; *p && *p != j; p = &(*p)->next)
		;
	if (*p) {
		*p = j->next;
		w->njobs--;
	}
}

json_object *warm_cancel(struct warm_service *w, unsigned id)
{
	struct warm_job *j, *gone = NULL;
	json_object *o = NULL;

	pthread_mutex_lock(&w->lock);
	if ((j = warm_find_locked(w, id))) {
		if (warm_ended(j->state)) {
			warm_unlink_locked(w, j);
			gone = j;
		} else {
			atomic_store(&j->cancel, true);
		}
		o = warm_json_locked(j);
	}
	pthread_mutex_unlock(&w->lock);
	if (gone) {
		if (gone->thread_started)
			pthread_join(gone->thread, NULL);
		warm_job_free(gone);
	}
	return o;
}

/* ---- the service ---------------------------------------------------------- */

struct warm_service *warm_start(const struct config *cfg,
				const struct media_service *ms)
{
	struct warm_service *w = calloc(1, sizeof *w);

	if (!w)
		return NULL;
	w->cfg = cfg;
	w->ms = ms;
	pthread_mutex_init(&w->lock, NULL);
	return w;
}

void warm_stop(struct warm_service *w)
{
	struct warm_job *j;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	for (j = w->jobs; j; j = j->next)
		atomic_store(&j->cancel, true);
	pthread_mutex_unlock(&w->lock);
	while ((j = w->jobs)) {
		w->jobs = j->next;
		if (j->thread_started)
			pthread_join(j->thread, NULL);
		warm_job_free(j);
	}
	pthread_mutex_destroy(&w->lock);
	free(w);
}
