/* config.c — strict config.yaml parser on libyaml's event API.
 * See config.h for the contract and docs/config.md for the format.
 *
 * Events, not the document API: the stream shows an alias before anything
 * expands it, we stop at the first error and build no tree to walk twice.
 * The file's shape is known, so this is a recursive descent over key tables:
 *
 *   root mapping   cfg_root_keys ─┬─ log:    cfg_log_keys     (section)
 *                                 ├─ gadget: cfg_gadget_keys  (section)
 *                                 ├─ usb:    cfg_usb_keys     (section)
 *                                 └─ luns:   list of cfg_lun_keys
 *
 * A row names its setter, the field's offset and size, and its limits.  A
 * new section (api:, images:, cache:) is a struct in config.h, one table
 * here and one row in cfg_root_keys.
 *
 * Bounds: at most CFG_MAX_FILE bytes in; a value nested where no table
 * expects it is an error at that event, so recursion never goes deeper
 * than the schema; anchors, aliases and tags are refused.  Setters write
 * into the heap config, which owns every string it points to; on any
 * error config_load_string() frees it whole, so nothing is half-applied.
 */
#include "config.h"
#include "config_int.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---- messages ------------------------------------------------------ */

static size_t __attribute__((format(printf, 4, 0)))
cfg_vappend(char *buf, size_t size, size_t n, const char *fmt, va_list ap)
{
	int r;

	if (n + 1 >= size)
		return n;
	if ((r = vsnprintf(buf + n, size - n, fmt, ap)) < 0)
		return n;
	n += (size_t)r;
	return n < size ? n : size - 1;
}

static size_t __attribute__((format(printf, 4, 5)))
cfg_append(char *buf, size_t size, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	n = cfg_vappend(buf, size, n, fmt, ap);
	va_end(ap);
	return n;
}

/* "NAME:LINE:COL: key.path: problem" (1-based), or "NAME: problem" when
 * m is NULL (I/O, size, memory).  The first error wins.  Returns -1. */
static int __attribute__((format(printf, 3, 0)))
cfg_vfail(struct cfg_parser *p, const yaml_mark_t *m, const char *fmt,
	  va_list ap)
{
	size_t n;

	if (p->failed)
		return -1;
	p->failed = true;
	if (!p->errbuf || p->errlen == 0)
		return -1;
	if (m)
		n = cfg_append(p->errbuf, p->errlen, 0, "%s:%zu:%zu: ",
			       p->name, m->line + 1, m->column + 1);
	else
		n = cfg_append(p->errbuf, p->errlen, 0, "%s: ", p->name);
	if (p->pathlen)
		n = cfg_append(p->errbuf, p->errlen, n, "%s: ", p->path);
	cfg_vappend(p->errbuf, p->errlen, n, fmt, ap);
	return -1;
}

int __attribute__((format(printf, 3, 4)))
cfg_fail_at(struct cfg_parser *p, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vfail(p, m, fmt, ap);
	va_end(ap);
	return -1;
}

/* An error at the current event. */
int __attribute__((format(printf, 2, 3)))
cfg_fail(struct cfg_parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vfail(p, &p->ev.start_mark, fmt, ap);
	va_end(ap);
	return -1;
}

/* Text made safe to echo: printable ASCII, '?' for anything else, cut at
 * CFG_VAL_SHOW bytes.  out has CFG_SHOW_BUF bytes. */
const char *cfg_show(char *out, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && i < CFG_VAL_SHOW; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	strcpy(out + i, len > CFG_VAL_SHOW ? "..." : "");
	return out;
}

/* Reader errors (bad UTF-8, control bytes) come as a byte offset; turn it
 * into a line/column mark like the others. */
static yaml_mark_t cfg_offset_mark(const char *text, size_t len, size_t off)
{
	yaml_mark_t m = { .index = off, .line = 0, .column = 0 };
	size_t i;

	for (i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			m.column++;  /* characters, not UTF-8 bytes */
		}
	}
	return m;
}

static int cfg_syntax_error(struct cfg_parser *p)
{
	const yaml_parser_t *yp = &p->yp;
	const char *problem = yp->problem ? yp->problem : "out of memory";
	yaml_mark_t m;

	if (yp->error == YAML_READER_ERROR) {
		m = cfg_offset_mark(p->text, p->len, yp->problem_offset);
		return cfg_fail_at(p, &m, "invalid input: %s", problem);
	}
	if (yp->context)
		return cfg_fail_at(p, &yp->problem_mark, "syntax error: %s %s "
				   "at %zu:%zu", problem, yp->context,
				   yp->context_mark.line + 1,
				   yp->context_mark.column + 1);
	return cfg_fail_at(p, &yp->problem_mark, "syntax error: %s", problem);
}

