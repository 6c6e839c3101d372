/*
 * The pipeline's plan and scheduler (src/pipeline/pipeline.h): matrices
 * expanded as GitHub documents it, each scheduling rule on a small
 * pipeline, and thousands of random pipelines driven by random event
 * sequences against the invariants: a job run starts only after every
 * job its job needs is final, never twice, never after a cancel, within
 * max-parallel and alone in its concurrency group; the run finishes
 * exactly once, with every job run final, and nothing happens after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/pipeline.h"
#include "unit_util.h"

struct fixture {
	struct spec_set set;
	struct pipeline_plan *plan;
	struct pipeline_dag dag;
	struct pipeline_actions acts;
};

static const char head[] = "apiVersion: slipway/v1\nkind: Pipeline\nmetadata: {name: t}\nspec:\n";

/* Parses head + spec and plans it; fails the test on an error. */
static void load(struct fixture *f, const char *spec)
{
	struct buf doc = BUF_INIT;
	struct sw_err err = {0};
	memset(f, 0, sizeof(*f));
	buf_addf(&doc, "%s%s", head, spec);
	if (spec_parse_text(&f->set, doc.s, doc.len, "t.yaml", &err) < 0)
		fail_msg("%s\n%s", err.msg, doc.s);
	assert_int_equal(f->set.ndocs, 1);
	if (pipeline_plan_new(&f->plan, f->set.docs[0].obj, &err) < 0)
		fail_msg("%s", err.msg);
	json_t *ctx = json_pack("{s:s}", "ref", "refs/heads/main");
	pipeline_dag_init(&f->dag, f->plan, ctx, NULL);
	json_decref(ctx);
	buf_release(&doc);
}

static void unload(struct fixture *f)
{
	pipeline_actions_release(&f->acts);
	pipeline_dag_release(&f->dag);
	pipeline_plan_free(f->plan);
	spec_set_release(&f->set);
}

/* The error of parsing head + spec ("" when it parses). */
static const char *error_of(const char *spec)
{
	static struct sw_err err;
	struct spec_set set = {0};
	struct buf doc = BUF_INIT;
	buf_addf(&doc, "%s%s", head, spec);
	sw_err_clear(&err);
	if (spec_parse_text(&set, doc.s, doc.len, "t.yaml", &err) == 0)
		spec_set_release(&set);
	buf_release(&doc);
	return err.msg;
}

static size_t run_of(const struct fixture *f, const char *name)
{
	for (size_t r = 0; r < f->plan->nruns; r++)
		if (strcmp(f->plan->runs[r].name, name) == 0)
			return r;
	fail_msg("no job run \"%s\"", name);
	return 0;
}

/* Feeds an event and returns the actions as text: "start build; end test
 * skipped (a job it needs did not succeed); finish failure". */
static const char *step(struct fixture *f, enum pipeline_event_kind kind, const char *run,
			enum pipeline_state result, uint64_t now)
{
	static struct buf out;
	struct pipeline_event ev = {.kind = kind, .now_ms = now, .result = result};
	if (run)
		ev.run = run_of(f, run);
	pipeline_actions_release(&f->acts);
	pipeline_dag_step(&f->dag, &ev, &f->acts);
	buf_reset(&out);
	for (size_t i = 0; i < f->acts.n; i++) {
		const struct pipeline_action *a = &f->acts.v[i];
		static const char *const verbs[] = {"start", "end", "stop", "finish"};
		buf_addf(&out, "%s%s", i ? "; " : "", verbs[a->kind]);
		if (a->kind != PIPELINE_ACT_FINISH)
			buf_addf(&out, " %s", f->plan->runs[a->run].name);
		if (a->kind == PIPELINE_ACT_END || a->kind == PIPELINE_ACT_FINISH)
			buf_addf(&out, " %s", pipeline_state_name(a->result));
		if (a->reason && a->kind != PIPELINE_ACT_FINISH)
			buf_addf(&out, " (%s)", a->reason);
	}
	return buf_str(&out);
}

#define START(f) step(f, PIPELINE_EV_START, NULL, 0, 1000)
#define DONE(f, run, result) step(f, PIPELINE_EV_DONE, run, PIPELINE_##result, 2000)

/* ---- matrices ---- */

