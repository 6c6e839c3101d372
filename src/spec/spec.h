/*
 * spec: Slipway's documents. Reads YAML files (or directories of *.yaml /
 * *.yml files, several documents per file separated by `---`) into typed,
 * validated structs. Every error names file:line:col and what is wrong:
 *
 *	app.yaml:12:5: replicas must be a positive integer, got "two"
 *	app.yaml:7:3: unknown field "replica" in spec (did you mean "replicas"?)
 *
 * Kinds: `App` and `AnalysisTemplate` (apiVersion `slipway/v1`) are built
 * in; modules register their own (spec_kind_register, below). Field names
 * follow Argo Rollouts where the idea is the same. The reference is
 * docs/documents.md; the field-table engine is fields.h.
 *
 * A parsed App also round-trips through canonical JSON (sorted keys, no
 * whitespace): that text is what the store keeps as a revision, and its
 * SHA-256 is the revision's content hash.
 */
#ifndef SW_SPEC_H
#define SW_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../core/core.h"

/*
 * The most document text one `validate` or `apply` takes: one file, or the
 * files of a directory together. Both refuse more with the same message
 * (spec_check_size), and the API's body limit is made from it, so that
 * apply never refuses what validate accepts.
 */
#define SPEC_MAX_TEXT (4u * 1024 * 1024)

/* minSamples of a builtin AnalysisTemplate metric that does not write one. */
#define SPEC_BUILTIN_MIN_SAMPLES 20

/*
 * 0 when `size` bytes fit SPEC_MAX_TEXT; else -1 with "PATH:1:1: file is
 * larger than 4 MiB" or, for the files of a directory together ("together"),
 * "PATH: the *.yaml and *.yml files together are larger than 4 MiB".
 */
int spec_check_size(const char *path, uint64_t size, bool together, struct sw_err *err);

enum spec_probe_kind {
	SPEC_PROBE_NONE = 0,
	SPEC_PROBE_HTTP,
	SPEC_PROBE_TCP,
	SPEC_PROBE_EXEC,
};

struct spec_probe {
	enum spec_probe_kind kind;
	char *http_path;            /* http: request path, default "/" */
	uint16_t port;              /* http/tcp: 0 means the instance's PORT */
	char **exec_command;        /* exec: argv, NULL-terminated */
	size_t exec_argc;
	uint64_t period_ms;         /* default 1s (readiness) / 2s (liveness) */
	uint64_t timeout_ms;        /* default 1s */
	uint64_t initial_delay_ms;  /* default 0 */
	uint32_t failure_threshold; /* consecutive failures; default 3 */
	uint32_t success_threshold; /* consecutive successes; default 1 */
};

struct spec_env {
	char *name;
	char *value;  /* may contain ${PORT} etc., substituted per instance;
		       * never NULL in run.env */
	bool secret;  /* value came from a file; never shown (issue 5) */
	bool age;     /* valueFrom.age: value is an armored age file (checked at
		       * parse), opened only as a process starts
		       * (runtime_env_build); not substituted */
};

/* spec.route: where the proxy serves the app (used from the proxy issue). */
struct spec_header_match {
	char *name;   /* header name */
	char *exact;  /* exact value, or NULL */
	char *regex;  /* POSIX extended regex, or NULL */
};

struct spec_route {
	char *listen;      /* "127.0.0.1:8080"; NULL = app not routed */
	char *host;        /* exact or "*.example.com"; NULL = any host */
	char *path_prefix; /* default "/" */
	bool sticky;       /* revision cookie for the whole rollout */
};

/* spec.strategy (used from the progressive-delivery issue). */
enum spec_strategy_kind {
	SPEC_STRATEGY_ROLLING = 0,
	SPEC_STRATEGY_CANARY,
	SPEC_STRATEGY_BLUEGREEN,
};

struct spec_analysis_ref {
	char *name;              /* Argo's step label; NULL when not written */
	char **templates;        /* template names */
	size_t ntemplates;
	struct spec_env *args;   /* name/value pairs */
	size_t nargs;
};

enum spec_step_kind {
	SPEC_STEP_SET_WEIGHT,
	SPEC_STEP_PAUSE,
	SPEC_STEP_ANALYSIS,
	SPEC_STEP_SET_HEADER_ROUTE,
};

struct spec_step {
	enum spec_step_kind kind;
	uint32_t weight;            /* setWeight: 0..100 */
	bool pause_indefinite;      /* pause: {} */
	uint64_t pause_ms;          /* pause: {duration: ...} */
	struct spec_analysis_ref analysis;
	struct spec_header_match header; /* setHeaderRoute: match */
};

