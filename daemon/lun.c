/* lun.c — LUN media state and I/O.  See lun.h for the state diagram and the
 * locking rule. */
#include "lun.h"
#include "log.h"
#include "scsi.h"
#include "sense.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* Set by the API thread at start and stop, read by every thread. */
static _Atomic(lun_observer_fn) lun_observer;
static void *_Atomic lun_observer_arg;

void lun_set_observer(lun_observer_fn fn, void *arg)
{
	atomic_store(&lun_observer_arg, arg);
	atomic_store(&lun_observer, fn);
}

/* Lock not held. */
static void lun_notify(struct lun *l, enum lun_event ev)
{
	lun_observer_fn fn = atomic_load(&lun_observer);

	if (fn)
		fn(l, ev, atomic_load(&lun_observer_arg));
}

static void lun_copy_field(char *dst, size_t dstlen, const char *src)
{
	snprintf(dst, dstlen, "%s", src ? src : "");
}

/* Set once the workers run (the API threads may already call us). */
static struct mio *_Atomic lun_executor;

void lun_set_executor(struct mio *m)
{
	atomic_store(&lun_executor, m);
}

/* Longest an insert waits for the media it replaced to close: a file
 * backend's lock must be gone before the same image opens again. */
#define LUN_CLOSE_WAIT_MS 5000

struct lun_media {
	struct lun *lun;
	struct backend *be;
	unsigned refs;             /* lun lock: I/O calls and pins */
	bool retired;              /* no longer the LUN's: closed at 0 refs */
	bool no_map_write;         /* an in-place write failed: copy */
	bool direct;               /* backend_map serves the bytes */
	struct lun_media *next;    /* in l->retired */
};

int lun_init(struct lun *l, unsigned id, const struct config_lun *cfg,
	     const char *serial_base)
{
	char err[256];

	memset(l, 0, sizeof *l);
	l->id = id;
	l->type = cfg->type;
	l->cmdset = scsi_cmdset_of(cfg->type);
	l->host_eject = !cfg->refuse_host_eject;
	/* The command set's rules over the config's (a CD drive is always
	 * removable and read-only, with 2048-byte blocks). */
	l->removable = cfg->removable || l->cmdset->removable;
	l->cfg_readonly = cfg->readonly || l->cmdset->readonly;
	l->block_size = l->cmdset->block_size ? l->cmdset->block_size
					      : cfg->block_size;
	l->block_shift = (unsigned)__builtin_ctz(l->block_size);
	lun_copy_field(l->vendor, sizeof l->vendor, cfg->vendor);
	lun_copy_field(l->product, sizeof l->product, cfg->product);
	lun_copy_field(l->revision, sizeof l->revision, cfg->revision);
	snprintf(l->serial, sizeof l->serial, "%.28s-%u", serial_base, id);
	l->layers = (const char *const *)cfg->layers;
	l->net_layers = config_network_layers(cfg);
	l->ua = LUN_UA_POWER_ON;
	if (pthread_mutex_init(&l->lock, NULL) != 0)
		return -1;
	if (pthread_cond_init(&l->changed, NULL) != 0) {
		pthread_mutex_destroy(&l->lock);
		return -1;
	}
	if (cfg->media && cfg->media[0] &&
	    lun_insert_req(l, &(struct lun_media_req){
				.source = cfg->media,
				.readonly = l->cfg_readonly,
				.options = (const char *const *)cfg->options,
				.layers = (const char *const *)cfg->layers,
			   }, err, sizeof err) < 0)
		log_errx("lun %u: %s: media not loaded, drive is empty", id, err);
	/* A fresh start reports power-on, not a medium change. */
	l->ua = LUN_UA_POWER_ON;
	l->media_events = 0;
	return 0;
}

/* --- media instances ------------------------------------------------------ */

static struct lun_media *lun_media_new(struct lun *l, struct backend *be)
{
	struct lun_media *m = calloc(1, sizeof *m);

