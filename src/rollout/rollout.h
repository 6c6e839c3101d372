/*
 * rollout: decides, for one app, what should happen next. A pure function:
 * given the app's rollout state, the instances that exist, the analysis
 * runs it asked for and the time, it updates the state and returns actions
 * (start an instance of revision R, stop instance X, start or stop an
 * analysis run, record an event). It does no I/O and reads no clock, so
 * every path is testable without processes or sleeps, and after a daemon
 * crash the state reloaded from the store is all it needs.
 *
 * It is level-triggered: the daemon calls rollout_reconcile after every
 * change it observes (instance ready, exited, stopped, an apply, an
 * analysis result, a timer) and executes the actions; calling it again with
 * nothing changed yields no actions.
 *
 * Strategies (spec.strategy of the desired revision):
 *
 * rolling (default; also every first deploy, and `undo`): with maxSurge 1
 *	and maxUnavailable 0 a new instance is started, and only once it is
 *	ready is an old one stopped. Traffic follows ready instances.
 * canary: the stable revision keeps full size; the canary runs
 *	ceil(replicas x weight / 100) instances (at least 1, or
 *	canaryReplicas) and gets `weight` of new requests. Steps: setWeight
 *	(done once the canary's instances for that weight are ready), pause
 *	with a duration, pause {} (Paused until promoted), analysis (waits
 *	for its run: success → next step, failure → abort, inconclusive →
 *	Paused), setHeaderRoute. A background analysis runs for the whole
 *	rollout. After the last step the canary is scaled to full size, gets
 *	100%, becomes stable, and the old instances drain and stop.
 * blueGreen: the new revision starts at full size as a preview (reachable
 *	through the header `X-Slipway-Preview: true` and previewListen)
 *	while stable keeps 100%; prePromotionAnalysis must pass; then the
 *	switch happens after autoPromotion or on `promote`;
 *	postPromotionAnalysis failing switches back (abort); after
 *	scaleDownDelay the new revision is stable and the old one stops.
 *
 * progressDeadline bounds the time a rollout waits for wanted instances
 * to become ready without one more becoming ready; time in a pause, an
 * analysis or with every wanted instance ready does not count.
 *
 * Abort (a failed analysis, no progress within progressDeadline, or the
 * operator) sets the new revision's weight to 0 at once, stops its
 * analysis runs and instances, keeps stable at full size, and leaves the
 * app Degraded with the reason until a new apply, retry or undo.
 *
 * Hooks (spec.hooks of the desired revision, docs/hooks.md) are jobs the
 * daemon runs when asked (ROLLOUT_HOOK_START) and reports like analysis
 * runs (by id, in `runs`). Each list runs in document order, one job at
 * a time, and a failed job ends its list:
 *
 * preDeploy runs first, for every new desired revision (the first deploy
 *	included). Until the whole list succeeded no instance of the new
 *	revision is started: stable is kept at full size and serves every
 *	request, and the wait does not count against progressDeadline. A
 *	failed preDeploy job aborts the rollout (nothing new ever served).
 * postDeploy runs once the revision is Healthy; a failure is recorded
 *	(event, reason) and the app stays Healthy: it is serving already.
 * onAbort runs after the rollout of the revision was aborted (also a
 *	forced abort, also after a failed preDeploy).
 *
 * Migrations: a preDeploy job with migration.compatibility `contract`
 * that succeeded makes every revision older than the desired one
 * unsupported by the schema (schema_min). An abort that would send
 * traffic back to such a revision (stable < schema_min) freezes instead:
 * phase Frozen, the analysis runs stop, no instance is started or
 * stopped and the traffic split stays where it was, with the reason and
 * a Frozen event. `rollout abort --force` rolls back anyway, `rollout
 * promote --full` goes forward, a new apply (a fix) rolls out from there.
 * An `expand` migration changes nothing: an abort rolls back as always.
 * A revision that becomes Healthy is supported again (schema_min never
 * exceeds stable after that).
 *
 * Dependencies (spec.dependsOn, docs/documents.md): a desired revision the
 * daemon marks with rollout_wait_for_dependencies does not start until
 * every app it depends on is Healthy at its newest revision. The daemon
 * looks at those apps and says, in params.deps_pending, which are not
 * ("db (Progressing), cache (not found)"); the rollout only decides. Until
 * then it is held like preDeploy (which comes after it): no instance of
 * the new revision starts, stable keeps full size and every request, the
 * wait does not count against progressDeadline, the reason says what it
 * waits for, and the event WaitingForDependencies is recorded once. Then
 * it starts by itself (event DependenciesReady, naming them), with the
 * deadline and the first step from then. `promote` starts it without
 * waiting (DependenciesSkipped; --full skips the steps too), `pause` holds
 * it even once they are Healthy, `abort` cancels it (Degraded, stable
 * keeps serving, nothing new ever ran); a later revision that waits, or
 * one that does not (a rollback, undo), replaces the wait.
 *
 * Sync windows (an Environment's spec.windows, docs/environments.md): a
 * desired revision the daemon marks with rollout_wait_for_window does not
 * start while params.window_denied says the window is closed ("sync
 * window: denied until 2026-12-07 08:00 Europe/Berlin (deny ...)"). It is
 * the gate after dependencies and before preDeploy (a migration is a
 * change too), held the same way: stable keeps full size and every
 * request, the wait does not count against progressDeadline, the reason
 * says until when, and the event WaitingForWindow is recorded once; then
 * it starts by itself (WindowOpen), with the deadline and the first step
 * from then. Unlike dependencies, `promote` does not pass a window (an
 * override needs a reason, audited by the daemon):
 * rollout_window_override does. `pause` holds it, `abort` cancels it; a
 * rollback, undo or a later revision that does not wait replaces it.
 */
