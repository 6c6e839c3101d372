/*
 * Pipeline expressions (src/pipeline/expr.h), checked against the examples
 * of GitHub's documentation ("Evaluate expressions in workflows and
 * actions"): literals, operators, loose equality, truth, functions,
 * object filters, status functions; and errors with their offsets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/expr.h"
#include "unit_util.h"

static json_t *contexts;

static json_t *lookup(const char *name, void *data)
{
	return json_object_get(contexts, name);
}

static int fake_hash(json_t **out, const char *const *patterns, size_t n, void *data, struct sw_err *err)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		buf_addf(&b, "%s%s", i ? "+" : "", patterns[i]);
	*out = json_string(b.s);
	buf_release(&b);
	return 0;
}

static const struct pipeline_expr_env env_ok = {lookup, fake_hash, NULL, true, false, false};

/* The value of text as compact JSON (caller frees), or "error: MSG @AT". */
static char *value_of(const char *text, const struct pipeline_expr_env *env)
{
	struct pipeline_expr *e = NULL;
	struct sw_err err = {0};
	size_t at = 0;
	json_t *v = NULL;
	struct buf b = BUF_INIT;
	if (pipeline_expr_compile(&e, text, strlen(text), ~0u, &at, &err) < 0) {
		buf_addf(&b, "error: %s @%zu", err.msg, at);
		return buf_detach(&b);
	}
	if (pipeline_expr_eval(&v, e, env, &err) < 0) {
		buf_addf(&b, "error: %s", err.msg);
	} else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
		buf_adds(&b, s);
		free(s);
	}
	json_decref(v);
	pipeline_expr_free(e);
	return buf_detach(&b);
}

#define assert_value(text, want)                         \
	do {                                             \
		char *got_ = value_of(text, &env_ok);    \
		if (strcmp(got_, want) != 0)             \
			fail_msg("%s: got %s, want %s", text, got_, want); \
		free(got_);                              \
	} while (0)

static void test_pipeline_expr__literals_as_github_documents_them(void **state)
{
	assert_value("null", "null");
	assert_value("false", "false");
	assert_value("711", "711");
	assert_value("-9.2", "-9.2");
	assert_value("0xff", "255");
	assert_value("-2.99e-2", "-0.0299");
	assert_value("'Mona the Octocat'", "\"Mona the Octocat\"");
	assert_value("'It''s open source!'", "\"It's open source!\"");
}

static void test_pipeline_expr__loose_equality_and_comparison(void **state)
{
	assert_value("null == 0", "true");       /* null is 0 */
	assert_value("'' == 0", "true");         /* the empty string is 0 */
	assert_value("'abc' == 0", "false");     /* NaN */
	assert_value("'1' == 1", "true");
	assert_value("true == 1", "true");
	assert_value("false == '0'", "true");
	assert_value("'ABC' == 'abc'", "true");  /* strings ignore case */
	assert_value("'a' != 'A'", "false");
	assert_value("fromJSON('{}') == fromJSON('{}')", "false"); /* objects: only themselves */
	assert_value("slipway == github", "true");
	assert_value("fromJSON('[]') == 0", "false");
	assert_value("1 < 2", "true");
	assert_value("'b' > 'A'", "true");
	assert_value("'10' > 9", "true");
	assert_value("'x' < 1", "false");
	assert_value("'x' >= 1", "false");
	assert_value("2 <= 2", "true");
}

static void test_pipeline_expr__logic_returns_operands_and_truth(void **state)
{
	assert_value("'' || 'default'", "\"default\"");
	assert_value("'set' || 'default'", "\"set\"");
	assert_value("0 && 'x'", "0");
	assert_value("1 && 'x'", "\"x\"");
	assert_value("!''", "true");
	assert_value("!0", "true");
	assert_value("!'0'", "false");           /* a non-empty string is true */
	assert_value("!null", "true");
	assert_value("!fromJSON('[]')", "false"); /* arrays are true */
	assert_value("!true == false", "true");  /* ! binds tighter */
	assert_value("1 < 2 == true", "true");   /* comparisons above equality */
	assert_value("true || false && false", "true"); /* && above || */
	assert_value("(true || false) && false", "false");
	json_t *minus = json_integer(-1);
	assert_true(pipeline_value_truthy(minus));
	json_decref(minus);
	assert_false(pipeline_value_truthy(NULL));
}

static void test_pipeline_expr__contexts_properties_and_filters(void **state)
{
	assert_value("github.ref", "\"refs/heads/main\"");
	assert_value("slipway.REF", "\"refs/heads/main\""); /* names ignore case */
	assert_value("GitHub['ref']", "\"refs/heads/main\"");
	assert_value("github.event.nosuch", "null");
	assert_value("github.event.nosuch.deeper", "null");
	assert_value("matrix.os", "\"linux\"");
	assert_value("needs.build.outputs.version", "\"1.2.3\"");
	assert_value("needs.build-x.result", "\"failure\"");
	assert_value("github.event.issue.labels.*.name", "[\"bug\",\"help wanted\"]");
	assert_value("github.event.issue.labels[1].name", "\"help wanted\"");
	assert_value("github.event.issue.labels[5]", "null");
	assert_value("fromJSON('[10, 20]')[1]", "20");
	assert_value("fromJSON('{\"a\": {\"b\": 1}, \"c\": {\"b\": 2}}').*.b", "[1,2]");
}