	if (!m)
		return NULL;
	m->lun = l;
	m->be = be;
	/* Probe one block: a backend that maps serves everything in place. */
	m->direct = backend_map(be, l->block_size, 0) != NULL;
	return m;
}

/* Flushes, closes and frees a retired instance; lock not held.  May wait
 * on the media. */
static void lun_media_close(struct lun_media *m)
{
	struct lun *l = m->lun;
	int r = backend_flush(m->be);

	if (r < 0)
		log_warnx("lun %u: flush before close: %s", l->id,
			  backend_strerror(r));
	backend_close(m->be);
	pthread_mutex_lock(&l->lock);
	for (struct lun_media **p = &l->retired; *p; p = &(*p)->next)
		if (*p == m) {
			*p = m->next;
			break;
		}
	pthread_cond_broadcast(&l->changed);
	pthread_mutex_unlock(&l->lock);
	free(m);
}

static void lun_media_close_job(void *arg)
{
	lun_media_close(arg);
}

/* Closes a retired instance with no references left: on the executor, or
 * here when there is none (or it refuses).  Lock not held. */
static void lun_media_dispose(struct lun_media *m, bool may_block)
{
	if (!m)
		return;
	if (may_block ||
	    mio_call(atomic_load(&lun_executor), lun_media_close_job, m) < 0)
		lun_media_close(m);
}

/* Lets go of the current media; lock held.  It is retired at once (the
 * generation moves on, so nothing new reaches it) and returned to be
 * disposed of outside the lock when nothing references it, else NULL:
 * the last lun_media_put() closes it.  A host that never finishes a
 * transfer cannot hold up an eject. */
static struct lun_media *lun_retire_locked(struct lun *l)
{
	struct lun_media *m = l->media;

	if (!m)
		return NULL;
	l->media = NULL;
	l->media_gen++;
	l->media_events |= LUN_ME_REMOVAL;
	m->retired = true;
	m->next = l->retired;
	l->retired = m;
	if (m->refs == 0)
		return m;
	log_debug(LOG_MOD_LUN, "lun %u: old media closes after %u reference%s",
		  l->id, m->refs, m->refs == 1 ? "" : "s");
	return NULL;
}

/* Drops a reference; lock held.  Returns the instance to dispose of
 * (outside the lock) when it was the last one on retired media. */
static struct lun_media *lun_unref_locked(struct lun_media *m)
{
	if (m->refs > 0)
		m->refs--;
	return m->refs == 0 && m->retired ? m : NULL;
}

