/*
 * table: the route table, validated from JSON, and the pick of a group
 * and backend for one request. See table.h for the rules and
 * docs/internals/proxy-balancing.md for why they are what they are.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/table.h"
#include "core/addr.h"
#include "core/buf.h"

/* --- JSON reading ------------------------------------------------------ */

/* Where we are in the document, for error messages ("routes[0].groups[1]"). */
struct jpath {
	char s[256];
};

/* Appends to the path, truncating (paths are short; a cut one is still
 * a useful message). */
static void jpath_add(struct jpath *p, const char *s)
{
	size_t len = strlen(p->s);
	sw_strlcpy(p->s + len, s, sizeof(p->s) - len);
}

static void jpath_key(struct jpath *out, const struct jpath *parent, const char *key)
{
	*out = *parent;
	if (out->s[0])
		jpath_add(out, ".");
	jpath_add(out, key);
}

static void jpath_index(struct jpath *out, const struct jpath *parent, size_t i)
{
	char idx[32];
	*out = *parent;
	snprintf(idx, sizeof(idx), "[%zu]", i);
	jpath_add(out, idx);
}

/* The value as the user wrote it, short enough for one line. */
static void json_show(char *out, size_t size, const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	if (!s) {
		snprintf(out, size, "nothing");
		return;
	}
	if (strlen(s) > 60)
		snprintf(out, size, "%.57s...", s);
	else
		snprintf(out, size, "%s", s);
	free(s);
}

/* "<path> <what>, got <value>" as an SW_EINVAL error. */
static int bad(struct sw_err *err, const struct jpath *p, const char *what, const json_t *got)
{
	char shown[80];
	json_show(shown, sizeof(shown), got);
	return sw_errf(err, SW_EINVAL, "%s %s, got %s", p->s, what, shown);
}

/* An optional member: NULL when absent or JSON null. */
static const json_t *member(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_null(v) ? NULL : v;
}

static int read_string(char **out, const json_t *obj, const char *key, bool required,
		       const struct jpath *parent, struct sw_err *err)
{
	struct jpath p;
	const json_t *v = member(obj, key);
	jpath_key(&p, parent, key);
	*out = NULL;
	if (!v) {
		if (required)
			return sw_errf(err, SW_EINVAL, "%s is required", p.s);
		return 0;
	}
	if (!json_is_string(v))
		return bad(err, &p, "must be a string", v);
	if (json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v))
		return bad(err, &p, "must be a non-empty string without NUL", v);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int read_int(int64_t *out, const json_t *obj, const char *key, bool required,
		    int64_t def, int64_t min, int64_t max, const struct jpath *parent,
		    struct sw_err *err)
{
	struct jpath p;
	char what[96];
	const json_t *v = member(obj, key);
	jpath_key(&p, parent, key);
	*out = def;
	if (!v) {
		if (required)
			return sw_errf(err, SW_EINVAL, "%s is required", p.s);
		return 0;
	}
	if (!json_is_integer(v))
		return bad(err, &p, "must be an integer", v);
	if (json_integer_value(v) < min || json_integer_value(v) > max) {
		if (max == INT64_MAX)
			snprintf(what, sizeof(what), "must be >= %lld", (long long)min);
		else
			snprintf(what, sizeof(what), "must be %lld..%lld", (long long)min,
				 (long long)max);
		return bad(err, &p, what, v);
	}
	*out = json_integer_value(v);
	return 0;
}

static int read_bool(bool *out, const json_t *obj, const char *key, const struct jpath *parent,
		     struct sw_err *err)
{
	struct jpath p;
	const json_t *v = member(obj, key);
	jpath_key(&p, parent, key);
	*out = false;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return bad(err, &p, "must be true or false", v);
	*out = json_is_true(v);
	return 0;
}

/* An optional array member; *out_n = 0 when absent. */
static int read_array(const json_t **out, size_t *out_n, const json_t *obj, const char *key,
		      const struct jpath *parent, struct sw_err *err)
{
	struct jpath p;
	const json_t *v = member(obj, key);
	jpath_key(&p, parent, key);
	*out = v;
	*out_n = 0;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return bad(err, &p, "must be an array", v);
	*out_n = json_array_size(v);
	return 0;
}

/* --- value checks ------------------------------------------------------ */

