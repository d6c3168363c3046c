/* netstick.c — `netstick`, the command-line client of netstickd's admin
 * API (docs/cli.md).
 *
 *   netstick [OPTIONS] status | luns [LUN] | images | watch
 *   netstick [OPTIONS] insert LUN SOURCE|IMAGE [--ro] [--cdrom] [--force]
 *   netstick [OPTIONS] eject LUN [--force]
 *   netstick [OPTIONS] seed LUN --kind KIND [--label L] [--no-template]
 *                           [--cdrom] [--force] NAME=FILE...  (seed.c)
 *   netstick [OPTIONS] ui-url
 *   netstick [OPTIONS] warm SOURCE|IMAGE [--mib N] [--rate MIB/S] [--lun LUN]
 *                      [--wait] | --list | --cancel ID   (warm.c)
 *
 * The token comes from $NETSTICK_TOKEN, else --token-file (default
 * $NETSTICK_TOKEN_FILE or /var/lib/netstick/token).  Exit codes are in
 * cli.h.
 */
#include "cli.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_URL "http://127.0.0.1:8080"
#define DEFAULT_TOKEN_FILE "/var/lib/netstick/token"

void cli_usage(FILE *f)
{
	fprintf(f,
		"usage: netstick [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  status                       device, USB and LUN summary\n"
		"  luns [LUN]                   media, host lock, I/O counters\n"
		"  images                       the catalog from config.yaml\n"
		"  insert LUN SOURCE|IMAGE [--ro] [--cdrom] [--force]\n"
		"                               insert or swap media; an argument\n"
		"                               with '/' or ':' is a source (path\n"
		"                               or URI), otherwise an image name;\n"
		"                               --force: swap even while the host\n"
		"                               prevents medium removal\n"
		"  eject LUN [--force]          eject (--force: even while the\n"
		"                               host prevents medium removal)\n"
		"  seed LUN --kind KIND [--label LABEL] [--no-template] [--cdrom]\n"
		"       [--force] NAME=FILE...  build an answer-file drive (nocloud,\n"
		"                               kickstart, autounattend, custom)\n"
		"                               from local files and insert it\n"
		"  warm SOURCE|IMAGE [--mib N] [--rate MIB/S] [--lun LUN] [--wait]\n"
		"                               fetch an image (or its first N MiB)\n"
		"                               into the persistent cache in the\n"
		"                               background; --wait: follow it\n"
		"  warm --list | --cancel ID    warm jobs; cancel one\n"
		"  watch                        follow events until interrupted\n"
		"  ui-url                       the web UI address, token included\n"
		"\n"
		"options:\n"
		"  -u, --url URL                daemon (default $NETSTICK_URL or %s)\n"
		"  -t, --token-file FILE        token file (default $NETSTICK_TOKEN_FILE\n"
		"                               or %s); $NETSTICK_TOKEN wins\n"
		"      --cacert FILE            CA for an https:// daemon\n"
		"  -k, --insecure               do not verify the daemon's certificate\n"
		"  -j, --json                   print the API's JSON\n"
		"  -T, --timeout SECONDS        per request (default 60)\n"
		"  -h, --help\n"
		"\n"
		"exit status: 0 ok, 1 error, 2 usage, 3 cannot reach the daemon,\n"
		"4 unauthorized, 5 unknown LUN or image, 6 locked by the host or\n"
		"busy, 7 source refused or failed to open\n",
		DEFAULT_URL, DEFAULT_TOKEN_FILE);
}

int cli_fail(long status, json_object *reply)
{
	json_object *e = NULL;

	if (reply)
		json_object_object_get_ex(reply, "error", &e);
	fprintf(stderr, "netstick: %s (HTTP %ld)%s%s\n",
		e && json_str(e, "message") ? json_str(e, "message") : "error",
		status, e && json_str(e, "code") ? ": " : "",
		e && json_str(e, "code") ? json_str(e, "code") : "");
	switch (status) {
	case 401: return CLI_AUTH;
	case 404: return CLI_NOT_FOUND;
	case 409: return CLI_CONFLICT;
	case 400: case 413: case 422: return CLI_REFUSED;
	default: return CLI_ERR;
	}
}

