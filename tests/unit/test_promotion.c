/*
 * promotion: the gates of one release into one environment, as the
 * rollout is tested: scenarios a user walks through (soak, analysis,
 * approvals with four eyes, expiry, reject, supersede, a break upstream),
 * and 100,000 random sequences of observations and decisions against the
 * rules that must always hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "env/promotion.h"
#include "unit_util.h"

#define S 1000LL
#define T0 1800000000000LL /* 2027-01-15 */

static char *golden[] = {"golden"};

static struct env_promotion policy(uint64_t soak_ms, bool analysis, uint32_t approvals, bool automatic)
{
	struct env_promotion p = {
		.from = "staging",
		.automatic = automatic,
		.soak_ms = soak_ms,
		.approvals = approvals,
		.approval_timeout_ms = 60 * S,
	};
	if (analysis) {
		p.analysis.templates = golden;
		p.analysis.ntemplates = 1;
	}
	return p;
}

static const struct promo_levels healthy = {.upstream_ok = true, .window_open = true};

/* The daemon's part: a run started gets an id, a stopped one is gone. */
struct daemon {
	int64_t next_run, live_run;
	int applies;
	char events[32][32];
	size_t nevents;
};

static void execute(struct daemon *d, struct promo_state *st, const struct promo_actions *out)
{
	for (size_t i = 0; i < out->n; i++) {
		const struct promo_action *a = &out->a[i];
		switch (a->kind) {
		case PROMO_RUN_START:
			assert_int_equal(d->live_run, 0);
			d->live_run = st->run = ++d->next_run;
			break;
		case PROMO_RUN_STOP:
			assert_int_equal(a->run, d->live_run);
			d->live_run = 0;
			break;
		case PROMO_APPLY:
			d->applies++;
			break;
		case PROMO_EVENT:
			if (d->nevents < 32)
				snprintf(d->events[d->nevents++], 32, "%s", a->event);
			break;
		}
	}
}

static bool step(struct daemon *d, struct promo_state *st, const struct env_promotion *p,
		 const struct promo_levels *lv, int64_t now)
{
	struct promo_actions out = {.n = 0};
	bool changed = promo_reconcile(st, p, lv, now, &out);
	execute(d, st, &out);
	return changed;
}

static bool told(const struct daemon *d, const char *kind)
{
	for (size_t i = 0; i < d->nevents; i++)
		if (strcmp(d->events[i], kind) == 0)
			return true;
	return false;
}

static void test_promotion__soak_then_analysis_then_apply(void **state)
{
	struct env_promotion p = policy(10 * S, true, 0, true);
	struct promo_state st;
	struct daemon d = {0};
	promo_init(&st, "1.2.0", "alice", T0);
	step(&d, &st, &p, &healthy, T0);
	assert_int_equal(st.phase, PROMO_PENDING);
	assert_int_equal(st.gates[PROMO_GATE_SOAK].state, PROMO_GATE_WAITING);
	assert_int_equal(st.gates[PROMO_GATE_ANALYSIS].state, PROMO_GATE_PENDING);
	assert_int_equal(st.gates[PROMO_GATE_APPROVALS].state, PROMO_GATE_SKIPPED);
	assert_int_equal(promo_next_ms(&st, &p), T0 + 10 * S);
	assert_non_null(strstr(st.reason, "soak: Healthy in staging since"));
	/* nothing happens before the soak ends */
	assert_false(step(&d, &st, &p, &healthy, T0 + 9 * S));
	assert_int_equal(d.live_run, 0);
	step(&d, &st, &p, &healthy, T0 + 10 * S);
	assert_int_equal(st.gates[PROMO_GATE_SOAK].state, PROMO_GATE_PASSED);
	assert_int_equal(st.gates[PROMO_GATE_ANALYSIS].state, PROMO_GATE_WAITING);
	assert_int_equal(d.live_run, 1);
	struct promo_levels lv = healthy;
	lv.run_phase = PROMO_RUN_SUCCESSFUL;
	step(&d, &st, &p, &lv, T0 + 20 * S);
	assert_int_equal(d.live_run, 0);
	assert_int_equal(st.phase, PROMO_PROMOTING);
	assert_int_equal(d.applies, 1);
	assert_true(told(&d, "PromotionStarted"));
	/* Promoting waits for the daemon's report, and nothing else moves it */
	assert_false(step(&d, &st, &p, &healthy, T0 + 30 * S));
	struct promo_actions out = {.n = 0};
	promo_applied(&st, true, "revision 4", T0 + 31 * S, &out);
	execute(&d, &st, &out);
	assert_int_equal(st.phase, PROMO_PROMOTED);
	assert_string_equal(st.reason, "promoted: revision 4");
	assert_true(told(&d, "Promoted"));
}

