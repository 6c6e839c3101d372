/*
 * analysis: the pure core that decides whether a deploy is rolled back.
 * Expressions get tables of good and bad input with their exact results
 * and messages; the Mann-Whitney test is checked against values computed
 * independently (brute-force enumeration and the textbook formulas, and the
 * classic tables of critical values); the judges against seeded random
 * samples; measurement folding against every limit and noData policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "analysis/expr.h"
#include "analysis/judge.h"
#include "analysis/measure.h"
#include "core/buf.h"

/* ------------------------------------------------------------------ */
/* Expressions                                                        */

static const double arr3[] = {0.5, 2, NAN};

/* Compiles (must succeed) and evaluates; returns eval's rc. */
static int eval_text(const char *text, const struct expr_value *result, struct expr_value *out, struct sw_err *err)
{
	struct expr *e = NULL;
	struct sw_err cerr = {0};
	if (expr_compile(&e, text, &cerr) != 0)
		fail_msg("\"%s\" did not compile: %s", text, cerr.msg);
	int rc = expr_eval(e, result, out, err);
	expr_free(e);
	return rc;
}

static void test_analysis__expr_evaluates_booleans(void **state)
{
	struct expr_value n873 = expr_number(0.873), nan = expr_number(NAN), arr = expr_array(arr3, 3),
			  str = expr_string("ok"), t = expr_bool(true), nul = expr_null();
	static const double empty[1] = {0};
	struct expr_value none = expr_array(empty, 0);
	const struct {
		const char *text;
		const struct expr_value *result;
		bool want;
	} cases[] = {
		{"result >= 0.99", &n873, false},
		{"result < 0.99", &n873, true},
		{"result >= 0.8 && result < 0.9", &n873, true},
		{"result == 0.873", &n873, true},
		{"result != 0.873", &n873, false},
		{"!(result > 1)", &n873, true},
		{"result * 100 > 87 && result * 100 < 88", &n873, true},
		{"(result - 0.873) * 1000 < 1e-3", &n873, true},
		{"1 + 2 * 3 == 7", NULL, true},
		{"(1 + 2) * 3 == 9", NULL, true},
		{"10 - 4 - 3 == 3", NULL, true},
		{"8 / 4 / 2 == 1", NULL, true},
		{"7 % 3 == 1", NULL, true},
		{"-3 < -2", NULL, true},
		{"--3 == 3", NULL, true},
		{"2 * -1 == -2", NULL, true},
		{".5 == 0.5", NULL, true},
		{"1E2 == 100 && 2.5e-1 == 0.25 && 1e+1 == 10", NULL, true},
		{"true && !false", NULL, true},
		{"false || false", NULL, false},
		{"true == true && false != true", NULL, true},
		{"1 < 2 == true", NULL, true},
		{"result[0] == 0.5 && result[1] == 2", &arr, true},
		{"result[1 + 0] > result[0]", &arr, true},
		{"len(result) == 3", &arr, true},
		{"len(result) == 0", &none, true},
		{"isNaN(result[2])", &arr, true},
		{"isNaN(result)", &nan, true},
		{"isNaN(result)", &n873, false},
		{"isNaN(0 / 0) && isNaN(1 / 0) && isNaN(5 % 0)", NULL, true},
		{"result == \"ok\"", &str, true},
		{"result == 'ok'", &str, true},
		{"result != \"ko\" && len(result) == 2", &str, true},
		{"\"abc\" < \"abd\" && \"ab\" < \"abc\" && \"b\" > \"abc\"", NULL, true},
		{"'it\\'s' == \"it's\" && len(\"a\\nb\") == 3 && \"\\\\\" != \"\"", NULL, true},
		{"result", &t, true},
		{"result == true", &t, true},
		{"result == null", &nul, true},
		{"result != null", &n873, true},
		{"null == null", NULL, true},
		{"result == null", NULL, true},
		{"abs(-2.5) == 2.5 && abs(3) == 3", NULL, true},
		{"min(1, 2) == 1 && max(1, 2) == 2 && min(-1, -2) == -2", NULL, true},
		{"isNaN(min(result, 1)) && isNaN(max(2, result))", &nan, true},
		{"default(result, 0.5) == 0.5", &nul, true},
		{"default(result, 0.5) == 0.5", &nan, true},
		{"default(result, 0.5) == 0.873", &n873, true},
		{"default(result[7], 1) == 1", &arr, true},
		{"default(result[0], 1) == 0.5", &arr, true},
		{"default(result[0], 0) >= 0.99", &none, false},
		{"default(result[0], 1) >= 0.99", &nul, true},
		{"  result\n  >= 0.5\t", &n873, true},
		{"((((((result))))))>0", &n873, true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct expr_value out;
		struct sw_err err = {0};
		if (eval_text(cases[i].text, cases[i].result, &out, &err) != 0)
			fail_msg("\"%s\": %s", cases[i].text, err.msg);
		if (out.type != EXPR_BOOL)
			fail_msg("\"%s\" gave a %s", cases[i].text, expr_type_name(out.type));
		if (out.b != cases[i].want)
			fail_msg("\"%s\" gave %s", cases[i].text, out.b ? "true" : "false");
	}
}

static void test_analysis__expr_evaluates_numbers(void **state)
{
	struct expr_value arr = expr_array(arr3, 3);
	const struct {
		const char *text;
		double want;
	} cases[] = {
		{"1 + 2 * 3 - 4 / 2", 5}, {"2 * (3 + 4)", 14}, {"-(2 + 3)", -5}, {"7.5 % 2", 1.5},
		{"-7 % 3", -1},          {"1e-3", 0.001},     {"result[1] * 10", 20}, {"len(result) + 0.5", 3.5},
		{"max(result[0], result[1])", 2}, {"abs(result[0] - result[1])", 1.5},
		{"default(result[3], -1)", -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct expr_value out;
		struct sw_err err = {0};
		if (eval_text(cases[i].text, &arr, &out, &err) != 0)
			fail_msg("\"%s\": %s", cases[i].text, err.msg);
		assert_int_equal(out.type, EXPR_NUMBER);
		if (fabs(out.num - cases[i].want) > 1e-12)
			fail_msg("\"%s\" gave %g, want %g", cases[i].text, out.num, cases[i].want);
	}
	/* A value can also be the array or a string itself, borrowed. */
	struct expr_value out;
	assert_int_equal(eval_text("result", &arr, &out, NULL), 0);
	assert_int_equal(out.type, EXPR_ARRAY);
	assert_ptr_equal(out.arr, arr3);
	struct expr *e = NULL;
	assert_int_equal(expr_compile(&e, "'lit'", NULL), 0);
	assert_int_equal(expr_eval(e, NULL, &out, NULL), 0);
	assert_int_equal(out.type, EXPR_STRING);
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.str, "lit", 3);
	expr_free(e);
}

/* Every comparison with NaN is false, != included, so a NaN can never
 * pass a threshold by accident. */
static void test_analysis__expr_nan_compares_false(void **state)
{
	struct expr_value nan = expr_number(NAN);
	const char *texts[] = {"result > 0",  "result < 0",      "result >= 0",        "result <= 0",
			       "result == 0", "result != 0",     "result == result",   "result != result",
			       "0 / 0 == 0 / 0", "result * 0 == 0", "!(result < 1) && result > 1"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct expr_value out;
		struct sw_err err = {0};
		if (eval_text(texts[i], &nan, &out, &err) != 0)
			fail_msg("\"%s\": %s", texts[i], err.msg);
		assert_int_equal(out.type, EXPR_BOOL);
		if (out.b)
			fail_msg("\"%s\" is true for NaN", texts[i]);
	}
	/* Division by zero is NaN, not an error and not infinity. */
	struct expr_value out;
	assert_int_equal(eval_text("1 / result", &(struct expr_value){.type = EXPR_NUMBER, .num = 0}, &out, NULL), 0);
	assert_true(isnan(out.num));
}

/* The right side of && and || is not evaluated when the left decides:
 * here it would be an error. */
static void test_analysis__expr_short_circuits(void **state)
{
	static const double one[] = {1};
	struct expr_value arr = expr_array(one, 1);
	const struct {
		const char *text;
		bool want;
	} cases[] = {
		{"len(result) > 1 && result[1] > 0", false},
		{"len(result) < 2 || result[1] > 0", true},
		{"false && 1 < \"a\"", false},
		{"true || result + 'x' > 0", true},
		{"default(result[0], result[5]) == 1", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct expr_value out;
		struct sw_err err = {0};
		if (eval_text(cases[i].text, &arr, &out, &err) != 0)
			fail_msg("\"%s\": %s", cases[i].text, err.msg);
		assert_int_equal(out.type, EXPR_BOOL);
		assert_int_equal(out.b, cases[i].want);
	}
	/* ...and it is when the left side does not decide. */
	struct sw_err err = {0};
	struct expr_value out;
	assert_int_equal(eval_text("len(result) == 1 && result[1] > 0", &arr, &out, &err), -1);
	assert_string_equal(err.msg, "1:27: index 1 is out of range (the array has 1 value)");
}

static void test_analysis__expr_eval_errors(void **state)
{
	static const double two[] = {1, 2};
	struct expr_value arr = expr_array(two, 2), num = expr_number(1), str = expr_string("up"), nul = expr_null(),
			  b = expr_bool(true);
	const struct {
		const char *text;
		const struct expr_value *result;
		const char *msg;
	} cases[] = {
		{"result > 0.5", &str, "1:8: cannot compare string with number"},
		{"result == 1", &str, "1:8: cannot compare string with number"},
		{"result == 'up' && result > 1", &str, "1:26: cannot compare string with number"},
		{"result[2] > 0", &arr, "1:7: index 2 is out of range (the array has 2 values)"},
		{"result[-1] > 0", &arr, "1:7: index must be a whole number from 0, got -1"},
		{"result[0.5] > 0", &arr, "1:7: index must be a whole number from 0, got 0.5"},
		{"result['a'] > 0", &arr, "1:7: index must be a number, got string"},
		{"result[0] > 0", &num, "1:7: cannot index number"},
		{"result[0] > 0", &nul, "1:7: cannot index null"},
		{"result > 0", &arr, "1:8: cannot compare array with number"},
		{"result == result", &arr, "1:8: cannot compare arrays"},
		{"result + 1 > 0", &str, "1:8: cannot apply \"+\" to string and number"},
		{"-result", &b, "1:1: cannot apply \"-\" to bool"},
		{"!result", &num, "1:1: \"!\" needs true or false, got number"},
		{"result && true", &num, "1:8: \"&&\" needs true or false, got number"},
		{"false || result", &num, "1:7: \"||\" needs true or false, got number"},
		{"result < true", &b, "1:8: cannot order bools with \"<\""},
		{"result < 1", &nul, "1:8: cannot compare null with number using \"<\""},
		{"len(result) > 0", &num, "1:1: len needs a string or an array, got number"},
		{"isNaN(result)", &str, "1:1: isNaN needs a number, got string"},
		{"max(1, result)", &b, "1:1: max needs a number, got bool"},
		{"default(result, 1) > 0", &str, "1:20: cannot compare string with number"},
		{"default(1 < 'a', true)", &num, "1:11: cannot compare number with string"},
		{"result >\n  'x'", &num, "1:8: cannot compare number with string"},
		{"1 +\n  result", &str, "1:3: cannot apply \"+\" to number and string"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct expr_value out = expr_number(42);
		struct sw_err err = {0};
		if (eval_text(cases[i].text, cases[i].result, &out, &err) != -1)
			fail_msg("\"%s\" evaluated", cases[i].text);
		if (strcmp(err.msg, cases[i].msg) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].text, err.msg, cases[i].msg);
		assert_int_equal(out.type, EXPR_NULL);
	}
	/* Line numbers count from the start of the text. */
	struct expr_value out;
	struct sw_err err = {0};
	assert_int_equal(eval_text("true &&\n  result > 1", &str, &out, &err), -1);
	assert_string_equal(err.msg, "2:10: cannot compare string with number");
	/* A condition must give a bool. */
	struct expr *e = NULL;
	bool v = true;
	assert_int_equal(expr_compile(&e, "result * 2", NULL), 0);
	sw_err_clear(&err);
	assert_int_equal(expr_eval_bool(e, &num, &v, &err), -1);
	assert_string_equal(err.msg, "1:8: the condition gave a number, not true or false");
	assert_false(v);
	expr_free(e);
}

static void test_analysis__expr_compile_errors(void **state)
{
	const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{"result >= (0.9", "1:15: expected \")\" after \"result >= (0.9\""},
		{"result >=", "1:10: expected a value after \"result >=\""},
		{"result >= )", "1:11: expected a value after \"result >=\", got \")\""},
		{"", "1:1: empty expression"},
		{"   ", "1:4: empty expression"},
		{"reslt > 1", "1:1: unknown name \"reslt\" (did you mean \"result\"?)"},
		{"foo > 1", "1:1: unknown name \"foo\" (the only variable is \"result\")"},
		{"result > 1 and true", "1:12: unexpected \"and\" after \"result > 1\""},
		{"not result", "1:1: unknown name \"not\" (write \"!\")"},
		{"result = 1", "1:8: unexpected \"=\" (did you mean \"==\"?)"},
		{"result & true", "1:8: unexpected \"&\" (did you mean \"&&\"?)"},
		{"result | true", "1:8: unexpected \"|\" (did you mean \"||\"?)"},
		{"result > 1 1", "1:12: unexpected \"1\" after \"result > 1\""},
		{"result @ 1", "1:8: unexpected character \"@\""},
		{"result > 'abc", "1:10: unterminated string"},
		{"result == 'a\\qb'", "1:13: unknown escape \"\\\\q\" in string"},
		{"result > 1e", "1:10: bad number \"1e\""},
		{"result > 1.2.3", "1:10: bad number \"1.2.3\""},
		{"result > 12abc", "1:10: bad number \"12abc\""},
		{"result > 1e999", "1:10: number \"1e999\" is out of range"},
		{"isnan(result)", "1:1: unknown function \"isnan\" (did you mean \"isNaN\"?)"},
		{"sqrt(result)", "1:1: unknown function \"sqrt\""},
		{"min(result)", "1:1: min takes 2 arguments, got 1"},
		{"len()", "1:1: len takes 1 argument, got 0"},
		{"abs(1, 2, 3)", "1:1: abs takes 1 argument, got 3"},
		{"max(1 2)", "1:7: expected \",\" or \")\" after \"max(1\", got \"2\""},
		{"result[0", "1:9: expected \"]\" after \"result[0\""},
		{"result[]", "1:8: expected a value after \"result[\", got \"]\""},
		{"(", "1:2: expected a value after \"(\""},
		{")", "1:1: expected a value, got \")\""},
		{"1 >\n  (2", "2:5: expected \")\" after \"1 >\n  (2\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct expr *e = (struct expr *)1;
		struct sw_err err = {0};
		if (expr_compile(&e, cases[i].text, &err) != -1)
			fail_msg("\"%s\" compiled", cases[i].text);
		assert_null(e);
		if (strcmp(err.msg, cases[i].msg) != 0 &&
		    /* the newline case: the snippet shows a newline as a space */
		    !(strchr(cases[i].text, '\n') && strncmp(err.msg, cases[i].msg, 5) == 0))
			fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].text, err.msg, cases[i].msg);
	}
	/* The snippet of a long text is its tail. */
	struct expr *e = NULL;
	struct sw_err err = {0};
	assert_int_equal(expr_compile(&e, "result[0] >= 0.5 && result[1] >= 0.5 && result[2] >= (0.9", &err), -1);
	assert_string_equal(err.msg, "1:58: expected \")\" after \"...&& result[1] >= 0.5 && result[2] >= (0.9\"");
	/* Bytes a message cannot show plainly are escaped. */
	sw_err_clear(&err);
	assert_int_equal(expr_compile(&e, "result > \x01", &err), -1);
	assert_string_equal(err.msg, "1:10: unexpected character \"\\x01\"");
	sw_err_clear(&err);
	assert_int_equal(expr_compile_n(&e, "result\0> 1", 10, &err), -1);
	assert_string_equal(err.msg, "expression contains a NUL byte");
}