void lun_fini(struct lun *l)
{
	struct lun_media *m;

	pthread_mutex_lock(&l->lock);
	(void)lun_retire_locked(l);
	l->state = LUN_EMPTY;
	free(l->source);
	l->source = NULL;
	/* The transport and the workers are gone by now: references of
	 * their cancelled transfers will never be dropped, so close even
	 * referenced media. */
	while ((m = l->retired) != NULL) {
		pthread_mutex_unlock(&l->lock);
		lun_media_close(m);
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	pthread_cond_destroy(&l->changed);
	pthread_mutex_destroy(&l->lock);
}

void lun_snapshot(struct lun *l, struct lun_snapshot *s)
{
	struct backend *be;

	pthread_mutex_lock(&l->lock);
	be = l->media ? l->media->be : NULL;
	s->state = l->state;
	s->nblocks = be ? be->size >> l->block_shift : 0;
	s->readonly = l->readonly;
	s->prevent = l->prevent;
	s->can_trim = be && be->can_trim && !l->readonly;
	s->direct = l->media && l->media->direct;
	s->media_gen = l->media_gen;
	pthread_mutex_unlock(&l->lock);
}

/* --- loading -------------------------------------------------------------- */

/* ms from now on CLOCK_REALTIME, for pthread_cond_timedwait(). */
static struct timespec lun_deadline(unsigned ms)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Starts a load; lock held.  The current media is retired (returned for
 * disposal, see lun_retire_locked), the host sees NOT READY, BECOMING
 * READY until lun_finish_load(), and *seq identifies this load. */
static void lun_get_info_locked(struct lun *l, struct lun_info *o);

/* The source the LUN shows and a host's reload reopens; copy is owned
 * from now on.  Lock held. */
static void lun_set_source_locked(struct lun *l, char *copy,
				  const struct lun_media_req *r)
{
	free(l->source);
	l->source = copy;
	l->source_readonly = r->readonly;
	l->source_policy = r->policy;
}

static struct lun_media *lun_begin_load_locked(struct lun *l,
					       const char *image,
					       uint32_t *seq)
{
	struct lun_media *old = lun_retire_locked(l);

	l->state = LUN_LOADING;
	*seq = ++l->load_seq;
	if (image != l->image)
		snprintf(l->image, sizeof l->image, "%s", image ? image : "");
	pthread_cond_broadcast(&l->changed);
	return old;
}

/* Whether opening source must wait for the LUN's retired media to close:
 * only a local file reopened (its flock), never a network or RAM source.
 * Lock held. */
static bool lun_reopens_file_locked(const struct lun *l, const char *source)
{
	char scheme[32];

	return l->retired && l->source && strcmp(l->source, source) == 0 &&
	       uri_scheme(source, scheme, sizeof scheme) == 0 &&
	       strcmp(scheme, "file") == 0;
}

/* Waits (bounded) until the media this LUN retired is closed: a file
 * backend's lock must be gone before the same image is opened again.
 * Lock not held.  Never called on a USB thread. */
static void lun_wait_retired(struct lun *l)
{
	struct timespec until = lun_deadline(LUN_CLOSE_WAIT_MS);

	pthread_mutex_lock(&l->lock);
	while (l->retired &&
	       pthread_cond_timedwait(&l->changed, &l->lock, &until) == 0)
		;
	pthread_mutex_unlock(&l->lock);
}

/* Install an opened backend; lock held. */
static void lun_install_locked(struct lun *l, struct lun_media *m,
			       bool readonly)
{
	l->media = m;
	l->stats.media_changes++;
	l->readonly = readonly || m->be->readonly;
	l->state = LUN_READY;
	l->host_ejected = false;
	l->media_gen++;
	l->ua |= LUN_UA_MEDIUM_CHANGED;
	l->media_events |= LUN_ME_NEW_MEDIA;
	l->last_error[0] = '\0';
}

const char *const *lun_layers_pick(const char *const *layers,
				   const char *const *net, const char *source)
{
	if (layers)
		return layers;
	return backend_source_maps(source) ? NULL : net;
}

/* The layers r's media opens with: the request's, else the LUN's. */
static const char *const *lun_layers_for(const struct lun *l,
					 const struct lun_media_req *r)
{
	return r->layers ? r->layers
			 : lun_layers_pick(l->layers, l->net_layers, r->source);
}

/* Opens r->source (lock not held) and installs it, unless a later load
 * started meanwhile (seq): then the late instance is closed unused.
 * copy is the source string, owned from now on.  0 or BE_EOPEN. */
static int lun_finish_load(struct lun *l, const struct lun_media_req *r,
			   uint32_t seq, char *copy, char *err, size_t errlen)
{
	struct backend_open_opts opts = {
		.readonly = r->readonly || l->cfg_readonly,
		.block_size = l->block_size,
		.options = r->options,
		.layers = lun_layers_for(l, r),
		.policy = r->policy,
	};
	struct backend *be = backend_open(r->source, &opts, err, errlen);
	struct lun_media *m = be ? lun_media_new(l, be) : NULL;
	bool stale;

	if (be && !m) {
		backend_close(be);
		snprintf(err, errlen, "out of memory");
	}
	pthread_mutex_lock(&l->lock);
	stale = seq != l->load_seq;
	if (stale) {
		free(copy);
	} else if (copy) {
		lun_set_source_locked(l, copy, r);
	}
	if (m && !stale) {
		lun_install_locked(l, m, opts.readonly);
		log_info("lun %u: media loaded (%llu blocks of %u bytes%s)",
			 l->id, (unsigned long long)(be->size >> l->block_shift),
			 l->block_size, l->readonly ? ", read-only" : "");
	} else if (!stale) {
		l->state = LUN_EMPTY;
		l->image[0] = '\0';
		snprintf(l->last_error, sizeof l->last_error, "%s", err);
	}
	if (r->result)
		lun_get_info_locked(l, r->result);
	pthread_cond_broadcast(&l->changed);
	pthread_mutex_unlock(&l->lock);
	if (m && stale) {
		backend_close(be);
		free(m);
	}
	lun_notify(l, LUN_EV_MEDIA);
	if (stale && !m)
		return BE_EOPEN;
	return m ? 0 : BE_EOPEN;
}

int lun_insert(struct lun *l, const char *source, bool readonly,
	       char *err, size_t errlen)
{
	return lun_insert_req(l, &(struct lun_media_req){
		.source = source, .readonly = readonly }, err, errlen);
}

/* lun_insert_req and lun_swap: check_prevent refuses (EBUSY) while the
 * host prevents removal of loaded media. */
static int lun_change_media(struct lun *l, const struct lun_media_req *r,
			    bool check_prevent, char *err, size_t errlen)
{
	struct lun_media *old;
	char *copy = strdup(r->source);
	uint32_t seq;
	bool reopen;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return BE_ENOMEM;
	}
	pthread_mutex_lock(&l->lock);
	if (check_prevent && l->prevent && l->state == LUN_READY) {
		pthread_mutex_unlock(&l->lock);
		free(copy);
		return -EBUSY;
	}
	old = lun_begin_load_locked(l, r->image, &seq);
	reopen = lun_reopens_file_locked(l, r->source);
	/* From now on the LUN shows the source being loaded. */
	lun_set_source_locked(l, copy, r);
	pthread_mutex_unlock(&l->lock);
	lun_notify(l, LUN_EV_MEDIA);
	lun_media_dispose(old, true);
	if (reopen)
		lun_wait_retired(l);
	return lun_finish_load(l, r, seq, NULL, err, errlen);
}

