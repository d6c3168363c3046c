/* ffs.c — FunctionFS descriptors and ep0 event handling. */
#include "ffs.h"
#include "log.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/usb/ch9.h>
#include <linux/usb/functionfs.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Bulk-Only class requests (BOT 3.1, 3.2). */
#define BOT_REQ_RESET       0xff
#define BOT_REQ_GET_MAX_LUN 0xfe

#define FFS_IFACE_STRING "Mass Storage"

/* Endpoint addresses in descriptor order: ep1 = bulk-in, ep2 = bulk-out
 * (FunctionFS names the files in this order). */
#define EP_IN_ADDR  (1 | USB_DIR_IN)
#define EP_OUT_ADDR (2 | USB_DIR_OUT)

/* SuperSpeed bursts: up to 16 packets per burst.  dummy_hcd ignores it;
 * dwc3 sizes its TX FIFO from it. */
#define SS_MAX_BURST 15

struct ffs_fs_hs_descs {
	struct usb_interface_descriptor intf;
	struct usb_endpoint_descriptor_no_audio in, out;
} __attribute__((packed));

struct ffs_ss_descs {
	struct usb_interface_descriptor intf;
	struct usb_endpoint_descriptor_no_audio in;
	struct usb_ss_ep_comp_descriptor in_comp;
	struct usb_endpoint_descriptor_no_audio out;
	struct usb_ss_ep_comp_descriptor out_comp;
} __attribute__((packed));

struct ffs_descriptors {
	struct usb_functionfs_descs_head_v2 header;
	uint32_t fs_count, hs_count, ss_count;
	struct ffs_fs_hs_descs fs, hs;
	struct ffs_ss_descs ss;
} __attribute__((packed));

struct ffs_strings {
	struct usb_functionfs_strings_head header;
	struct {
		uint16_t code;
		char str[sizeof FFS_IFACE_STRING];
	} __attribute__((packed)) lang0;
} __attribute__((packed));

static const char *const usb_state_names[] = {
	[USB_NOT_ATTACHED] = "not attached", [USB_ATTACHED] = "attached",
	[USB_CONFIGURED] = "configured",     [USB_SUSPENDED] = "suspended",
};

const char *usb_state_name(enum usb_state s)
{
	return (unsigned)s < 4 ? usb_state_names[s] : "?";
}

static struct usb_interface_descriptor ffs_intf(void)
{
	struct usb_interface_descriptor d = {
		.bLength = sizeof d,
		.bDescriptorType = USB_DT_INTERFACE,
		.bNumEndpoints = 2,
		.bInterfaceClass = USB_CLASS_MASS_STORAGE,
		.bInterfaceSubClass = 0x06,   /* SCSI transparent */
		.bInterfaceProtocol = 0x50,   /* Bulk-Only */
		.iInterface = 1,
	};
	return d;
}

static struct usb_endpoint_descriptor_no_audio ffs_ep(uint8_t addr,
						      uint16_t mps)
{
	struct usb_endpoint_descriptor_no_audio d = {
		.bLength = sizeof d,
		.bDescriptorType = USB_DT_ENDPOINT,
		.bEndpointAddress = addr,
		.bmAttributes = USB_ENDPOINT_XFER_BULK,
		.wMaxPacketSize = htole16(mps),
	};
	return d;
}

static struct usb_ss_ep_comp_descriptor ffs_ss_comp(void)
{
	struct usb_ss_ep_comp_descriptor d = {
		.bLength = sizeof d,
		.bDescriptorType = USB_DT_SS_ENDPOINT_COMP,
		.bMaxBurst = SS_MAX_BURST,
	};
	return d;
}

