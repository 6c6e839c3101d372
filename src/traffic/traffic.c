/*
 * traffic: the route table the data plane should hold, pushes of it, and
 * asynchronous calls to the data plane's control socket. See traffic.h;
 * the process itself is traffic_proxy.c's.
 *
 * Pushes are coalesced: one is in flight at most, and when it ends the
 * newest table set meanwhile (if it differs from what the data plane now
 * holds) goes next. A push that cannot reach the data plane is retried
 * with back-off (RETRY_MIN_MS doubling to RETRY_MAX_MS); one it refuses
 * (4xx) is reported once and not sent again until the table changes or
 * the data plane changes hands.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "httpc/httpc.h"
#include "traffic_int.h"

#define CALL_TIMEOUT_MS 1000
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define REFUSED_RETRY_MS 5000
/* answers larger than this are an error (a stats window of many apps) */
#define MAX_ANSWER (8u * 1024 * 1024)

struct traffic_call {
	struct traffic_call *prev, *next;
	struct traffic *t;
	uint64_t id;                 /* ours, for traffic_cancel */
	uint64_t http_id;            /* httpc's, 0 when not started */
	traffic_json_cb json_cb;
	traffic_text_cb text_cb;
	void (*push_cb)(struct traffic *t, int status, const char *body, const char *error);
	void *data;
	char *error;                 /* failed before it started: reported by `deferred` */
};

