/*
 * engine: the control plane's use cases, callable without HTTP or argv.
 * The API, GitOps sync, a pipeline's deploy step, promotion and the
 * dashboard all change the world through these functions and nothing
 * else, so that "apply" means one thing wherever it comes from.
 *
 *	engine_apply      record validated documents; new revisions roll out
 *	  (engine_apply_dry_run: the same checks and answers, nothing kept)
 *	engine_rollback   go back to an earlier revision (through the strategy)
 *	engine_delete     forget an app; its instances drain and stop
 *	engine_rollout    promote, abort, pause, resume, retry, undo, restart
 *	engine_scale      instances of the serving revision, no new revision
 *	engine_window_override  a revision waiting for a sync window starts now
 *	engine_subscribe  every event as it is recorded
 *
 * The engine owns the live apps: an O(1) registry by name, each with its
 * rollout state (src/rollout), its instances (src/runtime), its analysis
 * runs (src/analysis/runner.h) and its share of the route table
 * (src/rollout/routes.h, pushed through src/traffic). It is level-
 * triggered like the rollout: a change marks its app dirty and the next
 * loop iteration reconciles the dirty apps only — an instance event costs
 * work for its own app, not for every app. A timer reconciles, every
 * 500 ms, the apps with time-based work ahead (a pause, a progress
 * deadline, a scale-down delay); a settled app costs nothing.
 *
 * Errors: use cases return 0, or a negative code with err set and nothing
 * changed: SW_EINVAL (the documents or arguments are wrong: the message
 * says where), SW_ENOTFOUND (no such app or revision), SW_ECONFLICT (the
 * command does not apply now: "hello is Healthy: nothing to promote"),
 * SW_EBUSY (the store is locked or full: try again), -1 otherwise.
 *
 * One engine belongs to one loop and is used from that loop's thread.
 */
#ifndef SW_ENGINE_H
#define SW_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "core/core.h"
#include "core/map.h"
#include "env/env.h"
#include "rollout/rollout.h"
#include "runtime/runtime.h"
#include "spec/spec.h"
#include "store/store.h"

struct store;
struct traffic;
struct analysis_runner;
struct analysis_run;
struct engine;
struct engine_app;

/* What the engine knows of one instance (runtime_instance.data). */
struct engine_inst {
	struct runtime_instance *rt;  /* the runtime's instance */
	struct engine_app *app;
	bool stopping;                /* on its way out: draining or stopping */
	bool draining;                /* out of rotation, waiting for in-flight requests */
	uint64_t drain_deadline_ms;   /* monotonic; stopped anyway after this */
	int64_t created_ms;           /* wall clock, for ordering */
};

/* An analysis run the rollout asked for. */
struct engine_run {
	int64_t id;                   /* the rollout's run id, per app */
	enum rollout_run_kind kind;
	int64_t revision;
	struct analysis_run *run;     /* the runner's; phase and reason live there */
};

/* A hook job the rollout asked for (hooks.c). */
struct engine_job {
	int64_t id;                   /* the rollout's id for it (shared with runs) */
	enum spec_hook_kind kind;
	struct engine_app *app;
	struct engine *e;
	struct runtime_job *job;      /* the runtime's; phase and reason live there */
};

/* "step", "background", "prePromotion", "postPromotion" */
const char *engine_run_kind_name(enum rollout_run_kind kind);

/* A revision whose rollout was aborted, kept for `history` (until it
 * becomes stable after all). */
struct engine_failure {
	int64_t revision;
	int64_t time_ms;              /* wall clock of the abort */
	char reason[320];             /* the abort's reason, as status showed it */
};
#define ENGINE_FAILURES_MAX 32    /* the newest kept */

/* An instance that is gone, kept for `logs` (its log file stays). */
struct engine_gone {
	char id[96];
	int64_t revision;
	int64_t stopped_ms;           /* wall clock */
	char reason[128];             /* how its last process ended; "" if it never did */
};
#define ENGINE_GONE_MAX 8         /* the newest kept */

