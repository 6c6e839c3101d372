/*
 * routes: the data plane's route entries of one app. See routes.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "routes.h"

/* More revisions than this at once is no rollout anyone runs; the
 * extra ones get no group (never a refused table). */
#define ROUTES_MAX_GROUPS 64

struct group_acc {
	int64_t revision;
	json_t *backends;
	uint32_t n;
};

static int cmp_group(const void *pa, const void *pb)
{
	const struct group_acc *a = pa, *b = pb;
	return a->revision < b->revision ? -1 : a->revision > b->revision;
}

static json_t *header_route_json(const struct spec_header_match *h, int64_t revision)
{
	return json_pack("{s:s, s:s?, s:s?, s:I}", "name", h->name, "exact", h->exact, "regex",
			 h->regex, "revision", (json_int_t)revision);
}

static bool has_group(const struct group_acc *g, size_t ng, int64_t revision)
{
	for (size_t k = 0; k < ng; k++)
		if (g[k].revision == revision)
			return true;
	return false;
}

/*
 * One entry on `listen` (canonical): groups of the backends in rotation,
 * with the weights the rollout calls for. `only` limits it to one revision
 * (a blue/green preview listener), which then takes all its traffic.
 */
static json_t *entry_json(const struct routes_app *app, const char *listen, int64_t only)
{
	const struct spec_app *spec = app->spec;
	const struct rollout_traffic *t = app->traffic;
	struct group_acc g[ROUTES_MAX_GROUPS];
	size_t ng = 0;

	for (size_t k = 0; k < app->nbackends; k++) {
		const struct routes_backend *x = &app->backends[k];
		if (!x->ready || x->stopping || !x->port || x->revision < 1 ||
		    (only && x->revision != only))
			continue;
		size_t gi = 0;
		while (gi < ng && g[gi].revision != x->revision)
			gi++;
		if (gi == ng) {
			if (ng == ROUTES_MAX_GROUPS)
				continue;
			g[ng++] = (struct group_acc){x->revision, json_array(), 0};
		}
		char addr[32];
		snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)x->port);
		json_array_append_new(g[gi].backends, json_pack("{s:s, s:s}", "id", x->id, "addr", addr));
		g[gi].n++;
	}
	qsort(g, ng, sizeof(g[0]), cmp_group);

	int64_t revs[ROUTES_MAX_GROUPS];
	uint32_t ready[ROUTES_MAX_GROUPS], w[ROUTES_MAX_GROUPS];
	for (size_t k = 0; k < ng; k++) {
		revs[k] = g[k].revision;
		ready[k] = g[k].n;
	}
	struct rollout_traffic plain = {0};
	rollout_route_weights(only ? &plain : t, revs, ready, ng, w);
	json_t *groups = json_array();
	for (size_t k = 0; k < ng; k++)
		json_array_append_new(groups, json_pack("{s:I, s:i, s:o}", "revision",
							(json_int_t)g[k].revision, "weight", (int)w[k],
							"backends", g[k].backends));

	/* A header route may only name a revision with a group: the proxy
	 * refuses the whole table otherwise, e.g. while a blue/green preview
	 * starts and has no ready instance yet. */
	json_t *hr = json_array();
	if (!only) {
		int64_t desired = app->st->desired;
		for (size_t k = 0; has_group(g, ng, desired) && k < spec->nheader_routes; k++)
			json_array_append_new(hr, header_route_json(&spec->header_routes[k], desired));
		if (t->header && has_group(g, ng, t->canary))
			json_array_append_new(hr, header_route_json(t->header, t->canary));
	}
	return json_pack("{s:s, s:s, s:s?, s:s, s:b, s:o, s:o}", "app", app->name, "listen", listen,
			 "host", only ? NULL : spec->route.host, "pathPrefix",
			 !only && spec->route.path_prefix ? spec->route.path_prefix : "/", "sticky",
			 !only && spec->route.sticky, "headerRoutes", hr, "groups", groups);
}

/* The canonical listener the proxy's table takes (IPv4 or IPv6, as
 * table_from_json), or false. */
static bool listen_of(char out[SW_ADDR_MAX], const char *s)
{
	struct sw_addr a;
	struct sw_err err = {0};

	if (sw_addr_parse(&a, s, 0, &err) < 0)
		return false;
	memcpy(out, a.text, SW_ADDR_MAX);
	return true;
}

json_t *routes_app_entries(const struct routes_app *app)
{
	json_t *out = json_array();
	char listen[SW_ADDR_MAX], preview[SW_ADDR_MAX];

	if (!app->spec || !app->spec->route.listen)
		return out;
	/* spec refuses what does not parse; a document stored by an older
	 * version that does not is left unrouted rather than poisoning the
	 * table of every app */
	if (!listen_of(listen, app->spec->route.listen))
		return out;
	json_array_append_new(out, entry_json(app, listen, 0));
	if (app->traffic->preview_listen && app->traffic->canary >= 1 &&
	    listen_of(preview, app->traffic->preview_listen) && strcmp(preview, listen) != 0)
		json_array_append_new(out, entry_json(app, preview, app->traffic->canary));
	return out;
}
