/*
 * slipway pipeline validate | graph | run [FILE]: a Pipeline document
 * checked, planned or run in the current checkout, offline, without a
 * daemon (docs/pipelines.md). The work is
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

#define MAX_SECRETS 100

struct secrets {
	char *v[MAX_SECRETS];
	size_t n;
};

struct pipeline_opts {
	const char *file;
	const char *job;
	const char *sandbox;
	long long workers;
	struct secrets secrets;
};

static int secret_add(void *field, const char *value)
{
	struct secrets *s = field;
	if (s->n == MAX_SECRETS || !*value)
		return -1;
	s->v[s->n++] = (char *)value;
	return 0;
}

static const struct sw_opt options[] = {
	{.name = "filename", .letter = 'f', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct pipeline_opts, file, const char *), .value = "FILE",
	 .help = "the pipeline's file (or give FILE alone; default " DEFAULT_FILE ")"},
	{.name = "job", .letter = 'j', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct pipeline_opts, job, const char *), .value = "JOB",
	 .help = "run: this job and the jobs it needs, not the whole pipeline"},
	{.name = "secret", .letter = 's', .kind = SW_OPT_CUSTOM,
	 .offset = SW_OPT_AT(struct pipeline_opts, secrets, struct secrets), .value = "NAME[=@FILE]",
	 .help = "run: a secret for the steps, from the environment or a file; masked in logs (again for more)",
	 .expect = "be NAME or NAME=@FILE, at most 100 times", .parse = secret_add},
	{.name = "sandbox", .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct pipeline_opts, sandbox, const char *), .value = "bwrap|none",
	 .help = "run: steps in bubblewrap (the default) or as plain processes"},
	{.name = "workers", .kind = SW_OPT_INT, .min = 1,
	 .offset = SW_OPT_AT(struct pipeline_opts, workers, long long), .value = "N",
	 .help = "run: job runs at once (default: the number of CPUs)"},
	{0},
};

static int run(struct cli *c, int argc, char **argv)
{
	struct pipeline_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_pipeline.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	const char *action = argv[1];
	bool validate = strcmp(action, "validate") == 0, graph = strcmp(action, "graph") == 0,
	     runs = strcmp(action, "run") == 0;
	if (!validate && !graph && !runs)
		return sw_opt_error("pipeline", "unknown action \"%s\" (validate, graph, run)", action);
	if (n > 1 && o.file)
		return sw_opt_error("pipeline", "give FILE or -f FILE, not both");
	if (!runs && (o.job || o.secrets.n || o.sandbox || o.workers))
		return sw_opt_error("pipeline", "--job, --secret, --sandbox and --workers are for pipeline run");
	const char *file = o.file ? o.file : n > 1 ? argv[2] : DEFAULT_FILE;
	SW_ASSERT(ops);
	struct buf out = BUF_INIT;
	struct sw_err err = {0};
	if (runs) {
		int code = ops->run(file, o.job, o.secrets.v, o.secrets.n, o.sandbox, (unsigned)o.workers, &err);
		if (code < 0)
			fprintf(stderr, "%s\n", err.msg);
		return code < 0 ? 1 : code;
	}
	int rc = (validate ? ops->validate : ops->graph)(&out, file, &err);
	if (rc < 0)
		fprintf(stderr, "%s\n", err.msg);
	else
		fputs(buf_str(&out), stdout);
	buf_release(&out);
	return rc < 0 ? 1 : 0;
}

const struct cli_command cli_cmd_pipeline = {
	.summary = "check a pipeline, show its jobs as a graph, or run it here without a daemon",
	.run = run,
	.usage = {
		.name = "pipeline",
		.args = "validate | graph | run [FILE]",
		.min_args = 1,
		.max_args = 2,
		.opts = options,
		.help = "Pipelines: jobs that build, test and deploy a change (docs/pipelines.md), written\n"
			"like a GitHub Actions workflow in a kind: Pipeline document, by default\n"
			DEFAULT_FILE ". Every action works offline, without a daemon.\n"
			"validate checks the file (errors say file:line:col, inside expressions too)\n"
			"and prints one line per pipeline: its jobs, job runs and stages.\n"
			"graph prints the jobs stage by stage, each with the jobs it needs, its if:,\n"
			"what it deploys and its matrix expanded into job runs.\n"
			"run runs the pipeline in the current directory (the checkout): each job run in\n"
			"a copy of it under .slipway/runs/N/work/, each step in a bubblewrap sandbox\n"
			"(read-only system, writable workspace, its own /tmp; network: none cuts the\n"
			"network), lines printed with a timestamp and the job's name, a summary at the\n"
			"end, each job's log in .slipway/runs/N/JOB.log. It exits 0 when the run\n"
			"succeeded, 1 when it failed, 130 when cancelled: the first Ctrl-C or SIGTERM\n"
			"stops the steps and runs the cleanup steps (if: always() or cancelled()),\n"
			"a second kills at once. Runs on the daemon (runs, logs) come in a later slice.",
	},
};