/* ---- key path ------------------------------------------------------ */

/* Append ".key" ("key" at the root); returns the length to pop back to. */
size_t cfg_path_key(struct cfg_parser *p, const char *key, size_t len)
{
	size_t old = p->pathlen;
	char shown[CFG_SHOW_BUF];

	p->pathlen = cfg_append(p->path, sizeof p->path, old, "%s%s",
				old ? "." : "", cfg_show(shown, key, len));
	return old;
}

size_t cfg_path_index(struct cfg_parser *p, unsigned i)
{
	size_t old = p->pathlen;

	p->pathlen = cfg_append(p->path, sizeof p->path, old, "[%u]", i);
	return old;
}

void cfg_path_pop(struct cfg_parser *p, size_t old)
{
	p->pathlen = old;
	p->path[old] = '\0';
}

/* ---- events -------------------------------------------------------- */

static int cfg_refuse(struct cfg_parser *p, const char *what,
		      const char *sigil, const yaml_char_t *name)
{
	char shown[CFG_SHOW_BUF];
	const char *s = (const char *)name;

	return cfg_fail(p, "%s are not supported (%s%s)", what, sigil,
			cfg_show(shown, s, strlen(s)));
}

/* Advance to the next event; refuses aliases, anchors and tags. */
int cfg_next(struct cfg_parser *p)
{
	const yaml_event_t *ev = &p->ev;
	const yaml_char_t *anchor = NULL, *tag = NULL;

	if (p->have_ev)
		yaml_event_delete(&p->ev);
	p->have_ev = false;
	if (!yaml_parser_parse(&p->yp, &p->ev))
		return cfg_syntax_error(p);
	p->have_ev = true;
	if (ev->type == YAML_ALIAS_EVENT)
		return cfg_refuse(p, "aliases", "*", ev->data.alias.anchor);
	if (ev->type == YAML_SCALAR_EVENT ||
	    ev->type == YAML_SEQUENCE_START_EVENT ||
	    ev->type == YAML_MAPPING_START_EVENT) {
		/* All three start with (anchor, tag): a common initial
		 * sequence, readable through any member (C11 6.5.2.3p6). */
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
	}
	if (anchor)
		return cfg_refuse(p, "anchors", "&", anchor);
	if (tag)
		return cfg_refuse(p, "tags", "", tag);
	return 0;
}

/* The current event must be of this type, else "expected WHAT, got ...". */
int cfg_want(struct cfg_parser *p, yaml_event_type_t type,
		    const char *what)
{
	char shown[CFG_SHOW_BUF], quoted[CFG_SHOW_BUF + 2];
	const char *got = quoted;

	if (p->ev.type == type)
		return 0;
	if (p->ev.type == YAML_SEQUENCE_START_EVENT)
		got = "a list";
	else if (p->ev.type == YAML_MAPPING_START_EVENT)
		got = "a mapping";
	else if (p->ev.type != YAML_SCALAR_EVENT)
		got = "nothing";
	else if (CFG_SLEN(p) == 0 && CFG_PLAIN(p))
		got = "an empty value";
	else
		snprintf(quoted, sizeof quoted, "'%s'",
			 cfg_show(shown, CFG_SVAL(p), CFG_SLEN(p)));
	return cfg_fail(p, "expected %s, got %s", what, got);
}

/* Numbers and booleans must be plain: YAML types "5" and 'yes' as text. */
static int cfg_want_plain(struct cfg_parser *p, const char *what)
{
	if (cfg_want(p, YAML_SCALAR_EVENT, what) < 0)
		return -1;
	if (!CFG_PLAIN(p))
		return cfg_fail(p, "expected %s, got a quoted string", what);
	if (CFG_SLEN(p) == 0)
		return cfg_fail(p, "expected %s, got an empty value", what);
	return 0;
}

/* YAML 1.1 null: an empty plain scalar, ~, null, Null or NULL. */
bool cfg_is_null(const struct cfg_parser *p)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	size_t i;

	if (p->ev.type != YAML_SCALAR_EVENT || !CFG_PLAIN(p))
		return false;
	for (i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
		if (strcmp(CFG_SVAL(p), nulls[i]) == 0)
			return true;
	return false;
}

void *cfg_field(void *obj, const struct cfg_key *k)
{
	return (char *)obj + k->off;
}

/* ---- numbers and booleans ------------------------------------------ */