struct spec_strategy {
	enum spec_strategy_kind kind;
	/* rolling */
	uint32_t max_surge;         /* default 1 */
	uint32_t max_unavailable;   /* default 0 */
	/* canary */
	struct spec_step *steps;
	size_t nsteps;
	struct spec_analysis_ref background; /* canary.analysis */
	uint32_t canary_replicas;   /* 0 = follow weight */
	/* blueGreen */
	char *preview_listen;
	struct spec_analysis_ref pre_promotion;
	struct spec_analysis_ref post_promotion;
	uint64_t auto_promotion_ms; /* 0 = manual */
	uint64_t scale_down_delay_ms; /* default 30s */
};

/* spec.hooks: jobs run around a rollout (docs/hooks.md). */
enum spec_migration {
	SPEC_MIGRATION_NONE = 0,
	SPEC_MIGRATION_EXPAND,      /* the stable revision still works with the new schema */
	SPEC_MIGRATION_CONTRACT,    /* it does not: an abort freezes instead of rolling back */
};

struct spec_hook {
	char *name;                 /* required, a DNS label, unique in its list */
	char **command;             /* argv, NULL-terminated; a string becomes
				     * ["/bin/sh", "-c", string] */
	size_t argc;
	struct spec_env *env;       /* over the revision's run.env */
	size_t nenv;
	uint64_t timeout_ms;        /* per attempt; default 5m; then the group is killed */
	uint32_t retries;           /* attempts after the first; default 0 */
	int migration;              /* enum spec_migration; preDeploy only */
};

enum spec_hook_kind {
	SPEC_HOOK_PRE_DEPLOY,       /* before any new instance starts */
	SPEC_HOOK_POST_DEPLOY,      /* once the revision is Healthy */
	SPEC_HOOK_ON_ABORT,         /* after the rollout of the revision was aborted */
	SPEC_HOOK_KINDS,
};

/* "preDeploy", "postDeploy", "onAbort" */
const char *spec_hook_kind_name(enum spec_hook_kind k);

struct spec_hooks {
	struct spec_hook *list[SPEC_HOOK_KINDS]; /* in document order */
	size_t n[SPEC_HOOK_KINDS];
};

struct spec_app {
	int refs;                /* spec_app_ref / spec_app_unref */
	char *name;              /* metadata.name: [a-z0-9]([-a-z0-9]*[a-z0-9])?, <= 63 */
	/* metadata.environment: a DNS label; NULL for the default environment
	 * (written "default", or not at all), which keeps the canonical JSON
	 * (and the content hash) of an app without one what it was before */
	char *environment;
	char *environment_at;    /* "file:line:col" of metadata.environment, NULL when not written */
	/* the qualified name, the app's key inside the daemon: the name in
	 * the default environment, "ENV/NAME" in another (spec_key); never
	 * NULL once parsed, not part of the canonical JSON */
	char *key;
	/* metadata.labels: object of strings, NULL when none; not part of the
	 * canonical JSON (a label never makes a revision: the engine keeps
	 * an app's labels beside its rollout state) */
	json_t *labels;
	char *version;           /* spec.version, required */
	char **command;          /* spec.run.command, NULL-terminated argv */
	size_t argc;
	char *workdir;           /* absolute, never NULL: relative paths are resolved against
				  * the file's directory, which is also the default; lexical
				  * clean-up only, nothing is stat'ed */
	struct spec_env *env;    /* spec.run.env, in document order */
	size_t nenv;
	uint32_t replicas;       /* >= 1, default 1 */
	struct spec_probe readiness;
	struct spec_probe liveness;
	int stop_signal;         /* default SIGTERM */
	uint64_t stop_timeout_ms; /* default 10s; then SIGKILL */
	uint64_t drain_timeout_ms; /* stop.drainTimeout, default 30s */
	uint64_t progress_deadline_ms; /* spec.progressDeadline, default 60s */
	struct spec_route route;
	struct spec_header_match *header_routes; /* route.headerRoutes (issue 3) */
	size_t nheader_routes;
	struct spec_strategy strategy;
	struct spec_hooks hooks;
	/* spec.dependsOn: names of the apps (DNS labels, none twice, not the
	 * app itself) each new revision waits for until they are Healthy
	 * (src/engine/depends.c); in document order */
	char **depends_on;
	size_t ndepends;
	char *depends_at;        /* "file:line:col" of the dependsOn list, for messages; NULL
				  * when there is none */
	char *source;            /* "file:line:col" of the document, for messages */
};

