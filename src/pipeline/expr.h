/*
 * pipeline expressions: the language of a Pipeline's `if:` conditions and
 * of the `${{ ... }}` templates in its text fields, as GitHub Actions
 * defines it, so that a workflow's conditions read the same here
 * (docs/pipelines.md, "Expressions", is the user's reference).
 *
 *	struct pipeline_expr *e = NULL;
 *	size_t at = 0;
 *	if (pipeline_expr_compile(&e, "needs.build.result == 'success'", 31,
 *				  PIPELINE_CTX_JOB_IF, &at, &err) < 0)
 *		... err.msg is the message, `at` the byte offset it is about ...
 *	json_t *v = NULL;
 *	if (pipeline_expr_eval(&v, e, &env, &err) == 0) ... json_decref(v);
 *	pipeline_expr_free(e);
 *
 * The language:
 *	literals     null, true, false, numbers (42, -1.5, 1e3, 0xff),
 *	             strings in single quotes ('it''s': a quote is doubled)
 *	contexts     slipway (also spelled github), env, matrix, needs,
 *	             strategy, steps, job, runner, inputs, vars, secrets
 *	access       a.b, a['b'], a[0], and the filter a.*.b
 *	operators    ( ) ! < <= > >= == != && || — in that precedence,
 *	             the comparisons above equality, && above ||
 *	functions    contains startsWith endsWith format join toJSON
 *	             fromJSON hashFiles success always failure cancelled
 * Names of contexts, properties and functions ignore case, as GitHub's do.
 *
 * GitHub's rules, kept on purpose:
 *   - values of different types are compared as numbers: null is 0, true
 *     1, false 0, a string its JSON number ("" is 0; anything else NaN);
 *     an array or object is NaN. NaN is equal to nothing, NaN included;
 *   - strings compare ignoring case; arrays and objects are equal only
 *     to themselves;
 *   - && and || give one of their operands (`a || 'default'`), which is
 *     then read for truth: false, 0, -0, '', null and NaN are false,
 *     everything else (arrays and objects too) true;
 *   - a missing property is null, never an error;
 *   - a condition that calls none of success(), failure(), always(),
 *     cancelled() is read as `success() && (condition)`.
 *
 * Safety: a text is at most PIPELINE_EXPR_MAX_LEN bytes and nests at most
 * PIPELINE_EXPR_MAX_DEPTH levels; evaluation has no loops and takes time
 * linear in the expression and the values it reads; a value it makes
 * (toJSON, format, join) is at most PIPELINE_EXPR_MAX_VALUE bytes.
 */
#ifndef SW_PIPELINE_EXPR_H
#define SW_PIPELINE_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "../core/buf.h"
#include "../core/core.h"

#define PIPELINE_EXPR_MAX_LEN 4096
#define PIPELINE_EXPR_MAX_DEPTH 64
#define PIPELINE_EXPR_MAX_VALUE (1024 * 1024)

/* The contexts a place may read (a bit each); others are refused at compile. */
enum {
	PIPELINE_CTX_SLIPWAY = 1 << 0,  /* slipway and github: the event and the checkout */
	PIPELINE_CTX_ENV = 1 << 1,
	PIPELINE_CTX_MATRIX = 1 << 2,   /* matrix and strategy */
	PIPELINE_CTX_NEEDS = 1 << 3,
	PIPELINE_CTX_STEPS = 1 << 4,    /* steps, job, runner */
	PIPELINE_CTX_INPUTS = 1 << 5,   /* inputs, vars */
	PIPELINE_CTX_SECRETS = 1 << 6,
	PIPELINE_CTX_STATUS = 1 << 7,   /* success() failure() always() cancelled() */
	PIPELINE_CTX_HASH = 1 << 8,     /* hashFiles() */
};
/* A job's `if:`: what is known before the job starts (GitHub's rule, with matrix
 * too: Slipway decides per matrix combination). */
#define PIPELINE_CTX_JOB_IF \
	(PIPELINE_CTX_SLIPWAY | PIPELINE_CTX_NEEDS | PIPELINE_CTX_INPUTS | PIPELINE_CTX_MATRIX | \
	 PIPELINE_CTX_STATUS)
