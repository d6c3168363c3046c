/* test-ffs.c — ep0 event handling (ffs_dispatch(), ffs_ack()) without a
 * UDC: ep0 is one end of a Unix stream socketpair, non-blocking like
 * FunctionFS's.  The test writes struct usb_functionfs_event records into
 * the other end, several in one write() so that one read() of ep0 takes
 * them as one batch, and reads back what the daemon answers (GET MAX LUN).
 * The callbacks record the order they ran in.
 */
#include "ffs.h"
#include "test.h"

#include <endian.h>
#include <fcntl.h>
#include <linux/usb/ch9.h>
#include <linux/usb/functionfs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static struct ffs f;
static int host = -1;          /* the kernel's end of ep0 */

/* What the callbacks saw, in order: 'e'nable, 'd'isable, 'r'eset. */
static char seen[32];
static unsigned nseen;
static bool ack_in_reset;      /* on_reset acks at once (BOT offline) */

static void see(char c)
{
	if (nseen + 1 < sizeof seen)
		seen[nseen++] = c;
	seen[nseen] = '\0';
}

static void on_enable(void *arg)
{
	(void)arg;
	see('e');
}

static void on_disable(void *arg)
{
	(void)arg;
	see('d');
}

static void on_reset(void *arg)
{
	(void)arg;
	see('r');
	if (ack_in_reset)
		ffs_ack(&f);
}

static const struct ffs_events events = {
	.enable = on_enable,
	.disable = on_disable,
	.reset = on_reset,
};

static void up(void)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0)
		abort();
	memset(&f, 0, sizeof f);
	f.ep0 = sv[0];
	f.ep_in = f.ep_out = -1;
	f.state = USB_CONFIGURED;
	host = sv[1];
	nseen = 0;
	seen[0] = '\0';
	ack_in_reset = false;
}

static void down(void)
{
	ffs_close(&f);
	close(host);
	host = -1;
}

static struct usb_functionfs_event ev_plain(uint8_t type)
{
	struct usb_functionfs_event e;

	memset(&e, 0, sizeof e);
	e.type = type;
	return e;
}

static struct usb_functionfs_event ev_setup(uint8_t dir, uint8_t request,
					    uint16_t length)
{
	struct usb_functionfs_event e = ev_plain(FUNCTIONFS_SETUP);

	e.u.setup.bRequestType = dir | USB_TYPE_CLASS | USB_RECIP_INTERFACE;
	e.u.setup.bRequest = request;
	e.u.setup.wLength = htole16(length);
	return e;
}

/* Bulk-Only Mass Storage Reset (BOT 3.1), answered with ffs_ack(). */
static struct usb_functionfs_event ev_reset(void)
{
	return ev_setup(USB_DIR_OUT, 0xff, 0);
}

/* GET MAX LUN (BOT 3.2), answered with one byte on ep0. */
static struct usb_functionfs_event ev_max_lun(void)
{
	return ev_setup(USB_DIR_IN, 0xfe, 1);
}

/* The kernel queues n events; one read() of ep0 takes up to 8. */
static void host_events(const struct usb_functionfs_event *e, size_t n)
{
	CHECK_EQ(write(host, e, n * sizeof *e), (long)(n * sizeof *e));
}

/* Bytes the daemon has not read from ep0 yet. */
static int ep0_unread(void)
{
	int n = -1;

	CHECK_EQ(ioctl(f.ep0, FIONREAD, &n), 0);
	return n;
}

/* Bytes the daemon has answered on ep0. */
static int host_unread(void)
{
	int n = -1;

	CHECK_EQ(ioctl(host, FIONREAD, &n), 0);
	return n;
}

/* A DISABLE and an ENABLE read in the same batch as a reset are held
 * while the reset is pending, and delivered in order once it is acked. */
TEST(reset_keeps_rest_of_batch)
{
	struct usb_functionfs_event e[3] = {
		ev_reset(), ev_plain(FUNCTIONFS_DISABLE),
		ev_plain(FUNCTIONFS_ENABLE),
	};

	up();
	host_events(e, 3);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK_STR(seen, "r");
	CHECK(f.setup_pending);
	ffs_ack(&f);
	CHECK(!f.setup_pending);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK_STR(seen, "rde");
	CHECK_EQ(f.state, USB_CONFIGURED);
	down();
}

/* ffs_held() tells the event loop when ffs_dispatch() has events to hand
 * out without ep0 polling readable: after the ack, not before, and not
 * once they are handed out. */
