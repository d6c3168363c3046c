/* test-bot-flow.c — the Bulk-Only Transport over time: pipelining, data
 * larger than the queue with completions reported out of order, short
 * packets, reset and disable in the middle of a data phase, transfer
 * errors and media errors in the middle of a READ.
 */
#include "fakehost.h"
#include "bytes.h"
#include "log.h"
#include "sense.h"
#include "test.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static struct fh_dev d;

static const struct fh_lun_cfg std_luns[] = {
	{ .media = "memory:1M" },
	{ .media = "memory:1M", .readonly = true },
	{ .media = NULL },
};

static void up_with(const struct fh_lun_cfg *luns, uint32_t xfer,
		    unsigned depth, unsigned mp)
{
	if (fh_dev_init(&d, luns, luns == std_luns ? 3 : 1, xfer, depth,
			mp) < 0)
		abort();
	fh_dev_clear_ua(&d);
}

static void up(uint32_t xfer, unsigned depth)
{
	up_with(std_luns, xfer, depth, 512);
}

static void check_consistent(void)
{
	CHECK_EQ(d.fh.violations, 0);
	if (d.fh.violations)
		fprintf(stderr, "  fakehost: %s\n", d.fh.why);
	CHECK_EQ(d.bot.inflight[XPORT_EP_IN], fh_inflight(&d.fh, XPORT_EP_IN));
	CHECK_EQ(d.bot.inflight[XPORT_EP_OUT],
		 fh_inflight(&d.fh, XPORT_EP_OUT));
}

static void down(void)
{
	check_consistent();
	fh_dev_fini(&d);
	CHECK_EQ(d.bot.state, BOT_OFFLINE);
}

static const uint8_t cdb_tur[6] = { 0x00 };

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

static void check_in_step(void)
{
	struct fh_result r = fh_command(&d.fh, 0, cdb_tur, 6, FH_NONE, 0,
					NULL);

	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK(r.cbw_queued);
}

/* Host sends a CBW and the device is told about it. */
static void send_cbw(uint32_t tag, uint32_t len, bool in, const uint8_t *cdb,
		     unsigned cdb_len)
{
	uint8_t cbw[BOT_CBW_LEN];
	uint32_t sent;

	fh_make_cbw(cbw, tag, len, in, 0, cdb, cdb_len);
	CHECK_EQ(fh_host_out(&d.fh, cbw, sizeof cbw, &sent), FH_OK);
	fh_deliver_all(&d.fh);
}

/* Host sends n bytes, pumping completions while no read is queued. */
static void host_send(const uint8_t *data, uint32_t n)
{
	uint32_t off = 0, sent;

	for (int i = 0; i < 1000 && off < n; i++) {
		enum fh_xres x = fh_host_out(&d.fh, data + off, n - off, &sent);

		off += sent;
		if (x != FH_NAK || !fh_deliver(&d.fh))
			break;
	}
	CHECK_EQ(off, n);
}

/* Host reads exactly n bytes of IN data already queued. */
static void host_read(uint8_t *buf, uint32_t n)
{
	uint32_t got = 0;

	CHECK_EQ(fh_host_in(&d.fh, buf, n, &got), FH_OK);
	CHECK_EQ(got, n);
}

/* --- pipelining -------------------------------------------------------- */

/* After an INQUIRY CBW the data, the CSW and the next CBW read are all
 * queued before the host has moved a single byte. */
TEST(test_bot_pipelining_inquiry_queues_csw_and_next_cbw)
{
	static const uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	struct fh_result r;
	uint8_t buf[36];

	up(16384, 4);
	send_cbw(42, 36, true, inq, 6);
	CHECK_EQ(fh_queued(&d.fh, XPORT_EP_IN), 2);
	CHECK_EQ(fh_nth_len(&d.fh, XPORT_EP_IN, 0), 36);
	CHECK_EQ(fh_nth_len(&d.fh, XPORT_EP_IN, 1), BOT_CSW_LEN);
	CHECK_EQ(fh_queued(&d.fh, XPORT_EP_OUT), 1);
	CHECK_EQ(fh_head_len(&d.fh, XPORT_EP_OUT), BOT_CBW_BUF);
	host_read(buf, sizeof buf);
	memset(&r, 0, sizeof r);
	fh_read_csw(&d.fh, 42, &r);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	fh_deliver_all(&d.fh);
	check_in_step();
	down();
}

