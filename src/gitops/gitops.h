/*
 * gitops: Slipway deploys from git. A `kind: Source` document names a
 * repository, a ref and the directories that hold documents; the daemon
 * fetches it (source.h: libgit2 on threads of its own, with time and size
 * limits), reads the documents of the commit as `slipway apply -f DIR`
 * reads a directory, and applies them through the engine, exactly as the
 * API does, with the commit as their origin. docs/gitops.md is the user's
 * guide; docs/internals/gitops.md the design.
 *
 *	apiVersion: slipway/v1
 *	kind: Source
 *	metadata: {name: shop}
 *	spec:
 *	  url: https://git.example.com/shop/deploy.git
 *	  ref: main                       # branch, tag, SHA or "v1.*"; default HEAD
 *	  path: apps                      # or [apps, shared]; default "."
 *	  interval: 1m                    # poll; a webhook fetches at once
 *	  credentials: {passwordFile: /etc/slipway/shop.token}
 *	  webhook: {secretFile: /etc/slipway/shop.hook}
 *	  syncPolicy: {automated: true, prune: false, selfHeal: false}
 *	  writeBack: {branch: main, author: "Slipway <slipway@host>", onAbort: false}
 *
 * Sync. Each fetched commit is read whole before anything is applied: one
 * invalid document anywhere in it and nothing of it is applied; the
 * source shows the commit and the error ("deploy/web.yaml:12:5: replicas
 * must be a positive integer") and what runs stays at the last good
 * commit. The same commit is not tried again until a new one comes. A
 * valid commit is applied in one engine_apply: only the apps whose
 * documents changed get a revision (the engine compares content), and
 * the apps and templates it defines are owned by the source.
 *
 * Drift. A change made outside git to an owned app or template (a hand
 * `apply`, a `delete`) makes the source OutOfSync, naming it and the
 * change (a template as "analysistemplate/NAME"); with selfHeal the
 * commit's documents are applied again at once (event "SelfHealed").
 * Apps and templates that left git are pruned with `prune: true`, but a
 * template that a live app's desired or stable revision names is kept,
 * with the reason, until no app uses it (the next poll then prunes it);
 * a commit that would prune every app of the source is refused unless
 * `allowEmpty: true` (Argo CD's safety; templates do not count).
 *
 * Rollbacks. A rollback of an owned app by anyone but the source pauses
 * that app's sync (new commits leave it alone until `sync --resume`),
 * since git would undo it. With `writeBack` it is committed to git
 * instead: the app's App document, in the file that holds it at the
 * commit fetched last, gets its text of the rolled-back-to revision's
 * commit (splice.h; the rest of the file byte for byte), pushed to
 * writeBack.branch by source_push (event "WrittenBack"); a push refused
 * because the branch moved is made again once on the new head; any
 * failure is event "WriteBackFailed" and the pause. With writeBack.onAbort
 * an automatic abort of a revision from git is written back the same way,
 * restoring the stable revision's document. Until the fetch that brings
 * the commit, the app is left out of the sync.
 *
 * Checkouts. An app from git runs in a directory of the commit: its
 * run.workdir (default: its document's directory) is checked out under
 * STATE/gitops/trees, content-addressed (source_checkout), so the
 * revision changes only when the files it runs change.
 *
 * Threading: one struct gitops per loop, used from that loop's thread.
 */
#ifndef SW_GITOPS_H
#define SW_GITOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "core/core.h"
#include "spec/fields.h"
#include "spec/reference.h"
#include "spec/spec.h"

struct engine;
struct http_server;

#define GITOPS_DEFAULT_INTERVAL_MS 60000u
#define GITOPS_DEFAULT_TIMEOUT_MS 60000u

/* A validated Source document. */
struct gitops_source_spec {
	char *name;                   /* metadata.name, a DNS label */
	json_t *labels;               /* metadata.labels, NULL when none */
	char *url;                    /* what source_url_check accepts */
	char *ref;                    /* NULL: the remote's HEAD */
	char **paths;                 /* repository-relative directories or files; default {"."} */
	size_t npaths;
	uint64_t interval_ms;         /* poll; default 1m */
	uint64_t timeout_ms;          /* per fetch; default 1m */
	char *username;               /* credentials.username */
	char *password_file;          /* credentials.passwordFile (alias tokenFile), absolute */
	char *ssh_key_file;           /* credentials.sshKeyFile, absolute */
	char *known_hosts_file;       /* credentials.knownHostsFile (required for ssh URLs) */
	char *webhook_secret_file;    /* webhook.secretFile, absolute; NULL: no webhook */
	bool automated;               /* syncPolicy.automated, default true */
	bool prune;                   /* default false */
	bool self_heal;               /* default false */
	bool allow_empty;             /* default false */
	bool write_back;              /* writeBack given: rollbacks are committed to git */
	char *wb_branch;              /* writeBack.branch; NULL: the branch ref resolved to */
	char *wb_author;              /* writeBack.author, "Name <email>"; NULL: "Slipway
					 <slipway@HOSTNAME>" */
	bool wb_on_abort;             /* writeBack.onAbort: automatic aborts too; default false */
	/* environments: the ones this host takes from the repository (DNS
	 * labels, none twice, in document order); each base App is made one
	 * App per environment with its Patch (spec_render), other
	 * environments' documents are read, checked and skipped. NULL: none
	 * given, the documents go where they say (default without one) */
	char **environments;
	size_t nenvironments;
	char *source;                 /* "file:line:col" of the document */
};

