/*
 * pipeline: Slipway's CI/CD pipelines (docs/pipelines.md for users,
 * docs/internals/pipelines.md for the design and its slices). This slice
 * brings three pure pieces, no I/O but reading the document:
 *
 * 1. The `Pipeline` kind (close to a GitHub Actions workflow), read by the
 *    spec engine's field tables like every kind, registered once at
 *    start-up (pipeline_kinds_register). Everything is validated at read
 *    time with file:line:col: unknown fields (did you mean), `needs` that
 *    name no job (did you mean) or close a cycle (named: a -> b -> a), a
 *    matrix over PIPELINE_MAX_MATRIX, a bad `if:` or `${{ }}` (the
 *    position inside the expression), `runs-on` (Slipway runs on this
 *    host). Parts the executor slices run later (services, cache,
 *    artifacts, deploy, environment gates, concurrency across runs) are
 *    read and checked now.
 * 2. The plan (plan.c): jobs in stages (a topological order), each job's
 *    matrix expanded into job runs ("build (gcc, debug)").
 * 3. The scheduler (dag.c): a pure state machine in the shape of
 *    src/rollout: state + event (run started, job run finished with a
 *    result, cancel requested, timer) -> state + actions (start a job run,
 *    end one that will not run with its reason, stop a running one,
 *    finish the run). It decides needs, `if:` (expr.h), max-parallel,
 *    fail-fast, concurrency groups inside the run and timeouts, reads no
 *    clock (time comes in each event) and is tested with random event
 *    sequences against invariants (tests/unit/test_pipeline_dag.c).
 *
 * Limits (stated in docs/pipelines.md, each refused with a clear error,
 * never silently): the PIPELINE_MAX_* below; expressions' in expr.h.
 */
#ifndef SW_PIPELINE_H
#define SW_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../core/buf.h"
#include "../core/core.h"
#include "../core/cron.h"
#include "../core/tz.h"
#include "../spec/spec.h"
#include "expr.h"

#define PIPELINE_MAX_JOBS 1024       /* jobs one document declares */
#define PIPELINE_MAX_MATRIX 256      /* combinations of one job's matrix */
#define PIPELINE_MAX_RUNS 4096       /* job runs of one pipeline run, matrices expanded */
#define PIPELINE_MAX_STEPS 256       /* steps of one job */
#define PIPELINE_MAX_OUTPUTS (1024 * 1024) /* bytes of one job's outputs (executor) */
#define PIPELINE_MAX_LOG (64u * 1024 * 1024) /* bytes of one step's log (executor) */
#define PIPELINE_DEFAULT_TIMEOUT_MS (6ull * 3600 * 1000) /* a job's, as GitHub's 360 minutes */
#define PIPELINE_DEFAULT_QUEUE 16    /* runs a concurrency group holds waiting */
#define PIPELINE_DEFAULT_FILE ".slipway/pipeline.yaml"

/* A name and a text: env, outputs. The value may hold ${{ }}. */
struct pipeline_var {
	char *name;
	char *value;
};

enum {
	PIPELINE_RETRY_FAILURE = 1 << 0, /* the step exited non-zero */
	PIPELINE_RETRY_TIMEOUT = 1 << 1, /* the step ran past its timeout */
};

struct pipeline_step {
	char *id;                   /* NULL when not written; unique in the job */
	char *name;                 /* NULL: the run text's first line */
	char *run;                  /* shell text (sh -e), may hold ${{ }} */
	char *working_directory;    /* relative to the workspace; NULL: the workspace */
	char *if_text;              /* NULL: success() */
	struct pipeline_var *env;
	size_t nenv;
	uint64_t timeout_ms;        /* 0: as long as the job's timeout allows */
	bool continue_on_error;
	uint32_t retry_max;         /* attempts after the first */
	unsigned retry_when;        /* PIPELINE_RETRY_*; default failure */
};

enum pipeline_probe {
	PIPELINE_PROBE_TCP,
	PIPELINE_PROBE_HTTP,
	PIPELINE_PROBE_EXEC,
};

/* A process started for a job before its steps, stopped after them. */
struct pipeline_service {
	char *name;
	char **command;             /* argv; a string is ["/bin/sh", "-c", it] */
	size_t argc;
	struct pipeline_var *env;
	size_t nenv;
	int probe;                  /* enum pipeline_probe */
	char *tcp;                  /* "127.0.0.1:5432" */
	char *http;                 /* "http://127.0.0.1:8080/healthz" */
	char **exec;
	size_t nexec;
	uint64_t period_ms;         /* default 1s */
	uint64_t timeout_ms;        /* ready within it, else the job fails; default 60s */
};

