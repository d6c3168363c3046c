/* api_token.c — the API's bearer token.
 *
 * From api.token, else from api.token_file.  A missing token file is
 * created on first start: 32 random bytes (OpenSSL RAND_bytes) as 64 hex
 * digits, written 0600 with O_EXCL into a directory made 0700 if needed.
 * A token file that others can read is used but warned about.
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

static int api_token_read(const char *path, char *out, size_t outlen)
{
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -1;
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		log_warnx("api: %s is readable by others (chmod 600 it)", path);
	n = read(fd, out, outlen - 1);
	close(fd);
	if (n < 0)
		return -1;
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

int api_token_load(const struct config_api *cfg, char *out, size_t outlen)
{
	if (cfg->token) {
		snprintf(out, outlen, "%s", cfg->token);
	} else if (api_token_read(cfg->token_file, out, outlen) < 0) {
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
