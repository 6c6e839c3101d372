/* gitops internals shared by sync.c and routes.c. */
#ifndef SW_GITOPS_INT_H
#define SW_GITOPS_INT_H

#include "gitops.h"

#include "core/map.h"
#include "source.h"

#define DRIFT_CHECK_DELAY_MS 50   /* after an outside change, coalescing a burst */
/* How a rendered Source and a template are named among a source's apps,
 * in its status ("apps", "drift"): as the CLI names them. An app is named
 * by its name alone. */
#define SOURCE_PREFIX "source/"
#define TEMPLATE_PREFIX "analysistemplate/"

struct waiter {
	struct waiter *next;
	bool plan;                    /* answer with gitops_plan (a dry run) */
	uint64_t id;
	uint64_t need_gen;            /* answered once fetch_gen reaches it */
	gitops_sync_cb cb;
	void *data;
};

/* A rollback to write back to git (sync.c "write-back"). */
struct write_back {
	struct write_back *next;
	char *app;
	int64_t revision;             /* the revision rolled back to */
	int64_t failed;               /* an abort's: the revision aborted */
	char *actor;                  /* who rolled back; "slipway" for an abort */
	char *why;                    /* the event's message */
	bool manual;                  /* a rollback (the app is held, else paused on failure),
					 not an automatic abort */
	char *version;                /* a promotion's: the release to set (engine.h
					 "promotion"); revision and failed are 0 then */
	int64_t promotion;            /* its id, for engine_promotion_written */
};

struct gsrc {
	struct gitops *g;
	char *name;
	char *owner;                  /* the Source that renders this one, or NULL */
	struct gitops_source_spec *spec;
	uv_timer_t timer;             /* the next poll */
	uv_timer_t check;             /* a drift check after an outside change */
	int open_handles;
	bool deleted;
	uint64_t fetch_id;            /* running, 0 when none */
	bool again;                   /* fetch once more when this one ends */
	bool manual;                  /* the coming sync was asked for: apply even when
					 automated is off */
	bool respec;                  /* the document changed: sync as for a new commit */
	bool plan_only;               /* the fetch running is a dry run's: it applies nothing */
	bool syncing;                 /* its own apply or prune runs: what it changes is
					 not drift */
	uint64_t fetch_gen;           /* fetches completed */
	struct waiter *waiters;
	/* what the status says */
	char fetched[41];
	int64_t fetched_ms;
	char *fetch_error;
	char synced[41];              /* the last commit applied */
	char *synced_subject, *synced_author;
	int64_t synced_time_ms, synced_ms;
	char invalid[41];             /* a commit refused, not tried again */
	char *invalid_error;
	json_t *drift;                /* [{"app", "reason"}] */
	json_t *apps;                 /* names defined at the synced commit (apps, and
					 SOURCE_PREFIX, TEMPLATE_PREFIX names) */
	json_t *paused;               /* {app: why}: rolled back by hand, left out of
					 the sync until `sync --resume` */
	char *fetched_ref;            /* what ref resolved to at the last fetch */
	struct write_back *wb;        /* write-backs waiting, oldest first */
	uint64_t push_id;             /* the write-back running, 0 when none */
	struct write_back *pushing;   /* its request */
	json_t *held;                 /* {app: "writing"|"written"}: rolled back, the
					 write-back under way or waiting for the fetch that
					 brings it; left out of the sync meanwhile */
	json_t *aborts;               /* {app: revision}: aborts written back (once each) */
	int64_t refused_ms;           /* last WebhookRefused event (one per 10 s) */
	uint64_t refused;             /* refused since that event */
	uint64_t webhooks;            /* accepted webhooks */
};

struct gitops {
	struct gitops_config cfg;
	struct engine *e;
	struct source *src;
	char *cache_dir, *trees_dir, *vroot;
	struct sw_map sources;        /* name -> struct gsrc */
	uint64_t sub;                 /* engine_subscribe */
	uint64_t next_waiter;
	bool stopping;
	uv_timer_t *gc_timer;         /* gc.c; its own allocation, freed when closed */
	uint64_t gc_last_ms;
	gitops_push_fn on_push;       /* gitops_on_push; NULL: none */
	void *on_push_data;
};

/* gc.c: unused checkouts. gitops_gc_soon schedules a pass (a short while
 * from now, at most one every 10 s); gitops_gc runs one now and counts the
 * checkouts it removes. */
void gitops_gc_init(struct gitops *g);
void gitops_gc_soon(struct gitops *g);
int gitops_gc(struct gitops *g, size_t *removed, struct sw_err *err);
void gitops_gc_stop(struct gitops *g);

/* The status as the API shows it (new reference). */
json_t *gitops_status_json(const struct gsrc *gs);
/* Fetches now, or once more after the fetch that runs (coalesced). */
void gitops_fetch(struct gsrc *gs);
/* "source/NAME", the actor of what the source does (caller frees). */
char *gitops_actor(const struct gsrc *gs);

/* What a sync of the commit last fetched would do: {"source", "commit",
 * "plan": [{"kind", "name", "action": create|update|unchanged|prune|keep,
 * "reason" (of a keep), "live", "desired"}], "refused"?}, or NULL with err. */
json_t *gitops_plan(struct gsrc *gs, struct sw_err *err);

/* gitops_sync, or (plan) a fetch whose answer is gitops_plan's, which
 * applies nothing. */
uint64_t gitops_sync_ex(struct gitops *g, const char *name, const char *actor, bool plan,
			bool resume,
			gitops_sync_cb cb, void *data, struct sw_err *err);

#endif
