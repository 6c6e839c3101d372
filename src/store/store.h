/*
 * store: Slipway's state in SQLite (WAL mode) at DIR/state.db.
 *
 * Tables: apps (desired and stable revision, phase and reason), revisions
 * (the validated spec as canonical JSON plus its SHA-256; numbered 1, 2, ...
 * per app), instances (what the runtime runs, so that a restarted daemon
 * can adopt them), events (append-only log of every state change),
 * tokens (API tokens by name and role, only their SHA-256 kept), meta
 * (the store's own settings), jobs (hook jobs in flight, for adoption),
 * objects (documents of the kinds modules bring: Source, ...) and
 * promotions (releases moving between environments).
 * Events, measurements and revisions are trimmed by store_retention_step.
 * The schema is versioned with PRAGMA user_version; store_open applies
 * missing migrations in order inside one transaction.
 *
 * All calls are synchronous; the daemon is one thread. Strings in the
 * structs returned are owned by the struct; free with the matching
 * *_release / *_list_free. Times are wall-clock milliseconds since epoch.
 */
#ifndef SW_STORE_H
#define SW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

struct store;

struct store_app {
	char *name;
	int64_t desired_revision; /* what the user asked for last */
	int64_t stable_revision;  /* last revision fully rolled out; 0 = none */
	char *phase;              /* "Progressing", "Healthy", "Degraded" */
	char *reason;             /* human-readable, "" when none */
	int64_t progress_ms;      /* last time the rollout made progress */
	char *rollout_json;       /* the whole rollout state (rollout_state_to_json); "" = none */
	int64_t created_ms;
	int64_t updated_ms;
	char *owner;              /* the Source whose documents define it; "" = none */
};

struct store_revision {
	char *app;
	int64_t number;
	char *hash;      /* hex HMAC-SHA-256 of spec_json (engine's revision key) */
	char *spec_json; /* canonical JSON from spec_app_to_json */
	char *version;   /* spec.version, for listings */
	char *source;    /* file the spec came from */
	int64_t created_ms;
	char *origin;    /* where the documents came from when not a file: JSON
			    text the engine writes ({"source", "commit", ...}),
			    "" when none */
};

struct store_instance {
	char *id;            /* "hello-r2-1" style, unique */
	char *app;
	int64_t revision;
	char *handle;        /* the runtime driver's handle of the running process,
				for runtime_adopt; "" when none runs */
	int port;
	bool ready;
	int restarts;
	char *state;         /* runtime state name */
	int64_t created_ms;
};

struct store_event {
	int64_t id;
	int64_t time_ms;
	char *app;      /* "" for daemon-wide events */
	char *kind;     /* "Applied", "InstanceStarted", "Degraded", ... */
	char *message;
	char *actor;    /* "cli", token name, "daemon" */
};

/* Opens (creating if needed) the database and migrates it. */
int store_open(struct store **out, const char *path, struct sw_err *err);
void store_close(struct store *s);
/* The schema version store_open migrated to. */
int store_schema_version(struct store *s);
/* The newest schema version this binary knows (the number of migrations).
 * store_open refuses a database whose user_version is higher. */
int store_schema_latest(void);
/* How long a call waits for another writer's lock before failing with
 * SW_EBUSY; store_open sets 5000 ms. */
void store_set_busy_timeout(struct store *s, int ms);

/* Transactions (BEGIN IMMEDIATE). Nested begins are counted; only the
 * outermost commit/rollback acts. A rollback inside a nested transaction
 * dooms the whole one: the outermost commit then rolls back and fails.
 * Calls that fail because another connection holds the write lock for
 * longer than the busy timeout return SW_EBUSY. */
int store_begin(struct store *s, struct sw_err *err);
int store_commit(struct store *s, struct sw_err *err);
void store_rollback(struct store *s);

/* Inserts or replaces the row with app->name; sets updated_ms to now and
 * created_ms on insert. */
int store_app_put(struct store *s, const struct store_app *app, struct sw_err *err);
/* SW_ENOTFOUND when there is no such app. */
int store_app_get(struct store *s, const char *name, struct store_app *out, struct sw_err *err);
int store_app_list(struct store *s, struct store_app **out, size_t *n, struct sw_err *err);
/* Deletes the app, its revisions and instances (events stay). */
int store_app_delete(struct store *s, const char *name, struct sw_err *err);
void store_app_release(struct store_app *app);
void store_app_list_free(struct store_app *apps, size_t n);