static void expand(json_t **out, const char *yaml_matrix)
{
	struct fixture f;
	struct buf spec = BUF_INIT;
	struct sw_err err = {0};
	buf_addf(&spec, "  jobs:\n    a:\n      strategy:\n        matrix:\n%s      steps: [{run: x}]\n", yaml_matrix);
	load(&f, spec.s);
	const struct pipeline *p = f.set.docs[0].obj;
	assert_int_equal(pipeline_matrix_expand(out, &p->jobs[0].strategy, PIPELINE_MAX_MATRIX, &err), 0);
	unload(&f);
	buf_release(&spec);
}

static void test_pipeline_dag__matrix_include_as_github_documents_it(void **state)
{
	json_t *got = NULL;
	expand(&got, "          fruit: [apple, pear]\n"
		     "          animal: [cat, dog]\n"
		     "          include:\n"
		     "            - color: green\n"
		     "            - {color: pink, animal: cat}\n"
		     "            - {fruit: apple, shape: circle}\n"
		     "            - fruit: banana\n"
		     "            - {fruit: banana, animal: cat}\n");
	json_t *want = json_loads("[{\"fruit\": \"apple\", \"animal\": \"cat\", \"color\": \"pink\", \"shape\": \"circle\"},"
				  " {\"fruit\": \"apple\", \"animal\": \"dog\", \"color\": \"green\", \"shape\": \"circle\"},"
				  " {\"fruit\": \"pear\", \"animal\": \"cat\", \"color\": \"pink\"},"
				  " {\"fruit\": \"pear\", \"animal\": \"dog\", \"color\": \"green\"},"
				  " {\"fruit\": \"banana\"}, {\"fruit\": \"banana\", \"animal\": \"cat\"}]", 0, NULL);
	if (!json_equal(got, want))
		fail_msg("got %s", json_dumps(got, JSON_COMPACT));
	json_decref(got);
	json_decref(want);
}

static void test_pipeline_dag__matrix_exclude_and_names(void **state)
{
	json_t *got = NULL;
	expand(&got, "          os: [macos-latest, windows-latest]\n"
		     "          version: [12, 14, 16]\n"
		     "          environment: [staging, production]\n"
		     "          exclude:\n"
		     "            - {os: macos-latest, version: 12, environment: production}\n"
		     "            - {os: windows-latest, version: 16}\n");
	assert_int_equal(json_array_size(got), 9);
	json_decref(got);
	struct fixture f;
	load(&f, "  jobs:\n    build:\n      strategy:\n        matrix: {cc: [gcc, clang], opt: [0, 2]}\n"
		 "      steps: [{run: make}]\n");
	assert_int_equal(f.plan->nruns, 4);
	assert_string_equal(f.plan->runs[0].name, "build (gcc, 0)");
	assert_string_equal(f.plan->runs[1].name, "build (gcc, 2)"); /* the last key varies fastest */
	assert_string_equal(f.plan->runs[3].name, "build (clang, 2)");
	assert_int_equal(json_integer_value(json_object_get(f.plan->runs[1].matrix, "opt")), 2);
	unload(&f);
	/* include alone: each entry is a job run */
	expand(&got, "          include: [{os: a}, {os: b}]\n");
	assert_int_equal(json_array_size(got), 2);
	json_decref(got);
}

static void test_pipeline_dag__documents_are_checked_with_positions(void **state)
{
	assert_string_equal(error_of("  jobs:\n    a:\n      needs: biuld\n      steps: [{run: x}]\n"
				     "    build:\n      steps: [{run: x}]\n"),
			    "t.yaml:7:14: jobs.a.needs: no job is called \"biuld\" (did you mean \"build\"?)");
	assert_string_equal(error_of("  jobs:\n    a: {needs: [c], steps: [{run: x}]}\n"
				     "    b: {needs: a, steps: [{run: x}]}\n    c: {needs: [b], steps: [{run: x}]}\n"),
			    "t.yaml:6:16: jobs.a.needs: the needs make a cycle: a -> c -> b -> a");
	assert_string_equal(error_of("  jobs:\n    a:\n      strategy:\n        matrix: {x: [1, 2, 3, 4, 5, 6, 7, 8],"
				     " y: [1, 2, 3, 4, 5, 6, 7, 8], z: [1, 2, 3, 4, 5]}\n      steps: [{run: x}]\n"),
			    "t.yaml:8:17: matrix: the matrix makes 320 combinations; at most 256");
	assert_string_equal(error_of("  jobs:\n    a:\n      if: needs.b.result == 'success' && startsWit(1)\n"
				     "      steps: [{run: x}]\n"),
			    "t.yaml:7:42: if expression: unknown function \"startsWit\" (did you mean \"startsWith\"?)");
	assert_string_equal(error_of("  jobs:\n    a:\n      runs-on: ubuntu-latest\n      steps: [{run: x}]\n"),
			    "t.yaml:7:7: runs-on: Slipway runs every job on this host, each in its own workspace "
			    "and sandbox; leave runs-on out");
	assert_string_equal(error_of("  jobs:\n    a:\n      stpes: [{run: x}]\n"),
			    "t.yaml:7:7: unknown field \"stpes\" in spec.jobs.a (did you mean \"steps\"?)");
	assert_string_equal(error_of("  jobs:\n    a:\n      steps:\n        - run: echo ${{ matrix.os ]] }}\n"),
			    "t.yaml:8:35: run expression: unexpected \"]]\" after the expression");
	assert_string_equal(error_of("  jobs:\n    a:\n      steps: [{run: x, retry: {max: 11}}]\n"),
			    "t.yaml:7:37: max must be between 0 and 10, got \"11\"");
}

