/*
 * The promotion of one release into one environment (promotion.h): its
 * gates in order, each a few lines of the walk in promo_reconcile.
 */
#include "promotion.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"

static const char *const phase_names[] = {"Pending",  "Ready",    "Promoting", "Promoted",
					  "Failed",   "Rejected", "Superseded"};
static const char *const gate_names[] = {"soak", "analysis", "approvals", "window"};
static const char *const gate_state_names[] = {"Pending", "Waiting", "Passed", "Failed", "Skipped"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *promo_phase_name(enum promo_phase p)
{
	return (size_t)p < NELEM(phase_names) ? phase_names[p] : "Pending";
}

const char *promo_gate_name(enum promo_gate_kind g)
{
	return (size_t)g < NELEM(gate_names) ? gate_names[g] : "soak";
}

const char *promo_gate_state_name(enum promo_gate_state s)
{
	return (size_t)s < NELEM(gate_state_names) ? gate_state_names[s] : "Pending";
}

bool promo_final(enum promo_phase p)
{
	return p == PROMO_PROMOTED || p == PROMO_FAILED || p == PROMO_REJECTED || p == PROMO_SUPERSEDED;
}

size_t promo_approvals(const struct promo_state *st)
{
	size_t n = 0;
	for (size_t i = 0; i < st->ndecisions; i++)
		n += !st->decisions[i].reject;
	return n;
}

bool promo_is_cause(const struct promo_state *st, const char *actor)
{
	for (size_t i = 0; actor && i < st->ncauses; i++)
		if (strcmp(st->causes[i], actor) == 0)
			return true;
	return false;
}

void promo_add_cause(struct promo_state *st, const char *actor)
{
	if (!actor || !*actor || promo_is_cause(st, actor) || st->ncauses == PROMO_CAUSES_MAX)
		return;
	snprintf(st->causes[st->ncauses++], PROMO_ACTOR_MAX, "%s", actor);
}

void promo_init(struct promo_state *st, const char *release, const char *author, int64_t now_ms)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->release, sizeof(st->release), "%s", release ? release : "");
	st->phase = PROMO_PENDING;
	st->created_ms = now_ms;
	promo_add_cause(st, author);
	snprintf(st->reason, sizeof(st->reason), "created");
}

/* ---- actions ---- */