/* A step's `if:` and the text fields of a job (run, env, with...). */
#define PIPELINE_CTX_STEP \
	(PIPELINE_CTX_SLIPWAY | PIPELINE_CTX_ENV | PIPELINE_CTX_MATRIX | PIPELINE_CTX_NEEDS | \
	 PIPELINE_CTX_STEPS | PIPELINE_CTX_INPUTS | PIPELINE_CTX_SECRETS | PIPELINE_CTX_HASH)
#define PIPELINE_CTX_STEP_IF (PIPELINE_CTX_STEP | PIPELINE_CTX_STATUS)

struct pipeline_expr;

/*
 * What an evaluation reads. `context` gives the value of a context by its
 * lower-case name ("slipway" for github too), borrowed, or NULL (null).
 * The three bools answer the status functions: success() is `success`,
 * failure() `failure`, cancelled() `cancelled`, always() true.
 * `hash_files` answers hashFiles(patterns...) with a new string; NULL
 * makes hashFiles an error ("hashFiles is evaluated when the job runs").
 */
struct pipeline_expr_env {
	json_t *(*context)(const char *name, void *data);
	int (*hash_files)(json_t **out, const char *const *patterns, size_t n, void *data,
			  struct sw_err *err);
	void *data;
	bool success, failure, cancelled;
};

/*
 * Compiles text[0..len). Returns 0 and a new expression in *out (free with
 * pipeline_expr_free), or -1 with err holding the message (no position)
 * and *at the byte offset of the problem in text:
 *	expected ")" after "(a"
 *	unknown function "startswith2" (did you mean "startsWith"?)
 *	the context "steps" is not available here (a job's if: is decided before it runs)
 * `contexts` is a mask of PIPELINE_CTX_* (what this place may read).
 */
int pipeline_expr_compile(struct pipeline_expr **out, const char *text, size_t len,
			  unsigned contexts, size_t *at, struct sw_err *err);
void pipeline_expr_free(struct pipeline_expr *e);
/* Whether it calls success(), failure(), always() or cancelled(). */
bool pipeline_expr_has_status(const struct pipeline_expr *e);

/* Evaluates; 0 and a new reference in *out, or -1 with err ("fromJSON:
 * '[1' is not JSON"). Never reads anything but env. */
int pipeline_expr_eval(json_t **out, const struct pipeline_expr *e, const struct pipeline_expr_env *env,
		       struct sw_err *err);

/* A condition: eval, then truth as the rules above, with the implicit
 * success() && when the expression calls no status function. */
int pipeline_expr_eval_cond(bool *out, const struct pipeline_expr *e, const struct pipeline_expr_env *env,
			    struct sw_err *err);

/* GitHub's truth of a value (NULL is null: false). */
bool pipeline_value_truthy(const json_t *v);
/* A value as text, as templates put it: null "", true "true", 3 "3",
 * 1.5 "1.5", a string itself, an array "Array", an object "Object". */
void pipeline_value_text(struct buf *out, const json_t *v);

/*
 * Conditions (`if:`) are written bare or as one whole `${{ ... }}`.
 * Compiles the condition at text (NUL-terminated): 0 and *out, or -1 with
 * err and *at as pipeline_expr_compile; text that holds `${{` but is not
 * one whole expression is an error (GitHub would read it as a non-empty
 * string: always true).
 */
int pipeline_cond_compile(struct pipeline_expr **out, const char *text, unsigned contexts, size_t *at,
			  struct sw_err *err);

/*
 * Templates: text with `${{ expression }}` parts. Checks every part
 * compiles (0, or -1 with err and *at as above); an unclosed `${{` is an
 * error at its offset.
 */
int pipeline_template_check(const char *text, unsigned contexts, size_t *at, struct sw_err *err);
/* Appends text with each part replaced by its value's text. */
int pipeline_template_eval(struct buf *out, const char *text, const struct pipeline_expr_env *env,
			   struct sw_err *err);

#endif
