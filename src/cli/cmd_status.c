/* slipway status APP: an app's phase, revision, traffic and instances. */
#include "cli_int.h"

#include <string.h>

#include "core/buf.h"

static void print_instances(json_t *instances)
{
	struct cli_table t;
	size_t i;
	json_t *x;
	cli_table_init(&t, 9);
	cli_table_row(&t, "INSTANCE", "REVISION", "VERSION", "STATE", "READY", "PID", "PORT",
		      "RESTARTS", "REASON");
	json_array_foreach(instances, i, x) {
		char rev[24], pid[24], port[24], restarts[24];
		snprintf(rev, sizeof(rev), "%lld", cli_jint(x, "revision"));
		snprintf(pid, sizeof(pid), "%lld", cli_jint(x, "pid"));
		snprintf(port, sizeof(port), "%lld", cli_jint(x, "port"));
		snprintf(restarts, sizeof(restarts), "%lld", cli_jint(x, "restarts"));
		cli_table_row(&t, cli_jstr(x, "id"), rev, cli_jstr(x, "version"),
			      cli_jstr(x, "state"),
			      json_is_true(json_object_get(x, "ready")) ? "yes" : "no", pid, port,
			      restarts, cli_jstr(x, "reason"));
	}
	printf("\n");
	if (t.nrows > 1)
		cli_table_print(&t, stdout);
	else
		printf("no instances\n");
	cli_table_release(&t);
}

/* "Stable:     revision 1 (version 1.0.0), 2/2 ready" */
static void print_side(const char *label, json_t *side, const char *extra)
{
	if (!json_is_object(side)) {
		printf("%-11s none\n", label);
		return;
	}
	printf("%-11s revision %lld (version %s), %lld/%lld ready%s\n", label,
	       cli_jint(side, "revision"), cli_jstr(side, "version"), cli_jint(side, "ready"),
	       cli_jint(side, "desired"), extra ? extra : "");
}

static void print_status(json_t *j)
{
	printf("Name:       %s\n", cli_jstr(j, "name"));
	printf("Phase:      %s\n", cli_phase_color(stdout, cli_jstr(j, "phase")));
	if (*cli_jstr(j, "reason"))
		printf("Reason:     %s\n", cli_jstr(j, "reason"));
	printf("Revision:   %lld (version %s)", cli_jint(j, "revision"), cli_jstr(j, "version"));
	if (cli_jint(j, "stableRevision") != cli_jint(j, "revision"))
		printf(", stable revision %lld", cli_jint(j, "stableRevision"));
	printf("\nStrategy:   %s", cli_jstr(j, "strategy"));
	json_t *r = json_object_get(j, "rollout");
	if (json_is_object(json_object_get(j, "canary")) &&
	    strcmp(cli_jstr(j, "strategy"), "canary") == 0) {
		long long step = cli_jint(r, "step"), steps = cli_jint(r, "steps");
		printf(", step %lld/%lld", step > steps ? steps : step, steps);
	}
	printf("\n");
	print_side("Stable:", json_object_get(j, "stable"), NULL);
	if (json_is_object(json_object_get(j, "canary"))) {
		char w[64] = "";
		if (json_is_integer(json_object_get(j, "weight")))
			snprintf(w, sizeof(w), ", %lld%% of requests", cli_jint(j, "weight"));
		print_side(strcmp(cli_jstr(j, "strategy"), "blueGreen") == 0 ? "Preview:" : "Canary:",
			   json_object_get(j, "canary"), w);
	}
	json_t *failed = json_object_get(j, "failed");
	if (json_is_object(failed))
		printf("Failed:     revision %lld (version %s)\n", cli_jint(failed, "revision"),
		       cli_jstr(failed, "version"));
	if (*cli_jstr(j, "listen"))
		printf("Listen:     %s\n", cli_jstr(j, "listen"));
	size_t i;
	json_array_foreach(json_object_get(json_object_get(j, "rollout"), "analysisRuns"), i, r) {
		printf("Analysis:   %s run %lld: %s", cli_jstr(r, "kind"), cli_jint(r, "id"), cli_jstr(r, "phase"));
		if (*cli_jstr(r, "reason"))
			printf(": %s", cli_jstr(r, "reason"));
		printf("\n");
	}
	if (json_array_size(json_object_get(j, "groups"))) {
		printf("\nTraffic (last 10s):\n");
		cli_print_groups(json_object_get(j, "groups"));
	}
	print_instances(json_object_get(j, "instances"));
}

static int run(struct cli *c, int argc, char **argv)
{
	struct cli_json_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_status.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	struct buf path = BUF_INIT;
	cli_pathf(&path, "/v1/apps/%s", argv[1]);
	json_t *j = NULL;
	int r = cli_call(c, "GET", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	if (o.json)
		cli_json_print(j);
	else
		print_status(j);
	json_decref(j);
	return 0;
}

const struct cli_command cli_cmd_status = {
	.summary = "show an app's phase, revision, traffic and instances",
	.run = run,
	.usage = {
		.name = "status",
		.args = "APP",
		.min_args = 1,
		.max_args = 1,
		.opts = cli_json_options,
		.help = "Shows an app's phase and why, its stable revision and the one rolling out\n"
			"(each with its ready instances), a failed revision, analysis runs, traffic\n"
			"and every instance (pid, port, readiness, restarts, state).",
	},
};
