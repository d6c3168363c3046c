/* api_guard.c — what keeps hostile clients from starving the admin API.
 *
 * libmicrohttpd bounds connections per client address and in total
 * (api.c: MHD_OPTION_PER_IP_CONNECTION_LIMIT, MHD_OPTION_CONNECTION_LIMIT)
 * and drops idle ones (MHD_OPTION_CONNECTION_TIMEOUT).  Idle is not
 * enough: a client that sends one header byte every few seconds is never
 * idle (slowloris).  So each connection is a peer with a deadline:
 *
 *   accepted ──► WAITING (deadline = now + API_REQ_DEADLINE_MS)
 *                  │ headers and body all in (api_guard_answering)
 *                  ▼
 *               ANSWERING (no deadline: an SSE stream, a slow media open)
 *                  │ reply done (api_guard_completed), keep-alive
 *                  ▼
 *               WAITING again, a fresh deadline for the next request
 *
 * A watchdog thread shuts down (shutdown(2), SHUT_RDWR) every WAITING
 * peer past its deadline; libmicrohttpd's thread then sees the socket end
 * and closes it as usual.  The watchdog uses its own dup() of the socket,
 * closed when libmicrohttpd reports the connection closed, so it can
 * never shut down a descriptor number reused by something else.
 *
 * Event streams are capped per address and in total (api_guard_sse_*);
 * a stream notices its client is gone within API_SSE_POLL_MS
 * (api_guard_peer_gone), so its slot is free as soon as the client leaves.
 *
 * Logging under a flood is rate-limited (api_guard_log_ok): at most
 * API_LOG_BURST lines per API_LOG_WINDOW_MS, then one line saying how
 * many were dropped.
 *
 * Locks: guard.lock protects the peer list and the SSE counts; it is
 * never held across I/O or a call into libmicrohttpd.
 */
#include "api_int.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define API_WATCHDOG_MS 250
#define API_LOG_BURST 20
#define API_LOG_WINDOW_MS 10000

struct api_peer {
	struct api_peer *prev, *next;
	int fd;                       /* our dup of the socket */
	char addr[INET6_ADDRSTRLEN];  /* client address, no port */
	int64_t deadline_ms;          /* 0: answering, no deadline */
	bool killed;
};

static int64_t guard_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- rate-limited logging --------------------------------------------- */

bool api_guard_log_ok(struct api_guard *g)
{
	int64_t now = guard_now_ms();
	unsigned dropped = 0;
	bool ok;

	pthread_mutex_lock(&g->log_lock);
	if (now - g->log_window_ms >= API_LOG_WINDOW_MS) {
		dropped = g->log_dropped;
		g->log_window_ms = now;
		g->log_lines = 0;
		g->log_dropped = 0;
	}
	ok = g->log_lines < API_LOG_BURST;
	if (ok)
		g->log_lines++;
	else
		g->log_dropped++;
	pthread_mutex_unlock(&g->log_lock);
	if (dropped)
		log_warnx("api: %u more messages like the above dropped in "
			  "%d s (rate limit)", dropped, API_LOG_WINDOW_MS / 1000);
	return ok;
}

/* ---- peers ------------------------------------------------------------ */

static void guard_addr(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(buf, len, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			  buf, (socklen_t)len);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
			  (socklen_t)len);
}

static void guard_peer_start(struct api_guard *g, struct MHD_Connection *c,
			     void **socket_context)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct api_peer *p = calloc(1, sizeof *p);

	*socket_context = p;
	if (!p)
		return;
	p->fd = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
	guard_addr(c, p->addr, sizeof p->addr);
	pthread_mutex_lock(&g->lock);
	p->deadline_ms = guard_now_ms() + API_REQ_DEADLINE_MS;
	p->next = g->peers;
	if (g->peers)
		g->peers->prev = p;
	g->peers = p;
	g->npeers++;
	pthread_mutex_unlock(&g->lock);
}

static void guard_peer_end(struct api_guard *g, struct api_peer *p)
{
	pthread_mutex_lock(&g->lock);
	if (p->prev)
		p->prev->next = p->next;
	else
		g->peers = p->next;
	if (p->next)
		p->next->prev = p->prev;
	g->npeers--;
	pthread_mutex_unlock(&g->lock);
	if (p->fd >= 0)
		close(p->fd);
	free(p);
}

void api_guard_notify(void *cls, struct MHD_Connection *c,
		      void **socket_context,
		      enum MHD_ConnectionNotificationCode toe)
{
	struct api_server *s = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		guard_peer_start(&s->guard, c, socket_context);
	else if (*socket_context)
		guard_peer_end(&s->guard, *socket_context);
}

struct api_peer *api_guard_peer(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

void api_guard_answering(struct api_guard *g, struct api_peer *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&g->lock);
	p->deadline_ms = 0;
	pthread_mutex_unlock(&g->lock);
}

void api_guard_completed(struct api_guard *g, struct api_peer *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&g->lock);
	p->deadline_ms = guard_now_ms() + API_REQ_DEADLINE_MS;
	pthread_mutex_unlock(&g->lock);
}