/* ---- the rules, one at a time ---- */

static void test_pipeline_dag__needs_order_and_skips(void **state)
{
	struct fixture f;
	load(&f, "  jobs:\n"
		 "    build: {steps: [{run: make}]}\n"
		 "    test: {needs: build, steps: [{run: make test}]}\n"
		 "    cleanup: {needs: [build, test], if: failure(), steps: [{run: rm -rf build}]}\n"
		 "    report: {needs: test, if: always(), steps: [{run: ls}]}\n");
	assert_string_equal(START(&f), "start build");
	assert_string_equal(DONE(&f, "build", FAILURE),
			    "end test skipped (a job it needs did not succeed); start cleanup; start report");
	assert_string_equal(DONE(&f, "report", SUCCESS), "");
	assert_string_equal(DONE(&f, "report", SUCCESS), ""); /* not running: nothing */
	assert_string_equal(DONE(&f, "cleanup", SUCCESS), "finish failure");
	assert_true(f.dag.finished);
	assert_string_equal(START(&f), "");
	unload(&f);

	load(&f, "  jobs:\n"
		 "    build: {steps: [{run: make}], outputs: {ok: x}}\n"
		 "    cleanup: {needs: build, if: failure(), steps: [{run: rm}]}\n"
		 "    deploy: {needs: build, if: needs.build.outputs.ok == 'yes', deploy: {app: hello}}\n"
		 "    other: {needs: build, if: \"needs.build.outputs.ok == 'no'\", steps: [{run: x}]}\n");
	assert_string_equal(START(&f), "start build");
	json_t *outputs = json_pack("{s:s}", "ok", "yes");
	pipeline_actions_release(&f.acts);
	struct pipeline_event ev = {PIPELINE_EV_DONE, 3000, 0, PIPELINE_SUCCESS, outputs};
	pipeline_dag_step(&f.dag, &ev, &f.acts);
	json_decref(outputs);
	assert_int_equal(f.acts.n, 3);
	assert_int_equal(f.acts.v[0].kind, PIPELINE_ACT_END);
	assert_string_equal(f.acts.v[0].reason, "if: failure() was false");
	assert_int_equal(f.acts.v[1].kind, PIPELINE_ACT_START);
	assert_string_equal(f.plan->runs[f.acts.v[1].run].name, "deploy");
	assert_string_equal(f.acts.v[2].reason, "if: needs.build.outputs.ok == 'no' was false");
	unload(&f);
}

static void test_pipeline_dag__matrix_fail_fast_and_max_parallel(void **state)
{
	struct fixture f;
	load(&f, "  jobs:\n    t:\n      strategy: {matrix: {n: [1, 2, 3, 4]}, max-parallel: 2}\n"
		 "      steps: [{run: x}]\n    after: {needs: t, steps: [{run: x}]}\n");
	assert_string_equal(START(&f), "start t (1); start t (2)");
	assert_string_equal(DONE(&f, "t (1)", SUCCESS), "start t (3)");
	assert_string_equal(DONE(&f, "t (2)", FAILURE),
			    "stop t (3) (fail-fast: another run of the job failed); end t (4) cancelled "
			    "(fail-fast: another run of t failed)");
	assert_string_equal(DONE(&f, "t (3)", CANCELLED),
			    "end after skipped (a job it needs did not succeed); finish failure");
	unload(&f);

	load(&f, "  jobs:\n    t:\n      strategy: {matrix: {n: [1, 2]}, fail-fast: false}\n"
		 "      continue-on-error: true\n      steps: [{run: x}]\n    after: {needs: t, steps: [{run: x}]}\n");
	assert_string_equal(START(&f), "start t (1); start t (2)");
	assert_string_equal(DONE(&f, "t (1)", FAILURE), "");
	assert_string_equal(DONE(&f, "t (2)", SUCCESS), "start after");
	assert_string_equal(DONE(&f, "after", SUCCESS), "finish success"); /* continue-on-error */
	unload(&f);
}

