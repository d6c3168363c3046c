/* redfish_vmedia.c — VirtualMedia: one member per LUN, under the Manager
 * (sushy 4.x, Ironic's fallback) and under the System (what newer Ironic
 * and Metal3 look at first); both name the same LUNs.
 *
 *   GET   {owner}/VirtualMedia                         the collection
 *   GET   {owner}/VirtualMedia/{lun}                   a member
 *   PATCH {owner}/VirtualMedia/{lun}  {Image, Inserted, WriteProtected}
 *   POST  {owner}/VirtualMedia/{lun}/Actions/VirtualMedia.InsertMedia
 *   POST  {owner}/VirtualMedia/{lun}/Actions/VirtualMedia.EjectMedia
 *
 * Inserting goes through the media service (media_insert: the source
 * policy of api.allowed_*, one change per LUN at a time) and answers once
 * the medium is presented to the host: 204, or a 4xx naming what was
 * wrong.  A bad or unreachable image is 400 (CouldNotEstablishConnection
 * or a parameter error), never a 5xx a client would retry for minutes.
 * Inserted and WriteProtected default to true; TransferProtocolType is
 * inferred from the URL's scheme and, when given, must agree with it.
 *
 * A member's state (the ETag) is its LUN's media generation and state:
 *
 *     Inserted:false ──InsertMedia / PATCH Image──▶ Inserted:true
 *           ▲                                            │
 *           └──── EjectMedia / PATCH Image:null ─────────┘
 *                 (or a host eject, or the REST API)
 */
#include "redfish_int.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RF_VM_ALLOW "GET, HEAD, PATCH"
#define RF_INSERT "#VirtualMedia.InsertMedia"
#define RF_EJECT "#VirtualMedia.EjectMedia"
#define RF_VM_MAX_OPTS 3

/* The LUN's type (config luns[].type), fixed for the gadget's life. */
bool rf_lun_optical(const struct lun *l)
{
	return l->type == CONFIG_LUN_CDROM;
}

void rf_vmedia_free(struct redfish *rf)
{
	for (unsigned i = 0; i < CONFIG_MAX_LUNS; i++) {
		free(rf->vm[i].image);
		rf->vm[i].image = NULL;
	}
}

/* ---- reading a member --------------------------------------------- */

/* scheme of a URL → TransferProtocolType (NULL: none fits, a path). */
static const char *rf_proto_of(const char *url)
{
	static const struct { const char *scheme, *proto; } map[] = {
		{ "https://", "HTTPS" }, { "http://", "HTTP" },
		{ "nbd://", "OEM" }, { "nbds://", "OEM" }, { "nbd+unix://", "OEM" },
		{ "file:", "OEM" }, { "memory:", "OEM" },
	};

	for (unsigned i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strncasecmp(url, map[i].scheme, strlen(map[i].scheme)) == 0)
			return map[i].proto;
	return url[0] == '/' ? "OEM" : NULL;
}

static const char *rf_basename(const char *image)
{
	const char *end = image + strcspn(image, "?#"), *b = image;

	for (const char *p = image; p < end; p++)
		if (*p == '/' && p + 1 < end)
			b = p + 1;
	return b;
}

struct rf_vm_view {
	bool inserted, readonly, locked;
	uint32_t gen;
	int state;
	char image[LUN_SOURCE_SHOW];
	char error[256];
};

static void rf_vm_view(struct redfish *rf, struct lun *l, struct rf_vm_view *v)
{
	static __thread struct lun_info li;  /* 4 KiB+: off the stack */

	lun_get_info(l, &li);
	v->inserted = li.state == LUN_READY || li.state == LUN_LOADING;
	v->readonly = v->inserted ? li.readonly : true;
	v->locked = li.prevent;
	v->gen = li.media_gen;
	v->state = (int)li.state;
	snprintf(v->error, sizeof v->error, "%s", li.error);
	v->image[0] = '\0';
	if (!v->inserted)
		return;
	pthread_mutex_lock(&rf->lock);
	if (rf->vm[l->id].image && rf->vm[l->id].gen == li.media_gen)
		snprintf(v->image, sizeof v->image, "%s", rf->vm[l->id].image);
	pthread_mutex_unlock(&rf->lock);
	if (!v->image[0])
		snprintf(v->image, sizeof v->image, "%s", li.source);
}

