/* metrics.c — GET /metrics, the Prometheus text exposition format 0.0.4.
 *
 *   netstick_build_info{version}                 1
 *   netstick_uptime_seconds                      gauge
 *   netstick_usb_state{state}                    1 for the current state
 *   netstick_lun_state{lun,state}                1 for the current state
 *   netstick_lun_host_lock{lun}                  PREVENT MEDIUM REMOVAL
 *   netstick_lun_media_size_bytes{lun}
 *   netstick_lun_{read,written}_bytes_total{lun}
 *   netstick_lun_{reads,writes}_total{lun}       media calls
 *   netstick_lun_{read,write}_errors_total{lun}
 *   netstick_lun_media_changes_total{lun}
 *   netstick_backend_latency_seconds{lun,op}     histogram, op=read|write
 *   netstick_api_replies_total{class}            2xx..5xx
 *   netstick_api_auth_failures_total
 *   netstick_api_deadline_drops_total, netstick_api_streams_refused_total
 *   netstick_events_subscribers                  open SSE streams
 *   netstick_warm_fetched_bytes_total{lun}       what warm jobs with the
 *                                                LUN's layers fetched
 *
 *   netstick_layer_NAME_KEY[_total]{lun}        what layer NAME reports
 *                                                (backend_ops.stats; keys in
 *                                                docs/layers.md), e.g.
 *                                                netstick_layer_cache_hits_total
 */
#include "api_int.h"
#include "events.h"
#include "warm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void metrics_help(FILE *f, const char *name, const char *type,
			 const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_usb(FILE *f, struct api_server *s)
{
	int cur = atomic_load(&s->usb_state);

	metrics_help(f, "netstick_usb_state", "gauge",
		     "USB device state (1 for the current one).");
	for (int i = USB_NOT_ATTACHED; i <= USB_SUSPENDED; i++)
		fprintf(f, "netstick_usb_state{state=\"%s\"} %d\n",
			api_usb_state_name((enum usb_state)i), i == cur);
}

static void metrics_hist(FILE *f, unsigned lun, const char *op,
			 const struct lun_latency *lat)
{
	static const uint64_t bounds[LUN_LAT_BUCKETS] = LUN_LAT_BOUNDS_US;
	uint64_t cum = 0;

	for (unsigned b = 0; b < LUN_LAT_BUCKETS; b++) {
		cum += lat->bucket[b];
		fprintf(f, "netstick_backend_latency_seconds_bucket{lun=\"%u\","
			"op=\"%s\",le=\"%g\"} %llu\n", lun, op,
			(double)bounds[b] / 1e6, (unsigned long long)cum);
	}
	fprintf(f, "netstick_backend_latency_seconds_bucket{lun=\"%u\",op=\"%s\","
		"le=\"+Inf\"} %llu\n", lun, op, (unsigned long long)lat->count);
	fprintf(f, "netstick_backend_latency_seconds_sum{lun=\"%u\",op=\"%s\"} "
		"%.6f\n", lun, op, (double)lat->sum_us / 1e6);
	fprintf(f, "netstick_backend_latency_seconds_count{lun=\"%u\","
		"op=\"%s\"} %llu\n", lun, op, (unsigned long long)lat->count);
}

/* One counter or gauge family over every LUN, from the infos. */
#define METRICS_LUNS(f, infos, n, name, type, help, expr)                  \
	do {                                                               \
		metrics_help(f, name, type, help);                         \
		for (unsigned i_ = 0; i_ < (n); i_++) {                    \
			const struct lun_info *li = &(infos)[i_];          \
			fprintf(f, name "{lun=\"%u\"} %llu\n", li->id,     \
				(unsigned long long)(expr));               \
		}                                                          \
	} while (0)

static void metrics_lun_states(FILE *f, const struct lun_info *infos,
			       unsigned n)
{
	static const char *const states[] = {
		"empty", "loading", "ready", "ejecting", "error",
	};

	metrics_help(f, "netstick_lun_state", "gauge",
		     "LUN media state (1 for the current one).");
	for (unsigned i = 0; i < n; i++) {
		const char *cur = infos[i].state == LUN_EMPTY && infos[i].error[0]
				  ? "error" : lun_state_name(infos[i].state);
		for (size_t k = 0; k < sizeof states / sizeof states[0]; k++)
			fprintf(f, "netstick_lun_state{lun=\"%u\",state=\"%s\"} "
				"%d\n", infos[i].id, states[k],
				strcmp(cur, states[k]) == 0);
	}
}

static void metrics_luns(FILE *f, const struct lun_info *in, unsigned n)
{
	metrics_lun_states(f, in, n);
	METRICS_LUNS(f, in, n, "netstick_lun_host_lock", "gauge",
		     "1 while the host prevents medium removal.", li->prevent);
	METRICS_LUNS(f, in, n, "netstick_lun_media_size_bytes", "gauge",
		     "Size of the loaded media.", li->size);
	METRICS_LUNS(f, in, n, "netstick_lun_read_bytes_total", "counter",
		     "Bytes read from the media.", li->stats.read_bytes);
	METRICS_LUNS(f, in, n, "netstick_lun_written_bytes_total", "counter",
		     "Bytes written to the media.", li->stats.write_bytes);
	METRICS_LUNS(f, in, n, "netstick_lun_reads_total", "counter",
		     "Read calls to the media.", li->stats.reads);
	METRICS_LUNS(f, in, n, "netstick_lun_writes_total", "counter",
		     "Write calls to the media.", li->stats.writes);
	METRICS_LUNS(f, in, n, "netstick_lun_read_errors_total", "counter",
		     "Failed reads.", li->stats.read_errors);
	METRICS_LUNS(f, in, n, "netstick_lun_write_errors_total", "counter",
		     "Failed writes.", li->stats.write_errors);
	METRICS_LUNS(f, in, n, "netstick_lun_media_changes_total", "counter",
		     "Media inserted.", li->stats.media_changes);
	metrics_help(f, "netstick_backend_latency_seconds", "histogram",
		     "Time of one media call.");
	for (unsigned i = 0; i < n; i++) {
		metrics_hist(f, in[i].id, "read", &in[i].stats.read_lat);
		metrics_hist(f, in[i].id, "write", &in[i].stats.write_lat);
	}
}

