/* fuzz-bot.c — libFuzzer target for the Bulk-Only Transport and the SCSI
 * layer behind it.
 *
 * The input is a program for the fake USB host (tests/unit/fakehost.c):
 * CBWs with arbitrary bytes, OUT data and short packets, IN reads, halts
 * cleared without a reset, Bulk-Only resets, disable/enable, bus errors,
 * media ejected and inserted by the admin side, and completions reported
 * in any order.  It drives the real bot.c/scsi*.c on five LUNs (memory:1M,
 * a read-only one, an empty one, one behind a layer, and a CD drive: the
 * MMC command set).
 *
 * After every step the device must keep the transport contract (checked
 * by the fake), count exactly the transfers the fake holds, and never
 * hand a pool buffer the transport still owns to a second transfer.  At
 * the end a disable must drain to OFFLINE with nothing left; leaks are
 * LeakSanitizer's.
 *
 * Input layout: byte 0 configures (transfer size, depth, max packet,
 * shuffle); then steps, each an opcode byte and its arguments.  Seeds are
 * in tests/fuzz/corpus/fuzz-bot/.
 */
#include "fakehost.h"    /* tests/unit/, linked in by `make fuzz` */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t in_u8(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint16_t in_u16(struct input *in)
{
	uint16_t hi = in_u8(in);

	return (uint16_t)(hi << 8 | in_u8(in));
}

static void fuzz_fail(const char *what, const struct fakehost *fh)
{
	fprintf(stderr, "fuzz-bot: %s (%s)\n", what, fh->why);
	abort();
}

/* --- invariants --------------------------------------------------------- */

/* Counts the OUT data transfers the BOT has outstanding (queued, or done
 * and not reported yet): those into the pool, and those into the media. */
static void out_mark(const struct bot *b, const struct fakehost *fh,
		     const struct fh_xfer *t, unsigned *pool, unsigned *other)
{
	size_t span = (size_t)b->xfer_size * b->depth;

	if (t->ep != XPORT_EP_OUT || t->buf == b->cbw || t->buf == b->scratch)
		return;
	if (t->buf >= b->pool && t->buf < b->pool + span) {
		if (t->buf != b->pool || t->len > span)
			fuzz_fail("OUT transfer not at the pool's start", fh);
		(*pool)++;
	} else if (t->buf >= b->win &&
		   t->buf < b->win + (size_t)b->seg_size * BOT_SEGS) {
		/* Async WRITE data: at a segment's start, into its buffer,
		 * and that segment is the one being filled. */
		size_t at = (size_t)(t->buf - b->win);

		if (at % b->seg_size || t->len > b->seg_size ||
		    !b->out_seg || b->out_seg->buf != t->buf ||
		    b->out_seg->state != SEG_FILL)
			fuzz_fail("async OUT transfer not into its segment", fh);
		(*pool)++;
	} else {
		(*other)++;
	}
}

/* OUT data moves one transfer at a time, into the pool or in place, and
 * a media pin is held exactly while an in-place transfer is outstanding. */
static void check_pool(const struct bot *b, const struct fakehost *fh)
{
	unsigned pool = 0, other = 0;

	for (const struct fh_xfer *x = fh->queue[XPORT_EP_OUT]; x; x = x->next)
		out_mark(b, fh, x, &pool, &other);
	for (size_t i = 0; i < fh->ndone; i++)
		out_mark(b, fh, fh->done[i], &pool, &other);
	if (pool + other > 1)
		fuzz_fail("more than one OUT data transfer outstanding", fh);
	if ((other == 1) != (b->out_pin != NULL))
		fuzz_fail("media pin without its in-place transfer", fh);
}

/* Media jobs: every busy segment is a job not reaped yet; none is out
 * while the device is offline or waiting for a CBW (the next command
 * would reuse their buffers). */
