/* usbio.c — the FunctionFS transport: AIO for the data of large commands,
 * the serial thread for everything else (usbio.h says why).
 *
 * The serial thread takes XPORT_SERIAL transfers in submission order.
 * Before each it flushes the AIO batch, so whatever was submitted earlier
 * is on the wire first; then it drops the USB lock around one blocking
 * read() or write().  A transfer that ends with bytes, with no cancel()
 * since it started, is reported by the serial thread itself: the BOT then
 * runs there, and queues the command's data, status and the next CBW read
 * without waking anyone.  Errors and cancelled transfers are handed to the
 * USB thread instead (the `later` list and the eventfd), so the BOT's
 * drain and ep0 acknowledgements stay on that thread.
 *
 * Cancelling: USBIO_CANCEL_SIGNAL, whose handler does nothing and does not
 * restart system calls, interrupts the blocking call; FunctionFS dequeues
 * the request, or returns the bytes if they moved first.  A signal that
 * lands just before the thread enters the call is lost, so the USB thread
 * repeats it every millisecond (usbio_poll_timeout(), usbio_reap()) until
 * the call has ended.
 */
#include "usbio.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define USBIO_CANCEL_SIGNAL SIGUSR2
/* usbio_fini: how long the serial thread gets to leave its call, in ms. */
#define USBIO_STOP_MS 2000
/* A blocking call interrupted by something other than a cancel is made
 * again, this many times at most. */
#define USBIO_EINTR_RETRIES 100

int usbio_init(struct usbio *u, int fd_in, int fd_out)
{
	int r;

	memset(u, 0, sizeof *u);
	u->fd[XPORT_EP_IN] = fd_in;
	u->fd[XPORT_EP_OUT] = fd_out;
	for (size_t i = 0; i < USBIO_SLOTS; i++)
		u->slots[i].ep = -1;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->serial_wake, NULL);
	u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->efd < 0) {
		log_err("usbio: eventfd");
		return -1;
	}
	r = io_setup(USBIO_SLOTS, &u->ctx);
	if (r < 0) {
		errno = -r;
		log_err("usbio: io_setup");
		close(u->efd);
		return -1;
	}
	return 0;
}

void usbio_set_bot(struct usbio *u, struct bot *b)
{
	u->bot = b;
}

void usbio_lock(struct usbio *u)
{
	pthread_mutex_lock(&u->lock);
}

void usbio_unlock(struct usbio *u)
{
	pthread_mutex_unlock(&u->lock);
}

int usbio_fd(const struct usbio *u)
{
	return u->efd;
}

unsigned usbio_busy(const struct usbio *u)
{
	return u->busy;
}

static struct usbio_serial *usbio_sq_at(struct usbio *u, unsigned i)
{
	return &u->sq[(u->sq_head + i) % USBIO_SERIAL_MAX];
}

int usbio_poll_timeout(const struct usbio *u)
{
	return u->sq_running && u->sq[u->sq_head].cancelled ? 1 : -1;
}

/* Reports a completion to the BOT. */
static void usbio_deliver(struct usbio *u, uint64_t tag, long res)
{
	u->busy--;
	if (u->bot)
		bot_complete(u->bot, tag, res);
}

/* tag completes with res at the next usbio_reap(), on the USB thread. */
static void usbio_later(struct usbio *u, uint64_t tag, long res)
{
	uint64_t one = 1;

	u->later_tag[u->nlater] = tag;
	u->later_res[u->nlater++] = res;
	if (write(u->efd, &one, sizeof one) < 0)
		log_warn("usbio: eventfd");
}

/* --- AIO ----------------------------------------------------------------- */

static int usbio_submit_aio(struct usbio *u, enum xport_ep ep, void *buf,
			    uint32_t len, uint64_t tag)
{
	struct usbio_slot *s = NULL;

	for (size_t i = 0; i < USBIO_SLOTS && !s; i++)
		if (u->slots[i].ep < 0)
			s = &u->slots[i];
	if (!s)
		return -ENOBUFS;
	if (ep == XPORT_EP_IN)
		io_prep_pwrite(&s->cb, u->fd[ep], buf, len, 0);
	else
		io_prep_pread(&s->cb, u->fd[ep], buf, len, 0);
	io_set_eventfd(&s->cb, u->efd);
	s->cb.data = s;
	s->tag = tag;
	s->ep = (int)ep;
	u->busy++;
	u->batch[u->nbatch++] = &s->cb;
	return 0;
}

/* io_submit refused these: they complete with the error at the next reap,
 * like any failed transfer. */
static void usbio_fail_batch(struct usbio *u, unsigned from, long err)
{
	for (unsigned i = from; i < u->nbatch; i++) {
		struct usbio_slot *s = u->batch[i]->data;

		s->ep = -1;
		usbio_later(u, s->tag, err);
	}
}