/* A READ that fits the queue: every data transfer, the CSW and the next
 * CBW read are queued at once. */
TEST(test_bot_pipelining_read_within_depth)
{
	uint8_t cdb[10];

	up(4096, 4);
	fh_rw10(cdb, 0x28, 0, 24);               /* 12 KiB: three transfers */
	send_cbw(43, 12288, true, cdb, 10);
	CHECK_EQ(fh_queued(&d.fh, XPORT_EP_IN), 4);
	CHECK_EQ(fh_nth_len(&d.fh, XPORT_EP_IN, 3), BOT_CSW_LEN);
	CHECK_EQ(fh_queued(&d.fh, XPORT_EP_OUT), 1);
	down();
}

/* --- chunking and out-of-order completions ----------------------------- */

/* WRITE then READ of 128 KiB with a pool of 3 x 4 KiB, completions
 * reported in random order: WRITE data comes in 12 KiB reads, one at a
 * time, READ data in 4 KiB transfers, three queued; the data arrives
 * intact, and every pool buffer is free again afterwards. */
static void write_read_shuffled(unsigned mp, uint64_t seed)
{
	static uint8_t data[131072];
	uint8_t cdb[10];
	struct fh_result r;

	up_with(std_luns, 4096, 3, mp);
	d.fh.shuffle = true;
	d.fh.rng = seed;
	fill(data, sizeof data, (unsigned)seed);
	fh_rw10(cdb, 0x2a, 100, 256);
	r = fh_command(&d.fh, 0, cdb, 10, FH_OUT, sizeof data, data);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(r.residue, 0);
	CHECK(d.bot.out_pin == NULL);
	CHECK_EQ(d.bot.stats.inplace_writes, 11);   /* memory: media */
	fh_rw10(cdb, 0x28, 100, 256);
	r = fh_command(&d.fh, 0, cdb, 10, FH_IN, sizeof data, NULL);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(r.data_len, sizeof data);
	CHECK(memcmp(r.data, data, sizeof data) == 0);
	down();
}

TEST(test_bot_multichunk_write_read_out_of_order)
{
	for (uint64_t seed = 1; seed <= 16; seed++)
		write_read_shuffled(512, seed * 0x9e3779b97f4a7c15ull);
}

TEST(test_bot_multichunk_write_read_out_of_order_superspeed)
{
	for (uint64_t seed = 1; seed <= 8; seed++)
		write_read_shuffled(1024, seed * 0x2545f4914f6cdd1dull);
}

/* The next CBW's completion can be reported before the previous CSW's:
 * a case 8 command then waits with its halt until bulk-in is idle. */
TEST(test_bot_cbw_reported_before_previous_csw)
{
	static const uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	uint8_t buf[36], cbw[BOT_CBW_LEN], cdb[10];
	struct fh_result r;
	uint32_t sent;

	up(16384, 4);
	send_cbw(1, 36, true, inq, 6);
	host_read(buf, sizeof buf);
	memset(&r, 0, sizeof r);
	fh_read_csw(&d.fh, 1, &r);      /* nothing reported while reading */
	CHECK(r.csw_ok);
	fh_rw10(cdb, 0x2a, 0, 1);          /* WRITE into a host read: case 8 */
	fh_make_cbw(cbw, 2, 512, true, 0, cdb, 10);
	CHECK_EQ(fh_host_out(&d.fh, cbw, sizeof cbw, &sent), FH_OK);
	/* Done: INQUIRY data, its CSW, the new CBW.  Report the CBW first. */
	CHECK_EQ(d.fh.ndone, 3);
	CHECK(fh_deliver_pick(&d.fh, 2));
	CHECK_EQ(d.fh.halts[XPORT_EP_IN], 0);   /* bulk-in still busy */
	check_consistent();
	fh_deliver_all(&d.fh);
	CHECK_EQ(d.fh.halts[XPORT_EP_IN], 1);
	memset(&r, 0, sizeof r);
	fh_read_csw(&d.fh, 2, &r);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_PHASE_ERROR);
	fh_deliver_all(&d.fh);
	check_in_step();
	down();
}

