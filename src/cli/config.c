/* The CLI's config file: contexts, read with spec's field tables. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/addr.h"
#include "core/buf.h"
#include "core/paths.h"
#include "spec/argo.h"
#include "spec/fields.h"

#define CONFIG_MAX_TEXT (1 << 20) /* a config file is a few lines */

/* Context names are one word a shell and a table show as they are. */
const char *cli_context_name_problem(const char *s)
{
	if (!*s)
		return "must not be empty";
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '/' || *p == 0x7f || (p == s && *p == '-'))
			return "must be one word without blanks or \"/\", not starting with \"-\"";
	return NULL;
}

static int v_name(struct spec_pctx *c, const struct snode *n, const char *s)
{
	const char *problem = cli_context_name_problem(s);
	if (problem)
		return spec_perr(c, n, "%s %s, got \"%s\"", spec_subject(c), problem, s);
	return 0;
}

static int v_abs(struct spec_pctx *c, const struct snode *n, const char *s)
{
	if (s[0] != '/')
		return spec_perr(c, n, "%s must be an absolute path, got \"%s\"", spec_subject(c), s);
	return 0;
}

static int v_addr(struct spec_pctx *c, const struct snode *n, const char *s)
{
	struct sw_addr a;
	struct sw_err e = {0};
	if (sw_addr_parse(&a, s, 0, &e) < 0)
		return spec_perr(c, n, "%s: %s", spec_subject(c), e.msg);
	return 0;
}

static int check_context(struct spec_pctx *c, const struct snode *map, void *base)
{
	const struct cli_context *ctx = base;
	if (ctx->kind == CLI_CTX_API && !ctx->token_file)
		return spec_perr_at_key(c, map, "a context with \"api\" needs \"token-file\" (the file "
					"that holds its bearer token)");
	if (ctx->kind != CLI_CTX_API && ctx->token_file)
		return spec_perr(c, snode_get(map, "token-file"),
				 "\"token-file\" goes with \"api\" only: a local socket needs no token");
	return 0;
}

