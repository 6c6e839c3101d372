/*
 * tz: TZif files read as RFC 8536 says (core/tz.h): known transitions of
 * Europe/Berlin and America/New_York, the footer rule far in the future,
 * agreement with glibc's localtime_r over many zones and POSIX rules,
 * version 1 files, refused names and damaged files, and the calendar.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include "core/buf.h"
#include "core/tz.h"

static struct sw_tz *load(const char *name)
{
	struct sw_tz *tz = NULL;
	struct sw_err err = {0};
	if (sw_tz_load(&tz, NULL, name, &err) != 0)
		fail_msg("%s: %s", name, err.msg);
	return tz;
}

static bool have_tzdata(void)
{
	return access(SW_TZ_DIR "/Europe/Berlin", R_OK) == 0;
}

/* ---- a TZif writer, for files the system does not have ---- */

struct ttype {
	int32_t utoff;
	uint8_t isdst, abbr;
};

static void put32(struct buf *b, uint32_t v)
{
	unsigned char c[4] = {v >> 24, v >> 16, v >> 8, v};
	buf_add(b, c, 4);
}

static void put_hdr(struct buf *b, char version, uint32_t timecnt, uint32_t typecnt, uint32_t charcnt)
{
	buf_add(b, "TZif", 4);
	buf_addc(b, version);
	buf_add(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15);
	put32(b, 0); /* isutcnt */
	put32(b, 0); /* isstdcnt */
	put32(b, 0); /* leapcnt */
	put32(b, timecnt);
	put32(b, typecnt);
	put32(b, charcnt);
}

static void put_block(struct buf *b, bool wide, const int64_t *trans, const uint8_t *idx, size_t n,
		      const struct ttype *types, size_t ntypes, const char *chars, size_t nchars)
{
	for (size_t i = 0; i < n; i++) {
		if (wide)
			put32(b, (uint32_t)((uint64_t)trans[i] >> 32));
		put32(b, (uint32_t)trans[i]);
	}
	buf_add(b, idx, n);
	for (size_t i = 0; i < ntypes; i++) {
		put32(b, (uint32_t)types[i].utoff);
		buf_addc(b, (char)types[i].isdst);
		buf_addc(b, (char)types[i].abbr);
	}
	buf_add(b, chars, nchars);
}

/* version '\0' writes a v1 file; '2'..'4' a v1 stub, the 64-bit block and the footer */
static void make_tzif(struct buf *b, char version, const int64_t *trans, const uint8_t *idx, size_t n,
		      const struct ttype *types, size_t ntypes, const char *chars, size_t nchars,
		      const char *footer)
{
	buf_reset(b);
	if (version == 0) {
		put_hdr(b, 0, (uint32_t)n, (uint32_t)ntypes, (uint32_t)nchars);
		put_block(b, false, trans, idx, n, types, ntypes, chars, nchars);
		return;
	}
	static const struct ttype stub = {0, 0, 0};
	put_hdr(b, version, 0, 1, 1);
	put_block(b, false, NULL, NULL, 0, &stub, 1, "", 1);
	put_hdr(b, version, (uint32_t)n, (uint32_t)ntypes, (uint32_t)nchars);
	put_block(b, true, trans, idx, n, types, ntypes, chars, nchars);
	buf_addf(b, "\n%s\n", footer);
}

/* A v2 file with no transitions: the footer rule says it all. */
static struct sw_tz *from_rule(const char *rule)
{
	struct buf b = BUF_INIT;
	struct ttype t0 = {0, 0, 0};
	struct sw_tz *tz = NULL;
	struct sw_err err = {0};
	make_tzif(&b, '2', NULL, NULL, 0, &t0, 1, "LMT", 4, rule);
	if (sw_tz_parse(&tz, rule, b.s, b.len, &err) != 0)
		fail_msg("%s: %s", rule, err.msg);
	buf_release(&b);
	return tz;
}

static void check_period(const struct sw_tz *tz, int64_t t, int32_t utoff, bool isdst, const char *abbr,
			 int64_t start, int64_t end)
{
	struct sw_tz_period p;
	sw_tz_period(&p, tz, t);
	if (p.utoff != utoff || p.isdst != isdst || strcmp(p.abbr, abbr) != 0 || p.start != start || p.end != end)
		fail_msg("%s at %lld: got %d %d %s [%lld, %lld), wanted %d %d %s [%lld, %lld)", sw_tz_name(tz),
			 (long long)t, p.utoff, p.isdst, p.abbr, (long long)p.start, (long long)p.end, utoff, isdst,
			 abbr, (long long)start, (long long)end);
}