int lun_insert_req(struct lun *l, const struct lun_media_req *r,
		   char *err, size_t errlen)
{
	return lun_change_media(l, r, false, err, errlen);
}

int lun_swap(struct lun *l, const struct lun_media_req *r, bool force,
	     char *err, size_t errlen)
{
	int rc = lun_change_media(l, r, !force, err, errlen);

	if (rc == 0)
		return 0;
	errno = rc == -EBUSY ? EBUSY : EIO;
	return -1;
}

/* Ejects; by_host marks a USB thread's call (never waits for the close). */
int lun_eject(struct lun *l, bool force, bool by_host)
{
	return lun_eject_info(l, force, by_host, NULL);
}

int lun_eject_info(struct lun *l, bool force, bool by_host,
		   struct lun_info *result)
{
	struct lun_media *old = NULL;

	pthread_mutex_lock(&l->lock);
	if (!l->removable && !force) {
		pthread_mutex_unlock(&l->lock);
		errno = ENOTSUP;
		return -1;
	}
	if (l->prevent && !force) {
		/* Tell the host someone wants the media (MMC eject request:
		 * a desktop unmounts and allows removal). */
		if (!by_host && l->state == LUN_READY)
			l->media_events |= LUN_ME_EJECT_REQUEST;
		pthread_mutex_unlock(&l->lock);
		errno = EBUSY;
		return -1;
	}
	if (l->state == LUN_READY) {
		l->state = LUN_EJECTING;
		old = lun_retire_locked(l);
		log_info("lun %u: media ejected%s", l->id,
			 by_host ? " by the host" : (force ? " (forced)" : ""));
	}
	/* A load under way is overtaken: its late open is not installed. */
	l->load_seq++;
	l->state = LUN_EMPTY;
	l->host_ejected = by_host;
	if (!by_host) {
		free(l->source);
		l->source = NULL;
		l->image[0] = '\0';
		l->last_error[0] = '\0';
	}
	if (result)
		lun_get_info_locked(l, result);
	pthread_cond_broadcast(&l->changed);
	pthread_mutex_unlock(&l->lock);
	lun_media_dispose(old, !by_host);
	lun_notify(l, LUN_EV_MEDIA);
	return 0;
}

