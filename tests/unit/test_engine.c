/*
 * engine: the use cases over a real store, a real runtime running the
 * hello example, and the real analysis runner; no data plane (traffic is
 * optional). The loop is driven by the test and every wait polls with a
 * deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "analysis/runner.h"
#include "core/buf.h"
#include "engine/engine_int.h"
#include "store/store.h"

struct fixture {
	uv_loop_t loop;
	char dir[64];
	struct store *store;
	struct runtime *rt;
	struct analysis_runner *runner;
	struct engine *e;
	struct buf events;          /* "kind app\n" of every event seen by a subscriber */
	uint64_t sub;
};

static const char *hello_bin(void)
{
	const char *bin = getenv("HELLO_BIN");
	return bin ? bin : "./hello";
}

static uint64_t no_stats(void *impl, unsigned w, void (*cb)(json_t *, const char *, void *),
			 void *data)
{
	return 0; /* never asked: these apps have no analysis */
}

static uint64_t no_samples(void *impl, const char *app, int64_t revision, unsigned w,
			   void (*cb)(json_t *, const char *, void *), void *data)
{
	return 0;
}

static void no_cancel(void *impl, uint64_t id)
{
}

static void on_event(const struct engine_event *ev, void *data)
{
	struct fixture *f = data;
	buf_addf(&f->events, "%s %s\n", ev->kind, ev->app);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sw_err err = {0};
	struct buf p = BUF_INIT;
	snprintf(f->dir, sizeof(f->dir), "/tmp/slipway-engine.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	buf_addf(&p, "%s/state.db", f->dir);
	assert_int_equal(store_open(&f->store, p.s, &err), 0);
	buf_reset(&p);
	struct engine_config ec = {.loop = &f->loop, .store = f->store, .state_dir = f->dir};
	assert_int_equal(engine_new(&f->e, &ec, &err), 0);
	buf_addf(&p, "%s/logs", f->dir);
	struct runtime_config rc = {.loop = &f->loop, .log_dir = p.s,
				    .on_change = engine_on_instance, .data = f->e};
	assert_int_equal(runtime_new(&f->rt, &rc, &err), 0);
	struct analysis_runner_config ac = {
		.loop = &f->loop, .store = f->store,
		.metrics = {no_stats, no_samples, no_cancel, f},
		.on_phase = engine_on_run_phase, .on_event = engine_on_run_event, .data = f->e,
	};
	assert_int_equal(analysis_runner_new(&f->runner, &ac, &err), 0);
	struct engine_parts parts = {f->rt, f->runner, NULL, NULL};
	assert_int_equal(engine_start(f->e, &parts, &err), 0);
	f->sub = engine_subscribe(f->e, on_event, f);
	buf_release(&p);
	*state = f;
	return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void on_stopped(void *data)
{
	*(bool *)data = true;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	bool done = false;
	engine_stop(f->e);
	runtime_stop_all(f->rt, on_stopped, &done);
	uint64_t deadline = sw_now_ms() + 20000;
	while (!done && sw_now_ms() < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
	runtime_free(f->rt);
	analysis_runner_free(f->runner);
	uv_walk(&f->loop, close_walk, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_loop_close(&f->loop);
	engine_free(f->e);
	store_close(f->store);
	buf_release(&f->events);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void wake(uv_timer_t *t)
{
}

/* Runs the loop until cond(f, arg) holds or 15 s pass. */
static bool wait_for(struct fixture *f, bool (*cond)(struct fixture *, const void *), const void *arg)
{
	uv_timer_t t; /* wakes the loop up so that the deadline is seen */
	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, wake, 50, 50);
	uint64_t deadline = sw_now_ms() + 15000;
	bool ok;
	while (!(ok = cond(f, arg)) && sw_now_ms() < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	return ok;
}

static void app_yaml(struct buf *b, const char *name, const char *version, unsigned replicas)
{
	buf_addf(b,
		 "apiVersion: slipway/v1\n"
		 "kind: App\n"
		 "metadata: {name: %s}\n"
		 "spec:\n"
		 "  version: \"%s\"\n"
		 "  replicas: %u\n"
		 "  run:\n"
		 "    command: [\"%s\", \"--port\", \"${PORT}\"]\n"
		 "  readiness: {http: {path: /healthz}, period: 200ms}\n",
		 name, version, replicas, hello_bin());
}

/* Applies YAML text as one file; returns the engine's code. */
/* engine_apply, or (dry) engine_apply_dry_run, of one file's text */
static int apply_text(struct fixture *f, const char *yaml, bool dry, struct engine_results *res,
		      struct sw_err *err)
{
	struct spec_set set = {0};
	assert_int_equal(spec_parse_text(&set, yaml, strlen(yaml), "app.yaml", err), 0);
	struct engine_doc doc = {&set, "app.yaml", NULL};
	int r = dry ? engine_apply_dry_run(f->e, &doc, 1, "test", res, err)
		    : engine_apply(f->e, &doc, 1, "test", res, err);
	spec_set_release(&set);
	return r;
}

static int apply(struct fixture *f, const char *yaml, struct engine_results *res,
		 struct sw_err *err)
{
	return apply_text(f, yaml, false, res, err);
}

static bool healthy_with(struct fixture *f, const void *arg)
{
	const char *name = arg;
	struct engine_app *a = engine_app_find(f->e, name);
	if (!a || a->st.phase != ROLLOUT_HEALTHY || a->st.stable != a->st.desired)
		return false;
	struct sw_err err = {0};
	struct spec_app *spec = engine_app_spec(f->e, a, a->st.desired, &err);
	size_t ready = 0;
	for (size_t i = 0; i < a->ninsts; i++)
		ready += a->insts[i]->rt->ready && a->insts[i]->rt->revision == a->st.desired &&
			 !a->insts[i]->stopping;
	return spec && ready == spec->replicas && a->ninsts == spec->replicas;
}

static void test_engine__apply_rolls_out_and_identical_is_unchanged(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	app_yaml(&y, "hello", "1.0.0", 2);
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	assert_int_equal(res.n, 1);
	assert_string_equal(res.r[0].result, "created");
	assert_int_equal(res.r[0].revision, 1);
	engine_results_release(&res);
	assert_true(wait_for(f, healthy_with, "hello"));

	/* the same text again: no revision, no instance started or stopped */
	struct engine_app *a = engine_app_find(f->e, "hello");
	char first[96];
	sw_strlcpy(first, a->insts[0]->rt->id, sizeof(first));
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	assert_string_equal(res.r[0].result, "unchanged");
	assert_int_equal(res.r[0].revision, 1);
	engine_results_release(&res);
	assert_true(wait_for(f, healthy_with, "hello"));
	bool still = false;
	for (size_t i = 0; i < a->ninsts; i++)
		still |= strcmp(a->insts[i]->rt->id, first) == 0;
	assert_true(still);
	assert_non_null(strstr(buf_str(&f->events), "InstanceReady hello"));
	buf_release(&y);
}

static bool phase_is(struct fixture *f, const void *arg)
{
	const char *want = arg, *reason;
	struct engine_app *a = engine_app_find(f->e, "hello");
	return a && strcmp(rollout_phase_name(engine_app_phase(a, &reason)), want) == 0;
}

/* A crash after the rollout: Degraded with the exit in the reason, the
 * stable side short of one; Healthy again once it is back and ready. */
static void test_engine__killed_instance_degrades_a_healthy_app_until_back(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	app_yaml(&y, "hello", "1.0.0", 1);
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_true(wait_for(f, healthy_with, "hello"));
	assert_true(phase_is(f, "Healthy"));
	struct engine_app *a = engine_app_find(f->e, "hello");
	assert_int_equal(kill(runtime_instance_pid(a->insts[0]->rt), SIGKILL), 0);
	assert_true(wait_for(f, phase_is, "Degraded"));
	const char *reason;
	engine_app_phase(a, &reason);
	assert_non_null(strstr(reason, "instance hello-1 killed by signal 9"));
	assert_non_null(strstr(reason, "0/1 instances ready"));
	assert_int_equal(a->st.phase, ROLLOUT_HEALTHY); /* the rollout's own is untouched */
	struct engine_side stable, canary;
	engine_app_sides(f->e, a, &stable, &canary);
	assert_int_equal(stable.revision, 1);
	assert_int_equal(stable.ready, 0);
	assert_int_equal(stable.desired, 1);
	assert_int_equal(canary.revision, 0);
	assert_true(wait_for(f, phase_is, "Healthy"));
	assert_non_null(strstr(buf_str(&f->events), "Degraded hello"));
	assert_non_null(strstr(buf_str(&f->events), "Healthy hello"));
	buf_release(&y);
}

static void test_engine__app_defined_twice_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	app_yaml(&y, "twice", "1.0.0", 1);
	struct spec_set a = {0}, b = {0};
	assert_int_equal(spec_parse_text(&a, y.s, y.len, "a.yaml", &err), 0);
	assert_int_equal(spec_parse_text(&b, y.s, y.len, "b.yaml", &err), 0);
	struct engine_doc docs[] = {{&a, "a.yaml", NULL}, {&b, "b.yaml", NULL}};
	assert_int_equal(engine_apply(f->e, docs, 2, "test", &res, &err), SW_EINVAL);
	assert_string_equal(err.msg,
			    "b.yaml:1:1: app \"twice\" is defined twice (first at a.yaml:1:1)");
	assert_null(engine_app_find(f->e, "twice"));
	struct store_app row = {0};
	struct sw_err gerr = {0};
	assert_int_equal(store_app_get(f->store, "twice", &row, &gerr), SW_ENOTFOUND);
	spec_set_release(&a);
	spec_set_release(&b);
	buf_release(&y);
}

/* An apply with an origin makes the app the source's; another source's
 * claim is refused naming both; a hand apply keeps the owner and drops the
 * commit; a revision keeps its origin. */
static void test_engine__origin_owns_apps_and_conflicts_name_both(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	app_yaml(&y, "owned", "1.0.0", 1);
	struct spec_set a = {0};
	assert_int_equal(spec_parse_text(&a, y.s, y.len, "deploy/owned.yaml", &err), 0);
	struct engine_origin shop = {"shop", "0123456789abcdef0123456789abcdef01234567", "Ada <a@e>",
				     1000, "first"};
	struct engine_origin other = {"other", "89abcdef0123456789abcdef0123456789abcdef", "Bob <b@e>",
				      2000, "mine"};
	struct engine_doc d1 = {&a, "deploy/owned.yaml", &shop};
	assert_int_equal(engine_apply(f->e, &d1, 1, "source/shop", &res, &err), 0);
	engine_results_release(&res);
	struct engine_app *app = engine_app_find(f->e, "owned");
	assert_non_null(app);
	assert_string_equal(app->owner, "shop");
	assert_string_equal(app->commit, shop.commit);
	struct engine_doc d2 = {&a, "deploy/owned.yaml", &other};
	assert_int_equal(engine_apply(f->e, &d2, 1, "source/other", &res, &err), SW_ECONFLICT);
	assert_non_null(strstr(err.msg, "belongs to source \"shop\"; source \"other\" defines it too"));
	assert_string_equal(app->owner, "shop");
	struct store_revision rev = {0};
	assert_int_equal(store_revision_get(f->store, "owned", 1, &rev, &err), 0);
	assert_non_null(strstr(rev.origin, "\"commit\":\"0123456789abcdef0123456789abcdef01234567\""));
	assert_non_null(strstr(rev.origin, "\"subject\":\"first\""));
	store_revision_release(&rev);
	/* a hand change: still owned, no commit */
	struct buf y2 = BUF_INIT;
	app_yaml(&y2, "owned", "9.0.0", 1);
	struct spec_set b = {0};
	assert_int_equal(spec_parse_text(&b, y2.s, y2.len, "hand.yaml", &err), 0);
	struct engine_doc d3 = {&b, "hand.yaml", NULL};
	assert_int_equal(engine_apply(f->e, &d3, 1, "cli", &res, &err), 0);
	engine_results_release(&res);
	assert_string_equal(app->owner, "shop");
	assert_string_equal(app->commit, "");
	struct store_app row = {0};
	assert_int_equal(store_app_get(f->store, "owned", &row, &err), 0);
	assert_string_equal(row.owner, "shop");
	store_app_release(&row);
	spec_set_release(&a);
	spec_set_release(&b);
	buf_release(&y);
	buf_release(&y2);
}

static int dry_run(struct fixture *f, const char *yaml, struct engine_results *res,
		   struct sw_err *err)
{
	return apply_text(f, yaml, true, res, err);
}

static int64_t count_of(struct fixture *f, const char *table)
{
	int64_t n = 0;
	struct sw_err err = {0};
	assert_int_equal(store_count(f->store, table, &n, &err), 0);
	return n;
}

static const char *version_of(json_t *doc)
{
	return json_string_value(json_object_get(json_object_get(doc, "spec"), "version"));
}

static void test_engine__dry_run_answers_as_apply_and_keeps_nothing(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0}, gerr = {0};
	struct buf y1 = BUF_INIT, y2 = BUF_INIT;
	struct store_app row = {0};
	app_yaml(&y1, "hello", "1.0.0", 1);
	app_yaml(&y2, "hello", "2.0.0", 1);
	/* a new app: created, nothing live, nothing kept */
	int64_t events = count_of(f, "events");
	assert_int_equal(dry_run(f, y1.s, &res, &err), 0);
	assert_int_equal(res.n, 1);
	assert_string_equal(res.r[0].result, "created");
	assert_int_equal(res.r[0].revision, 1);
	assert_null(res.r[0].live);
	assert_string_equal(version_of(res.r[0].merged), "1.0.0");
	engine_results_release(&res);
	assert_null(engine_app_find(f->e, "hello"));
	assert_int_equal(store_app_get(f->store, "hello", &row, &gerr), SW_ENOTFOUND);
	assert_int_equal(count_of(f, "revisions"), 0);
	assert_int_equal(count_of(f, "events"), events);
	/* a change: configured as revision 2, live is revision 1, still 1 after */
	assert_int_equal(apply(f, y1.s, &res, &err), 0);
	engine_results_release(&res);
	events = count_of(f, "events");
	assert_int_equal(dry_run(f, y2.s, &res, &err), 0);
	assert_string_equal(res.r[0].result, "configured");
	assert_int_equal(res.r[0].revision, 2);
	assert_string_equal(version_of(res.r[0].live), "1.0.0");
	assert_string_equal(version_of(res.r[0].merged), "2.0.0");
	engine_results_release(&res);
	assert_int_equal(engine_app_find(f->e, "hello")->st.desired, 1);
	assert_int_equal(count_of(f, "revisions"), 1);
	assert_int_equal(count_of(f, "events"), events);
	/* the same content: unchanged, live and merged equal */
	assert_int_equal(dry_run(f, y1.s, &res, &err), 0);
	assert_string_equal(res.r[0].result, "unchanged");
	assert_true(json_equal(res.r[0].live, res.r[0].merged));
	engine_results_release(&res);
	/* and the real apply after it still makes revision 2 */
	assert_int_equal(apply(f, y2.s, &res, &err), 0);
	assert_int_equal(res.r[0].revision, 2);
	assert_null(res.r[0].live);
	engine_results_release(&res);
	buf_release(&y1);
	buf_release(&y2);
}

static bool at_version(struct fixture *f, const void *arg)
{
	const char *version = arg;
	struct engine_app *a = engine_app_find(f->e, "hello");
	struct sw_err err = {0};
	struct spec_app *s = a ? engine_app_spec(f->e, a, a->st.desired, &err) : NULL;
	return s && strcmp(s->version, version) == 0 && healthy_with(f, "hello");
}

static void test_engine__rollback_and_rollout_commands(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	app_yaml(&y, "hello", "1.0.0", 1);
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_true(wait_for(f, at_version, "1.0.0"));
	buf_reset(&y);
	app_yaml(&y, "hello", "2.0.0", 1);
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	assert_string_equal(res.r[0].result, "configured");
	assert_int_equal(res.r[0].revision, 2);
	engine_results_release(&res);
	assert_true(wait_for(f, at_version, "2.0.0"));

	/* nothing to promote or abort on a healthy app: 409, state unchanged */
	assert_int_equal(engine_rollout(f->e, "hello", ENGINE_PROMOTE, false, "test", &err),
			 SW_ECONFLICT);
	assert_non_null(strstr(err.msg, "nothing to promote"));
	sw_err_clear(&err);
	assert_int_equal(engine_rollout(f->e, "nosuch", ENGINE_PAUSE, false, "test", &err),
			 SW_ENOTFOUND);
	sw_err_clear(&err);

	int64_t rev = 0;
	bool unchanged = true;
	assert_int_equal(engine_rollback(f->e, "hello", 0, "test", &rev, &unchanged, &err), 0);
	assert_int_equal(rev, 1);
	assert_false(unchanged);
	assert_true(wait_for(f, at_version, "1.0.0"));
	assert_non_null(strstr(buf_str(&f->events), "Rollback hello"));
	assert_int_equal(engine_rollback(f->e, "hello", 1, "test", &rev, &unchanged, &err), 0);
	assert_true(unchanged);
	assert_int_equal(engine_rollback(f->e, "hello", 9, "test", &rev, &unchanged, &err),
			 SW_ENOTFOUND);
	buf_release(&y);
}

/* Healthy with arg (an unsigned *) ready instances of its desired
 * revision, none created before the restart. */
static bool healthy_n(struct fixture *f, const void *arg)
{
	struct engine_app *a = engine_app_find(f->e, "hello");
	size_t ready = 0;
	if (!a || a->st.phase != ROLLOUT_HEALTHY || a->st.restart_ms)
		return false;
	for (size_t i = 0; i < a->ninsts; i++)
		ready += a->insts[i]->rt->ready && !a->insts[i]->stopping;
	return ready == *(const unsigned *)arg && a->ninsts == ready;
}

static void test_engine__scale_and_restart_answer_with_the_state_after(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	unsigned two = 2;
	app_yaml(&y, "hello", "1.0.0", 1);
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_true(wait_for(f, at_version, "1.0.0"));

	assert_int_equal(engine_scale(f->e, "hello", 1001, "test", &err), SW_EINVAL);
	assert_non_null(strstr(err.msg, "between 0 and 1000"));
	sw_err_clear(&err);
	assert_int_equal(engine_scale(f->e, "nosuch", 1, "test", &err), SW_ENOTFOUND);
	sw_err_clear(&err);
	struct engine_app *a = engine_app_find(f->e, "hello");
	assert_int_equal(engine_scale(f->e, "hello", 2, "test", &err), 0);
	/* reconciled before the answer: the new instance is there already */
	assert_int_equal(a->ninsts, 2);
	assert_true(a->st.scaled);
	assert_int_equal(a->st.desired, 1);
	assert_true(wait_for(f, healthy_n, &two));
	assert_non_null(strstr(buf_str(&f->events), "Scaled hello"));

	char before[2][96];
	for (size_t i = 0; i < 2; i++)
		snprintf(before[i], sizeof(before[i]), "%s", a->insts[i]->rt->id);
	assert_int_equal(engine_rollout(f->e, "hello", ENGINE_RESTART, false, "test", &err), 0);
	assert_int_equal(a->st.phase, ROLLOUT_PROGRESSING);
	assert_int_equal(a->ninsts, 3); /* one new, before any old one stops */
	assert_true(wait_for(f, healthy_n, &two));
	for (size_t i = 0; i < a->ninsts; i++)
		for (size_t k = 0; k < 2; k++)
			assert_string_not_equal(a->insts[i]->rt->id, before[k]);
	assert_int_equal(a->st.desired, 1);
	assert_non_null(strstr(buf_str(&f->events), "RolloutRestart hello"));
	assert_non_null(strstr(buf_str(&f->events), "Restarted hello"));
	buf_release(&y);
}

static bool no_instances(struct fixture *f, const void *arg)
{
	return runtime_count(f->rt) == 0;
}

static void test_engine__delete_stops_instances(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	app_yaml(&y, "gone", "1.0.0", 2);
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_true(wait_for(f, healthy_with, "gone"));
	size_t n = 0;
	assert_int_equal(engine_delete(f->e, "gone", "test", &n, &err), 0);
	assert_int_equal(n, 2);
	assert_null(engine_app_find(f->e, "gone"));
	assert_true(wait_for(f, no_instances, NULL));
	assert_int_equal(engine_delete(f->e, "gone", "test", &n, &err), SW_ENOTFOUND);
	buf_release(&y);
}

struct counts {
	size_t n;
	uint64_t before[8];
};

static bool restarted_ready(struct fixture *f, const void *arg)
{
	struct engine_app *a = engine_app_find(f->e, "app-3");
	return a && a->ninsts == 1 && a->insts[0]->rt->restarts >= 1 && a->insts[0]->rt->ready;
}

/* An instance event reconciles its own app; settled apps cost nothing. */
static void test_engine__instance_event_reconciles_its_app_only(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	char name[16];
	for (int i = 0; i < 8; i++) {
		struct buf y = BUF_INIT;
		snprintf(name, sizeof(name), "app-%d", i);
		app_yaml(&y, name, "1.0.0", 1);
		assert_int_equal(apply(f, y.s, &res, &err), 0);
		engine_results_release(&res);
		buf_release(&y);
	}
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "app-%d", i);
		assert_true(wait_for(f, healthy_with, name));
	}
	struct counts c = {0};
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "app-%d", i);
		c.before[i] = engine_app_find(f->e, name)->reconciles;
	}
	struct engine_app *a3 = engine_app_find(f->e, "app-3");
	kill(runtime_instance_pid(a3->insts[0]->rt), SIGKILL);
	assert_true(wait_for(f, restarted_ready, NULL));
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "app-%d", i);
		uint64_t now = engine_app_find(f->e, name)->reconciles;
		if (i == 3)
			assert_true(now > c.before[i]);
		else
			assert_int_equal(now, c.before[i]);
	}
}