static void test_pipeline_expr__functions_as_github_documents_them(void **state)
{
	assert_value("contains('Hello world', 'llo')", "true");
	assert_value("contains('Hello world', 'LLO')", "true");
	assert_value("contains(github.event.issue.labels.*.name, 'bug')", "true");
	assert_value("contains(fromJSON('[\"push\", \"pull_request\"]'), github.event_name)", "true");
	assert_value("contains(fromJSON('[1, 2]'), '2')", "true");
	assert_value("startsWith('Hello world', 'He')", "true");
	assert_value("startsWith('Hello world', 'he')", "true");
	assert_value("endsWith('Hello world', 'ld')", "true");
	assert_value("endsWith('Hello world', 'xld')", "false");
	assert_value("format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')", "\"Hello Mona the Octocat\"");
	assert_value("format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')",
		     "\"{Hello Mona the Octocat!}\"");
	assert_value("format('{0}', 3)", "\"3\"");
	assert_value("format('{1}', 3)", "error: format: {1} names no argument (it has 1)");
	assert_value("join(github.event.issue.labels.*.name, ', ')", "\"bug, help wanted\"");
	assert_value("join(fromJSON('[1, true, null]'))", "\"1,true,\"");
	assert_value("join('abc')", "\"abc\"");
	assert_value("toJSON(matrix)", "\"{\\n  \\\"os\\\": \\\"linux\\\"\\n}\"");
	assert_value("fromJSON('true')", "true");
	assert_value("fromJSON('10')", "10");
	assert_value("fromJSON('[1')", "error: fromJSON: '[1' is not JSON (']' expected near end of file)");
	assert_value("hashFiles('**/meson.build', 'x')", "\"**/meson.build+x\"");
	char *v = value_of("hashFiles('a')", &(struct pipeline_expr_env){lookup, NULL, NULL, true, false, false});
	assert_string_equal(v, "error: hashFiles is evaluated when the job runs");
	free(v);
}

static bool cond(const char *text, bool success, bool failure, bool cancelled)
{
	struct pipeline_expr *e = NULL;
	struct sw_err err = {0};
	size_t at = 0;
	bool out = false;
	assert_int_equal(pipeline_cond_compile(&e, text, PIPELINE_CTX_JOB_IF, &at, &err), 0);
	struct pipeline_expr_env env = {lookup, NULL, NULL, success, failure, cancelled};
	assert_int_equal(pipeline_expr_eval_cond(&out, e, &env, &err), 0);
	pipeline_expr_free(e);
	return out;
}

static void test_pipeline_expr__status_functions_and_the_implicit_success(void **state)
{
	assert_true(cond("success()", true, false, false));
	assert_false(cond("success()", false, true, false));
	assert_false(cond("success()", true, false, true)); /* cancelled is no success */
	assert_true(cond("failure()", false, true, false));
	assert_true(cond("always()", false, true, true));
	assert_true(cond("cancelled()", false, false, true));
	/* no status function: success() && (it) */
	assert_true(cond("github.ref == 'refs/heads/main'", true, false, false));
	assert_false(cond("github.ref == 'refs/heads/main'", false, true, false));
	assert_false(cond("true", false, false, false));
	assert_true(cond("${{ failure() || github.ref == 'x' }}", false, true, false));
	assert_true(cond("  ${{ always() }}  ", false, false, true));
	assert_false(cond("!cancelled()", true, false, true));
}

