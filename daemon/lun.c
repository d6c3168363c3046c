/* lun.c — LUN media state and I/O.  See lun.h for the state diagram and the
 * locking rule. */
#include "lun.h"
#include "log.h"
#include "sense.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	    lun_insert(l, cfg->media, cfg->readonly, err, sizeof err) < 0)
		log_errx("lun %u: %s: media not loaded, drive is empty", id, err);
	/* A fresh start reports power-on, not a medium change. */
	l->ua = LUN_UA_POWER_ON;
	return 0;
}

/* Flush and close the current media; lock held. */
static void lun_close_media_locked(struct lun *l)
{
	int r;

	if (!l->be)
		return;
	r = backend_flush(l->be);
	if (r < 0)
		log_warnx("lun %u: flush before close: %s", l->id,
			  backend_strerror(r));
	backend_close(l->be);
	l->be = NULL;
	l->media_gen++;
}

void lun_fini(struct lun *l)
{
	pthread_mutex_lock(&l->lock);
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
	l->be = be;
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
	struct backend_open_opts opts = {
		.readonly = readonly || l->cfg_readonly,
		.block_size = l->block_size,
	};
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
	pthread_mutex_unlock(&l->lock);

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
		snprintf(l->last_error, sizeof l->last_error, "%s", err);
	}
	pthread_mutex_unlock(&l->lock);
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
	}
	pthread_mutex_unlock(&l->lock);
	return 0;
}

int lun_load(struct lun *l)
{
	char err[256];
	char *source = NULL;
	bool readonly;
	int r;

	pthread_mutex_lock(&l->lock);
	if (l->state == LUN_EMPTY && l->host_ejected && l->source)
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
	pthread_mutex_lock(&l->lock);
	l->prevent = prevent;
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

/* Checks the media is the one the command started on; lock held. */
static int lun_check_gen_locked(struct lun *l, uint32_t gen)
{
	if (l->state != LUN_READY || !l->be)
		return BE_ENOMEDIUM;
	if (l->media_gen != gen)
		return BE_ECHANGED;
	return 0;
}

int lun_read(struct lun *l, uint32_t gen, void *buf, uint32_t len,
	     uint64_t offset)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_gen_locked(l, gen);
	if (r == 0)
		r = backend_pread(l->be, buf, len, offset);
	if (r == 0)
		l->stats.read_bytes += len;
	else
		l->stats.read_errors++;
	pthread_mutex_unlock(&l->lock);
	return r;
}

int lun_write(struct lun *l, uint32_t gen, const void *buf, uint32_t len,
	      uint64_t offset, bool fua)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = lun_check_gen_locked(l, gen);
	if (r == 0 && l->readonly)
		r = BE_EROFS;
	if (r == 0)
		r = backend_pwrite(l->be, buf, len, offset,
				   fua ? BACKEND_FUA : 0);
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