static void test_promotion__a_failed_analysis_stops_the_release(void **state)
{
	struct env_promotion p = policy(0, true, 0, true);
	struct promo_state st;
	struct daemon d = {0};
	promo_init(&st, "2.0.0", "alice", T0);
	step(&d, &st, &p, &healthy, T0);
	assert_int_equal(st.gates[PROMO_GATE_SOAK].state, PROMO_GATE_SKIPPED);
	assert_int_equal(d.live_run, 1);
	struct promo_levels lv = healthy;
	lv.run_phase = PROMO_RUN_FAILED;
	lv.run_reason = "golden/success-rate: 0.51 is not >= 0.99";
	step(&d, &st, &p, &lv, T0 + 5 * S);
	assert_int_equal(st.phase, PROMO_FAILED);
	assert_int_equal(d.live_run, 0);
	assert_int_equal(d.applies, 0);
	assert_string_equal(st.reason, "analysis: golden failed against staging: golden/success-rate: "
					"0.51 is not >= 0.99");
	assert_true(told(&d, "PromotionFailed"));
	/* final: nothing changes it any more */
	assert_false(step(&d, &st, &p, &healthy, T0 + 50 * S));
	char msg[300];
	assert_int_equal(promo_approve(&st, &p, "bob", NULL, T0, msg, sizeof(msg)), -1);
	assert_int_equal(promo_request(&st, "bob", msg, sizeof(msg)), -1);
}

static void test_promotion__two_approvals_four_eyes_and_one_each(void **state)
{
	struct env_promotion p = policy(0, false, 2, true);
	struct promo_state st;
	struct daemon d = {0};
	char msg[300];
	promo_init(&st, "1.2.0", "alice", T0);
	step(&d, &st, &p, &healthy, T0);
	assert_int_equal(st.gates[PROMO_GATE_APPROVALS].state, PROMO_GATE_WAITING);
	assert_string_equal(st.reason, "approvals: 0 of 2 approvals (none yet)");
	/* the author may not approve her own release */
	assert_int_equal(promo_approve(&st, &p, "alice", NULL, T0, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "alice caused release 1.2.0"));
	assert_non_null(strstr(msg, "(four eyes)"));
	assert_int_equal(promo_approve(&st, &p, "bob", "looks good", T0 + S, msg, sizeof(msg)), 0);
	assert_int_equal(promo_approve(&st, &p, "bob", NULL, T0 + S, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "bob approved release 1.2.0 already"));
	step(&d, &st, &p, &healthy, T0 + S);
	assert_int_equal(st.phase, PROMO_PENDING);
	assert_string_equal(st.reason, "approvals: 1 of 2 approvals (bob)");
	assert_int_equal(promo_approve(&st, &p, "carol", NULL, T0 + 2 * S, msg, sizeof(msg)), 0);
	step(&d, &st, &p, &healthy, T0 + 2 * S);
	assert_int_equal(st.phase, PROMO_PROMOTING);
	assert_string_equal(st.gates[PROMO_GATE_APPROVALS].reason, "approved by bob, carol");
	assert_int_equal(d.applies, 1);
	/* too late to decide */
	assert_int_equal(promo_approve(&st, &p, "dave", NULL, T0 + 3 * S, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "being promoted already"));
}

static void test_promotion__approvals_expire(void **state)
{
	struct env_promotion p = policy(0, false, 2, true);
	struct promo_state st;
	struct daemon d = {0};
	char msg[300];
	promo_init(&st, "1.2.0", "alice", T0);
	assert_int_equal(promo_approve(&st, &p, "bob", NULL, T0, msg, sizeof(msg)), 0);
	step(&d, &st, &p, &healthy, T0);
	assert_int_equal(promo_next_ms(&st, &p), T0 + 60 * S);
	step(&d, &st, &p, &healthy, T0 + 60 * S);
	assert_int_equal(promo_approvals(&st), 0);
	assert_true(told(&d, "ApprovalExpired"));
	assert_int_equal(promo_approve(&st, &p, "carol", NULL, T0 + 61 * S, msg, sizeof(msg)), 0);
	step(&d, &st, &p, &healthy, T0 + 61 * S);
	assert_int_equal(st.phase, PROMO_PENDING);
	assert_int_equal(d.applies, 0);
	/* bob may approve again once his approval expired */
	assert_int_equal(promo_approve(&st, &p, "bob", NULL, T0 + 62 * S, msg, sizeof(msg)), 0);
	step(&d, &st, &p, &healthy, T0 + 62 * S);
	assert_int_equal(d.applies, 1);
}

