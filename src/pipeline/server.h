/*
 * server: pipeline runs on the daemon (docs/pipelines.md, "On the daemon";
 * docs/internals/pipelines.md, slice 4). The same executor as `pipeline
 * run` (exec.h), on the daemon's loop, driven by what happens to the
 * stored Pipeline documents (kind Pipeline objects: applied, or synced
 * from a Source's paths like any document):
 *
 *   - a push: the daemon hands each new commit a Source synced to
 *     pipeline_server_push (gitops' hook). Every stored Pipeline with
 *     `on: push` whose `source` is that Source (none written: the Source
 *     that owns the pipeline, or any Source for an applied one) and whose
 *     branches / paths filters match runs, on that commit: its files are
 *     checked out (`git archive` of the commit into a directory, by a
 *     child process, off the loop) and the changed paths read (`git diff
 *     --name-only BEFORE SHA`; every file for a source's first commit).
 *     A push the filters exclude starts nothing and records nothing.
 *   - a manual run (POST /v1/pipelines/NAME/runs, `slipway pipeline run
 *     --server NAME`): on the commit the pipeline's Source synced last,
 *     or in an empty directory for an applied pipeline without one.
 *   - a rerun of a stored run (all its jobs, or --failed: the jobs that
 *     did not succeed and what they need), on the same commit.
 *
 * Runs are rows of the store (store.h "Pipeline runs"), written at every
 * start and end of a job run or step; each job run's log, its lines
 * timestamped, is STATE/logs/pipelines/RUN/SLUG.log, and all the run's
 * lines, prefixed with the job run's name, are in run.log there (each at
 * most PIPELINE_MAX_LOG bytes, then cut with a note). Workspaces are
 * under STATE/pipelines/work/ and removed when the run ends.
 * Events: PipelineRunStarted, PipelineRunSucceeded, PipelineRunFailed
 * (cancelled runs too, with the reason).
 *
 * A daemon that stops (or is killed) during a run: the steps' sandboxes
 * die with it (bwrap --die-with-parent, and the PID namespace takes every
 * process of the step), and pipeline_server_start marks every run the
 * store still has queued or running as failed, "the daemon stopped during
 * the run". Runs are not resumed.
 *
 * Threading: one per loop, used from that loop's thread.
 */
#ifndef SW_PIPELINE_SERVER_H
#define SW_PIPELINE_SERVER_H

#include <stdint.h>

#include <uv.h>

#include "core/core.h"
#include "exec.h"

struct engine;
struct store;
struct http_server;
struct pipeline_server;

#define PIPELINE_SERVER_STOPPED "the daemon stopped during the run"

struct pipeline_server_config {
	uv_loop_t *loop;
	struct engine *engine;       /* the Pipeline and Source objects, events */
	struct store *store;         /* the runs */
	const char *state_dir;       /* logs/pipelines/ and pipelines/work/ under it */
	const char *sources_cache;   /* where a Source's bare repository is: DIR/NAME.git */
	enum pipeline_sandbox sandbox;
	unsigned workers;            /* job runs at once per run; 0: the number of CPUs */
};

int pipeline_server_new(struct pipeline_server **out, const struct pipeline_server_config *cfg,
			struct sw_err *err);
/* Fails the runs a previous daemon left open (see above) and clears old
 * workspaces. Call once, before anything starts a run. */
int pipeline_server_start(struct pipeline_server *ps, struct sw_err *err);
/*
 * The endpoints (docs/api.md "Pipelines"): GET /v1/pipeline-runs
 * (?pipeline=NAME&limit=N), GET /v1/pipeline-runs/{id}, GET
 * /v1/pipeline-runs/{id}/logs (?job=J&offset=N), POST
 * /v1/pipeline-runs/{id}/cancel, POST /v1/pipeline-runs/{id}/rerun
 * ({"failed": true}), POST /v1/pipelines/{name}/runs.
 */
void pipeline_server_routes(struct pipeline_server *ps, struct http_server *http);
/* A Source synced a new commit (gitops_push's fields): starts the
 * pipelines it triggers. */
void pipeline_server_push(struct pipeline_server *ps, const char *source, const char *ref, const char *sha,
			  const char *before, const char *git_dir);
/* Kills every run's steps at once (no cleanup steps) and records the runs
 * failed with PIPELINE_SERVER_STOPPED. Call before the loop's handles are
 * closed. */
void pipeline_server_stop(struct pipeline_server *ps);
void pipeline_server_free(struct pipeline_server *ps);

/* ---- pure, unit tested ---- */

/*
 * GitHub's filter patterns: `*` any characters but `/`, `**` any
 * characters, `?` one character but `/`; everything else literal.
 */
bool pipeline_glob(const char *pattern, const char *s);
/*
 * Whether s passes a list of patterns: the last pattern that matches it
 * decides, a `!PATTERN` one excluding (GitHub's order rule); none: false.
 */
bool pipeline_filter(char *const *patterns, size_t n, const char *s);
/*
 * Whether a push runs p: source (its name) and p's `source` / owner
 * (owner: the Source p came from, "" when applied), the branch of ref
 * against branches / branches-ignore, and the changed paths (n of them)
 * against paths / paths-ignore. changed NULL: not known yet (the paths
 * filters are not asked). Sets *why to what excluded it, a static text.
 */
bool pipeline_push_matches(const struct pipeline *p, const char *owner, const char *source, const char *ref,
			   char *const *changed, size_t n, const char **why);

#endif
