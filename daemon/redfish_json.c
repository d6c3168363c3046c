/* redfish_json.c — the pieces every Redfish resource is made of (@odata
 * annotations, links, collections, ETags) and the one error shape, with the
 * DMTF Base message registry entries netstick answers with.
 */
#include "redfish_int.h"
#include "api_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define RF_REGISTRY "Base.1.8."

struct rf_msg_def {
	const char *id;               /* MessageId without the registry */
	unsigned status;
	const char *message;          /* %1..%3: the args */
	const char *resolution;
};

static const struct rf_msg_def rf_msgs[RF_MSG_COUNT] = {
	[RF_GENERAL_ERROR] = { "GeneralError", 500,
		"A general error has occurred. See Resolution for "
		"information on how to resolve the error.", "None." },
	[RF_RESOURCE_NOT_FOUND] = { "ResourceNotFound", 404,
		"The requested resource of type %1 named '%2' was not found.",
		"Provide a valid resource identifier and resubmit the "
		"request." },
	[RF_METHOD_NOT_ALLOWED] = { "GeneralError", 405,
		"The HTTP method is not allowed on this resource.",
		"Use one of the methods in the Allow header." },
	[RF_MALFORMED_JSON] = { "MalformedJSON", 400,
		"The request body submitted was malformed JSON and could not "
		"be parsed by the receiving service.",
		"Ensure that the request body is valid JSON and resubmit the "
		"request." },
	[RF_PROPERTY_UNKNOWN] = { "PropertyUnknown", 400,
		"The property %1 is not in the list of valid properties for "
		"the resource.",
		"Remove the unknown property from the request body and "
		"resubmit the request if the operation failed." },
	[RF_PROPERTY_VALUE_TYPE] = { "PropertyValueTypeError", 400,
		"The value '%1' for the property %2 is of a different type "
		"than the property can accept.",
		"Correct the value for the property in the request body and "
		"resubmit the request if the operation failed." },
	[RF_PROPERTY_NOT_IN_LIST] = { "PropertyValueNotInList", 400,
		"The value '%1' for the property %2 is not in the list of "
		"acceptable values.",
		"Choose a value from the enumeration list that the "
		"implementation can support and resubmit the request if the "
		"operation failed." },
	[RF_PROPERTY_NOT_WRITABLE] = { "PropertyNotWritable", 400,
		"The property %1 is a read only property and cannot be "
		"assigned a value.",
		"Remove the property from the request body and resubmit the "
		"request if the operation failed." },
	[RF_ACTION_NOT_SUPPORTED] = { "ActionNotSupported", 400,
		"The action %1 is not supported by the resource.",
		"The action supplied cannot be resubmitted to the "
		"implementation.  Perhaps the action was invalid, the wrong "
		"resource was the target or the implementation documentation "
		"may be of assistance." },
	[RF_ACTION_PARAM_MISSING] = { "ActionParameterMissing", 400,
		"The action %1 requires the parameter %2 to be present in "
		"the request body.",
		"Supply the action with the required parameter in the "
		"request body when the request is resubmitted." },
	[RF_ACTION_PARAM_UNKNOWN] = { "ActionParameterUnknown", 400,
		"The action %1 was submitted with the invalid parameter %2.",
		"Correct the invalid parameter and resubmit the request if "
		"the operation failed." },
	[RF_ACTION_PARAM_TYPE] = { "ActionParameterValueTypeError", 400,
		"The value '%1' for the parameter %2 in the action %3 is of "
		"a different type than the parameter can accept.",
		"Correct the value for the parameter in the request body and "
		"resubmit the request if the operation failed." },
	[RF_ACTION_PARAM_NOT_IN_LIST] = { "ActionParameterValueNotInList",
		400, "The value '%1' for the parameter %2 in the action %3 "
		"is not in the list of acceptable values.",
		"Choose a value from the enumeration list that the "
		"implementation can support and resubmit the request if the "
		"operation failed." },
	[RF_ACTION_PARAM_NOT_SUPP] = { "ActionParameterNotSupported", 400,
		"The parameter %1 for the action %2 is not supported on the "
		"target resource.",
		"Remove the parameter supplied and resubmit the request if "
		"the operation failed." },
	[RF_ACTION_PARAM_FORMAT] = { "ActionParameterValueFormatError", 400,
		"The value '%1' for the parameter %2 in the action %3 is of "
		"a different format than the parameter can accept.",
		"Correct the value for the parameter in the request body and "
		"resubmit the request if the operation failed." },
	[RF_COULD_NOT_CONNECT] = { "CouldNotEstablishConnection", 400,
		"The service failed to establish a connection with the URI "
		"'%1'.",
		"Ensure that the URI contains a valid and reachable node "
		"name, protocol information and other URI components." },
	[RF_RESOURCE_IN_USE] = { "ResourceInUse", 409,
		"The change to the requested resource failed because the "
		"resource is in use or in transition.",
		"Remove the condition and resubmit the request if the "
		"operation failed." },
	[RF_NO_VALID_SESSION] = { "NoValidSession", 401,
		"There is no valid session established with the "
		"implementation.",
		"Establish a session before attempting any operations, or "
		"give credentials with HTTP Basic authentication." },
	[RF_LOGIN_FAILED] = { "ResourceAtUriUnauthorized", 401,
		"While accessing the resource at '%1', the service received "
		"an authorization error 'invalid user name or password'.",
		"Ensure that the appropriate access is provided for the "
		"service in order for it to access the URI." },
	[RF_SESSION_LIMIT] = { "SessionLimitExceeded", 503,
		"The session establishment failed due to the number of "
		"simultaneous sessions exceeding the limit of the "
		"implementation.",
		"Reduce the number of other sessions before trying to "
		"establish the session or increase the limit of simultaneous "
		"sessions (if supported)." },
	[RF_PRECONDITION_FAILED] = { "PreconditionFailed", 412,
		"The ETag supplied did not match the ETag required to change "
		"this resource.",
		"Try the operation again using the appropriate ETag." },
	[RF_PAYLOAD_TOO_LARGE] = { "GeneralError", 413,
		"The request body is larger than the service accepts "
		"(api.max_body).", "Send a smaller request body." },
	[RF_NOT_IMPLEMENTED] = { "ActionNotSupported", 400,
		"The action %1 is not supported by the resource.",
		"Configure the hook command for it (redfish.hooks in "
		"config.yaml, docs/redfish.md)." },
};

