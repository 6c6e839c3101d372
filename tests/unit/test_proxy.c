/*
 * proxy engine tests: the proxy runs on a libuv loop in a background
 * thread; upstreams are real `hello` processes (HELLO_BIN) and a small
 * threaded upstream written here that shows what it received, counts its
 * connections and speaks an "echo" upgrade. The test thread talks raw
 * HTTP over sockets. Every wait is a poll() with a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy/proxy.h"

#define DEADLINE_MS 10000

/* ------------------------------------------------------------------ */
/* sockets                                                             */

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static int dial(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
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

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

static uint64_t now_ms(void)
{
	return sw_now_ms();
}

/* Reads with a deadline; returns bytes, 0 at EOF, -1 on timeout/error. */
static ssize_t read_some(int fd, char *b, size_t n, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return -1;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t k = recv(fd, b, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		return k < 0 ? -1 : k;
	}
}

/* ------------------------------------------------------------------ */
/* reading responses                                                   */

struct resp {
	int status;
	struct buf head;  /* "name: value\n" lines */
	struct buf body;
	bool done, keep_alive;
	struct buf field;
	http_parser hp;
	struct buf rest;  /* bytes after the response */
};

static int r_field(http_parser *p, const char *at, size_t n)
{
	struct resp *r = p->data;
	if (r->field.len && r->field.s[r->field.len - 1] == '\n')
		buf_reset(&r->field);
	buf_add(&r->head, at, n);
	buf_add(&r->field, at, n);
	return 0;
}

static int r_value(http_parser *p, const char *at, size_t n)
{
	struct resp *r = p->data;
	if (!r->head.len || r->head.s[r->head.len - 1] != ' ') {
		if (r->head.len < 2 || memcmp(r->head.s + r->head.len - 2, ": ", 2) != 0)
			buf_adds(&r->head, ": ");
	}
	buf_add(&r->head, at, n);
	return 0;
}

static int r_headers_complete(http_parser *p)
{
	struct resp *r = p->data;
	r->status = p->status_code;
	/* lines: rebuild cleanly below */
	return p->status_code == 101 ? 1 : 0;
}

static int r_body(http_parser *p, const char *at, size_t n)
{
	struct resp *r = p->data;
	buf_add(&r->body, at, n);
	return 0;
}

static int r_complete(http_parser *p)
{
	struct resp *r = p->data;
	if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101) {
		/* interim: wait for the final response */
		buf_reset(&r->head);
		return 0;
	}
	r->done = true;
	r->keep_alive = http_should_keep_alive(p);
	http_parser_pause(p, 1);
	return 0;
}

/* header-line collection: field/value callbacks alternate */
static int r_field2(http_parser *p, const char *at, size_t n)
{
	struct resp *r = p->data;
	if (r->field.len == 0 || r->field.s[0] == 'V') {
		buf_adds(&r->head, "\n");
		buf_reset(&r->field);
		buf_addc(&r->field, 'F');
	}
	for (size_t i = 0; i < n; i++)
		buf_addc(&r->head, (char)(at[i] >= 'A' && at[i] <= 'Z' ? at[i] + 32 : at[i]));
	return 0;
}

static int r_value2(http_parser *p, const char *at, size_t n)
{
	struct resp *r = p->data;
	if (r->field.s[0] == 'F') {
		buf_adds(&r->head, ": ");
		buf_reset(&r->field);
		buf_addc(&r->field, 'V');
	}
	buf_add(&r->head, at, n);
	return 0;
}

static int r_begin(http_parser *p)
{
	struct resp *r = p->data;
	buf_reset(&r->head);
	buf_reset(&r->field);
	buf_reset(&r->body);
	return 0;
}

static const http_parser_settings rsettings = {
	.on_message_begin = r_begin,
	.on_header_field = r_field2,
	.on_header_value = r_value2,
	.on_headers_complete = r_headers_complete,
	.on_body = r_body,
	.on_message_complete = r_complete,
};

static void resp_release(struct resp *r)
{
	buf_release(&r->head);
	buf_release(&r->body);
	buf_release(&r->field);
	buf_release(&r->rest);
}

/* Reads one response from fd (for a request with `method`); returns 0, or
 * -1 when the connection ended or time ran out first. Leftover bytes of a
 * tunnel are in r->rest. */
static int read_response(int fd, const char *method, struct resp *r)
{
	char b[65536];
	uint64_t deadline = now_ms() + DEADLINE_MS;
	(void)r_field;
	(void)r_value;
	memset(r, 0, sizeof(*r));
	http_parser_init(&r->hp, HTTP_RESPONSE);
	r->hp.data = r;
	bool head = strcmp(method, "HEAD") == 0;
	for (;;) {
		ssize_t n = read_some(fd, b, sizeof(b), deadline);
		if (n < 0)
			return -1;
		size_t m = http_parser_execute(&r->hp, &rsettings, b, (size_t)n);
		if (head && r->status && !r->done) {
			/* the parser does not know it was a HEAD */
		}
		if (r->done || (r->status == 101 && HTTP_PARSER_ERRNO(&r->hp) == HPE_OK && r->hp.upgrade)) {
			if (m < (size_t)n)
				buf_add(&r->rest, b + m, (size_t)n - m);
			r->done = true;
			buf_addc(&r->head, '\n');
			return 0;
		}
		if (n == 0 || HTTP_PARSER_ERRNO(&r->hp) != HPE_OK)
			return -1;
	}
}

/* "name: value" of the response (lower-case name), or NULL. */
static const char *resp_header(struct resp *r, const char *name, char *out, size_t size)
{
	struct buf key = BUF_INIT;
	buf_addf(&key, "\n%s: ", name);
	const char *p = strstr(buf_str(&r->head), key.s);
	const char *ret = NULL;
	if (p) {
		p += key.len;
		size_t n = strcspn(p, "\n");
		snprintf(out, size, "%.*s", (int)n, p);
		ret = out;
	}
	buf_release(&key);
	return ret;
}

/* Sends a request on a new connection and reads one response. */
static int roundtrip(int port, const char *req, struct resp *r)
{
	int fd = dial(port);
	if (fd < 0)
		return -1;
	send_str(fd, req);
	char method[16] = "";
	sscanf(req, "%15s", method);
	int ret = read_response(fd, method, r);
	close(fd);
	return ret;
}