/*
 * Records a revision of `app` unless one with the same hash exists (its
 * source and origin then stay what they were). *out_number is the new or
 * existing revision's number; *out_created tells which. The app row must
 * exist. origin may be NULL.
 */
int store_revision_add(struct store *s, const char *app, const char *hash,
		       const char *spec_json, const char *version, const char *source,
		       const char *origin, int64_t *out_number, bool *out_created,
		       struct sw_err *err);
int store_revision_get(struct store *s, const char *app, int64_t number,
		       struct store_revision *out, struct sw_err *err);
/* Every revision of app, ordered by number ascending, specs included:
 * as many as retention keeps, all in memory (tests); listings page with
 * store_revision_page. */
int store_revision_list(struct store *s, const char *app, struct store_revision **out,
			size_t *n, struct sw_err *err);
/* A page of a listing: the app's revisions numbered below `before` (0 =
 * from the newest), newest first, at most limit (0 = no limit: callers cap
 * it), without their specs (spec_json is ""). */
int store_revision_page(struct store *s, const char *app, int64_t before, size_t limit,
			struct store_revision **out, size_t *n, struct sw_err *err);
void store_revision_release(struct store_revision *rev);
void store_revision_list_free(struct store_revision *revs, size_t n);

/* Inserts or replaces by id. */
/* A hook job in flight (runtime.h's jobs): what a restarted daemon needs to
 * adopt its running attempt instead of starting the job again. */
struct store_job {
	char *id;            /* the job id, "shop-r3-predeploy-migrate" */
	char *app;
	int64_t run;         /* the rollout's id for it (rollout_state.hook_run) */
	uint32_t attempt;    /* 1-based, the attempt running or last run */
	char *handle;        /* the runtime's handle of that attempt's process */
	int64_t attempt_ms;  /* wall clock, that attempt's start */
	int64_t started_ms;  /* wall clock, the first attempt's start */
};

/* Inserts or replaces by id. */
int store_job_put(struct store *s, const struct store_job *j, struct sw_err *err);
int store_job_delete(struct store *s, const char *id, struct sw_err *err);
/* The jobs of one app, by id; free with store_job_list_free. */
int store_job_list(struct store *s, const char *app, struct store_job **out, size_t *n,
		   struct sw_err *err);
void store_job_list_free(struct store_job *jobs, size_t n);

int store_instance_put(struct store *s, const struct store_instance *inst, struct sw_err *err);
int store_instance_delete(struct store *s, const char *id, struct sw_err *err);
/* app NULL = all apps; ordered by app, created_ms, id. */
int store_instance_list(struct store *s, const char *app, struct store_instance **out,
			size_t *n, struct sw_err *err);
void store_instance_release(struct store_instance *inst);
void store_instance_list_free(struct store_instance *insts, size_t n);
/* Next value of a per-app counter, for instance ids (1, 2, ...). */
int store_next_seq(struct store *s, const char *app, int64_t *out, struct sw_err *err);

/* Appends an event stamped now; *out_id may be NULL. */
int store_event_add(struct store *s, const char *app, const char *kind, const char *message,
		    const char *actor, int64_t *out_id, struct sw_err *err);
/* Events with id > after_id, oldest first, at most limit (0 = no limit);
 * app NULL = all. */
int store_event_list(struct store *s, const char *app, int64_t after_id, size_t limit,
		     struct store_event **out, size_t *n, struct sw_err *err);
/* The same, only events at or after since_ms (0 = any). */
int store_event_list_since(struct store *s, const char *app, int64_t after_id, int64_t since_ms,
			   size_t limit, struct store_event **out, size_t *n, struct sw_err *err);
void store_event_list_free(struct store_event *evs, size_t n);

/*
 * Pages through events newest first without building a list: calls cb for
 * each event with id < before_id (0 = from the newest), time >= since_ms
 * (0 = any) and, when app is not NULL, of that app, at most limit (0 = no
 * limit: callers cap it). The event's strings are valid during the call
 * only. Returns the number of events given to cb, or an error. Memory
 * does not depend on the table's size.
 */
typedef void (*store_event_cb)(const struct store_event *ev, void *data);
int store_event_page(struct store *s, const char *app, int64_t before_id, int64_t since_ms,
		     size_t limit, store_event_cb cb, void *data, struct sw_err *err);

/* The store's own settings (key -> text), e.g. which key the revision
 * hashes were made with. store_meta_get: *out (caller frees), or
 * SW_ENOTFOUND without a message. */
int store_meta_get(struct store *s, const char *key, char **out, struct sw_err *err);
int store_meta_put(struct store *s, const char *key, const char *value, struct sw_err *err);