struct spec_metric;          /* defined by spec.c for AnalysisTemplate */

/*
 * A validated AnalysisTemplate. `json` is the whole document in canonical
 * form ({"apiVersion", "kind", "metadata": {"name"}, "spec": {"args",
 * "metrics"}}) with every default filled in; durations are strings in the
 * form "1m30s500ms" (sw_duration_parse reads them). The analysis module
 * reads its metrics from json.spec.metrics; docs/documents.md lists them.
 */
struct spec_template {
	char *name;
	char *source;            /* "file:line:col" of the document, or "json" */
	json_t *json;            /* the validated spec as canonical JSON (owned) */
};

/*
 * Kinds of documents. App and AnalysisTemplate are built in; every other
 * kind is brought by its module (Source by gitops, Pipeline by pipeline,
 * Image and Policy by supply...), which describes it with the field tables
 * of fields.h and registers it once, before anything is parsed:
 *
 *	static const struct spec_kind source_kind = {"Source", source_parse,
 *		source_name, source_source, source_json, source_free};
 *	spec_kind_register(&source_kind);
 *
 * Then every parse (files, directories, API bodies, JSON from the store)
 * knows the kind, and its documents arrive in spec_set.docs. No central
 * switch names the kinds.
 */
struct spec_pctx;
struct snode;

struct spec_kind {
	const char *name;        /* the document's `kind`, e.g. "Source" */
	/* Parses one whole document (apiVersion, kind, metadata, spec) into a
	 * new object; on failure frees what it made and returns -1, the
	 * message set through spec_perr(c, ...). */
	int (*parse)(struct spec_pctx *c, const struct snode *doc, void **out);
	const char *(*name_of)(const void *obj);   /* metadata.name */
	const char *(*source_of)(const void *obj); /* "file:line:col" of the document */
	json_t *(*to_json)(const void *obj);       /* canonical JSON (new reference) */
	void (*free)(void *obj);
};

extern const struct spec_kind spec_kind_app;
extern const struct spec_kind spec_kind_template;
extern const struct spec_kind spec_kind_patch;

/*
 * A Patch (docs/environments.md, "Overlays"): one environment's part of a
 * base App, the App without metadata.environment named `name`.
 *
 *	apiVersion: slipway/v1
 *	kind: Patch
 *	metadata: {name: hello, environment: prod}
 *	spec: {replicas: 4, run: {env: {LOG_LEVEL: warn}}}
 *
 * metadata.name and metadata.environment are required (environment a DNS
 * label, not "default"); spec holds App spec fields, each checked against
 * the App's tables when the Patch is read, so that a misspelt one is an
 * error at its own position ("envs/prod/hello.yaml:6:3: spec.replica is
 * not a field of App (did you mean replicas?)"). The values are checked
 * when the patch is merged (spec_render). The kind's name_of is the key,
 * "ENV/NAME", so two Patches of one app and environment in one file are
 * "defined twice". The merge rules are in patch.h.
 */
struct spec_patch {
	char *name;              /* the base App's metadata.name */
	char *environment;       /* never NULL */
	char *key;               /* "ENV/NAME" */
	char *source;            /* "file:line:col" of the document */
	json_t *labels;          /* metadata.labels, or NULL */
};


/* Adds a kind. Returns 0 (also when this very kind is registered already),
 * or -1 when another kind has the name or the registry (32) is full. Not
 * thread-safe: register at start-up. */
int spec_kind_register(const struct spec_kind *kind);
/* The kind named `name`, or NULL. */
const struct spec_kind *spec_kind_find(const char *name);

/* One document of a set. */
struct spec_doc {
	const struct spec_kind *kind;
	void *obj;               /* the kind's object (struct spec_app * for App) */
	/* what it was read from, for overlays (spec_render) and `slipway
	 * render`'s output: the document's tree (owned; a rendered App's is
	 * the merged tree, metadata.environment set), the file named in
	 * messages and the directory its relative paths are from (both
	 * owned); all NULL for a document made another way (from JSON) */
	struct snode *tree;
	char *file, *dir;
};

/* What one parse of a file or directory yields. */
struct spec_set {
	struct spec_doc *docs;   /* every document, in file order; owns the objects */
	size_t ndocs;
	struct spec_app **apps;  /* the App documents of docs (borrowed) */
	size_t napps;
	struct spec_template **templates; /* the AnalysisTemplate documents (borrowed) */
	size_t ntemplates;
};

