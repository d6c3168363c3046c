/* scsi.c — command dispatch, unit attentions, and the block commands
 * (READ/WRITE/VERIFY/SYNCHRONIZE CACHE/capacity/medium handling).
 * INQUIRY lives in scsi_inquiry.c, MODE SENSE/SELECT in scsi_mode.c.
 */
#include "scsi.h"
#include "bytes.h"
#include "log.h"
#include "sense.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Opcodes handled here (SPC-4, SBC-3). */
enum {
	OP_TEST_UNIT_READY = 0x00, OP_REQUEST_SENSE = 0x03, OP_READ6 = 0x08,
	OP_WRITE6 = 0x0a, OP_INQUIRY = 0x12, OP_MODE_SELECT6 = 0x15,
	OP_MODE_SENSE6 = 0x1a, OP_START_STOP = 0x1b, OP_PREVENT = 0x1e,
	OP_READ_FMT_CAP = 0x23, OP_READ_CAP10 = 0x25, OP_READ10 = 0x28,
	OP_WRITE10 = 0x2a, OP_VERIFY10 = 0x2f, OP_SYNC10 = 0x35,
	OP_MODE_SELECT10 = 0x55, OP_MODE_SENSE10 = 0x5a, OP_READ16 = 0x88,
	OP_WRITE16 = 0x8a, OP_VERIFY16 = 0x8f, OP_SYNC16 = 0x91,
	OP_SAI16 = 0x9e, OP_REPORT_LUNS = 0xa0, OP_READ12 = 0xa8,
	OP_WRITE12 = 0xaa, OP_VERIFY12 = 0xaf,
};

#define SAI_READ_CAPACITY16 0x10

/* Scratch size for VERIFY with BYTCHK=0 (media read-back). */
#define SCSI_VERIFY_CHUNK (128u * 1024)
/* START STOP UNIT load with IMMED=0 waits this long for the open, then
 * answers NOT READY, BECOMING READY (UEFI gives up on a command after
 * 5 s; the host retries). */
#define SCSI_LOAD_WAIT_MS 4000

void scsi_fail(struct scsi_cmd *c, uint32_t sense)
{
	c->status = SCSI_STATUS_CHECK_CONDITION;
	c->sense = sense;
	c->dir = SCSI_DIR_NONE;
	c->data = SCSI_DATA_NONE;
	c->length = 0;
}

/* A `len`-byte response is in c->buf; the host allows alloc_len. */
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

/* Names the failing LBA in the sense INFORMATION field.  Fixed-format
 * sense has only 4 bytes for it: a larger LBA leaves VALID clear rather
 * than report a truncated, wrong address. */
static void scsi_set_info(struct scsi_cmd *c, uint64_t lba)
{
	c->info_valid = lba <= UINT32_MAX;
	c->info = (uint32_t)lba;
}

/* NOT READY flavours for a LUN that is not READY. */
static uint32_t scsi_not_ready_sense(enum lun_state st)
{
	return st == LUN_EMPTY ? SENSE_NOT_READY_NO_MEDIUM
			       : SENSE_NOT_READY_BECOMING;
}

/* --- block range helpers ------------------------------------------------- */

/* Decodes LBA and block count of READ/WRITE/VERIFY/SYNC CDBs.  READ(6)
 * and WRITE(6) count 0 means 256 blocks. */
static void scsi_decode_rw(const uint8_t *cdb, uint64_t *lba, uint32_t *n)
{
	switch (cdb[0]) {
	case OP_READ6: case OP_WRITE6:
		*lba = get_be24(cdb + 1) & 0x1fffff;
		*n = cdb[4] ? cdb[4] : 256;
		break;
	case OP_READ10: case OP_WRITE10: case OP_VERIFY10: case OP_SYNC10:
		*lba = get_be32(cdb + 2);
		*n = get_be16(cdb + 7);
		break;
	case OP_READ12: case OP_WRITE12: case OP_VERIFY12:
		*lba = get_be32(cdb + 2);
		*n = get_be32(cdb + 6);
		break;
	default: /* 16-byte forms */
		*lba = get_be64(cdb + 2);
		*n = get_be32(cdb + 10);
		break;
	}
}