/* Recomputes every revision's hash from its spec_json with fn (which
 * writes 64 hex digits and a NUL), in one transaction: for a change of
 * the hash function or its key. */
typedef void (*store_rehash_fn)(const char *spec_json, char out[65], void *data);
int store_revision_rehash(struct store *s, store_rehash_fn fn, void *data, struct sw_err *err);

/*
 * Retention (retention.c): what is kept of each kind of history. A limit
 * of 0 means none. Events and measurements: at most the newest
 * max_count rows, none older than max_age_ms. Revisions: per app the
 * same, and whatever the limits every revision
 * the keep callback protects (the engine's: what a rollback or a running
 * instance needs) and the app's newest (revision numbers are never
 * reused).
 */
struct store_retention_kind {
	int64_t max_age_ms;
	int64_t max_count;
};

struct store_retention {
	struct store_retention_kind events, measurements, revisions;
	/* true: the revision must stay whatever the limits say */
	bool (*keep_revision)(const char *app, int64_t number, void *data);
	void *data;
};

/*
 * Deletes at most `batch` rows of each kind that the limits no longer
 * keep, as of now_ms, in one short transaction, so that a big backlog is
 * worked off in many small steps between other work. *out_deleted: rows
 * deleted; *out_more: a kind filled its batch (call again soon).
 */
int store_retention_step(struct store *s, const struct store_retention *r, int64_t now_ms,
			 size_t batch, size_t *out_deleted, bool *out_more, struct sw_err *err);

/* Row counts, for tests and benches: "events", "measurements", "revisions". */
int store_count(struct store *s, const char *table, int64_t *out, struct sw_err *err);

/*
 * Calls cb once for each distinct string that json_path (an SQLite JSON
 * path such as "$.spec.run.workdir") names in the spec of a stored
 * revision; revisions without one are skipped. What retention keeps is
 * what a rollback can go back to, so this is what must stay on disk.
 */
typedef void (*store_value_cb)(const char *value, void *data);
int store_revision_values(struct store *s, const char *json_path, store_value_cb cb, void *data,
			  struct sw_err *err);

/*
 * AnalysisTemplates, by name (the canonical JSON spec validated). A
 * template from a Source is owned by it, as an app is (gitops.h); its
 * origin is the same JSON text a revision keeps ({"source", "commit",
 * "author", "time", "subject"}), "" when it was last changed by hand.
 */
struct store_template {
	char *name;
	char *hash;            /* SHA-256 of spec_json, hex */
	char *spec_json;       /* the canonical JSON document */
	char *source;          /* the file it was applied from */
	char *owner;           /* the Source whose documents define it; "" = none */
	char *origin;          /* the commit of its last change, as above; "" = by hand */
	int64_t updated_ms;    /* the last put (a put sets it) */
};
/* Inserts or replaces the row (updated_ms is now). */
int store_template_put(struct store *s, const struct store_template *t, struct sw_err *err);
/* *out (release with store_template_release), or SW_ENOTFOUND. */
int store_template_get(struct store *s, const char *name, struct store_template *out,
		       struct sw_err *err);
/* SW_ENOTFOUND when there is none. */
int store_template_delete(struct store *s, const char *name, struct sw_err *err);
void store_template_release(struct store_template *t);
/* Every template, by name (there are few: each is a document a user wrote);
 * free with store_template_list_free. */
int store_template_list(struct store *s, struct store_template **out, size_t *n,
			struct sw_err *err);
void store_template_list_free(struct store_template *ts, size_t n);

/*
 * Objects: the documents of the kinds modules register (spec_kind_register:
 * Source, later Environment, Pipeline...), by kind and name, each with its
 * canonical JSON and a status its module keeps (JSON text, "" when none).
 */
struct store_object {
	char *kind;            /* "Source" */
	char *name;
	char *spec_json;       /* the canonical JSON document */
	char *source;          /* the file it was applied from */
	char *owner;           /* the Source that renders it; "" = none */
	char *status;          /* the module's, "" when none */
	int64_t created_ms;
	int64_t updated_ms;
};
/* Inserts or replaces the document (kind, name, spec_json, source,
 * owner); the row's status and created_ms stay. */
int store_object_put(struct store *s, const struct store_object *o, struct sw_err *err);
/* Sets the status of a row (nothing when there is none). */
int store_object_status(struct store *s, const char *kind, const char *name, const char *status,
			struct sw_err *err);
/* SW_ENOTFOUND when there is none. */
int store_object_get(struct store *s, const char *kind, const char *name, struct store_object *out,
		     struct sw_err *err);
