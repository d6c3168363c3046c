/* warm.h — warm jobs: fetch an image, or its first N MiB, into the
 * persistent cache (layers/pcache) in the background, so the next insert
 * of it is served from the board at once.
 *
 * A job names what an insert would (a catalog image or a policy-checked
 * source, through media_resolve()) and opens a backend instance of its
 * own with the layers of a LUN up to and including its pcache layer, a
 * ratelimit layer put just below the pcache one: the job shares the
 * cache (and its in-flight fetches) with that LUN, whether or not the
 * image is inserted, and only bytes fetched from the media count against
 * the rate.  Then it reads the image in order.
 *
 *   QUEUED ──thread──▶ OPENING ──open──▶ RUNNING ──end──▶ DONE
 *                         │                 │
 *                         └──error──────────┴──error──▶ FAILED
 *                         └──cancel─────────┴──cancel─▶ CANCELLED
 *
 * Progress (bytes, rate, ETA) is in warm_json_*() and, at most every
 * WARM_EVENT_MS and at every state change, a "warm" event on the bus
 * (events.h) carrying the job's object.
 *
 * Threads: one thread per job.  Every function here may be called from
 * any API thread; the service's lock is never held across media I/O.
 */
#ifndef NS_WARM_H
#define NS_WARM_H

#include "config.h"
#include "media.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#define WARM_EVENT_MS 250
#define WARM_KEEP 32           /* jobs listed, finished ones pruned first */

struct warm_service;

struct warm_request {
	const char *source;           /* exactly one of source and image */
	const char *image;
	const char *const *options;   /* with source only; NULL-terminated */
	int lun;                      /* whose layers; -1: the first LUN with
	                               * a pcache layer */
	uint64_t max_bytes;           /* 0: the whole image */
	uint64_t rate;                /* bytes/s; 0: config warm.share of
	                               * warm.link_mbit, or unlimited */
};

/* cfg and ms must outlive the service.  NULL when out of memory. */
struct warm_service *warm_start(const struct config *cfg,
				const struct media_service *ms);
/* Cancels every job, waits for their threads and frees w (NULL ok). */
void warm_stop(struct warm_service *w);

/* Starts a job.  Returns its id (> 0), or 0 with res filled:
 * MEDIA_EBADREQ (no such LUN, no pcache layer on it: code "no_cache"),
 * the resolve errors of media_resolve(), MEDIA_EBUSY (warm.max_jobs
 * running: code "warm_busy"). */
unsigned warm_submit(struct warm_service *w, const struct warm_request *rq,
		     struct media_result *res);
/* A new reference to the job's object, or NULL when there is none. */
json_object *warm_json_job(struct warm_service *w, unsigned id);
/* Every listed job, newest first. */
json_object *warm_json_list(struct warm_service *w);
/* Bytes the jobs using LUN lun's layers fetched from the media (below
 * their pcache layer) since the service started: a counter, 0 for a LUN
 * out of range or w NULL. */
uint64_t warm_lun_fetched(struct warm_service *w, unsigned lun);
/* Cancels a job that has not ended (it ends CANCELLED shortly), or
 * removes an ended one from the list.  Returns the job's object as it is
 * now, or NULL when there is none. */
json_object *warm_cancel(struct warm_service *w, unsigned id);

#endif
