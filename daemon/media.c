/* media.c — the media service shared by the front ends.  See media.h. */
#include "media.h"
#include "gadget.h"
#include "log.h"
#include "seed.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *media_err_code(enum media_err e)
{
	static const char *const codes[] = {
		[MEDIA_OK] = "ok", [MEDIA_EBADREQ] = "bad_request",
		[MEDIA_ENOIMAGE] = "unknown_image",
		[MEDIA_EPOLICY] = "source_refused",
		[MEDIA_EBUSY] = "lun_busy", [MEDIA_ELOCKED] = "medium_locked",
		[MEDIA_ENOTREMOVABLE] = "not_removable",
		[MEDIA_EOPEN] = "open_failed",
		[MEDIA_EUNSUPP] = "unsupported",
		[MEDIA_ETOOBIG] = "seed_too_large",
	};

	return (unsigned)e < sizeof codes / sizeof codes[0] ? codes[e] : "?";
}

static int media_fail(struct media_result *res, enum media_err e,
		      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int media_fail(struct media_result *res, enum media_err e,
		      const char *fmt, ...)
{
	va_list ap;

	res->err = e;
	if (!res->code)
		res->code = media_err_code(e);
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof res->msg, fmt, ap);
	va_end(ap);
	return -1;
}

/* The catalog image's settings, with the request's readonly on top (a
 * client may ask for read-only, never for writable). */
static int media_resolve_image(const struct media_service *ms,
			       const struct media_request *rq,
			       struct lun_media_req *req,
			       struct media_result *res)
{
	const struct config_image *im = config_image_find(ms->cfg, rq->image);

	if (!im)
		return media_fail(res, MEDIA_ENOIMAGE, "no image \"%.64s\" in "
				  "the catalog (GET /api/v1/images)",
				  rq->image);
	if (rq->options && rq->options[0])
		return media_fail(res, MEDIA_EBADREQ, "\"options\" cannot be "
				  "given with \"image\" (the catalog sets "
				  "them)");
	req->source = im->source;
	req->readonly = im->readonly || rq->readonly;
	req->options = (const char *const *)im->options;
	req->image = im->name;
	return 0;
}

/* A client's source through the policy; the checked form goes to buf. */
static int media_resolve_source(const struct media_service *ms,
				const struct media_request *rq,
				struct lun_media_req *req, char *buf,
				size_t buflen, struct media_result *res)
{
	const char *code = NULL;

	if (media_policy_check(ms->policy, rq->source, rq->options, buf,
			       buflen, &code, res->msg, sizeof res->msg) < 0) {
		res->err = MEDIA_EPOLICY;
		res->code = code;
		return -1;
	}
	*req = (struct lun_media_req){ .source = buf,
		.readonly = rq->readonly, .options = rq->options,
		.policy = &ms->policy->uri };
	return 0;
}

/* One change on a LUN at a time: 0, or -1 with MEDIA_EBUSY. */
static int media_begin(struct lun *l, struct media_result *res)
{
	if (lun_change_begin(l) == 0)
		return 0;
	return media_fail(res, MEDIA_EBUSY, "another media change on LUN %u "
			  "is in progress", l->id);
}

/* The swap itself, one change on the LUN at a time.  The LUN's seed slot
 * follows its media inside the same change: seed (or NULL) once the swap
 * has replaced the old media. */
static int media_swap(struct lun *l, const struct lun_media_req *req,
		      bool force, struct seed_volume *seed,
		      struct media_result *res)
{
	char err[256];
	int r, e;

	if (media_begin(l, res) < 0)
		return -1;
	r = lun_swap(l, req, force, err, sizeof err);
	e = errno;
	if (r == 0 || e != EBUSY)
		seed_store_keep(l->id, r == 0 ? seed : NULL);
	lun_change_end(l);
	/* The LUN as this change left it: the change has ended (a reply
	 * saying "changing" would disable a client's controls until an
	 * event it may already have handled). */
	if (req->result)
		req->result->changing = false;
	if (r == 0)
		return 0;
	if (e == EBUSY)
		return media_fail(res, MEDIA_ELOCKED, "the host prevents "
				  "medium removal on LUN %u: a swap would "
				  "pull its media (retry with ?force=true)",
				  l->id);
	return media_fail(res, MEDIA_EOPEN, "%s", err);
}

/* A LUN's type is fixed (config): "cdrom" asks for a CD drive.  A catalog
 * image marked cdrom may still go into a disk LUN (hybrid ISOs boot as
 * flash too), and a seed goes into either. */
static int media_cdrom_check(const struct lun *l, bool cdrom,
			     struct media_result *res)
{
	if (!cdrom || l->type == CONFIG_LUN_CDROM)
		return 0;
	res->code = "not_cdrom";
	return media_fail(res, MEDIA_EUNSUPP, "LUN %u is a disk, not a CD "
			  "drive (type: cdrom in the config); insert without "
			  "\"cdrom\" or into a cdrom LUN", l->id);
}

/* ---- seeds -------------------------------------------------------------- */

static int media_seed_fail(struct media_result *res, const struct seed_err *e)
{
	res->code = e->code;
	return media_fail(res, e->too_big ? MEDIA_ETOOBIG : MEDIA_EBADREQ,
			  "seed: %s", e->msg);
}