/* --- short OUT packets ------------------------------------------------- */

/* The host ends WRITE data with a short packet: phase error, no read
 * is left queued to swallow the next CBW, and that CBW lands in a CBW
 * read. */
TEST(test_bot_short_out_packet_ends_data_phase)
{
	static uint8_t data[5096];
	uint8_t cdb[10], blk[8192];
	struct fh_result r;
	uint32_t sent;

	up(4096, 2);
	fill(data, sizeof data, 21);
	fh_rw10(cdb, 0x2a, 0, 32);                 /* 16 KiB announced */
	send_cbw(7, 16384, false, cdb, 10);
	CHECK_EQ(fh_queued(&d.fh, XPORT_EP_OUT), 1);     /* one read ... */
	CHECK_EQ(fh_head_len(&d.fh, XPORT_EP_OUT), 8192); /* ... of the pool */
	CHECK_EQ(fh_host_out(&d.fh, data, sizeof data, &sent), FH_OK);
	CHECK_EQ(sent, sizeof data);
	memset(&r, 0, sizeof r);
	fh_read_csw(&d.fh, 7, &r);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_PHASE_ERROR);
	CHECK_EQ(r.residue, 16384 - sizeof data);
	fh_deliver_all(&d.fh);
	CHECK_EQ(fh_queued(&d.fh, XPORT_EP_OUT), 1);
	CHECK_EQ(fh_head_len(&d.fh, XPORT_EP_OUT), BOT_CBW_BUF);
	CHECK(d.bot.out_pin == NULL);
	CHECK_EQ(fh_media_get(&d, 0, 0, blk, 8192), 0);
	/* The whole blocks arrived; the torn one (stored in place as it
	 * came) is undefined, as after any failed write; nothing past what
	 * the host sent changed. */
	CHECK(memcmp(blk, data, 4608) == 0);
	CHECK(fh_all_bytes(blk + sizeof data, 8192 - sizeof data, 0));
	check_in_step();
	down();
}

/* A short packet in the part the device discards (case 11) ends the data
 * phase just the same. */
TEST(test_bot_short_out_packet_in_discarded_data)
{
	uint8_t cdb[10], data[1500];
	struct fh_result r;

	up(4096, 2);
	fill(data, sizeof data, 22);
	fh_rw10(cdb, 0x2a, 0, 1);
	r = fh_command(&d.fh, 0, cdb, 10, FH_OUT, sizeof data, data);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_GOOD);       /* 1500 is all it announced */
	CHECK_EQ(r.residue, sizeof data - 512);
	send_cbw(8, 8192, false, cdb, 10);      /* now announce 8 KiB */
	host_send(data, sizeof data);
	memset(&r, 0, sizeof r);
	fh_read_csw(&d.fh, 8, &r);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_PHASE_ERROR);
	fh_deliver_all(&d.fh);
	check_in_step();
	down();
}

/* --- disable and reset ------------------------------------------------- */

static void start_big_read(void)
{
	uint8_t cdb[10], buf[4096];

	fh_rw10(cdb, 0x28, 0, 128);                /* 64 KiB */
	send_cbw(9, 65536, true, cdb, 10);
	host_read(buf, sizeof buf);
	CHECK_EQ(d.bot.state, BOT_DATA_IN);
}

/* The first command after an enable sees the power-on unit attention;
 * then everything works, with the right data. */
