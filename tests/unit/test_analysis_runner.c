/*
 * analysis runner: runs over a real store in a temp dir, templates parsed
 * from YAML by spec, exec commands as real processes, the web provider
 * against an HTTP server on 127.0.0.1, and builtin/compare reading a
 * metrics source implemented here as the interface asks (answers from a
 * uv timer, with canned stats JSON).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "analysis/load.h"
#include "analysis/runner.h"
#include "core/proc.h"
#include "httpc/httpc.h"
#include "spec/spec.h"
#include "store/store.h"

/* ---- a metrics source: canned answers from a timer ---- */

struct canned;

struct canned_call {
	struct canned *c;
	struct canned_call *next;
	uint64_t id;
	json_t *answer;              /* NULL: answer with c->error */
	void (*cb)(json_t *, const char *, void *);
	void *data;
	uv_timer_t timer;
};

struct canned {
	uv_loop_t *loop;
	json_t *stats;               /* {"series": [...]}; NULL: error */
	json_t *samples;             /* {"1": {"latencies": [...]}, "2": ...} by revision */
	const char *error;           /* the error when there is no answer */
	uint64_t delay_ms;
	uint64_t last_id;
	unsigned last_window_s;      /* the window the last samples call asked for */
	struct canned_call *pending;
	int npending, calls, cancels;
	bool in_call;                /* inside stats/samples: an answer now breaks the contract */
};

static void canned_closed(uv_handle_t *h)
{
	struct canned_call *k = h->data;
	json_decref(k->answer);
	free(k);
}

static void canned_unlink(struct canned_call *k)
{
	struct canned_call **p = &k->c->pending;
	while (*p != k)
		p = &(*p)->next;
	*p = k->next;
	k->c->npending--;
	uv_close((uv_handle_t *)&k->timer, canned_closed);
}

static void canned_fire(uv_timer_t *t)
{
	struct canned_call *k = t->data;
	assert_false(k->c->in_call);
	canned_unlink(k);
	k->cb(k->answer, k->answer ? NULL : k->c->error, k->data);
}

static uint64_t canned_add(struct canned *c, json_t *answer,
			   void (*cb)(json_t *, const char *, void *), void *data)
{
	struct canned_call *k = calloc(1, sizeof(*k));
	k->c = c;
	k->id = ++c->last_id;
	k->answer = answer ? json_deep_copy(answer) : NULL;
	k->cb = cb;
	k->data = data;
	k->next = c->pending;
	c->pending = k;
	c->npending++;
	c->calls++;
	uv_timer_init(c->loop, &k->timer);
	k->timer.data = k;
	uv_timer_start(&k->timer, canned_fire, c->delay_ms, 0);
	return k->id;
}

static uint64_t canned_stats(void *impl, unsigned window_s,
			     void (*cb)(json_t *, const char *, void *), void *data)
{
	struct canned *c = impl;
	c->in_call = true;
	uint64_t id = canned_add(c, c->stats, cb, data);
	c->in_call = false;
	return id;
}

static uint64_t canned_samples(void *impl, const char *app, int64_t revision, unsigned window_s,
			       void (*cb)(json_t *, const char *, void *), void *data)
{
	struct canned *c = impl;
	char key[32];
	snprintf(key, sizeof(key), "%lld", (long long)revision);
	c->last_window_s = window_s;
	c->in_call = true;
	uint64_t id = canned_add(c, c->samples ? json_object_get(c->samples, key) : NULL, cb, data);
	c->in_call = false;
	return id;
}

static void canned_cancel(void *impl, uint64_t id)
{
	struct canned *c = impl;
	for (struct canned_call *k = c->pending; k; k = k->next)
		if (k->id == id) {
			c->cancels++;
			canned_unlink(k);
			return;
		}
}

/* ---- an HTTP server on 127.0.0.1: one thread, one request per connection ---- */

struct srv {
	int fd, port;
	pthread_t thread;
	char last_request[2048];     /* the head of the last request */
	int with_auth;               /* requests that carried "Authorization: Bearer t0k" */
	int load_hits;               /* requests for /load */
	pthread_mutex_t mu;
};

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	for (;;) {
		int fd = accept(s->fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		char req[2048] = "";
		size_t n = 0;
		while (n < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
			ssize_t k = recv(fd, req + n, sizeof(req) - 1 - n, 0);
			if (k <= 0)
				break;
			n += (size_t)k;
			req[n] = '\0';
		}
		pthread_mutex_lock(&s->mu);
		memcpy(s->last_request, req, sizeof(req));
		if (strstr(req, "\r\nAuthorization: Bearer t0k\r\n"))
			s->with_auth++;
		if (strncmp(req, "GET /load ", 10) == 0)
			s->load_hits++;
		pthread_mutex_unlock(&s->mu);
		char path[256] = "";
		sscanf(req, "%*s %255s", path);
		const char *body = "not found";
		int status = 404;
		if (strcmp(path, "/health/b") == 0)
			body = "{\"data\":{\"ok\":true,\"items\":[{\"n\":7}]}}", status = 200;
		else if (strcmp(path, "/text") == 0)
			body = "plain words", status = 200;
		else if (strcmp(path, "/fail") == 0)
			body = "broken", status = 500;
		char head[256];
		int hl = snprintf(head, sizeof(head),
				  "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
				  status, strlen(body));
		send(fd, head, (size_t)hl, MSG_NOSIGNAL);
		send(fd, body, strlen(body), MSG_NOSIGNAL);
		close(fd);
	}
}

static void srv_start(struct srv *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sa, &sl), 0);
	s->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void srv_stop(struct srv *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->mu);
}

/* ---- fixture ---- */

#define MAX_EVENTS 64

struct fx {
	char dir[64];
	uv_loop_t loop;
	uv_timer_t guard;
	struct store *store;
	struct httpc *httpc;
	struct canned canned;
	struct analysis_runner *runner;
	struct {
		char kind[32];
		char msg[1024];
	} ev[MAX_EVENTS];
	size_t nev;
	int phases;                  /* on_phase calls */
	bool in_start;
	int64_t since_ms;            /* the weight change start() passes; 0 = now */
	const char *kind;            /* start()'s run kind; NULL = "step" */
	const char *listen, *host;   /* start()'s app route; NULL = none */
	const char *load_header;     /* start()'s load_header */
	struct srv srv;
	bool srv_on;
};

static void on_phase(const char *app, int64_t run_id, void *data)
{
	struct fx *f = data;
	if (f->in_start)
		fail_msg("on_phase from inside analysis_run_start");
	assert_string_equal(app, "hello");
	f->phases++;
}

