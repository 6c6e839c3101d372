/*
 * metrics: what the proxy measures per app x revision, as totals (for
 * Prometheus) and as per-second sliding windows (for analysis). Pure: the
 * caller passes the time in ms (monotonic), so tests need no clock.
 * Thread-safe: every call holds the object's lock, so the proxy's worker
 * threads (`workers: N`) share one object and every window and total is
 * the sum over the workers.
 *
 * Each series keeps a ring of the last METRICS_WINDOW_SECONDS one-second
 * slots, slot = (now_ms / 1000) % 300, reset when reused for a newer
 * second (a report for a second older than the one a slot holds counts in
 * the totals only). A slot holds: requests by status class (1xx..5xx)
 * plus errors the proxy itself produced (502/503/504 it generated, or no
 * status at all: PROXY_ERR, counted apart from upstream 5xx; a 4xx the
 * proxy produced counts as 4xx); a latency histogram; bytes in/out; and a
 * bounded sample of raw latencies (for the statistical judge of the
 * progressive-delivery issue). In-flight is a gauge. Every finished
 * request counts in the latency histogram and samples, errors included.
 *
 * Latency histogram: METRICS_BUCKETS buckets; 63 finite upper bounds
 * log-spaced from 0.1 ms to 60 s (0.1 ms * R^i, R = 600000^(1/62), about
 * 1.239, rounded to whole microseconds) and a last +Inf bucket. A
 * percentile is found in the bucket holding its rank and placed inside it
 * by geometric interpolation (linear in the first bucket [0, 0.1 ms]; the
 * +Inf bucket answers 60 s), so its error is below one bucket width (24 %)
 * and usually a few %. (An earlier version of this comment promised
 * <= 10 %; that would take ~140 buckets per slot.)
 *
 * Samples: reservoir sampling (algorithm R) of METRICS_SAMPLES_PER_SLOT
 * latencies per slot with a deterministic PRNG (same calls, same
 * samples), stored log-encoded in 16 bits: round(2048 * log2(us + 1)),
 * relative resolution 0.034 %, up to 71 minutes. Each second keeps at most
 * 64, so seconds with more traffic are under-represented in the window's
 * sample when the load varies (good enough for rank tests).
 *
 * Memory, bounded and fixed per series: a slot is 432 bytes (class counts
 * 6 x 4, histogram 64 x 4, samples 64 x 2, bytes 2 x 8, second 8), the
 * ring 300 x 432 = 129,600 bytes, plus ~700 bytes of totals and name:
 * about 127 KiB per series (metrics_series_bytes()), allocated at its
 * first finished request; 300 series ~ 37 MiB. Series live until
 * metrics_forget.
 */
#ifndef SW_PROXY_METRICS_H
#define SW_PROXY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/buf.h"

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

/* Forgets the series of app x revision, if any (the engine calls it for
 * revisions gone from the table, after a grace period so windows of a
 * finished rollout stay readable). A later report creates it afresh. */
void metrics_forget(struct metrics *m, const char *app, int64_t revision);

/* Number of series; bytes held by all of them; the fixed bytes of one
 * series with its ring (see the memory note above). */
size_t metrics_series_count(const struct metrics *m);
size_t metrics_memory(const struct metrics *m);
size_t metrics_series_bytes(void);

struct metrics_window {
	uint64_t requests;       /* all classes */
	uint64_t by_class[METRICS_NCLASS];
	uint64_t bytes_in, bytes_out;
	double rate;             /* requests / seconds the window really covers: from
				  * its start, or the second the series began if later,
				  * to now_ms (the current second counts as far as it
				  * went); at least 1 s */
	double success_rate;     /* (requests - 5xx - proxy errors) / requests; NaN if none */
	double error_rate;       /* 1 - success_rate; NaN if none */
	double p50_ms, p90_ms, p95_ms, p99_ms; /* NaN if none */
	int64_t inflight;
};

/* Aggregates the last `seconds` slots, the current (partial) one
 * included: seconds now_ms/1000 - seconds + 1 .. now_ms/1000; `seconds` is
 * clamped to 1..300. An unknown series gives zeros and NaNs. */
void metrics_window(struct metrics *m, const char *app, int64_t revision, unsigned seconds,
		    uint64_t now_ms, struct metrics_window *out);

/* Raw latency samples (ms) of the window, oldest second first, at most
 * max (when there are more, evenly spaced ones so the whole window is
 * represented); returns the count. */
size_t metrics_samples(struct metrics *m, const char *app, int64_t revision, unsigned seconds,
		       uint64_t now_ms, double *out, size_t max);

/* Per-second error rates ((5xx + proxy errors) / requests) of the
 * window's seconds that had requests, oldest first; at most max (the
 * newest ones when there are more); returns the count. */
size_t metrics_error_series(struct metrics *m, const char *app, int64_t revision,
			    unsigned seconds, uint64_t now_ms, double *out, size_t max);

/* Every series' window as JSON, sorted by app then revision:
 *	{"windowSeconds": 60, "series": [{"app": "hello", "revision": 2,
 *	  "requests": 10, "byClass": {"1xx": 0, "2xx": 9, "3xx": 0, "4xx": 0,
 *	  "5xx": 1, "proxyError": 0}, "bytesIn": 0, "bytesOut": 0, "rate": 0.5,
 *	  "successRate": 0.9, "errorRate": 0.1, "p50Ms": 1.2, "p90Ms": ...,
 *	  "p95Ms": ..., "p99Ms": ..., "inflight": 0}]}
 * NaN (no requests) is written as null. */
json_t *metrics_json(struct metrics *m, unsigned seconds, uint64_t now_ms);
/* One window in that shape (without app and revision). */
json_t *metrics_window_json(const struct metrics_window *w);
/* Reads one element of "series" back (for the control plane); null reads
 * as NaN. Returns 0, or -1 when a field is missing or of the wrong type. */
int metrics_window_from_json(const json_t *j, struct metrics_window *out);

/* The proxy's client connections (not per app), summed over its workers:
 * each engine updates these in place with atomic operations (workers share
 * one metrics object); metrics_prometheus shows them. */
struct metrics_conns {
	uint64_t open;           /* gauge: client connections open */
	uint64_t limit;          /* gauge: the limit (proxy_config.max_conns) */
	uint64_t refused_503;    /* over the limit: answered 503 with Retry-After */
	uint64_t refused_closed; /* over the limit with too many refusals pending: closed */
	uint64_t idle_closed;    /* idle keep-alive connections closed to make room */
};
struct metrics_conns *metrics_conns(struct metrics *m);

/* Prometheus text exposition (totals since start), appended to out; every
 * family has HELP and TYPE lines, series sorted, label values escaped:
 *	slipway_requests_total{app,revision,class} (class 1xx..5xx, proxy_error)
 *	slipway_request_duration_seconds_bucket{app,revision,le} / _sum / _count
 *	slipway_requests_in_flight{app,revision}
 *	slipway_bytes_received_total / slipway_bytes_sent_total{app,revision}
 *	slipway_proxy_connections, slipway_proxy_connections_limit,
 *	slipway_proxy_connections_refused_total{answer="503"|"close"},
 *	slipway_proxy_idle_connections_closed_total (struct metrics_conns) */
void metrics_prometheus(struct metrics *m, struct buf *out);

#endif
