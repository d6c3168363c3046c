/* redfish_routes.c — the Redfish URI tree, its auth, and the small
 * resources (docs/redfish.md):
 *
 *   /redfish                                 {"v1": "/redfish/v1/"}    open
 *   /redfish/v1/                             ServiceRoot               open
 *   /redfish/v1/odata                        OData service document    open
 *   /redfish/v1/Systems[/{id}...]            redfish_system.c
 *   /redfish/v1/Managers[/{id}]              the Manager (this netstick)
 *   /redfish/v1/Managers/{id}/VirtualMedia   redfish_vmedia.c
 *   /redfish/v1/SessionService               SessionService
 *   /redfish/v1/SessionService/Sessions      POST (login) open; GET
 *   /redfish/v1/SessionService/Sessions/{id} GET, DELETE (logout)
 *
 * Everything else needs HTTP Basic or a session's X-Auth-Token: 401
 * NoValidSession otherwise.  A trailing slash is the same resource.  A
 * handler that leaves the reply empty with Allow set means 405; empty
 * without it, 404.
 */
#include "redfish_int.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RF_SESSIONS RF_ROOT "/SessionService/Sessions"

void rf_reply_free(struct rf_reply *rp)
{
	json_object_put(rp->json);
	memset(rp, 0, sizeof *rp);
}

static bool rf_is(const struct rf_request *rq, const char *m)
{
	return strcmp(rq->method, m) == 0 ||
	       (strcmp(m, "GET") == 0 && strcmp(rq->method, "HEAD") == 0);
}

/* ---- resources ------------------------------------------------------ */

static void rf_get_root(struct redfish *rf, struct rf_reply *rp)
{
	json_object *o = rf_resource(RF_ROOT "/", "#ServiceRoot.v1_11_0."
				     "ServiceRoot", "RootService",
				     "netstick Redfish service");
	json_object *links = json_object_new_object();

	(void)rf;
	json_object_object_add(o, "RedfishVersion",
			       json_object_new_string("1.15.0"));
	json_object_object_add(o, "Vendor", json_object_new_string("netstick"));
	json_object_object_add(o, "Product",
			       json_object_new_string("netstick " NETSTICK_VERSION));
	json_object_object_add(o, "Systems", rf_link(RF_ROOT "/Systems"));
	json_object_object_add(o, "Managers", rf_link(RF_ROOT "/Managers"));
	json_object_object_add(o, "SessionService",
			       rf_link(RF_ROOT "/SessionService"));
	json_object_object_add(links, "Sessions", rf_link(RF_SESSIONS));
	json_object_object_add(o, "Links", links);
	rf_ok(rp, o, "GET, HEAD");
}

static void rf_get_odata(struct rf_reply *rp)
{
	static const char *const sets[] = { "Systems", "Managers",
					    "SessionService" };
	json_object *o = json_object_new_object(), *a = json_object_new_array();

	json_object_object_add(o, "@odata.context",
			       json_object_new_string(RF_ROOT "/$metadata"));
	for (unsigned i = 0; i < 3; i++) {
		json_object *e = json_object_new_object();
		char url[64];
		snprintf(url, sizeof url, RF_ROOT "/%s", sets[i]);
		json_object_object_add(e, "name", json_object_new_string(sets[i]));
		json_object_object_add(e, "kind",
				       json_object_new_string(i == 2 ? "Singleton"
							      : "EntitySet"));
		json_object_object_add(e, "url", json_object_new_string(url));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "value", a);
	rf_ok(rp, o, "GET, HEAD");
}

static void rf_get_manager(struct redfish *rf, struct rf_reply *rp)
{
	char self[128], sys[128];
	json_object *o;

	snprintf(self, sizeof self, RF_ROOT "/Managers/%s", rf->rc->manager_id);
	snprintf(sys, sizeof sys, RF_ROOT "/Systems/%s", rf->rc->system_id);
	o = rf_resource(self, "#Manager.v1_10_0.Manager", rf->rc->manager_id,
			"netstick");
	json_object_object_add(o, "ManagerType", json_object_new_string("BMC"));
	json_object_object_add(o, "Model",
			       json_object_new_string("netstick virtual media"));
	json_object_object_add(o, "FirmwareVersion",
			       json_object_new_string(NETSTICK_VERSION));
	json_object_object_add(o, "Status", rf_status_ok());
	rf_add_owner_links(o, self, "ManagerForServers", sys);
	rf_ok(rp, o, "GET, HEAD");
}

