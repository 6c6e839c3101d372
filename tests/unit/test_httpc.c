/*
 * httpc: the asynchronous HTTP client, against a small HTTP/1.1 server
 * run by the test on 127.0.0.1 (one thread per connection, keep-alive).
 * The uv loop is driven until a condition holds or a deadline passes;
 * nothing sleeps to wait for state.
 *
 * Server paths:
 *   /json             200 with a JSON body
 *   /slow             never answers; notes when the client drops the connection
 *   /big?n=N          200 with N bytes (Content-Length)
 *   /chunked?n=N      200 with N bytes, chunked (no length up front)
 *   /echo             200 with the raw request (head and body) as the body
 *   /status/NNN       that status
 *   /redirect         302 to /json
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "httpc/httpc.h"

/* ---- the test server ---- */

#define MAX_CONNS 256

struct srv {
	int fd;
	int port;
	pthread_t acceptor;
	pthread_mutex_t mu;
	pthread_t threads[MAX_CONNS];
	int fds[MAX_CONNS];
	int nconns;
	atomic_int accepted;
	atomic_int slow_started; /* /slow requests received */
	atomic_int slow_dropped; /* /slow connections the client closed */
};

struct conn {
	struct srv *srv;
	int fd;
};

static int send_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	while (len > 0) {
		ssize_t n = send(fd, c, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_response(int fd, int status, const char *extra, const char *body, size_t len)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status, len, extra ? extra : "");
	buf_add(&b, body, len);
	int rc = send_all(fd, b.s, b.len);
	buf_release(&b);
	return rc;
}

static size_t query_n(const char *path)
{
	const char *q = strstr(path, "n=");
	return q ? (size_t)strtoull(q + 2, NULL, 10) : 0;
}

/* Serves requests on one connection until the client closes it. */
static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct srv *srv = c->srv;
	int fd = c->fd;
	struct buf in = BUF_INIT;
	char tmp[65536];

	free(c);
	for (;;) {
		char *end;
		while (!(end = strstr(buf_str(&in), "\r\n\r\n"))) {
			ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
			if (n <= 0)
				goto out;
			buf_add(&in, tmp, (size_t)n);
		}
		size_t head_len = (size_t)(end - in.s) + 4, clen = 0;
		for (char *p = in.s; p < end; p++)
			if (strncasecmp(p, "\r\nContent-Length:", 17) == 0)
				clen = (size_t)strtoull(p + 17, NULL, 10);
		while (in.len < head_len + clen) {
			ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
			if (n <= 0)
				goto out;
			buf_add(&in, tmp, (size_t)n);
		}
		char path[256] = "";
		sscanf(in.s, "%*s %255s", path);
		int rc = 0;
		if (strcmp(path, "/json") == 0 || strncmp(path, "/json?", 6) == 0) {
			const char *body = "{\"status\":\"success\",\"value\":42}";
			rc = send_response(fd, 200, "Content-Type: application/json\r\n", body, strlen(body));
		} else if (strcmp(path, "/slow") == 0) {
			atomic_fetch_add(&srv->slow_started, 1);
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			poll(&pfd, 1, 20000); /* until the client hangs up */
			if (recv(fd, tmp, sizeof(tmp), 0) <= 0)
				atomic_fetch_add(&srv->slow_dropped, 1);
			goto out;
		} else if (strncmp(path, "/big?", 5) == 0) {
			size_t n = query_n(path);
			char *body = xmalloc(n + 1);
			memset(body, 'x', n);
			rc = send_response(fd, 200, NULL, body, n);
			free(body);
		} else if (strncmp(path, "/chunked?", 9) == 0) {
			size_t n = query_n(path);
			char chunk[4096];
			memset(chunk, 'y', sizeof(chunk));
			rc = send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 47);
			while (rc == 0 && n > 0) {
				size_t k = n < sizeof(chunk) ? n : sizeof(chunk);
				char hdr[32];
				int hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", k);
				rc = send_all(fd, hdr, (size_t)hl);
				if (rc == 0)
					rc = send_all(fd, chunk, k);
				if (rc == 0)
					rc = send_all(fd, "\r\n", 2);
				n -= k;
			}
			if (rc == 0)
				rc = send_all(fd, "0\r\n\r\n", 5);
		} else if (strcmp(path, "/echo") == 0) {
			rc = send_response(fd, 200, NULL, in.s, head_len + clen);
		} else if (strncmp(path, "/status/", 8) == 0) {
			char body[32];
			int st = atoi(path + 8);
			int bl = snprintf(body, sizeof(body), "status %d", st);
			rc = send_response(fd, st, NULL, body, (size_t)bl);
		} else if (strcmp(path, "/redirect") == 0) {
			rc = send_response(fd, 302, "Location: /json\r\n", "", 0);
		} else {
			rc = send_response(fd, 404, NULL, "not found", 9);
		}
		if (rc != 0)
			goto out;
		buf_consume(&in, head_len + clen);
	}
