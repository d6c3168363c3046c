/* test-usbio.c — the real transport's serial thread, on real file
 * descriptors: each endpoint is a pipe, whose blocking read() or write()
 * a signal interrupts, as FunctionFS's does.  The test's own thread plays
 * the USB thread (it polls usbio_fd() and reaps under the USB lock) and
 * the host (it writes CBWs into the OUT pipe and reads data and CSWs from
 * the IN pipe).  Commands here fit in one transfer, so every transfer is
 * serial and none goes through AIO.
 */
#include "fakehost.h"
#include "bytes.h"
#include "test.h"
#include "usbio.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static struct fh_dev d;
static struct usbio u;
static int out_pipe[2] = { -1, -1 };
static int in_pipe[2] = { -1, -1 };

static const struct fh_lun_cfg one_lun[] = { { .media = "memory:1M" } };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The fake device's LUNs and BOT, rewired onto usbio, with the serial
 * thread started and the endpoints enabled (a CBW read pending). */
static void up(void)
{
	if (fh_dev_init(&d, one_lun, 1, 32768, 4, 512) < 0)
		abort();
	fh_disable(&d.fh);
	fh_deliver_all(&d.fh);
	bot_fini(&d.bot);
	if (pipe(out_pipe) < 0 || pipe2(in_pipe, O_NONBLOCK) < 0 ||
	    fcntl(in_pipe[1], F_SETFL, 0) < 0)
		abort();
	if (usbio_init(&u, in_pipe[1], out_pipe[0]) < 0 ||
	    bot_init(&d.bot, &d.target, &usbio_ops, &u, 32768, 4) < 0)
		abort();
	usbio_set_bot(&u, &d.bot);
	usbio_start_serial(&u);
	usbio_lock(&u);
	bot_enable(&d.bot);
	usbio_flush(&u);
	usbio_unlock(&u);
	fh_dev_clear_ua(&d);
}

/* One turn of the USB thread's loop.  Returns usbio_busy(). */
static unsigned loop_once(int max_ms)
{
	struct pollfd p = { .fd = usbio_fd(&u), .events = POLLIN };
	unsigned busy;
	int timeout;

	usbio_lock(&u);
	timeout = usbio_poll_timeout(&u);
	usbio_unlock(&u);
	(void)poll(&p, 1, timeout < 0 || timeout > max_ms ? max_ms : timeout);
	usbio_lock(&u);
	usbio_reap(&u);
	usbio_flush(&u);
	busy = usbio_busy(&u);
	usbio_unlock(&u);
	return busy;
}

/* Runs the loop until pred() holds (bounded: 5 s).  Returns pred(). */
static bool loop_until(bool (*pred)(void))
{
	double end = now_s() + 5;

	while (!pred() && now_s() < end)
		loop_once(10);
	return pred();
}

static bool bot_idle(void)
{
	bool r;

	usbio_lock(&u);
	r = d.bot.state == BOT_CBW && d.bot.inflight[XPORT_EP_IN] == 0 &&
	    d.bot.inflight[XPORT_EP_OUT] == 1;
	usbio_unlock(&u);
	return r;
}

static bool nothing_busy(void)
{
	bool r;

	usbio_lock(&u);
	r = usbio_busy(&u) == 0;
	usbio_unlock(&u);
	return r;
}

/* What up() made besides usbio: the BOT, the pipes, the LUNs. */
static void down_bot(void)
{
	bot_fini(&d.bot);
	close(out_pipe[0]);
	close(out_pipe[1]);
	close(in_pipe[0]);
	close(in_pipe[1]);
	for (unsigned i = 0; i < d.target.nluns; i++)
		lun_fini(&d.luns[i]);
	fh_fini(&d.fh);
}

static void down(void)
{
	usbio_lock(&u);
	bot_disable(&d.bot);
	usbio_unlock(&u);
	CHECK(loop_until(nothing_busy));
	CHECK_EQ(usbio_fini(&u), 0);
	down_bot();
}

static void host_cbw(uint32_t tag, uint32_t len, const uint8_t *cdb,
		     unsigned cdb_len)
{
	uint8_t cbw[BOT_CBW_LEN];

	fh_make_cbw(cbw, tag, len, true, 0, cdb, cdb_len);
	CHECK_EQ(write(out_pipe[1], cbw, sizeof cbw), (long)sizeof cbw);
}

static size_t in_want;

static bool in_ready(void)
{
	int avail = 0;

	return ioctl(in_pipe[0], FIONREAD, &avail) == 0 &&
	       (size_t)avail >= in_want;
}

/* The host reads n bytes of IN data (waiting for them, bounded). */
static void host_in(void *buf, size_t n)
{
	in_want = n;
	CHECK(loop_until(in_ready));
	CHECK_EQ(read(in_pipe[0], buf, n), (long)n);
}