/* A live app. Read-only for callers; valid until the loop runs again. */
struct engine_app {
	char *name;
	struct rollout_state st;
	int64_t created_ms;
	struct engine_inst **insts;
	size_t ninsts;
	struct engine_run **runs;     /* of the current rollout */
	size_t nruns;
	struct engine_job **jobs;     /* hook jobs (hooks.c) */
	size_t njobs;
	struct engine_failure *failures; /* aborted revisions, oldest first */
	size_t nfailures;
	struct engine_gone *gone;     /* stopped instances, oldest first */
	size_t ngone;
	json_t *labels;               /* metadata.labels of the last apply (object of
					 strings), NULL when none; no revision of its own */
	char *owner;                  /* the Source whose documents define it; NULL: none */
	char commit[41];              /* the commit its desired revision came from; "" when
					 applied by hand (or none) */
	char *actor;                  /* who made its desired revision the desired one (an
					 apply, rollback or undo); NULL: not known (before
					 it was kept); a promotion's four eyes read it */
	/* private */
	bool unavailable;             /* Healthy, but fewer instances ready than wanted */
	bool failing;                 /* Progressing, and a new instance's process ended */
	char unavailable_reason[320];
	bool extra_dirty;             /* failures or gone changed: save the row */
	struct engine_spec_cache *specs;
	size_t nspecs;
	bool deleted, dirty;
	bool route_clash;             /* left out of the table: its route is another app's */
	uint64_t reconciles;          /* how often it was reconciled (tests, bench) */
	json_t *routes;               /* this app's route entries, last derived */
	char *routes_text;
	uint64_t routes_gen;          /* counts changes of routes */
	uint64_t table_gen;           /* routes_gen of the entries in the table last pushed */
	bool deps_healthy;            /* Healthy as its dependants see it, last reconcile */
	/* its environment's sync windows, last looked at (windows.c) */
	bool window_open;
	int64_t window_due_ms;        /* wall clock: look again then (the answer's until, or sooner) */
	uint64_t window_gen;          /* engine's window_gen then; 0: never looked */
	char window_text[240];        /* "sync window: denied until ..." */
};

struct engine_config {
	uv_loop_t *loop;
	struct store *store;
	const char *state_dir;        /* for finding orphaned instances, and
					 revision.key (NULL: a key in memory only) */
	size_t spec_cache;            /* parsed revisions kept per app; 0 = 4 */
	/* what history is kept (NULL = engine_retention_defaults); its
	 * keep_revision is the engine's own */
	const struct store_retention *retention;
	uint64_t retention_interval_ms; /* how often it is trimmed; 0 = 60 s */
	/* the daemon's age keys (every --age-identity file), which open
	 * valueFrom.age values; each environment uses some of them
	 * (engine_age_ids). NULL: none. Borrowed for the engine's life. */
	const struct age_identities *age_ids;
};

/* Retention defaults (docs/internals/store.md); 0 = no limit. */
#define ENGINE_RETAIN_EVENTS_AGE_MS (30LL * 24 * 3600 * 1000)
#define ENGINE_RETAIN_EVENTS_COUNT 100000
#define ENGINE_RETAIN_MEASUREMENTS_AGE_MS (30LL * 24 * 3600 * 1000)
#define ENGINE_RETAIN_MEASUREMENTS_COUNT 100000
#define ENGINE_RETAIN_REVISIONS_AGE_MS 0
#define ENGINE_RETAIN_REVISIONS_COUNT 50 /* per app, and what a rollback needs */
#define ENGINE_RETENTION_INTERVAL_MS 60000
extern const struct store_retention engine_retention_defaults;

/*
 * Creates the engine. The parts it drives are made by the daemon with the
 * engine's callbacks below and handed over with engine_start.
 */
int engine_new(struct engine **out, const struct engine_config *cfg, struct sw_err *err);

struct engine_parts {
	struct runtime *rt;
	struct analysis_runner *runner;
	struct traffic *traffic;      /* may be NULL: no data plane (tests) */
	struct httpc *httpc;          /* the daemon's client, for upstreams on other hosts
					 (promotion.remote); NULL: none asked */
};

/*
 * Loads the apps from the store, adopts the instances the last daemon left
 * running (killing orphans no row names), resumes the analysis runs the
 * stored states name, and starts reconciling. Returns 0 or -1 with err.
 */
int engine_start(struct engine *e, const struct engine_parts *parts, struct sw_err *err);

/* Stops reconciling and lets go of runs and timers; instances keep
 * running (the daemon stops them, or leaves them for the next one). */
void engine_stop(struct engine *e);
/* Before engine_stop when the processes stay for the next daemon (an
 * upgrade, --keep-instances): running hook jobs are let go of without
 * being stopped, their stored handles kept, so that the next daemon adopts
 * them as after a crash (hooks.c). engine_stop alone kills them. */