enum cfg_num { CFG_NUM_OK, CFG_NUM_JUNK, CFG_NUM_BIG, CFG_NUM_OCTAL };

/* Decimal or 0x hex, digits only: no sign, no '_', and no leading zero
 * (YAML 1.1 reads 010 as octal 8, which nobody means).  s is a plain
 * scalar, so it is NUL-terminated with no NUL inside. */
static enum cfg_num cfg_parse_uint(const char *s, size_t len, uint64_t *out)
{
	bool hex = len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	const char *digits = hex ? "0123456789abcdefABCDEF" : "0123456789";
	size_t skip = hex ? 2 : 0;
	unsigned long long v;

	if (len == skip || strspn(s + skip, digits) != len - skip)
		return CFG_NUM_JUNK;
	if (!hex && len > 1 && s[0] == '0')
		return CFG_NUM_OCTAL;
	errno = 0;
	v = strtoull(s, NULL, hex ? 16 : 10);
	if (errno == ERANGE || v > UINT64_MAX)
		return CFG_NUM_BIG;
	*out = v;
	return CFG_NUM_OK;
}

/* uint16_t or uint32_t field, by k->size. */
int cfg_set_uint(struct cfg_parser *p, const struct cfg_key *k,
			void *obj)
{
	char shown[CFG_SHOW_BUF];
	const char *rule;
	uint64_t v = UINT64_MAX;

	if (cfg_want_plain(p, "an integer") < 0)
		return -1;
	cfg_show(shown, CFG_SVAL(p), CFG_SLEN(p));
	switch (cfg_parse_uint(CFG_SVAL(p), CFG_SLEN(p), &v)) {
	case CFG_NUM_JUNK:
		return cfg_fail(p, "expected an integer (decimal or 0x hex), "
				"got '%s'", shown);
	case CFG_NUM_OCTAL:
		return cfg_fail(p, "leading zeros are not allowed (YAML 1.1 "
				"reads '%s' as octal)", shown);
	case CFG_NUM_BIG:
		v = UINT64_MAX;
		break;
	case CFG_NUM_OK:
		break;
	}
	if (v < k->min || v > k->max)
		return cfg_fail(p, "must be between %" PRIu64 " and %" PRIu64
				" (got %s)", k->min, k->max, shown);
	if (k->check_num && (rule = k->check_num(v)) != NULL)
		return cfg_fail(p, "%s (got %s)", rule, shown);
	if (k->size == sizeof(uint16_t))
		*(uint16_t *)cfg_field(obj, k) = (uint16_t)v;
	else
		*(uint32_t *)cfg_field(obj, k) = (uint32_t)v;
	return 0;
}

static const char *cfg_check_4k(uint64_t v)
{
	return v % 4096 ? "must be a multiple of 4096" : NULL;
}

static const char *cfg_check_block(uint64_t v)
{
	return v == 512 || v == 4096 ? NULL : "must be 512 or 4096";
}

/* YAML 1.1 spells booleans many ways; we take these and nothing else
 * (not on/off/y/n, which surprise people). */
static const struct { const char *word; bool value; } cfg_bools[] = {
	{ "true", true },   { "True", true },   { "TRUE", true },
	{ "yes", true },    { "Yes", true },    { "YES", true },
	{ "false", false }, { "False", false }, { "FALSE", false },
	{ "no", false },    { "No", false },    { "NO", false },
};

int cfg_set_bool(struct cfg_parser *p, const struct cfg_key *k,
			void *obj)
{
	const char *what = "a boolean (true, false, yes or no)";
	char shown[CFG_SHOW_BUF];
	size_t i;

	if (cfg_want_plain(p, what) < 0)
		return -1;
	for (i = 0; i < sizeof cfg_bools / sizeof cfg_bools[0]; i++) {
		if (strcmp(CFG_SVAL(p), cfg_bools[i].word) == 0) {
			*(bool *)cfg_field(obj, k) = cfg_bools[i].value;
			return 0;
		}
	}
	return cfg_fail(p, "expected %s, got '%s'", what,
			cfg_show(shown, CFG_SVAL(p), CFG_SLEN(p)));
}

/* ---- strings ------------------------------------------------------- */

static bool cfg_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* Byte rules for a string value: never control characters (that also
 * refuses a "\0" escape); then k->flags and k->charset. */
