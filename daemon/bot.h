/* bot.h — USB Mass Storage Bulk-Only Transport (BOT 1.0), as an explicit
 * state machine driven by transfer completions and ep0 events.
 *
 *            ENABLE                 valid CBW
 *  OFFLINE ──────────▶ CBW ─────────────────────▶ DATA_IN / DATA_OUT
 *     ▲                 ▲  ▲ invalid CBW               │ all data moved
 *     │ DISABLE         │  └──▶ WEDGED                 ▼ (media job: JOB)
 *     │ (via DRAIN)     │        │ Bulk-Only Reset   STATUS ──CSW queued──▶ CBW
 *     └──── DRAIN ◀─────┴────────┘ (any state)
 *
 * Pipelining: the CSW is queued right behind the last IN data transfer, and
 * the next CBW read right behind the CSW, so the host never waits for the
 * daemon between commands.  Up to `depth` transfers of `xfer_size` bytes are
 * queued per IN data phase; OUT data comes one transfer at a time, each up
 * to 128 KiB or the pool (bot.c says why).
 *
 * Host/device disagreements follow the thirteen cases of BOT 6.7: when the
 * host expects more than the device has (cases 4, 5, 9, 11) the device pads
 * IN data with zeros / reads and discards OUT data and reports the residue
 * instead of stalling (SeaBIOS does not recover from stalls); phase errors
 * (cases 2, 3, 7, 8, 10, 13) report status 2, and cases 8 and 10 stall the
 * data endpoint the host is using.  An invalid CBW stalls both endpoints
 * until a Bulk-Only Mass Storage Reset.
 *
 * Media that is not direct (network media, media behind a layer) never
 * makes the BOT wait: a READ's whole range is asked of the media I/O
 * workers (mio.h) at once, in up to BOT_SEGS segments of seg_size bytes
 * that run in parallel, and each segment's bytes go on bulk-in, in order,
 * as soon as it and the ones before it have arrived.  WRITE data read from
 * the host goes to the workers the same way, up to BOT_SEGS chunks in
 * flight, while the next chunk is read; the CSW waits for every one of
 * them (never acknowledging what the media did not).  SYNCHRONIZE CACHE,
 * VERIFY and a host load run on a worker too (scsi.h: c->job).  Media job
 * completions reach bot_job_done() through mio_reap() on the USB thread.
 *
 *   segment states   FREE ──fetch──▶ BUSY ──job done──▶ READY ──queued──▶ SENT
 *   (READ)            ▲                                                   │
 *                     └──────────── flushed to the transport ─────────────┘
 *   (WRITE)          FREE ──OUT read──▶ FILL ──data in──▶ BUSY ──job done──▶ FREE
 *
 * Not thread-safe: every bot_* call is made under the USB lock, from the
 * USB thread or from the transport's command reader (usbio.h).
 */
#ifndef NS_BOT_H
#define NS_BOT_H

#include "mio.h"
#include "scsi.h"
#include "transport.h"

#include <stdbool.h>
#include <stdint.h>

#define BOT_CBW_LEN 31
#define BOT_CSW_LEN 13
#define BOT_CBW_SIGNATURE 0x43425355u
#define BOT_CSW_SIGNATURE 0x53425355u
#define BOT_CSW_GOOD 0
#define BOT_CSW_FAILED 1
#define BOT_CSW_PHASE_ERROR 2
/* CBW reads use a buffer of the largest bulk max packet size. */
#define BOT_CBW_BUF 1024
#define BOT_MAX_DEPTH 16
/* Media jobs of one command in flight, and their smallest size (the
 * fuzzer builds with 16 KiB, so its commands of up to 64 KiB span every
 * segment and wrap around). */
#define BOT_SEGS 4
#ifndef BOT_SEG_MIN
#define BOT_SEG_MIN (256u * 1024)
#endif

enum bot_state {
	BOT_OFFLINE = 0,  /* endpoints disabled, nothing queued */
	BOT_CBW,          /* CBW read queued, waiting for a command */
	BOT_DATA_IN,      /* moving data to the host */
	BOT_DATA_OUT,     /* moving data from the host */
	BOT_JOB,          /* data done, waiting for the command's media job */
	BOT_STATUS,       /* waiting to halt an endpoint, then the CSW */
	BOT_WEDGED,       /* invalid CBW: stalled until a reset */
	BOT_BROKEN,       /* a transfer failed: waiting for reset/disable */
	BOT_DRAIN,        /* cancelled transfers still completing */
};

