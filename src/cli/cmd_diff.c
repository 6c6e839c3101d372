/*
 * slipway diff: what a change would do to the live documents, as kubectl
 * diff shows it, for one of three inputs:
 *
 *	-f PATH        a dry run of applying PATH (POST /v1/apply?dryRun=true:
 *	               the same parse, checks and decisions), live vs merged;
 *	--source NAME  the source's plan (POST /v1/sources/NAME/sync?dryRun=
 *	               true: fetch, then a dry run of its commit), live vs the
 *	               commit's documents ("desired"); an app git would prune
 *	               has live only (prune on: shown removed), one it would
 *	               keep (prune off) is noted on stderr;
 *	APP            that plan, of the app's owner source, for the app only.
 *
 * Each document's two sides are written as YAML (cli_yaml_emit) to
 * live/KIND/NAME and merged/KIND/NAME in a temporary directory and
 * compared by `diff -u -N -r live merged` there, coloured as --color says,
 * or by $SLIPWAY_EXTERNAL_DIFF (a command and its arguments, split on
 * blanks, given the two directories), like KUBECTL_EXTERNAL_DIFF.
 * Exit 0: no differences, 1: differences, >1: an error.
 */
#include "cli_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/core.h"

#define EXIT_ERROR 2

enum diff_color { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER };

struct diff_opts {
	struct cli_paths files;
	const char *base_dir;
	const char *source;
	int color; /* enum diff_color */
};

static int parse_color(void *field, const char *value)
{
	static const char *const words[] = {"auto", "always", "never"};
	for (int i = 0; i < 3; i++)
		if (strcmp(value, words[i]) == 0) {
			*(int *)field = i;
			return 0;
		}
	return -1;
}

static const struct sw_opt options[] = {
	{.name = "filename", .letter = 'f', .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct diff_opts, files, struct cli_paths), .value = "PATH",
	 .parse = cli_path_add, .expect = CLI_PATHS_EXPECT,
	 .help = "a file, a directory (with its subdirectories) or - for stdin; repeatable"},
	{.name = "base-dir", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct diff_opts, base_dir, const char *), .value = "DIR",
	 .help = "relative paths of -f - documents are from DIR (default: .)"},
	{.name = "source", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct diff_opts, source, const char *), .value = "SOURCE",
	 .help = "git (the source's newest commit) against the live documents"},
	{.name = "color", .kind = SW_OPT_CUSTOM, .offset = SW_OPT_AT(struct diff_opts, color, int),
	 .value = "always|never|auto", .expect = "be always, never or auto", .parse = parse_color,
	 .help = "colour the diff (default auto: on a terminal, unless NO_COLOR is set)"},
	{0},
};

/* What was written under the temporary directory, to remove it after. */
struct tree {
	struct buf root;
	char **paths; /* relative to root, files before the directories that hold them */
	size_t n;
};

static void tree_note(struct tree *t, const char *rel)
{
	t->paths = xrealloc(t->paths, (t->n + 1) * sizeof(*t->paths));
	t->paths[t->n++] = xstrdup(rel);
}

static void tree_remove(struct tree *t)
{
	struct buf p = BUF_INIT;
	for (size_t i = 0; i < t->n; i++) {
		buf_reset(&p);
		buf_addf(&p, "%s/%s", t->root.s, t->paths[i]);
		if (unlink(p.s) < 0)
			rmdir(p.s); /* a directory: its files went before it */
		free(t->paths[i]);
	}
	if (t->root.len)
		rmdir(t->root.s);
	buf_release(&p);
	free(t->paths);
	buf_release(&t->root);
}

