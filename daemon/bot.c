/* bot.c — Bulk-Only Transport state machine.  See bot.h for the diagram
 * and the policy on the thirteen host/device cases.
 *
 * CBW (31 bytes, little-endian):            CSW (13 bytes):
 *   0  dCBWSignature  0x43425355             0  dCSWSignature 0x53425355
 *   4  dCBWTag                               4  dCSWTag (echo)
 *   8  dCBWDataTransferLength                8  dCSWDataResidue
 *  12  bmCBWFlags (bit 7: 1 = IN)           12  bCSWStatus 0/1/2
 *  13  bCBWLUN (bits 3..0)
 *  14  bCBWCBLength (1..16)
 *  15  CBWCB[16]
 *
 * Transfer tags carry the kind in the high 32 bits and, for OUT data, the
 * pool buffer index in the low bits.
 */
#include "bot.h"
#include "bytes.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum bot_tag {
	TAG_CBW = 1,   /* OUT: the next command */
	TAG_CSW,       /* IN: status */
	TAG_DATA,      /* IN: relevant data */
	TAG_PAD,       /* IN: zero padding (cases 4, 5, media error) */
	TAG_OUT,       /* OUT: relevant data, into pool or in place */
	TAG_DISCARD,   /* OUT: data beyond what the command wants */
	TAG_WEDGE,     /* OUT: whatever arrives while wedged */
};

#define BOT_TAG(kind, idx) ((uint64_t)(kind) << 32 | (uint32_t)(idx))
#define BOT_OUT_ALIGN 1024u  /* largest bulk maxpacket (SuperSpeed) */

static const char *const bot_state_names[] = {
	[BOT_OFFLINE] = "offline", [BOT_CBW] = "cbw",
	[BOT_DATA_IN] = "data-in", [BOT_DATA_OUT] = "data-out",
	[BOT_STATUS] = "status",   [BOT_WEDGED] = "wedged",
	[BOT_BROKEN] = "broken",   [BOT_DRAIN] = "drain",
};

const char *bot_state_name(enum bot_state s)
{
	return (unsigned)s < sizeof bot_state_names / sizeof bot_state_names[0]
		       ? bot_state_names[s] : "?";
}

static void bot_set_state(struct bot *b, enum bot_state s)
{
	if (b->state != s)
		log_debug(LOG_MOD_BOT, "state %s -> %s",
			  bot_state_name(b->state), bot_state_name(s));
	b->state = s;
}

int bot_init(struct bot *b, const struct scsi_target *t,
	     const struct xport_ops *xp, void *xp_ctx, uint32_t xfer_size,
	     unsigned depth)
{
	void *mem;

	memset(b, 0, sizeof *b);
	if (depth < 1 || depth > BOT_MAX_DEPTH || xfer_size % 4096 ||
	    xfer_size == 0) {
		errno = EINVAL;
		return -1;
	}
	b->xp = xp;
	b->xp_ctx = xp_ctx;
	b->target = t;
	b->xfer_size = xfer_size;
	b->depth = depth;
	/* pool, zero and scratch buffers, then the CBW buffer. */
	if (posix_memalign(&mem, 4096,
			   (size_t)xfer_size * (depth + 2) + BOT_CBW_BUF)) {
		errno = ENOMEM;
		return -1;
	}
	b->pool = mem;
	b->zero = b->pool + (size_t)xfer_size * depth;
	b->scratch = b->zero + xfer_size;
	b->cbw = b->scratch + xfer_size;
	memset(b->zero, 0, xfer_size);
	return 0;
}

void bot_fini(struct bot *b)
{
	/* The transport is gone (its transfers cancelled and finished):
	 * nothing stores into the media any more. */
	if (b->out_pin) {
		lun_map_release(b->cmd.lun, b->out_pin);
		b->out_pin = NULL;
	}
	free(b->pool);
	b->pool = NULL;
}

/* --- submitting ---------------------------------------------------------- */

static void bot_xport_failed(struct bot *b, int err);

static bool bot_submit(struct bot *b, enum xport_ep ep, void *buf,
		       uint32_t len, uint64_t tag, unsigned flags)
{
	int r = b->xp->submit(b->xp_ctx, ep, buf, len, tag, flags);

	if (r < 0) {
		bot_xport_failed(b, r);
		return false;
	}
	b->inflight[ep]++;
	return true;
}

