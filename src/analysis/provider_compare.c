/*
 * compare: the statistical judge (judge.h) of the revision under analysis
 * against the stable one, over what the data plane keeps for each (raw
 * latencies in ms, or request and error counts), read through `struct
 * analysis_metrics`. Both revisions are asked at once; the judge runs when
 * both have answered.
 *
 * The judges are sequential: every look sees again the traffic since the
 * window's start (env->since_ms: the step's weight change), so stable and
 * canary are compared over the same period, and the window grows from
 * there up to `window` (300 s, the data plane's ring, by default). Each
 * look that tests is one more look of the same test, numbered for the
 * latency judge's alpha spending; a look short of data tests nothing and
 * spends nothing. The error-count test holds at any number of looks, so
 * the runner may look every PROVIDER_LOOK_MS between intervals (look_ms):
 * to end a wait for data sooner, and for a failure. docs/internals/judge.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "judge.h"
#include "provider.h"

enum compare_metric { COMPARE_LATENCY, COMPARE_ERROR_RATE };
static const char *const metrics[] = {"latency", "error-rate", NULL};

/* The sequence of looks of one run's metric (settings are per run). */
struct compare_looks {
	unsigned n;              /* looks that tested (not short of data) */
};

struct compare_settings {
	int metric;              /* enum compare_metric */
	uint64_t window_ms;      /* the longest the window grows to: 300 s unless set */
	unsigned window_s;       /* that in seconds, 1..300 */
	struct judge_config judge; /* confidence, maxIncrease; minSamples from min_samples */
	uint32_t min_samples;
	uint64_t ignore_below_ms; /* latency: a worsening this small passes; default 1 ms */
	struct compare_looks *looks; /* owned; changed by each measurement */
};

#define CMP(f) offsetof(struct compare_settings, f)
#define COMPARE_IGNORE_BELOW_MS 1
static const struct provider_field compare_fields[] = {
	{"metric", PF_ENUM, CMP(metric), true, metrics},
	{"window", PF_DURATION, CMP(window_ms), false, NULL},
	{"confidence", PF_NUMBER, CMP(judge.confidence), false, NULL},
	{"maxIncrease", PF_NUMBER, CMP(judge.max_increase), false, NULL},
	{"minSamples", PF_COUNT, CMP(min_samples), false, NULL},
	{"ignoreBelow", PF_DURATION0, CMP(ignore_below_ms), false, NULL},
	{NULL, 0, 0, false, NULL},
};

static int compare_parse(void *settings, const json_t *json, const struct provider_parse_ctx *ctx,
			 struct sw_err *err)
{
	struct compare_settings *s = settings;
	s->window_ms = 300000;
	s->looks = xcalloc(1, sizeof(*s->looks));
	s->judge.confidence = 0.98;
	s->judge.max_increase = 0.1;
	s->min_samples = 30;
	s->ignore_below_ms = COMPARE_IGNORE_BELOW_MS;
	if (provider_fields_parse(s, compare_fields, json, "compare", ctx, err) < 0)
		return -1;
	if (!(s->judge.confidence > 0 && s->judge.confidence < 1))
		return sw_errf(err, -1,
			       "metric \"%s\": compare: \"confidence\" must be strictly between 0 and 1, got %g",
			       ctx->metric->name, s->judge.confidence);
	if (!(s->judge.max_increase >= 0))
		return sw_errf(err, -1, "metric \"%s\": compare: \"maxIncrease\" must be >= 0, got %g",
			       ctx->metric->name, s->judge.max_increase);
	uint64_t w = (s->window_ms + 999) / 1000;
	s->window_s = w < 1 ? 1 : w > 300 ? 300 : (unsigned)w;
	s->judge.min_samples = s->min_samples;
	s->judge.ignore_below = (double)s->ignore_below_ms;
	return 0;
}

static void compare_release(void *settings)
{
	struct compare_settings *s = settings;
	free(s->looks);
	s->looks = NULL;
	provider_fields_release(settings, compare_fields);
}

static void compare_describe(struct buf *out, const void *settings, const struct provider_env *env)
{
	const struct compare_settings *s = settings;
	buf_addf(out, "%s of revision %lld vs stable %lld since the weight change (at most %us)", metrics[s->metric],
		 (long long)env->revision, (long long)env->stable, s->window_s);
}

/* One revision's side of the comparison. */
struct side {
	struct compare_call *call;
	uint64_t id;             /* 0 once answered */
	double *v;
	size_t n;
	uint64_t requests, errors; /* error-rate: the window's counts */
	bool counted;            /* the answer had them */
};

struct compare_call {
	const struct compare_settings *s;
	const struct provider_env *env;
	struct side base, cand;
	char error[256];         /* the first side's error, "" when none */
	unsigned look;           /* 1 = the run's first look that tests */
	provider_done_cb done;
	void *data;
};

static void compare_free(struct compare_call *c)
{
	free(c->base.v);
	free(c->cand.v);
	free(c);
}

