/*
 * spec: documents → validated structs, driven by field tables.
 *
 * Every keyword is a row in a `struct spec_field` table: its name, its type
 * (which knows how to parse a node into the struct, emit it as canonical
 * JSON and free it), where it lives (offset), and flags (required, one of
 * a group...). The same tables detect unknown fields and suggest the
 * nearest name, fill defaults, emit canonical JSON and free the structs,
 * so that adding a field is adding a row.
 *
 * YAML and JSON are first turned into a `struct snode` tree (node.c), so
 * spec_app_from_json validates exactly as the YAML path does.
 */
#include "spec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/addr.h"
#include "../core/age.h"
#include "../core/buf.h"
#include "../core/re.h"
#include "../core/sha256.h"
#include "../core/utf8.h"
#include "fields.h"
#include "node.h"
#include "patch.h"
#include "reference.h"

#define API_VERSION "slipway/v1"

static const struct spec_range r_port = {1, 65535};
static const struct spec_range r_replicas = {1, 1000};
static const struct spec_range r_count0 = {0, 1000000};
static const struct spec_range r_count1 = {1, 1000000};
static const struct spec_range r_weight = {0, 100};
static const struct spec_range r_dur_positive = {1, UINT64_MAX};
static const struct spec_drange r_confidence = {0, 1, true};
static const struct spec_drange r_increase = {0, 1e6, false};
static const struct spec_range r_ignore_below = {0, 60000};
/* ------------------------------------------------------------------ */
/* Validators for strings                                             */

bool spec_is_dns_label(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

int spec_v_dns_label(struct spec_pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	if (spec_is_dns_label(s))
		return 0;
	return spec_perr(c, n,
		    "%s must be lower-case letters, digits and '-', starting and ending with a letter "
		    "or digit, at most 63 characters, got %s",
		    spec_subject(c), SPEC_GOT(n));
}

/* A listener address, stored in its canonical form (core/addr): the
 * proxy takes exactly canonical addresses, so "localhost:8080" is kept
 * as "127.0.0.1:8080" and two spellings of one listener compare equal. */
static int parse_listen(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char **p = SPEC_AT(base, f->off, char *);
	char text[SW_ADDR_MAX];
	struct sw_err e = {0};
	int rc;

	if ((rc = spec_need_scalar(c, n, "a string")) < 0)
		return rc;
	if (sw_addr_canonical(text, n->text, 0, &e) < 0)
		return spec_perr(c, n, "%s %s", spec_subject(c), e.msg);
	free(*p);
	*p = xstrdup(text);
	return 0;
}

static const struct spec_ftype t_listen = {parse_listen, spec_emit_str, spec_free_str};

static int v_host(struct spec_pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	const char *p = strncmp(s, "*.", 2) == 0 ? s + 2 : s;
	size_t len = strlen(p);

	if (len == 0 || len > 253 || p[0] == '.' || p[0] == '-' || p[len - 1] == '.')
		goto bad;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '.'))
			goto bad;
	return 0;
bad:
	return spec_perr(c, n, "%s must be a host name or \"*.\" and a domain, got %s", spec_subject(c), SPEC_GOT(n));
}

static int v_abs_path(struct spec_pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	if (s[0] == '/')
		return 0;
	return spec_perr(c, n, "%s must start with \"/\", got %s", spec_subject(c), SPEC_GOT(n));
}

static int v_header_name(struct spec_pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	if (!*s)
		goto bad;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_'))
			goto bad;
	return 0;
bad:
	return spec_perr(c, n, "%s must be a header name (letters, digits, '-' and '_'), got %s", spec_subject(c),
		    SPEC_GOT(n));
}

static bool is_env_name(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return false;
	return true;
}

static int v_env_name(struct spec_pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	if (is_env_name(s))
		return 0;
	return spec_perr(c, n, "%s must be letters, digits and '_', not starting with a digit, got %s",
		    spec_subject(c), SPEC_GOT(n));
}

/*
 * A header route's regex: the regular part of POSIX ERE (core/re.h), so
 * that the proxy matches any value in time linear in its length. What is
 * not regular (back-references) or not portable (\d, (?...), [=a=]) is
 * refused here, at the character it starts: the column is exact for a
 * plain scalar and for a quoted one with no escape before that character,
 * else the scalar's own.
 */
static int v_regex(struct spec_pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	struct sw_re *re = NULL;
	struct sw_err rerr = {0};
	size_t off = 0;

	if (sw_re_compile(&re, &off, s, &rerr) == 0) {
		sw_re_free(re);
		return 0;
	}
	struct snode at = *n;
	bool exact = !n->quoted || !memchr(s, '\\', off);
	if (n->line > 0 && exact && !memchr(s, '\'', off) && !memchr(s, '\n', off))
		at.col = n->col + (n->quoted ? 1 : 0) + (int)off;
	return spec_perr(c, &at, "%s is not a supported regular expression: %s (at character %zu), got %s",
			 spec_subject(c), rerr.msg, off + 1, SPEC_GOT(n));
}

int spec_v_url(struct spec_pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	if ((strncmp(s, "http://", 7) == 0 && s[7]) || (strncmp(s, "https://", 8) == 0 && s[8]))
		return 0;
	return spec_perr(c, n, "%s must be an http:// or https:// URL, got %s", spec_subject(c), SPEC_GOT(n));
}

/* ---- env: a mapping NAME: value, or a list of {name, value | valueFrom} */


static char *escape_dollars(const char *s, size_t len)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '$')
			buf_addc(&b, '$');
		buf_addc(&b, s[i]);
	}
	return buf_detach(&b);
}

#define SECRET_MAX (1024 * 1024)

/* spec_set_secret_dirs: the dirs as given, or set = false for no rule. */
static struct {
	bool set;
	char **dirs;
	size_t n;
	char *forbidden;
} secret_rule;

void spec_set_secret_dirs(const char *const *dirs, size_t n, const char *forbidden)
{
	for (size_t i = 0; i < secret_rule.n; i++)
		free(secret_rule.dirs[i]);
	free(secret_rule.dirs);
	free(secret_rule.forbidden);
	memset(&secret_rule, 0, sizeof(secret_rule));
	secret_rule.set = true;
	secret_rule.dirs = xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		secret_rule.dirs[secret_rule.n++] = xstrdup(dirs[i]);
	secret_rule.forbidden = forbidden ? xstrdup(forbidden) : NULL;
}

/* real is dir or below it. */
static bool path_within(const char *real, const char *dir)
{
	size_t n = strlen(dir);
	if (n == 1 && dir[0] == '/')
		return true;
	return strncmp(real, dir, n) == 0 && (real[n] == '/' || real[n] == '\0');
}

/* 0 when the secret rule lets `real` be read, else -1 with the error. */
static int secret_allowed(struct spec_pctx *c, const struct snode *file, const char *shown,
			  const char *real)
{
	if (!secret_rule.set)
		return 0;
	/* Resolved at each check: a secret dir may be made, or moved, after
	 * the daemon started. */
	char *forbidden = secret_rule.forbidden ? realpath(secret_rule.forbidden, NULL) : NULL;
	bool in_state = real && forbidden && path_within(real, forbidden);
	free(forbidden);
	if (in_state)
		return spec_perr(c, file, "valueFrom file \"%s\" is in the daemon's state dir, "
			    "which is never read for secrets", shown);
	for (size_t i = 0; real && i < secret_rule.n; i++) {
		char *dir = realpath(secret_rule.dirs[i], NULL);
		bool in = dir && path_within(real, dir);
		free(dir);
		if (in)
			return 0;
	}
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < secret_rule.n; i++)
		buf_addf(&b, "%s\"%s\"", i ? ", " : "", secret_rule.dirs[i]);
	spec_perr(c, file, "valueFrom file \"%s\" is not in a secret directory (%s); the daemon "
		  "reads secrets only from its --secret-dir directories", shown,
		  b.len ? b.s : "none is configured");
	buf_release(&b);
	return -1;
}

/*
 * valueFrom: {age: ARMOR}: an age file, armored, for X25519 recipients
 * (core/age.h), kept as it is: the revision stores the ciphertext, and
 * the daemon opens it only as it starts a process (runtime_env_build).
 * Checked here without a key (age_check), so that a value cut or mangled
 * on its way into git is refused at apply, where its line is known.
 */
static int parse_value_age(struct spec_pctx *c, const struct snode *v, struct spec_env *e)
{
	struct sw_err aerr = {0};
	/* a block scalar (age: |) starts on the line below its key: point
	 * at the key, where the reader looks */
	struct snode at = *v;
	if (v->kline > 0) {
		at.line = v->kline;
		at.col = v->kcol;
	}
	size_t old = spec_path_push(c, "age");
	int rc = spec_need_scalar(c, v, "an armored age file (-----BEGIN AGE ENCRYPTED FILE-----...)");
	if (rc == 0 && v->len > SECRET_MAX)
		rc = spec_perr(c, &at, "valueFrom.age is larger than 1 MiB");
	if (rc == 0 && age_check(v->text, v->len, true, &aerr) < 0)
		rc = spec_perr(c, &at, "valueFrom.age is not a usable age file: %s", aerr.msg);
	spec_path_pop(c, old);
	if (rc < 0)
		return rc;
	free(e->value);
	e->value = xstrdup(v->text);
	e->age = true;
	e->secret = true;
	return 0;
}

/*
 * valueFrom: {file: path}: the file's content (less one trailing newline)
 * becomes the value, marked secret. '$' is doubled so that
 * spec_substitute gives back the file's bytes unchanged. Or {age: ARMOR}
 * (parse_value_age).
 */
