/*
 * fields: the field-table engine that reads every Slipway document. A
 * module that brings a kind of document (Source, Environment, Pipeline,
 * Image, Policy) describes it with these tables and registers it with
 * spec_kind_register (spec.h); it then gets, like App and
 * AnalysisTemplate, exact `file:line:col` errors, "did you mean" for
 * unknown keys, defaults, canonical JSON and freeing from the same rows.
 *
 * Every keyword is a row in a `struct spec_field` table: its name, its
 * type (a `struct spec_ftype`, which parses a node into the struct, emits
 * it as canonical JSON and frees it), where it lives (offset), and flags.
 * Adding a field is adding a row:
 *
 *	static const struct spec_field source_fields[] = {
 *		{"url", &spec_t_str, offsetof(struct source, url), SPEC_F_REQUIRED, 0, v_url, 0},
 *		{"interval", &spec_t_dur, offsetof(struct source, interval_ms), 0, 0, NULL, 0},
 *		{NULL, NULL, 0, 0, 0, NULL, 0},
 *	};
 *	static const struct spec_table source_table = {source_fields, -1, 0, NULL, NULL};
 *
 * Documents arrive as a `struct snode` tree (node.h) made from YAML or
 * JSON, so that a document read back from the store validates exactly as
 * the file did. Messages: spec_perr(c, node, "...") prefixes the node's
 * position; spec_subject(c) names the field being read ("replicas").
 */
#ifndef SW_SPEC_FIELDS_H
#define SW_SPEC_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/core.h"
#include "node.h"

/* The state of one document's parse, passed to every row's parser. */
struct spec_pctx {
	const char *file;     /* for messages */
	const char *dir;      /* absolute directory relative paths start from */
	struct sw_err *err;
	struct buf path;      /* "spec.run.command[1]" */
	const char *root;     /* what the document's top level is called */
};

enum {
	SPEC_F_REQUIRED = 1 << 0,
	SPEC_F_ONEOF = 1 << 1,     /* exactly one of the table's SPEC_F_ONEOF rows */
	SPEC_F_NOEMIT = 1 << 2,    /* input-only spelling; not in canonical JSON */
	SPEC_F_NULLOK = 1 << 3,    /* null is a value (pause:), not "absent" */
	SPEC_F_NONEMPTY = 1 << 4,  /* strings and lists */
	SPEC_F_VARS = 1 << 5,      /* ${PORT}... allowed and checked */
	SPEC_F_OMIT_NULL = 1 << 6, /* emit nothing (rather than null) when unset */
	SPEC_F_ZERO_NULL = 1 << 7, /* numbers: 0 means unset, emitted as null */
	SPEC_F_ANYTEXT = 1 << 8,   /* strings: control characters too; the table's
				    * check refuses them where the text is shown */
};

struct spec_field;
struct spec_table;

struct spec_ftype {
	int (*parse)(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f);
	json_t *(*emit)(const void *base, const struct spec_field *f);
	void (*free)(void *base, const struct spec_field *f);
};

struct spec_field {
	const char *name;
	const struct spec_ftype *type;
	size_t off;        /* of the value in the base struct */
	unsigned flags;
	int tag;           /* SPEC_F_ONEOF: the value stored at the table's kind_off */
	const void *arg;   /* per type: sub-table, range, enum names, validator */
	size_t off2;       /* lists: offset of the size_t count */
};

struct spec_table {
	const struct spec_field *fields; /* ends with a row whose name is NULL */
	long kind_off;              /* where SPEC_F_ONEOF rows put their tag; -1: nowhere */
	size_t size;                /* list elements: sizeof the element */
	void (*init)(void *elem);   /* list elements: defaults */
	int (*check)(struct spec_pctx *c, const struct snode *map, void *base);
};

#define SPEC_AT(base, off, T) ((T *)((char *)(base) + (off)))
#define SPEC_CAT(base, off, T) ((const T *)((const char *)(base) + (off)))

typedef int (*spec_validator_fn)(struct spec_pctx *c, const struct snode *n, const char *s);

struct spec_range {
	uint64_t min, max;
};

struct spec_drange {
	double min, max;
	bool open; /* min and max themselves are excluded */
};

#define SPEC_GOT(n) spec_describe((n), gotbuf, sizeof(gotbuf))

/* Values of a spec_field's `arg` for the numeric types. */

/* ---- messages and paths ---- */

