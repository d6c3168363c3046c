/* config_api.c — the config sections the admin API reads: `api:`, the
 * `images:` catalog, and the `options:` mapping of a LUN or an image.
 * One key table per section, as in config.c (see config_int.h).
 *
 *   api:      cfg_api_keys     (section)
 *   images:   list of cfg_image_keys, each needing name and source
 *   options:  mapping key → scalar, or key → list of scalars for the
 *             repeatable keys ("header"); stored as "key=value" strings,
 *             NULL-terminated, ready for backend_open_opts.options
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_OPT_KEY   64     /* option key, bytes */
#define CFG_OPT_VAL   4096   /* option value, bytes */
#define CFG_NAME_STR  64     /* image name */
#define CFG_DESC_STR  1024   /* image description */
#define CFG_HOST_STR  255    /* a host name */

#ifndef NETSTICK_WEBUI_DIR
#define NETSTICK_WEBUI_DIR "/usr/local/share/netstick/webui"
#endif

void cfg_strv_free(char **v)
{
	if (!v)
		return;
	for (char **s = v; *s; s++)
		free(*s);
	free(v);
}

/* Appends a heap copy of "key=value" (or just s when key is NULL) to the
 * NULL-terminated vector *vp holding *np entries. */
static int cfg_strv_add(struct cfg_parser *p, char ***vp, unsigned *np,
			const char *key, const char *s, size_t len)
{
	size_t klen = key ? strlen(key) + 1 : 0;
	char **v, *e;

	if (*np >= CONFIG_MAX_LIST)
		return cfg_fail(p, "too many entries (at most %d)",
				CONFIG_MAX_LIST);
	if ((v = realloc(*vp, (*np + 2) * sizeof *v)) == NULL)
		return cfg_fail(p, "out of memory");
	*vp = v;
	if ((e = malloc(klen + len + 1)) == NULL)
		return cfg_fail(p, "out of memory");
	if (key)
		snprintf(e, klen + 1, "%s=", key);
	memcpy(e + klen, s, len);
	e[klen + len] = '\0';
	v[(*np)++] = e;
	v[*np] = NULL;
	return 0;
}

/* ---- list of strings (allowed_schemes, allowed_hosts) ---------------- */

int cfg_set_strlist(struct cfg_parser *p, const struct cfg_key *k, void *obj)
{
	char ***field = cfg_field(obj, k);
	char **v = NULL;
	unsigned n = 0;
	const char *s;
	size_t len, old;

	if (cfg_want(p, YAML_SEQUENCE_START_EVENT, "a list of strings") < 0)
		return -1;
	for (;;) {
		old = cfg_path_index(p, n);
		if (cfg_next(p) < 0)
			goto fail;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (cfg_get_str(p, k, &s, &len) < 0 ||
		    cfg_strv_add(p, &v, &n, NULL, s, len) < 0)
			goto fail;
		cfg_path_pop(p, old);
	}
	cfg_path_pop(p, old);
	cfg_strv_free(*field);
	*field = v ? v : calloc(1, sizeof *v);  /* [] is an empty list */
	return *field ? 0 : cfg_fail(p, "out of memory");
fail:
	cfg_strv_free(v);
	return -1;
}

/* ---- options mapping -------------------------------------------------- */

static const struct cfg_key cfg_opt_key = {
	.name = "options", .min = 1, .max = CFG_OPT_KEY, .charset = "-_.",
};
static const struct cfg_key cfg_opt_val = {
	.name = "options", .min = 0, .max = CFG_OPT_VAL,
};

/* One value: a scalar, or a list of scalars (the key repeated). */
static int cfg_option_value(struct cfg_parser *p, char ***v, unsigned *n,
			    const char *key)
{
	const char *s;
	size_t len;

	if (p->ev.type == YAML_SCALAR_EVENT)
		return cfg_get_str(p, &cfg_opt_val, &s, &len) < 0 ? -1 :
		       cfg_strv_add(p, v, n, key, s, len);
	if (cfg_want(p, YAML_SEQUENCE_START_EVENT,
		     "a value or a list of values") < 0)
		return -1;
	for (;;) {
		if (cfg_next(p) < 0)
			return -1;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (cfg_want(p, YAML_SCALAR_EVENT, "a value") < 0 ||
		    cfg_get_str(p, &cfg_opt_val, &s, &len) < 0 ||
		    cfg_strv_add(p, v, n, key, s, len) < 0)
			return -1;
	}
}

