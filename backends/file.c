/* file.c — local file or block device backend.
 *
 * Sources: a plain path ("/var/lib/netstick/disk.img") or "file:///path".
 * Writable unless the open options or the file's permissions say read-only.
 * Durability: flush is fdatasync(); FUA writes use pwritev2(RWF_DSYNC), or
 * pwrite then fdatasync where the kernel lacks it.
 * Trim punches holes in regular files and issues BLKDISCARD on devices.
 * The image is flock()ed (shared when read-only, exclusive when writable) so
 * two LUNs or two daemons never write the same image.
 * Reads need no copy into the daemon: on 64-bit hosts the whole image is
 * mapped read-only and shared (backend_map), so FunctionFS copies straight
 * from the page cache that pwrite() and trim update.  When mmap fails (an
 * address space too small, a device that cannot be mapped), or the file
 * has shrunk under the daemon (a fault must never reach FunctionFS), pread
 * serves, and reports the missing part as a read error.
 * Writes need no copy either when the image is writable and dense (no
 * holes: st_blocks covers st_size, as after the host has written it all, or
 * for any block device): the mapping is then also writable and FunctionFS
 * completes OUT transfers straight into the page cache (backend_map_write).
 * Storing into an allocated page cannot fail, storing into a hole could
 * (the filesystem may be full), so after a trim punches holes, and for
 * sparse files, writes go through pwrite until an fstat shows none left.
 *
 * Threads: PARALLEL.  pread/pwritev2/fdatasync/fallocate are safe to run
 * concurrently on one descriptor (no file offset is used); everything in
 * struct file_media is fixed at open except `dense`, an atomic read
 * without a lock by map_write, and changed only under dense_lock: trim
 * clears it after punching, a pwrite sets it again from an fstat, and the
 * lock keeps an fstat taken before a punch from setting it after the
 * punch cleared it.
 */
#include "backend.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct file_media {
	int fd;
	bool is_blockdev;
	bool writable;
	atomic_bool dense; /* no holes: in-place writes cannot need space */
	atomic_bool no_rwf_dsync;     /* FUA is pwrite + fdatasync (below) */
	pthread_mutex_t dense_lock;   /* held to change dense (above) */
	int64_t size;
	void *map;         /* the whole image, or NULL; writable if writable */
};

static const char *file_path(const char *source)
{
	if (strncmp(source, "file://", 7) == 0)
		return source + 7;
	return source;
}

/* Whether the file has no holes: its allocated blocks cover its size
 * (a block device has none).  A heuristic on the safe side for what it
 * guards: a hole it misses is only a problem on a full filesystem, and
 * then the in-place write fails cleanly (EFAULT) and is reported. */
static void file_check_dense(struct file_media *fh, const struct stat *st)
{
	atomic_store(&fh->dense, fh->is_blockdev ||
		     (uint64_t)st->st_blocks * 512 >= (uint64_t)st->st_size);
}

static int file_size(struct file_media *fh, const struct stat *st)
{
	uint64_t sz;

	if (!fh->is_blockdev) {
		fh->size = st->st_size;
		return 0;
	}
	if (ioctl(fh->fd, BLKGETSIZE64, &sz) < 0)
		return -1;
	fh->size = (int64_t)sz;
	return 0;
}

/* Maps the image for zero-copy reads when the address space has room. */
static void file_map_image(struct file_media *fh, const char *path)
{
	void *p;

	if (sizeof(void *) < 8 || fh->size <= 0)
		return;
	p = mmap(NULL, (size_t)fh->size,
		 PROT_READ | (fh->writable ? PROT_WRITE : 0), MAP_SHARED,
		 fh->fd, 0);
	if (p == MAP_FAILED) {
		log_debug(LOG_MOD_BACKEND, "file: %s: mmap: %s, reads copy",
			  path, strerror(errno));
		return;
	}
	fh->map = p;
}

/* A client's source (opts->policy) opens beneath api.allowed_dir: the
 * open is the check (uri_open_beneath), so nothing can be swapped in
 * between.  O_NONBLOCK: opening a FIFO must not wait for a writer. */
static int file_open_fd(const struct backend_open_opts *opts,
			const char *path, bool writable)
{
	return uri_open_beneath(opts->policy, path,
				(writable ? O_RDWR : O_RDONLY) | O_NONBLOCK |
				O_NOCTTY);
}