static void test_pipeline_dag__cancel_timeout_and_groups(void **state)
{
	struct fixture f;
	load(&f, "  jobs:\n    a: {steps: [{run: x}], timeout: 10s}\n    b: {steps: [{run: x}]}\n"
		 "    c: {needs: a, if: always(), steps: [{run: x}]}\n");
	assert_string_equal(START(&f), "start a; start b");
	assert_int_equal(f.dag.next_timer_ms, 11000);
	assert_string_equal(step(&f, PIPELINE_EV_TIMER, NULL, 0, 10999), "");
	assert_string_equal(step(&f, PIPELINE_EV_TIMER, NULL, 0, 11000), "stop a (timed out after 10s)");
	assert_string_equal(step(&f, PIPELINE_EV_CANCEL, NULL, 0, 12000), "stop b (the run was cancelled)");
	assert_string_equal(step(&f, PIPELINE_EV_CANCEL, NULL, 0, 12000), "");
	assert_string_equal(DONE(&f, "a", SUCCESS), "end c cancelled (the run was cancelled)");
	assert_int_equal(f.dag.state[run_of(&f, "a")], PIPELINE_FAILURE); /* timed out */
	assert_string_equal(DONE(&f, "b", CANCELLED), "finish failure");
	unload(&f);

	load(&f, "  jobs:\n    a: {concurrency: db, steps: [{run: x}]}\n"
		 "    b: {concurrency: {group: db}, steps: [{run: x}]}\n"
		 "    c:\n      concurrency: 'm-${{ matrix.n }}'\n      strategy: {matrix: {n: [1, 1, 2]}}\n"
		 "      steps: [{run: x}]\n");
	assert_string_equal(START(&f), "start a; start c (1); start c (2)");
	assert_string_equal(DONE(&f, "a", SUCCESS), "start b");
	assert_string_equal(f.dag.group[run_of(&f, "c (2)")], "m-2");
	pipeline_actions_release(&f.acts);
	assert_int_equal(run_of(&f, "c (1)"), 2);
	struct pipeline_event ev = {PIPELINE_EV_DONE, 3000, 2, PIPELINE_SUCCESS, NULL};
	pipeline_dag_step(&f.dag, &ev, &f.acts); /* the first c (1): the second may start */
	assert_int_equal(f.acts.n, 1);
	assert_int_equal(f.acts.v[0].run, 3);
	unload(&f);

	load(&f, "  jobs:\n    a: {steps: [{run: x}]}\n");
	assert_string_equal(step(&f, PIPELINE_EV_CANCEL, NULL, 0, 1), "end a cancelled (the run was cancelled); "
				    "finish cancelled");
	unload(&f);
}

/* ---- random pipelines, random events ---- */

