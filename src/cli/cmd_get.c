/* slipway get apps: every app with its phase, revision and readiness. */
#include "cli_int.h"

#include <string.h>

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
	cli_table_init(&t, 5);
	cli_table_row(&t, "NAME", "PHASE", "REVISION", "VERSION", "READY");
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(j, "apps"), i, a) {
		char rev[32], ready[32];
		snprintf(rev, sizeof(rev), "%lld", cli_jint(a, "revision"));
		snprintf(ready, sizeof(ready), "%lld/%lld", cli_jint(a, "ready"),
			 cli_jint(a, "replicas"));
		cli_table_row(&t, cli_jstr(a, "name"), cli_jstr(a, "phase"), rev,
			      cli_jstr(a, "version"), ready);
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
		.help = "Lists apps with their phase, revision and readiness.",
	},
};
