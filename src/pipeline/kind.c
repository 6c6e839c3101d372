/*
 * The Pipeline document (pipeline.h): its field tables, read by the spec
 * engine like every kind, the row types a workflow needs (maps of jobs,
 * env maps, conditions and templates checked as expressions, the matrix),
 * and the whole-document checks: needs, cycles, limits.
 */
#include "pipeline.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "pipeline_int.h"
#include "spec/fields.h"
#include "spec/node.h"
#include "spec/reference.h"

/* ---- expressions inside text: positions in the document ---- */

/*
 * An error about byte `at` of scalar n's text: at its column when the
 * text is one line as written (plain or quoted), else at the node with
 * the line and column inside the text.
 */
static int expr_perr(struct spec_pctx *c, const struct snode *n, size_t at, const char *what,
		     const char *msg)
{
	size_t line = 0, col = at;
	for (size_t i = 0; i < at && i < n->len; i++)
		if (n->text[i] == '\n') {
			line++;
			col = at - i - 1;
		}
	if (line == 0 && !memchr(n->text, '\n', n->len) && n->line > 0) {
		struct snode pos = *n;
		pos.col = n->col + (n->quoted ? 1 : 0) + (int)at;
		return spec_perr(c, &pos, "%s %s: %s", spec_subject(c), what, msg);
	}
	return spec_perr(c, n, "%s %s (line %zu, column %zu of the text): %s", spec_subject(c), what,
			 line + 1, col + 1, msg);
}

/* ---- conditions: if: ---- */

static int parse_cond(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char **p = SPEC_AT(base, f->off, char *);
	struct pipeline_expr *e = NULL;
	struct sw_err err = {0};
	size_t at = 0;
	int rc = spec_need_scalar(c, n, "a condition");
	if (rc < 0)
		return rc;
	if (n->len == 0)
		return spec_perr(c, n, "%s must not be empty (leave it out: success())", spec_subject(c));
	if (pipeline_cond_compile(&e, n->text, *(const unsigned *)f->arg, &at, &err) < 0)
		return expr_perr(c, n, at, "expression", err.msg);
	pipeline_expr_free(e);
	free(*p);
	*p = xstrdup(n->text);
	return 0;
}

static const struct spec_ftype t_cond = {parse_cond, spec_emit_str, spec_free_str};

/* ---- templates: text with ${{ }} parts ---- */

static int check_template(struct spec_pctx *c, const struct snode *n, const char *s, unsigned ctx)
{
	struct sw_err err = {0};
	size_t at = 0;
	if (pipeline_template_check(s, ctx, &at, &err) < 0)
		return expr_perr(c, n, at, "expression", err.msg);
	return 0;
}

static int parse_tmpl(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char **p = SPEC_AT(base, f->off, char *);
	int rc = spec_need_scalar(c, n, "a string");
	if (rc < 0)
		return rc;
	if ((f->flags & SPEC_F_NONEMPTY) && n->len == 0)
		return spec_perr(c, n, "%s must not be empty", spec_subject(c));
	if ((rc = check_template(c, n, n->text, *(const unsigned *)f->arg)) < 0)
		return rc;
	free(*p);
	*p = xstrdup(n->text);
	return 0;
}

static const struct spec_ftype t_tmpl = {parse_tmpl, spec_emit_str, spec_free_str};

static const unsigned ctx_job_if = PIPELINE_CTX_JOB_IF;
static const unsigned ctx_step_if = PIPELINE_CTX_STEP_IF;
static const unsigned ctx_step = PIPELINE_CTX_STEP;
/* what a pipeline's own fields know: the event */
static const unsigned ctx_run = PIPELINE_CTX_SLIPWAY | PIPELINE_CTX_INPUTS;
/* a job's fields decided as it starts: its matrix and needs too */
static const unsigned ctx_job = PIPELINE_CTX_SLIPWAY | PIPELINE_CTX_INPUTS | PIPELINE_CTX_MATRIX |
				PIPELINE_CTX_NEEDS;
/* cache keys: the job's files */
static const unsigned ctx_cache = PIPELINE_CTX_SLIPWAY | PIPELINE_CTX_MATRIX | PIPELINE_CTX_ENV |
				  PIPELINE_CTX_HASH;

/* ---- maps of names to text: env, outputs ---- */

struct vars_arg {
	const unsigned *ctx;
	bool env;                   /* names are environment variables */
};

