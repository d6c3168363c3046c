/* test-seed-req.c — seed requests (daemon/seed_req.c): JSON parsing, the
 * kinds' rules, names, base64, templating and limits; catalog seeds in
 * config.yaml; and a seed inserted through the media service on a LUN,
 * swapped and ejected, read back through lun_read. */
#include "media.h"
#include "seed.h"
#include "seed_req.h"
#include "test.h"

#include <stdlib.h>

static const struct seed_limits lim = { .max_files = 8,
	.max_file_size = 256, .max_volume_size = 1u << 20 };
static const char *const extra[] = { "site=rack-7", NULL };
static const struct seed_vars vars = { .serial = "SER1", .lun = 2,
				       .extra = extra };

/* Parses and finishes json; returns the error code, or "ok". */
static const char *try_seed(const char *json, struct seed_req *rq)
{
	static struct seed_err e;
	json_object *o = json_tokener_parse(json);
	int r;

	if (!o)
		return "bad_json";
	r = seed_req_from_json(o, seed_json_has_nul(json, strlen(json)), rq, &e);
	json_object_put(o);
	if (r == 0 && seed_req_finish(rq, &lim, &vars, &e) == 0)
		return "ok";
	seed_req_free(rq);
	return e.code;
}

static const char *code_of(const char *json)
{
	struct seed_req rq;
	const char *c = try_seed(json, &rq);

	if (strcmp(c, "ok") == 0)
		seed_req_free(&rq);
	return c;
}

#define NC(files) "{\"kind\":\"nocloud\",\"files\":{\"user-data\":\"u\"," \
		  "\"meta-data\":\"m\"" files "}}"

TEST(test_seed_req_kinds_default_labels)
{
	struct seed_req rq;

	CHECK_STR(try_seed(NC(""), &rq), "ok");
	CHECK_STR(rq.label, "cidata");
	seed_req_free(&rq);
	CHECK_STR(try_seed("{\"kind\":\"kickstart\",\"files\":{\"ks.cfg\":\"x\"}}",
			   &rq), "ok");
	CHECK_STR(rq.label, "OEMDRV");
	seed_req_free(&rq);
	CHECK_STR(code_of("{\"kind\":\"nocloud\",\"label\":\"CIDATA\",\"files\":"
			  "{\"user-data\":\"\",\"meta-data\":\"\"}}"), "ok");
	CHECK_STR(code_of("{\"kind\":\"autounattend\",\"files\":"
			  "{\"AutoUnattend.XML\":\"x\"}}"), "ok");
	CHECK_STR(code_of("{\"kind\":\"zip\",\"files\":{}}"), "unknown_kind");
	CHECK_STR(code_of("{\"files\":{\"a\":\"x\"}}"), "unknown_kind");
	CHECK_STR(code_of("{\"kind\":\"kickstart\",\"files\":{\"ks\":\"x\"}}"),
		  "missing_file");
	CHECK_STR(code_of("{\"kind\":\"custom\",\"label\":\"L\",\"files\":{}}"),
		  "missing_file");
}

TEST(test_seed_req_labels)
{
	CHECK_STR(code_of("{\"kind\":\"custom\",\"files\":{\"a\":\"x\"}}"),
		  "bad_label");
	CHECK_STR(code_of("{\"kind\":\"custom\",\"label\":\"Abc_1.2-3\","
			  "\"files\":{\"a\":\"x\"}}"), "ok");
	CHECK_STR(code_of("{\"kind\":\"custom\",\"label\":\""
			  "123456789012345678901234567890123\","
			  "\"files\":{\"a\":\"x\"}}"), "bad_label");
	CHECK_STR(code_of("{\"kind\":\"custom\",\"label\":\"a/b\","
			  "\"files\":{\"a\":\"x\"}}"), "bad_label");
	CHECK_STR(code_of("{\"kind\":\"custom\",\"label\":\"\","
			  "\"files\":{\"a\":\"x\"}}"), "bad_label");
	CHECK_STR(code_of("{\"kind\":\"kickstart\",\"label\":\"oemdrv\","
			  "\"files\":{\"ks.cfg\":\"x\"}}"), "bad_label");
}

TEST(test_seed_req_names)
{
	static const char *const bad[] = {
		"../x", "/etc/x", "a//b", "a/", ".", "a/./b", "a/..", "a\\\\b",
		"a*", "a:b", "x\\ty", "\\u007f", "1/2/3/4/5/6/7/8/9", "",
	};
	char json[512];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(json, sizeof json, NC(",\"%s\":\"x\""), bad[i]);
		CHECK_STR(code_of(json), "bad_file_name");
	}
	CHECK_STR(code_of(NC(",\"1/2/3/4/5/6/7/8\":\"x\"")), "ok");
	CHECK_STR(code_of(NC(",\"d\\u00e9j\\u00e0 vu.txt\":\"x\"")), "ok");
	CHECK_STR(code_of(NC(",\"User-Data\":\"x\"")), "bad_file_name");
	CHECK_STR(code_of(NC(",\"d\":\"x\",\"d/e\":\"y\"")), "bad_file_name");
	CHECK_STR(code_of(NC(",\"a\\u0000/../x\":\"x\"")), "bad_file_name");
	CHECK(seed_json_has_nul("\"\\u0000\"", 8));
	CHECK(!seed_json_has_nul("\"\\\\u0000\"", 9));   /* an escaped \ */
}

