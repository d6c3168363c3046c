/* test-lun.c — LUN media state: insert, eject, PREVENT, forced eject, host
 * eject and load, the media generation that fences I/O started on old
 * media, read-only rules, unit attentions, counters, and an eject racing
 * I/O from another thread. */
#include "lun.h"
#include "log.h"
#include "sense.h"
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static struct lun l;
static char err[256];

static void up_with(const char *media, bool readonly, bool removable,
		    uint32_t bs)
{
	struct config_lun c;

	memset(&c, 0, sizeof c);
	c.media = (char *)media;
	c.readonly = readonly;
	c.removable = removable;
	c.block_size = bs;
	snprintf(c.vendor, sizeof c.vendor, "Vend");
	snprintf(c.product, sizeof c.product, "Prod");
	snprintf(c.revision, sizeof c.revision, "1.2");
	if (lun_init(&l, 3, &c, "serialbase") < 0)
		abort();
}

static void up(const char *media)
{
	up_with(media, false, true, 512);
}

static struct lun_snapshot snap(void)
{
	struct lun_snapshot s;

	lun_snapshot(&l, &s);
	return s;
}

TEST(test_lun_init_with_media_ready_power_on_only)
{
	up("memory:1M");
	CHECK_EQ(snap().state, LUN_READY);
	CHECK_EQ(snap().nblocks, 2048);
	CHECK(!snap().readonly);
	CHECK_EQ(lun_take_ua(&l), SENSE_POWER_ON_RESET);
	CHECK_EQ(lun_take_ua(&l), SENSE_NONE);   /* not medium changed */
	CHECK_STR(l.vendor, "Vend");
	CHECK_STR(l.serial, "serialbase-3");
	lun_fini(&l);
}

TEST(test_lun_init_bad_media_is_empty_not_fatal)
{
	up("memory:0");
	CHECK_EQ(snap().state, LUN_EMPTY);
	CHECK(l.last_error[0] != '\0');
	CHECK_EQ(lun_take_ua(&l), SENSE_POWER_ON_RESET);
	lun_fini(&l);
}

TEST(test_lun_init_empty)
{
	up(NULL);
	CHECK_EQ(snap().state, LUN_EMPTY);
	CHECK_EQ(snap().nblocks, 0);
	lun_fini(&l);
	up("");
	CHECK_EQ(snap().state, LUN_EMPTY);
	lun_fini(&l);
}

TEST(test_lun_init_4k_blocks)
{
	up_with("memory:1M", false, true, 4096);
	CHECK_EQ(l.block_shift, 12);
	CHECK_EQ(snap().nblocks, 256);
	lun_fini(&l);
}

/* The serial is "<base>-<id>", with the base cut so it fits 32 chars. */
TEST(test_lun_serial_long_base_truncated)
{
	struct config_lun c;

	memset(&c, 0, sizeof c);
	c.removable = true;
	c.block_size = 512;
	if (lun_init(&l, 15, &c, "0123456789012345678901234567890123456789") < 0)
		abort();
	CHECK_STR(l.serial, "0123456789012345678901234567-15");
	lun_fini(&l);
}

TEST(test_lun_insert_into_empty)
{
	uint32_t gen;

	up(NULL);
	lun_take_ua(&l);
	gen = snap().media_gen;
	CHECK_EQ(lun_insert(&l, "memory:64K", false, err, sizeof err), 0);
	CHECK_EQ(snap().state, LUN_READY);
	CHECK_EQ(snap().nblocks, 128);
	CHECK(snap().media_gen != gen);
	CHECK_EQ(lun_take_ua(&l), SENSE_MEDIUM_CHANGED);
	CHECK_EQ(lun_take_ua(&l), SENSE_NONE);
	lun_fini(&l);
}

