/* test-seed-iso.c — the seed volume builder (backends/seed-iso.c) and the
 * seed store and backend (backends/seed.c).  Every image is read back two
 * ways: with libisofs's own reader (Rock Ridge tree, then the Joliet tree
 * alone), and with isoinfo (genisoimage, an independent ISO 9660 reader)
 * for the label, the extensions found and a file's bytes. */
#include "backend.h"
#include "seed.h"
#include "test.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define LIBISOFS_WITHOUT_LIBBURN 1
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <libisofs.h>
#pragma GCC diagnostic pop

#define MAXV (8u << 20)

/* ---- reading an image back with libisofs ------------------------------ */

struct mem_src {
	const unsigned char *p;
	size_t len;
};

static int ms_open(IsoDataSource *s) { (void)s; return 1; }
static int ms_close(IsoDataSource *s) { (void)s; return 1; }
static void ms_free(IsoDataSource *s) { (void)s; }

static int ms_read(IsoDataSource *s, uint32_t lba, uint8_t *buf)
{
	struct mem_src *m = s->data;

	if ((uint64_t)lba * 2048 + 2048 > m->len)
		return ISO_DATA_SOURCE_FAILURE;
	memcpy(buf, m->p + (size_t)lba * 2048, 2048);
	return 1;
}

/* Imports img; joliet: read the Joliet tree (Rock Ridge off). */
static IsoImage *import(const unsigned char *p, size_t len, bool joliet,
			int *has_rr, int *has_joliet)
{
	static struct mem_src m;
	static IsoDataSource src = { .version = 0, .refcount = 1,
		.open = ms_open, .close = ms_close, .read_block = ms_read,
		.free_data = ms_free, .data = &m };
	IsoImage *img = NULL;
	IsoReadOpts *ro = NULL;
	IsoReadImageFeatures *f = NULL;

	m = (struct mem_src){ p, len };
	src.refcount = 1;
	if (iso_image_new("x", &img) < 0 || iso_read_opts_new(&ro, 0) < 0)
		return NULL;
	if (joliet)
		iso_read_opts_set_no_rockridge(ro, 1);
	if (iso_image_import(img, &src, ro, &f) < 0) {
		iso_read_opts_free(ro);
		iso_image_unref(img);
		return NULL;
	}
	*has_rr = iso_read_image_features_has_rockridge(f);
	*has_joliet = iso_read_image_features_has_joliet(f);
	iso_read_image_features_destroy(f);
	iso_read_opts_free(ro);
	return img;
}

/* The bytes of path in img (heap), or NULL; *len set. */
static unsigned char *read_file(IsoImage *img, const char *path, size_t *len)
{
	IsoNode *n = NULL;
	IsoStream *st;
	unsigned char *buf;
	off_t size;

	if (iso_tree_path_to_node(img, path, &n) != 1 || !ISO_NODE_IS_FILE(n))
		return NULL;
	st = iso_file_get_stream((IsoFile *)n);
	size = iso_stream_get_size(st);
	buf = malloc((size_t)size + 1);
	*len = 0;
	if (iso_stream_open(st) < 0)
		return NULL;
	while (*len < (size_t)size) {
		int r = iso_stream_read(st, buf + *len, (size_t)size - *len);
		if (r <= 0)
			break;
		*len += (size_t)r;
	}
	iso_stream_close(st);
	return buf;
}

static bool file_is(IsoImage *img, const char *path, const void *want,
		    size_t wlen)
{
	size_t len = 0;
	unsigned char *got = read_file(img, path, &len);
	bool ok = got && len == wlen && memcmp(got, want, len) == 0;

	free(got);
	return ok;
}

static unsigned char *build(const char *label, const struct seed_entry *e,
			    unsigned n, size_t *len)
{
	unsigned char *out = NULL;
	char err[256] = "";
	bool big;

	if (seed_iso_build(label, e, n, MAXV, &out, len, &big, err,
			   sizeof err) < 0)
		fprintf(stderr, "  build: %s\n", err);
	return out;
}

/* isoinfo ARGS on the image (written to a file): its output, heap. */
static char *isoinfo(const unsigned char *p, size_t len, const char *args)
{
	char path[] = "/tmp/nstest-seed-XXXXXX", cmd[512];
	static char out[65536];
	size_t n = 0;
	FILE *f;
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, p, len) != (ssize_t)len)
		return NULL;
	close(fd);
	snprintf(cmd, sizeof cmd, "isoinfo -i %s %s 2>/dev/null", path, args);
	if ((f = popen(cmd, "r")) != NULL) {
		n = fread(out, 1, sizeof out - 1, f);
		pclose(f);
	}
	out[n] = '\0';
	unlink(path);
	return out;
}

