/*
 * slipway get KIND [NAME]: kubectl's read side. Every kind is a row of
 * `kinds` (its names, where the API lists it, how a row of its table
 * reads); -o picks the format, -l a label selector (filtered by the
 * daemon: ?selector=), -w keeps watching: the events API says when
 * something changed, the list is read again and the rows that changed
 * are printed.
 */
#include "cli_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/core.h"
#include "spec/spec.h"

struct get_opts {
	int output;
	bool json;
	const char *selector;
	const char *app;
	bool watch, watch_only;
	bool all_envs;
};

static const struct sw_opt options[] = {
	CLI_OPT_OUTPUT(struct get_opts),
	CLI_OPT_JSON(struct get_opts),
	{.name = "selector", .letter = 'l', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct get_opts, selector, const char *), .value = "SEL",
	 .help = "only objects whose labels match (key=v, key!=v, key in (a,b), key, !key; comma: and)"},
	{.name = "app", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct get_opts, app, const char *),
	 .value = "APP", .help = "instances and revisions of this app only"},
	{.name = "watch", .letter = 'w', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct get_opts, watch, bool),
	 .help = "after the list, print a row each time an object changes (until Ctrl-C)"},
	{.name = "watch-only", .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct get_opts, watch_only, bool),
	 .help = "as --watch, without the list first"},
	{.name = "all-environments", .letter = 'A', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct get_opts, all_envs, bool),
	 .help = "apps and instances of every environment, with an ENVIRONMENT column"},
	{0},
};

#define MAX_COLS 16

/* One row's cells; the table takes copies. */
struct cells {
	const char *c[MAX_COLS];
	char buf[MAX_COLS][160];
	size_t n;
};

static void cell(struct cells *r, const char *s)
{
	SW_ASSERT(r->n < MAX_COLS);
	r->c[r->n++] = s;
}

static void cellf(struct cells *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cellf(struct cells *r, const char *fmt, ...)
{
	SW_ASSERT(r->n < MAX_COLS);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->buf[r->n], sizeof(r->buf[r->n]), fmt, ap);
	va_end(ap);
	r->c[r->n] = r->buf[r->n];
	r->n++;
}

static void table_add(struct cli_table *t, const struct cells *r)
{
	SW_ASSERT(r->n == t->ncols);
	cli_table_row(t, r->c[0], r->c[1], r->c[2], r->c[3], r->c[4], r->c[5], r->c[6], r->c[7],
		      r->c[8], r->c[9], r->c[10], r->c[11], r->c[12], r->c[13], r->c[14], r->c[15]);
}

/* "team=web,tier=front", keys sorted; "<none>" when there are none. */
static void labels_cell(struct cells *r, json_t *labels)
{
	spec_labels_text(r->buf[r->n], sizeof(r->buf[r->n]), labels, "<none>");
	r->c[r->n] = r->buf[r->n];
	r->n++;
}

/* ---- the kinds ---- */

struct kind {
	const char *plural;    /* what `get` lists ("apps") */
	const char *singular;  /* one of them ("app"): -o name, messages */
	const char *alias;     /* short name ("at"), or NULL */
	const char *key;       /* the list's key in the API's answer */
	size_t ncols, nwide;   /* columns of the table and of -o wide */
	/* the header (x NULL) or x's row; name is the NAME cell to show */
	void (*row)(struct cells *r, json_t *x, const char *name, bool wide);
	const char *(*name)(json_t *x, char *buf, size_t size); /* x's name */
};

static const char *name_field(json_t *x, char *buf, size_t size)
{
	snprintf(buf, size, "%s", cli_jstr(x, "name"));
	return buf;
}

static const char *instance_name(json_t *x, char *buf, size_t size)
{
	snprintf(buf, size, "%s", cli_jstr(x, "id"));
	return buf;
}

static const char *revision_name(json_t *x, char *buf, size_t size)
{
	snprintf(buf, size, "%lld", cli_jint(x, "revision"));
	return buf;
}

/* Where x (an app, a template) comes from: "shop@1a2b3c4", its source and
 * commit; "shop@(by hand)" when changed outside git since; `none` when no
 * source owns it. */
static void owner_cell(struct cells *r, json_t *x, const char *none)
{
	if (*cli_jstr(x, "owner") && *cli_jstr(x, "commit"))
		cellf(r, "%s@%.7s", cli_jstr(x, "owner"), cli_jstr(x, "commit"));
	else if (*cli_jstr(x, "owner"))
		cellf(r, "%s@(by hand)", cli_jstr(x, "owner"));
	else
		cell(r, none);
}

