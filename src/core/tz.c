/*
 * Time zones from TZif files (tz.h; RFC 8536): the reader, the footer's
 * POSIX TZ rule, and period lookup. See docs/internals/windows.md.
 */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"

/* Beyond this many seconds from the epoch (~142 million years) a rule's
 * transitions are no longer computed: the state at the limit holds. */
#define RULE_LIMIT ((int64_t)1 << 52)
#define UTOFF_MIN (-89999)
#define UTOFF_MAX 93599

struct tz_type {
	int32_t utoff;
	bool isdst;
	uint8_t abbr; /* index into chars */
};

/* One end of a daylight-saving period in a POSIX TZ rule. */
struct rule_date {
	char form;    /* 'J' (Jn, no Feb 29), 'D' (n, zero-based), 'M' (Mm.w.d) */
	int n, week, wday;
	int32_t time; /* seconds after local midnight, -167h..167h */
};

struct tz_rule {
	bool present;          /* the footer gave a TZ string */
	bool has_dst;
	int32_t std_off, dst_off; /* seconds east */
	char std_abbr[16], dst_abbr[16];
	struct rule_date start, end;
};

struct sw_tz {
	char *name;
	size_t n;               /* transitions */
	int64_t *trans;         /* ascending */
	uint8_t *idx;           /* type of each transition */
	size_t ntypes;
	struct tz_type *types;
	char *chars;            /* designations, NUL-terminated strings */
	size_t nchars;
	struct tz_rule rule;
};

/* ------------------------------------------------------------------ */
/* Civil calendar                                                     */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

bool sw_is_leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int sw_days_in_month(int64_t year, int mon)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return mon == 2 && sw_is_leap_year(year) ? 29 : days[mon - 1];
}

/* Counted in 400-year eras of 146097 days starting on March 1st, so that
 * a leap day is the last day of its year. */
int64_t sw_days_from_civil(int64_t year, int mon, int mday)
{
	int64_t y = year - (mon <= 2);
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (mon > 2 ? mon - 3 : mon + 9) + 2) / 5 + mday - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void sw_civil_from_seconds(struct sw_civil *out, int64_t secs)
{
	int64_t days = floor_div(secs, 86400);
	int64_t rem = secs - days * 86400;
	int64_t z = days + 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	out->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	out->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	out->year = yoe + era * 400 + (out->mon <= 2);
	out->hour = (int)(rem / 3600);
	out->min = (int)(rem / 60 % 60);
	out->sec = (int)(rem % 60);
	out->wday = (int)(days + 4 - floor_div(days + 4, 7) * 7); /* 1970-01-01 was a Thursday */
}

/* ------------------------------------------------------------------ */
/* The POSIX TZ rule of the footer                                    */

struct rd {
	const char *s, *p;
	struct sw_err *err;
	const char *name;
};

static int rule_err(struct rd *r, const char *what)
{
	return sw_errf(r->err, -1, "%s: footer TZ string \"%.64s\": %s at offset %zu", r->name, r->s, what,
		       (size_t)(r->p - r->s));
}

static int read_num(struct rd *r, int max, int *out)
{
	int v = 0, digits = 0;
	while (*r->p >= '0' && *r->p <= '9') {
		v = v * 10 + (*r->p++ - '0');
		if (++digits > 3 || v > max)
			return rule_err(r, "number out of range");
	}
	if (!digits)
		return rule_err(r, "expected a number");
	*out = v;
	return 0;
}

/* [+-]hh[:mm[:ss]] with hh up to max_hours; the value in seconds. */
static int read_hms(struct rd *r, int max_hours, int32_t *out)
{
	int sign = 1, h = 0, m = 0, s = 0;
	if (*r->p == '+' || *r->p == '-')
		sign = *r->p++ == '-' ? -1 : 1;
	if (read_num(r, max_hours, &h) < 0)
		return -1;
	if (*r->p == ':') {
		r->p++;
		if (read_num(r, 59, &m) < 0)
			return -1;
		if (*r->p == ':') {
			r->p++;
			if (read_num(r, 59, &s) < 0)
				return -1;
		}
	}
	*out = sign * (h * 3600 + m * 60 + s);
	return 0;
}

