/* backend.h — the media backend interface.
 *
 * A backend turns a source (a path or a URI) into a block of bytes the LUN
 * serves.  Each backend is one file in backends/ exporting one
 * `struct backend_ops` and one line in backends/registry.c.
 *
 * Layers (nbdkit filters): a layer is a `struct backend_ops` too, in
 * layers/NAME/, with one line in layers/registry.c.  It sets open_layer
 * instead of open and receives `next`, the open instance below it; it
 * calls next through the checked backend_pread()/... functions.  The
 * chain is built bottom-up by backend_open() from opts->layers
 * ("name" or "name:key=value,key=value", bottom-most first), and
 * backend_close() on the top closes the whole chain, top first.
 *
 * Pass-through (done by the core, backend.c): an op a layer leaves NULL
 * goes to `next` unchanged: pread, pwrite, flush, trim, ready,
 * max_in_flight, the size and every can_* ability.  Zero-copy is the one
 * exception: map and map_write reach `next` only when the layer defines
 * neither pread nor pwrite.  A layer that sees data (changes it, delays
 * it, fails it, caches it) must see every byte: letting the caller read
 * or store next's memory directly would bypass it (stale overlay data,
 * no injected latency).  Such a layer may define its own map/map_write.
 *
 * Checks are central: backend_pread()/backend_pwrite()/... in backend.c
 * validate offset, length, alignment and abilities before calling ops, so a
 * backend never re-checks.  Backends return meaning-level errors
 * (enum backend_err); lun.c maps them to SCSI sense in one place.
 *
 * Concurrency: every backend and layer declares the thread model its code
 * really has.  BACKEND_PARALLEL: pread/pwrite/flush/trim may run on
 * several threads at once on one instance.  BACKEND_SERIALIZE_REQUESTS:
 * the core takes the instance's own mutex around each of those calls, so
 * the ops never overlap.  The lock is taken at the instance that declared
 * the model, where the unsafe code is: a PARALLEL layer over a SERIALIZE
 * backend runs concurrently and its calls queue only where they reach the
 * backend.  struct backend's thread_model is the effective model of the
 * instance: the stricter of its own and of everything below, i.e. whether
 * more than one call in flight can make progress anywhere in the chain.
 * ready, max_in_flight, map, map_write and the abilities are never
 * locked: every backend keeps them thread-safe (ready never blocks).
 * Open and close are never concurrent with anything on the instance.
 *
 * ABI: `ops_size` is sizeof(struct backend_ops) the backend was built with;
 * new fields are only ever added at the end, and the core treats fields past
 * ops_size as NULL.
 */
#ifndef NS_BACKEND_H
#define NS_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uri.h"

/* Meaning-level results.  0 is success; everything else is negative. */
enum backend_err {
	BE_OK = 0,
	BE_EIO_READ = -1,    /* data could not be read: UNRECOVERED READ ERROR */
	BE_EIO_WRITE = -2,   /* data could not be written: WRITE ERROR */
	BE_ENOMEDIUM = -3,   /* the medium is gone for good */
	BE_ECHANGED = -4,    /* the object changed under us: media change */
	BE_ERETRY = -5,      /* connection lost, reconnecting: try again */
	BE_EROFS = -6,       /* write to read-only media */
	BE_ENOSPC = -7,      /* backing store full */
	BE_ENOMEM = -8,      /* out of memory or another local resource */
	BE_EINVAL = -9,      /* bad request (range, alignment): a core bug */
	BE_EUNSUPP = -10,    /* operation not supported by this backend */
	BE_EOPEN = -11,      /* open failed: message in the error buffer */
};

const char *backend_strerror(int err);

/* Flags for pwrite/flush/trim. */
#define BACKEND_FUA 1u       /* data durable before the call returns */

enum backend_thread_model {
	BACKEND_SERIALIZE_REQUESTS = 0, /* one request at a time */
	BACKEND_PARALLEL = 1,           /* any number of concurrent calls */
};