struct pipeline_cache {
	char *key;                  /* may hold ${{ hashFiles(...) }} */
	char **paths;
	size_t npaths;
	char **restore_keys;        /* prefixes tried in order when key misses */
	size_t nrestore_keys;
};

struct pipeline_artifact {
	char *name;
	char **paths;
	size_t npaths;
};

/* strategy: the matrix as written, and how its job runs go. */
struct pipeline_matrix {
	json_t *axes;               /* object: key -> non-empty array of values, in order;
				     * NULL without a matrix */
	json_t *include;            /* array of objects, or NULL */
	json_t *exclude;            /* array of objects, or NULL */
	uint32_t max_parallel;      /* 0: no limit */
	bool fail_fast;             /* default true */
};

/*
 * concurrency: at most one of a group runs at a time; the others wait in
 * order, never cancelled, at most `queue` of them (more are refused with
 * a message). A job's group is kept inside its run by the scheduler and
 * across runs by the daemon (a later slice); a pipeline's, across runs.
 */
struct pipeline_concurrency {
	char *group;                /* may hold ${{ }}; NULL: none */
	uint32_t queue;             /* default PIPELINE_DEFAULT_QUEUE */
};

/* reports: files the job's steps write, read after them (results.h). */
struct pipeline_reports {
	char **junit;               /* globs relative to the workspace */
	size_t njunit;
	char *coverage;             /* a glob: Cobertura, lcov or gcovr JSON summary; NULL: none */
};

/* gates: judged after the job's steps; one that fails fails the job. */
struct pipeline_gates {
	bool tests;                 /* tests: passed -- no failure, no error, at least one test */
	bool coverage;              /* coverage: {min} */
	double coverage_min;        /* percent of lines, 0..100 */
	char *bench_file;           /* benchmark: {file, metric, max}; NULL: none */
	char *bench_metric;
	double bench_max;
};

enum { PIPELINE_WORK_STEPS = 1, PIPELINE_WORK_DEPLOY = 2 };

/* network: what a job's steps may reach. none: their own loopback only
 * (the sandbox's --unshare-net); host: the host's network. */
enum pipeline_network { PIPELINE_NETWORK_HOST = 0, PIPELINE_NETWORK_NONE = 1 };

struct pipeline_job {
	char *id;                   /* the key under jobs: [A-Za-z_][A-Za-z0-9_-]* */
	char *name;                 /* NULL: the id */
	char **needs;               /* ids, none twice */
	size_t nneeds;
	char *if_text;              /* NULL: success() */
	struct pipeline_var *env;
	size_t nenv;
	struct pipeline_var *outputs;
	size_t noutputs;
	int work;                   /* PIPELINE_WORK_*: steps, or deploy */
	struct pipeline_step *steps;
	size_t nsteps;
	char *deploy_app;           /* deploy: {app, environment} */
	char *deploy_environment;   /* NULL: the default environment */
	struct pipeline_matrix strategy;
	uint64_t timeout_ms;        /* default PIPELINE_DEFAULT_TIMEOUT_MS */
	bool continue_on_error;     /* a failure does not fail the run nor its dependents */
	int network;                /* enum pipeline_network: host (default) or none */
	struct pipeline_concurrency concurrency; /* inside the run, and across runs */
	char *environment;          /* waits for its approvals and windows (later slice) */
	struct pipeline_service *services;
	size_t nservices;
	struct pipeline_cache *cache;
	size_t ncache;
	struct pipeline_artifact *upload;
	size_t nupload;
	char **download;
	size_t ndownload;
	struct pipeline_reports reports;
	struct pipeline_gates gates;
};

struct pipeline_schedule {
	struct sw_cron cron;
	struct sw_tz *tz;           /* NULL: UTC */
};

struct pipeline {
	char *name;                 /* metadata.name, a DNS label */
	json_t *labels;
	/* on: */
	bool on_push, on_manual;    /* neither written: manual */
	char *push_source;          /* the Source whose pushes run it; NULL: any */
	char **branches, **branches_ignore, **paths, **paths_ignore;
	size_t nbranches, nbranches_ignore, npaths, npaths_ignore;
	struct pipeline_schedule *schedules;
	size_t nschedules;
	struct pipeline_var *env;
	size_t nenv;
	struct pipeline_concurrency concurrency; /* runs of the pipeline, one at a time per group */
	struct pipeline_job *jobs;  /* in document order */
	size_t njobs;
	char *source;               /* "file:line:col" of the document */
};