/* Checks lba..lba+n against the capacity; fails the command if outside. */
static bool scsi_range_ok(struct scsi_cmd *c, const struct lun_snapshot *s,
			  uint64_t lba, uint64_t n)
{
	if (lba > s->nblocks || n > s->nblocks - lba) {
		scsi_fail(c, SENSE_LBA_OUT_OF_RANGE);
		return false;
	}
	return true;
}

static void scsi_media_xfer(struct lun *l, struct scsi_cmd *c,
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

/* --- commands ------------------------------------------------------------ */

static void scsi_read(struct lun *l, struct scsi_cmd *c,
		      const struct lun_snapshot *s)
{
	uint64_t lba;
	uint32_t n;

	/* RDPROTECT: no protection information on this target. */
	if (c->cdb[0] != OP_READ6 && (c->cdb[1] & 0xe0))
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	scsi_decode_rw(c->cdb, &lba, &n);
	scsi_media_xfer(l, c, s, SCSI_DATA_READ, lba, n);
}

static void scsi_write(struct lun *l, struct scsi_cmd *c,
		       const struct lun_snapshot *s)
{
	uint64_t lba;
	uint32_t n;

	if (c->cdb[0] != OP_WRITE6 && (c->cdb[1] & 0xe0))
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	scsi_decode_rw(c->cdb, &lba, &n);
	if (s->readonly)
		return scsi_fail(c, SENSE_WRITE_PROTECTED);
	c->fua = c->cdb[0] != OP_WRITE6 && (c->cdb[1] & 0x08);
	scsi_media_xfer(l, c, s, SCSI_DATA_WRITE, lba, n);
}

/* VERIFY BYTCHK=0, on a worker: read the range back; the first
 * unreadable chunk's offset goes to c->job_at. */
static void scsi_verify_run(struct lun *l, struct scsi_cmd *c)
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

static void scsi_verify(struct lun *l, struct scsi_cmd *c,
			const struct lun_snapshot *s)
{
	unsigned bytchk = (c->cdb[1] >> 1) & 3;
	uint64_t lba;
	uint32_t n;

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

static void scsi_sync_cache(struct lun *l, struct scsi_cmd *c,
			    const struct lun_snapshot *s)
{
	uint64_t lba;
	uint32_t n;

	(void)l;
	scsi_decode_rw(c->cdb, &lba, &n);
	if (!scsi_range_ok(c, s, lba, n))
		return;
	c->media_gen = s->media_gen;
	c->job = SCSI_JOB_FLUSH;
}

static void scsi_read_capacity10(struct lun *l, struct scsi_cmd *c,
				 const struct lun_snapshot *s)
{
	uint64_t last = s->nblocks - 1;

	/* PMI=0: the LOGICAL BLOCK ADDRESS field must be zero (SBC-3 5.16). */
	if (!(c->cdb[8] & 0x01) && get_be32(c->cdb + 2) != 0)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	put_be32(c->buf, last > 0xfffffffe ? 0xffffffff : (uint32_t)last);
	put_be32(c->buf + 4, l->block_size);
	scsi_reply(c, 8, 8);
}

static void scsi_read_capacity16(struct lun *l, struct scsi_cmd *c,
				 const struct lun_snapshot *s)
{
	if ((c->cdb[1] & 0x1f) != SAI_READ_CAPACITY16)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	memset(c->buf, 0, 32);
	put_be64(c->buf, s->nblocks - 1);
	put_be32(c->buf + 8, l->block_size);
	scsi_reply(c, 32, get_be32(c->cdb + 10));
}

/* READ FORMAT CAPACITIES (MMC / UFI, used by Windows). */
static void scsi_read_format_capacities(struct lun *l, struct scsi_cmd *c,
					const struct lun_snapshot *s)
{
	uint64_t nb = s->nblocks;

	memset(c->buf, 0, 12);
	c->buf[3] = 8;                                  /* list length */
	put_be32(c->buf + 4, nb > 0xffffffff ? 0xffffffff : (uint32_t)nb);
	c->buf[8] = s->state == LUN_READY ? 0x02 : 0x03; /* formatted / none */
	put_be24(c->buf + 9, l->block_size);
	scsi_reply(c, 12, get_be16(c->cdb + 7));
}

static void scsi_request_sense(struct lun *l, struct scsi_cmd *c)
{
	uint32_t sense = l->sense;
	bool info_valid = l->sense_info_valid;
	unsigned len = SENSE_FIXED_LEN;

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

static void scsi_report_luns(const struct scsi_target *t, struct scsi_cmd *c)
{
	uint32_t alloc = get_be32(c->cdb + 6), len = 8 + 8 * t->nluns;

	if (c->cdb[2] > 0x02 || alloc < 16)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	memset(c->buf, 0, len);
	put_be32(c->buf, 8 * t->nluns);
	for (unsigned i = 0; i < t->nluns; i++)
		c->buf[8 + 8 * i + 1] = (uint8_t)i;   /* peripheral addressing */
	scsi_reply(c, len, alloc);
}

static void scsi_prevent(struct lun *l, struct scsi_cmd *c)
{
	lun_set_prevent(l, c->cdb[4] & 0x01);
}

static void scsi_start_stop(struct lun *l, struct scsi_cmd *c,
			    const struct lun_snapshot *s)
{
	bool loej = c->cdb[4] & 0x02, start = c->cdb[4] & 0x01;

	/* A POWER CONDITION makes START and LOEJ meaningless (SBC-3). */
	if ((c->cdb[4] & 0xf0) || !loej)
		return;
	if (!l->removable)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	if (start) {
		int r = lun_load_start(l);

		/* The open runs on a worker: IMMED=1 answers now (the host
		 * then polls with TEST UNIT READY and gets 02/04/01 until
		 * the media is in), IMMED=0 waits for it (bounded). */
		if (r < 0)
			scsi_fail(c, SENSE_NOT_READY_NO_MEDIUM);
		else if (r > 0 && !(c->cdb[1] & 0x01))
			c->job = SCSI_JOB_LOAD_WAIT;
		return;
	}
	if (s->prevent)
		return scsi_fail(c, SENSE_REMOVAL_PREVENTED);
	if (lun_eject(l, false, true) < 0)
		scsi_fail(c, errno == EBUSY ? SENSE_REMOVAL_PREVENTED
					    : SENSE_INVALID_FIELD_CDB);
}

/* --- dispatch ------------------------------------------------------------ */

enum scsi_flags {
	NEED_MEDIA = 1,   /* NOT READY unless the LUN is READY */
	UA_EXEMPT = 2,    /* runs despite a pending unit attention */
};

struct scsi_op {
	uint8_t opcode;
	uint8_t cdb_len;  /* minimum CDB length */
	uint8_t flags;
	void (*fn)(const struct scsi_target *, struct lun *, struct scsi_cmd *,
		   const struct lun_snapshot *);
};

/* Adapters: most handlers need only some arguments. */
#define SCSI_ADAPT(name, call)                                              \
	static void name(const struct scsi_target *t, struct lun *l,       \
			 struct scsi_cmd *c, const struct lun_snapshot *s)  \
	{                                                                   \
		(void)t; (void)l; (void)s;                                  \
		call;                                                       \
	}

/* TEST UNIT READY asks the backend too: a network backend that is
 * reconnecting answers NOT READY, BECOMING READY so hosts retry. */
static void scsi_test_unit_ready(struct lun *l, struct scsi_cmd *c,
				 const struct lun_snapshot *s)
{
	int r = lun_ready(l, s->media_gen);

	if (r < 0)
		scsi_fail(c, sense_from_backend(r, false));
}

SCSI_ADAPT(op_tur, scsi_test_unit_ready(l, c, s))
SCSI_ADAPT(op_request_sense, scsi_request_sense(l, c))
SCSI_ADAPT(op_inquiry, scsi_inquiry(t, l, c))
SCSI_ADAPT(op_read, scsi_read(l, c, s))
SCSI_ADAPT(op_write, scsi_write(l, c, s))
SCSI_ADAPT(op_verify, scsi_verify(l, c, s))
SCSI_ADAPT(op_sync, scsi_sync_cache(l, c, s))
SCSI_ADAPT(op_read_cap10, scsi_read_capacity10(l, c, s))
SCSI_ADAPT(op_sai16, scsi_read_capacity16(l, c, s))
SCSI_ADAPT(op_read_fmt_cap, scsi_read_format_capacities(l, c, s))
SCSI_ADAPT(op_mode_sense, scsi_mode_sense(l, c))
SCSI_ADAPT(op_mode_select, scsi_mode_select(l, c))
SCSI_ADAPT(op_prevent, scsi_prevent(l, c))
SCSI_ADAPT(op_start_stop, scsi_start_stop(l, c, s))
SCSI_ADAPT(op_report_luns, scsi_report_luns(t, c))

static const struct scsi_op scsi_ops[] = {
	{ OP_TEST_UNIT_READY, 6, NEED_MEDIA, op_tur },
	{ OP_REQUEST_SENSE, 6, UA_EXEMPT, op_request_sense },
	{ OP_READ6, 6, NEED_MEDIA, op_read },
	{ OP_WRITE6, 6, NEED_MEDIA, op_write },
	{ OP_INQUIRY, 6, UA_EXEMPT, op_inquiry },
	{ OP_MODE_SELECT6, 6, 0, op_mode_select },
	{ OP_MODE_SENSE6, 6, 0, op_mode_sense },
	{ OP_START_STOP, 6, 0, op_start_stop },
	{ OP_PREVENT, 6, 0, op_prevent },
	{ OP_READ_FMT_CAP, 10, 0, op_read_fmt_cap },
	{ OP_READ_CAP10, 10, NEED_MEDIA, op_read_cap10 },
	{ OP_READ10, 10, NEED_MEDIA, op_read },
	{ OP_WRITE10, 10, NEED_MEDIA, op_write },
	{ OP_VERIFY10, 10, NEED_MEDIA, op_verify },
	{ OP_SYNC10, 10, NEED_MEDIA, op_sync },
	{ OP_MODE_SELECT10, 10, 0, op_mode_select },
	{ OP_MODE_SENSE10, 10, 0, op_mode_sense },
	{ OP_READ16, 16, NEED_MEDIA, op_read },
	{ OP_WRITE16, 16, NEED_MEDIA, op_write },
	{ OP_VERIFY16, 16, NEED_MEDIA, op_verify },
	{ OP_SYNC16, 16, NEED_MEDIA, op_sync },
	{ OP_SAI16, 16, NEED_MEDIA, op_sai16 },
	{ OP_REPORT_LUNS, 12, UA_EXEMPT, op_report_luns },
	{ OP_READ12, 12, NEED_MEDIA, op_read },
	{ OP_WRITE12, 12, NEED_MEDIA, op_write },
	{ OP_VERIFY12, 12, NEED_MEDIA, op_verify },
};

static const struct scsi_op *scsi_find_op(uint8_t opcode)
{
	for (size_t i = 0; i < sizeof scsi_ops / sizeof scsi_ops[0]; i++)
		if (scsi_ops[i].opcode == opcode)
			return &scsi_ops[i];
	return NULL;
}

void scsi_cmd_prepare(const struct scsi_target *t, struct lun *l,
		      struct scsi_cmd *c)
{
	const struct scsi_op *op = scsi_find_op(c->cdb[0]);
	struct lun_snapshot s;
	uint32_t ua;

	c->dir = SCSI_DIR_NONE;
	c->data = SCSI_DATA_NONE;
	c->length = 0;
	c->status = SCSI_STATUS_GOOD;
	c->sense = SENSE_NONE;
	c->info_valid = false;
	c->fua = false;
	c->job = SCSI_JOB_NONE;
	c->job_err = 0;
	if (c->cdb[0] != OP_REQUEST_SENSE) {
		l->sense = SENSE_NONE;
		l->sense_info_valid = false;
	}
	if (!op)
		return scsi_fail(c, SENSE_INVALID_OPCODE);
	if (c->cdb_len < op->cdb_len)
		return scsi_fail(c, SENSE_INVALID_FIELD_CDB);
	if (!(op->flags & UA_EXEMPT) && (ua = lun_take_ua(l)) != SENSE_NONE)
		return scsi_fail(c, ua);
	lun_snapshot(l, &s);
	if ((op->flags & NEED_MEDIA) && s.state != LUN_READY)
		return scsi_fail(c, scsi_not_ready_sense(s.state));
	op->fn(t, l, c, &s);
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
