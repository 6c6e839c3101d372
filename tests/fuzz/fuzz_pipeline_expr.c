/*
 * libFuzzer target for pipeline expressions: any bytes as an expression,
 * as a condition and as a template. Compiling must never crash, hang or
 * leak and must either succeed or give a message with an offset inside
 * the text; what compiles is evaluated against contexts of every shape,
 * and gives a value or an error with a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/expr.h"

static json_t *contexts;

static json_t *lookup(const char *name, void *data)
{
	return json_object_get(contexts, name);
}

static int hash(json_t **out, const char *const *patterns, size_t n, void *data, struct sw_err *err)
{
	*out = json_string(n ? patterns[0] : "");
	return *out ? 0 : sw_errf(err, -1, "bad pattern");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pipeline_expr *e = NULL;
	struct sw_err err = {0};
	size_t at = 0;
	if (!contexts)
		contexts = json_loads("{\"slipway\": {\"ref\": \"refs/heads/main\", \"event\": {\"a\": [1, \"x\", null, "
				      "{\"b\": true}]}}, \"matrix\": {\"os\": \"linux\", \"n\": 2.5}, \"needs\": {\"b\": "
				      "{\"result\": \"success\", \"outputs\": {\"v\": \"1\"}}}, \"env\": {}}", 0, NULL);
	struct pipeline_expr_env env = {lookup, hash, NULL, true, false, false};
	if (pipeline_expr_compile(&e, (const char *)data, size, ~0u, &at, &err) == 0) {
		json_t *v = NULL;
		bool b;
		if (pipeline_expr_eval(&v, e, &env, &err) == 0) {
			if (!v)
				abort();
			struct buf t = BUF_INIT;
			pipeline_value_text(&t, v);
			buf_release(&t);
			(void)pipeline_value_truthy(v);
		} else if (err.msg[0] == '\0') {
			abort();
		}
		json_decref(v);
		env.success = false;
		env.cancelled = true;
		sw_err_clear(&err);
		if (pipeline_expr_eval_cond(&b, e, &env, &err) < 0 && err.msg[0] == '\0')
			abort();
		pipeline_expr_free(e);
	} else if (e || err.msg[0] == '\0' || at > size) {
		abort();
	}
	/* the same bytes as a condition and a template, when they are text */
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	if (strlen(text) == size) {
		sw_err_clear(&err);
		if (pipeline_cond_compile(&e, text, PIPELINE_CTX_JOB_IF, &at, &err) == 0)
			pipeline_expr_free(e);
		else if (err.msg[0] == '\0' || at > size)
			abort();
		struct buf out = BUF_INIT;
		sw_err_clear(&err);
		if (pipeline_template_check(text, ~0u, &at, &err) == 0 &&
		    pipeline_template_eval(&out, text, &env, &err) < 0 && err.msg[0] == '\0')
			abort();
		buf_release(&out);
	}
	free(text);
	return 0;
}