void engine_hooks_keep(struct engine *e);
/* After engine_stop and once the loop has closed the handles. */
void engine_free(struct engine *e);

/* Callbacks to give the parts (data = the engine). */
void engine_on_instance(struct runtime_instance *inst, enum runtime_event ev, void *data);
void engine_on_run_phase(const char *app, int64_t run_id, void *data);
void engine_on_run_event(const char *app, const char *kind, const char *message, void *data);
void engine_on_traffic_event(const char *kind, const char *message, void *data);
void engine_on_traffic_change(void *data);

/* ---- use cases ---- */

/* One document's outcome. */
struct engine_result {
	const char *kind;             /* "App", "AnalysisTemplate" */
	const char *name;             /* borrowed from the sets applied */
	int64_t revision;             /* App: the revision it is at now */
	const char *result;           /* "created", "configured", "unchanged" */
	/* engine_apply_dry_run only (else NULL), both owned: the document
	 * as it is live (the desired revision's canonical JSON, NULL for a
	 * new one) and as the apply would store it, each with its labels in
	 * metadata.labels, so that the two compare as they are stored */
	json_t *live;
	json_t *merged;
};

struct engine_results {
	struct engine_result *r;
	size_t n;
};
void engine_results_release(struct engine_results *res);

/*
 * Where documents came from when a Source rendered them (gitops): kept
 * with each revision they make (`history`), and the apps they define are
 * owned by the source.
 */
struct engine_origin {
	const char *owner;            /* the Source's name */
	const char *commit;           /* full SHA of the commit */
	const char *author;           /* "Name <email>" */
	int64_t time_ms;              /* the commit's author time */
	const char *subject;          /* first line of its message */
};

/* What one apply records: parsed documents and the file each came from. */
struct engine_doc {
	const struct spec_set *set;
	const char *source;           /* the file name shown in history */
	const struct engine_origin *origin; /* NULL: applied by hand (the API) */
};

/*
 * Records the documents in one transaction: each App gets a new revision
 * unless identical content is already its desired one ("unchanged"), and
 * rolls out by its strategy; templates are stored unless identical, and
 * documents of the kinds modules register (Source...) are stored as
 * objects, their watchers told after the commit (engine_watch). All or nothing: an app
 * defined twice (SW_EINVAL, "b.yaml:1:1: app \"x\" is defined twice (first
 * at a.yaml:1:1)") or a store failure changes nothing.
 *
 * Ownership: documents with an origin make their apps, templates and
 * objects owned by origin->owner. Another source's app is refused
 * (SW_ECONFLICT, "b.yaml:1:1: app \"x\" belongs to source \"a\"; source
 * \"b\" defines it too"), and so is its template or object; one without
 * an owner is adopted (event "Owned"). An apply without an origin may
 * change an owned app or template: it stays owned, and its source sees
 * the change as drift (gitops).
 */
int engine_apply(struct engine *e, const struct engine_doc *docs, size_t ndocs, const char *actor,
		 struct engine_results *out, struct sw_err *err);
/*
 * engine_apply up to the commit, with the same checks, errors and results
 * (the revision a change would get), and then nothing is kept: no
 * revision, no event, no change of state (the transaction is rolled
 * back). Each result also has live and merged (`apply --dry-run`, `diff`),
 * with secret values masked, since both leave the daemon: each becomes
 * "***", or "*** (before)" in live and "*** (after)" in merged when the
 * apply changes it, so that a diff shows that it changes and not to what.
 */
int engine_apply_dry_run(struct engine *e, const struct engine_doc *docs, size_t ndocs,
			 const char *actor, struct engine_results *out, struct sw_err *err);
/*
 * A document as a dry run's live: an App's desired revision (canonical
 * JSON, labels in metadata.labels, secret values "***"), another kind's
 * stored object; a new reference, or NULL when there is none. For a plan
 * that would delete it (gitops' prune).
 */
json_t *engine_live_doc(struct engine *e, const char *kind, const char *name);

/*
 * engine_apply with the sync windows overridden: each new revision of an
 * app in an environment with windows starts without waiting for them,
 * and the event WindowOverridden records it with the actor, the windows'
 * answer then and `reason`. SW_EINVAL, nothing applied, when the reason
 * is missing, blank, not one line or longer than 200 bytes.
 */
int engine_apply_override(struct engine *e, const struct engine_doc *docs, size_t ndocs,
			  const char *actor, const char *reason, struct engine_results *out,
			  struct sw_err *err);