static struct promo_action *action(struct promo_actions *out, enum promo_action_kind kind)
{
	/* a call appends a handful at most: a full list is a bug */
	SW_ASSERT(out->n < PROMO_MAX_ACTIONS);
	struct promo_action *a = &out->a[out->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

static void event(struct promo_actions *out, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void event(struct promo_actions *out, const char *kind, const char *fmt, ...)
{
	struct promo_action *a = action(out, PROMO_EVENT);
	va_list ap;
	a->event = kind;
	va_start(ap, fmt);
	vsnprintf(a->message, sizeof(a->message), fmt, ap);
	va_end(ap);
}

static void run_stop(struct promo_state *st, struct promo_actions *out)
{
	if (!st->run)
		return;
	action(out, PROMO_RUN_STOP)->run = st->run;
	st->run = 0;
}

/* ---- gates ---- */

static void gate_set(struct promo_gate *g, enum promo_gate_state state, int64_t now,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void gate_set(struct promo_gate *g, enum promo_gate_state state, int64_t now,
		     const char *fmt, ...)
{
	va_list ap;
	if (g->state != state) {
		g->state = state;
		g->since_ms = state == PROMO_GATE_WAITING ? now : state == PROMO_GATE_PENDING ? 0 : g->since_ms;
		g->done_ms = state == PROMO_GATE_PASSED || state == PROMO_GATE_FAILED ? now : 0;
	}
	va_start(ap, fmt);
	vsnprintf(g->reason, sizeof(g->reason), fmt, ap);
	va_end(ap);
}

static bool gate_asked(const struct env_promotion *p, enum promo_gate_kind g)
{
	switch (g) {
	case PROMO_GATE_SOAK: return p->soak_ms > 0;
	case PROMO_GATE_ANALYSIS: return p->analysis.ntemplates > 0;
	case PROMO_GATE_APPROVALS: return p->approvals > 0;
	default: return true;
	}
}

/* Gates the environment does not ask for are Skipped from the start; one
 * it asks for since a change of its document is Pending again. */
static void skip_unasked(struct promo_state *st, const struct env_promotion *p, int64_t now)
{
	static const char *const why[PROMO_GATES] = {"no soak", "no analysis", "no approvals", ""};
	for (int k = 0; k < PROMO_GATES; k++)
		if (!gate_asked(p, (enum promo_gate_kind)k))
			gate_set(&st->gates[k], PROMO_GATE_SKIPPED, now, "%s", why[k]);
		else if (st->gates[k].state == PROMO_GATE_SKIPPED)
			gate_set(&st->gates[k], PROMO_GATE_PENDING, now, "asked for since");
}

/* The gates after g that the environment asks for wait for it. */
static void pending_after(struct promo_state *st, const struct env_promotion *p,
			  enum promo_gate_kind g, int64_t now)
{
	for (int k = (int)g + 1; k < PROMO_GATES; k++)
		if (gate_asked(p, (enum promo_gate_kind)k))
			gate_set(&st->gates[k], PROMO_GATE_PENDING, now, "waiting for the %s gate",
				 gate_names[g]);
}

/* st->reason and the phase while gate g is waited for. */
static void waiting_for(struct promo_state *st, const struct env_promotion *p,
			enum promo_gate_kind g, int64_t now)
{
	pending_after(st, p, g, now);
	st->phase = PROMO_PENDING;
	snprintf(st->reason, sizeof(st->reason), "%s: %s", gate_names[g], st->gates[g].reason);
}

static void templates_text(char *out, size_t size, const struct spec_analysis_ref *r)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < r->ntemplates; i++)
		buf_addf(&b, "%s%s", i ? ", " : "", r->templates[i]);
	snprintf(out, size, "%s", b.len ? b.s : "");
	buf_release(&b);
}

static void approvers_text(char *out, size_t size, const struct promo_state *st)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < st->ndecisions; i++)
		if (!st->decisions[i].reject)
			buf_addf(&b, "%s%s", b.len ? ", " : "", st->decisions[i].actor);
	snprintf(out, size, "%s", b.len ? b.s : "none yet");
	buf_release(&b);
}

/* Approvals older than approvalTimeout no longer count. */
static void expire(struct promo_state *st, const struct env_promotion *p, int64_t now,
		   struct promo_actions *out)
{
	for (size_t i = 0; i < st->ndecisions;) {
		struct promo_decision *d = &st->decisions[i];
		if (d->reject || now - d->time_ms < (int64_t)p->approval_timeout_ms) {
			i++;
			continue;
		}
		char t[40], dur[32];
		sw_format_time(t, sizeof(t), d->time_ms);
		sw_duration_format(dur, sizeof(dur), p->approval_timeout_ms);
		event(out, "ApprovalExpired", "the approval of release %s by %s (given %s) expired: "
		      "approvalTimeout is %s", st->release, d->actor, t, dur);
		memmove(d, d + 1, (st->ndecisions - i - 1) * sizeof(*d));
		st->ndecisions--;
	}
}

/* The soak: false while the promotion waits for it. */
static bool soak(struct promo_state *st, const struct env_promotion *p, int64_t now,
		 struct promo_actions *out)
{
	struct promo_gate *g = &st->gates[PROMO_GATE_SOAK];
	char since[40], until[40], dur[32];
	if (g->state == PROMO_GATE_SKIPPED || g->state == PROMO_GATE_PASSED)
		return true;
	sw_duration_format(dur, sizeof(dur), p->soak_ms);
	sw_format_time(since, sizeof(since), st->healthy_ms);
	if (now - st->healthy_ms >= (int64_t)p->soak_ms) {
		gate_set(g, PROMO_GATE_PASSED, now, "Healthy in %s for %s (since %s)", p->from, dur, since);
		event(out, "PromotionGatePassed", "release %s: soak passed: Healthy in %s for %s",
		      st->release, p->from, dur);
		return true;
	}
	sw_format_time(until, sizeof(until), st->healthy_ms + (int64_t)p->soak_ms);
	gate_set(g, PROMO_GATE_WAITING, now, "Healthy in %s since %s; %s soak ends %s", p->from,
		 since, dur, until);
	waiting_for(st, p, PROMO_GATE_SOAK, now);
	return false;
}

