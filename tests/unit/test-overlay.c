/* test-overlay.c — the copy-on-write overlay layer (layers/overlay/): a
 * read-only medium becomes writable, reads merge overlay and medium at
 * any alignment, the medium is never written, a full overlay refuses a
 * write whole with BE_ENOSPC, a file overlay is discarded at close unless
 * keep=1 (then the next open continues it, and a map of another image is
 * refused), flush makes it durable, a random model over threads, stats.
 */
#include "backend.h"
#include "log.h"
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[512];
static char img[64], ovl[80];

static unsigned char pattern_byte(uint64_t off)
{
	return (unsigned char)((off * 0x9e3779b97f4a7c15ull) >> 56 ^ off);
}

/* A pattern file of `size` bytes at img. */
static void make_img(uint64_t size)
{
	unsigned char *b = malloc(size);
	int fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	for (uint64_t i = 0; i < size; i++)
		b[i] = pattern_byte(i);
	CHECK(fd >= 0 && write(fd, b, size) == (ssize_t)size);
	close(fd);
	free(b);
}

static bool img_is_pattern(uint64_t size)
{
	unsigned char *b = malloc(size);
	int fd = open(img, O_RDONLY);
	bool ok = fd >= 0 && read(fd, b, size) == (ssize_t)size;

	for (uint64_t i = 0; ok && i < size; i++)
		ok = b[i] == pattern_byte(i);
	close(fd);
	free(b);
	return ok;
}

/* img opened read-only (as an HTTP image is), with the overlay on top;
 * spec is "overlay:key=value,...". */
static struct backend *open_ovl(const char *spec)
{
	struct backend_open_opts ro = { .block_size = 512, .readonly = true };
	struct backend_open_opts rw = { .block_size = 512 };
	const char *kv[8] = { NULL };
	const char *colon = strchr(spec, ':');
	struct backend *m, *top;
	char buf[256];
	unsigned n = 0;

	snprintf(buf, sizeof buf, "%s", colon ? colon + 1 : "");
	for (char *t = strtok(buf, ","); t && n < 7; t = strtok(NULL, ","))
		kv[n++] = t;
	if (!(m = backend_open(img, &ro, err, sizeof err)))
		return NULL;
	top = backend_open_layer(&layer_overlay_ops, m, kv, &rw, err,
				 sizeof err);
	if (!top)
		backend_close(m);
	return top;
}

static uint64_t stat_of(struct backend *be, const char *key);

TEST(overlay_makes_readonly_media_writable_and_merges_reads)
{
	struct backend *be;
	static unsigned char w[3000], r[20000];

	make_img(1 << 20);
	be = open_ovl("overlay:size-mib=1");
	CHECK(be != NULL);
	if (!be)
		return;
	CHECK(be->next->readonly);
	CHECK(!be->readonly);
	CHECK(be->can_flush && be->can_fua && !be->can_trim);
	memset(w, 0x77, sizeof w);
	/* Unaligned: parts of blocks 0 and 1 (4 KiB blocks). */
	CHECK_EQ(backend_pwrite(be, w, 2560, 3584, 0), 0);
	CHECK_EQ(backend_pread(be, r, 16384, 0), 0);
	for (unsigned i = 0; i < 16384; i++) {
		bool in = i >= 3584 && i < 3584 + 2560;
		if (r[i] != (in ? 0x77 : pattern_byte(i))) {
			CHECK_EQ(i, -1);
			break;
		}
	}
	CHECK_EQ(stat_of(be, "overlay_bytes"), 8192);
	CHECK_EQ(stat_of(be, "rmw_reads"), 2);
	backend_close(be);
	CHECK(img_is_pattern(1 << 20));
}

