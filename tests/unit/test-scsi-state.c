/* test-scsi-state.c — SCSI behaviour that spans several commands: unit
 * attention rules, PREVENT/eject/load, REQUEST SENSE after failures,
 * round trips through every READ/WRITE size, 4096-byte blocks, and
 * capacities beyond 2^32 blocks (a sparse 3 TiB image file).
 */
#include "fakehost.h"
#include "bytes.h"
#include "log.h"
#include "sense.h"
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static struct fh_dev d;

static const struct fh_lun_cfg two_luns[] = {
	{ .media = "memory:1M" },
	{ .media = NULL },
};

static void up(void)
{
	if (fh_dev_init(&d, two_luns, 2, 16384, 4, 512) < 0)
		abort();
}

static void down(void)
{
	CHECK_EQ(d.fh.violations, 0);
	CHECK_EQ(d.bot.inflight[XPORT_EP_IN], fh_inflight(&d.fh, XPORT_EP_IN));
	fh_dev_fini(&d);
}

static const uint8_t cdb_tur[6] = { 0x00 };
static const uint8_t cdb_inquiry[6] = { 0x12, 0, 0, 0, 36, 0 };
static const uint8_t cdb_report_luns[12] = { 0xa0, 0, 0, 0, 0, 0,
					     0, 0, 0, 64, 0, 0 };

/* Runs a no-data command and returns its CSW status (0xff if none). */
static uint8_t nodata(unsigned lun, const uint8_t *cdb, unsigned len)
{
	struct fh_result r = fh_command(&d.fh, lun, cdb, len, FH_NONE, 0, NULL);

	CHECK(r.csw_ok && r.tag_ok);
	return r.csw_ok ? r.status : 0xff;
}

/* TEST UNIT READY; returns the sense it leaves (SENSE_NONE if GOOD). */
static uint32_t tur(unsigned lun)
{
	if (nodata(lun, cdb_tur, 6) == BOT_CSW_GOOD)
		return SENSE_NONE;
	return fh_request_sense(&d.fh, lun, NULL);
}

/* --- unit attentions ---------------------------------------------------- */

TEST(test_scsi_ua_power_on_reported_once)
{
	up();
	CHECK_EQ(tur(0), SENSE_POWER_ON_RESET);
	CHECK_EQ(tur(0), SENSE_NONE);
	down();
}

TEST(test_scsi_ua_inquiry_exempt)
{
	struct fh_result r;

	up();
	r = fh_command(&d.fh, 0, cdb_inquiry, 6, FH_IN, 36, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK(lun_has_ua(&d.luns[0]));          /* still pending */
	CHECK_EQ(tur(0), SENSE_POWER_ON_RESET);
	down();
}

TEST(test_scsi_ua_report_luns_exempt)
{
	struct fh_result r;

	up();
	r = fh_command(&d.fh, 0, cdb_report_luns, 12, FH_IN, 64, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(r.residue, 64 - 24);
	CHECK_EQ(get_be32(r.data), 16);         /* two LUNs */
	CHECK_EQ(r.data[17], 1);          /* LUN 1, peripheral addressing */
	CHECK(lun_has_ua(&d.luns[0]));
	down();
}

/* REQUEST SENSE returns the pending unit attention and clears it. */
TEST(test_scsi_ua_request_sense_returns_and_clears)
{
	up();
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_POWER_ON_RESET);
	CHECK(!lun_has_ua(&d.luns[0]));
	CHECK_EQ(tur(0), SENSE_NONE);
	down();
}

TEST(test_scsi_ua_per_lun)
{
	up();
	CHECK_EQ(tur(0), SENSE_POWER_ON_RESET);
	CHECK_EQ(tur(1), SENSE_POWER_ON_RESET);  /* LUN 1 has its own */
	CHECK_EQ(tur(1), SENSE_NOT_READY_NO_MEDIUM);
	down();
}

/* Any command but the exempt ones reports the UA instead of running. */
TEST(test_scsi_ua_blocks_read)
{
	uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	struct fh_result r;

	up();
	r = fh_command(&d.fh, 0, cdb, 10, FH_IN, 512, NULL);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	CHECK_EQ(r.residue, 512);
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_POWER_ON_RESET);
	r = fh_command(&d.fh, 0, cdb, 10, FH_IN, 512, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	down();
}

TEST(test_scsi_ua_after_insert_medium_changed)
{
	char err[256];

	up();
	fh_dev_clear_ua(&d);
	CHECK_EQ(lun_insert(&d.luns[1], "memory:64K", false, err, sizeof err),
		 0);
	CHECK_EQ(tur(1), SENSE_MEDIUM_CHANGED);
	CHECK_EQ(tur(1), SENSE_NONE);
	CHECK_EQ(tur(0), SENSE_NONE);           /* the other LUN is quiet */
	down();
}

/* Power-on outranks medium-changed and clears it (the host re-reads
 * everything after a power-on anyway). */
TEST(test_scsi_ua_power_on_outranks_medium_changed)
{
	char err[256];

	up();
	CHECK_EQ(lun_insert(&d.luns[1], "memory:64K", false, err, sizeof err),
		 0);
	CHECK_EQ(tur(1), SENSE_POWER_ON_RESET);
	CHECK_EQ(tur(1), SENSE_NONE);
	down();
}

/* The sense of a failed command is there for the REQUEST SENSE right
 * after it, and gone once another command ran. */
TEST(test_scsi_sense_cleared_by_next_command)
{
	static const uint8_t bad[10] = { 0x28, 0, 0, 0, 0x10, 0, 0, 0, 1, 0 };
	struct fh_result r;

	up();
	fh_dev_clear_ua(&d);
	r = fh_command(&d.fh, 0, bad, 10, FH_IN, 512, NULL);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	CHECK_EQ(tur(0), SENSE_NONE);
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_NONE);
	r = fh_command(&d.fh, 0, bad, 10, FH_IN, 512, NULL);
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_LBA_OUT_OF_RANGE);
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_NONE);
	down();
}

