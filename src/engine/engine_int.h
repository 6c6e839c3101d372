/* engine internals shared by its files: engine.c (apps, reconcile,
 * instances, routes), load.c (state after a restart), usecases.c (apply,
 * rollback, delete, rollout commands). Nothing outside src/engine includes
 * it. */
#ifndef SW_ENGINE_INT_H
#define SW_ENGINE_INT_H

#include "engine.h"
#include "store/store.h"

struct engine_spec_cache {
	int64_t revision;
	struct spec_app *spec;
	uint64_t used;                /* engine->clock at last use, for eviction */
};

struct engine_sub {
	uint64_t id;
	engine_event_cb cb;
	void *data;
};

struct engine_watcher {
	char *kind;
	engine_object_cb cb;
	void *data;
};

struct engine {
	struct engine_config cfg;
	char *state_dir;
	struct runtime *rt;
	struct analysis_runner *runner;
	struct httpc *httpc;          /* borrowed: the daemon's */
	struct traffic *traffic;
	struct sw_map apps;           /* live apps by name */
	struct engine_app **dying;    /* deleted, waiting for instances to stop */
	size_t ndying;
	struct engine_app **dirty;    /* to reconcile on the next kick */
	size_t ndirty;
	bool table_dirty;             /* some app's routes changed */
	json_t *table;                /* the route table last derived */
	uv_timer_t tick;              /* time-based work (pauses, deadlines) */
	uv_timer_t kick;              /* reconcile of the dirty apps */
	uv_timer_t drain;             /* checks draining instances while there are some */
	uv_timer_t stats;             /* refreshes the stats snapshot */
	uint64_t drain_call;          /* traffic call in flight for the drain check */
	uint64_t stats_call;
	json_t *stats_snapshot;       /* /v1/stats?window=10, for groups */
	uint64_t stats_asked_ms;      /* last time someone read the snapshot */
	uint64_t stats_ms;            /* when it was read from the data plane */
	struct engine_app *pending_app; /* app of the instance runtime_start is creating */
	struct engine_sub *subs;
	size_t nsubs;
	uint64_t next_sub;
	uint64_t clock;               /* spec cache use counter */
	bool started, stopping;
	int handles;                  /* timers still to close */
	unsigned char revision_key[32]; /* HMAC key of revision hashes (revhash.c) */
	uv_timer_t retention;         /* trims the store's history (events.c) */
	struct store_retention retain;
	struct engine_watcher *watch; /* objects.c */
	size_t nwatch;
	struct sw_map envs;           /* stored Environment documents by name (struct
					 env_spec *; environments.c) */
	uv_timer_t windows;           /* due when a held app's window may open (windows.c) */
	int64_t windows_due_ms;       /* wall clock it is due at */
	uint64_t window_gen;          /* counts changes of environments' windows */
	struct sw_map env_keys;       /* environment -> its age keys (keys.c), built when asked */
	/* promote.c */
	struct sw_map promos;         /* the newest promotion of each target app, by key */
	uv_timer_t promo_timer;       /* evaluates them: due at once after a change, else
					 at the first soak's end or approval's expiry */
	char **promo_keys;            /* upstream apps changed since the last evaluation */
	size_t npromo_keys;
	bool promo_started;
	struct sw_map remotes;        /* what the upstreams on other hosts say, by target key */
	uv_timer_t remote_timer;      /* asks them again every ENGINE_REMOTE_POLL_MS */
	engine_promotion_writer_fn promo_writer;
	void *promo_writer_data;
};

struct engine_app *engine_app_add(struct engine *e, const char *name);
void engine_app_free(struct engine *e, struct engine_app *a);
/* Reads what engine_app_save keeps beside the rollout state (aborted
 * revisions, stopped instances) from the stored rollout JSON. */
void engine_app_extra_from_json(struct engine_app *a, const json_t *rj);
/* Persists a's rollout state. */
int engine_app_save(struct engine *e, struct engine_app *a, struct sw_err *err);
/* Sets the store's lock wait for a use case (true) or the engine's own
 * writes (false). */
void engine_store_wait(struct engine *e, bool user);
/* Hands an event already stored to the subscribers. */
void engine_notify(struct engine *e, const struct engine_event *ev);
/* Reconciles the apps marked dirty now rather than on the next loop
 * iteration, so that a command's answer shows the state after it (what
 * the next iteration would do anyway; nothing when not started). */
void engine_reconcile_now(struct engine *e);
/* Marks a for reconcile on the next loop iteration. */
void engine_kick(struct engine *e, struct engine_app *a);
/* Records who made a's desired revision the desired one (saved with the
 * next engine_app_save). */
