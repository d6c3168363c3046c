/* config.h — netstickd configuration (config.yaml, parsed with libyaml).
 *
 * The parser is strict: unknown keys, wrong types and out-of-range values
 * are errors that name the key path, line and column, e.g.
 *   config.yaml:12:5: luns[0].block_size: must be 512 or 4096 (got 1000)
 * A config that fails to parse is never partially applied.
 *
 * Ownership: config_load() returns a heap object owned by the caller and
 * released with config_free(); every string inside is owned by it.
 */
#ifndef NS_CONFIG_H
#define NS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LUNS 16
#define CONFIG_MAX_IMAGES 64   /* images: catalog entries */
#define CONFIG_MAX_LIST 32     /* entries in a list of strings / options */

/* What a LUN is to the host, fixed for the life of the gadget: its SCSI
 * command set (daemon/scsi.h: block size, device type and the rules that
 * go with them belong to the command set, not to the config). */
enum config_lun_type {
	CONFIG_LUN_DISK = 0,  /* SBC: a USB stick or disk (default) */
	CONFIG_LUN_CDROM,     /* MMC: a CD/DVD-ROM drive, 2048-byte blocks */
};

struct config_lun {
	enum config_lun_type type; /* "type: disk | cdrom", default disk */
	char *media;          /* path or URI; NULL or "" = empty drive */
	bool readonly;        /* default false */
	bool removable;       /* default true */
	uint32_t block_size;  /* 512 (default) or 4096; a cdrom LUN's
	                       * command set fixes its own (2048) */
	bool refuse_host_eject; /* "host_eject: false" (default true): the
	                       * host's START STOP UNIT eject is refused (the
	                       * request is still reported as an event);
	                       * zero means the default, as everywhere */
	char vendor[9];       /* INQUIRY vendor, default "netstick" */
	char product[17];     /* INQUIRY product, default "Virtual Disk"
	                       * ("Virtual CD-ROM" for a cdrom LUN) */
	char revision[5];     /* INQUIRY revision, default "0.1" */
	char **options;       /* "key=value", NULL-terminated, or NULL: the
	                       * options mapping, for backend_open_opts */
	char **layers;        /* layer specs, bottom-most first,
	                       * NULL-terminated, or NULL: for
	                       * backend_open_opts.layers */
	char **network_layers; /* the layers of network media (a source
	                       * its backend cannot read in place: http,
	                       * nbd) on a LUN whose layers is NULL; NULL:
	                       * the default, config_network_layers() */
};

/* api: the admin REST API, web UI and metrics (daemon/api*.c). */
struct config_api {
	bool enabled;         /* default true */
	char *listen;         /* address, default "127.0.0.1" */
	uint32_t port;        /* default 8080; 0 = any free port (logged) */
	char *token;          /* bearer token, or NULL: token_file */
	char *token_file;     /* default /var/lib/netstick/token, generated
	                       * (0600) on first start when missing */
	char *tls_cert;       /* PEM paths; both or neither */
	char *tls_key;
	uint32_t max_body;    /* request body limit, bytes; default 65536 */
	char **allowed_schemes; /* NULL-terminated; default file, http,
	                         * https, nbd, nbds */
	char *allowed_dir;    /* local files must resolve inside it; default
	                       * /var/lib/netstick/images */
	char **allowed_hosts; /* NULL-terminated; NULL = any host */
	char *webui_dir;      /* static web UI files; NULL = no web UI */
};

/* A seed template (images[].seed, config_seed.c): a volume built at insert
 * time (daemon/seed_req.h, docs/seed.md). */
struct config_seed_file {
	char *name;           /* path inside the volume */
	char *text;           /* contents, templated at insert */
	size_t len;
};
struct config_seed {
	char *kind;           /* nocloud, kickstart, autounattend, custom */
	char *label;          /* NULL: the kind's */
	bool template_on;     /* template: (default true) */
	unsigned nfiles;
	struct config_seed_file *files;   /* heap, nfiles */
};

/* seed: limits and variables for every seed (config_seed.c). */
struct config_seeds {
	uint32_t max_files;       /* default 64 */
	uint32_t max_file_size;   /* bytes, default 1 MiB */
	uint32_t max_volume_size; /* bytes, default 8 MiB */
	char **variables;         /* "name=value", NULL-terminated, or NULL */
};

/* images: the catalog clients insert by name. */
struct config_image {
	char *name;           /* 1..64 of A-Z a-z 0-9 _ . -, unique */
	char *source;         /* path or URI, required */
	bool cdrom;
	bool readonly;
	char *description;    /* may be NULL */
	char **options;       /* as config_lun.options */
	struct config_seed *seed; /* a seed template instead of source, or
	                           * NULL */
};

