/*
 * Age keys per environment (docs/secrets.md, "Environments"): of the
 * daemon's keys (engine_config.age_ids), the ones each environment's
 * values are opened with, by env_key_usable's rule (a key an environment
 * lists in spec.recipients is that environment's only; one no environment
 * lists is for the environments without recipients, default included);
 * and the check at apply that a value of an environment with recipients
 * opens with its keys and with no other key of the daemon's.
 *
 * The sets are copies of the daemon's keys, built when first asked for
 * after an Environment changed, and wiped when they go.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


struct env_keys {
	char *env;                    /* the map's key */
	struct age_identities ids;
};

static void keys_free(struct env_keys *k)
{
	if (!k)
		return;
	age_identities_release(&k->ids);
	free(k->env);
	free(k);
}

static void keys_forget(struct engine *e)
{
	size_t it = 0;
	const char *name;
	void *v;
	while (sw_map_next(&e->env_keys, &it, &name, &v))
		keys_free(v);
	sw_map_release(&e->env_keys);
	sw_map_init(&e->env_keys);
}

void engine_keys_changed(struct engine *e)
{
	keys_forget(e);
}

void engine_keys_release(struct engine *e)
{
	keys_forget(e);
	sw_map_release(&e->env_keys);
}

static void key_add(struct age_identities *out, const struct age_identity *k)
{
	out->keys = xrealloc(out->keys, (out->n + 1) * sizeof(*out->keys));
	out->keys[out->n++] = *k;
}

/* The daemon's keys that env (NULL: default) may use (usable) or may
 * not, among the environments all[0..n), appended to out (copies; the
 * caller releases out). */
static void keys_pick(struct engine *e, const struct env_spec *env, const struct env_spec *const *all,
		      size_t n, bool usable, struct age_identities *out)
{
	const struct age_identities *ids = e->cfg.age_ids;
	for (size_t i = 0; ids && i < ids->n; i++) {
		struct age_recipient pub;
		memcpy(pub.pub, ids->keys[i].pub, AGE_KEY_LEN);
		if (env_key_usable(env, all, n, &pub) == usable)
			key_add(out, &ids->keys[i]);
	}
}

/* The stored environments, borrowed, into a new array. */
static size_t stored_envs(struct engine *e, const struct env_spec ***out)
{
	size_t n = 0, it = 0;
	const char *k;
	void *v;
	*out = xcalloc(sw_map_count(&e->envs) + 1, sizeof(**out));
	while (sw_map_next(&e->envs, &it, &k, &v))
		(*out)[n++] = v;
	return n;
}

const struct age_identities *engine_age_ids(struct engine *e, const char *env)
{
	const char *name = spec_env_is_default(env) ? SPEC_ENV_DEFAULT : env;
	struct env_keys *k = sw_map_get(&e->env_keys, name);
	if (k)
		return &k->ids;
	const struct env_spec **all;
	size_t n = stored_envs(e, &all);
	k = xcalloc(1, sizeof(*k));
	k->env = xstrdup(name);
	keys_pick(e, engine_env_find(e, name), all, n, true, &k->ids);
	free(all);
	sw_map_put(&e->env_keys, k->env, k);
	return &k->ids;
}

const struct age_identities *engine_on_age_ids(const char *environment, void *data)
{
	return engine_age_ids(data, environment);
}

/* ---- at apply ---- */

/* The environments as the apply leaves them: the stored ones, each
 * replaced by the apply's document of its name, and the new ones. */
static size_t envs_after(struct engine *e, const struct engine_doc *docs, size_t ndocs,
			 const struct env_spec ***out)
{
	const struct env_spec **stored;
	size_t ns = stored_envs(e, &stored), n = 0;
	size_t cap = ns + 1;
	for (size_t x = 0; x < ndocs; x++)
		cap += docs[x].set->ndocs;
	*out = xcalloc(cap, sizeof(**out));
	for (size_t i = 0; i < ns; i++)
		(*out)[n++] = engine_env_after(e, docs, ndocs, stored[i]->name);
	for (size_t x = 0; x < ndocs; x++)
		for (size_t k = 0; k < docs[x].set->ndocs; k++) {
			const struct spec_doc *d = &docs[x].set->docs[k];
			if (d->kind != &env_kind || engine_env_find(e, ((struct env_spec *)d->obj)->name))
				continue;
			const struct env_spec *after = engine_env_after(e, docs, ndocs,
								       ((struct env_spec *)d->obj)->name);
			bool seen = false;
			for (size_t i = 0; i < n; i++)
				seen |= (*out)[i] == after;
			if (!seen)
				(*out)[n++] = after;
		}
	free(stored);
	return n;
}

/* Who else may use the key of ids that opens v: "environment staging's
 * key" or "a key of the environments without recipients". */
