/* memory.c — the example backend: a RAM disk, "memory:SIZE".
 *
 * Kept deliberately tiny as the template for new backends: copy this file,
 * fill in the ops, add one line to registry.c.  Also used by unit tests and
 * fuzzers, which need media with no file system behind it.
 *
 * SIZE is bytes with an optional K, M or G suffix (powers of 1024), at most
 * 1 GiB.  Contents start zeroed and vanish on close.  The buffer is an
 * anonymous mapping: pages cost memory only once written (a "memory:1G"
 * LUN read end to end stays small), and opening one touches nothing.
 *
 * Threads: PARALLEL, really: the handle is fixed after open and every op
 * is a memcpy into or out of the buffer.  Calls on disjoint ranges never
 * meet; overlapping concurrent writes (or a read racing a write of the
 * same bytes) give a mix of both, as on a real disk, and SCSI leaves that
 * undefined too; the daemon does not issue them.
 */
#include "backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MEMORY_MAX_SIZE (1ull << 30)

struct memory_handle {
	unsigned char *data;
	uint64_t size;
};

/* Parses "64M" style sizes; returns 0 on error. */
static uint64_t memory_parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || v == 0)
		return 0;
	switch (*end) {
	case 'K': v <<= 10; end++; break;
	case 'M': v <<= 20; end++; break;
	case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end != '\0' || v > MEMORY_MAX_SIZE)
		return 0;
	return v;
}

static int memory_open(const char *source, const struct backend_open_opts *o,
		       void **handle, char *err, size_t errlen)
{
	struct memory_handle *mh;
	uint64_t size = memory_parse_size(source + strlen("memory:"));

	(void)o;
	if (size == 0) {
		snprintf(err, errlen, "memory: size must be 1..1G (e.g. memory:64M)");
		return BE_EOPEN;
	}
	if (!(mh = calloc(1, sizeof *mh)))
		return BE_ENOMEM;
	mh->data = mmap(NULL, size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mh->data == MAP_FAILED) {
		free(mh);
		return BE_ENOMEM;
	}
	mh->size = size;
	*handle = mh;
	return 0;
}

static void memory_close(void *handle)
{
	struct memory_handle *mh = handle;

	munmap(mh->data, mh->size);
	free(mh);
}

static int64_t memory_get_size(void *handle)
{
	return (int64_t)((struct memory_handle *)handle)->size;
}

static int memory_can_write(void *handle)
{
	(void)handle;
	return 1;
}

static int memory_pread(void *handle, void *buf, uint32_t count, uint64_t off)
{
	memcpy(buf, ((struct memory_handle *)handle)->data + off, count);
	return 0;
}

static int memory_pwrite(void *handle, const void *buf, uint32_t count,
			 uint64_t off, uint32_t flags)
{
	(void)flags;  /* RAM has nothing to make durable */
	memcpy(((struct memory_handle *)handle)->data + off, buf, count);
	return 0;
}

/* The buffer itself: reads need no copy (backend_map). */
static const void *memory_map(void *handle, uint32_t count, uint64_t off)
{
	(void)count;
	return ((struct memory_handle *)handle)->data + off;
}

/* Writes land in the buffer too (backend_map_write; never when the
 * instance is read-only: backend.c checks). */
static void *memory_map_write(void *handle, uint32_t count, uint64_t off)
{
	(void)count;
	return ((struct memory_handle *)handle)->data + off;
}

static const char *const memory_schemes[] = { "memory", NULL };

const struct backend_ops backend_example_ops = {
	.ops_size = sizeof(struct backend_ops),
	.name = "memory",
	.schemes = memory_schemes,
	.thread_model = BACKEND_PARALLEL,
	.open = memory_open,
	.close = memory_close,
	.get_size = memory_get_size,
	.can_write = memory_can_write,
	.pread = memory_pread,
	.pwrite = memory_pwrite,
	.map = memory_map,
	.map_write = memory_map_write,
};