TEST(test_seed_req_base64_and_text_forms)
{
	struct seed_req rq;

	CHECK_STR(try_seed(NC(",\"b\":{\"base64\":\"AAEC\\n/w==\"},"
			      "\"t\":{\"text\":\"{{lun}}\"}"), &rq), "ok");
	for (unsigned i = 0; i < rq.nfiles; i++) {
		if (strcmp(rq.files[i].name, "b") == 0)
			CHECK(rq.files[i].len == 4 && !rq.files[i].text &&
			      memcmp(rq.files[i].data, "\0\1\2\377", 4) == 0);
		if (strcmp(rq.files[i].name, "t") == 0)
			CHECK_STR((char *)rq.files[i].data, "2");
	}
	seed_req_free(&rq);
	CHECK_STR(code_of(NC(",\"b\":{\"base64\":\"AAE\"}")), "bad_base64");
	CHECK_STR(code_of(NC(",\"b\":{\"base64\":\"A!==\"}")), "bad_base64");
	CHECK_STR(code_of(NC(",\"b\":{\"base64\":\"YQ==YQ==\"}")), "bad_base64");
	CHECK_STR(code_of(NC(",\"b\":{\"hex\":\"00\"}")), "bad_seed");
	CHECK_STR(code_of(NC(",\"b\":{\"text\":\"a\",\"x\":1}")), "bad_seed");
	CHECK_STR(code_of(NC(",\"b\":[1]")), "bad_seed");
	CHECK_STR(code_of(NC(",\"b\":\"a\\u0000b\"")), "bad_file_name");
}

TEST(test_seed_req_templates)
{
	struct seed_req rq;

	CHECK_STR(try_seed("{\"kind\":\"custom\",\"label\":\"L\",\"files\":{"
			   "\"a\":\"{{serial}}-{{lun}}-{{site}} {{ v1.x }} "
			   "{{a.b}} {{}} {{serial\"}}", &rq), "ok");
	CHECK_STR((char *)rq.files[0].data,
		  "SER1-2-rack-7 {{ v1.x }} {{a.b}} {{}} {{serial");
	seed_req_free(&rq);
	CHECK_STR(code_of("{\"kind\":\"custom\",\"label\":\"L\",\"files\":{"
			  "\"a\":\"{{sitee}}\"}}"), "unknown_variable");
	CHECK_STR(try_seed("{\"kind\":\"custom\",\"label\":\"L\","
			   "\"template\":false,\"files\":{\"a\":\"{{x}}\"}}",
			   &rq), "ok");
	CHECK_STR((char *)rq.files[0].data, "{{x}}");
	seed_req_free(&rq);
}

TEST(test_seed_req_limits)
{
	char json[2048], big[300];

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	snprintf(json, sizeof json, NC(",\"b\":\"%s\""), big);
	CHECK_STR(code_of(json), "seed_too_large");
	/* 200 bytes of text that expand past 256. */
	CHECK_STR(code_of(NC(",\"b\":\"{{site}}{{site}}{{site}}{{site}}"
			     "{{site}}{{site}}{{site}}{{site}}{{site}}{{site}}"
			     "{{site}}{{site}}{{site}}{{site}}{{site}}{{site}}"
			     "{{site}}{{site}}{{site}}{{site}}{{site}}{{site}}"
			     "{{site}}{{site}}{{site}}{{site}}{{site}}{{site}}"
			     "{{site}}{{site}}{{site}}{{site}}{{site}}{{site}}"
			     "{{site}}{{site}}{{site}}{{site}}{{site}}\"")),
		  "seed_too_large");
	CHECK_STR(code_of(NC(",\"1\":\"\",\"2\":\"\",\"3\":\"\",\"4\":\"\","
			     "\"5\":\"\",\"6\":\"\",\"7\":\"\"")),
		  "too_many_files");
	CHECK_STR(code_of(NC(",\"1\":\"\",\"2\":\"\",\"3\":\"\",\"4\":\"\","
			     "\"5\":\"\",\"6\":\"\"")), "ok");
}

