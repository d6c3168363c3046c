/* uri.h — the one parser of media sources, and the source policy.
 *
 * Every consumer of a source string calls uri_parse() and uses what it
 * returns: the admin API's policy (daemon/media_policy.c), redaction
 * (backend_redact), the registry (backend_lookup) and, through
 * backend_open(), every backend, which receives the canonical form.  No
 * other code looks at a source's characters to decide anything, so no
 * string is ever read one way by the check and another by the opener.
 *
 * Which parser, by scheme (case-insensitive; canonical form lower-case):
 *
 *   kind       schemes                      parsed by            canonical
 *   URI_PATH   (none: "/abs"), file:        here (RFC 8089        "/abs/path"
 *                                           local subset)
 *   URI_HTTP   http, https                  libcurl's URL API     curl's URL
 *                                           (the fetcher's own)   host lower-case
 *   URI_NBD    nbd, nbds, nbd+unix,         libxml2 xmlParseURI   "scheme://" +
 *              nbds+unix                    (libnbd's own)        the rest
 *   URI_OPAQUE memory, anything "scheme:"   here: scheme only     scheme lower-case
 *
 * Each network kind is parsed by the library its backend hands the string
 * to, so the host the policy checks is the host the backend connects to:
 * libcurl reads "http:/host" (one slash) as host "host", libnbd's parser
 * reads "nbd+unix:///exp" as no host and export "exp" (libcurl would not).
 * NBD URIs must have "://" (libnbd's rule); one without a server means
 * "localhost" (libnbd substitutes it), and that is what the policy checks.
 *
 * No source may contain a control character (NUL cannot be in a C string;
 * CR, LF, TAB and the rest are refused), and every part has a hard length
 * limit (URI_MAX).
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef NS_URI_H
#define NS_URI_H

#include <stdbool.h>
#include <stddef.h>

#define URI_MAX 4096              /* bytes in a source, NUL excluded */

enum uri_kind { URI_PATH, URI_HTTP, URI_NBD, URI_OPAQUE };

struct uri {
	enum uri_kind kind;
	char scheme[24];          /* lower case; "file" for a path */
	char *canon;              /* heap: the canonical source, fragment
				   * ("#opt=v") kept; for URI_PATH the path */
	char *host;               /* heap, lower case, IPv6 without brackets;
				   * NULL for paths, unix sockets, opaque */
	int port;                 /* -1 when none given */
	bool userinfo;            /* "user[:pw]@" in the authority */
	bool unix_socket;         /* nbd+unix, nbds+unix */
	char *query;              /* heap copy of the raw query, or NULL */
};

/* Parses source.  Returns 0 with *u filled (free with uri_free), or -1
 * with a message in err that never quotes the source (it may hold a
 * credential) and *u zeroed. */
int uri_parse(const char *source, struct uri *u, char *err, size_t errlen);
void uri_free(struct uri *u);

/* The lower-case scheme of source into buf ("file" for a path); -1 when
 * source is not a source at all.  Cheap (no library parse): for the
 * registry, which then hands backend_open the canonical form. */
int uri_scheme(const char *source, char *buf, size_t len);

/* ---- the source policy ------------------------------------------------
 *
 * What a source typed by an untrusted client (admin API, Redfish) may
 * name.  Built once from config api.allowed_* (uri_policy_init), shared
 * read-only by every thread afterwards, and passed down to the backends
 * with backend_open_opts.policy, where it is enforced again at the moment
 * of use:
 *
 *   schemes   the scheme must be listed (a plain path counts as "file")
 *   hosts     network URIs name a listed host ("*.example.com" matches
 *             any subdomain); NULL = any.  HTTP re-checks every redirect
 *             hop (scheme and host) before sending the request.
 *   dirfd     local files are opened relative to this O_PATH descriptor
 *             of allowed_dir with openat2(RESOLVE_BENEATH |
 *             RESOLVE_NO_MAGICLINKS): no symlink, "..", or rename race can
 *             leave the directory, because the check is the open.
 *
 * Sources from the config's catalog are trusted and carry no policy.
 */
struct uri_policy {
	const char *const *schemes;   /* NULL-terminated */
	const char *const *hosts;     /* NULL-terminated, NULL = any */
	int dirfd;                    /* O_PATH of allowed_dir, or -1 */
	char *dir;                    /* allowed_dir as configured, no
				       * trailing '/', or NULL */
	char *realdir;                /* its realpath, or NULL */
};

/* Returns 0, or -1 with errno (allowed_dir that exists but cannot be
 * opened).  A missing allowed_dir leaves dirfd -1: no local files. */
int uri_policy_init(struct uri_policy *p, const char *const *schemes,
		    const char *const *hosts, const char *allowed_dir);
void uri_policy_fini(struct uri_policy *p);

/* Checks a parsed source against the policy: scheme, host, and for local
 * files that the path is lexically under allowed_dir.  Returns 0, or -1
 * with *code a stable error code ("scheme_not_allowed",
 * "host_not_allowed", "path_not_allowed", "source_invalid") and msg fit
 * for a client. */
int uri_policy_check(const struct uri_policy *p, const struct uri *u,
		     const char **code, char *msg, size_t msglen);
/* True when host matches an allowed_hosts entry (or the list is NULL). */
bool uri_policy_host_ok(const struct uri_policy *p, const char *host);

/* Opens the local file path (canonical, absolute) the way the policy
 * allows: p NULL (trusted) opens it plainly; else path must lie under
 * p->dir or p->realdir and is opened relative to p->dirfd with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so no component may
 * leave the directory.  flags as for open(2) (O_CLOEXEC is added).
 * Returns the fd, or -1 with errno (EXDEV or ELOOP: it would leave the
 * directory; EACCES: not under it).  openat2 refuses every absolute
 * symlink, even one pointing back inside, and kernels before 5.6 have no
 * openat2 (ENOSYS): then the file is opened and the opened object's own
 * path (/proc/self/fd/N) must lie under the real allowed_dir before the
 * same inode is reopened through /proc, which is as race-free (the check
 * is on the open file, not on a name) but needs /proc. */
int uri_open_beneath(const struct uri_policy *p, const char *path, int flags);

#endif
