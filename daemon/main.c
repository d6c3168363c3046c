/* main.c — netstickd: options, start-up order, event loop, shutdown.
 *
 * Start-up: config → LUNs (media opened) → configfs gadget + FunctionFS
 * mount → descriptors → endpoints → bind UDC → ready.  Shutdown (SIGTERM,
 * SIGINT) runs the same steps backwards: unbind (the host sees the device
 * go), drain queued transfers, flush and close media, remove the gadget.
 *
 * One thread runs USB: it polls ep0 (events), the AIO eventfd (transfer
 * completions), the media I/O workers' eventfd (media job completions,
 * mio.h) and a signalfd.  The admin API (api.c) runs its own
 * threads, started after the LUNs and stopped before them; the USB thread
 * hands it the device state with api_set_usb().
 *
 * --no-usb skips FunctionFS and configfs entirely: the LUNs and the API
 * run on a machine with no UDC (API tests, trying the web UI).
 */
#include "api.h"
#include "bot.h"
#include "config.h"
#include "ffs.h"
#include "gadget.h"
#include "log.h"
#include "lun.h"
#include "mio.h"
#include "scsi.h"
#include "usbio.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/netstick/config.yaml"
/* Longest wait for cancelled transfers at shutdown. */
#define SHUTDOWN_DRAIN_MS 2000
/* Media I/O workers: a READ's segments (BOT_SEGS) of one LUN in
 * parallel, plus room for flushes, opens and closes of the others. */
#define MEDIA_WORKERS 6

struct daemon {
	struct config *cfg;
	struct lun luns[CONFIG_MAX_LUNS];
	struct scsi_target target;
	struct gadget gadget;
	struct ffs ffs;
	struct usbio usbio;
	struct bot bot;
	struct mio mio;            /* media I/O workers (mio.h) */
	bool mio_on;
	struct api_server *api;
	bool no_usb;
	int sigfd;
	bool stop;
};

