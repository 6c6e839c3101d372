/*
 * libFuzzer target for spec: any bytes as a YAML file. Parsing must never
 * crash or leak, and every App that parses must round-trip through its
 * canonical JSON byte for byte (templates likewise).
 *
 * Scalar oracle: whatever node.c reads (libfyaml's event stream, scalar
 * text through the token iterator) is read a second way, as libfyaml
 * document trees with each scalar from fy_node_get_scalar (its own
 * decoder), and every scalar, key and shape must agree byte for byte: a
 * decoding bug in either path (the iterator's last-chunk-only read was
 * one) aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>
#include <sanitizer/lsan_interface.h>

#include "core/utf8.h"
#include "spec/node.h"
#include "gitops/gitops.h"
#include "spec/spec.h"

static void same_text(const struct snode *s, struct fy_node *f)
{
	size_t len = 0;
	const char *t = fy_node_get_scalar(f, &len);
	size_t slen = s->text ? s->len : 0;
	if (!t)
		t = "";
	/* libfyaml 0.7.12's own decoder leaves bytes unwritten in some block
	 * scalars: a NUL (an empty "a: |" reads as one NUL) or whatever was in
	 * memory (ASan's 0xbe fill, in folded scalars). node.c refuses NULs
	 * and invalid UTF-8, so such a reading is libfyaml's bug, not a
	 * disagreement to judge. */
	if (memchr(t, '\0', len) || !sw_utf8_valid(t, len))
		return;
	/* libfyaml's exact text of a block scalar loses its end in some
	 * layouts (the header on a line of its own, a more-indented or
	 * unterminated last line: the last byte, the last line break or the
	 * whole last line; found by this target), and the iterator made up a
	 * final line break at the end of a file (node.c corrects that). So
 * a double-quoted scalar ending in empty lines loses its last line
	 * break there too. So libfyaml's reading, less trailing white space,
	 * must be where node.c's begins: a byte that differs before its end
	 * still aborts (the stale-bytes bug did), what it lacks at the end
	 * does not. The spec's chomping and endings are checked by
	 * tests/unit/test_spec_yaml.c instead. */
	while (len && strchr(" \t\n", t[len - 1]))
		len--;
	if (len <= slen)
		slen = len;
	if (len != slen || (len && memcmp(t, s->text, len) != 0)) {
		fprintf(stderr, "scalar at %d:%d: node.c read \"%.*s\" (%zu bytes), "
			"fy_node_get_scalar \"%.*s\" (%zu bytes)\n", s->line, s->col, (int)slen,
			s->text ? s->text : "", slen, (int)len, t, len);
		abort();
	}
}

static void same_tree(const struct snode *s, struct fy_node *f)
{
	void *it = NULL;
	size_t i = 0;
	if (!f) {
		if (s->type != SN_NULL || (s->text && s->len))
			abort();
		return;
	}
	switch (fy_node_get_type(f)) {
	case FYNT_SCALAR:
		if (s->type != SN_SCALAR && s->type != SN_NULL)
			abort();
		same_text(s, f);
		break;
	case FYNT_SEQUENCE: {
		struct fy_node *item;
		if (s->type != SN_SEQ)
			abort();
		while ((item = fy_node_sequence_iterate(f, &it))) {
			if (i >= s->nkids)
				abort();
			same_tree(s->kids[i++], item);
		}
		if (i != s->nkids)
			abort();
		break;
	}
	case FYNT_MAPPING: {
		struct fy_node_pair *p;
		if (s->type != SN_MAP)
			abort();
		while ((p = fy_node_mapping_iterate(f, &it))) {
			if (i + 1 >= s->nkids)
				abort();
			same_tree(s->kids[i], fy_node_pair_key(p));
			same_tree(s->kids[i + 1], fy_node_pair_value(p));
			i += 2;
		}
		if (i != s->nkids)
			abort();
		break;
	}
	}
}