/* The analysis: false while the promotion waits for it or it failed. */
static bool analysis(struct promo_state *st, const struct env_promotion *p,
		     const struct promo_levels *lv, int64_t now, struct promo_actions *out)
{
	struct promo_gate *g = &st->gates[PROMO_GATE_ANALYSIS];
	char names[200];
	if (g->state == PROMO_GATE_SKIPPED || g->state == PROMO_GATE_PASSED)
		return true;
	templates_text(names, sizeof(names), &p->analysis);
	if (!st->run) {
		action(out, PROMO_RUN_START);
		gate_set(g, PROMO_GATE_WAITING, now, "running %s against %s", names, p->from);
		waiting_for(st, p, PROMO_GATE_ANALYSIS, now);
		return false;
	}
	const char *why = lv->run_reason && *lv->run_reason ? lv->run_reason : "no reason given";
	switch (lv->run_phase) {
	case PROMO_RUN_RUNNING:
		gate_set(g, PROMO_GATE_WAITING, now, "running %s against %s", names, p->from);
		waiting_for(st, p, PROMO_GATE_ANALYSIS, now);
		return false;
	case PROMO_RUN_SUCCESSFUL:
		run_stop(st, out);
		gate_set(g, PROMO_GATE_PASSED, now, "%s passed against %s", names, p->from);
		event(out, "PromotionGatePassed", "release %s: analysis passed (%s, against %s)",
		      st->release, names, p->from);
		return true;
	default:
		run_stop(st, out);
		gate_set(g, PROMO_GATE_FAILED, now, "%s %s against %s: %.150s", names,
			 lv->run_phase == PROMO_RUN_INCONCLUSIVE ? "inconclusive"
			 : lv->run_phase == PROMO_RUN_ERROR ? "could not run" : "failed", p->from, why);
		pending_after(st, p, PROMO_GATE_ANALYSIS, now);
		st->phase = PROMO_FAILED;
		snprintf(st->reason, sizeof(st->reason), "analysis: %s", g->reason);
		event(out, "PromotionFailed", "release %s stops in %s: analysis: %s", st->release,
		      p->from, g->reason);
		return false;
	}
}

static bool approvals(struct promo_state *st, const struct env_promotion *p, int64_t now,
		      struct promo_actions *out)
{
	struct promo_gate *g = &st->gates[PROMO_GATE_APPROVALS];
	char who[300];
	if (g->state == PROMO_GATE_SKIPPED)
		return true;
	size_t n = promo_approvals(st);
	approvers_text(who, sizeof(who), st);
	if (n >= p->approvals) {
		bool was = g->state == PROMO_GATE_PASSED;
		gate_set(g, PROMO_GATE_PASSED, now, "approved by %s", who);
		if (!was)
			event(out, "PromotionGatePassed", "release %s: approved by %s", st->release, who);
		return true;
	}
	gate_set(g, PROMO_GATE_WAITING, now, "%zu of %u approvals (%s)", n, (unsigned)p->approvals, who);
	waiting_for(st, p, PROMO_GATE_APPROVALS, now);
	return false;
}

static bool window(struct promo_state *st, const struct env_promotion *p,
		   const struct promo_levels *lv, int64_t now)
{
	struct promo_gate *g = &st->gates[PROMO_GATE_WINDOW];
	if (lv->window_open) {
		gate_set(g, PROMO_GATE_PASSED, now, "open");
		return true;
	}
	gate_set(g, PROMO_GATE_WAITING, now, "%s",
		 lv->window_why && *lv->window_why ? lv->window_why : "closed");
	waiting_for(st, p, PROMO_GATE_WINDOW, now);
	return false;
}

