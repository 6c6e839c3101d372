/*
 * table: the proxy's route table and how a request picks a backend. Pure:
 * no I/O, no clock; the proxy engine and unit tests drive it.
 *
 * The control plane sends the whole table as JSON (table_from_json); the
 * proxy swaps it in atomically. Shape:
 *
 *	{"version": 7,
 *	 "routes": [{"app": "hello", "listen": "127.0.0.1:8080",
 *	             "host": "hello.localhost" | "*.example.com" | null,
 *	             "pathPrefix": "/", "sticky": false,
 *	             "headerRoutes": [{"name": "X-Slipway-Version", "exact": "canary",
 *	                               "regex": null, "revision": 3}],
 *	             "groups": [{"revision": 2, "weight": 80,
 *	                         "backends": [{"id": "hello-3", "addr": "127.0.0.1:20001"}]},
 *	                        {"revision": 3, "weight": 20, "backends": [...]}]}]}
 *
 * Backends listed are the ones in rotation (ready, not draining); an
 * instance leaves rotation by being left out of the next table.
 *
 * Matching: among the routes on the listener the request came in on, the
 * host must match (exact, case-insensitive, port stripped; "*.x.com"
 * matches any subdomain of x.com but not x.com; null matches any host), and
 * the longest matching pathPrefix wins (prefix "/api" matches "/api" and
 * "/api/x", not "/apix"); on a tie an exact host beats a wildcard beats
 * none.
 *
 * Picking a group: a header route that matches sends the request to its
 * revision (if that group has backends; header routes are tried in order,
 * values compared exactly, case-sensitively, or by the anchored regex, for
 * values of at most TABLE_REGEX_VALUE_MAX bytes);
 * else a sticky cookie naming a revision that has backends and weight > 0
 * (a revision taken to weight 0, e.g. an aborted canary, loses its sticky
 * clients, unless no weighted group can serve); else smooth weighted
 * round-robin over the groups that have backends and weight > 0
 * (deterministic: over any 100 consecutive picks a group of weight 20 gets
 * exactly 20 when the weights sum to 100). Groups with weight > 0 but no
 * backends give their share to the others; if no group with weight > 0
 * has backends, any group with backends serves (never 503 while something
 * could answer). Within a group, backends are used round-robin. Sticky
 * and header-routed picks do not advance the weighted sequence, so the
 * shares hold exactly for the requests the weights decide.
 *
 * Validation (table_from_json, errors are SW_EINVAL and name the JSON
 * path): app and listen required; listen and backend addr are in
 * core/addr's canonical form ("127.0.0.1:8080", "[::1]:8080"); host is a DNS name or "*." + one; pathPrefix starts with
 * '/' (default "/"); group revisions are >= 1 and unique in a route;
 * weights 0..100 summing to 100 or all 0; a header route has a token name,
 * exactly one of exact/regex (core/re.h: the regular part of POSIX ERE,
 * no back-references, matched against the whole value in time linear in
 * its length) and a revision that is a group of the route; two routes
 * may not share listen + host + pathPrefix. Unknown keys are ignored so an
 * older proxy accepts a newer control plane's table.
 *
 * Not thread-safe: picks update the balancing state in place; one event
 * loop owns a table.
 */
#ifndef SW_PROXY_TABLE_H
#define SW_PROXY_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core.h"
#include "core/re.h"

#define TABLE_STICKY_COOKIE "slipway_rev"
/* A header value longer than this never matches a regex header route
 * (an exact one still can): with core/re.h's bounded program, matching
 * costs at most a few milliseconds whatever the regex and the value. */
#define TABLE_REGEX_VALUE_MAX 4096

struct table_backend {
	char *id;            /* instance id */
	char *addr;          /* "127.0.0.1:PORT" */
};

struct table_group {
	int64_t revision;
	uint32_t weight;     /* 0..100 share of new requests */
	struct table_backend *backends;
	size_t nbackends;
	/* balancing state, owned by the table */
	int64_t swrr_current;
	size_t rr_next;
};

struct table_header_route {
	char *name;          /* header name, matched case-insensitively */
	char *exact;         /* exact value, or NULL */
	char *regex_src;     /* or a regex (core/re.h; the whole value must match) */
	struct sw_re *re;
	bool has_regex;
	int64_t revision;    /* group the request goes to */
};

struct table_route {
	char *app;
	char *listen;
	char *host;          /* NULL = any */
	char *path_prefix;   /* "/" default */
	bool sticky;
	struct table_header_route *header_routes;
	size_t nheader_routes;
	struct table_group *groups;
	size_t ngroups;
};

struct table {
	int64_t version;
	struct table_route *routes;
	size_t nroutes;
};

/* Validates and builds a table; errors name the JSON path
 * ("routes[0].groups[1].weight must be 0..100"). Weights of a route must
 * sum to 100 unless all are 0. */
int table_from_json(struct table **out, const json_t *j, struct sw_err *err);
/* The table as JSON (same shape as the input). */
json_t *table_to_json(const struct table *t);
void table_free(struct table *t);

/* The distinct listen addresses of the table, for the listeners: fills
 * out[] with at most `max` of them and returns how many it filled. The
 * strings belong to the table (valid until table_free). */
size_t table_listens(const struct table *t, const char **out, size_t max);

/* Finds the route for a request that arrived on `listen`; NULL = 404. */
struct table_route *table_match(struct table *t, const char *listen, const char *host,
				const char *path);

/* Request facts the pick needs; get_header returns the first value of a
 * header (case-insensitive name) or NULL. */
struct table_request {
	const char *(*get_header)(const char *name, void *data);
	void *data;
	int64_t sticky_revision;  /* from the cookie; 0 = none */
	const struct table_backend *exclude; /* retry: avoid this backend if possible
					       * (compared by addr, so it may come from
					       * the previous table if still alive) */
};

/* Picks a group and a backend. Returns 0, or SW_ENOTFOUND when the route
 * has no backend at all (503). *out_set_cookie is true when a sticky
 * route's response should set the cookie (none or a stale one came in);
 * never for a header-routed pick (the header, not the cookie, decides).
 * With req->exclude set (a retry) the pick stays in the group of the
 * excluded backend if it has another one, else peeks at the weighted
 * sequence without advancing it; the excluded backend itself comes back
 * only when it is the route's only backend. */
int table_pick(struct table_route *r, const struct table_request *req,
	       struct table_group **out_group, struct table_backend **out_backend,
	       bool *out_set_cookie);

/* Parses the revision out of a Cookie header value ("a=1; slipway_rev=3");
 * the first slipway_rev with a valid positive decimal value (optionally
 * in double quotes) wins; 0 when absent or junk. NULL is fine. */
int64_t table_cookie_revision(const char *cookie_header);

/* Writes the Set-Cookie value for a revision
 * ("slipway_rev=3; Path=/; HttpOnly; SameSite=Lax"); returns its length
 * like snprintf (truncated when >= size). */
size_t table_cookie_format(char *out, size_t size, int64_t revision);

/* Carries balancing state from the table being replaced into the new one
 * (routes matched by app, listen, host and pathPrefix; groups by
 * revision), so that a table pushed with the same weights (an instance
 * became ready) continues the weighted sequence exactly instead of
 * restarting it. Weighted state is carried only when every group's
 * revision, weight and having-backends are unchanged; round-robin
 * positions always. Call before the new table serves; old may be NULL. */
void table_carry_state(struct table *t, const struct table *old);

#endif