/* Only for input node.c took: the stream is valid YAML without aliases. */
static void scalar_oracle(const uint8_t *data, size_t size)
{
	struct snode **roots = NULL;
	size_t nroots = 0, ndocs = 0;
	struct sw_err err = {0};
	if (snode_from_yaml(&roots, &nroots, (const char *)data, size, "fuzz.yaml", &err) != 0)
		return;
	/* libfyaml 0.7.12's document builder leaks on some inputs by itself
	 * (22 single quotes and a newline lose 1 KiB: a plain program that
	 * loads and destroys the document leaks too). Only the oracle uses
	 * the builder, so its allocations are not leak-checked; node.c's
	 * event stream, the product's reader, still is. */
	__lsan_disable();
	struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_ALLOW_DUPLICATE_KEYS};
	struct fy_parser *fyp = fy_parser_create(&cfg);
	if (!fyp || fy_parser_set_string(fyp, (const char *)data, size) != 0)
		abort();
	struct fy_document *fyd;
	while ((fyd = fy_parse_load_document(fyp))) {
		if (ndocs >= nroots)
			abort();
		same_tree(roots[ndocs++], fy_document_root(fyd));
		fy_parse_document_destroy(fyp, fyd);
	}
	/* the document builder may refuse what the event stream allowed
	 * (limits of its own); what it did build must all have matched */
	if (!fy_parser_get_stream_error(fyp) && ndocs != nroots)
		abort();
	fy_parser_destroy(fyp);
	__lsan_enable();
	for (size_t i = 0; i < nroots; i++)
		snode_free(roots[i]);
	free(roots);
}

static void check_app(const struct spec_app *a)
{
	char *t1 = spec_app_canonical(a);
	json_t *j = json_loads(t1, 0, NULL);
	struct spec_app *b = NULL;
	struct sw_err err = {0};

	if (!j || spec_app_from_json(&b, j, &err) != 0) {
		fprintf(stderr, "canonical JSON does not read back (%s):\n%s\n", err.msg, t1);
		abort();
	}
	char *t2 = spec_app_canonical(b);
	if (strcmp(t1, t2) != 0) {
		fprintf(stderr, "canonical JSON changes on a round trip:\n%s\n%s\n", t1, t2);
		abort();
	}
	char h1[65], h2[65];
	spec_app_hash(a, h1);
	spec_app_hash(b, h2);
	if (strcmp(h1, h2) != 0)
		abort();
	free(t1);
	free(t2);
	json_decref(j);
	spec_app_unref(b);
}

static void check_template(const struct spec_template *t)
{
	struct spec_template *u = NULL;
	struct sw_err err = {0};
	if (spec_template_from_json(&u, t->json, &err) != 0 || !json_equal(u->json, t->json))
		abort();
	spec_template_free(u);
}

/* Any other kind (Source...): its canonical JSON reads back to itself. */
static void check_doc(const struct spec_doc *d)
{
	json_t *j = d->kind->to_json(d->obj);
	void *back = NULL;
	struct sw_err err = {0};
	if (spec_doc_from_json(d->kind, &back, j, &err) != 0) {
		char *t = json_dumps(j, JSON_SORT_KEYS);
		fprintf(stderr, "%s: canonical JSON does not read back (%s):\n%s\n", d->kind->name,
			err.msg, t);
		abort();
	}
	json_t *j2 = d->kind->to_json(back);
	if (!json_equal(j, j2))
		abort();
	json_decref(j2);
	json_decref(j);
	d->kind->free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spec_set set;
	struct sw_err err = {0};
	static bool registered;
	if (!registered) {
		gitops_kinds_register(); /* the kinds the binary reads */
		registered = true;
	}

	scalar_oracle(data, size);
	if (spec_parse_text(&set, (const char *)data, size, "fuzz.yaml", &err) != 0) {
		if (!err.msg[0])
			abort(); /* every failure says why */
		return 0;
	}
	for (size_t i = 0; i < set.napps; i++)
		check_app(set.apps[i]);
	for (size_t i = 0; i < set.ntemplates; i++)
		check_template(set.templates[i]);
	for (size_t i = 0; i < set.ndocs; i++)
		if (set.docs[i].kind != &spec_kind_app && set.docs[i].kind != &spec_kind_template)
			check_doc(&set.docs[i]);
	spec_set_release(&set);
	return 0;
}
