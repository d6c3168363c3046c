/* test-config.c — config.yaml parsing: good files, and one test per kind
 * of bad input, checking "FILE:LINE:COL: key.path: problem". */
#include "config.h"
#include "log.h"
#include "test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

static char errbuf[512];

static struct config *load(const char *text)
{
	return config_load_string("t.yaml", text, strlen(text), errbuf,
				  sizeof errbuf);
}

/* True if text fails to load with a message that starts with prefix
 * ("t.yaml:LINE:COL: key.path: ") and contains needle. */
static bool bad(const char *text, const char *prefix, const char *needle)
{
	struct config *cfg = load(text);
	bool ok = cfg == NULL &&
		  strncmp(errbuf, prefix, strlen(prefix)) == 0 &&
		  (needle == NULL || strstr(errbuf, needle) != NULL);

	if (!ok)
		fprintf(stderr, "  want \"%s...%s\", got \"%s\"\n", prefix,
			needle ? needle : "", cfg ? "(parsed)" : errbuf);
	config_free(cfg);
	return ok;
}

static void check_default_lun(const struct config_lun *lun)
{
	CHECK(lun->media == NULL);
	CHECK(!lun->readonly);
	CHECK(lun->removable);
	CHECK_EQ(lun->block_size, 512);
	CHECK_STR(lun->vendor, "netstick");
	CHECK_STR(lun->product, "Virtual Disk");
	CHECK_STR(lun->revision, "0.1");
}

static void check_defaults(const struct config *cfg)
{
	CHECK_EQ(cfg->log.level, LOG_LVL_INFO);
	CHECK_EQ(cfg->log.debug_mask, 0);
	CHECK_STR(cfg->gadget.name, "netstick");
	CHECK_STR(cfg->gadget.udc, "auto");
	CHECK_EQ(cfg->gadget.vendor_id, 0x1d6b);
	CHECK_EQ(cfg->gadget.product_id, 0x0104);
	CHECK_EQ(cfg->gadget.device_version, 0x0100);
	CHECK_STR(cfg->gadget.manufacturer, "netstick");
	CHECK_STR(cfg->gadget.product, "netstick virtual media");
	CHECK_STR(cfg->gadget.serial, "auto");
	CHECK_EQ(cfg->gadget.max_power_ma, 100);
	CHECK_STR(cfg->gadget.functionfs_dir, "/run/netstick/ffs");
	CHECK(cfg->gadget.manage);
	CHECK_EQ(cfg->usb.transfer_size, 32768);
	CHECK_EQ(cfg->usb.queue_depth, 8);
	CHECK_EQ(cfg->nluns, 1);
	check_default_lun(&cfg->luns[0]);
}

/* ---- good files ---------------------------------------------------- */

TEST(test_config_shipped_file_parses)
{
	struct config *cfg = config_load("config.yaml", errbuf, sizeof errbuf);

	CHECK(cfg != NULL);
	if (!cfg) {
		fprintf(stderr, "  %s\n", errbuf);
		return;
	}
	CHECK_STR(cfg->path, "config.yaml");
	/* A disk and a CD drive, both empty; apart from the second LUN the
	 * shipped file is the defaults. */
	CHECK_EQ(cfg->nluns, 2);
	CHECK_EQ(cfg->luns[0].type, CONFIG_LUN_DISK);
	CHECK_EQ(cfg->luns[1].type, CONFIG_LUN_CDROM);
	CHECK(cfg->luns[1].media == NULL);
	CHECK(!cfg->luns[1].refuse_host_eject);
	CHECK_STR(cfg->luns[1].product, "Virtual CD-ROM");
	cfg->nluns = 1;
	check_defaults(cfg);
	cfg->nluns = 2;
	config_free(cfg);
}

TEST(test_config_empty_file_is_defaults)
{
	struct config *cfg = load("");

	CHECK(cfg != NULL);
	if (cfg)
		check_defaults(cfg);
	config_free(cfg);
}

TEST(test_config_comments_only_is_defaults)
{
	struct config *cfg = load("# nothing here\n\n   # really\n");

	CHECK(cfg != NULL);
	if (cfg)
		check_defaults(cfg);
	config_free(cfg);
}

TEST(test_config_defaults_function)
{
	struct config *cfg = calloc(1, sizeof *cfg);

	config_defaults(cfg);
	check_defaults(cfg);
	config_free(cfg);
}

