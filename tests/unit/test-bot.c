/* test-bot.c — the Bulk-Only Transport against the fake host: the thirteen
 * host/device cases of BOT 6.7, invalid CBWs and the tag echo.
 *
 * Policy under test (bot.h): the device pads IN data / discards OUT data
 * when the host expects more than it has (cases 4, 5, 9, 11), never
 * stalls for them; phase error (status 2) for cases 2, 3, 7, 8, 10, 13;
 * cases 8 and 10 halt the data endpoint the host is using.  An invalid CBW
 * stalls both endpoints until a Bulk-Only Mass Storage Reset.
 *
 * Flows (pipelining, chunking, short packets, reset, disable, media
 * errors) are in test-bot-flow.c.
 */
#include "fakehost.h"
#include "bytes.h"
#include "log.h"
#include "sense.h"
#include "test.h"

#include <stdlib.h>

static struct fh_dev d;

static const struct fh_lun_cfg std_luns[] = {
	{ .media = "memory:1M" },
	{ .media = "memory:1M", .readonly = true },
	{ .media = NULL },
};

/* Bus variant for the whole file: max packet size, and whether
 * completions are reported in random order. */
static unsigned bus_mp = 512;
static bool bus_shuffle;

static void up(void)
{
	if (fh_dev_init(&d, std_luns, 3, 16384, 4, bus_mp) < 0)
		abort();
	d.fh.shuffle = bus_shuffle;
	fh_dev_clear_ua(&d);
}

/* Every test ends with the transport contract kept and the counts of
 * transfers in flight agreeing with the fake host. */
static void down(void)
{
	CHECK_EQ(d.fh.violations, 0);
	if (d.fh.violations)
		fprintf(stderr, "  fakehost: %s\n", d.fh.why);
	CHECK_EQ(d.bot.inflight[XPORT_EP_IN], fh_inflight(&d.fh, XPORT_EP_IN));
	CHECK_EQ(d.bot.inflight[XPORT_EP_OUT],
		 fh_inflight(&d.fh, XPORT_EP_OUT));
	fh_dev_fini(&d);
	CHECK_EQ(d.bot.state, BOT_OFFLINE);
}

static const uint8_t cdb_tur[6] = { 0x00 };
static const uint8_t cdb_inquiry36[6] = { 0x12, 0, 0, 0, 36, 0 };

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

/* Media bytes of LUN 0, read / written straight through the LUN. */
static void media(uint32_t off, void *buf, uint32_t len)
{
	CHECK_EQ(fh_media_get(&d, 0, off, buf, len), 0);
}

static void media_put(uint32_t off, const void *buf, uint32_t len)
{
	CHECK_EQ(fh_media_put(&d, 0, off, buf, len), 0);
}

/* The device is back in step with the host: a TEST UNIT READY works. */
static void check_in_step(void)
{
	struct fh_result r = fh_command(&d.fh, 0, cdb_tur, 6, FH_NONE, 0,
					NULL);

	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK(r.cbw_queued);
	CHECK(!r.halted_in && !r.halted_out);
}

struct want {
	uint8_t status;
	uint32_t residue;
	uint32_t data_len;      /* bytes moved in the data phase */
	bool halt_in, halt_out;
};

static void check_result(const struct fh_result *r, const struct want *w)
{
	CHECK(r->csw_ok);
	CHECK(r->tag_ok);
	CHECK(!r->babble);
	CHECK_EQ(r->status, w->status);
	CHECK_EQ(r->residue, w->residue);
	CHECK_EQ(r->data_len, w->data_len);
	CHECK_EQ(r->halted_in, w->halt_in);
	CHECK_EQ(r->halted_out, w->halt_out);
	CHECK(r->cbw_queued);
}

/* --- the thirteen cases ------------------------------------------------ */

