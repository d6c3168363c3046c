/* redfish_system.c — the one ComputerSystem: the machine netstick is
 * plugged into.
 *
 *   GET   /redfish/v1/Systems/{id}                          the system
 *   PATCH /redfish/v1/Systems/{id}   {"Boot": {...}}        boot override
 *   POST  /redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset
 *   ...   /redfish/v1/Systems/{id}/VirtualMedia[/...]       redfish_vmedia.c
 *
 * Boot: BootSourceOverrideTarget/Enabled/Mode are checked against their
 * AllowableValues, stored and returned (Ironic PATCHes them before it
 * powers the machine on).  netstick cannot change the host firmware's boot
 * order: a firmware boots the medium when it is the first bootable device,
 * or through its own boot menu.
 *
 * Power: PowerState comes from the power_state hook when configured (it
 * prints On or Off), else it is the state the last Reset commanded ("On"
 * at start).  Reset runs the power_on / power_off / power_cycle hook of
 * the ResetType (power_cycle missing: power_off, then power_on); with no
 * hook for it the action answers 400 ActionNotSupported.
 */
#include "redfish_int.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define RF_SYS_ALLOW "GET, HEAD, PATCH"
#define RF_RESET_ACTION "#ComputerSystem.Reset"

static const char *const rf_targets[] = { "None", "Pxe", "Cd", "Usb", "Hdd",
					  NULL };
static const char *const rf_enabled[] = { "Disabled", "Once", "Continuous",
					  NULL };
static const char *const rf_modes[] = { "UEFI", "Legacy", NULL };

void rf_boot_init(struct rf_boot *b)
{
	snprintf(b->target, sizeof b->target, "None");
	snprintf(b->enabled, sizeof b->enabled, "Disabled");
	snprintf(b->mode, sizeof b->mode, "UEFI");
	b->gen = 1;
}

static json_object *rf_strings(const char *const *v)
{
	json_object *a = json_object_new_array();

	for (; *v; v++)
		json_object_array_add(a, json_object_new_string(*v));
	return a;
}

static bool rf_in(const char *const *v, const char *s)
{
	for (; *v; v++)
		if (strcmp(*v, s) == 0)
			return true;
	return false;
}

/* ---- power ----------------------------------------------------------- */

enum rf_power_op { RF_OP_ON, RF_OP_OFF, RF_OP_CYCLE };

static const struct { const char *type; enum rf_power_op op; } rf_resets[] = {
	{ "On", RF_OP_ON }, { "ForceOff", RF_OP_OFF },
	{ "GracefulShutdown", RF_OP_OFF }, { "ForceRestart", RF_OP_CYCLE },
	{ "GracefulRestart", RF_OP_CYCLE }, { "PowerCycle", RF_OP_CYCLE },
};
#define RF_NRESETS (sizeof rf_resets / sizeof rf_resets[0])

static bool rf_can(const struct config_redfish_hooks *h, enum rf_power_op op)
{
	switch (op) {
	case RF_OP_ON:
		return h->power_on;
	case RF_OP_OFF:
		return h->power_off;
	case RF_OP_CYCLE:
		return h->power_cycle || (h->power_on && h->power_off);
	}
	return false;
}

static json_object *rf_reset_types(const struct config_redfish_hooks *h)
{
	json_object *a = json_object_new_array();

	for (unsigned i = 0; i < RF_NRESETS; i++)
		if (rf_can(h, rf_resets[i].op))
			json_object_array_add(a,
				json_object_new_string(rf_resets[i].type));
	return a;
}

/* The power_state hook's answer, or the last commanded state; NULL
 * (PowerState null) when the hook fails. */
