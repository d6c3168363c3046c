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
 * Transfer tags carry the kind in the high 32 bits and, for IN data,
 * padding and discarded OUT data, the transfer's length in the low bits.
 * The one OUT data transfer in flight is described by out_off / out_len /
 * out_pin / out_seg (bot.h), not by its tag.
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
	[BOT_JOB] = "job",         [BOT_STATUS] = "status",
	[BOT_WEDGED] = "wedged",
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
	/* Segments: whole transfers, at least BOT_SEG_MIN. */
	b->seg_size = (BOT_SEG_MIN + xfer_size - 1) / xfer_size * xfer_size;
	if (posix_memalign(&mem, 4096, (size_t)b->seg_size * BOT_SEGS)) {
		free(b->pool);
		b->pool = NULL;
		errno = ENOMEM;
		return -1;
	}
	b->win = mem;
	for (unsigned i = 0; i < BOT_SEGS; i++) {
		b->seg[i].bot = b;
		b->seg[i].buf = b->win + (size_t)i * b->seg_size;
	}
	return 0;
}

void bot_set_mio(struct bot *b, struct mio *m)
{
	b->mio = m;
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
	free(b->win);
	b->win = NULL;
}

/* --- submitting ---------------------------------------------------------- */

static void bot_xport_failed(struct bot *b, int err);
static void bot_finish_data(struct bot *b);
static void bot_pump_in(struct bot *b);
static void bot_pump_out(struct bot *b);
static void bot_drained(struct bot *b);

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

/* --- media jobs ---------------------------------------------------------- */

static void bot_job_finish(struct bot *b, struct mio_job *j);
static void bot_settle(struct bot *b);

static void bot_seg_read_run(struct mio_job *j);

/* A segment read the media answers from memory (a cache hit) is done at
 * once, without a worker's round trip. */
static bool bot_seg_try_read(struct bot *b, struct mio_job *j)
{
	struct bot_seg *s = (struct bot_seg *)j;

	if (j->run != bot_seg_read_run ||
	    scsi_media_try_read(b->cmd.lun, &b->cmd.scsi, s->off, s->buf,
				s->len) != 0)
		return false;
	j->result = 0;
	b->stats.memory_reads++;
	return true;
}

/* Hands a job to the workers; without them (or when they are stopping),
 * or when a read is in memory, runs it here and finishes it at the end of
 * the event (bot_settle). */
static void bot_job_submit(struct bot *b, struct mio_job *j)
{
	b->jobs++;
	if (!bot_seg_try_read(b, j)) {
		b->stats.media_jobs++;
		if (b->mio && mio_submit(b->mio, j) == 0)
			return;
		j->run(j);
	}
	b->inline_done[b->ninline++] = j;
}

static bool bot_segs_busy(const struct bot *b)
{
	for (unsigned i = 0; i < BOT_SEGS; i++)
		if (b->seg[i].state == SEG_BUSY)
			return true;
	return false;
}

/* The segment that holds command byte off of an async READ. */
static struct bot_seg *bot_seg_at(struct bot *b, uint64_t off)
{
	return &b->seg[(off / b->seg_size) % BOT_SEGS];
}

static struct bot_seg *bot_seg_free(struct bot *b)
{
	for (unsigned i = 0; i < BOT_SEGS; i++)
		if (b->seg[i].state == SEG_FREE)
			return &b->seg[i];
	return NULL;
}

/* On a worker: the segment's media bytes (reads b->cmd's fixed fields
 * only; the USB thread does not change them while a job is out). */
static void bot_seg_read_run(struct mio_job *j)
{
	struct bot_seg *s = (struct bot_seg *)j;
	struct bot_cmd *c = &s->bot->cmd;

	j->result = scsi_media_read(c->lun, &c->scsi, s->off, s->buf, s->len);
}

static void bot_seg_write_run(struct mio_job *j)
{
	struct bot_seg *s = (struct bot_seg *)j;
	struct bot_cmd *c = &s->bot->cmd;

	j->result = scsi_data_out_run(c->lun, &c->scsi, s->off, s->buf,
				      s->len);
}

static struct bot *bot_of_cmd_job(struct mio_job *j)
{
	return (struct bot *)(void *)((char *)j - offsetof(struct bot, cmd_job));
}

static void bot_cmd_job_run(struct mio_job *j)
{
	struct bot *b = bot_of_cmd_job(j);

	scsi_job_run(b->cmd.lun, &b->cmd.scsi);
}

