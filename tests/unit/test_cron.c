/*
 * cron: the five fields, names, steps and macros parse to the values
 * cron(5) gives them, errors name the field, and the next match in a
 * zone follows the DST rules of core/cron.h — in Europe/Berlin,
 * America/New_York and Australia/Lord_Howe by hand, and against a
 * minute-by-minute search over random expressions and zones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include "core/buf.h"
#include "core/cron.h"
#include "core/tz.h"

static struct sw_cron parse(const char *text)
{
	struct sw_cron c;
	struct sw_err err = {0};
	if (sw_cron_parse(&c, text, &err) != 0)
		fail_msg("\"%s\": %s", text, err.msg);
	return c;
}

static uint64_t bits(const int *v)
{
	uint64_t b = 0;
	for (; *v >= 0; v++)
		b |= (uint64_t)1 << *v;
	return b;
}
#define BITS(...) bits((const int[]){__VA_ARGS__, -1})

static struct sw_tz *zone(const char *name)
{
	struct sw_tz *tz = NULL;
	struct sw_err err = {0};
	if (access(SW_TZ_DIR "/Europe/Berlin", R_OK) != 0)
		skip();
	if (sw_tz_load(&tz, NULL, name, &err) != 0)
		fail_msg("%s", err.msg);
	return tz;
}

/* "2024-03-31 01:30" UTC as Unix seconds */
static int64_t utc(const char *s)
{
	int y, mo, d, h, mi;
	if (sscanf(s, "%d-%d-%d %d:%d", &y, &mo, &d, &h, &mi) != 5)
		fail_msg("bad time %s", s);
	return sw_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static void fmt(char *out, size_t size, int64_t t)
{
	struct sw_civil c;
	sw_civil_from_seconds(&c, t);
	snprintf(out, size, "%04lld-%02d-%02d %02d:%02d", (long long)c.year, c.mon, c.mday, c.hour, c.min);
}

/* The matches after `from` (UTC), in order, are `want` (UTC, NULL-terminated). */
static void expect_next(const char *expr, const struct sw_tz *tz, const char *from, const char *const *want)
{
	struct sw_cron c = parse(expr);
	int64_t t = utc(from), n;
	for (size_t i = 0; want[i]; i++) {
		char got[32];
		if (sw_cron_next(&n, &c, tz, t) != 0)
			fail_msg("\"%s\" in %s after %s: no match, wanted %s", expr, sw_tz_name(tz), from, want[i]);
		fmt(got, sizeof(got), n);
		if (strcmp(got, want[i]) != 0)
			fail_msg("\"%s\" in %s, match %zu after %s: got %s, wanted %s", expr, sw_tz_name(tz), i + 1,
				 from, got, want[i]);
		t = n;
	}
}
#define NEXT(expr, tz, from, ...) expect_next(expr, tz, from, (const char *const[]){__VA_ARGS__, NULL})

static void test_cron__fields_parse_to_their_values(void **state)
{
	struct sw_cron c = parse("*/15 9-17 1,15 * mon-fri");
	assert_true(c.minutes == BITS(0, 15, 30, 45));
	assert_true(c.hours == BITS(9, 10, 11, 12, 13, 14, 15, 16, 17));
	assert_true(c.mdays == BITS(1, 15));
	assert_true(c.months == 0x1ffe && c.wdays == BITS(1, 2, 3, 4, 5));
	assert_false(c.hour_star || c.mday_star || c.wday_star);
	assert_string_equal(c.text, "*/15 9-17 1,15 * mon-fri");

	assert_true(parse("10-50/20 * * * *").minutes == BITS(10, 30, 50));
	assert_true(parse("5/15 * * * *").minutes == BITS(5, 20, 35, 50)); /* a/s runs to the end */
	assert_true(parse("59 23 31 12 6").minutes == BITS(59));
	assert_true(parse("0 0 1-31/10 * *").mdays == BITS(1, 11, 21, 31));
	assert_true(parse("0 0 * jan-mar,DEC *").months == BITS(1, 2, 3, 12));
	assert_true(parse("0 0 * */5 *").months == BITS(1, 6, 11));
	assert_true(parse("0 0 * * 7").wdays == BITS(0)); /* 7 is Sunday too */
	assert_true(parse("0 0 * * 5-7").wdays == BITS(0, 5, 6));
	assert_true(parse("0 0 * * Sun,SAT").wdays == BITS(0, 6));
	assert_true(parse("0 0 * * 0-7").wdays == 0x7f);
	assert_true(parse("0 0 * * fri-sat,sun-mon").wdays == BITS(0, 1, 5, 6));
	assert_true(parse("0 0 * * 1/2").wdays == BITS(1, 3, 5, 7 % 7));

	/* unrestricted: "*" or "*" "/1" among the items; "*" "/2" restricts */
	c = parse("0 * * * */2");
	assert_true(c.hour_star && c.mday_star && !c.wday_star && c.wdays == BITS(0, 2, 4, 6));
	c = parse("0 */1 1,* * *");
	assert_true(c.hour_star && c.mday_star && c.wday_star);
	c = parse("0 0-23 1-31 * 0-6");
	assert_false(c.hour_star || c.mday_star || c.wday_star);

	/* blanks between fields: any number of spaces and tabs, kept as one */
	assert_string_equal(parse("  0\t22   * *  5 ").text, "0 22 * * 5");

	static const struct {
		const char *macro, *same;
	} macros[] = {
		{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
		{"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
		{"@hourly", "0 * * * *"},
	};
	for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
		struct sw_cron a = parse(macros[i].macro), b = parse(macros[i].same);
		assert_string_equal(a.text, macros[i].macro);
		assert_true(a.minutes == b.minutes && a.hours == b.hours && a.mdays == b.mdays &&
			    a.months == b.months && a.wdays == b.wdays && a.hour_star == b.hour_star &&
			    a.mday_star == b.mday_star && a.wday_star == b.wday_star);
	}
}

static void bad(const char *text, const char *msg)
{
	struct sw_cron c;
	struct sw_err err = {0};
	memset(&c, 0xff, sizeof(c));
	assert_int_equal(sw_cron_parse(&c, text, &err), SW_EINVAL);
	if (strcmp(err.msg, msg) != 0)
		fail_msg("\"%s\": got \"%s\", wanted \"%s\"", text, err.msg, msg);
	assert_true(c.minutes == 0 && c.text[0] == '\0');
}

static void test_cron__errors_name_the_field_and_say_what(void **state)
{
	bad("0 25 * * *", "cron field 2 (hour): 25 is out of range 0-23");
	bad("60 * * * *", "cron field 1 (minute): 60 is out of range 0-59");
	bad("0 0 0 * *", "cron field 3 (day-of-month): 0 is out of range 1-31");
	bad("0 0 32 * *", "cron field 3 (day-of-month): 32 is out of range 1-31");
	bad("0 0 * 13 *", "cron field 4 (month): 13 is out of range 1-12");
	bad("0 0 * * 8", "cron field 5 (day-of-week): 8 is out of range 0-7");
	bad("0 0 * * fry", "cron field 5 (day-of-week): unknown name \"fry\" (names: sun..sat)");
	bad("0 0 * janu *", "cron field 4 (month): unknown name \"janu\" (names: jan..dec)");
	bad("mon 0 * * *", "cron field 1 (minute): \"mon\" is not a number");
	bad("5-1 * * * *", "cron field 1 (minute): range \"5-1\" goes backwards");
	bad("0 0 * * fri-mon", "cron field 5 (day-of-week): range \"fri-mon\" goes backwards");
	bad("*/0 * * * *", "cron field 1 (minute): step 0 is out of range 1-59");
	bad("0 */24 * * *", "cron field 2 (hour): step 24 is out of range 1-23");
	bad("1/ * * * *", "cron field 1 (minute): \"/\" must be followed by a step in \"1/\"");
	bad("1,,2 * * * *", "cron field 1 (minute): empty item in \"1,,2\"");
	bad("1, * * * *", "cron field 1 (minute): empty item in \"1,\"");
	bad("1-* * * * *", "cron field 1 (minute): unexpected \"*\" in \"1-*\"");
	bad("*x * * * *", "cron field 1 (minute): unexpected \"x\" in \"*x\"");
	bad("1- * * * *", "cron field 1 (minute): \"1-\" ends where a value should follow");
	bad("-1 * * * *", "cron field 1 (minute): unexpected \"-\" in \"-1\"");
	bad("0 0 * * 1\n", "cron field 5 (day-of-week): unexpected byte 0x0a in \"1\n\"");
	bad("? * * * *", "cron field 1 (minute): unexpected \"?\" in \"?\"");
	bad("", "cron expression is empty");
	bad(" \t ", "cron expression is empty");
	bad("* * * *", "cron expression needs 5 fields (minute hour day-of-month month day-of-week), got 4");
	bad("0 * * * * *", "cron expression needs 5 fields (minute hour day-of-month month day-of-week), got 6 "
			   "(a seconds field is not supported)");
	bad("0 0 * * * 2024 x",
	    "cron expression needs 5 fields (minute hour day-of-month month day-of-week), got 7");
	bad("@reboot", "unknown cron macro \"@reboot\" (known: @yearly, @annually, @monthly, @weekly, @daily, "
		       "@midnight, @hourly)");
	bad("@Daily", "unknown cron macro \"@Daily\" (known: @yearly, @annually, @monthly, @weekly, @daily, "
		      "@midnight, @hourly)");
	bad("@daily 5", "cron macro \"@daily\" takes no fields after it");
	char longer[300];
	memset(longer, '1', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	bad(longer, "cron expression is longer than 255 characters");
	bad("0 1000000000000000000000 * * *", "cron field 2 (hour): 10000000 is out of range 0-23");
}

static void test_cron__next_in_utc(void **state)
{
	NEXT("0 22 * * 5", NULL, "2024-06-03 12:00", "2024-06-07 22:00", "2024-06-14 22:00");
	NEXT("*/20 * * * *", NULL, "2024-06-03 12:00", "2024-06-03 12:20", "2024-06-03 12:40", "2024-06-03 13:00");
	/* strictly after: a match at `after` itself is not the next */
	NEXT("0 12 * * *", NULL, "2024-06-03 12:00", "2024-06-04 12:00");
	NEXT("@hourly", NULL, "2024-12-31 23:30", "2025-01-01 00:00", "2025-01-01 01:00");
	NEXT("@yearly", NULL, "2024-06-03 12:00", "2025-01-01 00:00", "2026-01-01 00:00");
	NEXT("@weekly", NULL, "2024-06-03 12:00", "2024-06-09 00:00"); /* Sunday */
	NEXT("0 0 31 * *", NULL, "2024-03-31 01:00", "2024-05-31 00:00", "2024-07-31 00:00", "2024-08-31 00:00");
	NEXT("30 8 * 2 mon-fri", NULL, "2024-01-15 00:00", "2024-02-01 08:30", "2024-02-02 08:30", "2024-02-05 08:30");
	NEXT("59 23 31 12 *", NULL, "2024-01-01 00:00", "2024-12-31 23:59", "2025-12-31 23:59");
	NEXT("0 9 1-7 * mon", NULL, "2024-06-01 00:00", "2024-06-01 09:00", "2024-06-02 09:00"); /* OR */
	/* long before the epoch, and far ahead */
	NEXT("0 0 1 1 *", NULL, "1899-12-31 12:00", "1900-01-01 00:00");
	NEXT("0 0 29 2 *", NULL, "9999-03-01 00:00", "10000-02-29 00:00");
	struct sw_cron c = parse("* * * * *");
	int64_t n;
	assert_int_equal(sw_cron_next(&n, &c, NULL, 59), 0);
	assert_int_equal(n, 60);
	assert_int_equal(sw_cron_next(&n, &c, NULL, -61), 0);
	assert_int_equal(n, -60);
	assert_int_equal(sw_cron_next(&n, &c, NULL, SW_CRON_TIME_LIMIT), SW_ENOTFOUND);
	assert_int_equal(sw_cron_next(&n, &c, NULL, -SW_CRON_TIME_LIMIT), SW_ENOTFOUND);
	assert_int_equal(sw_cron_next(&n, &c, NULL, SW_CRON_TIME_LIMIT - 120), 0);
}

static void test_cron__day_of_month_or_day_of_week(void **state)
{
	/* both restricted: either; the 13th of June 2024 is a Thursday */
	NEXT("0 0 13 * 5", NULL, "2024-06-10 00:00", "2024-06-13 00:00", "2024-06-14 00:00", "2024-06-21 00:00");
	/* one unrestricted: both must; "*" "/1" is unrestricted, "*" "/2" is not */
	NEXT("0 0 * * 5", NULL, "2024-06-10 00:00", "2024-06-14 00:00", "2024-06-21 00:00");
	NEXT("0 0 13 * *", NULL, "2024-06-10 00:00", "2024-06-13 00:00", "2024-07-13 00:00");
	NEXT("0 0 13 * */1", NULL, "2024-06-10 00:00", "2024-06-13 00:00", "2024-07-13 00:00");
	NEXT("0 0 */10 * 5", NULL, "2024-06-10 00:00", "2024-06-11 00:00", "2024-06-14 00:00", "2024-06-21 00:00");
	NEXT("0 0 13 * */3", NULL, "2024-06-10 00:00", "2024-06-12 00:00", "2024-06-13 00:00", "2024-06-15 00:00");
}

static void test_cron__leap_years_and_days_that_do_not_exist(void **state)
{
	NEXT("0 0 29 2 *", NULL, "2023-01-01 00:00", "2024-02-29 00:00", "2028-02-29 00:00");
	/* 2100 is not a leap year: eight years between */
	NEXT("0 0 29 2 *", NULL, "2096-03-01 00:00", "2104-02-29 00:00");
	NEXT("0 0 29 2 *", NULL, "1896-03-01 00:00", "1904-02-29 00:00");
	NEXT("0 0 29 2 *", NULL, "1999-03-01 00:00", "2000-02-29 00:00"); /* 2000 is */
	NEXT("0 12 28-31 2 *", NULL, "2023-02-01 00:00", "2023-02-28 12:00", "2024-02-28 12:00", "2024-02-29 12:00");
	/* never: no February 30th, no 31st in a 30-day month */
	static const char *const never[] = {"0 0 30 2 *", "0 0 31 2,4,6,9,11 *", "* * 30-31 feb *", "0 0 31 4 *"};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		struct sw_cron c = parse(never[i]);
		int64_t n = 7;
		assert_true(sw_cron_never(&c));
		assert_int_equal(sw_cron_next(&n, &c, NULL, 0), SW_ENOTFOUND);
		assert_int_equal(n, 7);
	}
	/* but with a day of the week it is that weekday in February */
	struct sw_cron c = parse("0 0 30 2 mon");
	assert_false(sw_cron_never(&c));
	NEXT("0 0 30 2 mon", NULL, "2024-01-01 00:00", "2024-02-05 00:00", "2024-02-12 00:00");
	assert_false(sw_cron_never((struct sw_cron[]){parse("0 0 29-31 2 *")}));
	assert_false(sw_cron_never((struct sw_cron[]){parse("0 0 31 * *")}));
}

/* Berlin: clocks jump 02:00 -> 03:00 CEST on 2024-03-31 (01:00 UTC) and
 * go back 03:00 -> 02:00 CET on 2024-10-27 (01:00 UTC). */
static void test_cron__dst_in_berlin(void **state)
{
	struct sw_tz *tz = zone("Europe/Berlin");
	/* 02:30 does not exist on the 31st: it happens at 03:30 CEST */
	NEXT("30 2 * * *", tz, "2024-03-29 12:00", "2024-03-30 01:30", "2024-03-31 01:30", "2024-04-01 00:30");
	NEXT("0 2 * * *", tz, "2024-03-30 12:00", "2024-03-31 01:00", "2024-04-01 00:00");
	/* 03:00 itself and the moved 02:00 are one instant: once */
	NEXT("0 2,3 * * *", tz, "2024-03-30 12:00", "2024-03-31 01:00", "2024-04-01 00:00", "2024-04-01 01:00");
	/* every half hour goes on evenly through the jump */
	NEXT("*/30 * * * *", tz, "2024-03-30 23:45", "2024-03-31 00:00", "2024-03-31 00:30", "2024-03-31 01:00",
	     "2024-03-31 01:30", "2024-03-31 02:00");
	/* 02:30 happens twice on 2024-10-27: a fixed hour matches the first only */
	NEXT("30 2 * * *", tz, "2024-10-26 12:00", "2024-10-27 00:30", "2024-10-28 01:30");
	NEXT("30 2 * * *", tz, "2024-10-27 00:30", "2024-10-28 01:30");
	/* after the first, during the second pass: not again */
	NEXT("45 2 * * *", tz, "2024-10-27 01:10", "2024-10-28 01:45");
	/* "*" in the hour follows the clock through both passes */
	NEXT("30 * * * *", tz, "2024-10-26 23:00", "2024-10-26 23:30", "2024-10-27 00:30", "2024-10-27 01:30",
	     "2024-10-27 02:30");
	/* the same in 2100, from the footer's rule: 2100-03-28 and 2100-10-31 */
	NEXT("30 2 * * *", tz, "2100-03-27 12:00", "2100-03-28 01:30", "2100-03-29 00:30");
	NEXT("30 2 * * *", tz, "2100-10-30 12:00", "2100-10-31 00:30", "2100-11-01 01:30");
	sw_tz_free(tz);
}

/* New York: 02:00 -> 03:00 EDT on 2024-03-10 (07:00 UTC), 02:00 -> 01:00
 * EST on 2024-11-03 (06:00 UTC). */
static void test_cron__dst_in_new_york(void **state)
{
	struct sw_tz *tz = zone("America/New_York");
	NEXT("30 2 * * *", tz, "2024-03-09 12:00", "2024-03-10 07:30", "2024-03-11 06:30");
	NEXT("59 2 * * *", tz, "2024-03-09 12:00", "2024-03-10 07:59", "2024-03-11 06:59");
	/* 01:30 twice on 2024-11-03: once, at 01:30 EDT */
	NEXT("30 1 * * *", tz, "2024-11-02 12:00", "2024-11-03 05:30", "2024-11-04 06:30");
	NEXT("30 1 * * 0", tz, "2024-10-30 12:00", "2024-11-03 05:30", "2024-11-10 06:30");
	NEXT("30 * * * *", tz, "2024-11-03 04:00", "2024-11-03 04:30", "2024-11-03 05:30", "2024-11-03 06:30",
	     "2024-11-03 07:30");
	NEXT("*/20 1 * * *", tz, "2024-11-03 05:50", "2024-11-04 06:00");
	NEXT("*/20 * * * *", tz, "2024-11-03 05:50", "2024-11-03 06:00", "2024-11-03 06:20");
	/* a day of the week is the local day: Friday 22:00 New York is Saturday UTC */
	NEXT("0 22 * * 5", tz, "2024-06-03 12:00", "2024-06-08 02:00");
	sw_tz_free(tz);
}

/* Lord Howe moves by half an hour: 02:00 -> 02:30 on 2024-10-06 (15:30
 * UTC the 5th), 02:00 -> 01:30 on 2024-04-07 (15:00 UTC the 6th). */
static void test_cron__half_hour_dst_on_lord_howe(void **state)
{
	struct sw_tz *tz = zone("Australia/Lord_Howe");
	NEXT("15 2 * * *", tz, "2024-10-05 00:00", "2024-10-05 15:45", "2024-10-06 15:15");
	/* hourly: 02:00 is moved to 02:30; 02:30 itself is the same instant */
	NEXT("0,30 * * * *", tz, "2024-10-05 14:45", "2024-10-05 15:00", "2024-10-05 15:30", "2024-10-05 16:00");
	NEXT("45 1 * * *", tz, "2024-04-06 00:00", "2024-04-06 14:45", "2024-04-07 15:15");
	sw_tz_free(tz);
}

/* ---- the property: sw_cron_next against a minute-by-minute search ---- */

static uint64_t rng = 0x2545f4914f6cdd1du;

static uint64_t rnd(void)
{
	return unit_rnd(&rng);
}

static int pick(int lo, int hi)
{
	return lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
}

/* One random field: mostly dense (so that the search ends soon), with
 * every form: "*", "*" "/s", a, a-b, a-b/s, a/s, lists, names. */
static void random_field(struct buf *b, int f, int min, int max, int star_pct)
{
	static const char *const mon[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
	static const char *const dow[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"};
	if (pick(1, 100) <= star_pct) {
		if (pick(0, 3) == 0)
			buf_addf(b, "*/%d", pick(1, max > 12 ? 12 : max));
		else
			buf_adds(b, "*");
		return;
	}
	int items = pick(1, 3);
	for (int i = 0; i < items; i++) {
		bool name = (f == 3 || f == 4) && pick(0, 1);
		int top = name && f == 4 ? 6 : max; /* "sun" is 0: "fri-sun" goes backwards */
		int lo = pick(min, top), hi = pick(lo, top);
		if (i)
			buf_addc(b, ',');
		const char *const *names = f == 3 ? mon : dow;
		int off = f == 3 ? 1 : 0;
		if (name)
			buf_adds(b, names[lo - off]);
		else
			buf_addf(b, "%d", lo);
		switch (pick(0, 3)) {
		case 0:
			break;
		case 1:
			buf_addc(b, '-');
			name ? buf_adds(b, names[hi - off]) : buf_addf(b, "%d", hi);
			break;
		case 2:
			buf_addc(b, '-');
			name ? buf_adds(b, names[hi - off]) : buf_addf(b, "%d", hi);
			buf_addf(b, "/%d", pick(1, 5));
			break;
		default:
			buf_addf(b, "/%d", pick(1, 7));
			break;
		}
	}
}

static void random_expr(struct buf *b)
{
	buf_reset(b);
	random_field(b, 0, 0, 59, 30);
	buf_addc(b, ' ');
	random_field(b, 1, 0, 23, 45);
	buf_addc(b, ' ');
	random_field(b, 2, 1, 31, 65);
	buf_addc(b, ' ');
	random_field(b, 3, 1, 12, 85);
	buf_addc(b, ' ');
	random_field(b, 4, 0, 7, 60);
}

/*
 * The rules of cron.h read literally, one instant at a time: t fires when
 * its wall time matches and (for a fixed hour) did not occur earlier, or
 * when t is a wall time skipped by a jump, read with the offset before
 * the jump (found as the offset a jump's length before t). Offsets here
 * are whole minutes and jumps at most 3 hours apart from each other.
 */
static bool fires(const struct sw_cron *c, const struct sw_tz *tz, int64_t t)
{
	int32_t o = sw_tz_utoff(tz, t), before[13];
	int nb = 0;
	if (sw_tz_utoff(tz, t - 3 * 3600) == o) /* no jump in the last 3 hours */
		return sw_cron_matches(c, t + o);
	for (int k = 1; k <= 12; k++) { /* the offsets of the last 3 hours */
		int32_t x = sw_tz_utoff(tz, t - k * 900);
		bool seen = x == o;
		for (int i = 0; i < nb; i++)
			seen |= before[i] == x;
		if (!seen)
			before[nb++] = x;
	}
	int64_t wall = t + o;
	if (sw_cron_matches(c, wall)) {
		bool earlier = false;
		for (int i = 0; i < nb && !c->hour_star; i++)
			earlier |= before[i] > o && sw_tz_utoff(tz, wall - before[i]) == before[i];
		if (!earlier)
			return true;
	}
	for (int i = 0; i < nb; i++) {
		int32_t ob = before[i];
		if (ob >= o || sw_tz_utoff(tz, t - (o - ob)) != ob)
			continue;
		int64_t skipped = t + ob;
		bool exists = sw_tz_utoff(tz, skipped - o) == o || sw_tz_utoff(tz, skipped - ob) == ob;
		if (!exists && sw_cron_matches(c, skipped))
			return true;
	}
	return false;
}

static bool brute_next(const struct sw_cron *c, const struct sw_tz *tz, int64_t after, int64_t limit, int64_t *out)
{
	int64_t t = after + 1;
	t += ((60 - t % 60) % 60 + 60) % 60;
	for (; t <= limit; t += 60) {
		if (fires(c, tz, t)) {
			*out = t;
			return true;
		}
	}
	return false;
}

static void test_cron__next_agrees_with_a_minute_by_minute_search(void **state)
{
	static const char *const zones[] = {"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
					    "Asia/Kathmandu", "America/Nuuk", "Europe/Dublin", "Pacific/Chatham",
					    "Antarctica/Troll", "America/Santiago"};
	enum { NZ = sizeof(zones) / sizeof(zones[0]) };
	struct sw_tz *tz[NZ];
	struct buf expr = BUF_INIT;
	int cases = 0, dst_cases = 0;

	for (size_t i = 0; i < NZ; i++)
		tz[i] = strcmp(zones[i], "UTC") == 0 ? NULL : zone(zones[i]);
	while (cases < 600) {
		struct sw_cron c;
		struct sw_err err = {0};
		random_expr(&expr);
		if (sw_cron_parse(&c, expr.s, &err) != 0)
			fail_msg("random \"%s\" did not parse: %s", expr.s, err.msg);
		if (sw_cron_never(&c))
			continue;
		const struct sw_tz *z = tz[rnd() % NZ];
		/* half the starts within hours of a transition, the rest anywhere in 2020-2035 */
		int64_t after = utc("2020-01-01 00:00") + (int64_t)(rnd() % (16u * 365 * 86400));
		if (z && rnd() % 2) {
			struct sw_tz_period p;
			sw_tz_period(&p, z, after);
			after = p.end - 6 * 3600 + (int64_t)(rnd() % (12 * 3600));
			dst_cases++;
		}
		if (rnd() % 3 == 0)
			after -= after % 60; /* on a minute */
		int64_t t = after, limit = after + 400 * 86400;
		for (int k = 0; k < 3; k++) {
			int64_t want = 0, got = 0;
			bool found = brute_next(&c, z, t, limit, &want);
			int rc = sw_cron_next(&got, &c, z, t);
			if (found && (rc != 0 || got != want))
				fail_msg("\"%s\" in %s after %lld: got %lld (rc %d), brute force %lld", expr.s,
					 sw_tz_name(z), (long long)t, (long long)got, rc, (long long)want);
			if (!found && rc == 0 && got <= limit)
				fail_msg("\"%s\" in %s after %lld: got %lld, brute force found nothing", expr.s,
					 sw_tz_name(z), (long long)t, (long long)got);
			if (!found)
				break;
			t = want;
		}
		cases++;
	}
	assert_true(dst_cases > 100);
	for (size_t i = 0; i < NZ; i++)
		sw_tz_free(tz[i]);
	buf_release(&expr);
}

/* A matching minute is found by sw_cron_matches at the same wall time. */
static void test_cron__matches_agrees_with_next_in_utc(void **state)
{
	struct buf expr = BUF_INIT;
	for (int i = 0; i < 300; i++) {
		struct sw_cron c;
		random_expr(&expr);
		assert_int_equal(sw_cron_parse(&c, expr.s, NULL), 0);
		if (sw_cron_never(&c))
			continue;
		int64_t t = utc("2024-01-01 00:00") + (int64_t)(rnd() % (4u * 365 * 86400)), n;
		assert_int_equal(sw_cron_next(&n, &c, NULL, t), 0);
		assert_true(sw_cron_matches(&c, n) && n > t && n % 60 == 0);
		for (int64_t m = (t / 60 + 1) * 60; m < n && m < t + 86400; m += 60)
			assert_false(sw_cron_matches(&c, m));
	}
	buf_release(&expr);
}

static size_t corpus_good;

static void replay_expr(const char *file, const char *text, size_t len)
{
	struct sw_cron c, again;
	struct sw_err err = {0};
	int64_t n;
	if (sw_cron_parse(&c, text, &err) != 0) {
		assert_true(strncmp(err.msg, "cron ", 5) == 0 || strncmp(err.msg, "unknown cron", 12) == 0);
		return;
	}
	corpus_good++;
	assert_int_equal(sw_cron_parse(&again, c.text, NULL), 0);
	assert_memory_equal(&c, &again, sizeof(c));
	assert_int_equal(sw_cron_next(&n, &c, NULL, 1700000000), sw_cron_never(&c) ? SW_ENOTFOUND : 0);
}

/* The fuzzer's corpus replays as a test: each either fails with a cron
 * message or parses back the same from its own text. */
static void test_cron__fuzz_corpus_replays(void **state)
{
	assert_true(unit_corpus_replay("cron", replay_expr) >= 10);
	assert_true(corpus_good >= 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cron__fields_parse_to_their_values),
		cmocka_unit_test(test_cron__errors_name_the_field_and_say_what),
		cmocka_unit_test(test_cron__next_in_utc),
		cmocka_unit_test(test_cron__day_of_month_or_day_of_week),
		cmocka_unit_test(test_cron__leap_years_and_days_that_do_not_exist),
		cmocka_unit_test(test_cron__dst_in_berlin),
		cmocka_unit_test(test_cron__dst_in_new_york),
		cmocka_unit_test(test_cron__half_hour_dst_on_lord_howe),
		cmocka_unit_test(test_cron__next_agrees_with_a_minute_by_minute_search),
		cmocka_unit_test(test_cron__matches_agrees_with_next_in_utc),
		cmocka_unit_test(test_cron__fuzz_corpus_replays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
