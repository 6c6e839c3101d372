/*
 * proxy metrics: the numbers a rollout is judged by. Success rate counts
 * the proxy's own errors; percentiles are right to a bucket; windows
 * forget exactly what is older than they are; the Prometheus text parses.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/metrics.h"
#include "core/core.h"

/* This cmocka has no assert_double_equal. */
#define assert_double_equal(a, b, eps) assert_close((a), (b), (eps), __FILE__, __LINE__)
static void assert_close(double a, double b, double eps, const char *file, int line)
{
	if (!(fabs(a - b) <= eps))
		fail_msg("%s:%d: %.17g != %.17g (within %g)", file, line, a, b, eps);
}

#define S(x) ((uint64_t)(x) * 1000) /* seconds → ms */

static void end(struct metrics *m, int status, uint64_t latency_us, uint64_t now_ms)
{
	metrics_end(m, "hello", 2, status, false, latency_us, 10, 100, now_ms);
}

static void test_proxy_metrics__classes_and_success_rate(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_window w;
	static const int statuses[] = {101, 200, 204, 299, 301, 404, 499, 500, 502};
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		end(m, statuses[i], 1000, S(10));
	metrics_end(m, "hello", 2, 503, true, 10, 0, 0, S(10));  /* no backend */
	metrics_end(m, "hello", 2, 0, true, 10, 0, 0, S(10));    /* failed, no status */
	metrics_end(m, "hello", 2, 431, true, 10, 0, 0, S(10));  /* the client's fault */
	metrics_end(m, "hello", 2, 700, false, 10, 0, 0, S(10)); /* nonsense */

	metrics_window(m, "hello", 2, 60, S(10) + 500, &w);
	assert_int_equal(w.requests, 13);
	assert_int_equal(w.by_class[METRICS_1XX], 1);
	assert_int_equal(w.by_class[METRICS_2XX], 3);
	assert_int_equal(w.by_class[METRICS_3XX], 1);
	assert_int_equal(w.by_class[METRICS_4XX], 3);
	assert_int_equal(w.by_class[METRICS_5XX], 2);
	assert_int_equal(w.by_class[METRICS_PROXY_ERR], 3);
	assert_int_equal(w.bytes_in, 90);
	assert_int_equal(w.bytes_out, 900);
	assert_double_equal(w.success_rate, 8.0 / 13.0, 1e-12);
	assert_double_equal(w.error_rate, 5.0 / 13.0, 1e-12);

	/* another revision and another app are separate series */
	metrics_window(m, "hello", 3, 60, S(10), &w);
	assert_int_equal(w.requests, 0);
	assert_true(isnan(w.success_rate) && isnan(w.error_rate) && isnan(w.p99_ms));
	assert_int_equal(w.rate, 0);
	metrics_window(m, "other", 2, 60, S(10), &w);
	assert_int_equal(w.requests, 0);
	metrics_free(m);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* R of the histogram: a percentile is within one bucket of the truth. */
#define BUCKET_RATIO 1.2392

static void check_quantiles(const double *sorted, size_t n, const struct metrics_window *w,
			    double tolerance)
{
	static const double qs[] = {0.50, 0.90, 0.95, 0.99};
	const double got[] = {w->p50_ms, w->p90_ms, w->p95_ms, w->p99_ms};
	for (size_t i = 0; i < 4; i++) {
		size_t rank = (size_t)ceil(qs[i] * (double)n);
		double truth = sorted[rank - 1];
		if (fabs(got[i] - truth) > tolerance * truth)
			fail_msg("p%g: want %g ms (within %g%%), got %g ms", qs[i] * 100, truth,
				 tolerance * 100, got[i]);
	}
}

static uint64_t rnd_state = 42;
static double rnd01(void)
{
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	z ^= z >> 31;
	return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static void test_proxy_metrics__percentiles_within_bucket(void **state)
{
	/* uniform 1..1000 ms: interpolation gets within a few % */
	struct metrics *m = metrics_new();
	struct metrics_window w;
	double v[1000];
	for (size_t i = 0; i < 1000; i++) {
		v[i] = (double)(i + 1);
		end(m, 200, (uint64_t)(i + 1) * 1000, S(5) + i % 1000);
	}
	metrics_window(m, "hello", 2, 10, S(5) + 999, &w);
	check_quantiles(v, 1000, &w, 0.05);
	metrics_free(m);

	/* log-normal around 20 ms, spread over 30 seconds */
	m = metrics_new();
	size_t n = 20000;
	double *ln = calloc(n, sizeof(*ln));
	for (size_t i = 0; i < n; i++) {
		double z = sqrt(-2 * log(rnd01())) * cos(2 * M_PI * rnd01());
		uint64_t us = (uint64_t)llround(20000.0 * exp(0.8 * z));
		ln[i] = (double)us / 1000.0;
		end(m, 200, us, S(100) + i * 30000 / n);
	}
	qsort(ln, n, sizeof(*ln), cmp_double);
	metrics_window(m, "hello", 2, 60, S(130), &w);
	assert_int_equal(w.requests, n);
	check_quantiles(ln, n, &w, BUCKET_RATIO - 1);
	check_quantiles(ln, n, &w, 0.05);
	free(ln);
	metrics_free(m);

	/* a point mass: the answer lies in the bucket of the value */
	m = metrics_new();
	for (size_t i = 0; i < 100; i++)
		end(m, 200, 5000, S(1));
	metrics_window(m, "hello", 2, 1, S(1), &w);
	assert_true(w.p50_ms > 5.0 / BUCKET_RATIO && w.p50_ms < 5.0 * BUCKET_RATIO);
	assert_true(w.p99_ms > 5.0 / BUCKET_RATIO && w.p99_ms < 5.0 * BUCKET_RATIO);
	/* under 0.1 ms and over 60 s */
	metrics_free(m);
	m = metrics_new();
	end(m, 200, 0, S(1));
	metrics_window(m, "hello", 2, 1, S(1), &w);
	assert_true(w.p50_ms >= 0 && w.p50_ms <= 0.1);
	end(m, 200, 3600ull * 1000000, S(1));
	end(m, 200, 3600ull * 1000000, S(1));
	metrics_window(m, "hello", 2, 1, S(1), &w);
	assert_double_equal(w.p99_ms, 60000.0, 1e-9);
	metrics_free(m);
}

static void test_proxy_metrics__window_boundaries(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_window w;
	end(m, 200, 1000, S(1000));       /* second 1000 */
	end(m, 500, 1000, S(1000) + 999); /* second 1000 */
	end(m, 200, 1000, S(1001));       /* second 1001 */

	metrics_window(m, "hello", 2, 300, S(1299) + 999, &w);
	assert_int_equal(w.requests, 3);
	metrics_window(m, "hello", 2, 300, S(1300), &w); /* second 1000 is 300 s ago */
	assert_int_equal(w.requests, 1);
	metrics_window(m, "hello", 2, 300, S(1301), &w); /* 301 s ago: all gone */
	assert_int_equal(w.requests, 0);
	assert_true(isnan(w.success_rate));

	/* short windows */
	metrics_window(m, "hello", 2, 1, S(1001) + 500, &w);
	assert_int_equal(w.requests, 1);
	metrics_window(m, "hello", 2, 2, S(1001) + 500, &w);
	assert_int_equal(w.requests, 3);
	assert_double_equal(w.success_rate, 2.0 / 3.0, 1e-12);
	metrics_window(m, "hello", 2, 1, S(1002), &w);
	assert_int_equal(w.requests, 0);
	/* out-of-range window lengths are clamped */
	metrics_window(m, "hello", 2, 0, S(1001), &w);
	assert_int_equal(w.requests, 1);
	metrics_window(m, "hello", 2, 100000, S(1001), &w);
	assert_int_equal(w.requests, 3);
	/* early in the clock: windows longer than the time since 0 */
	metrics_free(m);
	m = metrics_new();
	end(m, 200, 1, 0);
	metrics_window(m, "hello", 2, 300, 10, &w);
	assert_int_equal(w.requests, 1);
	metrics_free(m);
}

static void test_proxy_metrics__slot_reuse(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_window w;
	for (int i = 0; i < 5; i++)
		end(m, 500, 1000, S(5));
	end(m, 200, 1000, S(305)); /* same slot, 300 s later: the old second is reset */
	metrics_window(m, "hello", 2, 300, S(305), &w);
	assert_int_equal(w.requests, 1);
	assert_int_equal(w.by_class[METRICS_5XX], 0);
	/* a report 300 s late does not wipe the newer second */
	end(m, 500, 1000, S(5));
	metrics_window(m, "hello", 2, 300, S(305), &w);
	assert_int_equal(w.requests, 1);
	assert_int_equal(w.by_class[METRICS_2XX], 1);
	/* it still counts in the totals */
	struct buf b = BUF_INIT;
	metrics_prometheus(m, &b);
	assert_non_null(strstr(b.s, "slipway_requests_total{app=\"hello\",revision=\"2\",class=\"5xx\"} 6\n"));
	buf_release(&b);

	/* a full lap of the ring with one request a second */
	for (uint64_t s = 1000; s < 1600; s++)
		end(m, 200, 1000, S(s) + 123);
	metrics_window(m, "hello", 2, 300, S(1599) + 500, &w);
	assert_int_equal(w.requests, 300);
	metrics_window(m, "hello", 2, 10, S(1599) + 500, &w);
	assert_int_equal(w.requests, 10);
	metrics_free(m);
}

static void test_proxy_metrics__rate_covers_real_time(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_window w;
	/* 100 requests a second, evenly, from second 50 to 80.5 */
	for (uint64_t ms = S(50); ms < S(80) + 500; ms += 10)
		end(m, 200, 1000, ms);
	metrics_window(m, "hello", 2, 10, S(80) + 500, &w);
	assert_int_equal(w.requests, 950);
	assert_double_equal(w.rate, 100.0, 1e-9);
	/* a series younger than the window: over its own life */
	metrics_window(m, "hello", 2, 300, S(80) + 500, &w);
	assert_int_equal(w.requests, 3050);
	assert_double_equal(w.rate, 100.0, 1e-9);
	/* at least one second */
	metrics_free(m);
	m = metrics_new();
	for (int i = 0; i < 5; i++)
		end(m, 200, 1000, S(7));
	metrics_window(m, "hello", 2, 60, S(7) + 10, &w);
	assert_double_equal(w.rate, 5.0, 1e-9);
	metrics_free(m);
}

static void test_proxy_metrics__in_flight(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_window w;
	metrics_begin(m, "hello", 2);
	metrics_begin(m, "hello", 2);
	metrics_begin(m, "hello", 2);
	metrics_begin(m, "hello", 3);
	metrics_window(m, "hello", 2, 10, S(1), &w);
	assert_int_equal(w.inflight, 3);
	assert_int_equal(w.requests, 0);
	end(m, 200, 10, S(1));
	metrics_window(m, "hello", 2, 10, S(1), &w);
	assert_int_equal(w.inflight, 2);
	assert_int_equal(w.requests, 1);
	end(m, 200, 10, S(1));
	end(m, 200, 10, S(1));
	end(m, 200, 10, S(1)); /* an end without a begin does not go negative */
	metrics_window(m, "hello", 2, 10, S(1), &w);
	assert_int_equal(w.inflight, 0);
	metrics_window(m, "hello", 3, 10, S(1), &w);
	assert_int_equal(w.inflight, 1);
	metrics_free(m);
}

static void test_proxy_metrics__samples_bounded(void **state)
{
	struct metrics *m = metrics_new(), *m2 = metrics_new();
	double out[1000], out2[1000];
	size_t n;
	/* 1000 requests a second for 10 seconds; latency i us */
	for (uint64_t s = 0; s < 10; s++)
		for (uint64_t i = 0; i < 1000; i++) {
			end(m, 200, 1000 + i, S(100 + s) + i);
			end(m2, 200, 1000 + i, S(100 + s) + i);
		}
	n = metrics_samples(m, "hello", 2, 1, S(109) + 999, out, 1000);
	assert_int_equal(n, METRICS_SAMPLES_PER_SLOT);
	/* the reservoir is not just the first 64 of the second */
	size_t late = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(out[i] >= 1.0 * 0.999 && out[i] <= 1.999 * 1.001);
		late += out[i] > 1.1;
	}
	assert_true(late > n / 2);
	n = metrics_samples(m, "hello", 2, 60, S(109) + 999, out, 1000);
	assert_int_equal(n, 10 * METRICS_SAMPLES_PER_SLOT);
	/* deterministic: the same calls keep the same samples */
	assert_int_equal(metrics_samples(m2, "hello", 2, 60, S(109) + 999, out2, 1000), n);
	assert_memory_equal(out, out2, n * sizeof(double));
	/* max is respected and spread over the whole window */
	n = metrics_samples(m, "hello", 2, 60, S(109) + 999, out, 100);
	assert_int_equal(n, 100);
	assert_int_equal(metrics_samples(m, "hello", 2, 60, S(109) + 999, out, 0), 0);
	assert_int_equal(metrics_samples(m, "nope", 2, 60, S(109) + 999, out, 10), 0);
	metrics_free(m);
	metrics_free(m2);

	/* few requests: every latency is kept, to 0.05 % */
	m = metrics_new();
	static const uint64_t lat[] = {0, 1, 100, 1234, 56789, 1000000, 59000000};
	for (size_t i = 0; i < sizeof(lat) / sizeof(lat[0]); i++)
		end(m, 200, lat[i], S(3));
	n = metrics_samples(m, "hello", 2, 1, S(3), out, 1000);
	assert_int_equal(n, sizeof(lat) / sizeof(lat[0]));
	for (size_t i = 0; i < n; i++)
		assert_double_equal(out[i], lat[i] / 1000.0, 0.0005 * (lat[i] / 1000.0) + 1e-6);
	metrics_free(m);
}

static void test_proxy_metrics__error_series(void **state)
{
	struct metrics *m = metrics_new();
	double out[300];
	size_t n;
	end(m, 200, 10, S(10));
	end(m, 200, 10, S(10));
	end(m, 500, 10, S(11));
	end(m, 200, 10, S(11));
	/* second 12: nothing */
	metrics_end(m, "hello", 2, 503, true, 10, 0, 0, S(13));
	n = metrics_error_series(m, "hello", 2, 10, S(13) + 1, out, 300);
	assert_int_equal(n, 3);
	assert_double_equal(out[0], 0.0, 0);
	assert_double_equal(out[1], 0.5, 0);
	assert_double_equal(out[2], 1.0, 0);
	/* the newest when there are more than max */
	n = metrics_error_series(m, "hello", 2, 10, S(13) + 1, out, 2);
	assert_int_equal(n, 2);
	assert_double_equal(out[0], 0.5, 0);
	assert_double_equal(out[1], 1.0, 0);
	/* the window limits it */
	n = metrics_error_series(m, "hello", 2, 2, S(13), out, 300);
	assert_int_equal(n, 1);
	assert_int_equal(metrics_error_series(m, "hello", 9, 10, S(13), out, 300), 0);
	metrics_free(m);
}

static void test_proxy_metrics__json_nan_is_null(void **state)
{
	struct metrics *m = metrics_new();
	metrics_begin(m, "b-app", 1); /* no finished request: NaNs */
	end(m, 200, 2000, S(20));
	end(m, 503, 2000, S(20));
	json_t *j = metrics_json(m, 30, S(20) + 500);
	char *text = json_dumps(j, JSON_COMPACT);
	assert_non_null(text);
	assert_null(strstr(text, "nan"));
	assert_int_equal(json_integer_value(json_object_get(j, "windowSeconds")), 30);
	json_t *series = json_object_get(j, "series");
	assert_int_equal(json_array_size(series), 2);

	json_t *b = json_array_get(series, 0);
	assert_string_equal(json_string_value(json_object_get(b, "app")), "b-app");
	assert_true(json_is_null(json_object_get(b, "successRate")));
	assert_true(json_is_null(json_object_get(b, "p99Ms")));
	assert_int_equal(json_integer_value(json_object_get(b, "inflight")), 1);

	json_t *h = json_array_get(series, 1);
	assert_string_equal(json_string_value(json_object_get(h, "app")), "hello");
	assert_int_equal(json_integer_value(json_object_get(h, "revision")), 2);
	assert_int_equal(json_integer_value(json_object_get(h, "requests")), 2);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(h, "byClass"), "5xx")), 1);
	assert_double_equal(json_real_value(json_object_get(h, "successRate")), 0.5, 1e-12);

	/* and back */
	struct metrics_window w, w2;
	assert_int_equal(metrics_window_from_json(b, &w), 0);
	assert_true(isnan(w.success_rate) && isnan(w.p50_ms));
	assert_int_equal(w.inflight, 1);
	assert_int_equal(metrics_window_from_json(h, &w), 0);
	metrics_window(m, "hello", 2, 30, S(20) + 500, &w2);
	assert_int_equal(w.requests, w2.requests);
	assert_memory_equal(w.by_class, w2.by_class, sizeof(w.by_class));
	assert_double_equal(w.p99_ms, w2.p99_ms, 1e-9);
	assert_double_equal(w.rate, w2.rate, 1e-9);
	assert_int_equal(metrics_window_from_json(json_object_get(h, "byClass"), &w), -1);

	free(text);
	json_decref(j);
	metrics_free(m);
}