/* "2 (1.0.0)" and "2/2" for one side of the app ("-" when there is none). */
static void side_cells(struct cells *r, json_t *side)
{
	if (!json_is_object(side)) {
		cell(r, "-");
		cell(r, "-");
		return;
	}
	cellf(r, "%lld (%s)", cli_jint(side, "revision"), cli_jstr(side, "version"));
	cellf(r, "%lld/%lld", cli_jint(side, "ready"), cli_jint(side, "desired"));
}

static void app_row(struct cells *r, json_t *a, const char *name, bool wide)
{
	if (!a) {
		static const char *const h[] = {"NAME", "STRATEGY", "PHASE", "STABLE", "READY", "CANARY",
						"CANARY-READY", "WEIGHT", "STEP", "LISTEN", "HOST",
						"SOURCE", "LABELS"};
		for (size_t i = 0; i < (wide ? 13u : 8u); i++)
			cell(r, h[i]);
		return;
	}
	cell(r, name);
	cell(r, cli_jstr(a, "strategy"));
	cell(r, cli_jstr(a, "phase"));
	side_cells(r, json_object_get(a, "stable"));
	side_cells(r, json_object_get(a, "canary"));
	if (json_is_integer(json_object_get(a, "weight")))
		cellf(r, "%lld%%", cli_jint(a, "weight"));
	else
		cell(r, "-");
	if (!wide)
		return;
	json_t *ro = json_object_get(a, "rollout");
	if (json_is_object(ro) && strcmp(cli_jstr(a, "strategy"), "canary") == 0) {
		long long step = cli_jint(ro, "step"), steps = cli_jint(ro, "steps");
		cellf(r, "%lld/%lld", step > steps ? steps : step, steps);
	} else {
		cell(r, "-");
	}
	cell(r, *cli_jstr(a, "listen") ? cli_jstr(a, "listen") : "-");
	cell(r, *cli_jstr(a, "host") ? cli_jstr(a, "host") : "-");
	owner_cell(r, a, "-");
	labels_cell(r, json_object_get(a, "labels"));
}

/* "3m" ago, from a wall-clock ms time; "-" for 0 */
static void age_cell(struct cells *r, long long ms)
{
	if (ms <= 0) {
		cell(r, "-");
		return;
	}
	long long s = (sw_wall_ms() - ms) / 1000;
	if (s < 0)
		s = 0;
	if (s < 120)
		cellf(r, "%llds", s);
	else if (s < 7200)
		cellf(r, "%lldm", s / 60);
	else if (s < 172800)
		cellf(r, "%lldh", s / 3600);
	else
		cellf(r, "%lldd", s / 86400);
}

static void source_row(struct cells *r, json_t *x, const char *name, bool wide)
{
	if (!x) {
		static const char *const h[] = {"NAME", "URL", "REF", "COMMIT", "SYNC", "SYNCED",
						"MESSAGE", "PATH", "POLICY", "FETCHED"};
		for (size_t i = 0; i < (wide ? 10u : 7u); i++)
			cell(r, h[i]);
		return;
	}
	json_t *commit = json_object_get(x, "commit"), *inv = json_object_get(x, "invalid");
	cell(r, name);
	cell(r, cli_jstr(x, "url"));
	cell(r, *cli_jstr(x, "ref") ? cli_jstr(x, "ref") : "HEAD");
	cellf(r, "%.7s", json_is_object(commit) ? cli_jstr(commit, "sha") : "-");
	cell(r, cli_jstr(x, "sync"));
	age_cell(r, cli_jint(x, "syncedAt"));
	/* the first thing a user must act on */
	if (*cli_jstr(x, "fetchError"))
		cell(r, cli_jstr(x, "fetchError"));
	else if (json_is_object(inv))
		cellf(r, "%.7s refused: %s", cli_jstr(inv, "sha"), cli_jstr(inv, "error"));
	else if (json_array_size(json_object_get(x, "drift")))
		cellf(r, "%s: %s", cli_jstr(json_array_get(json_object_get(x, "drift"), 0), "app"),
		      cli_jstr(json_array_get(json_object_get(x, "drift"), 0), "reason"));
	else if (json_is_object(commit))
		cellf(r, "%s", cli_jstr(commit, "subject"));
	else
		cell(r, "-");
	if (!wide)
		return;
	struct buf b = BUF_INIT;
	cellf(r, "%s", cli_join(&b, json_object_get(x, "paths"), ","));
	buf_release(&b);
	cellf(r, "%s%s%s", json_is_true(json_object_get(x, "automated")) ? "automated" : "manual",
	      json_is_true(json_object_get(x, "prune")) ? ",prune" : "",
	      json_is_true(json_object_get(x, "selfHeal")) ? ",selfHeal" : "");
	json_t *f = json_object_get(x, "fetched");
	age_cell(r, json_is_object(f) ? cli_jint(f, "at") : 0);
}

