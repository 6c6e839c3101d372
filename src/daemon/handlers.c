/* The API endpoints of `slipway serve`. Every handler is synchronous; a
 * mutating one validates everything first and changes nothing on error. */
#include "daemon_int.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <sys/random.h>

#define LOG_TAIL_DEFAULT (16 * 1024)
#define LOG_CHUNK_MAX (256 * 1024)

/* Lowercase hex SHA-256 of a string; out holds 65 bytes. */
static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)s, strlen(s), md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static struct app *find_or_404(struct daemon *d, const struct api_req *req,
			       struct api_resp *resp)
{
	const char *name = api_req_param(req, "name");
	struct app *a = name ? daemon_app_find(d, name) : NULL;
	if (!a)
		api_resp_error(resp, 404, "app \"%s\" not found", name ? name : "");
	return a;
}

static int64_t query_int(const struct api_req *req, const char *name, int64_t dflt)
{
	const char *v = api_req_query(req, name);
	if (!v || !*v)
		return dflt;
	char *end;
	long long x = strtoll(v, &end, 10);
	return *end ? dflt : x;
}

/* GET /v1/version */
static void h_version(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	api_resp_json(resp, 200, json_pack("{s:s, s:i, s:I}", "version", SLIPWAY_VERSION, "pid",
					   (int)getpid(), "startedMs", (json_int_t)d->started_ms));
}

static json_t *instance_json(const struct runtime_instance *x)
{
	struct inst_meta *m = x->data;
	char created[40];
	sw_format_time(created, sizeof(created), m ? m->created_ms : 0);
	return json_pack("{s:s, s:I, s:s, s:i, s:i, s:b, s:i, s:s, s:s, s:b, s:s}",
			 "id", x->id, "revision", (json_int_t)x->revision, "version",
			 x->spec && x->spec->version ? x->spec->version : "", "pid", (int)x->pid,
			 "port", (int)x->port, "ready", x->ready, "restarts", (int)x->restarts,
			 "state", m && m->stopping && x->state != RUNTIME_STOPPED ? "Stopping"
									       : runtime_state_name(x->state),
			 "reason", x->reason, "adopted", x->adopted, "created", created);
}

static int cmp_inst(const void *pa, const void *pb)
{
	const struct runtime_instance *a = *(struct runtime_instance *const *)pa;
	const struct runtime_instance *b = *(struct runtime_instance *const *)pb;
	const struct inst_meta *ma = a->data, *mb = b->data;
	if (ma->created_ms != mb->created_ms)
		return ma->created_ms < mb->created_ms ? -1 : 1;
	return strcmp(a->id, b->id);
}

/* A number field of the proxy's metrics JSON, or NaN when null/absent. */
static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : (double)NAN;
}

static json_t *num_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

/*
 * The app's revision groups as the proxy sees them: weight, ready
 * instances in rotation, and the live request rate, success rate and p99
 * of the last 10 seconds.
 */
static json_t *groups_json(struct daemon *d, struct app *a)
{
	json_t *table = proxyctl_table_json(d);
	json_t *stats = proxyctl_get(d, "/v1/stats?window=10");
	json_t *out = json_array(), *route, *g, *series;
	size_t i, k, l;
	json_array_foreach(json_object_get(table, "routes"), i, route) {
		if (strcmp(json_string_value(json_object_get(route, "app")), a->name) != 0)
			continue;
		json_array_foreach(json_object_get(route, "groups"), k, g) {
			json_int_t rev = json_integer_value(json_object_get(g, "revision"));
			json_t *s = NULL;
			json_array_foreach(json_object_get(stats, "series"), l, series) {
				const char *app = json_string_value(json_object_get(series, "app"));
				if (app && strcmp(app, a->name) == 0 &&
				    json_integer_value(json_object_get(series, "revision")) == rev)
					s = series;
			}
			json_array_append_new(
				out, json_pack("{s:I, s:O, s:i, s:o, s:o, s:o}", "revision", rev,
					       "weight", json_object_get(g, "weight"), "ready",
					       (int)json_array_size(json_object_get(g, "backends")),
					       "rate", num_or_null(s ? num(s, "rate") : 0.0),
					       "successRate", num_or_null(s ? num(s, "successRate") : NAN),
					       "p99Ms", num_or_null(s ? num(s, "p99Ms") : NAN)));
		}
	}
	json_decref(table);
	json_decref(stats);
	return out;
}

