/* api_routes.c — the routes of /api/v1 and /metrics (docs/api.md).
 *
 *   GET    /api/v1/status
 *   GET    /api/v1/luns
 *   GET    /api/v1/luns/{id}
 *   PUT    /api/v1/luns/{id}/media[?force=true]
 *                                    {source|image|seed, readonly, cdrom,
 *                                     options}  (seed: docs/seed.md)
 *   DELETE /api/v1/luns/{id}/media[?force=true]
 *   GET    /api/v1/images
 *   GET    /metrics
 *
 * (GET /api/v1/events streams and is answered in api.c.)  Handlers take
 * the request and fill the reply; media changes go through the media
 * service (media.h), which every front end shares.
 */
#include "api_int.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void api_reply_free(struct api_reply *rp)
{
	json_object_put(rp->json);
	free(rp->text);
	memset(rp, 0, sizeof *rp);
}

static void api_ok(struct api_reply *rp, json_object *o)
{
	rp->status = 200;
	rp->json = o;
}

/* "/api/v1/luns/3..." → the LUN, or NULL (404 already set).  *rest is
 * what follows the id ("" or "/media"). */
static struct lun *api_lun_of(struct api_server *s, const char *p,
			      const char **rest, struct api_reply *rp)
{
	char *end;
	unsigned long id;

	if (p[0] < '0' || p[0] > '9' || (p[0] == '0' && p[1] >= '0' &&
					 p[1] <= '9'))
		goto unknown;
	errno = 0;
	id = strtoul(p, &end, 10);
	if (errno || id >= s->nluns || (*end && *end != '/'))
		goto unknown;
	*rest = end;
	return &s->luns[id];
unknown:
	api_error(rp, 404, "unknown_lun", "no LUN \"%.16s\" (this device has "
		  "LUNs 0..%u)", p, s->nluns - 1);
	return NULL;
}

#define API_JSON_DEPTH 8
/* A string holding NUL ("\u0000") would be cut short by every C string
 * function after this: "c.img\u0000/../x" would silently name c.img. */
static bool api_json_has_nul(json_object *o, int depth)
{
	if (depth > API_JSON_DEPTH)
		return true;
	switch (json_object_get_type(o)) {
	case json_type_string:
		return strlen(json_object_get_string(o)) !=
		       (size_t)json_object_get_string_len(o);
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (api_json_has_nul(json_object_array_get_idx(o, i),
					     depth + 1))
				return true;
		return false;
	case json_type_object: {
		json_object_object_foreach(o, k, v)
			if (api_json_has_nul(v, depth + 1) || !k)
				return true;
		return false;
	}
	default:
		return false;
	}
}