/* Upstream no longer serves the release Healthy: back to the soak. */
static void upstream_lost(struct promo_state *st, const struct env_promotion *p,
			  const struct promo_levels *lv, int64_t now, struct promo_actions *out)
{
	const char *why = lv->upstream_why && *lv->upstream_why ? lv->upstream_why : "it is not Healthy";
	bool progressed = st->gates[PROMO_GATE_SOAK].state == PROMO_GATE_PASSED || st->run ||
			  st->gates[PROMO_GATE_ANALYSIS].state == PROMO_GATE_PASSED;
	st->healthy_ms = 0;
	run_stop(st, out);
	if (progressed && !st->reset_told) {
		event(out, "PromotionReset", "release %s is no longer Healthy in %s (%s): its soak "
		      "starts again once it is", st->release, p->from, why);
		st->reset_told = true;
	}
	gate_set(&st->gates[PROMO_GATE_SOAK], PROMO_GATE_WAITING, now,
		 "waiting for release %s to be Healthy in %s: %.150s", st->release, p->from, why);
	waiting_for(st, p, PROMO_GATE_SOAK, now);
}

bool promo_reconcile(struct promo_state *st, const struct env_promotion *p,
		     const struct promo_levels *lv, int64_t now, struct promo_actions *out)
{
	struct promo_state before;
	memcpy(&before, st, sizeof(before));
	if (promo_final(st->phase) || st->phase == PROMO_PROMOTING)
		return false;
	skip_unasked(st, p, now);
	expire(st, p, now, out);
	if (!lv->upstream_ok) {
		upstream_lost(st, p, lv, now, out);
		goto out;
	}
	st->reset_told = false;
	if (!st->healthy_ms)
		st->healthy_ms = now;
	if (!soak(st, p, now, out) || !analysis(st, p, lv, now, out) || !approvals(st, p, now, out) ||
	    !window(st, p, lv, now))
		goto out;
	if (p->automatic || st->requested) {
		char who[300];
		approvers_text(who, sizeof(who), st);
		st->phase = PROMO_PROMOTING;
		snprintf(st->reason, sizeof(st->reason), "every gate passed: applying release %s",
			 st->release);
		event(out, "PromotionStarted", "release %s from %s: every gate passed%s%s%s; applying it",
		      st->release, p->from, p->approvals ? " (approved by " : "",
		      p->approvals ? who : "", p->approvals ? ")" : "");
		action(out, PROMO_APPLY);
	} else if (st->phase != PROMO_READY) {
		st->phase = PROMO_READY;
		snprintf(st->reason, sizeof(st->reason), "every gate passed; automatic is false: it "
			 "waits for `slipway promote`");
		event(out, "PromotionReady", "release %s from %s: every gate passed; waiting for "
		      "`slipway promote` (automatic: false)", st->release, p->from);
	}
out:
	return memcmp(&before, st, sizeof(before)) != 0;
}

/* ---- decisions ---- */

static int not_open(const struct promo_state *st, char *msg, size_t size)
{
	if (promo_final(st->phase)) {
		snprintf(msg, size, "the promotion of release %s is %s: nothing to decide (%s)",
			 st->release, promo_phase_name(st->phase), st->reason);
		return -1;
	}
	if (st->phase == PROMO_PROMOTING) {
		snprintf(msg, size, "release %s is being promoted already", st->release);
		return -1;
	}
	return 0;
}

static const struct promo_decision *decision_of(const struct promo_state *st, const char *actor)
{
	for (size_t i = 0; i < st->ndecisions; i++)
		if (strcmp(st->decisions[i].actor, actor) == 0)
			return &st->decisions[i];
	return NULL;
}

/* Forgets actor's decision, when there is one. */
static void decision_drop(struct promo_state *st, const char *actor)
{
	for (size_t i = 0; i < st->ndecisions; i++)
		if (strcmp(st->decisions[i].actor, actor) == 0) {
			memmove(&st->decisions[i], &st->decisions[i + 1],
				(st->ndecisions - i - 1) * sizeof(st->decisions[0]));
			st->ndecisions--;
			return;
		}
}

static void decision_add(struct promo_state *st, const char *actor, bool reject,
			 const char *comment, int64_t now)
{
	struct promo_decision *d = &st->decisions[st->ndecisions++];
	memset(d, 0, sizeof(*d));
	snprintf(d->actor, sizeof(d->actor), "%s", actor);
	snprintf(d->comment, sizeof(d->comment), "%s", comment ? comment : "");
	d->reject = reject;
	d->time_ms = now;
}

