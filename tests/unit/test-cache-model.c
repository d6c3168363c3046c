/* test-cache-model.c — the cache layer against a reference disk.
 *
 * Four threads run thousands of random reads, writes (some FUA), trims
 * and flushes through cache (1 MiB, so it evicts all the time, with
 * read-ahead) over inject (delays, and 2% of reads and writes failing)
 * over a file.  Each thread owns a region and keeps its bytes in the
 * reference; all of them also read a shared region nobody writes, so
 * loads meet, wait for each other and race the writes elsewhere.  Every
 * successful read must equal the reference (a failed write never reaches
 * the file: inject fails it above, so the reference keeps the old bytes,
 * and the cache must have dropped what it had).  Between rounds the
 * medium is ejected (the chain closed) and opened again, and the whole
 * image read back.  The same again with write=back (dirty blocks held,
 * written down by flushes, FUA, a 1-second flusher, a full dirty set and
 * the close): there a failed write's bytes are unknown (it may have been
 * taken before its FUA flush failed) until a later write covers them, and
 * a failed flush is retried, as a host does.  Runs under ASan and TSan
 * with the other unit tests.
 */
#include "backend.h"
#include "log.h"
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define THREADS 4
#define REGION (1u << 20)
#define SHARED (1u << 20)
#define IMAGE (THREADS * REGION + SHARED)
#define ROUNDS 4
#define OPS 600

static char path[64];
static unsigned char *ref;       /* the reference disk */
static unsigned char *unknown;   /* 1: a failed write may have changed it */
static const char *const wt_layers[] = {
	"inject:delay-ms=1,error-rate=0.02,seed=11",
	"cache:size-mib=1,block-kib=4,ra-threads=2,ra-max-mib=1",
	NULL,
};
static const char *const wb_layers[] = {
	"inject:delay-ms=1,error-rate=0.02,seed=11",
	"cache:size-mib=1,block-kib=4,ra-threads=2,ra-max-mib=1,write=back,"
	"dirty-mib=1,flush-seconds=1",
	NULL,
};
static const char *const *layers = wt_layers;
static bool write_back;

/* Whether b equals the reference at off, bytes of unknown content aside. */
static bool model_same(const unsigned char *b, uint64_t off, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (!unknown[off + i] && b[i] != ref[off + i])
			return false;
	return true;
}

struct worker {
	struct backend *be;
	unsigned id, seed;
	unsigned reads, writes, trims, flushes, failed, bad;
};

static uint32_t rnd_len(unsigned *seed, uint32_t max)
{
	uint32_t sectors = 1 + (uint32_t)rand_r(seed) % 256;   /* to 128 KiB */

	if (sectors * 512 > max)
		sectors = max / 512;
	return sectors * 512;
}

static void worker_read(struct worker *w, uint64_t base, uint32_t span)
{
	uint32_t len = rnd_len(&w->seed, span);
	uint64_t off = base + (uint64_t)(rand_r(&w->seed) %
					  ((span - len) / 512 + 1)) * 512;
	unsigned char *b = malloc(len);
	int r = backend_pread(w->be, b, len, off);

	w->reads++;
	if (r == BE_EIO_READ)
		w->failed++;
	else if (r != 0 || !model_same(b, off, len))
		w->bad++;
	free(b);
}

