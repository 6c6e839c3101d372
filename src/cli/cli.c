#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "api/api.h"
#include "daemon/daemon.h"
#include "proxy/proxy.h"
#include "spec/spec.h"
#include "table.h"
#include "core/buf.h"
#include "core/core.h"

#define EXIT_USAGE 2

struct cli {
	char **argv;              /* the whole command line, for `serve` to re-execute */
	const char *state_dir;
	struct api_client client;
	bool json;
};

struct command {
	const char *name;
	int (*run)(struct cli *c, int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct command *find_command(const char *name);

static int usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "slipway%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nsee `slipway %s--help`\n", cmd ? cmd : "");
	va_end(ap);
	return EXIT_USAGE;
}

static void print_help(const struct command *cmd)
{
	printf("usage: slipway [--state-dir DIR] %s\n\n%s\n", cmd->usage, cmd->help);
}

/*
 * Parses a command's options. `spec` lists long options; a '--help' is
 * always accepted. Returns the index of the first positional argument, or
 * -1 after printing help (exit 0), -2 after a usage error.
 */
static int parse_opts(const struct command *cmd, int argc, char **argv, const char *shortopts,
		      const struct option *longopts, int (*on_opt)(int opt, const char *arg, void *),
		      void *data)
{
	struct option opts[16];
	size_t n = 0;
	for (; longopts && longopts[n].name; n++)
		opts[n] = longopts[n];
	opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	opts[n] = (struct option){0};
	char so[32];
	snprintf(so, sizeof(so), ":h%s", shortopts ? shortopts : "");
	optind = 0;
	opterr = 0;
	int o;
	while ((o = getopt_long(argc, argv, so, opts, NULL)) != -1) {
		if (o == 'h') {
			print_help(cmd);
			return -1;
		}
		if (o == '?') {
			usage_error(cmd->name, "unknown option \"%s\"", argv[optind - 1]);
			return -2;
		}
		if (o == ':') {
			usage_error(cmd->name, "option \"%s\" needs a value", argv[optind - 1]);
			return -2;
		}
		if (on_opt(o, optarg, data) < 0)
			return -2;
	}
	return optind;
}

static int common_opt(int o, const char *arg, void *data)
{
	struct cli *c = data;
	if (o == 'j') {
		c->json = true;
		return 0;
	}
	return -1;
}

static const struct option json_opts[] = {{"json", no_argument, NULL, 'j'}, {0}};

/* Starts the positional arguments; checks their count. */
#define POSITIONAL(cmd, first, argc, min, max)                                             \
	do {                                                                               \
		if ((first) == -1)                                                         \
			return 0;                                                          \
		if ((first) < 0)                                                           \
			return EXIT_USAGE;                                                 \
		int np_ = (argc) - (first);                                                \
		if (np_ < (min))                                                           \
			return usage_error((cmd)->name, "missing argument");               \
		if (np_ > (max))                                                           \
			return usage_error((cmd)->name, "unexpected argument \"%s\"",      \
					   argv[(first) + (max)]);                         \
	} while (0)

/* ---- talking to the daemon ---- */

/*
 * One API call. Returns 0 with *out (may be NULL) on a 2xx answer; prints
 * the daemon's error and returns 1 otherwise.
 */