/* Case 1: no data either way. */
TEST(test_bot_case01_hn_eq_dn)
{
	struct fh_result r;

	up();
	r = fh_command(&d.fh, 0, cdb_tur, 6, FH_NONE, 0, NULL);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 0, 0, false, false });
	check_in_step();
	down();
}

/* Case 2: the host expects nothing, the device has data: phase error,
 * nothing sent, no stall. */
TEST(test_bot_case02_hn_lt_di)
{
	struct fh_result r;
	uint8_t cdb[10];

	up();
	fh_rw10(cdb, 0x28, 0, 1);
	r = fh_command(&d.fh, 0, cdb, 10, FH_NONE, 0, NULL);
	check_result(&r, &(struct want){ BOT_CSW_PHASE_ERROR, 0, 0, 0, 0 });
	check_in_step();
	down();
}

/* Case 3: the host sends nothing, the device wants data: phase error and
 * the media is left alone. */
TEST(test_bot_case03_hn_lt_do)
{
	uint8_t cdb[10], blk[512], pat[512];
	struct fh_result r;

	up();
	fill(pat, sizeof pat, 3);
	media_put(0, pat, 512);
	fh_rw10(cdb, 0x2a, 0, 1);
	r = fh_command(&d.fh, 0, cdb, 10, FH_NONE, 0, NULL);
	check_result(&r, &(struct want){ BOT_CSW_PHASE_ERROR, 0, 0, 0, 0 });
	media(0, blk, 512);
	CHECK(memcmp(blk, pat, 512) == 0);
	check_in_step();
	down();
}

/* Case 4: the host wants data, the device has none: padded with zeros,
 * the whole length is residue, no stall. */
TEST(test_bot_case04_hi_gt_dn)
{
	struct fh_result r;

	up();
	r = fh_command(&d.fh, 0, cdb_tur, 6, FH_IN, 512, NULL);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 512, 512, 0, 0 });
	CHECK(fh_all_bytes(r.data, 512, 0));
	check_in_step();
	down();
}

/* Case 5: the host wants more than the device has (INQUIRY of 36 bytes
 * into 512): the 36 bytes, then zeros, as one stream without a short
 * packet before the padding — or the padding lands in the host's CSW
 * read. */
TEST(test_bot_case05_hi_gt_di)
{
	struct fh_result r;

	up();
	r = fh_command(&d.fh, 0, cdb_inquiry36, 6, FH_IN, 512, NULL);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 512 - 36, 512, 0, 0 });
	CHECK_EQ(r.data[0], 0x00);
	CHECK(memcmp(r.data + 8, "netstick", 8) == 0);
	CHECK(fh_all_bytes(r.data + 36, 512 - 36, 0));
	check_in_step();
	down();
}

/* Case 5 with media data: one 512-byte block into a 4096-byte read. */
TEST(test_bot_case05_hi_gt_di_read)
{
	uint8_t cdb[10], pat[512];
	struct fh_result r;

	up();
	fill(pat, sizeof pat, 5);
	media_put(0, pat, 512);
	fh_rw10(cdb, 0x28, 0, 1);
	r = fh_command(&d.fh, 0, cdb, 10, FH_IN, 4096, NULL);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 3584, 4096, 0, 0 });
	CHECK(memcmp(r.data, pat, 512) == 0);
	CHECK(fh_all_bytes(r.data + 512, 3584, 0));
	check_in_step();
	down();
}

/* Case 5 at SuperSpeed: a 512-byte block is a short packet when the max
 * packet size is 1024, so the padding must follow it in one stream. */
TEST(test_bot_case05_hi_gt_di_superspeed)
{
	uint8_t cdb[10], pat[512];
	struct fh_result r;

	if (fh_dev_init(&d, std_luns, 3, 16384, 4, 1024) < 0)
		abort();
	fh_dev_clear_ua(&d);
	fill(pat, sizeof pat, 55);
	media_put(0, pat, 512);
	fh_rw10(cdb, 0x28, 0, 1);
	r = fh_command(&d.fh, 0, cdb, 10, FH_IN, 65536, NULL);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 65024, 65536, 0, 0 });
	CHECK(memcmp(r.data, pat, 512) == 0);
	CHECK(fh_all_bytes(r.data + 512, 65024, 0));
	check_in_step();
	down();
}

