/* gadget.h — the USB gadget in configfs, built and removed by the daemon.
 *
 *   /sys/kernel/config/usb_gadget/NAME/
 *       idVendor idProduct bcdDevice bcdUSB strings/0x409/{...}
 *       configs/c.1/{MaxPower, strings/0x409/configuration, ffs.NAME -> }
 *       functions/ffs.NAME          (mounted as functionfs "NAME" at
 *                                    gadget.functionfs_dir)
 *       UDC                         (written last, after the descriptors)
 *
 * Direct configfs rather than libusbgx: the tree is a dozen mkdir/write
 * calls, libusbgx would add a dependency whose only use is that, and the
 * error messages here can name the exact file that failed.
 *
 * One instance per gadget name: /run/netstick/NAME.lock is flock()ed for
 * the daemon's lifetime and records the pid.  A gadget directory left by a
 * netstickd that died (lock free, lock file names it) is reclaimed with a
 * warning; one not made by netstickd is an error.
 */
#ifndef NS_GADGET_H
#define NS_GADGET_H

#include "config.h"

#include <limits.h>
#include <stdbool.h>

#define GADGET_CONFIGFS "/sys/kernel/config/usb_gadget"
#define GADGET_RUNDIR "/run/netstick"

struct gadget {
	char name[65];
	char path[160];            /* configfs gadget directory */
	char ffs_dir[PATH_MAX];
	char udc[256];             /* bound UDC, "" when unbound */
	bool created, mounted, made_ffs_dir;
	int lock_fd;
};

/* Takes the instance lock, creates the configfs tree and mounts
 * FunctionFS.  On failure nothing is left behind.  Returns 0 or -1. */
int gadget_setup(struct gadget *g, const struct config *cfg);

/* Binds to cfg udc ("auto": the first in /sys/class/udc). */
int gadget_bind(struct gadget *g, const char *udc);
void gadget_unbind(struct gadget *g);

/* Unmounts and removes everything gadget_setup() made; releases the lock. */
void gadget_teardown(struct gadget *g);

/* --cleanup: remove a gadget left behind by a netstickd that died. */
int gadget_cleanup(const struct config *cfg);

/* Serial number for "auto": from /etc/machine-id. */
void gadget_auto_serial(char *buf, size_t len);

#endif
