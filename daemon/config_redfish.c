/* config_redfish.c — the `redfish:` section (docs/redfish.md):
 *
 *   redfish:  cfg_redfish_keys  (section; its presence turns Redfish on)
 *     users:  list of cfg_rf_user_keys, each needing name and
 *             password_hash (a crypt(3) string libcrypt can check)
 *     hooks:  cfg_rf_hook_keys  (section)
 *
 * One key table per section, as in config.c (see config_int.h).
 */
#include "config_int.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#define CFG_RF_ID_STR   64     /* system_id, manager_id, user name */
#define CFG_RF_HASH_STR 512    /* a crypt(3) hash */
#define CFG_RF_CMD_STR  4096   /* a hook command */

#define U struct config_redfish_user
static const struct cfg_key cfg_rf_user_keys[] = {
	KEY_STR("name", U, name, CFG_RF_ID_STR, .charset = "_.@-"),
	KEY_STR("password_hash", U, password_hash, CFG_RF_HASH_STR,
		.charset = "$./=+-_,"),
	KEY_END
};
#undef U

#define H struct config_redfish_hooks
static const struct cfg_key cfg_rf_hook_keys[] = {
	KEY_STR("power_state", H, power_state, CFG_RF_CMD_STR,
		.flags = CFG_EMPTY_NULL),
	KEY_STR("power_on", H, power_on, CFG_RF_CMD_STR,
		.flags = CFG_EMPTY_NULL),
	KEY_STR("power_off", H, power_off, CFG_RF_CMD_STR,
		.flags = CFG_EMPTY_NULL),
	KEY_STR("power_cycle", H, power_cycle, CFG_RF_CMD_STR,
		.flags = CFG_EMPTY_NULL),
	KEY_U32("timeout", H, timeout, 1, 600, NULL),
	KEY_END
};
#undef H

static int cfg_set_rf_users(struct cfg_parser *p, const struct cfg_key *k,
			    void *obj);

#define R struct config_redfish
static const struct cfg_key cfg_redfish_keys[] = {
	KEY_BOOL("enabled", R, enabled),
	KEY_STR("system_id", R, system_id, CFG_RF_ID_STR, .charset = "_.-"),
	KEY_STR("system_name", R, system_name, 255, .flags = 0),
	KEY_STR("manager_id", R, manager_id, CFG_RF_ID_STR, .charset = "_.-"),
	KEY_U32("session_timeout", R, session_timeout, 1, 86400, NULL),
	KEY_BOOL("force", R, force),
	{ .name = "users", .set = cfg_set_rf_users },
	KEY_SECTION("hooks", R, hooks, cfg_rf_hook_keys),
	KEY_END
};
#undef R
CFG_TABLE_CHECK(cfg_redfish_keys);

/* name and password_hash are required, names unique, and the hash one
 * this libcrypt can verify (so a typo is found at start, not at login). */
static int cfg_rf_user_check(struct cfg_parser *p,
			     const struct config_redfish *r,
			     const struct config_redfish_user *u,
			     yaml_mark_t m)
{
	if (!u->name)
		return cfg_fail_at(p, &m, "'name' is required");
	if (!u->password_hash)
		return cfg_fail_at(p, &m, "'password_hash' is required");
	if (crypt_checksalt(u->password_hash) != CRYPT_SALT_OK)
		return cfg_fail_at(p, &m, "'password_hash' is not a crypt(3) "
				   "hash this system supports (make one with "
				   "mkpasswd or openssl passwd -6)");
	for (const struct config_redfish_user *o = r->users; o < u; o++)
		if (strcmp(o->name, u->name) == 0)
			return cfg_fail_at(p, &m, "duplicate user '%s'",
					   u->name);
	return 0;
}

/* obj is the struct config_redfish. */
static int cfg_set_rf_users(struct cfg_parser *p, const struct cfg_key *k,
			    void *obj)
{
	struct config_redfish *r = obj;
	struct config_redfish_user *u;
	yaml_mark_t m;
	size_t old;

	(void)k;
	if (cfg_want(p, YAML_SEQUENCE_START_EVENT, "a list of users") < 0)
		return -1;
	for (;;) {
		old = cfg_path_index(p, r->nusers);
		if (cfg_next(p) < 0)
			return -1;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (r->nusers == CONFIG_MAX_RF_USERS)
			return cfg_fail(p, "too many users (at most %d)",
					CONFIG_MAX_RF_USERS);
		m = p->ev.start_mark;
		u = &r->users[r->nusers++];
		if (cfg_parse_map(p, cfg_rf_user_keys, u) < 0 ||
		    cfg_rf_user_check(p, r, u, m) < 0)
			return -1;
		cfg_path_pop(p, old);
	}
	cfg_path_pop(p, old);
	return 0;
}

/* obj is the whole struct config.  The section's presence enables
 * Redfish unless it says enabled: false. */
int cfg_set_redfish(struct cfg_parser *p, const struct cfg_key *k, void *obj)
{
	struct config_redfish *r = &((struct config *)obj)->redfish;
	yaml_mark_t m = CFG_MARK(p);

	(void)k;
	r->enabled = true;
	if (cfg_parse_map(p, cfg_redfish_keys, r) < 0)
		return -1;
	if (r->enabled && r->nusers == 0)
		return cfg_fail_at(p, &m, "redfish: at least one entry in "
				   "'users' is required");
	return 0;
}

int cfg_redfish_defaults(struct config *cfg)
{
	struct config_redfish *r = &cfg->redfish;

	r->enabled = false;
	r->system_id = strdup("1");
	r->system_name = strdup("netstick host");
	r->manager_id = strdup("1");
	r->session_timeout = 1800;
	r->force = true;
	r->hooks.timeout = 30;
	return r->system_id && r->system_name && r->manager_id ? 0 : -1;
}

void cfg_redfish_free(struct config *cfg)
{
	struct config_redfish *r = &cfg->redfish;

	free(r->system_id);
	free(r->system_name);
	free(r->manager_id);
	for (unsigned i = 0; i < r->nusers; i++) {
		free(r->users[i].name);
		if (r->users[i].password_hash)
			explicit_bzero(r->users[i].password_hash,
				       strlen(r->users[i].password_hash));
		free(r->users[i].password_hash);
	}
	free(r->hooks.power_state);
	free(r->hooks.power_on);
	free(r->hooks.power_off);
	free(r->hooks.power_cycle);
}
