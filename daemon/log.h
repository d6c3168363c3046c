/* log.h — one logging style for the whole daemon.
 *
 * log_warn/log_err append ": strerror(errno)"; the *x variants do not
 * (OpenBSD httpd convention).  log_debug(mod, ...) prints only when that
 * module's debug switch is on (config `log.debug` or `-d mod`).
 * In the foreground messages go to stderr; under systemd (JOURNAL_STREAM set)
 * they carry <N> priority prefixes that journald understands.
 *
 * Thread-safe: each message is formatted into one buffer and written with a
 * single write(2).
 */
#ifndef NS_LOG_H
#define NS_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Debug modules: one bit each. */
enum log_module {
	LOG_MOD_BOT = 0,
	LOG_MOD_SCSI,
	LOG_MOD_FFS,
	LOG_MOD_GADGET,
	LOG_MOD_LUN,
	LOG_MOD_BACKEND,
	LOG_MOD_CONFIG,
	LOG_MOD_COUNT
};

void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Returns -1 if name is not a module name. */
int log_module_from_name(const char *name);
const char *log_module_name(enum log_module mod);
void log_enable_debug(enum log_module mod);
bool log_debug_enabled(enum log_module mod);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug_mod(enum log_module mod, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(mod, ...)                                             \
	do {                                                            \
		if (log_debug_enabled(mod))                              \
			log_debug_mod(mod, __VA_ARGS__);                 \
	} while (0)

#endif
