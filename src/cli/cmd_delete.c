/* slipway delete APP: stop an app's instances and forget the app. */
#include "cli_int.h"

#include "core/buf.h"

static int run(struct cli *c, int argc, char **argv)
{
	struct cli_json_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_delete.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	struct buf path = BUF_INIT;
	cli_pathf(&path, "/v1/apps/%s", argv[1]);
	json_t *j = NULL;
	int r = cli_call(c, "DELETE", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	if (o.json)
		cli_json_print(j);
	else
		printf("app/%s deleted (stopping %lld instances)\n", cli_jstr(j, "name"),
		       cli_jint(j, "stopping"));
	json_decref(j);
	return 0;
}

const struct cli_command cli_cmd_delete = {
	.summary = "stop an app's instances and forget the app",
	.run = run,
	.usage = {
		.name = "delete",
		.args = "APP",
		.min_args = 1,
		.max_args = 1,
		.opts = cli_json_options,
		.help = "Stops the app's instances and forgets the app.",
	},
};
