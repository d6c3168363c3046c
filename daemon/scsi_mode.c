/* scsi_mode.c — MODE SENSE(6/10) and MODE SELECT(6/10).
 *
 * Pages (the LUN's command set lists which it offers; none changeable, so
 * the changeable mask is all zeros and MODE SELECT accepts a page only if
 * it repeats the current values):
 *
 *   0x01  read-write error recovery   (length 0x0a)       disk, cdrom
 *   0x08  caching: WCE=1, the media   (length 0x12)       disk
 *         sits behind the page cache, hosts send SYNCHRONIZE CACHE
 *   0x0a  control                     (length 0x0a)       disk
 *   0x2a  MM capabilities and         (scsi_mmc.c)        cdrom
 *         mechanical status
 *   0x3f  all of the set's pages
 *
 * Header: device-specific byte carries WP (0x80) and DPOFUA (0x10); block
 * descriptors only for a set that has them (MMC has none).
 */
#include "scsi_int.h"
#include "bytes.h"
#include "sense.h"

#include <string.h>

enum { PC_CURRENT = 0, PC_CHANGEABLE = 1, PC_DEFAULT = 2, PC_SAVED = 3 };

#define MODE_OP_SENSE10  0x5a
#define MODE_OP_SELECT10 0x55

/* Writes page `code` for page control `pc` at dst; returns its length or 0
 * if the LUN's command set does not offer it. */
static uint32_t mode_page(const struct lun *l, const struct lun_snapshot *s,
			  uint8_t code, int pc, uint8_t *dst)
{
	const struct scsi_cmdset *cs = l->cmdset;
	uint8_t len;

	if (!memchr(cs->mode_pages, code, cs->nmode_pages))
		return 0;
	switch (code) {
	case 0x2a: return mmc_mode_caps_page(s, pc, dst);
	case 0x01: len = 0x0a; break;
	case 0x08: len = 0x12; break;
	case 0x0a: len = 0x0a; break;
	default: return 0;
	}
	memset(dst, 0, (size_t)len + 2);
	dst[0] = code;
	dst[1] = len;
	if (pc == PC_CHANGEABLE)
		return (uint32_t)len + 2;
	if (code == 0x08)
		dst[2] = 0x04;                 /* WCE */
	if (code == 0x0a)
		dst[3] = 0x10;                 /* queue algorithm: unrestricted */
	return (uint32_t)len + 2;
}

/* Appends the requested page(s) at p; returns bytes or -1 if unknown. */
static int mode_pages(const struct lun *l, const struct lun_snapshot *s,
		      uint8_t code, uint8_t subpage, int pc, uint8_t *p)
{
	const struct scsi_cmdset *cs = l->cmdset;
	uint32_t n = 0;

	if (subpage != 0 && !(code == 0x3f && subpage == 0xff))
		return -1;
	if (code == 0x3f) {
		for (size_t i = 0; i < cs->nmode_pages; i++)
			n += mode_page(l, s, cs->mode_pages[i], pc, p + n);
		return (int)n;
	}
	n = mode_page(l, s, code, pc, p);
	return n ? (int)n : -1;
}

/* Short (8-byte) or long (16-byte) block descriptor; returns its length. */
static uint32_t mode_block_desc(struct lun *l, uint64_t nblocks, bool longlba,
				uint8_t *p)
{
	if (longlba) {
		memset(p, 0, 16);
		put_be64(p, nblocks);
		put_be32(p + 12, l->block_size);
		return 16;
	}
	memset(p, 0, 8);
	put_be24(p + 1, nblocks > 0xffffff ? 0xffffff : (uint32_t)nblocks);
	put_be24(p + 5, l->block_size);
	return 8;
}

void scsi_op_mode_sense(const struct scsi_target *t, struct lun *l,
			struct scsi_cmd *c, const struct lun_snapshot *snap)
{
	bool ten = c->cdb[0] == MODE_OP_SENSE10;
	bool dbd = c->cdb[1] & 0x08, longlba = ten && (c->cdb[1] & 0x10);
	int pc = c->cdb[2] >> 6, n;
	uint32_t hdr = ten ? 8 : 4, bd = 0, alloc, len;
	const struct lun_snapshot s = *snap;
	uint8_t *b = c->buf;

