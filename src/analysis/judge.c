/*
 * Mann-Whitney U and the compare judges built on it.
 *
 * U counts, over all pairs (x_i, y_j), how often x_i > y_j (ties 1/2).
 * When x and y come from the same distribution, every ordering of the
 * pooled values is equally likely, which gives U's exact distribution by
 * counting (small samples), or its mean n_x n_y / 2 and variance
 * n_x n_y / 12 (N + 1 - sum(t^3 - t) / (N (N - 1))) for the normal
 * approximation (t = size of each group of tied values).
 */
#include "judge.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/core.h"

struct tagged {
	double v;
	int side; /* 0: x, 1: y */
};

static int cmp_tagged(const void *a, const void *b)
{
	double x = ((const struct tagged *)a)->v, y = ((const struct tagged *)b)->v;
	return x < y ? -1 : x > y ? 1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

/* Upper tail of the standard normal distribution. */
static double normal_sf(double z)
{
	return 0.5 * erfc(z / M_SQRT2);
}

/*
 * Exact P(U >= u) and P(U <= u) for sizes m (x) and n (y) without ties.
 * f(i, j, k): orderings of i x's and j y's with U = k. The largest value
 * is either an x, which beats all j y's (f(i-1, j, k-j)), or a y, which
 * adds nothing (f(i, j-1, k)). Counts reach C(40, 20) ~ 1.4e11, exact in
 * a double.
 */
static void exact_tails(size_t m, size_t n, double u, double *p_ge, double *p_le)
{
	size_t kmax = m * n;
	size_t width = kmax + 1;
	double *prev = xcalloc((n + 1) * width, sizeof(double));
	double *cur = xcalloc((n + 1) * width, sizeof(double));
	for (size_t j = 0; j <= n; j++)
		prev[j * width] = 1; /* i = 0: one ordering, U = 0 */
	for (size_t i = 1; i <= m; i++) {
		memset(cur, 0, (n + 1) * width * sizeof(double));
		cur[0] = 1; /* j = 0 */
		for (size_t j = 1; j <= n; j++)
			for (size_t k = 0; k <= i * j; k++) {
				double a = k >= j ? prev[j * width + k - j] : 0;
				double b = cur[(j - 1) * width + k];
				cur[j * width + k] = a + b;
			}
		double *t = prev;
		prev = cur;
		cur = t;
	}
	const double *f = prev + n * width;
	double total = 0, ge = 0, le = 0;
	for (size_t k = 0; k <= kmax; k++) {
		total += f[k];
		if ((double)k >= u - 1e-9)
			ge += f[k];
		if ((double)k <= u + 1e-9)
			le += f[k];
	}
	*p_ge = ge / total;
	*p_le = le / total;
	free(prev);
	free(cur);
}

int judge_mann_whitney(struct judge_mwu *out, const double *x, size_t nx, const double *y, size_t ny)
{
	memset(out, 0, sizeof(*out));
	out->p_greater = out->p_two = 1;
	if (nx == 0 || ny == 0)
		return -1;
	for (size_t i = 0; i < nx; i++)
		if (!isfinite(x[i]))
			return -1;
	for (size_t i = 0; i < ny; i++)
		if (!isfinite(y[i]))
			return -1;
	size_t n = nx + ny;
	struct tagged *all = xmalloc(n * sizeof(*all));
	for (size_t i = 0; i < nx; i++)
		all[i] = (struct tagged){x[i], 0};
	for (size_t i = 0; i < ny; i++)
		all[nx + i] = (struct tagged){y[i], 1};
	qsort(all, n, sizeof(*all), cmp_tagged);

	double rank_x = 0, tie_sum = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && all[j].v == all[i].v)
			j++;
		double t = (double)(j - i);
		double avg = ((double)(i + 1) + (double)j) / 2; /* ranks i+1 .. j */
		for (size_t k = i; k < j; k++)
			if (all[k].side == 0)
				rank_x += avg;
		if (j - i > 1) {
			tie_sum += t * t * t - t;
			out->ties = true;
		}
		i = j;
	}
	free(all);

	double dx = (double)nx, dy = (double)ny, dn = (double)n;
	out->u = rank_x - dx * (dx + 1) / 2;
	out->mean = dx * dy / 2;
	double var = dx * dy / 12 * ((dn + 1) - tie_sum / (dn * (dn - 1)));
	out->sd = var > 0 ? sqrt(var) : 0;
	if (out->sd == 0) /* every value equal: nothing to tell apart */
		return 0;
	out->z = (out->u - out->mean) / out->sd;
	if (!out->ties && nx <= JUDGE_EXACT_MAX && ny <= JUDGE_EXACT_MAX) {
		double ge, le;
		exact_tails(nx, ny, out->u, &ge, &le);
		out->exact = true;
		out->p_greater = ge;
		out->p_two = fmin(1, 2 * fmin(ge, le));
		return 0;
	}
	out->p_greater = fmin(1, normal_sf((out->u - out->mean - 0.5) / out->sd));
	out->p_two = fmin(1, 2 * normal_sf((fabs(out->u - out->mean) - 0.5) / out->sd));
	return 0;
}