/* mio_reap(), on the USB thread with the USB lock held. */
static void bot_seg_done(struct mio_job *j)
{
	struct bot *b = ((struct bot_seg *)j)->bot;

	bot_job_finish(b, j);
	bot_settle(b);
}

static void bot_cmd_job_done(struct mio_job *j)
{
	struct bot *b = bot_of_cmd_job(j);

	bot_job_finish(b, j);
	bot_settle(b);
}

static void bot_seg_start(struct bot *b, struct bot_seg *s, uint64_t off,
			  uint32_t len, void (*run)(struct mio_job *))
{
	s->off = off;
	s->len = len;
	s->state = SEG_BUSY;
	s->cmd_seq = b->cmd_seq;
	s->job.run = run;
	s->job.done = bot_seg_done;
	s->job.result = 0;
	bot_job_submit(b, &s->job);
}

/* Async READ: asks for every segment of the command that has a free
 * buffer, all at once (the backend splits each by its own concurrency). */
static void bot_fetch(struct bot *b)
{
	struct bot_cmd *c = &b->cmd;

	while (c->fetch_next < c->data_len) {
		struct bot_seg *s = bot_seg_at(b, c->fetch_next);
		uint64_t left = c->data_len - c->fetch_next;
		uint32_t len = left < b->seg_size ? (uint32_t)left : b->seg_size;

		if (s->state != SEG_FREE)
			break;
		c->fetch_next += len;
		bot_seg_start(b, s, c->fetch_next - len, len, bot_seg_read_run);
	}
}

/* The next IN data transfer of an async READ, dlen bytes of data in a
 * len-byte transfer at c->submitted: 0 with *buf and *seg set, 1 when its
 * segment has not arrived yet, -1 when it failed (CHECK CONDITION set,
 * data_len cut: the rest is padding). */
static int bot_in_seg(struct bot *b, uint32_t dlen, uint32_t len,
		      void **buf, struct bot_seg **seg)
{
	struct bot_cmd *c = &b->cmd;
	struct bot_seg *s = bot_seg_at(b, c->submitted);
	uint64_t o = c->submitted - s->off;

	if (s->state != SEG_READY || s->cmd_seq != b->cmd_seq ||
	    c->submitted < s->off || o >= s->len)
		return 1;
	if (s->job.result < 0) {
		scsi_read_failed(c->lun, &c->scsi, s->off, s->job.result);
		c->data_len = c->submitted;
		return -1;
	}
	/* Padding shares the last transfer: segments are whole transfers,
	 * so it fits in the segment's buffer. */
	if (dlen < len)
		memset(s->buf + o + dlen, 0, len - dlen);
	*buf = s->buf + o;
	*seg = s;
	return 0;
}

