/*
 * Dependencies between apps (spec.dependsOn): the graph a cycle is looked
 * for in at apply, what a waiting app is told about the apps it waits for,
 * and waking it when one of them changes. The rollout decides (it holds
 * the revision while params.deps_pending is set, src/rollout/rollout.h);
 * this file only looks at the other apps.
 */
#include "engine_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* ---- the graph (pure) ---- */

struct frame {
	size_t node;
	size_t next;                  /* its next dependency to follow */
};

size_t engine_depends_cycle(const struct engine_dep_node *nodes, size_t n, size_t **out)
{
	enum { WHITE, GREY, BLACK };
	struct sw_map index;
	unsigned char *colour = xcalloc(n + 1, 1);
	struct frame *stack = xmalloc((n + 1) * sizeof(*stack));
	size_t len = 0;
	*out = NULL;
	sw_map_init(&index);
	for (size_t i = n; i-- > 0;) /* a name given twice is its first node */
		sw_map_put(&index, nodes[i].name, (void *)(uintptr_t)(i + 1));
	for (size_t start = 0; start < n && !len; start++) {
		size_t depth = 0;
		if (colour[start] != WHITE)
			continue;
		colour[start] = GREY;
		stack[depth++] = (struct frame){start, 0};
		while (depth && !len) {
			struct frame *f = &stack[depth - 1];
			const struct engine_dep_node *x = &nodes[f->node];
			if (f->next == x->ndeps) {
				colour[f->node] = BLACK;
				depth--;
				continue;
			}
			uintptr_t to = (uintptr_t)sw_map_get(&index, x->deps[f->next++]);
			if (!to || colour[to - 1] == BLACK)
				continue; /* not there (yet), or explored without a cycle */
			if (colour[to - 1] == WHITE) {
				colour[to - 1] = GREY;
				stack[depth++] = (struct frame){to - 1, 0};
				continue;
			}
			/* grey: on the path; the cycle is the path from it on */
			size_t from = depth;
			while (stack[from - 1].node != to - 1)
				from--;
			len = depth - (from - 1);
			*out = xmalloc(len * sizeof(**out));
			size_t low = 0;
			for (size_t k = 0; k < len; k++) {
				(*out)[k] = stack[from - 1 + k].node;
				if ((*out)[k] < (*out)[low])
					low = k;
			}
			/* from its first node in the graph's order: one cycle, one text */
			size_t *rot = xmalloc(len * sizeof(*rot));
			for (size_t k = 0; k < len; k++)
				rot[k] = (*out)[(low + k) % len];
			free(*out);
			*out = rot;
		}
	}
	sw_map_release(&index);
	free(stack);
	free(colour);
	return len;
}

/* ---- at apply ---- */

/* dependsOn names apps of the app's own environment: their keys (a new
 * NULL-terminated array, each string the caller's too). */
static char **dep_keys(const struct spec_app *sa)
{
	char **out = xcalloc(sa->ndepends + 1, sizeof(*out));
	for (size_t i = 0; i < sa->ndepends; i++) {
		char key[SPEC_KEY_MAX];
		out[i] = xstrdup(spec_key(key, sa->environment, sa->depends_on[i]));
	}
	return out;
}

static void dep_keys_free(char **keys)
{
	for (size_t i = 0; keys && keys[i]; i++)
		free(keys[i]);
	free(keys);
}


