/* test-uri.c — backends/uri.c, the one parser of media sources: a table
 * of sources and what every consumer will see (kind, scheme, host,
 * canonical form), the policy's answers, and opening beneath allowed_dir
 * (symlinks out refused, absolute symlinks back in allowed, a FIFO never
 * waited on). */
#include "backend.h"
#include "log.h"
#include "test.h"
#include "uri.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct row {
	const char *source;
	int ok;                   /* 1 parses, 0 refused */
	enum uri_kind kind;
	const char *scheme, *host, *canon;
};

static const struct row rows[] = {
	{ "/srv/a.img", 1, URI_PATH, "file", NULL, "/srv/a.img" },
	{ "/srv//./a.img", 1, URI_PATH, "file", NULL, "/srv/a.img" },
	{ "/srv/x/../a.img", 0, 0, 0, 0, 0 },
	{ "file:///srv/a%20b.img", 1, URI_PATH, "file", NULL, "/srv/a b.img" },
	{ "FILE://localhost/srv/a.img", 1, URI_PATH, "file", NULL, "/srv/a.img" },
	{ "file://evil/srv/a.img", 0, 0, 0, 0, 0 },
	{ "file:///srv/a.img%00x", 0, 0, 0, 0, 0 },
	{ "relative.img", 0, 0, 0, 0, 0 },
	{ "http:/127.0.0.1:18081/disk.img", 1, URI_HTTP, "http", "127.0.0.1",
	  "http://127.0.0.1:18081/disk.img" },
	{ "HTTPS://u:p@Example.COM/x", 1, URI_HTTP, "https", "example.com",
	  "https://u:p@example.com/x" },
	{ "https://[::1]:8443/x", 1, URI_HTTP, "https", "::1",
	  "https://[::1]:8443/x" },
	{ "http://a@b@c/x", 0, 0, 0, 0, 0 },
	{ "http://h/a b", 0, 0, 0, 0, 0 },
	{ "http://h/x\r\nX-Injected: 1", 0, 0, 0, 0, 0 },
	{ "http://%7F/", 0, 0, 0, 0, 0 },    /* curl decodes it to DEL */
	{ "http://%41/x", 1, URI_HTTP, "http", "a", "http://a/x" },
	{ "NBD://H:10809/exp", 1, URI_NBD, "nbd", "h", "nbd://H:10809/exp" },
	{ "nbd:///exp", 1, URI_NBD, "nbd", "localhost", "nbd:///exp" },
	{ "nbd:/127.0.0.1/exp", 0, 0, 0, 0, 0 },
	{ "nbd+unix:///exp?socket=/tmp/s", 1, URI_NBD, "nbd+unix", NULL,
	  "nbd+unix:///exp?socket=/tmp/s" },
	{ "nbd+unix://h/exp?socket=/tmp/s", 0, 0, 0, 0, 0 },
	{ "nbds://[::1]/e", 1, URI_NBD, "nbds", "::1", "nbds://[::1]/e" },
	{ "nbd+vsock:///", 0, 0, 0, 0, 0 },
	{ "Memory:64M", 1, URI_OPAQUE, "memory", NULL, "memory:64M" },
	{ "", 0, 0, 0, 0, 0 },
};

TEST(table_of_sources)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		struct uri u;
		char err[128];
		int got = uri_parse(r->source, &u, err, sizeof err) == 0;

		if (got != r->ok)
			fprintf(stderr, "  %s: parsed %d (%s)\n", r->source,
				got, got ? "" : err);
		CHECK_EQ(got, r->ok);
		if (!got)
			continue;
		CHECK_EQ(u.kind, r->kind);
		CHECK_STR(u.scheme, r->scheme);
		CHECK_STR(u.canon, r->canon);
		if (r->host)
			CHECK_STR(u.host, r->host);
		else
			CHECK(u.host == NULL);
		uri_free(&u);
	}
}

TEST(registry_is_case_insensitive)
{
	CHECK(backend_lookup("HTTPS://h/x") == &backend_http_ops);
	CHECK(backend_lookup("Nbd://h/x") == &backend_nbd_ops);
	CHECK(backend_lookup("/x") == &backend_file_ops);
	CHECK(backend_lookup("FILE:///x") == &backend_file_ops);
	CHECK(backend_lookup("x.img") == NULL);
}

/* What gets network_layers (daemon/lun.c): media not read in place. */
TEST(registry_source_maps_only_local_media)
{
	CHECK(backend_source_maps("/x.img"));
	CHECK(backend_source_maps("file:///x.img"));
	CHECK(backend_source_maps("memory:1M"));
	CHECK(backend_source_maps("seed:0123"));
	CHECK(!backend_source_maps("http://h/x"));
	CHECK(!backend_source_maps("HTTPS://h/x"));
	CHECK(!backend_source_maps("nbd://h/"));
	CHECK(!backend_source_maps("nbds://h/"));
	CHECK(!backend_source_maps("x.img"));
}