out:
	buf_release(&in);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct srv *srv = arg;
	for (;;) {
		int fd = accept(srv->fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL; /* shut down */
		}
		pthread_mutex_lock(&srv->mu);
		if (srv->nconns == MAX_CONNS) {
			pthread_mutex_unlock(&srv->mu);
			close(fd);
			continue;
		}
		struct conn *c = xmalloc(sizeof(*c));
		c->srv = srv;
		c->fd = fd;
		srv->fds[srv->nconns] = fd;
		if (pthread_create(&srv->threads[srv->nconns], NULL, conn_main, c) != 0) {
			free(c);
			close(fd);
		} else {
			srv->nconns++;
			atomic_fetch_add(&srv->accepted, 1);
		}
		pthread_mutex_unlock(&srv->mu);
	}
}

static void srv_start(struct srv *srv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);

	memset(srv, 0, sizeof(*srv));
	pthread_mutex_init(&srv->mu, NULL);
	srv->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(srv->fd >= 0);
	assert_int_equal(bind(srv->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(srv->fd, 128), 0);
	assert_int_equal(getsockname(srv->fd, (struct sockaddr *)&sa, &sl), 0);
	srv->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&srv->acceptor, NULL, accept_main, srv), 0);
}

/* The same server on a unix socket at path (the proxy's control socket
 * is one). */
