/*
 * A job's reports (src/pipeline/results.h): the XML tokenizer with its
 * entities, DOCTYPE and limits, JUnit as cmocka, pytest and ctest write
 * it (counts from the testcases), Cobertura from gcovr and coverage.py,
 * lcov tracefiles, gcovr's JSON summary, benchmark files, and the gates
 * judged from them in a workspace. Every error says file:line:col.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline/results.h"
#include "unit_util.h"

/* "error: MSG" or the root element's name and its first kid's text */
static char *xml(const char *text)
{
	struct pipeline_xml *x = NULL;
	struct sw_err err = {0};
	struct buf b = BUF_INIT;
	if (pipeline_xml_parse(&x, "r.xml", text, strlen(text), &err) < 0)
		buf_addf(&b, "error: %s", err.msg);
	else
		buf_addf(&b, "%s|%s", x->name, x->nkids ? x->kids[0]->text : x->text);
	pipeline_xml_free(x);
	return buf_detach(&b);
}

#define assert_xml(text, want)                   \
	do {                                     \
		char *got_ = xml(text);          \
		assert_string_equal(got_, want); \
		free(got_);                      \
	} while (0)

static void test_pipeline_results__xml_entities_cdata_comments(void **state)
{
	assert_xml("<?xml version=\"1.0\"?>\n<!-- hi --><r><a>x &lt;&gt;&amp;&quot;&apos; &#65;&#x42;&#xe9;</a></r>",
		   "r|x <>&\"' AB\xc3\xa9");
	assert_xml("<r><a><![CDATA[<b>&amp;</b>]]> and <!-- not text -->more<?pi ?></a></r>",
		   "r|<b>&amp;</b> and more");
	assert_xml("\xEF\xBB\xBF<r/>", "r|");
	/* gcovr's DOCTYPE is skipped; an internal subset is too, and what it declares is never expanded */
	assert_xml("<!DOCTYPE coverage SYSTEM 'http://cobertura.sourceforge.net/xml/coverage-04.dtd'>\n<coverage/>",
		   "coverage|");
	assert_xml("<!DOCTYPE r [\n<!ENTITY x SYSTEM \"file:///etc/passwd\">\n]>\n<r>&x;</r>",
		   "error: r.xml:4:4: unknown entity \"&x;\" (only &lt; &gt; &amp; &quot; &apos; and &#N; are read; a "
		   "DOCTYPE's entities never are)");
	struct pipeline_xml *x = NULL;
	struct sw_err err = {0};
	const char *t = "<r a=\"1\" b='&lt;2'/>";
	assert_int_equal(pipeline_xml_parse(&x, "r.xml", t, strlen(t), &err), 0);
	assert_string_equal(pipeline_xml_attr(x, "b"), "<2");
	assert_null(pipeline_xml_attr(x, "c"));
	pipeline_xml_free(x);
}

static void test_pipeline_results__xml_errors_say_where(void **state)
{
	assert_xml("<r>\n  <a></b>\n</r>", "error: r.xml:2:6: </b> closes <a> (opened at 2:3)");
	assert_xml("<r>\n  <a>", "error: r.xml:2:3: <a> is not closed (end of file)");
	assert_xml("<r a='1' a='2'/>", "error: r.xml:1:10: attribute \"a\" twice in <r>");
	assert_xml("<r a=1/>", "error: r.xml:1:6: the value of attribute \"a\" must be quoted");
	assert_xml("<r>&#0;</r>", "error: r.xml:1:4: \"&#0;\" is not a character XML allows");
	assert_xml("<r>&#xD800;</r>", "error: r.xml:1:4: \"&#xD800;\" is not a character XML allows");
	assert_xml("<r>a & b</r>", "error: r.xml:1:6: \"&\" starts no entity reference (write &amp; for a plain \"&\")");
	assert_xml("<r>1 < 2</r>", "error: r.xml:1:6: \"<\" starts no element (write &lt; for a plain \"<\")");
	assert_xml("hello <r/>", "error: r.xml:1:1: text before the root element");
	assert_xml("<r/><s/>", "error: r.xml:1:5: a second root element after <r>");
	assert_xml("", "error: r.xml:1:1: no element in it (an empty or truncated file?)");
	assert_xml("<r><!-- x </r>", "error: r.xml:1:4: comment not closed by -->");
	assert_xml("<r><![CDATA[x</r>", "error: r.xml:1:4: CDATA section not closed by ]]>");
	assert_xml("<r a=\"<\"/>", "error: r.xml:1:7: \"<\" in the value of attribute \"a\" (write &lt;)");
}