const char *judge_verdict_name(enum judge_verdict v)
{
	switch (v) {
	case JUDGE_PASS: return "pass";
	case JUDGE_FAIL: return "fail";
	case JUDGE_INCONCLUSIVE: return "inconclusive";
	}
	return "?";
}

/* ------------------------------------------------------------------ */
/* Judges                                                             */

enum kind { K_LATENCY, K_ERROR_RATE };

/* Copies the finite values of a, sorted. */
static double *finite_sorted(const double *a, size_t n, size_t *nout)
{
	double *c = xmalloc((n ? n : 1) * sizeof(double));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(a[i]))
			c[k++] = a[i];
	qsort(c, k, sizeof(double), cmp_double);
	*nout = k;
	return c;
}

static double median(const double *sorted, size_t n)
{
	if (n == 0)
		return NAN;
	return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

static double mean(const double *a, size_t n)
{
	if (n == 0)
		return NAN;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += a[i];
	return s / (double)n;
}

static void add_ms(struct buf *b, double v)
{
	if (fabs(v) >= 100)
		buf_addf(b, "%.0f ms", v);
	else if (fabs(v) >= 1)
		buf_addf(b, "%.1f ms", v);
	else
		buf_addf(b, "%.3g ms", v);
}

static void add_pct(struct buf *b, double frac)
{
	double v = frac * 100;
	if (v == 0 || fabs(v) >= 1)
		buf_addf(b, "%.1f%%", v);
	else
		buf_addf(b, "%.2g%%", v);
}

static void add_p(struct buf *b, double p)
{
	if (p < 0.0001) {
		buf_adds(b, "p<0.0001");
		return;
	}
	char t[32];
	snprintf(t, sizeof(t), "%.4f", p);
	size_t n = strlen(t);
	while (n > 3 && t[n - 1] == '0') /* keep "0.0" at least */
		t[--n] = '\0';
	buf_addf(b, "p=%s", t);
}

static void judge(struct judge_result *out, const struct judge_config *cfg, enum kind kind, const double *stable,
		  size_t nstable, const double *canary, size_t ncanary)
{
	memset(out, 0, sizeof(*out));
	out->verdict = JUDGE_INCONCLUSIVE;
	out->p = 1;
	size_t ns, nc;
	double *s = finite_sorted(stable, nstable, &ns);
	double *c = finite_sorted(canary, ncanary, &nc);
	out->n_stable = ns;
	out->n_canary = nc;
	out->stable = kind == K_LATENCY ? median(s, ns) : mean(s, ns);
	out->canary = kind == K_LATENCY ? median(c, nc) : mean(c, nc);
	size_t min = cfg->min_samples ? cfg->min_samples : 1;
	double alpha = 1 - cfg->confidence;
	if (cfg->look) /* spend alpha over the looks: the sum over all looks is alpha */
		alpha /= (double)cfg->look * ((double)cfg->look + 1);
	struct buf b = BUF_INIT;

	if (ns < min || nc < min) {
		buf_addf(&b, "too few samples to judge: canary %zu, stable %zu (minSamples %zu)", nc, ns, min);
		goto out;
	}
	/* Compare with the stable values made worse by the tolerance, so that
	 * only a worsening beyond it can be significant. */
	double scale = 1 + cfg->max_increase;
	double floor = kind == K_LATENCY && cfg->ignore_below > 0 ? cfg->ignore_below : 0;
	for (size_t i = 0; i < ns; i++)
		s[i] = fmax(s[i] * scale, s[i] + floor);
	struct judge_mwu mw;
	judge_mann_whitney(&mw, c, nc, s, ns);
	out->p = mw.p_greater;
	out->verdict = out->p < alpha ? JUDGE_FAIL : JUDGE_PASS;

	if (kind == K_LATENCY) {
		buf_adds(&b, "canary p50 ");
		add_ms(&b, out->canary);
		buf_adds(&b, " vs stable ");
		add_ms(&b, out->stable);
		if (out->stable > 0)
			buf_addf(&b, " (%+.0f%%)", (out->canary - out->stable) / out->stable * 100);
	} else {
		buf_adds(&b, "canary error rate ");
		add_pct(&b, out->canary);
		buf_adds(&b, " vs stable ");
		add_pct(&b, out->stable);
	}
	buf_adds(&b, ", Mann-Whitney ");
	add_p(&b, out->p);
	buf_addf(&b, " %s %.4g: %s %.4g%%", out->verdict == JUDGE_FAIL ? "<" : ">=", alpha,
		 out->verdict == JUDGE_FAIL ? "worse by more than" : "not worse by more than",
		 cfg->max_increase * 100);
	if (floor > 0) {
		buf_adds(&b, " and ");
		add_ms(&b, floor);
	}
	if (cfg->look)
		buf_addf(&b, " (look %u)", cfg->look);
out:
	sw_strlcpy(out->reason, b.s ? b.s : "", sizeof(out->reason));
	buf_release(&b);
	free(s);
	free(c);
}

void judge_latency(struct judge_result *out, const struct judge_config *cfg, const double *stable, size_t nstable,
		   const double *canary, size_t ncanary)
{
	judge(out, cfg, K_LATENCY, stable, nstable, canary, ncanary);
}

void judge_error_rate(struct judge_result *out, const struct judge_config *cfg, const double *stable,
		      size_t nstable, const double *canary, size_t ncanary)
{
	judge(out, cfg, K_ERROR_RATE, stable, nstable, canary, ncanary);
}

/* ------------------------------------------------------------------ */
/* Error counts: a sequential test on the binomial                    */

/*
 * log of the regularized incomplete beta function I_z(a, b), by its
 * continued fraction (evaluated with the modified Lentz method), which
 * converges fast for z < (a + 1) / (a + b + 2); above that, through
 * I_z(a, b) = 1 - I_{1-z}(b, a).
 */
static double log_ibeta(double z, double a, double b)
{
	if (z <= 0)
		return -INFINITY;
	if (z >= 1)
		return 0;
	if (z > (a + 1) / (a + b + 2)) {
		double other = exp(log_ibeta(1 - z, b, a));
		return other >= 1 ? -INFINITY : log1p(-other);
	}
	const double tiny = 1e-300;
	double front = a * log(z) + b * log1p(-z) - (lgamma(a) + lgamma(b) - lgamma(a + b)) - log(a);
	double f = 1, c = 1, d = 0;
	for (int j = 1; j < 20000; j++) {
		int m = j / 2;
		double dj = j % 2 ? -(a + m) * (a + b + m) * z / ((a + 2 * m) * (a + 2 * m + 1))
				  : m * (b - m) * z / ((a + 2 * m - 1) * (a + 2 * m));
		d = 1 + dj * d;
		d = fabs(d) < tiny ? tiny : d;
		c = 1 + dj / c;
		c = fabs(c) < tiny ? tiny : c;
		d = 1 / d;
		double delta = c * d;
		f *= delta;
		if (fabs(delta - 1) < 1e-13)
			break;
	}
	return front - log(f);
}

static double log_add(double x, double y)
{
	if (x == -INFINITY)
		return y;
	if (y == -INFINITY)
		return x;
	double hi = fmax(x, y), lo = fmin(x, y);
	return hi + log1p(exp(lo - hi));
}

double judge_binomial_mixture(uint64_t x, uint64_t k, double theta0)
{
	assert(x <= k && theta0 > 0 && theta0 < 1);
	double dx = (double)x, dk = (double)k;
	double log_null = dx * log(theta0) + (dk - dx) * log1p(-theta0);
	/* uniform on (theta0, 1): the integral is B(x+1, k-x+1) I_{1-theta0}(k-x+1, x+1) */
	double a = dx + 1, b = dk - dx + 1;
	double log_uniform = lgamma(a) + lgamma(b) - lgamma(a + b) + log_ibeta(1 - theta0, b, a) -
			     log1p(-theta0) - log_null;
	double log_point = x == k ? -dk * log(theta0) : -INFINITY;
	return exp(log_add(log_point, log_uniform) - M_LN2);
}

void judge_error_counts(struct judge_result *out, const struct judge_config *cfg, uint64_t stable_requests,
			uint64_t stable_errors, uint64_t canary_requests, uint64_t canary_errors)
{
	memset(out, 0, sizeof(*out));
	out->verdict = JUDGE_INCONCLUSIVE;
	out->p = 1;
	stable_errors = stable_errors < stable_requests ? stable_errors : stable_requests;
	canary_errors = canary_errors < canary_requests ? canary_errors : canary_requests;
	out->n_stable = (size_t)stable_requests;
	out->n_canary = (size_t)canary_requests;
	out->stable = stable_requests ? (double)stable_errors / (double)stable_requests : NAN;
	out->canary = canary_requests ? (double)canary_errors / (double)canary_requests : NAN;
	size_t min = cfg->min_samples ? cfg->min_samples : 1;
	double alpha = 1 - cfg->confidence;
	struct buf b = BUF_INIT;

	if (stable_requests < min || canary_requests < min) {
		buf_addf(&b, "too few requests to judge: canary %llu, stable %llu (minSamples %zu)",
			 (unsigned long long)canary_requests, (unsigned long long)stable_requests, min);
		goto out;
	}
	double nc = (double)canary_requests * (1 + cfg->max_increase), ns = (double)stable_requests;
	double theta0 = nc / (nc + ns);
	double m = judge_binomial_mixture(canary_errors, canary_errors + stable_errors, theta0);
	out->p = m > 1 ? 1 / m : 1;
	out->verdict = out->p <= alpha ? JUDGE_FAIL : JUDGE_PASS;

	buf_addf(&b, "canary %llu errors in %llu requests (", (unsigned long long)canary_errors,
		 (unsigned long long)canary_requests);
	add_pct(&b, out->canary);
	buf_addf(&b, ") vs stable %llu in %llu (", (unsigned long long)stable_errors,
		 (unsigned long long)stable_requests);
	add_pct(&b, out->stable);
	buf_adds(&b, "), sequential ");
	add_p(&b, out->p);
	buf_addf(&b, " %s %.4g: %s %.4g%%", out->verdict == JUDGE_FAIL ? "<=" : ">", alpha,
		 out->verdict == JUDGE_FAIL ? "worse by more than" : "not shown worse by more than",
		 cfg->max_increase * 100);
out:
	sw_strlcpy(out->reason, b.s ? b.s : "", sizeof(out->reason));
	buf_release(&b);
}
