/* test.h — a tiny test harness for netstick's unit tests.
 *
 *   TEST(name) { ... CHECK(cond); CHECK_EQ(a, b); ... }
 *   int main(void) { RUN(name); ...; return test_summary(); }
 *
 * Each TEST is one behaviour.  A failed CHECK prints file:line and marks the
 * test failed but keeps going.  test_summary() prints "N passed, N failed"
 * and returns the exit status.
 */
#ifndef NS_TEST_H
#define NS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_cur_failed;

#define TEST(name) static void name(void)

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n",       \
				__FILE__, __LINE__, #cond);                  \
			test_cur_failed = 1;                                 \
		}                                                            \
	} while (0)

#define CHECK_EQ(a, b)                                                       \
	do {                                                                 \
		long long _a = (long long)(a), _b = (long long)(b);          \
		if (_a != _b) {                                              \
			fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", \
				__FILE__, __LINE__, #a, #b, _a, _b);         \
			test_cur_failed = 1;                                 \
		}                                                            \
	} while (0)

#define CHECK_STR(a, b)                                                      \
	do {                                                                 \
		const char *_a = (a), *_b = (b);                             \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                     \
			fprintf(stderr, "  %s:%d: \"%s\" != \"%s\"\n",       \
				__FILE__, __LINE__, _a ? _a : "(null)",      \
				_b ? _b : "(null)");                         \
			test_cur_failed = 1;                                 \
		}                                                            \
	} while (0)

#define RUN(name)                                                            \
	do {                                                                 \
		test_cur_failed = 0;                                         \
		name();                                                      \
		if (test_cur_failed) {                                       \
			test_failed++;                                       \
			printf("FAIL %s\n", #name);                          \
		} else {                                                     \
			test_passed++;                                       \
			printf("ok   %s\n", #name);                          \
		}                                                            \
	} while (0)

static inline int test_summary(void)
{
	printf("%d passed, %d failed\n", test_passed, test_failed);
	return test_failed ? 1 : 0;
}

#endif