static const char *const schemes[] = { "file", "http", "nbd", NULL };
static const char *const hosts[] = { "127.0.0.2", "*.lab.example", NULL };

static const char *policy_code(const struct uri_policy *p, const char *src)
{
	static char msg[256];
	const char *code = "ok";
	struct uri u;

	if (uri_parse(src, &u, msg, sizeof msg) < 0)
		return "unparsed";
	if (uri_policy_check(p, &u, &code, msg, sizeof msg) == 0)
		code = "ok";
	uri_free(&u);
	return code;
}

TEST(policy_answers)
{
	char dir[] = "/tmp/netstick-uri.XXXXXX", src[128];
	struct uri_policy p;

	CHECK(mkdtemp(dir) != NULL);
	CHECK_EQ(uri_policy_init(&p, schemes, hosts, dir), 0);
	CHECK_STR(policy_code(&p, "http:/127.0.0.1:1/x"), "host_not_allowed");
	CHECK_STR(policy_code(&p, "HTTP://127.0.0.2:1/x"), "ok");
	CHECK_STR(policy_code(&p, "https://127.0.0.2/x"), "scheme_not_allowed");
	CHECK_STR(policy_code(&p, "nbd:///x"), "host_not_allowed");
	CHECK_STR(policy_code(&p, "nbd://a.lab.example/x"), "ok");
	CHECK_STR(policy_code(&p, "nbd://lab.example/x"), "host_not_allowed");
	CHECK_STR(policy_code(&p, "nbd://127.0.0.2/x?tls-psk-file=/etc/k"),
		  "source_invalid");
	CHECK_STR(policy_code(&p, "/etc/passwd"), "path_not_allowed");
	snprintf(src, sizeof src, "%s/a.img", dir);
	CHECK_STR(policy_code(&p, src), "ok");
	snprintf(src, sizeof src, "%s.evil/a.img", dir);
	CHECK_STR(policy_code(&p, src), "path_not_allowed");
	uri_policy_fini(&p);
	rmdir(dir);
}

TEST(open_beneath_allowed_dir)
{
	char dir[] = "/tmp/netstick-uri.XXXXXX", a[96], out[96], back[96];
	char fifo[96];
	struct uri_policy p;
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(a, sizeof a, "%s/a.img", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	snprintf(back, sizeof back, "%s/back", dir);
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	close(open(a, O_CREAT | O_WRONLY, 0600));
	CHECK_EQ(symlink("/etc/hostname", out), 0);
	CHECK_EQ(symlink(a, back), 0);            /* absolute, points inside */
	CHECK_EQ(mkfifo(fifo, 0600), 0);
	CHECK_EQ(uri_policy_init(&p, schemes, hosts, dir), 0);
	fd = uri_open_beneath(&p, a, O_RDONLY);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(uri_open_beneath(&p, out, O_RDONLY), -1);
	CHECK(errno == EXDEV);
	fd = uri_open_beneath(&p, back, O_RDONLY);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(uri_open_beneath(&p, "/etc/hostname", O_RDONLY), -1);
	CHECK(errno == EACCES);
	fd = uri_open_beneath(&p, fifo, O_RDONLY | O_NONBLOCK);
	CHECK(fd >= 0);                           /* did not wait */
	close(fd);
	uri_policy_fini(&p);
	unlink(a);
	unlink(out);
	unlink(back);
	unlink(fifo);
	rmdir(dir);
}

TEST(file_backend_opens_beneath_with_policy)
{
	char dir[] = "/tmp/netstick-uri.XXXXXX", out[96], err[256];
	struct uri_policy p;
	struct backend_open_opts o = { .block_size = 512, .policy = &p };

	CHECK(mkdtemp(dir) != NULL);
	snprintf(out, sizeof out, "%s/out.img", dir);
	CHECK_EQ(symlink("/etc/hostname", out), 0);
	CHECK_EQ(uri_policy_init(&p, schemes, hosts, dir), 0);
	CHECK(backend_open(out, &o, err, sizeof err) == NULL);
	CHECK(strstr(err, "leaves api.allowed_dir") != NULL);
	uri_policy_fini(&p);
	unlink(out);
	rmdir(dir);
}

int main(void)
{
	log_init("test-uri", LOG_LVL_WARN);
	RUN(table_of_sources);
	RUN(registry_is_case_insensitive);
	RUN(registry_source_maps_only_local_media);
	RUN(policy_answers);
	RUN(open_beneath_allowed_dir);
	RUN(file_backend_opens_beneath_with_policy);
	return test_summary();
}
