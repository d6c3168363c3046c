/* scsi.c — command dispatch over the LUN's command set (scsi_int.h), the
 * block I/O helpers the sets share, and the data phase: media reads and
 * writes in place, through the media I/O workers, and media jobs.
 * The commands themselves: scsi_spc.c (shared), scsi_sbc.c (disk),
 * scsi_mmc*.c (CD/DVD).
 */
#include "scsi_int.h"
#include "bytes.h"
#include "log.h"
#include "sense.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* START STOP UNIT load with IMMED=0 waits this long for the open, then
 * answers NOT READY, BECOMING READY (UEFI gives up on a command after
 * 5 s; the host retries). */
#define SCSI_LOAD_WAIT_MS 4000

const struct scsi_cmdset *scsi_cmdset_of(enum config_lun_type t)
{
	return t == CONFIG_LUN_CDROM ? &scsi_mmc_cmdset : &scsi_sbc_cmdset;
}

void scsi_fail(struct scsi_cmd *c, uint32_t sense)
{
	c->status = SCSI_STATUS_CHECK_CONDITION;
	c->sense = sense;
	c->dir = SCSI_DIR_NONE;
	c->data = SCSI_DATA_NONE;
	c->length = 0;
}

void scsi_reply(struct scsi_cmd *c, uint32_t len, uint32_t alloc_len)
{
	c->dir = SCSI_DIR_IN;
	c->data = SCSI_DATA_BUF;
	c->length = len < alloc_len ? len : alloc_len;
	if (c->length == 0) {
		c->dir = SCSI_DIR_NONE;
		c->data = SCSI_DATA_NONE;
	}
}

/* Fixed-format sense has only 4 bytes for the LBA: a larger one leaves
 * VALID clear rather than report a truncated, wrong address. */
void scsi_set_info(struct scsi_cmd *c, uint64_t lba)
{
	c->info_valid = lba <= UINT32_MAX;
	c->info = (uint32_t)lba;
}

uint32_t scsi_not_ready_sense(enum lun_state st)
{
	return st == LUN_EMPTY ? SENSE_NOT_READY_NO_MEDIUM
			       : SENSE_NOT_READY_BECOMING;
}

/* --- block range helpers ------------------------------------------------- */

/* READ(6) and WRITE(6) count 0 means 256 blocks. */
void scsi_decode_rw(const uint8_t *cdb, uint64_t *lba, uint32_t *n)
{
	switch (cdb[0]) {
	case SCSI_OP_READ6: case SCSI_OP_WRITE6:
		*lba = get_be24(cdb + 1) & 0x1fffff;
		*n = cdb[4] ? cdb[4] : 256;
		break;
	case SCSI_OP_READ10: case SCSI_OP_WRITE10: case SCSI_OP_VERIFY10:
	case SCSI_OP_SYNC10:
		*lba = get_be32(cdb + 2);
		*n = get_be16(cdb + 7);
		break;
	case SCSI_OP_READ12: case SCSI_OP_WRITE12: case SCSI_OP_VERIFY12:
		*lba = get_be32(cdb + 2);
		*n = get_be32(cdb + 6);
		break;
	default: /* 16-byte forms */
		*lba = get_be64(cdb + 2);
		*n = get_be32(cdb + 10);
		break;
	}
}

bool scsi_range_ok(struct scsi_cmd *c, const struct lun_snapshot *s,
		   uint64_t lba, uint64_t n)
{
	if (lba > s->nblocks || n > s->nblocks - lba) {
		scsi_fail(c, SENSE_LBA_OUT_OF_RANGE);
		return false;
	}
	return true;
}

void scsi_media_xfer(struct lun *l, struct scsi_cmd *c,
		     const struct lun_snapshot *s, enum scsi_data kind,
		     uint64_t lba, uint32_t n)
{
	if (!scsi_range_ok(c, s, lba, n))
		return;
	c->offset = lba << l->block_shift;
	c->length = (uint64_t)n << l->block_shift;
	c->media_gen = s->media_gen;
	c->direct = s->direct;
	c->data = n ? kind : SCSI_DATA_NONE;
	c->dir = n == 0 ? SCSI_DIR_NONE
		 : kind == SCSI_DATA_READ ? SCSI_DIR_IN : SCSI_DIR_OUT;
}

/* --- dispatch ------------------------------------------------------------ */

static const struct scsi_op *scsi_find_in(const struct scsi_op *ops,
					  size_t n, uint8_t opcode)
{
	for (size_t i = 0; i < n; i++)
		if (ops[i].opcode == opcode)
			return &ops[i];
	return NULL;
}

/* The set's own table first: it may override a shared command. */
static const struct scsi_op *scsi_find_op(const struct scsi_cmdset *cs,
					  uint8_t opcode)
{
	const struct scsi_op *op = scsi_find_in(cs->ops, cs->nops, opcode);

	return op ? op : scsi_find_in(scsi_spc_ops, scsi_spc_nops, opcode);
}