/* I/O started on the old media never reaches the new one. */
TEST(test_lun_insert_replaces_media_fences_old_io)
{
	uint8_t buf[512] = { 1 };
	uint32_t old, cur;

	up("memory:1M");
	old = snap().media_gen;
	CHECK_EQ(lun_insert(&l, "memory:64K", false, err, sizeof err), 0);
	cur = snap().media_gen;
	CHECK(cur != old);
	CHECK_EQ(lun_read(&l, old, buf, 512, 0), BE_ECHANGED);
	CHECK_EQ(lun_write(&l, old, buf, 512, 0, false), BE_ECHANGED);
	CHECK_EQ(lun_flush(&l, old), BE_ECHANGED);
	CHECK_EQ(lun_read(&l, cur, buf, 512, 0), 0);
	CHECK_EQ(buf[0], 0);                    /* fresh media */
	lun_fini(&l);
}

TEST(test_lun_insert_failure_leaves_empty)
{
	uint8_t buf[512];
	uint32_t gen;

	up("memory:1M");
	gen = snap().media_gen;
	CHECK_EQ(lun_insert(&l, "nosuchscheme://x", false, err, sizeof err),
		 BE_EOPEN);
	CHECK(err[0] != '\0');
	CHECK_STR(l.last_error, err);
	CHECK_EQ(snap().state, LUN_EMPTY);
	CHECK_EQ(lun_read(&l, gen, buf, 512, 0), BE_ENOMEDIUM);
	CHECK_EQ(lun_insert(&l, "memory:1M", false, err, sizeof err), 0);
	CHECK_EQ(l.last_error[0], '\0');
	lun_fini(&l);
}

TEST(test_lun_eject_refused_while_prevented)
{
	up("memory:1M");
	lun_set_prevent(&l, true);
	CHECK(snap().prevent);
	errno = 0;
	CHECK_EQ(lun_eject(&l, false, false), -1);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(lun_eject(&l, false, true), -1);
	CHECK_EQ(snap().state, LUN_READY);
	lun_set_prevent(&l, false);
	CHECK_EQ(lun_eject(&l, false, false), 0);
	CHECK_EQ(snap().state, LUN_EMPTY);
	lun_fini(&l);
}

TEST(test_lun_forced_eject_ignores_prevent)
{
	up("memory:1M");
	lun_set_prevent(&l, true);
	CHECK_EQ(lun_eject(&l, true, false), 0);
	CHECK_EQ(snap().state, LUN_EMPTY);
	CHECK(l.source == NULL);
	lun_fini(&l);
}

TEST(test_lun_eject_not_removable)
{
	up_with("memory:1M", false, false, 512);
	errno = 0;
	CHECK_EQ(lun_eject(&l, false, true), -1);
	CHECK_EQ(errno, ENOTSUP);
	CHECK_EQ(snap().state, LUN_READY);
	CHECK_EQ(lun_eject(&l, true, false), 0);
	CHECK_EQ(snap().state, LUN_EMPTY);
	lun_fini(&l);
}

TEST(test_lun_eject_empty_succeeds)
{
	up(NULL);
	CHECK_EQ(lun_eject(&l, false, false), 0);
	CHECK_EQ(snap().state, LUN_EMPTY);
	lun_fini(&l);
}

TEST(test_lun_eject_fences_io)
{
	uint8_t buf[512];
	uint32_t gen;

	up("memory:1M");
	gen = snap().media_gen;
	CHECK_EQ(lun_eject(&l, false, false), 0);
	CHECK(snap().media_gen != gen);
	CHECK_EQ(lun_read(&l, gen, buf, 512, 0), BE_ENOMEDIUM);
	CHECK_EQ(lun_write(&l, gen, buf, 512, 0, false), BE_ENOMEDIUM);
	CHECK_EQ(lun_flush(&l, gen), BE_ENOMEDIUM);
	CHECK_EQ(lun_trim(&l, gen, 512, 0), BE_ENOMEDIUM);
	lun_fini(&l);
}

