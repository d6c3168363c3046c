/* config_seed.c — the config for seed volumes (docs/seed.md): the `seed:`
 * section (limits, template variables) and `images[].seed`, a catalog
 * entry that is a seed template instead of a source.  Key tables as in
 * config.c (config_int.h).
 *
 *   seed:           cfg_seed_keys
 *     variables:    name → text, stored "name=value"
 *   images[].seed:  cfg_seed_entry_keys
 *     files:        path → text (a YAML block scalar keeps it as written)
 *
 * Catalog seeds are checked whole once the file is read (cfg_seed_check:
 * kind, label, names, limits, variables), so a bad template is a config
 * error at start, not a 400 on the first insert.
 */
#include "config_int.h"
#include "seed_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_SEED_TEXT (1024 * 1024)   /* one file in config.yaml */

/* ---- files: path → text ------------------------------------------------ */

static const struct cfg_key cfg_seed_name_key = {
	.name = "files", .min = 1, .max = SEED_PATH_MAX,
};

/* Contents: any text but NUL (a "\0" escape); newlines and tabs stay. */
static int cfg_seed_text(struct cfg_parser *p, struct config_seed_file *f)
{
	if (cfg_want(p, YAML_SCALAR_EVENT, "the file's text") < 0)
		return -1;
	if (CFG_SLEN(p) > CFG_SEED_TEXT)
		return cfg_fail(p, "too long: at most %d bytes",
				CFG_SEED_TEXT);
	if (memchr(CFG_SVAL(p), '\0', CFG_SLEN(p)))
		return cfg_fail(p, "NUL bytes are not allowed in text");
	if ((f->text = malloc(CFG_SLEN(p) + 1)) == NULL)
		return cfg_fail(p, "out of memory");
	memcpy(f->text, CFG_SVAL(p), CFG_SLEN(p));
	f->text[CFG_SLEN(p)] = '\0';
	f->len = CFG_SLEN(p);
	return 0;
}

static int cfg_seed_file(struct cfg_parser *p, struct config_seed *cs)
{
	struct config_seed_file *f, *v;
	const char *s;
	size_t len, old;

	if (cfg_want(p, YAML_SCALAR_EVENT, "a file name") < 0 ||
	    cfg_get_str(p, &cfg_seed_name_key, &s, &len) < 0)
		return -1;
	if (cs->nfiles == SEED_FILES_HARD)
		return cfg_fail(p, "too many files (at most %d)",
				SEED_FILES_HARD);
	if ((v = realloc(cs->files, (cs->nfiles + 1) * sizeof *v)) == NULL)
		return cfg_fail(p, "out of memory");
	cs->files = v;
	f = &v[cs->nfiles];
	*f = (struct config_seed_file){ .name = strndup(s, len) };
	if (!f->name)
		return cfg_fail(p, "out of memory");
	cs->nfiles++;
	old = cfg_path_key(p, s, len);
	if (cfg_next(p) < 0 || cfg_seed_text(p, f) < 0)
		return -1;
	cfg_path_pop(p, old);
	return 0;
}

static int cfg_set_seed_files(struct cfg_parser *p, const struct cfg_key *k,
			      void *obj)
{
	struct config_seed *cs = obj;

	(void)k;
	if (cfg_want(p, YAML_MAPPING_START_EVENT,
		     "a mapping of file names to text") < 0)
		return -1;
	for (;;) {
		if (cfg_next(p) < 0)
			return -1;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (cfg_seed_file(p, cs) < 0)
			return -1;
	}
}

/* ---- images[].seed ------------------------------------------------------ */

#define S struct config_seed
static const struct cfg_key cfg_seed_entry_keys[] = {
	KEY_STR("kind", S, kind, 32, .charset = "-_"),
	KEY_STR("label", S, label, SEED_LABEL_MAX, .charset = "_.-"),
	KEY_BOOL("template", S, template_on),
	{ .name = "files", .set = cfg_set_seed_files },
	KEY_END
};
#undef S
CFG_TABLE_CHECK(cfg_seed_entry_keys);

void cfg_seed_entry_free(struct config_seed *cs)
{
	if (!cs)
		return;
	free(cs->kind);
	free(cs->label);
	for (unsigned i = 0; i < cs->nfiles; i++) {
		free(cs->files[i].name);
		free(cs->files[i].text);
	}
	free(cs->files);
	free(cs);
}

