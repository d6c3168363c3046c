/* lun.c — LUN media state and I/O.  See lun.h for the state diagram and the
 * locking rule. */
#include "lun.h"
#include "log.h"
#include "sense.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int lun_init(struct lun *l, unsigned id, const struct config_lun *cfg,
	     const char *serial_base)
{
	char err[256];

	memset(l, 0, sizeof *l);
	l->id = id;
	l->removable = cfg->removable;
	l->cfg_readonly = cfg->readonly;
	l->block_size = cfg->block_size;
	l->block_shift = cfg->block_size == 4096 ? 12 : 9;
	lun_copy_field(l->vendor, sizeof l->vendor, cfg->vendor);
	lun_copy_field(l->product, sizeof l->product, cfg->product);
	lun_copy_field(l->revision, sizeof l->revision, cfg->revision);
	snprintf(l->serial, sizeof l->serial, "%.28s-%u", serial_base, id);
	l->ua = LUN_UA_POWER_ON;
	if (pthread_mutex_init(&l->lock, NULL) != 0)
		return -1;
	if (cfg->media && cfg->media[0] &&
	    lun_insert_req(l, &(struct lun_media_req){
				.source = cfg->media,
				.readonly = cfg->readonly,
				.options = (const char *const *)cfg->options,
				.layers = (const char *const *)cfg->layers,
			   }, err, sizeof err) < 0)
		log_errx("lun %u: %s: media not loaded, drive is empty", id, err);
	/* A fresh start reports power-on, not a medium change. */
	l->ua = LUN_UA_POWER_ON;
	return 0;
}

/* Flush a media instance the LUN lets go of. */
static void lun_flush_before_close(struct lun *l, struct backend *be)
{
	int r = backend_flush(be);

	if (r < 0)
		log_warnx("lun %u: flush before close: %s", l->id,
			  backend_strerror(r));
}

/* Flush and close a media instance. */
static void lun_close_backend(struct lun *l, struct backend *be)
{
	lun_flush_before_close(l, be);
	backend_close(be);
}

/* Let go of the current media; lock held.  Media that queued transfers
 * still point into (pins) is flushed now and closed by the last
 * lun_map_release(): a host that never finishes a transfer cannot hold
 * up an eject. */
static void lun_close_media_locked(struct lun *l)
{
	struct backend *be = l->be;

	if (!be)
		return;
	l->be = NULL;
	l->media_gen++;
	if (be->pins == 0) {
		lun_close_backend(l, be);
		return;
	}
	lun_flush_before_close(l, be);
	be->retired = true;
	log_debug(LOG_MOD_LUN, "lun %u: old media closes after %u transfer%s",
		  l->id, be->pins, be->pins == 1 ? "" : "s");
}

void lun_fini(struct lun *l)
{
	struct backend *be;

	pthread_mutex_lock(&l->lock);
	be = l->be;
	/* The transport is gone by now: pins of its cancelled transfers
	 * will never be released, so close even pinned media. */
	if (be)
		be->pins = 0;
	lun_close_media_locked(l);
	l->state = LUN_EMPTY;
	free(l->source);
	l->source = NULL;
	pthread_mutex_unlock(&l->lock);
	pthread_mutex_destroy(&l->lock);
}

void lun_snapshot(struct lun *l, struct lun_snapshot *s)
{
	pthread_mutex_lock(&l->lock);
	s->state = l->state;
	s->nblocks = l->be ? l->be->size >> l->block_shift : 0;
	s->readonly = l->readonly;
	s->prevent = l->prevent;
	s->can_trim = l->be && l->be->can_trim && !l->readonly;
	s->media_gen = l->media_gen;
	pthread_mutex_unlock(&l->lock);
}

/* Install an opened backend; lock held. */
static void lun_install_locked(struct lun *l, struct backend *be,
			       bool readonly)
{
	/* Two inserts raced (only possible without lun_change_begin):
	 * the later one wins, the earlier media is closed, never leaked. */
	lun_close_media_locked(l);
	l->be = be;
	l->stats.media_changes++;
	l->readonly = readonly || be->readonly;
	l->state = LUN_READY;
	l->host_ejected = false;
	l->media_gen++;
	l->ua |= LUN_UA_MEDIUM_CHANGED;
	l->last_error[0] = '\0';
}