	(void)t;
	if (pc == PC_SAVED)
		return scsi_fail(c, SENSE_SAVING_NOT_SUPPORTED);
	memset(b, 0, hdr);
	if (!dbd && l->cmdset->block_descriptors)
		bd = mode_block_desc(l, s.nblocks, longlba, b + hdr);
	n = mode_pages(l, &s, c->cdb[2] & 0x3f, c->cdb[3], pc, b + hdr + bd);
	if (n < 0)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	len = hdr + bd + (uint32_t)n;
	if (ten) {
		put_be16(b, (uint16_t)(len - 2));
		b[3] = (s.state == LUN_READY ? s.readonly : l->cfg_readonly)
			       ? 0x80 : 0;
		b[3] |= 0x10;                  /* DPOFUA */
		b[4] = longlba ? 0x01 : 0;
		put_be16(b + 6, (uint16_t)bd);
		alloc = get_be16(c->cdb + 7);
	} else {
		b[0] = (uint8_t)(len - 1);
		b[2] = (s.state == LUN_READY ? s.readonly : l->cfg_readonly)
			       ? 0x90 : 0x10;
		b[3] = (uint8_t)bd;
		alloc = c->cdb[4];
	}
	scsi_reply(c, len, alloc);
}

void scsi_op_mode_select(const struct scsi_target *t, struct lun *l,
			 struct scsi_cmd *c, const struct lun_snapshot *s)
{
	bool ten = c->cdb[0] == MODE_OP_SELECT10;
	uint32_t len = ten ? get_be16(c->cdb + 7) : c->cdb[4];

	(void)t; (void)l; (void)s;
	if (c->cdb[1] & 0x01)                  /* SP: nothing is saveable */
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	if (len > SCSI_BUF_SIZE)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	if (len == 0)
		return;
	c->dir = SCSI_DIR_OUT;
	c->data = SCSI_DATA_BUF;
	c->length = len;
}

#define MODE_TRUNCATED (-2)

/* Validates one page of a MODE SELECT list: it must exist and repeat the
 * current values (nothing is changeable).  Returns its size, -1, or
 * MODE_TRUNCATED when the list ends inside the page. */
static int mode_select_page(const struct lun *l,
			    const struct lun_snapshot *s, const uint8_t *p,
			    uint32_t left)
{
	uint8_t cur[64];
	uint32_t n;

	if (left < 2)
		return MODE_TRUNCATED;
	if (p[0] & 0x40)                       /* subpage format: none here */
		return -1;
	if (p[1] + 2u > left)
		return MODE_TRUNCATED;
	n = mode_page(l, s, p[0] & 0x3f, PC_CURRENT, cur);
	if (n == 0 || p[1] + 2u != n)
		return -1;
	if (memcmp(p + 2, cur + 2, n - 2) != 0)
		return -1;
	return (int)n;
}

void scsi_mode_select_data(struct lun *l, struct scsi_cmd *c, uint32_t len)
{
	bool ten = c->cdb[0] == MODE_OP_SELECT10;
	uint32_t hdr = ten ? 8 : 4, bd, off;
	const uint8_t *b = c->buf;
	struct lun_snapshot s;

	lun_snapshot(l, &s);
	if (len < c->length || len < hdr)
		return scsi_fail(c, SENSE_PARAM_LIST_LENGTH);
	bd = ten ? get_be16(b + 6) : b[3];
	if (hdr + bd > len || (bd != 0 && bd != 8 && bd != 16))
		return scsi_fail(c, SENSE_PARAM_LIST_LENGTH);
	/* A block descriptor may only restate the block length. */
	if (bd && get_be24(b + hdr + bd - 3) != l->block_size)
		return scsi_fail(c, SENSE_INVALID_FIELD_PARAM);
	for (off = hdr + bd; off < len;) {
		int n = mode_select_page(l, &s, b + off, len - off);
		/* SPC-4 MODE SELECT: a list that cuts a page short is a
		 * parameter list length error, not an invalid field. */
		if (n == MODE_TRUNCATED)
			return scsi_fail(c, SENSE_PARAM_LIST_LENGTH);
		if (n < 0)
			return scsi_fail(c, SENSE_INVALID_FIELD_PARAM);
		off += (uint32_t)n;
	}
}