TEST(test_seed_config_catalog_and_errors)
{
	static const char ok[] =
		"seed: {max_files: 4, variables: {site: r7}}\n"
		"images:\n"
		"  - name: ks\n"
		"    seed:\n"
		"      kind: kickstart\n"
		"      files:\n"
		"        ks.cfg: |\n"
		"          # {{site}}\n";
	static const char *const bad[] = {
		"images: [{name: x, seed: {kind: nope, files: {a: b}}}]\n",
		"images: [{name: x, seed: {kind: kickstart, files: {a: b}}}]\n",
		"images: [{name: x, seed: {kind: custom, label: L, files: "
		"{a: '{{what}}'}}}]\n",
		"images: [{name: x, source: /a, seed: {kind: custom, label: L, "
		"files: {a: b}}}]\n",
		"images: [{name: x, seed: {files: {a: b}}}]\n",
		"seed: {variables: {serial: x}}\n",
		"seed: {variables: {'a-b': x}}\n",
		"seed: {max_files: 0}\n",
	};
	char err[256];
	struct config *cfg = config_load_string("t", ok, sizeof ok - 1, err,
						sizeof err);

	CHECK(cfg != NULL);
	if (cfg) {
		CHECK(cfg->images[0].seed && cfg->images[0].seed->nfiles == 1);
		CHECK_STR(cfg->images[0].seed->files[0].text, "# {{site}}\n");
		CHECK_EQ(cfg->seed.max_files, 4);
		CHECK_EQ(cfg->seed.max_file_size, 1u << 20);
		config_free(cfg);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cfg = config_load_string("t", bad[i], strlen(bad[i]), err,
					 sizeof err);
		CHECK(cfg == NULL);
		if (cfg) {
			fprintf(stderr, "  accepted: %s", bad[i]);
			config_free(cfg);
		}
	}
}

TEST(test_seed_media_insert_swap_eject)
{
	static const char yaml[] =
		"gadget: {serial: BOARD7}\n"
		"seed: {variables: {site: r7}}\n"
		"images: [{name: ks, seed: {kind: kickstart, files: "
		"{ks.cfg: '# {{site}} {{serial}} {{lun}}'}}}]\n"
		"luns: [{}, {}]\n";
	static const char want[] = "# r7 BOARD7 1";
	struct media_policy pol;
	struct media_service ms;
	struct media_result res;
	struct lun l;
	struct lun_info *li = calloc(1, sizeof *li);
	unsigned char *buf = malloc(1 << 20);
	char err[256], first[LUN_SOURCE_SHOW];
	struct config *cfg = config_load_string("t", yaml, sizeof yaml - 1,
						err, sizeof err);
	struct seed_req rq;
	unsigned count;
	size_t bytes;

	CHECK(cfg && li && buf);
	if (!cfg || !li || !buf)
		goto out;
	seed_store_clear();
	if (media_policy_init(&pol, &cfg->api) < 0)
		goto out;
	ms = (struct media_service){ .cfg = cfg, .policy = &pol };
	lun_init(&l, 1, &cfg->luns[1], "BOARD7");
	CHECK(media_insert(&ms, &l, &(struct media_request){ .image = "ks" },
			   &res) == 0);
	lun_get_info(&l, li);
	CHECK(li->state == LUN_READY && li->readonly);
	CHECK(strncmp(li->source, "seed:sha256-", 12) == 0);
	CHECK_STR(li->image, "ks");
	snprintf(first, sizeof first, "%s", li->source);
	/* The file's bytes are somewhere in the volume, templated. */
	CHECK(lun_read(&l, li->media_gen, buf, (uint32_t)li->size, 0) == 0);
	CHECK(memmem(buf, li->size, want, sizeof want - 1) != NULL);
	/* A bad seed: refused, nothing changed. */
	CHECK_STR(try_seed("{\"kind\":\"custom\",\"label\":\"L\",\"files\":"
			   "{\"a\":\"x\"}}", &rq), "ok");
	rq.files[0].name[0] = '/';
	CHECK(media_insert(&ms, &l, &(struct media_request){ .seed = &rq },
			   &res) < 0);
	CHECK(res.err == MEDIA_EBADREQ);
	CHECK_STR(res.code, "bad_file_name");
	seed_req_free(&rq);
	lun_get_info(&l, li);
	CHECK_STR(li->source, first);
	/* A swap to another seed frees the first. */
	CHECK_STR(try_seed("{\"kind\":\"custom\",\"label\":\"L2\",\"files\":"
			   "{\"a\":\"x\"}}", &rq), "ok");
	CHECK(media_insert(&ms, &l, &(struct media_request){ .seed = &rq },
			   &res) == 0);
	seed_req_free(&rq);
	lun_get_info(&l, li);
	CHECK(strcmp(li->source, first) != 0);
	seed_store_stats(&count, &bytes);
	CHECK_EQ(count, 1);
	CHECK(media_eject(&ms, &l, false, &res) == 0);
	seed_store_stats(&count, &bytes);
	CHECK_EQ(count, 0);
	/* A seed with options is refused. */
	CHECK(media_insert(&ms, &l, &(struct media_request){ .image = "ks",
		.options = (const char *const[]){ "a=b", NULL } }, &res) < 0);
	lun_fini(&l);
	media_policy_fini(&pol);
out:
	config_free(cfg);
	free(li);
	free(buf);
}

int main(void)
{
	RUN(test_seed_req_kinds_default_labels);
	RUN(test_seed_req_labels);
	RUN(test_seed_req_names);
	RUN(test_seed_req_base64_and_text_forms);
	RUN(test_seed_req_templates);
	RUN(test_seed_req_limits);
	RUN(test_seed_config_catalog_and_errors);
	RUN(test_seed_media_insert_swap_eject);
	return test_summary();
}