/* Options given at open time (from config or the admin API). */
struct backend_open_opts {
	bool readonly;        /* open read-only even if writable */
	uint32_t block_size;  /* the LUN's logical block size */
	/* Per-source options: "key=value" strings, NULL-terminated; NULL
	 * means none.  Owned by the caller, only read during open().  Keys
	 * are backend-specific (docs/backends.md); a backend refuses keys it
	 * does not know.  Values may be secrets (passwords, tokens, headers):
	 * never log them.  A key given twice: the last one wins, except for
	 * repeatable keys ("header"). */
	const char *const *options;
	/* Layers to stack over the backend, bottom-most first,
	 * NULL-terminated; NULL means none.  Each entry is "name" or
	 * "name:key=value,key=value" (values cannot contain ','; at most 32
	 * pairs, 1024 bytes an entry).  Owned by the caller, only read
	 * during open().  A layer refuses keys it does not know. */
	const char *const *layers;
	/* The source policy (uri.h) when a client, not the config, chose
	 * the source; NULL = trusted.  Enforced at the moment of use: local
	 * files open beneath policy->dirfd, HTTP checks every redirect hop
	 * against its schemes and hosts.  Owned by the caller, valid for the
	 * instance's life (the API's lives as long as the daemon). */
	const struct uri_policy *policy;
};

struct backend;

/* Statistics (backend_ops.stats): a layer or backend reports named
 * numbers through a sink the core hands it.  Keys are lower_snake_case
 * ([a-z0-9_], at most 31 bytes), fixed per layer and documented in
 * docs/layers.md; they become "layers": {"NAME": {"key": n}} in the
 * LUN's JSON, netstick_layer_NAME_KEY{lun} in /metrics (counters get
 * "_total") and "NAME: key=n ..." in the log when the media closes. */
struct backend_stat_sink {
	/* Called once per value, on the caller's thread, during stats(). */
	void (*put)(void *ctx, const char *layer, const char *key,
		    uint64_t value, bool counter);
	void *ctx;
	const char *layer;    /* set by the core: ops->name */
};
/* A counter only grows while the instance is open (hits, bytes read); a
 * gauge is a level now (bytes cached, reads in flight). */
static inline void backend_stat_counter(const struct backend_stat_sink *s,
					const char *key, uint64_t value)
{
	s->put(s->ctx, s->layer, key, value, true);
}
static inline void backend_stat_gauge(const struct backend_stat_sink *s,
				      const char *key, uint64_t value)
{
	s->put(s->ctx, s->layer, key, value, false);
}

struct backend_ops {
	size_t ops_size;      /* sizeof(struct backend_ops) at build time */
	const char *name;     /* "file", "nbd", "http", ... */
	/* URI schemes handled, NULL-terminated.  The empty string "" means
	 * "a plain path with no scheme". */
	const char *const *schemes;
	enum backend_thread_model thread_model;

	/* Open `source`.  On success store the private handle in *handle and
	 * return 0; on failure return BE_EOPEN (or another error) and write a
	 * human message into err (never including secrets). */
	int (*open)(const char *source, const struct backend_open_opts *opts,
		    void **handle, char *err, size_t errlen);
	void (*close)(void *handle);

	/* Size in bytes; < 0 is an enum backend_err. */
	int64_t (*get_size)(void *handle);

	/* Abilities: return 1 (yes), 0 (no).  NULL means no. */
	int (*can_write)(void *handle);
	int (*can_flush)(void *handle);
	int (*can_fua)(void *handle);
	int (*can_trim)(void *handle);
	int (*can_multi_conn)(void *handle);

	/* Data.  Exactly count bytes or an error: never a short result. */
	int (*pread)(void *handle, void *buf, uint32_t count, uint64_t offset);
	int (*pwrite)(void *handle, const void *buf, uint32_t count,
		      uint64_t offset, uint32_t flags);
	int (*flush)(void *handle, uint32_t flags);
	int (*trim)(void *handle, uint32_t count, uint64_t offset,
		    uint32_t flags);

	/* Added for network media (fields past ops_size are NULL). */

	/* Is the medium usable right now?  0 yes, BE_ERETRY while a lost
	 * connection is being re-established, BE_ECHANGED when the object
	 * changed under us, BE_ENOMEDIUM when it is gone.  Never blocks.
	 * NULL means always ready. */
	int (*ready)(void *handle);
	/* Most requests the backend keeps in flight internally for one call
	 * (informational, for status output); NULL means 1. */
	unsigned (*max_in_flight)(void *handle);

	/* Added for zero-copy reads (fields past ops_size are NULL). */

	/* Zero-copy reads: the address of bytes [offset, offset+count) of
	 * the medium in this process's memory, read-only, or NULL when they
	 * cannot be read in place right now (the core then calls pread).  The
	 * memory stays valid until close and shows every completed pwrite and
	 * trim: a file backend maps the same page cache it writes.  A backend
	 * whose size can change under it (a file truncated by someone else)
	 * checks the range is still there, so a stale mapping never faults. */
	const void *(*map)(void *handle, uint32_t count, uint64_t offset);