/* The host's own eject keeps the source so LOAD can close the tray. */
TEST(test_lun_host_eject_then_load)
{
	up("memory:1M");
	lun_take_ua(&l);
	CHECK_EQ(lun_eject(&l, false, true), 0);
	CHECK(l.host_ejected);
	CHECK_STR(l.source, "memory:1M");
	CHECK_EQ(lun_load(&l), 0);
	CHECK_EQ(snap().state, LUN_READY);
	CHECK(!l.host_ejected);
	CHECK_EQ(lun_take_ua(&l), SENSE_MEDIUM_CHANGED);
	lun_fini(&l);
}

TEST(test_lun_admin_eject_then_load_stays_empty)
{
	up("memory:1M");
	CHECK_EQ(lun_eject(&l, false, false), 0);
	CHECK_EQ(lun_load(&l), 0);
	CHECK_EQ(snap().state, LUN_EMPTY);
	lun_fini(&l);
}

/* An admin eject after the host's forgets the media as well. */
TEST(test_lun_host_then_admin_eject_forgets_source)
{
	up("memory:1M");
	CHECK_EQ(lun_eject(&l, false, true), 0);
	CHECK_EQ(lun_eject(&l, false, false), 0);
	CHECK(l.source == NULL);
	CHECK_EQ(lun_load(&l), 0);
	CHECK_EQ(snap().state, LUN_EMPTY);
	lun_fini(&l);
}

TEST(test_lun_load_when_loaded_is_noop)
{
	uint32_t gen;

	up("memory:1M");
	gen = snap().media_gen;
	CHECK_EQ(lun_load(&l), 0);
	CHECK_EQ(snap().media_gen, gen);
	lun_fini(&l);
}

TEST(test_lun_config_read_only_wins)
{
	uint8_t buf[512] = { 0 };

	up_with("memory:1M", true, true, 512);
	CHECK(snap().readonly);
	CHECK_EQ(lun_write(&l, snap().media_gen, buf, 512, 0, false),
		 BE_EROFS);
	CHECK_EQ(lun_insert(&l, "memory:1M", false, err, sizeof err), 0);
	CHECK(snap().readonly);
	lun_fini(&l);
}

TEST(test_lun_insert_read_only)
{
	uint8_t buf[512] = { 0 };

	up(NULL);
	CHECK_EQ(lun_insert(&l, "memory:1M", true, err, sizeof err), 0);
	CHECK(snap().readonly);
	CHECK_EQ(lun_write(&l, snap().media_gen, buf, 512, 0, false),
		 BE_EROFS);
	CHECK_EQ(lun_insert(&l, "memory:1M", false, err, sizeof err), 0);
	CHECK(!snap().readonly);
	lun_fini(&l);
}

TEST(test_lun_unit_attention_order)
{
	up(NULL);
	CHECK(lun_has_ua(&l));
	lun_add_ua(&l, LUN_UA_MEDIUM_CHANGED);
	CHECK_EQ(lun_take_ua(&l), SENSE_POWER_ON_RESET);
	CHECK(!lun_has_ua(&l));
	lun_add_ua(&l, LUN_UA_MEDIUM_CHANGED);
	CHECK_EQ(lun_take_ua(&l), SENSE_MEDIUM_CHANGED);
	CHECK(!lun_has_ua(&l));
	CHECK_EQ(lun_take_ua(&l), SENSE_NONE);
	lun_fini(&l);
}

TEST(test_lun_io_counters)
{
	uint8_t buf[1024];
	uint32_t gen;

	up("memory:1M");
	gen = snap().media_gen;
	memset(buf, 0x5a, sizeof buf);
	CHECK_EQ(lun_write(&l, gen, buf, 1024, 512, false), 0);
	memset(buf, 0, sizeof buf);
	CHECK_EQ(lun_read(&l, gen, buf, 1024, 512), 0);
	CHECK_EQ(buf[1023], 0x5a);
	CHECK_EQ(lun_read(&l, gen, buf, 1024, 1 << 20), BE_EINVAL);
	CHECK_EQ(lun_read(&l, gen + 7, buf, 512, 0), BE_ECHANGED);
	CHECK_EQ(l.stats.read_bytes, 1024);
	CHECK_EQ(l.stats.write_bytes, 1024);
	CHECK_EQ(l.stats.read_errors, 2);
	CHECK_EQ(l.stats.write_errors, 0);
	lun_fini(&l);
}