struct options {
	const char *config;
	bool check_only, cleanup, verbose, no_usb;
	const char *debug;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: netstickd [-c FILE] [-f] [-v] [-d MOD[,MOD...]]\n"
		"       netstickd --check-config [-c FILE | FILE]\n"
		"       netstickd --cleanup [-c FILE]\n"
		"       netstickd --no-usb [-c FILE]\n"
		"\n"
		"  -c, --config FILE   configuration (default %s)\n"
		"  -f, --foreground    accepted for compatibility; netstickd\n"
		"                      never forks (systemd supervises it)\n"
		"  -v, --verbose       debug logging for every module\n"
		"  -d, --debug MODS    debug logging for some modules:\n"
		"                      bot scsi ffs gadget lun backend config\n"
		"      --check-config  validate the configuration and exit\n"
		"      --cleanup       remove a gadget left by a crashed netstickd\n"
		"      --no-usb        no gadget, no FunctionFS: serve the LUNs\n"
		"                      to the admin API only (tests, demos)\n"
		"  -V, --version\n",
		DEFAULT_CONFIG);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "debug", required_argument, NULL, 'd' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "cleanup", no_argument, NULL, 'X' },
		{ "no-usb", no_argument, NULL, 'U' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof *o);
	o->config = DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:fvd:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'f': break;
		case 'v': o->verbose = true; break;
		case 'd': o->debug = optarg; break;
		case 'C': o->check_only = true; break;
		case 'X': o->cleanup = true; break;
		case 'U': o->no_usb = true; break;
		case 'V': printf("netstickd %s\n", NETSTICK_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	/* --check-config FILE: the file may also come as the operand. */
	if (o->check_only && optind == argc - 1)
		o->config = argv[optind++];
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Applies log settings from config, then the command line on top. */
static int setup_logging(const struct options *o, const struct config *cfg)
{
	char mods[256], *save = NULL;

	log_set_level(o->verbose ? LOG_LVL_DEBUG : (enum log_level)cfg->log.level);
	for (int m = 0; m < LOG_MOD_COUNT; m++)
		if (cfg->log.debug_mask & (1u << m))
			log_enable_debug((enum log_module)m);
	if (!o->debug)
		return 0;
	snprintf(mods, sizeof mods, "%s", o->debug);
	for (char *t = strtok_r(mods, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		int m = log_module_from_name(t);
		if (m < 0) {
			log_errx("-d: unknown module \"%s\"", t);
			return -1;
		}
		log_enable_debug((enum log_module)m);
	}
	return 0;
}

static int setup_signals(struct daemon *d)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return d->sigfd < 0 ? -1 : 0;
}

/* The USB thread is latency-bound: every command waits for it.  Real-time
 * scheduling and locked memory keep it from being scheduled late or
 * faulting pages in on the data path. */
static void setup_realtime(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	struct sched_param sp = { .sched_priority = (int)cfg->usb.realtime_priority };

	if (cfg->usb.realtime_priority == 0)
		return;
	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
		log_warn("cannot use real-time priority %d (needs CAP_SYS_NICE); "
			 "continuing with normal scheduling", sp.sched_priority);
	/* MCL_ONFAULT: lock pages as they are touched, never read in whole
	 * mappings; the images mapped by then are unlocked again (a 5 GB
	 * ISO in the config would otherwise be read into RAM and pinned). */
	if (mlockall(MCL_CURRENT | MCL_ONFAULT) < 0)
		log_debug(LOG_MOD_FFS, "mlockall: %s", strerror(errno));
	for (unsigned i = 0; i < cfg->nluns; i++)
		lun_media_munlock(&d->luns[i]);
}

static int setup_luns(struct daemon *d)
{
	char serial[64];

	if (strcmp(d->cfg->gadget.serial, "auto") == 0)
		gadget_auto_serial(serial, sizeof serial);
	else
		snprintf(serial, sizeof serial, "%s", d->cfg->gadget.serial);
	for (unsigned i = 0; i < d->cfg->nluns; i++)
		if (lun_init(&d->luns[i], i, &d->cfg->luns[i], serial) < 0)
			return -1;
	d->target.luns = d->luns;
	d->target.nluns = d->cfg->nluns;
	return 0;
}

/* --- ep0 callbacks ------------------------------------------------------- */

static void on_enable(void *arg)
{
	struct daemon *d = arg;

	log_info("host configured the device");
	bot_enable(&d->bot);
}

static void on_disable(void *arg)
{
	struct daemon *d = arg;

	log_debug(LOG_MOD_FFS, "endpoints disabled");
	bot_disable(&d->bot);
}

static void on_reset_done(void *arg)
{
	ffs_ack(&((struct daemon *)arg)->ffs);
}

static void on_reset(void *arg)
{
	struct daemon *d = arg;

	bot_reset(&d->bot, on_reset_done, d);
}

static const struct ffs_events daemon_ffs_events = {
	.enable = on_enable,
	.disable = on_disable,
	.reset = on_reset,
};

/* --- event loop ---------------------------------------------------------- */

static void handle_signal(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof si) == sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: configuration reload is not supported; "
				 "restart the service to apply changes");
			continue;
		}
		log_info("signal %u: shutting down", si.ssi_signo);
		d->stop = true;
	}
}

