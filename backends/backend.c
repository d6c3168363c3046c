/* backend.c — opening backends and layer chains, the central checks
 * before every call, pass-through of what a layer leaves undefined, and
 * the per-instance lock of BACKEND_SERIALIZE_REQUESTS (backend.h).
 *
 * Backends never re-check ranges or abilities: everything is validated here
 * (nbdkit server/backend.c does the same for plugins and filters).  A call
 * a layer does not handle is checked again at the instance below, which
 * costs a few comparisons and keeps every instance's contract the same.
 */
#include "backend.h"
#include "log.h"
#include "layer-spec.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* True when the backend was built with a struct large enough to contain
 * `field` and sets it. */
#define BACKEND_HAS(ops, field)                                              \
	(offsetof(struct backend_ops, field) + sizeof((ops)->field) <=         \
		 (ops)->ops_size && (ops)->field != NULL)

bool backend_source_maps(const char *source)
{
	const struct backend_ops *ops = backend_lookup(source);

	return ops && BACKEND_HAS(ops, map);
}

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

/* An ability: the op's answer when defined; else, for a layer, the
 * answer of the instance below (`below`), and for a backend "no". */
static bool backend_ability(const struct backend *be, int (*fn)(void *),
			    bool below)
{
	if (fn)
		return fn(be->handle) > 0;
	return be->next ? below : false;
}

#define BACKEND_FN(ops, field) (BACKEND_HAS(ops, field) ? (ops)->field : NULL)

/* Size of be: its own get_size, or (a layer without one) next's. */
static int64_t backend_probe_size(const struct backend *be)
{
	if (BACKEND_HAS(be->ops, get_size))
		return be->ops->get_size(be->handle);
	return be->next ? (int64_t)be->next->size : BE_EUNSUPP;
}

/* Fills the cached size, abilities and effective thread model; returns 0
 * or an error.  For a layer an undefined op or ability is next's. */
static int backend_probe(struct backend *be, const struct backend_open_opts *o,
			 char *err, size_t errlen)
{
	const struct backend_ops *ops = be->ops;
	const struct backend *n = be->next;
	int64_t size = backend_probe_size(be);

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
	be->readonly = o->readonly ||
		!(BACKEND_HAS(ops, pwrite) || (n && !n->readonly)) ||
		!backend_ability(be, BACKEND_FN(ops, can_write),
				 n && !n->readonly);
	be->can_flush = (BACKEND_HAS(ops, flush) || (n && n->can_flush)) &&
		backend_ability(be, BACKEND_FN(ops, can_flush),
				n && n->can_flush);
	be->can_fua = backend_ability(be, BACKEND_FN(ops, can_fua),
				      n && n->can_fua);
	be->can_trim = (BACKEND_HAS(ops, trim) || (n && n->can_trim)) &&
		backend_ability(be, BACKEND_FN(ops, can_trim),
				n && n->can_trim);
	be->thread_model = ops->thread_model;
	if (n && n->thread_model < be->thread_model)
		be->thread_model = n->thread_model;
	return 0;
}

static struct backend *backend_new(const struct backend_ops *ops,
				   char *err, size_t errlen)
{
	struct backend *be = calloc(1, sizeof *be);

	if (!be || pthread_mutex_init(&be->lock, NULL) != 0) {
		free(be);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	be->ops = ops;
	return be;
}

/* Frees one instance whose handle is closed (or was never opened). */
static void backend_free(struct backend *be)
{
	pthread_mutex_destroy(&be->lock);
	free(be);
}

/* Probes a freshly opened instance; on failure closes its handle and
 * frees it (never next). */
static struct backend *backend_finish_open(struct backend *be,
					   const struct backend_open_opts *o,
					   char *err, size_t errlen)
{
	if (backend_probe(be, o, err, errlen) < 0) {
		be->ops->close(be->handle);
		backend_free(be);
		return NULL;
	}
	log_debug(LOG_MOD_BACKEND, "%s: opened, %llu bytes%s%s", be->ops->name,
		  (unsigned long long)be->size, be->readonly ? ", read-only" : "",
		  be->thread_model == BACKEND_PARALLEL ? ", parallel" : "");
	return be;
}

/* Opens the bottom-most instance: a backend from the registry. */
static struct backend *backend_open_base(const char *source,
					 const struct backend_open_opts *opts,
					 char *err, size_t errlen)
{
	const struct backend_ops *ops;
	struct backend *be;
	struct uri u;
	int r;

	/* Parsed once here; every backend opens the canonical form. */
	if (uri_parse(source, &u, err, errlen) < 0)
		return NULL;
	ops = backend_lookup(u.canon);
	if (!ops || !BACKEND_HAS(ops, open) || !BACKEND_HAS(ops, pread)) {
		snprintf(err, errlen, "unsupported media source scheme \"%s\"",
			 u.scheme);
		uri_free(&u);
		return NULL;
	}
	if (!(be = backend_new(ops, err, errlen))) {
		uri_free(&u);
		return NULL;
	}
	r = ops->open(u.canon, opts, &be->handle, err, errlen);
	uri_free(&u);
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s", backend_strerror(r));
		backend_free(be);
		return NULL;
	}
	return backend_finish_open(be, opts, err, errlen);
}

