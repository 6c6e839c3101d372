/*
 * Analysis runs the rollout asks for. A run measures every metric of its
 * templates on its own timer (initialDelay, then every interval) through a
 * provider, folds each answer into the metric's run (src/analysis/measure.h),
 * stores every measurement with its reason, and reports the run's phase to
 * the rollout: Failed or Error as soon as one metric is, otherwise
 * Inconclusive or Successful when all metrics are done.
 *
 * Providers: builtin and compare read the proxy's per-revision windows and
 * samples; exec runs a command; prometheus and web are HTTP calls through
 * httpc. None of them blocks the loop for long: the proxy answers on a
 * local socket, the others are asynchronous with a timeout.
 */
#include "daemon_int.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/judge.h"
#include "analysis/measure.h"
#include "httpc/httpc.h"

static const char *kind_name(enum rollout_run_kind k)
{
	switch (k) {
	case ROLLOUT_RUN_STEP: return "step";
	case ROLLOUT_RUN_BACKGROUND: return "background";
	case ROLLOUT_RUN_PRE: return "prePromotion";
	case ROLLOUT_RUN_POST: return "postPromotion";
	}
	return "step";
}

struct run_ctx;

struct metric {
	struct run_ctx *ctx;
	struct measure_config cfg;
	struct measure_run run;
	char *template_name;
	uv_timer_t timer;
	bool busy;                /* a measurement is in flight */
	/* exec */
	uv_process_t proc;
	uv_pipe_t pipe;
	uv_timer_t kill;
	struct buf out;
	bool proc_open, pipe_open, exited;
	int64_t exit_status;
	int term_signal;
	/* http */
	uint64_t http_id;
	json_t *args;             /* template args merged with the reference's */
};

struct run_ctx {
	struct daemon *d;
	struct daemon_run *run;   /* NULL once stopped */
	char *app;
	int64_t revision, stable;
	struct metric *metrics;
	size_t nmetrics;
	int handles;              /* open uv handles; freed when 0 after stop */
	bool stopped;
};

static void measured(struct metric *m, const struct measure_input *in, const char *query);

static void ctx_maybe_free(struct run_ctx *c)
{
	if (!c->stopped || c->handles > 0)
		return;
	for (size_t i = 0; i < c->nmetrics; i++) {
		measure_config_release(&c->metrics[i].cfg);
		json_decref(c->metrics[i].args);
		free(c->metrics[i].template_name);
		buf_release(&c->metrics[i].out);
	}
	free(c->metrics);
	free(c->app);
	free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct metric *m = h->data;
	m->ctx->handles--;
	ctx_maybe_free(m->ctx);
}

static void close_handle(struct metric *m, uv_handle_t *h)
{
	if (!uv_is_closing(h)) {
		h->data = m;
		uv_close(h, on_handle_closed);
	}
}

/* ---- providers ---- */

static const char *pstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The proxy's window series of (app, revision), or NULL. */
static json_t *series_of(json_t *stats, const char *app, int64_t revision)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(stats, "series"), i, s) {
		const char *a = pstr(s, "app");
		if (a && strcmp(a, app) == 0 && json_integer_value(json_object_get(s, "revision")) == revision)
			return s;
	}
	return NULL;
}

static unsigned window_s(const json_t *prov, uint64_t dflt_ms)
{
	uint64_t ms = dflt_ms;
	const char *w = pstr(prov, "window");
	if (w)
		sw_duration_parse(w, &ms);
	unsigned s = (unsigned)((ms + 999) / 1000);
	return s < 1 ? 1 : s > 300 ? 300 : s;
}