/* One listener + host + pathPrefix routes to one app: a second app on
 * it is refused at apply (whatever spelling it uses), nothing recorded. */
static void test_engine__route_clash_is_refused_at_apply(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	app_yaml(&y, "one", "1.0.0", 1);
	buf_adds(&y, "  route: {listen: \"127.0.0.1:18555\"}\n");
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	buf_reset(&y);
	app_yaml(&y, "two", "1.0.0", 1);
	buf_adds(&y, "  route: {listen: \"localhost:18555\"}\n");
	assert_int_equal(apply(f, y.s, &res, &err), SW_EINVAL);
	assert_string_equal(err.msg, "app.yaml:1:1: app \"two\": route 127.0.0.1:18555 path / is "
				     "already served by app \"one\" (one listen + host + pathPrefix "
				     "routes to one app)");
	assert_null(engine_app_find(f->e, "two"));
	/* another host on the same listener is another route */
	buf_reset(&y);
	app_yaml(&y, "two", "1.0.0", 1);
	buf_adds(&y, "  route: {listen: \"localhost:18555\", host: two.localhost}\n");
	sw_err_clear(&err);
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	/* the app itself may keep its route in a new revision */
	buf_reset(&y);
	app_yaml(&y, "one", "2.0.0", 1);
	buf_adds(&y, "  route: {listen: \"127.0.0.1:18555\"}\n");
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	buf_release(&y);
}

