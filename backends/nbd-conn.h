/* nbd-conn.h — NBD source options and bounded connects (nbd-conn.c), shared
 * by the NBD backend's call path and its reconnect thread (nbd.c). */
#ifndef NS_NBD_CONN_H
#define NS_NBD_CONN_H

#include "backend.h"

#include <stdbool.h>
#include <stdint.h>

struct nbd_handle;

#define NBD_MAX_CONNS 16

/* Parsed per-source options (docs/backends.md lists them). */
struct nbd_cfg {
	char *uri;                    /* the source without its #fragment */
	char redacted[256];           /* uri fit for messages */
	unsigned connections;         /* connections when multi-conn, 1..16 */
	unsigned timeout_ms;          /* per call deadline */
	unsigned connect_timeout_ms;  /* per connect (handshake included) */
	unsigned chunk;               /* bytes per NBD request */
	char *tls_certificates;       /* directory, or NULL */
	char *tls_psk_file;           /* file, or NULL */
	char *tls_username;           /* or NULL */
	bool tls_verify;              /* verify the server certificate */
	bool allow_local_file;        /* the URI names a PSK file itself */
};

/* Parses source and options.  Returns 0 or BE_EOPEN with a message. */
int nbd_cfg_init(struct nbd_cfg *cfg, const char *source,
		 const struct backend_open_opts *opts, char *err,
		 size_t errlen);
void nbd_cfg_free(struct nbd_cfg *cfg);

/* Connects and completes the handshake within cfg->connect_timeout_ms, or
 * earlier when stopfd becomes readable.  Returns a ready handle, or NULL
 * with a message (credentials redacted) in err.  Thread-safe. */
struct nbd_handle *nbd_conn_open(const struct nbd_cfg *cfg, int stopfd,
				 char *err, size_t errlen);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t nbd_now_ms(void);

#endif
