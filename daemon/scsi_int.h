/* scsi_int.h — what the command-set files (scsi*.c) share; not for use
 * outside them.
 *
 * One handler shape for every command of every set:
 *
 *   void handler(const struct scsi_target *t, struct lun *l,
 *                struct scsi_cmd *c, const struct lun_snapshot *s)
 *
 * called by scsi_cmd_prepare() on the USB thread with c reset (status
 * GOOD, no data) and s the LUN's state read once for the command.  A
 * handler decides the data phase (scsi_reply, scsi_media_xfer), fails the
 * command (scsi_fail), or leaves a media job (c->job); it never waits on
 * media that is not direct.
 *
 * A table row (struct scsi_op) says what the dispatcher checks before the
 * handler runs:
 *
 *   opcode   cdb_len       dir           flags
 *   0x28     10 (minimum;  IN / OUT /    NEED_MEDIA: NOT READY unless the
 *            longer CDBs   NONE (the     LUN is READY
 *            are accepted) device's      UA_EXEMPT: runs despite a unit
 *                          direction)    attention (and leaves it pending)
 */
#ifndef NS_SCSI_INT_H
#define NS_SCSI_INT_H

#include "scsi.h"

typedef void scsi_handler(const struct scsi_target *t, struct lun *l,
			  struct scsi_cmd *c, const struct lun_snapshot *s);

enum scsi_op_flags {
	SCSI_NEED_MEDIA = 1,
	SCSI_UA_EXEMPT = 2,
};

struct scsi_op {
	uint8_t opcode;
	uint8_t cdb_len;
	uint8_t dir;          /* enum scsi_dir the command may use */
	uint8_t flags;        /* enum scsi_op_flags */
	scsi_handler *fn;
};

/* Shorthands for the tables' columns. */
#define T_IN SCSI_DIR_IN
#define T_OUT SCSI_DIR_OUT
#define T_NONE SCSI_DIR_NONE
#define T_MEDIA SCSI_NEED_MEDIA
#define T_UAX SCSI_UA_EXEMPT

#define SCSI_NOPS(tbl) (sizeof (tbl) / sizeof (tbl)[0])

/* Opcodes more than one file names. */
enum {
	SCSI_OP_TEST_UNIT_READY = 0x00, SCSI_OP_REQUEST_SENSE = 0x03,
	SCSI_OP_READ6 = 0x08, SCSI_OP_WRITE6 = 0x0a, SCSI_OP_INQUIRY = 0x12,
	SCSI_OP_MODE_SELECT6 = 0x15, SCSI_OP_MODE_SENSE6 = 0x1a,
	SCSI_OP_START_STOP = 0x1b, SCSI_OP_PREVENT = 0x1e,
	SCSI_OP_READ_FMT_CAP = 0x23, SCSI_OP_READ_CAP10 = 0x25,
	SCSI_OP_READ10 = 0x28, SCSI_OP_WRITE10 = 0x2a,
	SCSI_OP_VERIFY10 = 0x2f, SCSI_OP_SYNC10 = 0x35,
	SCSI_OP_MODE_SELECT10 = 0x55, SCSI_OP_MODE_SENSE10 = 0x5a,
	SCSI_OP_READ16 = 0x88, SCSI_OP_WRITE16 = 0x8a,
	SCSI_OP_VERIFY16 = 0x8f, SCSI_OP_SYNC16 = 0x91, SCSI_OP_SAI16 = 0x9e,
	SCSI_OP_REPORT_LUNS = 0xa0, SCSI_OP_READ12 = 0xa8,
	SCSI_OP_WRITE12 = 0xaa, SCSI_OP_VERIFY12 = 0xaf,
};

/* The shared SPC table (scsi_spc.c), searched after the set's own. */
extern const struct scsi_op scsi_spc_ops[];
extern const size_t scsi_spc_nops;

/* The command sets (scsi_sbc.c, scsi_mmc.c). */
extern const struct scsi_cmdset scsi_sbc_cmdset;
extern const struct scsi_cmdset scsi_mmc_cmdset;

/* --- helpers (scsi.c) ----------------------------------------------- */

/* CHECK CONDITION with `sense`, no data phase. */
void scsi_fail(struct scsi_cmd *c, uint32_t sense);
/* A `len`-byte response is in c->buf; the host allows alloc_len. */
void scsi_reply(struct scsi_cmd *c, uint32_t len, uint32_t alloc_len);
/* The failing LBA in the sense INFORMATION (VALID only when it fits). */
void scsi_set_info(struct scsi_cmd *c, uint64_t lba);
/* NOT READY flavour of a LUN that is not READY. */
uint32_t scsi_not_ready_sense(enum lun_state st);
/* LBA and block count of a READ/WRITE/VERIFY/SYNC CDB (6/10/12/16). */
void scsi_decode_rw(const uint8_t *cdb, uint64_t *lba, uint32_t *n);
/* Fails with LBA OUT OF RANGE unless lba..lba+n is inside the media. */
bool scsi_range_ok(struct scsi_cmd *c, const struct lun_snapshot *s,
		   uint64_t lba, uint64_t n);
/* Sets up a media data phase of n blocks at lba (range checked). */
void scsi_media_xfer(struct lun *l, struct scsi_cmd *c,
		     const struct lun_snapshot *s, enum scsi_data kind,
		     uint64_t lba, uint32_t n);

/* --- handlers more than one table uses ------------------------------- */

scsi_handler scsi_op_read;         /* READ(6/10/12/16): scsi_sbc.c */
scsi_handler scsi_op_write;
scsi_handler scsi_op_verify;
scsi_handler scsi_op_sync;
scsi_handler scsi_op_read_cap10;
scsi_handler scsi_op_inquiry;      /* scsi_inquiry.c */
scsi_handler scsi_op_mode_sense;   /* scsi_mode.c */
scsi_handler scsi_op_mode_select;
/* MODE SELECT's parameter list, at scsi_cmd_complete(). */
void scsi_mode_select_data(struct lun *l, struct scsi_cmd *c, uint32_t len);
/* VERIFY BYTCHK=0 read-back on a worker (scsi_sbc.c). */
void scsi_verify_run(struct lun *l, struct scsi_cmd *c);

/* --- MMC pieces other files call ------------------------------------- */

/* MODE page 0x2A (MM capabilities and mechanical status) for page
 * control pc at dst; returns its length (scsi_mmc.c). */
uint32_t mmc_mode_caps_page(const struct lun_snapshot *s, int pc,
			    uint8_t *dst);

scsi_handler mmc_op_get_configuration;   /* scsi_mmc_features.c */
scsi_handler mmc_op_get_event_status;
scsi_handler mmc_op_read_disc_structure;
scsi_handler mmc_op_get_performance;

#endif
