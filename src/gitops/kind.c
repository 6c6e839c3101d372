/*
 * The Source document (gitops.h): its field tables, read by the spec
 * engine like every kind, and registered once at start-up.
 */
#include "gitops.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "source.h"
#include "spec/fields.h"
#include "spec/node.h"

/* ---- path: a directory of the repository, or a list of them ---- */

static int check_repo_path(struct spec_pctx *c, const struct snode *n)
{
	int rc = spec_need_scalar(c, n, "a path in the repository");
	if (rc < 0)
		return rc;
	if (n->len == 0)
		return spec_perr(c, n, "%s must not be empty (\".\" is the repository's root)",
				 spec_subject(c));
	if (n->text[0] == '/')
		return spec_perr(c, n, "%s must be relative to the repository's root, got \"%s\"",
				 spec_subject(c), n->text);
	for (const char *p = n->text; *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : p + strlen(p))
		if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
			return spec_perr(c, n, "%s must stay inside the repository, got \"%s\"",
					 spec_subject(c), n->text);
	return 0;
}

static int parse_paths(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char ***v = SPEC_AT(base, f->off, char **);
	size_t *nv = SPEC_AT(base, f->off2, size_t);
	char gotbuf[128];
	int rc;
	spec_free_argv(base, f);
	if (n->type == SN_SCALAR) {
		if ((rc = check_repo_path(c, n)) < 0)
			return rc;
		*v = xcalloc(2, sizeof(char *));
		(*v)[0] = xstrdup(n->text);
		*nv = 1;
		return 0;
	}
	if (n->type != SN_SEQ)
		return spec_perr(c, n, "%s must be a path or a list of paths, got %s", spec_subject(c),
				 SPEC_GOT(n));
	if (n->nkids == 0)
		return spec_perr(c, n, "%s must not be empty", spec_subject(c));
	*v = xcalloc(n->nkids + 1, sizeof(char *));
	for (size_t i = 0; i < n->nkids; i++) {
		size_t old = spec_path_push_index(c, i);
		rc = check_repo_path(c, n->kids[i]);
		spec_path_pop(c, old);
		if (rc < 0)
			return rc;
		(*v)[i] = xstrdup(n->kids[i]->text);
		*nv = i + 1;
	}
	return 0;
}

static json_t *emit_paths(const void *base, const struct spec_field *f)
{
	return spec_t_argv.emit(base, f);
}

static const struct spec_ftype t_paths = {parse_paths, emit_paths, spec_free_argv};

/* ---- a file on this host, relative to the document ---- */

static int parse_file(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char **p = SPEC_AT(base, f->off, char *);
	int rc = spec_need_scalar(c, n, "a file path");
	if (rc < 0)
		return rc;
	if (n->len == 0)
		return spec_perr(c, n, "%s must not be empty", spec_subject(c));
	free(*p);
	*p = spec_path_resolve(c->dir, n->text);
	return 0;
}

static const struct spec_ftype t_file = {parse_file, spec_emit_str, spec_free_str};

/* ---- url: what source_fetch takes ---- */

static int v_url(struct spec_pctx *c, const struct snode *n, const char *s)
{
	struct sw_err err = {0};
	if (source_url_check(s, NULL, &err) == 0)
		return 0;
	return spec_perr(c, n, "%s", err.msg);
}

/* ---- the tables ---- */

static const struct spec_range r_interval = {1000, 24ull * 3600 * 1000};
static const struct spec_range r_timeout = {1000, 3600ull * 1000};

