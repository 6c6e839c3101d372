/* API tokens: created, revoked and checked by their SHA-256 only. */
#include "engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/sha256.h"
#include "store/store.h"

#define TOKEN_TOUCH_MS 1000 /* last-used times are kept to the second */

static const char *const token_roles[] = {"admin", "deployer", "viewer", NULL};

/* Names that already mean someone in the event log. */
static const char *const token_reserved[] = {"root", "local", "daemon", NULL};

static bool token_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			return false;
	return true;
}

/* The scope as stored: names joined with ",", each an environment that
 * exists, none twice; -1 with err otherwise. */
static int scope_text(struct engine *e, struct buf *out, const char *const *envs, size_t n,
		      struct sw_err *err)
{
	for (size_t i = 0; i < n; i++) {
		char known[512];
		if (!engine_environment_exists(e, envs[i])) {
			engine_environments_known(e, known, sizeof(known));
			return sw_errf(err, SW_ENOTFOUND, "environment \"%s\" does not exist (known: %s)",
				       envs[i], known);
		}
		const char *name = spec_env_is_default(envs[i]) ? SPEC_ENV_DEFAULT : envs[i];
		bool twice = false;
		for (size_t k = 0; k < i; k++)
			twice |= strcmp(envs[k], envs[i]) == 0;
		if (!twice)
			buf_addf(out, "%s%s", out->len ? "," : "", name);
	}
	return 0;
}

static int do_token_create(struct engine *e, const char *name, const char *role,
			   const char *const *envs, size_t nenvs, const char *const *approve,
			   size_t napprove, const char *actor, char out_token[68], struct sw_err *err)
{
	unsigned char raw[32];
	char hash[65];
	bool role_ok = false;
	struct buf scope = BUF_INIT, approves = BUF_INIT;
	int r = -1;

	out_token[0] = '\0';
	if (!token_name_ok(name))
		return sw_errf(err, SW_EINVAL, "bad token name \"%s\": use 1 to 63 of a-z, 0-9, '-', "
			       "'_', '.', starting with a letter or digit", name);
	for (size_t i = 0; token_reserved[i]; i++)
		if (strcmp(name, token_reserved[i]) == 0)
			return sw_errf(err, SW_EEXIST, "token name \"%s\" is reserved", name);
	for (size_t i = 0; token_roles[i]; i++)
		role_ok |= strcmp(role, token_roles[i]) == 0;
	if (!role_ok)
		return sw_errf(err, SW_EINVAL, "unknown role \"%s\" (admin, deployer, viewer)", role);
	if (nenvs && strcmp(role, "admin") == 0)
		return sw_errf(err, SW_EINVAL, "an admin token is the whole host's (it manages tokens): "
			       "scope a deployer or viewer token to environments");
	if (scope_text(e, &scope, envs, nenvs, err) < 0 ||
	    scope_text(e, &approves, approve, napprove, err) < 0) {
		r = err->code;
		goto out;
	}
	/* approving in an environment is acting in it: within the scope */
	for (size_t i = 0; i < napprove; i++)
		if (!engine_scope_allows(scope.s, approve[i])) {
			r = sw_errf(err, SW_EINVAL, "token \"%s\" is scoped to %s: it cannot approve for "
				    "%s (scope it to %s too, or leave it unscoped)", name, scope.s,
				    approve[i], approve[i]);
			goto out;
		}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		sw_errf(err, -1, "cannot make a token: %s", strerror(errno));
		goto out;
	}
	sw_strlcpy(out_token, "sw_", 68);
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out_token + 3 + 2 * i, 3, "%02x", raw[i]);
	sw_sha256_hex(out_token, strlen(out_token), hash);
	struct store_token t = {.name = (char *)name, .hash = hash, .role = (char *)role,
				.environments = scope.len ? scope.s : "",
				.approve = approves.len ? approves.s : ""};
	r = store_token_put(e->cfg.store, &t, err);
	if (r < 0) {
		OPENSSL_cleanse(out_token, 68);
		goto out;
	}
	engine_event(e, NULL, "TokenCreated", actor, "token \"%s\" created with role %s%s%s%s%s",
		     name, role, scope.len ? " for environments " : "", scope.len ? scope.s : "",
		     approves.len ? ", approving for " : "", approves.len ? approves.s : "");
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	buf_release(&scope);
	buf_release(&approves);
	return r;
}

