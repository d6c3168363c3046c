/* redfish.h — the DMTF Redfish service: the subset of ServiceRoot,
 * ComputerSystem, Manager, VirtualMedia and SessionService that Ironic
 * (redfish-virtual-media), Metal3, sushy, redfishtool and Ansible's redfish
 * modules use to drive a BMC (docs/redfish.md).
 *
 * It is served by the admin API's listener (api.c hands it every request
 * under /redfish, with the same TLS and body limit), and changes media
 * only through the media service (media.h), as the REST API does.
 *
 * Threads: redfish_answer() runs on libmicrohttpd's connection threads,
 * many at once; the service's own state (sessions, boot override, power)
 * is under its lock, hooks run outside it.  Never called on a USB thread.
 */
#ifndef NS_REDFISH_H
#define NS_REDFISH_H

#include "config.h"
#include "lun.h"
#include "media.h"

#include <stdbool.h>
#include <stddef.h>

struct redfish;
struct MHD_Connection;

/* The service, or NULL when config redfish: is absent or disabled (then
 * /redfish answers 404).  cfg, luns and ms must outlive it.  Returns NULL
 * with *failed set (and a logged error) when it could not start. */
struct redfish *redfish_new(const struct config *cfg, struct lun *luns,
			    unsigned nluns, const struct media_service *ms,
			    bool *failed);
void redfish_free(struct redfish *rf);

/* Whether a request for url belongs to Redfish ("/redfish", "/redfish/..."). */
bool redfish_is_path(const char *url);

/* Answers one request whose body has been read whole (too_large: it was
 * longer than api.max_body and was dropped).  rf may be NULL (404).
 * Returns libmicrohttpd's MHD_YES / MHD_NO. */
int redfish_answer(struct redfish *rf, struct MHD_Connection *c,
		   const char *url, const char *method, const char *body,
		   size_t len, bool too_large);

#endif
