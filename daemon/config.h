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

struct config_lun {
	char *media;          /* path or URI; NULL or "" = empty drive */
	bool readonly;        /* default false */
	bool removable;       /* default true */
	uint32_t block_size;  /* 512 (default) or 4096 */
	char vendor[9];       /* INQUIRY vendor, default "netstick" */
	char product[17];     /* INQUIRY product, default "Virtual Disk" */
	char revision[5];     /* INQUIRY revision, default "0.1" */
	char **options;       /* "key=value", NULL-terminated, or NULL: the
	                       * options mapping, for backend_open_opts */
	char **layers;        /* layer specs, bottom-most first,
	                       * NULL-terminated, or NULL: for
	                       * backend_open_opts.layers */
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

/* images: the catalog clients insert by name. */
struct config_image {
	char *name;           /* 1..64 of A-Z a-z 0-9 _ . -, unique */
	char *source;         /* path or URI, required */
	bool cdrom;
	bool readonly;
	char *description;    /* may be NULL */
	char **options;       /* as config_lun.options */
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
};

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
