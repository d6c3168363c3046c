/* nbd.c — NBD backend on libnbd: nbd://, nbds://, nbd+unix://, nbds+unix://.
 *
 * The core calls us from the USB thread, one command at a time, and a
 * command must finish well inside a host's timeout (UEFI: 5 s).  So:
 *
 *   - a call splits its range into chunks and keeps them all in flight on
 *     the live connections (several when the server allows multi-conn),
 *     driving libnbd's async API itself with poll(2) until a deadline
 *     (option timeout, default 4 s);
 *   - a connection that dies, or a call that hits its deadline, closes the
 *     connections involved and returns BE_ERETRY at once (the host sees
 *     02/04/01 and retries); chunks of a dead connection are resent on a
 *     live one first, if there is one;
 *   - a background thread reconnects closed connections with exponential
 *     backoff (100 ms doubling to 5 s, forever, until close);
 *   - an export that comes back with another size or writability is a
 *     different medium: every call then returns BE_ECHANGED.
 *
 * Writes are acknowledged only when the server acknowledged every chunk;
 * a write cut by a lost connection is BE_ERETRY and the host resends it.
 *
 * Connection states (per slot):
 *
 *     UP ──died / deadline──▶ DOWN ──reconnect thread──▶ UP
 *
 * Locking: `lock` protects every field after it.  A call holds it for its
 * whole duration; the reconnect thread connects without it and takes it
 * only to install the new handle.
 *
 * Threads: declared BACKEND_SERIALIZE_REQUESTS, because that is what the
 * call-wide lock makes it: concurrent calls are safe but queue, one call's
 * chunks in flight at a time (a call already keeps up to 64 requests on
 * every connection, so a large read is not slower for it).  The core's
 * lock therefore adds nothing but says so honestly; ready() takes the
 * lock only when it is free (it never blocks), and a call holds it at
 * most for the call's deadline.  Going PARALLEL would need the chunks of several calls
 * to share the poll loop (one driver per connection), left for later.
 */
#include "backend.h"
#include "log.h"
#include "nbd-conn.h"

#include <errno.h>
#include <libnbd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define NBD_BACKOFF_MIN_MS 100
#define NBD_BACKOFF_MAX_MS 5000
#define NBD_MAX_CHUNKS 64     /* chunks in flight for one call */

struct nbd_media {
	struct nbd_cfg cfg;
	char redacted[256];
	int stopfd;                   /* eventfd: close() wakes connects */
	pthread_t thread;
	bool thread_started;
	uint64_t size;                /* pinned at open */
	bool readonly, can_flush, can_fua, can_trim, multi_conn;
	uint32_t max_chunk;

	pthread_mutex_t lock;
	pthread_cond_t wake;          /* a slot went DOWN, or stopping */
	bool stopping;
	atomic_bool changed;          /* export differs after a reconnect;
	                               * written under lock, read by ready()
	                               * without it */
	unsigned nconns;
	struct nbd_handle *conn[NBD_MAX_CONNS];   /* NULL = DOWN */
	atomic_uint nup;              /* slots not NULL; written under lock,
	                               * read by ready() without it */
	unsigned next;                /* round robin */
	bool down_logged;
};

/* One piece of a call. */
struct nbd_chunk {
	char *buf;
	uint64_t off;
	uint32_t len;
	int conn;                     /* slot, -1 when not in flight */
	int64_t cookie;
	bool done;
};

enum nbd_op { NBD_OP_READ, NBD_OP_WRITE, NBD_OP_FLUSH, NBD_OP_TRIM };

/* ---- connection slots ------------------------------------------------ */

/* Closes slot i and wakes the reconnect thread; lock held. */
static void nbd_slot_down(struct nbd_media *m, unsigned i, const char *why)
{
	if (!m->conn[i])
		return;
	nbd_close(m->conn[i]);
	m->conn[i] = NULL;
	atomic_fetch_sub(&m->nup, 1);
	if (!m->down_logged)
		log_warnx("nbd: %s: connection %u lost (%s), reconnecting",
			  m->redacted, i, why);
	m->down_logged = true;
	pthread_cond_signal(&m->wake);
}

