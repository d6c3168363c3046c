/* fuzz-config.c — libFuzzer target for the config.yaml parser.
 *
 * Any byte string goes to config_load_string(); it must return a config or
 * NULL with a message, never crash, hang or leak.  Seeds are in
 * tests/fuzz/corpus/fuzz-config/ (the shipped file, flow style, and files
 * that stop at each kind of error).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct config *cfg;

	cfg = config_load_string("fuzz.yaml", (const char *)data, size, err,
				 sizeof err);
	/* Either a config, or a one-line message naming the input. */
	if (!cfg && strncmp(err, "fuzz.yaml:", 10) != 0)
		__builtin_trap();
	config_free(cfg);
	return 0;
}