static void rf_vm_tag(const struct rf_vm_view *v, char *tag, size_t len)
{
	snprintf(tag, len, "m%u.%d.%d", v->gen, v->state, v->readonly);
}

static json_object *rf_media_types(const struct lun *l)
{
	json_object *a = json_object_new_array();

	if (rf_lun_optical(l)) {
		json_object_array_add(a, json_object_new_string("CD"));
		json_object_array_add(a, json_object_new_string("DVD"));
	} else {
		json_object_array_add(a, json_object_new_string("USBStick"));
	}
	return a;
}

/* The protocols api.allowed_schemes lets through (Ironic reads them). */
static json_object *rf_protocols(const struct redfish *rf)
{
	static const char *const protos[] = { "HTTP", "HTTPS", "OEM" };
	json_object *a = json_object_new_array();
	bool have[3] = { false, false, false };
	char **s = rf->cfg->api.allowed_schemes;

	for (; s && *s; s++) {
		bool web = strcasecmp(*s, "http") == 0 ||
			   strcasecmp(*s, "https") == 0;
		have[web ? (*s)[4] != '\0' : 2] = true;
	}
	for (unsigned i = 0; i < 3; i++)
		if (have[i])
			json_object_array_add(a, json_object_new_string(protos[i]));
	return a;
}

static json_object *rf_action(const struct redfish *rf, const char *self,
			      const char *name)
{
	json_object *o = json_object_new_object();
	char target[256];

	snprintf(target, sizeof target, "%s/Actions/VirtualMedia.%s", self,
		 name);
	json_object_object_add(o, "target", json_object_new_string(target));
	if (strcmp(name, "InsertMedia") == 0)
		json_object_object_add(o, "TransferProtocolType@Redfish."
				       "AllowableValues", rf_protocols(rf));
	return o;
}

static json_object *rf_vm_oem(const struct rf_vm_view *v)
{
	json_object *o = json_object_new_object(), *n = json_object_new_object();

	json_object_object_add(n, "HostLocked",
			       json_object_new_boolean(v->locked));
	json_object_object_add(n, "LastError", v->error[0] ?
			       json_object_new_string(v->error) : NULL);
	json_object_object_add(o, "Netstick", n);
	return o;
}

static void rf_get_member(struct redfish *rf, struct lun *l, const char *self,
			  struct rf_reply *rp)
{
	static __thread struct rf_vm_view v;
	char id[12], name[64], tag[48];
	json_object *o, *acts;
	const char *proto;

	rf_vm_view(rf, l, &v);
	snprintf(id, sizeof id, "%u", l->id);
	snprintf(name, sizeof name, "%s %u", rf_lun_optical(l) ?
		 "Virtual CD/DVD" : "Virtual USB stick", l->id);
	o = rf_resource(self, "#VirtualMedia.v1_3_0.VirtualMedia", id, name);
	proto = v.inserted ? rf_proto_of(v.image) : NULL;
	json_object_object_add(o, "MediaTypes", rf_media_types(l));
	json_object_object_add(o, "Image", v.inserted ?
			       json_object_new_string(v.image) : NULL);
	json_object_object_add(o, "ImageName", v.inserted ?
			       json_object_new_string(rf_basename(v.image)) :
			       NULL);
	json_object_object_add(o, "Inserted",
			       json_object_new_boolean(v.inserted));
	json_object_object_add(o, "WriteProtected",
			       json_object_new_boolean(v.readonly));
	json_object_object_add(o, "ConnectedVia", json_object_new_string(
		v.inserted ? "URI" : "NotConnected"));
	json_object_object_add(o, "TransferProtocolType",
			       proto ? json_object_new_string(proto) : NULL);
	json_object_object_add(o, "TransferMethod",
			       json_object_new_string("Stream"));
	json_object_object_add(o, "Status", rf_status_ok());
	acts = json_object_new_object();
	json_object_object_add(acts, RF_INSERT,
			       rf_action(rf, self, "InsertMedia"));
	json_object_object_add(acts, RF_EJECT, rf_action(rf, self, "EjectMedia"));
	json_object_object_add(o, "Actions", acts);
	json_object_object_add(o, "Oem", rf_vm_oem(&v));
	rf_ok(rp, o, RF_VM_ALLOW);
	rf_vm_tag(&v, tag, sizeof tag);
	rf_set_etag(rp, tag);
}