static int load_token(struct cli *c, const char *file)
{
	const char *env = getenv("NETSTICK_TOKEN");
	FILE *f;

	if (env && *env) {
		snprintf(c->token, sizeof c->token, "%s", env);
		return 0;
	}
	if (!file)
		file = getenv("NETSTICK_TOKEN_FILE");
	if (!file)
		file = DEFAULT_TOKEN_FILE;
	if ((f = fopen(file, "re")) == NULL) {
		fprintf(stderr, "netstick: no token: set NETSTICK_TOKEN or "
			"read %s (%m)\n", file);
		return -1;
	}
	if (!fgets(c->token, sizeof c->token, f))
		c->token[0] = '\0';
	fclose(f);
	c->token[strcspn(c->token, "\r\n")] = '\0';
	return 0;
}

/* Runs one request and prints the reply with `print`. */
int cli_run(const struct cli *c, const char *method, const char *path,
	       const char *body, void (*print)(json_object *))
{
	json_object *reply = NULL;
	long status = 0;
	int rc;

	if (cli_request(c, method, path, body, &status, &reply, NULL) < 0)
		return CLI_CONNECT;
	if (status >= 200 && status < 300 && reply) {
		if (c->json)
			printf("%s\n", json_object_to_json_string_ext(reply,
				JSON_C_TO_STRING_PRETTY |
				JSON_C_TO_STRING_NOSLASHESCAPE));
		else if (print)
			print(reply);
		rc = CLI_OK;
	} else {
		rc = status ? cli_fail(status, reply) : CLI_ERR;
	}
	json_object_put(reply);
	return rc;
}

bool cli_valid_lun(const char *s)
{
	return *s && strlen(s) < 4 && strspn(s, "0123456789") == strlen(s);
}

static int cmd_insert(const struct cli *c, int argc, char **argv)
{
	json_object *o = json_object_new_object();
	bool ro = false, cdrom = false, force = false;
	const char *lun = NULL, *what = NULL;
	char path[64];
	int rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--ro") == 0 ||
		    strcmp(argv[i], "--readonly") == 0)
			ro = true;
		else if (strcmp(argv[i], "--cdrom") == 0)
			cdrom = true;
		else if (strcmp(argv[i], "--force") == 0 ||
			 strcmp(argv[i], "-f") == 0)
			force = true;
		else if (!lun)
			lun = argv[i];
		else if (!what)
			what = argv[i];
		else
			lun = NULL, i = argc;
	}
	if (!lun || !what || !cli_valid_lun(lun)) {
		json_object_put(o);
		cli_usage(stderr);
		return CLI_USAGE;
	}
	json_object_object_add(o, strpbrk(what, "/:") ? "source" : "image",
			       json_object_new_string(what));
	if (ro)
		json_object_object_add(o, "readonly", json_object_new_boolean(1));
	if (cdrom)
		json_object_object_add(o, "cdrom", json_object_new_boolean(1));
	snprintf(path, sizeof path, "/api/v1/luns/%s/media%s", lun,
		 force ? "?force=true" : "");
	rc = cli_run(c, "PUT", path, json_object_to_json_string(o), print_lun);
	json_object_put(o);
	return rc;
}

static int cmd_eject(const struct cli *c, int argc, char **argv)
{
	const char *lun = NULL;
	bool force = false;
	char path[80];

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
			force = true;
		else if (!lun)
			lun = argv[i];
		else
			return cli_usage(stderr), CLI_USAGE;
	}
	if (!lun || !cli_valid_lun(lun))
		return cli_usage(stderr), CLI_USAGE;
	snprintf(path, sizeof path, "/api/v1/luns/%s/media%s", lun,
		 force ? "?force=true" : "");
	return cli_run(c, "DELETE", path, NULL, print_lun);
}