/* ---- dependsOn ---- */

static void test_engine__depends_cycle_finds_cycles_only(void **state)
{
	char *b[] = {"b"}, *c[] = {"c"}, *a[] = {"a"}, *ext[] = {"later", "c"}, *self[] = {"s"};
	size_t *cyc = NULL;
	/* a -> b -> c, c -> later (not there yet): no cycle */
	struct engine_dep_node chain[] = {{"a", b, 1}, {"b", c, 1}, {"c", ext, 1}};
	assert_int_equal(engine_depends_cycle(chain, 3, &cyc), 0);
	assert_null(cyc);
	/* c -> a closes it; the text starts at the graph's first node */
	struct engine_dep_node loop[] = {{"c", a, 1}, {"b", c, 1}, {"a", b, 1}, {"x", ext, 2}};
	assert_int_equal(engine_depends_cycle(loop, 4, &cyc), 3);
	assert_int_equal(cyc[0], 0); /* c */
	assert_int_equal(cyc[1], 2); /* a */
	assert_int_equal(cyc[2], 1); /* b */
	free(cyc);
	/* found from a node that only leads into it, still from its lowest */
	struct engine_dep_node lead[] = {{"x", ext, 2}, {"c", a, 1}, {"a", c, 1}};
	assert_int_equal(engine_depends_cycle(lead, 3, &cyc), 2);
	assert_int_equal(cyc[0], 1);
	assert_int_equal(cyc[1], 2);
	free(cyc);
	struct engine_dep_node one[] = {{"s", self, 1}};
	assert_int_equal(engine_depends_cycle(one, 1, &cyc), 1);
	free(cyc);
	/* a long chain (a monorepo of 2,000 apps) is walked without recursion */
	enum { N = 2000 };
	struct engine_dep_node *big = calloc(N, sizeof(*big));
	char (*names)[16] = calloc(N, sizeof(*names));
	char **next = calloc(N, sizeof(*next));
	for (size_t i = 0; i < N; i++)
		snprintf(names[i], sizeof(names[i]), "app-%zu", i);
	for (size_t i = 0; i < N; i++) {
		next[i] = names[(i + 1) % N];
		big[i] = (struct engine_dep_node){names[i], &next[i], i + 1 < N};
	}
	assert_int_equal(engine_depends_cycle(big, N, &cyc), 0);
	big[N - 1].ndeps = 1; /* the last one back to the first */
	assert_int_equal(engine_depends_cycle(big, N, &cyc), N);
	assert_int_equal(cyc[0], 0);
	assert_int_equal(cyc[N - 1], N - 1);
	free(cyc);
	free(big);
	free(names);
	free(next);
}