/* Exactly core/addr's canonical form ("127.0.0.1:8080", "[::1]:8080"),
 * so that listeners and backends compare as strings: the control plane
 * writes every address it got from a document in that form. */
static bool listen_valid(const char *s)
{
	return sw_addr_is_canonical(s, 0);
}

#define ADDR_EXPECTED "must be a canonical \"host:port\" (\"127.0.0.1:8080\", \"[::1]:8080\")"

/* A DNS name: labels of letters, digits and '-' (not at either end),
 * separated by single dots. Underscores are accepted: some internal names
 * have them. */
static bool hostname_valid(const char *s)
{
	size_t label = 0;
	if (!*s || strlen(s) > 253)
		return false;
	for (const char *c = s;; c++) {
		if (*c == '.' || *c == '\0') {
			if (label == 0 || c[-1] == '-')
				return false;
			if (*c == '\0')
				return true;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
			return false;
		if (label == 0 && *c == '-')
			return false;
		if (++label > 63)
			return false;
	}
}

static bool host_valid(const char *s)
{
	if (s[0] == '*')
		return s[1] == '.' && hostname_valid(s + 2);
	return hostname_valid(s);
}

/* RFC 9110 token characters, for header names. */
static bool token_valid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

/*
 * The whole value must match the regex. Parentheses must balance
 * outside brackets and escapes (glibc's ERE takes an unmatched ')' as a
 * literal; ours refuses it, and this check names it the way tables always
 * have).
 */
static bool regex_parens_balanced(const char *s)
{
	int depth = 0;
	for (const char *c = s; *c; c++) {
		if (*c == '\\') {
			if (!c[1])
				return false;
			c++;
		} else if (*c == '[') {
			/* skip the bracket expression: a ']' first (after an optional
			 * '^') is literal; [:class:], [=x=], [.x.] nest */
			c++;
			if (*c == '^')
				c++;
			if (*c == ']')
				c++;
			while (*c && *c != ']') {
				if (*c == '[' && (c[1] == ':' || c[1] == '=' || c[1] == '.')) {
					char close = c[1];
					c += 2;
					while (*c && !(c[0] == close && c[1] == ']'))
						c++;
					if (!*c)
						return false;
					c += 2;
					continue;
				}
				c++;
			}
			if (!*c)
				return false;
		} else if (*c == '(') {
			depth++;
		} else if (*c == ')') {
			if (--depth < 0)
				return false;
		}
	}
	return depth == 0;
}

/* --- building ---------------------------------------------------------- */

static void group_release(struct table_group *g)
{
	for (size_t i = 0; i < g->nbackends; i++) {
		free(g->backends[i].id);
		free(g->backends[i].addr);
	}
	free(g->backends);
}

static void header_route_release(struct table_header_route *h)
{
	free(h->name);
	free(h->exact);
	free(h->regex_src);
	sw_re_free(h->re);
}

static void route_release(struct table_route *r)
{
	free(r->app);
	free(r->listen);
	free(r->host);
	free(r->path_prefix);
	for (size_t i = 0; i < r->nheader_routes; i++)
		header_route_release(&r->header_routes[i]);
	free(r->header_routes);
	for (size_t i = 0; i < r->ngroups; i++)
		group_release(&r->groups[i]);
	free(r->groups);
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nroutes; i++)
		route_release(&t->routes[i]);
	free(t->routes);
	free(t);
}

static int parse_backend(struct table_backend *b, const json_t *j, const struct jpath *p,
			 struct sw_err *err)
{
	struct jpath ap;
	if (!json_is_object(j))
		return bad(err, p, "must be an object", j);
	if (read_string(&b->id, j, "id", true, p, err) < 0 ||
	    read_string(&b->addr, j, "addr", true, p, err) < 0)
		return SW_EINVAL;
	jpath_key(&ap, p, "addr");
	if (!listen_valid(b->addr))
		return bad(err, &ap, ADDR_EXPECTED, json_object_get(j, "addr"));
	return 0;
}

