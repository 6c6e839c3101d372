/*
 * reference: the field reference of every kind, made from the same field
 * tables (fields.h) that read documents, as `slipway explain` shows it:
 *
 *	slipway explain app.spec.strategy.canary.steps
 *
 * For each field it tells what the tables know — its name, its type as a
 * user writes it ("string", "duration", "list of object", `one of "GET",
 * "POST"`), whether it is required, the one-of group it belongs to, its
 * fields — and two things they do not say by themselves:
 *
 * - The default, found by reading a document: a smallest valid document
 *   that holds the field's parent but not the field is parsed, and the
 *   field's value in the canonical JSON is its default. The defaults are
 *   thus the ones the parser fills in (init functions, table checks),
 *   never a copy. Required fields, one-of choices and input-only
 *   spellings (aliases such as `maxFailures`) have none.
 * - The description, from one table keyed by path: reference.c's for
 *   App and AnalysisTemplate, the module's own for a kind it registers
 *   (spec_ref_register). The prose exists nowhere else in code. tests/unit/
 *   test_spec_reference.c walks every table of every kind and fails when
 *   a field has no description or a description names no field, so a
 *   field cannot be added without being documented.
 *
 * Paths are written as kubectl writes them: the kind, then field names
 * joined by ".", lists crossed without an index ("metrics[0]" and
 * "metrics[]" are read as "metrics"). The kind may be spelled "app",
 * "apps", "App", "analysistemplate", "analysistemplates", "at",
 * "source", "sources"... (case does not matter).
 */
#ifndef SW_SPEC_REFERENCE_H
#define SW_SPEC_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "../core/core.h"
#include "fields.h"
#include "spec.h"

/* ---- what spec.c gives the reference about its own tables ---- */

enum spec_ref_nest {
	SPEC_REF_LEAF,  /* a value: no fields under it */
	SPEC_REF_MAP,   /* a mapping: the row's arg is its table */
	SPEC_REF_LIST,  /* a list: the row's arg is the table of each element */
	/* a mapping of names to objects (a Pipeline's jobs): the row's arg
	 * starts with a pointer to the table of each value; paths cross it
	 * without the name, as they cross lists without an index */
	SPEC_REF_DICT,
};

/*
 * How a row type looks to a user. `name` is the TYPE explain prints; NULL
 * for spec_t_enum (the row's arg names are printed as `one of "a", "b"`).
 * `sample` is a JSON text of a valid value, used to make the smallest
 * document; NULL when the reference makes one from the row (strings get
 * the first of "a", "/a", "http://a" the row's validator takes; numbers
 * the bottom of their range).
 */
struct spec_ref_shape {
	const struct spec_ftype *type;
	const char *name;
	enum spec_ref_nest nest;
	const char *sample;
};

/* The shapes of spec.c's own row types; ends with a NULL type. */
extern const struct spec_ref_shape spec_ref_shapes[];

/*
 * A field's description: `path` without the kind ("spec.run"; "" for the
 * document itself), `text` the prose, `default_text` prose where the
 * default is not one value ("the directory of the file"), else NULL.
 */
struct spec_ref_doc {
	const char *path;
	const char *text;
	const char *default_text;
};

/*
 * A kind in the reference: its table of the whole document, the
 * descriptions of its fields (ends with a NULL path; NULL for spec.c's
 * own kinds, whose prose is reference.c's table) and the shapes of the
 * row types it brings (ends with a NULL type; may be NULL). A module
 * registers its kinds here as it registers them with spec_kind_register,
 * so that explain, and the test that every field is described, walk
 * every kind the binary reads:
 *
 *	static const struct spec_ref_kind source_ref = {&source_kind,
 *		&source_table, source_docs, source_shapes};
 *	spec_ref_register(&source_ref);
 */
struct spec_ref_kind {
	const struct spec_kind *kind;
	const struct spec_table *table;
	const struct spec_ref_doc *docs;
	const struct spec_ref_shape *shapes;
};

/* The kinds spec.c builds in; ends with a NULL kind. */
extern const struct spec_ref_kind spec_ref_kinds[];

/* Adds a kind to the reference (after spec.c's). Returns 0 (also when
 * this very one is there already), or -1 when another has its kind or
 * the registry (32) is full. Not thread-safe: register at start-up. */
int spec_ref_register(const struct spec_ref_kind *kind);
/* The i-th kind of the reference (spec.c's first, then in registration
 * order), or NULL past the last. */
const struct spec_ref_kind *spec_ref_kind_at(size_t i);

/* ---- the reference ---- */

/* The shape of a row type, or NULL when the reference does not know it. */
const struct spec_ref_shape *spec_ref_shape_of(const struct spec_ftype *type);

/*
 * The kind a user names (see above), or NULL; on NULL, when `err` is not
 * NULL, it holds `unknown kind "WORD" (did you mean "app"?); kinds: app,
 * analysistemplate, source` (every kind of the reference).
 */
const struct spec_ref_kind *spec_ref_kind_find(const char *word, struct sw_err *err);

/*
 * Every kind of the reference, as `slipway explain` without a path lists
 * them: a new array of {"kind": "App", "name": "app", "description"}.
 */
json_t *spec_ref_kinds_json(void);

/*
 * Explains `path` ("app", "app.spec.replicas"). Returns 0 and *out, a new
 * object:
 *
 *	{"kind": "App", "field": "spec.replicas" ("" for the document),
 *	 "type": "integer", "range": "1 to 1000" (when the type has one),
 *	 "required": false, "oneOf": ["rolling", ...] (the group the field is
 *	 in, when it is in one), "default": 1 (when it has one),
 *	 "description": "...",
 *	 "fields": [{"name", "type", "required", "oneOf": true|absent,
 *	             "default", "description", "fields" (recursive only)}]}
 *
 * "fields" lists what a mapping or each element of a list holds, in table
 * order (input-only spellings too); with `recursive` every level down.
 * Returns -1 with err set for an unknown kind or field: `unknown
 * field "stpes" in app.spec.strategy.canary (did you mean "steps"?)`,
 * the suggestion as validate makes it (spec_add_suggestion).
 */
int spec_ref_explain(json_t **out, const char *path, bool recursive, struct sw_err *err);

/*
 * The description of the field at `path` (without the kind: "spec.run")
 * of `kind`, or NULL when there is none: "" is the document itself. For
 * the test that every field has one.
 */
const char *spec_ref_description(const struct spec_kind *kind, const char *path);

/*
 * Calls cb for every key of the description tables (reference.c's and
 * the registered kinds'), with its kind's name ("*" for keys every kind
 * shares) and path; for the test that every key names a field.
 */
void spec_ref_each_description(void (*cb)(const char *kind, const char *path, void *data), void *data);

/*
 * Calls cb for every field path of `kind` the tables hold, with its row
 * (NULL for the document itself), input-only spellings included, in
 * table order, each mapping's fields after it.
 */
void spec_ref_each_field(const struct spec_ref_kind *kind,
			 void (*cb)(const char *path, const struct spec_field *row, void *data), void *data);

/*
 * Whether a smallest valid document that holds `path` (without the kind;
 * no input-only spelling on it) was found: the defaults under it are read
 * from that document. For the test that a new check does not make every
 * such document fail, which would silently drop defaults.
 */
bool spec_ref_has_document(const struct spec_ref_kind *kind, const char *path);

#endif
