/*
 * cli_int: what the CLI's command files share. A command is one file,
 * src/cli/cmd_NAME.c, that defines `const struct cli_command cli_cmd_NAME`
 * (its row in the command table of cli.c) with its options as a table of
 * `struct sw_opt` (core/opt.h); the row's usage is what both parses the
 * command's argv and prints its --help.
 */
#ifndef SW_CLI_INT_H
#define SW_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "core/buf.h"
#include "http/http.h"
#include "core/opt.h"

struct cli_globals;

/* What every command gets: where the daemon is. */
struct cli {
	const char *state_dir;
	struct http_client client;
	const struct cli_globals *g; /* the options before the command word */
	/* the environment selected (-e, $SLIPWAY_ENV, the context's), NULL for
	 * none; cli_call sends it with every request as ?environment= */
	const char *environment;
};

struct cli_command {
	const char *summary; /* one line in `slipway --help` */
	/*
	 * Runs the command; argv[0] is its name. Returns the exit code: 0
	 * success, 1 failure, 2 usage error. NULL for the roles that src/main.c
	 * runs itself (serve, proxy), listed here for `slipway --help` only.
	 */
	int (*run)(struct cli *c, int argc, char **argv);
	struct sw_opt_usage usage; /* name, arguments, options, help */
	/* The exit code when it cannot run at all (no daemon, a bad
	 * context); 0 means 1. `diff` says 2: its 1 means "they differ". */
	int failure_exit;
};

extern const struct cli_command cli_cmd_apply, cli_cmd_get, cli_cmd_status, cli_cmd_history,
	cli_cmd_logs, cli_cmd_rollout, cli_cmd_analysis, cli_cmd_routes, cli_cmd_events,
	cli_cmd_rollback, cli_cmd_delete, cli_cmd_token, cli_cmd_validate, cli_cmd_version,
	cli_cmd_upgrade, cli_cmd_import, cli_cmd_describe;
extern const struct cli_command cli_cmd_scale;
extern const struct cli_command cli_cmd_sync;
extern const struct cli_command cli_cmd_explain;
extern const struct cli_command cli_cmd_diff;
extern const struct cli_command cli_cmd_secret;
extern const struct cli_command cli_cmd_pipeline;
/* What src/main.c gave cli_pipeline_ops, or NULL. */
const struct cli_pipeline_ops *cli_pipeline_ops_get(void);
extern const struct cli_command cli_cmd_promote, cli_cmd_releases, cli_cmd_approve, cli_cmd_reject;
extern const struct cli_command cli_cmd_render;
/* Polls the promotion of app `name` into env (of release, when not NULL)
 * until it ends: Promoted, then its rollout there (cli_wait_rollout),
 * gives that wait's exit code; Failed, Rejected, Superseded (or another
 * release) 1; CLI_EXIT_TIMEOUT after timeout_ms (0: none). Prints a line
 * when it changes, unless quiet. */
int cli_wait_promotion(struct cli *c, const char *env, const char *name, const char *release,
		       uint64_t timeout_ms, bool quiet);
/* A promotion (the API's JSON) gate by gate, with its decisions (releases). */
void cli_print_promotion(json_t *p, FILE *f);
/* `history`'s run, for `rollout history` too (argv[0] "history", argv[1] APP). */
int cli_history_run(struct cli *c, int argc, char **argv);
extern const struct cli_command cli_cmd_config, cli_cmd_completion, cli_cmd_complete,
	cli_cmd_man;

/* For completing `get` (cmd_get.c): its KIND words (each kind's plural,
 * singular and short form, then "all") into out, at most max, returning
 * how many; and for `get KIND NAME`, the API list that names the objects
 * of that kind (path, the key of its array, the name field; revisions
 * take an app's name), false for a word that names none. */
size_t cli_get_kind_words(const char **out, size_t max);
bool cli_get_name_list(const char *kind_word, const char **path, const char **key,
		       const char **field);

/* ---- the command table (cli.c), for completion and manuals ---- */

/* Every row of the command table, in `slipway --help` order; rows whose
 * summary is NULL (`__complete`, `__man`) are hidden from help, manuals
 * and completion. */
const struct cli_command *const *cli_commands(size_t *n);
/* A row's usage: for serve and proxy the one cli_role_usage gave. */
const struct sw_opt_usage *cli_command_usage(const struct cli_command *cmd);
/* The options before the command word, and the top-level usage. */
extern const struct sw_opt_usage cli_global_usage;
/* The usage line of `slipway` itself (two lines). */
extern const char cli_main_synopsis[];
/* Writes `slipway --help`. */
void cli_main_help(FILE *f);