static void template_row(struct cells *r, json_t *t, const char *name, bool wide)
{
	if (!t) {
		static const char *const h[] = {"NAME", "METRICS", "UPDATED", "SOURCE", "METRIC-NAMES",
						"LABELS"};
		for (size_t i = 0; i < (wide ? 6u : 4u); i++)
			cell(r, h[i]);
		return;
	}
	json_t *metrics = json_object_get(t, "metrics");
	cell(r, name);
	cellf(r, "%zu", json_array_size(metrics));
	cell(r, cli_jstr(t, "updated"));
	owner_cell(r, t, cli_jstr(t, "source")); /* by hand: the file */
	if (!wide)
		return;
	struct buf b = BUF_INIT;
	cellf(r, "%s", cli_join(&b, metrics, ","));
	buf_release(&b);
	labels_cell(r, json_object_get(t, "labels"));
}

static void instance_row(struct cells *r, json_t *x, const char *name, bool wide)
{
	if (!x) {
		static const char *const h[] = {"NAME", "APP", "REVISION", "VERSION", "STATE", "READY",
						"RESTARTS", "PID", "PORT", "CREATED", "REASON"};
		for (size_t i = 0; i < (wide ? 11u : 7u); i++)
			cell(r, h[i]);
		return;
	}
	cell(r, name);
	cell(r, cli_jstr(x, "app"));
	cellf(r, "%lld", cli_jint(x, "revision"));
	cell(r, cli_jstr(x, "version"));
	cell(r, cli_jstr(x, "state"));
	cell(r, json_is_true(json_object_get(x, "ready")) ? "yes" : "no");
	cellf(r, "%lld", cli_jint(x, "restarts"));
	if (!wide)
		return;
	cellf(r, "%lld", cli_jint(x, "pid"));
	cellf(r, "%lld", cli_jint(x, "port"));
	cell(r, cli_jstr(x, "created"));
	cell(r, cli_jstr(x, "reason"));
}

static void revision_row(struct cells *r, json_t *x, const char *name, bool wide)
{
	if (!x) {
		static const char *const h[] = {"REVISION", "VERSION", "CREATED", "STATUS", "SOURCE",
						"HASH"};
		for (size_t i = 0; i < (wide ? 6u : 4u); i++)
			cell(r, h[i]);
		return;
	}
	bool desired = json_is_true(json_object_get(x, "desired"));
	bool stable = json_is_true(json_object_get(x, "stable"));
	bool failed = json_is_true(json_object_get(x, "failed"));
	cell(r, name);
	cell(r, cli_jstr(x, "version"));
	cell(r, cli_jstr(x, "created"));
	cellf(r, "%s%s%s", desired ? "desired" : "", desired && (stable || failed) ? "," : "",
	      failed ? "failed" : stable ? "stable" : desired ? "" : "-");
	if (!wide)
		return;
	cell(r, cli_jstr(x, "source"));
	cellf(r, "%.12s", cli_jstr(x, "hash"));
}

static void environment_row(struct cells *r, json_t *x, const char *name, bool wide)
{
	if (!x) {
		static const char *const h[] = {"NAME", "PORTS", "LISTEN", "APPS", "WINDOW", "SOURCE",
						"UPDATED", "LABELS"};
		for (size_t i = 0; i < (wide ? 8u : 6u); i++)
			cell(r, h[i]);
		return;
	}
	struct buf b = BUF_INIT;
	cell(r, name);
	cell(r, *cli_jstr(x, "ports") ? cli_jstr(x, "ports") : "-");
	cellf(r, "%s", *cli_join(&b, json_object_get(x, "listen"), ",") ? b.s : "any");
	cellf(r, "%lld", cli_jint(x, "apps"));
	buf_reset(&b);
	cellf(r, "%s", cli_window_now(&b, json_object_get(x, "window"), wide));
	buf_release(&b);
	cell(r, *cli_jstr(x, "source") ? cli_jstr(x, "source") : "-");
	if (!wide)
		return;
	cell(r, *cli_jstr(x, "updated") ? cli_jstr(x, "updated") : "-");
	labels_cell(r, json_object_get(x, "labels"));
}

