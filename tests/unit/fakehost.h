/* fakehost.h — an in-process USB host for the Bulk-Only Transport.
 *
 * The fake implements struct xport_ops (transport.h) in memory and plays
 * the host side of the bulk pipes, the way a real UDC and host would see
 * them:
 *
 *   device submit()  ──▶  queue[ep] (on the wire, FIFO)
 *                              │ host moves bytes (fh_host_out/fh_host_in),
 *                              │ or cancel()/disable ends the transfer
 *                              ▼
 *                          done list  ──fh_deliver()──▶ bot_complete()
 *
 *  - IN data is copied at submit time (as FunctionFS does); the host reads
 *    it packet by packet (maxpacket bytes), and a short packet ends the
 *    host's read, as on a real bus.
 *  - OUT reads fill in submission order; a read completes when it is full
 *    or a short packet lands in it.  A packet larger than the room left
 *    completes the read with -EOVERFLOW (babble).
 *  - halt() marks the endpoint stalled; the host sees STALL until it
 *    clears the halt (fh_clear_halt, i.e. CLEAR_FEATURE(ENDPOINT_HALT)).
 *  - cancel() ends every transfer still on the wire with -ECONNRESET; the
 *    completions are reported later, like Linux AIO does.
 *  - Completions are reported one by one by fh_deliver(), in order or (with
 *    `shuffle`) in a random order, as the AIO transport may do.
 *  - XPORT_SERIAL transfers move one at a time in submission order across
 *    both endpoints, as on a transport that does them with blocking calls
 *    (the host is NAKed on a serial transfer until the serial ones before
 *    it are done); a transfer without the flag queued behind an
 *    unfinished serial one breaks the contract.
 *
 * Anything the device does against the transport contract (halt with
 * transfers in flight, submit while disabled, a completion for nothing)
 * is counted in `violations` with the first reason in `why`.
 *
 * Single-threaded; everything runs on the caller's thread.
 */
#ifndef NS_FAKEHOST_H
#define NS_FAKEHOST_H

#include "bot.h"
#include "config.h"
#include "lun.h"
#include "mio.h"
#include "scsi.h"
#include "transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fh_xfer {
	struct fh_xfer *next;
	enum xport_ep ep;
	uint64_t tag;
	uint8_t *buf;       /* OUT: the device's buffer (owned by the device) */
	uint8_t *copy;      /* IN: the data, copied at submit (owned here) */
	uint32_t len;
	uint32_t pos;       /* OUT: bytes received; IN: bytes sent */
	long res;           /* once done: byte count or -errno */
	bool serial;        /* submitted with XPORT_SERIAL */
	uint64_t seq;       /* submission order, across both endpoints */
};

struct fakehost {
	struct bot *bot;                /* completions go here */
	unsigned maxpacket;             /* 512 (high speed) or 1024 (super) */
	bool enabled;                   /* endpoints enabled (SET_CONFIG) */
	bool offline;                   /* the device was told DISABLE */
	bool shuffle;                   /* report completions in random order */
	uint64_t rng;                   /* xorshift state for shuffle */

	struct fh_xfer *queue[2];       /* on the wire, oldest first */
	struct fh_xfer **done;          /* finished, not reported yet */
	size_t ndone, done_cap;

	bool halted[2];                 /* endpoint stalled */
	unsigned halts[2];              /* halt() calls so far */
	unsigned resets_done;           /* reset done callbacks so far */
	bool reset_pending;             /* a reset not acked yet */

	unsigned violations;
	char why[160];

	uint64_t next_seq;              /* of the last submission */
	uint32_t next_tag;              /* dCBWTag of the next fh_command */
	uint32_t out_stop;              /* fh_command's host sends only this
	                                 * much OUT data (0: all of it) */
	uint8_t *in;                    /* data of the last fh_command */
	size_t in_cap;
	/* Media jobs (a 0-worker mio, or NULL): with no transfer left to
	 * report, fh_deliver() runs the oldest job and reports it. */
	struct mio *mio;
};

extern const struct xport_ops fh_xport_ops;

void fh_init(struct fakehost *fh, struct bot *bot, unsigned maxpacket);
/* Frees everything still queued or unreported (without reporting it). */
void fh_fini(struct fakehost *fh);

/* --- device-side observations ------------------------------------------ */

/* Transfers on ep that the device still counts in flight: on the wire plus
 * finished-but-unreported.  Must equal bot->inflight[ep]. */
unsigned fh_inflight(const struct fakehost *fh, enum xport_ep ep);
unsigned fh_queued(const struct fakehost *fh, enum xport_ep ep);
/* Length of the oldest transfer on the wire on ep, or -1 if none. */
long fh_head_len(const struct fakehost *fh, enum xport_ep ep);
/* Length of the i-th transfer on the wire on ep (oldest = 0), or -1. */
long fh_nth_len(const struct fakehost *fh, enum xport_ep ep, unsigned i);

/* --- completions ------------------------------------------------------- */

/* Reports one finished transfer to the device (the oldest, or a random one
 * with shuffle).  Returns false if there was none. */
bool fh_deliver(struct fakehost *fh);
/* Reports the pick-th finished transfer (pick modulo the count). */
bool fh_deliver_pick(struct fakehost *fh, unsigned pick);
/* Reports everything finished, including what that causes to finish. */
void fh_deliver_all(struct fakehost *fh);

/* --- host actions ------------------------------------------------------ */

enum fh_xres {
	FH_OK = 0,     /* all bytes moved / read ended normally */
	FH_NAK,        /* nothing queued by the device: try again later */
	FH_STALL,      /* the endpoint is halted */
	FH_BABBLE,     /* a packet did not fit the other side's buffer */
};