static void test_analysis__expr_limits(void **state)
{
	struct buf b = BUF_INIT;
	struct expr *e = NULL;
	struct sw_err err = {0};

	/* 4096 bytes compile, 4097 do not. */
	buf_adds(&b, "result > 0");
	while (b.len < EXPR_MAX_LEN)
		buf_addc(&b, ' ');
	assert_int_equal(expr_compile(&e, b.s, &err), 0);
	expr_free(e);
	buf_addc(&b, ' ');
	assert_int_equal(expr_compile(&e, b.s, &err), -1);
	assert_string_equal(err.msg, "expression is longer than 4096 bytes");

	/* 64 levels of parentheses compile, 65 do not. */
	for (int depth = 64; depth <= 65; depth++) {
		buf_reset(&b);
		for (int i = 0; i < depth; i++)
			buf_addc(&b, '(');
		buf_adds(&b, "result");
		for (int i = 0; i < depth; i++)
			buf_addc(&b, ')');
		sw_err_clear(&err);
		e = NULL;
		int rc = expr_compile(&e, b.s, &err);
		expr_free(e);
		if (depth == 64) {
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(rc, -1);
			assert_string_equal(err.msg, "1:65: expression nests deeper than 64 levels");
		}
	}
	/* Deep unary chains and index chains are nesting too. */
	buf_reset(&b);
	for (int i = 0; i < 100; i++)
		buf_addc(&b, '!');
	buf_adds(&b, "true");
	sw_err_clear(&err);
	assert_int_equal(expr_compile(&e, b.s, &err), -1);
	assert_string_equal(err.msg, "1:65: expression nests deeper than 64 levels");
	buf_reset(&b);
	for (int i = 0; i < 100; i++)
		buf_adds(&b, "result[");
	sw_err_clear(&err);
	assert_int_equal(expr_compile(&e, b.s, &err), -1);
	assert_non_null(strstr(err.msg, "nests deeper than 64 levels"));

	/* A flat chain of 256 operators is fine; beyond, it is refused, so
	 * evaluation never recurses deeper than that. */
	buf_reset(&b);
	buf_adds(&b, "0");
	for (int i = 0; i < EXPR_MAX_HEIGHT - 1; i++)
		buf_adds(&b, "+1");
	assert_int_equal(expr_compile(&e, b.s, &err), 0);
	struct expr_value out;
	assert_int_equal(expr_eval(e, NULL, &out, NULL), 0);
	assert_true(out.num == EXPR_MAX_HEIGHT - 1);
	expr_free(e);
	buf_adds(&b, "+1");
	sw_err_clear(&err);
	assert_int_equal(expr_compile(&e, b.s, &err), -1);
	assert_non_null(strstr(err.msg, "expression is too complex"));
	buf_release(&b);
}