enum { K_APPS, K_TEMPLATES, K_INSTANCES, K_REVISIONS, K_SOURCES, K_ENVIRONMENTS, NKINDS };

static const struct kind kinds[NKINDS] = {
	[K_APPS] = {"apps", "app", NULL, "apps", 8, 13, app_row, name_field},
	[K_TEMPLATES] = {"analysistemplates", "analysistemplate", "at", "analysisTemplates", 4, 6,
			 template_row, name_field},
	[K_INSTANCES] = {"instances", "instance", "inst", "instances", 7, 11, instance_row,
			 instance_name},
	[K_REVISIONS] = {"revisions", "revision", "rev", "revisions", 4, 6, revision_row,
			 revision_name},
	[K_SOURCES] = {"sources", "source", "src", "sources", 7, 10, source_row, name_field},
	[K_ENVIRONMENTS] = {"environments", "environment", "env", "environments", 6, 8,
			    environment_row, name_field},
};

/* The kinds whose objects live in environments: -A lists them all. */
static bool in_environments(int kind)
{
	return kind == K_APPS || kind == K_INSTANCES;
}

/* The kind a word names (plural, singular or alias); "all" is NKINDS. */
static int kind_find(const char *w)
{
	if (strcmp(w, "all") == 0)
		return NKINDS;
	for (int k = 0; k < NKINDS; k++)
		if (strcmp(w, kinds[k].plural) == 0 || strcmp(w, kinds[k].singular) == 0 ||
		    (kinds[k].alias && strcmp(w, kinds[k].alias) == 0))
			return k;
	return -1;
}

size_t cli_get_kind_words(const char **out, size_t max)
{
	size_t n = 0;
	for (int k = 0; k < NKINDS; k++) {
		const char *w[] = {kinds[k].plural, kinds[k].singular, kinds[k].alias};
		for (size_t i = 0; i < 3; i++)
			if (w[i] && n < max)
				out[n++] = w[i];
	}
	if (n < max)
		out[n++] = "all";
	return n;
}

bool cli_get_name_list(const char *kind_word, const char **path, const char **key,
		       const char **field)
{
	switch (kind_find(kind_word)) {
	case K_APPS:
	case K_REVISIONS: /* get revisions APP */
		*path = "/v1/apps", *key = kinds[K_APPS].key, *field = "name";
		return true;
	case K_TEMPLATES:
		*path = "/v1/analysistemplates", *key = kinds[K_TEMPLATES].key, *field = "name";
		return true;
	case K_INSTANCES:
		*path = "/v1/instances", *key = kinds[K_INSTANCES].key, *field = "id";
		return true;
	case K_SOURCES:
		*path = "/v1/sources", *key = kinds[K_SOURCES].key, *field = "name";
		return true;
	case K_ENVIRONMENTS:
		*path = "/v1/environments", *key = kinds[K_ENVIRONMENTS].key, *field = "name";
		return true;
	default:
		return false;
	}
}

static int unknown_kind(const char *w)
{
	const char *best = NULL;
	size_t bd = 4;
	for (int k = 0; k < NKINDS; k++) {
		const char *names[] = {kinds[k].plural, kinds[k].singular};
		for (size_t i = 0; i < 2; i++) {
			size_t d = sw_edit_distance(w, names[i]);
			if (d < bd) {
				bd = d;
				best = names[i];
			}
		}
	}
	struct buf b = BUF_INIT;
	cli_escape(&b, w, strlen(w), false);
	int r = best ? sw_opt_error("get", "unknown kind \"%s\", did you mean \"%s\"? (kinds: apps, "
				    "analysistemplates, instances, revisions, sources, environments, all)",
				    buf_str(&b), best)
		     : sw_opt_error("get", "unknown kind \"%s\" (kinds: apps, analysistemplates, "
				    "instances, revisions, sources, environments, all)", buf_str(&b));
	buf_release(&b);
	return r;
}

/* ---- reading them ---- */

struct query {
	int kind;
	const char *name; /* one object, or NULL for the list */
	const char *app;  /* instances, revisions */
	const char *selector;
	bool all_envs;    /* -A: apps and instances of every environment */
};