/* IN data is serial (transport.h) when the data phase fits in one
 * transfer: the transfer, the CSW and the next CBW read then go one after
 * the other.  Larger data phases stay on AIO, several transfers queued. */
static unsigned bot_in_flags(const struct bot *b)
{
	return b->cmd.total_len <= b->xfer_size ? XPORT_SERIAL : 0;
}

/* OUT transfers are all serial, one at a time, in chunks of up to
 * bot_out_chunk() bytes.  Never AIO: FunctionFS copies an AIO read's bytes
 * into the daemon's memory from its completion worker, and on Linux 6.1
 * (Debian's kernel) that worker can drop the last reference to the
 * daemon's address space when the daemon dies in the middle of it; the
 * worker then waits for the daemon's AIO to finish, which it is itself
 * meant to finish, and the gadget stays wedged until a reboot (seen in
 * tests/vm: SIGKILL during writes, about one kill in twenty).  A blocking
 * read copies in the calling thread.  docs/performance.md has the cost. */
#define BOT_OUT_CHUNK_MAX (128u * 1024)

static uint32_t bot_out_chunk(const struct bot *b)
{
	uint64_t pool = (uint64_t)b->xfer_size * b->depth;

	return pool < BOT_OUT_CHUNK_MAX ? (uint32_t)pool : BOT_OUT_CHUNK_MAX;
}

static void bot_queue_cbw(struct bot *b)
{
	bot_set_state(b, BOT_CBW);
	bot_submit(b, XPORT_EP_OUT, b->cbw, BOT_CBW_BUF, BOT_TAG(TAG_CBW, 0),
		   XPORT_SERIAL);
}

static void bot_cancel_all(struct bot *b, enum bot_state after)
{
	b->after_drain = after;
	bot_set_state(b, BOT_DRAIN);
	b->halt_pending[XPORT_EP_IN] = b->halt_pending[XPORT_EP_OUT] = false;
	if (b->inflight[XPORT_EP_IN])
		b->xp->cancel(b->xp_ctx, XPORT_EP_IN);
	if (b->inflight[XPORT_EP_OUT])
		b->xp->cancel(b->xp_ctx, XPORT_EP_OUT);
}

/* A transfer failed or could not be queued: give up on the command and
 * wait for the host to reset us (or for DISABLE). */
static void bot_xport_failed(struct bot *b, int err)
{
	if (b->state == BOT_DRAIN || b->state == BOT_OFFLINE ||
	    b->state == BOT_BROKEN)
		return;
	b->stats.xport_errors++;
	log_debug(LOG_MOD_BOT, "transfer failed in %s: %s",
		  bot_state_name(b->state), strerror(-err));
	bot_cancel_all(b, BOT_BROKEN);
}

/* Performs pending halts once nothing is queued on that endpoint.
 * Returns true when no halt is still waiting. */
static bool bot_do_halts(struct bot *b)
{
	for (int ep = XPORT_EP_IN; ep <= XPORT_EP_OUT; ep++) {
		if (!b->halt_pending[ep] || b->inflight[ep])
			continue;
		if (b->xp->halt(b->xp_ctx, (enum xport_ep)ep) < 0)
			log_debug(LOG_MOD_BOT, "halt %s failed",
				  ep == XPORT_EP_IN ? "in" : "out");
		b->halt_pending[ep] = false;
	}
	return !b->halt_pending[XPORT_EP_IN] && !b->halt_pending[XPORT_EP_OUT];
}

/* --- status -------------------------------------------------------------- */

static void bot_send_csw(struct bot *b)
{
	struct bot_cmd *c = &b->cmd;
	uint32_t residue = c->moved < c->host_len
				   ? c->host_len - (uint32_t)c->moved : 0;

	put_le32(b->csw, BOT_CSW_SIGNATURE);
	put_le32(b->csw + 4, c->tag);
	put_le32(b->csw + 8, residue);
	b->csw[12] = c->csw_status;
	log_debug(LOG_MOD_BOT, "csw tag %u status %u residue %u", c->tag,
		  c->csw_status, residue);
	if (!bot_submit(b, XPORT_EP_IN, b->csw, BOT_CSW_LEN,
			BOT_TAG(TAG_CSW, 0), XPORT_SERIAL))
		return;
	bot_queue_cbw(b);
}