	/* Added for zero-copy writes (fields past ops_size are NULL). */

	/* Zero-copy writes: the writable address of bytes [offset,
	 * offset+count) of the medium, for data the caller will place there
	 * directly (FunctionFS completes an OUT transfer by copying into it),
	 * or NULL when the bytes must go through pwrite.  Only offered where
	 * storing into the memory cannot fail: a file backend declines when
	 * the file has shrunk or may have holes (a page fault that has to
	 * allocate can fail, and would reach the writer as EFAULT).  The
	 * bytes are as durable as a completed pwrite without FUA: flush
	 * covers them. */
	void *(*map_write)(void *handle, uint32_t count, uint64_t offset);

	/* Added for layers (fields past ops_size are NULL). */

	/* A layer sets this instead of open: open over `next`, the open
	 * instance below (owned by the core: never closed by the layer, and
	 * valid until after the layer's close).  opts->options holds the
	 * "key=value" pairs of the layer's spec (parse them with
	 * backend_optset_init(set, "", opts, ...)); opts->layers is NULL.
	 * Same results and error convention as open. */
	int (*open_layer)(struct backend *next,
			  const struct backend_open_opts *opts, void **handle,
			  char *err, size_t errlen);

	/* Added for statistics (fields past ops_size are NULL). */

	/* Reports this instance's statistics through sink (see struct
	 * backend_stat_sink).  Never blocks on I/O: it may take the
	 * instance's own short locks only, since it runs under the LUN lock
	 * from API and metrics threads, concurrently with data calls.  NULL:
	 * nothing to report.  Never passed through: each instance of a
	 * chain reports its own. */
	void (*stats)(void *handle, const struct backend_stat_sink *sink);

	/* Added for reads served from memory (fields past ops_size are NULL). */

	/* Bytes [offset, offset+count) into buf when this instance holds all
	 * of them in memory right now: 0, else 1 (buf then holds anything;
	 * the caller reads with pread).  Never blocks: no I/O, no waiting for
	 * another caller's I/O, the instance's short locks only, because the
	 * core calls it on the USB thread before a read goes to a media I/O
	 * worker.  Otherwise a read like pread (statistics, read-ahead).
	 * Only called on an instance whose own thread model is PARALLEL.
	 * NULL: never in memory; the core does not look below (the layer in
	 * between may change the bytes) unless the layer has no pread
	 * either. */
	int (*try_pread)(void *handle, void *buf, uint32_t count,
			 uint64_t offset);

	/* Added for persistent caches (fields past ops_size are NULL). */

	/* The identity of the open image, for a cache that outlives the
	 * process (layers/pcache): "key=value" lines, NUL-terminated, at
	 * most len bytes with the NUL.  The first line is "source=..." and
	 * names the object (never a credential: use backend_redact()); the
	 * lines after it say which version of it is open (size, ETag,
	 * mtime...).  Two identities with the same first line and different
	 * lines after it are two versions of one object: the older is stale.
	 * Returns 0 (strong: a validator proves the version), 1 (weak: only
	 * the name and size), or an error: BE_EUNSUPP when the media has no
	 * stable identity (RAM), BE_EINVAL when len is too small.  May do
	 * I/O (a content sample); called at open time, never on a USB
	 * thread.  A layer that leaves it NULL passes next's through; a
	 * layer whose bytes are not next's (a copy-on-write overlay) must
	 * define it, returning BE_EUNSUPP or an identity of its own, or a
	 * cache above it would keep its bytes under next's name. */
	int (*identity)(void *handle, char *buf, size_t len);
	/* 1 when the media can only be read in order from offset 0, one
	 * piece after another (an HTTP server without Range support, under
	 * the explicit no-range=download option): only a layer that stores
	 * what arrives (layers/pcache) can serve such media.  NULL means no;
	 * a layer that leaves it NULL passes next's through. */
	int (*sequential)(void *handle);
};