/* Case 6: exact match. */
TEST(test_bot_case06_hi_eq_di)
{
	uint8_t cdb[10], pat[4096];
	struct fh_result r;

	up();
	fill(pat, sizeof pat, 6);
	media_put(0, pat, sizeof pat);
	fh_rw10(cdb, 0x28, 0, 8);
	r = fh_command(&d.fh, 0, cdb, 10, FH_IN, 4096, NULL);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 0, 4096, 0, 0 });
	CHECK(memcmp(r.data, pat, 4096) == 0);
	check_in_step();
	down();
}

/* Case 7: the device has more than the host wants: the host's length of
 * data, then phase error. */
TEST(test_bot_case07_hi_lt_di)
{
	uint8_t cdb[10], pat[4096];
	struct fh_result r;

	up();
	fill(pat, sizeof pat, 7);
	media_put(0, pat, sizeof pat);
	fh_rw10(cdb, 0x28, 0, 8);
	r = fh_command(&d.fh, 0, cdb, 10, FH_IN, 2048, NULL);
	check_result(&r, &(struct want){ BOT_CSW_PHASE_ERROR, 0, 2048, 0, 0 });
	CHECK(memcmp(r.data, pat, 2048) == 0);
	check_in_step();
	down();
}

/* Case 8: the host reads, the device wants to receive: bulk-in halted,
 * phase error, media untouched. */
TEST(test_bot_case08_hi_ne_do)
{
	uint8_t cdb[10], blk[512], pat[512];
	struct fh_result r;

	up();
	fill(pat, sizeof pat, 8);
	media_put(0, pat, 512);
	fh_rw10(cdb, 0x2a, 0, 1);
	r = fh_command(&d.fh, 0, cdb, 10, FH_IN, 512, NULL);
	check_result(&r, &(struct want){ BOT_CSW_PHASE_ERROR, 512, 0, 1, 0 });
	media(0, blk, 512);
	CHECK(memcmp(blk, pat, 512) == 0);
	check_in_step();
	down();
}

/* Case 9: the host sends data the device does not want: read and
 * discarded, all of it residue, no stall. */
TEST(test_bot_case09_ho_gt_dn)
{
	uint8_t junk[512];
	struct fh_result r;

	up();
	fill(junk, sizeof junk, 9);
	r = fh_command(&d.fh, 0, cdb_tur, 6, FH_OUT, 512, junk);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 512, 512, 0, 0 });
	check_in_step();
	down();
}

/* Case 10: the host sends, the device wants to send: bulk-out halted,
 * phase error. */
TEST(test_bot_case10_ho_ne_di)
{
	uint8_t cdb[10], junk[512];
	struct fh_result r;

	up();
	fill(junk, sizeof junk, 10);
	fh_rw10(cdb, 0x28, 0, 1);
	r = fh_command(&d.fh, 0, cdb, 10, FH_OUT, 512, junk);
	check_result(&r, &(struct want){ BOT_CSW_PHASE_ERROR, 512, 0, 0, 1 });
	check_in_step();
	down();
}

/* Case 11: the host sends more than the device wants: the wanted part is
 * written, the rest discarded and reported as residue. */
TEST(test_bot_case11_ho_gt_do)
{
	uint8_t cdb[10], data[4096], blk[1024];
	struct fh_result r;

	up();
	fill(data, sizeof data, 11);
	fh_rw10(cdb, 0x2a, 0, 1);
	r = fh_command(&d.fh, 0, cdb, 10, FH_OUT, 4096, data);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 3584, 4096, 0, 0 });
	media(0, blk, 1024);
	CHECK(memcmp(blk, data, 512) == 0);
	CHECK(fh_all_bytes(blk + 512, 512, 0));
	check_in_step();
	down();
}

