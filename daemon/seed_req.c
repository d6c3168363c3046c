/* seed_req.c — seed requests: parsing, the kinds' rules, names,
 * templating, limits (seed_req.h). */
#include "seed_req.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- errors --------------------------------------------------------------- */

static int seed_fail(struct seed_err *e, const char *code, bool too_big,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int seed_fail(struct seed_err *e, const char *code, bool too_big,
		     const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	e->too_big = too_big;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- kinds ---------------------------------------------------------------
 *
 *   kind          label (default; allowed)   required files
 *   nocloud       cidata; cidata, CIDATA      user-data, meta-data
 *   kickstart     OEMDRV; OEMDRV              ks.cfg
 *   autounattend  AUTOUNATTEND; any           autounattend.xml (any case)
 *   custom        -; any (required)           -
 */
struct seed_kind_info {
	const char *name;
	const char *label;            /* default, or NULL: required */
	const char *const *fixed;     /* the labels allowed, or NULL: any */
	const char *const *required;  /* files at the root, NULL-terminated */
	bool required_nocase;
};

static const char *const seed_nocloud_labels[] = { "cidata", "CIDATA", NULL };
static const char *const seed_nocloud_files[] = { "user-data", "meta-data",
						  NULL };
static const char *const seed_ks_labels[] = { "OEMDRV", NULL };
static const char *const seed_ks_files[] = { "ks.cfg", NULL };
static const char *const seed_unattend_files[] = { "autounattend.xml", NULL };
static const char *const seed_no_files[] = { NULL };

static const struct seed_kind_info seed_kinds[] = {
	[SEED_KIND_NOCLOUD] = { "nocloud", "cidata", seed_nocloud_labels,
				seed_nocloud_files, false },
	[SEED_KIND_KICKSTART] = { "kickstart", "OEMDRV", seed_ks_labels,
				  seed_ks_files, false },
	[SEED_KIND_AUTOUNATTEND] = { "autounattend", "AUTOUNATTEND", NULL,
				     seed_unattend_files, true },
	[SEED_KIND_CUSTOM] = { "custom", NULL, NULL, seed_no_files, false },
};
#define SEED_NKINDS (sizeof seed_kinds / sizeof seed_kinds[0])

enum seed_kind seed_kind_lookup(const char *name)
{
	for (unsigned k = 1; k < SEED_NKINDS; k++)
		if (strcmp(seed_kinds[k].name, name) == 0)
			return (enum seed_kind)k;
	return SEED_KIND_NONE;
}

const char *seed_kind_name(enum seed_kind k)
{
	return k > SEED_KIND_NONE && (unsigned)k < SEED_NKINDS ?
	       seed_kinds[k].name : "?";
}

void seed_limits_of(const struct config *cfg, struct seed_limits *lim)
{
	lim->max_files = cfg->seed.max_files;
	lim->max_file_size = cfg->seed.max_file_size;
	lim->max_volume_size = cfg->seed.max_volume_size;
}

void seed_req_free(struct seed_req *rq)
{
	for (unsigned i = 0; i < rq->nfiles; i++) {
		free(rq->files[i].name);
		free(rq->files[i].data);
	}
	free(rq->files);
	memset(rq, 0, sizeof *rq);
}

/* Appends a file; takes name and data (heap) in all cases. */
static int seed_add(struct seed_req *rq, char *name, unsigned char *data,
		    size_t len, bool text, struct seed_err *e)
{
	struct seed_file *v;

	if (!name || !data || rq->nfiles == SEED_FILES_HARD ||
	    !(v = realloc(rq->files, (rq->nfiles + 1) * sizeof *v))) {
		free(name);
		free(data);
		if (rq->nfiles == SEED_FILES_HARD)
			return seed_fail(e, "too_many_files", true, "at most "
					 "%d files", SEED_FILES_HARD);
		return seed_fail(e, "internal", false, "out of memory");
	}
	rq->files = v;
	v[rq->nfiles++] = (struct seed_file){ .name = name, .data = data,
					      .len = len, .text = text };
	return 0;
}

static unsigned char *seed_dup(const char *s, size_t len)
{
	unsigned char *d = malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

/* ---- JSON ------------------------------------------------------------------ */

/* Its significant characters (line breaks aside) come in fours:
 * EVP_DecodeUpdate also takes input whose last group is cut short. */
static bool seed_b64_whole(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (s[i] != '\r' && s[i] != '\n')
			n++;
	return n % 4 == 0;
}

/* Standard base64 (RFC 4648 with padding; line breaks allowed). */
static int seed_base64(const char *name, const char *s, size_t len,
		       unsigned char **out, size_t *outlen, struct seed_err *e)
{
	EVP_ENCODE_CTX *ctx;
	unsigned char *buf;
	int n1 = 0, n2 = 0, r = -1;

	if (len > INT32_MAX / 2 || !(buf = malloc(len / 4 * 3 + 4)))
		return seed_fail(e, "seed_too_large", true, "file \"%.64s\": "
				 "too large", name);
	if (!(ctx = EVP_ENCODE_CTX_new())) {
		free(buf);
		return seed_fail(e, "internal", false, "out of memory");
	}
	EVP_DecodeInit(ctx);
	if (seed_b64_whole(s, len) &&
	    EVP_DecodeUpdate(ctx, buf, &n1, (const unsigned char *)s,
			     (int)len) >= 0)
		r = EVP_DecodeFinal(ctx, buf + n1, &n2);
	EVP_ENCODE_CTX_free(ctx);
	if (r < 0) {
		free(buf);
		return seed_fail(e, "bad_base64", false, "file \"%.64s\": "
				 "\"base64\" is not valid base64", name);
	}
	buf[n1 + n2] = '\0';
	*out = buf;
	*outlen = (size_t)(n1 + n2);
	return 0;
}

/* One "name": value of "files". */
static int seed_json_file(struct seed_req *rq, const char *name,
			  json_object *val, struct seed_err *e)
{
	const char *s = NULL, *key = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	bool text = true;

	if (json_object_is_type(val, json_type_string)) {
		s = json_object_get_string(val);
		len = (size_t)json_object_get_string_len(val);
	} else if (json_object_is_type(val, json_type_object) &&
		   json_object_object_length(val) == 1) {
		json_object_object_foreach(val, k, v) {
			key = k;
			if (json_object_is_type(v, json_type_string)) {
				s = json_object_get_string(v);
				len = (size_t)json_object_get_string_len(v);
			}
		}
		text = strcmp(key, "text") == 0;
		if (!s || (!text && strcmp(key, "base64") != 0))
			s = NULL;
	}
	if (!s)
		return seed_fail(e, "bad_seed", false, "file \"%.64s\": give "
				 "its contents as a string, {\"text\": "
				 "\"...\"} or {\"base64\": \"...\"}", name);
	if (text && strlen(s) != len)
		return seed_fail(e, "bad_seed", false, "file \"%.64s\": text "
				 "holds a NUL byte (send bytes as "
				 "{\"base64\": ...})", name);
	if (text)
		data = seed_dup(s, len);
	else if (seed_base64(name, s, len, &data, &len, e) < 0)
		return -1;
	return seed_add(rq, strdup(name), data, len, text, e);
}

static int seed_json_files(struct seed_req *rq, json_object *o,
			   struct seed_err *e)
{
	if (!json_object_is_type(o, json_type_object))
		return seed_fail(e, "bad_seed", false, "\"files\" must be an "
				 "object of file name to contents");
	json_object_object_foreach(o, name, val) {
		if (rq->nfiles == SEED_FILES_HARD)
			return seed_fail(e, "too_many_files", true, "at most "
					 "%d files", SEED_FILES_HARD);
		if (seed_json_file(rq, name, val, e) < 0)
			return -1;
	}
	return 0;
}

static int seed_json_string(json_object *v, const char *key,
			    const char **out, size_t max, struct seed_err *e)
{
	if (!json_object_is_type(v, json_type_string))
		return seed_fail(e, "bad_seed", false, "\"%s\" must be a "
				 "string", key);
	if ((size_t)json_object_get_string_len(v) > max ||
	    strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v))
		return seed_fail(e, strcmp(key, "label") == 0 ? "bad_label" :
				 "bad_seed", false, "\"%s\" is too long or "
				 "holds a NUL (at most %zu bytes)", key, max);
	*out = json_object_get_string(v);
	return 0;
}

static int seed_json_field(struct seed_req *rq, const char *key,
			   json_object *v, struct seed_err *e)
{
	const char *s;

	if (strcmp(key, "kind") == 0) {
		if (seed_json_string(v, key, &s, 32, e) < 0)
			return -1;
		if ((rq->kind = seed_kind_lookup(s)) == SEED_KIND_NONE)
			return seed_fail(e, "unknown_kind", false, "unknown "
					 "seed kind \"%.32s\" (nocloud, "
					 "kickstart, autounattend, custom)", s);
		return 0;
	}
	if (strcmp(key, "label") == 0) {
		if (seed_json_string(v, key, &s, SEED_LABEL_MAX, e) < 0)
			return -1;
		snprintf(rq->label, sizeof rq->label, "%s", s);
		return rq->label[0] ? 0 : seed_fail(e, "bad_label", false,
						    "\"label\" is empty");
	}
	if (strcmp(key, "template") == 0) {
		if (!json_object_is_type(v, json_type_boolean))
			return seed_fail(e, "bad_seed", false, "\"template\" "
					 "must be true or false");
		rq->no_template = !json_object_get_boolean(v);
		return 0;
	}
	if (strcmp(key, "files") == 0)
		return seed_json_files(rq, v, e);
	return seed_fail(e, "bad_seed", false, "unknown seed field \"%.64s\" "
			 "(expected kind, label, template, files)", key);
}

bool seed_json_has_nul(const char *text, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (text[i] != '\\')
			continue;
		if (text[i + 1] == 'u' && i + 5 < len &&
		    strncmp(text + i + 2, "0000", 4) == 0)
			return true;
		i++;    /* the escaped character */
	}
	return false;
}

int seed_req_from_json(json_object *o, bool has_nul, struct seed_req *rq,
		       struct seed_err *e)
{
	memset(rq, 0, sizeof *rq);
	if (has_nul)
		return seed_fail(e, "bad_file_name", false, "a seed request "
				 "may not hold \\u0000 (names and text "
				 "never have NUL bytes; send bytes as "
				 "{\"base64\": ...})");
	if (!json_object_is_type(o, json_type_object)) {
		return seed_fail(e, "bad_seed", false, "\"seed\" must be an "
				 "object {kind, label, template, files}");
	}
	json_object_object_foreach(o, key, v)
		if (seed_json_field(rq, key, v, e) < 0) {
			seed_req_free(rq);
			return -1;
		}
	if (rq->kind == SEED_KIND_NONE) {
		seed_req_free(rq);
		return seed_fail(e, "unknown_kind", false, "\"kind\" is "
				 "required (nocloud, kickstart, "
				 "autounattend, custom)");
	}
	return 0;
}

int seed_req_from_config(const struct config_seed *cs, struct seed_req *rq,
			 struct seed_err *e)
{
	memset(rq, 0, sizeof *rq);
	if ((rq->kind = seed_kind_lookup(cs->kind)) == SEED_KIND_NONE)
		return seed_fail(e, "unknown_kind", false, "unknown seed kind "
				 "\"%.32s\" (nocloud, kickstart, "
				 "autounattend, custom)", cs->kind);
	snprintf(rq->label, sizeof rq->label, "%s",
		 cs->label ? cs->label : "");
	rq->no_template = !cs->template_on;
	for (unsigned i = 0; i < cs->nfiles; i++)
		if (seed_add(rq, strdup(cs->files[i].name),
			     seed_dup(cs->files[i].text, cs->files[i].len),
			     cs->files[i].len, true, e) < 0) {
			seed_req_free(rq);
			return -1;
		}
	return 0;
}

/* ---- names ------------------------------------------------------------------
 *
 * A path is components joined by '/'.  Refused: a leading or trailing
 * '/', empty components ("a//b"), "." and "..", more than SEED_DEPTH_MAX
 * components, components over SEED_NAME_MAX bytes, bytes that are not
 * UTF-8, control characters, and what Joliet and Windows forbid in a
 * name (\ * : ; ? " < > |). */

/* Length of the UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t seed_utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 :
		     s[0] >= 0xe0 && s[0] < 0xf0 ? 3 :
		     s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : 0;
	uint32_t cp;

	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (len == 3) {
		cp = (s[0] & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3fu);
		if (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))
			return 0;
	} else if (len == 4) {
		cp = (s[0] & 0x07u) << 18 | (s[1] & 0x3fu) << 12 |
		     (s[2] & 0x3fu) << 6 | (s[3] & 0x3fu);
		if (cp < 0x10000 || cp > 0x10ffff)
			return 0;
	}
	return len;
}

static int seed_bad_name(const char *name, const char *why,
			 struct seed_err *e)
{
	char shown[80];
	size_t i;

	for (i = 0; name[i] && i < 64; i++)
		shown[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
	shown[i] = '\0';
	return seed_fail(e, "bad_file_name", false, "file name \"%s%s\": %s",
			 shown, name[i] ? "..." : "", why);
}

static int seed_check_component(const char *name, const char *c, size_t n,
				struct seed_err *e)
{
	if (n == 0)
		return seed_bad_name(name, "empty path component (a leading, "
				     "trailing or doubled '/')", e);
	if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
		return seed_bad_name(name, "\".\" and \"..\" are not allowed",
				     e);
	if (n > SEED_NAME_MAX)
		return seed_bad_name(name, "a component is longer than 255 "
				     "bytes", e);
	return 0;
}

int seed_path_check(const char *name, size_t len, struct seed_err *e)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t start = 0, depth = 1, k;

	if (len == 0 || len > SEED_PATH_MAX)
		return seed_bad_name(name, "must be 1..1024 bytes", e);
	for (size_t i = 0; i < len; i += k) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return seed_bad_name(name, "control characters are "
					     "not allowed", e);
		if (strchr("\\*:;?\"<>|", s[i]))
			return seed_bad_name(name, "\\ * : ; ? \" < > | are "
					     "not allowed", e);
		if ((k = seed_utf8_len(s + i, len - i)) == 0)
			return seed_bad_name(name, "not UTF-8", e);
		if (s[i] == '/') {
			if (seed_check_component(name, name + start,
						 i - start, e) < 0)
				return -1;
			start = i + 1;
			depth++;
		}
	}
	if (depth > SEED_DEPTH_MAX)
		return seed_bad_name(name, "more than 8 levels deep", e);
	return seed_check_component(name, name + start, len - start, e);
}

/* b names a directory a is in ("a/b/c" is under "a/b"). */
static bool seed_under(const char *a, const char *b)
{
	size_t n = strlen(b);

	return strncasecmp(a, b, n) == 0 && a[n] == '/';
}

static int seed_check_names(const struct seed_req *rq, struct seed_err *e)
{
	for (unsigned i = 0; i < rq->nfiles; i++)
		if (seed_path_check(rq->files[i].name,
				    strlen(rq->files[i].name), e) < 0)
			return -1;
	for (unsigned i = 0; i < rq->nfiles; i++)
		for (unsigned j = 0; j < rq->nfiles; j++) {
			const char *a = rq->files[i].name;
			const char *b = rq->files[j].name;
			if (i < j && strcasecmp(a, b) == 0)
				return seed_bad_name(b, "given twice (names "
						     "differ only in case "
						     "on Windows)", e);
			if (i != j && seed_under(a, b))
				return seed_bad_name(b, "is a file and a "
						     "directory", e);
		}
	return 0;
}

/* ---- the kind's rules ------------------------------------------------------ */

static bool seed_label_chars_ok(const char *l)
{
	for (; *l; l++)
		if (!((*l >= 'A' && *l <= 'Z') || (*l >= 'a' && *l <= 'z') ||
		      (*l >= '0' && *l <= '9') || strchr("_.-", *l)))
			return false;
	return true;
}

static int seed_check_label(struct seed_req *rq, struct seed_err *e)
{
	const struct seed_kind_info *k = &seed_kinds[rq->kind];

	if (!rq->label[0] && !k->label)
		return seed_fail(e, "bad_label", false, "a %s seed needs a "
				 "\"label\"", k->name);
	if (!rq->label[0])
		snprintf(rq->label, sizeof rq->label, "%s", k->label);
	if (k->fixed) {
		for (const char *const *f = k->fixed; *f; f++)
			if (strcmp(*f, rq->label) == 0)
				return 0;
		return seed_fail(e, "bad_label", false, "a %s seed is "
				 "labelled %s (hosts look for that name), "
				 "not \"%.32s\"", k->name, k->label,
				 rq->label);
	}
	if (!seed_label_chars_ok(rq->label))
		return seed_fail(e, "bad_label", false, "label \"%.32s\": "
				 "letters, digits, _ . - only (at most %d)",
				 rq->label, SEED_LABEL_MAX);
	return 0;
}

static int seed_check_required(const struct seed_req *rq,
			       struct seed_err *e)
{
	const struct seed_kind_info *k = &seed_kinds[rq->kind];
	unsigned i;

	for (const char *const *f = k->required; *f; f++) {
		for (i = 0; i < rq->nfiles; i++)
			if (k->required_nocase ?
			    strcasecmp(rq->files[i].name, *f) == 0 :
			    strcmp(rq->files[i].name, *f) == 0)
				break;
		if (i == rq->nfiles)
			return seed_fail(e, "missing_file", false, "a %s seed "
					 "needs the file \"%s\" at its root",
					 k->name, *f);
	}
	if (rq->nfiles == 0)
		return seed_fail(e, "missing_file", false, "a seed needs at "
				 "least one file");
	return 0;
}

/* ---- templates ----------------------------------------------------------
 *
 * {{name}} with name an identifier ([A-Za-z_][A-Za-z0-9_]*, no spaces) is
 * replaced by the variable's value; an identifier that names no variable
 * is an error (a typo would otherwise reach the installed machine).
 * Anything else between braces ("{{ v1.local_hostname }}", cloud-init's
 * Jinja) is left as it is. */

struct seed_buf {
	unsigned char *p;
	size_t len, cap, max;
};

static int seed_buf_add(struct seed_buf *b, const void *s, size_t n)
{
	unsigned char *np;
	size_t cap;

	if (n > b->max - b->len)
		return -1;
	if (b->len + n + 1 > b->cap) {
		cap = (b->len + n + 1) * 2;
		if (!(np = realloc(b->p, cap)))
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* The length of the identifier at s, 0 if none. */
static size_t seed_ident(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
			 (s[i] >= 'A' && s[i] <= 'Z') ||
			 (i > 0 && s[i] >= '0' && s[i] <= '9')))
		i++;
	return i;
}

/* The value of variable name[0..n), or NULL. */
static const char *seed_var(const struct seed_vars *v, const char *name,
			    size_t n, char lun[16])
{
	if (n == 6 && strncmp(name, "serial", 6) == 0)
		return v->serial;
	if (n == 3 && strncmp(name, "lun", 3) == 0) {
		snprintf(lun, 16, "%u", v->lun);
		return lun;
	}
	for (const char *const *x = v->extra; x && *x; x++)
		if (strncmp(*x, name, n) == 0 && (*x)[n] == '=')
			return *x + n + 1;
	return NULL;
}

static int seed_expand(struct seed_file *f, const struct seed_vars *vars,
		       size_t max, struct seed_err *e)
{
	struct seed_buf b = { .max = max };
	const unsigned char *s = f->data;
	const char *val;
	char lun[16];
	size_t i = 0, n;

	while (i < f->len) {
		const unsigned char *o = memmem(s + i, f->len - i, "{{", 2);
		size_t upto = o ? (size_t)(o - s) : f->len;
		if (seed_buf_add(&b, s + i, upto - i) < 0)
			goto too_big;
		i = upto;
		if (!o)
			break;
		n = seed_ident(s + i + 2, f->len - i - 2);
		if (n == 0 || i + 2 + n + 2 > f->len ||
		    memcmp(s + i + 2 + n, "}}", 2) != 0) {
			if (seed_buf_add(&b, "{{", 2) < 0)
				goto too_big;
			i += 2;
			continue;
		}
		if (!(val = seed_var(vars, (const char *)s + i + 2, n, lun))) {
			free(b.p);
			return seed_fail(e, "unknown_variable", false, "file "
					 "\"%.64s\": no template variable "
					 "\"%.*s\" (serial, lun and config "
					 "seed.variables; \"template\": false "
					 "turns templating off)", f->name,
					 (int)(n > 64 ? 64 : n),
					 (const char *)s + i + 2);
		}
		if (seed_buf_add(&b, val, strlen(val)) < 0)
			goto too_big;
		i += 2 + n + 2;
	}
	if (!b.p && seed_buf_add(&b, "", 0) < 0)
		goto too_big;
	free(f->data);
	f->data = b.p;
	f->len = b.len;
	return 0;
too_big:
	free(b.p);
	return seed_fail(e, "seed_too_large", true, "file \"%.64s\" is larger "
			 "than %zu bytes after templating", f->name, max);
}

/* ---- finish and build ------------------------------------------------------ */

static int seed_check_sizes(const struct seed_req *rq,
			    const struct seed_limits *lim, struct seed_err *e)
{
	uint64_t total = 0;

	if (rq->nfiles > lim->max_files)
		return seed_fail(e, "too_many_files", true, "%u files: at "
				 "most %u (config seed.max_files)",
				 rq->nfiles, lim->max_files);
	for (unsigned i = 0; i < rq->nfiles; i++) {
		if (rq->files[i].len > lim->max_file_size)
			return seed_fail(e, "seed_too_large", true, "file "
					 "\"%.64s\" is %zu bytes: at most %zu "
					 "(config seed.max_file_size)",
					 rq->files[i].name, rq->files[i].len,
					 lim->max_file_size);
		total += rq->files[i].len;
	}
	if (total > lim->max_volume_size)
		return seed_fail(e, "seed_too_large", true, "the files are "
				 "%llu bytes: at most %zu a volume (config "
				 "seed.max_volume_size)",
				 (unsigned long long)total,
				 lim->max_volume_size);
	return 0;
}

int seed_req_finish(struct seed_req *rq, const struct seed_limits *lim,
		    const struct seed_vars *vars, struct seed_err *e)
{
	if (rq->kind == SEED_KIND_NONE || (unsigned)rq->kind >= SEED_NKINDS)
		return seed_fail(e, "unknown_kind", false, "no seed kind");
	if (seed_check_sizes(rq, lim, e) < 0 || seed_check_label(rq, e) < 0 ||
	    seed_check_names(rq, e) < 0 || seed_check_required(rq, e) < 0)
		return -1;
	for (unsigned i = 0; i < rq->nfiles && !rq->no_template; i++)
		if (rq->files[i].text &&
		    seed_expand(&rq->files[i], vars, lim->max_file_size, e) < 0)
			return -1;
	return seed_check_sizes(rq, lim, e);
}

int seed_req_build(const struct seed_req *rq, const struct seed_limits *lim,
		   unsigned char **out, size_t *outlen, struct seed_err *e)
{
	struct seed_entry *ent = calloc(rq->nfiles ? rq->nfiles : 1,
					sizeof *ent);
	bool too_big = false;
	int r;

	if (!ent)
		return seed_fail(e, "internal", false, "out of memory");
	for (unsigned i = 0; i < rq->nfiles; i++)
		ent[i] = (struct seed_entry){ .path = rq->files[i].name,
			.data = rq->files[i].data, .len = rq->files[i].len };
	r = seed_iso_build(rq->label, ent, rq->nfiles, lim->max_volume_size,
			   out, outlen, &too_big, e->msg, sizeof e->msg);
	free(ent);
	if (r < 0) {
		e->code = too_big ? "seed_too_large" : "seed_build_failed";
		e->too_big = too_big;
	}
	return r;
}
