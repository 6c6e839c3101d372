/* Unit tests of the rollout decision function, driven by a small simulator
 * of instances instead of processes: every path runs without sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollout/rollout.h"

#define MAXI 64

struct sim {
	struct rollout_state st;
	struct rollout_params p;
	struct rollout_instance inst[MAXI];
	char ids[MAXI][16];
	size_t n;
	int seq;
	int64_t now;
	int stops_of[8];  /* stop actions per revision */
	struct rollout_run_status runs[16];
	size_t nruns;
	int runs_started, runs_stopped;
	int events_healthy, events_degraded, events_frozen;
	int hooks_started[SPEC_HOOK_KINDS];
	int64_t last_hook[SPEC_HOOK_KINDS];   /* run id of the last job started */
	bool frozen_moved;                    /* a START/STOP while Frozen before and after */
	int deps_waiting, deps_ready, deps_skipped; /* the dependency events */
	int window_waiting, window_open;            /* the sync window events */
	char last_event[320];
};

static void sim_init(struct sim *s, uint32_t replicas)
{
	memset(s, 0, sizeof(*s));
	s->p.desired_replicas = replicas;
	s->p.stable_replicas = replicas;
	s->p.max_surge = 1;
	s->p.max_unavailable = 0;
	s->p.progress_deadline_ms = 60000;
	s->now = 1000000;
	s->st.header_step = -1;
}

static void sim_remove(struct sim *s, size_t i)
{
	s->inst[i] = s->inst[s->n - 1];
	memcpy(s->ids[i], s->ids[s->n - 1], sizeof(s->ids[i]));
	s->inst[i].id = s->ids[i];
	s->n--;
}

/* Runs one reconcile and applies its actions at once (stops complete
 * immediately). Returns the number of actions. */
static size_t sim_step(struct sim *s)
{
	struct rollout_actions out = {.n = 0};
	bool was_frozen = s->st.phase == ROLLOUT_FROZEN;
	rollout_reconcile(&s->st, &s->p, s->inst, s->n, s->runs, s->nruns, s->now, &out);
	for (size_t k = 0; k < out.n; k++) {
		struct rollout_action *a = &out.a[k];
		if ((a->kind == ROLLOUT_START || a->kind == ROLLOUT_STOP) && was_frozen &&
		    s->st.phase == ROLLOUT_FROZEN)
			s->frozen_moved = true;
		/* nothing of a revision starts while it waits for its dependencies */
		if (a->kind == ROLLOUT_START && a->revision == s->st.desired &&
		    s->st.desired != s->st.stable)
			assert_false(rollout_waiting_for_dependencies(&s->st));
		/* nor while its environment's sync window is closed */
		if (a->kind == ROLLOUT_START && a->revision == s->st.desired &&
		    s->st.desired != s->st.stable)
			assert_false(rollout_waiting_for_window(&s->st));
		/* nothing of a revision starts before its preDeploy list succeeded */
		if (a->kind == ROLLOUT_START && a->revision == s->st.desired &&
		    s->st.desired != s->st.stable && s->p.hooks &&
		    s->p.hooks->n[SPEC_HOOK_PRE_DEPLOY])
			assert_true(s->st.hooks_done & (1u << SPEC_HOOK_PRE_DEPLOY));
		if (a->kind == ROLLOUT_HOOK_START) {
			assert_true(s->nruns < 16);
			assert_int_equal(a->revision, s->st.desired);
			assert_non_null(a->hook);
			s->runs[s->nruns++] = (struct rollout_run_status){a->run, ROLLOUT_RUN_RUNNING, "running"};
			s->hooks_started[a->hook_kind]++;
			s->last_hook[a->hook_kind] = a->run;
			if (a->hook_kind == SPEC_HOOK_POST_DEPLOY)
				assert_true(s->st.phase == ROLLOUT_HEALTHY && s->st.stable == s->st.desired);
			if (a->hook_kind == SPEC_HOOK_ON_ABORT)
				assert_true(s->st.phase == ROLLOUT_DEGRADED && s->st.failed == s->st.desired);
		}
		if (a->kind == ROLLOUT_START) {
			assert_true(s->n < MAXI);
			snprintf(s->ids[s->n], sizeof(s->ids[0]), "i%d", ++s->seq);
			s->inst[s->n] = (struct rollout_instance){
				.id = s->ids[s->n], .revision = a->revision, .created_ms = s->now};
			s->n++;
		} else if (a->kind == ROLLOUT_RUN_START) {
			assert_true(s->nruns < 16);
			s->runs[s->nruns++] = (struct rollout_run_status){a->run, ROLLOUT_RUN_RUNNING, "running"};
			s->runs_started++;
		} else if (a->kind == ROLLOUT_RUN_STOP) {
			for (size_t r = 0; r < s->nruns; r++)
				if (s->runs[r].id == a->run) {
					s->runs[r] = s->runs[--s->nruns];
					break;
				}
			s->runs_stopped++;
		} else if (a->kind == ROLLOUT_EVENT) {
			if (strcmp(a->event, "Healthy") == 0)
				s->events_healthy++;
			if (strcmp(a->event, "Degraded") == 0)
				s->events_degraded++;
			if (strcmp(a->event, "Frozen") == 0)
				s->events_frozen++;
			s->deps_waiting += strcmp(a->event, "WaitingForDependencies") == 0;
			s->deps_ready += strcmp(a->event, "DependenciesReady") == 0;
			s->deps_skipped += strcmp(a->event, "DependenciesSkipped") == 0;
			s->window_waiting += strcmp(a->event, "WaitingForWindow") == 0;
			s->window_open += strcmp(a->event, "WindowOpen") == 0;
			snprintf(s->last_event, sizeof(s->last_event), "%s: %s", a->event, a->message);
		}
	}
	/* stops: find by id (ids point into s->ids, which sim_remove moves) */
	for (size_t k = 0; k < out.n; k++) {
		if (out.a[k].kind != ROLLOUT_STOP)
			continue;
		s->stops_of[out.a[k].revision & 7]++;
		for (size_t i = 0; i < s->n; i++)
			if (s->inst[i].id == out.a[k].id) {
				s->inst[i].stopping = true;
				break;
			}
	}
	for (size_t i = 0; i < s->n;) {
		if (s->inst[i].stopping)
			sim_remove(s, i);
		else
			i++;
	}
	return out.n;
}

static void make_ready(struct sim *s, int64_t rev, int count)
{
	for (size_t i = 0; i < s->n && count; i++)
		if (s->inst[i].revision == rev && !s->inst[i].ready) {
			s->inst[i].ready = true;
			count--;
		}
}

static uint32_t count(struct sim *s, int64_t rev, bool ready_only)
{
	uint32_t c = 0;
	for (size_t i = 0; i < s->n; i++)
		if ((rev == 0 || s->inst[i].revision == rev) && (!ready_only || s->inst[i].ready))
			c++;
	return c;
}

static void deploy_first(struct sim *s, uint32_t replicas)
{
	rollout_set_desired(&s->st, 1, s->now, "applied revision 1");
	sim_step(s);
	assert_int_equal(count(s, 1, false), replicas);
	make_ready(s, 1, (int)replicas);
	sim_step(s);
	assert_int_equal(s->st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s->st.stable, 1);
}

static void test_rollout__first_deploy_starts_all_replicas_at_once(void **state)
{
	struct sim s;
	sim_init(&s, 3);
	deploy_first(&s, 3);
	assert_int_equal(s.events_healthy, 1);
	assert_string_equal(rollout_phase_name(s.st.phase), "Healthy");
}

static void test_rollout__reconcile_is_idempotent(void **state)
{
	struct sim s;
	sim_init(&s, 2);
	deploy_first(&s, 2);
	assert_int_equal(sim_step(&s), 0);
	assert_int_equal(sim_step(&s), 0);
	/* while an instance is starting, repeating adds nothing either */
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	assert_int_equal(sim_step(&s), 1);
	assert_int_equal(sim_step(&s), 0);
}

static void test_rollout__update_replaces_one_at_a_time_keeping_availability(void **state)
{
	struct sim s;
	sim_init(&s, 3);
	deploy_first(&s, 3);
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	for (int round = 0; round < 20 && s.st.phase != ROLLOUT_HEALTHY; round++) {
		sim_step(&s);
		assert_true(count(&s, 0, true) >= 3);       /* maxUnavailable 0 */
		assert_true(count(&s, 0, false) <= 4);      /* maxSurge 1 */
		assert_true(count(&s, 2, false) - count(&s, 2, true) <= 1);
		s.now += 1000;
		make_ready(&s, 2, 1);
	}
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s.st.stable, 2);
	assert_int_equal(count(&s, 1, false), 0);
	assert_int_equal(count(&s, 2, true), 3);
}

