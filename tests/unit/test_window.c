/*
 * window: Argo CD's rules for allow and deny windows (core/window.h) —
 * deny wins, no allow window allows all not denied, allow windows allow
 * only their union — with the instant the answer changes, through
 * daylight saving time, and against a brute-force timeline of random
 * windows.
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
#include "core/window.h"

static struct sw_window win(int kind, const char *schedule, const char *duration, const char *tz)
{
	struct sw_window w = {kind, {0}, 0, NULL};
	struct sw_err err = {0};
	if (sw_cron_parse(&w.schedule, schedule, &err) != 0)
		fail_msg("%s", err.msg);
	if (sw_duration_parse(duration, &w.duration_ms) != 0)
		fail_msg("bad duration %s", duration);
	if (tz && strcmp(tz, "UTC") != 0) {
		if (access(SW_TZ_DIR "/Europe/Berlin", R_OK) != 0)
			skip();
		if (sw_tz_load(&w.tz, NULL, tz, &err) != 0)
			fail_msg("%s", err.msg);
	}
	return w;
}
#define ALLOW SW_WINDOW_ALLOW
#define DENY SW_WINDOW_DENY

static void release(struct sw_window *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sw_window_release(&w[i]);
}

/* "2024-06-07 20:00" UTC in ms */
static int64_t at(const char *s)
{
	int y, mo, d, h, mi;
	if (sscanf(s, "%d-%d-%d %d:%d", &y, &mo, &d, &h, &mi) != 5)
		fail_msg("bad time %s", s);
	return (sw_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60) * 1000;
}

static void fmt(char *out, size_t size, int64_t ms)
{
	struct sw_civil c;
	if (ms == SW_WINDOW_NEVER) {
		snprintf(out, size, "never");
		return;
	}
	sw_civil_from_seconds(&c, ms / 1000);
	snprintf(out, size, "%04lld-%02d-%02d %02d:%02d", (long long)c.year, c.mon, c.mday, c.hour, c.min);
}

/* At `now`, allowed or not, until `until` ("never"), decided by window `by`. */
static void expect(const struct sw_window *w, size_t n, const char *now, bool allowed, const char *until, int by)
{
	struct sw_window_state s;
	char got[32];
	sw_window_check(&s, w, n, at(now));
	fmt(got, sizeof(got), s.until_ms);
	if (s.allowed != allowed || strcmp(got, until) != 0 || s.by != by)
		fail_msg("at %s: got %s until %s by %d, wanted %s until %s by %d", now,
			 s.allowed ? "allowed" : "denied", got, s.by, allowed ? "allowed" : "denied", until, by);
}

static void test_window__no_windows_allow_everything(void **state)
{
	expect(NULL, 0, "2024-06-07 20:00", true, "never", -1);
}

/* The deny window of the Environment example: Friday 22:00 Berlin for 60h. */
static void test_window__deny_window_in_berlin(void **state)
{
	struct sw_window w[] = {win(DENY, "0 22 * * 5", "60h", "Europe/Berlin")};
	/* 2024-06-07 is a Friday; 22:00 CEST is 20:00 UTC */
	expect(w, 1, "2024-06-07 19:00", true, "2024-06-07 20:00", -1);
	expect(w, 1, "2024-06-07 20:00", false, "2024-06-10 08:00", 0); /* starts inclusive */
	expect(w, 1, "2024-06-08 12:00", false, "2024-06-10 08:00", 0);
	expect(w, 1, "2024-06-10 08:00", true, "2024-06-14 20:00", -1); /* ends exclusive */
	/* in winter 22:00 CET is 21:00 UTC */
	expect(w, 1, "2024-12-06 12:00", true, "2024-12-06 21:00", -1);
	release(w, 1);
}

