/*
 * slipway pipeline validate | graph | run [FILE]: a Pipeline document
 * checked, planned or run in the current checkout, offline, without a
 * daemon (docs/pipelines.md). The work is
 * src/pipeline's, reached through what src/main.c handed the CLI
 * (cli.h's cli_pipeline_ops).
 * slipway pipeline run --server NAME | runs | status | logs | cancel |
 * rerun: runs on the daemon, through the API (docs/api.md "Pipelines").
 */
#include "cli_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
	bool server, follow, failed;
	int output; /* enum cli_output */
	long long limit;
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
	{.name = "server", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct pipeline_opts, server, bool),
	 .help = "run NAME: on the daemon, the stored pipeline NAME (a manual run), not here"},
	{.name = "follow", .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct pipeline_opts, follow, bool),
	 .help = "logs: keep printing lines as they come until the run ends (-f there too)"},
	{.name = "failed", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct pipeline_opts, failed, bool),
	 .help = "rerun: only the jobs that did not succeed (and the jobs they need)"},
	{.name = "limit", .kind = SW_OPT_INT, .min = 1,
	 .offset = SW_OPT_AT(struct pipeline_opts, limit, long long), .value = "N",
	 .help = "runs: the newest N (default 20)"},
	CLI_OPT_OUTPUT(struct pipeline_opts),
	{0},
};

/* ---- runs on the daemon ---- */

static void when(char *out, size_t size, long long ms)
{
	if (!ms) {
		snprintf(out, size, "-");
		return;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
}

static void took(char *out, size_t size, long long from, long long to)
{
	if (!from || !to || to < from)
		snprintf(out, size, "-");
	else if (to - from < 1000)
		snprintf(out, size, "%lldms", to - from);
	else
		snprintf(out, size, "%.1fs", (double)(to - from) / 1000);
}

static void print_runs(json_t *j)
{
	struct cli_table t;
	cli_table_init(&t, 7);
	cli_table_row(&t, "RUN", "PIPELINE", "STATE", "TRIGGER", "COMMIT", "CREATED", "TIME");
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(j, "runs"), i, r) {
		char id[32], created[32], d[32], sha[8];
		snprintf(id, sizeof(id), "%lld", cli_jint(r, "id"));
		when(created, sizeof(created), cli_jint(r, "createdAt"));
		took(d, sizeof(d), cli_jint(r, "startedAt"), cli_jint(r, "finishedAt"));
		snprintf(sha, sizeof(sha), "%.7s", cli_jstr(r, "commit"));
		cli_table_row(&t, id, cli_jstr(r, "pipeline"), cli_jstr(r, "state"), cli_jstr(r, "trigger"),
			      *sha ? sha : "-", created, d);
	}
	if (t.nrows > 1)
		cli_table_print(&t, stdout);
	else
		printf("no pipeline runs\n");
	cli_table_release(&t);
}