/* True when the peer closed fd (EOF or reset) before the deadline. */
static bool closed_by_peer(int fd, uint64_t ms)
{
	char b[4096];
	uint64_t deadline = now_ms() + ms;
	for (;;) {
		ssize_t n = read_some(fd, b, sizeof(b), deadline);
		if (n == 0)
			return true;
		if (n < 0)
			return now_ms() < deadline; /* reset */
	}
}

/* ------------------------------------------------------------------ */
/* hello                                                               */

struct hello {
	pid_t pid;
	int port;
	char addr[32];
};

/* hellos still running, killed at exit when a failed test skipped its stop */
static pid_t hello_pids[64];

static void hello_start(struct hello *h, const char *version, const char *latency_ms)
{
	const char *bin = getenv("HELLO_BIN");
	if (!bin)
		fail_msg("HELLO_BIN is not set");
	h->port = free_port();
	snprintf(h->addr, sizeof(h->addr), "127.0.0.1:%d", h->port);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		char port[16];
		snprintf(port, sizeof(port), "%d", h->port);
		setenv("HELLO_VERSION", version, 1);
		unsetenv("SLIPWAY_VERSION");
		if (latency_ms)
			setenv("HELLO_LATENCY_MS", latency_ms, 1);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execl(bin, bin, "--host", "127.0.0.1", "--port", port, (char *)NULL);
		_exit(127);
	}
	for (size_t i = 0; i < sizeof(hello_pids) / sizeof(hello_pids[0]); i++) {
		if (!hello_pids[i]) {
			hello_pids[i] = h->pid;
			break;
		}
	}
	uint64_t deadline = now_ms() + DEADLINE_MS;
	for (;;) {
		int fd = dial(h->port);
		if (fd >= 0) {
			close(fd);
			return;
		}
		int st;
		if (waitpid(h->pid, &st, WNOHANG) == h->pid)
			fail_msg("hello exited at start");
		if (now_ms() > deadline)
			fail_msg("hello did not start listening");
		usleep(10000);
	}
}

static void hello_stop(struct hello *h)
{
	if (h->pid <= 0)
		return;
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	for (size_t i = 0; i < sizeof(hello_pids) / sizeof(hello_pids[0]); i++)
		if (hello_pids[i] == h->pid)
			hello_pids[i] = 0;
	h->pid = 0;
}

/* ------------------------------------------------------------------ */
/* the test upstream: shows the request head, counts connections,
 * echoes after an upgrade */

struct tup {
	int lfd;
	int port;
	char addr[32];
	pthread_t thread;
	atomic_int accepted;
	atomic_bool stop;
};

struct tconn {
	struct tup *t;
	int fd;
	int id;
};

static void *tconn_run(void *arg)
{
	struct tconn *tc = arg;
	char buf[65536];
	size_t have = 0;
	for (;;) {
		char *end;
		while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
			if (have == sizeof(buf))
				goto out;
			ssize_t n = recv(tc->fd, buf + have, sizeof(buf) - have, 0);
			if (n <= 0)
				goto out;
			have += (size_t)n;
		}
		size_t hlen = (size_t)(end - buf) + 4;
		char path[256] = "";
		sscanf(buf, "%*s %255s", path);
		if (strcmp(path, "/stall") == 0) {
			/* the head and part of the body, then nothing until the
			 * proxy hangs up */
			const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";
			send(tc->fd, r, strlen(r), MSG_NOSIGNAL);
			while (recv(tc->fd, buf, sizeof(buf), 0) > 0)
				;
			goto out;
		}
		if (strcmp(path, "/ws") == 0) {
			const char *r = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n";
			send(tc->fd, r, strlen(r), MSG_NOSIGNAL);
			memmove(buf, buf + hlen, have - hlen);
			have -= hlen;
			for (;;) {
				if (have) {
					if (send(tc->fd, buf, have, MSG_NOSIGNAL) < 0)
						goto out;
					have = 0;
				}
				ssize_t n = recv(tc->fd, buf, sizeof(buf), 0);
				if (n <= 0)
					goto out;
				have = (size_t)n;
			}
		}
		struct buf out = BUF_INIT, body = BUF_INIT;
		buf_addf(&body, "conn=%d\n", tc->id);
		buf_add(&body, buf, hlen);
		buf_addf(&out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: keep-alive\r\n"
			       "Keep-Alive: timeout=5\r\nX-Hop: 1\r\nConnection: X-Hop\r\n\r\n",
			 body.len);
		buf_add(&out, body.s, body.len);
		ssize_t w = send(tc->fd, out.s, out.len, MSG_NOSIGNAL);
		buf_release(&out);
		buf_release(&body);
		if (w < 0)
			goto out;
		memmove(buf, buf + hlen, have - hlen);
		have -= hlen;
	}
out:
	close(tc->fd);
	free(tc);
	return NULL;
}

static void *tup_run(void *arg)
{
	struct tup *t = arg;
	while (!atomic_load(&t->stop)) {
		struct pollfd pfd = {.fd = t->lfd, .events = POLLIN};
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		int fd = accept(t->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		struct tconn *tc = xcalloc(1, sizeof(*tc));
		tc->t = t;
		tc->fd = fd;
		tc->id = atomic_fetch_add(&t->accepted, 1) + 1;
		pthread_t th;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &at, tconn_run, tc) != 0) {
			close(fd);
			free(tc);
		}
		pthread_attr_destroy(&at);
	}
	return NULL;
}

static void tup_start(struct tup *t)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	memset(t, 0, sizeof(*t));
	t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(t->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(t->lfd, 64), 0);
	assert_int_equal(getsockname(t->lfd, (struct sockaddr *)&sa, &len), 0);
	t->port = ntohs(sa.sin_port);
	snprintf(t->addr, sizeof(t->addr), "127.0.0.1:%d", t->port);
	assert_int_equal(pthread_create(&t->thread, NULL, tup_run, t), 0);
}

static void tup_stop(struct tup *t)
{
	atomic_store(&t->stop, true);
	pthread_join(t->thread, NULL);
	close(t->lfd);
}

/* ------------------------------------------------------------------ */
/* the proxy on a loop thread                                          */

struct srv {
	uv_loop_t loop;
	uv_async_t async;
	pthread_t thread;
	struct proxy *p;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void (*fn)(struct srv *, void *);
	void *arg;
	bool done, stop;
};

static void on_async(uv_async_t *a)
{
	struct srv *s = a->data;
	pthread_mutex_lock(&s->mu);
	if (s->fn) {
		s->fn(s, s->arg);
		s->fn = NULL;
		s->done = true;
		pthread_cond_broadcast(&s->cv);
	}
	bool stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	if (stop) {
		proxy_free(s->p);
		uv_close((uv_handle_t *)a, NULL);
	}
}

