/* test-layers.c — the layer stack (backends/backend.c, layer-spec.c,
 * layers/): pass-through of every op a layer leaves undefined, zero-copy
 * blocked by layers that see data, chains built from specs, bad specs,
 * closing the top, the thread model the core enforces (SERIALIZE calls
 * never overlap, PARALLEL ones do), and the inject layer. */
#include "backend.h"
#include "log.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char err[512];
static const struct backend_open_opts opts512 = { .block_size = 512 };

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- "rec": defines every op, counts each call, forwards ------------- */

enum { REC_PREAD, REC_PWRITE, REC_FLUSH, REC_TRIM, REC_READY, REC_MIF,
       REC_MAP, REC_MAPW, REC_N };

struct rec {
	struct backend *next;
	unsigned calls[REC_N];
};

static unsigned closes;

static int rec_open(struct backend *next, const struct backend_open_opts *o,
		    void **h, char *e, size_t el)
{
	struct rec *r = calloc(1, sizeof *r);

	(void)o; (void)e; (void)el;
	r->next = next;
	*h = r;
	return 0;
}
static void rec_close(void *h) { closes++; free(h); }
static int rec_yes(void *h) { (void)h; return 1; }
static int rec_pread(void *h, void *b, uint32_t c, uint64_t o)
{
	struct rec *r = h;
	r->calls[REC_PREAD]++;
	return backend_pread(r->next, b, c, o);
}
static int rec_pwrite(void *h, const void *b, uint32_t c, uint64_t o,
		      uint32_t f)
{
	struct rec *r = h;
	r->calls[REC_PWRITE]++;
	return backend_pwrite(r->next, b, c, o, f);
}
static int rec_flush(void *h, uint32_t f)
{
	(void)f;
	((struct rec *)h)->calls[REC_FLUSH]++;
	return 0;
}
static int rec_trim(void *h, uint32_t c, uint64_t o, uint32_t f)
{
	(void)c; (void)o; (void)f;
	((struct rec *)h)->calls[REC_TRIM]++;
	return 0;
}
static int rec_ready(void *h)
{
	((struct rec *)h)->calls[REC_READY]++;
	return BE_ERETRY;
}
static unsigned rec_mif(void *h)
{
	((struct rec *)h)->calls[REC_MIF]++;
	return 7;
}
static const void *rec_map(void *h, uint32_t c, uint64_t o)
{
	struct rec *r = h;
	r->calls[REC_MAP]++;
	return backend_map(r->next, c, o);
}
static void *rec_map_write(void *h, uint32_t c, uint64_t o)
{
	struct rec *r = h;
	r->calls[REC_MAPW]++;
	return backend_map_write(r->next, c, o);
}

static const struct backend_ops rec_ops = {
	.ops_size = sizeof(struct backend_ops), .name = "rec",
	.thread_model = BACKEND_PARALLEL,
	.open_layer = rec_open, .close = rec_close,
	.can_write = rec_yes, .can_flush = rec_yes, .can_fua = rec_yes,
	.can_trim = rec_yes,
	.pread = rec_pread, .pwrite = rec_pwrite, .flush = rec_flush,
	.trim = rec_trim, .ready = rec_ready, .max_in_flight = rec_mif,
	.map = rec_map, .map_write = rec_map_write,
};

/* ---- "null": defines nothing but open and close ---------------------- */

static int null_open(struct backend *next, const struct backend_open_opts *o,
		     void **h, char *e, size_t el)
{
	(void)o; (void)e; (void)el;
	*h = next;
	return 0;
}
static void null_close(void *h) { (void)h; closes++; }

static const struct backend_ops null_ops = {
	.ops_size = sizeof(struct backend_ops), .name = "null",
	.thread_model = BACKEND_PARALLEL,
	.open_layer = null_open, .close = null_close,
};

/* The same with an ops_size from before layers: open_layer is past it. */
static const struct backend_ops old_ops = {
	.ops_size = offsetof(struct backend_ops, open_layer), .name = "old",
	.thread_model = BACKEND_PARALLEL,
	.open_layer = null_open, .close = null_close,
};