static json_t *app_json(struct daemon *d, struct app *a, bool with_instances)
{
	struct sw_err err = {0};
	struct spec_app *spec = a->st.desired ? daemon_app_spec(d, a, a->st.desired, &err) : NULL;
	uint32_t ready = 0, running = 0;
	for (size_t i = 0; i < a->ninsts; i++) {
		struct inst_meta *m = a->insts[i]->data;
		if (m->stopping)
			continue;
		running++;
		ready += a->insts[i]->ready;
	}
	json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:i, s:i, s:i}", "name", a->name,
			      "phase", rollout_phase_name(a->st.phase), "reason", a->st.reason,
			      "revision", (json_int_t)a->st.desired, "stableRevision",
			      (json_int_t)a->st.stable, "version",
			      spec && spec->version ? spec->version : "", "replicas",
			      spec ? (int)spec->replicas : 0, "ready", (int)ready, "instancesRunning",
			      (int)running);
	if (spec && spec->strategy.kind != SPEC_STRATEGY_ROLLING) {
		json_t *r = json_pack("{s:s, s:i, s:i, s:b}", "strategy",
				      spec->strategy.kind == SPEC_STRATEGY_CANARY ? "canary" : "blueGreen",
				      "weight", (int)a->st.weight, "step", (int)a->st.step + 1,
				      "promoted", a->st.promoted);
		json_object_set_new(r, "steps", json_integer((json_int_t)spec->strategy.nsteps));
		json_t *runs = json_array();
		static const char *const phases[] = {"Running", "Successful", "Failed",
						     "Inconclusive", "Error"};
		static const char *const kinds[] = {"step", "background", "prePromotion",
						    "postPromotion"};
		for (size_t i = 0; i < a->nruns; i++)
			json_array_append_new(runs, json_pack("{s:I, s:s, s:s, s:s, s:I}", "id",
							      (json_int_t)a->runs[i]->id, "kind",
							      kinds[a->runs[i]->kind], "phase",
							      phases[a->runs[i]->phase], "reason",
							      a->runs[i]->reason, "revision",
							      (json_int_t)a->runs[i]->revision));
		json_object_set_new(r, "analysisRuns", runs);
		json_object_set_new(j, "rollout", r);
	}
	if (with_instances) {
		struct runtime_instance **sorted = xmalloc((a->ninsts + 1) * sizeof(*sorted));
		memcpy(sorted, a->insts, a->ninsts * sizeof(*sorted));
		qsort(sorted, a->ninsts, sizeof(*sorted), cmp_inst);
		json_t *arr = json_array();
		for (size_t i = 0; i < a->ninsts; i++)
			json_array_append_new(arr, instance_json(sorted[i]));
		free(sorted);
		json_object_set_new(j, "instances", arr);
		if (spec && spec->route.listen) {
			json_object_set_new(j, "listen", json_string(spec->route.listen));
			json_object_set_new(j, "groups", groups_json(d, a));
		}
	}
	return j;
}

static int cmp_app(const void *pa, const void *pb)
{
	return strcmp((*(struct app *const *)pa)->name, (*(struct app *const *)pb)->name);
}

/* GET /v1/apps */
static void h_apps(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct app **sorted = xmalloc((d->napps + 1) * sizeof(*sorted));
	memcpy(sorted, d->apps, d->napps * sizeof(*sorted));
	qsort(sorted, d->napps, sizeof(*sorted), cmp_app);
	json_t *arr = json_array();
	for (size_t i = 0; i < d->napps; i++)
		json_array_append_new(arr, app_json(d, sorted[i], false));
	free(sorted);
	api_resp_json(resp, 200, json_pack("{s:o}", "apps", arr));
}

/* GET /v1/apps/{name} */
static void h_app(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct app *a = find_or_404(d, req, resp);
	if (a)
		api_resp_json(resp, 200, app_json(d, a, true));
}

/* GET /v1/apps/{name}/history */
static void h_history(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct app *a = find_or_404(d, req, resp);
	struct store_revision *revs = NULL;
	size_t n = 0;
	struct sw_err err = {0};
	if (!a)
		return;
	if (store_revision_list(d->store, a->name, &revs, &n, &err) < 0) {
		api_resp_error(resp, 500, "%s", err.msg);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char created[40];
		sw_format_time(created, sizeof(created), revs[i].created_ms);
		json_array_append_new(
			arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:b, s:b, s:b}", "revision",
				       (json_int_t)revs[i].number, "version", revs[i].version, "hash",
				       revs[i].hash, "source", revs[i].source, "created", created,
				       "desired", revs[i].number == a->st.desired, "stable",
				       revs[i].number == a->st.stable, "failed",
				       revs[i].number == a->st.failed));
	}
	store_revision_list_free(revs, n);
	api_resp_json(resp, 200, json_pack("{s:s, s:o}", "name", a->name, "revisions", arr));
}