/*
 * Finds the daemon as cli.h's precedence says and points c->client (and
 * c->state_dir) at it. Returns 0, or 1 after printing what is wrong
 * (quiet: printing nothing). cli_main calls it for every command but those
 * that need no daemon (config, completion, validate, import, version...).
 */
int cli_connect(struct cli *c, bool quiet);
/* The config file's path (core/paths.h) into out; 0, or 1 with the error printed. */
int cli_config_file(struct buf *out);

/* The options of a command whose only option is --json. */
struct cli_json_opts {
	bool json;
};

/* The --json row, for a command whose option struct has `bool json`. */
#define CLI_OPT_JSON(type)                                                            \
	{                                                                              \
		.name = "json", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(type, json, bool), \
		.help = "print the answer as JSON",                           \
	}

extern const struct sw_opt cli_json_options[];

/* ---- the API ---- */

/*
 * One API call. Returns 0 with *out (may be NULL; the caller owns it) on a
 * 2xx answer; prints the daemon's error and returns 1 otherwise. The
 * environment selected (c->environment) goes with it as the query
 * parameter environment=ENV, unless path names one itself (get -A:
 * environment=*).
 */
int cli_call(struct cli *c, const char *method, const char *path, json_t *body, json_t **out);

/*
 * Appends an API path (or query) to out: fmt's text as it is, each %s
 * argument percent-encoded (all but A-Z a-z 0-9 - . _ ~), so that a value
 * is always one path segment or one query value; %lld, %d and %% as in
 * printf. Every path the CLI builds from a name or an option goes through it.
 */