static void on_event(const char *app, const char *kind, const char *message, void *data)
{
	struct fx *f = data;
	assert_true(f->nev < MAX_EVENTS);
	assert_string_equal(app, "hello");
	snprintf(f->ev[f->nev].kind, sizeof(f->ev[f->nev].kind), "%s", kind);
	snprintf(f->ev[f->nev].msg, sizeof(f->ev[f->nev].msg), "%s", message);
	f->nev++;
}

/* A runner over the fixture's store, httpc and canned source. */
static void runner_new(struct fx *f, void (*phase_cb)(const char *, int64_t, void *))
{
	struct sw_err err = {0};
	struct analysis_runner_config cfg = {
		.loop = &f->loop,
		.store = f->store,
		.httpc = f->httpc,
		.metrics = {.stats = canned_stats, .samples = canned_samples,
			    .cancel = canned_cancel, .impl = &f->canned},
		.on_phase = phase_cb,
		.on_event = on_event,
		.data = f,
	};
	assert_int_equal(analysis_runner_new(&f->runner, &cfg, &err), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct sw_err err = {0};
	char path[128];

	snprintf(f->dir, sizeof(f->dir), "/tmp/sw-runner.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	assert_int_equal(store_open(&f->store, path, &err), 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	uv_timer_init(&f->loop, &f->guard);
	assert_int_equal(httpc_new(&f->httpc, &f->loop, &err), 0);
	f->canned.loop = &f->loop;
	f->canned.error = "the proxy is not reachable";
	runner_new(f, on_phase);
	*state = f;
	return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	analysis_runner_free(f->runner);
	httpc_free(f->httpc);
	uv_close((uv_handle_t *)&f->guard, NULL);
	/* every handle closes and every exec command is reaped */
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_null(f->canned.pending);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	store_close(f->store);
	if (f->srv_on)
		srv_stop(&f->srv);
	json_decref(f->canned.stats);
	json_decref(f->canned.samples);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void on_guard(uv_timer_t *t)
{
}

#define RUN_UNTIL(f, cond, ms)                                                          \
	do {                                                                            \
		uint64_t deadline_ = sw_now_ms() + (ms);                                \
		uv_timer_start(&(f)->guard, on_guard, 5, 5);                            \
		while (!(cond) && sw_now_ms() < deadline_)                              \
			uv_run(&(f)->loop, UV_RUN_ONCE);                                \
		uv_timer_stop(&(f)->guard);                                             \
		if (!(cond))                                                            \
			fail_msg("timed out after %d ms waiting for %s", (int)(ms), #cond); \
	} while (0)

/* Stores an AnalysisTemplate "golden" parsed from YAML: metrics (and args) as written. */
static void put_template(struct fx *f, const char *name, const char *spec_yaml)
{
	struct buf y = BUF_INIT;
	struct spec_set set = {0};
	struct sw_err err = {0};
	buf_addf(&y, "apiVersion: slipway/v1\nkind: AnalysisTemplate\nmetadata: {name: %s}\nspec:\n%s",
		 name, spec_yaml);
	if (spec_parse_text(&set, y.s, y.len, "t.yaml", &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(set.ntemplates, 1);
	char *text = json_dumps(set.templates[0]->json, JSON_SORT_KEYS | JSON_COMPACT);
	struct store_template row = {.name = (char *)name, .hash = "h", .spec_json = text,
				     .source = "t.yaml"};
	assert_int_equal(store_template_put(f->store, &row, &err), 0);
	free(text);
	spec_set_release(&set);
	buf_release(&y);
}

/* Stores a template as JSON, as an older daemon or a damaged store may have it. */
static void put_template_json(struct fx *f, const char *name, const char *json)
{
	struct sw_err err = {0};
	struct store_template row = {.name = (char *)name, .hash = "h", .spec_json = (char *)json,
				     .source = "json"};
	assert_int_equal(store_template_put(f->store, &row, &err), 0);
}

static struct analysis_run *start(struct fx *f, int64_t id, int64_t revision, int64_t stable,
				  const char *tmpl, struct spec_env *args, size_t nargs, bool resumed)
{
	char *names[] = {(char *)tmpl};
	struct spec_analysis_ref ref = {.templates = names, .ntemplates = 1, .args = args, .nargs = nargs};
	struct analysis_run_params p = {
		.app = "hello",
		.id = id,
		.kind = f->kind ? f->kind : "step",
		.revision = revision,
		.stable = stable,
		.ref = &ref,
		.resumed = resumed,
		.since_ms = f->since_ms,
		.listen = f->listen,
		.host = f->host,
		.load_header = f->load_header,
	};
	f->in_start = true;
	struct analysis_run *run = analysis_run_start(f->runner, &p);
	f->in_start = false;
	assert_non_null(run);
	return run;
}

static bool done(const struct analysis_run *run)
{
	return analysis_run_phase(run) != MEASURE_RUNNING;
}

static size_t measurements(struct fx *f, struct store_measurement **out)
{
	struct sw_err err = {0};
	size_t n = 0;
	assert_int_equal(store_measurement_list(f->store, "hello", 0, 0, out, &n, &err), 0);
	return n;
}

static size_t count_measurements(struct fx *f)
{
	struct store_measurement *ms = NULL;
	size_t n = measurements(f, &ms);
	store_measurement_list_free(ms, n);
	return n;
}

static const char *find_event(struct fx *f, const char *kind)
{
	for (size_t i = 0; i < f->nev; i++)
		if (strcmp(f->ev[i].kind, kind) == 0)
			return f->ev[i].msg;
	return NULL;
}

static void set_stats(struct fx *f, const char *json)
{
	json_decref(f->canned.stats);
	f->canned.stats = json ? json_loads(json, 0, NULL) : NULL;
	assert_true(!json || f->canned.stats);
}

/* ---- builtin ---- */

static const char *const golden =
	"  metrics:\n"
	"    - name: success-rate\n"
	"      interval: 20ms\n"
	"      count: 3\n"
	"      successCondition: \"result >= 0.99\"\n"
	"      provider: {builtin: {metric: success-rate, window: 10s}}\n";

static void test_analysis_runner__builtin_measures_stores_and_succeeds(void **state)
{
	struct fx *f = *state;
	set_stats(f, "{\"series\":[{\"app\":\"other\",\"revision\":2,\"requests\":9,\"successRate\":0.1},"
		     "{\"app\":\"hello\",\"revision\":2,\"requests\":120,\"successRate\":0.995}]}");
	put_template(f, "golden", golden);
	struct analysis_run *run = start(f, 7, 2, 1, "golden", NULL, 0, false);
	assert_int_equal(analysis_run_phase(run), MEASURE_RUNNING);
	assert_string_equal(analysis_run_reason(run), "");
	assert_int_equal(analysis_run_id(run), 7);
	assert_int_equal(analysis_run_revision(run), 2);
	assert_string_equal(analysis_run_kind(run), "step");
	assert_string_equal(find_event(f, "AnalysisStarted"),
			    "step analysis run 7 of revision 2 started (templates: golden; 1 metrics)");
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_SUCCESSFUL);
	assert_string_equal(analysis_run_reason(run), "all 1 metrics passed");
	assert_int_equal(f->phases, 1);
	assert_string_equal(find_event(f, "AnalysisDone"),
			    "step analysis run 7 of revision 2: Successful: all 1 metrics passed");
	assert_null(find_event(f, "Measurement")); /* successful ones are not events */

	struct store_measurement *ms = NULL;
	size_t n = measurements(f, &ms);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ms[i].run, 7);
		assert_int_equal(ms[i].revision, 2);
		assert_string_equal(ms[i].kind, "step");
		assert_string_equal(ms[i].template_name, "golden");
		assert_string_equal(ms[i].metric, "success-rate");
		assert_string_equal(ms[i].provider, "builtin");
		assert_string_equal(ms[i].query, "success-rate of revision 2 over 10s");
		assert_string_equal(ms[i].value, "0.995");
		assert_string_equal(ms[i].outcome, "Successful");
	}
	store_measurement_list_free(ms, n);
	analysis_run_stop(run);
}

static void test_analysis_runner__builtin_failure_no_data_and_errors(void **state)
{
	struct fx *f = *state;
	put_template(f, "golden", golden);

	/* a low success rate fails at once (failureLimit 0) */
	set_stats(f, "{\"series\":[{\"app\":\"hello\",\"revision\":2,\"requests\":50,\"successRate\":0.5}]}");
	struct analysis_run *run = start(f, 1, 2, 1, "golden", NULL, 0, false);
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_FAILED);
	assert_non_null(strstr(analysis_run_reason(run), "golden/success-rate: success-rate = 0.5"));
	assert_non_null(strstr(find_event(f, "Measurement"), "run 1 golden/success-rate: success-rate = 0.5"));
	assert_non_null(strstr(find_event(f, "AnalysisDone"), "step analysis run 1 of revision 2: Failed: golden/success-rate"));
	analysis_run_stop(run);

	/* no series of the revision a minute after the weight change: the
	 * data wait is over, no data, inconclusive */
	set_stats(f, "{\"series\":[]}");
	f->since_ms = sw_wall_ms() - 60000;
	f->nev = 0;
	run = start(f, 2, 2, 1, "golden", NULL, 0, false);
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_INCONCLUSIVE);
	assert_non_null(strstr(analysis_run_reason(run), "no requests reached revision 2 in the last 10s"));
	analysis_run_stop(run);

	/* the source's error is the reason; five in a row end the metric */
	set_stats(f, NULL);
	run = start(f, 3, 2, 1, "golden", NULL, 0, false);
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_ERROR);
	assert_non_null(strstr(analysis_run_reason(run), "the proxy is not reachable"));
	analysis_run_stop(run);
}

