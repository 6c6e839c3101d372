/* slipway rollback APP: roll out an earlier revision. */
#include "cli_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* --to: a revision number, or a commit the revision came from. */
struct rollback_target {
	long long revision;
	const char *commit;
};

struct rollback_opts {
	struct rollback_target to;
	bool wait, json;
	uint64_t timeout_ms;
};

/* A number of up to 6 digits is a revision; 7 to 40 hex digits, or 4 to 6
 * with a letter among them, a commit (git abbreviates to 7). */
static int parse_to(void *field, const char *v)
{
	struct rollback_target *t = field;
	size_t n = strlen(v), digits = strspn(v, "0123456789");
	if (n && digits == n && n <= 6) {
		t->revision = strtoll(v, NULL, 10);
		t->commit = NULL;
		return t->revision >= 1 ? 0 : -1;
	}
	if (n < 4 || n > 40 || strspn(v, "0123456789abcdefABCDEF") != n)
		return -1;
	t->commit = v;
	t->revision = 0;
	return 0;
}

static const struct sw_opt options[] = {
	{.name = "to", .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct rollback_opts, to, struct rollback_target),
	 .value = "REVISION|SHA", .parse = parse_to,
	 .expect = "be a revision number or a commit (7 to 40 hex digits)",
	 .help = "the revision, or the commit it came from, to go back to (default: the one before)"},
	{.name = "wait", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct rollback_opts, wait, bool),
	 .help = "wait until the app is Healthy (exit 0) or Degraded (exit 1)"},
	{.name = "timeout", .kind = SW_OPT_DURATION,
	 .offset = SW_OPT_AT(struct rollback_opts, timeout_ms, uint64_t), .value = "DUR",
	 .expect = "be a duration like 90s", .help = "how long --wait waits (default 5m)"},
	CLI_OPT_JSON(struct rollback_opts),
	{0},
};

static int run(struct cli *c, int argc, char **argv)
{
	struct rollback_opts o = {.timeout_ms = 300000};
	int n = sw_opt_parse(&cli_cmd_rollback.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	json_t *body = o.to.commit     ? json_pack("{s:s}", "commit", o.to.commit)
		       : o.to.revision ? json_pack("{s:I}", "to", (json_int_t)o.to.revision)
				       : json_object();
	struct buf path = BUF_INIT;
	cli_pathf(&path, "/v1/apps/%s/rollback", argv[1]);
	json_t *j = NULL;
	int r = cli_call(c, "POST", path.s, body, &j);
	buf_release(&path);
	json_decref(body);
	if (r)
		return r;
	if (o.json)
		cli_json_print(j);
	else
		printf("app/%s %s (revision %lld)\n", cli_jstr(j, "name"), cli_jstr(j, "result"),
		       cli_jint(j, "revision"));
	if (o.wait)
		r = cli_wait_rollout(c, argv[1], cli_jint(j, "revision"), o.timeout_ms, o.json);
	json_decref(j);
	return r;
}

const struct cli_command cli_cmd_rollback = {
	.summary = "roll an app out to an earlier revision",
	.run = run,
	.usage = {
		.name = "rollback",
		.args = "APP",
		.min_args = 1,
		.max_args = 1,
		.opts = options,
		.help = "Rolls the app out to an earlier revision (default: the one before),\n"
			"one instance at a time like any update. --to takes a revision number or\n"
			"a commit of the app's source (7 to 40 hex digits): the newest revision\n"
			"from that commit (`slipway history APP` shows them). --wait waits for it\n"
			"as `rollout status --watch` does (exit 0 Healthy, 1 Degraded, 3 Paused, 4\n"
			"after --timeout DUR, default 5m).",
	},
};
