/* fakehost.c — the in-process USB host of the unit tests and the BOT
 * fuzzer.  See fakehost.h for the model of the wire. */
#include "fakehost.h"
#include "bytes.h"
#include "sense.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bound on completions pumped while waiting for the device. */
#define FH_PUMP_LIMIT 100000

static void *fh_xalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p) {
		fprintf(stderr, "fakehost: out of memory\n");
		abort();
	}
	return p;
}

__attribute__((format(printf, 2, 3)))
static void fh_violation(struct fakehost *fh, const char *fmt, ...)
{
	va_list ap;

	if (fh->violations++ == 0) {
		va_start(ap, fmt);
		vsnprintf(fh->why, sizeof fh->why, fmt, ap);
		va_end(ap);
	}
}

/* Moves x (the head of its queue) to the done list with result res. */
static void fh_finish_head(struct fakehost *fh, struct fh_xfer *x, long res)
{
	fh->queue[x->ep] = x->next;
	x->next = NULL;
	x->res = res;
	if (fh->ndone == fh->done_cap) {
		size_t cap = fh->done_cap ? fh->done_cap * 2 : 16;
		struct fh_xfer **d = realloc(fh->done, cap * sizeof *d);

		if (!d)
			abort();
		fh->done = d;
		fh->done_cap = cap;
	}
	fh->done[fh->ndone++] = x;
}

/* --- xport_ops ---------------------------------------------------------- */

static int fh_submit(void *ctx, enum xport_ep ep, void *buf, uint32_t len,
		     uint64_t tag, unsigned flags)
{
	struct fakehost *fh = ctx;
	struct fh_xfer *x, **pp;

	if (ep != XPORT_EP_IN && ep != XPORT_EP_OUT) {
		fh_violation(fh, "submit on endpoint %d", (int)ep);
		return -EINVAL;
	}
	/* A serial transport moves serial transfers after everything else:
	 * one queued behind a serial transfer would overtake it. */
	if (!(flags & XPORT_SERIAL))
		for (x = fh->queue[ep]; x; x = x->next)
			if (x->serial) {
				fh_violation(fh, "non-serial transfer behind "
					     "a serial one (ep %d)", (int)ep);
				break;
			}
	if (fh->offline)
		fh_violation(fh, "submit after DISABLE (ep %d)", (int)ep);
	if (!fh->enabled)
		return -ESHUTDOWN;
	x = fh_xalloc(sizeof *x);
	x->ep = ep;
	x->tag = tag;
	x->len = len;
	x->serial = flags & XPORT_SERIAL;
	x->seq = ++fh->next_seq;
	if (ep == XPORT_EP_IN) {
		x->copy = fh_xalloc(len);
		memcpy(x->copy, buf, len);
	} else {
		x->buf = buf;
	}
	for (pp = &fh->queue[ep]; *pp; pp = &(*pp)->next)
		;
	*pp = x;
	return 0;
}

static int fh_halt(void *ctx, enum xport_ep ep)
{
	struct fakehost *fh = ctx;

	if (fh_inflight(fh, ep))
		fh_violation(fh, "halt ep %d with %u transfers in flight",
			     (int)ep, fh_inflight(fh, ep));
	if (!fh->enabled)
		return -ESHUTDOWN;
	fh->halted[ep] = true;
	fh->halts[ep]++;
	return 0;
}

static void fh_cancel(void *ctx, enum xport_ep ep)
{
	struct fakehost *fh = ctx;

	while (fh->queue[ep])
		fh_finish_head(fh, fh->queue[ep], -ECONNRESET);
}

const struct xport_ops fh_xport_ops = {
	.submit = fh_submit,
	.halt = fh_halt,
	.cancel = fh_cancel,
};

void fh_init(struct fakehost *fh, struct bot *bot, unsigned maxpacket)
{
	memset(fh, 0, sizeof *fh);
	fh->bot = bot;
	fh->maxpacket = maxpacket ? maxpacket : 512;
	fh->rng = 0x9e3779b97f4a7c15ull;
	fh->next_tag = 0x1000;
	fh->offline = true;
}

static void fh_free_xfer(struct fh_xfer *x)
{
	free(x->copy);
	free(x);
}

