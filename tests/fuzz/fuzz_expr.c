/*
 * libFuzzer target for the condition language: any bytes as an expression.
 * Compiling must never crash, hang or leak, and must either succeed or give
 * a "line:col: " message; an expression that compiles is evaluated against
 * every kind of result, and whatever it gives must be a well-formed value
 * (strings and arrays readable, bools 0/1) or an error with a message.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/expr.h"

static void check_value(const struct expr_value *v)
{
	volatile unsigned char sink = 0;
	switch (v->type) {
	case EXPR_STRING:
		for (size_t i = 0; i < v->len; i++)
			sink ^= (unsigned char)v->str[i];
		break;
	case EXPR_ARRAY:
		for (size_t i = 0; i < v->len; i++)
			sink ^= (unsigned char)(v->arr[i] > 0);
		break;
	case EXPR_BOOL:
		if (v->b != true && v->b != false)
			abort();
		break;
	case EXPR_NULL:
	case EXPR_NUMBER:
		break;
	default:
		abort();
	}
	struct buf b = BUF_INIT;
	expr_value_format(&b, v);
	if (b.len == 0)
		abort();
	buf_release(&b);
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct expr *e = NULL;
	struct sw_err err = {0};
	if (expr_compile_n(&e, (const char *)data, size, &err) != 0) {
		if (e || err.msg[0] == '\0')
			abort();
		return 0;
	}
	static const double arr[] = {0.5, 2, NAN, -1, 1e300};
	const struct expr_value results[] = {
		expr_number(0.995), expr_number(0), expr_number(NAN), expr_number(-INFINITY),
		expr_bool(true),    expr_bool(false), expr_string("ok"), expr_string(""),
		expr_array(arr, 5), expr_array(arr, 0), expr_null(),
	};
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
		struct expr_value out;
		sw_err_clear(&err);
		if (expr_eval(e, &results[i], &out, &err) == 0) {
			check_value(&out);
		} else if (err.msg[0] == '\0' || out.type != EXPR_NULL) {
			abort();
		}
		bool b;
		sw_err_clear(&err);
		if (expr_eval_bool(e, &results[i], &b, &err) != 0 && err.msg[0] == '\0')
			abort();
	}
	expr_free(e);
	return 0;
}