static void check_works_after_enable(void)
{
	uint8_t cdb[10], pat[2048];
	struct fh_result r;

	r = fh_command(&d.fh, 0, cdb_tur, 6, FH_NONE, 0, NULL);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_POWER_ON_RESET);
	fill(pat, sizeof pat, 23);
	CHECK_EQ(fh_media_put(&d, 0, 8192, pat, 2048), 0);
	fh_rw10(cdb, 0x28, 16, 4);
	r = fh_command(&d.fh, 0, cdb, 10, FH_IN, 2048, NULL);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK(memcmp(r.data, pat, 2048) == 0);
}

TEST(test_bot_disable_mid_read_then_enable)
{
	up(4096, 2);
	start_big_read();
	fh_disable(&d.fh);
	CHECK_EQ(d.bot.state, BOT_DRAIN);
	fh_deliver_all(&d.fh);
	CHECK_EQ(d.bot.state, BOT_OFFLINE);
	CHECK_EQ(d.bot.inflight[XPORT_EP_IN] + d.bot.inflight[XPORT_EP_OUT], 0);
	fh_enable(&d.fh);
	CHECK_EQ(d.bot.state, BOT_CBW);
	CHECK_EQ(fh_queued(&d.fh, XPORT_EP_OUT), 1);
	check_works_after_enable();
	down();
}

/* Enable arrives before the cancelled transfers have drained. */
TEST(test_bot_disable_mid_write_enable_before_drain)
{
	uint8_t cdb[10], data[4096];
	uint32_t sent;

	up(4096, 2);
	fill(data, sizeof data, 24);
	fh_rw10(cdb, 0x2a, 0, 64);
	send_cbw(10, 32768, false, cdb, 10);
	CHECK_EQ(fh_host_out(&d.fh, data, sizeof data, &sent), FH_OK);
	fh_disable(&d.fh);
	fh_enable(&d.fh);
	CHECK_EQ(d.bot.state, BOT_DRAIN);
	CHECK_EQ(fh_queued(&d.fh, XPORT_EP_OUT), 0);
	fh_deliver_all(&d.fh);
	CHECK_EQ(d.bot.state, BOT_CBW);
	CHECK(d.bot.out_pin == NULL);
	check_works_after_enable();
	down();
}

/* The reset is acked only after every cancelled transfer has completed;
 * then the host clears the halts and goes on. */
TEST(test_bot_reset_mid_read_acks_after_drain)
{
	up(4096, 2);
	start_big_read();
	fh_reset(&d.fh);
	CHECK_EQ(d.fh.resets_done, 0);
	CHECK_EQ(d.bot.state, BOT_DRAIN);
	CHECK(d.fh.ndone >= 2);
	while (d.fh.ndone > 1) {
		CHECK(fh_deliver(&d.fh));
		CHECK_EQ(d.fh.resets_done, 0);
	}
	CHECK(fh_deliver(&d.fh));
	CHECK_EQ(d.fh.resets_done, 1);
	CHECK_EQ(d.bot.state, BOT_CBW);
	CHECK_EQ(d.bot.stats.resets, 1);
	check_in_step();
	down();
}

TEST(test_bot_reset_mid_write)
{
	uint8_t cdb[10], data[6000];
	uint32_t sent;

	up(4096, 3);
	fill(data, sizeof data, 25);
	fh_rw10(cdb, 0x2a, 0, 64);
	send_cbw(11, 32768, false, cdb, 10);
	CHECK_EQ(fh_host_out(&d.fh, data, 4096, &sent), FH_OK);
	fh_reset(&d.fh);
	CHECK_EQ(d.fh.resets_done, 0);
	fh_deliver_all(&d.fh);
	CHECK_EQ(d.fh.resets_done, 1);
	CHECK(d.bot.out_pin == NULL);
	check_in_step();
	down();
}

/* A reset while the device waits to halt (case 8 behind a busy bulk-in)
 * drops the halt. */
