/* slipway rollout ACTION APP: operate a rollout, or show (and watch) it. */
#include "cli_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/core.h"

struct rollout_opts {
	bool full, force, watch, json;
	uint64_t timeout_ms;
	const char *reason;
};

static const struct sw_opt options[] = {
	{.name = "watch", .letter = 'w', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct rollout_opts, watch, bool),
	 .help = "status: one line a second until the rollout ends"},
	{.name = "full", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct rollout_opts, full, bool),
	 .help = "promote: skip the remaining steps and analysis"},
	{.name = "force", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct rollout_opts, force, bool),
	 .help = "abort: roll back even after a contract migration (a Frozen rollout)"},
	{.name = "timeout", .kind = SW_OPT_DURATION,
	 .offset = SW_OPT_AT(struct rollout_opts, timeout_ms, uint64_t), .value = "DUR",
	 .expect = "be a duration like 90s",
	 .help = "status --watch: give up after DUR (exit 4; default: no limit)"},
	{.name = "reason", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct rollout_opts, reason, const char *),
	 .value = "TEXT", .help = "override: why the sync window is passed (required; recorded)"},
	CLI_OPT_JSON(struct rollout_opts),
	{0},
};

/* Each action and what `app/NAME ...` says once it is done. */
static const struct {
	const char *name, *done;
} actions[] = {
	{"status", NULL}, {"promote", "promoted"}, {"abort", "aborted"}, {"pause", "paused"},
	{"resume", "resumed"}, {"retry", "retried"}, {"undo", "undone"},
	{"restart", "restarted"}, {"override", "overridden"}, {"history", NULL},
};
#define NACTIONS (sizeof(actions) / sizeof(actions[0]))

/* The step being run, capped at the number of steps (it passes the last
 * one when the rollout completes). */
static long long current_step(json_t *r)
{
	long long step = cli_jint(r, "step"), steps = cli_jint(r, "steps");
	return step > steps ? steps : step;
}

/* One line of `rollout status --watch`: time, phase, step, per-revision
 * role, weight, request rate, success rate and p99, and the reason. */
static void rollout_line(json_t *j)
{
	char t[16];
	time_t now = time(NULL);
	strftime(t, sizeof(t), "%H:%M:%S", localtime(&now));
	const char *phase = cli_jstr(j, "phase");
	/* padded to 11 as the plain word would be */
	printf("%s %s%*s", t, cli_phase_color(stdout, phase),
	       (int)(strlen(phase) < 11 ? 11 - strlen(phase) : 0), "");
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
		printf(" | r%lld %s %3lld%% %s ok %s p99 %s", cli_jint(g, "revision"),
		       cli_jstr(g, "role"), cli_jint(g, "weight"), rate, succ, p99);
	}
	printf(" | %s\n", cli_jstr(j, "reason"));
	fflush(stdout);
}

