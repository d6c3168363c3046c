/* transport.h — what the Bulk-Only Transport needs from the USB side.
 *
 * Two implementations: usbio.c (FunctionFS endpoint files: Linux AIO for
 * large IN data phases, blocking calls on a thread of its own for serial
 * transfers) and the in-process fake host of the unit tests
 * (tests/unit/fakehost.c).
 *
 * Contract:
 *  - submit() queues one transfer and returns at once (0 or -errno).  Its
 *    completion is reported later by calling bot_complete() with the same
 *    tag and the byte count or -errno.  Transfers on one endpoint move on
 *    the wire in submission order; their completions may be reported in
 *    any order.
 *  - A transport may hold submissions back and hand them to the hardware
 *    together (one system call for data + CSW + next CBW): flush() pushes
 *    them out.  The event loop flushes before it sleeps; the BOT flushes
 *    before it refills an IN buffer.
 *  - The buffer of an OUT (host→device) transfer belongs to the transport
 *    until its completion is reported; the buffer of an IN transfer may be
 *    reused once flush() has returned (the data has then been copied),
 *    except for XPORT_SERIAL transfers (below).
 *  - XPORT_SERIAL marks a transfer the BOT waits on with nothing queued
 *    behind it but other serial transfers: the CSW, the next CBW read, the
 *    data phase of a command that fits in one transfer, and every OUT
 *    transfer (bot.c says why OUT never uses AIO).  A transport
 *    may move serial transfers one at a time, in submission order, with
 *    blocking calls on a thread of its own, after everything submitted
 *    before them; that thread may then report a completion itself, under
 *    the lock the transport's user holds for every other call.  The buffer
 *    of a serial IN transfer stays untouched until its completion.  No
 *    transfer without the flag is submitted on an endpoint while a serial
 *    one is unfinished there.
 *  - halt() stalls an endpoint with nothing queued on it.
 *  - cancel() asks for every transfer queued on ep to end; each still
 *    completes (with an error) through bot_complete().
 */
#ifndef NS_TRANSPORT_H
#define NS_TRANSPORT_H

#include <stdint.h>

enum xport_ep { XPORT_EP_IN = 0, XPORT_EP_OUT = 1 };

#define XPORT_SERIAL 0x1u

struct xport_ops {
	/* flags: XPORT_SERIAL or 0. */
	int (*submit)(void *ctx, enum xport_ep ep, void *buf, uint32_t len,
		      uint64_t tag, unsigned flags);
	int (*halt)(void *ctx, enum xport_ep ep);
	void (*cancel)(void *ctx, enum xport_ep ep);
	/* Optional (NULL: submit() is immediate). */
	void (*flush)(void *ctx);
};

#endif