static void test_window__allow_windows_allow_only_their_union(void **state)
{
	struct sw_window w[] = {win(ALLOW, "0 9 * * 1-5", "8h", NULL)};
	/* 2024-06-03 is a Monday */
	expect(w, 1, "2024-06-03 08:00", false, "2024-06-03 09:00", -1);
	expect(w, 1, "2024-06-03 10:00", true, "2024-06-03 17:00", 0);
	expect(w, 1, "2024-06-07 18:00", false, "2024-06-10 09:00", -1);
	release(w, 1);

	/* two that overlap are one run; two apart leave a gap */
	struct sw_window two[] = {win(ALLOW, "0 9 * * *", "2h", NULL), win(ALLOW, "0 10 * * *", "3h", NULL)};
	expect(two, 2, "2024-06-03 09:30", true, "2024-06-03 13:00", 0);
	expect(two, 2, "2024-06-03 12:30", true, "2024-06-03 13:00", 1);
	release(two, 2);
	struct sw_window apart[] = {win(ALLOW, "0 9 * * *", "1h", NULL), win(ALLOW, "30 10 * * *", "1h", NULL)};
	expect(apart, 2, "2024-06-03 09:30", true, "2024-06-03 10:00", 0);
	expect(apart, 2, "2024-06-03 10:10", false, "2024-06-03 10:30", -1);
	release(apart, 2);
	/* touching runs are one: 1h windows every hour from 9 to 11 */
	struct sw_window touch[] = {win(ALLOW, "0 9-11 * * *", "1h", NULL)};
	expect(touch, 1, "2024-06-03 09:30", true, "2024-06-03 12:00", 0);
	release(touch, 1);
}

static void test_window__deny_wins_over_allow(void **state)
{
	struct sw_window w[] = {win(ALLOW, "0 8 * * *", "10h", NULL), win(DENY, "0 12 * * *", "1h", NULL)};
	expect(w, 2, "2024-06-03 11:00", true, "2024-06-03 12:00", 0);
	expect(w, 2, "2024-06-03 12:30", false, "2024-06-03 13:00", 1);
	expect(w, 2, "2024-06-03 13:00", true, "2024-06-03 18:00", 0);
	/* a deny that outlasts the allow: allowed again at the next allow */
	struct sw_window late[] = {win(ALLOW, "0 8 * * *", "10h", NULL), win(DENY, "0 17 * * *", "16h", NULL)};
	expect(late, 2, "2024-06-03 17:30", false, "2024-06-04 09:00", 1);
	expect(late, 2, "2024-06-04 08:30", false, "2024-06-04 09:00", 1);
	release(w, 2);
	release(late, 2);
	/* deny runs chain as allow runs do */
	struct sw_window chain[] = {win(DENY, "0 22 * * *", "2h", NULL), win(DENY, "30 23 * * *", "2h", NULL)};
	expect(chain, 2, "2024-06-03 22:30", false, "2024-06-04 01:30", 0);
	release(chain, 2);
}

/* Denied while no allow window runs, deny windows coming and going in
 * between do not end it: the answer changes when an allow run starts
 * and no deny run is on. */
static void test_window__until_skips_changes_that_do_not_matter(void **state)
{
	struct sw_window w[] = {win(ALLOW, "0 0 1 * *", "1h", NULL), win(DENY, "*/10 * * * *", "5m", NULL)};
	expect(w, 2, "2024-06-12 10:02", false, "2024-07-01 00:05", 1);
	expect(w, 2, "2024-06-12 10:07", false, "2024-07-01 00:05", -1);
	expect(w, 2, "2024-07-01 00:05", true, "2024-07-01 00:10", 0);
	release(w, 2);
}

