/* test-bot-async.c — the Bulk-Only Transport over media that is not direct
 * (here: RAM behind the inject layer), whose data goes through media jobs:
 * a READ asked for whole in segments, out-of-order completions, the CSW
 * waiting for every WRITE job, a media error in the middle, a reset while
 * jobs are out, SYNCHRONIZE CACHE and VERIFY as jobs, and a host load
 * that answers at once.
 */
#include "fakehost.h"
#include "bytes.h"
#include "log.h"
#include "sense.h"
#include "test.h"

#include <stdlib.h>

static struct fh_dev d;

static void up_layer(const char *layer, uint32_t xfer, unsigned depth)
{
	struct fh_lun_cfg luns[1] = { { .media = "memory:4M",
					.layer = layer } };

	if (fh_dev_init(&d, luns, 1, xfer, depth, 512) < 0)
		abort();
	fh_dev_clear_ua(&d);
}

static void up(uint32_t xfer, unsigned depth)
{
	up_layer("inject", xfer, depth);
}

static void down(void)
{
	CHECK_EQ(d.fh.violations, 0);
	if (d.fh.violations)
		fprintf(stderr, "  fakehost: %s\n", d.fh.why);
	CHECK_EQ(d.bot.jobs, 0);
	fh_dev_fini(&d);
	CHECK_EQ(d.bot.state, BOT_OFFLINE);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 13 + i * 5 + (i >> 11));
}

static struct fh_result rw(uint8_t op, uint32_t lba, uint16_t n,
			   const void *out)
{
	uint8_t cdb[10];

	fh_rw10(cdb, op, lba, n);
	return fh_command(&d.fh, 0, cdb, 10, op == 0x28 ? FH_IN : FH_OUT,
			  (uint32_t)n * 512, out);
}

static void check_good(struct fh_result r, uint32_t len)
{
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(r.residue, 0);
	CHECK_EQ(r.data_len, len);
}

/* The inject layer makes the media not direct: it goes through jobs. */
TEST(test_async_media_is_not_direct)
{
	struct lun_snapshot s;

	up(4096, 4);
	lun_snapshot(&d.luns[0], &s);
	CHECK(!lun_media_direct(&d.luns[0], s.media_gen));
	down();
}

/* A 1 MiB READ is asked for whole, in segments (4 jobs of 256 KiB), not
 * one chunk at a time; WRITE data goes out in jobs too; the bytes come
 * back intact, with completions reported in random order. */
TEST(test_async_write_then_read_whole_command)
{
	static uint8_t data[1 << 20];

	for (uint64_t seed = 1; seed <= 6; seed++) {
		struct fh_result r;

		up(32768, 8);
		d.fh.shuffle = true;
		d.fh.rng = seed * 0x9e3779b97f4a7c15ull;
		fill(data, sizeof data, (unsigned)seed);
		r = rw(0x2a, 64, 2048, data);
		check_good(r, sizeof data);
		CHECK_EQ(d.bot.stats.media_jobs, 8);     /* 8 x 128 KiB */
		r = rw(0x28, 64, 2048, NULL);
		check_good(r, sizeof data);
		CHECK(memcmp(r.data, data, sizeof data) == 0);
		CHECK_EQ(d.bot.stats.media_jobs, 8 + 4); /* 4 x 256 KiB */
		down();
	}
}

/* A 120 KiB READ (Linux at high speed) is one media job: one round trip
 * to a network server, not four. */
TEST(test_async_read_120k_is_one_job)
{
	struct fh_result r;

	up(32768, 8);
	r = rw(0x28, 0, 240, NULL);
	check_good(r, 240 * 512);
	CHECK_EQ(d.bot.stats.media_jobs, 1);
	down();
}

/* While the READ's job is out, nothing is queued on bulk-in: the USB side
 * waits for the media without blocking; the data goes out once it is in. */