static void srv_start_unix(struct srv *srv, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(srv, 0, sizeof(*srv));
	pthread_mutex_init(&srv->mu, NULL);
	sw_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	unlink(path);
	srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(srv->fd >= 0);
	assert_int_equal(bind(srv->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(srv->fd, 128), 0);
	assert_int_equal(pthread_create(&srv->acceptor, NULL, accept_main, srv), 0);
}

static void srv_stop(struct srv *srv)
{
	shutdown(srv->fd, SHUT_RDWR); /* wakes accept() */
	pthread_join(srv->acceptor, NULL);
	close(srv->fd);
	for (int i = 0; i < srv->nconns; i++) {
		shutdown(srv->fds[i], SHUT_RDWR);
		pthread_join(srv->threads[i], NULL);
		close(srv->fds[i]);
	}
	pthread_mutex_destroy(&srv->mu);
}

/* ---- a name server that never answers ----
 * getaddrinfo is replaced for the whole test binary (libcurl's resolver
 * thread calls this one): "slow.test" blocks until released (at most 3 s); every other
 * name goes to the real one. */

static pthread_mutex_t dns_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dns_cond = PTHREAD_COND_INITIALIZER;
static int dns_released;
static int dns_blocked; /* lookups of slow.test in progress */

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	if (node && strcmp(node, "slow.test") == 0) {
		pthread_mutex_lock(&dns_mu);
		dns_blocked++;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 3; /* so that a regression fails rather than hangs */
		while (!dns_released && pthread_cond_timedwait(&dns_cond, &dns_mu, &until) == 0)
			;
		dns_blocked--;
		pthread_mutex_unlock(&dns_mu);
		return EAI_NONAME;
	}
	int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
		(int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(
			RTLD_NEXT, "getaddrinfo");
	return real(node, service, hints, res);
}

/* ---- fixture and loop driving ---- */

struct fx {
	uv_loop_t loop;
	uv_timer_t guard; /* wakes uv_run every 5 ms, to look at the server's state */
	struct httpc *h;
	struct srv srv;
	int in_request; /* set while inside httpc_request */
	int refused_fd; /* bound, not listening: connections are refused */
	int refused_port;
};

struct result {
	struct fx *f;
	int calls;
	int status;
	char *body;
	size_t len;
	char *error;
	uint64_t at_ms;
	/* optional action run inside the callback */
	void (*then)(struct result *r);
	uint64_t other; /* an id for `then` */
	struct result *other_res;
	struct httpc_request *next_req;
};

static void on_guard(uv_timer_t *t)
{
}

#define RUN_UNTIL(f, cond, ms)                                                  \
	do {                                                                    \
		uint64_t deadline_ = sw_now_ms() + (ms);                        \
		uv_timer_start(&(f)->guard, on_guard, 5, 5);                    \
		while (!(cond) && sw_now_ms() < deadline_)                      \
			uv_run(&(f)->loop, UV_RUN_ONCE);                        \
		uv_timer_stop(&(f)->guard);                                     \
		if (!(cond))                                                    \
			fail_msg("timed out after %d ms waiting for %s", (int)(ms), #cond); \
	} while (0)

static void on_done(int status, const char *body, size_t len, const char *error, void *data)
{
	struct result *r = data;
	if (r->f->in_request)
		fail_msg("callback called from inside httpc_request");
	r->calls++;
	r->status = status;
	free(r->body);
	free(r->error);
	assert_int_equal(body[len], '\0');
	r->body = xstrndup(body, len);
	r->len = len;
	r->error = error ? xstrdup(error) : NULL;
	r->at_ms = sw_now_ms();
	if (r->then)
		r->then(r);
}

static void result_release(struct result *r)
{
	free(r->body);
	free(r->error);
	r->body = r->error = NULL;
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct sw_err err = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);

	assert_int_equal(uv_loop_init(&f->loop), 0);
	uv_timer_init(&f->loop, &f->guard);
	if (httpc_new(&f->h, &f->loop, &err) != 0)
		fail_msg("httpc_new: %s", err.msg);
	srv_start(&f->srv);
	f->refused_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(f->refused_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(f->refused_fd, (struct sockaddr *)&sa, &sl), 0);
	f->refused_port = ntohs(sa.sin_port);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	httpc_free(f->h);
	uv_close((uv_handle_t *)&f->guard, NULL);
	/* Only closes are left: they finish within a few turns. */
	uint64_t deadline = sw_now_ms() + 2000;
	while (uv_loop_alive(&f->loop) && sw_now_ms() < deadline)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	srv_stop(&f->srv);
	close(f->refused_fd);
	free(f);
	return 0;
}

static char *url(struct fx *f, const char *path)
{
	static char u[8][128];
	static int i;
	char *s = u[i++ % 8];
	snprintf(s, sizeof(u[0]), "http://127.0.0.1:%d%s", f->srv.port, path);
	return s;
}

static uint64_t start(struct fx *f, const struct httpc_request *req, struct result *res)
{
	struct sw_err err = {0};
	res->f = f;
	f->in_request = 1;
	uint64_t id = httpc_request(f->h, req, on_done, res, &err);
	f->in_request = 0;
	if (id == 0)
		fail_msg("httpc_request %s: %s", req->url, err.msg);
	return id;
}

/* ---- tests ---- */

static void test_httpc__get_200_json(void **state)
{
	struct fx *f = *state;
	struct result r = {0};
	struct httpc_request req = {.url = url(f, "/json")};

	uint64_t id = start(f, &req, &r);
	assert_true(id != 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(httpc_pending(f->h), 1);
	RUN_UNTIL(f, r.calls > 0, 5000);
	assert_int_equal(r.calls, 1);
	assert_null(r.error);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"status\":\"success\",\"value\":42}");
	assert_int_equal(r.len, strlen(r.body));
	assert_int_equal(httpc_pending(f->h), 0);

	/* a second request (reusing the kept-alive connection) works too */
	struct result r2 = {0};
	start(f, &req, &r2);
	RUN_UNTIL(f, r2.calls > 0, 5000);
	assert_int_equal(r2.status, 200);
	assert_int_equal(f->srv.accepted, 1);
	/* an idle client keeps the loop alive with nothing: uv_run returns */
	assert_false(uv_loop_alive(&f->loop));
	result_release(&r);
	result_release(&r2);
}

static void test_httpc__post_body_and_headers_arrive(void **state)
{
	struct fx *f = *state;
	struct result r = {0};
	static const char *const headers[] = {"X-Slipway: yes", "Content-Type: application/json", NULL};
	/* larger than curl's Expect: 100-continue threshold */
	struct buf body = BUF_INIT;
	buf_adds(&body, "{\"query\":\"");
	for (int i = 0; i < 5000; i++)
		buf_addc(&body, (char)('a' + i % 26));
	buf_adds(&body, "\"}");
	struct httpc_request req = {
		.method = "POST", .url = url(f, "/echo"), .headers = headers, .body = body.s, .body_len = body.len};

	start(f, &req, &r);
	RUN_UNTIL(f, r.calls > 0, 5000);
	assert_null(r.error);
	assert_int_equal(r.status, 200);
	assert_true(strncmp(r.body, "POST /echo HTTP/1.1\r\n", 21) == 0);
	assert_non_null(strstr(r.body, "\r\nX-Slipway: yes\r\n"));
	assert_non_null(strstr(r.body, "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strstr(r.body, "\r\nUser-Agent: slipway/"));
	assert_null(strstr(r.body, "Expect"));
	char clen[64];
	snprintf(clen, sizeof(clen), "\r\nContent-Length: %zu\r\n", body.len);
	assert_non_null(strstr(r.body, clen));
	const char *sent = strstr(r.body, "\r\n\r\n");
	assert_non_null(sent);
	assert_string_equal(sent + 4, body.s);
	buf_release(&body);
	result_release(&r);
}

static void test_httpc__body_is_copied_and_other_methods(void **state)
{
	struct fx *f = *state;
	struct result put = {0}, head = {0}, del = {0};
	char body[] = "payload";
	struct httpc_request req = {.method = "PUT", .url = url(f, "/echo"), .body = body, .body_len = 7};

	start(f, &req, &put);
	memset(body, 'Z', 7); /* httpc_request copied it */
	struct httpc_request hreq = {.method = "HEAD", .url = url(f, "/json")};
	start(f, &hreq, &head);
	struct httpc_request dreq = {.method = "DELETE", .url = url(f, "/echo")};
	start(f, &dreq, &del);
	RUN_UNTIL(f, put.calls && head.calls && del.calls, 5000);
	assert_null(put.error);
	assert_true(strncmp(put.body, "PUT /echo ", 10) == 0);
	assert_string_equal(strstr(put.body, "\r\n\r\n") + 4, "payload");
	assert_null(head.error);
	assert_int_equal(head.status, 200);
	assert_int_equal(head.len, 0);
	assert_null(del.error);
	assert_true(strncmp(del.body, "DELETE /echo ", 13) == 0);
	result_release(&put);
	result_release(&head);
	result_release(&del);
}

static void test_httpc__error_status_is_a_response(void **state)
{
	struct fx *f = *state;
	struct result r = {0};
	struct httpc_request req = {.url = url(f, "/status/503")};

	start(f, &req, &r);
	RUN_UNTIL(f, r.calls > 0, 5000);
	assert_null(r.error);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "status 503");
	result_release(&r);
}

static void test_httpc__redirects_only_when_asked(void **state)
{
	struct fx *f = *state;
	struct result r = {0}, r2 = {0};
	struct httpc_request req = {.url = url(f, "/redirect")};

	start(f, &req, &r);
	req.max_redirects = 3;
	start(f, &req, &r2);
	RUN_UNTIL(f, r.calls && r2.calls, 5000);
	assert_null(r.error);
	assert_int_equal(r.status, 302);
	assert_null(r2.error);
	assert_int_equal(r2.status, 200);
	assert_string_equal(r2.body, "{\"status\":\"success\",\"value\":42}");
	result_release(&r);
	result_release(&r2);
}

static void test_httpc__timeout_yields_error_within_bounds(void **state)
{
	struct fx *f = *state;
	struct result r = {0};
	struct httpc_request req = {.url = url(f, "/slow"), .timeout_ms = 300};

	uint64_t t0 = sw_now_ms();
	start(f, &req, &r);
	RUN_UNTIL(f, r.calls > 0, 5000);
	uint64_t took = r.at_ms - t0;
	assert_int_equal(r.status, 0);
	assert_string_equal(r.error, "timed out after 300 ms");
	assert_string_equal(r.body, "");
	if (took < 290 || took > 1500)
		fail_msg("timeout of 300 ms reported after %llu ms", (unsigned long long)took);
	/* the connection was dropped, not left open */
	RUN_UNTIL(f, atomic_load(&f->srv.slow_dropped) == 1, 5000);
	assert_int_equal(r.calls, 1);
	result_release(&r);
}

/* A name lookup that hangs must not hold the loop past the timeout: curl
 * leaves its resolver thread behind instead of joining it. */
static void test_httpc__timeout_during_name_lookup(void **state)
{
	struct fx *f = *state;
	struct result r = {0};
	char u[64];
	snprintf(u, sizeof(u), "http://slow.test:%d/json", f->srv.port);
	struct httpc_request req = {.url = u, .timeout_ms = 200};

	uint64_t t0 = sw_now_ms();
	start(f, &req, &r);
	RUN_UNTIL(f, r.calls > 0, 5000);
	uint64_t took = sw_now_ms() - t0;
	assert_int_equal(r.status, 0);
	assert_string_equal(r.error, "timed out after 200 ms");
	if (took > 1500)
		fail_msg("timeout of 200 ms during a lookup reported after %llu ms", (unsigned long long)took);
	/* a cancel during a lookup returns at once too */
	struct result c = {0};
	struct httpc_request creq = {.url = u, .timeout_ms = 5000};
	uint64_t id = start(f, &creq, &c);
	int blocked = 0;
	RUN_UNTIL(f, (pthread_mutex_lock(&dns_mu), blocked = dns_blocked, pthread_mutex_unlock(&dns_mu),
		      blocked == 2), 2000);
	t0 = sw_now_ms();
	httpc_cancel(f->h, id);
	took = sw_now_ms() - t0;
	if (took > 500)
		fail_msg("cancel during a lookup took %llu ms", (unsigned long long)took);
	assert_int_equal(c.calls, 0);

	pthread_mutex_lock(&dns_mu);
	assert_int_equal(dns_blocked, 2); /* still hanging: the loop did not wait for them */
	dns_released = 1;
	pthread_cond_broadcast(&dns_cond);
	pthread_mutex_unlock(&dns_mu);
	/* the abandoned lookup ends and curl's thread frees its state */
	uint64_t deadline = sw_now_ms() + 5000;
	for (;;) {
		pthread_mutex_lock(&dns_mu);
		blocked = dns_blocked;
		pthread_mutex_unlock(&dns_mu);
		if (blocked == 0 || sw_now_ms() > deadline)
			break;
		uv_run(&f->loop, UV_RUN_NOWAIT);
	}
	result_release(&r);
}

static void test_httpc__refused_yields_error(void **state)
{
	struct fx *f = *state;
	struct result r = {0};
	char u[64], want[128];
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/json", f->refused_port);
	struct httpc_request req = {.url = u, .timeout_ms = 2000};

	start(f, &req, &r);
	assert_int_equal(r.calls, 0);
	RUN_UNTIL(f, r.calls > 0, 3000);
	assert_int_equal(r.status, 0);
	snprintf(want, sizeof(want), "connect to 127.0.0.1:%d failed: Connection refused", f->refused_port);
	assert_string_equal(r.error, want);
	result_release(&r);
}

static void unix_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "/tmp/sw-httpc-%d-%s.sock", (int)getpid(), name);
}