static void measure_builtin(struct metric *m)
{
	struct run_ctx *c = m->ctx;
	const char *metric = pstr(m->cfg.provider, "metric");
	unsigned w = window_s(m->cfg.provider, 30000);
	static const struct {
		const char *name, *field;
	} fields[] = {
		{"success-rate", "successRate"}, {"error-rate", "errorRate"},
		{"latency-p50", "p50Ms"},        {"latency-p90", "p90Ms"},
		{"latency-p95", "p95Ms"},        {"latency-p99", "p99Ms"},
		{"request-rate", "rate"},
	};
	const char *field = NULL;
	for (size_t i = 0; metric && i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(metric, fields[i].name) == 0)
			field = fields[i].field;
	char query[128], path[64], detail[160];
	snprintf(query, sizeof(query), "%s of revision %lld over %us", metric ? metric : "?",
		 (long long)c->revision, w);
	if (!field) {
		struct measure_input in = measure_input_error("unknown builtin metric");
		measured(m, &in, query);
		return;
	}
	snprintf(path, sizeof(path), "/v1/stats?window=%u", w);
	json_t *stats = proxyctl_get(c->d, path);
	if (!stats) {
		struct measure_input in = measure_input_error("the proxy is not reachable");
		measured(m, &in, query);
		return;
	}
	json_t *s = series_of(stats, c->app, c->revision);
	json_int_t requests = json_integer_value(json_object_get(s, "requests"));
	json_t *v = json_object_get(s, field);
	struct measure_input in;
	if (!s || requests == 0 || !json_is_number(v)) {
		snprintf(detail, sizeof(detail), "no requests reached revision %lld in the last %us",
			 (long long)c->revision, w);
		in = measure_input_no_data(detail);
	} else {
		in = measure_input_value(expr_number(json_number_value(v)), (uint64_t)requests);
	}
	measured(m, &in, query);
	json_decref(stats);
}

/* Raw samples of one revision from the proxy: latencies (ms) or
 * per-second error rates. Returns the count; *out is malloc'ed. */
static size_t proxy_samples(struct run_ctx *c, int64_t revision, bool errors, unsigned w,
			    double **out, bool *reachable)
{
	char path[256];
	snprintf(path, sizeof(path), "/v1/samples?app=%s&revision=%lld&window=%u", c->app,
		 (long long)revision, w);
	json_t *j = proxyctl_get(c->d, path);
	*out = NULL;
	*reachable = j != NULL;
	json_t *arr = json_object_get(j, errors ? "errorRates" : "latencies");
	size_t n = json_array_size(arr), k = 0;
	*out = xcalloc(n + 1, sizeof(double));
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_array_get(arr, i);
		if (json_is_number(x))
			(*out)[k++] = json_number_value(x);
	}
	json_decref(j);
	return k;
}

static double pnum(const json_t *o, const char *k, double dflt)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : dflt;
}

static void measure_compare(struct metric *m)
{
	struct run_ctx *c = m->ctx;
	const char *metric = pstr(m->cfg.provider, "metric");
	bool errors = metric && strcmp(metric, "error-rate") == 0;
	unsigned w = window_s(m->cfg.provider, m->cfg.interval_ms > 30000 ? m->cfg.interval_ms : 30000);
	char query[160];
	snprintf(query, sizeof(query), "%s of revision %lld vs stable %lld over %us",
		 errors ? "error-rate" : "latency", (long long)c->revision, (long long)c->stable, w);
	if (!c->stable || c->stable == c->revision) {
		struct measure_input in = measure_input_no_data("no stable revision to compare with");
		measured(m, &in, query);
		return;
	}
	double *base = NULL, *cand = NULL;
	bool r1, r2;
	size_t nb = proxy_samples(c, c->stable, errors, w, &base, &r1);
	size_t nc = proxy_samples(c, c->revision, errors, w, &cand, &r2);
	struct judge_config jc = {
		.confidence = pnum(m->cfg.provider, "confidence", 0.98),
		.max_increase = pnum(m->cfg.provider, "maxIncrease", 0.1),
		.min_samples = (size_t)pnum(m->cfg.provider, "minSamples", 30),
	};
	struct judge_result jr;
	struct measure_input in;
	if (!r1 || !r2) {
		in = measure_input_error("the proxy is not reachable");
	} else {
		if (errors)
			judge_error_rate(&jr, &jc, base, nb, cand, nc);
		else
			judge_latency(&jr, &jc, base, nb, cand, nc);
		if (jr.verdict == JUDGE_INCONCLUSIVE)
			in = measure_input_no_data(jr.reason);
		else {
			in = measure_input_value(expr_bool(jr.verdict == JUDGE_PASS),
						 MEASURE_SAMPLES_UNKNOWN);
			in.detail = jr.reason;
		}
	}
	measured(m, &in, query);
	free(base);
	free(cand);
}