/* A designation: 3+ letters, or <...> of letters, digits, '+' and '-'. */
static int read_abbr(struct rd *r, char out[16])
{
	size_t n = 0;
	if (*r->p == '<') {
		r->p++;
		while ((*r->p >= 'A' && *r->p <= 'Z') || (*r->p >= 'a' && *r->p <= 'z') ||
		       (*r->p >= '0' && *r->p <= '9') || *r->p == '+' || *r->p == '-') {
			if (n + 1 >= 16)
				return rule_err(r, "designation longer than 15 characters");
			out[n++] = *r->p++;
		}
		if (*r->p != '>')
			return rule_err(r, "expected '>'");
		r->p++;
	} else {
		while ((*r->p >= 'A' && *r->p <= 'Z') || (*r->p >= 'a' && *r->p <= 'z')) {
			if (n + 1 >= 16)
				return rule_err(r, "designation longer than 15 characters");
			out[n++] = *r->p++;
		}
	}
	out[n] = '\0';
	if (n < 3)
		return rule_err(r, "designation shorter than 3 characters");
	return 0;
}

static int read_date(struct rd *r, struct rule_date *d)
{
	d->time = 2 * 3600;
	if (*r->p == 'J') {
		r->p++;
		d->form = 'J';
		if (read_num(r, 365, &d->n) < 0)
			return -1;
		if (d->n < 1)
			return rule_err(r, "Jn day must be 1..365");
	} else if (*r->p == 'M') {
		int mon;
		r->p++;
		d->form = 'M';
		if (read_num(r, 12, &mon) < 0)
			return -1;
		if (mon < 1)
			return rule_err(r, "month must be 1..12");
		d->n = mon;
		if (*r->p != '.')
			return rule_err(r, "expected '.'");
		r->p++;
		if (read_num(r, 5, &d->week) < 0)
			return -1;
		if (d->week < 1)
			return rule_err(r, "week must be 1..5");
		if (*r->p != '.')
			return rule_err(r, "expected '.'");
		r->p++;
		if (read_num(r, 6, &d->wday) < 0)
			return -1;
	} else {
		d->form = 'D';
		if (read_num(r, 365, &d->n) < 0)
			return -1;
	}
	if (*r->p == '/') {
		r->p++;
		if (read_hms(r, 167, &d->time) < 0)
			return -1;
	}
	return 0;
}

/* std offset [dst [offset] ,start[/time],end[/time]]; POSIX offsets are
 * west of Greenwich, so "CET-1" is one hour east. */
static int rule_parse(struct tz_rule *rule, const char *s, const char *name, struct sw_err *err)
{
	struct rd r = {s, s, err, name};
	int32_t off;

	memset(rule, 0, sizeof(*rule));
	if (!*s)
		return 0;
	rule->present = true;
	if (read_abbr(&r, rule->std_abbr) < 0 || read_hms(&r, 24, &off) < 0)
		return -1;
	rule->std_off = -off;
	if (!*r.p)
		return 0;
	rule->has_dst = true;
	if (read_abbr(&r, rule->dst_abbr) < 0)
		return -1;
	rule->dst_off = rule->std_off + 3600;
	if (*r.p && *r.p != ',') {
		if (read_hms(&r, 24, &off) < 0)
			return -1;
		rule->dst_off = -off;
	}
	if (*r.p != ',')
		return rule_err(&r, "daylight saving time needs a rule (\",start,end\")");
	r.p++;
	if (read_date(&r, &rule->start) < 0)
		return -1;
	if (*r.p != ',')
		return rule_err(&r, "expected ','");
	r.p++;
	if (read_date(&r, &rule->end) < 0)
		return -1;
	if (*r.p)
		return rule_err(&r, "unexpected character");
	return 0;
}

/* Days since the epoch of a rule date in year y. */
static int64_t rule_day(const struct rule_date *d, int64_t y)
{
	int64_t jan1 = sw_days_from_civil(y, 1, 1);
	if (d->form == 'J')
		return jan1 + d->n - 1 + (sw_is_leap_year(y) && d->n >= 60);
	if (d->form == 'D')
		return jan1 + d->n;
	int64_t first = sw_days_from_civil(y, d->n, 1);
	int64_t wday_first = first + 4 - floor_div(first + 4, 7) * 7;
	int64_t day = first + (d->wday - wday_first + 7) % 7 + 7 * (d->week - 1);
	while (day >= first + sw_days_in_month(y, d->n))
		day -= 7;
	return day;
}

