/*
 * cron: five-field cron expressions, and the next time one matches in a
 * time zone (core/tz.h). Sync windows start at these times.
 *
 *	expression := minute hour day-of-month month day-of-week | macro
 *	field      := item ("," item)*
 *	item       := ("*" | value | value "-" value) ["/" step] | value "/" step
 *
 *	field          values
 *	1 minute       0-59
 *	2 hour         0-23
 *	3 day-of-month 1-31
 *	4 month        1-12 or jan..dec
 *	5 day-of-week  0-7 or sun..sat (0 and 7 are Sunday)
 *
 * Names are case-insensitive and work in ranges ("mon-fri"). "a-b/s" is
 * every s-th value from a to b, "*" / "s" from the field's first value,
 * "a/s" from a to the field's last value (as robfig/cron, which Argo CD
 * uses, reads it). Ranges must go upwards ("fri-mon" is an
 * error, write "fri-sat,sun-mon"). Fields are separated by blanks.
 *
 * Macros: @yearly (@annually) "0 0 1 1 *", @monthly "0 0 1 * *",
 * @weekly "0 0 * * 0", @daily (@midnight) "0 0 * * *", @hourly "0 * * * *".
 *
 * Days: when both day-of-month and day-of-week are restricted, a day
 * matches when either does ("0 0 13 * fri" is every 13th and every
 * Friday); when either is unrestricted, both must (so "0 0 * * fri" is
 * every Friday). A field is unrestricted when one of its items is "*"
 * (or "*" "/1"); "*" "/2" is a restriction, as in robfig/cron.
 *
 * Errors name the field and say what, with no position prefix (callers
 * add theirs): `cron field 2 (hour): 25 is out of range 0-23`.
 *
 * Time and time zones: an expression is matched against the wall clock
 * of its zone, one minute at a time. Where daylight saving time moves
 * the clock (docs/internals/windows.md):
 *  - a wall time that does not exist (02:30 when clocks jump from 02:00
 *    to 03:00) is read with the offset before the jump, so it happens as
 *    far after the jump as it was after 02:00: at 03:30 the new time. A
 *    time made so that the expression matches anyway happens once.
 *  - a wall time that happens twice (01:30 when clocks go back from 02:00
 *    to 01:00) matches at its first occurrence only, unless the hour
 *    field is unrestricted ("*" in the hour: "30 * * * *", @hourly),
 *    which follows the clock through both passes.
 *
 * Pure: no I/O, no clock, no global state.
 */
#ifndef SW_CORE_CRON_H
#define SW_CORE_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "core/tz.h"

#define SW_CRON_MAX_TEXT 255 /* longer expressions are refused */
#define SW_CRON_TIME_LIMIT ((int64_t)1 << 52) /* seconds; ~142 million years */

struct sw_cron {
	uint64_t minutes; /* bit m: minute m matches (0..59) */
	uint32_t hours;   /* bit h (0..23) */
	uint32_t mdays;   /* bit d (1..31) */
	uint16_t months;  /* bit m (1..12) */
	uint8_t wdays;    /* bit d (0..6, Sunday 0) */
	bool hour_star, mday_star, wday_star; /* unrestricted, as above */
	char text[SW_CRON_MAX_TEXT + 1]; /* as written, blanks between fields made one space */
};

/*
 * Parses text into *out. Returns 0, or SW_EINVAL with err saying which
 * field and what ("cron field 5 (day-of-week): unknown name \"fry\"";
 * "cron expression needs 5 fields (minute hour day-of-month month
 * day-of-week), got 6"); *out is then zeroed.
 */
int sw_cron_parse(struct sw_cron *out, const char *text, struct sw_err *err);

/* True when the expression can never match ("0 0 30 2 *": February has
 * no 30th, "0 0 31 4,6,9,11 *"). */
bool sw_cron_never(const struct sw_cron *c);

/* True when the wall-clock time (local seconds, tz.h) matches; seconds
 * within the minute are ignored. */
bool sw_cron_matches(const struct sw_cron *c, int64_t local);

/*
 * The first instant (Unix seconds) strictly after `after` at which the
 * expression matches in zone tz (NULL: UTC), under the rules above.
 * Returns 0 with *out, or SW_ENOTFOUND when it never matches
 * (sw_cron_never) or `after` lies beyond SW_CRON_TIME_LIMIT either way.
 */
int sw_cron_next(int64_t *out, const struct sw_cron *c, const struct sw_tz *tz, int64_t after);

#endif