/* Case 12: exact match. */
TEST(test_bot_case12_ho_eq_do)
{
	uint8_t cdb[10], data[4096], blk[4096];
	struct fh_result r;

	up();
	fill(data, sizeof data, 12);
	fh_rw10(cdb, 0x2a, 8, 8);
	r = fh_command(&d.fh, 0, cdb, 10, FH_OUT, 4096, data);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 0, 4096, 0, 0 });
	media(4096, blk, 4096);
	CHECK(memcmp(blk, data, 4096) == 0);
	check_in_step();
	down();
}

/* Case 13: the host sends less than the device wants: phase error; the
 * whole blocks the host did send are written. */
TEST(test_bot_case13_ho_lt_do)
{
	uint8_t cdb[10], data[2048], blk[4096];
	struct fh_result r;

	up();
	fill(data, sizeof data, 13);
	fh_rw10(cdb, 0x2a, 0, 8);
	r = fh_command(&d.fh, 0, cdb, 10, FH_OUT, 2048, data);
	check_result(&r, &(struct want){ BOT_CSW_PHASE_ERROR, 0, 2048, 0, 0 });
	media(0, blk, 4096);
	CHECK(memcmp(blk, data, 2048) == 0);
	CHECK(fh_all_bytes(blk + 2048, 2048, 0));
	check_in_step();
	down();
}

/* Case 13 with a length that ends inside a block: the partial block is
 * never written (a torn block is worse than an unwritten one). */
TEST(test_bot_case13_partial_block_not_written)
{
	uint8_t cdb[10], data[700], blk[1024];
	struct fh_result r;

	up();
	fill(data, sizeof data, 131);
	fh_rw10(cdb, 0x2a, 0, 2);
	r = fh_command(&d.fh, 0, cdb, 10, FH_OUT, 700, data);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_PHASE_ERROR);
	CHECK(!r.halted_in && !r.halted_out);
	media(0, blk, 1024);
	CHECK(memcmp(blk, data, 512) == 0);
	CHECK(fh_all_bytes(blk + 512, 512, 0));
	check_in_step();
	down();
}

/* A command that fails with the host expecting data is case 4: padded,
 * CSW status 1, full residue; the sense says why. */
TEST(test_bot_failed_read_pads_and_reports_residue)
{
	struct fh_result r;
	uint8_t cdb[10];

	up();
	fh_rw10(cdb, 0x28, 4096, 1);   /* 1 MiB = 2048 blocks: out of range */
	r = fh_command(&d.fh, 0, cdb, 10, FH_IN, 512, NULL);
	check_result(&r, &(struct want){ BOT_CSW_FAILED, 512, 512, 0, 0 });
	CHECK(fh_all_bytes(r.data, 512, 0));
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_LBA_OUT_OF_RANGE);
	down();
}

/* A failing WRITE with data on the way is case 9: the data is read and
 * dropped, CSW status 1. */
TEST(test_bot_failed_write_discards_data)
{
	uint8_t cdb[10], data[1024];
	struct fh_result r;

	up();
	fill(data, sizeof data, 14);
	fh_rw10(cdb, 0x2a, 0, 2);
	r = fh_command(&d.fh, 1, cdb, 10, FH_OUT, 1024, data);
	check_result(&r, &(struct want){ BOT_CSW_FAILED, 1024, 1024, 0, 0 });
	CHECK_EQ(fh_request_sense(&d.fh, 1, NULL), SENSE_WRITE_PROTECTED);
	check_in_step();
	down();
}

/* --- tags ------------------------------------------------------------- */

TEST(test_bot_tag_echoed)
{
	static const uint32_t tags[] = { 0, 1, 0xdeadbeef, 0xffffffff };
	struct fh_result r;

	up();
	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
		d.fh.next_tag = tags[i];
		r = fh_command(&d.fh, 0, cdb_inquiry36, 6, FH_IN, 36, NULL);
		CHECK(r.csw_ok);
		CHECK(r.tag_ok);
	}
	down();
}

