/* usbio.h — the real transport: FunctionFS bulk endpoint files.
 *
 * Two ways to move a transfer:
 *  - Linux AIO (libaio), so several IN data transfers of a large READ stay
 *    queued and the UDC never waits for the daemon between them.
 *    Completions are signalled on an eventfd; the event loop polls
 *    usbio_fd() and calls usbio_reap(), which hands each completion to
 *    bot_complete().
 *  - Blocking read()/write() on the serial thread, for XPORT_SERIAL
 *    transfers (the CSW, the next CBW, the data of a READ that fits in one
 *    transfer, all WRITE data) once usbio_start_serial() has run.  FunctionFS wakes a
 *    blocking call straight from the UDC's completion, where an AIO
 *    completion first goes through FunctionFS's completion workqueue (a
 *    kworker at normal priority, then the eventfd): one wake-up per
 *    transfer instead of two.  The serial thread runs the BOT for what
 *    completes there, so a small command goes CBW → data → CSW → next
 *    CBW on that thread alone, as in the kernel's own gadget.
 *
 * Every usbio_* and bot_* call is made with the USB lock held:
 * usbio_lock()/usbio_unlock().  Implements struct xport_ops (transport.h).
 */
#ifndef NS_USBIO_H
#define NS_USBIO_H

#include "bot.h"
#include "transport.h"

#include <libaio.h>
#include <pthread.h>
#include <stdbool.h>

#define USBIO_SLOTS (2 * BOT_MAX_DEPTH + 8)
/* Serial transfers queued at once: at most data + discard, or data + CSW
 * + CBW, with room to spare. */
#define USBIO_SERIAL_MAX 8

struct usbio_slot {
	struct iocb cb;
	uint64_t tag;
	int ep;           /* enum xport_ep, -1 when free */
};

struct usbio_serial {
	uint64_t tag;
	enum xport_ep ep;
	void *buf;
	uint32_t len;
	bool cancelled;   /* cancel() asked for it to end */
};

struct usbio {
	io_context_t ctx;
	int efd;
	int fd[2];        /* XPORT_EP_IN, XPORT_EP_OUT */
	struct bot *bot;
	unsigned busy;
	struct usbio_slot slots[USBIO_SLOTS];
	/* Submissions held back until usbio_flush(). */
	struct iocb *batch[USBIO_SLOTS];
	unsigned nbatch;
	/* Completions for the next usbio_reap(): transfers io_submit
	 * refused, and serial transfers that failed or were cancelled. */
	uint64_t later_tag[USBIO_SLOTS + USBIO_SERIAL_MAX];
	long later_res[USBIO_SLOTS + USBIO_SERIAL_MAX];
	unsigned nlater;

	/* The serial thread (usbio.c). */
	pthread_mutex_t lock;         /* the USB lock */
	pthread_cond_t serial_wake;
	pthread_t serial;
	bool serial_on, serial_stop;
	struct usbio_serial sq[USBIO_SERIAL_MAX];   /* FIFO */
	unsigned sq_head, sq_len;
	bool sq_running;              /* sq[sq_head] is in read()/write() */
	unsigned cancels;             /* cancel() calls so far */
};

extern const struct xport_ops usbio_ops;

/* Returns 0 or -1 (logged). */
int usbio_init(struct usbio *u, int fd_in, int fd_out);
void usbio_set_bot(struct usbio *u, struct bot *b);
/* Starts the serial thread; it inherits the caller's scheduling policy.
 * Without it (or when it cannot start) every transfer goes through AIO. */
void usbio_start_serial(struct usbio *u);
/* Stops the serial thread (bounded: 2 s) and frees everything.
 * Returns 0, or -1 when the thread was still in its blocking call then
 * (logged): it is left running, detached, and until the process exits it
 * may still write into that transfer's buffer (the BOT's), take the lock
 * and signal the eventfd; it reports the transfer through `later`, never
 * to the BOT, and makes no further call on the endpoint files.  So on -1
 * the AIO context, the eventfd, the lock and *u stay as they are, and the
 * caller must not free the BOT's buffers (no bot_fini()) or *u; it may
 * close the endpoint files.  Called once, without the USB lock. */
int usbio_fini(struct usbio *u);
void usbio_lock(struct usbio *u);
void usbio_unlock(struct usbio *u);
int usbio_fd(const struct usbio *u);
/* The poll timeout in ms for the event loop: -1, or 1 while a cancelled
 * serial transfer is still in read()/write() (usbio_reap() then repeats
 * the cancel). */
int usbio_poll_timeout(const struct usbio *u);
/* Hands held-back submissions to the kernel in one io_submit(). */
void usbio_flush(struct usbio *u);
/* Delivers finished transfers to the BOT; never blocks. */
void usbio_reap(struct usbio *u);
/* Number of transfers not yet reported to the BOT. */
unsigned usbio_busy(const struct usbio *u);

#endif
