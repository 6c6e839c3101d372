/* slipway analysis APP: the measurements of the app's analysis runs, the
 * newest N (default 100) or all of them, read page by page. */
#include "cli_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

struct analysis_opts {
	long long revision;
	long long limit;
	bool json;
};

static const struct sw_opt options[] = {
	{.name = "revision", .kind = SW_OPT_INT,
	 .offset = SW_OPT_AT(struct analysis_opts, revision, long long), .value = "N",
	 .expect = "be a revision number", .min = 1, .help = "only this revision's measurements"},
	{.name = "limit", .kind = SW_OPT_INT,
	 .offset = SW_OPT_AT(struct analysis_opts, limit, long long), .value = "N",
	 .expect = "be a number of measurements", .min = 0,
	 .help = "the newest N measurements (default 100; 0: all of them)"},
	CLI_OPT_JSON(struct analysis_opts),
	{0},
};

struct printer {
	const struct analysis_opts *o;
	size_t rows;        /* printed so far */
};

/* One page of rows, oldest first: a table (the header before the first
 * page) or, with --json, the elements of one JSON array. */
static void print_page(json_t *measurements, void *data)
{
	struct printer *pr = data;
	size_t i;
	json_t *x;
	if (pr->o->json) {
		json_array_foreach(measurements, i, x) {
			char *t = json_dumps(x, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			printf("%s\n    %s", pr->rows++ ? "," : "", t ? t : "null");
			free(t);
		}
		return;
	}
	if (!json_array_size(measurements))
		return;
	struct cli_table t;
	cli_table_init(&t, 8);
	if (!pr->rows)
		cli_table_row(&t, "TIME", "REV", "RUN", "METRIC", "PROVIDER", "VALUE", "OUTCOME",
			      "REASON");
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
		pr->rows++;
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
}

/* With --json the output is one document, {"name", "measurements"},
 * written a page at a time. */
static void json_head(const char *app)
{
	json_t *name = json_string(app);
	char *text = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
	printf("{\n  \"name\": %s,\n  \"measurements\": [", text ? text : "\"\"");
	free(text);
	json_decref(name);
}

static int run(struct cli *c, int argc, char **argv)
{
	struct analysis_opts o = {.limit = 100};
	int n = sw_opt_parse(&cli_cmd_analysis.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	struct buf path = BUF_INIT;
	struct printer pr = {&o, 0};
	cli_pathf(&path, "/v1/apps/%s/analysis?revision=%lld", argv[1], o.revision);
	int r;
	if (o.limit == 0) {
		/* all of them: forwards, a page at a time, never all in memory */
		int64_t after = 0;
		if (o.json)
			json_head(argv[1]);
		r = cli_page_forward(c, path.s, "measurements", &after, print_page, &pr);
	} else {
		json_t *ms = NULL;
		r = cli_page_newest(c, path.s, "measurements", o.limit, &ms);
		if (!r) {
			if (o.json)
				json_head(argv[1]);
			print_page(ms, &pr);
		}
		json_decref(ms);
	}
	buf_release(&path);
	if (o.json && (!r || o.limit == 0))
		printf("%s]\n}\n", pr.rows ? "\n  " : "");
	else if (!r && !pr.rows)
		printf("no measurements yet\n");
	return r;
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
		.help = "Lists the measurements of the app's analysis runs, oldest first: time,\n"
			"revision, run, metric, provider, value, outcome and the reason (value,\n"
			"condition, limits). By default the newest 100; --limit N the newest N (0:\n"
			"all of them, read a page at a time).",
	},
};