/* Every period holds t, has one offset throughout, and meets its neighbours. */
static void check_invariants(const struct sw_tz *tz, int64_t t)
{
	struct sw_tz_period p, q;
	sw_tz_period(&p, tz, t);
	assert_true(p.start <= t && t < p.end);
	if (p.start != INT64_MIN) {
		sw_tz_period(&q, tz, p.start);
		assert_true(q.start == p.start && q.utoff == p.utoff);
		sw_tz_period(&q, tz, p.start - 1);
		assert_true(q.end == p.start);
	}
	if (p.end != INT64_MAX) {
		sw_tz_period(&q, tz, p.end - 1);
		assert_true(q.utoff == p.utoff && q.end == p.end);
		sw_tz_period(&q, tz, p.end);
		assert_true(q.start == p.end);
	}
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	return unit_rnd(&rng);
}

/* ---- tests ---- */

static void test_tz__utc_is_built_in(void **state)
{
	struct sw_tz *tz = NULL;
	struct sw_err err = {0};
	assert_int_equal(sw_tz_load(&tz, "/nonexistent/zoneinfo", "UTC", &err), 0);
	assert_string_equal(sw_tz_name(tz), "UTC");
	check_period(tz, 0, 0, false, "UTC", INT64_MIN, INT64_MAX);
	check_period(tz, INT64_MAX - 1, 0, false, "UTC", INT64_MIN, INT64_MAX);
	check_period(NULL, -5, 0, false, "UTC", INT64_MIN, INT64_MAX);
	assert_string_equal(sw_tz_name(NULL), "UTC");
	sw_tz_free(tz);
	/* any other zone needs the files */
	assert_int_equal(sw_tz_load(&tz, "/nonexistent/zoneinfo", "Europe/Berlin", &err), SW_ENOTFOUND);
	assert_null(tz);
}

static void test_tz__known_transitions_of_berlin_and_new_york(void **state)
{
	if (!have_tzdata())
		skip();
	struct sw_tz *berlin = load("Europe/Berlin"), *ny = load("America/New_York");
	/* 2024: from the transition table */
	check_period(berlin, 1717200000, 7200, true, "CEST", 1711846800, 1729990800);
	check_period(berlin, 1711846799, 3600, false, "CET", 1698541200, 1711846800);
	check_period(ny, 1710054000, -14400, true, "EDT", 1710054000, 1730613600);
	check_period(ny, 1730613600, -18000, false, "EST", 1730613600, 1741503600);
	/* 2100 and 2200: past the table, from the footer's rule */
	check_period(berlin, 4115404800, 7200, true, "CEST", 4109878800, 4128627600);
	check_period(ny, 7270000000, -14400, true, "EDT", 7263932400, 7284492000);
	/* before the first transition: type 0 (local mean time) */
	check_period(berlin, -4000000000, 3208, false, "LMT", INT64_MIN, -2422054408);
	assert_int_equal(sw_tz_utoff(berlin, 1729990800), 3600);
	assert_string_equal(sw_tz_name(berlin), "Europe/Berlin");
	sw_tz_free(berlin);
	sw_tz_free(ny);
}

/* glibc reads the same files (TZ set here, in a test; never in Slipway). */
static void compare_with_glibc(const struct sw_tz *tz, const char *tzenv, int64_t lo, int64_t hi, int rounds)
{
	setenv("TZ", tzenv, 1);
	tzset();
	for (int i = 0; i < rounds; i++) {
		int64_t t = lo + (int64_t)(rnd() % (uint64_t)(hi - lo));
		struct sw_tz_period p;
		struct tm tm;
		time_t tt = (time_t)t;
		sw_tz_period(&p, tz, t);
		assert_non_null(localtime_r(&tt, &tm));
		if (p.utoff != tm.tm_gmtoff || p.isdst != (tm.tm_isdst > 0) || strcmp(p.abbr, tm.tm_zone) != 0)
			fail_msg("%s at %lld: got %d %d %s, glibc %ld %d %s", tzenv, (long long)t, p.utoff, p.isdst,
				 p.abbr, tm.tm_gmtoff, tm.tm_isdst, tm.tm_zone);
		check_invariants(tz, t);
	}
	unsetenv("TZ");
	tzset();
}