static int run_loop(struct daemon *d)
{
	struct ffs_events ev = daemon_ffs_events;

	ev.arg = d;
	while (!d->stop) {
		struct pollfd p[4] = {
			{ .fd = d->sigfd, .events = POLLIN },
			{ .fd = usbio_fd(&d->usbio), .events = POLLIN },
			{ .fd = d->ffs.setup_pending ? -1 : d->ffs.ep0,
			  .events = POLLIN },
			{ .fd = mio_fd(&d->mio), .events = POLLIN },
		};
		int timeout, r = 0;

		usbio_lock(&d->usbio);
		timeout = usbio_poll_timeout(&d->usbio);
		usbio_unlock(&d->usbio);
		if (poll(p, 4, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll");
			return -1;
		}
		if (p[0].revents)
			handle_signal(d);
		usbio_lock(&d->usbio);
		/* Also on a timeout: repeats a pending cancel. */
		usbio_reap(&d->usbio);
		if (p[3].revents)
			mio_reap(&d->mio);
		/* Events held behind a reset go out once it is acked. */
		if ((p[2].revents || ffs_held(&d->ffs)) &&
		    ffs_dispatch(&d->ffs, &ev) < 0)
			r = -1;
		usbio_flush(&d->usbio);
		usbio_unlock(&d->usbio);
		if (r < 0)
			return -1;
		api_set_usb(d->api, d->ffs.state);
	}
	return 0;
}

/* --no-usb: only signals to wait for; the API threads do the work. */
static int run_loop_no_usb(struct daemon *d)
{
	while (!d->stop) {
		struct pollfd p = { .fd = d->sigfd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0 && errno != EINTR) {
			log_err("poll");
			return -1;
		}
		if (p.revents)
			handle_signal(d);
	}
	return 0;
}

/* Cancel whatever is queued and wait (bounded) for the kernel to give the
 * buffers back before they are freed. */
static void drain_transfers(struct daemon *d)
{
	unsigned busy;

	usbio_lock(&d->usbio);
	bot_disable(&d->bot);
	busy = usbio_busy(&d->usbio) + d->bot.jobs;
	usbio_unlock(&d->usbio);
	for (int waited = 0; busy && waited < SHUTDOWN_DRAIN_MS; waited++) {
		struct pollfd p = { .fd = usbio_fd(&d->usbio), .events = POLLIN };

		(void)poll(&p, 1, 1);
		usbio_lock(&d->usbio);
		usbio_reap(&d->usbio);   /* also repeats the cancel */
		mio_reap(&d->mio);
		usbio_flush(&d->usbio);
		busy = usbio_busy(&d->usbio) + d->bot.jobs;
		usbio_unlock(&d->usbio);
	}
	if (busy)
		log_warnx("%u transfers still queued at exit", busy);
}

/* A media job's end, on its worker: the BOT runs it under the USB lock,
 * and what it queued goes out at once (the serial thread does the same
 * for transfers). */
static void deliver_media_job(void *arg, struct mio_job *j)
{
	struct daemon *d = arg;

	usbio_lock(&d->usbio);
	j->done(j);
	usbio_flush(&d->usbio);
	usbio_unlock(&d->usbio);
}

static int start_media_workers(struct daemon *d)
{
	if (mio_init(&d->mio, MEDIA_WORKERS) < 0) {
		log_err("media I/O workers");
		return -1;
	}
	if (!d->no_usb)
		mio_set_deliver(&d->mio, deliver_media_job, d);
	d->mio_on = true;
	lun_set_executor(&d->mio);
	return 0;
}

/* Runs what is still queued (closes of retired media), joins the
 * workers; from then on closes run on the caller's thread. */
static void stop_media_workers(struct daemon *d)
{
	if (!d->mio_on)
		return;
	lun_set_executor(NULL);
	mio_fini(&d->mio);
	d->mio_on = false;
}

static int start_usb(struct daemon *d)
{
	const struct config *cfg = d->cfg;

	if (cfg->gadget.manage && gadget_setup(&d->gadget, cfg) < 0)
		return -1;
	if (ffs_open(&d->ffs, cfg->gadget.functionfs_dir, cfg->nluns) < 0)
		return -1;
	if (usbio_init(&d->usbio, d->ffs.ep_in, d->ffs.ep_out) < 0)
		return -1;
	if (bot_init(&d->bot, &d->target, &usbio_ops, &d->usbio,
		     cfg->usb.transfer_size, cfg->usb.queue_depth) < 0) {
		log_err("bot: init");
		return -1;
	}
	usbio_set_bot(&d->usbio, &d->bot);
	bot_set_mio(&d->bot, &d->mio);      /* started after: run_daemon */
	if (cfg->gadget.manage && gadget_bind(&d->gadget, cfg->gadget.udc) < 0)
		return -1;
	api_set_udc(d->api, d->gadget.udc);
	api_set_usb(d->api, d->ffs.state);
	return 0;
}

static void stop_usb(struct daemon *d)
{
	if (d->no_usb)
		return;
	if (d->cfg->gadget.manage)
		gadget_unbind(&d->gadget);
	if (d->bot.pool) {
		bool stuck;

		drain_transfers(d);
		/* Workers may still be in a media call into the BOT's
		 * buffers: they end (bounded by the backends' deadlines),
		 * delivering under the USB lock, before the transport and
		 * the buffers go.  A serial thread left in its transfer may
		 * still write into them: they go with the process. */
		stop_media_workers(d);
		stuck = usbio_fini(&d->usbio) < 0;
		if (!stuck)
			bot_fini(&d->bot);
	}
	ffs_close(&d->ffs);
	if (d->cfg->gadget.manage)
		gadget_teardown(&d->gadget);
}

static int run_daemon(struct daemon *d)
{
	int rc = 1;

	d->ffs.ep0 = d->ffs.ep_in = d->ffs.ep_out = -1;
	d->gadget.lock_fd = -1;
	if (setup_signals(d) < 0) {
		log_err("signals");
		return 1;
	}
	if (setup_luns(d) < 0)
		return 1;
	if (d->cfg->api.enabled &&
	    !(d->api = api_start(d->cfg, d->luns, d->cfg->nluns, !d->no_usb)))
		goto out;
	if (d->no_usb || start_usb(d) == 0) {
		if (!d->no_usb)
			setup_realtime(d);
		/* After: the media I/O workers and the serial thread inherit
		 * the USB thread's policy (every command waits for them). */
		if (start_media_workers(d) < 0) {
			stop_usb(d);
			goto out;
		}
		if (!d->no_usb)
			usbio_start_serial(&d->usbio);
		sd_notifyf(0, "READY=1\nSTATUS=serving%s%s%u",
			   d->no_usb ? " (no USB)" : "",
			   d->api ? ", API on port " : "", api_port(d->api));
		log_info("netstickd %s ready: %u LUN%s%s", NETSTICK_VERSION,
			 d->cfg->nluns, d->cfg->nluns == 1 ? "" : "s",
			 d->no_usb ? ", no USB (--no-usb)" : "");
		rc = (d->no_usb ? run_loop_no_usb(d) : run_loop(d)) == 0 ? 0 : 1;
		sd_notify(0, "STOPPING=1");
	}
	stop_usb(d);
out:
	api_stop(d->api);
	d->api = NULL;
	stop_media_workers(d);
	for (unsigned i = 0; i < d->cfg->nluns; i++)
		lun_fini(&d->luns[i]);
	return rc;
}

int main(int argc, char **argv)
{
	static struct daemon d;
	struct options o;
	char err[512];
	int rc;

	log_init("netstickd", LOG_LVL_INFO);
	if (parse_options(argc, argv, &o) < 0)
		return 2;
	d.cfg = config_load(o.config, err, sizeof err);
	if (!d.cfg) {
		log_errx("%s", err);
		return 1;
	}
	if (setup_logging(&o, d.cfg) < 0) {
		config_free(d.cfg);
		return 2;
	}
	if (o.check_only) {
		printf("%s: OK (%u LUN%s)\n", o.config, d.cfg->nluns,
		       d.cfg->nluns == 1 ? "" : "s");
		rc = 0;
	} else if (o.cleanup) {
		rc = gadget_cleanup(d.cfg) == 0 ? 0 : 1;
	} else {
		d.no_usb = o.no_usb;
		rc = run_daemon(&d);
	}
	config_free(d.cfg);
	return rc;
}
