/* betool — drive one backend from the shell, for tests/backends/test-*.sh.
 *
 *   betool [-r] [-d] [-b BLOCK] [-o KEY=VALUE]... [-l LAYER]... SOURCE
 *          [COMMAND ARGS]...
 *   betool redact STRING
 *
 * Opens SOURCE through backend_open() (the registry, the central checks,
 * the layers given with -l, bottom-most first, "name:key=value,..."),
 * then runs the commands in order, one line on stdout each:
 *
 *   info                 size, read-only and abilities
 *   ready                backend_ready()
 *   identity             backend_identity(): "identity: LINE" per line,
 *                        then "identity-strength: strong|weak"
 *   pcache-stats         the pcache layer's counters: "pcache: hits N
 *                        misses N bytes-next N used N image N"
 *   read OFF LEN FILE    reads, stores the bytes at OFF in FILE
 *   readall CHUNK FILE   reads the whole medium in CHUNK pieces into FILE
 *   readmt N CHUNK FILE  the same from N threads at once (thread t reads
 *                        pieces t, t+N, ...), each piece stored at its
 *                        offset in FILE; prints the failures per error
 *   write OFF LEN FILE   writes LEN bytes taken from FILE at OFF
 *   writefua OFF LEN FILE
 *   flush
 *   trim OFF LEN
 *   retry N MS           later commands retry BE_ERETRY up to N times,
 *                        MS apart (what a host does on 02/04/01)
 *   signal PATH          creates PATH (tells the test "I got here")
 *   wait PATH            waits (at most 30 s) until PATH exists
 *   sleep MS
 *
 * A command prints "CMD: ok" or "CMD: BE_NAME (message)" and the time it
 * took.  Exit status: 0 when every command succeeded, 1 when one failed,
 * 2 when the open failed ("open: MESSAGE" on stdout), 3 on usage errors.
 * Sizes take K/M suffixes.
 */
#include "backend.h"
#include "log.h"
#include "pcache/pcache.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BETOOL_MAX_OPTS 32
#define BETOOL_MAX_THREADS 64

static unsigned retry_n, retry_ms;

static const char *err_name(int r)
{
	static const char *const names[] = {
		"ok", "BE_EIO_READ", "BE_EIO_WRITE", "BE_ENOMEDIUM",
		"BE_ECHANGED", "BE_ERETRY", "BE_EROFS", "BE_ENOSPC",
		"BE_ENOMEM", "BE_EINVAL", "BE_EUNSUPP", "BE_EOPEN",
	};
	return r <= 0 && -r < (int)(sizeof names / sizeof names[0]) ?
		names[-r] : "BE_?";
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (*end == 'K')
		v <<= 10;
	else if (*end == 'M')
		v <<= 20;
	else if (*end == 'G')
		v <<= 30;
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: betool [-r] [-d] [-b BLOCK] [-o KEY=VALUE]... "
		"[-l LAYER]... SOURCE [COMMAND ARGS]...\n       betool redact STRING\n");
	exit(3);
}

/* Runs one data call, retrying BE_ERETRY as configured. */
static int with_retry(struct backend *be, int op, char *buf, uint32_t len,
		      uint64_t off)
{
	int r;

	for (unsigned i = 0;; i++) {
		switch (op) {
		case 'r': r = backend_pread(be, buf, len, off); break;
		case 'w': r = backend_pwrite(be, buf, len, off, 0); break;
		case 'F': r = backend_pwrite(be, buf, len, off, BACKEND_FUA); break;
		case 'f': r = backend_flush(be); break;
		default: r = backend_trim(be, len, off); break;
		}
		if (r != BE_ERETRY || i >= retry_n)
			return r;
		usleep(retry_ms * 1000);
	}
}