size_t spec_path_push(struct spec_pctx *c, const char *key);
size_t spec_path_push_index(struct spec_pctx *c, size_t i);
void spec_path_pop(struct spec_pctx *c, size_t old);
const char *spec_subject(struct spec_pctx *c);
const char *spec_where(struct spec_pctx *c);
int spec_perr(struct spec_pctx *c, const struct snode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int spec_perr_at_key(struct spec_pctx *c, const struct snode *n, const char *msg);
const char *spec_describe(const struct snode *n, char *out, size_t size);
const char *spec_suggest(const char *word, const char *const *names);
void spec_add_suggestion(struct buf *b, const char *word, const char *const *names);

/* ---- the engine ---- */

void spec_table_free(const struct spec_table *t, void *base);
json_t *spec_table_emit(const struct spec_table *t, const void *base);
bool spec_present(const struct snode *map, const char *key);
int spec_table_parse(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_table *t);

/* ---- row types: the parsers, emitters and freers types are made of ---- */

/* Validator (a row's arg for spec_t_str): a DNS label, as metadata.name is
 * ("must be lower-case letters, digits and '-', ..."). */
int spec_v_dns_label(struct spec_pctx *c, const struct snode *n, const char *s);
/* Validator: an http:// or https:// URL with something after the scheme. */
int spec_v_url(struct spec_pctx *c, const struct snode *n, const char *s);
/* dir/p made absolute and cleaned up lexically ("a/../b" -> "b"; no
 * symlinks followed, nothing stat'ed); p absolute stays itself. Caller
 * frees. How relative paths in documents are read (workdir, files). */
char *spec_path_resolve(const char *dir, const char *p);

/* 0 when n is a scalar ("must be <what>" otherwise) holding no control
 * character but tab and newline (C0, DEL, C1): every text a document
 * gives passes here, so none can rewrite the terminal it is shown in. */
int spec_need_scalar(struct spec_pctx *c, const struct snode *n, const char *what);

/* The second half of spec_need_scalar: 0 when scalar n holds no control
 * character but tab and newline. */
int spec_need_text(struct spec_pctx *c, const struct snode *n);
int spec_check_vars(struct spec_pctx *c, const struct snode *n, const char *s);
json_t *spec_emit_str(const void *base, const struct spec_field *f);
void spec_free_str(void *base, const struct spec_field *f);
int spec_parse_uint(struct spec_pctx *c, const struct snode *n, const struct spec_range *r, uint64_t *out);
int spec_parse_dur(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f);
json_t *spec_emit_dur(const void *base, const struct spec_field *f);
int spec_parse_sub(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f);
void spec_free_sub(void *base, const struct spec_field *f);
int spec_parse_list(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f);
json_t *spec_emit_list(const void *base, const struct spec_field *f);
void spec_free_list(void *base, const struct spec_field *f);
void spec_free_argv(void *base, const struct spec_field *f);
int spec_unique_names(struct spec_pctx *c, const struct snode *list, const void *arr, size_t count, size_t size, size_t name_off, const char *what);

/* Ready-made types: strings (arg: a spec_validator_fn or NULL), unsigned
 * numbers (arg: a struct spec_range), durations ("1m30s"; arg: a range in
 * ms or NULL), bools, doubles (arg: a struct spec_drange), enums (arg: a
 * NULL-terminated array of names; the int is the index), a sub-table at
 * off (arg: the table), a list of structs at off with its size_t count at
 * off2 (arg: the element table), a string list (argv) at off with count at
 * off2, apiVersion, kind (arg: the kind's name), metadata.labels. */
extern const struct spec_ftype spec_t_str;
extern const struct spec_ftype spec_t_u32;
extern const struct spec_ftype spec_t_u16;
extern const struct spec_ftype spec_t_dur;
extern const struct spec_ftype spec_t_bool;
extern const struct spec_ftype spec_t_double;
extern const struct spec_ftype spec_t_enum;
extern const struct spec_ftype spec_t_sub;
extern const struct spec_ftype spec_t_list;
extern const struct spec_ftype spec_t_argv;
extern const struct spec_ftype spec_t_api_version;
extern const struct spec_ftype spec_t_kind;
extern const struct spec_ftype spec_t_labels;

/*
 * Schedules, for the sync windows of an Environment (core/window.h):
 *
 *	{"windows", &spec_t_list, offsetof(struct env, windows), 0, 0,
 *	 &spec_window_table, offsetof(struct env, nwindows)},
 *
 * reads `windows: [{kind: deny, schedule: "0 22 * * 5", duration: 60h,
 * timeZone: Europe/Berlin}]` into a struct sw_window array (kind and
 * schedule and duration required, duration at least 1m, timeZone UTC when
 * left out); spec_free_list releases each window's zone.
 *
 * spec_t_cron: a cron expression (core/cron.h) into the struct sw_cron at
 * off; one that never matches ("0 0 30 2 *") is refused; emitted as its
 * text ("@daily" stays "@daily"). spec_t_timezone: a zone name into the
 * struct sw_tz * at off, loaded from SW_TZ_DIR while the document is read
 * (so that an unknown zone is an error at its position); NULL when left
 * out, emitted as "UTC".
 */
/*
 * An analysis reference, `{templates: [golden], args: [{name, value}]}`,
 * into the struct spec_analysis_ref at off (arg: spec_analysis_ref_table):
 * what a canary's background analysis reads, for other kinds that run
 * templates (an Environment's promotion gate); emitted as null when it
 * names no template.
 */
extern const struct spec_ftype spec_t_analysis_ref;
extern const struct spec_table spec_analysis_ref_table;

extern const struct spec_ftype spec_t_cron;
extern const struct spec_ftype spec_t_timezone;
extern const struct spec_table spec_window_table;

#endif
