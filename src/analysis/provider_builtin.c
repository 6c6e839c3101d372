/*
 * builtin: a golden metric the data plane measures itself per revision
 * (success rate, error rate, latency percentiles, request rate), read from
 * its window stats through `struct analysis_metrics`. A window never
 * reaches back before the run's window start (env->since_ms, the weight
 * change): it covers min(window, now - since), rounded up to whole seconds,
 * since the data plane keeps one-second slots.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

/* The metric names of a template, and the field of a stats series each reads. */
static const char *const metrics[] = {"success-rate", "error-rate",  "latency-p50",  "latency-p90",
				      "latency-p95",  "latency-p99", "request-rate", NULL};
static const char *const fields[] = {"successRate", "errorRate", "p50Ms", "p90Ms",
				     "p95Ms",       "p99Ms",     "rate"};
_Static_assert(sizeof(fields) / sizeof(fields[0]) == sizeof(metrics) / sizeof(metrics[0]) - 1,
	       "one stats field per builtin metric");

struct builtin_settings {
	int metric;              /* index into metrics[] */
	uint64_t window_ms;
	unsigned window_s;       /* what the data plane is asked: 1..300 */
};

static const struct provider_field builtin_fields[] = {
	{"metric", PF_ENUM, offsetof(struct builtin_settings, metric), true, metrics},
	{"window", PF_DURATION, offsetof(struct builtin_settings, window_ms), false, NULL},
	{NULL, 0, 0, false, NULL},
};

static int builtin_parse(void *settings, const json_t *json, const struct provider_parse_ctx *ctx,
			 struct sw_err *err)
{
	struct builtin_settings *s = settings;
	s->window_ms = 30000;
	if (provider_fields_parse(s, builtin_fields, json, "builtin", ctx, err) < 0)
		return -1;
	uint64_t w = (s->window_ms + 999) / 1000;
	s->window_s = w < 1 ? 1 : w > 300 ? 300 : (unsigned)w;
	return 0;
}

static void builtin_release(void *settings)
{
	provider_fields_release(settings, builtin_fields);
}

static void builtin_describe(struct buf *out, const void *settings, const struct provider_env *env)
{
	const struct builtin_settings *s = settings;
	buf_addf(out, "%s of revision %lld over %us", metrics[s->metric], (long long)env->revision,
		 s->window_s);
}

/* The seconds to ask for: the window, or less when the window started later. */
static unsigned window_now(const struct builtin_settings *s, const struct provider_env *env)
{
	if (env->since_ms <= 0)
		return s->window_s;
	int64_t elapsed = sw_wall_ms() - env->since_ms;
	int64_t w = elapsed <= 0 ? 1 : (elapsed + 999) / 1000;
	return w < (int64_t)s->window_s ? (unsigned)w : s->window_s;
}

struct builtin_call {
	const struct builtin_settings *s;
	unsigned window_s;       /* asked this time: window_now */
	const struct provider_env *env;
	uint64_t id;
	provider_done_cb done;
	void *data;
};

/* The window series of (app, revision), or NULL. */
static json_t *series_of(json_t *stats, const char *app, int64_t revision)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(stats, "series"), i, s) {
		const char *a = json_string_value(json_object_get(s, "app"));
		if (a && strcmp(a, app) == 0 &&
		    json_integer_value(json_object_get(s, "revision")) == revision)
			return s;
	}
	return NULL;
}

static void builtin_stats(json_t *stats, const char *error, void *data)
{
	struct builtin_call *c = data;
	const struct builtin_settings *s = c->s;
	struct measure_input in;
	char detail[160];

	if (!stats) {
		in = measure_input_error(error ? error : "no answer");
	} else {
		json_t *series = series_of(stats, c->env->app, c->env->revision);
		json_int_t requests = json_integer_value(json_object_get(series, "requests"));
		json_t *v = json_object_get(series, fields[s->metric]);
		if (!series || requests <= 0 || !json_is_number(v)) {
			snprintf(detail, sizeof(detail), "no requests reached revision %lld in the last %us",
				 (long long)c->env->revision, c->window_s);
			in = measure_input_no_data(detail);
			in.samples = 0;
		} else {
			in = measure_input_value(expr_number(json_number_value(v)), (uint64_t)requests);
		}
	}
	c->done(&in, c->data);
	free(c);
}

static struct provider_call *builtin_measure(struct measure_input *now, const void *settings,
					     const struct provider_env *env, provider_done_cb done,
					     void *data, struct sw_err *err)
{
	const struct builtin_settings *s = settings;
	struct builtin_call *c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->env = env;
	c->done = done;
	c->data = data;
	c->window_s = window_now(s, env);
	c->id = env->metrics->stats(env->metrics->impl, c->window_s, builtin_stats, c);
	return (struct provider_call *)c;
}

static void builtin_cancel(struct provider_call *call)
{
	struct builtin_call *c = (struct builtin_call *)call;
	c->env->metrics->cancel(c->env->metrics->impl, c->id);
	free(c);
}

const struct analysis_provider analysis_provider_builtin = {
	.name = "builtin",
	.settings_size = sizeof(struct builtin_settings),
	.parse = builtin_parse,
	.describe = builtin_describe,
	.measure = builtin_measure,
	.cancel = builtin_cancel,
	.release = builtin_release,
};
