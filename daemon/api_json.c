/* api_json.c — the JSON objects the API returns (docs/api.md lists every
 * field) and the one error body shape:
 *
 *   {"error": {"code": "stable_code", "message": "human text"}}
 */
#include "api_int.h"
#include "scsi.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t api_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void api_error(struct api_reply *rp, unsigned status, const char *code,
	       const char *fmt, ...)
{
	json_object *e = json_object_new_object(), *o = json_object_new_object();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(o, "error", e);
	json_object_put(rp->json);
	rp->json = o;
	rp->status = status;
}

const char *api_usb_state_name(enum usb_state s)
{
	static const char *const names[] = {
		[USB_NOT_ATTACHED] = "not_attached", [USB_ATTACHED] = "attached",
		[USB_CONFIGURED] = "configured", [USB_SUSPENDED] = "suspended",
	};

	return (unsigned)s < sizeof names / sizeof names[0] ? names[s]
							    : "unknown";
}

static json_object *api_str_or_null(const char *s)
{
	return s && s[0] ? json_object_new_string(s) : NULL;
}

static void api_add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

json_object *api_json_io(const struct lun_stats *st)
{
	json_object *o = json_object_new_object();

	api_add_u64(o, "read_bytes", st->read_bytes);
	api_add_u64(o, "write_bytes", st->write_bytes);
	api_add_u64(o, "reads", st->reads);
	api_add_u64(o, "writes", st->writes);
	api_add_u64(o, "read_errors", st->read_errors);
	api_add_u64(o, "write_errors", st->write_errors);
	api_add_u64(o, "media_changes", st->media_changes);
	return o;
}

static json_object *api_json_media(const struct lun_info *li)
{
	json_object *o;

	if (li->state != LUN_READY && li->state != LUN_LOADING)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "source", json_object_new_string(li->source));
	json_object_object_add(o, "image", api_str_or_null(li->image));
	api_add_u64(o, "size", li->size);
	api_add_u64(o, "blocks", li->size / li->block_size);
	json_object_object_add(o, "readonly",
			       json_object_new_boolean(li->readonly));
	json_object_object_add(o, "cdrom", json_object_new_boolean(
		li->type == CONFIG_LUN_CDROM));
	/* What a CD drive presents the image as (by its size). */
	json_object_object_add(o, "profile", li->type == CONFIG_LUN_CDROM
		? api_str_or_null(mmc_profile_name(mmc_profile_of(li->size)))
		: NULL);
	return o;
}

/* {"cache": {"hits": 1, ...}, "overlay": {...}}: every layer that reports
 * statistics, or NULL when none does. */
json_object *api_json_layers(const struct lun_info *li)
{
	json_object *o = NULL;

	for (unsigned i = 0; i < li->nlayer_stats; i++) {
		const struct lun_layer_stat *st = &li->layer_stats[i];
		json_object *l;

		if (!o)
			o = json_object_new_object();
		if (!json_object_object_get_ex(o, st->layer, &l)) {
			l = json_object_new_object();
			json_object_object_add(o, st->layer, l);
		}
		api_add_u64(l, st->key, st->value);
	}
	return o;
}

/* "error" is not a lun.c state: an empty drive whose last open failed. */
static const char *api_lun_state(const struct lun_info *li)
{
	if (li->state == LUN_EMPTY && li->error[0])
		return "error";
	return lun_state_name(li->state);
}

static json_object *api_json_lun_error(const struct lun_info *li)
{
	json_object *o;

	if (li->state != LUN_EMPTY || !li->error[0])
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "message", json_object_new_string(li->error));
	json_object_object_add(o, "source", api_str_or_null(li->source));
	return o;
}

json_object *api_json_lun(const struct lun_info *li)
{
	json_object *o = json_object_new_object();

	json_object *ej = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int((int)li->id));
	json_object_object_add(o, "type", json_object_new_string(
		config_lun_type_name(li->type)));
	json_object_object_add(o, "state",
			       json_object_new_string(api_lun_state(li)));
	json_object_object_add(o, "error", api_json_lun_error(li));
	json_object_object_add(o, "media", api_json_media(li));
	json_object_object_add(o, "host_lock",
			       json_object_new_boolean(li->prevent));
	json_object_object_add(o, "changing",
			       json_object_new_boolean(li->changing));
	json_object_object_add(o, "removable",
			       json_object_new_boolean(li->removable));
	json_object_object_add(o, "readonly_config",
			       json_object_new_boolean(li->cfg_readonly));
	api_add_u64(o, "block_size", li->block_size);
	api_add_u64(o, "media_generation", li->media_gen);
	/* The host's START STOP UNIT ejects: asked, refused, allowed. */
	json_object_object_add(ej, "allowed",
			       json_object_new_boolean(li->host_eject));
	api_add_u64(ej, "requests", li->eject_requests);
	api_add_u64(ej, "refused", li->eject_refused);
	json_object_object_add(ej, "ejected",
			       json_object_new_boolean(li->host_ejected));
	json_object_object_add(o, "host_eject", ej);
	json_object_object_add(o, "io", api_json_io(&li->stats));
	{
		json_object *layers = api_json_layers(li), *cache = NULL;

		if (layers && json_object_object_get_ex(layers, "cache", &cache))
			json_object_get(cache);
		json_object_object_add(o, "cache", cache);
		json_object_object_add(o, "layers", layers);
	}
	return o;
}

