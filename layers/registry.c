/* registry.c — the layers a spec can name (backend_open_opts.layers).
 *
 * Adding a layer is one folder in layers/ and one line in this table.
 */
#include "backend.h"

#include <string.h>

static const struct backend_ops *const layer_table[] = {
	&layer_inject_ops,
	&layer_cache_ops,
	&layer_overlay_ops,
	&layer_pcache_ops,
	&layer_ratelimit_ops,
};

#define LAYER_TABLE_LEN (sizeof layer_table / sizeof layer_table[0])

const struct backend_ops *layer_lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < LAYER_TABLE_LEN; i++)
		if (strlen(layer_table[i]->name) == len &&
		    strncmp(layer_table[i]->name, name, len) == 0)
			return layer_table[i];
	return NULL;
}
