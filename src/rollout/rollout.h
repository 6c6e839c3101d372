/*
 * rollout: decides, for one app, what should happen next. A pure function:
 * given the app's rollout state, the instances that exist and the time, it
 * updates the state and returns actions (start an instance of revision R,
 * stop instance X, record an event). It does no I/O and reads no clock, so
 * every path is testable without processes or sleeps, and after a daemon
 * crash the state reloaded from the store is all it needs.
 *
 * It is level-triggered: the daemon calls rollout_reconcile after every
 * change it observes (instance ready, exited, stopped, an apply, a timer)
 * and executes the actions; calling it again with nothing changed yields no
 * actions.
 *
 * This strategy is the rolling update: with maxSurge 1 and
 * maxUnavailable 0 (the defaults) a new instance is started, and only once
 * it is ready is an old one stopped. When the new revision makes no
 * progress (no new instance became ready) for progressDeadline the update
 * is aborted: phase Degraded, the new instances are stopped and the stable
 * revision keeps (or goes back to) full size.
 */
#ifndef SW_ROLLOUT_H
#define SW_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rollout_phase {
	ROLLOUT_PROGRESSING,
	ROLLOUT_HEALTHY,
	ROLLOUT_DEGRADED,
};

/* "Progressing", "Healthy", "Degraded" */
const char *rollout_phase_name(enum rollout_phase p);
/* Inverse; unknown names give ROLLOUT_PROGRESSING. */
enum rollout_phase rollout_phase_parse(const char *name);

/* What the store keeps for the app's rollout; updated in place. */
struct rollout_state {
	int64_t desired;          /* revision the user asked for */
	int64_t stable;           /* last revision fully rolled out; 0 = none */
	int64_t failed;           /* revision aborted by the deadline; 0 = none */
	enum rollout_phase phase;
	char reason[320];
	int64_t progress_ms;      /* when the rollout last made progress */
	uint32_t progress_ready;  /* ready new instances at that time */
};

/* The parts of the revisions' specs the decision needs. */
struct rollout_params {
	uint32_t desired_replicas;  /* replicas of the desired revision */
	uint32_t stable_replicas;   /* replicas of the stable revision (0 if none) */
	uint32_t max_surge;         /* extra instances allowed during an update */
	uint32_t max_unavailable;   /* ready instances that may be missing */
	uint64_t progress_deadline_ms;
};

struct rollout_instance {
	const char *id;
	int64_t revision;
	bool ready;
	bool stopping;            /* runtime_stop was called; ignored in counts */
	int64_t created_ms;       /* newer instances are stopped first on scale-down */
};

enum rollout_action_kind {
	ROLLOUT_START,            /* start one instance of `revision` */
	ROLLOUT_STOP,             /* stop instance `id` */
	ROLLOUT_EVENT,            /* record event `event` with `message` */
};

struct rollout_action {
	enum rollout_action_kind kind;
	int64_t revision;
	const char *id;           /* points into the instances passed in */
	const char *event;        /* "Progressing", "Healthy", "Degraded", ... */
	char message[320];
};

#define ROLLOUT_MAX_ACTIONS 64

struct rollout_actions {
	struct rollout_action a[ROLLOUT_MAX_ACTIONS];
	size_t n;
};

/*
 * Marks a new desired revision (an apply or a rollback): phase
 * Progressing, progress clock restarted. `now_ms` is wall-clock ms.
 */
void rollout_set_desired(struct rollout_state *st, int64_t revision, int64_t now_ms,
			 const char *why);

/*
 * One decision. Updates `st`; appends actions to `out`. Returns true when
 * `st` changed (the caller persists it).
 */
bool rollout_reconcile(struct rollout_state *st, const struct rollout_params *p,
		       const struct rollout_instance *insts, size_t ninsts, int64_t now_ms,
		       struct rollout_actions *out);

/* The revision instances should converge to: desired, or stable after an
 * abort (0 when nothing should run). */
int64_t rollout_target(const struct rollout_state *st);

#endif
