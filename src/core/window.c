/*
 * Sync windows (window.h): one window's runs, the union of a kind's, and
 * the sweep that finds when the answer next changes.
 */
#include "window.h"

#include <stdlib.h>

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void sw_window_release(struct sw_window *w)
{
	sw_tz_free(w->tz);
	w->tz = NULL;
}

static int64_t duration(const struct sw_window *w)
{
	return w->duration_ms > (uint64_t)SW_WINDOW_MAX_DURATION_MS ? SW_WINDOW_MAX_DURATION_MS
								    : (int64_t)w->duration_ms;
}

/* The largest wait from one matching minute of an hour to the next, in
 * ms (the last wraps round to the first of the next hour). */
static int64_t minute_gap_ms(uint64_t minutes)
{
	int first = __builtin_ctzll(minutes), prev = first, gap = 0;
	for (int m = first + 1; m < 60; m++) {
		if (minutes >> m & 1) {
			gap = m - prev > gap ? m - prev : gap;
			prev = m;
		}
	}
	gap = first + 60 - prev > gap ? first + 60 - prev : gap;
	return (int64_t)gap * 60000;
}

/*
 * True when w is active at every instant: its schedule matches every
 * hour of every day, through both passes of a repeated hour ("*" in the
 * hour), and its duration bridges the longest wait between two matching
 * minutes. A jump forward moves the skipped minutes by the jump and so
 * leaves no longer wait. Found here, such a window costs one test rather
 * than a walk through every minute up to the horizon.
 */
static bool always_active(const struct sw_window *w)
{
	const struct sw_cron *c = &w->schedule;
	bool all_mdays = (c->mdays & 0xfffffffeu) == 0xfffffffeu, all_wdays = (c->wdays & 0x7f) == 0x7f;
	bool every_day = (c->mday_star || c->wday_star) ? all_mdays && all_wdays : all_mdays || all_wdays;
	return c->hour_star && every_day && (c->months & 0x1ffe) == 0x1ffe &&
	       duration(w) >= minute_gap_ms(c->minutes);
}

/* The first start of w strictly after `after` (ms), or SW_WINDOW_NEVER. */
static int64_t next_start(const struct sw_window *w, int64_t after)
{
	int64_t s;
	if (sw_cron_next(&s, &w->schedule, w->tz, floor_div(after, 1000)) < 0)
		return SW_WINDOW_NEVER;
	return s * 1000;
}

/* sw_window_at with the horizon given: changes after it are NEVER. */
static void window_at(bool *active, int64_t *change, const struct sw_window *w, int64_t at, int64_t horizon)
{
	int64_t d = duration(w);

	if (always_active(w)) {
		*active = true;
		*change = SW_WINDOW_NEVER;
		return;
	}
	/* active when a start lies in (at - d, at] */
	int64_t s = next_start(w, at - d);
	*active = s <= at;
	if (!*active) {
		*change = s > horizon ? SW_WINDOW_NEVER : s;
		return;
	}
	/* the run goes on while the next start comes before its end */
	int64_t end = s + d;
	for (;;) {
		if (end > horizon) {
			*change = SW_WINDOW_NEVER;
			return;
		}
		s = next_start(w, s);
		if (s > end)
			break;
		end = s + d;
	}
	*change = end;
}

void sw_window_at(bool *out_active, int64_t *out_change, const struct sw_window *w, int64_t at)
{
	window_at(out_active, out_change, w, at, at + SW_WINDOW_HORIZON_MS);
}

/*
 * The windows of one kind at t: whether any is active (the first such in
 * *by) and when that may change: when active, the latest end of their
 * runs; when not, the earliest next start. An active window's run may go
 * on in another's that starts before it ends: the sweep below looks again
 * there, so this needs no more than a time at or before the real change.
 */
static void union_at(bool *active, int64_t *change, int *by, const struct sw_window *w, size_t n, int kind,
		     int64_t t, int64_t horizon)
{
	*active = false;
	*change = SW_WINDOW_NEVER;
	*by = -1;
	for (size_t i = 0; i < n; i++) {
		bool on;
		int64_t ch;
		if (w[i].kind != kind)
			continue;
		window_at(&on, &ch, &w[i], t, horizon);
		if (on && !*active) {
			*active = true;
			*by = (int)i;
			*change = ch;
		} else if (on ? ch > *change : !*active && ch < *change) {
			*change = ch;
		}
	}
}

void sw_window_check(struct sw_window_state *out, const struct sw_window *w, size_t n, int64_t now)
{
	int64_t horizon = now + SW_WINDOW_HORIZON_MS, t = now;
	bool any_allow = false;

	for (size_t i = 0; i < n; i++)
		any_allow |= w[i].kind == SW_WINDOW_ALLOW;
	out->until_ms = SW_WINDOW_NEVER;
	/* from one change of either kind to the next that can matter, until the answer differs */
	for (;;) {
		bool deny, allow = true;
		int64_t deny_change, allow_change = SW_WINDOW_NEVER;
		int deny_by, allow_by = -1;

		union_at(&deny, &deny_change, &deny_by, w, n, SW_WINDOW_DENY, t, horizon);
		if (any_allow)
			union_at(&allow, &allow_change, &allow_by, w, n, SW_WINDOW_ALLOW, t, horizon);
		bool allowed = !deny && allow;
		if (t == now) {
			out->allowed = allowed;
			out->by = deny ? deny_by : allow_by;
		} else if (allowed != out->allowed) {
			out->until_ms = t;
			return;
		}
		if (allowed) {
			/* no sooner than a deny window starts or an allow run ends */
			t = deny_change < allow_change ? deny_change : allow_change;
		} else {
			/* allowed no sooner than the deny run ends and an allow run starts */
			int64_t d = deny ? deny_change : t, a = allow ? t : allow_change;
			t = d > a ? d : a;
		}
		if (t == SW_WINDOW_NEVER)
			return;
	}
}