/* The host reads the CSW: the next 13 bytes on the IN pipe. */
static void check_csw(uint32_t tag, uint8_t status)
{
	uint8_t csw[BOT_CSW_LEN];

	host_in(csw, sizeof csw);
	CHECK_EQ(get_le32(csw), BOT_CSW_SIGNATURE);
	CHECK_EQ(get_le32(csw + 4), tag);
	CHECK_EQ(csw[12], status);
}

static const uint8_t cdb_tur[6] = { 0x00 };

/* The host sends TEST UNIT READY and reads a good CSW. */
static void check_tur(uint32_t tag)
{
	host_cbw(tag, 0, cdb_tur, 6);
	check_csw(tag, BOT_CSW_GOOD);
	CHECK(loop_until(bot_idle));
}

/* A Bulk-Only reset from ep0, as the USB thread gets it. */
static void reset_now(void (*done)(void *))
{
	usbio_lock(&u);
	bot_reset(&d.bot, done, NULL);
	usbio_unlock(&u);
}

/* The serial thread runs small commands on its own: CBW, data, CSW and
 * the next CBW read, in order, with nothing for the USB thread to do. */
TEST(serial_runs_commands)
{
	uint8_t cdb[10];
	uint8_t media[512], got[512];

	up();
	usbio_lock(&u);
	CHECK_EQ(usbio_busy(&u), 1);
	CHECK(u.serial_on);
	CHECK_EQ(u.sq_len, 1);
	usbio_unlock(&u);
	check_tur(7);

	/* READ(10) of LBA 3: the data, then the CSW. */
	for (size_t i = 0; i < sizeof media; i++)
		media[i] = (uint8_t)(i * 13 + 5);
	CHECK_EQ(fh_media_put(&d, 0, 3 * 512, media, sizeof media), 0);
	fh_rw10(cdb, 0x28, 3, 1);
	host_cbw(8, 512, cdb, 10);
	CHECK(loop_until(bot_idle));
	host_in(got, sizeof got);
	CHECK(memcmp(got, media, sizeof got) == 0);
	check_csw(8, BOT_CSW_GOOD);
	CHECK_EQ(d.bot.stats.commands, 2);
	down();
}

/* Disabling with the serial thread blocked in read(): the read is
 * interrupted, its completion reaches the USB thread, and the BOT goes
 * offline, in bounded time. */
/* sq_running is the serial thread's, under the USB lock. */
static bool serial_running(void)
{
	bool r;

	usbio_lock(&u);
	r = u.sq_running;
	usbio_unlock(&u);
	return r;
}

/* The serial thread is in a write() on bulk-in. */
static bool serial_writing_in(void)
{
	bool r;

	usbio_lock(&u);
	r = u.sq_running && u.sq[u.sq_head].ep == XPORT_EP_IN;
	usbio_unlock(&u);
	return r;
}

TEST(cancel_interrupts_read)
{
	double t0;

	up();
	/* Let the serial thread get into read(). */
	for (int i = 0; i < 100 && !serial_running(); i++)
		loop_once(1);
	t0 = now_s();
	usbio_lock(&u);
	bot_disable(&d.bot);
	usbio_unlock(&u);
	CHECK(loop_until(nothing_busy));
	CHECK(now_s() - t0 < 2);
	usbio_lock(&u);
	CHECK_EQ(d.bot.state, BOT_OFFLINE);
	CHECK(!u.sq_running);
	CHECK_EQ(u.sq_len, 0);
	usbio_unlock(&u);
	down();
}

/* A Bulk-Only reset while the CBW read is pending: acknowledged once the
 * read has ended, and the next CBW read is queued again and works. */
static unsigned resets_acked;

static void on_reset_done(void *arg)
{
	(void)arg;
	resets_acked++;
}

static bool reset_acked(void)
{
	return resets_acked > 0;
}

TEST(reset_requeues_cbw)
{
	up();
	resets_acked = 0;
	for (int i = 0; i < 100 && !serial_running(); i++)
		loop_once(1);
	reset_now(on_reset_done);
	CHECK(loop_until(reset_acked));
	CHECK(loop_until(bot_idle));
	check_tur(9);
	down();
}

/* Many cancels racing the serial thread's way into read(): each one
 * still ends the read (the USB thread repeats the signal). */
TEST(cancel_races_bounded)
{
	up();
	for (int i = 0; i < 200; i++) {
		reset_now(NULL);
		CHECK(loop_until(bot_idle));
	}
	check_tur(10);
	down();
}

/* A CSW the host does not read yet: the serial thread waits in write();
 * a reset interrupts it, and the host's later read finds nothing stale
 * queued behind. */
