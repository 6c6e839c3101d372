/*
 * load: the synthetic traffic an analysis may drive (an AnalysisTemplate's
 * `spec.load`, docs/analysis.md), so that an app with too little traffic of
 * its own can still be judged. Internal to src/analysis/; the runner
 * starts one generator per run and stops it when the run ends.
 *
 * A generator sends GET requests to one URL through httpc (libcurl on the
 * loop) at a steady rate: by any moment t after the start, about
 * rate * t requests have been started, evenly spaced to the generator's
 * tick (ANALYSIS_LOAD_TICK_MS), never in bursts. Bounded three ways:
 *   - rate: at most ANALYSIS_LOAD_MAX_RATE a second;
 *   - in flight: at most ANALYSIS_LOAD_MAX_INFLIGHT requests; a request
 *     due while that many are out is skipped (counted, never sent later),
 *     so a slow app is not buried under a backlog;
 *   - time: nothing is started after duration_ms; each request has
 *     httpc's timeout (5 s).
 * The responses are not judged here: the requests go through the data
 * plane like any other, which measures them per revision for the
 * analysis's providers.
 *
 *	struct analysis_load_config cfg = {.url = "http://127.0.0.1:8080/", .rate = 20,
 *					   .duration_ms = 300000};
 *	struct analysis_load *l = analysis_load_start(loop, httpc, &cfg);
 *	...
 *	analysis_load_stop(l);   cancels what is in flight; l is gone
 */
#ifndef SW_ANALYSIS_LOAD_H
#define SW_ANALYSIS_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "httpc/httpc.h"

#define ANALYSIS_LOAD_MAX_RATE 500
#define ANALYSIS_LOAD_MAX_INFLIGHT 64
#define ANALYSIS_LOAD_TICK_MS 20

struct analysis_load_config {
	const char *url;          /* http:// or https://; copied */
	const char *host;         /* the Host header to send; NULL = the URL's; copied */
	const char *header;       /* one more header, "Name: value"; NULL = none; copied */
	uint32_t rate;            /* requests a second, 1..ANALYSIS_LOAD_MAX_RATE (clamped) */
	uint64_t duration_ms;     /* nothing is started after this; > 0 */
};

struct analysis_load_stats {
	uint64_t sent;            /* requests started */
	uint64_t answered;        /* got an HTTP response (any status) */
	uint64_t failed;          /* no response: refused, timed out, reset */
	uint64_t skipped;         /* due while ANALYSIS_LOAD_MAX_INFLIGHT were out */
	bool done;                /* duration_ms has passed: nothing more is started */
};

struct analysis_load;

/* Starts a generator; the first request goes out at the first tick.
 * httpc must outlive it (until analysis_load_stop). Never NULL. */
struct analysis_load *analysis_load_start(uv_loop_t *loop, struct httpc *h,
					  const struct analysis_load_config *cfg);

/* Counts so far. */
void analysis_load_stats(const struct analysis_load *l, struct analysis_load_stats *out);

/* Stops sending, cancels every request in flight (httpc_cancel: no
 * callback comes after) and frees the generator once its timer has closed
 * (run the loop). l must not be used again. NULL is ignored. */
void analysis_load_stop(struct analysis_load *l);

#endif
