/* media.h — the media service: inserting and ejecting media on behalf of a
 * front end (the REST API; Redfish VirtualMedia next).
 *
 * One place decides, for every front end alike:
 *   - what a request may name: a catalog image (config `images:`, trusted)
 *     or a source the client typed, checked against the source policy
 *     (media_policy_*: allowed schemes, hosts and directory);
 *   - the order: one change at a time per LUN (lun_change_begin), the
 *     host's PREVENT MEDIUM REMOVAL checked under the same lock hold that
 *     starts the change (lun_swap, lun_eject), so a PREVENT can never slip
 *     in between the check and the change;
 *   - the errors: enum media_err, with a stable code string and a message
 *     fit for a client (never a credential), which each front end maps to
 *     its own status (api_routes.c: HTTP 4xx).
 *
 * Threads: any thread that may block (an API connection thread): an insert
 * opens the media on the caller's thread, for as long as the backend's
 * connect timeout.  Never a USB thread.
 */
#ifndef NS_MEDIA_H
#define NS_MEDIA_H

#include "config.h"
#include "lun.h"
#include "seed_req.h"
#include "uri.h"

#include <stdbool.h>
#include <stddef.h>

/* The source policy, from config.api (media_policy.c over backends/uri.h:
 * allowed schemes, hosts and directory). */
struct media_policy {
	struct uri_policy uri;        /* what backends enforce again */
};

/* Returns 0 or -1 (logged). */
int media_policy_init(struct media_policy *p, const struct config_api *cfg);
void media_policy_fini(struct media_policy *p);
/* Checks a client's source and options against the policy.  On success
 * returns 0 and writes the canonical source (uri_parse) into out; else
 * returns -1 and sets *code to a stable error code and msg to a message
 * fit for the client (never the source whole).  Opens a local file once
 * (beneath allowed_dir, O_PATH) to report a missing one early. */
int media_policy_check(const struct media_policy *p, const char *source,
		       const char *const *options, char *out, size_t outlen,
		       const char **code, char *msg, size_t msglen);

struct media_service {
	const struct config *cfg;     /* the catalog */
	const struct media_policy *policy;
};

enum media_err {
	MEDIA_OK = 0,
	MEDIA_EBADREQ,          /* malformed request: bad_request */
	MEDIA_ENOIMAGE,         /* no such catalog image: unknown_image */
	MEDIA_EPOLICY,          /* the policy refuses the source (code set) */
	MEDIA_EBUSY,            /* another change on the LUN: lun_busy */
	MEDIA_ELOCKED,          /* the host prevents removal: medium_locked */
	MEDIA_ENOTREMOVABLE,    /* a fixed LUN: not_removable */
	MEDIA_EOPEN,            /* the media did not open: open_failed */
	MEDIA_EUNSUPP,          /* not offered by this build */
	MEDIA_ETOOBIG,          /* a seed over a limit (code set) */
};

struct media_result {
	enum media_err err;
	const char *code;             /* stable, for clients ("lun_busy") */
	char msg[512];
	/* After media_insert() reached the LUN (0, or MEDIA_EOPEN) or
	 * media_eject() succeeded: the LUN as this change left it, taken under its lock when the change
	 * ended, so a reply never shows a later change instead. */
	bool have_info;
	struct lun_info info;
};

/* What to insert: exactly one of source, image and seed. */
struct media_request {
	const char *source;           /* typed by the client: policy-checked */
	const char *image;            /* catalog name: trusted (may name a
	                               * seed template: built as a seed) */
	struct seed_req *seed;        /* files to build a seed volume from
	                               * (seed_req.h; the caller's, finished
	                               * here: templates expand in place) */
	bool readonly;                /* a client may ask, never undo */
	bool cdrom;
	bool force;                   /* override the host's PREVENT */
	const char *const *options;   /* with source only; NULL-terminated */
};

/* Inserts (swapping out any media).  Returns 0, or -1 with res filled.
 * Nothing changes unless it returns 0, except on MEDIA_EOPEN: the old
 * media is gone and the LUN is EMPTY with the error in its status.
 *
 * A seed (rq->seed, or a catalog image that is a seed template) is
 * checked and its templates expanded ({{serial}}: the device's USB
 * serial, {{lun}}: l->id, config seed.variables), built on the caller's
 * thread (seed_iso_build), stored by identity and inserted read-only as
 * "seed:sha256-HEX" (backends/seed.h).  Bad input is MEDIA_EBADREQ, a
 * limit MEDIA_ETOOBIG, both with the seed's code ("bad_file_name", ...)
 * and nothing changed.  The LUN's seed slot keeps the volume for as long
 * as it is the LUN's media, so the host can eject and reload it. */
int media_insert(const struct media_service *ms, struct lun *l,
		 const struct media_request *rq, struct media_result *res);
/* What an insert of rq would open, for a front end that opens media of
 * its own (a warm job, warm.h): the catalog image's source, options and
 * read-only flag, or the client's source through the policy (its
 * checked form written to buf, which req->source then points to).
 * Returns 0, or -1 with res filled. */
int media_resolve(const struct media_service *ms,
		  const struct media_request *rq, struct lun_media_req *req,
		  char *buf, size_t buflen, struct media_result *res);
/* Ejects (force: even while the host prevents removal, and from a fixed
 * LUN).  Returns 0, or -1 with res filled. */
int media_eject(const struct media_service *ms, struct lun *l, bool force,
		struct media_result *res);

const char *media_err_code(enum media_err e);

#endif