struct parsed_file {
	char *path;
	struct spec_set set;
};

/* POST /v1/apply {"files": [{"path": "...", "content": "..."}]} */
static void h_apply(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct sw_err err = {0};
	json_error_t jerr;
	json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
	json_t *files = body ? json_object_get(body, "files") : NULL;
	json_t *results = NULL;
	struct parsed_file *pf = NULL;
	size_t npf = 0;
	bool in_tx = false;

	if (!body) {
		api_resp_error(resp, 400, "request body is not JSON: %s (line %d, column %d)",
			       jerr.text, jerr.line, jerr.column);
		goto out;
	}
	if (!json_is_array(files) || json_array_size(files) == 0) {
		api_resp_error(resp, 400, "request body needs \"files\": a non-empty array");
		goto out;
	}
	pf = xcalloc(json_array_size(files), sizeof(*pf));
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		json_t *content = json_object_get(f, "content");
		if (!path || !json_is_string(content)) {
			api_resp_error(resp, 400,
				       "files[%zu] needs \"path\" and \"content\" strings", i);
			goto out;
		}
		pf[npf].path = xstrdup(path);
		if (spec_parse_text(&pf[npf].set, json_string_value(content),
				    json_string_length(content), path, &err) < 0) {
			npf++;
			api_resp_error(resp, 422, "%s", err.msg);
			goto out;
		}
		npf++;
	}
	/* One app may appear once across all files. */
	for (size_t x = 0; x < npf; x++)
		for (size_t k = 0; k < pf[x].set.napps; k++)
			for (size_t y = x; y < npf; y++)
				for (size_t l = (y == x ? k + 1 : 0); l < pf[y].set.napps; l++)
					if (strcmp(pf[x].set.apps[k]->name,
						   pf[y].set.apps[l]->name) == 0) {
						api_resp_error(resp, 422,
							       "%s: app \"%s\" is defined twice (also at %s)",
							       pf[y].set.apps[l]->source,
							       pf[y].set.apps[l]->name,
							       pf[x].set.apps[k]->source);
						goto out;
					}

	/* Everything is valid: record it in one transaction. */
	struct pending {
		struct app *app;
		char *name;
		struct rollout_state st;
		bool created_app;
		const char *result;
		int64_t revision;
	} *pend = NULL;
	size_t npend = 0;
	int64_t now = sw_wall_ms();
	results = json_array();
	if (store_begin(d->store, &err) < 0) {
		api_resp_error(resp, 503, "cannot record the change: %s", err.msg);
		goto out;
	}
	in_tx = true;
	for (size_t x = 0; x < npf; x++) {
		for (size_t k = 0; k < pf[x].set.napps; k++) {
			struct spec_app *sa = pf[x].set.apps[k];
			struct app *a = daemon_app_find(d, sa->name);
			json_t *js = spec_app_to_json(sa);
			char *text = json_dumps(js, JSON_SORT_KEYS | JSON_COMPACT);
			char hash[65];
			spec_app_hash(sa, hash);
			json_decref(js);
			pend = xrealloc(pend, (npend + 1) * sizeof(*pend));
			struct pending *p = &pend[npend++];
			memset(p, 0, sizeof(*p));
			p->app = a;
			p->name = sa->name;
			if (a)
				p->st = a->st;
			else {
				p->st.phase = ROLLOUT_PROGRESSING;
				struct store_app row = {.name = sa->name, .phase = "Progressing",
							.reason = "", .created_ms = now};
				if (store_app_put(d->store, &row, &err) < 0) {
					free(text);
					goto fail;
				}
				p->created_app = true;
			}
			bool created_rev = false;
			int r = store_revision_add(d->store, sa->name, hash, text, sa->version,
						   pf[x].path, &p->revision, &created_rev, &err);
			free(text);
			if (r < 0)
				goto fail;
			if (p->st.desired == p->revision) {
				p->result = "unchanged";
			} else {
				char why[160];
				snprintf(why, sizeof(why), "applied revision %lld (version %s)",
					 (long long)p->revision, sa->version);
				rollout_set_desired(&p->st, p->revision, now, why);
				p->result = p->created_app ? "created" : "configured";
				struct store_app row = {
					.name = sa->name,
					.desired_revision = p->st.desired,
					.stable_revision = p->st.stable,
					.phase = (char *)rollout_phase_name(p->st.phase),
					.reason = p->st.reason,
					.progress_ms = p->st.progress_ms,
					.created_ms = a ? a->created_ms : now,
				};
				if (store_app_put(d->store, &row, &err) < 0 ||
				    store_event_add(d->store, sa->name, "Applied", why, req->actor,
						    NULL, &err) < 0)
					goto fail;
			}
		}
	}
	for (size_t x = 0; x < npf; x++)
		for (size_t k = 0; k < pf[x].set.ntemplates; k++) {
			struct spec_template *t = pf[x].set.templates[k];
			char *text = json_dumps(t->json, JSON_SORT_KEYS | JSON_COMPACT);
			char *old = NULL, hash[65];
			struct sw_err gerr = {0};
			sha256_hex(text, hash);
			store_template_get(d->store, t->name, &old, &gerr);
			bool changed = !old || strcmp(old, text) != 0;
			free(old);
			int r = store_template_put(d->store, t->name, hash, text, pf[x].path, &err);
			free(text);
			if (r < 0)
				goto fail;
			if (changed) {
				char why[300];
				snprintf(why, sizeof(why), "AnalysisTemplate \"%s\" applied from %s",
					 t->name, pf[x].path);
				if (store_event_add(d->store, "", "TemplateApplied", why, req->actor,
						    NULL, &err) < 0)
					goto fail;
			}
		}
	if (store_commit(d->store, &err) < 0)
		goto fail;
	in_tx = false;
	for (size_t k = 0; k < npend; k++) {
		struct pending *p = &pend[k];
		struct app *a = p->app ? p->app : daemon_app_add(d, p->name);
		if (p->created_app)
			a->created_ms = now;
		a->st = p->st;
		json_array_append_new(results,
				      json_pack("{s:s, s:s, s:I, s:s}", "kind", "App", "name",
						p->name, "revision", (json_int_t)p->revision, "result",
						p->result));
	}
	for (size_t x = 0; x < npf; x++)
		for (size_t k = 0; k < pf[x].set.ntemplates; k++)
			json_array_append_new(results,
					      json_pack("{s:s, s:s, s:s}", "kind", "AnalysisTemplate",
							"name", pf[x].set.templates[k]->name, "result",
							"configured"));
	free(pend);
	pend = NULL;
	daemon_kick(d);
	api_resp_json(resp, 200, json_pack("{s:O}", "results", results));
	goto out;