/* The memory backend has nothing to flush and cannot trim. */
TEST(test_lun_flush_and_trim_on_memory)
{
	up("memory:1M");
	CHECK_EQ(lun_flush(&l, snap().media_gen), 0);
	CHECK_EQ(lun_trim(&l, snap().media_gen, 512, 0), BE_EUNSUPP);
	CHECK(!snap().can_trim);
	lun_fini(&l);
}

/* --- eject racing I/O --------------------------------------------------- */

static atomic_int race_stop;
static int race_bad;

static void *race_io(void *arg)
{
	uint8_t buf[4096];

	(void)arg;
	while (!atomic_load(&race_stop)) {
		struct lun_snapshot s;
		int r;

		lun_snapshot(&l, &s);
		r = lun_read(&l, s.media_gen, buf, sizeof buf, 8192);
		if (r == 0 && s.state == LUN_READY)
			r = lun_write(&l, s.media_gen, buf, sizeof buf, 8192,
				      false);
		if (r != 0 && r != BE_ENOMEDIUM && r != BE_ECHANGED)
			race_bad = r;
	}
	return NULL;
}

TEST(test_lun_eject_insert_race_with_io)
{
	pthread_t t;
	char e[256];

	up("memory:64K");
	atomic_store(&race_stop, 0);
	race_bad = 0;
	if (pthread_create(&t, NULL, race_io, NULL) != 0)
		abort();
	for (int i = 0; i < 2000; i++) {
		if (i % 2)
			CHECK_EQ(lun_eject(&l, true, false), 0);
		else
			CHECK_EQ(lun_insert(&l, "memory:64K", false, e,
					    sizeof e), 0);
	}
	atomic_store(&race_stop, 1);
	pthread_join(t, NULL);
	CHECK_EQ(race_bad, 0);
	lun_fini(&l);
}

/* A zero-copy read pins the media: an eject (the API thread) does not
 * wait for the host, the old instance stays mapped until the USB thread
 * releases it (ASan sees a use after free otherwise), and the generation
 * fences it from then on. */
TEST(test_lun_map_read_pins_media_across_eject)
{
	const void *p = NULL, *q = NULL;
	struct lun_media *pin = NULL, *pin2 = NULL;
	uint8_t pat[512];
	uint32_t gen;

	up("memory:1M");
	gen = snap().media_gen;
	memset(pat, 0x5a, sizeof pat);
	CHECK_EQ(lun_write(&l, gen, pat, sizeof pat, 1024, false), 0);
	CHECK_EQ(lun_map_read(&l, gen, 512, 1024, &p, &pin), 0);
	if (!p || !pin)
		abort();
	CHECK(memcmp(p, pat, sizeof pat) == 0);
	CHECK_EQ(l.stats.read_bytes, 512);
	CHECK_EQ(lun_map_read(&l, gen, 512, 1 << 20, &q, &pin2), BE_EUNSUPP);
	CHECK_EQ(lun_eject(&l, true, false), 0);   /* does not wait */
	CHECK(memcmp(p, pat, sizeof pat) == 0);    /* still mapped */
	CHECK_EQ(lun_map_read(&l, gen, 512, 0, &q, &pin2), BE_ENOMEDIUM);
	lun_map_release(&l, pin);                  /* closes it */
	CHECK_EQ(lun_insert(&l, "memory:1M", false, err, sizeof err), 0);
	CHECK_EQ(lun_map_read(&l, gen, 512, 0, &q, &pin2), BE_ECHANGED);
	lun_fini(&l);
}

/* In-place writes: the bytes land in the media's memory, are counted when
 * lun_map_written() says they arrived, and a failed store switches the
 * media over to copied writes. */
