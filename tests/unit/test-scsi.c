/* test-scsi.c — SCSI commands as a table: data/scsi-commands.tbl holds one
 * command per line (CDB and host data in; CSW status, residue, data and
 * the sense REQUEST SENSE returns out), each run through the fake host on
 * a fresh five-LUN device.  A few checks of scsi_cmd_prepare()'s decoding
 * call the SCSI layer directly.
 *
 * Scenarios that need several commands (unit attentions, eject/load,
 * capacity above 2 TiB) are in test-scsi-state.c.
 */
#include "fakehost.h"
#include "bytes.h"
#include "log.h"
#include "sense.h"
#include "test.h"

#include <ctype.h>
#include <stdlib.h>

#define ROW_MAX_LINE 4096

struct pat {
	uint32_t off;
	uint8_t val;
	bool any;
};

struct row {
	char name[80];
	unsigned lun;
	enum fh_dir dir;
	uint32_t host_len;
	uint8_t cdb[16];
	unsigned cdb_len;
	uint8_t *out;               /* host_len bytes */
	uint8_t csw;
	uint32_t sense;
	bool info_set;
	uint32_t info;
	uint32_t residue;
	struct pat *data;
	size_t ndata;
};

static struct fh_dev d;

static const struct fh_lun_cfg table_luns[] = {
	{ .media = "memory:1M" },
	{ .media = "memory:1M", .readonly = true },
	{ .media = NULL },
	{ .media = "memory:1M", .block_size = 4096 },
	{ .media = "memory:1M", .fixed = true },
};

/* Block N starts with N (big-endian) and is filled with N & 0xff. */
static void stamp(struct lun *l)
{
	static uint8_t blk[4096];
	struct lun_snapshot s;

	lun_snapshot(l, &s);
	for (uint64_t b = 0; b < s.nblocks; b++) {
		memset(blk, (uint8_t)b, l->block_size);
		put_be32(blk, (uint32_t)b);
		if (lun_write(l, s.media_gen, blk, l->block_size,
			      b << l->block_shift, false) < 0)
			abort();
	}
}

/* --- parsing ------------------------------------------------------------ */

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static bool pat_add(struct pat **p, size_t *n, uint32_t off, uint8_t v,
		    bool any)
{
	struct pat *np = realloc(*p, (*n + 1) * sizeof **p);

	if (!np)
		return false;
	*p = np;
	np[*n] = (struct pat){ off, v, any };
	(*n)++;
	return true;
}

/* Parses one token of a byte list at *s; see the table's header. */
static bool bytes_token(const char **s, uint32_t *pos, struct pat **p,
			size_t *n)
{
	const char *t = *s;
	char *end;

	if (*t == '"') {
		for (t++; *t && *t != '"'; t++)
			if (!pat_add(p, n, (*pos)++, (uint8_t)*t, false))
				return false;
		*s = *t ? t + 1 : t;
		return true;
	}
	if (*t == '@') {
		*pos = (uint32_t)strtoul(t + 1, &end, 10);
		*s = end + (*end == ':');
		return end != t + 1;
	}
	if (t[0] == '.' && t[1] == '.') {
		*s = t + 2;
		return pat_add(p, n, (*pos)++, 0, true);
	}
	if (!isxdigit((unsigned char)t[0]) || !isxdigit((unsigned char)t[1]))
		return false;
	{
		char hex[3] = { t[0], t[1], 0 };
		uint8_t v = (uint8_t)strtoul(hex, NULL, 16);
		unsigned long count = 1;

		t += 2;
		if (*t == '*') {
			count = strtoul(t + 1, &end, 10);
			t = end;
		}
		for (unsigned long i = 0; i < count; i++)
			if (!pat_add(p, n, (*pos)++, v, false))
				return false;
	}
	*s = t;
	return true;
}

static bool parse_bytes(const char *s, struct pat **p, size_t *n)
{
	uint32_t pos = 0;

	*p = NULL;
	*n = 0;
	if (strcmp(s, "-") == 0)
		return true;
	while (*s) {
		if (isspace((unsigned char)*s)) {
			s++;
			continue;
		}
		if (!bytes_token(&s, &pos, p, n))
			return false;
	}
	return true;
}