/* The app is selected by sel (revisions carry their app's labels). */
static int app_selected(struct cli *c, const char *app, const char *sel, bool *out)
{
	struct buf p = BUF_INIT;
	json_t *j = NULL;
	cli_pathf(&p, "/v1/apps?selector=%s", sel);
	int r = cli_call(c, "GET", p.s, NULL, &j);
	buf_release(&p);
	*out = false;
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(j, "apps"), i, a)
		if (strcmp(json_string_value(json_object_get(a, "name")), app) == 0)
			*out = true;
	json_decref(j);
	return r;
}

/*
 * The objects q asks for, as an array (new reference) in *items, and in
 * *doc what -o json prints: the API's answer for a list, the object
 * itself for one name. Returns 0, or 1 with the error printed.
 */
static int fetch(struct cli *c, const struct query *q, json_t **items, json_t **doc)
{
	const struct kind *k = &kinds[q->kind];
	struct buf p = BUF_INIT;
	json_t *j = NULL;
	int r = 1;
	*items = *doc = NULL;
	switch (q->kind) {
	case K_SOURCES:
		if (q->name)
			cli_pathf(&p, "/v1/sources/%s", q->name);
		else
			cli_pathf(&p, "/v1/sources");
		if (cli_call(c, "GET", p.s, NULL, &j))
			goto out;
		*items = q->name ? json_pack("[O]", j) : json_incref(json_object_get(j, "sources"));
		*doc = j;
		r = 0;
		break;
	case K_ENVIRONMENTS:
		if (q->name)
			cli_pathf(&p, "/v1/environments/%s", q->name);
		else
			cli_pathf(&p, "/v1/environments?selector=%s", q->selector ? q->selector : "");
		if (cli_call(c, "GET", p.s, NULL, &j))
			goto out;
		*items = q->name ? json_pack("[O]", j) : json_incref(json_object_get(j, k->key));
		*doc = j;
		r = 0;
		break;
	case K_APPS:
	case K_TEMPLATES:
		if (q->name)
			cli_pathf(&p, q->kind == K_APPS ? "/v1/apps/%s" : "/v1/analysistemplates/%s", q->name);
		else
			cli_pathf(&p, q->kind == K_APPS ? "/v1/apps?selector=%s"
							: "/v1/analysistemplates?selector=%s",
				  q->selector ? q->selector : "");
		if (q->all_envs && q->kind == K_APPS)
			buf_adds(&p, "&environment=*");
		if (cli_call(c, "GET", p.s, NULL, &j))
			goto out;
		if (q->name) {
			*items = json_pack("[O]", j);
			*doc = j;
		} else {
			*items = json_incref(json_object_get(j, k->key));
			*doc = j;
		}
		r = 0;
		break;
	case K_INSTANCES:
		cli_pathf(&p, "/v1/instances?selector=%s", q->selector ? q->selector : "");
		if (q->app)
			cli_pathf(&p, "&app=%s", q->app);
		else if (q->all_envs)
			buf_adds(&p, "&environment=*");
		if (cli_call(c, "GET", p.s, NULL, &j))
			goto out;
		*items = json_incref(json_object_get(j, "instances"));
		*doc = j;
		r = 0;
		break;
	case K_REVISIONS: {
		bool selected = true;
		if (q->selector && *q->selector && app_selected(c, q->app, q->selector, &selected))
			goto out;
		cli_pathf(&p, "/v1/apps/%s/history", q->app);
		json_t *revs = NULL;
		if (cli_page_newest(c, p.s, "revisions", 0, &revs)) /* 404 for no such app */
			goto out;
		if (!selected)
			json_array_clear(revs);
		*items = revs;
		*doc = json_pack("{s:s, s:O}", "name", q->app, "revisions", revs);
		r = 0;
		break;
	}
	}
	if (r == 0 && q->name && q->kind != K_APPS && q->kind != K_TEMPLATES && q->kind != K_SOURCES &&
	    q->kind != K_ENVIRONMENTS) {
		/* one instance or revision: picked from the list */
		json_t *x, *found = NULL;
		size_t i;
		char nb[160];
		json_array_foreach(*items, i, x)
			if (strcmp(k->name(x, nb, sizeof(nb)), q->name) == 0)
				found = x;
		if (!found) {
			struct buf e = BUF_INIT;
			cli_escape(&e, q->name, strlen(q->name), false);
			if (q->kind == K_REVISIONS)
				fprintf(stderr, "slipway: revision \"%s\" of app \"%s\" not found\n", e.s,
					q->app);
			else
				fprintf(stderr, "slipway: instance \"%s\" not found\n", e.s);
			buf_release(&e);
			if (*doc == j)
				j = NULL; /* it goes with *doc, not again at out */
			json_decref(*items);
			json_decref(*doc);
			*items = *doc = NULL;
			r = 1;
			goto out;
		}
		json_decref(*doc);
		*doc = json_incref(found);
		json_t *one = json_pack("[O]", found);
		json_decref(*items);
		*items = one;
	}
out:
	buf_release(&p);
	if (j && !*doc)
		json_decref(j);
	return r;
}