static void test_httpc__unix_socket_get_and_put(void **state)
{
	struct fx *f = *state;
	struct srv us;
	struct result r = {0}, r2 = {0};
	char path[108];
	unix_path(path, sizeof(path), "ok");
	srv_start_unix(&us, path);
	struct httpc_request req = {.url = "http://proxy/json", .unix_socket = path};

	start(f, &req, &r);
	RUN_UNTIL(f, r.calls > 0, 5000);
	assert_null(r.error);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"status\":\"success\",\"value\":42}");
	/* nothing went to the TCP server the URL might name */
	assert_int_equal(f->srv.accepted, 0);

	struct httpc_request put = {.method = "PUT", .url = "http://proxy/echo",
				    .unix_socket = path, .body = "{\"v\":1}", .body_len = 7};
	start(f, &put, &r2);
	RUN_UNTIL(f, r2.calls > 0, 5000);
	assert_int_equal(r2.status, 200);
	assert_non_null(strstr(r2.body, "PUT /echo"));
	assert_non_null(strstr(r2.body, "{\"v\":1}"));
	result_release(&r);
	result_release(&r2);
	srv_stop(&us);
	unlink(path);
}

static void test_httpc__unix_socket_missing_yields_error(void **state)
{
	struct fx *f = *state;
	struct result r = {0};
	char path[108], want[200];
	unix_path(path, sizeof(path), "missing");
	unlink(path);
	struct httpc_request req = {.url = "http://proxy/json", .unix_socket = path,
				    .timeout_ms = 2000};

	start(f, &req, &r);
	assert_int_equal(r.calls, 0);
	RUN_UNTIL(f, r.calls > 0, 3000);
	assert_int_equal(r.status, 0);
	snprintf(want, sizeof(want), "connect to %s failed: No such file or directory", path);
	assert_string_equal(r.error, want);
	result_release(&r);
}