static int parse_value_from(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	struct spec_env *e = base;
	const struct snode *file = snode_get(n, "file"), *age = snode_get(n, "age");
	char gotbuf[128];
	char *path = NULL, *data = NULL;
	int fd = -1, rc = -1;
	struct stat st;
	size_t len = 0;

	if (n->type != SN_MAP)
		return spec_perr(c, n, "valueFrom must be a mapping like {file: path} or {age: ...}, got %s",
				 SPEC_GOT(n));
	for (size_t i = 0; i + 1 < n->nkids; i += 2)
		if (strcmp(n->kids[i]->text, "file") != 0 && strcmp(n->kids[i]->text, "age") != 0) {
			static const char *const names[] = {"file", "age", NULL};
			struct buf b = BUF_INIT;
			char kb[128];
			buf_addf(&b, "unknown field %s in %s", spec_describe(n->kids[i], kb, sizeof(kb)),
				 spec_where(c));
			spec_add_suggestion(&b, n->kids[i]->text, names);
			spec_perr(c, n->kids[i], "%s", b.s);
			buf_release(&b);
			return -1;
		}
	if (file && file->type != SN_NULL && age && age->type != SN_NULL)
		return spec_perr_at_key(c, n, "valueFrom has both \"file\" and \"age\", only one is allowed");
	if (age && age->type != SN_NULL)
		return parse_value_age(c, age, e);
	if (!file || file->type == SN_NULL)
		return spec_perr_at_key(c, n, "missing \"file\" or \"age\" in valueFrom");
	if (file->type != SN_SCALAR || file->len == 0)
		return spec_perr(c, file, "file must be a path, got %s", SPEC_GOT(file));

	path = spec_path_resolve(c->dir, file->text);
	if (secret_rule.set) {
		/* Checked before opening, so that whether a file outside the
		 * secret dirs exists is not told; and again on the file
		 * opened, so that a symlink swapped in between does not help. */
		char *real = realpath(path, NULL);
		int ok = secret_allowed(c, file, path, real);
		free(real);
		if (ok < 0)
			goto out;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		spec_perr(c, file, "cannot read \"%s\": %s", path, strerror(errno));
		goto out;
	}
	if (secret_rule.set) {
		char proc[64], opened[PATH_MAX];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		ssize_t k = readlink(proc, opened, sizeof(opened) - 1);
		opened[k > 0 ? k : 0] = '\0';
		if (secret_allowed(c, file, path, k > 0 ? opened : NULL) < 0)
			goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SECRET_MAX) {
		spec_perr(c, file, "cannot read \"%s\": %s", path,
		     S_ISREG(st.st_mode) ? "larger than 1 MiB" : "not a regular file");
		goto out;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, data + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			spec_perr(c, file, "cannot read \"%s\": %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len && data[len - 1] == '\n')
		len--;
	if (memchr(data, '\0', len) || !sw_utf8_valid(data, len)) {
		spec_perr(c, file, "\"%s\" must hold UTF-8 text without NUL characters", path);
		goto out;
	}
	free(e->value);
	e->value = escape_dollars(data, len);
	e->secret = true;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(data);
	free(path);
	return rc;
}

static const struct spec_ftype t_value_from = {parse_value_from, NULL, NULL};

static const struct spec_field env_item_fields[] = {
	{"name", &spec_t_str, offsetof(struct spec_env, name), SPEC_F_REQUIRED, 0, v_env_name, 0},
	{"value", &spec_t_str, offsetof(struct spec_env, value), SPEC_F_ONEOF | SPEC_F_VARS | SPEC_F_ANYTEXT, 0, NULL, 0},
	{"valueFrom", &t_value_from, 0, SPEC_F_ONEOF | SPEC_F_NOEMIT, 0, NULL, 0},
	{"secret", &spec_t_bool, offsetof(struct spec_env, secret), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/*
 * valueFrom implies secret even when `secret: false` is written too. A
 * secret's value may hold control characters (a file with CRLF line
 * endings, as valueFrom reads it and as the stored revision then says):
 * it is never shown. Any other value is text like the rest.
 */
static int check_env_item(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct spec_env *e = base;
	const struct snode *v = snode_get(map, "value");
	int rc = 0;
	if (spec_present(map, "valueFrom"))
		e->secret = true;
	if (!e->secret && v && v->type == SN_SCALAR) {
		size_t old = spec_path_push(c, "value");
		rc = spec_need_text(c, v);
		spec_path_pop(c, old);
	}
	return rc;
}

static const struct spec_table env_item_table = {env_item_fields, -1, sizeof(struct spec_env), NULL, check_env_item};

/* As spec_emit_list, but an age value is written as it was given,
 * {"name", "valueFrom": {"age": ARMOR}, "secret": true}, so that reading
 * the JSON back checks it as the YAML was. */
static json_t *emit_env(const void *base, const struct spec_field *f)
{
	const struct spec_env *arr = *SPEC_CAT(base, f->off, struct spec_env *);
	json_t *a = spec_emit_list(base, f);
	size_t i;
	json_t *x;
	json_array_foreach(a, i, x)
		if (arr[i].age) {
			json_object_del(x, "value");
			json_object_set_new(x, "valueFrom", json_pack("{s:s}", "age", arr[i].value));
		}
	return a;
}

static const struct spec_field header_item_fields[] = {
	{"name", &spec_t_str, offsetof(struct spec_env, name), SPEC_F_REQUIRED, 0, v_header_name, 0},
	{"value", &spec_t_str, offsetof(struct spec_env, value), SPEC_F_REQUIRED, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table header_item_table = {header_item_fields, -1, sizeof(struct spec_env), NULL, NULL};

/* arg: the item table; its first row (name) validates the map form's keys. */
static int parse_env(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	const struct spec_table *t = f->arg;
	struct spec_env **arr = SPEC_AT(base, f->off, struct spec_env *);
	size_t *count = SPEC_AT(base, f->off2, size_t);
	char gotbuf[128];
	int rc;

	if (n->type == SN_SEQ) {
		struct spec_field lf = *f;
		lf.arg = t;
		lf.flags &= ~(unsigned)SPEC_F_NONEMPTY;
		if ((rc = spec_parse_list(c, n, base, &lf)) < 0)
			return rc;
	} else if (n->type == SN_MAP) {
		spec_validator_fn vname = (spec_validator_fn)t->fields[0].arg;
		*arr = xcalloc(n->nkids / 2 + 1, sizeof(**arr));
		for (size_t i = 0; i + 1 < n->nkids; i += 2) {
			const struct snode *k = n->kids[i], *v = n->kids[i + 1];
			struct spec_env *e = &(*arr)[i / 2];
			size_t old = spec_path_push(c, k->text);
			rc = vname(c, k, k->text);
			if (rc == 0 && v->type != SN_NULL)
				rc = spec_need_scalar(c, v, "a string");
			if (rc == 0 && v->type != SN_NULL && (f->flags & SPEC_F_VARS))
				rc = spec_check_vars(c, v, v->text);
			spec_path_pop(c, old);
			if (rc < 0)
				return rc;
			e->name = xstrdup(k->text);
			e->value = xstrdup(v->type == SN_NULL ? "" : v->text);
			*count = i / 2 + 1;
		}
	} else {
		return spec_perr(c, n, "%s must be a mapping or a list of {name, value}, got %s", spec_subject(c), SPEC_GOT(n));
	}
	for (size_t i = 0; i < *count; i++)
		if (!(*arr)[i].value)
			(*arr)[i].value = xstrdup("");
	return spec_unique_names(c, n->type == SN_SEQ ? n : NULL, *arr, *count, sizeof(**arr),
			    offsetof(struct spec_env, name), "name");
}

static const struct spec_ftype t_env = {parse_env, emit_env, spec_free_list};

/* ---- analysis references: templates: [name | {templateName: name}] */

static int parse_tmplrefs(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char ***names = SPEC_AT(base, f->off, char **);
	size_t *count = SPEC_AT(base, f->off2, size_t);
	char gotbuf[128];
	int rc = 0;

	if (n->type != SN_SEQ)
		return spec_perr(c, n, "%s must be a list of template names, got %s", spec_subject(c), SPEC_GOT(n));
	if (n->nkids == 0)
		return spec_perr(c, n, "%s must not be empty", spec_subject(c));
	*names = xcalloc(n->nkids + 1, sizeof(char *));
	for (size_t i = 0; i < n->nkids && rc == 0; i++) {
		const struct snode *item = n->kids[i], *name = item;
		size_t old = spec_path_push_index(c, i);
		if (item->type == SN_MAP) {
			name = snode_get(item, "templateName");
			for (size_t k = 0; k + 1 < item->nkids && rc == 0; k += 2)
				if (strcmp(item->kids[k]->text, "clusterScope") == 0) {
					/* Argo's namespace or cluster lookup; Slipway has one scope */
					const struct snode *v = item->kids[k + 1];
					size_t o2 = spec_path_push(c, "clusterScope");
					if (v->type != SN_SCALAR || (strcmp(v->text, "true") != 0 && strcmp(v->text, "false") != 0))
						rc = spec_perr(c, v, "%s must be true or false, got %s", spec_subject(c),
							       SPEC_GOT(v));
					spec_path_pop(c, o2);
				} else if (strcmp(item->kids[k]->text, "templateName") != 0) {
					static const char *const known[] = {"templateName", "clusterScope", NULL};
					struct buf b = BUF_INIT;
					char kb[128];
					buf_addf(&b, "unknown field %s in %s",
						 spec_describe(item->kids[k], kb, sizeof(kb)), spec_where(c));
					spec_add_suggestion(&b, item->kids[k]->text, known);
					rc = spec_perr(c, item->kids[k], "%s", b.s);
					buf_release(&b);
				}
			if (rc == 0 && (!name || name->type == SN_NULL))
				rc = spec_perr(c, item, "missing required field \"templateName\" in %s", spec_where(c));
			if (rc == 0) {
				size_t o2 = spec_path_push(c, "templateName");
				rc = spec_need_scalar(c, name, "a template name");
				if (rc == 0)
					rc = spec_v_dns_label(c, name, name->text);
				spec_path_pop(c, o2);
			}
		} else {
			rc = spec_need_scalar(c, item, "a template name or {templateName: name}");
			if (rc == 0)
				rc = spec_v_dns_label(c, item, item->text);
		}
		spec_path_pop(c, old);
		if (rc == 0) {
			(*names)[i] = xstrdup(name->text);
			*count = i + 1;
		}
	}
	return rc;
}

static json_t *emit_tmplrefs(const void *base, const struct spec_field *f)
{
	char *const *names = *(char **const *)((const char *)base + f->off);
	size_t count = *SPEC_CAT(base, f->off2, size_t);
	json_t *a = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(a, json_pack("{s:s}", "templateName", names[i]));
	return a;
}

static const struct spec_ftype t_tmplrefs = {parse_tmplrefs, emit_tmplrefs, spec_free_argv};

static const struct spec_field aref_arg_fields[] = {
	{"name", &spec_t_str, offsetof(struct spec_env, name), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0, NULL, 0},
	{"value", &spec_t_str, offsetof(struct spec_env, value), SPEC_F_REQUIRED, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table aref_arg_table = {aref_arg_fields, -1, sizeof(struct spec_env), NULL, NULL};

static int check_aref(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct spec_analysis_ref *r = base;
	return spec_unique_names(c, snode_get(map, "args"), r->args, r->nargs, sizeof(*r->args),
			    offsetof(struct spec_env, name), "argument");
}

static const struct spec_field aref_fields[] = {
	{"name", &spec_t_str, offsetof(struct spec_analysis_ref, name), SPEC_F_NONEMPTY | SPEC_F_OMIT_NULL, 0, NULL, 0},
	{"templates", &t_tmplrefs, offsetof(struct spec_analysis_ref, templates), SPEC_F_REQUIRED, 0, NULL,
	 offsetof(struct spec_analysis_ref, ntemplates)},
	{"args", &spec_t_list, offsetof(struct spec_analysis_ref, args), 0, 0, &aref_arg_table,
	 offsetof(struct spec_analysis_ref, nargs)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct spec_table spec_analysis_ref_table = {aref_fields, -1, 0, NULL, check_aref};

/* An analysis reference that is absent is emitted as null. */
static json_t *emit_aref(const void *base, const struct spec_field *f)
{
	const struct spec_analysis_ref *r = SPEC_CAT(base, f->off, struct spec_analysis_ref);
	if (r->ntemplates == 0)
		return json_null();
	return spec_table_emit(&spec_analysis_ref_table, r);
}

const struct spec_ftype spec_t_analysis_ref = {spec_parse_sub, emit_aref, spec_free_sub};


/* ---- metadata.environment: "default" is the same as none ---- */

static int parse_environment(struct spec_pctx *c, const struct snode *n, void *base,
			     const struct spec_field *f)
{
	struct spec_app *a = base;
	int rc = spec_t_str.parse(c, n, base, f);
	if (rc < 0)
		return rc;
	if (strcmp(a->environment, SPEC_ENV_DEFAULT) == 0) {
		free(a->environment);
		a->environment = NULL;
	}
	free(a->environment_at);
	a->environment_at = spec_position(c->file, n);
	return 0;
}

static const struct spec_ftype t_environment = {parse_environment, spec_emit_str, spec_free_str};

static const struct spec_field meta_app_fields[] = {
	{"name", &spec_t_str, offsetof(struct spec_app, name), SPEC_F_REQUIRED, 0, spec_v_dns_label, 0},
	{"environment", &t_environment, offsetof(struct spec_app, environment), SPEC_F_OMIT_NULL, 0,
	 spec_v_dns_label, 0},
	{"labels", &spec_t_labels, offsetof(struct spec_app, labels), SPEC_F_NOEMIT, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table meta_app_table = {meta_app_fields, -1, 0, NULL, NULL};

char *spec_path_resolve(const char *dir, const char *p)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	size_t *marks = NULL, nmarks = 0;

	if (p[0] != '/')
		buf_addf(&in, "%s/", dir);
	buf_adds(&in, p);
	marks = xmalloc((in.len / 2 + 2) * sizeof(*marks));
	for (const char *s = in.s; *s;) {
		while (*s == '/')
			s++;
		const char *e = strchrnul(s, '/');
		size_t len = (size_t)(e - s);
		if (len == 0 || (len == 1 && s[0] == '.')) {
			/* nothing */
		} else if (len == 2 && s[0] == '.' && s[1] == '.') {
			if (nmarks) {
				out.len = marks[--nmarks];
				out.s[out.len] = '\0';
			}
		} else {
			marks[nmarks++] = out.len;
			buf_addc(&out, '/');
			buf_add(&out, s, len);
		}
		s = e;
	}
	if (!out.len)
		buf_addc(&out, '/');
	free(marks);
	buf_release(&in);
	return buf_detach(&out);
}

static int parse_workdir(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	char **p = SPEC_AT(base, f->off, char *);
	int rc;
	if ((rc = spec_need_scalar(c, n, "a path")) < 0)
		return rc;
	if (n->len == 0)
		return spec_perr(c, n, "%s must not be empty", spec_subject(c));
	free(*p);
	*p = spec_path_resolve(c->dir, n->text);
	return 0;
}

static const struct spec_ftype t_workdir = {parse_workdir, spec_emit_str, spec_free_str};

static int check_run(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct spec_app *a = base;
	if (!a->workdir)
		a->workdir = xstrdup(c->dir);
	return 0;
}

static const struct spec_field run_fields[] = {
	{"command", &spec_t_argv, offsetof(struct spec_app, command), SPEC_F_REQUIRED | SPEC_F_NONEMPTY | SPEC_F_VARS, 0,
	 NULL, offsetof(struct spec_app, argc)},
	{"workdir", &t_workdir, offsetof(struct spec_app, workdir), 0, 0, NULL, 0},
	{"env", &t_env, offsetof(struct spec_app, env), SPEC_F_VARS, 0, &env_item_table,
	 offsetof(struct spec_app, nenv)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table run_table = {run_fields, -1, 0, NULL, check_run};

/* ---- probes */

static int check_probe_http(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct spec_probe *p = base;
	if (!p->http_path)
		p->http_path = xstrdup("/");
	return 0;
}

static const struct spec_field probe_http_fields[] = {
	{"path", &spec_t_str, offsetof(struct spec_probe, http_path), 0, 0, v_abs_path, 0},
	{"port", &spec_t_u16, offsetof(struct spec_probe, port), SPEC_F_ZERO_NULL, 0, &r_port, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table probe_http_table = {probe_http_fields, -1, 0, NULL, check_probe_http};

static const struct spec_field probe_tcp_fields[] = {
	{"port", &spec_t_u16, offsetof(struct spec_probe, port), SPEC_F_ZERO_NULL, 0, &r_port, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table probe_tcp_table = {probe_tcp_fields, -1, 0, NULL, NULL};

static const struct spec_field probe_exec_fields[] = {
	{"command", &spec_t_argv, offsetof(struct spec_probe, exec_command), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0, NULL,
	 offsetof(struct spec_probe, exec_argc)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table probe_exec_table = {probe_exec_fields, -1, 0, NULL, NULL};

static const struct spec_field probe_fields[] = {
	{"http", &spec_t_sub, 0, SPEC_F_ONEOF | SPEC_F_NULLOK, SPEC_PROBE_HTTP, &probe_http_table, 0},
	{"tcp", &spec_t_sub, 0, SPEC_F_ONEOF | SPEC_F_NULLOK, SPEC_PROBE_TCP, &probe_tcp_table, 0},
	{"exec", &spec_t_sub, 0, SPEC_F_ONEOF, SPEC_PROBE_EXEC, &probe_exec_table, 0},
	{"period", &spec_t_dur, offsetof(struct spec_probe, period_ms), 0, 0, &r_dur_positive, 0},
	{"timeout", &spec_t_dur, offsetof(struct spec_probe, timeout_ms), 0, 0, &r_dur_positive, 0},
	{"initialDelay", &spec_t_dur, offsetof(struct spec_probe, initial_delay_ms), 0, 0, NULL, 0},
	{"failureThreshold", &spec_t_u32, offsetof(struct spec_probe, failure_threshold), 0, 0, &r_count1, 0},
	{"successThreshold", &spec_t_u32, offsetof(struct spec_probe, success_threshold), 0, 0, &r_count1, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table probe_table = {probe_fields, offsetof(struct spec_probe, kind), 0, NULL, NULL};

/* No probe (kind NONE) is emitted as null, so that it reads back as absent. */
static json_t *emit_probe(const void *base, const struct spec_field *f)
{
	const struct spec_probe *p = SPEC_CAT(base, f->off, struct spec_probe);
	if (p->kind == SPEC_PROBE_NONE)
		return json_null();
	return spec_table_emit(&probe_table, p);
}

static const struct spec_ftype t_probe = {spec_parse_sub, emit_probe, spec_free_sub};

/* ---- stop */

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{"SIGTERM", SIGTERM}, {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT}, {"SIGHUP", SIGHUP},
	{"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGKILL", SIGKILL},
};
#define NSIGNALS (sizeof(signals) / sizeof(signals[0]))

static int parse_signal(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	const char *names[NSIGNALS + 1];
	char gotbuf[128];
	int rc;

	if ((rc = spec_need_scalar(c, n, "a signal name")) < 0)
		return rc;
	for (size_t i = 0; i < NSIGNALS; i++) {
		names[i] = signals[i].name;
		if (strcmp(n->text, signals[i].name) == 0 || strcmp(n->text, signals[i].name + 3) == 0) {
			*SPEC_AT(base, f->off, int) = signals[i].sig;
			return 0;
		}
	}
	names[NSIGNALS] = NULL;
	struct buf b = BUF_INIT;
	buf_addf(&b, "signal must be one of SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGKILL, got %s",
		 SPEC_GOT(n));
	spec_add_suggestion(&b, n->text, names);
	spec_perr(c, n, "%s", b.s);
	buf_release(&b);
	return -1;
}

static json_t *emit_signal(const void *base, const struct spec_field *f)
{
	int sig = *SPEC_CAT(base, f->off, int);
	for (size_t i = 0; i < NSIGNALS; i++)
		if (signals[i].sig == sig)
			return json_string(signals[i].name);
	return json_integer(sig);
}

static const struct spec_ftype t_signal = {parse_signal, emit_signal, NULL};

static const struct spec_field stop_fields[] = {
	{"signal", &t_signal, offsetof(struct spec_app, stop_signal), 0, 0, NULL, 0},
	{"timeout", &spec_t_dur, offsetof(struct spec_app, stop_timeout_ms), 0, 0, NULL, 0},
	{"drainTimeout", &spec_t_dur, offsetof(struct spec_app, drain_timeout_ms), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table stop_table = {stop_fields, -1, 0, NULL, NULL};

/* ---- route */

static const struct spec_field header_route_fields[] = {
	{"name", &spec_t_str, offsetof(struct spec_header_match, name), SPEC_F_REQUIRED, 0, v_header_name, 0},
	{"exact", &spec_t_str, offsetof(struct spec_header_match, exact), SPEC_F_ONEOF | SPEC_F_OMIT_NULL, 0, NULL, 0},
	{"regex", &spec_t_str, offsetof(struct spec_header_match, regex), SPEC_F_ONEOF | SPEC_F_OMIT_NULL, 0, v_regex, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table header_route_table = {header_route_fields, -1, sizeof(struct spec_header_match),
						NULL, NULL};

static const struct spec_field route_fields[] = {
	{"listen", &t_listen, offsetof(struct spec_app, route.listen), 0, 0, NULL, 0},
	{"host", &spec_t_str, offsetof(struct spec_app, route.host), 0, 0, v_host, 0},
	{"pathPrefix", &spec_t_str, offsetof(struct spec_app, route.path_prefix), 0, 0, v_abs_path, 0},
	{"sticky", &spec_t_bool, offsetof(struct spec_app, route.sticky), 0, 0, NULL, 0},
	{"headerRoutes", &spec_t_list, offsetof(struct spec_app, header_routes), 0, 0, &header_route_table,
	 offsetof(struct spec_app, nheader_routes)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table route_table = {route_fields, -1, 0, NULL, NULL};

/* ---- strategy */

static int check_rolling(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct spec_strategy *s = base;
	if (s->max_surge == 0 && s->max_unavailable == 0)
		return spec_perr_at_key(c, map, "maxSurge and maxUnavailable must not both be 0");
	return 0;
}

static const struct spec_field rolling_fields[] = {
	{"maxSurge", &spec_t_u32, offsetof(struct spec_strategy, max_surge), 0, 0, &(struct spec_range){0, 1000}, 0},
	{"maxUnavailable", &spec_t_u32, offsetof(struct spec_strategy, max_unavailable), 0, 0,
	 &(struct spec_range){0, 1000}, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table rolling_table = {rolling_fields, -1, 0, NULL, check_rolling};

/* pause: {} waits for promote; pause: {duration: d} waits d. */
static int check_pause(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct spec_step *s = base;
	s->pause_indefinite = !spec_present(map, "duration");
	return 0;
}

static json_t *emit_pause_duration(const void *base, const struct spec_field *f)
{
	const struct spec_step *s = base;
	return s->pause_indefinite ? NULL : spec_emit_dur(base, f);
}

/* Argo's pause duration: a number of seconds (10 or "10") or a duration. */
static int parse_pause_duration(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	if (n->type == SN_SCALAR && n->len > 0 && strspn(n->text, "0123456789") == n->len) {
		uint64_t v = 0;
		int rc = spec_parse_uint(c, n, &(struct spec_range){0, 1000000000}, &v);
		if (rc == 0)
			*SPEC_AT(base, f->off, uint64_t) = v * 1000;
		return rc;
	}
	return spec_parse_dur(c, n, base, f);
}

static const struct spec_ftype t_pause_duration = {parse_pause_duration, emit_pause_duration, NULL};

static const struct spec_field pause_fields[] = {
	{"duration", &t_pause_duration, offsetof(struct spec_step, pause_ms), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table pause_table = {pause_fields, -1, 0, NULL, check_pause};

static const struct spec_field header_match_fields[] = {
	{"exact", &spec_t_str, offsetof(struct spec_header_match, exact), SPEC_F_ONEOF | SPEC_F_OMIT_NULL, 0, NULL, 0},
	{"regex", &spec_t_str, offsetof(struct spec_header_match, regex), SPEC_F_ONEOF | SPEC_F_OMIT_NULL, 0, v_regex, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table header_match_table = {header_match_fields, -1, 0, NULL, NULL};

static const struct spec_field set_header_route_fields[] = {
	{"name", &spec_t_str, offsetof(struct spec_header_match, name), SPEC_F_REQUIRED, 0, v_header_name, 0},
	{"match", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &header_match_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table set_header_route_table = {set_header_route_fields, -1, 0, NULL, NULL};

static const struct spec_field step_fields[] = {
	{"setWeight", &spec_t_u32, offsetof(struct spec_step, weight), SPEC_F_ONEOF, SPEC_STEP_SET_WEIGHT, &r_weight, 0},
	{"pause", &spec_t_sub, 0, SPEC_F_ONEOF | SPEC_F_NULLOK, SPEC_STEP_PAUSE, &pause_table, 0},
	{"analysis", &spec_t_sub, offsetof(struct spec_step, analysis), SPEC_F_ONEOF, SPEC_STEP_ANALYSIS, &spec_analysis_ref_table, 0},
	{"setHeaderRoute", &spec_t_sub, offsetof(struct spec_step, header), SPEC_F_ONEOF, SPEC_STEP_SET_HEADER_ROUTE,
	 &set_header_route_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table step_table = {step_fields, offsetof(struct spec_step, kind), sizeof(struct spec_step),
					NULL, NULL};

static const struct spec_field canary_fields[] = {
	{"steps", &spec_t_list, offsetof(struct spec_strategy, steps), 0, 0, &step_table,
	 offsetof(struct spec_strategy, nsteps)},
	{"analysis", &spec_t_analysis_ref, offsetof(struct spec_strategy, background), 0, 0, &spec_analysis_ref_table, 0},
	{"canaryReplicas", &spec_t_u32, offsetof(struct spec_strategy, canary_replicas), 0, 0,
	 &(struct spec_range){0, 1000}, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table canary_table = {canary_fields, -1, 0, NULL, NULL};

static int parse_seconds(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	uint64_t v = 0;
	int rc = spec_parse_uint(c, n, &(struct spec_range){0, 1000000000}, &v);
	if (rc == 0)
		*SPEC_AT(base, f->off, uint64_t) = v * 1000;
	return rc;
}

static const struct spec_ftype t_seconds = {parse_seconds, NULL, NULL};

static int check_blue_green(struct spec_pctx *c, const struct snode *map, void *base)
{
	if (spec_present(map, "autoPromotionSeconds") && spec_present(map, "autoPromotion"))
		return spec_perr(c, snode_get(map, "autoPromotion"),
			    "blueGreen has both \"autoPromotionSeconds\" and \"autoPromotion\", only one is allowed");
	return 0;
}

static const struct spec_field blue_green_fields[] = {
	{"previewListen", &t_listen, offsetof(struct spec_strategy, preview_listen), 0, 0, NULL, 0},
	{"autoPromotionSeconds", &t_seconds, offsetof(struct spec_strategy, auto_promotion_ms), SPEC_F_NOEMIT, 0,
	 NULL, 0},
	{"autoPromotion", &spec_t_dur, offsetof(struct spec_strategy, auto_promotion_ms), SPEC_F_ZERO_NULL, 0, NULL, 0},
	{"prePromotionAnalysis", &spec_t_analysis_ref, offsetof(struct spec_strategy, pre_promotion), 0, 0, &spec_analysis_ref_table, 0},
	{"postPromotionAnalysis", &spec_t_analysis_ref, offsetof(struct spec_strategy, post_promotion), 0, 0, &spec_analysis_ref_table, 0},
	{"scaleDownDelay", &spec_t_dur, offsetof(struct spec_strategy, scale_down_delay_ms), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table blue_green_table = {blue_green_fields, -1, 0, NULL, check_blue_green};

static const struct spec_field strategy_fields[] = {
	{"rolling", &spec_t_sub, 0, SPEC_F_ONEOF | SPEC_F_NULLOK, SPEC_STRATEGY_ROLLING, &rolling_table, 0},
	{"canary", &spec_t_sub, 0, SPEC_F_ONEOF | SPEC_F_NULLOK, SPEC_STRATEGY_CANARY, &canary_table, 0},
	{"blueGreen", &spec_t_sub, 0, SPEC_F_ONEOF | SPEC_F_NULLOK, SPEC_STRATEGY_BLUEGREEN, &blue_green_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table strategy_table = {strategy_fields, offsetof(struct spec_strategy, kind), 0, NULL, NULL};

/* ---- hooks: jobs around a rollout (docs/hooks.md) */

const char *spec_hook_kind_name(enum spec_hook_kind k)
{
	switch (k) {
	case SPEC_HOOK_PRE_DEPLOY: return "preDeploy";
	case SPEC_HOOK_POST_DEPLOY: return "postDeploy";
	case SPEC_HOOK_ON_ABORT: return "onAbort";
	case SPEC_HOOK_KINDS: break;
	}
	return "preDeploy";
}

/* command: an argv list, or one string run by /bin/sh -c. */
static int parse_hook_command(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	if (n->type != SN_SCALAR)
		return spec_t_argv.parse(c, n, base, f);
	char ***argv = SPEC_AT(base, f->off, char **);
	size_t *argc = SPEC_AT(base, f->off2, size_t);
	int rc;
	if (n->len == 0)
		return spec_perr(c, n, "%s must not be empty", spec_subject(c));
	if ((rc = spec_check_vars(c, n, n->text)) < 0)
		return rc;
	*argv = xcalloc(4, sizeof(char *));
	(*argv)[0] = xstrdup("/bin/sh");
	(*argv)[1] = xstrdup("-c");
	(*argv)[2] = xstrdup(n->text);
	*argc = 3;
	return 0;
}

/* emitted as the argv it became */
static json_t *emit_hook_command(const void *base, const struct spec_field *f)
{
	return spec_t_argv.emit(base, f);
}

static const struct spec_ftype t_hook_command = {parse_hook_command, emit_hook_command, spec_free_argv};

static const char *const migration_kinds[] = {"none", "expand", "contract", NULL};

static const struct spec_field migration_fields[] = {
	{"compatibility", &spec_t_enum, offsetof(struct spec_hook, migration), SPEC_F_REQUIRED, 0, migration_kinds, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table migration_table = {migration_fields, -1, 0, NULL, NULL};

static json_t *emit_migration(const void *base, const struct spec_field *f)
{
	const struct spec_hook *h = base;
	if (h->migration == SPEC_MIGRATION_NONE)
		return json_null();
	return json_pack("{s:s}", "compatibility", migration_kinds[h->migration]);
}

static const struct spec_ftype t_migration = {spec_parse_sub, emit_migration, NULL};

static void hook_init(void *elem)
{
	struct spec_hook *h = elem;
	h->timeout_ms = 5 * 60 * 1000;
}

static const struct spec_range r_retries = {0, 100};

#define HOOK_COMMON_ROWS                                                                                  \
	{"name", &spec_t_str, offsetof(struct spec_hook, name), SPEC_F_REQUIRED, 0, spec_v_dns_label, 0},        \
	{"command", &t_hook_command, offsetof(struct spec_hook, command), SPEC_F_REQUIRED | SPEC_F_NONEMPTY | \
	 SPEC_F_VARS, 0, NULL, offsetof(struct spec_hook, argc)},                                           \
	{"env", &t_env, offsetof(struct spec_hook, env), SPEC_F_VARS, 0, &env_item_table,                   \
	 offsetof(struct spec_hook, nenv)},                                                                 \
	{"timeout", &spec_t_dur, offsetof(struct spec_hook, timeout_ms), 0, 0, &r_dur_positive, 0},        \
	{"retries", &spec_t_u32, offsetof(struct spec_hook, retries), 0, 0, &r_retries, 0}

static const struct spec_field pre_hook_fields[] = {
	HOOK_COMMON_ROWS,
	{"migration", &t_migration, 0, 0, 0, &migration_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_field hook_fields[] = {
	HOOK_COMMON_ROWS,
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table pre_hook_table = {pre_hook_fields, -1, sizeof(struct spec_hook), hook_init, NULL};
static const struct spec_table hook_table = {hook_fields, -1, sizeof(struct spec_hook), hook_init, NULL};

static int check_hooks(struct spec_pctx *c, const struct snode *map, void *base)
{
	static const char *const keys[] = {"preDeploy", "postDeploy", "onAbort"};
	struct spec_hooks *hs = base;
	for (int k = 0; k < SPEC_HOOK_KINDS; k++) {
		size_t old = spec_path_push(c, keys[k]);
		int rc = spec_unique_names(c, snode_get(map, keys[k]), hs->list[k], hs->n[k],
					   sizeof(struct spec_hook), offsetof(struct spec_hook, name), "name");
		spec_path_pop(c, old);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const struct spec_field hooks_fields[] = {
	{"preDeploy", &spec_t_list, offsetof(struct spec_hooks, list[SPEC_HOOK_PRE_DEPLOY]), 0, 0, &pre_hook_table,
	 offsetof(struct spec_hooks, n[SPEC_HOOK_PRE_DEPLOY])},
	{"postDeploy", &spec_t_list, offsetof(struct spec_hooks, list[SPEC_HOOK_POST_DEPLOY]), 0, 0, &hook_table,
	 offsetof(struct spec_hooks, n[SPEC_HOOK_POST_DEPLOY])},
	{"onAbort", &spec_t_list, offsetof(struct spec_hooks, list[SPEC_HOOK_ON_ABORT]), 0, 0, &hook_table,
	 offsetof(struct spec_hooks, n[SPEC_HOOK_ON_ABORT])},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table hooks_table = {hooks_fields, -1, 0, NULL, check_hooks};

/* Nothing when there are no hooks, so that the canonical text (and the
 * content hash) of an app without hooks is what it was before hooks. */
static json_t *emit_hooks(const void *base, const struct spec_field *f)
{
	const struct spec_hooks *hs = SPEC_CAT(base, f->off, struct spec_hooks);
	if (!hs->n[0] && !hs->n[1] && !hs->n[2])
		return NULL;
	return spec_table_emit(f->arg, hs);
}

static const struct spec_ftype t_hooks = {spec_parse_sub, emit_hooks, spec_free_sub};

/* ---- dependsOn: the apps a new revision waits for (src/engine/depends.c) */

static int parse_depends(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	struct spec_app *a = base;
	char gotbuf[128];
	int rc = 0;
	if (n->type != SN_SEQ)
		return spec_perr(c, n, "%s must be a list of app names, got %s", spec_subject(c), SPEC_GOT(n));
	a->depends_on = xcalloc(n->nkids + 1, sizeof(char *));
	for (size_t i = 0; i < n->nkids && rc == 0; i++) {
		const struct snode *item = n->kids[i];
		size_t old = spec_path_push_index(c, i);
		rc = spec_need_scalar(c, item, "an app name");
		if (rc == 0)
			rc = spec_v_dns_label(c, item, item->text);
		spec_path_pop(c, old);
		if (rc == 0) {
			a->depends_on[i] = xstrdup(item->text);
			a->ndepends = i + 1;
		}
	}
	if (rc == 0)
		rc = spec_unique_names(c, n, a->depends_on, a->ndepends, sizeof(char *), 0, "app");
	if (rc == 0) {
		free(a->depends_at);
		a->depends_at = spec_position(c->file, n);
	}
	return rc;
}

/* Nothing when there are none, so that the canonical text (and the
 * content hash) of an app without dependsOn is what it was before it. */
static json_t *emit_depends(const void *base, const struct spec_field *f)
{
	return ((const struct spec_app *)base)->ndepends ? spec_t_argv.emit(base, f) : NULL;
}

static const struct spec_ftype t_depends = {parse_depends, emit_depends, spec_free_argv};

/* ---- spec and the document */

static const struct spec_field app_spec_fields[] = {
	{"version", &spec_t_str, offsetof(struct spec_app, version), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0, NULL, 0},
	{"run", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &run_table, 0},
	{"replicas", &spec_t_u32, offsetof(struct spec_app, replicas), 0, 0, &r_replicas, 0},
	{"readiness", &t_probe, offsetof(struct spec_app, readiness), 0, 0, &probe_table, 0},
	{"liveness", &t_probe, offsetof(struct spec_app, liveness), 0, 0, &probe_table, 0},
	{"stop", &spec_t_sub, 0, 0, 0, &stop_table, 0},
	{"progressDeadline", &spec_t_dur, offsetof(struct spec_app, progress_deadline_ms), 0, 0, &r_dur_positive, 0},
	{"route", &spec_t_sub, 0, 0, 0, &route_table, 0},
	{"strategy", &spec_t_sub, offsetof(struct spec_app, strategy), 0, 0, &strategy_table, 0},
	{"hooks", &t_hooks, offsetof(struct spec_app, hooks), 0, 0, &hooks_table, 0},
	{"dependsOn", &t_depends, offsetof(struct spec_app, depends_on), 0, 0, NULL,
	 offsetof(struct spec_app, ndepends)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table app_spec_table = {app_spec_fields, -1, 0, NULL, NULL};

static const struct spec_field app_doc_fields[] = {
	{"apiVersion", &spec_t_api_version, 0, SPEC_F_REQUIRED, 0, NULL, 0},
	{"kind", &spec_t_kind, 0, SPEC_F_REQUIRED, 0, "App", 0},
	{"metadata", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &meta_app_table, 0},
	{"spec", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &app_spec_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* What needs the name and the spec together: dependsOn may not name the
 * app itself (metadata may come after spec in the document). */
static int check_app_doc(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct spec_app *a = base;
	const struct snode *list = snode_get(snode_get(map, "spec"), "dependsOn");
	for (size_t i = 0; i < a->ndepends; i++)
		if (a->name && strcmp(a->depends_on[i], a->name) == 0)
			return spec_perr(c, list && i < list->nkids ? list->kids[i] : map,
					 "dependsOn names the app itself (\"%s\"): an app cannot depend "
					 "on itself", a->name);
	char key[SPEC_KEY_MAX];
	free(a->key);
	a->key = xstrdup(spec_key(key, a->environment, a->name ? a->name : ""));
	return 0;
}

static const struct spec_table app_doc_table = {app_doc_fields, -1, 0, NULL, check_app_doc};

/* ---- a Patch's keys, checked against the App's tables (patch.h) */

/* The table a row's value is read with: a mapping's (sub) or a list's
 * items' (item), else NULL. */
static const struct spec_table *row_table(const struct spec_field *f, bool *item)
{
	*item = f->type == &spec_t_list || f->type == &t_env;
	if (*item || f->type == &spec_t_sub || f->type == &t_probe || f->type == &t_hooks ||
	    f->type == &t_migration)
		return f->arg;
	return NULL;
}

static int patch_keys(struct spec_pctx *c, const struct snode *map, const struct spec_table *t,
		      struct buf *path)
{
	const char *names[64];
	size_t nn = 0;
	for (const struct spec_field *f = t->fields; f->name && nn + 1 < 64; f++)
		names[nn++] = f->name;
	names[nn] = NULL;
	for (size_t i = 0; i + 1 < map->nkids; i += 2) {
		const struct snode *k = map->kids[i], *v = map->kids[i + 1];
		const struct spec_field *f = t->fields;
		while (f->name && strcmp(f->name, k->text) != 0)
			f++;
		size_t keep = path->len;
		buf_addf(path, ".%s", k->text);
		if (!f->name) {
			/* an env item's deletion: {name: X, $patch: delete} */
			if (t == &env_item_table && strcmp(k->text, "$patch") == 0) {
				path->len = keep;
				path->s[keep] = '\0';
				continue;
			}
			const char *near = spec_suggest(k->text, names);
			struct buf m = BUF_INIT;
			buf_addf(&m, "%s is not a field of App", path->s);
			if (near)
				buf_addf(&m, " (did you mean %s?)", near);
			int rc = spec_perr(c, k, "%s", m.s);
			buf_release(&m);
			return rc;
		}
		bool item;
		const struct spec_table *sub = row_table(f, &item);
		int rc = 0;
		if (sub && !item && v->type == SN_MAP)
			rc = patch_keys(c, v, sub, path);
		for (size_t j = 0; sub && item && v->type == SN_SEQ && j < v->nkids && rc == 0; j++) {
			size_t at = path->len;
			buf_addf(path, "[%zu]", j);
			if (v->kids[j]->type == SN_MAP)
				rc = patch_keys(c, v->kids[j], sub, path);
			path->len = at;
			path->s[at] = '\0';
		}
		path->len = keep;
		path->s[keep] = '\0';
		if (rc < 0)
			return rc;
	}
	return 0;
}

int spec_patch_check(struct spec_pctx *c, const struct snode *spec)
{
	struct buf path = BUF_INIT;
	buf_adds(&path, "spec");
	int rc = patch_keys(c, spec, &app_spec_table, &path);
	buf_release(&path);
	return rc;
}

static void app_init(struct spec_app *a)
{
	memset(a, 0, sizeof(*a));
	a->refs = 1;
	a->replicas = 1;
	a->readiness = (struct spec_probe){.period_ms = 1000, .timeout_ms = 1000,
					   .failure_threshold = 3, .success_threshold = 1};
	a->liveness = a->readiness;
	a->liveness.period_ms = 2000;
	a->stop_signal = SIGTERM;
	a->stop_timeout_ms = 10000;
	a->drain_timeout_ms = 30000;
	a->progress_deadline_ms = 60000;
	a->route.path_prefix = xstrdup("/");
	a->strategy.kind = SPEC_STRATEGY_ROLLING;
	a->strategy.max_surge = 1;
	a->strategy.scale_down_delay_ms = 30000;
}

static void app_free(struct spec_app *a)
{
	spec_table_free(&app_doc_table, a);
	free(a->environment_at);
	free(a->key);
	free(a->depends_at);
	free(a->source);
	free(a);
}

/* ------------------------------------------------------------------ */
/* AnalysisTemplate tables                                            */

enum provider_kind { PROV_BUILTIN, PROV_PROMETHEUS, PROV_WEB, PROV_EXEC, PROV_COMPARE };

struct spec_provider {
	int kind;
	int builtin_metric;
	uint64_t window_ms;
	char *address, *query;
	uint64_t prom_timeout_ms;
	char *url;
	int method;
	struct spec_env *headers;
	size_t nheaders;
	char *body, *json_path;
	uint64_t web_timeout_ms;
	char **command;
	size_t argc;
	uint64_t exec_timeout_ms;
	int compare_metric;
	double confidence, max_increase;
	uint32_t compare_min_samples;
	uint64_t ignore_below_ms;
};

struct spec_metric {
	char *name;
	uint64_t interval_ms;
	uint32_t count;
	uint64_t initial_delay_ms;
	uint32_t failure_limit, inconclusive_limit, consecutive_error_limit, min_samples;
	char *success_condition, *failure_condition;
	int no_data;
	struct spec_provider provider;
};

/* spec.load: synthetic traffic while the analysis runs (docs/analysis.md). */
struct spec_load {
	bool set;                /* written (even as {}): emitted, and the runner drives it */
	uint32_t rate;           /* requests a second */
	uint64_t duration_ms;    /* at most this long */
	char *path, *url;        /* path on the app's listener, or a whole URL instead */
};

struct tmpl {
	char *name;
	json_t *labels;          /* metadata.labels, NULL when none */
	struct spec_env *args;
	size_t nargs;
	struct spec_metric *metrics;
	size_t nmetrics;
	struct spec_load load;
};

static const char *const builtin_metrics[] = {"success-rate", "error-rate", "latency-p50", "latency-p90",
					      "latency-p95", "latency-p99", "request-rate", NULL};
static const char *const compare_metrics[] = {"latency", "error-rate", NULL};
static const char *const http_methods[] = {"GET", "POST", NULL};
static const char *const no_data_policies[] = {"inconclusive", "fail", "pass", NULL};

#define PROV(f) offsetof(struct spec_provider, f)

static const struct spec_field builtin_fields[] = {
	{"metric", &spec_t_enum, PROV(builtin_metric), SPEC_F_REQUIRED, 0, builtin_metrics, 0},
	{"window", &spec_t_dur, PROV(window_ms), 0, 0, &r_dur_positive, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_field prometheus_fields[] = {
	{"address", &spec_t_str, PROV(address), SPEC_F_REQUIRED, 0, spec_v_url, 0},
	{"query", &spec_t_str, PROV(query), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0, NULL, 0},
	{"timeout", &spec_t_dur, PROV(prom_timeout_ms), 0, 0, &r_dur_positive, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_field web_fields[] = {
	{"url", &spec_t_str, PROV(url), SPEC_F_REQUIRED, 0, spec_v_url, 0},
	{"method", &spec_t_enum, PROV(method), 0, 0, http_methods, 0},
	{"headers", &t_env, PROV(headers), 0, 0, &header_item_table, PROV(nheaders)},
	{"body", &spec_t_str, PROV(body), 0, 0, NULL, 0},
	{"jsonPath", &spec_t_str, PROV(json_path), 0, 0, NULL, 0},
	{"timeout", &spec_t_dur, PROV(web_timeout_ms), 0, 0, &r_dur_positive, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_field exec_fields[] = {
	{"command", &spec_t_argv, PROV(command), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0, NULL, PROV(argc)},
	{"timeout", &spec_t_dur, PROV(exec_timeout_ms), 0, 0, &r_dur_positive, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_field compare_fields[] = {
	{"metric", &spec_t_enum, PROV(compare_metric), SPEC_F_REQUIRED, 0, compare_metrics, 0},
	{"confidence", &spec_t_double, PROV(confidence), 0, 0, &r_confidence, 0},
	{"maxIncrease", &spec_t_double, PROV(max_increase), 0, 0, &r_increase, 0},
	{"minSamples", &spec_t_u32, PROV(compare_min_samples), 0, 0, &r_count1, 0},
	{"ignoreBelow", &spec_t_dur, PROV(ignore_below_ms), 0, 0, &r_ignore_below, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table builtin_table = {builtin_fields, -1, 0, NULL, NULL};
static const struct spec_table prometheus_table = {prometheus_fields, -1, 0, NULL, NULL};
static const struct spec_table web_table = {web_fields, -1, 0, NULL, NULL};
static const struct spec_table exec_table = {exec_fields, -1, 0, NULL, NULL};
static const struct spec_table compare_table = {compare_fields, -1, 0, NULL, NULL};

static const struct spec_field provider_fields[] = {
	{"builtin", &spec_t_sub, 0, SPEC_F_ONEOF, PROV_BUILTIN, &builtin_table, 0},
	{"prometheus", &spec_t_sub, 0, SPEC_F_ONEOF, PROV_PROMETHEUS, &prometheus_table, 0},
	{"web", &spec_t_sub, 0, SPEC_F_ONEOF, PROV_WEB, &web_table, 0},
	{"exec", &spec_t_sub, 0, SPEC_F_ONEOF, PROV_EXEC, &exec_table, 0},
	{"compare", &spec_t_sub, 0, SPEC_F_ONEOF, PROV_COMPARE, &compare_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table provider_table = {provider_fields, PROV(kind), 0, NULL, NULL};

#define MET(f) offsetof(struct spec_metric, f)

static void metric_init(void *elem)
{
	struct spec_metric *m = elem;
	m->interval_ms = 1000;
	m->consecutive_error_limit = 4;
	m->provider.window_ms = 30000;
	m->provider.prom_timeout_ms = 5000;
	m->provider.web_timeout_ms = 5000;
	m->provider.exec_timeout_ms = 10000;
	m->provider.confidence = 0.98;
	m->provider.max_increase = 0.1;
	m->provider.compare_min_samples = 30;
	m->provider.ignore_below_ms = 1;
}

/*
 * Argo's rule for count: neither count nor interval → measure once;
 * interval alone → measure until the analysis is stopped (count 0).
 * A builtin metric without minSamples needs SPEC_BUILTIN_MIN_SAMPLES
 * requests: a success rate of 1 over 3 requests proves nothing, and a
 * canary with 10% errors passes 4 looks at 2 requests each 43% of the time.
 * Threshold providers need a condition to judge by.
 */
static int check_metric(struct spec_pctx *c, const struct snode *map, void *base)
{
	static const char *const aliases[][2] = {{"maxFailures", "failureLimit"},
						  {"maxInconclusive", "inconclusiveLimit"}};
	struct spec_metric *m = base;
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (spec_present(map, aliases[i][0]) && spec_present(map, aliases[i][1]))
			return spec_perr(c, snode_get(map, aliases[i][0]),
					 "metric has both \"%s\" and \"%s\", only one is allowed", aliases[i][0],
					 aliases[i][1]);
	if (!spec_present(map, "count"))
		m->count = spec_present(map, "interval") ? 0 : 1;
	if (!spec_present(map, "minSamples") && m->provider.kind == PROV_BUILTIN)
		m->min_samples = SPEC_BUILTIN_MIN_SAMPLES;
	if (!m->success_condition && !m->failure_condition &&
	    (m->provider.kind == PROV_BUILTIN || m->provider.kind == PROV_PROMETHEUS ||
	     m->provider.kind == PROV_WEB))
		return spec_perr_at_key(c, map, "metric needs \"successCondition\" or \"failureCondition\"");
	return 0;
}

static const struct spec_field metric_fields[] = {
	{"name", &spec_t_str, MET(name), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0, NULL, 0},
	{"interval", &spec_t_dur, MET(interval_ms), 0, 0, &r_dur_positive, 0},
	{"count", &spec_t_u32, MET(count), 0, 0, &r_count0, 0},
	{"initialDelay", &spec_t_dur, MET(initial_delay_ms), 0, 0, NULL, 0},
	{"failureLimit", &spec_t_u32, MET(failure_limit), 0, 0, &r_count0, 0},
	{"maxFailures", &spec_t_u32, MET(failure_limit), SPEC_F_NOEMIT, 0, &r_count0, 0},
	{"inconclusiveLimit", &spec_t_u32, MET(inconclusive_limit), 0, 0, &r_count0, 0},
	{"maxInconclusive", &spec_t_u32, MET(inconclusive_limit), SPEC_F_NOEMIT, 0, &r_count0, 0},
	{"consecutiveErrorLimit", &spec_t_u32, MET(consecutive_error_limit), 0, 0, &r_count0, 0},
	{"successCondition", &spec_t_str, MET(success_condition), SPEC_F_NONEMPTY, 0, NULL, 0},
	{"failureCondition", &spec_t_str, MET(failure_condition), SPEC_F_NONEMPTY, 0, NULL, 0},
	{"minSamples", &spec_t_u32, MET(min_samples), 0, 0, &r_count0, 0},
	{"noData", &spec_t_enum, MET(no_data), 0, 0, no_data_policies, 0},
	{"provider", &spec_t_sub, MET(provider), SPEC_F_REQUIRED, 0, &provider_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table metric_table = {metric_fields, -1, sizeof(struct spec_metric), metric_init,
					  check_metric};

static const struct spec_field targ_fields[] = {
	{"name", &spec_t_str, offsetof(struct spec_env, name), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0, NULL, 0},
	{"value", &spec_t_str, offsetof(struct spec_env, value), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table targ_table = {targ_fields, -1, sizeof(struct spec_env), NULL, NULL};

static int check_tmpl_spec(struct spec_pctx *c, const struct snode *map, void *base)
{
	struct tmpl *t = base;
	int rc = spec_unique_names(c, snode_get(map, "args"), t->args, t->nargs, sizeof(*t->args),
			      offsetof(struct spec_env, name), "argument");
	if (rc == 0)
		rc = spec_unique_names(c, snode_get(map, "metrics"), t->metrics, t->nmetrics, sizeof(*t->metrics),
				  MET(name), "metric");
	return rc;
}

#define LOAD(f) offsetof(struct spec_load, f)
static const struct spec_range r_load_rate = {1, 500};
static const struct spec_range r_load_duration = {1000, 3600000};

static const struct spec_field load_fields[] = {
	{"rate", &spec_t_u32, LOAD(rate), 0, 0, &r_load_rate, 0},
	{"duration", &spec_t_dur, LOAD(duration_ms), 0, 0, &r_load_duration, 0},
	{"path", &spec_t_str, LOAD(path), 0, 0, v_abs_path, 0},
	{"url", &spec_t_str, LOAD(url), SPEC_F_OMIT_NULL, 0, spec_v_url, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* The duration type checks only a minimum: the bound on how long an
 * analysis may load an app is checked here. */
static int check_load(struct spec_pctx *c, const struct snode *map, void *base)
{
	const struct spec_load *l = base;
	const struct snode *d = snode_get(map, "duration");
	if (d && l->duration_ms > r_load_duration.max)
		return spec_perr(c, d, "duration must be at most 1h, got \"%s\"", d->text);
	return 0;
}

static const struct spec_table load_table = {load_fields, -1, 0, NULL, check_load};

/* load: a sub-table that is emitted only when written, with its defaults. */
static int parse_load(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	struct spec_load *l = SPEC_AT(base, f->off, struct spec_load);
	l->set = true;
	l->rate = 50;
	l->duration_ms = 300000;
	l->path = xstrdup("/");
	return spec_parse_sub(c, n, base, f);
}

static json_t *emit_load(const void *base, const struct spec_field *f)
{
	const struct spec_load *l = SPEC_CAT(base, f->off, struct spec_load);
	return l->set ? spec_table_emit(f->arg, l) : NULL;
}

static const struct spec_ftype t_load = {parse_load, emit_load, spec_free_sub};

static const struct spec_field tmpl_spec_fields[] = {
	{"args", &spec_t_list, offsetof(struct tmpl, args), 0, 0, &targ_table, offsetof(struct tmpl, nargs)},
	{"load", &t_load, offsetof(struct tmpl, load), SPEC_F_NULLOK, 0, &load_table, 0},
	{"metrics", &spec_t_list, offsetof(struct tmpl, metrics), SPEC_F_REQUIRED | SPEC_F_NONEMPTY, 0, &metric_table,
	 offsetof(struct tmpl, nmetrics)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table tmpl_spec_table = {tmpl_spec_fields, -1, 0, NULL, check_tmpl_spec};

static const struct spec_field meta_tmpl_fields[] = {
	{"name", &spec_t_str, offsetof(struct tmpl, name), SPEC_F_REQUIRED, 0, spec_v_dns_label, 0},
	{"labels", &spec_t_labels, offsetof(struct tmpl, labels), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table meta_tmpl_table = {meta_tmpl_fields, -1, 0, NULL, NULL};

static const struct spec_field tmpl_doc_fields[] = {
	{"apiVersion", &spec_t_api_version, 0, SPEC_F_REQUIRED, 0, NULL, 0},
	{"kind", &spec_t_kind, 0, SPEC_F_REQUIRED, 0, "AnalysisTemplate", 0},
	{"metadata", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &meta_tmpl_table, 0},
	{"spec", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &tmpl_spec_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table tmpl_doc_table = {tmpl_doc_fields, -1, 0, NULL, NULL};

_Static_assert(sizeof(enum spec_probe_kind) == sizeof(int), "kind fields are read as int");
_Static_assert(sizeof(enum spec_strategy_kind) == sizeof(int), "kind fields are read as int");
_Static_assert(sizeof(enum spec_step_kind) == sizeof(int), "kind fields are read as int");

/* ------------------------------------------------------------------ */
/* Documents, files and directories                                   */

int spec_check_size(const char *path, uint64_t size, bool together, struct sw_err *err)
{
	if (size <= SPEC_MAX_TEXT)
		return 0;
	if (together)
		return sw_errf(err, -1, "%s: the *.yaml and *.yml files together are larger than %u MiB", path,
			       SPEC_MAX_TEXT >> 20);
	return sw_errf(err, -1, "%s:1:1: file is larger than %u MiB", path, SPEC_MAX_TEXT >> 20);
}

/* The absolute directory of `file` ("." and cwd when it has none). */
static char *dir_of(const char *file)
{
	const char *slash = strrchr(file, '/');
	char *dir = slash ? xstrndup(file, slash == file ? 1 : (size_t)(slash - file)) : xstrdup(".");
	char *abs;
	if (dir[0] == '/') {
		abs = spec_path_resolve("/", dir);
	} else {
		char cwd[PATH_MAX];
		abs = spec_path_resolve(getcwd(cwd, sizeof(cwd)) ? cwd : "/", dir);
	}
	free(dir);
	return abs;
}

char *spec_position(const char *file, const struct snode *n)
{
	struct buf b = BUF_INIT;
	/* a node a Patch brought says its own file (patch.h) */
	buf_addf(&b, "%s:%d:%d", n && n->file ? n->file : file, n && n->line ? n->line : 1,
		 n && n->line ? n->col : 1);
	return buf_detach(&b);
}

static void tmpl_release(struct tmpl *t)
{
	spec_table_free(&tmpl_doc_table, t);
}

/* ---- the registry of kinds ---- */

static int app_kind_parse(struct spec_pctx *c, const struct snode *root, void **out)
{
	struct spec_app *a = xmalloc(sizeof(*a));
	int rc;
	app_init(a);
	if ((rc = spec_table_parse(c, root, a, &app_doc_table)) < 0) {
		app_free(a);
		return rc;
	}
	a->source = spec_position(c->file, root);
	*out = a;
	return 0;
}

/* The key: two apps of one name in two environments are two documents. */
static const char *app_kind_name(const void *obj)
{
	return ((const struct spec_app *)obj)->key;
}

static const char *app_kind_source(const void *obj)
{
	return ((const struct spec_app *)obj)->source;
}

static json_t *app_kind_json(const void *obj)
{
	return spec_app_to_json(obj);
}

static void app_kind_free(void *obj)
{
	spec_app_unref(obj);
}

static int tmpl_kind_parse(struct spec_pctx *c, const struct snode *root, void **out)
{
	struct tmpl t = {0};
	int rc = spec_table_parse(c, root, &t, &tmpl_doc_table);
	if (rc == 0) {
		struct spec_template *st = xcalloc(1, sizeof(*st));
		st->name = xstrdup(t.name);
		st->source = spec_position(c->file, root);
		st->json = spec_table_emit(&tmpl_doc_table, &t);
		*out = st;
	}
	tmpl_release(&t);
	return rc;
}

static const char *tmpl_kind_name(const void *obj)
{
	return ((const struct spec_template *)obj)->name;
}

static const char *tmpl_kind_source(const void *obj)
{
	return ((const struct spec_template *)obj)->source;
}

static json_t *tmpl_kind_json(const void *obj)
{
	return json_incref(((const struct spec_template *)obj)->json);
}

static void tmpl_kind_free(void *obj)
{
	spec_template_free(obj);
}

const struct spec_kind spec_kind_app = {"App", app_kind_parse, app_kind_name, app_kind_source,
					app_kind_json, app_kind_free};
const struct spec_kind spec_kind_template = {"AnalysisTemplate", tmpl_kind_parse, tmpl_kind_name,
					     tmpl_kind_source, tmpl_kind_json, tmpl_kind_free};

#define SPEC_MAX_KINDS 32

static const struct spec_kind *kinds[SPEC_MAX_KINDS + 1] = {&spec_kind_app, &spec_kind_template,
							   &spec_kind_patch};
static size_t nkinds = 3;

int spec_kind_register(const struct spec_kind *kind)
{
	SW_ASSERT(kind && kind->name && kind->parse && kind->name_of && kind->source_of &&
		  kind->to_json && kind->free);
	if (spec_kind_find(kind->name))
		return kind == spec_kind_find(kind->name) ? 0 : -1;
	if (nkinds == SPEC_MAX_KINDS)
		return -1;
	kinds[nkinds++] = kind;
	return 0;
}

const struct spec_kind *spec_kind_find(const char *name)
{
	for (size_t i = 0; name && i < nkinds; i++)
		if (strcmp(kinds[i]->name, name) == 0)
			return kinds[i];
	return NULL;
}

/*
 * Checks the document's kind and parses it with that kind's parser. `want`
 * (or NULL for any) is the kind the caller expects.
 */
static int parse_document(struct spec_pctx *c, const struct snode *root,
			  const struct spec_kind **kind_out, void **obj_out)
{
	char gotbuf[128];
	const struct snode *kind;

	*kind_out = NULL;
	*obj_out = NULL;
	if (root->type != SN_MAP)
		return spec_perr(c, root, "document must be a mapping, got %s", SPEC_GOT(root));
	kind = snode_get(root, "kind");
	if (!kind || kind->type == SN_NULL)
		return spec_perr(c, root, "missing required field \"kind\" in document");
	const struct spec_kind *k = kind->type == SN_SCALAR ? spec_kind_find(kind->text) : NULL;
	if (k) {
		c->root = k->name;
		int rc = k->parse(c, root, obj_out);
		if (rc == 0)
			*kind_out = k;
		return rc;
	}
	const char *names[SPEC_MAX_KINDS + 1];
	struct buf b = BUF_INIT;
	buf_addf(&b, "unknown kind %s, expected ", SPEC_GOT(kind));
	for (size_t i = 0; i < nkinds; i++) {
		names[i] = kinds[i]->name;
		buf_addf(&b, "%s\"%s\"", i == 0 ? "" : i + 1 == nkinds ? " or " : ", ", names[i]);
	}
	names[nkinds] = NULL;
	if (kind->type == SN_SCALAR)
		spec_add_suggestion(&b, kind->text, names);
	spec_perr(c, kind, "%s", b.s);
	buf_release(&b);
	return -1;
}

/* The documents of `kind` in set, as an array the set owns. */
static void ***slot_of(struct spec_set *set, const struct spec_kind *kind, size_t **n)
{
	if (kind == &spec_kind_app) {
		*n = &set->napps;
		return (void ***)&set->apps;
	}
	if (kind == &spec_kind_template) {
		*n = &set->ntemplates;
		return (void ***)&set->templates;
	}
	return NULL;
}

static int add_document(struct spec_set *set, struct spec_pctx *c, const struct snode *root)
{
	const struct spec_kind *kind;
	void *obj;
	int rc;

	if ((rc = parse_document(c, root, &kind, &obj)) < 0)
		return rc;
	const char *nm = kind->name_of(obj);
	for (size_t i = 0; i < set->ndocs; i++)
		if (set->docs[i].kind == kind && strcmp(kind->name_of(set->docs[i].obj), nm) == 0) {
			/* word for word what apply says of two in different files
			 * (the engine's check_unique): both documents' positions */
			char word[64];
			size_t k = 0;
			for (; kind->name[k] && k + 1 < sizeof(word); k++)
				word[k] = kind->name[k] >= 'A' && kind->name[k] <= 'Z'
						  ? (char)(kind->name[k] - 'A' + 'a') : kind->name[k];
			word[k] = '\0';
			rc = sw_errf(c->err, -1, "%s: %s \"%s\" is defined twice (first at %s)",
				     kind->source_of(obj), word, nm, kind->source_of(set->docs[i].obj));
			kind->free(obj);
			return rc;
		}
	size_t *n;
	void ***arr = slot_of(set, kind, &n);
	if (arr) {
		*arr = xrealloc(*arr, (*n + 1) * sizeof(**arr));
		(*arr)[(*n)++] = obj;
	}
	set->docs = xrealloc(set->docs, (set->ndocs + 1) * sizeof(*set->docs));
	set->docs[set->ndocs++] = (struct spec_doc){.kind = kind, .obj = obj};
	return 0;
}

/* The doc keeps what it was read from (spec_doc.tree): tree is owned. */
static void keep_tree(struct spec_doc *d, struct snode *tree, const char *file, const char *dir)
{
	d->tree = tree;
	d->file = xstrdup(file);
	d->dir = xstrdup(dir);
}

/* Parses one file's text into set (which may already hold documents). */
static int parse_into(struct spec_set *set, const char *text, size_t len, const char *file,
		      const char *base_dir, struct sw_err *err)
{
	struct snode **docs = NULL;
	size_t ndocs = 0, used = 0;
	struct spec_pctx c = {.file = file, .err = err, .path = BUF_INIT, .root = "document"};
	int rc = -1;

	if (spec_check_size(file, len, false, err) < 0)
		return -1;
	if (snode_from_yaml(&docs, &ndocs, text, len, file, err) < 0)
		return -1;
	c.dir = base_dir ? spec_path_resolve("/", base_dir) : dir_of(file);
	for (size_t i = 0; i < ndocs; i++) {
		if (docs[i]->type == SN_NULL)
			continue;
		used++;
		if (add_document(set, &c, docs[i]) < 0)
			goto out;
		keep_tree(&set->docs[set->ndocs - 1], docs[i], file, c.dir);
		docs[i] = NULL;
	}
	if (!used) {
		sw_errf(err, -1, "%s:1:1: file has no documents", file);
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < ndocs; i++)
		if (docs[i])
			snode_free(docs[i]);
	free(docs);
	free((char *)c.dir);
	buf_release(&c.path);
	return rc;
}

int spec_parse_node(struct spec_set *set, const struct snode *doc, const char *file, const char *dir,
		    struct sw_err *err)
{
	struct spec_pctx c = {.file = file, .err = err, .path = BUF_INIT, .root = "document"};
	c.dir = dir ? spec_path_resolve("/", dir) : dir_of(file);
	int rc = add_document(set, &c, doc);
	if (rc == 0)
		keep_tree(&set->docs[set->ndocs - 1], snode_copy(doc, NULL), file, c.dir);
	free((char *)c.dir);
	buf_release(&c.path);
	return rc;
}

int spec_parse_tree(struct spec_doc *out, struct snode *doc, const char *file, const char *dir,
		    struct sw_err *err)
{
	struct spec_pctx c = {.file = file, .err = err, .path = BUF_INIT, .root = "document"};
	const struct spec_kind *kind;
	void *obj;
	c.dir = xstrdup(dir);
	int rc = parse_document(&c, doc, &kind, &obj);
	if (rc == 0) {
		*out = (struct spec_doc){kind, obj, NULL, NULL, NULL};
		keep_tree(out, doc, file, c.dir);
	} else
		snode_free(doc);
	free((char *)c.dir);
	buf_release(&c.path);
	return rc;
}

void spec_doc_release(struct spec_doc *d)
{
	d->kind->free(d->obj);
	if (d->tree)
		snode_free(d->tree);
	free(d->file);
	free(d->dir);
	memset(d, 0, sizeof(*d));
}

int spec_parse_text(struct spec_set *out, const char *text, size_t len, const char *filename,
		    struct sw_err *err)
{
	return spec_parse_text_at(out, text, len, filename, NULL, err);
}

int spec_parse_text_at(struct spec_set *out, const char *text, size_t len, const char *filename,
		       const char *base_dir, struct sw_err *err)
{
	memset(out, 0, sizeof(*out));
	if (parse_into(out, text, len, filename, base_dir, err) < 0) {
		spec_set_release(out);
		return -1;
	}
	return 0;
}

static int read_file(char **out, size_t *len_out, const char *path, struct sw_err *err)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), rc = -1;

	if (fd < 0 || fstat(fd, &st) < 0) {
		sw_errf(err, -1, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		sw_errf(err, -1, "%s: cannot read: not a regular file", path);
		goto out;
	}
	if (spec_check_size(path, (uint64_t)st.st_size, false, err) < 0)
		goto out;
	data = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, data + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sw_errf(err, -1, "%s: cannot read: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	data[len] = '\0';
	*out = data;
	*len_out = len;
	data = NULL;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(data);
	return rc;
}

static int parse_file_into(struct spec_set *set, const char *path, struct sw_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = read_file(&text, &len, path, err);
	if (rc == 0)
		rc = parse_into(set, text, len, path, NULL, err);
	free(text);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_yaml_name(const char *name)
{
	size_t len = strlen(name);
	if (name[0] == '.')
		return false;
	return (len > 5 && strcmp(name + len - 5, ".yaml") == 0) ||
	       (len > 4 && strcmp(name + len - 4, ".yml") == 0);
}

int spec_parse_path(struct spec_set *out, const char *path, struct sw_err *err)
{
	struct stat st;
	DIR *d = NULL;
	char **names = NULL;
	size_t nnames = 0;
	uint64_t total = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (stat(path, &st) < 0) {
		sw_errf(err, -1, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = parse_file_into(out, path, err);
		goto out;
	}
	if (!(d = opendir(path))) {
		sw_errf(err, -1, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!is_yaml_name(de->d_name))
			continue;
		struct buf b = BUF_INIT;
		size_t plen = strlen(path);
		buf_addf(&b, "%s%s%s", path, plen && path[plen - 1] == '/' ? "" : "/", de->d_name);
		struct stat fst;
		if (stat(b.s, &fst) == 0 && S_ISDIR(fst.st_mode)) {
			buf_release(&b);
			continue;
		}
		if (S_ISREG(fst.st_mode))
			total += (uint64_t)fst.st_size;
		names = xrealloc(names, (nnames + 1) * sizeof(*names));
		names[nnames++] = buf_detach(&b);
	}
	if (!nnames) {
		sw_errf(err, -1, "%s: no *.yaml or *.yml files in directory", path);
		goto out;
	}
	qsort(names, nnames, sizeof(*names), name_cmp);
	/* each file alone first: its message is the more precise */
	for (size_t i = 0; i < nnames; i++) {
		struct stat fst;
		if (stat(names[i], &fst) == 0 && spec_check_size(names[i], (uint64_t)fst.st_size, false, err) < 0)
			goto out;
	}
	if (spec_check_size(path, total, true, err) < 0)
		goto out;
	for (size_t i = 0; i < nnames; i++)
		if (parse_file_into(out, names[i], err) < 0)
			goto out;
	rc = 0;
out:
	if (d)
		closedir(d);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	if (rc < 0)
		spec_set_release(out);
	return rc;
}

void spec_set_release(struct spec_set *set)
{
	/* every document is in docs; apps and templates are views of it */
	for (size_t i = 0; i < set->ndocs; i++)
		spec_doc_release(&set->docs[i]);
	free(set->docs);
	free(set->apps);
	free(set->templates);
	memset(set, 0, sizeof(*set));
}

void spec_template_free(struct spec_template *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->source);
	json_decref(t->json);
	free(t);
}

struct spec_app *spec_app_ref(struct spec_app *app)
{
	SW_ASSERT(app && app->refs > 0);
	app->refs++;
	return app;
}

void spec_app_unref(struct spec_app *app)
{
	if (!app)
		return;
	SW_ASSERT(app->refs > 0);
	if (--app->refs == 0)
		app_free(app);
}

/* ------------------------------------------------------------------ */
/* Canonical JSON                                                     */

json_t *spec_app_to_json(const struct spec_app *app)
{
	return spec_table_emit(&app_doc_table, app);
}

int spec_doc_from_json(const struct spec_kind *want, void **out, const json_t *json,
		       struct sw_err *err)
{
	struct snode *root = NULL;
	struct spec_pctx c = {.file = "json", .err = err, .path = BUF_INIT, .root = "document"};
	const struct spec_kind *kind = NULL;
	int rc = -1;

	*out = NULL;
	if (snode_from_json(&root, json, "json", err) < 0)
		goto out;
	c.dir = dir_of("x");
	const struct snode *k = snode_get(root, "kind");
	if (k && k->type == SN_SCALAR && strcmp(k->text, want->name) != 0) {
		char gotbuf[128];
		sw_errf(err, -1, "json: expected kind \"%s\", got %s", want->name, SPEC_GOT(k));
		goto out;
	}
	rc = parse_document(&c, root, &kind, out);
	if (rc == 0 && kind != want) { /* a document without "kind" */
		kind->free(*out);
		*out = NULL;
		rc = sw_errf(err, -1, "json: expected kind \"%s\"", want->name);
	}
out:
	snode_free(root);
	free((char *)c.dir);
	buf_release(&c.path);
	return rc;
}

int spec_app_from_json(struct spec_app **out, const json_t *json, struct sw_err *err)
{
	int rc = spec_doc_from_json(&spec_kind_app, (void **)out, json, err);
	if (rc == 0) {
		free((*out)->source);
		(*out)->source = xstrdup("json");
	}
	return rc;
}

int spec_template_from_json(struct spec_template **out, const json_t *json, struct sw_err *err)
{
	int rc = spec_doc_from_json(&spec_kind_template, (void **)out, json, err);
	if (rc == 0) {
		free((*out)->source);
		(*out)->source = xstrdup("json");
	}
	return rc;
}

char *spec_app_canonical(const struct spec_app *app)
{
	json_t *j = spec_app_to_json(app);
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(j);
	SW_ASSERT(s);
	return s;
}

static bool ref_names(const struct spec_analysis_ref *r, const char *name)
{
	for (size_t i = 0; i < r->ntemplates; i++)
		if (strcmp(r->templates[i], name) == 0)
			return true;
	return false;
}

bool spec_app_uses_template(const struct spec_app *app, const char *name)
{
	const struct spec_strategy *s = &app->strategy;
	for (size_t i = 0; i < s->nsteps; i++)
		if (s->steps[i].kind == SPEC_STEP_ANALYSIS && ref_names(&s->steps[i].analysis, name))
			return true;
	return ref_names(&s->background, name) || ref_names(&s->pre_promotion, name) ||
	       ref_names(&s->post_promotion, name);
}

void spec_app_hash(const struct spec_app *app, char out[65])
{
	char *s = spec_app_canonical(app);

	sw_sha256_hex(s, strlen(s), out);
	free(s);
}

/* ------------------------------------------------------------------ */
/* Environments: qualified names                                      */

bool spec_env_is_default(const char *env)
{
	return !env || !*env || strcmp(env, SPEC_ENV_DEFAULT) == 0;
}

char *spec_key(char out[SPEC_KEY_MAX], const char *env, const char *name)
{
	if (spec_env_is_default(env))
		snprintf(out, SPEC_KEY_MAX, "%s", name);
	else
		snprintf(out, SPEC_KEY_MAX, "%s/%s", env, name);
	return out;
}

const char *spec_key_split(const char *key, char env[64], const char **name)
{
	const char *slash = strchr(key, '/');
	size_t n = slash ? (size_t)(slash - key) : 0;
	if (!slash || n >= 64) {
		snprintf(env, 64, "%s", SPEC_ENV_DEFAULT);
		*name = key;
	} else {
		memcpy(env, key, n);
		env[n] = '\0';
		*name = slash + 1;
	}
	return *name;
}

int spec_set_environment(struct spec_set *set, const char *env, struct sw_err *err)
{
	const char *want = spec_env_is_default(env) ? NULL : env;
	for (size_t i = 0; i < set->napps; i++) {
		const struct spec_app *a = set->apps[i];
		const char *has = a->environment;
		if (!a->environment_at || (!has && !want) || (has && want && strcmp(has, want) == 0))
			continue;
		return sw_errf(err, SW_EINVAL, "%s: metadata.environment is %s but the command selects %s",
			       a->environment_at, a->environment ? a->environment : SPEC_ENV_DEFAULT,
			       want ? want : SPEC_ENV_DEFAULT);
	}
	for (size_t i = 0; i < set->napps && want; i++) {
		struct spec_app *a = set->apps[i];
		char key[SPEC_KEY_MAX];
		if (a->environment)
			continue;
		a->environment = xstrdup(want);
		free(a->key);
		a->key = xstrdup(spec_key(key, a->environment, a->name));
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Substitution                                                       */

char *spec_substitute(const char *in, const struct spec_vars *vars)
{
	struct buf b = BUF_INIT;
	const struct {
		const char *name;
		const char *value;
	} map[] = {
		{"PORT", vars ? vars->port : NULL},
		{"VERSION", vars ? vars->version : NULL},
		{"INSTANCE", vars ? vars->instance : NULL},
		{"APP", vars ? vars->app : NULL},
	};

	for (const char *p = in; *p; p++) {
		if (p[0] == '$' && p[1] == '$') {
			buf_addc(&b, '$');
			p++;
			continue;
		}
		if (p[0] == '$' && p[1] == '{') {
			const char *end = strchr(p + 2, '}');
			size_t len = end ? (size_t)(end - p - 2) : 0;
			size_t i;
			for (i = 0; end && i < 4; i++)
				if (strlen(map[i].name) == len && memcmp(map[i].name, p + 2, len) == 0)
					break;
			if (end && i < 4) {
				buf_adds(&b, map[i].value ? map[i].value : "");
				p = end;
				continue;
			}
		}
		buf_addc(&b, *p);
	}
	return buf_detach(&b);
}

/* ------------------------------------------------------------------ */
/* For the reference (reference.h): the kinds' tables and the row types */

/* `explain patch`: a Patch's metadata, and as its spec the App's, every
 * field of which a Patch may set (render.c checks it so). */
extern const struct spec_table spec_patch_meta_table;
static const struct spec_field patch_ref_fields[] = {
	{"apiVersion", &spec_t_api_version, 0, SPEC_F_REQUIRED, 0, NULL, 0},
	{"kind", &spec_t_kind, 0, SPEC_F_REQUIRED, 0, "Patch", 0},
	{"metadata", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &spec_patch_meta_table, 0},
	{"spec", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &app_spec_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};
static const struct spec_table patch_ref_table = {patch_ref_fields, -1, 0, NULL, NULL};

const struct spec_ref_kind spec_ref_kinds[] = {
	{&spec_kind_app, &app_doc_table, NULL, NULL},
	{&spec_kind_template, &tmpl_doc_table, NULL, NULL},
	{&spec_kind_patch, &patch_ref_table, NULL, NULL},
	{NULL, NULL, NULL, NULL},
};

const struct spec_ref_shape spec_ref_shapes[] = {
	{&t_listen, "string", SPEC_REF_LEAF, "\"127.0.0.1:1\""},
	{&t_environment, "string", SPEC_REF_LEAF, "\"a\""},
	{&t_value_from, "object (file: string)", SPEC_REF_LEAF, NULL},
	{&t_env, "map of string, or list of object", SPEC_REF_LIST, NULL},
	{&t_tmplrefs, "list of string", SPEC_REF_LEAF, "[\"a\"]"},
	{&spec_t_analysis_ref, "object", SPEC_REF_MAP, NULL},
	{&t_workdir, "string", SPEC_REF_LEAF, "\"a\""},
	{&t_probe, "object", SPEC_REF_MAP, NULL},
	{&t_signal, "string", SPEC_REF_LEAF, "\"SIGTERM\""},
	{&t_pause_duration, "duration", SPEC_REF_LEAF, "\"1s\""},
	{&t_seconds, "integer", SPEC_REF_LEAF, "1"},
	{&t_hook_command, "list of string, or string", SPEC_REF_LEAF, "[\"a\"]"},
	{&t_migration, "object", SPEC_REF_MAP, NULL},
	{&t_hooks, "object", SPEC_REF_MAP, NULL},
	{&t_depends, "list of string", SPEC_REF_LEAF, "[\"db\"]"}, /* the synthetic app is "a" */
	{&t_load, "object", SPEC_REF_MAP, NULL},
	{NULL, NULL, 0, NULL},
};