static void random_pipeline(struct buf *b, uint64_t *rnd)
{
	static const char *const conds[] = {NULL, "always()", "failure()", "success()", "cancelled()",
					    "needs.j0.result == 'success'", "matrix.a == 1 || failure()",
					    "${{ !cancelled() }}", "slipway.ref == 'refs/heads/main'"};
	static const char *const groups[] = {NULL, NULL, "g", "g-${{ matrix.a }}"};
	size_t n = 1 + unit_rnd(rnd) % 10;
	buf_adds(b, "  jobs:\n");
	for (size_t j = 0; j < n; j++) {
		buf_addf(b, "    j%zu:\n      steps: [{run: x}]\n", j);
		if (j && unit_rnd(rnd) % 4) {
			buf_adds(b, "      needs: [");
			size_t k = unit_rnd(rnd) % j, m = 1 + unit_rnd(rnd) % 3;
			for (size_t i = 0; i < m && k + i < j; i++)
				buf_addf(b, "%sj%zu", i ? ", " : "", k + i);
			buf_adds(b, "]\n");
		}
		const char *cond = conds[unit_rnd(rnd) % (sizeof(conds) / sizeof(conds[0]))];
		if (cond && (j || !strstr(cond, "needs")))
			buf_addf(b, "      if: \"%s\"\n", cond);
		bool matrix = unit_rnd(rnd) % 3 == 0;
		if (matrix) {
			buf_addf(b, "      strategy:\n        matrix: {a: [1, 2%s], b: [x%s]}\n",
				 unit_rnd(rnd) % 2 ? ", 3" : "", unit_rnd(rnd) % 2 ? ", y" : "");
			if (unit_rnd(rnd) % 2)
				buf_addf(b, "        max-parallel: %u\n", (unsigned)(1 + unit_rnd(rnd) % 3));
			if (unit_rnd(rnd) % 2)
				buf_adds(b, "        fail-fast: false\n");
		}
		const char *g = groups[unit_rnd(rnd) % 4];
		if (g && (matrix || !strstr(g, "matrix")))
			buf_addf(b, "      concurrency: '%s'\n", g);
		if (unit_rnd(rnd) % 5 == 0)
			buf_adds(b, "      continue-on-error: true\n");
		buf_addf(b, "      timeout: %us\n", (unsigned)(1 + unit_rnd(rnd) % 20));
	}
}

/* Whether every run of every job that job j needs is final. */
static bool needs_final(const struct pipeline_dag *d, size_t j)
{
	const struct pipeline_plan_job *pj = &d->plan->jobs[j];
	for (size_t k = 0; k < pj->nneeds; k++) {
		const struct pipeline_plan_job *n = &d->plan->jobs[pj->needs[k]];
		for (size_t r = n->first_run; r < n->first_run + n->nruns; r++)
			if (!pipeline_state_final(d->state[r]))
				return false;
	}
	return true;
}

