/* usbio.c — AIO transport on FunctionFS endpoint files. */
#include "usbio.h"
#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int usbio_init(struct usbio *u, int fd_in, int fd_out)
{
	int r;

	memset(u, 0, sizeof *u);
	u->fd[XPORT_EP_IN] = fd_in;
	u->fd[XPORT_EP_OUT] = fd_out;
	for (size_t i = 0; i < USBIO_SLOTS; i++)
		u->slots[i].ep = -1;
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

void usbio_fini(struct usbio *u)
{
	io_destroy(u->ctx);
	close(u->efd);
}

int usbio_fd(const struct usbio *u)
{
	return u->efd;
}

unsigned usbio_busy(const struct usbio *u)
{
	return u->busy;
}

static int usbio_submit(void *ctx, enum xport_ep ep, void *buf, uint32_t len,
			uint64_t tag)
{
	struct usbio *u = ctx;
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
	uint64_t one = 1;

	for (unsigned i = from; i < u->nbatch; i++) {
		u->failed[u->nfailed] = u->batch[i]->data;
		u->failed_res[u->nfailed++] = err;
	}
	if (write(u->efd, &one, sizeof one) < 0)
		log_warn("usbio: eventfd");
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

static void usbio_cancel(void *ctx, enum xport_ep ep)
{
	struct usbio *u = ctx;
	struct io_event ev;

	usbio_flush(u);   /* held-back transfers are cancelled like the rest */
	for (size_t i = 0; i < USBIO_SLOTS; i++) {
		if (u->slots[i].ep != (int)ep)
			continue;
		/* -EINPROGRESS: the completion arrives through the ring. */
		(void)io_cancel(u->ctx, &u->slots[i].cb, &ev);
	}
}

static void usbio_deliver(struct usbio *u, struct usbio_slot *s, long res)
{
	uint64_t tag = s->tag;

	s->ep = -1;
	u->busy--;
	if (u->bot)
		bot_complete(u->bot, tag, res);
}

void usbio_reap(struct usbio *u)
{
	struct io_event events[USBIO_SLOTS];
	struct timespec zero = { 0, 0 };
	uint64_t count;
	int n;

	if (read(u->efd, &count, sizeof count) < 0 && errno != EAGAIN)
		log_warn("usbio: eventfd");
	while (u->nfailed > 0) {
		u->nfailed--;
		usbio_deliver(u, u->failed[u->nfailed], u->failed_res[u->nfailed]);
	}
	/* Bounded: each round frees at least one slot or stops. */
	for (int round = 0; round < 64; round++) {
		n = io_getevents(u->ctx, 0, USBIO_SLOTS, events, &zero);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++)
			usbio_deliver(u, events[i].data, (long)events[i].res);
	}
}

const struct xport_ops usbio_ops = {
	.submit = usbio_submit,
	.halt = usbio_halt,
	.cancel = usbio_cancel,
	.flush = usbio_flush_op,
};