static void rf_get_collection(struct redfish *rf, const char *base,
			      struct rf_reply *rp)
{
	char self[160], paths[CONFIG_MAX_LUNS][176];
	const char *members[CONFIG_MAX_LUNS];

	snprintf(self, sizeof self, "%s/VirtualMedia", base);
	for (unsigned i = 0; i < rf->nluns; i++) {
		snprintf(paths[i], sizeof paths[i], "%s/%u", self, i);
		members[i] = paths[i];
	}
	rf_ok(rp, rf_collection(self, "#VirtualMediaCollection."
				"VirtualMediaCollection",
				"Virtual Media Services", members, rf->nluns),
	      "GET, HEAD");
}

/* ---- inserting ------------------------------------------------------ */

/* What a client asked for, from the action's parameters or a PATCH. */
struct rf_insert {
	const char *image;            /* NULL: not given */
	bool image_null;              /* "Image": null */
	int inserted;                 /* -1 not given, 0, 1 */
	int write_protected;          /* -1 not given, 0, 1 */
	const char *proto, *method, *user, *password;
	bool patch;                   /* the PATCH form: Property* messages */
};

/* Reports a bad value of a parameter / property. */
static void rf_bad_value(struct rf_reply *rp, const struct rf_insert *in,
			 enum rf_msg action_id, enum rf_msg patch_id,
			 const char *param, const char *value,
			 const char *detail)
{
	char prop[48];

	snprintf(prop, sizeof prop, "#/%s", param);
	if (in->patch)
		rf_error(rp, 0, patch_id, prop, detail, value, param, NULL);
	else
		rf_error(rp, 0, action_id, prop, detail, value, param,
			 RF_INSERT, NULL);
}

/* v is of type t, else a type error on key in rp. */
static bool rf_typed(json_object *v, json_type t, const char *key,
		     const struct rf_insert *in, struct rf_reply *rp)
{
	const char *s = json_object_get_string(v);

	if (json_object_is_type(v, t))
		return true;
	rf_bad_value(rp, in, RF_ACTION_PARAM_TYPE, RF_PROPERTY_VALUE_TYPE, key,
		     s ? s : "null", NULL);
	return false;
}

static int rf_get_bool(json_object *v, const char *key, int *out,
		       const struct rf_insert *in, struct rf_reply *rp)
{
	if (!rf_typed(v, json_type_boolean, key, in, rp))
		return -1;
	*out = json_object_get_boolean(v);
	return 0;
}

static int rf_get_str(json_object *v, const char *key, const char **out,
		      const struct rf_insert *in, struct rf_reply *rp)
{
	if (!rf_typed(v, json_type_string, key, in, rp))
		return -1;
	*out = json_object_get_string(v);
	return 0;
}

static int rf_insert_field(const char *key, json_object *v,
			   struct rf_insert *in, struct rf_reply *rp)
{
	static const char *const readonly[] = { "Id", "Name", "MediaTypes",
		"ImageName", "ConnectedVia", "Status", "Actions", NULL };

	if (strcmp(key, "Image") == 0) {
		in->image_null = v == NULL;
		return v == NULL ? 0 : rf_get_str(v, key, &in->image, in, rp);
	}
	if (strcmp(key, "Inserted") == 0)
		return rf_get_bool(v, key, &in->inserted, in, rp);
	if (strcmp(key, "WriteProtected") == 0)
		return rf_get_bool(v, key, &in->write_protected, in, rp);
	if (strcmp(key, "TransferProtocolType") == 0)
		return rf_get_str(v, key, &in->proto, in, rp);
	if (strcmp(key, "TransferMethod") == 0)
		return rf_get_str(v, key, &in->method, in, rp);
	if (strcmp(key, "UserName") == 0)
		return rf_get_str(v, key, &in->user, in, rp);
	if (strcmp(key, "Password") == 0)
		return rf_get_str(v, key, &in->password, in, rp);
	for (unsigned i = 0; in->patch && readonly[i]; i++)
		if (strcmp(key, readonly[i]) == 0) {
			rf_error(rp, 0, RF_PROPERTY_NOT_WRITABLE, NULL, NULL,
				 key, NULL);
			return -1;
		}
	if (in->patch)
		rf_error(rp, 0, RF_PROPERTY_UNKNOWN, NULL, NULL, key, NULL);
	else
		rf_error(rp, 0, RF_ACTION_PARAM_UNKNOWN, NULL, NULL, RF_INSERT,
			 key, NULL);
	return -1;
}