/* The message and offset of a text that does not compile. */
static void assert_error(const char *text, unsigned ctx, const char *msg, size_t want_at)
{
	struct pipeline_expr *e = NULL;
	struct sw_err err = {0};
	size_t at = 99;
	if (pipeline_cond_compile(&e, text, ctx, &at, &err) == 0)
		fail_msg("%s compiled", text);
	assert_null(e);
	if (strcmp(err.msg, msg) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", text, err.msg, msg);
	if (at != want_at)
		fail_msg("%s: at %zu, want %zu", text, at, want_at);
}

static void test_pipeline_expr__errors_say_what_and_where(void **state)
{
	assert_error("", ~0u, "empty expression", 0);
	assert_error("'a' ==", ~0u, "expected a value after \"'a' ==\"", 6);
	assert_error("(1 == 1", ~0u, "expected \")\" after \"(1 == 1\"", 7);
	assert_error("githb.ref", ~0u, "unknown name \"githb\" (did you mean \"github\"?)", 0);
	assert_error("1 == startswith2('a', 'b')", ~0u,
		     "unknown function \"startswith2\" (did you mean \"startsWith\"?)", 5);
	assert_error("contains('a')", ~0u, "contains needs 2 arguments, got 1", 0);
	assert_error("always(1)", ~0u, "always takes at most 0 arguments", 7);
	assert_error("\"x\" == 'x'", ~0u,
		     "strings are written in single quotes ('text'), as in GitHub Actions", 0);
	assert_error("'abc", ~0u, "unterminated string (strings end with ')", 0);
	assert_error("a = b", ~0u, "unknown name \"a\" (contexts: slipway, github, env, matrix, needs, "
		     "strategy, steps, job, runner, inputs, vars, secrets; strings are in single quotes)", 0);
	assert_error("matrix.os = 'x'", ~0u, "unexpected \"=\" (compare with ==)", 10);
	assert_error("true & false", ~0u, "unexpected \"&\" (write &&)", 5);
	assert_error("steps.x.outcome == 'success'", PIPELINE_CTX_JOB_IF,
		     "the context \"steps\" is not available here (a job's if: is decided before the job starts)", 0);
	assert_error("${{ success() }} && true", PIPELINE_CTX_JOB_IF,
		     "write the whole condition inside one ${{ }}, or none (text around it makes a string, "
		     "which is always true)", 0);
	assert_error("${{ success() ", PIPELINE_CTX_JOB_IF, "\"${{\" is not closed with \"}}\"", 0);
	assert_error("${{ 1 == }}", ~0u, "expected a value after \"1 ==\"", 9);
	size_t at = 0;
	struct sw_err err = {0};
	assert_int_equal(pipeline_template_check("run ${{ matrix.os }} and ${{ bad( }}", ~0u, &at, &err), -1);
	assert_string_equal(err.msg, "unknown function \"bad\"");
	assert_int_equal(at, 29);
	/* limits: length and nesting */
	char deep[300];
	memset(deep, '(', 100);
	strcpy(deep + 100, "1");
	assert_error(deep, ~0u, "nested deeper than 64", 64);
	char *longer = calloc(1, PIPELINE_EXPR_MAX_LEN + 2);
	memset(longer, '1', PIPELINE_EXPR_MAX_LEN + 1);
	assert_error(longer, ~0u, "expression longer than 4096 bytes", 0);
	free(longer);
}

static void test_pipeline_expr__templates_put_values_as_text(void **state)
{
	struct buf b = BUF_INIT;
	struct sw_err err = {0};
	assert_int_equal(pipeline_template_eval(&b, "cc-${{ matrix.os }}-${{ 1.5 }}-${{ null }}-${{ true }}-"
						     "${{ fromJSON('[]') }}-${{ '}}' }}", &env_ok, &err), 0);
	assert_string_equal(b.s, "cc-linux-1.5--true-Array-}}");
	buf_reset(&b);
	assert_int_equal(pipeline_template_eval(&b, "no expressions", &env_ok, &err), 0);
	assert_string_equal(b.s, "no expressions");
	buf_release(&b);
}

static void replay(const char *file, const char *data, size_t len)
{
	struct pipeline_expr *e = NULL;
	struct sw_err err = {0};
	size_t at = 0;
	if (pipeline_expr_compile(&e, data, len, ~0u, &at, &err) < 0) {
		assert_true(err.msg[0] != '\0');
		assert_true(at <= len);
		return;
	}
	json_t *v = NULL;
	if (pipeline_expr_eval(&v, e, &env_ok, &err) == 0)
		assert_non_null(v);
	json_decref(v);
	pipeline_expr_free(e);
}

static void test_pipeline_expr__fuzz_corpus_replays(void **state)
{
	assert_true(unit_corpus_replay("pipeline_expr", replay) > 5);
}

int main(void)
{
	contexts = json_loads("{\"slipway\": {\"ref\": \"refs/heads/main\", \"event_name\": \"push\", "
			      "\"event\": {\"issue\": {\"labels\": [{\"name\": \"bug\"}, {\"name\": \"help wanted\"}]}}},"
			      "\"matrix\": {\"os\": \"linux\"},"
			      "\"needs\": {\"build\": {\"result\": \"success\", \"outputs\": {\"version\": \"1.2.3\"}},"
			      "            \"build-x\": {\"result\": \"failure\", \"outputs\": {}}}}",
			      0, NULL);
	assert_non_null(contexts);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline_expr__literals_as_github_documents_them),
		cmocka_unit_test(test_pipeline_expr__loose_equality_and_comparison),
		cmocka_unit_test(test_pipeline_expr__logic_returns_operands_and_truth),
		cmocka_unit_test(test_pipeline_expr__contexts_properties_and_filters),
		cmocka_unit_test(test_pipeline_expr__functions_as_github_documents_them),
		cmocka_unit_test(test_pipeline_expr__status_functions_and_the_implicit_success),
		cmocka_unit_test(test_pipeline_expr__errors_say_what_and_where),
		cmocka_unit_test(test_pipeline_expr__templates_put_values_as_text),
		cmocka_unit_test(test_pipeline_expr__fuzz_corpus_replays),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(contexts);
	return rc;
}
