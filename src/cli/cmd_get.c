/* slipway get apps: every app with its phase, the revision that serves
 * and the one rolling out, each with its ready instances, and the
 * canary's share of requests (like `kubectl argo rollouts get`). */
#include "cli_int.h"

#include <string.h>

/* "2 (1.0.0)" and "2/2" for one side of the app ("-" when there is none). */
static void side_cells(json_t *side, char *rev, size_t rsize, char *ready, size_t size)
{
	if (!json_is_object(side)) {
		snprintf(rev, rsize, "-");
		snprintf(ready, size, "-");
		return;
	}
	snprintf(rev, rsize, "%lld (%s)", cli_jint(side, "revision"), cli_jstr(side, "version"));
	snprintf(ready, size, "%lld/%lld", cli_jint(side, "ready"), cli_jint(side, "desired"));
}

static int run(struct cli *c, int argc, char **argv)
{
	struct cli_json_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_get.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	if (strcmp(argv[1], "apps") != 0 && strcmp(argv[1], "app") != 0)
		return sw_opt_error("get", "unknown resource \"%s\" (try \"apps\")", argv[1]);
	json_t *j = NULL;
	if (cli_call(c, "GET", "/v1/apps", NULL, &j) != 0)
		return 1;
	if (o.json) {
		cli_json_print(j);
		json_decref(j);
		return 0;
	}
	struct cli_table t;
	cli_table_init(&t, 8);
	cli_table_row(&t, "NAME", "STRATEGY", "PHASE", "STABLE", "READY", "CANARY", "CANARY-READY",
		      "WEIGHT");
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(j, "apps"), i, a) {
		char stable[96], ready[32], canary[96], cready[32], weight[16];
		side_cells(json_object_get(a, "stable"), stable, sizeof(stable), ready, sizeof(ready));
		side_cells(json_object_get(a, "canary"), canary, sizeof(canary), cready,
			   sizeof(cready));
		if (json_is_integer(json_object_get(a, "weight")))
			snprintf(weight, sizeof(weight), "%lld%%", cli_jint(a, "weight"));
		else
			snprintf(weight, sizeof(weight), "-");
		cli_table_row(&t, cli_jstr(a, "name"), cli_jstr(a, "strategy"), cli_jstr(a, "phase"),
			      stable, ready, canary, cready, weight);
	}
	if (t.nrows == 1)
		printf("no apps; deploy one with `slipway apply -f app.yaml`\n");
	else
		cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(j);
	return 0;
}

const struct cli_command cli_cmd_get = {
	.summary = "list apps",
	.run = run,
	.usage = {
		.name = "get",
		.args = "apps",
		.min_args = 1,
		.max_args = 1,
		.opts = cli_json_options,
		.help = "Lists apps: strategy, phase, the stable revision (version) and its ready\n"
			"instances out of those wanted, the revision rolling out (canary, preview\n"
			"or rolling update) with its own, and the canary's share of requests.",
	},
};