int cfg_set_image_seed(struct cfg_parser *p, const struct cfg_key *k,
		       void *obj)
{
	struct config_seed **field = cfg_field(obj, k);
	struct config_seed *cs = calloc(1, sizeof *cs);

	if (!cs)
		return cfg_fail(p, "out of memory");
	cs->template_on = true;
	cfg_seed_entry_free(*field);
	*field = cs;      /* owned by the config from now on, even on error */
	if (cfg_parse_map(p, cfg_seed_entry_keys, cs) < 0)
		return -1;
	if (!cs->kind)
		return cfg_fail(p, "'kind' is required (nocloud, kickstart, "
				"autounattend, custom)");
	return 0;
}

/* ---- seed: ------------------------------------------------------------- */

static bool cfg_seed_var_ok(const char *kv, size_t n)
{
	if (n == 0 || (kv[0] >= '0' && kv[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(kv[i] == '_' || (kv[i] >= 'a' && kv[i] <= 'z') ||
		      (kv[i] >= 'A' && kv[i] <= 'Z') ||
		      (kv[i] >= '0' && kv[i] <= '9')))
			return false;
	return true;
}

/* The options mapping's parser, then the rules of a variable name: an
 * identifier, given once, not one of the built-in ones. */
static int cfg_set_seed_vars(struct cfg_parser *p, const struct cfg_key *k,
			     void *obj)
{
	char ***field = cfg_field(obj, k);

	if (cfg_set_options(p, k, obj) < 0)
		return -1;
	for (char **v = *field; v && *v; v++) {
		size_t n = strcspn(*v, "=");
		if (!cfg_seed_var_ok(*v, n))
			return cfg_fail(p, "variable \"%.*s\": names are "
					"letters, digits and _ (not first a "
					"digit)", (int)(n > 64 ? 64 : n), *v);
		if ((n == 6 && strncmp(*v, "serial", 6) == 0) ||
		    (n == 3 && strncmp(*v, "lun", 3) == 0))
			return cfg_fail(p, "variable \"%.*s\" is built in",
					(int)n, *v);
		for (char **w = *field; w < v; w++)
			if (strncmp(*w, *v, n + 1) == 0)
				return cfg_fail(p, "variable \"%.*s\" is "
						"given twice", (int)n, *v);
	}
	return 0;
}

#define Z struct config_seeds
const struct cfg_key cfg_seed_keys[] = {
	KEY_U32("max_files", Z, max_files, 1, SEED_FILES_HARD, NULL),
	KEY_U32("max_file_size", Z, max_file_size, 1, 64u << 20, NULL),
	KEY_U32("max_volume_size", Z, max_volume_size, 64u << 10, 256u << 20,
		NULL),
	{ KEY("variables", cfg_set_seed_vars, Z, variables) },
	KEY_END
};
#undef Z
CFG_TABLE_CHECK(cfg_seed_keys);

void cfg_seed_defaults(struct config *cfg)
{
	cfg->seed.max_files = 64;
	cfg->seed.max_file_size = 1u << 20;
	cfg->seed.max_volume_size = 8u << 20;
	cfg->seed.variables = NULL;
}

void cfg_seed_free(struct config *cfg)
{
	cfg_strv_free(cfg->seed.variables);
	cfg->seed.variables = NULL;
	for (unsigned i = 0; i < CONFIG_MAX_IMAGES; i++) {
		cfg_seed_entry_free(cfg->images[i].seed);
		cfg->images[i].seed = NULL;
	}
}

/* Every catalog seed as an insert would take it (a placeholder serial). */
int cfg_seed_check(struct cfg_parser *p, const struct config *cfg)
{
	struct seed_vars vars = { .serial = "SERIAL", .lun = 0,
		.extra = (const char *const *)cfg->seed.variables };
	struct seed_limits lim;
	struct seed_req rq;
	struct seed_err e;
	int r;

	seed_limits_of(cfg, &lim);
	for (unsigned i = 0; i < cfg->nimages; i++) {
		const struct config_image *im = &cfg->images[i];
		if (!im->seed)
			continue;
		r = seed_req_from_config(im->seed, &rq, &e);
		if (r == 0)
			r = seed_req_finish(&rq, &lim, &vars, &e);
		seed_req_free(&rq);
		if (r < 0)
			return cfg_fail_at(p, NULL, "images[%u] (%s): seed: %s",
					   i, im->name, e.msg);
	}
	return 0;
}
