/* scsi_mmc.c — the CD/DVD-ROM command set (MMC-6 subset): the table, the
 * device rules, READ TOC/PMA/ATIP, READ DISC INFORMATION, READ TRACK
 * INFORMATION, READ CD, SET CD SPEED, MECHANISM STATUS and MODE page 0x2A.
 * GET CONFIGURATION, GET EVENT STATUS NOTIFICATION, READ DISC STRUCTURE
 * and GET PERFORMANCE are in scsi_mmc_features.c.
 *
 * The device a cdrom LUN presents: peripheral device type 0x05, always
 * removable, 2048-byte logical blocks, read-only media (a WRITE gets DATA
 * PROTECT / WRITE PROTECTED), no block descriptors in MODE SENSE, VPD
 * 0x00/0x80/0x83.  The media is one finalised disc: a single session with
 * a single data track (mode 1) from LBA 0 to the end of the image, the
 * lead-out right after it.  It is a CD-ROM while every address fits MSF
 * (99:59:74), else a DVD-ROM (mmc_profile_of), so images of any size work.
 *
 *   MSF = LBA + 150 frames (2 s of pre-gap); 75 frames a second.
 */
#include "scsi_int.h"
#include "bytes.h"
#include "sense.h"

#include <string.h>

#define MMC_BLOCK 2048
/* The last address MSF can write is 99:59:74: frame 449,999. */
#define MMC_MSF_MAX_FRAME (99u * 4500 + 59 * 75 + 74)
#define MMC_PREGAP 150u
#define MMC_LEADOUT 0xaa
/* Track 1: ADR 1 (Q sub-channel has position), control 4 (data, copy
 * prohibited). */
#define MMC_ADR_CONTROL 0x14
/* Nominal read speed for page 0x2A and GET PERFORMANCE, kB/s (a
 * 40x CD drive; hosts only show it). */
#define MMC_SPEED_KBS 7056

#define SENSE_ILLEGAL_MODE SENSE(0x05, 0x64, 0x00) /* for this track */

uint16_t mmc_profile_of(uint64_t size)
{
	uint64_t blocks = size / MMC_BLOCK;

	if (blocks == 0)
		return MMC_PROFILE_NONE;
	return blocks + MMC_PREGAP <= MMC_MSF_MAX_FRAME ? MMC_PROFILE_CDROM
							: MMC_PROFILE_DVDROM;
}

const char *mmc_profile_name(uint16_t profile)
{
	switch (profile) {
	case MMC_PROFILE_CDROM: return "cd-rom";
	case MMC_PROFILE_DVDROM: return "dvd-rom";
	default: return NULL;
	}
}

/* An address in the 4 bytes at p: an LBA, or 0/M/S/F (M saturates: a
 * DVD's end has no MSF form). */
static void mmc_put_addr(uint8_t *p, uint64_t lba, bool msf)
{
	uint64_t f = lba + MMC_PREGAP;

	if (!msf) {
		put_be32(p, (uint32_t)lba);
		return;
	}
	if (f / 4500 > 0xff)
		f = 0xffull * 4500 + 59 * 75 + 74;
	p[0] = 0;
	p[1] = (uint8_t)(f / 4500);
	p[2] = (uint8_t)(f / 75 % 60);
	p[3] = (uint8_t)(f % 75);
}

/* --- READ TOC/PMA/ATIP (0x43) --------------------------------------------
 *
 *   format 0 TOC:          4-byte header, 8-byte descriptors: track 1,
 *                          lead-out (0xAA); from track cdb[6] on
 *   format 1 session info: header, one descriptor: first track of the
 *                          last session
 *   format 2 full TOC:     header, 11-byte descriptors: points A0 (first
 *                          track), A1 (last track), A2 (lead-out), 1
 *                          (track 1), always MSF (macOS reads this one)
 */

static uint32_t mmc_toc_desc(uint8_t *p, uint8_t track, uint64_t lba,
			     bool msf)
{
	memset(p, 0, 8);
	p[1] = MMC_ADR_CONTROL;
	p[2] = track;
	mmc_put_addr(p + 4, lba, msf);
	return 8;
}

