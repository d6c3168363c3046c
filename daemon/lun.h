/* lun.h — a logical unit: its media state, host-visible state and I/O.
 *
 * Media states (the only transitions):
 *
 *     EMPTY ──insert──▶ LOADING ──open ok──▶ READY
 *       ▲                  │ open failed           │
 *       └──────────────────┘◀──────eject──── EJECTING
 *
 * LOADING and EJECTING are short: they cover the backend open/flush/close,
 * during which the host gets NOT READY, BECOMING READY (02/04/01).
 * A successful insert queues UNIT ATTENTION 06/28/00 so the host re-reads
 * the capacity.  The `media_gen` counter changes on every insert and eject,
 * so an I/O started on old media never touches the new one.
 *
 * Locking: `lock` protects every field below it.  lun_* functions take it
 * themselves; callers never hold it.  The USB thread, the media I/O workers
 * (mio.h) and the admin API may call them concurrently.  The lock is never
 * held across media I/O: an I/O takes a reference on the media instance
 * (struct lun_media) under the lock, drops the lock, calls the backend,
 * and drops the reference.  An eject or swap retires the instance at once
 * (the host sees the change); a retired instance is flushed and closed when
 * its last reference goes, so an eject never waits for a slow server and
 * never closes media under a call in flight.
 *
 * Threads that must not block (the USB threads) never close media
 * themselves: closes they cause (a host eject, the last reference of a
 * retired instance) and the host's load run on the executor set with
 * lun_set_executor() (the media I/O workers); without one they run at once
 * on the caller's thread (tests, --no-usb).
 */
#ifndef NS_LUN_H
#define NS_LUN_H

#include "backend.h"
#include "config.h"
#include "mio.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum lun_state { LUN_EMPTY = 0, LUN_LOADING, LUN_READY, LUN_EJECTING };

/* Pending unit attentions, reported highest first. */
#define LUN_UA_POWER_ON       0x1u   /* 06/29/00 */
#define LUN_UA_MEDIUM_CHANGED 0x2u   /* 06/28/00 */

/* Backend call latency, in buckets of upper bounds LUN_LAT_BOUNDS_US
 * (microseconds; a last implicit +Inf bucket).  Counts are per bucket,
 * not cumulative. */
#define LUN_LAT_BUCKETS 12
#define LUN_LAT_BOUNDS_US \
	{ 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, \
	  500000, 1000000 }
struct lun_latency {
	uint64_t count, sum_us;
	uint64_t bucket[LUN_LAT_BUCKETS + 1];
};

struct lun_stats {
	uint64_t read_bytes, write_bytes;   /* moved to/from the media */
	uint64_t read_errors, write_errors; /* failed media calls */
	/* Added for the admin API and /metrics. */
	uint64_t reads, writes;             /* media calls */
	uint64_t media_changes;             /* successful inserts */
	struct lun_latency read_lat, write_lat;
};

/* Changes other threads want to hear about (the admin API's event
 * stream).  The observer is called without the lun lock held, from
 * whichever thread made the change (the USB thread for the host's
 * PREVENT and START STOP UNIT); it must be quick and must not call
 * lun_insert/lun_eject. */
struct lun;
enum lun_event {
	LUN_EV_MEDIA,      /* state, media or error changed */
	LUN_EV_LOCK,       /* host PREVENT MEDIUM REMOVAL changed */
	LUN_EV_EJECT_REQUEST, /* the host asked to eject (START STOP UNIT) */
};
typedef void (*lun_observer_fn)(struct lun *l, enum lun_event ev, void *arg);
void lun_set_observer(lun_observer_fn fn, void *arg);

/* What the SCSI layer needs to decide a command, read in one go. */
struct lun_snapshot {
	enum lun_state state;
	uint64_t nblocks;          /* 0 when not READY */
	bool readonly;
	bool prevent;
	bool can_trim;
	bool direct;               /* lun_media_direct() for media_gen */
	uint32_t media_gen;
};

/* One opened media instance and its references (lun.c). */
struct lun_media;

/* Media events for GET EVENT STATUS NOTIFICATION (MMC media class),
 * reported one at a time in this order. */
#define LUN_ME_EJECT_REQUEST 0x1u  /* someone asked for the media: an admin
                                    * eject the host's PREVENT refused */
#define LUN_ME_REMOVAL       0x2u  /* media went away */
#define LUN_ME_NEW_MEDIA     0x4u  /* media came in */

