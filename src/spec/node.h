/*
 * node: the tree spec's field tables read. YAML (through libfyaml's event
 * API, so that every node keeps its line and column) and JSON (what the
 * store gives back) are both turned into this one shape, so one set of
 * tables validates both. Internal to src/spec.
 */
#ifndef SW_SPEC_NODE_H
#define SW_SPEC_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "../core/core.h"

#define SPEC_MAX_DEPTH 64        /* nesting of mappings and lists */
#define SPEC_MAX_NODES 200000    /* per file */

enum snode_type {
	SN_NULL,   /* plain "", "~", "null" or JSON null */
	SN_SCALAR,
	SN_SEQ,
	SN_MAP,
};

struct snode {
	enum snode_type type;
	int line, col;       /* 1-based; 0 when unknown (JSON) */
	int kline, kcol;     /* position of the key when this is a mapping value */
	/* YAML only (0 from JSON): byte offsets in the input. pos: where the
	 * node starts (a quoted scalar's opening quote; a flow collection's
	 * '{' or '['); end: a scalar's end (after its closing quote; a block
	 * scalar's where the line after its content starts); kpos: the key's
	 * pos when this is a mapping value. For splicing text (seal.h). */
	size_t pos, end, kpos;
	const char *file;    /* the file the node came from when it is not its
			      * document's (a Patch's, src/spec/patch.h; borrowed), else NULL */
	bool quoted;         /* scalar was quoted (or a JSON string) */
	char *text;          /* scalar text, NUL-terminated, valid UTF-8 */
	size_t len;
	struct snode **kids; /* SEQ: items; MAP: key0, value0, key1, value1... */
	size_t nkids;        /* number of entries in kids */
	size_t cap;
};

/* Number of items of a SEQ or pairs of a MAP. */
static inline size_t snode_count(const struct snode *n)
{
	return n->type == SN_MAP ? n->nkids / 2 : n->type == SN_SEQ ? n->nkids : 0;
}

/*
 * Parses every document of a YAML stream. Returns 0 with *out an array of
 * *nout roots (an empty document gives an SN_NULL root), or -1 with
 * "file:line:col: ..." in err. Aliases, non-scalar keys, nesting deeper
 * than SPEC_MAX_DEPTH and invalid UTF-8 are errors.
 */
int snode_from_yaml(struct snode ***out, size_t *nout, const char *text, size_t len,
		    const char *file, struct sw_err *err);

/* Converts a JSON value (no positions); -1 with "file: ..." in err. */
int snode_from_json(struct snode **out, const json_t *json, const char *file, struct sw_err *err);

void snode_free(struct snode *n);

/* Appends kid (owned) to a SEQ's items or a MAP's key, value list. */
void snode_kid_add(struct snode *parent, struct snode *kid);

/* The value of `key` in a MAP, or NULL (also for non-maps). */
const struct snode *snode_get(const struct snode *map, const char *key);

#endif