static void check_jobs(const struct bot *b, const struct fakehost *fh)
{
	unsigned busy = 0;

	for (unsigned i = 0; i < BOT_SEGS; i++)
		busy += b->seg[i].state == SEG_BUSY;
	if (busy > b->jobs)
		fuzz_fail("busy segment without its job", fh);
	if ((b->state == BOT_OFFLINE || b->state == BOT_CBW) && b->jobs)
		fuzz_fail("media jobs out between commands", fh);
	if (b->state == BOT_JOB && !b->cmd.job_started)
		fuzz_fail("waiting for a job never started", fh);
}

static void check(const struct fh_dev *d)
{
	const struct bot *b = &d->bot;
	const struct bot_cmd *c = &b->cmd;

	if (d->fh.violations)
		fuzz_fail("transport contract broken", &d->fh);
	for (int ep = 0; ep < 2; ep++)
		if (b->inflight[ep] != fh_inflight(&d->fh, (enum xport_ep)ep))
			fuzz_fail("inflight count differs", &d->fh);
	if ((unsigned)b->state > BOT_DRAIN)
		fuzz_fail("bad state", &d->fh);
	if (b->state == BOT_OFFLINE &&
	    (b->inflight[XPORT_EP_IN] || b->inflight[XPORT_EP_OUT]))
		fuzz_fail("transfers queued while offline", &d->fh);
	if (b->state == BOT_DATA_IN || b->state == BOT_DATA_OUT ||
	    b->state == BOT_STATUS) {
		if (c->moved > c->data_len || c->data_len > c->total_len ||
		    c->total_len > c->host_len || c->submitted > c->total_len)
			fuzz_fail("data counters out of range", &d->fh);
	}
	/* Waiting for a CBW means exactly one read queued for it, and
	 * nothing else on bulk-out: a data read there would swallow it. */
	if (b->state == BOT_CBW && d->fh.enabled &&
	    (b->inflight[XPORT_EP_OUT] != 1 ||
	     (d->fh.queue[XPORT_EP_OUT] &&
	      d->fh.queue[XPORT_EP_OUT]->len != BOT_CBW_BUF)))
		fuzz_fail("CBW state without exactly one CBW read", &d->fh);
	if ((b->state == BOT_DATA_IN || b->state == BOT_STATUS) &&
	    b->inflight[XPORT_EP_OUT])
		fuzz_fail("bulk-out busy outside a CBW or data-out phase",
			  &d->fh);
	check_pool(b, &d->fh);
	check_jobs(b, &d->fh);
}

/* The device is idle with a CBW read queued and the host has nothing
 * pending: a command from a well-behaved host must then run to a CSW. */
static bool clean(const struct fh_dev *d)
{
	const struct fakehost *fh = &d->fh;

	return fh->enabled && !fh->offline && d->bot.state == BOT_CBW &&
	       !fh->halted[0] && !fh->halted[1] && fh->ndone == 0 &&
	       !fh->queue[XPORT_EP_IN] && fh->queue[XPORT_EP_OUT] &&
	       fh->queue[XPORT_EP_OUT]->pos == 0;
}

/* sent: OUT bytes the host meant to send (len unless it stopped early). */
static void check_command(const struct fh_dev *d, const struct fh_result *r,
			  uint32_t len, uint32_t sent)
{
	if (!r->csw_ok || !r->tag_ok || r->babble || !r->cbw_queued)
		fuzz_fail("well-formed command did not end in a CSW", &d->fh);
	if (r->status > BOT_CSW_PHASE_ERROR || r->residue > len)
		fuzz_fail("bad CSW status or residue", &d->fh);
	if (!r->halted_in && !r->halted_out && r->data_len != sent)
		fuzz_fail("data phase shorter than the host's length", &d->fh);
	if (sent < len && r->status != BOT_CSW_PHASE_ERROR)
		fuzz_fail("host ended OUT data early: no phase error", &d->fh);
	if (!clean(d))
		fuzz_fail("device not idle after a command", &d->fh);
}

/* --- host actions ------------------------------------------------------- */

#define FUZZ_NLUNS 5

