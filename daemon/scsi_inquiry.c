/* scsi_inquiry.c — INQUIRY: standard data and the VPD pages.  The device
 * type and the pages offered are the LUN's command set's (scsi_sbc.c:
 * 0x00 0x80 0x83 0xB0 0xB1; scsi_mmc.c: 0x00 0x80 0x83):
 *
 *   page  contents
 *   0x00  supported pages
 *   0x80  unit serial number
 *   0x83  T10 vendor id + NAA locally assigned designators
 *   0xB0  block limits (max/optimal transfer)
 *   0xB1  block device characteristics (non-rotating)
 */
#include "scsi_int.h"
#include "bytes.h"
#include "sense.h"

#include <stdio.h>
#include <string.h>

#define INQ_STD_LEN 36
#define INQ_VERSION_SPC4 0x06

/* Largest transfer we advertise per command, in bytes. */
#define INQ_MAX_XFER (4u * 1024 * 1024)

/* Space-pad `s` into a fixed-width ASCII field. */
static void inq_pad(uint8_t *dst, const char *s, size_t width)
{
	size_t n = strlen(s);

	memset(dst, ' ', width);
	memcpy(dst, s, n < width ? n : width);
}

static uint32_t inq_standard(struct lun *l, uint8_t *b)
{
	memset(b, 0, INQ_STD_LEN);
	b[0] = l->cmdset->device_type;
	b[1] = l->removable ? 0x80 : 0;
	b[2] = INQ_VERSION_SPC4;
	b[3] = 0x02;                       /* response data format 2 */
	b[4] = INQ_STD_LEN - 5;            /* additional length */
	inq_pad(b + 8, l->vendor, 8);
	inq_pad(b + 16, l->product, 16);
	inq_pad(b + 32, l->revision, 4);
	return INQ_STD_LEN;
}

static uint32_t inq_vpd_supported(const struct scsi_cmdset *cs, uint8_t *b)
{
	b[3] = (uint8_t)cs->nvpd_pages;
	memcpy(b + 4, cs->vpd_pages, cs->nvpd_pages);
	return 4 + (uint32_t)cs->nvpd_pages;
}

static bool inq_vpd_offered(const struct scsi_cmdset *cs, uint8_t page)
{
	return memchr(cs->vpd_pages, page, cs->nvpd_pages) != NULL;
}

static uint32_t inq_vpd_serial(struct lun *l, uint8_t *b)
{
	size_t n = strlen(l->serial);

	b[3] = (uint8_t)n;
	memcpy(b + 4, l->serial, n);
	return 4 + (uint32_t)n;
}

/* FNV-1a over the serial: a stable 60-bit locally assigned NAA id. */
static uint64_t inq_naa_id(const struct lun *l)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *p = l->serial; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	return (3ull << 60) | (h & 0x0fffffffffffffffull);
}

static uint32_t inq_vpd_devid(struct lun *l, uint8_t *b)
{
	uint8_t *d = b + 4;
	size_t sn = strlen(l->serial);

	/* T10 vendor ID designator: ASCII, LU association. */
	d[0] = 0x02;                       /* code set ASCII */
	d[1] = 0x01;                       /* type T10 vendor ID */
	d[3] = (uint8_t)(8 + sn);
	inq_pad(d + 4, l->vendor, 8);
	memcpy(d + 12, l->serial, sn);
	d += 4 + d[3];
	/* NAA designator, locally assigned (NAA 3). */
	d[0] = 0x01;                       /* code set binary */
	d[1] = 0x03;                       /* type NAA */
	d[3] = 8;
	put_be64(d + 4, inq_naa_id(l));
	d += 12;
	put_be16(b + 2, (uint16_t)(d - b - 4));
	return (uint32_t)(d - b);
}

static uint32_t inq_vpd_block_limits(struct lun *l, uint8_t *b)
{
	b[3] = 0x3c;
	put_be32(b + 8, INQ_MAX_XFER >> l->block_shift);  /* max transfer */
	put_be32(b + 12, (128u * 1024) >> l->block_shift); /* optimal */
	return 0x40;
}

static uint32_t inq_vpd_characteristics(uint8_t *b)
{
	b[3] = 0x3c;
	put_be16(b + 4, 0x0001);           /* non-rotating medium */
	return 0x40;
}

static void inq_vpd(struct lun *l, struct scsi_cmd *c, uint32_t alloc)
{
	uint8_t *b = c->buf;
	uint32_t len;

	memset(b, 0, 256);
	b[0] = l->cmdset->device_type;
	b[1] = c->cdb[2];
	if (!inq_vpd_offered(l->cmdset, c->cdb[2]))
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	switch (c->cdb[2]) {
	case 0x00: len = inq_vpd_supported(l->cmdset, b); break;
	case 0x80: len = inq_vpd_serial(l, b); break;
	case 0x83: len = inq_vpd_devid(l, b); break;
	case 0xb0: len = inq_vpd_block_limits(l, b); break;
	case 0xb1: len = inq_vpd_characteristics(b); break;
	default: return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	}
	scsi_reply(c, len, alloc);
}

void scsi_op_inquiry(const struct scsi_target *t, struct lun *l,
		     struct scsi_cmd *c, const struct lun_snapshot *s)
{
	uint32_t alloc = get_be16(c->cdb + 3);

	(void)t; (void)s;
	if (c->cdb[1] & 0x02)                  /* CMDDT: obsolete */
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	if (c->cdb[1] & 0x01)
		return inq_vpd(l, c, alloc);
	if (c->cdb[2] != 0)                    /* page code without EVPD */
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	scsi_reply(c, inq_standard(l, c->buf), alloc);
}
