/* cli.h — the `netstick` command-line client (docs/cli.md).
 *
 *   netstick.c   options, commands, exit codes
 *   http.c       libcurl: one request, or an event stream
 *   print.c      human-readable output of the API's JSON
 *   seed.c       `netstick seed`: files → a seed request
 *   warm.c       netstick warm (warm jobs)
 */
#ifndef NS_CLI_H
#define NS_CLI_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes (docs/cli.md). */
enum cli_exit {
	CLI_OK = 0,
	CLI_ERR = 1,          /* any other failure (5xx, bad reply) */
	CLI_USAGE = 2,        /* bad command line */
	CLI_CONNECT = 3,      /* daemon unreachable, TLS failure, timeout */
	CLI_AUTH = 4,         /* 401: missing or wrong token */
	CLI_NOT_FOUND = 5,    /* 404: unknown LUN or image */
	CLI_CONFLICT = 6,     /* 409: medium locked by the host, LUN busy */
	CLI_REFUSED = 7,      /* 422 (source refused or failed to open),
	                       * 400, 413 */
};

struct cli {
	const char *url;      /* base, no trailing slash */
	char token[512];
	const char *cacert;
	bool insecure;
	bool json;
	long timeout_s;
};

/* One request; body may be NULL.  On a reply, returns 0 with *status and
 * *reply (a parsed JSON body, or NULL) set; on a transport failure,
 * prints why and returns -1. */
int cli_request(const struct cli *c, const char *method, const char *path,
		const char *body, long *status, json_object **reply,
		char **text);

/* GET /api/v1/events; calls on_event(type, data-JSON, arg) for each event
 * until it returns nonzero or the stream ends.  Returns an exit code. */
int cli_stream(const struct cli *c,
	       int (*on_event)(const char *type, json_object *data, void *arg),
	       void *arg);

/* One request, its reply printed with print (or as JSON with --json).
 * Returns an exit code. */
int cli_run(const struct cli *c, const char *method, const char *path,
	    const char *body, void (*print)(json_object *));
bool cli_valid_lun(const char *s);
void cli_usage(FILE *f);
/* `netstick seed LUN ...` (argv after "seed"). */
int cli_seed(const struct cli *c, int argc, char **argv);

/* Maps an HTTP status to an exit code, printing the API's error. */
int cli_fail(long status, json_object *reply);

void print_status(json_object *st);
void print_luns(json_object *luns);
void print_lun(json_object *lun);
void print_images(json_object *images);
void print_event(const char *type, json_object *data);
const char *json_str(json_object *o, const char *key);
/* "warm 3: running  12.0/32.0 MiB (37%)  8.4 MB/s  ETA 2 s  SOURCE" */
void print_warm(json_object *job);

/* warm.c: `netstick warm ...` (argv after "warm").  An exit code. */
int cmd_warm(const struct cli *c, int argc, char **argv);

#endif