/* The kind, for spec_doc_from_json and the like. */
extern const struct spec_kind pipeline_kind;

/* Registers Pipeline with spec and its reference; once, before any parse. */
void pipeline_kinds_register(void);

/* The job whose id is `id`, or NULL. */
const struct pipeline_job *pipeline_job_find(const struct pipeline *p, const char *id, size_t *index);

/*
 * Expands a matrix as GitHub does: every combination of the axes in order
 * (the last axis varying fastest), less those an exclude entry matches
 * (each of its keys equal), then each include entry added to every
 * combination it does not contradict on an axis, or as a combination of
 * its own when it fits none. *out is a new array of objects (one empty
 * object without a matrix). Returns -1 with "the matrix has N
 * combinations; at most 256..." when more than `limit` would result; the
 * count is found before any is made.
 */
int pipeline_matrix_expand(json_t **out, const struct pipeline_matrix *m, size_t limit, struct sw_err *err);

/* ---- the plan ---- */

/* One job run: a job, or one combination of its matrix. */
struct pipeline_plan_run {
	size_t job;                 /* index in pipeline.jobs */
	json_t *matrix;             /* object; empty without a matrix */
	char *name;                 /* "build", "build (gcc, debug)" */
};

struct pipeline_plan_job {
	size_t *needs;              /* indices in pipeline.jobs */
	size_t nneeds;
	size_t stage;               /* 0 for a job that needs none; else 1 + its needs' highest */
	size_t first_run, nruns;    /* its runs in plan.runs */
	struct pipeline_expr *cond; /* its if:, compiled; NULL: success() */
};

struct pipeline_plan {
	const struct pipeline *p;   /* borrowed: outlives the plan */
	struct pipeline_plan_job *jobs;   /* as p->jobs */
	size_t *order;              /* job indices by stage, then document order */
	size_t nstages;
	struct pipeline_plan_run *runs;   /* job by job in `order`, each job's matrix in order */
	size_t nruns;
};

/*
 * Makes the plan of a validated pipeline. Fails (-1, err) only on what
 * validation leaves to the plan: more than PIPELINE_MAX_RUNS job runs in
 * all. Free with pipeline_plan_free.
 */
int pipeline_plan_new(struct pipeline_plan **out, const struct pipeline *p, struct sw_err *err);
void pipeline_plan_free(struct pipeline_plan *plan);

/*
 * A cycle among the jobs' needs, or none: returns false, or true with
 * "a -> b -> c -> a" in out. Unknown needs are not followed (they are
 * errors of their own).
 */
bool pipeline_find_cycle(const struct pipeline *p, struct buf *out);

/* ---- the scheduler ---- */

enum pipeline_state {
	PIPELINE_PENDING = 0,       /* not started: waiting for needs, max-parallel, a group */
	PIPELINE_RUNNING,
	PIPELINE_SUCCESS,           /* final from here on */
	PIPELINE_FAILURE,
	PIPELINE_CANCELLED,
	PIPELINE_SKIPPED,
};

/* "pending", "running", "success", "failure", "cancelled", "skipped" */
const char *pipeline_state_name(enum pipeline_state s);
static inline bool pipeline_state_final(enum pipeline_state s)
{
	return s >= PIPELINE_SUCCESS;
}

enum pipeline_event_kind {
	PIPELINE_EV_START,          /* the run begins */
	PIPELINE_EV_DONE,           /* a running job run ended with `result` */
	PIPELINE_EV_CANCEL,         /* the operator cancels the run */
	PIPELINE_EV_TIMER,          /* time passed (dag.next_timer_ms) */
};

struct pipeline_event {
	enum pipeline_event_kind kind;
	uint64_t now_ms;            /* every event carries the time */
	size_t run;                 /* DONE: which */
	enum pipeline_state result; /* DONE: SUCCESS, FAILURE or CANCELLED */
	json_t *outputs;            /* DONE: the job's outputs object (borrowed), or NULL */
};