void fh_fini(struct fakehost *fh)
{
	for (int ep = 0; ep < 2; ep++)
		while (fh->queue[ep]) {
			struct fh_xfer *x = fh->queue[ep];

			fh->queue[ep] = x->next;
			fh_free_xfer(x);
		}
	for (size_t i = 0; i < fh->ndone; i++)
		fh_free_xfer(fh->done[i]);
	free(fh->done);
	free(fh->in);
	fh->done = NULL;
	fh->in = NULL;
	fh->ndone = fh->done_cap = fh->in_cap = 0;
}

/* --- observations ------------------------------------------------------- */

unsigned fh_queued(const struct fakehost *fh, enum xport_ep ep)
{
	unsigned n = 0;

	for (const struct fh_xfer *x = fh->queue[ep]; x; x = x->next)
		n++;
	return n;
}

unsigned fh_inflight(const struct fakehost *fh, enum xport_ep ep)
{
	unsigned n = fh_queued(fh, ep);

	for (size_t i = 0; i < fh->ndone; i++)
		n += fh->done[i]->ep == ep;
	return n;
}

long fh_nth_len(const struct fakehost *fh, enum xport_ep ep, unsigned i)
{
	const struct fh_xfer *x = fh->queue[ep];

	while (x && i--)
		x = x->next;
	return x ? (long)x->len : -1;
}

long fh_head_len(const struct fakehost *fh, enum xport_ep ep)
{
	return fh_nth_len(fh, ep, 0);
}

/* --- completions -------------------------------------------------------- */

static uint64_t fh_rand(struct fakehost *fh)
{
	fh->rng ^= fh->rng << 13;
	fh->rng ^= fh->rng >> 7;
	fh->rng ^= fh->rng << 17;
	return fh->rng;
}

bool fh_deliver_pick(struct fakehost *fh, unsigned pick)
{
	struct fh_xfer *x;
	uint64_t tag;
	long res;
	size_t i;

	if (fh->ndone == 0) {
		if (!fh->mio || !mio_run_one(fh->mio))
			return false;
		mio_reap(fh->mio);
		return true;
	}
	i = pick % fh->ndone;
	x = fh->done[i];
	memmove(fh->done + i, fh->done + i + 1,
		(fh->ndone - i - 1) * sizeof *fh->done);
	fh->ndone--;
	tag = x->tag;
	res = x->res;
	fh_free_xfer(x);
	bot_complete(fh->bot, tag, res);
	return true;
}

bool fh_deliver(struct fakehost *fh)
{
	unsigned pick = fh->shuffle ? (unsigned)(fh_rand(fh) >> 33) : 0;

	return fh_deliver_pick(fh, pick);
}

void fh_deliver_all(struct fakehost *fh)
{
	for (int i = 0; i < FH_PUMP_LIMIT && fh_deliver(fh); i++)
		;
}

/* --- host actions ------------------------------------------------------- */

/* A serial transfer moves only once every serial transfer submitted
 * before it has finished, on either endpoint (transport.h): the CBW read
 * queued behind a CSW is not there for the host until the CSW is read. */
static bool fh_serial_blocked(const struct fakehost *fh,
			      const struct fh_xfer *x)
{
	if (!x->serial)
		return false;
	for (int ep = XPORT_EP_IN; ep <= XPORT_EP_OUT; ep++)
		for (const struct fh_xfer *y = fh->queue[ep]; y; y = y->next)
			if (y->serial && y->seq < x->seq)
				return true;
	return false;
}

enum fh_xres fh_host_out(struct fakehost *fh, const void *data, uint32_t n,
			 uint32_t *sent)
{
	const uint8_t *d = data;
	enum fh_xres ret = FH_OK;
	uint32_t off = 0;

	do {
		uint32_t p = n - off < fh->maxpacket ? n - off : fh->maxpacket;
		struct fh_xfer *x = fh->queue[XPORT_EP_OUT];

		if (fh->halted[XPORT_EP_OUT] || !fh->enabled) {
			*sent = off;
			return fh->enabled ? FH_STALL : FH_NAK;
		}
		if (!x || fh_serial_blocked(fh, x)) {
			*sent = off;
			return FH_NAK;
		}
		off += p;
		if (p > x->len - x->pos) {        /* babble on the device */
			fh_finish_head(fh, x, -EOVERFLOW);
			ret = FH_BABBLE;
			continue;
		}
		if (d)
			memcpy(x->buf + x->pos, d + off - p, p);
		else
			memset(x->buf + x->pos, 0, p);
		x->pos += p;
		if (x->pos == x->len || p < fh->maxpacket)
			fh_finish_head(fh, x, x->pos);
	} while (off < n);
	*sent = off;
	return ret;
}