static uint32_t mmc_full_toc_desc(uint8_t *p, uint8_t point, uint8_t pmin,
				  uint8_t psec, uint8_t pframe)
{
	memset(p, 0, 11);
	p[0] = 1;                          /* session */
	p[1] = MMC_ADR_CONTROL;
	p[3] = point;
	p[8] = pmin;
	p[9] = psec;
	p[10] = pframe;
	return 11;
}

static uint32_t mmc_full_toc(uint8_t *b, uint64_t nblocks)
{
	uint8_t a[4], t[4];
	uint32_t n = 4;

	mmc_put_addr(a, nblocks, true);
	mmc_put_addr(t, 0, true);
	n += mmc_full_toc_desc(b + n, 0xa0, 1, 0x00, 0); /* CD-DA or CD-ROM */
	n += mmc_full_toc_desc(b + n, 0xa1, 1, 0, 0);
	n += mmc_full_toc_desc(b + n, 0xa2, a[1], a[2], a[3]);
	n += mmc_full_toc_desc(b + n, 1, t[1], t[2], t[3]);
	return n;
}

static void mmc_read_toc(const struct scsi_target *t, struct lun *l,
			 struct scsi_cmd *c, const struct lun_snapshot *s)
{
	bool msf = c->cdb[1] & 0x02;
	unsigned format = c->cdb[2] & 0x0f, start = c->cdb[6];
	uint8_t *b = c->buf;
	uint32_t n = 4;

	(void)t; (void)l;
	/* SFF-8020 hosts put the format in the control byte's top bits. */
	if (format == 0 && (c->cdb[9] & 0xc0))
		format = c->cdb[9] >> 6;
	memset(b, 0, 4);
	b[2] = b[3] = 1;                   /* first/last track or session */
	switch (format) {
	case 0:
		if (start > 1 && start != MMC_LEADOUT)
			return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
		if (start <= 1)
			n += mmc_toc_desc(b + n, 1, 0, msf);
		n += mmc_toc_desc(b + n, MMC_LEADOUT, s->nblocks, msf);
		break;
	case 1:
		n += mmc_toc_desc(b + n, 1, 0, msf);
		break;
	case 2:
		n = mmc_full_toc(b, s->nblocks);
		break;
	default:
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	}
	put_be16(b, (uint16_t)(n - 2));
	scsi_reply(c, n, get_be16(c->cdb + 7));
}

/* --- READ DISC INFORMATION (0x51) ---------------------------------------- */

#define MMC_DISC_INFO_LEN 34

static void mmc_read_disc_info(const struct scsi_target *t, struct lun *l,
			       struct scsi_cmd *c,
			       const struct lun_snapshot *s)
{
	uint8_t *b = c->buf;

	(void)t; (void)l; (void)s;
	if (c->cdb[1] & 0x07)              /* only standard disc information */
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	memset(b, 0, MMC_DISC_INFO_LEN);
	put_be16(b, MMC_DISC_INFO_LEN - 2);
	b[2] = 0x0e;        /* not erasable, last session complete, disc
	                     * complete (finalised) */
	b[3] = 1;           /* first track on disc */
	b[4] = 1;           /* sessions */
	b[5] = 1;           /* first track in last session */
	b[6] = 1;           /* last track in last session */
	b[7] = 0x20;        /* URU: unrestricted use */
	b[8] = 0x00;        /* disc type: CD-DA or CD-ROM */
	put_be32(b + 16, 0xffffffff);      /* no next session: lead-in ... */
	put_be32(b + 20, 0xffffffff);      /* ... and lead-out unknown */
	scsi_reply(c, MMC_DISC_INFO_LEN, get_be16(c->cdb + 7));
}

/* --- READ TRACK INFORMATION (0x52) ---------------------------------------
 *
 *   address type (cdb[1] & 3)   0 LBA   1 track number   2 session number
 *   every valid address names track 1 of session 1.
 */

#define MMC_TRACK_INFO_LEN 48

