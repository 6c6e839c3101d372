/* slipway apply: send documents to the daemon, optionally wait for the rollouts. */
#include "cli_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/core.h"
#include "spec/spec.h"

struct apply_opts {
	struct cli_paths files;
	const char *base_dir;
	bool wait, dry_run, override_window;
	const char *reason;
	uint64_t timeout_ms;
	bool json;
};

static const struct sw_opt options[] = {
	{.name = "filename", .letter = 'f', .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct apply_opts, files, struct cli_paths), .value = "PATH", .required = true,
	 .parse = cli_path_add, .expect = CLI_PATHS_EXPECT,
	 .help = "a file, a directory (read with its subdirectories) or - for stdin; repeatable"},
	{.name = "base-dir", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct apply_opts, base_dir, const char *), .value = "DIR",
	 .help = "relative paths of -f - documents are from DIR (default: .)"},
	{.name = "dry-run", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct apply_opts, dry_run, bool),
	 .help = "the daemon checks and says what would change; stores nothing"},
	{.name = "wait", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct apply_opts, wait, bool),
	 .help = "wait for the rollouts: exit 0 Healthy, 1 Degraded, 3 paused, 4 timeout"},
	{.name = "timeout", .kind = SW_OPT_DURATION,
	 .offset = SW_OPT_AT(struct apply_opts, timeout_ms, uint64_t), .value = "DUR",
	 .expect = "be a duration like 90s", .help = "how long --wait waits in all (default 5m)"},
	{.name = "override-window", .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct apply_opts, override_window, bool),
	 .help = "new revisions start outside their environment's sync windows (needs --reason)"},
	{.name = "reason", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct apply_opts, reason, const char *),
	 .value = "TEXT", .help = "why the windows are overridden: recorded with who did it"},
	CLI_OPT_JSON(struct apply_opts),
	{0},
};