#ifndef SW_ROLLOUT_H
#define SW_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "spec/spec.h"

enum rollout_phase {
	ROLLOUT_PROGRESSING,
	ROLLOUT_PAUSED,
	ROLLOUT_HEALTHY,
	ROLLOUT_DEGRADED,
	ROLLOUT_FROZEN,           /* an abort held back: a contract migration ran */
	ROLLOUT_WAITING,          /* the app's phase only (engine_app_phase): Progressing,
				   * held for its dependencies or a sync window; never a
				   * rollout state's */
};

/* "Progressing", "Paused", "Healthy", "Degraded", "Frozen", "Waiting" */
const char *rollout_phase_name(enum rollout_phase p);
/* Inverse; unknown names give ROLLOUT_PROGRESSING. */
enum rollout_phase rollout_phase_parse(const char *name);

/* What the store keeps for the app's rollout; updated in place. */
struct rollout_state {
	int64_t desired;          /* revision the user asked for */
	int64_t stable;           /* last revision fully rolled out; 0 = none */
	int64_t failed;           /* revision aborted; 0 = none */
	enum rollout_phase phase;
	char reason[320];
	int64_t progress_ms;      /* since when it waits for instances without progress;
				   * 0 = not waiting (all wanted ready, or Paused) */
	uint32_t progress_ready;  /* ready new instances at that time */
	/* canary and blue/green */
	uint32_t step;            /* canary: current step; == nsteps: promoting */
	int64_t step_ms;          /* when the current step or stage began */
	uint32_t weight;          /* the desired revision's share, 0..100 */
	int32_t header_step;      /* canary step whose setHeaderRoute is on; -1 none */
	int64_t step_run;         /* analysis run of the current step; 0 none */
	int64_t bg_run;           /* background (canary) / post-promotion (blue/green) run */
	int64_t pre_run;          /* blue/green pre-promotion run */
	int64_t next_run;         /* last run id handed out */
	bool waiting;             /* Paused until promoted (pause {}, inconclusive) */
	bool user_paused;         /* `rollout pause` */
	bool promote;             /* `rollout promote`: take the next step now */
	bool promote_full;        /* `rollout promote --full`: skip the rest */
	bool fast;                /* `rollout undo`: no steps, no analysis, full size */
	bool promoted;            /* blue/green: traffic switched */
	int64_t ready_ms;         /* blue/green: preview fully ready since */
	/* hooks */
	int64_t hook_run;         /* the hook job in flight (id from next_run); 0 none */
	uint32_t hook_kind;       /* enum spec_hook_kind of the list being walked */
	uint32_t hook_index;      /* its job in flight or next */
	uint32_t hooks_done;      /* bit (1 << kind): that list has finished */
	int64_t schema_min;       /* oldest revision the schema supports (contract); 0 = any */
	/* operator commands that change no document (rollout_restart, rollout_scale) */
	int64_t run_base;         /* runs with ids above it are of the current rollout */
	int64_t restart_ms;       /* restart: instances created before it are replaced; 0 none */
	bool scaled;              /* `scale`: replicas overrides the documents' */
	uint32_t replicas;        /* with scaled: instances wanted, 0..ROLLOUT_MAX_REPLICAS */
	/* dependencies */
	bool deps_wait;           /* desired waits until its dependencies are Healthy */
	bool deps_told;           /* WaitingForDependencies is recorded for it */
	/* sync windows */
	bool window_wait;         /* desired waits until its environment's windows are open */
	bool window_told;         /* WaitingForWindow is recorded for it: it was held */
};

