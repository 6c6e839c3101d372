/*
 * Fuzzes the API server's request path: raw bytes of one connection go
 * through http-parser, limits, routing, query/param decoding and handlers
 * exactly as from a socket (http_feed_for_test), with no listener. Each
 * input is fed twice: as the operator on the unix socket, and as a TCP
 * client, whose every request needs the token "fuzz" (a viewer): without
 * those bytes in the input, no TCP request may get a 2xx answer. Two
 * routes defer their answer (a long poll, an event stream), so that the
 * deferred path and the requests pipelined behind it are fuzzed too:
 * every deferred request must be ended exactly once.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http/http.h"

static void h_echo(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)data;
	json_error_t je;
	json_t *j = json_loadb(req->body, req->body_len, 0, &je);
	if (!j) {
		http_resp_error(resp, 400, "invalid JSON at %d:%d: %s", je.line, je.column, je.text);
		return;
	}
	http_resp_json(resp, 200, json_pack("{s:o, s:s, s:s?}", "got", j, "actor", req->actor, "dry",
					   http_req_query(req, "dryRun")));
}

static void h_app(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)data;
	const char *name = http_req_param(req, "name");
	const char *rev = http_req_param(req, "rev");
	json_t *j = json_pack("{s:s, s:s?, s:s?, s:s, s:s}", "name", name, "rev", rev, "limit",
			      http_req_query(req, "limit"), "path", req->path, "query", req->query);
	/* a handler that fails to build JSON must still get a response out */
	http_resp_json(resp, 200, j);
	if (name && name[0] == 'h' && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(name))
		snprintf(resp->extra_headers, sizeof(resp->extra_headers), "X-Name: %s\r\n", name);
}

static void h_weird(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)data;
	/* invalid status and headers: the server must repair them */
	resp->status = req->body_len ? 42 : 204;
	resp->content_type = "text/plain\r\nX-Injected: 1";
	memset(resp->extra_headers, 'A', sizeof(resp->extra_headers));
	buf_adds(&resp->body, "weird\n");
}

static void h_deployer(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)req;
	(void)data;
	http_resp_json(resp, 200, json_pack("{s:b}", "deployer-route-ran", 1));
}

/* Deferred requests opened, and ended (by the handler or the callback). */
static int deferred_open, deferred_ended;

static void deferred_end(struct http_deferred *d, enum http_defer_end why, void *data)
{
	(void)data;
	deferred_ended++;
	if (why == HTTP_DEFER_SHUTDOWN && data) {
		struct http_resp resp = {0};
		http_resp_json(&resp, 200, json_pack("{s:b}", "late", 1));
		http_deferred_answer(d, &resp);
		buf_release(&resp.body);
	}
}

/* GET /v1/wait[?answer=1]: a long poll, ended by the server (or its callback). */
static void h_wait(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)resp;
	(void)data;
	deferred_open++;
	http_defer(req, 1000, deferred_end, http_req_query(req, "answer") ? (void *)1 : NULL);
}

/* GET /v1/stream: an event stream, ended by the server (the handler that
 * deferred may not end it itself: http.h). */
static void h_stream(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)resp;
	(void)data;
	deferred_open++;
	struct http_deferred *d = http_defer(req, 1000, deferred_end, NULL);
	http_deferred_stream(d, 200, "text/event-stream", NULL, ": hb\n\n", 1000);
	http_deferred_write(d, "data: one\n\n", 11);
}

static int auth(const char *token, char *name, size_t size, enum http_role *role, void *data)
{
	(void)data;
	if (strcmp(token, "fuzz") != 0)
		return -1;
	snprintf(name, size, "fuzzer");
	*role = HTTP_ROLE_VIEWER;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_server *api = NULL;
	struct http_config cfg = {.max_body = 64 * 1024, .auth = auth};
	struct sw_err err = {0};
	struct buf out = BUF_INIT;
	if (http_new(&api, &cfg, &err) != 0)
		__builtin_trap();
	http_route(api, "POST", "/v1/echo", HTTP_ROLE_VIEWER, h_echo, NULL);
	http_route(api, "GET", "/v1/apps/{name}", HTTP_ROLE_VIEWER, h_app, NULL);
	http_route(api, "GET", "/v1/apps/{name}/revisions/{rev}", HTTP_ROLE_VIEWER, h_app, NULL);
	http_route(api, "DELETE", "/v1/apps/{name}", HTTP_ROLE_VIEWER, h_app, NULL);
	http_route(api, "PUT", "/v1/weird", HTTP_ROLE_VIEWER, h_weird, NULL);
	http_route(api, "GET", "/", HTTP_ROLE_VIEWER, h_app, NULL);
	http_route(api, "DELETE", "/v1/apps/{name}/x", HTTP_ROLE_DEPLOYER, h_deployer, NULL);
	http_route_max_body(api, "PUT", "/v1/weird", 16);
	http_route(api, "GET", "/v1/wait", HTTP_ROLE_VIEWER, h_wait, NULL);
	http_route(api, "GET", "/v1/stream", HTTP_ROLE_VIEWER, h_stream, NULL);
	deferred_open = deferred_ended = 0;
	http_feed_for_test(api, (const char *)data, size, &out);
	/* every response the server writes starts with a status line */
	if (out.len && memcmp(out.s, "HTTP/1.1 ", 9) != 0)
		__builtin_trap();
	/* JSON bodies escape CR LF, so this can only come from a header */
	if (strstr(buf_str(&out), "\r\nX-Injected"))
		__builtin_trap();
	buf_reset(&out);
	http_feed_tcp_for_test(api, (const char *)data, size, &out);
	if (out.len && memcmp(out.s, "HTTP/1.1 ", 9) != 0)
		__builtin_trap();
	if (!memmem(data, size, "fuzz", 4) && strstr(buf_str(&out), "HTTP/1.1 2"))
		__builtin_trap();
	/* the viewer may not call the deployer's route */
	if (strstr(buf_str(&out), "{\"deployer-route-ran\":true}"))
		__builtin_trap();
	buf_release(&out);
	http_free(api);
	if (deferred_open != deferred_ended)
		__builtin_trap();
	return 0;
}
