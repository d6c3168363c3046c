/* scsi.h — the SCSI command sets of a LUN (the SPC-4 / SBC-3 / MMC-6
 * subsets USB hosts use; see ../shared/HOSTS.md).
 *
 * Each LUN type has a command set (struct scsi_cmdset): a table of its own
 * commands beside the shared SPC table, and the rules of the device it
 * presents (peripheral device type, logical block size, removability,
 * read-only media, VPD and mode pages):
 *
 *   file           what                                  LUN type
 *   scsi.c         dispatch, block I/O helpers, the       all
 *                  data phase and media jobs
 *   scsi_spc.c     shared commands (TEST UNIT READY,      all
 *                  REQUEST SENSE, INQUIRY, MODE, START
 *                  STOP UNIT, PREVENT ...)
 *   scsi_sbc.c     READ/WRITE/VERIFY/SYNCHRONIZE CACHE,   disk
 *                  READ CAPACITY(10/16)
 *   scsi_mmc.c     READ TOC, disc/track information,      cdrom
 *                  READ CD, speed, mechanism status
 *   scsi_mmc_features.c  GET CONFIGURATION, GET EVENT     cdrom
 *                  STATUS NOTIFICATION, READ DISC
 *                  STRUCTURE, GET PERFORMANCE
 *   scsi_inquiry.c, scsi_mode.c  INQUIRY data and mode pages, per the
 *                  command set's lists
 *
 * The transport (BOT) hands a CDB to scsi_cmd_prepare(), which decides the
 * data direction and length the device intends (Di/Do in BOT terms), fills
 * small responses into cmd->buf, and checks everything it can before any
 * data moves (media state, unit attentions, LBA range, write protect).
 * Media data is then pulled/pushed in chunks by scsi_data_in() and
 * scsi_data_out(); scsi_cmd_complete() ends the command and stores the
 * sense for REQUEST SENSE.
 *
 * Media that is not direct (lun_media_direct: network media, or behind a
 * layer) is never read or written on the USB thread: the transport moves
 * its data through the media I/O workers with scsi_media_read() /
 * scsi_data_out_run() there and applies the result with scsi_read_failed()
 * / scsi_data_out_done() back on the USB thread.  Commands whose work waits
 * on media without moving data (SYNCHRONIZE CACHE, VERIFY BYTCHK=0, START
 * STOP UNIT load with IMMED=0) leave c->job set: the transport runs
 * scsi_job_run() on a worker and scsi_job_done() after, before the status.
 *
 * Everything but the *_run functions runs on a USB thread and never waits
 * on media that is not direct.
 */
#ifndef NS_SCSI_H
#define NS_SCSI_H

#include "lun.h"

#include <stdbool.h>
#include <stdint.h>

enum scsi_dir { SCSI_DIR_NONE = 0, SCSI_DIR_IN, SCSI_DIR_OUT };

#define SCSI_STATUS_GOOD            0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02

/* How a command's data moves. */
enum scsi_data {
	SCSI_DATA_NONE = 0,
	SCSI_DATA_BUF,     /* small response or parameter list in cmd->buf */
	SCSI_DATA_READ,    /* media → host, via scsi_data_in() */
	SCSI_DATA_WRITE,   /* host → media, via scsi_data_out() */
	SCSI_DATA_COMPARE, /* host → compared with media (VERIFY BYTCHK=1) */
};

#define SCSI_BUF_SIZE 4096

/* Work a command leaves for a media I/O worker (scsi_job_run). */
enum scsi_job {
	SCSI_JOB_NONE = 0,
	SCSI_JOB_FLUSH,        /* SYNCHRONIZE CACHE */
	SCSI_JOB_VERIFY,       /* VERIFY BYTCHK=0: read the range back */
	SCSI_JOB_LOAD_WAIT,    /* START STOP UNIT load, IMMED=0 */
};

/* One command set: the rules of the device a LUN type presents.  The
 * tables (struct scsi_op) are internal to scsi*.c (scsi_int.h). */
struct scsi_op;
struct scsi_cmdset {
	const char *name;            /* "disk", "cdrom" */
	uint8_t device_type;         /* INQUIRY peripheral device type */
	uint32_t block_size;         /* fixed logical block size; 0: the
	                              * config's (512 or 4096) */
	bool removable;              /* always removable (RMB=1) */
	bool readonly;               /* its media is always read-only */
	const struct scsi_op *ops;   /* searched before the shared SPC ops */
	size_t nops;
	const uint8_t *vpd_pages;    /* INQUIRY VPD pages offered */
	size_t nvpd_pages;
	const uint8_t *mode_pages;   /* MODE SENSE pages offered */
	size_t nmode_pages;
	bool block_descriptors;      /* MODE SENSE returns them (SBC) */
};

/* The command set of a LUN type (never NULL: unknown types are disks). */
const struct scsi_cmdset *scsi_cmdset_of(enum config_lun_type t);

/* What a cdrom LUN's media is presented as, by its size (MMC profile):
 * 0x0008 CD-ROM while every address fits MSF, else 0x0010 DVD-ROM; 0
 * when size is 0 (no media). */
#define MMC_PROFILE_NONE   0x0000
#define MMC_PROFILE_CDROM  0x0008
#define MMC_PROFILE_DVDROM 0x0010
uint16_t mmc_profile_of(uint64_t size);
/* "cd-rom", "dvd-rom" or NULL, for the API. */
const char *mmc_profile_name(uint16_t profile);

