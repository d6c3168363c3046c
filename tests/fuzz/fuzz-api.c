/* fuzz-api.c — libFuzzer target for what an API client sends: the bytes
 * are a PUT /api/v1/luns/0/media body (JSON parsing, field checks, the
 * source policy, catalog lookup), then a POST /api/v1/warm body (its
 * fields, the same resolution; the LUN has no pcache layer, so no job
 * ever starts), then a source string for the policy alone.  Sources that pass the policy and would open real media are
 * limited to "memory:" by the allowed schemes.  Must never crash, hang or
 * leak; every reply is a status with a JSON body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "log.h"
#include "warm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct api_server srv;
static struct lun lun;
static struct config *cfg;

static void fuzz_setup(void)
{
	static const char yaml[] =
		"api: {allowed_dir: /tmp, allowed_schemes: [memory, file],"
		" allowed_hosts: [localhost]}\n"
		"images: [{name: m, source: 'memory:64K'}]\n";
	char err[256];

	log_set_level(LOG_LVL_ERR);
	cfg = config_load_string("fuzz", yaml, sizeof yaml - 1, err, sizeof err);
	if (!cfg || lun_init(&lun, 0, &cfg->luns[0], "fuzz") < 0)
		abort();
	srv.cfg = cfg;
	srv.luns = &lun;
	srv.nluns = 1;
	pthread_mutex_init(&srv.udc_lock, NULL);
	media_policy_init(&srv.policy, &cfg->api);
	srv.media = (struct media_service){ .cfg = cfg, .policy = &srv.policy };
	srv.warm = warm_start(cfg, &srv.media);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_request rq = { .method = "PUT",
				  .path = "/api/v1/luns/0/media" };
	struct api_reply rp;
	char *buf, out[LUN_SOURCE_SHOW], msg[512];
	const char *code;

	if (!cfg)
		fuzz_setup();
	if (size > 8192 || !(buf = malloc(size + 1)))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* memory: sizes above 64K would make every run slow. */
	if (strstr(buf, "memory:") && !strstr(buf, "memory:64K")) {
		free(buf);
		return 0;
	}
	rq.body = buf;
	rq.body_len = size;
	api_route(&srv, &rq, &rp);
	if (rp.status < 200 || rp.status > 599 || !rp.json)
		__builtin_trap();
	api_reply_free(&rp);
	rq.method = "POST";
	rq.path = "/api/v1/warm";
	api_route(&srv, &rq, &rp);
	if (rp.status < 400 || rp.status > 599 || !rp.json)
		__builtin_trap();     /* 202 would mean a job started */
	api_reply_free(&rp);
	media_policy_check(&srv.policy, buf, NULL, out, sizeof out, &code, msg,
			 sizeof msg);
	free(buf);
	return 0;
}