static bool parse_host(const char *s, struct row *r)
{
	unsigned long v;

	r->dir = FH_NONE;
	r->host_len = 0;
	if (strcmp(s, "-") == 0)
		return true;
	if (strncmp(s, "in ", 3) == 0)
		r->dir = FH_IN;
	else if (strncmp(s, "out ", 4) == 0)
		r->dir = FH_OUT;
	else
		return false;
	v = strtoul(s + (r->dir == FH_IN ? 3 : 4), NULL, 10);
	r->host_len = (uint32_t)v;
	return v > 0 && v <= (1u << 20);
}

static bool parse_cdb(const char *s, struct row *r)
{
	struct pat *p;
	size_t n;
	bool ok = parse_bytes(s, &p, &n) && n >= 1 && n <= 16;

	for (size_t i = 0; ok && i < n; i++) {
		ok = !p[i].any && p[i].off == i;
		r->cdb[i] = p[i].val;
	}
	r->cdb_len = (unsigned)n;
	free(p);
	return ok;
}

static bool parse_out(const char *s, struct row *r)
{
	struct pat *p;
	size_t n;
	bool ok = parse_bytes(s, &p, &n);

	r->out = calloc(1, r->host_len ? r->host_len : 1);
	for (size_t i = 0; ok && r->out && i < n; i++) {
		ok = !p[i].any && p[i].off < r->host_len;
		if (ok)
			r->out[p[i].off] = p[i].val;
	}
	free(p);
	return ok && r->out;
}

static bool parse_status(const char *s, uint8_t *csw)
{
	static const char *const names[] = { "good", "fail", "phase" };

	for (uint8_t i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*csw = i;
			return true;
		}
	return false;
}

static bool parse_sense(const char *s, struct row *r)
{
	unsigned k, a, q;
	const char *at;

	r->sense = SENSE_NONE;
	r->info_set = false;
	if (strcmp(s, "-") == 0)
		return true;
	if (sscanf(s, "%x/%x/%x", &k, &a, &q) != 3)
		return false;
	r->sense = SENSE(k, a, q);
	at = strchr(s, '@');
	if (at) {
		r->info_set = true;
		r->info = (uint32_t)strtoul(at + 1, NULL, 10);
	}
	return true;
}

/* Splits a table line into its nine columns and fills r. */
static bool parse_row(char *line, struct row *r)
{
	char *col[9];
	int n = 0;

	memset(r, 0, sizeof *r);
	for (char *s = line, *bar; n < 9; s = bar + 1) {
		bar = strchr(s, '|');
		if (bar)
			*bar = '\0';
		col[n++] = trim(s);
		if (!bar)
			break;
	}
	if (n != 9)
		return false;
	snprintf(r->name, sizeof r->name, "scsi-%s", col[0]);
	r->lun = (unsigned)strtoul(col[1], NULL, 10);
	r->residue = (uint32_t)strtoul(col[7], NULL, 10);
	return parse_host(col[2], r) && parse_cdb(col[3], r) &&
	       parse_out(col[4], r) && parse_status(col[5], &r->csw) &&
	       parse_sense(col[6], r) && parse_bytes(col[8], &r->data, &r->ndata);
}

/* --- running ------------------------------------------------------------ */

static void check_data(const struct row *w, const struct fh_result *r)
{
	for (size_t i = 0; i < w->ndata; i++) {
		const struct pat *p = &w->data[i];

		if (p->off >= r->data_len) {
			fprintf(stderr, "  byte %u not received (%u bytes)\n",
				p->off, r->data_len);
			test_cur_failed = 1;
			return;
		}
		if (!p->any && r->data[p->off] != p->val) {
			fprintf(stderr, "  byte %u: got %02x, want %02x\n",
				p->off, r->data[p->off], p->val);
			test_cur_failed = 1;
			return;
		}
	}
}