static void test_pipeline_dag__random_sequences_keep_the_invariants(void **state)
{
	uint64_t rnd = 0x5eed14;
	size_t sequences = 0, starts = 0, finishes[6] = {0};
	for (int round = 0; round < 10000; round++) {
		struct buf spec = BUF_INIT;
		struct fixture f;
		random_pipeline(&spec, &rnd);
		load(&f, spec.s);
		struct pipeline_dag *d = &f.dag;
		size_t nruns = f.plan->nruns;
		bool *started = calloc(nruns, sizeof(bool)), cancel_sent = false;
		size_t finished = 0;
		uint64_t now = 1000;
		for (int i = 0; i < 2000 && !finished; i++) {
			struct pipeline_event ev = {.now_ms = now};
			size_t running[PIPELINE_MAX_RUNS], nrunning = 0;
			for (size_t r = 0; r < nruns; r++)
				if (d->state[r] == PIPELINE_RUNNING)
					running[nrunning++] = r;
			uint64_t pick = unit_rnd(&rnd) % 100;
			if (i == 0 || pick < 2) {
				ev.kind = PIPELINE_EV_START;
			} else if (pick < 6) {
				ev.kind = PIPELINE_EV_CANCEL;
				cancel_sent = true;
			} else if (pick < 20 || !nrunning) {
				ev.kind = PIPELINE_EV_TIMER;
				now += unit_rnd(&rnd) % 8000;
				ev.now_ms = now;
			} else {
				ev.kind = PIPELINE_EV_DONE;
				ev.run = running[unit_rnd(&rnd) % nrunning];
				uint64_t res = unit_rnd(&rnd) % 10;
				ev.result = res < 7 ? PIPELINE_SUCCESS : res < 9 ? PIPELINE_FAILURE : PIPELINE_CANCELLED;
				if (unit_rnd(&rnd) % 50 == 0)
					ev.run = unit_rnd(&rnd) % nruns; /* a stray event */
			}
			pipeline_actions_release(&f.acts);
			pipeline_dag_step(d, &ev, &f.acts);
			for (size_t a = 0; a < f.acts.n; a++) {
				const struct pipeline_action *x = &f.acts.v[a];
				if (finished)
					fail_msg("%s: an action after FINISH", spec.s);
				if (x->kind == PIPELINE_ACT_FINISH) {
					finished++;
					finishes[x->result]++;
					continue;
				}
				size_t r = x->run, j = f.plan->runs[r].job;
				const struct pipeline_job *job = &((const struct pipeline *)f.set.docs[0].obj)->jobs[j];
				assert_true(r < nruns);
				if (x->kind == PIPELINE_ACT_START) {
					if (started[r])
						fail_msg("%s: %s started twice", spec.s, f.plan->runs[r].name);
					if (cancel_sent)
						fail_msg("%s: %s started after a cancel", spec.s, f.plan->runs[r].name);
					if (!needs_final(d, j))
						fail_msg("%s: %s started before its needs ended", spec.s, f.plan->runs[r].name);
					size_t in_job = 0, in_group = 0;
					for (size_t o = 0; o < nruns; o++) {
						in_job += d->state[o] == PIPELINE_RUNNING && f.plan->runs[o].job == j;
						in_group += d->state[o] == PIPELINE_RUNNING && d->group[r][0] && d->group[o] &&
							    strcmp(d->group[o], d->group[r]) == 0;
					}
					if (job->strategy.max_parallel && in_job > job->strategy.max_parallel)
						fail_msg("%s: max-parallel exceeded", spec.s);
					if (in_group > 1)
						fail_msg("%s: two runs of group %s", spec.s, d->group[r]);
					started[r] = true;
					starts++;
				} else if (x->kind == PIPELINE_ACT_END) {
					if (started[r])
						fail_msg("%s: %s ended without running after it started", spec.s,
							 f.plan->runs[r].name);
					assert_true(x->result == PIPELINE_SKIPPED || x->result == PIPELINE_CANCELLED ||
						    x->result == PIPELINE_FAILURE);
					assert_non_null(x->reason);
				} else {
					assert_int_equal(d->state[r], PIPELINE_RUNNING);
				}
			}
			if (!finished && d->started) {
				bool any = false;
				for (size_t r = 0; r < nruns; r++)
					any |= d->state[r] == PIPELINE_RUNNING;
				if (!any)
					fail_msg("%s: stuck: nothing runs and the run is not over", spec.s);
			}
		}
		if (finished != 1)
			fail_msg("%s: finished %zu times", spec.s, finished);
		for (size_t r = 0; r < nruns; r++)
			if (!pipeline_state_final(d->state[r]))
				fail_msg("%s: %s is %s at the end", spec.s, f.plan->runs[r].name,
					 pipeline_state_name(d->state[r]));
		free(started);
		unload(&f);
		buf_release(&spec);
		sequences++;
	}
	assert_int_equal(sequences, 10000);
	assert_true(starts > 10000);
	/* every ending happened */
	assert_true(finishes[PIPELINE_SUCCESS] > 100);
	assert_true(finishes[PIPELINE_FAILURE] > 100);
	assert_true(finishes[PIPELINE_CANCELLED] > 10);
}

/* The documents of the fuzz corpus read as the fuzz target reads them. */
static void replay(const char *file, const char *data, size_t len)
{
	struct spec_set set = {0};
	struct sw_err err = {0};
	if (spec_parse_text(&set, data, len, file, &err) < 0) {
		assert_true(err.msg[0] != '\0');
		return;
	}
	for (size_t i = 0; i < set.ndocs; i++) {
		struct pipeline_plan *plan = NULL;
		if (set.docs[i].kind != &pipeline_kind)
			continue;
		if (pipeline_plan_new(&plan, set.docs[i].obj, &err) == 0)
			pipeline_plan_free(plan);
	}
	spec_set_release(&set);
}

static void test_pipeline_dag__fuzz_corpus_replays(void **state)
{
	assert_true(unit_corpus_replay("pipeline", replay) >= 3);
}

int main(void)
{
	pipeline_kinds_register();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline_dag__matrix_include_as_github_documents_it),
		cmocka_unit_test(test_pipeline_dag__matrix_exclude_and_names),
		cmocka_unit_test(test_pipeline_dag__documents_are_checked_with_positions),
		cmocka_unit_test(test_pipeline_dag__needs_order_and_skips),
		cmocka_unit_test(test_pipeline_dag__matrix_fail_fast_and_max_parallel),
		cmocka_unit_test(test_pipeline_dag__cancel_timeout_and_groups),
		cmocka_unit_test(test_pipeline_dag__random_sequences_keep_the_invariants),
		cmocka_unit_test(test_pipeline_dag__fuzz_corpus_replays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