static void ffs_build_descriptors(struct ffs_descriptors *d)
{
	memset(d, 0, sizeof *d);
	d->header.magic = htole32(FUNCTIONFS_DESCRIPTORS_MAGIC_V2);
	d->header.length = htole32(sizeof *d);
	d->header.flags = htole32(FUNCTIONFS_HAS_FS_DESC |
				  FUNCTIONFS_HAS_HS_DESC |
				  FUNCTIONFS_HAS_SS_DESC);
	d->fs_count = htole32(3);
	d->hs_count = htole32(3);
	d->ss_count = htole32(5);
	d->fs.intf = d->hs.intf = d->ss.intf = ffs_intf();
	d->fs.in = ffs_ep(EP_IN_ADDR, 64);
	d->fs.out = ffs_ep(EP_OUT_ADDR, 64);
	d->hs.in = ffs_ep(EP_IN_ADDR, 512);
	d->hs.out = ffs_ep(EP_OUT_ADDR, 512);
	d->ss.in = ffs_ep(EP_IN_ADDR, 1024);
	d->ss.out = ffs_ep(EP_OUT_ADDR, 1024);
	d->ss.in_comp = d->ss.out_comp = ffs_ss_comp();
}

static void ffs_build_strings(struct ffs_strings *s)
{
	memset(s, 0, sizeof *s);
	s->header.magic = htole32(FUNCTIONFS_STRINGS_MAGIC);
	s->header.length = htole32(sizeof *s);
	s->header.str_count = htole32(1);
	s->header.lang_count = htole32(1);
	s->lang0.code = htole16(0x0409);
	memcpy(s->lang0.str, FFS_IFACE_STRING, sizeof FFS_IFACE_STRING);
}

static int ffs_write_all(int fd, const void *buf, size_t len, const char *what)
{
	ssize_t r = write(fd, buf, len);

	if (r != (ssize_t)len) {
		log_err("ffs: writing %s", what);
		return -1;
	}
	return 0;
}

static int ffs_open_ep(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		log_err("ffs: open %s", path);
	return fd;
}

int ffs_open(struct ffs *f, const char *dir, unsigned nluns)
{
	struct ffs_descriptors d;
	struct ffs_strings s;

	memset(f, 0, sizeof *f);
	f->ep0 = f->ep_in = f->ep_out = -1;
	f->max_lun = (uint8_t)(nluns - 1);
	f->ep0 = ffs_open_ep(dir, "ep0");
	if (f->ep0 < 0)
		return -1;
	ffs_build_descriptors(&d);
	ffs_build_strings(&s);
	if (ffs_write_all(f->ep0, &d, sizeof d, "descriptors") < 0 ||
	    ffs_write_all(f->ep0, &s, sizeof s, "strings") < 0)
		goto fail;
	f->ep_in = ffs_open_ep(dir, "ep1");
	f->ep_out = ffs_open_ep(dir, "ep2");
	if (f->ep_in < 0 || f->ep_out < 0)
		goto fail;
	log_debug(LOG_MOD_FFS, "descriptors written, endpoints open in %s", dir);
	return 0;
fail:
	ffs_close(f);
	return -1;
}

