/* print.c — human-readable output for the CLI (--json prints the API's
 * own JSON instead). */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *json_str(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return NULL;
	return json_object_get_string(v);
}

static json_object *json_get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (o)
		json_object_object_get_ex(o, key, &v);
	return v;
}

static bool json_true(json_object *o, const char *key)
{
	return json_object_get_boolean(json_get(o, key));
}

/* 1536 → "1.5 KiB" */
static const char *human_size(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	unsigned u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

void print_lun(json_object *l)
{
	json_object *m = json_get(l, "media"), *err = json_get(l, "error");
	json_object *io = json_get(l, "io");
	char sz[32];

	printf("LUN %s: %s%s%s\n", json_str(l, "id"), json_str(l, "state"),
	       json_true(l, "host_lock") ? ", locked by the host" : "",
	       json_true(l, "changing") ? ", changing" : "");
	if (json_str(l, "type"))
		printf("  type     %s\n", strcmp(json_str(l, "type"), "cdrom") == 0
		       ? "CD/DVD drive (cdrom)" : json_str(l, "type"));
	if (m) {
		const char *image = json_str(m, "image");

		printf("  source   %s", json_str(m, "source"));
		if (image)
			printf("  (image %s)", image);
		printf("\n");
		printf("  size     %s (%s blocks)%s\n",
		       human_size((uint64_t)json_object_get_int64(
				  json_get(m, "size")), sz, sizeof sz),
		       json_str(m, "blocks"),
		       json_true(m, "readonly") ? ", read-only" : "");
		if (json_str(m, "profile"))
			printf("  disc     %s\n", json_str(m, "profile"));
	}
	if (err)
		printf("  error    %s\n", json_str(err, "message"));
	if (io)
		printf("  io       read %s, written %s, errors %s/%s\n",
		       human_size((uint64_t)json_object_get_int64(
				  json_get(io, "read_bytes")), sz, sizeof sz),
		       json_str(io, "write_bytes"), json_str(io, "read_errors"),
		       json_str(io, "write_errors"));
}

void print_luns(json_object *luns)
{
	for (size_t i = 0; i < json_object_array_length(luns); i++)
		print_lun(json_object_array_get_idx(luns, i));
}

void print_status(json_object *st)
{
	json_object *usb = json_get(st, "usb"), *luns = json_get(st, "luns");

	printf("netstickd %s, up %ss\n", json_str(st, "version"),
	       json_str(st, "uptime_s"));
	printf("USB: %s%s%s\n", json_true(usb, "enabled") ?
	       json_str(usb, "state") : "disabled (--no-usb)",
	       json_str(usb, "speed") && strcmp(json_str(usb, "speed"),
						"unknown") ? ", " : "",
	       json_str(usb, "speed") && strcmp(json_str(usb, "speed"),
						"unknown") ?
	       json_str(usb, "speed") : "");
	for (size_t i = 0; i < json_object_array_length(luns); i++) {
		json_object *l = json_object_array_get_idx(luns, i);
		printf("LUN %s: %-7s %s%s\n", json_str(l, "id"),
		       json_str(l, "state"),
		       json_str(l, "source") ? json_str(l, "source") : "",
		       json_true(l, "host_lock") ? "  [locked by host]" : "");
	}
}

void print_images(json_object *images)
{
	for (size_t i = 0; i < json_object_array_length(images); i++) {
		json_object *im = json_object_array_get_idx(images, i);
		json_object *seed = json_get(im, "seed");
		char what[64];

		snprintf(what, sizeof what, "seed (%s)",
			 seed ? json_str(seed, "kind") : "?");
		printf("%-20s %s%s%s\n", json_str(im, "name"),
		       seed ? what : json_str(im, "source"),
		       json_true(im, "cdrom") ? "  [cdrom]" : "",
		       json_true(im, "readonly") ? "  [ro]" : "");
		if (json_str(im, "description"))
			printf("%-20s %s\n", "", json_str(im, "description"));
	}
}

void print_event(const char *type, json_object *data)
{
	json_object *l = json_get(data, "lun");

	if (strcmp(type, "lun") == 0 && l) {
		json_object *m = json_get(l, "media"), *e = json_get(l, "error");
		const char *ch = json_str(data, "change");

		if (ch && strcmp(ch, "eject_request") == 0)
			printf("lun %s: the host asks to eject\n",
			       json_str(l, "id"));
		printf("lun %s: %s%s%s%s%s\n", json_str(l, "id"),
		       json_str(l, "state"), m ? " " : "",
		       m ? json_str(m, "source") : "",
		       json_true(l, "host_lock") ? " [locked by host]" : "",
		       e ? json_str(e, "message") : "");
	} else if (strcmp(type, "usb") == 0) {
		printf("usb: %s\n", json_str(data, "state"));
	} else if (strcmp(type, "warm") == 0 && json_get(data, "warm")) {
		print_warm(json_get(data, "warm"));
	} else if (strcmp(type, "hello") == 0) {
		print_status(json_get(data, "status"));
	} else {
		printf("%s: %s\n", type, json_object_to_json_string(data));
	}
	fflush(stdout);
}

static double json_num(json_object *o, const char *key)
{
	return json_object_get_double(json_get(o, key));
}

void print_warm(json_object *job)
{
	double total = json_num(job, "bytes_total");
	double done = json_num(job, "bytes_done");
	json_object *eta = json_get(job, "eta_s");
	const char *err = json_str(job, "error");

	printf("warm %s: %-9s %.1f/%.1f MiB (%.0f%%)  %.1f MB/s", json_str(job, "id"),
	       json_str(job, "state"), done / 1048576.0, total / 1048576.0,
	       total > 0 ? 100.0 * done / total : 0.0,
	       json_num(job, "rate") / 1e6);
	if (eta)
		printf("  ETA %lld s", (long long)json_object_get_int64(eta));
	printf("  %s%s%s\n", json_str(job, "image") ? json_str(job, "image") :
	       json_str(job, "source"), err && *err ? "  " : "",
	       err ? err : "");
}