static void test_tz__agrees_with_glibc_across_zones(void **state)
{
	static const char *const zones[] = {
		"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Europe/Dublin", "America/Sao_Paulo",
		"Asia/Kathmandu", "Pacific/Apia", "America/Nuuk", "Africa/Casablanca", "Asia/Tehran",
		"Pacific/Chatham", "America/Santiago", "Antarctica/Troll", "Asia/Gaza", "Etc/GMT+5",
		"America/St_Johns", "Europe/London", "Australia/Sydney", "Asia/Tokyo", "Pacific/Kiritimati",
		"America/Los_Angeles", "Europe/Moscow", "America/Havana", "Asia/Jerusalem", "UTC",
	};
	if (!have_tzdata())
		skip();
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		struct sw_tz *tz = load(zones[i]);
		char env[128];
		snprintf(env, sizeof(env), ":%s", zones[i]);
		/* 1902 to 2400: the table, then the rule */
		compare_with_glibc(tz, env, -2100000000, 13600000000, 3000);
		/* densely around now, where most transitions are */
		compare_with_glibc(tz, env, 1600000000, 1900000000, 3000);
		sw_tz_free(tz);
	}
}

static void test_tz__posix_rules_agree_with_glibc(void **state)
{
	static const char *const rules[] = {
		"EST5EDT,M3.2.0,M11.1.0",          /* north: DST inside the year */
		"CET-1CEST,M3.5.0,M10.5.0/3",
		"AEST-10AEDT,M10.1.0,M4.1.0/3",    /* south: DST across new year */
		"IST-1GMT0,M10.5.0,M3.5.0/1",      /* Dublin: negative DST */
		"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", /* v3: negative rule times */
		"<-04>4<-03>,M9.1.6/24,M4.1.6/24", /* 24:00 */
		"<+0330>-3:30<+0430>,J79/24,J263/24", /* Jn days, half hours */
		"<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
		"<+00>0<+02>-2,M3.5.0/1,M10.5.0/3", /* two hours of DST */
		"XXX3YYY,100/5,200/-30",           /* zero-based days */
		"XXX3YYY2,M3.5.0/-100,M10.5.0/100",
		"EST5",
		"<+05>-5",
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		struct sw_tz *tz = from_rule(rules[i]);
		compare_with_glibc(tz, rules[i], 0, 10000000000, 4000);
		sw_tz_free(tz);
	}
}

static void test_tz__rule_all_year_dst_never_changes(void **state)
{
	/* zic writes permanent DST so: from Jan 1 00:00 to Dec 31 25:00, every year */
	struct sw_tz *tz = from_rule("EST5EDT,0/0,J365/25");
	for (int i = 0; i < 2000; i++) {
		int64_t t = (int64_t)(rnd() % 8000000000u);
		struct sw_tz_period p;
		sw_tz_period(&p, tz, t);
		assert_int_equal(p.utoff, -4 * 3600);
		assert_true(p.isdst);
		check_invariants(tz, t);
	}
	sw_tz_free(tz);
}

static void test_tz__version_1_file(void **state)
{
	static const int64_t trans[] = {1000, 2000, 3000};
	static const uint8_t idx[] = {1, 2, 1};
	static const struct ttype types[] = {{0, 0, 0}, {3600, 1, 4}, {-1800, 0, 8}};
	static const char chars[] = "LMT\0ONE\0TWO";
	struct buf b = BUF_INIT;
	struct sw_tz *tz = NULL;
	struct sw_err err = {0};

	make_tzif(&b, 0, trans, idx, 3, types, 3, chars, sizeof(chars), NULL);
	if (sw_tz_parse(&tz, "v1", b.s, b.len, &err) != 0)
		fail_msg("%s", err.msg);
	check_period(tz, 999, 0, false, "LMT", INT64_MIN, 1000);
	check_period(tz, 1000, 3600, true, "ONE", 1000, 2000);
	check_period(tz, 2999, -1800, false, "TWO", 2000, 3000);
	/* no footer: the last type for ever after */
	check_period(tz, 3000, 3600, true, "ONE", 3000, INT64_MAX);
	check_period(tz, INT64_MAX, 3600, true, "ONE", 3000, INT64_MAX);
	sw_tz_free(tz);

	/* the same in a version 3 file with a footer that takes over */
	make_tzif(&b, '3', trans, idx, 3, types, 3, chars, sizeof(chars), "ONE-1TWO,M3.5.0,M10.5.0/3");
	assert_int_equal(sw_tz_parse(&tz, "v3", b.s, b.len, &err), 0);
	check_period(tz, 1500, 3600, true, "ONE", 1000, 2000);
	check_invariants(tz, 3000);
	check_invariants(tz, 1700000000);
	sw_tz_free(tz);
	/* an empty footer keeps the last type */
	make_tzif(&b, '2', trans, idx, 3, types, 3, chars, sizeof(chars), "");
	assert_int_equal(sw_tz_parse(&tz, "v2", b.s, b.len, &err), 0);
	check_period(tz, 1700000000, 3600, true, "ONE", 3000, INT64_MAX);
	sw_tz_free(tz);
	buf_release(&b);
}

