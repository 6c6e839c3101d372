/*
 * runner: analysis runs on the loop. A run measures every metric of its
 * templates on its own timer (initialDelay, then every interval) through a
 * provider, folds each answer into the metric's run (measure.h), stores
 * every measurement with its reason, and reports the run's phase: Failed
 * or Error as soon as one metric is, otherwise Inconclusive or Successful
 * once all metrics are done.
 *
 * Providers sit behind a table of function pointers (provider.h; curl's
 * protocol handlers are the model): builtin and compare read the data
 * plane's per-revision windows and samples through `struct
 * analysis_metrics`, exec runs a command in its own process group (core/
 * proc.h: a timeout kills the whole group), prometheus and web are HTTP
 * calls through httpc. Adding a provider is adding a file and a row.
 * Nothing blocks the loop: every provider answers asynchronously, with a
 * timeout.
 *
 * The runner knows nothing of rollouts: the engine starts and stops runs
 * and reads their phase; kinds are plain names ("step", "background",
 * "prePromotion", "postPromotion").
 */
#ifndef SW_ANALYSIS_RUNNER_H
#define SW_ANALYSIS_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "core/core.h"
#include "measure.h"
#include "spec/spec.h"

struct store;
struct httpc;

/*
 * Where builtin and compare read the data plane's numbers. An implementer
 * (the daemon adapts traffic_get) answers each call exactly once, from the
 * loop, never from inside the call, unless cancelled; after cancel the
 * `data` is never used again. Calls return an id (never 0). An answer is
 * the parsed JSON (borrowed: valid during the callback) and error NULL, or
 * NULL and an error in words ("the proxy is not reachable"), which becomes
 * the measurement's reason.
 */
struct analysis_metrics {
	/* JSON of GET /v1/stats?window=W (src/proxy/proxy.h): {"series": [...]} */
	uint64_t (*stats)(void *impl, unsigned window_s,
			  void (*cb)(json_t *stats, const char *error, void *data), void *data);
	/* JSON of GET /v1/samples?app=A&revision=R&window=W: {"latencies", "errorRates"} */
	uint64_t (*samples)(void *impl, const char *app, int64_t revision, unsigned window_s,
			    void (*cb)(json_t *samples, const char *error, void *data), void *data);
	void (*cancel)(void *impl, uint64_t id);
	void *impl;
};

/*
 * Copied by analysis_runner_new. The callbacks come from the loop, or from
 * inside analysis_run_start where said. Those from the loop may stop any
 * run (also the one they report on); none may free the runner.
 */
struct analysis_runner_config {
	uv_loop_t *loop;
	struct store *store;       /* templates are read from it, measurements go to it */
	struct httpc *httpc;       /* prometheus and web; must outlive the runner */
	struct analysis_metrics metrics;
	/* A run's phase changed, by a measurement (never from inside
	 * analysis_run_start: read the initial phase with analysis_run_phase). */
	void (*on_phase)(const char *app, int64_t run_id, void *data);
	/* Something to record, with its message in words:
	 *   "AnalysisStarted"  "step analysis run 3 of revision 2 started (templates: golden; 2 metrics)"
	 *   "Measurement"      one that did not succeed: "run 3 golden/latency: ..."
	 *   "AnalysisDone"     "step analysis run 3 of revision 2: Failed: golden/latency: ..."
	 *   "AnalysisError"    "step analysis run 3: AnalysisTemplate \"x\" not found (apply it first)"
	 * AnalysisStarted, AnalysisError and (for a resumed run whose metrics had
	 * all ended) AnalysisDone come from inside analysis_run_start. */
	void (*on_event)(const char *app, const char *kind, const char *message, void *data);
	void *data;
};

struct analysis_runner;
struct analysis_run;

/* Returns 0 and the runner in *out, or -1 with err (a config without a
 * loop, store or metrics source). */
int analysis_runner_new(struct analysis_runner **out, const struct analysis_runner_config *cfg,
			struct sw_err *err);
/* Stops every run still going (no callbacks after), then frees; run the
 * loop afterwards so handles close and exec commands are reaped. NULL is
 * ignored. */
void analysis_runner_free(struct analysis_runner *r);

struct analysis_run_params {
	const char *app;
	int64_t id;                  /* the rollout's run id, per app */
	const char *kind;            /* "step", "background", "prePromotion", "postPromotion" */
	int64_t revision;            /* under analysis */
	int64_t stable;              /* the baseline for compare; 0 = none */
	const struct spec_analysis_ref *ref; /* templates and args; read during the call only */
	bool resumed;                /* a run the last daemon started: count what it stored */
	int64_t since_ms;            /* wall clock ms when the weight under judgement took effect
				      * (the step's start): windows start there, and the data
				      * wait counts from it; 0 = now */
	const char *listen;          /* the app's route.listen, where a template's synthetic
				      * `load` goes unless it names a url; NULL = not routed */
	const char *host;            /* the app's route.host (its Host header); NULL = any */
	const char *load_header;     /* one more header the load sends, "Name: value" (a blue/
				      * green preview's, so that the load reaches the preview);
				      * NULL = none */
};

/*
 * Starts a run: reads its templates from the store, merges the template's
 * args with the reference's, builds every metric (conditions compiled,
 * provider settings parsed into their typed structs), and starts each
 * metric's timer. Never NULL: a missing or invalid template gives a run
 * whose phase is already Error, with the reason (an AnalysisError event).
 * A resumed run first counts the measurements the store holds for its id
 * (measure.h's rules), so `count` and the limits include them; a metric
 * already ended is not measured again. on_phase is not called from inside
 * this call; read the initial phase with analysis_run_phase. Every string
 * in p is copied.
 *
 * Windows start at p->since_ms: a builtin window never reaches back before
 * it, and an answer short of data (no requests, fewer than minSamples) is
 * no measurement until the metric's data wait from since_ms has passed
 * (measure.h): the run stays Running and its reason says "golden/success-
 * rate: waiting for data: 3 of 20 requests, 2s of 10s". A metric without a
 * count (count 0, or interval alone) takes MEASURE_FINITE_COUNT
 * measurements, except in a "background" run, which measures until it is
 * stopped.
 *
 * A template with `load` (synthetic traffic, load.h) makes the run drive
 * GET requests at its rate to its url, or to http://LISTEN + its path
 * with the app's Host, from the start until the run ends (or is stopped)
 * or its duration passes, whichever comes first; one generator per run,
 * from the first template that has `load`. "LoadStarted" and "LoadStopped"
 * events say what it sent. A load without a url for an app without
 * route.listen, or a runner without httpc, puts the run in Error.
 */
struct analysis_run *analysis_run_start(struct analysis_runner *r,
					const struct analysis_run_params *p);

/* Running, Successful, Failed, Inconclusive or Error (measure.h order). */
enum measure_phase analysis_run_phase(const struct analysis_run *run);
/* Which metric decided, with its value and threshold ("" while running);
 * valid until the next measurement or analysis_run_stop. */
const char *analysis_run_reason(const struct analysis_run *run);
int64_t analysis_run_id(const struct analysis_run *run);
int64_t analysis_run_revision(const struct analysis_run *run);
const char *analysis_run_kind(const struct analysis_run *run);

/* Stops a run and frees it: measurements in flight are abandoned (an exec
 * command's group is killed), no callback about it comes after this, and
 * `run` must not be used again. Safe from inside the runner's callbacks. */
void analysis_run_stop(struct analysis_run *run);

#endif
