/* slipway version: this binary's version (no daemon needed). */
#include "cli_int.h"

static int run(struct cli *c, int argc, char **argv)
{
	struct cli_json_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_version.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	if (o.json)
		printf("{\"version\": \"%s\"}\n", SLIPWAY_VERSION);
	else
		printf("slipway %s\n", SLIPWAY_VERSION);
	return 0;
}

const struct cli_command cli_cmd_version = {
	.summary = "print slipway's version",
	.run = run,
	.usage = {
		.name = "version",
		.opts = cli_json_options,
		.help = "Prints slipway's version.",
	},
};