/* REQUEST SENSE with DESC=1 answers in descriptor format (the layout,
 * with an Information descriptor, is in test-sense.c); DESC=0 stays
 * fixed format. */
TEST(test_scsi_request_sense_descriptor_format)
{
	static const uint8_t bad[10] = { 0x28, 0, 0, 0, 0x10, 0, 0, 0, 1, 0 };
	static const uint8_t rs_desc[6] = { 0x03, 0x01, 0, 0, 252, 0 };
	static const uint8_t rs_fixed[6] = { 0x03, 0, 0, 0, 252, 0 };
	struct fh_result r;

	up();
	fh_dev_clear_ua(&d);
	r = fh_command(&d.fh, 0, bad, 10, FH_IN, 512, NULL);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	r = fh_command(&d.fh, 0, rs_desc, 6, FH_IN, 252, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(r.residue, 252 - 8);      /* no LBA for a range error */
	CHECK(r.data[0] == 0x72 && r.data[1] == 0x05 && r.data[2] == 0x21);
	r = fh_command(&d.fh, 0, rs_desc, 6, FH_IN, 252, NULL);
	CHECK_EQ(r.residue, 252 - 8);              /* no sense: header only */
	CHECK(r.data[0] == 0x72 && r.data[1] == 0 && r.data[7] == 0);
	r = fh_command(&d.fh, 0, rs_fixed, 6, FH_IN, 252, NULL);
	CHECK_EQ(r.residue, 252 - SENSE_FIXED_LEN);
	CHECK(r.data[0] == 0x70);
	down();
}

/* --- PREVENT / eject / load -------------------------------------------- */

static const uint8_t cdb_prevent[6] = { 0x1e, 0, 0, 0, 1, 0 };
static const uint8_t cdb_allow[6] = { 0x1e, 0, 0, 0, 0, 0 };
static const uint8_t cdb_eject[6] = { 0x1b, 0, 0, 0, 0x02, 0 };
static const uint8_t cdb_load[6] = { 0x1b, 0, 0, 0, 0x03, 0 };

TEST(test_scsi_eject_refused_while_prevented)
{
	up();
	fh_dev_clear_ua(&d);
	CHECK_EQ(nodata(0, cdb_prevent, 6), BOT_CSW_GOOD);
	CHECK_EQ(nodata(0, cdb_eject, 6), BOT_CSW_FAILED);
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_REMOVAL_PREVENTED);
	CHECK_EQ(tur(0), SENSE_NONE);           /* media still there */
	CHECK_EQ(lun_eject(&d.luns[0], false, false), -1);  /* admin too */
	down();
}

/* ALLOW, eject, TUR says no medium, load reinserts, the host is told the
 * medium changed, and then it is ready. */
