/* sense.c — fixed-format sense and the backend-error → sense table. */
#include "sense.h"
#include "backend.h"

#include <string.h>

void sense_fixed(uint8_t *buf, uint32_t sense, bool info_valid, uint32_t info)
{
	memset(buf, 0, SENSE_FIXED_LEN);
	buf[0] = 0x70 | (info_valid ? 0x80 : 0);   /* current error, fixed */
	buf[2] = SENSE_KEY(sense);
	if (info_valid) {
		buf[3] = (uint8_t)(info >> 24);
		buf[4] = (uint8_t)(info >> 16);
		buf[5] = (uint8_t)(info >> 8);
		buf[6] = (uint8_t)info;
	}
	buf[7] = SENSE_FIXED_LEN - 8;               /* additional length */
	buf[12] = SENSE_ASC(sense);
	buf[13] = SENSE_ASCQ(sense);
}

unsigned sense_desc(uint8_t *buf, uint32_t sense, bool info_valid,
		    uint32_t info)
{
	memset(buf, 0, SENSE_DESC_MAX);
	buf[0] = 0x72;                              /* current error, desc */
	buf[1] = SENSE_KEY(sense);
	buf[2] = SENSE_ASC(sense);
	buf[3] = SENSE_ASCQ(sense);
	if (!info_valid)
		return 8;
	buf[7] = 12;                                /* additional length */
	buf[8] = 0x00;                              /* Information */
	buf[9] = 0x0a;
	buf[10] = 0x80;                             /* VALID */
	buf[16] = (uint8_t)(info >> 24);
	buf[17] = (uint8_t)(info >> 16);
	buf[18] = (uint8_t)(info >> 8);
	buf[19] = (uint8_t)info;
	return SENSE_DESC_MAX;
}

/*  backend error      →  sense the host sees
 *  BE_EIO_READ            03/11/00 unrecovered read error
 *  BE_EIO_WRITE           03/0C/00 write error
 *  BE_ENOMEDIUM           02/3A/00 medium not present
 *  BE_ECHANGED            06/28/00 medium may have changed
 *  BE_ERETRY              02/04/01 becoming ready (hosts retry)
 *  BE_EROFS               07/27/00 write protected
 *  BE_ENOSPC              07/27/07 space allocation failed
 *  anything else          04/44/00 internal target failure
 */
uint32_t sense_from_backend(int err, bool writing)
{
	switch (err) {
	case BE_OK: return SENSE_NONE;
	case BE_EIO_READ: return writing ? SENSE_WRITE_ERROR : SENSE_READ_ERROR;
	case BE_EIO_WRITE: return SENSE_WRITE_ERROR;
	case BE_ENOMEDIUM: return SENSE_NOT_READY_NO_MEDIUM;
	case BE_ECHANGED: return SENSE_MEDIUM_CHANGED;
	case BE_ERETRY: return SENSE_NOT_READY_BECOMING;
	case BE_EROFS: return SENSE_WRITE_PROTECTED;
	case BE_ENOSPC: return SENSE_NO_SPACE;
	default: return SENSE_HARDWARE_ERROR;
	}
}

static const struct {
	uint32_t sense;
	const char *name;
} sense_names[] = {
	{ SENSE_NONE, "no sense" },
	{ SENSE_NOT_READY_BECOMING, "not ready, becoming ready" },
	{ SENSE_NOT_READY_NO_MEDIUM, "not ready, medium not present" },
	{ SENSE_READ_ERROR, "unrecovered read error" },
	{ SENSE_WRITE_ERROR, "write error" },
	{ SENSE_HARDWARE_ERROR, "internal target failure" },
	{ SENSE_INVALID_OPCODE, "invalid command operation code" },
	{ SENSE_LBA_OUT_OF_RANGE, "LBA out of range" },
	{ SENSE_INVALID_FIELD_CDB, "invalid field in CDB" },
	{ SENSE_LUN_NOT_SUPPORTED, "logical unit not supported" },
	{ SENSE_PARAM_LIST_LENGTH, "parameter list length error" },
	{ SENSE_INVALID_FIELD_PARAM, "invalid field in parameter list" },
	{ SENSE_SAVING_NOT_SUPPORTED, "saving parameters not supported" },
	{ SENSE_REMOVAL_PREVENTED, "medium removal prevented" },
	{ SENSE_MEDIUM_CHANGED, "unit attention, medium may have changed" },
	{ SENSE_POWER_ON_RESET, "unit attention, power on or reset" },
	{ SENSE_WRITE_PROTECTED, "write protected" },
	{ SENSE_MISCOMPARE, "miscompare during verify" },
	{ SENSE_NO_SPACE, "space allocation failed" },
};

const char *sense_name(uint32_t sense)
{
	for (size_t i = 0; i < sizeof sense_names / sizeof sense_names[0]; i++)
		if (sense_names[i].sense == sense)
			return sense_names[i].name;
	return "other";
}
