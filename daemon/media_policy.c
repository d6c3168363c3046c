/* media_policy.c — which media sources an API client may insert.
 *
 * The config's catalog (images:) is trusted; a source a client types is
 * not.  It must:
 *   - use a scheme in api.allowed_schemes (a plain path counts as "file");
 *   - for local files, resolve (realpath: "..", symlinks) to a file
 *     inside api.allowed_dir; the resolved path is what gets opened, so a
 *     symlink swapped after the check cannot point it elsewhere;
 *   - for network URIs, name a host in api.allowed_hosts when that list
 *     is set ("*.example.com" matches any subdomain).
 * Messages never echo the source whole (it may carry credentials).
 */
#include "media.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int media_policy_init(struct media_policy *p, const struct config_api *cfg)
{
	memset(p, 0, sizeof *p);
	p->schemes = (const char *const *)cfg->allowed_schemes;
	p->hosts = (const char *const *)cfg->allowed_hosts;
	if (cfg->allowed_dir && (p->dir = realpath(cfg->allowed_dir, NULL)) ==
	    NULL && errno != ENOENT)
		return -1;
	return 0;
}

void media_policy_fini(struct media_policy *p)
{
	free(p->dir);
	p->dir = NULL;
}

/* The scheme of source ("nbd" of "nbd://x", "memory" of "memory:64M"),
 * or "file" for a plain path, into buf.  -1 when malformed. */
static int policy_scheme(const char *source, char *buf, size_t len)
{
	size_t n = strspn(source, "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

	if (source[0] == '/' || n == 0 || source[n] != ':') {
		snprintf(buf, len, "file");
		return source[0] == '/' ? 0 : -1;
	}
	if (n >= len)
		return -1;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)source[i]);
	buf[n] = '\0';
	return 0;
}

static bool policy_in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcasecmp(*list, s) == 0)
			return true;
	return false;
}

/* "*.example.com" matches "a.example.com" (not "example.com"). */
static bool policy_host_match(const char *pattern, const char *host)
{
	size_t hl = strlen(host), pl = strlen(pattern);

	if (pattern[0] == '*' && pattern[1] == '.')
		return hl > pl - 1 &&
		       strcasecmp(host + hl - (pl - 1), pattern + 1) == 0;
	return strcasecmp(pattern, host) == 0;
}

/* The host of "scheme://[user@]host[:port]/...", brackets kept off an
 * IPv6 literal.  "" for nbd+unix:/// style URIs. */
static int policy_uri_host(const char *source, char *host, size_t len)
{
	const char *a = strstr(source, "://"), *end, *at;
	size_t n;

	if (!a)
		return -1;
	a += 3;
	end = a + strcspn(a, "/?#");
	at = memchr(a, '@', (size_t)(end - a));
	while (at && memchr(at + 1, '@', (size_t)(end - at - 1)))
		at = memchr(at + 1, '@', (size_t)(end - at - 1));
	if (at)
		a = at + 1;
	if (*a == '[') {
		const char *rb = memchr(a, ']', (size_t)(end - a));
		if (!rb)
			return -1;
		a++;
		end = rb;
	} else {
		const char *colon = memchr(a, ':', (size_t)(end - a));
		if (colon)
			end = colon;
	}
	n = (size_t)(end - a);
	if (n >= len)
		return -1;
	memcpy(host, a, n);
	host[n] = '\0';
	return 0;
}

/* Inside dir: equal to it, or below it with a '/' after the prefix. */
static bool policy_inside(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static int policy_check_file(const struct media_policy *p, const char *source,
			  char *out, size_t outlen, const char **code,
			  char *msg, size_t msglen)
{
	const char *path = strncmp(source, "file://", 7) == 0 ? source + 7
							      : source;
	char *real;
	struct stat st;

	*code = "path_not_allowed";
	if (path[0] != '/' || strpbrk(path, "?#")) {
		snprintf(msg, msglen, "a local file must be an absolute path");
		return -1;
	}
	if (!p->dir) {
		snprintf(msg, msglen, "local files are not allowed "
			 "(api.allowed_dir does not exist)");
		return -1;
	}
	if ((real = realpath(path, NULL)) == NULL) {
		*code = errno == ENOENT ? "source_not_found" : "path_not_allowed";
		snprintf(msg, msglen, "%s: %s", errno == ENOENT ?
			 "no such file" : "cannot resolve the path",
			 strerror(errno));
		return -1;
	}
	if (!policy_inside(p->dir, real) || stat(real, &st) < 0 ||
	    !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
		snprintf(msg, msglen, policy_inside(p->dir, real) ?
			 "not a regular file or block device" :
			 "the path resolves outside api.allowed_dir (%s)",
			 p->dir);
		free(real);
		return -1;
	}
	snprintf(out, outlen, "%s", real);
	free(real);
	return 0;
}

static int policy_check_host(const struct media_policy *p, const char *source,
			  const char **code, char *msg, size_t msglen)
{
	char host[256];

	if (!p->hosts)
		return 0;
	*code = "host_not_allowed";
	if (policy_uri_host(source, host, sizeof host) < 0) {
		*code = "source_invalid";
		snprintf(msg, msglen, "cannot find the host in the URI");
		return -1;
	}
	for (const char *const *h = p->hosts; *h; h++)
		if (policy_host_match(*h, host))
			return 0;
	snprintf(msg, msglen, "host \"%.64s\" is not in api.allowed_hosts",
		 host);
	return -1;
}

static bool policy_has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int media_policy_check(const struct media_policy *p, const char *source,
		     char *out, size_t outlen, const char **code,
		     char *msg, size_t msglen)
{
	char scheme[32];

	*code = "source_invalid";
	if (!source[0] || strlen(source) >= outlen || policy_has_ctl(source)) {
		snprintf(msg, msglen, "the source must be 1..%zu bytes with "
			 "no control characters", outlen - 1);
		return -1;
	}
	if (policy_scheme(source, scheme, sizeof scheme) < 0) {
		snprintf(msg, msglen, "the source must be an absolute path "
			 "or a URI (scheme://...)");
		return -1;
	}
	if (!policy_in_list(p->schemes, scheme)) {
		*code = "scheme_not_allowed";
		snprintf(msg, msglen, "scheme \"%s\" is not in "
			 "api.allowed_schemes", scheme);
		return -1;
	}
	if (strcmp(scheme, "file") == 0)
		return policy_check_file(p, source, out, outlen, code, msg, msglen);
	/* Unix-socket URIs (nbd+unix) have no host to check. */
	if (strstr(source, "://") && !strstr(scheme, "unix") &&
	    policy_check_host(p, source, code, msg, msglen) < 0)
		return -1;
	snprintf(out, outlen, "%s", source);
	return 0;
}