struct scsi_cmdset;

struct lun {
	/* Fixed after lun_init. */
	unsigned id;
	enum config_lun_type type;
	/* The command set of the type (scsi.h): it fixes the block size,
	 * device type, removability and read-only rules below. */
	const struct scsi_cmdset *cmdset;
	bool host_eject;           /* honour the host's START STOP eject */
	bool removable;
	bool cfg_readonly;
	uint32_t block_size;
	unsigned block_shift;
	char vendor[9], product[17], revision[5];
	char serial[33];           /* VPD 0x80 unit serial number */
	/* Layer specs (config, outliving the LUN) stacked over every media
	 * this LUN opens, bottom-most first; NULL for none. */
	const char *const *layers;
	/* Those network media gets when layers is NULL (config_network_
	 * layers(): never NULL, maybe empty). */
	const char *const *net_layers;

	pthread_mutex_t lock;
	pthread_cond_t changed;    /* state changed, or retired media closed */
	enum lun_state state;
	struct lun_media *media;   /* NULL unless READY */
	struct lun_media *retired; /* retired instances not closed yet */
	uint32_t load_seq;         /* bumped by every load: a stale open
	                            * that finishes late is not installed */
	char *source;              /* current media, or the last one after a
	                            * host eject so a load can reinsert it */
	bool source_readonly;      /* `source` was inserted read-only */
	const struct uri_policy *source_policy; /* `source`'s, or NULL */
	bool host_ejected;         /* emptied by START STOP UNIT (LoEj) */
	bool readonly;             /* cfg_readonly || media read-only */
	uint32_t media_gen;
	bool prevent;              /* host PREVENT MEDIUM REMOVAL */
	unsigned ua;               /* LUN_UA_* pending */
	char last_error[256];      /* last media open error, for status */
	struct lun_stats stats;
	bool changing;             /* an admin media change is running */
	unsigned media_events;     /* LUN_ME_* not yet reported */
	uint64_t eject_requests;   /* host START STOP UNIT ejects asked ... */
	uint64_t eject_refused;    /* ... and refused */
	char image[65];            /* catalog name of the media, or "" */

	/* Owned by the USB thread (scsi.c); not under the lock.  The sense
	 * of the last failed command, reported by REQUEST SENSE. */
	uint32_t sense;
	bool sense_info_valid;
	uint32_t sense_info;
};

/* Sets up the LUN from config and opens its media (if any).  A media open
 * failure is logged and leaves the LUN empty: it is not fatal.
 * Returns 0, or -1 on a resource failure. */
int lun_init(struct lun *l, unsigned id, const struct config_lun *cfg,
	     const char *serial_base);
/* Flushes and closes the media. */
void lun_fini(struct lun *l);

void lun_snapshot(struct lun *l, struct lun_snapshot *s);

/* Opens `source` and swaps it in (the old media is flushed and closed
 * first).  On failure the LUN is left EMPTY and err says why.
 * Returns 0 or a negative enum backend_err. */
int lun_insert(struct lun *l, const char *source, bool readonly,
	       char *err, size_t errlen);

/* Ejects.  Returns -1 with errno EBUSY when the host holds PREVENT MEDIUM
 * REMOVAL and !force, ENOTSUP when the LUN is not removable; 0 otherwise
 * (ejecting an empty LUN succeeds).  by_host marks the eject as the host's
 * own (START STOP UNIT) so lun_load() can close the tray again. */
int lun_eject(struct lun *l, bool force, bool by_host);
/* lun_eject() that also fills *result (when non-NULL) under the lock, as
 * the eject left the LUN: a reply describes this change, not a later
 * one. */
struct lun_info;
int lun_eject_info(struct lun *l, bool force, bool by_host,
		   struct lun_info *result);

/* Host "close the tray" (START STOP UNIT LoEj+Start): reopens the media the
 * host ejected, on the executor.  Returns at once: 1 when a load started
 * (the LUN is LOADING until it ends: the host gets 02/04/01 meanwhile),
 * 0 when there was nothing to load (already loaded, never ejected by the
 * host, an admin change running), -1 when the job could not start. */
int lun_load_start(struct lun *l);
/* Waits while the LUN is LOADING, at most ms milliseconds; returns the
 * state then.  May block: never on a USB thread. */
enum lun_state lun_wait_loaded(struct lun *l, unsigned ms);
/* lun_load_start(), then waits for the load to end: 0, or a backend
 * error when the media could not be opened. */