enum fh_xres fh_host_in(struct fakehost *fh, void *buf, uint32_t want,
			uint32_t *got)
{
	uint8_t *b = buf;

	while (*got < want) {
		struct fh_xfer *x = fh->queue[XPORT_EP_IN];
		uint32_t p;

		if (!fh->enabled)
			return FH_NAK;
		if (fh->halted[XPORT_EP_IN])
			return FH_STALL;
		if (!x || fh_serial_blocked(fh, x))
			return FH_NAK;
		p = x->len - x->pos < fh->maxpacket ? x->len - x->pos
						    : fh->maxpacket;
		x->pos += p;
		if (p > want - *got) {            /* babble on the host */
			if (x->pos == x->len)
				fh_finish_head(fh, x, x->len);
			return FH_BABBLE;
		}
		if (b)
			memcpy(b + *got, x->copy + x->pos - p, p);
		*got += p;
		if (x->pos == x->len)
			fh_finish_head(fh, x, x->len);
		if (p < fh->maxpacket)
			return FH_OK;             /* short packet */
	}
	return FH_OK;
}

void fh_clear_halt(struct fakehost *fh, enum xport_ep ep)
{
	fh->halted[ep] = false;
}

bool fh_fail_head(struct fakehost *fh, enum xport_ep ep, long err)
{
	if (!fh->queue[ep])
		return false;
	fh_finish_head(fh, fh->queue[ep], err);
	return true;
}

void fh_enable(struct fakehost *fh)
{
	fh->enabled = true;
	fh->offline = false;
	fh->halted[0] = fh->halted[1] = false;
	bot_enable(fh->bot);
}

void fh_disconnect(struct fakehost *fh)
{
	for (int ep = 0; ep < 2; ep++)
		while (fh->queue[ep])
			fh_finish_head(fh, fh->queue[ep], -ESHUTDOWN);
	fh->enabled = false;
	fh->halted[0] = fh->halted[1] = false;
}

void fh_disable(struct fakehost *fh)
{
	fh_disconnect(fh);
	fh->offline = true;
	bot_disable(fh->bot);
}

/* The device acks the reset: it must be idle but for the next CBW read
 * (or offline), and the host then clears both halts. */
static void fh_reset_done(void *arg)
{
	struct fakehost *fh = arg;

	if (!fh->reset_pending)
		fh_violation(fh, "reset acked twice");
	if (fh_inflight(fh, XPORT_EP_IN) || fh_inflight(fh, XPORT_EP_OUT) > 1)
		fh_violation(fh, "reset acked with %u/%u transfers in flight",
			     fh_inflight(fh, XPORT_EP_IN),
			     fh_inflight(fh, XPORT_EP_OUT));
	fh->reset_pending = false;
	fh->resets_done++;
	fh->halted[0] = fh->halted[1] = false;
}

void fh_reset(struct fakehost *fh)
{
	/* A new class request replaces one the device has not acked. */
	fh->reset_pending = true;
	bot_reset(fh->bot, fh_reset_done, fh);
}

/* --- whole commands ----------------------------------------------------- */

void fh_make_cbw(uint8_t cbw[31], uint32_t tag, uint32_t host_len, bool in,
		 unsigned lun, const uint8_t *cdb, unsigned cdb_len)
{
	memset(cbw, 0, 31);
	put_le32(cbw, BOT_CBW_SIGNATURE);
	put_le32(cbw + 4, tag);
	put_le32(cbw + 8, host_len);
	cbw[12] = in ? 0x80 : 0;
	cbw[13] = (uint8_t)lun;
	cbw[14] = (uint8_t)cdb_len;
	memcpy(cbw + 15, cdb, cdb_len < 16 ? cdb_len : 16);
}

/* Sends all n bytes, pumping completions while the device has no read
 * queued.  Returns FH_OK, FH_STALL, FH_BABBLE or FH_NAK (stuck). */