int engine_depends_check(struct engine *e, const struct engine_doc *docs, size_t ndocs,
			 struct sw_err *err)
{
	size_t napplied = 0, n = 0, any = 0;
	for (size_t x = 0; x < ndocs; x++)
		for (size_t k = 0; k < docs[x].set->napps; k++) {
			napplied++;
			any += docs[x].set->apps[k]->ndepends;
		}
	if (!any)
		return 0; /* no edge from this apply: it cannot close a cycle */
	struct engine_dep_node *nodes =
		xcalloc(napplied + engine_app_count(e) + 1, sizeof(*nodes));
	const struct spec_app **specs = xcalloc(napplied + 1, sizeof(*specs));
	for (size_t x = 0; x < ndocs; x++)
		for (size_t k = 0; k < docs[x].set->napps; k++) {
			const struct spec_app *sa = docs[x].set->apps[k];
			specs[n] = sa;
			nodes[n++] = (struct engine_dep_node){sa->key, dep_keys(sa), sa->ndepends};
		}
	/* the apps already there, as their desired revision has them */
	size_t it = 0;
	const char *name;
	void *v;
	while (sw_map_next(&e->apps, &it, &name, &v)) {
		struct engine_app *a = v;
		struct sw_err ignored = {0};
		const struct spec_app *sa = a->st.desired && !engine_docs_apply(docs, ndocs, a->name)
			? engine_app_spec(e, a, a->st.desired, &ignored) : NULL;
		if (sa && sa->ndepends)
			nodes[n++] = (struct engine_dep_node){a->name, dep_keys(sa), sa->ndepends};
	}
	size_t *cycle = NULL, len = engine_depends_cycle(nodes, n, &cycle);
	int r = 0;
	if (len) {
		/* an apply only closes a cycle through one of its own apps: the
		 * first node, as the graph lists them first */
		const struct spec_app *at = specs[cycle[0] < napplied ? cycle[0] : 0];
		struct buf b = BUF_INIT;
		for (size_t k = 0; k < len; k++)
			buf_addf(&b, "%s -> ", nodes[cycle[k]].name);
		buf_adds(&b, nodes[cycle[0]].name);
		r = sw_errf(err, SW_EINVAL, "%s: dependsOn: cycle %s (an app cannot wait for itself, "
			    "directly or through others)", at->depends_at ? at->depends_at : at->source,
			    b.s);
		buf_release(&b);
	}
	free(cycle);
	free(specs);
	for (size_t i = 0; i < n; i++)
		dep_keys_free((char **)nodes[i].deps);
	free(nodes);
	return r;
}

bool engine_replicas_only(struct engine *e, struct engine_app *a, const struct spec_app *sa)
{
	struct sw_err ignored = {0};
	const struct spec_app *stable = a && a->st.stable
		? engine_app_spec(e, a, a->st.stable, &ignored) : NULL;
	if (!stable)
		return false;
	json_t *x = spec_app_to_json(stable), *y = spec_app_to_json(sa);
	json_object_del(json_object_get(x, "spec"), "replicas");
	json_object_del(json_object_get(y, "spec"), "replicas");
	bool same = json_equal(x, y);
	json_decref(x);
	json_decref(y);
	return same;
}

void engine_depends_hold(struct engine *e, struct engine_app *a, const struct spec_app *sa,
			 struct rollout_state *st)
{
	if (sa && sa->ndepends && !engine_replicas_only(e, a, sa))
		rollout_wait_for_dependencies(st);
}

/* ---- while it waits ---- */

/* Whether `a` is what its dependants wait for: Healthy at its newest
 * revision (not rolling out, not waiting, not aborted, all its instances
 * available). */
static bool app_healthy(const struct engine_app *a)
{
	const char *reason;
	return engine_app_phase(a, &reason) == ROLLOUT_HEALTHY && a->st.desired &&
	       a->st.desired == a->st.stable;
}

/* Room kept in a pending text for " and 99 more". */
#define MORE_ROOM 16

const char *engine_depends_pending(struct engine *e, const struct spec_app *spec, char *out,
				   size_t size)
{
	size_t len = 0, left = 0;
	out[0] = '\0';
	for (size_t i = 0; spec && i < spec->ndepends; i++) {
		char key[SPEC_KEY_MAX];
		const struct engine_app *d =
			engine_app_find(e, spec_key(key, spec->environment, spec->depends_on[i]));
		const char *reason;
		if (d && app_healthy(d))
			continue;
		char item[128];
		snprintf(item, sizeof(item), "%s%s (%s)", len ? ", " : "", spec->depends_on[i],
			 d ? rollout_phase_name(engine_app_phase(d, &reason)) : "not found");
		if (left || len + strlen(item) + MORE_ROOM >= size) {
			left++;
			continue;
		}
		memcpy(out + len, item, strlen(item) + 1);
		len += strlen(item);
	}
	if (left)
		snprintf(out + len, size - len, " and %zu more", left);
	return out[0] ? out : NULL;
}

void engine_depends_changed(struct engine *e, struct engine_app *a)
{
	bool healthy = app_healthy(a);
	if (healthy == a->deps_healthy)
		return;
	a->deps_healthy = healthy;
	size_t it = 0;
	const char *name;
	void *v;
	while (sw_map_next(&e->apps, &it, &name, &v)) {
		struct engine_app *o = v;
		struct sw_err ignored = {0};
		if (o == a || !rollout_waiting_for_dependencies(&o->st))
			continue;
		const struct spec_app *sa = engine_app_spec(e, o, o->st.desired, &ignored);
		for (size_t i = 0; sa && i < sa->ndepends; i++) {
			char key[SPEC_KEY_MAX];
			if (strcmp(spec_key(key, sa->environment, sa->depends_on[i]), a->name) == 0)
				engine_kick(e, o);
		}
	}
}
