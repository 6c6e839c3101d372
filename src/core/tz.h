/*
 * tz: time zones, read from the TZif files of the system's tzdata
 * (/usr/share/zoneinfo, RFC 8536), for schedules written in local time
 * (sync windows: "0 22 * * 5" in Europe/Berlin).
 *
 * Why not localtime_r: it reads the zone from the TZ variable, and
 * changing that (setenv + tzset) is process-global and not thread-safe.
 * A `struct sw_tz` is an immutable value: once loaded it is only read, by
 * any number of threads, with no global state.
 *
 * What is read:
 *  - versions 1, 2, 3 and 4. A v1 file is read from its 32-bit block; a
 *    v2+ file from its 64-bit block (the v1 block is skipped, as the RFC
 *    asks), and its footer TZ string (POSIX TZ with the v3 extensions:
 *    rule times from -167 to 167 hours) gives local time after the last
 *    transition, so 2100 is as right as 2025. An empty footer, or a v1
 *    file, keeps the last transition's type for ever after.
 *  - before the first transition, time type 0 applies (RFC 8536 3.2).
 *  - files with leap-second records (the "right/" zones) are refused:
 *    their timestamps count leap seconds, Slipway's clocks do not.
 *  - the file is checked as the RFC says (counts, ascending transitions,
 *    type and designation indexes in range, UT offsets within
 *    -89999..93599 s); a file that fails says what is wrong.
 *
 * Names: "Area/Location" names as tzdata spells them ("Europe/Berlin",
 * "America/New_York", "Etc/GMT+5"): letters, digits, "/", "_", "-", "+",
 * "."; not absolute, no empty, "." or ".." component, at most 255
 * characters; "localtime" (the host's own setting) is refused. Symlinks
 * (Debian's "UTC" -> "Etc/UTC") are followed only when they stay in the
 * zoneinfo directory. "UTC" is built in and needs no tzdata.
 *
 * Instants are Unix seconds (int64_t); "local seconds" are a wall-clock
 * reading counted the same way (local 1970-01-01 00:00 = 0), so that
 * local = utc + utoff. Pure apart from sw_tz_load's reading of the file.
 */
#ifndef SW_CORE_TZ_H
#define SW_CORE_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define SW_TZ_DIR "/usr/share/zoneinfo"
#define SW_TZ_MAX_NAME 255
#define SW_TZ_MAX_FILE (1024 * 1024) /* larger files are refused */

struct sw_tz; /* opaque, immutable */

/*
 * Loads zone `name` from dir (NULL: SW_TZ_DIR) into *out; the caller
 * frees it with sw_tz_free. Returns 0, SW_EINVAL for a name that is not
 * valid, SW_ENOTFOUND for no such zone, -1 for a file that is not TZif
 * or is damaged; err says which name and what:
 *	time zone "Europe/Berln" is unknown (no file /usr/share/zoneinfo/Europe/Berln)
 *	time zone "../etc/passwd" is not valid: ".." is not allowed
 */
int sw_tz_load(struct sw_tz **out, const char *dir, const char *name, struct sw_err *err);

/*
 * Reads a TZif file's bytes (as sw_tz_load does after reading the file)
 * into *out, named `name` (not checked here). Returns 0 or -1 with err
 * saying "NAME: what is wrong" ("truncated transition times",
 * "version 2 footer has no TZ string", ...). For tests and the fuzzer.
 */
int sw_tz_parse(struct sw_tz **out, const char *name, const void *data, size_t len, struct sw_err *err);

/* 0 when name is a valid zone name as above; SW_EINVAL with err otherwise. */
int sw_tz_name_check(const char *name, struct sw_err *err);

void sw_tz_free(struct sw_tz *tz);

/* The name it was loaded by ("Europe/Berlin"); "UTC" for NULL. */
const char *sw_tz_name(const struct sw_tz *tz);

/*
 * The stretch of time around instant t during which local time keeps one
 * UT offset and designation: [start, end). start is INT64_MIN when
 * nothing is known to change before t, end INT64_MAX when nothing changes
 * after; otherwise `end` is the instant of the next change and `start`
 * that of the last one. Two neighbouring periods may have the same utoff
 * (only isdst or the designation changed).
 */
struct sw_tz_period {
	int64_t start, end;
	int32_t utoff;     /* seconds east of UT: Berlin in summer +7200 */
	bool isdst;
	char abbr[16];     /* "CEST", "-03"; "" when the file has none */
};

/* Fills *out for instant t; tz NULL is UTC. Never fails. */
void sw_tz_period(struct sw_tz_period *out, const struct sw_tz *tz, int64_t t);

/* The UT offset at instant t (seconds east); tz NULL is UTC. */
int32_t sw_tz_utoff(const struct sw_tz *tz, int64_t t);

/* ---- civil (proleptic Gregorian) calendar, for local seconds ---- */

struct sw_civil {
	int64_t year;
	int mon;  /* 1..12 */
	int mday; /* 1..31 */
	int hour, min, sec;
	int wday; /* 0 = Sunday .. 6 */
};

/* Days since 1970-01-01 of year-mon-mday (any mday: 0 is the day before the 1st). */
int64_t sw_days_from_civil(int64_t year, int mon, int mday);
/* Splits local (or UT) seconds into a civil date and time. */
void sw_civil_from_seconds(struct sw_civil *out, int64_t secs);
bool sw_is_leap_year(int64_t year);
int sw_days_in_month(int64_t year, int mon);

#endif