/* --- invalid CBWs ------------------------------------------------------ */

/* Sends raw CBW bytes and reports them to the device. */
static void send_raw(const uint8_t *cbw, uint32_t len)
{
	uint32_t sent;

	CHECK_EQ(fh_host_out(&d.fh, cbw, len, &sent), FH_OK);
	CHECK_EQ(sent, len);
	fh_deliver_all(&d.fh);
}

/* The CBW is refused: both endpoints stall, and stay stalled for a valid
 * CBW sent after clearing the halts without a reset; after the reset
 * (acked once the device is ready) a command works again. */
static void check_wedged_until_reset(const uint8_t *cbw, uint32_t len)
{
	uint8_t good[BOT_CBW_LEN];
	unsigned in0, out0;
	uint32_t sent;

	up();
	in0 = d.fh.halts[XPORT_EP_IN];
	out0 = d.fh.halts[XPORT_EP_OUT];
	send_raw(cbw, len);
	CHECK(d.fh.halted[XPORT_EP_IN] && d.fh.halted[XPORT_EP_OUT]);
	CHECK_EQ(d.bot.state, BOT_WEDGED);
	CHECK_EQ(d.bot.stats.invalid_cbws, 1);
	/* The host clears the halts but does not reset. */
	fh_clear_halt(&d.fh, XPORT_EP_IN);
	fh_clear_halt(&d.fh, XPORT_EP_OUT);
	fh_make_cbw(good, 77, 0, false, 0, cdb_tur, 6);
	send_raw(good, sizeof good);
	CHECK(d.fh.halted[XPORT_EP_IN] && d.fh.halted[XPORT_EP_OUT]);
	CHECK(d.fh.halts[XPORT_EP_IN] >= in0 + 2);
	CHECK(d.fh.halts[XPORT_EP_OUT] >= out0 + 2);
	/* A CBW on the stalled pipe is refused by the bus. */
	CHECK_EQ(fh_host_out(&d.fh, good, sizeof good, &sent), FH_STALL);
	fh_reset(&d.fh);
	fh_deliver_all(&d.fh);
	CHECK_EQ(d.fh.resets_done, 1);
	CHECK(!d.fh.halted[XPORT_EP_IN] && !d.fh.halted[XPORT_EP_OUT]);
	CHECK_EQ(d.bot.state, BOT_CBW);
	check_in_step();
	down();
}

static void good_cbw(uint8_t cbw[BOT_CBW_LEN + 1])
{
	memset(cbw, 0, BOT_CBW_LEN + 1);
	fh_make_cbw(cbw, 5, 0, false, 0, cdb_tur, 6);
}

TEST(test_bot_invalid_cbw_length_30)
{
	uint8_t cbw[BOT_CBW_LEN + 1];

	good_cbw(cbw);
	check_wedged_until_reset(cbw, 30);
}

TEST(test_bot_invalid_cbw_length_32)
{
	uint8_t cbw[BOT_CBW_LEN + 1];

	good_cbw(cbw);
	check_wedged_until_reset(cbw, 32);
}

TEST(test_bot_invalid_cbw_signature)
{
	uint8_t cbw[BOT_CBW_LEN + 1];

	good_cbw(cbw);
	cbw[3] ^= 0x01;
	check_wedged_until_reset(cbw, BOT_CBW_LEN);
}

TEST(test_bot_invalid_cbw_lun_out_of_range)
{
	uint8_t cbw[BOT_CBW_LEN + 1];

	good_cbw(cbw);
	cbw[13] = 3;            /* three LUNs: 0..2 */
	check_wedged_until_reset(cbw, BOT_CBW_LEN);
}

TEST(test_bot_invalid_cbw_cb_length_0)
{
	uint8_t cbw[BOT_CBW_LEN + 1];

	good_cbw(cbw);
	cbw[14] = 0;
	check_wedged_until_reset(cbw, BOT_CBW_LEN);
}