fail:
	free(pend);
	api_resp_error(resp, err.code == SW_EBUSY ? 503 : 500, "cannot record the change: %s",
		       err.msg);
out:
	if (in_tx)
		store_rollback(d->store);
	for (size_t x = 0; x < npf; x++) {
		spec_set_release(&pf[x].set);
		free(pf[x].path);
	}
	free(pf);
	json_decref(results);
	json_decref(body);
}

/* POST /v1/apps/{name}/rollback {"to": N}; no "to" = the revision before. */
static void h_rollback(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct sw_err err = {0};
	struct app *a = find_or_404(d, req, resp);
	if (!a)
		return;
	json_t *body = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
	json_int_t to = 0;
	if (req->body_len && !body) {
		api_resp_error(resp, 400, "request body is not JSON");
		return;
	}
	if (body && json_object_get(body, "to")) {
		if (!json_is_integer(json_object_get(body, "to")) ||
		    json_integer_value(json_object_get(body, "to")) < 1) {
			json_decref(body);
			api_resp_error(resp, 400, "\"to\" must be a positive revision number");
			return;
		}
		to = json_integer_value(json_object_get(body, "to"));
	}
	json_decref(body);
	if (to == 0) {
		if (a->st.stable > 0 && a->st.stable != a->st.desired)
			to = a->st.stable;
		else
			to = a->st.desired - 1;
		if (to < 1) {
			api_resp_error(resp, 409, "app \"%s\" has no earlier revision to roll back to",
				       a->name);
			return;
		}
	}
	if (!daemon_app_spec(d, a, to, &err)) {
		api_resp_error(resp, err.code == SW_ENOTFOUND ? 404 : 500,
			       "app \"%s\" has no revision %lld", a->name, (long long)to);
		return;
	}
	if (to == a->st.desired && a->st.phase != ROLLOUT_DEGRADED) {
		api_resp_json(resp, 200, json_pack("{s:s, s:I, s:s}", "name", a->name, "revision",
						   (json_int_t)to, "result", "unchanged"));
		return;
	}
	struct rollout_state st = a->st;
	char why[160];
	snprintf(why, sizeof(why), "rollback from revision %lld to revision %lld",
		 (long long)a->st.desired, (long long)to);
	rollout_set_desired(&st, to, sw_wall_ms(), why);
	struct rollout_state old = a->st;
	a->st = st;
	if (daemon_app_save(d, a, &err) < 0) {
		a->st = old;
		api_resp_error(resp, 503, "cannot record the change: %s", err.msg);
		return;
	}
	daemon_event(d, a->name, "Rollback", req->actor, "%s", why);
	daemon_kick(d);
	api_resp_json(resp, 200, json_pack("{s:s, s:I, s:s}", "name", a->name, "revision",
					   (json_int_t)to, "result", "rolling back"));
}

