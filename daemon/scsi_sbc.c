/* scsi_sbc.c — the disk command set (SBC-3 subset): media reads and
 * writes, VERIFY, SYNCHRONIZE CACHE, READ CAPACITY(10/16).
 *
 * The device a disk LUN presents: peripheral device type 0x00, logical
 * blocks of the config's block_size (512 or 4096), removable as
 * configured, block descriptors in MODE SENSE, the block limits and
 * characteristics VPD pages.  READ(10/12), READ CAPACITY(10), VERIFY and
 * SYNCHRONIZE CACHE are also the CD drive's (scsi_mmc.c names these
 * handlers in its own table).
 */
#include "scsi_int.h"
#include "bytes.h"
#include "sense.h"

#include <stdlib.h>
#include <string.h>

#define SAI_READ_CAPACITY16 0x10

/* Scratch size for VERIFY with BYTCHK=0 (media read-back). */
#define SCSI_VERIFY_CHUNK (128u * 1024)

void scsi_op_read(const struct scsi_target *t, struct lun *l,
		  struct scsi_cmd *c, const struct lun_snapshot *s)
{
	uint64_t lba;
	uint32_t n;

	(void)t;
	/* RDPROTECT: no protection information on this target. */
	if (c->cdb[0] != SCSI_OP_READ6 && (c->cdb[1] & 0xe0))
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	scsi_decode_rw(c->cdb, &lba, &n);
	scsi_media_xfer(l, c, s, SCSI_DATA_READ, lba, n);
}

void scsi_op_write(const struct scsi_target *t, struct lun *l,
		   struct scsi_cmd *c, const struct lun_snapshot *s)
{
	uint64_t lba;
	uint32_t n;

	(void)t;
	if (c->cdb[0] != SCSI_OP_WRITE6 && (c->cdb[1] & 0xe0))
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	scsi_decode_rw(c->cdb, &lba, &n);
	if (s->readonly)
		return scsi_fail(c, SENSE_WRITE_PROTECTED);
	c->fua = c->cdb[0] != SCSI_OP_WRITE6 && (c->cdb[1] & 0x08);
	scsi_media_xfer(l, c, s, SCSI_DATA_WRITE, lba, n);
}

/* On a worker: read the range back; the first unreadable chunk's offset
 * goes to c->job_at. */
void scsi_verify_run(struct lun *l, struct scsi_cmd *c)
{
	uint64_t left = c->length, off = 0;
	uint8_t *tmp = malloc(SCSI_VERIFY_CHUNK);

	c->job_err = tmp ? 0 : BE_ENOMEM;
	c->job_at = 0;
	while (tmp && left > 0) {
		uint32_t n = left < SCSI_VERIFY_CHUNK ? (uint32_t)left
						      : SCSI_VERIFY_CHUNK;
		int r = lun_read(l, c->media_gen, tmp, n, c->offset + off);
		if (r < 0) {
			c->job_err = r;
			c->job_at = off;
			break;
		}
		off += n;
		left -= n;
	}
	free(tmp);
}

void scsi_op_verify(const struct scsi_target *t, struct lun *l,
		    struct scsi_cmd *c, const struct lun_snapshot *s)
{
	unsigned bytchk = (c->cdb[1] >> 1) & 3;
	uint64_t lba;
	uint32_t n;

	(void)t;
	if ((c->cdb[1] & 0xe0) || bytchk > 1)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	scsi_decode_rw(c->cdb, &lba, &n);
	scsi_media_xfer(l, c, s, SCSI_DATA_COMPARE, lba, n);
	if (c->status != SCSI_STATUS_GOOD || bytchk != 0)
		return;
	/* No data phase: the range is read back on a worker. */
	c->dir = SCSI_DIR_NONE;
	c->data = SCSI_DATA_NONE;
	c->job = c->length ? SCSI_JOB_VERIFY : SCSI_JOB_NONE;
}

void scsi_op_sync(const struct scsi_target *t, struct lun *l,
		  struct scsi_cmd *c, const struct lun_snapshot *s)
{
	uint64_t lba;
	uint32_t n;