static void test_rollout__never_ready_update_degrades_and_keeps_old(void **state)
{
	struct sim s;
	sim_init(&s, 2);
	deploy_first(&s, 2);
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 1);
	s.now += 59000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
	s.now += 2000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_non_null(strstr(s.st.reason, "progressDeadline 1m"));
	assert_non_null(strstr(s.st.reason, "revision 1 keeps serving"));
	assert_int_equal(count(&s, 2, false), 0);
	assert_int_equal(count(&s, 1, true), 2);
	assert_int_equal(s.stops_of[1], 0);
	assert_int_equal(rollout_target(&s.st), 1);
	/* stays put */
	s.now += 100000;
	assert_int_equal(sim_step(&s), 0);
	assert_int_equal(s.events_degraded, 1);
}

static void test_rollout__first_deploy_never_ready_degrades_and_stops(void **state)
{
	struct sim s;
	sim_init(&s, 2);
	rollout_set_desired(&s.st, 1, s.now, "applied revision 1");
	sim_step(&s);
	s.now += 61000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_int_equal(count(&s, 0, false), 0);
	assert_non_null(strstr(s.st.reason, "no earlier revision"));
}

static void test_rollout__progress_resets_the_deadline(void **state)
{
	struct sim s;
	sim_init(&s, 3);
	deploy_first(&s, 3);
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	for (int i = 0; i < 3; i++) {
		sim_step(&s);
		s.now += 50000; /* each instance takes 50 s: slow but progressing */
		make_ready(&s, 2, 1);
		sim_step(&s);
	}
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
}

static void test_rollout__rollback_after_degraded_returns_to_healthy(void **state)
{
	struct sim s;
	sim_init(&s, 2);
	deploy_first(&s, 2);
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	sim_step(&s);
	s.now += 61000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	rollout_set_desired(&s.st, 1, s.now, "rollback to revision 1");
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s.stops_of[1], 0);
}

static void test_rollout__scale_down_and_up_in_place(void **state)
{
	struct sim s;
	sim_init(&s, 3);
	deploy_first(&s, 3);
	/* same revision number would not change; a new revision with fewer replicas */
	s.p.desired_replicas = 1;
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	for (int i = 0; i < 10 && s.st.phase != ROLLOUT_HEALTHY; i++) {
		sim_step(&s);
		make_ready(&s, 2, 1);
	}
	assert_int_equal(count(&s, 0, false), 1);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
}

static void test_rollout__crashed_old_instances_do_not_block_update(void **state)
{
	struct sim s;
	sim_init(&s, 2);
	deploy_first(&s, 2);
	for (size_t i = 0; i < s.n; i++)
		s.inst[i].ready = false;  /* old revision is crash-looping */
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 2);  /* full size at once */
	assert_int_equal(count(&s, 1, false), 0);
}

/* Random event sequences: whatever happens, the invariants hold and the
 * rollout ends in a terminal phase. */
static void test_rollout__random_sequences_keep_invariants(void **state)
{
	srand(12345);
	for (int trial = 0; trial < 500; trial++) {
		struct sim s;
		uint32_t r = 1 + (uint32_t)(rand() % 4);
		sim_init(&s, r);
		s.p.progress_deadline_ms = 10000;
		deploy_first(&s, r);
		int64_t rev = 1;
		for (int step = 0; step < 200; step++) {
			int e = rand() % 10;
			if (e == 0) {
				rev++;
				s.p.desired_replicas = 1 + (uint32_t)(rand() % 4);
				if (s.st.phase == ROLLOUT_HEALTHY)
					s.p.stable_replicas = s.p.desired_replicas;
				rollout_set_desired(&s.st, rev, s.now, "apply");
			} else if (e < 6) {
				make_ready(&s, rollout_target(&s.st), 1);
			} else if (e == 6 && s.n) {
				s.inst[rand() % s.n].ready = false;
			}
			s.now += rand() % 3000;
			uint32_t ready_before = count(&s, 0, true);
			enum rollout_phase phase_before = s.st.phase;
			sim_step(&s);
			int64_t t = rollout_target(&s.st);
			uint32_t want = t == s.st.desired ? s.p.desired_replicas : s.p.stable_replicas;
			if (t == 0)
				want = 0;
			/* the target never runs more instances than its size */
			assert_true(count(&s, t, false) <= want);
			/* a step never takes ready instances below what was serving,
			 * up to the target size, unless it just aborted */
			uint32_t floor = ready_before < want ? ready_before : want;
			if (!(phase_before != ROLLOUT_DEGRADED && s.st.phase == ROLLOUT_DEGRADED))
				assert_true(count(&s, 0, true) >= floor);
		}
		/* let it settle: everything becomes ready */
		for (int k = 0; k < 50; k++) {
			make_ready(&s, rollout_target(&s.st), 8);
			s.now += 1000;
			sim_step(&s);
		}
		assert_true(s.st.phase == ROLLOUT_HEALTHY || s.st.phase == ROLLOUT_DEGRADED);
		int64_t t = rollout_target(&s.st);
		for (size_t i = 0; i < s.n; i++)
			assert_int_equal(s.inst[i].revision, t);
	}
}


/* ---- canary and blue/green ---- */

static char *golden[] = {"golden"};
static struct spec_step canary_steps[] = {
	{.kind = SPEC_STEP_SET_WEIGHT, .weight = 20},
	{.kind = SPEC_STEP_PAUSE, .pause_ms = 10000},
	{.kind = SPEC_STEP_ANALYSIS, .analysis = {.templates = golden, .ntemplates = 1}},
	{.kind = SPEC_STEP_SET_WEIGHT, .weight = 50},
	{.kind = SPEC_STEP_PAUSE, .pause_indefinite = true},
};
static struct spec_strategy canary = {
	.kind = SPEC_STRATEGY_CANARY, .steps = canary_steps, .nsteps = 5,
};
static struct spec_strategy bluegreen = {
	.kind = SPEC_STRATEGY_BLUEGREEN,
	.pre_promotion = {.templates = golden, .ntemplates = 1},
	.post_promotion = {.templates = golden, .ntemplates = 1},
	.scale_down_delay_ms = 5000,
	.preview_listen = "127.0.0.1:9999",
};

static void set_run(struct sim *s, enum rollout_run_phase ph, const char *why)
{
	for (size_t i = 0; i < s->nruns; i++) {
		s->runs[i].phase = ph;
		s->runs[i].reason = why;
	}
}

static uint32_t traffic_weight(struct sim *s, int64_t rev)
{
	struct rollout_traffic t;
	rollout_traffic(&s->st, &s->p, &t);
	int64_t revs[8];
	uint32_t ready[8], w[8];
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->inst[i].stopping)
			continue;
		size_t k = 0;
		while (k < n && revs[k] != s->inst[i].revision)
			k++;
		if (k == n) {
			revs[n] = s->inst[i].revision;
			ready[n++] = 0;
		}
		ready[k] += s->inst[i].ready;
	}
	rollout_route_weights(&t, revs, ready, n, w);
	for (size_t k = 0; k < n; k++)
		if (revs[k] == rev)
			return w[k];
	return 0;
}

static void start_canary(struct sim *s, uint32_t replicas, struct spec_strategy *strat)
{
	sim_init(s, replicas);
	deploy_first(s, replicas);
	s->p.strategy = strat;
	rollout_set_desired(&s->st, 2, s->now, "applied revision 2");
}

static void test_rollout__canary_walks_its_steps_to_healthy(void **state)
{
	struct sim s;
	start_canary(&s, 4, &canary);
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 1);      /* ceil(4 x 20%) */
	assert_int_equal(s.st.weight, 0);               /* not before it is ready */
	assert_int_equal(traffic_weight(&s, 1), 100);
	make_ready(&s, 2, 1);
	sim_step(&s);
	assert_int_equal(s.st.weight, 20);
	assert_int_equal(traffic_weight(&s, 2), 20);
	assert_int_equal(traffic_weight(&s, 1), 80);
	assert_int_equal(count(&s, 1, true), 4);        /* stable keeps full size */
	assert_non_null(strstr(s.st.reason, "pause"));
	s.now += 10001;
	sim_step(&s);
	assert_int_equal(s.runs_started, 1);            /* analysis step */
	sim_step(&s);
	assert_int_equal(s.runs_started, 1);
	set_run(&s, ROLLOUT_RUN_SUCCESSFUL, "ok");
	sim_step(&s);                                   /* setWeight 50 needs 2 canaries */
	assert_int_equal(count(&s, 2, false), 2);
	assert_int_equal(s.st.weight, 20);
	make_ready(&s, 2, 1);
	sim_step(&s);
	assert_int_equal(s.st.weight, 50);
	assert_int_equal(s.st.phase, ROLLOUT_PAUSED);   /* pause {} */
	s.now += 3600000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PAUSED);   /* no deadline while paused */
	char msg[128];
	assert_int_equal(rollout_promote(&s.st, false, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 4);       /* promoting: full size */
	make_ready(&s, 2, 2);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s.st.stable, 2);
	assert_int_equal(traffic_weight(&s, 2), 100);
	sim_step(&s);
	assert_int_equal(count(&s, 1, false), 0);       /* old instances go */
	assert_int_equal(count(&s, 2, true), 4);
}