static struct backend *mem(void)
{
	struct backend *be = backend_open("memory:1M", &opts512, err, sizeof err);

	if (!be)
		abort();
	return be;
}

static struct backend *over(const struct backend_ops *ops, struct backend *n)
{
	struct backend *be = backend_open_layer(ops, n, NULL, &opts512, err,
						sizeof err);
	if (!be)
		abort();
	return be;
}

TEST(no_layers_opens_backend_alone)
{
	struct backend *be = mem();

	CHECK(be->next == NULL);
	CHECK(be->thread_model == BACKEND_PARALLEL);
	CHECK(backend_map(be, 512, 0) != NULL);
	backend_close(be);
}

TEST(undefined_ops_pass_through_to_next)
{
	struct backend *m = mem(), *r = over(&rec_ops, m), *top = over(&null_ops, r);
	struct rec *rc = r->handle;
	char buf[512] = { 1 };

	CHECK_EQ(top->size, 1 << 20);
	CHECK(!top->readonly && top->can_flush && top->can_fua && top->can_trim);
	CHECK_EQ(backend_pwrite(top, buf, 512, 0, BACKEND_FUA), 0);
	CHECK_EQ(backend_pread(top, buf, 512, 0), 0);
	CHECK_EQ(backend_flush(top), 0);
	CHECK_EQ(backend_trim(top, 512, 512), 0);
	CHECK_EQ(backend_ready(top), BE_ERETRY);
	CHECK_EQ(backend_max_in_flight(top), 7);
	CHECK(backend_map(top, 512, 0) != NULL);
	CHECK(backend_map_write(top, 512, 0) != NULL);
	for (int i = 0; i < REC_N; i++)
		CHECK_EQ(rc->calls[i], 1);
	backend_close(top);
}

TEST(layer_abilities_default_to_next)
{
	struct backend *top = over(&null_ops, mem());

	/* memory: writable, no flush, no FUA, no trim. */
	CHECK(!top->readonly && !top->can_flush && !top->can_fua &&
	      !top->can_trim);
	CHECK_EQ(backend_trim(top, 512, 0), BE_EUNSUPP);
	CHECK_EQ(backend_ready(top), 0);
	CHECK_EQ(backend_max_in_flight(top), 1);
	backend_close(top);
}

TEST(readonly_open_makes_every_layer_readonly)
{
	struct backend_open_opts o = { .block_size = 512, .readonly = true };
	const char *const layers[] = { "inject", NULL };
	struct backend *be;
	char buf[512] = { 0 };

	o.layers = layers;
	be = backend_open("memory:1M", &o, err, sizeof err);
	CHECK(be && be->readonly && be->next->readonly);
	CHECK_EQ(backend_pwrite(be, buf, 512, 0, 0), BE_EROFS);
	backend_close(be);
}

TEST(layer_that_sees_data_blocks_zero_copy)
{
	struct backend *m = mem();
	struct backend *top = backend_open_layer(&layer_inject_ops, m, NULL,
						 &opts512, err, sizeof err);

	CHECK(top != NULL);
	CHECK(backend_map(m, 512, 0) != NULL);
	CHECK(backend_map(top, 512, 0) == NULL);
	CHECK(backend_map_write(top, 512, 0) == NULL);
	backend_close(top);
}

TEST(layer_past_old_ops_size_is_not_a_layer)
{
	struct backend *m = mem();

	CHECK(backend_open_layer(&old_ops, m, NULL, &opts512, err,
				 sizeof err) == NULL);
	CHECK(strstr(err, "not a layer") != NULL);
	backend_close(m);
}

TEST(closing_top_closes_whole_chain)
{
	struct backend *top = over(&null_ops, over(&rec_ops, over(&null_ops, mem())));

	closes = 0;
	backend_close(top);
	CHECK_EQ(closes, 3);
}

TEST(chain_built_from_specs_bottom_first)
{
	const char *const layers[] = { "inject:seed=3", "inject:delay-ms=0,seed=4",
				       NULL };
	struct backend_open_opts o = { .block_size = 512, .layers = layers };
	struct backend *be = backend_open("memory:1M", &o, err, sizeof err);

	CHECK(be != NULL);
	if (!be)
		return;
	CHECK(be->ops == &layer_inject_ops);
	CHECK(be->next->ops == &layer_inject_ops);
	CHECK(be->next->next->ops == &backend_example_ops);
	CHECK(be->next->next->next == NULL);
	CHECK_EQ(be->size, 1 << 20);
	backend_close(be);
}