	(void)t; (void)l;
	scsi_decode_rw(c->cdb, &lba, &n);
	if (!scsi_range_ok(c, s, lba, n))
		return;
	c->media_gen = s->media_gen;
	c->job = SCSI_JOB_FLUSH;
}

void scsi_op_read_cap10(const struct scsi_target *t, struct lun *l,
			struct scsi_cmd *c, const struct lun_snapshot *s)
{
	uint64_t last = s->nblocks - 1;

	(void)t;
	/* PMI=0: the LOGICAL BLOCK ADDRESS field must be zero (SBC-3 5.16). */
	if (!(c->cdb[8] & 0x01) && get_be32(c->cdb + 2) != 0)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	put_be32(c->buf, last > 0xfffffffe ? 0xffffffff : (uint32_t)last);
	put_be32(c->buf + 4, l->block_size);
	scsi_reply(c, 8, 8);
}

static void sbc_read_capacity16(const struct scsi_target *t, struct lun *l,
				struct scsi_cmd *c,
				const struct lun_snapshot *s)
{
	(void)t;
	if ((c->cdb[1] & 0x1f) != SAI_READ_CAPACITY16)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	memset(c->buf, 0, 32);
	put_be64(c->buf, s->nblocks - 1);
	put_be32(c->buf + 8, l->block_size);
	scsi_reply(c, 32, get_be32(c->cdb + 10));
}

static const struct scsi_op sbc_ops[] = {
	{ SCSI_OP_READ6, 6, T_IN, T_MEDIA, scsi_op_read },
	{ SCSI_OP_WRITE6, 6, T_OUT, T_MEDIA, scsi_op_write },
	{ SCSI_OP_READ_CAP10, 10, T_IN, T_MEDIA, scsi_op_read_cap10 },
	{ SCSI_OP_READ10, 10, T_IN, T_MEDIA, scsi_op_read },
	{ SCSI_OP_WRITE10, 10, T_OUT, T_MEDIA, scsi_op_write },
	{ SCSI_OP_VERIFY10, 10, T_OUT, T_MEDIA, scsi_op_verify },
	{ SCSI_OP_SYNC10, 10, T_NONE, T_MEDIA, scsi_op_sync },
	{ SCSI_OP_READ16, 16, T_IN, T_MEDIA, scsi_op_read },
	{ SCSI_OP_WRITE16, 16, T_OUT, T_MEDIA, scsi_op_write },
	{ SCSI_OP_VERIFY16, 16, T_OUT, T_MEDIA, scsi_op_verify },
	{ SCSI_OP_SYNC16, 16, T_NONE, T_MEDIA, scsi_op_sync },
	{ SCSI_OP_SAI16, 16, T_IN, T_MEDIA, sbc_read_capacity16 },
	{ SCSI_OP_READ12, 12, T_IN, T_MEDIA, scsi_op_read },
	{ SCSI_OP_WRITE12, 12, T_OUT, T_MEDIA, scsi_op_write },
	{ SCSI_OP_VERIFY12, 12, T_OUT, T_MEDIA, scsi_op_verify },
};

/*   page  contents                         why
 *   0x00  supported pages                  required
 *   0x80  unit serial number               Windows, udev by-id names
 *   0x83  device identification            stable ids (udev, multipath)
 *   0xB0  block limits                     max/optimal transfer
 *   0xB1  block device characteristics    non-rotating: no seek
 *                                          scheduling                  */
static const uint8_t sbc_vpd[] = { 0x00, 0x80, 0x83, 0xb0, 0xb1 };
/* Read-write error recovery, caching (WCE), control. */
static const uint8_t sbc_mode[] = { 0x01, 0x08, 0x0a };

const struct scsi_cmdset scsi_sbc_cmdset = {
	.name = "disk",
	.device_type = 0x00,
	.block_size = 0,                   /* the config's */
	.ops = sbc_ops, .nops = SCSI_NOPS(sbc_ops),
	.vpd_pages = sbc_vpd, .nvpd_pages = sizeof sbc_vpd,
	.mode_pages = sbc_mode, .nmode_pages = sizeof sbc_mode,
	.block_descriptors = true,
};