TEST(overlay_full_refuses_the_whole_write_with_enospc)
{
	struct backend *be;
	unsigned char *w = calloc(1, 1 << 20), r[4096];

	make_img(4 << 20);
	be = open_ovl("overlay:size-mib=1");
	memset(w, 0x11, 1 << 20);
	CHECK_EQ(backend_pwrite(be, w, 1 << 20, 0, 0), 0);      /* fills it */
	CHECK_EQ(backend_pwrite(be, w, 4096, 0, 0), 0);          /* rewrite: ok */
	CHECK_EQ(backend_pwrite(be, w, 8192, (1 << 20) - 4096, 0), BE_ENOSPC);
	/* Nothing of the refused write was stored, not even its first block. */
	CHECK_EQ(backend_pread(be, r, 4096, 1 << 20), 0);
	CHECK_EQ(r[0], pattern_byte(1 << 20));
	CHECK_EQ(stat_of(be, "full_errors"), 1);
	backend_close(be);
	free(w);
}

TEST(overlay_file_is_discarded_at_close_by_default)
{
	char spec[160];
	struct backend *be;
	unsigned char w[4096];

	make_img(1 << 20);
	snprintf(spec, sizeof spec, "overlay:file=%s", ovl);
	be = open_ovl(spec);
	CHECK(be != NULL);
	memset(w, 0x33, sizeof w);
	CHECK_EQ(backend_pwrite(be, w, 4096, 8192, BACKEND_FUA), 0);
	CHECK(access(ovl, F_OK) != 0);   /* unlinked at once */
	backend_close(be);
	be = open_ovl(spec);
	CHECK_EQ(backend_pread(be, w, 4096, 8192), 0);
	CHECK_EQ(w[0], pattern_byte(8192));
	backend_close(be);
	CHECK(img_is_pattern(1 << 20));
}

TEST(overlay_file_kept_continues_on_next_open)
{
	char spec[160], map[96];
	struct backend *be;
	unsigned char w[4096], r[4096];

	make_img(1 << 20);
	snprintf(spec, sizeof spec, "overlay:file=%s,keep=1", ovl);
	snprintf(map, sizeof map, "%s.map", ovl);
	be = open_ovl(spec);
	memset(w, 0x44, sizeof w);
	CHECK_EQ(backend_pwrite(be, w, 4096, 65536, 0), 0);
	CHECK_EQ(backend_flush(be), 0);
	CHECK(access(map, F_OK) == 0);
	backend_close(be);
	be = open_ovl(spec);
	CHECK(be != NULL);
	CHECK_EQ(backend_pread(be, r, 4096, 65536), 0);
	CHECK(memcmp(r, w, 4096) == 0);
	CHECK_EQ(stat_of(be, "overlay_bytes"), 4096);
	backend_close(be);
	/* The map of a 1 MiB image does not fit a 2 MiB one. */
	make_img(2 << 20);
	CHECK(open_ovl(spec) == NULL);
	CHECK(strstr(err, "not the map") != NULL);
	unlink(ovl);
	unlink(map);
}

/* 1 MiB + 1536 bytes: the last 4 KiB overlay block holds 1536 bytes. */
TEST(overlay_short_last_block)
{
	static unsigned char w[1024], r[1536];
	struct backend *be;

	make_img((1 << 20) + 1536);
	be = open_ovl("overlay:size-mib=1");
	CHECK(be != NULL);
	if (!be)
		return;
	memset(w, 0x66, sizeof w);
	CHECK_EQ(backend_pwrite(be, w, 1024, (1 << 20) + 512, 0), 0);
	CHECK_EQ(backend_pread(be, r, 1536, 1 << 20), 0);
	CHECK_EQ(r[0], pattern_byte(1 << 20));
	CHECK(memcmp(r + 512, w, 1024) == 0);
	CHECK_EQ(stat_of(be, "rmw_reads"), 1);
	backend_close(be);
	CHECK(img_is_pattern((1 << 20) + 1536));
}

TEST(overlay_bad_options_give_clear_errors)
{
	make_img(1 << 20);
	CHECK(open_ovl("overlay:keep=1") == NULL);
	CHECK(strstr(err, "needs file") != NULL);
	CHECK(open_ovl("overlay:file=relative/x") == NULL);
	CHECK(strstr(err, "absolute") != NULL);
	CHECK(open_ovl("overlay:block-kib=6") == NULL);
	CHECK(strstr(err, "power of two") != NULL);
}

