/* store.c — where the overlay's blocks live (overlay.h draws it).
 *
 * Map file (keep=1), PATH.map, little-endian:
 *
 *   offset  size  field
 *   0       8     magic "NSOVMAP1"
 *   8       8     image size in bytes
 *   16      4     block size
 *   20      4     0
 *   24      ...   presence bitmap, (nblocks + 63) / 64 words of 8 bytes
 *
 * It is written to PATH.map.tmp, synced, renamed over PATH.map, and the
 * directory synced, only after the data file was synced: a crash at any
 * point leaves a map whose every block is on disk.
 */
#include "overlay.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OVERLAY_MAGIC "NSOVMAP1"

struct overlay_map_header {
	char magic[8];
	uint64_t size;
	uint32_t bs;
	uint32_t zero;
};

static size_t overlay_words(const struct overlay *o)
{
	return (size_t)((o->nblocks + 63) / 64);
}

static char *overlay_map_path(const struct overlay *o, const char *suffix)
{
	size_t n = strlen(o->path) + strlen(suffix) + 1;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s%s", o->path, suffix);
	return p;
}

/* ---- the map file ---------------------------------------------------------- */

static int overlay_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void overlay_sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(copy);
}

static int overlay_map_save(struct overlay *o)
{
	struct overlay_map_header h = { .size = htole64(o->size),
					.bs = htole32(o->bs) };
	char *tmp = overlay_map_path(o, ".map.tmp");
	char *map = overlay_map_path(o, ".map");
	size_t words = overlay_words(o);
	uint64_t *le = malloc(words * 8);
	int fd = -1, r = BE_EIO_WRITE;

	memcpy(h.magic, OVERLAY_MAGIC, 8);
	if (!tmp || !map || !le)
		goto out;
	for (size_t i = 0; i < words; i++)
		le[i] = htole64(o->bits[i]);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || overlay_write_all(fd, &h, sizeof h) < 0 ||
	    overlay_write_all(fd, le, words * 8) < 0 || fsync(fd) < 0)
		goto out;
	if (rename(tmp, map) < 0)
		goto out;
	overlay_sync_dir(map);
	o->map_dirty = false;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(map);
	free(le);
	return r;
}

/* Loads PATH.map when it describes this image: 1 loaded, 0 none, or
 * BE_EOPEN when it belongs to another image. */
static int overlay_map_load(struct overlay *o, char *err, size_t errlen)
{
	char *map = overlay_map_path(o, ".map");
	struct overlay_map_header h;
	size_t words = overlay_words(o);
	int fd = map ? open(map, O_RDONLY | O_CLOEXEC) : -1;
	int r = 0;

	free(map);
	if (fd < 0)
		return 0;
	if (read(fd, &h, sizeof h) != (ssize_t)sizeof h ||
	    memcmp(h.magic, OVERLAY_MAGIC, 8) != 0 ||
	    le64toh(h.size) != o->size || le32toh(h.bs) != o->bs ||
	    read(fd, o->bits, words * 8) != (ssize_t)(words * 8)) {
		snprintf(err, errlen, "option file: %s.map is not the map of "
			 "a %llu-byte image with %u-byte blocks: move it away "
			 "to start a new overlay", o->path,
			 (unsigned long long)o->size, o->bs);
		r = BE_EOPEN;
	} else {
		o->present = 0;
		for (size_t i = 0; i < words; i++) {
			o->bits[i] = le64toh(o->bits[i]);
			o->present += (uint64_t)__builtin_popcountll(o->bits[i]);
		}
		r = 1;
	}
	close(fd);
	return r;
}

/* ---- open / close ----------------------------------------------------------- */

static int overlay_file_open(struct overlay *o, const char *path, bool keep,
			     char *err, size_t errlen)
{
	int r = 0;

	if (!(o->path = strdup(path)))
		return BE_ENOMEM;
	o->keep = keep;
	if (keep && (r = overlay_map_load(o, err, errlen)) < 0)
		return r;
	/* A kept overlay without a map, or a fresh one, starts empty. */
	o->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (r == 1 ? 0 : O_TRUNC),
		     0600);
	if (o->fd < 0) {
		snprintf(err, errlen, "option file: cannot open %s: %s", path,
			 strerror(errno));
		return BE_EOPEN;
	}
	if (ftruncate(o->fd, (off_t)o->size) < 0) {
		snprintf(err, errlen, "option file: cannot size %s: %s", path,
			 strerror(errno));
		return BE_EOPEN;
	}
	/* Discarded at close: gone from the directory already. */
	if (!keep)
		unlink(path);
	return 0;
}