/* exec: exit status decides, or a number printed on stdout is the result */
static void exec_finish(struct metric *m)
{
	if (m->proc_open || m->pipe_open || !m->exited)
		return;
	char query[512] = "";
	size_t n = 0;
	json_t *cmd = json_object_get(m->cfg.provider, "command");
	size_t i;
	json_t *x;
	json_array_foreach(cmd, i, x)
		n += (size_t)snprintf(query + n, n < sizeof(query) ? sizeof(query) - n : 0, "%s%s",
				      i ? " " : "", json_string_value(x) ? json_string_value(x) : "");
	struct measure_input in;
	char detail[200];
	const char *text = buf_str(&m->out);
	char *end;
	double v = strtod(text, &end);
	while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r')
		end++;
	if (m->term_signal) {
		snprintf(detail, sizeof(detail), "killed by signal %d (timeout?)", m->term_signal);
		in = measure_input_error(detail);
	} else if (m->exit_status < 0) {
		in = measure_input_error("cannot run the command");
	} else if (end != text && *end == '\0' && m->exit_status == 0) {
		in = measure_input_value(expr_number(v), MEASURE_SAMPLES_UNKNOWN);
	} else {
		in = measure_input_value(expr_bool(m->exit_status == 0), MEASURE_SAMPLES_UNKNOWN);
		snprintf(detail, sizeof(detail), "exit status %lld", (long long)m->exit_status);
		in.detail = detail;
	}
	if (!m->ctx->stopped)
		measured(m, &in, query);
	else
		m->busy = false;
}

static void exec_closed(uv_handle_t *h)
{
	struct metric *m = h->data;
	if (h == (uv_handle_t *)&m->proc)
		m->proc_open = false;
	else if (h == (uv_handle_t *)&m->pipe)
		m->pipe_open = false;
	m->ctx->handles--;
	exec_finish(m);
	ctx_maybe_free(m->ctx);
}

static void exec_exit(uv_process_t *p, int64_t status, int sig)
{
	struct metric *m = p->data;
	m->exited = true;
	m->exit_status = status;
	m->term_signal = sig;
	uv_timer_stop(&m->kill);
	uv_close((uv_handle_t *)p, exec_closed);
}

static void exec_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	static char chunk[4096];
	b->base = chunk;
	b->len = sizeof(chunk);
}

static void exec_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct metric *m = s->data;
	if (n > 0) {
		m->out.cap = 64 * 1024;
		buf_add(&m->out, b->base, (size_t)n);
	} else if (n < 0) {
		uv_close((uv_handle_t *)s, exec_closed);
	}
}

static void exec_timeout(uv_timer_t *t)
{
	struct metric *m = t->data;
	if (m->proc_open && !m->exited)
		uv_process_kill(&m->proc, SIGKILL);
}

static void measure_exec(struct metric *m)
{
	json_t *cmd = json_object_get(m->cfg.provider, "command");
	size_t argc = json_array_size(cmd);
	char **argv = xcalloc(argc + 1, sizeof(char *));
	for (size_t i = 0; i < argc; i++)
		argv[i] = (char *)json_string_value(json_array_get(cmd, i));
	uint64_t timeout = 10000;
	const char *t = pstr(m->cfg.provider, "timeout");
	if (t)
		sw_duration_parse(t, &timeout);
	buf_reset(&m->out);
	m->exited = false;
	m->term_signal = 0;
	m->exit_status = -1;
	uv_loop_t *loop = &m->ctx->d->loop;
	uv_pipe_init(loop, &m->pipe, 0);
	m->pipe.data = m;
	m->proc.data = m;
	uv_stdio_container_t stdio[3] = {
		{.flags = UV_IGNORE},
		{.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&m->pipe},
		{.flags = UV_IGNORE},
	};
	uv_process_options_t o = {
		.exit_cb = exec_exit,
		.file = argv[0],
		.args = argv,
		.stdio_count = 3,
		.stdio = stdio,
	};
	m->ctx->handles++;
	m->pipe_open = true;
	int r = argc ? uv_spawn(loop, &m->proc, &o) : UV_EINVAL;
	free(argv);
	m->ctx->handles++;
	m->proc_open = true;
	if (r < 0) {
		/* a failed uv_spawn still leaves a handle to close */
		m->exited = true;
		m->exit_status = -1;
		uv_close((uv_handle_t *)&m->pipe, exec_closed);
		if (argc)
			uv_close((uv_handle_t *)&m->proc, exec_closed);
		else {
			m->proc_open = false;
			m->ctx->handles--;
		}
		return;
	}
	uv_read_start((uv_stream_t *)&m->pipe, exec_alloc, exec_read);
	uv_timer_start(&m->kill, exec_timeout, timeout, 0);
}