static void test_rollout__failed_analysis_aborts_to_stable(void **state)
{
	struct sim s;
	start_canary(&s, 2, &canary);
	sim_step(&s);
	make_ready(&s, 2, 1);
	sim_step(&s);
	s.now += 10001;
	sim_step(&s);
	set_run(&s, ROLLOUT_RUN_FAILED, "success-rate = 0.9, successCondition result >= 0.99 is false");
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_non_null(strstr(s.st.reason, "success-rate = 0.9"));
	assert_non_null(strstr(s.st.reason, "revision 1 keeps serving"));
	assert_int_equal(traffic_weight(&s, 1), 100);
	assert_int_equal(count(&s, 2, false), 0);
	assert_int_equal(count(&s, 1, true), 2);
	assert_int_equal(s.stops_of[1], 0);
	/* retry runs it again from the first step */
	char msg[128];
	assert_int_equal(rollout_retry(&s.st, s.now, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 1);
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
}

static void test_rollout__inconclusive_pauses_and_promote_continues(void **state)
{
	struct sim s;
	start_canary(&s, 2, &canary);
	sim_step(&s);
	make_ready(&s, 2, 1);
	sim_step(&s);
	s.now += 10001;
	sim_step(&s);
	set_run(&s, ROLLOUT_RUN_INCONCLUSIVE, "no data");
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PAUSED);
	assert_non_null(strstr(s.st.reason, "inconclusive"));
	assert_int_equal(s.st.weight, 20);
	char msg[128];
	assert_int_equal(rollout_promote(&s.st, false, msg, sizeof(msg)), 0);
	sim_step(&s);
	/* past the analysis; setWeight 50 needs no new instance for 2 replicas;
	 * then the pause {} step waits again */
	assert_int_equal(s.st.weight, 50);
	assert_int_equal(s.st.step, 4);
	assert_int_equal(s.st.phase, ROLLOUT_PAUSED);
	assert_non_null(strstr(s.st.reason, "until `slipway rollout promote`"));
	assert_int_equal(s.nruns, 0);
}