TEST(test_config_minimal_file)
{
	struct config *cfg = load("luns:\n  - media: /srv/a.iso\n");

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_EQ(cfg->nluns, 1);
	CHECK_STR(cfg->luns[0].media, "/srv/a.iso");
	CHECK(cfg->luns[0].removable);
	CHECK_EQ(cfg->usb.queue_depth, 8);
	config_free(cfg);
}

TEST(test_config_missing_luns_gives_one_empty_lun)
{
	struct config *cfg = load("usb:\n  queue_depth: 16\n");

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_EQ(cfg->usb.queue_depth, 16);
	CHECK_EQ(cfg->usb.realtime_priority, 10);
	CHECK_EQ(cfg->nluns, 1);
	check_default_lun(&cfg->luns[0]);
	config_free(cfg);
}

TEST(test_config_all_values_set)
{
	struct config *cfg = load(
		"log: {level: debug, debug: [bot, 'scsi', config]}\n"
		"gadget:\n"
		"  name: ns-1.a_b\n"
		"  udc: fe980000.usb\n"
		"  vendor_id: 0X1D6B\n"
		"  product_id: 260\n"
		"  device_version: 0x0\n"
		"  manufacturer: \"ACME \\u00e9\"\n"
		"  product: 12345\n"
		"  serial: 0123456789AB\n"
		"  max_power_ma: 900\n"
		"  functionfs_dir: /dev/ffs-ns\n"
		"  manage: no\n"
		"usb: {transfer_size: 4194304, queue_depth: 1}\n"
		"luns:\n"
		"  - {media: 'http://h/x.img', readonly: yes,\n"
		"     removable: False, block_size: 4096, vendor: ABCDEFGH,\n"
		"     product: 0123456789abcdef, revision: '1.00'}\n"
		"  - media: \"\"\n"
		"  - media:\n"
		"  - {}\n");

	CHECK(cfg != NULL);
	if (!cfg) {
		fprintf(stderr, "  %s\n", errbuf);
		return;
	}
	CHECK_EQ(cfg->log.level, LOG_LVL_DEBUG);
	CHECK_EQ(cfg->log.debug_mask, (1u << LOG_MOD_BOT) |
		 (1u << LOG_MOD_SCSI) | (1u << LOG_MOD_CONFIG));
	CHECK_STR(cfg->gadget.name, "ns-1.a_b");
	CHECK_STR(cfg->gadget.udc, "fe980000.usb");
	CHECK_EQ(cfg->gadget.vendor_id, 0x1d6b);
	CHECK_EQ(cfg->gadget.product_id, 260);
	CHECK_EQ(cfg->gadget.device_version, 0);
	CHECK_STR(cfg->gadget.manufacturer, "ACME \xc3\xa9");
	CHECK_STR(cfg->gadget.product, "12345");
	CHECK_STR(cfg->gadget.serial, "0123456789AB");
	CHECK_EQ(cfg->gadget.max_power_ma, 900);
	CHECK_STR(cfg->gadget.functionfs_dir, "/dev/ffs-ns");
	CHECK(!cfg->gadget.manage);
	CHECK_EQ(cfg->usb.transfer_size, 4194304);
	CHECK_EQ(cfg->usb.queue_depth, 1);
	CHECK_EQ(cfg->nluns, 4);
	CHECK_STR(cfg->luns[0].media, "http://h/x.img");
	CHECK(cfg->luns[0].readonly);
	CHECK(!cfg->luns[0].removable);
	CHECK_EQ(cfg->luns[0].block_size, 4096);
	CHECK_STR(cfg->luns[0].vendor, "ABCDEFGH");
	CHECK_STR(cfg->luns[0].product, "0123456789abcdef");
	CHECK_STR(cfg->luns[0].revision, "1.00");
	check_default_lun(&cfg->luns[1]);
	check_default_lun(&cfg->luns[2]);
	check_default_lun(&cfg->luns[3]);
	config_free(cfg);
}

TEST(test_config_boolean_spellings)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes",
					   "Yes", "YES" };
	static const char *const no[] = { "false", "False", "FALSE", "no",
					  "No", "NO" };
	char text[64];
	size_t i;

	for (i = 0; i < 6; i++) {
		struct config *cfg;

		snprintf(text, sizeof text, "gadget: {manage: %s}", no[i]);
		cfg = load(text);
		CHECK(cfg && !cfg->gadget.manage);
		config_free(cfg);
		snprintf(text, sizeof text, "luns: [{readonly: %s}]", yes[i]);
		cfg = load(text);
		CHECK(cfg && cfg->luns[0].readonly);
		config_free(cfg);
	}
}