static int call(struct cli *c, const char *method, const char *path, json_t *body,
		json_t **out)
{
	struct buf resp = BUF_INIT;
	struct sw_err err = {0};
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int status = 0, r = 1;
	if (out)
		*out = NULL;
	if (api_client_request(&c->client, method, path, text, text ? strlen(text) : 0, &status,
			       &resp, &err) < 0) {
		fprintf(stderr, "slipway: %s\n", err.msg);
		goto out;
	}
	json_t *j = json_loadb(resp.s ? resp.s : "", resp.len, 0, NULL);
	if (status < 200 || status > 299) {
		const char *msg = json_string_value(json_object_get(j, "error"));
		fprintf(stderr, "slipway: %s\n", msg ? msg : (resp.len ? resp.s : "request failed"));
		json_decref(j);
		goto out;
	}
	if (!j) {
		fprintf(stderr, "slipway: the daemon sent a response that is not JSON\n");
		goto out;
	}
	if (out)
		*out = j;
	else
		json_decref(j);
	r = 0;
out:
	free(text);
	buf_release(&resp);
	return r;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("%s\n", s);
	free(s);
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static long long jint(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* ---- apply / validate ---- */

static int read_file(const char *path, struct buf *out, struct sw_err *err)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return sw_errf(err, -1, "cannot read \"%s\": %s", path, strerror(errno));
	char chunk[65536];
	size_t k;
	out->cap = 8u << 20;
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(out, chunk, k) < 0) {
			if (f != stdin)
				fclose(f);
			return sw_errf(err, -1, "\"%s\" is larger than 8 MiB", path);
		}
	int bad = ferror(f);
	if (f != stdin)
		fclose(f);
	if (bad)
		return sw_errf(err, -1, "cannot read \"%s\"", path);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Expands PATH into files: itself, or a directory's *.yaml / *.yml in name
 * order. Paths come back absolute (so the daemon can resolve workdirs). */
static int collect_files(const char *path, char ***out, size_t *n, struct sw_err *err)
{
	struct stat sb;
	*out = NULL;
	*n = 0;
	if (strcmp(path, "-") == 0) {
		*out = xmalloc(sizeof(char *));
		(*out)[(*n)++] = xstrdup("-");
		return 0;
	}
	if (stat(path, &sb) < 0)
		return sw_errf(err, -1, "cannot read \"%s\": %s", path, strerror(errno));
	char *abs = realpath(path, NULL);
	if (!abs)
		return sw_errf(err, -1, "cannot resolve \"%s\": %s", path, strerror(errno));
	if (!S_ISDIR(sb.st_mode)) {
		*out = xmalloc(sizeof(char *));
		(*out)[(*n)++] = abs;
		return 0;
	}
	DIR *dir = opendir(abs);
	if (!dir) {
		sw_errf(err, -1, "cannot read directory \"%s\": %s", path, strerror(errno));
		free(abs);
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(dir))) {
		size_t l = strlen(de->d_name);
		bool yaml = (l > 5 && strcmp(de->d_name + l - 5, ".yaml") == 0) ||
			    (l > 4 && strcmp(de->d_name + l - 4, ".yml") == 0);
		if (!yaml || de->d_name[0] == '.')
			continue;
		struct buf p = BUF_INIT;
		buf_addf(&p, "%s/%s", abs, de->d_name);
		*out = xrealloc(*out, (*n + 1) * sizeof(char *));
		(*out)[(*n)++] = buf_detach(&p);
	}
	closedir(dir);
	free(abs);
	if (*n == 0)
		return sw_errf(err, -1, "no *.yaml or *.yml files in \"%s\"", path);
	qsort(*out, *n, sizeof(char *), cmp_str);
	return 0;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

struct apply_opts {
	struct cli *c;
	const char *file;
	bool wait;
	uint64_t timeout_ms;
};

static int apply_opt(int o, const char *arg, void *data)
{
	struct apply_opts *a = data;
	if (o == 'f') {
		a->file = arg;
		return 0;
	}
	if (o == 'w') {
		a->wait = true;
		return 0;
	}
	if (o == 't') {
		if (sw_duration_parse(arg, &a->timeout_ms) < 0) {
			usage_error("apply", "--timeout must be a duration like 90s, got \"%s\"", arg);
			return -1;
		}
		return 0;
	}
	return common_opt(o, arg, a->c);
}

/* Polls an app until its rollout ends. Returns 0 Healthy, 1 otherwise. */
static int wait_rollout(struct cli *c, const char *name, int64_t revision, uint64_t timeout_ms,
			bool quiet)
{
	uint64_t deadline = sw_now_ms() + timeout_ms;
	struct buf path = BUF_INIT;
	buf_addf(&path, "/v1/apps/%s", name);
	int r = 1;
	char last[512] = "";
	for (;;) {
		json_t *j = NULL;
		if (call(c, "GET", path.s, NULL, &j) != 0)
			break;
		const char *phase = jstr(j, "phase");
		char line[512];
		snprintf(line, sizeof(line), "%s: %s, %lld/%lld ready - %s", name, phase,
			 jint(j, "ready"), jint(j, "replicas"), jstr(j, "reason"));
		if (!quiet && strcmp(line, last) != 0) {
			printf("%s\n", line);
			fflush(stdout);
			sw_strlcpy(last, line, sizeof(last));
		}
		bool at_rev = revision == 0 || jint(j, "revision") == revision;
		if (at_rev && strcmp(phase, "Healthy") == 0) {
			r = 0;
			json_decref(j);
			break;
		}
		if (at_rev && strcmp(phase, "Degraded") == 0) {
			json_decref(j);
			break;
		}
		json_decref(j);
		if (sw_now_ms() > deadline) {
			fprintf(stderr, "slipway: %s did not finish its rollout in time\n", name);
			break;
		}
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
	}
	buf_release(&path);
	return r;
}

static int cmd_apply(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"filename", required_argument, NULL, 'f'},
					   {"wait", no_argument, NULL, 'w'},
					   {"timeout", required_argument, NULL, 't'},
					   {"json", no_argument, NULL, 'j'},
					   {0}};
	struct apply_opts ao = {.c = c, .timeout_ms = 300000};
	const struct command *cmd = find_command("apply");
	int first = parse_opts(cmd, argc, argv, "f:", lo, apply_opt, &ao);
	POSITIONAL(cmd, first, argc, 0, 0);
	if (!ao.file)
		return usage_error("apply", "missing -f PATH (a file, a directory or -)");

	struct sw_err err = {0};
	char **files = NULL;
	size_t nfiles = 0;
	int r = 1;
	json_t *body = json_object(), *arr = json_array(), *res = NULL;
	json_object_set_new(body, "files", arr);
	if (collect_files(ao.file, &files, &nfiles, &err) < 0) {
		fprintf(stderr, "slipway: %s\n", err.msg);
		goto out;
	}
	for (size_t i = 0; i < nfiles; i++) {
		struct buf content = BUF_INIT;
		if (read_file(files[i], &content, &err) < 0) {
			fprintf(stderr, "slipway: %s\n", err.msg);
			buf_release(&content);
			goto out;
		}
		char cwd[PATH_MAX] = ".";
		struct buf name = BUF_INIT;
		if (strcmp(files[i], "-") == 0 && getcwd(cwd, sizeof(cwd)))
			buf_addf(&name, "%s/stdin.yaml", cwd);
		else
			buf_adds(&name, files[i]);
		json_array_append_new(arr, json_pack("{s:s, s:s%}", "path", name.s, "content",
						     buf_str(&content), content.len));
		buf_release(&name);
		buf_release(&content);
	}
	if (call(c, "POST", "/v1/apply", body, &res) != 0)
		goto out;
	if (c->json)
		print_json(res);
	r = 0;
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(res, "results"), i, x) {
		if (!c->json) {
			if (strcmp(jstr(x, "kind"), "App") == 0)
				printf("app/%s %s (revision %lld)\n", jstr(x, "name"), jstr(x, "result"),
				       jint(x, "revision"));
			else
				printf("%s/%s %s\n", jstr(x, "kind"), jstr(x, "name"), jstr(x, "result"));
		}
	}
	if (ao.wait) {
		fflush(stdout);
		json_array_foreach(json_object_get(res, "results"), i, x) {
			if (strcmp(jstr(x, "kind"), "App") == 0 &&
			    wait_rollout(c, jstr(x, "name"), jint(x, "revision"), ao.timeout_ms,
					 c->json) != 0)
				r = 1;
		}
	}
out:
	free_strv(files, nfiles);
	json_decref(body);
	json_decref(res);
	return r;
}

static int file_opt(int o, const char *arg, void *data)
{
	struct apply_opts *a = data;
	if (o == 'f') {
		a->file = arg;
		return 0;
	}
	return -1;
}

static int cmd_validate(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"filename", required_argument, NULL, 'f'}, {0}};
	struct apply_opts ao = {.c = c};
	const struct command *cmd = find_command("validate");
	int first = parse_opts(cmd, argc, argv, "f:", lo, file_opt, &ao);
	POSITIONAL(cmd, first, argc, 0, 1);
	if (!ao.file && first < argc)
		ao.file = argv[first];
	if (!ao.file)
		return usage_error("validate", "missing -f PATH");
	struct spec_set set = {0};
	struct sw_err err = {0};
	if (spec_parse_path(&set, ao.file, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	for (size_t i = 0; i < set.napps; i++)
		printf("app/%s valid (version %s, %u replicas)\n", set.apps[i]->name,
		       set.apps[i]->version, set.apps[i]->replicas);
	for (size_t i = 0; i < set.ntemplates; i++)
		printf("AnalysisTemplate/%s valid\n", set.templates[i]->name);
	spec_set_release(&set);
	return 0;
}

/* ---- reads ---- */

static int cmd_get(struct cli *c, int argc, char **argv)
{
	const struct command *cmd = find_command("get");
	int first = parse_opts(cmd, argc, argv, NULL, json_opts, common_opt, c);
	POSITIONAL(cmd, first, argc, 1, 1);
	if (strcmp(argv[first], "apps") != 0 && strcmp(argv[first], "app") != 0)
		return usage_error("get", "unknown resource \"%s\" (try \"apps\")", argv[first]);
	json_t *j = NULL;
	if (call(c, "GET", "/v1/apps", NULL, &j) != 0)
		return 1;
	if (c->json) {
		print_json(j);
		json_decref(j);
		return 0;
	}
	struct cli_table t;
	cli_table_init(&t, 5);
	cli_table_row(&t, "NAME", "PHASE", "REVISION", "VERSION", "READY");
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(j, "apps"), i, a) {
		char rev[32], ready[32];
		snprintf(rev, sizeof(rev), "%lld", jint(a, "revision"));
		snprintf(ready, sizeof(ready), "%lld/%lld", jint(a, "ready"), jint(a, "replicas"));
		cli_table_row(&t, jstr(a, "name"), jstr(a, "phase"), rev, jstr(a, "version"), ready);
	}
	if (t.nrows == 1)
		printf("no apps; deploy one with `slipway apply -f app.yaml`\n");
	else
		cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(j);
	return 0;
}