/* STATUS: halt first if the case needs it, then the CSW. */
static void bot_try_status(struct bot *b)
{
	if (b->state != BOT_STATUS || !bot_do_halts(b))
		return;
	bot_send_csw(b);
}

/* All data moved (or none to move): decide the status. */
static void bot_finish_data(struct bot *b)
{
	struct bot_cmd *c = &b->cmd;
	uint8_t st = scsi_cmd_complete(c->lun, &c->scsi, c->moved);

	if (c->phase_error || c->short_out) {
		c->csw_status = BOT_CSW_PHASE_ERROR;
		b->stats.phase_errors++;
	} else {
		c->csw_status = st == SCSI_STATUS_GOOD ? BOT_CSW_GOOD
						       : BOT_CSW_FAILED;
	}
	if (c->halt_ep >= 0)
		b->halt_pending[c->halt_ep] = true;
	bot_set_state(b, BOT_STATUS);
	bot_try_status(b);
}

/* --- data in ------------------------------------------------------------- */

/* Makes FunctionFS copy the queued IN data (it does inside io_submit),
 * then lets go of the media mappings that data pointed into.  Called at
 * the end of every completion, so the data still goes out in one
 * io_submit with whatever follows it on AIO, and no pin outlives the
 * event (serial IN data is never mapped: bot_in_chunk).  The pins belong to
 * the current command's LUN: it only changes when a CBW arrives, and
 * bot_pump_in() runs once per completion, after that. */
static void bot_release_maps(struct bot *b)
{
	if (!b->in_pins)
		return;
	if (b->xp->flush)
		b->xp->flush(b->xp_ctx);
	for (; b->in_pins > 0; b->in_pins--)
		lun_map_release(b->cmd.lun, b->in_pin);
	b->in_pin = NULL;
}

/* The next IN data chunk at c->submitted, dlen relevant bytes of a len-byte
 * transfer: in place from the media's mapping when it fills the transfer
 * (pinned until bot_release_maps), else copied (and zero-padded) into the
 * pool.  Returns the buffer, or NULL after a media error. */
static void *bot_in_chunk(struct bot *b, uint32_t dlen, uint32_t len)
{
	struct bot_cmd *c = &b->cmd;
	struct backend *pin = NULL;
	const void *data;
	int r = 0;

	/* Not for a serial transfer: it is copied after bot_complete()
	 * returns, and the pins are let go before. */
	if (dlen == len && !bot_in_flags(b))
		r = scsi_data_map(c->lun, &c->scsi, c->submitted, dlen, &data,
				  &pin);
	if (r < 0)
		return NULL;
	if (r > 0) {
		/* One media per command, unless it was swapped between
		 * two chunks: then settle the older pins first. */
		if (b->in_pins && b->in_pin != pin)
			bot_release_maps(b);
		b->in_pin = pin;
		b->in_pins++;
		return (void *)data;   /* FunctionFS only reads IN buffers */
	}
	/* The previous chunk may still sit in b->pool. */
	if (b->xp->flush)
		b->xp->flush(b->xp_ctx);
	if (scsi_data_in(c->lun, &c->scsi, c->submitted, b->pool, dlen) < 0)
		return NULL;
	/* Padding shares the transfer: a short packet between data and
	 * padding would end the host's transfer and the padding would be
	 * taken for the CSW. */
	if (dlen < len)
		memset(b->pool + dlen, 0, len - dlen);
	return b->pool;
}

static void bot_pump_in(struct bot *b)
{
	struct bot_cmd *c = &b->cmd;

	while (b->state == BOT_DATA_IN && c->submitted < c->total_len &&
	       b->inflight[XPORT_EP_IN] < b->depth) {
		uint64_t left = c->total_len - c->submitted;
		uint32_t len = left < b->xfer_size ? (uint32_t)left : b->xfer_size;
		void *buf = b->zero;
		enum bot_tag kind = TAG_PAD;
		uint32_t dlen = 0;

		if (c->submitted < c->data_len) {
			dlen = len;
			if (dlen > c->data_len - c->submitted)
				dlen = (uint32_t)(c->data_len - c->submitted);
			buf = bot_in_chunk(b, dlen, len);
			if (!buf) {
				/* Never send garbage: pad what is left. */
				c->data_len = c->submitted;
				continue;
			}
			kind = TAG_DATA;
		}
		if (!bot_submit(b, XPORT_EP_IN, buf, len, BOT_TAG(kind, len),
				bot_in_flags(b)))
			break;
		/* Counted when queued: IN completions of this command may be
		 * reported after the next CBW has arrived. */
		c->moved += dlen;
		c->submitted += len;
	}
	if (b->state == BOT_DATA_IN && c->submitted == c->total_len)
		bot_finish_data(b);
}