static int rf_parse_insert(json_object *body, struct rf_insert *in,
			   struct rf_reply *rp)
{
	json_object_object_foreach(body, key, val)
		if (rf_insert_field(key, val, in, rp) < 0)
			return -1;
	return 0;
}

/* The parameters the media service does not check itself: 0, or -1
 * with the error in rp. */
static int rf_check_params(const struct rf_insert *in, const char *proto,
			   struct rf_reply *rp)
{
	const char *param = NULL, *value = NULL, *why = NULL;
	bool web = proto && strncmp(proto, "HTTP", 4) == 0;
	enum rf_msg id = RF_ACTION_PARAM_NOT_IN_LIST;

	if (in->inserted == 0) {
		param = "Inserted";
		value = "false";
		id = RF_ACTION_PARAM_NOT_SUPP;
		why = "netstick presents a medium as soon as it is inserted.";
	} else if (in->proto && (!proto || strcmp(in->proto, proto) != 0)) {
		param = "TransferProtocolType";
		value = in->proto;
		why = proto ? "It must agree with the Image URL's scheme."
			    : "The Image URL's scheme is not one netstick serves.";
	} else if (in->method && strcmp(in->method, "Stream") != 0) {
		param = "TransferMethod";
		value = in->method;
		why = "Only Stream is supported.";
	} else if ((in->user || in->password) && !web) {
		param = in->user ? "UserName" : "Password";
		value = "(set)";
		id = RF_ACTION_PARAM_NOT_SUPP;
		why = "Credentials are for http and https images only.";
	}
	if (!param)
		return 0;
	rf_bad_value(rp, in, id, RF_PROPERTY_NOT_IN_LIST, param, value, why);
	return -1;
}

/* The checked parameters, and the image server's credentials as backend
 * options into opts (NULL-terminated). */
static int rf_check_insert(const struct rf_insert *in, const char **opts,
			   char optbuf[][600], struct rf_reply *rp)
{
	unsigned n = 0;

	if (rf_check_params(in, rf_proto_of(in->image), rp) < 0)
		return -1;
	if (in->user) {
		snprintf(optbuf[n], 600, "user=%.580s", in->user);
		opts[n] = optbuf[n];
		n++;
	}
	if (in->password) {
		snprintf(optbuf[n], 600, "password=%.580s", in->password);
		opts[n] = optbuf[n];
		n++;
	}
	opts[n] = NULL;
	return 0;
}

/* A media service failure as a Redfish error (the image redacted: the
 * reply may be logged by the client). */
static void rf_media_error(const struct media_result *res,
			   const struct rf_insert *in, struct rf_reply *rp)
{
	static __thread char shown[LUN_SOURCE_SHOW];
	const char *image = in && in->image ?
			    backend_redact(in->image, shown, sizeof shown) : NULL;

	switch (res->err) {
	case MEDIA_EBUSY:
	case MEDIA_ELOCKED:
		rf_error(rp, 0, RF_RESOURCE_IN_USE, NULL, res->msg, NULL);
		break;
	case MEDIA_ENOTREMOVABLE:
		rf_error(rp, 0, RF_ACTION_NOT_SUPPORTED, NULL, res->msg,
			 in ? RF_INSERT : RF_EJECT, NULL);
		break;
	case MEDIA_EOPEN:
		rf_error(rp, 0, RF_COULD_NOT_CONNECT, "#/Image", res->msg,
			 image ? image : "", NULL);
		break;
	case MEDIA_EPOLICY:
		if (res->code && strcmp(res->code, "source_not_found") == 0) {
			rf_error(rp, 0, RF_COULD_NOT_CONNECT, "#/Image",
				 res->msg, image ? image : "", NULL);
			break;
		}
		/* fall through */
	default:
		if (in)
			rf_bad_value(rp, in, RF_ACTION_PARAM_NOT_IN_LIST,
				     RF_PROPERTY_NOT_IN_LIST, "Image",
				     image ? image : "", res->msg);
		else
			rf_error(rp, 400, RF_GENERAL_ERROR, NULL, res->msg,
				 NULL);
	}
}