/* ---- waiting for data ---- */

static size_t count_events(struct fx *f, const char *kind)
{
	size_t n = 0;
	for (size_t i = 0; i < f->nev; i++)
		n += strcmp(f->ev[i].kind, kind) == 0;
	return n;
}

/* Right after the weight change no request reached the canary: that is
 * no verdict, the metric waits and judges the traffic once it came. */
static void test_analysis_runner__no_data_right_after_the_weight_change_waits(void **state)
{
	struct fx *f = *state;
	put_template(f, "golden", golden);
	set_stats(f, "{\"series\":[]}");
	struct analysis_run *run = start(f, 1, 2, 1, "golden", NULL, 0, false);
	RUN_UNTIL(f, f->canned.calls >= 5, 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_RUNNING);
	assert_non_null(strstr(analysis_run_reason(run),
			       "golden/success-rate: waiting for data: 0 of 20 requests (no requests reached "
			       "revision 2 in the last 1s), 0s of 10s"));
	assert_int_equal(count_measurements(f), 0); /* nothing stored, nothing counted */
	assert_int_equal(count_events(f, "Measurement"), 1); /* the wait is told once */
	assert_non_null(strstr(find_event(f, "Measurement"), "run 1 golden/success-rate: waiting for data"));
	assert_int_equal(f->phases, 0);

	/* a perfect rate over 5 requests is no verdict either: a builtin
	 * metric without minSamples needs 20 */
	set_stats(f, "{\"series\":[{\"app\":\"hello\",\"revision\":2,\"requests\":5,\"successRate\":1}]}");
	int calls = f->canned.calls;
	RUN_UNTIL(f, f->canned.calls >= calls + 3, 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_RUNNING);
	assert_non_null(strstr(analysis_run_reason(run), "waiting for data: 5 of 20 requests"));
	assert_int_equal(count_measurements(f), 0);

	set_stats(f, "{\"series\":[{\"app\":\"hello\",\"revision\":2,\"requests\":30,\"successRate\":1}]}");
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_SUCCESSFUL);
	assert_int_equal(count_measurements(f), 3);
	analysis_run_stop(run);
}

/* A broken canary is judged on its first real traffic, however late. */
static void test_analysis_runner__too_few_samples_wait_then_a_failure_decides(void **state)
{
	struct fx *f = *state;
	put_template(f, "golden", "  metrics:\n"
				  "    - name: success-rate\n"
				  "      interval: 20ms\n"
				  "      count: 3\n"
				  "      minSamples: 20\n"
				  "      successCondition: \"result >= 0.99\"\n"
				  "      provider: {builtin: {metric: success-rate, window: 10s}}\n");
	set_stats(f, "{\"series\":[{\"app\":\"hello\",\"revision\":2,\"requests\":4,\"successRate\":0.75}]}");
	struct analysis_run *run = start(f, 1, 2, 1, "golden", NULL, 0, false);
	RUN_UNTIL(f, f->canned.calls >= 3, 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_RUNNING);
	assert_non_null(strstr(analysis_run_reason(run), "waiting for data: 4 of 20 requests, 0s of 10s"));
	set_stats(f, "{\"series\":[{\"app\":\"hello\",\"revision\":2,\"requests\":40,\"successRate\":0.9}]}");
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_FAILED);
	assert_int_equal(count_measurements(f), 1);
	analysis_run_stop(run);
}

/* The run ends with the reason of the metric that ended it: another
 * metric's data arriving afterwards (its wait over) must not clear it
 * (the rollout read "analysis of step 2/4 failed: " with nothing after). */