/* The parts of the revisions' specs the decision needs. */
struct rollout_params {
	uint32_t desired_replicas;  /* replicas of the desired revision */
	uint32_t stable_replicas;   /* replicas of the stable revision (0 if none) */
	uint32_t max_surge;         /* rolling: extra instances allowed */
	uint32_t max_unavailable;   /* rolling: ready instances that may be missing */
	uint64_t progress_deadline_ms;
	const struct spec_strategy *strategy; /* desired revision's; NULL = rolling */
	const struct spec_hooks *hooks; /* desired revision's; NULL = none */
	char *const *deps;          /* desired revision's dependsOn, for messages */
	size_t ndeps;
	const char *deps_pending;   /* those not Healthy at their newest revision, with
				     * why: "db (Progressing), cache (not found)"; NULL:
				     * every one is (read only while deps_wait) */
	const char *window_denied;  /* why the sync window keeps the desired revision now
				     * ("sync window: denied until ..."); NULL: open (read
				     * only while window_wait) */
};

struct rollout_instance {
	const char *id;
	int64_t revision;
	bool ready;
	bool stopping;            /* on its way out; ignored in counts */
	int64_t created_ms;       /* newer instances are stopped first on scale-down */
	const char *failure;      /* why it is not running, when its process ended
				   * ("exited with status 2, 3 restarts"); NULL if not;
				   * only quoted in reasons */
	bool unstartable;         /* it failed to start in a way retrying cannot fix
				   * (an env value no key opens): the rollout of its
				   * revision aborts at once, not at progressDeadline */
};

enum rollout_run_kind {
	ROLLOUT_RUN_STEP,         /* a canary analysis step */
	ROLLOUT_RUN_BACKGROUND,   /* canary.analysis, for the whole rollout */
	ROLLOUT_RUN_PRE,          /* blueGreen.prePromotionAnalysis */
	ROLLOUT_RUN_POST,         /* blueGreen.postPromotionAnalysis */
};

enum rollout_run_phase {
	ROLLOUT_RUN_RUNNING,
	ROLLOUT_RUN_SUCCESSFUL,
	ROLLOUT_RUN_FAILED,
	ROLLOUT_RUN_INCONCLUSIVE,
	ROLLOUT_RUN_ERROR,
};

/* What the daemon reports of an analysis run or hook job it was asked to
 * start. A run the daemon does not report is taken as still running. */
struct rollout_run_status {
	int64_t id;
	enum rollout_run_phase phase;
	const char *reason;       /* which metric decided, with value and threshold */
};