/* ---- a random model over threads ---------------------------------------- */

#define MODEL_SIZE (2u << 20)
static unsigned char *model_ref;

struct mworker {
	struct backend *be;
	unsigned id, seed, bad;
};

static void *mworker_run(void *arg)
{
	struct mworker *w = arg;
	uint64_t base = (uint64_t)w->id * (MODEL_SIZE / 4);
	unsigned char *b = malloc(65536);

	for (int i = 0; i < 1500; i++) {
		uint32_t len = (1 + (uint32_t)rand_r(&w->seed) % 128) * 512;
		uint64_t off = base + (uint64_t)(rand_r(&w->seed) %
					((MODEL_SIZE / 4 - len) / 512 + 1)) * 512;

		if (rand_r(&w->seed) % 3 == 0) {
			for (uint32_t k = 0; k < len; k++)
				b[k] = (unsigned char)rand_r(&w->seed);
			if (backend_pwrite(w->be, b, len, off, 0) == 0)
				memcpy(model_ref + off, b, len);
			else
				w->bad++;
		} else if (backend_pread(w->be, b, len, off) != 0 ||
			   memcmp(b, model_ref + off, len) != 0) {
			w->bad++;
		}
	}
	free(b);
	return NULL;
}

TEST(overlay_random_model_over_threads)
{
	struct mworker w[4];
	pthread_t t[4];
	char spec[160];

	make_img(MODEL_SIZE);
	model_ref = malloc(MODEL_SIZE);
	for (unsigned i = 0; i < MODEL_SIZE; i++)
		model_ref[i] = pattern_byte(i);
	for (int mode = 0; mode < 2; mode++) {
		struct backend *be;

		snprintf(spec, sizeof spec, mode ? "overlay:file=%s" :
			 "overlay:block-kib=8", ovl);
		be = open_ovl(spec);
		CHECK(be != NULL);
		for (unsigned i = 0; i < 4; i++) {
			w[i] = (struct mworker){ .be = be, .id = i,
						 .seed = 17 + i + 4u * mode };
			pthread_create(&t[i], NULL, mworker_run, &w[i]);
		}
		for (unsigned i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			CHECK_EQ(w[i].bad, 0);
		}
		backend_close(be);
		/* Discarded: the next round starts from the medium. */
		for (unsigned i = 0; i < MODEL_SIZE; i++)
			model_ref[i] = pattern_byte(i);
	}
	CHECK(img_is_pattern(MODEL_SIZE));
	free(model_ref);
}

/* ---- stats ------------------------------------------------------------------ */

struct stat_find {
	const char *key;
	uint64_t value;
};

static void stat_put(void *ctx, const char *layer, const char *key,
		     uint64_t value, bool counter)
{
	struct stat_find *f = ctx;

	(void)counter;
	if (strcmp(layer, "overlay") == 0 && strcmp(key, f->key) == 0)
		f->value = value;
}

static uint64_t stat_of(struct backend *be, const char *key)
{
	struct stat_find f = { .key = key, .value = UINT64_MAX };
	struct backend_stat_sink s = { .put = stat_put, .ctx = &f };

	backend_stats(be, &s);
	return f.value;
}

int main(void)
{
	int fd;

	log_init("test-overlay", LOG_LVL_WARN);
	snprintf(img, sizeof img, "/tmp/netstick-ovl-img.XXXXXX");
	fd = mkstemp(img);
	close(fd);
	snprintf(ovl, sizeof ovl, "%s.overlay", img);
	RUN(overlay_makes_readonly_media_writable_and_merges_reads);
	RUN(overlay_full_refuses_the_whole_write_with_enospc);
	RUN(overlay_file_is_discarded_at_close_by_default);
	RUN(overlay_file_kept_continues_on_next_open);
	RUN(overlay_short_last_block);
	RUN(overlay_bad_options_give_clear_errors);
	RUN(overlay_random_model_over_threads);
	unlink(img);
	unlink(ovl);
	return test_summary();
}
