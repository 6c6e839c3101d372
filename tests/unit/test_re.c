/* core/re: the linear-time regex matcher agrees with glibc's regcomp on
 * the language it accepts, refuses the rest with the offset of the
 * construct, and never takes long. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/re.h"

/* Whole-value match by glibc, as the proxy used to do it. */
static bool posix_match(const char *re, const char *s)
{
	regex_t r;
	char *anchored = malloc(strlen(re) + 5);
	sprintf(anchored, "^(%s)$", re);
	assert_int_equal(regcomp(&r, anchored, REG_EXTENDED | REG_NOSUB), 0);
	bool m = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	free(anchored);
	return m;
}

static bool sw_match(const char *src, const char *s)
{
	struct sw_re *re;
	struct sw_err err = {0};
	size_t off;
	if (sw_re_compile(&re, &off, src, &err) != 0)
		fail_msg("%s: %s at %zu", src, err.msg, off);
	bool m = sw_re_match(re, s, strlen(s));
	sw_re_free(re);
	return m;
}

static void test_re__agrees_with_posix(void **state)
{
	static const char *const res[] = {
		"canary", "can.ry", "c.*", "(a|b)+", "a?b*c+", "[a-c]{2,3}", "[^0-9]+", "x{3}", "x{2,}",
		"(ab|cd){1,2}e", "[]a]+", "[a-]+", "[[:digit:]]+", "[[:alpha:]_][[:alnum:]_]*", "v1\\.2",
		"a|", "()", "(|x)y", "^abc$", "ab$|cd", "\\*", "[.]", "(a*)*", "(a*)+b", "((a|b)*c){2}",
		"[[:xdigit:]]{4}", "a.c", "[^]x]", "[a-z-]+", "beta-[0-9]+",
	};
	static const char *const vals[] = {
		"", "canary", "canry", "caNary", "c", "cxyz", "ab", "abba", "abc", "bc", "ccc", "abcc", "aa",
		"aab", "xyz", "123", "x", "xx", "xxx", "xxxx", "abe", "abcde", "cdabe", "]a]", "a-a", "0129",
		"_x1", "1x", "v1.2", "v1x2", "a", "y", "xy", "*", ".", "b", "aaab", "abcabc", "cc", "ffff",
		"fffg", "a\nc", "beta-12", "beta-", "]", "z-",
	};
	for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++)
		for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++)
			if (sw_match(res[i], vals[k]) != posix_match(res[i], vals[k]))
				fail_msg("\"%s\" on \"%s\": re %d, regexec %d", res[i], vals[k],
					 sw_match(res[i], vals[k]), posix_match(res[i], vals[k]));
}

static void expect_refused(const char *src, const char *msg_part, size_t want_off)
{
	struct sw_re *re = (void *)1;
	struct sw_err err = {0};
	size_t off = 999;
	assert_int_equal(sw_re_compile(&re, &off, src, &err), -4);
	assert_null(re);
	if (!strstr(err.msg, msg_part))
		fail_msg("%s: \"%s\" does not say \"%s\"", src, err.msg, msg_part);
	if (off != want_off)
		fail_msg("%s: offset %zu, want %zu", src, off, want_off);
}

static void test_re__refuses_what_is_not_regular(void **state)
{
	expect_refused("((a*)*)\\2\\2\\2x", "back-references", 7);
	expect_refused("(a)\\1", "back-references", 3);
	expect_refused("\\d+", "letter or digit", 0);
	expect_refused("a\\w", "letter or digit", 1);
	expect_refused("(\\`)", "GNU anchors", 1);
	expect_refused("a\\>", "GNU anchors", 1);
	expect_refused("(?=a)", "(? is not supported", 0);
	expect_refused("[[=a=]]", "equivalence", 1);
	expect_refused("[[.a.]]", "collating", 1);
	expect_refused("*a", "nothing to repeat", 0);
	expect_refused("a|+", "nothing to repeat", 2);
	expect_refused("(ab", "unmatched (", 0);
	expect_refused("ab)", "unmatched )", 2);
	expect_refused("[abc", "unterminated bracket", 0);
	expect_refused("x[z-a]", "invalid range", 2);
	expect_refused("a{101}", "above 100", 1);
	expect_refused("a{2,1}", "m is below n", 1);
	expect_refused("a{x}", "invalid repetition bound", 1);
	expect_refused("[[:nope:]]", "unknown character class", 1);
	expect_refused("a\\", "trailing backslash", 1);
	expect_refused("(a{100}){100}", "more than 256 states", 0);
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_refused(big, "longer than 256", 256);
}

/* The regex of issue 10 and the usual exponential cases, on 16 KiB values:
 * the automaton does at most SW_RE_MAX_STATES steps per byte, so these end
 * (how fast is measured by the fuzz target's budget, not here). */
static void test_re__pathological_cases_end(void **state)
{
	static char v[16 * 1024 + 1];
	memset(v, 'a', sizeof(v) - 1);
	assert_false(sw_match("((a*)*)*x", v));
	assert_false(sw_match("(a|a)*(a|a)*(a|a)*b", v));
	assert_true(sw_match("(a|aa)*", v));
	assert_true(sw_match("(a{1,20}){1,5}a*", v));
	struct sw_re *re;
	assert_int_equal(sw_re_compile(&re, NULL, "(a?){60}a{60}", NULL), 0);
	assert_true(sw_re_states(re) <= SW_RE_MAX_STATES);
	assert_true(sw_re_match(re, v, 60));
	assert_false(sw_re_match(re, v, 59));
	sw_re_free(re);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_re__agrees_with_posix),
		cmocka_unit_test(test_re__refuses_what_is_not_regular),
		cmocka_unit_test(test_re__pathological_cases_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