static void test_window__windows_that_never_end_or_never_start(void **state)
{
	struct sw_window every[] = {win(DENY, "* * * * *", "1m", NULL)};
	expect(every, 1, "2024-06-03 10:00", false, "never", 0);
	release(every, 1);
	struct sw_window five[] = {win(DENY, "*/5 * * * *", "5m", "Europe/Berlin")};
	expect(five, 1, "2024-03-31 00:59", false, "never", 0); /* through the jump too */
	release(five, 1);
	struct sw_window short_[] = {win(DENY, "*/5 * * * *", "4m", NULL)};
	expect(short_, 1, "2024-06-03 10:01", false, "2024-06-03 10:04", 0);
	expect(short_, 1, "2024-06-03 10:04", true, "2024-06-03 10:05", -1);
	release(short_, 1);
	struct sw_window half[] = {win(ALLOW, "0-30 * * * *", "30m", NULL)};
	expect(half, 1, "2024-06-03 10:45", true, "never", 0);
	release(half, 1);
	/* daily for a day: on for ever once on (found by walking to the horizon) */
	struct sw_window daily[] = {win(ALLOW, "0 0 * * *", "24h", NULL)};
	expect(daily, 1, "2024-06-03 10:45", true, "never", 0);
	release(daily, 1);
	/* a fixed hour skips the repeated hour of a fall-back night: not always on */
	struct sw_window fixed[] = {win(DENY, "* 0-23 * * *", "1m", "America/New_York")};
	expect(fixed, 1, "2024-11-03 05:30", false, "2024-11-03 06:00", 0);
	expect(fixed, 1, "2024-11-03 06:30", true, "2024-11-03 07:00", -1);
	release(fixed, 1);
	/* February 30th never comes; 29 February 2028 is beyond the horizon */
	struct sw_window never[] = {win(DENY, "0 0 30 2 *", "1h", NULL)};
	expect(never, 1, "2024-06-03 10:00", true, "never", -1);
	release(never, 1);
	struct sw_window leap[] = {win(ALLOW, "0 0 29 2 *", "1h", NULL)};
	expect(leap, 1, "2024-03-01 10:00", false, "never", -1);
	expect(leap, 1, "2027-06-01 10:00", false, "2028-02-29 00:00", -1);
	release(leap, 1);
	/* once a year, within the horizon */
	struct sw_window yearly[] = {win(DENY, "@yearly", "24h", NULL)};
	expect(yearly, 1, "2024-06-01 00:00", true, "2025-01-01 00:00", -1);
	release(yearly, 1);
}

static void test_window__dst(void **state)
{
	/* Berlin, 2024-03-31: 02:30 does not exist; the window starts at 03:30 CEST (01:30 UTC) */
	struct sw_window spring[] = {win(DENY, "30 2 * * *", "1h", "Europe/Berlin")};
	expect(spring, 1, "2024-03-31 01:15", true, "2024-03-31 01:30", -1);
	expect(spring, 1, "2024-03-31 01:45", false, "2024-03-31 02:30", 0);
	release(spring, 1);
	/* New York, 2024-11-03: 01:30 happens twice; the window runs once, at 01:30 EDT */
	struct sw_window fall[] = {win(DENY, "30 1 * * *", "10m", "America/New_York")};
	expect(fall, 1, "2024-11-03 05:35", false, "2024-11-03 05:40", 0);
	expect(fall, 1, "2024-11-03 06:35", true, "2024-11-04 06:30", -1);
	release(fall, 1);
	/* durations are elapsed time: 2h from 01:00 EDT end at 02:00 EST (07:00 UTC) */
	struct sw_window two[] = {win(DENY, "0 1 * * *", "2h", "America/New_York")};
	expect(two, 1, "2024-11-03 06:30", false, "2024-11-03 07:00", 0);
	release(two, 1);
	/* and "*" in the hour follows the clock: 01:30 EST runs as well */
	struct sw_window hourly[] = {win(DENY, "30 * * * *", "10m", "America/New_York")};
	expect(hourly, 1, "2024-11-03 06:35", false, "2024-11-03 06:40", 0);
	release(hourly, 1);
}