bool pipeline_env_name_ok(const char *s)
{
	if (!*s || !(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

bool pipeline_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 100 || !(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

static void free_vars(void *base, const struct spec_field *f)
{
	struct pipeline_var **v = SPEC_AT(base, f->off, struct pipeline_var *);
	size_t *nv = SPEC_AT(base, f->off2, size_t);
	for (size_t i = 0; i < *nv; i++) {
		free((*v)[i].name);
		free((*v)[i].value);
	}
	free(*v);
	*v = NULL;
	*nv = 0;
}

static int parse_vars(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	const struct vars_arg *a = f->arg;
	struct pipeline_var **v = SPEC_AT(base, f->off, struct pipeline_var *);
	size_t *nv = SPEC_AT(base, f->off2, size_t);
	char gotbuf[128];
	free_vars(base, f);
	if (n->type != SN_MAP)
		return spec_perr(c, n, "%s must be a mapping of names to values, got %s", spec_subject(c),
				 SPEC_GOT(n));
	*v = xcalloc(snode_count(n) + 1, sizeof(**v));
	for (size_t i = 0; i + 1 < n->nkids; i += 2) {
		const struct snode *k = n->kids[i], *val = n->kids[i + 1];
		int rc = 0;
		if (a->env ? !pipeline_env_name_ok(k->text) : !pipeline_id_ok(k->text))
			return spec_perr(c, k, "%s: \"%s\" is not a valid name (%s)", spec_subject(c), k->text,
					 a->env ? "letters, digits and _, not starting with a digit"
						: "letters, digits, - and _, starting with a letter or _");
		for (size_t d = 0; d < i; d += 2)
			if (strcmp(n->kids[d]->text, k->text) == 0)
				return spec_perr(c, k, "%s: \"%s\" is there twice", spec_subject(c), k->text);
		size_t old = spec_path_push(c, k->text);
		if (val->type != SN_SCALAR && val->type != SN_NULL)
			rc = spec_perr(c, val, "%s must be a string, got %s", spec_subject(c), SPEC_GOT(val));
		if (rc == 0 && val->type == SN_SCALAR && (rc = spec_need_text(c, val)) == 0)
			rc = check_template(c, val, val->text, *a->ctx);
		spec_path_pop(c, old);
		if (rc < 0)
			return rc;
		(*v)[*nv].name = xstrdup(k->text);
		(*v)[*nv].value = xstrdup(val->type == SN_SCALAR ? val->text : "");
		++*nv;
	}
	return 0;
}

static json_t *emit_vars(const void *base, const struct spec_field *f)
{
	const struct pipeline_var *v = *SPEC_CAT(base, f->off, struct pipeline_var *);
	size_t nv = *SPEC_CAT(base, f->off2, size_t);
	json_t *o = json_object();
	for (size_t i = 0; i < nv; i++)
		json_object_set_new(o, v[i].name, json_string(v[i].value));
	return o;
}

static const struct spec_ftype t_vars = {parse_vars, emit_vars, free_vars};

static const struct vars_arg vars_run = {&ctx_run, true};
static const struct vars_arg vars_job = {&ctx_job, true};
static const struct vars_arg vars_step = {&ctx_step, true};
static const struct vars_arg vars_outputs = {&ctx_step, false};

/* ---- a string or a list of strings: needs, branches, paths ---- */

struct strs_arg {
	const char *what;           /* "a job id", "a branch pattern" */
	bool id;                    /* items are job ids */
};

static int parse_strs(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	const struct strs_arg *a = f->arg;
	char ***v = SPEC_AT(base, f->off, char **);
	size_t *nv = SPEC_AT(base, f->off2, size_t);
	char gotbuf[128];
	spec_free_argv(base, f);
	const struct snode *one[1] = {n};
	const struct snode *const *items = n->type == SN_SEQ ? (const struct snode *const *)n->kids : one;
	size_t count = n->type == SN_SEQ ? n->nkids : 1;
	if (n->type != SN_SEQ && n->type != SN_SCALAR)
		return spec_perr(c, n, "%s must be %s or a list of them, got %s", spec_subject(c), a->what,
				 SPEC_GOT(n));
	if (count == 0 && !a->id) /* needs: [] is GitHub's "none" */
		return spec_perr(c, n, "%s must not be empty (leave it out)", spec_subject(c));
	*v = xcalloc(count + 1, sizeof(char *));
	for (size_t i = 0; i < count; i++) {
		const struct snode *it = items[i];
		size_t old = n->type == SN_SEQ ? spec_path_push_index(c, i) : c->path.len;
		int rc = spec_need_scalar(c, it, a->what);
		if (rc == 0 && it->len == 0)
			rc = spec_perr(c, it, "%s must not be empty", spec_subject(c));
		if (rc == 0 && a->id && !pipeline_id_ok(it->text))
			rc = spec_perr(c, it, "%s: \"%s\" is not a job id", spec_subject(c), it->text);
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (strcmp((*v)[j], it->text) == 0)
				rc = spec_perr(c, it, "%s: \"%s\" is listed twice", spec_subject(c), it->text);
		spec_path_pop(c, old);
		if (rc < 0)
			return rc;
		(*v)[i] = xstrdup(it->text);
		*nv = i + 1;
	}
	return 0;
}

/* Lists are left out when empty: a document read back from its JSON
 * (the store's) must validate as the file did, and empty lists do not. */
static json_t *emit_strs(const void *base, const struct spec_field *f)
{
	return *SPEC_CAT(base, f->off2, size_t) ? spec_t_argv.emit(base, f) : NULL;
}

static json_t *emit_list_opt(const void *base, const struct spec_field *f)
{
	return *SPEC_CAT(base, f->off2, size_t) ? spec_emit_list(base, f) : NULL;
}

static const struct spec_ftype t_list = {spec_parse_list, emit_list_opt, spec_free_list};

static const struct spec_ftype t_strs_emit = {parse_strs, emit_strs, spec_free_argv};
/* the same, for needs: its own row type, whose sample is [] (a job
 * named in it would have to exist) */
static const struct spec_ftype t_needs = {parse_strs, emit_strs, spec_free_argv};

static const struct strs_arg strs_needs = {"a job id", true};
static const struct strs_arg strs_branch = {"a branch pattern", false};
static const struct strs_arg strs_path = {"a path pattern", false};
static const struct strs_arg strs_key = {"a key prefix", false};
static const struct strs_arg strs_artifact = {"an artifact name", false};

/* ---- a command: a string (sh -c) or argv ---- */

static int parse_command(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char ***argv = SPEC_AT(base, f->off, char **);
	size_t *argc = SPEC_AT(base, f->off2, size_t);
	if (n->type != SN_SCALAR)
		return spec_t_argv.parse(c, n, base, f);
	if (n->len == 0)
		return spec_perr(c, n, "%s must not be empty", spec_subject(c));
	spec_free_argv(base, f);
	*argv = xcalloc(4, sizeof(char *));
	(*argv)[0] = xstrdup("/bin/sh");
	(*argv)[1] = xstrdup("-c");
	(*argv)[2] = xstrdup(n->text);
	*argc = 3;
	return 0;
}

static const struct spec_ftype t_command = {parse_command, emit_strs, spec_free_argv};

/* ---- fields Slipway refuses with a reason ---- */

static int parse_refused(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	return spec_perr_at_key(c, n, f->arg);
}

static const struct spec_ftype t_refused = {parse_refused, NULL, NULL};

/* ---- retry.when: failure, timeout, or a list of them ---- */

static int parse_when(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	unsigned *w = SPEC_AT(base, f->off, unsigned);
	char gotbuf[128];
	const struct snode *one[1] = {n};
	const struct snode *const *items = n->type == SN_SEQ ? (const struct snode *const *)n->kids : one;
	size_t count = n->type == SN_SEQ ? n->nkids : 1;
	if ((n->type != SN_SEQ && n->type != SN_SCALAR) || count == 0)
		return spec_perr(c, n, "%s must be failure, timeout or a list of them, got %s",
				 spec_subject(c), SPEC_GOT(n));
	*w = 0;
	for (size_t i = 0; i < count; i++) {
		const char *s = items[i]->type == SN_SCALAR ? items[i]->text : "";
		if (strcmp(s, "failure") == 0)
			*w |= PIPELINE_RETRY_FAILURE;
		else if (strcmp(s, "timeout") == 0)
			*w |= PIPELINE_RETRY_TIMEOUT;
		else
			return spec_perr(c, items[i], "%s must be failure or timeout, got %s", spec_subject(c),
					 SPEC_GOT(items[i]));
	}
	return 0;
}

static json_t *emit_when(const void *base, const struct spec_field *f)
{
	unsigned w = *SPEC_CAT(base, f->off, unsigned);
	json_t *a = json_array();
	if (w & PIPELINE_RETRY_FAILURE)
		json_array_append_new(a, json_string("failure"));
	if (w & PIPELINE_RETRY_TIMEOUT)
		json_array_append_new(a, json_string("timeout"));
	return a;
}

static const struct spec_ftype t_when = {parse_when, emit_when, NULL};

/* ---- steps ---- */

static const struct spec_range r_retry = {0, 10};
static const struct spec_range r_timeout = {1000, 7ull * 24 * 3600 * 1000};

static const struct spec_field retry_fields[] = {
	{"max", &spec_t_u32, offsetof(struct pipeline_step, retry_max), SPEC_F_REQUIRED, 0, &r_retry, 0},
	{"when", &t_when, offsetof(struct pipeline_step, retry_when), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table retry_table = {retry_fields, -1, 0, NULL, NULL};

static const struct spec_field step_fields[] = {
	{"id", &spec_t_str, offsetof(struct pipeline_step, id), SPEC_F_OMIT_NULL, 0, NULL, 0},
	{"name", &t_tmpl, offsetof(struct pipeline_step, name), SPEC_F_OMIT_NULL, 0, &ctx_step, 0},
	{"run", &t_tmpl, offsetof(struct pipeline_step, run), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0,
	 &ctx_step, 0},
	{"uses", &t_refused, 0, SPEC_F_NOEMIT, 0,
	 "a step runs commands (run:); GitHub's actions (uses:) are not run by Slipway: write the "
	 "commands they stand for", 0},
	{"env", &t_vars, offsetof(struct pipeline_step, env), 0, 0, &vars_step,
	 offsetof(struct pipeline_step, nenv)},
	{"working-directory", &t_tmpl, offsetof(struct pipeline_step, working_directory), SPEC_F_NONEMPTY,
	 0, &ctx_step, 0},
	{"if", &t_cond, offsetof(struct pipeline_step, if_text), 0, 0, &ctx_step_if, 0},
	{"timeout", &spec_t_dur, offsetof(struct pipeline_step, timeout_ms), SPEC_F_ZERO_NULL, 0,
	 &r_timeout, 0},
	{"continue-on-error", &spec_t_bool, offsetof(struct pipeline_step, continue_on_error), 0, 0, NULL, 0},
	{"retry", &spec_t_sub, 0, 0, 0, &retry_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* 0 when a timeout is within r_timeout's max (the spec engine checks the
 * min of a duration only); else the error at the field. */
static int check_timeout(struct spec_pctx *c, const struct snode *map, uint64_t ms)
{
	char got[64], max[64];
	if (ms <= r_timeout.max)
		return 0;
	sw_duration_format(got, sizeof(got), ms);
	sw_duration_format(max, sizeof(max), r_timeout.max);
	return spec_perr(c, snode_get(map, "timeout"), "timeout must be at most %s, got %s", max, got);
}

static int check_step(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct pipeline_step *s = base;
	int rc = check_timeout(c, map, s->timeout_ms);
	if (rc < 0)
		return rc;
	if (s->id && !pipeline_id_ok(s->id))
		return spec_perr(c, snode_get(map, "id"), "id: \"%s\" is not a valid id (letters, digits, "
				 "- and _, starting with a letter or _)", s->id);
	return 0;
}

static void step_init(void *elem)
{
	struct pipeline_step *s = elem;
	s->retry_when = PIPELINE_RETRY_FAILURE;
}

static const struct spec_table step_table = {step_fields, -1, sizeof(struct pipeline_step), step_init,
					     check_step};

/* ---- services ---- */

static int v_tcp(struct spec_pctx *c, const struct snode *n, const char *s)
{
	char canon[SW_ADDR_MAX];
	struct sw_err err = {0};
	if (sw_addr_canonical(canon, s, 0, &err) < 0)
		return spec_perr(c, n, "%s must be HOST:PORT, like \"127.0.0.1:5432\": %s", spec_subject(c),
				 err.msg);
	return 0;
}

static int parse_addr(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char **p = SPEC_AT(base, f->off, char *);
	int rc = spec_need_scalar(c, n, "HOST:PORT");
	if (rc < 0 || (rc = v_tcp(c, n, n->text)) < 0)
		return rc;
	free(*p);
	*p = xstrdup(n->text);
	return 0;
}

static const struct spec_ftype t_addr = {parse_addr, spec_emit_str, spec_free_str};

static int v_http(struct spec_pctx *c, const struct snode *n, const char *s)
{
	if (strncmp(s, "http://", 7) != 0 || !s[7])
		return spec_perr(c, n, "%s must be an http:// URL, like \"http://127.0.0.1:8080/healthz\", "
				 "got \"%s\"", spec_subject(c), s);
	return 0;
}

static const struct spec_range r_period = {100, 60000};
static const struct spec_range r_ready = {1000, 3600000};

static const struct spec_field readiness_fields[] = {
	{"tcp", &t_addr, offsetof(struct pipeline_service, tcp), SPEC_F_ONEOF, PIPELINE_PROBE_TCP, NULL, 0},
	{"http", &spec_t_str, offsetof(struct pipeline_service, http), SPEC_F_ONEOF, PIPELINE_PROBE_HTTP,
	 v_http, 0},
	{"exec", &spec_t_argv, offsetof(struct pipeline_service, exec), SPEC_F_ONEOF | SPEC_F_NONEMPTY,
	 PIPELINE_PROBE_EXEC, NULL, offsetof(struct pipeline_service, nexec)},
	{"period", &spec_t_dur, offsetof(struct pipeline_service, period_ms), 0, 0, &r_period, 0},
	{"timeout", &spec_t_dur, offsetof(struct pipeline_service, timeout_ms), 0, 0, &r_ready, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table readiness_table = {readiness_fields,
						  offsetof(struct pipeline_service, probe), 0, NULL, NULL};

static const struct spec_field service_fields[] = {
	{"command", &t_command, offsetof(struct pipeline_service, command), SPEC_F_REQUIRED | SPEC_F_NONEMPTY,
	 0, NULL, offsetof(struct pipeline_service, argc)},
	{"env", &t_vars, offsetof(struct pipeline_service, env), 0, 0, &vars_job,
	 offsetof(struct pipeline_service, nenv)},
	{"readiness", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &readiness_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static void service_init(void *elem)
{
	struct pipeline_service *s = elem;
	s->period_ms = 1000;
	s->timeout_ms = 60000;
}

static const struct spec_table service_table = {service_fields, -1, sizeof(struct pipeline_service),
						service_init, NULL};

/* ---- maps of names to objects: jobs, services ---- */

struct dict_arg {
	const struct spec_table *table;
	size_t name_off;            /* of the char * that gets the key */
	size_t max;
	const char *what;
};

static void free_dict(void *base, const struct spec_field *f)
{
	const struct dict_arg *a = f->arg;
	char **arr = SPEC_AT(base, f->off, char *);
	size_t *count = SPEC_AT(base, f->off2, size_t);
	for (size_t i = 0; i < *count; i++) {
		char *elem = *arr + i * a->table->size;
		spec_table_free(a->table, elem);
		free(*SPEC_AT(elem, a->name_off, char *));
	}
	free(*arr);
	*arr = NULL;
	*count = 0;
}

static int parse_dict(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	const struct dict_arg *a = f->arg;
	char **arr = SPEC_AT(base, f->off, char *);
	size_t *count = SPEC_AT(base, f->off2, size_t);
	char gotbuf[128];
	free_dict(base, f);
	if (n->type != SN_MAP)
		return spec_perr(c, n, "%s must be a mapping of %ss by name, got %s", spec_subject(c), a->what,
				 SPEC_GOT(n));
	if ((f->flags & SPEC_F_NONEMPTY) && n->nkids == 0)
		return spec_perr(c, n, "%s must not be empty", spec_subject(c));
	if (snode_count(n) > a->max)
		return spec_perr(c, n, "%s has %zu %ss; at most %zu", spec_subject(c), snode_count(n), a->what,
				 a->max);
	*arr = xcalloc(snode_count(n) + 1, a->table->size);
	for (size_t i = 0; i + 1 < n->nkids; i += 2) {
		const struct snode *k = n->kids[i];
		char *elem = *arr + (i / 2) * a->table->size;
		if (!pipeline_id_ok(k->text))
			return spec_perr(c, k, "%s: \"%s\" is not a valid %s id (letters, digits, - and _, "
					 "starting with a letter or _, at most 100)", spec_subject(c), k->text,
					 a->what);
		for (size_t d = 0; d < i; d += 2)
			if (strcmp(n->kids[d]->text, k->text) == 0)
				return spec_perr(c, k, "%s: the %s \"%s\" is there twice", spec_subject(c), a->what,
						 k->text);
		if (a->table->init)
			a->table->init(elem);
		*SPEC_AT(elem, a->name_off, char *) = xstrdup(k->text);
		*count = i / 2 + 1;
		size_t old = spec_path_push(c, k->text);
		int rc = spec_table_parse(c, n->kids[i + 1], elem, a->table);
		spec_path_pop(c, old);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static json_t *emit_dict(const void *base, const struct spec_field *f)
{
	const struct dict_arg *a = f->arg;
	const char *arr = *SPEC_CAT(base, f->off, char *);
	size_t count = *SPEC_CAT(base, f->off2, size_t);
	if (!count)
		return NULL;
	json_t *o = json_object();
	for (size_t i = 0; i < count; i++) {
		const char *elem = arr + i * a->table->size;
		json_object_set_new(o, *SPEC_CAT(elem, a->name_off, char *), spec_table_emit(a->table, elem));
	}
	return o;
}

static const struct spec_ftype t_dict = {parse_dict, emit_dict, free_dict};

static const struct dict_arg services_arg = {&service_table, offsetof(struct pipeline_service, name), 16,
					     "service"};

/* ---- strategy.matrix ---- */

static json_t *scalar_json(const struct snode *n)
{
	json_t *j = NULL;
	if (n->type == SN_NULL)
		return json_null();
	if (!n->quoted) {
		if (!strcmp(n->text, "true") || !strcmp(n->text, "false"))
			return json_boolean(n->text[0] == 't');
		char *end = NULL;
		long long ll = strtoll(n->text, &end, 10);
		if (n->len && end && !*end)
			return json_integer(ll);
		double d = strtod(n->text, &end);
		/* a whole number is an integer however written ("2."), so that
		 * the canonical JSON reads back as the same value */
		if (n->len && end && !*end && strpbrk(n->text, "iInN") == NULL)
			j = d == floor(d) && fabs(d) < 9e15 ? json_integer((json_int_t)d) : json_real(d);
	}
	return j ? j : json_stringn(n->text, n->len);
}

/* A matrix value: a scalar, or a mapping or list of them (nested). */
static int value_json(struct spec_pctx *c, const struct snode *n, json_t **out)
{
	int rc = 0;
	*out = NULL;
	if (n->type == SN_SCALAR || n->type == SN_NULL) {
		if (n->type == SN_SCALAR && ((rc = spec_need_text(c, n)) < 0))
			return rc;
		if (n->type == SN_SCALAR && strstr(n->text, "${{"))
			return spec_perr(c, n, "%s: a matrix is written out; one made by an expression "
					 "(fromJSON) is not supported yet", spec_subject(c));
		*out = scalar_json(n);
		return 0;
	}
	*out = n->type == SN_MAP ? json_object() : json_array();
	for (size_t i = 0; i < n->nkids && rc == 0; i += n->type == SN_MAP ? 2 : 1) {
		json_t *v = NULL;
		size_t old = n->type == SN_MAP ? spec_path_push(c, n->kids[i]->text) : spec_path_push_index(c, i);
		rc = value_json(c, n->kids[n->type == SN_MAP ? i + 1 : i], &v);
		spec_path_pop(c, old);
		if (rc == 0 && n->type == SN_MAP)
			json_object_set_new(*out, n->kids[i]->text, v);
		else if (rc == 0)
			json_array_append_new(*out, v);
	}
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* include / exclude: a list of mappings */
static int combos_json(struct spec_pctx *c, const struct snode *n, json_t **out)
{
	char gotbuf[128];
	if (n->type != SN_SEQ)
		return spec_perr(c, n, "%s must be a list of mappings, got %s", spec_subject(c), SPEC_GOT(n));
	for (size_t i = 0; i < n->nkids; i++)
		if (n->kids[i]->type != SN_MAP || n->kids[i]->nkids == 0) {
			size_t old = spec_path_push_index(c, i);
			int rc = spec_perr(c, n->kids[i], "%s must be a mapping of matrix keys to values, got %s",
					   spec_subject(c), SPEC_GOT(n->kids[i]));
			spec_path_pop(c, old);
			return rc;
		}
	return value_json(c, n, out);
}

static void free_matrix(void *base, const struct spec_field *f)
{
	struct pipeline_matrix *m = SPEC_AT(base, f->off, struct pipeline_matrix);
	json_decref(m->axes);
	json_decref(m->include);
	json_decref(m->exclude);
	m->axes = m->include = m->exclude = NULL;
}

static int parse_matrix(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	struct pipeline_matrix *m = SPEC_AT(base, f->off, struct pipeline_matrix);
	struct sw_err err = {0};
	char gotbuf[128];
	int rc = 0;
	free_matrix(base, f);
	if (n->type != SN_MAP)
		return spec_perr(c, n, "%s must be a mapping of keys to lists of values, got %s", spec_subject(c),
				 SPEC_GOT(n));
	m->axes = json_object();
	for (size_t i = 0; i + 1 < n->nkids && rc == 0; i += 2) {
		const struct snode *k = n->kids[i], *v = n->kids[i + 1];
		size_t old = spec_path_push(c, k->text);
		json_t *j = NULL;
		bool combos = !strcmp(k->text, "include") || !strcmp(k->text, "exclude");
		if (combos ? *(k->text[0] == 'i' ? &m->include : &m->exclude) != NULL
			   : json_object_get(m->axes, k->text) != NULL) {
			rc = spec_perr(c, k, "duplicate key \"%s\" in matrix", k->text);
		} else if (combos) {
			if ((rc = combos_json(c, v, &j)) == 0)
				*(k->text[0] == 'i' ? &m->include : &m->exclude) = j;
		} else if (!pipeline_id_ok(k->text)) {
			rc = spec_perr(c, k, "matrix key \"%s\" is not a valid name (letters, digits, - and _)",
				       k->text);
		} else if (v->type != SN_SEQ || v->nkids == 0) {
			rc = spec_perr(c, v, "%s must be a non-empty list of values, got %s", spec_subject(c),
				       SPEC_GOT(v));
		} else if ((rc = value_json(c, v, &j)) == 0) {
			json_object_set_new(m->axes, k->text, j);
		}
		spec_path_pop(c, old);
	}
	if (rc < 0)
		return rc;
	if (!json_object_size(m->axes) && !m->include)
		return spec_perr(c, n, "%s needs at least one key with a list of values, or include",
				 spec_subject(c));
	json_t *all = NULL;
	if (pipeline_matrix_expand(&all, m, PIPELINE_MAX_MATRIX, &err) < 0)
		return spec_perr(c, n, "%s: %s", spec_subject(c), err.msg);
	json_decref(all);
	return 0;
}

static json_t *emit_matrix(const void *base, const struct spec_field *f)
{
	const struct pipeline_matrix *m = SPEC_CAT(base, f->off, struct pipeline_matrix);
	if (!m->axes)
		return json_null();
	json_t *o = json_deep_copy(m->axes);
	if (m->include)
		json_object_set(o, "include", m->include);
	if (m->exclude)
		json_object_set(o, "exclude", m->exclude);
	return o;
}

static const struct spec_ftype t_matrix = {parse_matrix, emit_matrix, free_matrix};

static const struct spec_range r_parallel = {1, PIPELINE_MAX_MATRIX};

static const struct spec_field strategy_fields[] = {
	{"matrix", &t_matrix, offsetof(struct pipeline_job, strategy), SPEC_F_REQUIRED, 0, NULL, 0},
	{"max-parallel", &spec_t_u32, offsetof(struct pipeline_job, strategy.max_parallel),
	 SPEC_F_ZERO_NULL, 0, &r_parallel, 0},
	{"fail-fast", &spec_t_bool, offsetof(struct pipeline_job, strategy.fail_fast), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table strategy_table = {strategy_fields, -1, 0, NULL, NULL};

static json_t *emit_strategy(const void *base, const struct spec_field *f)
{
	return ((const struct pipeline_job *)base)->strategy.axes ? spec_table_emit(f->arg, base) : NULL;
}

static const struct spec_ftype t_strategy = {spec_parse_sub, emit_strategy, spec_free_sub};

/* ---- concurrency: a group, or {group, queue} ---- */

static const struct spec_range r_queue = {1, 1000};

static const struct spec_field group_fields[] = {
	{"group", &t_tmpl, offsetof(struct pipeline_concurrency, group), SPEC_F_REQUIRED | SPEC_F_NONEMPTY,
	 0, &ctx_job, 0},
	{"queue", &spec_t_u32, offsetof(struct pipeline_concurrency, queue), 0, 0, &r_queue, 0},
	{"cancel-in-progress", &t_refused, 0, SPEC_F_NOEMIT, 0,
	 "Slipway never cancels a run for a newer one: runs of a group wait in order (queue says how "
	 "many may wait; `slipway pipeline cancel RUN` cancels one)", 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table group_table = {group_fields, -1, 0, NULL, NULL};

static int parse_concurrency(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	struct pipeline_concurrency *g = SPEC_AT(base, f->off, struct pipeline_concurrency);
	if (n->type == SN_SCALAR) {
		const struct spec_field row = {"group", &t_tmpl, 0, SPEC_F_NONEMPTY, 0, &ctx_job, 0};
		return t_tmpl.parse(c, n, g, &row);
	}
	return spec_parse_sub(c, n, base, f);
}

static json_t *emit_concurrency(const void *base, const struct spec_field *f)
{
	const struct pipeline_concurrency *g = SPEC_CAT(base, f->off, struct pipeline_concurrency);
	return g->group ? spec_table_emit(&group_table, g) : json_null();
}

static const struct spec_ftype t_concurrency = {parse_concurrency, emit_concurrency, spec_free_sub};

/* ---- cache, artifacts, deploy ---- */

static const struct spec_field cache_fields[] = {
	{"key", &t_tmpl, offsetof(struct pipeline_cache, key), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0,
	 &ctx_cache, 0},
	{"paths", &t_strs_emit, offsetof(struct pipeline_cache, paths), SPEC_F_REQUIRED, 0, &strs_path,
	 offsetof(struct pipeline_cache, npaths)},
	{"restore-keys", &t_strs_emit, offsetof(struct pipeline_cache, restore_keys), 0, 0, &strs_key,
	 offsetof(struct pipeline_cache, nrestore_keys)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table cache_table = {cache_fields, -1, sizeof(struct pipeline_cache), NULL, NULL};

static const struct spec_field upload_fields[] = {
	{"name", &t_tmpl, offsetof(struct pipeline_artifact, name), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0,
	 &ctx_job, 0},
	{"paths", &t_strs_emit, offsetof(struct pipeline_artifact, paths), SPEC_F_REQUIRED, 0, &strs_path,
	 offsetof(struct pipeline_artifact, npaths)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table upload_table = {upload_fields, -1, sizeof(struct pipeline_artifact), NULL,
					       NULL};

static const struct spec_field artifacts_fields[] = {
	{"upload", &t_list, offsetof(struct pipeline_job, upload), SPEC_F_NONEMPTY, 0, &upload_table,
	 offsetof(struct pipeline_job, nupload)},
	{"download", &t_strs_emit, offsetof(struct pipeline_job, download), 0, 0, &strs_artifact,
	 offsetof(struct pipeline_job, ndownload)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table artifacts_table = {artifacts_fields, -1, 0, NULL, NULL};

static const struct spec_field deploy_fields[] = {
	{"app", &spec_t_str, offsetof(struct pipeline_job, deploy_app), SPEC_F_REQUIRED, 0, spec_v_dns_label, 0},
	{"environment", &spec_t_str, offsetof(struct pipeline_job, deploy_environment), 0, 0,
	 spec_v_dns_label, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table deploy_table = {deploy_fields, -1, 0, NULL, NULL};

/* ---- reports and gates (results.h) ---- */

static const struct spec_field reports_fields[] = {
	{"junit", &t_strs_emit, offsetof(struct pipeline_reports, junit), 0, 0, &strs_path,
	 offsetof(struct pipeline_reports, njunit)},
	{"coverage", &spec_t_str, offsetof(struct pipeline_reports, coverage), SPEC_F_OMIT_NULL | SPEC_F_NONEMPTY,
	 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table reports_table = {reports_fields, -1, 0, NULL, NULL};

static json_t *emit_reports(const void *base, const struct spec_field *f)
{
	const struct pipeline_reports *r = SPEC_CAT(base, f->off, struct pipeline_reports);
	return r->njunit || r->coverage ? spec_table_emit(f->arg, r) : NULL;
}

static const struct spec_ftype t_reports = {spec_parse_sub, emit_reports, spec_free_sub};

/* tests: passed -- the one word there is */
static int parse_tests_gate(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	int rc = spec_need_scalar(c, n, "passed");
	if (rc < 0)
		return rc;
	if (strcmp(n->text, "passed") != 0)
		return spec_perr(c, n, "%s must be passed (no failure, no error, at least one test), got \"%s\"",
				 spec_subject(c), n->text);
	*SPEC_AT(base, f->off, bool) = true;
	return 0;
}

static json_t *emit_tests_gate(const void *base, const struct spec_field *f)
{
	return *SPEC_CAT(base, f->off, bool) ? json_string("passed") : NULL;
}

static const struct spec_ftype t_tests_gate = {parse_tests_gate, emit_tests_gate, NULL};

static const struct spec_drange r_percent = {0, 100, false};
static const struct spec_drange r_any = {0, 1e300, false};

static const struct spec_field coverage_gate_fields[] = {
	{"min", &spec_t_double, offsetof(struct pipeline_gates, coverage_min), SPEC_F_REQUIRED, 0, &r_percent, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table coverage_gate_table = {coverage_gate_fields, -1, 0, NULL, NULL};

static int parse_coverage_gate(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	struct pipeline_gates *g = base;
	g->coverage = true;
	return spec_table_parse(c, n, g, f->arg);
}

static json_t *emit_coverage_gate(const void *base, const struct spec_field *f)
{
	return ((const struct pipeline_gates *)base)->coverage ? spec_table_emit(f->arg, base) : NULL;
}

static const struct spec_ftype t_coverage_gate = {parse_coverage_gate, emit_coverage_gate, NULL};

static const struct spec_field bench_fields[] = {
	{"file", &spec_t_str, offsetof(struct pipeline_gates, bench_file), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0,
	 NULL, 0},
	{"metric", &spec_t_str, offsetof(struct pipeline_gates, bench_metric), SPEC_F_REQUIRED | SPEC_F_NONEMPTY,
	 0, NULL, 0},
	{"max", &spec_t_double, offsetof(struct pipeline_gates, bench_max), SPEC_F_REQUIRED, 0, &r_any, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table bench_table = {bench_fields, -1, 0, NULL, NULL};

static json_t *emit_bench(const void *base, const struct spec_field *f)
{
	return ((const struct pipeline_gates *)base)->bench_file ? spec_table_emit(f->arg, base) : NULL;
}

static int parse_bench(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	return spec_table_parse(c, n, base, f->arg);
}

static void free_gates_sub(void *base, const struct spec_field *f)
{
	spec_table_free(f->arg, base);
}

static const struct spec_ftype t_bench = {parse_bench, emit_bench, free_gates_sub};

static const struct spec_field gates_fields[] = {
	{"tests", &t_tests_gate, offsetof(struct pipeline_gates, tests), 0, 0, NULL, 0},
	{"coverage", &t_coverage_gate, 0, 0, 0, &coverage_gate_table, 0},
	{"benchmark", &t_bench, 0, 0, 0, &bench_table, 0},
	{"scan", &t_refused, 0, SPEC_F_NOEMIT, 0,
	 "scan gates are not available until the supply-chain issue (image scanning) is built; "
	 "leave scan out", 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table gates_table = {gates_fields, -1, 0, NULL, NULL};

static json_t *emit_gates(const void *base, const struct spec_field *f)
{
	const struct pipeline_gates *g = SPEC_CAT(base, f->off, struct pipeline_gates);
	return g->tests || g->coverage || g->bench_file ? spec_table_emit(f->arg, g) : NULL;
}

static const struct spec_ftype t_gates = {spec_parse_sub, emit_gates, spec_free_sub};

/* A report's path: relative, inside the workspace. */
static int check_report_path(struct spec_pctx *c, const struct snode *at, const char *what, const char *path)
{
	bool up = strncmp(path, "../", 3) == 0 || strcmp(path, "..") == 0 || strstr(path, "/../") ||
		  (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0);
	if (path[0] == '/' || up)
		return spec_perr(c, at, "%s: \"%s\" is not inside the job's workspace (write a path relative to it, "
					"without ..)", what, path);
	return 0;
}

static int check_results(struct spec_pctx *c, const struct snode *map, const struct pipeline_job *j)
{
	const struct snode *rep = snode_get(map, "reports"), *gates = snode_get(map, "gates");
	const struct pipeline_reports *r = &j->reports;
	const struct pipeline_gates *g = &j->gates;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < r->njunit; i++) {
		const struct snode *n = snode_get(rep, "junit");
		rc = check_report_path(c, n && n->type == SN_SEQ ? n->kids[i] : n, "reports.junit", r->junit[i]);
	}
	if (rc == 0 && r->coverage)
		rc = check_report_path(c, snode_get(rep, "coverage"), "reports.coverage", r->coverage);
	if (rc == 0 && g->bench_file)
		rc = check_report_path(c, snode_get(snode_get(gates, "benchmark"), "file"), "gates.benchmark.file",
				       g->bench_file);
	/* gates.tests without reports.junit is judged (and fails) at run time: the
	 * reference's sample documents fill one table at a time */
	if (rc == 0 && j->work == PIPELINE_WORK_DEPLOY && (rep || gates))
		rc = spec_perr(c, rep ? rep : gates, "a deploy job has no steps to write reports; put %s on the job "
						     "that runs the tests", rep ? "reports" : "gates");
	return rc;
}

/* ---- jobs ---- */

static const char *const network_names[] = {"host", "none", NULL};

static const struct spec_field job_fields[] = {
	{"name", &t_tmpl, offsetof(struct pipeline_job, name), SPEC_F_OMIT_NULL | SPEC_F_NONEMPTY, 0,
	 &ctx_job, 0},
	{"needs", &t_needs, offsetof(struct pipeline_job, needs), 0, 0, &strs_needs,
	 offsetof(struct pipeline_job, nneeds)},
	{"runs-on", &t_refused, 0, SPEC_F_NOEMIT, 0,
	 "runs-on: Slipway runs every job on this host, each in its own workspace and sandbox; "
	 "leave runs-on out", 0},
	{"uses", &t_refused, 0, SPEC_F_NOEMIT, 0,
	 "uses: pipeline templates are not built yet (docs/pipelines.md, \"Not built yet\")", 0},
	{"if", &t_cond, offsetof(struct pipeline_job, if_text), 0, 0, &ctx_job_if, 0},
	{"env", &t_vars, offsetof(struct pipeline_job, env), 0, 0, &vars_job, offsetof(struct pipeline_job, nenv)},
	{"outputs", &t_vars, offsetof(struct pipeline_job, outputs), 0, 0, &vars_outputs,
	 offsetof(struct pipeline_job, noutputs)},
	{"steps", &t_list, offsetof(struct pipeline_job, steps), SPEC_F_ONEOF | SPEC_F_NONEMPTY,
	 PIPELINE_WORK_STEPS, &step_table, offsetof(struct pipeline_job, nsteps)},
	{"deploy", &spec_t_sub, 0, SPEC_F_ONEOF, PIPELINE_WORK_DEPLOY, &deploy_table, 0},
	{"strategy", &t_strategy, 0, 0, 0, &strategy_table, 0},
	{"timeout", &spec_t_dur, offsetof(struct pipeline_job, timeout_ms), 0, 0, &r_timeout, 0},
	{"continue-on-error", &spec_t_bool, offsetof(struct pipeline_job, continue_on_error), 0, 0, NULL, 0},
	{"network", &spec_t_enum, offsetof(struct pipeline_job, network), 0, 0, network_names, 0},
	{"concurrency", &t_concurrency, offsetof(struct pipeline_job, concurrency), 0, 0, &group_table, 0},
	{"environment", &spec_t_str, offsetof(struct pipeline_job, environment), 0, 0, spec_v_dns_label, 0},
	{"services", &t_dict, offsetof(struct pipeline_job, services), SPEC_F_NONEMPTY, 0, &services_arg,
	 offsetof(struct pipeline_job, nservices)},
	{"cache", &t_list, offsetof(struct pipeline_job, cache), SPEC_F_NONEMPTY, 0, &cache_table,
	 offsetof(struct pipeline_job, ncache)},
	{"artifacts", &spec_t_sub, 0, 0, 0, &artifacts_table, 0},
	{"reports", &t_reports, offsetof(struct pipeline_job, reports), 0, 0, &reports_table, 0},
	{"gates", &t_gates, offsetof(struct pipeline_job, gates), 0, 0, &gates_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static int check_job(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct pipeline_job *j = base;
	int rc = check_timeout(c, map, j->timeout_ms);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < j->nsteps; i++)
		if (j->steps[i].timeout_ms > j->timeout_ms) {
			char st[64], jt[64];
			sw_duration_format(st, sizeof(st), j->steps[i].timeout_ms);
			sw_duration_format(jt, sizeof(jt), j->timeout_ms);
			return spec_perr(c, snode_get(snode_get(map, "steps")->kids[i], "timeout"),
					 "steps[%zu].timeout: %s is longer than the job's timeout, %s", i, st, jt);
		}
	if (j->nsteps > PIPELINE_MAX_STEPS)
		return spec_perr(c, snode_get(map, "steps"), "steps: %zu steps; a job has at most %d",
				 j->nsteps, PIPELINE_MAX_STEPS);
	for (size_t i = 0; i < j->nsteps; i++)
		for (size_t k = 0; j->steps[i].id && k < i; k++)
			if (j->steps[k].id && strcmp(j->steps[k].id, j->steps[i].id) == 0) {
				const struct snode *steps = snode_get(map, "steps");
				return spec_perr(c, snode_get(steps->kids[i], "id"),
						 "steps[%zu].id: \"%s\" is the id of steps[%zu] already", i,
						 j->steps[i].id, k);
			}
	for (size_t i = 0; i < j->nupload; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(j->upload[k].name, j->upload[i].name) == 0)
				return spec_perr(c, snode_get(map, "artifacts"),
						 "artifacts.upload: \"%s\" is uploaded twice", j->upload[i].name);
	return check_results(c, map, j);
}

static void job_init(void *elem)
{
	struct pipeline_job *j = elem;
	j->timeout_ms = PIPELINE_DEFAULT_TIMEOUT_MS;
	j->strategy.fail_fast = true;
	j->concurrency.queue = PIPELINE_DEFAULT_QUEUE;
}

static const struct spec_table job_table = {job_fields, offsetof(struct pipeline_job, work),
					    sizeof(struct pipeline_job), job_init, check_job};

static const struct dict_arg jobs_arg = {&job_table, offsetof(struct pipeline_job, id), PIPELINE_MAX_JOBS,
					 "job"};

/* ---- on: push, manual, schedule ---- */

/* push: and manual: are there when written, with or without a mapping */
static int parse_present(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	*SPEC_AT(base, f->tag, bool) = true;
	return n->type == SN_NULL ? 0 : spec_table_parse(c, n, base, f->arg);
}

static json_t *emit_present(const void *base, const struct spec_field *f)
{
	return *SPEC_CAT(base, f->tag, bool) ? spec_table_emit(f->arg, base) : NULL;
}

static void free_present(void *base, const struct spec_field *f)
{
	spec_table_free(f->arg, base);
}

static const struct spec_ftype t_present = {parse_present, emit_present, free_present};

static const struct spec_field push_fields[] = {
	{"source", &spec_t_str, offsetof(struct pipeline, push_source), 0, 0, spec_v_dns_label, 0},
	{"branches", &t_strs_emit, offsetof(struct pipeline, branches), 0, 0, &strs_branch,
	 offsetof(struct pipeline, nbranches)},
	{"branches-ignore", &t_strs_emit, offsetof(struct pipeline, branches_ignore), 0, 0, &strs_branch,
	 offsetof(struct pipeline, nbranches_ignore)},
	{"paths", &t_strs_emit, offsetof(struct pipeline, paths), 0, 0, &strs_path,
	 offsetof(struct pipeline, npaths)},
	{"paths-ignore", &t_strs_emit, offsetof(struct pipeline, paths_ignore), 0, 0, &strs_path,
	 offsetof(struct pipeline, npaths_ignore)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static int check_push(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct pipeline *p = base;
	if (p->branches && p->branches_ignore)
		return spec_perr(c, snode_get(map, "branches-ignore"),
				 "push: give branches or branches-ignore, not both (GitHub's rule)");
	if (p->paths && p->paths_ignore)
		return spec_perr(c, snode_get(map, "paths-ignore"),
				 "push: give paths or paths-ignore, not both (GitHub's rule)");
	return 0;
}

static const struct spec_table push_table = {push_fields, -1, 0, NULL, check_push};

static const struct spec_field manual_fields[] = {
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table manual_table = {manual_fields, -1, 0, NULL, NULL};

static const struct spec_field schedule_fields[] = {
	{"cron", &spec_t_cron, offsetof(struct pipeline_schedule, cron), SPEC_F_REQUIRED, 0, NULL, 0},
	{"timeZone", &spec_t_timezone, offsetof(struct pipeline_schedule, tz), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table schedule_table = {schedule_fields, -1, sizeof(struct pipeline_schedule),
						 NULL, NULL};

static const char *const gha_events[][2] = {
	{"workflow_dispatch", "manual"},
	{"pull_request", "push (pull requests are not built yet)"},
	{"pull_request_target", "push (pull requests are not built yet)"},
	{"workflow_call", "a template (not built yet)"},
};

static const struct spec_field on_fields[] = {
	{"push", &t_present, 0, SPEC_F_NULLOK, offsetof(struct pipeline, on_push), &push_table, 0},
	{"manual", &t_present, 0, SPEC_F_NULLOK, offsetof(struct pipeline, on_manual), &manual_table, 0},
	{"schedule", &t_list, offsetof(struct pipeline, schedules), SPEC_F_NONEMPTY, 0, &schedule_table,
	 offsetof(struct pipeline, nschedules)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table on_table = {on_fields, -1, 0, NULL, NULL};

static int on_word(struct spec_pctx *c, const struct snode *n, struct pipeline *p)
{
	if (n->type == SN_SCALAR && strcmp(n->text, "push") == 0)
		p->on_push = true;
	else if (n->type == SN_SCALAR && strcmp(n->text, "manual") == 0)
		p->on_manual = true;
	else {
		for (size_t i = 0; n->type == SN_SCALAR && i < sizeof(gha_events) / sizeof(gha_events[0]); i++)
			if (strcmp(n->text, gha_events[i][0]) == 0)
				return spec_perr(c, n, "on: \"%s\" is GitHub's; Slipway's is %s", n->text,
						 gha_events[i][1]);
		char gotbuf[128];
		return spec_perr(c, n, "on must be push, manual, a list of them or a mapping (push, manual, "
				 "schedule), got %s", SPEC_GOT(n));
	}
	return 0;
}

static int parse_on(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	if (n->type == SN_SCALAR)
		return on_word(c, n, base);
	if (n->type == SN_SEQ) {
		for (size_t i = 0; i < n->nkids; i++) {
			size_t old = spec_path_push_index(c, i);
			int rc = on_word(c, n->kids[i], base);
			spec_path_pop(c, old);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (n->type == SN_MAP)
		for (size_t i = 0; i + 1 < n->nkids; i += 2)
			for (size_t g = 0; g < sizeof(gha_events) / sizeof(gha_events[0]); g++)
				if (strcmp(n->kids[i]->text, gha_events[g][0]) == 0)
					return spec_perr(c, n->kids[i], "on: \"%s\" is GitHub's; Slipway's is %s",
							 n->kids[i]->text, gha_events[g][1]);
	return spec_parse_sub(c, n, base, f);
}

static json_t *emit_on(const void *base, const struct spec_field *f)
{
	return spec_table_emit(&on_table, base);
}

static const struct spec_ftype t_on_emit = {parse_on, emit_on, spec_free_sub};

/* ---- the document ---- */

static const struct spec_field spec_fields[] = {
	{"on", &t_on_emit, 0, 0, 0, &on_table, 0},
	{"env", &t_vars, offsetof(struct pipeline, env), 0, 0, &vars_run, offsetof(struct pipeline, nenv)},
	{"concurrency", &t_concurrency, offsetof(struct pipeline, concurrency), 0, 0, &group_table, 0},
	{"jobs", &t_dict, offsetof(struct pipeline, jobs), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0, &jobs_arg,
	 offsetof(struct pipeline, njobs)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* The node of jobs.ID.needs[i] (or of needs itself), for messages. */
static const struct snode *need_node(const struct snode *spec, const char *id, size_t i)
{
	const struct snode *needs = snode_get(snode_get(snode_get(spec, "jobs"), id), "needs");
	if (needs && needs->type == SN_SEQ && i < needs->nkids)
		return needs->kids[i];
	return needs;
}

static int check_spec(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct pipeline *p = base;
	const char **ids = xcalloc(p->njobs + 1, sizeof(*ids));
	int rc = 0;
	for (size_t i = 0; i < p->njobs; i++)
		ids[i] = p->jobs[i].id;
	for (size_t i = 0; i < p->njobs && rc == 0; i++)
		for (size_t k = 0; k < p->jobs[i].nneeds && rc == 0; k++) {
			const char *need = p->jobs[i].needs[k];
			if (pipeline_job_find(p, need, NULL))
				continue;
			struct buf b = BUF_INIT;
			buf_addf(&b, "jobs.%s.needs: no job is called \"%s\"", p->jobs[i].id, need);
			spec_add_suggestion(&b, need, ids);
			rc = spec_perr(c, need_node(map, p->jobs[i].id, k), "%s", b.s);
			buf_release(&b);
		}
	free(ids);
	if (rc < 0)
		return rc;
	struct buf cycle = BUF_INIT;
	if (pipeline_find_cycle(p, &cycle)) {
		char first[128];
		size_t n = strcspn(cycle.s, " ");
		snprintf(first, sizeof(first), "%.*s", (int)(n < 100 ? n : 100), cycle.s);
		rc = spec_perr(c, need_node(map, first, (size_t)-1), "jobs.%s.needs: the needs make a cycle: %s",
			       first, cycle.s);
	}
	buf_release(&cycle);
	if (rc < 0)
		return rc;
	size_t runs = 0;
	for (size_t i = 0; i < p->njobs; i++) {
		json_t *all = NULL;
		if (pipeline_matrix_expand(&all, &p->jobs[i].strategy, PIPELINE_MAX_MATRIX, NULL) == 0)
			runs += json_array_size(all);
		json_decref(all);
	}
	if (runs > PIPELINE_MAX_RUNS)
		return spec_perr(c, snode_get(map, "jobs"), "jobs: %zu job runs with the matrices expanded; "
				 "a pipeline has at most %d", runs, PIPELINE_MAX_RUNS);
	if (!p->on_push && !p->on_manual && !p->nschedules)
		p->on_manual = true;
	return 0;
}

static const struct spec_table spec_table = {spec_fields, -1, 0, NULL, check_spec};

static const struct spec_field meta_fields[] = {
	{"name", &spec_t_str, offsetof(struct pipeline, name), SPEC_F_REQUIRED, 0, spec_v_dns_label, 0},
	{"labels", &spec_t_labels, offsetof(struct pipeline, labels), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table meta_table = {meta_fields, -1, 0, NULL, NULL};

static const struct spec_field doc_fields[] = {
	{"apiVersion", &spec_t_api_version, 0, SPEC_F_REQUIRED, 0, NULL, 0},
	{"kind", &spec_t_kind, 0, SPEC_F_REQUIRED, 0, "Pipeline", 0},
	{"metadata", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &meta_table, 0},
	{"spec", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &spec_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table doc_table = {doc_fields, -1, 0, NULL, NULL};

/* ---- the kind ---- */

static void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	spec_table_free(&doc_table, p);
	free(p->source);
	free(p);
}

static int kind_parse(struct spec_pctx *c, const struct snode *root, void **out)
{
	struct pipeline *p = xcalloc(1, sizeof(*p));
	int rc;
	p->concurrency.queue = PIPELINE_DEFAULT_QUEUE;
	if ((rc = spec_table_parse(c, root, p, &doc_table)) < 0) {
		pipeline_free(p);
		return rc;
	}
	p->source = spec_position(c->file, root);
	*out = p;
	return 0;
}

static const char *kind_name(const void *obj)
{
	return ((const struct pipeline *)obj)->name;
}

static const char *kind_source(const void *obj)
{
	return ((const struct pipeline *)obj)->source;
}

static json_t *kind_json(const void *obj)
{
	return spec_table_emit(&doc_table, obj);
}

static void kind_free(void *obj)
{
	pipeline_free(obj);
}

const struct spec_kind pipeline_kind = {"Pipeline", kind_parse, kind_name, kind_source, kind_json,
					kind_free};

const struct pipeline_job *pipeline_job_find(const struct pipeline *p, const char *id, size_t *index)
{
	for (size_t i = 0; i < p->njobs; i++)
		if (strcmp(p->jobs[i].id, id) == 0) {
			if (index)
				*index = i;
			return &p->jobs[i];
		}
	return NULL;
}

/* For the reference: the row types of these tables, as a user writes them. */
static const struct spec_ref_shape shapes[] = {
	{&t_cond, "expression", SPEC_REF_LEAF, "\"true\""},
	{&t_tmpl, "string", SPEC_REF_LEAF, "\"a\""},
	{&t_vars, "map of string", SPEC_REF_LEAF, "{}"},
	{&t_strs_emit, "string, or list of string", SPEC_REF_LEAF, "[\"a\"]"},
	{&t_needs, "string, or list of string", SPEC_REF_LEAF, "[]"},
	{&t_command, "string, or list of string", SPEC_REF_LEAF, "\"a\""},
	{&t_refused, "refused", SPEC_REF_LEAF, NULL},
	{&t_list, "list of object", SPEC_REF_LIST, NULL},
	{&t_strategy, "object", SPEC_REF_MAP, NULL},
	{&t_addr, "string", SPEC_REF_LEAF, "\"127.0.0.1:1\""},
	{&t_when, "string, or list of string", SPEC_REF_LEAF, "\"failure\""},
	{&t_dict, "map of object", SPEC_REF_DICT, NULL},
	{&t_matrix, "map of list", SPEC_REF_LEAF, "{\"a\": [1]}"},
	{&t_concurrency, "string, or object", SPEC_REF_MAP, NULL},
	{&t_present, "object", SPEC_REF_MAP, NULL},
	{&t_reports, "object", SPEC_REF_MAP, NULL},
	{&t_gates, "object", SPEC_REF_MAP, NULL},
	{&t_coverage_gate, "object", SPEC_REF_MAP, NULL},
	{&t_bench, "object", SPEC_REF_MAP, NULL},
	{&t_tests_gate, "passed", SPEC_REF_LEAF, "\"passed\""},
	{&t_on_emit, "string, list of string, or object", SPEC_REF_MAP, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct spec_ref_kind ref_pipeline = {&pipeline_kind, &doc_table, pipeline_docs, shapes};

void pipeline_kinds_register(void)
{
	int r = spec_kind_register(&pipeline_kind);
	SW_ASSERT(r == 0);
	r = spec_ref_register(&ref_pipeline);
	SW_ASSERT(r == 0);
}