/* A server that is stopped (SIGSTOP) still completes connects from its
 * backlog but never answers: the request ends at its deadline, and the
 * loop goes on meanwhile. */
static void test_httpc__unix_socket_stopped_server_times_out(void **state)
{
	struct fx *f = *state;
	struct result r = {0};
	char path[108];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	unix_path(path, sizeof(path), "stopped");
	unlink(path);
	sw_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0); /* never accepts */
	struct httpc_request req = {.url = "http://proxy/json", .unix_socket = path,
				    .timeout_ms = 200};

	uint64_t t0 = sw_now_ms();
	start(f, &req, &r);
	assert_true(sw_now_ms() - t0 < 50); /* the call itself does not wait */
	RUN_UNTIL(f, r.calls > 0, 3000);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.error, "timed out after 200 ms");
	assert_true(r.at_ms - t0 >= 190 && r.at_ms - t0 < 1500);
	result_release(&r);
	close(fd);
	unlink(path);
}

static void test_httpc__unix_socket_path_checked(void **state)
{
	struct fx *f = *state;
	struct sw_err err = {0};
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	struct httpc_request req = {.url = "http://proxy/json", .unix_socket = longp};
	assert_int_equal(httpc_request(f->h, &req, on_done, NULL, &err), 0);
	assert_non_null(strstr(err.msg, "too long"));
	req.unix_socket = "";
	assert_int_equal(httpc_request(f->h, &req, on_done, NULL, &err), 0);
}