static const uint8_t opcodes[] = {
	0x00, 0x03, 0x08, 0x0a, 0x12, 0x15, 0x1a, 0x1b, 0x1e, 0x23, 0x25,
	0x28, 0x2a, 0x2f, 0x35, 0x55, 0x5a, 0x88, 0x8a, 0x8f, 0x91, 0x9e,
	0xa0, 0xa8, 0xaa, 0xaf, 0x4a, 0xff,
	/* MMC (the cdrom LUN; the disks answer INVALID OPCODE) */
	0x43, 0x46, 0x51, 0x52, 0xac, 0xad, 0xbb, 0xbd, 0xbe,
};

static const uint32_t host_lens[] = {
	0, 1, 8, 12, 13, 18, 24, 31, 36, 64, 255, 511, 512, 513, 700, 1024,
	2048, 4096, 8192, 12288, 16384, 32768, 65536,
};

/* Fills a CDB: a known opcode, raw bytes, and (if asked) an LBA and block
 * count that fit the 1 MiB LUN.
 *
 *   shape  bits 3..0  block count (x16 with bit 6)
 *          bit 4      a CDB length byte follows (else 16)
 *          bit 5      in-range LBA/count: two LBA bytes follow the CDB
 */
static unsigned make_cdb(struct input *in, uint8_t cdb[16])
{
	uint8_t shape = in_u8(in);
	unsigned len = shape & 0x10 ? 1 + in_u8(in) % 16 : 16;
	uint8_t n = (uint8_t)((shape & 0x0f) << (shape & 0x40 ? 4 : 0));

	for (int i = 0; i < 16; i++)
		cdb[i] = in_u8(in);
	cdb[0] = opcodes[cdb[0] % sizeof opcodes];
	if (!(shape & 0x20))
		return len;
	memset(cdb + 2, 0, 12);
	if (cdb[0] == 0x08 || cdb[0] == 0x0a) {
		cdb[2] = in_u8(in) & 0x07;      /* LBA < 2048 */
		cdb[3] = in_u8(in);
		cdb[4] = n;
	} else if (cdb[0] >= 0x88 && cdb[0] <= 0x9e) {
		cdb[8] = in_u8(in) & 0x07;
		cdb[9] = in_u8(in);
		cdb[13] = n;
	} else {
		cdb[4] = in_u8(in) & 0x07;
		cdb[5] = in_u8(in);
		cdb[cdb[0] >= 0xa0 ? 9 : 8] = n;
	}
	return len;
}

static uint32_t host_len(struct input *in)
{
	uint8_t b = in_u8(in);

	if (b & 0x80)
		return in_u16(in);
	return host_lens[b % (sizeof host_lens / sizeof host_lens[0])];
}

static void step_cbw(struct fh_dev *d, struct input *in)
{
	uint8_t cbw[BOT_CBW_LEN + 2] = { 0 }, cdb[16], flags = in_u8(in);
	uint32_t len = host_len(in), sent;
	unsigned cdb_len = make_cdb(in, cdb);

	fh_make_cbw(cbw, d->fh.next_tag++, len, flags & 1, (flags >> 1) & 3,
		    cdb, cdb_len);
	if (flags & 0x08)
		cbw[14] = in_u8(in);            /* any CB length */
	if (flags & 0x10)
		cbw[12] |= in_u8(in) & 0x7f;    /* reserved flag bits */
	fh_host_out(&d->fh, cbw, flags & 0x20 ? in_u8(in) % 33 : BOT_CBW_LEN,
		    &sent);
}

static void step_command(struct fh_dev *d, struct input *in)
{
	static uint8_t out[65536];
	uint8_t flags = in_u8(in), cdb[16];
	uint32_t len = host_len(in);
	unsigned cdb_len = make_cdb(in, cdb);
	enum fh_dir dir = len == 0 ? FH_NONE : flags & 1 ? FH_IN : FH_OUT;

	bool was_clean = clean(d);
	uint32_t sent = len;
	struct fh_result r;

	/* Bit 6: the host ends its OUT data early (a short packet). */
	if ((flags & 0x40) && dir == FH_OUT && len > 1)
		sent = 1 + in_u16(in) % (len - 1);
	memset(out, flags, len < sizeof out ? len : sizeof out);
	d->fh.out_stop = sent;
	r = fh_command(&d->fh, (flags >> 1) % FUZZ_NLUNS, cdb, cdb_len, dir,
		       len, out);
	d->fh.out_stop = 0;
	if (was_clean)
		check_command(d, &r, len, dir == FH_OUT ? sent : len);
}