int promo_approve(struct promo_state *st, const struct env_promotion *p, const char *actor,
		  const char *comment, int64_t now, char *msg, size_t size)
{
	if (not_open(st, msg, size) < 0)
		return -1;
	if (!p->approvals) {
		snprintf(msg, size, "release %s needs no approvals here (promotion.approvals is 0)",
			 st->release);
		return -1;
	}
	if (promo_is_cause(st, actor)) {
		snprintf(msg, size, "%s caused release %s (applied it upstream or asked for its "
			 "promotion): someone else must approve it (four eyes)", actor, st->release);
		return -1;
	}
	const struct promo_decision *d = decision_of(st, actor);
	if (d) {
		char t[40];
		sw_format_time(t, sizeof(t), d->time_ms);
		snprintf(msg, size, "%s approved release %s already (%s); one decision each", actor,
			 st->release, t);
		return -1;
	}
	if (st->ndecisions >= PROMO_DECISIONS_MAX - 1) {
		snprintf(msg, size, "release %s has %zu approvals already", st->release, st->ndecisions);
		return -1;
	}
	decision_add(st, actor, false, comment, now);
	return 0;
}

int promo_reject(struct promo_state *st, const char *actor, const char *comment, int64_t now,
		 struct promo_actions *out, char *msg, size_t size)
{
	if (not_open(st, msg, size) < 0)
		return -1;
	decision_drop(st, actor); /* a rejection replaces its actor's approval */
	decision_add(st, actor, true, comment, now);
	run_stop(st, out);
	st->phase = PROMO_REJECTED;
	gate_set(&st->gates[PROMO_GATE_APPROVALS], PROMO_GATE_FAILED, now, "rejected by %s%s%.150s",
		 actor, comment && *comment ? ": " : "", comment ? comment : "");
	snprintf(st->reason, sizeof(st->reason), "%s", st->gates[PROMO_GATE_APPROVALS].reason);
	return 0;
}

int promo_request(struct promo_state *st, const char *actor, char *msg, size_t size)
{
	if (not_open(st, msg, size) < 0)
		return -1;
	if (!promo_is_cause(st, actor) && st->ncauses == PROMO_CAUSES_MAX) {
		snprintf(msg, size, "%d people asked for the promotion of release %s already",
			 PROMO_CAUSES_MAX, st->release);
		return -1;
	}
	promo_add_cause(st, actor);
	decision_drop(st, actor);
	st->requested = true;
	return 0;
}

void promo_applied(struct promo_state *st, bool ok, const char *detail, int64_t now,
		   struct promo_actions *out)
{
	if (st->phase != PROMO_PROMOTING)
		return;
	st->phase = ok ? PROMO_PROMOTED : PROMO_FAILED;
	snprintf(st->reason, sizeof(st->reason), "%s%.280s", ok ? "promoted: " : "the apply failed: ",
		 detail && *detail ? detail : "no detail");
	if (ok)
		event(out, "Promoted", "release %s promoted: %.300s", st->release,
		      detail && *detail ? detail : "applied");
	else
		event(out, "PromotionFailed", "release %s was not promoted: %.300s", st->release,
		      detail && *detail ? detail : "the apply failed");
}

int promo_supersede(struct promo_state *st, const char *newer, int64_t now,
		    struct promo_actions *out)
{
	if (promo_final(st->phase))
		return 0;
	if (st->phase == PROMO_PROMOTING)
		return -1;
	size_t n = promo_approvals(st);
	run_stop(st, out);
	st->phase = PROMO_SUPERSEDED;
	snprintf(st->reason, sizeof(st->reason), "superseded by release %.100s before it was promoted%s",
		 newer, n ? "; its approvals are void" : "");
	event(out, "PromotionSuperseded", "release %s was not promoted: release %.100s came after "
	      "it%s", st->release, newer, n ? "; its approvals are void" : "");
	return 0;
}