/* --- Prometheus text, parsed back ----------------------------------------- */

struct sample {
	char name[128];
	char labels[8][2][128]; /* name, unescaped value */
	size_t nlabels;
	double value;
};

static bool is_name_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' || (!first && isdigit((unsigned char)c));
}

/* Parses `name{l="v",...} value`; fails the test on any format error. */
static void parse_sample(const char *line, struct sample *s)
{
	const char *p = line;
	size_t n = 0;
	memset(s, 0, sizeof(*s));
	if (!is_name_char(*p, true))
		fail_msg("bad metric name: %s", line);
	while (is_name_char(*p, n == 0) && n < sizeof(s->name) - 1)
		s->name[n++] = *p++;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			char *ln = s->labels[s->nlabels][0], *lv = s->labels[s->nlabels][1];
			n = 0;
			if (!is_name_char(*p, true))
				fail_msg("bad label name: %s", line);
			while (is_name_char(*p, n == 0))
				ln[n++] = *p++;
			if (p[0] != '=' || p[1] != '"')
				fail_msg("bad label: %s", line);
			p += 2;
			n = 0;
			while (*p != '"') {
				if (!*p)
					fail_msg("unterminated label value: %s", line);
				if (*p == '\\') {
					p++;
					if (*p == 'n')
						lv[n++] = '\n';
					else if (*p == '\\' || *p == '"')
						lv[n++] = *p;
					else
						fail_msg("bad escape: %s", line);
					p++;
				} else {
					lv[n++] = *p++;
				}
			}
			p++;
			s->nlabels++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				fail_msg("bad label list: %s", line);
		}
		p++;
	}
	if (*p != ' ')
		fail_msg("no space before the value: %s", line);
	p++;
	char *endp;
	if (strcmp(p, "+Inf") == 0)
		s->value = INFINITY;
	else {
		s->value = strtod(p, &endp);
		if (endp == p || *endp)
			fail_msg("bad value: %s", line);
	}
}