static bool nbd_slot_dead(struct nbd_handle *h)
{
	return nbd_aio_is_dead(h) || nbd_aio_is_closed(h);
}

/* Next live slot after the last one used, or -1; lock held. */
static int nbd_pick(struct nbd_media *m)
{
	for (unsigned k = 0; k < m->nconns; k++) {
		unsigned i = (m->next + k) % m->nconns;
		if (m->conn[i] && !nbd_slot_dead(m->conn[i])) {
			m->next = i + 1;
			return (int)i;
		}
	}
	return -1;
}

/* 0, BE_ECHANGED or BE_ERETRY; lock held. */
static int nbd_usable(struct nbd_media *m)
{
	if (m->changed)
		return BE_ECHANGED;
	for (unsigned i = 0; i < m->nconns; i++)
		if (m->conn[i] && !nbd_slot_dead(m->conn[i]))
			return 0;
	return BE_ERETRY;
}

/* ---- one call: submit, drive, collect -------------------------------- */

static int64_t nbd_submit(struct nbd_media *m, enum nbd_op op,
			  struct nbd_chunk *c, uint32_t flags)
{
	struct nbd_handle *h = m->conn[c->conn];
	uint32_t f = (flags & BACKEND_FUA) && m->can_fua ? LIBNBD_CMD_FLAG_FUA : 0;

	switch (op) {
	case NBD_OP_READ:
		return nbd_aio_pread(h, c->buf, c->len, c->off,
				     NBD_NULL_COMPLETION, 0);
	case NBD_OP_WRITE:
		return nbd_aio_pwrite(h, c->buf, c->len, c->off,
				      NBD_NULL_COMPLETION, f);
	case NBD_OP_FLUSH:
		return nbd_aio_flush(h, NBD_NULL_COMPLETION, 0);
	case NBD_OP_TRIM:
		return nbd_aio_trim(h, c->len, c->off, NBD_NULL_COMPLETION, f);
	}
	return -1;
}

/* Puts chunk c in flight on some live connection; lock held.
 * Returns 0 or BE_ERETRY when no connection takes it. */
static int nbd_send(struct nbd_media *m, enum nbd_op op, struct nbd_chunk *c,
		    uint32_t flags)
{
	int i;

	while ((i = nbd_pick(m)) >= 0) {
		c->conn = i;
		c->cookie = nbd_submit(m, op, c, flags);
		if (c->cookie > 0)
			return 0;
		const char *e = nbd_get_error();
		nbd_slot_down(m, (unsigned)i, e ? e : "submit failed");
	}
	c->conn = -1;
	return BE_ERETRY;
}

/* A command failed because its connection went away (libnbd retires the
 * commands in flight with these when the server hangs up). */
static bool nbd_conn_errno(int err)
{
	return err == ESHUTDOWN || err == ENOTCONN || err == ECONNRESET ||
	       err == EPIPE || err == ECONNABORTED;
}

/* Maps a failed command's errno to a backend error. */
static int nbd_cmd_error(enum nbd_op op, int err)
{
	switch (err) {
	case ENOSPC: case EDQUOT: return BE_ENOSPC;
	case EROFS: case EPERM: return BE_EROFS;
	case ENOTSUP: return BE_EUNSUPP;
	case ENOMEM: return BE_ENOMEM;
	default: return op == NBD_OP_READ ? BE_EIO_READ : BE_EIO_WRITE;
	}
}

/* Checks every in-flight chunk; resends those of dead connections.
 * Returns the number still pending, or a negative error. */
static int nbd_collect(struct nbd_media *m, enum nbd_op op,
		       struct nbd_chunk *c, unsigned n, uint32_t flags)
{
	int pending = 0, r;

