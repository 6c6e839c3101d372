/*
 * selector: label selectors in kubectl's syntax, parsed in one place for
 * the daemon (`?selector=` on list routes) and the CLI (`-l`).
 *
 *	selector    := requirement ("," requirement)*   (comma = AND; "" = all)
 *	requirement := KEY                 the label is set
 *	             | "!" KEY             the label is not set
 *	             | KEY ("=" | "==") VALUE
 *	             | KEY "!=" VALUE      unset, or set to another value
 *	             | KEY "in" "(" VALUE ("," VALUE)* ")"
 *	             | KEY "notin" "(" VALUE ("," VALUE)* ")"   unset counts as not in
 *
 * Blanks (space, tab) may surround every token. KEY is Kubernetes' label
 * key: an optional DNS-subdomain prefix and "/", then a name of 1..63
 * characters of [A-Za-z0-9-_.] that starts and ends with a letter or
 * digit; VALUE is empty or such a name. The same rules check the labels
 * of documents (sw_label_key_valid, sw_label_value_valid).
 *
 * Errors say where: `column 7: expected "(" after "in"`, the column
 * 1-based in the selector's text. Pure: no I/O, no global state.
 */
#ifndef SW_CORE_SELECTOR_H
#define SW_CORE_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

#define SW_SELECTOR_MAX_TEXT 4096 /* longer selectors are refused */

enum sw_sel_op {
	SW_SEL_EXISTS,   /* key */
	SW_SEL_NOT_EXISTS, /* !key */
	SW_SEL_EQ,       /* key=v, key==v */
	SW_SEL_NE,       /* key!=v */
	SW_SEL_IN,       /* key in (a,b) */
	SW_SEL_NOTIN,    /* key notin (a,b) */
};

struct sw_sel_req {
	enum sw_sel_op op;
	char *key;
	char **values;   /* EQ, NE: one; IN, NOTIN: at least one */
	size_t nvalues;
};

struct sw_selector {
	struct sw_sel_req *reqs; /* all must match */
	size_t nreqs;
};

/*
 * Parses text into out (which the caller holds; release it with
 * sw_selector_release whatever the result). Returns 0, or SW_EINVAL
 * with err saying "column N: what" (nothing kept in out).
 */
int sw_selector_parse(struct sw_selector *out, const char *text, struct sw_err *err);
void sw_selector_release(struct sw_selector *s);

/* How a matcher reads an object's labels: the value of key, or NULL
 * when the label is not set. */
typedef const char *(*sw_label_lookup)(const char *key, void *data);
/* Whether the labels that lookup reads satisfy every requirement (an
 * empty selector matches everything). */
bool sw_selector_match(const struct sw_selector *s, sw_label_lookup lookup, void *data);

/* Writes the selector back in its canonical spelling ("a=b,c in (x,y)"). */
struct buf;
void sw_selector_format(const struct sw_selector *s, struct buf *out);

/* Label syntax (Kubernetes' rules), for documents' metadata.labels. */
bool sw_label_key_valid(const char *key, size_t len);
bool sw_label_value_valid(const char *value, size_t len);

#endif
