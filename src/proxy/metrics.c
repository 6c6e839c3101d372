/*
 * metrics: per app x revision series in a chained hash map, each with
 * totals (Prometheus) and a ring of one-second slots (windows). See
 * metrics.h for the numbers and docs/internals/proxy-balancing.md for the
 * memory bound.
 */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/metrics.h"
#include "core/core.h"

#define SLOT_EMPTY UINT64_MAX
#define NBOUNDS (METRICS_BUCKETS - 1) /* finite upper bounds; the last bucket is +Inf */
#define BOUND_MIN_US 100ull           /* 0.1 ms */
#define BOUND_MAX_US 60000000ull      /* 60 s */
/* Samples are stored as round(SAMPLE_SCALE * log2(us + 1)) in 16 bits:
 * relative resolution 2^(1/2048) - 1 = 0.034 %, up to 2^32 us (71 min). */
#define SAMPLE_SCALE 2048.0

struct slot {
	uint64_t sec;                          /* now_ms / 1000 of the data; SLOT_EMPTY = unused */
	uint64_t bytes_in, bytes_out;
	uint32_t by_class[METRICS_NCLASS];     /* their sum is the slot's request count */
	uint32_t hist[METRICS_BUCKETS];
	uint16_t samples[METRICS_SAMPLES_PER_SLOT]; /* reservoir, log-encoded latencies */
};

struct series {
	struct series *next;  /* hash chain */
	uint64_t hash;
	char *app;
	int64_t revision;
	int64_t inflight;
	uint64_t first_ms;    /* now_ms of the first finished request; UINT64_MAX = none yet */
	uint64_t total_class[METRICS_NCLASS];
	uint64_t total_hist[METRICS_BUCKETS];
	uint64_t total_latency_us;
	uint64_t total_bytes_in, total_bytes_out;
	struct slot *ring;    /* METRICS_WINDOW_SECONDS slots, made at the first finished request */
};

struct metrics {
	struct series **buckets;
	size_t nbuckets;      /* power of two */
	size_t nseries;
	uint64_t rng;         /* splitmix64 state for the reservoirs: deterministic */
	uint64_t bound_us[NBOUNDS]; /* upper bounds of the finite buckets, increasing */
	/* Workers (`workers: N`) record into one metrics object, so every
	 * window and total is already the sum over them; each public call
	 * holds the lock (uncontended, ~20 ns: noise next to a request). */
	pthread_mutex_t mu;
	struct metrics_conns conns;
};

static void lock(const struct metrics *m)
{
	pthread_mutex_lock((pthread_mutex_t *)&m->mu);
}

static void unlock(const struct metrics *m)
{
	pthread_mutex_unlock((pthread_mutex_t *)&m->mu);
}

/* --- series map -------------------------------------------------------- */

