/*
 * judge: the statistics behind the `compare` provider. Pure functions over
 * arrays of samples: no clock, no I/O. docs/analysis.md explains them for
 * users.
 *
 * The test is Mann-Whitney U (also called the Wilcoxon rank-sum test): it
 * asks whether values drawn from one sample tend to be larger than values
 * drawn from the other, without assuming any distribution shape, which
 * suits latencies (long-tailed) and error rates (mostly zeros).
 *
 *	struct judge_config cfg = {.confidence = 0.98, .max_increase = 0.1, .min_samples = 30};
 *	struct judge_result r;
 *	judge_latency(&r, &cfg, stable_ms, nstable, canary_ms, ncanary);
 *	if (r.verdict == JUDGE_FAIL) ... r.reason says why ...
 */
#ifndef SW_ANALYSIS_JUDGE_H
#define SW_ANALYSIS_JUDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest sample size per side for which the exact distribution of U is
 * used (when there are no ties); above it, the normal approximation. */
#define JUDGE_EXACT_MAX 20

struct judge_mwu {
	double u;         /* U of x: pairs (x_i, y_j) with x_i > y_j, ties counting 1/2 */
	double mean;      /* n_x * n_y / 2, U's mean when x and y are alike */
	double sd;        /* U's standard deviation, tie-corrected (0 when all values are equal) */
	double z;         /* (u - mean) / sd, 0 when sd is 0; without continuity correction */
	double p_greater; /* one-sided p-value for "x tends to be greater than y" */
	double p_two;     /* two-sided p-value for "x and y differ" */
	bool exact;       /* p-values from the exact distribution (small, tie-free samples) */
	bool ties;        /* some value occurs more than once across both samples */
};

/*
 * Mann-Whitney U test of x against y. Ranks the pooled samples (ties get
 * their average rank), then takes p-values from the exact distribution of
 * U when both sizes are at most JUDGE_EXACT_MAX and there are no ties, else
 * from the normal approximation with tie correction and continuity
 * correction (0.5). When every value is equal, both p-values are 1.
 * Returns 0, or -1 when a side is empty or holds a NaN or infinite value
 * (out is then zeroed with p-values 1). Allocates O(nx + ny) temporarily.
 */
int judge_mann_whitney(struct judge_mwu *out, const double *x, size_t nx, const double *y, size_t ny);

enum judge_verdict {
	JUDGE_PASS,         /* not shown to be worse by more than max_increase */
	JUDGE_FAIL,         /* worse by more than max_increase, at the confidence asked */
	JUDGE_INCONCLUSIVE, /* too few samples on a side to judge */
};

/* "pass", "fail", "inconclusive". */
const char *judge_verdict_name(enum judge_verdict v);

struct judge_config {
	double confidence;    /* in (0, 1), e.g. 0.98: fail when p < 1 - confidence */
	double max_increase;  /* >= 0, relative worsening tolerated, 0.1 = 10% */
	double ignore_below;  /* latency: >= 0 ms, a worsening this small is tolerated
			       * whatever its share (0.1 ms on a 0.15 ms app is noise
			       * to its users, and a cold instance shows it); 0 = none */
	size_t min_samples;   /* per side, at least 1 is assumed: samples (latency) or requests (counts) */
	unsigned look;        /* latency: this is look number `look` (1 = first) of a series over
			       * growing data, judged at level (1 - confidence) / (look (look + 1));
			       * 0 = one fixed test at 1 - confidence */
};

struct judge_result {
	enum judge_verdict verdict;
	double p;               /* one-sided p-value of "canary worse"; 1 when not tested */
	double stable, canary;  /* the summary shown: medians (latency) or means (error rate); NaN with no samples */
	size_t n_stable, n_canary; /* finite samples used */
	char reason[320];       /* one sentence, e.g. "canary p50 61.2 ms vs stable 10.4 ms
				 * (+488%), Mann-Whitney p=0.0001 < 0.02: worse" */
};

/*
 * Judges canary latencies (ms, one per request) against the stable
 * version's. FAIL when the canary's latencies are significantly greater
 * (one-sided Mann-Whitney, p < 1 - confidence) than the stable ones
 * multiplied by (1 + max_increase); so a canary only slower by less than
 * max_increase passes. INCONCLUSIVE when either side has fewer than
 * min_samples finite values (NaN and infinite samples are dropped).
 * The arrays are only read. Always fills *out.
 */
void judge_latency(struct judge_result *out, const struct judge_config *cfg, const double *stable, size_t nstable,
		   const double *canary, size_t ncanary);

/*
 * The same test for error rates: one sample per interval and version, a
 * fraction 0..1 of the requests that failed. The reason speaks in percent
 * and compares means ("canary error rate 10.3% vs stable 0.1%").
 */
void judge_error_rate(struct judge_result *out, const struct judge_config *cfg, const double *stable,
		      size_t nstable, const double *canary, size_t ncanary);

/*
 * Error counts, judged sequentially: canary `canary_errors` of
 * `canary_requests` against stable `stable_errors` of `stable_requests`,
 * the counts since the comparison began (each look sees more of the same
 * traffic). Given k errors in all, the canary's share X of them is
 * Binomial(k, theta); the null hypothesis "the canary's rate is at most
 * (1 + max_increase) times the stable one" is theta <= theta0 =
 * n_c (1 + d) / (n_c (1 + d) + n_s). The evidence against it is the mixture
 * likelihood ratio
 *
 *	M = 1/2 [X = k] / theta0^k
 *	  + 1/2 integral over theta in (theta0, 1) of
 *	        theta^X (1 - theta)^(k - X) / (theta0^X (1 - theta0)^(k - X)) dtheta / (1 - theta0)
 *
 * (half the prior on "the stable version makes no errors", half uniform
 * above theta0), a test martingale under the null: by Ville's inequality
 * the chance that M ever reaches 1 / (1 - confidence), however often it is
 * looked at, is at most 1 - confidence. FAIL when it does; out->p is the
 * always-valid p-value min(1, 1 / M) of this look. INCONCLUSIVE with fewer
 * than min_samples requests on a side; otherwise PASS ("not shown worse
 * yet"). docs/internals/judge.md has the derivation. cfg->look is not used.
 */
void judge_error_counts(struct judge_result *out, const struct judge_config *cfg, uint64_t stable_requests,
			uint64_t stable_errors, uint64_t canary_requests, uint64_t canary_errors);

/* The mixture likelihood ratio M above for x canary errors of k, theta0 in
 * (0, 1); +inf when it overflows a double. Exposed for the tests. */
double judge_binomial_mixture(uint64_t x, uint64_t k, double theta0);

#endif