static void test_promotion__a_rejection_ends_it(void **state)
{
	struct env_promotion p = policy(0, true, 1, true);
	struct promo_state st;
	struct daemon d = {0};
	struct promo_actions out = {.n = 0};
	char msg[300];
	promo_init(&st, "1.2.0", "alice", T0);
	step(&d, &st, &p, &healthy, T0);
	assert_int_equal(d.live_run, 1);
	/* even the author may stop it */
	assert_int_equal(promo_reject(&st, "alice", "not this week", T0 + S, &out, msg, sizeof(msg)), 0);
	execute(&d, &st, &out);
	assert_int_equal(st.phase, PROMO_REJECTED);
	assert_int_equal(d.live_run, 0);
	assert_string_equal(st.reason, "rejected by alice: not this week");
	assert_false(step(&d, &st, &p, &healthy, T0 + 2 * S));
}

static void test_promotion__upstream_break_restarts_the_soak(void **state)
{
	struct env_promotion p = policy(10 * S, true, 0, true);
	struct promo_state st;
	struct daemon d = {0};
	promo_init(&st, "1.2.0", "alice", T0);
	step(&d, &st, &p, &healthy, T0);
	step(&d, &st, &p, &healthy, T0 + 10 * S);
	assert_int_equal(d.live_run, 1);
	struct promo_levels down = {.upstream_ok = false, .upstream_why = "staging/hello is Degraded",
				    .window_open = true};
	step(&d, &st, &p, &down, T0 + 11 * S);
	assert_int_equal(d.live_run, 0);
	assert_int_equal(st.gates[PROMO_GATE_SOAK].state, PROMO_GATE_WAITING);
	assert_int_equal(st.gates[PROMO_GATE_ANALYSIS].state, PROMO_GATE_PENDING);
	assert_non_null(strstr(st.reason, "staging/hello is Degraded"));
	assert_true(told(&d, "PromotionReset"));
	assert_int_equal(promo_next_ms(&st, &p), 0);
	/* Healthy again: ten more seconds */
	step(&d, &st, &p, &healthy, T0 + 20 * S);
	assert_int_equal(promo_next_ms(&st, &p), T0 + 30 * S);
	step(&d, &st, &p, &healthy, T0 + 29 * S);
	assert_int_equal(d.live_run, 0);
	step(&d, &st, &p, &healthy, T0 + 30 * S);
	assert_int_equal(d.live_run, 2);
}

static void test_promotion__manual_waits_for_promote(void **state)
{
	struct env_promotion p = policy(0, false, 0, false);
	struct promo_state st;
	struct daemon d = {0};
	char msg[300];
	promo_init(&st, "1.2.0", "alice", T0);
	step(&d, &st, &p, &healthy, T0);
	assert_int_equal(st.phase, PROMO_READY);
	assert_true(told(&d, "PromotionReady"));
	assert_false(step(&d, &st, &p, &healthy, T0 + S));
	assert_int_equal(promo_request(&st, "bob", msg, sizeof(msg)), 0);
	step(&d, &st, &p, &healthy, T0 + 2 * S);
	assert_int_equal(st.phase, PROMO_PROMOTING);
	assert_int_equal(d.applies, 1);
	assert_true(promo_is_cause(&st, "bob"));
}

static void test_promotion__the_promoter_may_not_approve(void **state)
{
	struct env_promotion p = policy(0, false, 1, false);
	struct promo_state st;
	char msg[300];
	promo_init(&st, "1.2.0", "alice", T0);
	assert_int_equal(promo_approve(&st, &p, "bob", NULL, T0, msg, sizeof(msg)), 0);
	/* bob asks for it: his approval is void, and he may not give one */
	assert_int_equal(promo_request(&st, "bob", msg, sizeof(msg)), 0);
	assert_int_equal(promo_approvals(&st), 0);
	assert_int_equal(promo_approve(&st, &p, "bob", NULL, T0, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "four eyes"));
}