/* A host load on the executor. */
struct lun_load_job {
	struct lun *lun;
	struct lun_media_req req;
	char *source;
	uint32_t seq;
};

static void lun_load_run(void *arg)
{
	struct lun_load_job *j = arg;
	char err[256];
	bool reopen;

	pthread_mutex_lock(&j->lun->lock);
	reopen = lun_reopens_file_locked(j->lun, j->source);
	pthread_mutex_unlock(&j->lun->lock);
	if (reopen)
		lun_wait_retired(j->lun);
	if (lun_finish_load(j->lun, &j->req, j->seq, j->source, err,
			    sizeof err) < 0)
		log_warnx("lun %u: reload: %s", j->lun->id, err);
	free(j);
}

int lun_load_start(struct lun *l)
{
	struct lun_load_job *j = calloc(1, sizeof *j);

	if (!j)
		return -1;
	pthread_mutex_lock(&l->lock);
	if (l->state == LUN_EMPTY && l->host_ejected && l->source &&
	    !l->changing)
		j->source = strdup(l->source);
	if (!j->source) {
		pthread_mutex_unlock(&l->lock);
		free(j);
		return 0;
	}
	j->lun = l;
	j->req = (struct lun_media_req){ .source = j->source,
					 .readonly = l->source_readonly,
					 .policy = l->source_policy };
	(void)lun_begin_load_locked(l, l->image, &j->seq);
	pthread_mutex_unlock(&l->lock);
	lun_notify(l, LUN_EV_MEDIA);
	if (mio_call(atomic_load(&lun_executor), lun_load_run, j) < 0) {
		pthread_mutex_lock(&l->lock);
		if (j->seq == l->load_seq) {
			l->state = LUN_EMPTY;
			snprintf(l->last_error, sizeof l->last_error,
				 "cannot start the load");
		}
		pthread_cond_broadcast(&l->changed);
		pthread_mutex_unlock(&l->lock);
		lun_notify(l, LUN_EV_MEDIA);
		free(j->source);
		free(j);
		return -1;
	}
	return 1;
}

enum lun_state lun_wait_loaded(struct lun *l, unsigned ms)
{
	struct timespec until = lun_deadline(ms);
	enum lun_state st;

	pthread_mutex_lock(&l->lock);
	while (l->state == LUN_LOADING &&
	       pthread_cond_timedwait(&l->changed, &l->lock, &until) == 0)
		;
	st = l->state;
	pthread_mutex_unlock(&l->lock);
	return st;
}

int lun_load(struct lun *l)
{
	int r = lun_load_start(l);

	if (r <= 0)
		return r;
	return lun_wait_loaded(l, UINT32_MAX / 2) == LUN_READY ? 0 : BE_EOPEN;
}

void lun_set_prevent(struct lun *l, bool prevent)
{
	bool changed;

	pthread_mutex_lock(&l->lock);
	changed = l->prevent != prevent;
	l->prevent = prevent;
	pthread_mutex_unlock(&l->lock);
	if (changed)
		lun_notify(l, LUN_EV_LOCK);
}

bool lun_host_eject_request(struct lun *l, bool refused_by_prevent)
{
	bool allowed = l->host_eject;   /* fixed after lun_init */

	pthread_mutex_lock(&l->lock);
	l->eject_requests++;
	if (!allowed || refused_by_prevent)
		l->eject_refused++;
	pthread_mutex_unlock(&l->lock);
	log_info("lun %u: the host asks to eject the media%s", l->id,
		 !allowed ? " (refused: host_eject is false)"
		 : refused_by_prevent ? " (refused: removal prevented)" : "");
	lun_notify(l, LUN_EV_EJECT_REQUEST);
	return allowed;
}