static const struct spec_field cred_fields[] = {
	{"username", &spec_t_str, offsetof(struct gitops_source_spec, username), SPEC_F_NONEMPTY, 0, NULL, 0},
	{"passwordFile", &t_file, offsetof(struct gitops_source_spec, password_file), 0, 0, NULL, 0},
	{"tokenFile", &t_file, offsetof(struct gitops_source_spec, password_file), SPEC_F_NOEMIT, 0, NULL, 0},
	{"sshKeyFile", &t_file, offsetof(struct gitops_source_spec, ssh_key_file), 0, 0, NULL, 0},
	{"knownHostsFile", &t_file, offsetof(struct gitops_source_spec, known_hosts_file), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static int check_cred(struct spec_pctx *c, const struct snode *map, void *base)
{
	if (spec_present(map, "passwordFile") && spec_present(map, "tokenFile"))
		return spec_perr(c, snode_get(map, "tokenFile"),
				 "%s: tokenFile is another name for passwordFile; write one of them",
				 spec_where(c));
	(void)base;
	return 0;
}

static const struct spec_table cred_table = {cred_fields, -1, 0, NULL, check_cred};

static const struct spec_field webhook_fields[] = {
	{"secretFile", &t_file, offsetof(struct gitops_source_spec, webhook_secret_file), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* required, but emitted as null when there is no webhook: checked here */
static int check_webhook(struct spec_pctx *c, const struct snode *map, void *base)
{
	const struct snode *v = snode_get(map, "secretFile");
	if (!v || v->type == SN_NULL)
		return spec_perr(c, map, "missing required field \"secretFile\" in %s", spec_where(c));
	(void)base;
	return 0;
}

static const struct spec_table webhook_table = {webhook_fields, -1, 0, NULL, check_webhook};

/* webhook: a mapping, canonical null when there is none */
static int parse_webhook(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	return n->type == SN_NULL ? 0 : spec_parse_sub(c, n, base, f);
}

static json_t *emit_webhook(const void *base, const struct spec_field *f)
{
	const struct gitops_source_spec *s = base;
	return s->webhook_secret_file ? spec_table_emit(f->arg, base) : json_null();
}

static const struct spec_ftype t_webhook = {parse_webhook, emit_webhook, spec_free_sub};

/* ---- writeBack ---- */

/* "Name <email>", as git writes an author */
static int v_author(struct spec_pctx *c, const struct snode *n, const char *s)
{
	const char *lt = strchr(s, '<'), *gt = strchr(s, '>');
	if (!lt || lt == s || lt[-1] != ' ' || !gt || gt[1] || gt < lt + 2 ||
	    strchr(lt + 1, '<') || strchr(s, '\n'))
		return spec_perr(c, n, "%s must be \"Name <email>\", got \"%s\"", spec_subject(c), s);
	return 0;
}

static const struct spec_field write_back_fields[] = {
	{"branch", &spec_t_str, offsetof(struct gitops_source_spec, wb_branch), SPEC_F_NONEMPTY, 0, NULL, 0},
	{"author", &spec_t_str, offsetof(struct gitops_source_spec, wb_author), SPEC_F_NONEMPTY, 0, v_author, 0},
	{"onAbort", &spec_t_bool, offsetof(struct gitops_source_spec, wb_on_abort), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table write_back_table = {write_back_fields, -1, 0, NULL, NULL};

/* writeBack: a mapping (`{}` turns it on with the defaults), canonical
 * null when there is none */
static int parse_write_back(struct spec_pctx *c, const struct snode *n, void *base,
			    const struct spec_field *f)
{
	if (n->type == SN_NULL)
		return 0;
	((struct gitops_source_spec *)base)->write_back = true;
	return spec_parse_sub(c, n, base, f);
}

static json_t *emit_write_back(const void *base, const struct spec_field *f)
{
	const struct gitops_source_spec *s = base;
	return s->write_back ? spec_table_emit(f->arg, base) : json_null();
}

static const struct spec_ftype t_write_back = {parse_write_back, emit_write_back, spec_free_sub};

/* A ref that names no branch: a tag pattern, a tag, a commit. A plain
 * name may be either; the write-back checks what it resolved to. */
static bool ref_is_no_branch(const char *ref)
{
	size_t n = ref ? strlen(ref) : 0;
	return ref && (strchr(ref, '*') || strncmp(ref, "refs/tags/", 10) == 0 ||
		       (n >= 4 && n <= 40 && strspn(ref, "0123456789abcdefABCDEF") == n));
}

/* ---- environments: a list of environments' names ---- */

static int parse_envs(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	int rc = spec_t_argv.parse(c, n, base, f);
	char **v = *SPEC_AT(base, f->off, char **);
	size_t nv = *SPEC_AT(base, f->off2, size_t);
	for (size_t i = 0; rc == 0 && i < nv; i++) {
		size_t old = spec_path_push_index(c, i);
		rc = spec_v_dns_label(c, n->kids[i], v[i]);
		spec_path_pop(c, old);
		for (size_t k = 0; rc == 0 && k < i; k++)
			if (strcmp(v[k], v[i]) == 0)
				rc = spec_perr(c, n->kids[i], "%s names \"%s\" twice", spec_subject(c), v[i]);
	}
	return rc;
}

/* Nothing when not given, so that a Source without it reads as before. */
static json_t *emit_envs(const void *base, const struct spec_field *f)
{
	return *SPEC_CAT(base, f->off, char *const *) ? spec_t_argv.emit(base, f) : NULL;
}

static const struct spec_ftype t_envs = {parse_envs, emit_envs, spec_free_argv};

static const struct spec_field policy_fields[] = {
	{"automated", &spec_t_bool, offsetof(struct gitops_source_spec, automated), 0, 0, NULL, 0},
	{"prune", &spec_t_bool, offsetof(struct gitops_source_spec, prune), 0, 0, NULL, 0},
	{"selfHeal", &spec_t_bool, offsetof(struct gitops_source_spec, self_heal), 0, 0, NULL, 0},
	{"allowEmpty", &spec_t_bool, offsetof(struct gitops_source_spec, allow_empty), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table policy_table = {policy_fields, -1, 0, NULL, NULL};

static const struct spec_field spec_fields[] = {
	{"url", &spec_t_str, offsetof(struct gitops_source_spec, url), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0, v_url, 0},
	{"ref", &spec_t_str, offsetof(struct gitops_source_spec, ref), SPEC_F_NONEMPTY, 0, NULL, 0},
	{"path", &t_paths, offsetof(struct gitops_source_spec, paths), 0, 0, NULL,
	 offsetof(struct gitops_source_spec, npaths)},
	{"interval", &spec_t_dur, offsetof(struct gitops_source_spec, interval_ms), 0, 0, &r_interval, 0},
	{"timeout", &spec_t_dur, offsetof(struct gitops_source_spec, timeout_ms), 0, 0, &r_timeout, 0},
	{"credentials", &spec_t_sub, 0, 0, 0, &cred_table, 0},
	{"webhook", &t_webhook, 0, SPEC_F_NULLOK, 0, &webhook_table, 0},
	{"syncPolicy", &spec_t_sub, 0, 0, 0, &policy_table, 0},
	{"writeBack", &t_write_back, 0, SPEC_F_NULLOK, 0, &write_back_table, 0},
	{"environments", &t_envs, offsetof(struct gitops_source_spec, environments), SPEC_F_NONEMPTY, 0, NULL,
	 offsetof(struct gitops_source_spec, nenvironments)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static int check_spec(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct gitops_source_spec *s = base;
	bool ssh = false;
	struct sw_err err = {0};
	if (s->url && source_url_check(s->url, &ssh, &err) == 0 && ssh && !s->known_hosts_file)
		return spec_perr(c, snode_get(map, "url"),
				 "%s: an ssh URL needs credentials.knownHostsFile (the host's key is "
				 "checked; unknown hosts are refused)", spec_where(c));
	if (s->write_back && !s->wb_branch && ref_is_no_branch(s->ref))
		return spec_perr(c, snode_get(map, "writeBack"),
				 "%s: writeBack needs a branch: ref \"%s\" is a tag or a commit "
				 "(set writeBack.branch)", spec_where(c), s->ref);
	if (!s->paths) {
		s->paths = xcalloc(2, sizeof(char *));
		s->paths[0] = xstrdup(".");
		s->npaths = 1;
	}
	return 0;
}

static const struct spec_table spec_table = {spec_fields, -1, 0, NULL, check_spec};

static const struct spec_field meta_fields[] = {
	{"name", &spec_t_str, offsetof(struct gitops_source_spec, name), SPEC_F_REQUIRED, 0, spec_v_dns_label, 0},
	{"labels", &spec_t_labels, offsetof(struct gitops_source_spec, labels), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table meta_table = {meta_fields, -1, 0, NULL, NULL};

static const struct spec_field doc_fields[] = {
	{"apiVersion", &spec_t_api_version, 0, SPEC_F_REQUIRED, 0, NULL, 0},
	{"kind", &spec_t_kind, 0, SPEC_F_REQUIRED, 0, "Source", 0},
	{"metadata", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &meta_table, 0},
	{"spec", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &spec_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct spec_table gitops_source_table = {doc_fields, -1, 0, NULL, NULL};

/* ---- the kind ---- */

static void source_init(struct gitops_source_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->interval_ms = GITOPS_DEFAULT_INTERVAL_MS;
	s->timeout_ms = GITOPS_DEFAULT_TIMEOUT_MS;
	s->automated = true;
}

void gitops_source_spec_free(struct gitops_source_spec *s)
{
	if (!s)
		return;
	spec_table_free(&gitops_source_table, s);
	free(s->source);
	free(s);
}

static int kind_parse(struct spec_pctx *c, const struct snode *root, void **out)
{
	struct gitops_source_spec *s = xmalloc(sizeof(*s));
	int rc;
	source_init(s);
	if ((rc = spec_table_parse(c, root, s, &gitops_source_table)) < 0) {
		gitops_source_spec_free(s);
		return rc;
	}
	s->source = spec_position(c->file, root);
	*out = s;
	return 0;
}

static const char *kind_name(const void *obj)
{
	return ((const struct gitops_source_spec *)obj)->name;
}

static const char *kind_source(const void *obj)
{
	return ((const struct gitops_source_spec *)obj)->source;
}

static json_t *kind_json(const void *obj)
{
	return spec_table_emit(&gitops_source_table, obj);
}

static void kind_free(void *obj)
{
	gitops_source_spec_free(obj);
}

const struct spec_kind gitops_kind_source = {"Source", kind_parse, kind_name, kind_source,
					     kind_json, kind_free};

/* For the reference: the row types of these tables, as a user writes them. */
static const struct spec_ref_shape shapes[] = {
	{&t_paths, "string, or list of string", SPEC_REF_LEAF, "\"a\""},
	{&t_envs, "list of string", SPEC_REF_LEAF, "[\"a\"]"},
	{&t_file, "string", SPEC_REF_LEAF, "\"/a\""},
	{&t_webhook, "object", SPEC_REF_MAP, NULL},
	{&t_write_back, "object", SPEC_REF_MAP, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct spec_ref_kind ref_source = {&gitops_kind_source, &gitops_source_table,
						gitops_source_docs, shapes};

void gitops_kinds_register(void)
{
	int r = spec_kind_register(&gitops_kind_source);
	SW_ASSERT(r == 0);
	r = spec_ref_register(&ref_source);
	SW_ASSERT(r == 0);
}

int gitops_source_spec_from_json(struct gitops_source_spec **out, const json_t *json,
				 struct sw_err *err)
{
	return spec_doc_from_json(&gitops_kind_source, (void **)out, json, err);
}
