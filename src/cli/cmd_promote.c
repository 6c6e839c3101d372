/* slipway promote APP --to ENV [--release R]: promote a release into ENV. */
#include "cli_int.h"

#include <string.h>

#include "core/buf.h"

struct promote_opts {
	const char *to, *release;
	bool json;
};

static const struct sw_opt options[] = {
	{.name = "to", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct promote_opts, to, const char *),
	 .value = "ENV", .help = "the environment to promote into (required)"},
	{.name = "release", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct promote_opts, release, const char *), .value = "R",
	 .help = "the release (version) you mean; refused when the upstream runs another"},
	CLI_OPT_JSON(struct promote_opts),
	{0},
};

static int run(struct cli *c, int argc, char **argv)
{
	struct promote_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_promote.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	if (!o.to)
		return sw_opt_error("promote", "name the environment to promote into: --to ENV");
	struct buf path = BUF_INIT;
	json_t *body = o.release ? json_pack("{s:s}", "release", o.release) : json_object(), *j = NULL;
	cli_pathf(&path, "/v1/apps/%s/promote?environment=%s", argv[1], o.to);
	int r = cli_call(c, "POST", path.s, body, &j);
	json_decref(body);
	buf_release(&path);
	if (r)
		return r;
	if (o.json) {
		cli_json_print(j);
	} else {
		printf("app/%s: release %s into %s: %s (%s)\n", argv[1], cli_jstr(j, "release"), o.to,
		       cli_phase_color(stdout, cli_jstr(j, "phase")), cli_jstr(j, "reason"));
	}
	json_decref(j);
	return 0;
}

const struct cli_command cli_cmd_promote = {
	.summary = "promote an app's release from the upstream environment into another",
	.run = run,
	.usage = {
		.name = "promote",
		.args = "APP",
		.min_args = 1,
		.max_args = 1,
		.opts = options,
		.help = "Promotes the release (version) APP runs Healthy in the environment\n"
			"ENV takes releases from (its spec.promotion.from) into ENV's APP. The\n"
			"release still passes ENV's gates (soak, analysis, approvals); then it\n"
			"is applied, also when the environment's promotion is not automatic.\n"
			"Who runs it may not approve it (four eyes). A promotion that failed or\n"
			"was rejected starts over. --release R refuses to go on when the\n"
			"upstream runs another release than R.",
	},
};