/* app_yaml and more of its spec, one document of several */
static void dep_yaml(struct buf *b, const char *name, const char *version, const char *more)
{
	app_yaml(b, name, version, 1);
	buf_adds(b, more);
	buf_adds(b, "---\n");
}

/* One that is ready a second after it starts (hello's HELLO_READY_AFTER). */
static void slow_yaml(struct buf *b, const char *name)
{
	buf_addf(b,
		 "apiVersion: slipway/v1\n"
		 "kind: App\n"
		 "metadata: {name: %s}\n"
		 "spec:\n"
		 "  version: \"1.0.0\"\n"
		 "  run:\n"
		 "    command: [\"%s\", \"--port\", \"${PORT}\"]\n"
		 "    env: {HELLO_READY_AFTER: \"1\"}\n"
		 "  readiness: {http: {path: /healthz}, period: 200ms}\n"
		 "---\n", name, hello_bin());
}

static bool waiting_is(struct fixture *f, const void *arg)
{
	const char *want = arg, *reason;
	struct engine_app *a = engine_app_find(f->e, "web");
	return a && engine_app_phase(a, &reason) == ROLLOUT_WAITING && strcmp(reason, want) == 0;
}

/* The index of the first "KIND APP" line in the events seen, or -1. */
static long event_at(struct fixture *f, const char *line)
{
	const char *p = strstr(buf_str(&f->events), line);
	return p ? p - buf_str(&f->events) : -1;
}