/* An open instance: owned by whoever called backend_open(). */
struct backend {
	const struct backend_ops *ops;
	void *handle;
	struct backend *next;     /* the instance below a layer, or NULL */
	uint64_t size;            /* bytes, fixed at open */
	bool readonly;            /* opened read-only or !can_write */
	bool can_flush, can_fua, can_trim;
	/* Effective model: the stricter of ops->thread_model and next's
	 * (see "Concurrency" above); fixed at open. */
	enum backend_thread_model thread_model;
	pthread_mutex_t lock;     /* held around data ops when ops->
	                           * thread_model is SERIALIZE_REQUESTS */
	/* The owner's bookkeeping (references, retiring, in-place writes
	 * switched off) is the owner's: daemon/lun.c's struct lun_media. */
};

/* Registry (registry.c): find the ops for a source by its URI scheme,
 * case-insensitive (uri_scheme()). */
const struct backend_ops *backend_lookup(const char *source);
/* Whether source's backend serves reads in place (ops->map: a local file,
 * RAM, a seed volume); false for network media and unknown schemes. */
bool backend_source_maps(const char *source);

/* Layer registry (layers/registry.c): the layer called name[0..len), or
 * NULL. */
const struct backend_ops *layer_lookup(const char *name, size_t len);

/* Open source through the registry, then stack opts->layers over it
 * (bottom-most first).  The source is parsed once (uri_parse) and the
 * backend's open() receives its canonical form.  Returns the top of the chain, or NULL and a
 * message in err on failure (a layer's message is prefixed with
 * "layer NAME: "); nothing stays open on failure.  The message never
 * contains credentials. */
struct backend *backend_open(const char *source,
			     const struct backend_open_opts *opts,
			     char *err, size_t errlen);
/* Opens one layer (ops->open_layer) over next with the "key=value" pairs
 * in options (NULL-terminated, or NULL).  On success the new instance
 * owns next (closing it closes next); on failure next is untouched and
 * still the caller's.  For backend_open() and tests. */
struct backend *backend_open_layer(const struct backend_ops *ops,
				   struct backend *next,
				   const char *const *options,
				   const struct backend_open_opts *opts,
				   char *err, size_t errlen);
/* Closes be and everything below it, top first.  No call may be in
 * flight on any instance of the chain. */
void backend_close(struct backend *be);

/* Checked data calls: offset+count must lie inside the size; count > 0. */
int backend_pread(struct backend *be, void *buf, uint32_t count,
		  uint64_t offset);
/* ops->try_pread where the instance (or, through layers without pread,
 * the one below) offers it: 0 when the bytes came from memory, 1 when
 * they must be read with backend_pread().  Never blocks. */
int backend_try_pread(struct backend *be, void *buf, uint32_t count,
		      uint64_t offset);
int backend_pwrite(struct backend *be, const void *buf, uint32_t count,
		   uint64_t offset, uint32_t flags);
int backend_flush(struct backend *be);
/* Zero-copy read: the address of bytes [offset, offset+count) of the
 * medium (backend_ops.map), or NULL when the backend cannot serve them in
 * place (use backend_pread) or the range is not inside the size.  The
 * caller keeps the instance open while anything (a queued USB transfer)
 * may still read the memory.  Should the file still shrink between this
 * call and the read, in-kernel copies (FunctionFS) fail with EFAULT
 * rather than raising a signal. */
const void *backend_map(struct backend *be, uint32_t count, uint64_t offset);
/* Zero-copy write: the writable address of those bytes
 * (backend_ops.map_write), or NULL when they must go through
 * backend_pwrite: the instance is read-only, the range is not inside the
 * size, or the backend declines.  The caller keeps the instance open until whatever stores
 * into the memory has finished; a store that faults anyway (the file
 * shrank meanwhile) fails with EFAULT in the kernel, never a signal. */
void *backend_map_write(struct backend *be, uint32_t count, uint64_t offset);
int backend_trim(struct backend *be, uint32_t count, uint64_t offset);

/* Calls ops->stats of every instance of the chain that has one, top
 * first, each with sink->layer set to its name.  Thread-safe; never
 * blocks on I/O. */
void backend_stats(struct backend *be, const struct backend_stat_sink *sink);

/* 0 when the medium can serve I/O now, else BE_ERETRY / BE_ECHANGED /
 * BE_ENOMEDIUM (see backend_ops.ready).  Never blocks: TEST UNIT READY may
 * call it. */
int backend_ready(struct backend *be);
/* Requests the chain keeps in flight internally for one call
 * (backend_ops.max_in_flight, passed through layers); at least 1. */
unsigned backend_max_in_flight(struct backend *be);

/* *ts = CLOCK_MONOTONIC now + ms, for pthread_cond_timedwait() on a
 * condition variable set to that clock (a helper for backends and
 * layers that wait with deadlines). */