/* DELETE /v1/apps/{name} */
static void h_delete(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct sw_err err = {0};
	struct app *a = find_or_404(d, req, resp);
	if (!a)
		return;
	if (store_app_delete(d->store, a->name, &err) < 0) {
		api_resp_error(resp, 503, "cannot delete \"%s\": %s", a->name, err.msg);
		return;
	}
	char *name = xstrdup(a->name);
	size_t n = a->ninsts;
	daemon_event(d, name, "Deleted", req->actor, "app deleted; stopping %zu instances", n);
	daemon_app_delete(d, a);
	api_resp_json(resp, 200, json_pack("{s:s, s:s, s:i}", "name", name, "result", "deleted",
					   "stopping", (int)n));
	free(name);
}

/* Appends file bytes [from, end) as valid UTF-8 ("?" for bad bytes). */
static void add_utf8(struct buf *out, const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		bool ok = len && i + len <= n;
		for (size_t k = 1; ok && k < len; k++)
			ok = (s[i + k] & 0xc0) == 0x80;
		if (ok && c == 0)
			ok = false;
		if (ok) {
			buf_add(out, s + i, len);
			i += len;
		} else {
			buf_addc(out, '?');
			i++;
		}
	}
}

/* Reads a log file from `offset` (negative: the last -offset bytes). */
static json_t *log_chunk(const char *path, const char *id, int64_t offset)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	struct buf text = BUF_INIT;
	int64_t size = 0;
	if (fd >= 0 && fstat(fd, &sb) == 0)
		size = sb.st_size;
	if (offset < 0)
		offset = size + offset > 0 ? size + offset : 0;
	if (offset > size)
		offset = 0; /* the file was rotated (truncated): start over */
	int64_t want = size - offset;
	if (want > LOG_CHUNK_MAX)
		want = LOG_CHUNK_MAX;
	if (fd >= 0 && want > 0) {
		unsigned char *raw = xmalloc((size_t)want);
		ssize_t k = pread(fd, raw, (size_t)want, offset);
		if (k > 0) {
			add_utf8(&text, raw, (size_t)k);
			offset += k;
		}
		free(raw);
	}
	if (fd >= 0)
		close(fd);
	json_t *j = json_pack("{s:s, s:I, s:s}", "id", id, "offset", (json_int_t)offset, "text",
			      buf_str(&text));
	buf_release(&text);
	return j;
}

/* GET /v1/apps/{name}/logs?instance=ID&tail=BYTES&offsets=id:N,id:N */
static void h_logs(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	const char *name = api_req_param(req, "name");
	struct app *a = name ? daemon_app_find(d, name) : NULL;
	const char *only = api_req_query(req, "instance");
	char *only_id = only && *only ? xstrdup(only) : NULL;
	const char *offs = api_req_query(req, "offsets");
	char *offsets = offs ? xstrdup(offs) : NULL;
	int64_t tail = query_int(req, "tail", LOG_TAIL_DEFAULT);
	json_t *arr = json_array();
	struct buf path = BUF_INIT;

	if (!a) {
		api_resp_error(resp, 404, "app \"%s\" not found", name ? name : "");
		goto out;
	}
	if (only_id && (strchr(only_id, '/') || strstr(only_id, ".."))) {
		api_resp_error(resp, 400, "bad instance id \"%s\"", only_id);
		goto out;
	}
	bool found = false;
	for (size_t i = 0; i <= a->ninsts; i++) {
		const char *id;
		if (i < a->ninsts)
			id = a->insts[i]->id;
		else if (only_id && !found)
			id = only_id; /* a stopped instance whose log is still there */
		else
			break;
		if (only_id && strcmp(id, only_id) != 0)
			continue;
		found = true;
		int64_t off = -tail;
		if (offsets) {
			size_t idl = strlen(id);
			for (const char *p = offsets; p && *p;) {
				if (strncmp(p, id, idl) == 0 && p[idl] == ':') {
					off = strtoll(p + idl + 1, NULL, 10);
					break;
				}
				p = strchr(p, ',');
				p = p ? p + 1 : NULL;
			}
		}
		buf_reset(&path);
		buf_addf(&path, "%s/%s/%s.log", d->logs_dir, a->name, id);
		if (i == a->ninsts && access(path.s, R_OK) != 0) {
			api_resp_error(resp, 404, "app \"%s\" has no instance \"%s\"", a->name, id);
			goto out;
		}
		json_array_append_new(arr, log_chunk(path.s, id, off));
	}
	api_resp_json(resp, 200, json_pack("{s:O}", "instances", arr));
out:
	json_decref(arr);
	buf_release(&path);
	free(only_id);
	free(offsets);
}