static void test_rollout__operator_abort_pause_resume_full_promote(void **state)
{
	struct sim s;
	char msg[128];
	start_canary(&s, 2, &canary);
	sim_step(&s);
	make_ready(&s, 2, 1);
	sim_step(&s);
	assert_int_equal(rollout_pause(&s.st, msg, sizeof(msg)), 0);
	s.now += 20000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PAUSED);
	assert_int_equal(s.st.step, 1);
	assert_int_equal(rollout_resume(&s.st, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(s.st.step, 2);
	assert_int_equal(rollout_promote(&s.st, true, msg, sizeof(msg)), 0);
	sim_step(&s);
	make_ready(&s, 2, 2);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(rollout_promote(&s.st, false, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "nothing to promote"));

	start_canary(&s, 2, &canary);
	sim_step(&s);
	make_ready(&s, 2, 1);
	sim_step(&s);
	assert_int_equal(rollout_abort(&s.st, s.now, "aborted by the operator", false, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_int_equal(traffic_weight(&s, 1), 100);
	assert_int_equal(count(&s, 2, false), 0);
	/* undo: fast back to stable, no steps */
	rollout_undo(&s.st, 1, s.now, "undo");
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
}

static void test_rollout__canary_deadline_aborts(void **state)
{
	struct sim s;
	start_canary(&s, 2, &canary);
	sim_step(&s);
	s.now += 61000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_non_null(strstr(s.st.reason, "progressDeadline"));
	assert_int_equal(count(&s, 2, false), 0);
}

/* examples/hello.yaml's pause {} held past progressDeadline, then promoted:
 * the wait for the full-size canary starts at the promote. */
static void test_rollout__promote_after_long_pause_is_not_a_deadline_abort(void **state)
{
	struct sim s;
	char msg[128];
	start_canary(&s, 2, &canary);
	sim_step(&s);
	make_ready(&s, 2, 1);
	sim_step(&s);                                   /* 20%, timed pause */
	s.now += 10001;
	sim_step(&s);
	set_run(&s, ROLLOUT_RUN_SUCCESSFUL, "ok");
	sim_step(&s);                                   /* 50%: one canary is enough */
	assert_int_equal(s.st.phase, ROLLOUT_PAUSED);
	s.now += 120000;                                /* twice the deadline */
	sim_step(&s);
	assert_int_equal(rollout_promote(&s.st, false, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
	assert_int_equal(count(&s, 2, false), 2);       /* promoting: full size */
	s.now += 30000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
	make_ready(&s, 2, 1);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
}

/* A timed pause longer than progressDeadline, with nobody involved. */
static void test_rollout__timed_pause_longer_than_the_deadline_completes(void **state)
{
	struct spec_step steps[] = {
		{.kind = SPEC_STEP_SET_WEIGHT, .weight = 50},
		{.kind = SPEC_STEP_PAUSE, .pause_ms = 90000},
	};
	struct spec_strategy strat = {.kind = SPEC_STRATEGY_CANARY, .steps = steps, .nsteps = 2};
	struct sim s;
	start_canary(&s, 2, &strat);
	sim_step(&s);
	make_ready(&s, 2, 1);
	for (int k = 0; k < 10; k++) {
		s.now += 10000;
		sim_step(&s);
		assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
	}
	assert_int_equal(count(&s, 2, false), 2);       /* pause over: full size */
	s.now += 59000;                                 /* slow, but within the deadline */
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
	make_ready(&s, 2, 1);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	/* and the deadline still bites when the wait itself is too long */
	start_canary(&s, 2, &strat);
	sim_step(&s);
	make_ready(&s, 2, 1);
	sim_step(&s);
	s.now += 100000;
	sim_step(&s);
	s.now += 61000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_non_null(strstr(s.st.reason, "progressDeadline"));
}

static void test_rollout__bluegreen_preview_switch_and_switch_back(void **state)
{
	struct sim s;
	char msg[128];
	start_canary(&s, 2, &bluegreen);
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 2);   /* full size preview */
	make_ready(&s, 2, 2);
	sim_step(&s);
	assert_int_equal(traffic_weight(&s, 1), 100);
	struct rollout_traffic t;
	rollout_traffic(&s.st, &s.p, &t);
	assert_ptr_equal(t.header, &rollout_preview_header);
	assert_string_equal(t.preview_listen, "127.0.0.1:9999");
	assert_int_equal(s.runs_started, 1);       /* pre-promotion */
	set_run(&s, ROLLOUT_RUN_SUCCESSFUL, "ok");
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PAUSED);
	assert_int_equal(rollout_promote(&s.st, false, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(traffic_weight(&s, 2), 100);
	assert_int_equal(s.runs_started, 2);       /* post-promotion */
	set_run(&s, ROLLOUT_RUN_FAILED, "error-rate = 0.2");
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_int_equal(traffic_weight(&s, 1), 100); /* switched back */
	assert_int_equal(count(&s, 2, false), 0);

	start_canary(&s, 2, &bluegreen);
	bluegreen.auto_promotion_ms = 3000;
	sim_step(&s);
	make_ready(&s, 2, 2);
	sim_step(&s);
	set_run(&s, ROLLOUT_RUN_SUCCESSFUL, "ok");
	sim_step(&s);
	assert_int_equal(traffic_weight(&s, 1), 100);
	s.now += 3001;
	sim_step(&s);
	assert_int_equal(traffic_weight(&s, 2), 100);
	set_run(&s, ROLLOUT_RUN_SUCCESSFUL, "ok");
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING); /* scale-down delay */
	assert_int_equal(count(&s, 1, false), 2);
	s.now += 5001;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	sim_step(&s);
	assert_int_equal(count(&s, 1, false), 0);
	bluegreen.auto_promotion_ms = 0;
}

static void test_rollout__route_weights_never_feed_an_empty_group(void **state)
{
	struct rollout_traffic t = {.explicit_weights = true, .stable = 1, .canary = 2,
				    .canary_weight = 20};
	int64_t revs[] = {1, 2, 3};
	uint32_t w[3];
	rollout_route_weights(&t, revs, (uint32_t[]){3, 1, 1}, 3, w);
	assert_int_equal(w[0], 80);
	assert_int_equal(w[1], 20);
	assert_int_equal(w[2], 0);
	rollout_route_weights(&t, revs, (uint32_t[]){3, 0, 1}, 3, w);
	assert_int_equal(w[0], 100);
	assert_int_equal(w[1], 0);
	rollout_route_weights(&t, revs, (uint32_t[]){0, 0, 2}, 3, w);
	assert_int_equal(w[2], 100);
	t.explicit_weights = false;
	rollout_route_weights(&t, revs, (uint32_t[]){1, 1, 1}, 3, w);
	assert_int_equal(w[0] + w[1] + w[2], 100);
	assert_true(w[0] >= 33 && w[1] >= 33 && w[2] >= 33);
}

static void test_rollout__state_round_trips_through_json(void **state)
{
	struct sim s;
	start_canary(&s, 2, &canary);
	sim_step(&s);
	make_ready(&s, 2, 1);
	sim_step(&s);
	json_t *j = rollout_state_to_json(&s.st);
	struct rollout_state back;
	rollout_state_from_json(&back, j);
	json_t *j2 = rollout_state_to_json(&back);
	assert_true(json_equal(j, j2));
	json_decref(j);
	json_decref(j2);
}


/* ---- dependencies (spec.dependsOn) ---- */

static char *deps_db[] = {"db"};
static char *deps_two[] = {"db", "cache"};

/* Revision 2 of an app that depends on `deps`, applied while they are not
 * Healthy (`pending`). */
static void apply_waiting(struct sim *s, char **deps, size_t ndeps, const char *pending)
{
	s->p.deps = deps;
	s->p.ndeps = ndeps;
	s->p.deps_pending = pending;
	rollout_set_desired(&s->st, 2, s->now, "applied revision 2");
	rollout_wait_for_dependencies(&s->st);
}

static void test_rollout__dependencies_hold_the_new_revision_until_healthy(void **state)
{
	struct sim s;
	sim_init(&s, 2);
	deploy_first(&s, 2);
	apply_waiting(&s, deps_two, 2, "db (Progressing), cache (not found)");
	for (int k = 0; k < 5; k++) {
		sim_step(&s);
		s.now += 3600000; /* a long wait is not a progressDeadline abort */
	}
	assert_true(rollout_waiting_for_dependencies(&s.st));
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
	assert_string_equal(s.st.reason, "waiting for db (Progressing), cache (not found); "
			    "revision 2 starts once they are Healthy");
	assert_int_equal(count(&s, 2, false), 0);  /* nothing new started */
	assert_int_equal(count(&s, 1, true), 2);   /* the old one keeps serving */
	assert_int_equal(traffic_weight(&s, 1), 100);
	assert_int_equal(s.deps_waiting, 1);       /* recorded once */
	/* one is Healthy now: still waiting, for the other */
	s.p.deps_pending = "cache (Degraded)";
	sim_step(&s);
	assert_non_null(strstr(s.st.reason, "waiting for cache (Degraded)"));
	assert_int_equal(s.deps_waiting, 1);
	/* both Healthy: it starts by itself, and the deadline counts from now */
	s.p.deps_pending = NULL;
	sim_step(&s);
	assert_false(rollout_waiting_for_dependencies(&s.st));
	assert_int_equal(s.deps_ready, 1);
	assert_string_equal(s.last_event, "DependenciesReady: db and cache are Healthy; starting "
			    "revision 2");
	assert_int_equal(count(&s, 2, false), 1);
	s.now += 30000;
	make_ready(&s, 2, 1);
	for (int k = 0; k < 6 && s.st.phase != ROLLOUT_HEALTHY; k++) {
		sim_step(&s);
		make_ready(&s, 2, 1);
	}
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s.st.stable, 2);
	/* a dependency going away later changes nothing: the gate was passed */
	s.p.deps_pending = "db (not found)";
	assert_int_equal(sim_step(&s), 0);
}

static void test_rollout__dependencies_healthy_at_once_start_without_events(void **state)
{
	struct sim s;
	sim_init(&s, 1);
	deploy_first(&s, 1);
	apply_waiting(&s, deps_db, 1, NULL);
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 1);
	assert_int_equal(s.deps_waiting + s.deps_ready + s.deps_skipped, 0);
	/* a first deploy waits too, with nothing to serve meanwhile */
	sim_init(&s, 2);
	s.p.deps = deps_db;
	s.p.ndeps = 1;
	s.p.deps_pending = "db (not found)";
	rollout_set_desired(&s.st, 1, s.now, "applied revision 1");
	rollout_wait_for_dependencies(&s.st);
	sim_step(&s);
	assert_int_equal(s.n, 0);
	assert_string_equal(s.st.reason, "waiting for db (not found); revision 1 starts once it is "
			    "Healthy");
	s.p.deps_pending = NULL;
	sim_step(&s);
	assert_int_equal(count(&s, 1, false), 2);
	assert_string_equal(s.last_event, "DependenciesReady: db is Healthy; starting revision 1");
}

static void test_rollout__promote_skips_the_wait_and_abort_cancels_it(void **state)
{
	struct sim s;
	char msg[128];
	sim_init(&s, 2);
	deploy_first(&s, 2);
	s.p.strategy = &canary;
	apply_waiting(&s, deps_db, 1, "db (Degraded)");
	sim_step(&s);
	assert_int_equal(rollout_promote(&s.st, false, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(s.deps_skipped, 1);
	assert_string_equal(s.last_event, "DependenciesSkipped: promoted: revision 2 starts without "
			    "waiting for db (Degraded)");
	assert_false(s.st.promote);                /* it took no step: the canary starts at its first */
	assert_int_equal(s.st.step, 0);
	assert_int_equal(count(&s, 2, false), 1);

	/* abort while waiting: nothing new ever ran, the old revision serves */
	sim_init(&s, 2);
	deploy_first(&s, 2);
	apply_waiting(&s, deps_db, 1, "db (Progressing)");
	sim_step(&s);
	assert_int_equal(rollout_abort(&s.st, s.now, "aborted by root", false, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_false(rollout_waiting_for_dependencies(&s.st));
	assert_string_equal(s.st.reason, "rollout of revision 2 aborted: aborted by root; revision 1 "
			    "keeps serving");
	s.p.deps_pending = NULL;                   /* Healthy later: nothing starts by itself */
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 0);
	assert_int_equal(count(&s, 1, true), 2);
	/* a retry waits again when the daemon says so */
	s.p.deps_pending = "db (Progressing)";
	assert_int_equal(rollout_retry(&s.st, s.now, msg, sizeof(msg)), 0);
	rollout_wait_for_dependencies(&s.st);
	sim_step(&s);
	assert_true(rollout_waiting_for_dependencies(&s.st));
	assert_int_equal(count(&s, 2, false), 0);
}

static void test_rollout__pause_holds_the_wait_and_a_rollback_replaces_it(void **state)
{
	struct sim s;
	char msg[128];
	sim_init(&s, 1);
	deploy_first(&s, 1);
	apply_waiting(&s, deps_db, 1, "db (Progressing)");
	sim_step(&s);
	assert_int_equal(rollout_pause(&s.st, msg, sizeof(msg)), 0);
	s.p.deps_pending = NULL;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PAUSED);
	assert_int_equal(count(&s, 2, false), 0);  /* Healthy now, but paused */
	assert_int_equal(rollout_resume(&s.st, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 1);

	/* a new desired revision without the wait (a rollback) replaces it */
	sim_init(&s, 1);
	deploy_first(&s, 1);
	apply_waiting(&s, deps_db, 1, "db (Progressing)");
	sim_step(&s);
	rollout_set_desired(&s.st, 1, s.now, "rollback from revision 2 to revision 1");
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_false(s.st.deps_wait);
	/* the one serving never waits: nothing to start */
	rollout_wait_for_dependencies(&s.st);
	assert_false(s.st.deps_wait);
}

/* Revision 2, just held (by its dependencies or a window), through the
 * stored state: a daemon restarted while it waits carries on waiting,
 * without a second event (*told counts them); a state stored before the
 * fields wait and told existed does not wait. */
static void held_round_trip(struct sim *s, const int *told, const char *wait, const char *told_key,
			    bool (*waiting)(const struct rollout_state *))
{
	sim_step(s);
	json_t *j = rollout_state_to_json(&s->st);
	struct rollout_state back;
	rollout_state_from_json(&back, j);
	assert_true(waiting(&back));
	s->st = back;
	sim_step(s);
	assert_int_equal(*told, 1);
	assert_int_equal(count(s, 2, false), 0);
	json_object_del(j, wait);
	json_object_del(j, told_key);
	rollout_state_from_json(&back, j);
	assert_false(waiting(&back));
	json_decref(j);
}

static void test_rollout__dependency_state_round_trips_and_old_states_do_not_wait(void **state)
{
	struct sim s;
	sim_init(&s, 1);
	deploy_first(&s, 1);
	apply_waiting(&s, deps_db, 1, "db (Progressing)");
	held_round_trip(&s, &s.deps_waiting, "depsWait", "depsTold", rollout_waiting_for_dependencies);
	assert_string_equal(rollout_phase_name(ROLLOUT_WAITING), "Waiting");
}

/* ---- sync windows (an Environment's spec.windows) ---- */

#define DENIED "sync window: denied until 2026-12-07 10:00 Europe/Berlin (deny \"0 22 * * 5\" 60h)"

/* Revision 2 applied in an environment with windows, closed (`denied`) or open (NULL). */
static void apply_in_window(struct sim *s, const char *denied)
{
	s->p.window_denied = denied;
	rollout_set_desired(&s->st, 2, s->now, "applied revision 2");
	rollout_wait_for_window(&s->st);
}

static void test_rollout__a_closed_window_holds_the_new_revision_until_it_opens(void **state)
{
	struct sim s;
	sim_init(&s, 2);
	deploy_first(&s, 2);
	apply_in_window(&s, DENIED);
	for (int k = 0; k < 60; k++) {
		sim_step(&s);
		s.now += 3600000; /* a weekend is not a progressDeadline abort */
	}
	assert_true(rollout_held_by_window(&s.st));
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
	assert_string_equal(s.st.reason, DENIED "; revision 2 starts when it opens");
	assert_int_equal(count(&s, 2, false), 0);  /* nothing new started */
	assert_int_equal(count(&s, 1, true), 2);   /* the old one keeps serving */
	assert_int_equal(traffic_weight(&s, 1), 100);
	assert_int_equal(s.window_waiting, 1);     /* recorded once */
	assert_string_equal(s.last_event, "WaitingForWindow: revision 2 waits: " DENIED);
	/* it opens: the revision starts by itself, the deadline from now */
	s.p.window_denied = NULL;
	sim_step(&s);
	assert_false(rollout_waiting_for_window(&s.st));
	assert_int_equal(s.window_open, 1);
	assert_string_equal(s.last_event, "WindowOpen: sync window open; starting revision 2");
	assert_int_equal(count(&s, 2, false), 1);
	s.now += 59000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
	for (int k = 0; k < 6 && s.st.phase != ROLLOUT_HEALTHY; k++) {
		make_ready(&s, 2, 1);
		sim_step(&s);
	}
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	/* closed again later: a revision that started is not stopped */
	s.p.window_denied = DENIED;
	assert_int_equal(sim_step(&s), 0);

	/* open at once: it starts, without an event */
	sim_init(&s, 1);
	deploy_first(&s, 1);
	apply_in_window(&s, NULL);
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 1);
	assert_int_equal(s.window_waiting + s.window_open, 0);
	/* a first deploy waits too */
	sim_init(&s, 1);
	s.p.window_denied = DENIED;
	rollout_set_desired(&s.st, 1, s.now, "applied revision 1");
	rollout_wait_for_window(&s.st);
	sim_step(&s);
	assert_int_equal(s.n, 0);
	assert_true(rollout_held_by_window(&s.st));
}

static void test_rollout__promote_does_not_pass_a_window_an_override_does(void **state)
{
	struct sim s;
	char msg[200];
	sim_init(&s, 2);
	deploy_first(&s, 2);
	s.p.strategy = &canary;
	apply_in_window(&s, DENIED);
	sim_step(&s);
	assert_int_equal(rollout_promote(&s.st, false, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "revision 2 waits for a sync window, which promote does not pass: "
			    "`slipway rollout override APP --reason TEXT` starts it");
	assert_int_equal(rollout_promote(&s.st, true, msg, sizeof(msg)), -1);
	s.now += 7200000;
	assert_int_equal(rollout_window_override(&s.st, s.now, msg, sizeof(msg)), 0);
	assert_string_equal(s.st.reason, "sync window overridden; starting revision 2");
	sim_step(&s);                              /* still closed: it starts anyway */
	assert_int_equal(count(&s, 2, false), 1);
	assert_int_equal(s.st.step, 0);            /* at the first step, the deadline from now */
	assert_int_equal(s.window_open, 0);
	assert_int_equal(rollout_window_override(&s.st, s.now, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "revision 2 does not wait for a sync window");

	/* abort cancels the wait; a window opening later starts nothing */
	sim_init(&s, 2);
	deploy_first(&s, 2);
	apply_in_window(&s, DENIED);
	sim_step(&s);
	assert_int_equal(rollout_abort(&s.st, s.now, "aborted by root", false, msg, sizeof(msg)), 0);
	s.p.window_denied = NULL;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_int_equal(count(&s, 2, false), 0);
	assert_int_equal(count(&s, 1, true), 2);

	/* pause holds it once open; a rollback replaces it and never waits */
	sim_init(&s, 1);
	deploy_first(&s, 1);
	apply_in_window(&s, DENIED);
	sim_step(&s);
	assert_int_equal(rollout_pause(&s.st, msg, sizeof(msg)), 0);
	s.p.window_denied = NULL;
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 0);
	assert_int_equal(rollout_resume(&s.st, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 1);
	sim_init(&s, 1);
	deploy_first(&s, 1);
	apply_in_window(&s, DENIED);
	sim_step(&s);
	rollout_set_desired(&s.st, 1, s.now, "rollback from revision 2 to revision 1");
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_false(rollout_waiting_for_window(&s.st));
}

static void test_rollout__dependencies_first_then_the_window(void **state)
{
	struct sim s;
	sim_init(&s, 1);
	deploy_first(&s, 1);
	apply_waiting(&s, deps_db, 1, "db (Progressing)");
	s.p.window_denied = DENIED;
	rollout_wait_for_window(&s.st);
	sim_step(&s);
	assert_non_null(strstr(s.st.reason, "waiting for db (Progressing)"));
	assert_int_equal(s.window_waiting, 0);
	s.p.deps_pending = NULL;                   /* db is Healthy: now the window holds it */
	sim_step(&s);
	assert_string_equal(s.st.reason, DENIED "; revision 2 starts when it opens");
	assert_int_equal(count(&s, 2, false), 0);
	s.p.window_denied = NULL;
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 1);
	assert_int_equal(s.deps_ready + s.window_waiting + s.window_open, 3);
}

static void test_rollout__window_state_round_trips_and_old_states_do_not_wait(void **state)
{
	struct sim s;
	sim_init(&s, 1);
	deploy_first(&s, 1);
	apply_in_window(&s, DENIED);
	held_round_trip(&s, &s.window_waiting, "windowWait", "windowTold", rollout_held_by_window);
}

static uint32_t ready_of(struct sim *s, int64_t rev)
{
	return count(s, rev, true);
}

static void test_rollout__restart_replaces_every_instance_keeping_availability(void **state)
{
	struct sim s;
	char msg[160];
	sim_init(&s, 3);
	deploy_first(&s, 3);
	int first_new = s.seq + 1;
	s.now += 1000;
	int64_t at = s.now;
	assert_int_equal(rollout_restart(&s.st, s.now, msg, sizeof(msg)), 0);
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
	for (int i = 0; i < 20 && s.st.phase != ROLLOUT_HEALTHY; i++) {
		sim_step(&s);
		/* maxUnavailable 0: never fewer ready than replicas */
		assert_true(ready_of(&s, 1) >= 3);
		assert_true(count(&s, 1, false) <= 4); /* maxSurge 1 */
		s.now += 100;
		make_ready(&s, 1, 1);
	}
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s.st.restart_ms, 0);
	assert_int_equal(s.st.stable, 1);
	assert_int_equal(count(&s, 1, false), 3);
	for (size_t i = 0; i < s.n; i++) {
		assert_true(s.inst[i].created_ms >= at);
		assert_true(atoi(s.inst[i].id + 1) >= first_new);
	}
	assert_non_null(strstr(s.st.reason, "restarted"));
	assert_int_equal(sim_step(&s), 0); /* settled */
}

static void test_rollout__restart_refused_mid_rollout_and_cancelled_by_apply(void **state)
{
	struct sim s;
	char msg[160];
	start_canary(&s, 2, &canary);
	sim_step(&s);
	assert_int_equal(rollout_restart(&s.st, s.now, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "restart once it is Healthy"));

	sim_init(&s, 2);
	deploy_first(&s, 2);
	s.now += 1000;
	assert_int_equal(rollout_restart(&s.st, s.now, msg, sizeof(msg)), 0);
	sim_step(&s);
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	assert_int_equal(s.st.restart_ms, 0);
	for (int i = 0; i < 20 && s.st.phase != ROLLOUT_HEALTHY; i++) {
		sim_step(&s);
		make_ready(&s, 2, 1);
	}
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s.st.stable, 2);
	assert_int_equal(count(&s, 1, false), 0);
	assert_int_equal(count(&s, 2, false), 2);
}

static void test_rollout__restart_without_progress_stops_and_keeps_the_old(void **state)
{
	struct sim s;
	char msg[160];
	sim_init(&s, 2);
	deploy_first(&s, 2);
	s.now += 1000;
	assert_int_equal(rollout_restart(&s.st, s.now, msg, sizeof(msg)), 0);
	for (int i = 0; i < 10; i++) {
		sim_step(&s);
		s.now += 10000; /* the new instance never becomes ready */
	}
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s.st.restart_ms, 0);
	assert_non_null(strstr(s.st.reason, "restart of revision 1 stopped"));
	assert_int_equal(count(&s, 1, false), 2);
	assert_int_equal(ready_of(&s, 1), 2);
}

static void test_rollout__scale_sizes_the_serving_revision_until_a_new_one(void **state)
{
	struct sim s;
	char msg[160];
	sim_init(&s, 2);
	deploy_first(&s, 2);
	assert_int_equal(rollout_scale(&s.st, 4, msg, sizeof(msg)), 0);
	assert_int_equal(rollout_replicas(&s.st, 2), 4);
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
	sim_step(&s);
	assert_int_equal(count(&s, 1, false), 4); /* at once: nothing is replaced */
	make_ready(&s, 1, 2);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s.st.desired, 1); /* no new revision */

	/* the scale survives the store */
	json_t *j = rollout_state_to_json(&s.st);
	struct rollout_state back;
	rollout_state_from_json(&back, j);
	json_decref(j);
	assert_true(back.scaled);
	assert_int_equal(back.replicas, 4);

	assert_int_equal(rollout_scale(&s.st, 1, msg, sizeof(msg)), 0);
	for (int i = 0; i < 3; i++)
		sim_step(&s);
	assert_int_equal(count(&s, 1, false), 1);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(rollout_scale(&s.st, 0, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(count(&s, 0, false), 0);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(rollout_restart(&s.st, s.now, msg, sizeof(msg)), -1);
	assert_int_equal(rollout_scale(&s.st, ROLLOUT_MAX_REPLICAS + 1, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "between 0 and 1000"));

	/* a new revision: its document says how many, and a rollout refuses scale */
	assert_int_equal(rollout_scale(&s.st, 3, msg, sizeof(msg)), 0);
	s.p.strategy = &canary;
	rollout_set_desired(&s.st, 2, s.now, "applied revision 2");
	assert_false(s.st.scaled);
	assert_int_equal(rollout_scale(&s.st, 5, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "rollout of revision 2 is Progressing"));
}

/* ---- hooks and migrations ---- */

static char *migrate_argv[] = {"./migrate", NULL};
static struct spec_hook pre_expand[] = {
	{.name = "migrate", .command = migrate_argv, .argc = 1, .timeout_ms = 300000,
	 .migration = SPEC_MIGRATION_EXPAND},
	{.name = "seed", .command = migrate_argv, .argc = 1, .timeout_ms = 300000},
};
static struct spec_hook pre_contract[] = {
	{.name = "drop-old", .command = migrate_argv, .argc = 1, .timeout_ms = 300000,
	 .migration = SPEC_MIGRATION_CONTRACT},
};
static struct spec_hook post_notify[] = {
	{.name = "notify", .command = migrate_argv, .argc = 1, .timeout_ms = 300000},
};
static struct spec_hook abort_page[] = {
	{.name = "page", .command = migrate_argv, .argc = 1, .timeout_ms = 300000},
};
static struct spec_hooks hooks_expand = {
	.list = {pre_expand, post_notify, abort_page}, .n = {2, 1, 1}};
static struct spec_hooks hooks_contract = {
	.list = {pre_contract, post_notify, abort_page}, .n = {1, 1, 1}};
static struct spec_hooks hooks_post_only = {.list = {NULL, post_notify, NULL}, .n = {0, 1, 0}};
static struct spec_hooks *hook_sets[] = {NULL, &hooks_expand, &hooks_contract, &hooks_post_only};

/* Reports the last hook job of any list as `ph`. */
static void set_hook(struct sim *s, enum rollout_run_phase ph)
{
	for (size_t i = 0; i < s->nruns; i++)
		for (int k = 0; k < SPEC_HOOK_KINDS; k++)
			if (s->runs[i].id == s->last_hook[k] && s->runs[i].phase == ROLLOUT_RUN_RUNNING) {
				s->runs[i].phase = ph;
				s->runs[i].reason = ph == ROLLOUT_RUN_SUCCESSFUL ? "succeeded"
					: "exited with status 3 (attempt 2/2)";
			}
}

static void test_rollout__pre_deploy_runs_before_any_new_instance(void **state)
{
	struct sim s;
	start_canary(&s, 2, &canary);
	s.p.hooks = &hooks_expand;
	sim_step(&s);
	assert_int_equal(s.hooks_started[SPEC_HOOK_PRE_DEPLOY], 1);
	assert_int_equal(count(&s, 2, false), 0);
	assert_non_null(strstr(s.st.reason, "preDeploy hook \"migrate\" (1/2) running"));
	s.now += 3600000; /* a slow migration is not a progressDeadline abort */
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_PROGRESSING);
	assert_int_equal(s.hooks_started[SPEC_HOOK_PRE_DEPLOY], 1);
	set_hook(&s, ROLLOUT_RUN_SUCCESSFUL);
	sim_step(&s);                                  /* the second job, in order */
	assert_int_equal(s.hooks_started[SPEC_HOOK_PRE_DEPLOY], 2);
	assert_int_equal(count(&s, 2, false), 0);
	assert_int_equal(traffic_weight(&s, 1), 100);
	set_hook(&s, ROLLOUT_RUN_SUCCESSFUL);
	sim_step(&s);
	assert_int_equal(count(&s, 2, false), 1);      /* now the canary starts */
	assert_int_equal(s.st.schema_min, 0);          /* expand: nothing held back */
}

static void test_rollout__failed_pre_deploy_aborts_and_runs_on_abort(void **state)
{
	struct sim s;
	start_canary(&s, 2, &canary);
	s.p.hooks = &hooks_expand;
	sim_step(&s);
	set_hook(&s, ROLLOUT_RUN_FAILED);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_non_null(strstr(s.st.reason, "preDeploy hook \"migrate\" failed: exited with status 3 (attempt 2/2)"));
	assert_non_null(strstr(s.st.reason, "revision 1 keeps serving"));
	assert_int_equal(count(&s, 2, false), 0);      /* nothing new ever ran */
	assert_int_equal(traffic_weight(&s, 1), 100);
	assert_int_equal(s.hooks_started[SPEC_HOOK_ON_ABORT], 1);
	set_hook(&s, ROLLOUT_RUN_SUCCESSFUL);
	sim_step(&s);
	assert_true(s.st.hooks_done & (1u << SPEC_HOOK_ON_ABORT));
	assert_int_equal(s.st.hook_run, 0);
	sim_step(&s);
	assert_int_equal(s.hooks_started[SPEC_HOOK_ON_ABORT], 1); /* once */
}

static void test_rollout__post_deploy_after_healthy_failure_keeps_healthy(void **state)
{
	struct sim s;
	sim_init(&s, 1);
	s.p.hooks = &hooks_post_only;
	rollout_set_desired(&s.st, 1, s.now, "applied revision 1");
	sim_step(&s);
	make_ready(&s, 1, 1);
	assert_int_equal(s.hooks_started[SPEC_HOOK_POST_DEPLOY], 0);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s.hooks_started[SPEC_HOOK_POST_DEPLOY], 1);
	set_hook(&s, ROLLOUT_RUN_FAILED);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_non_null(strstr(s.st.reason, "postDeploy hook \"notify\" failed"));
	sim_step(&s);
	assert_int_equal(s.hooks_started[SPEC_HOOK_POST_DEPLOY], 1);
}

/* v2 ran a contract migration; its analysis fails at 20%: traffic stays
 * at 20%, nothing stops, Frozen says why; --force rolls back. */
static void test_rollout__contract_migration_freezes_instead_of_rollback(void **state)
{
	struct sim s;
	start_canary(&s, 2, &canary);
	s.p.hooks = &hooks_contract;
	sim_step(&s);
	set_hook(&s, ROLLOUT_RUN_SUCCESSFUL);
	sim_step(&s);
	assert_int_equal(s.st.schema_min, 2);
	make_ready(&s, 2, 1);
	sim_step(&s);
	assert_int_equal(s.st.weight, 20);
	s.now += 10001;
	sim_step(&s);                                  /* analysis step starts */
	for (size_t i = 0; i < s.nruns; i++)
		if (s.runs[i].id == s.st.step_run) {
			s.runs[i].phase = ROLLOUT_RUN_FAILED;
			s.runs[i].reason = "success-rate 0.5 < 0.99";
		}
	size_t n_before = s.n;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_FROZEN);
	assert_int_equal(s.events_frozen, 1);
	assert_non_null(strstr(s.st.reason, "analysis of step 3/5 failed: success-rate 0.5 < 0.99"));
	assert_non_null(strstr(s.st.reason, "not rolled back"));
	assert_int_equal(s.n, n_before);
	assert_int_equal(traffic_weight(&s, 2), 20);
	assert_int_equal(s.st.step_run, 0);            /* its run stopped */
	s.now += 3600000;
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_FROZEN);  /* no deadline, nothing moves */
	assert_false(s.frozen_moved);
	assert_int_equal(s.hooks_started[SPEC_HOOK_ON_ABORT], 0);
	char msg[200];
	assert_int_equal(rollout_abort(&s.st, s.now, "op", false, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "--force"));
	assert_int_equal(rollout_abort(&s.st, s.now, "aborted by op", true, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_int_equal(traffic_weight(&s, 1), 100);
	assert_int_equal(count(&s, 2, false), 0);
	assert_int_equal(s.hooks_started[SPEC_HOOK_ON_ABORT], 1);
}

static void test_rollout__operator_abort_after_contract_freezes(void **state)
{
	struct sim s;
	start_canary(&s, 2, &canary);
	s.p.hooks = &hooks_contract;
	sim_step(&s);
	set_hook(&s, ROLLOUT_RUN_SUCCESSFUL);
	sim_step(&s);
	make_ready(&s, 2, 1);
	sim_step(&s);
	char msg[200];
	assert_int_equal(rollout_abort(&s.st, s.now, "aborted by op", false, msg, sizeof(msg)), 0);
	assert_int_equal(s.st.phase, ROLLOUT_FROZEN);
	sim_step(&s);
	assert_int_equal(traffic_weight(&s, 2), 20);
	/* forward instead: promote --full */
	assert_int_equal(rollout_promote(&s.st, true, msg, sizeof(msg)), 0);
	sim_step(&s);
	make_ready(&s, 2, 2);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_HEALTHY);
	assert_int_equal(s.st.stable, 2);
	assert_int_equal(s.st.schema_min, 2);
	/* the next rollout, v3, may go back to v2: it aborts as always */
	s.p.hooks = NULL;
	rollout_set_desired(&s.st, 3, s.now, "applied revision 3");
	sim_step(&s);
	assert_int_equal(rollout_abort(&s.st, s.now, "aborted by op", false, msg, sizeof(msg)), 0);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
}

