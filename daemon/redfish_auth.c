/* redfish_auth.c — who may use the Redfish service: the users of config
 * redfish.users (crypt(3) hashes, checked by libcrypt), HTTP Basic, and
 * Redfish sessions (X-Auth-Token, DSP0266 "Session management").
 *
 * A session lives until it is deleted or has been idle for
 * redfish.session_timeout seconds; an expired token is a 401 like an
 * unknown one.  Tokens are 32 random bytes (OpenSSL RAND_bytes) in hex,
 * compared with CRYPTO_memcmp against every live session, so neither the
 * time of a lookup nor of a password check tells an attacker anything.
 */
#include "redfish_int.h"
#include "log.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RF_BASIC_MAX 512              /* decoded "user:password", bytes */

static time_t rf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static bool rf_hash_is(const char *password, const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof *cd);
	const char *h;
	bool ok = false;

	if (!cd)
		return false;
	h = crypt_r(password, hash, cd);
	if (h && h[0] != '*' && strlen(h) == strlen(hash))
		ok = CRYPTO_memcmp(h, hash, strlen(hash)) == 0;
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok;
}

bool rf_auth_password(const struct redfish *rf, const char *name,
		      const char *password)
{
	const struct config_redfish_user *u = NULL;
	bool ok;

	if (!name || !password || rf->rc->nusers == 0)
		return false;
	for (unsigned i = 0; i < rf->rc->nusers; i++)
		if (strcmp(rf->rc->users[i].name, name) == 0)
			u = &rf->rc->users[i];
	/* An unknown user costs one hash too (the first user's). */
	ok = rf_hash_is(password, (u ? u : &rf->rc->users[0])->password_hash);
	return u && ok;
}

bool rf_auth_basic(const struct redfish *rf, const char *authorization)
{
	unsigned char dec[RF_BASIC_MAX + 4];
	const char *b64;
	size_t len;
	int n;
	char *colon;
	bool ok;

	if (!authorization || strncasecmp(authorization, "Basic ", 6) != 0)
		return false;
	b64 = authorization + 6;
	b64 += strspn(b64, " ");
	len = strlen(b64);
	if (len == 0 || len % 4 || len / 4 * 3 > RF_BASIC_MAX)
		return false;
	if ((n = EVP_DecodeBlock(dec, (const unsigned char *)b64,
				 (int)len)) < 0)
		return false;
	n -= (b64[len - 1] == '=') + (len > 1 && b64[len - 2] == '=');
	dec[n] = '\0';
	if (memchr(dec, '\0', (size_t)n) ||
	    !(colon = strchr((char *)dec, ':')))
		return false;
	*colon = '\0';
	ok = rf_auth_password(rf, (char *)dec, colon + 1);
	explicit_bzero(dec, sizeof dec);
	return ok;
}

/* ---- sessions (under rf->lock) ---------------------------------------- */

static bool rf_session_live(const struct redfish *rf,
			    const struct rf_session *s, time_t now)
{
	return s->used && now - s->last <= (time_t)rf->rc->session_timeout;
}

static void rf_session_drop(struct rf_session *s)
{
	explicit_bzero(s, sizeof *s);
}

bool rf_auth_token(struct redfish *rf, const char *token)
{
	time_t now = rf_now();
	bool found = false;

	if (!token || strlen(token) != RF_TOKEN_HEX)
		return false;
	pthread_mutex_lock(&rf->lock);
	for (unsigned i = 0; i < RF_MAX_SESSIONS; i++) {
		struct rf_session *s = &rf->sessions[i];
		bool match = CRYPTO_memcmp(s->token, token, RF_TOKEN_HEX) == 0;
		if (!s->used)
			continue;
		if (!rf_session_live(rf, s, now)) {
			log_info("redfish: session %s of %s expired", s->id,
				 s->user);
			rf_session_drop(s);
		} else if (match) {
			s->last = now;
			found = true;
		}
	}
	pthread_mutex_unlock(&rf->lock);
	return found;
}

static int rf_hex_random(char *out, size_t nbytes)
{
	unsigned char raw[RF_TOKEN_HEX / 2];

	if (nbytes > sizeof raw || RAND_bytes(raw, (int)nbytes) != 1)
		return -1;
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof raw);
	return 0;
}

/* A free slot, an expired one reclaimed, or NULL. */
static struct rf_session *rf_session_slot(struct redfish *rf, time_t now)
{
	for (unsigned i = 0; i < RF_MAX_SESSIONS; i++)
		if (!rf_session_live(rf, &rf->sessions[i], now)) {
			rf_session_drop(&rf->sessions[i]);
			return &rf->sessions[i];
		}
	return NULL;
}

int rf_session_new(struct redfish *rf, const char *user,
		   struct rf_session *out)
{
	time_t now = rf_now();
	struct rf_session *s;
	int r = -1;

	pthread_mutex_lock(&rf->lock);
	if ((s = rf_session_slot(rf, now)) != NULL &&
	    rf_hex_random(s->token, RF_TOKEN_HEX / 2) == 0 &&
	    rf_hex_random(s->id, 8) == 0) {
		snprintf(s->user, sizeof s->user, "%s", user);
		s->last = now;
		s->used = true;
		*out = *s;
		r = 0;
	} else if (s) {
		rf_session_drop(s);
	}
	pthread_mutex_unlock(&rf->lock);
	if (r == 0)
		log_info("redfish: session %s opened for %s", out->id, user);
	return r;
}

/* The live session called id, or NULL (under the lock). */
static struct rf_session *rf_session_find(struct redfish *rf, const char *id)
{
	time_t now = rf_now();

	for (unsigned i = 0; i < RF_MAX_SESSIONS; i++)
		if (rf_session_live(rf, &rf->sessions[i], now) &&
		    strcmp(rf->sessions[i].id, id) == 0)
			return &rf->sessions[i];
	return NULL;
}

int rf_session_delete(struct redfish *rf, const char *id)
{
	struct rf_session *s;

	pthread_mutex_lock(&rf->lock);
	if ((s = rf_session_find(rf, id)) != NULL)
		rf_session_drop(s);
	pthread_mutex_unlock(&rf->lock);
	if (s)
		log_info("redfish: session %s closed", id);
	return s ? 0 : -1;
}

int rf_session_get(struct redfish *rf, const char *id, struct rf_session *out)
{
	struct rf_session *s;

	pthread_mutex_lock(&rf->lock);
	if ((s = rf_session_find(rf, id)) != NULL)
		*out = *s;
	pthread_mutex_unlock(&rf->lock);
	return s ? 1 : 0;
}

unsigned rf_session_ids(struct redfish *rf, char ids[][17], unsigned max)
{
	time_t now = rf_now();
	unsigned n = 0;

	pthread_mutex_lock(&rf->lock);
	for (unsigned i = 0; i < RF_MAX_SESSIONS && n < max; i++)
		if (rf_session_live(rf, &rf->sessions[i], now))
			memcpy(ids[n++], rf->sessions[i].id, 17);
	pthread_mutex_unlock(&rf->lock);
	return n;
}