TEST(test_config_sixteen_luns_ok)
{
	char text[512] = "luns:\n";
	struct config *cfg;
	int i;

	for (i = 0; i < CONFIG_MAX_LUNS; i++)
		strcat(text, "  - {}\n");
	cfg = load(text);
	CHECK(cfg != NULL);
	CHECK(cfg && cfg->nluns == CONFIG_MAX_LUNS);
	config_free(cfg);
}

TEST(test_config_explicit_document_markers)
{
	struct config *cfg = load("%YAML 1.1\n---\n"
				  "usb: {queue_depth: 2}\n...\n");

	CHECK(cfg && cfg->usb.queue_depth == 2);
	config_free(cfg);
}

/* ---- structure ----------------------------------------------------- */

TEST(test_config_unknown_top_key)
{
	CHECK(bad("log: {}\ncolour: red\n", "t.yaml:2:1: colour: unknown key",
		  "expected one of: log, gadget, usb, luns"));
}

TEST(test_config_unknown_nested_key)
{
	CHECK(bad("gadget:\n  name: x\n  vendorid: 1\n",
		  "t.yaml:3:3: gadget.vendorid: unknown key", NULL));
}

TEST(test_config_unknown_lun_key)
{
	CHECK(bad("luns:\n  - {}\n  - size: 1\n",
		  "t.yaml:3:5: luns[1].size: unknown key", NULL));
}

TEST(test_config_duplicate_key)
{
	CHECK(bad("usb:\n  queue_depth: 1\n  queue_depth: 2\n",
		  "t.yaml:3:3: usb.queue_depth: duplicate key", NULL));
}

TEST(test_config_duplicate_section)
{
	CHECK(bad("usb: {}\nlog: {}\nusb: {}\n",
		  "t.yaml:3:1: usb: duplicate key", NULL));
}

TEST(test_config_root_not_a_mapping)
{
	CHECK(bad("- a\n- b\n", "t.yaml:1:1: expected a mapping, got a list",
		  NULL));
}

TEST(test_config_section_is_scalar)
{
	CHECK(bad("gadget: netstick\n",
		  "t.yaml:1:9: gadget: expected a mapping, got 'netstick'",
		  NULL));
}

TEST(test_config_section_is_empty)
{
	CHECK(bad("log:\nusb: {}\n", "t.yaml:1:5: log: expected a mapping, got "
		  "an empty value", NULL));
}

TEST(test_config_mapping_where_scalar)
{
	CHECK(bad("gadget:\n  udc:\n    name: x\n",
		  "t.yaml:3:5: gadget.udc: expected a string, got a mapping",
		  NULL));
}

TEST(test_config_list_where_number)
{
	CHECK(bad("usb: {queue_depth: [1]}\n",
		  "t.yaml:1:20: usb.queue_depth: expected an integer, "
		  "got a list", NULL));
}

TEST(test_config_complex_key)
{
	CHECK(bad("? [a]\n: 1\n", "t.yaml:1:3: expected a key, got a list",
		  NULL));
}

TEST(test_config_two_documents)
{
	CHECK(bad("usb: {}\n---\nlog: {}\n",
		  "t.yaml:2:1: only one YAML document is allowed", NULL));
}

/* ---- numbers and booleans ------------------------------------------ */

TEST(test_config_string_where_number)
{
	CHECK(bad("gadget:\n  max_power_ma: lots\n",
		  "t.yaml:2:17: gadget.max_power_ma: expected an integer "
		  "(decimal or 0x hex), got 'lots'", NULL));
}

TEST(test_config_number_with_junk)
{
	CHECK(bad("usb:\n  queue_depth: 12abc\n",
		  "t.yaml:2:16: usb.queue_depth: expected an integer",
		  "'12abc'"));
}

TEST(test_config_number_quoted)
{
	CHECK(bad("usb:\n  queue_depth: \"4\"\n",
		  "t.yaml:2:16: usb.queue_depth: expected an integer, got a "
		  "quoted string", NULL));
}