/* Opens memory:1M with one layer spec; returns the error message, or
 * NULL when the open worked. */
static const char *spec_error(const char *spec)
{
	const char *const layers[] = { spec, NULL };
	struct backend_open_opts o = { .block_size = 512, .layers = layers };
	struct backend *be = backend_open("memory:1M", &o, err, sizeof err);

	if (be) {
		backend_close(be);
		return NULL;
	}
	return err;
}

#define CHECK_SPEC_ERR(spec, text)                                           \
	do {                                                                 \
		const char *_e = spec_error(spec);                           \
		CHECK(_e != NULL && strstr(_e, text) != NULL);               \
		if (_e && !strstr(_e, text))                                 \
			fprintf(stderr, "  got: %s\n", _e);                  \
	} while (0)

TEST(bad_specs_give_clear_errors)
{
	CHECK_SPEC_ERR("nosuch", "unknown layer \"nosuch\"");
	CHECK_SPEC_ERR("", "expected a layer name");
	CHECK_SPEC_ERR("Inject", "expected a layer name");
	CHECK_SPEC_ERR("inject:", "layer inject: nothing after ':'");
	CHECK_SPEC_ERR("inject:delay-ms", "layer inject: option 1: expected key=value");
	CHECK_SPEC_ERR("inject:seed=1,,", "option 2: expected key=value");
	CHECK_SPEC_ERR("inject:=5", "expected key=value");
	CHECK_SPEC_ERR("inject:bogus=1", "layer inject: unknown option \"bogus\"");
	CHECK_SPEC_ERR("inject:delay-ms=60001", "option delay-ms: must be a number in 0..60000");
	CHECK_SPEC_ERR("inject:error-rate=1.5", "option error-rate: must be a fraction");
	CHECK_SPEC_ERR("inject:error-rate=-0.1", "option error-rate");
	CHECK_SPEC_ERR("inject:error-rate=0.0000001", "at most 6 decimals");
	CHECK_SPEC_ERR("inject:stall-ms=5", "stall-ms needs stall-every");
	CHECK(spec_error("inject:error-rate=0.000001") == NULL);
	CHECK(spec_error("inject:error-rate=1.000") == NULL);
}

TEST(bad_spec_in_the_middle_closes_what_was_opened)
{
	const char *const layers[] = { "inject", "nosuch", NULL };
	struct backend_open_opts o = { .block_size = 512, .layers = layers };

	/* ASan/valgrind would see a leak of memory:1M or the first layer. */
	CHECK(backend_open("memory:1M", &o, err, sizeof err) == NULL);
	CHECK(strstr(err, "unknown layer") != NULL);
}

/* ---- thread model: a layer that measures overlapping calls ------------ */

struct cnt {
	struct backend *next;
	atomic_int inside, most;
};

static int cnt_open(struct backend *next, const struct backend_open_opts *o,
		    void **h, char *e, size_t el)
{
	struct cnt *c = calloc(1, sizeof *c);

	(void)o; (void)e; (void)el;
	c->next = next;
	*h = c;
	return 0;
}
static void cnt_close(void *h) { free(h); }
static int cnt_pread(void *h, void *b, uint32_t n, uint64_t o)
{
	struct cnt *c = h;
	int in = atomic_fetch_add(&c->inside, 1) + 1, most;

	while (in > (most = atomic_load(&c->most)) &&
	       !atomic_compare_exchange_weak(&c->most, &most, in))
		;
	usleep(2000);
	int r = backend_pread(c->next, b, n, o);
	atomic_fetch_sub(&c->inside, 1);
	return r;
}

