/* api.h — the admin REST API, web UI and Prometheus metrics over HTTP
 * (libmicrohttpd), documented route by route in docs/api.md.
 *
 * Threads: libmicrohttpd runs its own listening thread and one thread per
 * connection.  API threads only call lun_* functions (thread-safe) and
 * read the USB state that the USB thread publishes with api_set_usb();
 * they never touch bot_* or ffs_*.
 */
#ifndef NS_API_H
#define NS_API_H

#include "config.h"
#include "ffs.h"
#include "lun.h"

struct api_server;

/* Loads (or generates) the token, starts listening and subscribes to LUN
 * changes.  cfg and luns must outlive the server.  Returns NULL with a
 * logged error on failure. */
struct api_server *api_start(const struct config *cfg, struct lun *luns,
			     unsigned nluns, bool usb_enabled);
/* Ends the event streams, closes every connection and frees s (NULL ok). */
void api_stop(struct api_server *s);

/* The port actually listened on (api.port may be 0). */
unsigned api_port(const struct api_server *s);

/* USB side, from the USB thread: the device state and the bound UDC (for
 * the link speed in /sys/class/udc/UDC/current_speed).  s may be NULL. */
void api_set_usb(struct api_server *s, enum usb_state state);
void api_set_udc(struct api_server *s, const char *udc);

#endif