static uint64_t series_hash(const char *app, int64_t revision)
{
	uint64_t h = 1469598103934665603ull;
	for (const unsigned char *p = (const unsigned char *)app; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	for (int i = 0; i < 8; i++)
		h = (h ^ (((uint64_t)revision >> (8 * i)) & 0xff)) * 1099511628211ull;
	return h;
}

static struct series *series_find(struct metrics *m, const char *app, int64_t revision,
				  uint64_t h)
{
	for (struct series *s = m->buckets[h & (m->nbuckets - 1)]; s; s = s->next)
		if (s->hash == h && s->revision == revision && strcmp(s->app, app) == 0)
			return s;
	return NULL;
}

static void map_grow(struct metrics *m)
{
	size_t n = m->nbuckets * 2;
	struct series **b = xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct series *s = m->buckets[i], *next;
		for (; s; s = next) {
			next = s->next;
			s->next = b[s->hash & (n - 1)];
			b[s->hash & (n - 1)] = s;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

static struct series *series_get(struct metrics *m, const char *app, int64_t revision)
{
	uint64_t h = series_hash(app, revision);
	struct series *s = series_find(m, app, revision, h);
	if (s)
		return s;
	if (m->nseries >= m->nbuckets)
		map_grow(m);
	s = xcalloc(1, sizeof(*s));
	s->hash = h;
	s->app = xstrdup(app);
	s->revision = revision;
	s->first_ms = UINT64_MAX;
	s->next = m->buckets[h & (m->nbuckets - 1)];
	m->buckets[h & (m->nbuckets - 1)] = s;
	m->nseries++;
	return s;
}

static void series_free(struct series *s)
{
	free(s->app);
	free(s->ring);
	free(s);
}

struct metrics *metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	m->nbuckets = 64;
	m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
	m->rng = 0x5eed5eed5eed5eedull;
	pthread_mutex_init(&m->mu, NULL);
	/* log-spaced from 0.1 ms to 60 s: bound i = 0.1 ms * R^i, R = 600000^(1/62) */
	for (size_t i = 0; i < NBOUNDS; i++)
		m->bound_us[i] = (uint64_t)llround((double)BOUND_MIN_US *
						   pow((double)BOUND_MAX_US / BOUND_MIN_US,
						       (double)i / (NBOUNDS - 1)));
	m->bound_us[NBOUNDS - 1] = BOUND_MAX_US;
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct series *s = m->buckets[i], *next;
		for (; s; s = next) {
			next = s->next;
			series_free(s);
		}
	}
	free(m->buckets);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static void forget_unlocked(struct metrics *m, const char *app, int64_t revision)
{
	uint64_t h = series_hash(app, revision);
	struct series **pp = &m->buckets[h & (m->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next) {
		struct series *s = *pp;
		if (s->hash == h && s->revision == revision && strcmp(s->app, app) == 0) {
			*pp = s->next;
			series_free(s);
			m->nseries--;
			return;
		}
	}
}

static size_t series_count_unlocked(const struct metrics *m)
{
	return m->nseries;
}

static size_t memory_unlocked(const struct metrics *m)
{
	size_t n = sizeof(*m) + m->nbuckets * sizeof(*m->buckets);
	for (size_t i = 0; i < m->nbuckets; i++)
		for (const struct series *s = m->buckets[i]; s; s = s->next)
			n += sizeof(*s) + strlen(s->app) + 1 +
			     (s->ring ? METRICS_WINDOW_SECONDS * sizeof(struct slot) : 0);
	return n;
}

size_t metrics_series_bytes(void)
{
	return sizeof(struct series) + METRICS_WINDOW_SECONDS * sizeof(struct slot);
}

/* --- recording --------------------------------------------------------- */

static uint64_t rng_next(struct metrics *m)
{
	uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t bucket_of(const struct metrics *m, uint64_t us)
{
	size_t lo = 0, hi = NBOUNDS; /* first bound >= us, or NBOUNDS (+Inf) */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->bound_us[mid] >= us)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static uint16_t sample_encode(uint64_t us)
{
	double c = round(SAMPLE_SCALE * log2((double)us + 1.0));
	return c >= 65535.0 ? 65535 : (uint16_t)c;
}

static double sample_decode_ms(uint16_t c)
{
	return (exp2(c / SAMPLE_SCALE) - 1.0) / 1000.0;
}

/*
 * The class a finished request counts in. The proxy's own 502/503/504 (or
 * a failure without a status) are PROXY_ERR; a 4xx the proxy produced is
 * the client's doing and stays 4xx; a status outside 100..599 can only be
 * a failure.
 */
static enum metrics_class classify(int status, bool proxy_error)
{
	if (status < 100 || status > 599)
		return METRICS_PROXY_ERR;
	if (proxy_error && status >= 500)
		return METRICS_PROXY_ERR;
	return (enum metrics_class)(METRICS_1XX + status / 100 - 1);
}

static uint32_t slot_requests(const struct slot *sl)
{
	uint32_t n = 0;
	for (size_t c = 0; c < METRICS_NCLASS; c++)
		n += sl->by_class[c];
	return n;
}

static void begin_unlocked(struct metrics *m, const char *app, int64_t revision)
{
	series_get(m, app, revision)->inflight++;
}

static void end_unlocked(struct metrics *m, const char *app, int64_t revision, int status,
		 bool proxy_error, uint64_t latency_us, uint64_t bytes_in, uint64_t bytes_out,
		 uint64_t now_ms)
{
	struct series *s = series_get(m, app, revision);
	enum metrics_class cls = classify(status, proxy_error);
	size_t b = bucket_of(m, latency_us);
	uint64_t sec = now_ms / 1000;
	struct slot *sl;

	if (s->inflight > 0)
		s->inflight--;
	s->total_class[cls]++;
	s->total_hist[b]++;
	s->total_latency_us += latency_us;
	s->total_bytes_in += bytes_in;
	s->total_bytes_out += bytes_out;
	if (s->first_ms == UINT64_MAX || now_ms < s->first_ms)
		s->first_ms = now_ms;

	if (!s->ring) {
		s->ring = xmalloc(METRICS_WINDOW_SECONDS * sizeof(*s->ring));
		for (size_t i = 0; i < METRICS_WINDOW_SECONDS; i++)
			s->ring[i].sec = SLOT_EMPTY;
	}
	sl = &s->ring[sec % METRICS_WINDOW_SECONDS];
	if (sl->sec != sec) {
		/* a report over 300 s late must not wipe the newer second there */
		if (sl->sec != SLOT_EMPTY && sl->sec > sec)
			return;
		memset(sl, 0, sizeof(*sl));
		sl->sec = sec;
	}
	/* reservoir sampling (Vitter's R): the k-th latency of the second
	 * replaces a random kept one with probability SAMPLES/k */
	uint32_t seen = slot_requests(sl);
	if (seen < METRICS_SAMPLES_PER_SLOT) {
		sl->samples[seen] = sample_encode(latency_us);
	} else {
		uint64_t j = rng_next(m) % ((uint64_t)seen + 1);
		if (j < METRICS_SAMPLES_PER_SLOT)
			sl->samples[j] = sample_encode(latency_us);
	}
	if (sl->by_class[cls] < UINT32_MAX)
		sl->by_class[cls]++;
	if (sl->hist[b] < UINT32_MAX)
		sl->hist[b]++;
	sl->bytes_in += bytes_in;
	sl->bytes_out += bytes_out;
}

/* --- reading ----------------------------------------------------------- */

static struct series *series_lookup(struct metrics *m, const char *app, int64_t revision)
{
	return series_find(m, app, revision, series_hash(app, revision));
}

static unsigned clamp_seconds(unsigned seconds)
{
	if (seconds < 1)
		return 1;
	return seconds > METRICS_WINDOW_SECONDS ? METRICS_WINDOW_SECONDS : seconds;
}

/* The first second of a window of `seconds` ending with the current one. */
static uint64_t window_first_sec(uint64_t now_ms, unsigned seconds)
{
	uint64_t cur = now_ms / 1000;
	return cur + 1 >= seconds ? cur + 1 - seconds : 0;
}

/* The slot holding second `sec`, or NULL when it holds another. */
static const struct slot *slot_at(const struct series *s, uint64_t sec)
{
	const struct slot *sl;
	if (!s || !s->ring)
		return NULL;
	sl = &s->ring[sec % METRICS_WINDOW_SECONDS];
	return sl->sec == sec ? sl : NULL;
}

/*
 * The latency (ms) at quantile q of a histogram: the bucket holding the
 * rank ceil(q*n), then geometric interpolation inside it at the middle of
 * that rank's share of the bucket (linear in the first bucket, which
 * starts at 0). The answer lies in the right bucket, so its error is at
 * most one bucket width (R - 1 = 24 %), and much less for spread values.
 * The +Inf bucket answers its lower bound, 60 s.
 */
static double hist_quantile(const struct metrics *m, const uint64_t *h, uint64_t n, double q)
{
	uint64_t rank, cum = 0;
	if (n == 0)
		return NAN;
	rank = (uint64_t)ceil(q * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	for (size_t i = 0; i < METRICS_BUCKETS; i++) {
		if (h[i] == 0 || cum + h[i] < rank) {
			cum += h[i];
			continue;
		}
		double frac = ((double)(rank - cum) - 0.5) / (double)h[i];
		if (i == NBOUNDS)
			return (double)m->bound_us[NBOUNDS - 1] / 1000.0;
		double hi = (double)m->bound_us[i];
		if (i == 0)
			return frac * hi / 1000.0;
		double lo = (double)m->bound_us[i - 1];
		return lo * pow(hi / lo, frac) / 1000.0;
	}
	return NAN; /* not reached: the ranks add up to n */
}

static void window_unlocked(struct metrics *m, const char *app, int64_t revision, unsigned seconds,
		    uint64_t now_ms, struct metrics_window *out)
{
	const struct series *s = series_lookup(m, app, revision);
	uint64_t hist[METRICS_BUCKETS] = {0}, first;

	seconds = clamp_seconds(seconds);
	first = window_first_sec(now_ms, seconds);
	memset(out, 0, sizeof(*out));
	for (uint64_t sec = first; sec <= now_ms / 1000; sec++) {
		const struct slot *sl = slot_at(s, sec);
		if (!sl)
			continue;
		for (size_t c = 0; c < METRICS_NCLASS; c++) {
			out->by_class[c] += sl->by_class[c];
			out->requests += sl->by_class[c];
		}
		for (size_t b = 0; b < METRICS_BUCKETS; b++)
			hist[b] += sl->hist[b];
		out->bytes_in += sl->bytes_in;
		out->bytes_out += sl->bytes_out;
	}
	out->inflight = s ? s->inflight : 0;

	/* rate over the time the window really covers: from its start (or
	 * the second the series began, if later) to now, at least 1 s */
	uint64_t start_ms = first * 1000, covered_ms;
	if (s && s->first_ms != UINT64_MAX && s->first_ms / 1000 * 1000 > start_ms)
		start_ms = s->first_ms / 1000 * 1000;
	covered_ms = now_ms > start_ms ? now_ms - start_ms : 0;
	if (covered_ms < 1000)
		covered_ms = 1000;
	out->rate = (double)out->requests / ((double)covered_ms / 1000.0);

	if (out->requests == 0) {
		out->success_rate = out->error_rate = NAN;
		out->p50_ms = out->p90_ms = out->p95_ms = out->p99_ms = NAN;
		return;
	}
	uint64_t bad = out->by_class[METRICS_5XX] + out->by_class[METRICS_PROXY_ERR];
	out->success_rate = (double)(out->requests - bad) / (double)out->requests;
	out->error_rate = (double)bad / (double)out->requests;
	out->p50_ms = hist_quantile(m, hist, out->requests, 0.50);
	out->p90_ms = hist_quantile(m, hist, out->requests, 0.90);
	out->p95_ms = hist_quantile(m, hist, out->requests, 0.95);
	out->p99_ms = hist_quantile(m, hist, out->requests, 0.99);
}

static size_t slot_kept(const struct slot *sl)
{
	uint32_t n = slot_requests(sl);
	return n < METRICS_SAMPLES_PER_SLOT ? n : METRICS_SAMPLES_PER_SLOT;
}

static size_t samples_unlocked(struct metrics *m, const char *app, int64_t revision, unsigned seconds,
		       uint64_t now_ms, double *out, size_t max)
{
	const struct series *s = series_lookup(m, app, revision);
	uint64_t first, total = 0, g = 0;
	size_t n = 0;

	seconds = clamp_seconds(seconds);
	first = window_first_sec(now_ms, seconds);
	for (uint64_t sec = first; sec <= now_ms / 1000; sec++) {
		const struct slot *sl = slot_at(s, sec);
		if (sl)
			total += slot_kept(sl);
	}
	if (max == 0 || total == 0)
		return 0;
	/* more than max: every (total/max)-th, so all of the window is seen */
	for (uint64_t sec = first; sec <= now_ms / 1000 && n < max; sec++) {
		const struct slot *sl = slot_at(s, sec);
		size_t kept = sl ? slot_kept(sl) : 0;
		for (size_t i = 0; i < kept && n < max; i++, g++)
			if (total <= max || g == (uint64_t)n * total / max)
				out[n++] = sample_decode_ms(sl->samples[i]);
	}
	return n;
}

static size_t error_series_unlocked(struct metrics *m, const char *app, int64_t revision,
			    unsigned seconds, uint64_t now_ms, double *out, size_t max)
{
	const struct series *s = series_lookup(m, app, revision);
	uint64_t first;
	size_t nslots = 0, skip, n = 0;

	seconds = clamp_seconds(seconds);
	first = window_first_sec(now_ms, seconds);
	for (uint64_t sec = first; sec <= now_ms / 1000; sec++) {
		const struct slot *sl = slot_at(s, sec);
		nslots += sl && slot_requests(sl) > 0;
	}
	skip = nslots > max ? nslots - max : 0; /* keep the newest */
	for (uint64_t sec = first; sec <= now_ms / 1000; sec++) {
		const struct slot *sl = slot_at(s, sec);
		uint32_t req = sl ? slot_requests(sl) : 0;
		if (req == 0)
			continue;
		if (skip) {
			skip--;
			continue;
		}
		out[n++] = (double)(sl->by_class[METRICS_5XX] + sl->by_class[METRICS_PROXY_ERR]) /
			   (double)req;
	}
	return n;
}

/* --- export ------------------------------------------------------------ */

static const char *const class_names[METRICS_NCLASS] = {
	[METRICS_1XX] = "1xx", [METRICS_2XX] = "2xx", [METRICS_3XX] = "3xx",
	[METRICS_4XX] = "4xx", [METRICS_5XX] = "5xx", [METRICS_PROXY_ERR] = "proxy_error",
};
/* The same names in JSON keys (camelCase like the rest of the API). */
static const char *const class_keys[METRICS_NCLASS] = {
	[METRICS_1XX] = "1xx", [METRICS_2XX] = "2xx", [METRICS_3XX] = "3xx",
	[METRICS_4XX] = "4xx", [METRICS_5XX] = "5xx", [METRICS_PROXY_ERR] = "proxyError",
};

static int series_cmp(const void *a, const void *b)
{
	const struct series *x = *(const struct series *const *)a;
	const struct series *y = *(const struct series *const *)b;
	int c = strcmp(x->app, y->app);
	if (c)
		return c;
	return (x->revision > y->revision) - (x->revision < y->revision);
}

/* All series sorted by app then revision, so outputs are stable. The
 * caller frees the array. */
static struct series **series_sorted(struct metrics *m)
{
	struct series **v = xcalloc(m->nseries ? m->nseries : 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < m->nbuckets; i++)
		for (struct series *s = m->buckets[i]; s; s = s->next)
			v[n++] = s;
	assert(n == m->nseries);
	qsort(v, n, sizeof(*v), series_cmp);
	return v;
}

static json_t *real_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *metrics_window_json(const struct metrics_window *w)
{
	json_t *classes = json_object();
	for (size_t c = 0; c < METRICS_NCLASS; c++)
		json_object_set_new(classes, class_keys[c], json_integer((json_int_t)w->by_class[c]));
	return json_pack("{s:I, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I}",
			 "requests", (json_int_t)w->requests, "byClass", classes, "bytesIn",
			 (json_int_t)w->bytes_in, "bytesOut", (json_int_t)w->bytes_out, "rate",
			 real_or_null(w->rate), "successRate", real_or_null(w->success_rate),
			 "errorRate", real_or_null(w->error_rate), "p50Ms", real_or_null(w->p50_ms),
			 "p90Ms", real_or_null(w->p90_ms), "p95Ms", real_or_null(w->p95_ms), "p99Ms",
			 real_or_null(w->p99_ms), "inflight", (json_int_t)w->inflight);
}

static json_t *json_unlocked(struct metrics *m, unsigned seconds, uint64_t now_ms)
{
	struct series **v = series_sorted(m);
	json_t *arr = json_array();
	seconds = clamp_seconds(seconds);
	for (size_t i = 0; i < m->nseries; i++) {
		struct metrics_window w;
		json_t *o;
		window_unlocked(m, v[i]->app, v[i]->revision, seconds, now_ms, &w);
		o = metrics_window_json(&w);
		json_object_set_new(o, "app", json_string(v[i]->app));
		json_object_set_new(o, "revision", json_integer((json_int_t)v[i]->revision));
		json_array_append_new(arr, o);
	}
	free(v);
	return json_pack("{s:I, s:o}", "windowSeconds", (json_int_t)seconds, "series", arr);
}

static int json_uint(const json_t *o, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int json_real_or_nan(const json_t *o, const char *key, double *out)
{
	const json_t *v = json_object_get(o, key);
	if (json_is_null(v)) {
		*out = NAN;
		return 0;
	}
	if (!json_is_number(v))
		return -1;
	*out = json_number_value(v);
	return 0;
}

int metrics_window_from_json(const json_t *j, struct metrics_window *out)
{
	const json_t *classes = json_object_get(j, "byClass"), *inflight;
	uint64_t v;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(j) || !json_is_object(classes))
		return -1;
	for (size_t c = 0; c < METRICS_NCLASS; c++) {
		if (json_uint(classes, class_keys[c], &v) < 0)
			return -1;
		out->by_class[c] = v;
	}
	inflight = json_object_get(j, "inflight");
	if (json_uint(j, "requests", &out->requests) < 0 ||
	    json_uint(j, "bytesIn", &out->bytes_in) < 0 ||
	    json_uint(j, "bytesOut", &out->bytes_out) < 0 || !json_is_integer(inflight) ||
	    json_real_or_nan(j, "rate", &out->rate) < 0 ||
	    json_real_or_nan(j, "successRate", &out->success_rate) < 0 ||
	    json_real_or_nan(j, "errorRate", &out->error_rate) < 0 ||
	    json_real_or_nan(j, "p50Ms", &out->p50_ms) < 0 ||
	    json_real_or_nan(j, "p90Ms", &out->p90_ms) < 0 ||
	    json_real_or_nan(j, "p95Ms", &out->p95_ms) < 0 ||
	    json_real_or_nan(j, "p99Ms", &out->p99_ms) < 0)
		return -1;
	out->inflight = json_integer_value(inflight);
	return 0;
}

/* A label value with Prometheus escaping: backslash, quote, newline. */
static void add_label_value(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_adds(out, "\\\\");
		else if (*s == '"')
			buf_adds(out, "\\\"");
		else if (*s == '\n')
			buf_adds(out, "\\n");
		else
			buf_addc(out, *s);
	}
}

static void add_labels(struct buf *out, const struct series *s)
{
	buf_adds(out, "app=\"");
	add_label_value(out, s->app);
	buf_addf(out, "\",revision=\"%" PRId64 "\"", s->revision);
}

/* Microseconds as decimal seconds without trailing zeros: 100 → 0.0001. */
static void add_seconds(struct buf *out, uint64_t us)
{
	char frac[8];
	size_t n;
	snprintf(frac, sizeof(frac), "%06u", (unsigned)(us % 1000000));
	for (n = 6; n > 0 && frac[n - 1] == '0'; n--)
		;
	frac[n] = '\0';
	buf_addf(out, "%" PRIu64 "%s%s", us / 1000000, n ? "." : "", frac);
}

static void family(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prometheus_unlocked(struct metrics *m, struct buf *out)
{
	struct series **v = series_sorted(m);
	size_t n = m->nseries;

	family(out, "slipway_requests_total", "counter",
	       "Requests by app, revision and status class (proxy_error: 502/503/504 the proxy produced).");
	for (size_t i = 0; i < n; i++)
		for (size_t c = 0; c < METRICS_NCLASS; c++) {
			buf_adds(out, "slipway_requests_total{");
			add_labels(out, v[i]);
			buf_addf(out, ",class=\"%s\"} %" PRIu64 "\n", class_names[c],
				 v[i]->total_class[c]);
		}

	family(out, "slipway_request_duration_seconds", "histogram",
	       "Time from request start to response end.");
	for (size_t i = 0; i < n; i++) {
		uint64_t cum = 0;
		for (size_t b = 0; b < METRICS_BUCKETS; b++) {
			cum += v[i]->total_hist[b];
			buf_adds(out, "slipway_request_duration_seconds_bucket{");
			add_labels(out, v[i]);
			buf_adds(out, ",le=\"");
			if (b < NBOUNDS)
				add_seconds(out, m->bound_us[b]);
			else
				buf_adds(out, "+Inf");
			buf_addf(out, "\"} %" PRIu64 "\n", cum);
		}
		buf_adds(out, "slipway_request_duration_seconds_sum{");
		add_labels(out, v[i]);
		buf_adds(out, "} ");
		add_seconds(out, v[i]->total_latency_us);
		buf_adds(out, "\nslipway_request_duration_seconds_count{");
		add_labels(out, v[i]);
		buf_addf(out, "} %" PRIu64 "\n", cum);
	}

	family(out, "slipway_requests_in_flight", "gauge", "Requests being served now.");
	for (size_t i = 0; i < n; i++) {
		buf_adds(out, "slipway_requests_in_flight{");
		add_labels(out, v[i]);
		buf_addf(out, "} %" PRId64 "\n", v[i]->inflight);
	}

	family(out, "slipway_bytes_received_total", "counter", "Bytes received from clients.");
	for (size_t i = 0; i < n; i++) {
		buf_adds(out, "slipway_bytes_received_total{");
		add_labels(out, v[i]);
		buf_addf(out, "} %" PRIu64 "\n", v[i]->total_bytes_in);
	}

	family(out, "slipway_bytes_sent_total", "counter", "Bytes sent to clients.");
	for (size_t i = 0; i < n; i++) {
		buf_adds(out, "slipway_bytes_sent_total{");
		add_labels(out, v[i]);
		buf_addf(out, "} %" PRIu64 "\n", v[i]->total_bytes_out);
	}
	free(v);

	const struct metrics_conns *k = &m->conns;
	family(out, "slipway_proxy_connections", "gauge", "Client connections open now.");
	/* the workers' engines update these without the lock (atomically) */
	buf_addf(out, "slipway_proxy_connections %" PRIu64 "\n", __atomic_load_n(&k->open, __ATOMIC_RELAXED));
	family(out, "slipway_proxy_connections_limit", "gauge",
	       "Client connections the proxy takes at most (--max-conns).");
	buf_addf(out, "slipway_proxy_connections_limit %" PRIu64 "\n", k->limit);
	family(out, "slipway_proxy_connections_refused_total", "counter",
	       "New client connections over the limit: answered 503 with Retry-After, or closed unanswered.");
	buf_addf(out, "slipway_proxy_connections_refused_total{answer=\"503\"} %" PRIu64 "\n"
		      "slipway_proxy_connections_refused_total{answer=\"close\"} %" PRIu64 "\n",
		 __atomic_load_n(&k->refused_503, __ATOMIC_RELAXED),
		 __atomic_load_n(&k->refused_closed, __ATOMIC_RELAXED));
	family(out, "slipway_proxy_idle_connections_closed_total", "counter",
	       "Idle keep-alive client connections closed to make room for new ones at the limit.");
	buf_addf(out, "slipway_proxy_idle_connections_closed_total %" PRIu64 "\n",
		 __atomic_load_n(&k->idle_closed, __ATOMIC_RELAXED));
}

struct metrics_conns *metrics_conns(struct metrics *m)
{
	return &m->conns;
}

/* --- the public calls, under the lock ----------------------------------- */

void metrics_forget(struct metrics *m, const char *app, int64_t revision)
{
	lock(m);
	forget_unlocked(m, app, revision);
	unlock(m);
}

size_t metrics_series_count(const struct metrics *m)
{
	lock(m);
	size_t r = series_count_unlocked(m);
	unlock(m);
	return r;
}

size_t metrics_memory(const struct metrics *m)
{
	lock(m);
	size_t r = memory_unlocked(m);
	unlock(m);
	return r;
}

void metrics_begin(struct metrics *m, const char *app, int64_t revision)
{
	lock(m);
	begin_unlocked(m, app, revision);
	unlock(m);
}

void metrics_end(struct metrics *m, const char *app, int64_t revision, int status,
		 bool proxy_error, uint64_t latency_us, uint64_t bytes_in, uint64_t bytes_out,
		 uint64_t now_ms)
{
	lock(m);
	end_unlocked(m, app, revision, status, proxy_error, latency_us, bytes_in, bytes_out, now_ms);
	unlock(m);
}

void metrics_window(struct metrics *m, const char *app, int64_t revision, unsigned seconds,
		    uint64_t now_ms, struct metrics_window *out)
{
	lock(m);
	window_unlocked(m, app, revision, seconds, now_ms, out);
	unlock(m);
}

size_t metrics_samples(struct metrics *m, const char *app, int64_t revision, unsigned seconds,
		       uint64_t now_ms, double *out, size_t max)
{
	lock(m);
	size_t r = samples_unlocked(m, app, revision, seconds, now_ms, out, max);
	unlock(m);
	return r;
}

size_t metrics_error_series(struct metrics *m, const char *app, int64_t revision,
			    unsigned seconds, uint64_t now_ms, double *out, size_t max)
{
	lock(m);
	size_t r = error_series_unlocked(m, app, revision, seconds, now_ms, out, max);
	unlock(m);
	return r;
}

json_t *metrics_json(struct metrics *m, unsigned seconds, uint64_t now_ms)
{
	lock(m);
	json_t *r = json_unlocked(m, seconds, now_ms);
	unlock(m);
	return r;
}

void metrics_prometheus(struct metrics *m, struct buf *out)
{
	lock(m);
	prometheus_unlocked(m, out);
	unlock(m);
}