static int file_io(const char *path, char *buf, uint32_t len, uint64_t off,
		   bool out)
{
	int fd = open(path, out ? O_WRONLY | O_CREAT : O_RDONLY, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = out ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static int cmd_rw(struct backend *be, int op, char **a)
{
	uint64_t off = parse_size(a[0]);
	uint32_t len = (uint32_t)parse_size(a[1]);
	char *buf = malloc(len ? len : 1);
	int r;

	if (!buf)
		return BE_ENOMEM;
	if (op != 'r' && file_io(a[2], buf, len, off, false) < 0) {
		fprintf(stderr, "betool: cannot read %s\n", a[2]);
		free(buf);
		return BE_EINVAL;
	}
	r = with_retry(be, op, buf, len, off);
	if (r == 0 && op == 'r' && file_io(a[2], buf, len, off, true) < 0)
		r = BE_EINVAL;
	free(buf);
	return r;
}

static int cmd_readall(struct backend *be, char **a)
{
	uint32_t chunk = (uint32_t)parse_size(a[0]);
	char *buf = malloc(chunk);
	int r = 0;

	if (!buf || !chunk)
		return BE_ENOMEM;
	for (uint64_t off = 0; off < be->size && r == 0; off += chunk) {
		uint32_t len = be->size - off < chunk ? (uint32_t)(be->size - off)
						       : chunk;
		r = with_retry(be, 'r', buf, len, off);
		if (r == 0 && file_io(a[1], buf, len, off, true) < 0)
			r = BE_EINVAL;
	}
	free(buf);
	return r;
}

/* One thread of readmt. */
struct mt_job {
	struct backend *be;
	uint32_t chunk;
	unsigned t, n;
	const char *file;
	atomic_uint *fails;        /* per -error, BE_EOPEN+1 entries */
};

static void *mt_reader(void *arg)
{
	struct mt_job *j = arg;
	char *buf = malloc(j->chunk);
	uint64_t size = j->be->size;

	if (!buf)
		abort();
	for (uint64_t off = (uint64_t)j->t * j->chunk; off < size;
	     off += (uint64_t)j->n * j->chunk) {
		uint32_t len = size - off < j->chunk ? (uint32_t)(size - off)
						       : j->chunk;
		int r = with_retry(j->be, 'r', buf, len, off);
		if (r == 0 && file_io(j->file, buf, len, off, true) < 0)
			r = BE_EINVAL;
		if (r < 0)
			atomic_fetch_add(&j->fails[-r], 1);
	}
	free(buf);
	return NULL;
}

static int cmd_readmt(struct backend *be, char **a)
{
	unsigned n = (unsigned)atoi(a[0]);
	uint32_t chunk = (uint32_t)parse_size(a[1]);
	pthread_t t[BETOOL_MAX_THREADS];
	struct mt_job j[BETOOL_MAX_THREADS];
	atomic_uint fails[-BE_EOPEN + 1];
	int r = 0;

	if (n < 1 || n > BETOOL_MAX_THREADS || !chunk)
		return BE_EINVAL;
	for (int e = 0; e <= -BE_EOPEN; e++)
		atomic_init(&fails[e], 0);
	for (unsigned i = 0; i < n; i++) {
		j[i] = (struct mt_job){ .be = be, .chunk = chunk, .t = i,
					.n = n, .file = a[2], .fails = fails };
		if (pthread_create(&t[i], NULL, mt_reader, &j[i]) != 0)
			abort();
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	for (int e = 1; e <= -BE_EOPEN; e++) {
		if (!atomic_load(&fails[e]))
			continue;
		printf("readmt: %u x %s\n", atomic_load(&fails[e]), err_name(-e));
		r = -e;
	}
	return r;
}

static int cmd_wait(const char *path)
{
	struct stat st;

	for (int i = 0; i < 3000; i++) {
		if (stat(path, &st) == 0)
			return 0;
		usleep(10000);
	}
	return BE_EINVAL;
}

static void cmd_info(struct backend *be)
{
	printf("size %llu readonly %d flush %d fua %d trim %d\n",
	       (unsigned long long)be->size, be->readonly, be->can_flush,
	       be->can_fua, be->can_trim);
}

static int cmd_identity(struct backend *be)
{
	char id[BACKEND_IDENTITY_MAX];
	int r = backend_identity(be, id, sizeof id);

	if (r < 0)
		return r;
	for (char *line = strtok(id, "\n"); line; line = strtok(NULL, "\n"))
		printf("identity: %s\n", line);
	printf("identity-strength: %s\n", r ? "weak" : "strong");
	return 0;
}

static void cmd_pcache_stats(struct backend *be)
{
	struct pcache_stats st;

	pcache_get_stats(be, &st);
	printf("pcache: hits %llu misses %llu bytes-next %llu used %llu "
	       "image %llu\n", (unsigned long long)st.hits,
	       (unsigned long long)st.misses,
	       (unsigned long long)st.bytes_next,
	       (unsigned long long)st.used,
	       (unsigned long long)st.image_bytes);
}

/* Runs the command at argv[0]; returns how many words it used, or -1. */
static int run_cmd(struct backend *be, char **argv, int argc, int *result)
{
	const char *c = argv[0];
	int words = 1;

	*result = 0;
	if (!strcmp(c, "info")) cmd_info(be);
	else if (!strcmp(c, "ready")) *result = backend_ready(be);
	else if (!strcmp(c, "identity")) *result = cmd_identity(be);
	else if (!strcmp(c, "pcache-stats")) cmd_pcache_stats(be);
	else if (!strcmp(c, "flush")) *result = with_retry(be, 'f', NULL, 0, 0);
	else if (!strcmp(c, "read") && argc > 3) { *result = cmd_rw(be, 'r', argv + 1); words = 4; }
	else if (!strcmp(c, "write") && argc > 3) { *result = cmd_rw(be, 'w', argv + 1); words = 4; }
	else if (!strcmp(c, "writefua") && argc > 3) { *result = cmd_rw(be, 'F', argv + 1); words = 4; }
	else if (!strcmp(c, "readall") && argc > 2) { *result = cmd_readall(be, argv + 1); words = 3; }
	else if (!strcmp(c, "readmt") && argc > 3) { *result = cmd_readmt(be, argv + 1); words = 4; }
	else if (!strcmp(c, "trim") && argc > 2) {
		*result = with_retry(be, 't', NULL, (uint32_t)parse_size(argv[2]),
				     parse_size(argv[1]));
		words = 3;
	} else if (!strcmp(c, "retry") && argc > 2) {
		retry_n = (unsigned)atoi(argv[1]);
		retry_ms = (unsigned)atoi(argv[2]);
		words = 3;
	} else if (!strcmp(c, "signal") && argc > 1) {
		int fd = open(argv[1], O_WRONLY | O_CREAT, 0644);
		if (fd >= 0)
			close(fd);
		words = 2;
	} else if (!strcmp(c, "wait") && argc > 1) { *result = cmd_wait(argv[1]); words = 2; }
	else if (!strcmp(c, "sleep") && argc > 1) { usleep((useconds_t)atoi(argv[1]) * 1000); words = 2; }
	else return -1;
	return words;
}

/* Runs the commands in order; 1 if one failed, 3 on a usage error. */
static int run_all(struct backend *be, char **argv, int argc)
{
	int failed = 0;

	for (int i = 0; i < argc;) {
		long long t0 = now_ms();
		int r, used = run_cmd(be, argv + i, argc - i, &r);
		if (used < 0) {
			fprintf(stderr, "betool: bad command %s\n", argv[i]);
			return 3;
		}
		printf("%s: %s (%lld ms)\n", argv[i], err_name(r), now_ms() - t0);
		fflush(stdout);
		failed |= r != 0;
		i += used;
	}
	return failed;
}

int main(int argc, char **argv)
{
	const char *opts_kv[BETOOL_MAX_OPTS + 1] = { NULL };
	const char *layers[BETOOL_MAX_OPTS + 1] = { NULL };
	struct backend_open_opts o = { .block_size = 512, .options = opts_kv,
				       .layers = layers };
	unsigned nopts = 0, nlayers = 0;
	char err[512];
	int c, failed;

	log_init("betool", LOG_LVL_INFO);
	if (argc == 3 && !strcmp(argv[1], "redact")) {
		printf("%s\n", backend_redact(argv[2], err, sizeof err));
		return 0;
	}
	while ((c = getopt(argc, argv, "rdb:o:l:")) != -1) {
		switch (c) {
		case 'r': o.readonly = true; break;
		case 'd': log_enable_debug(LOG_MOD_BACKEND); break;
		case 'b': o.block_size = (uint32_t)atoi(optarg); break;
		case 'o':
			if (nopts >= BETOOL_MAX_OPTS)
				usage();
			opts_kv[nopts++] = optarg;
			break;
		case 'l':
			if (nlayers >= BETOOL_MAX_OPTS)
				usage();
			layers[nlayers++] = optarg;
			break;
		default: usage();
		}
	}
	if (optind >= argc)
		usage();
	long long t0 = now_ms();
	struct backend *be = backend_open(argv[optind], &o, err, sizeof err);
	if (!be) {
		printf("open: %s (%lld ms)\n", err, now_ms() - t0);
		return 2;
	}
	printf("open: ok (%lld ms)\n", now_ms() - t0);
	fflush(stdout);
	failed = run_all(be, argv + optind + 1, argc - optind - 1);
	backend_close(be);
	return failed;
}