/* Checks, expands, builds, stores and inserts sr. */
static int media_seed_insert(const struct media_service *ms, struct lun *l,
			     struct seed_req *sr, const char *image,
			     bool force, struct media_result *res)
{
	char serial[64], src[SEED_SOURCE_LEN + 1];
	struct seed_limits lim;
	struct seed_vars vars = { .serial = serial, .lun = l->id,
		.extra = (const char *const *)ms->cfg->seed.variables };
	struct seed_volume *v;
	struct seed_err e;
	unsigned char *buf;
	size_t len;
	int r;

	if (strcmp(ms->cfg->gadget.serial, "auto") == 0)
		gadget_auto_serial(serial, sizeof serial);
	else
		snprintf(serial, sizeof serial, "%s", ms->cfg->gadget.serial);
	seed_limits_of(ms->cfg, &lim);
	if (seed_req_finish(sr, &lim, &vars, &e) < 0)
		return media_seed_fail(res, &e);
	if (seed_req_build(sr, &lim, &buf, &len, &e) < 0)
		return media_seed_fail(res, &e);
	if (!(v = seed_store_put(buf, len, src, sizeof src)))
		return media_fail(res, MEDIA_EOPEN, "seed: out of memory");
	log_info("lun %u: seed %s (%s, label %s, %u files, %zu bytes)", l->id,
		 src + strlen(SEED_SOURCE_PREFIX), seed_kind_name(sr->kind),
		 sr->label, sr->nfiles, len);
	r = media_swap(l, &(struct lun_media_req){ .source = src,
			.readonly = true, .image = image,
			.result = &res->info }, force, v, res);
	res->have_info = r == 0 || res->err == MEDIA_EOPEN;
	seed_store_drop(v);
	return r;
}

/* A catalog image that is a seed template. */
static int media_seed_image(const struct media_service *ms, struct lun *l,
			    const struct media_request *rq,
			    const struct config_image *im,
			    struct media_result *res)
{
	struct seed_req sr;
	struct seed_err e;
	int r;

	if (rq->options && rq->options[0])
		return media_fail(res, MEDIA_EBADREQ, "\"options\" cannot be "
				  "given with \"image\"");
	if (seed_req_from_config(im->seed, &sr, &e) < 0)
		return media_seed_fail(res, &e);
	r = media_seed_insert(ms, l, &sr, im->name, rq->force, res);
	seed_req_free(&sr);
	return r;
}

int media_resolve(const struct media_service *ms,
		  const struct media_request *rq, struct lun_media_req *req,
		  char *buf, size_t buflen, struct media_result *res)
{
	res->err = MEDIA_OK;
	res->code = NULL;
	res->msg[0] = '\0';
	res->have_info = false;
	*req = (struct lun_media_req){ .source = NULL };
	if (!rq->source == !rq->image)
		return media_fail(res, MEDIA_EBADREQ, "give exactly one of "
				  "\"source\" and \"image\"");
	return rq->image ? media_resolve_image(ms, rq, req, res)
			 : media_resolve_source(ms, rq, req, buf, buflen, res);
}

int media_insert(const struct media_service *ms, struct lun *l,
		 const struct media_request *rq, struct media_result *res)
{
	static __thread char src[LUN_SOURCE_SHOW];
	struct lun_media_req req = { .source = NULL };
	const struct config_image *im;
	int r;

	res->err = MEDIA_OK;
	res->code = NULL;
	res->msg[0] = '\0';
	res->have_info = false;
	if (!!rq->source + !!rq->image + !!rq->seed != 1)
		return media_fail(res, MEDIA_EBADREQ, "give exactly one of "
				  "\"source\", \"image\" and \"seed\"");
	if (media_cdrom_check(l, rq->cdrom, res) < 0)
		return -1;
	if (rq->seed && rq->options && rq->options[0])
		return media_fail(res, MEDIA_EBADREQ, "\"options\" cannot be "
				  "given with \"seed\"");
	if (rq->seed)
		return media_seed_insert(ms, l, rq->seed, NULL, rq->force, res);
	if (rq->image && (im = config_image_find(ms->cfg, rq->image)) &&
	    im->seed)
		return media_seed_image(ms, l, rq, im, res);
	if (rq->image ? media_resolve_image(ms, rq, &req, res) < 0
		      : media_resolve_source(ms, rq, &req, src, sizeof src,
					     res) < 0)
		return -1;
	req.result = &res->info;
	r = media_swap(l, &req, rq->force, NULL, res);
	res->have_info = r == 0 || res->err == MEDIA_EOPEN;
	return r;
}

int media_eject(const struct media_service *ms, struct lun *l, bool force,
		struct media_result *res)
{
	int r, e;

	(void)ms;
	res->err = MEDIA_OK;
	res->code = NULL;
	res->msg[0] = '\0';
	res->have_info = false;
	if (media_begin(l, res) < 0)
		return -1;
	r = lun_eject_info(l, force, false, &res->info);
	res->have_info = r == 0;
	e = errno;
	if (r == 0)
		seed_store_keep(l->id, NULL);
	lun_change_end(l);
	res->info.changing = false;
	if (r == 0)
		return 0;
	if (e == EBUSY)
		return media_fail(res, MEDIA_ELOCKED, "the host prevents "
				  "medium removal on LUN %u (retry with "
				  "?force=true)", l->id);
	return media_fail(res, MEDIA_ENOTREMOVABLE, "LUN %u is not removable "
			  "(retry with ?force=true)", l->id);
}