enum rollout_action_kind {
	ROLLOUT_START,            /* start one instance of `revision` */
	ROLLOUT_STOP,             /* stop instance `id` */
	ROLLOUT_EVENT,            /* record event `event` with `message` */
	ROLLOUT_RUN_START,        /* start analysis run `run` of `run_kind` for `ref` */
	ROLLOUT_RUN_STOP,         /* stop analysis run `run` (its result no longer matters) */
	ROLLOUT_HOOK_START,       /* run hook job `run`: `hook` of list `hook_kind` of `revision`;
				   * report it in `runs` (Running, Successful or Failed
				   * with the reason); a job the state no longer names
				   * (hook_run) is stopped by the daemon */
};

struct rollout_action {
	enum rollout_action_kind kind;
	int64_t revision;
	const char *id;           /* points into the instances passed in */
	const char *event;        /* "Progressing", "Healthy", "Degraded", "Step", ... */
	char message[320];
	int64_t run;
	enum rollout_run_kind run_kind;
	const struct spec_analysis_ref *ref; /* points into params.strategy */
	enum spec_hook_kind hook_kind;
	uint32_t hook_index;
	const struct spec_hook *hook; /* points into params.hooks */
};

#define ROLLOUT_MAX_ACTIONS 128

struct rollout_actions {
	struct rollout_action a[ROLLOUT_MAX_ACTIONS];
	size_t n;
};

/*
 * Marks a new desired revision (an apply or a rollback): phase
 * Progressing, progress clock restarted, steps from the start.
 */
void rollout_set_desired(struct rollout_state *st, int64_t revision, int64_t now_ms,
			 const char *why);

/*
 * Makes the desired revision wait for its dependencies (above), after
 * rollout_set_desired or rollout_retry: the daemon calls it for a new
 * revision of an app with dependsOn, except for one that changes only
 * replicas. Nothing when desired is stable (nothing to start).
 */
void rollout_wait_for_dependencies(struct rollout_state *st);

/* True while the rollout of the desired revision is held for its
 * dependencies (the app's phase is then Waiting). */
bool rollout_waiting_for_dependencies(const struct rollout_state *st);

/*
 * Makes the desired revision wait for its environment's sync windows
 * (above), after rollout_set_desired or rollout_retry: the daemon calls
 * it for a new revision of an app in an environment with windows, except
 * for one that changes only replicas. Nothing when desired is stable.
 */
void rollout_wait_for_window(struct rollout_state *st);

/* True while the desired revision waits for a sync window: marked and
 * not started yet (it may be open: the next reconcile starts it). */
bool rollout_waiting_for_window(const struct rollout_state *st);

/* True while a closed window holds it (WaitingForWindow recorded). */
bool rollout_held_by_window(const struct rollout_state *st);

/*
 * `slipway rollout override`: the desired revision starts without waiting
 * for its window (at once, or once its dependencies are Healthy). -1 with
 * msg when it does not wait for one. The caller records who and why.
 */
int rollout_window_override(struct rollout_state *st, int64_t now_ms, char *msg, size_t size);

/*
 * One decision. Updates `st`; appends actions to `out`. Returns true when
 * `st` changed (the caller persists it).
 */
bool rollout_reconcile(struct rollout_state *st, const struct rollout_params *p,
		       const struct rollout_instance *insts, size_t ninsts,
		       const struct rollout_run_status *runs, size_t nruns, int64_t now_ms,
		       struct rollout_actions *out);

/* The revision instances converge to when nothing progressive is going
 * on: desired, or stable after an abort (0 when nothing should run). */
int64_t rollout_target(const struct rollout_state *st);

/*
 * Operator commands. Each returns 0, or -1 with `msg` saying why it does
 * not apply now (e.g. "hello is Healthy: nothing to promote"). None leaves
 * a rollout without a way out: Paused → promote, resume, abort;
 * Degraded → apply, retry, undo; Progressing → pause, abort, promote --full;
 * Frozen → abort --force, promote --full, apply, undo.
 */
