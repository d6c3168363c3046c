/* seed_req.h — what a client (or the catalog) asks a seed volume to be:
 * its kind, label and files, checked, with templates expanded, ready for
 * seed_iso_build() (backends/seed.h).  docs/seed.md is the user's view.
 *
 *   JSON {"kind", "label", "template", "files"}  ─┐
 *   config images[].seed                          ─┴▶ struct seed_req
 *        ──seed_req_finish()──▶ kind rules, label, names, limits, {{vars}}
 *        ──seed_req_build()───▶ the volume's bytes
 *
 * Kinds:
 *   nocloud       label cidata (or CIDATA); user-data and meta-data required
 *   kickstart     label OEMDRV; ks.cfg required
 *   autounattend  any label (default AUTOUNATTEND); autounattend.xml at the
 *                 root required
 *   custom        label required; any files
 *
 * Errors: every function returning int returns 0, or -1 with *e filled: a
 * stable code, whether a limit was hit (too_big: HTTP 413, else 400) and a
 * message fit for a client.  Nothing here touches a LUN.
 *
 * Ownership: a struct seed_req owns its names and contents (heap); free
 * with seed_req_free().  Threads: no shared state; any thread.
 */
#ifndef NS_SEED_REQ_H
#define NS_SEED_REQ_H

#include "config.h"
#include "seed.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define SEED_FILES_HARD 1024     /* files in any request, whatever config */

enum seed_kind {
	SEED_KIND_NONE = 0,
	SEED_KIND_NOCLOUD,
	SEED_KIND_KICKSTART,
	SEED_KIND_AUTOUNATTEND,
	SEED_KIND_CUSTOM,
};

struct seed_file {
	char *name;                  /* path inside the volume */
	unsigned char *data;         /* contents (NUL after len, for text) */
	size_t len;
	bool text;                   /* given as text: templates expand */
};

struct seed_req {
	enum seed_kind kind;
	char label[SEED_LABEL_MAX + 1]; /* "" until finish: the kind's */
	bool no_template;            /* "template": false */
	unsigned nfiles;
	struct seed_file *files;     /* heap, nfiles */
};

struct seed_err {
	const char *code;            /* "bad_seed", "bad_file_name", ... */
	bool too_big;                /* a size or count limit (413) */
	char msg[320];
};

/* The limits (config seed:) and the variables of one insert. */
struct seed_limits {
	unsigned max_files;
	size_t max_file_size;
	size_t max_volume_size;
};
struct seed_vars {
	const char *serial;          /* {{serial}}: the device's USB serial */
	unsigned lun;                /* {{lun}} */
	const char *const *extra;    /* "name=value", NULL-terminated (config
	                              * seed.variables), or NULL */
};

/* "nocloud" → SEED_KIND_NOCLOUD; SEED_KIND_NONE when unknown. */
enum seed_kind seed_kind_lookup(const char *name);
const char *seed_kind_name(enum seed_kind k);

/* The "seed" object of a PUT /api/v1/luns/{id}/media body.  File values
 * are a string (text) or {"base64": "..."} (bytes, never templated) or
 * {"text": "..."}.  rq is zeroed first; on failure it is left empty.
 * has_nul: the request's text held \u0000 (seed_json_has_nul): refused. */
int seed_req_from_json(json_object *o, bool has_nul, struct seed_req *rq,
		       struct seed_err *e);
/* Whether JSON text holds a \u0000 escape: json-c cuts object keys at a
 * NUL ("a\u0000/../x" would arrive as "a"), so the caller checks the raw
 * body and passes the answer to seed_req_from_json as has_nul. */
bool seed_json_has_nul(const char *text, size_t len);
/* A catalog seed (config images[].seed): text files only. */
int seed_req_from_config(const struct config_seed *cs, struct seed_req *rq,
			 struct seed_err *e);
/* Checks everything and expands templates in text files (unless
 * no_template): the kind's label and files, names (no "..", no leading
 * "/", no empty component, no NUL or control character, valid UTF-8, at
 * most SEED_DEPTH_MAX deep, no file that is also a directory, no two
 * names differing only in case), the file count and sizes after
 * expansion.  Unknown {{name}} variables are errors. */
int seed_req_finish(struct seed_req *rq, const struct seed_limits *lim,
		    const struct seed_vars *vars, struct seed_err *e);
/* Builds the finished request's volume: heap bytes in *out (free()). */
int seed_req_build(const struct seed_req *rq, const struct seed_limits *lim,
		   unsigned char **out, size_t *outlen, struct seed_err *e);
void seed_req_free(struct seed_req *rq);

/* One path's rules (see seed_req_finish), for name at len bytes. */
int seed_path_check(const char *name, size_t len, struct seed_err *e);

/* config seed: as limits. */
void seed_limits_of(const struct config *cfg, struct seed_limits *lim);

#endif
