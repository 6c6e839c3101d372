/* slipway apply: send documents to the daemon, optionally wait for the rollouts. */
#include "cli_int.h"

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
	const char *file;
	bool wait;
	uint64_t timeout_ms;
	bool json;
};

static const struct sw_opt options[] = {
	{.name = "filename", .letter = 'f', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct apply_opts, file, const char *), .value = "PATH", .required = true,
	 .help = "a file, a directory of *.yaml / *.yml, or - for stdin"},
	{.name = "wait", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct apply_opts, wait, bool),
	 .help = "wait until each changed app is Healthy (exit 0) or Degraded (exit 1)"},
	{.name = "timeout", .kind = SW_OPT_DURATION,
	 .offset = SW_OPT_AT(struct apply_opts, timeout_ms, uint64_t), .value = "DUR",
	 .expect = "be a duration like 90s", .help = "how long --wait waits (default 5m)"},
	CLI_OPT_JSON(struct apply_opts),
	{0},
};

static int read_file(const char *path, struct buf *out, struct sw_err *err)
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

/* Appends {path, content} of every file under `path` to the array files. */
static int add_files(json_t *files, const char *path, struct sw_err *err)
{
	char **names = NULL;
	size_t n = 0;
	uint64_t total = 0;
	int r = -1;
	if (collect_files(path, &names, &n, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct buf content = BUF_INIT, name = BUF_INIT;
		char cwd[PATH_MAX] = ".";
		if (read_file(names[i], &content, err) < 0) {
			buf_release(&content);
			goto out;
		}
		total += content.len;
		if (spec_check_size(path, total, true, err) < 0) {
			buf_release(&content);
			goto out;
		}
		if (strcmp(names[i], "-") == 0 && getcwd(cwd, sizeof(cwd)))
			buf_addf(&name, "%s/stdin.yaml", cwd);
		else
			buf_adds(&name, names[i]);
		json_array_append_new(files, json_pack("{s:s, s:s%}", "path", name.s, "content",
						       buf_str(&content), content.len));
		buf_release(&name);
		buf_release(&content);
	}
	r = 0;
out:
	free_strv(names, n);
	return r;
}

static void print_results(json_t *results)
{
	size_t i;
	json_t *x;
	json_array_foreach(results, i, x) {
		if (strcmp(cli_jstr(x, "kind"), "App") == 0)
			printf("app/%s %s (revision %lld)\n", cli_jstr(x, "name"),
			       cli_jstr(x, "result"), cli_jint(x, "revision"));
		else
			printf("%s/%s %s\n", cli_jstr(x, "kind"), cli_jstr(x, "name"),
			       cli_jstr(x, "result"));
	}
}

static int run(struct cli *c, int argc, char **argv)
{
	struct apply_opts o = {.timeout_ms = 300000};
	int n = sw_opt_parse(&cli_cmd_apply.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);

	struct sw_err err = {0};
	int r = 1;
	json_t *body = json_object(), *files = json_array(), *res = NULL;
	json_object_set_new(body, "files", files);
	if (add_files(files, o.file, &err) < 0) {
		fprintf(stderr, "slipway: %s\n", err.msg);
		goto out;
	}
	if (cli_call(c, "POST", "/v1/apply", body, &res) != 0)
		goto out;
	json_t *results = json_object_get(res, "results");
	if (o.json)
		cli_json_print(res);
	else
		print_results(results);
	r = 0;
	if (o.wait) {
		size_t i;
		json_t *x;
		fflush(stdout);
		json_array_foreach(results, i, x) {
			if (strcmp(cli_jstr(x, "kind"), "App") == 0 &&
			    cli_wait_rollout(c, cli_jstr(x, "name"), cli_jint(x, "revision"),
					     o.timeout_ms, o.json) != 0)
				r = 1;
		}
	}
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
		.help = "Sends the documents in PATH (a file, a directory of *.yaml / *.yml, or - for\n"
			"stdin) to the daemon. Nothing is stored unless every document is valid.\n"
			"A changed App gets a new revision and is rolled out; --wait waits until it\n"
			"is Healthy and the proxy serves its routes (exit 0), or Degraded (exit 1).",
	},
};