struct timespec;
void backend_deadline(struct timespec *ts, unsigned ms);
/* pthread_cond_init() of a condition variable on CLOCK_MONOTONIC, the
 * clock of backend_deadline(): 0 or an errno value. */
int backend_cond_init(pthread_cond_t *c);

/* Longest identity string, NUL included (backend_ops.identity). */
#define BACKEND_IDENTITY_MAX 1024
/* The identity of the chain's image (backend_ops.identity, passed
 * through layers): 0 strong, 1 weak, or BE_EUNSUPP / another error. */
int backend_identity(struct backend *be, char *buf, size_t len);
/* Whether the chain can only be read in order from offset 0
 * (backend_ops.sequential, passed through layers). */
bool backend_sequential(struct backend *be);

/* Writes a copy of source fit for logs and status output into buf (always
 * NUL-terminated, truncated to len) and returns buf: the URI userinfo
 * ("user:password@") becomes "***@" and the values of query and fragment
 * parameters whose names look secret (containing pass, token, secret, sig,
 * key, auth, cred, psk, session, bearer) become "***".  The source is read
 * with uri_parse(), the parser everything else uses, so whatever a backend
 * would take for userinfo is hidden ("http:/u:p@h", "HTTPS://u:p@h"); a
 * source it cannot parse shows as "scheme:***".  Plain paths are
 * unchanged. */
const char *backend_redact(const char *source, char *buf, size_t len);

/* Per-source options of one open: the caller's opts->options plus
 * non-secret "key=value&key=value" options written in the URI fragment
 * ("https://host/disk.img#ca-file=/etc/ca.pem").  Fragments are never sent
 * to a server, so this is where options go when there is no config
 * mapping.  The config's options win over the fragment's.
 *
 *   known:  the keys the backend accepts (NULL-terminated); anything else
 *           is an open error naming the key (never its value).
 *   secret: keys refused in the fragment (credentials come from options
 *           only, so they never sit in a URI that gets logged or shown).
 *
 * On success *set holds a heap copy of the source without the fragment
 * (set->uri) and the merged list; free with backend_optset_free(). */
struct backend_optset {
	char *uri;                /* source without "#fragment" */
	const char **kv;          /* "key=value", NULL-terminated */
	char *fragbuf;            /* storage behind the fragment's entries */
};
int backend_optset_init(struct backend_optset *set, const char *source,
			const struct backend_open_opts *opts,
			const char *const *known, const char *const *secret,
			char *err, size_t errlen);
void backend_optset_free(struct backend_optset *set);
/* The value of the last `key`, or NULL. */
const char *backend_opt_get(const struct backend_optset *set, const char *key);
/* Parses an unsigned option in [min, max]; *out = def when absent.
 * Returns 0, or BE_EOPEN with a message naming the key. */
int backend_opt_uint(const struct backend_optset *set, const char *key,
		     unsigned def, unsigned min, unsigned max, unsigned *out,
		     char *err, size_t errlen);
/* Parses a fraction in [0, 1] ("0.05", "1", "0") into parts per
 * million; *out = def_ppm when absent.  Returns 0 or BE_EOPEN. */
int backend_opt_ratio(const struct backend_optset *set, const char *key,
		      unsigned def_ppm, unsigned *out, char *err,
		      size_t errlen);
/* Parses 0/1/true/false/yes/no; *out = def when absent. */
int backend_opt_bool(const struct backend_optset *set, const char *key,
		     bool def, bool *out, char *err, size_t errlen);

/* The registered backends, one line each in registry.c. */
extern const struct backend_ops backend_file_ops;
extern const struct backend_ops backend_example_ops;
extern const struct backend_ops backend_nbd_ops;    /* nbd.c, libnbd */
extern const struct backend_ops backend_http_ops;   /* http.c, libcurl */
extern const struct backend_ops backend_seed_ops;   /* seed.c, built seeds */

/* The registered layers, one line each in layers/registry.c. */
extern const struct backend_ops layer_inject_ops;   /* layers/inject/ */
extern const struct backend_ops layer_cache_ops;    /* layers/cache/ */
extern const struct backend_ops layer_overlay_ops;  /* layers/overlay/ */
extern const struct backend_ops layer_pcache_ops;   /* layers/pcache/ */
extern const struct backend_ops layer_ratelimit_ops; /* layers/ratelimit/ */

#endif