int lun_insert(struct lun *l, const char *source, bool readonly,
	       char *err, size_t errlen)
{
	return lun_insert_req(l, &(struct lun_media_req){
		.source = source, .readonly = readonly }, err, errlen);
}

int lun_insert_req(struct lun *l, const struct lun_media_req *r,
		   char *err, size_t errlen)
{
	struct backend_open_opts opts = {
		.readonly = r->readonly || l->cfg_readonly,
		.block_size = l->block_size,
		.options = r->options,
		.layers = r->layers,
	};
	const char *source = r->source;
	bool readonly = r->readonly;
	struct backend *be;
	char *copy = strdup(source);

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return BE_ENOMEM;
	}
	/* The host sees NOT READY while the old media is closed and the
	 * new one opened; the open runs without the lock held. */
	pthread_mutex_lock(&l->lock);
	lun_close_media_locked(l);
	l->state = LUN_LOADING;
	snprintf(l->image, sizeof l->image, "%s", r->image ? r->image : "");
	pthread_mutex_unlock(&l->lock);
	lun_notify(l, LUN_EV_MEDIA);

	be = backend_open(source, &opts, err, errlen);

	pthread_mutex_lock(&l->lock);
	free(l->source);
	l->source = copy;
	l->source_readonly = readonly;
	if (be) {
		lun_install_locked(l, be, opts.readonly);
		log_info("lun %u: media loaded (%llu blocks of %u bytes%s)",
			 l->id, (unsigned long long)(be->size >> l->block_shift),
			 l->block_size, l->readonly ? ", read-only" : "");
	} else {
		l->state = LUN_EMPTY;
		l->image[0] = '\0';
		snprintf(l->last_error, sizeof l->last_error, "%s", err);
	}
	pthread_mutex_unlock(&l->lock);
	lun_notify(l, LUN_EV_MEDIA);
	return be ? 0 : BE_EOPEN;
}

int lun_eject(struct lun *l, bool force, bool by_host)
{
	pthread_mutex_lock(&l->lock);
	if (!l->removable && !force) {
		pthread_mutex_unlock(&l->lock);
		errno = ENOTSUP;
		return -1;
	}
	if (l->prevent && !force) {
		pthread_mutex_unlock(&l->lock);
		errno = EBUSY;
		return -1;
	}
	if (l->state == LUN_READY) {
		l->state = LUN_EJECTING;
		lun_close_media_locked(l);
		log_info("lun %u: media ejected%s", l->id,
			 by_host ? " by the host" : (force ? " (forced)" : ""));
	}
	l->state = LUN_EMPTY;
	l->host_ejected = by_host;
	if (!by_host) {
		free(l->source);
		l->source = NULL;
		l->image[0] = '\0';
		l->last_error[0] = '\0';
	}
	pthread_mutex_unlock(&l->lock);
	lun_notify(l, LUN_EV_MEDIA);
	return 0;
}

