/* registry.c — which backend serves which source.
 *
 * Adding a backend is one file in backends/ and one line in this table.
 * The scheme is read by uri_scheme() (uri.h), case-insensitive: a plain
 * path ("/...") goes to the backend that lists the empty scheme "" or
 * "file"; anything that is neither a path nor "scheme:" has no backend.
 */
#include "backend.h"

#include <string.h>

static const struct backend_ops *const backend_table[] = {
	&backend_file_ops,
	&backend_example_ops,
	&backend_nbd_ops,
	&backend_http_ops,
	&backend_seed_ops,
};

#define BACKEND_TABLE_LEN (sizeof backend_table / sizeof backend_table[0])

const struct backend_ops *backend_lookup(const char *source)
{
	char scheme[32];
	bool path = source[0] == '/';

	if (uri_scheme(source, scheme, sizeof scheme) < 0)
		return NULL;
	for (size_t i = 0; i < BACKEND_TABLE_LEN; i++) {
		for (const char *const *s = backend_table[i]->schemes; *s; s++)
			if (path ? !(*s)[0] || !strcmp(*s, "file")
				 : !strcmp(*s, scheme))
				return backend_table[i];
	}
	return NULL;
}