enum pipeline_action_kind {
	PIPELINE_ACT_START,         /* start job run `run` */
	PIPELINE_ACT_END,           /* `run` ends without starting: `result` SKIPPED or
				     * CANCELLED, or FAILURE (its if: could not be evaluated) */
	PIPELINE_ACT_STOP,          /* stop running `run` (cancel, fail-fast, timeout); its DONE
				     * event follows */
	PIPELINE_ACT_FINISH,        /* the run is over with `result`; exactly once */
};

struct pipeline_action {
	enum pipeline_action_kind kind;
	size_t run;
	enum pipeline_state result;
	char *reason;               /* END, STOP, FINISH: for people; owned by the action */
};

struct pipeline_actions {
	struct pipeline_action *v;
	size_t n, alloc;
};

void pipeline_actions_release(struct pipeline_actions *a);

/* The state of one pipeline run (owned by the caller; pipeline_dag_init,
 * pipeline_dag_release). Read it, never write it. */
struct pipeline_dag {
	const struct pipeline_plan *plan;   /* borrowed */
	json_t *slipway;            /* the slipway (github) context; owned reference */
	json_t *inputs;             /* inputs of a manual run; owned reference */
	enum pipeline_state *state; /* per run */
	bool *stopping;             /* per run: a STOP was sent */
	bool *timed_out;            /* per run: stopped for its timeout (ends as failure) */
	uint64_t *started_ms;       /* per run */
	char **group;               /* per run: its concurrency group, once evaluated */
	json_t **job_ctx;           /* per job, once every run of it ended: {result, outputs} */
	json_t **outputs;           /* per job: its runs' outputs merged (the last wins), or NULL */
	size_t *unfinished;         /* per job: runs not final */
	size_t *running;            /* per job: runs running */
	bool *failed;               /* per job: a run failed and the job does not continue on error */
	bool *upstream_failed;      /* per job: it or an ancestor failed */
	bool started, cancelled, finished;
	enum pipeline_state result; /* once finished */
	uint64_t next_timer_ms;     /* the next timeout to send a TIMER for; 0: none */
};

/* Sets up a run of `plan`; slipway and inputs (may be NULL) are increffed. */
void pipeline_dag_init(struct pipeline_dag *d, const struct pipeline_plan *plan, json_t *slipway,
		       json_t *inputs);
void pipeline_dag_release(struct pipeline_dag *d);

/*
 * Feeds one event; appends what to do to `out`. The rules:
 *   - a job run starts once every job its job needs has every run final,
 *     its if: is true (default success(): every needed job succeeded),
 *     the run is not cancelled, its job has fewer than max-parallel runs
 *     running, and no run of its concurrency group is running;
 *   - an if: that is false ends it SKIPPED; an if: that fails to evaluate
 *     ends it FAILURE (with the message); after a cancel nothing new
 *     starts: what has not started ends CANCELLED, what runs is stopped;
 *   - a failed run of a matrix with fail-fast stops its job's other runs
 *     and cancels the ones not started; continue-on-error jobs count as
 *     succeeded for their dependents and the run's result;
 *   - a run past its job's timeout is stopped, and its DONE counts as failure;
 *   - FINISH comes once, when every run is final: FAILURE when a job
 *     failed, CANCELLED when cancelled, else SUCCESS.
 * Events that do not apply (DONE for a run not running, anything after
 * FINISH, a second START) change nothing. Returns the number of actions added.
 */
size_t pipeline_dag_step(struct pipeline_dag *d, const struct pipeline_event *ev, struct pipeline_actions *out);

/* The needs context of job run `run`: {ID: {result, outputs}} for each
 * job its job needs, from what they reported (a new reference; a job not
 * yet final is left out). What its if: and its steps read as needs. */
json_t *pipeline_dag_needs(const struct pipeline_dag *d, size_t run);

/* ---- for the CLI (src/main.c hands these to it) ---- */

/*
 * `pipeline validate PATH`: reads the Pipeline document(s) at PATH and
 * appends one line for each ("pipeline/ci valid: 5 jobs, 9 job runs in 4
 * stages"). 0, or -1 with the positioned error; a file with no Pipeline
 * is an error.
 */
int pipeline_validate_text(struct buf *out, const char *path, struct sw_err *err);
/* `pipeline graph PATH`: the DAG as text, stage by stage, each job with
 * its needs, condition, matrix runs and what it deploys. */
int pipeline_graph_text(struct buf *out, const char *path, struct sw_err *err);

#endif
