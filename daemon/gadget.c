/* gadget.c — configfs gadget lifecycle.  See gadget.h. */
#include "gadget.h"
#include "log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int gadget_write(const struct gadget *g, const char *rel,
			const char *val)
{
	char path[PATH_MAX];
	int fd;
	ssize_t n;

	snprintf(path, sizeof path, "%s/%s", g->path, rel);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		log_err("gadget: open %s", path);
		return -1;
	}
	n = write(fd, val, strlen(val));
	if (n < 0)
		log_err("gadget: write \"%s\" to %s", val, path);
	close(fd);
	return n < 0 ? -1 : 0;
}

static int gadget_mkdir(const struct gadget *g, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s%s%s", g->path, rel[0] ? "/" : "", rel);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		log_err("gadget: mkdir %s", path);
		return -1;
	}
	return 0;
}

static void gadget_rm(const struct gadget *g, const char *rel, bool link)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof path, "%s%s%s", g->path, rel[0] ? "/" : "", rel);
	r = link ? unlink(path) : rmdir(path);
	if (r < 0 && errno != ENOENT)
		log_warn("gadget: remove %s", path);
}

void gadget_auto_serial(char *buf, size_t len)
{
	char id[64] = "";
	FILE *f = fopen("/etc/machine-id", "re");
	size_t n = 0;

	if (f) {
		if (!fgets(id, sizeof id, f))
			id[0] = '\0';
		fclose(f);
	}
	for (const char *p = id; *p && n < 12; p++)
		if (isxdigit((unsigned char)*p))
			id[n++] = (char)toupper((unsigned char)*p);
	id[n] = '\0';
	snprintf(buf, len, "%s", n == 12 ? id : "NETSTICK0001");
}

/* --- instance lock ------------------------------------------------------- */

static int gadget_lock_path(const char *name, char *buf, size_t len)
{
	if (mkdir(GADGET_RUNDIR, 0755) < 0 && errno != EEXIST) {
		log_err("gadget: mkdir %s", GADGET_RUNDIR);
		return -1;
	}
	snprintf(buf, len, "%s/%s.lock", GADGET_RUNDIR, name);
	return 0;
}

/* Takes the lock; *ours is set when the lock file says a previous
 * netstickd made this gadget. */