struct rule_event {
	int64_t at;
	bool dst; /* the state from `at` on */
};

static int event_cmp(const void *a, const void *b)
{
	const struct rule_event *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return (int)x->dst - (int)y->dst; /* at the same instant an end, then a start */
}

static void rule_state(const struct tz_rule *rule, bool dst, struct sw_tz_period *out)
{
	out->utoff = dst ? rule->dst_off : rule->std_off;
	out->isdst = dst;
	sw_strlcpy(out->abbr, dst ? rule->dst_abbr : rule->std_abbr, sizeof(out->abbr));
}

/*
 * The period of instant t under the rule, from the rule's transitions of
 * the years around t, sorted, those at one instant counted as one (the
 * last; a zone in daylight saving time all year, "EST5EDT,0/0,J365/25",
 * ends and starts it at the same instant). The period starts at the last
 * transition at or before t that changed the state and ends at the first
 * later one that changes it back; where no transition in these years
 * changes it, the state is the rule's for ever (INT64_MIN, INT64_MAX), so
 * that every instant of a period finds the same period.
 */
static void rule_period(const struct tz_rule *rule, int64_t t, struct sw_tz_period *out)
{
	struct rule_event ev[12];
	size_t n = 0, m = 0;
	struct sw_civil c;

	if (!rule->has_dst) {
		rule_state(rule, false, out);
		out->start = INT64_MIN;
		out->end = INT64_MAX;
		return;
	}
	if (t > RULE_LIMIT || t < -RULE_LIMIT) {
		rule_period(rule, t > 0 ? RULE_LIMIT : -RULE_LIMIT, out);
		if (t > 0)
			out->start = out->start > RULE_LIMIT ? out->start : RULE_LIMIT, out->end = INT64_MAX;
		else
			out->start = INT64_MIN, out->end = out->end < -RULE_LIMIT ? out->end : -RULE_LIMIT;
		return;
	}
	sw_civil_from_seconds(&c, t + rule->std_off);
	for (int64_t y = c.year - 2; y <= c.year + 3; y++) {
		ev[n].at = rule_day(&rule->start, y) * 86400 + rule->start.time - rule->std_off;
		ev[n++].dst = true;
		ev[n].at = rule_day(&rule->end, y) * 86400 + rule->end.time - rule->dst_off;
		ev[n++].dst = false;
	}
	qsort(ev, n, sizeof(ev[0]), event_cmp);
	for (size_t i = 0; i < n; i++)
		if (i + 1 == n || ev[i + 1].at != ev[i].at)
			ev[m++] = ev[i];
	size_t k = 0; /* events at or before t */
	while (k < m && ev[k].at <= t)
		k++;
	if (k == 0) { /* not reached for rule times within +-167h */
		rule_state(rule, !ev[0].dst, out);
		out->start = INT64_MIN;
		out->end = ev[0].at;
		return;
	}
	bool dst = ev[k - 1].dst;
	size_t j = k - 1, i = k;
	while (j > 0 && ev[j - 1].dst == dst)
		j--;
	/* the last event may lack the next year's one at its instant: not trusted */
	while (i + 1 < m && ev[i].dst == dst)
		i++;
	rule_state(rule, dst, out);
	out->start = j > 0 ? ev[j].at : INT64_MIN;
	out->end = i + 1 < m ? ev[i].at : INT64_MAX;
}

/* ------------------------------------------------------------------ */
/* The TZif reader                                                    */