struct backend *backend_open_layer(const struct backend_ops *ops,
				   struct backend *next,
				   const char *const *options,
				   const struct backend_open_opts *opts,
				   char *err, size_t errlen)
{
	struct backend_open_opts lo = *opts;
	struct backend *be;
	int r;

	if (!BACKEND_HAS(ops, open_layer) || !next) {
		snprintf(err, errlen, "%s: not a layer", ops->name);
		return NULL;
	}
	if (!(be = backend_new(ops, err, errlen)))
		return NULL;
	be->next = next;
	lo.options = options;
	lo.layers = NULL;
	err[0] = '\0';
	r = ops->open_layer(next, &lo, &be->handle, err, errlen);
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s", backend_strerror(r));
		backend_free(be);
		return NULL;
	}
	if (!(be = backend_finish_open(be, &lo, err, errlen)))
		return NULL;
	return be;
}

struct backend *backend_open(const char *source,
			     const struct backend_open_opts *opts,
			     char *err, size_t errlen)
{
	struct backend *be;

	/* Which block sizes a LUN offers is its command set's rule
	 * (daemon/scsi.h); media only needs whole, aligned blocks. */
	if (opts->block_size < 512 || opts->block_size > 65536 ||
	    (opts->block_size & (opts->block_size - 1))) {
		snprintf(err, errlen, "block size must be a power of two "
			 "from 512 to 65536");
		return NULL;
	}
	err[0] = '\0';
	be = backend_open_base(source, opts, err, errlen);
	for (const char *const *l = opts->layers; be && l && *l; l++) {
		struct backend *top = layer_open_spec(*l, be, opts, err, errlen);
		if (!top) {
			backend_close(be);
			return NULL;
		}
		be = top;
	}
	if (be && backend_sequential(be)) {
		snprintf(err, errlen, "the media can only be read in order (a "
			 "server without Range support): it needs a pcache "
			 "layer over it (docs/layers.md)");
		backend_close(be);
		return NULL;
	}
	return be;
}

/* ---- statistics ------------------------------------------------------ */

void backend_stats(struct backend *be, const struct backend_stat_sink *sink)
{
	for (; be; be = be->next) {
		struct backend_stat_sink s = *sink;

		if (!BACKEND_HAS(be->ops, stats))
			continue;
		s.layer = be->ops->name;
		be->ops->stats(be->handle, &s);
	}
}

/* The closing log line of one instance: "cache: hits=1 misses=2 ...". */
struct backend_stat_line {
	char buf[1024];
	size_t len;
};

static void backend_stat_append(void *ctx, const char *layer, const char *key,
				uint64_t value, bool counter)
{
	struct backend_stat_line *l = ctx;
	int n;

	(void)layer; (void)counter;
	if (l->len >= sizeof l->buf)
		return;
	n = snprintf(l->buf + l->len, sizeof l->buf - l->len, " %s=%llu", key,
		     (unsigned long long)value);
	l->len += n > 0 ? (size_t)n : 0;
}

static void backend_log_stats(struct backend *be)
{
	struct backend_stat_line line = { .len = 0 };
	struct backend_stat_sink s = { .put = backend_stat_append,
				       .ctx = &line, .layer = be->ops->name };

	if (!BACKEND_HAS(be->ops, stats))
		return;
	be->ops->stats(be->handle, &s);
	if (line.len)
		log_info("%s: closing,%s", be->ops->name, line.buf);
}

void backend_close(struct backend *be)
{
	while (be) {
		struct backend *next = be->next;
		backend_log_stats(be);
		be->ops->close(be->handle);
		backend_free(be);
		be = next;
	}
}

/* ---- data calls: the thread model, then the op or next's -------------- */

static bool backend_serialized(const struct backend *be)
{
	return be->ops->thread_model == BACKEND_SERIALIZE_REQUESTS;
}

static void backend_lock(struct backend *be)
{
	if (backend_serialized(be))
		pthread_mutex_lock(&be->lock);
}

static void backend_unlock(struct backend *be)
{
	if (backend_serialized(be))
		pthread_mutex_unlock(&be->lock);
}

static bool backend_range_ok(const struct backend *be, uint32_t count,
			     uint64_t offset)
{
	return count > 0 && offset <= be->size && count <= be->size - offset;
}

