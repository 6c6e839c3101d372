/*
 * expr: the small, safe expression language of successCondition and
 * failureCondition (Argo Rollouts style). docs/analysis.md is the user's
 * reference; this header is the contract.
 *
 *	struct expr *e = NULL;
 *	struct sw_err err = {0};
 *	if (expr_compile(&e, "result >= 0.99", &err) < 0)
 *		... err.msg is "1:10: ..." ...
 *	struct expr_value r = expr_number(0.995), v;
 *	if (expr_eval(e, &r, &v, &err) == 0 && v.type == EXPR_BOOL && v.b) ...
 *	expr_free(e);
 *
 * The language: literals (numbers such as 3, 0.5, 1e-3; true, false,
 * null; strings in "..." or '...' with \\ \" \' \n \t escapes), the
 * variable `result`, indexing `result[0]`, arithmetic + - * / % and unary
 * -, comparisons == != < <= > >=, logic && || ! (short-circuit),
 * parentheses, and the functions isNaN(x), len(x), abs(x), min(a, b),
 * max(a, b), default(x, y).
 *
 * Safety: a text is at most EXPR_MAX_LEN bytes and nests at most
 * EXPR_MAX_DEPTH levels; there are no loops, no assignments and no access
 * to anything but `result`, so evaluation takes time linear in the size
 * of the expression, never allocates and cannot fail but with an error.
 *
 * Values are borrowed, never owned: a string or array in a result of
 * expr_eval points either into the compiled expression (a literal) or
 * into the `result` value passed in, and is valid while both are.
 */
#ifndef SW_ANALYSIS_EXPR_H
#define SW_ANALYSIS_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/buf.h"
#include "../core/core.h"

#define EXPR_MAX_LEN 4096  /* bytes of expression text */
#define EXPR_MAX_DEPTH 64  /* nesting of ( ), [ ], calls and unary operators */
#define EXPR_MAX_HEIGHT 256 /* operators applied one above the other */

enum expr_type {
	EXPR_NULL = 0, /* no value (JSON null); `result` when none is given */
	EXPR_NUMBER,
	EXPR_BOOL,
	EXPR_STRING,
	EXPR_ARRAY,    /* of numbers, e.g. a Prometheus vector */
};

struct expr_value {
	enum expr_type type;
	double num;        /* EXPR_NUMBER; may be NaN or infinite */
	bool b;            /* EXPR_BOOL */
	const char *str;   /* EXPR_STRING: len bytes, not necessarily NUL-terminated */
	const double *arr; /* EXPR_ARRAY: len numbers */
	size_t len;        /* EXPR_STRING: bytes; EXPR_ARRAY: elements */
};

static inline struct expr_value expr_null(void)
{
	return (struct expr_value){.type = EXPR_NULL};
}
static inline struct expr_value expr_number(double n)
{
	return (struct expr_value){.type = EXPR_NUMBER, .num = n};
}
static inline struct expr_value expr_bool(bool b)
{
	return (struct expr_value){.type = EXPR_BOOL, .b = b};
}
/* s must be NUL-terminated; the value borrows it. */
struct expr_value expr_string(const char *s);
static inline struct expr_value expr_array(const double *a, size_t n)
{
	return (struct expr_value){.type = EXPR_ARRAY, .arr = a, .len = n};
}

/* "null", "number", "bool", "string", "array". */
const char *expr_type_name(enum expr_type t);

struct expr;

/*
 * Compiles a NUL-terminated text. Returns 0 and a new expression in *out
 * (free with expr_free), or -1 with a message starting with the line and
 * column (1-based, in bytes) of the problem:
 *	1:15: expected ")" after "result >= (0.9"
 *	1:1: unknown name "reslt" (did you mean "result"?)
 * Callers add the subject in front ("successCondition: 1:15: ...").
 */
int expr_compile(struct expr **out, const char *text, struct sw_err *err);
/* The same for `len` bytes that may hold anything (a NUL byte is an error). */
int expr_compile_n(struct expr **out, const char *text, size_t len, struct sw_err *err);
void expr_free(struct expr *e);
/* The text the expression was compiled from. */
const char *expr_text(const struct expr *e);

/*
 * Evaluates against `result` (NULL means null). Returns 0 and the value in
 * *out, or -1 with a message "line:col: what" in err, e.g.
 *	1:8: cannot compare string with number
 *	1:7: index 2 is out of range (the array has 2 values)
 * Never allocates. Rules worth knowing (docs/analysis.md has all):
 *   - x / 0 and x % 0 are NaN, not errors;
 *   - every comparison with a NaN is false, != included (use isNaN);
 *   - operands of && || ! must be bools, of arithmetic numbers; values of
 *     different types compare only with == and != against null;
 *   - default(x, y) is y when x is null or NaN or x reads past the end of
 *     an array; y is evaluated only then.
 */
int expr_eval(const struct expr *e, const struct expr_value *result, struct expr_value *out,
	      struct sw_err *err);

/* expr_eval that also requires a bool ("1:1: the condition gave a number,
 * not true or false"). */
int expr_eval_bool(const struct expr *e, const struct expr_value *result, bool *out, struct sw_err *err);

/*
 * Appends v as a person reads it: 0.873, 1e-05, NaN, true, null, "text"
 * (JSON-escaped, cut at 200 bytes with "..."), [1, 2, 3] (at most 16
 * elements, then "... (N values)").
 */
void expr_value_format(struct buf *b, const struct expr_value *v);

#endif
