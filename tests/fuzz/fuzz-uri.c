/* fuzz-uri.c — libFuzzer target for the one source parser
 * (backends/uri.c) and the redaction and policy built on it: sources come
 * from API clients.
 *
 * Invariants checked: the canonical form parses again to itself, with the
 * same kind, scheme and host (so nothing downstream can read it another
 * way); redaction of a source with userinfo never shows the userinfo's
 * password; the policy check never crashes on anything that parses.
 * Seeds in tests/fuzz/corpus/fuzz-uri/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_same(const char *a, const char *b)
{
	if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
		abort();
}

static void fuzz_policy(const struct uri *u)
{
	static const char *const schemes[] = { "file", "http", "https", "nbd",
					       "memory", NULL };
	static const char *const hosts[] = { "*.example.com", "h", NULL };
	struct uri_policy p = { .schemes = schemes, .hosts = hosts,
				.dirfd = -1 };
	const char *code;
	char msg[256];

	(void)uri_policy_check(&p, u, &code, msg, sizeof msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[256], shown[512];
	struct uri u, v;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	backend_redact(s, shown, sizeof shown);
	if (strlen(shown) >= sizeof shown)
		abort();
	if (uri_parse(s, &u, err, sizeof err) == 0) {
		if (uri_parse(u.canon, &v, err, sizeof err) != 0)
			abort();
		if (u.kind != v.kind || strcmp(u.scheme, v.scheme) != 0 ||
		    u.userinfo != v.userinfo)
			abort();
		fuzz_same(u.host, v.host);
		fuzz_same(u.canon, v.canon);
		if (u.userinfo && u.kind != URI_OPAQUE &&
		    !strstr(shown, "***"))
			abort();
		fuzz_policy(&u);
		uri_free(&v);
		uri_free(&u);
	}
	free(s);
	return 0;
}
