/* test-mmc.c — the CD/DVD command set (scsi_mmc*.c) through the fake host:
 * a table of CDB in → status, sense and response bytes out, over three
 * cdrom LUNs (a 1 MiB CD image, an empty drive, a sparse 5.1 GB image
 * that must be a DVD-ROM), then the behaviours that span commands (media
 * events, host eject requests, read-only media).
 */
#include "fakehost.h"
#include "bytes.h"
#include "sense.h"
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define CD_BLOCKS 512u                 /* 1 MiB: CD-ROM */
#define DVD_BLOCKS 2500000u            /* 5.12 GB: DVD-ROM, two layers */

enum { CD = 0, EMPTY = 1, DVD = 2 };

static struct fh_dev d;
static char cd_img[64], dvd_img[64];

/* Block i of the CD image is filled with byte i. */
static const char *make_image(char *path, uint64_t blocks, bool pattern)
{
	uint8_t blk[2048];
	int fd;

	snprintf(path, 64, "/tmp/netstick-mmc-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	if (ftruncate(fd, (off_t)(blocks * 2048)) < 0)
		abort();
	for (uint64_t i = 0; pattern && i < blocks; i++) {
		memset(blk, (uint8_t)i, sizeof blk);
		if (pwrite(fd, blk, sizeof blk, (off_t)(i * 2048)) != 2048)
			abort();
	}
	close(fd);
	return path;
}

static void up(void)
{
	struct fh_lun_cfg luns[3] = {
		{ .media = make_image(cd_img, CD_BLOCKS, true), .cdrom = true },
		{ .media = NULL, .cdrom = true },
		{ .media = make_image(dvd_img, DVD_BLOCKS, false), .cdrom = true },
	};

	if (fh_dev_init(&d, luns, 3, 16384, 4, 512) < 0)
		abort();
	fh_dev_clear_ua(&d);
}

static void down(void)
{
	CHECK_EQ(d.fh.violations, 0);
	fh_dev_fini(&d);
	unlink(cd_img);
	unlink(dvd_img);
}

/* --- the table ----------------------------------------------------------- */

struct byte_check { uint16_t at1; uint8_t v; };   /* at1: offset + 1 */
#define B(off, val) { (off) + 1, (val) }

struct mmc_case {
	const char *name;
	unsigned lun;
	uint8_t cdb[12];
	uint32_t host_len;          /* IN bytes the host asks for */
	uint32_t sense;             /* SENSE_NONE: GOOD */
	int data_len;               /* bytes expected, -1: don't check */
	struct byte_check bytes[14];
};

#define ILLEGAL_MODE SENSE(0x05, 0x64, 0x00)
#define INCOMPATIBLE SENSE(0x05, 0x30, 0x02)

static const struct mmc_case cases[] = {
	/* INQUIRY, VPD */
	{ "inquiry_type_05_removable", CD, { 0x12, 0, 0, 0, 36 }, 36,
	  SENSE_NONE, 36, { B(0, 0x05), B(1, 0x80) } },
	{ "vpd_pages_no_block_limits", CD, { 0x12, 1, 0, 0, 64 }, 64,
	  SENSE_NONE, 7, { B(0, 0x05), B(3, 3), B(4, 0), B(5, 0x80),
			   B(6, 0x83) } },
	{ "vpd_b0_refused", CD, { 0x12, 1, 0xb0, 0, 64 }, 64,
	  SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	/* READ CAPACITY: 2048-byte blocks */
	{ "read_capacity_cd", CD, { 0x25 }, 8, SENSE_NONE, 8,
	  { B(2, 0x01), B(3, 0xff), B(6, 0x08), B(7, 0x00) } },
	{ "read_capacity_dvd", DVD, { 0x25 }, 8, SENSE_NONE, 8,
	  { B(1, 0x26), B(2, 0x25), B(3, 0x9f), B(6, 0x08) } },
	{ "read_capacity_empty", EMPTY, { 0x25 }, 8,
	  SENSE_NOT_READY_NO_MEDIUM, 0, { { 0 } } },
	{ "read_capacity16_not_mmc", CD, { 0x9e, 0x10 }, 32,
	  SENSE_INVALID_OPCODE, 0, { { 0 } } },
	{ "tur_empty", EMPTY, { 0x00 }, 0, SENSE_NOT_READY_NO_MEDIUM, 0,
	  { { 0 } } },
	/* READ TOC/PMA/ATIP */
	{ "toc_f0_lba", CD, { 0x43, 0, 0, 0, 0, 0, 0, 0, 64 }, 64,
	  SENSE_NONE, 20, { B(1, 18), B(2, 1), B(3, 1), B(5, 0x14), B(6, 1),
			    B(11, 0), B(13, 0x14), B(14, 0xaa), B(18, 0x02),
			    B(19, 0x00) } },
	{ "toc_f0_msf", CD, { 0x43, 2, 0, 0, 0, 0, 0, 0, 64 }, 64,
	  SENSE_NONE, 20, { B(9, 0), B(10, 2), B(11, 0), B(17, 0),
			    B(18, 8), B(19, 62) } },
	{ "toc_f0_leadout_only", CD, { 0x43, 0, 0, 0, 0, 0, 0xaa, 0, 64 }, 64,
	  SENSE_NONE, 12, { B(1, 10), B(6, 0xaa) } },
	{ "toc_f0_track_2_refused", CD, { 0x43, 0, 0, 0, 0, 0, 2, 0, 64 }, 64,
	  SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	{ "toc_f1_session", CD, { 0x43, 0, 1, 0, 0, 0, 0, 0, 64 }, 64,
	  SENSE_NONE, 12, { B(1, 10), B(2, 1), B(3, 1), B(5, 0x14), B(6, 1),
			    B(11, 0) } },
	{ "toc_f1_sff8020_control_byte", CD,
	  { 0x43, 0, 0, 0, 0, 0, 0, 0, 64, 0x40 }, 64, SENSE_NONE, 12,
	  { B(1, 10) } },
	{ "toc_f2_full_msf", CD, { 0x43, 2, 2, 0, 0, 0, 1, 0, 128 }, 128,
	  SENSE_NONE, 48, { B(1, 46), B(4, 1), B(5, 0x14), B(7, 0xa0),
			    B(12, 1), B(18, 0xa1), B(29, 0xa2), B(34, 0),
			    B(35, 8), B(36, 62), B(40, 1), B(45, 0),
			    B(46, 2), B(47, 0) } },
	{ "toc_f5_refused", CD, { 0x43, 0, 5, 0, 0, 0, 0, 0, 64 }, 64,
	  SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	{ "toc_empty", EMPTY, { 0x43, 0, 0, 0, 0, 0, 0, 0, 64 }, 64,
	  SENSE_NOT_READY_NO_MEDIUM, 0, { { 0 } } },
	{ "toc_dvd_leadout_lba", DVD, { 0x43, 0, 0, 0, 0, 0, 0, 0, 64 }, 64,
	  SENSE_NONE, 20, { B(17, 0x26), B(18, 0x25), B(19, 0xa0) } },
	/* GET CONFIGURATION */
	{ "config_rt0_cd", CD, { 0x46, 0, 0, 0, 0, 0, 0, 0, 255 }, 255,
	  SENSE_NONE, 80, { B(3, 76), B(6, 0), B(7, 0x08), B(9, 0x00),
			    B(10, 0x03), B(11, 8), B(13, 0x10), B(14, 0),
			    B(17, 0x08), B(18, 1), B(21, 0x01), B(22, 0x0b),
			    B(27, 0x08), B(28, 0x01) } },
	{ "config_rt0_empty_no_profile", EMPTY,
	  { 0x46, 0, 0, 0, 0, 0, 0, 0, 255 }, 255, SENSE_NONE, 80,
	  { B(6, 0), B(7, 0), B(14, 0), B(18, 0), B(50, 0x00), B(62, 0x08) } },
	{ "config_rt0_dvd", DVD, { 0x46, 0, 0, 0, 0, 0, 0, 0, 255 }, 255,
	  SENSE_NONE, 80, { B(7, 0x10), B(14, 1), B(18, 0), B(57, 16),
			    B(50, 0x01), B(62, 0x08), B(70, 0x05) } },
	{ "config_rt2_cd_read", CD, { 0x46, 2, 0, 0x1e, 0, 0, 0, 0, 255 }, 255,
	  SENSE_NONE, 16, { B(3, 12), B(8, 0), B(9, 0x1e), B(10, 0x09),
			    B(11, 4) } },
	{ "config_rt2_dvd_read_on_cd", CD, { 0x46, 2, 0, 0x1f, 0, 0, 0, 0, 255 },
	  255, SENSE_NONE, 16, { B(9, 0x1f), B(10, 0x04) } },
	{ "config_rt1_empty_current_only", EMPTY,
	  { 0x46, 1, 0, 0, 0, 0, 0, 0, 255 }, 255, SENSE_NONE, 52,
	  { B(3, 48), B(7, 0), B(49, 0x00), B(48, 0x01) } },
	{ "config_rt3_refused", CD, { 0x46, 3, 0, 0, 0, 0, 0, 0, 255 }, 255,
	  SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	{ "config_header_only", CD, { 0x46, 0, 0, 0, 0, 0, 0, 0, 8 }, 8,
	  SENSE_NONE, 8, { B(3, 76), B(7, 0x08) } },
	/* GET EVENT STATUS NOTIFICATION */
	{ "gesn_media_no_change", CD, { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8 }, 8,
	  SENSE_NONE, 8, { B(1, 6), B(2, 4), B(3, 0x16), B(4, 0),
			   B(5, 0x02) } },
	{ "gesn_media_empty_door_open", EMPTY,
	  { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8 }, 8, SENSE_NONE, 8,
	  { B(2, 4), B(4, 0), B(5, 0x01) } },
	{ "gesn_power", CD, { 0x4a, 1, 0, 0, 0x04, 0, 0, 0, 8 }, 8,
	  SENSE_NONE, 8, { B(2, 2), B(5, 0x01) } },
	{ "gesn_operational", CD, { 0x4a, 1, 0, 0, 0x02, 0, 0, 0, 8 }, 8,
	  SENSE_NONE, 8, { B(2, 1), B(4, 0), B(5, 0) } },
	{ "gesn_unoffered_class_nea", CD, { 0x4a, 1, 0, 0, 0x40, 0, 0, 0, 8 },
	  8, SENSE_NONE, 4, { B(1, 2), B(2, 0x80), B(3, 0x16) } },
	{ "gesn_async_refused", CD, { 0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8 }, 8,
	  SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	/* READ DISC INFORMATION, READ TRACK INFORMATION */
	{ "disc_info", CD, { 0x51, 0, 0, 0, 0, 0, 0, 0, 34 }, 34, SENSE_NONE,
	  34, { B(1, 32), B(2, 0x0e), B(3, 1), B(4, 1), B(5, 1), B(6, 1),
		B(7, 0x20), B(8, 0x00) } },
	{ "disc_info_empty", EMPTY, { 0x51, 0, 0, 0, 0, 0, 0, 0, 34 }, 34,
	  SENSE_NOT_READY_NO_MEDIUM, 0, { { 0 } } },
	{ "disc_info_type_1_refused", CD, { 0x51, 1, 0, 0, 0, 0, 0, 0, 34 },
	  34, SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	{ "track_info_track_1", CD, { 0x52, 1, 0, 0, 0, 1, 0, 0, 48 }, 48,
	  SENSE_NONE, 48, { B(1, 46), B(2, 1), B(3, 1), B(5, 0x04),
			    B(6, 0x01), B(11, 0), B(26, 0x02), B(27, 0x00),
			    B(30, 0x01), B(31, 0xff) } },
	{ "track_info_lba", CD, { 0x52, 0, 0, 0, 0x01, 0, 0, 0, 48 }, 48,
	  SENSE_NONE, 48, { B(2, 1) } },
	{ "track_info_session_1", CD, { 0x52, 2, 0, 0, 0, 1, 0, 0, 48 }, 48,
	  SENSE_NONE, 48, { B(2, 1) } },
	{ "track_info_track_2_refused", CD, { 0x52, 1, 0, 0, 0, 2, 0, 0, 48 },
	  48, SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	{ "track_info_lba_past_end", CD, { 0x52, 0, 0, 0, 0x02, 0, 0, 0, 48 },
	  48, SENSE_LBA_OUT_OF_RANGE, 0, { { 0 } } },
	/* READ DISC STRUCTURE: DVD only */
	{ "disc_structure_on_cd_fails", CD,
	  { 0xad, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x04 }, 2052, INCOMPATIBLE, 0,
	  { { 0 } } },
	{ "disc_structure_empty", EMPTY,
	  { 0xad, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x04 }, 2052,
	  SENSE_NOT_READY_NO_MEDIUM, 0, { { 0 } } },
	{ "disc_structure_dvd_physical", DVD,
	  { 0xad, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x04 }, 2052, SENSE_NONE, 2052,
	  { B(0, 0x08), B(1, 0x02), B(4, 0x01), B(6, 0x21), B(9, 0x03),
	    B(13, 0x29), B(14, 0x25), B(15, 0x9f) } },
	{ "disc_structure_dvd_copyright", DVD,
	  { 0xad, 0, 0, 0, 0, 0, 0, 0x01, 0, 8 }, 8, SENSE_NONE, 8,
	  { B(1, 6), B(4, 0), B(5, 0) } },
	{ "disc_structure_dvd_list", DVD,
	  { 0xad, 0, 0, 0, 0, 0, 0, 0xff, 0, 64 }, 64, SENSE_NONE, 20,
	  { B(1, 18), B(4, 0x00), B(5, 0x40), B(16, 0xff) } },
	{ "disc_structure_dvd_disc_key_refused", DVD,
	  { 0xad, 0, 0, 0, 0, 0, 0, 0x02, 0, 64 }, 64,
	  SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	{ "disc_structure_layer_2_refused", DVD,
	  { 0xad, 0, 0, 0, 0, 0, 2, 0x00, 0x08, 0x04 }, 2052,
	  SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	/* MODE SENSE: page 0x2A, no block descriptors */
	{ "mode_sense10_caps", CD, { 0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 64 }, 64,
	  SENSE_NONE, 34, { B(1, 32), B(7, 0), B(8, 0x2a), B(9, 0x18),
			    B(10, 0x08), B(11, 0), B(14, 0x29), B(16, 0x1b),
			    B(17, 0x90) } },
	{ "mode_sense6_all_pages", CD, { 0x1a, 0, 0x3f, 0, 255 }, 255,
	  SENSE_NONE, 42, { B(0, 41), B(3, 0), B(4, 0x01), B(16, 0x2a) } },
	{ "mode_sense6_caching_not_mmc", CD, { 0x1a, 0, 0x08, 0, 255 }, 255,
	  SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	{ "mode_sense10_caps_empty", EMPTY,
	  { 0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 64 }, 64, SENSE_NONE, 34,
	  { B(8, 0x2a) } },
	/* SET CD SPEED, MECHANISM STATUS, GET PERFORMANCE */
	{ "set_cd_speed", CD, { 0xbb, 0, 0xff, 0xff, 0xff, 0xff }, 0,
	  SENSE_NONE, 0, { { 0 } } },
	{ "mechanism_status_loaded", CD, { 0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8 }, 8,
	  SENSE_NONE, 8, { B(0, 0), B(1, 0), B(5, 0) } },
	{ "mechanism_status_empty", EMPTY,
	  { 0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8 }, 8, SENSE_NONE, 8,
	  { B(1, 0x10) } },
	{ "get_performance_read", CD,
	  { 0xac, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0x00 }, 24, SENSE_NONE, 24,
	  { B(3, 20), B(4, 0), B(14, 0x1b), B(15, 0x90), B(18, 0x01),
	    B(19, 0xff), B(22, 0x1b), B(23, 0x90) } },
	{ "get_performance_write_none", CD,
	  { 0xac, 0x14, 0, 0, 0, 0, 0, 0, 0, 1, 0x00 }, 24, SENSE_NONE, 8,
	  { B(3, 4), B(4, 0x02) } },
	{ "get_performance_write_speed", CD,
	  { 0xac, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0x03 }, 72, SENSE_NONE, 8,
	  { B(3, 4) } },
	{ "get_performance_type_5_refused", CD,
	  { 0xac, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0x05 }, 72,
	  SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	{ "get_performance_empty", EMPTY,
	  { 0xac, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0x00 }, 24,
	  SENSE_NOT_READY_NO_MEDIUM, 0, { { 0 } } },
	/* Reads: 2048-byte blocks */
	{ "read10_two_blocks", CD, { 0x28, 0, 0, 0, 0, 5, 0, 0, 2 }, 4096,
	  SENSE_NONE, 4096, { B(0, 5), B(2047, 5), B(2048, 6), B(4095, 6) } },
	{ "read12_block", CD, { 0xa8, 0, 0, 0, 0, 9, 0, 0, 0, 1 }, 2048,
	  SENSE_NONE, 2048, { B(0, 9), B(2047, 9) } },
	{ "read10_past_end", CD, { 0x28, 0, 0, 0, 0x02, 0, 0, 0, 1 }, 2048,
	  SENSE_LBA_OUT_OF_RANGE, 0, { { 0 } } },
	{ "read10_dvd_last_block", DVD,
	  { 0x28, 0, 0x00, 0x26, 0x25, 0x9f, 0, 0, 1 }, 2048, SENSE_NONE, 2048,
	  { B(0, 0), B(2047, 0) } },
	{ "read_cd_user_data", CD, { 0xbe, 0, 0, 0, 0, 3, 0, 0, 1, 0x10 },
	  2048, SENSE_NONE, 2048, { B(0, 3), B(2047, 3) } },
	{ "read_cd_mode1", CD, { 0xbe, 0x08, 0, 0, 0, 7, 0, 0, 1, 0x10 },
	  2048, SENSE_NONE, 2048, { B(0, 7) } },
	{ "read_cd_no_fields", CD, { 0xbe, 0, 0, 0, 0, 3, 0, 0, 1, 0x00 },
	  0, SENSE_NONE, 0, { { 0 } } },
	{ "read_cd_audio_illegal_mode", CD,
	  { 0xbe, 0x04, 0, 0, 0, 3, 0, 0, 1, 0x10 }, 2352, ILLEGAL_MODE, 0,
	  { { 0 } } },
	{ "read_cd_raw_refused", CD, { 0xbe, 0, 0, 0, 0, 3, 0, 0, 1, 0xf8 },
	  2352, SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	{ "read_cd_subchannel_refused", CD,
	  { 0xbe, 0, 0, 0, 0, 3, 0, 0, 1, 0x10, 0x01 }, 2064,
	  SENSE_INVALID_FIELD_CDB, 0, { { 0 } } },
	{ "read6_not_mmc", CD, { 0x08, 0, 0, 0, 1 }, 2048,
	  SENSE_INVALID_OPCODE, 0, { { 0 } } },
};

static void run_case(const struct mmc_case *k)
{
	struct fh_result r;
	uint32_t sense;

	r = fh_command(&d.fh, k->lun, k->cdb, 12,
		       k->host_len ? FH_IN : FH_NONE, k->host_len, NULL);
	if (!r.csw_ok) {
		fprintf(stderr, "  %s: no CSW\n", k->name);
		test_cur_failed = 1;
		return;
	}
	if (k->sense == SENSE_NONE && r.status != BOT_CSW_GOOD) {
		fprintf(stderr, "  %s: failed with %06x\n", k->name,
			fh_request_sense(&d.fh, k->lun, NULL));
		test_cur_failed = 1;
		return;
	}
	if (k->sense != SENSE_NONE) {
		sense = r.status == BOT_CSW_FAILED
			? fh_request_sense(&d.fh, k->lun, NULL) : SENSE_NONE;
		if (sense != k->sense) {
			fprintf(stderr, "  %s: sense %06x, want %06x\n",
				k->name, sense, k->sense);
			test_cur_failed = 1;
		}
		return;
	}
	if (k->data_len >= 0 && k->host_len - r.residue != (uint32_t)k->data_len) {
		fprintf(stderr, "  %s: %u bytes, want %d\n", k->name,
			k->host_len - r.residue, k->data_len);
		test_cur_failed = 1;
	}
	for (const struct byte_check *b = k->bytes;
	     b < k->bytes + 14 && b->at1; b++)
		if (b->at1 - 1u >= r.data_len || r.data[b->at1 - 1] != b->v) {
			fprintf(stderr, "  %s: byte %u is 0x%02x, want 0x%02x\n",
				k->name, b->at1 - 1u,
				b->at1 - 1u < r.data_len ? r.data[b->at1 - 1]
							 : 0xffu, b->v);
			test_cur_failed = 1;
		}
}

TEST(test_mmc_table)
{
	up();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int before = test_cur_failed;

		test_cur_failed = 0;
		run_case(&cases[i]);
		if (test_cur_failed)
			fprintf(stderr, "  case %s failed\n", cases[i].name);
		test_cur_failed |= before;
	}
	down();
}

/* --- behaviours across commands ------------------------------------------ */

static const uint8_t cdb_gesn[10] = { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8 };
static const uint8_t cdb_eject[6] = { 0x1b, 0, 0, 0, 0x02, 0 };
static const uint8_t cdb_prevent[6] = { 0x1e, 0, 0, 0, 1, 0 };
static const uint8_t cdb_allow[6] = { 0x1e, 0, 0, 0, 0, 0 };

/* The media event code GESN reports now (0xff if it failed). */
static unsigned gesn_event(unsigned lun)
{
	struct fh_result r = fh_command(&d.fh, lun, cdb_gesn, 10, FH_IN, 8,
					NULL);

	if (!r.csw_ok || r.status != BOT_CSW_GOOD || r.data_len < 8)
		return 0xff;
	return r.data[4] & 0x0f;
}

static uint8_t nodata(unsigned lun, const uint8_t *cdb, unsigned len)
{
	struct fh_result r = fh_command(&d.fh, lun, cdb, len, FH_NONE, 0, NULL);

	return r.csw_ok ? r.status : 0xff;
}

TEST(test_mmc_host_eject_prevented_then_allowed)
{
	struct lun_info li;

	up();
	CHECK_EQ(nodata(CD, cdb_prevent, 6), BOT_CSW_GOOD);
	CHECK_EQ(nodata(CD, cdb_eject, 6), BOT_CSW_FAILED);
	CHECK_EQ(fh_request_sense(&d.fh, CD, NULL), SENSE_REMOVAL_PREVENTED);
	lun_get_info(&d.luns[CD], &li);
	CHECK_EQ(li.eject_requests, 1);
	CHECK_EQ(li.eject_refused, 1);
	CHECK_EQ(li.state, LUN_READY);
	CHECK_EQ(nodata(CD, cdb_allow, 6), BOT_CSW_GOOD);
	CHECK_EQ(nodata(CD, cdb_eject, 6), BOT_CSW_GOOD);
	fh_deliver_all(&d.fh);
	lun_get_info(&d.luns[CD], &li);
	CHECK_EQ(li.eject_requests, 2);
	CHECK_EQ(li.eject_refused, 1);
	CHECK_EQ(li.state, LUN_EMPTY);
	CHECK(li.host_ejected);
	CHECK_EQ(gesn_event(CD), 3);           /* media removal */
	CHECK_EQ(gesn_event(CD), 0);
	down();
}

TEST(test_mmc_host_eject_refused_by_config)
{
	struct lun_info li;

	up();
	d.luns[CD].host_eject = false;
	CHECK_EQ(nodata(CD, cdb_eject, 6), BOT_CSW_FAILED);
	CHECK_EQ(fh_request_sense(&d.fh, CD, NULL), SENSE_REMOVAL_PREVENTED);
	lun_get_info(&d.luns[CD], &li);
	CHECK_EQ(li.state, LUN_READY);
	CHECK_EQ(li.eject_requests, 1);
	CHECK_EQ(li.eject_refused, 1);
	CHECK_EQ(gesn_event(CD), 0);
	down();
}

TEST(test_mmc_new_media_event_after_insert)
{
	char err[128];

	up();
	CHECK_EQ(gesn_event(EMPTY), 0);
	CHECK_EQ(lun_insert(&d.luns[EMPTY], cd_img, false, err, sizeof err), 0);
	CHECK_EQ(gesn_event(EMPTY), 2);        /* new media */
	CHECK_EQ(gesn_event(EMPTY), 0);
	CHECK_EQ(d.luns[EMPTY].readonly, true); /* a CD is never writable */
	down();
}

TEST(test_mmc_admin_eject_refused_raises_eject_request)
{
	up();
	CHECK_EQ(nodata(CD, cdb_prevent, 6), BOT_CSW_GOOD);
	CHECK_EQ(lun_eject(&d.luns[CD], false, false), -1);
	CHECK_EQ(gesn_event(CD), 1);           /* eject request */
	CHECK_EQ(gesn_event(CD), 0);
	down();
}

TEST(test_mmc_write_is_data_protect)
{
	static const uint8_t w[10] = { 0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0 };
	uint8_t blk[2048] = { 0 };
	struct fh_result r;

	up();
	r = fh_command(&d.fh, CD, w, 10, FH_OUT, sizeof blk, blk);
	CHECK_EQ(r.status, BOT_CSW_FAILED);
	CHECK_EQ(fh_request_sense(&d.fh, CD, NULL), SENSE_WRITE_PROTECTED);
	down();
}

TEST(test_mmc_gesn_and_config_exempt_from_unit_attention)
{
	up();
	lun_add_ua(&d.luns[CD], LUN_UA_MEDIUM_CHANGED);
	CHECK(gesn_event(CD) != 0xff);
	CHECK(lun_has_ua(&d.luns[CD]));
	down();
}

TEST(test_mmc_profile_by_size)
{
	CHECK_EQ(mmc_profile_of(0), MMC_PROFILE_NONE);
	CHECK_EQ(mmc_profile_of(2048), MMC_PROFILE_CDROM);
	CHECK_EQ(mmc_profile_of(700ull << 20), MMC_PROFILE_CDROM);
	/* The last CD: its lead-out at 99:59:74. */
	CHECK_EQ(mmc_profile_of(449849ull * 2048), MMC_PROFILE_CDROM);
	CHECK_EQ(mmc_profile_of(449850ull * 2048), MMC_PROFILE_DVDROM);
	CHECK_EQ(mmc_profile_of(5ull << 30), MMC_PROFILE_DVDROM);
	CHECK_STR(mmc_profile_name(MMC_PROFILE_DVDROM), "dvd-rom");
}

int main(void)
{
	RUN(test_mmc_table);
	RUN(test_mmc_host_eject_prevented_then_allowed);
	RUN(test_mmc_host_eject_refused_by_config);
	RUN(test_mmc_new_media_event_after_insert);
	RUN(test_mmc_admin_eject_refused_raises_eject_request);
	RUN(test_mmc_write_is_data_protect);
	RUN(test_mmc_gesn_and_config_exempt_from_unit_attention);
	RUN(test_mmc_profile_by_size);
	return test_summary();
}