TEST(test_config_number_negative)
{
	CHECK(bad("gadget: {max_power_ma: -1}\n",
		  "t.yaml:1:24: gadget.max_power_ma: expected an integer",
		  "'-1'"));
}

TEST(test_config_number_leading_zero)
{
	CHECK(bad("usb: {queue_depth: 010}\n",
		  "t.yaml:1:20: usb.queue_depth: leading zeros", "octal"));
}

TEST(test_config_number_empty)
{
	CHECK(bad("usb:\n  queue_depth:\n",
		  "t.yaml:2:15: usb.queue_depth: expected an integer, got an "
		  "empty value", NULL));
}

TEST(test_config_hex_id_too_big)
{
	CHECK(bad("gadget:\n  vendor_id: 0x10000\n",
		  "t.yaml:2:14: gadget.vendor_id: must be between 0 and 65535 "
		  "(got 0x10000)", NULL));
}

TEST(test_config_number_overflows_64_bits)
{
	CHECK(bad("gadget: {product_id: 99999999999999999999999}\n",
		  "t.yaml:1:22: gadget.product_id: must be between 0 and 65535",
		  NULL));
}

TEST(test_config_hex_without_digits)
{
	CHECK(bad("gadget: {vendor_id: 0x}\n",
		  "t.yaml:1:21: gadget.vendor_id: expected an integer", NULL));
}

TEST(test_config_max_power_out_of_range)
{
	CHECK(bad("gadget:\n  max_power_ma: 901\n",
		  "t.yaml:2:17: gadget.max_power_ma: must be between 0 and 900 "
		  "(got 901)", NULL));
}

TEST(test_config_transfer_size_not_4k_multiple)
{
	CHECK(bad("usb:\n  transfer_size: 5000\n",
		  "t.yaml:2:18: usb.transfer_size: must be a multiple of 4096 "
		  "(got 5000)", NULL));
}

TEST(test_config_transfer_size_too_small)
{
	CHECK(bad("usb: {transfer_size: 0}\n",
		  "t.yaml:1:22: usb.transfer_size: must be between 4096 and "
		  "4194304", NULL));
}

TEST(test_config_transfer_size_too_big)
{
	CHECK(bad("usb: {transfer_size: 8388608}\n",
		  "t.yaml:1:22: usb.transfer_size: must be between", NULL));
}

TEST(test_config_queue_depth_zero)
{
	CHECK(bad("usb: {queue_depth: 0}\n",
		  "t.yaml:1:20: usb.queue_depth: must be between 1 and 16",
		  NULL));
}

TEST(test_config_queue_depth_too_big)
{
	CHECK(bad("usb: {queue_depth: 17}\n",
		  "t.yaml:1:20: usb.queue_depth: must be between 1 and 16",
		  NULL));
}

TEST(test_config_lun_type_cdrom)
{
	struct config *cfg = load("luns:\n  - type: cdrom\n    host_eject: no\n"
				  "  - type: cdrom\n    product: My DVD\n"
				  "  - type: disk\n");

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_EQ(cfg->nluns, 3);
	CHECK_EQ(cfg->luns[0].type, CONFIG_LUN_CDROM);
	CHECK(cfg->luns[0].refuse_host_eject);
	CHECK_STR(cfg->luns[0].product, "Virtual CD-ROM");
	CHECK_STR(cfg->luns[1].product, "My DVD");
	CHECK(!cfg->luns[1].refuse_host_eject);
	CHECK_EQ(cfg->luns[2].type, CONFIG_LUN_DISK);
	CHECK_STR(cfg->luns[2].product, "Virtual Disk");
	config_free(cfg);
}

TEST(test_config_lun_type_unknown)
{
	CHECK(bad("luns:\n  - type: tape\n",
		  "t.yaml:2:11: luns[0].type: unknown LUN type 'tape'", NULL));
}

TEST(test_config_cdrom_block_size_refused)
{
	CHECK(bad("luns:\n  - type: cdrom\n    block_size: 4096\n",
		  "t.yaml:", "a cdrom LUN has 2048-byte blocks"));
}

TEST(test_config_block_size_not_512_or_4096)
{
	CHECK(bad("luns:\n  - block_size: 1000\n",
		  "t.yaml:2:17: luns[0].block_size: must be 512 or 4096 "
		  "(got 1000)", NULL));
}

TEST(test_config_bool_on_refused)
{
	CHECK(bad("gadget:\n  manage: on\n",
		  "t.yaml:2:11: gadget.manage: expected a boolean "
		  "(true, false, yes or no), got 'on'", NULL));
}

