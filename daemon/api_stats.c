/* api_stats.c — the live "stats" events of GET /api/v1/events.
 *
 * A sampler thread looks at every LUN each API_STATS_MS: its io
 * counters, its layers' statistics (backend_ops.stats) and what warm
 * jobs fetched for it (warm_lun_fetched).  When anything differs from
 * the previous look, it puts one "stats" event in the LUN's latest slot
 * of the bus (events_put_latest: no id, never replayed, a slow stream
 * skips to the newest one).  Nothing changes while a LUN is idle, so
 * nothing is sent.
 *
 *   {"lun": 3, "ts_ms": 81234, "since_ms": 80233, "prev_ts_ms": 70112,
 *    "io": {...as in the LUN object...},
 *    "layers": {...as in the LUN object, or null...},
 *    "warm": {"backend_bytes": 16777216}}
 *
 * ts_ms is CLOCK_MONOTONIC in ms when the values were read; since_ms
 * the previous look, when the values were still those the stream last
 * had (the previous "stats" of the LUN, or the "hello" whose ts_ms is
 * later): a rate is (now - before) / (ts_ms - max(since_ms, before's
 * ts_ms)).  prev_ts_ms is the ts_ms of the LUN's previous "stats" (0:
 * none): a stream that holds older values skipped one (it read too
 * slowly) and must take its own ts_ms instead of since_ms.
 *
 * Threads and locks: the sampler thread takes each LUN's lock through
 * lun_get_info() (layers' stats never block on I/O) and the warm
 * service's; it holds no lock of its own across them.  Its samples are
 * its own: nothing else reads them.
 */
#include "api_int.h"
#include "backend.h"
#include "events.h"
#include "log.h"
#include "warm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert(CONFIG_MAX_LUNS <= EVENTS_LATEST,
	       "a latest slot for every LUN");

/* What a look compares. */
struct api_stats_sample {
	bool valid;
	uint64_t ts_ms;
	struct lun_stats io;
	uint64_t warm_fetched;
	unsigned nlayer;
	struct lun_layer_stat layer[LUN_LAYER_STATS];
};

struct api_stats {
	struct api_server *s;
	pthread_t thread;
	pthread_mutex_t lock;         /* stopping */
	pthread_cond_t cond;
	bool stopping;
	struct lun_info info;         /* scratch: 4 KiB+, off the stack */
	struct api_stats_sample cur;  /* scratch: the look being taken */
	struct api_stats_sample prev[CONFIG_MAX_LUNS];
	uint64_t published_ms[CONFIG_MAX_LUNS];   /* last "stats" ts_ms */
};

static bool api_stats_same_layer(const struct lun_layer_stat *a,
				 const struct lun_layer_stat *b)
{
	return a->value == b->value && strcmp(a->layer, b->layer) == 0 &&
	       strcmp(a->key, b->key) == 0;
}

static bool api_stats_same(const struct api_stats_sample *a,
			   const struct api_stats_sample *b)
{
	if (memcmp(&a->io, &b->io, sizeof a->io) != 0 ||
	    a->warm_fetched != b->warm_fetched || a->nlayer != b->nlayer)
		return false;
	for (unsigned i = 0; i < a->nlayer; i++)
		if (!api_stats_same_layer(&a->layer[i], &b->layer[i]))
			return false;
	return true;
}

static void api_stats_take(struct api_stats *st, const struct lun_info *li,
			   struct api_stats_sample *out)
{
	out->valid = true;
	out->ts_ms = api_now_ms();
	out->io = li->stats;
	out->warm_fetched = warm_lun_fetched(st->s->warm, li->id);
	out->nlayer = li->nlayer_stats;
	memcpy(out->layer, li->layer_stats,
	       li->nlayer_stats * sizeof out->layer[0]);
}

static void api_stats_publish(const struct lun_info *li,
			      const struct api_stats_sample *now,
			      uint64_t since_ms, uint64_t prev_ms)
{
	json_object *o = json_object_new_object(), *w = json_object_new_object();

	json_object_object_add(o, "lun", json_object_new_int((int)li->id));
	json_object_object_add(o, "ts_ms", json_object_new_uint64(now->ts_ms));
	json_object_object_add(o, "since_ms", json_object_new_uint64(since_ms));
	json_object_object_add(o, "prev_ts_ms", json_object_new_uint64(prev_ms));
	json_object_object_add(o, "io", api_json_io(&li->stats));
	json_object_object_add(o, "layers", api_json_layers(li));
	json_object_object_add(w, "backend_bytes",
			       json_object_new_uint64(now->warm_fetched));
	json_object_object_add(o, "warm", w);
	events_put_latest(li->id, "stats", json_object_to_json_string_ext(o,
		JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* One look at LUN i: publishes it when it changed and a stream listens. */
static void api_stats_look(struct api_stats *st, unsigned i, bool listened)
{
	struct api_stats_sample *prev = &st->prev[i];

	lun_get_info(&st->s->luns[i], &st->info);
	api_stats_take(st, &st->info, &st->cur);
	if (prev->valid && listened && !api_stats_same(prev, &st->cur)) {
		api_stats_publish(&st->info, &st->cur, prev->ts_ms,
				  st->published_ms[i]);
		st->published_ms[i] = st->cur.ts_ms;
	}
	*prev = st->cur;
}

static void *api_stats_main(void *arg)
{
	struct api_stats *st = arg;
	struct timespec ts;

	pthread_mutex_lock(&st->lock);
	while (!st->stopping) {
		bool listened;

		pthread_mutex_unlock(&st->lock);
		listened = events_subscribers() > 0;
		for (unsigned i = 0; i < st->s->nluns && i < CONFIG_MAX_LUNS; i++)
			api_stats_look(st, i, listened);
		backend_deadline(&ts, API_STATS_MS);
		pthread_mutex_lock(&st->lock);
		if (!st->stopping)
			pthread_cond_timedwait(&st->cond, &st->lock, &ts);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

static void api_stats_free(struct api_stats *st)
{
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

int api_stats_start(struct api_server *s)
{
	struct api_stats *st = calloc(1, sizeof *st);

	if (!st) {
		log_errx("api: out of memory for the stats sampler");
		return -1;
	}
	st->s = s;
	pthread_mutex_init(&st->lock, NULL);
	backend_cond_init(&st->cond);
	if (pthread_create(&st->thread, NULL, api_stats_main, st) != 0) {
		log_errx("api: cannot start the stats sampler");
		api_stats_free(st);
		return -1;
	}
	s->stats = st;
	return 0;
}

void api_stats_stop(struct api_server *s)
{
	struct api_stats *st = s->stats;

	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	st->stopping = true;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->thread, NULL);
	api_stats_free(st);
	s->stats = NULL;
}