static const char *label(const struct sample *s, const char *name)
{
	for (size_t i = 0; i < s->nlabels; i++)
		if (strcmp(s->labels[i][0], name) == 0)
			return s->labels[i][1];
	return NULL;
}

/* The family a sample name belongs to, given the TYPE. */
static bool in_family(const char *name, const char *family, const char *type)
{
	size_t n = strlen(family);
	if (strncmp(name, family, n) != 0)
		return false;
	if (name[n] == '\0')
		return true;
	return strcmp(type, "histogram") == 0 &&
	       (strcmp(name + n, "_bucket") == 0 || strcmp(name + n, "_sum") == 0 ||
		strcmp(name + n, "_count") == 0);
}

static void test_proxy_metrics__prometheus_text_parses(void **state)
{
	struct metrics *m = metrics_new();
	const char *weird = "we\"ird\\app\nx";
	for (int i = 0; i < 10; i++)
		end(m, 200, 1000 * (uint64_t)(i + 1), S(1));
	metrics_end(m, "hello", 2, 502, true, 70ull * 1000000, 5, 0, S(1)); /* over 60 s */
	metrics_end(m, weird, 7, 404, false, 50, 1, 2, S(1));
	metrics_begin(m, "hello", 3);

	struct buf b = BUF_INIT;
	metrics_prometheus(m, &b);
	assert_true(b.len > 0 && b.s[b.len - 1] == '\n');

	char family[128] = "", type[32] = "", help_for[128] = "";
	size_t families = 0, samples = 0, seen_done = 0;
	char done[16][128];
	double last_le = -1, last_cum = -1, inf_cum = -1, count = -1, sum = -1;
	bool saw_weird = false;
	char *text = xstrdup(b.s), *next = NULL;
	for (char *line = text; *line; line = next) {
		char *nl = strchr(line, '\n');
		assert_non_null(nl); /* every line ends with a newline */
		*nl = '\0';
		next = nl + 1;
		assert_true(line[0] != '\0'); /* no empty lines */
		if (strncmp(line, "# HELP ", 7) == 0) {
			sscanf(line + 7, "%127s", help_for);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char name[128], t[32];
			assert_int_equal(sscanf(line + 7, "%127s %31s", name, t), 2);
			assert_string_equal(name, help_for); /* HELP comes first */
			assert_true(strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 ||
				    strcmp(t, "histogram") == 0);
			/* a family appears once */
			for (size_t i = 0; i < seen_done; i++)
				assert_string_not_equal(done[i], name);
			sw_strlcpy(done[seen_done++], name, sizeof(done[0]));
			sw_strlcpy(family, name, sizeof(family));
			sw_strlcpy(type, t, sizeof(type));
			families++;
			continue;
		}
		assert_int_not_equal(line[0], '#');
		struct sample s;
		parse_sample(line, &s);
		samples++;
		if (!in_family(s.name, family, type))
			fail_msg("sample %s outside its family (%s)", s.name, family);
		if (strncmp(s.name, "slipway_proxy_", 14) == 0)
			continue; /* the proxy's own figures: no app, no revision */
		assert_non_null(label(&s, "app"));
		assert_non_null(label(&s, "revision"));
		if (strcmp(label(&s, "app"), weird) == 0) {
			saw_weird = true;
			assert_string_equal(label(&s, "revision"), "7");
		}
		if (strcmp(type, "counter") == 0 || strcmp(type, "histogram") == 0)
			assert_true(s.value >= 0);
		if (strcmp(label(&s, "app"), "hello") != 0 || strcmp(label(&s, "revision"), "2") != 0)
			continue;
		/* hello/2: 11 requests, one over 60 s */
		if (strcmp(s.name, "slipway_request_duration_seconds_bucket") == 0) {
			const char *le = label(&s, "le");
			assert_non_null(le);
			double lev = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
			assert_true(lev > last_le);
			assert_true(s.value >= last_cum);
			last_le = lev;
			last_cum = s.value;
			if (isinf(lev))
				inf_cum = s.value;
			if (lev == 60.0)
				assert_double_equal(s.value, 10, 0);
			if (lev == 0.0001)
				assert_double_equal(s.value, 0, 0);
		} else if (strcmp(s.name, "slipway_request_duration_seconds_count") == 0) {
			count = s.value;
		} else if (strcmp(s.name, "slipway_request_duration_seconds_sum") == 0) {
			sum = s.value;
		} else if (strcmp(s.name, "slipway_requests_total") == 0) {
			const char *c = label(&s, "class");
			assert_non_null(c);
			if (strcmp(c, "2xx") == 0)
				assert_double_equal(s.value, 10, 0);
			if (strcmp(c, "proxy_error") == 0)
				assert_double_equal(s.value, 1, 0);
		} else if (strcmp(s.name, "slipway_bytes_received_total") == 0) {
			assert_double_equal(s.value, 105, 0);
		}
	}
	assert_int_equal(families, 5 + 4); /* + the proxy's connection figures */
	assert_true(saw_weird);
	assert_double_equal(inf_cum, 11, 0);
	assert_double_equal(count, 11, 0);
	assert_double_equal(sum, 0.055 + 70, 1e-9);
	/* 3 series: 6 classes + 64 buckets + sum + count + in-flight + 2 bytes */
	assert_int_equal(samples, 3 * (6 + 64 + 2 + 1 + 2) + 5);
	assert_non_null(strstr(b.s, "slipway_requests_in_flight{app=\"hello\",revision=\"3\"} 1\n"));
	assert_non_null(strstr(b.s, "app=\"we\\\"ird\\\\app\\nx\""));
	free(text);
	buf_release(&b);

	/* empty: only HELP and TYPE lines, and the proxy's own figures */
	metrics_free(m);
	m = metrics_new();
	metrics_prometheus(m, &b);
	for (const char *p = b.s; *p; p = strchr(p, '\n') + 1)
		assert_true(*p == '#' || strncmp(p, "slipway_proxy_", 14) == 0);
	buf_release(&b);
	metrics_free(m);
}