static void test_httpc__max_response(void **state)
{
	struct fx *f = *state;
	struct result big = {0}, exact = {0}, chunked = {0}, chunked_ok = {0};
	struct httpc_request req = {.url = url(f, "/big?n=2000000")};

	start(f, &req, &big); /* default cap: 1 MiB */
	struct httpc_request req2 = {.url = url(f, "/big?n=1000"), .max_response = 1000};
	start(f, &req2, &exact);
	struct httpc_request req3 = {.url = url(f, "/chunked?n=50000"), .max_response = 4096};
	start(f, &req3, &chunked);
	struct httpc_request req4 = {.url = url(f, "/chunked?n=50000"), .max_response = 50000};
	start(f, &req4, &chunked_ok);
	RUN_UNTIL(f, big.calls && exact.calls && chunked.calls && chunked_ok.calls, 5000);
	assert_int_equal(big.status, 0);
	assert_string_equal(big.error, "response larger than 1048576 bytes");
	assert_null(exact.error);
	assert_int_equal(exact.len, 1000);
	assert_int_equal(chunked.status, 0);
	assert_string_equal(chunked.error, "response larger than 4096 bytes");
	assert_null(chunked_ok.error);
	assert_int_equal(chunked_ok.len, 50000);
	result_release(&big);
	result_release(&exact);
	result_release(&chunked);
	result_release(&chunked_ok);
}

static int total_calls(const struct result *r, int n)
{
	int calls = 0;
	for (int i = 0; i < n; i++)
		calls += r[i].calls;
	return calls;
}

static void test_httpc__twenty_concurrent_requests_complete(void **state)
{
	struct fx *f = *state;
	struct result r[20] = {0};
	struct httpc_request req[20];

	for (int i = 0; i < 20; i++) {
		char path[32];
		snprintf(path, sizeof(path), i % 2 ? "/json?i=%d" : "/big?n=%d", i * 1000 + 1);
		req[i] = (struct httpc_request){.url = xstrdup(url(f, path))};
		start(f, &req[i], &r[i]);
	}
	assert_int_equal(httpc_pending(f->h), 20);
	RUN_UNTIL(f, total_calls(r, 20) == 20, 10000);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_null(r[i].error);
		assert_int_equal(r[i].status, 200);
		if (i % 2 == 0)
			assert_int_equal(r[i].len, (size_t)(i * 1000 + 1));
		free((char *)req[i].url);
		result_release(&r[i]);
	}
	assert_int_equal(httpc_pending(f->h), 0);
}

static void test_httpc__cancel_drops_request_without_callback(void **state)
{
	struct fx *f = *state;
	struct result slow = {0}, early = {0}, after = {0};
	struct httpc_request sreq = {.url = url(f, "/slow")};
	struct httpc_request jreq = {.url = url(f, "/json")};

	/* cancelled once the server has it: the connection is closed */
	uint64_t id = start(f, &sreq, &slow);
	RUN_UNTIL(f, atomic_load(&f->srv.slow_started) == 1, 5000);
	httpc_cancel(f->h, id);
	assert_int_equal(httpc_pending(f->h), 0);
	RUN_UNTIL(f, atomic_load(&f->srv.slow_dropped) == 1, 5000);

	/* cancelled before the loop ever ran */
	uint64_t id2 = start(f, &jreq, &early);
	httpc_cancel(f->h, id2);
	httpc_cancel(f->h, id2);	  /* twice: ignored */
	httpc_cancel(f->h, 0);		  /* never issued */
	httpc_cancel(f->h, id2 + 1000); /* never issued */
	start(f, &jreq, &after);
	RUN_UNTIL(f, after.calls > 0, 5000);
	assert_int_equal(after.status, 200);
	assert_int_equal(slow.calls, 0);
	assert_int_equal(early.calls, 0);
	result_release(&after);
}