int overlay_store_open(struct overlay *o, const char *path, bool keep,
		       char *err, size_t errlen)
{
	o->fd = -1;
	if (!(o->bits = calloc(overlay_words(o), 8)))
		return BE_ENOMEM;
	if (path)
		return overlay_file_open(o, path, keep, err, errlen);
	o->dir = calloc((size_t)((o->nblocks >> OVERLAY_DIR_SHIFT) + 1),
			sizeof *o->dir);
	return o->dir ? 0 : BE_ENOMEM;
}

void overlay_store_close(struct overlay *o)
{
	if (o->fd >= 0) {
		if (o->keep && o->map_dirty && fdatasync(o->fd) == 0)
			(void)overlay_map_save(o);
		close(o->fd);
	}
	if (o->dir) {
		for (uint64_t d = 0; d <= o->nblocks >> OVERLAY_DIR_SHIFT; d++) {
			if (!o->dir[d])
				continue;
			for (unsigned i = 0; i < 1u << OVERLAY_DIR_SHIFT; i++)
				free(o->dir[d][i]);
			free(o->dir[d]);
		}
		free(o->dir);
	}
	free(o->bits);
	free(o->path);
}

/* ---- blocks ------------------------------------------------------------------ */

/* The memory slot of blk, allocating its page; NULL on ENOMEM. */
static unsigned char **overlay_slot(struct overlay *o, uint64_t blk)
{
	unsigned char ***page = &o->dir[blk >> OVERLAY_DIR_SHIFT];

	if (!*page && !(*page = calloc(1u << OVERLAY_DIR_SHIFT, sizeof **page)))
		return NULL;
	return &(*page)[blk & ((1u << OVERLAY_DIR_SHIFT) - 1)];
}

/* Bytes of blk inside the image. */
static uint32_t overlay_blk_len(const struct overlay *o, uint64_t blk)
{
	uint64_t start = blk << o->shift;

	return o->size - start < o->bs ? (uint32_t)(o->size - start) : o->bs;
}

static int overlay_file_pwrite(struct overlay *o, const void *data,
			       uint32_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(o->fd, data, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return BE_EIO_WRITE;
		data = (const unsigned char *)data + n;
		len -= (uint32_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int overlay_store_put(struct overlay *o, uint64_t blk, const void *data)
{
	uint32_t len = overlay_blk_len(o, blk);

	if (o->dir) {
		unsigned char **slot = overlay_slot(o, blk);

		if (!slot || (!*slot && !(*slot = malloc(o->bs))))
			return BE_ENOMEM;
		memcpy(*slot, data, len);
	} else if (overlay_file_pwrite(o, data, len, blk << o->shift) < 0) {
		return BE_EIO_WRITE;
	}
	if (!overlay_has(o, blk)) {
		o->bits[blk >> 6] |= 1ull << (blk & 63);
		o->present++;
		o->map_dirty = true;
	}
	return 0;
}

int overlay_store_patch(struct overlay *o, uint64_t blk, uint32_t at,
			const void *data, uint32_t len)
{
	if (o->dir) {
		memcpy(*overlay_slot(o, blk) + at, data, len);
		return 0;
	}
	return overlay_file_pwrite(o, data, len, (blk << o->shift) + at);
}

int overlay_store_get(struct overlay *o, uint64_t blk, uint32_t at,
		      void *buf, uint32_t len)
{
	uint64_t off = (blk << o->shift) + at;

	if (o->dir) {
		memcpy(buf, *overlay_slot(o, blk) + at, len);
		return 0;
	}
	while (len) {
		ssize_t n = pread(o->fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return BE_EIO_READ;
		buf = (unsigned char *)buf + n;
		len -= (uint32_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int overlay_store_sync(struct overlay *o)
{
	if (o->fd < 0)
		return 0;
	if (fdatasync(o->fd) < 0)
		return BE_EIO_WRITE;
	if (o->keep && o->map_dirty && overlay_map_save(o) < 0)
		return BE_EIO_WRITE;
	return 0;
}
