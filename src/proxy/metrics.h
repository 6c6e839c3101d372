/*
 * metrics: what the proxy measures per app x revision, as totals (for
 * Prometheus) and as per-second sliding windows (for analysis). Pure: the
 * caller passes the time in ms (monotonic), so tests need no clock.
 *
 * Each series keeps a ring of the last METRICS_WINDOW_SECONDS one-second
 * slots: requests by status class (2xx..5xx) plus errors the proxy itself
 * produced (502/503/504 it generated, counted apart from upstream 5xx),
 * a latency histogram (fixed log-spaced buckets from 0.1 ms to 60 s, so
 * percentiles are exact to the bucket width, <= 10%), bytes in/out, and a
 * bounded sample of raw latencies per slot (for the statistical judge of
 * the progressive-delivery issue). In-flight is a gauge.
 */
#ifndef SW_PROXY_METRICS_H
#define SW_PROXY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/buf.h"

#define METRICS_WINDOW_SECONDS 300
#define METRICS_BUCKETS 64
#define METRICS_SAMPLES_PER_SLOT 64

enum metrics_class {
	METRICS_1XX = 0,  /* counted with 2xx for success rate: informational/upgrade */
	METRICS_2XX,
	METRICS_3XX,
	METRICS_4XX,
	METRICS_5XX,      /* the upstream answered 5xx */
	METRICS_PROXY_ERR, /* the proxy answered 502/503/504 itself */
	METRICS_NCLASS,
};

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* In-flight gauge of a series (created on first use). */
void metrics_begin(struct metrics *m, const char *app, int64_t revision);
/*
 * Records one finished request: status (0 when the proxy failed without a
 * status), whether the proxy produced it, latency from request start to
 * response end in microseconds, bytes from the client and to it. Also
 * ends the in-flight count started by metrics_begin.
 */
void metrics_end(struct metrics *m, const char *app, int64_t revision, int status,
		 bool proxy_error, uint64_t latency_us, uint64_t bytes_in, uint64_t bytes_out,
		 uint64_t now_ms);

/* Forgets series of apps/revisions not in `keep` (called on table change,
 * after a grace period so windows of a finished rollout stay readable). */
void metrics_forget(struct metrics *m, const char *app, int64_t revision);

struct metrics_window {
	uint64_t requests;       /* all classes */
	uint64_t by_class[METRICS_NCLASS];
	uint64_t bytes_in, bytes_out;
	double rate;             /* requests per second over the window */
	double success_rate;     /* (requests - 5xx - proxy errors) / requests; NaN if none */
	double error_rate;       /* 1 - success_rate; NaN if none */
	double p50_ms, p90_ms, p95_ms, p99_ms; /* NaN if none */
	int64_t inflight;
};

/* Aggregates the last `seconds` complete-or-current slots (1..300). */
void metrics_window(struct metrics *m, const char *app, int64_t revision, unsigned seconds,
		    uint64_t now_ms, struct metrics_window *out);

/* Raw latency samples (ms) of the window, at most max; returns count. */
size_t metrics_samples(struct metrics *m, const char *app, int64_t revision, unsigned seconds,
		       uint64_t now_ms, double *out, size_t max);

/* Per-second error rates of the window's slots that had requests. */
size_t metrics_error_series(struct metrics *m, const char *app, int64_t revision,
			    unsigned seconds, uint64_t now_ms, double *out, size_t max);

/* Every series' window as JSON: {"series": [{"app", "revision", ...window}]} */
json_t *metrics_json(struct metrics *m, unsigned seconds, uint64_t now_ms);

/* Prometheus text exposition (totals since start):
 *	slipway_requests_total{app,revision,class}
 *	slipway_request_duration_seconds_bucket{app,revision,le} / _sum / _count
 *	slipway_requests_in_flight{app,revision}
 *	slipway_bytes_received_total / slipway_bytes_sent_total{app,revision} */
void metrics_prometheus(struct metrics *m, struct buf *out);

#endif