static void test_engine__depends_on_waits_for_healthy_then_starts(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	dep_yaml(&y, "web", "1.0.0", "  dependsOn: [db]\n");
	slow_yaml(&y, "db");
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_true(wait_for(f, waiting_is, "waiting for db (Progressing); revision 1 starts once "
			     "it is Healthy"));
	assert_int_equal(engine_app_find(f->e, "web")->ninsts, 0);
	assert_true(wait_for(f, healthy_with, "db"));
	assert_true(wait_for(f, healthy_with, "web"));
	/* in that order, told once each */
	long waiting = event_at(f, "WaitingForDependencies web\n");
	long db = event_at(f, "Healthy db\n"), ready = event_at(f, "DependenciesReady web\n");
	long started = event_at(f, "InstanceStarted web\n");
	assert_true(waiting >= 0 && waiting < db && db < ready && ready < started);
	assert_null(strstr(buf_str(&f->events) + waiting + 1, "WaitingForDependencies web\n"));

	/* a change of replicas only waits for nothing, even with db gone */
	size_t n;
	assert_int_equal(engine_delete(f->e, "db", "test", &n, &err), 0);
	buf_reset(&y);
	app_yaml(&y, "web", "1.0.0", 2);
	buf_adds(&y, "  dependsOn: [db]\n");
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	struct engine_app *a = engine_app_find(f->e, "web");
	assert_false(rollout_waiting_for_dependencies(&a->st));
	assert_true(wait_for(f, healthy_with, "web"));
	/* a new version does; abort cancels it and revision 2 keeps serving */
	buf_reset(&y);
	app_yaml(&y, "web", "2.0.0", 2);
	buf_adds(&y, "  dependsOn: [db]\n");
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_true(wait_for(f, waiting_is, "waiting for db (not found); revision 3 starts once it "
			     "is Healthy"));
	assert_int_equal(engine_rollout(f->e, "web", ENGINE_ABORT, false, "test", &err), 0);
	const char *reason;
	assert_int_equal(engine_app_phase(a, &reason), ROLLOUT_DEGRADED);
	assert_int_equal(a->st.stable, 2);
	for (size_t i = 0; i < a->ninsts; i++)
		assert_int_equal(a->insts[i]->rt->revision, 2);
	/* retry waits again; a rollback does not */
	assert_int_equal(engine_rollout(f->e, "web", ENGINE_RETRY, false, "test", &err), 0);
	assert_true(rollout_waiting_for_dependencies(&a->st));
	int64_t to;
	bool unchanged;
	assert_int_equal(engine_rollback(f->e, "web", 2, "test", &to, &unchanged, &err), 0);
	assert_false(rollout_waiting_for_dependencies(&a->st));
	assert_true(wait_for(f, healthy_with, "web"));
	buf_release(&y);
}