/* Rolls `app` back to revision `to` (0: the stable one while a rollout is
 * under way or aborted, else the revision before). *unchanged is set when
 * it is already there and healthy. */
int engine_rollback(struct engine *e, const char *app, int64_t to, const char *actor,
		    int64_t *out_revision, bool *unchanged, struct sw_err *err);

/* engine_rollback to the newest revision of `app` whose origin commit
 * starts with `commit` (4 to 40 hex digits): SW_ENOTFOUND when no
 * revision is from such a commit, SW_ECONFLICT when revisions from two
 * commits match (both named in the message); nothing changes then. */
int engine_rollback_commit(struct engine *e, const char *app, const char *commit,
			   const char *actor, int64_t *out_revision, bool *unchanged,
			   struct sw_err *err);
/* The full commit the revision came from (its origin), "" for one applied
 * by hand; SW_ENOTFOUND when there is no such revision. */
int engine_revision_commit(struct engine *e, const char *app, int64_t revision, char out[41],
			   struct sw_err *err);

/* Deletes the AnalysisTemplate (event "TemplateDeleted"): SW_ENOTFOUND
 * when there is none, SW_ECONFLICT while engine_template_user finds an
 * app that uses it ("analysistemplate \"golden\" is in use by app
 * \"hello\" (revision 2); nothing deleted"). An owned one's source sees
 * the delete as drift. */
int engine_template_delete(struct engine *e, const char *name, const char *actor,
			   struct sw_err *err);

/* Forgets `app`; its instances drain and stop. *stopping: how many. */
int engine_delete(struct engine *e, const char *app, const char *actor, size_t *stopping,
		  struct sw_err *err);

enum engine_rollout_cmd {
	ENGINE_PROMOTE,
	ENGINE_ABORT,
	ENGINE_PAUSE,
	ENGINE_RESUME,
	ENGINE_RETRY,
	ENGINE_UNDO,
	ENGINE_RESTART,               /* rollout_restart: replace the instances, same revision */
};
/* "promote" ... "undo" -> the command; -1 when unknown. */
int engine_rollout_cmd_parse(const char *name);
const char *engine_rollout_cmd_name(enum engine_rollout_cmd cmd);

/* An operator command on the app's rollout (full: promote --full, abort
 * --force). The app is reconciled before it returns, so that the state
 * after it (read with engine_app_find) has taken the step the command
 * allows (a promote from `pause: {}` is at the next step). */
int engine_rollout(struct engine *e, const char *app, enum engine_rollout_cmd cmd, bool full,
		   const char *actor, struct sw_err *err);

/*
 * `slipway scale APP N` (rollout_scale): N instances of the revision that
 * serves, without a new revision; kept in the rollout state (so across a
 * daemon restart) until a new desired revision. SW_EINVAL for N above
 * ROLLOUT_MAX_REPLICAS, SW_ECONFLICT while a rollout is under way. Event
 * "Scaled" with the actor. The state after it is the app's.
 */
int engine_scale(struct engine *e, const char *app, uint32_t replicas, const char *actor,
		 struct sw_err *err);

/* ---- dependencies between apps (depends.c) ---- */

/* One app of a dependency graph: its name and the names it depends on. */
struct engine_dep_node {
	const char *name;
	char *const *deps;
	size_t ndeps;
};

/*
 * A cycle of the graph, pure: nodes are looked up by name (a name no node
 * has is left out: that app may come later), and followed depth first in
 * the order given. Returns the cycle's length and its nodes' indices in
 * *out (caller frees), starting at its lowest index ("b -> c -> b" of a
 * graph listing b before c), or 0 with *out NULL when there is none. A
 * node that names itself is a cycle of one.
 */
size_t engine_depends_cycle(const struct engine_dep_node *nodes, size_t n, size_t **out);

/* ---- reads ---- */

struct engine_app *engine_app_find(struct engine *e, const char *name);
/* Every live app sorted by name (caller frees the array, not the apps). */
size_t engine_apps(struct engine *e, struct engine_app ***out);
size_t engine_app_count(const struct engine *e);
/* The parsed spec of one of the app's revisions (cached); NULL with err. */
struct spec_app *engine_app_spec(struct engine *e, struct engine_app *a, int64_t revision,
				 struct sw_err *err);
