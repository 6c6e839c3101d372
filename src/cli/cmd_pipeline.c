/*
 * slipway pipeline validate | graph [FILE]: a Pipeline document checked
 * and planned offline, without a daemon (docs/pipelines.md). The work is
 * src/pipeline's, reached through what src/main.c handed the CLI
 * (cli.h's cli_pipeline_ops).
 */
#include "cli_int.h"

#include <string.h>

#include "cli.h"
#include "core/core.h"

#define DEFAULT_FILE ".slipway/pipeline.yaml"

static const struct cli_pipeline_ops *ops;

void cli_pipeline_ops(const struct cli_pipeline_ops *o)
{
	ops = o;
}

const struct cli_pipeline_ops *cli_pipeline_ops_get(void)
{
	return ops;
}

struct pipeline_opts {
	const char *file;
};

static const struct sw_opt options[] = {
	{.name = "filename", .letter = 'f', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct pipeline_opts, file, const char *), .value = "FILE",
	 .help = "the pipeline's file (or give FILE alone; default " DEFAULT_FILE ")"},
	{0},
};

static int run(struct cli *c, int argc, char **argv)
{
	struct pipeline_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_pipeline.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	const char *action = argv[1];
	bool validate = strcmp(action, "validate") == 0, graph = strcmp(action, "graph") == 0;
	if (!validate && !graph)
		return sw_opt_error("pipeline", "unknown action \"%s\" (validate, graph)", action);
	if (n > 1 && o.file)
		return sw_opt_error("pipeline", "give FILE or -f FILE, not both");
	const char *file = o.file ? o.file : n > 1 ? argv[2] : DEFAULT_FILE;
	SW_ASSERT(ops);
	struct buf out = BUF_INIT;
	struct sw_err err = {0};
	int rc = (validate ? ops->validate : ops->graph)(&out, file, &err);
	if (rc < 0)
		fprintf(stderr, "%s\n", err.msg);
	else
		fputs(buf_str(&out), stdout);
	buf_release(&out);
	return rc < 0 ? 1 : 0;
}

const struct cli_command cli_cmd_pipeline = {
	.summary = "check a pipeline offline, and show its jobs as a graph in stages",
	.run = run,
	.usage = {
		.name = "pipeline",
		.args = "validate | graph [FILE]",
		.min_args = 1,
		.max_args = 2,
		.opts = options,
		.help = "Pipelines: jobs that build, test and deploy a change (docs/pipelines.md), written\n"
			"like a GitHub Actions workflow in a kind: Pipeline document, by default\n"
			DEFAULT_FILE ". Both actions work offline, without a daemon.\n"
			"validate checks the file (errors say file:line:col, inside expressions too)\n"
			"and prints one line per pipeline: its jobs, job runs and stages.\n"
			"graph prints the jobs stage by stage, each with the jobs it needs, its if:,\n"
			"what it deploys and its matrix expanded into job runs.\n"
			"Running pipelines (pipeline run, runs, logs) comes in the next slices.",
	},
};