int cli_read_doc_file(const char *path, struct buf *out, struct sw_err *err)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return sw_errf(err, -1, "cannot read \"%s\": %s", path, strerror(errno));
	char chunk[65536];
	size_t k;
	out->cap = SPEC_MAX_TEXT + 1; /* one byte more tells "too large" */
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(out, chunk, k) < 0) {
			if (f != stdin)
				fclose(f);
			return spec_check_size(path, (uint64_t)SPEC_MAX_TEXT + 1, false, err);
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

int cli_path_add(void *field, const char *value)
{
	struct cli_paths *p = field;
	if (!*value || p->n == CLI_PATHS_MAX)
		return -1;
	p->v[p->n++] = value;
	return 0;
}

/* The *.yaml / *.yml files under directory `path` and its subdirectories
 * (not those whose name starts with '.'), depth at most 16, appended. */
static int walk_dir(const char *path, int depth, char ***out, size_t *n, struct sw_err *err)
{
	DIR *dir = opendir(path);
	if (!dir)
		return sw_errf(err, -1, "cannot read directory \"%s\": %s", path, strerror(errno));
	size_t plen = strlen(path);
	while (plen > 1 && path[plen - 1] == '/')
		plen--;
	struct dirent *de;
	int r = 0;
	while (r == 0 && (de = readdir(dir))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.')
			continue;
		struct buf p = BUF_INIT;
		if (plen == 1 && path[0] == '.') /* "envs/prod/hello.yaml", as a user names it */
			buf_adds(&p, de->d_name);
		else
			buf_addf(&p, "%.*s%s%s", (int)plen, path, path[plen - 1] == '/' ? "" : "/", de->d_name);
		struct stat sb;
		if (stat(p.s, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			if (depth < 16)
				r = walk_dir(p.s, depth + 1, out, n, err);
			buf_release(&p);
			continue;
		}
		bool yaml = (l > 5 && strcmp(de->d_name + l - 5, ".yaml") == 0) ||
			    (l > 4 && strcmp(de->d_name + l - 4, ".yml") == 0);
		if (!yaml) {
			buf_release(&p);
			continue;
		}
		*out = xrealloc(*out, (*n + 1) * sizeof(char *));
		(*out)[(*n)++] = buf_detach(&p);
	}
	closedir(dir);
	return r;
}

int cli_paths_check(const char *cmd, const struct cli_paths *paths, const char *base_dir)
{
	size_t stdin_n = 0;
	for (size_t i = 0; i < paths->n; i++)
		stdin_n += strcmp(paths->v[i], "-") == 0;
	if (stdin_n > 1)
		return sw_opt_error(cmd, "-f - (stdin) can be given once");
	if (base_dir && !stdin_n)
		return sw_opt_error(cmd, "--base-dir goes with -f - (stdin) only");
	return 0;
}

void cli_files_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int cli_collect_files(const struct cli_paths *paths, char ***out, size_t *n, struct sw_err *err)
{
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < paths->n; i++) {
		const char *path = paths->v[i];
		struct stat sb;
		if (strcmp(path, "-") != 0 && stat(path, &sb) < 0)
			return sw_errf(err, -1, "cannot read \"%s\": %s", path, strerror(errno));
		if (strcmp(path, "-") == 0 || !S_ISDIR(sb.st_mode)) {
			*out = xrealloc(*out, (*n + 1) * sizeof(char *));
			(*out)[(*n)++] = xstrdup(path);
			continue;
		}
		size_t from = *n;
		if (walk_dir(path, 0, out, n, err) < 0)
			return -1;
		if (*n == from)
			return sw_errf(err, -1, "no *.yaml or *.yml files in \"%s\"", path);
		qsort(*out + from, *n - from, sizeof(char *), cmp_str);
	}
	return 0;
}

/* The absolute path the daemon resolves `name`'s relative paths from (its
 * directory's): the file's real path, or for stdin BASE_DIR/(stdin), with
 * the base said on stderr. */
static char *abs_of(const char *name, const char *base_dir, struct sw_err *err)
{
	bool in = strcmp(name, "-") == 0;
	char *abs = realpath(in ? base_dir : name, NULL);
	if (!abs) {
		if (in)
			sw_errf(err, -1, "--base-dir \"%s\": %s", base_dir, strerror(errno));
		else
			sw_errf(err, -1, "cannot resolve \"%s\": %s", name, strerror(errno));
		return NULL;
	}
	if (!in)
		return abs;
	fprintf(stderr, "(stdin: relative paths from %s)\n", abs);
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s%s(stdin)", abs, strcmp(abs, "/") == 0 ? "" : "/");
	free(abs);
	return buf_detach(&b);
}

int cli_apply_body(const struct cli_paths *paths, const char *base_dir, json_t **out)
{
	const char *path = paths->v[0];
	char **names = NULL;
	size_t n = 0;
	uint64_t total = 0;
	struct sw_err err = {0};
	json_t *files = json_array();
	int r = 1;
	*out = NULL;
	if (cli_collect_files(paths, &names, &n, &err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct buf content = BUF_INIT;
		bool in = strcmp(names[i], "-") == 0;
		char *abs = NULL;
		if (cli_read_doc_file(names[i], &content, &err) < 0 ||
		    spec_check_size(path, total += content.len, true, &err) < 0 ||
		    !(abs = abs_of(names[i], base_dir ? base_dir : ".", &err))) {
			buf_release(&content);
			goto out;
		}
		json_array_append_new(files, json_pack("{s:s, s:s%, s:s}", "path", abs, "content",
						       buf_str(&content), content.len, "name",
						       in ? "stdin" : names[i]));
		free(abs);
		buf_release(&content);
	}
	*out = json_pack("{s:O}", "files", files);
	r = 0;
out:
	if (r)
		fprintf(stderr, "slipway: %s\n", err.msg);
	json_decref(files);
	cli_files_free(names, n);
	return r;
}

const char *cli_kind_word(const char *kind, char *out, size_t size)
{
	size_t i = 0;
	for (; kind[i] && i + 1 < size; i++)
		out[i] = (char)tolower((unsigned char)kind[i]);
	out[i] = '\0';
	return out;
}

static void print_results(json_t *results, bool dry_run)
{
	size_t i;
	json_t *x;
	json_array_foreach(results, i, x) {
		char kind[64], name[200];
		printf("%s/%s %s", cli_kind_word(cli_jstr(x, "kind"), kind, sizeof(kind)),
		       cli_app_label(x, "name", name, sizeof(name)), cli_jstr(x, "result"));
		if (dry_run)
			printf(" (dry run)\n");
		else if (json_is_integer(json_object_get(x, "revision")))
			printf(" (revision %lld)\n", cli_jint(x, "revision"));
		else
			printf("\n");
	}
}

/* How bad a wait's exit code is, for several apps: Degraded or a failed
 * call first, then a timeout, then a pause, then Healthy. */
static int wait_rank(int code)
{
	return code == 0 ? 0 : code == CLI_EXIT_PAUSED ? 1 : code == CLI_EXIT_TIMEOUT ? 2 : 3;
}

/* apply --wait: each changed app's rollout in turn, all within timeout_ms;
 * the exit code is the worst of them (wait_rank). */
static int wait_all(struct cli *c, json_t *results, uint64_t timeout_ms, bool quiet)
{
	uint64_t start = sw_now_ms();
	int r = 0;
	size_t i;
	json_t *x;
	json_array_foreach(results, i, x) {
		if (strcmp(cli_jstr(x, "kind"), "App") != 0)
			continue;
		uint64_t used = sw_now_ms() - start;
		/* 1 ms left still reads the app once and reports a timeout */
		uint64_t left = !timeout_ms ? 0 : used < timeout_ms ? timeout_ms - used : 1;
		/* each app in its own environment: one apply may hold several */
		const char *selected = c->environment;
		c->environment = cli_jstr(x, "environment");
		int code = cli_wait_rollout(c, cli_jstr(x, "name"), cli_jint(x, "revision"), left, quiet);
		c->environment = selected;
		if (wait_rank(code) > wait_rank(r))
			r = code;
	}
	return r;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct apply_opts o = {.timeout_ms = 300000};
	int n = sw_opt_parse(&cli_cmd_apply.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	if (cli_paths_check("apply", &o.files, o.base_dir) != 0)
		return SW_OPT_EXIT_USAGE;
	if (o.wait && o.dry_run)
		return sw_opt_error("apply", "--wait cannot go with --dry-run (nothing rolls out)");
	if (o.reason && !o.override_window)
		return sw_opt_error("apply", "--reason goes with --override-window");
	if (o.override_window && !o.reason)
		return sw_opt_error("apply", "--override-window needs --reason TEXT: why the sync "
				    "windows are overridden (it is recorded with who did it)");
	if (o.override_window && o.dry_run)
		return sw_opt_error("apply", "--override-window cannot go with --dry-run (nothing "
				    "rolls out)");

	int r = 1;
	json_t *body = NULL, *res = NULL;
	if (cli_apply_body(&o.files, o.base_dir, &body) != 0)
		goto out;
	if (o.override_window)
		json_object_update_new(body, json_pack("{s:b, s:s}", "overrideWindow", 1, "reason",
						       o.reason));
	if (cli_call(c, "POST", o.dry_run ? "/v1/apply?dryRun=true" : "/v1/apply", body, &res) != 0)
		goto out;
	json_t *results = json_object_get(res, "results");
	if (o.json)
		cli_json_print(res);
	else
		print_results(results, o.dry_run);
	fflush(stdout);
	r = o.wait ? wait_all(c, results, o.timeout_ms, o.json) : 0;
out:
	json_decref(body);
	json_decref(res);
	return r;
}

const struct cli_command cli_cmd_apply = {
	.summary = "send documents to the daemon; changed apps are rolled out",
	.run = run,
	.usage = {
		.name = "apply",
		.opts = options,
		.help = "Sends the documents in PATH (a file, a directory of *.yaml / *.yml read with\n"
			"its subdirectories, or - for stdin) to the daemon; -f may be given several\n"
			"times, and the files are read together, so that an environment's Patches\n"
			"meet their base Apps (-e ENV selects the environment: docs/environments.md,\n"
			"\"Overlays\"). Nothing is stored unless every document is valid.\n"
			"Prints kind/NAME created, configured or unchanged per document. A changed\n"
			"App gets a new revision and is rolled out. Relative paths in a document\n"
			"are from its file's directory; for stdin from --base-dir DIR (default:\n"
			"the current directory), said on stderr.\n"
			"--dry-run: the daemon checks and decides exactly as for a real apply and\n"
			"stores nothing (no revision, no event, no rollout); `slipway diff` shows\n"
			"the changes. --wait waits for the rollouts: exit 0 once Healthy and the\n"
			"proxy serves the routes, 1 Degraded or aborted, 3 paused until someone\n"
			"promotes (the message names the command), 4 when --timeout runs out.\n"
			"A new revision of an app in an environment with sync windows waits\n"
			"while they are closed (Waiting, the reason says until when; --wait waits\n"
			"through it); --override-window --reason TEXT starts it anyway, recorded\n"
			"as the event WindowOverridden with who and why.",
	},
};
