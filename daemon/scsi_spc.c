/* scsi_spc.c — the commands every LUN type shares (SPC-4, and the medium
 * handling of SBC/MMC that is the same for a stick and a CD drive):
 * TEST UNIT READY, REQUEST SENSE, INQUIRY, MODE SENSE/SELECT, REPORT LUNS,
 * PREVENT ALLOW MEDIUM REMOVAL, START STOP UNIT, READ FORMAT CAPACITIES.
 *
 * START STOP UNIT's eject is the host's eject request: it is reported
 * (lun_host_eject_request: an API/SSE event) and honoured unless the host
 * itself prevents removal or the LUN's config says host_eject: false.
 */
#include "scsi_int.h"
#include "bytes.h"
#include "sense.h"

#include <errno.h>
#include <string.h>

/* TEST UNIT READY asks the backend too: a network backend that is
 * reconnecting answers NOT READY, BECOMING READY so hosts retry. */
static void spc_test_unit_ready(const struct scsi_target *t, struct lun *l,
				struct scsi_cmd *c,
				const struct lun_snapshot *s)
{
	int r = lun_ready(l, s->media_gen);

	(void)t;
	if (r < 0)
		scsi_fail(c, sense_from_backend(r, false));
}

static void spc_request_sense(const struct scsi_target *t, struct lun *l,
			      struct scsi_cmd *c,
			      const struct lun_snapshot *s)
{
	uint32_t sense = l->sense;
	bool info_valid = l->sense_info_valid;
	unsigned len = SENSE_FIXED_LEN;

	(void)t; (void)s;
	if (sense == SENSE_NONE) {
		sense = lun_take_ua(l);
		info_valid = false;
	}
	/* DESC asks for descriptor format (SPC-4 6.39). */
	if (c->cdb[1] & 0x01)
		len = sense_desc(c->buf, sense, info_valid, l->sense_info);
	else
		sense_fixed(c->buf, sense, info_valid, l->sense_info);
	l->sense = SENSE_NONE;
	l->sense_info_valid = false;
	scsi_reply(c, len, c->cdb[4]);
}

static void spc_report_luns(const struct scsi_target *t, struct lun *l,
			    struct scsi_cmd *c, const struct lun_snapshot *s)
{
	uint32_t alloc = get_be32(c->cdb + 6), len = 8 + 8 * t->nluns;

	(void)l; (void)s;
	if (c->cdb[2] > 0x02 || alloc < 16)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	memset(c->buf, 0, len);
	put_be32(c->buf, 8 * t->nluns);
	for (unsigned i = 0; i < t->nluns; i++)
		c->buf[8 + 8 * i + 1] = (uint8_t)i;   /* peripheral addressing */
	scsi_reply(c, len, alloc);
}

static void spc_prevent(const struct scsi_target *t, struct lun *l,
			struct scsi_cmd *c, const struct lun_snapshot *s)
{
	(void)t; (void)s;
	lun_set_prevent(l, c->cdb[4] & 0x01);
}

/* LoEj + Start: close the tray.  The open runs on a worker: IMMED=1
 * answers now (the host then polls with TEST UNIT READY and gets 02/04/01
 * until the media is in), IMMED=0 waits for it (bounded). */
static void spc_load(struct lun *l, struct scsi_cmd *c)
{
	int r = lun_load_start(l);

	if (r < 0)
		scsi_fail(c, SENSE_NOT_READY_NO_MEDIUM);
	else if (r > 0 && !(c->cdb[1] & 0x01))
		c->job = SCSI_JOB_LOAD_WAIT;
}

/* LoEj without Start: the host's eject request. */
static void spc_eject(struct lun *l, struct scsi_cmd *c,
		      const struct lun_snapshot *s)
{
	if (!lun_host_eject_request(l, s->prevent) || s->prevent)
		return scsi_fail(c, SENSE_REMOVAL_PREVENTED);
	if (lun_eject(l, false, true) < 0)
		scsi_fail(c, errno == EBUSY ? SENSE_REMOVAL_PREVENTED
					    : SENSE_INVALID_FIELD_CDB);
}

static void spc_start_stop(const struct scsi_target *t, struct lun *l,
			   struct scsi_cmd *c, const struct lun_snapshot *s)
{
	bool loej = c->cdb[4] & 0x02, start = c->cdb[4] & 0x01;

	(void)t;
	/* A POWER CONDITION makes START and LOEJ meaningless (SBC-3). */
	if ((c->cdb[4] & 0xf0) || !loej)
		return;
	if (!l->removable)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	if (start)
		spc_load(l, c);
	else
		spc_eject(l, c, s);
}

/* READ FORMAT CAPACITIES (MMC / UFI; Windows asks disks and CDs). */
static void spc_read_format_capacities(const struct scsi_target *t,
				       struct lun *l, struct scsi_cmd *c,
				       const struct lun_snapshot *s)
{
	uint64_t nb = s->nblocks;

	(void)t;
	memset(c->buf, 0, 12);
	c->buf[3] = 8;                                  /* list length */
	put_be32(c->buf + 4, nb > 0xffffffff ? 0xffffffff : (uint32_t)nb);
	c->buf[8] = s->state == LUN_READY ? 0x02 : 0x03; /* formatted / none */
	put_be24(c->buf + 9, l->block_size);
	scsi_reply(c, 12, get_be16(c->cdb + 7));
}

const struct scsi_op scsi_spc_ops[] = {
	{ SCSI_OP_TEST_UNIT_READY, 6, T_NONE, T_MEDIA,
	  spc_test_unit_ready },
	{ SCSI_OP_REQUEST_SENSE, 6, T_IN, T_UAX, spc_request_sense },
	{ SCSI_OP_INQUIRY, 6, T_IN, T_UAX, scsi_op_inquiry },
	{ SCSI_OP_MODE_SELECT6, 6, T_OUT, 0, scsi_op_mode_select },
	{ SCSI_OP_MODE_SENSE6, 6, T_IN, 0, scsi_op_mode_sense },
	{ SCSI_OP_START_STOP, 6, T_NONE, 0, spc_start_stop },
	{ SCSI_OP_PREVENT, 6, T_NONE, 0, spc_prevent },
	{ SCSI_OP_READ_FMT_CAP, 10, T_IN, 0, spc_read_format_capacities },
	{ SCSI_OP_MODE_SELECT10, 10, T_OUT, 0, scsi_op_mode_select },
	{ SCSI_OP_MODE_SENSE10, 10, T_IN, 0, scsi_op_mode_sense },
	{ SCSI_OP_REPORT_LUNS, 12, T_IN, T_UAX, spc_report_luns },
};
const size_t scsi_spc_nops = SCSI_NOPS(scsi_spc_ops);
