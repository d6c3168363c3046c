/* fuzz-http-headers.c — libFuzzer target for what the HTTP backend parses
 * from a server's headers itself (backends/http-parse.c): Content-Range
 * and Accept-Ranges values; and for backend_redact(), which reads sources
 * that may come from a web UI.
 *
 * Invariants checked: a parsed Content-Range has first <= last < total;
 * formatting it back and parsing again gives the same numbers; redact
 * always NUL-terminates within its buffer.  Seeds in
 * tests/fuzz/corpus/fuzz-http-headers/.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_content_range(const char *s)
{
	uint64_t a, b, t, a2, b2, t2;
	char again[96];

	if (http_parse_content_range(s, &a, &b, &t) < 0)
		return;
	if (a > b || b >= t)
		__builtin_trap();
	snprintf(again, sizeof again, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
		 a, b, t);
	if (http_parse_content_range(again, &a2, &b2, &t2) < 0 ||
	    a2 != a || b2 != b || t2 != t)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char small[17], big[512];

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_content_range(s);
	(void)http_accepts_bytes(s);
	backend_redact(s, small, sizeof small);
	backend_redact(s, big, sizeof big);
	if (strlen(small) >= sizeof small || strlen(big) >= sizeof big)
		__builtin_trap();
	free(s);
	return 0;
}