/* Every object of `kind`, by name; free with store_object_list_free. */
int store_object_list(struct store *s, const char *kind, struct store_object **out, size_t *n,
		      struct sw_err *err);
/* Deletes the row (nothing when there is none). */
int store_object_delete(struct store *s, const char *kind, const char *name, struct sw_err *err);
void store_object_release(struct store_object *o);
void store_object_list_free(struct store_object *os, size_t n);

/* One measurement of an analysis run, kept so every decision explains
 * itself (`slipway analysis APP`). */
struct store_measurement {
	int64_t id;
	int64_t time_ms;
	char *app;
	int64_t revision;      /* the revision under analysis */
	int64_t run;           /* the rollout's run id */
	char *kind;            /* "step", "background", "prePromotion", "postPromotion" */
	char *template_name;
	char *metric;
	char *provider;        /* "builtin", "prometheus", "web", "exec", "compare" */
	char *query;           /* what was asked: builtin metric, PromQL, URL, command */
	char *value;           /* the result as text, "" when none */
	char *condition;       /* the condition that decided, "" when none */
	char *outcome;         /* "Successful", "Failed", "Inconclusive", "Error" */
	char *reason;          /* one sentence: value, condition, limits */
};

int store_measurement_add(struct store *s, const struct store_measurement *m, struct sw_err *err);
/* The app's measurements with id > after_id, oldest first; revision 0 =
 * all. The whole list is in memory: for tests; the daemon pages. */
int store_measurement_list(struct store *s, const char *app, int64_t revision, int64_t after_id,
			   struct store_measurement **out, size_t *n, struct sw_err *err);
void store_measurement_list_free(struct store_measurement *ms, size_t n);
/*
 * Pages through the app's measurements without building a list: calls cb
 * for each of revision (0 = all), newest first with id < cursor (0 = from
 * the newest), or with forward oldest first with id > cursor, at most
 * limit (0 = no limit: callers cap it). The strings are valid during the
 * call only. Returns the number given to cb, or an error. Memory does not
 * depend on the table's size; time is O(limit + log n) on the (app, id)
 * and (app, revision, id) indexes.
 */
typedef void (*store_measurement_cb)(const struct store_measurement *m, void *data);
int store_measurement_page(struct store *s, const char *app, int64_t revision, int64_t cursor,
			   bool forward, size_t limit, store_measurement_cb cb, void *data,
			   struct sw_err *err);

/* An API token. Only the SHA-256 of the token is kept: whoever reads the
 * database cannot call the API with what they find. */
struct store_token {
	char *name;            /* unique, shown as the actor of its calls */
	char *hash;            /* lowercase hex SHA-256 of the token */
	char *role;            /* "admin", "deployer", "viewer" */
	int64_t created_ms;
	int64_t last_used_ms;  /* 0 = never used */
	char *environments;    /* the environments it may use, comma-separated ("staging,dev");
				  "" (or NULL when put): every environment */
	char *approve;         /* the environments it may approve promotions into, comma-
				  separated; "" (or NULL when put): none */
};

/* Adds a token; created_ms 0 = now. SW_EEXIST when the name (or the hash)
 * is taken. */
int store_token_put(struct store *s, const struct store_token *t, struct sw_err *err);
/* The token whose hash is `hash`, or SW_ENOTFOUND. Release with
 * store_token_release. */
int store_token_get_by_hash(struct store *s, const char *hash, struct store_token *out,
			    struct sw_err *err);
/* The token named `name`, or SW_ENOTFOUND. */
int store_token_get(struct store *s, const char *name, struct store_token *out, struct sw_err *err);
/* Every token, by name. */
int store_token_list(struct store *s, struct store_token **out, size_t *n, struct sw_err *err);
/* A page of them by name: those named after `after` ("" = from the
 * first), at most limit (0 = no limit: callers cap it). */
int store_token_page(struct store *s, const char *after, size_t limit, struct store_token **out,
		     size_t *n, struct sw_err *err);
/* SW_ENOTFOUND when there is no such token. */
int store_token_delete(struct store *s, const char *name, struct sw_err *err);
/* Records that the token was used at when_ms (0 = now). */
int store_token_touch(struct store *s, const char *name, int64_t when_ms, struct sw_err *err);
void store_token_release(struct store_token *t);
void store_token_list_free(struct store_token *ts, size_t n);

/*
 * Promotions of releases between environments (src/env/promotion.h), by
 * id, the newest per target app last. A row is history once its phase is
 * final; each target keeps its newest STORE_PROMOTIONS_KEPT.
 */
