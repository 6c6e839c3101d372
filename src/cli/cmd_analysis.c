/* slipway analysis APP: every measurement of the app's analysis runs. */
#include "cli_int.h"

#include <string.h>

#include "core/buf.h"

struct analysis_opts {
	long long revision;
	bool json;
};

static const struct sw_opt options[] = {
	{.name = "revision", .kind = SW_OPT_INT,
	 .offset = SW_OPT_AT(struct analysis_opts, revision, long long), .value = "N",
	 .expect = "be a revision number", .min = 1, .help = "only this revision's measurements"},
	CLI_OPT_JSON(struct analysis_opts),
	{0},
};

static void print_measurements(json_t *measurements)
{
	struct cli_table t;
	cli_table_init(&t, 8);
	cli_table_row(&t, "TIME", "REV", "RUN", "METRIC", "PROVIDER", "VALUE", "OUTCOME", "REASON");
	size_t i;
	json_t *x;
	json_array_foreach(measurements, i, x) {
		char rev[24], run[48], metric[160];
		snprintf(rev, sizeof(rev), "%lld", cli_jint(x, "revision"));
		snprintf(run, sizeof(run), "%lld %s", cli_jint(x, "run"), cli_jstr(x, "kind"));
		snprintf(metric, sizeof(metric), "%s/%s", cli_jstr(x, "template"),
			 cli_jstr(x, "metric"));
		const char *time = cli_jstr(x, "time");
		cli_table_row(&t, strlen(time) > 11 ? time + 11 : time, rev, run, metric,
			      cli_jstr(x, "provider"), cli_jstr(x, "value"), cli_jstr(x, "outcome"),
			      cli_jstr(x, "reason"));
	}
	if (t.nrows > 1)
		cli_table_print(&t, stdout);
	else
		printf("no measurements yet\n");
	cli_table_release(&t);
}

static int run(struct cli *c, int argc, char **argv)
{
	struct analysis_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_analysis.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	struct buf path = BUF_INIT;
	cli_pathf(&path, "/v1/apps/%s/analysis?revision=%lld", argv[1], o.revision);
	json_t *j = NULL;
	int r = cli_call(c, "GET", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	if (o.json)
		cli_json_print(j);
	else
		print_measurements(json_object_get(j, "measurements"));
	json_decref(j);
	return 0;
}

const struct cli_command cli_cmd_analysis = {
	.summary = "list the measurements of an app's analysis runs",
	.run = run,
	.usage = {
		.name = "analysis",
		.args = "APP",
		.min_args = 1,
		.max_args = 1,
		.opts = options,
		.help = "Lists every measurement of the app's analysis runs: time, revision, run,\n"
			"metric, provider, value, outcome and the reason (value, condition, limits).",
	},
};
