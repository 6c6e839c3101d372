/*
 * argo: turns Argo Rollouts documents into Slipway documents. Pure: text
 * in, JSON documents and warnings out; no files, no clock. The CLI's
 * `slipway import argo` reads the files and prints what this returns;
 * docs/documents.md ("slipway import argo") lists what maps to what.
 *
 * Kinds read: Rollout (to an App), AnalysisTemplate and
 * ClusterAnalysisTemplate (to an AnalysisTemplate), Service (its port
 * becomes the route of the Rollout whose container port it targets).
 * Every field that is not carried over gives one warning with the
 * position of its key, "file:line:col: PATH ...", in document order; a
 * field carried over with a changed meaning (an image that must become a
 * command, a Job run on the host) gives one too. Nothing is guessed
 * silently.
 *
 *	struct spec_argo imp;
 *	spec_argo_init(&imp);
 *	spec_argo_add(&imp, text, len, "rollout.yaml", &err);   // per file
 *	spec_argo_finish(&imp);                                 // links Services
 *	for (i < imp.ndocs) print spec_yaml_emit(imp.docs[i])
 *	for (i < imp.nwarnings) print imp.warnings[i]
 *	spec_argo_release(&imp);
 */
#ifndef SW_SPEC_ARGO_H
#define SW_SPEC_ARGO_H

#include <stddef.h>

#include <jansson.h>

#include "core/core.h"

struct spec_argo {
	json_t **docs;       /* Slipway documents (owned), Apps and templates in input order */
	char **names;        /* docs[i]'s "kind-name", for -o DIR file names */
	size_t ndocs;
	char **warnings;     /* "file:line:col: what was not carried over" (owned) */
	size_t nwarnings;
	json_t *services;    /* internal: Services seen, linked by spec_argo_finish */
};

void spec_argo_init(struct spec_argo *imp);

/*
 * Reads every document of one file. Returns 0 (warnings may have been
 * added), or -1 with "file:line:col: ..." in err when the text is not
 * YAML; documents read before the error are kept.
 */
int spec_argo_add(struct spec_argo *imp, const char *text, size_t len, const char *file, struct sw_err *err);

/* Gives each App the route of the Service that targets its port. */
void spec_argo_finish(struct spec_argo *imp);

void spec_argo_release(struct spec_argo *imp);

/*
 * A JSON document as block YAML (every string double-quoted, so a value
 * never changes type), ending with a newline. The caller frees it.
 */
char *spec_yaml_emit(const json_t *doc);

#endif