/* --- data out ------------------------------------------------------------ */

static uint64_t bot_round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static void bot_pump_out(struct bot *b)
{
	struct bot_cmd *c = &b->cmd;

	/* One at a time (bot_out_chunk()). */
	while (b->state == BOT_DATA_OUT && !c->short_out &&
	       c->submitted < c->total_len && b->inflight[XPORT_EP_OUT] == 0) {
		uint64_t left = c->total_len - c->submitted, want;
		void *buf = b->pool;

		if (c->submitted >= c->data_len) {
			uint32_t len = left < b->xfer_size ? (uint32_t)left
							   : b->xfer_size;
			if (!bot_submit(b, XPORT_EP_OUT, b->scratch, len,
					BOT_TAG(TAG_DISCARD, len), XPORT_SERIAL))
				return;
			c->submitted += len;
			continue;
		}
		/* Whole max packets, never past what the host sends. */
		want = bot_round_up(c->data_len - c->submitted, BOT_OUT_ALIGN);
		if (want > bot_out_chunk(b))
			want = bot_out_chunk(b);
		if (want > left)
			want = left;
		b->out_off = c->submitted;
		b->out_len = (uint32_t)want;
		/* All media data: FunctionFS may store it in place. */
		if (c->submitted + want <= c->data_len &&
		    scsi_data_map_out(c->lun, &c->scsi, c->submitted,
				      (uint32_t)want, &buf, &b->out_pin))
			b->stats.inplace_writes++;
		if (!bot_submit(b, XPORT_EP_OUT, buf, (uint32_t)want,
				BOT_TAG(TAG_OUT, 0), XPORT_SERIAL)) {
			if (b->out_pin)
				lun_map_release(c->lun, b->out_pin);
			b->out_pin = NULL;
			return;
		}
		c->submitted += want;
	}
	if (b->state == BOT_DATA_OUT && b->inflight[XPORT_EP_OUT] == 0 &&
	    (c->short_out || c->completed == c->total_len))
		bot_finish_data(b);
}

/* The host sent fewer bytes than it announced: stop reading, or the
 * queued reads would swallow the next CBW. */
static void bot_out_short(struct bot *b)
{
	if (b->cmd.short_out)
		return;
	b->cmd.short_out = true;
	if (b->inflight[XPORT_EP_OUT])
		b->xp->cancel(b->xp_ctx, XPORT_EP_OUT);
}

/* An OUT transfer that FunctionFS stored in place ended.  EFAULT means the
 * host's bytes arrived but could not be stored (the media refused a page):
 * a write error for this command, not a broken transport. */
static void bot_out_mapped_done(struct bot *b, long res, struct backend *pin)
{
	struct bot_cmd *c = &b->cmd;
	bool stored = res != -EFAULT;

	if (res < 0 && stored) {
		lun_map_release(c->lun, pin);
		if (!c->short_out)
			bot_xport_failed(b, (int)res);
		else
			bot_pump_out(b);
		return;
	}
	if (!stored)
		res = b->out_len;
	if (scsi_data_out_mapped(c->lun, &c->scsi, b->out_off, pin,
				 (uint32_t)res, stored) == 0)
		c->moved += (uint64_t)res;
	c->completed += (uint64_t)res;
	if ((uint32_t)res < b->out_len)
		bot_out_short(b);
	bot_pump_out(b);
}

