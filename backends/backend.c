/* backend.c — opening backends and the central checks before every call.
 *
 * Backends never re-check ranges or abilities: everything is validated here
 * (nbdkit server/backend.c does the same for plugins and filters).
 */
#include "backend.h"
#include "log.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when the backend was built with a struct large enough to contain
 * `field` and sets it. */
#define BACKEND_HAS(ops, field)                                              \
	(offsetof(struct backend_ops, field) + sizeof((ops)->field) <=         \
		 (ops)->ops_size && (ops)->field != NULL)

static const char *const backend_err_names[] = {
	[0] = "success",
	[-BE_EIO_READ] = "unrecovered read error",
	[-BE_EIO_WRITE] = "write error",
	[-BE_ENOMEDIUM] = "medium not present",
	[-BE_ECHANGED] = "medium changed",
	[-BE_ERETRY] = "connection lost, retrying",
	[-BE_EROFS] = "medium is read-only",
	[-BE_ENOSPC] = "no space left on backing store",
	[-BE_ENOMEM] = "out of memory",
	[-BE_EINVAL] = "invalid request",
	[-BE_EUNSUPP] = "operation not supported",
	[-BE_EOPEN] = "cannot open medium",
};

const char *backend_strerror(int err)
{
	size_t i = (size_t)(err < 0 ? -err : err);

	if (i < sizeof backend_err_names / sizeof backend_err_names[0] &&
	    backend_err_names[i])
		return backend_err_names[i];
	return "unknown backend error";
}

static int backend_ability(const struct backend_ops *ops, void *h,
			   int (*fn)(void *))
{
	(void)ops;
	return fn ? fn(h) > 0 : 0;
}

/* Fills the cached size and abilities; returns 0 or an error. */
static int backend_probe(struct backend *be, const struct backend_open_opts *o,
			 char *err, size_t errlen)
{
	const struct backend_ops *ops = be->ops;
	int64_t size = ops->get_size(be->handle);

	if (size < 0) {
		snprintf(err, errlen, "cannot get size: %s",
			 backend_strerror((int)size));
		return (int)size;
	}
	if (size == 0 || (uint64_t)size % o->block_size != 0) {
		snprintf(err, errlen,
			 "size %lld is %s a multiple of the %u-byte block size",
			 (long long)size, size == 0 ? "zero, not" : "not",
			 o->block_size);
		return BE_EOPEN;
	}
	be->size = (uint64_t)size;
	be->readonly = o->readonly || !BACKEND_HAS(ops, pwrite) ||
		!backend_ability(ops, be->handle,
				 BACKEND_HAS(ops, can_write) ? ops->can_write : NULL);
	be->can_flush = BACKEND_HAS(ops, flush) &&
		backend_ability(ops, be->handle,
				BACKEND_HAS(ops, can_flush) ? ops->can_flush : NULL);
	be->can_fua = BACKEND_HAS(ops, can_fua) &&
		backend_ability(ops, be->handle, ops->can_fua);
	be->can_trim = BACKEND_HAS(ops, trim) &&
		backend_ability(ops, be->handle,
				BACKEND_HAS(ops, can_trim) ? ops->can_trim : NULL);
	return 0;
}

struct backend *backend_open(const char *source,
			     const struct backend_open_opts *opts,
			     char *err, size_t errlen)
{
	const struct backend_ops *ops = backend_lookup(source);
	struct backend *be;
	int r;

	if (!ops) {
		snprintf(err, errlen, "unsupported media source scheme");
		return NULL;
	}
	if (opts->block_size != 512 && opts->block_size != 4096) {
		snprintf(err, errlen, "block size must be 512 or 4096");
		return NULL;
	}
	be = calloc(1, sizeof *be);
	if (!be) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	be->ops = ops;
	err[0] = '\0';
	r = ops->open(source, opts, &be->handle, err, errlen);
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s", backend_strerror(r));
		free(be);
		return NULL;
	}
	if (backend_probe(be, opts, err, errlen) < 0) {
		ops->close(be->handle);
		free(be);
		return NULL;
	}
	log_debug(LOG_MOD_BACKEND, "%s: opened, %llu bytes%s", ops->name,
		  (unsigned long long)be->size, be->readonly ? ", read-only" : "");
	return be;
}

void backend_close(struct backend *be)
{
	if (!be)
		return;
	be->ops->close(be->handle);
	free(be);
}

static bool backend_range_ok(const struct backend *be, uint32_t count,
			     uint64_t offset)
{
	return count > 0 && offset <= be->size && count <= be->size - offset;
}

int backend_pread(struct backend *be, void *buf, uint32_t count,
		  uint64_t offset)
{
	if (!backend_range_ok(be, count, offset))
		return BE_EINVAL;
	return be->ops->pread(be->handle, buf, count, offset);
}

int backend_pwrite(struct backend *be, const void *buf, uint32_t count,
		   uint64_t offset, uint32_t flags)
{
	int r;

	if (!backend_range_ok(be, count, offset))
		return BE_EINVAL;
	if (be->readonly)
		return BE_EROFS;
	if ((flags & BACKEND_FUA) && !be->can_fua) {
		/* Emulate FUA with a write then a flush. */
		r = be->ops->pwrite(be->handle, buf, count, offset,
				    flags & ~BACKEND_FUA);
		if (r < 0 || !be->can_flush)
			return r;
		r = be->ops->flush(be->handle, 0);
		return r < 0 ? BE_EIO_WRITE : r;
	}
	return be->ops->pwrite(be->handle, buf, count, offset, flags);
}

const void *backend_map(struct backend *be, uint32_t count, uint64_t offset)
{
	if (!BACKEND_HAS(be->ops, map) || !backend_range_ok(be, count, offset))
		return NULL;
	return be->ops->map(be->handle, count, offset);
}

void *backend_map_write(struct backend *be, uint32_t count, uint64_t offset)
{
	if (!BACKEND_HAS(be->ops, map_write) || be->readonly ||
	    be->no_map_write || !backend_range_ok(be, count, offset))
		return NULL;
	return be->ops->map_write(be->handle, count, offset);
}

int backend_flush(struct backend *be)
{
	if (!be->can_flush)
		return 0;   /* nothing volatile to flush */
	return be->ops->flush(be->handle, 0);
}

int backend_trim(struct backend *be, uint32_t count, uint64_t offset)
{
	if (!backend_range_ok(be, count, offset))
		return BE_EINVAL;
	if (be->readonly)
		return BE_EROFS;
	if (!be->can_trim)
		return BE_EUNSUPP;
	return be->ops->trim(be->handle, count, offset, 0);
}

int backend_ready(struct backend *be)
{
	const struct backend_ops *ops = be->ops;

	if (!BACKEND_HAS(ops, ready))
		return 0;
	return ops->ready(be->handle);
}