static void test_window__one_window_alone(void **state)
{
	struct sw_window w = win(DENY, "0 22 * * 5", "60h", NULL);
	bool active;
	int64_t change;
	sw_window_at(&active, &change, &w, at("2024-06-03 10:00"));
	assert_false(active);
	assert_true(change == at("2024-06-07 22:00"));
	sw_window_at(&active, &change, &w, at("2024-06-08 10:00"));
	assert_true(active);
	assert_true(change == at("2024-06-10 10:00"));
	sw_window_release(&w);
	/* touching runs are one run */
	w = win(ALLOW, "0 9-11 * * *", "1h", NULL);
	sw_window_at(&active, &change, &w, at("2024-06-03 09:30"));
	assert_true(active);
	assert_true(change == at("2024-06-03 12:00"));
	/* longer than the cap counts as the cap: on for ever once on */
	w.duration_ms = UINT64_MAX;
	sw_window_at(&active, &change, &w, at("2024-06-08 10:00"));
	assert_true(active && change == SW_WINDOW_NEVER);
	sw_window_release(&w);
	sw_window_release(&w); /* twice is harmless */
}

/* ---- the property: sw_window_check against a brute-force timeline ---- */

static uint64_t rng = 0x853c49e6748fea9bu;

static uint64_t rnd(void)
{
	return unit_rnd(&rng);
}

struct span {
	int64_t start, end;
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* The union of the runs of the windows of one kind over [from, to): every
 * start listed with sw_cron_next, every run [s, s + d), merged. */
static struct span *runs(const struct sw_window *w, size_t n, int kind, int64_t from, int64_t to, size_t *count)
{
	struct span *v = NULL;
	size_t len = 0, cap = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t s = (from - (int64_t)w[i].duration_ms) / 1000 - 1, next;
		if (w[i].kind != kind)
			continue;
		while (sw_cron_next(&next, &w[i].schedule, w[i].tz, s) == 0 && next * 1000 < to) {
			if (len == cap)
				v = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*v));
			v[len++] = (struct span){next * 1000, next * 1000 + (int64_t)w[i].duration_ms};
			s = next;
		}
	}
	if (len)
		qsort(v, len, sizeof(*v), span_cmp);
	size_t m = 0;
	for (size_t i = 0; i < len; i++) {
		if (m && v[i].start <= v[m - 1].end) {
			if (v[i].end > v[m - 1].end)
				v[m - 1].end = v[i].end;
		} else {
			v[m++] = v[i];
		}
	}
	*count = m;
	return v;
}

static bool in_runs(const struct span *v, size_t n, int64_t t)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].start <= t && t < v[i].end)
			return true;
	return false;
}

static bool brute_allowed(const struct span *deny, size_t nd, const struct span *allow, size_t na, bool any_allow,
			  int64_t t)
{
	return !in_runs(deny, nd, t) && (!any_allow || in_runs(allow, na, t));
}

static void random_window(struct sw_window *w, struct buf *expr, const char *zone)
{
	static const char *const durations[] = {"1m", "5m", "30m", "1h", "90m", "2h", "8h", "24h", "60h"};
	buf_reset(expr);
	switch (rnd() % 4) {
	case 0:
		buf_addf(expr, "%d %d * * *", (int)(rnd() % 60), (int)(rnd() % 24));
		break;
	case 1:
		buf_addf(expr, "%d %d * * %d-%d", (int)(rnd() % 4) * 15, (int)(rnd() % 24), (int)(rnd() % 3),
			 3 + (int)(rnd() % 4));
		break;
	case 2:
		buf_addf(expr, "*/%d %s * * *", 5 + (int)(rnd() % 4) * 5, rnd() % 2 ? "*" : "1-3,22");
		break;
	default:
		buf_addf(expr, "%d %d,%d * * *", (int)(rnd() % 60), (int)(rnd() % 12), 12 + (int)(rnd() % 12));
		break;
	}
	*w = win(rnd() % 2 ? ALLOW : DENY, expr->s, durations[rnd() % 9], zone);
}