int backend_pread(struct backend *be, void *buf, uint32_t count,
		  uint64_t offset)
{
	int r;

	if (!backend_range_ok(be, count, offset))
		return BE_EINVAL;
	if (!BACKEND_HAS(be->ops, pread))
		return backend_pread(be->next, buf, count, offset);
	backend_lock(be);
	r = be->ops->pread(be->handle, buf, count, offset);
	backend_unlock(be);
	return r;
}

int backend_try_pread(struct backend *be, void *buf, uint32_t count,
		      uint64_t offset)
{
	if (!backend_range_ok(be, count, offset))
		return 1;
	if (!BACKEND_HAS(be->ops, pread))
		return be->next ? backend_try_pread(be->next, buf, count, offset)
				: 1;
	if (!BACKEND_HAS(be->ops, try_pread) || backend_serialized(be))
		return 1;
	return be->ops->try_pread(be->handle, buf, count, offset) == 0 ? 0 : 1;
}

/* The op's flush or next's (a layer without one); unchecked. */
static int backend_do_flush(struct backend *be, uint32_t flags)
{
	int r;

	if (!BACKEND_HAS(be->ops, flush))
		return backend_flush(be->next);
	backend_lock(be);
	r = be->ops->flush(be->handle, flags);
	backend_unlock(be);
	return r;
}

/* The op's pwrite or next's (a layer without one); unchecked. */
static int backend_do_pwrite(struct backend *be, const void *buf,
			     uint32_t count, uint64_t offset, uint32_t flags)
{
	int r;

	if (!BACKEND_HAS(be->ops, pwrite))
		return backend_pwrite(be->next, buf, count, offset, flags);
	backend_lock(be);
	r = be->ops->pwrite(be->handle, buf, count, offset, flags);
	backend_unlock(be);
	return r;
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
		r = backend_do_pwrite(be, buf, count, offset,
				      flags & ~BACKEND_FUA);
		if (r < 0 || !be->can_flush)
			return r;
		r = backend_do_flush(be, 0);
		return r < 0 ? BE_EIO_WRITE : r;
	}
	return backend_do_pwrite(be, buf, count, offset, flags);
}

/* Whether map/map_write of a layer may reach next: only when the layer
 * sees no data (see "Pass-through" in backend.h). */
static bool backend_map_passes(const struct backend *be)
{
	return be->next && !BACKEND_HAS(be->ops, pread) &&
	       !BACKEND_HAS(be->ops, pwrite);
}

const void *backend_map(struct backend *be, uint32_t count, uint64_t offset)
{
	if (!backend_range_ok(be, count, offset))
		return NULL;
	if (BACKEND_HAS(be->ops, map))
		return be->ops->map(be->handle, count, offset);
	return backend_map_passes(be) ? backend_map(be->next, count, offset)
				      : NULL;
}

void *backend_map_write(struct backend *be, uint32_t count, uint64_t offset)
{
	if (be->readonly || !backend_range_ok(be, count, offset))
		return NULL;
	if (BACKEND_HAS(be->ops, map_write))
		return be->ops->map_write(be->handle, count, offset);
	return backend_map_passes(be) ?
		backend_map_write(be->next, count, offset) : NULL;
}

int backend_flush(struct backend *be)
{
	if (!be->can_flush)
		return 0;   /* nothing volatile to flush */
	return backend_do_flush(be, 0);
}

int backend_trim(struct backend *be, uint32_t count, uint64_t offset)
{
	int r;

	if (!backend_range_ok(be, count, offset))
		return BE_EINVAL;
	if (be->readonly)
		return BE_EROFS;
	if (!be->can_trim)
		return BE_EUNSUPP;
	if (!BACKEND_HAS(be->ops, trim))
		return backend_trim(be->next, count, offset);
	backend_lock(be);
	r = be->ops->trim(be->handle, count, offset, 0);
	backend_unlock(be);
	return r;
}

int backend_ready(struct backend *be)
{
	if (BACKEND_HAS(be->ops, ready))
		return be->ops->ready(be->handle);
	return be->next ? backend_ready(be->next) : 0;
}

unsigned backend_max_in_flight(struct backend *be)
{
	unsigned n;

	if (BACKEND_HAS(be->ops, max_in_flight)) {
		n = be->ops->max_in_flight(be->handle);
		return n ? n : 1;
	}
	return be->next ? backend_max_in_flight(be->next) : 1;
}

int backend_identity(struct backend *be, char *buf, size_t len)
{
	if (len == 0)
		return BE_EINVAL;
	buf[0] = '\0';
	if (BACKEND_HAS(be->ops, identity))
		return be->ops->identity(be->handle, buf, len);
	return be->next ? backend_identity(be->next, buf, len) : BE_EUNSUPP;
}

bool backend_sequential(struct backend *be)
{
	if (BACKEND_HAS(be->ops, sequential))
		return be->ops->sequential(be->handle) > 0;
	return be->next ? backend_sequential(be->next) : false;
}

int backend_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int r;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	r = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return r;
}

void backend_deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}