/* GET /v1/events?app=NAME&after=ID&limit=N */
static void h_events(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct sw_err err = {0};
	struct store_event *evs = NULL;
	size_t n = 0;
	const char *app = api_req_query(req, "app");
	char *app_name = app && *app ? xstrdup(app) : NULL;
	int64_t after = query_int(req, "after", 0), limit = query_int(req, "limit", 0);
	if (store_event_list(d->store, app_name, after, limit > 0 ? (size_t)limit : 0, &evs, &n,
			     &err) < 0) {
		api_resp_error(resp, 500, "%s", err.msg);
		free(app_name);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char t[40];
		sw_format_time(t, sizeof(t), evs[i].time_ms);
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "id",
						     (json_int_t)evs[i].id, "time", t, "app",
						     evs[i].app, "kind", evs[i].kind, "message",
						     evs[i].message, "actor", evs[i].actor));
	}
	store_event_list_free(evs, n);
	free(app_name);
	api_resp_json(resp, 200, json_pack("{s:o}", "events", arr));
}

/* The revision `undo` goes back to: the stable one while a rollout is in
 * progress or aborted, else the newest revision before the desired one. */
static int64_t undo_target(struct daemon *d, struct app *a)
{
	if (a->st.stable > 0 && a->st.stable != a->st.desired)
		return a->st.stable;
	struct sw_err err = {0};
	for (int64_t r = a->st.desired - 1; r >= 1; r--)
		if (daemon_app_spec(d, a, r, &err))
			return r;
	return 0;
}

/* POST /v1/apps/{name}/rollout/{action} {"full": bool}
 * action: promote, abort, pause, resume, retry, undo */
static void h_rollout_action(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct app *a = find_or_404(d, req, resp);
	const char *action = api_req_param(req, "action");
	char msg[256] = "", why[200];
	int64_t now = sw_wall_ms();
	int r = -1;
	if (!a)
		return;
	json_t *body = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
	if (req->body_len && !json_is_object(body)) {
		json_decref(body);
		api_resp_error(resp, 400, "request body must be a JSON object");
		return;
	}
	bool full = json_is_true(json_object_get(body, "full"));
	json_decref(body);
	struct rollout_state st = a->st;
	snprintf(why, sizeof(why), "aborted by %s", req->actor);
	if (strcmp(action, "promote") == 0)
		r = rollout_promote(&st, full, msg, sizeof(msg));
	else if (strcmp(action, "abort") == 0)
		r = rollout_abort(&st, now, why, msg, sizeof(msg));
	else if (strcmp(action, "pause") == 0)
		r = rollout_pause(&st, msg, sizeof(msg));
	else if (strcmp(action, "resume") == 0)
		r = rollout_resume(&st, msg, sizeof(msg));
	else if (strcmp(action, "retry") == 0)
		r = rollout_retry(&st, now, msg, sizeof(msg));
	else if (strcmp(action, "undo") == 0) {
		int64_t to = undo_target(d, a);
		if (!to)
			snprintf(msg, sizeof(msg), "no earlier revision to go back to");
		else {
			snprintf(why, sizeof(why), "undo: back to revision %lld at once (no steps, no analysis)",
				 (long long)to);
			rollout_undo(&st, to, now, why);
			r = 0;
		}
	} else {
		api_resp_error(resp, 404, "unknown rollout action \"%s\" (promote, abort, pause, resume, retry, undo)",
			       action);
		return;
	}
	if (r < 0) {
		api_resp_error(resp, 409, "%s: %s", a->name, msg);
		return;
	}
	struct rollout_state old = a->st;
	struct sw_err err = {0};
	a->st = st;
	if (daemon_app_save(d, a, &err) < 0) {
		a->st = old;
		api_resp_error(resp, 503, "cannot record the change: %s", err.msg);
		return;
	}
	char kind[32];
	snprintf(kind, sizeof(kind), "Rollout%c%s", action[0] - 'a' + 'A', action + 1);
	daemon_event(d, a->name, kind, req->actor, "%s%s", action,
		     full ? " --full" : "");
	daemon_kick(d);
	api_resp_json(resp, 200, app_json(d, a, true));
}