/* Host sends an OUT transfer of n bytes (packets of maxpacket, the last
 * one short unless n is a multiple).  *sent gets the bytes the device
 * accepted; on FH_NAK/FH_STALL resume with the rest later (the split is
 * always on a packet boundary). */
enum fh_xres fh_host_out(struct fakehost *fh, const void *data, uint32_t n,
			 uint32_t *sent);
/* Host reads up to want bytes from IN into buf (may be NULL); the read
 * ends at want bytes or after a short packet.  *got gets the byte count
 * (accumulated across FH_NAK retries by the caller). */
enum fh_xres fh_host_in(struct fakehost *fh, void *buf, uint32_t want,
			uint32_t *got);
void fh_clear_halt(struct fakehost *fh, enum xport_ep ep);
/* The oldest transfer on ep ends with err (-errno), e.g. a bus error.
 * Returns false if nothing is queued there. */
bool fh_fail_head(struct fakehost *fh, enum xport_ep ep, long err);

/* ep0 events as the FunctionFS layer would deliver them. */
void fh_enable(struct fakehost *fh);   /* SET_CONFIGURATION */
/* The UDC ends all I/O (-ESHUTDOWN) without telling the device yet. */
void fh_disconnect(struct fakehost *fh);
void fh_disable(struct fakehost *fh);  /* fh_disconnect, then DISABLE */
/* Bulk-Only Mass Storage Reset.  When the device acks it (resets_done
 * goes up), the host clears both halts, as real hosts do. */
void fh_reset(struct fakehost *fh);

/* --- whole commands ---------------------------------------------------- */

enum fh_dir { FH_NONE = 0, FH_IN, FH_OUT };

struct fh_result {
	bool csw_ok;          /* a 13-byte CSW with the right signature */
	bool tag_ok;          /* ... echoing the CBW tag */
	uint8_t status;       /* bCSWStatus */
	uint32_t residue;     /* dCSWDataResidue */
	uint32_t data_len;    /* bytes moved in the data phase */
	const uint8_t *data;  /* IN data (host_len bytes, fh-owned, valid
	                       * until the next fh_command) */
	bool halted_in;       /* the device halted bulk-in during the command */
	bool halted_out;      /* ... bulk-out */
	bool babble;          /* a packet overflowed the host's buffer */
	bool cbw_queued;      /* the next CBW read is queued afterwards */
};

/* Builds a CBW and runs one whole command the way a host does: CBW, data
 * phase (clearing a stall), CSW (clearing a stall and retrying once),
 * pumping completions as needed.  Ends with every completion reported. */
struct fh_result fh_command(struct fakehost *fh, unsigned lun,
			    const uint8_t *cdb, unsigned cdb_len,
			    enum fh_dir dir, uint32_t host_len,
			    const void *out_data);

/* Host side of a status phase: reads the 13-byte CSW (clearing one stall
 * and retrying, pumping completions while nothing is queued) into r. */
void fh_read_csw(struct fakehost *fh, uint32_t tag, struct fh_result *r);

/* Writes a 31-byte CBW. */
void fh_make_cbw(uint8_t cbw[31], uint32_t tag, uint32_t host_len, bool in,
		 unsigned lun, const uint8_t *cdb, unsigned cdb_len);

/* --- a whole device: LUNs + target + BOT + fake host ------------------- */

struct fh_lun_cfg {
	const char *media;     /* "memory:1M", a path, or NULL for empty */
	bool readonly;
	bool fixed;            /* not removable */
	uint32_t block_size;   /* 0 = 512 */
	const char *layer;     /* one layer spec over the media, or NULL */
	bool cdrom;            /* type: cdrom (MMC) rather than a disk */
};

#define FH_MAX_LUNS 8

struct fh_dev {
	struct lun luns[FH_MAX_LUNS];
	struct config_lun cfg[FH_MAX_LUNS];
	struct scsi_target target;
	struct bot bot;
	struct fakehost fh;
	struct mio mio;        /* 0 workers: jobs run in fh_deliver() */
	const char *layers[FH_MAX_LUNS][2];
};

/* Sets up nluns LUNs, the BOT (xfer_size, depth) and the fake host, then
 * enables the endpoints.  The power-on unit attention is left pending.
 * Returns 0 or -1. */
int fh_dev_init(struct fh_dev *d, const struct fh_lun_cfg *luns,
		unsigned nluns, uint32_t xfer_size, unsigned depth,
		unsigned maxpacket);
/* Disables, drains and frees everything. */
void fh_dev_fini(struct fh_dev *d);
/* Clears pending unit attentions on every LUN. */
void fh_dev_clear_ua(struct fh_dev *d);
/* Reads / writes LUN lun's current media directly (not over USB), for
 * setting up and checking what commands did.  Return lun_read/lun_write's
 * result (0 on success). */
int fh_media_get(struct fh_dev *d, unsigned lun, uint64_t off, void *buf,
		 uint32_t len);
int fh_media_put(struct fh_dev *d, unsigned lun, uint64_t off,
		 const void *buf, uint32_t len);

/* Test helpers shared by the BOT tests: a READ(10)/WRITE(10)-shaped CDB
 * (opcode, LBA, block count), and whether n bytes all equal v. */
void fh_rw10(uint8_t cdb[10], uint8_t op, uint32_t lba, uint16_t n);
bool fh_all_bytes(const uint8_t *p, size_t n, uint8_t v);

/* REQUEST SENSE through the host: returns key/ASC/ASCQ packed as SENSE(),
 * or 0xffffffff if the command failed; *info gets the INFORMATION field
 * (or ~0u when VALID is clear). */
uint32_t fh_request_sense(struct fakehost *fh, unsigned lun, uint32_t *info);

#endif