/*
 * The app's phase as users see it. The rollout's phase says where the
 * rollout is; this one also says whether the app waits for its
 * dependencies (Waiting, *reason naming them: "waiting for db
 * (Progressing), cache (not found); revision 2 starts once they are
 * Healthy") or for its environment's sync window (Waiting, "sync window:
 * denied until ...; revision 2 starts when it opens") and whether it is
 * available: a Healthy
 * rollout with fewer ready instances than replicas (one crashed and waits
 * in CrashLoopBackOff, one fails readiness) is Degraded, and *reason says
 * which instance and why ("instance hello-3 exited with status 2,
 * restarting (backoff 4s); 0/1 instances ready"). Back to Healthy once
 * every instance is ready again. While a rollout progresses and one of its
 * new instances crashed, the reason says so too (the phase stays
 * Progressing until progressDeadline decides). *reason is borrowed from a.
 */
enum rollout_phase engine_app_phase(const struct engine_app *a, const char **reason);

/* What the app serves and what it rolls out, for `get` and `status`. */
struct engine_side {
	int64_t revision;             /* 0: none */
	const char *version;          /* borrowed from the revision's spec; "" if unknown */
	uint32_t ready;               /* ready instances of it, not on their way out */
	uint32_t desired;             /* instances the rollout keeps of it now */
};
/* stable: the revision that serves (the last fully rolled out); canary:
 * the one being rolled out (a canary, a blue/green preview or a rolling
 * update's new revision), revision 0 when none is, also after an abort. */
void engine_app_sides(struct engine *e, struct engine_app *a, struct engine_side *stable,
		      struct engine_side *canary);

/*
 * Whether the data plane serves the app's routes as last derived: the
 * route table it holds (traffic_synced) was built with them, listeners
 * and the ready backends of the revision the rollout reached included.
 * "Done" for `apply --wait` is Healthy and routed: a listener is bound
 * and its backends are in the table, so a request sent then is served.
 * False while a newer table is on its way, while no data plane runs or
 * holds the table, and for an app left out for a route clash; true for
 * an app with no route (nothing to wait for): *has_routes says which.
 */
bool engine_app_routed(struct engine *e, const struct engine_app *a, bool *has_routes);

/* Why an app that is not routed is not: the data plane refused the
 * current route table (traffic_refused), or NULL (on its way). */
const char *engine_routes_refused(struct engine *e);

/* The app's revision groups as the data plane sees them: weight, ready
 * backends, and rate, success rate and p99 of the last 10 s from a
 * snapshot refreshed in the background while someone asks (new ref). */
json_t *engine_app_groups(struct engine *e, struct engine_app *a);
/* The whole route table last derived (borrowed). */
json_t *engine_route_table(struct engine *e);
struct store *engine_store(struct engine *e);
struct traffic *engine_traffic(struct engine *e);
struct runtime *engine_runtime(struct engine *e);

/* ---- events ---- */

struct engine_event {
	int64_t id;                   /* the store's event id; 0 when it could not be stored */
	int64_t time_ms;
	const char *app;              /* "" for host-wide events */
	const char *kind;
	const char *message;
	const char *actor;
};

/* Pages of the event log, newest first (events.c): events with id below
 * before_id (0 = the newest), at or after since_ms (0 = any), of app
 * (NULL = all), at most limit (0 = ENGINE_EVENTS_PAGE_DEFAULT, capped at
 * ENGINE_EVENTS_PAGE_MAX), each handed to cb (strings valid during the
 * call). Returns how many, or an error. Memory does not grow with the
 * log. */
#define ENGINE_PAGE_DEFAULT 100     /* every paged history: events, measurements, revisions */
#define ENGINE_PAGE_MAX 1000
#define ENGINE_EVENTS_PAGE_DEFAULT ENGINE_PAGE_DEFAULT
#define ENGINE_EVENTS_PAGE_MAX ENGINE_PAGE_MAX
int engine_events_page(struct engine *e, const char *app, int64_t before_id, int64_t since_ms,
		       size_t limit, store_event_cb cb, void *data, struct sw_err *err);
/* Events after after_id and at or after since_ms (0 = any), oldest first,
 * at most limit (0 or above the cap: ENGINE_EVENTS_PAGE_MAX): for reading
 * the log forwards and following it. */
int engine_events_after(struct engine *e, const char *app, int64_t after_id, int64_t since_ms,
			size_t limit, struct store_event **out, size_t *n, struct sw_err *err);