static void opener(char *out, size_t size, const struct age_identities *ids, const char *v,
		   const struct env_spec *const *all, size_t n)
{
	snprintf(out, size, "a key of the environments without recipients");
	for (size_t i = 0; i < ids->n; i++) {
		struct age_identities one = {(struct age_identity *)&ids->keys[i], 1};
		struct sw_err ignored = {0};
		struct age_recipient pub;
		if (age_opens(&one, v, strlen(v), &ignored) != 0)
			continue;
		memcpy(pub.pub, ids->keys[i].pub, AGE_KEY_LEN);
		for (size_t k = 0; k < n; k++)
			if (env_lists_recipient(all[k], &pub)) {
				snprintf(out, size, "environment %s's key", all[k]->name);
				return;
			}
		return;
	}
}

/* One value of app sa (in environment env): refused unless the keys of
 * env open it and no other key of the daemon's does. */
static int value_check(const struct spec_app *sa, const char *where, const struct spec_env *v,
		       const struct env_spec *env, const struct age_identities *mine,
		       const struct age_identities *others, const struct env_spec *const *all,
		       size_t n, struct sw_err *err)
{
	struct sw_err why = {0};
	char who[120];
	if (mine->n && age_opens(mine, v->value, strlen(v->value), &why) != 0)
		return sw_errf(err, SW_EINVAL, "%s: app \"%s\": %senv %s: valueFrom.age is not for "
			       "environment %s: %s with its keys (encrypt it to its recipients: "
			       "slipway secret encrypt -e %s)", sa->source, sa->key, where, v->name,
			       env->name, why.code == SW_ENOTFOUND ? "it does not open" : why.msg,
			       env->name);
	if (others->n && age_opens(others, v->value, strlen(v->value), &why) == 0) {
		opener(who, sizeof(who), others, v->value, all, n);
		return sw_errf(err, SW_EINVAL, "%s: app \"%s\": %senv %s: valueFrom.age opens with %s "
			       "too; environment %s's values must be encrypted to its recipients only "
			       "(slipway secret encrypt -e %s)", sa->source, sa->key, where, v->name,
			       who, env->name, env->name);
	}
	return 0;
}

static int app_check(const struct spec_app *sa, const struct env_spec *env,
		     const struct age_identities *mine, const struct age_identities *others,
		     const struct env_spec *const *all, size_t n, struct sw_err *err)
{
	char where[96];
	for (size_t i = 0; i < sa->nenv; i++)
		if (sa->env[i].age && value_check(sa, "", &sa->env[i], env, mine, others, all, n, err) < 0)
			return -1;
	for (size_t k = 0; k < SPEC_HOOK_KINDS; k++)
		for (size_t h = 0; h < sa->hooks.n[k]; h++) {
			const struct spec_hook *hook = &sa->hooks.list[k][h];
			snprintf(where, sizeof(where), "hook \"%s\": ", hook->name);
			for (size_t i = 0; i < hook->nenv; i++)
				if (hook->env[i].age && value_check(sa, where, &hook->env[i], env, mine,
								    others, all, n, err) < 0)
					return -1;
		}
	return 0;
}

static bool has_age(const struct spec_app *sa)
{
	for (size_t i = 0; i < sa->nenv; i++)
		if (sa->env[i].age)
			return true;
	for (size_t k = 0; k < SPEC_HOOK_KINDS; k++)
		for (size_t h = 0; h < sa->hooks.n[k]; h++)
			for (size_t i = 0; i < sa->hooks.list[k][h].nenv; i++)
				if (sa->hooks.list[k][h].env[i].age)
					return true;
	return false;
}

int engine_keys_check(struct engine *e, const struct engine_doc *docs, size_t ndocs,
		      struct sw_err *err)
{
	const struct env_spec **all = NULL;
	size_t n = 0;
	int r = 0;
	if (!e->cfg.age_ids || !e->cfg.age_ids->n)
		return 0; /* nothing to check with: a value fails when it starts */
	for (size_t x = 0; x < ndocs && r == 0; x++)
		for (size_t k = 0; k < docs[x].set->napps && r == 0; k++) {
			const struct spec_app *sa = docs[x].set->apps[k];
			const struct env_spec *env = sa->environment
				? engine_env_after(e, docs, ndocs, sa->environment) : NULL;
			if (!env || !env->nrecipients || !has_age(sa))
				continue;
			if (!all)
				n = envs_after(e, docs, ndocs, &all);
			struct age_identities mine = {0}, others = {0};
			keys_pick(e, env, all, n, true, &mine);
			keys_pick(e, env, all, n, false, &others);
			r = app_check(sa, env, &mine, &others, all, n, err);
			age_identities_release(&mine); /* copies of the keys: wiped */
			age_identities_release(&others);
		}
	free(all);
	return r < 0 ? SW_EINVAL : 0;
}
