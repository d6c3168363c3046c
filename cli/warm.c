/* warm.c — `netstick warm`: warm jobs (docs/cli.md, docs/api.md).
 *
 *   netstick warm SOURCE|IMAGE [--mib N] [--rate MIB/S] [--lun LUN] [--wait]
 *   netstick warm --list
 *   netstick warm --cancel ID
 *
 * --wait follows the event stream and prints the job's progress until it
 * ends: exit 0 when done, 1 when it failed or was cancelled.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct warm_args {
	const char *what, *mib, *rate, *lun, *cancel;
	bool list, wait;
};

static int warm_usage(void)
{
	fprintf(stderr, "usage: netstick warm SOURCE|IMAGE [--mib N] "
		"[--rate MIB/S] [--lun LUN] [--wait]\n"
		"       netstick warm --list | --cancel ID\n");
	return CLI_USAGE;
}

static bool warm_number(const char *s)
{
	return s && *s && strlen(s) < 10 && strspn(s, "0123456789") == strlen(s);
}

/* Flags with a value: "--mib N". */
static const char **warm_flag(struct warm_args *a, const char *f)
{
	return strcmp(f, "--mib") == 0 ? &a->mib :
	       strcmp(f, "--rate") == 0 ? &a->rate :
	       strcmp(f, "--lun") == 0 ? &a->lun :
	       strcmp(f, "--cancel") == 0 ? &a->cancel : NULL;
}

static int warm_parse(struct warm_args *a, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char **v = warm_flag(a, argv[i]);
		if (v) {
			if (i + 1 >= argc || !warm_number(argv[i + 1]))
				return -1;
			*v = argv[++i];
		} else if (strcmp(argv[i], "--list") == 0) {
			a->list = true;
		} else if (strcmp(argv[i], "--wait") == 0) {
			a->wait = true;
		} else if (argv[i][0] == '-' || a->what) {
			return -1;
		} else {
			a->what = argv[i];
		}
	}
	if (a->list + !!a->cancel + !!a->what != 1)
		return -1;
	return 0;
}

static void warm_json_print(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o,
		JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* One request; prints the reply.  Returns an exit code; *out (when not
 * NULL) keeps the reply. */
static int warm_call(const struct cli *c, const char *method,
		     const char *path, const char *body, json_object **out)
{
	json_object *reply = NULL;
	long status = 0;
	int rc = CLI_OK;

	if (cli_request(c, method, path, body, &status, &reply, NULL) < 0)
		return CLI_CONNECT;
	if (status < 200 || status >= 300 || !reply) {
		rc = status ? cli_fail(status, reply) : CLI_ERR;
	} else if (c->json) {
		warm_json_print(reply);
	} else if (json_object_is_type(reply, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(reply); i++)
			print_warm(json_object_array_get_idx(reply, i));
	} else {
		print_warm(reply);
	}
	if (out && rc == CLI_OK)
		*out = reply;
	else
		json_object_put(reply);
	return rc;
}

struct warm_follow {
	const struct cli *c;
	long long id;
	int rc;
};

static bool warm_ended(json_object *job)
{
	const char *st = json_str(job, "state");

	return st && (!strcmp(st, "done") || !strcmp(st, "failed") ||
		      !strcmp(st, "cancelled"));
}

/* Prints a progress line for our job; nonzero when it ended. */
static int warm_on_job(struct warm_follow *f, json_object *job)
{
	json_object *id;

	if (!job || !json_object_object_get_ex(job, "id", &id) ||
	    json_object_get_int64(id) != f->id)
		return 0;
	if (f->c->json)
		printf("%s\n", json_object_to_json_string_ext(job,
			JSON_C_TO_STRING_PLAIN));
	else
		print_warm(job);
	fflush(stdout);
	if (!warm_ended(job))
		return 0;
	f->rc = strcmp(json_str(job, "state"), "done") == 0 ? CLI_OK : CLI_ERR;
	return 1;
}

static int warm_on_event(const char *type, json_object *data, void *arg)
{
	struct warm_follow *f = arg;
	json_object *v;

	if (strcmp(type, "warm") == 0 &&
	    json_object_object_get_ex(data, "warm", &v))
		return warm_on_job(f, v);
	if (strcmp(type, "hello") == 0 &&
	    json_object_object_get_ex(data, "warm", &v))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (warm_on_job(f, json_object_array_get_idx(v, i)))
				return 1;
	return 0;
}

static int warm_start(const struct cli *c, const struct warm_args *a)
{
	json_object *o = json_object_new_object(), *job = NULL, *id;
	struct warm_follow f = { .c = c, .rc = CLI_ERR };
	int rc;

	json_object_object_add(o, strpbrk(a->what, "/:") ? "source" : "image",
			       json_object_new_string(a->what));
	if (a->mib)
		json_object_object_add(o, "mib", json_object_new_int64(atoll(a->mib)));
	if (a->rate)
		json_object_object_add(o, "rate_mib",
				       json_object_new_int64(atoll(a->rate)));
	if (a->lun)
		json_object_object_add(o, "lun", json_object_new_int64(atoll(a->lun)));
	rc = warm_call(c, "POST", "/api/v1/warm",
		       json_object_to_json_string(o), a->wait ? &job : NULL);
	json_object_put(o);
	if (rc != CLI_OK || !a->wait)
		return rc;
	json_object_object_get_ex(job, "id", &id);
	f.id = json_object_get_int64(id);
	json_object_put(job);
	rc = cli_stream(c, warm_on_event, &f);
	return rc == CLI_OK ? f.rc : rc;
}

int cmd_warm(const struct cli *c, int argc, char **argv)
{
	struct warm_args a = { .what = NULL };
	char path[64];

	if (warm_parse(&a, argc, argv) < 0)
		return warm_usage();
	if (a.list)
		return warm_call(c, "GET", "/api/v1/warm", NULL, NULL);
	if (a.cancel) {
		snprintf(path, sizeof path, "/api/v1/warm/%s", a.cancel);
		return warm_call(c, "DELETE", path, NULL, NULL);
	}
	return warm_start(c, &a);
}