static void test_rollout__expand_migration_aborts_as_always(void **state)
{
	struct sim s;
	start_canary(&s, 2, &canary);
	s.p.hooks = &hooks_expand;
	sim_step(&s);
	set_hook(&s, ROLLOUT_RUN_SUCCESSFUL);
	sim_step(&s);
	set_hook(&s, ROLLOUT_RUN_SUCCESSFUL);
	sim_step(&s);
	make_ready(&s, 2, 1);
	sim_step(&s);
	char msg[200];
	assert_int_equal(rollout_abort(&s.st, s.now, "aborted by op", false, msg, sizeof(msg)), 0);
	sim_step(&s);
	assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
	assert_int_equal(traffic_weight(&s, 1), 100);
}

static void test_rollout__hook_state_round_trips_and_old_states_skip_hooks(void **state)
{
	struct sim s;
	start_canary(&s, 2, &canary);
	s.p.hooks = &hooks_contract;
	sim_step(&s);
	json_t *j = rollout_state_to_json(&s.st);
	struct rollout_state back;
	rollout_state_from_json(&back, j);
	assert_int_equal(back.hook_run, s.st.hook_run);
	assert_int_equal(back.hooks_done, s.st.hooks_done);
	json_decref(j);
	/* a state stored before hooks existed never runs them afterwards */
	j = json_pack("{s:I, s:I, s:s}", "desired", (json_int_t)2, "stable", (json_int_t)2, "phase", "Healthy");
	rollout_state_from_json(&back, j);
	assert_int_equal(back.hooks_done, (1u << SPEC_HOOK_KINDS) - 1);
	json_decref(j);
}