/* The kind (registered by gitops_kinds_register) and its document's table
 * (for the reference, `slipway explain source`). */
extern const struct spec_kind gitops_kind_source;
extern const struct spec_table gitops_source_table;
/* Its fields' descriptions (kind_docs.c), registered with the reference
 * by gitops_kinds_register. */
extern const struct spec_ref_doc gitops_source_docs[];

/* Registers the kinds gitops brings (Source), once, before anything is
 * parsed: the daemon and the CLI (offline validate) both call it. */
void gitops_kinds_register(void);

void gitops_source_spec_free(struct gitops_source_spec *s);
/* Inverse of the kind's to_json, validated as the YAML path is. */
int gitops_source_spec_from_json(struct gitops_source_spec **out, const json_t *json,
				 struct sw_err *err);

/* ---- the sync ---- */

struct gitops;

struct gitops_config {
	uv_loop_t *loop;
	struct engine *engine;
	const char *state_dir;        /* the cache goes to DIR/gitops/cache, checkouts to
					 DIR/gitops/trees */
};

/* Creates the sync; nothing runs before gitops_start. */
int gitops_new(struct gitops **out, const struct gitops_config *cfg, struct sw_err *err);
/*
 * Loads the stored Sources and their status (a restarted daemon carries
 * on from the last synced commit), watches the Source kind on the
 * engine, and fetches every source at once. Call after engine_start.
 */
int gitops_start(struct gitops *g, struct sw_err *err);
/* Registers the endpoints (docs/api.md "Sources"): GET /v1/sources,
 * GET /v1/sources/{name}, POST /v1/sources/{name}/sync, and POST
 * /v1/sources/{name}/webhook (no token: the signature is checked). */
void gitops_routes(struct gitops *g, struct http_server *http);
/* Stops timers and cancels fetches; the loop must run afterwards for the
 * handles to close. Call before engine_stop. */
void gitops_stop(struct gitops *g);
void gitops_free(struct gitops *g);

/* The status of one source (NULL: none) or of all ("sources": [...]), as
 * the API answers them (new reference). */
json_t *gitops_status(struct gitops *g, const char *name);

/*
 * Fetches `name` now and syncs what it finds (also when syncPolicy.
 * automated is off: this is the manual sync). cb (may be NULL) is called
 * exactly once, on the loop, never from inside the call, with the status
 * after the sync, or with an error (unknown source: SW_ENOTFOUND). A sync
 * asked for while a fetch runs is done by a new fetch right after it
 * (requests coalesce: many asks, one more fetch).
 */
typedef void (*gitops_sync_cb)(const json_t *status, const struct sw_err *err, void *data);
/* Returns an id for gitops_sync_cancel (never 0), or 0 with err set. */
uint64_t gitops_sync(struct gitops *g, const char *name, const char *actor, gitops_sync_cb cb,
		     void *data, struct sw_err *err);
/* cb of that sync is not called, now or later. */
void gitops_sync_cancel(struct gitops *g, uint64_t id);

/*
 * The hook a push reaches pipelines by (gitops never includes src/pipeline;
 * the daemon sets it, as engine_promotion_writer). Called on the loop, once
 * per new commit a source synced (applied with no error), after its
 * "Synced" event; never for a commit refused or the same commit again.
 * Strings are valid during the call only.
 */
struct gitops_push {
	const char *source;           /* the Source's name */
	const char *ref;              /* "refs/heads/main" (what its ref resolved to) */
	const char *sha;              /* the commit synced */
	const char *before;           /* the commit synced before it; "" for the first */
	const char *git_dir;          /* the source's bare cache repository (holds both) */
	const char *subject;          /* the commit's first line */
};
typedef void (*gitops_push_fn)(const struct gitops_push *p, void *data);
/* Sets (fn NULL: clears) the hook. */
void gitops_on_push(struct gitops *g, gitops_push_fn fn, void *data);

#endif
