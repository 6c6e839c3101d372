/*
 * exec: runs one pipeline run on a libuv loop (docs/pipelines.md,
 * "Running a pipeline"; docs/internals/pipelines.md, slice 2). It drives
 * the pure scheduler (pipeline_dag_step) and does what it asks: each job
 * run's steps as processes, one after the other, in a workspace of its
 * own, inside a bubblewrap sandbox, on a bounded pool of workers.
 *
 *	struct pipeline_exec_options o = {.checkout = ".", .run_dir = ".slipway/runs/3",
 *					  .on_line = line, .on_step = step,
 *					  .on_job = job, .on_finish = done, .data = ctx};
 *	struct pipeline_exec *x = NULL;
 *	if (pipeline_exec_new(&x, loop, plan, &o, &err) < 0) ... err says why ...
 *	pipeline_exec_start(x);
 *	... uv_run(loop) ...      on_finish comes exactly once
 *	pipeline_exec_cancel(x, false);   Ctrl-C: stop, run the cleanup steps
 *	pipeline_exec_free(x);    from on_finish or after it
 *
 * The pieces, each stated where users read them (docs/pipelines.md):
 *   - workers: at most `workers` job runs run at once (default the number
 *     of CPUs); the others wait for one, in the order the scheduler
 *     started them. A job's timeout counts from the scheduler's start,
 *     waiting for a worker included.
 *   - workspace: each job run gets RUN_DIR/work/SLUG, a copy of the
 *     checkout's files (what `git ls-files -co --exclude-standard` lists
 *     in a git checkout, else every file but .git and .slipway/runs), with
 *     a `.git` file pointing at the checkout's repository so that git
 *     reads work. The copy is made when the job starts, on the loop's
 *     thread (it blocks the loop for as long as copying takes).
 *   - the step: `bash --noprofile --norc -e -o pipefail -c RUN` (GitHub's
 *     default shell) when bash is in PATH, else `sh -e -c RUN`, in the
 *     working-directory (inside the workspace), its stdout and stderr
 *     merged into one log, line by line. The environment is not the
 *     caller's; each name once, a later layer winning: PATH, HOME, USER,
 *     LOGNAME, LANG, LC_*, TZ and TERM kept from ours, the SLIPWAY_* /
 *     GITHUB_* variables (docs/pipelines.md lists them), pipeline, job
 *     and step env (the nearer wins) with what earlier steps added
 *     through $SLIPWAY_ENV, then the secrets.
 *   - the sandbox (PIPELINE_SANDBOX_BWRAP): bwrap --ro-bind / / --dev /dev
 *     --proc /proc --tmpfs /tmp --bind WORKSPACE --bind JOBFILES
 *     --unshare-pid --die-with-parent [--unshare-net for network: none]:
 *     a read-only system, the workspace and the job's files ($SLIPWAY_OUTPUT,
 *     $SLIPWAY_ENV, $RUNNER_TEMP) writable, a /tmp of its own per step, a
 *     PID namespace (when the step ends, everything it started ends).
 *     pipeline_exec_new checks that bwrap is there and can make its
 *     namespaces, and says what to do when not.
 *   - step semantics: if: with success()/failure()/always()/cancelled()
 *     (GitHub's: after a failure only failure() and always() steps run;
 *     after a stop only always() and cancelled() ones), timeout (the whole
 *     process group gets SIGTERM, SIGKILL 5 s later), retry {max, when},
 *     continue-on-error, outputs and env through files (pipeline_kv_parse),
 *     a step's log cut at PIPELINE_MAX_LOG bytes with a note.
 *   - secrets: given as env to every step and read as secrets.NAME;
 *     every line handed to on_line has them replaced by *** first
 *     (pipeline_mask).
 *
 * Callback contract: every callback runs from the loop, never from inside
 * pipeline_exec_new, _start, _cancel or _free. on_finish is called exactly
 * once per started executor, after every job run's last on_job; on_freed
 * once after pipeline_exec_free, when nothing of the executor is left. Strings a
 * callback gets are valid only during the call. After pipeline_exec_free
 * no callback is called and `data` is never used again.
 */
#ifndef SW_PIPELINE_EXEC_H
#define SW_PIPELINE_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "pipeline.h"

#define PIPELINE_STOP_GRACE_MS 5000  /* SIGTERM to the step's group, then SIGKILL */
#define PIPELINE_MAX_SECRETS 100

enum pipeline_sandbox {
	PIPELINE_SANDBOX_BWRAP = 0,  /* bubblewrap: the default */
	PIPELINE_SANDBOX_NONE,       /* plain processes in their own session */
};

/* A secret: NAME as env and secrets.NAME, its value masked in logs. */
struct pipeline_secret {
	char *name;
	char *value;
};

/* One line of a step's output (no newline), masked; or the executor's own note. */
struct pipeline_exec_line {
	size_t run;                 /* plan run index */
	size_t step;                /* step index in its job */
	const char *text;
	size_t len;
	int64_t wall_ms;            /* when it was read */
	bool note;                  /* the executor's (retrying, log cut, ...), not the step's */
};

/* A step began (state RUNNING) or ended (any final state). */
struct pipeline_exec_step {
	size_t run, step;
	const char *name;           /* the step's name, or its run text's first line */
	enum pipeline_state state;  /* RUNNING, SUCCESS, FAILURE, SKIPPED, CANCELLED */
	bool outcome_failed;        /* failed, but continue-on-error made it SUCCESS */
	unsigned attempt;           /* 1, 2... with retry */
	uint64_t duration_ms;       /* all attempts */
	const char *reason;         /* final: "exited with status 1", "timed out after 5s"; or NULL */
};