/* One "key: value" of the mapping; the key is the current event. */
static int cfg_option_entry(struct cfg_parser *p, char ***v, unsigned *n)
{
	char key[CFG_OPT_KEY + 1];
	const char *s;
	size_t len, old;
	int r;

	if (cfg_want(p, YAML_SCALAR_EVENT, "an option name") < 0 ||
	    cfg_get_str(p, &cfg_opt_key, &s, &len) < 0)
		return -1;
	memcpy(key, s, len);
	key[len] = '\0';
	for (unsigned i = 0; i < *n; i++)
		if (strncmp((*v)[i], key, len) == 0 && (*v)[i][len] == '=')
			return cfg_fail(p, "duplicate key");
	old = cfg_path_key(p, s, len);
	r = cfg_next(p) < 0 ? -1 : cfg_option_value(p, v, n, key);
	if (r == 0)
		cfg_path_pop(p, old);
	return r;
}

/* Values are taken as text ("timeout-ms: 3000" is "timeout-ms=3000");
 * the backend checks keys and values when the media is opened. */
int cfg_set_options(struct cfg_parser *p, const struct cfg_key *k, void *obj)
{
	char ***field = cfg_field(obj, k);
	char **v = NULL;
	unsigned n = 0;

	if (cfg_want(p, YAML_MAPPING_START_EVENT,
		     "a mapping of option names to values") < 0)
		return -1;
	for (;;) {
		if (cfg_next(p) < 0)
			goto fail;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (cfg_option_entry(p, &v, &n) < 0)
			goto fail;
	}
	cfg_strv_free(*field);
	*field = v;
	return 0;
fail:
	cfg_strv_free(v);
	return -1;
}

/* ---- tables ----------------------------------------------------------- */

#define A struct config_api
const struct cfg_key cfg_api_keys[] = {
	KEY_BOOL("enabled", A, enabled),
	KEY_STR("listen", A, listen, 64, .charset = ".:[]%-_"),
	KEY_U32("port", A, port, 0, 65535, NULL),
	KEY_STR("token", A, token, 256, .charset = "-_.~+/="),
	KEY_STR("token_file", A, token_file, 1024, .flags = CFG_ABSPATH),
	KEY_STR("tls_cert", A, tls_cert, 1024, .flags = CFG_ABSPATH),
	KEY_STR("tls_key", A, tls_key, 1024, .flags = CFG_ABSPATH),
	KEY_U32("max_body", A, max_body, 1024, 16 * 1024 * 1024, NULL),
	{ KEY("allowed_schemes", cfg_set_strlist, A, allowed_schemes),
	  .min = 1, .max = 32, .charset = "+.-" },
	KEY_STR("allowed_dir", A, allowed_dir, 1024, .flags = CFG_ABSPATH),
	{ KEY("allowed_hosts", cfg_set_strlist, A, allowed_hosts),
	  .min = 1, .max = CFG_HOST_STR, .charset = ".-*:[]" },
	KEY_STR("webui_dir", A, webui_dir, 1024,
		.flags = CFG_ABSPATH | CFG_EMPTY_NULL),
	KEY_END
};
#undef A
CFG_TABLE_CHECK(cfg_api_keys);

#define I struct config_image
static const struct cfg_key cfg_image_keys[] = {
	KEY_STR("name", I, name, CFG_NAME_STR, .charset = "_.-"),
	KEY_STR("source", I, source, 4096, .flags = 0),
	KEY_BOOL("cdrom", I, cdrom),
	KEY_BOOL("readonly", I, readonly),
	KEY_STR("description", I, description, CFG_DESC_STR, .flags = 0),
	{ KEY("options", cfg_set_options, I, options) },
	{ KEY("seed", cfg_set_image_seed, I, seed) },   /* config_seed.c */
	KEY_END
};
#undef I
CFG_TABLE_CHECK(cfg_image_keys);

