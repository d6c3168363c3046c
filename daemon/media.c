/* media.c — the media service shared by the front ends.  See media.h. */
#include "media.h"
#include "log.h"

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
			       struct lun_media_req *req, bool *cdrom,
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
	*cdrom = rq->cdrom || im->cdrom;
	return 0;
}

/* A client's source through the policy; the checked form goes to buf. */
static int media_resolve_source(const struct media_service *ms,
				const struct media_request *rq,
				struct lun_media_req *req, char *buf,
				size_t buflen, struct media_result *res)
{
	const char *code = NULL;

	if (media_policy_check(ms->policy, rq->source, buf, buflen, &code,
			       res->msg, sizeof res->msg) < 0) {
		res->err = MEDIA_EPOLICY;
		res->code = code;
		return -1;
	}
	*req = (struct lun_media_req){ .source = buf,
		.readonly = rq->readonly, .options = rq->options };
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

/* The swap itself, one change on the LUN at a time. */
static int media_swap(struct lun *l, const struct lun_media_req *req,
		      bool force, struct media_result *res)
{
	char err[256];
	int r, e;

	if (media_begin(l, res) < 0)
		return -1;
	r = lun_swap(l, req, force, err, sizeof err);
	e = errno;
	lun_change_end(l);
	if (r == 0)
		return 0;
	if (e == EBUSY)
		return media_fail(res, MEDIA_ELOCKED, "the host prevents "
				  "medium removal on LUN %u: a swap would "
				  "pull its media (retry with ?force=true)",
				  l->id);
	return media_fail(res, MEDIA_EOPEN, "%s", err);
}

int media_insert(const struct media_service *ms, struct lun *l,
		 const struct media_request *rq, struct media_result *res)
{
	static __thread char src[LUN_SOURCE_SHOW];
	struct lun_media_req req = { .source = NULL };
	bool cdrom = rq->cdrom;

	*res = (struct media_result){ .err = MEDIA_OK };
	if (!rq->source == !rq->image)
		return media_fail(res, MEDIA_EBADREQ, "give exactly one of "
				  "\"source\" and \"image\"");
	if (rq->image ? media_resolve_image(ms, rq, &req, &cdrom, res) < 0
		      : media_resolve_source(ms, rq, &req, src, sizeof src,
					     res) < 0)
		return -1;
	if (cdrom) {
		res->code = "cdrom_unsupported";
		return media_fail(res, MEDIA_EUNSUPP, "this netstickd has no "
				  "CD-ROM mode yet; insert as a disk");
	}
	return media_swap(l, &req, rq->force, res);
}

int media_eject(const struct media_service *ms, struct lun *l, bool force,
		struct media_result *res)
{
	int r, e;

	(void)ms;
	*res = (struct media_result){ .err = MEDIA_OK };
	if (media_begin(l, res) < 0)
		return -1;
	r = lun_eject(l, force, false);
	e = errno;
	lun_change_end(l);
	if (r == 0)
		return 0;
	if (e == EBUSY)
		return media_fail(res, MEDIA_ELOCKED, "the host prevents "
				  "medium removal on LUN %u (retry with "
				  "?force=true)", l->id);
	return media_fail(res, MEDIA_ENOTREMOVABLE, "LUN %u is not removable "
			  "(retry with ?force=true)", l->id);
}
