/*
 * promotion: how one release moves into one environment, decided by a
 * pure function as the rollout is (rollout.h): given a promotion's state,
 * what the daemon observes (does the upstream app still serve the release
 * Healthy, how is the analysis run doing, is the sync window open) and
 * the time, it updates the state and returns actions (start or stop the
 * analysis run, apply the release, record an event). No I/O and no clock,
 * so every path is testable without processes or sleeps, and a daemon
 * that restarts reloads the state from the store and carries on.
 *
 * A *release* is an app's version (docs/internals/environments.md). A
 * promotion of release R of app A into environment E (whose Environment
 * says `promotion.from: U`) exists once A's stable revision in U became
 * Healthy with R while E's A does not run R; the engine creates it
 * (src/engine/promote.c). Its gates, in this order, each recorded with
 * its state and why:
 *
 *	soak       R Healthy upstream for promotion.soak without a break
 *	analysis   a run of promotion.analysis's templates against the
 *	           upstream app; Failed (or Error, Inconclusive) fails the
 *	           promotion: the release stops where it is
 *	approvals  promotion.approvals distinct approvals that have not
 *	           expired (approvalTimeout); one rejection ends it
 *	window     the environment's sync window is open (the daemon says;
 *	           every window is open until sync windows exist)
 *
 * A gate the environment does not ask for is Skipped. Once all passed,
 * with `automatic` (the default) or after `slipway promote`, the
 * promotion is Promoting: the daemon applies R (or commits it to git)
 * and reports with promo_applied: Promoted, or Failed with the reason.
 *
 * The upstream app must serve R Healthy until the apply: when it stops
 * (Degraded, a new rollout, a rollback), a running analysis is stopped
 * and the promotion goes back to its soak, which starts again once R is
 * Healthy again (event PromotionReset). Approvals stay: they are for R,
 * which has not changed. A newer release Healthy upstream supersedes the
 * promotion (promo_supersede): its approvals are void with it.
 *
 * Four eyes: who caused the release (the actor whose apply made R the
 * upstream's revision; whoever ran `slipway promote` for it) is one of
 * its *causes* and may not approve it. Decisions are one per actor.
 *
 * Promoted, Failed, Rejected and Superseded are final: nothing changes a
 * final promotion; `slipway promote` makes a new one for the release.
 */
#ifndef SW_ENV_PROMOTION_H
#define SW_ENV_PROMOTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "env.h"

#define PROMO_RELEASE_MAX 256     /* a release (version) longer is not promoted */
#define PROMO_ACTOR_MAX 96
#define PROMO_COMMENT_MAX 200
#define PROMO_CAUSES_MAX 8
#define PROMO_DECISIONS_MAX (ENV_APPROVALS_MAX + 1)

enum promo_phase {
	PROMO_PENDING,            /* its gates are under way */
	PROMO_READY,              /* every gate passed; waits for `slipway promote` */
	PROMO_PROMOTING,          /* the apply (or git commit) is under way */
	PROMO_PROMOTED,           /* final */
	PROMO_FAILED,             /* final: a gate or the apply failed */
	PROMO_REJECTED,           /* final: an approver said no */
	PROMO_SUPERSEDED,         /* final: a newer release came */
};

enum promo_gate_kind {
	PROMO_GATE_SOAK,
	PROMO_GATE_ANALYSIS,
	PROMO_GATE_APPROVALS,
	PROMO_GATE_WINDOW,
	PROMO_GATES,
};

enum promo_gate_state {
	PROMO_GATE_PENDING,       /* an earlier gate has not passed yet */
	PROMO_GATE_WAITING,       /* the gate the promotion waits for */
	PROMO_GATE_PASSED,
	PROMO_GATE_FAILED,
	PROMO_GATE_SKIPPED,       /* the environment does not ask for it */
};

struct promo_gate {
	enum promo_gate_state state;
	int64_t since_ms;         /* when it became the one waited for (0: never) */
	int64_t done_ms;          /* when it passed or failed (0: not yet) */
	char reason[240];
};

/* An approval or a rejection. */
struct promo_decision {
	char actor[PROMO_ACTOR_MAX];
	bool reject;
	int64_t time_ms;
	char comment[PROMO_COMMENT_MAX];
};

/* What the store keeps of one promotion; updated in place. */
struct promo_state {
	char release[PROMO_RELEASE_MAX];
	enum promo_phase phase;
	struct promo_gate gates[PROMO_GATES];
	int64_t created_ms;
	int64_t healthy_ms;       /* since when upstream serves the release Healthy; 0: not now */
	int64_t run;              /* the analysis run in flight: after ROLLOUT_RUN_START the
				   * daemon sets it to the run's id; 0: none */
	bool requested;           /* `slipway promote` asked: apply once the gates pass */
	bool reset_told;          /* PromotionReset recorded for the current break */
	char causes[PROMO_CAUSES_MAX][PROMO_ACTOR_MAX]; /* who may not approve it */
	size_t ncauses;
	struct promo_decision decisions[PROMO_DECISIONS_MAX]; /* approvals that count, and
				   * the rejection of a Rejected one */
	size_t ndecisions;
	char reason[320];         /* what it waits for, or how it ended */
};

