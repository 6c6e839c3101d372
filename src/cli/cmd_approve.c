/*
 * slipway approve ENV APP / slipway reject ENV APP: a decision on the
 * release waiting for promotion into ENV.
 */
#include "cli_int.h"

#include <string.h>

#include "core/buf.h"

struct approve_opts {
	const char *release, *comment;
	bool json, wait;
	uint64_t timeout_ms;
};

static const struct sw_opt options[] = {
	{.name = "release", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct approve_opts, release, const char *), .value = "R",
	 .help = "the release you looked at; refused when another one is pending"},
	{.name = "comment", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct approve_opts, comment, const char *), .value = "TEXT",
	 .help = "why, kept with the decision and in its event"},
	{.name = "wait", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct approve_opts, wait, bool),
	 .help = "approve: wait until it is promoted and rolled out (exit 0) or stops (exit 1)"},
	{.name = "timeout", .kind = SW_OPT_DURATION,
	 .offset = SW_OPT_AT(struct approve_opts, timeout_ms, uint64_t), .value = "DUR",
	 .expect = "be a duration like 10m", .help = "how long --wait waits (default 30m)"},
	CLI_OPT_JSON(struct approve_opts),
	{0},
};

static int decide(struct cli *c, const struct cli_command *cmd, int argc, char **argv)
{
	struct approve_opts o = {.timeout_ms = 30 * 60000};
	bool approve = cmd == &cli_cmd_approve;
	int n = sw_opt_parse(&cmd->usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	if (o.wait && !approve)
		return sw_opt_error("reject", "--wait goes with approve");
	struct buf path = BUF_INIT;
	json_t *body = json_object(), *j = NULL;
	if (o.release)
		json_object_set_new(body, "release", json_string(o.release));
	if (o.comment)
		json_object_set_new(body, "comment", json_string(o.comment));
	cli_pathf(&path, "/v1/apps/%s/%s?environment=%s", argv[2], approve ? "approve" : "reject",
		  argv[1]);
	int r = cli_call(c, "POST", path.s, body, &j);
	json_decref(body);
	buf_release(&path);
	if (r)
		return r;
	if (o.json)
		cli_json_print(j);
	else if (approve)
		printf("app/%s: release %s approved for %s (%lld of %lld): %s (%s)\n", argv[2],
		       cli_jstr(j, "release"), argv[1], cli_jint(j, "approvalsGiven"),
		       cli_jint(j, "approvalsNeeded"), cli_phase_color(stdout, cli_jstr(j, "phase")),
		       cli_jstr(j, "reason"));
	else
		printf("app/%s: release %s rejected for %s: it is not promoted\n", argv[2],
		       cli_jstr(j, "release"), argv[1]);
	if (o.wait) {
		fflush(stdout);
		r = cli_wait_promotion(c, argv[1], argv[2], cli_jstr(j, "release"), o.timeout_ms, o.json);
	}
	json_decref(j);
	return r;
}

static int run_approve(struct cli *c, int argc, char **argv)
{
	return decide(c, &cli_cmd_approve, argc, argv);
}

static int run_reject(struct cli *c, int argc, char **argv)
{
	return decide(c, &cli_cmd_reject, argc, argv);
}

const struct cli_command cli_cmd_approve = {
	.summary = "approve the release waiting for promotion into an environment",
	.run = run_approve,
	.usage = {
		.name = "approve",
		.args = "ENV APP",
		.min_args = 2,
		.max_args = 2,
		.opts = options,
		.help = "Approves the release of APP that waits for promotion into ENV. It\n"
			"takes a token with --approve ENV (whatever its role). Each approver\n"
			"counts once; who caused the release (applied it upstream, or ran\n"
			"`slipway promote`) may not approve it; an approval expires after the\n"
			"environment's approvalTimeout and is void when the release changes.\n"
			"--release R refuses when another release than R is pending. --wait\n"
			"waits until it is promoted and rolled out, or stops (--timeout DUR,\n"
			"default 30m).",
	},
};

const struct cli_command cli_cmd_reject = {
	.summary = "reject the release waiting for promotion into an environment",
	.run = run_reject,
	.usage = {
		.name = "reject",
		.args = "ENV APP",
		.min_args = 2,
		.max_args = 2,
		.opts = options,
		.help = "Rejects the release of APP that waits for promotion into ENV: it is\n"
			"not promoted, until a newer release comes or `slipway promote` starts\n"
			"it over. Takes a token with --approve ENV; anyone with it may reject,\n"
			"the release's author too. --release R as for approve.",
	},
};
