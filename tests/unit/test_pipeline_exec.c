/*
 * The executor's pure parts (src/pipeline/exec.h): the $SLIPWAY_OUTPUT /
 * $SLIPWAY_ENV file format as GitHub documents it ("Setting an output
 * parameter", "Multiline strings"), with its errors; and the masking of
 * secrets in log lines. The executor itself is driven end to end by
 * tests/e2e/pipeline_run.bats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/exec.h"
#include "unit_util.h"

/* The file's values as compact sorted JSON, or "error: MSG". */
static char *parsed(const char *text)
{
	json_t *o = json_object();
	struct sw_err err = {0};
	char *s;
	if (pipeline_kv_parse(o, text, strlen(text), &err) < 0) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "error: %s", err.msg);
		s = buf_detach(&b);
	} else {
		s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	}
	json_decref(o);
	return s;
}

#define assert_parsed(text, want)                \
	do {                                     \
		char *got_ = parsed(text);       \
		assert_string_equal(got_, want); \
		free(got_);                      \
	} while (0)

static void test_pipeline_exec__outputs_name_value_lines(void **state)
{
	assert_parsed("", "{}");
	assert_parsed("version=1.2.3\n", "{\"version\":\"1.2.3\"}");
	assert_parsed("a=1\n\nb=two words = three\r\n", "{\"a\":\"1\",\"b\":\"two words = three\"}");
	assert_parsed("a=1\na=2", "{\"a\":\"2\"}");          /* the later wins, no newline at the end */
	assert_parsed("empty=\n", "{\"empty\":\"\"}");
	assert_parsed("with-dash_and_1=x\n", "{\"with-dash_and_1\":\"x\"}");
}

static void test_pipeline_exec__outputs_heredoc_form(void **state)
{
	assert_parsed("notes<<EOF\nline one\nline two\nEOF\n", "{\"notes\":\"line one\\nline two\"}");
	assert_parsed("n<<EOF\n\nsecond\nEOF\nv=1\n", "{\"n\":\"\\nsecond\",\"v\":\"1\"}");
	assert_parsed("n<<EOF\nEOF\n", "{\"n\":\"\"}");
	/* = inside the value, and a delimiter that only starts a line is not one */
	assert_parsed("json<<ghadelimiter_1\n{\"a\": \"b=c\"}\nghadelimiter_1x\nghadelimiter_1\n",
		      "{\"json\":\"{\\\"a\\\": \\\"b=c\\\"}\\nghadelimiter_1x\"}");
	/* NAME=VALUE wins when = comes before << */
	assert_parsed("a=b<<c\n", "{\"a\":\"b<<c\"}");
}

static void test_pipeline_exec__outputs_errors_say_the_line(void **state)
{
	assert_parsed("ok=1\njust text\n", "error: line 2: \"just text\" is not NAME=VALUE or NAME<<DELIMITER");
	assert_parsed("=value\n", "error: line 1: \"=value\" is not NAME=VALUE or NAME<<DELIMITER");
	assert_parsed("1a=x\n", "error: line 1: \"1a=x\" is not NAME=VALUE or NAME<<DELIMITER");
	assert_parsed("a\n\nnotes<<EOF\nx\n", "error: line 1: \"a\" is not NAME=VALUE or NAME<<DELIMITER");
	assert_parsed("v=1\nnotes<<EOF\nx\nEO\n", "error: line 2: no line \"EOF\" closes the value of \"notes\"");
	assert_parsed("n<<\nx\n", "error: line 1: \"n<<\" is not NAME=VALUE or NAME<<DELIMITER");
}

static char *masked(const char *line, const char *const *secrets, size_t n)
{
	struct pipeline_secret s[8];
	size_t nv = 0;
	for (size_t i = 0; i < n; i++)
		s[i] = (struct pipeline_secret){"S", (char *)secrets[i]};
	char **v = pipeline_mask_values(s, n, &nv);
	struct buf b = BUF_INIT;
	pipeline_mask(&b, line, strlen(line), v, nv);
	pipeline_mask_values_free(v, nv);
	return buf_detach(&b);
}

#define assert_masked(line, want, ...)                                        \
	do {                                                                  \
		const char *const sec_[] = {__VA_ARGS__};                     \
		char *got_ = masked(line, sec_, sizeof(sec_) / sizeof(*sec_)); \
		assert_string_equal(got_, want);                              \
		free(got_);                                                   \
	} while (0)

static void test_pipeline_exec__secrets_are_masked(void **state)
{
	assert_masked("token is hunter22, again hunter22.", "token is ***, again ***.", "hunter22");
	assert_masked("nothing here", "nothing here", "hunter22");
	/* a value holding another is masked whole: the longer is tried first */
	assert_masked("pass abc and abcdef", "pass *** and ***", "abc", "abcdef");
	/* short values would hide every "a": not masked */
	assert_masked("a b ab", "a b ab", "ab");
	/* a value of several lines: each line on its own (a log line is one) */
	assert_masked("-----BEGIN KEY----- then c2VjcmV0", "*** then ***", "-----BEGIN KEY-----\nc2VjcmV0\n");
	assert_masked("hunter22hunter22", "******", "hunter22");
	assert_masked("", "", "hunter22");
}

static void replay(const char *file, const char *data, size_t len)
{
	json_t *o = json_object();
	struct sw_err err = {0};
	if (pipeline_kv_parse(o, data, len, &err) < 0)
		assert_true(err.msg[0] != '\0');
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
		assert_true(json_is_string(v));
	json_decref(o);
}

static void test_pipeline_exec__fuzz_corpus_replays(void **state)
{
	assert_true(unit_corpus_replay("pipeline_outputs", replay) >= 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline_exec__outputs_name_value_lines),
		cmocka_unit_test(test_pipeline_exec__outputs_heredoc_form),
		cmocka_unit_test(test_pipeline_exec__outputs_errors_say_the_line),
		cmocka_unit_test(test_pipeline_exec__secrets_are_masked),
		cmocka_unit_test(test_pipeline_exec__fuzz_corpus_replays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
