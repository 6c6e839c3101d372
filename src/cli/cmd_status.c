/* slipway status APP: an app's phase, revision, traffic and instances. */
#include "cli_int.h"

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

static void print_status(json_t *j)
{
	printf("Name:       %s\n", cli_jstr(j, "name"));
	printf("Phase:      %s\n", cli_jstr(j, "phase"));
	if (*cli_jstr(j, "reason"))
		printf("Reason:     %s\n", cli_jstr(j, "reason"));
	printf("Revision:   %lld (version %s)", cli_jint(j, "revision"), cli_jstr(j, "version"));
	if (cli_jint(j, "stableRevision") != cli_jint(j, "revision"))
		printf(", stable revision %lld", cli_jint(j, "stableRevision"));
	printf("\nReady:      %lld/%lld\n", cli_jint(j, "ready"), cli_jint(j, "replicas"));
	if (*cli_jstr(j, "listen"))
		printf("Listen:     %s\n", cli_jstr(j, "listen"));
	size_t i;
	json_t *r;
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
		.help = "Shows an app's phase, revision and every instance (pid, port, readiness,\n"
			"restarts, state).",
	},
};