/*
 * 100,000 random observation sequences over every strategy: readiness
 * flips, crashes, analysis results, operator commands, time. After every
 * step: weights sum to 100 whenever anything is ready, no traffic to a
 * group without ready instances while another has some, an abort puts
 * stable at 100%, and a Paused rollout always has a way out. Every
 * sequence, once everything is ready and runs succeed, ends Healthy,
 * Degraded or Paused.
 */
static void check_invariants(struct sim *s)
{
	struct rollout_traffic t;
	rollout_traffic(&s->st, &s->p, &t);
	int64_t revs[16];
	uint32_t ready[16], w[16], sum = 0, any = 0;
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++) {
		size_t k = 0;
		while (k < n && revs[k] != s->inst[i].revision)
			k++;
		if (k == n) {
			revs[n] = s->inst[i].revision;
			ready[n++] = 0;
		}
		ready[k] += s->inst[i].ready;
	}
	rollout_route_weights(&t, revs, ready, n, w);
	for (size_t k = 0; k < n; k++) {
		sum += w[k];
		any += ready[k];
		if (!ready[k])
			assert_int_equal(w[k], 0);
	}
	if (any)
		assert_int_equal(sum, 100);
	if (s->st.phase == ROLLOUT_DEGRADED && s->st.failed == s->st.desired && s->st.stable) {
		assert_true(t.explicit_weights);
		assert_int_equal(t.canary_weight, 0);
	}
	assert_true(s->st.weight <= 100);
	/* Frozen only when going back would serve a revision the schema
	 * no longer supports; and nothing moves while it lasts */
	if (s->st.phase == ROLLOUT_FROZEN) {
		assert_true(s->st.stable > 0 && s->st.stable < s->st.schema_min);
		assert_false(s->frozen_moved);
		struct rollout_state copy = s->st;
		char msg[128];
		assert_true(rollout_abort(&copy, s->now, "op", true, msg, sizeof(msg)) == 0);
	}
	if (s->st.phase == ROLLOUT_PAUSED) {
		struct rollout_state copy = s->st;
		char msg[128];
		assert_true(rollout_promote(&copy, false, msg, sizeof(msg)) == 0 ||
			    rollout_resume(&copy, msg, sizeof(msg)) == 0);
	}
}