TEST(test_bot_reset_while_halt_pending)
{
	static const uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	uint8_t buf[36], cbw[BOT_CBW_LEN], cdb[10];
	struct fh_result r;
	uint32_t sent;

	up(16384, 4);
	send_cbw(1, 36, true, inq, 6);
	host_read(buf, sizeof buf);
	memset(&r, 0, sizeof r);
	fh_read_csw(&d.fh, 1, &r);
	fh_rw10(cdb, 0x2a, 0, 1);
	fh_make_cbw(cbw, 2, 512, true, 0, cdb, 10);
	CHECK_EQ(fh_host_out(&d.fh, cbw, sizeof cbw, &sent), FH_OK);
	CHECK(fh_deliver_pick(&d.fh, 2));
	CHECK_EQ(d.bot.state, BOT_STATUS);
	fh_reset(&d.fh);
	fh_deliver_all(&d.fh);
	CHECK_EQ(d.fh.resets_done, 1);
	CHECK_EQ(d.fh.halts[XPORT_EP_IN], 0);
	check_in_step();
	down();
}

/* A reset while idle is acked once the queued CBW read has ended. */
TEST(test_bot_reset_idle_acks_after_cbw_read_ends)
{
	up(16384, 4);
	fh_reset(&d.fh);
	CHECK_EQ(d.fh.resets_done, 0);          /* the CBW read must end */
	fh_deliver_all(&d.fh);
	CHECK_EQ(d.fh.resets_done, 1);
	check_in_step();
	down();
}

/* A transfer that fails on the bus leaves the device waiting for a
 * reset; afterwards it works again. */
TEST(test_bot_transfer_error_until_reset)
{
	up(4096, 2);
	start_big_read();
	CHECK(fh_fail_head(&d.fh, XPORT_EP_IN, -EPIPE));
	fh_deliver_all(&d.fh);
	CHECK_EQ(d.bot.state, BOT_BROKEN);
	CHECK_EQ(d.bot.stats.xport_errors, 1);
	CHECK_EQ(fh_inflight(&d.fh, XPORT_EP_IN), 0);
	CHECK_EQ(fh_inflight(&d.fh, XPORT_EP_OUT), 0);
	fh_reset(&d.fh);
	fh_deliver_all(&d.fh);
	CHECK_EQ(d.fh.resets_done, 1);
	check_in_step();
	down();
}

/* The UDC ends every transfer before the DISABLE event is read. */
TEST(test_bot_disconnect_before_disable_event)
{
	up(4096, 2);
	start_big_read();
	fh_disconnect(&d.fh);
	fh_deliver_all(&d.fh);
	CHECK_EQ(d.bot.state, BOT_BROKEN);
	fh_disable(&d.fh);
	CHECK_EQ(d.bot.state, BOT_OFFLINE);
	fh_enable(&d.fh);
	check_works_after_enable();
	down();
}

/* --- media errors in a READ -------------------------------------------- */

static char tmp_path[64];

/* A 1 MiB image file filled with a pattern. */
static void make_image(uint8_t *pat, size_t n)
{
	int fd;

	snprintf(tmp_path, sizeof tmp_path, "/tmp/netstick-test-XXXXXX");
	fd = mkstemp(tmp_path);
	if (fd < 0)
		abort();
	fill(pat, n, 26);
	if (write(fd, pat, n) != (ssize_t)n)
		abort();
	close(fd);
}

/* The image shrinks under a 32 KiB READ after 8 KiB were queued: the rest
 * is zeros (never stale buffer contents), CSW status 1 with the residue of
 * what was not read, and REQUEST SENSE gives 03/11/00 with the LBA.  That
 * is the mapped (64-bit) path, which reads the medium as transfers go; on
 * 32-bit hosts the whole command was copied in before the truncate. */