static void print_status(json_t *r)
{
	char created[32], d[32];
	when(created, sizeof(created), cli_jint(r, "createdAt"));
	took(d, sizeof(d), cli_jint(r, "startedAt"), cli_jint(r, "finishedAt"));
	printf("pipeline/%s run %lld: %s%s%s\n", cli_jstr(r, "pipeline"), cli_jint(r, "id"), cli_jstr(r, "state"),
	       *cli_jstr(r, "reason") ? ": " : "", cli_jstr(r, "reason"));
	char of[48] = "";
	if (cli_jint(r, "rerunOf"))
		snprintf(of, sizeof(of), ", rerun of run %lld", cli_jint(r, "rerunOf"));
	printf("trigger:  %s by %s%s\n", cli_jstr(r, "trigger"), cli_jstr(r, "actor"), of);
	if (*cli_jstr(r, "commit"))
		printf("commit:   %.7s%s%s (source %s)\n", cli_jstr(r, "commit"), *cli_jstr(r, "ref") ? " " : "",
		       cli_jstr(r, "ref"), cli_jstr(r, "source"));
	printf("created:  %s, took %s\n\n", created, d);
	struct cli_table t;
	cli_table_init(&t, 5);
	cli_table_row(&t, "JOB", "STEP", "STATE", "TIME", "REASON");
	size_t i, k;
	json_t *jb, *st;
	json_array_foreach(json_object_get(r, "jobs"), i, jb) {
		took(d, sizeof(d), cli_jint(jb, "startedAt"), cli_jint(jb, "finishedAt"));
		cli_table_row(&t, cli_jstr(jb, "name"), "", cli_jstr(jb, "state"), d, cli_jstr(jb, "reason"));
		json_array_foreach(json_object_get(jb, "steps"), k, st) {
			const char *state = cli_jstr(st, "state");
			bool ran = strcmp(state, "pending") != 0 && strcmp(state, "skipped") != 0;
			char ms[32];
			took(ms, sizeof(ms), 1, 1 + cli_jint(st, "durationMs"));
			cli_table_row(&t, "", cli_jstr(st, "name"), state, ran ? ms : "-", cli_jstr(st, "reason"));
		}
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
}

/* RUN as a number, or a usage error. */
static int run_arg(const char *s, long long *out)
{
	char *end;
	*out = strtoll(s, &end, 10);
	if (!*s || *end || *out <= 0)
		return sw_opt_error("pipeline", "a run is a number (see slipway pipeline runs), got \"%s\"", s);
	return 0;
}

/* Prints the run's log from offset 0; with follow, until the run ended
 * and every line is out. */
static int logs(struct cli *c, long long id, const char *job, bool follow)
{
	long long offset = 0;
	for (;;) {
		struct buf path = BUF_INIT;
		cli_pathf(&path, "/v1/pipeline-runs/%lld/logs?offset=%lld", id, offset);
		if (job)
			cli_pathf(&path, "&job=%s", job);
		json_t *j = NULL;
		int r = cli_call(c, "GET", path.s, NULL, &j);
		buf_release(&path);
		if (r)
			return r;
		json_t *text = json_object_get(j, "text");
		fwrite(json_string_value(text), 1, json_string_length(text), stdout);
		fflush(stdout);
		long long next = cli_jint(j, "offset");
		bool done = json_is_true(json_object_get(j, "done"));
		json_decref(j);
		if (next == offset && (done || !follow))
			return 0;
		if (next == offset)
			usleep(200 * 1000);
		offset = next;
	}
}

static int daemon_action(struct cli *c, const char *action, int n, char **argv, const struct pipeline_opts *o)
{
	if (cli_connect(c, false) != 0)
		return 1;
	struct buf path = BUF_INIT;
	const char *method = "GET";
	json_t *body = NULL, *j = NULL;
	long long id = 0;
	int r;
	bool runs = strcmp(action, "runs") == 0, start = strcmp(action, "run") == 0;
	if (!runs && !start && (r = run_arg(argv[2], &id)) != 0)
		return r;
	if (strcmp(action, "logs") == 0)
		return logs(c, id, o->job, o->follow);
	if (runs && n > 1)
		cli_pathf(&path, "/v1/pipelines/%s/runs?limit=%lld", argv[2], o->limit ? o->limit : 20);
	else if (runs)
		cli_pathf(&path, "/v1/pipeline-runs?limit=%lld", o->limit ? o->limit : 20);
	else if (start) {
		method = "POST";
		cli_pathf(&path, "/v1/pipelines/%s/runs", argv[2]);
	} else if (strcmp(action, "status") == 0)
		cli_pathf(&path, "/v1/pipeline-runs/%lld", id);
	else {
		method = "POST";
		bool rerun = strcmp(action, "rerun") == 0;
		cli_pathf(&path, rerun ? "/v1/pipeline-runs/%lld/rerun" : "/v1/pipeline-runs/%lld/cancel", id);
		if (rerun)
			body = json_pack("{s:b}", "failed", o->failed);
	}
	r = cli_call(c, method, path.s, body, &j);
	buf_release(&path);
	json_decref(body);
	if (r)
		return r;
	if (cli_output_doc((enum cli_output)o->output, j))
		;
	else if (runs)
		print_runs(j);
	else if (strcmp(action, "status") == 0)
		print_status(j);
	else if (strcmp(action, "cancel") == 0)
		printf("pipeline/%s run %lld: cancelling (the steps stop, then the cleanup steps run)\n",
		       cli_jstr(j, "pipeline"), cli_jint(j, "id"));
	else
		printf("pipeline/%s run %lld started%s (slipway pipeline logs %lld -f)\n", cli_jstr(j, "pipeline"),
		       cli_jint(j, "id"), start ? "" : " again", cli_jint(j, "id"));
	json_decref(j);
	return 0;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct pipeline_opts o = {0};
	/* `logs RUN -f` follows, as tail and kubectl logs do: -f is the file
	 * everywhere else, and logs takes no file */
	char *follow = "--follow";
	for (int i = 2; argc > 1 && strcmp(argv[1], "logs") == 0 && i < argc; i++)
		if (strcmp(argv[i], "-f") == 0)
			argv[i] = follow;
	int n = sw_opt_parse(&cli_cmd_pipeline.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	const char *action = argv[1];
	bool validate = strcmp(action, "validate") == 0, graph = strcmp(action, "graph") == 0,
	     runs = strcmp(action, "run") == 0;
	static const char *const remote[] = {"runs", "status", "logs", "cancel", "rerun"};
	bool on_daemon = runs && o.server;
	for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
		on_daemon = on_daemon || strcmp(action, remote[i]) == 0;
	if (!validate && !graph && !runs && !on_daemon)
		return sw_opt_error("pipeline", "unknown action \"%s\" (validate, graph, run, runs, status, logs, "
					       "cancel, rerun)", action);
	if (on_daemon) {
		bool needs_arg = strcmp(action, "runs") != 0;
		if (needs_arg && n < 2)
			return sw_opt_error("pipeline", "%s needs %s", action, runs ? "the pipeline's NAME" : "a RUN");
		if (o.file || o.secrets.n || o.sandbox || o.workers)
			return sw_opt_error("pipeline", "-f, --secret, --sandbox and --workers are for pipeline run "
							"here, not on the daemon");
		if ((o.follow || o.job) && strcmp(action, "logs") != 0)
			return sw_opt_error("pipeline", "--follow and --job are for pipeline logs on the daemon");
		if (o.failed && strcmp(action, "rerun") != 0)
			return sw_opt_error("pipeline", "--failed is for pipeline rerun");
		return daemon_action(c, action, n, argv, &o);
	}
	if (n > 2)
		return sw_opt_error("pipeline", "%s takes one FILE, got \"%s\" and \"%s\"", action, argv[2], argv[3]);
	if (o.follow || o.failed || o.output || o.limit || o.server)
		return sw_opt_error("pipeline", "--follow, --failed, --limit, -o and --server are for runs on the "
						"daemon (runs, status, logs, cancel, rerun, run --server)");
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
		.args = "validate | graph | run [FILE] | run --server NAME | runs [NAME] | status RUN | logs RUN | cancel RUN | rerun RUN",
		.min_args = 1,
		.max_args = 3,
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
			"a second kills at once.\n"
			"On the daemon (docs/pipelines.md, \"On the daemon\"): a push to a Source runs\n"
			"the pipelines whose on: push matches it. run --server NAME starts a manual run\n"
			"of the stored pipeline NAME; runs [NAME] lists runs, newest first; status RUN\n"
			"shows each job and step with its state and time; logs RUN prints the run's\n"
			"timestamped lines (--job J: one job run's; -f: follow until the run ends);\n"
			"cancel RUN stops every step's process group and runs the cleanup steps; rerun\n"
			"RUN runs it again on the same commit (--failed: the jobs that did not succeed).",
	},
};
