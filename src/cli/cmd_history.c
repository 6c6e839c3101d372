/* slipway history APP: an app's revisions. */
#include "cli_int.h"

#include "core/buf.h"

static int run(struct cli *c, int argc, char **argv)
{
	struct cli_json_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_history.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	struct buf path = BUF_INIT;
	cli_pathf(&path, "/v1/apps/%s/history", argv[1]);
	json_t *j = NULL;
	int r = cli_call(c, "GET", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	if (o.json) {
		cli_json_print(j);
		json_decref(j);
		return 0;
	}
	struct cli_table t;
	cli_table_init(&t, 5);
	cli_table_row(&t, "REVISION", "VERSION", "CREATED", "STATUS", "SOURCE");
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(j, "revisions"), i, x) {
		char rev[24], status[64] = "";
		snprintf(rev, sizeof(rev), "%lld", cli_jint(x, "revision"));
		bool desired = json_is_true(json_object_get(x, "desired"));
		bool stable = json_is_true(json_object_get(x, "stable"));
		bool failed = json_is_true(json_object_get(x, "failed"));
		snprintf(status, sizeof(status), "%s%s%s", desired ? "desired" : "",
			 desired && (stable || failed) ? "," : "",
			 failed ? "failed" : stable ? "stable" : "");
		cli_table_row(&t, rev, cli_jstr(x, "version"), cli_jstr(x, "created"), status,
			      cli_jstr(x, "source"));
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	/* why each failed one failed, below the table */
	json_array_foreach(json_object_get(j, "revisions"), i, x)
		if (*cli_jstr(x, "failedReason"))
			printf("revision %lld failed: %s\n", cli_jint(x, "revision"),
			       cli_jstr(x, "failedReason"));
	json_decref(j);
	return 0;
}

const struct cli_command cli_cmd_history = {
	.summary = "list an app's revisions",
	.run = run,
	.usage = {
		.name = "history",
		.args = "APP",
		.min_args = 1,
		.max_args = 1,
		.opts = cli_json_options,
		.help = "Lists an app's revisions: which is desired, stable, or failed (its\n"
			"rollout was aborted; kept after a rollback), and why each failed one did.",
	},
};
