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
 * themselves; callers never hold it.  The USB thread and the admin API may
 * call them concurrently.  Backend I/O is done under the lock (one command
 * at a time per LUN, as BOT allows), so an eject waits for the command in
 * flight and never closes media under it.
 */
#ifndef NS_LUN_H
#define NS_LUN_H

#include "backend.h"
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum lun_state { LUN_EMPTY = 0, LUN_LOADING, LUN_READY, LUN_EJECTING };

/* Pending unit attentions, reported highest first. */
#define LUN_UA_POWER_ON       0x1u   /* 06/29/00 */
#define LUN_UA_MEDIUM_CHANGED 0x2u   /* 06/28/00 */

struct lun_stats {
	uint64_t read_bytes, write_bytes;   /* moved to/from the media */
	uint64_t read_errors, write_errors; /* failed media calls */
};

/* What the SCSI layer needs to decide a command, read in one go. */
struct lun_snapshot {
	enum lun_state state;
	uint64_t nblocks;          /* 0 when not READY */
	bool readonly;
	bool prevent;
	bool can_trim;
	uint32_t media_gen;
};

struct lun {
	/* Fixed after lun_init. */
	unsigned id;
	bool removable;
	bool cfg_readonly;
	uint32_t block_size;
	unsigned block_shift;
	char vendor[9], product[17], revision[5];
	char serial[33];           /* VPD 0x80 unit serial number */

	pthread_mutex_t lock;
	enum lun_state state;
	struct backend *be;        /* NULL unless READY */
	char *source;              /* current media, or the last one after a
	                            * host eject so a load can reinsert it */
	bool source_readonly;      /* `source` was inserted read-only */
	bool host_ejected;         /* emptied by START STOP UNIT (LoEj) */
	bool readonly;             /* cfg_readonly || media read-only */
	uint32_t media_gen;
	bool prevent;              /* host PREVENT MEDIUM REMOVAL */
	unsigned ua;               /* LUN_UA_* pending */
	char last_error[256];      /* last media open error, for status */
	struct lun_stats stats;

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

/* Host "close the tray" (START STOP UNIT LoEj+Start): reopens the media the
 * host ejected.  Returns 0 (also when already loaded) or a backend error. */
int lun_load(struct lun *l);

void lun_set_prevent(struct lun *l, bool prevent);

/* Queue a unit attention / take the highest pending one.  lun_take_ua()
 * returns the sense to report (SENSE_NONE if none) and clears it. */
void lun_add_ua(struct lun *l, unsigned ua);
uint32_t lun_take_ua(struct lun *l);
bool lun_has_ua(struct lun *l);

/* I/O on the media of generation `gen`, in bytes.  Returns 0 or a negative
 * enum backend_err; BE_ENOMEDIUM / BE_ECHANGED when the media is gone or
 * was swapped since the command started. */
int lun_read(struct lun *l, uint32_t gen, void *buf, uint32_t len,
	     uint64_t offset);
int lun_write(struct lun *l, uint32_t gen, const void *buf, uint32_t len,
	      uint64_t offset, bool fua);
int lun_flush(struct lun *l, uint32_t gen);
/* Whether the media can serve I/O right now (a network backend may be
 * reconnecting: BE_ERETRY).  Never blocks. */
int lun_ready(struct lun *l, uint32_t gen);
int lun_trim(struct lun *l, uint32_t gen, uint32_t len, uint64_t offset);

#endif