static int file_open(const char *source, const struct backend_open_opts *opts,
		     void **handle, char *err, size_t errlen)
{
	const char *path = file_path(source);
	struct file_media *fh;
	struct stat st;

	if (path[0] != '/') {
		snprintf(err, errlen, "%s: not an absolute path", path);
		return BE_EOPEN;
	}
	fh = calloc(1, sizeof *fh);
	if (!fh || pthread_mutex_init(&fh->dense_lock, NULL) != 0) {
		free(fh);
		return BE_ENOMEM;
	}
	fh->writable = !opts->readonly;
	fh->fd = file_open_fd(opts, path, fh->writable);
	if (fh->fd < 0 && fh->writable && (errno == EACCES || errno == EROFS)) {
		fh->writable = false;   /* fall back to read-only media */
		fh->fd = file_open_fd(opts, path, false);
	}
	if (fh->fd < 0) {
		snprintf(err, errlen, "%s: %s", path, errno == EXDEV ||
			 errno == ELOOP ? "leaves api.allowed_dir" :
			 strerror(errno));
		pthread_mutex_destroy(&fh->dense_lock);
		free(fh);
		return BE_EOPEN;
	}
	if (fstat(fh->fd, &st) < 0 ||
	    (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		snprintf(err, errlen, "%s: not a regular file or block device",
			 path);
		goto fail;
	}
	/* Opened non-blocking so a FIFO cannot hang us; I/O blocks. */
	if (fcntl(fh->fd, F_SETFL, fcntl(fh->fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	fh->is_blockdev = S_ISBLK(st.st_mode);
	file_check_dense(fh, &st);
	if (file_size(fh, &st) < 0) {
		snprintf(err, errlen, "%s: size: %s", path, strerror(errno));
		goto fail;
	}
	if (flock(fh->fd, (fh->writable ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
		snprintf(err, errlen, "%s: in use by another LUN or process",
			 path);
		goto fail;
	}
	file_map_image(fh, path);
	*handle = fh;
	return 0;
fail:
	close(fh->fd);
	pthread_mutex_destroy(&fh->dense_lock);
	free(fh);
	return BE_EOPEN;
}

static void file_close(void *handle)
{
	struct file_media *fh = handle;

	if (fh->map)
		munmap(fh->map, (size_t)fh->size);
	close(fh->fd);
	pthread_mutex_destroy(&fh->dense_lock);
	free(fh);
}

static const void *file_map(void *handle, uint32_t count, uint64_t off)
{
	struct file_media *fh = handle;
	off_t end;

	if (!fh->map)
		return NULL;
	/* The file's size now: lseek is the cheapest way to read it (fstat
	 * walks an empty path), and one call per transfer is far cheaper
	 * than the copy it saves.  pread/pwrite ignore the file offset. */
	if (!fh->is_blockdev &&
	    ((end = lseek(fh->fd, 0, SEEK_END)) < 0 || (uint64_t)end < off + count))
		return NULL;
	return (const uint8_t *)fh->map + off;
}

static void *file_map_write(void *handle, uint32_t count, uint64_t off)
{
	struct file_media *fh = handle;

	if (!fh->writable || !atomic_load(&fh->dense))
		return NULL;
	return (void *)file_map(handle, count, off);
}

static int64_t file_get_size(void *handle)
{
	return ((struct file_media *)handle)->size;
}

static int file_can_write(void *handle)
{
	return ((struct file_media *)handle)->writable;
}

static int file_can_yes(void *handle)
{
	(void)handle;
	return 1;
}

/* Logs a failed (r < 0) or cut (r == 0: end of file, the file shrank
 * under us) read or write and returns its error.  errno is looked at only
 * for r < 0: after a call that returned 0 it is stale. */
static int file_io_fail(ssize_t r, bool is_write, uint32_t count, uint64_t off)
{
	int e = r < 0 ? errno : 0;
	const char *what = is_write ? "write" : "read";

	if (r < 0)
		log_warn("file: %s %u bytes at %llu", what, count,
			 (unsigned long long)off);
	else
		log_warnx("file: %s %u bytes at %llu hit end of file", what,
			  count, (unsigned long long)off);
	if (!is_write)
		return BE_EIO_READ;
	return e == ENOSPC ? BE_ENOSPC : BE_EIO_WRITE;
}

static int file_pread(void *handle, void *buf, uint32_t count, uint64_t off)
{
	struct file_media *fh = handle;
	char *p = buf;

	while (count > 0) {
		ssize_t r = pread(fh->fd, p, count, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)   /* never hand out garbage for a missing part */
			return file_io_fail(r, false, count, off);
		p += r;
		count -= (uint32_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* One write call.  FUA is pwritev2(RWF_DSYNC); where the kernel has no
 * pwritev2 flags (before 4.7, as on some vendor kernels; qemu-user 7.2
 * too) glibc fails it with EOPNOTSUPP, and from then on the file's FUA
 * writes are pwrite, then fdatasync (file_pwrite). */
static ssize_t file_write_call(struct file_media *fh, const char *p,
			       uint32_t count, uint64_t off, bool fua)
{
	struct iovec iov = { .iov_base = (void *)p, .iov_len = count };
	ssize_t r;

	if (!fua || atomic_load(&fh->no_rwf_dsync))
		return pwrite(fh->fd, p, count, (off_t)off);
	r = pwritev2(fh->fd, &iov, 1, (off_t)off, RWF_DSYNC);
	if (r >= 0 || errno != EOPNOTSUPP)
		return r;
	atomic_store(&fh->no_rwf_dsync, true);
	log_debug(LOG_MOD_BACKEND, "file: no RWF_DSYNC: FUA is pwrite + fdatasync");
	return pwrite(fh->fd, p, count, (off_t)off);
}

static int file_pwrite(void *handle, const void *buf, uint32_t count,
		       uint64_t off, uint32_t flags)
{
	struct file_media *fh = handle;
	const char *p = buf;
	bool fua = flags & BACKEND_FUA;

	while (count > 0) {
		ssize_t r = file_write_call(fh, p, count, off, fua);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return file_io_fail(r, true, count, off);
		p += r;
		count -= (uint32_t)r;
		off += (uint64_t)r;
	}
	if (fua && atomic_load(&fh->no_rwf_dsync) && fdatasync(fh->fd) < 0) {
		log_warn("file: fdatasync after write");
		return BE_EIO_WRITE;
	}
	if (!atomic_load(&fh->dense)) {
		/* Writes fill holes: in place again once none is left. */
		struct stat st;

		pthread_mutex_lock(&fh->dense_lock);
		if (fstat(fh->fd, &st) == 0)
			file_check_dense(fh, &st);
		pthread_mutex_unlock(&fh->dense_lock);
	}
	return 0;
}

static int file_flush(void *handle, uint32_t flags)
{
	struct file_media *fh = handle;

	(void)flags;
	if (fdatasync(fh->fd) < 0) {
		log_warn("file: fdatasync");
		return BE_EIO_WRITE;
	}
	return 0;
}

static int file_trim(void *handle, uint32_t count, uint64_t off,
		     uint32_t flags)
{
	struct file_media *fh = handle;
	uint64_t range[2] = { off, count };
	int r, e;

	(void)flags;
	if (fh->is_blockdev)
		return ioctl(fh->fd, BLKDISCARD, range) < 0 &&
		       errno != EOPNOTSUPP ? BE_EIO_WRITE : 0;
	/* Holes now: writes fill them by pwrite.  Cleared before the punch
	 * so no in-place write starts into a hole, under the lock so no
	 * pwrite's earlier fstat sets it back. */
	pthread_mutex_lock(&fh->dense_lock);
	atomic_store(&fh->dense, false);
	r = fallocate(fh->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)count);
	e = errno;
	pthread_mutex_unlock(&fh->dense_lock);
	/* Trim is advisory: a filesystem without hole punching is not an
	 * error the host needs to see. */
	return r < 0 && e != EOPNOTSUPP ? BE_EIO_WRITE : 0;
}

/* The inode and its version: device, inode, size, mtime (to the
 * nanosecond).  A path is not an identity: the file under it can be
 * replaced.  Strong: a write moves the mtime. */
static int file_identity(void *handle, char *buf, size_t len)
{
	struct file_media *fh = handle;
	struct stat st;
	int n;

	if (fstat(fh->fd, &st) < 0)
		return BE_EIO_READ;
	n = snprintf(buf, len, "source=file:%llu:%llu\nsize=%lld\n"
		     "mtime=%lld.%09ld",
		     (unsigned long long)st.st_dev,
		     (unsigned long long)st.st_ino, (long long)fh->size,
		     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	return n < 0 || (size_t)n >= len ? BE_EINVAL : 0;
}

static const char *const file_schemes[] = { "", "file", NULL };

const struct backend_ops backend_file_ops = {
	.ops_size = sizeof(struct backend_ops),
	.name = "file",
	.schemes = file_schemes,
	.thread_model = BACKEND_PARALLEL,
	.open = file_open,
	.close = file_close,
	.get_size = file_get_size,
	.can_write = file_can_write,
	.can_flush = file_can_yes,
	.can_fua = file_can_yes,
	.can_trim = file_can_yes,
	.pread = file_pread,
	.pwrite = file_pwrite,
	.flush = file_flush,
	.trim = file_trim,
	.map = file_map,
	.map_write = file_map_write,
	.identity = file_identity,
};