static int cmd_status(struct cli *c, int argc, char **argv)
{
	const struct command *cmd = find_command("status");
	int first = parse_opts(cmd, argc, argv, NULL, json_opts, common_opt, c);
	POSITIONAL(cmd, first, argc, 1, 1);
	struct buf path = BUF_INIT;
	buf_addf(&path, "/v1/apps/%s", argv[first]);
	json_t *j = NULL;
	int r = call(c, "GET", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	if (c->json) {
		print_json(j);
		json_decref(j);
		return 0;
	}
	printf("Name:       %s\n", jstr(j, "name"));
	printf("Phase:      %s\n", jstr(j, "phase"));
	if (*jstr(j, "reason"))
		printf("Reason:     %s\n", jstr(j, "reason"));
	printf("Revision:   %lld (version %s)", jint(j, "revision"), jstr(j, "version"));
	if (jint(j, "stableRevision") != jint(j, "revision"))
		printf(", stable revision %lld", jint(j, "stableRevision"));
	printf("\nReady:      %lld/%lld\n", jint(j, "ready"), jint(j, "replicas"));
	if (*jstr(j, "listen"))
		printf("Listen:     %s\n", jstr(j, "listen"));
	json_t *groups = json_object_get(j, "groups");
	if (json_array_size(groups)) {
		struct cli_table gt;
		cli_table_init(&gt, 6);
		cli_table_row(&gt, "REVISION", "WEIGHT", "READY", "REQ/S", "SUCCESS", "P99");
		size_t gi;
		json_t *g;
		json_array_foreach(groups, gi, g) {
			char rev[24], w[24], ready[24], rate[32] = "-", succ[32] = "-", p99[32] = "-";
			snprintf(rev, sizeof(rev), "%lld", jint(g, "revision"));
			snprintf(w, sizeof(w), "%lld%%", jint(g, "weight"));
			snprintf(ready, sizeof(ready), "%lld", jint(g, "ready"));
			if (json_is_number(json_object_get(g, "rate")))
				snprintf(rate, sizeof(rate), "%.1f",
					 json_number_value(json_object_get(g, "rate")));
			if (json_is_number(json_object_get(g, "successRate")))
				snprintf(succ, sizeof(succ), "%.2f%%",
					 100 * json_number_value(json_object_get(g, "successRate")));
			if (json_is_number(json_object_get(g, "p99Ms")))
				snprintf(p99, sizeof(p99), "%.1fms",
					 json_number_value(json_object_get(g, "p99Ms")));
			cli_table_row(&gt, rev, w, ready, rate, succ, p99);
		}
		printf("\nTraffic (last 10s):\n");
		cli_table_print(&gt, stdout);
		cli_table_release(&gt);
	}
	struct cli_table t;
	cli_table_init(&t, 9);
	cli_table_row(&t, "INSTANCE", "REVISION", "VERSION", "STATE", "READY", "PID", "PORT",
		  "RESTARTS", "REASON");
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(j, "instances"), i, x) {
		char rev[24], pid[24], port[24], restarts[24];
		snprintf(rev, sizeof(rev), "%lld", jint(x, "revision"));
		snprintf(pid, sizeof(pid), "%lld", jint(x, "pid"));
		snprintf(port, sizeof(port), "%lld", jint(x, "port"));
		snprintf(restarts, sizeof(restarts), "%lld", jint(x, "restarts"));
		cli_table_row(&t, jstr(x, "id"), rev, jstr(x, "version"), jstr(x, "state"),
			  json_is_true(json_object_get(x, "ready")) ? "yes" : "no", pid, port,
			  restarts, jstr(x, "reason"));
	}
	printf("\n");
	if (t.nrows > 1)
		cli_table_print(&t, stdout);
	else
		printf("no instances\n");
	cli_table_release(&t);
	json_decref(j);
	return 0;
}

static int cmd_history(struct cli *c, int argc, char **argv)
{
	const struct command *cmd = find_command("history");
	int first = parse_opts(cmd, argc, argv, NULL, json_opts, common_opt, c);
	POSITIONAL(cmd, first, argc, 1, 1);
	struct buf path = BUF_INIT;
	buf_addf(&path, "/v1/apps/%s/history", argv[first]);
	json_t *j = NULL;
	int r = call(c, "GET", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	if (c->json) {
		print_json(j);
		json_decref(j);
		return 0;
	}
	struct cli_table t;
	cli_table_init(&t, 5);
	cli_table_row(&t, "REVISION", "VERSION", "CREATED", "STATUS", "SOURCE");
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(j, "revisions"), i, x) {
		char rev[24], status[64] = "";
		snprintf(rev, sizeof(rev), "%lld", jint(x, "revision"));
		bool desired = json_is_true(json_object_get(x, "desired"));
		bool stable = json_is_true(json_object_get(x, "stable"));
		bool failed = json_is_true(json_object_get(x, "failed"));
		snprintf(status, sizeof(status), "%s%s%s", desired ? "desired" : "",
			 desired && (stable || failed) ? "," : "",
			 failed ? "failed" : stable ? "stable" : "");
		cli_table_row(&t, rev, jstr(x, "version"), jstr(x, "created"), status, jstr(x, "source"));
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(j);
	return 0;
}

struct events_opts {
	struct cli *c;
	const char *app;
};

static int events_opt(int o, const char *arg, void *data)
{
	struct events_opts *e = data;
	if (o == 'a') {
		e->app = arg;
		return 0;
	}
	return common_opt(o, arg, e->c);
}

static int cmd_events(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
					   {"app", required_argument, NULL, 'a'},
					   {0}};
	const struct command *cmd = find_command("events");
	struct events_opts eo = {c, NULL};
	int first = parse_opts(cmd, argc, argv, NULL, lo, events_opt, &eo);
	POSITIONAL(cmd, first, argc, 0, 1);
	if (!eo.app && first < argc)
		eo.app = argv[first];
	struct buf path = BUF_INIT;
	buf_adds(&path, "/v1/events");
	if (eo.app)
		buf_addf(&path, "?app=%s", eo.app);
	json_t *j = NULL;
	int r = call(c, "GET", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	if (c->json) {
		print_json(j);
		json_decref(j);
		return 0;
	}
	struct cli_table t;
	cli_table_init(&t, 5);
	cli_table_row(&t, "TIME", "APP", "KIND", "ACTOR", "MESSAGE");
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(j, "events"), i, x)
		cli_table_row(&t, jstr(x, "time"), jstr(x, "app"), jstr(x, "kind"), jstr(x, "actor"),
			  jstr(x, "message"));
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(j);
	return 0;
}

struct logs_opts {
	struct cli *c;
	const char *instance;
	bool follow;
	long tail;
};