TEST(reset_interrupts_write)
{
	uint8_t byte;

	up();
	resets_acked = 0;
	/* Fill the IN pipe so that the CSW's write() blocks. */
	{
		static uint8_t junk[4096];
		int fl = fcntl(in_pipe[1], F_GETFL);

		fcntl(in_pipe[1], F_SETFL, fl | O_NONBLOCK);
		while (write(in_pipe[1], junk, sizeof junk) > 0)
			;
		fcntl(in_pipe[1], F_SETFL, fl);
	}
	host_cbw(11, 0, cdb_tur, 6);
	for (int i = 0; i < 200 && !serial_writing_in(); i++)
		loop_once(1);
	CHECK(serial_writing_in());
	reset_now(on_reset_done);
	CHECK(loop_until(reset_acked));
	CHECK(loop_until(bot_idle));
	/* Drain the junk: no CSW was written after it. */
	fcntl(in_pipe[0], F_SETFL, O_NONBLOCK);
	while (read(in_pipe[0], &byte, 1) == 1 && byte == 0)
		;
	CHECK_EQ(read(in_pipe[0], &byte, 1), -1);
	fcntl(in_pipe[0], F_SETFL, 0);
	down();
}

/* The end of the test after usbio_fini() left a stuck serial thread
 * behind, once that thread is gone: what the daemon leaves to the
 * process's exit, freed by hand. */
static void down_after_stuck(void)
{
	io_destroy(u.ctx);
	close(u.efd);
	pthread_cond_destroy(&u.serial_wake);
	pthread_mutex_destroy(&u.lock);
	down_bot();
}

/* A serial thread stuck in its transfer (the cancel signal ignored, so
 * nothing interrupts its read(), as with a UDC that never completes):
 * usbio_fini() gives up on it, says so, and leaves alone what the thread
 * still uses, the eventfd, the AIO context and the lock.  When the
 * transfer ends at last, the thread reports it on that same eventfd and
 * leaves. */
TEST(fini_leaves_stuck_thread_its_resources)
{
	struct sigaction ign, old;
	struct timespec zero = { 0, 0 };
	struct io_event ev;
	uint8_t cbw[BOT_CBW_LEN] = { 0 };
	struct pollfd p;
	bool running = false;

	up();
	for (int i = 0; i < 100 && !running; i++) {
		loop_once(1);
		usbio_lock(&u);
		running = u.sq_running;
		usbio_unlock(&u);
	}
	CHECK(running);
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	CHECK_EQ(sigaction(SIGUSR2, &ign, &old), 0);
	usbio_lock(&u);
	bot_disable(&d.bot);
	usbio_unlock(&u);
	CHECK_EQ(usbio_fini(&u), -1);
	CHECK(fcntl(u.efd, F_GETFD) >= 0);
	/* The system call: libaio's io_getevents() reads the ring first,
	 * which io_destroy() unmaps. */
	CHECK_EQ(syscall(SYS_io_getevents, u.ctx, 0L, 1L, &ev, &zero), 0);
	CHECK_EQ(pthread_mutex_trylock(&u.lock), 0);
	pthread_mutex_unlock(&u.lock);

	/* The host sends the bytes at last: the read ends, cancelled. */
	CHECK_EQ(write(out_pipe[1], cbw, sizeof cbw), (long)sizeof cbw);
	p.fd = u.efd;
	p.events = POLLIN;
	CHECK_EQ(poll(&p, 1, 5000), 1);
	CHECK_EQ(p.revents, POLLIN);
	/* It held the lock from the read's end until it left. */
	usbio_lock(&u);
	CHECK(!u.sq_running);
	CHECK_EQ(u.sq_len, 0);
	CHECK_EQ(u.nlater, 1);
	usbio_unlock(&u);
	CHECK_EQ(sigaction(SIGUSR2, &old, NULL), 0);
	down_after_stuck();
}

/* Without the serial thread, serial transfers go through AIO. */
TEST(no_serial_thread_uses_aio)
{
	struct usbio v;
	uint8_t buf[64];

	CHECK_EQ(usbio_init(&v, -1, -1), 0);
	CHECK_EQ(usbio_ops.submit(&v, XPORT_EP_OUT, buf, sizeof buf, 1,
				  XPORT_SERIAL), 0);
	CHECK_EQ(v.nbatch, 1);
	CHECK_EQ(v.sq_len, 0);
	CHECK_EQ(usbio_busy(&v), 1);
	v.nbatch = 0;   /* never submitted */
	CHECK_EQ(usbio_fini(&v), 0);
}

/* Whether the kernel (or emulator) has Linux AIO: qemu-user does not
 * implement io_setup, so under `make check-cross` this file is skipped. */
static bool have_linux_aio(void)
{
	unsigned long ctx = 0;

	if (syscall(SYS_io_setup, 1, &ctx) < 0)
		return errno != ENOSYS;
	syscall(SYS_io_destroy, ctx);
	return true;
}

int main(void)
{
	if (!have_linux_aio()) {
		printf("SKIP: io_setup: not implemented (qemu-user?)\n");
		return 77;
	}
	RUN(serial_runs_commands);
	RUN(cancel_interrupts_read);
	RUN(reset_requeues_cbw);
	RUN(cancel_races_bounded);
	RUN(reset_interrupts_write);
	RUN(no_serial_thread_uses_aio);
	RUN(fini_leaves_stuck_thread_its_resources);
	return test_summary();
}