/* GET /v1/apps/{name}/analysis?revision=N&after=ID: every measurement,
 * with its provider, query, value, condition, outcome and reason. */
static void h_analysis(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct app *a = find_or_404(d, req, resp);
	struct store_measurement *ms = NULL;
	size_t n = 0;
	struct sw_err err = {0};
	if (!a)
		return;
	if (store_measurement_list(d->store, a->name, query_int(req, "revision", 0),
				   query_int(req, "after", 0), &ms, &n, &err) < 0) {
		api_resp_error(resp, 500, "%s", err.msg);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char t[40];
		sw_format_time(t, sizeof(t), ms[i].time_ms);
		json_array_append_new(
			arr, json_pack("{s:I, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
				       "id", (json_int_t)ms[i].id, "time", t, "revision",
				       (json_int_t)ms[i].revision, "run", (json_int_t)ms[i].run, "kind",
				       ms[i].kind, "template", ms[i].template_name, "metric",
				       ms[i].metric, "provider", ms[i].provider, "query", ms[i].query,
				       "value", ms[i].value, "condition", ms[i].condition, "outcome",
				       ms[i].outcome, "reason", ms[i].reason));
	}
	store_measurement_list_free(ms, n);
	api_resp_json(resp, 200, json_pack("{s:s, s:o}", "name", a->name, "measurements", arr));
}

static void on_upgrade_timer(uv_timer_t *t)
{
	daemon_upgrade(t->data);
}

/* POST /v1/upgrade: the control plane re-executes the binary on disk once
 * this answer is out (`slipway upgrade` upgrades the proxy first). */
static void h_upgrade(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	if (d->stopping || !d->opt->argv) {
		api_resp_error(resp, 409, "the daemon is stopping");
		return;
	}
	daemon_event(d, NULL, "UpgradeRequested", req->actor, "upgrade of slipway serve requested");
	uv_timer_start(&d->upgrade, on_upgrade_timer, 50, 0);
	api_resp_json(resp, 202, json_pack("{s:s, s:i, s:I}", "result", "upgrading", "pid",
					   (int)getpid(), "startedMs", (json_int_t)d->started_ms));
}

/* GET /v1/routes: what the proxy is told, and whether it is up. */
static void h_routes(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	json_t *t = proxyctl_table_json(d);
	json_object_set_new(t, "proxy", json_pack("{s:i, s:b}", "pid", (int)proxyctl_pid(d), "up",
						  proxyctl_up(d)));
	api_resp_json(resp, 200, t);
}

/* GET /metrics: the proxy's Prometheus text. */
static void h_metrics(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct buf text = BUF_INIT;
	if (proxyctl_metrics_text(d, &text) < 0) {
		buf_release(&text);
		api_resp_error(resp, 503, "the proxy is not reachable");
		return;
	}
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4";
	buf_add(&resp->body, text.s ? text.s : "", text.len);
	buf_release(&text);
}

/* ---- API tokens ---- */

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