static void bot_out_done(struct bot *b, long res, struct backend *pin)
{
	struct bot_cmd *c = &b->cmd;
	uint64_t off = b->out_off;
	uint64_t valid = 0;

	if (pin) {
		bot_out_mapped_done(b, res, pin);
		return;
	}
	if (res < 0) {
		if (!c->short_out)
			bot_xport_failed(b, (int)res);
		else
			bot_pump_out(b);
		return;
	}
	if (off < c->data_len) {
		valid = c->data_len - off;
		if ((uint64_t)res < valid)
			valid = (uint64_t)res;
	}
	if (valid && scsi_data_out(c->lun, &c->scsi, off, b->pool,
				   (uint32_t)valid) == 0)
		c->moved += valid;
	c->completed += (uint64_t)res;
	if ((uint32_t)res < b->out_len)
		bot_out_short(b);
	bot_pump_out(b);
}

static void bot_discard_done(struct bot *b, uint32_t len, long res)
{
	if (res < 0) {
		if (!b->cmd.short_out)
			bot_xport_failed(b, (int)res);
		else
			bot_pump_out(b);
		return;
	}
	b->cmd.completed += (uint64_t)res;
	if ((uint32_t)res < len)
		bot_out_short(b);
	bot_pump_out(b);
}

/* --- command ------------------------------------------------------------- */

/* Stall both endpoints and keep a read queued so that anything the host
 * sends without resetting first is stalled again (TAG_WEDGE). */
static void bot_wedge(struct bot *b)
{
	b->halt_pending[XPORT_EP_IN] = b->halt_pending[XPORT_EP_OUT] = true;
	bot_set_state(b, BOT_WEDGED);
	bot_do_halts(b);
	bot_submit(b, XPORT_EP_OUT, b->cbw, BOT_CBW_BUF, BOT_TAG(TAG_WEDGE, 0),
		   XPORT_SERIAL);
}

static bool bot_cbw_valid(const struct bot *b, long len)
{
	return len == BOT_CBW_LEN &&
	       get_le32(b->cbw) == BOT_CBW_SIGNATURE &&
	       (b->cbw[13] & 0x0f) < b->target->nluns &&
	       (b->cbw[13] & 0xf0) == 0 &&
	       b->cbw[14] >= 1 && b->cbw[14] <= 16;
}

/* Fill data_len/total_len/halt_ep/phase_error from the thirteen cases. */
static void bot_plan(struct bot_cmd *c)
{
	uint64_t dev = c->scsi.dir == SCSI_DIR_NONE ? 0 : c->scsi.length;
	bool dev_in = c->scsi.dir == SCSI_DIR_IN;
	uint64_t host = c->host_len;

	c->data_len = c->total_len = 0;
	c->halt_ep = -1;
	c->phase_error = false;
	if (host == 0) {
		c->phase_error = dev != 0;              /* cases 1, 2, 3 */
	} else if (dev != 0 && dev_in != c->host_in) {
		c->phase_error = true;                  /* cases 8, 10 */
		c->halt_ep = c->host_in ? XPORT_EP_IN : XPORT_EP_OUT;
	} else {
		/* cases 4, 5, 6, 7 (IN) and 9, 11, 12, 13 (OUT) */
		c->data_len = dev < host ? dev : host;
		c->total_len = host;
		c->phase_error = dev > host;            /* cases 7, 13 */
	}
}

static void bot_on_cbw(struct bot *b, long len)
{
	struct bot_cmd *c = &b->cmd;
	unsigned cblen;

	if (!bot_cbw_valid(b, len)) {
		log_debug(LOG_MOD_BOT, "invalid CBW (%ld bytes): stalling", len);
		b->stats.invalid_cbws++;
		bot_wedge(b);
		return;
	}
	b->stats.commands++;
	c->tag = get_le32(b->cbw + 4);
	c->host_len = get_le32(b->cbw + 8);
	c->host_in = b->cbw[12] & 0x80;
	c->lun = &b->target->luns[b->cbw[13] & 0x0f];
	cblen = b->cbw[14];
	memset(c->scsi.cdb, 0, sizeof c->scsi.cdb);
	memcpy(c->scsi.cdb, b->cbw + 15, cblen);
	c->scsi.cdb_len = (uint8_t)cblen;
	c->submitted = c->completed = c->moved = 0;
	c->short_out = false;
	scsi_cmd_prepare(b->target, c->lun, &c->scsi);
	bot_plan(c);
	log_debug(LOG_MOD_BOT, "cbw tag %u lun %u op 0x%02x host %s %u dev %llu%s",
		  c->tag, c->lun->id, c->scsi.cdb[0], c->host_in ? "in" : "out",
		  c->host_len, (unsigned long long)c->scsi.length,
		  c->phase_error ? " PHASE ERROR" : "");
	if (c->total_len == 0) {
		bot_finish_data(b);
	} else if (c->host_in) {
		bot_set_state(b, BOT_DATA_IN);
		bot_pump_in(b);
	} else {
		bot_set_state(b, BOT_DATA_OUT);
		bot_pump_out(b);
	}
}