static void test_pipeline_results__xml_limits(void **state)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < PIPELINE_XML_MAX_DEPTH + 1; i++)
		buf_adds(&b, "<a>");
	char *got = xml(b.s);
	assert_string_equal(got, "error: r.xml:1:193: elements nested more than 64 deep");
	free(got);
	buf_reset(&b);
	buf_adds(&b, "<r");
	for (int i = 0; i < PIPELINE_XML_MAX_ATTRS + 1; i++)
		buf_addf(&b, " a%d='%d'", i, i);
	buf_adds(&b, "/>");
	got = xml(b.s);
	assert_non_null(strstr(got, "<r> has more than 64 attributes"));
	free(got);
	/* an element's text is cut, not refused */
	buf_reset(&b);
	buf_adds(&b, "<r>");
	for (int i = 0; i < PIPELINE_XML_MAX_TEXT * 2; i++)
		buf_addc(&b, 'x');
	buf_adds(&b, "</r>");
	got = xml(b.s);
	assert_int_equal(strlen(got), 2 + PIPELINE_XML_MAX_TEXT);
	free(got);
	buf_release(&b);
	struct pipeline_xml *x = NULL;
	struct sw_err err = {0};
	assert_int_equal(pipeline_xml_parse(&x, "big.xml", "<r/>", (size_t)PIPELINE_XML_MAX_BYTES + 1, &err), -1);
	assert_string_equal(err.msg, "big.xml: 67108865 bytes; a report is at most 64 MiB");
}

