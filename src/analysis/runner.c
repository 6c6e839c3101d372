/*
 * runner: analysis runs on the loop (runner.h has the contract).
 *
 * A run owns one `struct metric` per metric of its templates: the measure
 * config (conditions compiled), the provider and its typed settings, the
 * metric's counts and its timer. A tick starts one measurement through the
 * provider unless one is in flight; its answer is folded, stored and
 * reported, and decides the run's phase. A sequential provider (look_ms)
 * gets a second timer for its looks between ticks (provider.h says which
 * of their answers count). Stopping a run cancels what is in flight at
 * once (no answer comes after) and closes the timers; the memory goes when
 * the last timer has closed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "provider.h"
#include "runner.h"
#include "store/store.h"

struct metric {
	struct analysis_run *run;
	struct measure_config cfg;
	const struct analysis_provider *prov;
	void *settings;              /* prov->settings_size bytes, parsed once */
	char *query;                 /* prov->describe: stored with every measurement */
	char *template_name;
	struct measure_run counts;
	uv_timer_t timer;
	bool timer_init;
	uv_timer_t look;             /* looks between ticks (prov->look_ms) */
	bool look_init;
	struct provider_call *call;  /* the measurement in flight, or NULL */
	bool peeking;                /* the call in flight is a look between ticks */
	bool tick_due;               /* a tick came during that look: its answer is the tick's */
	bool waited;                 /* has waited for data: the event was sent */
	bool waiting;                /* waits for data (wait_for_data) */
};

struct analysis_run {
	struct analysis_runner *r;   /* NULL once stopped */
	size_t slot;                 /* index in r->runs */
	char *app, *kind;
	int64_t id, revision, stable;
	struct provider_env env;
	enum measure_phase phase;
	char reason[512];
	const struct metric *reason_wait; /* the metric whose wait `reason` says, or NULL */
	struct metric *metrics;
	size_t nmetrics;
	int handles;                 /* timers not closed yet; freed at 0 once stopped */
	json_t *load_spec;           /* the first template's spec.load, or NULL */
	char *listen, *host;         /* the app's route, for the load */
	char *load_header;           /* params' load_header, or NULL */
	struct analysis_load *load;  /* driving traffic, or NULL */
};

struct analysis_runner {
	struct analysis_runner_config cfg;
	struct analysis_run **runs;  /* not stopped */
	size_t nruns;
};

int analysis_runner_new(struct analysis_runner **out, const struct analysis_runner_config *cfg,
			struct sw_err *err)
{
	*out = NULL;
	if (!cfg->loop || !cfg->store || !cfg->metrics.stats || !cfg->metrics.samples ||
	    !cfg->metrics.cancel)
		return sw_errf(err, -1, "analysis runner: a loop, a store and a metrics source are needed");
	struct analysis_runner *r = xcalloc(1, sizeof(*r));
	r->cfg = *cfg;
	*out = r;
	return 0;
}

void analysis_runner_free(struct analysis_runner *r)
{
	if (!r)
		return;
	while (r->nruns)
		analysis_run_stop(r->runs[r->nruns - 1]);
	free(r->runs);
	free(r);
}

