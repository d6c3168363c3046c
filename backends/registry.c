/* registry.c — which backend serves which source.
 *
 * Adding a backend is one file in backends/ and one line in this table.
 * A source with no "scheme://" (or "scheme:" for memory) is a plain path and
 * goes to the backend that lists the empty scheme "".
 */
#include "backend.h"

#include <string.h>

static const struct backend_ops *const backend_table[] = {
	&backend_file_ops,
	&backend_example_ops,
	&backend_nbd_ops,
	&backend_http_ops,
};

#define BACKEND_TABLE_LEN (sizeof backend_table / sizeof backend_table[0])

/* Length of the scheme in source ("nbd" in "nbd://x"), 0 if none. */
static size_t registry_scheme_len(const char *source)
{
	size_t n = strspn(source, "abcdefghijklmnopqrstuvwxyz0123456789+.-");

	if (n == 0 || source[n] != ':')
		return 0;
	return n;
}

const struct backend_ops *backend_lookup(const char *source)
{
	size_t n = registry_scheme_len(source);

	for (size_t i = 0; i < BACKEND_TABLE_LEN; i++) {
		for (const char *const *s = backend_table[i]->schemes; *s; s++)
			if (strlen(*s) == n && strncmp(*s, source, n) == 0)
				return backend_table[i];
	}
	return NULL;
}