TEST(test_scsi_eject_allow_then_load)
{
	uint8_t rc[10] = { 0x25 };
	struct fh_result r;

	up();
	fh_dev_clear_ua(&d);
	CHECK_EQ(nodata(0, cdb_prevent, 6), BOT_CSW_GOOD);
	CHECK_EQ(nodata(0, cdb_allow, 6), BOT_CSW_GOOD);
	CHECK_EQ(nodata(0, cdb_eject, 6), BOT_CSW_GOOD);
	CHECK_EQ(tur(0), SENSE_NOT_READY_NO_MEDIUM);
	r = fh_command(&d.fh, 0, rc, 10, FH_IN, 8, NULL);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	CHECK_EQ(fh_request_sense(&d.fh, 0, NULL), SENSE_NOT_READY_NO_MEDIUM);
	CHECK_EQ(nodata(0, cdb_load, 6), BOT_CSW_GOOD);
	CHECK_EQ(tur(0), SENSE_MEDIUM_CHANGED);
	CHECK_EQ(tur(0), SENSE_NONE);
	r = fh_command(&d.fh, 0, rc, 10, FH_IN, 8, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(get_be32(r.data), 2047);
	down();
}

/* A forced eject (admin API) wins over the host's PREVENT. */
TEST(test_scsi_forced_eject_while_prevented)
{
	up();
	fh_dev_clear_ua(&d);
	CHECK_EQ(nodata(0, cdb_prevent, 6), BOT_CSW_GOOD);
	CHECK_EQ(lun_eject(&d.luns[0], true, false), 0);
	CHECK_EQ(tur(0), SENSE_NOT_READY_NO_MEDIUM);
	/* An admin eject forgets the media: LOAD finds nothing to load. */
	CHECK_EQ(nodata(0, cdb_load, 6), BOT_CSW_GOOD);
	CHECK_EQ(tur(0), SENSE_NOT_READY_NO_MEDIUM);
	down();
}

/* Media the host ejected comes back read-only if it was read-only, and
 * MODE SENSE shows the WP bit again. */
TEST(test_scsi_load_keeps_read_only)
{
	static const uint8_t ms[6] = { 0x1a, 0x08, 0x3f, 0, 0xff, 0 };
	char err[256];
	struct fh_result r;

	up();
	CHECK_EQ(lun_insert(&d.luns[1], "memory:64K", true, err, sizeof err),
		 0);
	fh_dev_clear_ua(&d);
	CHECK_EQ(nodata(1, cdb_eject, 6), BOT_CSW_GOOD);
	r = fh_command(&d.fh, 1, ms, 6, FH_IN, 255, NULL);
	CHECK_EQ(r.data[2] & 0x80, 0);          /* empty: WP from config */
	CHECK_EQ(nodata(1, cdb_load, 6), BOT_CSW_GOOD);
	CHECK_EQ(tur(1), SENSE_MEDIUM_CHANGED);
	r = fh_command(&d.fh, 1, ms, 6, FH_IN, 255, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(r.data[2] & 0x80, 0x80);
	down();
}

/* --- data round trips --------------------------------------------------- */

static void rw_cdb(uint8_t *cdb, unsigned *len, uint8_t op, uint64_t lba,
		   uint32_t n)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	switch (op) {
	case 0x08: case 0x0a:
		put_be24(cdb + 1, (uint32_t)lba);
		cdb[4] = (uint8_t)n;
		*len = 6;
		break;
	case 0x28: case 0x2a:
		put_be32(cdb + 2, (uint32_t)lba);
		put_be16(cdb + 7, (uint16_t)n);
		*len = 10;
		break;
	case 0xa8: case 0xaa:
		put_be32(cdb + 2, (uint32_t)lba);
		put_be32(cdb + 6, n);
		*len = 12;
		break;
	default:
		put_be64(cdb + 2, lba);
		put_be32(cdb + 10, n);
		*len = 16;
		break;
	}
}

/* Writes n blocks at lba with WRITE(wop), reads them back with READ(rop). */
static void round_trip(unsigned lun, uint8_t wop, uint8_t rop, uint64_t lba,
		       uint32_t n, uint32_t bs)
{
	static uint8_t data[65536];
	uint8_t cdb[16];
	unsigned len;
	struct fh_result r;
	uint32_t bytes = n * bs;

	for (uint32_t i = 0; i < bytes; i++)
		data[i] = (uint8_t)(i * 13 + wop + rop + lba);
	rw_cdb(cdb, &len, wop, lba, n);
	r = fh_command(&d.fh, lun, cdb, len, FH_OUT, bytes, data);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(r.residue, 0);
	rw_cdb(cdb, &len, rop, lba, n);
	r = fh_command(&d.fh, lun, cdb, len, FH_IN, bytes, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(r.residue, 0);
	CHECK(memcmp(r.data, data, bytes) == 0);
}

TEST(test_scsi_read_write_all_cdb_sizes)
{
	static const uint8_t w[] = { 0x0a, 0x2a, 0xaa, 0x8a };
	static const uint8_t rd[] = { 0x08, 0x28, 0xa8, 0x88 };

	up();
	fh_dev_clear_ua(&d);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			round_trip(0, w[i], rd[j], (uint64_t)(i * 4 + j) * 9,
				   7, 512);
	round_trip(0, 0x2a, 0x28, 2047, 1, 512);        /* last block */
	down();
}

TEST(test_scsi_read_write_4k_blocks)
{
	static const struct fh_lun_cfg luns[] = {
		{ .media = "memory:1M", .block_size = 4096 },
	};

	if (fh_dev_init(&d, luns, 1, 16384, 4, 512) < 0)
		abort();
	fh_dev_clear_ua(&d);
	round_trip(0, 0x2a, 0x28, 0, 3, 4096);
	round_trip(0, 0x0a, 0x88, 255, 1, 4096);
	round_trip(0, 0x8a, 0x08, 100, 16, 4096);
	down();
}

/* --- failing LBA in the sense data -------------------------------------- */

static char img[64];

/* A sparse image file of `size` bytes; returns its path. */
static const char *make_sparse(uint64_t size)
{
	int fd;

	snprintf(img, sizeof img, "/tmp/netstick-scsi-XXXXXX");
	fd = mkstemp(img);
	if (fd < 0)
		abort();
	if (ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		unlink(img);
		return NULL;
	}
	close(fd);
	return img;
}

/* VERIFY(10) over blocks the image lost: 03/11/00 naming the first
 * unreadable LBA. */
TEST(test_scsi_verify_read_error_reports_lba)
{
	static const uint8_t v[10] = { 0x2f, 0, 0, 0, 0, 0x10, 0, 0, 0x40, 0 };
	struct fh_lun_cfg luns[1] = { { .media = make_sparse(1 << 20) } };
	uint32_t info = 0;

	if (fh_dev_init(&d, luns, 1, 16384, 4, 512) < 0)
		abort();
	fh_dev_clear_ua(&d);
	CHECK_EQ(truncate(img, 0x30 * 512), 0);
	CHECK_EQ(nodata(0, v, 10), BOT_CSW_FAILED);
	CHECK_EQ(fh_request_sense(&d.fh, 0, &info), SENSE_READ_ERROR);
	CHECK_EQ(info, 0x10);   /* the first block of the failing chunk */
	down();
	unlink(img);
}

/* WRITE with FUA on a file-backed LUN (RWF_DSYNC writes) lands in the
 * image file itself. */
TEST(test_scsi_write_fua_file_backed)
{
	static const uint8_t w[10] = { 0x2a, 0x08, 0, 0, 0, 3, 0, 0, 2, 0 };
	struct fh_lun_cfg luns[1] = { { .media = make_sparse(1 << 20) } };
	uint8_t data[1024], back[1024];
	struct fh_result r;
	int fd;

	if (fh_dev_init(&d, luns, 1, 16384, 4, 512) < 0)
		abort();
	fh_dev_clear_ua(&d);
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i ^ 0xa5);
	r = fh_command(&d.fh, 0, w, 10, FH_OUT, sizeof data, data);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	fd = open(img, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, back, sizeof back, 3 * 512), (ssize_t)sizeof back);
	close(fd);
	CHECK(memcmp(back, data, sizeof data) == 0);
	down();
	unlink(img);
}