static const struct backend_ops cnt_serial_ops = {
	.ops_size = sizeof(struct backend_ops), .name = "cnt-serial",
	.thread_model = BACKEND_SERIALIZE_REQUESTS,
	.open_layer = cnt_open, .close = cnt_close, .pread = cnt_pread,
};
static const struct backend_ops cnt_parallel_ops = {
	.ops_size = sizeof(struct backend_ops), .name = "cnt-parallel",
	.thread_model = BACKEND_PARALLEL,
	.open_layer = cnt_open, .close = cnt_close, .pread = cnt_pread,
};

#define NTHREADS 4
static pthread_barrier_t start;

static void *reader(void *arg)
{
	struct backend *be = arg;
	char buf[512];

	pthread_barrier_wait(&start);
	for (int i = 0; i < 20; i++)
		if (backend_pread(be, buf, 512, (uint64_t)i * 512) != 0)
			abort();
	return NULL;
}

static void read_from_threads(struct backend *be)
{
	pthread_t t[NTHREADS];

	pthread_barrier_init(&start, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, reader, be);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
}

TEST(serialize_calls_never_overlap)
{
	struct backend *be = over(&cnt_serial_ops, mem());

	CHECK(be->thread_model == BACKEND_SERIALIZE_REQUESTS);
	read_from_threads(be);
	CHECK_EQ(atomic_load(&((struct cnt *)be->handle)->most), 1);
	backend_close(be);
}

TEST(parallel_calls_overlap)
{
	struct backend *be = over(&cnt_parallel_ops, mem());

	CHECK(be->thread_model == BACKEND_PARALLEL);
	read_from_threads(be);
	CHECK(atomic_load(&((struct cnt *)be->handle)->most) >= 2);
	backend_close(be);
}

TEST(parallel_layer_over_serialize_overlaps_only_above)
{
	struct backend *low = over(&cnt_serial_ops, mem());
	struct backend *top = over(&cnt_parallel_ops, low);

	/* Effective model: the stricter one below. */
	CHECK(top->thread_model == BACKEND_SERIALIZE_REQUESTS);
	read_from_threads(top);
	CHECK(atomic_load(&((struct cnt *)top->handle)->most) >= 2);
	CHECK_EQ(atomic_load(&((struct cnt *)low->handle)->most), 1);
	backend_close(top);
}

/* ---- the inject layer ------------------------------------------------ */

static struct backend *inject(const char *spec)
{
	const char *const layers[] = { spec, NULL };
	struct backend_open_opts o = { .block_size = 512, .layers = layers };
	struct backend *be = backend_open("memory:1M", &o, err, sizeof err);

	if (!be) {
		fprintf(stderr, "  %s: %s\n", spec, err);
		abort();
	}
	return be;
}

static unsigned failed_reads(const char *spec, unsigned n)
{
	struct backend *be = inject(spec);
	char buf[512];
	unsigned bad = 0;

	for (unsigned i = 0; i < n; i++) {
		int r = backend_pread(be, buf, 512, 0);
		if (r == BE_EIO_READ)
			bad++;
		else if (r != 0)
			abort();
	}
	backend_close(be);
	return bad;
}

TEST(inject_passes_data_through)
{
	struct backend *be = inject("inject");
	char in[1024], out[1024];

	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (char)(i * 7);
	CHECK_EQ(backend_pwrite(be, in, 1024, 4096, 0), 0);
	CHECK_EQ(backend_pread(be, out, 1024, 4096), 0);
	CHECK(memcmp(in, out, sizeof in) == 0);
	CHECK(be->thread_model == BACKEND_PARALLEL);
	backend_close(be);
}

TEST(inject_error_rate_is_near_the_rate_and_repeatable)
{
	unsigned a = failed_reads("inject:error-rate=0.25,seed=7", 2000);
	unsigned b = failed_reads("inject:error-rate=0.25,seed=7", 2000);

	CHECK(a > 400 && a < 600);
	CHECK_EQ(a, b);
	CHECK_EQ(failed_reads("inject:error-rate=0", 200), 0);
	CHECK_EQ(failed_reads("inject:error-rate=1", 200), 200);
}

TEST(inject_write_errors_are_write_errors)
{
	struct backend *be = inject("inject:error-rate=1");
	char buf[512] = { 0 };

	CHECK_EQ(backend_pwrite(be, buf, 512, 0, 0), BE_EIO_WRITE);
	CHECK_EQ(backend_pread(be, buf, 512, 0), BE_EIO_READ);
	backend_close(be);
}