static void test_analysis_runner__a_wait_ending_later_keeps_the_failure_reason(void **state)
{
	struct fx *f = *state;
	put_template(f, "golden", "  metrics:\n"
				  "    - name: enough\n"
				  "      interval: 20ms\n"
				  "      count: 3\n"
				  "      minSamples: 20\n"
				  "      successCondition: \"result >= 0.5\"\n"
				  "      provider: {builtin: {metric: success-rate, window: 10s}}\n"
				  "    - name: strict\n"
				  "      interval: 20ms\n"
				  "      count: 3\n"
				  "      minSamples: 1\n"
				  "      successCondition: \"result >= 0.99\"\n"
				  "      provider: {builtin: {metric: success-rate, window: 10s}}\n");
	set_stats(f, "{\"series\":[{\"app\":\"hello\",\"revision\":2,\"requests\":4,\"successRate\":0.75}]}");
	struct analysis_run *run = start(f, 1, 2, 1, "golden", NULL, 0, false);
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_FAILED);
	assert_non_null(strstr(analysis_run_reason(run), "golden/strict: "));
	/* now "enough" gets its data */
	int calls = f->canned.calls;
	set_stats(f, "{\"series\":[{\"app\":\"hello\",\"revision\":2,\"requests\":40,\"successRate\":0.75}]}");
	RUN_UNTIL(f, f->canned.calls >= calls + 3, 5000);
	assert_non_null(strstr(analysis_run_reason(run), "golden/strict: "));
	analysis_run_stop(run);
}

/* The wait is bounded: no traffic at all ends as noData says
 * (inconclusive), never as a pass. */
static void test_analysis_runner__no_traffic_at_all_is_inconclusive_after_the_wait(void **state)
{
	struct fx *f = *state;
	put_template(f, "golden", golden);
	set_stats(f, "{\"series\":[]}");
	/* the weight changed 9.7 s ago: 0.3 s of the 10 s wait are left */
	int64_t t0 = sw_wall_ms();
	f->since_ms = t0 - 9700;
	struct analysis_run *run = start(f, 1, 2, 1, "golden", NULL, 0, false);
	RUN_UNTIL(f, done(run), 5000);
	assert_true(sw_wall_ms() - t0 >= 300);
	assert_int_equal(analysis_run_phase(run), MEASURE_INCONCLUSIVE);
	assert_non_null(strstr(analysis_run_reason(run), "no data (no requests reached revision 2"));
	assert_non_null(strstr(analysis_run_reason(run), "counted as inconclusive (noData: inconclusive)"));
	assert_int_equal(count_measurements(f), 1);
	analysis_run_stop(run);
}

/* A step must end by itself: a metric with an interval and no count takes
 * MEASURE_FINITE_COUNT measurements there; a background one goes on. */
static void test_analysis_runner__a_step_metric_without_count_ends(void **state)
{
	struct fx *f = *state;
	put_template(f, "golden", "  metrics:\n"
				  "    - name: success-rate\n"
				  "      interval: 20ms\n"
				  "      successCondition: \"result >= 0.99\"\n"
				  "      provider: {builtin: {metric: success-rate}}\n");
	set_stats(f, "{\"series\":[{\"app\":\"hello\",\"revision\":2,\"requests\":30,\"successRate\":1}]}");
	struct analysis_run *run = start(f, 1, 2, 1, "golden", NULL, 0, false);
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_SUCCESSFUL);
	assert_int_equal(count_measurements(f), MEASURE_FINITE_COUNT);
	analysis_run_stop(run);

	f->kind = "background";
	run = start(f, 2, 2, 1, "golden", NULL, 0, false);
	RUN_UNTIL(f, count_measurements(f) >= 2 * MEASURE_FINITE_COUNT + 2, 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_RUNNING);
	analysis_run_stop(run);
}

/* ---- compare ---- */

static void test_analysis_runner__compare_judges_both_revisions(void **state)
{
	struct fx *f = *state;
	struct buf s = BUF_INIT;
	buf_adds(&s, "{\"1\":{\"latencies\":[");
	for (int i = 0; i < 60; i++)
		buf_addf(&s, "%s%d", i ? "," : "", 10 + i % 5);
	buf_adds(&s, "]},\"2\":{\"latencies\":[");
	for (int i = 0; i < 60; i++)
		buf_addf(&s, "%s%d", i ? "," : "", 60 + i % 5);
	buf_adds(&s, "]}}");
	f->canned.samples = json_loads(s.s, 0, NULL);
	buf_release(&s);
	put_template(f, "cmp", "  metrics:\n"
			       "    - name: latency\n"
			       "      provider: {compare: {metric: latency, minSamples: 20}}\n");

	struct analysis_run *run = start(f, 4, 2, 1, "cmp", NULL, 0, false);
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_FAILED);
	assert_non_null(strstr(analysis_run_reason(run), "Mann-Whitney"));
	assert_int_equal(f->canned.calls, 2); /* one per revision */
	struct store_measurement *ms = NULL;
	size_t n = measurements(f, &ms);
	assert_int_equal(n, 1);
	assert_string_equal(ms[0].provider, "compare");
	assert_string_equal(ms[0].query, "latency of revision 2 vs stable 1 since the weight change (at most 300s)");
	store_measurement_list_free(ms, n);
	analysis_run_stop(run);

	/* without a stable revision there is nothing to compare: no data */
	f->since_ms = sw_wall_ms() - 60000;
	run = start(f, 5, 2, 0, "cmp", NULL, 0, false);
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_INCONCLUSIVE);
	assert_non_null(strstr(analysis_run_reason(run), "no stable revision to compare with"));
	assert_int_equal(f->canned.calls, 2);
	analysis_run_stop(run);

	/* error rates are judged as the window's counts: 5 errors on the
	 * canary against none on stable is enough */
	json_decref(f->canned.samples);
	f->canned.samples = json_loads("{\"1\":{\"latencies\":[],\"errorRates\":[],\"requests\":300,\"errors\":0},"
				       "\"2\":{\"latencies\":[],\"errorRates\":[],\"requests\":100,\"errors\":5}}",
				       0, NULL);
	put_template(f, "cmp-err", "  metrics:\n"
				   "    - name: errors\n"
				   "      provider: {compare: {metric: error-rate}}\n");
	run = start(f, 6, 2, 1, "cmp-err", NULL, 0, false);
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_FAILED);
	assert_non_null(strstr(analysis_run_reason(run), "canary 5 errors in 100 requests (5.0%) vs stable 0 in 300"));
	analysis_run_stop(run);
}