static int cfg_check_text(struct cfg_parser *p, const struct cfg_key *k,
			  const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return cfg_fail(p, "control characters are not "
					"allowed (byte %zu)", i + 1);
		if ((k->flags & CFG_ASCII) && c > 0x7e)
			return cfg_fail(p, "must be printable ASCII");
		if (k->charset && !cfg_is_alnum(c) && !strchr(k->charset, c))
			return cfg_fail(p, "may only contain letters, "
					"digits and \"%s\"", k->charset);
	}
	/* Names with a charset become directory names. */
	if (k->charset && (strcmp(s, ".") == 0 || strcmp(s, "..") == 0))
		return cfg_fail(p, "must not be '.' or '..'");
	if ((k->flags & CFG_ABSPATH) && s[0] != '/')
		return cfg_fail(p, "must be an absolute path");
	return 0;
}

/* A string within k's length bounds that passes cfg_check_text.  Any
 * scalar style is taken as written: `revision: 1.0` is the text "1.0". */
int cfg_get_str(struct cfg_parser *p, const struct cfg_key *k,
		       const char **sp, size_t *lenp)
{
	if (cfg_want(p, YAML_SCALAR_EVENT, "a string") < 0)
		return -1;
	if (cfg_is_null(p))
		return cfg_fail(p, "expected a string, got %s", CFG_SLEN(p) ?
				"null (quote it to mean the text)" :
				"an empty value");
	if (CFG_SLEN(p) < k->min)
		return cfg_fail(p, "must not be empty");
	if (CFG_SLEN(p) > k->max)
		return cfg_fail(p, "too long: at most %" PRIu64 " bytes "
				"(got %zu)", k->max, CFG_SLEN(p));
	if (cfg_check_text(p, k, CFG_SVAL(p), CFG_SLEN(p)) < 0)
		return -1;
	*sp = CFG_SVAL(p);
	*lenp = CFG_SLEN(p);
	return 0;
}

/* char * field: replaces (and frees) the previous heap string.  With
 * CFG_EMPTY_NULL, "" or a YAML null stores NULL (an empty drive). */
int cfg_set_str(struct cfg_parser *p, const struct cfg_key *k,
		       void *obj)
{
	char **field = cfg_field(obj, k);
	char *copy = NULL;
	const char *s;
	size_t len;

	if (!((k->flags & CFG_EMPTY_NULL) && p->ev.type == YAML_SCALAR_EVENT &&
	      (cfg_is_null(p) || CFG_SLEN(p) == 0))) {
		if (cfg_get_str(p, k, &s, &len) < 0)
			return -1;
		if ((copy = malloc(len + 1)) == NULL)
			return cfg_fail(p, "out of memory");
		memcpy(copy, s, len);
		copy[len] = '\0';
	}
	free(*field);
	*field = copy;
	return 0;
}

/* char[k->size] field; k->max is at most k->size - 1. */
static int cfg_set_chars(struct cfg_parser *p, const struct cfg_key *k,
			 void *obj)
{
	char *field = cfg_field(obj, k);
	const char *s;
	size_t len;

	if (cfg_get_str(p, k, &s, &len) < 0)
		return -1;
	memcpy(field, s, len);
	field[len] = '\0';
	return 0;
}

/* ---- log section --------------------------------------------------- */