json_object *api_json_lun_of(struct lun *l)
{
	static __thread struct lun_info li;   /* 4 KiB+: off the stack */

	lun_get_info(l, &li);
	return api_json_lun(&li);
}

/* /sys/class/udc/UDC/current_speed: "high-speed", "super-speed", ... */
const char *api_usb_speed(struct api_server *s, char *buf, size_t len)
{
	char path[320], udc[256];
	FILE *f;

	pthread_mutex_lock(&s->udc_lock);
	snprintf(udc, sizeof udc, "%s", s->udc);
	pthread_mutex_unlock(&s->udc_lock);
	snprintf(buf, len, "unknown");
	if (!udc[0] || atomic_load(&s->usb_state) == USB_NOT_ATTACHED)
		return buf;
	snprintf(path, sizeof path, "/sys/class/udc/%s/current_speed", udc);
	if ((f = fopen(path, "re")) == NULL)
		return buf;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	if (strcmp(buf, "UNKNOWN") == 0)
		snprintf(buf, len, "unknown");
	return buf;
}

static json_object *api_json_usb(struct api_server *s)
{
	json_object *o = json_object_new_object();
	char speed[64], udc[256];

	pthread_mutex_lock(&s->udc_lock);
	snprintf(udc, sizeof udc, "%s", s->udc);
	pthread_mutex_unlock(&s->udc_lock);
	json_object_object_add(o, "enabled",
			       json_object_new_boolean(s->usb_enabled));
	json_object_object_add(o, "state", json_object_new_string(
		api_usb_state_name((enum usb_state)atomic_load(&s->usb_state))));
	json_object_object_add(o, "speed", json_object_new_string(
		api_usb_speed(s, speed, sizeof speed)));
	json_object_object_add(o, "udc", api_str_or_null(udc));
	return o;
}

/* The per-LUN summary of /status. */
static json_object *api_json_lun_summary(struct lun *l)
{
	static __thread struct lun_info li;
	json_object *o = json_object_new_object();

	lun_get_info(l, &li);
	json_object_object_add(o, "id", json_object_new_int((int)li.id));
	json_object_object_add(o, "state",
			       json_object_new_string(api_lun_state(&li)));
	json_object_object_add(o, "source",
			       li.state == LUN_READY || li.state == LUN_LOADING ?
			       api_str_or_null(li.source) : NULL);
	json_object_object_add(o, "image", api_str_or_null(li.image));
	json_object_object_add(o, "host_lock",
			       json_object_new_boolean(li.prevent));
	return o;
}

json_object *api_json_status(struct api_server *s)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();

	json_object_object_add(o, "version",
			       json_object_new_string(NETSTICK_VERSION));
	api_add_u64(o, "uptime_s", (api_now_ms() - s->started_ms) / 1000);
	json_object_object_add(o, "usb", api_json_usb(s));
	for (unsigned i = 0; i < s->nluns; i++)
		json_object_array_add(a, api_json_lun_summary(&s->luns[i]));
	json_object_object_add(o, "luns", a);
	return o;
}

/* A catalog seed template: its kind, label and file names (never the
 * contents: they may hold secrets). */
static json_object *api_json_seed(const struct config_seed *cs)
{
	json_object *o, *a;

	if (!cs)
		return NULL;
	o = json_object_new_object();
	a = json_object_new_array();
	json_object_object_add(o, "kind", json_object_new_string(cs->kind));
	json_object_object_add(o, "label", api_str_or_null(cs->label));
	for (unsigned i = 0; i < cs->nfiles; i++)
		json_object_array_add(a,
			json_object_new_string(cs->files[i].name));
	json_object_object_add(o, "files", a);
	return o;
}

static json_object *api_json_image(const struct config_image *im)
{
	json_object *o = json_object_new_object();
	char shown[LUN_SOURCE_SHOW];

	json_object_object_add(o, "name", json_object_new_string(im->name));
	json_object_object_add(o, "source", im->source ? json_object_new_string(
		backend_redact(im->source, shown, sizeof shown)) : NULL);
	json_object_object_add(o, "seed", api_json_seed(im->seed));
	json_object_object_add(o, "cdrom", json_object_new_boolean(im->cdrom));
	json_object_object_add(o, "readonly",
			       json_object_new_boolean(im->readonly));
	json_object_object_add(o, "description",
			       api_str_or_null(im->description));
	return o;
}

json_object *api_json_images(const struct config *cfg)
{
	json_object *a = json_object_new_array();

	for (unsigned i = 0; i < cfg->nimages; i++)
		json_object_array_add(a, api_json_image(&cfg->images[i]));
	return a;
}
