/* log.c — stderr / journal logging. See log.h for the contract. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *log_progname = "netstickd";
static enum log_level log_level = LOG_LVL_INFO;
static unsigned log_debug_mask;
static bool log_journal;

static const char *const log_module_names[LOG_MOD_COUNT] = {
	[LOG_MOD_BOT] = "bot",         [LOG_MOD_SCSI] = "scsi",
	[LOG_MOD_FFS] = "ffs",         [LOG_MOD_GADGET] = "gadget",
	[LOG_MOD_LUN] = "lun",         [LOG_MOD_BACKEND] = "backend",
	[LOG_MOD_CONFIG] = "config",
};

void log_init(const char *progname, enum log_level level)
{
	if (progname)
		log_progname = progname;
	log_level = level;
	/* systemd sets JOURNAL_STREAM when stderr is connected to journald. */
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(enum log_level level) { log_level = level; }
enum log_level log_get_level(void) { return log_level; }

int log_module_from_name(const char *name)
{
	for (int i = 0; i < LOG_MOD_COUNT; i++)
		if (strcmp(name, log_module_names[i]) == 0)
			return i;
	return -1;
}

const char *log_module_name(enum log_module mod)
{
	return (unsigned)mod < LOG_MOD_COUNT ? log_module_names[mod] : "?";
}

void log_enable_debug(enum log_module mod)
{
	if ((unsigned)mod < LOG_MOD_COUNT)
		log_debug_mask |= 1u << mod;
}

bool log_debug_enabled(enum log_module mod)
{
	return log_level >= LOG_LVL_DEBUG || (log_debug_mask & (1u << mod));
}

/* Syslog priorities used as journald prefixes. */
static int log_prio(enum log_level lvl)
{
	switch (lvl) {
	case LOG_LVL_ERR: return 3;
	case LOG_LVL_WARN: return 4;
	case LOG_LVL_INFO: return 6;
	default: return 7;
	}
}

static void log_vemit(enum log_level lvl, const char *tag, int errnum,
		      const char *fmt, va_list ap)
{
	char buf[2048];
	size_t n = 0;
	int r;

	if (log_journal)
		r = snprintf(buf, sizeof buf, "<%d>", log_prio(lvl));
	else
		r = snprintf(buf, sizeof buf, "%s: ", log_progname);
	if (r > 0)
		n = (size_t)r;
	if (tag && n < sizeof buf) {
		r = snprintf(buf + n, sizeof buf - n, "%s: ", tag);
		if (r > 0)
			n += (size_t)r;
	}
	if (n < sizeof buf) {
		r = vsnprintf(buf + n, sizeof buf - n, fmt, ap);
		if (r > 0)
			n += (size_t)r;
	}
	if (errnum && n < sizeof buf) {
		r = snprintf(buf + n, sizeof buf - n, ": %s", strerror(errnum));
		if (r > 0)
			n += (size_t)r;
	}
	if (n >= sizeof buf - 1)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, n);
	(void)w;
}

#define LOG_DEFINE(name, lvl, with_errno)                               \
	void name(const char *fmt, ...)                                 \
	{                                                               \
		int saved = errno;                                      \
		va_list ap;                                             \
		if (log_level < (lvl))                                  \
			return;                                         \
		va_start(ap, fmt);                                      \
		log_vemit((lvl), NULL, (with_errno) ? saved : 0, fmt, ap); \
		va_end(ap);                                             \
		errno = saved;                                          \
	}

LOG_DEFINE(log_err, LOG_LVL_ERR, 1)
LOG_DEFINE(log_errx, LOG_LVL_ERR, 0)
LOG_DEFINE(log_warn, LOG_LVL_WARN, 1)
LOG_DEFINE(log_warnx, LOG_LVL_WARN, 0)
LOG_DEFINE(log_info, LOG_LVL_INFO, 0)

void log_debug_mod(enum log_module mod, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_DEBUG, log_module_name(mod), 0, fmt, ap);
	va_end(ap);
	errno = saved;
}
