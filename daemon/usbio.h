/* usbio.h — the real transport: FunctionFS bulk endpoint files driven with
 * Linux AIO (libaio), so several transfers stay queued on each endpoint
 * (the UDC never waits for the daemon between transfers).
 *
 * Completions are signalled on an eventfd; the event loop polls
 * usbio_fd() and calls usbio_reap(), which hands each completion to
 * bot_complete().  Implements struct xport_ops (transport.h).
 */
#ifndef NS_USBIO_H
#define NS_USBIO_H

#include "bot.h"
#include "transport.h"

#include <libaio.h>
#include <stdbool.h>

#define USBIO_SLOTS (2 * BOT_MAX_DEPTH + 8)

struct usbio_slot {
	struct iocb cb;
	uint64_t tag;
	int ep;           /* enum xport_ep, -1 when free */
};

struct usbio {
	io_context_t ctx;
	int efd;
	int fd[2];        /* XPORT_EP_IN, XPORT_EP_OUT */
	struct bot *bot;
	unsigned busy;
	struct usbio_slot slots[USBIO_SLOTS];
	/* Submissions held back until usbio_flush(), and ones io_submit
	 * refused, reported as completions by the next usbio_reap(). */
	struct iocb *batch[USBIO_SLOTS];
	unsigned nbatch;
	struct usbio_slot *failed[USBIO_SLOTS];
	long failed_res[USBIO_SLOTS];
	unsigned nfailed;
};

extern const struct xport_ops usbio_ops;

/* Returns 0 or -1 (logged). */
int usbio_init(struct usbio *u, int fd_in, int fd_out);
void usbio_set_bot(struct usbio *u, struct bot *b);
void usbio_fini(struct usbio *u);
int usbio_fd(const struct usbio *u);
/* Hands held-back submissions to the kernel in one io_submit(). */
void usbio_flush(struct usbio *u);
/* Delivers finished transfers to the BOT; never blocks. */
void usbio_reap(struct usbio *u);
/* Number of transfers still owned by the kernel. */
unsigned usbio_busy(const struct usbio *u);

#endif