static json_object *rf_power_state(struct redfish *rf)
{
	const struct config_redfish_hooks *h = &rf->rc->hooks;
	char out[64], err[160], state[8];
	int r;

	if (!h->power_state) {
		pthread_mutex_lock(&rf->lock);
		snprintf(state, sizeof state, "%s", rf->power);
		pthread_mutex_unlock(&rf->lock);
		return json_object_new_string(state);
	}
	pthread_mutex_lock(&rf->hook_lock);
	r = rf_hook_run(h->power_state, NULL, h->timeout, out, sizeof out,
			err, sizeof err);
	pthread_mutex_unlock(&rf->hook_lock);
	out[strcspn(out, " \t\r\n")] = '\0';
	if (r == 0 && (strcasecmp(out, "on") == 0 ||
		       strcasecmp(out, "off") == 0))
		return json_object_new_string(out[1] == 'n' || out[1] == 'N'
					      ? "On" : "Off");
	log_warnx("redfish: power_state hook: %s", r == 0 ? "printed neither "
		  "On nor Off" : err);
	return NULL;
}

/* Runs the hooks for op; 0, or -1 with err set. */
static int rf_power_run(struct redfish *rf, enum rf_power_op op,
			const char *type, char *err, size_t errlen)
{
	const struct config_redfish_hooks *h = &rf->rc->hooks;
	const char *first = op == RF_OP_ON ? h->power_on :
			    op == RF_OP_OFF ? h->power_off :
			    h->power_cycle ? h->power_cycle : h->power_off;
	const char *second = op == RF_OP_CYCLE && !h->power_cycle ?
			     h->power_on : NULL;
	int r;

	pthread_mutex_lock(&rf->hook_lock);
	r = rf_hook_run(first, type, h->timeout, NULL, 0, err, errlen);
	if (r == 0 && second)
		r = rf_hook_run(second, type, h->timeout, NULL, 0, err, errlen);
	pthread_mutex_unlock(&rf->hook_lock);
	return r == 0 ? 0 : -1;
}

static void rf_post_reset(struct redfish *rf, const struct rf_request *rq,
			  struct rf_reply *rp)
{
	json_object *body = rf_body_object(rq, rp), *v;
	const char *type;
	char err[256];
	unsigned i;

	if (!body)
		return;
	json_object_object_foreach(body, key, val) {
		(void)val;
		if (strcmp(key, "ResetType") != 0) {
			rf_error(rp, 0, RF_ACTION_PARAM_UNKNOWN, NULL, NULL,
				 RF_RESET_ACTION, key, NULL);
			goto out;
		}
	}
	if (!json_object_object_get_ex(body, "ResetType", &v)) {
		rf_error(rp, 0, RF_ACTION_PARAM_MISSING, "#/ResetType", NULL,
			 RF_RESET_ACTION, "ResetType", NULL);
		goto out;
	}
	type = json_object_get_string(v);
	for (i = 0; i < RF_NRESETS; i++)
		if (json_object_is_type(v, json_type_string) &&
		    strcmp(rf_resets[i].type, type) == 0)
			break;
	if (i == RF_NRESETS) {
		rf_error(rp, 0, RF_ACTION_PARAM_NOT_IN_LIST, "#/ResetType",
			 NULL, type, "ResetType", RF_RESET_ACTION, NULL);
		goto out;
	}
	if (!rf_can(&rf->rc->hooks, rf_resets[i].op)) {
		char what[64];
		snprintf(what, sizeof what, RF_RESET_ACTION " (%s)", type);
		rf_error(rp, 0, RF_NOT_IMPLEMENTED, "#/ResetType",
			 "No power hook for it is configured "
			 "(redfish.hooks).", what, NULL);
		goto out;
	}
	if (rf_power_run(rf, rf_resets[i].op, type, err, sizeof err) < 0) {
		log_warnx("redfish: Reset %s: %s", type, err);
		rf_error(rp, 500, RF_GENERAL_ERROR, NULL, err, NULL);
		goto out;
	}
	log_info("redfish: Reset %s done", type);
	pthread_mutex_lock(&rf->lock);
	snprintf(rf->power, sizeof rf->power, "%s",
		 rf_resets[i].op == RF_OP_OFF ? "Off" : "On");
	pthread_mutex_unlock(&rf->lock);
	rp->status = 204;
out:
	json_object_put(body);
}

