/* seed.c — `netstick seed LUN --kind KIND NAME=FILE...`: reads local files
 * into a seed request (docs/seed.md) and PUTs it on the LUN's media.
 *
 * A file whose bytes are UTF-8 text without NUL goes as text (templates
 * expand in it on the daemon); anything else goes as {"base64": ...}
 * (OpenSSL's encoder).  NAME may hold '/' for a file in a directory; the
 * daemon checks names, sizes and the kind's rules.
 */
#include "cli.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define SEED_CLI_MAX_FILE (64u << 20)   /* the daemon's own cap is lower */

/* The whole file (heap, NUL after it), or NULL with a message. */
static unsigned char *seed_read(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	unsigned char *buf = NULL, *nb;
	size_t cap = 0, n;

	*len = 0;
	if (!f) {
		fprintf(stderr, "netstick: %s: %m\n", path);
		return NULL;
	}
	do {
		if (*len + 65536 + 1 > cap) {
			cap = (*len + 65536 + 1) * 2;
			if (!(nb = realloc(buf, cap)))
				break;
			buf = nb;
		}
		n = fread(buf + *len, 1, cap - *len - 1, f);
		*len += n;
	} while (n > 0 && *len <= SEED_CLI_MAX_FILE);
	if (f != stdin)
		fclose(f);
	if (!buf || *len > SEED_CLI_MAX_FILE) {
		fprintf(stderr, "netstick: %s: too large (at most %u bytes)\n",
			path, SEED_CLI_MAX_FILE);
		free(buf);
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

/* UTF-8 (structurally) and no NUL: send as text. */
static bool seed_is_text(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned n = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2 :
			     (s[i] & 0xf0) == 0xe0 ? 3 :
			     (s[i] & 0xf8) == 0xf0 ? 4 : 0;
		if (n == 0 || s[i] == 0 || i + n > len)
			return false;
		for (unsigned k = 1; k < n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += n;
	}
	return true;
}

static json_object *seed_value(const unsigned char *data, size_t len)
{
	json_object *o;
	char *b64;

	if (seed_is_text(data, len))
		return json_object_new_string_len((const char *)data, (int)len);
	if (!(b64 = malloc(len / 3 * 4 + 8)))
		return NULL;
	EVP_EncodeBlock((unsigned char *)b64, data, (int)len);
	o = json_object_new_object();
	json_object_object_add(o, "base64", json_object_new_string(b64));
	free(b64);
	return o;
}

/* NAME=FILE into files. */
static int seed_add_file(json_object *files, const char *arg)
{
	const char *eq = strchr(arg, '=');
	unsigned char *data;
	json_object *v;
	char *name;
	size_t len;

	if (!eq || eq == arg || !eq[1]) {
		fprintf(stderr, "netstick: seed: \"%s\": want NAME=FILE\n", arg);
		return CLI_USAGE;
	}
	if (!(data = seed_read(eq + 1, &len)))
		return CLI_ERR;
	v = seed_value(data, len);
	free(data);
	name = strndup(arg, (size_t)(eq - arg));
	if (!v || !name) {
		json_object_put(v);
		free(name);
		return CLI_ERR;
	}
	json_object_object_add(files, name, v);
	free(name);
	return CLI_OK;
}

struct seed_args {
	const char *lun, *kind, *label;
	bool no_template, cdrom, force;
};

/* Options and NAME=FILE arguments; files collected into files. */
static int seed_parse(int argc, char **argv, struct seed_args *a,
		      json_object *files)
{
	int rc;

	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if ((strcmp(s, "--kind") == 0 || strcmp(s, "--label") == 0) &&
		    i + 1 < argc)
			*(s[2] == 'k' ? &a->kind : &a->label) = argv[++i];
		else if (strncmp(s, "--kind=", 7) == 0)
			a->kind = s + 7;
		else if (strncmp(s, "--label=", 8) == 0)
			a->label = s + 8;
		else if (strcmp(s, "--no-template") == 0)
			a->no_template = true;
		else if (strcmp(s, "--cdrom") == 0)
			a->cdrom = true;
		else if (strcmp(s, "--force") == 0 || strcmp(s, "-f") == 0)
			a->force = true;
		else if (!a->lun && strchr(s, '=') == NULL && s[0] != '-')
			a->lun = s;
		else if (s[0] != '-' && (rc = seed_add_file(files, s)) != CLI_OK)
			return rc;
		else if (s[0] == '-')
			return CLI_USAGE;
	}
	return a->lun && a->kind && cli_valid_lun(a->lun) ? CLI_OK : CLI_USAGE;
}

int cli_seed(const struct cli *c, int argc, char **argv)
{
	json_object *body = json_object_new_object();
	json_object *seed = json_object_new_object();
	json_object *files = json_object_new_object();
	struct seed_args a = { .lun = NULL };
	char path[80];
	int rc = seed_parse(argc, argv, &a, files);

	json_object_object_add(seed, "kind", json_object_new_string(
		a.kind ? a.kind : ""));
	if (a.label)
		json_object_object_add(seed, "label",
				       json_object_new_string(a.label));
	if (a.no_template)
		json_object_object_add(seed, "template",
				       json_object_new_boolean(0));
	json_object_object_add(seed, "files", files);
	json_object_object_add(body, "seed", seed);
	if (a.cdrom)
		json_object_object_add(body, "cdrom", json_object_new_boolean(1));
	if (rc == CLI_USAGE)
		cli_usage(stderr);
	if (rc == CLI_OK) {
		snprintf(path, sizeof path, "/api/v1/luns/%s/media%s", a.lun,
			 a.force ? "?force=true" : "");
		rc = cli_run(c, "PUT", path, json_object_to_json_string_ext(
			body, JSON_C_TO_STRING_PLAIN), print_lun);
	}
	json_object_put(body);
	return rc;
}