static void test_promotion__a_newer_release_supersedes(void **state)
{
	struct env_promotion p = policy(0, true, 2, true);
	struct promo_state st;
	struct daemon d = {0};
	struct promo_actions out = {.n = 0};
	char msg[300];
	promo_init(&st, "1.2.0", "alice", T0);
	assert_int_equal(promo_approve(&st, &p, "bob", NULL, T0, msg, sizeof(msg)), 0);
	step(&d, &st, &p, &healthy, T0);
	assert_int_equal(promo_supersede(&st, "1.3.0", T0 + S, &out), 0);
	execute(&d, &st, &out);
	assert_int_equal(st.phase, PROMO_SUPERSEDED);
	assert_int_equal(d.live_run, 0);
	assert_string_equal(st.reason, "superseded by release 1.3.0 before it was promoted; its "
					"approvals are void");
	/* a Promoting one finishes first */
	struct env_promotion q = policy(0, false, 0, true);
	promo_init(&st, "1.3.0", "alice", T0);
	step(&d, &st, &q, &healthy, T0);
	assert_int_equal(st.phase, PROMO_PROMOTING);
	assert_int_equal(promo_supersede(&st, "1.4.0", T0, &out), -1);
}

static void test_promotion__the_window_holds_it(void **state)
{
	struct env_promotion p = policy(0, false, 0, true);
	struct promo_state st;
	struct daemon d = {0};
	struct promo_levels closed = {.upstream_ok = true, .window_open = false,
				      .window_why = "denied until 2027-01-18 08:00 Europe/Berlin"};
	promo_init(&st, "1.2.0", "alice", T0);
	step(&d, &st, &p, &closed, T0);
	assert_int_equal(st.phase, PROMO_PENDING);
	assert_string_equal(st.reason, "window: denied until 2027-01-18 08:00 Europe/Berlin");
	step(&d, &st, &p, &healthy, T0 + S);
	assert_int_equal(d.applies, 1);
}

static void test_promotion__state_reads_back(void **state)
{
	struct env_promotion p = policy(5 * S, true, 2, true);
	struct promo_state st, back;
	struct daemon d = {0};
	char msg[300];
	promo_init(&st, "1.2.0", "alice", T0);
	step(&d, &st, &p, &healthy, T0);
	assert_int_equal(promo_approve(&st, &p, "bob", "ok", T0 + S, msg, sizeof(msg)), 0);
	step(&d, &st, &p, &healthy, T0 + 6 * S);
	json_t *j = promo_state_to_json(&st);
	promo_state_from_json(&back, j);
	json_t *again = promo_state_to_json(&back);
	assert_true(json_equal(j, again));
	assert_int_equal(back.run, st.run);
	assert_int_equal(back.gates[PROMO_GATE_SOAK].state, PROMO_GATE_PASSED);
	assert_string_equal(back.decisions[0].comment, "ok");
	json_decref(j);
	json_decref(again);
}

/* ---- random sequences ---- */

static const char *const actors[] = {"alice", "bob", "carol", "dave", "erin"};

/* Approvals that count at now: distinct, no cause, not expired. */
static size_t valid_approvals(const struct promo_state *st, const struct env_promotion *p, int64_t now)
{
	size_t n = 0;
	for (size_t i = 0; i < st->ndecisions; i++) {
		const struct promo_decision *x = &st->decisions[i];
		if (x->reject)
			continue;
		assert_false(promo_is_cause(st, x->actor));
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(st->decisions[k].actor, x->actor);
		if (now - x->time_ms < (int64_t)p->approval_timeout_ms)
			n++;
	}
	return n;
}

static void check_state(const struct promo_state *st, const struct env_promotion *p,
			const struct daemon *d, int64_t now)
{
	/* the daemon's run is the state's */
	assert_int_equal(st->run, d->live_run);
	if (st->run) {
		assert_int_equal(st->phase, PROMO_PENDING);
		assert_int_equal(st->gates[PROMO_GATE_ANALYSIS].state, PROMO_GATE_WAITING);
	}
	/* a gate passes only after the ones before it */
	bool open = true;
	for (int k = 0; k < PROMO_GATES; k++) {
		enum promo_gate_state g = st->gates[k].state;
		if (g == PROMO_GATE_PASSED && k != PROMO_GATE_APPROVALS && k != PROMO_GATE_WINDOW)
			assert_true(open);
		open = open && (g == PROMO_GATE_PASSED || g == PROMO_GATE_SKIPPED);
	}
	if (st->phase == PROMO_PROMOTING || st->phase == PROMO_PROMOTED)
		assert_int_equal(d->applies, 1);
	else if (st->phase != PROMO_FAILED)
		assert_int_equal(d->applies, 0);
	valid_approvals(st, p, now);
}

