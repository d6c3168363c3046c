/* sense.h — SCSI sense data: the values hosts act on, and the one mapping
 * from backend errors to sense.
 *
 * A sense value packs key, ASC and ASCQ into one integer:
 *
 *     bits 23..16  sense key     (e.g. 0x05 ILLEGAL REQUEST)
 *     bits 15..8   ASC           (e.g. 0x24 INVALID FIELD IN CDB)
 *     bits  7..0   ASCQ
 *
 * so a whole condition is one constant, compared with ==.
 */
#ifndef NS_SENSE_H
#define NS_SENSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SENSE(key, asc, ascq) \
	((uint32_t)(key) << 16 | (uint32_t)(asc) << 8 | (uint32_t)(ascq))
#define SENSE_KEY(s)  ((uint8_t)((s) >> 16))
#define SENSE_ASC(s)  ((uint8_t)((s) >> 8))
#define SENSE_ASCQ(s) ((uint8_t)(s))

/*  name                              key   ASC   ASCQ   hosts do */
#define SENSE_NONE                SENSE(0x00, 0x00, 0x00)
#define SENSE_NOT_READY_BECOMING  SENSE(0x02, 0x04, 0x01) /* retry */
#define SENSE_NOT_READY_NO_MEDIUM SENSE(0x02, 0x3a, 0x00) /* empty */
#define SENSE_READ_ERROR          SENSE(0x03, 0x11, 0x00)
#define SENSE_WRITE_ERROR         SENSE(0x03, 0x0c, 0x00)
#define SENSE_HARDWARE_ERROR      SENSE(0x04, 0x44, 0x00) /* internal target failure */
#define SENSE_INVALID_OPCODE      SENSE(0x05, 0x20, 0x00)
#define SENSE_LBA_OUT_OF_RANGE    SENSE(0x05, 0x21, 0x00)
#define SENSE_INVALID_FIELD_CDB   SENSE(0x05, 0x24, 0x00)
#define SENSE_LUN_NOT_SUPPORTED   SENSE(0x05, 0x25, 0x00)
#define SENSE_PARAM_LIST_LENGTH   SENSE(0x05, 0x1a, 0x00)
#define SENSE_INVALID_FIELD_PARAM SENSE(0x05, 0x26, 0x00)
#define SENSE_SAVING_NOT_SUPPORTED SENSE(0x05, 0x39, 0x00)
#define SENSE_REMOVAL_PREVENTED   SENSE(0x05, 0x53, 0x02)
#define SENSE_MEDIUM_CHANGED      SENSE(0x06, 0x28, 0x00) /* unit attention */
#define SENSE_POWER_ON_RESET      SENSE(0x06, 0x29, 0x00) /* unit attention */
#define SENSE_WRITE_PROTECTED     SENSE(0x07, 0x27, 0x00)
#define SENSE_MISCOMPARE          SENSE(0x0e, 0x1d, 0x00)
#define SENSE_NO_SPACE            SENSE(0x07, 0x27, 0x07) /* space allocation failed */

/* Fixed-format sense data (SPC-4 4.5.3) is 18 bytes. */
#define SENSE_FIXED_LEN 18

/* Writes fixed-format sense for `sense` into buf (at least 18 bytes).
 * When info_valid, the INFORMATION field carries `info` (the failing LBA). */
void sense_fixed(uint8_t *buf, uint32_t sense, bool info_valid, uint32_t info);

/* Descriptor-format sense (SPC-4 4.5.2, response code 0x72): an 8-byte
 * header, plus an Information descriptor (12 bytes, VALID set) carrying
 * `info` when info_valid.  buf holds at least SENSE_DESC_MAX bytes.
 * Returns the length written. */
#define SENSE_DESC_MAX 20
unsigned sense_desc(uint8_t *buf, uint32_t sense, bool info_valid,
		    uint32_t info);

/* The one mapping from enum backend_err to sense; `writing` selects
 * WRITE ERROR over READ ERROR for generic I/O failures. */
uint32_t sense_from_backend(int err, bool writing);

/* "ILLEGAL REQUEST/INVALID FIELD IN CDB" style text, for logs. */
const char *sense_name(uint32_t sense);

#endif