static int do_token_revoke(struct engine *e, const char *name, const char *actor, struct sw_err *err)
{
	int r = store_token_delete(e->cfg.store, name, err);
	if (r == 0)
		engine_event(e, NULL, "TokenRevoked", actor, "token \"%s\" revoked", name);
	return r;
}

int engine_token_check(struct engine *e, const char *token, char *name, size_t name_size,
		       char *role, size_t role_size)
{
	struct store_token t = {0};
	struct sw_err err = {0};
	char hash[65];
	int r = -1;
	sw_sha256_hex(token, strlen(token), hash);
	int g = store_token_get_by_hash(e->cfg.store, hash, &t, &err);
	if (g < 0) {
		if (g != SW_ENOTFOUND)
			sw_warn("cannot check a token: %s", err.msg);
		goto out;
	}
	if (strlen(t.hash) != 64 || CRYPTO_memcmp(t.hash, hash, 64) != 0)
		goto out;
	int64_t now = sw_wall_ms();
	if (now - t.last_used_ms >= TOKEN_TOUCH_MS &&
	    store_token_touch(e->cfg.store, t.name, now, &err) < 0)
		sw_warn("cannot record the use of token \"%s\": %s", t.name, err.msg);
	sw_strlcpy(name, t.name, name_size);
	sw_strlcpy(role, t.role, role_size);
	r = 0;
out:
	store_token_release(&t);
	return r;
}

int engine_token_create(struct engine *e, const char *name, const char *role,
			const char *const *envs, size_t nenvs, const char *const *approve,
			size_t napprove, const char *actor, char out_token[68], struct sw_err *err)
{
	engine_store_wait(e, true);
	int r = do_token_create(e, name, role, envs, nenvs, approve, napprove, actor, out_token, err);
	engine_store_wait(e, false);
	return r;
}

int engine_token_revoke(struct engine *e, const char *name, const char *actor, struct sw_err *err)
{
	engine_store_wait(e, true);
	int r = do_token_revoke(e, name, actor, err);
	engine_store_wait(e, false);
	return r;
}

/* A list column of token `name` (its environments, or those it approves
 * for) into out; "" for a caller that is no token. */
static int token_list(struct engine *e, const char *name, bool approve, char *out, size_t size)
{
	struct store_token t = {0};
	struct sw_err err = {0};
	*out = '\0';
	int r = store_token_get(e->cfg.store, name, &t, &err);
	const char *v = approve ? t.approve : t.environments;
	if (r == 0)
		sw_strlcpy(out, v ? v : "", size);
	store_token_release(&t);
	return r == 0 || r == SW_ENOTFOUND ? 0 : -1;
}

int engine_token_scope(struct engine *e, const char *actor, char *out, size_t size)
{
	return token_list(e, actor, false, out, size);
}

int engine_token_approves(struct engine *e, const char *actor, const char *env, bool *out)
{
	char list[512];
	*out = false;
	if (!actor || strcmp(actor, "local") == 0 || strcmp(actor, "root") == 0) {
		*out = actor != NULL;
		return 0;
	}
	if (token_list(e, actor, true, list, sizeof(list)) < 0)
		return -1;
	/* approve is a list of names, as a scope is, but "" means none */
	*out = *list && engine_scope_allows(list, env);
	return 0;
}

int engine_token_approve_list(struct engine *e, const char *name, char *out, size_t size)
{
	return token_list(e, name, true, out, size);
}

bool engine_scope_allows(const char *scope, const char *env)
{
	const char *want = spec_env_is_default(env) ? SPEC_ENV_DEFAULT : env;
	size_t n = strlen(want);
	if (!scope || !*scope)
		return true;
	for (const char *p = scope; *p;) {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, want, n) == 0)
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}