/* ---- printing ---- */

/* The columns of kind's table: -A adds ENVIRONMENT before the rest. */
static size_t table_cols(int kind, bool wide, bool envcol)
{
	return (wide ? kinds[kind].nwide : kinds[kind].ncols) + (envcol && in_environments(kind));
}

/* A row of x (the header: NULL) into r, ENVIRONMENT first with -A. */
static void row_of(struct cells *r, int kind, json_t *x, const char *name, bool wide, bool envcol)
{
	if (envcol && in_environments(kind))
		cell(r, x ? cli_jstr(x, "environment") : "ENVIRONMENT");
	kinds[kind].row(r, x, name, wide);
}

/* Adds the rows of items to t (the header first when header is set);
 * with prefix, names read "app/hello" (get all). */
static void table_fill(struct cli_table *t, int kind, json_t *items, bool wide, bool header,
		       bool prefix, bool envcol)
{
	const struct kind *k = &kinds[kind];
	struct cells r = {0};
	if (header) {
		row_of(&r, kind, NULL, NULL, wide, envcol);
		table_add(t, &r);
	}
	size_t i;
	json_t *x;
	json_array_foreach(items, i, x) {
		char nb[160], full[200];
		k->name(x, nb, sizeof(nb));
		snprintf(full, sizeof(full), "%s%s%s", prefix ? k->singular : "", prefix ? "/" : "", nb);
		memset(&r, 0, sizeof(r));
		row_of(&r, kind, x, full, wide, envcol);
		table_add(t, &r);
	}
}

static void print_names(int kind, json_t *items)
{
	size_t i;
	json_t *x;
	char nb[160];
	json_array_foreach(items, i, x) {
		struct buf b = BUF_INIT;
		const char *n = kinds[kind].name(x, nb, sizeof(nb));
		cli_escape(&b, n, strlen(n), false);
		printf("%s/%s\n", kinds[kind].singular, buf_str(&b));
		buf_release(&b);
	}
}

static const char *empty_hint(int kind)
{
	switch (kind) {
	case K_APPS: return "no apps; deploy one with `slipway apply -f app.yaml`";
	case K_TEMPLATES: return "no analysis templates";
	case K_INSTANCES: return "no instances";
	case K_SOURCES: return "no sources; sync from git with a `kind: Source` document (docs/gitops.md)";
	case K_ENVIRONMENTS: return "no environments";
	default: return "no revisions";
	}
}

static int print_list(int kind, json_t *items, json_t *doc, enum cli_output fmt, bool envcol)
{
	if (cli_output_doc(fmt, doc))
		return 0;
	if (fmt == CLI_OUT_NAME) {
		print_names(kind, items);
		return 0;
	}
	bool wide = fmt == CLI_OUT_WIDE;
	struct cli_table t;
	cli_table_init(&t, table_cols(kind, wide, envcol));
	table_fill(&t, kind, items, wide, true, false, envcol);
	if (t.nrows == 1)
		printf("%s\n", empty_hint(kind));
	else
		cli_table_print(&t, stdout);
	cli_table_release(&t);
	return 0;
}

/* get all: apps, templates and instances, each its own table. */
static int get_all(struct cli *c, const struct get_opts *o, enum cli_output fmt)
{
	static const int shown[] = {K_APPS, K_TEMPLATES, K_INSTANCES};
	json_t *all = json_object();
	bool any = false;
	int r = 0;
	for (size_t s = 0; s < 3 && r == 0; s++) {
		struct query q = {.kind = shown[s], .selector = o->selector, .app = o->app,
				  .all_envs = o->all_envs};
		json_t *items, *doc;
		if (shown[s] != K_INSTANCES && o->app)
			continue;
		r = fetch(c, &q, &items, &doc);
		if (r)
			break;
		json_object_set(all, kinds[shown[s]].key, items);
		if (fmt == CLI_OUT_NAME) {
			print_names(shown[s], items);
		} else if (fmt != CLI_OUT_JSON && fmt != CLI_OUT_YAML && json_array_size(items)) {
			bool wide = fmt == CLI_OUT_WIDE;
			struct cli_table t;
			cli_table_init(&t, table_cols(shown[s], wide, o->all_envs));
			table_fill(&t, shown[s], items, wide, true, true, o->all_envs);
			if (any)
				printf("\n");
			cli_table_print(&t, stdout);
			cli_table_release(&t);
			any = true;
		}
		json_decref(items);
		json_decref(doc);
	}
	if (r == 0 && !cli_output_doc(fmt, all) && fmt != CLI_OUT_NAME && !any)
		printf("no resources found\n");
	json_decref(all);
	return r;
}