unsigned lun_take_media_event(struct lun *l)
{
	unsigned ev = 0;

	pthread_mutex_lock(&l->lock);
	for (unsigned bit = LUN_ME_EJECT_REQUEST; bit <= LUN_ME_NEW_MEDIA;
	     bit <<= 1)
		if (l->media_events & bit) {
			ev = bit;
			break;
		}
	l->media_events &= ~ev;
	pthread_mutex_unlock(&l->lock);
	return ev;
}

void lun_media_munlock(struct lun *l)
{
	const uint64_t chunk = 1ull << 30;   /* page-aligned steps */

	pthread_mutex_lock(&l->lock);
	for (uint64_t off = 0; l->media && l->media->direct &&
	     off < l->media->be->size; off += chunk) {
		uint64_t left = l->media->be->size - off;
		uint32_t n = (uint32_t)(left < chunk ? left : chunk);
		const void *p = backend_map(l->media->be, n, off);

		if (p)
			(void)munlock(p, n);
	}
	pthread_mutex_unlock(&l->lock);
}

void lun_add_ua(struct lun *l, unsigned ua)
{
	pthread_mutex_lock(&l->lock);
	l->ua |= ua;
	pthread_mutex_unlock(&l->lock);
}

bool lun_has_ua(struct lun *l)
{
	bool r;

	pthread_mutex_lock(&l->lock);
	r = l->ua != 0;
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* Power-on/reset outranks medium-changed (SPC-4 5.13, "highest first"):
 * after a reset, the host re-reads everything anyway, so both clear. */
uint32_t lun_take_ua(struct lun *l)
{
	uint32_t s = SENSE_NONE;

	pthread_mutex_lock(&l->lock);
	if (l->ua & LUN_UA_POWER_ON) {
		s = SENSE_POWER_ON_RESET;
		l->ua = 0;
	} else if (l->ua & LUN_UA_MEDIUM_CHANGED) {
		s = SENSE_MEDIUM_CHANGED;
		l->ua &= ~LUN_UA_MEDIUM_CHANGED;
	}
	pthread_mutex_unlock(&l->lock);
	return s;
}

static uint64_t lun_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void lun_latency_add(struct lun_latency *lat, uint64_t us)
{
	static const uint64_t bounds[LUN_LAT_BUCKETS] = LUN_LAT_BOUNDS_US;
	unsigned b = 0;

	while (b < LUN_LAT_BUCKETS && us > bounds[b])
		b++;
	lat->bucket[b]++;
	lat->count++;
	lat->sum_us += us;
}

/* --- I/O --------------------------------------------------------------- */

/* Checks the media is the one the command started on; lock held. */
static int lun_check_gen_locked(struct lun *l, uint32_t gen)
{
	if (l->state != LUN_READY || !l->media)
		return BE_ENOMEDIUM;
	if (l->media_gen != gen)
		return BE_ECHANGED;
	return 0;
}

/* lun_check_gen_locked, and the media takes writes; lock held. */
static int lun_check_write_locked(struct lun *l, uint32_t gen)
{
	int r = lun_check_gen_locked(l, gen);

	return r == 0 && l->readonly ? BE_EROFS : r;
}

/* A reference on the current media of generation gen; lock held. */
static int lun_ref_locked(struct lun *l, uint32_t gen, bool write,
			  struct lun_media **m)
{
	int r = write ? lun_check_write_locked(l, gen)
		      : lun_check_gen_locked(l, gen);

	if (r == 0) {
		l->media->refs++;
		*m = l->media;
	}
	return r;
}

int lun_media_get(struct lun *l, uint32_t gen, struct lun_media **m)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_ref_locked(l, gen, false, m);
	pthread_mutex_unlock(&l->lock);
	return r;
}

void lun_media_put(struct lun *l, struct lun_media *m)
{
	struct lun_media *done;

	pthread_mutex_lock(&l->lock);
	done = lun_unref_locked(m);
	pthread_mutex_unlock(&l->lock);
	lun_media_dispose(done, false);
}