int rollout_promote(struct rollout_state *st, bool full, char *msg, size_t size);
/* Abort; after a contract migration it freezes instead unless `force`
 * (Frozen is aborted only with force). */
int rollout_abort(struct rollout_state *st, int64_t now_ms, const char *why, bool force,
		  char *msg, size_t size);
int rollout_pause(struct rollout_state *st, char *msg, size_t size);
int rollout_resume(struct rollout_state *st, char *msg, size_t size);
int rollout_retry(struct rollout_state *st, int64_t now_ms, char *msg, size_t size);
/* Goes to `revision` the fast way: no steps, no analysis, full size at once. */
void rollout_undo(struct rollout_state *st, int64_t revision, int64_t now_ms, const char *why);

/*
 * Restart (`slipway rollout restart`, like `kubectl rollout restart`): the
 * revision that serves is not changed; every instance of it created before
 * now_ms is replaced, the rolling way whatever the strategy (the code is
 * the one already rolled out and judged: no steps, no analysis): with
 * maxSurge 1 / maxUnavailable 0 a new instance is started and only once
 * it is ready is an old one stopped. Phase Progressing while it lasts,
 * Healthy with event "Restarted" once every instance is new and ready.
 * `rollout pause` holds it, `resume` continues. No ready new instance
 * within progressDeadline: the restart stops (event "RestartFailed"), the
 * new instances that are not ready are stopped, the old ones keep serving
 * and the app is Healthy with the reason. Applies only to a Healthy
 * rollout (desired == stable); a new desired revision cancels it.
 */
int rollout_restart(struct rollout_state *st, int64_t now_ms, char *msg, size_t size);

/*
 * Scale (`slipway scale APP N`, like `kubectl scale`): N instances of the
 * revision that serves, at once, without a new revision or rollout
 * (0..ROLLOUT_MAX_REPLICAS; 0 stops every instance). A Healthy app is
 * Progressing until they are all ready (none is stopped before, since the
 * existing ones are of the same revision), then Healthy. Refused while a rollout
 * is under way (Progressing or Paused towards a new revision, or Frozen):
 * the rollout's steps size the instances then. It lasts until a new desired
 * revision (an apply of a changed document, a rollback, undo or retry):
 * that revision's document says how many again.
 */
#define ROLLOUT_MAX_REPLICAS 1000
int rollout_scale(struct rollout_state *st, uint32_t replicas, char *msg, size_t size);

/* The instances wanted of a revision whose document says spec_replicas:
 * the scale when there is one, else spec_replicas. */
uint32_t rollout_replicas(const struct rollout_state *st, uint32_t spec_replicas);

/* How new requests are split while the state is what it is. */
struct rollout_traffic {
	bool explicit_weights;    /* false: in proportion to ready instances */
	int64_t stable;           /* revision getting 100 - canary_weight */
	int64_t canary;           /* revision getting canary_weight */
	uint32_t canary_weight;
	const struct spec_header_match *header; /* header route to `canary`, or NULL */
	const char *preview_listen; /* blue/green preview address, or NULL */
};

void rollout_traffic(const struct rollout_state *st, const struct rollout_params *p,
		     struct rollout_traffic *out);

/*
 * Route weights for revision groups revs[0..n) with ready[i] instances in
 * rotation: the traffic split, with the share of a group that has no
 * ready instance given to the others, scaled to sum to exactly 100 (all 0
 * only when nothing is ready). Never sends traffic to an empty group while
 * another has ready instances.
 */
void rollout_route_weights(const struct rollout_traffic *t, const int64_t *revs,
			   const uint32_t *ready, size_t n, uint32_t *out);

/* The state as JSON for the store, and back (missing fields = defaults). */
json_t *rollout_state_to_json(const struct rollout_state *st);
void rollout_state_from_json(struct rollout_state *st, const json_t *j);

/* The header that reaches a blue/green preview: X-Slipway-Preview: true */
extern const struct spec_header_match rollout_preview_header;

#endif
