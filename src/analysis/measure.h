/*
 * measure: the measurement semantics of one AnalysisTemplate metric, as in
 * Argo Rollouts, without I/O or clock. The daemon asks a provider for a
 * value every `interval`, folds each answer into the metric's run with
 * measure_fold, stores the record it gets back, and stops when the run's
 * phase is no longer Running.
 *
 *	struct measure_config cfg;
 *	measure_config_from_json(&cfg, metric_json, args_json, &err);
 *	struct measure_run run;
 *	measure_run_init(&run);
 *	... every interval:
 *	struct measure_input in = measure_input_value(expr_number(0.873), 1200);
 *	struct measure_record rec;
 *	measure_fold(&rec, &run, &cfg, &in);
 *	... store rec, show rec.reason; if run.phase != MEASURE_RUNNING: done ...
 *	measure_record_release(&rec);
 *	measure_config_release(&cfg);
 *
 * One measurement's outcome (docs/analysis.md has the full story):
 *   - successCondition only: true → Successful, false → Failed;
 *   - failureCondition only: true → Failed, false → Successful;
 *   - both: failureCondition true → Failed, else successCondition true →
 *     Successful, else Inconclusive;
 *   - neither: a bool result decides (true Successful, false Failed), any
 *     other result is Successful;
 *   - a condition that cannot be evaluated (type error, index out of
 *     range) or a provider error → Error;
 *   - no data, or fewer samples than minSamples → per noData
 *     (inconclusive, fail, pass), never judged by a condition.
 *
 * The run's phase after each measurement:
 *   Failed        failed > failureLimit
 *   Error         consecutive errors > consecutiveErrorLimit (an analysis
 *                 with an Error metric counts as failed)
 *   Inconclusive  inconclusive > inconclusiveLimit
 *   Successful    `count` measurements taken (errors do not count) without
 *                 any of the above; count 0 runs until measure_run_stop
 *   Running       otherwise
 */
#ifndef SW_ANALYSIS_MEASURE_H
#define SW_ANALYSIS_MEASURE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../core/buf.h"
#include "../core/core.h"
#include "expr.h"

/* The order matches enum rollout_run_phase. */
enum measure_phase {
	MEASURE_RUNNING,
	MEASURE_SUCCESSFUL,
	MEASURE_FAILED,
	MEASURE_INCONCLUSIVE,
	MEASURE_ERROR,
};

/* "Running", "Successful", "Failed", "Inconclusive", "Error". */
const char *measure_phase_name(enum measure_phase p);
/* Inverse of measure_phase_name; -1 when unknown. */
int measure_phase_parse(const char *name);

enum measure_nodata {
	MEASURE_NODATA_INCONCLUSIVE,
	MEASURE_NODATA_FAIL,
	MEASURE_NODATA_PASS,
};

/* One metric of a template, with its conditions compiled. */
struct measure_config {
	char *name;
	char *success_text;        /* successCondition after {{args.x}} substitution; NULL when absent */
	char *failure_text;        /* failureCondition, likewise */
	struct expr *success;      /* compiled success_text; NULL when absent */
	struct expr *failure;      /* compiled failure_text; NULL when absent */
	uint64_t interval_ms;
	uint64_t initial_delay_ms;
	uint32_t count;            /* measurements to take; 0 = until stopped */
	uint32_t failure_limit;
	uint32_t inconclusive_limit;
	uint32_t consecutive_error_limit;
	uint32_t min_samples;      /* 0 = no minimum */
	enum measure_nodata no_data;
	char *provider_kind;       /* "builtin", "prometheus", "web", "exec", "compare" */
	json_t *provider;          /* that provider's settings object (owned reference), args
				    * not substituted: measure_args_substitute does that */
};

/*
 * Reads one element of a template's canonical JSON (json.spec.metrics[i],
 * as spec_template_from_json validated it) into *out; release it with
 * measure_config_release, also after a failure. `args` is NULL or an array
 * of {"name", "value"} (the template's args with a reference's values
 * merged in); "{{args.NAME}}" in a condition is replaced by NAME's value
 * before it is compiled. Errors name the metric and the condition:
 *	metric "success-rate": successCondition: 1:15: expected ")" after "result >= (0.9"
 *	metric "latency": successCondition: unknown argument "limit" in "{{args.limit}}"
 */
int measure_config_from_json(struct measure_config *out, const json_t *metric, const json_t *args,
			     struct sw_err *err);
void measure_config_release(struct measure_config *c);

/*
 * Replaces every "{{args.NAME}}" (spaces allowed inside the braces) in text
 * by NAME's value from args (as above). Returns 0 and a new string in *out
 * (caller frees), or -1: an unknown NAME, an argument whose value is null,
 * or a "{{" without "}}".
 */
int measure_args_substitute(char **out, const char *text, const json_t *args, struct sw_err *err);

enum measure_input_kind {
	MEASURE_IN_VALUE,   /* the provider answered with a value */
	MEASURE_IN_ERROR,   /* the provider failed (unreachable, timeout, bad answer) */
	MEASURE_IN_NO_DATA, /* nothing to judge (no requests, empty answer) */
};

#define MEASURE_SAMPLES_UNKNOWN UINT64_MAX