static void step_out(struct fh_dev *d, struct input *in)
{
	static uint8_t buf[16384];
	uint16_t n = in_u16(in) % sizeof buf;
	uint32_t sent;

	memset(buf, (uint8_t)n, n);
	fh_host_out(&d->fh, buf, n, &sent);
}

static void step_in(struct fh_dev *d, struct input *in)
{
	static uint8_t buf[65536];
	uint32_t got = 0;

	fh_host_in(&d->fh, buf, in_u16(in), &got);
}

static void step_admin(struct fh_dev *d, struct input *in)
{
	uint8_t a = in_u8(in);
	struct lun *l = &d->luns[a % FUZZ_NLUNS];
	char err[256];

	switch ((a >> 2) % 4) {
	case 0: lun_eject(l, a & 0x40, a & 0x80); break;
	case 1: lun_insert(l, "memory:64K", a & 0x40, err, sizeof err); break;
	case 2: lun_set_prevent(l, a & 0x40); break;
	default: lun_load(l); break;
	}
}

static void step(struct fh_dev *d, struct input *in)
{
	uint8_t op = in_u8(in);

	switch (op % 16) {
	case 0: step_cbw(d, in); break;
	case 1: step_command(d, in); break;
	case 2: step_out(d, in); break;
	case 3: step_in(d, in); break;
	case 4: fh_deliver_pick(&d->fh, in_u8(in)); break;
	case 5: fh_deliver_all(&d->fh); break;
	case 6:
		/* Class requests reach the interface only while configured. */
		if (d->fh.enabled && !d->fh.offline)
			fh_reset(&d->fh);
		break;
	case 7: fh_disable(&d->fh); break;
	case 8: fh_enable(&d->fh); break;
	case 9: fh_clear_halt(&d->fh, (enum xport_ep)(in_u8(in) & 1)); break;
	case 10: step_admin(d, in); break;
	case 11:
		fh_fail_head(&d->fh, (enum xport_ep)(op >> 7),
			     -(long)(1 + in_u8(in) % 120));
		break;
	case 12: fh_disconnect(&d->fh); break;
	case 13: d->fh.shuffle = !d->fh.shuffle; break;
	case 14: { uint32_t s; fh_host_out(&d->fh, NULL, 0, &s); } break;
	default: step_command(d, in); break;
	}
}

static const struct fh_lun_cfg fuzz_luns[] = {
	{ .media = "memory:1M" },
	{ .media = "memory:64K", .readonly = true },
	{ .media = NULL },
	/* Not direct: its data goes through media jobs. */
	{ .media = "memory:1M", .layer = "inject:error-rate=0.05,seed=3" },
	{ .media = "memory:1M", .cdrom = true },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fh_dev d;
	struct input in = { data, size };
	uint8_t cfg = in_u8(&in);

	log_set_level(LOG_LVL_ERR);
	if (fh_dev_init(&d, fuzz_luns, FUZZ_NLUNS, 4096u << (cfg & 3),
			1 + ((cfg >> 2) & 7), cfg & 0x40 ? 1024 : 512) < 0)
		abort();
	d.fh.shuffle = cfg & 0x80;
	d.fh.rng ^= size;
	check(&d);
	for (int steps = 0; in.left && steps < 256; steps++) {
		step(&d, &in);
		check(&d);
	}
	fh_disable(&d.fh);
	fh_deliver_all(&d.fh);
	check(&d);
	if (d.bot.state != BOT_OFFLINE)
		fuzz_fail("disable did not drain to offline", &d.fh);
	if (d.fh.reset_pending)
		fuzz_fail("reset never acked", &d.fh);
	fh_dev_fini(&d);
	return 0;
}