static int logs_opt(int o, const char *arg, void *data)
{
	struct logs_opts *l = data;
	switch (o) {
	case 'i': l->instance = arg; return 0;
	case 'f': l->follow = true; return 0;
	case 't': {
		char *end;
		l->tail = strtol(arg, &end, 10);
		if (*end || l->tail < 0) {
			usage_error("logs", "--tail must be a number of bytes, got \"%s\"", arg);
			return -1;
		}
		return 0;
	}
	}
	return common_opt(o, arg, l->c);
}

static int cmd_logs(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"instance", required_argument, NULL, 'i'},
					   {"follow", no_argument, NULL, 'f'},
					   {"tail", required_argument, NULL, 't'},
					   {"json", no_argument, NULL, 'j'},
					   {0}};
	struct logs_opts lo_ = {.c = c, .tail = 16384};
	const struct command *cmd = find_command("logs");
	int first = parse_opts(cmd, argc, argv, "fi:", lo, logs_opt, &lo_);
	POSITIONAL(cmd, first, argc, 1, 1);
	struct buf offsets = BUF_INIT, path = BUF_INIT;
	int r = 0;
	for (;;) {
		buf_reset(&path);
		buf_addf(&path, "/v1/apps/%s/logs?tail=%ld", argv[first], lo_.tail);
		if (lo_.instance)
			buf_addf(&path, "&instance=%s", lo_.instance);
		if (offsets.len)
			buf_addf(&path, "&offsets=%s", offsets.s);
		json_t *j = NULL;
		if (call(c, "GET", path.s, NULL, &j) != 0) {
			r = 1;
			break;
		}
		json_t *insts = json_object_get(j, "instances");
		bool prefix = json_array_size(insts) > 1 || !lo_.instance;
		buf_reset(&offsets);
		size_t i;
		json_t *x;
		json_array_foreach(insts, i, x) {
			if (c->json) {
				char *s = json_dumps(x, JSON_COMPACT);
				printf("%s\n", s);
				free(s);
			} else {
				const char *text = jstr(x, "text");
				while (*text) {
					const char *nl = strchr(text, '\n');
					size_t len = nl ? (size_t)(nl - text + 1) : strlen(text);
					if (prefix)
						printf("[%s] ", jstr(x, "id"));
					fwrite(text, 1, len, stdout);
					if (!nl)
						fputc('\n', stdout);
					text += len;
				}
			}
			buf_addf(&offsets, "%s%s:%lld", offsets.len ? "," : "", jstr(x, "id"),
				 jint(x, "offset"));
		}
		fflush(stdout);
		json_decref(j);
		if (!lo_.follow)
			break;
		struct timespec ts = {0, 500 * 1000000L};
		nanosleep(&ts, NULL);
	}
	buf_release(&offsets);
	buf_release(&path);
	return r;
}

static int cmd_routes(struct cli *c, int argc, char **argv)
{
	const struct command *cmd = find_command("routes");
	int first = parse_opts(cmd, argc, argv, NULL, json_opts, common_opt, c);
	POSITIONAL(cmd, first, argc, 0, 0);
	json_t *j = NULL;
	if (call(c, "GET", "/v1/routes", NULL, &j) != 0)
		return 1;
	if (c->json) {
		print_json(j);
		json_decref(j);
		return 0;
	}
	json_t *proxy = json_object_get(j, "proxy");
	printf("proxy: %s (pid %lld)\n\n",
	       json_is_true(json_object_get(proxy, "up")) ? "up" : "not reachable",
	       jint(proxy, "pid"));
	struct cli_table t;
	cli_table_init(&t, 6);
	cli_table_row(&t, "LISTEN", "HOST", "PATH", "APP", "STICKY", "BACKENDS");
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(j, "routes"), i, r) {
		struct buf be = BUF_INIT;
		size_t k;
		json_t *g;
		json_array_foreach(json_object_get(r, "groups"), k, g)
			buf_addf(&be, "%srev %lld: %lld%% x %zu", k ? ", " : "", jint(g, "revision"),
				 jint(g, "weight"), json_array_size(json_object_get(g, "backends")));
		const char *host = jstr(r, "host");
		cli_table_row(&t, jstr(r, "listen"), *host ? host : "*", jstr(r, "pathPrefix"),
			  jstr(r, "app"), json_is_true(json_object_get(r, "sticky")) ? "yes" : "no",
			  be.len ? be.s : "none ready");
		buf_release(&be);
	}
	if (t.nrows > 1)
		cli_table_print(&t, stdout);
	else
		printf("no routes; give an app spec.route.listen to serve it through the proxy\n");
	cli_table_release(&t);
	json_decref(j);
	return 0;
}

/* ---- rollout ---- */

static void fmt_pct(char *out, size_t size, json_t *v, double mul, const char *unit)
{
	if (json_is_number(v))
		snprintf(out, size, "%.*f%s", mul > 1 ? 2 : 1, json_number_value(v) * mul, unit);
	else
		snprintf(out, size, "-");
}

/* One line of `rollout status --watch`: time, phase, step, per-revision
 * weight, request rate, success rate and p99, and the reason. */
static void rollout_line(json_t *j)
{
	char t[16];
	time_t now = time(NULL);
	strftime(t, sizeof(t), "%H:%M:%S", localtime(&now));
	printf("%s %-11s", t, jstr(j, "phase"));
	json_t *r = json_object_get(j, "rollout");
	if (r && strcmp(jstr(r, "strategy"), "canary") == 0)
		printf(" step %lld/%lld", jint(r, "step") > jint(r, "steps") ? jint(r, "steps") : jint(r, "step"),
		       jint(r, "steps"));
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(j, "groups"), i, g) {
		char rate[32], succ[32], p99[32];
		fmt_pct(rate, sizeof(rate), json_object_get(g, "rate"), 1, "/s");
		fmt_pct(succ, sizeof(succ), json_object_get(g, "successRate"), 100, "%");
		fmt_pct(p99, sizeof(p99), json_object_get(g, "p99Ms"), 1, "ms");
		printf(" | r%lld %3lld%% %s ok %s p99 %s", jint(g, "revision"), jint(g, "weight"), rate,
		       succ, p99);
	}
	printf(" | %s\n", jstr(j, "reason"));
	fflush(stdout);
}