/* Pages of an app's analysis measurements (events.c): of revision (0 =
 * all), newest first with id below cursor (0 = the newest), or with
 * forward oldest first with id above it; at most limit (0 =
 * ENGINE_PAGE_DEFAULT, capped at ENGINE_PAGE_MAX), each handed to cb
 * (strings valid during the call). Returns how many, or an error. Memory
 * does not grow with the table. */
int engine_measurements_page(struct engine *e, const char *app, int64_t revision, int64_t cursor,
			     bool forward, size_t limit, store_measurement_cb cb, void *data,
			     struct sw_err *err);
/* A page of the app's revisions for a listing, newest first, numbered
 * below `before` (0 = the newest), at most limit (0 = ENGINE_PAGE_DEFAULT,
 * capped at ENGINE_PAGE_MAX), without their specs; free with
 * store_revision_list_free. */
int engine_revisions_page(struct engine *e, const char *app, int64_t before, size_t limit,
			  struct store_revision **out, size_t *n, struct sw_err *err);
/* The page size a caller's limit comes to (0: the default; the cap). */
size_t engine_page_limit(size_t limit);

/* ---- reads for listings (reads.c) ---- */

struct sw_selector;
/* Every stored AnalysisTemplate by name, its document as canonical JSON
 * (labels in metadata.labels); free with store_template_list_free. */
int engine_templates(struct engine *e, struct store_template **out, size_t *n, struct sw_err *err);
/*
 * The live app whose desired or stable revision names the template in an
 * analysis reference (spec_app_uses_template), the first by name, with
 * that revision in *revision; NULL when none does. A template in use is
 * not deleted (engine_template_delete), by hand or by a source's prune:
 * the app's analysis reads it when a run starts or resumes.
 */
const struct engine_app *engine_template_user(struct engine *e, const char *name,
					      int64_t *revision);
/* Whether labels (an object of strings; NULL: none) satisfy sel. Apps
 * are selected by engine_app.labels, templates by their document's
 * metadata.labels, instances and revisions by their app's labels. */
bool engine_labels_match(const json_t *labels, const struct sw_selector *sel);

/* ---- objects: documents of the kinds modules register (objects.c) ---- */

/*
 * Called after an apply or delete changed an object of `kind` (created,
 * configured; deleted: json NULL), on the loop, once the store has it.
 * json is the document's canonical JSON (borrowed, valid during the call),
 * owner its owner after the change ("" for none). Templates are told the
 * same way, as kind "AnalysisTemplate" (gitops watches its own for
 * drift). The callback may call the use cases.
 */
typedef void (*engine_object_cb)(const char *kind, const char *name, const json_t *json,
				 const char *owner, void *data);
/* One watcher per kind (a module's own); a second replaces the first. */
void engine_watch(struct engine *e, const char *kind, engine_object_cb cb, void *data);
/* The stored objects of kind, by name; free with store_object_list_free. */
int engine_objects(struct engine *e, const char *kind, struct store_object **out, size_t *n,
		   struct sw_err *err);
/* One; SW_ENOTFOUND ("source \"x\" not found"). Release with store_object_release. */
int engine_object_get(struct engine *e, const char *kind, const char *name,
		      struct store_object *out, struct sw_err *err);
/* Keeps a module's status of its object (JSON text) beside it. */
int engine_object_status(struct engine *e, const char *kind, const char *name,
			 const char *status, struct sw_err *err);
/* Deletes the object (SW_ENOTFOUND when there is none) and tells the
 * watcher; event "<Kind>Deleted". */
int engine_object_delete(struct engine *e, const char *kind, const char *name, const char *actor,
			 struct sw_err *err);

/* ---- environments (environments.c) ----
 *
 * Apps live in environments by their key: engine_app.name is "hello" in
 * the default environment and "prod/hello" in prod (spec_key). Every use
 * case takes keys; what users see splits them again (spec_key_split).
 * Environment documents are objects of kind "Environment" (src/env); at
 * apply an app's environment must exist (or come in the same apply),
 * ports of two environments may not overlap, and an app's routes must
 * lie within its environment's listen.
 */

/* Whether the environment exists: "default" (or NULL) always does. */
bool engine_environment_exists(struct engine *e, const char *name);
/* Its parsed document, NULL for default and for one that does not exist. */
const struct env_spec *engine_env_find(struct engine *e, const char *name);
/* The names of every environment, "default" first, then by name (the
 * caller frees the array, not the names, which live until the next
 * change). */