/* Makes root/rel (a directory) unless it is there; 0 or -1 with err. */
static int tree_dir(struct tree *t, const char *rel, struct sw_err *err)
{
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/%s", t->root.s, rel);
	int r = mkdir(p.s, 0700);
	if (r < 0 && errno != EEXIST)
		sw_errf(err, -1, "cannot make \"%s\": %s", p.s, strerror(errno));
	buf_release(&p);
	if (r < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Writes j as YAML to root/side/kind/name. */
static int tree_file(struct tree *t, const char *side, const char *kind, const char *name,
		     json_t *j, struct sw_err *err)
{
	struct buf rel = BUF_INIT, p = BUF_INIT, yaml = BUF_INIT;
	int r = -1;
	buf_addf(&rel, "%s/%s", side, kind);
	if (tree_dir(t, rel.s, err) < 0)
		goto out;
	buf_addf(&rel, "/%s", name);
	buf_addf(&p, "%s/%s", t->root.s, rel.s);
	cli_yaml_emit(&yaml, j);
	FILE *f = fopen(p.s, "wx");
	if (!f) {
		sw_errf(err, -1, "cannot write \"%s\": %s", p.s, strerror(errno));
		goto out;
	}
	bool ok = fwrite(buf_str(&yaml), 1, yaml.len, f) == yaml.len;
	ok &= fclose(f) == 0;
	tree_note(t, rel.s);
	if (!ok) {
		sw_errf(err, -1, "cannot write \"%s\"", p.s);
		goto out;
	}
	r = 0;
out:
	buf_release(&rel);
	buf_release(&p);
	buf_release(&yaml);
	return r;
}

/* A name that is one file name (the daemon's names are; checked anyway). */
static bool plain_name(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Writes every result's live and merged side; the kind directories of
 * both sides are made (and noted for removal) after the files. */
static int write_results(struct tree *t, json_t *results, struct sw_err *err)
{
	size_t i;
	json_t *x;
	if (tree_dir(t, "live", err) < 0 || tree_dir(t, "merged", err) < 0)
		return -1;
	char **kinds = NULL;
	size_t nkinds = 0;
	int r = 0;
	json_array_foreach(results, i, x) {
		char kind[64], file[200];
		const char *name = cli_jstr(x, "name"), *env = json_string_value(json_object_get(x, "environment"));
		cli_kind_word(cli_jstr(x, "kind"), kind, sizeof(kind));
		if (!plain_name(name) || !plain_name(kind) || (env && !plain_name(env))) {
			r = sw_errf(err, -1, "the daemon sent a document named \"%s/%s\"", kind, name);
			break;
		}
		bool seen = false;
		for (size_t k = 0; k < nkinds && !seen; k++)
			seen = strcmp(kinds[k], kind) == 0;
		if (!seen) {
			kinds = xrealloc(kinds, (nkinds + 1) * sizeof(*kinds));
			kinds[nkinds++] = xstrdup(kind);
			struct buf d = BUF_INIT;
			buf_addf(&d, "live/%s", kind);
			r = tree_dir(t, d.s, err);
			buf_reset(&d);
			buf_addf(&d, "merged/%s", kind);
			if (r == 0)
				r = tree_dir(t, d.s, err);
			buf_release(&d);
			if (r < 0)
				break;
		}
		/* an app of another environment than default: ENV.NAME (no
		 * name holds a '.'), so that one name in two reads apart */
		if (env && *env && strcmp(env, "default") != 0)
			snprintf(file, sizeof(file), "%s.%s", env, name);
		else
			snprintf(file, sizeof(file), "%s", name);
		json_t *live = json_object_get(x, "live"), *merged = json_object_get(x, "merged");
		if ((json_is_object(live) && tree_file(t, "live", kind, file, live, err) < 0) ||
		    (json_is_object(merged) && tree_file(t, "merged", kind, file, merged, err) < 0)) {
			r = -1;
			break;
		}
	}
	for (size_t k = 0; k < nkinds; k++) {
		struct buf d = BUF_INIT;
		buf_addf(&d, "live/%s", kinds[k]);
		tree_note(t, d.s);
		buf_reset(&d);
		buf_addf(&d, "merged/%s", kinds[k]);
		tree_note(t, d.s);
		buf_release(&d);
		free(kinds[k]);
	}
	free(kinds);
	tree_note(t, "live");
	tree_note(t, "merged");
	return r;
}

/* Runs the diff program in dir on "live" and "merged"; its exit code, or
 * EXIT_ERROR when it could not run or died. `color` goes to diff as
 * --color, never to an external diff (its own options are the user's). */
static int run_diff(const char *dir, bool color)
{
	const char *ext = getenv("SLIPWAY_EXTERNAL_DIFF");
	bool external = ext && *ext;
	char *words = xstrdup(external ? ext : color ? "diff -u -N -r --color=always" : "diff -u -N -r");
	char **argv = NULL;
	size_t n = 0;
	for (char *w = words; *w;) {
		if (*w == ' ' || *w == '\t') {
			*w++ = '\0';
			continue;
		}
		argv = xrealloc(argv, (n + 4) * sizeof(*argv));
		argv[n++] = w;
		w += strcspn(w, " \t");
	}
	int r = EXIT_ERROR;
	if (!n) {
		fprintf(stderr, "slipway: SLIPWAY_EXTERNAL_DIFF names no command\n");
		goto out;
	}
	argv[n++] = "live";
	argv[n++] = "merged";
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "slipway: cannot run \"%s\": %s\n", argv[0], strerror(errno));
		goto out;
	}
	if (pid == 0) {
		if (chdir(dir) == 0)
			execvp(argv[0], argv);
		fprintf(stderr, "slipway: cannot run \"%s\": %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st))
		r = WEXITSTATUS(st) <= 1 ? WEXITSTATUS(st)
					 : WEXITSTATUS(st) > EXIT_ERROR ? WEXITSTATUS(st) : EXIT_ERROR;
out:
	free(argv);
	free(words);
	return r;
}

/* Writes results ([{kind, name, live, merged}]) and runs the diff on them. */
static int show(json_t *results, bool color)
{
	struct tree t = {.root = BUF_INIT};
	struct sw_err err = {0};
	int r = EXIT_ERROR;
	const char *tmp = getenv("TMPDIR");
	buf_addf(&t.root, "%s/slipway-diff.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(t.root.s)) {
		fprintf(stderr, "slipway: cannot make a directory in \"%s\": %s\n",
			tmp && *tmp ? tmp : "/tmp", strerror(errno));
		buf_reset(&t.root);
		goto out;
	}
	if (write_results(&t, results, &err) < 0) {
		fprintf(stderr, "slipway: %s\n", err.msg);
		goto out;
	}
	r = run_diff(t.root.s, color);
out:
	tree_remove(&t);
	return r;
}

/*
 * The source's plan as results for show(): its "desired" is the merged
 * side; of `app` only when it is not NULL. An app git would keep (prune
 * is off) is said on stderr and left out: a sync changes nothing of it.
 * Returns a new array, or NULL with the error printed.
 */
static json_t *plan_results(struct cli *c, const char *source, const char *app)
{
	struct buf path = BUF_INIT;
	json_t *plan = NULL, *results = NULL, *x;
	size_t i;
	cli_pathf(&path, "/v1/sources/%s/sync?dryRun=true", source);
	if (cli_call(c, "POST", path.s, NULL, &plan) != 0)
		goto out;
	results = json_array();
	json_array_foreach(json_object_get(plan, "plan"), i, x) {
		char kind[64];
		const char *name = cli_jstr(x, "name");
		cli_kind_word(cli_jstr(x, "kind"), kind, sizeof(kind));
		const char *env = json_string_value(json_object_get(x, "environment"));
		if (app && (strcmp(kind, "app") != 0 || strcmp(name, app) != 0 ||
			    strcmp(env ? env : "default", c->environment ? c->environment : "default") != 0))
			continue;
		if (strcmp(cli_jstr(x, "action"), "keep") == 0) {
			fprintf(stderr, "slipway: %s/%s is not in git at %.7s: kept (%s)\n", kind, name,
				cli_jstr(plan, "commit"),
				*cli_jstr(x, "reason") ? cli_jstr(x, "reason") : "prune is off");
			continue;
		}
		json_t *o = json_pack("{s:O, s:O}", "kind", json_object_get(x, "kind"), "name",
				      json_object_get(x, "name"));
		if (env)
			json_object_set_new(o, "environment", json_string(env));
		if (json_is_object(json_object_get(x, "live")))
			json_object_set(o, "live", json_object_get(x, "live"));
		if (json_is_object(json_object_get(x, "desired")))
			json_object_set(o, "merged", json_object_get(x, "desired"));
		json_array_append_new(results, o);
	}
	if (*cli_jstr(plan, "refused"))
		fprintf(stderr, "slipway: a sync refuses commit %.7s: %s\n", cli_jstr(plan, "commit"),
			cli_jstr(plan, "refused"));
out:
	json_decref(plan);
	buf_release(&path);
	return results;
}

/* The source that owns app, into *out (a new string); 0, or EXIT_ERROR
 * with the error printed. */
static int owner_of(struct cli *c, const char *app, char **out)
{
	struct buf path = BUF_INIT;
	json_t *j = NULL;
	int r = EXIT_ERROR;
	*out = NULL;
	cli_pathf(&path, "/v1/apps/%s", app);
	if (cli_call(c, "GET", path.s, NULL, &j) != 0)
		goto out;
	const char *owner = json_string_value(json_object_get(j, "owner"));
	if (!owner || !*owner) {
		fprintf(stderr, "slipway: app \"%s\" is not from a source; use slipway diff -f FILE\n", app);
		goto out;
	}
	*out = xstrdup(owner);
	r = 0;
out:
	json_decref(j);
	buf_release(&path);
	return r;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct diff_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_diff.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	const char *app = n ? argv[1] : NULL;
	if (!!o.files.n + !!o.source + !!app != 1)
		return sw_opt_error("diff", "give exactly one of -f PATH, APP and --source SOURCE");
	if (cli_paths_check("diff", &o.files, o.base_dir) != 0)
		return SW_OPT_EXIT_USAGE;
	if (o.source && strncmp(o.source, "source/", 7) == 0)
		o.source += 7;

	json_t *body = NULL, *res = NULL, *results = NULL;
	char *owner = NULL;
	int r = EXIT_ERROR;
	if (o.files.n) {
		if (cli_apply_body(&o.files, o.base_dir, &body) != 0 ||
		    cli_call(c, "POST", "/v1/apply?dryRun=true", body, &res) != 0)
			goto out;
		results = json_incref(json_object_get(res, "results"));
	} else if (o.source) {
		results = plan_results(c, o.source, NULL);
	} else if (owner_of(c, app, &owner) == 0) {
		results = plan_results(c, owner, app);
	}
	if (results)
		r = show(results, o.color == COLOR_ALWAYS || (o.color == COLOR_AUTO && cli_color_on(stdout)));
out:
	free(owner);
	json_decref(body);
	json_decref(res);
	json_decref(results);
	return r;
}

const struct cli_command cli_cmd_diff = {
	.summary = "show what apply -f or a sync from git would change, as a unified diff",
	.run = run,
	.failure_exit = 2,
	.usage = {
		.name = "diff",
		.args = "[APP]",
		.max_args = 1,
		.opts = options,
		.help = "Shows what would change, for exactly one of: -f PATH, what `slipway apply -f\n"
			"PATH` would do; --source SOURCE, what a sync of the source's newest commit\n"
			"would do (it is fetched first; nothing is applied); APP, the same for one\n"
			"app from git (of the source that owns it). For each document, the live one\n"
			"(the app's desired revision, with its labels) against what the apply or the\n"
			"sync would store, both in the daemon's canonical form as YAML, so that key\n"
			"order, quoting and defaults written out are no difference. The daemon\n"
			"checks the documents as for a real apply and stores nothing. Runs\n"
			"`diff -u -N -r live merged` (headers live/app/NAME, merged/app/NAME; a\n"
			"new document diffs against nothing, an app git would prune against\n"
			"nothing the other way; one it keeps, prune being off, is said on stderr),\n"
			"coloured on a terminal unless NO_COLOR is set (--color), or\n"
			"$SLIPWAY_EXTERNAL_DIFF with the two directories. Exit 0: no differences,\n"
			"1: differences, 2: an error. Secret values show as *** (\"*** (before)\",\n"
			"\"*** (after)\" when changed).",
	},
};
