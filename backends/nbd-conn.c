/* nbd-conn.c — NBD source options and connects bounded by a deadline.
 *
 * nbd_connect_uri() blocks for as long as the network likes; the USB
 * thread (a host's START STOP UNIT reloads media) and the reconnect thread
 * must not, so connects run libnbd's async state machine under poll(2)
 * with a deadline and a stop descriptor.
 */
#include "nbd-conn.h"
#include "log.h"

#include <errno.h>
#include <libnbd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const nbd_known_opts[] = {
	"connections", "timeout-ms", "connect-timeout-ms", "chunk-size",
	"tls-certificates", "tls-psk-file", "tls-username", "tls-verify",
	NULL,
};

int64_t nbd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int nbd_cfg_str(char **dst, const struct backend_optset *set,
		       const char *key)
{
	const char *v = backend_opt_get(set, key);

	*dst = NULL;
	if (v && !(*dst = strdup(v)))
		return BE_ENOMEM;
	return 0;
}

static int nbd_cfg_parse(struct nbd_cfg *cfg, const struct backend_optset *s,
			 char *err, size_t errlen)
{
	if (backend_opt_uint(s, "connections", 4, 1, NBD_MAX_CONNS,
			     &cfg->connections, err, errlen) < 0 ||
	    backend_opt_uint(s, "timeout-ms", 4000, 100, 60000,
			     &cfg->timeout_ms, err, errlen) < 0 ||
	    backend_opt_uint(s, "connect-timeout-ms", 4000, 100, 60000,
			     &cfg->connect_timeout_ms, err, errlen) < 0 ||
	    backend_opt_uint(s, "chunk-size", 262144, 4096, 1u << 25,
			     &cfg->chunk, err, errlen) < 0 ||
	    backend_opt_bool(s, "tls-verify", true, &cfg->tls_verify,
			     err, errlen) < 0)
		return BE_EOPEN;
	if (nbd_cfg_str(&cfg->tls_certificates, s, "tls-certificates") < 0 ||
	    nbd_cfg_str(&cfg->tls_psk_file, s, "tls-psk-file") < 0 ||
	    nbd_cfg_str(&cfg->tls_username, s, "tls-username") < 0) {
		snprintf(err, errlen, "out of memory");
		return BE_EOPEN;
	}
	return 0;
}

int nbd_cfg_init(struct nbd_cfg *cfg, const char *source,
		 const struct backend_open_opts *opts, char *err,
		 size_t errlen)
{
	struct backend_optset set;
	int r;

	memset(cfg, 0, sizeof *cfg);
	backend_redact(source, cfg->redacted, sizeof cfg->redacted);
	if (backend_optset_init(&set, source, opts, nbd_known_opts, NULL,
				err, errlen) < 0)
		return BE_EOPEN;
	r = nbd_cfg_parse(cfg, &set, err, errlen);
	cfg->uri = set.uri;      /* keep the URI, drop the rest */
	set.uri = NULL;
	backend_optset_free(&set);
	if (r < 0) {
		nbd_cfg_free(cfg);
		return BE_EOPEN;
	}
	/* The URI naming a PSK file is allowed: sources come from the
	 * config or the admin API, both trusted.  libnbd refuses it unless
	 * told, so tell it only when the URI does. */
	cfg->allow_local_file = strstr(cfg->uri, "tls-psk-file=") != NULL;
	return 0;
}

void nbd_cfg_free(struct nbd_cfg *cfg)
{
	free(cfg->uri);
	free(cfg->tls_certificates);
	free(cfg->tls_psk_file);
	free(cfg->tls_username);
	cfg->uri = cfg->tls_certificates = cfg->tls_psk_file = NULL;
	cfg->tls_username = NULL;
}

/* Copies libnbd's last error into err with the URI replaced by its
 * redacted form (libnbd quotes the URI it could not parse). */
static void nbd_conn_error(const struct nbd_cfg *cfg, char *err, size_t errlen)
{
	const char *msg = nbd_get_error();
	const char *hit;

	if (!msg)
		msg = "unknown libnbd error";
	if (strncmp(msg, "nbd_aio_connect_uri: ", 21) == 0)
		msg += 21;
	hit = cfg->uri[0] ? strstr(msg, cfg->uri) : NULL;
	if (hit)
		snprintf(err, errlen, "%s: %.*s%s%s", cfg->redacted,
			 (int)(hit - msg), msg, cfg->redacted,
			 hit + strlen(cfg->uri));
	else
		snprintf(err, errlen, "%s: %s", cfg->redacted, msg);
}

static int nbd_conn_setup(struct nbd_handle *h, const struct nbd_cfg *cfg)
{
	if (nbd_set_uri_allow_transports(h, LIBNBD_ALLOW_TRANSPORT_TCP |
					 LIBNBD_ALLOW_TRANSPORT_UNIX) < 0 ||
	    nbd_set_uri_allow_local_file(h, cfg->allow_local_file) < 0 ||
	    nbd_set_handle_name(h, "netstick") < 0)
		return -1;
	if (cfg->tls_certificates &&
	    nbd_set_tls_certificates(h, cfg->tls_certificates) < 0)
		return -1;
	if (cfg->tls_psk_file && nbd_set_tls_psk_file(h, cfg->tls_psk_file) < 0)
		return -1;
	if (cfg->tls_username && nbd_set_tls_username(h, cfg->tls_username) < 0)
		return -1;
	if (!cfg->tls_verify && nbd_set_tls_verify_peer(h, false) < 0)
		return -1;
	return 0;
}

/* Drives the handshake; returns 0 when ready, -1 with err set. */
static int nbd_conn_drive(struct nbd_handle *h, const struct nbd_cfg *cfg,
			  int stopfd, char *err, size_t errlen)
{
	int64_t deadline = nbd_now_ms() + cfg->connect_timeout_ms;

	while (nbd_aio_is_connecting(h)) {
		int64_t left = deadline - nbd_now_ms();
		unsigned dir = nbd_aio_get_direction(h);
		struct pollfd p[2] = {
			{ .fd = nbd_aio_get_fd(h), .events = (short)(
			  ((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
			  ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0)) },
			{ .fd = stopfd, .events = POLLIN },
		};
		if (left <= 0) {
			snprintf(err, errlen, "%s: no NBD handshake within %u ms",
				 cfg->redacted, cfg->connect_timeout_ms);
			return -1;
		}
		if (poll(p, 2, (int)left) < 0 && errno != EINTR)
			break;
		if (p[1].revents) {
			snprintf(err, errlen, "%s: closing", cfg->redacted);
			return -1;
		}
		if (((p[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		     nbd_aio_notify_read(h) < 0) ||
		    ((p[0].revents & POLLOUT) && nbd_aio_notify_write(h) < 0)) {
			nbd_conn_error(cfg, err, errlen);
			return -1;
		}
	}
	if (!nbd_aio_is_ready(h)) {
		nbd_conn_error(cfg, err, errlen);
		return -1;
	}
	return 0;
}

struct nbd_handle *nbd_conn_open(const struct nbd_cfg *cfg, int stopfd,
				 char *err, size_t errlen)
{
	struct nbd_handle *h = nbd_create();

	if (!h) {
		nbd_conn_error(cfg, err, errlen);
		return NULL;
	}
	if (nbd_conn_setup(h, cfg) < 0 || nbd_aio_connect_uri(h, cfg->uri) < 0) {
		nbd_conn_error(cfg, err, errlen);
		nbd_close(h);
		return NULL;
	}
	if (nbd_conn_drive(h, cfg, stopfd, err, errlen) < 0) {
		nbd_close(h);
		return NULL;
	}
	return h;
}
