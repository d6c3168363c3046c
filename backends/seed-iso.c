/* seed-iso.c — builds a seed volume in memory with libisofs (seed.h).
 *
 * The image: ISO 9660 level 3 names for readers with nothing else, Rock
 * Ridge (Linux: names up to 255 bytes, case, permissions 0444/0555) and
 * Joliet (Windows, UEFI shells: names up to 103 UCS-2 characters, the
 * "long names" extension mkisofs -joliet-long writes too).  libisofs
 * generates the image on a thread of its own into a ring buffer, read
 * here through its burn_source 2 KiB at a time into one heap buffer.
 *
 * Determinism: file, directory and volume times are SEED_EPOCH; the PVD's
 * creation/modification stamp (blkid's UUID) is SEED_EPOCH plus a number
 * of seconds taken from a SHA-256 over the label and the files, written
 * through libisofs's vol_uuid so no time zone enters it.
 *
 * Threads: one build at a time (seed_iso_lock): libisofs's message queue
 * and its one-time init are process-wide.
 */
#include "seed.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

/* Its copy of libburn's struct burn_source, which we read; its header
 * declares a few functions as f() (C89 style). */
#define LIBISOFS_WITHOUT_LIBBURN 1
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <libisofs.h>
#pragma GCC diagnostic pop

#define SEED_BLOCK 2048

static pthread_mutex_t seed_iso_lock = PTHREAD_MUTEX_INITIALIZER;
static bool seed_iso_ready;

/* libisofs once: UTF-8 names whatever the locale, no messages on stderr
 * (errors come back as return codes and become our messages). */
static int seed_iso_init(char *err, size_t errlen)
{
	if (seed_iso_ready)
		return 0;
	if (iso_init_with_flag(1) < 0) {
		snprintf(err, errlen, "libisofs did not initialise");
		return -1;
	}
	iso_set_local_charset("UTF-8", 0);
	iso_set_msgs_severities("NEVER", "NEVER", "netstickd");
	seed_iso_ready = true;
	return 0;
}

static int seed_iso_fail(char *err, size_t errlen, const char *what,
			 const char *path, int rc)
{
	snprintf(err, errlen, "%s%s%.200s%s: %s", what, path ? " \"" : "",
		 path ? path : "", path ? "\"" : "", iso_error_to_msg(rc));
	return -1;
}

static void seed_iso_times(IsoNode *node)
{
	iso_node_set_mtime(node, SEED_EPOCH);
	iso_node_set_atime(node, SEED_EPOCH);
	iso_node_set_ctime(node, SEED_EPOCH);
	iso_node_set_uid(node, 0);
	iso_node_set_gid(node, 0);
}

/* The directory called name in parent, made when missing. */
static int seed_iso_subdir(IsoImage *img, IsoDir *parent, const char *name,
			   const char *path, IsoDir **out, char *err,
			   size_t errlen)
{
	IsoNode *node = NULL;
	IsoDir *dir;
	int rc = iso_image_dir_get_node(img, parent, name, &node, 1);

	if (rc == 1) {
		if (!ISO_NODE_IS_DIR(node)) {
			snprintf(err, errlen, "\"%.200s\" is a file and a "
				 "directory", path);
			return -1;
		}
		*out = (IsoDir *)node;
		return 0;
	}
	if ((rc = iso_image_add_new_dir(img, parent, name, &dir)) < 0)
		return seed_iso_fail(err, errlen, "directory", path, rc);
	iso_node_set_permissions((IsoNode *)dir, 0555);
	seed_iso_times((IsoNode *)dir);
	*out = dir;
	return 0;
}

/* Adds one file, making its directories. */
static int seed_iso_add(IsoImage *img, const struct seed_entry *e,
			char *err, size_t errlen)
{
	char comp[SEED_NAME_MAX + 1];
	IsoDir *dir = iso_image_get_root(img);
	IsoStream *st = NULL;
	IsoFile *file;
	const char *p = e->path, *slash;
	unsigned char *copy;
	size_t n;
	int rc;

	while ((slash = strchr(p, '/')) != NULL) {
		n = (size_t)(slash - p);
		if (n == 0 || n > SEED_NAME_MAX)
			goto bad_name;
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (seed_iso_subdir(img, dir, comp, e->path, &dir, err,
				    errlen) < 0)
			return -1;
		p = slash + 1;
	}
	if (*p == '\0' || strlen(p) > SEED_NAME_MAX)
		goto bad_name;
	/* The stream owns (and frees) its buffer, even an empty one. */
	if (!(copy = malloc(e->len ? e->len : 1))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (e->len)
		memcpy(copy, e->data, e->len);
	if ((rc = iso_memory_stream_new(copy, e->len, &st)) < 0) {
		free(copy);
		return seed_iso_fail(err, errlen, "file", e->path, rc);
	}
	/* The new file takes the stream's reference. */
	if ((rc = iso_image_add_new_file(img, dir, p, st, &file)) < 0) {
		iso_stream_unref(st);
		return seed_iso_fail(err, errlen, "file", e->path, rc);
	}
	iso_node_set_permissions((IsoNode *)file, 0444);
	seed_iso_times((IsoNode *)file);
	return 0;
bad_name:
	snprintf(err, errlen, "bad file name \"%.200s\"", e->path);
	return -1;
}

/* "YYYYMMDDhhmmsscc" from the files' digest: a valid date after
 * SEED_EPOCH, different for different contents. */
static void seed_iso_uuid(const char *label, const struct seed_entry *e,
			  unsigned n, char out[17])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t v = 0;
	time_t t;
	struct tm tm;

	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(ctx, label, strlen(label) + 1);
		for (unsigned i = 0; i < n; i++) {
			uint64_t len = e[i].len;
			EVP_DigestUpdate(ctx, e[i].path, strlen(e[i].path) + 1);
			EVP_DigestUpdate(ctx, &len, sizeof len);
			EVP_DigestUpdate(ctx, e[i].data, e[i].len);
		}
		EVP_DigestFinal_ex(ctx, md, &mdlen);
	}
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 8 && i < mdlen; i++)
		v = v << 8 | md[i];
	/* Within 2000-01-01 .. about 2034: 2^30 seconds. */
	t = (time_t)(SEED_EPOCH + (v & ((1u << 30) - 1)));
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%d%H%M%S", &tm);
	snprintf(out + 14, 3, "%02u", (unsigned)(v >> 56) % 100);
}

