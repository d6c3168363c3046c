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
 */
#ifndef NS_FFS_H
#define NS_FFS_H

#include <stdbool.h>
#include <stdint.h>

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
};

/* Returns 0 or -1 with a logged error. */
int ffs_open(struct ffs *f, const char *dir, unsigned nluns);
void ffs_close(struct ffs *f);

/* Reads and handles every queued ep0 event.  Returns 0, or -1 when ep0
 * failed for good (FunctionFS unmounted or closed). */
int ffs_dispatch(struct ffs *f, const struct ffs_events *ev);

/* Completes the status stage of the pending no-data SETUP. */
void ffs_ack(struct ffs *f);

#endif