TEST(test_config_bool_number_refused)
{
	CHECK(bad("luns: [{readonly: 1}]\n",
		  "t.yaml:1:19: luns[0].readonly: expected a boolean", "'1'"));
}

TEST(test_config_bool_quoted_refused)
{
	CHECK(bad("luns: [{removable: 'true'}]\n",
		  "t.yaml:1:20: luns[0].removable: expected a boolean (true, "
		  "false, yes or no), got a quoted string", NULL));
}

/* ---- strings ------------------------------------------------------- */

TEST(test_config_vendor_too_long)
{
	CHECK(bad("luns:\n  - vendor: ABCDEFGHI\n",
		  "t.yaml:2:13: luns[0].vendor: too long: at most 8 bytes "
		  "(got 9)", NULL));
}

TEST(test_config_product_too_long)
{
	CHECK(bad("luns:\n  - {}\n  - product: 0123456789abcdefg\n",
		  "t.yaml:3:14: luns[1].product: too long: at most 16 bytes",
		  NULL));
}

TEST(test_config_revision_too_long)
{
	CHECK(bad("luns:\n  - revision: \"1.000\"\n",
		  "t.yaml:2:15: luns[0].revision: too long: at most 4 bytes",
		  NULL));
}

TEST(test_config_vendor_not_ascii)
{
	CHECK(bad("luns:\n  - vendor: caf\xc3\xa9\n",
		  "t.yaml:2:13: luns[0].vendor: must be printable ASCII",
		  NULL));
}

TEST(test_config_vendor_empty)
{
	CHECK(bad("luns:\n  - vendor: ''\n",
		  "t.yaml:2:13: luns[0].vendor: must not be empty", NULL));
}

TEST(test_config_string_null)
{
	CHECK(bad("gadget:\n  product: ~\n",
		  "t.yaml:2:12: gadget.product: expected a string, got null",
		  NULL));
}

TEST(test_config_string_nul_escape)
{
	CHECK(bad("gadget: {serial: \"ab\\0cd\"}\n",
		  "t.yaml:1:18: gadget.serial: control characters are not "
		  "allowed (byte 3)", NULL));
}

TEST(test_config_string_newline)
{
	CHECK(bad("gadget:\n  manufacturer: |\n    two\n    lines\n",
		  "t.yaml:2:17: gadget.manufacturer: control characters",
		  NULL));
}

TEST(test_config_serial_too_long)
{
	char text[256];

	snprintf(text, sizeof text, "gadget:\n  serial: %0127d\n", 1);
	CHECK(bad(text, "t.yaml:2:11: gadget.serial: too long: at most 126 "
		  "bytes (got 127)", NULL));
}

TEST(test_config_udc_bad_chars)
{
	CHECK(bad("gadget:\n  udc: ../../etc\n",
		  "t.yaml:2:8: gadget.udc: may only contain letters, digits",
		  NULL));
}

TEST(test_config_gadget_name_bad_chars)
{
	CHECK(bad("gadget:\n  name: net stick\n",
		  "t.yaml:2:9: gadget.name: may only contain letters, digits "
		  "and \"_.-\"", NULL));
}

TEST(test_config_gadget_name_dotdot)
{
	CHECK(bad("gadget:\n  name: ..\n",
		  "t.yaml:2:9: gadget.name: must not be '.' or '..'", NULL));
}

TEST(test_config_gadget_name_too_long)
{
	char text[256];

	snprintf(text, sizeof text, "gadget: {name: %065d}\n", 7);
	CHECK(bad(text, "t.yaml:1:16: gadget.name: too long: at most 64",
		  NULL));
}

TEST(test_config_functionfs_dir_relative)
{
	CHECK(bad("gadget:\n  functionfs_dir: run/ffs\n",
		  "t.yaml:2:19: gadget.functionfs_dir: "
		  "must be an absolute path", NULL));
}

/* ---- log ----------------------------------------------------------- */

TEST(test_config_log_level_unknown)
{
	CHECK(bad("log:\n  level: verbose\n",
		  "t.yaml:2:10: log.level: unknown level 'verbose'", NULL));
}

TEST(test_config_log_debug_unknown_module)
{
	CHECK(bad("log:\n  debug: [bot, usb]\n",
		  "t.yaml:2:16: log.debug[1]: unknown module 'usb' "
		  "(expected one of: bot, scsi, ffs, gadget, lun, backend, "
		  "config)", NULL));
}

