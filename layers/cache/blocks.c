/* blocks.c — the block cache's shards: hash tables of entries, the 2Q
 * lists, claims and installs, eviction (cache.h draws the states).
 *
 * Capacity is counted in data buffers: VALID + LOADING + DEAD entries of a
 * shard never exceed its `cap`.  A new claim reuses the shard's spare
 * buffer, or allocates one while under cap, or evicts: from A1in when it
 * holds more than kin (its victim leaves a ghost on A1out), else from Am's
 * LRU end.  Pinned entries are skipped; when every buffer is pinned or
 * loading the claim fails with CACHE_NOROOM and the caller reads around
 * the cache, so memory stays bounded whatever the load.
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#define CACHE_CHUNK (2u << 20)

static uint64_t cache_hash(uint64_t blk)
{
	blk ^= blk >> 33;
	blk *= 0xff51afd7ed558ccdull;
	blk ^= blk >> 33;
	blk *= 0xc4ceb9fe1a85ec53ull;
	return blk ^ (blk >> 33);
}

struct cache_shard *cache_shard_of(const struct cache *c, uint64_t blk)
{
	return &c->shards[cache_hash(blk) % c->nshards];
}

static size_t cache_bucket(const struct cache_shard *s, uint64_t blk)
{
	return (size_t)(cache_hash(blk) >> 17) & s->mask;
}

/* ---- lists -------------------------------------------------------------- */

static struct cache_list_head *cache_list_of(struct cache_shard *s,
					     unsigned list)
{
	switch (list) {
	case CL_A1IN: return &s->a1in;
	case CL_AM: return &s->am;
	case CL_A1OUT: return &s->a1out;
	default: return NULL;
	}
}

static void cache_list_del(struct cache_shard *s, struct cache_entry *e)
{
	struct cache_list_head *l = cache_list_of(s, e->list);

	if (!l)
		return;
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
	e->list = CL_NONE;
	l->n--;
}

static void cache_list_push(struct cache_shard *s, struct cache_entry *e,
			    unsigned list)
{
	struct cache_list_head *l = cache_list_of(s, list);

	e->list = (unsigned char)list;
	e->prev = NULL;
	e->next = l->head;
	if (l->head)
		l->head->prev = e;
	else
		l->tail = e;
	l->head = e;
	l->n++;
}

/* ---- hash --------------------------------------------------------------- */

static struct cache_entry *cache_find(struct cache_shard *s, uint64_t blk)
{
	struct cache_entry *e = s->table[cache_bucket(s, blk)];

	while (e && e->blk != blk)
		e = e->hnext;
	return e;
}