static int watch_event(const char *type, json_object *data, void *arg)
{
	const struct cli *c = arg;

	if (c->json)
		printf("{\"event\":\"%s\",\"data\":%s}\n", type,
		       json_object_to_json_string_ext(data,
			       JSON_C_TO_STRING_PLAIN));
	else
		print_event(type, data);
	fflush(stdout);
	return 0;
}

static void print_luns_or_lun(json_object *o)
{
	if (json_object_is_type(o, json_type_array))
		print_luns(o);
	else
		print_lun(o);
}

static int cmd_ui_url(const struct cli *c)
{
	char *esc = curl_easy_escape(NULL, c->token, 0);

	printf("%s/#token=%s\n", c->url, esc ? esc : "");
	curl_free(esc);
	return CLI_OK;
}

static int dispatch(struct cli *c, int argc, char **argv)
{
	const char *cmd = argv[0];
	char path[64];

	if (strcmp(cmd, "status") == 0 && argc == 1)
		return cli_run(c, "GET", "/api/v1/status", NULL, print_status);
	if (strcmp(cmd, "luns") == 0 && argc <= 2) {
		if (argc == 2 && !cli_valid_lun(argv[1]))
			return cli_usage(stderr), CLI_USAGE;
		snprintf(path, sizeof path, "/api/v1/luns%s%s",
			 argc == 2 ? "/" : "", argc == 2 ? argv[1] : "");
		return cli_run(c, "GET", path, NULL, print_luns_or_lun);
	}
	if (strcmp(cmd, "images") == 0 && argc == 1)
		return cli_run(c, "GET", "/api/v1/images", NULL, print_images);
	if (strcmp(cmd, "insert") == 0)
		return cmd_insert(c, argc - 1, argv + 1);
	if (strcmp(cmd, "eject") == 0)
		return cmd_eject(c, argc - 1, argv + 1);
	if (strcmp(cmd, "seed") == 0)
		return cli_seed(c, argc - 1, argv + 1);
	if (strcmp(cmd, "watch") == 0 && argc == 1)
		return cli_stream(c, watch_event, c);
	if (strcmp(cmd, "ui-url") == 0 && argc == 1)
		return cmd_ui_url(c);
	if (strcmp(cmd, "warm") == 0)
		return cmd_warm(c, argc - 1, argv + 1);
	cli_usage(stderr);
	return CLI_USAGE;
}

static int parse_options(struct cli *c, int argc, char **argv,
			 const char **token_file)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "token-file", required_argument, NULL, 't' },
		{ "cacert", required_argument, NULL, 'C' },
		{ "insecure", no_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	/* '+': stop at the command, its own flags (--force) follow it. */
	while ((o = getopt_long(argc, argv, "+u:t:kjT:h", longopts, NULL)) != -1) {
		switch (o) {
		case 'u': c->url = optarg; break;
		case 't': *token_file = optarg; break;
		case 'C': c->cacert = optarg; break;
		case 'k': c->insecure = true; break;
		case 'j': c->json = true; break;
		case 'T': c->timeout_s = atol(optarg); break;
		case 'h': cli_usage(stdout); exit(CLI_OK);
		default: return -1;
		}
	}
	if (c->timeout_s <= 0 || optind >= argc)
		return -1;
	return optind;
}

int main(int argc, char **argv)
{
	struct cli c = { .timeout_s = 60 };
	const char *token_file = NULL;
	char url[1024];
	int first, rc;

	c.url = getenv("NETSTICK_URL") ? getenv("NETSTICK_URL") : DEFAULT_URL;
	if ((first = parse_options(&c, argc, argv, &token_file)) < 0) {
		cli_usage(stderr);
		return CLI_USAGE;
	}
	snprintf(url, sizeof url, "%s", c.url);
	while (url[0] && url[strlen(url) - 1] == '/')
		url[strlen(url) - 1] = '\0';
	c.url = url;
	if (load_token(&c, token_file) < 0)
		return CLI_AUTH;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = dispatch(&c, argc - first, argv + first);
	curl_global_cleanup();
	return rc;
}