#define E(p, s) { .path = p, .data = (const unsigned char *)(s), \
		  .len = sizeof(s) - 1 }

/* ---- tests --------------------------------------------------------------- */

TEST(test_seed_iso_nocloud_names_label_contents)
{
	static const struct seed_entry e[] = {
		E("user-data", "#cloud-config\nhostname: node-1\n"),
		E("meta-data", "instance-id: node-1\n"),
	};
	size_t len = 0;
	unsigned char *p = build("cidata", e, 2, &len);
	int rr = 0, jo = 0;
	IsoImage *img;
	char *out;

	CHECK(p != NULL);
	if (!p)
		return;
	CHECK_EQ(len % SEED_ALIGN, 0);
	CHECK(memcmp(p + 16 * 2048 + 1, "CD001", 5) == 0);
	CHECK(memcmp(p + 16 * 2048 + 40, "cidata ", 7) == 0);
	img = import(p, len, false, &rr, &jo);
	CHECK(img != NULL);
	CHECK(rr && jo);
	if (img) {
		CHECK_STR(iso_image_get_volume_id(img), "cidata");
		CHECK(file_is(img, "/user-data", e[0].data, e[0].len));
		CHECK(file_is(img, "/meta-data", e[1].data, e[1].len));
		iso_image_unref(img);
	}
	img = import(p, len, true, &rr, &jo);
	CHECK(img && file_is(img, "/user-data", e[0].data, e[0].len));
	if (img)
		iso_image_unref(img);
	out = isoinfo(p, len, "-d");
	CHECK(out && strstr(out, "Volume id: cidata"));
	CHECK(out && strstr(out, "Rock Ridge signatures"));
	CHECK(out && strstr(out, "Joliet with UCS level 3 found"));
	out = isoinfo(p, len, "-J -x /meta-data");
	CHECK(out && strcmp(out, "instance-id: node-1\n") == 0);
	out = isoinfo(p, len, "-x '/USER_DATA.;1'");
	CHECK(out && strcmp(out, (const char *)e[0].data) == 0);
	free(p);
}

TEST(test_seed_iso_long_names_nested_dirs_empty_files)
{
	char longname[201], deep[300], lpath[260];
	struct seed_entry e[4];
	size_t len = 0, flen = 0;
	unsigned char *p, *got;
	int rr = 0, jo = 0;
	IsoImage *img;
	char *out;

	memset(longname, 'n', 200);
	memcpy(longname + 190, ".long.yaml", 10);
	longname[200] = '\0';
	snprintf(deep, sizeof deep, "a/b/c/d/e/f/g/deep.txt");
	snprintf(lpath, sizeof lpath, "/%s", longname);
	e[0] = (struct seed_entry){ longname, (const unsigned char *)"L", 1 };
	e[1] = (struct seed_entry){ deep, (const unsigned char *)"D\n", 2 };
	e[2] = (struct seed_entry){ "empty", (const unsigned char *)"", 0 };
	e[3] = (struct seed_entry){ "a/b/also-empty", NULL, 0 };
	p = build("CUSTOM_1", e, 4, &len);
	CHECK(p != NULL);
	if (!p)
		return;
	img = import(p, len, false, &rr, &jo);
	CHECK(img != NULL);
	if (img) {
		CHECK(file_is(img, lpath, "L", 1));
		CHECK(file_is(img, "/a/b/c/d/e/f/g/deep.txt", "D\n", 2));
		got = read_file(img, "/empty", &flen);
		CHECK(got && flen == 0);
		free(got);
		got = read_file(img, "/a/b/also-empty", &flen);
		CHECK(got && flen == 0);
		free(got);
		iso_image_unref(img);
	}
	/* Joliet keeps 103 characters of a long name. */
	out = isoinfo(p, len, "-J -l");
	CHECK(out && strstr(out, "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"));
	CHECK(out && strstr(out, "deep.txt"));
	out = isoinfo(p, len, "-R -l");
	CHECK(out && strstr(out, ".long.yaml"));
	CHECK(out && strstr(out, "also-empty"));
	free(p);
}

