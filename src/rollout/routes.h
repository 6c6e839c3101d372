/*
 * routes: derives the data plane's route table from the apps' rollout
 * states. Pure: no I/O, no clock. The engine calls it for an app whose
 * instances or rollout changed and keeps each app's entries, so that one
 * instance event costs work for its own app only.
 *
 * For an app with route.listen, the groups are its revisions that have
 * ready instances not on their way out, in revision order, weighted by the
 * rollout's traffic split (rollout_traffic, rollout_route_weights): by
 * their share of ready instances in a rolling update, by the step's weight
 * in a canary. A header route names only a revision that has a group. A
 * blue/green preview gets a second entry on previewListen with the preview
 * revision alone.
 *
 * Every entry it produces passes the proxy's own validation
 * (table_from_json in src/proxy/table.h): addresses are canonical
 * (core/addr.h), so one app's document can never make the proxy refuse
 * the whole table. A listener the proxy's table cannot take (one that does
 * not parse)
 * gets no entry; spec should refuse those at apply. Entries of different
 * apps may still collide (same listen + host + pathPrefix): that is the
 * engine's check across apps, not this function's.
 */
#ifndef SW_ROLLOUT_ROUTES_H
#define SW_ROLLOUT_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rollout.h"

struct routes_backend {
	const char *id;            /* instance id, unique in the table */
	int64_t revision;
	uint16_t port;             /* on 127.0.0.1; 0 = none yet */
	bool ready;
	bool stopping;             /* draining or stopping: out of rotation */
};

struct routes_app {
	const char *name;
	const struct spec_app *spec;        /* of rollout_target(st), or desired */
	const struct rollout_state *st;
	const struct rollout_traffic *traffic; /* rollout_traffic(st, params) */
	const struct routes_backend *backends;
	size_t nbackends;
};

/*
 * The app's route entries as a JSON array (new reference): none when it
 * has no route.listen, one for its listener, and one more for a blue/green
 * previewListen.
 */
json_t *routes_app_entries(const struct routes_app *app);

#endif