	for (unsigned k = 0; k < n; k++) {
		if (c[k].done)
			continue;
		if (c[k].conn >= 0 && m->conn[c[k].conn]) {
			struct nbd_handle *h = m->conn[c[k].conn];
			r = nbd_aio_command_completed(h, c[k].cookie);
			int e = r < 0 ? nbd_get_errno() : 0;
			const char *msg = r < 0 ? nbd_get_error() : NULL;
			if (r == 1) {
				c[k].done = true;
				continue;
			}
			if (r == 0 && !nbd_slot_dead(h)) {
				pending++;
				continue;
			}
			if (!nbd_slot_dead(h) && !nbd_conn_errno(e)) {
				log_warnx("nbd: %s: %s", m->redacted,
					  msg ? msg : strerror(e));
				return nbd_cmd_error(op, e);
			}
			nbd_slot_down(m, (unsigned)c[k].conn, "died");
		}
		/* Not acknowledged and its connection is gone: resend. */
		if (nbd_send(m, op, &c[k], flags) < 0)
			return BE_ERETRY;
		pending++;
	}
	return pending;
}

/* One poll round over the connections with chunks in flight. */
static void nbd_poll_once(struct nbd_media *m, struct nbd_chunk *c,
			  unsigned n, int timeout_ms)
{
	struct pollfd pfd[NBD_MAX_CONNS];
	unsigned slot[NBD_MAX_CONNS], np = 0;
	bool busy[NBD_MAX_CONNS] = { false };

	for (unsigned k = 0; k < n; k++)
		if (!c[k].done && c[k].conn >= 0)
			busy[c[k].conn] = true;
	for (unsigned i = 0; i < m->nconns; i++) {
		if (!busy[i] || !m->conn[i])
			continue;
		unsigned dir = nbd_aio_get_direction(m->conn[i]);
		pfd[np].fd = nbd_aio_get_fd(m->conn[i]);
		pfd[np].events = (short)(((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
					 ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0));
		slot[np++] = i;
	}
	if (poll(pfd, np, timeout_ms) <= 0)
		return;
	for (unsigned j = 0; j < np; j++) {
		struct nbd_handle *h = m->conn[slot[j]];
		short re = pfd[j].revents;
		if (re & (POLLIN | POLLHUP | POLLERR))
			nbd_aio_notify_read(h);
		else if (re & POLLOUT)
			nbd_aio_notify_write(h);
	}
}

/* Closes every connection that still has a chunk of this call in flight,
 * so libnbd holds no pointer into the caller's buffer; lock held. */
static void nbd_abandon(struct nbd_media *m, struct nbd_chunk *c, unsigned n,
			const char *why)
{
	for (unsigned k = 0; k < n; k++)
		if (!c[k].done && c[k].conn >= 0)
			nbd_slot_down(m, (unsigned)c[k].conn, why);
}

/* Runs chunks c[0..n), all in flight, until done or the deadline. */
static int nbd_run(struct nbd_media *m, enum nbd_op op, struct nbd_chunk *c,
		   unsigned n, uint32_t flags, int64_t deadline)
{
	int r = nbd_usable(m);

	for (unsigned k = 0; k < n && r == 0; k++)
		r = nbd_send(m, op, &c[k], flags);
	while (r == 0) {
		r = nbd_collect(m, op, c, n, flags);
		if (r <= 0)
			break;
		int64_t left = deadline - nbd_now_ms();
		if (left <= 0) {
			log_warnx("nbd: %s: no reply within %u ms",
				  m->redacted, m->cfg.timeout_ms);
			r = BE_ERETRY;
			break;
		}
		nbd_poll_once(m, c, n, left > 1000 ? 1000 : (int)left);
		r = 0;
	}
	if (r < 0)
		nbd_abandon(m, c, n, r == BE_ERETRY ? "timeout" : "error");
	return r;
}

/* Splits [off, off+count) into chunks no larger than the chunk-size
 * option and the server's maximum, and runs them in rounds of at most
 * NBD_MAX_CHUNKS in flight, all under the call's one deadline.  (Fewer,
 * larger chunks would break the server's maximum block size.) */
static int nbd_rw(struct nbd_media *m, enum nbd_op op, char *buf,
		  uint32_t count, uint64_t off, uint32_t flags)
{
	struct nbd_chunk c[NBD_MAX_CHUNKS];
	uint32_t csize = m->cfg.chunk < m->max_chunk ? m->cfg.chunk
						     : m->max_chunk;
	int64_t deadline = nbd_now_ms() + m->cfg.timeout_ms;
	uint32_t done = 0;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	while (r == 0 && done < count) {
		unsigned n;
		for (n = 0; n < NBD_MAX_CHUNKS && done < count; n++) {
			uint32_t len = count - done < csize ? count - done
							    : csize;
			c[n] = (struct nbd_chunk){
				.buf = buf ? buf + done : NULL,
				.off = off + done, .len = len, .conn = -1 };
			done += len;
		}
		r = nbd_run(m, op, c, n, flags, deadline);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* ---- reconnecting ---------------------------------------------------- */

/* Installs a fresh handle in a DOWN slot, or marks the medium changed if
 * the export is not the one we opened; lock held. */
static void nbd_install(struct nbd_media *m, struct nbd_handle *h)
{
	int64_t size = nbd_get_size(h);
	bool ro = nbd_is_read_only(h) == 1;

	if (size < 0 || (uint64_t)size != m->size || (ro && !m->readonly)) {
		if (!m->changed)
			log_warnx("nbd: %s: export changed on reconnect "
				  "(%lld bytes%s): medium changed", m->redacted,
				  (long long)size, ro ? ", read-only" : "");
		m->changed = true;
		nbd_close(h);
		return;
	}
	for (unsigned i = 0; i < m->nconns; i++) {
		if (!m->conn[i]) {
			m->conn[i] = h;
			atomic_fetch_add(&m->nup, 1);
			if (m->down_logged)
				log_info("nbd: %s: reconnected", m->redacted);
			m->down_logged = false;
			return;
		}
	}
	nbd_close(h);
}

static bool nbd_any_down(struct nbd_media *m)
{
	for (unsigned i = 0; i < m->nconns; i++)
		if (!m->conn[i])
			return true;
	return false;
}

static void nbd_wait_ms(struct nbd_media *m, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&m->wake, &m->lock, &ts);
}

static void *nbd_reconnect_thread(void *arg)
{
	struct nbd_media *m = arg;
	unsigned backoff = NBD_BACKOFF_MIN_MS;
	char err[256];

	pthread_mutex_lock(&m->lock);
	while (!m->stopping) {
		if (m->changed || !nbd_any_down(m)) {
			backoff = NBD_BACKOFF_MIN_MS;
			pthread_cond_wait(&m->wake, &m->lock);
			continue;
		}
		pthread_mutex_unlock(&m->lock);
		struct nbd_handle *h = nbd_conn_open(&m->cfg, m->stopfd,
						     err, sizeof err);
		pthread_mutex_lock(&m->lock);
		if (h && !m->stopping) {
			nbd_install(m, h);
			backoff = NBD_BACKOFF_MIN_MS;
			continue;
		}
		if (h)
			nbd_close(h);
		if (m->stopping)
			break;
		log_debug(LOG_MOD_BACKEND, "nbd: %s: reconnect: %s (next in %u ms)",
			  m->redacted, err, backoff);
		nbd_wait_ms(m, backoff);
		backoff = backoff * 2 > NBD_BACKOFF_MAX_MS ? NBD_BACKOFF_MAX_MS
							   : backoff * 2;
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* ---- open and close -------------------------------------------------- */

static void nbd_media_free(struct nbd_media *m)
{
	if (m->thread_started) {
		pthread_mutex_lock(&m->lock);
		m->stopping = true;
		pthread_cond_signal(&m->wake);
		pthread_mutex_unlock(&m->lock);
		eventfd_write(m->stopfd, 1);
		pthread_join(m->thread, NULL);
	}
	for (unsigned i = 0; i < NBD_MAX_CONNS; i++)
		if (m->conn[i])
			nbd_close(m->conn[i]);
	if (m->stopfd >= 0)
		close(m->stopfd);
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
	nbd_cfg_free(&m->cfg);
	free(m);
}

/* Reads the export's size and abilities from the first connection. */
static int nbd_describe(struct nbd_media *m, bool ro_opt, char *err,
			size_t errlen)
{
	struct nbd_handle *h = m->conn[0];
	int64_t size = nbd_get_size(h);
	int64_t maxb = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);

	if (size <= 0) {
		snprintf(err, errlen, "%s: export has no size", m->redacted);
		return BE_EOPEN;
	}
	m->size = (uint64_t)size;
	m->readonly = ro_opt || nbd_is_read_only(h) == 1;
	m->can_flush = nbd_can_flush(h) == 1;
	m->can_fua = nbd_can_fua(h) == 1;
	m->can_trim = nbd_can_trim(h) == 1;
	m->multi_conn = nbd_can_multi_conn(h) == 1;
	m->max_chunk = maxb > 0 && maxb < (1 << 25) ? (uint32_t)maxb : 1u << 25;
	m->nconns = m->multi_conn ? m->cfg.connections : 1;
	return 0;
}

static int nbd_open(const char *source, const struct backend_open_opts *opts,
		    void **handle, char *err, size_t errlen)
{
	struct nbd_media *m = calloc(1, sizeof *m);

	if (!m)
		return BE_ENOMEM;
	m->stopfd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->wake, NULL);
	backend_redact(source, m->redacted, sizeof m->redacted);
	if (nbd_cfg_init(&m->cfg, source, opts, err, errlen) < 0)
		goto fail;
	m->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->conn[0] = nbd_conn_open(&m->cfg, m->stopfd, err, errlen);
	if (m->stopfd < 0 || !m->conn[0] ||
	    nbd_describe(m, opts->readonly, err, errlen) < 0)
		goto fail;
	for (unsigned i = 1; i < m->nconns; i++)
		m->conn[i] = nbd_conn_open(&m->cfg, m->stopfd, err, errlen);
	for (unsigned i = 0; i < m->nconns; i++)
		if (m->conn[i])
			atomic_fetch_add(&m->nup, 1);
	if (pthread_create(&m->thread, NULL, nbd_reconnect_thread, m) != 0) {
		snprintf(err, errlen, "cannot start the reconnect thread");
		goto fail;
	}
	m->thread_started = true;
	log_debug(LOG_MOD_BACKEND, "nbd: %s: %llu bytes, %u connection(s)%s%s%s%s",
		  m->redacted, (unsigned long long)m->size, m->nconns,
		  m->readonly ? ", read-only" : "", m->can_flush ? ", flush" : "",
		  m->can_fua ? ", fua" : "", m->can_trim ? ", trim" : "");
	*handle = m;
	return 0;
fail:
	nbd_media_free(m);
	return BE_EOPEN;
}

static void nbd_close_media(void *handle)
{
	nbd_media_free(handle);
}

/* ---- operations ------------------------------------------------------ */

static int64_t nbd_get_size_op(void *handle)
{
	return (int64_t)((struct nbd_media *)handle)->size;
}

static int nbd_can_write_op(void *h) { return !((struct nbd_media *)h)->readonly; }
static int nbd_can_flush_op(void *h) { return ((struct nbd_media *)h)->can_flush; }
static int nbd_can_fua_op(void *h) { return ((struct nbd_media *)h)->can_fua; }
static int nbd_can_trim_op(void *h) { return ((struct nbd_media *)h)->can_trim; }
static int nbd_can_multi_conn_op(void *h)
{
	return ((struct nbd_media *)h)->multi_conn;
}

static int nbd_pread_op(void *handle, void *buf, uint32_t count, uint64_t off)
{
	return nbd_rw(handle, NBD_OP_READ, buf, count, off, 0);
}

static int nbd_pwrite_op(void *handle, const void *buf, uint32_t count,
			 uint64_t off, uint32_t flags)
{
	/* libnbd only reads from the buffer of a write. */
	return nbd_rw(handle, NBD_OP_WRITE, (char *)(uintptr_t)buf, count, off,
		      flags);
}

static int nbd_flush_op(void *handle, uint32_t flags)
{
	struct nbd_media *m = handle;
	struct nbd_chunk c = { .conn = -1 };
	int r;

	(void)flags;
	pthread_mutex_lock(&m->lock);
	r = nbd_run(m, NBD_OP_FLUSH, &c, 1, 0, nbd_now_ms() + m->cfg.timeout_ms);
	pthread_mutex_unlock(&m->lock);
	return r;
}

static int nbd_trim_op(void *handle, uint32_t count, uint64_t off,
		       uint32_t flags)
{
	return nbd_rw(handle, NBD_OP_TRIM, NULL, count, off, flags);
}

/* Never blocks: while someone holds the lock (a call, for up to its
 * deadline, or the reconnect thread) the answer comes from the atomics:
 * changed, or no slot up.  A connection that died unnoticed then counts
 * as up; the next call finds out and says BE_ERETRY. */
static int nbd_ready_op(void *handle)
{
	struct nbd_media *m = handle;
	int r;

	if (pthread_mutex_trylock(&m->lock) != 0)
		return atomic_load(&m->changed) ? BE_ECHANGED :
		       atomic_load(&m->nup) ? 0 : BE_ERETRY;
	r = nbd_usable(m);
	pthread_mutex_unlock(&m->lock);
	return r;
}

static unsigned nbd_max_in_flight_op(void *handle)
{
	return ((struct nbd_media *)handle)->nconns * NBD_MAX_CHUNKS;
}

#define NBD_SAMPLE 65536   /* bytes hashed at each end of the export */

/* NBD has no standard content validator, so the identity carries one of
 * our own: a hash of the export's first and last NBD_SAMPLE bytes (boot
 * sector, partition tables, ISO volume descriptors, the GPT backup
 * header), which a replaced image changes.  Writes by other clients in
 * between are not seen: a cached NBD export must not be written behind
 * the cache's back (docs/layers.md). */
static int nbd_identity(void *handle, char *buf, size_t len)
{
	struct nbd_media *m = handle;
	uint32_t n = m->size < NBD_SAMPLE ? (uint32_t)m->size : NBD_SAMPLE;
	char *b = malloc(2 * (size_t)n);
	XXH128_hash_t h;
	int r;

	if (!b)
		return BE_ENOMEM;
	r = nbd_rw(m, NBD_OP_READ, b, n, 0, 0);
	if (r == 0)
		r = nbd_rw(m, NBD_OP_READ, b + n, n, m->size - n, 0);
	if (r < 0) {
		free(b);
		return r;
	}
	h = XXH3_128bits(b, 2 * (size_t)n);
	free(b);
	r = snprintf(buf, len, "source=%s\nsize=%llu\nsample=%016llx%016llx",
		     m->cfg.redacted, (unsigned long long)m->size,
		     (unsigned long long)h.high64,
		     (unsigned long long)h.low64);
	return r < 0 || (size_t)r >= len ? BE_EINVAL : 0;
}

static const char *const nbd_schemes[] = {
	"nbd", "nbds", "nbd+unix", "nbds+unix", NULL,
};

const struct backend_ops backend_nbd_ops = {
	.ops_size = sizeof(struct backend_ops),
	.name = "nbd",
	.schemes = nbd_schemes,
	.thread_model = BACKEND_SERIALIZE_REQUESTS,
	.open = nbd_open,
	.close = nbd_close_media,
	.get_size = nbd_get_size_op,
	.can_write = nbd_can_write_op,
	.can_flush = nbd_can_flush_op,
	.can_fua = nbd_can_fua_op,
	.can_trim = nbd_can_trim_op,
	.can_multi_conn = nbd_can_multi_conn_op,
	.pread = nbd_pread_op,
	.pwrite = nbd_pwrite_op,
	.flush = nbd_flush_op,
	.trim = nbd_trim_op,
	.ready = nbd_ready_op,
	.max_in_flight = nbd_max_in_flight_op,
	.identity = nbd_identity,
};
