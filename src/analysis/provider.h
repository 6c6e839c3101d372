/*
 * provider: the analysis providers behind one table of function pointers
 * (internal to src/analysis/; curl's protocol handlers are the model).
 *
 * A provider turns a metric's settings into measurements. Its settings are
 * parsed once, into the provider's own typed struct, when a run's metrics
 * are built from the template (runner.c); every measurement then reads
 * that struct, never the JSON. Adding a provider is adding a file that
 * defines one `struct analysis_provider` and a row in provider.c's table.
 *
 * One measurement is one call:
 *
 *	struct measure_input now;
 *	struct provider_call *c = prov->measure(&now, settings, env, done, m, &err);
 *	if (!c) ... the answer is in `now` already (an error, "no stable
 *	        revision"); its strings point into err.msg or static text ...
 *	...
 *	static void done(const struct measure_input *in, void *data) { ... }
 *	...
 *	prov->cancel(c);      to abandon it: done is never called after this
 *
 * Callback contract (as httpc's): done is called exactly once per call
 * that measure returned, from the loop, never from inside measure, unless
 * the call was cancelled; `in` and its strings are valid during done only.
 * The call is over when done returns (the provider frees it then); cancel
 * frees it too, possibly later (an exec command's group is killed and
 * reaped first), but never uses `data` again. Neither done nor anything
 * after cancel touches the settings or env, which must outlive the call
 * only until then.
 */
#ifndef SW_ANALYSIS_PROVIDER_H
#define SW_ANALYSIS_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "core/buf.h"
#include "core/core.h"
#include "httpc/httpc.h"
#include "measure.h"
#include "runner.h"

/* What a provider sees of the run it measures for (owned by the run). */
struct provider_env {
	uv_loop_t *loop;
	struct httpc *httpc;
	const struct analysis_metrics *metrics;
	const char *app;
	int64_t revision;            /* under analysis */
	int64_t stable;              /* the baseline for compare; 0 = none */
	int64_t since_ms;            /* wall clock ms: the window's start (the weight change); 0 = none */
};

/* Where parse reports from: errors read 'metric "NAME": exec: ...'. */
struct provider_parse_ctx {
	const struct measure_config *metric; /* name, interval */
	const json_t *args;          /* NULL or [{name, value}]: the template's merged with the reference's */
};

/* One measurement in flight: each provider's own struct, cast to this
 * opaque type (never defined) in and out of the table's functions. */
struct provider_call;

typedef void (*provider_done_cb)(const struct measure_input *in, void *data);

struct analysis_provider {
	const char *name;            /* the key under `provider:` in a template, "exec" */
	size_t settings_size;        /* bytes of the typed settings struct */
	/* Reads the provider's settings (the canonical JSON object spec.c
	 * validated) into `settings` (settings_size zeroed bytes). Returns 0,
	 * or -1 with err naming the metric; release is called either way. */
	int (*parse)(void *settings, const json_t *json, const struct provider_parse_ctx *ctx,
		     struct sw_err *err);
	/* What a measurement asks, shown with every stored measurement:
	 * "success-rate of revision 2 over 30s", a URL, a command line. */
	void (*describe)(struct buf *out, const void *settings, const struct provider_env *env);
	/* Starts one measurement; see the contract above. */
	struct provider_call *(*measure)(struct measure_input *now, const void *settings,
					 const struct provider_env *env, provider_done_cb done,
					 void *data, struct sw_err *err);
	void (*cancel)(struct provider_call *call);
	/* Frees what parse allocated inside settings (not settings itself). */
	void (*release)(void *settings);
	/* NULL, or a sequential provider's extra looks (compare error-rate: its test
	 * holds however often it looks). Returns how often (ms) the runner
	 * may ask between two intervals, 0 = not at all: while the metric
	 * waits for data (`waiting`), the first answer with enough data is
	 * then the metric's measurement, and the interval counts from it;
	 * otherwise an answer counts at once only when it is Failed, and the
	 * rest are dropped (not stored or counted). */
	uint64_t (*look_ms)(const void *settings, bool waiting);
};

/* How often compare looks between intervals (provider look_ms). */
#define PROVIDER_LOOK_MS 250

extern const struct analysis_provider analysis_provider_builtin;
extern const struct analysis_provider analysis_provider_compare;
extern const struct analysis_provider analysis_provider_exec;
extern const struct analysis_provider analysis_provider_web;
extern const struct analysis_provider analysis_provider_prometheus;

/* The provider called `name`, or NULL. */
const struct analysis_provider *analysis_provider_find(const char *name);

/*
 * Settings are read through a field table, one row per key, so that a
 * provider's parse is its defaults, its rows and what only it checks.
 * Absent and null keys keep the value the provider set before the call.
 */
enum provider_field_type {
	PF_STRING,    /* char * (owned) */
	PF_DURATION,  /* uint64_t ms, > 0, from "1m30s" */
	PF_DURATION0, /* uint64_t ms, >= 0 ("0s" allowed) */
	PF_NUMBER,    /* double */
	PF_COUNT,     /* uint32_t >= 1 */
	PF_ENUM,      /* int: index into choices */
	PF_ARGV,      /* char ** NULL-terminated (owned), non-empty list of strings */
	PF_HEADERS,   /* char ** NULL-terminated "Name: value" (owned), from a list of
		       * {name, value} or a mapping */
};

struct provider_field {
	const char *key;
	enum provider_field_type type;
	size_t offset;               /* in the settings struct */
	bool required;
	const char *const *choices;  /* PF_ENUM: NULL-terminated */
};

int provider_fields_parse(void *settings, const struct provider_field *fields, const json_t *json,
			  const char *provider, const struct provider_parse_ctx *ctx, struct sw_err *err);
void provider_fields_release(void *settings, const struct provider_field *fields);

/* Frees a NULL-terminated array of strings and the array. */
void provider_strv_free(char **v);

/* Room an answer's arrays may borrow until done returns. */
union provider_scratch {
	char text[512];
	double numbers[64];
};

/*
 * An HTTP measurement through httpc (web, prometheus) whose answer is JSON.
 * A failed request, a status other than 2xx or a body that is not JSON is
 * an error; otherwise answer turns the JSON into the input (its strings may
 * borrow from json, its arrays from scratch: both live until done returns).
 * Returns the call, or NULL with *now an error.
 */
typedef void (*provider_http_answer)(struct measure_input *in, const void *settings, json_t *json,
				     union provider_scratch *scratch);
struct provider_call *provider_http_measure(struct measure_input *now, const struct provider_env *env,
					    const struct httpc_request *req,
					    provider_http_answer answer, const void *settings,
					    provider_done_cb done, void *data, struct sw_err *err);
void provider_http_cancel(struct provider_call *call);

#endif