static void call_detach(struct traffic_call *c)
{
	struct traffic *t = c->t;
	if (c->prev)
		c->prev->next = c->next;
	else
		t->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void call_unlink(struct traffic_call *c)
{
	call_detach(c);
	free(c->error);
	free(c);
}

void traffic_event(struct traffic *t, const char *kind, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (t->cfg.on_event)
		t->cfg.on_event(kind, msg, t->cfg.data);
	else
		sw_info("%s: %s", kind, msg);
}

static void deliver(struct traffic_call *c, int status, const char *body, size_t len,
		    const char *error)
{
	struct traffic *t = c->t;
	char why[256];
	if (!error && status != 200 && !c->push_cb) {
		/* an error answer carries {"error": "..."} */
		json_t *j = json_loadb(body, len, 0, NULL);
		const char *m = json_string_value(json_object_get(j, "error"));
		snprintf(why, sizeof(why), "the proxy answered %d: %s", status, m ? m : body);
		json_decref(j);
		error = why;
	}
	if (c->push_cb) {
		c->push_cb(t, status, body, error);
	} else if (c->text_cb) {
		c->text_cb(error ? NULL : body, error ? 0 : len, error, c->data);
	} else {
		json_t *j = error ? NULL : json_loadb(body, len, 0, NULL);
		c->json_cb(j, error ? error : j ? NULL : "the proxy's answer is not JSON", c->data);
		json_decref(j);
	}
}

static void on_http(int status, const char *body, size_t len, const char *error, void *data)
{
	struct traffic_call *c = data;
	c->t->up = error == NULL;
	c->http_id = 0;
	/* unlinked first: the callback may cancel, start calls or stop */
	struct traffic_call copy = *c;
	call_unlink(c);
	deliver(&copy, status, body, len, error);
}

static void on_deferred(uv_timer_t *timer)
{
	struct traffic *t = timer->data;
	struct traffic_call *c = t->calls, *next;
	for (; c; c = next) {
		next = c->next;
		if (!c->error)
			continue;
		char *error = c->error;
		c->error = NULL;
		struct traffic_call copy = *c;
		call_unlink(c);
		deliver(&copy, 0, "", 0, error);
		free(error);
		/* the callback may have stopped everything or cancelled next */
		if (t->stopping)
			return;
		next = t->calls;
	}
}

static uint64_t call_start(struct traffic *t, const char *method, const char *path,
			   const char *body, struct traffic_call *c)
{
	struct sw_err err = {0};
	struct buf url = BUF_INIT;
	c->t = t;
	c->id = ++t->next_id;
	c->next = t->calls;
	if (t->calls)
		t->calls->prev = c;
	t->calls = c;
	buf_addf(&url, "http://slipway-proxy%s", path);
	struct httpc_request req = {
		.method = method,
		.url = buf_str(&url),
		.unix_socket = t->sock_path,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.timeout_ms = t->call_timeout_ms,
		.max_response = MAX_ANSWER,
		.headers = (const char *const[]){"Content-Type: application/json", NULL},
	};
	if (t->stopping)
		sw_errf(&err, -1, "traffic is stopping");
	else
		c->http_id = httpc_request(t->cfg.httpc, &req, on_http, c, &err);
	buf_release(&url);
	if (!c->http_id) {
		c->error = xstrdup(err.msg[0] ? err.msg : "cannot call the proxy");
		if (!t->stopping)
			uv_timer_start(&t->deferred, on_deferred, 0, 0);
	}
	return c->id;
}

uint64_t traffic_get(struct traffic *t, const char *path, traffic_json_cb cb, void *data)
{
	struct traffic_call *c = xcalloc(1, sizeof(*c));
	c->json_cb = cb;
	c->data = data;
	return call_start(t, "GET", path, NULL, c);
}

uint64_t traffic_get_text(struct traffic *t, const char *path, traffic_text_cb cb, void *data)
{
	struct traffic_call *c = xcalloc(1, sizeof(*c));
	c->text_cb = cb;
	c->data = data;
	return call_start(t, "GET", path, NULL, c);
}

uint64_t traffic_post(struct traffic *t, const char *path, traffic_json_cb cb, void *data)
{
	struct traffic_call *c = xcalloc(1, sizeof(*c));
	c->json_cb = cb;
	c->data = data;
	return call_start(t, "POST", path, "{}", c);
}

void traffic_cancel(struct traffic *t, uint64_t id)
{
	for (struct traffic_call *c = t->calls; c; c = c->next)
		if (c->id == id) {
			if (c->http_id)
				httpc_cancel(t->cfg.httpc, c->http_id);
			if (t->push_id == id)
				t->push_id = 0;
			call_unlink(c);
			return;
		}
}

/* ---- the table ---- */

static void push(struct traffic *t);

static void on_retry(uv_timer_t *timer)
{
	push(timer->data);
}

static void retry_later(struct traffic *t, uint64_t ms)
{
	if (!t->stopping)
		uv_timer_start(&t->retry, on_retry, ms, 0);
}

static void on_pushed(struct traffic *t, int status, const char *body, const char *error)
{
	char *text = t->push_text;
	t->push_text = NULL;
	t->push_id = 0;
	if (error) {
		/* not reachable (yet: a proxy just started has no socket for a
		 * few ms; or stopped): again, later and later */
		uint64_t ms = t->retry_ms ? t->retry_ms : RETRY_MIN_MS;
		t->retry_ms = ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : ms * 2;
		free(text);
		retry_later(t, ms);
		return;
	}
	t->retry_ms = 0;
	if (status == 200) {
		t->version++;
		free(t->accepted);
		t->accepted = text;
		free(t->refused);
		t->refused = NULL;
		if (t->cfg.on_change)
			t->cfg.on_change(t->cfg.data);
	} else {
		/* it answered: say why it refused, not that it is away */
		json_t *j = body ? json_loads(body, 0, NULL) : NULL;
		const char *why = json_string_value(json_object_get(j, "error"));
		snprintf(t->refused_why, sizeof(t->refused_why), "proxy refused the table: %.300s (HTTP %d)",
			 why ? why : body ? body : "no reason given", status);
		json_decref(j);
		if (!t->refused || strcmp(t->refused, text) != 0)
			traffic_event(t, "ProxyRefusedTable", "%s", t->refused_why);
		free(t->refused);
		t->refused = text;
		/* a listener that could not be bound may become free */
		retry_later(t, REFUSED_RETRY_MS);
	}
	if (!t->stopping)
		push(t);
}

const char *traffic_refused(const struct traffic *t)
{
	return t->refused && t->table_text && strcmp(t->refused, t->table_text) == 0 ? t->refused_why
										       : NULL;
}

/* Sends the newest table unless the data plane holds it or a push is in
 * flight (whose end calls this again). */
static void push(struct traffic *t)
{
	/* before the first table is set, the proxy's own (the one it saved)
	 * is better than an empty one */
	if (t->stopping || !t->table_set || t->push_id || !traffic_proxy_pid(t) ||
	    traffic_synced(t))
		return;
	if (t->refused && strcmp(t->refused, t->table_text) == 0 &&
	    uv_is_active((uv_handle_t *)&t->retry))
		return;
	uv_timer_stop(&t->retry);
	json_t *body = json_deep_copy(t->table);
	json_object_set_new(body, "version", json_integer(t->version + 1));
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	struct traffic_call *c = xcalloc(1, sizeof(*c));
	c->push_cb = on_pushed;
	t->push_text = xstrdup(t->table_text);
	t->push_id = call_start(t, "PUT", "/v1/table", text, c);
	free(text);
}

void traffic_set_table(struct traffic *t, json_t *table)
{
	json_incref(table);
	json_decref(t->table);
	t->table = table;
	char *text = json_dumps(json_object_get(table, "routes"), JSON_COMPACT | JSON_SORT_KEYS);
	free(t->table_text);
	t->table_text = text ? text : xstrdup("[]");
	t->table_set = true;
	push(t);
}

json_t *traffic_table(struct traffic *t)
{
	return t->table;
}

bool traffic_synced(const struct traffic *t)
{
	return traffic_proxy_pid(t) && t->accepted && strcmp(t->accepted, t->table_text) == 0;
}

void traffic_status(const struct traffic *t, struct traffic_status *out)
{
	out->pid = traffic_proxy_pid(t);
	out->up = out->pid && t->up;
	out->synced = traffic_synced(t);
	out->version = t->version;
}

void traffic_handover(struct traffic *t)
{
	free(t->accepted);
	t->accepted = NULL;
	free(t->refused);
	t->refused = NULL;
	t->up = false;
	t->retry_ms = 0;
	/* a push in flight went to the old one: its answer no longer says
	 * what the new one holds */
	if (t->push_id)
		traffic_cancel(t, t->push_id);
	free(t->push_text);
	t->push_text = NULL;
	uv_timer_stop(&t->retry);
	if (traffic_proxy_pid(t)) {
		push(t);
		if (t->cfg.on_change)
			t->cfg.on_change(t->cfg.data);
	}
}

/* ---- life ---- */

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void release_memory(struct traffic *t)
{
	free(t->state_dir);
	free(t->logs_dir);
	free(t->metrics_addr);
	free(t->access_log);
	free(t->sock_path);
	free(t->pid_path);
	free(t->log_path);
	json_decref(t->table);
	free(t->table_text);
	free(t->accepted);
	free(t->refused);
	free(t->push_text);
	traffic_proxy_release_held(t);
	free(t);
}

int traffic_new(struct traffic **out, const struct traffic_config *cfg, struct sw_err *err)
{
	struct traffic *t = xcalloc(1, sizeof(*t));
	struct buf b = BUF_INIT;
	t->hold_chan = -1;
	SW_ASSERT(cfg->loop && cfg->httpc && cfg->state_dir && cfg->logs_dir);
	t->cfg = *cfg;
	t->state_dir = xstrdup(cfg->state_dir);
	t->logs_dir = xstrdup(cfg->logs_dir);
	t->metrics_addr = dup_or_null(cfg->metrics_addr);
	t->access_log = dup_or_null(cfg->access_log);
	t->cfg.state_dir = t->state_dir;
	t->cfg.logs_dir = t->logs_dir;
	t->cfg.metrics_addr = t->metrics_addr;
	t->cfg.access_log = t->access_log;
	t->call_timeout_ms = cfg->call_timeout_ms ? cfg->call_timeout_ms : CALL_TIMEOUT_MS;
	buf_addf(&b, "%s/proxy.sock", t->state_dir);
	t->sock_path = buf_detach(&b);
	buf_addf(&b, "%s/proxy.pid", t->state_dir);
	t->pid_path = buf_detach(&b);
	buf_addf(&b, "%s/proxy.log", t->logs_dir);
	t->log_path = buf_detach(&b);
	if (strlen(t->sock_path) >= 108) {
		int r = sw_errf(err, -1, "state directory \"%s\" is too long for a unix socket path",
				t->state_dir);
		release_memory(t);
		return r;
	}
	t->table = json_pack("{s:[]}", "routes");
	t->table_text = xstrdup("[]");
	uv_timer_init(cfg->loop, &t->retry);
	uv_timer_init(cfg->loop, &t->deferred);
	uv_timer_init(cfg->loop, &t->restart);
	t->retry.data = t->deferred.data = t->restart.data = t;
	t->handles = 3;
	*out = t;
	traffic_proxy_start(t);
	return 0;
}

void traffic_stop(struct traffic *t, bool keep_running)
{
	if (t->stopping)
		return;
	t->stopping = true;
	while (t->calls) {
		if (t->calls->http_id)
			httpc_cancel(t->cfg.httpc, t->calls->http_id);
		call_unlink(t->calls);
	}
	t->push_id = 0;
	uv_timer_stop(&t->retry);
	uv_timer_stop(&t->deferred);
	traffic_proxy_stop(t, keep_running);
}

void traffic_handle_closed(struct traffic *t)
{
	if (--t->handles == 0)
		release_memory(t);
}

static void on_closed(uv_handle_t *h)
{
	traffic_handle_closed(h->data);
}

void traffic_free(struct traffic *t)
{
	if (!t)
		return;
	SW_ASSERT(t->stopping);
	uv_close((uv_handle_t *)&t->retry, on_closed);
	uv_close((uv_handle_t *)&t->deferred, on_closed);
	uv_close((uv_handle_t *)&t->restart, on_closed);
}