struct bot_cmd {
	uint32_t tag;
	uint32_t host_len;      /* dCBWDataTransferLength */
	bool host_in;           /* bmCBWFlags direction */
	struct lun *lun;
	uint64_t data_len;      /* relevant bytes to move */
	uint64_t total_len;     /* data_len plus padding or discarded data */
	uint64_t submitted, completed;
	uint64_t moved;         /* relevant bytes moved: residue = host - moved */
	bool phase_error;
	bool short_out;         /* host ended OUT data early */
	bool async;             /* media data through the workers */
	bool job_started;       /* scsi.job handed to a worker */
	uint64_t fetch_next;    /* async READ: next byte to ask for */
	int halt_ep;            /* -1, XPORT_EP_IN or XPORT_EP_OUT */
	uint8_t csw_status;
	struct scsi_cmd scsi;
};

enum bot_seg_state { SEG_FREE = 0, SEG_BUSY, SEG_READY, SEG_SENT, SEG_FILL };

struct bot;

/* One media job of the current command: a READ segment or a WRITE chunk. */
struct bot_seg {
	struct mio_job job;       /* first: container of the job */
	struct bot *bot;
	enum bot_seg_state state;
	uint32_t cmd_seq;         /* the command it belongs to */
	uint64_t off;             /* command byte offset */
	uint32_t len;
	uint8_t *buf;             /* seg_size bytes of bot.win */
};

struct bot_stats {
	uint64_t commands, invalid_cbws, phase_errors, resets, xport_errors;
	uint64_t inplace_writes;   /* OUT transfers stored into the media */
	uint64_t media_jobs;       /* reads/writes/flushes run by workers */
	uint64_t memory_reads;     /* async reads the media had in memory */
};

struct bot {
	const struct xport_ops *xp;
	void *xp_ctx;
	const struct scsi_target *target;

	enum bot_state state;
	enum bot_state after_drain;   /* where DRAIN goes once empty */
	uint32_t xfer_size;
	unsigned depth;
	unsigned inflight[2];
	bool halt_pending[2];

	uint8_t *pool;                /* depth * xfer_size bytes: copied IN
	                               * data, or the OUT chunk not stored in
	                               * place */
	uint8_t *zero;                /* xfer_size zeros, IN padding */
	uint8_t *scratch;             /* discarded OUT data lands here */
	/* The one OUT data transfer in flight (bot.c: bot_out_chunk()):
	 * where its bytes go in the command, how many were asked for, and
	 * the media it stores into in place (scsi_data_map_out), or NULL
	 * when it reads into pool; released when it ends. */
	uint64_t out_off;
	uint32_t out_len;
	struct lun_media *out_pin;
	struct bot_seg *out_seg;      /* async WRITE: where it reads to */
	/* Jobs run inline (no mio, or one that is stopping), to be
	 * finished at the end of the current event. */
	struct mio_job *inline_done[BOT_SEGS + 1];
	unsigned ninline;
	uint8_t *cbw;                 /* BOT_CBW_BUF bytes */
	uint8_t csw[BOT_CSW_LEN];

	void (*reset_done)(void *arg); /* acks the reset request on ep0 */
	void *reset_arg;
	bool reset_waiting;

	/* Pins on media of cmd.lun that queued IN data points into
	 * (lun_map_read), released once io_submit has copied it, before
	 * bot_complete() returns. */
	struct lun_media *in_pin;
	unsigned in_pins;

	/* Media I/O (bot_set_mio); NULL runs jobs inline (tests). */
	struct mio *mio;
	uint8_t *win;                 /* BOT_SEGS * seg_size bytes */
	uint32_t seg_size;
	struct bot_seg seg[BOT_SEGS];
	struct mio_job cmd_job;       /* the command's scsi.job */
	unsigned jobs;                /* media jobs not reaped yet */
	uint32_t cmd_seq;             /* bumped by every CBW */

	struct bot_cmd cmd;
	struct bot_stats stats;
};

/* Allocates buffers.  depth 1..BOT_MAX_DEPTH, xfer_size a multiple of 4096.
 * Returns 0 or -1 (errno set). */
int bot_init(struct bot *b, const struct scsi_target *t,
	     const struct xport_ops *xp, void *xp_ctx, uint32_t xfer_size,
	     unsigned depth);
void bot_fini(struct bot *b);
/* Where media jobs run; set before bot_enable().  Completions come back
 * through mio_reap() on a thread that holds the USB lock. */
void bot_set_mio(struct bot *b, struct mio *m);

/* ep0 events. */
void bot_enable(struct bot *b);       /* endpoints enabled (SET_CONFIG) */
void bot_disable(struct bot *b);      /* endpoints gone (disconnect, reset) */
/* Bulk-Only Mass Storage Reset: done(arg) is called once the device is
 * ready for the next CBW (the caller acks the control request then). */
void bot_reset(struct bot *b, void (*done)(void *), void *arg);

/* A transfer finished: res is the byte count or -errno. */
void bot_complete(struct bot *b, uint64_t tag, long res);

const char *bot_state_name(enum bot_state s);

#endif
