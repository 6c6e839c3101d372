/* slipway promote APP --to ENV [--release R]: promote a release into ENV. */
#include "cli_int.h"

#include <string.h>
#include <time.h>

#include "core/buf.h"

int cli_wait_promotion(struct cli *c, const char *env, const char *name, const char *release,
		       uint64_t timeout_ms, bool quiet)
{
	uint64_t start = sw_now_ms();
	struct buf path = BUF_INIT;
	char last[900] = "", line[900];
	FILE *out = quiet ? stderr : stdout;
	int r = -1;
	cli_pathf(&path, "/v1/apps/%s/promotion?environment=%s", name, env);
	while (r < 0) {
		json_t *j = NULL;
		if (cli_call(c, "GET", path.s, NULL, &j) != 0) {
			r = 1;
			break;
		}
		const char *ph = cli_jstr(j, "phase");
		snprintf(line, sizeof(line), "%s/%s: release %s %s: %s", env, name, cli_jstr(j, "release"),
			 ph, cli_jstr(j, "reason"));
		if (!quiet && strcmp(line, last) != 0) {
			printf("%s\n", line);
			fflush(stdout);
			sw_strlcpy(last, line, sizeof(last));
		}
		if (release && strcmp(cli_jstr(j, "release"), release) != 0) {
			fprintf(out, "release %s is no longer the one promoted into %s: %s is\n", release,
				env, cli_jstr(j, "release"));
			r = 1;
		} else if (strcmp(ph, "Promoted") == 0) {
			r = 0;
		} else if (strcmp(ph, "Failed") == 0 || strcmp(ph, "Rejected") == 0 ||
			   strcmp(ph, "Superseded") == 0) {
			if (quiet)
				fprintf(out, "%s\n", line);
			r = 1;
		}
		json_decref(j);
		if (r >= 0)
			break;
		if (timeout_ms && sw_now_ms() - start >= timeout_ms) {
			char d[32];
			sw_duration_format(d, sizeof(d), timeout_ms);
			fprintf(stderr, "slipway: %s/%s: timed out after %s waiting for its promotion (%s)\n",
				env, name, d, line);
			r = CLI_EXIT_TIMEOUT;
			break;
		}
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
	}
	buf_release(&path);
	if (r == 0) { /* applied: its rollout in env, as apply --wait follows one */
		const char *was = c->environment;
		uint64_t spent = sw_now_ms() - start;
		c->environment = env;
		r = cli_wait_rollout(c, name, 0, timeout_ms ? (spent < timeout_ms ? timeout_ms - spent : 1) : 0,
				     quiet);
		c->environment = was;
	}
	return r;
}

struct promote_opts {
	const char *to, *release;
	bool json, wait;
	uint64_t timeout_ms;
};

static const struct sw_opt options[] = {
	{.name = "to", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct promote_opts, to, const char *),
	 .value = "ENV", .help = "the environment to promote into (required)"},
	{.name = "release", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct promote_opts, release, const char *), .value = "R",
	 .help = "the release (version) you mean; refused when the upstream runs another"},
	{.name = "wait", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct promote_opts, wait, bool),
	 .help = "wait until it is promoted and rolled out (exit 0) or stops (exit 1)"},
	{.name = "timeout", .kind = SW_OPT_DURATION,
	 .offset = SW_OPT_AT(struct promote_opts, timeout_ms, uint64_t), .value = "DUR",
	 .expect = "be a duration like 10m", .help = "how long --wait waits (default 30m)"},
	CLI_OPT_JSON(struct promote_opts),
	{0},
};

static int run(struct cli *c, int argc, char **argv)
{
	struct promote_opts o = {.timeout_ms = 30 * 60000};
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
	if (o.wait) {
		fflush(stdout);
		r = cli_wait_promotion(c, o.to, argv[1], cli_jstr(j, "release"), o.timeout_ms, o.json);
	}
	json_decref(j);
	return r;
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
			"upstream runs another release than R. --wait waits until it is\n"
			"applied and rolled out (a commit to git: until it is committed) or\n"
			"stops (--timeout DUR, default 30m).",
	},
};