static void test_engine__depends_cycle_is_refused_and_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	dep_yaml(&y, "hello", "1.0.0", "  dependsOn:\n    - db\n");
	dep_yaml(&y, "db", "1.0.0", "  dependsOn: [hello]\n");
	assert_int_equal(apply(f, y.s, &res, &err), SW_EINVAL);
	assert_string_equal(err.msg, "app.yaml:11:5: dependsOn: cycle hello -> db -> hello (an app "
			    "cannot wait for itself, directly or through others)");
	assert_int_equal(engine_app_count(f->e), 0);
	/* through an app there already: the same */
	buf_reset(&y);
	dep_yaml(&y, "hello", "1.0.0", "  dependsOn: [db]\n");
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	buf_reset(&y);
	dep_yaml(&y, "db", "1.0.0", "  dependsOn: [cache]\n");
	dep_yaml(&y, "cache", "1.0.0", "  dependsOn: [hello]\n");
	memset(&err, 0, sizeof(err));
	assert_int_equal(apply_text(f, y.s, true, &res, &err), SW_EINVAL); /* a dry run too */
	assert_non_null(strstr(err.msg, "dependsOn: cycle db -> cache -> hello -> db"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(apply(f, y.s, &res, &err), SW_EINVAL);
	assert_int_equal(engine_app_count(f->e), 1);
	buf_release(&y);
}

/* ---- environments ---- */

static void env_yaml(struct buf *b, const char *name, const char *spec)
{
	buf_addf(b, "---\napiVersion: slipway/v1\nkind: Environment\nmetadata: {name: %s}\n%s\n", name,
		 spec ? spec : "");
}

/* app_yaml with metadata.environment */
static void app_in(struct buf *b, const char *env, const char *name, const char *version,
		   const char *extra)
{
	buf_addf(b, "---\napiVersion: slipway/v1\nkind: App\nmetadata: {name: %s, environment: %s}\n"
		 "spec:\n  version: \"%s\"\n  run:\n    command: [\"%s\", \"--port\", \"${PORT}\"]\n"
		 "  readiness: {http: {path: /healthz}, period: 200ms}\n%s", name, env, version,
		 hello_bin(), extra ? extra : "");
}

/* One name in two environments: two apps with their own keys, instances,
 * ports (each environment's range) and ids; an environment must exist. */
static void test_engine__environments_isolate_names_and_ports(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	app_in(&y, "staging", "hello", "1.0.0", NULL);
	assert_int_equal(apply(f, y.s, &res, &err), SW_EINVAL);
	assert_string_equal(err.msg, "app.yaml:4:38: environment \"staging\" does not exist (apply a "
				     "kind: Environment first; known: default)");
	assert_int_equal(engine_app_count(f->e), 0);

	/* the same apply may carry it */
	buf_reset(&y);
	env_yaml(&y, "staging", "spec: {ports: 23100-23109}");
	app_in(&y, "staging", "hello", "1.0.0", NULL);
	buf_adds(&y, "---\n");
	app_yaml(&y, "hello", "1.0.0", 1);
	sw_err_clear(&err);
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	assert_int_equal(res.n, 3); /* names are the set's, released by now */
	assert_string_equal(res.r[2].kind, "Environment");
	engine_results_release(&res);
	assert_true(wait_for(f, healthy_with, "staging/hello"));
	assert_true(wait_for(f, healthy_with, "hello"));
	struct engine_app *s = engine_app_find(f->e, "staging/hello"), *d = engine_app_find(f->e, "hello");
	assert_true(engine_app_in(s, "staging"));
	assert_true(engine_app_in(d, "default"));
	assert_false(engine_app_in(d, "staging"));
	assert_string_equal(s->insts[0]->rt->id, "staging.hello-1");
	assert_string_equal(d->insts[0]->rt->id, "hello-1");
	assert_in_range(s->insts[0]->rt->port, 23100, 23109);
	assert_false(d->insts[0]->rt->port >= 23100 && d->insts[0]->rt->port <= 23109);

	/* known environments, and ranges that overlap are refused naming both */
	char known[128];
	engine_environments_known(f->e, known, sizeof(known));
	assert_string_equal(known, "default, staging");
	buf_reset(&y);
	env_yaml(&y, "prod", "spec: {ports: 23105-23200}");
	assert_int_equal(apply(f, y.s, &res, &err), SW_EINVAL);
	assert_string_equal(err.msg, "app.yaml:2:1: environment \"prod\": ports 23105-23200 overlap "
				     "those of environment \"staging\" (23100-23109); each environment's "
				     "ports are its own");
	assert_false(engine_environment_exists(f->e, "prod"));
	/* staging may move its own range */
	buf_reset(&y);
	env_yaml(&y, "staging", "spec: {ports: 23105-23200}");
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_int_equal(engine_env_find(f->e, "staging")->port_min, 23105);

	/* delete is refused while an app lives in it, naming it */
	sw_err_clear(&err);
	assert_int_equal(engine_environment_delete(f->e, "staging", "test", &err), SW_ECONFLICT);
	assert_string_equal(err.msg, "environment \"staging\" is in use by 1 app: hello (delete them "
				     "first: slipway -e staging delete app NAME)");
	size_t n;
	assert_int_equal(engine_delete(f->e, "staging/hello", "test", &n, &err), 0);
	assert_int_equal(engine_environment_delete(f->e, "staging", "test", &err), 0);
	assert_false(engine_environment_exists(f->e, "staging"));
	assert_non_null(engine_app_find(f->e, "hello"));
	buf_release(&y);
}

/* Routes: a listen + host is one app's, whatever its environment (both
 * named by key); an environment's listen bounds its apps' routes. */
static void test_engine__environment_routes_and_listen(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	env_yaml(&y, "prod", NULL);
	env_yaml(&y, "staging", "spec: {listen: [\"127.0.0.1:18600-18609\"]}");
	app_in(&y, "prod", "hello", "1.0.0", "  route: {listen: \"127.0.0.1:18600\"}\n");
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	buf_reset(&y);
	app_in(&y, "staging", "hello", "1.0.0", "  route: {listen: \"127.0.0.1:18600\"}\n");
	assert_int_equal(apply(f, y.s, &res, &err), SW_EINVAL);
	assert_string_equal(err.msg, "app.yaml:2:1: app \"staging/hello\": route 127.0.0.1:18600 path / "
				     "is already served by app \"prod/hello\" (one listen + host + "
				     "pathPrefix routes to one app)");
	buf_reset(&y);
	app_in(&y, "staging", "hello", "1.0.0", "  route: {listen: \"127.0.0.1:18700\"}\n");
	sw_err_clear(&err);
	assert_int_equal(apply(f, y.s, &res, &err), SW_EINVAL);
	assert_string_equal(err.msg, "app.yaml:2:1: app \"staging/hello\": route.listen 127.0.0.1:18700 "
				     "is not allowed in environment \"staging\" (it allows "
				     "127.0.0.1:18600-18609)");
	buf_reset(&y);
	app_in(&y, "staging", "hello", "1.0.0", "  route: {listen: \"127.0.0.1:18601\"}\n");
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	/* a listen that would leave out an app's route is refused */
	buf_reset(&y);
	env_yaml(&y, "staging", "spec: {listen: [\"127.0.0.1:18605\"]}");
	sw_err_clear(&err);
	assert_int_equal(apply(f, y.s, &res, &err), SW_EINVAL);
	assert_string_equal(err.msg, "app.yaml:2:1: environment \"staging\": listen (127.0.0.1:18605) "
				     "would leave out app \"staging/hello\"'s route.listen 127.0.0.1:18601; "
				     "change the app first");
	buf_release(&y);
}

/* dependsOn names apps of the app's own environment. */
static void test_engine__depends_on_stays_in_its_environment(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	app_yaml(&y, "db", "1.0.0", 1);
	env_yaml(&y, "prod", NULL);
	app_in(&y, "prod", "web", "1.0.0", "  dependsOn: [db]\n");
	assert_non_null(strstr(y.s, "---\napiVersion: slipway/v1\nkind: Environment"));
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_true(wait_for(f, healthy_with, "db"));
	struct engine_app *a = engine_app_find(f->e, "prod/web");
	const char *reason;
	assert_int_equal(engine_app_phase(a, &reason), ROLLOUT_WAITING);
	assert_string_equal(reason, "waiting for db (not found); revision 1 starts once it is Healthy");
	/* prod's own db: then it starts */
	buf_reset(&y);
	app_in(&y, "prod", "db", "1.0.0", NULL);
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_true(wait_for(f, healthy_with, "prod/web"));
	buf_release(&y);
}

/* ---- sync windows ---- */

#define ALWAYS_DENIED "  windows: [{kind: deny, schedule: \"* * * * *\", duration: 1m}]\n"

static bool waiting_for_window(struct fixture *f, const void *arg)
{
	struct engine_app *a = engine_app_find(f->e, arg);
	const char *reason;
	return a && engine_app_phase(a, &reason) == ROLLOUT_WAITING && rollout_held_by_window(&a->st);
}

static int apply_override(struct fixture *f, const char *yaml, const char *reason,
			  struct sw_err *err)
{
	struct spec_set set = {0};
	struct engine_results res = {0};
	assert_int_equal(spec_parse_text(&set, yaml, strlen(yaml), "app.yaml", err), 0);
	struct engine_doc doc = {&set, "app.yaml", NULL};
	int r = engine_apply_override(f->e, &doc, 1, "test", reason, &res, err);
	engine_results_release(&res);
	spec_set_release(&set);
	return r;
}

/* A window closed for good: new revisions wait (a first deploy too), the
 * tick leaves them alone, an override needs a reason and passes, and
 * rollbacks, replicas and an environment without windows do not wait. */
static void test_engine__closed_windows_hold_new_revisions_until_overridden(void **state)
{
	struct fixture *f = *state;
	struct engine_results res = {0};
	struct sw_err err = {0};
	struct buf y = BUF_INIT;
	env_yaml(&y, "prod", "spec:\n" ALWAYS_DENIED);
	app_in(&y, "prod", "hello", "1.0.0", NULL);
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_true(wait_for(f, waiting_for_window, "prod/hello"));
	struct engine_app *a = engine_app_find(f->e, "prod/hello");
	const char *reason;
	engine_app_phase(a, &reason);
	assert_string_equal(reason, "sync window: denied, and no window changes that within 400 days "
			    "(deny \"* * * * *\" 1m); revision 1 starts when it opens");
	assert_string_equal(engine_app_waiting_for(a), "window");
	assert_int_equal(a->ninsts, 0);
	/* two ticks (500 ms each) go by: a held app is not reconciled for them */
	uint64_t seen = a->reconciles, until_ms = sw_now_ms() + 1200;
	while (sw_now_ms() < until_ms)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_true(a->reconciles <= seen + 1);
	int64_t until;
	char why[200];
	assert_false(engine_window_allows(f->e, "prod", sw_wall_ms(), &until, why, sizeof(why)));
	assert_true(until == SW_WINDOW_NEVER);
	assert_true(engine_window_allows(f->e, "default", sw_wall_ms(), &until, why, sizeof(why)));
	assert_string_equal(why, "open (no sync windows)");

	/* rollout override: a reason first */
	assert_int_equal(engine_window_override(f->e, "prod/hello", "test", "  ", &err), SW_EINVAL);
	assert_string_equal(err.msg, "an override of a sync window needs a reason (--reason TEXT): it "
			    "is recorded with who overrode it");
	assert_int_equal(a->ninsts, 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(engine_window_override(f->e, "prod/hello", "test", "incident 42", &err), 0);
	assert_true(wait_for(f, healthy_with, "prod/hello"));
	assert_true(event_at(f, "WindowOverridden prod/hello\n") > event_at(f, "WaitingForWindow prod/hello\n"));
	assert_int_equal(engine_window_override(f->e, "prod/hello", "test", "again", &err), SW_ECONFLICT);
	assert_string_equal(err.msg, "prod/hello: revision 1 does not wait for a sync window");

	/* replicas only: no wait; a new version waits; a rollback does not */
	buf_reset(&y);
	app_in(&y, "prod", "hello", "1.0.0", "  replicas: 2\n");
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_false(rollout_waiting_for_window(&a->st));
	assert_true(wait_for(f, healthy_with, "prod/hello"));
	buf_reset(&y);
	app_in(&y, "prod", "hello", "2.0.0", "  replicas: 2\n");
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_true(wait_for(f, waiting_for_window, "prod/hello"));
	int64_t to;
	bool unchanged;
	assert_int_equal(engine_rollback(f->e, "prod/hello", 2, "test", &to, &unchanged, &err), 0);
	assert_false(rollout_waiting_for_window(&a->st));

	/* apply --override-window: refused without a reason, passes with one */
	buf_reset(&y);
	app_in(&y, "prod", "hello", "3.0.0", "  replicas: 2\n");
	assert_int_equal(apply_override(f, y.s, NULL, &err), SW_EINVAL);
	assert_int_equal(a->st.desired, 2);
	memset(&err, 0, sizeof(err));
	assert_int_equal(apply_override(f, y.s, "hotfix", &err), 0);
	assert_false(rollout_waiting_for_window(&a->st));
	assert_true(wait_for(f, healthy_with, "prod/hello"));
	assert_int_equal(a->st.stable, 4);

	/* a revision waiting when the windows go away starts */
	buf_reset(&y);
	app_in(&y, "prod", "hello", "4.0.0", "  replicas: 2\n");
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_true(wait_for(f, waiting_for_window, "prod/hello"));
	buf_reset(&y);
	env_yaml(&y, "prod", NULL);
	assert_int_equal(apply(f, y.s, &res, &err), 0);
	engine_results_release(&res);
	assert_true(wait_for(f, healthy_with, "prod/hello"));
	assert_true(event_at(f, "WindowOpen prod/hello\n") >= 0);
	buf_release(&y);
}

int main(void)
{
	env_kinds_register();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_engine__apply_rolls_out_and_identical_is_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__app_defined_twice_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__origin_owns_apps_and_conflicts_name_both, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__dry_run_answers_as_apply_and_keeps_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__killed_instance_degrades_a_healthy_app_until_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__rollback_and_rollout_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__scale_and_restart_answer_with_the_state_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__delete_stops_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__instance_event_reconciles_its_app_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__route_clash_is_refused_at_apply, setup, teardown),
		cmocka_unit_test(test_engine__depends_cycle_finds_cycles_only),
		cmocka_unit_test_setup_teardown(test_engine__depends_on_waits_for_healthy_then_starts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__depends_cycle_is_refused_and_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__environments_isolate_names_and_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__environment_routes_and_listen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__depends_on_stays_in_its_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine__closed_windows_hold_new_revisions_until_overridden, setup, teardown),
	};
	return cmocka_run_group_tests_name("tests", tests, NULL, NULL);
}