static void rollout_print(json_t *j)
{
	printf("Name:       %s\n", jstr(j, "name"));
	printf("Phase:      %s\n", jstr(j, "phase"));
	printf("Reason:     %s\n", jstr(j, "reason"));
	printf("Revision:   %lld (version %s), stable revision %lld\n", jint(j, "revision"),
	       jstr(j, "version"), jint(j, "stableRevision"));
	json_t *r = json_object_get(j, "rollout");
	if (r) {
		printf("Strategy:   %s", jstr(r, "strategy"));
		if (strcmp(jstr(r, "strategy"), "canary") == 0)
			printf(", step %lld of %lld, canary weight %lld%%",
			       jint(r, "step") > jint(r, "steps") ? jint(r, "steps") : jint(r, "step"),
			       jint(r, "steps"), jint(r, "weight"));
		printf("\n");
		size_t i;
		json_t *x;
		json_array_foreach(json_object_get(r, "analysisRuns"), i, x)
			printf("Analysis:   run %lld (%s) %s%s%s\n", jint(x, "id"), jstr(x, "kind"),
			       jstr(x, "phase"), *jstr(x, "reason") ? ": " : "", jstr(x, "reason"));
	}
	json_t *groups = json_object_get(j, "groups");
	if (json_array_size(groups)) {
		printf("\n");
		size_t i;
		json_t *g;
		struct cli_table t;
		cli_table_init(&t, 6);
		cli_table_row(&t, "REVISION", "WEIGHT", "READY", "REQ/S", "SUCCESS", "P99");
		json_array_foreach(groups, i, g) {
			char rev[24], w[24], ready[24], rate[32], succ[32], p99[32];
			snprintf(rev, sizeof(rev), "%lld", jint(g, "revision"));
			snprintf(w, sizeof(w), "%lld%%", jint(g, "weight"));
			snprintf(ready, sizeof(ready), "%lld", jint(g, "ready"));
			fmt_pct(rate, sizeof(rate), json_object_get(g, "rate"), 1, "");
			fmt_pct(succ, sizeof(succ), json_object_get(g, "successRate"), 100, "%");
			fmt_pct(p99, sizeof(p99), json_object_get(g, "p99Ms"), 1, "ms");
			cli_table_row(&t, rev, w, ready, rate, succ, p99);
		}
		cli_table_print(&t, stdout);
		cli_table_release(&t);
	}
}

struct rollout_opts {
	struct cli *c;
	bool full, watch;
};

static int rollout_opt(int o, const char *arg, void *data)
{
	struct rollout_opts *ro = data;
	if (o == 'F') {
		ro->full = true;
		return 0;
	}
	if (o == 'w') {
		ro->watch = true;
		return 0;
	}
	return common_opt(o, arg, ro->c);
}

static int cmd_rollout(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"full", no_argument, NULL, 'F'},
					   {"watch", no_argument, NULL, 'w'},
					   {"json", no_argument, NULL, 'j'},
					   {0}};
	static const char *const actions[] = {"status", "promote", "abort", "pause",
					      "resume", "retry", "undo"};
	struct rollout_opts ro = {.c = c};
	const struct command *cmd = find_command("rollout");
	int first = parse_opts(cmd, argc, argv, "w", lo, rollout_opt, &ro);
	POSITIONAL(cmd, first, argc, 2, 2);
	const char *action = argv[first], *app = argv[first + 1];
	bool known = false;
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		known = known || strcmp(action, actions[i]) == 0;
	if (!known)
		return usage_error("rollout", "unknown rollout command \"%s\" (status, promote, abort, pause, resume, retry, undo)",
				   action);
	struct buf path = BUF_INIT;
	json_t *j = NULL;
	int r;
	if (strcmp(action, "status") != 0) {
		buf_addf(&path, "/v1/apps/%s/rollout/%s", app, action);
		json_t *body = json_pack("{s:b}", "full", ro.full);
		r = call(c, "POST", path.s, body, &j);
		json_decref(body);
		buf_release(&path);
		if (r)
			return r;
		if (c->json)
			print_json(j);
		else
			printf("app/%s: %s (%s: %s)\n", app, action, jstr(j, "phase"), jstr(j, "reason"));
		json_decref(j);
		return 0;
	}
	buf_addf(&path, "/v1/apps/%s", app);
	for (;;) {
		if (call(c, "GET", path.s, NULL, &j) != 0) {
			buf_release(&path);
			return 1;
		}
		const char *phase = jstr(j, "phase");
		bool end = strcmp(phase, "Healthy") == 0 || strcmp(phase, "Degraded") == 0;
		r = strcmp(phase, "Degraded") == 0 ? 1 : 0;
		if (c->json) {
			char *sj = json_dumps(j, JSON_COMPACT);
			printf("%s\n", sj);
			free(sj);
			fflush(stdout);
		} else if (ro.watch)
			rollout_line(j);
		else
			rollout_print(j);
		json_decref(j);
		if (!ro.watch || end)
			break;
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
	}
	buf_release(&path);
	return r;
}

struct analysis_opts {
	struct cli *c;
	long long revision;
};

static int analysis_opt(int o, const char *arg, void *data)
{
	struct analysis_opts *ao = data;
	if (o == 'r') {
		char *end;
		ao->revision = strtoll(arg, &end, 10);
		if (*end || ao->revision < 1) {
			usage_error("analysis", "--revision must be a revision number, got \"%s\"", arg);
			return -1;
		}
		return 0;
	}
	return common_opt(o, arg, ao->c);
}

static int cmd_analysis(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"revision", required_argument, NULL, 'r'},
					   {"json", no_argument, NULL, 'j'},
					   {0}};
	struct analysis_opts ao = {.c = c};
	const struct command *cmd = find_command("analysis");
	int first = parse_opts(cmd, argc, argv, NULL, lo, analysis_opt, &ao);
	POSITIONAL(cmd, first, argc, 1, 1);
	struct buf path = BUF_INIT;
	buf_addf(&path, "/v1/apps/%s/analysis?revision=%lld", argv[first], ao.revision);
	json_t *j = NULL;
	int r = call(c, "GET", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	if (c->json) {
		print_json(j);
		json_decref(j);
		return 0;
	}
	struct cli_table t;
	cli_table_init(&t, 8);
	cli_table_row(&t, "TIME", "REV", "RUN", "METRIC", "PROVIDER", "VALUE", "OUTCOME", "REASON");
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(j, "measurements"), i, x) {
		char rev[24], run[48], metric[160];
		snprintf(rev, sizeof(rev), "%lld", jint(x, "revision"));
		snprintf(run, sizeof(run), "%lld %s", jint(x, "run"), jstr(x, "kind"));
		snprintf(metric, sizeof(metric), "%s/%s", jstr(x, "template"), jstr(x, "metric"));
		const char *time = jstr(x, "time");
		cli_table_row(&t, strlen(time) > 11 ? time + 11 : time, rev, run, metric,
			      jstr(x, "provider"), jstr(x, "value"), jstr(x, "outcome"), jstr(x, "reason"));
	}
	if (t.nrows > 1)
		cli_table_print(&t, stdout);
	else
		printf("no measurements yet\n");
	cli_table_release(&t);
	json_decref(j);
	return 0;
}

/* ---- changes ---- */

struct rollback_opts {
	struct cli *c;
	long long to;
	bool wait;
};

static int rollback_opt(int o, const char *arg, void *data)
{
	struct rollback_opts *ro = data;
	if (o == 't') {
		char *end;
		ro->to = strtoll(arg, &end, 10);
		if (*end || ro->to < 1) {
			usage_error("rollback", "--to must be a revision number, got \"%s\"", arg);
			return -1;
		}
		return 0;
	}
	if (o == 'w') {
		ro->wait = true;
		return 0;
	}
	return common_opt(o, arg, ro->c);
}

