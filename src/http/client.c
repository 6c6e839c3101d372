/*
 * The blocking API client the CLI uses: one request a connection, plain
 * POSIX sockets, every wait bounded by poll() against one deadline.
 */
#include "http.h"
#include "core/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIENT_DEFAULT_TIMEOUT_MS 30000

struct resp_state {
	struct buf *body;
	int done;
	int interim; /* a 1xx response is being skipped */
	int toobig;
};

static int on_headers_complete(http_parser *p)
{
	struct resp_state *st = p->data;
	st->interim = p->status_code >= 100 && p->status_code < 200;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct resp_state *st = p->data;
	if (st->interim)
		return 0;
	if (buf_add(st->body, at, n) < 0) {
		st->toobig = 1;
		return -1;
	}
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct resp_state *st = p->data;
	if (st->interim) {
		st->interim = 0;
		return 0;
	}
	st->done = 1;
	return -1; /* stop: one response is all we wait for */
}

static const http_parser_settings resp_settings = {
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* Milliseconds left before the deadline, at least 0. */
static int left_ms(uint64_t deadline)
{
	uint64_t now = sw_now_ms();
	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Waits for `events` on fd; 0 when ready, -1 on timeout (errno ETIMEDOUT). */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = events};
		int ms = left_ms(deadline);
		int r = poll(&pfd, 1, ms);
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

static int connect_to(const struct http_client *c, const char *where, uint64_t deadline, struct sw_err *err)
{
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	struct sw_addr tcp;
	struct sw_err e = {0};
	struct sockaddr *sa;
	socklen_t slen;
	int fd = -1;

	if (c->unix_path) {
		if (strlen(c->unix_path) >= sizeof(su.sun_path))
			return sw_errf(err, SW_EINVAL, "socket path \"%s\" is too long", c->unix_path);
		sw_strlcpy(su.sun_path, c->unix_path, sizeof(su.sun_path));
		sa = (struct sockaddr *)&su;
		slen = sizeof(su);
	} else {
		if (sw_addr_parse(&tcp, c->tcp_addr, 0, &e) < 0)
			return sw_errf(err, SW_EINVAL, "invalid address %s", e.msg);
		sa = (struct sockaddr *)&tcp.sa;
		slen = tcp.sa_len;
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return sw_errf(err, -1, "socket: %s", strerror(errno));
	int r = connect(fd, sa, slen);
	/* a unix socket with a full backlog says EAGAIN: retry until the deadline */
	while (r < 0 && errno == EAGAIN && left_ms(deadline) > 0) {
		struct pollfd none = {.fd = -1};
		poll(&none, 1, 10);
		r = connect(fd, sa, slen);
	}
	if (r < 0 && errno == EINPROGRESS) {
		if (wait_fd(fd, POLLOUT, deadline) == 0) {
			int soerr = 0;
			socklen_t el = sizeof(soerr);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el);
			r = soerr ? -1 : 0;
			errno = soerr;
		}
	}
	if (r < 0) {
		int e = errno;
		close(fd);
		return sw_errf(err, -1,
			       "cannot connect to slipway at %s: %s (is the daemon running? start it with `slipway serve`)",
			       where, strerror(e));
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline) < 0)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

static int token_ok(const char *s, int path)
{
	if (!s || !*s || (path && s[0] != '/'))
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int http_client_request(const struct http_client *c, const char *method, const char *path,
		       const char *body, size_t body_len, int *out_status, struct buf *out,
		       struct sw_err *err)
{
	const char *where = c->unix_path ? c->unix_path : c->tcp_addr;
	int timeout = c->timeout_ms > 0 ? c->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
	uint64_t deadline = sw_now_ms() + (uint64_t)timeout;
	struct buf req = BUF_INIT;
	struct resp_state st = {.body = out};
	http_parser parser;
	char chunk[16384];
	size_t got = 0; /* response bytes so far */
	int fd = -1, ret = -1;

	buf_reset(out);
	*out_status = 0;
	if (!where) {
		sw_errf(err, SW_EINVAL, "no slipway address given");
		goto out;
	}
	if (!token_ok(method, 0) || !token_ok(path, 1)) {
		sw_errf(err, SW_EINVAL, "invalid request \"%s %s\"", method ? method : "", path ? path : "");
		goto out;
	}
	if (c->token && (strpbrk(c->token, "\r\n") || !*c->token)) {
		sw_errf(err, SW_EINVAL, "invalid token");
		goto out;
	}

	fd = connect_to(c, where, deadline, err);
	if (fd < 0)
		goto out;

	buf_addf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n", method, path,
		 c->unix_path ? "localhost" : c->tcp_addr);
	if (c->token)
		buf_addf(&req, "Authorization: Bearer %s\r\n", c->token);
	if (body)
		buf_adds(&req, "Content-Type: application/json\r\n");
	buf_addf(&req, "Content-Length: %zu\r\nConnection: close\r\n\r\n", body ? body_len : 0);
	if (body)
		buf_add(&req, body, body_len);
	if (send_all(fd, buf_str(&req), req.len, deadline) < 0) {
		/* the server may have answered early (413, 401) and closed: read it */
		if (errno != EPIPE && errno != ECONNRESET) {
			if (errno == ETIMEDOUT)
				sw_errf(err, -1, "timed out after %d ms talking to slipway at %s", timeout, where);
			else
				sw_errf(err, -1, "cannot send to slipway at %s: %s", where, strerror(errno));
			goto out;
		}
	}

	http_parser_init(&parser, HTTP_RESPONSE);
	parser.data = &st;
	while (!st.done) {
		if (wait_fd(fd, POLLIN, deadline) < 0) {
			if (errno == ETIMEDOUT)
				sw_errf(err, -1, "timed out after %d ms waiting for slipway at %s", timeout, where);
			else
				sw_errf(err, -1, "cannot read from slipway at %s: %s", where, strerror(errno));
			goto out;
		}
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0 && errno != ECONNRESET) {
			sw_errf(err, -1, "cannot read from slipway at %s: %s", where, strerror(errno));
			goto out;
		}
		if (n < 0)
			n = 0; /* a reset after the full response still counts as the end */
		http_parser_execute(&parser, &resp_settings, chunk, (size_t)n);
		if (st.done)
			break;
		if (st.toobig) {
			sw_errf(err, -1, "response from slipway at %s is too large", where);
			goto out;
		}
		if (HTTP_PARSER_ERRNO(&parser) != HPE_OK) {
			sw_errf(err, -1, "invalid response from slipway at %s: %s", where,
				http_errno_description(HTTP_PARSER_ERRNO(&parser)));
			goto out;
		}
		if (n == 0 && !got) {
			/* what a server that is out of connections does once it cannot even say so */
			sw_errf(err, -1, "slipway at %s closed the connection without answering; it may have too "
				"many connections open: try again later", where);
			goto out;
		}
		if (n == 0) {
			sw_errf(err, -1, "slipway at %s closed the connection before the response was complete",
				where);
			goto out;
		}
		got += (size_t)n;
	}
	*out_status = parser.status_code;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	buf_release(&req);
	return ret;
}