static void set_samples(struct fx *f, const char *json)
{
	json_decref(f->canned.samples);
	f->canned.samples = json_loads(json, 0, NULL);
	assert_non_null(f->canned.samples);
}

/* compare's tests hold at any number of looks: with a long interval, the
 * wait for data ends at the first look with enough data (that look is the
 * first measurement), passing looks between intervals are neither stored
 * nor counted, and a failure counts at the look that sees it, not at the
 * next interval. */
static void test_analysis_runner__compare_looks_between_intervals(void **state)
{
	struct fx *f = *state;
	set_samples(f, "{\"1\":{\"latencies\":[],\"errorRates\":[],\"requests\":3,\"errors\":0},"
		       "\"2\":{\"latencies\":[],\"errorRates\":[],\"requests\":1,\"errors\":0}}");
	put_template(f, "cmp-err", "  metrics:\n"
				   "    - name: errors\n"
				   "      interval: 20s\n"
				   "      count: 3\n"
				   "      provider: {compare: {metric: error-rate}}\n");
	/* the weight changed 5.5 s ago: both revisions are asked for the
	 * seconds since (the data plane's slot of the change included) */
	f->since_ms = sw_wall_ms() - 5500;
	struct analysis_run *run = start(f, 7, 2, 1, "cmp-err", NULL, 0, false);
	RUN_UNTIL(f, f->canned.calls >= 6, 5000); /* the tick and two looks: all waiting */
	assert_int_equal(count_measurements(f), 0);
	assert_in_range(f->canned.last_window_s, 6, 8);
	assert_non_null(strstr(analysis_run_reason(run), "waiting for data"));

	set_samples(f, "{\"1\":{\"latencies\":[],\"errorRates\":[],\"requests\":300,\"errors\":1},"
		       "\"2\":{\"latencies\":[],\"errorRates\":[],\"requests\":100,\"errors\":0}}");
	RUN_UNTIL(f, count_measurements(f) == 1, 5000);
	int calls = f->canned.calls;
	RUN_UNTIL(f, f->canned.calls >= calls + 6, 5000); /* three passing looks */
	assert_int_equal(count_measurements(f), 1);
	assert_int_equal(analysis_run_phase(run), MEASURE_RUNNING);

	set_samples(f, "{\"1\":{\"latencies\":[],\"errorRates\":[],\"requests\":300,\"errors\":0},"
		       "\"2\":{\"latencies\":[],\"errorRates\":[],\"requests\":100,\"errors\":6}}");
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_FAILED);
	assert_int_equal(count_measurements(f), 2);
	assert_non_null(strstr(analysis_run_reason(run), "canary 6 errors in 100 requests"));
	analysis_run_stop(run);
}

/* ---- synthetic load ---- */

static int load_hits(struct fx *f)
{
	pthread_mutex_lock(&f->srv.mu);
	int n = f->srv.load_hits;
	pthread_mutex_unlock(&f->srv.mu);
	return n;
}

/* Runs the loop until `ms` have passed (the load's own pace decides what
 * happens meanwhile). */
static void run_for(struct fx *f, uint64_t ms)
{
	uint64_t end = sw_now_ms() + ms;
	RUN_UNTIL(f, sw_now_ms() >= end, ms + 1000);
}

/* A template's load goes to the app's listener with its Host (a wildcard
 * host names a subdomain) and the run's extra header (a preview's), at its
 * rate, and nothing is sent after its duration; stopping the run stops it
 * at once. The metric waits for data
 * all along (too few requests), so only the load's bounds end it. */
static void test_analysis_runner__load_is_paced_bounded_and_stopped(void **state)
{
	struct fx *f = *state;
	char listen[32], tmpl[512], want[200];
	srv_start(&f->srv);
	f->srv_on = true;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", f->srv.port);
	f->listen = listen;
	f->host = "*.example.com";
	f->load_header = "X-Slipway-Preview: true";
	set_samples(f, "{\"1\":{\"latencies\":[],\"errorRates\":[],\"requests\":0,\"errors\":0},"
		       "\"2\":{\"latencies\":[],\"errorRates\":[],\"requests\":0,\"errors\":0}}");
	snprintf(tmpl, sizeof(tmpl), "  load: {rate: 100, duration: 1s, path: /load}\n"
				     "  metrics:\n"
				     "    - name: errors\n"
				     "      interval: 1s\n"
				     "      provider: {compare: {metric: error-rate}}\n");
	put_template(f, "quiet", tmpl);
	struct analysis_run *run = start(f, 8, 2, 1, "quiet", NULL, 0, false);
	snprintf(want, sizeof(want), "step analysis run 8: synthetic load, 100 requests a second to http://%s/load "
				     "(X-Slipway-Preview: true) for at most 1s", listen);
	assert_non_null(find_event(f, "LoadStarted"));
	assert_string_equal(find_event(f, "LoadStarted"), want);
	RUN_UNTIL(f, load_hits(f) >= 90, 5000);
	run_for(f, 1000); /* well past the duration */
	assert_in_range(load_hits(f), 90, 100); /* rate x duration, never more */
	pthread_mutex_lock(&f->srv.mu);
	assert_non_null(strstr(f->srv.last_request, "\r\nHost: load.example.com\r\n"));
	assert_non_null(strstr(f->srv.last_request, "\r\nUser-Agent: slipway-load\r\n"));
	assert_non_null(strstr(f->srv.last_request, "\r\nX-Slipway-Preview: true\r\n"));
	pthread_mutex_unlock(&f->srv.mu);
	assert_int_equal(analysis_run_phase(run), MEASURE_RUNNING);
	analysis_run_stop(run);

	/* a long load ends with its run */
	snprintf(tmpl, sizeof(tmpl), "  load: {rate: 200, duration: 1h, path: /load}\n"
				     "  metrics:\n"
				     "    - name: errors\n"
				     "      interval: 1s\n"
				     "      provider: {compare: {metric: error-rate}}\n");
	put_template(f, "quiet", tmpl);
	int before = load_hits(f);
	run = start(f, 9, 2, 1, "quiet", NULL, 0, false);
	RUN_UNTIL(f, load_hits(f) >= before + 20, 5000);
	analysis_run_stop(run);
	int at_stop = load_hits(f);
	run_for(f, 500); /* what was in flight at the stop lands */
	int settled = load_hits(f);
	assert_in_range(settled, at_stop, at_stop + ANALYSIS_LOAD_MAX_INFLIGHT);
	run_for(f, 500);
	assert_int_equal(load_hits(f), settled); /* and nothing more */
	assert_null(find_event(f, "LoadStopped")); /* no callback after stop */
	f->listen = f->host = f->load_header = NULL;
}

