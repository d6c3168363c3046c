/* test-sense.c — fixed-format sense data and the one mapping from backend
 * errors to sense. */
#include "backend.h"
#include "log.h"
#include "sense.h"
#include "test.h"

TEST(test_sense_pack_and_unpack)
{
	uint32_t s = SENSE(0x05, 0x24, 0x01);

	CHECK_EQ(s, 0x052401);
	CHECK_EQ(SENSE_KEY(s), 0x05);
	CHECK_EQ(SENSE_ASC(s), 0x24);
	CHECK_EQ(SENSE_ASCQ(s), 0x01);
	CHECK_EQ(SENSE_NOT_READY_BECOMING, 0x020401);
	CHECK_EQ(SENSE_REMOVAL_PREVENTED, 0x055302);
}

/*  byte  0     1  2    3..6  7     8..11  12   13    14..17
 *        70/f0 0  key  info  0x0a  0      ASC  ASCQ  0          */
TEST(test_sense_fixed_layout_without_info)
{
	uint8_t b[SENSE_FIXED_LEN + 2];
	static const uint8_t want[SENSE_FIXED_LEN] = {
		0x70, 0, 0x03, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x11, 0x00,
		0, 0, 0, 0,
	};

	memset(b, 0xcc, sizeof b);
	sense_fixed(b, SENSE_READ_ERROR, false, 0x12345678);
	CHECK(memcmp(b, want, SENSE_FIXED_LEN) == 0);
	CHECK_EQ(b[SENSE_FIXED_LEN], 0xcc);     /* 18 bytes, no more */
	CHECK_EQ(b[SENSE_FIXED_LEN + 1], 0xcc);
}

TEST(test_sense_fixed_layout_with_info)
{
	uint8_t b[SENSE_FIXED_LEN];
	static const uint8_t want[SENSE_FIXED_LEN] = {
		0xf0, 0, 0x0e, 0x12, 0x34, 0x56, 0x78, 0x0a, 0, 0, 0, 0,
		0x1d, 0x00, 0, 0, 0, 0,
	};

	memset(b, 0xcc, sizeof b);
	sense_fixed(b, SENSE_MISCOMPARE, true, 0x12345678);
	CHECK(memcmp(b, want, SENSE_FIXED_LEN) == 0);
}

/* Descriptor format: the header alone, or with an Information
 * descriptor (VALID, 64-bit field) when the LBA is known. */
TEST(test_sense_desc_layout)
{
	uint8_t b[SENSE_DESC_MAX];
	static const uint8_t want[SENSE_DESC_MAX] = {
		0x72, 0x05, 0x21, 0x00, 0, 0, 0, 12,
		0x00, 0x0a, 0x80, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78,
	};

	memset(b, 0xcc, sizeof b);
	CHECK_EQ(sense_desc(b, SENSE_LBA_OUT_OF_RANGE, true, 0x12345678),
		 SENSE_DESC_MAX);
	CHECK(memcmp(b, want, SENSE_DESC_MAX) == 0);
	CHECK_EQ(sense_desc(b, SENSE_NOT_READY_NO_MEDIUM, false, 7), 8);
	CHECK(b[0] == 0x72 && b[1] == 0x02 && b[2] == 0x3a && b[3] == 0 &&
	      b[7] == 0);
}

TEST(test_sense_fixed_no_sense_is_all_zero_but_header)
{
	uint8_t b[SENSE_FIXED_LEN];

	memset(b, 0xcc, sizeof b);
	sense_fixed(b, SENSE_NONE, false, 0);
	CHECK_EQ(b[0], 0x70);
	CHECK_EQ(b[2], 0);
	CHECK_EQ(b[7], 10);
	CHECK_EQ(b[12], 0);
	CHECK_EQ(b[13], 0);
}

/* The ASCQ byte is carried as is (02/04/01, 05/53/02, 07/27/07). */
TEST(test_sense_fixed_ascq)
{
	uint8_t b[SENSE_FIXED_LEN];

	sense_fixed(b, SENSE_REMOVAL_PREVENTED, false, 0);
	CHECK_EQ(b[2], 0x05);
	CHECK_EQ(b[12], 0x53);
	CHECK_EQ(b[13], 0x02);
	sense_fixed(b, SENSE_NO_SPACE, false, 0);
	CHECK_EQ(b[2], 0x07);
	CHECK_EQ(b[13], 0x07);
}