/* Follows a small JSON path ("$.data.ok", "$.items[0].value"). */
static json_t *json_path(json_t *j, const char *path)
{
	const char *p = path;
	if (*p == '$')
		p++;
	while (j && *p) {
		if (*p == '.') {
			p++;
			size_t n = strcspn(p, ".[");
			char key[128];
			if (n >= sizeof(key))
				return NULL;
			memcpy(key, p, n);
			key[n] = '\0';
			j = json_object_get(j, key);
			p += n;
		} else if (*p == '[') {
			char *end;
			long idx = strtol(p + 1, &end, 10);
			if (*end != ']' || idx < 0)
				return NULL;
			j = json_array_get(j, (size_t)idx);
			p = end + 1;
		} else {
			return NULL;
		}
	}
	return j;
}

static void http_done(int status, const char *body, size_t len, const char *error, void *data)
{
	struct metric *m = data;
	struct run_ctx *c = m->ctx;
	m->http_id = 0;
	c->handles--;
	if (c->stopped) {
		m->busy = false;
		ctx_maybe_free(c);
		return;
	}
	bool prom = strcmp(m->cfg.provider_kind, "prometheus") == 0;
	const char *query = prom ? pstr(m->cfg.provider, "query") : pstr(m->cfg.provider, "url");
	struct measure_input in;
	char detail[256];
	json_t *j = NULL;
	double arr[64];
	if (error) {
		in = measure_input_error(error);
	} else if (status < 200 || status > 299) {
		snprintf(detail, sizeof(detail), "HTTP %d: %.160s", status, body ? body : "");
		in = measure_input_error(detail);
	} else if (!(j = json_loadb(body, len, 0, NULL))) {
		in = measure_input_error("the answer is not JSON");
	} else if (prom) {
		json_t *data = json_object_get(j, "data");
		const char *type = pstr(data, "resultType");
		json_t *res = json_object_get(data, "result");
		if (type && (strcmp(type, "scalar") == 0 || strcmp(type, "string") == 0)) {
			const char *v = json_string_value(json_array_get(res, 1));
			in = v ? measure_input_value(expr_number(strtod(v, NULL)), MEASURE_SAMPLES_UNKNOWN)
			       : measure_input_error("malformed scalar");
		} else if (json_array_size(res) == 0) {
			in = measure_input_no_data("the query returned no series");
		} else {
			size_t n = 0, i;
			json_t *s;
			json_array_foreach(res, i, s) {
				const char *v = json_string_value(json_array_get(json_object_get(s, "value"), 1));
				if (v && n < 64)
					arr[n++] = strtod(v, NULL);
			}
			in = n == 1 ? measure_input_value(expr_number(arr[0]), MEASURE_SAMPLES_UNKNOWN)
				    : measure_input_value(expr_array(arr, n), MEASURE_SAMPLES_UNKNOWN);
		}
	} else {
		const char *path = pstr(m->cfg.provider, "jsonPath");
		json_t *v = path ? json_path(j, path) : j;
		if (!v)
			in = measure_input_no_data("jsonPath found nothing in the answer");
		else if (json_is_number(v))
			in = measure_input_value(expr_number(json_number_value(v)), MEASURE_SAMPLES_UNKNOWN);
		else if (json_is_boolean(v))
			in = measure_input_value(expr_bool(json_is_true(v)), MEASURE_SAMPLES_UNKNOWN);
		else if (json_is_string(v))
			in = measure_input_value(expr_string(json_string_value(v)), MEASURE_SAMPLES_UNKNOWN);
		else
			in = measure_input_error("jsonPath does not point at a number, bool or string");
	}
	measured(m, &in, query);
	json_decref(j);
}

