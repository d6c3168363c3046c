/* redfish_hook.c — the power hook commands of config redfish.hooks (a GPIO
 * relay on the power button, a smart plug's HTTP API, ipmitool to a real
 * BMC, ...).  Each runs as /bin/sh -c CMD in a process group of its own,
 * with stdin from /dev/null, stdout captured (power_state prints On or
 * Off), stderr to the daemon's, and at most timeout seconds before the
 * group is killed.
 *
 * The caller's thread waits (an API connection thread; rf->hook_lock keeps
 * one hook at a time).  The wait is a poll on the pipe, then a bounded
 * waitpid loop: every loop ends by the deadline.
 */
#include "redfish_int.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static long rf_ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(deadline->tv_sec - now.tv_sec) * 1000 +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

static int rf_spawn(const char *cmd, const char *reset_type, int outfd,
		    pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	char env_reset[64];
	char *envp[256];
	unsigned n = 0;
	int r;

	for (char **e = environ; *e && n < 254; e++)
		if (strncmp(*e, "NETSTICK_RESET_TYPE=", 20) != 0)
			envp[n++] = *e;
	if (reset_type) {
		snprintf(env_reset, sizeof env_reset, "NETSTICK_RESET_TYPE=%s",
			 reset_type);
		envp[n++] = env_reset;
	}
	envp[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outfd, 1);
	posix_spawnattr_init(&at);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
				 POSIX_SPAWN_SETSIGMASK);
	{
		sigset_t none;
		sigemptyset(&none);
		posix_spawnattr_setsigmask(&at, &none);
	}
	r = posix_spawn(pid, "/bin/sh", &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return r;
}

/* Reads the child's stdout until EOF or the deadline. */
static void rf_read_out(int fd, char *out, size_t outlen,
			const struct timespec *deadline)
{
	size_t n = 0;
	char sink[256];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left = rf_ms_left(deadline);
		ssize_t r;
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		if (out && n + 1 < outlen)
			r = read(fd, out + n, outlen - 1 - n);
		else
			r = read(fd, sink, sizeof sink);
		if (r <= 0)
			break;
		if (out && n + 1 < outlen)
			n += (size_t)r;
	}
	if (out && outlen)
		out[n] = '\0';
}

/* Waits for pid until the deadline; kills its group after it. */
static int rf_reap(pid_t pid, const struct timespec *deadline, bool *timed_out)
{
	int st = 0;

	*timed_out = false;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			return st;
		if (w < 0 && errno != EINTR)
			return -1;
		if (rf_ms_left(deadline) <= 0)
			break;
		usleep(10000);
	}
	*timed_out = true;
	kill(-pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

int rf_hook_run(const char *cmd, const char *reset_type, unsigned timeout_s,
		char *out, size_t outlen, char *err, size_t errlen)
{
	struct timespec deadline;
	int pfd[2], r, st;
	bool timed_out;
	pid_t pid;

	if (out && outlen)
		out[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_s;
	r = rf_spawn(cmd, reset_type, pfd[1], &pid);
	close(pfd[1]);
	if (r != 0) {
		close(pfd[0]);
		snprintf(err, errlen, "cannot run /bin/sh: %s", strerror(r));
		return -1;
	}
	rf_read_out(pfd[0], out, outlen, &deadline);
	close(pfd[0]);
	st = rf_reap(pid, &deadline, &timed_out);
	if (timed_out) {
		snprintf(err, errlen, "the hook did not finish within %u s "
			 "(redfish.hooks.timeout) and was killed", timeout_s);
		return -1;
	}
	if (st < 0 || !WIFEXITED(st)) {
		snprintf(err, errlen, "the hook was killed by signal %d",
			 st < 0 ? 0 : WTERMSIG(st));
		return -1;
	}
	if (WEXITSTATUS(st) != 0)
		snprintf(err, errlen, "the hook exited with status %d",
			 WEXITSTATUS(st));
	return WEXITSTATUS(st);
}