/* ---- watching ---- */

/*
 * What changed is learnt from the event log: every change of an app, an
 * instance or a template is an event. The loop asks for the events after
 * the last one seen with a long poll (wait=: answered as soon as there is
 * one, or empty after WATCH_WAIT, under the CLI's 30 s request timeout),
 * then reads the list again. It polled every 500 ms before, and a state
 * that lasted less (a quick rollout's Progressing) was often never shown.
 */
#define WATCH_WAIT "25s"

struct seen {
	char **names, **rows; /* each object's name and its row as last printed */
	size_t n;
};

static const char *seen_get(const struct seen *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return s->rows[i];
	return NULL;
}

static void seen_put(struct seen *s, const char *name, const char *row)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0) {
			free(s->rows[i]);
			s->rows[i] = xstrdup(row);
			return;
		}
	s->names = xrealloc(s->names, (s->n + 1) * sizeof(*s->names));
	s->rows = xrealloc(s->rows, (s->n + 1) * sizeof(*s->rows));
	s->names[s->n] = xstrdup(name);
	s->rows[s->n++] = xstrdup(row);
}

static void seen_release(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->names[i]);
		free(s->rows[i]);
	}
	free(s->names);
	free(s->rows);
}

/* The text an object prints as in fmt (a table row joined, or its JSON). */
static void object_text(struct buf *out, int kind, json_t *x, enum cli_output fmt, bool envcol)
{
	if (fmt == CLI_OUT_TABLE || fmt == CLI_OUT_WIDE) {
		struct cells r = {0};
		char nb[160];
		row_of(&r, kind, x, kinds[kind].name(x, nb, sizeof(nb)), fmt == CLI_OUT_WIDE, envcol);
		for (size_t i = 0; i < r.n; i++)
			buf_addf(out, "%s\x1f", r.c[i] ? r.c[i] : "");
	} else {
		char *s = json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS);
		buf_adds(out, s);
		free(s);
	}
}

static void note_change(json_t *rows, void *data)
{
	*(bool *)data = true;
}

static int64_t newest_event(struct cli *c, int *r)
{
	json_t *j = NULL;
	*r = cli_call(c, "GET", "/v1/events?limit=1", NULL, &j);
	int64_t id = cli_jint(json_array_get(json_object_get(j, "events"), 0), "id");
	json_decref(j);
	return id;
}

static int watch(struct cli *c, const struct query *q, enum cli_output fmt, bool only)
{
	struct seen seen = {0};
	struct cli_table t;
	size_t w[MAX_COLS] = {0};
	const char *events_path = "/v1/events?wait=" WATCH_WAIT;
	bool wide = fmt == CLI_OUT_WIDE, table = fmt == CLI_OUT_TABLE || wide, header = !only;
	int r;
	int64_t cursor = newest_event(c, &r);
	if (r)
		return r;
	cli_table_init(&t, table_cols(q->kind, wide, q->all_envs));
	for (bool first = true;; first = false) {
		json_t *items = NULL, *doc = NULL;
		if ((r = fetch(c, q, &items, &doc)))
			break;
		json_decref(doc);
		size_t from = t.nrows, i;
		json_t *x;
		if (table && header) {
			table_fill(&t, q->kind, NULL, wide, true, false, q->all_envs);
			header = false;
		}
		json_array_foreach(items, i, x) {
			struct buf text = BUF_INIT;
			char nb[160], name[240];
			/* one name in two environments: two objects */
			snprintf(name, sizeof(name), "%s/%s", cli_jstr(x, "environment"),
				 kinds[q->kind].name(x, nb, sizeof(nb)));
			object_text(&text, q->kind, x, fmt, q->all_envs);
			const char *was = seen_get(&seen, name);
			bool changed = !was || strcmp(was, buf_str(&text)) != 0;
			seen_put(&seen, name, buf_str(&text));
			buf_release(&text);
			if (!changed || (first && only))
				continue;
			json_t *one = json_pack("[O]", x);
			if (table)
				table_fill(&t, q->kind, one, wide, false, false, q->all_envs);
			else if (fmt == CLI_OUT_NAME)
				print_names(q->kind, one);
			else if (fmt == CLI_OUT_JSON)
				cli_json_print(x);
			else {
				printf("---\n");
				cli_yaml_print(x);
			}
			json_decref(one);
		}
		json_decref(items);
		if (table && t.nrows > from) {
			if (from == 0)
				cli_table_widths(&t, w);
			cli_table_print_rows(&t, stdout, from, w, "");
		}
		fflush(stdout);
		/* wait for the next event of any app: a template or another
		 * app's change may show in this list too (get all, instances) */
		bool changed = false;
		while (!changed)
			if ((r = cli_page_forward(c, events_path, "events", &cursor, note_change,
						  &changed)))
				break;
		if (r)
			break;
	}
	cli_table_release(&t);
	seen_release(&seen);
	return r;
}