/* ---- the resource ----------------------------------------------------- */

static json_object *rf_boot_json(const struct rf_boot *b)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "BootSourceOverrideEnabled",
			       json_object_new_string(b->enabled));
	json_object_object_add(o, "BootSourceOverrideEnabled@Redfish."
			       "AllowableValues", rf_strings(rf_enabled));
	json_object_object_add(o, "BootSourceOverrideTarget",
			       json_object_new_string(b->target));
	json_object_object_add(o, "BootSourceOverrideTarget@Redfish."
			       "AllowableValues", rf_strings(rf_targets));
	json_object_object_add(o, "BootSourceOverrideMode",
			       json_object_new_string(b->mode));
	json_object_object_add(o, "BootSourceOverrideMode@Redfish."
			       "AllowableValues", rf_strings(rf_modes));
	return o;
}

static json_object *rf_reset_json(struct redfish *rf, const char *base)
{
	json_object *a = json_object_new_object(), *r = json_object_new_object();
	char target[256];

	snprintf(target, sizeof target, "%s/Actions/ComputerSystem.Reset",
		 base);
	json_object_object_add(r, "target", json_object_new_string(target));
	json_object_object_add(r, "ResetType@Redfish.AllowableValues",
			       rf_reset_types(&rf->rc->hooks));
	json_object_object_add(a, RF_RESET_ACTION, r);
	return a;
}

static void rf_get_system(struct redfish *rf, const char *base,
			  struct rf_reply *rp)
{
	json_object *o = rf_resource(base, "#ComputerSystem.v1_13_0."
				     "ComputerSystem", rf->rc->system_id,
				     rf->rc->system_name);
	struct rf_boot boot;
	char tag[16], mgr[128];

	pthread_mutex_lock(&rf->lock);
	boot = rf->boot;
	pthread_mutex_unlock(&rf->lock);
	json_object_object_add(o, "SystemType",
			       json_object_new_string("Physical"));
	json_object_object_add(o, "Manufacturer",
			       json_object_new_string("netstick"));
	json_object_object_add(o, "Status", rf_status_ok());
	json_object_object_add(o, "PowerState", rf_power_state(rf));
	json_object_object_add(o, "Boot", rf_boot_json(&boot));
	snprintf(mgr, sizeof mgr, RF_ROOT "/Managers/%s", rf->rc->manager_id);
	rf_add_owner_links(o, base, "ManagedBy", mgr);
	json_object_object_add(o, "Actions", rf_reset_json(rf, base));
	rf_ok(rp, o, RF_SYS_ALLOW);
	snprintf(tag, sizeof tag, "b%u", boot.gen);
	rf_set_etag(rp, tag);
}

/* One Boot property: its value checked against its list. */
static int rf_boot_prop(const char *key, json_object *val, struct rf_boot *b,
			struct rf_reply *rp)
{
	static const struct {
		const char *name;
		const char *const *allowed;
		size_t off;
	} props[] = {
		{ "BootSourceOverrideTarget", rf_targets,
		  offsetof(struct rf_boot, target) },
		{ "BootSourceOverrideEnabled", rf_enabled,
		  offsetof(struct rf_boot, enabled) },
		{ "BootSourceOverrideMode", rf_modes,
		  offsetof(struct rf_boot, mode) },
	};
	char prop[64];

	snprintf(prop, sizeof prop, "#/Boot/%.40s", key);
	for (unsigned i = 0; i < sizeof props / sizeof props[0]; i++) {
		const char *s = json_object_get_string(val);
		if (strcmp(key, props[i].name) != 0)
			continue;
		if (!json_object_is_type(val, json_type_string)) {
			rf_error(rp, 0, RF_PROPERTY_VALUE_TYPE, prop, NULL,
				 s ? s : "null", key, NULL);
			return -1;
		}
		if (!rf_in(props[i].allowed, s)) {
			rf_error(rp, 0, RF_PROPERTY_NOT_IN_LIST, prop, NULL, s,
				 key, NULL);
			return -1;
		}
		snprintf((char *)b + props[i].off, sizeof b->target, "%s", s);
		return 0;
	}
	rf_error(rp, 0, strstr(key, "@Redfish") ? RF_PROPERTY_NOT_WRITABLE :
		 RF_PROPERTY_UNKNOWN, prop, NULL, key, NULL);
	return -1;
}