static void measure_http(struct metric *m)
{
	struct run_ctx *c = m->ctx;
	struct sw_err err = {0};
	struct buf url = BUF_INIT;
	const char *headers[33] = {NULL};
	struct buf hb[32];
	size_t nh = 0;
	bool prom = strcmp(m->cfg.provider_kind, "prometheus") == 0;
	uint64_t timeout = 5000;
	const char *t = pstr(m->cfg.provider, "timeout");
	if (t)
		sw_duration_parse(t, &timeout);
	struct httpc_request req = {.method = "GET", .timeout_ms = timeout};
	if (prom) {
		const char *addr = pstr(m->cfg.provider, "address");
		size_t al = addr ? strlen(addr) : 0;
		while (al && addr[al - 1] == '/')
			al--;
		buf_addf(&url, "%.*s/api/v1/query?query=", (int)al, addr ? addr : "");
		char *q = NULL;
		if (measure_args_substitute(&q, pstr(m->cfg.provider, "query") ? pstr(m->cfg.provider, "query") : "",
					    m->args, &err) < 0) {
			struct measure_input in = measure_input_error(err.msg);
			buf_release(&url);
			measured(m, &in, pstr(m->cfg.provider, "query"));
			return;
		}
		httpc_urlencode(&url, q);
		free(q);
	} else {
		char *u = NULL;
		if (measure_args_substitute(&u, pstr(m->cfg.provider, "url") ? pstr(m->cfg.provider, "url") : "",
					    m->args, &err) < 0) {
			struct measure_input in = measure_input_error(err.msg);
			measured(m, &in, pstr(m->cfg.provider, "url"));
			return;
		}
		buf_adds(&url, u);
		free(u);
		if (pstr(m->cfg.provider, "method"))
			req.method = pstr(m->cfg.provider, "method");
		req.body = pstr(m->cfg.provider, "body");
		req.body_len = req.body ? strlen(req.body) : 0;
		json_t *h = json_object_get(m->cfg.provider, "headers");
		const char *k;
		json_t *v;
		size_t i;
		if (json_is_object(h)) {
			json_object_foreach(h, k, v) {
				if (nh < 32 && json_is_string(v)) {
					hb[nh] = (struct buf)BUF_INIT;
					buf_addf(&hb[nh], "%s: %s", k, json_string_value(v));
					headers[nh] = hb[nh].s;
					nh++;
				}
			}
		} else if (json_is_array(h)) {
			json_array_foreach(h, i, v) {
				if (nh < 32 && pstr(v, "name") && pstr(v, "value")) {
					hb[nh] = (struct buf)BUF_INIT;
					buf_addf(&hb[nh], "%s: %s", pstr(v, "name"), pstr(v, "value"));
					headers[nh] = hb[nh].s;
					nh++;
				}
			}
		}
	}
	req.url = url.s;
	req.headers = headers;
	c->handles++; /* the request holds the context until its callback */
	m->http_id = httpc_request(c->d->httpc, &req, http_done, m, &err);
	if (!m->http_id)
		c->handles--;
	for (size_t i = 0; i < nh; i++)
		buf_release(&hb[i]);
	if (!m->http_id) {
		struct measure_input in = measure_input_error(err.msg);
		measured(m, &in, url.s);
	}
	buf_release(&url);
}

/* ---- measuring ---- */

static void run_update(struct run_ctx *c);
static void run_start(struct daemon *d, struct app *a, int64_t id, enum rollout_run_kind kind,
		      int64_t revision, const struct spec_analysis_ref *ref, bool resumed);

static void on_tick(uv_timer_t *t)
{
	struct metric *m = t->data;
	if (m->ctx->stopped || m->busy || m->run.phase != MEASURE_RUNNING)
		return;
	m->busy = true;
	const char *k = m->cfg.provider_kind;
	if (strcmp(k, "builtin") == 0)
		measure_builtin(m);
	else if (strcmp(k, "compare") == 0)
		measure_compare(m);
	else if (strcmp(k, "exec") == 0)
		measure_exec(m);
	else
		measure_http(m);
}