int64_t promo_next_ms(const struct promo_state *st, const struct env_promotion *p)
{
	int64_t next = 0;
	if (promo_final(st->phase) || st->phase == PROMO_PROMOTING)
		return 0;
	if (st->gates[PROMO_GATE_SOAK].state == PROMO_GATE_WAITING && st->healthy_ms && p->soak_ms)
		next = st->healthy_ms + (int64_t)p->soak_ms;
	for (size_t i = 0; i < st->ndecisions; i++) {
		int64_t at = st->decisions[i].time_ms + (int64_t)p->approval_timeout_ms;
		if (!st->decisions[i].reject && (!next || at < next))
			next = at;
	}
	return next;
}

/* ---- JSON ---- */

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return 0;
}

json_t *promo_state_to_json(const struct promo_state *st)
{
	json_t *gates = json_array(), *causes = json_array(), *decisions = json_array();
	for (int k = 0; k < PROMO_GATES; k++) {
		const struct promo_gate *g = &st->gates[k];
		json_array_append_new(gates, json_pack("{s:s, s:s, s:I, s:I, s:s}", "gate", gate_names[k],
						       "state", gate_state_names[g->state], "sinceMs",
						       (json_int_t)g->since_ms, "doneMs",
						       (json_int_t)g->done_ms, "reason", g->reason));
	}
	for (size_t i = 0; i < st->ncauses; i++)
		json_array_append_new(causes, json_string(st->causes[i]));
	for (size_t i = 0; i < st->ndecisions; i++) {
		const struct promo_decision *d = &st->decisions[i];
		json_array_append_new(decisions, json_pack("{s:s, s:s, s:I, s:s}", "actor", d->actor,
							   "decision", d->reject ? "reject" : "approve",
							   "timeMs", (json_int_t)d->time_ms, "comment",
							   d->comment));
	}
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:b, s:o, s:o, s:o}", "release",
			 st->release, "phase", promo_phase_name(st->phase), "reason", st->reason,
			 "createdMs", (json_int_t)st->created_ms, "healthyMs", (json_int_t)st->healthy_ms,
			 "run", (json_int_t)st->run, "requested", st->requested, "resetTold",
			 st->reset_told, "gates", gates, "causes", causes, "decisions", decisions);
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

void promo_state_from_json(struct promo_state *st, const json_t *j)
{
	size_t i;
	json_t *x;
	memset(st, 0, sizeof(*st));
	snprintf(st->release, sizeof(st->release), "%s", jstr(j, "release"));
	st->phase = (enum promo_phase)name_index(phase_names, NELEM(phase_names), jstr(j, "phase"));
	snprintf(st->reason, sizeof(st->reason), "%s", jstr(j, "reason"));
	st->created_ms = json_integer_value(json_object_get(j, "createdMs"));
	st->healthy_ms = json_integer_value(json_object_get(j, "healthyMs"));
	st->run = json_integer_value(json_object_get(j, "run"));
	st->requested = json_is_true(json_object_get(j, "requested"));
	st->reset_told = json_is_true(json_object_get(j, "resetTold"));
	json_array_foreach(json_object_get(j, "gates"), i, x) {
		int k = name_index(gate_names, NELEM(gate_names), jstr(x, "gate"));
		struct promo_gate *g = &st->gates[k];
		g->state = (enum promo_gate_state)name_index(gate_state_names, NELEM(gate_state_names),
							     jstr(x, "state"));
		g->since_ms = json_integer_value(json_object_get(x, "sinceMs"));
		g->done_ms = json_integer_value(json_object_get(x, "doneMs"));
		snprintf(g->reason, sizeof(g->reason), "%s", jstr(x, "reason"));
	}
	json_array_foreach(json_object_get(j, "causes"), i, x)
		promo_add_cause(st, json_string_value(x));
	json_array_foreach(json_object_get(j, "decisions"), i, x) {
		if (st->ndecisions == PROMO_DECISIONS_MAX || !*jstr(x, "actor"))
			continue;
		decision_add(st, jstr(x, "actor"), strcmp(jstr(x, "decision"), "reject") == 0,
			     jstr(x, "comment"), json_integer_value(json_object_get(x, "timeMs")));
	}
}
