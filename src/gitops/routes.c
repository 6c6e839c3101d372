/*
 * The Sources endpoints (docs/api.md "Sources"): status, sync, plan, and
 * the webhook a git host calls.
 */
#include "gitops_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "engine/engine.h"
#include "http/http.h"
#include "webhook.h"

#define REFUSED_EVENT_EVERY_MS 10000
#define WEBHOOK_SECRET_MAX 4096

static struct gsrc *find_or_404(struct gitops *g, const struct http_req *req, struct http_resp *resp)
{
	const char *name = http_req_param(req, "name");
	struct gsrc *gs = name ? sw_map_get(&g->sources, name) : NULL;
	if (!gs)
		http_resp_error(resp, 404, "source \"%s\" not found", name ? name : "");
	return gs;
}

/* A source is the whole host's: a token scoped to environments may read
 * it, not sync or delete it (403). */
static bool scoped_403(struct gitops *g, const struct http_req *req, struct http_resp *resp)
{
	char scope[512];
	if (engine_token_scope(g->e, req->actor, scope, sizeof(scope)) == 0 && !*scope)
		return false;
	http_resp_error(resp, 403, "token \"%s\" is scoped to environments (%s): sources are the "
			"whole host's", req->actor, scope);
	return true;
}

static void h_list(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)req;
	http_resp_json(resp, 200, gitops_status(data, NULL));
}

static void h_get(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct gsrc *gs = find_or_404(data, req, resp);
	if (gs)
		http_resp_json(resp, 200, gitops_status_json(gs));
}

/* A sync the client waits for. */
struct sync_wait {
	struct gitops *g;
	struct http_deferred *d;
	uint64_t id;
	bool plan;
};

/* The plan as the API answers it: an app (or a rendered Source) git would
 * prune or keep has its live document too, so that `slipway diff
 * --source` shows it removed. */
static json_t *plan_answer(struct gitops *g, const json_t *plan)
{
	json_t *j = json_deep_copy(plan), *it;
	size_t i;
	json_array_foreach(json_object_get(j, "plan"), i, it) {
		const char *action = json_string_value(json_object_get(it, "action"));
		const char *name = json_string_value(json_object_get(it, "name"));
		json_t *live = NULL;
		char key[SPEC_KEY_MAX];
		if (json_object_get(it, "environment")) /* an App: by its key */
			name = spec_key(key, json_string_value(json_object_get(it, "environment")), name);
		if (!json_object_get(it, "live") && action &&
		    (strcmp(action, "prune") == 0 || strcmp(action, "keep") == 0) &&
		    (live = engine_live_doc(g->e, json_string_value(json_object_get(it, "kind")), name)))
			json_object_set_new(it, "live", live);
	}
	return j;
}

static void sync_done(const json_t *status, const struct sw_err *err, void *data)
{
	struct sync_wait *w = data;
	struct http_resp resp = {0};
	if (status && w->plan) {
		http_resp_json(&resp, 200, plan_answer(w->g, status));
	} else if (status) {
		const json_t *inv = json_object_get(status, "invalid");
		const char *fe = json_string_value(json_object_get(status, "fetchError"));
		if (fe)
			http_resp_error(&resp, 502, "%s", fe);
		else if (json_is_object(inv))
			http_resp_error(&resp, 422, "commit %.7s is not applied: %s",
					json_string_value(json_object_get(inv, "sha")),
					json_string_value(json_object_get(inv, "error")));
		else
			http_resp_json(&resp, 200, json_deep_copy(status));
	} else {
		http_resp_error(&resp, http_status_of(err->code), "%s", err->msg);
	}
	http_deferred_answer(w->d, &resp);
	buf_release(&resp.body);
	free(w);
}

static void sync_end(struct http_deferred *d, enum http_defer_end why, void *data)
{
	struct sync_wait *w = data;
	(void)d;
	if (why == HTTP_DEFER_TIMEOUT) {
		struct http_resp resp = {0};
		http_resp_error(&resp, 504, "the sync did not end in time; see slipway status source/...");
		gitops_sync_cancel(w->g, w->id);
		http_deferred_answer(w->d, &resp);
		buf_release(&resp.body);
	} else {
		gitops_sync_cancel(w->g, w->id);
	}
	free(w);
}

static void h_sync(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct gitops *g = data;
	struct gsrc *gs = find_or_404(g, req, resp);
	struct sw_err err = {0};
	if (!gs)
		return;
	const char *dry = http_req_query(req, "dryRun");
	bool plan = dry && strcmp(dry, "true") == 0;
	if (!plan && scoped_403(g, req, resp))
		return;
	struct sync_wait *w = xcalloc(1, sizeof(*w));
	w->g = g;
	w->plan = plan;
	const char *resume = http_req_query(req, "resume");
	w->id = gitops_sync_ex(g, gs->name, req->actor, plan, resume && strcmp(resume, "true") == 0,
			       sync_done, w, &err);
	if (!w->id) {
		free(w);
		http_resp_error(resp, http_status_of(err.code), "%s", err.msg);
		return;
	}
	w->d = http_defer(req, gs->spec->timeout_ms + 30000, sync_end, w);
}