static int gadget_lock(struct gadget *g, bool *ours)
{
	char path[PATH_MAX], old[64] = "", line[64];
	ssize_t n;

	if (gadget_lock_path(g->name, path, sizeof path) < 0)
		return -1;
	g->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (g->lock_fd < 0) {
		log_err("gadget: open %s", path);
		return -1;
	}
	if (flock(g->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		log_errx("gadget \"%s\" is in use by another netstickd (%s)",
			 g->name, path);
		close(g->lock_fd);
		g->lock_fd = -1;
		return -1;
	}
	n = pread(g->lock_fd, old, sizeof old - 1, 0);
	old[n > 0 ? n : 0] = '\0';
	*ours = strncmp(old, "netstickd ", 10) == 0;
	snprintf(line, sizeof line, "netstickd %ld\n", (long)getpid());
	if (ftruncate(g->lock_fd, 0) < 0 ||
	    pwrite(g->lock_fd, line, strlen(line), 0) < 0)
		log_warn("gadget: write %s", path);
	return 0;
}

static void gadget_unlock(struct gadget *g)
{
	char path[PATH_MAX];

	if (g->lock_fd < 0)
		return;
	if (gadget_lock_path(g->name, path, sizeof path) == 0)
		unlink(path);
	close(g->lock_fd);
	g->lock_fd = -1;
}

/* --- configfs tree ------------------------------------------------------- */

static int gadget_write_ids(struct gadget *g, const struct config_gadget *c)
{
	char v[32];

	snprintf(v, sizeof v, "0x%04x", c->vendor_id);
	if (gadget_write(g, "idVendor", v) < 0)
		return -1;
	snprintf(v, sizeof v, "0x%04x", c->product_id);
	if (gadget_write(g, "idProduct", v) < 0)
		return -1;
	snprintf(v, sizeof v, "0x%04x", c->device_version);
	if (gadget_write(g, "bcdDevice", v) < 0)
		return -1;
	return gadget_write(g, "bcdUSB", "0x0200");
}

static int gadget_write_strings(struct gadget *g, const struct config_gadget *c)
{
	char serial[130];

	if (strcmp(c->serial, "auto") == 0)
		gadget_auto_serial(serial, sizeof serial);
	else
		snprintf(serial, sizeof serial, "%s", c->serial);
	if (gadget_mkdir(g, "strings/0x409") < 0 ||
	    gadget_write(g, "strings/0x409/manufacturer", c->manufacturer) < 0 ||
	    gadget_write(g, "strings/0x409/product", c->product) < 0 ||
	    gadget_write(g, "strings/0x409/serialnumber", serial) < 0)
		return -1;
	return 0;
}

static int gadget_write_config(struct gadget *g, const struct config_gadget *c)
{
	char v[32], fn[96], target[PATH_MAX], link[PATH_MAX];

	snprintf(v, sizeof v, "%u", c->max_power_ma);
	snprintf(fn, sizeof fn, "functions/ffs.%s", g->name);
	if (gadget_mkdir(g, "configs/c.1") < 0 ||
	    gadget_write(g, "configs/c.1/MaxPower", v) < 0 ||
	    gadget_mkdir(g, "configs/c.1/strings/0x409") < 0 ||
	    gadget_write(g, "configs/c.1/strings/0x409/configuration",
			 "Mass Storage") < 0 ||
	    gadget_mkdir(g, fn) < 0)
		return -1;
	snprintf(target, sizeof target, "%s/%s", g->path, fn);
	snprintf(link, sizeof link, "%s/configs/c.1/ffs.%s", g->path, g->name);
	if (symlink(target, link) < 0 && errno != EEXIST) {
		log_err("gadget: symlink %s", link);
		return -1;
	}
	return 0;
}

static int gadget_mount_ffs(struct gadget *g)
{
	struct stat st;

	if (stat(g->ffs_dir, &st) < 0) {
		if (mkdir(g->ffs_dir, 0755) < 0) {
			log_err("gadget: mkdir %s", g->ffs_dir);
			return -1;
		}
		g->made_ffs_dir = true;
	}
	if (mount(g->name, g->ffs_dir, "functionfs", MS_NOSUID | MS_NODEV |
		  MS_NOEXEC, NULL) < 0) {
		log_err("gadget: mount functionfs \"%s\" on %s", g->name,
			g->ffs_dir);
		return -1;
	}
	g->mounted = true;
	return 0;
}

/* Makes sure configfs is mounted and libcomposite is there. */
static int gadget_check_configfs(void)
{
	struct stat st;

	if (stat(GADGET_CONFIGFS, &st) == 0)
		return 0;
	if (mount("none", "/sys/kernel/config", "configfs", 0, NULL) < 0 &&
	    errno != EBUSY)
		log_debug(LOG_MOD_GADGET, "mount configfs: %s", strerror(errno));
	if (stat(GADGET_CONFIGFS, &st) == 0)
		return 0;
	log_errx("gadget: %s missing: is configfs mounted and the "
		 "libcomposite module loaded?", GADGET_CONFIGFS);
	return -1;
}

static void gadget_init_names(struct gadget *g, const struct config *cfg)
{
	memset(g, 0, sizeof *g);
	g->lock_fd = -1;
	snprintf(g->name, sizeof g->name, "%s", cfg->gadget.name);
	snprintf(g->path, sizeof g->path, "%s/%s", GADGET_CONFIGFS, g->name);
	snprintf(g->ffs_dir, sizeof g->ffs_dir, "%s", cfg->gadget.functionfs_dir);
}

int gadget_setup(struct gadget *g, const struct config *cfg)
{
	struct stat st;
	bool ours = false;

	gadget_init_names(g, cfg);
	if (gadget_check_configfs() < 0 || gadget_lock(g, &ours) < 0)
		return -1;
	if (stat(g->path, &st) == 0) {
		if (!ours) {
			log_errx("gadget: %s already exists and was not made by "
				 "netstickd; remove it or set gadget.name",
				 g->path);
			gadget_unlock(g);
			return -1;
		}
		log_warnx("gadget: reclaiming %s left by a netstickd that "
			  "exited uncleanly", g->path);
		g->created = g->mounted = true;
		gadget_teardown(g);
		gadget_init_names(g, cfg);
		if (gadget_lock(g, &ours) < 0)
			return -1;
	}
	g->created = true;
	if (gadget_mkdir(g, "") < 0 || gadget_write_ids(g, &cfg->gadget) < 0 ||
	    gadget_write_strings(g, &cfg->gadget) < 0 ||
	    gadget_write_config(g, &cfg->gadget) < 0 || gadget_mount_ffs(g) < 0) {
		gadget_teardown(g);
		return -1;
	}
	log_debug(LOG_MOD_GADGET, "created %s, functionfs on %s", g->path,
		  g->ffs_dir);
	return 0;
}

/* First UDC in /sys/class/udc, by name. */
static int gadget_find_udc(char *buf, size_t len)
{
	struct dirent **list;
	int n = scandir("/sys/class/udc", &list, NULL, alphasort), found = -1;

	for (int i = 0; i < n; i++) {
		if (found < 0 && list[i]->d_name[0] != '.') {
			snprintf(buf, len, "%s", list[i]->d_name);
			found = 0;
		}
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	if (found < 0)
		log_errx("gadget: no USB device controller in /sys/class/udc "
			 "(load dwc2/dwc3, or dummy_hcd for testing)");
	return found;
}

int gadget_bind(struct gadget *g, const char *udc)
{
	char name[256];

	if (strcmp(udc, "auto") == 0) {
		if (gadget_find_udc(name, sizeof name) < 0)
			return -1;
	} else {
		snprintf(name, sizeof name, "%s", udc);
	}
	if (gadget_write(g, "UDC", name) < 0) {
		if (errno == EBUSY)
			log_errx("gadget: UDC %s is in use by another gadget",
				 name);
		return -1;
	}
	snprintf(g->udc, sizeof g->udc, "%s", name);
	log_info("bound to USB device controller %s", name);
	return 0;
}

void gadget_unbind(struct gadget *g)
{
	if (!g->udc[0])
		return;
	if (gadget_write(g, "UDC", "\n") == 0)
		log_debug(LOG_MOD_GADGET, "unbound from %s", g->udc);
	g->udc[0] = '\0';
}

/* True when configfs says the gadget is bound to some UDC. */
static bool gadget_bound_udc(const struct gadget *g)
{
	char path[PATH_MAX], buf[8] = "";
	int fd;
	ssize_t n = 0;

	snprintf(path, sizeof path, "%s/UDC", g->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
	}
	return n > 0 && buf[0] != '\n';
}

void gadget_teardown(struct gadget *g)
{
	char rel[128];

	if (g->created && gadget_bound_udc(g)) {
		snprintf(g->udc, sizeof g->udc, "?");
		gadget_unbind(g);
	}
	if (g->mounted && umount2(g->ffs_dir, 0) < 0 && errno != EINVAL)
		log_warn("gadget: umount %s", g->ffs_dir);
	g->mounted = false;
	if (g->made_ffs_dir)
		rmdir(g->ffs_dir);
	if (g->created) {
		snprintf(rel, sizeof rel, "configs/c.1/ffs.%s", g->name);
		gadget_rm(g, rel, true);
		gadget_rm(g, "configs/c.1/strings/0x409", false);
		gadget_rm(g, "configs/c.1", false);
		snprintf(rel, sizeof rel, "functions/ffs.%s", g->name);
		gadget_rm(g, rel, false);
		gadget_rm(g, "strings/0x409", false);
		gadget_rm(g, "", false);
		g->created = false;
	}
	gadget_unlock(g);
}

int gadget_cleanup(const struct config *cfg)
{
	struct gadget g;
	struct stat st;
	bool ours;

	gadget_init_names(&g, cfg);
	if (gadget_lock(&g, &ours) < 0)
		return -1;
	if (stat(g.path, &st) < 0) {
		log_info("gadget: nothing to clean up at %s", g.path);
		gadget_unlock(&g);
		return 0;
	}
	g.created = g.mounted = true;
	gadget_teardown(&g);
	log_info("gadget: removed %s", g.path);
	return 0;
}