static void test_analysis__expr_formats_values(void **state)
{
	static const double many[20] = {1, 2, 3};
	static const double some[] = {0.5, NAN, INFINITY};
	const struct {
		struct expr_value v;
		const char *want;
	} cases[] = {
		{expr_number(0.873), "0.873"},
		{expr_number(1e-5), "1e-05"},
		{expr_number(123456789), "123456789"},
		{expr_number(NAN), "NaN"},
		{expr_number(-INFINITY), "-Inf"},
		{expr_bool(true), "true"},
		{expr_null(), "null"},
		{expr_string("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\""},
		{expr_array(some, 3), "[0.5, NaN, +Inf]"},
		{expr_array(many, 0), "[]"},
		{expr_array(many, 20), "[1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ... (20 values)]"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = BUF_INIT;
		expr_value_format(&b, &cases[i].v);
		assert_string_equal(b.s, cases[i].want);
		buf_release(&b);
	}
	struct buf b = BUF_INIT;
	char longs[300];
	memset(longs, 'a', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	struct expr_value v = expr_string(longs);
	expr_value_format(&b, &v);
	assert_int_equal(b.len, 1 + 200 + 3 + 1);
	buf_release(&b);
}

/* One compiled expression, many evaluations against different values:
 * nothing is kept between them. */
static void test_analysis__expr_compile_once_eval_many(void **state)
{
	struct expr *e = NULL;
	assert_int_equal(expr_compile(&e, "default(result[0], 0) >= 0.99", NULL), 0);
	assert_string_equal(expr_text(e), "default(result[0], 0) >= 0.99");
	for (int i = 0; i < 1000; i++) {
		double v[1] = {i / 1000.0 + 0.5};
		struct expr_value r = expr_array(v, (size_t)(i % 3 != 0)), out;
		assert_int_equal(expr_eval(e, &r, &out, NULL), 0);
		assert_int_equal(out.b, i % 3 != 0 && v[0] >= 0.99);
	}
	expr_free(e);
}

/* ------------------------------------------------------------------ */
/* Mann-Whitney                                                       */

/* Reference values below were computed apart from this code: exact
 * p-values by enumerating every split of the pooled ranks, normal ones
 * from the textbook formula with tie and continuity corrections. */
static void test_analysis__mann_whitney_exact_known_values(void **state)
{
	static const double ax[] = {1.1, 2.3, 3.5, 4.2, 5.9, 7.4}, ay[] = {0.5, 0.9, 1.6, 2.0, 2.8};
	struct judge_mwu r;
	assert_int_equal(judge_mann_whitney(&r, ax, 6, ay, 5), 0);
	assert_true(r.exact);
	assert_false(r.ties);
	assert_true(r.u == 26);
	assert_true(r.mean == 15);
	assert_true(fabs(r.p_greater - 12.0 / 462) < 1e-12); /* 0.025974 */
	assert_true(fabs(r.p_two - 24.0 / 462) < 1e-12);     /* 0.051948 */
	/* The other way round: U' = n1 n2 - U, the same two-sided p. */
	assert_int_equal(judge_mann_whitney(&r, ay, 5, ax, 6), 0);
	assert_true(r.u == 4);
	assert_true(fabs(r.p_two - 24.0 / 462) < 1e-12);
	assert_true(r.p_greater > 0.98);

	static const double dx[] = {12, 15, 11, 18, 20, 16, 14, 19}, dy[] = {10, 9, 13, 8, 7, 17, 6, 5};
	assert_int_equal(judge_mann_whitney(&r, dx, 8, dy, 8), 0);
	assert_true(r.exact);
	assert_true(r.u == 57);
	assert_true(fabs(r.p_greater - 0.0034965) < 1e-6);
	assert_true(fabs(r.p_two - 0.0069930) < 1e-6);
}

static void test_analysis__mann_whitney_normal_known_values(void **state)
{
	/* Small samples with ties: the normal approximation, tie-corrected. */
	static const double bx[] = {3, 4, 2, 6, 2, 5}, by[] = {9, 7, 5, 10, 6, 8};
	struct judge_mwu r;
	assert_int_equal(judge_mann_whitney(&r, bx, 6, by, 6), 0);
	assert_false(r.exact);
	assert_true(r.ties);
	assert_true(r.u == 2);
	assert_true(fabs(r.sd - 6.2121582) < 1e-6);
	assert_true(fabs(r.p_two - 0.0125919) < 1e-6);
	assert_true(fabs(r.p_greater - 0.9960473) < 1e-6);

	/* 30 against 30 with a few ties. */
	double cx[30], cy[30];
	for (int i = 0; i < 30; i++) {
		cx[i] = (i * 37 % 101) / 10.0 + 1.5;
		cy[i] = (i * 53 % 97) / 10.0;
	}
	assert_int_equal(judge_mann_whitney(&r, cx, 30, cy, 30), 0);
	assert_false(r.exact);
	assert_true(r.u == 608);
	assert_true(fabs(r.sd - 67.6312284) < 1e-6);
	assert_true(fabs(r.p_greater - 0.0099347) < 1e-6);
	assert_true(fabs(r.p_two - 0.0198694) < 1e-6);
}

/* Two samples of k values each whose U is exactly u (no ties): the y's are
 * 1..k, each x sits just above the number of y's it beats. */
static void sample_with_u(double *x, double *y, int k, int u)
{
	int left = u;
	for (int i = k - 1; i >= 0; i--) {
		int c = left > k ? k : left;
		x[i] = c + 0.5 + i * 0.001;
		left -= c;
	}
	for (int j = 0; j < k; j++)
		y[j] = j + 1;
}

/* The classic table of critical values (two-sided, alpha 0.05): U at or
 * below it is significant, one more is not. */
static void test_analysis__mann_whitney_critical_values_table(void **state)
{
	static const struct {
		int k, crit;
	} table[] = {{5, 2}, {6, 5}, {7, 8}, {8, 13}, {9, 17}, {10, 23}, {20, 127}};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		double x[20], y[20];
		struct judge_mwu r;
		int k = table[i].k;
		sample_with_u(x, y, k, table[i].crit);
		assert_int_equal(judge_mann_whitney(&r, x, (size_t)k, y, (size_t)k), 0);
		assert_true(r.exact);
		assert_true(r.u == table[i].crit);
		if (!(r.p_two <= 0.05))
			fail_msg("n=%d U=%d: p=%g", k, table[i].crit, r.p_two);
		sample_with_u(x, y, k, table[i].crit + 1);
		assert_int_equal(judge_mann_whitney(&r, x, (size_t)k, y, (size_t)k), 0);
		if (!(r.p_two > 0.05))
			fail_msg("n=%d U=%d: p=%g", k, table[i].crit + 1, r.p_two);
	}
}

static void test_analysis__mann_whitney_edge_cases(void **state)
{
	static const double same[] = {5, 5, 5, 5}, one[] = {1}, bad[] = {1, NAN};
	struct judge_mwu r;
	/* Nothing to tell apart. */
	assert_int_equal(judge_mann_whitney(&r, same, 4, same, 3), 0);
	assert_true(r.sd == 0);
	assert_true(r.p_two == 1 && r.p_greater == 1);
	assert_true(r.u == 6);
	/* One value a side, exact: 1/2 either way. */
	static const double two[] = {2};
	assert_int_equal(judge_mann_whitney(&r, two, 1, one, 1), 0);
	assert_true(r.exact);
	assert_true(r.p_greater == 0.5 && r.p_two == 1);
	assert_int_equal(judge_mann_whitney(&r, one, 0, one, 1), -1);
	assert_true(r.p_two == 1);
	assert_int_equal(judge_mann_whitney(&r, bad, 2, one, 1), -1);
	/* 21 a side leaves the exact range: exact and normal agree closely. */
	double x[21], y[21];
	sample_with_u(x, y, 20, 127);
	struct judge_mwu ex, no;
	assert_int_equal(judge_mann_whitney(&ex, x, 20, y, 20), 0);
	sample_with_u(x, y, 21, 140);
	assert_int_equal(judge_mann_whitney(&no, x, 21, y, 21), 0);
	assert_true(ex.exact);
	assert_false(no.exact);
	assert_true(fabs(ex.p_two - 0.05) < 0.01);
	assert_true(fabs(no.p_two - 0.05) < 0.01);
}

/* ------------------------------------------------------------------ */
/* Judges                                                             */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_uniform(void) /* (0, 1] */
{
	return ((double)(rng_next() >> 11) + 1) * 0x1.0p-53;
}

static double rng_normal(void)
{
	return sqrt(-2 * log(rng_uniform())) * cos(2 * M_PI * rng_uniform());
}

/* Request latencies in ms: log-normal with the given median, long-tailed
 * like real ones. */
static void latencies(double *out, size_t n, double median, double add_ms)
{
	for (size_t i = 0; i < n; i++)
		out[i] = median * exp(0.5 * rng_normal()) + add_ms;
}

/* Per-interval error rates: `requests` requests each failing with p. */
static void error_rates(double *out, size_t n, int requests, double p)
{
	for (size_t i = 0; i < n; i++) {
		int errors = 0;
		for (int r = 0; r < requests; r++)
			errors += rng_uniform() <= p;
		out[i] = (double)errors / requests;
	}
}

static const struct judge_config cfg98 = {.confidence = 0.98, .max_increase = 0.1, .min_samples = 30};

static void test_analysis__judge_latency_clearly_worse_fails(void **state)
{
	double stable[40], canary[40];
	for (int i = 0; i < 40; i++) {
		stable[i] = 10 + 0.01 * i;
		canary[i] = 60 + 0.01 * i;
	}
	struct judge_result r;
	judge_latency(&r, &cfg98, stable, 40, canary, 40);
	assert_int_equal(r.verdict, JUDGE_FAIL);
	assert_string_equal(r.reason, "canary p50 60.2 ms vs stable 10.2 ms (+490%), Mann-Whitney p<0.0001 < 0.02: "
				      "worse by more than 10%");
	assert_int_equal(r.n_stable, 40);
	assert_true(r.p < 1e-6);
	/* The same, swapped: the stable version is the slow one. */
	judge_latency(&r, &cfg98, canary, 40, stable, 40);
	assert_int_equal(r.verdict, JUDGE_PASS);
	assert_string_equal(r.reason, "canary p50 10.2 ms vs stable 60.2 ms (-83%), Mann-Whitney p=1.0 >= 0.02: "
				      "not worse by more than 10%");

	/* +50 ms on a 10 ms service, realistic noise: caught every time. */
	rng_state = 1;
	for (int t = 0; t < 200; t++) {
		double s[50], c[50];
		latencies(s, 50, 10, 0);
		latencies(c, 50, 10, 50);
		judge_latency(&r, &cfg98, s, 50, c, 50);
		assert_int_equal(r.verdict, JUDGE_FAIL);
	}
}

/* A sub-millisecond app: +70% is 0.1 ms, which ignoreBelow 1 ms lets pass
 * (a cold instance on a busy host shows as much); +2 ms does not pass. */
static void test_analysis__judge_latency_ignores_tiny_absolute_worsening(void **state)
{
	struct judge_config cfg = cfg98;
	cfg.ignore_below = 1;
	double stable[40], canary[40], slow[40];
	for (int i = 0; i < 40; i++) {
		stable[i] = 0.14 + 0.001 * i;
		canary[i] = 0.24 + 0.001 * i;
		slow[i] = 2.24 + 0.001 * i;
	}
	struct judge_result r;
	judge_latency(&r, &cfg98, stable, 40, canary, 40);
	assert_int_equal(r.verdict, JUDGE_FAIL); /* without it: +70%, significant */
	judge_latency(&r, &cfg, stable, 40, canary, 40);
	assert_int_equal(r.verdict, JUDGE_PASS);
	assert_non_null(strstr(r.reason, "not worse by more than 10% and 1.0 ms"));
	judge_latency(&r, &cfg, stable, 40, slow, 40);
	assert_int_equal(r.verdict, JUDGE_FAIL);
	assert_non_null(strstr(r.reason, "worse by more than 10% and 1.0 ms"));
}

/* Same distribution on both sides: the judge may only fail it as often
 * as the confidence allows (2% at 0.98), here with a margin for 200
 * trials. With maxIncrease 0.1 it should practically never fail. */
static void test_analysis__judge_latency_same_distribution_passes(void **state)
{
	const struct {
		double max_increase, canary_factor;
		int max_fails;
	} cases[] = {
		{0, 1, 200 * 5 / 100},    /* 2% expected, 5% allowed */
		{0.1, 1, 200 * 1 / 100},
		{0.1, 1.05, 200 * 5 / 100}, /* slower, but within the tolerance */
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct judge_config cfg = cfg98;
		cfg.max_increase = cases[k].max_increase;
		rng_state = 42 + k;
		int fails = 0;
		for (int t = 0; t < 200; t++) {
			double s[60], c[60];
			latencies(s, 60, 10, 0);
			latencies(c, 60, 10 * cases[k].canary_factor, 0);
			struct judge_result r;
			judge_latency(&r, &cfg, s, 60, c, 60);
			assert_int_not_equal(r.verdict, JUDGE_INCONCLUSIVE);
			fails += r.verdict == JUDGE_FAIL;
		}
		if (fails > cases[k].max_fails)
			fail_msg("case %zu: %d false failures in 200", k, fails);
	}
}

/* Worse beyond the tolerance is caught most of the time with enough samples. */
static void test_analysis__judge_latency_detects_moderate_regression(void **state)
{
	rng_state = 7;
	int fails = 0;
	for (int t = 0; t < 200; t++) {
		double s[200], c[200];
		latencies(s, 200, 10, 0);
		latencies(c, 200, 14, 0); /* +40% */
		struct judge_result r;
		judge_latency(&r, &cfg98, s, 200, c, 200);
		fails += r.verdict == JUDGE_FAIL;
	}
	if (fails < 180)
		fail_msg("a +40%% regression failed only %d times in 200", fails);
}

static void test_analysis__judge_too_few_samples_is_inconclusive(void **state)
{
	double s[50], c[40];
	rng_state = 3;
	latencies(s, 50, 10, 0);
	latencies(c, 40, 100, 0);
	for (int i = 29; i < 40; i++)
		c[i] = NAN; /* dropped, leaving 29 */
	struct judge_result r;
	judge_latency(&r, &cfg98, s, 50, c, 40);
	assert_int_equal(r.verdict, JUDGE_INCONCLUSIVE);
	assert_string_equal(r.reason, "too few samples to judge: canary 29, stable 50 (minSamples 30)");
	assert_int_equal(r.n_canary, 29);
	assert_true(r.p == 1);
	judge_latency(&r, &cfg98, s, 50, NULL, 0);
	assert_int_equal(r.verdict, JUDGE_INCONCLUSIVE);
	assert_true(isnan(r.canary));
	c[29] = INFINITY;
	judge_latency(&r, &cfg98, s, 50, c, 30);
	assert_int_equal(r.verdict, JUDGE_INCONCLUSIVE);
	c[29] = 100;
	judge_latency(&r, &cfg98, s, 50, c, 30);
	assert_int_equal(r.verdict, JUDGE_FAIL);
	assert_string_equal(judge_verdict_name(r.verdict), "fail");
}

static void test_analysis__judge_error_rate(void **state)
{
	struct judge_result r;
	struct judge_config cfg = cfg98;
	cfg.min_samples = 10;
	double s[30], c[30];

	/* 10% errors against 0.1%: fails. */
	rng_state = 11;
	error_rates(s, 30, 100, 0.001);
	error_rates(c, 30, 100, 0.10);
	judge_error_rate(&r, &cfg, s, 30, c, 30);
	assert_int_equal(r.verdict, JUDGE_FAIL);
	assert_string_equal(r.reason, "canary error rate 10.7% vs stable 0.13%, Mann-Whitney p<0.0001 < 0.02: worse by "
				      "more than 10%");

	/* No errors anywhere: nothing to tell apart, passes. */
	memset(s, 0, sizeof(s));
	memset(c, 0, sizeof(c));
	judge_error_rate(&r, &cfg, s, 30, c, 30);
	assert_int_equal(r.verdict, JUDGE_PASS);
	assert_string_equal(r.reason, "canary error rate 0.0% vs stable 0.0%, Mann-Whitney p=1.0 >= 0.02: not worse by "
				      "more than 10%");

	/* Both at 1%: false failures stay rare. */
	rng_state = 12;
	int fails = 0;
	for (int t = 0; t < 200; t++) {
		error_rates(s, 30, 200, 0.01);
		error_rates(c, 30, 200, 0.01);
		judge_error_rate(&r, &cfg, s, 30, c, 30);
		fails += r.verdict == JUDGE_FAIL;
	}
	if (fails > 10)
		fail_msg("%d false failures in 200", fails);
}

/* ---- error counts, judged sequentially ---- */

/* The mixture ratio against a plain numerical integral (Simpson, fine
 * grid), from no errors to thousands, so the incomplete beta is checked
 * where the continued fraction turns round and where k is large. */
static void test_analysis__judge_binomial_mixture_matches_integral(void **state)
{
	const struct {
		uint64_t x, k;
		double theta0;
	} cases[] = {
		{0, 0, 0.25}, {4, 4, 0.25}, {3, 4, 0.25}, {0, 10, 0.25}, {7, 20, 0.3},
		{30, 100, 0.25}, {1300, 5000, 0.25}, {1200, 5000, 0.25}, {50, 60, 0.6},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double x = (double)cases[i].x, k = (double)cases[i].k, t0 = cases[i].theta0;
		double log_null = x * log(t0) + (k - x) * log1p(-t0);
		int steps = 200000;
		double h = (1 - t0) / steps, sum = 0;
		for (int j = 0; j <= steps; j++) {
			double t = t0 + j * h;
			double f = t >= 1 ? (x == k ? exp(-log_null) : 0)
					  : exp(x * log(t) + (k - x) * log1p(-t) - log_null);
			sum += f * (j == 0 || j == steps ? 1 : j % 2 ? 4 : 2);
		}
		double uniform = sum * h / 3 / (1 - t0);
		double point = cases[i].x == cases[i].k ? exp(-log_null) : 0;
		double want = (uniform + point) / 2;
		double got = judge_binomial_mixture(cases[i].x, cases[i].k, t0);
		if (!(fabs(got - want) <= 1e-6 * fmax(1, want)))
			fail_msg("case %zu: x=%g k=%g theta0=%g: %g, integral %g", i, x, k, t0, got, want);
	}
	/* No errors at all is no evidence. */
	assert_true(fabs(judge_binomial_mixture(0, 0, 0.25) - 1) < 1e-12);
}

static const struct judge_config cfg99 = {.confidence = 0.99, .max_increase = 0.1, .min_samples = 30};

/* kayenta #377: a few errors against an error-free baseline pass there.
 * Here four on a canary holding a quarter of the traffic are enough at
 * 0.99 (all landing there by luck has chance 0.25^4 < 0.01); three are not. */
static void test_analysis__judge_error_counts_few_errors_on_clean_stable(void **state)
{
	struct judge_result r;
	judge_error_counts(&r, &cfg99, 300, 0, 100, 4);
	assert_int_equal(r.verdict, JUDGE_FAIL);
	assert_string_equal(r.reason, "canary 4 errors in 100 requests (4.0%) vs stable 0 in 300 (0.0%), sequential "
				      "p=0.0081 <= 0.01: worse by more than 10%");
	judge_error_counts(&r, &cfg99, 300, 0, 100, 3);
	assert_int_equal(r.verdict, JUDGE_PASS);
	assert_string_equal(r.reason, "canary 3 errors in 100 requests (3.0%) vs stable 0 in 300 (0.0%), sequential "
				      "p=0.0288 > 0.01: not shown worse by more than 10%");
	/* the same four errors shared with stable are no evidence */
	judge_error_counts(&r, &cfg99, 300, 12, 100, 4);
	assert_int_equal(r.verdict, JUDGE_PASS);
	/* a clearly worse canary over a noisy stable is */
	judge_error_counts(&r, &cfg99, 3000, 30, 1000, 60);
	assert_int_equal(r.verdict, JUDGE_FAIL);
	/* too few requests: wait */
	judge_error_counts(&r, &cfg99, 300, 0, 29, 29);
	assert_int_equal(r.verdict, JUDGE_INCONCLUSIVE);
	assert_string_equal(r.reason, "too few requests to judge: canary 29, stable 300 (minSamples 30)");
	judge_error_counts(&r, &cfg99, 0, 0, 0, 0);
	assert_int_equal(r.verdict, JUDGE_INCONCLUSIVE);
	assert_true(isnan(r.canary) && r.p == 1);
}

/* One simulated comparison: `rate` requests a second, a share `weight` of
 * them to the canary, each failing with stable_err or canary_err; the
 * judge looks at the counts so far `looks` times a second (the runner's
 * cadence: PROVIDER_LOOK_MS, 4 a second), for at most `seconds`. Returns
 * the time of the first FAIL in seconds, or 0 when none. */
static double simulate_counts(const struct judge_config *cfg, int rate, double weight, double stable_err,
			      double canary_err, int seconds, int looks)
{
	uint64_t ns = 0, es = 0, nc = 0, ec = 0;
	for (int t = 1; t <= seconds * looks; t++) {
		int n = rate * t / looks - rate * (t - 1) / looks;
		for (int i = 0; i < n; i++) {
			if (rng_uniform() <= weight) {
				nc++;
				ec += rng_uniform() <= canary_err;
			} else {
				ns++;
				es += rng_uniform() <= stable_err;
			}
		}
		struct judge_result r;
		judge_error_counts(&r, cfg, ns, es, nc, ec);
		if (r.verdict == JUDGE_FAIL)
			return (double)t / looks;
	}
	return 0;
}

/* Thousands of healthy comparisons (identical error rates), each looked
 * at four times a second for two minutes (480 looks): the fraction ever
 * failed stays within 1 - confidence, however many looks. The strictest
 * case is maxIncrease 0; minSamples 1 lets the looks start at the very
 * first requests, where the split of traffic is the least certain. */
static void test_analysis__judge_error_counts_false_alarms_bounded(void **state)
{
	const double rates[] = {0.01, 0.05};
	const double tolerances[] = {0, 0.1};
	const size_t mins[] = {30, 1};
	for (size_t mi = 0; mi < 2; mi++)
		for (size_t ti = 0; ti < 2; ti++)
			for (size_t ri = 0; ri < 2; ri++) {
				if (mins[mi] == 1 && tolerances[ti] > 0) /* less strict: skipped for time */
					continue;
				struct judge_config cfg = cfg99;
				cfg.max_increase = tolerances[ti];
				cfg.min_samples = mins[mi];
				rng_state = 1000 + 100 * mi + 10 * ti + ri;
				int trials = 1000, alarms = 0;
				for (int t = 0; t < trials; t++)
					alarms += simulate_counts(&cfg, 50, 0.25, rates[ri], rates[ri], 120, 4) > 0;
				if (alarms > trials / 100)
					fail_msg("error rate %g, maxIncrease %g, minSamples %zu: %d false alarms in "
						 "%d (more than 1%%)",
						 rates[ri], tolerances[ti], mins[mi], alarms, trials);
			}
}

static int cmp_double_asc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Power at 50 req/s with the canary at 25% against an error-free stable,
 * looked at four times a second: +10%, +2% and +1% errors are all caught,
 * and in half the trials by 1.5x the information bound (about 4 errors on
 * the canary: 3.2 s, 16 s, 32 s), in simulated seconds, not wall time. */
static void test_analysis__judge_error_counts_catches_small_increases(void **state)
{
	const struct {
		double err, bound_s;
	} cases[] = {{0.10, 3.2}, {0.02, 16}, {0.01, 32}};
	for (size_t k = 0; k < 3; k++) {
		rng_state = 77 + k;
		double when[200];
		for (int t = 0; t < 200; t++) {
			when[t] = simulate_counts(&cfg99, 50, 0.25, 0, cases[k].err, 600, 4);
			if (!when[t])
				fail_msg("+%g%% errors not caught in 600 s (trial %d)", cases[k].err * 100, t);
		}
		qsort(when, 200, sizeof(double), cmp_double_asc);
		if (when[100] > cases[k].bound_s * 1.5)
			fail_msg("+%g%% errors: median detection at %.2f s, bound %g s", cases[k].err * 100,
				 when[100], cases[k].bound_s);
	}
}

/* Latency over growing data looked at every second: alpha spent over the
 * looks keeps the fraction of healthy comparisons ever failed within
 * 1 - confidence; a +50% canary is still caught within 30 looks. */
static void test_analysis__judge_latency_repeated_looks(void **state)
{
	enum { LOOKS = 30, PER_S = 50 };
	static double s[LOOKS * PER_S], c[LOOKS * PER_S];
	const double factors[] = {1, 1.5};
	for (size_t f = 0; f < 2; f++) {
		rng_state = 500 + f;
		int trials = f ? 50 : 300, alarms = 0;
		for (int t = 0; t < trials; t++) {
			size_t ns = 0, nc = 0;
			bool failed = false;
			for (unsigned look = 1; look <= LOOKS && !failed; look++) {
				for (int i = 0; i < PER_S; i++) {
					if (rng_uniform() <= 0.25)
						latencies(&c[nc++], 1, 10 * factors[f], 0);
					else
						latencies(&s[ns++], 1, 10, 0);
				}
				struct judge_config cfg = cfg98;
				cfg.max_increase = 0;
				cfg.look = look;
				struct judge_result r;
				judge_latency(&r, &cfg, s, ns, c, nc);
				failed = r.verdict == JUDGE_FAIL;
			}
			alarms += failed;
		}
		if (f == 0 && alarms > trials * 2 / 100)
			fail_msg("%d false alarms in %d healthy comparisons", alarms, trials);
		if (f == 1 && alarms < trials)
			fail_msg("a +50%% canary caught in only %d of %d", alarms, trials);
	}
}

/* ------------------------------------------------------------------ */
/* Measurements                                                       */

/* A metric as it appears in a template's canonical JSON, with fields
 * replaced or added by `extra` (a JSON object text). */
static void config(struct measure_config *c, const char *extra)
{
	json_error_t je;
	json_t *m = json_loads("{\"name\":\"success-rate\",\"count\":5,\"failureLimit\":1,\"inconclusiveLimit\":0,"
			       "\"consecutiveErrorLimit\":4,\"interval\":\"1s\",\"initialDelay\":\"0s\","
			       "\"minSamples\":0,\"noData\":\"inconclusive\",\"successCondition\":\"result >= 0.99\","
			       "\"failureCondition\":null,"
			       "\"provider\":{\"builtin\":{\"metric\":\"success-rate\",\"window\":\"10s\"}}}",
			       0, &je);
	assert_non_null(m);
	if (extra) {
		json_t *x = json_loads(extra, 0, &je);
		if (!x)
			fail_msg("bad test JSON %s: %s", extra, je.text);
		json_object_update(m, x);
		json_decref(x);
	}
	struct sw_err err = {0};
	if (measure_config_from_json(c, m, NULL, &err) != 0)
		fail_msg("%s", err.msg);
	json_decref(m);
}

/* Folds a value and checks the outcome and phase; returns the reason in
 * a static buffer for exact checks. */
static const char *fold(struct measure_run *run, const struct measure_config *cfg, struct measure_input in,
			enum measure_phase outcome, enum measure_phase phase)
{
	static char reason[512];
	struct measure_record rec;
	assert_int_equal(measure_fold(&rec, run, cfg, &in), 0);
	if (rec.outcome != outcome || rec.phase != phase)
		fail_msg("%s: outcome %s phase %s, want %s %s", rec.reason, measure_phase_name(rec.outcome),
			 measure_phase_name(rec.phase), measure_phase_name(outcome), measure_phase_name(phase));
	assert_int_equal(run->phase, phase);
	assert_int_equal(rec.seq, run->measured);
	sw_strlcpy(reason, rec.reason, sizeof(reason));
	measure_record_release(&rec);
	return reason;
}

#define NUM(v) measure_input_value(expr_number(v), MEASURE_SAMPLES_UNKNOWN)

static void test_analysis__measure_config_from_template_json(void **state)
{
	struct measure_config c;
	config(&c, NULL);
	assert_string_equal(c.name, "success-rate");
	assert_int_equal(c.count, 5);
	assert_int_equal(c.failure_limit, 1);
	assert_int_equal(c.consecutive_error_limit, 4);
	assert_int_equal(c.interval_ms, 1000);
	assert_int_equal(c.no_data, MEASURE_NODATA_INCONCLUSIVE);
	assert_string_equal(c.success_text, "result >= 0.99");
	assert_non_null(c.success);
	assert_null(c.failure);
	assert_string_equal(c.provider_kind, "builtin");
	assert_string_equal(json_string_value(json_object_get(c.provider, "window")), "10s");
	measure_config_release(&c);

	config(&c, "{\"noData\":\"fail\",\"interval\":\"1m30s\",\"initialDelay\":\"500ms\",\"count\":0,"
		   "\"failureCondition\":\"result < 0.5\"}");
	assert_int_equal(c.no_data, MEASURE_NODATA_FAIL);
	assert_int_equal(c.interval_ms, 90000);
	assert_int_equal(c.initial_delay_ms, 500);
	assert_int_equal(c.count, 0);
	assert_non_null(c.failure);
	measure_config_release(&c);

	/* The whole template as spec.c writes it, args substituted. */
	json_error_t je;
	json_t *args = json_loads("[{\"name\":\"threshold\",\"value\":\"0.95\"},{\"name\":\"none\",\"value\":null}]", 0,
				  &je);
	json_t *m = json_loads("{\"name\":\"rate\",\"successCondition\":\"result >= {{ args.threshold }}\","
			       "\"provider\":{\"prometheus\":{\"address\":\"http://p:9090\",\"query\":\"up\"}}}",
			       0, &je);
	struct sw_err err = {0};
	assert_int_equal(measure_config_from_json(&c, m, args, &err), 0);
	assert_string_equal(c.success_text, "result >= 0.95");
	assert_int_equal(c.count, 1);
	assert_int_equal(c.consecutive_error_limit, 4);
	measure_config_release(&c);
	json_decref(m);

	char *s = NULL;
	assert_int_equal(measure_args_substitute(&s, "rate{app=\"{{args.threshold}}\"}[{{args.threshold}}]", args, &err),
			 0);
	assert_string_equal(s, "rate{app=\"0.95\"}[0.95]");
	free(s);
	assert_int_equal(measure_args_substitute(&s, "no placeholders {", args, &err), 0);
	assert_string_equal(s, "no placeholders {");
	free(s);
	const struct {
		const char *text, *msg;
	} bad[] = {
		{"x {{args.limit}}", "unknown argument \"limit\" in \"{{args.limit}}\""},
		{"x {{args.none}}", "argument \"none\" has no value"},
		{"x {{args.threshold", "\"{{\" without \"}}\" in \"x {{args.threshold\""},
		{"{{metrics.x}}", "unknown placeholder \"{{metrics.x}}\" (only {{args.NAME}} is known)"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sw_err_clear(&err);
		s = (char *)1;
		assert_int_equal(measure_args_substitute(&s, bad[i].text, args, &err), -1);
		assert_null(s);
		assert_string_equal(err.msg, bad[i].msg);
	}
	json_decref(args);
}

static void test_analysis__measure_config_errors_name_metric_and_condition(void **state)
{
	const struct {
		const char *json, *msg;
	} cases[] = {
		{"{\"name\":\"success-rate\",\"successCondition\":\"result >= (0.9\",\"provider\":{\"builtin\":{}}}",
		 "metric \"success-rate\": successCondition: 1:15: expected \")\" after \"result >= (0.9\""},
		{"{\"name\":\"lat\",\"failureCondition\":\"reslt > 1\",\"provider\":{\"builtin\":{}}}",
		 "metric \"lat\": failureCondition: 1:1: unknown name \"reslt\" (did you mean \"result\"?)"},
		{"{\"name\":\"lat\",\"successCondition\":\"result < {{args.max}}\",\"provider\":{\"builtin\":{}}}",
		 "metric \"lat\": successCondition: unknown argument \"max\" in \"{{args.max}}\""},
		{"{\"name\":\"lat\",\"count\":-1,\"provider\":{\"builtin\":{}}}",
		 "metric \"lat\": count must be an integer >= 0"},
		{"{\"name\":\"lat\",\"interval\":\"10\",\"provider\":{\"builtin\":{}}}",
		 "metric \"lat\": interval must be a duration such as \"10s\""},
		{"{\"name\":\"lat\",\"noData\":\"ignore\",\"provider\":{\"builtin\":{}}}",
		 "metric \"lat\": noData must be \"inconclusive\", \"fail\" or \"pass\""},
		{"{\"name\":\"lat\",\"provider\":{}}", "metric \"lat\": provider must be an object with exactly one provider"},
		{"{\"provider\":{}}", "metric: missing \"name\""},
		{"[]", "metric must be an object"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t je;
		json_t *m = json_loads(cases[i].json, 0, &je);
		assert_non_null(m);
		struct measure_config c;
		struct sw_err err = {0};
		assert_int_equal(measure_config_from_json(&c, m, NULL, &err), -1);
		assert_string_equal(err.msg, cases[i].msg);
		measure_config_release(&c);
		json_decref(m);
	}
}

/* successCondition alone: false fails; failureLimit 1 allows one. */
static void test_analysis__measure_success_condition_and_failure_limit(void **state)
{
	struct measure_config c;
	config(&c, NULL);
	struct measure_run run;
	measure_run_init(&run);
	assert_string_equal(fold(&run, &c, NUM(0.995), MEASURE_SUCCESSFUL, MEASURE_RUNNING),
			    "success-rate = 0.995, successCondition result >= 0.99 is true: successful (measurement 1 of 5)");
	assert_string_equal(fold(&run, &c, NUM(0.873), MEASURE_FAILED, MEASURE_RUNNING),
			    "success-rate = 0.873, successCondition result >= 0.99 is false: failed (1 failure, 1 allowed)");
	assert_string_equal(fold(&run, &c, NUM(0.5), MEASURE_FAILED, MEASURE_FAILED),
			    "success-rate = 0.5, successCondition result >= 0.99 is false: failed (2 failures, 1 allowed); "
			    "metric failed");
	assert_int_equal(run.failed, 2);
	assert_int_equal(run.successful, 1);
	/* An ended run takes no more measurements. */
	struct measure_record rec;
	struct measure_input in = NUM(1);
	assert_int_equal(measure_fold(&rec, &run, &c, &in), SW_EINVAL);
	assert_int_equal(run.measured, 3);
	assert_null(rec.reason);
	measure_config_release(&c);

	/* failureLimit 0: the first failure ends it. */
	config(&c, "{\"failureLimit\":0}");
	measure_run_init(&run);
	fold(&run, &c, NUM(0.98), MEASURE_FAILED, MEASURE_FAILED);
	measure_config_release(&c);
}

static void test_analysis__measure_count_reached_is_successful(void **state)
{
	struct measure_config c;
	config(&c, "{\"count\":3,\"failureLimit\":1}");
	struct measure_run run;
	measure_run_init(&run);
	fold(&run, &c, NUM(1), MEASURE_SUCCESSFUL, MEASURE_RUNNING);
	fold(&run, &c, NUM(0.1), MEASURE_FAILED, MEASURE_RUNNING);
	assert_string_equal(fold(&run, &c, NUM(1), MEASURE_SUCCESSFUL, MEASURE_SUCCESSFUL),
			    "success-rate = 1, successCondition result >= 0.99 is true: successful (measurement 3 of 3); "
			    "metric successful");
	measure_config_release(&c);

	/* count 0 runs until stopped. */
	config(&c, "{\"count\":0}");
	measure_run_init(&run);
	for (int i = 0; i < 100; i++)
		fold(&run, &c, NUM(1), MEASURE_SUCCESSFUL, MEASURE_RUNNING);
	assert_int_equal(measure_run_stop(&run), MEASURE_SUCCESSFUL);
	assert_int_equal(run.phase, MEASURE_SUCCESSFUL);
	/* Stopping an ended run keeps its phase. */
	measure_run_init(&run);
	fold(&run, &c, NUM(0), MEASURE_FAILED, MEASURE_RUNNING);
	fold(&run, &c, NUM(0), MEASURE_FAILED, MEASURE_FAILED);
	assert_int_equal(measure_run_stop(&run), MEASURE_FAILED);
	measure_config_release(&c);
}

static void test_analysis__measure_failure_condition_alone(void **state)
{
	struct measure_config c;
	config(&c, "{\"successCondition\":null,\"failureCondition\":\"result > 0.05\",\"failureLimit\":0,\"count\":2}");
	struct measure_run run;
	measure_run_init(&run);
	assert_string_equal(fold(&run, &c, NUM(0.01), MEASURE_SUCCESSFUL, MEASURE_RUNNING),
			    "success-rate = 0.01, failureCondition result > 0.05 is false: successful (measurement 1 of 2)");
	assert_string_equal(fold(&run, &c, NUM(0.2), MEASURE_FAILED, MEASURE_FAILED),
			    "success-rate = 0.2, failureCondition result > 0.05 is true: failed (1 failure, 0 allowed); "
			    "metric failed");
	measure_config_release(&c);
}

/* Both conditions: failure wins, success succeeds, neither → inconclusive. */
static void test_analysis__measure_both_conditions_and_inconclusive_limit(void **state)
{
	struct measure_config c;
	config(&c, "{\"successCondition\":\"result >= 0.99\",\"failureCondition\":\"result < 0.9\","
		   "\"inconclusiveLimit\":1,\"count\":10}");
	struct measure_run run;
	measure_run_init(&run);
	struct measure_record rec;
	struct measure_input in = NUM(0.995);
	assert_int_equal(measure_fold(&rec, &run, &c, &in), 0);
	assert_int_equal(rec.outcome, MEASURE_SUCCESSFUL);
	assert_string_equal(rec.condition, "successCondition result >= 0.99");
	assert_string_equal(rec.value, "0.995");
	assert_true(rec.number == 0.995);
	measure_record_release(&rec);
	in = NUM(0.95);
	assert_int_equal(measure_fold(&rec, &run, &c, &in), 0);
	assert_int_equal(rec.outcome, MEASURE_INCONCLUSIVE);
	assert_null(rec.condition);
	assert_string_equal(rec.reason, "success-rate = 0.95, successCondition result >= 0.99 and failureCondition "
					"result < 0.9 are both false: inconclusive (1 inconclusive, 1 allowed)");
	measure_record_release(&rec);
	in = NUM(0.5);
	assert_int_equal(measure_fold(&rec, &run, &c, &in), 0);
	assert_int_equal(rec.outcome, MEASURE_FAILED);
	assert_string_equal(rec.condition, "failureCondition result < 0.9");
	measure_record_release(&rec);
	assert_string_equal(fold(&run, &c, NUM(0.93), MEASURE_INCONCLUSIVE, MEASURE_INCONCLUSIVE),
			    "success-rate = 0.93, successCondition result >= 0.99 and failureCondition result < 0.9 are "
			    "both false: inconclusive (2 inconclusive, 1 allowed); metric inconclusive");
	measure_config_release(&c);

	/* Both true: failure wins. */
	config(&c, "{\"successCondition\":\"result > 0\",\"failureCondition\":\"result > 0.5\"}");
	measure_run_init(&run);
	fold(&run, &c, NUM(0.7), MEASURE_FAILED, MEASURE_RUNNING);
	measure_config_release(&c);
}

/* No condition: a bool result decides (exec's exit status, compare's
 * verdict), anything else succeeds as in Argo. */
static void test_analysis__measure_without_conditions(void **state)
{
	struct measure_config c;
	config(&c, "{\"successCondition\":null,\"count\":0,\"failureLimit\":0}");
	struct measure_run run;
	measure_run_init(&run);
	struct measure_input in = measure_input_value(expr_bool(true), MEASURE_SAMPLES_UNKNOWN);
	in.detail = "canary p50 10.6 ms vs stable 10.4 ms (+2%), Mann-Whitney p=0.43 >= 0.02: not worse by more than 10%";
	assert_string_equal(fold(&run, &c, in, MEASURE_SUCCESSFUL, MEASURE_RUNNING),
			    "success-rate = true (canary p50 10.6 ms vs stable 10.4 ms (+2%), Mann-Whitney p=0.43 >= 0.02: "
			    "not worse by more than 10%): successful (measurement 1)");
	assert_string_equal(fold(&run, &c, NUM(12.5), MEASURE_SUCCESSFUL, MEASURE_RUNNING),
			    "success-rate = 12.5, no condition to check: successful (measurement 2)");
	in = measure_input_value(expr_bool(false), MEASURE_SAMPLES_UNKNOWN);
	assert_string_equal(fold(&run, &c, in, MEASURE_FAILED, MEASURE_FAILED),
			    "success-rate = false: failed (1 failure, 0 allowed); metric failed");
	measure_config_release(&c);
}

static void test_analysis__measure_errors_and_consecutive_error_limit(void **state)
{
	struct measure_config c;
	config(&c, "{\"consecutiveErrorLimit\":2,\"count\":2}");
	struct measure_run run;
	measure_run_init(&run);
	assert_string_equal(fold(&run, &c, measure_input_error("connection refused"), MEASURE_ERROR, MEASURE_RUNNING),
			    "success-rate: provider error: connection refused: error (1 in a row, 2 allowed)");
	fold(&run, &c, measure_input_error("timeout"), MEASURE_ERROR, MEASURE_RUNNING);
	/* A measurement resets the streak; errors do not use up count. */
	fold(&run, &c, NUM(1), MEASURE_SUCCESSFUL, MEASURE_RUNNING);
	assert_int_equal(run.consecutive_errors, 0);
	assert_int_equal(run.taken, 1);
	fold(&run, &c, measure_input_error(NULL), MEASURE_ERROR, MEASURE_RUNNING);
	fold(&run, &c, measure_input_error("x"), MEASURE_ERROR, MEASURE_RUNNING);
	assert_string_equal(fold(&run, &c, measure_input_error(""), MEASURE_ERROR, MEASURE_ERROR),
			    "success-rate: provider error: unknown error: error (3 in a row, 2 allowed); metric in error");
	assert_int_equal(run.errors, 5);
	assert_int_equal(run.measured, 6);
	measure_config_release(&c);

	/* A provider's long message is cut so records stay small. */
	config(&c, NULL);
	measure_run_init(&run);
	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	const char *r = fold(&run, &c, measure_input_error(big), MEASURE_ERROR, MEASURE_RUNNING);
	assert_true(strlen(r) < 400);
	measure_config_release(&c);

	/* A condition that cannot be evaluated is an error measurement too. */
	config(&c, "{\"successCondition\":\"result[0] >= 0.99\",\"consecutiveErrorLimit\":0}");
	measure_run_init(&run);
	static const double none[1];
	struct measure_record rec;
	struct measure_input in = measure_input_value(expr_array(none, 0), MEASURE_SAMPLES_UNKNOWN);
	assert_int_equal(measure_fold(&rec, &run, &c, &in), 0);
	assert_int_equal(rec.outcome, MEASURE_ERROR);
	assert_int_equal(rec.phase, MEASURE_ERROR);
	assert_string_equal(rec.condition, "successCondition result[0] >= 0.99");
	assert_string_equal(rec.reason, "success-rate = [], successCondition result[0] >= 0.99: 1:7: index 0 is out of "
					"range (the array has 0 values): error (1 in a row, 0 allowed); metric in error");
	assert_true(isnan(rec.number));
	measure_record_release(&rec);
	measure_config_release(&c);

	config(&c, "{\"successCondition\":\"result\"}");
	measure_run_init(&run);
	assert_string_equal(fold(&run, &c, NUM(1), MEASURE_ERROR, MEASURE_RUNNING),
			    "success-rate = 1, successCondition result: 1:1: the condition gave a number, not true or "
			    "false: error (1 in a row, 4 allowed)");
	measure_config_release(&c);
}

/* No data, or fewer samples than minSamples: the noData policy decides,
 * never the condition (a canary with no traffic must not pass by accident). */
static void test_analysis__measure_no_data_policies(void **state)
{
	const struct {
		const char *policy;
		enum measure_phase outcome;
		const char *counted;
	} cases[] = {
		{"inconclusive", MEASURE_INCONCLUSIVE, "counted as inconclusive (noData: inconclusive)"},
		{"fail", MEASURE_FAILED, "counted as failed (noData: fail)"},
		{"pass", MEASURE_SUCCESSFUL, "counted as successful (noData: pass)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char extra[200];
		snprintf(extra, sizeof(extra),
			 "{\"noData\":\"%s\",\"minSamples\":20,\"count\":10,\"failureLimit\":5,\"inconclusiveLimit\":5}",
			 cases[i].policy);
		struct measure_config c;
		config(&c, extra);
		struct measure_run run;
		measure_run_init(&run);
		char want[300];
		const char *r = fold(&run, &c, measure_input_no_data("no requests in 10s"), cases[i].outcome,
				     MEASURE_RUNNING);
		snprintf(want, sizeof(want), "success-rate: no data (no requests in 10s): %s", cases[i].counted);
		assert_int_equal(strncmp(r, want, strlen(want)), 0);
		/* 12 requests < minSamples 20: a perfect 1.0 is not judged. */
		r = fold(&run, &c, measure_input_value(expr_number(1), 12), cases[i].outcome, MEASURE_RUNNING);
		snprintf(want, sizeof(want), "success-rate = 1 from 12 samples, fewer than minSamples 20: %s",
			 cases[i].counted);
		assert_int_equal(strncmp(r, want, strlen(want)), 0);
		/* ...nor a bad value. */
		fold(&run, &c, measure_input_value(expr_number(0), 19), cases[i].outcome, MEASURE_RUNNING);
		/* 20 samples are enough; unknown counts skip the check. */
		fold(&run, &c, measure_input_value(expr_number(0.5), 20), MEASURE_FAILED, MEASURE_RUNNING);
		fold(&run, &c, measure_input_value(expr_number(1), MEASURE_SAMPLES_UNKNOWN), MEASURE_SUCCESSFUL,
		     MEASURE_RUNNING);
		measure_config_release(&c);
	}
	/* With the default inconclusiveLimit 0, the first no-data ends the run
	 * inconclusive: the rollout pauses for a human. */
	struct measure_config c;
	config(&c, NULL);
	struct measure_run run;
	measure_run_init(&run);
	assert_string_equal(fold(&run, &c, measure_input_no_data(NULL), MEASURE_INCONCLUSIVE, MEASURE_INCONCLUSIVE),
			    "success-rate: no data: counted as inconclusive (noData: inconclusive): inconclusive "
			    "(1 inconclusive, 0 allowed); metric inconclusive");
	measure_config_release(&c);
	/* noData: fail with failureLimit 0 fails at once. */
	config(&c, "{\"noData\":\"fail\"}");
	measure_run_init(&run);
	fold(&run, &c, measure_input_no_data(NULL), MEASURE_FAILED, MEASURE_RUNNING);
	fold(&run, &c, measure_input_no_data(NULL), MEASURE_FAILED, MEASURE_FAILED);
	measure_config_release(&c);
}

/* "Not enough data yet" waits, bounded: the wait is initialDelay + max(10 s,
 * 3 intervals) from the window's start; after it, noData decides. */
static void test_analysis__measure_waits_for_data_until_the_bound(void **state)
{
	struct measure_config c;
	struct buf b = BUF_INIT;

	config(&c, "{\"minSamples\":20}");
	assert_int_equal(measure_data_wait_ms(&c), 10000);
	struct measure_input none = measure_input_no_data("no requests reached revision 2 in the last 1s");
	none.samples = 0;
	assert_true(measure_waits(&b, &c, &none, 3));
	assert_string_equal(b.s, "success-rate: waiting for data: 0 of 20 requests (no requests reached "
				 "revision 2 in the last 1s), 0s of 10s");
	buf_reset(&b);
	struct measure_input few = measure_input_value(expr_number(1), 12);
	assert_true(measure_waits(&b, &c, &few, 2500));
	assert_string_equal(b.s, "success-rate: waiting for data: 12 of 20 requests, 2s of 10s");
	buf_reset(&b);
	/* enough samples, an error, or a provider that cannot count: no wait */
	struct measure_input enough = measure_input_value(expr_number(0.5), 20);
	assert_false(measure_waits(&b, &c, &enough, 0));
	struct measure_input err = measure_input_error("connection refused");
	assert_false(measure_waits(&b, &c, &err, 0));
	struct measure_input unknown = NUM(1);
	assert_false(measure_waits(&b, &c, &unknown, 0));
	/* a provider's own "no data" waits too, in its words */
	struct measure_input judge = measure_input_no_data("too few samples to judge: canary 3, stable 40");
	assert_true(measure_waits(&b, &c, &judge, 9999));
	assert_string_equal(b.s, "success-rate: waiting for data: too few samples to judge: canary 3, "
				 "stable 40, 9s of 10s");
	buf_reset(&b);
	/* the wait is over: the answer is folded and noData decides */
	assert_false(measure_waits(&b, &c, &none, 10000));
	assert_false(measure_waits(&b, &c, &few, 60000));
	assert_int_equal(b.len, 0);
	measure_config_release(&c);

	/* without minSamples one request is enough */
	config(&c, NULL);
	struct measure_input one = measure_input_value(expr_number(1), 1);
	assert_false(measure_waits(&b, &c, &one, 0));
	assert_true(measure_waits(&b, &c, &none, 0));
	measure_config_release(&c);

	/* long intervals wait 3 of them, after initialDelay */
	config(&c, "{\"interval\":\"5s\",\"initialDelay\":\"2s\"}");
	assert_int_equal(measure_data_wait_ms(&c), 17000);
	assert_true(measure_waits(&b, &c, &none, 16999));
	assert_false(measure_waits(&b, &c, &none, 17000));
	measure_config_release(&c);
	buf_release(&b);
}

static void test_analysis__measure_analysis_phase(void **state)
{
	const struct {
		enum measure_phase in[3];
		size_t n;
		enum measure_phase want;
	} cases[] = {
		{{MEASURE_SUCCESSFUL, MEASURE_SUCCESSFUL}, 2, MEASURE_SUCCESSFUL},
		{{MEASURE_SUCCESSFUL, MEASURE_RUNNING}, 2, MEASURE_RUNNING},
		{{MEASURE_RUNNING, MEASURE_FAILED}, 2, MEASURE_FAILED},
		{{MEASURE_RUNNING, MEASURE_ERROR}, 2, MEASURE_ERROR},
		{{MEASURE_ERROR, MEASURE_FAILED}, 2, MEASURE_FAILED},
		{{MEASURE_INCONCLUSIVE, MEASURE_RUNNING}, 2, MEASURE_RUNNING},
		{{MEASURE_INCONCLUSIVE, MEASURE_SUCCESSFUL}, 2, MEASURE_INCONCLUSIVE},
		{{MEASURE_INCONCLUSIVE, MEASURE_ERROR, MEASURE_SUCCESSFUL}, 3, MEASURE_ERROR},
		{{0}, 0, MEASURE_SUCCESSFUL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(measure_analysis_phase(cases[i].in, cases[i].n), cases[i].want);
	for (int p = MEASURE_RUNNING; p <= MEASURE_ERROR; p++)
		assert_int_equal(measure_phase_parse(measure_phase_name((enum measure_phase)p)), p);
	assert_int_equal(measure_phase_parse("running"), -1);
}

static void test_analysis__measure_json_round_trip(void **state)
{
	struct measure_config c;
	config(&c, NULL);
	struct measure_run run, back;
	measure_run_init(&run);
	fold(&run, &c, NUM(1), MEASURE_SUCCESSFUL, MEASURE_RUNNING);
	fold(&run, &c, measure_input_error("x"), MEASURE_ERROR, MEASURE_RUNNING);
	fold(&run, &c, NUM(0), MEASURE_FAILED, MEASURE_RUNNING);
	json_t *j = measure_run_to_json(&run);
	struct sw_err err = {0};
	assert_int_equal(measure_run_from_json(&back, j, &err), 0);
	assert_memory_equal(&back, &run, sizeof(run));
	json_object_set_new(j, "phase", json_string("Done"));
	assert_int_equal(measure_run_from_json(&back, j, &err), -1);
	assert_string_equal(err.msg, "measurement run: bad or missing \"phase\"");
	json_decref(j);

	struct measure_record rec;
	struct measure_input in = NUM(0.873);
	assert_int_equal(measure_fold(&rec, &run, &c, &in), 0);
	j = measure_record_to_json(&rec);
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(s, "{\"condition\":\"successCondition result >= 0.99\",\"number\":0.873,\"outcome\":"
			       "\"Failed\",\"phase\":\"Failed\",\"reason\":\"success-rate = 0.873, successCondition "
			       "result >= 0.99 is false: failed (2 failures, 1 allowed); metric failed\",\"seq\":4,"
			       "\"value\":\"0.873\"}");
	free(s);
	json_decref(j);
	measure_record_release(&rec);
	measure_config_release(&c);
}

/* Random sequences: every run ends within count + bounded errors, the
 * counts add up, and a run never changes once it ended. */
static void test_analysis__measure_random_sequences_keep_invariants(void **state)
{
	rng_state = 99;
	for (int t = 0; t < 2000; t++) {
		char extra[300];
		uint32_t count = (uint32_t)(rng_next() % 6), fl = (uint32_t)(rng_next() % 3),
			 il = (uint32_t)(rng_next() % 3), el = (uint32_t)(rng_next() % 3);
		snprintf(extra, sizeof(extra),
			 "{\"count\":%u,\"failureLimit\":%u,\"inconclusiveLimit\":%u,\"consecutiveErrorLimit\":%u,"
			 "\"failureCondition\":\"result < 0.5\",\"noData\":\"%s\",\"minSamples\":10}",
			 count, fl, il, el, (const char *[]){"inconclusive", "fail", "pass"}[rng_next() % 3]);
		struct measure_config c;
		config(&c, extra);
		struct measure_run run;
		measure_run_init(&run);
		int steps = 0;
		while (run.phase == MEASURE_RUNNING && steps < 50) {
			struct measure_input in;
			switch (rng_next() % 4) {
			case 0: in = measure_input_error("boom"); break;
			case 1: in = measure_input_no_data(NULL); break;
			default: in = measure_input_value(expr_number(rng_uniform()), rng_next() % 20); break;
			}
			struct measure_record rec;
			assert_int_equal(measure_fold(&rec, &run, &c, &in), 0);
			assert_non_null(rec.reason);
			assert_int_not_equal(rec.outcome, MEASURE_RUNNING);
			measure_record_release(&rec);
			steps++;
			assert_int_equal(run.successful + run.failed + run.inconclusive, run.taken);
			assert_int_equal(run.taken + run.errors, run.measured);
			assert_true(run.failed <= fl + 1);
			assert_true(run.inconclusive <= il + 1);
			assert_true(run.consecutive_errors <= el + 1);
			if (count > 0)
				assert_true(run.taken <= count);
		}
		if (count > 0 && run.phase == MEASURE_RUNNING)
			fail_msg("run with count %u still running after %d measurements", count, steps);
		if (run.phase == MEASURE_SUCCESSFUL)
			assert_true(run.failed <= fl && run.inconclusive <= il);
		measure_config_release(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_analysis__expr_evaluates_booleans),
		cmocka_unit_test(test_analysis__expr_evaluates_numbers),
		cmocka_unit_test(test_analysis__expr_nan_compares_false),
		cmocka_unit_test(test_analysis__expr_short_circuits),
		cmocka_unit_test(test_analysis__expr_eval_errors),
		cmocka_unit_test(test_analysis__expr_compile_errors),
		cmocka_unit_test(test_analysis__expr_limits),
		cmocka_unit_test(test_analysis__expr_formats_values),
		cmocka_unit_test(test_analysis__expr_compile_once_eval_many),
		cmocka_unit_test(test_analysis__mann_whitney_exact_known_values),
		cmocka_unit_test(test_analysis__mann_whitney_normal_known_values),
		cmocka_unit_test(test_analysis__mann_whitney_critical_values_table),
		cmocka_unit_test(test_analysis__mann_whitney_edge_cases),
		cmocka_unit_test(test_analysis__judge_latency_clearly_worse_fails),
		cmocka_unit_test(test_analysis__judge_latency_ignores_tiny_absolute_worsening),
		cmocka_unit_test(test_analysis__judge_latency_same_distribution_passes),
		cmocka_unit_test(test_analysis__judge_latency_detects_moderate_regression),
		cmocka_unit_test(test_analysis__judge_too_few_samples_is_inconclusive),
		cmocka_unit_test(test_analysis__judge_error_rate),
		cmocka_unit_test(test_analysis__judge_binomial_mixture_matches_integral),
		cmocka_unit_test(test_analysis__judge_error_counts_few_errors_on_clean_stable),
		cmocka_unit_test(test_analysis__judge_error_counts_false_alarms_bounded),
		cmocka_unit_test(test_analysis__judge_error_counts_catches_small_increases),
		cmocka_unit_test(test_analysis__judge_latency_repeated_looks),
		cmocka_unit_test(test_analysis__measure_config_from_template_json),
		cmocka_unit_test(test_analysis__measure_config_errors_name_metric_and_condition),
		cmocka_unit_test(test_analysis__measure_success_condition_and_failure_limit),
		cmocka_unit_test(test_analysis__measure_count_reached_is_successful),
		cmocka_unit_test(test_analysis__measure_failure_condition_alone),
		cmocka_unit_test(test_analysis__measure_both_conditions_and_inconclusive_limit),
		cmocka_unit_test(test_analysis__measure_without_conditions),
		cmocka_unit_test(test_analysis__measure_errors_and_consecutive_error_limit),
		cmocka_unit_test(test_analysis__measure_no_data_policies),
		cmocka_unit_test(test_analysis__measure_waits_for_data_until_the_bound),
		cmocka_unit_test(test_analysis__measure_analysis_phase),
		cmocka_unit_test(test_analysis__measure_json_round_trip),
		cmocka_unit_test(test_analysis__measure_random_sequences_keep_invariants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