/* Folds a provider's answer, stores the measurement, schedules the next. */
static void measured(struct metric *m, const struct measure_input *in, const char *query)
{
	struct run_ctx *c = m->ctx;
	struct measure_record rec;
	m->busy = false;
	if (!c->run || measure_fold(&rec, &m->run, &m->cfg, in) < 0)
		return;
	struct store_measurement sm = {
		.app = c->app,
		.revision = c->revision,
		.run = c->run->id,
		.kind = (char *)kind_name(c->run->kind),
		.template_name = m->template_name,
		.metric = m->cfg.name,
		.provider = m->cfg.provider_kind,
		.query = (char *)(query ? query : ""),
		.value = rec.value,
		.condition = rec.condition,
		.outcome = (char *)measure_phase_name(rec.outcome),
		.reason = rec.reason,
	};
	struct sw_err err = {0};
	if (store_measurement_add(c->d->store, &sm, &err) < 0)
		sw_warn("%s: cannot store a measurement: %s", c->app, err.msg);
	if (rec.outcome != MEASURE_SUCCESSFUL)
		daemon_event(c->d, c->app, "Measurement", NULL, "run %lld %s/%s: %s",
			     (long long)c->run->id, m->template_name, m->cfg.name, rec.reason);
	if (m->run.phase != MEASURE_RUNNING) {
		snprintf(c->run->reason, sizeof(c->run->reason), "%s/%s: %s", m->template_name,
			 m->cfg.name, rec.reason);
		uv_timer_stop(&m->timer);
	}
	measure_record_release(&rec);
	run_update(c);
}

/* The run's phase from its metrics'; tells the rollout when it changes. */
static void run_update(struct run_ctx *c)
{
	enum measure_phase ph[64];
	size_t n = c->nmetrics < 64 ? c->nmetrics : 64;
	for (size_t i = 0; i < n; i++)
		ph[i] = c->metrics[i].run.phase;
	enum measure_phase p = measure_analysis_phase(ph, n);
	enum rollout_run_phase rp = (enum rollout_run_phase)p; /* same order, see measure.h */
	if (rp == c->run->phase)
		return;
	c->run->phase = rp;
	if (p == MEASURE_SUCCESSFUL)
		snprintf(c->run->reason, sizeof(c->run->reason), "all %zu metrics passed", c->nmetrics);
	daemon_event(c->d, c->app, "AnalysisDone", NULL, "%s analysis run %lld of revision %lld: %s%s%s",
		     kind_name(c->run->kind), (long long)c->run->id, (long long)c->revision,
		     measure_phase_name(p), *c->run->reason ? ": " : "", c->run->reason);
	daemon_kick(c->d);
}

/* Loads the templates of `ref` into metrics; a missing or bad template
 * makes the run an Error at once. */
static int load_metrics(struct run_ctx *c, const struct spec_analysis_ref *ref,
			struct sw_err *err)
{
	for (size_t t = 0; ref && t < ref->ntemplates; t++) {
		char *text = NULL;
		json_t *tj = NULL, *args = json_array();
		int r = store_template_get(c->d->store, ref->templates[t], &text, err);
		if (r == 0 && !(tj = json_loads(text, 0, NULL)))
			r = sw_errf(err, -1, "AnalysisTemplate \"%s\" is not valid JSON", ref->templates[t]);
		free(text);
		if (r < 0) {
			json_decref(args);
			return -1;
		}
		json_t *spec = json_object_get(tj, "spec");
		size_t i;
		json_t *a, *metric;
		/* template args with the reference's values merged in */
		json_array_foreach(json_object_get(spec, "args"), i, a)
			json_array_append(args, a);
		for (size_t k = 0; k < ref->nargs; k++) {
			bool set = false;
			json_array_foreach(args, i, a)
				if (pstr(a, "name") && strcmp(pstr(a, "name"), ref->args[k].name) == 0) {
					json_object_set_new(a, "value", json_string(ref->args[k].value));
					set = true;
				}
			if (!set)
				json_array_append_new(args, json_pack("{s:s, s:s}", "name", ref->args[k].name,
								      "value", ref->args[k].value));
		}
		json_array_foreach(json_object_get(spec, "metrics"), i, metric) {
			c->metrics = xrealloc(c->metrics, (c->nmetrics + 1) * sizeof(*c->metrics));
			struct metric *m = &c->metrics[c->nmetrics];
			memset(m, 0, sizeof(*m));
			m->ctx = c;
			if (measure_config_from_json(&m->cfg, metric, args, err) < 0) {
				measure_config_release(&m->cfg);
				json_decref(args);
				json_decref(tj);
				return -1;
			}
			m->template_name = xstrdup(ref->templates[t]);
			m->args = json_incref(args);
			measure_run_init(&m->run);
			c->nmetrics++;
		}
		json_decref(args);
		json_decref(tj);
	}
	return 0;
}

