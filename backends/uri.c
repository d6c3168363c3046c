/* uri.c — the one parser of media sources, and the source policy.  See
 * uri.h for the table of which library parses which scheme and why. */
#include "uri.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libxml/uri.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#define URI_SCHEME_CHARS "abcdefghijklmnopqrstuvwxyz" \
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-"

static int uri_fail(struct uri *u, char *err, size_t errlen, const char *msg)
{
	uri_free(u);
	snprintf(err, errlen, "%s", msg);
	return -1;
}

int uri_scheme(const char *source, char *buf, size_t len)
{
	size_t n;

	if (source[0] == '/') {
		snprintf(buf, len, "file");
		return 0;
	}
	n = strspn(source, URI_SCHEME_CHARS);
	if (n == 0 || n >= len || source[n] != ':' ||
	    !isalpha((unsigned char)source[0]))
		return -1;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)source[i]);
	buf[n] = '\0';
	return 0;
}

static bool uri_has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static void uri_lower(char *s)
{
	for (; s && *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* source with its scheme (n bytes) lower-cased, heap. */
static char *uri_lower_scheme(const char *source, size_t n)
{
	char *s = strdup(source);

	for (size_t i = 0; s && i < n; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	return s;
}

/* ---- local paths --------------------------------------------------- */

/* Decodes %XX in place; -1 on a bad escape or a decoded control byte. */
static int uri_pct_decode(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '%') {
			unsigned v;
			if (!isxdigit((unsigned char)s[1]) ||
			    !isxdigit((unsigned char)s[2]) ||
			    sscanf(s + 1, "%2x", &v) != 1 || v < 0x20 ||
			    v == 0x7f)
				return -1;
			*w++ = (char)v;
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	return 0;
}

/* "//" and "/./" collapse, a trailing "/" goes; ".." is refused (a
 * lexical ".." and the kernel's disagree across symlinks).  In place. */
static int uri_norm_path(char *p)
{
	char *r = p, *w = p;

	while (*r) {
		size_t n;
		while (*r == '/')
			r++;
		n = strcspn(r, "/");
		if (n == 0)
			break;
		if (n == 2 && r[0] == '.' && r[1] == '.')
			return -1;
		if (!(n == 1 && r[0] == '.')) {
			*w++ = '/';
			memmove(w, r, n);
			w += n;
		}
		r += n;
	}
	if (w == p)
		*w++ = '/';
	*w = '\0';
	return 0;
}

/* "/abs", "file:/abs", "file:///abs", "file://localhost/abs". */
static int uri_parse_path(const char *source, struct uri *u, char *err,
			  size_t errlen)
{
	const char *p = source;
	bool is_uri = source[0] != '/';

	u->kind = URI_PATH;
	if (is_uri) {
		p += 5;                       /* "file:" */
		if (strncmp(p, "//", 2) == 0) {
			const char *a = p + 2;
			size_t n = strcspn(a, "/");
			if (n && strncasecmp(a, "localhost", n) != 0)
				return uri_fail(u, err, errlen, "a file: URI "
						"cannot name another host");
			p = a + n;
		}
		if (strpbrk(p, "?#"))
			return uri_fail(u, err, errlen, "a file: URI has no "
					"query or fragment");
	}
	if (p[0] != '/')
		return uri_fail(u, err, errlen, "a local file must be an "
				"absolute path");
	if (!(u->canon = strdup(p)))
		return uri_fail(u, err, errlen, "out of memory");
	if (is_uri && uri_pct_decode(u->canon) < 0)
		return uri_fail(u, err, errlen, "bad %-escape in a file: URI");
	if (uri_norm_path(u->canon) < 0)
		return uri_fail(u, err, errlen, "a local path must not "
				"contain \"..\"");
	return 0;
}

/* ---- http(s): libcurl's URL API ------------------------------------ */

static char *uri_curl_part(CURLU *h, CURLUPart part)
{
	char *v = NULL, *copy;

	if (curl_url_get(h, part, &v, 0) != CURLUE_OK)
		return NULL;
	copy = strdup(v);
	curl_free(v);
	return copy;
}

static int uri_parse_http(const char *source, struct uri *u, char *err,
			  size_t errlen)
{
	CURLU *h = curl_url();
	char *port, *user;
	int r = -1;

	u->kind = URI_HTTP;
	if (!h)
		return uri_fail(u, err, errlen, "out of memory");
	if (curl_url_set(h, CURLUPART_URL, source, 0) != CURLUE_OK) {
		snprintf(err, errlen, "malformed %s URL", u->scheme);
		goto out;
	}
	u->host = uri_curl_part(h, CURLUPART_HOST);
	if (!u->host || !u->host[0]) {
		snprintf(err, errlen, "no host in the URL");
		goto out;
	}
	uri_lower(u->host);
	if (curl_url_set(h, CURLUPART_HOST, u->host, 0) != CURLUE_OK) {
		snprintf(err, errlen, "malformed host in the URL");
		goto out;
	}
	if (u->host[0] == '[') {      /* curl keeps IPv6 brackets */
		size_t n = strlen(u->host);
		memmove(u->host, u->host + 1, n);
		if (n >= 2)
			u->host[n - 2] = '\0';
	}
	if ((port = uri_curl_part(h, CURLUPART_PORT)) != NULL) {
		u->port = atoi(port);
		free(port);
	}
	if ((user = uri_curl_part(h, CURLUPART_USER)) != NULL) {
		u->userinfo = true;
		free(user);
	}
	if ((u->canon = uri_curl_part(h, CURLUPART_URL)) == NULL) {
		snprintf(err, errlen, "malformed %s URL", u->scheme);
		goto out;
	}
	u->query = uri_curl_part(h, CURLUPART_QUERY);
	r = 0;
out:
	curl_url_cleanup(h);
	if (r < 0) {
		char keep[256];
		snprintf(keep, sizeof keep, "%s", err);
		return uri_fail(u, err, errlen, keep);
	}
	return 0;
}

/* ---- nbd: libxml2, the parser inside nbd_connect_uri() -------------- */

static bool uri_nbd_scheme(const char *s, bool *unix_socket)
{
	*unix_socket = !strcmp(s, "nbd+unix") || !strcmp(s, "nbds+unix");
	return !strcmp(s, "nbd") || !strcmp(s, "nbds") || *unix_socket;
}

static int uri_parse_nbd(const char *source, struct uri *u, char *err,
			 size_t errlen)
{
	size_t n = strlen(u->scheme);
	xmlURIPtr x;

	u->kind = URI_NBD;
	if (strncmp(source + n, "://", 3) != 0)
		return uri_fail(u, err, errlen, "an NBD URI must begin with "
				"scheme://");
	if (!(u->canon = uri_lower_scheme(source, n)))
		return uri_fail(u, err, errlen, "out of memory");
	if (!(x = xmlParseURI(u->canon)))
		return uri_fail(u, err, errlen, "malformed NBD URI");
	u->userinfo = x->user != NULL;
	u->port = x->port > 0 ? x->port : -1;
	if (x->query_raw && !(u->query = strdup(x->query_raw)))
		goto nomem;
	if (u->unix_socket) {
		if (x->server && x->server[0]) {
			xmlFreeURI(x);
			return uri_fail(u, err, errlen, "an nbd+unix URI has "
					"no host (nbd+unix:///export?socket=...)");
		}
	} else {
		const char *s = x->server && x->server[0] ? x->server
							  : "localhost";
		size_t sl = strlen(s);
		if (sl >= 2 && s[0] == '[' && s[sl - 1] == ']')
			u->host = strndup(s + 1, sl - 2);
		else
			u->host = strdup(s);
		if (!u->host)
			goto nomem;
		uri_lower(u->host);
	}
	xmlFreeURI(x);
	return 0;
nomem:
	xmlFreeURI(x);
	return uri_fail(u, err, errlen, "out of memory");
}

static int uri_parse_any(const char *source, struct uri *u, char *err,
			 size_t errlen);

int uri_parse(const char *source, struct uri *u, char *err, size_t errlen)
{
	if (uri_parse_any(source, u, err, errlen) < 0)
		return -1;
	/* Canonical forms may grow (percent-encoding): the limit holds for
	 * them too, so a canonical form always parses again. */
	if (strlen(u->canon) > URI_MAX)
		return uri_fail(u, err, errlen, "a source must be 1..4096 "
				"bytes");
	/* A canonical form may hold what the source did not: curl decodes
	 * %XX in a host name ("http://%7F/"). */
	if (uri_has_ctl(u->canon))
		return uri_fail(u, err, errlen, "a source must not contain "
				"control characters (CR, LF, TAB, ...)");
	return 0;
}

static int uri_parse_any(const char *source, struct uri *u, char *err,
			 size_t errlen)
{
	memset(u, 0, sizeof *u);
	u->port = -1;
	if (!source || !source[0] || strlen(source) > URI_MAX)
		return uri_fail(u, err, errlen, "a source must be 1..4096 "
				"bytes");
	if (uri_has_ctl(source))
		return uri_fail(u, err, errlen, "a source must not contain "
				"control characters (CR, LF, TAB, ...)");
	if (uri_scheme(source, u->scheme, sizeof u->scheme) < 0)
		return uri_fail(u, err, errlen, "the source must be an "
				"absolute path or a URI (scheme://...)");
	if (!strcmp(u->scheme, "file"))
		return uri_parse_path(source, u, err, errlen);
	if (!strcmp(u->scheme, "http") || !strcmp(u->scheme, "https"))
		return uri_parse_http(source, u, err, errlen);
	if (uri_nbd_scheme(u->scheme, &u->unix_socket))
		return uri_parse_nbd(source, u, err, errlen);
	u->kind = URI_OPAQUE;
	if (!strncmp(u->scheme, "nbd", 3))
		return uri_fail(u, err, errlen, "unsupported media source "
				"scheme (an NBD transport this build lacks)");
	if (!(u->canon = uri_lower_scheme(source, strlen(u->scheme))))
		return uri_fail(u, err, errlen, "out of memory");
	return 0;
}

void uri_free(struct uri *u)
{
	free(u->canon);
	free(u->host);
	free(u->query);
	u->canon = u->host = u->query = NULL;
}

/* ---- the source policy ----------------------------------------------- */

static char *uri_dir_copy(const char *dir)
{
	char *d = strdup(dir);
	size_t n;

	if (!d)
		return NULL;
	n = strlen(d);
	while (n > 1 && d[n - 1] == '/')
		d[--n] = '\0';
	return d;
}

int uri_policy_init(struct uri_policy *p, const char *const *schemes,
		    const char *const *hosts, const char *allowed_dir)
{
	memset(p, 0, sizeof *p);
	p->schemes = schemes;
	p->hosts = hosts;
	p->dirfd = -1;
	if (!allowed_dir)
		return 0;
	p->dirfd = open(allowed_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0) {
		if (errno == ENOENT)
			return 0;
		return -1;
	}
	p->dir = uri_dir_copy(allowed_dir);
	p->realdir = realpath(allowed_dir, NULL);
	if (!p->dir || !p->realdir) {
		uri_policy_fini(p);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void uri_policy_fini(struct uri_policy *p)
{
	if (p->dirfd >= 0)
		close(p->dirfd);
	p->dirfd = -1;
	free(p->dir);
	free(p->realdir);
	p->dir = p->realdir = NULL;
}

static bool uri_in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcasecmp(*list, s) == 0)
			return true;
	return false;
}

/* "*.example.com" matches "a.example.com" (not "example.com"). */
static bool uri_host_match(const char *pattern, const char *host)
{
	size_t hl = strlen(host), pl = strlen(pattern);

	if (pattern[0] == '*' && pattern[1] == '.')
		return hl > pl - 1 &&
		       strcasecmp(host + hl - (pl - 1), pattern + 1) == 0;
	return strcasecmp(pattern, host) == 0;
}

bool uri_policy_host_ok(const struct uri_policy *p, const char *host)
{
	if (!p->hosts)
		return true;
	for (const char *const *h = p->hosts; host && *h; h++)
		if (uri_host_match(*h, host))
			return true;
	return false;
}

/* The part of path below dir ("" for dir itself), or NULL. */
static const char *uri_below(const char *dir, const char *path)
{
	size_t n;

	if (!dir)
		return NULL;
	if (!strcmp(dir, "/"))
		return path + 1;
	n = strlen(dir);
	if (strncmp(path, dir, n) != 0)
		return NULL;
	if (path[n] == '\0')
		return path + n;
	return path[n] == '/' ? path + n + 1 : NULL;
}

static const char *uri_rel(const struct uri_policy *p, const char *path)
{
	const char *r = uri_below(p->dir, path);

	return r ? r : uri_below(p->realdir, path);
}

/* Query keys that name a local file for libnbd: a client must not pick
 * which file of the board gets read as a key. */
static bool uri_nbd_local_file_param(const char *q)
{
	while (q && *q) {
		size_t n = strcspn(q, "&;");
		if (!strncmp(q, "tls-psk-file=", 13) ||
		    !strncmp(q, "tls-certificates=", 17))
			return true;
		q += n;
		if (*q)
			q++;
	}
	return false;
}

int uri_policy_check(const struct uri_policy *p, const struct uri *u,
		     const char **code, char *msg, size_t msglen)
{
	if (!uri_in_list(p->schemes, u->scheme)) {
		*code = "scheme_not_allowed";
		snprintf(msg, msglen, "scheme \"%s\" is not in "
			 "api.allowed_schemes", u->scheme);
		return -1;
	}
	if (u->kind == URI_PATH) {
		*code = "path_not_allowed";
		if (p->dirfd < 0) {
			snprintf(msg, msglen, "local files are not allowed "
				 "(api.allowed_dir does not exist)");
			return -1;
		}
		if (!uri_rel(p, u->canon)) {
			snprintf(msg, msglen, "the path is outside "
				 "api.allowed_dir (%s)", p->dir);
			return -1;
		}
		return 0;
	}
	if (u->kind == URI_NBD && uri_nbd_local_file_param(u->query)) {
		*code = "source_invalid";
		snprintf(msg, msglen, "tls-psk-file and tls-certificates "
			 "cannot be given in a client's NBD URI");
		return -1;
	}
	if (u->host && !uri_policy_host_ok(p, u->host)) {
		*code = "host_not_allowed";
		snprintf(msg, msglen, "host \"%.64s\" is not in "
			 "api.allowed_hosts", u->host);
		return -1;
	}
	return 0;
}

/* ---- opening beneath allowed_dir ---------------------------------------- */

/* The fallback, for an absolute symlink inside (openat2 refuses every
 * one with EXDEV, even one pointing back in) and for kernels before 5.6
 * (ENOSYS): open first, following symlinks, then check the object that
 * was opened: its path (/proc/self/fd) must lie under the real
 * allowed_dir.  The check is on the open file itself, so a rename or a
 * symlink swapped after the open cannot change what it finds; then the
 * same inode is reopened through /proc with the flags asked for. */
static int uri_open_verify(const struct uri_policy *p, const char *path,
			   int flags)
{
	char proc[64], real[4096];
	int pfd = open(path, O_PATH | O_CLOEXEC), fd;
	ssize_t n;

	if (pfd < 0)
		return -1;
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
	n = readlink(proc, real, sizeof real - 1);
	if (n < 0 || (size_t)n >= sizeof real - 1) {
		close(pfd);
		errno = EXDEV;          /* no /proc: cannot prove it */
		return -1;
	}
	real[n] = '\0';
	if (!uri_below(p->realdir, real) || !uri_below(p->realdir, real)[0]) {
		close(pfd);
		errno = EXDEV;
		return -1;
	}
	if ((flags & O_PATH) != 0)
		return pfd;
	fd = open(proc, flags | O_CLOEXEC);
	n = errno;
	close(pfd);
	errno = (int)n;
	return fd;
}

int uri_open_beneath(const struct uri_policy *p, const char *path, int flags)
{
	struct open_how how = {
		.flags = (unsigned)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	const char *rel;
	long fd;

	if (!p)
		return open(path, flags | O_CLOEXEC);
	if (p->dirfd < 0 || !(rel = uri_rel(p, path))) {
		errno = EACCES;
		return -1;
	}
	if (!rel[0]) {
		errno = EISDIR;
		return -1;
	}
	fd = syscall(SYS_openat2, p->dirfd, rel, &how, sizeof how);
	if (fd < 0 && (errno == ENOSYS || errno == EXDEV))
		return uri_open_verify(p, path, flags);
	return (int)fd;
}
