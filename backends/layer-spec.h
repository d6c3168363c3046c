/* layer-spec.h — layer specs ("name:key=value,key=value") to layer
 * instances, for backend_open() (backend.c).  Internal to the core. */
#ifndef NS_LAYER_SPEC_H
#define NS_LAYER_SPEC_H

#include "backend.h"

#define LAYER_SPEC_MAX 1024    /* bytes in one spec */
#define LAYER_SPEC_PAIRS 32    /* key=value pairs in one spec */

/* A parsed spec: name and pairs point into buf. */
struct layer_spec {
	char buf[LAYER_SPEC_MAX + 1];
	const char *name;
	const char *kv[LAYER_SPEC_PAIRS + 1];   /* NULL-terminated */
};

/* Splits spec into *ls.  Returns 0, or BE_EOPEN with a message naming
 * what is wrong (never a value: values may be secrets). */
int layer_spec_parse(const char *spec, struct layer_spec *ls, char *err,
		     size_t errlen);

/* Parses spec, finds the layer (layer_lookup) and opens it over next
 * (backend_open_layer).  Returns the new top, which owns next, or NULL
 * with "layer NAME: ..." in err and next untouched. */
struct backend *layer_open_spec(const char *spec, struct backend *next,
				const struct backend_open_opts *opts,
				char *err, size_t errlen);

#endif