void engine_app_set_actor(struct engine_app *a, const char *actor);
/* Stops the app's instances and forgets it (its store rows are gone). */
void engine_app_forget(struct engine *e, struct engine_app *a);
void engine_inst_attach(struct engine_app *a, struct runtime_instance *inst, int64_t created_ms);
void engine_inst_save(struct engine *e, struct engine_inst *m, const char *state);
void engine_drain_start(struct engine *e);
/* Analysis runs (engine.c). */
void engine_run_start(struct engine *e, struct engine_app *a, int64_t id,
		      enum rollout_run_kind kind, int64_t revision,
		      const struct spec_analysis_ref *ref, bool resumed);
void engine_runs_resume(struct engine *e, struct engine_app *a);

/* Hook jobs (hooks.c). */
void engine_hook_start(struct engine *e, struct engine_app *a, const struct rollout_action *act);
/* Appends the status of every job to out (room for a->njobs); returns how many. */
size_t engine_hooks_status(struct engine_app *a, struct rollout_run_status *out);
/* Stops and forgets the jobs the rollout state no longer names. */
void engine_hooks_prune(struct engine_app *a);
/* Stops and forgets every job of the app. */
void engine_hooks_free(struct engine_app *a);
/* After a restart: runs again the job the stored state names. */
void engine_hooks_resume(struct engine *e, struct engine_app *a);

/* revhash.c: loads or creates DIR/revision.key and rehashes the stored
 * revisions when they were made with another key (or none). */
int engine_revision_key_init(struct engine *e, struct sw_err *err);
/* The revision hash of canonical spec text: 64 hex digits of HMAC-SHA-256. */
void engine_revision_hash(struct engine *e, const char *text, char out[65]);

/* events.c: the retention timer. */
void engine_retention_start(struct engine *e);

/* objects.c */
/* What an apply changed of one object, told to its watcher after the commit. */
struct engine_object_change {
	const char *kind;             /* NULL: nothing changed */
	const char *name;             /* borrowed from the set */
	json_t *json;
	char *owner;
	const char *event_kind;
	char why[300];
	int64_t event_id;
};
/* Stores one document of a module's kind inside the apply's transaction,
 * adds its result to res, and says in *change what to tell after it. */
int engine_record_object(struct engine *e, const struct spec_doc *d, const char *source,
			 const struct engine_origin *origin, const char *actor, bool dry_run,
			 struct engine_results *res, struct engine_object_change *change,
			 struct sw_err *err);
void engine_object_change_release(struct engine_object_change *c);
void engine_watch_notify(struct engine *e, const char *kind, const char *name, const json_t *json,
			 const char *owner);
void engine_watch_release(struct engine *e);
void engine_kind_word(char *out, size_t size, const char *kind);
/* usecases.c: whether the documents of an apply hold the app `key`
 * (its current revision is being replaced). */
bool engine_docs_apply(const struct engine_doc *docs, size_t ndocs, const char *key);
/* usecases.c: adds a result; takes live and merged (may be NULL). */
void engine_result_add(struct engine_results *res, const char *kind, const char *name,
		int64_t revision, const char *result, json_t *live, json_t *merged);

/* depends.c */
/* Refuses (SW_EINVAL) an apply whose dependsOn closes a cycle, among its
 * apps or through the apps there already (their desired revision's):
 * "app.yaml:7:5: dependsOn: cycle hello -> db -> hello (...)". */
int engine_depends_check(struct engine *e, const struct engine_doc *docs, size_t ndocs,
			 struct sw_err *err);
/* After rollout_set_desired/rollout_retry of revision sa of app a (NULL:
 * a new app): makes it wait for sa's dependsOn, unless it has none or
 * changes only replicas of what serves. */
void engine_depends_hold(struct engine *e, struct engine_app *a, const struct spec_app *sa,
			 struct rollout_state *st);
/* The dependencies of spec that are not Healthy at their newest revision,
 * as params.deps_pending has them, in out ("db (Progressing), cache (not
 * found)", cut with " and N more"); NULL when there are none. */
const char *engine_depends_pending(struct engine *e, const struct spec_app *spec, char *out,
				   size_t size);
/* After a reconcile of a: when whether it is Healthy changed, the apps
 * waiting for it are reconciled on the next kick. */
void engine_depends_changed(struct engine *e, struct engine_app *a);

/* Replaces the app's rollout state after the store has it, and marks it
 * for reconcile (usecases.c); SW_EBUSY or -1 with err, nothing changed. */
int engine_commit_state(struct engine *e, struct engine_app *a, const struct rollout_state *st,
			struct sw_err *err);
/* Whether sa differs from the revision serving a in replicas only (a
 * change of scale, which waits for nothing; depends.c). */