TEST(test_bot_media_read_error_mid_read_pads)
{
	static uint8_t pat[1 << 20];
	struct fh_lun_cfg luns[1] = { { .media = tmp_path } };
	static uint8_t buf[32768];
	uint8_t cdb[10];
	struct fh_result r;
	uint32_t info = 0;

	make_image(pat, sizeof pat);
	up_with(luns, 4096, 2, 512);
	fh_rw10(cdb, 0x28, 0, 64);
	send_cbw(12, sizeof buf, true, cdb, 10);
	CHECK_EQ(fh_queued(&d.fh, XPORT_EP_IN), 2);   /* 0..8 KiB read */
	CHECK_EQ(truncate(tmp_path, 8192), 0);
	{
		uint32_t got = 0;

		for (int i = 0; i < 1000 && got < sizeof buf; i++)
			if (fh_host_in(&d.fh, buf, sizeof buf, &got) == FH_NAK)
				fh_deliver(&d.fh);
		CHECK_EQ(got, sizeof buf);
	}
	memset(&r, 0, sizeof r);
	fh_read_csw(&d.fh, 12, &r);
	CHECK(r.csw_ok && r.tag_ok);
	if (sizeof(void *) < 8) {
		/* 32-bit hosts: no mapping, the command was read whole
		 * (pread) before the first transfer was queued, so before
		 * the truncate: all of it is good data. */
		CHECK_EQ(r.status, BOT_CSW_GOOD);
		CHECK_EQ(r.residue, 0);
		CHECK(memcmp(buf, pat, sizeof buf) == 0);
		fh_deliver_all(&d.fh);
		down();
		unlink(tmp_path);
		return;
	}
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	CHECK_EQ(r.residue, sizeof buf - 8192);
	CHECK(memcmp(buf, pat, 8192) == 0);
	CHECK(fh_all_bytes(buf + 8192, sizeof buf - 8192, 0));
	fh_deliver_all(&d.fh);
	CHECK_EQ(fh_request_sense(&d.fh, 0, &info), SENSE_READ_ERROR);
	CHECK_EQ(info, 16);
	down();
	unlink(tmp_path);
}

/* Media swapped in the middle of a READ: the rest is padding and the host
 * is told the medium changed. */
TEST(test_bot_media_swapped_mid_read)
{
	char err[256];
	uint8_t cdb[10];
	struct fh_result r;

	up(4096, 2);
	fh_rw10(cdb, 0x28, 0, 64);
	send_cbw(13, 32768, true, cdb, 10);
	CHECK_EQ(lun_insert(&d.luns[0], "memory:1M", false, err, sizeof err),
		 0);
	memset(&r, 0, sizeof r);
	{
		static uint8_t buf[32768];
		uint32_t got = 0;

		for (int i = 0; i < 1000 && got < sizeof buf; i++)
			if (fh_host_in(&d.fh, buf, sizeof buf, &got) == FH_NAK)
				fh_deliver(&d.fh);
		CHECK_EQ(got, sizeof buf);
	}
	fh_read_csw(&d.fh, 13, &r);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	CHECK_EQ(r.residue, 32768 - 8192);
	fh_deliver_all(&d.fh);
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_MEDIUM_CHANGED);
	down();
}

/* --- in-place writes ---------------------------------------------------- */

/* The host sends more than the command wants (case 11): the command's
 * blocks are stored in place, the rest is discarded and never reaches the
 * blocks after them. */
TEST(test_bot_write_in_place_never_past_the_command)
{
	uint8_t cdb[10], data[4096], got[4096], ff[4096];
	struct fh_result r;

	up(4096, 3);
	memset(ff, 0xff, sizeof ff);
	CHECK_EQ(fh_media_put(&d, 0, 0, ff, sizeof ff), 0);
	fill(data, sizeof data, 41);
	fh_rw10(cdb, 0x2a, 0, 2);          /* 1024 bytes wanted, 4096 sent */
	r = fh_command(&d.fh, 0, cdb, 10, FH_OUT, sizeof data, data);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(r.residue, 4096 - 1024);
	CHECK_EQ(d.bot.stats.inplace_writes, 1);
	CHECK_EQ(fh_media_get(&d, 0, 0, got, sizeof got), 0);
	CHECK(memcmp(got, data, 1024) == 0);
	CHECK(fh_all_bytes(got + 1024, sizeof got - 1024, 0xff));
	check_in_step();
	down();
}