/* Flags of spec_render. */
#define SPEC_RENDER_OTHERS 1u /* keep Apps that name an environment not in envs */

/*
 * Overlays: the documents of `sets` (the files of one apply or one
 * commit, read together) as environments `envs` get them, in place. Each
 * base App (no metadata.environment) becomes one App per environment of
 * envs, in that order: the base with the environment's Patch merged
 * (patch.h), else the base as it is, with metadata.environment set
 * ("default" in envs: the base itself, in the default environment). An
 * App that names an environment stays when envs has it (or with
 * SPEC_RENDER_OTHERS), else goes; Patches go; every other document
 * stays. Every Patch is merged and validated, also those for
 * environments not in envs, so that what is skipped is still checked.
 * The rendered documents take the base's place in its set, with the merged
 * tree in spec_doc.tree; relative paths are from the base's directory.
 *
 * -1 with err on the first problem, the sets unchanged: a Patch whose
 * base is missing ("envs/prod/hello.yaml:1:1: patch \"prod/hello\" has
 * no base: no App \"hello\" without metadata.environment is read with
 * it"), two Patches of one app and environment in two
 * files, a patched value that is wrong for an App (at the patch's
 * position). Pure: no I/O beyond what parsing an App does (valueFrom
 * files).
 */
int spec_render(struct spec_set *const *sets, size_t nsets, const char *const *envs, size_t nenvs,
		unsigned flags, struct sw_err *err);

/* The first Patch of sets, or NULL: for a caller that selects no
 * environment and so cannot use one. */
const struct spec_patch *spec_sets_patch(struct spec_set *const *sets, size_t nsets);
/* The i-th Patch of sets (in file order), or NULL past the last. */
const struct spec_patch *spec_sets_patch_at(struct spec_set *const *sets, size_t nsets, size_t i);

/*
 * A document's tree (spec_doc.tree) as YAML, block style, keys in the
 * document's order, scalars as written (quoted ones double-quoted): what
 * `slipway render` prints. Caller frees.
 */
char *spec_tree_yaml(const struct snode *doc);

/* Inverse of kind->to_json: validates as the YAML path does (messages
 * start with "json: "). Returns 0 and the object in *out, or -1. */
int spec_doc_from_json(const struct spec_kind *kind, void **out, const json_t *json,
		       struct sw_err *err);

/* "file:line:col" of a node (1:1 when it has no position; the node's own
 * file when it has one, a Patch's); caller frees. */
char *spec_position(const char *file, const struct snode *n);

/*
 * Parses `path` (a file or a directory whose *.yaml / *.yml files are read
 * in name order). Returns 0 and fills `out` (release with
 * spec_set_release), or -1 with the first error in `err`. Also fails when
 * two documents of one kind share a name.
 */
int spec_parse_path(struct spec_set *out, const char *path, struct sw_err *err);

/*
 * Parses YAML text. `filename` is used in messages and to resolve a
 * relative run.workdir (its directory; "." when it has none, made absolute
 * with the current directory). Texts over 4 MiB, nesting deeper than 64,
 * aliases and files with no documents are errors.
 */
int spec_parse_text(struct spec_set *out, const char *text, size_t len,
		    const char *filename, struct sw_err *err);

/*
 * spec_parse_text with relative paths (run.workdir, valueFrom files, the
 * files module kinds name) resolved against base_dir (absolute) instead
 * of filename's own directory: for documents that are not files on this
 * host, such as a git commit's (gitops), named in messages as filename.
 */
int spec_parse_text_at(struct spec_set *out, const char *text, size_t len, const char *filename,
		       const char *base_dir, struct sw_err *err);

/* Frees one document (its object, tree and names) and zeroes it: for a
 * caller that takes documents out of a set. */
void spec_doc_release(struct spec_doc *d);

/* Frees everything in set (apps are unref'd) and zeroes it. */
void spec_set_release(struct spec_set *set);

/* Frees a template from spec_template_from_json (a set frees its own). */
void spec_template_free(struct spec_template *t);
/* Inverse of spec_template.json; validates as the YAML path does. */
int spec_template_from_json(struct spec_template **out, const json_t *json, struct sw_err *err);

struct spec_app *spec_app_ref(struct spec_app *app);
void spec_app_unref(struct spec_app *app);