TEST(test_bot_invalid_cbw_cb_length_17)
{
	uint8_t cbw[BOT_CBW_LEN + 1];

	good_cbw(cbw);
	cbw[14] = 17;
	check_wedged_until_reset(cbw, BOT_CBW_LEN);
}

/* 600 bytes where a CBW belongs (e.g. data the host thinks is still
 * wanted) are not a CBW either. */
TEST(test_bot_invalid_cbw_long_transfer)
{
	uint8_t junk[600];

	memset(junk, 0x55, sizeof junk);
	check_wedged_until_reset(junk, sizeof junk);
}

/* Hosts send CDB lengths longer than the command needs (SeaBIOS: 12). */
TEST(test_bot_long_cb_length_accepted)
{
	uint8_t cdb[16] = { 0x12, 0, 0, 0, 36, 0 };
	struct fh_result r;

	up();
	r = fh_command(&d.fh, 0, cdb, 12, FH_IN, 36, NULL);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 0, 36, 0, 0 });
	r = fh_command(&d.fh, 0, cdb, 16, FH_IN, 36, NULL);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 0, 36, 0, 0 });
	down();
}

/* UEFI's driver repeats the LUN in CDB byte 1, bits 7-5 (SCSI-2): on LUN
 * 1 that is RDPROTECT=1 to SBC.  READ(10) and INQUIRY must still work;
 * the same bits naming another LUN are a real RDPROTECT and refused. */
TEST(test_bot_scsi2_lun_bits_in_cdb_ignored)
{
	uint8_t rd[10], inq[6] = { 0x12, 0x20, 0, 0, 36, 0 };
	uint32_t info;
	struct fh_result r;

	up();
	fh_rw10(rd, 0x28, 3, 1);
	rd[1] = 1 << 5;
	r = fh_command(&d.fh, 1, rd, 10, FH_IN, 512, NULL);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 0, 512, 0, 0 });
	CHECK(fh_all_bytes(r.data, 512, 0));
	r = fh_command(&d.fh, 1, inq, 6, FH_IN, 36, NULL);
	check_result(&r, &(struct want){ BOT_CSW_GOOD, 0, 36, 0, 0 });
	rd[1] = 2 << 5;
	r = fh_command(&d.fh, 1, rd, 10, FH_IN, 512, NULL);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	CHECK_EQ(fh_request_sense(&d.fh, 1, &info), SENSE_INVALID_FIELD_CDB);
	down();
}

/* --- the cases on other buses ------------------------------------------ */

static void (*const all_cases[])(void) = {
	test_bot_case01_hn_eq_dn, test_bot_case02_hn_lt_di,
	test_bot_case03_hn_lt_do, test_bot_case04_hi_gt_dn,
	test_bot_case05_hi_gt_di, test_bot_case05_hi_gt_di_read,
	test_bot_case06_hi_eq_di, test_bot_case07_hi_lt_di,
	test_bot_case08_hi_ne_do, test_bot_case09_ho_gt_dn,
	test_bot_case10_ho_ne_di, test_bot_case11_ho_gt_do,
	test_bot_case12_ho_eq_do, test_bot_case13_ho_lt_do,
	test_bot_case13_partial_block_not_written,
};

TEST(test_bot_all_cases_superspeed)
{
	bus_mp = 1024;
	for (size_t i = 0; i < sizeof all_cases / sizeof all_cases[0]; i++)
		all_cases[i]();
	bus_mp = 512;
}

TEST(test_bot_all_cases_completions_out_of_order)
{
	bus_shuffle = true;
	for (size_t i = 0; i < sizeof all_cases / sizeof all_cases[0]; i++)
		all_cases[i]();
	bus_shuffle = false;
}

/* --- setup and counters ------------------------------------------------ */