static void event(struct analysis_run *run, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void event(struct analysis_run *run, const char *kind, const char *fmt, ...)
{
	struct buf msg = BUF_INIT;
	va_list ap;

	if (!run->r || !run->r->cfg.on_event)
		return;
	va_start(ap, fmt);
	buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	run->r->cfg.on_event(run->app, kind, msg.s, run->r->cfg.data);
	buf_release(&msg);
}

/* ---- building the metrics ---- */

static void metric_release(struct metric *m)
{
	if (m->prov && m->settings)
		m->prov->release(m->settings);
	free(m->settings);
	measure_config_release(&m->cfg);
	free(m->query);
	free(m->template_name);
}

/* The template's args with the reference's values merged in (new reference). */
static json_t *merged_args(const json_t *tmpl_args, const struct spec_analysis_ref *ref)
{
	json_t *args = json_array(), *a;
	size_t i;

	json_array_foreach(tmpl_args, i, a)
		json_array_append_new(args, json_deep_copy(a));
	for (size_t k = 0; k < ref->nargs; k++) {
		bool set = false;
		json_array_foreach(args, i, a) {
			const char *name = json_string_value(json_object_get(a, "name"));
			if (name && strcmp(name, ref->args[k].name) == 0) {
				json_object_set_new(a, "value", json_string(ref->args[k].value));
				set = true;
			}
		}
		if (!set)
			json_array_append_new(args, json_pack("{s:s, s:s}", "name", ref->args[k].name,
							      "value", ref->args[k].value));
	}
	return args;
}

/* Builds one metric from its canonical JSON: config, provider, settings. */
static int metric_build(struct metric *m, const json_t *metric, const json_t *args,
			const char *template_name, struct analysis_run *run, struct sw_err *err)
{
	struct buf q = BUF_INIT;

	m->run = run;
	m->template_name = xstrdup(template_name);
	measure_run_init(&m->counts);
	if (measure_config_from_json(&m->cfg, metric, args, err) < 0)
		return -1;
	if (m->cfg.count == 0 && strcmp(run->kind, "background") != 0)
		m->cfg.count = MEASURE_FINITE_COUNT;
	m->prov = analysis_provider_find(m->cfg.provider_kind);
	if (!m->prov)
		return sw_errf(err, -1, "metric \"%s\": unknown provider \"%s\"", m->cfg.name,
			       m->cfg.provider_kind);
	m->settings = xcalloc(1, m->prov->settings_size);
	struct provider_parse_ctx ctx = {.metric = &m->cfg, .args = args};
	if (m->prov->parse(m->settings, m->cfg.provider, &ctx, err) < 0)
		return -1;
	m->prov->describe(&q, m->settings, &run->env);
	m->query = buf_detach(&q);
	return 0;
}

/* Loads the templates of `ref` into run->metrics. */
static int metrics_load(struct analysis_run *run, struct store *store,
			const struct spec_analysis_ref *ref, struct sw_err *err)
{
	for (size_t t = 0; ref && t < ref->ntemplates; t++) {
		const char *name = ref->templates[t];
		struct store_template row = {0};
		json_t *tj = NULL, *args = NULL, *metric;
		size_t i;
		int rc = store_template_get(store, name, &row, err);

		if (rc == 0 && !(tj = json_loads(row.spec_json, 0, NULL)))
			rc = sw_errf(err, -1, "AnalysisTemplate \"%s\" is not valid JSON", name);
		store_template_release(&row);
		if (rc < 0)
			return -1;
		json_t *spec = json_object_get(tj, "spec");
		if (!run->load_spec && json_is_object(json_object_get(spec, "load")))
			run->load_spec = json_incref(json_object_get(spec, "load"));
		args = merged_args(json_object_get(spec, "args"), ref);
		json_array_foreach(json_object_get(spec, "metrics"), i, metric) {
			run->metrics = xrealloc(run->metrics, (run->nmetrics + 1) * sizeof(*run->metrics));
			struct metric *m = &run->metrics[run->nmetrics++];
			memset(m, 0, sizeof(*m));
			if ((rc = metric_build(m, metric, args, name, run, err)) < 0)
				break;
		}
		json_decref(args);
		json_decref(tj);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* One stored measurement of the run, counted again (resume_counts). */
static void resume_one(const struct store_measurement *ms, void *data)
{
	struct analysis_run *run = data;
	if (ms->run != run->id)
		return;
	for (size_t k = 0; k < run->nmetrics; k++) {
		struct metric *m = &run->metrics[k];
		if (strcmp(m->cfg.name, ms->metric) != 0 ||
		    strcmp(m->template_name, ms->template_name) != 0)
			continue;
		struct measure_run *c = &m->counts;
		int outcome = measure_phase_parse(ms->outcome);
		c->measured++;
		if (outcome == MEASURE_ERROR) {
			c->errors++;
			c->consecutive_errors++;
			continue;
		}
		c->consecutive_errors = 0;
		c->taken++;
		if (outcome == MEASURE_SUCCESSFUL)
			c->successful++;
		else if (outcome == MEASURE_FAILED)
			c->failed++;
		else if (outcome == MEASURE_INCONCLUSIVE)
			c->inconclusive++;
	}
}

/*
 * A run the last daemon started goes on where it was: the measurements it
 * stored are counted again into each metric, by the rules of measure.h,
 * so that `count` and the limits include them and nothing is measured
 * twice.
 */
static void resume_counts(struct analysis_run *run, struct store *store)
{
	struct sw_err err = {0};

	/* oldest first, a row at a time: memory does not grow with them */
	if (store_measurement_page(store, run->app, run->revision, 0, true, 0, resume_one, run,
				   &err) < 0) {
		sw_warn("%s: cannot read the measurements of run %lld: %s", run->app,
			(long long)run->id, err.msg);
		return;
	}
	for (size_t k = 0; k < run->nmetrics; k++) {
		struct metric *m = &run->metrics[k];
		struct measure_run *c = &m->counts;
		if (c->failed > m->cfg.failure_limit)
			c->phase = MEASURE_FAILED;
		else if (c->consecutive_errors > m->cfg.consecutive_error_limit)
			c->phase = MEASURE_ERROR;
		else if (c->inconclusive > m->cfg.inconclusive_limit)
			c->phase = MEASURE_INCONCLUSIVE;
		else if (m->cfg.count && c->taken >= m->cfg.count)
			c->phase = MEASURE_SUCCESSFUL;
		if (c->phase != MEASURE_RUNNING)
			snprintf(run->reason, sizeof(run->reason), "%s/%s: %s (before the restart)",
				 m->template_name, m->cfg.name, measure_phase_name(c->phase));
	}
}

/* ---- synthetic load ---- */

/* Whether some metric still measures. */
static bool run_running(const struct analysis_run *run)
{
	for (size_t i = 0; i < run->nmetrics; i++)
		if (run->metrics[i].counts.phase == MEASURE_RUNNING)
			return true;
	return false;
}

/* Where the load goes: its url, else the app's listener (an any-address
 * listener is reached on loopback) with its path. */
static int load_target(struct buf *url, struct analysis_run *run, struct sw_err *err)
{
	const char *u = json_string_value(json_object_get(run->load_spec, "url"));
	const char *path = json_string_value(json_object_get(run->load_spec, "path"));

	if (u) {
		buf_adds(url, u);
		return 0;
	}
	if (!run->listen)
		return sw_errf(err, -1, "load: app \"%s\" has no route.listen to send load to (give load a url)",
			       run->app);
	const char *l = run->listen;
	if (strncmp(l, "0.0.0.0:", 8) == 0)
		buf_addf(url, "http://127.0.0.1:%s", l + 8);
	else if (strncmp(l, "[::]:", 5) == 0)
		buf_addf(url, "http://[::1]:%s", l + 5);
	else
		buf_addf(url, "http://%s", l);
	buf_adds(url, path ? path : "/");
	return 0;
}

static int load_begin(struct analysis_run *run, struct sw_err *err)
{
	struct buf url = BUF_INIT, host = BUF_INIT;
	json_t *ls = run->load_spec;

	if (!run->r->cfg.httpc) {
		buf_release(&url);
		return sw_errf(err, -1, "load: this daemon has no HTTP client to send load with");
	}
	if (load_target(&url, run, err) < 0) {
		buf_release(&url);
		return -1;
	}
	/* a wildcard route host takes any subdomain: name one */
	if (run->host && !json_object_get(ls, "url"))
		buf_addf(&host, "%s%s", run->host[0] == '*' ? "load" : "", run->host + (run->host[0] == '*'));
	const char *dur = json_string_value(json_object_get(ls, "duration"));
	uint64_t dur_ms = 300000;
	if (dur)
		sw_duration_parse(dur, &dur_ms);
	json_int_t rate = json_integer_value(json_object_get(ls, "rate"));
	struct analysis_load_config cfg = {
		.url = url.s,
		.host = host.len ? host.s : NULL,
		.header = run->load_header,
		.rate = rate > 0 ? (uint32_t)rate : 50,
		.duration_ms = dur_ms,
	};
	run->load = analysis_load_start(run->r->cfg.loop, run->r->cfg.httpc, &cfg);
	event(run, "LoadStarted", "%s analysis run %lld: synthetic load, %u requests a second to %s%s%s%s for at most %llus",
	      run->kind, (long long)run->id, cfg.rate, url.s, cfg.header ? " (" : "", cfg.header ? cfg.header : "",
	      cfg.header ? ")" : "", (unsigned long long)(dur_ms / 1000));
	buf_release(&url);
	buf_release(&host);
	return 0;
}

/* Stops the load; with `report`, says what it sent. */
static void load_end(struct analysis_run *run, bool report)
{
	struct analysis_load_stats st;

	if (!run->load)
		return;
	analysis_load_stats(run->load, &st);
	analysis_load_stop(run->load);
	run->load = NULL;
	if (report)
		event(run, "LoadStopped",
		      "%s analysis run %lld: synthetic load stopped: %llu requests sent, %llu answered, "
		      "%llu failed, %llu skipped (too many in flight)",
		      run->kind, (long long)run->id, (unsigned long long)st.sent, (unsigned long long)st.answered,
		      (unsigned long long)st.failed, (unsigned long long)st.skipped);
}

/* ---- measuring ---- */

/* The run's phase from its metrics'; reports a change. */
static void run_update(struct analysis_run *run, bool notify)
{
	enum measure_phase *ph = xcalloc(run->nmetrics + 1, sizeof(*ph));
	for (size_t i = 0; i < run->nmetrics; i++)
		ph[i] = run->metrics[i].counts.phase;
	enum measure_phase p = measure_analysis_phase(ph, run->nmetrics);
	free(ph);
	if (p == run->phase)
		return;
	run->phase = p;
	load_end(run, true);
	if (p == MEASURE_SUCCESSFUL)
		snprintf(run->reason, sizeof(run->reason), "all %zu metrics passed", run->nmetrics);
	event(run, "AnalysisDone", "%s analysis run %lld of revision %lld: %s%s%s", run->kind,
	      (long long)run->id, (long long)run->revision, measure_phase_name(p),
	      *run->reason ? ": " : "", run->reason);
	if (notify && run->r && run->r->cfg.on_phase)
		run->r->cfg.on_phase(run->app, run->id, run->r->cfg.data);
}

/*
 * An answer short of data while the metric's data wait runs (measure.h) is
 * no measurement: nothing is stored or counted, the run's reason says what
 * it waits for (`slipway status`), and the first wait of each metric is an
 * event. Returns whether it waits.
 */
static bool wait_for_data(struct metric *m, const struct measure_input *in)
{
	struct analysis_run *run = m->run;
	struct buf msg = BUF_INIT;
	int64_t elapsed = sw_wall_ms() - run->env.since_ms;

	if (!measure_waits(&msg, &m->cfg, in, elapsed < 0 ? 0 : (uint64_t)elapsed)) {
		buf_release(&msg);
		return false;
	}
	/* a finished run keeps the reason it finished with */
	if (run->phase == MEASURE_RUNNING) {
		snprintf(run->reason, sizeof(run->reason), "%s/%s", m->template_name, buf_str(&msg));
		run->reason_wait = m;
	}
	m->waiting = true;
	if (!m->waited) {
		m->waited = true;
		event(run, "Measurement", "run %lld %s/%s", (long long)run->id, m->template_name, buf_str(&msg));
	}
	buf_release(&msg);
	return true;
}

/* Folds a provider's answer, stores the measurement, reports. */
static void answered(struct metric *m, const struct measure_input *in)
{
	struct analysis_run *run = m->run;
	struct measure_record rec;
	struct sw_err err = {0};

	if (!run->r || m->counts.phase != MEASURE_RUNNING)
		return;
	if (wait_for_data(m, in))
		return;
	if (measure_fold(&rec, &m->counts, &m->cfg, in) < 0)
		return;
	struct store_measurement sm = {
		.app = run->app,
		.revision = run->revision,
		.run = run->id,
		.kind = run->kind,
		.template_name = m->template_name,
		.metric = m->cfg.name,
		.provider = m->cfg.provider_kind,
		.query = m->query,
		.value = rec.value,
		.condition = rec.condition,
		.outcome = (char *)measure_phase_name(rec.outcome),
		.reason = rec.reason,
	};
	if (store_measurement_add(run->r->cfg.store, &sm, &err) < 0)
		sw_warn("%s: cannot store a measurement: %s", run->app, err.msg);
	if (m->waiting) { /* the data came */
		m->waiting = false;
		if (run->reason_wait == m) {
			run->reason[0] = '\0';
			run->reason_wait = NULL;
		}
	}
	if (m->counts.phase != MEASURE_RUNNING && run->phase == MEASURE_RUNNING) {
		/* the first metric to finish says why the run ends (a later
		 * answer of another metric must not clear it) */
		snprintf(run->reason, sizeof(run->reason), "%s/%s: %s", m->template_name, m->cfg.name,
			 rec.reason);
		run->reason_wait = NULL;
	}
	if (m->counts.phase != MEASURE_RUNNING) {
		uv_timer_stop(&m->timer);
		if (m->look_init)
			uv_timer_stop(&m->look);
	}
	if (rec.outcome != MEASURE_SUCCESSFUL)
		event(run, "Measurement", "run %lld %s/%s: %s", (long long)run->id, m->template_name,
		      m->cfg.name, rec.reason);
	measure_record_release(&rec);
	if (run->r) /* the event's receiver may have stopped the run */
		run_update(run, true);
}

static void on_tick(uv_timer_t *t);

/*
 * A look between ticks (provider.h, look_ms): while the metric waits for
 * data, an answer with enough data is its measurement, and the interval
 * counts from it; afterwards only a Failed value counts, at once.
 */
static void look_answered(struct metric *m, const struct measure_input *in)
{
	struct analysis_run *run = m->run;
	uint64_t every = m->cfg.interval_ms ? m->cfg.interval_ms : 1000;

	if (!run->r || m->counts.phase != MEASURE_RUNNING)
		return;
	if (m->waiting) {
		if (wait_for_data(m, in))
			return;
		uv_timer_start(&m->timer, on_tick, every, every);
		answered(m, in);
		return;
	}
	if (in->kind != MEASURE_IN_VALUE)
		return;
	struct measure_run trial = m->counts;
	struct measure_record rec;
	if (measure_fold(&rec, &trial, &m->cfg, in) < 0)
		return;
	bool failed = rec.outcome == MEASURE_FAILED;
	measure_record_release(&rec);
	if (!failed)
		return;
	uv_timer_start(&m->timer, on_tick, every, every);
	answered(m, in);
}

static void on_answer(const struct measure_input *in, void *data)
{
	struct metric *m = data;
	bool look = m->peeking && !m->tick_due;
	m->call = NULL;
	m->peeking = m->tick_due = false;
	if (look)
		look_answered(m, in);
	else
		answered(m, in);
}

static void on_tick(uv_timer_t *t)
{
	struct metric *m = t->data;
	struct measure_input now;
	struct sw_err err = {0};

	if (m->call && m->peeking)
		m->tick_due = true;
	if (!m->run->r || m->call || m->counts.phase != MEASURE_RUNNING)
		return;
	m->call = m->prov->measure(&now, m->settings, &m->run->env, on_answer, m, &err);
	if (!m->call)
		answered(m, &now);
}

static void on_look(uv_timer_t *t)
{
	struct metric *m = t->data;
	struct measure_input now;
	struct sw_err err = {0};

	/* not before the first tick (initialDelay), nor over a measurement */
	if (!m->run->r || m->call || m->counts.phase != MEASURE_RUNNING ||
	    (!m->waited && !m->counts.measured) || !m->prov->look_ms(m->settings, m->waiting))
		return;
	m->peeking = true;
	m->call = m->prov->measure(&now, m->settings, &m->run->env, on_answer, m, &err);
	if (!m->call) {
		m->peeking = false;
		look_answered(m, &now);
	}
}

/* ---- runs ---- */

static void run_maybe_free(struct analysis_run *run)
{
	if (run->r || run->handles > 0)
		return;
	for (size_t i = 0; i < run->nmetrics; i++)
		metric_release(&run->metrics[i]);
	free(run->metrics);
	json_decref(run->load_spec);
	free(run->listen);
	free(run->host);
	free(run->load_header);
	free(run->app);
	free(run->kind);
	free(run);
}

static void timer_closed(uv_handle_t *h)
{
	struct metric *m = h->data;
	struct analysis_run *run = m->run;
	run->handles--;
	run_maybe_free(run);
}

struct analysis_run *analysis_run_start(struct analysis_runner *r,
					const struct analysis_run_params *p)
{
	struct analysis_run *run = xcalloc(1, sizeof(*run));
	struct buf names = BUF_INIT;
	struct sw_err err = {0};

	run->r = r;
	run->app = xstrdup(p->app);
	run->kind = xstrdup(p->kind);
	run->id = p->id;
	run->revision = p->revision;
	run->stable = p->stable;
	run->listen = p->listen ? xstrdup(p->listen) : NULL;
	run->host = p->host ? xstrdup(p->host) : NULL;
	run->load_header = p->load_header ? xstrdup(p->load_header) : NULL;
	run->phase = MEASURE_RUNNING;
	run->env = (struct provider_env){
		.loop = r->cfg.loop,
		.httpc = r->cfg.httpc,
		.metrics = &r->cfg.metrics,
		.app = run->app,
		.revision = run->revision,
		.stable = run->stable,
		.since_ms = p->since_ms > 0 ? p->since_ms : sw_wall_ms(),
	};
	run->slot = r->nruns;
	r->runs = xrealloc(r->runs, (r->nruns + 1) * sizeof(*r->runs));
	r->runs[r->nruns++] = run;

	if (metrics_load(run, r->cfg.store, p->ref, &err) < 0) {
		/* the metrics built so far stay, unmeasured: stop frees them */
		run->phase = MEASURE_ERROR;
		snprintf(run->reason, sizeof(run->reason), "%.500s", err.msg);
		event(run, "AnalysisError", "%s analysis run %lld: %s", run->kind, (long long)run->id,
		      err.msg);
		return run;
	}
	if (p->resumed)
		resume_counts(run, r->cfg.store);
	for (size_t i = 0; p->ref && i < p->ref->ntemplates; i++)
		buf_addf(&names, "%s%s", i ? ", " : "", p->ref->templates[i]);
	event(run, "AnalysisStarted", "%s analysis run %lld of revision %lld %s (templates: %s; %zu metrics)",
	      run->kind, (long long)run->id, (long long)run->revision,
	      p->resumed ? "resumed after a daemon restart" : "started", buf_str(&names), run->nmetrics);
	buf_release(&names);
	for (size_t i = 0; i < run->nmetrics; i++) {
		struct metric *m = &run->metrics[i];
		uint64_t every = m->cfg.interval_ms ? m->cfg.interval_ms : 1000;
		uv_timer_init(r->cfg.loop, &m->timer);
		m->timer.data = m;
		m->timer_init = true;
		run->handles++;
		if (m->counts.phase == MEASURE_RUNNING)
			uv_timer_start(&m->timer, on_tick, m->counts.measured ? every : m->cfg.initial_delay_ms,
				       every);
		uint64_t look = m->prov->look_ms ? m->prov->look_ms(m->settings, true) : 0;
		if (look && look < every) {
			uv_timer_init(r->cfg.loop, &m->look);
			m->look.data = m;
			m->look_init = true;
			run->handles++;
			if (m->counts.phase == MEASURE_RUNNING)
				uv_timer_start(&m->look, on_look, look, look);
		}
	}
	if (run->load_spec && run_running(run) && load_begin(run, &err) < 0) {
		for (size_t i = 0; i < run->nmetrics; i++)
			if (run->metrics[i].timer_init) {
				uv_timer_stop(&run->metrics[i].timer);
				if (run->metrics[i].look_init)
					uv_timer_stop(&run->metrics[i].look);
			}
		run->phase = MEASURE_ERROR;
		snprintf(run->reason, sizeof(run->reason), "%.500s", err.msg);
		event(run, "AnalysisError", "%s analysis run %lld: %s", run->kind, (long long)run->id, err.msg);
		return run;
	}
	run_update(run, false);
	return run;
}

void analysis_run_stop(struct analysis_run *run)
{
	struct analysis_runner *r = run->r;

	SW_ASSERT(r);
	/* out of the runner's list: the last one takes this slot */
	r->runs[run->slot] = r->runs[--r->nruns];
	r->runs[run->slot]->slot = run->slot;
	run->r = NULL;
	load_end(run, false);
	for (size_t i = 0; i < run->nmetrics; i++) {
		struct metric *m = &run->metrics[i];
		if (m->call) {
			m->prov->cancel(m->call);
			m->call = NULL;
		}
		if (m->timer_init)
			uv_close((uv_handle_t *)&m->timer, timer_closed);
		if (m->look_init)
			uv_close((uv_handle_t *)&m->look, timer_closed);
	}
	run_maybe_free(run);
}

enum measure_phase analysis_run_phase(const struct analysis_run *run)
{
	return run->phase;
}

const char *analysis_run_reason(const struct analysis_run *run)
{
	return run->reason;
}

int64_t analysis_run_id(const struct analysis_run *run)
{
	return run->id;
}

int64_t analysis_run_revision(const struct analysis_run *run)
{
	return run->revision;
}

const char *analysis_run_kind(const struct analysis_run *run)
{
	return run->kind;
}