static void judge(struct compare_call *c)
{
	const struct compare_settings *s = c->s;
	struct judge_result jr;
	struct measure_input in;

	if (c->error[0]) {
		in = measure_input_error(c->error);
	} else {
		struct judge_config cfg = s->judge;
		cfg.look = c->look;
		if (s->metric == COMPARE_ERROR_RATE && c->base.counted && c->cand.counted)
			judge_error_counts(&jr, &cfg, c->base.requests, c->base.errors, c->cand.requests,
					   c->cand.errors);
		else if (s->metric == COMPARE_ERROR_RATE) /* a data plane without counts */
			judge_error_rate(&jr, &s->judge, c->base.v, c->base.n, c->cand.v, c->cand.n);
		else
			judge_latency(&jr, &cfg, c->base.v, c->base.n, c->cand.v, c->cand.n);
		if (jr.verdict == JUDGE_INCONCLUSIVE) {
			in = measure_input_no_data(jr.reason);
		} else {
			s->looks->n = c->look; /* this look was spent */
			in = measure_input_value(expr_bool(jr.verdict == JUDGE_PASS), MEASURE_SAMPLES_UNKNOWN);
			in.detail = jr.reason;
		}
	}
	c->done(&in, c->data);
	compare_free(c);
}

static void on_samples(json_t *samples, const char *error, void *data)
{
	struct side *side = data;
	struct compare_call *c = side->call;

	side->id = 0;
	if (!samples) {
		if (!c->error[0])
			snprintf(c->error, sizeof(c->error), "%s", error ? error : "no answer");
	} else {
		json_t *arr = json_object_get(samples, c->s->metric == COMPARE_ERROR_RATE ? "errorRates"
											 : "latencies");
		size_t n = json_array_size(arr);
		side->v = xcalloc(n + 1, sizeof(double));
		for (size_t i = 0; i < n; i++) {
			json_t *x = json_array_get(arr, i);
			if (json_is_number(x))
				side->v[side->n++] = json_number_value(x);
		}
		json_t *req = json_object_get(samples, "requests"), *err = json_object_get(samples, "errors");
		if (json_is_integer(req) && json_is_integer(err) && json_integer_value(req) >= 0 &&
		    json_integer_value(err) >= 0) {
			side->requests = (uint64_t)json_integer_value(req);
			side->errors = (uint64_t)json_integer_value(err);
			side->counted = true;
		}
	}
	if (!c->base.id && !c->cand.id)
		judge(c);
}

/*
 * The data plane's one-second slots (numbered by CLOCK_MONOTONIC seconds,
 * in this process as in the proxy) from the one holding the window's start
 * to the current one: the weight change's second is included whole, so
 * both revisions are counted over the same seconds since the change.
 */
static unsigned window_now(const struct compare_settings *s, const struct provider_env *env)
{
	uint64_t now = sw_now_ms();
	int64_t ago = env->since_ms > 0 ? sw_wall_ms() - env->since_ms : 0;
	if (ago < 0)
		ago = 0;
	uint64_t start = (uint64_t)ago < now ? now - (uint64_t)ago : 0;
	uint64_t slots = now / 1000 - start / 1000 + 1;
	return slots < s->window_s ? (unsigned)slots : s->window_s;
}

/* Only the error-count test holds at any number of looks; the latency
 * test pays for each (alpha spent over looks) and keeps to its interval,
 * where its first look sees a few seconds of the new instance rather than
 * its first requests. */
static uint64_t compare_look_ms(const void *settings, bool waiting)
{
	const struct compare_settings *s = settings;
	(void)waiting;
	return s->metric == COMPARE_ERROR_RATE ? PROVIDER_LOOK_MS : 0;
}

static struct provider_call *compare_measure(struct measure_input *now, const void *settings,
					     const struct provider_env *env, provider_done_cb done,
					     void *data, struct sw_err *err)
{
	const struct compare_settings *s = settings;
	const struct analysis_metrics *m = env->metrics;

	if (!env->stable || env->stable == env->revision) {
		*now = measure_input_no_data("no stable revision to compare with");
		return NULL;
	}
	struct compare_call *c = xcalloc(1, sizeof(*c));
	c->look = s->looks->n + 1;
	c->s = s;
	c->env = env;
	c->done = done;
	c->data = data;
	c->base.call = c->cand.call = c;
	unsigned window_s = window_now(s, env);
	c->base.id = m->samples(m->impl, env->app, env->stable, window_s, on_samples, &c->base);
	c->cand.id = m->samples(m->impl, env->app, env->revision, window_s, on_samples, &c->cand);
	return (struct provider_call *)c;
}

static void compare_cancel(struct provider_call *call)
{
	struct compare_call *c = (struct compare_call *)call;
	const struct analysis_metrics *m = c->env->metrics;
	if (c->base.id)
		m->cancel(m->impl, c->base.id);
	if (c->cand.id)
		m->cancel(m->impl, c->cand.id);
	compare_free(c);
}

const struct analysis_provider analysis_provider_compare = {
	.name = "compare",
	.settings_size = sizeof(struct compare_settings),
	.parse = compare_parse,
	.describe = compare_describe,
	.measure = compare_measure,
	.cancel = compare_cancel,
	.release = compare_release,
	.look_ms = compare_look_ms,
};