int lun_load(struct lun *l);

/* Where closes and host loads run (the media I/O workers); NULL: at once
 * on the caller's thread.  Set once, when the workers start. */
void lun_set_executor(struct mio *m);

void lun_set_prevent(struct lun *l, bool prevent);

/* The host's START STOP UNIT eject: counted and reported to the observer
 * (LUN_EV_EJECT_REQUEST) whether or not it is honoured.  Returns whether
 * the config lets the host eject (host_eject). */
bool lun_host_eject_request(struct lun *l, bool refused_by_prevent);

/* Takes the next media event (one LUN_ME_* bit, in the order above), or 0
 * when none is pending. */
unsigned lun_take_media_event(struct lun *l);

/* --- for the admin API ---------------------------------------------- */

/* The layer specs media from source opens with, given a LUN's config
 * layers and network layers (config_network_layers()): layers when set
 * (they serve whatever media goes in), else net for a source its backend
 * cannot read in place (a network one), else NULL.  The one rule for a
 * LUN's media and for warm jobs with that LUN's layers. */
const char *const *lun_layers_pick(const char *const *layers,
				   const char *const *net, const char *source);

/* What to insert.  options: "key=value" strings for the backend
 * (NULL-terminated, or NULL); image: the catalog name, or NULL;
 * layers: layer specs stacked over the backend, bottom-most first
 * (backend_open_opts.layers; NULL-terminated, or NULL). */
struct lun_media_req {
	const char *source;
	bool readonly;
	const char *const *options;
	const char *image;
	const char *const *layers;
	/* A client's source: the policy it was checked against (uri.h),
	 * handed to the backend and kept for a host's reload; NULL for the
	 * config's.  Outlives the LUN's use of it (the API's). */
	const struct uri_policy *policy;
	/* When non-NULL, filled under the lock the moment this change ends
	 * (installed, or failed), so a reply describes this change and not
	 * a later one. */
	struct lun_info *result;
};

/* lun_insert() with options and a catalog name. */
int lun_insert_req(struct lun *l, const struct lun_media_req *r,
		   char *err, size_t errlen);
/* An admin swap: lun_insert_req(), refused when the host holds PREVENT
 * MEDIUM REMOVAL on loaded media and !force.  The check and the start of
 * the change are made under one lock hold, so a PREVENT can never slip in
 * between them.  Returns 0, or -1 with errno EBUSY (prevented: nothing
 * changed) or EIO (the open failed: err says why; the LUN is EMPTY). */
int lun_swap(struct lun *l, const struct lun_media_req *r, bool force,
	     char *err, size_t errlen);

/* Serialises admin media changes on one LUN: lun_change_begin() returns
 * 0 and marks the LUN as changing, or -1 with errno EBUSY when another
 * change is under way (the API answers 409).  Pair with lun_change_end().
 * While a change runs, the host's START STOP UNIT load is a no-op. */
int lun_change_begin(struct lun *l);
void lun_change_end(struct lun *l);

#define LUN_SOURCE_SHOW 4200   /* a redacted source fits */

/* One statistic a layer of the media reports (backend_ops.stats). */
#define LUN_LAYER_STATS 64
struct lun_layer_stat {
	char layer[16];
	char key[32];
	uint64_t value;
	bool counter;
};

/* A copy of everything the API shows, taken under the lock.  source is
 * the current media (or the one whose open failed, or the one the host
 * ejected), redacted with backend_redact(); "" when none. */
struct lun_info {
	unsigned id;
	enum config_lun_type type;
	bool host_eject;
	uint64_t eject_requests, eject_refused;
	bool removable, cfg_readonly;
	uint32_t block_size;
	enum lun_state state;
	bool changing, prevent, readonly, host_ejected;
	uint64_t size;             /* bytes; 0 unless READY */
	uint32_t media_gen;
	char source[LUN_SOURCE_SHOW];
	char image[65];
	char error[256];           /* last open error, "" when none */
	struct lun_stats stats;
	/* The media's layer statistics (backend_stats), top layer first;
	 * none when not READY. */
	unsigned nlayer_stats;
	struct lun_layer_stat layer_stats[LUN_LAYER_STATS];
};
void lun_get_info(struct lun *l, struct lun_info *out);
const char *lun_state_name(enum lun_state s);

/* Queue a unit attention / take the highest pending one.  lun_take_ua()
 * returns the sense to report (SENSE_NONE if none) and clears it. */
