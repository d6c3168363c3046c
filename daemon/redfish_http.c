/* redfish_http.c — the libmicrohttpd side of the Redfish service: a
 * request (whose body api.c has read) becomes a struct rf_request, the
 * reply's headers go out as DSP0266 asks (OData-Version, ETag, Allow on
 * every reply so clients can see whether PATCH is there, Location and
 * X-Auth-Token on a login, WWW-Authenticate on a 401).
 */
#include "redfish_int.h"
#include "log.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *rf_header(void *ctx, const char *name)
{
	return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

static void rf_add_headers(struct MHD_Response *r, const struct rf_reply *rp)
{
	MHD_add_response_header(r, "OData-Version", "4.0");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (rp->json)
		MHD_add_response_header(r, "Content-Type",
					"application/json; charset=utf-8");
	if (rp->allow)
		MHD_add_response_header(r, "Allow", rp->allow);
	if (rp->etag[0])
		MHD_add_response_header(r, "ETag", rp->etag);
	if (rp->location[0])
		MHD_add_response_header(r, "Location", rp->location);
	if (rp->token[0])
		MHD_add_response_header(r, "X-Auth-Token", rp->token);
	if (rp->status == 401)
		MHD_add_response_header(r, "WWW-Authenticate",
					"Basic realm=\"netstick Redfish\"");
}

static int rf_send(struct MHD_Connection *c, struct rf_reply *rp)
{
	const char *j = rp->json ? json_object_to_json_string_ext(rp->json,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "";
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (rp->status == 204)
		j = "";
	r = MHD_create_response_from_buffer(strlen(j), (void *)j,
					    MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	rf_add_headers(r, rp);
	ret = MHD_queue_response(c, rp->status, r);
	MHD_destroy_response(r);
	return ret;
}

int redfish_answer(struct redfish *rf, struct MHD_Connection *c,
		   const char *url, const char *method, const char *body,
		   size_t len, bool too_large)
{
	struct rf_request rq = {
		.method = method, .path = url, .body = body, .body_len = len,
		.too_large = too_large, .header = rf_header, .ctx = c,
	};
	struct rf_reply rp;
	int r;

	if (!rf) {
		memset(&rp, 0, sizeof rp);
		rf_error(&rp, 404, RF_RESOURCE_NOT_FOUND, NULL, "(the Redfish "
			 "service is off: see redfish: in config.yaml)",
			 "Resource", url, NULL);
	} else {
		rf_route(rf, &rq, &rp);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		log_info("redfish: %s %s: %u", method, url, rp.status);
	r = rf_send(c, &rp);
	rf_reply_free(&rp);
	return r;
}