static int cmd_rollback(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"to", required_argument, NULL, 't'},
					   {"wait", no_argument, NULL, 'w'},
					   {"json", no_argument, NULL, 'j'},
					   {0}};
	struct rollback_opts ro = {.c = c};
	const struct command *cmd = find_command("rollback");
	int first = parse_opts(cmd, argc, argv, NULL, lo, rollback_opt, &ro);
	POSITIONAL(cmd, first, argc, 1, 1);
	json_t *body = ro.to ? json_pack("{s:I}", "to", (json_int_t)ro.to) : json_object();
	struct buf path = BUF_INIT;
	buf_addf(&path, "/v1/apps/%s/rollback", argv[first]);
	json_t *j = NULL;
	int r = call(c, "POST", path.s, body, &j);
	buf_release(&path);
	json_decref(body);
	if (r)
		return r;
	if (c->json)
		print_json(j);
	else
		printf("app/%s %s (revision %lld)\n", jstr(j, "name"), jstr(j, "result"),
		       jint(j, "revision"));
	if (ro.wait)
		r = wait_rollout(c, argv[first], jint(j, "revision"), 300000, c->json);
	json_decref(j);
	return r;
}

static int cmd_delete(struct cli *c, int argc, char **argv)
{
	const struct command *cmd = find_command("delete");
	int first = parse_opts(cmd, argc, argv, NULL, json_opts, common_opt, c);
	POSITIONAL(cmd, first, argc, 1, 1);
	struct buf path = BUF_INIT;
	buf_addf(&path, "/v1/apps/%s", argv[first]);
	json_t *j = NULL;
	int r = call(c, "DELETE", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	if (c->json)
		print_json(j);
	else
		printf("app/%s deleted (stopping %lld instances)\n", jstr(j, "name"),
		       jint(j, "stopping"));
	json_decref(j);
	return 0;
}

static int cmd_version(struct cli *c, int argc, char **argv)
{
	const struct command *cmd = find_command("version");
	int first = parse_opts(cmd, argc, argv, NULL, json_opts, common_opt, c);
	POSITIONAL(cmd, first, argc, 0, 0);
	if (c->json)
		printf("{\"version\": \"%s\"}\n", SLIPWAY_VERSION);
	else
		printf("slipway %s\n", SLIPWAY_VERSION);
	return 0;
}

/* ---- serve ---- */

struct serve_opts {
	struct daemon_options d;
};

static int serve_opt(int o, const char *arg, void *data)
{
	struct serve_opts *s = data;
	switch (o) {
	case 'a': s->d.api_addr = arg; return 0;
	case 'k': s->d.keep_instances = true; return 0;
	case 'm': s->d.metrics_addr = arg; return 0;
	case 'l': s->d.access_log = arg; return 0;
	case 's': s->d.state_dir = arg; return 0;
	case 'p': {
		unsigned a, b;
		char tail;
		if (sscanf(arg, "%u-%u%c", &a, &b, &tail) != 2 || a < 1024 || b > 65535 || a > b) {
			usage_error("serve", "--port-range must look like 20000-29999, got \"%s\"", arg);
			return -1;
		}
		s->d.port_min = (uint16_t)a;
		s->d.port_max = (uint16_t)b;
		return 0;
	}
	case 'b': {
		uint64_t ms;
		if (sw_duration_parse(arg, &ms) < 0 || ms == 0) {
			usage_error("serve", "--backoff must be a duration like 1s, got \"%s\"", arg);
			return -1;
		}
		s->d.backoff_initial_ms = ms;
		return 0;
	}
	}
	return -1;
}

static int cmd_serve(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"api", required_argument, NULL, 'a'},
					   {"keep-instances", no_argument, NULL, 'k'},
					   {"state-dir", required_argument, NULL, 's'},
					   {"port-range", required_argument, NULL, 'p'},
					   {"backoff", required_argument, NULL, 'b'},
					   {"metrics", required_argument, NULL, 'm'},
					   {"access-log", required_argument, NULL, 'l'},
					   {0}};
	struct serve_opts so = {.d = {.state_dir = c->state_dir, .argv = c->argv}};
	const struct command *cmd = find_command("serve");
	int first = parse_opts(cmd, argc, argv, NULL, lo, serve_opt, &so);
	POSITIONAL(cmd, first, argc, 0, 0);
	if (so.d.api_addr && strncmp(so.d.api_addr, "127.0.0.1:", 10) != 0 &&
	    strncmp(so.d.api_addr, "0.0.0.0:", 8) != 0)
		return usage_error("serve", "--api must be IP:PORT like 127.0.0.1:7070, got \"%s\"",
				   so.d.api_addr);
	return daemon_run(&so.d);
}

/* ---- proxy ---- */

static int proxy_opt(int o, const char *arg, void *data)
{
	struct proxy_main_options *po = data;
	switch (o) {
	case 's': po->state_dir = arg; return 0;
	case 'm': po->metrics_addr = arg; return 0;
	case 'l': po->access_log = arg; return 0;
	case 't':
		/* hidden, for tests: a short client header timeout */
		if (sw_duration_parse(arg, &po->header_timeout_ms) < 0 || po->header_timeout_ms == 0) {
			usage_error("proxy", "--header-timeout must be a duration like 10s, got \"%s\"", arg);
			return -1;
		}
		return 0;
	}
	return -1;
}

static int cmd_proxy(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"state-dir", required_argument, NULL, 's'},
					   {"metrics", required_argument, NULL, 'm'},
					   {"access-log", required_argument, NULL, 'l'},
					   {"header-timeout", required_argument, NULL, 't'},
					   {0}};
	struct proxy_main_options po = {.state_dir = c->state_dir};
	const struct command *cmd = find_command("proxy");
	int first = parse_opts(cmd, argc, argv, NULL, lo, proxy_opt, &po);
	POSITIONAL(cmd, first, argc, 0, 0);
	return proxy_main(&po);
}

/* ---- token ---- */

struct token_opts {
	struct cli *c;
	const char *role;
};

static int token_opt(int o, const char *arg, void *data)
{
	struct token_opts *t = data;
	if (o == 'r') {
		t->role = arg;
		return 0;
	}
	return common_opt(o, arg, t->c);
}

/* token create NAME --role ROLE | list | revoke NAME: the token is printed
 * alone on stdout (TOKEN=$(slipway token create ...) works), once. */