static void run_row(const struct row *w)
{
	struct fh_result r;
	uint32_t sense, info = 0;

	if (fh_dev_init(&d, table_luns, 5, 16384, 4, 512) < 0)
		abort();
	stamp(&d.luns[0]);
	stamp(&d.luns[3]);
	fh_dev_clear_ua(&d);
	r = fh_command(&d.fh, w->lun, w->cdb, w->cdb_len, w->dir, w->host_len,
		       w->out);
	CHECK(r.csw_ok && r.tag_ok && !r.babble);
	CHECK_EQ(r.status, w->csw);
	CHECK_EQ(r.residue, w->residue);
	/* Hosts always get the length they asked for (padding, BOT 6.7). */
	if (w->dir != FH_NONE && w->csw != BOT_CSW_PHASE_ERROR)
		CHECK_EQ(r.data_len, w->host_len);
	check_data(w, &r);
	sense = fh_request_sense(&d.fh, w->lun, &info);
	if (sense != w->sense)
		fprintf(stderr, "  sense %06x (%s), want %06x\n", sense,
			sense_name(sense), w->sense);
	CHECK_EQ(sense, w->sense);
	if (w->info_set)
		CHECK_EQ(info, w->info);
	CHECK_EQ(d.fh.violations, 0);
	CHECK_EQ(d.bot.inflight[XPORT_EP_IN], fh_inflight(&d.fh, XPORT_EP_IN));
	fh_dev_fini(&d);
}

static void report(const char *name)
{
	if (test_cur_failed) {
		test_failed++;
		printf("FAIL %s\n", name);
	} else {
		test_passed++;
		printf("ok   %s\n", name);
	}
}

static void run_table(const char *file)
{
	char path[512], line[ROW_MAX_LINE];
	const char *slash = strrchr(__FILE__, '/');
	unsigned lineno = 0;
	FILE *f;

	snprintf(path, sizeof path, "%.*sdata/%s",
		 slash ? (int)(slash - __FILE__ + 1) : 0, __FILE__, file);
	f = fopen(path, "r");
	test_cur_failed = f == NULL;
	if (!f) {
		fprintf(stderr, "  %s: cannot open (run from the source tree)\n",
			path);
		report(file);
		return;
	}
	while (fgets(line, sizeof line, f)) {
		char *s = trim(line);
		struct row w;

		lineno++;
		if (*s == '\0' || *s == '#')
			continue;
		test_cur_failed = 0;
		if (parse_row(s, &w))
			run_row(&w);
		else {
			fprintf(stderr, "  %s:%u: bad line\n", path, lineno);
			test_cur_failed = 1;
		}
		report(w.name[0] ? w.name : "scsi-table-line");
		free(w.out);
		free(w.data);
	}
	fclose(f);
}

/* --- scsi_cmd_prepare() directly -------------------------------------- */

static struct scsi_cmd cmd;

static void prepare(unsigned lun, const uint8_t *cdb, unsigned len)
{
	memset(&cmd, 0, sizeof cmd);
	memcpy(cmd.cdb, cdb, len);
	cmd.cdb_len = (uint8_t)len;
	scsi_cmd_prepare(&d.target, &d.luns[lun], &cmd);
}

static void up_direct(void)
{
	if (fh_dev_init(&d, table_luns, 5, 16384, 4, 512) < 0)
		abort();
	fh_dev_clear_ua(&d);
}

