/*
 * api tests: a real server on a libuv loop in a background thread, talked
 * to through the blocking client and raw sockets from the test thread.
 * Every wait is a poll() with a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "http/http.h"

#define DEADLINE_MS 10000

struct server {
	char dir[64];
	char sock[96];
	char tcp[64];
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t thread;
	struct http_server *api;
};

/* --- handlers --- */

static void h_history(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)data;
	const char *limit = http_req_query(req, "limit");
	const char *q = http_req_query(req, "q");
	http_resp_json(resp, 200,
		      json_pack("{s:s, s:s?, s:s?, s:s, s:s}", "name", http_req_param(req, "name"), "limit", limit,
				"q", q, "actor", req->actor, "path", req->path));
}

static void h_echo(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)data;
	json_error_t je;
	json_t *j = json_loadb(req->body, req->body_len, 0, &je);
	if (!j) {
		http_resp_error(resp, 400, "invalid JSON: %s", je.text);
		return;
	}
	http_resp_json(resp, 200, json_pack("{s:o, s:s}", "got", j, "actor", req->actor));
}

static void h_delete(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)data;
	resp->status = 204;
	snprintf(resp->extra_headers, sizeof(resp->extra_headers), "X-Deleted: %s\r\n", http_req_param(req, "name"));
}

static int auth_cb(const char *token, char *name, size_t size, enum http_role *role, void *data)
{
	(void)data;
	if (strcmp(token, "look-only") == 0) {
		snprintf(name, size, "viewer-bot");
		*role = HTTP_ROLE_VIEWER;
		return 0;
	}
	if (strcmp(token, "s3cret") != 0)
		return -1;
	snprintf(name, size, "ci-bot");
	*role = HTTP_ROLE_DEPLOYER;
	return 0;
}

/* --- deferred handlers --- */

static uv_loop_t *handler_loop;  /* the loop of the server being started */
static _Atomic int defer_open, defer_gone, defer_timeout, defer_shutdown;

static void count_end(enum http_defer_end why)
{
	defer_open--;
	if (why == HTTP_DEFER_GONE)
		defer_gone++;
	else if (why == HTTP_DEFER_TIMEOUT)
		defer_timeout++;
	else
		defer_shutdown++;
}

/* GET /v1/wait?ms=N[&quiet=1]: nothing until the deadline, then {"timeout":
 * true} (or, quiet, what the server says: 504). */
static void wait_end(struct http_deferred *d, enum http_defer_end why, void *data)
{
	count_end(why);
	if (why == HTTP_DEFER_TIMEOUT && !data) {
		struct http_resp resp = {0};
		http_resp_json(&resp, 200, json_pack("{s:b}", "timeout", 1));
		http_deferred_answer(d, &resp);
		buf_release(&resp.body);
	}
}

static void h_wait(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)resp;
	(void)data;
	const char *ms = http_req_query(req, "ms");
	void *quiet = http_req_query(req, "quiet") ? (void *)1 : NULL;
	defer_open++;
	http_defer(req, ms ? strtoull(ms, NULL, 10) : 0, wait_end, quiet);
}

/* GET /v1/later: answered 20 ms after, from a timer. */
struct later {
	uv_timer_t t;
	struct http_deferred *d;
};

static void later_closed(uv_handle_t *h)
{
	free(h->data);
}

static void later_fire(uv_timer_t *t)
{
	struct later *l = t->data;
	struct http_resp resp = {0};
	defer_open--;
	http_resp_json(&resp, 200, json_pack("{s:b}", "later", 1));
	http_deferred_answer(l->d, &resp);
	buf_release(&resp.body);
	uv_close((uv_handle_t *)&l->t, later_closed);
}

static void later_end(struct http_deferred *d, enum http_defer_end why, void *data)
{
	(void)d;
	struct later *l = data;
	count_end(why);
	uv_timer_stop(&l->t);
	uv_close((uv_handle_t *)&l->t, later_closed);
}

static void h_later(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)resp;
	(void)data;
	struct later *l = calloc(1, sizeof(*l));
	uv_timer_init(handler_loop, &l->t);
	l->t.data = l;
	defer_open++;
	l->d = http_defer(req, 60000, later_end, l);
	uv_timer_start(&l->t, later_fire, 20, 0);
}

/* GET /v1/stream: an event stream with one event and a heartbeat. */
static void stream_end(struct http_deferred *d, enum http_defer_end why, void *data)
{
	(void)data;
	count_end(why);
	if (why == HTTP_DEFER_SHUTDOWN)
		http_deferred_write(d, "event: bye\ndata: {}\n\n", 21);
}

static void h_stream(const struct http_req *req, struct http_resp *resp, void *data)
{
	(void)resp;
	(void)data;
	defer_open++;
	struct http_deferred *d = http_defer(req, 60000, stream_end, NULL);
	http_deferred_stream(d, 200, "text/event-stream", NULL, ": hb\n\n", 30);
	http_deferred_write(d, "data: one\n\n", 11);
}

/* Reads are for viewers, changes for deployers: the route says so. */
static void add_routes(struct http_server *api)
{
	http_route(api, "GET", "/v1/apps/{name}/history", HTTP_ROLE_VIEWER, h_history, NULL);
	http_route(api, "POST", "/v1/echo", HTTP_ROLE_DEPLOYER, h_echo, NULL);
	http_route(api, "DELETE", "/v1/apps/{name}", HTTP_ROLE_DEPLOYER, h_delete, NULL);
	http_route(api, "PUT", "/v1/apps/{name}", HTTP_ROLE_DEPLOYER, h_delete, NULL);
	http_route(api, "POST", "/v1/big", HTTP_ROLE_DEPLOYER, h_echo, NULL);
	http_route_max_body(api, "POST", "/v1/big", 10000);
	http_route(api, "GET", "/v1/wait", HTTP_ROLE_VIEWER, h_wait, NULL);
	http_route(api, "GET", "/v1/later", HTTP_ROLE_VIEWER, h_later, NULL);
	http_route(api, "GET", "/v1/stream", HTTP_ROLE_VIEWER, h_stream, NULL);
}

/* --- server in a thread --- */

static void on_stop(uv_async_t *a)
{
	struct server *s = a->data;
	http_free(s->api);
	uv_close((uv_handle_t *)a, NULL);
}