static const struct spec_field context_fields[] = {
	{"name", &spec_t_str, offsetof(struct cli_context, name), SPEC_F_REQUIRED, 0, v_name, 0},
	{"state-dir", &spec_t_str, offsetof(struct cli_context, state_dir), SPEC_F_ONEOF,
	 CLI_CTX_STATE_DIR, v_abs, 0},
	{"socket", &spec_t_str, offsetof(struct cli_context, socket), SPEC_F_ONEOF, CLI_CTX_SOCKET,
	 v_abs, 0},
	{"api", &spec_t_str, offsetof(struct cli_context, api), SPEC_F_ONEOF, CLI_CTX_API, v_addr, 0},
	{"token-file", &spec_t_str, offsetof(struct cli_context, token_file), SPEC_F_OMIT_NULL, 0,
	 v_abs, 0},
	{"environment", &spec_t_str, offsetof(struct cli_context, environment), SPEC_F_OMIT_NULL, 0,
	 spec_v_dns_label, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table context_table = {
	context_fields, offsetof(struct cli_context, kind), sizeof(struct cli_context), NULL,
	check_context,
};

/* kind: Config, and nothing else (an App document is not a config). */
static int parse_config_kind(struct spec_pctx *c, const struct snode *n, void *base,
			     const struct spec_field *f)
{
	char gotbuf[128];
	if (n->type == SN_SCALAR && strcmp(n->text, "Config") == 0)
		return 0;
	return spec_perr(c, n, "kind must be \"Config\", got %s", SPEC_GOT(n));
}

static json_t *emit_config_kind(const void *base, const struct spec_field *f)
{
	return json_string("Config");
}

static const struct spec_ftype config_kind = {parse_config_kind, emit_config_kind, NULL};

static int check_config(struct spec_pctx *c, const struct snode *map, void *base)
{
	const struct cli_config *cfg = base;
	if (spec_unique_names(c, snode_get(map, "contexts"), cfg->contexts, cfg->ncontexts,
			      sizeof(struct cli_context), offsetof(struct cli_context, name),
			      "context") < 0)
		return -1;
	if (cfg->current && !cli_config_find(cfg, cfg->current))
		return spec_perr(c, snode_get(map, "current-context"),
				 "current-context \"%s\" is not one of the contexts", cfg->current);
	return 0;
}

static const struct spec_field config_fields[] = {
	{"apiVersion", &spec_t_api_version, 0, SPEC_F_REQUIRED, 0, NULL, 0},
	{"kind", &config_kind, 0, SPEC_F_REQUIRED, 0, NULL, 0},
	{"current-context", &spec_t_str, offsetof(struct cli_config, current), SPEC_F_OMIT_NULL, 0,
	 v_name, 0},
	{"contexts", &spec_t_list, offsetof(struct cli_config, contexts), 0, 0, &context_table,
	 offsetof(struct cli_config, ncontexts)},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table config_table = {config_fields, -1, 0, NULL, check_config};

void cli_context_release(struct cli_context *ctx)
{
	spec_table_free(&context_table, ctx);
	ctx->kind = 0;
}

void cli_config_release(struct cli_config *cfg)
{
	spec_table_free(&config_table, cfg);
	memset(cfg, 0, sizeof(*cfg));
}

struct cli_context *cli_config_find(const struct cli_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ncontexts; i++)
		if (strcmp(cfg->contexts[i].name, name) == 0)
			return &cfg->contexts[i];
	return NULL;
}

int cli_config_parse(struct cli_config *out, const char *text, size_t len, const char *file,
		     struct sw_err *err)
{
	struct snode **docs = NULL;
	size_t ndocs = 0;
	struct spec_pctx c = {.file = file, .err = err, .path = BUF_INIT, .root = "config"};
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len > CONFIG_MAX_TEXT) {
		sw_errf(err, -1, "%s:1:1: file is larger than 1 MiB", file);
		return -1;
	}
	if (snode_from_yaml(&docs, &ndocs, text, len, file, err) < 0)
		return -1;
	const struct snode *root = NULL;
	for (size_t i = 0; i < ndocs; i++) {
		if (docs[i]->type == SN_NULL)
			continue;
		if (root) {
			spec_perr(&c, docs[i], "a config file holds one document");
			goto out;
		}
		root = docs[i];
	}
	rc = root ? spec_table_parse(&c, root, out, &config_table) : 0;
out:
	if (rc < 0)
		cli_config_release(out);
	for (size_t i = 0; i < ndocs; i++)
		snode_free(docs[i]);
	free(docs);
	buf_release(&c.path);
	return rc;
}

int cli_config_load(struct cli_config *out, const char *path, struct sw_err *err)
{
	struct buf text = BUF_INIT;
	char chunk[8192];
	size_t n;
	int rc = -1;
	FILE *f = fopen(path, "re");

	memset(out, 0, sizeof(*out));
	if (!f) {
		if (errno == ENOENT)
			return 0;
		return sw_errf(err, -1, "cannot read \"%s\": %s", path, strerror(errno));
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && text.len <= CONFIG_MAX_TEXT)
		buf_add(&text, chunk, n);
	if (ferror(f))
		sw_errf(err, -1, "cannot read \"%s\": %s", path, strerror(errno));
	else
		rc = cli_config_parse(out, text.s ? text.s : "", text.len, path, err);
	fclose(f);
	buf_release(&text);
	return rc;
}

char *cli_config_yaml(const struct cli_config *cfg)
{
	json_t *j = spec_table_emit(&config_table, cfg);
	char *text = spec_yaml_emit(j);
	json_decref(j);
	return text;
}

int cli_config_save(const struct cli_config *cfg, const char *path, struct sw_err *err)
{
	struct buf tmp = BUF_INIT, dir = BUF_INIT;
	char *text = cli_config_yaml(cfg);
	int fd = -1, rc = -1;
	const char *slash = strrchr(path, '/');

	if (slash && slash != path) {
		buf_add(&dir, path, (size_t)(slash - path));
		if (sw_mkdir_p(dir.s, 0700) < 0) {
			sw_errf(err, -1, "cannot create \"%s\": %s", dir.s, strerror(errno));
			goto out;
		}
	}
	buf_addf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp.s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		sw_errf(err, -1, "cannot create \"%s\": %s", tmp.s, strerror(errno));
		goto out;
	}
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			sw_errf(err, -1, "cannot write \"%s\": %s", tmp.s, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
		sw_errf(err, -1, "cannot write \"%s\": %s", tmp.s, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		sw_errf(err, -1, "cannot write \"%s\": %s", tmp.s, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp.s, path) < 0) {
		sw_errf(err, -1, "cannot replace \"%s\": %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp.s)
		unlink(tmp.s);
	free(text);
	buf_release(&tmp);
	buf_release(&dir);
	return rc;
}