static void test_proxy_metrics__forget(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_window w;
	end(m, 200, 10, S(1));
	metrics_end(m, "hello", 3, 200, false, 10, 0, 0, S(1));
	assert_int_equal(metrics_series_count(m), 2);
	metrics_forget(m, "hello", 2);
	metrics_forget(m, "hello", 99); /* unknown: nothing */
	metrics_forget(m, "nope", 2);
	assert_int_equal(metrics_series_count(m), 1);
	metrics_window(m, "hello", 2, 10, S(1), &w);
	assert_int_equal(w.requests, 0);
	metrics_window(m, "hello", 3, 10, S(1), &w);
	assert_int_equal(w.requests, 1);
	json_t *j = metrics_json(m, 10, S(1));
	assert_int_equal(json_array_size(json_object_get(j, "series")), 1);
	json_decref(j);
	/* a later report starts afresh */
	end(m, 200, 10, S(2));
	metrics_window(m, "hello", 2, 10, S(2), &w);
	assert_int_equal(w.requests, 1);
	metrics_free(m);
}

static void test_proxy_metrics__many_series_bounded(void **state)
{
	struct metrics *m = metrics_new();
	char app[32];
	assert_true(metrics_series_bytes() < 150 * 1024);
	for (int a = 0; a < 100; a++)
		for (int r = 1; r <= 5; r++) {
			snprintf(app, sizeof(app), "app-%d", a);
			for (int k = 0; k < r; k++)
				metrics_end(m, app, r, 200, false, 10, 0, 0, S(1) + (uint64_t)k);
		}
	assert_int_equal(metrics_series_count(m), 500);
	assert_true(metrics_memory(m) <= 500 * (metrics_series_bytes() + 64) + 64 * 1024);
	for (int a = 0; a < 100; a++)
		for (int r = 1; r <= 5; r++) {
			struct metrics_window w;
			snprintf(app, sizeof(app), "app-%d", a);
			metrics_window(m, app, r, 10, S(1), &w);
			assert_int_equal(w.requests, (uint64_t)r);
		}
	/* forgetting half keeps the others reachable */
	for (int a = 0; a < 100; a += 2)
		for (int r = 1; r <= 5; r++) {
			snprintf(app, sizeof(app), "app-%d", a);
			metrics_forget(m, app, r);
		}
	assert_int_equal(metrics_series_count(m), 250);
	struct metrics_window w;
	metrics_window(m, "app-99", 5, 10, S(1), &w);
	assert_int_equal(w.requests, 5);
	metrics_free(m);
}