void cli_pathf(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Lists the daemon pages (events, measurements, revisions: newest first,
 * "next" the cursor of the older page). `path` is the list's path with
 * any query of its own; the helpers add limit, before and after.
 *
 * cli_page_newest: the newest `limit` rows under `key` (0: every row),
 * page by page, into *out oldest first (new reference); the CLI holds at
 * most those. cli_page_forward: every row after *after (the rows' "id"),
 * oldest first, a page (1000) at a time, each page's rows handed to cb as
 * it comes, so memory is one page's however long the list; *after ends
 * at the last id. Both return 0, or 1 with the error printed.
 */
int cli_page_newest(struct cli *c, const char *path, const char *key, long long limit,
		    json_t **out);
int cli_page_forward(struct cli *c, const char *path, const char *key, int64_t *after,
		     void (*cb)(json_t *rows, void *data), void *data);

/* Whether the app (its JSON) has finished its rollout: Healthy and
 * served by the data plane (`routed` not false), or (*failed) Degraded or
 * Frozen. */
bool cli_app_done(json_t *app, bool *failed);

/* Exit codes of a wait for a rollout (`rollout status --watch`, `apply
 * --wait`, `rollback --wait`), as `kubectl argo rollouts status` has
 * them: 0 Healthy, 1 Degraded, Frozen or aborted; and these. */
#define CLI_EXIT_PAUSED 3         /* Paused until someone promotes or resumes it */
#define CLI_EXIT_TIMEOUT 4        /* --timeout ran out first */

/*
 * Whether a wait for the app's rollout of `revision` (0: any) ends with
 * this state of it: returns -1 while it goes on, else the exit code, with
 * the message for a pause in msg ("Paused: waiting for \"slipway rollout
 * promote hello\""). An app that left `revision` for another ends the
 * wait with 1 when the revision's rollout was aborted (the app's history
 * says so; msg is the abort's reason and where the app is now), however
 * short the rollout was: an abort whose rollback a write-back to git made
 * Healthy again between two polls is still an abort.
 */
int cli_rollout_end(struct cli *c, json_t *app, int64_t revision, char *msg, size_t size);

/* Polls an app until its rollout of `revision` (0: any) ends
 * (cli_rollout_end) or timeout_ms (0: no limit) runs out. Unless quiet,
 * prints a line when something changed (phase, step, weight, ready
 * counts, reason; a countdown at most every 5 s). Returns the exit code. */
int cli_wait_rollout(struct cli *c, const char *name, int64_t revision, uint64_t timeout_ms,
		     bool quiet);

/* A repeatable -f PATH (apply, diff, render): the values, pointing into
 * argv. cli_path_add is its SW_OPT_CUSTOM parser. */
#define CLI_PATHS_MAX 32
#define CLI_PATHS_EXPECT "be a path (at most 32 of them)"
struct cli_paths {
	const char *v[CLI_PATHS_MAX];
	size_t n;
};
int cli_path_add(void *field, const char *value);
/* A usage error (printed, 2) when -f - comes twice or --base-dir comes
 * without it; else 0. */
int cli_paths_check(const char *cmd, const struct cli_paths *paths, const char *base_dir);
/*
 * The files of every PATH in turn, each as the user would name it: a file
 * itself (or "-"), a directory's *.yaml / *.yml files, its subdirectories'
 * too (not hidden ones), in name order of their paths. Returns 0 and *out
 * (free with cli_files_free), or -1 with err (a PATH that cannot be read,
 * a directory without such files).
 */
int cli_collect_files(const struct cli_paths *paths, char ***out, size_t *n, struct sw_err *err);
void cli_files_free(char **v, size_t n);
/* A document file ("-": stdin) into out, at most SPEC_MAX_TEXT bytes
 * (spec_check_size's message past it); -1 with err. */
int cli_read_doc_file(const char *path, struct buf *out, struct sw_err *err);

/*
 * The body of POST /v1/apply for `-f PATH` (apply, diff): {"files":
 * [{"path", "content", "name"}]}: "name" the file as given (stdin:
 * "stdin"), for messages; "path" absolute, whose directory its relative
 * paths resolve from: the file's real path, or for stdin
 * BASE_DIR/(stdin), base_dir NULL meaning the current directory, which is
 * said on stderr. Returns 0 and *out (the caller's), or 1 with the error
 * printed.
 */
int cli_apply_body(const struct cli_paths *paths, const char *base_dir, json_t **out);
/* An app's name as the CLI prints it from an API object: "hello" in the
 * default environment, "prod/hello" in another (its "environment"), so
 * that apps of one name in two environments read apart; name_field is
 * the key of the name ("name", "app"). Escaped as cli_jstr; into out. */
const char *cli_app_label(json_t *o, const char *name_field, char *out, size_t size);
/* A document kind as kubectl spells it in kind/NAME: lower case
 * ("AnalysisTemplate" -> "analysistemplate"), into out; returns out. */
const char *cli_kind_word(const char *kind, char *out, size_t size);

/* ---- JSON ---- */

/* Prints j indented, in its key order, and a newline. */
void cli_json_print(json_t *j);
/* Prints j on one line (for streams of objects). */
void cli_json_print_line(json_t *j);
/*
 * o[key] as one line of text safe to print: "" when absent or not a
 * string; control characters (newline and tab too) and bytes that are not
 * UTF-8 escaped by cli_escape. The escaped text replaces the value in o,
 * so the pointer lives as long as o (and o's later JSON output shows it
 * escaped: print --json before reading fields this way).
 */
const char *cli_jstr(json_t *o, const char *key);
/* The same, for multi-line text (logs, messages): newline and tab kept. */
const char *cli_jtext(json_t *o, const char *key);
/* o[key] exactly as sent, "" when absent: for `logs --raw` only. */
const char *cli_jraw(json_t *o, const char *key);
/* The strings of the JSON array arr joined with sep, appended to out
 * (items that are no string count as ""); returns out's text ("" for
 * none). */
const char *cli_join(struct buf *out, json_t *arr, const char *sep);
/* An environment's "window" (the API's {open, until, reason}) as a cell,
 * appended to out: the reason ("denied until 2026-12-07 08:00
 * Europe/Berlin (deny ...)"), without the window in parentheses unless
 * full; "-" when absent. */
const char *cli_window_now(struct buf *out, json_t *window, bool full);
/* o[key] as an integer, 0 when absent. */
long long cli_jint(json_t *o, const char *key);

/* ---- human output (table.c): escaping and aligned tables ---- */

/*
 * Appends s[0..len) to out so that a terminal shows it and does nothing
 * else: C0 controls and DEL become \xNN (\n, \t, \r by name), C1
 * controls \u00NN, bytes that are not UTF-8 \xNN; with `multiline`,
 * newline and tab stay as they are. Everything the CLI prints from the
 * daemon goes through it (cli_jstr, cli_jtext, table cells).
 */
void cli_escape(struct buf *out, const char *s, size_t len, bool multiline);
/* cli_jstr / cli_jtext: o[key] escaped, the escaped copy stored in o. */
const char *cli_escape_in(json_t *o, const char *key, bool multiline);

struct cli_table {
	size_t ncols;
	char **cells; /* row-major, nrows * ncols, owned */
	size_t nrows;
};

/* The first row added is the header. */
void cli_table_init(struct cli_table *t, size_t ncols);
/* Adds a row of ncols strings (escaped copies, one line each; NULL prints as ""). */
void cli_table_row(struct cli_table *t, ...);
/* Prints columns left-aligned, separated by three spaces (no trailing
 * blanks); _indented starts every line with indent (describe's sections). */
void cli_table_print(const struct cli_table *t, FILE *f);
void cli_table_print_indented(const struct cli_table *t, FILE *f, const char *indent);
/* A table printed in pieces (get --watch): the column widths of t's rows
 * (room for t->ncols), and rows [from, t->nrows) printed with them, each
 * after indent (a cell wider than its column pushes the rest of its row
 * right). cli_table_print is both at once. */
void cli_table_widths(const struct cli_table *t, size_t *w);
void cli_table_print_rows(const struct cli_table *t, FILE *f, size_t from, const size_t *w,
			  const char *indent);
void cli_table_release(struct cli_table *t);

/* Formats the number v times mul with unit ("99.50%"), or "-" when v is not
 * a number (no data yet): one decimal, two when mul > 1. */
void cli_fmt_metric(char *out, size_t size, json_t *v, double mul, const char *unit);
/*
 * Colour on a terminal only: true when f is a tty and NO_COLOR is unset or
 * empty (https://no-color.org). cli_phase_color: the phase word as it is
 * to be printed, in colour when colour is on (Healthy green, Degraded and
 * Frozen red, Progressing and Paused yellow), else as it is; the pointer
 * lives until the next call.
 */
bool cli_color_on(FILE *f);
const char *cli_phase_color(FILE *f, const char *phase);

/* Prints the table of an app's revision groups (weight, ready, request rate,
 * success rate, p99), as `status` and `rollout status` show it. */
void cli_print_groups(json_t *groups);

/* ---- output formats (output.c): -o json|yaml|wide|name ---- */

enum cli_output {
	CLI_OUT_TABLE,  /* the default: aligned columns */
	CLI_OUT_WIDE,   /* the table with more columns */
	CLI_OUT_JSON,   /* the API's answer, indented (--json is the same) */
	CLI_OUT_YAML,   /* the same answer as YAML (cli_yaml_print) */
	CLI_OUT_NAME,   /* "kind/name" lines, kubectl style */
};

/*
 * --since (events, logs): a duration back from now ("10m", "2h30m") or a
 * time as the event log prints it, RFC 3339 in UTC
 * ("2026-12-02T05:00:00Z", with optional fraction of a second) or with an
 * offset ("+01:00"). The field is an int64_t of wall-clock ms (0 = not
 * given; a duration longer than the epoch gives 1).
 */
int cli_since_parse(void *field, const char *value);
#define CLI_OPT_SINCE(type, helptext)                                                  \
	{                                                                              \
		.name = "since", .kind = SW_OPT_CUSTOM,                                \
		.offset = SW_OPT_AT(type, since_ms, int64_t), .value = "DURATION|TIME", \
		.parse = cli_since_parse,                                              \
		.expect = "be a duration like 10m or a time like 2026-12-02T05:00:00Z", \
		.help = helptext,                                                      \
	}

/* The -o/--output row, for a command whose option struct has `int output`
 * (an enum cli_output; 0 = table); with CLI_OPT_JSON beside it for
 * --json, read the choice with cli_output_of. */
int cli_output_parse(void *field, const char *value);
#define CLI_OPT_OUTPUT(type)                                                           \
	{                                                                              \
		.name = "output", .letter = 'o', .kind = SW_OPT_CUSTOM,                \
		.offset = SW_OPT_AT(type, output, int), .value = "FORMAT",             \
		.expect = "be one of json, yaml, wide, name",                          \
		.parse = cli_output_parse,                                             \
		.help = "json, yaml, wide (more columns) or name (kind/name lines)",   \
	}
/* The format asked for: --json wins as -o json. */
enum cli_output cli_output_of(int output, bool json);

/*
 * Appends j as a YAML 1.2 block document (no "---"), two spaces a level,
 * keys in j's order: objects as `key: value`, arrays as `- item`, empty
 * ones as {} and [], numbers, true, false and null as JSON writes them.
 * A string stays plain only when no YAML reader (1.1 or 1.2) could take
 * it for anything else; otherwise it is double-quoted: empty, "yes",
 * "no", "on", "off", "y", "n", "true", "null", "~" (any case), starting
 * with a digit, sign or dot (numbers, dates, versions), leading or
 * trailing blanks, and every character outside letters, digits and
 * "-_./ +=()," (':' and '#' included). Inside quotes control characters
 * are escaped (\n, \t, \xNN, \uNNNN for DEL, C1, U+2028/9 and U+FEFF),
 * so the output is safe on a terminal too.
 */
void cli_yaml_emit(struct buf *out, json_t *j);
/* cli_yaml_emit to stdout. */
void cli_yaml_print(json_t *j);
/* Prints j in the format: JSON or YAML (else nothing; returns false). */
bool cli_output_doc(enum cli_output fmt, json_t *j);


#endif