static void cache_unhash(struct cache_shard *s, struct cache_entry *e)
{
	struct cache_entry **pp = &s->table[cache_bucket(s, e->blk)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hnext = NULL;
}

static void cache_hash_add(struct cache_shard *s, struct cache_entry *e)
{
	size_t b = cache_bucket(s, e->blk);

	e->hnext = s->table[b];
	s->table[b] = e;
}

/* ---- buffers and eviction ----------------------------------------------- */

static size_t cache_used(const struct cache_shard *s)
{
	return s->a1in.n + s->am.n + s->loading + s->dead;
}

/* ---- the arena ----------------------------------------------------------- */

static unsigned char *cache_arena_get(struct cache_arena *a)
{
	unsigned char *buf = NULL;
	void *chunk;

	pthread_mutex_lock(&a->lock);
	if (a->free) {
		buf = a->free;
		memcpy(&a->free, buf, sizeof a->free);
	} else if (a->left >= a->bs) {
		buf = a->next;
		a->next += a->bs;
		a->left -= a->bs;
	} else if ((a->nchunks < a->chunks_cap ||
		    (a->chunks = realloc(a->chunks, (a->chunks_cap * 2 + 8) *
					 sizeof *a->chunks)) != NULL) &&
		   (chunk = aligned_alloc(CACHE_CHUNK, CACHE_CHUNK)) != NULL) {
		if (a->nchunks >= a->chunks_cap)
			a->chunks_cap = a->chunks_cap * 2 + 8;
		a->chunks[a->nchunks++] = chunk;
		buf = chunk;
		a->next = buf + a->bs;
		a->left = CACHE_CHUNK - a->bs;
	}
	pthread_mutex_unlock(&a->lock);
	return buf;
}

static void cache_arena_put(struct cache_arena *a, unsigned char *buf)
{
	pthread_mutex_lock(&a->lock);
	memcpy(buf, &a->free, sizeof a->free);
	a->free = buf;
	pthread_mutex_unlock(&a->lock);
}

/* Gives a data buffer back: kept as the shard's spare, or to the arena. */
static void cache_buf_put(struct cache_shard *s, unsigned char *buf)
{
	if (!s->spare)
		s->spare = buf;
	else
		cache_arena_put(s->arena, buf);
}

/* Drops the oldest ghosts beyond kout. */
static void cache_trim_ghosts(struct cache_shard *s)
{
	while (s->a1out.n > s->kout) {
		struct cache_entry *g = s->a1out.tail;

		cache_list_del(s, g);
		cache_unhash(s, g);
		free(g);
	}
}

/* The unpinned entry nearest the tail of l, or NULL. */
static struct cache_entry *cache_victim(struct cache_list_head *l)
{
	for (struct cache_entry *e = l->tail; e; e = e->prev)
		if (e->pins == 0)
			return e;
	return NULL;
}

/* Evicts one block to free its buffer; NULL when all are pinned. */
static unsigned char *cache_evict(struct cache *c, struct cache_shard *s)
{
	struct cache_entry *v = NULL;
	unsigned char *buf;

	if (s->a1in.n > s->kin || s->am.n == 0)
		v = cache_victim(&s->a1in);
	if (!v)
		v = cache_victim(&s->am);
	if (!v)
		v = cache_victim(&s->a1in);
	if (!v)
		return NULL;
	atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
	if (v->prefetched)
		atomic_fetch_add_explicit(&c->ra_wasted, 1,
					  memory_order_relaxed);
	buf = v->data;
	v->data = NULL;
	if (v->list == CL_A1IN) {
		cache_list_del(s, v);
		v->state = CE_GHOST;
		v->prefetched = false;
		cache_list_push(s, v, CL_A1OUT);
		cache_trim_ghosts(s);
	} else {
		cache_list_del(s, v);
		cache_unhash(s, v);
		free(v);
	}
	return buf;
}

static unsigned char *cache_buf_get(struct cache *c, struct cache_shard *s)
{
	unsigned char *buf;

	if (cache_used(s) < s->cap) {
		if ((buf = s->spare)) {
			s->spare = NULL;
			return buf;
		}
		return cache_arena_get(s->arena);
	}
	return cache_evict(c, s);
}

/* ---- claims --------------------------------------------------------------- */

/* Makes blk LOADING for the caller: from its ghost, or new.  NULL when no
 * buffer (or entry) can be had. */
static struct cache_entry *cache_claim(struct cache *c, struct cache_shard *s,
				       struct cache_entry *ghost, uint64_t blk)
{
	struct cache_entry *e = ghost;
	unsigned char *buf;

	/* Off A1out first, so the eviction below cannot trim it. */
	if (e)
		cache_list_del(s, e);
	if (!(buf = cache_buf_get(c, s))) {
		if (e)
			cache_list_push(s, e, CL_A1OUT);
		return NULL;
	}
	if (!e) {
		if (!(e = calloc(1, sizeof *e))) {
			cache_buf_put(s, buf);
			return NULL;
		}
		e->blk = blk;
		cache_hash_add(s, e);
	} else {
		e->to_am = true;
	}
	e->state = CE_LOADING;
	e->failed = false;
	e->data = buf;
	e->wgen = atomic_load(&c->wgen);
	s->loading++;
	return e;
}

/* Frees a DEAD entry once nobody holds it. */
static void cache_unpin_locked(struct cache_shard *s, struct cache_entry *e)
{
	if (--e->pins || e->state != CE_DEAD)
		return;
	if (e->data) {
		s->dead--;
		cache_buf_put(s, e->data);
	}
	free(e);
}

/* A reference to VALID e: pins it and moves it as 2Q says. */
static void cache_hit_locked(struct cache *c, struct cache_shard *s,
			     struct cache_entry *e)
{
	e->pins++;
	if (e->prefetched) {
		/* Its first real reference: correlated from now. */
		e->prefetched = false;
		e->ins = s->ins;
		atomic_fetch_add_explicit(&c->ra_hits, 1, memory_order_relaxed);
	}
	if (e->list == CL_AM || s->ins - e->ins > s->kin / 2) {
		/* LRU: to Am's head */
		cache_list_del(s, e);
		cache_list_push(s, e, CL_AM);
	}
}

bool cache_peek(struct cache *c, uint64_t blk, struct cache_entry **ep)
{
	struct cache_shard *s = cache_shard_of(c, blk);
	struct cache_entry *e;
	bool hit;

	pthread_mutex_lock(&s->lock);
	e = cache_find(s, blk);
	hit = e && e->state == CE_VALID;
	if (hit) {
		cache_hit_locked(c, s, e);
		*ep = e;
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

enum cache_get_result cache_get(struct cache *c, uint64_t blk, bool wait,
				struct cache_entry **ep)
{
	struct cache_shard *s = cache_shard_of(c, blk);
	enum cache_get_result r;
	struct cache_entry *e;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		e = cache_find(s, blk);
		if (!e || e->state != CE_LOADING)
			break;
		if (!wait) {
			pthread_mutex_unlock(&s->lock);
			return CACHE_BUSY;
		}
		atomic_fetch_add_explicit(&c->waits, 1, memory_order_relaxed);
		/* Pinned, so it cannot be freed while we sleep. */
		e->pins++;
		while (e->state == CE_LOADING)
			pthread_cond_wait(&s->loaded, &s->lock);
		cache_unpin_locked(s, e);
	}
	if (e && e->state == CE_VALID) {
		cache_hit_locked(c, s, e);
		*ep = e;
		r = CACHE_HIT;
	} else if ((*ep = cache_claim(c, s, e, blk))) {
		r = CACHE_CLAIMED;
	} else {
		r = CACHE_NOROOM;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

void cache_unpin(struct cache *c, struct cache_entry *e)
{
	struct cache_shard *s = cache_shard_of(c, e->blk);

	pthread_mutex_lock(&s->lock);
	cache_unpin_locked(s, e);
	pthread_mutex_unlock(&s->lock);
}

/* Whether a write started or ran while e was loading: its data may then
 * predate the write, and must not be kept. */
static bool cache_load_stale(struct cache *c, const struct cache_entry *e)
{
	return atomic_load(&c->writes_inflight) != 0 ||
	       atomic_load(&c->wgen) != e->wgen;
}

void cache_install(struct cache *c, struct cache_entry *e, bool ok,
		   bool prefetched)
{
	struct cache_shard *s = cache_shard_of(c, e->blk);

	pthread_mutex_lock(&s->lock);
	s->loading--;
	if (ok && !cache_load_stale(c, e)) {
		e->state = CE_VALID;
		e->prefetched = prefetched;
		e->ins = s->ins++;
		cache_list_push(s, e, e->to_am ? CL_AM : CL_A1IN);
		e->to_am = false;
	} else {
		cache_unhash(s, e);
		cache_buf_put(s, e->data);
		e->data = NULL;
		e->failed = true;
		e->to_am = false;
		/* Waiters hold pins: the last of them frees it. */
		e->state = CE_DEAD;
		if (e->pins == 0)
			free(e);
	}
	pthread_cond_broadcast(&s->loaded);
	pthread_mutex_unlock(&s->lock);
}

/* ---- writes --------------------------------------------------------------- */

/* Drops a VALID entry: freed now, or DEAD until its last pin goes. */
static void cache_drop(struct cache_shard *s, struct cache_entry *e)
{
	cache_list_del(s, e);
	cache_unhash(s, e);
	if (e->pins) {
		e->state = CE_DEAD;
		s->dead++;
		return;
	}
	cache_buf_put(s, e->data);
	free(e);
}

/* Copies the part of [off, off+count) that falls in e's block. */
static void cache_patch(struct cache *c, struct cache_entry *e,
			const void *data, uint64_t off, uint32_t count)
{
	uint64_t start = e->blk << c->bs_shift;
	uint64_t end = start + cache_blk_len(c, e->blk);
	uint64_t lo = off > start ? off : start;
	uint64_t hi = off + count < end ? off + count : end;

	memcpy(e->data + (lo - start), (const unsigned char *)data + (lo - off),
	       (size_t)(hi - lo));
}

void cache_written(struct cache *c, uint64_t first, uint64_t last,
		   const void *data, uint64_t off, uint32_t count, bool update)
{
	for (uint64_t b = first; b <= last; b++) {
		struct cache_shard *s = cache_shard_of(c, b);
		struct cache_entry *e;

		pthread_mutex_lock(&s->lock);
		e = cache_find(s, b);
		if (e && e->state == CE_VALID) {
			if (update && e->pins == 0)
				cache_patch(c, e, data, off, count);
			else
				cache_drop(s, e);
		}
		pthread_mutex_unlock(&s->lock);
	}
}

uint64_t cache_bytes(struct cache *c, uint64_t *ghosts)
{
	uint64_t blocks = 0, g = 0;

	for (unsigned i = 0; i < c->nshards; i++) {
		struct cache_shard *s = &c->shards[i];

		pthread_mutex_lock(&s->lock);
		blocks += cache_used(s);
		g += s->a1out.n;
		pthread_mutex_unlock(&s->lock);
	}
	if (ghosts)
		*ghosts = g;
	return blocks << c->bs_shift;
}

/* ---- setup ---------------------------------------------------------------- */

static int cache_shard_init(struct cache_shard *s, size_t cap)
{
	size_t buckets = 16;

	/* Entries with data plus ghosts: about 1.5 x cap. */
	while (buckets < cap + cap / 2)
		buckets <<= 1;
	memset(s, 0, sizeof *s);
	if (!(s->table = calloc(buckets, sizeof *s->table)))
		return BE_ENOMEM;
	s->mask = buckets - 1;
	s->cap = cap;
	s->kin = cap / 4 ? cap / 4 : 1;
	s->kout = cap / 2 ? cap / 2 : 1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->loaded, NULL);
	return 0;
}

static void cache_shard_fini(struct cache_shard *s)
{
	for (size_t b = 0; b <= s->mask; b++) {
		struct cache_entry *e = s->table[b], *n;

		for (; e; e = n) {
			n = e->hnext;
			free(e);   /* data: the arena's */
		}
	}
	free(s->table);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->loaded);
}

static void cache_arena_fini(struct cache_arena *a)
{
	for (size_t i = 0; i < a->nchunks; i++)
		free(a->chunks[i]);
	free(a->chunks);
	pthread_mutex_destroy(&a->lock);
}

int cache_blocks_init(struct cache *c, size_t cap_blocks)
{
	/* At least 64 blocks a shard, so 2Q's lists have room to work. */
	c->nshards = 16;
	while (c->nshards > 1 && cap_blocks / c->nshards < 64)
		c->nshards /= 2;
	c->shards = aligned_alloc(64, sizeof *c->shards * c->nshards);
	if (!c->shards)
		return BE_ENOMEM;
	c->arena = (struct cache_arena){ .bs = c->bs };
	pthread_mutex_init(&c->arena.lock, NULL);
	for (unsigned i = 0; i < c->nshards; i++) {
		size_t cap = cap_blocks / c->nshards +
			     (i < cap_blocks % c->nshards);
		if (cache_shard_init(&c->shards[i], cap) < 0) {
			while (i--)
				cache_shard_fini(&c->shards[i]);
			free(c->shards);
			cache_arena_fini(&c->arena);
			return BE_ENOMEM;
		}
		c->shards[i].arena = &c->arena;
	}
	return 0;
}

void cache_blocks_fini(struct cache *c)
{
	for (unsigned i = 0; i < c->nshards; i++)
		cache_shard_fini(&c->shards[i]);
	free(c->shards);
	cache_arena_fini(&c->arena);
}