static int parse_group(struct table_group *g, const json_t *j, const struct jpath *p,
		       struct sw_err *err)
{
	const json_t *backends;
	int64_t weight;
	if (!json_is_object(j))
		return bad(err, p, "must be an object", j);
	if (read_int(&g->revision, j, "revision", true, 0, 1, INT64_MAX, p, err) < 0 ||
	    read_int(&weight, j, "weight", true, 0, 0, 100, p, err) < 0 ||
	    read_array(&backends, &g->nbackends, j, "backends", p, err) < 0)
		return SW_EINVAL;
	g->weight = (uint32_t)weight;
	g->backends = xcalloc(g->nbackends ? g->nbackends : 1, sizeof(*g->backends));
	for (size_t i = 0; i < g->nbackends; i++) {
		struct jpath bp, arr;
		jpath_key(&arr, p, "backends");
		jpath_index(&bp, &arr, i);
		if (parse_backend(&g->backends[i], json_array_get(backends, i), &bp, err) < 0)
			return SW_EINVAL;
		for (size_t k = 0; k < i; k++)
			if (strcmp(g->backends[k].addr, g->backends[i].addr) == 0)
				return sw_errf(err, SW_EINVAL, "%s.addr \"%s\" is listed twice",
					       bp.s, g->backends[i].addr);
	}
	return 0;
}

static struct table_group *route_group(const struct table_route *r, int64_t revision)
{
	for (size_t i = 0; i < r->ngroups; i++)
		if (r->groups[i].revision == revision)
			return &r->groups[i];
	return NULL;
}

static int parse_header_route(struct table_header_route *h, const struct table_route *r,
			      const json_t *j, const struct jpath *p, struct sw_err *err)
{
	struct jpath fp;
	if (!json_is_object(j))
		return bad(err, p, "must be an object", j);
	if (read_string(&h->name, j, "name", true, p, err) < 0 ||
	    read_string(&h->exact, j, "exact", false, p, err) < 0 ||
	    read_string(&h->regex_src, j, "regex", false, p, err) < 0 ||
	    read_int(&h->revision, j, "revision", true, 0, 1, INT64_MAX, p, err) < 0)
		return SW_EINVAL;
	jpath_key(&fp, p, "name");
	if (!token_valid(h->name))
		return bad(err, &fp, "must be a header name", json_object_get(j, "name"));
	if (!h->exact == !h->regex_src)
		return sw_errf(err, SW_EINVAL, "%s needs exactly one of \"exact\" and \"regex\"",
			       p->s);
	if (h->regex_src) {
		jpath_key(&fp, p, "regex");
		if (!regex_parens_balanced(h->regex_src))
			return bad(err, &fp, "has unbalanced parentheses or brackets",
				   json_object_get(j, "regex"));
		struct sw_err rerr = {0};
		size_t off = 0;
		if (sw_re_compile(&h->re, &off, h->regex_src, &rerr) < 0)
			return sw_errf(err, SW_EINVAL,
				       "%s is not a valid regular expression (%s, at character %zu): \"%s\"",
				       fp.s, rerr.msg, off + 1, h->regex_src);
		h->has_regex = true;
	}
	if (!route_group(r, h->revision)) {
		jpath_key(&fp, p, "revision");
		return sw_errf(err, SW_EINVAL, "%s %lld names no group of the route", fp.s,
			       (long long)h->revision);
	}
	return 0;
}

static int parse_route(struct table_route *r, const json_t *j, const struct jpath *p,
		       struct sw_err *err)
{
	const json_t *groups, *hroutes;
	struct jpath fp, arr;
	uint32_t sum = 0;
	if (!json_is_object(j))
		return bad(err, p, "must be an object", j);
	if (read_string(&r->app, j, "app", true, p, err) < 0 ||
	    read_string(&r->listen, j, "listen", true, p, err) < 0 ||
	    read_string(&r->host, j, "host", false, p, err) < 0 ||
	    read_string(&r->path_prefix, j, "pathPrefix", false, p, err) < 0 ||
	    read_bool(&r->sticky, j, "sticky", p, err) < 0)
		return SW_EINVAL;
	jpath_key(&fp, p, "listen");
	if (!listen_valid(r->listen))
		return bad(err, &fp, ADDR_EXPECTED, json_object_get(j, "listen"));
	if (r->host) {
		jpath_key(&fp, p, "host");
		if (!host_valid(r->host))
			return bad(err, &fp, "must be a host name or \"*.domain\"",
				   json_object_get(j, "host"));
	}
	if (!r->path_prefix)
		r->path_prefix = xstrdup("/");
	jpath_key(&fp, p, "pathPrefix");
	if (r->path_prefix[0] != '/' || strpbrk(r->path_prefix, "?# \t"))
		return bad(err, &fp, "must start with '/' and hold no '?', '#' or blanks",
			   json_object_get(j, "pathPrefix"));