/*
 * Canonical JSON of an App (new reference): the document's shape
 * ({"apiVersion", "kind", "metadata": {"name"}, "spec": {...}}) with
 * every field present and defaults filled in; unset optional values are
 * null, durations are strings like "1m30s500ms", env is always a list of
 * {"name", "value", "secret"} ({"name", "valueFrom": {"age": ARMOR},
 * "secret": true} for an age value, which stays encrypted). Secret values are kept (the store needs
 * them to restart instances) with "secret": true so that output layers
 * can mask them. metadata.labels are not in it (see spec_app.labels).
 */
json_t *spec_app_to_json(const struct spec_app *app);
/* Whether one of the app's analysis references (canary steps and
 * background, blue/green pre- and post-promotion) names the template. */
bool spec_app_uses_template(const struct spec_app *app, const char *name);
/*
 * Labels (an object of strings, or NULL) as one line for people:
 * "team=web,tier=front", keys sorted (the first 64), cut at size; `none`
 * when there are none. The CLI's LABELS column and the Labeled event.
 */
void spec_labels_text(char *out, size_t size, const json_t *labels, const char *none);
/*
 * Inverse of spec_app_to_json; validates as the YAML path does (messages
 * start with "json: <field path>: "). The new app has refs 1 and source
 * "json". Round trip: to_json(from_json(to_json(a))) == to_json(a).
 */
int spec_app_from_json(struct spec_app **out, const json_t *json, struct sw_err *err);
/* The canonical text: json_dumps(to_json, JSON_SORT_KEYS | JSON_COMPACT).
 * Caller frees. This is what the store keeps and what is hashed. */
char *spec_app_canonical(const struct spec_app *app);
/* Lowercase hex SHA-256 of the canonical text; out holds 65 bytes. Not
 * what the store shows as a revision's hash: that one is keyed (the
 * canonical text holds secret values), see src/engine/revhash.c. */
void spec_app_hash(const struct spec_app *app, char out[65]);

/*
 * Where `valueFrom: {file: PATH}` may read from, for the whole process
 * (the daemon sets it once at start from --secret-dir). With it set, a
 * file is read only when its real path (symlinks and ".." resolved, and
 * checked again on the opened file) lies inside one of `dirs` and not in
 * `forbidden` (the state dir, which holds the API tokens); anything else
 * is a positioned error, the same whether the file exists or not. The
 * dirs are resolved at each check (one made after start counts). Never
 * called (the CLI's `validate`):
 * any readable file. Copies what it is given; call again to replace.
 */
void spec_set_secret_dirs(const char *const *dirs, size_t n, const char *forbidden);

/*
 * Qualified names (docs/internals/environments.md, "Identity"). An app's
 * key is its name in the default environment and "ENV/NAME" in another:
 * '/' is not a DNS-label character, so no name is mistaken for a key.
 */
#define SPEC_ENV_DEFAULT "default"
#define SPEC_KEY_MAX 128          /* 63 + '/' + 63 + NUL, rounded up */
/* The key of `name` in environment env (NULL, "" or "default": the
 * default one) into out; returns out. */
char *spec_key(char out[SPEC_KEY_MAX], const char *env, const char *name);
/* Splits a key: *name points into it after the '/', and env gets the
 * environment ("default" for a key without one); returns *name. */
const char *spec_key_split(const char *key, char env[64], const char **name);
/* Whether s is a DNS label, as metadata.name and metadata.environment
 * must be: lower-case letters, digits and '-', starting and ending with
 * a letter or digit, at most 63 characters. */
bool spec_is_dns_label(const char *s);
/* Whether env (NULL or "" = default) is the default environment. */
bool spec_env_is_default(const char *env);

/*
 * Puts the apps of set into environment `env` (the one a command selects,
 * `slipway -e ENV`; "default" or NULL is the default one): an app without
 * metadata.environment gets it (its key and canonical JSON too), an app
 * that names another is refused with its position, as kubectl refuses a
 * namespace that differs: "app.yaml:4:16: metadata.environment is prod
 * but the command selects staging". Returns 0, or -1 with err and set
 * unchanged.
 */
int spec_set_environment(struct spec_set *set, const char *env, struct sw_err *err);

/* Values for ${...} substitution in run.command and run.env. */
struct spec_vars {
	const char *port;
	const char *version;
	const char *instance;
	const char *app;
};

/* Returns a new string with ${PORT}, ${VERSION}, ${INSTANCE}, ${APP}
 * replaced; "$$" yields "$". Unknown names were rejected at parse time
 * (any left are copied as they are); a NULL value gives "". Secret env
 * values are stored with '$' doubled, so substituting gives back the
 * file's bytes: call it on every run.command item and run.env value. */
char *spec_substitute(const char *in, const struct spec_vars *vars);

#endif