/* What a provider produced for one measurement. Only read by measure_fold. */
struct measure_input {
	enum measure_input_kind kind;
	struct expr_value value; /* VALUE: the result; strings and arrays are borrowed */
	uint64_t samples;        /* VALUE: requests behind it, checked against minSamples;
				  * MEASURE_SAMPLES_UNKNOWN skips that check. NO_DATA: the
				  * requests seen (0) when the provider counts them, else
				  * MEASURE_SAMPLES_UNKNOWN; shown while the metric waits */
	const char *detail;      /* optional: the provider's message (the error, why no data,
				  * a judge's reason); shown in the record's reason, cut at 300 bytes */
};

static inline struct measure_input measure_input_value(struct expr_value v, uint64_t samples)
{
	return (struct measure_input){.kind = MEASURE_IN_VALUE, .value = v, .samples = samples};
}
static inline struct measure_input measure_input_error(const char *detail)
{
	return (struct measure_input){.kind = MEASURE_IN_ERROR, .samples = MEASURE_SAMPLES_UNKNOWN,
				      .detail = detail};
}
static inline struct measure_input measure_input_no_data(const char *detail)
{
	return (struct measure_input){.kind = MEASURE_IN_NO_DATA, .samples = MEASURE_SAMPLES_UNKNOWN,
				      .detail = detail};
}

/* A metric's run: counts of measurements by outcome. Plain data; copy freely. */
struct measure_run {
	enum measure_phase phase;
	uint32_t measured;           /* measurements folded, errors included */
	uint32_t taken;              /* non-error measurements; compared with count */
	uint32_t successful;
	uint32_t failed;
	uint32_t inconclusive;
	uint32_t errors;
	uint32_t consecutive_errors;
};

void measure_run_init(struct measure_run *run);

/* What one measurement was and what it did; owns its strings. */
struct measure_record {
	uint32_t seq;              /* 1, 2, ... within the run (run.measured after the fold) */
	enum measure_phase outcome; /* Successful, Failed, Inconclusive or Error (never Running) */
	char *value;               /* the result as text (expr_value_format); NULL without a value */
	double number;             /* the result when it is a number, else NaN */
	char *condition;           /* the condition that decided, "successCondition result >= 0.99";
				    * NULL when none did */
	char *reason;              /* one sentence, e.g. "success-rate = 0.873: successCondition
				    * result >= 0.99 is false: failed (2 failures, 1 allowed): metric failed" */
	enum measure_phase phase;  /* the run's phase after this measurement */
};

/*
 * Folds one measurement into run and describes it in *out (release with
 * measure_record_release). Returns 0; returns SW_EINVAL and leaves run
 * untouched (out zeroed) when the run has already ended.
 */
int measure_fold(struct measure_record *out, struct measure_run *run, const struct measure_config *cfg,
		 const struct measure_input *in);
void measure_record_release(struct measure_record *r);

/*
 * Waiting for data (docs/analysis.md, "When a metric waits for data").
 * A metric's window starts when the step's weight took effect; an answer
 * taken before enough requests reached the revision is not a verdict on
 * it. So an answer that is short of data — no data, or a value from fewer
 * samples than minSamples — is not folded while the metric's data wait
 * runs: the metric asks again at its next interval. The wait is
 * initialDelay + max(MEASURE_DATA_WAIT_MIN_MS, MEASURE_DATA_WAIT_INTERVALS
 * x interval) from the window's start; a short answer after it is folded,
 * and noData decides it. No traffic at all therefore ends as noData says
 * (inconclusive by default: the rollout pauses), never as a pass.
 */
#define MEASURE_DATA_WAIT_MIN_MS 10000
#define MEASURE_DATA_WAIT_INTERVALS 3

/* The data wait of a metric in ms, as above. */
uint64_t measure_data_wait_ms(const struct measure_config *cfg);

/*
 * Whether the answer `in`, taken `elapsed_ms` after the window started,
 * waits instead of being folded. When it does, returns true and appends
 * what is awaited to out, e.g. "success-rate: waiting for data: 3 of 20
 * requests (2s of 10s)"; otherwise returns false and leaves out alone.
 */
bool measure_waits(struct buf *out, const struct measure_config *cfg, const struct measure_input *in,
		   uint64_t elapsed_ms);

/*
 * The count of a metric that measures until stopped (count 0, or interval
 * alone) in an analysis that must end by itself: an analysis step, pre- or
 * post-promotion. Only a background analysis measures until its rollout
 * ends.
 */
#define MEASURE_FINITE_COUNT 5

/*
 * Ends a run that measures until stopped (or is stopped early): a Running
 * run becomes Successful, since none of its limits was exceeded. A run
 * that already ended keeps its phase. Returns the phase.
 */
enum measure_phase measure_run_stop(struct measure_run *run);

/*
 * The phase of an analysis from its metrics' phases: Failed if any is
 * Failed, else Error if any is Error, else Running if any is Running, else
 * Inconclusive if any is Inconclusive, else Successful (also for n = 0).
 * A failed or errored metric decides at once; an inconclusive one waits
 * for the others, which may still fail.
 */
enum measure_phase measure_analysis_phase(const enum measure_phase *phases, size_t n);

/* JSON forms for the store and the API (new references), and back. */
json_t *measure_record_to_json(const struct measure_record *r);
json_t *measure_run_to_json(const struct measure_run *run);
int measure_run_from_json(struct measure_run *out, const json_t *j, struct sw_err *err);

#endif