bool engine_replicas_only(struct engine *e, struct engine_app *a, const struct spec_app *sa);

/* windows.c */
/* The timer (engine_new). */
void engine_windows_init(struct engine *e);
/* After rollout_set_desired/rollout_retry of revision sa of app a (NULL:
 * new) in environment env (NULL: none): makes it wait for env's windows
 * when it has some and the revision changes more than replicas; with
 * override (a reason) it does not, and returns true: the caller records
 * WindowOverridden. */
bool engine_window_hold(struct engine *e, struct engine_app *a, const struct spec_app *sa,
			const struct env_spec *env, struct rollout_state *st, const char *override);
/* Records WindowOverridden for revision of app `key`. */
void engine_window_overridden(struct engine *e, const char *key, int64_t revision,
			      const char *actor, const char *reason);
/* params.window_denied for a (cached until the answer may change). */
const char *engine_window_denied(struct engine *e, struct engine_app *a);
/* After a reconcile of a: arms the timer for it while it waits. */
void engine_windows_after(struct engine *e, struct engine_app *a);
/* An Environment changed: every waiting app looks again. */
void engine_windows_changed(struct engine *e);
/* Whether a held app needs nothing from the tick (its timer wakes it). */
bool engine_window_settled(struct engine *e, struct engine_app *a);

/* keys.c */
/* An Environment changed: the key sets are built again when asked. */
void engine_keys_changed(struct engine *e);
void engine_keys_release(struct engine *e);
/* Refuses (SW_EINVAL) an apply with an App value, in an environment with
 * recipients, that its keys do not open or another key of the daemon's
 * does ("app.yaml:1:1: app \"prod/shop\": env DB_PASSWORD: ..."). */
int engine_keys_check(struct engine *e, const struct engine_doc *docs, size_t ndocs,
		      struct sw_err *err);

/* environments.c */
/* Watches the Environment kind (from engine_new); loads the stored ones
 * and reserves their ports (engine_load, before instances are adopted);
 * frees them (engine_free). */
void engine_envs_init(struct engine *e);
int engine_envs_load(struct engine *e, struct sw_err *err);
void engine_envs_release(struct engine *e);
/* Refuses (SW_EINVAL, positioned) an apply whose environments overlap in
 * ports, or that puts an app in an environment that does not exist or on
 * a listen address its environment does not allow. */
int engine_envs_check(struct engine *e, const struct engine_doc *docs, size_t ndocs,
		      struct sw_err *err);
/* The environment `name` (NULL: default, none) as an apply of docs leaves
 * it: its document there, else the stored one (borrowed from either). */
const struct env_spec *engine_env_after(struct engine *e, const struct engine_doc *docs,
					size_t ndocs, const char *name);
/* The ports of a's environment; false when it has no range of its own. */
bool engine_app_ports(struct engine *e, const struct engine_app *a, struct runtime_ports *out);
/* What instance and job ids start with: the key with its environment
 * after a '.' ("prod.hello"; "hello" in default): an id has no '/' (it
 * names a file) and no app name has a '.', so no two apps share one. */
void engine_app_stem(char *out, size_t size, const char *key);

/* The sync window of environment env at now_ms: true when it lets a
 * promotion's apply happen now, else false with why ("denied until
 * 2026-12-07 08:00 Europe/Berlin"); *next_ms: when the answer changes by
 * time (0: not by time). engine_window_allows (windows.c) decides. */
bool engine_env_window_open(struct engine *e, const char *env, int64_t now_ms, char *why,
			    size_t size, int64_t *next_ms);

/* promote.c: promotions on the loop. init from engine_new; load (the
 * store's rows) and start (runs resumed, applies under way made again,
 * evaluation begins) from engine_start; stop from engine_stop; release
 * from engine_free. changed after each reconcile of an app (it may be
 * an upstream that became Healthy with a new release, or a promotion's
 * upstream or target); run_phase when an analysis run's phase changed. */
void engine_promos_init(struct engine *e);
int engine_promos_load(struct engine *e, struct sw_err *err);
void engine_promos_start(struct engine *e);
void engine_promos_stop(struct engine *e);
void engine_promos_release(struct engine *e);
void engine_promos_changed(struct engine *e, struct engine_app *a);
/* Evaluates every promotion on the next loop iteration and sets the
 * timer for the next deadline: after a decision, or a change of an
 * Environment's promotion (its soak, its approvalTimeout). */
void engine_promos_kick(struct engine *e);
void engine_promos_run_phase(struct engine *e, const char *app, int64_t run_id);

/* load.c */
int engine_load(struct engine *e, struct sw_err *err);
void engine_resume_stops(struct engine *e);

#endif
