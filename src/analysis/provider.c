/*
 * The provider table, the field-table reader every provider's parse uses,
 * and the HTTP call web and prometheus share. See provider.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc/httpc.h"
#include "provider.h"

static const struct analysis_provider *const providers[] = {
	&analysis_provider_builtin,
	&analysis_provider_compare,
	&analysis_provider_exec,
	&analysis_provider_web,
	&analysis_provider_prometheus,
};

const struct analysis_provider *analysis_provider_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(providers) / sizeof(providers[0]); i++)
		if (strcmp(providers[i]->name, name) == 0)
			return providers[i];
	return NULL;
}

/* ---- settings ---- */

void provider_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "a mapping";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a bool";
	case JSON_NULL: return "null";
	}
	return "something else";
}

static int strv_from_list(char ***out, const json_t *v, const char *where, struct sw_err *err)
{
	size_t n = json_array_size(v);
	char **a = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(v, i));
		if (!s) {
			provider_strv_free(a);
			return sw_errf(err, -1, "%s[%zu] must be a string", where, i);
		}
		a[i] = xstrdup(s);
	}
	*out = a;
	return 0;
}

/* "Name: value" lines from [{name, value}] or {Name: value}. */
static int headers_from(char ***out, const json_t *v, const char *where, struct sw_err *err)
{
	size_t n = json_is_array(v) ? json_array_size(v) : json_object_size(v), k = 0;
	char **a = xcalloc(n + 1, sizeof(char *));
	struct buf line = BUF_INIT;
	const char *key;
	json_t *x;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			const char *name = json_string_value(json_object_get(x, "name"));
			const char *value = json_string_value(json_object_get(x, "value"));
			if (!name || !value)
				goto bad;
			buf_addf(&line, "%s: %s", name, value);
			a[k++] = buf_detach(&line);
		}
	} else {
		json_object_foreach((json_t *)v, key, x) {
			if (!json_is_string(x))
				goto bad;
			buf_addf(&line, "%s: %s", key, json_string_value(x));
			a[k++] = buf_detach(&line);
		}
	}
	*out = a;
	return 0;
bad:
	provider_strv_free(a);
	return sw_errf(err, -1, "%s must be a list of {name, value} strings or a mapping of strings",
		       where);
}

static int field_parse(void *settings, const struct provider_field *f, const json_t *v,
		       const char *where, struct sw_err *err)
{
	char *p = (char *)settings + f->offset;
	uint64_t ms;

	switch (f->type) {
	case PF_STRING:
		if (!json_is_string(v))
			break;
		free(*(char **)p);
		*(char **)p = xstrdup(json_string_value(v));
		return 0;
	case PF_DURATION:
	case PF_DURATION0:
		if (!json_is_string(v))
			break;
		if (sw_duration_parse(json_string_value(v), &ms) < 0 && f->type == PF_DURATION0)
			return sw_errf(err, -1, "%s must be a duration such as \"1ms\" (\"0s\": none), "
				       "got \"%s\"", where, json_string_value(v));
		if (sw_duration_parse(json_string_value(v), &ms) < 0 || (ms == 0 && f->type == PF_DURATION))
			return sw_errf(err, -1, "%s must be a duration > 0 such as \"10s\", got \"%s\"",
				       where, json_string_value(v));
		*(uint64_t *)p = ms;
		return 0;
	case PF_NUMBER:
		if (!json_is_number(v))
			break;
		*(double *)p = json_number_value(v);
		return 0;
	case PF_COUNT:
		if (!json_is_integer(v))
			break;
		if (json_integer_value(v) < 1 || json_integer_value(v) > UINT32_MAX)
			return sw_errf(err, -1, "%s must be an integer >= 1, got %lld", where,
				       (long long)json_integer_value(v));
		*(uint32_t *)p = (uint32_t)json_integer_value(v);
		return 0;
	case PF_ENUM:
		if (!json_is_string(v))
			break;
		for (int i = 0; f->choices[i]; i++)
			if (strcmp(f->choices[i], json_string_value(v)) == 0) {
				*(int *)p = i;
				return 0;
			}
		return sw_errf(err, -1, "%s: unknown value \"%s\"", where, json_string_value(v));
	case PF_ARGV:
		if (!json_is_array(v))
			break;
		if (json_array_size(v) == 0)
			return sw_errf(err, -1, "%s must not be empty", where);
		provider_strv_free(*(char ***)p);
		*(char ***)p = NULL;
		return strv_from_list((char ***)p, v, where, err);
	case PF_HEADERS:
		if (!json_is_array(v) && !json_is_object(v))
			break;
		provider_strv_free(*(char ***)p);
		*(char ***)p = NULL;
		return headers_from((char ***)p, v, where, err);
	}
	static const char *const want[] = {
		[PF_STRING] = "a string",      [PF_DURATION] = "a duration string",
		[PF_NUMBER] = "a number",      [PF_COUNT] = "an integer",
		[PF_ENUM] = "a string",        [PF_ARGV] = "a list of strings",
		[PF_HEADERS] = "a list or a mapping",
	};
	return sw_errf(err, -1, "%s must be %s, got %s", where, want[f->type], type_name(v));
}