	if (read_array(&groups, &r->ngroups, j, "groups", p, err) < 0)
		return SW_EINVAL;
	jpath_key(&arr, p, "groups");
	r->groups = xcalloc(r->ngroups ? r->ngroups : 1, sizeof(*r->groups));
	for (size_t i = 0; i < r->ngroups; i++) {
		jpath_index(&fp, &arr, i);
		if (parse_group(&r->groups[i], json_array_get(groups, i), &fp, err) < 0)
			return SW_EINVAL;
		for (size_t k = 0; k < i; k++)
			if (r->groups[k].revision == r->groups[i].revision)
				return sw_errf(err, SW_EINVAL,
					       "%s.revision %lld is already the revision of %s[%zu]",
					       fp.s, (long long)r->groups[i].revision, arr.s, k);
		sum += r->groups[i].weight;
	}
	if (sum != 0 && sum != 100)
		return sw_errf(err, SW_EINVAL, "%s weights must sum to 100 (or all be 0), got %u",
			       arr.s, sum);

	if (read_array(&hroutes, &r->nheader_routes, j, "headerRoutes", p, err) < 0)
		return SW_EINVAL;
	jpath_key(&arr, p, "headerRoutes");
	r->header_routes = xcalloc(r->nheader_routes ? r->nheader_routes : 1,
				   sizeof(*r->header_routes));
	for (size_t i = 0; i < r->nheader_routes; i++) {
		jpath_index(&fp, &arr, i);
		if (parse_header_route(&r->header_routes[i], r, json_array_get(hroutes, i), &fp,
				       err) < 0)
			return SW_EINVAL;
	}
	return 0;
}

static bool same_host(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcasecmp(a, b) == 0;
}

int table_from_json(struct table **out, const json_t *j, struct sw_err *err)
{
	struct table *t = xcalloc(1, sizeof(*t));
	struct jpath root = {""}, arr, rp;
	const json_t *routes;
	int rc = SW_EINVAL;

	*out = NULL;
	if (!json_is_object(j)) {
		sw_errf(err, SW_EINVAL, "the table must be a JSON object");
		goto out;
	}
	if (read_int(&t->version, j, "version", false, 0, 0, INT64_MAX, &root, err) < 0)
		goto out;
	routes = member(j, "routes");
	if (!routes) {
		sw_errf(err, SW_EINVAL, "routes is required");
		goto out;
	}
	if (!json_is_array(routes)) {
		jpath_key(&arr, &root, "routes");
		bad(err, &arr, "must be an array", routes);
		goto out;
	}
	jpath_key(&arr, &root, "routes");
	t->routes = xcalloc(json_array_size(routes) ? json_array_size(routes) : 1,
			    sizeof(*t->routes));
	for (size_t i = 0; i < json_array_size(routes); i++) {
		jpath_index(&rp, &arr, i);
		/* counted before parsing so a half-built route is freed */
		t->nroutes = i + 1;
		if (parse_route(&t->routes[i], json_array_get(routes, i), &rp, err) < 0)
			goto out;
		const struct table_route *r = &t->routes[i];
		for (size_t k = 0; k < i; k++) {
			const struct table_route *o = &t->routes[k];
			if (strcmp(o->listen, r->listen) == 0 && same_host(o->host, r->host) &&
			    strcmp(o->path_prefix, r->path_prefix) == 0) {
				sw_errf(err, SW_EINVAL,
					"%s has the same listen, host and pathPrefix as %s[%zu] (app \"%s\")",
					rp.s, arr.s, k, o->app);
				goto out;
			}
		}
	}
	*out = t;
	t = NULL;
	rc = 0;
out:
	table_free(t);
	return rc;
}

