/* slipway sync SOURCE: fetch a source now and apply what it holds. */
#include "cli_int.h"

#include "spec/spec.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"

struct sync_opts {
	bool dry_run, json, wait, resume;
	uint64_t timeout_ms;
};

static const struct sw_opt options[] = {
	{.name = "dry-run", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct sync_opts, dry_run, bool),
	 .help = "show what a sync of the commit last fetched would do, and change nothing"},
	{.name = "resume", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct sync_opts, resume, bool),
	 .help = "sync again the apps a hand rollback paused"},
	{.name = "wait", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct sync_opts, wait, bool),
	 .help = "then wait until every app of the source has rolled out (exit 0), or one fails "
		 "(1) or pauses (3)"},
	{.name = "timeout", .kind = SW_OPT_DURATION,
	 .offset = SW_OPT_AT(struct sync_opts, timeout_ms, uint64_t), .value = "DUR",
	 .expect = "be a duration like 90s", .help = "how long --wait waits (default 5m)"},
	CLI_OPT_JSON(struct sync_opts),
	{0},
};

static void print_plan(json_t *j)
{
	json_t *plan = json_object_get(j, "plan"), *x;
	size_t i, counts[5] = {0};
	static const char *const words[] = {"create", "update", "prune", "keep", "unchanged"};
	printf("source/%s at %.7s:\n", cli_jstr(j, "source"), cli_jstr(j, "commit"));
	json_array_foreach(plan, i, x) {
		const char *a = cli_jstr(x, "action");
		for (size_t k = 0; k < 5; k++)
			if (strcmp(a, words[k]) == 0)
				counts[k]++;
		if (strcmp(a, "unchanged") == 0)
			continue;
		char kind[64];
		snprintf(kind, sizeof(kind), "%s", cli_jstr(x, "kind"));
		for (char *p = kind; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		char name[200];
		cli_app_label(x, "name", name, sizeof(name));
		if (strcmp(a, "keep") == 0)
			printf("  %-9s %s/%s (not in git; %s)\n", a, kind, name,
			       *cli_jstr(x, "reason") ? cli_jstr(x, "reason") : "prune is off");
		else
			printf("  %-9s %s/%s\n", a, kind, name);
	}
	printf("%zu to create, %zu to update, %zu to prune, %zu unchanged\n", counts[0], counts[1],
	       counts[2], counts[4]);
	if (*cli_jstr(j, "refused"))
		printf("refused: %s\n", cli_jstr(j, "refused"));
}

static int run(struct cli *c, int argc, char **argv)
{
	struct sync_opts o = {.timeout_ms = 300000};
	int n = sw_opt_parse(&cli_cmd_sync.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	const char *name = argv[1];
	if (strncmp(name, "source/", 7) == 0)
		name += 7;
	struct buf path = BUF_INIT;
	cli_pathf(&path, o.dry_run ? "/v1/sources/%s/sync?dryRun=true"
		  : o.resume ? "/v1/sources/%s/sync?resume=true" : "/v1/sources/%s/sync", name);
	json_t *j = NULL;
	int r = cli_call(c, "POST", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	if (o.json)
		cli_json_print(j);
	else if (o.dry_run)
		print_plan(j);
	else {
		json_t *commit = json_object_get(j, "commit");
		printf("source/%s synced at %.7s (%s): %s\n", name, cli_jstr(commit, "sha"),
		       cli_jstr(commit, "subject"), cli_jstr(j, "sync"));
		size_t i;
		json_t *d;
		json_array_foreach(json_object_get(j, "drift"), i, d)
			printf("  %s: %s\n", cli_jstr(d, "app"), cli_jstr(d, "reason"));
	}
	if (o.wait && !o.dry_run) {
		size_t i;
		json_t *a;
		fflush(stdout);
		json_array_foreach(json_object_get(j, "apps"), i, a) {
			const char *key = json_string_value(a), *app;
			if (!key || strncmp(key, "source/", 7) == 0 || strncmp(key, "analysistemplate/", 17) == 0)
				continue; /* nothing rolls out */
			/* an app's key: "hello", or "prod/hello" in its environment */
			char env[64];
			const char *selected = c->environment;
			spec_key_split(key, env, &app);
			c->environment = env;
			int w = cli_wait_rollout(c, app, 0, o.timeout_ms, o.json);
			c->environment = selected;
			if (w && !r)
				r = w;
		}
	}
	json_decref(j);
	return r;
}

const struct cli_command cli_cmd_sync = {
	.summary = "fetch a git source now and apply what it holds",
	.run = run,
	.usage = {
		.name = "sync",
		.args = "SOURCE",
		.min_args = 1,
		.max_args = 1,
		.opts = options,
		.help = "Fetches SOURCE (a `kind: Source` document's name) now and applies the\n"
			"documents of the commit it finds, as a poll or a webhook would, also when\n"
			"its syncPolicy.automated is false (this is the manual sync) and when\n"
			"apps were changed outside git (they get the commit's documents again).\n"
			"Exits 0 once applied; 1 when the commit is refused (an invalid document:\n"
			"the message names its file:line:col) or the fetch fails. --dry-run shows\n"
			"the plan for the commit last fetched: what would be created, updated,\n"
			"pruned or kept, and changes nothing. --wait then waits for every app of\n"
			"the source to roll out, as `apply --wait` does (--timeout DUR, default 5m).\n"
			"A hand `slipway rollback` of an app from git pauses its sync (git would\n"
			"undo it); --resume gives such apps git's version again.\n"
			"See docs/gitops.md.",
	},
};
