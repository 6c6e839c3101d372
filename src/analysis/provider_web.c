/*
 * web: calls a URL and takes the result out of its JSON answer (jsonPath:
 * "$.data.ok", "$.items[0].value"; the whole answer without one). The URL
 * takes {{args.NAME}} placeholders, substituted once when the run starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

static const char *const methods[] = {"GET", "POST", NULL};

struct web_settings {
	char *url;               /* args substituted */
	int method;              /* index into methods[] */
	char **headers;          /* "Name: value", NULL-terminated; may be NULL */
	char *body;              /* NULL: none */
	char *json_path;         /* NULL: the whole answer */
	uint64_t timeout_ms;
};

#define WEB(f) offsetof(struct web_settings, f)
static const struct provider_field web_fields[] = {
	{"url", PF_STRING, WEB(url), true, NULL},
	{"method", PF_ENUM, WEB(method), false, methods},
	{"headers", PF_HEADERS, WEB(headers), false, NULL},
	{"body", PF_STRING, WEB(body), false, NULL},
	{"jsonPath", PF_STRING, WEB(json_path), false, NULL},
	{"timeout", PF_DURATION, WEB(timeout_ms), false, NULL},
	{NULL, 0, 0, false, NULL},
};

static int web_parse(void *settings, const json_t *json, const struct provider_parse_ctx *ctx,
		     struct sw_err *err)
{
	struct web_settings *s = settings;
	struct sw_err e = {0};
	char *url = NULL;
	s->timeout_ms = 5000;
	if (provider_fields_parse(s, web_fields, json, "web", ctx, err) < 0)
		return -1;
	if (measure_args_substitute(&url, s->url, ctx->args, &e) < 0)
		return sw_errf(err, -1, "metric \"%s\": web: \"url\": %s", ctx->metric->name, e.msg);
	free(s->url);
	s->url = url;
	return 0;
}

static void web_release(void *settings)
{
	provider_fields_release(settings, web_fields);
}

static void web_describe(struct buf *out, const void *settings, const struct provider_env *env)
{
	const struct web_settings *s = settings;
	buf_adds(out, s->url);
}

/* Follows a small JSON path ("$.data.ok", "$.items[0].value"). */
static json_t *json_path(json_t *j, const char *path)
{
	const char *p = path;
	if (*p == '$')
		p++;
	while (j && *p) {
		if (*p == '.') {
			p++;
			size_t n = strcspn(p, ".[");
			char key[128];
			if (n >= sizeof(key))
				return NULL;
			memcpy(key, p, n);
			key[n] = '\0';
			j = json_object_get(j, key);
			p += n;
		} else if (*p == '[') {
			char *end;
			long idx = strtol(p + 1, &end, 10);
			if (*end != ']' || idx < 0)
				return NULL;
			j = json_array_get(j, (size_t)idx);
			p = end + 1;
		} else {
			return NULL;
		}
	}
	return j;
}

static void web_answer(struct measure_input *in, const void *settings, json_t *j,
		       union provider_scratch *scratch)
{
	const struct web_settings *s = settings;
	json_t *v = s->json_path ? json_path(j, s->json_path) : j;

	if (!v)
		*in = measure_input_no_data("jsonPath found nothing in the answer");
	else if (json_is_number(v))
		*in = measure_input_value(expr_number(json_number_value(v)), MEASURE_SAMPLES_UNKNOWN);
	else if (json_is_boolean(v))
		*in = measure_input_value(expr_bool(json_is_true(v)), MEASURE_SAMPLES_UNKNOWN);
	else if (json_is_string(v))
		*in = measure_input_value(expr_string(json_string_value(v)), MEASURE_SAMPLES_UNKNOWN);
	else
		*in = measure_input_error("jsonPath does not point at a number, bool or string");
}

static struct provider_call *web_measure(struct measure_input *now, const void *settings,
					 const struct provider_env *env, provider_done_cb done,
					 void *data, struct sw_err *err)
{
	const struct web_settings *s = settings;
	struct httpc_request req = {
		.method = methods[s->method],
		.url = s->url,
		.headers = (const char *const *)s->headers,
		.body = s->body,
		.body_len = s->body ? strlen(s->body) : 0,
		.timeout_ms = s->timeout_ms,
	};
	return provider_http_measure(now, env, &req, web_answer, s, done, data, err);
}

const struct analysis_provider analysis_provider_web = {
	.name = "web",
	.settings_size = sizeof(struct web_settings),
	.parse = web_parse,
	.describe = web_describe,
	.measure = web_measure,
	.cancel = provider_http_cancel,
	.release = web_release,
};
