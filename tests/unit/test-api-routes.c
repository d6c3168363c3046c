/* test-api-routes.c — the admin API's handlers called directly (no HTTP):
 * every route's status and error code, media insert/eject through the LUN
 * layer, the host lock (409 medium_locked, then ?force=true), a change
 * already running on the LUN (409 lun_busy), the source policy, the
 * catalog, and the JSON shapes docs/api.md promises. */
#include "api_int.h"
#include "events.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static struct api_server srv;
static struct lun luns[2];
static struct config *cfg;
static char dir[64], img[128];
static const char *force_value;

static const char *q_force(void *ctx, const char *key)
{
	(void)ctx;
	return strcmp(key, "force") == 0 ? force_value : NULL;
}

static void setup(void)
{
	char yaml[1024], err[256];
	int fd;

	snprintf(dir, sizeof dir, "/tmp/nstest-api-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(img, sizeof img, "%s/disk.img", dir);
	fd = open(img, O_CREAT | O_WRONLY, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		abort();
	close(fd);
	snprintf(yaml, sizeof yaml,
		 "api: {allowed_dir: %s, allowed_schemes: [file, memory, nbd],"
		 " allowed_hosts: [localhost, '*.lab.example']}\n"
		 "images:\n"
		 "  - {name: disk, source: %s, description: A disk}\n"
		 "  - {name: gone, source: /nonexistent/x.img}\n"
		 "  - {name: ro, source: 'memory:1M', readonly: true}\n"
		 "luns: [{media: 'memory:1M'}, {removable: false}]\n", dir, img);
	cfg = config_load_string("t", yaml, strlen(yaml), err, sizeof err);
	if (!cfg) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	for (unsigned i = 0; i < 2; i++)
		lun_init(&luns[i], i, &cfg->luns[i], "s");
	srv.cfg = cfg;
	srv.luns = luns;
	srv.nluns = 2;
	pthread_mutex_init(&srv.udc_lock, NULL);
	if (media_policy_init(&srv.policy, &cfg->api) < 0)
		abort();
	srv.media = (struct media_service){ .cfg = cfg, .policy = &srv.policy };
}

static void teardown(void)
{
	for (unsigned i = 0; i < 2; i++)
		lun_fini(&luns[i]);
	media_policy_fini(&srv.policy);
	config_free(cfg);
	unlink(img);
	rmdir(dir);
}

/* Runs a request; returns the status, *out the reply (caller frees). */
static unsigned call(const char *method, const char *path, const char *body,
		     struct api_reply *out)
{
	struct api_request rq = { .method = method, .path = path,
				  .body = body, .body_len = body ? strlen(body) : 0,
				  .query = q_force };
	api_route(&srv, &rq, out);
	return out->status;
}

static const char *err_code(struct api_reply *rp)
{
	json_object *e, *c;

	if (!json_object_object_get_ex(rp->json, "error", &e) ||
	    !json_object_object_get_ex(e, "code", &c))
		return "(none)";
	return json_object_get_string(c);
}

static const char *field(struct api_reply *rp, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(rp->json, k, &v) ?
	       json_object_get_string(v) : "(none)";
}

/* Status and error code of one request. */
#define EXPECT(method, path, body, st, code)                                 \
	do {                                                                 \
		struct api_reply rp_;                                        \
		CHECK_EQ(call(method, path, body, &rp_), st);                \
		CHECK_STR(err_code(&rp_), code);                             \
		api_reply_free(&rp_);                                        \
	} while (0)

TEST(test_api_status_lists_luns_and_usb)
{
	struct api_reply rp;
	json_object *l, *usb;

	CHECK_EQ(call("GET", "/api/v1/status", NULL, &rp), 200);
	CHECK_STR(field(&rp, "version"), NETSTICK_VERSION);
	CHECK(json_object_object_get_ex(rp.json, "luns", &l));
	CHECK_EQ(json_object_array_length(l), 2);
	CHECK(json_object_object_get_ex(rp.json, "usb", &usb));
	api_reply_free(&rp);
}

TEST(test_api_lun_fields)
{
	struct api_reply rp;
	json_object *m, *v;

	CHECK_EQ(call("GET", "/api/v1/luns/0", NULL, &rp), 200);
	CHECK_STR(field(&rp, "state"), "ready");
	CHECK(json_object_object_get_ex(rp.json, "media", &m));
	CHECK(json_object_object_get_ex(m, "size", &v));
	CHECK_EQ(json_object_get_int64(v), 1 << 20);
	CHECK_STR(field(&rp, "host_lock"), "false");
	api_reply_free(&rp);
	CHECK_EQ(call("GET", "/api/v1/luns", NULL, &rp), 200);
	CHECK_EQ(json_object_array_length(rp.json), 2);
	api_reply_free(&rp);
}

TEST(test_api_unknown_routes_and_luns)
{
	EXPECT("GET", "/api/v1/luns/2", NULL, 404, "unknown_lun");
	EXPECT("GET", "/api/v1/luns/x", NULL, 404, "unknown_lun");
	EXPECT("GET", "/api/v1/luns/01", NULL, 404, "unknown_lun");
	EXPECT("GET", "/api/v1/luns/0/nope", NULL, 404, "not_found");
	EXPECT("GET", "/api/v1/nope", NULL, 404, "not_found");
	EXPECT("GET", "/api/v2/status", NULL, 404, "not_found");
	EXPECT("POST", "/api/v1/status", NULL, 405, "method_not_allowed");
	EXPECT("POST", "/api/v1/luns/0/media", "{}", 405, "method_not_allowed");
}

TEST(test_api_put_bad_bodies_400)
{
	const char *p = "/api/v1/luns/1/media";

	EXPECT("PUT", p, "{", 400, "bad_json");
	EXPECT("PUT", p, "", 400, "bad_json");
	EXPECT("PUT", p, "{} {}", 400, "bad_json");
	EXPECT("PUT", p, "[1]", 400, "bad_request");
	EXPECT("PUT", p, "{}", 400, "bad_request");
	EXPECT("PUT", p, "{\"source\":1}", 400, "bad_request");
	EXPECT("PUT", p, "{\"image\":\"disk\",\"source\":\"/x\"}", 400,
	       "bad_request");
	EXPECT("PUT", p, "{\"image\":\"disk\",\"readonly\":\"yes\"}", 400,
	       "bad_request");
	EXPECT("PUT", p, "{\"image\":\"disk\",\"colour\":1}", 400,
	       "bad_request");
	EXPECT("PUT", p, "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":"
	       "{\"h\":{\"i\":1}}}}}}}}}", 400, "bad_json");
}

TEST(test_api_insert_image_and_eject)
{
	struct api_reply rp;
	json_object *m, *v;

	CHECK_EQ(call("PUT", "/api/v1/luns/1/media", "{\"image\":\"disk\"}",
		      &rp), 200);
	CHECK_STR(field(&rp, "state"), "ready");
	CHECK(json_object_object_get_ex(rp.json, "media", &m));
	CHECK(json_object_object_get_ex(m, "image", &v));
	CHECK_STR(json_object_get_string(v), "disk");
	api_reply_free(&rp);
	EXPECT("PUT", "/api/v1/luns/1/media", "{\"image\":\"nope\"}", 404,
	       "unknown_image");
	/* LUN 1 is not removable: eject needs force. */
	force_value = NULL;
	EXPECT("DELETE", "/api/v1/luns/1/media", NULL, 409, "not_removable");
	force_value = "true";
	EXPECT("DELETE", "/api/v1/luns/1/media", NULL, 200, "(none)");
	force_value = NULL;
}

TEST(test_api_catalog_readonly_wins)
{
	struct api_reply rp;
	json_object *m, *v;

	CHECK_EQ(call("PUT", "/api/v1/luns/0/media", "{\"image\":\"ro\"}",
		      &rp), 200);
	CHECK(json_object_object_get_ex(rp.json, "media", &m));
	CHECK(json_object_object_get_ex(m, "readonly", &v));
	CHECK(json_object_get_boolean(v));
	api_reply_free(&rp);
}

TEST(test_api_open_failure_422_and_error_state)
{
	struct api_reply rp;

	EXPECT("PUT", "/api/v1/luns/0/media", "{\"image\":\"gone\"}", 422,
	       "open_failed");
	CHECK_EQ(call("GET", "/api/v1/luns/0", NULL, &rp), 200);
	CHECK_STR(field(&rp, "state"), "error");
	api_reply_free(&rp);
	EXPECT("PUT", "/api/v1/luns/0/media",
	       "{\"source\":\"nbd://localhost:1/x\"}", 422, "open_failed");
	/* An explicit eject clears the error. */
	EXPECT("DELETE", "/api/v1/luns/0/media", NULL, 200, "(none)");
	CHECK_EQ(call("GET", "/api/v1/luns/0", NULL, &rp), 200);
	CHECK_STR(field(&rp, "state"), "empty");
	api_reply_free(&rp);
}

TEST(test_api_source_policy_422)
{
	char body[512];
	const char *p = "/api/v1/luns/0/media";

	EXPECT("PUT", p, "{\"source\":\"http://localhost/x\"}", 422,
	       "scheme_not_allowed");
	EXPECT("PUT", p, "{\"source\":\"/etc/passwd\"}", 422,
	       "path_not_allowed");
	snprintf(body, sizeof body, "{\"source\":\"%s/../../etc/passwd\"}",
		 dir);
	EXPECT("PUT", p, body, 422, "path_not_allowed");
	snprintf(body, sizeof body, "{\"source\":\"%s/missing.img\"}", dir);
	EXPECT("PUT", p, body, 422, "source_not_found");
	EXPECT("PUT", p, "{\"source\":\"nbd://evil.example/x\"}", 422,
	       "host_not_allowed");
	EXPECT("PUT", p, "{\"source\":\"relative.img\"}", 422,
	       "source_invalid");
	snprintf(body, sizeof body, "{\"source\":\"file://%s/disk.img\"}", dir);
	EXPECT("PUT", p, body, 200, "(none)");
	EXPECT("PUT", p, "{\"source\":\"memory:1M\",\"cdrom\":true}", 422,
	       "not_cdrom");
}

TEST(test_api_symlink_escaping_allowed_dir_refused)
{
	char link[160], body[256];

	snprintf(link, sizeof link, "%s/escape.img", dir);
	CHECK_EQ(symlink("/etc/hostname", link), 0);
	snprintf(body, sizeof body, "{\"source\":\"%s\"}", link);
	EXPECT("PUT", "/api/v1/luns/0/media", body, 422, "path_not_allowed");
	unlink(link);
}

TEST(test_api_eject_while_host_locked_409_then_forced)
{
	struct api_reply rp;

	EXPECT("PUT", "/api/v1/luns/0/media", "{\"source\":\"memory:1M\"}",
	       200, "(none)");
	lun_set_prevent(&luns[0], true);
	CHECK_EQ(call("GET", "/api/v1/luns/0", NULL, &rp), 200);
	CHECK_STR(field(&rp, "host_lock"), "true");
	api_reply_free(&rp);
	force_value = NULL;
	EXPECT("DELETE", "/api/v1/luns/0/media", NULL, 409, "medium_locked");
	CHECK_EQ(luns[0].state, LUN_READY);
	force_value = "false";
	EXPECT("DELETE", "/api/v1/luns/0/media", NULL, 409, "medium_locked");
	/* A swap would pull the media too. */
	force_value = NULL;
	EXPECT("PUT", "/api/v1/luns/0/media", "{\"source\":\"memory:2M\"}",
	       409, "medium_locked");
	{
		struct lun_info li;

		lun_get_info(&luns[0], &li);
		CHECK_EQ(li.size, 1 << 20);
	}
	force_value = "true";
	EXPECT("PUT", "/api/v1/luns/0/media", "{\"source\":\"memory:2M\"}",
	       200, "(none)");
	EXPECT("DELETE", "/api/v1/luns/0/media", NULL, 200, "(none)");
	CHECK_EQ(luns[0].state, LUN_EMPTY);
	/* An empty drive loads even while the host holds the lock. */
	force_value = NULL;
	EXPECT("PUT", "/api/v1/luns/0/media", "{\"source\":\"memory:1M\"}",
	       200, "(none)");
	lun_set_prevent(&luns[0], false);
}

TEST(test_api_change_in_progress_409_busy)
{
	CHECK_EQ(lun_change_begin(&luns[0]), 0);
	errno = 0;
	CHECK_EQ(lun_change_begin(&luns[0]), -1);
	CHECK_EQ(errno, EBUSY);
	EXPECT("PUT", "/api/v1/luns/0/media", "{\"source\":\"memory:1M\"}",
	       409, "lun_busy");
	EXPECT("DELETE", "/api/v1/luns/0/media", NULL, 409, "lun_busy");
	lun_change_end(&luns[0]);
	EXPECT("PUT", "/api/v1/luns/0/media", "{\"source\":\"memory:1M\"}",
	       200, "(none)");
}

TEST(test_api_images_catalog)
{
	struct api_reply rp;
	json_object *first, *v;

	CHECK_EQ(call("GET", "/api/v1/images", NULL, &rp), 200);
	CHECK_EQ(json_object_array_length(rp.json), 3);
	first = json_object_array_get_idx(rp.json, 0);
	CHECK(json_object_object_get_ex(first, "description", &v));
	CHECK_STR(json_object_get_string(v), "A disk");
	api_reply_free(&rp);
}

TEST(test_api_metrics_text)
{
	struct api_reply rp;

	CHECK_EQ(call("GET", "/metrics", NULL, &rp), 200);
	CHECK(rp.text && strstr(rp.text, "netstick_lun_state{lun=\"0\""));
	CHECK(rp.text && strstr(rp.text,
		"netstick_backend_latency_seconds_bucket{lun=\"0\",op=\"read\","
		"le=\"+Inf\"}"));
	api_reply_free(&rp);
}

/* A CD drive's LUN object: type, the disc profile, the host's ejects. */
TEST(test_api_cdrom_lun_json)
{
	static const char yaml[] = "luns: [{type: cdrom, media: 'memory:2M'}]\n";
	char err[256];
	struct config *c = config_load_string("t", yaml, strlen(yaml), err,
					      sizeof err);
	struct lun l;
	json_object *o, *m, *e, *v;

	CHECK(c != NULL);
	if (!c || lun_init(&l, 0, &c->luns[0], "s") < 0)
		return;
	(void)lun_host_eject_request(&l, true);
	o = api_json_lun_of(&l);
	CHECK(json_object_object_get_ex(o, "type", &v));
	CHECK_STR(json_object_get_string(v), "cdrom");
	CHECK(json_object_object_get_ex(o, "block_size", &v));
	CHECK_EQ(json_object_get_int(v), 2048);
	CHECK(json_object_object_get_ex(o, "media", &m) && m);
	CHECK(json_object_object_get_ex(m, "profile", &v));
	CHECK_STR(json_object_get_string(v), "cd-rom");
	CHECK(json_object_object_get_ex(m, "cdrom", &v) &&
	      json_object_get_boolean(v));
	CHECK(json_object_object_get_ex(m, "readonly", &v) &&
	      json_object_get_boolean(v));
	CHECK(json_object_object_get_ex(o, "host_eject", &e) && e);
	CHECK(json_object_object_get_ex(e, "requests", &v));
	CHECK_EQ(json_object_get_int(v), 1);
	CHECK(json_object_object_get_ex(e, "refused", &v));
	CHECK_EQ(json_object_get_int(v), 1);
	json_object_put(o);
	lun_fini(&l);
	config_free(c);
}

/* The bus's latest slots (the "stats" events): newest value per key, no
 * id, after any ring event, never seen by a plain events_next(). */
TEST(test_events_latest_slots)
{
	uint64_t seen, last;
	struct event ev;

	CHECK_EQ(events_open(), 0);
	seen = events_latest_seq();
	last = events_last_id();
	events_put_latest(0, "stats", "{\"v\":1}");
	events_put_latest(1, "stats", "{\"v\":2}");
	events_put_latest(0, "stats", "{\"v\":3}");   /* replaces v 1 */
	events_put_latest(EVENTS_LATEST, "stats", "{}"); /* ignored */
	events_publish("lun", "{}");
	CHECK_EQ(events_next(last + 1, &ev, 10), EVENTS_TIMEOUT);
	CHECK_EQ(events_next_latest(last, &seen, &ev, 10), EVENTS_GOT);
	CHECK_EQ(ev.id, last + 1);                  /* the ring first */
	CHECK_STR(ev.type, "lun");
	free(ev.data);
	last = ev.id;
	CHECK_EQ(events_next_latest(last, &seen, &ev, 10), EVENTS_GOT);
	CHECK_EQ(ev.id, 0);
	CHECK_STR(ev.data, "{\"v\":2}");
	free(ev.data);
	CHECK_EQ(events_next_latest(last, &seen, &ev, 10), EVENTS_GOT);
	CHECK_STR(ev.data, "{\"v\":3}");
	free(ev.data);
	CHECK_EQ(events_next_latest(last, &seen, &ev, 10), EVENTS_TIMEOUT);
	CHECK_EQ(seen, events_latest_seq());
	CHECK_EQ(events_last_id(), last);           /* no id taken */
}

int main(void)
{
	setup();
	RUN(test_api_cdrom_lun_json);
	RUN(test_api_status_lists_luns_and_usb);
	RUN(test_api_lun_fields);
	RUN(test_api_unknown_routes_and_luns);
	RUN(test_api_put_bad_bodies_400);
	RUN(test_api_insert_image_and_eject);
	RUN(test_api_catalog_readonly_wins);
	RUN(test_api_open_failure_422_and_error_state);
	RUN(test_api_source_policy_422);
	RUN(test_api_symlink_escaping_allowed_dir_refused);
	RUN(test_api_eject_while_host_locked_409_then_forced);
	RUN(test_api_change_in_progress_409_busy);
	RUN(test_api_images_catalog);
	RUN(test_api_metrics_text);
	RUN(test_events_latest_slots);
	teardown();
	return test_summary();
}