/* FunctionFS could not store the host's bytes (EFAULT: the media refused
 * a page): WRITE ERROR with the LBA, the transport stays in step, and the
 * host's retry is copied and succeeds. */
TEST(test_bot_write_in_place_fault_is_write_error)
{
	uint8_t cdb[10], data[4096], got[4096];
	struct fh_result r;
	uint32_t info = 0;

	up(4096, 3);
	fill(data, sizeof data, 42);
	fh_rw10(cdb, 0x2a, 8, 8);
	send_cbw(21, sizeof data, false, cdb, 10);
	CHECK_EQ(d.bot.stats.inplace_writes, 1);
	CHECK(fh_fail_head(&d.fh, XPORT_EP_OUT, -EFAULT));
	fh_deliver_all(&d.fh);
	memset(&r, 0, sizeof r);
	fh_read_csw(&d.fh, 21, &r);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	fh_deliver_all(&d.fh);
	CHECK_EQ(fh_request_sense(&d.fh, 0, &info), SENSE_WRITE_ERROR);
	CHECK_EQ(info, 8);
	r = fh_command(&d.fh, 0, cdb, 10, FH_OUT, sizeof data, data);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(d.bot.stats.inplace_writes, 1);    /* copied this time */
	CHECK_EQ(fh_media_get(&d, 0, 4096, got, sizeof got), 0);
	CHECK(memcmp(got, data, sizeof data) == 0);
	down();
}

/* The media is ejected while the host is still sending into it: the eject
 * does not wait for the host, the old media stays mapped until the
 * transfer ends (ASan would see the bytes land in freed memory), and the
 * command fails with MEDIUM NOT PRESENT. */
TEST(test_bot_write_in_place_across_eject)
{
	uint8_t cdb[10], data[8192];
	struct fh_result r;

	up(4096, 3);
	fill(data, sizeof data, 43);
	fh_rw10(cdb, 0x2a, 0, 16);
	send_cbw(22, sizeof data, false, cdb, 10);
	CHECK_EQ(d.bot.stats.inplace_writes, 1);
	CHECK_EQ(lun_eject(&d.luns[0], true, false), 0);
	host_send(data, sizeof data);
	memset(&r, 0, sizeof r);
	fh_read_csw(&d.fh, 22, &r);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	fh_deliver_all(&d.fh);
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_NOT_READY_NO_MEDIUM);
	down();
}

int main(void)
{
	log_set_level(LOG_LVL_ERR);
	RUN(test_bot_pipelining_inquiry_queues_csw_and_next_cbw);
	RUN(test_bot_pipelining_read_within_depth);
	RUN(test_bot_multichunk_write_read_out_of_order);
	RUN(test_bot_multichunk_write_read_out_of_order_superspeed);
	RUN(test_bot_cbw_reported_before_previous_csw);
	RUN(test_bot_short_out_packet_ends_data_phase);
	RUN(test_bot_short_out_packet_in_discarded_data);
	RUN(test_bot_disable_mid_read_then_enable);
	RUN(test_bot_disable_mid_write_enable_before_drain);
	RUN(test_bot_reset_mid_read_acks_after_drain);
	RUN(test_bot_reset_mid_write);
	RUN(test_bot_reset_while_halt_pending);
	RUN(test_bot_reset_idle_acks_after_cbw_read_ends);
	RUN(test_bot_transfer_error_until_reset);
	RUN(test_bot_disconnect_before_disable_event);
	RUN(test_bot_media_read_error_mid_read_pads);
	RUN(test_bot_media_swapped_mid_read);
	RUN(test_bot_write_in_place_never_past_the_command);
	RUN(test_bot_write_in_place_fault_is_write_error);
	RUN(test_bot_write_in_place_across_eject);
	return test_summary();
}