TEST(test_async_read_waits_for_the_job)
{
	uint8_t cdb[10], cbw[BOT_CBW_LEN];
	uint32_t sent;

	up(4096, 4);
	fh_rw10(cdb, 0x28, 0, 64);
	fh_make_cbw(cbw, 7, 32768, true, 0, cdb, 10);
	CHECK_EQ(fh_host_out(&d.fh, cbw, BOT_CBW_LEN, &sent), FH_OK);
	CHECK(fh_deliver_pick(&d.fh, 0));          /* the CBW, not the job */
	CHECK_EQ(d.bot.state, BOT_DATA_IN);
	CHECK_EQ(d.bot.jobs, 1);
	CHECK_EQ(fh_queued(&d.fh, XPORT_EP_IN), 0);
	CHECK(fh_deliver(&d.fh));                  /* runs the job */
	CHECK_EQ(d.bot.jobs, 0);
	CHECK_EQ(fh_queued(&d.fh, XPORT_EP_IN), 4);
	fh_deliver_all(&d.fh);
	{
		static uint8_t buf[32768];
		uint32_t got = 0;
		struct fh_result r = { 0 };

		for (int i = 0; i < 1000 && got < sizeof buf; i++)
			if (fh_host_in(&d.fh, buf, sizeof buf, &got) == FH_NAK)
				fh_deliver(&d.fh);
		CHECK_EQ(got, sizeof buf);
		fh_read_csw(&d.fh, 7, &r);
		CHECK_EQ(r.status, BOT_CSW_GOOD);
	}
	down();
}

/* Media that fails every read: the data phase is all padding (never
 * garbage), CHECK CONDITION with the first segment's LBA. */
TEST(test_async_media_error_pads_and_reports_lba)
{
	static uint8_t data[1 << 20];
	struct fh_result r;
	uint32_t info = 0;

	up_layer("inject:error-rate=1", 32768, 8);
	r = rw(0x28, 512, 2048, NULL);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	CHECK_EQ(r.residue, sizeof data);
	CHECK(fh_all_bytes(r.data, sizeof data, 0));
	CHECK_EQ(fh_request_sense(&d.fh, 0, &info), SENSE_READ_ERROR);
	CHECK_EQ(info, 512);
	down();
}

/* WRITE to failing media: the CSW waits for every job and reports the
 * write error; nothing is acknowledged. */
TEST(test_async_write_error_not_acknowledged)
{
	static uint8_t data[256 * 1024];
	struct fh_result r;

	up_layer("inject:error-rate=1", 32768, 8);
	fill(data, sizeof data, 9);
	r = rw(0x2a, 0, 512, data);
	CHECK(r.csw_ok && r.tag_ok);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	CHECK_EQ(r.residue, sizeof data);
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_WRITE_ERROR);
	down();
}

/* A Bulk-Only Reset while READ jobs are out: the reset is acked only once
 * they have ended (their buffers are the next command's), and the device
 * then serves commands again. */
TEST(test_async_reset_waits_for_jobs)
{
	uint8_t cdb[10], cbw[BOT_CBW_LEN];
	uint32_t sent;
	struct fh_result r;

	up(32768, 8);
	fh_rw10(cdb, 0x28, 0, 2048);
	fh_make_cbw(cbw, 9, 1 << 20, true, 0, cdb, 10);
	CHECK_EQ(fh_host_out(&d.fh, cbw, BOT_CBW_LEN, &sent), FH_OK);
	CHECK(fh_deliver_pick(&d.fh, 0));
	CHECK_EQ(d.bot.jobs, 4);
	fh_reset(&d.fh);
	CHECK_EQ(d.bot.state, BOT_DRAIN);
	CHECK_EQ(d.fh.resets_done, 0);
	fh_deliver_all(&d.fh);
	CHECK_EQ(d.bot.jobs, 0);
	CHECK_EQ(d.fh.resets_done, 1);
	CHECK_EQ(d.bot.state, BOT_CBW);
	r = rw(0x28, 0, 8, NULL);
	check_good(r, 4096);
	down();
}