static const char *const cfg_levels[] = {
	[LOG_LVL_ERR] = "error", [LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
};

static int cfg_set_level(struct cfg_parser *p, const struct cfg_key *k,
			 void *obj)
{
	char shown[CFG_SHOW_BUF];
	int i;

	if (cfg_want(p, YAML_SCALAR_EVENT, "a log level") < 0)
		return -1;
	for (i = 0; i < (int)(sizeof cfg_levels / sizeof cfg_levels[0]); i++)
		if (strlen(cfg_levels[i]) == CFG_SLEN(p) &&
		    strcmp(CFG_SVAL(p), cfg_levels[i]) == 0) {
			*(int *)cfg_field(obj, k) = i;
			return 0;
		}
	return cfg_fail(p, "unknown level '%s' (expected error, warn, info "
			"or debug)", cfg_show(shown, CFG_SVAL(p), CFG_SLEN(p)));
}

static int cfg_debug_module(struct cfg_parser *p, unsigned *mask)
{
	char shown[CFG_SHOW_BUF], names[128];
	size_t n = 0;
	int mod, i;

	if (cfg_want(p, YAML_SCALAR_EVENT, "a module name") < 0)
		return -1;
	cfg_show(shown, CFG_SVAL(p), CFG_SLEN(p));
	mod = strlen(CFG_SVAL(p)) == CFG_SLEN(p) ?
	      log_module_from_name(CFG_SVAL(p)) : -1;
	if (mod < 0) {
		for (i = 0; i < LOG_MOD_COUNT; i++)
			n = cfg_append(names, sizeof names, n, "%s%s",
				       i ? ", " : "", log_module_name(i));
		return cfg_fail(p, "unknown module '%s' (expected one of: "
				"%s)", shown, names);
	}
	if (*mask & (1u << mod))
		return cfg_fail(p, "duplicate module '%s'", shown);
	*mask |= 1u << mod;
	return 0;
}

/* A list of module names; duplicates are refused, so it is short. */
static int cfg_set_debug(struct cfg_parser *p, const struct cfg_key *k,
			 void *obj)
{
	unsigned *mask = cfg_field(obj, k);
	size_t old;
	unsigned i;

	if (cfg_want(p, YAML_SEQUENCE_START_EVENT,
		     "a list of module names") < 0)
		return -1;
	*mask = 0;
	for (i = 0;; i++) {
		old = cfg_path_index(p, i);
		if (cfg_next(p) < 0)
			return -1;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (cfg_debug_module(p, mask) < 0)
			return -1;
		cfg_path_pop(p, old);
	}
	cfg_path_pop(p, old);
	return 0;
}

/* ---- mappings, sections, LUN list ---------------------------------- */

int cfg_set_section(struct cfg_parser *p, const struct cfg_key *k,
			   void *obj)
{
	return cfg_parse_map(p, k->sub, cfg_field(obj, k));
}

static void cfg_lun_defaults(struct config_lun *lun)
{
	lun->type = CONFIG_LUN_DISK;
	lun->refuse_host_eject = false;
	lun->media = NULL;
	lun->readonly = false;
	lun->removable = true;
	lun->block_size = 512;
	snprintf(lun->vendor, sizeof lun->vendor, "%s", "netstick");
	snprintf(lun->product, sizeof lun->product, "%s", "Virtual Disk");
	snprintf(lun->revision, sizeof lun->revision, "%s", "0.1");
}

const char *const *config_network_layers(const struct config_lun *lun)
{
	static const char *const dflt[] = { CONFIG_NETWORK_LAYERS, NULL };

	return lun->network_layers ? (const char *const *)lun->network_layers
				   : dflt;
}

static const char *const cfg_lun_types[] = {
	[CONFIG_LUN_DISK] = "disk", [CONFIG_LUN_CDROM] = "cdrom",
};

const char *config_lun_type_name(enum config_lun_type t)
{
	return (unsigned)t < sizeof cfg_lun_types / sizeof cfg_lun_types[0]
	       ? cfg_lun_types[t] : "?";
}

static int cfg_set_lun_type(struct cfg_parser *p, const struct cfg_key *k,
			    void *obj)
{
	char shown[CFG_SHOW_BUF];

	if (cfg_want(p, YAML_SCALAR_EVENT, "a LUN type") < 0)
		return -1;
	for (unsigned i = 0; i < sizeof cfg_lun_types / sizeof cfg_lun_types[0];
	     i++)
		if (strlen(cfg_lun_types[i]) == CFG_SLEN(p) &&
		    strcmp(CFG_SVAL(p), cfg_lun_types[i]) == 0) {
			*(enum config_lun_type *)cfg_field(obj, k) = i;
			return 0;
		}
	return cfg_fail(p, "unknown LUN type '%s' (expected disk or cdrom)",
			cfg_show(shown, CFG_SVAL(p), CFG_SLEN(p)));
}

/* A boolean stored inverted (a field whose zero is the default true). */
static int cfg_set_not_bool(struct cfg_parser *p, const struct cfg_key *k,
			    void *obj)
{
	struct cfg_key plain = *k;
	bool v;

	plain.off = 0;
	plain.size = sizeof v;
	if (cfg_set_bool(p, &plain, &v) < 0)
		return -1;
	*(bool *)cfg_field(obj, k) = !v;
	return 0;
}

/* Rules across a LUN's keys, once the whole mapping is read: a CD drive's
 * blocks are the command set's (2048 bytes), its INQUIRY product says
 * what it is unless the file names one. */
static int cfg_lun_finish(struct cfg_parser *p, struct config_lun *lun,
			  const yaml_mark_t *m)
{
	if (lun->type != CONFIG_LUN_CDROM)
		return 0;
	if (lun->block_size != 512)
		return cfg_fail_at(p, m, "block_size: a cdrom LUN has 2048-byte "
				   "blocks (drop block_size)");
	if (strcmp(lun->product, "Virtual Disk") == 0)
		snprintf(lun->product, sizeof lun->product, "%s",
			 "Virtual CD-ROM");
	return 0;
}

/* obj is the whole struct config: the list sets nluns too. */
static int cfg_set_luns(struct cfg_parser *p, const struct cfg_key *k,
			void *obj)
{
	struct config *cfg = obj;
	yaml_mark_t start = CFG_MARK(p);
	size_t old;

	if (cfg_want(p, YAML_SEQUENCE_START_EVENT, "a list of LUNs") < 0)
		return -1;
	cfg->nluns = 0;  /* the default LUN owns no heap memory */
	for (;;) {
		old = cfg_path_index(p, cfg->nluns);
		if (cfg_next(p) < 0)
			return -1;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (cfg->nluns == CONFIG_MAX_LUNS)
			return cfg_fail(p, "too many LUNs (at most %d)",
					CONFIG_MAX_LUNS);
		yaml_mark_t m = CFG_MARK(p);

		cfg_lun_defaults(&cfg->luns[cfg->nluns]);
		if (cfg_parse_map(p, k->sub, &cfg->luns[cfg->nluns]) < 0 ||
		    cfg_lun_finish(p, &cfg->luns[cfg->nluns++], &m) < 0)
			return -1;
		cfg_path_pop(p, old);
	}
	cfg_path_pop(p, old);
	if (cfg->nluns == 0)
		return cfg_fail_at(p, &start, "at least one LUN is required "
				   "(omit 'luns' for one empty drive)");
	return 0;
}

static const struct cfg_key *cfg_key_find(const struct cfg_key *keys,
					  const char *name, size_t len)
{
	for (; keys->name; keys++)
		if (strlen(keys->name) == len &&
		    memcmp(keys->name, name, len) == 0)
			return keys;
	return NULL;
}

static int cfg_unknown_key(struct cfg_parser *p, const struct cfg_key *keys,
			   yaml_mark_t m)
{
	char names[256];
	size_t n = 0;

	for (; keys->name; keys++)
		n = cfg_append(names, sizeof names, n, "%s%s",
			       n ? ", " : "", keys->name);
	return cfg_fail_at(p, &m, "unknown key (expected one of: %s)", names);
}

/* One "key: value" pair; the current event is the key.  *seen has a bit
 * per table row, to refuse a key given twice. */
static int cfg_parse_entry(struct cfg_parser *p, const struct cfg_key *keys,
			   void *obj, uint32_t *seen)
{
	yaml_mark_t m = CFG_MARK(p);
	const struct cfg_key *k;
	uint32_t bit;
	size_t old;

	if (cfg_want(p, YAML_SCALAR_EVENT, "a key") < 0)
		return -1;
	old = cfg_path_key(p, CFG_SVAL(p), CFG_SLEN(p));
	if ((k = cfg_key_find(keys, CFG_SVAL(p), CFG_SLEN(p))) == NULL)
		return cfg_unknown_key(p, keys, m);
	bit = 1u << (k - keys);
	if (*seen & bit)
		return cfg_fail_at(p, &m, "duplicate key");
	*seen |= bit;
	if (cfg_next(p) < 0 || k->set(p, k, obj) < 0)
		return -1;
	cfg_path_pop(p, old);
	return 0;
}

int cfg_parse_map(struct cfg_parser *p, const struct cfg_key *keys,
			 void *obj)
{
	uint32_t seen = 0;

	if (cfg_want(p, YAML_MAPPING_START_EVENT, "a mapping") < 0)
		return -1;
	for (;;) {
		if (cfg_next(p) < 0)
			return -1;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (cfg_parse_entry(p, keys, obj, &seen) < 0)
			return -1;
	}
}

/* ---- key tables ---------------------------------------------------- */

#define KEY_CHARS(n, T, f) \
	{ KEY(n, cfg_set_chars, T, f), .min = 1, \
	  .max = sizeof(((T *)0)->f) - 1, .flags = CFG_ASCII }

static const struct cfg_key cfg_log_keys[] = {
	{ KEY("level", cfg_set_level, struct config_log, level) },
	{ KEY("debug", cfg_set_debug, struct config_log, debug_mask) },
	KEY_END
};
CFG_TABLE_CHECK(cfg_log_keys);

#define G struct config_gadget
static const struct cfg_key cfg_gadget_keys[] = {
	KEY_STR("name", G, name, 64, .charset = "_.-"),
	KEY_STR("udc", G, udc, 64, .charset = "_.:-"),
	KEY_U16("vendor_id", G, vendor_id),
	KEY_U16("product_id", G, product_id),
	KEY_U16("device_version", G, device_version),
	KEY_STR("manufacturer", G, manufacturer, CFG_USB_STR, .flags = 0),
	KEY_STR("product", G, product, CFG_USB_STR, .flags = 0),
	KEY_STR("serial", G, serial, CFG_USB_STR, .flags = 0),
	KEY_U32("max_power_ma", G, max_power_ma, 0, 900, NULL),
	KEY_STR("functionfs_dir", G, functionfs_dir, CFG_PATH_STR,
		.flags = CFG_ABSPATH),
	KEY_BOOL("manage", G, manage),
	KEY_END
};
#undef G
CFG_TABLE_CHECK(cfg_gadget_keys);

static const struct cfg_key cfg_usb_keys[] = {
	KEY_U32("transfer_size", struct config_usb, transfer_size,
		4096, 4 * 1024 * 1024, cfg_check_4k),
	KEY_U32("queue_depth", struct config_usb, queue_depth, 1, 16, NULL),
	KEY_U32("realtime_priority", struct config_usb, realtime_priority,
		0, 99, NULL),
	KEY_END
};
CFG_TABLE_CHECK(cfg_usb_keys);

#define L struct config_lun
static const struct cfg_key cfg_lun_keys[] = {
	{ KEY("type", cfg_set_lun_type, L, type) },
	KEY_STR("media", L, media, CFG_MEDIA_STR, .flags = CFG_EMPTY_NULL),
	KEY_BOOL("readonly", L, readonly),
	KEY_BOOL("removable", L, removable),
	{ KEY("host_eject", cfg_set_not_bool, L, refuse_host_eject) },
	KEY_U32("block_size", L, block_size, 512, 4096, cfg_check_block),
	KEY_CHARS("vendor", L, vendor),
	KEY_CHARS("product", L, product),
	KEY_CHARS("revision", L, revision),
	{ KEY("options", cfg_set_options, L, options) },
	/* Layer specs: the layer checks names, keys and values at open. */
	{ KEY("layers", cfg_set_strlist, L, layers), .min = 1,
	  .max = CFG_LAYER_STR, .charset = "-_.:=,/+@" },
	{ KEY("network_layers", cfg_set_strlist, L, network_layers),
	  .min = 1, .max = CFG_LAYER_STR, .charset = "-_.:=,/+@" },
	KEY_END
};
#undef L
CFG_TABLE_CHECK(cfg_lun_keys);

static const struct cfg_key cfg_warm_keys[] = {
	KEY_U32("link_mbit", struct config_warm, link_mbit, 0, 1000000, NULL),
	KEY_U32("share", struct config_warm, share, 1, 100, NULL),
	KEY_U32("max_jobs", struct config_warm, max_jobs, 1, 8, NULL),
	KEY_END
};
CFG_TABLE_CHECK(cfg_warm_keys);

static const struct cfg_key cfg_root_keys[] = {
	KEY_SECTION("log", struct config, log, cfg_log_keys),
	KEY_SECTION("gadget", struct config, gadget, cfg_gadget_keys),
	KEY_SECTION("usb", struct config, usb, cfg_usb_keys),
	{ .name = "luns", .set = cfg_set_luns, .sub = cfg_lun_keys },
	KEY_SECTION("api", struct config, api, cfg_api_keys),
	{ .name = "images", .set = cfg_set_images },
	KEY_SECTION("seed", struct config, seed, cfg_seed_keys),
	{ .name = "redfish", .set = cfg_set_redfish },
	KEY_SECTION("warm", struct config, warm, cfg_warm_keys),
	KEY_END
};
CFG_TABLE_CHECK(cfg_root_keys);

/* ---- entry points -------------------------------------------------- */

/* stream-start [document-start root-mapping document-end] stream-end.
 * A file with no document (empty, or only comments) is all defaults. */
static int cfg_parse_stream(struct cfg_parser *p, struct config *cfg)
{
	if (cfg_next(p) < 0 || cfg_next(p) < 0)
		return -1;
	if (p->ev.type == YAML_STREAM_END_EVENT)
		return 0;
	if (cfg_next(p) < 0 || cfg_parse_map(p, cfg_root_keys, cfg) < 0)
		return -1;
	if (cfg_next(p) < 0 || cfg_next(p) < 0)
		return -1;
	if (p->ev.type != YAML_STREAM_END_EVENT)
		return cfg_fail(p, "only one YAML document is allowed");
	if (!cfg->api.tls_cert != !cfg->api.tls_key)
		return cfg_fail_at(p, NULL, "api: tls_cert and tls_key go "
				   "together");
	return cfg_seed_check(p, cfg);
}

static int cfg_defaults(struct config *cfg)
{
	struct config_gadget *g = &cfg->gadget;

	memset(cfg, 0, sizeof *cfg);
	cfg->log.level = LOG_LVL_INFO;
	g->name = strdup("netstick");
	g->udc = strdup("auto");
	g->vendor_id = 0x1d6b;
	g->product_id = 0x0104;
	g->device_version = 0x0100;
	g->manufacturer = strdup("netstick");
	g->product = strdup("netstick virtual media");
	g->serial = strdup("auto");
	g->max_power_ma = 100;
	g->functionfs_dir = strdup("/run/netstick/ffs");
	g->manage = true;
	cfg->usb.transfer_size = 32 * 1024;
	cfg->usb.queue_depth = 8;
	cfg->usb.realtime_priority = 10;
	cfg->nluns = 1;
	cfg_lun_defaults(&cfg->luns[0]);
	cfg_seed_defaults(cfg);
	cfg->warm.share = 50;
	cfg->warm.max_jobs = 2;
	if (cfg_api_defaults(cfg) < 0 || cfg_redfish_defaults(cfg) < 0)
		return -1;
	return g->name && g->udc && g->manufacturer && g->product &&
	       g->serial && g->functionfs_dir ? 0 : -1;
}

void config_defaults(struct config *cfg)
{
	/* Out of memory leaves NULL strings; config_load* check for it. */
	(void)cfg_defaults(cfg);
}

struct config *config_load_string(const char *name, const char *text,
				  size_t len, char *errbuf, size_t errlen)
{
	struct cfg_parser p = { .name = name ? name : "(config)",
				.text = text ? text : "", .len = text ? len : 0,
				.errbuf = errbuf, .errlen = errlen };
	struct config *cfg = NULL;
	bool ok = false;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (len > CFG_MAX_FILE) {
		cfg_fail_at(&p, NULL, "larger than 1 MiB (%zu bytes)", len);
		return NULL;
	}
	if ((cfg = calloc(1, sizeof *cfg)) == NULL ||
	    cfg_defaults(cfg) < 0 || (cfg->path = strdup(p.name)) == NULL ||
	    !yaml_parser_initialize(&p.yp)) {
		cfg_fail_at(&p, NULL, "out of memory");
		goto out;
	}
	p.yp_ready = true;
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)p.text,
				     p.len);
	yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING);
	ok = cfg_parse_stream(&p, cfg) == 0;
