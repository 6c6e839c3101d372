/*
 * Cron expressions (cron.h): the parser, matching in civil time, and the
 * next match in a time zone, period by period of constant UT offset.
 */
#include "cron.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Searches look this far ahead of `after`; every expression that can
 * match does within 9 years (a 29th of February after 2096 is in 2104). */
#define HORIZON ((int64_t)10 * 366 * 86400)

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
					  "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field {
	const char *name;
	int min, max;
	const char *const *names; /* names[i] is value min + i */
} fields[5] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day-of-month", 1, 31, NULL},
	{"month", 1, 12, month_names},
	{"day-of-week", 0, 7, wday_names},
};

static const struct {
	const char *name, *expr;
} macros[] = {
	{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

/* ------------------------------------------------------------------ */
/* Parsing                                                            */

struct fparse {
	const struct field *f;
	int num;            /* 1-based, for messages */
	const char *text;   /* the whole field */
	size_t len;
	struct sw_err *err;
};

static int ferr(struct fparse *fp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ferr(struct fparse *fp, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sw_errf(fp->err, SW_EINVAL, "cron field %d (%s): %s", fp->num, fp->f->name, msg);
}

/* "unexpected" and the character, printable or as \xNN. */
static int unexpected(struct fparse *fp, char ch, const char *in, int len)
{
	unsigned char u = (unsigned char)ch;
	if (u > 0x20 && u < 0x7f)
		return ferr(fp, "unexpected \"%c\" in \"%.*s\"", ch, len, in);
	return ferr(fp, "unexpected byte 0x%02x in \"%.*s\"", u, len, in);
}

/* A number or (month, day-of-week) a name, from *p up to a '-', '/' or ','. */
static int read_value(struct fparse *fp, const char **p, const char *end, int *out)
{
	const char *s = *p;
	size_t n = 0;

	if (s < end && *s >= '0' && *s <= '9') {
		long v = 0;
		while (s + n < end && s[n] >= '0' && s[n] <= '9') {
			if (v < 1000)
				v = v * 10 + (s[n] - '0');
			n++;
		}
		*p = s + n;
		if (v < fp->f->min || v > fp->f->max)
			return ferr(fp, "%.*s is out of range %d-%d", (int)(n > 8 ? 8 : n), s, fp->f->min, fp->f->max);
		*out = (int)v;
		return 0;
	}
	while (s + n < end && ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z')))
		n++;
	if (n == 0) {
		if (s == end)
			return ferr(fp, "\"%.*s\" ends where a value should follow", (int)fp->len, fp->text);
		return unexpected(fp, *s, fp->text, (int)fp->len);
	}
	*p = s + n;
	if (!fp->f->names)
		return ferr(fp, "\"%.*s\" is not a number", (int)(n > 16 ? 16 : n), s);
	for (int i = 0; fp->f->names[i]; i++) {
		if (n == 3 && strncasecmp(s, fp->f->names[i], 3) == 0) {
			*out = fp->f->min + i;
			return 0;
		}
	}
	return ferr(fp, "unknown name \"%.*s\" (names: %s..%s)", (int)(n > 16 ? 16 : n), s, fp->f->names[0],
		    fp->f->names[fp->f == &fields[3] ? 11 : 6]);
}

/* One item of a list: "*", "a", "a-b", each with an optional "/step". */
static int parse_item(struct fparse *fp, const char *s, const char *end, uint64_t *bits, bool *star)
{
	const char *item = s;
	int ilen = (int)(end - s), lo, hi, step = 1;
	bool all = false, single = false;

	if (s == end)
		return ferr(fp, "empty item in \"%.*s\"", (int)fp->len, fp->text);
	if (*s == '*') {
		all = true;
		lo = fp->f->min;
		hi = fp->f->max;
		s++;
	} else {
		if (read_value(fp, &s, end, &lo) < 0)
			return -1;
		hi = lo;
		single = true;
		if (s < end && *s == '-') {
			s++;
			if (read_value(fp, &s, end, &hi) < 0)
				return -1;
			single = false;
			if (hi < lo)
				return ferr(fp, "range \"%.*s\" goes backwards", ilen, item);
		}
	}
	if (s < end && *s == '/') {
		const char *d = ++s;
		long v = 0;
		while (s < end && *s >= '0' && *s <= '9') {
			if (v < 1000)
				v = v * 10 + (*s - '0');
			s++;
		}
		if (s == d)
			return ferr(fp, "\"/\" must be followed by a step in \"%.*s\"", ilen, item);
		if (v < 1 || v > fp->f->max)
			return ferr(fp, "step %.*s is out of range 1-%d", (int)(s - d > 8 ? 8 : s - d), d, fp->f->max);
		step = (int)v;
		if (single)
			hi = fp->f->max;
	}
	if (s != end)
		return unexpected(fp, *s, item, ilen);
	for (int v = lo; v <= hi; v += step)
		*bits |= (uint64_t)1 << (fp->f == &fields[4] && v == 7 ? 0 : v);
	if (all && step == 1)
		*star = true;
	return 0;
}

static int parse_field(struct fparse *fp, uint64_t *bits, bool *star)
{
	const char *s = fp->text, *end = s + fp->len;
	*bits = 0;
	*star = false;
	for (;;) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *stop = comma ? comma : end;
		if (parse_item(fp, s, stop, bits, star) < 0)
			return -1;
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

int sw_cron_parse(struct sw_cron *out, const char *text, struct sw_err *err)
{
	const char *start[6], *stop[6], *p = text;
	uint64_t bits[5];
	bool star[5];
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (strlen(text) > SW_CRON_MAX_TEXT)
		return sw_errf(err, SW_EINVAL, "cron expression is longer than %d characters", SW_CRON_MAX_TEXT);
	while (blank(*p))
		p++;
	if (!*p)
		return sw_errf(err, SW_EINVAL, "cron expression is empty");
	if (*p == '@') {
		size_t len = strcspn(p, " \t");
		const char *rest = p + len;
		while (blank(*rest))
			rest++;
		for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
			if (strlen(macros[i].name) == len && strncmp(p, macros[i].name, len) == 0) {
				if (*rest)
					return sw_errf(err, SW_EINVAL, "cron macro \"%s\" takes no fields after it",
						       macros[i].name);
				int rc = sw_cron_parse(out, macros[i].expr, err);
				sw_strlcpy(out->text, macros[i].name, sizeof(out->text));
				return rc;
			}
		}
		return sw_errf(err, SW_EINVAL, "unknown cron macro \"%.*s\" (known: @yearly, @annually, "
			       "@monthly, @weekly, @daily, @midnight, @hourly)", (int)(len > 32 ? 32 : len), p);
	}
	while (*p) {
		if (n == 6)
			break;
		start[n] = p;
		while (*p && !blank(*p))
			p++;
		stop[n++] = p;
		while (blank(*p))
			p++;
	}
	if (n != 5 || *p) {
		size_t got = n;
		for (; *p; got++) {
			while (*p && !blank(*p))
				p++;
			while (blank(*p))
				p++;
		}
		return sw_errf(err, SW_EINVAL, "cron expression needs 5 fields (minute hour day-of-month month "
			       "day-of-week), got %zu%s", got, got == 6 ? " (a seconds field is not supported)" : "");
	}
	for (size_t i = 0; i < 5; i++) {
		struct fparse fp = {&fields[i], (int)i + 1, start[i], (size_t)(stop[i] - start[i]), err};
		if (parse_field(&fp, &bits[i], &star[i]) < 0) {
			memset(out, 0, sizeof(*out));
			return SW_EINVAL;
		}
	}
	out->minutes = bits[0];
	out->hours = (uint32_t)bits[1];
	out->mdays = (uint32_t)bits[2];
	out->months = (uint16_t)bits[3];
	out->wdays = (uint8_t)bits[4];
	out->hour_star = star[1];
	out->mday_star = star[2];
	out->wday_star = star[4];
	size_t o = 0;
	for (size_t i = 0; i < 5; i++) {
		size_t len = (size_t)(stop[i] - start[i]);
		if (i)
			out->text[o++] = ' ';
		memcpy(out->text + o, start[i], len);
		o += len;
	}
	out->text[o] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */
/* Matching                                                           */

static bool day_matches(const struct sw_cron *c, int mday, int wday)
{
	bool dm = c->mdays >> mday & 1, wm = c->wdays >> wday & 1;
	if (c->mday_star || c->wday_star)
		return dm && wm;
	return dm || wm;
}

bool sw_cron_never(const struct sw_cron *c)
{
	/* every month has every weekday: only day-of-month alone can miss */
	if (c->mday_star || !c->wday_star)
		return false;
	for (int m = 1; m <= 12; m++) {
		int last = m == 2 ? 29 : sw_days_in_month(2001, m);
		if ((c->months >> m & 1) && (c->mdays & (((uint32_t)2 << last) - 2)))
			return false;
	}
	return true;
}

bool sw_cron_matches(const struct sw_cron *c, int64_t local)
{
	struct sw_civil t;
	sw_civil_from_seconds(&t, local);
	return (c->months >> t.mon & 1) && day_matches(c, t.mday, t.wday) && (c->hours >> t.hour & 1) &&
	       (c->minutes >> t.min & 1);
}

/* The lowest set bit at or above `from`, or -1. */
static int next_bit(uint64_t set, int from)
{
	if (from > 63)
		return -1;
	set &= ~(uint64_t)0 << from;
	return set ? __builtin_ctzll(set) : -1;
}

/*
 * The first matching wall-clock minute L with from <= L < to (local
 * seconds), walking the calendar: a month that does not match is skipped
 * whole, a day that does not match whole, then hours and minutes by their
 * bits. Returns true with *out.
 */
static bool civil_next(const struct sw_cron *c, int64_t from, int64_t to, int64_t *out)
{
	struct sw_civil t;
	int64_t day; /* days since the epoch of (t.year, t.mon, t.mday) */
	int hour, min;

	if (from >= to)
		return false;
	from = from % 60 ? from - from % 60 + (from > 0 ? 60 : 0) : from;
	sw_civil_from_seconds(&t, from);
	day = sw_days_from_civil(t.year, t.mon, t.mday);
	hour = t.hour;
	min = t.min;
	for (;;) {
		if (day * 86400 >= to)
			return false;
		if (!(c->months >> t.mon & 1)) {
			int m = next_bit(c->months, t.mon + 1);
			if (m < 0)
				t.year++, m = next_bit(c->months, 1);
			t.mon = m;
			goto new_month;
		}
		int wday = (int)((day + 4) % 7 + 7) % 7;
		if (day_matches(c, t.mday, wday)) {
			int h = next_bit(c->hours, hour);
			if (h >= 0) {
				int m = next_bit(c->minutes, h == hour ? min : 0);
				if (m < 0 && (h = next_bit(c->hours, h + 1)) >= 0)
					m = next_bit(c->minutes, 0);
				if (m >= 0) {
					int64_t l = day * 86400 + h * 3600 + m * 60;
					if (l >= to)
						return false;
					*out = l;
					return true;
				}
			}
		}
		/* the next day */
		hour = min = 0;
		day++;
		if (++t.mday <= sw_days_in_month(t.year, t.mon))
			continue;
		if (++t.mon > 12)
			t.year++, t.mon = 1;
	new_month:
		t.mday = 1;
		hour = min = 0;
		day = sw_days_from_civil(t.year, t.mon, 1);
	}
}

int sw_cron_next(int64_t *out, const struct sw_cron *c, const struct sw_tz *tz, int64_t after)
{
	struct sw_tz_period p, prev, next;
	int64_t best = INT64_MAX, l;
	bool has_prev;

	if (sw_cron_never(c) || after >= SW_CRON_TIME_LIMIT || after <= -SW_CRON_TIME_LIMIT)
		return SW_ENOTFOUND;
	int64_t first = after + 1, limit = after + HORIZON;
	sw_tz_period(&p, tz, first);
	has_prev = p.start != INT64_MIN;
	if (has_prev)
		sw_tz_period(&prev, tz, p.start - 1);
	for (;;) {
		int64_t from = (first > p.start ? first : p.start) + p.utoff;
		int64_t end = p.end < limit ? p.end : limit;
		/* wall times the jump into p skipped, read with prev's offset */
		if (has_prev && prev.utoff < p.utoff) {
			int64_t lo = first + prev.utoff, glo = p.start + prev.utoff;
			if (civil_next(c, lo > glo ? lo : glo, p.start + p.utoff, &l) && l - prev.utoff < best)
				best = l - prev.utoff;
		}
		/* wall times prev already showed, when the clock went back into p */
		if (has_prev && prev.utoff > p.utoff && !c->hour_star && from < p.start + prev.utoff)
			from = p.start + prev.utoff;
		if (civil_next(c, from, end + p.utoff, &l) && l - p.utoff < best)
			best = l - p.utoff;
		if (best <= p.end || p.end >= limit)
			break;
		sw_tz_period(&next, tz, p.end);
		prev = p;
		p = next;
		has_prev = true;
	}
	if (best == INT64_MAX || best > limit)
		return SW_ENOTFOUND;
	*out = best;
	return 0;
}