static int seed_iso_opts(IsoWriteOpts **opts, char *uuid)
{
	int rc = iso_write_opts_new(opts, 0);

	if (rc < 0)
		return rc;
	iso_write_opts_set_iso_level(*opts, 3);
	iso_write_opts_set_rockridge(*opts, 1);
	iso_write_opts_set_joliet(*opts, 1);
	iso_write_opts_set_joliet_long_names(*opts, 1);
	/* Joliet names as given ("user-data", not "user-data.;1"), as
	 * mkisofs -J writes them; the ISO 9660 names keep the standard's
	 * dot and version. */
	iso_write_opts_set_omit_version_numbers(*opts, 2);
	iso_write_opts_set_no_force_dots(*opts, 2);
	iso_write_opts_set_always_gmt(*opts, 1);
	/* The label as given ("cidata"): hosts match it case and all. */
	iso_write_opts_set_relaxed_vol_atts(*opts, 1);
	iso_write_opts_set_dir_rec_mtime(*opts, 1 | 2 | 4);
	iso_write_opts_set_replace_timestamps(*opts, 2);
	iso_write_opts_set_default_timestamp(*opts, SEED_EPOCH);
	iso_write_opts_set_replace_mode(*opts, 0, 0, 0, 0);
	iso_write_opts_set_output_charset(*opts, "UTF-8");
	return iso_write_opts_set_pvd_times(*opts, SEED_EPOCH, SEED_EPOCH, 0,
					    0, uuid);
}

static void seed_iso_source_free(struct burn_source *bs)
{
	if (--bs->refcount > 0)
		return;
	if (bs->free_data)
		bs->free_data(bs);
	free(bs);
}

/* Reads the whole image out of the burn_source. */
static int seed_iso_read(struct burn_source *bs, size_t max_volume,
			 unsigned char **out, size_t *outlen, bool *too_big,
			 char *err, size_t errlen)
{
	off_t size = bs->get_size(bs);
	size_t padded, got = 0;
	unsigned char *buf;
	int r;

	if (size <= 0 || (uint64_t)size > max_volume) {
		*too_big = size > 0;
		snprintf(err, errlen, "the volume would be %lld bytes (at "
			 "most %zu)", (long long)size, max_volume);
		bs->cancel(bs);
		return -1;
	}
	padded = ((size_t)size + SEED_ALIGN - 1) / SEED_ALIGN * SEED_ALIGN;
	if (!(buf = calloc(1, padded))) {
		bs->cancel(bs);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (got < (size_t)size &&
	       (r = bs->read_xt(bs, buf + got, SEED_BLOCK)) > 0)
		got += (size_t)r;
	if (got != (size_t)size) {
		bs->cancel(bs);
		free(buf);
		snprintf(err, errlen, "libisofs wrote %zu of %lld bytes", got,
			 (long long)size);
		return -1;
	}
	*out = buf;
	*outlen = padded;
	return 0;
}

static int seed_iso_build_locked(const char *label,
				 const struct seed_entry *e, unsigned n,
				 size_t max_volume, unsigned char **out,
				 size_t *outlen, bool *too_big, char *err,
				 size_t errlen)
{
	IsoImage *img = NULL;
	IsoWriteOpts *opts = NULL;
	struct burn_source *bs = NULL;
	char uuid[17];
	int rc = -1, r;

	if (seed_iso_init(err, errlen) < 0)
		return -1;
	if ((r = iso_image_new(label, &img)) < 0) {
		seed_iso_fail(err, errlen, "image", NULL, r);
		goto out;
	}
	iso_image_set_truncate_mode(img, 0, SEED_NAME_MAX);
	iso_image_set_application_id(img, "NETSTICK SEED");
	iso_image_set_data_preparer_id(img, "NETSTICK");
	iso_node_set_permissions((IsoNode *)iso_image_get_root(img), 0555);
	seed_iso_times((IsoNode *)iso_image_get_root(img));
	for (unsigned i = 0; i < n; i++)
		if (seed_iso_add(img, &e[i], err, errlen) < 0)
			goto out;
	seed_iso_uuid(label, e, n, uuid);
	if ((r = seed_iso_opts(&opts, uuid)) < 0 ||
	    (r = iso_image_create_burn_source(img, opts, &bs)) < 0) {
		seed_iso_fail(err, errlen, "image", NULL, r);
		goto out;
	}
	rc = seed_iso_read(bs, max_volume, out, outlen, too_big, err, errlen);
out:
	if (bs)
		seed_iso_source_free(bs);
	iso_write_opts_free(opts);
	if (img)
		iso_image_unref(img);
	return rc;
}

int seed_iso_build(const char *label, const struct seed_entry *e, unsigned n,
		   size_t max_volume, unsigned char **out, size_t *outlen,
		   bool *too_big, char *err, size_t errlen)
{
	int rc;

	*too_big = false;
	pthread_mutex_lock(&seed_iso_lock);
	rc = seed_iso_build_locked(label, e, n, max_volume, out, outlen,
				   too_big, err, errlen);
	pthread_mutex_unlock(&seed_iso_lock);
	return rc;
}