bool lun_media_direct(struct lun *l, uint32_t gen)
{
	bool r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_gen_locked(l, gen) == 0 && l->media->direct;
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* Accounts for one media call of len bytes that took us microseconds
 * (none for in-place transfers: they are not timed). */
static void lun_account(struct lun *l, bool write, int r, uint32_t len,
			const uint64_t *us)
{
	uint64_t *bytes = write ? &l->stats.write_bytes : &l->stats.read_bytes;
	uint64_t *errs = write ? &l->stats.write_errors : &l->stats.read_errors;

	pthread_mutex_lock(&l->lock);
	if (us) {
		lun_latency_add(write ? &l->stats.write_lat : &l->stats.read_lat,
				*us);
		(*(write ? &l->stats.writes : &l->stats.reads))++;
	}
	if (r == 0)
		*bytes += len;
	else
		(*errs)++;
	pthread_mutex_unlock(&l->lock);
}

int lun_read(struct lun *l, uint32_t gen, void *buf, uint32_t len,
	     uint64_t offset)
{
	struct lun_media *m;
	uint64_t t0, us;
	int r = lun_media_get(l, gen, &m);

	if (r < 0) {
		lun_account(l, false, r, len, NULL);
		return r;
	}
	t0 = lun_now_us();
	r = backend_pread(m->be, buf, len, offset);
	us = lun_now_us() - t0;
	lun_account(l, false, r, len, &us);
	lun_media_put(l, m);
	return r;
}

int lun_try_read(struct lun *l, uint32_t gen, void *buf, uint32_t len,
		 uint64_t offset)
{
	struct lun_media *m;
	uint64_t t0, us;
	int r;

	if (lun_media_get(l, gen, &m) < 0)
		return 1;
	t0 = lun_now_us();
	r = backend_try_pread(m->be, buf, len, offset);
	if (r == 0) {
		us = lun_now_us() - t0;
		lun_account(l, false, 0, len, &us);
	}
	lun_media_put(l, m);
	return r;
}

int lun_write(struct lun *l, uint32_t gen, const void *buf, uint32_t len,
	      uint64_t offset, bool fua)
{
	struct lun_media *m = NULL;
	uint64_t t0, us;
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_ref_locked(l, gen, true, &m);
	pthread_mutex_unlock(&l->lock);
	if (r < 0) {
		lun_account(l, true, r, len, NULL);
		return r;
	}
	t0 = lun_now_us();
	r = backend_pwrite(m->be, buf, len, offset, fua ? BACKEND_FUA : 0);
	us = lun_now_us() - t0;
	lun_account(l, true, r, len, &us);
	lun_media_put(l, m);
	return r;
}

int lun_map_read(struct lun *l, uint32_t gen, uint32_t len, uint64_t offset,
		 const void **data, struct lun_media **pin)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_gen_locked(l, gen);
	if (r == 0) {
		*data = backend_map(l->media->be, len, offset);
		if (*data) {
			l->media->refs++;
			*pin = l->media;
			l->stats.reads++;
			l->stats.read_bytes += len;
		} else {
			r = BE_EUNSUPP;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

int lun_map_write(struct lun *l, uint32_t gen, uint32_t len, uint64_t offset,
		  void **data, struct lun_media **pin)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_write_locked(l, gen);
	if (r == 0) {
		void *p = l->media->no_map_write ? NULL
			: backend_map_write(l->media->be, len, offset);

		if (p) {
			l->media->refs++;
			*data = p;
			*pin = l->media;
		} else {
			r = BE_EUNSUPP;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

int lun_map_written(struct lun *l, uint32_t gen, struct lun_media *pin,
		    uint32_t len, bool ok)
{
	struct lun_media *done;
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_gen_locked(l, gen);
	if (!ok) {
		/* A fault while storing (a hole on a full filesystem, a
		 * file shrunk by someone else): copy from now on. */
		pin->no_map_write = true;
		log_warnx("lun %u: in-place write of %u bytes failed; writes "
			  "copy from now on", l->id, len);
		if (r == 0)
			r = BE_EIO_WRITE;
	}
	l->stats.writes++;
	if (r == 0)
		l->stats.write_bytes += len;
	else
		l->stats.write_errors++;
	done = lun_unref_locked(pin);
	pthread_mutex_unlock(&l->lock);
	lun_media_dispose(done, false);
	return r;
}

void lun_map_release(struct lun *l, struct lun_media *pin)
{
	lun_media_put(l, pin);
}

int lun_ready(struct lun *l, uint32_t gen)
{
	struct lun_media *m;
	int r = lun_media_get(l, gen, &m);

	if (r < 0)
		return r;
	r = backend_ready(m->be);
	lun_media_put(l, m);
	return r;
}

int lun_flush(struct lun *l, uint32_t gen)
{
	struct lun_media *m;
	int r = lun_media_get(l, gen, &m);

	if (r < 0)
		return r;
	r = backend_flush(m->be);
	lun_media_put(l, m);
	return r;
}

int lun_trim(struct lun *l, uint32_t gen, uint32_t len, uint64_t offset)
{
	struct lun_media *m;
	int r = lun_media_get(l, gen, &m);

	if (r < 0)
		return r;
	r = backend_trim(m->be, len, offset);
	lun_media_put(l, m);
	return r;
}

/* --- admin API ---------------------------------------------------------- */

int lun_change_begin(struct lun *l)
{
	int r = 0;

	pthread_mutex_lock(&l->lock);
	if (l->changing) {
		errno = EBUSY;
		r = -1;
	} else {
		l->changing = true;
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

void lun_change_end(struct lun *l)
{
	pthread_mutex_lock(&l->lock);
	l->changing = false;
	pthread_mutex_unlock(&l->lock);
	/* Observers saw the change with `changing` set: tell them it ended. */
	lun_notify(l, LUN_EV_MEDIA);
}

const char *lun_state_name(enum lun_state s)
{
	static const char *const names[] = {
		[LUN_EMPTY] = "empty", [LUN_LOADING] = "loading",
		[LUN_READY] = "ready", [LUN_EJECTING] = "ejecting",
	};

	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

static void lun_stat_put(void *ctx, const char *layer, const char *key,
			 uint64_t value, bool counter)
{
	struct lun_info *o = ctx;
	struct lun_layer_stat *st;

	if (o->nlayer_stats >= LUN_LAYER_STATS)
		return;
	st = &o->layer_stats[o->nlayer_stats++];
	snprintf(st->layer, sizeof st->layer, "%s", layer);
	snprintf(st->key, sizeof st->key, "%s", key);
	st->value = value;
	st->counter = counter;
}

void lun_get_info(struct lun *l, struct lun_info *o)
{
	pthread_mutex_lock(&l->lock);
	lun_get_info_locked(l, o);
	pthread_mutex_unlock(&l->lock);
}

static void lun_get_info_locked(struct lun *l, struct lun_info *o)
{
	struct backend_stat_sink sink = { .put = lun_stat_put, .ctx = o };

	o->id = l->id;
	o->type = l->type;
	o->host_eject = l->host_eject;
	o->removable = l->removable;
	o->cfg_readonly = l->cfg_readonly;
	o->block_size = l->block_size;
	o->state = l->state;
	o->changing = l->changing;
	o->prevent = l->prevent;
	o->readonly = l->media ? l->readonly : l->cfg_readonly;
	o->host_ejected = l->host_ejected;
	o->size = l->media ? l->media->be->size : 0;
	o->media_gen = l->media_gen;
	if (l->source)
		backend_redact(l->source, o->source, sizeof o->source);
	else
		o->source[0] = '\0';
	memcpy(o->image, l->image, sizeof o->image);
	memcpy(o->error, l->last_error, sizeof o->error);
	o->stats = l->stats;
	o->eject_requests = l->eject_requests;
	o->eject_refused = l->eject_refused;
	o->nlayer_stats = 0;
	/* Layers' stats never block on I/O (backend.h): fine under the lock. */
	if (l->media && l->state == LUN_READY)
		backend_stats(l->media->be, &sink);
}
