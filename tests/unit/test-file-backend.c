/* test-file-backend.c — backends/file.c: a read cut by end of file (the
 * file shrank under us) is a read error whose log names the end of file
 * and no stale errno; the image is mapped only on 64-bit hosts, and reads
 * and writes past 4 GiB work on 32-bit ones too; the dense flag read by map_write stays consistent
 * while pwrite, trim and map_write run on several threads (race-free
 * under `make check-tsan`). */
#include "backend.h"
#include "log.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static char err[512];
static char path[64];
static const struct backend_open_opts opts512 = { .block_size = 512 };

static struct backend *open_image(off_t size)
{
	struct backend *be;
	int fd;

	snprintf(path, sizeof path, "/tmp/netstick-file-test.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, size) < 0)
		abort();
	close(fd);
	be = backend_open(path, &opts512, err, sizeof err);
	if (!be)
		abort();
	return be;
}

/* Runs fn with stderr going to a file; returns what it wrote. */
static char *capture_stderr(int (*fn)(struct backend *), struct backend *be,
			    int *result)
{
	static char text[4096];
	char cap[] = "/tmp/netstick-stderr.XXXXXX";
	int fd = mkstemp(cap), saved = dup(2);
	ssize_t n;

	dup2(fd, 2);
	*result = fn(be);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, text, sizeof text - 1, 0);
	text[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(cap);
	return text;
}

static int read_last_block(struct backend *be)
{
	char buf[512];

	errno = ENOSPC;     /* what a stale errno would show */
	return backend_pread(be, buf, 512, be->size - 512);
}

TEST(read_past_shrunk_end_is_read_error_without_stale_errno)
{
	struct backend *be = open_image(1 << 20);
	int r;
	char *log;

	if (truncate(path, 1 << 19) < 0)
		abort();
	log = capture_stderr(read_last_block, be, &r);
	CHECK_EQ(r, BE_EIO_READ);
	CHECK(strstr(log, "hit end of file") != NULL);
	CHECK(strstr(log, "No space") == NULL);
	CHECK(strstr(log, strerror(ENOSPC)) == NULL);
	backend_close(be);
	unlink(path);
}

/* ---- 32-bit hosts: no mapping, pread and 64-bit offsets -------------- */

/* The whole image is mapped only where the address space has room for
 * it; on 32-bit hosts (armhf) every read is a pread. */
TEST(image_mapped_only_on_64_bit_hosts)
{
	struct backend *be = open_image(1 << 20);
	const void *map = backend_map(be, 4096, 0);

	if (sizeof(void *) < 8)
		CHECK(map == NULL);
	else
		CHECK(map != NULL);
	backend_close(be);
	unlink(path);
}

/* An image above 4 GiB (sparse) on any host: size, a write and a read
 * back past 4 GiB (off_t must be 64 bits on armhf too), and a read of
 * the last block, FUA included. */
TEST(image_above_4_gib_reads_and_writes_past_4_gib)
{
	const uint64_t size = 5ULL << 30, off = (4ULL << 30) + 4096;
	struct backend *be = open_image((off_t)size);
	char buf[4096], back[4096];

	CHECK_EQ(be->size, (int64_t)size);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)(i * 7 + 1);
	CHECK_EQ(backend_pwrite(be, buf, sizeof buf, off, BACKEND_FUA), 0);
	CHECK_EQ(backend_pread(be, back, sizeof back, off), 0);
	CHECK(memcmp(buf, back, sizeof buf) == 0);
	/* Not aliased to the same offset modulo 4 GiB. */
	CHECK_EQ(backend_pread(be, back, sizeof back, 4096), 0);
	CHECK(memcmp(buf, back, sizeof buf) != 0);
	CHECK_EQ(backend_pread(be, back, 512, size - 512), 0);
	backend_close(be);
	unlink(path);
}

/* ---- dense flag under concurrency ------------------------------------ */

static struct backend *shared;
static pthread_barrier_t go;

static void *writer(void *arg)
{
	char buf[4096];

	memset(buf, (int)(intptr_t)arg, sizeof buf);
	pthread_barrier_wait(&go);
	for (int i = 0; i < 200; i++)
		if (backend_pwrite(shared, buf, sizeof buf,
				   (uint64_t)(i % 64) * 4096, 0) != 0)
			abort();
	return NULL;
}

static void *trimmer(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&go);
	for (int i = 0; i < 200; i++)
		if (backend_trim(shared, 4096, (uint64_t)(i % 64) * 4096) != 0)
			abort();
	return NULL;
}

static void *mapper(void *arg)
{
	unsigned got = 0;

	(void)arg;
	pthread_barrier_wait(&go);
	for (int i = 0; i < 2000; i++)
		got += backend_map_write(shared, 4096, 0) != NULL;
	return (void *)(uintptr_t)got;
}

TEST(dense_flag_consistent_across_threads)
{
	pthread_t t[4];
	char buf[4096];

	shared = open_image(1 << 20);
	pthread_barrier_init(&go, NULL, 4);
	pthread_create(&t[0], NULL, writer, (void *)1);
	pthread_create(&t[1], NULL, writer, (void *)2);
	pthread_create(&t[2], NULL, trimmer, NULL);
	pthread_create(&t[3], NULL, mapper, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	/* Trimmed last: holes, so no in-place writes until refilled. */
	CHECK_EQ(backend_trim(shared, 4096, 0), 0);
	CHECK(backend_map_write(shared, 4096, 0) == NULL);
	CHECK_EQ(backend_pread(shared, buf, sizeof buf, 0), 0);
	backend_close(shared);
	unlink(path);
}

int main(void)
{
	log_init("test-file-backend", LOG_LVL_WARN);
	RUN(read_past_shrunk_end_is_read_error_without_stale_errno);
	RUN(image_mapped_only_on_64_bit_hosts);
	RUN(image_above_4_gib_reads_and_writes_past_4_gib);
	RUN(dense_flag_consistent_across_threads);
	return test_summary();
}
