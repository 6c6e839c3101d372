/*
 * selector: kubectl's label selector syntax (core/selector.h): every form
 * parses and matches as kubectl's does, every error says the column, and
 * the canonical spelling parses back to the same selector.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/selector.h"

/* labels as "k=v" strings, NULL-terminated */
static const char *lookup(const char *key, void *data)
{
	size_t n = strlen(key);
	for (const char *const *l = data; *l; l++)
		if (strncmp(*l, key, n) == 0 && (*l)[n] == '=')
			return *l + n + 1;
	return NULL;
}

static bool matches(const char *sel, const char *const *labels)
{
	struct sw_selector s;
	struct sw_err err = {0};
	int r = sw_selector_parse(&s, sel, &err);
	if (r != 0)
		fail_msg("\"%s\" did not parse: %s", sel, err.msg);
	bool ok = sw_selector_match(&s, lookup, (void *)labels);
	sw_selector_release(&s);
	return ok;
}

static void bad(const char *sel, const char *msg)
{
	struct sw_selector s;
	struct sw_err err = {0};
	assert_int_equal(sw_selector_parse(&s, sel, &err), SW_EINVAL);
	assert_int_equal(s.nreqs, 0);
	if (!strstr(err.msg, msg))
		fail_msg("\"%s\": got \"%s\", wanted \"%s\"", sel, err.msg, msg);
	sw_selector_release(&s);
}

static const char *const web[] = {"team=web", "tier=front", "env=", NULL};
static const char *const none[] = {NULL};

static void test_selector__every_form_matches_as_kubectl(void **state)
{
	assert_true(matches("", web));
	assert_true(matches("   ", none));
	assert_true(matches("team=web", web));
	assert_true(matches("team==web", web));
	assert_false(matches("team=db", web));
	assert_true(matches("team!=db", web));
	assert_true(matches("team!=db", none)); /* unset is "not db" */
	assert_false(matches("team!=web", web));
	assert_true(matches("team in (db,web)", web));
	assert_false(matches("team in (db)", web));
	assert_false(matches("team in (web)", none));
	assert_true(matches("team notin (db)", web));
	assert_true(matches("team notin (db)", none));
	assert_false(matches("team notin (db, web)", web));
	assert_true(matches("team", web));
	assert_false(matches("team", none));
	assert_true(matches("!owner", web));
	assert_false(matches("!team", web));
	assert_true(matches("env=", web)); /* an empty value */
	assert_true(matches("team=web,tier=front", web));
	assert_false(matches("team=web,tier=back", web));
	assert_true(matches(" team = web , tier in ( front ) , !x ", web));
	assert_true(matches("example.com/team!=x", web));
}

static void test_selector__errors_name_the_column(void **state)
{
	bad(",", "column 1: expected a label key");
	bad("team=web,", "column 10: expected a label key");
	bad("team in a,b", "column 9: expected \"(\" after \"in\"");
	bad("team in (a,", "column 12: missing \")\"");
	bad("team in ()", "column 10: expected a value");
	bad("team notin (a b)", "column 15: expected \",\" or \")\"");
	bad("team=web tier=x", "column 10: expected \",\" between requirements");
	bad("-team=x", "column 1: bad label key");
	bad("team=-x", "column 6: bad label value");
	bad("team=a*", "column 7:");
	bad("team>1", "column 5: expected \"=\"");
	bad("!", "column 2: expected a label key");
	bad("Bad_Prefix/x=1", "column 1: bad label key");
	char big[SW_SELECTOR_MAX_TEXT + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bad(big, "longer than");
}

static void test_selector__format_parses_back_the_same(void **state)
{
	static const char *const sels[] = {"a=b", "a==b", " a != b ", "a in (x, y)", "a notin (x)",
					   "a", "!a", "a=,b in (c),!d,e.io/f=g", NULL};
	for (size_t i = 0; sels[i]; i++) {
		struct sw_selector s, t;
		struct buf b = BUF_INIT, c = BUF_INIT;
		assert_int_equal(sw_selector_parse(&s, sels[i], NULL), 0);
		sw_selector_format(&s, &b);
		assert_int_equal(sw_selector_parse(&t, buf_str(&b), NULL), 0);
		sw_selector_format(&t, &c);
		assert_string_equal(buf_str(&b), buf_str(&c));
		assert_int_equal(s.nreqs, t.nreqs);
		sw_selector_release(&s);
		sw_selector_release(&t);
		buf_release(&b);
		buf_release(&c);
	}
}

static void test_selector__label_syntax(void **state)
{
	assert_true(sw_label_key_valid("app", 3));
	assert_true(sw_label_key_valid("a.b-c_d", 7));
	assert_true(sw_label_key_valid("slipway.dev/team", 16));
	assert_false(sw_label_key_valid("", 0));
	assert_false(sw_label_key_valid("/x", 2));
	assert_false(sw_label_key_valid("x/", 2));
	assert_false(sw_label_key_valid("a b", 3));
	char long_name[65];
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	assert_false(sw_label_key_valid(long_name, 64));
	assert_true(sw_label_key_valid(long_name, 63));
	assert_true(sw_label_value_valid("", 0));
	assert_true(sw_label_value_valid("v1.2", 4));
	assert_false(sw_label_value_valid("v1.", 3));
	assert_false(sw_label_value_valid("a/b", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selector__every_form_matches_as_kubectl),
		cmocka_unit_test(test_selector__errors_name_the_column),
		cmocka_unit_test(test_selector__format_parses_back_the_same),
		cmocka_unit_test(test_selector__label_syntax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
