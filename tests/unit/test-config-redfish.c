/* test-config-redfish.c — the redfish: section of config.yaml: defaults,
 * a full section, and one test per kind of bad input. */
#include "config.h"
#include "log.h"
#include "test.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* "pw", SHA-512-crypt. */
#define HASH "$6$rounds=1000$fuzzsalt$LH7ZpGaK213zXN5BMXqRLAuuPlkWJQOI9sLP" \
	     "f6IHJaBz7LBnBDXzPUrv7.pFBP0Amjnpu.BYvyyJvdgYFFWrC1"

static char errbuf[512];

static struct config *load(const char *text)
{
	return config_load_string("t.yaml", text, strlen(text), errbuf,
				  sizeof errbuf);
}

static bool bad(const char *text, const char *needle)
{
	struct config *cfg = load(text);
	bool ok = cfg == NULL && strstr(errbuf, needle) != NULL;

	if (!ok)
		fprintf(stderr, "  want \"...%s\", got \"%s\"\n", needle,
			cfg ? "(parsed)" : errbuf);
	config_free(cfg);
	return ok;
}

TEST(test_config_redfish_absent_is_off)
{
	struct config *cfg = load("luns: [{}]\n");

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(!cfg->redfish.enabled);
	CHECK_STR(cfg->redfish.system_id, "1");
	CHECK_STR(cfg->redfish.manager_id, "1");
	CHECK_EQ(cfg->redfish.session_timeout, 1800);
	CHECK(cfg->redfish.force);
	CHECK_EQ(cfg->redfish.hooks.timeout, 30);
	CHECK(cfg->redfish.hooks.power_on == NULL);
	config_free(cfg);
}

TEST(test_config_redfish_full_section)
{
	struct config *cfg = load(
		"redfish:\n"
		"  system_id: node-7\n"
		"  system_name: Lab node 7\n"
		"  manager_id: bmc.1\n"
		"  session_timeout: 60\n"
		"  force: false\n"
		"  users:\n"
		"    - {name: ironic, password_hash: '" HASH "'}\n"
		"    - {name: ops@lab, password_hash: '" HASH "'}\n"
		"  hooks:\n"
		"    power_on: gpioset 0 17=1\n"
		"    power_state: ''\n"
		"    timeout: 5\n");

	CHECK(cfg != NULL);
	if (!cfg) {
		fprintf(stderr, "  %s\n", errbuf);
		return;
	}
	CHECK(cfg->redfish.enabled);
	CHECK_STR(cfg->redfish.system_id, "node-7");
	CHECK_STR(cfg->redfish.system_name, "Lab node 7");
	CHECK_STR(cfg->redfish.manager_id, "bmc.1");
	CHECK_EQ(cfg->redfish.session_timeout, 60);
	CHECK(!cfg->redfish.force);
	CHECK_EQ(cfg->redfish.nusers, 2);
	CHECK_STR(cfg->redfish.users[1].name, "ops@lab");
	CHECK_STR(cfg->redfish.users[0].password_hash, HASH);
	CHECK_STR(cfg->redfish.hooks.power_on, "gpioset 0 17=1");
	CHECK(cfg->redfish.hooks.power_state == NULL);
	CHECK_EQ(cfg->redfish.hooks.timeout, 5);
	config_free(cfg);
}

TEST(test_config_redfish_disabled_needs_no_user)
{
	struct config *cfg = load("redfish: {enabled: false}\n");

	CHECK(cfg != NULL && !cfg->redfish.enabled);
	config_free(cfg);
}

TEST(test_config_redfish_needs_a_user)
{
	CHECK(bad("redfish: {system_id: x}\n", "at least one entry in 'users'"));
	CHECK(bad("redfish: {users: []}\n", "at least one entry in 'users'"));
}

TEST(test_config_redfish_user_fields_required)
{
	CHECK(bad("redfish: {users: [{name: a}]}\n",
		  "'password_hash' is required"));
	CHECK(bad("redfish: {users: [{password_hash: '" HASH "'}]}\n",
		  "'name' is required"));
}

TEST(test_config_redfish_hash_not_crypt)
{
	CHECK(bad("redfish: {users: [{name: a, password_hash: plaintext}]}\n",
		  "not a crypt(3) hash"));
	CHECK(bad("redfish: {users: [{name: a, password_hash: '$9$x$y'}]}\n",
		  "not a crypt(3) hash"));
}

TEST(test_config_redfish_duplicate_user)
{
	CHECK(bad("redfish: {users: [{name: a, password_hash: '" HASH "'},"
		  " {name: a, password_hash: '" HASH "'}]}\n",
		  "duplicate user 'a'"));
}

TEST(test_config_redfish_bad_values)
{
	CHECK(bad("redfish: {system_id: 'a/b', users: []}\n",
		  "redfish.system_id: may only contain"));
	CHECK(bad("redfish: {session_timeout: 0}\n",
		  "redfish.session_timeout"));
	CHECK(bad("redfish: {hooks: {timeout: 601}}\n",
		  "redfish.hooks.timeout"));
	CHECK(bad("redfish: {hooks: {reboot: x}}\n",
		  "redfish.hooks.reboot: unknown key"));
	CHECK(bad("redfish: {colour: red}\n", "redfish.colour: unknown key"));
}

int main(void)
{
	log_set_level(LOG_LVL_ERR);
	RUN(test_config_redfish_absent_is_off);
	RUN(test_config_redfish_full_section);
	RUN(test_config_redfish_disabled_needs_no_user);
	RUN(test_config_redfish_needs_a_user);
	RUN(test_config_redfish_user_fields_required);
	RUN(test_config_redfish_hash_not_crypt);
	RUN(test_config_redfish_duplicate_user);
	RUN(test_config_redfish_bad_values);
	return test_summary();
}