json_t *table_to_json(const struct table *t)
{
	json_t *routes = json_array();
	for (size_t i = 0; i < t->nroutes; i++) {
		const struct table_route *r = &t->routes[i];
		json_t *groups = json_array(), *hroutes = json_array();
		for (size_t g = 0; g < r->ngroups; g++) {
			const struct table_group *gr = &r->groups[g];
			json_t *backends = json_array();
			for (size_t b = 0; b < gr->nbackends; b++)
				json_array_append_new(backends,
						      json_pack("{s:s, s:s}", "id", gr->backends[b].id,
								"addr", gr->backends[b].addr));
			json_array_append_new(groups, json_pack("{s:I, s:I, s:o}", "revision",
								(json_int_t)gr->revision, "weight",
								(json_int_t)gr->weight, "backends",
								backends));
		}
		for (size_t h = 0; h < r->nheader_routes; h++) {
			const struct table_header_route *hr = &r->header_routes[h];
			json_array_append_new(hroutes,
					      json_pack("{s:s, s:s?, s:s?, s:I}", "name", hr->name,
							"exact", hr->exact, "regex", hr->regex_src,
							"revision", (json_int_t)hr->revision));
		}
		json_array_append_new(routes,
				      json_pack("{s:s, s:s, s:s?, s:s, s:b, s:o, s:o}", "app", r->app,
						"listen", r->listen, "host", r->host, "pathPrefix",
						r->path_prefix, "sticky", r->sticky, "headerRoutes",
						hroutes, "groups", groups));
	}
	return json_pack("{s:I, s:o}", "version", (json_int_t)t->version, "routes", routes);
}

size_t table_listens(const struct table *t, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < t->nroutes && n < max; i++) {
		bool seen = false;
		for (size_t k = 0; k < n && !seen; k++)
			seen = strcmp(out[k], t->routes[i].listen) == 0;
		if (!seen)
			out[n++] = t->routes[i].listen;
	}
	return n;
}

/* --- matching ---------------------------------------------------------- */

enum host_rank { HOST_NONE = 0, HOST_ANY, HOST_WILDCARD, HOST_EXACT };

/* How well a route's host matches the request host (port and a trailing
 * dot already stripped, `len` bytes); HOST_NONE = no match. */
static enum host_rank host_match(const char *pattern, const char *host, size_t len)
{
	if (!pattern)
		return HOST_ANY;
	if (!host)
		return HOST_NONE;
	if (pattern[0] == '*') {
		const char *suffix = pattern + 1; /* ".example.com" */
		size_t sl = strlen(suffix);
		if (len > sl && strncasecmp(host + len - sl, suffix, sl) == 0)
			return HOST_WILDCARD;
		return HOST_NONE;
	}
	if (strlen(pattern) == len && strncasecmp(pattern, host, len) == 0)
		return HOST_EXACT;
	return HOST_NONE;
}

/* Prefix "/api" matches "/api", "/api/x" and "/api?q", not "/apix"; a
 * prefix ending in '/' matches anything under it. */
static bool prefix_match(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);
	if (strncmp(prefix, path, n) != 0)
		return false;
	if (prefix[n - 1] == '/')
		return true;
	return path[n] == '\0' || path[n] == '/' || path[n] == '?' || path[n] == '#';
}

/* The host part of a Host header value: "[::1]:8080" → "[::1]",
 * "Example.com.:80" → "Example.com". */
static size_t host_len(const char *host)
{
	size_t len;
	if (!host)
		return 0;
	if (host[0] == '[') {
		const char *end = strchr(host, ']');
		len = end ? (size_t)(end - host) + 1 : strlen(host);
	} else {
		const char *colon = strchr(host, ':');
		len = colon ? (size_t)(colon - host) : strlen(host);
	}
	if (len > 1 && host[len - 1] == '.')
		len--;
	return len;
}

struct table_route *table_match(struct table *t, const char *listen, const char *host,
				const char *path)
{
	struct table_route *best = NULL;
	size_t best_len = 0, best_suffix = 0, hlen = host_len(host);
	enum host_rank best_rank = HOST_NONE;

	if (!path || path[0] != '/')
		path = "/"; /* "*" (OPTIONS) and absolute forms land on the root */
	for (size_t i = 0; i < t->nroutes; i++) {
		struct table_route *r = &t->routes[i];
		enum host_rank rank;
		size_t plen, suffix;
		if (strcmp(r->listen, listen) != 0)
			continue;
		rank = host_match(r->host, host, hlen);
		if (rank == HOST_NONE || !prefix_match(r->path_prefix, path))
			continue;
		plen = strlen(r->path_prefix);
		/* among wildcards, the longer suffix is the more specific */
		suffix = rank == HOST_WILDCARD ? strlen(r->host) : 0;
		if (!best || plen > best_len ||
		    (plen == best_len &&
		     (rank > best_rank || (rank == best_rank && suffix > best_suffix)))) {
			best = r;
			best_len = plen;
			best_rank = rank;
			best_suffix = suffix;
		}
	}
	return best;
}