/* A job has run: account for it and move its command on. */
static void bot_job_finish(struct bot *b, struct mio_job *j)
{
	struct bot_cmd *c = &b->cmd;
	struct bot_seg *s = (struct bot_seg *)j;

	b->jobs--;
	if (j == &b->cmd_job) {
		if (b->state == BOT_JOB) {
			scsi_job_done(c->lun, &c->scsi);
			bot_finish_data(b);
		}
	} else if (s->cmd_seq != b->cmd_seq ||
		   (b->state != BOT_DATA_IN && b->state != BOT_DATA_OUT)) {
		s->state = SEG_FREE;          /* a reset overtook it */
	} else if (s->job.run == bot_seg_read_run) {
		s->state = SEG_READY;
		bot_pump_in(b);
	} else {
		if (scsi_data_out_done(c->lun, &c->scsi, s->off,
				       s->job.result) == 0)
			c->moved += s->len;
		s->state = SEG_FREE;
		bot_pump_out(b);
	}
	if (b->state == BOT_DRAIN)
		bot_drained(b);
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

/* The command leaves media work (scsi.h: c->job) for a worker: start it
 * once, with the data phase done; its end finishes the command. */
static bool bot_start_job(struct bot *b)
{
	struct bot_cmd *c = &b->cmd;

	if (c->scsi.job == SCSI_JOB_NONE || c->job_started || c->phase_error ||
	    c->scsi.status != SCSI_STATUS_GOOD)
		return false;
	c->job_started = true;
	bot_set_state(b, BOT_JOB);
	b->cmd_job.run = bot_cmd_job_run;
	b->cmd_job.done = bot_cmd_job_done;
	b->cmd_job.result = 0;
	bot_job_submit(b, &b->cmd_job);
	return true;
}

/* All data moved (or none to move): decide the status. */
static void bot_finish_data(struct bot *b)
{
	struct bot_cmd *c = &b->cmd;
	uint8_t st;

	if (bot_start_job(b))
		return;
	st = scsi_cmd_complete(c->lun, &c->scsi, c->moved);

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
 * then lets go of what that data pointed into: media mappings (pins) and
 * async READ segments, whose buffers can then take the next segment.
 * Called at the end of every event, so the data still goes out in one
 * io_submit with whatever follows it on AIO, and no pin outlives the
 * event (serial IN data is never mapped: bot_in_chunk; a serial async
 * READ has a single transfer, so its segment is not refilled before it
 * completes).  The pins belong to the current command's LUN: it only
 * changes when a CBW arrives, and bot_pump_in() runs once per event,
 * after that.  Returns true when a segment was freed. */
static bool bot_release_maps(struct bot *b)
{
	bool sent = false;

	for (unsigned i = 0; i < BOT_SEGS; i++)
		sent |= b->seg[i].state == SEG_SENT;
	if (!b->in_pins && !sent)
		return false;
	if (b->xp->flush)
		b->xp->flush(b->xp_ctx);
	for (; b->in_pins > 0; b->in_pins--)
		lun_map_release(b->cmd.lun, b->in_pin);
	b->in_pin = NULL;
	for (unsigned i = 0; i < BOT_SEGS; i++)
		if (b->seg[i].state == SEG_SENT)
			b->seg[i].state = SEG_FREE;
	return sent;
}

/* The end of every event: jobs that ran inline are finished, pending
 * halts made, queued IN data released; freed segments are refilled.
 * Bounded: each round either finishes an inline job or frees segments of
 * the one command, and both run out. */
static void bot_settle(struct bot *b)
{
	for (unsigned round = 0; round < 64; round++) {
		if (b->ninline) {
			struct mio_job *j = b->inline_done[0];

			b->ninline--;
			memmove(b->inline_done, b->inline_done + 1,
				b->ninline * sizeof b->inline_done[0]);
			bot_job_finish(b, j);
			continue;
		}
		if (b->state == BOT_WEDGED)
			bot_do_halts(b);
		if (!bot_release_maps(b))
			return;
		if (b->state == BOT_DATA_IN && b->cmd.async)
			bot_pump_in(b);
	}
}

/* The next IN data chunk at c->submitted, dlen relevant bytes of a len-byte
 * transfer: in place from the media's mapping when it fills the transfer
 * (pinned until bot_release_maps), else copied (and zero-padded) into the
 * pool.  Returns the buffer, or NULL after a media error. */
static void *bot_in_chunk(struct bot *b, uint32_t dlen, uint32_t len)
{
	struct bot_cmd *c = &b->cmd;
	struct lun_media *pin = NULL;
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

	if (c->async)
		bot_fetch(b);
	while (b->state == BOT_DATA_IN && c->submitted < c->total_len &&
	       b->inflight[XPORT_EP_IN] < b->depth) {
		uint64_t left = c->total_len - c->submitted;
		uint32_t len = left < b->xfer_size ? (uint32_t)left : b->xfer_size;
		struct bot_seg *seg = NULL;
		void *buf = b->zero;
		enum bot_tag kind = TAG_PAD;
		uint32_t dlen = 0;

		if (c->submitted < c->data_len) {
			dlen = len;
			if (dlen > c->data_len - c->submitted)
				dlen = (uint32_t)(c->data_len - c->submitted);
			if (c->async) {
				int r = bot_in_seg(b, dlen, len, &buf, &seg);
				if (r > 0)
					break;       /* not here yet */
				if (r < 0)
					continue;    /* failed: pad the rest */
			} else if (!(buf = bot_in_chunk(b, dlen, len))) {
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
		if (seg && c->submitted >= seg->off + seg->len)
			seg->state = SEG_SENT;
	}
	if (b->state == BOT_DATA_IN && c->submitted == c->total_len &&
	    !bot_segs_busy(b))
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
		if (c->async) {
			/* A chunk buffer with no write in flight. */
			if (!(b->out_seg = bot_seg_free(b)))
				break;
			b->out_seg->state = SEG_FILL;
			buf = b->out_seg->buf;
		} else if (c->submitted + want <= c->data_len &&
			   scsi_data_map_out(c->lun, &c->scsi, c->submitted,
					     (uint32_t)want, &buf,
					     &b->out_pin)) {
			/* All media data: FunctionFS stores it in place. */
			b->stats.inplace_writes++;
		}
		b->out_off = c->submitted;
		b->out_len = (uint32_t)want;
		if (!bot_submit(b, XPORT_EP_OUT, buf, (uint32_t)want,
				BOT_TAG(TAG_OUT, 0), XPORT_SERIAL)) {
			if (b->out_pin)
				lun_map_release(c->lun, b->out_pin);
			b->out_pin = NULL;
			if (b->out_seg)
				b->out_seg->state = SEG_FREE;
			b->out_seg = NULL;
			return;
		}
		c->submitted += want;
	}
	/* The CSW waits for every write the media has not finished. */
	if (b->state == BOT_DATA_OUT && b->inflight[XPORT_EP_OUT] == 0 &&
	    (c->short_out || c->completed == c->total_len) &&
	    !bot_segs_busy(b))
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
static void bot_out_mapped_done(struct bot *b, long res,
				struct lun_media *pin)
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

/* Host data of an async WRITE arrived in seg: to a worker with it. */
static void bot_out_to_worker(struct bot *b, struct bot_seg *seg,
			      uint64_t off, uint64_t valid)
{
	if (!valid || b->cmd.scsi.status != SCSI_STATUS_GOOD) {
		seg->state = SEG_FREE;    /* failed before: read and dropped */
		return;
	}
	bot_seg_start(b, seg, off, (uint32_t)valid, bot_seg_write_run);
}

static void bot_out_done(struct bot *b, long res, struct lun_media *pin,
			 struct bot_seg *seg)
{
	struct bot_cmd *c = &b->cmd;
	uint64_t off = b->out_off;
	uint64_t valid = 0;

	if (pin) {
		bot_out_mapped_done(b, res, pin);
		return;
	}
	if (res < 0) {
		if (seg)
			seg->state = SEG_FREE;
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
	if (seg)
		bot_out_to_worker(b, seg, off, valid);
	else if (valid && scsi_data_out(c->lun, &c->scsi, off, b->pool,
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

/* Hosts of the SCSI-2 era, UEFI's USB mass-storage driver among them,
 * also put the LUN in bits 7-5 of CDB byte 1 (SCSI-2's LOGICAL UNIT
 * NUMBER), where SBC now has RDPROTECT/WRPROTECT/VRPROTECT: READ(10) on
 * LUN 1 would fail with 05/24/00.  BOT addresses the LUN in the CBW; bits
 * that repeat it are that old field, not a request, and are cleared
 * before the command set sees the CDB (f_mass_storage clears them always).
 * On LUN 0 they are never touched. */
static void bot_clear_cdb_lun(struct bot_cmd *c)
{
	if (c->lun->id != 0 && c->scsi.cdb_len > 1 &&
	    (c->scsi.cdb[1] >> 5) == c->lun->id)
		c->scsi.cdb[1] &= 0x1f;
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
	bot_clear_cdb_lun(c);
	c->submitted = c->completed = c->moved = 0;
	c->short_out = false;
	c->fetch_next = 0;
	c->job_started = false;
	/* Jobs of the previous command have all ended (its status waited
	 * for them, a reset drains them): every buffer is free. */
	b->cmd_seq++;
	for (unsigned i = 0; i < BOT_SEGS; i++)
		b->seg[i].state = SEG_FREE;
	scsi_cmd_prepare(b->target, c->lun, &c->scsi);
	c->async = scsi_data_async(&c->scsi);
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

	if (b->inflight[XPORT_EP_IN] || b->inflight[XPORT_EP_OUT] || b->jobs)
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
	/* Media jobs still out write into the segment buffers: the next
	 * command waits for them too. */
	if (b->inflight[XPORT_EP_IN] || b->inflight[XPORT_EP_OUT] || b->jobs) {
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
	struct lun_media *pin = NULL;
	struct bot_seg *seg = NULL;

	if (b->inflight[ep] == 0) {
		log_warnx("bot: completion for nothing queued (tag %llx)",
			  (unsigned long long)tag);
		return;
	}
	b->inflight[ep]--;
	if (kind == TAG_OUT) {
		pin = b->out_pin;
		b->out_pin = NULL;
		seg = b->out_seg;
		b->out_seg = NULL;
	}
	if (b->state == BOT_DRAIN || b->state == BOT_OFFLINE ||
	    b->state == BOT_BROKEN) {
		if (pin)
			lun_map_release(b->cmd.lun, pin);
		if (seg)
			seg->state = SEG_FREE;
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
		bot_out_done(b, res, pin, seg);
		break;
	case TAG_DISCARD:
		bot_discard_done(b, arg, res);
		break;
	case TAG_WEDGE:
		if (res >= 0)
			bot_wedge(b);
		break;
	}
	bot_settle(b);
}
