/* slipway rollout ACTION APP: operate a rollout, or show (and watch) it. */
#include "cli_int.h"

#include <string.h>
#include <time.h>

#include "core/buf.h"

struct rollout_opts {
	bool full, force, watch, json;
};

static const struct sw_opt options[] = {
	{.name = "watch", .letter = 'w', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct rollout_opts, watch, bool),
	 .help = "status: one line a second until the rollout ends"},
	{.name = "full", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct rollout_opts, full, bool),
	 .help = "promote: skip the remaining steps and analysis"},
	{.name = "force", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct rollout_opts, force, bool),
	 .help = "abort: roll back even after a contract migration (a Frozen rollout)"},
	CLI_OPT_JSON(struct rollout_opts),
	{0},
};

static const char *const actions[] = {"status", "promote", "abort", "pause",
				      "resume", "retry", "undo"};

/* The step being run, capped at the number of steps (it passes the last
 * one when the rollout completes). */
static long long current_step(json_t *r)
{
	long long step = cli_jint(r, "step"), steps = cli_jint(r, "steps");
	return step > steps ? steps : step;
}

/* One line of `rollout status --watch`: time, phase, step, per-revision
 * weight, request rate, success rate and p99, and the reason. */
static void rollout_line(json_t *j)
{
	char t[16];
	time_t now = time(NULL);
	strftime(t, sizeof(t), "%H:%M:%S", localtime(&now));
	printf("%s %-11s", t, cli_jstr(j, "phase"));
	json_t *r = json_object_get(j, "rollout");
	if (r && strcmp(cli_jstr(r, "strategy"), "canary") == 0)
		printf(" step %lld/%lld", current_step(r), cli_jint(r, "steps"));
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(j, "groups"), i, g) {
		char rate[32], succ[32], p99[32];
		cli_fmt_metric(rate, sizeof(rate), json_object_get(g, "rate"), 1, "/s");
		cli_fmt_metric(succ, sizeof(succ), json_object_get(g, "successRate"), 100, "%");
		cli_fmt_metric(p99, sizeof(p99), json_object_get(g, "p99Ms"), 1, "ms");
		printf(" | r%lld %3lld%% %s ok %s p99 %s", cli_jint(g, "revision"),
		       cli_jint(g, "weight"), rate, succ, p99);
	}
	printf(" | %s\n", cli_jstr(j, "reason"));
	fflush(stdout);
}

static void rollout_print(json_t *j)
{
	printf("Name:       %s\n", cli_jstr(j, "name"));
	printf("Phase:      %s\n", cli_jstr(j, "phase"));
	printf("Reason:     %s\n", cli_jstr(j, "reason"));
	printf("Revision:   %lld (version %s), stable revision %lld\n", cli_jint(j, "revision"),
	       cli_jstr(j, "version"), cli_jint(j, "stableRevision"));
	json_t *r = json_object_get(j, "rollout");
	if (r) {
		printf("Strategy:   %s", cli_jstr(r, "strategy"));
		if (strcmp(cli_jstr(r, "strategy"), "canary") == 0)
			printf(", step %lld of %lld, canary weight %lld%%", current_step(r),
			       cli_jint(r, "steps"), cli_jint(r, "weight"));
		printf("\n");
		size_t i;
		json_t *x;
		json_array_foreach(json_object_get(r, "analysisRuns"), i, x)
			printf("Analysis:   run %lld (%s) %s%s%s\n", cli_jint(x, "id"),
			       cli_jstr(x, "kind"), cli_jstr(x, "phase"),
			       *cli_jstr(x, "reason") ? ": " : "", cli_jstr(x, "reason"));
	}
	json_t *groups = json_object_get(j, "groups");
	if (json_array_size(groups)) {
		printf("\n");
		cli_print_groups(groups);
	}
}

/* promote, abort, pause, resume, retry, undo: one POST. */
static int operate(struct cli *c, const struct rollout_opts *o, const char *action,
		   const char *app)
{
	struct buf path = BUF_INIT;
	json_t *j = NULL, *body = json_pack("{s:b, s:b}", "full", o->full, "force", o->force);
	cli_pathf(&path, "/v1/apps/%s/rollout/%s", app, action);
	int r = cli_call(c, "POST", path.s, body, &j);
	json_decref(body);
	buf_release(&path);
	if (r)
		return r;
	if (o->json)
		cli_json_print(j);
	else
		printf("app/%s: %s (%s: %s)\n", app, action, cli_jstr(j, "phase"),
		       cli_jstr(j, "reason"));
	json_decref(j);
	return 0;
}

/* status: once, or (--watch) every second until Healthy (0) or Degraded (1). */
static int status(struct cli *c, const struct rollout_opts *o, const char *app)
{
	struct buf path = BUF_INIT;
	int r = 0;
	cli_pathf(&path, "/v1/apps/%s", app);
	for (;;) {
		json_t *j = NULL;
		if (cli_call(c, "GET", path.s, NULL, &j) != 0) {
			r = 1;
			break;
		}
		/* --watch ends once the data plane serves the rollout too */
		bool failed, end = cli_app_done(j, &failed);
		bool healthy = strcmp(cli_jstr(j, "phase"), "Healthy") == 0;
		r = healthy && (end || !o->watch) ? 0 : 1;
		if (o->json) {
			cli_json_print_line(j);
			fflush(stdout);
		} else if (o->watch)
			rollout_line(j);
		else
			rollout_print(j);
		json_decref(j);
		if (!o->watch || end)
			break;
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
	}
	buf_release(&path);
	return r;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct rollout_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_rollout.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	const char *action = argv[1], *app = argv[2];
	bool known = false;
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		known = known || strcmp(action, actions[i]) == 0;
	if (!known)
		return sw_opt_error("rollout", "unknown rollout command \"%s\" (status, promote, abort, pause, resume, retry, undo)",
				    action);
	if (o.force && strcmp(action, "abort") != 0)
		return sw_opt_error("rollout", "--force goes with abort only, not \"%s\"", action);
	if (strcmp(action, "status") == 0)
		return status(c, &o, app);
	return operate(c, &o, action, app);
}

const struct cli_command cli_cmd_rollout = {
	.summary = "show, watch or operate an app's rollout",
	.run = run,
	.usage = {
		.name = "rollout",
		.args = "status|promote|abort|pause|resume|retry|undo APP",
		.min_args = 2,
		.max_args = 2,
		.opts = options,
		.help = "Operates a rollout. status shows the step, weights, per-revision traffic\n"
			"and analysis (--watch: one line a second until it ends; exit 0 when\n"
			"Healthy and served by the proxy, 1 when Degraded or Frozen). promote takes\n"
			"the next step now (--full: skip the remaining steps and analysis); abort\n"
			"sends all traffic back to stable, except after a contract migration, when\n"
			"it freezes the rollout (--force: roll back anyway);\n"
			"pause and resume hold and continue; retry re-runs an aborted rollout; undo\n"
			"goes back to the previous revision at once, without steps or analysis.",
	},
};
