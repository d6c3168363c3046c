/* scsi_mmc_features.c — what a CD/DVD drive tells the host about itself
 * and its disc: GET CONFIGURATION (0x46), GET EVENT STATUS NOTIFICATION
 * (0x4A), READ DISC STRUCTURE (0xAD) and GET PERFORMANCE (0xAC).
 *
 * GET CONFIGURATION: an 8-byte header (data length, current profile: 0
 * while the drive is empty, or macOS keeps an ejected image mounted), then
 * feature descriptors in code order:
 *
 *   code    feature             ver  persistent  current
 *   0x0000  Profile List        0    yes         yes    DVD-ROM, CD-ROM
 *   0x0001  Core                2    yes         yes    USB, DBE
 *   0x0002  Morphing            1    yes         yes    OCEvent
 *   0x0003  Removable Medium    0    yes         yes    tray, eject, lock
 *   0x0010  Random Readable     0    no          media  2048, blocking
 *   0x001E  CD Read             2    no          CD
 *   0x001F  DVD Read            1    no          DVD
 *   0x0100  Power Management    0    yes         yes
 *
 * RT 0: every feature from the starting one; 1: the current ones; 2: only
 * the starting one.
 */
#include "scsi_int.h"
#include "bytes.h"
#include "sense.h"

#include <string.h>

#define MMC_IFACE_USB 0x00000008   /* Core: physical interface standard */
#define MMC_SPEED_KBS 7056          /* as page 0x2A says */
#define SENSE_INCOMPATIBLE_FORMAT SENSE(0x05, 0x30, 0x02)

struct mmc_feature {
	uint16_t code;
	uint8_t version;
	bool persistent;
	/* Writes the additional data at p for the current profile prof;
	 * returns its length; sets *current. */
	uint8_t (*data)(uint16_t prof, uint8_t *p, bool *current);
};

static uint8_t feat_profiles(uint16_t prof, uint8_t *p, bool *cur)
{
	static const uint16_t list[] = { MMC_PROFILE_DVDROM,
					 MMC_PROFILE_CDROM };

	for (unsigned i = 0; i < 2; i++) {
		memset(p + 4 * i, 0, 4);
		put_be16(p + 4 * i, list[i]);
		p[4 * i + 2] = prof == list[i];    /* CurrentP */
	}
	*cur = true;
	return 8;
}

static uint8_t feat_core(uint16_t prof, uint8_t *p, bool *cur)
{
	(void)prof;
	memset(p, 0, 8);
	put_be32(p, MMC_IFACE_USB);
	p[4] = 0x01;                       /* DBE */
	*cur = true;
	return 8;
}

static uint8_t feat_morphing(uint16_t prof, uint8_t *p, bool *cur)
{
	(void)prof;
	memset(p, 0, 4);
	p[0] = 0x02;                       /* OCEvent: GESN operational */
	*cur = true;
	return 4;
}

static uint8_t feat_removable(uint16_t prof, uint8_t *p, bool *cur)
{
	(void)prof;
	memset(p, 0, 4);
	p[0] = 0x20 | 0x08 | 0x01;         /* tray, Eject, Lock */
	*cur = true;
	return 4;
}

static uint8_t feat_random_readable(uint16_t prof, uint8_t *p, bool *cur)
{
	memset(p, 0, 8);
	put_be32(p, 2048);
	put_be16(p + 4, prof == MMC_PROFILE_DVDROM ? 16 : 1); /* blocking */
	*cur = prof != MMC_PROFILE_NONE;
	return 8;
}

static uint8_t feat_cd_read(uint16_t prof, uint8_t *p, bool *cur)
{
	memset(p, 0, 4);                   /* no CD-Text, C2, DAP */
	*cur = prof == MMC_PROFILE_CDROM;
	return 4;
}

static uint8_t feat_dvd_read(uint16_t prof, uint8_t *p, bool *cur)
{
	memset(p, 0, 4);                   /* no MULTI110, DUAL-R */
	*cur = prof == MMC_PROFILE_DVDROM;
	return 4;
}

static uint8_t feat_power(uint16_t prof, uint8_t *p, bool *cur)
{
	(void)prof; (void)p;
	*cur = true;
	return 0;
}

static const struct mmc_feature mmc_features[] = {
	{ 0x0000, 0, true, feat_profiles },
	{ 0x0001, 2, true, feat_core },
	{ 0x0002, 1, true, feat_morphing },
	{ 0x0003, 0, true, feat_removable },
	{ 0x0010, 0, false, feat_random_readable },
	{ 0x001e, 2, false, feat_cd_read },
	{ 0x001f, 1, false, feat_dvd_read },
	{ 0x0100, 0, true, feat_power },
};

