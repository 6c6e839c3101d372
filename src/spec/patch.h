/*
 * patch: an environment's overlay of a base App (docs/internals/
 * environments.md, "Overlays"). Pure: node trees in, a node tree out;
 * the merged tree is then parsed as any App, so every check, default and
 * error message is the App's own. Internal to src/spec.
 *
 * The rules, Kustomize's strategic merge where it has one and JSON merge
 * patch (RFC 7396) otherwise:
 *   - mappings merge key by key, recursively; a scalar or a list replaces;
 *   - null deletes the key (the base's value goes, its default applies);
 *   - spec.run.env merges by variable name, in either form: a mapping's
 *     `NAME: null` or a list item `{name: NAME, $patch: delete}` removes
 *     one; a patch in one form over a base in the other gives the list
 *     form, base order first, new names after;
 *   - spec.strategy replaces whole when the patch names another strategy
 *     (canary over rolling), else merges (canary.steps, a list, replaces);
 *   - metadata: labels merge; name and environment are the patch's to
 *     match, not to change.
 * Every node the patch brings keeps its own file, line and column
 * (snode.file), so an error in a patched value points into the patch.
 */
#ifndef SW_SPEC_PATCH_H
#define SW_SPEC_PATCH_H

#include "node.h"

/*
 * The base document with the patch document's `spec` (and metadata.labels)
 * merged in: a new tree in *out, the base untouched. `patch_file` names the
 * patch's file for the nodes it brings (borrowed: it must outlive *out).
 * -1 with "file:line:col: ..." in err when the patch is not a mapping
 * where a mapping is needed, or a `$patch` is not "delete".
 */
int spec_patch_merge(struct snode **out, const struct snode *base, const struct snode *patch,
		     const char *patch_file, struct sw_err *err);

/* A new scalar node of text, placed where `at` is (its key's position
 * when it is a mapping value), in at's file, else `file`. */
struct snode *snode_scalar_at(const char *text, const struct snode *at, const char *file);

/* A deep copy of n; nodes without a file get `file` (NULL: none). */
struct snode *snode_copy(const struct snode *n, const char *file);

/* Parses one document's tree into set as spec_parse_text would parse it
 * from `file` (relative paths from `dir`, NULL: file's directory): for a
 * merged tree, whose nodes say which file each came from. (spec.c) */
struct spec_set;
int spec_parse_node(struct spec_set *set, const struct snode *doc, const char *file, const char *dir,
		    struct sw_err *err);

/* Parses one document's tree, which it takes (freed on failure), into
 * *out with the tree kept (spec_doc.tree), relative paths from dir
 * (absolute). For spec_render's merged Apps. (spec.c) */
struct spec_doc;
int spec_parse_tree(struct spec_doc *out, struct snode *doc, const char *file, const char *dir,
		    struct sw_err *err);

/* Checks the keys of a Patch's `spec` (a MAP) against the App's tables, at
 * every depth the tables describe: -1 with "FILE:LINE:COL: spec.replica
 * is not a field of App (did you mean replicas?)" at the first key that is
 * none. Values are not checked (the merged App is). (spec.c) */
struct spec_pctx;
int spec_patch_check(struct spec_pctx *c, const struct snode *spec);

#endif