/* spec.load in canonical JSON: absent stays absent, `load: {}` and `load:`
 * take every default; bad values are refused with their position. */
static void test_analysis_runner__load_spec_defaults_and_errors(void **state)
{
	(void)state;
	static const struct {
		const char *load, *json, *error;
	} cases[] = {
		{"", NULL, NULL},
		{"  load: {}\n", "{\"duration\": \"5m\", \"path\": \"/\", \"rate\": 50}", NULL},
		{"  load:\n", "{\"duration\": \"5m\", \"path\": \"/\", \"rate\": 50}", NULL},
		{"  load: {rate: 5, duration: 90s, url: \"http://127.0.0.1:9/x\"}\n",
		 "{\"duration\": \"1m30s\", \"path\": \"/\", \"rate\": 5, \"url\": \"http://127.0.0.1:9/x\"}", NULL},
		{"  load: {rate: 501}\n", NULL, "t.yaml:5:16: rate must be between 1 and 500, got \"501\""},
		{"  load: {duration: 2h}\n", NULL, "t.yaml:5:20: duration must be at most 1h, got \"2h\""},
		{"  load: {path: x}\n", NULL, "t.yaml:5:16: path must start with \"/\", got \"x\""},
		{"  load: {url: ftp://x}\n", NULL, "t.yaml:5:15: url must be an http:// or https:// URL"},
		{"  load: {rte: 5}\n", NULL, "t.yaml:5:10: unknown field \"rte\" in spec.load (did you mean \"rate\"?)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf y = BUF_INIT;
		struct spec_set set = {0};
		struct sw_err err = {0};
		buf_addf(&y, "apiVersion: slipway/v1\nkind: AnalysisTemplate\nmetadata: {name: q}\nspec:\n%s"
			     "  metrics:\n    - name: errors\n      provider: {compare: {metric: error-rate}}\n",
			 cases[i].load);
		int rc = spec_parse_text(&set, y.s, y.len, "t.yaml", &err);
		if (cases[i].error) {
			assert_int_not_equal(rc, 0);
			if (strncmp(err.msg, cases[i].error, strlen(cases[i].error)) != 0)
				fail_msg("case %zu: got \"%s\", want \"%s...\"", i, err.msg, cases[i].error);
		} else {
			if (rc != 0)
				fail_msg("case %zu: %s", i, err.msg);
			json_t *load = json_object_get(json_object_get(set.templates[0]->json, "spec"), "load");
			if (!cases[i].json) {
				assert_null(load);
			} else {
				char *text = json_dumps(load, JSON_SORT_KEYS);
				assert_string_equal(text, cases[i].json);
				free(text);
			}
		}
		spec_set_release(&set);
		buf_release(&y);
	}
}

/* ---- exec ---- */

static void test_analysis_runner__exec_output_and_exit_status(void **state)
{
	struct fx *f = *state;
	put_template(f, "ex", "  metrics:\n"
			      "    - name: number\n"
			      "      successCondition: \"result == 42\"\n"
			      "      provider: {exec: {command: [sh, -c, 'echo 42']}}\n"
			      "    - name: status\n"
			      "      provider: {exec: {command: [sh, -c, 'exit 0']}}\n");
	struct analysis_run *run = start(f, 1, 2, 1, "ex", NULL, 0, false);
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_SUCCESSFUL);
	struct store_measurement *ms = NULL;
	size_t n = measurements(f, &ms);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(ms[i].provider, "exec");
		if (strcmp(ms[i].metric, "number") == 0) {
			assert_string_equal(ms[i].query, "sh -c echo 42");
			assert_string_equal(ms[i].value, "42");
		} else {
			assert_string_equal(ms[i].value, "true");
		}
	}
	store_measurement_list_free(ms, n);
	analysis_run_stop(run);

	put_template(f, "bad", "  metrics:\n"
			       "    - name: script\n"
			       "      provider: {exec: {command: [sh, -c, 'echo 42; exit 3']}}\n");
	run = start(f, 2, 2, 1, "bad", NULL, 0, false);
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_FAILED);
	assert_non_null(strstr(analysis_run_reason(run), "exit status 3"));
	analysis_run_stop(run);

	put_template(f, "none", "  metrics:\n"
				"    - name: script\n"
				"      provider: {exec: {command: [/nonexistent/tool]}}\n");
	run = start(f, 3, 2, 1, "none", NULL, 0, false);
	RUN_UNTIL(f, done(run), 15000); /* five errors in a row, a second apart */
	assert_int_equal(analysis_run_phase(run), MEASURE_ERROR);
	assert_non_null(strstr(analysis_run_reason(run), "cannot start \"/nonexistent/tool\""));
	analysis_run_stop(run);
}

static pid_t read_pid(const char *path)
{
	FILE *fp = fopen(path, "r");
	int pid = 0;
	if (fp) {
		if (fscanf(fp, "%d", &pid) != 1)
			pid = 0;
		fclose(fp);
	}
	return (pid_t)pid;
}

/*
 * The bug: only the shell was killed at the timeout; its child kept stdout
 * open and the measurement came when the child ended, 27 s later. The
 * group is killed now, and the measurement comes at the timeout.
 */
static void test_analysis_runner__exec_timeout_kills_the_group_and_records_at_once(void **state)
{
	struct fx *f = *state;
	struct buf y = BUF_INIT, pidfile = BUF_INIT;
	buf_addf(&pidfile, "%s/child.pid", f->dir);
	buf_addf(&y,
		 "  metrics:\n"
		 "    - name: slow\n"
		 "      provider: {exec: {command: [sh, -c, 'sleep 27 & echo $! > %s; wait; echo 1'], timeout: 1s}}\n",
		 pidfile.s);
	put_template(f, "slow", y.s);
	struct analysis_run *run = start(f, 1, 2, 1, "slow", NULL, 0, false);
	/* recorded long before the 27 s sleep would end */
	RUN_UNTIL(f, count_measurements(f) == 1, 5000);
	bool timed_out = false;
	for (size_t i = 0; i < f->nev; i++)
		timed_out |= strstr(f->ev[i].msg, "provider error: timed out after 1s") != NULL;
	assert_true(timed_out);
	/* one error of the 4 in a row the default allows: still measuring */
	assert_int_equal(analysis_run_phase(run), MEASURE_RUNNING);
	pid_t child = read_pid(pidfile.s);
	assert_true(child > 0);
	/* gone, not just orphaned: no start time once reaped or a zombie */
	RUN_UNTIL(f, sw_proc_start_time(child) == 0, 3000);
	analysis_run_stop(run);
	buf_release(&y);
	buf_release(&pidfile);
}