static void test_window__check_agrees_with_a_brute_force_timeline(void **state)
{
	static const char *const zones[] = {"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"};
	const int64_t span = (int64_t)30 * 86400 * 1000;
	struct buf expr = BUF_INIT;

	for (int round = 0; round < 300; round++) {
		struct sw_window w[4];
		size_t n = 1 + rnd() % 4, nd, na;
		bool any_allow = false;
		for (size_t i = 0; i < n; i++) {
			random_window(&w[i], &expr, zones[rnd() % 4]);
			any_allow |= w[i].kind == ALLOW;
		}
		int64_t now = at("2024-01-01 00:00") + (int64_t)(rnd() % (3ull * 365 * 86400 * 1000));
		if (rnd() % 2) { /* near a jump of the first window's zone */
			struct sw_tz_period p;
			sw_tz_period(&p, w[0].tz, now / 1000);
			if (p.end != INT64_MAX)
				now = p.end * 1000 - 3 * 3600 * 1000 + (int64_t)(rnd() % (6 * 3600 * 1000));
		}
		struct span *deny = runs(w, n, DENY, now - 4 * 86400 * 1000, now + span, &nd);
		struct span *allow = runs(w, n, ALLOW, now - 4 * 86400 * 1000, now + span, &na);
		bool want = brute_allowed(deny, nd, allow, na, any_allow, now);
		/* the first run boundary after now where the answer differs */
		int64_t until = SW_WINDOW_NEVER;
		for (int pass = 0; pass < 2; pass++) {
			const struct span *v = pass ? allow : deny;
			size_t nv = pass ? na : nd;
			for (size_t i = 0; i < nv; i++) {
				int64_t edges[2] = {v[i].start, v[i].end};
				for (int e = 0; e < 2; e++)
					if (edges[e] > now && edges[e] < now + span && edges[e] < until &&
					    brute_allowed(deny, nd, allow, na, any_allow, edges[e]) != want)
						until = edges[e];
			}
		}
		struct sw_window_state s;
		sw_window_check(&s, w, n, now);
		if (s.allowed != want || (until != SW_WINDOW_NEVER ? s.until_ms != until : s.until_ms < now + span)) {
			char a[32], b[32], c[32];
			fmt(a, sizeof(a), now);
			fmt(b, sizeof(b), s.until_ms);
			fmt(c, sizeof(c), until);
			for (size_t i = 0; i < n; i++)
				print_message("window %zu: %s \"%s\" %llums %s\n", i, w[i].kind == ALLOW ? "allow" : "deny",
					      w[i].schedule.text, (unsigned long long)w[i].duration_ms, sw_tz_name(w[i].tz));
			fail_msg("at %s: got %d until %s, brute force %d until %s", a, s.allowed, b, want, c);
		}
		/* the deciding window is active and of the deciding kind */
		if (s.by >= 0) {
			bool active;
			int64_t change;
			sw_window_at(&active, &change, &w[s.by], now);
			assert_true(active);
			assert_int_equal(w[s.by].kind, s.allowed ? ALLOW : DENY);
		} else {
			assert_true(s.allowed ? !any_allow : any_allow);
		}
		free(deny);
		free(allow);
		release(w, n);
	}
	buf_release(&expr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window__no_windows_allow_everything),
		cmocka_unit_test(test_window__deny_window_in_berlin),
		cmocka_unit_test(test_window__allow_windows_allow_only_their_union),
		cmocka_unit_test(test_window__deny_wins_over_allow),
		cmocka_unit_test(test_window__until_skips_changes_that_do_not_matter),
		cmocka_unit_test(test_window__windows_that_never_end_or_never_start),
		cmocka_unit_test(test_window__dst),
		cmocka_unit_test(test_window__one_window_alone),
		cmocka_unit_test(test_window__check_agrees_with_a_brute_force_timeline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