/* ---- SSE slots -------------------------------------------------------- */

bool api_guard_sse_gone(const struct api_sse_slot *slot)
{
	struct pollfd pfd = { .fd = slot->fd, .events = POLLRDHUP };

	if (slot->fd < 0)
		return false;
	return poll(&pfd, 1, 0) == 1 &&
	       (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static unsigned guard_sse_of(const struct api_guard *g, const char *addr)
{
	unsigned n = 0;

	for (const struct api_sse_slot *q = g->sse; q; q = q->next)
		n += strcmp(q->addr, addr) == 0;
	return n;
}

int api_guard_sse_take(struct api_guard *g, struct api_peer *p,
		       struct api_sse_slot *slot)
{
	int r = -1;

	memset(slot, 0, sizeof *slot);
	slot->fd = -1;
	if (!p)
		return -1;
	pthread_mutex_lock(&g->lock);
	if (g->nsse < API_SSE_MAX &&
	    guard_sse_of(g, p->addr) < API_SSE_PER_IP) {
		snprintf(slot->addr, sizeof slot->addr, "%s", p->addr);
		slot->fd = p->fd >= 0 ? fcntl(p->fd, F_DUPFD_CLOEXEC, 0) : -1;
		slot->taken = true;
		slot->next = g->sse;
		g->sse = slot;
		g->nsse++;
		r = 0;
	}
	pthread_mutex_unlock(&g->lock);
	return r;
}

void api_guard_sse_give(struct api_guard *g, struct api_sse_slot *slot)
{
	if (!slot->taken)
		return;
	pthread_mutex_lock(&g->lock);
	for (struct api_sse_slot **q = &g->sse; *q; q = &(*q)->next)
		if (*q == slot) {
			*q = slot->next;
			g->nsse--;
			break;
		}
	pthread_mutex_unlock(&g->lock);
	slot->taken = false;
	if (slot->fd >= 0)
		close(slot->fd);
	slot->fd = -1;
}

/* ---- the watchdog ----------------------------------------------------- */

static unsigned guard_expire(struct api_guard *g)
{
	int64_t now = guard_now_ms();
	unsigned n = 0;

	pthread_mutex_lock(&g->lock);
	for (struct api_peer *p = g->peers; p; p = p->next) {
		if (p->killed || !p->deadline_ms || now < p->deadline_ms ||
		    p->fd < 0)
			continue;
		shutdown(p->fd, SHUT_RDWR);
		p->killed = true;
		n++;
	}
	pthread_mutex_unlock(&g->lock);
	return n;
}

static void *guard_watchdog(void *arg)
{
	struct api_server *s = arg;
	struct api_guard *g = &s->guard;
	struct timespec ts;

	pthread_mutex_lock(&g->stop_lock);
	while (!g->stopping) {
		unsigned n;

		pthread_mutex_unlock(&g->stop_lock);
		n = guard_expire(g);
		if (n) {
			atomic_fetch_add(&s->deadline_drops, n);
			if (api_guard_log_ok(g))
				log_warnx("api: dropped %u connection%s that "
					  "sent no complete request in %d s",
					  n, n == 1 ? "" : "s",
					  API_REQ_DEADLINE_MS / 1000);
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += API_WATCHDOG_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&g->stop_lock);
		if (!g->stopping)
			pthread_cond_timedwait(&g->stop_cond, &g->stop_lock,
					       &ts);
	}
	pthread_mutex_unlock(&g->stop_lock);
	return NULL;
}

/* Thousands of sockets need more than the usual soft limit of 1024
 * descriptors (each connection is two: libmicrohttpd's and our dup). */
static void guard_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = 4 * API_CONN_LIMIT + 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("api: cannot raise the descriptor limit");
}

int api_guard_start(struct api_server *s)
{
	struct api_guard *g = &s->guard;

	pthread_mutex_init(&g->lock, NULL);
	pthread_mutex_init(&g->log_lock, NULL);
	pthread_mutex_init(&g->stop_lock, NULL);
	backend_cond_init(&g->stop_cond);
	g->inited = true;
	guard_raise_nofile();
	if (pthread_create(&g->watchdog, NULL, guard_watchdog, s) != 0) {
		log_errx("api: cannot start the connection watchdog");
		return -1;
	}
	g->running = true;
	return 0;
}

void api_guard_stop(struct api_server *s)
{
	struct api_guard *g = &s->guard;

	if (!g->inited)
		return;
	if (g->running) {
		pthread_mutex_lock(&g->stop_lock);
		g->stopping = true;
		pthread_cond_signal(&g->stop_cond);
		pthread_mutex_unlock(&g->stop_lock);
		pthread_join(g->watchdog, NULL);
		g->running = false;
	}
	pthread_cond_destroy(&g->stop_cond);
	pthread_mutex_destroy(&g->stop_lock);
	pthread_mutex_destroy(&g->log_lock);
	pthread_mutex_destroy(&g->lock);
	g->inited = false;
}