struct store_promotion {
	int64_t id;
	char *target;          /* the app promoted into: its key, "prod/hello" */
	char *upstream;        /* where the release comes from: "staging/hello" */
	char *release;         /* the version */
	char *phase;           /* promo_phase_name */
	char *state;           /* promo_state_to_json, as text */
	int64_t created_ms;
	int64_t updated_ms;
};
#define STORE_PROMOTIONS_KEPT 50
/* Adds a row (created_ms 0 = now) and trims the target's oldest. */
int store_promotion_add(struct store *s, const struct store_promotion *p, int64_t *out_id,
			struct sw_err *err);
/* Updates phase and state of row p->id (updated_ms 0 = now); SW_ENOTFOUND
 * when there is none. */
int store_promotion_put(struct store *s, const struct store_promotion *p, struct sw_err *err);
int store_promotion_get(struct store *s, int64_t id, struct store_promotion *out,
			struct sw_err *err);
/* The newest row of each target, by target. */
int store_promotion_latest(struct store *s, struct store_promotion **out, size_t *n,
			   struct sw_err *err);
/* A target's rows with id below `before` (0 = the newest), newest first,
 * at most limit (0 = no limit: callers cap it). */
int store_promotion_page(struct store *s, const char *target, int64_t before, size_t limit,
			 struct store_promotion **out, size_t *n, struct sw_err *err);
void store_promotion_release(struct store_promotion *p);
void store_promotion_list_free(struct store_promotion *ps, size_t n);

/*
 * Pipeline runs on the daemon (pipelines.c; src/pipeline/server.h drives
 * them): one row per run, one per job run with its steps as a JSON array
 * ([{"name", "state", "duration_ms", "attempt", "reason"}]). States are
 * pipeline_state_name's words ("queued", "running", "success", ...).
 * The logs are files (STATE/logs/pipelines/RUN/SLUG.log), not rows.
 */
struct store_pipeline_run {
	int64_t id;
	char *pipeline;        /* the Pipeline's name */
	char *source;          /* the Source it came from; "" for an applied one */
	char *sha;             /* the commit it ran on; "" when none */
	char *ref;             /* "refs/heads/main"; "" when none */
	char *trigger;         /* "push", "manual", "rerun" */
	char *actor;
	char *state;
	char *reason;          /* why it did not succeed; "" */
	int64_t rerun_of;      /* the run this reruns; 0 */
	char *spec_json;       /* the Pipeline document as it ran */
	int64_t created_ms, started_ms, finished_ms;
};
struct store_pipeline_job {
	int64_t run;
	int64_t idx;           /* the plan's job run index */
	char *name;            /* "build (gcc)" */
	char *slug;            /* "build-gcc": the log's file name */
	char *state;
	char *reason;
	int64_t started_ms, finished_ms;
	char *steps_json;
};
/* Adds a run (its id to *out_id, created_ms 0 = now). */
int store_pipeline_run_add(struct store *s, const struct store_pipeline_run *r, int64_t *out_id,
			   struct sw_err *err);
/* Updates state, reason, started_ms and finished_ms of row r->id. */
int store_pipeline_run_put(struct store *s, const struct store_pipeline_run *r, struct sw_err *err);
/* SW_ENOTFOUND: "pipeline run 7 not found". */
int store_pipeline_run_get(struct store *s, int64_t id, struct store_pipeline_run *out,
			   struct sw_err *err);
/* Runs newest first, of one pipeline (NULL: all), at most limit. */
int store_pipeline_run_list(struct store *s, const char *pipeline, size_t limit,
			    struct store_pipeline_run **out, size_t *n, struct sw_err *err);
/* Every run still "queued" or "running" made "failure" with reason (and
 * their unfinished job runs and steps): what a start does after a crash.
 * The ids to *out (free), their count to *n. */
int store_pipeline_run_fail_open(struct store *s, const char *reason, int64_t now_ms, int64_t **out,
				 size_t *n, struct sw_err *err);
void store_pipeline_run_release(struct store_pipeline_run *r);
void store_pipeline_run_list_free(struct store_pipeline_run *rs, size_t n);
/* Adds or replaces the job run (run, idx). */
int store_pipeline_job_put(struct store *s, const struct store_pipeline_job *j, struct sw_err *err);
/* A run's job runs by idx. */
int store_pipeline_job_list(struct store *s, int64_t run, struct store_pipeline_job **out, size_t *n,
			    struct sw_err *err);
void store_pipeline_job_list_free(struct store_pipeline_job *js, size_t n);

#endif