static void rf_get_session_service(struct redfish *rf, struct rf_reply *rp)
{
	json_object *o = rf_resource(RF_ROOT "/SessionService",
				     "#SessionService.v1_1_8.SessionService",
				     "SessionService", "Session Service");

	json_object_object_add(o, "ServiceEnabled",
			       json_object_new_boolean(1));
	json_object_object_add(o, "SessionTimeout",
			       json_object_new_int((int)rf->rc->session_timeout));
	json_object_object_add(o, "Status", rf_status_ok());
	json_object_object_add(o, "Sessions", rf_link(RF_SESSIONS));
	rf_ok(rp, o, "GET, HEAD");
}

static json_object *rf_session_json(const struct rf_session *s)
{
	char self[128];
	json_object *o;

	snprintf(self, sizeof self, RF_SESSIONS "/%s", s->id);
	o = rf_resource(self, "#Session.v1_3_0.Session", s->id, "User Session");
	json_object_object_add(o, "UserName", json_object_new_string(s->user));
	return o;
}

/* POST Sessions {"UserName", "Password"}: 201, X-Auth-Token, Location. */
static void rf_login(struct redfish *rf, const struct rf_request *rq,
		     struct rf_reply *rp)
{
	json_object *body = rf_body_object(rq, rp), *u, *p;
	struct rf_session s;

	if (!body)
		return;
	if (!json_object_object_get_ex(body, "UserName", &u) ||
	    !json_object_object_get_ex(body, "Password", &p) ||
	    !json_object_is_type(u, json_type_string) ||
	    !json_object_is_type(p, json_type_string)) {
		rf_error(rp, 400, RF_ACTION_PARAM_MISSING, "#/UserName", "(give "
			 "UserName and Password as strings)", "Login",
			 "UserName, Password", NULL);
	} else if (!rf_auth_password(rf, json_object_get_string(u),
				     json_object_get_string(p))) {
		log_warnx("redfish: login of \"%.64s\" refused",
			  json_object_get_string(u));
		rf_error(rp, 0, RF_LOGIN_FAILED, NULL, NULL, RF_SESSIONS, NULL);
	} else if (rf_session_new(rf, json_object_get_string(u), &s) < 0) {
		rf_error(rp, 0, RF_SESSION_LIMIT, NULL, NULL, NULL);
	} else {
		rf_ok(rp, rf_session_json(&s), NULL);
		rp->status = 201;
		snprintf(rp->token, sizeof rp->token, "%s", s.token);
		snprintf(rp->location, sizeof rp->location, RF_SESSIONS "/%s",
			 s.id);
		explicit_bzero(&s, sizeof s);
	}
	json_object_put(body);
}

static void rf_get_sessions(struct redfish *rf, struct rf_reply *rp)
{
	static __thread char ids[RF_MAX_SESSIONS][17];
	static __thread char paths[RF_MAX_SESSIONS][128];
	const char *members[RF_MAX_SESSIONS];
	unsigned n = rf_session_ids(rf, ids, RF_MAX_SESSIONS);

	for (unsigned i = 0; i < n; i++) {
		snprintf(paths[i], sizeof paths[i], RF_SESSIONS "/%.16s", ids[i]);
		members[i] = paths[i];
	}
	rf_ok(rp, rf_collection(RF_SESSIONS, "#SessionCollection."
				"SessionCollection", "Session Collection",
				members, n), "GET, HEAD, POST");
}

static void rf_route_session(struct redfish *rf, const struct rf_request *rq,
			     const char *id, struct rf_reply *rp)
{
	struct rf_session s;

	if (!rf_session_get(rf, id, &s)) {
		rf_error(rp, 0, RF_RESOURCE_NOT_FOUND, NULL, NULL, "Session",
			 id, NULL);
	} else if (rf_is(rq, "GET")) {
		rf_ok(rp, rf_session_json(&s), "GET, HEAD, DELETE");
	} else if (rf_is(rq, "DELETE")) {
		rf_session_delete(rf, id);
		rp->status = 204;
	} else {
		rp->allow = "GET, HEAD, DELETE";
	}
	explicit_bzero(&s, sizeof s);
}