/* ---- the command ---- */

static int run(struct cli *c, int argc, char **argv)
{
	struct get_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_get.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	enum cli_output fmt = cli_output_of(o.output, o.json);
	int kind = kind_find(argv[1]);
	if (kind < 0)
		return unknown_kind(argv[1]);
	if (kind == NKINDS) {
		if (n > 1)
			return sw_opt_error("get", "`get all` takes no name");
		if (o.watch || o.watch_only)
			return sw_opt_error("get", "--watch needs one kind, not `all`");
		return get_all(c, &o, fmt);
	}
	struct query q = {.kind = kind, .selector = o.selector, .app = o.app,
			  .name = n > 1 ? argv[2] : NULL, .all_envs = o.all_envs};
	if (o.all_envs && !in_environments(kind))
		return sw_opt_error("get", "-A lists apps and instances (of every environment), not %s",
				    kinds[kind].plural);
	if (o.all_envs && (q.name || o.app))
		return sw_opt_error("get", "-A lists every environment's; a name belongs to one (slipway "
				    "-e ENV get ...)");
	if (kind == K_REVISIONS) {
		/* get revisions APP [N], or get revisions --app APP [N] */
		if (!q.app) {
			if (n < 2)
				return sw_opt_error("get", "revisions belong to an app: `slipway get "
						    "revisions APP` or --app APP");
			q.app = argv[2];
			q.name = n > 2 ? argv[3] : NULL;
		} else if (n > 2) {
			return sw_opt_error("get", "give the app once: as an argument or with --app");
		}
	} else if (n > 2) {
		return sw_opt_error("get", "too many arguments: get KIND [NAME]");
	} else if (o.app && kind != K_INSTANCES) {
		return sw_opt_error("get", "--app selects instances and revisions only");
	}
	if (q.name && o.selector && kind != K_REVISIONS)
		return sw_opt_error("get", "give a name or a selector (-l), not both");
	if (o.watch || o.watch_only)
		return watch(c, &q, fmt, o.watch_only);
	json_t *items, *doc;
	int r = fetch(c, &q, &items, &doc);
	if (r)
		return r;
	if (q.name && cli_output_doc(fmt, doc))
		r = 0;
	else
		r = print_list(kind, items, doc, fmt, o.all_envs);
	json_decref(items);
	json_decref(doc);
	return r;
}

const struct cli_command cli_cmd_get = {
	.summary = "list apps, analysis templates, instances or revisions",
	.run = run,
	.usage = {
		.name = "get",
		.args = "KIND [NAME]",
		.min_args = 1,
		.max_args = 3,
		.opts = options,
		.help = "Lists objects of a kind, or shows one by name:\n"
			"  apps (app)                   phase, stable and canary revisions, ready\n"
			"                               instances, the canary's share of requests\n"
			"  analysistemplates (at)       metrics, last apply, source file\n"
			"  instances (inst) [--app APP] state, readiness, restarts of every instance\n"
			"  revisions (rev) APP [N]      an app's revisions (also with --app APP)\n"
			"  sources (src)                where apps come from in git, what is synced\n"
			"  environments (env)           their ports, listen addresses, apps and whether\n"
			"                               their sync windows are open now, until when\n"
			"  all                          apps, templates and instances, as kind/name\n"
			"-o wide adds columns, -o json|yaml prints the API's answer, -o name prints\n"
			"kind/name lines. -l selects by labels (instances and revisions by their\n"
			"app's). -w prints the list, then a row each time an object changes.\n"
			"Apps and instances are those of the environment selected (slipway -e ENV);\n"
			"-A lists every environment's, with an ENVIRONMENT column.",
	},
};