/* The secret file's bytes less one trailing newline; -1 with err. */
static int read_secret(struct buf *out, const char *path, struct sw_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return sw_errf(err, -1, "cannot read the webhook secret \"%s\": %s", path, strerror(errno));
	char tmp[WEBHOOK_SECRET_MAX + 1];
	ssize_t n;
	size_t len = 0;
	while ((n = read(fd, tmp + len, sizeof(tmp) - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0 || len > WEBHOOK_SECRET_MAX)
		return sw_errf(err, -1, "cannot read the webhook secret \"%s\": %s", path,
			       n < 0 ? strerror(errno) : "larger than 4 KiB");
	if (len && tmp[len - 1] == '\n')
		len--;
	if (len && tmp[len - 1] == '\r')
		len--;
	buf_add(out, tmp, len);
	return 0;
}

static void h_webhook(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct gitops *g = data;
	struct gsrc *gs = find_or_404(g, req, resp);
	struct sw_err err = {0};
	struct buf secret = BUF_INIT;
	struct webhook_header hs[64];
	size_t nh = 0;
	if (!gs)
		return;
	if (!gs->spec->webhook_secret_file) {
		http_resp_error(resp, 404, "source \"%s\" has no webhook (set spec.webhook.secretFile)",
				gs->name);
		return;
	}
	if (read_secret(&secret, gs->spec->webhook_secret_file, &err) < 0) {
		sw_warn("source %s: %s", gs->name, err.msg);
		http_resp_error(resp, 500, "the source's webhook secret cannot be read (see the daemon's log)");
		goto out;
	}
	for (size_t i = 0; req->xhdrs && i < req->xhdrs_len && nh < 64;) {
		const char *n = req->xhdrs + i, *v = n + strlen(n) + 1;
		hs[nh++] = (struct webhook_header){n, v};
		i = (size_t)(v + strlen(v) + 1 - req->xhdrs);
	}
	struct webhook_result wr;
	int r = webhook_verify(&wr, hs, nh, req->body, req->body_len, (const unsigned char *)secret.s,
			       secret.len, &err);
	if (r < 0) {
		int64_t now = sw_wall_ms();
		gs->refused++;
		if (now - gs->refused_ms >= REFUSED_EVENT_EVERY_MS) {
			engine_event(g->e, NULL, "WebhookRefused", "anonymous",
				     "source %s: webhook refused: %s (%llu refused since the last report)",
				     gs->name, err.msg, (unsigned long long)gs->refused);
			gs->refused_ms = now;
			gs->refused = 0;
		}
		http_resp_error(resp, r == SW_EINVAL ? 413 : 401, "%s", err.msg);
		goto out;
	}
	if (strcmp(wr.event, "ping") == 0) {
		http_resp_json(resp, 200, json_pack("{s:s, s:b}", "source", gs->name, "pong", 1));
		goto out;
	}
	if (!webhook_ref_matches(&wr, gs->spec->ref)) {
		http_resp_json(resp, 202, json_pack("{s:s, s:s, s:s}", "source", gs->name, "ignored",
						    "the push is not to the source's ref", "ref", wr.ref));
		goto out;
	}
	/* what is deployed is what the fetch finds, never what the payload says */
	gs->webhooks++;
	gitops_fetch(gs);
	http_resp_json(resp, 202, json_pack("{s:s, s:s, s:s}", "source", gs->name, "fetch", "started",
					    "provider", wr.provider));
out:
	buf_release(&secret);
}

static void h_delete(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct gitops *g = data;
	const char *name = http_req_param(req, "name");
	struct sw_err err = {0};
	if (scoped_403(g, req, resp))
		return;
	if (engine_object_delete(g->e, "Source", name, req->actor, &err) < 0)
		http_resp_error(resp, http_status_of(err.code), "%s", err.msg);
	else
		http_resp_json(resp, 200, json_pack("{s:s, s:s}", "kind", "Source", "name", name));
}

void gitops_routes(struct gitops *g, struct http_server *http)
{
	http_route(http, "DELETE", "/v1/sources/{name}", HTTP_ROLE_DEPLOYER, h_delete, g);
	http_route(http, "GET", "/v1/sources", HTTP_ROLE_VIEWER, h_list, g);
	http_route(http, "GET", "/v1/sources/{name}", HTTP_ROLE_VIEWER, h_get, g);
	http_route(http, "POST", "/v1/sources/{name}/sync", HTTP_ROLE_DEPLOYER, h_sync, g);
	http_route(http, "POST", "/v1/sources/{name}/webhook", HTTP_ROLE_PUBLIC, h_webhook, g);
	http_route_max_body(http, "POST", "/v1/sources/{name}/webhook", WEBHOOK_MAX_BODY);
}