/* --- capacity above 2^32 blocks ---------------------------------------- */

#define BIG_SIZE (3ull << 40)                   /* 3 TiB */
#define BIG_LAST ((BIG_SIZE >> 9) - 1)          /* 0x17fffffff */

static bool up_big(void)
{
	struct fh_lun_cfg luns[1] = { { .media = make_sparse(BIG_SIZE) } };

	if (!luns[0].media) {
		fprintf(stderr, "  skipped: no sparse 3 TiB file in /tmp\n");
		return false;
	}
	if (fh_dev_init(&d, luns, 1, 16384, 4, 512) < 0)
		abort();
	fh_dev_clear_ua(&d);
	return true;
}

TEST(test_scsi_read_capacity_above_2tib)
{
	static const uint8_t rc10[10] = { 0x25 };
	static const uint8_t rc16[16] = { 0x9e, 0x10, 0, 0, 0, 0, 0, 0,
					  0, 0, 0, 0, 0, 32, 0, 0 };
	static const uint8_t rfc[10] = { 0x23, 0, 0, 0, 0, 0, 0, 0, 12, 0 };
	struct fh_result r;

	if (!up_big())
		return;
	r = fh_command(&d.fh, 0, rc10, 10, FH_IN, 8, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(get_be32(r.data), 0xffffffffu);
	CHECK_EQ(get_be32(r.data + 4), 512);
	r = fh_command(&d.fh, 0, rc16, 16, FH_IN, 32, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(get_be64(r.data), BIG_LAST);
	CHECK_EQ(get_be32(r.data + 8), 512);
	r = fh_command(&d.fh, 0, rfc, 10, FH_IN, 12, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(get_be32(r.data + 4), 0xffffffffu);
	down();
	unlink(img);
}

/* MODE SENSE block descriptors saturate (short form) or carry the whole
 * count (LLBAA). */
TEST(test_scsi_mode_sense_block_count_above_2tib)
{
	static const uint8_t ms6[6] = { 0x1a, 0, 0x08, 0, 0xff, 0 };
	static const uint8_t ms10[10] = { 0x5a, 0x10, 0x08, 0, 0, 0, 0, 0,
					  0xff, 0 };
	struct fh_result r;

	if (!up_big())
		return;
	r = fh_command(&d.fh, 0, ms6, 6, FH_IN, 255, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(get_be24(r.data + 5), 0xffffff);
	r = fh_command(&d.fh, 0, ms10, 10, FH_IN, 255, NULL);
	CHECK_EQ(r.status, BOT_CSW_GOOD);
	CHECK_EQ(get_be64(r.data + 8), BIG_LAST + 1);
	down();
	unlink(img);
}

TEST(test_scsi_read_write16_above_2tib)
{
	if (!up_big())
		return;
	round_trip(0, 0x8a, 0x88, BIG_LAST - 3, 4, 512);
	round_trip(0, 0x8a, 0x88, 0x100000000ull, 2, 512);
	down();
	unlink(img);
}

/* A read error past LBA 2^32 - 1 cannot be named in fixed-format sense:
 * the INFORMATION field must not claim a wrong, truncated LBA. */
TEST(test_scsi_read_error_above_2tib_info_not_valid)
{
	uint8_t cdb[16];
	unsigned len;
	uint32_t info = 0;
	struct fh_result r;

	if (!up_big())
		return;
	CHECK_EQ(truncate(img, (off_t)(0x100000000ull * 512)), 0);
	rw_cdb(cdb, &len, 0x88, 0x100000005ull, 1);
	r = fh_command(&d.fh, 0, cdb, len, FH_IN, 512, NULL);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	CHECK_EQ(fh_request_sense(&d.fh, 0, &info), SENSE_READ_ERROR);
	CHECK_EQ(info, ~0u);                    /* VALID clear */
	rw_cdb(cdb, &len, 0x88, 0xfffffff0ull, 0x20);
	r = fh_command(&d.fh, 0, cdb, len, FH_IN, 0x20 * 512, NULL);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	CHECK_EQ(fh_request_sense(&d.fh, 0, &info), SENSE_READ_ERROR);
	/* The chunk that failed starts below 2^32: that LBA is named. */
	CHECK_EQ(info, 0xfffffff0u);
	down();
	unlink(img);
}

int main(void)
{
	log_set_level(LOG_LVL_ERR);
	RUN(test_scsi_ua_power_on_reported_once);
	RUN(test_scsi_ua_inquiry_exempt);
	RUN(test_scsi_ua_report_luns_exempt);
	RUN(test_scsi_ua_request_sense_returns_and_clears);
	RUN(test_scsi_request_sense_descriptor_format);
	RUN(test_scsi_ua_per_lun);
	RUN(test_scsi_ua_blocks_read);
	RUN(test_scsi_ua_after_insert_medium_changed);
	RUN(test_scsi_ua_power_on_outranks_medium_changed);
	RUN(test_scsi_sense_cleared_by_next_command);
	RUN(test_scsi_eject_refused_while_prevented);
	RUN(test_scsi_eject_allow_then_load);
	RUN(test_scsi_forced_eject_while_prevented);
	RUN(test_scsi_load_keeps_read_only);
	RUN(test_scsi_read_write_all_cdb_sizes);
	RUN(test_scsi_read_write_4k_blocks);
	RUN(test_scsi_verify_read_error_reports_lba);
	RUN(test_scsi_write_fua_file_backed);
	RUN(test_scsi_read_capacity_above_2tib);
	RUN(test_scsi_mode_sense_block_count_above_2tib);
	RUN(test_scsi_read_write16_above_2tib);
	RUN(test_scsi_read_error_above_2tib_info_not_valid);
	return test_summary();
}
