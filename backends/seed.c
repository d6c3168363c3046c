/* seed.c — the seed backend ("seed:sha256-HEX"): serves a volume that
 * seed_iso_build() made, from the store below (seed.h).
 *
 * A seed source names bytes in this process's memory, never a file or a
 * server: a client cannot type one (the API's source policy refuses the
 * scheme); the media service builds the volume, stores it and inserts
 * its source.  Read-only, mapped (zero-copy reads: the USB thread serves
 * it in place, as RAM).
 *
 * The store: a short list of volumes, each with a count of holds (the
 * putter's, one per slot that keeps it, one per open instance).  The last
 * hold frees it.
 *
 *   put ──▶ [hold: caller] ──keep(slot)──▶ [caller, slot] ──drop──▶ [slot]
 *   open ──▶ [slot, instance]   eject: keep(slot, NULL) ──▶ [instance]
 *   close ──▶ []  freed
 *
 * Threads: PARALLEL; the volume's bytes never change after put, and every
 * store call takes seed_store_lock (never held across anything else).
 */
#include "backend.h"
#include "seed.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seed_volume {
	struct seed_volume *next;
	unsigned holds;
	unsigned char *data;
	size_t len;
	char id[SEED_ID_HEX + 1];
};

static pthread_mutex_t seed_store_lock = PTHREAD_MUTEX_INITIALIZER;
static struct seed_volume *seed_store_list;
static struct seed_volume *seed_store_slot[SEED_STORE_SLOTS];

static int seed_digest(const unsigned char *data, size_t len,
		       char hex[SEED_ID_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen * 2 != SEED_ID_HEX)
		return -1;
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static struct seed_volume *seed_store_find_locked(const char *id)
{
	for (struct seed_volume *v = seed_store_list; v; v = v->next)
		if (strcmp(v->id, id) == 0)
			return v;
	return NULL;
}

/* Drops one hold; the last unlinks and frees.  Lock held. */
static void seed_store_unhold_locked(struct seed_volume *v)
{
	struct seed_volume **pp;

	if (!v || --v->holds > 0)
		return;
	for (pp = &seed_store_list; *pp; pp = &(*pp)->next)
		if (*pp == v) {
			*pp = v->next;
			break;
		}
	free(v->data);
	free(v);
}

struct seed_volume *seed_store_put(unsigned char *data, size_t len,
				   char *source, size_t srclen)
{
	char id[SEED_ID_HEX + 1];
	struct seed_volume *v;

	if (seed_digest(data, len, id) < 0) {
		free(data);
		return NULL;
	}
	pthread_mutex_lock(&seed_store_lock);
	if ((v = seed_store_find_locked(id)) != NULL) {
		free(data);
	} else if ((v = calloc(1, sizeof *v)) != NULL) {
		v->data = data;
		v->len = len;
		memcpy(v->id, id, sizeof id);
		v->next = seed_store_list;
		seed_store_list = v;
	} else {
		free(data);
	}
	if (v)
		v->holds++;
	pthread_mutex_unlock(&seed_store_lock);
	if (v)
		snprintf(source, srclen, "%s%s", SEED_SOURCE_PREFIX, id);
	return v;
}

void seed_store_drop(struct seed_volume *v)
{
	pthread_mutex_lock(&seed_store_lock);
	seed_store_unhold_locked(v);
	pthread_mutex_unlock(&seed_store_lock);
}

void seed_store_keep(unsigned slot, struct seed_volume *v)
{
	struct seed_volume *old;

	if (slot >= SEED_STORE_SLOTS)
		return;
	pthread_mutex_lock(&seed_store_lock);
	old = seed_store_slot[slot];
	if (v)
		v->holds++;
	seed_store_slot[slot] = v;
	seed_store_unhold_locked(old);
	pthread_mutex_unlock(&seed_store_lock);
}

void seed_store_stats(unsigned *count, size_t *bytes)
{
	*count = 0;
	*bytes = 0;
	pthread_mutex_lock(&seed_store_lock);
	for (struct seed_volume *v = seed_store_list; v; v = v->next) {
		(*count)++;
		*bytes += v->len;
	}
	pthread_mutex_unlock(&seed_store_lock);
}

void seed_store_clear(void)
{
	for (unsigned i = 0; i < SEED_STORE_SLOTS; i++)
		seed_store_keep(i, NULL);
}

/* ---- the backend ------------------------------------------------------- */

static int seed_open(const char *source, const struct backend_open_opts *o,
		     void **handle, char *err, size_t errlen)
{
	const char *id = source + strlen(SEED_SOURCE_PREFIX);
	struct seed_volume *v = NULL;

	(void)o;
	if (strncmp(source, SEED_SOURCE_PREFIX, strlen(SEED_SOURCE_PREFIX))
	    == 0 && strlen(id) == SEED_ID_HEX) {
		pthread_mutex_lock(&seed_store_lock);
		if ((v = seed_store_find_locked(id)) != NULL)
			v->holds++;
		pthread_mutex_unlock(&seed_store_lock);
	}
	if (!v) {
		snprintf(err, errlen, "seed: no such volume (seeds are built "
			 "by PUT /api/v1/luns/{id}/media with \"seed\")");
		return BE_EOPEN;
	}
	*handle = v;
	return 0;
}

static void seed_close(void *handle)
{
	seed_store_drop(handle);
}

static int64_t seed_get_size(void *handle)
{
	return (int64_t)((struct seed_volume *)handle)->len;
}

static int seed_pread(void *handle, void *buf, uint32_t count, uint64_t off)
{
	memcpy(buf, ((struct seed_volume *)handle)->data + off, count);
	return 0;
}

static const void *seed_map(void *handle, uint32_t count, uint64_t off)
{
	(void)count;
	return ((struct seed_volume *)handle)->data + off;
}

static const char *const seed_schemes[] = { "seed", NULL };

const struct backend_ops backend_seed_ops = {
	.ops_size = sizeof(struct backend_ops),
	.name = "seed",
	.schemes = seed_schemes,
	.thread_model = BACKEND_PARALLEL,
	.open = seed_open,
	.close = seed_close,
	.get_size = seed_get_size,
	.pread = seed_pread,
	.map = seed_map,
};