TEST(test_lun_map_write_stores_in_place)
{
	struct lun_media *pin = NULL;
	uint8_t got[512];
	void *p = NULL;
	uint32_t gen;

	up("memory:1M");
	gen = snap().media_gen;
	CHECK_EQ(lun_map_write(&l, gen, 512, 4096, &p, &pin), 0);
	if (!p || !pin)
		abort();
	memset(p, 0xc3, 512);
	CHECK_EQ(lun_map_written(&l, gen, pin, 512, true), 0);
	CHECK_EQ(l.stats.writes, 1);
	CHECK_EQ(l.stats.write_bytes, 512);
	CHECK_EQ(lun_read(&l, gen, got, sizeof got, 4096), 0);
	CHECK(got[0] == 0xc3 && got[511] == 0xc3);
	CHECK_EQ(lun_map_write(&l, gen, 512, 1 << 20, &p, &pin), BE_EUNSUPP);
	CHECK_EQ(lun_map_write(&l, gen + 1, 512, 0, &p, &pin), BE_ECHANGED);

	/* A store that faulted: reported, and copies from then on. */
	CHECK_EQ(lun_map_write(&l, gen, 512, 0, &p, &pin), 0);
	CHECK_EQ(lun_map_written(&l, gen, pin, 512, false), BE_EIO_WRITE);
	CHECK_EQ(l.stats.write_errors, 1);
	CHECK_EQ(lun_map_write(&l, gen, 512, 0, &p, &pin), BE_EUNSUPP);
	CHECK_EQ(lun_write(&l, gen, got, sizeof got, 0, false), 0);
	lun_fini(&l);
}

/* The media is swapped while the host is still sending: the eject does not
 * wait, the bytes land in the old media (kept until the transfer ends) and
 * the command is told the media changed. */
TEST(test_lun_map_write_across_media_change)
{
	struct lun_media *pin = NULL;
	void *p = NULL;
	uint32_t gen;

	up("memory:1M");
	gen = snap().media_gen;
	CHECK_EQ(lun_map_write(&l, gen, 512, 0, &p, &pin), 0);
	CHECK_EQ(lun_insert(&l, "memory:2M", false, err, sizeof err), 0);
	memset(p, 0x11, 512);                      /* the host's data lands */
	CHECK_EQ(lun_map_written(&l, gen, pin, 512, true), BE_ECHANGED);
	CHECK(snap().nblocks == 4096);
	lun_fini(&l);
}

/* Read-only media never hands out writable memory. */
TEST(test_lun_map_write_refused_read_only)
{
	struct lun_media *pin = NULL;
	void *p = NULL;

	up_with("memory:1M", true, true, 512);
	CHECK_EQ(lun_map_write(&l, snap().media_gen, 512, 0, &p, &pin),
		 BE_EROFS);
	lun_fini(&l);
}

/* The host sets PREVENT in a tight loop while the API swaps: a swap never
 * overrides a PREVENT set on loaded media before it (the media stays
 * READY and its generation does not move while the host holds it),
 * because the check and the change are one lock hold (lun_swap). */
static atomic_int prevent_overridden, prevent_stop;

static void *prevent_host(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3000 && !atomic_load(&prevent_stop); i++) {
		struct lun_snapshot at;

		lun_set_prevent(&l, true);
		at = snap();
		/* A swap that began before the PREVENT may still finish;
		 * none may begin while the host holds loaded media. */
		for (int k = 0; k < 20 && at.state == LUN_READY; k++)
			if (snap().state != LUN_READY ||
			    snap().media_gen != at.media_gen)
				atomic_fetch_add(&prevent_overridden, 1);
		lun_set_prevent(&l, false);
		/* Room for swaps while the host allows removal. */
		if (i % 8 == 0)
			usleep(50);
	}
	atomic_store(&prevent_stop, 1);
	return NULL;
}