void lun_add_ua(struct lun *l, unsigned ua);
uint32_t lun_take_ua(struct lun *l);
bool lun_has_ua(struct lun *l);

/* --- media references ------------------------------------------------ */

/* A reference on the media of generation `gen`: 0 with *m set, or
 * BE_ENOMEDIUM / BE_ECHANGED when the media is gone or was swapped since
 * the command started.  The instance stays open (even when it is ejected
 * or replaced meanwhile) until lun_media_put(); a reference is for the
 * length of one I/O, never longer than a backend deadline. */
int lun_media_get(struct lun *l, uint32_t gen, struct lun_media **m);
/* Drops a reference; the last one on retired media hands the close to the
 * executor.  Never blocks. */
void lun_media_put(struct lun *l, struct lun_media *m);
/* Whether the media's bytes can be served in place (backend_map): a local
 * file or RAM.  Such media needs no worker: the USB thread moves its data
 * without waiting.  Other media (network, or behind a layer that changes
 * data or timing) goes through the media I/O workers. */
bool lun_media_direct(struct lun *l, uint32_t gen);

/* Unlocks the pages of media served in place (a mapped image) after an
 * mlockall(): a locked mapping would pin the whole image, a 5 GB
 * installer, in RAM.  Never waits on media. */
void lun_media_munlock(struct lun *l);

/* I/O on the media of generation `gen`, in bytes.  Returns 0 or a negative
 * enum backend_err; BE_ENOMEDIUM / BE_ECHANGED when the media is gone or
 * was swapped since the command started.  These wait for the media: call
 * them from a media I/O worker (or on direct media, whose calls do not
 * wait on a network). */
int lun_read(struct lun *l, uint32_t gen, void *buf, uint32_t len,
	     uint64_t offset);
/* A read the media can answer from memory without waiting (a cache
 * layer's hit, backend_try_pread): 0 with buf filled (counted like
 * lun_read), 1 when it must go to lun_read on a worker (no media, a
 * stale gen, bytes not in memory).  Never blocks: the USB thread tries it
 * before it hands a read to a worker. */
int lun_try_read(struct lun *l, uint32_t gen, void *buf, uint32_t len,
		 uint64_t offset);
int lun_write(struct lun *l, uint32_t gen, const void *buf, uint32_t len,
	      uint64_t offset, bool fua);
int lun_flush(struct lun *l, uint32_t gen);
int lun_trim(struct lun *l, uint32_t gen, uint32_t len, uint64_t offset);
/* Whether the media can serve I/O right now (a network backend may be
 * reconnecting: BE_ERETRY).  Never blocks. */
int lun_ready(struct lun *l, uint32_t gen);

/* Zero-copy I/O.  Transfers that point into the media's mapping pin it
 * (a media reference): on 0, *pin stays mapped and open until
 * lun_map_release(l, *pin), even when it is ejected or replaced meanwhile
 * (a media change never waits for the host; the last release closes the
 * old instance).  BE_EUNSUPP when the bytes cannot be mapped: copy with
 * lun_read()/lun_write().  Never block.
 *
 * lun_map_read: *data points at the bytes (backend_map).  Release as soon
 * as they are consumed (FunctionFS copies IN data inside io_submit). */
int lun_map_read(struct lun *l, uint32_t gen, uint32_t len, uint64_t offset,
		 const void **data, struct lun_media **pin);
/* lun_map_write: *data is where the host's bytes go (backend_map_write;
 * *data and *pin are left alone on failure);
 * BE_EROFS on read-only media.  Once they have landed (or failed to),
 * lun_map_written() accounts for them and releases the pin. */
int lun_map_write(struct lun *l, uint32_t gen, uint32_t len, uint64_t offset,
		  void **data, struct lun_media **pin);
/* ok: whether the len bytes were stored.  Returns 0, BE_EIO_WRITE when
 * they were not (in-place writes are then switched off for this media, so
 * the host's retry goes through pwrite and gets its precise error), or
 * BE_ENOMEDIUM / BE_ECHANGED when the media was ejected or swapped
 * meanwhile (the bytes went to the old media, which is flushed on close;
 * the host is told, as for a copied write). */
int lun_map_written(struct lun *l, uint32_t gen, struct lun_media *pin,
		    uint32_t len, bool ok);
void lun_map_release(struct lun *l, struct lun_media *pin);

#endif