static void rollout_print(json_t *j)
{
	printf("Name:       %s\n", cli_jstr(j, "name"));
	printf("Phase:      %s\n", cli_phase_color(stdout, cli_jstr(j, "phase")));
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

/* promote, abort, pause, resume, retry, undo, restart: one POST; prints
 * the state after it ("app/hello promoted: Progressing, step 3/4, canary
 * weight 50% - ..."). */
static int operate(struct cli *c, const struct rollout_opts *o, const char *action,
		   const char *done, const char *app)
{
	struct buf path = BUF_INIT;
	json_t *j = NULL, *body = json_pack("{s:b, s:b}", "full", o->full, "force", o->force);
	if (o->reason)
		json_object_set_new(body, "reason", json_string(o->reason));
	cli_pathf(&path, "/v1/apps/%s/rollout/%s", app, action);
	int r = cli_call(c, "POST", path.s, body, &j);
	json_decref(body);
	buf_release(&path);
	if (r)
		return r;
	if (o->json) {
		cli_json_print(j);
	} else {
		json_t *ro = json_object_get(j, "rollout");
		printf("app/%s %s: %s", app, done, cli_phase_color(stdout, cli_jstr(j, "phase")));
		if (ro && strcmp(cli_jstr(ro, "strategy"), "canary") == 0 &&
		    cli_jint(j, "revision") != cli_jint(j, "stableRevision"))
			printf(", step %lld/%lld, canary weight %lld%%", current_step(ro),
			       cli_jint(ro, "steps"), cli_jint(ro, "weight"));
		printf(" - %s\n", cli_jstr(j, "reason"));
	}
	json_decref(j);
	return 0;
}

/* status: once (exit 0 Healthy, 3 Paused, else 1), or (--watch) a line a
 * second until the rollout ends (cli_rollout_end) or --timeout. */
static int status(struct cli *c, const struct rollout_opts *o, const char *app)
{
	struct buf path = BUF_INIT;
	int r = 0;
	uint64_t start = sw_now_ms();
	char msg[768];
	int64_t watched = 0; /* the revision whose rollout --watch follows */
	cli_pathf(&path, "/v1/apps/%s", app);
	for (;;) {
		json_t *j = NULL;
		if (cli_call(c, "GET", path.s, NULL, &j) != 0) {
			r = 1;
			break;
		}
		/* --watch ends once the data plane serves the rollout too; it
		 * follows the revision rolling out when it began, and a newer one
		 * that took its place, but a rollout aborted is the end */
		int end = cli_rollout_end(c, j, watched, msg, sizeof(msg));
		if (o->watch && end < 0)
			watched = cli_jint(j, "revision");
		bool healthy = strcmp(cli_jstr(j, "phase"), "Healthy") == 0;
		r = end >= 0 ? end : healthy && !o->watch ? 0 : 1;
		if (o->json) {
			cli_json_print_line(j);
			fflush(stdout);
		} else if (o->watch)
			rollout_line(j);
		else
			rollout_print(j);
		json_decref(j);
		if (msg[0] && o->watch) {
			fprintf(o->json ? stderr : stdout, "%s\n", msg);
			fflush(stdout);
		}
		if (!o->watch || end >= 0)
			break;
		if (o->timeout_ms && sw_now_ms() - start >= o->timeout_ms) {
			char d[32];
			sw_duration_format(d, sizeof(d), o->timeout_ms);
			fprintf(stderr, "slipway: %s: timed out after %s waiting for its rollout\n", app, d);
			r = CLI_EXIT_TIMEOUT;
			break;
		}
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
	}
	buf_release(&path);
	return r;
}

/* `rollout history APP ...` is `history APP ...`: the first argument that
 * is not an option (nor an option's value) is the action. */
static int history_index(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--timeout") == 0 || strcmp(argv[i], "--limit") == 0 ||
		    strcmp(argv[i], "--reason") == 0) {
			i++;
			continue;
		}
		if (argv[i][0] != '-')
			return strcmp(argv[i], "history") == 0 ? i : -1;
	}
	return -1;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct rollout_opts o = {0};
	int h = history_index(argc, argv);
	if (h > 0) {
		/* argv without "history", named "history" for its messages */
		char **hv = xcalloc((size_t)argc, sizeof(*hv));
		int n = 0;
		hv[n++] = "history";
		for (int i = 1; i < argc; i++)
			if (i != h)
				hv[n++] = argv[i];
		int r = cli_history_run(c, n, hv);
		free(hv);
		return r;
	}
	int n = sw_opt_parse(&cli_cmd_rollout.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	const char *action = argv[1], *app = argv[2], *done = NULL;
	bool known = false;
	for (size_t i = 0; i < NACTIONS && !known; i++)
		if (strcmp(action, actions[i].name) == 0) {
			known = true;
			done = actions[i].done;
		}
	if (!known)
		return sw_opt_error("rollout", "unknown rollout command \"%s\" (status, promote, "
				    "abort, pause, resume, retry, undo, restart, override, history)", action);
	if (o.force && strcmp(action, "abort") != 0)
		return sw_opt_error("rollout", "--force goes with abort only, not \"%s\"", action);
	if (o.full && strcmp(action, "promote") != 0)
		return sw_opt_error("rollout", "--full goes with promote only, not \"%s\"", action);
	if (o.reason && strcmp(action, "override") != 0)
		return sw_opt_error("rollout", "--reason goes with override only, not \"%s\"", action);
	if (!o.reason && strcmp(action, "override") == 0)
		return sw_opt_error("rollout", "override needs --reason TEXT: why the sync window is "
				    "passed (it is recorded with who did it)");
	if ((o.watch || o.timeout_ms) && strcmp(action, "status") != 0)
		return sw_opt_error("rollout", "--%s goes with status only, not \"%s\"",
				    o.watch ? "watch" : "timeout", action);
	if (strcmp(action, "status") == 0)
		return status(c, &o, app);
	return operate(c, &o, action, done, app);
}

const struct cli_command cli_cmd_rollout = {
	.summary = "show, watch or operate an app's rollout",
	.run = run,
	.usage = {
		.name = "rollout",
		.args = "status|promote|abort|pause|resume|retry|undo|restart|override|history APP",
		.min_args = 2,
		.max_args = 2,
		.opts = options,
		.help = "Operates a rollout; each action prints the state after it. status shows the\n"
			"step, weights, per-revision traffic and analysis; exit 0 Healthy, 1\n"
			"Degraded or Frozen, 3 Paused. --watch: a line a second until it ends: exit 0\n"
			"once Healthy and served by the proxy, 1 Degraded, Frozen or aborted, 3 on a\n"
			"pause that waits for promote or resume (the message names the command), 4\n"
			"when --timeout DUR runs out first.\n"
			"promote takes the next step now (--full: skip the remaining steps and\n"
			"analysis); abort sends all traffic back to stable, except after a contract\n"
			"migration, when it freezes the rollout (--force: roll back anyway); pause\n"
			"and resume hold and continue; retry re-runs an aborted rollout; undo goes\n"
			"back to the previous revision at once, without steps or analysis. restart\n"
			"replaces every instance of the serving revision one at a time (a new one\n"
			"ready before an old one stops; no steps, no analysis, no new revision).\n"
			"override --reason TEXT starts a revision that waits for its environment's\n"
			"sync window now (promote does not pass a window); the reason is recorded\n"
			"with who overrode it (event WindowOverridden).\n"
			"history APP [--limit N] is `slipway history`.",
	},
};
