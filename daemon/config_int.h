/* config_int.h — config.c's parser internals, shared with the files that
 * add sections to it (config_api.c: api:, images:, luns[].options).
 * Not for use outside daemon/config*.c.
 *
 * A setter is called with the value's first event current; it consumes
 * the value (a scalar, or everything up to the matching end event) and
 * returns 0, or -1 after cfg_fail() has written the one error message.
 */
#ifndef NS_CONFIG_INT_H
#define NS_CONFIG_INT_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#define CFG_MAX_FILE  (1024 * 1024) /* bytes; a bigger file is refused */
#define CFG_VAL_SHOW  32            /* longest value or key echoed back */
#define CFG_SHOW_BUF  (CFG_VAL_SHOW + 4)
#define CFG_TABLE_MAX 32            /* rows per key table (seen mask) */
#define CFG_USB_STR   126           /* USB string descriptor, bytes */
#define CFG_PATH_STR  1024          /* functionfs_dir */
#define CFG_MEDIA_STR 4096          /* media path or URI */
#define CFG_LAYER_STR 1024          /* one layer spec (LAYER_SPEC_MAX) */

struct cfg_parser {
	yaml_parser_t yp;
	bool yp_ready;
	yaml_event_t ev;          /* current event, owned when have_ev */
	bool have_ev;
	bool failed;              /* the first error wins */
	const char *name;         /* file name used in messages */
	const char *text;         /* the input, to place reader errors */
	size_t len;
	char *errbuf;
	size_t errlen;
	char path[160];           /* key path of the value, "luns[3].vendor" */
	size_t pathlen;
};

struct cfg_key;
typedef int (*cfg_setter)(struct cfg_parser *, const struct cfg_key *,
			  void *obj);

/* One row of a key table.  obj is the section struct; the field is at
 * (char *)obj + off and is size bytes.  min/max bound a number, or a
 * string's length in bytes. */
struct cfg_key {
	const char *name;
	cfg_setter set;
	size_t off, size;
	uint64_t min, max;
	const char *(*check_num)(uint64_t v); /* extra rule, or NULL */
	const char *charset;  /* strings: letters, digits and these only */
	unsigned flags;
	const struct cfg_key *sub;            /* section or list-item table */
};
#define CFG_ASCII      0x1 /* printable ASCII only (INQUIRY fields) */
#define CFG_ABSPATH    0x2 /* must start with '/' */
#define CFG_EMPTY_NULL 0x4 /* "" or a YAML null stores NULL */

#define CFG_SVAL(p) ((const char *)(p)->ev.data.scalar.value)
#define CFG_SLEN(p) ((p)->ev.data.scalar.length)
#define CFG_MARK(p) ((p)->ev.start_mark)
#define CFG_PLAIN(p) ((p)->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)

int __attribute__((format(printf, 2, 3)))
cfg_fail(struct cfg_parser *p, const char *fmt, ...);
int __attribute__((format(printf, 3, 4)))
cfg_fail_at(struct cfg_parser *p, const yaml_mark_t *m, const char *fmt, ...);
const char *cfg_show(char *out, const char *s, size_t len);
size_t cfg_path_key(struct cfg_parser *p, const char *key, size_t len);
size_t cfg_path_index(struct cfg_parser *p, unsigned i);
void cfg_path_pop(struct cfg_parser *p, size_t old);
int cfg_next(struct cfg_parser *p);
int cfg_want(struct cfg_parser *p, yaml_event_type_t type, const char *what);
bool cfg_is_null(const struct cfg_parser *p);
void *cfg_field(void *obj, const struct cfg_key *k);
int cfg_get_str(struct cfg_parser *p, const struct cfg_key *k,
		const char **sp, size_t *lenp);
int cfg_parse_map(struct cfg_parser *p, const struct cfg_key *keys, void *obj);

/* Generic setters for key tables. */
int cfg_set_uint(struct cfg_parser *p, const struct cfg_key *k, void *obj);
int cfg_set_bool(struct cfg_parser *p, const struct cfg_key *k, void *obj);
int cfg_set_str(struct cfg_parser *p, const struct cfg_key *k, void *obj);
int cfg_set_section(struct cfg_parser *p, const struct cfg_key *k, void *obj);

#define KEY(n, fn, T, f) \
	.name = n, .set = fn, .off = offsetof(T, f), \
	.size = sizeof(((T *)0)->f)
#define KEY_SECTION(n, T, f, tbl) { KEY(n, cfg_set_section, T, f), .sub = tbl }
#define KEY_U16(n, T, f) { KEY(n, cfg_set_uint, T, f), .max = UINT16_MAX }
#define KEY_U32(n, T, f, lo, hi, chk) \
	{ KEY(n, cfg_set_uint, T, f), .min = lo, .max = hi, .check_num = chk }
#define KEY_BOOL(n, T, f) { KEY(n, cfg_set_bool, T, f) }
#define KEY_STR(n, T, f, maxlen, ...) \
	{ KEY(n, cfg_set_str, T, f), .min = 1, .max = maxlen, __VA_ARGS__ }
#define KEY_END { .name = NULL }
#define CFG_TABLE_CHECK(t) \
	_Static_assert(sizeof t / sizeof t[0] <= CFG_TABLE_MAX + 1, #t)


/* config_api.c: the api: and images: sections and the options mapping. */
extern const struct cfg_key cfg_api_keys[];
int cfg_set_images(struct cfg_parser *p, const struct cfg_key *k, void *obj);
int cfg_set_options(struct cfg_parser *p, const struct cfg_key *k, void *obj);
/* A list of strings, each checked like a string key (k's bounds,
 * charset); [] stores an empty list. */
int cfg_set_strlist(struct cfg_parser *p, const struct cfg_key *k, void *obj);
int cfg_api_defaults(struct config *cfg);
void cfg_api_free(struct config *cfg);
void cfg_strv_free(char **v);

/* config_seed.c: the seed: section and images[].seed. */
extern const struct cfg_key cfg_seed_keys[];
int cfg_set_image_seed(struct cfg_parser *p, const struct cfg_key *k,
		       void *obj);
void cfg_seed_entry_free(struct config_seed *cs);
void cfg_seed_defaults(struct config *cfg);
void cfg_seed_free(struct config *cfg);
/* After the whole file: every catalog seed checked as an insert would. */
int cfg_seed_check(struct cfg_parser *p, const struct config *cfg);

/* config_redfish.c: the redfish: section. */
int cfg_set_redfish(struct cfg_parser *p, const struct cfg_key *k, void *obj);
int cfg_redfish_defaults(struct config *cfg);
void cfg_redfish_free(struct config *cfg);

#endif
