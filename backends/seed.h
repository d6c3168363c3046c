/* seed.h — seed volumes: small read-only ISO 9660 volumes built in memory
 * from files a client hands over (cloud-init NoCloud, kickstart OEMDRV,
 * autounattend; docs/seed.md), and the store the seed backend serves them
 * from.
 *
 *   request ──▶ daemon/seed_req.c (kinds, names, templating, limits)
 *           ──▶ seed_iso_build()   (libisofs: ISO 9660 + Rock Ridge + Joliet)
 *           ──▶ seed_store_put()   (identity = SHA-256 of the volume)
 *           ──▶ lun_swap("seed:sha256-HEX") ──▶ backend_seed_ops (seed.c)
 *
 * The build is deterministic: every timestamp in the volume is fixed
 * (SEED_EPOCH), so the same files and label give the same bytes, and the
 * identity names the contents: a host can check it with sha256sum over
 * the device.  The volume's UUID as blkid shows it (the PVD creation
 * time) comes from a digest of the files, so two different seeds never
 * share one.
 */
#ifndef NS_SEED_H
#define NS_SEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEED_LABEL_MAX 32        /* ISO 9660 volume identifier, bytes */
#define SEED_NAME_MAX 255        /* one path component (Rock Ridge), bytes */
#define SEED_PATH_MAX 1024       /* a whole path, bytes */
#define SEED_DEPTH_MAX 8         /* path components (ISO 9660's depth) */
#define SEED_EPOCH 946684800     /* 2000-01-01T00:00:00Z: every timestamp */
#define SEED_ID_HEX 64           /* SHA-256, hex */
#define SEED_SOURCE_PREFIX "seed:sha256-"
#define SEED_SOURCE_LEN (sizeof SEED_SOURCE_PREFIX - 1 + SEED_ID_HEX)
#define SEED_ALIGN 4096          /* volumes are padded to this: any LUN
                                  * block size divides it */

/* One file of a volume.  path is "name" or "dir/sub/name", already
 * checked (seed_req.c: no empty, "." or ".." component, no leading '/',
 * valid UTF-8, no control characters); directories are made as needed. */
struct seed_entry {
	const char *path;
	const unsigned char *data;
	size_t len;
};

/* Builds the volume labelled label (1..SEED_LABEL_MAX bytes, written as
 * given, also as the Joliet label) holding the n entries.  On success
 * returns 0 and a heap buffer in *out (free()), *outlen bytes, a multiple
 * of SEED_ALIGN.  On failure returns -1 with a message in err:
 * *too_big is set when the volume would exceed max_volume bytes.
 * Thread-safe (builds are serialised on one lock: libisofs keeps global
 * state). */
int seed_iso_build(const char *label, const struct seed_entry *e, unsigned n,
		   size_t max_volume, unsigned char **out, size_t *outlen,
		   bool *too_big, char *err, size_t errlen);

/* ---- the store ----------------------------------------------------------
 *
 * Built volumes by identity.  A volume lives while anything holds it:
 *   - the caller of seed_store_put(), until seed_store_drop();
 *   - a holder slot (seed_store_keep(): one per LUN), so the host can eject
 *     and reload it (START STOP UNIT) and a retired instance stays valid;
 *   - each open backend instance ("seed:sha256-HEX").
 * Thread-safe: one mutex; no call waits on anything but it. */

#define SEED_STORE_SLOTS 16      /* CONFIG_MAX_LUNS */

struct seed_volume;

/* Takes ownership of data (heap, len bytes, SEED_ALIGN multiple) and
 * returns the stored volume with one hold for the caller: the existing one
 * when the same bytes are stored already (data is then freed).  source
 * receives "seed:sha256-HEX" (at least SEED_SOURCE_LEN + 1 bytes).  NULL
 * when out of memory (data freed). */
struct seed_volume *seed_store_put(unsigned char *data, size_t len,
				   char *source, size_t srclen);
/* Drops the caller's hold (NULL ok). */
void seed_store_drop(struct seed_volume *v);
/* Slot `slot` holds v from now on (NULL: nothing), dropping what it held
 * before.  Slots out of range are ignored. */
void seed_store_keep(unsigned slot, struct seed_volume *v);
/* Volumes stored now, and their bytes: for tests and status. */
void seed_store_stats(unsigned *count, size_t *bytes);
/* Empties every slot (tests; shutdown). */
void seed_store_clear(void);

#endif