/* The proxy's workers (`--workers N`) record into one metrics object
 * from their threads: nothing is lost, so each revision's totals and
 * windows are the sum over the workers. */
#define PER_THREAD 300000

struct recorder {
	struct metrics *m;
	pthread_barrier_t *go;
};

static void *record(void *arg)
{
	struct recorder *r = arg;
	pthread_barrier_wait(r->go); /* both at once: the same counters, concurrently */
	for (int i = 0; i < PER_THREAD; i++) {
		metrics_begin(r->m, "hello", 1);
		metrics_end(r->m, "hello", 1, 200, false, 1000 + (uint64_t)i % 5000, 10, 100,
			    S(10) + (uint64_t)(i % 3) * 1000);
	}
	return NULL;
}

static void test_proxy_metrics__workers_threads_sum(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, 2);
	struct recorder r[2] = {{m, &go}, {m, &go}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, record, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	struct metrics_window w;
	metrics_window(m, "hello", 1, 10, S(12), &w);
	assert_int_equal(w.requests, 2 * PER_THREAD);
	assert_int_equal(w.by_class[METRICS_2XX], 2 * PER_THREAD);
	assert_int_equal(w.bytes_in, 2 * PER_THREAD * 10);
	assert_int_equal(w.inflight, 0);
	struct buf out = BUF_INIT;
	metrics_prometheus(m, &out);
	assert_non_null(strstr(buf_str(&out), "slipway_requests_total{app=\"hello\",revision=\"1\",class=\"2xx\"} 600000\n"));
	assert_non_null(strstr(buf_str(&out), "slipway_request_duration_seconds_count{app=\"hello\",revision=\"1\"} 600000\n"));
	buf_release(&out);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proxy_metrics__classes_and_success_rate),
		cmocka_unit_test(test_proxy_metrics__percentiles_within_bucket),
		cmocka_unit_test(test_proxy_metrics__window_boundaries),
		cmocka_unit_test(test_proxy_metrics__slot_reuse),
		cmocka_unit_test(test_proxy_metrics__rate_covers_real_time),
		cmocka_unit_test(test_proxy_metrics__in_flight),
		cmocka_unit_test(test_proxy_metrics__samples_bounded),
		cmocka_unit_test(test_proxy_metrics__error_series),
		cmocka_unit_test(test_proxy_metrics__json_nan_is_null),
		cmocka_unit_test(test_proxy_metrics__prometheus_text_parses),
		cmocka_unit_test(test_proxy_metrics__forget),
		cmocka_unit_test(test_proxy_metrics__many_series_bounded),
		cmocka_unit_test(test_proxy_metrics__workers_threads_sum),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
