/* slipway scale APP N: how many instances of the revision that serves. */
#include "cli_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

struct scale_opts {
	bool wait, json;
	uint64_t timeout_ms;
};

static const struct sw_opt options[] = {
	{.name = "wait", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct scale_opts, wait, bool),
	 .help = "wait until the app has them all ready (exit 0) or is Degraded (exit 1)"},
	{.name = "timeout", .kind = SW_OPT_DURATION,
	 .offset = SW_OPT_AT(struct scale_opts, timeout_ms, uint64_t), .value = "DUR",
	 .expect = "be a duration like 90s", .help = "how long --wait waits (default 5m)"},
	CLI_OPT_JSON(struct scale_opts),
	{0},
};

/* N: a whole number of instances, 0 to 1000 (what `replicas` takes, and 0). */
static int parse_replicas(const char *s, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (!*s || *end || errno || s[0] == '+' || s[0] == ' ')
		return sw_opt_error("scale", "REPLICAS must be a whole number of instances, got \"%s\"", s);
	if (n < 0 || n > 1000)
		return sw_opt_error("scale", "REPLICAS must be between 0 and 1000, got %ld", n);
	*out = n;
	return 0;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct scale_opts o = {.timeout_ms = 300000};
	/* "-1" would read as an option */
	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1] >= '0' && argv[i][1] <= '9')
			return sw_opt_error("scale", "REPLICAS must be between 0 and 1000, got %s", argv[i]);
	int n = sw_opt_parse(&cli_cmd_scale.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	long replicas = 0;
	int r = parse_replicas(argv[2], &replicas);
	if (r)
		return r;
	struct buf path = BUF_INIT;
	cli_pathf(&path, "/v1/apps/%s/scale", argv[1]);
	json_t *body = json_pack("{s:I}", "replicas", (json_int_t)replicas), *j = NULL;
	r = cli_call(c, "POST", path.s, body, &j);
	json_decref(body);
	buf_release(&path);
	if (r)
		return r;
	if (o.json)
		cli_json_print(j);
	else
		printf("app/%s scaled to %ld: %s, %lld/%lld ready (revision %lld)\n", argv[1], replicas,
		       cli_phase_color(stdout, cli_jstr(j, "phase")), cli_jint(j, "ready"),
		       cli_jint(j, "replicas"), cli_jint(j, "revision"));
	if (o.wait) {
		fflush(stdout);
		r = cli_wait_rollout(c, argv[1], 0, o.timeout_ms, o.json);
	}
	json_decref(j);
	return r;
}

const struct cli_command cli_cmd_scale = {
	.summary = "set how many instances of an app's serving revision run",
	.run = run,
	.usage = {
		.name = "scale",
		.args = "APP REPLICAS",
		.min_args = 2,
		.max_args = 2,
		.opts = options,
		.help = "Starts or stops instances of the revision that serves until REPLICAS\n"
			"(0 to 1000) run, at once, without a new revision or rollout (like\n"
			"`kubectl scale`). It lasts, across daemon restarts, until a new revision\n"
			"is rolled out (an apply of a changed document, rollback, undo, retry):\n"
			"then that document's replicas count again. Refused while a rollout is\n"
			"under way. --wait waits until all are ready (--timeout DUR, default 5m).",
	},
};
