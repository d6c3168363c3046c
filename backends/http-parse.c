/* http-parse.c — the two header values the HTTP backend parses itself.
 *
 * Everything else comes from libcurl (status, lengths, header lookup).
 * These read bytes a server chose, so they are strict, bounded and fuzzed
 * (tests/fuzz/fuzz-http-headers.c).
 */
#include "http.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Parses 1..19 decimal digits at *s; advances *s.  0 or -1. */
static int http_parse_u64(const char **s, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;
	int n = 0;

	while (isdigit((unsigned char)*p)) {
		if (++n > 19)
			return -1;        /* would overflow: refuse */
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	if (n == 0)
		return -1;
	*out = v;
	*s = p;
	return 0;
}

int http_parse_content_range(const char *s, uint64_t *first, uint64_t *last,
			     uint64_t *total)
{
	if (!s)
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	if (strncasecmp(s, "bytes", 5) != 0 || (s[5] != ' ' && s[5] != '\t'))
		return -1;
	s += 5;
	while (*s == ' ' || *s == '\t')
		s++;
	if (http_parse_u64(&s, first) < 0 || *s++ != '-' ||
	    http_parse_u64(&s, last) < 0 || *s++ != '/' ||
	    http_parse_u64(&s, total) < 0)
		return -1;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	if (*s != '\0' || *first > *last || *last >= *total)
		return -1;
	return 0;
}

bool http_accepts_bytes(const char *s)
{
	while (s && *s) {
		size_t n;

		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		n = strcspn(s, " \t,");
		if (n == 5 && strncasecmp(s, "bytes", 5) == 0)
			return true;
		s += n;
	}
	return false;
}