static bool metrics_same_stat(const struct lun_layer_stat *a,
			      const struct lun_layer_stat *b)
{
	return strcmp(a->layer, b->layer) == 0 && strcmp(a->key, b->key) == 0;
}

/* Whether (layer, key) was printed already for an earlier LUN or stat. */
static bool metrics_layer_seen(const struct lun_info *in, unsigned lun,
			       unsigned idx)
{
	const struct lun_layer_stat *st = &in[lun].layer_stats[idx];

	for (unsigned i = 0; i <= lun; i++)
		for (unsigned k = 0; k < (i == lun ? idx : in[i].nlayer_stats);
		     k++)
			if (metrics_same_stat(&in[i].layer_stats[k], st))
				return true;
	return false;
}

/* The family of st: its header, then the sample of every LUN from
 * `from` on that reports it. */
static void metrics_layer_family(FILE *f, const struct lun_info *in,
				 unsigned from, unsigned n,
				 const struct lun_layer_stat *st)
{
	char name[96];

	snprintf(name, sizeof name, "netstick_layer_%s_%s%s", st->layer,
		 st->key, st->counter ? "_total" : "");
	metrics_help(f, name, st->counter ? "counter" : "gauge",
		     "Layer statistic (docs/layers.md).");
	for (unsigned j = from; j < n; j++)
		for (unsigned m = 0; m < in[j].nlayer_stats; m++)
			if (metrics_same_stat(&in[j].layer_stats[m], st))
				fprintf(f, "%s{lun=\"%u\"} %llu\n", name, in[j].id,
					(unsigned long long)
					in[j].layer_stats[m].value);
}

/* One family per (layer, key), in the order first met. */
static void metrics_layers(FILE *f, const struct lun_info *in, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < in[i].nlayer_stats; k++)
			if (!metrics_layer_seen(in, i, k))
				metrics_layer_family(f, in, i, n,
						     &in[i].layer_stats[k]);
}

static void metrics_api(FILE *f, struct api_server *s)
{
	metrics_help(f, "netstick_api_replies_total", "counter",
		     "API replies by status class.");
	for (int c = 2; c <= 5; c++)
		fprintf(f, "netstick_api_replies_total{class=\"%dxx\"} %llu\n",
			c, (unsigned long long)atomic_load(&s->replies[c]));
	metrics_help(f, "netstick_api_auth_failures_total", "counter",
		     "Requests refused for a missing or wrong token.");
	fprintf(f, "netstick_api_auth_failures_total %llu\n",
		(unsigned long long)atomic_load(&s->auth_failures));
	metrics_help(f, "netstick_api_deadline_drops_total", "counter",
		     "Connections dropped without a complete request in time.");
	fprintf(f, "netstick_api_deadline_drops_total %llu\n",
		(unsigned long long)atomic_load(&s->deadline_drops));
	metrics_help(f, "netstick_api_streams_refused_total", "counter",
		     "Event streams refused over the per-address or total cap.");
	fprintf(f, "netstick_api_streams_refused_total %llu\n",
		(unsigned long long)atomic_load(&s->sse_refused));
	metrics_help(f, "netstick_events_subscribers", "gauge",
		     "Open event streams.");
	fprintf(f, "netstick_events_subscribers %u\n", events_subscribers());
}

static void metrics_warm(FILE *f, struct api_server *s,
			 const struct lun_info *in, unsigned n)
{
	metrics_help(f, "netstick_warm_fetched_bytes_total", "counter",
		     "Bytes warm jobs with the LUN's layers fetched from the "
		     "media.");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "netstick_warm_fetched_bytes_total{lun=\"%u\"} "
			"%llu\n", in[i].id, (unsigned long long)
			warm_lun_fetched(s->warm, in[i].id));
}

char *metrics_render(struct api_server *s, size_t *len)
{
	struct lun_info *infos = calloc(s->nluns, sizeof *infos);
	char *buf = NULL;
	FILE *f;

	if (!infos || !(f = open_memstream(&buf, len))) {
		free(infos);
		return NULL;
	}
	for (unsigned i = 0; i < s->nluns; i++)
		lun_get_info(&s->luns[i], &infos[i]);
	metrics_help(f, "netstick_build_info", "gauge", "netstickd version.");
	fprintf(f, "netstick_build_info{version=\"%s\"} 1\n", NETSTICK_VERSION);
	metrics_help(f, "netstick_uptime_seconds", "gauge",
		     "Seconds since the API started.");
	fprintf(f, "netstick_uptime_seconds %.3f\n",
		(double)(api_now_ms() - s->started_ms) / 1000.0);
	metrics_usb(f, s);
	metrics_luns(f, infos, s->nluns);
	metrics_layers(f, infos, s->nluns);
	metrics_warm(f, s, infos, s->nluns);
	metrics_api(f, s);
	free(infos);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