TEST(test_seed_iso_deterministic_and_uuid_follows_contents)
{
	struct seed_entry a = E("ks.cfg", "text\n"), b = E("ks.cfg", "text2\n");
	size_t l1 = 0, l2 = 0, l3 = 0;
	unsigned char *p1 = build("OEMDRV", &a, 1, &l1);
	unsigned char *p2, *p3;

	sleep(1);  /* a clock in the image would show now */
	p2 = build("OEMDRV", &a, 1, &l2);
	p3 = build("OEMDRV", &b, 1, &l3);
	CHECK(p1 && p2 && p3);
	if (p1 && p2 && p3) {
		CHECK(l1 == l2 && memcmp(p1, p2, l1) == 0);
		/* PVD creation date (offset 813): blkid's UUID. */
		CHECK(memcmp(p1 + 16 * 2048 + 813, p3 + 16 * 2048 + 813, 16)
		      != 0);
		CHECK(memcmp(p1 + 16 * 2048 + 40, "OEMDRV ", 7) == 0);
	}
	free(p1);
	free(p2);
	free(p3);
}

TEST(test_seed_iso_volume_limit)
{
	static unsigned char big[200000];
	struct seed_entry e = { "big.bin", big, sizeof big };
	unsigned char *out = NULL;
	char err[256] = "";
	size_t len;
	bool too_big = false;

	CHECK(seed_iso_build("X", &e, 1, 128 * 1024, &out, &len, &too_big,
			     err, sizeof err) < 0);
	CHECK(too_big && out == NULL && strstr(err, "at most 131072"));
	CHECK(seed_iso_build("X", &e, 1, 1u << 20, &out, &len, &too_big, err,
			     sizeof err) == 0 && !too_big);
	free(out);
}

TEST(test_seed_iso_file_and_directory_clash)
{
	struct seed_entry e[2] = { E("a", "x"), E("a/b", "y") };
	unsigned char *out = NULL;
	char err[256] = "";
	size_t len;
	bool big;

	CHECK(seed_iso_build("X", e, 2, MAXV, &out, &len, &big, err,
			     sizeof err) < 0);
	CHECK(strstr(err, "is a file and a directory") != NULL);
}

TEST(test_seed_store_identity_holds_and_backend)
{
	struct seed_entry e = E("user-data", "hi\n");
	size_t len = 0, len2 = 0, bytes;
	unsigned char *p = build("cidata", &e, 1, &len);
	unsigned char *p2 = build("cidata", &e, 1, &len2);
	char src[SEED_SOURCE_LEN + 1], src2[SEED_SOURCE_LEN + 1], err[256];
	struct backend_open_opts o = { .readonly = true, .block_size = 512 };
	struct seed_volume *v, *v2;
	struct backend *be;
	unsigned char buf[4096];
	unsigned count;

	seed_store_clear();
	CHECK(p && p2);
	if (!p || !p2)
		return;
	v = seed_store_put(p, len, src, sizeof src);
	v2 = seed_store_put(p2, len2, src2, sizeof src2);
	CHECK(v && v == v2 && strcmp(src, src2) == 0);
	CHECK(strncmp(src, "seed:sha256-", 12) == 0 && strlen(src) == 76);
	seed_store_stats(&count, &bytes);
	CHECK_EQ(count, 1);
	CHECK_EQ(bytes, len);
	seed_store_drop(v2);
	seed_store_keep(3, v);
	seed_store_drop(v);
	be = backend_open(src, &o, err, sizeof err);
	CHECK(be != NULL);
	if (be) {
		CHECK(be->readonly);
		CHECK_EQ(be->size, len);
		CHECK(backend_pread(be, buf, 4096, 16 * 2048) == 0);
		CHECK(memcmp(buf + 1, "CD001", 5) == 0);
		CHECK(backend_map(be, 2048, 0) != NULL);
		CHECK(backend_pwrite(be, buf, 512, 0, 0) < 0);
	}
	seed_store_keep(3, NULL);       /* the open instance still holds it */
	seed_store_stats(&count, &bytes);
	CHECK_EQ(count, 1);
	if (be)
		backend_close(be);
	seed_store_stats(&count, &bytes);
	CHECK_EQ(count, 0);
	CHECK(backend_open(src, &o, err, sizeof err) == NULL);
	CHECK(strstr(err, "no such volume") != NULL);
	CHECK(backend_open("seed:sha256-zz", &o, err, sizeof err) == NULL);
}

int main(void)
{
	RUN(test_seed_iso_nocloud_names_label_contents);
	RUN(test_seed_iso_long_names_nested_dirs_empty_files);
	RUN(test_seed_iso_deterministic_and_uuid_follows_contents);
	RUN(test_seed_iso_volume_limit);
	RUN(test_seed_iso_file_and_directory_clash);
	RUN(test_seed_store_identity_holds_and_backend);
	return test_summary();
}