TEST(test_config_log_debug_duplicate_module)
{
	CHECK(bad("log:\n  debug:\n    - lun\n    - lun\n",
		  "t.yaml:4:7: log.debug[1]: duplicate module 'lun'", NULL));
}

TEST(test_config_log_debug_not_a_list)
{
	CHECK(bad("log:\n  debug: bot\n",
		  "t.yaml:2:10: log.debug: expected a list of module names, "
		  "got 'bot'", NULL));
}

/* ---- LUN list ------------------------------------------------------ */

TEST(test_config_too_many_luns)
{
	char text[512] = "luns:\n";
	int i;

	for (i = 0; i <= CONFIG_MAX_LUNS; i++)
		strcat(text, "  - {}\n");
	CHECK(bad(text, "t.yaml:18:5: luns[16]: too many LUNs (at most 16)",
		  NULL));
}

TEST(test_config_empty_lun_list)
{
	CHECK(bad("usb: {}\nluns: []\n",
		  "t.yaml:2:7: luns: at least one LUN is required", NULL));
}

TEST(test_config_lun_not_a_mapping)
{
	CHECK(bad("luns:\n  - /srv/a.img\n",
		  "t.yaml:2:5: luns[0]: expected a mapping, got '/srv/a.img'",
		  NULL));
}

TEST(test_config_luns_not_a_list)
{
	CHECK(bad("luns: {media: x}\n",
		  "t.yaml:1:7: luns: expected a list of LUNs, got a mapping",
		  NULL));
}

/* ---- YAML features we refuse, and bad input ------------------------ */

TEST(test_config_syntax_error)
{
	CHECK(bad("gadget:\n  name: a: b\n",
		  "t.yaml:2:10: gadget: syntax error: mapping values are "
		  "not allowed in this context", NULL));
	CHECK(bad("usb: {queue_depth: 4\n",
		  "t.yaml:2:1: usb: syntax error: did not find expected ',' "
		  "or '}' while parsing a flow mapping at 1:6", NULL));
}

TEST(test_config_syntax_error_bad_indent)
{
	CHECK(bad("gadget:\n  name: a\n udc: b\n",
		  "t.yaml:3:2: syntax error: did not find expected key while "
		  "parsing a block mapping at 1:1", NULL));
}

TEST(test_config_alias_refused)
{
	CHECK(bad("luns:\n  - &one {media: /a}\n  - *one\n",
		  "t.yaml:2:5: luns[0]: anchors are not supported (&one)",
		  NULL));
	CHECK(bad("gadget:\n  manufacturer: x\n  product: *m\n",
		  "t.yaml:3:12: gadget.product: aliases are not supported (*m)",
		  NULL));
}

TEST(test_config_tag_refused)
{
	CHECK(bad("gadget:\n  serial: !!str 123\n",
		  "t.yaml:2:11: gadget.serial: tags are not supported "
		  "(tag:yaml.org,2002:str)", NULL));
}

TEST(test_config_invalid_utf8)
{
	CHECK(bad("gadget:\n  product: ab\xff\n",
		  "t.yaml:2:14: invalid input: invalid leading UTF-8 octet",
		  NULL));
}

TEST(test_config_control_byte_in_file)
{
	CHECK(bad("usb: {}\nlog:\x01\n", "t.yaml:2:5: invalid input: control "
		  "characters are not allowed", NULL));
}

TEST(test_config_file_over_1mib)
{
	size_t len = 1024 * 1024 + 1;
	char *text = malloc(len);
	struct config *cfg;

	memset(text, '#', len);
	cfg = config_load_string("t.yaml", text, len, errbuf, sizeof errbuf);
	CHECK(cfg == NULL);
	CHECK(strncmp(errbuf, "t.yaml: larger than 1 MiB", 25) == 0);
	free(text);
}

TEST(test_config_file_over_1mib_on_disk)
{
	char path[] = "/tmp/test-config-XXXXXX";
	int fd = mkstemp(path);
	struct config *cfg;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(ftruncate(fd, 2 * 1024 * 1024) == 0);
	close(fd);
	cfg = config_load(path, errbuf, sizeof errbuf);
	CHECK(cfg == NULL);
	CHECK(strstr(errbuf, ": larger than 1 MiB") != NULL);
	unlink(path);
}