/* --- picking ----------------------------------------------------------- */

static bool backend_is(const struct table_backend *b, const struct table_backend *exclude)
{
	return exclude && (b == exclude || strcmp(b->addr, exclude->addr) == 0);
}

/* Whether the group has a backend other than `exclude`. */
static bool group_usable(const struct table_group *g, const struct table_backend *exclude)
{
	for (size_t i = 0; i < g->nbackends; i++)
		if (!backend_is(&g->backends[i], exclude))
			return true;
	return false;
}

static bool header_route_matches(const struct table_header_route *h,
				 const struct table_request *req)
{
	const char *v = req->get_header ? req->get_header(h->name, req->data) : NULL;
	if (!v)
		return false;
	if (h->exact)
		return strcmp(v, h->exact) == 0;
	/* linear in the value's length (core/re.h), and the length bounded:
	 * no request can hold the loop for more than a few milliseconds */
	size_t n = strlen(v);
	return n <= TABLE_REGEX_VALUE_MAX && sw_re_match(h->re, v, n);
}

/*
 * Smooth weighted round-robin (nginx): every eligible group gains its
 * weight, the richest is chosen and pays the total. With a fixed eligible
 * set whose weights sum to W the currents are all 0 again after W picks,
 * so the sequence is periodic with period W and every window of W picks
 * holds exactly `weight` picks of each group. `commit` false only looks
 * (a retry must not shift the sequence of new requests).
 */
static struct table_group *swrr(struct table_route *r, const struct table_backend *exclude,
				bool commit)
{
	struct table_group *best = NULL;
	int64_t total = 0, best_cur = 0;
	for (size_t i = 0; i < r->ngroups; i++) {
		struct table_group *g = &r->groups[i];
		int64_t cur;
		if (g->weight == 0 || !group_usable(g, exclude))
			continue;
		total += g->weight;
		cur = g->swrr_current + g->weight;
		if (commit)
			g->swrr_current = cur;
		if (!best || cur > best_cur) {
			best = g;
			best_cur = cur;
		}
	}
	if (best && commit)
		best->swrr_current -= total;
	return best;
}

static bool any_weighted_usable(const struct table_route *r)
{
	for (size_t i = 0; i < r->ngroups; i++)
		if (r->groups[i].weight > 0 && r->groups[i].nbackends > 0)
			return true;
	return false;
}

static struct table_group *group_of(struct table_route *r, const struct table_backend *b)
{
	for (size_t i = 0; i < r->ngroups; i++)
		for (size_t k = 0; k < r->groups[i].nbackends; k++)
			if (backend_is(&r->groups[i].backends[k], b))
				return &r->groups[i];
	return NULL;
}

static struct table_backend *group_next(struct table_group *g, const struct table_backend *exclude)
{
	size_t n = g->nbackends;
	for (size_t k = 0; k < n; k++) {
		size_t i = (g->rr_next + k) % n;
		if (!backend_is(&g->backends[i], exclude)) {
			g->rr_next = (i + 1) % n;
			return &g->backends[i];
		}
	}
	/* only the excluded one: "avoid if possible" */
	g->rr_next = (g->rr_next + 1) % n;
	return &g->backends[(g->rr_next + n - 1) % n];
}