/* The message with %1..%3 replaced by args (missing ones by ""). */
static void rf_format(char *out, size_t len, const char *tmpl,
		      const char *const *args, unsigned nargs)
{
	size_t n = 0;

	for (const char *t = tmpl; *t && n + 1 < len; t++) {
		unsigned i;
		if (t[0] == '%' && t[1] >= '1' && t[1] <= '3') {
			i = (unsigned)(t[1] - '1');
			n += (size_t)snprintf(out + n, len - n, "%.200s",
					      i < nargs ? args[i] : "");
			if (n >= len)
				n = len - 1;
			t++;
		} else {
			out[n++] = *t;
		}
	}
	out[n] = '\0';
}

static json_object *rf_ext_info(const struct rf_msg_def *d, const char *msg,
				const char *prop, const char *const *args,
				unsigned nargs)
{
	json_object *m = json_object_new_object(), *a = json_object_new_array();
	char id[64];

	snprintf(id, sizeof id, RF_REGISTRY "%s", d->id);
	json_object_object_add(m, "@odata.type",
			       json_object_new_string("#Message.v1_1_1.Message"));
	json_object_object_add(m, "MessageId", json_object_new_string(id));
	json_object_object_add(m, "Message", json_object_new_string(msg));
	for (unsigned i = 0; i < nargs; i++)
		json_object_array_add(a, json_object_new_string(args[i]));
	json_object_object_add(m, "MessageArgs", a);
	if (prop) {
		a = json_object_new_array();
		json_object_array_add(a, json_object_new_string(prop));
		json_object_object_add(m, "RelatedProperties", a);
	}
	json_object_object_add(m, "Severity", json_object_new_string(
		d->status >= 500 ? "Critical" : "Warning"));
	json_object_object_add(m, "MessageSeverity", json_object_new_string(
		d->status >= 500 ? "Critical" : "Warning"));
	json_object_object_add(m, "Resolution",
			       json_object_new_string(d->resolution));
	return m;
}