/* ---- the tree ---------------------------------------------------------- */

/* p (after RF_ROOT) names an id segment: "/Systems/1..." → rest "...". */
static bool rf_segment(const char *p, const char *prefix, const char *id,
		       const char **rest)
{
	size_t n = strlen(prefix), m = strlen(id);

	if (strncmp(p, prefix, n) != 0 || strncmp(p + n, id, m) != 0 ||
	    (p[n + m] && p[n + m] != '/'))
		return false;
	*rest = p + n + m;
	return true;
}

static void rf_route_v1(struct redfish *rf, const struct rf_request *rq,
			const char *p, struct rf_reply *rp)
{
	const char *rest, *sys[1], *mgr[1];
	char sp[128], mp[128];

	snprintf(sp, sizeof sp, RF_ROOT "/Systems/%s", rf->rc->system_id);
	snprintf(mp, sizeof mp, RF_ROOT "/Managers/%s", rf->rc->manager_id);
	sys[0] = sp;
	mgr[0] = mp;
	if (strcmp(p, "/Systems") == 0) {
		if (rf_is(rq, "GET"))
			rf_ok(rp, rf_collection(RF_ROOT "/Systems",
				"#ComputerSystemCollection."
				"ComputerSystemCollection",
				"Computer System Collection", sys, 1),
			      "GET, HEAD");
		else
			rp->allow = "GET, HEAD";
	} else if (rf_segment(p, "/Systems/", rf->rc->system_id, &rest)) {
		rf_route_system(rf, rq, rest, rp);
	} else if (strcmp(p, "/Managers") == 0) {
		if (rf_is(rq, "GET"))
			rf_ok(rp, rf_collection(RF_ROOT "/Managers",
				"#ManagerCollection.ManagerCollection",
				"Manager Collection", mgr, 1), "GET, HEAD");
		else
			rp->allow = "GET, HEAD";
	} else if (rf_segment(p, "/Managers/", rf->rc->manager_id, &rest)) {
		if (strcmp(rest, "") == 0 && rf_is(rq, "GET"))
			rf_get_manager(rf, rp);
		else if (strcmp(rest, "") == 0)
			rp->allow = "GET, HEAD";
		else if (strncmp(rest, "/VirtualMedia", 13) == 0 &&
			 (rest[13] == '\0' || rest[13] == '/'))
			rf_route_vmedia(rf, rq, mp, rest + 13, rp);
	} else if (strcmp(p, "/SessionService") == 0) {
		if (rf_is(rq, "GET"))
			rf_get_session_service(rf, rp);
		else
			rp->allow = "GET, HEAD";
	} else if (strcmp(p, "/SessionService/Sessions") == 0) {
		if (rf_is(rq, "GET"))
			rf_get_sessions(rf, rp);
		else
			rp->allow = "GET, HEAD, POST";
	} else if (strncmp(p, "/SessionService/Sessions/", 25) == 0 &&
		   !strchr(p + 25, '/')) {
		rf_route_session(rf, rq, p + 25, rp);
	}
}

/* Open to everyone: the service root (DSP0266 says so), the OData
 * document, and the login itself. */
static bool rf_open(const char *p, const char *method)
{
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return !p[0] || strcmp(p, "/v1") == 0 ||
		       strcmp(p, "/v1/odata") == 0;
	return strcmp(method, "POST") == 0 &&
	       strcmp(p, "/v1/SessionService/Sessions") == 0;
}

static bool rf_authorized(struct redfish *rf, const struct rf_request *rq)
{
	const char *tok = rq->header ? rq->header(rq->ctx, "X-Auth-Token")
				     : NULL;
	const char *auth = rq->header ? rq->header(rq->ctx, "Authorization")
				      : NULL;

	if (tok)
		return rf_auth_token(rf, tok);
	return rf_auth_basic(rf, auth);
}