static void cancel_other(struct result *r)
{
	httpc_cancel(r->f->h, r->other);
}

static void start_next(struct result *r)
{
	struct sw_err err = {0};
	r->other = httpc_request(r->f->h, r->next_req, on_done, r->other_res, &err);
	assert_true(r->other != 0);
	r->other_res->f = r->f;
}

static void test_httpc__callbacks_may_cancel_and_start_requests(void **state)
{
	struct fx *f = *state;
	struct result a = {0}, b = {0}, c = {0}, d = {0};
	struct httpc_request jreq = {.url = url(f, "/json")};
	struct httpc_request sreq = {.url = url(f, "/slow")};

	/* a's callback cancels b */
	a.then = cancel_other;
	start(f, &jreq, &a);
	a.other = start(f, &sreq, &b);
	/* c's callback starts d */
	c.then = start_next;
	c.next_req = &jreq;
	c.other_res = &d;
	start(f, &jreq, &c);
	RUN_UNTIL(f, a.calls && d.calls, 5000);
	assert_int_equal(a.status, 200);
	assert_int_equal(c.status, 200);
	assert_int_equal(d.status, 200);
	assert_int_equal(b.calls, 0);
	assert_int_equal(httpc_pending(f->h), 0);
	result_release(&a);
	result_release(&c);
	result_release(&d);
}

static void test_httpc__free_with_requests_in_flight(void **state)
{
	struct fx *f = *state;
	struct result r[5] = {0};
	struct httpc_request sreq = {.url = url(f, "/slow")};
	struct httpc_request jreq = {.url = url(f, "/json")};

	for (int i = 0; i < 4; i++)
		start(f, &sreq, &r[i]);
	RUN_UNTIL(f, atomic_load(&f->srv.slow_started) == 4, 5000);
	start(f, &jreq, &r[4]); /* not even started */
	httpc_free(f->h);
	f->h = NULL;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, 0);
		assert_string_equal(r[i].error, "cancelled");
		result_release(&r[i]);
	}
	/* teardown checks that the loop closes with no handle left, and
	 * ASan that nothing leaked; the server sees every connection go */
	uint64_t deadline = sw_now_ms() + 5000;
	while (atomic_load(&f->srv.slow_dropped) < 4 && sw_now_ms() < deadline)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(atomic_load(&f->srv.slow_dropped), 4);
}

static void free_client(struct result *r)
{
	httpc_free(r->f->h);
	r->f->h = NULL;
}

static void test_httpc__free_from_inside_a_callback(void **state)
{
	struct fx *f = *state;
	struct result a = {0}, b = {0};
	struct httpc_request jreq = {.url = url(f, "/json")};
	struct httpc_request sreq = {.url = url(f, "/slow")};

	a.then = free_client;
	start(f, &sreq, &b);
	start(f, &jreq, &a);
	RUN_UNTIL(f, a.calls > 0, 5000);
	assert_null(f->h);
	assert_int_equal(a.status, 200);
	assert_int_equal(b.calls, 1);
	assert_string_equal(b.error, "cancelled");
	result_release(&a);
	result_release(&b);
}

static void start_during_free(struct result *r)
{
	struct sw_err err = {0};
	struct httpc_request req = {.url = "http://127.0.0.1:1/"};
	assert_int_equal(httpc_request(r->f->h, &req, on_done, r, &err), 0);
	assert_string_equal(err.msg, "client is shutting down");
	httpc_cancel(r->f->h, r->other); /* allowed, cancels the other one */
}

static void test_httpc__requests_refused_while_freeing(void **state)
{
	struct fx *f = *state;
	struct result r[2] = {0};
	struct httpc_request jreq = {.url = url(f, "/json")};

	start(f, &jreq, &r[0]);
	r[1].then = start_during_free;
	r[1].other = start(f, &jreq, &r[1]) - 1;
	/* the newest is cancelled first: its callback cancels the older one */
	httpc_free(f->h);
	f->h = NULL;
	assert_int_equal(r[1].calls, 1);
	assert_int_equal(r[0].calls, 0);
	result_release(&r[1]);
}

