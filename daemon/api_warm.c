/* api_warm.c — the warm routes (docs/api.md), next to api_routes.c:
 *
 *   POST   /api/v1/warm         {image|source, options, lun, mib, rate_mib}
 *                               → 202 and the job
 *   GET    /api/v1/warm         → every listed job, newest first
 *   GET    /api/v1/warm/{id}    → the job
 *   DELETE /api/v1/warm/{id}    → cancels it (it ends "cancelled"), or
 *                                 removes an ended one from the list
 *
 * Jobs run in daemon/warm.c; "warm" events on /api/v1/events carry the
 * same objects as they progress.
 */
#include "api_int.h"
#include "warm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


struct api_warm_body {
	struct warm_request rq;
	struct api_options opts;
};

static void api_warm_body_free(struct api_warm_body *b)
{
	api_options_free(&b->opts);
}

/* A whole number in [lo, hi]. */
static int api_warm_uint(json_object *v, const char *key, uint64_t lo,
			 uint64_t hi, uint64_t *out, struct api_reply *rp)
{
	int64_t n;

	errno = 0;
	n = json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_int) || errno || n < 0 ||
	    (uint64_t)n < lo || (uint64_t)n > hi) {
		api_error(rp, 400, "bad_request", "\"%s\" must be a whole "
			  "number in %llu..%llu", key, (unsigned long long)lo,
			  (unsigned long long)hi);
		return -1;
	}
	*out = (uint64_t)n;
	return 0;
}

static int api_warm_field(const char *key, json_object *val,
			  struct api_warm_body *b, struct api_reply *rp)
{
	uint64_t n;

	if (strcmp(key, "source") == 0)
		return api_get_string(val, key, &b->rq.source, rp);
	if (strcmp(key, "image") == 0)
		return api_get_string(val, key, &b->rq.image, rp);
	if (strcmp(key, "options") == 0) {
		if (api_parse_options(val, &b->opts, rp) < 0)
			return -1;
		b->rq.options = b->opts.n ? b->opts.v : NULL;
		return 0;
	}
	if (strcmp(key, "lun") == 0) {
		if (api_warm_uint(val, key, 0, CONFIG_MAX_LUNS - 1, &n, rp) < 0)
			return -1;
		b->rq.lun = (int)n;
		return 0;
	}
	if (strcmp(key, "mib") == 0) {
		if (api_warm_uint(val, key, 1, 1u << 30, &n, rp) < 0)
			return -1;
		b->rq.max_bytes = n << 20;
		return 0;
	}
	if (strcmp(key, "rate_mib") == 0) {
		if (api_warm_uint(val, key, 1, 100000, &n, rp) < 0)
			return -1;
		b->rq.rate = n << 20;
		return 0;
	}
	api_error(rp, 400, "bad_request", "unknown field \"%.64s\" (expected "
		  "source, image, options, lun, mib, rate_mib)", key);
	return -1;
}

static void api_warm_post(struct api_server *s, const struct api_request *rq,
			  struct api_reply *rp)
{
	struct api_warm_body b = { .rq = { .lun = -1 } };
	struct media_result res;
	json_object *body = api_parse_json(rq->body, rq->body_len);
	unsigned id = 0;

	if (!body || !json_object_is_type(body, json_type_object)) {
		api_error(rp, 400, "bad_json", "the body must be a JSON object");
		json_object_put(body);
		return;
	}
	json_object_object_foreach(body, key, val)
		if (api_warm_field(key, val, &b, rp) < 0)
			break;
	if (!rp->status && !(id = warm_submit(s->warm, &b.rq, &res)))
		api_error(rp, res.err == MEDIA_EBUSY ? 409 :
			  res.err == MEDIA_ENOIMAGE ? 404 :
			  res.err == MEDIA_EBADREQ ? 400 : 422,
			  res.code ? res.code : "internal", "%s", res.msg);
	if (id) {
		rp->status = 202;
		rp->json = warm_json_job(s->warm, id);
	}
	api_warm_body_free(&b);
	json_object_put(body);
}

void api_route_warm(struct api_server *s, const struct api_request *rq,
		    struct api_reply *rp)
{
	if (!s->warm) {
		api_error(rp, 503, "unavailable", "warm jobs are not running");
	} else if (strcmp(rq->method, "POST") == 0) {
		api_warm_post(s, rq, rp);
	} else if (strcmp(rq->method, "GET") == 0 ||
		   strcmp(rq->method, "HEAD") == 0) {
		rp->status = 200;
		rp->json = warm_json_list(s->warm);
	} else {
		rp->allow = "GET, HEAD, POST";
		api_error(rp, 405, "method_not_allowed", "%s is not allowed "
			  "here (allowed: GET, HEAD, POST)", rq->method);
	}
}

void api_route_warm_job(struct api_server *s, const struct api_request *rq,
			const char *p, struct api_reply *rp)
{
	unsigned long id;
	char *end;
	json_object *o = NULL;
	bool get = strcmp(rq->method, "GET") == 0 ||
		   strcmp(rq->method, "HEAD") == 0;

	errno = 0;
	id = p[0] >= '1' && p[0] <= '9' ? strtoul(p, &end, 10) : 0;
	if (!s->warm) {
		api_error(rp, 503, "unavailable", "warm jobs are not running");
		return;
	}
	if (!get && strcmp(rq->method, "DELETE") != 0) {
		rp->allow = "GET, HEAD, DELETE";
		api_error(rp, 405, "method_not_allowed", "%s is not allowed "
			  "here (allowed: GET, HEAD, DELETE)", rq->method);
		return;
	}
	if (id && !errno && !*end && id <= 0xffffffffu)
		o = get ? warm_json_job(s->warm, (unsigned)id)
			: warm_cancel(s->warm, (unsigned)id);
	if (!o) {
		api_error(rp, 404, "unknown_warm", "no warm job \"%.16s\"", p);
		return;
	}
	rp->status = 200;
	rp->json = o;
}