out:
	if (p.have_ev)
		yaml_event_delete(&p.ev);
	if (p.yp_ready)
		yaml_parser_delete(&p.yp);
	if (!ok) {
		config_free(cfg);
		cfg = NULL;
	}
	return cfg;
}

/* Reads at most CFG_MAX_FILE + 1 bytes: enough to see that a file is too
 * big without reading all of it. */
struct config *config_load(const char *path, char *errbuf, size_t errlen)
{
	struct cfg_parser p = { .name = path, .errbuf = errbuf,
				.errlen = errlen };
	struct config *cfg = NULL;
	char *buf = NULL;
	FILE *f = NULL;
	size_t len;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if ((f = fopen(path, "re")) == NULL) {
		cfg_fail_at(&p, NULL, "%s", strerror(errno));
		goto out;
	}
	if ((buf = malloc(CFG_MAX_FILE + 1)) == NULL) {
		cfg_fail_at(&p, NULL, "out of memory");
		goto out;
	}
	len = fread(buf, 1, CFG_MAX_FILE + 1, f);
	if (ferror(f))
		cfg_fail_at(&p, NULL, "%s", strerror(errno));
	else if (len > CFG_MAX_FILE)
		cfg_fail_at(&p, NULL, "larger than 1 MiB");
	else
		cfg = config_load_string(path, buf, len, errbuf, errlen);
out:
	free(buf);
	if (f)
		fclose(f);
	return cfg;
}

void config_free(struct config *cfg)
{
	struct config_gadget *g;
	unsigned i;

	if (!cfg)
		return;
	g = &cfg->gadget;
	free(cfg->path);
	free(g->name);
	free(g->udc);
	free(g->manufacturer);
	free(g->product);
	free(g->serial);
	free(g->functionfs_dir);
	for (i = 0; i < CONFIG_MAX_LUNS; i++)
		free(cfg->luns[i].media);
	cfg_api_free(cfg);
	cfg_seed_free(cfg);
	cfg_redfish_free(cfg);
	free(cfg);
}