/* ---- web ---- */

static void test_analysis_runner__web_json_path_headers_and_args(void **state)
{
	struct fx *f = *state;
	struct buf y = BUF_INIT;
	srv_start(&f->srv);
	f->srv_on = true;
	buf_addf(&y,
		 "  args: [{name: which, value: a}]\n"
		 "  metrics:\n"
		 "    - name: api\n"
		 "      successCondition: \"result == 7\"\n"
		 "      provider: {web: {url: \"http://127.0.0.1:%d/health/{{args.which}}\", jsonPath: \"$.data.items[0].n\",\n"
		 "                 headers: {Authorization: \"Bearer t0k\"}}}\n"
		 "    - name: ok\n"
		 "      successCondition: \"result\"\n"
		 "      provider: {web: {url: \"http://127.0.0.1:%d/health/{{args.which}}\", jsonPath: \"$.data.ok\"}}\n",
		 f->srv.port, f->srv.port);
	put_template(f, "web", y.s);
	/* the reference's value wins over the template's default */
	struct spec_env args[] = {{.name = "which", .value = "b"}};
	struct analysis_run *run = start(f, 1, 2, 1, "web", args, 1, false);
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_SUCCESSFUL);
	pthread_mutex_lock(&f->srv.mu);
	assert_non_null(strstr(f->srv.last_request, "GET /health/b HTTP/1.1"));
	assert_int_equal(f->srv.with_auth, 1);
	pthread_mutex_unlock(&f->srv.mu);
	struct store_measurement *ms = NULL;
	size_t n = measurements(f, &ms);
	assert_int_equal(n, 2);
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health/b", f->srv.port);
	assert_string_equal(ms[0].query, url);
	assert_string_equal(ms[0].provider, "web");
	store_measurement_list_free(ms, n);
	analysis_run_stop(run);

	/* a 500, and an answer that is not JSON, are errors with their reason */
	buf_reset(&y);
	buf_addf(&y,
		 "  metrics:\n"
		 "    - name: fail\n"
		 "      successCondition: \"result\"\n"
		 "      provider: {web: {url: \"http://127.0.0.1:%d/fail\"}}\n"
		 "    - name: text\n"
		 "      successCondition: \"result\"\n"
		 "      provider: {web: {url: \"http://127.0.0.1:%d/text\"}}\n",
		 f->srv.port, f->srv.port);
	put_template(f, "webbad", y.s);
	run = start(f, 2, 2, 1, "webbad", NULL, 0, false);
	/* the default consecutiveErrorLimit (4): the fifth error in a row */
	RUN_UNTIL(f, done(run), 20000);
	assert_int_equal(analysis_run_phase(run), MEASURE_ERROR);
	assert_true(count_measurements(f) >= 5);
	bool saw500 = false, sawtext = false;
	for (size_t i = 0; i < f->nev; i++) {
		saw500 |= strstr(f->ev[i].msg, "provider error: HTTP 500: broken") != NULL;
		sawtext |= strstr(f->ev[i].msg, "provider error: the answer is not JSON") != NULL;
	}
	assert_true(saw500);
	assert_true(sawtext);
	analysis_run_stop(run);
	buf_release(&y);
}

/* ---- errors at start ---- */

static void test_analysis_runner__start_errors_name_the_template_and_metric(void **state)
{
	struct fx *f = *state;
	struct analysis_run *run = start(f, 1, 2, 1, "nope", NULL, 0, false);
	assert_int_equal(analysis_run_phase(run), MEASURE_ERROR);
	assert_string_equal(analysis_run_reason(run), "AnalysisTemplate \"nope\" not found (apply it first)");
	assert_string_equal(find_event(f, "AnalysisError"),
			    "step analysis run 1: AnalysisTemplate \"nope\" not found (apply it first)");
	analysis_run_stop(run);

	static const struct {
		const char *provider, *msg;
	} bad[] = {
		{"{\"exec\":{\"command\":[\"true\"],\"timeout\":\"soon\"}}",
		 "metric \"m\": exec: \"timeout\" must be a duration > 0 such as \"10s\", got \"soon\""},
		{"{\"exec\":{\"command\":[]}}", "metric \"m\": exec: \"command\" must not be empty"},
		{"{\"exec\":{\"command\":[\"sh\", 3]}}", "metric \"m\": exec: \"command\"[1] must be a string"},
		{"{\"web\":{\"timeout\":\"1s\"}}", "metric \"m\": web: \"url\" is required"},
		{"{\"web\":{\"url\":\"http://x/{{args.nope}}\"}}",
		 "metric \"m\": web: \"url\": unknown argument \"nope\" in \"{{args.nope}}\""},
		{"{\"web\":{\"url\":\"http://x/\",\"method\":\"PUT\"}}",
		 "metric \"m\": web: \"method\": unknown value \"PUT\""},
		{"{\"builtin\":{\"metric\":\"latency-p42\"}}",
		 "metric \"m\": builtin: \"metric\": unknown value \"latency-p42\""},
		{"{\"builtin\":{\"metric\":\"error-rate\",\"window\":30}}",
		 "metric \"m\": builtin: \"window\" must be a duration string, got a number"},
		{"{\"compare\":{\"metric\":\"latency\",\"confidence\":1.5}}",
		 "metric \"m\": compare: \"confidence\" must be strictly between 0 and 1, got 1.5"},
		{"{\"compare\":{\"metric\":\"latency\",\"minSamples\":0}}",
		 "metric \"m\": compare: \"minSamples\" must be an integer >= 1, got 0"},
		{"{\"prometheus\":{\"address\":\"http://p:9090\"}}", "metric \"m\": prometheus: \"query\" is required"},
		{"{\"carrier-pigeon\":{}}", "metric \"m\": unknown provider \"carrier-pigeon\""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[512];
		snprintf(json, sizeof(json),
			 "{\"spec\":{\"args\":[],\"metrics\":[{\"name\":\"m\",\"successCondition\":\"result\","
			 "\"provider\":%s}]}}",
			 bad[i].provider);
		put_template_json(f, "broken", json);
		run = start(f, 10 + (int64_t)i, 2, 1, "broken", NULL, 0, false);
		assert_int_equal(analysis_run_phase(run), MEASURE_ERROR);
		if (strcmp(analysis_run_reason(run), bad[i].msg) != 0)
			fail_msg("%s: got '%s', want '%s'", bad[i].provider, analysis_run_reason(run), bad[i].msg);
		analysis_run_stop(run);
	}
	assert_int_equal(f->phases, 0);
	assert_int_equal(count_measurements(f), 0);
}

/* ---- resume ---- */

static void add_measurement(struct fx *f, int64_t run, const char *outcome)
{
	struct sw_err err = {0};
	struct store_measurement m = {
		.app = "hello", .revision = 2, .run = run, .kind = "step", .template_name = "golden",
		.metric = "success-rate", .provider = "builtin", .query = "q", .value = "1",
		.condition = "", .outcome = (char *)outcome, .reason = "before",
	};
	assert_int_equal(store_measurement_add(f->store, &m, &err), 0);
}

static void test_analysis_runner__resumed_run_counts_what_it_stored(void **state)
{
	struct fx *f = *state;
	set_stats(f, "{\"series\":[{\"app\":\"hello\",\"revision\":2,\"requests\":120,\"successRate\":1}]}");
	put_template(f, "golden", golden);
	add_measurement(f, 5, "Successful");
	add_measurement(f, 5, "Successful");
	add_measurement(f, 4, "Failed");      /* another run's: not counted */

	/* count 3 with 2 stored: one more measurement ends it */
	struct analysis_run *run = start(f, 5, 2, 1, "golden", NULL, 0, true);
	assert_non_null(strstr(find_event(f, "AnalysisStarted"), "resumed after a daemon restart"));
	RUN_UNTIL(f, done(run), 5000);
	assert_int_equal(analysis_run_phase(run), MEASURE_SUCCESSFUL);
	assert_int_equal(count_measurements(f), 4);
	assert_int_equal(f->canned.calls, 1);
	analysis_run_stop(run);

	/* a run whose metrics had all ended starts ended, measures nothing */
	add_measurement(f, 6, "Failed");
	f->nev = 0;
	int phases = f->phases;
	run = start(f, 6, 2, 1, "golden", NULL, 0, true);
	assert_int_equal(analysis_run_phase(run), MEASURE_FAILED);
	assert_string_equal(analysis_run_reason(run), "golden/success-rate: Failed (before the restart)");
	assert_non_null(find_event(f, "AnalysisDone"));
	assert_int_equal(f->phases, phases); /* the initial phase is read, not reported */
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->canned.calls, 1);
	analysis_run_stop(run);
}