static void bad_name(const char *name, int code, const char *msg)
{
	struct sw_tz *tz = (struct sw_tz *)1;
	struct sw_err err = {0};
	assert_int_equal(sw_tz_load(&tz, NULL, name, &err), code);
	assert_null(tz);
	if (strcmp(err.msg, msg) != 0)
		fail_msg("%s: got \"%s\", wanted \"%s\"", name, err.msg, msg);
}

static void test_tz__names_are_checked(void **state)
{
	bad_name("", SW_EINVAL, "time zone name is empty");
	bad_name("../../etc/passwd", SW_EINVAL, "time zone \"../../etc/passwd\" is not valid: \"..\" is not allowed");
	bad_name("Europe/../../x", SW_EINVAL, "time zone \"Europe/../../x\" is not valid: \"..\" is not allowed");
	bad_name("/etc/localtime", SW_EINVAL,
		 "time zone \"/etc/localtime\" is not valid: write a name like \"Europe/Berlin\", not a path");
	bad_name("localtime", SW_EINVAL,
		 "time zone \"localtime\" is the host's own setting; write its name (like \"Europe/Berlin\")");
	bad_name("Europe//Berlin", SW_EINVAL,
		 "time zone \"Europe//Berlin\" is not valid: it has an empty or \".\" component");
	bad_name("./UTC", SW_EINVAL, "time zone \"./UTC\" is not valid: it has an empty or \".\" component");
	bad_name("Europe/", SW_EINVAL, "time zone \"Europe/\" is not valid: it ends in \"/\"");
	bad_name("Europe/Berlin ", SW_EINVAL,
		 "time zone \"Europe/Berlin \" is not valid: it may hold letters, digits and \"/_-+.\" only");
	bad_name("Europe\\Berlin", SW_EINVAL,
		 "time zone \"Europe\\Berlin\" is not valid: it may hold letters, digits and \"/_-+.\" only");
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	bad_name(longname, SW_EINVAL, "time zone name is longer than 255 characters");
	if (!have_tzdata())
		return;
	bad_name("Europe/Berln", SW_ENOTFOUND,
		 "time zone \"Europe/Berln\" is unknown (no file /usr/share/zoneinfo/Europe/Berln)");
	bad_name("Europe", SW_ENOTFOUND,
		 "time zone \"Europe\" is unknown (/usr/share/zoneinfo/Europe is not a file)");
	bad_name("Europe/Berlin/x", SW_ENOTFOUND,
		 "time zone \"Europe/Berlin/x\" is unknown (no file /usr/share/zoneinfo/Europe/Berlin/x)");
	bad_name("zone1970.tab", -1, "time zone \"zone1970.tab\": /usr/share/zoneinfo/zone1970.tab: not a TZif file");
	if (access(SW_TZ_DIR "/right/UTC", R_OK) == 0)
		bad_name("right/UTC", -1, "time zone \"right/UTC\": /usr/share/zoneinfo/right/UTC: has leap-second "
			 "records (a \"right/\" zone); use the zone without them");
	/* names tzdata has, links among them */
	static const char *const good[] = {"Etc/GMT+5", "America/Argentina/Buenos_Aires", "GMT", "Etc/UTC",
					   "America/Port-au-Prince", "EST5EDT"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		sw_tz_free(load(good[i]));
}

/* A symlink in the zone directory must not lead out of it. */
static void test_tz__links_stay_inside_the_directory(void **state)
{
	if (!have_tzdata())
		skip();
	char dir[] = "/tmp/sw-tz-XXXXXX", path[256];
	struct sw_tz *tz = NULL;
	struct sw_err err = {0};
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/Out", dir);
	assert_int_equal(symlink(SW_TZ_DIR "/Europe/Berlin", path), 0);
	snprintf(path, sizeof(path), "%s/In", dir);
	assert_int_equal(symlink("Out", path), 0);
	assert_int_equal(sw_tz_load(&tz, dir, "In", &err), SW_EINVAL);
	assert_non_null(strstr(err.msg, "leads outside"));
	sw_err_clear(&err);
	/* a copy inside is fine */
	snprintf(path, sizeof(path), "cp %s/Europe/Berlin %s/Home", SW_TZ_DIR, dir);
	assert_int_equal(system(path), 0);
	assert_int_equal(sw_tz_load(&tz, dir, "Home", &err), 0);
	assert_int_equal(sw_tz_utoff(tz, 1717200000), 7200);
	sw_tz_free(tz);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

static void bad_file(const struct buf *b, const char *msg)
{
	struct sw_tz *tz = NULL;
	struct sw_err err = {0};
	assert_int_equal(sw_tz_parse(&tz, "z", b->s, b->len, &err), -1);
	assert_null(tz);
	if (!strstr(err.msg, msg))
		fail_msg("got \"%s\", wanted \"%s\"", err.msg, msg);
}

static void test_tz__damaged_files_say_what_is_wrong(void **state)
{
	static const int64_t two[] = {1000, 2000}, down[] = {2000, 1000};
	static const uint8_t idx[] = {0, 1}, far[] = {0, 7};
	static const struct ttype types[] = {{0, 0, 0}, {3600, 1, 4}};
	static const struct ttype odd[] = {{0, 0, 0}, {100000, 0, 4}};
	static const struct ttype lost[] = {{0, 0, 0}, {3600, 0, 9}};
	static const char chars[] = "AAA\0BBB";
	struct buf b = BUF_INIT;

	static const struct {
		const int64_t *trans;
		const uint8_t *idx;
		const struct ttype *types;
		size_t ntypes;
		const char *footer, *msg;
	} cases[] = {
		{two, idx, types, 2, "CET-1CEST", "footer TZ string \"CET-1CEST\": daylight saving time needs a rule"},
		{two, idx, types, 2, "CET-1CEST,M13.5.0,M10.5.0", "number out of range"},
		{two, idx, types, 2, "C-1", "designation shorter than 3 characters"},
		{down, idx, types, 2, "", "transition 1 is not after the one before"},
		{two, far, types, 2, "", "transition 1 has type 7 of 2"},
		{two, idx, odd, 2, "", "type 1 has UT offset 100000 s (must be -89999..93599)"},
		{two, idx, lost, 2, "", "type 1 has a designation outside the table"},
		{two, idx, types, 0, "", "0 local time types (must be 1..256)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_tzif(&b, '2', cases[i].trans, cases[i].idx, 2, cases[i].types, cases[i].ntypes, chars,
			  sizeof(chars), cases[i].footer);
		bad_file(&b, cases[i].msg);
	}
	make_tzif(&b, 0, two, idx, 2, types, 2, chars, sizeof(chars), NULL);
	b.s[4] = 'x';
	bad_file(&b, "unknown TZif version byte 0x78");
	buf_reset(&b);
	buf_adds(&b, "TZjf");
	bad_file(&b, "z: not a TZif file");
	/* the footer's newlines */
	make_tzif(&b, '2', two, idx, 2, types, 2, chars, sizeof(chars), "EST5");
	b.len -= 1;
	bad_file(&b, "version 2 footer is missing");
	buf_release(&b);
}

/* Every cut of a real file fails cleanly; every damaged byte is either
 * refused or gives a zone whose periods still hold together. */
static void test_tz__cut_and_flipped_files_never_crash(void **state)
{
	if (!have_tzdata())
		skip();
	FILE *f = fopen(SW_TZ_DIR "/America/New_York", "rb");
	assert_non_null(f);
	static char data[8192];
	size_t len = fread(data, 1, sizeof(data), f);
	fclose(f);
	assert_true(len > 1000 && len < sizeof(data));
	for (size_t cut = 0; cut < len; cut++) {
		struct sw_tz *tz = NULL;
		struct sw_err err = {0};
		assert_int_equal(sw_tz_parse(&tz, "cut", data, cut, &err), -1);
		assert_true(err.msg[0] != '\0');
	}
	for (size_t i = 0; i < len; i += 3) {
		struct sw_tz *tz = NULL;
		struct sw_err err = {0};
		char was = data[i];
		data[i] ^= (char)(1 + rnd() % 255);
		if (sw_tz_parse(&tz, "flip", data, len, &err) == 0) {
			for (int k = 0; k < 20; k++)
				check_invariants(tz, (int64_t)(rnd() % 20000000000u) - 5000000000);
			sw_tz_free(tz);
		} else {
			assert_true(err.msg[0] != '\0');
		}
		data[i] = was;
	}
}

static void test_tz__civil_calendar(void **state)
{
	struct sw_civil c;
	assert_int_equal(sw_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(sw_days_from_civil(2000, 2, 29), 11016);
	assert_int_equal(sw_days_from_civil(2000, 3, 0), 11016); /* the day before the 1st */
	assert_int_equal(sw_days_from_civil(1969, 12, 31), -1);
	assert_true(sw_is_leap_year(2000) && sw_is_leap_year(2024) && sw_is_leap_year(-4));
	assert_false(sw_is_leap_year(1900) || sw_is_leap_year(2100) || sw_is_leap_year(2023));
	assert_int_equal(sw_days_in_month(2024, 2), 29);
	assert_int_equal(sw_days_in_month(2100, 2), 28);
	assert_int_equal(sw_days_in_month(2023, 12), 31);
	sw_civil_from_seconds(&c, -1);
	assert_true(c.year == 1969 && c.mon == 12 && c.mday == 31 && c.hour == 23 && c.min == 59 && c.sec == 59);
	assert_int_equal(c.wday, 3);
	sw_civil_from_seconds(&c, 1709164800); /* 2024-02-29 00:00 UTC, a Thursday */
	assert_true(c.year == 2024 && c.mon == 2 && c.mday == 29 && c.wday == 4);
	/* both ways agree, and weekdays step by one, over a long stretch */
	for (int i = 0; i < 100000; i++) {
		int64_t day = (int64_t)(rnd() % 200000000u) - 100000000;
		sw_civil_from_seconds(&c, day * 86400 + 43200);
		assert_int_equal(sw_days_from_civil(c.year, c.mon, c.mday), day);
		assert_true(c.mday >= 1 && c.mday <= sw_days_in_month(c.year, c.mon));
		assert_int_equal(c.wday, (int)(((day + 4) % 7 + 7) % 7));
		assert_int_equal(c.hour, 12);
	}
}

static size_t corpus_zones;

static void replay_zone(const char *file, const char *data, size_t len)
{
	struct sw_tz *tz = NULL;
	struct sw_err err = {0};
	if (sw_tz_parse(&tz, file, data, len, &err) != 0) {
		assert_true(err.msg[0] != '\0');
		return;
	}
	corpus_zones++;
	for (int k = 0; k < 200; k++)
		check_invariants(tz, (int64_t)(rnd() % 20000000000u) - 5000000000);
	sw_tz_free(tz);
}

/* The fuzzer's corpus replays as a test. */
static void test_tz__fuzz_corpus_replays(void **state)
{
	assert_true(unit_corpus_replay("tzif", replay_zone) >= 5);
	assert_true(corpus_zones >= 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tz__utc_is_built_in),
		cmocka_unit_test(test_tz__known_transitions_of_berlin_and_new_york),
		cmocka_unit_test(test_tz__agrees_with_glibc_across_zones),
		cmocka_unit_test(test_tz__posix_rules_agree_with_glibc),
		cmocka_unit_test(test_tz__rule_all_year_dst_never_changes),
		cmocka_unit_test(test_tz__version_1_file),
		cmocka_unit_test(test_tz__names_are_checked),
		cmocka_unit_test(test_tz__links_stay_inside_the_directory),
		cmocka_unit_test(test_tz__damaged_files_say_what_is_wrong),
		cmocka_unit_test(test_tz__cut_and_flipped_files_never_crash),
		cmocka_unit_test(test_tz__civil_calendar),
		cmocka_unit_test(test_tz__fuzz_corpus_replays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