static void test_rollout__100k_random_sequences_keep_invariants(void **state)
{
	struct spec_strategy *strategies[] = {NULL, &canary, &bluegreen};
	uint64_t seed = 0x5eed;
	#define RND() (seed = seed * 6364136223846793005ULL + 1442695040888963407ULL, (uint32_t)(seed >> 33))
	int froze = 0, pre_failed = 0, posts = 0, restarts = 0, scales = 0, waited = 0;
	int window_held = 0, overrides = 0;
	for (int trial = 0; trial < 100000; trial++) {
		struct sim s;
		uint32_t r = 1 + RND() % 3;
		sim_init(&s, r);
		deploy_first(&s, r);
		s.p.progress_deadline_ms = 20000;
		s.p.strategy = strategies[RND() % 3];
		s.p.hooks = hook_sets[RND() % 4];
		rollout_set_desired(&s.st, 2, s.now, "apply");
		bool deps = RND() % 2;
		if (deps) {
			s.p.deps = deps_db;
			s.p.ndeps = 1;
			s.p.deps_pending = RND() % 2 ? "db (Progressing)" : NULL;
			rollout_wait_for_dependencies(&s.st);
		}
		bool windows = RND() % 2;
		if (windows) {
			s.p.window_denied = RND() % 2 ? DENIED : NULL;
			rollout_wait_for_window(&s.st);
		}
		int len = 5 + (int)(RND() % 20);
		char msg[128];
		for (int k = 0; k < len; k++) {
			switch (RND() % 14) {
			case 12: restarts += rollout_restart(&s.st, s.now, msg, sizeof(msg)) == 0; break;
			case 13: scales += rollout_scale(&s.st, 1 + RND() % 3, msg, sizeof(msg)) == 0; break;
			case 0: case 1: case 2:
				make_ready(&s, 2, 1);
				break;
			case 3:
				if (s.n)
					s.inst[RND() % s.n].ready = false;
				if (deps && RND() % 2) /* the dependency comes and goes */
					s.p.deps_pending = s.p.deps_pending ? NULL : "db (Degraded)";
				if (windows && RND() % 2) /* the window opens and closes */
					s.p.window_denied = s.p.window_denied ? NULL : DENIED;
				else if (windows && RND() % 4 == 0)
					overrides += rollout_window_override(&s.st, s.now, msg, sizeof(msg)) == 0;
				break;
			case 4:
				if (RND() % 2)
					set_run(&s, (enum rollout_run_phase)(RND() % 5), "random");
				else
					set_hook(&s, RND() % 3 ? ROLLOUT_RUN_SUCCESSFUL : ROLLOUT_RUN_FAILED);
				break;
			case 5: rollout_promote(&s.st, RND() % 4 == 0, msg, sizeof(msg)); break;
			case 6: if (RND() % 4 == 0) rollout_abort(&s.st, s.now, "op", RND() % 2, msg, sizeof(msg)); break;
			case 7: rollout_pause(&s.st, msg, sizeof(msg)); break;
			case 8: rollout_resume(&s.st, msg, sizeof(msg)); break;
			case 9:
				if (rollout_retry(&s.st, s.now, msg, sizeof(msg)) == 0 && deps)
					rollout_wait_for_dependencies(&s.st);
				if (s.st.phase == ROLLOUT_PROGRESSING && windows)
					rollout_wait_for_window(&s.st);
				break;
			default:
				make_ready(&s, 1, 1);
				break;
			}
			s.now += RND() % 8000;
			enum rollout_phase was = s.st.phase;
			sim_step(&s);
			check_invariants(&s);
			/* paused time never counts against progressDeadline */
			if (was != ROLLOUT_DEGRADED && s.st.phase == ROLLOUT_DEGRADED &&
			    strstr(s.st.reason, "progressDeadline"))
				assert_int_equal(was, ROLLOUT_PROGRESSING);
		}
		/* settle: everything becomes ready, runs succeed, operator promotes */
		s.p.deps_pending = NULL;
		s.p.window_denied = NULL;
		for (int k = 0; k < 40; k++) {
			make_ready(&s, rollout_target(&s.st), 8);
			make_ready(&s, s.st.desired, 8);
			set_run(&s, ROLLOUT_RUN_SUCCESSFUL, "ok");
			if (s.st.phase == ROLLOUT_PAUSED && k > 20) {
				if (rollout_resume(&s.st, msg, sizeof(msg)) < 0)
					rollout_promote(&s.st, false, msg, sizeof(msg));
			}
			s.now += 4000;
			sim_step(&s);
			check_invariants(&s);
		}
		/* Frozen is a terminal phase too: the operator decides; --force
		 * rolls back and the rollout ends Degraded on stable */
		if (s.st.phase == ROLLOUT_FROZEN) {
			froze++;
			assert_int_equal(rollout_abort(&s.st, s.now, "op", true, msg, sizeof(msg)), 0);
			for (int k = 0; k < 10; k++) {
				make_ready(&s, rollout_target(&s.st), 8);
				set_run(&s, ROLLOUT_RUN_SUCCESSFUL, "ok");
				s.now += 4000;
				sim_step(&s);
				check_invariants(&s);
			}
			assert_int_equal(s.st.phase, ROLLOUT_DEGRADED);
		}
		if (!(s.st.phase == ROLLOUT_HEALTHY || s.st.phase == ROLLOUT_DEGRADED)) {
			json_t *j = rollout_state_to_json(&s.st);
			char *txt = json_dumps(j, 0);
			fail_msg("trial %d strategy %d ends %s: %s", trial,
				 s.p.strategy ? (int)s.p.strategy->kind : -1,
				 rollout_phase_name(s.st.phase), txt);
		}
		if (s.st.phase == ROLLOUT_HEALTHY)
			assert_int_equal(traffic_weight(&s, s.st.desired), 100);
		else
			assert_int_equal(traffic_weight(&s, s.st.stable), s.st.stable ? 100 : 0);
		/* every list that had to run has finished: postDeploy once
		 * Healthy, onAbort once aborted */
		if (s.p.hooks && s.st.phase == ROLLOUT_HEALTHY)
			assert_true(s.st.hooks_done & (1u << SPEC_HOOK_POST_DEPLOY));
		if (s.p.hooks && s.st.phase == ROLLOUT_DEGRADED)
			assert_true(s.st.hooks_done & (1u << SPEC_HOOK_ON_ABORT));
		assert_int_equal(s.st.hook_run, 0);
		pre_failed += strstr(s.st.reason, "preDeploy hook") != NULL;
		waited += s.deps_waiting > 0;
		window_held += s.window_waiting > 0;
		posts += s.hooks_started[SPEC_HOOK_POST_DEPLOY] > 0;
	}
	/* the sequences reach the hook paths, not only the old ones */
	assert_true(froze > 100 && pre_failed > 100 && posts > 1000 && restarts > 1000 && scales > 1000 &&
		    waited > 1000 && window_held > 1000 && overrides > 1000);
	printf("# frozen %d, preDeploy failed %d, postDeploy ran %d, restarts %d, scales %d, waited "
	       "for dependencies %d, held by a window %d, overrides %d of 100000\n", froze,
	       pre_failed, posts, restarts, scales, waited, window_held, overrides);
	#undef RND
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rollout__first_deploy_starts_all_replicas_at_once),
		cmocka_unit_test(test_rollout__reconcile_is_idempotent),
		cmocka_unit_test(test_rollout__update_replaces_one_at_a_time_keeping_availability),
		cmocka_unit_test(test_rollout__never_ready_update_degrades_and_keeps_old),
		cmocka_unit_test(test_rollout__first_deploy_never_ready_degrades_and_stops),
		cmocka_unit_test(test_rollout__progress_resets_the_deadline),
		cmocka_unit_test(test_rollout__rollback_after_degraded_returns_to_healthy),
		cmocka_unit_test(test_rollout__scale_down_and_up_in_place),
		cmocka_unit_test(test_rollout__crashed_old_instances_do_not_block_update),
		cmocka_unit_test(test_rollout__random_sequences_keep_invariants),
		cmocka_unit_test(test_rollout__restart_replaces_every_instance_keeping_availability),
		cmocka_unit_test(test_rollout__restart_refused_mid_rollout_and_cancelled_by_apply),
		cmocka_unit_test(test_rollout__restart_without_progress_stops_and_keeps_the_old),
		cmocka_unit_test(test_rollout__scale_sizes_the_serving_revision_until_a_new_one),
		cmocka_unit_test(test_rollout__canary_walks_its_steps_to_healthy),
		cmocka_unit_test(test_rollout__failed_analysis_aborts_to_stable),
		cmocka_unit_test(test_rollout__inconclusive_pauses_and_promote_continues),
		cmocka_unit_test(test_rollout__operator_abort_pause_resume_full_promote),
		cmocka_unit_test(test_rollout__canary_deadline_aborts),
		cmocka_unit_test(test_rollout__promote_after_long_pause_is_not_a_deadline_abort),
		cmocka_unit_test(test_rollout__timed_pause_longer_than_the_deadline_completes),
		cmocka_unit_test(test_rollout__bluegreen_preview_switch_and_switch_back),
		cmocka_unit_test(test_rollout__route_weights_never_feed_an_empty_group),
		cmocka_unit_test(test_rollout__state_round_trips_through_json),
		cmocka_unit_test(test_rollout__dependencies_hold_the_new_revision_until_healthy),
		cmocka_unit_test(test_rollout__dependencies_healthy_at_once_start_without_events),
		cmocka_unit_test(test_rollout__promote_skips_the_wait_and_abort_cancels_it),
		cmocka_unit_test(test_rollout__pause_holds_the_wait_and_a_rollback_replaces_it),
		cmocka_unit_test(test_rollout__dependency_state_round_trips_and_old_states_do_not_wait),
		cmocka_unit_test(test_rollout__a_closed_window_holds_the_new_revision_until_it_opens),
		cmocka_unit_test(test_rollout__promote_does_not_pass_a_window_an_override_does),
		cmocka_unit_test(test_rollout__dependencies_first_then_the_window),
		cmocka_unit_test(test_rollout__window_state_round_trips_and_old_states_do_not_wait),
		cmocka_unit_test(test_rollout__pre_deploy_runs_before_any_new_instance),
		cmocka_unit_test(test_rollout__failed_pre_deploy_aborts_and_runs_on_abort),
		cmocka_unit_test(test_rollout__post_deploy_after_healthy_failure_keeps_healthy),
		cmocka_unit_test(test_rollout__contract_migration_freezes_instead_of_rollback),
		cmocka_unit_test(test_rollout__operator_abort_after_contract_freezes),
		cmocka_unit_test(test_rollout__expand_migration_aborts_as_always),
		cmocka_unit_test(test_rollout__hook_state_round_trips_and_old_states_skip_hooks),
		cmocka_unit_test(test_rollout__100k_random_sequences_keep_invariants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