size_t engine_environment_names(struct engine *e, const char ***out);
/* The same as one line for messages: "default, prod, staging". */
void engine_environments_known(struct engine *e, char *out, size_t size);
/* Whether app a lives in environment env (NULL or "default": the default one). */
bool engine_app_in(const struct engine_app *a, const char *env);
/* Deletes the environment's document: SW_ECONFLICT while apps live in it
 * (named: "environment \"prod\" is in use by 2 apps: db, hello (...)")
 * and for "default", SW_ENOTFOUND when there is none; event "Deleted". */
int engine_environment_delete(struct engine *e, const char *name, const char *actor,
			      struct sw_err *err);

/* ---- sync windows (windows.c) ----
 *
 * An Environment's spec.windows hold the new revisions of its apps (an
 * apply, a source's sync, a retry; a promotion or a pipeline's deploy
 * through engine_apply too) while they are closed: the app is Waiting,
 * its reason says until when, and the revision starts when they open.
 * Rollbacks, undo, aborts, scale, restarts, deletes and changes of
 * replicas alone never wait.
 */

/*
 * Whether env's windows (NULL or "default": none) let a new revision
 * start at now_ms; *until_ms (may be NULL) is when that changes
 * (SW_WINDOW_NEVER: not within 400 days), why the answer for users
 * ("denied until 2026-12-07 08:00 Europe/Berlin (deny "0 22 * * 5"
 * 60h)", "open (no sync windows)"). For promotion: ask before applying,
 * or apply and let the revision wait.
 */
bool engine_window_allows(struct engine *e, const char *env, int64_t now_ms, int64_t *until_ms,
			  char *why, size_t size);
/*
 * `slipway rollout override APP --reason TEXT`: the revision waiting for
 * its window starts now (event WindowOverridden with actor and reason).
 * SW_EINVAL for a reason engine_apply_override refuses, SW_ENOTFOUND,
 * SW_ECONFLICT when the app waits for no window.
 */
int engine_window_override(struct engine *e, const char *app, const char *actor,
			   const char *reason, struct sw_err *err);
/* 0, or SW_EINVAL with why: the reason of an override must be one line,
 * not blank, at most 200 bytes of UTF-8. */
int engine_override_reason_check(const char *reason, struct sw_err *err);
/* What a Waiting app waits for: "dependencies", "window", or NULL. */
const char *engine_app_waiting_for(const struct engine_app *a);

/* ---- age keys per environment (keys.c) ---- */

/*
 * The daemon's keys that open values of apps in env (NULL or "default":
 * default), by env_key_usable's rule: those its spec.recipients list, or
 * for an environment without recipients those no environment lists.
 * Borrowed until an Environment changes; never NULL (n may be 0). At
 * apply, an App value of an environment with recipients must open with
 * them and with no other key of the daemon's (SW_EINVAL, positioned).
 */
const struct age_identities *engine_age_ids(struct engine *e, const char *env);
/* engine_age_ids for runtime_config.age_ids_of (data = the engine). */
const struct age_identities *engine_on_age_ids(const char *environment, void *data);
/* ---- promotion (promote.c; docs/environments.md "Promotion") ----
 *
 * A release (an app's version) that becomes Healthy in an environment
 * moves to each environment whose spec.promotion.from names it, through
 * that environment's gates (src/env/promotion.h), into its app of the
 * same name. Environments and apps are named as users name them (env,
 * name), not by key.
 */

/* `slipway promote NAME --to ENV [--release R]`: R (default: what the
 * upstream runs; another is SW_ECONFLICT) is applied once its gates
 * pass, also when promotion.automatic is false; actor becomes one of its
 * causes (it may not approve it). A promotion of R that is pending is
 * asked to go on; one that ended (Failed, Rejected) starts over with
 * every gate; a pending one of another release is superseded.
 * SW_ENOTFOUND: no such environment or app; SW_ECONFLICT: env takes no
 * promotions, the upstream does not serve R Healthy, the target runs R
 * already, or R is being applied. */
int engine_promote(struct engine *e, const char *env, const char *name, const char *release,
		   const char *actor, struct sw_err *err);
/* `slipway approve|reject ENV NAME [--release R] [--comment TEXT]`: a
 * decision on the pending promotion into env (R, when given, must be
 * its release). The caller checks the approve permission
 * (engine_token_approves); four eyes and one decision per actor are
 * checked here. SW_ECONFLICT with the reason for a release that is not
 * pending, a cause's approval, a second decision. Events "Approved" and
 * "Rejected" with the actor and comment. */