int provider_fields_parse(void *settings, const struct provider_field *fields, const json_t *json,
			  const char *provider, const struct provider_parse_ctx *ctx, struct sw_err *err)
{
	const char *metric = ctx->metric->name;
	struct buf where = BUF_INIT;
	int rc = 0;

	if (!json_is_object(json))
		return sw_errf(err, -1, "metric \"%s\": %s: settings must be a mapping, got %s", metric,
			       provider, type_name(json));
	for (const struct provider_field *f = fields; f->key && rc == 0; f++) {
		const json_t *v = json_object_get(json, f->key);
		buf_reset(&where);
		buf_addf(&where, "metric \"%s\": %s: \"%s\"", metric, provider, f->key);
		if (!v || json_is_null(v)) {
			if (f->required)
				rc = sw_errf(err, -1, "%s is required", where.s);
			continue;
		}
		rc = field_parse(settings, f, v, where.s, err);
	}
	buf_release(&where);
	return rc;
}

void provider_fields_release(void *settings, const struct provider_field *fields)
{
	for (const struct provider_field *f = fields; f->key; f++) {
		char *p = (char *)settings + f->offset;
		if (f->type == PF_STRING) {
			free(*(char **)p);
			*(char **)p = NULL;
		} else if (f->type == PF_ARGV || f->type == PF_HEADERS) {
			provider_strv_free(*(char ***)p);
			*(char ***)p = NULL;
		}
	}
}

/* ---- one HTTP measurement ---- */

struct http_call {
	struct httpc *httpc;
	uint64_t id;
	provider_http_answer answer;
	const void *settings;
	provider_done_cb done;
	void *data;
};

static void http_done(int status, const char *body, size_t len, const char *error, void *data)
{
	struct http_call *c = data;
	union provider_scratch scratch;
	struct measure_input in;
	char detail[256];
	json_t *j = NULL;

	if (error) {
		in = measure_input_error(error);
	} else if (status < 200 || status > 299) {
		snprintf(detail, sizeof(detail), "HTTP %d: %.160s", status, body ? body : "");
		in = measure_input_error(detail);
	} else if (!(j = json_loadb(body, len, 0, NULL))) {
		in = measure_input_error("the answer is not JSON");
	} else {
		c->answer(&in, c->settings, j, &scratch);
	}
	c->done(&in, c->data);
	json_decref(j);
	free(c);
}

struct provider_call *provider_http_measure(struct measure_input *now, const struct provider_env *env,
					    const struct httpc_request *req,
					    provider_http_answer answer, const void *settings,
					    provider_done_cb done, void *data, struct sw_err *err)
{
	struct http_call *c;

	SW_ASSERT(env->httpc);
	c = xcalloc(1, sizeof(*c));
	c->httpc = env->httpc;
	c->answer = answer;
	c->settings = settings;
	c->done = done;
	c->data = data;
	c->id = httpc_request(env->httpc, req, http_done, c, err);
	if (!c->id) {
		free(c);
		*now = measure_input_error(err->msg);
		return NULL;
	}
	return (struct provider_call *)c;
}

void provider_http_cancel(struct provider_call *call)
{
	struct http_call *c = (struct http_call *)call;

	httpc_cancel(c->httpc, c->id);
	free(c);
}