/* Records what was inserted so Image reads back as it was sent. */
static void rf_remember(struct redfish *rf, struct lun *l, const char *image)
{
	static __thread struct lun_info li;
	char shown[LUN_SOURCE_SHOW];
	char *copy;

	lun_get_info(l, &li);
	copy = image ? strdup(backend_redact(image, shown, sizeof shown)) : NULL;
	pthread_mutex_lock(&rf->lock);
	free(rf->vm[l->id].image);
	rf->vm[l->id].image = copy;
	rf->vm[l->id].gen = li.media_gen;
	pthread_mutex_unlock(&rf->lock);
}

/* Inserts in->image; 0, or -1 with the error in rp. */
static int rf_insert(struct redfish *rf, struct lun *l,
		     const struct rf_insert *in, struct rf_reply *rp)
{
	const char *opts[RF_VM_MAX_OPTS];
	char optbuf[RF_VM_MAX_OPTS - 1][600];
	struct media_result res;
	bool catalog;
	int r;

	if (!in->image || !in->image[0]) {
		if (in->patch)
			rf_error(rp, 0, RF_PROPERTY_VALUE_TYPE, "#/Image", NULL,
				 "", "Image", NULL);
		else
			rf_error(rp, 0, RF_ACTION_PARAM_MISSING, "#/Image",
				 NULL, RF_INSERT, "Image", NULL);
		return -1;
	}
	catalog = config_image_find(rf->cfg, in->image) != NULL;
	if (!catalog && rf_check_insert(in, opts, optbuf, rp) < 0)
		return -1;
	r = media_insert(rf->ms, l, &(struct media_request){
			.source = catalog ? NULL : in->image,
			.image = catalog ? in->image : NULL,
			.readonly = in->write_protected != 0,
			.cdrom = rf_lun_optical(l), .force = rf->rc->force,
			.options = !catalog && opts[0] ? opts : NULL,
		}, &res);
	explicit_bzero(optbuf, sizeof optbuf);
	if (r < 0) {
		log_info("redfish: insert into LUN %u refused: %s", l->id,
			 res.msg);
		rf_media_error(&res, in, rp);
		return -1;
	}
	rf_remember(rf, l, in->image);
	return 0;
}

static int rf_eject(struct redfish *rf, struct lun *l, struct rf_reply *rp)
{
	struct media_result res;

	if (media_eject(rf->ms, l, rf->rc->force && l->removable, &res) < 0) {
		rf_media_error(&res, NULL, rp);
		return -1;
	}
	rf_remember(rf, l, NULL);
	return 0;
}

/* ---- actions and PATCH ------------------------------------------------ */

static void rf_post_insert(struct redfish *rf, struct lun *l,
			   const struct rf_request *rq, struct rf_reply *rp)
{
	struct rf_insert in = { .inserted = -1, .write_protected = -1 };
	json_object *body = rf_body_object(rq, rp);

	if (!body)
		return;
	if (rf_parse_insert(body, &in, rp) == 0 && rf_insert(rf, l, &in, rp) == 0)
		rp->status = 204;
	json_object_put(body);
}

/* No body, or an empty object (sushy retries with {} on a 400 / 415). */
static void rf_post_eject(struct redfish *rf, struct lun *l,
			  const struct rf_request *rq, struct rf_reply *rp)
{
	json_object *body = NULL;

	if (rq->body_len && strspn(rq->body, " \t\r\n") != rq->body_len) {
		if (!(body = rf_body_object(rq, rp)))
			return;
		json_object_object_foreach(body, key, val) {
			(void)val;
			rf_error(rp, 0, RF_ACTION_PARAM_UNKNOWN, NULL, NULL,
				 RF_EJECT, key, NULL);
			json_object_put(body);
			return;
		}
		json_object_put(body);
	}
	if (rf_eject(rf, l, rp) == 0)
		rp->status = 204;
}

/*   Image: URL (Inserted absent or true)      insert
 *   Image: null and/or Inserted: false        eject
 *   Inserted: true alone                      nothing, if inserted */
