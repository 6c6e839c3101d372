/* slipway events [APP]: the event log. */
#include "cli_int.h"

#include "core/buf.h"

struct events_opts {
	const char *app;
	bool json;
};

static const struct sw_opt options[] = {
	{.name = "app", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct events_opts, app, const char *),
	 .value = "APP", .help = "only this app's events (the same as giving APP)"},
	CLI_OPT_JSON(struct events_opts),
	{0},
};

static int run(struct cli *c, int argc, char **argv)
{
	struct events_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_events.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	if (!o.app && n > 0)
		o.app = argv[1];
	struct buf path = BUF_INIT;
	buf_adds(&path, "/v1/events");
	if (o.app)
		cli_pathf(&path, "?app=%s", o.app);
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
	cli_table_row(&t, "TIME", "APP", "KIND", "ACTOR", "MESSAGE");
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(j, "events"), i, x)
		cli_table_row(&t, cli_jstr(x, "time"), cli_jstr(x, "app"), cli_jstr(x, "kind"),
			      cli_jstr(x, "actor"), cli_jstr(x, "message"));
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(j);
	return 0;
}

const struct cli_command cli_cmd_events = {
	.summary = "print the event log",
	.run = run,
	.usage = {
		.name = "events",
		.args = "[APP]",
		.max_args = 1,
		.opts = options,
		.help = "Prints the event log: every state change, with time, reason and actor.",
	},
};