static bool mmc_track_of(const struct scsi_cmd *c,
			 const struct lun_snapshot *s, uint32_t *sense)
{
	uint32_t a = get_be32(c->cdb + 2);

	*sense = SENSE_INVALID_FIELD_CDB;
	switch (c->cdb[1] & 0x03) {
	case 0:
		*sense = SENSE_LBA_OUT_OF_RANGE;
		return a < s->nblocks;
	case 1: return a == 1;             /* 0 is the lead-in, 0xFF none */
	case 2: return a == 1;
	default: return false;
	}
}

static void mmc_read_track_info(const struct scsi_target *t, struct lun *l,
				struct scsi_cmd *c,
				const struct lun_snapshot *s)
{
	uint64_t nb = s->nblocks;
	uint8_t *b = c->buf;
	uint32_t sense;

	(void)t; (void)l;
	if (!mmc_track_of(c, s, &sense))
		return scsi_fail(c, sense);
	memset(b, 0, MMC_TRACK_INFO_LEN);
	put_be16(b, MMC_TRACK_INFO_LEN - 2);
	b[2] = 1;                          /* track number (LSB) */
	b[3] = 1;                          /* session number (LSB) */
	b[5] = 0x04;                       /* track mode: data, uninterrupted */
	b[6] = 0x01;                       /* data mode 1 */
	put_be32(b + 8, 0);                /* track start address */
	put_be32(b + 24, nb > UINT32_MAX ? UINT32_MAX : (uint32_t)nb);
	put_be32(b + 28, nb - 1 > UINT32_MAX ? UINT32_MAX
					     : (uint32_t)(nb - 1));
	scsi_reply(c, MMC_TRACK_INFO_LEN, get_be16(c->cdb + 7));
}

/* --- READ CD (0xBE) -------------------------------------------------------
 *
 * Plain data sectors only: expected sector type any (0) or mode 1 (2),
 * byte 9 = user data only (0x10) or nothing (0x00), no sub-channel.  The
 * bytes are the image's 2048-byte blocks, as READ(12) moves them.
 * Sync, headers, EDC/ECC and C2 would have to be made up: refused.
 */
static void mmc_read_cd(const struct scsi_target *t, struct lun *l,
			struct scsi_cmd *c, const struct lun_snapshot *s)
{
	unsigned type = (c->cdb[1] >> 2) & 0x07;
	uint64_t lba = get_be32(c->cdb + 2);
	uint32_t n = get_be24(c->cdb + 6);

	(void)t;
	if (type != 0 && type != 2)        /* audio, mode 2: not this track */
		return scsi_fail(c, SENSE_ILLEGAL_MODE);
	if ((c->cdb[9] != 0x00 && c->cdb[9] != 0x10) || (c->cdb[10] & 0x07))
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	if (c->cdb[9] == 0x00) {           /* no fields: nothing moves */
		(void)scsi_range_ok(c, s, lba, n);
		return;
	}
	scsi_media_xfer(l, c, s, SCSI_DATA_READ, lba, n);
}

/* --- SET CD SPEED (0xBB), MECHANISM STATUS (0xBD) ------------------------- */

/* Any speed is fine: the media reads as fast as its backend allows. */
static void mmc_set_cd_speed(const struct scsi_target *t, struct lun *l,
			     struct scsi_cmd *c, const struct lun_snapshot *s)
{
	(void)t; (void)l; (void)c; (void)s;
}

#define MMC_MECH_STATUS_LEN 8

static void mmc_mechanism_status(const struct scsi_target *t, struct lun *l,
				 struct scsi_cmd *c,
				 const struct lun_snapshot *s)
{
	uint8_t *b = c->buf;

	(void)t; (void)l;
	memset(b, 0, MMC_MECH_STATUS_LEN);
	/* No changer, slot 0; mechanism idle; the door (tray) is open
	 * while the drive is empty. */
	if (s->state == LUN_EMPTY)
		b[1] = 0x10;
	scsi_reply(c, MMC_MECH_STATUS_LEN, get_be16(c->cdb + 8));
}

/* --- MODE page 0x2A: MM capabilities and mechanical status ---------------- */

#define MMC_CAPS_LEN 0x18