/* warm: background fetches into the persistent cache (daemon/warm.c). */
struct config_warm {
	uint32_t link_mbit;   /* the media link, Mbit/s; 0 = unknown (default):
	                       * warm jobs then run unlimited unless a request
	                       * gives a rate */
	uint32_t share;       /* percent of link_mbit a warm job may use,
	                       * 1..100, default 50 */
	uint32_t max_jobs;    /* jobs running at once, 1..8, default 2 */
};

struct config_gadget {
	char *name;           /* configfs gadget dir name, default "netstick" */
	char *udc;            /* UDC name or "auto" (default) */
	uint16_t vendor_id;   /* default 0x1d6b */
	uint16_t product_id;  /* default 0x0104 */
	uint16_t device_version; /* bcdDevice, default 0x0100 */
	char *manufacturer;   /* default "netstick" */
	char *product;        /* default "netstick virtual media" */
	char *serial;         /* "auto" (default) or explicit string */
	uint32_t max_power_ma;/* 0..900, default 100 */
	char *functionfs_dir; /* default "/run/netstick/ffs" */
	bool manage;          /* default true: the daemon builds the configfs
	                       * gadget; false: functionfs_dir is already
	                       * mounted by someone else, just use it */
};

struct config_usb {
	uint32_t transfer_size; /* 4096..4 MiB, multiple of 4096; default 32 KiB */
	uint32_t queue_depth;   /* 1..16, default 8 */
	uint32_t realtime_priority; /* SCHED_FIFO priority of the USB thread,
	                             * 1..99; 0 = normal scheduling; default 10 */
};

struct config_log {
	int level;            /* enum log_level, default LOG_LVL_INFO */
	unsigned debug_mask;  /* bit per enum log_module */
};

/* redfish: the Redfish service (daemon/redfish*.c, docs/redfish.md).
 * Off unless the section is present; then at least one user is needed. */
#define CONFIG_MAX_RF_USERS 16
struct config_redfish_user {
	char *name;           /* 1..64 of A-Z a-z 0-9 _ . @ - */
	char *password_hash;  /* crypt(3) string: $y$ (yescrypt), $6$, ... */
};
struct config_redfish_hooks {
	/* Shell commands (/bin/sh -c), NULL = not configured.  power_state
	 * prints On or Off; the others act (NETSTICK_RESET_TYPE is set). */
	char *power_state;
	char *power_on;
	char *power_off;
	char *power_cycle;
	uint32_t timeout;     /* seconds a hook may run, 1..600; default 30 */
};
struct config_redfish {
	bool enabled;         /* default true once the section is there */
	char *system_id;      /* Systems/{id}, default "1" */
	char *system_name;    /* default "netstick host" */
	char *manager_id;     /* Managers/{id}, default "1" */
	uint32_t session_timeout; /* seconds idle, 1..86400; default 1800 */
	bool force;           /* media changes override the host's PREVENT
	                       * MEDIUM REMOVAL, as a BMC does; default true */
	unsigned nusers;
	struct config_redfish_user users[CONFIG_MAX_RF_USERS];
	struct config_redfish_hooks hooks;
};

struct config {
	char *path;           /* file it was loaded from */
	struct config_log log;
	struct config_gadget gadget;
	struct config_usb usb;
	unsigned nluns;       /* 1..CONFIG_MAX_LUNS */
	struct config_lun luns[CONFIG_MAX_LUNS];
	struct config_api api;
	unsigned nimages;
	struct config_image images[CONFIG_MAX_IMAGES];
	struct config_seeds seed;
	struct config_redfish redfish;
	struct config_warm warm;
};

/* The layer specs network media gets on this LUN when it has no layers:
 * lun->network_layers, or CONFIG_NETWORK_LAYERS (a read cache with
 * read-ahead: a network image with no cache pays a round trip for every
 * host command, where the kernel's NBD stack has its page cache).  An
 * empty list: none.  Static or the config's; never NULL. */
#define CONFIG_NETWORK_LAYERS "cache:size-mib=32,block-kib=16"
const char *const *config_network_layers(const struct config_lun *lun);

/* "disk" / "cdrom". */
const char *config_lun_type_name(enum config_lun_type t);

/* The catalog image called name, or NULL. */
const struct config_image *config_image_find(const struct config *cfg,
					     const char *name);

/* Fill *cfg with defaults (one LUN, empty media). Strings are heap copies. */
void config_defaults(struct config *cfg);

/* Parse a YAML file.  On success returns a config; on failure returns NULL
 * and writes a one-line human message ("FILE:LINE:COL: key.path: problem")
 * into errbuf. */
struct config *config_load(const char *path, char *errbuf, size_t errlen);

/* Same, from memory (used by unit tests and the fuzzer); name is used in
 * messages in place of the file name. */
struct config *config_load_string(const char *name, const char *text,
				  size_t len, char *errbuf, size_t errlen);

void config_free(struct config *cfg);

#endif