static void scsi_cmd_reset(struct lun *l, struct scsi_cmd *c)
{
	c->dir = SCSI_DIR_NONE;
	c->data = SCSI_DATA_NONE;
	c->length = 0;
	c->status = SCSI_STATUS_GOOD;
	c->sense = SENSE_NONE;
	c->info_valid = false;
	c->fua = false;
	c->job = SCSI_JOB_NONE;
	c->job_err = 0;
	if (c->cdb[0] != SCSI_OP_REQUEST_SENSE) {
		l->sense = SENSE_NONE;
		l->sense_info_valid = false;
	}
}

void scsi_cmd_prepare(const struct scsi_target *t, struct lun *l,
		      struct scsi_cmd *c)
{
	const struct scsi_op *op = scsi_find_op(l->cmdset, c->cdb[0]);
	struct lun_snapshot s;
	uint32_t ua;

	scsi_cmd_reset(l, c);
	if (!op)
		return scsi_fail(c, SENSE_INVALID_OPCODE);
	if (c->cdb_len < op->cdb_len)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	if (!(op->flags & SCSI_UA_EXEMPT) &&
	    (ua = lun_take_ua(l)) != SENSE_NONE)
		return scsi_fail(c, ua);
	lun_snapshot(l, &s);
	if ((op->flags & SCSI_NEED_MEDIA) && s.state != LUN_READY)
		return scsi_fail(c, scsi_not_ready_sense(s.state));
	op->fn(t, l, c, &s);
	/* The table says which way the command's data may go. */
	if (c->dir != SCSI_DIR_NONE && c->dir != op->dir) {
		log_warnx("lun %u: op 0x%02x: data direction %d, table says %d",
			  l->id, c->cdb[0], c->dir, op->dir);
		scsi_fail(c, SENSE_HARDWARE_ERROR);
	}
}

/* A media read failed: CHECK CONDITION with the LBA in INFORMATION. */
void scsi_read_failed(struct lun *l, struct scsi_cmd *c, uint64_t off,
		      int err)
{
	log_debug(LOG_MOD_SCSI, "lun %u: read at %llu: %s", l->id,
		  (unsigned long long)(c->offset + off), backend_strerror(err));
	c->status = SCSI_STATUS_CHECK_CONDITION;
	c->sense = sense_from_backend(err, false);
	scsi_set_info(c, (c->offset + off) >> l->block_shift);
}

int scsi_data_in(struct lun *l, struct scsi_cmd *c, uint64_t off, void *buf,
		 uint32_t len)
{
	int r;

	if (c->data == SCSI_DATA_BUF) {
		memcpy(buf, c->buf + off, len);
		return 0;
	}
	r = scsi_media_read(l, c, off, buf, len);
	if (r < 0) {
		scsi_read_failed(l, c, off, r);
		return -1;
	}
	return 0;
}

int scsi_data_map(struct lun *l, struct scsi_cmd *c, uint64_t off,
		  uint32_t len, const void **data, struct lun_media **pin)
{
	int r;

	if (c->data != SCSI_DATA_READ)
		return 0;
	r = lun_map_read(l, c->media_gen, len, c->offset + off, data, pin);
	if (r == BE_EUNSUPP)
		return 0;
	if (r < 0) {
		scsi_read_failed(l, c, off, r);
		return -1;
	}
	return 1;
}

/* Host data could not be stored (or did not match): CHECK CONDITION with
 * the LBA in INFORMATION. */
static void scsi_out_failed(struct lun *l, struct scsi_cmd *c, uint64_t off,
			    uint32_t sense)
{
	c->status = SCSI_STATUS_CHECK_CONDITION;
	c->sense = sense;
	scsi_set_info(c, (c->offset + off) >> l->block_shift);
}

/* Compares host data with the media for VERIFY BYTCHK=1. */
static int scsi_compare(struct lun *l, const struct scsi_cmd *c, uint64_t off,
			const void *buf, uint32_t len)
{
	uint8_t *tmp = malloc(len);
	int r;

	if (!tmp)
		return BE_ENOMEM;
	r = lun_read(l, c->media_gen, tmp, len, c->offset + off);
	if (r == 0 && memcmp(tmp, buf, len) != 0)
		r = 1;
	free(tmp);
	return r;
}

int scsi_data_out_run(struct lun *l, const struct scsi_cmd *c, uint64_t off,
		      const void *buf, uint32_t len)
{
	if (c->data == SCSI_DATA_WRITE) {
		/* Only whole blocks reach the media: a host that ends the
		 * data early (BOT case 13, a short packet) leaves a partial
		 * last block, dropped rather than torn (backends may assume
		 * block-aligned I/O). */
		len &= ~(l->block_size - 1);
		if (len == 0)
			return 0;
		return lun_write(l, c->media_gen, buf, len, c->offset + off,
				 c->fua);
	}
	return scsi_compare(l, c, off, buf, len);
}