struct hdr {
	int version; /* 1, 2, 3, ... */
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int read_hdr(const uint8_t *p, size_t len, struct hdr *h, const char *name, struct sw_err *err)
{
	if (len < 44 || memcmp(p, "TZif", 4) != 0)
		return sw_errf(err, -1, "%s: not a TZif file", name);
	if (p[4] == 0)
		h->version = 1;
	else if (p[4] >= '2' && p[4] <= '9')
		h->version = p[4] - '0';
	else
		return sw_errf(err, -1, "%s: unknown TZif version byte 0x%02x", name, p[4]);
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	return 0;
}

/* The counts of the block that is read (a v2+ file's v1 block may be a stub). */
static int check_hdr(const struct hdr *h, const char *name, struct sw_err *err)
{
	if (h->typecnt == 0 || h->typecnt > 256)
		return sw_errf(err, -1, "%s: %u local time types (must be 1..256)", name, h->typecnt);
	if (h->charcnt == 0 || h->charcnt > 65536)
		return sw_errf(err, -1, "%s: %u designation bytes (must be 1..65536)", name, h->charcnt);
	if ((h->isutcnt && h->isutcnt != h->typecnt) || (h->isstdcnt && h->isstdcnt != h->typecnt))
		return sw_errf(err, -1, "%s: UT/standard indicator counts differ from the type count", name);
	return 0;
}

static uint64_t block_size(const struct hdr *h, unsigned tsize)
{
	return (uint64_t)h->timecnt * (tsize + 1) + (uint64_t)h->typecnt * 6 + h->charcnt +
	       (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* Reads one data block (tsize 4 or 8 bytes per time) into tz. */
static int read_block(struct sw_tz *tz, const struct hdr *h, const uint8_t *p, unsigned tsize,
		      const char *name, struct sw_err *err)
{
	if (h->leapcnt)
		return sw_errf(err, -1, "%s: has leap-second records (a \"right/\" zone); use the zone "
			       "without them", name);
	tz->n = h->timecnt;
	tz->trans = xmalloc(tz->n * sizeof(*tz->trans));
	tz->idx = xmalloc(tz->n);
	for (size_t i = 0; i < tz->n; i++, p += tsize) {
		tz->trans[i] = tsize == 8 ? be64(p) : (int32_t)be32(p);
		if (i && tz->trans[i] <= tz->trans[i - 1])
			return sw_errf(err, -1, "%s: transition %zu is not after the one before", name, i);
	}
	for (size_t i = 0; i < tz->n; i++, p++) {
		if (*p >= h->typecnt)
			return sw_errf(err, -1, "%s: transition %zu has type %u of %u", name, i, *p, h->typecnt);
		tz->idx[i] = *p;
	}
	tz->ntypes = h->typecnt;
	tz->types = xmalloc(tz->ntypes * sizeof(*tz->types));
	const uint8_t *types = p;
	p += (size_t)h->typecnt * 6;
	tz->nchars = h->charcnt;
	tz->chars = xmalloc(tz->nchars);
	memcpy(tz->chars, p, tz->nchars);
	for (size_t i = 0; i < tz->ntypes; i++, types += 6) {
		int32_t off = (int32_t)be32(types);
		if (off < UTOFF_MIN || off > UTOFF_MAX)
			return sw_errf(err, -1, "%s: type %zu has UT offset %d s (must be %d..%d)", name, i, off,
				       UTOFF_MIN, UTOFF_MAX);
		if (types[4] > 1)
			return sw_errf(err, -1, "%s: type %zu has isdst %u", name, i, types[4]);
		if (types[5] >= tz->nchars || !memchr(tz->chars + types[5], '\0', tz->nchars - types[5]))
			return sw_errf(err, -1, "%s: type %zu has a designation outside the table", name, i);
		tz->types[i] = (struct tz_type){off, types[4] == 1, types[5]};
	}
	return 0;
}

/* Messages start with `name` (sw_tz_load puts the zone and path there). */
static int parse_tzif(struct sw_tz **out, const char *zone, const char *name, const void *data, size_t len,
		      struct sw_err *err)
{
	const uint8_t *p = data, *end = p + len;
	struct sw_tz *tz = xcalloc(1, sizeof(*tz));
	struct hdr h;
	int rc = -1;

	*out = NULL;
	tz->name = xstrdup(zone);
	if (read_hdr(p, len, &h, name, err) < 0)
		goto out;
	if (block_size(&h, 4) > len - 44) {
		sw_errf(err, -1, "%s: truncated (version 1 data block)", name);
		goto out;
	}
	if (h.version == 1) {
		if (check_hdr(&h, name, err) == 0)
			rc = read_block(tz, &h, p + 44, 4, name, err);
		goto out;
	}
	p += 44 + block_size(&h, 4);
	if (read_hdr(p, (size_t)(end - p), &h, name, err) < 0)
		goto out;
	if (h.version == 1) {
		sw_errf(err, -1, "%s: second header says version 1", name);
		goto out;
	}
	if (check_hdr(&h, name, err) < 0)
		goto out;
	if (block_size(&h, 8) > (uint64_t)(end - p - 44)) {
		sw_errf(err, -1, "%s: truncated (version %d data block)", name, h.version);
		goto out;
	}
	if (read_block(tz, &h, p + 44, 8, name, err) < 0)
		goto out;
	p += 44 + block_size(&h, 8);
	const uint8_t *nl = p < end && *p == '\n' ? memchr(p + 1, '\n', (size_t)(end - p - 1)) : NULL;
	if (!nl) {
		sw_errf(err, -1, "%s: version %d footer is missing or not \"\\nTZ\\n\"", name, h.version);
		goto out;
	}
	char *rule = xstrndup((const char *)p + 1, (size_t)(nl - p - 1));
	if (strlen(rule) != (size_t)(nl - p - 1))
		rc = sw_errf(err, -1, "%s: footer TZ string holds a NUL byte", name);
	else
		rc = rule_parse(&tz->rule, rule, name, err);
	free(rule);
out:
	if (rc < 0)
		sw_tz_free(tz);
	else
		*out = tz;
	return rc;
}

int sw_tz_parse(struct sw_tz **out, const char *name, const void *data, size_t len, struct sw_err *err)
{
	return parse_tzif(out, name, name, data, len, err);
}

static struct sw_tz *utc_new(void)
{
	struct sw_tz *tz = xcalloc(1, sizeof(*tz));
	tz->name = xstrdup("UTC");
	tz->ntypes = 1;
	tz->types = xcalloc(1, sizeof(*tz->types));
	tz->nchars = 4;
	tz->chars = xstrdup("UTC");
	return tz;
}

int sw_tz_name_check(const char *name, struct sw_err *err)
{
	size_t len = strlen(name);
	if (len == 0)
		return sw_errf(err, SW_EINVAL, "time zone name is empty");
	if (len > SW_TZ_MAX_NAME)
		return sw_errf(err, SW_EINVAL, "time zone name is longer than %d characters", SW_TZ_MAX_NAME);
	if (name[0] == '/')
		return sw_errf(err, SW_EINVAL, "time zone \"%s\" is not valid: write a name like "
			       "\"Europe/Berlin\", not a path", name);
	if (strcmp(name, "localtime") == 0)
		return sw_errf(err, SW_EINVAL, "time zone \"localtime\" is the host's own setting; write "
			       "its name (like \"Europe/Berlin\")");
	for (const char *c = name; *c; c++) {
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		      strchr("/_-+.", *c)))
			return sw_errf(err, SW_EINVAL, "time zone \"%.64s\" is not valid: it may hold letters, "
				       "digits and \"/_-+.\" only", name);
	}
	for (const char *c = name; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.'))
			return sw_errf(err, SW_EINVAL, "time zone \"%s\" is not valid: it has an empty or \".\" "
				       "component", name);
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return sw_errf(err, SW_EINVAL, "time zone \"%s\" is not valid: \"..\" is not allowed", name);
		c += n;
		if (*c == '/' && !*++c)
			return sw_errf(err, SW_EINVAL, "time zone \"%s\" is not valid: it ends in \"/\"", name);
	}
	return 0;
}

/* Reads path, which must resolve (through symlinks) to a regular file
 * inside dir. */
static int read_zone_file(struct buf *out, const char *dir, const char *path, const char *name,
			  struct sw_err *err)
{
	char *rdir = realpath(dir, NULL), *rpath = realpath(path, NULL);
	int fd = -1, rc = -1;
	struct stat st;