static void *srv_run(void *arg)
{
	struct srv *s = arg;
	uv_run(&s->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* Runs fn on the loop thread and waits for it. */
static void on_loop(struct srv *s, void (*fn)(struct srv *, void *), void *arg)
{
	pthread_mutex_lock(&s->mu);
	s->fn = fn;
	s->arg = arg;
	s->done = false;
	uv_async_send(&s->async);
	while (!s->done)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static void srv_start(struct srv *s, struct proxy_config *cfg)
{
	struct sw_err err = {0};
	memset(s, 0, sizeof(*s));
	assert_int_equal(uv_loop_init(&s->loop), 0);
	assert_int_equal(uv_async_init(&s->loop, &s->async, on_async), 0);
	s->async.data = s;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	cfg->loop = &s->loop;
	if (proxy_new(&s->p, cfg, &err) != 0)
		fail_msg("proxy_new: %s", err.msg);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_run, s), 0);
}

static void srv_stop(struct srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	uv_async_send(&s->async);
	pthread_join(s->thread, NULL);
	assert_int_equal(uv_loop_close(&s->loop), 0);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

struct set_table_arg {
	const char *json;
	int ret;
	struct sw_err err;
};

static void do_set_table(struct srv *s, void *arg)
{
	struct set_table_arg *a = arg;
	json_error_t je;
	struct table *t = NULL;
	json_t *j = json_loads(a->json, 0, &je);
	if (!j) {
		a->ret = sw_errf(&a->err, -1, "bad test JSON: %s", je.text);
		return;
	}
	a->ret = table_from_json(&t, j, &a->err);
	if (a->ret == 0)
		a->ret = proxy_set_table(s->p, t, &a->err);
	json_decref(j);
}

static int set_table(struct srv *s, struct sw_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int set_table(struct srv *s, struct sw_err *err, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	struct set_table_arg a = {.json = buf_str(&b)};
	on_loop(s, do_set_table, &a);
	if (err)
		*err = a.err;
	buf_release(&b);
	return a.ret;
}

static void set_table_ok(struct srv *s, const char *json)
{
	struct sw_err err = {0};
	if (set_table(s, &err, "%s", json) != 0)
		fail_msg("set_table: %s", err.msg);
}

struct json_arg {
	json_t *j;
	unsigned window;
};

static void do_backends(struct srv *s, void *arg)
{
	((struct json_arg *)arg)->j = proxy_backends_json(s->p);
}

static void do_metrics(struct srv *s, void *arg)
{
	struct json_arg *a = arg;
	a->j = metrics_json(proxy_metrics(s->p), a->window, sw_now_ms());
}

static void do_open_conns(struct srv *s, void *arg)
{
	*(size_t *)arg = proxy_open_conns(s->p);
}

static size_t open_conns(struct srv *s)
{
	size_t n = 0;
	on_loop(s, do_open_conns, &n);
	return n;
}

/* Polls until the proxy holds no client connection; returns when (ms). */
static uint64_t wait_no_conns(struct srv *s, uint64_t ms)
{
	uint64_t deadline = now_ms() + ms;
	while (open_conns(s) != 0 && now_ms() < deadline)
		usleep(10000);
	assert_int_equal(open_conns(s), 0);
	return now_ms();
}

static json_int_t backend_field(struct srv *s, const char *id, const char *field)
{
	struct json_arg a = {0};
	on_loop(s, do_backends, &a);
	json_int_t v = json_integer_value(json_object_get(json_object_get(a.j, id), field));
	json_decref(a.j);
	return v;
}

/* A one-route table: app "hello" on listen, backends "ID=ADDR,..." in
 * revision 1. */
static char *table1(int listen_port, const char *host, const char *backends)
{
	struct buf b = BUF_INIT, be = BUF_INIT;
	char *list = xstrdup(backends), *save = NULL;
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		*eq = '\0';
		buf_addf(&be, "%s{\"id\": \"%s\", \"addr\": \"%s\"}", be.len ? ", " : "", tok, eq + 1);
	}
	free(list);
	buf_addf(&b,
		 "{\"version\": 1, \"routes\": [{\"app\": \"hello\", \"listen\": \"127.0.0.1:%d\", "
		 "\"host\": %s%s%s, \"groups\": [{\"revision\": 1, \"weight\": 100, \"backends\": [%s]}]}]}",
		 listen_port, host ? "\"" : "", host ? host : "null", host ? "\"" : "", buf_str(&be));
	buf_release(&be);
	return buf_detach(&b);
}

static struct proxy_config test_cfg(void)
{
	return (struct proxy_config){
		.connect_timeout_ms = 2000,
		.header_timeout_ms = 3000,
		.idle_timeout_ms = 5000,
		.upstream_timeout_ms = 5000,
	};
}

/* ------------------------------------------------------------------ */
/* tests                                                               */

static void test_proxy__forwards_and_rewrites_headers(void **state)
{
	(void)state;
	struct tup t;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct resp r;
	char v[256];
	int port = free_port();
	tup_start(&t);
	srv_start(&s, &cfg);
	struct buf be = BUF_INIT;
	buf_addf(&be, "u1=%s", t.addr);
	char *tbl = table1(port, "app.test", buf_str(&be));
	set_table_ok(&s, tbl);

	assert_int_equal(roundtrip(port,
				   "GET /a/b?x=1 HTTP/1.1\r\nHost: app.test\r\nConnection: keep-alive, X-Secret\r\n"
				   "X-Secret: 1\r\nKeep-Alive: 5\r\nProxy-Authorization: Basic eA==\r\nTE: trailers\r\n"
				   "Upgrade: nothing\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\n"
				   "X-Custom: kept\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.status, 200);
	const char *up = buf_str(&r.body);
	assert_non_null(strstr(up, "GET /a/b?x=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(up, "Host: app.test\r\n"));
	assert_non_null(strstr(up, "X-Custom: kept\r\n"));
	assert_non_null(strstr(up, "X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n"));
	assert_non_null(strstr(up, "X-Forwarded-Proto: http\r\n"));
	assert_null(strcasestr(up, "x-secret"));
	assert_null(strcasestr(up, "keep-alive"));
	assert_null(strcasestr(up, "proxy-authorization"));
	assert_null(strcasestr(up, "\nte:"));
	assert_null(strcasestr(up, "upgrade"));
	assert_null(strstr(up, "https"));
	const char *rid = strstr(up, "X-Request-Id: ");
	assert_non_null(rid);
	rid += 14;
	assert_int_equal(strspn(rid, "0123456789abcdef"), 32);
	/* hop-by-hop headers of the response are gone too */
	assert_null(resp_header(&r, "x-hop", v, sizeof(v)));
	assert_null(resp_header(&r, "keep-alive", v, sizeof(v)));
	resp_release(&r);

	/* a request id that came in is kept */
	assert_int_equal(roundtrip(port, "GET / HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: abc-1\r\n\r\n", &r), 0);
	assert_non_null(strstr(buf_str(&r.body), "X-Request-Id: abc-1\r\n"));
	assert_int_equal(strstr(strstr(buf_str(&r.body), "X-Request-Id") + 1, "X-Request-Id"), NULL);
	resp_release(&r);

	/* absolute-form targets go upstream in origin form */
	assert_int_equal(roundtrip(port, "GET http://app.test/abs?q HTTP/1.1\r\nHost: app.test\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(buf_str(&r.body), "GET /abs?q HTTP/1.1\r\n"));
	resp_release(&r);

	srv_stop(&s);
	tup_stop(&t);
	free(tbl);
	buf_release(&be);
}

static void test_proxy__keep_alive_reuses_upstream_connections(void **state)
{
	(void)state;
	struct tup t;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct resp r;
	int port = free_port();
	tup_start(&t);
	srv_start(&s, &cfg);
	struct buf be = BUF_INIT;
	buf_addf(&be, "u1=%s", t.addr);
	char *tbl = table1(port, NULL, buf_str(&be));
	set_table_ok(&s, tbl);

	/* one client connection, many requests */
	int fd = dial(port);
	assert_true(fd >= 0);
	for (int i = 0; i < 20; i++) {
		send_str(fd, "GET /k HTTP/1.1\r\nHost: x\r\n\r\n");
		assert_int_equal(read_response(fd, "GET", &r), 0);
		assert_int_equal(r.status, 200);
		assert_true(r.keep_alive);
		assert_non_null(strstr(buf_str(&r.body), "conn=1\n"));
		resp_release(&r);
	}
	/* pipelined requests are answered in order */
	send_str(fd, "GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_non_null(strstr(buf_str(&r.body), "GET /p1 "));
	struct buf rest = BUF_INIT;
	buf_add(&rest, r.rest.s, r.rest.len);
	resp_release(&r);
	if (rest.len) {
		/* the second response may have arrived in the same read */
		assert_non_null(strstr(buf_str(&rest), "GET /p2 "));
	} else {
		assert_int_equal(read_response(fd, "GET", &r), 0);
		assert_non_null(strstr(buf_str(&r.body), "GET /p2 "));
		resp_release(&r);
	}
	buf_release(&rest);
	close(fd);
	/* new client connections reuse the pooled upstream connection */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(roundtrip(port, "GET /n HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
		assert_int_equal(r.status, 200);
		resp_release(&r);
	}
	assert_int_equal(atomic_load(&t.accepted), 1);
	assert_int_equal(backend_field(&s, "u1", "conns"), 1);
	assert_int_equal(backend_field(&s, "u1", "inflight"), 0);

	/* HTTP/1.0 without keep-alive is answered and closed */
	fd = dial(port);
	send_str(fd, "GET /old HTTP/1.0\r\n\r\n");
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_int_equal(r.status, 200);
	assert_false(r.keep_alive);
	assert_true(closed_by_peer(fd, 2000));
	resp_release(&r);
	close(fd);

	srv_stop(&s);
	tup_stop(&t);
	free(tbl);
	buf_release(&be);
}

static void test_proxy__bodies_stream_both_ways(void **state)
{
	(void)state;
	struct hello h;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct resp r;
	char v[64];
	int port = free_port();
	hello_start(&h, "1.0.0", NULL);
	srv_start(&s, &cfg);
	struct buf be = BUF_INIT;
	buf_addf(&be, "h1=%s", h.addr);
	char *tbl = table1(port, NULL, buf_str(&be));
	set_table_ok(&s, tbl);

	assert_int_equal(roundtrip(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(resp_header(&r, "x-version", v, sizeof(v)));
	assert_string_equal(v, "1.0.0");
	resp_release(&r);

	int fd = dial(port);
	/* chunked request body, then a Content-Length one on the same connection */
	send_str(fd, "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n");
	assert_int_equal(read_response(fd, "POST", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(buf_str(&r.body), "received 11 bytes\n");
	resp_release(&r);
	send_str(fd, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
	assert_int_equal(read_response(fd, "POST", &r), 0);
	assert_string_equal(buf_str(&r.body), "received 3 bytes\n");
	resp_release(&r);
	/* a big response, and a HEAD */
	send_str(fd, "GET /bytes?n=3000000 HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 3000000);
	resp_release(&r);
	send_str(fd, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
	/* http-parser needs to know: read the head by hand */
	char b[4096];
	ssize_t n = read_some(fd, b, sizeof(b) - 1, now_ms() + DEADLINE_MS);
	assert_true(n > 0);
	b[n] = '\0';
	assert_non_null(strstr(b, "HTTP/1.1 200"));
	assert_non_null(strstr(b, "\r\n\r\n"));
	assert_string_equal(strstr(b, "\r\n\r\n"), "\r\n\r\n");
	/* and the connection still works */
	send_str(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_int_equal(r.status, 200);
	resp_release(&r);
	close(fd);

	srv_stop(&s);
	hello_stop(&h);
	free(tbl);
	buf_release(&be);
}

static void test_proxy__errors_404_503_502_504(void **state)
{
	(void)state;
	struct hello slow;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct resp r;
	int port = free_port(), dead = free_port();
	cfg.upstream_timeout_ms = 300;
	hello_start(&slow, "slow", "1500");
	srv_start(&s, &cfg);
	struct buf tb = BUF_INIT;
	buf_addf(&tb,
		 "{\"version\": 2, \"routes\": ["
		 "{\"app\": \"empty\", \"listen\": \"127.0.0.1:%d\", \"host\": \"empty.test\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 100, \"backends\": []}]},"
		 "{\"app\": \"dead\", \"listen\": \"127.0.0.1:%d\", \"host\": \"dead.test\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 100, \"backends\": [{\"id\": \"d1\", \"addr\": \"127.0.0.1:%d\"}]}]},"
		 "{\"app\": \"slow\", \"listen\": \"127.0.0.1:%d\", \"host\": \"slow.test\", \"groups\": "
		 "[{\"revision\": 1, \"weight\": 100, \"backends\": [{\"id\": \"s1\", \"addr\": \"%s\"}]}]}]}",
		 port, port, dead, port, slow.addr);
	set_table_ok(&s, buf_str(&tb));

	assert_int_equal(roundtrip(port, "GET /x/y HTTP/1.1\r\nHost: nope.test\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 404);
	assert_string_equal(buf_str(&r.body), "no route for nope.test/x/y\n");
	resp_release(&r);
	assert_int_equal(roundtrip(port, "GET / HTTP/1.1\r\nHost: empty.test\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 503);
	assert_string_equal(buf_str(&r.body), "no ready instance for empty\n");
	resp_release(&r);
	assert_int_equal(roundtrip(port, "GET / HTTP/1.1\r\nHost: dead.test\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 502);
	assert_string_equal(buf_str(&r.body), "upstream connect failed\n");
	resp_release(&r);
	uint64_t t0 = now_ms();
	assert_int_equal(roundtrip(port, "GET / HTTP/1.1\r\nHost: slow.test\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 504);
	assert_true(now_ms() - t0 < 1400);
	resp_release(&r);
	/* errors keep the client connection when the request was read whole */
	int fd = dial(port);
	send_str(fd, "GET / HTTP/1.1\r\nHost: nope.test\r\n\r\n");
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_int_equal(r.status, 404);
	assert_true(r.keep_alive);
	resp_release(&r);
	send_str(fd, "GET / HTTP/1.1\r\nHost: dead.test\r\n\r\n");
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_int_equal(r.status, 502);
	resp_release(&r);
	close(fd);

	srv_stop(&s);
	hello_stop(&slow);
	buf_release(&tb);
}

static void test_proxy__retries_connect_failure_once_for_idempotent(void **state)
{
	(void)state;
	struct hello h;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct resp r;
	int port = free_port(), dead = free_port();
	hello_start(&h, "live", NULL);
	srv_start(&s, &cfg);
	struct buf be = BUF_INIT;
	buf_addf(&be, "dead=127.0.0.1:%d,live=%s", dead, h.addr);
	char *tbl = table1(port, NULL, buf_str(&be));
	set_table_ok(&s, tbl);

	for (int i = 0; i < 10; i++) {
		assert_int_equal(roundtrip(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
		assert_int_equal(r.status, 200);
		resp_release(&r);
	}
	int bad = 0;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(roundtrip(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", &r), 0);
		if (r.status == 502)
			bad++;
		else
			assert_int_equal(r.status, 200);
		resp_release(&r);
	}
	/* round-robin sends every other POST to the dead backend: no retry */
	assert_int_equal(bad, 2);

	srv_stop(&s);
	hello_stop(&h);
	free(tbl);
	buf_release(&be);
}

static void test_proxy__limits_and_smuggling(void **state)
{
	(void)state;
	struct tup t;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct resp r;
	int port = free_port();
	tup_start(&t);
	srv_start(&s, &cfg);
	struct buf be = BUF_INIT;
	buf_addf(&be, "u1=%s", t.addr);
	char *tbl = table1(port, NULL, buf_str(&be));
	set_table_ok(&s, tbl);

	struct buf big = BUF_INIT;
	buf_adds(&big, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
	for (int i = 0; i < 20000; i++)
		buf_addc(&big, 'a');
	buf_adds(&big, "\r\n\r\n");
	int fd = dial(port);
	send_all(fd, big.s, big.len);
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_int_equal(r.status, 431);
	assert_string_equal(buf_str(&r.body), "request header fields too large\n");
	assert_true(closed_by_peer(fd, 3000));
	resp_release(&r);
	close(fd);
	buf_release(&big);

	static const char *const bad[] = {
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nxx",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
		"GARBAGE\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = dial(port);
		send_str(fd, bad[i]);
		if (read_response(fd, "POST", &r) != 0)
			fail_msg("case %zu: no response", i);
		if (r.status != 400)
			fail_msg("case %zu: status %d", i, r.status);
		assert_false(r.keep_alive);
		assert_true(closed_by_peer(fd, 3000));
		resp_release(&r);
		close(fd);
	}
	/* nothing of those reached the upstream */
	assert_int_equal(atomic_load(&t.accepted), 0);

	srv_stop(&s);
	tup_stop(&t);
	free(tbl);
	buf_release(&be);
}

static void test_proxy__slow_client_cut_at_header_timeout(void **state)
{
	(void)state;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	int port = free_port();
	cfg.header_timeout_ms = 300;
	srv_start(&s, &cfg);
	char *tbl = table1(port, NULL, "u1=127.0.0.1:1");
	set_table_ok(&s, tbl);

	const char *req = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	int fd = dial(port);
	uint64_t t0 = now_ms();
	bool cut = false;
	char b[4096];
	struct buf got = BUF_INIT;
	for (size_t i = 0; req[i] && !cut; i++) {
		if (send(fd, req + i, 1, MSG_NOSIGNAL) < 0) {
			cut = true;
			break;
		}
		/* 1 byte per 50 ms: the whole head would take 4 s */
		ssize_t n = read_some(fd, b, sizeof(b), now_ms() + 50);
		if (n > 0)
			buf_add(&got, b, (size_t)n);
		if (n == 0)
			cut = true;
	}
	if (!cut)
		cut = closed_by_peer(fd, 2000);
	assert_true(cut);
	uint64_t took = now_ms() - t0;
	assert_true(took >= 250 && took < 2000);
	assert_non_null(strstr(buf_str(&got), "HTTP/1.1 408 "));
	close(fd);
	buf_release(&got);

	/* an idle new connection with no byte at all is closed quietly */
	fd = dial(port);
	assert_true(closed_by_peer(fd, 2000));
	close(fd);

	srv_stop(&s);
	free(tbl);
}

static void test_proxy__upgrade_becomes_a_tunnel(void **state)
{
	(void)state;
	struct tup t;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct resp r;
	char v[64];
	int port = free_port();
	tup_start(&t);
	srv_start(&s, &cfg);
	struct buf be = BUF_INIT;
	buf_addf(&be, "u1=%s", t.addr);
	char *tbl = table1(port, NULL, buf_str(&be));
	set_table_ok(&s, tbl);

	int fd = dial(port);
	send_str(fd, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_int_equal(r.status, 101);
	assert_non_null(resp_header(&r, "upgrade", v, sizeof(v)));
	assert_string_equal(v, "echo");
	resp_release(&r);
	for (int i = 0; i < 3; i++) {
		char msg[64], b[64];
		snprintf(msg, sizeof(msg), "ping %d", i);
		send_str(fd, msg);
		size_t have = 0;
		uint64_t deadline = now_ms() + DEADLINE_MS;
		while (have < strlen(msg)) {
			ssize_t n = read_some(fd, b + have, sizeof(b) - 1 - have, deadline);
			assert_true(n > 0);
			have += (size_t)n;
		}
		b[have] = '\0';
		assert_string_equal(b, msg);
	}
	/* a tunnel counts as in flight until it ends */
	assert_int_equal(backend_field(&s, "u1", "inflight"), 1);
	close(fd);
	uint64_t deadline = now_ms() + DEADLINE_MS;
	while (backend_field(&s, "u1", "inflight") != 0 && now_ms() < deadline)
		usleep(10000);
	assert_int_equal(backend_field(&s, "u1", "inflight"), 0);

	srv_stop(&s);
	tup_stop(&t);
	free(tbl);
	buf_release(&be);
}

static void test_proxy__table_swap_keeps_connections_and_listeners(void **state)
{
	(void)state;
	struct hello h1, h2;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct resp r;
	char v[64];
	int pa = free_port(), pb = free_port(), pc = free_port();
	hello_start(&h1, "one", NULL);
	hello_start(&h2, "two", NULL);
	srv_start(&s, &cfg);
	struct buf tb = BUF_INIT;
	buf_addf(&tb,
		 "{\"version\": 1, \"routes\": ["
		 "{\"app\": \"a\", \"listen\": \"127.0.0.1:%d\", \"groups\": [{\"revision\": 1, \"weight\": 100, "
		 "\"backends\": [{\"id\": \"h1\", \"addr\": \"%s\"}]}]},"
		 "{\"app\": \"c\", \"listen\": \"127.0.0.1:%d\", \"groups\": [{\"revision\": 1, \"weight\": 100, "
		 "\"backends\": [{\"id\": \"h1\", \"addr\": \"%s\"}]}]}]}",
		 pa, h1.addr, pc, h1.addr);
	set_table_ok(&s, buf_str(&tb));

	int fd = dial(pa);
	send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_string_equal(resp_header(&r, "x-version", v, sizeof(v)), "one");
	resp_release(&r);
	int fdc = dial(pc);
	assert_true(fdc >= 0);
	close(fdc);

	/* a listener that cannot be opened leaves the old table in place */
	struct sw_err err = {0};
	buf_reset(&tb);
	buf_addf(&tb,
		 "{\"version\": 9, \"routes\": [{\"app\": \"a\", \"listen\": \"%s\", \"groups\": [{\"revision\": 1, "
		 "\"weight\": 100, \"backends\": [{\"id\": \"h1\", \"addr\": \"%s\"}]}]}]}",
		 h1.addr, h1.addr);
	assert_int_not_equal(set_table(&s, &err, "%s", buf_str(&tb)), 0);
	assert_non_null(strstr(err.msg, h1.addr));
	fdc = dial(pc);
	assert_true(fdc >= 0);
	close(fdc);

	buf_reset(&tb);
	buf_addf(&tb,
		 "{\"version\": 2, \"routes\": ["
		 "{\"app\": \"a\", \"listen\": \"127.0.0.1:%d\", \"groups\": [{\"revision\": 2, \"weight\": 100, "
		 "\"backends\": [{\"id\": \"h2\", \"addr\": \"%s\"}]}]},"
		 "{\"app\": \"b\", \"listen\": \"127.0.0.1:%d\", \"groups\": [{\"revision\": 2, \"weight\": 100, "
		 "\"backends\": [{\"id\": \"h2\", \"addr\": \"%s\"}]}]}]}",
		 pa, h2.addr, pb, h2.addr);
	set_table_ok(&s, buf_str(&tb));
	/* the open keep-alive connection goes on, to the new backend */
	send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(resp_header(&r, "x-version", v, sizeof(v)), "two");
	resp_release(&r);
	close(fd);
	/* the new listener serves; the one no route uses is gone */
	assert_int_equal(roundtrip(pb, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
	assert_string_equal(resp_header(&r, "x-version", v, sizeof(v)), "two");
	resp_release(&r);
	assert_int_equal(dial(pc), -1);
	/* the backend that left is forgotten once idle; its pool is closed */
	uint64_t deadline = now_ms() + DEADLINE_MS;
	while (backend_field(&s, "h1", "conns") != 0 && now_ms() < deadline)
		usleep(10000);
	assert_int_equal(backend_field(&s, "h1", "conns"), 0);

	srv_stop(&s);
	hello_stop(&h1);
	hello_stop(&h2);
	buf_release(&tb);
}

static void test_proxy__metrics_per_revision_and_sticky(void **state)
{
	(void)state;
	struct hello h1, h2;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct resp r;
	char v[256];
	int port = free_port();
	hello_start(&h1, "one", NULL);
	hello_start(&h2, "two", NULL);
	srv_start(&s, &cfg);
	struct buf tb = BUF_INIT;
	buf_addf(&tb,
		 "{\"version\": 1, \"routes\": [{\"app\": \"hello\", \"listen\": \"127.0.0.1:%d\", \"sticky\": true, "
		 "\"groups\": [{\"revision\": 1, \"weight\": 80, \"backends\": [{\"id\": \"h1\", \"addr\": \"%s\"}]},"
		 "{\"revision\": 2, \"weight\": 20, \"backends\": [{\"id\": \"h2\", \"addr\": \"%s\"}]}]}]}",
		 port, h1.addr, h2.addr);
	set_table_ok(&s, buf_str(&tb));

	int one = 0, two = 0;
	for (int i = 0; i < 50; i++) {
		assert_int_equal(roundtrip(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
		assert_int_equal(r.status, 200);
		assert_non_null(resp_header(&r, "set-cookie", v, sizeof(v)));
		resp_header(&r, "x-version", v, sizeof(v));
		if (strcmp(v, "one") == 0)
			one++;
		else
			two++;
		resp_release(&r);
	}
	assert_int_equal(one, 40);
	assert_int_equal(two, 10);
	/* a client with the cookie stays on its revision, and gets no new cookie */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(roundtrip(port, "GET / HTTP/1.1\r\nHost: x\r\nCookie: a=b; slipway_rev=2\r\n\r\n", &r), 0);
		assert_string_equal(resp_header(&r, "x-version", v, sizeof(v)), "two");
		assert_null(resp_header(&r, "set-cookie", v, sizeof(v)));
		resp_release(&r);
	}
	struct json_arg a = {.window = 60};
	on_loop(&s, do_metrics, &a);
	json_t *series = json_object_get(a.j, "series");
	assert_int_equal(json_array_size(series), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *e = json_array_get(series, i);
		json_int_t rev = json_integer_value(json_object_get(e, "revision"));
		json_int_t n = json_integer_value(json_object_get(e, "requests"));
		assert_string_equal(json_string_value(json_object_get(e, "app")), "hello");
		assert_int_equal(n, rev == 1 ? 40 : 15);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "byClass"), "2xx")), n);
	}
	json_decref(a.j);

	srv_stop(&s);
	hello_stop(&h1);
	hello_stop(&h2);
	buf_release(&tb);
}

struct feed_arg {
	const char *listen;
	const char *data;
	struct buf out;
};

static void do_feed(struct srv *s, void *arg)
{
	struct feed_arg *a = arg;
	proxy_feed_for_test(s->p, a->listen, a->data, strlen(a->data), &a->out, 3000);
}

static void test_proxy__feed_for_test(void **state)
{
	(void)state;
	struct proxy *p = NULL;
	struct sw_err err = {0};
	uv_loop_t loop;
	struct table *t = NULL;
	struct buf out = BUF_INIT;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct proxy_config cfg = {.loop = &loop};
	assert_int_equal(proxy_new(&p, &cfg, &err), 0);
	json_t *j = json_loads("{\"version\": 1, \"routes\": [{\"app\": \"x\", \"listen\": \"127.0.0.1:9\", "
			       "\"host\": \"x.test\", \"groups\": [{\"revision\": 1, \"weight\": 100, "
			       "\"backends\": [{\"id\": \"b\", \"addr\": \"127.0.0.1:1\"}]}]}]}",
			       0, NULL);
	assert_int_equal(table_from_json(&t, j, &err), 0);
	json_decref(j);
	/* the table's listener cannot be bound (port 9 needs root); feed
	 * without installing it through listeners: */
	(void)t;
	table_free(t);
	const char *req = "GET /a HTTP/1.1\r\nHost: other\r\n\r\nGET /b HTTP/1.1\r\nHost: x.test\r\n\r\n";
	proxy_feed_for_test(p, "127.0.0.1:9", req, strlen(req), &out, 2000);
	/* no table: both get 404, in order */
	const char *first = strstr(buf_str(&out), "HTTP/1.1 404");
	assert_non_null(first);
	assert_non_null(strstr(first + 1, "HTTP/1.1 404"));
	assert_non_null(strstr(buf_str(&out), "no route for other/a\n"));
	buf_release(&out);
	proxy_free(p);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);

	/* with a table (on a free port), the dead backend gives 502 */
	struct srv s;
	struct proxy_config cfg2 = test_cfg();
	int port = free_port();
	srv_start(&s, &cfg2);
	char *tbl = table1(port, "x.test", "b=127.0.0.1:1");
	set_table_ok(&s, tbl);
	char listen[32];
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	struct feed_arg fa = {.listen = listen,
			      .data = "GET / HTTP/1.1\r\nHost: x.test\r\n\r\nGET / HTTP/1.1\r\nHost: y\r\n\r\n"};
	on_loop(&s, do_feed, &fa);
	assert_non_null(strstr(buf_str(&fa.out), "HTTP/1.1 502 Bad Gateway\r\n"));
	assert_non_null(strstr(buf_str(&fa.out), "upstream connect failed\n"));
	assert_non_null(strstr(buf_str(&fa.out), "no route for y/\n"));
	buf_release(&fa.out);
	srv_stop(&s);
	free(tbl);
}

static void source_path(char *out, size_t size, const char *rel)
{
	/* __FILE__ is as the compiler saw it, relative to the build directory
	 * the tests run in. */
	const char *self = __FILE__;
	const char *end = strstr(self, "tests/unit/test_proxy.c");
	snprintf(out, size, "%.*s%s", (int)(end ? end - self : 0), self, rel);
}

struct feed_bytes_arg {
	const char *listen;
	const char *data;
	size_t len;
	struct buf out;
};

static void do_feed_bytes(struct srv *s, void *arg)
{
	struct feed_bytes_arg *a = arg;
	proxy_feed_for_test(s->p, a->listen, a->data, a->len, &a->out, 3000);
}

/* The fuzz corpus replays as a test: every input gets well-formed
 * answers (no crash, no leak under ASan). */
static void test_proxy__fuzz_corpus_replays(void **state)
{
	(void)state;
	char dir[1024], listen[32];
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct dirent *de;
	size_t files = 0;
	int port = free_port();
	source_path(dir, sizeof(dir), "tests/fuzz/corpus/proxy_http");
	srv_start(&s, &cfg);
	char *tbl = table1(port, "x.test", "d1=127.0.0.1:1");
	set_table_ok(&s, tbl);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	DIR *d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		char path[2048];
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		struct buf in = BUF_INIT;
		char b[4096];
		size_t n;
		while ((n = fread(b, 1, sizeof(b), f)) > 0)
			buf_add(&in, b, n);
		fclose(f);
		struct feed_bytes_arg a = {.listen = listen, .data = buf_str(&in), .len = in.len};
		on_loop(&s, do_feed_bytes, &a);
		if (!a.out.len || strncmp(a.out.s, "HTTP/1.1 ", 9) != 0)
			fail_msg("%s: no response", de->d_name);
		buf_release(&a.out);
		buf_release(&in);
		files++;
	}
	closedir(d);
	assert_true(files >= 10);
	srv_stop(&s);
	free(tbl);
}

/* A keep-alive connection stays open (and serves its next request) until
 * it has been idle for idle_timeout_ms, then it is closed quietly; the
 * next request restarts the count. */
static void test_proxy__idle_keep_alive_closed_at_idle_timeout(void **state)
{
	(void)state;
	struct hello h;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct resp r;
	int port = free_port();
	cfg.idle_timeout_ms = 1500;
	hello_start(&h, "1.0.0", NULL);
	srv_start(&s, &cfg);
	struct buf be = BUF_INIT;
	buf_addf(&be, "h1=%s", h.addr);
	char *tbl = table1(port, NULL, buf_str(&be));
	set_table_ok(&s, tbl);

	int fd = dial(port);
	for (int i = 0; i < 3; i++) {
		send_str(fd, "GET /version HTTP/1.1\r\nHost: x\r\n\r\n");
		assert_int_equal(read_response(fd, "GET", &r), 0);
		assert_int_equal(r.status, 200);
		assert_true(r.keep_alive);
		resp_release(&r);
		/* idle for most of the timeout: still open */
		assert_false(closed_by_peer(fd, 1000));
	}
	uint64_t t0 = now_ms();
	assert_true(closed_by_peer(fd, 4000));
	uint64_t took = now_ms() - t0;
	assert_true(took >= 300 && took < 2500);
	close(fd);
	wait_no_conns(&s, DEADLINE_MS);

	srv_stop(&s);
	hello_stop(&h);
	free(tbl);
	buf_release(&be);
}

/* A connection closed after an error response sends its FIN, then waits
 * for the client to hang up, LINGER (2 s) at most, dropping what it
 * sends meanwhile; then it is closed. */
static void test_proxy__closing_connection_lingers_then_closes(void **state)
{
	(void)state;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct resp r;
	char b[256];
	int port = free_port();
	srv_start(&s, &cfg);
	char *tbl = table1(port, NULL, "u1=127.0.0.1:1");
	set_table_ok(&s, tbl);

	int fd = dial(port);
	send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_int_equal(r.status, 400);
	assert_false(r.keep_alive);
	resp_release(&r);
	uint64_t t0 = now_ms();
	/* the FIN came; our side stays open, and what we send is dropped */
	assert_int_equal(read_some(fd, b, sizeof(b), now_ms() + DEADLINE_MS), 0);
	send_str(fd, "more bytes after the end\r\n");
	assert_int_equal(open_conns(&s), 1);
	uint64_t took = wait_no_conns(&s, DEADLINE_MS) - t0;
	assert_true(took >= 1500 && took < 5000);
	close(fd);

	/* a client that hangs up ends the linger at once */
	fd = dial(port);
	send_str(fd, "BAD\r\n\r\n");
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_int_equal(r.status, 400);
	resp_release(&r);
	t0 = now_ms();
	close(fd);
	took = wait_no_conns(&s, DEADLINE_MS) - t0;
	assert_true(took < 1500);

	srv_stop(&s);
	free(tbl);
}

/* A response or a tunnel with no byte either way for idle_timeout_ms is
 * cut; bytes keep a tunnel open however long it lasts. */
static void test_proxy__no_progress_for_idle_timeout_cuts_response_and_tunnel(void **state)
{
	(void)state;
	struct tup t;
	struct srv s;
	struct proxy_config cfg = test_cfg();
	struct resp r;
	char b[256];
	int port = free_port();
	cfg.idle_timeout_ms = 700;
	tup_start(&t);
	srv_start(&s, &cfg);
	struct buf be = BUF_INIT;
	buf_addf(&be, "u1=%s", t.addr);
	char *tbl = table1(port, NULL, buf_str(&be));
	set_table_ok(&s, tbl);

	/* a response whose body stalls after its first bytes */
	int fd = dial(port);
	send_str(fd, "GET /stall HTTP/1.1\r\nHost: x\r\n\r\n");
	struct buf got = BUF_INIT;
	uint64_t deadline = now_ms() + DEADLINE_MS;
	while (!strstr(buf_str(&got), "partial")) {
		ssize_t n = read_some(fd, b, sizeof(b), deadline);
		assert_true(n > 0);
		buf_add(&got, b, (size_t)n);
	}
	assert_non_null(strstr(buf_str(&got), "HTTP/1.1 200 "));
	uint64_t t0 = now_ms();
	assert_true(closed_by_peer(fd, 5000));
	uint64_t took = now_ms() - t0;
	assert_true(took >= 500 && took < 3000);
	close(fd);
	buf_release(&got);

	/* a tunnel used every 200 ms for three idle timeouts stays open */
	fd = dial(port);
	send_str(fd, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
	assert_int_equal(read_response(fd, "GET", &r), 0);
	assert_int_equal(r.status, 101);
	resp_release(&r);
	for (int i = 0; i < 10; i++) {
		send_str(fd, "ping");
		size_t have = 0;
		deadline = now_ms() + DEADLINE_MS;
		while (have < 4) {
			ssize_t n = read_some(fd, b + have, sizeof(b) - have, deadline);
			assert_true(n > 0);
			have += (size_t)n;
		}
		assert_memory_equal(b, "ping", 4);
		assert_false(closed_by_peer(fd, 200));
	}
	/* then silent: cut after the idle timeout (200 ms of it passed in
	 * the last wait) */
	t0 = now_ms();
	assert_true(closed_by_peer(fd, 5000));
	took = now_ms() - t0;
	assert_true(took >= 300 && took < 3000);
	close(fd);
	wait_no_conns(&s, DEADLINE_MS);

	srv_stop(&s);
	tup_stop(&t);
	free(tbl);
	buf_release(&be);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proxy__forwards_and_rewrites_headers),
		cmocka_unit_test(test_proxy__keep_alive_reuses_upstream_connections),
		cmocka_unit_test(test_proxy__bodies_stream_both_ways),
		cmocka_unit_test(test_proxy__errors_404_503_502_504),
		cmocka_unit_test(test_proxy__retries_connect_failure_once_for_idempotent),
		cmocka_unit_test(test_proxy__limits_and_smuggling),
		cmocka_unit_test(test_proxy__slow_client_cut_at_header_timeout),
		cmocka_unit_test(test_proxy__idle_keep_alive_closed_at_idle_timeout),
		cmocka_unit_test(test_proxy__closing_connection_lingers_then_closes),
		cmocka_unit_test(test_proxy__no_progress_for_idle_timeout_cuts_response_and_tunnel),
		cmocka_unit_test(test_proxy__upgrade_becomes_a_tunnel),
		cmocka_unit_test(test_proxy__table_swap_keeps_connections_and_listeners),
		cmocka_unit_test(test_proxy__metrics_per_revision_and_sticky),
		cmocka_unit_test(test_proxy__feed_for_test),
		cmocka_unit_test(test_proxy__fuzz_corpus_replays),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	for (size_t i = 0; i < sizeof(hello_pids) / sizeof(hello_pids[0]); i++)
		if (hello_pids[i] > 0)
			kill(hello_pids[i], SIGKILL);
	return r;
}