TEST(held_says_when_to_dispatch)
{
	struct usb_functionfs_event e[2] = {
		ev_reset(), ev_plain(FUNCTIONFS_DISABLE),
	};

	up();
	CHECK(!ffs_held(&f));
	host_events(e, 2);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK(!ffs_held(&f));          /* pending: ep0 must not be touched */
	ffs_ack(&f);
	CHECK(ffs_held(&f));
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK(!ffs_held(&f));
	CHECK_STR(seen, "rd");
	down();
}

/* A second reset in the held events is pending in its turn: what follows
 * it waits for the second ack. */
TEST(second_reset_in_batch_holds_again)
{
	struct usb_functionfs_event e[4] = {
		ev_reset(), ev_plain(FUNCTIONFS_DISABLE), ev_reset(),
		ev_plain(FUNCTIONFS_ENABLE),
	};

	up();
	host_events(e, 4);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK_STR(seen, "r");
	ffs_ack(&f);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK_STR(seen, "rdr");
	CHECK(f.setup_pending);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);   /* still pending: nothing */
	CHECK_STR(seen, "rdr");
	ffs_ack(&f);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK_STR(seen, "rdre");
	CHECK(!f.setup_pending);
	down();
}

/* While a reset is pending ep0 is not read, and after the ack the held
 * events come before the ones the kernel queued later. */
TEST(held_events_before_later_ones)
{
	struct usb_functionfs_event e[2] = {
		ev_reset(), ev_plain(FUNCTIONFS_ENABLE),
	};
	struct usb_functionfs_event later = ev_plain(FUNCTIONFS_DISABLE);

	up();
	host_events(e, 2);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	host_events(&later, 1);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK_STR(seen, "r");
	CHECK_EQ(ep0_unread(), (int)sizeof later);
	ffs_ack(&f);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK_STR(seen, "red");
	CHECK_EQ(ep0_unread(), 0);
	CHECK_EQ(f.state, USB_ATTACHED);
	down();
}

/* A GET MAX LUN behind a reset in the batch is answered only after the
 * reset's status stage. */
TEST(get_max_lun_behind_reset_answered_after_ack)
{
	struct usb_functionfs_event e[2] = { ev_reset(), ev_max_lun() };
	uint8_t reply = 0xaa;

	up();
	f.max_lun = 3;
	host_events(e, 2);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK_EQ(host_unread(), 0);
	ffs_ack(&f);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK_EQ(recv(host, &reply, 1, MSG_DONTWAIT), 1);
	CHECK_EQ(reply, 3);
	down();
}

/* A reset acked inside its callback (nothing to drain) does not stop the
 * batch: the rest is delivered in the same ffs_dispatch(). */
TEST(reset_acked_at_once_delivers_rest)
{
	struct usb_functionfs_event e[3] = {
		ev_reset(), ev_plain(FUNCTIONFS_DISABLE),
		ev_plain(FUNCTIONFS_ENABLE),
	};

	up();
	ack_in_reset = true;
	host_events(e, 3);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK_STR(seen, "rde");
	CHECK(!f.setup_pending);
	down();
}

/* More than one read()'s worth (8) queued behind a reset: the first 8
 * come in one batch, the rest are read after the ack, all in order. */
TEST(reset_in_full_batch_keeps_order)
{
	struct usb_functionfs_event e[11];

	up();
	e[0] = ev_plain(FUNCTIONFS_ENABLE);
	e[1] = ev_reset();
	for (size_t i = 2; i < 11; i++)
		e[i] = ev_plain(i % 2 ? FUNCTIONFS_ENABLE : FUNCTIONFS_DISABLE);
	host_events(e, 11);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK_STR(seen, "er");
	CHECK_EQ(ep0_unread(), (int)(3 * sizeof e[0]));
	ffs_ack(&f);
	CHECK_EQ(ffs_dispatch(&f, &events), 0);
	CHECK_STR(seen, "erdedededed");
	CHECK_EQ(ep0_unread(), 0);
	down();
}

int main(void)
{
	RUN(reset_keeps_rest_of_batch);
	RUN(held_says_when_to_dispatch);
	RUN(second_reset_in_batch_holds_again);
	RUN(held_events_before_later_ones);
	RUN(get_max_lun_behind_reset_answered_after_ack);
	RUN(reset_acked_at_once_delivers_rest);
	RUN(reset_in_full_batch_keeps_order);
	return test_summary();
}