int engine_promotion_decide(struct engine *e, const char *env, const char *name,
			    const char *release, bool approve, const char *comment, const char *actor,
			    struct sw_err *err);
/* The newest promotion into env of NAME as the API shows it (new
 * reference), or NULL when there is none. */
json_t *engine_promotion_json(struct engine *e, const char *env, const char *name);
/* `slipway releases NAME`: every environment (that scope allows, ""
 * every one) where NAME runs or has a promotion, upstream first:
 * {"app", "environments": [{"environment", "release" (its stable
 * version), "desired", "phase", "from", "promotion" (or null)}]} (new
 * reference). */
json_t *engine_releases(struct engine *e, const char *name, const char *scope);

/*
 * A module that commits promotions to git instead (gitops: an app its
 * Source owns with writeBack) registers a writer. The engine calls it
 * for each apply of a promotion whose target app has an owner: it
 * returns 1 when it takes the job (and then calls
 * engine_promotion_written exactly once, later, from the loop), 0 when
 * not (the engine applies directly), or -1 with err (the promotion
 * fails with it).
 */
struct engine_promotion_write {
	int64_t id;                   /* the promotion, for engine_promotion_written */
	const char *app;              /* the target's key, "prod/hello" */
	const char *owner;            /* its Source */
	const char *release;          /* the version to set */
	const char *actor;            /* "promotion/prod" */
	const char *message;          /* a commit message */
};
typedef int (*engine_promotion_writer_fn)(const struct engine_promotion_write *w, void *data,
					  struct sw_err *err);
void engine_promotion_writer(struct engine *e, engine_promotion_writer_fn fn, void *data);
/* The writer's report: committed (detail "commit 1a2b3c4 to main") or not
 * (detail the reason). */
void engine_promotion_written(struct engine *e, int64_t id, bool ok, const char *detail);

/* Records an event (store, log) and hands it to every subscriber. */
void engine_event(struct engine *e, const char *app, const char *kind, const char *actor,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

typedef void (*engine_event_cb)(const struct engine_event *ev, void *data);
/* Calls cb for every event recorded from now on, synchronously (cb must
 * not call back into the engine's use cases). Returns an id (never 0). */
uint64_t engine_subscribe(struct engine *e, engine_event_cb cb, void *data);
void engine_unsubscribe(struct engine *e, uint64_t id);

#endif

/* ---- API tokens (tokens.c) ---- */

/*
 * Creates a token with `role` ("admin", "deployer", "viewer"), scoped to
 * the environments envs (nenvs 0: every environment), approving
 * promotions into the environments `approve` (napprove 0: none; within
 * the scope); the token text ("sw_" + 64 hex digits) is in out_token
 * only, never stored: the store keeps its SHA-256. SW_EINVAL for a bad
 * name or role or an approve outside the scope, SW_EEXIST for a name in
 * use or reserved ("root", "local", "daemon"), SW_ENOTFOUND for an
 * environment that does not exist (the known ones named).
 */
int engine_token_create(struct engine *e, const char *name, const char *role,
			const char *const *envs, size_t nenvs, const char *const *approve,
			size_t napprove, const char *actor, char out_token[68], struct sw_err *err);
/* Whether `actor` may approve (and reject) promotions into env: a token
 * with env in its approve list, whatever its role; the host's own user
 * on the unix socket ("local") and the root token always. 0, or -1 when
 * the store cannot be read (*out false then). */
int engine_token_approves(struct engine *e, const char *actor, const char *env, bool *out);
/* The approve list of token `name` as stored ("prod,staging"; "" none). */
int engine_token_approve_list(struct engine *e, const char *name, char *out, size_t size);
/* The environments the caller `actor` (a token's name) may use, as
 * stored: "staging,dev", or "" for every one (an unscoped token, and
 * callers that are no token: "local", "root"). 0, or -1 when the store
 * cannot be read (out is "" then: callers refuse). */
int engine_token_scope(struct engine *e, const char *actor, char *out, size_t size);
/* Whether a scope ("" = every environment) holds env (NULL = default). */
bool engine_scope_allows(const char *scope, const char *env);
/* SW_ENOTFOUND when there is no such token. */
int engine_token_revoke(struct engine *e, const char *name, const char *actor, struct sw_err *err);
/* The token whose text is `token`: 0 with its name and role, or -1. Its
 * use is recorded (to the second). Compared by hash, in constant time. */
int engine_token_check(struct engine *e, const char *token, char *name, size_t name_size,
		       char *role, size_t role_size);