TEST(test_config_missing_file)
{
	CHECK(config_load("/nonexistent/netstick.yaml", errbuf,
			  sizeof errbuf) == NULL);
	CHECK_STR(errbuf,
		  "/nonexistent/netstick.yaml: No such file or directory");
}

TEST(test_config_small_errbuf_truncates)
{
	char small[12];

	CHECK(config_load_string("t.yaml", "x: 1\n", 5, small,
				 sizeof small) == NULL);
	CHECK_STR(small, "t.yaml:1:1:");
	CHECK(config_load_string("t.yaml", "x: 1\n", 5, NULL, 0) == NULL);
}

TEST(test_config_not_nul_terminated)
{
	static const char text[] = { 'u', 's', 'b', ':', ' ', '{', '}' };
	struct config *cfg = config_load_string("t.yaml", text, sizeof text,
						errbuf, sizeof errbuf);

	CHECK(cfg != NULL);
	config_free(cfg);
}

TEST(test_config_lun_layers_list)
{
	struct config *cfg = load(
		"luns:\n"
		"  - media: memory:1M\n"
		"    layers: [inject, \"inject:delay-ms=5,error-rate=0.01\"]\n"
		"  - media: memory:1M\n");

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(cfg->luns[0].layers != NULL);
	CHECK_STR(cfg->luns[0].layers[0], "inject");
	CHECK_STR(cfg->luns[0].layers[1], "inject:delay-ms=5,error-rate=0.01");
	CHECK(cfg->luns[0].layers[2] == NULL);
	CHECK(cfg->luns[1].layers == NULL);
	config_free(cfg);
}

TEST(test_config_lun_layers_empty_list)
{
	struct config *cfg = load("luns:\n  - media: memory:1M\n    layers: []\n");

	CHECK(cfg != NULL && cfg->luns[0].layers && !cfg->luns[0].layers[0]);
	config_free(cfg);
}

TEST(test_config_lun_network_layers_default_empty_and_given)
{
	struct config *cfg = load("luns:\n  - media: memory:1M\n"
				  "  - network_layers: []\n"
				  "  - network_layers: [\"cache:size-mib=8\", inject]\n");
	const char *const *v;

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	v = config_network_layers(&cfg->luns[0]);
	CHECK(cfg->luns[0].network_layers == NULL);
	CHECK_STR(v[0], CONFIG_NETWORK_LAYERS);
	CHECK(v[1] == NULL);
	CHECK(config_network_layers(&cfg->luns[1])[0] == NULL);
	v = config_network_layers(&cfg->luns[2]);
	CHECK_STR(v[0], "cache:size-mib=8");
	CHECK_STR(v[1], "inject");
	CHECK(v[2] == NULL);
	config_free(cfg);
}

TEST(test_config_lun_network_layers_bad)
{
	CHECK(bad("luns:\n  - network_layers: cache\n",
		  "t.yaml:2:21: luns[0].network_layers: ", "a list of strings"));
}

TEST(test_config_lun_layers_not_a_list)
{
	CHECK(bad("luns:\n  - layers: inject\n", "t.yaml:2:13: luns[0].layers: ",
		  "a list of strings"));
}

TEST(test_config_lun_layers_bad_chars)
{
	CHECK(bad("luns:\n  - layers: [\"inject:delay-ms=5 ms\"]\n",
		  "t.yaml:2:14: luns[0].layers[0]: ", "may only contain"));
}

TEST(test_config_lun_layers_too_long)
{
	char text[1200];

	snprintf(text, sizeof text, "luns:\n  - layers: [inject:seed=%01030d]\n", 1);
	CHECK(bad(text, "t.yaml:2:14: luns[0].layers[0]: ", "too long"));
}

TEST(test_config_warm_section)
{
	struct config *cfg = load("warm:\n  link_mbit: 100\n  share: 40\n"
				  "  max_jobs: 3\n");

	CHECK(cfg != NULL);
	if (cfg) {
		CHECK_EQ(cfg->warm.link_mbit, 100);
		CHECK_EQ(cfg->warm.share, 40);
		CHECK_EQ(cfg->warm.max_jobs, 3);
	}
	config_free(cfg);
	cfg = load("luns: [{}]\n");
	CHECK(cfg && cfg->warm.link_mbit == 0 && cfg->warm.share == 50 &&
	      cfg->warm.max_jobs == 2);
	config_free(cfg);
	CHECK(bad("warm:\n  share: 0\n", "t.yaml:2:", "warm.share"));
	CHECK(bad("warm:\n  rate: 3\n", "t.yaml:2:", "warm.rate"));
}