static void worker_write(struct worker *w, uint64_t base, bool trim)
{
	uint32_t len = rnd_len(&w->seed, REGION);
	uint64_t off = base + (uint64_t)(rand_r(&w->seed) %
					  ((REGION - len) / 512 + 1)) * 512;
	unsigned char *b = malloc(len);
	int r;

	for (uint32_t i = 0; i < len; i++)
		b[i] = (unsigned char)rand_r(&w->seed);
	if (trim) {
		w->trims++;
		r = backend_trim(w->be, len, off);
		memset(b, 0, len);   /* a file punches a hole: zeroes */
	} else {
		w->writes++;
		r = backend_pwrite(w->be, b, len, off,
				   rand_r(&w->seed) % 4 ? 0 : BACKEND_FUA);
	}
	if (r == 0) {
		memcpy(ref + off, b, len);
		memset(unknown + off, 0, len);
	} else if (r == BE_EIO_WRITE) {
		w->failed++;
		if (write_back)
			memset(unknown + off, 1, len);
	} else {
		w->bad++;
	}
	free(b);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint64_t mine = SHARED + (uint64_t)w->id * REGION;

	for (int i = 0; i < OPS; i++) {
		unsigned op = (unsigned)rand_r(&w->seed) % 100;

		if (op < 35)
			worker_read(w, mine, REGION);
		else if (op < 55)
			worker_read(w, 0, SHARED);
		else if (op < 65) {   /* a sequential burst: read-ahead */
			uint64_t at = mine + (uint64_t)(rand_r(&w->seed) % 8) *
					     (REGION / 8);
			for (int k = 0; k < 4; k++)
				worker_read(w, at + k * 32768u, 32768);
		} else if (op < 90)
			worker_write(w, mine, false);
		else if (op < 95)
			worker_write(w, mine, true);
		else {
			int r = backend_flush(w->be);

			w->flushes++;
			if (r == BE_EIO_WRITE && write_back)
				w->failed++;     /* stays dirty: retried */
			else if (r != 0)
				w->bad++;
		}
	}
	return NULL;
}

static struct backend *model_open(void)
{
	struct backend_open_opts o = { .block_size = 512, .layers = layers };
	char err[256];
	struct backend *be = backend_open(path, &o, err, sizeof err);

	if (!be)
		fprintf(stderr, "  open: %s\n", err);
	return be;
}

/* The whole image through a freshly opened chain equals the reference
 * (reads that inject fails are retried: bounded, 2% each). */
static bool model_matches(struct backend *be)
{
	unsigned char *b = malloc(65536);
	bool ok = true;

	for (uint64_t off = 0; off < IMAGE && ok; off += 65536) {
		int r = BE_EIO_READ;
		for (int t = 0; t < 20 && r == BE_EIO_READ; t++)
			r = backend_pread(be, b, 65536, off);
		ok = r == 0 && model_same(b, off, 65536);
		if (!ok)
			fprintf(stderr, "  mismatch at %llu (r=%d)\n",
				(unsigned long long)off, r);
	}
	free(b);
	return ok;
}

/* An eject: what is dirty goes down first (the LUN flushes before it
 * closes; a failed flush is tried again here, bounded). */
static void model_eject(struct backend *be)
{
	for (int t = 0; t < 50 && backend_flush(be) != 0; t++)
		;
	backend_close(be);
}

static void model_run(void)
{
	struct worker w[THREADS];
	pthread_t t[THREADS];
	unsigned total = 0, bad = 0, failed = 0;

	for (int round = 0; round < ROUNDS; round++) {
		struct backend *be = model_open();

		CHECK(be != NULL);
		if (!be)
			return;
		for (unsigned i = 0; i < THREADS; i++) {
			w[i] = (struct worker){ .be = be, .id = i,
						.seed = 1000u * round + i };
			pthread_create(&t[i], NULL, worker_run, &w[i]);
		}
		for (unsigned i = 0; i < THREADS; i++) {
			pthread_join(t[i], NULL);
			total += w[i].reads + w[i].writes + w[i].trims +
				 w[i].flushes;
			bad += w[i].bad;
			failed += w[i].failed;
		}
		model_eject(be);
		be = model_open();
		CHECK(be && model_matches(be));
		if (be)
			backend_close(be);
	}
	printf("  %u operations, %u failed by inject, %u wrong\n", total,
	       failed, bad);
	CHECK_EQ(bad, 0);
	CHECK(failed > 0);
	CHECK(total >= THREADS * OPS * ROUNDS);
}

TEST(cache_model_random_io_matches_reference_across_ejects)
{
	model_run();
}

TEST(cache_model_write_back_matches_reference_across_ejects)
{
	layers = wb_layers;
	write_back = true;
	model_run();
	layers = wt_layers;
	write_back = false;
}

int main(void)
{
	int fd;

	log_init("test-cache-model", LOG_LVL_WARN);
	snprintf(path, sizeof path, "/tmp/netstick-cache-model.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, IMAGE) != 0) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	ref = calloc(1, IMAGE);
	unknown = calloc(1, IMAGE);
	RUN(cache_model_random_io_matches_reference_across_ejects);
	RUN(cache_model_write_back_matches_reference_across_ejects);
	unlink(path);
	free(unknown);
	free(ref);
	return test_summary();
}