struct scsi_target {
	struct lun *luns;
	unsigned nluns;
};

struct scsi_cmd {
	/* Set by the caller. */
	uint8_t cdb[16];
	uint8_t cdb_len;

	/* Set by scsi_cmd_prepare(). */
	enum scsi_dir dir;
	enum scsi_data data;
	uint64_t length;        /* bytes the device intends to move */
	uint8_t status;         /* SCSI_STATUS_* */
	uint32_t sense;         /* when CHECK CONDITION */
	bool info_valid;
	uint32_t info;          /* failing LBA, for the sense INFORMATION */

	/* Media transfers. */
	uint64_t offset;        /* byte offset of the first block */
	uint32_t media_gen;
	bool fua;
	bool direct;            /* the media serves in place (snapshot) */

	/* Set by scsi_cmd_prepare(), run by the transport. */
	enum scsi_job job;
	int job_err;            /* scsi_job_run's result ... */
	uint64_t job_at;        /* ... and the byte offset it failed at */

	uint8_t buf[SCSI_BUF_SIZE];
};

/* Decide and (for non-data or small-data commands) execute the command. */
void scsi_cmd_prepare(const struct scsi_target *t, struct lun *l,
		      struct scsi_cmd *c);

/* Copy `len` bytes of the response at byte `off` into buf (media reads go
 * to the backend).  Returns 0, or -1 after setting CHECK CONDITION. */
int scsi_data_in(struct lun *l, struct scsi_cmd *c, uint64_t off, void *buf,
		 uint32_t len);
/* The same bytes without a copy when the media is mapped (lun_map_read):
 * returns 1 with *data pointing at them (the caller calls
 * lun_map_release(l, *pin) once they are consumed), 0 when they must be
 * copied with scsi_data_in(), or -1 after setting CHECK CONDITION. */
int scsi_data_map(struct lun *l, struct scsi_cmd *c, uint64_t off,
		  uint32_t len, const void **data, struct lun_media **pin);

/* Consume `len` bytes of host data at byte `off`.  Returns 0, or -1 after
 * setting CHECK CONDITION (later calls for the same command are ignored). */
int scsi_data_out(struct lun *l, struct scsi_cmd *c, uint64_t off,
		  const void *buf, uint32_t len);

/* Where `len` bytes of host data at byte `off` can be stored in place
 * (lun_map_write): true with *data and *pin set for a plain WRITE whose
 * bytes are all media data, whole blocks, no FUA; false when they must
 * be copied through scsi_data_out().  Never sets a status. */
bool scsi_data_map_out(struct lun *l, struct scsi_cmd *c, uint64_t off,
		       uint32_t len, void **data, struct lun_media **pin);
/* The bytes of scsi_data_map_out() have landed (ok, len of them) or
 * failed to: accounts for them and releases the pin.  Returns 0, or -1
 * after setting CHECK CONDITION (or when the command had already failed).
 * A short transfer may leave a torn last block in the media, as any
 * failed write may. */
int scsi_data_out_mapped(struct lun *l, struct scsi_cmd *c, uint64_t off,
			 struct lun_media *pin, uint32_t len, bool ok);

/* Whether this command's media data goes through the media I/O workers
 * (a READ, WRITE or VERIFY BYTCHK=1 on media that is not direct). */
bool scsi_data_async(const struct scsi_cmd *c);
/* On a worker: reads len bytes of the command's media data at command
 * byte off into buf.  0 or a backend error (for scsi_read_failed). */
int scsi_media_read(struct lun *l, const struct scsi_cmd *c, uint64_t off,
		    void *buf, uint32_t len);
/* On the USB thread, before a read goes to a worker: 0 when the media
 * had the bytes in memory (buf filled), 1 when scsi_media_read() must
 * fetch them.  Never blocks. */
int scsi_media_try_read(struct lun *l, const struct scsi_cmd *c,
			uint64_t off, void *buf, uint32_t len);
/* A media read at command byte off failed with err: CHECK CONDITION with
 * the LBA in INFORMATION. */
void scsi_read_failed(struct lun *l, struct scsi_cmd *c, uint64_t off,
		      int err);
/* On a worker: stores (WRITE) or compares (VERIFY BYTCHK=1) len bytes of
 * host data at command byte off; only whole blocks reach the media.
 * Returns 0, a backend error, or 1 on a miscompare.  Reads c only. */
int scsi_data_out_run(struct lun *l, const struct scsi_cmd *c, uint64_t off,
		      const void *buf, uint32_t len);
/* Back on the USB thread: applies scsi_data_out_run's result r.  Returns
 * 0, or -1 after setting CHECK CONDITION (or when the command had already
 * failed: the first failure is the one reported). */
int scsi_data_out_done(struct lun *l, struct scsi_cmd *c, uint64_t off,
		       int r);
/* On a worker: the command's c->job.  Stores its result in c->job_err /
 * c->job_at; touches nothing else of c. */
void scsi_job_run(struct lun *l, struct scsi_cmd *c);
/* Back on the USB thread: turns the job's result into the status. */
void scsi_job_done(struct lun *l, struct scsi_cmd *c);

/* End the command: `moved` bytes of data actually moved.  Processes
 * parameter lists (MODE SELECT) and records the sense for REQUEST SENSE.
 * Returns the final SCSI status. */
uint8_t scsi_cmd_complete(struct lun *l, struct scsi_cmd *c, uint64_t moved);

#endif
