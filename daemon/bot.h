/* bot.h — USB Mass Storage Bulk-Only Transport (BOT 1.0), as an explicit
 * state machine driven by transfer completions and ep0 events.
 *
 *            ENABLE                 valid CBW
 *  OFFLINE ──────────▶ CBW ─────────────────────▶ DATA_IN / DATA_OUT
 *     ▲                 ▲  ▲ invalid CBW               │ all data moved
 *     │ DISABLE         │  └──▶ WEDGED                 ▼
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
 * Not thread-safe: every bot_* call is made under the USB lock, from the
 * USB thread or from the transport's command reader (usbio.h).
 */
#ifndef NS_BOT_H
#define NS_BOT_H

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

enum bot_state {
	BOT_OFFLINE = 0,  /* endpoints disabled, nothing queued */
	BOT_CBW,          /* CBW read queued, waiting for a command */
	BOT_DATA_IN,      /* moving data to the host */
	BOT_DATA_OUT,     /* moving data from the host */
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
	int halt_ep;            /* -1, XPORT_EP_IN or XPORT_EP_OUT */
	uint8_t csw_status;
	struct scsi_cmd scsi;
};

struct bot_stats {
	uint64_t commands, invalid_cbws, phase_errors, resets, xport_errors;
	uint64_t inplace_writes;   /* OUT transfers stored into the media */
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
	struct backend *out_pin;
	uint8_t *cbw;                 /* BOT_CBW_BUF bytes */
	uint8_t csw[BOT_CSW_LEN];

	void (*reset_done)(void *arg); /* acks the reset request on ep0 */
	void *reset_arg;
	bool reset_waiting;

	/* Pins on media of cmd.lun that queued IN data points into
	 * (lun_map_read), released once io_submit has copied it, before
	 * bot_complete() returns. */
	struct backend *in_pin;
	unsigned in_pins;

	struct bot_cmd cmd;
	struct bot_stats stats;
};

/* Allocates buffers.  depth 1..BOT_MAX_DEPTH, xfer_size a multiple of 4096.
 * Returns 0 or -1 (errno set). */
int bot_init(struct bot *b, const struct scsi_target *t,
	     const struct xport_ops *xp, void *xp_ctx, uint32_t xfer_size,
	     unsigned depth);
void bot_fini(struct bot *b);

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