static void test_httpc__invalid_arguments(void **state)
{
	struct fx *f = *state;
	static const char *const bad_hdr1[] = {"NoColon", NULL};
	static const char *const bad_hdr2[] = {"X-A: b\r\nX-Injected: 1", NULL};
	static const char *const bad_hdr3[] = {": empty name", NULL};
	static const char *const bad_hdr4[] = {"Bad Name: x", NULL};
	const struct httpc_request cases[] = {
		{.url = NULL},
		{.url = ""},
		{.url = "not a url"},
		{.url = "ftp://127.0.0.1/x"},
		{.url = "file:///etc/passwd"},
		{.url = "gopher://127.0.0.1/"},
		{.url = "http://"},
		{.url = url(f, "/json"), .method = "BREW"},
		{.url = url(f, "/json"), .method = "get"},
		{.url = url(f, "/json"), .body = "x", .body_len = 1},
		{.url = url(f, "/json"), .method = "POST", .body_len = 3},
		{.url = url(f, "/json"), .headers = bad_hdr1},
		{.url = url(f, "/json"), .headers = bad_hdr2},
		{.url = url(f, "/json"), .headers = bad_hdr3},
		{.url = url(f, "/json"), .headers = bad_hdr4},
	};
	struct result r = {.f = f};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sw_err err = {0};
		if (httpc_request(f->h, &cases[i], on_done, &r, &err) != 0)
			fail_msg("case %zu (%s) accepted", i, cases[i].url ? cases[i].url : "NULL");
		if (!sw_err_isset(&err))
			fail_msg("case %zu: no message", i);
	}
	assert_int_equal(httpc_pending(f->h), 0);
	/* a good request still works and no bad one ever calls back */
	struct result ok = {0};
	struct httpc_request req = {.url = url(f, "/json")};
	start(f, &req, &ok);
	RUN_UNTIL(f, ok.calls > 0, 5000);
	assert_int_equal(r.calls, 0);
	result_release(&ok);
}

static void test_httpc__invalid_argument_messages(void **state)
{
	struct fx *f = *state;
	struct result r = {.f = f};
	struct sw_err err = {0};
	struct httpc_request req = {.url = "ftp://127.0.0.1/x"};

	assert_int_equal(httpc_request(f->h, &req, on_done, &r, &err), 0);
	assert_string_equal(err.msg, "url \"ftp://127.0.0.1/x\": only http and https are supported");
	sw_err_clear(&err);
	req = (struct httpc_request){.url = url(f, "/"), .method = "GET", .body = "x", .body_len = 1};
	assert_int_equal(httpc_request(f->h, &req, on_done, &r, &err), 0);
	assert_string_equal(err.msg, "GET request cannot have a body");
	assert_int_equal(err.code, SW_EINVAL);
}

static void test_httpc__urlencode(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"", ""},
		{"abcXYZ019-._~", "abcXYZ019-._~"},
		{"a b", "a%20b"},
		{"rate(http_requests_total{code=~\"5..\"}[1m])",
		 "rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B1m%5D%29"},
		{"a&b=c/d?e#f+g%", "a%26b%3Dc%2Fd%3Fe%23f%2Bg%25"},
		{"\xc3\xa9\x01\xff", "%C3%A9%01%FF"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = BUF_INIT;
		buf_adds(&b, "q=");
		httpc_urlencode(&b, cases[i].in);
		assert_string_equal(b.s + 2, cases[i].out);
		buf_release(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_httpc__get_200_json),
		T(test_httpc__post_body_and_headers_arrive),
		T(test_httpc__body_is_copied_and_other_methods),
		T(test_httpc__error_status_is_a_response),
		T(test_httpc__redirects_only_when_asked),
		T(test_httpc__timeout_yields_error_within_bounds),
		T(test_httpc__timeout_during_name_lookup),
		T(test_httpc__refused_yields_error),
		T(test_httpc__unix_socket_get_and_put),
		T(test_httpc__unix_socket_missing_yields_error),
		T(test_httpc__unix_socket_stopped_server_times_out),
		T(test_httpc__unix_socket_path_checked),
		T(test_httpc__max_response),
		T(test_httpc__twenty_concurrent_requests_complete),
		T(test_httpc__cancel_drops_request_without_callback),
		T(test_httpc__callbacks_may_cancel_and_start_requests),
		T(test_httpc__free_with_requests_in_flight),
		T(test_httpc__free_from_inside_a_callback),
		T(test_httpc__requests_refused_while_freeing),
		T(test_httpc__invalid_arguments),
		T(test_httpc__invalid_argument_messages),
		T(test_httpc__urlencode),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
