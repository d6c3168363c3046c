/* media_policy.c — which media sources an API client may insert.
 *
 * The config's catalog (images:) is trusted; a source a client types is
 * not.  The decision is backends/uri.c's (uri_parse + uri_policy_check,
 * the parser every backend uses too); this file adds what only a
 * front end knows:
 *   - local files are opened once here, beneath api.allowed_dir
 *     (uri_open_beneath), to answer "no such file" or "not a regular
 *     file" before anything is ejected; the backend opens the same way
 *     again, so the check that matters is the open that serves;
 *   - options naming local files (ca-file, client-cert, ...) cannot come
 *     from a client: which file of the board becomes a key or a trust
 *     anchor is the config's business, and the error is the same
 *     whether the file exists or not;
 *   - the checked, canonical source goes into out, and the policy rides
 *     along to the backend (media.c: lun_media_req.policy).
 * Messages never echo the source whole (it may carry credentials).
 */
#include "media.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int media_policy_init(struct media_policy *p, const struct config_api *cfg)
{
	if (uri_policy_init(&p->uri, (const char *const *)cfg->allowed_schemes,
			    (const char *const *)cfg->allowed_hosts,
			    cfg->allowed_dir) < 0) {
		log_err("api: allowed_dir %s", cfg->allowed_dir);
		return -1;
	}
	return 0;
}

void media_policy_fini(struct media_policy *p)
{
	uri_policy_fini(&p->uri);
}

/* The pre-open of a local file: the same open the backend makes. */
static int policy_probe_file(const struct media_policy *p, const char *path,
			     const char **code, char *msg, size_t msglen)
{
	struct stat st;
	int fd = uri_open_beneath(&p->uri, path, O_PATH);
	int e = errno;

	if (fd < 0) {
		*code = e == ENOENT ? "source_not_found" : "path_not_allowed";
		snprintf(msg, msglen, "%s", e == ENOENT ? "no such file" :
			 e == EXDEV || e == ELOOP ? "the path leaves "
			 "api.allowed_dir (through a symlink or \"..\")" :
			 strerror(e));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) ||
				    S_ISBLK(st.st_mode))) {
		close(fd);
		*code = "path_not_allowed";
		snprintf(msg, msglen, "not a regular file or block device");
		return -1;
	}
	close(fd);
	return 0;
}

/* Keys whose value is a local file's name. */
static bool policy_file_key(const char *kv, size_t n)
{
	static const char *const keys[] = {
		"ca-file", "ca-path", "client-cert", "client-key",
		"tls-certificates", "tls-psk-file", NULL,
	};

	for (const char *const *k = keys; *k; k++)
		if (strlen(*k) == n && strncmp(*k, kv, n) == 0)
			return true;
	return false;
}

/* Any "key=value" of the list (or of the '&'-separated fragment) names
 * a local file: the key into bad. */
static bool policy_names_file(const char *const *options, const char *frag,
			      char *bad, size_t badlen)
{
	for (; options && *options; options++) {
		size_t n = strcspn(*options, "=");
		if (policy_file_key(*options, n)) {
			snprintf(bad, badlen, "%.*s", (int)n, *options);
			return true;
		}
	}
	while (frag && *frag) {
		size_t len = strcspn(frag, "&"), n = strcspn(frag, "=&");
		if (policy_file_key(frag, n)) {
			snprintf(bad, badlen, "%.*s", (int)n, frag);
			return true;
		}
		frag += len + (frag[len] ? 1 : 0);
	}
	return false;
}

/* An option with CR, LF or another control character (a header line
 * injected on the wire): its key into bad. */
static bool policy_options_ctl(const char *const *options, char *bad,
			       size_t badlen)
{
	for (; options && *options; options++)
		for (const char *c = *options; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				snprintf(bad, badlen, "%.*s",
					 (int)strcspn(*options, "=\r\n"),
					 *options);
				return true;
			}
	return false;
}

int media_policy_check(const struct media_policy *p, const char *source,
		       const char *const *options, char *out, size_t outlen,
		       const char **code, char *msg, size_t msglen)
{
	const char *hash;
	struct uri u;
	char key[32];
	int r = -1;

	*code = "source_invalid";
	if (uri_parse(source, &u, msg, msglen) < 0) {
		if (uri_scheme(source, key, sizeof key) == 0 &&
		    !strcmp(key, "file"))
			*code = "path_not_allowed";
		return -1;
	}
	if (strlen(u.canon) >= outlen) {
		snprintf(msg, msglen, "the source is longer than %zu bytes",
			 outlen - 1);
		goto out;
	}
	if (uri_policy_check(&p->uri, &u, code, msg, msglen) < 0)
		goto out;
	if (policy_options_ctl(options, key, sizeof key)) {
		*code = "option_invalid";
		snprintf(msg, msglen, "option \"%s\": control characters "
			 "(CR, LF, ...) are not allowed", key);
		goto out;
	}
	hash = u.kind == URI_PATH ? NULL : strchr(u.canon, '#');
	if (policy_names_file(options, hash ? hash + 1 : NULL, key,
			      sizeof key)) {
		*code = "option_not_allowed";
		snprintf(msg, msglen, "option \"%s\" names a local file: "
			 "only the config's catalog (images:) may do that",
			 key);
		goto out;
	}
	if (u.kind == URI_PATH &&
	    policy_probe_file(p, u.canon, code, msg, msglen) < 0)
		goto out;
	snprintf(out, outlen, "%s", u.canon);
	r = 0;
out:
	uri_free(&u);
	return r;
}