void rf_error(struct rf_reply *rp, unsigned status, enum rf_msg id,
	      const char *prop, const char *detail, ...)
{
	const struct rf_msg_def *d = &rf_msgs[(unsigned)id < RF_MSG_COUNT ?
					      id : RF_GENERAL_ERROR];
	const char *args[3];
	unsigned nargs = 0;
	char msg[1024], code[64];
	json_object *e = json_object_new_object(), *o, *a;
	va_list ap;

	va_start(ap, detail);
	while (nargs < 3 && (args[nargs] = va_arg(ap, const char *)) != NULL)
		nargs++;
	va_end(ap);
	rf_format(msg, sizeof msg, d->message, args, nargs);
	if (detail && detail[0]) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof msg - n, " %.700s", detail);
	}
	snprintf(code, sizeof code, RF_REGISTRY "%s", d->id);
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	a = json_object_new_array();
	json_object_array_add(a, rf_ext_info(d, msg, prop, args, nargs));
	json_object_object_add(e, "@Message.ExtendedInfo", a);
	o = json_object_new_object();
	json_object_object_add(o, "error", e);
	json_object_put(rp->json);
	rp->json = o;
	rp->status = status ? status : d->status;
	rp->etag[0] = '\0';
}

json_object *rf_link(const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char path[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	json_object_object_add(o, "@odata.id", json_object_new_string(path));
	return o;
}

json_object *rf_resource(const char *odata_id, const char *type,
			 const char *id, const char *name)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "@odata.id", json_object_new_string(odata_id));
	json_object_object_add(o, "@odata.type", json_object_new_string(type));
	if (id)
		json_object_object_add(o, "Id", json_object_new_string(id));
	json_object_object_add(o, "Name", json_object_new_string(name));
	return o;
}

json_object *rf_collection(const char *odata_id, const char *type,
			   const char *name, const char *const *members,
			   unsigned n)
{
	json_object *o = rf_resource(odata_id, type, NULL, name),
		    *a = json_object_new_array();

	for (unsigned i = 0; i < n; i++)
		json_object_array_add(a, rf_link("%s", members[i]));
	json_object_object_add(o, "Members@odata.count",
			       json_object_new_int((int)n));
	json_object_object_add(o, "Members", a);
	return o;
}

void rf_add_owner_links(json_object *o, const char *self, const char *rel,
			const char *other)
{
	json_object *links = json_object_new_object(),
		    *a = json_object_new_array();

	json_object_object_add(o, "VirtualMedia",
			       rf_link("%s/VirtualMedia", self));
	json_object_array_add(a, rf_link("%s", other));
	json_object_object_add(links, rel, a);
	json_object_object_add(o, "Links", links);
}

json_object *rf_status_ok(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "State", json_object_new_string("Enabled"));
	json_object_object_add(o, "Health", json_object_new_string("OK"));
	return o;
}

void rf_ok(struct rf_reply *rp, json_object *o, const char *allow)
{
	json_object_put(rp->json);
	rp->status = 200;
	rp->json = o;
	rp->allow = allow;
}

void rf_set_etag(struct rf_reply *rp, const char *tag)
{
	snprintf(rp->etag, sizeof rp->etag, "W/\"%.40s\"", tag);
	if (rp->json)
		json_object_object_add(rp->json, "@odata.etag",
				       json_object_new_string(rp->etag));
}

/* One entity of an If-Match list: W/"x" or "x" (or bare x). */
static bool rf_entity_is(const char *e, size_t len, const char *tag)
{
	size_t t = strlen(tag);

	if (len >= 2 && e[0] == 'W' && e[1] == '/') {
		e += 2;
		len -= 2;
	}
	if (len >= 2 && e[0] == '"' && e[len - 1] == '"') {
		e++;
		len -= 2;
	}
	return len == t && memcmp(e, tag, t) == 0;
}

bool rf_if_match(const struct rf_request *rq, const char *tag)
{
	const char *h = rq->header ? rq->header(rq->ctx, "If-Match") : NULL;

	if (!h || strspn(h, " \t") == strlen(h))
		return true;
	for (const char *p = h; *p;) {
		size_t len;
		p += strspn(p, " \t,");
		len = strcspn(p, ",");
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if ((len == 1 && p[0] == '*') || (len && rf_entity_is(p, len, tag)))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

json_object *rf_body_object(const struct rf_request *rq, struct rf_reply *rp)
{
	json_object *o = api_parse_json(rq->body, rq->body_len);

	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		rf_error(rp, 0, RF_MALFORMED_JSON, NULL,
			 "(the body must be one JSON object)", NULL);
		return NULL;
	}
	return o;
}
