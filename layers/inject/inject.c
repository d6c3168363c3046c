/* inject.c — the fault-injection layer: slow, stalling and failing media.
 *
 *   layers: ["inject:delay-ms=20,error-rate=0.01,seed=7"]
 *
 * For tests and demos of what a host does when the media misbehaves
 * (docs/layers.md lists the options):
 *
 *   delay-ms        added before every read
 *   write-delay-ms  added before every write
 *   open-delay-ms   added once, at open (media that takes 3 s to open)
 *   error-rate      fraction of reads and of writes that fail, with
 *                   BE_EIO_READ / BE_EIO_WRITE, without reaching next
 *   seed            which calls fail: the n-th read fails iff
 *                   hash(seed, n) < error-rate, so a run is repeatable
 *   stall-ms, stall-every   every stall-every-th read hangs stall-ms more
 *
 * It defines pread and pwrite, so zero-copy never bypasses it (backend.h,
 * "Pass-through"): on an injected LUN every read pays the delay.  Flush,
 * trim, ready, size and abilities pass through.
 *
 * Threads: PARALLEL.  The options are fixed at open; the call counters are
 * atomics, so concurrent calls each take a distinct index and the number
 * of failures over N calls does not depend on the interleaving.  Sleeps
 * hold no lock, so concurrent delayed reads overlap.
 */
#include "backend.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct inject_cfg {
	unsigned delay_ms, write_delay_ms, open_delay_ms;
	unsigned error_ppm;           /* error-rate in parts per million */
	unsigned seed;
	unsigned stall_ms, stall_every;
};

struct inject_layer {
	struct backend *next;
	struct inject_cfg cfg;
	atomic_uint_fast64_t reads, writes;   /* calls so far */
};

static const char *const inject_known_opts[] = {
	"delay-ms", "write-delay-ms", "open-delay-ms", "error-rate", "seed",
	"stall-ms", "stall-every", NULL,
};

/* Sleeps ms milliseconds, resuming after signals. */
static void inject_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (ms && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* splitmix64: a well-mixed hash of (seed, kind, n). */
static uint64_t inject_hash(unsigned seed, unsigned kind, uint64_t n)
{
	uint64_t z = ((uint64_t)seed << 32 | kind) * 0x9e3779b97f4a7c15ull + n;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Whether call n of this kind (0 reads, 1 writes) fails. */
static bool inject_fails(const struct inject_layer *il, unsigned kind,
			 uint64_t n)
{
	return il->cfg.error_ppm &&
	       inject_hash(il->cfg.seed, kind, n) % 1000000 < il->cfg.error_ppm;
}

static int inject_parse(struct inject_cfg *c, const struct backend_optset *s,
			char *err, size_t errlen)
{
	if (backend_opt_uint(s, "delay-ms", 0, 0, 60000, &c->delay_ms,
			     err, errlen) < 0 ||
	    backend_opt_uint(s, "write-delay-ms", 0, 0, 60000,
			     &c->write_delay_ms, err, errlen) < 0 ||
	    backend_opt_uint(s, "open-delay-ms", 0, 0, 60000,
			     &c->open_delay_ms, err, errlen) < 0 ||
	    backend_opt_ratio(s, "error-rate", 0, &c->error_ppm,
			      err, errlen) < 0 ||
	    backend_opt_uint(s, "seed", 1, 0, 0xffffffffu, &c->seed,
			     err, errlen) < 0 ||
	    backend_opt_uint(s, "stall-ms", 0, 0, 600000, &c->stall_ms,
			     err, errlen) < 0 ||
	    backend_opt_uint(s, "stall-every", 0, 0, 1000000000,
			     &c->stall_every, err, errlen) < 0)
		return BE_EOPEN;
	if (c->stall_ms && !c->stall_every) {
		snprintf(err, errlen, "option stall-ms needs stall-every");
		return BE_EOPEN;
	}
	return 0;
}

static int inject_open(struct backend *next,
		       const struct backend_open_opts *opts, void **handle,
		       char *err, size_t errlen)
{
	struct backend_optset set;
	struct inject_layer *il;
	int r;

	if (backend_optset_init(&set, "", opts, inject_known_opts, NULL,
				err, errlen) < 0)
		return BE_EOPEN;
	il = calloc(1, sizeof *il);
	if (!il) {
		backend_optset_free(&set);
		return BE_ENOMEM;
	}
	r = inject_parse(&il->cfg, &set, err, errlen);
	backend_optset_free(&set);
	if (r < 0) {
		free(il);
		return r;
	}
	il->next = next;
	atomic_init(&il->reads, 0);
	atomic_init(&il->writes, 0);
	inject_sleep_ms(il->cfg.open_delay_ms);
	*handle = il;
	return 0;
}

static void inject_close(void *handle)
{
	free(handle);
}

static int inject_pread(void *handle, void *buf, uint32_t count, uint64_t off)
{
	struct inject_layer *il = handle;
	uint64_t n = atomic_fetch_add(&il->reads, 1);

	inject_sleep_ms(il->cfg.delay_ms);
	if (il->cfg.stall_every && (n + 1) % il->cfg.stall_every == 0)
		inject_sleep_ms(il->cfg.stall_ms);
	if (inject_fails(il, 0, n))
		return BE_EIO_READ;
	return backend_pread(il->next, buf, count, off);
}

static int inject_pwrite(void *handle, const void *buf, uint32_t count,
			 uint64_t off, uint32_t flags)
{
	struct inject_layer *il = handle;
	uint64_t n = atomic_fetch_add(&il->writes, 1);

	inject_sleep_ms(il->cfg.write_delay_ms);
	if (inject_fails(il, 1, n))
		return BE_EIO_WRITE;
	return backend_pwrite(il->next, buf, count, off, flags);
}

const struct backend_ops layer_inject_ops = {
	.ops_size = sizeof(struct backend_ops),
	.name = "inject",
	.thread_model = BACKEND_PARALLEL,
	.open_layer = inject_open,
	.close = inject_close,
	.pread = inject_pread,
	.pwrite = inject_pwrite,
};
