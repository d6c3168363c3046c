/* layer-spec.c — one layer spec to one layer instance.
 *
 *   spec   := name [ ":" pair { "," pair } ]
 *   name   := [a-z0-9_-]+            (a line in layers/registry.c)
 *   pair   := key "=" value          (value without ',')
 *
 * The pairs become the layer's opts->options, so a layer parses them with
 * the same backend_optset helpers a backend uses for its options.
 */
#include "layer-spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int layer_spec_pairs(struct layer_spec *ls, char *s, char *err,
			    size_t errlen)
{
	unsigned n = 0;

	for (char *p = s; p; n++) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (n >= LAYER_SPEC_PAIRS) {
			snprintf(err, errlen, "layer %s: more than %d options",
				 ls->name, LAYER_SPEC_PAIRS);
			return BE_EOPEN;
		}
		if (p[0] == '=' || !strchr(p, '=')) {
			snprintf(err, errlen, "layer %s: option %u: expected "
				 "key=value", ls->name, n + 1);
			return BE_EOPEN;
		}
		ls->kv[n] = p;
		p = comma ? comma + 1 : NULL;
	}
	ls->kv[n] = NULL;
	return 0;
}

int layer_spec_parse(const char *spec, struct layer_spec *ls, char *err,
		     size_t errlen)
{
	size_t len = strlen(spec), nlen;
	char *colon;

	memset(ls->kv, 0, sizeof ls->kv);
	if (len > LAYER_SPEC_MAX) {
		snprintf(err, errlen, "layer spec longer than %d bytes",
			 LAYER_SPEC_MAX);
		return BE_EOPEN;
	}
	memcpy(ls->buf, spec, len + 1);
	colon = strchr(ls->buf, ':');
	if (colon)
		*colon = '\0';
	ls->name = ls->buf;
	nlen = strlen(ls->name);
	if (nlen == 0 || nlen > 32 ||
	    strspn(ls->name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != nlen) {
		snprintf(err, errlen, "layer spec \"%.32s\": expected a layer "
			 "name (a-z, 0-9, '-', '_'), then optionally "
			 "\":key=value,...\"", nlen <= 32 ? ls->name : "");
		return BE_EOPEN;
	}
	if (!colon)
		return 0;
	if (!colon[1]) {
		snprintf(err, errlen, "layer %s: nothing after ':'", ls->name);
		return BE_EOPEN;
	}
	return layer_spec_pairs(ls, colon + 1, err, errlen);
}

struct backend *layer_open_spec(const char *spec, struct backend *next,
				const struct backend_open_opts *opts,
				char *err, size_t errlen)
{
	struct layer_spec *ls = malloc(sizeof *ls);
	const struct backend_ops *ops;
	struct backend *be = NULL;
	char msg[512];

	if (!ls) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (layer_spec_parse(spec, ls, err, errlen) < 0)
		goto out;
	ops = layer_lookup(ls->name, strlen(ls->name));
	if (!ops) {
		snprintf(err, errlen, "unknown layer \"%s\"", ls->name);
		goto out;
	}
	msg[0] = '\0';
	be = backend_open_layer(ops, next, ls->kv, opts, msg, sizeof msg);
	if (!be)
		snprintf(err, errlen, "layer %s: %s", ls->name, msg);
out:
	free(ls);
	return be;
}
