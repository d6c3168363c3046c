/* ffs.h — the FunctionFS side: descriptors, endpoint files, ep0 events.
 *
 * ffs_open() writes the v2 descriptors (full-, high- and SuperSpeed, one
 * interface: class 08 mass storage, subclass 06 SCSI transparent, protocol
 * 50 Bulk-Only, bulk-in + bulk-out) and the strings to DIR/ep0, then opens
 * DIR/ep1 (bulk-in) and DIR/ep2 (bulk-out) non-blocking.
 *
 * ep0 events are read by ffs_dispatch() and handed to the callbacks in
 * struct ffs_events.  A SETUP that is answered later (Bulk-Only Reset, whose
 * status stage waits until the reset is done) leaves `setup_pending` set;
 * while it is set ep0 must not be read (a read would answer the request),
 * so the event loop leaves ep0 out of its poll set until ffs_ack().
 *
 * One read() takes up to FFS_BATCH events.  Those behind such a SETUP in
 * the same batch are held in struct ffs, in order, and handed out by the
 * next ffs_dispatch() after ffs_ack(), before ep0 is read again; a second
 * such SETUP among them holds the rest again.  ffs_held() tells the event
 * loop to call ffs_dispatch() although ep0 was not polled.
 */
#ifndef NS_FFS_H
#define NS_FFS_H

#include <linux/usb/functionfs.h>
#include <stdbool.h>
#include <stdint.h>

/* ep0 events per read(). */
#define FFS_BATCH 8

enum usb_state {
	USB_NOT_ATTACHED = 0,  /* function not bound to a UDC */
	USB_ATTACHED,          /* bound, host has not configured us */
	USB_CONFIGURED,        /* endpoints enabled */
	USB_SUSPENDED,
};

const char *usb_state_name(enum usb_state s);

struct ffs_events {
	void (*enable)(void *arg);
	void (*disable)(void *arg);
	/* Bulk-Only Mass Storage Reset: call ffs_ack() when done. */
	void (*reset)(void *arg);
	void *arg;
};

struct ffs {
	int ep0, ep_in, ep_out;      /* -1 when closed */
	uint8_t max_lun;             /* GET MAX LUN answer: nluns - 1 */
	enum usb_state state;
	enum usb_state state_before_suspend;
	bool setup_pending;          /* answer owed with ffs_ack() */
	/* The last batch read from ep0: batch[batch_next..batch_len) are
	 * still to be handed out (all of it is, unless setup_pending). */
	struct usb_functionfs_event batch[FFS_BATCH];
	unsigned batch_next, batch_len;
};

/* Returns 0 or -1 with a logged error. */
int ffs_open(struct ffs *f, const char *dir, unsigned nluns);
void ffs_close(struct ffs *f);

/* Hands out the held events, then reads and handles every queued ep0
 * event, until a SETUP leaves setup_pending set.  Does nothing while it is
 * set.  Returns 0, or -1 when ep0 failed for good (FunctionFS unmounted or
 * closed). */
int ffs_dispatch(struct ffs *f, const struct ffs_events *ev);

/* Completes the status stage of the pending no-data SETUP.  Hands out
 * nothing itself (it runs inside the BOT's reset callback): the held
 * events wait for the next ffs_dispatch(). */
void ffs_ack(struct ffs *f);

/* True when ffs_dispatch() has held events to hand out without reading
 * ep0 (no setup pending): the event loop must call it then, whether or
 * not ep0 polled readable. */
bool ffs_held(const struct ffs *f);

#endif