/*  backend error     reading     writing */
static const struct {
	int err;
	uint32_t reading, writing;
} be_table[] = {
	{ BE_OK,        SENSE_NONE,                SENSE_NONE },
	{ BE_EIO_READ,  SENSE_READ_ERROR,          SENSE_WRITE_ERROR },
	{ BE_EIO_WRITE, SENSE_WRITE_ERROR,         SENSE_WRITE_ERROR },
	{ BE_ENOMEDIUM, SENSE_NOT_READY_NO_MEDIUM, SENSE_NOT_READY_NO_MEDIUM },
	{ BE_ECHANGED,  SENSE_MEDIUM_CHANGED,      SENSE_MEDIUM_CHANGED },
	{ BE_ERETRY,    SENSE_NOT_READY_BECOMING,  SENSE_NOT_READY_BECOMING },
	{ BE_EROFS,     SENSE_WRITE_PROTECTED,     SENSE_WRITE_PROTECTED },
	{ BE_ENOSPC,    SENSE_NO_SPACE,            SENSE_NO_SPACE },
	{ BE_ENOMEM,    SENSE_HARDWARE_ERROR,      SENSE_HARDWARE_ERROR },
	{ BE_EINVAL,    SENSE_HARDWARE_ERROR,      SENSE_HARDWARE_ERROR },
	{ BE_EUNSUPP,   SENSE_HARDWARE_ERROR,      SENSE_HARDWARE_ERROR },
	{ BE_EOPEN,     SENSE_HARDWARE_ERROR,      SENSE_HARDWARE_ERROR },
	{ -99,          SENSE_HARDWARE_ERROR,      SENSE_HARDWARE_ERROR },
	{ 7,            SENSE_HARDWARE_ERROR,      SENSE_HARDWARE_ERROR },
};

TEST(test_sense_from_backend_table)
{
	for (size_t i = 0; i < sizeof be_table / sizeof be_table[0]; i++) {
		uint32_t r = sense_from_backend(be_table[i].err, false);
		uint32_t w = sense_from_backend(be_table[i].err, true);

		if (r != be_table[i].reading || w != be_table[i].writing)
			fprintf(stderr, "  error %d: %06x/%06x\n",
				be_table[i].err, r, w);
		CHECK_EQ(r, be_table[i].reading);
		CHECK_EQ(w, be_table[i].writing);
	}
}

/* Every condition the daemon reports has a name for the logs. */
TEST(test_sense_names)
{
	static const uint32_t known[] = {
		SENSE_NONE, SENSE_NOT_READY_BECOMING, SENSE_NOT_READY_NO_MEDIUM,
		SENSE_READ_ERROR, SENSE_WRITE_ERROR, SENSE_HARDWARE_ERROR,
		SENSE_INVALID_OPCODE, SENSE_LBA_OUT_OF_RANGE,
		SENSE_INVALID_FIELD_CDB, SENSE_LUN_NOT_SUPPORTED,
		SENSE_PARAM_LIST_LENGTH, SENSE_INVALID_FIELD_PARAM,
		SENSE_SAVING_NOT_SUPPORTED, SENSE_REMOVAL_PREVENTED,
		SENSE_MEDIUM_CHANGED, SENSE_POWER_ON_RESET,
		SENSE_WRITE_PROTECTED, SENSE_MISCOMPARE, SENSE_NO_SPACE,
	};

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		CHECK(strcmp(sense_name(known[i]), "other") != 0);
	CHECK_STR(sense_name(SENSE_READ_ERROR), "unrecovered read error");
	CHECK_STR(sense_name(SENSE(0x0b, 0x00, 0x00)), "other");
}

int main(void)
{
	log_set_level(LOG_LVL_ERR);
	RUN(test_sense_pack_and_unpack);
	RUN(test_sense_fixed_layout_without_info);
	RUN(test_sense_fixed_layout_with_info);
	RUN(test_sense_desc_layout);
	RUN(test_sense_fixed_no_sense_is_all_zero_but_header);
	RUN(test_sense_fixed_ascq);
	RUN(test_sense_from_backend_table);
	RUN(test_sense_names);
	return test_summary();
}