/* POST /v1/tokens {"name", "role"}: the token is in this answer only. */
static void h_token_create(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct sw_err err = {0};
	json_error_t jerr;
	json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
	const char *name = json_string_value(json_object_get(body, "name"));
	const char *role = json_string_value(json_object_get(body, "role"));
	unsigned char raw[32];
	char token[4 + 2 * sizeof(raw)], hash[65];
	bool role_ok = false;

	if (!body) {
		api_resp_error(resp, 400, "request body is not JSON: %s (line %d, column %d)",
			       jerr.text, jerr.line, jerr.column);
		goto out;
	}
	if (!json_is_object(body) || !name || !role) {
		api_resp_error(resp, 400, "request body needs \"name\" and \"role\" strings");
		goto out;
	}
	if (!token_name_ok(name)) {
		api_resp_error(resp, 400, "bad token name \"%s\": use 1 to 63 of a-z, 0-9, '-', "
			       "'_', '.', starting with a letter or digit", name);
		goto out;
	}
	for (size_t i = 0; token_reserved[i]; i++)
		if (strcmp(name, token_reserved[i]) == 0) {
			api_resp_error(resp, 409, "token name \"%s\" is reserved", name);
			goto out;
		}
	for (size_t i = 0; token_roles[i]; i++)
		role_ok |= strcmp(role, token_roles[i]) == 0;
	if (!role_ok) {
		api_resp_error(resp, 400, "unknown role \"%s\" (admin, deployer, viewer)", role);
		goto out;
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		api_resp_error(resp, 500, "cannot make a token: %s", strerror(errno));
		goto out;
	}
	sw_strlcpy(token, "sw_", sizeof(token));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(token + 3 + 2 * i, 3, "%02x", raw[i]);
	sha256_hex(token, hash);
	struct store_token t = {.name = (char *)name, .hash = hash, .role = (char *)role};
	int r = store_token_put(d->store, &t, &err);
	if (r < 0) {
		api_resp_error(resp, r == SW_EEXIST ? 409 : r == SW_EBUSY ? 503 : 500, "%s", err.msg);
		goto out;
	}
	daemon_event(d, NULL, "TokenCreated", req->actor, "token \"%s\" created with role %s",
		     name, role);
	api_resp_json(resp, 201, json_pack("{s:s, s:s, s:s}", "name", name, "role", role,
					   "token", token));
out:
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(raw, sizeof(raw));
	json_decref(body);
}

/* GET /v1/tokens: names, roles and times; never a token or its hash. */
static void h_token_list(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct sw_err err = {0};
	struct store_token *ts = NULL;
	size_t n = 0;
	if (store_token_list(d->store, &ts, &n, &err) < 0) {
		api_resp_error(resp, 500, "%s", err.msg);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char created[40], used[40] = "";
		sw_format_time(created, sizeof(created), ts[i].created_ms);
		if (ts[i].last_used_ms)
			sw_format_time(used, sizeof(used), ts[i].last_used_ms);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "name", ts[i].name,
						     "role", ts[i].role, "created", created,
						     "lastUsed", used));
	}
	store_token_list_free(ts, n);
	api_resp_json(resp, 200, json_pack("{s:o}", "tokens", arr));
}

/* DELETE /v1/tokens/{name}: the token stops working at once. */
static void h_token_revoke(const struct api_req *req, struct api_resp *resp, void *data)
{
	struct daemon *d = data;
	struct sw_err err = {0};
	const char *name = api_req_param(req, "name");
	if (strcmp(name, "root") == 0) {
		api_resp_error(resp, 409, "token \"root\" is the file %s/token: replace it and "
			       "restart the daemon to change it", d->dir);
		return;
	}
	int r = store_token_delete(d->store, name, &err);
	if (r < 0) {
		api_resp_error(resp, r == SW_ENOTFOUND ? 404 : r == SW_EBUSY ? 503 : 500, "%s",
			       err.msg);
		return;
	}
	daemon_event(d, NULL, "TokenRevoked", req->actor, "token \"%s\" revoked", name);
	api_resp_json(resp, 200, json_pack("{s:s, s:s}", "name", name, "result", "revoked"));
}

void handlers_register(struct daemon *d)
{
	static const struct {
		const char *method, *pattern;
		api_handler h;
	} routes[] = {
		{"GET", "/v1/version", h_version},
		{"GET", "/v1/apps", h_apps},
		{"POST", "/v1/apply", h_apply},
		{"GET", "/v1/apps/{name}", h_app},
		{"DELETE", "/v1/apps/{name}", h_delete},
		{"GET", "/v1/apps/{name}/history", h_history},
		{"POST", "/v1/apps/{name}/rollback", h_rollback},
		{"GET", "/v1/apps/{name}/logs", h_logs},
		{"GET", "/v1/events", h_events},
		{"GET", "/v1/routes", h_routes},
		{"POST", "/v1/upgrade", h_upgrade},
		{"POST", "/v1/apps/{name}/rollout/{action}", h_rollout_action},
		{"GET", "/v1/apps/{name}/analysis", h_analysis},
		{"GET", "/metrics", h_metrics},
		{"POST", "/v1/tokens", h_token_create},
		{"GET", "/v1/tokens", h_token_list},
		{"DELETE", "/v1/tokens/{name}", h_token_revoke},
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		api_route(d->api, routes[i].method, routes[i].pattern, routes[i].h, d);
}