int table_pick(struct table_route *r, const struct table_request *req,
	       struct table_group **out_group, struct table_backend **out_backend,
	       bool *out_set_cookie)
{
	const struct table_backend *ex = req->exclude;
	struct table_group *g = NULL;
	bool by_header = false;

	*out_group = NULL;
	*out_backend = NULL;
	*out_set_cookie = false;

	for (size_t i = 0; i < r->nheader_routes && !g; i++) {
		const struct table_header_route *h = &r->header_routes[i];
		struct table_group *hg;
		if (!header_route_matches(h, req))
			continue;
		hg = route_group(r, h->revision);
		if (hg && group_usable(hg, ex)) {
			g = hg;
			by_header = true;
		}
	}
	if (!g && r->sticky && req->sticky_revision > 0) {
		struct table_group *sg = route_group(r, req->sticky_revision);
		/* a revision taken to weight 0 (an aborted canary) loses its
		 * sticky clients unless nothing weighted can serve */
		if (sg && group_usable(sg, ex) && (sg->weight > 0 || !any_weighted_usable(r)))
			g = sg;
	}
	if (!g && ex) {
		/* a retry stays on the revision the first try was sent to */
		struct table_group *eg = group_of(r, ex);
		if (eg && group_usable(eg, ex))
			g = eg;
	}
	if (!g)
		g = swrr(r, ex, ex == NULL);
	for (size_t i = 0; i < r->ngroups && !g; i++)
		if (group_usable(&r->groups[i], ex))
			g = &r->groups[i];
	for (size_t i = 0; i < r->ngroups && !g; i++)
		if (r->groups[i].nbackends > 0)
			g = &r->groups[i]; /* only the excluded backend is left */
	if (!g)
		return SW_ENOTFOUND;

	*out_group = g;
	*out_backend = group_next(g, ex);
	*out_set_cookie = r->sticky && !by_header && g->revision != req->sticky_revision;
	return 0;
}

/* Whether every group of a and b has the same revision and weight. */
static bool same_weights(const struct table_route *a, const struct table_route *b)
{
	if (a->ngroups != b->ngroups)
		return false;
	for (size_t i = 0; i < a->ngroups; i++) {
		const struct table_group *o = route_group(b, a->groups[i].revision);
		if (!o || o->weight != a->groups[i].weight ||
		    (o->nbackends > 0) != (a->groups[i].nbackends > 0))
			return false;
	}
	return true;
}

void table_carry_state(struct table *t, const struct table *old)
{
	if (!old)
		return;
	for (size_t i = 0; i < t->nroutes; i++) {
		struct table_route *r = &t->routes[i];
		const struct table_route *o = NULL;
		for (size_t k = 0; k < old->nroutes && !o; k++)
			if (strcmp(old->routes[k].app, r->app) == 0 &&
			    strcmp(old->routes[k].listen, r->listen) == 0 &&
			    same_host(old->routes[k].host, r->host) &&
			    strcmp(old->routes[k].path_prefix, r->path_prefix) == 0)
				o = &old->routes[k];
		if (!o)
			continue;
		bool carry_swrr = same_weights(r, o);
		for (size_t g = 0; g < r->ngroups; g++) {
			const struct table_group *og = route_group(o, r->groups[g].revision);
			if (!og)
				continue;
			if (carry_swrr)
				r->groups[g].swrr_current = og->swrr_current;
			if (r->groups[g].nbackends > 0)
				r->groups[g].rr_next = og->rr_next % r->groups[g].nbackends;
		}
	}
}

/* --- cookies ----------------------------------------------------------- */

/* A positive decimal revision of [s, end), optionally in double quotes. */
static int64_t parse_revision(const char *s, const char *end)
{
	int64_t v = 0;
	if (end - s >= 2 && s[0] == '"' && end[-1] == '"') {
		s++;
		end--;
	}
	if (s == end || *s == '0')
		return 0;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		if (v > (INT64_MAX - (*s - '0')) / 10)
			return 0;
		v = v * 10 + (*s - '0');
	}
	return v;
}

int64_t table_cookie_revision(const char *cookie_header)
{
	static const char name[] = TABLE_STICKY_COOKIE;
	const size_t nlen = sizeof(name) - 1;
	const char *p = cookie_header;
	if (!p)
		return 0;
	while (*p) {
		const char *end = strchr(p, ';'), *eq;
		if (!end)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq) {
			const char *ne = eq, *vs = eq + 1, *ve = end;
			while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
				ne--;
			while (vs < ve && (*vs == ' ' || *vs == '\t'))
				vs++;
			while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if ((size_t)(ne - p) == nlen && memcmp(p, name, nlen) == 0) {
				int64_t rev = parse_revision(vs, ve);
				if (rev > 0)
					return rev;
			}
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

size_t table_cookie_format(char *out, size_t size, int64_t revision)
{
	int n = snprintf(out, size, "%s=%lld; Path=/; HttpOnly; SameSite=Lax", TABLE_STICKY_COOKIE,
			 (long long)revision);
	return n < 0 ? 0 : (size_t)n;
}