#define MMC_CONFIG_HDR 8

/* Appends feature f at p if the request type wants it; returns bytes. */
static uint32_t mmc_feature_desc(const struct mmc_feature *f, uint16_t prof,
				 unsigned rt, uint8_t *p)
{
	bool cur = false;
	uint8_t n = f->data(prof, p + 4, &cur);

	if (rt == 1 && !cur)
		return 0;
	put_be16(p, f->code);
	p[2] = (uint8_t)(f->version << 2 | (f->persistent ? 0x02 : 0) |
			 (cur ? 0x01 : 0));
	p[3] = n;
	return 4u + n;
}

void mmc_op_get_configuration(const struct scsi_target *t, struct lun *l,
			      struct scsi_cmd *c,
			      const struct lun_snapshot *s)
{
	unsigned rt = c->cdb[1] & 0x03;
	uint16_t start = get_be16(c->cdb + 2);
	uint16_t prof = s->state == LUN_READY
			? mmc_profile_of(s->nblocks << l->block_shift) : 0;
	uint8_t *b = c->buf;
	uint32_t n = MMC_CONFIG_HDR;

	(void)t;
	if (rt == 3)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	memset(b, 0, MMC_CONFIG_HDR);
	for (size_t i = 0; i < SCSI_NOPS(mmc_features); i++) {
		const struct mmc_feature *f = &mmc_features[i];

		if (f->code < start || (rt == 2 && f->code != start))
			continue;
		n += mmc_feature_desc(f, prof, rt, b + n);
	}
	put_be32(b, n - 4);
	put_be16(b + 6, prof);
	scsi_reply(c, n, get_be16(c->cdb + 7));
}

/* --- GET EVENT STATUS NOTIFICATION ----------------------------------------
 *
 * Polled only.  Classes offered: operational change (1), power management
 * (2), media (4).  The media class reports the LUN's media events one per
 * command (lun_take_media_event: eject request, media removal, new
 * media); with none pending, a no-change descriptor for the media class
 * (if asked for) carrying whether media is present, else for the lowest
 * class asked for.  No class offered asked for: NEA, header only.
 *
 *   header  [0..1] length after them  [2] NEA | class  [3] classes offered
 *   media   [4] event code  [5] bit1 media present, bit0 door open
 */

enum { GESN_OPERATIONAL = 1, GESN_POWER = 2, GESN_MEDIA = 4 };
#define GESN_OFFERED (1u << GESN_OPERATIONAL | 1u << GESN_POWER | \
		      1u << GESN_MEDIA)
#define GESN_LEN 8

static uint8_t gesn_media_code(unsigned ev)
{
	switch (ev) {
	case LUN_ME_EJECT_REQUEST: return 1;
	case LUN_ME_NEW_MEDIA: return 2;
	case LUN_ME_REMOVAL: return 3;
	default: return 0;
	}
}

static unsigned gesn_class(unsigned asked)
{
	if (asked & (1u << GESN_MEDIA))
		return GESN_MEDIA;
	return asked & (1u << GESN_OPERATIONAL) ? GESN_OPERATIONAL
						: GESN_POWER;
}

void mmc_op_get_event_status(const struct scsi_target *t, struct lun *l,
			     struct scsi_cmd *c,
			     const struct lun_snapshot *s)
{
	unsigned asked = c->cdb[4] & GESN_OFFERED, cls;
	uint32_t alloc = get_be16(c->cdb + 7);
	uint8_t *b = c->buf;

	(void)t;
	if (!(c->cdb[1] & 0x01))           /* asynchronous: not offered */
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	memset(b, 0, GESN_LEN);
	b[3] = GESN_OFFERED;
	if (!asked) {
		put_be16(b, 2);
		b[2] = 0x80;                   /* NEA */
		return scsi_reply(c, 4, alloc);
	}
	cls = gesn_class(asked);
	put_be16(b, GESN_LEN - 2);
	b[2] = (uint8_t)cls;
	if (cls == GESN_MEDIA) {
		/* An event is taken only when the host can see all of it. */
		if (alloc >= GESN_LEN)
			b[4] = gesn_media_code(lun_take_media_event(l));
		b[5] = s->state == LUN_READY || s->state == LUN_LOADING
		       ? 0x02 : 0x01;
	} else if (cls == GESN_POWER) {
		b[5] = 0x01;                   /* active */
	} else if (s->prevent) {
		b[5] = 0x80;                   /* persistent prevent */
	}
	scsi_reply(c, GESN_LEN, alloc);
}

