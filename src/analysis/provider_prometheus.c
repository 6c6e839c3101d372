/*
 * prometheus: an instant query (GET /api/v1/query) on a Prometheus server.
 * A scalar, or a vector of one sample, is a number; a vector of more is an
 * array (at most 64 samples); an empty vector is no data. The query takes
 * {{args.NAME}} placeholders, substituted once when the run starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

struct prometheus_settings {
	char *address;
	char *query;             /* args substituted */
	uint64_t timeout_ms;
	char *request_url;       /* ADDRESS/api/v1/query?query=QUERY, encoded */
};

#define PROM(f) offsetof(struct prometheus_settings, f)
static const struct provider_field prometheus_fields[] = {
	{"address", PF_STRING, PROM(address), true, NULL},
	{"query", PF_STRING, PROM(query), true, NULL},
	{"timeout", PF_DURATION, PROM(timeout_ms), false, NULL},
	{NULL, 0, 0, false, NULL},
};

static int prometheus_parse(void *settings, const json_t *json, const struct provider_parse_ctx *ctx,
			    struct sw_err *err)
{
	struct prometheus_settings *s = settings;
	struct sw_err e = {0};
	struct buf url = BUF_INIT;
	char *q = NULL;
	s->timeout_ms = 5000;
	if (provider_fields_parse(s, prometheus_fields, json, "prometheus", ctx, err) < 0)
		return -1;
	if (measure_args_substitute(&q, s->query, ctx->args, &e) < 0)
		return sw_errf(err, -1, "metric \"%s\": prometheus: \"query\": %s", ctx->metric->name,
			       e.msg);
	free(s->query);
	s->query = q;
	size_t al = strlen(s->address);
	while (al && s->address[al - 1] == '/')
		al--;
	buf_addf(&url, "%.*s/api/v1/query?query=", (int)al, s->address);
	httpc_urlencode(&url, s->query);
	s->request_url = buf_detach(&url);
	return 0;
}

static void prometheus_release(void *settings)
{
	struct prometheus_settings *s = settings;
	provider_fields_release(s, prometheus_fields);
	free(s->request_url);
	s->request_url = NULL;
}

static void prometheus_describe(struct buf *out, const void *settings, const struct provider_env *env)
{
	const struct prometheus_settings *s = settings;
	buf_adds(out, s->query);
}

static void prometheus_answer(struct measure_input *in, const void *settings, json_t *j,
			      union provider_scratch *scratch)
{
	json_t *data = json_object_get(j, "data");
	const char *type = json_string_value(json_object_get(data, "resultType"));
	json_t *res = json_object_get(data, "result");
	double *arr = scratch->numbers;
	size_t max = sizeof(scratch->numbers) / sizeof(scratch->numbers[0]), n = 0, i;
	json_t *s;

	if (type && (strcmp(type, "scalar") == 0 || strcmp(type, "string") == 0)) {
		const char *v = json_string_value(json_array_get(res, 1));
		*in = v ? measure_input_value(expr_number(strtod(v, NULL)), MEASURE_SAMPLES_UNKNOWN)
			: measure_input_error("malformed scalar");
	} else if (json_array_size(res) == 0) {
		*in = measure_input_no_data("the query returned no series");
	} else {
		json_array_foreach(res, i, s) {
			const char *v = json_string_value(json_array_get(json_object_get(s, "value"), 1));
			if (v && n < max)
				arr[n++] = strtod(v, NULL);
		}
		*in = n == 1 ? measure_input_value(expr_number(arr[0]), MEASURE_SAMPLES_UNKNOWN)
			     : measure_input_value(expr_array(arr, n), MEASURE_SAMPLES_UNKNOWN);
	}
}

static struct provider_call *prometheus_measure(struct measure_input *now, const void *settings,
						const struct provider_env *env, provider_done_cb done,
						void *data, struct sw_err *err)
{
	const struct prometheus_settings *s = settings;
	struct httpc_request req = {.method = "GET", .url = s->request_url, .timeout_ms = s->timeout_ms};
	return provider_http_measure(now, env, &req, prometheus_answer, s, done, data, err);
}

const struct analysis_provider analysis_provider_prometheus = {
	.name = "prometheus",
	.settings_size = sizeof(struct prometheus_settings),
	.parse = prometheus_parse,
	.describe = prometheus_describe,
	.measure = prometheus_measure,
	.cancel = provider_http_cancel,
	.release = prometheus_release,
};