/* The path without "/redfish" and trailing slashes, into buf. */
static const char *rf_normalize(const char *path, char *buf, size_t len)
{
	size_t n;

	snprintf(buf, len, "%s", path + strlen("/redfish"));
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '/')
		buf[--n] = '\0';
	return buf;
}

static void rf_get_versions(struct rf_reply *rp)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "v1", json_object_new_string(RF_ROOT "/"));
	rf_ok(rp, o, "GET, HEAD");
}

static void rf_dispatch(struct redfish *rf, const struct rf_request *rq,
			const char *p, struct rf_reply *rp)
{
	bool get = rf_is(rq, "GET");

	if (!p[0] && get)
		rf_get_versions(rp);
	else if (strcmp(p, "/v1") == 0 && get)
		rf_get_root(rf, rp);
	else if (strcmp(p, "/v1/odata") == 0 && get)
		rf_get_odata(rp);
	else if (!p[0] || strcmp(p, "/v1") == 0 || strcmp(p, "/v1/odata") == 0)
		rp->allow = "GET, HEAD";
	else if (strcmp(p, "/v1/SessionService/Sessions") == 0 &&
		 strcmp(rq->method, "POST") == 0)
		rf_login(rf, rq, rp);
	else if (strncmp(p, "/v1/", 4) == 0)
		rf_route_v1(rf, rq, p + 3, rp);
}

void rf_route(struct redfish *rf, const struct rf_request *rq,
	      struct rf_reply *rp)
{
	char buf[512];
	const char *p;

	memset(rp, 0, sizeof *rp);
	if (strlen(rq->path) >= sizeof buf) {
		rf_error(rp, 0, RF_RESOURCE_NOT_FOUND, NULL, NULL, "Resource",
			 "(too long)", NULL);
		return;
	}
	p = rf_normalize(rq->path, buf, sizeof buf);
	if (!rf_open(p, rq->method) && !rf_authorized(rf, rq)) {
		rf_error(rp, 0, RF_NO_VALID_SESSION, NULL, NULL, NULL);
		return;
	}
	if (rq->too_large) {
		rf_error(rp, 0, RF_PAYLOAD_TOO_LARGE, NULL, NULL, NULL);
		return;
	}
	rf_dispatch(rf, rq, p, rp);
	if (rp->status)
		return;
	if (rp->allow) {
		const char *allow = rp->allow;
		rf_error(rp, 0, RF_METHOD_NOT_ALLOWED, NULL, NULL, NULL);
		rp->allow = allow;
	} else {
		rf_error(rp, 0, RF_RESOURCE_NOT_FOUND, NULL, NULL, "Resource",
			 rq->path, NULL);
	}
}

/* ---- the service ------------------------------------------------------ */

bool redfish_is_path(const char *url)
{
	return strncmp(url, "/redfish", 8) == 0 &&
	       (url[8] == '\0' || url[8] == '/');
}

struct redfish *redfish_new(const struct config *cfg, struct lun *luns,
			    unsigned nluns, const struct media_service *ms,
			    bool *failed)
{
	struct redfish *rf;

	*failed = false;
	if (!cfg->redfish.enabled)
		return NULL;
	if ((rf = calloc(1, sizeof *rf)) == NULL) {
		log_errx("redfish: out of memory");
		*failed = true;
		return NULL;
	}
	rf->cfg = cfg;
	rf->rc = &cfg->redfish;
	rf->luns = luns;
	rf->nluns = nluns;
	rf->ms = ms;
	pthread_mutex_init(&rf->lock, NULL);
	pthread_mutex_init(&rf->hook_lock, NULL);
	rf_boot_init(&rf->boot);
	snprintf(rf->power, sizeof rf->power, "On");
	log_info("redfish: service at /redfish/v1/ (system %s, manager %s, "
		 "%u user%s)", rf->rc->system_id, rf->rc->manager_id,
		 rf->rc->nusers, rf->rc->nusers == 1 ? "" : "s");
	return rf;
}

void redfish_free(struct redfish *rf)
{
	if (!rf)
		return;
	rf_vmedia_free(rf);
	pthread_mutex_destroy(&rf->lock);
	pthread_mutex_destroy(&rf->hook_lock);
	explicit_bzero(rf->sessions, sizeof rf->sessions);
	free(rf);
}