struct pipeline_exec_options {
	const char *checkout;       /* the directory copied into each workspace */
	const char *run_dir;        /* exists; work/ and files/ go under it */
	enum pipeline_sandbox sandbox;
	unsigned workers;           /* job runs at once; 0: the number of CPUs */
	const struct pipeline_secret *secrets; /* copied */
	size_t nsecrets;
	json_t *slipway;            /* the slipway/github context (ref, sha, run_number...); borrowed */
	const char *run_number;     /* $SLIPWAY_RUN_NUMBER */
	void (*on_line)(const struct pipeline_exec_line *l, void *data);
	void (*on_step)(const struct pipeline_exec_step *s, void *data);
	/* a job run started (RUNNING) or ended (final, with the reason it
	 * did not succeed, or NULL); duration_ms 0 for one that never started */
	void (*on_job)(size_t run, enum pipeline_state state, const char *reason, uint64_t duration_ms,
		       void *data);
	void (*on_finish)(enum pipeline_state result, const char *reason, void *data);
	/* may be NULL: the executor's memory is gone (some loop iterations
	 * after pipeline_exec_free); the plan may be freed from here on */
	void (*on_freed)(void *data);
	/* a job run with reports or gates ended its steps: what they say
	 * (results.h's pipeline_results_collect; borrowed), just before its
	 * on_job; a report that could not be read or a gate that failed
	 * makes the job fail with that reason. May be NULL. */
	void (*on_results)(size_t run, const json_t *results, void *data);
	void *data;
};

struct pipeline_exec;

/*
 * Sets up a run of plan (borrowed: it outlives the executor). Checks
 * the sandbox (bwrap in PATH, namespaces allowed: "the sandbox needs
 * bubblewrap: install it (apt-get install bubblewrap) or run with
 * --sandbox none") and that no job it would run uses what this slice does
 * not run (services, cache, artifacts, deploy, environment): -1 with err,
 * nothing started.
 */
int pipeline_exec_new(struct pipeline_exec **out, uv_loop_t *loop, const struct pipeline_plan *plan,
		      const struct pipeline_exec_options *o, struct sw_err *err);
/* Starts the run; what happens is told through the callbacks. */
void pipeline_exec_start(struct pipeline_exec *x);
/*
 * Cancels: nothing new starts; running steps' process groups get SIGTERM
 * (SIGKILL after PIPELINE_STOP_GRACE_MS) and each job then runs its
 * `if: always()` / `cancelled()` steps. force: SIGKILL now, no cleanup
 * steps (a second Ctrl-C). Idempotent.
 */
void pipeline_exec_cancel(struct pipeline_exec *x, bool force);
/* Frees it; after on_finish (may be called from inside on_finish). The
 * memory goes once the loop has closed its handles. */
void pipeline_exec_free(struct pipeline_exec *x);

/*
 * `slipway pipeline run [FILE] [--job J] [--secret S]...`: runs the one
 * Pipeline in file in the current directory (the checkout), without a
 * daemon, in .slipway/runs/N (N one more than the last; a .gitignore there
 * keeps runs out of git). Prints timestamped lines "HH:MM:SS.mmm [JOB RUN]
 * text", each step's start and end, and a summary table; writes each job
 * run's lines to .slipway/runs/N/SLUG.log. job: run that job and the jobs
 * it needs (NULL: all). secret_args: "NAME" (its value from our
 * environment) or "NAME=@FILE" (the file's text, one trailing newline
 * dropped). sandbox: "bwrap" (NULL too) or "none". workers: 0 for the
 * number of CPUs. SIGINT/SIGTERM cancel; a second one kills.
 * Returns the exit code (0 success, 1 failure, 130 cancelled), or -1 with
 * err when nothing ran (a bad file, option or sandbox).
 */
int pipeline_run_local(const char *file, const char *job, char *const *secret_args, size_t nsecrets,
		       const char *sandbox, unsigned workers, struct sw_err *err);

/* ---- pure helpers, unit tested ---- */

/*
 * Reads a $SLIPWAY_OUTPUT / $SLIPWAY_ENV file (GitHub's format) into the
 * object `into`: `NAME=VALUE` lines, and `NAME<<DELIM` followed by lines
 * up to a line that is DELIM exactly (the value is the lines between,
 * without the last newline). Empty lines are skipped; a later NAME wins.
 * Names are [A-Za-z_][A-Za-z0-9_-]*. Returns 0, or -1 with err ("line 3:
 * "x" is not NAME=VALUE or NAME<<DELIMITER", "line 2: no line "EOF"
 * closes the value of "notes"").
 */
int pipeline_kv_parse(json_t *into, const char *text, size_t len, struct sw_err *err);

/*
 * Appends line[0..len) to out with every occurrence of each secret value
 * replaced by ***. A value of several lines is masked line by line (each
 * of its lines as a value of its own), as GitHub does; values shorter
 * than 3 bytes are not masked (they would hide every "a" or "1").
 * Longer values are tried first, so one that holds another is masked whole.
 */
void pipeline_mask(struct buf *out, const char *line, size_t len, char *const *values, size_t n);

/* Splits secret values into their lines and sorts them, longest first:
 * what pipeline_mask takes. A new array of *n new strings; free with
 * pipeline_mask_values_free. */
char **pipeline_mask_values(const struct pipeline_secret *secrets, size_t nsecrets, size_t *n);
void pipeline_mask_values_free(char **v, size_t n);

/* The file name the job run's workspace, files and log are named by
 * ("build-gcc-debug" for "build (gcc, debug)"), unique in the run. */
const char *pipeline_exec_slug(const struct pipeline_exec *x, size_t run);

#endif
