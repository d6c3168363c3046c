/* api_static.c — the web UI's files (webui/ in the source tree), served
 * without a token: they hold no data; every /api call they make needs it.
 *
 * Paths are limited to [A-Za-z0-9._-] names, one directory deep, no name
 * starting with '.'; files are opened with O_NOFOLLOW relative to the web
 * UI directory, so nothing outside it is reachable.
 */
#include "api_int.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *ext, *type;
} api_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".json", "application/json" },
	{ ".txt", "text/plain; charset=utf-8" },
};

static const char *api_type_of(const char *path)
{
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof api_types / sizeof api_types[0];
	     i++)
		if (strcmp(dot, api_types[i].ext) == 0)
			return api_types[i].type;
	return NULL;
}

static bool api_path_ok(const char *p)
{
	int slashes = 0;

	if (!*p || strlen(p) > 128)
		return false;
	for (const char *c = p; *c; c++) {
		if (*c == '/') {
			if (++slashes > 1 || c[1] == '.' || c[1] == '\0')
				return false;
		} else if (!strchr("abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *c)) {
			return false;
		}
	}
	return p[0] != '.';
}

static void api_static_headers(struct MHD_Response *r, const char *type)
{
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data:; "
				"frame-ancestors 'none'; base-uri 'none'; "
				"form-action 'none'");
}

struct MHD_Response *api_static_response(const char *dir, const char *path,
					 unsigned *status)
{
	struct MHD_Response *r;
	const char *type;
	struct stat st;
	int dfd, fd;

	*status = 404;
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	path++;
	if (!dir || !api_path_ok(path) || !(type = api_type_of(path)))
		return NULL;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return NULL;
	fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    !(r = MHD_create_response_from_fd((size_t)st.st_size, fd))) {
		close(fd);
		return NULL;
	}
	api_static_headers(r, type);
	*status = 200;
	return r;
}