static int cmd_token(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"role", required_argument, NULL, 'r'},
					   {"json", no_argument, NULL, 'j'},
					   {0}};
	const struct command *cmd = find_command("token");
	struct token_opts to = {c, NULL};
	int first = parse_opts(cmd, argc, argv, NULL, lo, token_opt, &to);
	POSITIONAL(cmd, first, argc, 1, 2);
	const char *action = argv[first];
	const char *name = first + 1 < argc ? argv[first + 1] : NULL;
	bool create = strcmp(action, "create") == 0, revoke = strcmp(action, "revoke") == 0;
	bool list = strcmp(action, "list") == 0;
	json_t *j = NULL, *body = NULL;
	struct buf path = BUF_INIT;
	int r = 1;

	if (!create && !revoke && !list)
		return usage_error("token", "unknown action \"%s\" (create, list, revoke)", action);
	if ((create || revoke) && !name)
		return usage_error("token", "%s needs a token NAME", action);
	if (list && name)
		return usage_error("token", "unexpected argument \"%s\"", name);
	if (create && !to.role)
		return usage_error("token", "create needs --role admin|deployer|viewer");
	if (!create && to.role)
		return usage_error("token", "--role goes with create");
	if (create) {
		body = json_pack("{s:s, s:s}", "name", name, "role", to.role);
		r = call(c, "POST", "/v1/tokens", body, &j);
	} else if (revoke) {
		buf_addf(&path, "/v1/tokens/%s", name);
		r = call(c, "DELETE", path.s, NULL, &j);
	} else {
		r = call(c, "GET", "/v1/tokens", NULL, &j);
	}
	if (r)
		goto out;
	if (c->json) {
		print_json(j);
	} else if (create) {
		printf("%s\n", jstr(j, "token"));
		fprintf(stderr, "token \"%s\" (role %s) created; it is shown only this once\n",
			jstr(j, "name"), jstr(j, "role"));
	} else if (revoke) {
		printf("token/%s revoked\n", jstr(j, "name"));
	} else {
		struct cli_table t;
		cli_table_init(&t, 4);
		cli_table_row(&t, "NAME", "ROLE", "CREATED", "LAST USED");
		size_t i;
		json_t *x;
		json_array_foreach(json_object_get(j, "tokens"), i, x)
			cli_table_row(&t, jstr(x, "name"), jstr(x, "role"), jstr(x, "created"),
				      *jstr(x, "lastUsed") ? jstr(x, "lastUsed") : "never");
		cli_table_print(&t, stdout);
		cli_table_release(&t);
	}
out:
	if (j && create) {
		/* do not leave the token lying in freed memory */
		json_t *tok = json_object_get(j, "token");
		if (json_is_string(tok))
			OPENSSL_cleanse((char *)json_string_value(tok), json_string_length(tok));
	}
	json_decref(j);
	json_decref(body);
	buf_release(&path);
	return r;
}

/* ---- upgrade ---- */

static int upgrade_opt(int o, const char *arg, void *data)
{
	(void)arg;
	if (o == 'p') {
		*(bool *)data = true;
		return 0;
	}
	return -1;
}

/* Asks `slipway serve` to re-execute the binary on disk and waits until the
 * new control plane answers (it adopts the proxy and the instances). */
static int upgrade_daemon(struct cli *c)
{
	json_t *j = NULL;
	if (call(c, "POST", "/v1/upgrade", NULL, &j) != 0)
		return 1;
	long long old = jint(j, "startedMs");
	json_decref(j);
	uint64_t deadline = sw_now_ms() + 30000;
	while (sw_now_ms() < deadline) {
		struct timespec pause = {0, 100 * 1000 * 1000};
		nanosleep(&pause, NULL);
		struct buf out = BUF_INIT;
		struct sw_err err = {0};
		int status = 0;
		if (api_client_request(&c->client, "GET", "/v1/version", NULL, 0, &status, &out, &err) == 0 &&
		    status == 200) {
			j = json_loadb(out.s ? out.s : "", out.len, 0, NULL);
			long long now = jint(j, "startedMs");
			json_decref(j);
			buf_release(&out);
			if (now && now != old) {
				printf("control plane upgraded: slipway serve restarted into the binary on disk\n");
				return 0;
			}
			continue;
		}
		buf_release(&out); /* the API is away while the daemon re-executes */
	}
	fprintf(stderr, "slipway upgrade: the control plane did not come back within 30 s\n");
	return 1;
}

/* Asks `slipway proxy` (on DIR/proxy.sock) to replace itself with the
 * binary now on disk, then follows it until the successor answers there
 * or the proxy reports why it kept running. */
static int cmd_upgrade(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {{"proxy-only", no_argument, NULL, 'p'}, {0}};
	const struct command *cmd = find_command("upgrade");
	bool proxy_only = false;
	int first = parse_opts(cmd, argc, argv, NULL, lo, upgrade_opt, &proxy_only);
	POSITIONAL(cmd, first, argc, 0, 0);
	struct buf sock = BUF_INIT, out = BUF_INIT;
	struct sw_err err = {0};
	struct api_client pc = {.timeout_ms = 5000};
	int status = 0, ret = 1;
	long long old = 0;
	json_t *j = NULL;
	buf_addf(&sock, "%s/proxy.sock", c->state_dir);
	pc.unix_path = sock.s;
	if (api_client_request(&pc, "POST", "/v1/upgrade", NULL, 0, &status, &out, &err) < 0) {
		fprintf(stderr, "slipway upgrade: cannot reach the proxy at %s: %s\n", sock.s, err.msg);
		goto out;
	}
	j = json_loadb(out.s ? out.s : "", out.len, 0, NULL);
	if (status != 202) {
		fprintf(stderr, "slipway upgrade: %s\n", j && jstr(j, "error")[0] ? jstr(j, "error") : "refused");
		goto out;
	}
	old = jint(j, "pid");
	uint64_t deadline = sw_now_ms() + 15000;
	while (sw_now_ms() < deadline) {
		struct timespec pause = {0, 50 * 1000 * 1000};
		nanosleep(&pause, NULL);
		json_decref(j);
		j = NULL;
		buf_reset(&out);
		if (api_client_request(&pc, "GET", "/v1/upgrade", NULL, 0, &status, &out, &err) < 0 ||
		    status != 200)
			continue; /* the control socket is changing hands */
		j = json_loadb(out.s ? out.s : "", out.len, 0, NULL);
		if (jint(j, "pid") != old) {
			printf("proxy upgraded: pid %lld -> %lld\n", old, jint(j, "pid"));
			ret = 0;
			goto out;
		}
		if (strcmp(jstr(j, "state"), "idle") == 0) {
			const char *why = jstr(j, "lastError");
			fprintf(stderr, "slipway upgrade: the proxy (pid %lld) keeps running: %s\n", old,
				*why ? why : "the upgrade did not happen");
			goto out;
		}
	}
	fprintf(stderr, "slipway upgrade: no new proxy after 15 s\n");
out:
	json_decref(j);
	j = NULL;
	if (ret == 0 && !proxy_only)
		ret = upgrade_daemon(c);
	buf_release(&out);
	buf_release(&sock);
	return ret;
}

/* ---- dispatch ---- */

