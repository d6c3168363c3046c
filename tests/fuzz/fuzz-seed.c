/* fuzz-seed.c — libFuzzer target for the seed request parser: the bytes
 * are the JSON of a "seed" object (seed_req.c: kinds, labels, names,
 * base64, text) as a client sends it, then checked and templated as an
 * insert would be (seed_req_finish) under small limits, and, when they
 * pass, built (seed_iso_build) so every request that passes is one
 * libisofs takes.  Must never crash, hang or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "seed_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const extra[] = { "site=rack-7", "x=", NULL };
	const struct seed_limits lim = { .max_files = 16,
		.max_file_size = 4096, .max_volume_size = 1u << 20 };
	const struct seed_vars vars = { .serial = "FUZZ0001", .lun = 3,
					.extra = extra };
	struct json_tokener *tok;
	struct seed_req rq;
	struct seed_err e;
	json_object *o;
	unsigned char *img = NULL;
	size_t len;

	if (size > 16384 || !(tok = json_tokener_new_ex(8)))
		return 0;
	log_set_level(LOG_LVL_ERR);
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (!o)
		return 0;
	if (seed_req_from_json(o, seed_json_has_nul((const char *)data, size),
			       &rq, &e) == 0) {
		if (seed_req_finish(&rq, &lim, &vars, &e) == 0 &&
		    seed_req_build(&rq, &lim, &img, &len, &e) == 0) {
			if (len % SEED_ALIGN != 0 || len < 18 * 2048)
				abort();
			free(img);
		}
		seed_req_free(&rq);
	}
	json_object_put(o);
	return 0;
}
