/* slipway history APP: an app's revisions, the newest N (default 100),
 * read page by page. */
#include "cli_int.h"

#include "core/buf.h"

struct history_opts {
	long long limit;
	bool json;
};

static const struct sw_opt options[] = {
	{.name = "limit", .kind = SW_OPT_INT,
	 .offset = SW_OPT_AT(struct history_opts, limit, long long), .value = "N",
	 .expect = "be a number of revisions", .min = 0,
	 .help = "the newest N revisions (default 100; 0: all that are kept)"},
	CLI_OPT_JSON(struct history_opts),
	{0},
};

int cli_history_run(struct cli *c, int argc, char **argv)
{
	struct history_opts o = {.limit = 100};
	int n = sw_opt_parse(&cli_cmd_history.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	struct buf path = BUF_INIT;
	json_t *revs = NULL;
	cli_pathf(&path, "/v1/apps/%s/history", argv[1]);
	int r = cli_page_newest(c, path.s, "revisions", o.limit, &revs);
	buf_release(&path);
	if (r)
		return r;
	json_t *j = json_pack("{s:s, s:o}", "name", argv[1], "revisions", revs);
	if (o.json) {
		cli_json_print(j);
		json_decref(j);
		return 0;
	}
	struct cli_table t;
	cli_table_init(&t, 7);
	cli_table_row(&t, "REVISION", "VERSION", "CREATED", "STATUS", "SOURCE", "COMMIT", "AUTHOR");
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(j, "revisions"), i, x) {
		char rev[24], status[64] = "";
		snprintf(rev, sizeof(rev), "%lld", cli_jint(x, "revision"));
		bool desired = json_is_true(json_object_get(x, "desired"));
		bool stable = json_is_true(json_object_get(x, "stable"));
		bool failed = json_is_true(json_object_get(x, "failed"));
		snprintf(status, sizeof(status), "%s%s%s", desired ? "desired" : "",
			 desired && (stable || failed) ? "," : "",
			 failed ? "failed" : stable ? "stable" : "");
		/* from git: the source's commit, its subject and author */
		json_t *og = json_object_get(x, "origin");
		char commit[160] = "-", src[200];
		snprintf(src, sizeof(src), "%s", cli_jstr(x, "source"));
		if (json_is_object(og)) {
			snprintf(commit, sizeof(commit), "%.7s %s", cli_jstr(og, "commit"),
				 cli_jstr(og, "subject"));
			snprintf(src, sizeof(src), "%s:%s", cli_jstr(og, "source"), cli_jstr(x, "source"));
		}
		cli_table_row(&t, rev, cli_jstr(x, "version"), cli_jstr(x, "created"), status, src,
			      commit, json_is_object(og) ? cli_jstr(og, "author") : "-");
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	/* why each failed one failed, below the table */
	json_array_foreach(json_object_get(j, "revisions"), i, x)
		if (*cli_jstr(x, "failedReason"))
			printf("revision %lld failed: %s\n", cli_jint(x, "revision"),
			       cli_jstr(x, "failedReason"));
	json_decref(j);
	return 0;
}

const struct cli_command cli_cmd_history = {
	.summary = "list an app's revisions",
	.run = cli_history_run,
	.usage = {
		.name = "history",
		.args = "APP",
		.min_args = 1,
		.max_args = 1,
		.opts = options,
		.help = "Lists an app's revisions, oldest first: which is desired, stable, or failed\n"
			"(its rollout was aborted; kept after a rollback), and why each failed one\n"
			"did. By default the newest 100; --limit N the newest N (0: all of them).\n"
			"`slipway rollout history APP` is the same (kubectl's spelling).",
	},
};
