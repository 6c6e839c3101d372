/*
 * What sync windows cost (core/window.h, cron.h, tz.h): loading a zone,
 * parsing an expression, one next match, and sw_window_check for lists an
 * Environment may hold, at ROUNDS (2,000) instants spread over 2024-2026
 * (a tenth of them within hours of a DST change). Prints the median and
 * the 99th percentile of each, in microseconds.
 *   bench/cron.sh [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/window.h"

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, double *us, size_t n)
{
	qsort(us, n, sizeof(*us), cmp);
	printf("%-58s median %9.2f us   p99 %9.2f us\n", what, us[n / 2], us[n * 99 / 100]);
}

static struct sw_tz *zone(const char *name)
{
	struct sw_tz *tz = NULL;
	struct sw_err err = {0};
	if (strcmp(name, "UTC") != 0 && sw_tz_load(&tz, NULL, name, &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	return tz;
}

struct spec {
	int kind;
	const char *schedule, *duration, *zone;
};

static size_t make(struct sw_window *w, const struct spec *s)
{
	size_t n = 0;
	for (; s[n].schedule; n++) {
		struct sw_err err = {0};
		w[n] = (struct sw_window){s[n].kind, {0}, 0, zone(s[n].zone)};
		if (sw_cron_parse(&w[n].schedule, s[n].schedule, &err) != 0 ||
		    sw_duration_parse(s[n].duration, &w[n].duration_ms) != 0) {
			fprintf(stderr, "bad window %s: %s\n", s[n].schedule, err.msg);
			exit(1);
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	size_t rounds = argc > 1 ? (size_t)atol(argv[1]) : 2000;
	double *us = calloc(rounds, sizeof(*us));
	int64_t *at = calloc(rounds, sizeof(*at));
	const int64_t from = 1704067200; /* 2024-01-01 */
	struct sw_tz *berlin = zone("Europe/Berlin");

	for (size_t i = 0; i < rounds; i++) {
		/* spread over three years by a multiplicative hash of i */
		at[i] = from + (int64_t)((i * 2654435761u) % (3u * 365 * 86400));
		if (i % 10 == 0) {
			struct sw_tz_period p;
			sw_tz_period(&p, berlin, at[i]);
			at[i] = p.end - 3600 + (int64_t)(i * 37 % 7200);
		}
	}

	for (size_t i = 0; i < rounds; i++) {
		int64_t t0 = now_ns();
		struct sw_tz *tz = zone(i % 2 ? "America/New_York" : "Europe/Berlin");
		us[i] = (double)(now_ns() - t0) / 1000;
		sw_tz_free(tz);
	}
	report("sw_tz_load (Berlin, New York; file read and parsed)", us, rounds);
	for (size_t i = 0; i < rounds; i++) {
		struct sw_cron c;
		int64_t t0 = now_ns();
		sw_cron_parse(&c, "0,30 9-17/2 1-15,20 jan-mar,oct mon-fri", NULL);
		us[i] = (double)(now_ns() - t0) / 1000;
	}
	report("sw_cron_parse \"0,30 9-17/2 1-15,20 jan-mar,oct mon-fri\"", us, rounds);

	static const struct {
		const char *expr, *zone;
	} nexts[] = {{"0 22 * * 5", "Europe/Berlin"}, {"*/15 * * * *", "UTC"}, {"30 2 * * *", "Europe/Berlin"},
		     {"0 0 29 2 *", "UTC"}, {"0 9 13 * 5", "America/New_York"}};
	for (size_t k = 0; k < sizeof(nexts) / sizeof(nexts[0]); k++) {
		struct sw_cron c;
		struct sw_tz *tz = zone(nexts[k].zone);
		char what[128];
		sw_cron_parse(&c, nexts[k].expr, NULL);
		for (size_t i = 0; i < rounds; i++) {
			int64_t n, t0 = now_ns();
			sw_cron_next(&n, &c, tz, at[i]);
			us[i] = (double)(now_ns() - t0) / 1000;
		}
		snprintf(what, sizeof(what), "sw_cron_next \"%s\" %s", nexts[k].expr, nexts[k].zone);
		report(what, us, rounds);
		sw_tz_free(tz);
	}

	static const struct spec argo[] = {{SW_WINDOW_DENY, "0 22 * * 5", "60h", "Europe/Berlin"}, {0}};
	static const struct spec office[] = {{SW_WINDOW_ALLOW, "0 9 * * 1-5", "8h", "Europe/Berlin"},
					     {SW_WINDOW_DENY, "0 12 * * *", "1h", "Europe/Berlin"},
					     {SW_WINDOW_DENY, "0 0 24-26 12 *", "24h", "Europe/Berlin"}, {0}};
	static const struct spec ten[] = {
		{SW_WINDOW_ALLOW, "0 6 * * 1-5", "4h", "Europe/Berlin"},
		{SW_WINDOW_ALLOW, "0 14 * * 1-5", "3h", "America/New_York"},
		{SW_WINDOW_ALLOW, "30 22 * * 0", "2h", "Asia/Tokyo"},
		{SW_WINDOW_ALLOW, "0 0 1 * *", "6h", "UTC"},
		{SW_WINDOW_DENY, "0 22 * * 5", "60h", "Europe/Berlin"},
		{SW_WINDOW_DENY, "0 0 24-26,31 12 *", "24h", "Europe/Berlin"},
		{SW_WINDOW_DENY, "0 0 1 1 *", "24h", "Europe/Berlin"},
		{SW_WINDOW_DENY, "0 12 * * *", "1h", "America/New_York"},
		{SW_WINDOW_DENY, "*/30 * * * *", "5m", "UTC"},
		{SW_WINDOW_DENY, "30 2 * * *", "1h", "Europe/Berlin"},
		{0},
	};
	/* the costly shapes: a run that chains minute by minute, a start a year away */
	static const struct spec chain[] = {{SW_WINDOW_ALLOW, "* * 1-28 * *", "1m", "Europe/Berlin"}, {0}};
	static const struct spec far[] = {{SW_WINDOW_ALLOW, "0 0 1 1 *", "1h", "UTC"},
					  {SW_WINDOW_DENY, "*/10 * * * *", "5m", "UTC"}, {0}};
	static const struct {
		const char *what;
		const struct spec *spec;
	} lists[] = {
		{"sw_window_check: 1 deny (Fri 22:00 Berlin, 60h)", argo},
		{"sw_window_check: office hours, lunch, Christmas (3)", office},
		{"sw_window_check: 10 windows in 4 zones", ten},
		{"sw_window_check: every minute of days 1-28 for 1m (chain)", chain},
		{"sw_window_check: yearly allow, deny every 10 minutes", far},
	};
	for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		struct sw_window w[16];
		size_t n = make(w, lists[k].spec);
		for (size_t i = 0; i < rounds; i++) {
			struct sw_window_state s;
			int64_t t0 = now_ns();
			sw_window_check(&s, w, n, at[i] * 1000);
			us[i] = (double)(now_ns() - t0) / 1000;
		}
		report(lists[k].what, us, rounds);
		for (size_t i = 0; i < n; i++)
			sw_window_release(&w[i]);
	}
	sw_tz_free(berlin);
	free(us);
	free(at);
	return 0;
}