void usbio_flush(struct usbio *u)
{
	unsigned done = 0;

	/* Bounded: every round submits at least one iocb or gives up. */
	while (done < u->nbatch) {
		int r = io_submit(u->ctx, (long)(u->nbatch - done),
				  u->batch + done);
		if (r == -EAGAIN || r == -EINTR)
			r = io_submit(u->ctx, 1, u->batch + done);
		if (r <= 0) {
			log_debug(LOG_MOD_FFS, "io_submit: %s",
				  strerror(r < 0 ? -r : EIO));
			usbio_fail_batch(u, done, r < 0 ? r : -EIO);
			break;
		}
		done += (unsigned)r;
	}
	u->nbatch = 0;
}

static void usbio_flush_op(void *ctx)
{
	usbio_flush(ctx);
}

/* --- xport_ops ----------------------------------------------------------- */

static int usbio_submit(void *ctx, enum xport_ep ep, void *buf, uint32_t len,
			uint64_t tag, unsigned flags)
{
	struct usbio *u = ctx;
	struct usbio_serial *e;

	if (!(flags & XPORT_SERIAL) || !u->serial_on)
		return usbio_submit_aio(u, ep, buf, len, tag);
	if (u->sq_len == USBIO_SERIAL_MAX)
		return -ENOBUFS;
	e = usbio_sq_at(u, u->sq_len++);
	e->tag = tag;
	e->ep = ep;
	e->buf = buf;
	e->len = len;
	e->cancelled = false;
	u->busy++;
	pthread_cond_signal(&u->serial_wake);
	return 0;
}

/* FunctionFS stalls an endpoint when it is used in the wrong direction;
 * the call then fails with EBADMSG, which here means success. */
static int usbio_halt(void *ctx, enum xport_ep ep)
{
	struct usbio *u = ctx;
	char byte = 0;
	ssize_t r;

	if (ep == XPORT_EP_IN)
		r = read(u->fd[ep], &byte, 1);
	else
		r = write(u->fd[ep], &byte, 1);
	if (r < 0 && errno == EBADMSG) {
		log_debug(LOG_MOD_FFS, "halted %s", ep == XPORT_EP_IN ? "in" : "out");
		return 0;
	}
	log_debug(LOG_MOD_FFS, "halt %s: %s", ep == XPORT_EP_IN ? "in" : "out",
		  r < 0 ? strerror(errno) : "did not stall");
	return -1;
}

/* Makes a cancelled serial transfer end: wakes the serial thread for one
 * it has not started, interrupts the call for the one it is in. */
static void usbio_kick(struct usbio *u)
{
	if (!u->sq_len)
		return;
	if (!u->sq_running)
		pthread_cond_signal(&u->serial_wake);
	else if (u->sq[u->sq_head].cancelled)
		pthread_kill(u->serial, USBIO_CANCEL_SIGNAL);
}

/* Marks the queued serial transfers on ep (-1: on both) cancelled. */
static void usbio_sq_cancel(struct usbio *u, int ep)
{
	for (unsigned i = 0; i < u->sq_len; i++)
		if (ep < 0 || (int)usbio_sq_at(u, i)->ep == ep)
			usbio_sq_at(u, i)->cancelled = true;
}

static void usbio_cancel(void *ctx, enum xport_ep ep)
{
	struct usbio *u = ctx;
	struct io_event ev;

	u->cancels++;
	usbio_sq_cancel(u, (int)ep);
	usbio_kick(u);
	usbio_flush(u);   /* held-back transfers are cancelled like the rest */
	for (size_t i = 0; i < USBIO_SLOTS; i++) {
		if (u->slots[i].ep != (int)ep)
			continue;
		/* -EINPROGRESS: the completion arrives through the ring. */
		(void)io_cancel(u->ctx, &u->slots[i].cb, &ev);
	}
}

void usbio_reap(struct usbio *u)
{
	struct io_event events[USBIO_SLOTS];
	struct timespec zero = { 0, 0 };
	uint64_t count;
	int n;

	if (read(u->efd, &count, sizeof count) < 0 && errno != EAGAIN)
		log_warn("usbio: eventfd");
	usbio_kick(u);
	/* Bounded: what these deliveries add is taken at the next reap. */
	for (unsigned i = 0, end = u->nlater; i < end; i++) {
		u->nlater--;
		usbio_deliver(u, u->later_tag[u->nlater],
			      u->later_res[u->nlater]);
	}
	/* Bounded: each round frees at least one slot or stops. */
	for (int round = 0; round < 64; round++) {
		n = io_getevents(u->ctx, 0, USBIO_SLOTS, events, &zero);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			struct usbio_slot *s = events[i].data;

			s->ep = -1;
			usbio_deliver(u, s->tag, (long)events[i].res);
		}
	}
}