/* --- events -------------------------------------------------------------- */

static void bot_drained(struct bot *b)
{
	enum bot_state next = b->after_drain;

	if (b->inflight[XPORT_EP_IN] || b->inflight[XPORT_EP_OUT])
		return;
	bot_set_state(b, next);
	if (next == BOT_CBW)
		bot_queue_cbw(b);
	if (b->reset_waiting && next != BOT_DRAIN) {
		b->reset_waiting = false;
		if (b->reset_done)
			b->reset_done(b->reset_arg);
	}
}

void bot_enable(struct bot *b)
{
	for (unsigned i = 0; i < b->target->nluns; i++)
		lun_add_ua(&b->target->luns[i], LUN_UA_POWER_ON);
	if (b->inflight[XPORT_EP_IN] || b->inflight[XPORT_EP_OUT]) {
		bot_cancel_all(b, BOT_CBW);
		return;
	}
	bot_queue_cbw(b);
}

void bot_disable(struct bot *b)
{
	bot_cancel_all(b, BOT_OFFLINE);
	bot_drained(b);
}

void bot_reset(struct bot *b, void (*done)(void *), void *arg)
{
	b->stats.resets++;
	b->reset_done = done;
	b->reset_arg = arg;
	/* Offline or on the way there: nothing to restart, just answer. */
	if (b->state == BOT_OFFLINE ||
	    (b->state == BOT_DRAIN && b->after_drain == BOT_OFFLINE)) {
		if (done)
			done(arg);
		return;
	}
	b->reset_waiting = true;
	bot_cancel_all(b, BOT_CBW);
	bot_drained(b);
}

static enum xport_ep bot_tag_ep(enum bot_tag kind)
{
	return kind == TAG_CSW || kind == TAG_DATA || kind == TAG_PAD
		       ? XPORT_EP_IN : XPORT_EP_OUT;
}

/* An IN transfer (data, padding or a CSW, possibly of the previous
 * command) left: room for more data, or for a pending halt. */
static void bot_in_done(struct bot *b, long res)
{
	if (res < 0) {
		bot_xport_failed(b, (int)res);
		return;
	}
	if (b->state == BOT_DATA_IN)
		bot_pump_in(b);
	else
		bot_try_status(b);
}

void bot_complete(struct bot *b, uint64_t tag, long res)
{
	enum bot_tag kind = (enum bot_tag)(tag >> 32);
	uint32_t arg = (uint32_t)tag;
	enum xport_ep ep = bot_tag_ep(kind);
	struct backend *pin = NULL;

	if (b->inflight[ep] == 0) {
		log_warnx("bot: completion for nothing queued (tag %llx)",
			  (unsigned long long)tag);
		return;
	}
	b->inflight[ep]--;
	if (kind == TAG_OUT) {
		pin = b->out_pin;
		b->out_pin = NULL;
	}
	if (b->state == BOT_DRAIN || b->state == BOT_OFFLINE ||
	    b->state == BOT_BROKEN) {
		if (pin)
			lun_map_release(b->cmd.lun, pin);
		if (b->state == BOT_DRAIN)
			bot_drained(b);
		return;
	}
	switch (kind) {
	case TAG_CBW:
		if (res < 0)
			bot_xport_failed(b, (int)res);
		else
			bot_on_cbw(b, res);
		break;
	case TAG_CSW: case TAG_DATA: case TAG_PAD:
		bot_in_done(b, res);
		break;
	case TAG_OUT:
		bot_out_done(b, res, pin);
		break;
	case TAG_DISCARD:
		bot_discard_done(b, arg, res);
		break;
	case TAG_WEDGE:
		if (res >= 0)
			bot_wedge(b);
		break;
	}
	if (b->state == BOT_WEDGED)
		bot_do_halts(b);
	bot_release_maps(b);
}