json_object *api_parse_json(const char *body, size_t len)
{
	struct json_tokener *tok;
	json_object *o;
	size_t end;

	if (!body || len == 0 || len > INT32_MAX ||
	    !(tok = json_tokener_new_ex(API_JSON_DEPTH)))
		return NULL;
	o = json_tokener_parse_ex(tok, body, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (o && json_tokener_get_error(tok) == json_tokener_success)
		end += strspn(body + end, " \t\r\n");
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    end != len || api_json_has_nul(o, 0)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* ?force=true, ?force=1 or a bare ?force. */
static bool api_query_true(const struct api_request *rq, const char *key)
{
	const char *v = rq->query ? rq->query(rq->query_ctx, key) : NULL;

	return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
		     strcmp(v, "") == 0);
}

/* ---- media: PUT ------------------------------------------------------- */

struct api_insert {
	const char *source, *image;
	bool readonly, cdrom;
	bool has_seed, body_nul;      /* body_nul: seed_json_has_nul(body) */
	struct seed_req seed;
	struct api_options opts;
};

static void api_insert_free(struct api_insert *in)
{
	api_options_free(&in->opts);
	seed_req_free(&in->seed);
}

/* "seed": {kind, label, template, files} (seed_req.c parses it). */
static int api_parse_seed(json_object *o, struct api_insert *in,
			  struct api_reply *rp)
{
	struct seed_err e;

	if (seed_req_from_json(o, in->body_nul, &in->seed, &e) < 0) {
		api_error(rp, e.too_big ? 413 : 400, e.code, "seed: %s",
			  e.msg);
		return -1;
	}
	in->has_seed = true;
	return 0;
}

int api_parse_options(json_object *o, struct api_options *opts,
		      struct api_reply *rp)
{
	if (!json_object_is_type(o, json_type_object)) {
		api_error(rp, 400, "bad_request", "\"options\" must be an "
			  "object of strings");
		return -1;
	}
	json_object_object_foreach(o, key, val) {
		const char *v = json_object_get_string(val);
		if (!json_object_is_type(val, json_type_string) ||
		    opts->n == API_MAX_OPTIONS || strchr(key, '=')) {
			api_error(rp, 400, "bad_request", "option \"%.64s\": "
				  "values must be strings (at most %d "
				  "options)", key, API_MAX_OPTIONS);
			return -1;
		}
		if (asprintf(&opts->buf[opts->n], "%s=%s", key, v) < 0)
			return -1;
		opts->v[opts->n] = opts->buf[opts->n];
		opts->n++;
	}
	return 0;
}

void api_options_free(struct api_options *opts)
{
	for (unsigned i = 0; i < opts->n; i++)
		free(opts->buf[i]);
	opts->n = 0;
}

static int api_get_bool(json_object *v, const char *key, bool *out,
			struct api_reply *rp)
{
	if (!json_object_is_type(v, json_type_boolean)) {
		api_error(rp, 400, "bad_request", "\"%s\" must be true or "
			  "false", key);
		return -1;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

int api_get_string(json_object *v, const char *key, const char **out,
		   struct api_reply *rp)
{
	if (!json_object_is_type(v, json_type_string)) {
		api_error(rp, 400, "bad_request", "\"%s\" must be a string",
			  key);
		return -1;
	}
	*out = json_object_get_string(v);
	return 0;
}

static int api_parse_field(const char *key, json_object *val,
			   struct api_insert *in, struct api_reply *rp)
{
	if (strcmp(key, "source") == 0)
		return api_get_string(val, key, &in->source, rp);
	if (strcmp(key, "image") == 0)
		return api_get_string(val, key, &in->image, rp);
	if (strcmp(key, "readonly") == 0)
		return api_get_bool(val, key, &in->readonly, rp);
	if (strcmp(key, "cdrom") == 0)
		return api_get_bool(val, key, &in->cdrom, rp);
	if (strcmp(key, "options") == 0)
		return api_parse_options(val, &in->opts, rp);
	if (strcmp(key, "seed") == 0)
		return api_parse_seed(val, in, rp);
	api_error(rp, 400, "bad_request", "unknown field \"%.64s\" (expected "
		  "source, image, seed, readonly, cdrom, options)", key);
	return -1;
}

static int api_parse_insert(json_object *body, struct api_insert *in,
			    struct api_reply *rp)
{
	if (!json_object_is_type(body, json_type_object)) {
		api_error(rp, 400, "bad_request", "the body must be a JSON "
			  "object");
		return -1;
	}
	json_object_object_foreach(body, key, val)
		if (api_parse_field(key, val, in, rp) < 0)
			return -1;
	return 0;
}

/* A media service failure as an HTTP error. */
static void api_media_error(const struct media_result *res,
			    struct api_reply *rp)
{
	static const unsigned status[] = {
		[MEDIA_EBADREQ] = 400, [MEDIA_ENOIMAGE] = 404,
		[MEDIA_EPOLICY] = 422, [MEDIA_EBUSY] = 409,
		[MEDIA_ELOCKED] = 409, [MEDIA_ENOTREMOVABLE] = 409,
		[MEDIA_EOPEN] = 422, [MEDIA_EUNSUPP] = 422,
		[MEDIA_ETOOBIG] = 413,
	};
	unsigned st = (unsigned)res->err < sizeof status / sizeof status[0]
		      ? status[res->err] : 0;

	api_error(rp, st ? st : 500, res->code ? res->code : "internal", "%s",
		  res->msg);
}

static void api_put_media(struct api_server *s, struct lun *l,
			  const struct api_request *rq, struct api_reply *rp)
{
	struct api_insert in = { .source = NULL };
	struct media_result res;
	json_object *body;

	if (!(body = api_parse_json(rq->body, rq->body_len))) {
		api_error(rp, 400, "bad_json", "the body is not valid JSON");
		return;
	}
	in.body_nul = seed_json_has_nul(rq->body, rq->body_len);
	if (api_parse_insert(body, &in, rp) == 0 &&
	    media_insert(&s->media, l, &(struct media_request){
			.source = in.source, .image = in.image,
			.seed = in.has_seed ? &in.seed : NULL,
			.readonly = in.readonly, .cdrom = in.cdrom,
			.force = api_query_true(rq, "force"),
			.options = in.opts.n ? in.opts.v : NULL,
		     }, &res) < 0)
		api_media_error(&res, rp);
	else if (!rp->status)
		api_ok(rp, res.have_info ? api_json_lun(&res.info)
					 : api_json_lun_of(l));
	api_insert_free(&in);
	json_object_put(body);
}

/* ---- media: DELETE ------------------------------------------------------ */

static void api_delete_media(struct api_server *s, struct lun *l,
			     const struct api_request *rq,
			     struct api_reply *rp)
{
	struct media_result res;

	if (media_eject(&s->media, l, api_query_true(rq, "force"), &res) < 0)
		api_media_error(&res, rp);
	else
		api_ok(rp, res.have_info ? api_json_lun(&res.info)
					 : api_json_lun_of(l));
}

/* ---- dispatch ---------------------------------------------------------- */

/* method is one of the ", "-separated names in allow. */
static bool api_allowed(const char *allow, const char *method)
{
	size_t n = strlen(method);

	for (const char *a = allow; *a; a += strspn(a, ", ")) {
		size_t len = strcspn(a, ", ");
		if (len == n && strncmp(a, method, n) == 0)
			return true;
		a += len;
	}
	return false;
}

static bool api_method(const struct api_request *rq, const char *m,
		       const char *allow, struct api_reply *rp)
{
	if (strcmp(rq->method, m) == 0 ||
	    (strcmp(m, "GET") == 0 && strcmp(rq->method, "HEAD") == 0))
		return true;
	if (api_allowed(allow, rq->method))
		return false;   /* another handler for this path takes it */
	rp->allow = allow;
	api_error(rp, 405, "method_not_allowed", "%s is not allowed here "
		  "(allowed: %s)", rq->method, allow);
	return false;
}

static void api_route_lun(struct api_server *s, const struct api_request *rq,
			  const char *p, struct api_reply *rp)
{
	const char *rest;
	struct lun *l = api_lun_of(s, p, &rest, rp);

	if (!l)
		return;
	if (strcmp(rest, "") == 0) {
		if (api_method(rq, "GET", "GET, HEAD", rp))
			api_ok(rp, api_json_lun_of(l));
	} else if (strcmp(rest, "/media") == 0) {
		if (api_method(rq, "PUT", "PUT, DELETE", rp))
			api_put_media(s, l, rq, rp);
		else if (api_method(rq, "DELETE", "PUT, DELETE", rp))
			api_delete_media(s, l, rq, rp);
	} else {
		api_error(rp, 404, "not_found", "no such resource");
	}
}

static void api_route_luns(struct api_server *s, struct api_reply *rp)
{
	json_object *a = json_object_new_array();

	for (unsigned i = 0; i < s->nluns; i++)
		json_object_array_add(a, api_json_lun_of(&s->luns[i]));
	api_ok(rp, a);
}

static void api_route_metrics(struct api_server *s, struct api_reply *rp)
{
	rp->status = 200;
	rp->text = metrics_render(s, &rp->text_len);
	rp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	if (!rp->text)
		api_error(rp, 500, "internal", "out of memory");
}

void api_route(struct api_server *s, const struct api_request *rq,
	       struct api_reply *rp)
{
	const char *p = rq->path;
	size_t n = strlen(API_PREFIX);

	memset(rp, 0, sizeof *rp);
	if (strcmp(p, "/metrics") == 0) {
		if (api_method(rq, "GET", "GET, HEAD", rp))
			api_route_metrics(s, rp);
		return;
	}
	if (strncmp(p, API_PREFIX, n) != 0 || (p[n] && p[n] != '/'))
		goto not_found;
	p += n;
	if (strcmp(p, "/status") == 0) {
		if (api_method(rq, "GET", "GET, HEAD", rp))
			api_ok(rp, api_json_status(s));
	} else if (strcmp(p, "/luns") == 0 || strcmp(p, "/luns/") == 0) {
		if (api_method(rq, "GET", "GET, HEAD", rp))
			api_route_luns(s, rp);
	} else if (strncmp(p, "/luns/", 6) == 0) {
		api_route_lun(s, rq, p + 6, rp);
	} else if (strcmp(p, "/images") == 0) {
		if (api_method(rq, "GET", "GET, HEAD", rp))
			api_ok(rp, api_json_images(s->cfg));
	} else if (strcmp(p, "/warm") == 0 || strcmp(p, "/warm/") == 0) {
		api_route_warm(s, rq, rp);
	} else if (strncmp(p, "/warm/", 6) == 0) {
		api_route_warm_job(s, rq, p + 6, rp);
	} else {
		goto not_found;
	}
	if (!rp->status)
		api_error(rp, 500, "internal", "no reply");
	return;
not_found:
	api_error(rp, 404, "not_found", "no such resource");
}