/* ---- stop ---- */

static void test_analysis_runner__stop_with_measurements_in_flight(void **state)
{
	struct fx *f = *state;
	struct buf y = BUF_INIT, pidfile = BUF_INIT;
	buf_addf(&pidfile, "%s/child.pid", f->dir);
	set_stats(f, "{\"series\":[]}");
	f->canned.delay_ms = 60000; /* the source answers long after the stop */
	buf_addf(&y,
		 "  metrics:\n"
		 "    - name: rate\n"
		 "      successCondition: \"result >= 0.99\"\n"
		 "      provider: {builtin: {metric: success-rate}}\n"
		 "    - name: script\n"
		 "      provider: {exec: {command: [sh, -c, 'sleep 27 & echo $! > %s; wait'], timeout: 1m}}\n"
		 "    - name: latency\n"
		 "      provider: {compare: {metric: latency}}\n",
		 pidfile.s);
	put_template(f, "golden", y.s);
	struct analysis_run *run = start(f, 1, 2, 1, "golden", NULL, 0, false);
	RUN_UNTIL(f, f->canned.npending == 3 && read_pid(pidfile.s) > 0, 5000);
	pid_t child = read_pid(pidfile.s);
	size_t nev = f->nev;
	int phases = f->phases;

	analysis_run_stop(run);
	assert_int_equal(f->canned.cancels, 3);
	assert_int_equal(f->canned.npending, 0);
	/* the exec command's group is killed and reaped; nothing is reported */
	RUN_UNTIL(f, sw_proc_start_time(child) == 0, 3000);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->nev, nev);
	assert_int_equal(f->phases, phases);
	assert_int_equal(count_measurements(f), 0);

	/* a run still going when the runner is freed is stopped the same way */
	unlink(pidfile.s);
	run = start(f, 2, 2, 1, "golden", NULL, 0, false);
	RUN_UNTIL(f, f->canned.npending == 3 && read_pid(pidfile.s) > 0, 5000);
	child = read_pid(pidfile.s);
	analysis_runner_free(f->runner);
	f->runner = NULL;
	assert_int_equal(f->canned.npending, 0);
	RUN_UNTIL(f, sw_proc_start_time(child) == 0, 3000);
	buf_release(&y);
	buf_release(&pidfile);
}

/* A callback may stop the run it reports on. */
static struct analysis_run *stop_me;

static void stop_on_phase(const char *app, int64_t run_id, void *data)
{
	struct fx *f = data;
	f->phases++;
	if (stop_me) {
		analysis_run_stop(stop_me);
		stop_me = NULL;
	}
}

static void test_analysis_runner__a_callback_may_stop_the_run(void **state)
{
	struct fx *f = *state;
	analysis_runner_free(f->runner);
	runner_new(f, stop_on_phase);
	set_stats(f, "{\"series\":[{\"app\":\"hello\",\"revision\":2,\"requests\":50,\"successRate\":0.5}]}");
	put_template(f, "two", "  metrics:\n"
			       "    - name: rate\n"
			       "      successCondition: \"result >= 0.99\"\n"
			       "      provider: {builtin: {metric: success-rate}}\n"
			       "    - name: forever\n"
			       "      interval: 10ms\n"
			       "      provider: {exec: {command: [sh, -c, 'exit 0']}}\n");
	stop_me = start(f, 1, 2, 1, "two", NULL, 0, false);
	RUN_UNTIL(f, stop_me == NULL, 5000);
	assert_int_equal(f->phases, 1);
	size_t n = count_measurements(f);
	/* nothing more is measured or reported */
	f->canned.delay_ms = 0;
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(count_measurements(f), n);
	assert_int_equal(f->phases, 1);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_analysis_runner__builtin_measures_stores_and_succeeds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__builtin_failure_no_data_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__no_data_right_after_the_weight_change_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__too_few_samples_wait_then_a_failure_decides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__a_wait_ending_later_keeps_the_failure_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__no_traffic_at_all_is_inconclusive_after_the_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__a_step_metric_without_count_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__compare_judges_both_revisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__compare_looks_between_intervals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__load_is_paced_bounded_and_stopped, setup, teardown),
		cmocka_unit_test(test_analysis_runner__load_spec_defaults_and_errors),
		cmocka_unit_test_setup_teardown(test_analysis_runner__exec_output_and_exit_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__exec_timeout_kills_the_group_and_records_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__web_json_path_headers_and_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__start_errors_name_the_template_and_metric, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__resumed_run_counts_what_it_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__stop_with_measurements_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis_runner__a_callback_may_stop_the_run, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