/*
 * A run the last daemon started (its id is in the stored rollout state)
 * goes on where it was: the measurements it stored are counted again into
 * each metric, by the rules of measure.h, so that `count` and the limits
 * include them and nothing is measured twice.
 */
static void resume_counts(struct run_ctx *c, int64_t run_id)
{
	struct store_measurement *ms = NULL;
	size_t n = 0;
	struct sw_err err = {0};
	if (store_measurement_list(c->d->store, c->app, c->revision, 0, &ms, &n, &err) < 0) {
		sw_warn("%s: cannot read the measurements of run %lld: %s", c->app, (long long)run_id,
			err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (ms[i].run != run_id)
			continue;
		for (size_t k = 0; k < c->nmetrics; k++) {
			struct metric *m = &c->metrics[k];
			if (strcmp(m->cfg.name, ms[i].metric) != 0 ||
			    strcmp(m->template_name, ms[i].template_name) != 0)
				continue;
			struct measure_run *r = &m->run;
			int outcome = measure_phase_parse(ms[i].outcome);
			r->measured++;
			if (outcome == MEASURE_ERROR) {
				r->errors++;
				r->consecutive_errors++;
				continue;
			}
			r->consecutive_errors = 0;
			r->taken++;
			if (outcome == MEASURE_SUCCESSFUL)
				r->successful++;
			else if (outcome == MEASURE_FAILED)
				r->failed++;
			else if (outcome == MEASURE_INCONCLUSIVE)
				r->inconclusive++;
		}
	}
	store_measurement_list_free(ms, n);
	for (size_t k = 0; k < c->nmetrics; k++) {
		struct metric *m = &c->metrics[k];
		struct measure_run *r = &m->run;
		if (r->failed > m->cfg.failure_limit)
			r->phase = MEASURE_FAILED;
		else if (r->consecutive_errors > m->cfg.consecutive_error_limit)
			r->phase = MEASURE_ERROR;
		else if (r->inconclusive > m->cfg.inconclusive_limit)
			r->phase = MEASURE_INCONCLUSIVE;
		else if (m->cfg.count && r->taken >= m->cfg.count)
			r->phase = MEASURE_SUCCESSFUL;
		if (r->phase != MEASURE_RUNNING)
			snprintf(c->run->reason, sizeof(c->run->reason), "%s/%s: %s (before the restart)",
				 m->template_name, m->cfg.name, measure_phase_name(r->phase));
	}
}

void daemon_run_start(struct daemon *d, struct app *a, int64_t id, enum rollout_run_kind kind,
		      int64_t revision, const struct spec_analysis_ref *ref)
{
	run_start(d, a, id, kind, revision, ref, false);
}

static void run_start(struct daemon *d, struct app *a, int64_t id, enum rollout_run_kind kind,
		      int64_t revision, const struct spec_analysis_ref *ref, bool resumed)
{
	struct daemon_run *r = xcalloc(1, sizeof(*r));
	r->id = id;
	r->kind = kind;
	r->phase = ROLLOUT_RUN_RUNNING;
	r->revision = revision;
	r->ref = ref;
	r->started_ms = sw_wall_ms();
	a->runs = xrealloc(a->runs, (a->nruns + 1) * sizeof(*a->runs));
	a->runs[a->nruns++] = r;

	struct run_ctx *c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->run = r;
	c->app = xstrdup(a->name);
	c->revision = revision;
	c->stable = a->st.stable;
	r->state = c;
	struct buf t = BUF_INIT;
	for (size_t i = 0; ref && i < ref->ntemplates; i++)
		buf_addf(&t, "%s%s", i ? ", " : "", ref->templates[i]);
	struct sw_err err = {0};
	if (load_metrics(c, ref, &err) < 0) {
		r->phase = ROLLOUT_RUN_ERROR;
		snprintf(r->reason, sizeof(r->reason), "%.500s", err.msg);
		daemon_event(d, a->name, "AnalysisError", NULL, "%s analysis run %lld: %s",
			     kind_name(kind), (long long)id, err.msg);
		buf_release(&t);
		daemon_kick(d);
		return;
	}
	if (resumed)
		resume_counts(c, id);
	daemon_event(d, a->name, "AnalysisStarted", NULL,
		     "%s analysis run %lld of revision %lld %s (templates: %s; %zu metrics)",
		     kind_name(kind), (long long)id, (long long)revision,
		     resumed ? "resumed after a daemon restart" : "started", buf_str(&t), c->nmetrics);
	buf_release(&t);
	for (size_t i = 0; i < c->nmetrics; i++) {
		struct metric *m = &c->metrics[i];
		uv_timer_init(&d->loop, &m->timer);
		uv_timer_init(&d->loop, &m->kill);
		m->timer.data = m->kill.data = m;
		c->handles += 2;
		uint64_t every = m->cfg.interval_ms ? m->cfg.interval_ms : 1000;
		if (m->run.phase == MEASURE_RUNNING)
			uv_timer_start(&m->timer, on_tick,
				       m->run.measured ? every : m->cfg.initial_delay_ms, every);
	}
	run_update(c);
}

static void run_free(struct daemon *d, struct daemon_run *r)
{
	struct run_ctx *c = r->state;
	if (c) {
		c->stopped = true;
		c->run = NULL;
		for (size_t i = 0; i < c->nmetrics; i++) {
			struct metric *m = &c->metrics[i];
			if (m->http_id && d->httpc) {
				/* no callback comes after a cancel: let go of its hold */
				httpc_cancel(d->httpc, m->http_id);
				m->http_id = 0;
				c->handles--;
			}
			if (m->proc_open && !m->exited)
				uv_process_kill(&m->proc, SIGKILL);
			if (m->timer.loop)
				close_handle(m, (uv_handle_t *)&m->timer);
			if (m->kill.loop)
				close_handle(m, (uv_handle_t *)&m->kill);
		}
		ctx_maybe_free(c);
	}
	free(r);
}

void daemon_run_stop(struct daemon *d, struct app *a, int64_t id)
{
	for (size_t i = 0; i < a->nruns; i++)
		if (a->runs[i]->id == id) {
			run_free(d, a->runs[i]);
			a->runs[i] = a->runs[--a->nruns];
			return;
		}
}

void daemon_runs_free(struct daemon *d, struct app *a)
{
	for (size_t i = 0; i < a->nruns; i++)
		run_free(d, a->runs[i]);
	free(a->runs);
	a->runs = NULL;
	a->nruns = 0;
}

void daemon_runs_resume(struct daemon *d, struct app *a)
{
	struct sw_err err = {0};
	struct spec_app *spec = a->st.desired ? daemon_app_spec(d, a, a->st.desired, &err) : NULL;
	if (!spec)
		return;
	const struct spec_strategy *s = &spec->strategy;
	if (a->st.step_run && s->kind == SPEC_STRATEGY_CANARY && a->st.step < s->nsteps &&
	    s->steps[a->st.step].kind == SPEC_STEP_ANALYSIS)
		run_start(d, a, a->st.step_run, ROLLOUT_RUN_STEP, a->st.desired,
			  &s->steps[a->st.step].analysis, true);
	if (a->st.bg_run)
		run_start(d, a, a->st.bg_run,
			  s->kind == SPEC_STRATEGY_CANARY ? ROLLOUT_RUN_BACKGROUND : ROLLOUT_RUN_POST,
			  a->st.desired, s->kind == SPEC_STRATEGY_CANARY ? &s->background : &s->post_promotion,
			  true);
	if (a->st.pre_run)
		run_start(d, a, a->st.pre_run, ROLLOUT_RUN_PRE, a->st.desired, &s->pre_promotion, true);
}