/* --- READ DISC STRUCTURE (DVD) --------------------------------------------
 *
 * Only for DVD media (media type 0): on a CD it fails with 05/30/02
 * CANNOT READ MEDIUM - INCOMPATIBLE FORMAT, which tells Windows the disc
 * is not a DVD.  Formats: 0x00 physical format, 0x01 copyright (no
 * protection), 0x04 manufacturing information (empty), 0xFF the list.
 */

#define DVD_LAYER_BLOCKS 2295104u   /* single-layer DVD-ROM capacity */
#define DVD_START_PSN 0x30000u

static uint32_t dvd_physical(const struct lun_snapshot *s, uint8_t *p)
{
	uint64_t nb = s->nblocks;
	bool dual = nb > DVD_LAYER_BLOCKS;

	memset(p, 0, 2048);
	p[0] = 0x01;                       /* DVD-ROM, part version 1 */
	p[1] = 0x02;                       /* 120 mm, 10.08 Mbit/s */
	p[2] = (dual ? 0x20 : 0) | 0x01;   /* layers, PTP, embossed */
	put_be32(p + 4, DVD_START_PSN);
	put_be32(p + 8, (uint32_t)(DVD_START_PSN + nb - 1));
	if (dual)
		put_be32(p + 12, (uint32_t)(DVD_START_PSN + (nb + 1) / 2 - 1));
	return 2048;
}

static uint32_t dvd_structure_list(uint8_t *p)
{
	static const struct { uint8_t format; uint16_t len; } list[] = {
		{ 0x00, 2048 + 4 }, { 0x01, 4 + 4 }, { 0x04, 2048 + 4 },
		{ 0xff, 4 + 16 },
	};

	for (unsigned i = 0; i < 4; i++) {
		p[4 * i] = list[i].format;
		p[4 * i + 1] = 0x40;           /* RDS: READ DISC STRUCTURE */
		put_be16(p + 4 * i + 2, list[i].len);
	}
	return 16;
}

void mmc_op_read_disc_structure(const struct scsi_target *t, struct lun *l,
				struct scsi_cmd *c,
				const struct lun_snapshot *s)
{
	unsigned format = c->cdb[7], layer = c->cdb[6];
	uint8_t *b = c->buf;
	uint32_t n;

	(void)t;
	if ((c->cdb[1] & 0x0f) != 0)       /* only DVD structures */
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	if (s->state != LUN_READY)
		return scsi_fail(c, scsi_not_ready_sense(s->state));
	if (mmc_profile_of(s->nblocks << l->block_shift) != MMC_PROFILE_DVDROM)
		return scsi_fail(c, SENSE_INCOMPATIBLE_FORMAT);
	if (layer > (s->nblocks > DVD_LAYER_BLOCKS ? 1u : 0u) &&
	    format < 0xc0)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	memset(b, 0, 4);
	switch (format) {
	case 0x00: n = dvd_physical(s, b + 4); break;
	case 0x01: memset(b + 4, 0, 4); n = 4; break;   /* no CSS, all regions */
	case 0x04: memset(b + 4, 0, 2048); n = 2048; break;
	case 0xff: n = dvd_structure_list(b + 4); break;
	default: return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	}
	put_be16(b, (uint16_t)(n + 2));
	scsi_reply(c, n + 4, get_be16(c->cdb + 8));
}

/* --- GET PERFORMANCE -----------------------------------------------------
 *
 *   type 0x00 performance: one 16-byte descriptor, the whole disc at the
 *             nominal speed (none for write performance: a ROM drive)
 *   type 0x03 write speed: no descriptors
 */

#define PERF_HDR 8
#define PERF_DESC 16

void mmc_op_get_performance(const struct scsi_target *t, struct lun *l,
			    struct scsi_cmd *c, const struct lun_snapshot *s)
{
	unsigned type = c->cdb[10], max = get_be16(c->cdb + 8);
	bool write = c->cdb[1] & 0x04;
	uint8_t *b = c->buf;
	uint32_t n = PERF_HDR;

	(void)t; (void)l;
	if (type != 0x00 && type != 0x03)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	if (type == 0x00 && s->state != LUN_READY)
		return scsi_fail(c, scsi_not_ready_sense(s->state));
	memset(b, 0, PERF_HDR + PERF_DESC);
	if (type == 0x00) {
		b[4] = write ? 0x02 : 0;
		if (!write && max > 0) {
			put_be32(b + n + 4, MMC_SPEED_KBS);
			put_be32(b + n + 8, (uint32_t)(s->nblocks - 1));
			put_be32(b + n + 12, MMC_SPEED_KBS);
			n += PERF_DESC;
		}
	}
	put_be32(b, n - 4);
	scsi_reply(c, n, n);
}
