/* api_token.c — the API's bearer token.
 *
 * From api.token, else from api.token_file.  A missing token file is
 * created on first start: 32 random bytes (OpenSSL RAND_bytes) as 64 hex
 * digits, written 0600 with O_EXCL into a directory made 0700 if needed.
 * A token file that others can read is used but warned about, and so is
 * an inline api.token in a config file others can read.  A token file
 * must be a regular file of one line, at most API_TOKEN_MAX characters:
 * anything else is refused at start (never cut, never waited on).
 *
 * Comparison hashes both sides with SHA-256 and compares the digests with
 * CRYPTO_memcmp: time depends on neither the token's bytes nor its length.
 * The token is never logged.
 */
#include "api_int.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define API_TOKEN_MIN 16   /* characters */

static int api_token_generate(const char *path, char *out, size_t outlen)
{
	unsigned char raw[32];
	char dir[1024], *slash;
	int fd;

	if (RAND_bytes(raw, sizeof raw) != 1 || outlen < 2 * sizeof raw + 1) {
		log_errx("api: cannot generate a token");
		return -1;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			log_err("api: %s", dir);
			return -1;
		}
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0 || write(fd, out, strlen(out)) != (ssize_t)strlen(out) ||
	    write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		log_err("api: cannot write the token to %s", path);
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return -1;
	}
	close(fd);
	log_info("api: generated a new token in %s", path);
	return 0;
}

/* The token file: a regular file (a FIFO or a device would hang or
 * feed us forever: opened O_NONBLOCK and refused), at most
 * API_TOKEN_MAX bytes plus a line ending (longer is refused, never cut).
 * -1 with errno; EINVAL for a file that is not a token file. */
static int api_token_read(const char *path, char *out, size_t outlen)
{
	char buf[API_TOKEN_MAX + 3];
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
		       O_NONBLOCK | O_NOCTTY)) < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		log_errx("api: %s is not a regular file", path);
		errno = EINVAL;
		return -1;
	}
	if (st.st_mode & 077)
		log_warnx("api: %s is readable by others (chmod 600 it)", path);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	if ((size_t)n > API_TOKEN_MAX || (size_t)n >= outlen ||
	    strpbrk(buf, "\r\n")) {
		log_errx("api: %s: the token must be one line of at most %d "
			 "characters", path, API_TOKEN_MAX);
		errno = EINVAL;
		return -1;
	}
	memcpy(out, buf, (size_t)n + 1);
	explicit_bzero(buf, sizeof buf);
	return 0;
}

/* An inline token in a config file others can read is everyone's. */
static void api_token_check_config(const char *config_path)
{
	struct stat st;

	if (config_path && stat(config_path, &st) == 0 && (st.st_mode & 044))
		log_warnx("api: api.token is inline in %s, which others can "
			  "read: use api.token_file (0600) or chmod 600 the "
			  "config", config_path);
}

int api_token_load(const struct config_api *cfg, const char *config_path,
		   char *out, size_t outlen)
{
	if (cfg->token) {
		if (strlen(cfg->token) > API_TOKEN_MAX) {
			log_errx("api: api.token is longer than %d characters",
				 API_TOKEN_MAX);
			return -1;
		}
		snprintf(out, outlen, "%s", cfg->token);
		api_token_check_config(config_path);
	} else if (api_token_read(cfg->token_file, out, outlen) < 0) {
		if (errno == EINVAL)
			return -1;
		if (errno != ENOENT) {
			log_err("api: %s", cfg->token_file);
			return -1;
		}
		if (api_token_generate(cfg->token_file, out, outlen) < 0)
			return -1;
	}
	if (strlen(out) < API_TOKEN_MIN ||
	    strspn(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		   "0123456789-_.~+/=") != strlen(out)) {
		log_errx("api: the token must be at least %d characters of "
			 "A-Z a-z 0-9 - _ . ~ + / =", API_TOKEN_MIN);
		return -1;
	}
	return 0;
}

bool api_token_ok(const char *token, const char *authorization)
{
	unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
	const char *given;

	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return false;
	given = authorization + 7;
	while (*given == ' ')
		given++;
	SHA256((const unsigned char *)token, strlen(token), want);
	SHA256((const unsigned char *)given, strlen(given), got);
	return CRYPTO_memcmp(want, got, sizeof want) == 0;
}