/* cmocka's CMOCKA_MESSAGE_OUTPUT=xml output, as this project's tests write it */
static const char cmocka_xml[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n"
	"<testsuites>\n"
	"  <testsuite name=\"calc\" time=\"0.001\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" >\n"
	"    <testcase name=\"test_add\" time=\"0.000\" >\n"
	"    </testcase>\n"
	"    <testcase name=\"test_sub\" time=\"0.001\" >\n"
	"      <failure><![CDATA[0x2 != 0x3\n"
	"tests/test_calc.c:12: error: Failure!]]></failure>\n"
	"    </testcase>\n"
	"    <testcase name=\"test_later\" time=\"0.000\" >\n"
	"      <skipped/>\n"
	"    </testcase>\n"
	"  </testsuite>\n"
	"</testsuites>\n";

static void test_pipeline_results__junit_cmocka(void **state)
{
	struct pipeline_tests t = {0};
	struct sw_err err = {0};
	assert_int_equal(pipeline_junit_parse(&t, "junit.xml", cmocka_xml, strlen(cmocka_xml), &err), 0);
	assert_int_equal(t.total, 3);
	assert_int_equal(t.failed, 1);
	assert_int_equal(t.errors, 0);
	assert_int_equal(t.skipped, 1);
	assert_int_equal(t.nshown, 1);
	assert_string_equal(t.shown[0].name, "test_sub");
	assert_string_equal(t.shown[0].message, "0x2 != 0x3");
	assert_null(t.note);
	/* a second file adds to the first */
	assert_int_equal(pipeline_junit_parse(&t, "junit2.xml", cmocka_xml, strlen(cmocka_xml), &err), 0);
	assert_int_equal(t.total, 6);
	assert_int_equal(t.nshown, 2);
	assert_true(t.seconds > 0.0019 && t.seconds < 0.0021);
	pipeline_tests_release(&t);
}

static char *corpus_file(const char *dir, const char *name, size_t *len)
{
	char rel[256], path[1024];
	snprintf(rel, sizeof(rel), "tests/fuzz/corpus/%s/%s", dir, name);
	unit_source_path(path, sizeof(path), rel);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static char data[65536];
	*len = fread(data, 1, sizeof(data) - 1, f);
	data[*len] = '\0';
	fclose(f);
	return data;
}

static void test_pipeline_results__junit_pytest_and_ctest(void **state)
{
	struct pipeline_tests t = {0};
	struct sw_err err = {0};
	size_t len;
	const char *py = corpus_file("junit", "pytest.xml", &len);
	assert_int_equal(pipeline_junit_parse(&t, "report.xml", py, len, &err), 0);
	assert_int_equal(t.total, 5);
	assert_int_equal(t.failed, 1);
	assert_int_equal(t.errors, 1);
	assert_int_equal(t.skipped, 1);
	assert_string_equal(t.shown[0].name, "tests.test_api.test_create[json]");
	assert_string_equal(t.shown[0].message, "AssertionError: assert 404 == 201");
	assert_string_equal(t.shown[1].name, "tests.test_db.test_migrate");
	assert_string_equal(t.shown[1].message,
			    "failed on setup with \"psycopg.OperationalError: connection refused\"");
	assert_null(t.note);
	pipeline_tests_release(&t);

	const char *ct = corpus_file("junit", "ctest.xml", &len);
	assert_int_equal(pipeline_junit_parse(&t, "ctest.xml", ct, len, &err), 0);
	assert_int_equal(t.total, 3);
	assert_int_equal(t.failed, 1);
	assert_string_equal(t.shown[0].name, "unit_store.unit_store");
	assert_string_equal(t.shown[0].message, "Failed");
	pipeline_tests_release(&t);
}

static void test_pipeline_results__junit_counts_testcases_not_attributes(void **state)
{
	const char *x = "<testsuites tests=\"9\">\n"
			"  <testsuite name=\"a\" tests=\"3\" failures=\"0\">\n"
			"    <testcase name=\"one\"/>\n"
			"    <testcase name=\"two\"><failure message=\"boom\"/></testcase>\n"
			"  </testsuite>\n"
			"</testsuites>\n";
	struct pipeline_tests t = {0};
	struct sw_err err = {0};
	assert_int_equal(pipeline_junit_parse(&t, "j.xml", x, strlen(x), &err), 0);
	assert_int_equal(t.total, 2);
	assert_int_equal(t.failed, 1);
	assert_string_equal(t.note, "j.xml:2:3: <testsuite name=\"a\"> says tests=\"3\" but holds 2; the testcases are "
				    "counted");
	pipeline_tests_release(&t);
	/* more failures than shown: counted, the first ten named */
	struct buf b = BUF_INIT;
	buf_adds(&b, "<testsuite>");
	for (int i = 0; i < 25; i++)
		buf_addf(&b, "<testcase classname=\"c\" name=\"t%d\"><error message=\"e%d\"/></testcase>", i, i);
	buf_adds(&b, "</testsuite>");
	assert_int_equal(pipeline_junit_parse(&t, "j.xml", b.s, b.len, &err), 0);
	assert_int_equal(t.errors, 25);
	assert_int_equal(t.nshown, PIPELINE_RESULTS_SHOWN);
	assert_string_equal(t.shown[9].name, "c.t9");
	pipeline_tests_release(&t);
	buf_release(&b);
}

static void test_pipeline_results__junit_errors(void **state)
{
	struct pipeline_tests t = {0};
	struct sw_err err = {0};
	const char *a = "<coverage line-rate=\"1\"/>";
	assert_int_equal(pipeline_junit_parse(&t, "j.xml", a, strlen(a), &err), -1);
	assert_string_equal(err.msg, "j.xml:1:1: a JUnit report's root is <testsuites> or <testsuite>, got <coverage>");
	const char *b = "<testsuite>\n <testcase time=\"1\"/></testsuite>";
	err = (struct sw_err){0};
	assert_int_equal(pipeline_junit_parse(&t, "j.xml", b, strlen(b), &err), -1);
	assert_string_equal(err.msg, "j.xml:2:2: <testcase> without a name attribute");
	const char *c = "<testsuite><testcase name=\"x\" time=\"fast\"/></testsuite>";
	err = (struct sw_err){0};
	assert_int_equal(pipeline_junit_parse(&t, "j.xml", c, strlen(c), &err), -1);
	assert_string_equal(err.msg, "j.xml:1:12: <testcase time=\"fast\">: not a number >= 0");
	pipeline_tests_release(&t);
}

static struct pipeline_coverage cov(const char *dir, const char *file)
{
	size_t len;
	const char *s = corpus_file(dir, file, &len);
	struct pipeline_coverage c;
	struct sw_err err = {0};
	assert_int_equal(pipeline_coverage_parse(&c, file, s, len, &err), 0);
	return c;
}

static void test_pipeline_results__coverage_formats(void **state)
{
	struct pipeline_coverage c = cov("coverage", "gcovr-cobertura.xml");
	assert_true(c.counted);
	assert_int_equal(c.covered, 12);
	assert_int_equal(c.valid, 14);
	assert_int_equal(c.br_covered, 2);
	assert_int_equal(c.br_valid, 4);
	c = cov("coverage", "coveragepy.xml");
	assert_int_equal(c.covered, 96);
	assert_true(c.percent > 79.99 && c.percent < 80.01);
	c = cov("coverage", "lcov.info");
	/* the second record has no LF/LH: its DA lines count */
	assert_int_equal(c.covered, 6);
	assert_int_equal(c.valid, 11);
	assert_int_equal(c.br_valid, 2);
	c = cov("coverage", "gcovr-summary.json");
	assert_int_equal(c.covered, 12);
	assert_int_equal(c.valid, 14);
	/* a rate alone */
	struct sw_err err = {0};
	const char *r = "<coverage line-rate=\"0.713\"/>";
	assert_int_equal(pipeline_coverage_parse(&c, "c.xml", r, strlen(r), &err), 0);
	assert_false(c.counted);
	assert_true(c.percent > 71.29 && c.percent < 71.31);
}

static char *cov_err(const char *text)
{
	struct pipeline_coverage c;
	struct sw_err err = {0};
	assert_int_equal(pipeline_coverage_parse(&c, "cov", text, strlen(text), &err), -1);
	return xstrdup(err.msg);
}

#define assert_cov_err(text, want)               \
	do {                                     \
		char *got_ = cov_err(text);      \
		assert_string_equal(got_, want); \
		free(got_);                      \
	} while (0)

static void test_pipeline_results__coverage_errors(void **state)
{
	assert_cov_err("<report/>", "cov:1:1: a Cobertura report's root is <coverage>, got <report>");
	assert_cov_err("<coverage/>", "cov:1:1: <coverage> has neither lines-covered/lines-valid nor line-rate");
	assert_cov_err("<coverage line-rate=\"85%\"/>", "cov:1:1: <coverage line-rate=\"85%\">: not a number >= 0");
	assert_cov_err("<coverage line-rate=\"3\"/>", "cov:1:1: <coverage line-rate=\"3\">: a rate is 0..1");
	assert_cov_err("\n<coverage lines-covered=\"5\" lines-valid=\"4\"/>",
		       "cov:2:1: <coverage> says lines-covered=\"5\" > lines-valid=\"4\"");
	assert_cov_err("SF:a.c\nDA:1,1\nXX:2\nend_of_record\n",
		       "cov:3:1: \"XX:2\" is not an lcov tracefile line (TN:, SF:, DA:, LF:, LH:, BRF:, BRH:, ..., "
		       "end_of_record)");
	assert_cov_err("SF:a.c\nDA:1\nend_of_record\n", "cov:2:4: DA: is LINE,COUNT with numbers, got \"1\"");
	assert_cov_err("SF:a.c\nLF:two\nend_of_record\n", "cov:2:4: LF: takes a number, got \"two\"");
	assert_cov_err("SF:a.c\nLF:2\nLH:3\nend_of_record\n", "cov:4:1: this record says LH 3 > LF 2");
	assert_cov_err("SF:a.c\nDA:1,1\n", "cov:1:1: the record of SF: is not closed by end_of_record");
	assert_cov_err("DA:1,1\n", "cov:1:1: DA: outside a record (SF: first)");
	assert_cov_err("", "cov:1:1: no SF: record in it (an empty lcov tracefile?)");
	assert_cov_err("{\"line_covered\": 3}", "cov:1:1: a gcovr JSON summary has line_covered <= line_total, "
						 "integers >= 0");
	assert_cov_err("{\"line_covered\": ", "cov:1:17: unexpected token near end of file");
}

static void test_pipeline_results__benchmark(void **state)
{
	double v = 0;
	struct sw_err err = {0};
	const char *b = "{\"p99_ms\": 12.5, \"rps\": 900, \"name\": \"x\"}";
	assert_int_equal(pipeline_benchmark_parse(&v, "bench.json", b, strlen(b), "p99_ms", &err), 0);
	assert_true(v == 12.5);
	assert_int_equal(pipeline_benchmark_parse(&v, "bench.json", b, strlen(b), "p50", &err), -1);
	assert_string_equal(err.msg, "bench.json: no number \"p50\" in it (it has: p99_ms, rps)");
	err = (struct sw_err){0};
	assert_int_equal(pipeline_benchmark_parse(&v, "bench.json", "[1]", 3, "p50", &err), -1);
	assert_string_equal(err.msg, "bench.json:1:1: a benchmark file is an object {\"METRIC\": number}");
}

static void test_pipeline_results__collect_judges_gates(void **state)
{
	char ws[] = "/tmp/sw-results-XXXXXX";
	assert_non_null(mkdtemp(ws));
	char sub[1100];
	snprintf(sub, sizeof(sub), "%s/build", ws);
	assert_int_equal(mkdir(sub, 0755), 0);
	unit_write_file(ws, "build/junit-calc.xml", cmocka_xml);
	unit_write_file(ws, "build/coverage.xml", "<coverage lines-covered=\"713\" lines-valid=\"1000\"/>");
	unit_write_file(ws, "bench.json", "{\"p99_ms\": 8}");
	char *junit[] = {"build/junit-*.xml", NULL};
	struct pipeline_job j = {.id = "test"};
	j.reports.junit = junit;
	j.reports.njunit = 1;
	j.reports.coverage = "build/coverage.xml";
	j.gates.coverage = true;
	j.gates.coverage_min = 80;
	j.gates.bench_file = "bench.json";
	j.gates.bench_metric = "p99_ms";
	j.gates.bench_max = 10;
	json_t *res = NULL;
	struct buf why = BUF_INIT;
	assert_int_equal(pipeline_results_collect(&res, &j, ws, &why), -1);
	assert_string_equal(why.s, "coverage 71.3% < 80% (build/coverage.xml)");
	struct buf line = BUF_INIT;
	pipeline_results_line(&line, res);
	assert_string_equal(line.s, "tests: 1 passed, 1 failed, 0 errors, 1 skipped in 0.00s; coverage 71.3% "
				    "(713/1000 lines); gates: coverage FAILED, benchmark passed");
	json_decref(res);
	buf_reset(&why);
	buf_reset(&line);
	/* the tests gate, then a missing report */
	j.gates.tests = true;
	j.gates.coverage_min = 70;
	assert_int_equal(pipeline_results_collect(&res, &j, ws, &why), -1);
	assert_string_equal(why.s, "tests: 1 failed, 0 errors of 3 (build/junit-calc.xml)");
	json_decref(res);
	buf_reset(&why);
	junit[0] = "out/*.xml";
	assert_int_equal(pipeline_results_collect(&res, &j, ws, &why), -1);
	assert_string_equal(why.s, "reports.junit: \"out/*.xml\" matches no file in the workspace");
	json_decref(res);
	/* nothing declared: nothing read */
	struct pipeline_job none = {.id = "x"};
	buf_reset(&why);
	assert_int_equal(pipeline_results_collect(&res, &none, ws, &why), 0);
	assert_null(res);
	buf_release(&why);
	buf_release(&line);
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ws);
	assert_int_equal(system(cmd), 0);
}