static void *run_loop(void *arg)
{
	struct server *s = arg;
	uv_run(&s->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void server_start(struct server *s, struct http_config *cfg)
{
	struct sw_err err = {0};
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/sw-api-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->sock, sizeof(s->sock), "%s/slipway.sock", s->dir);
	assert_int_equal(uv_loop_init(&s->loop), 0);
	assert_int_equal(uv_async_init(&s->loop, &s->stop, on_stop), 0);
	s->stop.data = s;
	cfg->loop = &s->loop;
	cfg->unix_path = s->sock;
	if (!cfg->header_timeout_ms)
		cfg->header_timeout_ms = 5000;
	if (!cfg->idle_timeout_ms)
		cfg->idle_timeout_ms = 5000;
	if (!cfg->max_body)
		cfg->max_body = 4096;
	int r = http_new(&s->api, cfg, &err);
	if (r != 0)
		fail_msg("http_new: %s", err.msg);
	handler_loop = &s->loop;
	add_routes(s->api);
	if (http_tcp_port(s->api) > 0)
		snprintf(s->tcp, sizeof(s->tcp), "%s:%d",
			 cfg->tcp_addr[0] == '[' ? "[::1]" : "127.0.0.1", http_tcp_port(s->api));
	assert_int_equal(pthread_create(&s->thread, NULL, run_loop, s), 0);
}

static void server_stop(struct server *s)
{
	struct stat st;
	uv_async_send(&s->stop);
	pthread_join(s->thread, NULL);
	assert_int_equal(uv_loop_close(&s->loop), 0);
	assert_int_equal(stat(s->sock, &st), -1); /* http_free unlinked it */
	rmdir(s->dir);
}

static struct server *start_default(void)
{
	static struct server s;
	struct http_config cfg = {0};
	server_start(&s, &cfg);
	return &s;
}

/* --- raw sockets --- */

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int raw_connect_tcp(const char *addr)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const char *colon = strrchr(addr, ':');
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void raw_send(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

struct counter {
	int complete;
};

static int count_complete(http_parser *p)
{
	((struct counter *)p->data)->complete++;
	return 0;
}

/*
 * Reads into out until `want` complete responses arrived (want > 0) or the
 * peer closed (want == 0); fails the test at the deadline. Returns 1 if
 * the peer closed.
 */
static int raw_read(int fd, struct buf *out, int want)
{
	uint64_t deadline = sw_now_ms() + DEADLINE_MS;
	struct counter cnt = {0};
	http_parser_settings st = {.on_message_complete = count_complete};
	http_parser p;
	char chunk[8192];
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &cnt;
	for (;;) {
		if (want && cnt.complete >= want)
			return 0;
		uint64_t now = sw_now_ms();
		assert_true(now < deadline);
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == ECONNRESET)
			n = 0;
		assert_true(n >= 0);
		if (n == 0)
			return 1;
		buf_add(out, chunk, (size_t)n);
		http_parser_execute(&p, &st, chunk, (size_t)n);
	}
}

/* Sends `req` on a new connection, ends its input, returns everything until close. */
static void raw_exchange(const char *path, const char *req, struct buf *out)
{
	int fd = raw_connect(path);
	raw_send(fd, req, strlen(req));
	shutdown(fd, SHUT_WR); /* the same end of input http_feed_for_test sees */
	assert_int_equal(raw_read(fd, out, 0), 1);
	close(fd);
}

static int count_str(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void do_request(const char *sock, const char *tcp, const char *token, const char *method,
		       const char *path, const char *body, int *status, struct buf *out)
{
	struct http_client c = {.unix_path = (char *)sock, .tcp_addr = (char *)tcp, .token = (char *)token,
			       .timeout_ms = DEADLINE_MS};
	struct sw_err err = {0};
	if (http_client_request(&c, method, path, body, body ? strlen(body) : 0, status, out, &err) != 0)
		fail_msg("request failed: %s", err.msg);
}

/* --- tests --- */

static void test_api__route_params_and_query(void **state)
{
	(void)state;
	struct server *s = start_default();
	struct buf out = BUF_INIT;
	int status;
	do_request(s->sock, NULL, NULL, "GET", "/v1/apps/my%20app/history?limit=5&q=a+b%26c", NULL, &status,
		   &out);
	assert_int_equal(status, 200);
	assert_string_equal(out.s, "{\"name\":\"my app\",\"limit\":\"5\",\"q\":\"a b&c\",\"actor\":\"local\","
				   "\"path\":\"/v1/apps/my app/history\"}\n");
	do_request(s->sock, NULL, NULL, "GET", "/v1/apps/x%2Fy/history", NULL, &status, &out);
	assert_int_equal(status, 200);
	assert_non_null(strstr(out.s, "\"name\":\"x/y\""));
	assert_non_null(strstr(out.s, "\"limit\":null"));
	buf_release(&out);
	server_stop(s);
}

static void test_api__404_and_405(void **state)
{
	(void)state;
	struct server *s = start_default();
	struct buf out = BUF_INIT;
	int status;
	do_request(s->sock, NULL, NULL, "GET", "/v1/x", NULL, &status, &out);
	assert_int_equal(status, 404);
	assert_string_equal(out.s, "{\"error\":\"no such endpoint: GET /v1/x\"}\n");
	/* an empty segment does not match {name} */
	do_request(s->sock, NULL, NULL, "GET", "/v1/apps//history", NULL, &status, &out);
	assert_int_equal(status, 404);

	buf_reset(&out);
	raw_exchange(s->sock, "GET /v1/apps/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &out);
	assert_true(strncmp(out.s, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
	assert_non_null(strstr(out.s, "\r\nAllow: DELETE, PUT\r\n"));
	buf_release(&out);
	server_stop(s);
}

static void test_api__json_body_echo(void **state)
{
	(void)state;
	struct server *s = start_default();
	struct buf out = BUF_INIT;
	int status;
	do_request(s->sock, NULL, NULL, "POST", "/v1/echo", "{\"a\": [1, 2], \"b\": \"\\u00e9\"}", &status, &out);
	assert_int_equal(status, 200);
	assert_string_equal(out.s, "{\"got\":{\"a\":[1,2],\"b\":\"\xc3\xa9\"},\"actor\":\"local\"}\n");
	do_request(s->sock, NULL, NULL, "POST", "/v1/echo", "{nope", &status, &out);
	assert_int_equal(status, 400);
	assert_non_null(strstr(out.s, "\"error\":\"invalid JSON"));
	/* 204 has no body and keeps extra headers */
	buf_reset(&out);
	raw_exchange(s->sock, "DELETE /v1/apps/web HTTP/1.1\r\nConnection: close\r\n\r\n", &out);
	assert_string_equal(out.s, "HTTP/1.1 204 No Content\r\nConnection: close\r\nX-Deleted: web\r\n\r\n");
	buf_release(&out);
	server_stop(s);
}

static void test_api__keep_alive(void **state)
{
	(void)state;
	struct server *s = start_default();
	struct buf out = BUF_INIT;
	int fd = raw_connect(s->sock);
	const char *r1 = "GET /v1/apps/one/history HTTP/1.1\r\nHost: x\r\n\r\n";
	const char *r2 = "GET /v1/apps/two/history HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	raw_send(fd, r1, strlen(r1));
	assert_int_equal(raw_read(fd, &out, 1), 0);
	assert_non_null(strstr(out.s, "Connection: keep-alive\r\n"));
	assert_non_null(strstr(out.s, "\"name\":\"one\""));
	buf_reset(&out);
	raw_send(fd, r2, strlen(r2));
	assert_int_equal(raw_read(fd, &out, 0), 1);
	assert_non_null(strstr(out.s, "Connection: close\r\n"));
	assert_non_null(strstr(out.s, "\"name\":\"two\""));
	assert_int_equal(count_str(out.s, "HTTP/1.1 200"), 1);
	close(fd);

	/* HTTP/1.0 closes unless asked to keep alive */
	buf_reset(&out);
	raw_exchange(s->sock, "GET /v1/apps/a/history HTTP/1.0\r\n\r\n", &out);
	assert_non_null(strstr(out.s, "Connection: close\r\n"));
	buf_reset(&out);
	fd = raw_connect(s->sock);
	const char *r3 = "GET /v1/apps/a/history HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	raw_send(fd, r3, strlen(r3));
	assert_int_equal(raw_read(fd, &out, 1), 0);
	assert_non_null(strstr(out.s, "Connection: keep-alive\r\n"));
	close(fd);
	buf_release(&out);
	server_stop(s);
}

static void test_api__pipelining_in_order(void **state)
{
	(void)state;
	struct server *s = start_default();
	struct buf out = BUF_INIT;
	raw_exchange(s->sock,
		     "GET /v1/apps/a/history HTTP/1.1\r\n\r\n"
		     "POST /v1/echo HTTP/1.1\r\nContent-Length: 7\r\n\r\n{\"b\":1}"
		     "GET /v1/nope HTTP/1.1\r\n\r\n"
		     "GET /v1/apps/c/history HTTP/1.1\r\nConnection: close\r\n\r\n"
		     "GET /v1/apps/never/history HTTP/1.1\r\n\r\n",
		     &out);
	const char *a = strstr(out.s, "\"name\":\"a\"");
	const char *b = strstr(out.s, "{\"got\":{\"b\":1}");
	const char *n = strstr(out.s, "no such endpoint: GET /v1/nope");
	const char *c = strstr(out.s, "\"name\":\"c\"");
	assert_true(a && b && n && c);
	assert_true(a < b && b < n && n < c);
	assert_null(strstr(out.s, "never"));
	assert_int_equal(count_str(out.s, "HTTP/1.1 "), 4);
	buf_release(&out);
	server_stop(s);
}

static void test_api__limits_and_malformed(void **state)
{
	(void)state;
	struct server *s = start_default();
	struct buf out = BUF_INIT, big = BUF_INIT;

	/* headers over 16 KiB */
	buf_adds(&big, "GET /v1/apps/a/history HTTP/1.1\r\nX-Big: ");
	for (int i = 0; i < 20000; i++)
		buf_addc(&big, 'x');
	buf_adds(&big, "\r\n\r\n");
	raw_exchange(s->sock, big.s, &out);
	assert_true(strncmp(out.s, "HTTP/1.1 431 ", 13) == 0);
	assert_non_null(strstr(out.s, "Connection: close\r\n"));

	/* Content-Length over max_body (4096 here): answered before the body */
	buf_reset(&out);
	int fd = raw_connect(s->sock);
	const char *h = "POST /v1/echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n";
	raw_send(fd, h, strlen(h));
	assert_int_equal(raw_read(fd, &out, 0), 1);
	close(fd);
	assert_true(strncmp(out.s, "HTTP/1.1 413 ", 13) == 0);
	assert_non_null(strstr(out.s, "{\"error\":\"request body larger than 4096 bytes\"}\n"));

	/* a chunked body that grows past it */
	buf_reset(&out);
	buf_reset(&big);
	buf_adds(&big, "POST /v1/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 5; i++) {
		buf_adds(&big, "400\r\n");
		for (int k = 0; k < 1024; k++)
			buf_addc(&big, ' ');
		buf_adds(&big, "\r\n");
	}
	buf_adds(&big, "0\r\n\r\n");
	raw_exchange(s->sock, big.s, &out);
	assert_true(strncmp(out.s, "HTTP/1.1 413 ", 13) == 0);

	buf_reset(&out);
	raw_exchange(s->sock, "GARBAGE\r\n\r\n", &out);
	assert_true(strncmp(out.s, "HTTP/1.1 400 ", 13) == 0);
	assert_non_null(strstr(out.s, "malformed request"));

	buf_reset(&out);
	raw_exchange(s->sock,
		     "POST /v1/echo HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "2\r\n{}\r\n0\r\n\r\n",
		     &out);
	assert_true(strncmp(out.s, "HTTP/1.1 400 ", 13) == 0);
	assert_int_equal(count_str(out.s, "HTTP/1.1 "), 1);

	/* an error after a good pipelined request: the first is answered */
	buf_reset(&out);
	raw_exchange(s->sock, "GET /v1/apps/a/history HTTP/1.1\r\n\r\nBAD REQUEST\r\n\r\n", &out);
	assert_true(strncmp(out.s, "HTTP/1.1 200 ", 13) == 0);
	assert_non_null(strstr(out.s, "HTTP/1.1 400 "));

	/* paths that decode to a NUL or to invalid UTF-8 */
	buf_reset(&out);
	raw_exchange(s->sock, "GET /v1/apps/a%00b/history HTTP/1.1\r\n\r\n", &out);
	assert_true(strncmp(out.s, "HTTP/1.1 400 ", 13) == 0);
	buf_reset(&out);
	raw_exchange(s->sock, "GET /v1/apps/%ff/history HTTP/1.1\r\n\r\n", &out);
	assert_true(strncmp(out.s, "HTTP/1.1 400 ", 13) == 0);
	buf_reset(&out);
	raw_exchange(s->sock, "GET /v1/apps/a/history?limit=%zz HTTP/1.1\r\n\r\n", &out);
	assert_true(strncmp(out.s, "HTTP/1.1 400 ", 13) == 0);

	buf_release(&out);
	buf_release(&big);
	server_stop(s);
}

static void test_api__chunked_request_body(void **state)
{
	(void)state;
	struct server *s = start_default();
	struct buf out = BUF_INIT;
	int fd = raw_connect(s->sock);
	const char *parts[] = {
		"POST /v1/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
		"5\r\n{\"ok\"\r\n",
		"3\r\n:[1\r\n",
		"2\r\n]}\r\n0\r\n\r\n",
	};
	for (size_t i = 0; i < 4; i++)
		raw_send(fd, parts[i], strlen(parts[i]));
	assert_int_equal(raw_read(fd, &out, 0), 1);
	close(fd);
	assert_non_null(strstr(out.s, "\r\n\r\n{\"got\":{\"ok\":[1]},\"actor\":\"local\"}\n"));
	buf_release(&out);
	server_stop(s);
}

static void test_api__tcp_needs_bearer_token(void **state)
{
	(void)state;
	static struct server s;
	struct http_config cfg = {.tcp_addr = "127.0.0.1:0", .auth = auth_cb};
	struct buf out = BUF_INIT;
	int status;
	server_start(&s, &cfg);
	assert_true(http_tcp_port(s.api) > 0);

	do_request(NULL, s.tcp, NULL, "GET", "/v1/apps/a/history", NULL, &status, &out);
	assert_int_equal(status, 401);
	assert_string_equal(out.s, "{\"error\":\"missing bearer token\"}\n");
	do_request(NULL, s.tcp, "wrong", "GET", "/v1/apps/a/history", NULL, &status, &out);
	assert_int_equal(status, 401);
	assert_string_equal(out.s, "{\"error\":\"invalid bearer token\"}\n");
	do_request(NULL, s.tcp, "s3cret", "GET", "/v1/apps/a/history", NULL, &status, &out);
	assert_int_equal(status, 200);
	assert_non_null(strstr(out.s, "\"actor\":\"ci-bot\""));
	/* unauthenticated callers do not learn which endpoints exist */
	do_request(NULL, s.tcp, NULL, "GET", "/v1/nope", NULL, &status, &out);
	assert_int_equal(status, 401);

	buf_reset(&out);
	int fd = raw_connect_tcp(s.tcp);
	const char *r = "GET /v1/apps/a/history HTTP/1.1\r\nAuthorization: Basic eDp5\r\n\r\n";
	raw_send(fd, r, strlen(r));
	assert_int_equal(raw_read(fd, &out, 0), 1);
	close(fd);
	assert_true(strncmp(out.s, "HTTP/1.1 401 Unauthorized\r\n", 27) == 0);
	assert_non_null(strstr(out.s, "\r\nWWW-Authenticate: Bearer\r\n"));

	/* a body over the limit is refused with 413, which the client gets to read */
	struct buf big = BUF_INIT;
	buf_addc(&big, '"');
	for (int i = 0; i < 300000; i++)
		buf_addc(&big, 'x');
	buf_addc(&big, '"');
	do_request(NULL, s.tcp, "s3cret", "POST", "/v1/echo", big.s, &status, &out);
	assert_int_equal(status, 413);
	do_request(s.sock, NULL, NULL, "POST", "/v1/echo", big.s, &status, &out);
	assert_int_equal(status, 413);
	buf_release(&big);

	/* the unix socket needs no token */
	do_request(s.sock, NULL, NULL, "GET", "/v1/apps/a/history", NULL, &status, &out);
	assert_int_equal(status, 200);
	assert_non_null(strstr(out.s, "\"actor\":\"local\""));
	buf_release(&out);
	server_stop(&s);
}

/* --api takes what core/addr reads: an IPv6 listener, and a client that
 * connects to it. */
static void test_api__tcp_over_ipv6(void **state)
{
	(void)state;
	static struct server s;
	struct http_config cfg = {.tcp_addr = "[::1]:0", .auth = auth_cb};
	struct buf out = BUF_INIT;
	int status;
	server_start(&s, &cfg);
	assert_true(http_tcp_port(s.api) > 0);
	assert_true(strncmp(s.tcp, "[::1]:", 6) == 0);
	do_request(NULL, s.tcp, "s3cret", "GET", "/v1/apps/a/history", NULL, &status, &out);
	assert_int_equal(status, 200);
	assert_non_null(strstr(out.s, "\"actor\":\"ci-bot\""));
	buf_release(&out);
	server_stop(&s);
}

static void test_api__forbidden_call_gets_403(void **state)
{
	(void)state;
	static struct server s;
	struct http_config cfg = {.tcp_addr = "127.0.0.1:0", .auth = auth_cb};
	struct buf out = BUF_INIT;
	int status;
	server_start(&s, &cfg);

	do_request(NULL, s.tcp, "look-only", "GET", "/v1/apps/a/history", NULL, &status, &out);
	assert_int_equal(status, 200);
	assert_non_null(strstr(out.s, "\"actor\":\"viewer-bot\""));
	do_request(NULL, s.tcp, "look-only", "POST", "/v1/echo", "{\"a\":1}", &status, &out);
	assert_int_equal(status, 403);
	assert_string_equal(out.s,
			    "{\"error\":\"token \\\"viewer-bot\\\" (role viewer) may not POST /v1/echo\"}\n");
	buf_reset(&out);
	int fd = raw_connect_tcp(s.tcp);
	const char *r = "DELETE /v1/apps/x HTTP/1.1\r\nAuthorization: Bearer look-only\r\n\r\n";
	raw_send(fd, r, strlen(r));
	assert_int_equal(raw_read(fd, &out, 0), 1);
	close(fd);
	assert_true(strncmp(out.s, "HTTP/1.1 403 Forbidden\r\n", 24) == 0);
	assert_null(strstr(out.s, "WWW-Authenticate"));

	/* the server keeps serving others */
	do_request(NULL, s.tcp, "s3cret", "POST", "/v1/echo", "{\"a\":1}", &status, &out);
	assert_int_equal(status, 200);
	buf_release(&out);
	server_stop(&s);
}

static void test_api__bad_tcp_addresses_rejected(void **state)
{
	(void)state;
	uv_loop_t loop;
	const char *bad[] = {"example.com:80", "::1:80", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:x",
			     ":80", "127.0.0.01:80"};
	assert_int_equal(uv_loop_init(&loop), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_server *api = NULL;
		struct sw_err err = {0};
		struct http_config cfg = {.loop = &loop, .tcp_addr = bad[i], .auth = auth_cb};
		assert_int_not_equal(http_new(&api, &cfg, &err), 0);
		assert_null(api);
		assert_non_null(strstr(err.msg, "invalid tcp address"));
	}
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_api__unix_socket_mode_and_single_daemon(void **state)
{
	(void)state;
	struct server *s = start_default();
	struct stat st;
	assert_int_equal(stat(s->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* a second server on the same live socket */
	uv_loop_t loop;
	struct http_server *api = NULL;
	struct sw_err err = {0};
	assert_int_equal(uv_loop_init(&loop), 0);
	struct http_config cfg = {.loop = &loop, .unix_path = s->sock};
	assert_int_not_equal(http_new(&api, &cfg, &err), 0);
	struct buf want = BUF_INIT;
	buf_addf(&want, "another daemon is listening on %s", s->sock);
	assert_string_equal(err.msg, want.s);
	buf_release(&want);
	assert_int_equal(uv_loop_close(&loop), 0);

	/* and the first one still works */
	struct buf out = BUF_INIT;
	int status;
	do_request(s->sock, NULL, NULL, "GET", "/v1/apps/a/history", NULL, &status, &out);
	assert_int_equal(status, 200);
	buf_release(&out);
	server_stop(s);
}

static void test_api__stale_socket_replaced(void **state)
{
	(void)state;
	char dir[] = "/tmp/sw-api-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/slipway.sock", dir);
	/* a socket file left by a dead daemon: bound, never unlinked */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);

	uv_loop_t loop;
	struct http_server *api = NULL;
	struct sw_err err = {0};
	assert_int_equal(uv_loop_init(&loop), 0);
	struct http_config cfg = {.loop = &loop, .unix_path = path};
	if (http_new(&api, &cfg, &err) != 0)
		fail_msg("http_new: %s", err.msg);
	fd = raw_connect(path); /* it accepts again */
	close(fd);
	http_free(api);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(access(path, F_OK), -1);

	/* a regular file is not ours to delete */
	FILE *f = fopen(path, "w");
	fclose(f);
	assert_int_equal(uv_loop_init(&loop), 0);
	sw_err_clear(&err);
	assert_int_not_equal(http_new(&api, &cfg, &err), 0);
	assert_non_null(strstr(err.msg, "is not a socket"));
	assert_int_equal(uv_loop_close(&loop), 0);
	unlink(path);
	rmdir(dir);
}

static void test_api__feed_matches_socket(void **state)
{
	(void)state;
	struct server *s = start_default();
	const char *reqs[] = {
		"GET /v1/apps/web/history?limit=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		("GET /v1/apps/a/history HTTP/1.1\r\n\r\nPOST /v1/echo HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
		 "PUT /v1/echo HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\nxyz\r\n\r\n"),
		"POST /v1/echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n{}",
	};
	struct http_server *feed = NULL;
	struct http_config cfg = {.max_body = 4096};
	struct sw_err err = {0};
	assert_int_equal(http_new(&feed, &cfg, &err), 0);
	add_routes(feed);
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct buf a = BUF_INIT, b = BUF_INIT;
		raw_exchange(s->sock, reqs[i], &a);
		assert_int_equal(http_feed_for_test(feed, reqs[i], strlen(reqs[i]), &b), 0);
		assert_true(a.len > 0);
		assert_string_equal(a.s, b.s);
		buf_release(&a);
		buf_release(&b);
	}
	http_free(feed);
	server_stop(s);
}

static void test_api__timeouts(void **state)
{
	(void)state;
	static struct server s;
	struct http_config cfg = {.header_timeout_ms = 100, .idle_timeout_ms = 200};
	struct buf out = BUF_INIT;
	server_start(&s, &cfg);

	/* headers that never finish: 408, then closed */
	int fd = raw_connect(s.sock);
	raw_send(fd, "GET /v1/apps/a/history HTTP/1.1\r\nHo", 35);
	assert_int_equal(raw_read(fd, &out, 0), 1);
	close(fd);
	assert_true(strncmp(out.s, "HTTP/1.1 408 ", 13) == 0);

	/* a connection that says nothing is closed */
	buf_reset(&out);
	fd = raw_connect(s.sock);
	assert_int_equal(raw_read(fd, &out, 0), 1);
	assert_int_equal(out.len, 0);
	close(fd);

	/* an idle keep-alive connection too, after its answer */
	buf_reset(&out);
	fd = raw_connect(s.sock);
	raw_send(fd, "GET /v1/apps/a/history HTTP/1.1\r\n\r\n", 35);
	assert_int_equal(raw_read(fd, &out, 0), 1);
	assert_int_equal(count_str(out.s, "HTTP/1.1 200 "), 1);
	close(fd);
	buf_release(&out);
	server_stop(&s);
}

static void test_api__client_errors_are_clear(void **state)
{
	(void)state;
	struct http_client c = {.unix_path = "/tmp/sw-api-does-not-exist/slipway.sock", .timeout_ms = 1000};
	struct sw_err err = {0};
	struct buf out = BUF_INIT;
	int status = -1;
	assert_int_equal(http_client_request(&c, "GET", "/v1/apps", NULL, 0, &status, &out, &err), -1);
	assert_string_equal(err.msg, "cannot connect to slipway at /tmp/sw-api-does-not-exist/slipway.sock: "
				     "No such file or directory (is the daemon running? start it with "
				     "`slipway serve`)");

	/* a server that accepts but never answers: the timeout */
	char dir[] = "/tmp/sw-api-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	c.unix_path = path;
	c.timeout_ms = 200;
	sw_err_clear(&err);
	assert_int_equal(http_client_request(&c, "GET", "/v1/apps", NULL, 0, &status, &out, &err), -1);
	assert_non_null(strstr(err.msg, "timed out after 200 ms"));
	close(lfd);
	unlink(path);
	rmdir(dir);

	sw_err_clear(&err);
	c.unix_path = "/tmp/x.sock";
	assert_int_equal(http_client_request(&c, "GET", "/v1/a b", NULL, 0, &status, &out, &err), -1);
	buf_release(&out);
}

/* The client reads bodies delimited by close and chunked ones too. */
struct fake {
	int lfd;
	const char *reply;
};

static void *fake_server(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	char tmp[4096];
	ssize_t n = 0;
	size_t got = 0;
	/* read the request headers */
	while (got < sizeof(tmp) - 1 && (n = recv(fd, tmp + got, sizeof(tmp) - 1 - got, 0)) > 0) {
		got += (size_t)n;
		tmp[got] = '\0';
		if (strstr(tmp, "\r\n\r\n"))
			break;
	}
	send(fd, f->reply, strlen(f->reply), MSG_NOSIGNAL);
	close(fd);
	return NULL;
}

static void test_api__client_reads_chunked_and_close_delimited(void **state)
{
	(void)state;
	const char *replies[] = {
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
		"HTTP/1.0 201 Created\r\n\r\n{\"a\":1}",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
	};
	int want[] = {200, 201, 202};
	char dir[] = "/tmp/sw-api-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	for (int i = 0; i < 3; i++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		struct fake f = {.lfd = socket(AF_UNIX, SOCK_STREAM, 0), .reply = replies[i]};
		assert_int_equal(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(f.lfd, 4), 0);
		pthread_t th;
		pthread_create(&th, NULL, fake_server, &f);
		struct buf out = BUF_INIT;
		int status;
		do_request(path, NULL, NULL, "POST", "/v1/x", "{}", &status, &out);
		assert_int_equal(status, want[i]);
		assert_string_equal(out.s, "{\"a\":1}");
		pthread_join(th, NULL);
		close(f.lfd);
		unlink(path);
		buf_release(&out);
	}
	rmdir(dir);
}

/* A server that hangs up without a word: the client says what that may mean. */
static void test_api__client_explains_a_silent_close(void **state)
{
	(void)state;
	char dir[] = "/tmp/sw-api-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	struct fake f = {.lfd = socket(AF_UNIX, SOCK_STREAM, 0), .reply = ""};
	assert_int_equal(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f.lfd, 4), 0);
	pthread_t th;
	pthread_create(&th, NULL, fake_server, &f);
	struct http_client c = {.unix_path = path, .timeout_ms = DEADLINE_MS};
	struct sw_err err = {0};
	struct buf out = BUF_INIT;
	int status;
	assert_int_equal(http_client_request(&c, "GET", "/v1/apps", NULL, 0, &status, &out, &err), -1);
	assert_non_null(strstr(err.msg, "closed the connection without answering; it may have too many "
					"connections open"));
	pthread_join(th, NULL);
	close(f.lfd);
	unlink(path);
	rmdir(dir);
	buf_release(&out);
}

static void test_api__free_from_handler(void **state)
{
	(void)state;
	/* http_free inside a handler must not crash; fed connections too */
	struct http_server *api = NULL;
	struct http_config cfg = {0};
	struct sw_err err = {0};
	struct buf out = BUF_INIT;
	assert_int_equal(http_new(&api, &cfg, &err), 0);
	add_routes(api);
	const char *req = "GET /v1/apps/a/history HTTP/1.1\r\n\r\nGET /v1/apps/b/history HTTP/1.1\r\n\r\n";
	assert_int_equal(http_feed_for_test(api, req, strlen(req), &out), 0);
	assert_int_equal(count_str(out.s, "HTTP/1.1 200 OK"), 2);
	http_free(api);
	buf_release(&out);
}

/* Idle TCP connections that never send a byte cannot lock out the unix socket. */
static void test_api__idle_tcp_cannot_starve_the_operator(void **state)
{
	(void)state;
	static struct server s;
	struct http_config cfg = {.tcp_addr = "127.0.0.1:0", .auth = auth_cb, .max_conns = 8,
				  .max_client_conns = 4, .header_timeout_ms = 20000, .idle_timeout_ms = 20000};
	struct buf out = BUF_INIT;
	int fds[12], status;
	server_start(&s, &cfg);
	for (int i = 0; i < 12; i++)
		fds[i] = raw_connect_tcp(s.tcp);
	/* past the fourth, each is told why and closed */
	assert_int_equal(raw_read(fds[11], &out, 0), 1);
	assert_true(strncmp(out.s, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);
	assert_non_null(strstr(out.s, "\r\nRetry-After: 1\r\n"));
	assert_non_null(strstr(out.s, "{\"error\":\"too many connections from 127.0.0.1 (at most 4 at a time); "
				      "try again later\"}"));
	/* the operator has seats of their own, more than the whole TCP budget */
	int ufds[10];
	for (int i = 0; i < 10; i++)
		ufds[i] = raw_connect(s.sock);
	do_request(s.sock, NULL, NULL, "GET", "/v1/apps/a/history", NULL, &status, &out);
	assert_int_equal(status, 503);
	assert_non_null(strstr(out.s, "the API has 8 connections open, its limit"));
	for (int i = 0; i < 10; i++)
		close(ufds[i]);
	uint64_t deadline = sw_now_ms() + DEADLINE_MS;
	do {
		do_request(s.sock, NULL, NULL, "GET", "/v1/apps/a/history", NULL, &status, &out);
		assert_true(sw_now_ms() < deadline);
	} while (status == 503);
	assert_int_equal(status, 200);
	for (int i = 0; i < 12; i++)
		close(fds[i]);
	buf_release(&out);
	server_stop(&s);
}

/* A stranger that says nothing gets the header timeout, not the idle one. */
static void test_api__silent_tcp_connection_gets_the_header_timeout(void **state)
{
	(void)state;
	static struct server s;
	struct http_config cfg = {.tcp_addr = "127.0.0.1:0", .auth = auth_cb, .header_timeout_ms = 100,
				  .idle_timeout_ms = 60000};
	struct buf out = BUF_INIT;
	server_start(&s, &cfg);
	int fd = raw_connect_tcp(s.tcp);
	uint64_t t0 = sw_now_ms();
	assert_int_equal(raw_read(fd, &out, 0), 1); /* raw_read fails the test after 10 s */
	assert_true(sw_now_ms() - t0 < 60000);
	close(fd);
	/* once a request went through, the connection may idle longer */
	fd = raw_connect_tcp(s.tcp);
	const char *r = "GET /v1/apps/a/history HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n";
	raw_send(fd, r, strlen(r));
	assert_int_equal(raw_read(fd, &out, 1), 0);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 500), 0);
	close(fd);
	buf_release(&out);
	server_stop(&s);
}

static void test_api__one_authorization_header_only(void **state)
{
	(void)state;
	static struct server s;
	struct http_config cfg = {.tcp_addr = "127.0.0.1:0", .auth = auth_cb};
	struct buf out = BUF_INIT;
	server_start(&s, &cfg);
	int fd = raw_connect_tcp(s.tcp);
	const char *r = "DELETE /v1/apps/a HTTP/1.1\r\nAuthorization: Bearer look-only\r\n"
			"Authorization: Bearer s3cret\r\n\r\n";
	raw_send(fd, r, strlen(r));
	assert_int_equal(raw_read(fd, &out, 0), 1);
	close(fd);
	assert_true(strncmp(out.s, "HTTP/1.1 400 ", 13) == 0);
	assert_non_null(strstr(out.s, "more than one Authorization header"));
	buf_release(&out);
	server_stop(&s);
}

static void test_api__head_where_get_and_http_versions(void **state)
{
	(void)state;
	struct server *s = start_default();
	struct buf get = BUF_INIT, head = BUF_INIT, out = BUF_INIT;
	raw_exchange(s->sock, "GET /v1/apps/a/history HTTP/1.1\r\nConnection: close\r\n\r\n", &get);
	raw_exchange(s->sock, "HEAD /v1/apps/a/history HTTP/1.1\r\nConnection: close\r\n\r\n", &head);
	assert_true(strncmp(head.s, "HTTP/1.1 200 OK\r\n", 17) == 0);
	/* the same headers, no body */
	const char *end = strstr(get.s, "\r\n\r\n");
	assert_non_null(end);
	assert_int_equal(head.len, (size_t)(end - get.s) + 4);
	assert_true(memcmp(head.s, get.s, head.len) == 0);
	/* and HEAD is in Allow where GET is */
	raw_exchange(s->sock, "POST /v1/apps/a/history HTTP/1.1\r\nConnection: close\r\n\r\n", &out);
	assert_non_null(strstr(out.s, "\r\nAllow: GET, HEAD\r\n"));

	buf_reset(&out);
	raw_exchange(s->sock, "GET /v1/apps/a/history HTTP/2.0\r\n\r\n", &out);
	assert_true(strncmp(out.s, "HTTP/1.1 505 HTTP Version Not Supported\r\n", 41) == 0);
	assert_non_null(strstr(out.s, "HTTP/2.0 is not supported"));
	buf_reset(&out);
	raw_exchange(s->sock, "GET /v1/apps/a/history\r\n\r\n", &out);
	assert_true(strncmp(out.s, "HTTP/1.1 400 ", 13) == 0);
	assert_non_null(strstr(out.s, "request line has no HTTP version"));
	buf_release(&get);
	buf_release(&head);
	buf_release(&out);
	server_stop(s);
}

/* The unix socket knows its peer: another uid is no operator and needs a token. */
static void test_api__unix_peer_by_uid(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* needs to become another uid */
	static struct server s;
	struct http_config cfg = {.auth = auth_cb};
	server_start(&s, &cfg);
	chmod(s.dir, 0755);
	chmod(s.sock, 0666); /* let the other uid reach it at all */
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		char msg[1200] = "";
		struct buf out = BUF_INIT;
		int st1 = 0, st2 = 0;
		struct sw_err err = {0};
		struct http_client c = {.unix_path = s.sock, .timeout_ms = DEADLINE_MS};
		if (setgid(65534) == 0 && setuid(65534) == 0 &&
		    http_client_request(&c, "GET", "/v1/apps/a/history", NULL, 0, &st1, &out, &err) == 0) {
			c.token = "look-only";
			if (http_client_request(&c, "GET", "/v1/apps/a/history", NULL, 0, &st2, &out, &err) == 0)
				snprintf(msg, sizeof(msg), "%d %d %s", st1, st2, buf_str(&out));
		}
		if (!msg[0])
			snprintf(msg, sizeof(msg), "error %s", err.msg);
		ssize_t w = write(pipefd[1], msg, strlen(msg));
		_exit(w > 0 ? 0 : 1);
	}
	close(pipefd[1]);
	char got[1200] = "";
	ssize_t n = 0, k;
	while ((k = read(pipefd[0], got + n, sizeof(got) - 1 - (size_t)n)) > 0)
		n += k;
	got[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
	waitpid(pid, NULL, 0);
	assert_non_null(strstr(got, "401 200 "));
	assert_non_null(strstr(got, "\"actor\":\"viewer-bot\""));
	/* the daemon's own uid is the operator, no token */
	struct buf out = BUF_INIT;
	int status;
	do_request(s.sock, NULL, NULL, "GET", "/v1/apps/a/history", NULL, &status, &out);
	assert_int_equal(status, 200);
	assert_non_null(strstr(out.s, "\"actor\":\"local\""));
	buf_release(&out);
	server_stop(&s);
}

/* A route may take bigger bodies than the server's limit; others keep it. */
static void test_api__route_body_limit(void **state)
{
	(void)state;
	static struct server s;
	struct http_config cfg = {0};
	struct buf out = BUF_INIT, big = BUF_INIT;
	int status;
	server_start(&s, &cfg); /* max_body 4096, POST /v1/big 10000 */
	buf_adds(&big, "[\"");
	for (int i = 0; i < 8000; i++)
		buf_addc(&big, 'x');
	buf_adds(&big, "\"]");
	do_request(s.sock, NULL, NULL, "POST", "/v1/big", big.s, &status, &out);
	assert_int_equal(status, 200);
	do_request(s.sock, NULL, NULL, "POST", "/v1/echo", big.s, &status, &out);
	assert_int_equal(status, 413);
	assert_string_equal(out.s, "{\"error\":\"request body larger than 4096 bytes\"}\n");
	for (int i = 0; i < 3000; i++)
		buf_addc(&big, 'x');
	do_request(s.sock, NULL, NULL, "POST", "/v1/big", big.s, &status, &out);
	assert_int_equal(status, 413);
	assert_string_equal(out.s, "{\"error\":\"request body larger than 10000 bytes\"}\n");
	buf_release(&out);
	buf_release(&big);
	server_stop(&s);
}

/* Polls until *v == want, failing at the deadline. */
static void wait_count(_Atomic int *v, int want)
{
	uint64_t deadline = sw_now_ms() + DEADLINE_MS;
	while (*v != want) {
		assert_true(sw_now_ms() < deadline);
		poll(NULL, 0, 5);
	}
}

static void defer_counts_reset(void)
{
	defer_open = defer_gone = defer_timeout = defer_shutdown = 0;
}

/* Answered later from the loop; the request pipelined behind it waits and
 * is answered after it, on the same keep-alive connection. */
static void test_http__deferred_answer_then_pipelined(void **state)
{
	(void)state;
	struct server *s = start_default();
	struct buf out = BUF_INIT;
	defer_counts_reset();
	int fd = raw_connect(s->sock);
	const char *req = "GET /v1/later HTTP/1.1\r\n\r\nGET /v1/apps/a/history HTTP/1.1\r\n\r\n";
	raw_send(fd, req, strlen(req));
	assert_int_equal(raw_read(fd, &out, 2), 0);
	const char *later = strstr(out.s, "\"later\"");
	const char *hist = strstr(out.s, "\"name\":\"a\"");
	assert_non_null(later);
	assert_non_null(hist);
	assert_true(later < hist);
	assert_int_equal(count_str(out.s, "Connection: keep-alive"), 2);
	/* and the connection still serves */
	buf_reset(&out);
	raw_send(fd, "GET /v1/later HTTP/1.1\r\n\r\n", 26);
	assert_int_equal(raw_read(fd, &out, 1), 0);
	assert_non_null(strstr(out.s, "\"later\""));
	close(fd);
	buf_release(&out);
	server_stop(s);
	assert_int_equal(defer_open, 0);
	assert_int_equal(defer_gone + defer_timeout + defer_shutdown, 0);
}

/* A deferred request outlives the header and idle timeouts (its headers
 * are in) and ends at its own deadline: the handler's answer, or 504. */
static void test_http__deferred_deadline_not_header_timeout(void **state)
{
	(void)state;
	static struct server s;
	struct http_config cfg = {.header_timeout_ms = 100, .idle_timeout_ms = 200};
	struct buf out = BUF_INIT;
	defer_counts_reset();
	server_start(&s, &cfg);
	int fd = raw_connect(s.sock);
	raw_send(fd, "GET /v1/wait?ms=600 HTTP/1.1\r\n\r\n", 32);
	assert_int_equal(raw_read(fd, &out, 1), 0);
	assert_true(strncmp(out.s, "HTTP/1.1 200 ", 13) == 0);
	assert_non_null(strstr(out.s, "{\"timeout\":true}"));
	assert_int_equal(defer_timeout, 1);
	buf_reset(&out);
	raw_send(fd, "GET /v1/wait?ms=300&quiet=1 HTTP/1.1\r\n\r\n", 40);
	assert_int_equal(raw_read(fd, &out, 1), 0);
	assert_true(strncmp(out.s, "HTTP/1.1 504 ", 13) == 0);
	assert_int_equal(defer_timeout, 2);
	close(fd);
	buf_release(&out);
	server_stop(&s);
}

/* A client that hangs up releases its deferred request at once, long
 * before its deadline; one that only ends its input too. */
static void test_http__deferred_client_gone_releases(void **state)
{
	(void)state;
	struct server *s = start_default();
	defer_counts_reset();
	int fd = raw_connect(s->sock);
	raw_send(fd, "GET /v1/wait?ms=3600000 HTTP/1.1\r\n\r\n", 36);
	wait_count(&defer_open, 1);
	close(fd);
	wait_count(&defer_gone, 1);
	assert_int_equal(defer_open, 0);

	fd = raw_connect(s->sock);
	raw_send(fd, "GET /v1/stream HTTP/1.1\r\n\r\n", 27);
	wait_count(&defer_open, 1);
	shutdown(fd, SHUT_WR);
	wait_count(&defer_gone, 2);
	close(fd);
	server_stop(s);
	assert_int_equal(defer_timeout + defer_shutdown, 0);
}

/* At shutdown a waiting request is answered (503, Retry-After) and a stream
 * gets its last words, before the connections close. */
static void test_http__deferred_shutdown_answers(void **state)
{
	(void)state;
	struct server *s = start_default();
	struct buf a = BUF_INIT, b = BUF_INIT;
	defer_counts_reset();
	int fa = raw_connect(s->sock);
	raw_send(fa, "GET /v1/wait?ms=3600000&quiet=1 HTTP/1.1\r\n\r\n", 44);
	int fb = raw_connect(s->sock);
	raw_send(fb, "GET /v1/stream HTTP/1.1\r\n\r\n", 27);
	wait_count(&defer_open, 2);
	server_stop(s);
	assert_int_equal(defer_shutdown, 2);
	assert_int_equal(raw_read(fa, &a, 0), 1);
	assert_true(strncmp(a.s, "HTTP/1.1 503 ", 13) == 0);
	assert_non_null(strstr(a.s, "Retry-After: 1\r\n"));
	assert_non_null(strstr(a.s, "Connection: close\r\n"));
	assert_int_equal(raw_read(fb, &b, 0), 1);
	assert_non_null(strstr(b.s, "data: one\n\n"));
	assert_non_null(strstr(b.s, "event: bye\n"));
	close(fa);
	close(fb);
	buf_release(&a);
	buf_release(&b);
}

/* A stream has no Content-Length, and a heartbeat while it is quiet. */
static void test_http__deferred_stream_heartbeat(void **state)
{
	(void)state;
	struct server *s = start_default();
	struct buf out = BUF_INIT;
	char chunk[4096];
	uint64_t deadline = sw_now_ms() + DEADLINE_MS;
	defer_counts_reset();
	int fd = raw_connect(s->sock);
	raw_send(fd, "GET /v1/stream HTTP/1.1\r\n\r\n", 27);
	while (count_str(buf_str(&out), ": hb\n\n") < 2) {
		assert_true(sw_now_ms() < deadline);
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		assert_true(n > 0);
		buf_add(&out, chunk, (size_t)n);
	}
	assert_true(strncmp(out.s, "HTTP/1.1 200 ", 13) == 0);
	assert_non_null(strstr(out.s, "Content-Type: text/event-stream\r\n"));
	assert_null(strstr(out.s, "Content-Length"));
	assert_true(strstr(out.s, "data: one\n\n") < strstr(out.s, ": hb\n\n"));
	close(fd);
	wait_count(&defer_gone, 1);
	/* HEAD: the headers, then the end */
	buf_reset(&out);
	fd = raw_connect(s->sock);
	raw_send(fd, "HEAD /v1/stream HTTP/1.1\r\n\r\n", 28);
	assert_int_equal(raw_read(fd, &out, 0), 1);
	assert_non_null(strstr(out.s, "text/event-stream"));
	assert_null(strstr(out.s, "data:"));
	close(fd);
	buf_release(&out);
	server_stop(s);
}

/* Fed bytes (the fuzz target's path): the end of input is a client gone. */
static void test_http__deferred_fed(void **state)
{
	(void)state;
	struct http_server *api = NULL;
	struct http_config cfg = {0};
	struct sw_err err = {0};
	struct buf out = BUF_INIT;
	defer_counts_reset();
	assert_int_equal(http_new(&api, &cfg, &err), 0);
	add_routes(api);
	const char *req = "GET /v1/apps/a/history HTTP/1.1\r\n\r\nGET /v1/stream HTTP/1.1\r\n\r\n"
			  "GET /v1/wait HTTP/1.1\r\n\r\n";
	assert_int_equal(http_feed_for_test(api, req, strlen(req), &out), 0);
	assert_int_equal(count_str(out.s, "HTTP/1.1 200 OK"), 2);
	assert_non_null(strstr(out.s, "data: one"));
	assert_int_equal(defer_gone, 1);
	assert_int_equal(defer_open, 0);
	http_free(api);
	buf_release(&out);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api__route_params_and_query),
		cmocka_unit_test(test_api__404_and_405),
		cmocka_unit_test(test_api__json_body_echo),
		cmocka_unit_test(test_api__keep_alive),
		cmocka_unit_test(test_api__pipelining_in_order),
		cmocka_unit_test(test_api__limits_and_malformed),
		cmocka_unit_test(test_api__chunked_request_body),
		cmocka_unit_test(test_api__tcp_needs_bearer_token),
		cmocka_unit_test(test_api__forbidden_call_gets_403),
		cmocka_unit_test(test_api__bad_tcp_addresses_rejected),
		cmocka_unit_test(test_api__tcp_over_ipv6),
		cmocka_unit_test(test_api__unix_socket_mode_and_single_daemon),
		cmocka_unit_test(test_api__stale_socket_replaced),
		cmocka_unit_test(test_api__feed_matches_socket),
		cmocka_unit_test(test_api__timeouts),
		cmocka_unit_test(test_api__client_errors_are_clear),
		cmocka_unit_test(test_api__client_reads_chunked_and_close_delimited),
		cmocka_unit_test(test_api__free_from_handler),
		cmocka_unit_test(test_api__client_explains_a_silent_close),
		cmocka_unit_test(test_api__idle_tcp_cannot_starve_the_operator),
		cmocka_unit_test(test_api__silent_tcp_connection_gets_the_header_timeout),
		cmocka_unit_test(test_api__one_authorization_header_only),
		cmocka_unit_test(test_api__head_where_get_and_http_versions),
		cmocka_unit_test(test_api__unix_peer_by_uid),
		cmocka_unit_test(test_api__route_body_limit),
		cmocka_unit_test(test_http__deferred_answer_then_pipelined),
		cmocka_unit_test(test_http__deferred_deadline_not_header_timeout),
		cmocka_unit_test(test_http__deferred_client_gone_releases),
		cmocka_unit_test(test_http__deferred_shutdown_answers),
		cmocka_unit_test(test_http__deferred_stream_heartbeat),
		cmocka_unit_test(test_http__deferred_fed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