static enum fh_xres fh_send_all(struct fakehost *fh, const uint8_t *d,
				uint32_t n, uint32_t *sent)
{
	*sent = 0;
	for (int i = 0; i < FH_PUMP_LIMIT; i++) {
		uint32_t s;
		enum fh_xres x = fh_host_out(fh, d ? d + *sent : NULL,
					     n - *sent, &s);

		*sent += s;
		if (x != FH_NAK)
			return x;
		if (!fh_deliver(fh))
			return FH_NAK;
	}
	return FH_NAK;
}

/* Reads up to want bytes, pumping completions while nothing is queued. */
static enum fh_xres fh_recv_all(struct fakehost *fh, uint8_t *buf,
				uint32_t want, uint32_t *got)
{
	*got = 0;
	for (int i = 0; i < FH_PUMP_LIMIT; i++) {
		enum fh_xres x = fh_host_in(fh, buf, want, got);

		if (x != FH_NAK)
			return x;
		if (!fh_deliver(fh))
			return FH_NAK;
	}
	return FH_NAK;
}

static void fh_data_in(struct fakehost *fh, uint32_t len, struct fh_result *r)
{
	enum fh_xres x;

	if (fh->in_cap < len) {
		free(fh->in);
		fh->in = fh_xalloc(len);
		fh->in_cap = len;
	}
	/* 0xee marks bytes the device never sent. */
	memset(fh->in, 0xee, len);
	x = fh_recv_all(fh, fh->in, len, &r->data_len);
	r->data = fh->in;
	if (x == FH_STALL)
		fh_clear_halt(fh, XPORT_EP_IN);
	if (x == FH_BABBLE)
		r->babble = true;
}

static void fh_data_out(struct fakehost *fh, const uint8_t *d, uint32_t len,
			struct fh_result *r)
{
	uint32_t n = fh->out_stop && fh->out_stop < len ? fh->out_stop : len;
	enum fh_xres x = fh_send_all(fh, d, n, &r->data_len);

	/* A host that stops early ends its transfer: with a short packet,
	 * or a zero-length one after a whole number of packets. */
	if (x == FH_OK && n < len && n % fh->maxpacket == 0) {
		uint32_t zlp;

		x = fh_send_all(fh, NULL, 0, &zlp);
	}

	if (x == FH_STALL)
		fh_clear_halt(fh, XPORT_EP_OUT);
	if (x == FH_BABBLE)
		r->babble = true;
}

/* Status phase: a stall is cleared and the CSW read retried once (BOT
 * 5.3.3, figure 2). */
void fh_read_csw(struct fakehost *fh, uint32_t tag, struct fh_result *r)
{
	uint8_t csw[BOT_CSW_LEN];
	uint32_t got = 0;
	enum fh_xres x = fh_recv_all(fh, csw, sizeof csw, &got);

	if (x == FH_STALL) {
		fh_clear_halt(fh, XPORT_EP_IN);
		x = fh_recv_all(fh, csw, sizeof csw, &got);
	}
	if (x == FH_BABBLE)
		r->babble = true;
	if (x != FH_OK || got != BOT_CSW_LEN ||
	    get_le32(csw) != BOT_CSW_SIGNATURE)
		return;
	r->csw_ok = true;
	r->tag_ok = get_le32(csw + 4) == tag;
	r->residue = get_le32(csw + 8);
	r->status = csw[12];
}

struct fh_result fh_command(struct fakehost *fh, unsigned lun,
			    const uint8_t *cdb, unsigned cdb_len,
			    enum fh_dir dir, uint32_t host_len,
			    const void *out_data)
{
	struct fh_result r;
	unsigned h_in = fh->halts[XPORT_EP_IN], h_out = fh->halts[XPORT_EP_OUT];
	uint32_t tag = fh->next_tag++, sent;
	uint8_t cbw[BOT_CBW_LEN];

	memset(&r, 0, sizeof r);
	r.data = fh->in;
	fh_make_cbw(cbw, tag, host_len, dir == FH_IN, lun, cdb, cdb_len);
	if (fh_send_all(fh, cbw, sizeof cbw, &sent) == FH_OK) {
		if (dir == FH_IN)
			fh_data_in(fh, host_len, &r);
		else if (dir == FH_OUT)
			fh_data_out(fh, out_data, host_len, &r);
		fh_read_csw(fh, tag, &r);
	}
	fh_deliver_all(fh);
	r.halted_in = fh->halts[XPORT_EP_IN] != h_in;
	r.halted_out = fh->halts[XPORT_EP_OUT] != h_out;
	r.cbw_queued = fh->queue[XPORT_EP_OUT] && !fh->halted[XPORT_EP_OUT] &&
		       fh->queue[XPORT_EP_OUT]->pos == 0;
	return r;
}