static void rf_patch_member(struct redfish *rf, struct lun *l,
			    const struct rf_request *rq, const char *self,
			    struct rf_reply *rp)
{
	struct rf_insert in = { .inserted = -1, .write_protected = -1,
				.patch = true };
	static __thread struct rf_vm_view v;
	json_object *body = rf_body_object(rq, rp);
	char tag[48];
	int r = 0;

	if (!body)
		return;
	rf_vm_view(rf, l, &v);
	rf_vm_tag(&v, tag, sizeof tag);
	if (!rf_if_match(rq, tag))
		rf_error(rp, 0, RF_PRECONDITION_FAILED, NULL, NULL, NULL);
	else if (rf_parse_insert(body, &in, rp) < 0)
		r = -1;
	else if (in.image && (in.inserted == 0 || in.image_null))
		rf_bad_value(rp, &in, RF_ACTION_PARAM_NOT_SUPP,
			     RF_PROPERTY_NOT_IN_LIST, "Inserted", "false",
			     "An Image with Inserted false is not supported.");
	else if (in.image)
		r = rf_insert(rf, l, &in, rp);
	else if (in.image_null || in.inserted == 0)
		r = rf_eject(rf, l, rp);
	else if (!v.inserted)
		rf_bad_value(rp, &in, RF_ACTION_PARAM_NOT_SUPP,
			     RF_PROPERTY_NOT_IN_LIST, "Inserted", "true",
			     "Give the Image to insert.");
	json_object_put(body);
	if (r == 0 && !rp->status)
		rf_get_member(rf, l, self, rp);
}

/* "/{lun}[/...]": the LUN, with *rest what follows; NULL if none. */
static struct lun *rf_lun_of(struct redfish *rf, const char *p,
			     const char **rest)
{
	char *end;
	unsigned long id;

	if (p[0] < '0' || p[0] > '9' || (p[0] == '0' && p[1] >= '0' &&
					 p[1] <= '9'))
		return NULL;
	errno = 0;
	id = strtoul(p, &end, 10);
	if (errno || id >= rf->nluns || (*end && *end != '/'))
		return NULL;
	*rest = end;
	return &rf->luns[id];
}

static void rf_route_member(struct redfish *rf, const struct rf_request *rq,
			    struct lun *l, const char *self, const char *rest,
			    struct rf_reply *rp)
{
	bool post = strcmp(rq->method, "POST") == 0;

	if (strcmp(rest, "") == 0) {
		if (strcmp(rq->method, "GET") == 0 ||
		    strcmp(rq->method, "HEAD") == 0)
			rf_get_member(rf, l, self, rp);
		else if (strcmp(rq->method, "PATCH") == 0)
			rf_patch_member(rf, l, rq, self, rp);
		else
			rp->allow = RF_VM_ALLOW;
	} else if (strcmp(rest, "/Actions/VirtualMedia.InsertMedia") == 0) {
		if (post)
			rf_post_insert(rf, l, rq, rp);
		else
			rp->allow = "POST";
	} else if (strcmp(rest, "/Actions/VirtualMedia.EjectMedia") == 0) {
		if (post)
			rf_post_eject(rf, l, rq, rp);
		else
			rp->allow = "POST";
	} else if (strncmp(rest, "/Actions/", 9) == 0) {
		rf_error(rp, 404, RF_ACTION_NOT_SUPPORTED, NULL, NULL,
			 rest + 9, NULL);
	}
}

void rf_route_vmedia(struct redfish *rf, const struct rf_request *rq,
		     const char *base, const char *rest, struct rf_reply *rp)
{
	char self[200];
	const char *after;
	struct lun *l;

	if (strcmp(rest, "") == 0) {
		if (strcmp(rq->method, "GET") == 0 ||
		    strcmp(rq->method, "HEAD") == 0)
			rf_get_collection(rf, base, rp);
		else
			rp->allow = "GET, HEAD";
		return;
	}
	if (!(l = rf_lun_of(rf, rest + 1, &after))) {
		rf_error(rp, 0, RF_RESOURCE_NOT_FOUND, NULL, NULL,
			 "VirtualMedia", rest + 1, NULL);
		return;
	}
	snprintf(self, sizeof self, "%s/VirtualMedia/%u", base, l->id);
	rf_route_member(rf, rq, l, self, after, rp);
}