TEST(test_scsi_prepare_read_decodes_offset_and_length)
{
	static const uint8_t r6[6] = { 0x08, 0x00, 0x01, 0x02, 0x00, 0 };
	static const uint8_t r16[16] = { 0x88, 0, 0, 0, 0, 0, 0, 0, 0x07, 0x00,
					 0, 0, 0x01, 0x00, 0, 0 };

	up_direct();
	prepare(0, r6, 6);
	CHECK_EQ(cmd.status, SCSI_STATUS_GOOD);
	CHECK_EQ(cmd.dir, SCSI_DIR_IN);
	CHECK_EQ(cmd.data, SCSI_DATA_READ);
	CHECK_EQ(cmd.offset, 0x102ull * 512);
	CHECK_EQ(cmd.length, 256 * 512);
	prepare(0, r16, 16);
	CHECK_EQ(cmd.status, SCSI_STATUS_GOOD);
	CHECK_EQ(cmd.offset, 0x700ull * 512);
	CHECK_EQ(cmd.length, 0x100 * 512);
	prepare(3, r6, 6);                      /* 4 KiB blocks: 256 of them */
	CHECK_EQ(cmd.status, SCSI_STATUS_CHECK_CONDITION);
	CHECK_EQ(cmd.sense, SENSE_LBA_OUT_OF_RANGE);
	fh_dev_fini(&d);
}

TEST(test_scsi_prepare_write_fua)
{
	static const uint8_t w10[10] = { 0x2a, 0x08, 0, 0, 0, 1, 0, 0, 2, 0 };
	static const uint8_t w10n[10] = { 0x2a, 0x00, 0, 0, 0, 1, 0, 0, 2, 0 };
	static const uint8_t w16[16] = { 0x8a, 0x08, 0, 0, 0, 0, 0, 0, 0, 1,
					 0, 0, 0, 2, 0, 0 };
	static const uint8_t w6[6] = { 0x0a, 0x00, 0x00, 0x01, 0x02, 0 };

	up_direct();
	prepare(0, w10, 10);
	CHECK(cmd.fua);
	CHECK_EQ(cmd.dir, SCSI_DIR_OUT);
	CHECK_EQ(cmd.data, SCSI_DATA_WRITE);
	CHECK_EQ(cmd.length, 1024);
	CHECK_EQ(cmd.offset, 512);
	prepare(0, w10n, 10);
	CHECK(!cmd.fua);
	prepare(0, w16, 16);
	CHECK(cmd.fua);
	prepare(0, w6, 6);                      /* no FUA bit in WRITE(6) */
	CHECK(!cmd.fua);
	fh_dev_fini(&d);
}

TEST(test_scsi_prepare_verify_bytchk1_is_compare_out)
{
	static const uint8_t v[10] = { 0x2f, 0x02, 0, 0, 0, 4, 0, 0, 3, 0 };

	up_direct();
	prepare(0, v, 10);
	CHECK_EQ(cmd.status, SCSI_STATUS_GOOD);
	CHECK_EQ(cmd.dir, SCSI_DIR_OUT);
	CHECK_EQ(cmd.data, SCSI_DATA_COMPARE);
	CHECK_EQ(cmd.length, 3 * 512);
	fh_dev_fini(&d);
}

/* A failing command's sense is kept for REQUEST SENSE, and only for it. */
TEST(test_scsi_complete_stores_sense)
{
	static const uint8_t bad[10] = { 0x28, 0, 0, 0, 0x10, 0, 0, 0, 1, 0 };
	static const uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 };

	up_direct();
	prepare(0, bad, 10);
	CHECK_EQ(scsi_cmd_complete(&d.luns[0], &cmd, 0),
		 SCSI_STATUS_CHECK_CONDITION);
	CHECK_EQ(d.luns[0].sense, SENSE_LBA_OUT_OF_RANGE);
	CHECK_EQ(d.luns[1].sense, SENSE_NONE);
	prepare(0, rs, 6);
	CHECK_EQ(cmd.length, 18);
	CHECK_EQ(cmd.buf[2], 0x05);
	CHECK_EQ(cmd.buf[12], 0x21);
	CHECK_EQ(d.luns[0].sense, SENSE_NONE);
	fh_dev_fini(&d);
}

int main(void)
{
	log_set_level(LOG_LVL_ERR);
	run_table("scsi-commands.tbl");
	RUN(test_scsi_prepare_read_decodes_offset_and_length);
	RUN(test_scsi_prepare_write_fua);
	RUN(test_scsi_prepare_verify_bytchk1_is_compare_out);
	RUN(test_scsi_complete_stores_sense);
	return test_summary();
}