TEST(inject_delays_reads_writes_and_open)
{
	long long t0 = now_ms();
	struct backend *be = inject("inject:open-delay-ms=60,delay-ms=30,write-delay-ms=40");
	char buf[512] = { 0 };

	CHECK(now_ms() - t0 >= 60);
	t0 = now_ms();
	CHECK_EQ(backend_pread(be, buf, 512, 0), 0);
	CHECK(now_ms() - t0 >= 30);
	t0 = now_ms();
	CHECK_EQ(backend_pwrite(be, buf, 512, 0, 0), 0);
	CHECK(now_ms() - t0 >= 40);
	backend_close(be);
}

TEST(inject_stalls_every_nth_read)
{
	struct backend *be = inject("inject:stall-ms=80,stall-every=3");
	char buf[512];
	long long t[3];

	for (int i = 0; i < 3; i++) {
		long long t0 = now_ms();
		CHECK_EQ(backend_pread(be, buf, 512, 0), 0);
		t[i] = now_ms() - t0;
	}
	CHECK(t[0] < 80 && t[1] < 80);
	CHECK(t[2] >= 80);
	backend_close(be);
}

TEST(inject_delayed_reads_overlap_across_threads)
{
	struct backend *be = inject("inject:delay-ms=10");
	long long t0 = now_ms();

	/* 4 threads x 20 reads x 10 ms: 800 ms if serialised. */
	read_from_threads(be);
	CHECK(now_ms() - t0 < 600);
	backend_close(be);
}

TEST(ratelimit_holds_the_average_rate)
{
	/* 1 MiB at 2048 KiB/s with 256 KiB of burst: at least ~375 ms. */
	struct backend *be = inject("ratelimit:rate-kib=2048");
	static char buf[65536];
	long long t0 = now_ms();

	for (int i = 0; i < 16; i++)
		CHECK_EQ(backend_pread(be, buf, sizeof buf, (uint64_t)i << 16), 0);
	CHECK(now_ms() - t0 >= 340);
	backend_close(be);
	CHECK(backend_open("memory:1M", &(struct backend_open_opts){
		.block_size = 512,
		.layers = (const char *const[]){ "ratelimit:rate-kib=0", NULL } },
		err, sizeof err) == NULL);
	CHECK(strstr(err, "rate-kib") != NULL);
}

TEST(identity_passes_through_layers)
{
	struct backend *be = inject("inject:delay-ms=0");
	char id[BACKEND_IDENTITY_MAX];

	/* RAM has none, and a layer that defines none says what next says. */
	CHECK_EQ(backend_identity(be, id, sizeof id), BE_EUNSUPP);
	CHECK(!backend_sequential(be));
	backend_close(be);
}

int main(void)
{
	log_init("test-layers", LOG_LVL_WARN);
	RUN(no_layers_opens_backend_alone);
	RUN(undefined_ops_pass_through_to_next);
	RUN(layer_abilities_default_to_next);
	RUN(readonly_open_makes_every_layer_readonly);
	RUN(layer_that_sees_data_blocks_zero_copy);
	RUN(layer_past_old_ops_size_is_not_a_layer);
	RUN(closing_top_closes_whole_chain);
	RUN(chain_built_from_specs_bottom_first);
	RUN(bad_specs_give_clear_errors);
	RUN(bad_spec_in_the_middle_closes_what_was_opened);
	RUN(serialize_calls_never_overlap);
	RUN(parallel_calls_overlap);
	RUN(parallel_layer_over_serialize_overlaps_only_above);
	RUN(inject_passes_data_through);
	RUN(inject_error_rate_is_near_the_rate_and_repeatable);
	RUN(inject_write_errors_are_write_errors);
	RUN(inject_delays_reads_writes_and_open);
	RUN(inject_stalls_every_nth_read);
	RUN(inject_delayed_reads_overlap_across_threads);
	RUN(ratelimit_holds_the_average_rate);
	RUN(identity_passes_through_layers);
	return test_summary();
}