TEST(test_bot_init_rejects_bad_geometry)
{
	struct scsi_target t = { NULL, 0 };
	struct bot b;

	CHECK_EQ(bot_init(&b, &t, &fh_xport_ops, NULL, 16384, 0), -1);
	CHECK_EQ(bot_init(&b, &t, &fh_xport_ops, NULL, 16384,
			  BOT_MAX_DEPTH + 1), -1);
	CHECK_EQ(bot_init(&b, &t, &fh_xport_ops, NULL, 1000, 4), -1);
	CHECK_EQ(bot_init(&b, &t, &fh_xport_ops, NULL, 0, 4), -1);
	CHECK_EQ(bot_init(&b, &t, &fh_xport_ops, NULL, 4096, BOT_MAX_DEPTH),
		 0);
	CHECK(b.out_pin == NULL);
	bot_fini(&b);
}

TEST(test_bot_state_names)
{
	CHECK_STR(bot_state_name(BOT_OFFLINE), "offline");
	CHECK_STR(bot_state_name(BOT_WEDGED), "wedged");
	CHECK_STR(bot_state_name(BOT_DRAIN), "drain");
	CHECK_STR(bot_state_name((enum bot_state)99), "?");
}

TEST(test_bot_stats_count_commands_and_phase_errors)
{
	uint8_t cdb[10];

	up();
	check_in_step();
	fh_rw10(cdb, 0x28, 0, 1);
	fh_command(&d.fh, 0, cdb, 10, FH_NONE, 0, NULL);        /* case 2 */
	fh_command(&d.fh, 0, cdb, 10, FH_OUT, 512, NULL);       /* case 10 */
	CHECK_EQ(d.bot.stats.commands, 3);
	CHECK_EQ(d.bot.stats.phase_errors, 2);
	CHECK_EQ(d.bot.stats.invalid_cbws, 0);
	CHECK_EQ(d.bot.stats.resets, 0);
	down();
}

int main(void)
{
	log_set_level(LOG_LVL_WARN);
	RUN(test_bot_case01_hn_eq_dn);
	RUN(test_bot_case02_hn_lt_di);
	RUN(test_bot_case03_hn_lt_do);
	RUN(test_bot_case04_hi_gt_dn);
	RUN(test_bot_case05_hi_gt_di);
	RUN(test_bot_case05_hi_gt_di_read);
	RUN(test_bot_case05_hi_gt_di_superspeed);
	RUN(test_bot_case06_hi_eq_di);
	RUN(test_bot_case07_hi_lt_di);
	RUN(test_bot_case08_hi_ne_do);
	RUN(test_bot_case09_ho_gt_dn);
	RUN(test_bot_case10_ho_ne_di);
	RUN(test_bot_case11_ho_gt_do);
	RUN(test_bot_case12_ho_eq_do);
	RUN(test_bot_case13_ho_lt_do);
	RUN(test_bot_case13_partial_block_not_written);
	RUN(test_bot_failed_read_pads_and_reports_residue);
	RUN(test_bot_failed_write_discards_data);
	RUN(test_bot_tag_echoed);
	RUN(test_bot_invalid_cbw_length_30);
	RUN(test_bot_invalid_cbw_length_32);
	RUN(test_bot_invalid_cbw_signature);
	RUN(test_bot_invalid_cbw_lun_out_of_range);
	RUN(test_bot_invalid_cbw_cb_length_0);
	RUN(test_bot_invalid_cbw_cb_length_17);
	RUN(test_bot_invalid_cbw_long_transfer);
	RUN(test_bot_long_cb_length_accepted);
	RUN(test_bot_scsi2_lun_bits_in_cdb_ignored);
	RUN(test_bot_all_cases_superspeed);
	RUN(test_bot_all_cases_completions_out_of_order);
	RUN(test_bot_init_rejects_bad_geometry);
	RUN(test_bot_state_names);
	RUN(test_bot_stats_count_commands_and_phase_errors);
	return test_summary();
}