uint32_t mmc_mode_caps_page(const struct lun_snapshot *s, int pc,
			    uint8_t *dst)
{
	memset(dst, 0, MMC_CAPS_LEN + 2);
	dst[0] = 0x2a;
	dst[1] = MMC_CAPS_LEN;
	if (pc == 1)                       /* changeable: nothing */
		return MMC_CAPS_LEN + 2;
	dst[2] = 0x08;                     /* reads DVD-ROM (and CD-ROM) */
	dst[3] = 0x00;                     /* writes nothing */
	/* Tray loading, eject, lock; the lock state is the host's PREVENT. */
	dst[6] = 0x20 | 0x08 | 0x01 | (s->prevent ? 0x02 : 0);
	put_be16(dst + 8, MMC_SPEED_KBS);  /* maximum read speed (obsolete) */
	put_be16(dst + 14, MMC_SPEED_KBS); /* current read speed (obsolete) */
	return MMC_CAPS_LEN + 2;
}

/* --- the table ------------------------------------------------------------ */

enum {
	MMC_OP_READ_TOC = 0x43, MMC_OP_GET_CONFIGURATION = 0x46,
	MMC_OP_GET_EVENT_STATUS = 0x4a, MMC_OP_READ_DISC_INFO = 0x51,
	MMC_OP_READ_TRACK_INFO = 0x52, MMC_OP_GET_PERFORMANCE = 0xac,
	MMC_OP_READ_DISC_STRUCTURE = 0xad, MMC_OP_SET_CD_SPEED = 0xbb,
	MMC_OP_MECHANISM_STATUS = 0xbd, MMC_OP_READ_CD = 0xbe,
};

static const struct scsi_op mmc_ops[] = {
	{ SCSI_OP_READ_CAP10, 10, T_IN, T_MEDIA, scsi_op_read_cap10 },
	{ SCSI_OP_READ10, 10, T_IN, T_MEDIA, scsi_op_read },
	{ SCSI_OP_READ12, 12, T_IN, T_MEDIA, scsi_op_read },
	/* Read-only media: the writes get DATA PROTECT. */
	{ SCSI_OP_WRITE10, 10, T_OUT, T_MEDIA, scsi_op_write },
	{ SCSI_OP_WRITE12, 12, T_OUT, T_MEDIA, scsi_op_write },
	{ SCSI_OP_VERIFY10, 10, T_OUT, T_MEDIA, scsi_op_verify },
	{ SCSI_OP_SYNC10, 10, T_NONE, T_MEDIA, scsi_op_sync },
	{ MMC_OP_READ_TOC, 10, T_IN, T_MEDIA, mmc_read_toc },
	{ MMC_OP_GET_CONFIGURATION, 10, T_IN, T_UAX, mmc_op_get_configuration },
	{ MMC_OP_GET_EVENT_STATUS, 10, T_IN, T_UAX, mmc_op_get_event_status },
	{ MMC_OP_READ_DISC_INFO, 10, T_IN, T_MEDIA, mmc_read_disc_info },
	{ MMC_OP_READ_TRACK_INFO, 10, T_IN, T_MEDIA, mmc_read_track_info },
	{ MMC_OP_GET_PERFORMANCE, 12, T_IN, 0, mmc_op_get_performance },
	{ MMC_OP_READ_DISC_STRUCTURE, 12, T_IN, 0, mmc_op_read_disc_structure },
	{ MMC_OP_SET_CD_SPEED, 12, T_NONE, 0, mmc_set_cd_speed },
	{ MMC_OP_MECHANISM_STATUS, 12, T_IN, 0, mmc_mechanism_status },
	{ MMC_OP_READ_CD, 12, T_IN, T_MEDIA, mmc_read_cd },
};

static const uint8_t mmc_vpd[] = { 0x00, 0x80, 0x83 };
/* Read error recovery, MM capabilities. */
static const uint8_t mmc_mode[] = { 0x01, 0x2a };

const struct scsi_cmdset scsi_mmc_cmdset = {
	.name = "cdrom",
	.device_type = 0x05,
	.block_size = MMC_BLOCK,
	.removable = true,
	.readonly = true,
	.ops = mmc_ops, .nops = SCSI_NOPS(mmc_ops),
	.vpd_pages = mmc_vpd, .nvpd_pages = sizeof mmc_vpd,
	.mode_pages = mmc_mode, .nmode_pages = sizeof mmc_mode,
	.block_descriptors = false,
};