/* What the daemon observes on each call. */
enum promo_run_phase {        /* the analysis run's, as measure.h orders them */
	PROMO_RUN_RUNNING,
	PROMO_RUN_SUCCESSFUL,
	PROMO_RUN_FAILED,
	PROMO_RUN_INCONCLUSIVE,
	PROMO_RUN_ERROR,
};

struct promo_levels {
	bool upstream_ok;         /* the upstream app's stable revision is the release, Healthy */
	const char *upstream_why; /* when not, why ("staging/hello is Progressing"); NULL: none */
	enum promo_run_phase run_phase; /* of st->run (Running when there is none) */
	const char *run_reason;   /* the run's reason, which metric decided; NULL: none */
	bool window_open;         /* the sync window allows the apply now */
	const char *window_why;   /* when not, until when ("denied until ..."); NULL: none */
};

enum promo_action_kind {
	PROMO_RUN_START,          /* start a run of policy->analysis; set st->run to its id */
	PROMO_RUN_STOP,           /* stop (forget) run `run`: done, or no longer wanted */
	PROMO_APPLY,              /* apply the release (or commit it); report with promo_applied */
	PROMO_EVENT,              /* record event `event` with `message` */
};

struct promo_action {
	enum promo_action_kind kind;
	int64_t run;
	const char *event;        /* "PromotionGatePassed", "Promoted", ... */
	char message[400];
};

#define PROMO_MAX_ACTIONS 16

struct promo_actions {
	struct promo_action a[PROMO_MAX_ACTIONS];
	size_t n;
};

/* A new promotion of `release` (cut at PROMO_RELEASE_MAX - 1), caused by
 * `author` (who made it the upstream's revision; NULL or "": nobody
 * known). Phase Pending, every gate Pending. */
void promo_init(struct promo_state *st, const char *release, const char *author, int64_t now_ms);

/*
 * One decision, level-triggered: call it after anything the levels
 * depend on changed, and when promo_next_ms comes. Updates st, appends
 * actions to out, returns true when st changed (persist it). A final or
 * Promoting promotion does not change.
 */
bool promo_reconcile(struct promo_state *st, const struct env_promotion *policy,
		     const struct promo_levels *lv, int64_t now_ms, struct promo_actions *out);

/*
 * The decisions of people. Each returns 0, or -1 with msg saying why it
 * does not apply ("alice caused release 1.2.0: someone else must approve
 * it (four eyes)"), st unchanged. Call promo_reconcile after a success.
 *
 * promo_approve / promo_reject: one decision per actor; a cause may not
 * approve (it may reject: stopping a release is always allowed). A
 * rejection ends the promotion (Rejected). Not for a final or Promoting
 * one, nor (approve) one that needs no approvals.
 */
int promo_approve(struct promo_state *st, const struct env_promotion *policy, const char *actor,
		  const char *comment, int64_t now_ms, char *msg, size_t size);
int promo_reject(struct promo_state *st, const char *actor, const char *comment, int64_t now_ms,
		 struct promo_actions *out, char *msg, size_t size);
/* `slipway promote`: apply once the gates pass (also when automatic is
 * false); the actor becomes a cause, and an approval of theirs is void.
 * Not for a final or Promoting one (the engine starts a new promotion
 * for a final one). */
int promo_request(struct promo_state *st, const char *actor, char *msg, size_t size);

/* The daemon's report of the apply a PROMO_APPLY asked for: Promoted
 * (detail says what: "revision 4", "commit 1a2b3c4"), or Failed with the
 * reason. Nothing unless Promoting. */
void promo_applied(struct promo_state *st, bool ok, const char *detail, int64_t now_ms,
		   struct promo_actions *out);

/* A newer release is Healthy upstream: a promotion that is not final or
 * Promoting ends as Superseded (its run stopped, its approvals void).
 * Returns -1 (nothing changed) for a Promoting one: supersede it once
 * its apply is reported. */
int promo_supersede(struct promo_state *st, const char *newer, int64_t now_ms,
		    struct promo_actions *out);

/* When the next decision is due by time alone (the soak's end, the first
 * approval to expire), wall-clock ms; 0 when none is. */
int64_t promo_next_ms(const struct promo_state *st, const struct env_promotion *policy);

/* Whether the phase is final. */
bool promo_final(enum promo_phase p);
/* Approvals that count now (not rejections). */
size_t promo_approvals(const struct promo_state *st);
/* Adds a cause (nothing for NULL, "", one there already, or a full list). */
void promo_add_cause(struct promo_state *st, const char *actor);
/* Whether actor is one of the release's causes. */
bool promo_is_cause(const struct promo_state *st, const char *actor);

/* "Pending", "Ready", "Promoting", "Promoted", "Failed", "Rejected",
 * "Superseded"; "soak", "analysis", "approvals", "window"; "Pending",
 * "Waiting", "Passed", "Failed", "Skipped". */
const char *promo_phase_name(enum promo_phase p);
const char *promo_gate_name(enum promo_gate_kind g);
const char *promo_gate_state_name(enum promo_gate_state s);

/* The state as JSON for the store and the API, and back (missing or
 * unknown fields: defaults). */
json_t *promo_state_to_json(const struct promo_state *st);
void promo_state_from_json(struct promo_state *st, const json_t *j);

#endif