TEST(test_lun_swap_never_overrides_prevent)
{
	pthread_t t;
	char e[256];
	unsigned swaps = 0, refused = 0;

	up("memory:64K");
	atomic_store(&prevent_overridden, 0);
	atomic_store(&prevent_stop, 0);
	pthread_create(&t, NULL, prevent_host, NULL);
	for (int i = 0; i < 100000 && !atomic_load(&prevent_stop); i++) {
		struct lun_media_req r = { .source = "memory:64K" };

		if (lun_swap(&l, &r, false, e, sizeof e) == 0)
			swaps++;
		else if (errno == EBUSY)
			refused++;
	}
	atomic_store(&prevent_stop, 1);
	pthread_join(t, NULL);
	CHECK_EQ(atomic_load(&prevent_overridden), 0);
	CHECK(swaps > 0);
	lun_set_prevent(&l, true);
	CHECK_EQ(lun_swap(&l, &(struct lun_media_req){ .source = "memory:64K" },
			  false, e, sizeof e), -1);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(lun_swap(&l, &(struct lun_media_req){ .source = "memory:64K" },
			  true, e, sizeof e), 0);
	(void)refused;
	lun_fini(&l);
}

/* A host load (START STOP UNIT) returns at once and the LUN is LOADING
 * until the media is open; lun_wait_loaded() sees it READY after. */
TEST(test_lun_host_load_is_async_then_ready)
{
	up("memory:1M");
	CHECK_EQ(lun_eject(&l, false, true), 0);
	CHECK_EQ(snap().state, LUN_EMPTY);
	/* No executor: the load runs inline, and is over on return. */
	CHECK_EQ(lun_load_start(&l), 1);
	CHECK_EQ(lun_wait_loaded(&l, 1000), LUN_READY);
	CHECK_EQ(lun_load_start(&l), 0);          /* nothing to load */
	lun_fini(&l);
}

/* Media references: I/O holds one without the LUN lock; an eject retires
 * the media at once and the last reference closes it. */
TEST(test_lun_media_reference_outlives_eject)
{
	struct lun_media *m = NULL;
	uint32_t gen;

	up("memory:1M");
	gen = snap().media_gen;
	CHECK_EQ(lun_media_get(&l, gen, &m), 0);
	CHECK(lun_media_direct(&l, gen));
	CHECK_EQ(lun_eject(&l, true, false), 0);
	CHECK_EQ(lun_media_get(&l, gen, &m), BE_ENOMEDIUM);
	CHECK(l.retired != NULL);                 /* still open */
	lun_media_put(&l, m);
	CHECK(l.retired == NULL);                 /* closed by the put */
	lun_fini(&l);
}

int main(void)
{
	log_set_level(LOG_LVL_ERR);
	RUN(test_lun_init_with_media_ready_power_on_only);
	RUN(test_lun_init_bad_media_is_empty_not_fatal);
	RUN(test_lun_init_empty);
	RUN(test_lun_init_4k_blocks);
	RUN(test_lun_serial_long_base_truncated);
	RUN(test_lun_insert_into_empty);
	RUN(test_lun_insert_replaces_media_fences_old_io);
	RUN(test_lun_insert_failure_leaves_empty);
	RUN(test_lun_eject_refused_while_prevented);
	RUN(test_lun_forced_eject_ignores_prevent);
	RUN(test_lun_eject_not_removable);
	RUN(test_lun_eject_empty_succeeds);
	RUN(test_lun_eject_fences_io);
	RUN(test_lun_host_eject_then_load);
	RUN(test_lun_admin_eject_then_load_stays_empty);
	RUN(test_lun_host_then_admin_eject_forgets_source);
	RUN(test_lun_load_when_loaded_is_noop);
	RUN(test_lun_config_read_only_wins);
	RUN(test_lun_insert_read_only);
	RUN(test_lun_unit_attention_order);
	RUN(test_lun_io_counters);
	RUN(test_lun_flush_and_trim_on_memory);
	RUN(test_lun_eject_insert_race_with_io);
	RUN(test_lun_map_read_pins_media_across_eject);
	RUN(test_lun_map_write_stores_in_place);
	RUN(test_lun_map_write_across_media_change);
	RUN(test_lun_map_write_refused_read_only);
	RUN(test_lun_swap_never_overrides_prevent);
	RUN(test_lun_host_load_is_async_then_ready);
	RUN(test_lun_media_reference_outlives_eject);
	return test_summary();
}
