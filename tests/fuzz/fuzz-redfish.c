/* fuzz-redfish.c — libFuzzer target for what a Redfish client sends: the
 * method, the path, the If-Match and Authorization headers and the body
 * of one request, through rf_route() (auth, routing, the JSON handlers of
 * VirtualMedia, ComputerSystem and SessionService, the media service
 * behind them).  Must never crash, hang or leak; every reply is a status
 * with a JSON body or a 204.
 *
 * Input:  byte 0    method (low 3 bits) and flags:
 *                   0x08 the first line is an If-Match header
 *                   0x10 the next line is an Authorization header (Basic
 *                        parsing; no session token then)
 *         byte 1    a path from the table below, or (>= its size) the
 *                   next line is the path under /redfish
 *         the rest  the body
 *
 * Sources that pass the policy are limited to "memory:64K" and the
 * catalog, so inserts stay fast; no power hook is configured.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redfish_int.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct redfish *rf;
static struct lun luns[2];
static struct config *cfg;
static struct media_policy policy;
static struct media_service ms;
static char token[RF_TOKEN_HEX + 1];

struct fuzz_hdrs {
	const char *if_match, *authorization;
};

static const char *fuzz_header(void *ctx, const char *name)
{
	struct fuzz_hdrs *h = ctx;

	if (strcmp(name, "If-Match") == 0)
		return h->if_match;
	if (strcmp(name, "Authorization") == 0)
		return h->authorization;
	if (strcmp(name, "X-Auth-Token") == 0)
		return h->authorization ? NULL : token;
	return NULL;
}

static void fuzz_setup(void)
{
	/* "pw" with SHA-512-crypt's fewest rounds: a Basic check stays fast. */
	static const char yaml[] =
		"api: {allowed_dir: /tmp, allowed_schemes: [memory],"
		" allowed_hosts: [localhost]}\n"
		"luns: [{}, {type: cdrom}]\n"
		"images: [{name: m, source: 'memory:64K'}]\n"
		"redfish:\n"
		"  users: [{name: u, password_hash: '$6$rounds=1000$fuzzsalt$"
		"LH7ZpGaK213zXN5BMXqRLAuuPlkWJQOI9sLPf6IHJaBz7LBnBDXzPUrv7.pFBP0"
		"Amjnpu.BYvyyJvdgYFFWrC1'}]\n";
	char err[256];
	struct rf_session s;
	bool failed;

	log_set_level(LOG_LVL_ERR);
	cfg = config_load_string("fuzz", yaml, sizeof yaml - 1, err, sizeof err);
	if (!cfg)
		abort();
	for (unsigned i = 0; i < 2; i++)
		if (lun_init(&luns[i], i, &cfg->luns[i], "fuzz") < 0)
			abort();
	if (media_policy_init(&policy, &cfg->api) < 0)
		abort();
	ms = (struct media_service){ .cfg = cfg, .policy = &policy };
	if (!(rf = redfish_new(cfg, luns, 2, &ms, &failed)) ||
	    rf_session_new(rf, "u", &s) < 0)
		abort();
	memcpy(token, s.token, sizeof token);
}

/* Sessions fuzzed logins opened must not fill the table: past half of
 * it, all go and the fuzzer's own is opened again. */
static void fuzz_trim_sessions(void)
{
	static char ids[RF_MAX_SESSIONS][17];
	struct rf_session s;
	unsigned n = rf_session_ids(rf, ids, RF_MAX_SESSIONS);

	if (n <= RF_MAX_SESSIONS / 2)
		return;
	for (unsigned i = 0; i < n; i++)
		rf_session_delete(rf, ids[i]);
	if (rf_session_new(rf, "u", &s) < 0)
		abort();
	memcpy(token, s.token, sizeof token);
}

/* The next '\n'-ended line of *p (NUL-terminated in place), or NULL. */
static char *fuzz_line(char **p)
{
	char *nl = strchr(*p, '\n'), *line = *p;

	if (!nl)
		return NULL;
	*nl = '\0';
	*p = nl + 1;
	return line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "PATCH",
		"DELETE", "PUT", "GET", "POST" };
	static const char *const paths[] = {
		"/redfish/v1/Managers/1/VirtualMedia/0/Actions/"
		"VirtualMedia.InsertMedia",
		"/redfish/v1/Systems/1/VirtualMedia/1/Actions/"
		"VirtualMedia.EjectMedia",
		"/redfish/v1/Managers/1/VirtualMedia/0",
		"/redfish/v1/Systems/1/VirtualMedia/1/",
		"/redfish/v1/Systems/1",
		"/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
		"/redfish/v1/SessionService/Sessions",
		"/redfish/v1/", "/redfish", "/redfish/v1/Managers/1",
		"/redfish/v1/Systems/1/VirtualMedia",
	};
	char path[600], *buf, *p, *line;
	struct fuzz_hdrs h = { NULL, NULL };
	struct rf_request rq = { .header = fuzz_header, .ctx = &h };
	struct rf_reply rp;

	if (!cfg)
		fuzz_setup();
	if (size < 2 || size > 8192 || !(buf = malloc(size - 1)))
		return 0;
	memcpy(buf, data + 2, size - 2);
	buf[size - 2] = '\0';
	if (strstr(buf, "memory:") && !strstr(buf, "memory:64K"))
		goto out;
	p = buf;
	rq.method = methods[data[0] & 7];
	if ((data[0] & 0x08) && !(h.if_match = fuzz_line(&p)))
		goto out;
	if ((data[0] & 0x10) && !(h.authorization = fuzz_line(&p)))
		goto out;
	if (data[1] < sizeof paths / sizeof paths[0]) {
		rq.path = paths[data[1]];
	} else {
		if (!(line = fuzz_line(&p)))
			goto out;
		snprintf(path, sizeof path, "/redfish%.580s", line);
		rq.path = path;
	}
	rq.body = p;
	rq.body_len = strlen(p);
	rf_route(rf, &rq, &rp);
	if (rp.status < 200 || rp.status > 599 ||
	    (!rp.json && rp.status != 204 && rp.status != 201))
		__builtin_trap();
	rf_reply_free(&rp);
	fuzz_trim_sessions();
out:
	free(buf);
	return 0;
}