	if (!rpath) {
		if (errno == ENOENT || errno == ENOTDIR)
			rc = sw_errf(err, SW_ENOTFOUND, "time zone \"%s\" is unknown (no file %s)", name, path);
		else
			rc = sw_errf(err, -1, "time zone \"%s\": %s: %s", name, path, strerror(errno));
		goto out;
	}
	size_t dl = rdir ? strlen(rdir) : 0;
	if (!rdir || strncmp(rpath, rdir, dl) != 0 || rpath[dl] != '/') {
		rc = sw_errf(err, SW_EINVAL, "time zone \"%s\" is not valid: %s leads outside %s", name, path, dir);
		goto out;
	}
	if ((fd = open(rpath, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		rc = sw_errf(err, -1, "time zone \"%s\": %s: %s", name, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = sw_errf(err, SW_ENOTFOUND, "time zone \"%s\" is unknown (%s is not a file)", name, path);
		goto out;
	}
	if (st.st_size > SW_TZ_MAX_FILE) {
		rc = sw_errf(err, -1, "time zone \"%s\": %s is larger than %d bytes", name, path, SW_TZ_MAX_FILE);
		goto out;
	}
	out->cap = SW_TZ_MAX_FILE;
	if (buf_add_fd(out, fd) < 0) {
		rc = sw_errf(err, -1, "time zone \"%s\": reading %s: %s", name, path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(rdir);
	free(rpath);
	return rc;
}

int sw_tz_load(struct sw_tz **out, const char *dir, const char *name, struct sw_err *err)
{
	struct buf path = BUF_INIT, data = BUF_INIT;
	int rc;

	*out = NULL;
	if ((rc = sw_tz_name_check(name, err)) < 0)
		return rc;
	if (strcmp(name, "UTC") == 0) {
		*out = utc_new();
		return 0;
	}
	dir = dir ? dir : SW_TZ_DIR;
	buf_addf(&path, "%s/%s", dir, name);
	rc = read_zone_file(&data, dir, path.s, name, err);
	if (rc == 0) {
		struct buf label = BUF_INIT;
		buf_addf(&label, "time zone \"%s\": %s", name, path.s);
		rc = parse_tzif(out, name, label.s, data.s, data.len, err);
		buf_release(&label);
	}
	buf_release(&path);
	buf_release(&data);
	return rc;
}

void sw_tz_free(struct sw_tz *tz)
{
	if (!tz)
		return;
	free(tz->name);
	free(tz->trans);
	free(tz->idx);
	free(tz->types);
	free(tz->chars);
	free(tz);
}

const char *sw_tz_name(const struct sw_tz *tz)
{
	return tz ? tz->name : "UTC";
}

static void type_state(const struct sw_tz *tz, size_t type, struct sw_tz_period *out)
{
	const struct tz_type *ty = &tz->types[type];
	out->utoff = ty->utoff;
	out->isdst = ty->isdst;
	sw_strlcpy(out->abbr, tz->chars + ty->abbr, sizeof(out->abbr));
}

void sw_tz_period(struct sw_tz_period *out, const struct sw_tz *tz, int64_t t)
{
	if (!tz) {
		*out = (struct sw_tz_period){INT64_MIN, INT64_MAX, 0, false, "UTC"};
		return;
	}
	size_t n = tz->n;
	if (n == 0 || t >= tz->trans[n - 1]) {
		int64_t last = n ? tz->trans[n - 1] : INT64_MIN;
		if (tz->rule.present) {
			rule_period(&tz->rule, t, out);
			if (out->start < last)
				out->start = last;
		} else {
			type_state(tz, n ? tz->idx[n - 1] : 0, out);
			out->start = last;
			out->end = INT64_MAX;
		}
		return;
	}
	if (t < tz->trans[0]) {
		type_state(tz, 0, out);
		out->start = INT64_MIN;
		out->end = tz->trans[0];
		return;
	}
	size_t lo = 0, hi = n - 1; /* trans[lo] <= t < trans[hi] */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (tz->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	type_state(tz, tz->idx[lo], out);
	out->start = tz->trans[lo];
	out->end = tz->trans[hi];
}

int32_t sw_tz_utoff(const struct sw_tz *tz, int64_t t)
{
	struct sw_tz_period p;
	sw_tz_period(&p, tz, t);
	return p.utoff;
}