/* SYNCHRONIZE CACHE and VERIFY(10) run as media jobs: the status comes
 * after them. */
TEST(test_async_sync_and_verify_are_jobs)
{
	static const uint8_t sync10[10] = { 0x35 };
	uint8_t verify[10] = { 0x2f };
	struct fh_result r;

	up(4096, 4);
	r = fh_command(&d.fh, 0, sync10, 10, FH_NONE, 0, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(d.bot.stats.media_jobs, 1);
	put_be32(verify + 2, 0);
	put_be16(verify + 7, 64);
	r = fh_command(&d.fh, 0, verify, 10, FH_NONE, 0, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(d.bot.stats.media_jobs, 2);
	down();
}

/* START STOP UNIT load with IMMED=1 answers at once; the host then sees
 * NOT READY, BECOMING READY until the open ends, then READY. */
TEST(test_async_host_load_immed)
{
	static const uint8_t eject[6] = { 0x1b, 0, 0, 0, 0x02, 0 };
	static const uint8_t load_immed[6] = { 0x1b, 0x01, 0, 0, 0x03, 0 };
	static const uint8_t tur[6] = { 0 };
	struct fh_result r;

	up(4096, 4);
	r = fh_command(&d.fh, 0, eject, 6, FH_NONE, 0, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(d.luns[0].state, LUN_EMPTY);
	r = fh_command(&d.fh, 0, load_immed, 6, FH_NONE, 0, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	/* No executor in the unit tests: the open ran inline. */
	r = fh_command(&d.fh, 0, tur, 6, FH_NONE, 0, NULL);
	CHECK_EQ(r.status, BOT_CSW_FAILED);        /* medium changed */
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_MEDIUM_CHANGED);
	r = fh_command(&d.fh, 0, tur, 6, FH_NONE, 0, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	down();
}

/* Behind the cache layer, a READ whose blocks are all cached is answered
 * on the USB side at once (backend try_pread), without a media job; a
 * READ with one block missing still goes to a worker; a WRITE's data
 * reaches the media through jobs and reads back from the cache. */
TEST(test_async_cached_read_needs_no_job)
{
	static uint8_t data[64 * 1024];
	struct fh_result r;

	up_layer("cache:size-mib=1,block-kib=4,readahead=0", 32768, 8);
	r = rw(0x28, 0, 128, NULL);                    /* 64 KiB: a miss */
	check_good(r, 128 * 512);
	CHECK_EQ(d.bot.stats.media_jobs, 1);
	CHECK_EQ(d.bot.stats.memory_reads, 0);
	r = rw(0x28, 0, 128, NULL);                    /* all cached */
	check_good(r, 128 * 512);
	CHECK_EQ(d.bot.stats.media_jobs, 1);
	CHECK_EQ(d.bot.stats.memory_reads, 1);
	r = rw(0x28, 120, 16, NULL);                   /* one block new */
	check_good(r, 16 * 512);
	CHECK_EQ(d.bot.stats.media_jobs, 2);
	fill(data, sizeof data, 7);
	r = rw(0x2a, 0, 128, data);                    /* write-through */
	check_good(r, sizeof data);
	r = rw(0x28, 0, 128, NULL);
	check_good(r, sizeof data);
	CHECK(memcmp(r.data, data, sizeof data) == 0);
	CHECK_EQ(d.bot.stats.memory_reads, 2);
	down();
}

int main(void)
{
	log_init("test-bot-async", LOG_LVL_WARN);
	RUN(test_async_media_is_not_direct);
	RUN(test_async_write_then_read_whole_command);
	RUN(test_async_read_120k_is_one_job);
	RUN(test_async_read_waits_for_the_job);
	RUN(test_async_media_error_pads_and_reports_lba);
	RUN(test_async_write_error_not_acknowledged);
	RUN(test_async_reset_waits_for_jobs);
	RUN(test_async_sync_and_verify_are_jobs);
	RUN(test_async_host_load_immed);
	RUN(test_async_cached_read_needs_no_job);
	return test_summary();
}

