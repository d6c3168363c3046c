/* options.c — per-source options and redacting sources for logs.
 *
 * Network backends take options (CA file, credentials, timeouts) beside
 * their URI.  They come from two places, merged here so every backend
 * parses them the same way:
 *
 *   opts->options        "key=value" strings from the config or admin API;
 *                        may carry secrets
 *   the URI fragment     "https://host/disk.img#ca-file=/x&timeout=3";
 *                        never sent to a server; secret keys refused
 *
 * Later entries win, and the config's come after the fragment's.  Every
 * message names keys only, never values.
 */
#include "backend.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OPT_MAX 64              /* entries in one set, a hard limit */

/* ---- redaction ------------------------------------------------------- */

/* Appends n bytes of s to buf (len total), keeping it NUL-terminated. */
static void redact_put(char *buf, size_t len, size_t *pos, const char *s,
		       size_t n)
{
	if (*pos + 1 >= len)
		return;
	if (n > len - 1 - *pos)
		n = len - 1 - *pos;
	memcpy(buf + *pos, s, n);
	*pos += n;
	buf[*pos] = '\0';
}

static bool redact_secret_key(const char *key, size_t n)
{
	static const char *const words[] = {
		"pass", "token", "secret", "sig", "key", "auth", "cred",
		"psk", "session", "bearer", NULL,
	};
	char low[64];

	if (n >= sizeof low)
		return true;      /* an odd, long key: assume the worst */
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)key[i]);
	low[n] = '\0';
	for (const char *const *w = words; *w; w++)
		if (strstr(low, *w))
			return true;
	return false;
}

/* Copies "k=v&k=v" (up to the end of s or the stop character), hiding
 * the values of secret-looking keys. */
static const char *redact_params(const char *s, int stop, char *buf,
				 size_t len, size_t *pos)
{
	const char *seps = stop == '#' ? "&#" : "&";

	while (*s && *s != stop) {
		size_t n = strcspn(s, seps);
		const char *eq = memchr(s, '=', n);

		if (eq && redact_secret_key(s, (size_t)(eq - s))) {
			redact_put(buf, len, pos, s, (size_t)(eq - s) + 1);
			redact_put(buf, len, pos, "***", 3);
		} else {
			redact_put(buf, len, pos, s, n);
		}
		s += n;
		if (*s == '&')
			redact_put(buf, len, pos, s++, 1);
	}
	return s;
}

/* The structural part, on a canonical "scheme://..." string. */
static void redact_canon(const char *canon, char *buf, size_t len,
			 size_t *pos)
{
	const char *p = strstr(canon, "://"), *at = NULL;
	size_t auth;

	p += 3;
	redact_put(buf, len, pos, canon, (size_t)(p - canon));
	auth = strcspn(p, "/?#");
	for (size_t i = 0; i < auth; i++)
		if (p[i] == '@')
			at = p + i;
	if (at) {
		redact_put(buf, len, pos, "***", 3);
		p = at;
	}
	auth = strcspn(p, "?#");
	redact_put(buf, len, pos, p, auth);
	p += auth;
	if (*p == '?') {
		redact_put(buf, len, pos, p++, 1);
		p = redact_params(p, '#', buf, len, pos);
	}
	if (*p == '#') {
		redact_put(buf, len, pos, p++, 1);
		redact_params(p, '\0', buf, len, pos);
	}
}

const char *backend_redact(const char *source, char *buf, size_t len)
{
	char scheme[32], err[8];
	struct uri u;
	size_t pos = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (uri_parse(source, &u, err, sizeof err) < 0) {
		/* Unparsable: nothing of it can be trusted to be harmless. */
		if (uri_scheme(source, scheme, sizeof scheme) == 0 &&
		    source[0] != '/')
			snprintf(buf, len, "%s:***", scheme);
		else
			snprintf(buf, len, "(invalid source)");
		return buf;
	}
	if (u.kind == URI_PATH)
		redact_put(buf, len, &pos, u.canon, strlen(u.canon));
	else if (strstr(u.canon, "://"))
		redact_canon(u.canon, buf, len, &pos);
	else if (!strpbrk(u.canon + strlen(u.scheme) + 1, "@:?#&=/"))
		redact_put(buf, len, &pos, u.canon, strlen(u.canon));
	else                      /* opaque with structure we do not know */
		snprintf(buf, len, "%s:***", u.scheme);
	uri_free(&u);
	return buf;
}

/* ---- option sets ----------------------------------------------------- */

static bool opt_in_list(const char *kv, const char *const *list)
{
	size_t n = strcspn(kv, "=");

	for (; list && *list; list++)
		if (strlen(*list) == n && strncmp(*list, kv, n) == 0)
			return true;
	return false;
}

/* CR and LF would inject a header line; the rest has no business in an
 * option either (TAB is allowed: header values may fold it). */