static void replay_xml(const char *file, const char *data, size_t len)
{
	struct pipeline_xml *x = NULL;
	struct sw_err err = {0};
	if (pipeline_xml_parse(&x, file, data, len, &err) < 0)
		assert_non_null(strstr(err.msg, file));
	pipeline_xml_free(x);
}

static void replay_junit(const char *file, const char *data, size_t len)
{
	struct pipeline_tests t = {0};
	struct sw_err err = {0};
	assert_int_equal(pipeline_junit_parse(&t, file, data, len, &err), 0);
	assert_true(t.total >= t.failed + t.errors + t.skipped);
	pipeline_tests_release(&t);
}

static void replay_coverage(const char *file, const char *data, size_t len)
{
	struct pipeline_coverage c;
	struct sw_err err = {0};
	assert_int_equal(pipeline_coverage_parse(&c, file, data, len, &err), 0);
	assert_true(c.percent >= 0 && c.percent <= 100);
}

static void test_pipeline_results__fuzz_corpora_replay(void **state)
{
	assert_true(unit_corpus_replay("xml", replay_xml) >= 5);
	assert_true(unit_corpus_replay("junit", replay_junit) >= 4);
	assert_true(unit_corpus_replay("coverage", replay_coverage) >= 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline_results__xml_entities_cdata_comments),
		cmocka_unit_test(test_pipeline_results__xml_errors_say_where),
		cmocka_unit_test(test_pipeline_results__xml_limits),
		cmocka_unit_test(test_pipeline_results__junit_cmocka),
		cmocka_unit_test(test_pipeline_results__junit_pytest_and_ctest),
		cmocka_unit_test(test_pipeline_results__junit_counts_testcases_not_attributes),
		cmocka_unit_test(test_pipeline_results__junit_errors),
		cmocka_unit_test(test_pipeline_results__coverage_formats),
		cmocka_unit_test(test_pipeline_results__coverage_errors),
		cmocka_unit_test(test_pipeline_results__benchmark),
		cmocka_unit_test(test_pipeline_results__collect_judges_gates),
		cmocka_unit_test(test_pipeline_results__fuzz_corpora_replay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
