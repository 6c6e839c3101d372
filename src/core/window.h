/*
 * window: sync windows, the times at which changes may (allow) or may not
 * (deny) be applied, and the check that says whether now is such a time
 * and until when. An Environment declares them:
 *
 *	windows:
 *	  - {kind: deny, schedule: "0 22 * * 5", duration: 60h, timeZone: Europe/Berlin}
 *	  - {kind: allow, schedule: "0 9 * * 1-5", duration: 8h}
 *
 * A window starts at every time its cron schedule (core/cron.h) matches
 * in its zone (core/tz.h; none is UTC) and lasts `duration` of elapsed
 * time from there: it is active during [start, start + duration). Runs
 * that touch or overlap are one run ("* * * * *" for 1m is always on).
 *
 * The rules, Argo CD's:
 *  - an active deny window denies, whatever else is active (deny wins);
 *  - with no allow window in the list, everything not denied is allowed;
 *  - with allow windows, only the union of their active times is allowed;
 *  - an empty list allows everything, always.
 *
 * Daylight saving time follows the schedule's rules (cron.h): a window
 * at 02:30 on the night clocks jump from 02:00 to 03:00 starts at 03:30
 * the new time; one at 01:30 on the night they go back from 02:00 to
 * 01:00 starts once, at the first 01:30. Durations are elapsed time, so
 * a 2h window from 01:00 on that night ends at 02:00 the second time.
 * docs/internals/windows.md has the reasoning and the cost.
 *
 * Times are milliseconds since the epoch (sw_wall_ms). Pure: no I/O, no
 * clock; the list is only read.
 */
#ifndef SW_CORE_WINDOW_H
#define SW_CORE_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cron.h"
#include "core/tz.h"

/* Answers that would change later than this after `now` say "never". */
#define SW_WINDOW_HORIZON_MS ((int64_t)400 * 86400 * 1000)
#define SW_WINDOW_NEVER INT64_MAX
/* Longer durations count as this long (a window that long is always on). */
#define SW_WINDOW_MAX_DURATION_MS ((int64_t)800 * 86400 * 1000)

enum sw_window_kind {
	SW_WINDOW_ALLOW,
	SW_WINDOW_DENY,
};

struct sw_window {
	int kind;                 /* enum sw_window_kind */
	struct sw_cron schedule;
	uint64_t duration_ms;     /* > 0 */
	struct sw_tz *tz;         /* owned; NULL is UTC */
};

/* Frees what w holds (its zone); w itself is the caller's. */
void sw_window_release(struct sw_window *w);

/*
 * Whether window w alone is active at `at`, and when that changes: the
 * end of its current run, or the start of its next one (SW_WINDOW_NEVER
 * when that is more than SW_WINDOW_HORIZON_MS away, or never happens).
 */
void sw_window_at(bool *out_active, int64_t *out_change, const struct sw_window *w, int64_t at);

struct sw_window_state {
	bool allowed;
	int64_t until_ms; /* the next instant `allowed` changes; SW_WINDOW_NEVER: not
			   * within SW_WINDOW_HORIZON_MS of now (nor ever, perhaps) */
	int by;           /* the window that decides now: an active deny window when
			   * denied, an active allow window when allowed; -1 when the
			   * answer comes from the rules (no window active) */
};

/* The rules above for the n windows of w at `now`, into *out. */
void sw_window_check(struct sw_window_state *out, const struct sw_window *w, size_t n, int64_t now);

#endif
