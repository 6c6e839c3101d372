/*
 * splice: replace one App document of a YAML file and nothing else, for
 * the write-back of a rollback (gitops.h "Write-back"): the file at the
 * branch's head keeps every other byte, its other documents, comments and
 * line endings, and the App's document gets the text it had at the commit
 * rolled back to.
 *
 * Documents. A file is split into documents at lines that start with
 * "---" (followed by a space, a tab, a line end or the end of the file)
 * and ended early by lines that start with "..."; YAML forbids both at
 * the start of a line inside a scalar, so the split needs no parser. The
 * text before the first "---" is a document of its own when it holds
 * anything. A document's *body* is the lines after its "---" line up to
 * the next "---" or "..." line (or the end of the file): comments above
 * the next "---" belong to the body before it. Each body is parsed alone
 * (spec/node.h) only to read its `kind` and `metadata.name`.
 *
 *	head (the branch):            old (the commit rolled back to):
 *	  # shop                        apiVersion: slipway/v1
 *	  ---                           kind: App
 *	  kind: App                     metadata: {name: hello}
 *	  metadata: {name: hello}       spec: {version: "1.0.0" ...}
 *	  spec: {version: "2.0.0" ...}
 *	  ---
 *	  kind: App
 *	  metadata: {name: other}
 *
 * gives head with the lines of hello's body replaced by old's, "# shop",
 * both "---" lines and other's document unchanged byte for byte.
 *
 * Line endings follow head's (its first line end, CRLF or LF): the body
 * from old is converted to them. The body ends with a line end when
 * head's did, or when anything follows it; a last document without a
 * newline stays without one.
 *
 * Apps are named by key (spec.h): "hello" is the App named hello without
 * metadata.environment (or with "default"), "prod/hello" the one with
 * metadata.environment: prod.
 *
 * A promotion's write-back (splice_set_version) changes less: the scalar
 * of spec.version in the App's document, to the release promoted, every
 * other byte of the file kept (its comments, the quoting of other
 * values).
 *
 * Pure: no I/O; any thread.
 */
#ifndef SW_GITOPS_SPLICE_H
#define SW_GITOPS_SPLICE_H

#include <stddef.h>

#include "core/core.h"

struct buf;

/*
 * The body of the App document named `app` in text: 0 with its byte range
 * [*start, *end); SW_ENOTFOUND when no document is that App; SW_EINVAL
 * when it cannot be spliced: the App is defined twice in the file, or its
 * document starts on its "---" line ("--- {kind: App, ...}"). `file`
 * names the file in messages ("deploy/hello.yaml: ...").
 */
int splice_find_app(size_t *start, size_t *end, const char *text, size_t len, const char *app,
		    const char *file, struct sw_err *err);

/*
 * Appends to out the text of head (head_file in messages) with the body of
 * App `app` replaced by that App's body in old (old_file), as described
 * above. Errors as splice_find_app's, naming the file; out is unchanged
 * then.
 */
int splice_app(struct buf *out, const char *head, size_t head_len, const char *head_file,
	       const char *old, size_t old_len, const char *old_file, const char *app,
	       struct sw_err *err);

/*
 * Appends to out the text with App `app`'s spec.version set to version
 * (a double-quoted scalar in place of the old one, whatever its style);
 * the text unchanged when it says so already. Errors as splice_find_app's,
 * and SW_EINVAL when the document has no spec.version scalar; out is
 * unchanged then.
 */
int splice_set_version(struct buf *out, const char *text, size_t len, const char *file,
		       const char *app, const char *version, struct sw_err *err);

/*
 * Overlays (spec.h, "spec_render"): an app from a base App and its
 * environment's Patch takes a promotion's release in the Patch. `key` is
 * the app's ("prod/hello"): the Patch of metadata.name hello and
 * metadata.environment prod. splice_find_patch finds its body as
 * splice_find_app finds an App's; splice_patch_version sets its
 * spec.version as splice_set_version does, and adds it as the first key
 * of its spec when it has none (a line before the first key, as indented,
 * in a block mapping; after the "{" of a flow one).
 */
int splice_find_patch(size_t *start, size_t *end, const char *text, size_t len, const char *key,
		      const char *file, struct sw_err *err);
int splice_patch_version(struct buf *out, const char *text, size_t len, const char *file,
			 const char *key, const char *version, struct sw_err *err);
/* Appends text (may be empty: a new file) with a new Patch document for
 * `key` that sets spec.version, after a "---" line when text has
 * documents; text's line ends. */
void splice_patch_add(struct buf *out, const char *text, size_t len, const char *key,
		      const char *version);

#endif