/* Everything checked first, then applied at once. */
static int rf_patch_boot(json_object *body, struct rf_boot *b,
			 struct rf_reply *rp)
{
	json_object_object_foreach(body, key, val) {
		if (strcmp(key, "Boot") != 0) {
			rf_error(rp, 0, strcmp(key, "Id") == 0 ||
				 strcmp(key, "Name") == 0 ||
				 strcmp(key, "PowerState") == 0 ?
				 RF_PROPERTY_NOT_WRITABLE : RF_PROPERTY_UNKNOWN,
				 NULL, NULL, key, NULL);
			return -1;
		}
		if (!json_object_is_type(val, json_type_object)) {
			rf_error(rp, 0, RF_PROPERTY_VALUE_TYPE, "#/Boot", NULL,
				 json_object_get_string(val) ?
				 json_object_get_string(val) : "null", "Boot",
				 NULL);
			return -1;
		}
		json_object_object_foreach(val, k, v)
			if (rf_boot_prop(k, v, b, rp) < 0)
				return -1;
	}
	return 0;
}

static void rf_patch_system(struct redfish *rf, const struct rf_request *rq,
			    const char *base, struct rf_reply *rp)
{
	json_object *body = rf_body_object(rq, rp);
	struct rf_boot b;
	char tag[16];
	bool changed = false;

	if (!body)
		return;
	pthread_mutex_lock(&rf->lock);
	b = rf->boot;
	snprintf(tag, sizeof tag, "b%u", b.gen);
	if (!rf_if_match(rq, tag)) {
		rf_error(rp, 0, RF_PRECONDITION_FAILED, NULL, NULL, NULL);
	} else if (rf_patch_boot(body, &b, rp) == 0) {
		changed = memcmp(&b, &rf->boot, sizeof b) != 0;
		b.gen += changed;
		rf->boot = b;
	}
	pthread_mutex_unlock(&rf->lock);
	json_object_put(body);
	if (rp->status)
		return;
	if (changed)
		log_info("redfish: boot override %s %s %s", b.enabled,
			 b.target, b.mode);
	rf_get_system(rf, base, rp);
}

void rf_route_system(struct redfish *rf, const struct rf_request *rq,
		     const char *rest, struct rf_reply *rp)
{
	char base[128];
	bool get = strcmp(rq->method, "GET") == 0 ||
		   strcmp(rq->method, "HEAD") == 0;

	snprintf(base, sizeof base, RF_ROOT "/Systems/%s", rf->rc->system_id);
	if (strcmp(rest, "") == 0) {
		if (get)
			rf_get_system(rf, base, rp);
		else if (strcmp(rq->method, "PATCH") == 0)
			rf_patch_system(rf, rq, base, rp);
		else
			rp->allow = RF_SYS_ALLOW;
	} else if (strcmp(rest, "/Actions/ComputerSystem.Reset") == 0) {
		if (strcmp(rq->method, "POST") == 0)
			rf_post_reset(rf, rq, rp);
		else
			rp->allow = "POST";
	} else if (strncmp(rest, "/VirtualMedia", 13) == 0 &&
		   (rest[13] == '\0' || rest[13] == '/')) {
		rf_route_vmedia(rf, rq, base, rest + 13, rp);
	} else if (strncmp(rest, "/Actions/", 9) == 0) {
		rf_error(rp, 404, RF_ACTION_NOT_SUPPORTED, NULL, NULL,
			 rest + 9, NULL);
	}
}