uint32_t fh_request_sense(struct fakehost *fh, unsigned lun, uint32_t *info)
{
	static const uint8_t cdb[6] = { 0x03, 0, 0, 0, SENSE_FIXED_LEN, 0 };
	struct fh_result r = fh_command(fh, lun, cdb, sizeof cdb, FH_IN,
					SENSE_FIXED_LEN, NULL);
	const uint8_t *d = r.data;

	if (!r.csw_ok || r.status != BOT_CSW_GOOD ||
	    r.data_len != SENSE_FIXED_LEN)
		return 0xffffffffu;
	if (info)
		*info = (d[0] & 0x80) ? get_be32(d + 3) : ~0u;
	return SENSE(d[2] & 0x0f, d[12], d[13]);
}

/* --- a whole device ----------------------------------------------------- */

int fh_dev_init(struct fh_dev *d, const struct fh_lun_cfg *luns,
		unsigned nluns, uint32_t xfer_size, unsigned depth,
		unsigned maxpacket)
{
	memset(d, 0, sizeof *d);
	if (nluns == 0 || nluns > FH_MAX_LUNS)
		return -1;
	for (unsigned i = 0; i < nluns; i++) {
		struct config_lun *c = &d->cfg[i];

		c->type = luns[i].cdrom ? CONFIG_LUN_CDROM : CONFIG_LUN_DISK;
		c->media = (char *)luns[i].media;
		c->readonly = luns[i].readonly;
		c->removable = !luns[i].fixed;
		c->block_size = luns[i].block_size ? luns[i].block_size : 512;
		d->layers[i][0] = luns[i].layer;
		c->layers = luns[i].layer ? (char **)d->layers[i] : NULL;
		snprintf(c->vendor, sizeof c->vendor, "netstick");
		snprintf(c->product, sizeof c->product, "Virtual Disk");
		snprintf(c->revision, sizeof c->revision, "0.1");
		if (lun_init(&d->luns[i], i, c, "fakehost") < 0)
			return -1;
		d->target.nluns = i + 1;
	}
	d->target.luns = d->luns;
	if (bot_init(&d->bot, &d->target, &fh_xport_ops, &d->fh, xfer_size,
		     depth) < 0 || mio_init(&d->mio, 0) < 0)
		return -1;
	bot_set_mio(&d->bot, &d->mio);
	fh_init(&d->fh, &d->bot, maxpacket);
	d->fh.mio = &d->mio;
	fh_enable(&d->fh);
	return 0;
}

void fh_dev_fini(struct fh_dev *d)
{
	if (d->bot.pool) {
		fh_disable(&d->fh);
		fh_deliver_all(&d->fh);
		mio_fini(&d->mio);
		bot_fini(&d->bot);
	}
	fh_fini(&d->fh);
	for (unsigned i = 0; i < d->target.nluns; i++)
		lun_fini(&d->luns[i]);
	d->target.nluns = 0;
}

int fh_media_get(struct fh_dev *d, unsigned lun, uint64_t off, void *buf,
		 uint32_t len)
{
	struct lun_snapshot s;

	lun_snapshot(&d->luns[lun], &s);
	return lun_read(&d->luns[lun], s.media_gen, buf, len, off);
}

int fh_media_put(struct fh_dev *d, unsigned lun, uint64_t off,
		 const void *buf, uint32_t len)
{
	struct lun_snapshot s;

	lun_snapshot(&d->luns[lun], &s);
	return lun_write(&d->luns[lun], s.media_gen, buf, len, off, false);
}

void fh_dev_clear_ua(struct fh_dev *d)
{
	for (unsigned i = 0; i < d->target.nluns; i++)
		while (lun_take_ua(&d->luns[i]) != SENSE_NONE)
			;
}

void fh_rw10(uint8_t cdb[10], uint8_t op, uint32_t lba, uint16_t n)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	put_be32(cdb + 2, lba);
	put_be16(cdb + 7, n);
}

bool fh_all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}
