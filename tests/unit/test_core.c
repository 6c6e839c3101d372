/*
 * util: the shared pieces. Durations are what users type in documents,
 * so their parser and formatter get a table of good and bad inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"

static void test_core__duration_parse_accepts(void **state)
{
	static const struct {
		const char *in;
		uint64_t ms;
	} cases[] = {
		{"500ms", 500},     {"10s", 10000},     {"1m30s", 90000}, {"1.5s", 1500},
		{"2h", 7200000},    {"0s", 0},          {"1h1m1s1ms", 3661001},
		{"0.5m", 30000},    {"90m", 5400000},   {"1ms", 1},       {"1s500ms", 1500},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 12345;
		if (sw_duration_parse(cases[i].in, &ms) != 0)
			fail_msg("\"%s\" rejected", cases[i].in);
		assert_int_equal(ms, cases[i].ms);
	}
}

static void test_core__duration_parse_rejects(void **state)
{
	static const char *const cases[] = {"", "10", "s", "ms", "1x", "-1s", "1 s", " 1s", "1s ",
					    "1sec", "1d", "abc", "1.5", "1s2", "1e3s", "0x10s", "1.s", ".5s"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 0;
		if (sw_duration_parse(cases[i], &ms) == 0)
			fail_msg("\"%s\" accepted as %llu ms", cases[i], (unsigned long long)ms);
	}
	uint64_t ms;
	assert_int_equal(sw_duration_parse(NULL, &ms), -1);
	assert_int_equal(sw_duration_parse("99999999999999999999h", &ms), -1);
}

static void test_core__duration_format(void **state)
{
	static const struct {
		uint64_t ms;
		const char *out;
	} cases[] = {
		{0, "0s"},        {500, "500ms"},  {1000, "1s"},    {90000, "1m30s"},
		{3600000, "1h"},  {3661000, "1h1m1s"}, {1500, "1s500ms"}, {7200000, "2h"},
		{1234, "1s234ms"}, {3661500, "1h1m1s500ms"}, {90500, "1m30s500ms"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		uint64_t back = 0;
		sw_duration_format(out, sizeof(out), cases[i].ms);
		assert_string_equal(out, cases[i].out);
		/* What it writes, it reads back. */
		assert_int_equal(sw_duration_parse(out, &back), 0);
		assert_int_equal(back, cases[i].ms);
	}
}

static void test_core__edit_distance(void **state)
{
	assert_int_equal(sw_edit_distance("replica", "replicas"), 1);
	assert_int_equal(sw_edit_distance("setWieght", "setWeight"), 2);
	assert_int_equal(sw_edit_distance("", "abc"), 3);
	assert_int_equal(sw_edit_distance("same", "same"), 0);
	assert_int_equal(sw_edit_distance("kitten", "sitting"), 3);
}

static void test_core__first_error_wins(void **state)
{
	struct sw_err err = {0};
	assert_int_equal(sw_errf(&err, -2, "first %d", 1), -2);
	assert_int_equal(sw_errf(&err, -1, "second"), -1);
	assert_string_equal(err.msg, "first 1");
	assert_int_equal(err.code, -2);
	sw_err_clear(&err);
	assert_false(sw_err_isset(&err));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_core__duration_parse_accepts),
		cmocka_unit_test(test_core__duration_parse_rejects),
		cmocka_unit_test(test_core__duration_format),
		cmocka_unit_test(test_core__edit_distance),
		cmocka_unit_test(test_core__first_error_wins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