int scsi_data_out_done(struct lun *l, struct scsi_cmd *c, uint64_t off,
		       int r)
{
	if (c->status != SCSI_STATUS_GOOD)
		return -1;
	if (r == 0)
		return 0;
	scsi_out_failed(l, c, off, r > 0 ? SENSE_MISCOMPARE
			 : sense_from_backend(r, c->data == SCSI_DATA_WRITE));
	return -1;
}

int scsi_data_out(struct lun *l, struct scsi_cmd *c, uint64_t off,
		  const void *buf, uint32_t len)
{
	if (c->status != SCSI_STATUS_GOOD)
		return -1;
	if (c->data == SCSI_DATA_BUF) {
		memcpy(c->buf + off, buf, len);
		return 0;
	}
	return scsi_data_out_done(l, c, off,
				  scsi_data_out_run(l, c, off, buf, len));
}

bool scsi_data_async(const struct scsi_cmd *c)
{
	if (c->data != SCSI_DATA_READ && c->data != SCSI_DATA_WRITE &&
	    c->data != SCSI_DATA_COMPARE)
		return false;
	return !c->direct;   /* from the snapshot the command was decided on */
}

int scsi_media_read(struct lun *l, const struct scsi_cmd *c, uint64_t off,
		    void *buf, uint32_t len)
{
	return lun_read(l, c->media_gen, buf, len, c->offset + off);
}

int scsi_media_try_read(struct lun *l, const struct scsi_cmd *c,
			uint64_t off, void *buf, uint32_t len)
{
	return lun_try_read(l, c->media_gen, buf, len, c->offset + off);
}

void scsi_job_run(struct lun *l, struct scsi_cmd *c)
{
	enum lun_state st;

	switch (c->job) {
	case SCSI_JOB_FLUSH:
		c->job_err = lun_flush(l, c->media_gen);
		break;
	case SCSI_JOB_VERIFY:
		scsi_verify_run(l, c);
		break;
	case SCSI_JOB_LOAD_WAIT:
		st = lun_wait_loaded(l, SCSI_LOAD_WAIT_MS);
		c->job_err = st == LUN_READY ? 0
			     : st == LUN_LOADING ? BE_ERETRY : BE_ENOMEDIUM;
		break;
	case SCSI_JOB_NONE:
		break;
	}
}

void scsi_job_done(struct lun *l, struct scsi_cmd *c)
{
	int r = c->job_err;

	if (r == 0 || c->status != SCSI_STATUS_GOOD)
		return;
	switch (c->job) {
	case SCSI_JOB_FLUSH:
		scsi_fail(c, sense_from_backend(r, true));
		break;
	case SCSI_JOB_VERIFY:
		scsi_fail(c, sense_from_backend(r, false));
		scsi_set_info(c, (c->offset + c->job_at) >> l->block_shift);
		break;
	case SCSI_JOB_LOAD_WAIT:
		scsi_fail(c, r == BE_ERETRY ? SENSE_NOT_READY_BECOMING
					    : SENSE_NOT_READY_NO_MEDIUM);
		break;
	case SCSI_JOB_NONE:
		break;
	}
}

bool scsi_data_map_out(struct lun *l, struct scsi_cmd *c, uint64_t off,
		       uint32_t len, void **data, struct lun_media **pin)
{
	/* FUA writes copy: pwritev2(RWF_DSYNC) makes just them durable. */
	if (c->data != SCSI_DATA_WRITE || c->status != SCSI_STATUS_GOOD ||
	    c->fua || len % l->block_size)
		return false;
	return lun_map_write(l, c->media_gen, len, c->offset + off, data,
			     pin) == 0;
}

int scsi_data_out_mapped(struct lun *l, struct scsi_cmd *c, uint64_t off,
			 struct lun_media *pin, uint32_t len, bool ok)
{
	int r = lun_map_written(l, c->media_gen, pin, len, ok);

	if (c->status != SCSI_STATUS_GOOD)
		return -1;
	if (r == 0)
		return 0;
	scsi_out_failed(l, c, off, sense_from_backend(r, true));
	return -1;
}

uint8_t scsi_cmd_complete(struct lun *l, struct scsi_cmd *c, uint64_t moved)
{
	if (c->status == SCSI_STATUS_GOOD && c->data == SCSI_DATA_BUF &&
	    c->dir == SCSI_DIR_OUT)
		scsi_mode_select_data(l, c, (uint32_t)moved);
	if (c->status != SCSI_STATUS_GOOD) {
		l->sense = c->sense;
		l->sense_info_valid = c->info_valid;
		l->sense_info = c->info;
		log_debug(LOG_MOD_SCSI, "lun %u: op 0x%02x failed: %s", l->id,
			  c->cdb[0], sense_name(c->sense));
	}
	return c->status;
}