const struct xport_ops usbio_ops = {
	.submit = usbio_submit,
	.halt = usbio_halt,
	.cancel = usbio_cancel,
	.flush = usbio_flush_op,
};

/* --- the serial thread --------------------------------------------------- */

static void usbio_cancel_handler(int sig)
{
	(void)sig;
}

/* Moves e with one blocking call: the byte count or -errno.  Called and
 * returns with the lock held; drops it around the call. */
static long usbio_serial_io(struct usbio *u, struct usbio_serial *e)
{
	for (int tries = 0; tries < USBIO_EINTR_RETRIES; tries++) {
		ssize_t n;
		int err;

		if (e->cancelled)
			return -ECANCELED;
		pthread_mutex_unlock(&u->lock);
		if (e->ep == XPORT_EP_IN)
			n = write(u->fd[e->ep], e->buf, e->len);
		else
			n = read(u->fd[e->ep], e->buf, e->len);
		err = n < 0 ? errno : 0;
		pthread_mutex_lock(&u->lock);
		if (n >= 0)
			return (long)n;
		if (err != EINTR)
			return -err;
	}
	return -EINTR;
}

static void *usbio_serial_main(void *arg)
{
	struct usbio *u = arg;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, USBIO_CANCEL_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	pthread_mutex_lock(&u->lock);
	while (!u->serial_stop) {
		struct usbio_serial *e;
		unsigned cancels;
		uint64_t tag;
		long res;

		if (!u->sq_len) {
			pthread_cond_wait(&u->serial_wake, &u->lock);
			continue;
		}
		usbio_flush(u);   /* what was submitted before goes first */
		e = &u->sq[u->sq_head];
		cancels = u->cancels;
		u->sq_running = true;
		res = usbio_serial_io(u, e);
		u->sq_running = false;
		tag = e->tag;
		u->sq_head = (u->sq_head + 1) % USBIO_SERIAL_MAX;
		u->sq_len--;
		if (res >= 0 && !e->cancelled && u->cancels == cancels) {
			usbio_deliver(u, tag, res);
			usbio_flush(u);
		} else {
			usbio_later(u, tag, res);
		}
	}
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

void usbio_start_serial(struct usbio *u)
{
	struct sigaction sa;
	sigset_t set;
	int r;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = usbio_cancel_handler;   /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	if (sigaction(USBIO_CANCEL_SIGNAL, &sa, NULL) < 0) {
		log_warn("usbio: sigaction");
		return;
	}
	/* Only the serial thread takes the signal. */
	sigemptyset(&set);
	sigaddset(&set, USBIO_CANCEL_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	r = pthread_create(&u->serial, NULL, usbio_serial_main, u);
	if (r != 0) {
		errno = r;
		log_warn("usbio: serial thread; every transfer goes through AIO");
		return;
	}
	u->serial_on = true;
}

/* Stops the serial thread.  Returns 0, or -1 when it is still in its call
 * after USBIO_STOP_MS: it is then left running, detached (usbio.h). */
static int usbio_stop_serial(struct usbio *u)
{
	struct timespec ms = { 0, 1000000 };
	bool running = true;

	if (!u->serial_on)
		return 0;
	pthread_mutex_lock(&u->lock);
	u->serial_stop = true;
	usbio_sq_cancel(u, -1);
	pthread_cond_signal(&u->serial_wake);
	pthread_mutex_unlock(&u->lock);
	/* Bounded: the thread leaves its call at the first signal it gets
	 * inside it, or when the endpoint goes away. */
	for (int waited = 0; running && waited < USBIO_STOP_MS; waited++) {
		pthread_mutex_lock(&u->lock);
		running = u->sq_running;
		usbio_kick(u);
		pthread_mutex_unlock(&u->lock);
		if (running)
			nanosleep(&ms, NULL);
	}
	if (running) {
		/* serial_on stays set: the thread still uses the lock. */
		log_warnx("usbio: serial thread stuck in a transfer; leaving "
			  "it, its buffer, the eventfd and the AIO context");
		pthread_detach(u->serial);
		return -1;
	}
	pthread_join(u->serial, NULL);
	u->serial_on = false;
	return 0;
}

int usbio_fini(struct usbio *u)
{
	/* A thread left behind reports its (cancelled) transfer with
	 * usbio_later(), under the lock, on the eventfd: all stay. */
	if (usbio_stop_serial(u) < 0)
		return -1;
	io_destroy(u->ctx);
	close(u->efd);
	pthread_cond_destroy(&u->serial_wake);
	pthread_mutex_destroy(&u->lock);
	return 0;
}