static const struct command commands[] = {
	{"apply", cmd_apply, "apply -f PATH [--wait] [--timeout DUR] [--json]",
	 "Sends the documents in PATH (a file, a directory of *.yaml / *.yml, or - for\n"
	 "stdin) to the daemon. Nothing is stored unless every document is valid.\n"
	 "A changed App gets a new revision and is rolled out; --wait waits until it\n"
	 "is Healthy (exit 0) or Degraded (exit 1)."},
	{"get", cmd_get, "get apps [--json]", "Lists apps with their phase, revision and readiness."},
	{"status", cmd_status, "status APP [--json]",
	 "Shows an app's phase, revision and every instance (pid, port, readiness,\n"
	 "restarts, state)."},
	{"history", cmd_history, "history APP [--json]", "Lists an app's revisions."},
	{"logs", cmd_logs, "logs APP [--instance ID] [-f] [--tail BYTES] [--json]",
	 "Prints the output of the app's instances; -f keeps following it."},
	{"rollout", cmd_rollout,
	 "rollout status|promote|abort|pause|resume|retry|undo APP [--watch] [--full] [--json]",
	 "Operates a rollout. status shows the step, weights, per-revision traffic\n"
	 "and analysis (--watch: one line a second until it ends; exit 0 when\n"
	 "Healthy, 1 when Degraded). promote takes the next step now (--full: skip\n"
	 "the remaining steps and analysis); abort sends all traffic back to stable;\n"
	 "pause and resume hold and continue; retry re-runs an aborted rollout; undo\n"
	 "goes back to the previous revision at once, without steps or analysis."},
	{"analysis", cmd_analysis, "analysis APP [--revision N] [--json]",
	 "Lists every measurement of the app's analysis runs: time, revision, run,\n"
	 "metric, provider, value, outcome and the reason (value, condition, limits)."},
	{"routes", cmd_routes, "routes [--json]",
	 "Lists the proxy's listeners and routes with each revision's weight and\n"
	 "backends in rotation."},
	{"events", cmd_events, "events [APP] [--app APP] [--json]",
	 "Prints the event log: every state change, with time, reason and actor."},
	{"rollback", cmd_rollback, "rollback APP [--to REVISION] [--wait] [--json]",
	 "Rolls the app out to an earlier revision (default: the one before),\n"
	 "one instance at a time like any update."},
	{"delete", cmd_delete, "delete APP [--json]", "Stops the app's instances and forgets the app."},
	{"token", cmd_token, "token create NAME --role admin|deployer|viewer | list | revoke NAME [--json]",
	 "Manages the TCP API's tokens. create prints a new token once (only its\n"
	 "SHA-256 is kept); viewer may read, deployer may also apply, roll back,\n"
	 "delete and operate rollouts, admin may do everything, tokens included.\n"
	 "list shows names, roles, creation and last use; revoke stops a token at\n"
	 "once. DIR/token stays an admin token named \"root\"."},
	{"validate", cmd_validate, "validate -f PATH",
	 "Checks documents offline (no daemon needed); errors say file:line:col."},
	{"version", cmd_version, "version [--json]", "Prints slipway's version."},
	{"proxy", cmd_proxy, "proxy [--state-dir DIR] [--metrics 127.0.0.1:PORT] [--access-log PATH]",
	 "Runs the data plane in the foreground (`slipway serve` starts it). It serves\n"
	 "the route table it gets on DIR/proxy.sock, saved in DIR/proxy-table.json and\n"
	 "served again after a restart. --metrics serves /metrics on TCP without auth;\n"
	 "--access-log appends one JSON line per request. SIGTERM/SIGINT stop it once\n"
	 "in-flight requests are done (10 s at most)."},
	{"upgrade", cmd_upgrade, "upgrade [--proxy-only]",
	 "Replaces the running `slipway proxy` with the binary now on disk without\n"
	 "refusing a connection or failing a request: the new process takes the\n"
	 "listening sockets over, the old one finishes its requests and exits. If the\n"
	 "new one does not start or is not ready within 5 s, the old one keeps serving\n"
	 "and this says why. Then `slipway serve` re-executes the binary on disk and\n"
	 "adopts the proxy and the instances (--proxy-only: the proxy alone). SIGUSR2\n"
	 "to either process does the same for that process."},
	{"serve", cmd_serve,
	 "serve [--state-dir DIR] [--api 127.0.0.1:PORT] [--keep-instances]\n"
	 "                     [--port-range MIN-MAX] [--backoff DUR] [--metrics 127.0.0.1:PORT]\n"
	 "                     [--access-log PATH]",
	 "Runs the daemon in the foreground. The API listens on DIR/slipway.sock;\n"
	 "--api also serves it on TCP, where requests need `Authorization: Bearer\n"
	 "<token>` with the token in DIR/token. It starts `slipway proxy`, the data\n"
	 "plane, and supervises it; --metrics makes the proxy serve /metrics on TCP\n"
	 "without auth; --access-log makes it append one JSON line per request.\n"
	 "SIGTERM/SIGINT stop it and its\n"
	 "instances (unless --keep-instances). Instances outlive a crashed daemon and\n"
	 "are adopted when it starts again."},
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void main_help(FILE *f)
{
	fprintf(f, "usage: slipway [--state-dir DIR] [--api ADDR --token TOKEN] COMMAND [ARGS]\n\n"
		   "Slipway runs your app's instances and rolls out every change safely.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *nl = strchr(commands[i].usage, '\n');
		int len = nl ? (int)(nl - commands[i].usage) : (int)strlen(commands[i].usage);
		fprintf(f, "  %.*s\n", len, commands[i].usage);
	}
	fprintf(f, "\nThe state dir is --state-dir, else $SLIPWAY_STATE_DIR, else ./.slipway.\n"
		   "`slipway COMMAND --help` tells more about a command.\n");
}

int cli_main(int argc, char **argv)
{
	struct cli c = {0};
	struct buf sock = BUF_INIT;
	const char *api = getenv("SLIPWAY_API"), *token = getenv("SLIPWAY_TOKEN");
	int i = 1, r;

	c.argv = argv;
	c.state_dir = getenv("SLIPWAY_STATE_DIR");
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		const char *names[] = {"--state-dir", "--api", "--token"};
		size_t which = 3;
		for (size_t k = 0; k < 3; k++) {
			size_t l = strlen(names[k]);
			if (strcmp(a, names[k]) == 0) {
				if (i + 1 >= argc)
					return usage_error(NULL, "option \"%s\" needs a value", a);
				val = argv[++i];
				which = k;
			} else if (strncmp(a, names[k], l) == 0 && a[l] == '=') {
				val = a + l + 1;
				which = k;
			}
		}
		if (which == 0)
			c.state_dir = val;
		else if (which == 1)
			api = val;
		else if (which == 2)
			token = val;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			main_help(stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("slipway %s\n", SLIPWAY_VERSION);
			return 0;
		} else
			return usage_error(NULL, "unknown option \"%s\"", a);
	}
	if (i >= argc) {
		main_help(stderr);
		return EXIT_USAGE;
	}
	if (!c.state_dir || !*c.state_dir)
		c.state_dir = ".slipway";
	const struct command *cmd = find_command(argv[i]);
	if (!cmd) {
		const char *best = NULL;
		size_t bd = 3;
		for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
			size_t dist = sw_edit_distance(argv[i], commands[k].name);
			if (dist < bd) {
				bd = dist;
				best = commands[k].name;
			}
		}
		if (best)
			return usage_error(NULL, "unknown command \"%s\" (did you mean \"%s\"?)",
					   argv[i], best);
		return usage_error(NULL, "unknown command \"%s\"", argv[i]);
	}
	if (api && *api) {
		c.client.tcp_addr = (char *)api;
		c.client.token = (char *)token;
	} else {
		buf_addf(&sock, "%s/slipway.sock", c.state_dir);
		c.client.unix_path = sock.s;
	}
	r = cmd->run(&c, argc - i, argv + i);
	buf_release(&sock);
	return r;
}