void ffs_close(struct ffs *f)
{
	int *fds[] = { &f->ep_in, &f->ep_out, &f->ep0 };

	for (size_t i = 0; i < 3; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

void ffs_ack(struct ffs *f)
{
	if (!f->setup_pending)
		return;
	f->setup_pending = false;
	/* A zero-length read on ep0 completes a no-data status stage. */
	if (read(f->ep0, NULL, 0) < 0 && errno != EIDRM)
		log_warn("ffs: ack setup");
}

/* Stall ep0: I/O in the direction opposite to the request. */
static void ffs_stall(struct ffs *f, const struct usb_ctrlrequest *req)
{
	ssize_t r;

	if (req->bRequestType & USB_DIR_IN)
		r = read(f->ep0, NULL, 0);
	else
		r = write(f->ep0, NULL, 0);
	if (r < 0 && errno != EL2HLT && errno != EIDRM)
		log_debug(LOG_MOD_FFS, "stall ep0: %s", strerror(errno));
}

static void ffs_setup(struct ffs *f, const struct usb_ctrlrequest *req,
		      const struct ffs_events *ev)
{
	uint8_t type = req->bRequestType;
	uint16_t value = le16toh(req->wValue), length = le16toh(req->wLength);

	log_debug(LOG_MOD_FFS, "setup %02x %02x v=%04x i=%04x l=%u", type,
		  req->bRequest, value, le16toh(req->wIndex), length);
	if (type == (USB_DIR_IN | USB_TYPE_CLASS | USB_RECIP_INTERFACE) &&
	    req->bRequest == BOT_REQ_GET_MAX_LUN && value == 0 && length >= 1) {
		if (write(f->ep0, &f->max_lun, 1) != 1)
			log_warn("ffs: GET MAX LUN reply");
		return;
	}
	if (type == (USB_DIR_OUT | USB_TYPE_CLASS | USB_RECIP_INTERFACE) &&
	    req->bRequest == BOT_REQ_RESET && value == 0 && length == 0) {
		log_debug(LOG_MOD_FFS, "Bulk-Only Mass Storage Reset");
		f->setup_pending = true;
		ev->reset(ev->arg);          /* ends with ffs_ack() */
		return;
	}
	ffs_stall(f, req);
}

static void ffs_event(struct ffs *f, const struct usb_functionfs_event *e,
		      const struct ffs_events *ev)
{
	switch (e->type) {
	case FUNCTIONFS_BIND:
		f->state = USB_ATTACHED;
		break;
	case FUNCTIONFS_UNBIND:
		f->state = USB_NOT_ATTACHED;
		ev->disable(ev->arg);
		break;
	case FUNCTIONFS_ENABLE:
		f->state = USB_CONFIGURED;
		ev->enable(ev->arg);
		break;
	case FUNCTIONFS_DISABLE:
		if (f->state != USB_NOT_ATTACHED)
			f->state = USB_ATTACHED;
		ev->disable(ev->arg);
		break;
	case FUNCTIONFS_SUSPEND:
		if (f->state != USB_SUSPENDED)
			f->state_before_suspend = f->state;
		f->state = USB_SUSPENDED;
		break;
	case FUNCTIONFS_RESUME:
		if (f->state == USB_SUSPENDED)
			f->state = f->state_before_suspend;
		break;
	case FUNCTIONFS_SETUP:
		ffs_setup(f, &e->u.setup, ev);
		break;
	default:
		log_debug(LOG_MOD_FFS, "unknown event %u", e->type);
		return;
	}
	log_debug(LOG_MOD_FFS, "event %u, usb %s", e->type,
		  usb_state_name(f->state));
}

bool ffs_held(const struct ffs *f)
{
	return !f->setup_pending && f->batch_next < f->batch_len;
}

/* Hands out what is left of the batch, in order, until a SETUP is left
 * pending: the rest stays held for the dispatch after ffs_ack(). */
static void ffs_run_batch(struct ffs *f, const struct ffs_events *ev)
{
	while (f->batch_next < f->batch_len && !f->setup_pending)
		ffs_event(f, &f->batch[f->batch_next++], ev);
}

/* Reads the next batch (only once the last one is all handed out).
 * Returns 1, 0 when ep0 has nothing, or -1 when it failed for good. */
static int ffs_read_batch(struct ffs *f)
{
	ssize_t n = read(f->ep0, f->batch, sizeof f->batch);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		log_err("ffs: reading ep0 events");
		return -1;
	}
	f->batch_next = 0;
	f->batch_len = (unsigned)((size_t)n / sizeof f->batch[0]);
	return 1;
}

int ffs_dispatch(struct ffs *f, const struct ffs_events *ev)
{
	ffs_run_batch(f, ev);
	/* Bounded: at most 8 reads of FFS_BATCH events per call.  No read
	 * while a setup is pending (see ffs.h); when none is, the batch has
	 * all been handed out. */
	for (int round = 0; round < 8 && !f->setup_pending; round++) {
		int r = ffs_read_batch(f);

		if (r <= 0)
			return r;
		ffs_run_batch(f, ev);
	}
	return 0;
}