static void test_promotion__100k_random_sequences_keep_invariants(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
#define RND() unit_rnd(&seed)
	for (int seq = 0; seq < 100000; seq++) {
		struct env_promotion p = policy(RND() % 2 ? 10 * S : 0, RND() % 2, (uint32_t)(RND() % 4),
						RND() % 3 != 0);
		struct promo_state st, final_copy;
		struct daemon d = {0};
		int64_t now = T0;
		bool was_final = false;
		promo_init(&st, "1.2.0", "alice", now);
		int steps = 5 + (int)(RND() % 30);
		for (int i = 0; i < steps; i++) {
			char msg[300];
			struct promo_actions out = {.n = 0};
			struct promo_levels lv = {
				.upstream_ok = RND() % 5 != 0,
				.upstream_why = "staging/hello is Progressing",
				.run_phase = RND() % 4 ? PROMO_RUN_RUNNING : (enum promo_run_phase)(RND() % 5),
				.run_reason = "golden/success-rate: 1",
				.window_open = RND() % 5 != 0,
				.window_why = "denied",
			};
			now += (int64_t)(RND() % 8000);
			const char *who = actors[RND() % 5];
			int what = (int)(RND() % 10);
			bool applies_ok = false;
			if (what < 5) {
				promo_reconcile(&st, &p, &lv, now, &out);
				/* the apply happens only with every gate through */
				bool started = false;
				for (size_t k = 0; k < out.n; k++)
					started |= out.a[k].kind == PROMO_RUN_START;
				for (size_t k = 0; k < out.n; k++)
					if (out.a[k].kind == PROMO_APPLY) {
						assert_true(lv.upstream_ok && lv.window_open);
						assert_true(p.automatic || st.requested);
						assert_true(valid_approvals(&st, &p, now) >= p.approvals);
						for (int g = 0; g < PROMO_GATES; g++)
							assert_true(st.gates[g].state == PROMO_GATE_PASSED ||
								    st.gates[g].state == PROMO_GATE_SKIPPED);
						applies_ok = true;
					}
				execute(&d, &st, &out);
				/* level-triggered: the same call again does nothing (a run
				 * just started is Running, whatever lv said) */
				if (started)
					lv.run_phase = PROMO_RUN_RUNNING;
				if (!applies_ok && RND() % 4 == 0) {
					struct promo_actions again = {.n = 0};
					assert_false(promo_reconcile(&st, &p, &lv, now, &again));
					assert_int_equal(again.n, 0);
				}
			} else if (what < 7) {
				promo_approve(&st, &p, who, "ok", now, msg, sizeof(msg));
			} else if (what == 7) {
				if (RND() % 4 == 0)
					promo_reject(&st, who, "no", now, &out, msg, sizeof(msg));
				else
					promo_request(&st, who, msg, sizeof(msg));
				execute(&d, &st, &out);
			} else if (what == 8) {
				promo_applied(&st, RND() % 2, "revision 2", now, &out);
				execute(&d, &st, &out);
			} else if (RND() % 8 == 0) {
				promo_supersede(&st, "1.3.0", now, &out);
				execute(&d, &st, &out);
			}
			if (was_final) {
				/* nothing moves a final promotion */
				assert_memory_equal(&st, &final_copy, sizeof(st));
				assert_true(out.n == 0);
			} else if (promo_final(st.phase)) {
				was_final = true;
				memcpy(&final_copy, &st, sizeof(st));
				assert_int_equal(d.live_run, 0);
			}
			check_state(&st, &p, &d, now);
			/* the store's copy is the same state */
			if (RND() % 16 == 0) {
				struct promo_state back;
				json_t *j = promo_state_to_json(&st), *j2;
				promo_state_from_json(&back, j);
				j2 = promo_state_to_json(&back);
				assert_true(json_equal(j, j2));
				json_decref(j);
				json_decref(j2);
			}
		}
	}
#undef RND
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_promotion__soak_then_analysis_then_apply),
		cmocka_unit_test(test_promotion__a_failed_analysis_stops_the_release),
		cmocka_unit_test(test_promotion__two_approvals_four_eyes_and_one_each),
		cmocka_unit_test(test_promotion__approvals_expire),
		cmocka_unit_test(test_promotion__a_rejection_ends_it),
		cmocka_unit_test(test_promotion__upstream_break_restarts_the_soak),
		cmocka_unit_test(test_promotion__manual_waits_for_promote),
		cmocka_unit_test(test_promotion__the_promoter_may_not_approve),
		cmocka_unit_test(test_promotion__a_newer_release_supersedes),
		cmocka_unit_test(test_promotion__the_window_holds_it),
		cmocka_unit_test(test_promotion__state_reads_back),
		cmocka_unit_test(test_promotion__100k_random_sequences_keep_invariants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