int lun_load(struct lun *l)
{
	char err[256];
	char *source = NULL;
	bool readonly;
	int r;

	pthread_mutex_lock(&l->lock);
	if (l->state == LUN_EMPTY && l->host_ejected && l->source &&
	    !l->changing)
		source = strdup(l->source);
	readonly = l->source_readonly;
	pthread_mutex_unlock(&l->lock);
	if (!source)
		return 0;
	r = lun_insert(l, source, readonly, err, sizeof err);
	if (r < 0)
		log_warnx("lun %u: reload: %s", l->id, err);
	free(source);
	return r;
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

/* Checks the media is the one the command started on; lock held. */
static int lun_check_gen_locked(struct lun *l, uint32_t gen)
{
	if (l->state != LUN_READY || !l->be)
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

int lun_read(struct lun *l, uint32_t gen, void *buf, uint32_t len,
	     uint64_t offset)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_gen_locked(l, gen);
	if (r == 0) {
		uint64_t t0 = lun_now_us();
		r = backend_pread(l->be, buf, len, offset);
		lun_latency_add(&l->stats.read_lat, lun_now_us() - t0);
		l->stats.reads++;
	}
	if (r == 0)
		l->stats.read_bytes += len;
	else
		l->stats.read_errors++;
	pthread_mutex_unlock(&l->lock);
	return r;
}

int lun_map_read(struct lun *l, uint32_t gen, uint32_t len, uint64_t offset,
		 const void **data, struct backend **pin)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_gen_locked(l, gen);
	if (r == 0) {
		*data = backend_map(l->be, len, offset);
		if (*data) {
			l->be->pins++;
			*pin = l->be;
			l->stats.reads++;
			l->stats.read_bytes += len;
			lun_latency_add(&l->stats.read_lat, 0);
		} else {
			r = BE_EUNSUPP;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

int lun_map_write(struct lun *l, uint32_t gen, uint32_t len, uint64_t offset,
		  void **data, struct backend **pin)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_write_locked(l, gen);
	if (r == 0) {
		void *p = backend_map_write(l->be, len, offset);

		if (p) {
			l->be->pins++;
			*data = p;
			*pin = l->be;
		} else {
			r = BE_EUNSUPP;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* Drops a pin; lock held.  Returns the instance to close (outside the
 * lock) when it was the last pin on retired media, else NULL. */
static struct backend *lun_unpin_locked(struct backend *pin)
{
	if (pin->pins > 0)
		pin->pins--;
	return pin->pins == 0 && pin->retired ? pin : NULL;
}

int lun_map_written(struct lun *l, uint32_t gen, struct backend *pin,
		    uint32_t len, bool ok)
{
	struct backend *done;
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
	lun_latency_add(&l->stats.write_lat, 0);
	if (r == 0)
		l->stats.write_bytes += len;
	else
		l->stats.write_errors++;
	done = lun_unpin_locked(pin);
	pthread_mutex_unlock(&l->lock);
	if (done)
		lun_close_backend(l, done);
	return r;
}

void lun_map_release(struct lun *l, struct backend *pin)
{
	struct backend *done;

	pthread_mutex_lock(&l->lock);
	done = lun_unpin_locked(pin);
	pthread_mutex_unlock(&l->lock);
	if (done)
		lun_close_backend(l, done);
}

int lun_write(struct lun *l, uint32_t gen, const void *buf, uint32_t len,
	      uint64_t offset, bool fua)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_write_locked(l, gen);
	if (r == 0) {
		uint64_t t0 = lun_now_us();
		r = backend_pwrite(l->be, buf, len, offset,
				   fua ? BACKEND_FUA : 0);
		lun_latency_add(&l->stats.write_lat, lun_now_us() - t0);
		l->stats.writes++;
	}
	if (r == 0)
		l->stats.write_bytes += len;
	else
		l->stats.write_errors++;
	pthread_mutex_unlock(&l->lock);
	return r;
}

int lun_ready(struct lun *l, uint32_t gen)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_gen_locked(l, gen);
	if (r == 0)
		r = backend_ready(l->be);
	pthread_mutex_unlock(&l->lock);
	return r;
}

int lun_flush(struct lun *l, uint32_t gen)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_gen_locked(l, gen);
	if (r == 0)
		r = backend_flush(l->be);
	pthread_mutex_unlock(&l->lock);
	return r;
}

int lun_trim(struct lun *l, uint32_t gen, uint32_t len, uint64_t offset)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_gen_locked(l, gen);
	if (r == 0)
		r = backend_trim(l->be, len, offset);
	pthread_mutex_unlock(&l->lock);
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

void lun_get_info(struct lun *l, struct lun_info *o)
{
	o->id = l->id;
	o->removable = l->removable;
	o->cfg_readonly = l->cfg_readonly;
	o->block_size = l->block_size;
	pthread_mutex_lock(&l->lock);
	o->state = l->state;
	o->changing = l->changing;
	o->prevent = l->prevent;
	o->readonly = l->be ? l->readonly : l->cfg_readonly;
	o->host_ejected = l->host_ejected;
	o->size = l->be ? l->be->size : 0;
	o->media_gen = l->media_gen;
	if (l->source)
		backend_redact(l->source, o->source, sizeof o->source);
	else
		o->source[0] = '\0';
	memcpy(o->image, l->image, sizeof o->image);
	memcpy(o->error, l->last_error, sizeof o->error);
	o->stats = l->stats;
	pthread_mutex_unlock(&l->lock);
}