/* ---- images list ------------------------------------------------------ */

/* name and source are required; names are unique. */
static int cfg_image_check(struct cfg_parser *p, const struct config *cfg,
			   const struct config_image *im, yaml_mark_t m)
{
	if (!im->name)
		return cfg_fail_at(p, &m, "'name' is required");
	if (!im->source == !im->seed)
		return cfg_fail_at(p, &m, "give one of 'source' and 'seed'");
	for (const struct config_image *o = cfg->images; o < im; o++)
		if (strcmp(o->name, im->name) == 0)
			return cfg_fail_at(p, &m, "duplicate image name '%s'",
					   im->name);
	return 0;
}

/* obj is the whole struct config. */
int cfg_set_images(struct cfg_parser *p, const struct cfg_key *k, void *obj)
{
	struct config *cfg = obj;
	struct config_image *im;
	yaml_mark_t m;
	size_t old;

	if (cfg_want(p, YAML_SEQUENCE_START_EVENT, "a list of images") < 0)
		return -1;
	for (;;) {
		old = cfg_path_index(p, cfg->nimages);
		if (cfg_next(p) < 0)
			return -1;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (cfg->nimages == CONFIG_MAX_IMAGES)
			return cfg_fail(p, "too many images (at most %d)",
					CONFIG_MAX_IMAGES);
		m = p->ev.start_mark;
		im = &cfg->images[cfg->nimages++];
		if (cfg_parse_map(p, k->sub ? k->sub : cfg_image_keys, im) < 0 ||
		    cfg_image_check(p, cfg, im, m) < 0)
			return -1;
		cfg_path_pop(p, old);
	}
	cfg_path_pop(p, old);
	return 0;
}

const struct config_image *config_image_find(const struct config *cfg,
					     const char *name)
{
	for (unsigned i = 0; i < cfg->nimages; i++)
		if (strcmp(cfg->images[i].name, name) == 0)
			return &cfg->images[i];
	return NULL;
}

/* ---- defaults and release ---------------------------------------------- */

static char **cfg_strv_of(const char *const *src)
{
	unsigned n = 0;
	char **v;

	while (src[n])
		n++;
	if ((v = calloc(n + 1, sizeof *v)) == NULL)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		if ((v[i] = strdup(src[i])) == NULL) {
			cfg_strv_free(v);
			return NULL;
		}
	return v;
}

int cfg_api_defaults(struct config *cfg)
{
	static const char *const schemes[] = {
		"file", "http", "https", "nbd", "nbds", NULL,
	};
	struct config_api *a = &cfg->api;

	a->enabled = true;
	a->listen = strdup("127.0.0.1");
	a->port = 8080;
	a->token_file = strdup("/var/lib/netstick/token");
	a->max_body = 64 * 1024;
	a->allowed_schemes = cfg_strv_of(schemes);
	a->allowed_dir = strdup("/var/lib/netstick/images");
	a->webui_dir = strdup(NETSTICK_WEBUI_DIR);
	return a->listen && a->token_file && a->allowed_schemes &&
	       a->allowed_dir && a->webui_dir ? 0 : -1;
}

void cfg_api_free(struct config *cfg)
{
	struct config_api *a = &cfg->api;

	free(a->listen);
	free(a->token);
	free(a->token_file);
	free(a->tls_cert);
	free(a->tls_key);
	cfg_strv_free(a->allowed_schemes);
	free(a->allowed_dir);
	cfg_strv_free(a->allowed_hosts);
	free(a->webui_dir);
	for (unsigned i = 0; i < cfg->nimages; i++) {
		free(cfg->images[i].name);
		free(cfg->images[i].source);
		free(cfg->images[i].description);
		cfg_strv_free(cfg->images[i].options);
	}
	for (unsigned i = 0; i < CONFIG_MAX_LUNS; i++) {
		cfg_strv_free(cfg->luns[i].options);
		cfg_strv_free(cfg->luns[i].layers);
		cfg_strv_free(cfg->luns[i].network_layers);
	}
}
