#include "core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sw_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "slipway: assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

int sw_errf(struct sw_err *err, int code, const char *fmt, ...)
{
	if (!err || err->msg[0])
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = code;
	return code;
}

void sw_err_clear(struct sw_err *err)
{
	err->code = 0;
	err->msg[0] = '\0';
}

int sw_err_isset(const struct sw_err *err)
{
	return err->msg[0] != '\0';
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		abort();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		abort();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		abort();
	return p;
}

size_t sw_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);
	if (size) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

uint64_t sw_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t sw_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sw_format_time(char *out, size_t size, int64_t wall_ms)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char base[32];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%03dZ", base, (int)(wall_ms % 1000));
}

int sw_duration_parse(const char *s, uint64_t *out_ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	double total = 0;
	const char *p = s;

	if (!s || !*s)
		return -1;
	while (*p) {
		/* digits, optionally "." digits; nothing else (no exponents, hex) */
		double v = 0, scale = 1;
		if (!(*p >= '0' && *p <= '9'))
			return -1;
		for (; *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (*p - '0');
		if (*p == '.') {
			p++;
			if (!(*p >= '0' && *p <= '9'))
				return -1;
			for (; *p >= '0' && *p <= '9'; p++) {
				scale /= 10;
				v += (*p - '0') * scale;
			}
		}
		size_t best = 0;
		double mul = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].unit);
			if (strncmp(p, units[i].unit, n) == 0 && n > best) {
				best = n;
				mul = units[i].ms;
			}
		}
		if (!best)
			return -1;
		p += best;
		total += v * mul;
		if (!isfinite(total) || total > 1e15)
			return -1;
	}
	*out_ms = (uint64_t)(total + 0.5);
	return 0;
}

void sw_duration_format(char *out, size_t size, uint64_t ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
	size_t n = 0;
	if (size == 0)
		return;
	out[0] = '\0';
	if (ms == 0) {
		snprintf(out, size, "0s");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && n < size; i++) {
		uint64_t k = ms / units[i].ms;
		if (!k)
			continue;
		ms -= k * units[i].ms;
		int w = snprintf(out + n, size - n, "%llu%s", (unsigned long long)k, units[i].unit);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

size_t sw_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = prev + cost;
			if (row[j] + 1 < v)
				v = row[j] + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			row[j] = v;
			prev = cur;
		}
	}
	return row[lb];
}

void sw_log(const char *level, const char *fmt, ...)
{
	char ts[40];
	sw_format_time(ts, sizeof(ts), sw_wall_ms());
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s %s ", ts, level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