static bool opt_has_ctl(const char *v)
{
	for (; *v; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
			return true;
	return false;
}

/* Adds one entry after checking its key and value. */
static int opt_add(struct backend_optset *set, size_t *n, const char *kv,
		   const char *const *known, char *err, size_t errlen)
{
	size_t klen = strcspn(kv, "=");

	if (klen == 0 || kv[klen] != '=') {
		snprintf(err, errlen, "option \"%.*s\": expected key=value",
			 (int)(klen > 40 ? 40 : klen), kv);
		return BE_EOPEN;
	}
	if (opt_has_ctl(kv + klen + 1)) {
		snprintf(err, errlen, "option \"%.*s\": the value must not "
			 "contain control characters (CR, LF, ...)",
			 (int)(klen > 40 ? 40 : klen), kv);
		return BE_EOPEN;
	}
	if (!opt_in_list(kv, known)) {
		snprintf(err, errlen, "unknown option \"%.*s\"",
			 (int)(klen > 40 ? 40 : klen), kv);
		return BE_EOPEN;
	}
	if (*n >= OPT_MAX) {
		snprintf(err, errlen, "more than %d options", OPT_MAX);
		return BE_EOPEN;
	}
	set->kv[(*n)++] = kv;
	set->kv[*n] = NULL;
	return 0;
}

/* Splits the fragment (already copied into set->fragbuf) into entries. */
static int opt_add_fragment(struct backend_optset *set, size_t *n,
			    const char *const *known,
			    const char *const *secret, char *err, size_t errlen)
{
	char *save = NULL;

	for (char *kv = strtok_r(set->fragbuf, "&", &save); kv;
	     kv = strtok_r(NULL, "&", &save)) {
		if (opt_in_list(kv, secret)) {
			snprintf(err, errlen,
				 "option \"%.*s\" is a credential: give it as a "
				 "source option, not in the URI",
				 (int)strcspn(kv, "="), kv);
			return BE_EOPEN;
		}
		if (opt_add(set, n, kv, known, err, errlen) < 0)
			return BE_EOPEN;
	}
	return 0;
}

int backend_optset_init(struct backend_optset *set, const char *source,
			const struct backend_open_opts *opts,
			const char *const *known, const char *const *secret,
			char *err, size_t errlen)
{
	const char *hash = strchr(source, '#');
	size_t n = 0;

	memset(set, 0, sizeof *set);
	set->uri = strndup(source, hash ? (size_t)(hash - source)
				 : strlen(source));
	set->fragbuf = strdup(hash ? hash + 1 : "");
	set->kv = calloc(OPT_MAX + 1, sizeof *set->kv);
	if (!set->uri || !set->fragbuf || !set->kv) {
		backend_optset_free(set);
		snprintf(err, errlen, "out of memory");
		return BE_ENOMEM;
	}
	if (opt_add_fragment(set, &n, known, secret, err, errlen) < 0)
		goto fail;
	for (const char *const *o = opts ? opts->options : NULL; o && *o; o++)
		if (opt_add(set, &n, *o, known, err, errlen) < 0)
			goto fail;
	return 0;
fail:
	backend_optset_free(set);
	return BE_EOPEN;
}

void backend_optset_free(struct backend_optset *set)
{
	free(set->uri);
	free(set->fragbuf);
	free(set->kv);
	memset(set, 0, sizeof *set);
}

const char *backend_opt_get(const struct backend_optset *set, const char *key)
{
	const char *v = NULL;
	size_t klen = strlen(key);

	for (const char **kv = set->kv; kv && *kv; kv++)
		if (strncmp(*kv, key, klen) == 0 && (*kv)[klen] == '=')
			v = *kv + klen + 1;
	return v;
}

int backend_opt_uint(const struct backend_optset *set, const char *key,
		     unsigned def, unsigned min, unsigned max, unsigned *out,
		     char *err, size_t errlen)
{
	const char *v = backend_opt_get(set, key);
	unsigned long x;
	char *end;

	*out = def;
	if (!v)
		return 0;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || x < min || x > max) {
		snprintf(err, errlen, "option %s: must be a number in %u..%u",
			 key, min, max);
		return BE_EOPEN;
	}
	*out = (unsigned)x;
	return 0;
}

int backend_opt_bool(const struct backend_optset *set, const char *key,
		     bool def, bool *out, char *err, size_t errlen)
{
	const char *v = backend_opt_get(set, key);

	*out = def;
	if (!v)
		return 0;
	if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"))
		*out = true;
	else if (!strcmp(v, "0") || !strcasecmp(v, "false") ||
		 !strcasecmp(v, "no"))
		*out = false;
	else {
		snprintf(err, errlen, "option %s: must be true or false", key);
		return BE_EOPEN;
	}
	return 0;
}

/* "0", "1", "0.25", "1.000": at most 6 decimals, no sign, no exponent. */
static int opt_parse_ratio(const char *v, unsigned *ppm)
{
	unsigned whole, frac = 0, scale = 1000000;
	const char *p = v;

	if (*p != '0' && *p != '1')
		return -1;
	whole = (unsigned)(*p++ - '0');
	if (*p == '.') {
		if (!p[1])
			return -1;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (scale == 1)
				return -1;
			scale /= 10;
			frac += (unsigned)(*p - '0') * scale;
		}
	}
	if (*p || (whole == 1 && frac))
		return -1;
	*ppm = whole * 1000000 + frac;
	return 0;
}

int backend_opt_ratio(const struct backend_optset *set, const char *key,
		      unsigned def_ppm, unsigned *out, char *err,
		      size_t errlen)
{
	const char *v = backend_opt_get(set, key);

	*out = def_ppm;
	if (v && opt_parse_ratio(v, out) < 0) {
		snprintf(err, errlen, "option %s: must be a fraction in 0..1 "
			 "(like 0.01), at most 6 decimals", key);
		return BE_EOPEN;
	}
	return 0;
}