int main(void)
{
	RUN(test_config_shipped_file_parses);
	RUN(test_config_empty_file_is_defaults);
	RUN(test_config_comments_only_is_defaults);
	RUN(test_config_defaults_function);
	RUN(test_config_minimal_file);
	RUN(test_config_missing_luns_gives_one_empty_lun);
	RUN(test_config_all_values_set);
	RUN(test_config_boolean_spellings);
	RUN(test_config_sixteen_luns_ok);
	RUN(test_config_explicit_document_markers);
	RUN(test_config_unknown_top_key);
	RUN(test_config_unknown_nested_key);
	RUN(test_config_unknown_lun_key);
	RUN(test_config_duplicate_key);
	RUN(test_config_duplicate_section);
	RUN(test_config_root_not_a_mapping);
	RUN(test_config_section_is_scalar);
	RUN(test_config_section_is_empty);
	RUN(test_config_mapping_where_scalar);
	RUN(test_config_list_where_number);
	RUN(test_config_complex_key);
	RUN(test_config_two_documents);
	RUN(test_config_string_where_number);
	RUN(test_config_number_with_junk);
	RUN(test_config_number_quoted);
	RUN(test_config_number_negative);
	RUN(test_config_number_leading_zero);
	RUN(test_config_number_empty);
	RUN(test_config_hex_id_too_big);
	RUN(test_config_number_overflows_64_bits);
	RUN(test_config_hex_without_digits);
	RUN(test_config_max_power_out_of_range);
	RUN(test_config_transfer_size_not_4k_multiple);
	RUN(test_config_transfer_size_too_small);
	RUN(test_config_transfer_size_too_big);
	RUN(test_config_queue_depth_zero);
	RUN(test_config_queue_depth_too_big);
	RUN(test_config_block_size_not_512_or_4096);
	RUN(test_config_lun_type_cdrom);
	RUN(test_config_lun_type_unknown);
	RUN(test_config_cdrom_block_size_refused);
	RUN(test_config_bool_on_refused);
	RUN(test_config_bool_number_refused);
	RUN(test_config_bool_quoted_refused);
	RUN(test_config_vendor_too_long);
	RUN(test_config_product_too_long);
	RUN(test_config_revision_too_long);
	RUN(test_config_vendor_not_ascii);
	RUN(test_config_vendor_empty);
	RUN(test_config_string_null);
	RUN(test_config_string_nul_escape);
	RUN(test_config_string_newline);
	RUN(test_config_serial_too_long);
	RUN(test_config_udc_bad_chars);
	RUN(test_config_gadget_name_bad_chars);
	RUN(test_config_gadget_name_dotdot);
	RUN(test_config_gadget_name_too_long);
	RUN(test_config_functionfs_dir_relative);
	RUN(test_config_log_level_unknown);
	RUN(test_config_log_debug_unknown_module);
	RUN(test_config_log_debug_duplicate_module);
	RUN(test_config_log_debug_not_a_list);
	RUN(test_config_too_many_luns);
	RUN(test_config_lun_layers_list);
	RUN(test_config_lun_layers_empty_list);
	RUN(test_config_lun_network_layers_default_empty_and_given);
	RUN(test_config_lun_network_layers_bad);
	RUN(test_config_lun_layers_not_a_list);
	RUN(test_config_lun_layers_bad_chars);
	RUN(test_config_lun_layers_too_long);
	RUN(test_config_empty_lun_list);
	RUN(test_config_lun_not_a_mapping);
	RUN(test_config_luns_not_a_list);
	RUN(test_config_syntax_error);
	RUN(test_config_syntax_error_bad_indent);
	RUN(test_config_alias_refused);
	RUN(test_config_tag_refused);
	RUN(test_config_invalid_utf8);
	RUN(test_config_control_byte_in_file);
	RUN(test_config_file_over_1mib);
	RUN(test_config_file_over_1mib_on_disk);
	RUN(test_config_missing_file);
	RUN(test_config_small_errbuf_truncates);
	RUN(test_config_not_nul_terminated);
	RUN(test_config_warm_section);
	return test_summary();
}
