/*
 * The API server: listeners, connections, request parsing (http-parser),
 * routing and response writing.
 *
 * A connection is one `struct conn` whatever carries it: a libuv stream, or
 * nothing at all for http_feed_for_test, where writes append to a buffer.
 * Everything between the bytes coming in and the bytes going out is the same
 * code for both, so the fuzz target exercises the real path.
 *
 * A request is answered from the parser's on_message_complete callback and
 * pipelined requests are answered in order simply because their writes are
 * queued in order. A deferred request (http_defer) pauses the parser: bytes
 * that come meanwhile wait in `pending` and are parsed once it is answered.
 * After any error response the connection stops parsing and is closed once
 * its writes have drained.
 *
 * Every connection counts against one budget (enum conn_pool) chosen at
 * accept by who the peer is; the budgets, timers and refusals are told in
 * docs/internals/http-server.md.
 */
#include "http.h"
#include "core/addr.h"
#include "core/utf8.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define API_MAX_HEADER (16u * 1024)
#define API_DEFAULT_MAX_BODY (1024u * 1024)
#define API_DEFAULT_HEADER_TIMEOUT_MS 5000
#define API_DEFAULT_IDLE_TIMEOUT_MS 60000
#define API_DEFAULT_MAX_CONNS 256
#define API_DEFAULT_MAX_CLIENT_CONNS 32
/* Connections being told 503 at once; more than this are closed unanswered. */
#define API_MAX_REFUSING 256
/* How long a refused connection may linger for its 503 to be read: short, as
 * refusals come in floods. */
#define API_REFUSE_LINGER_MS 250
/* Refusals are logged at most this often, with how many there were. */
#define API_REFUSE_LOG_MS 10000
/* Stop reading from a client that does not read its responses. */
#define API_WRITE_HIGH_WATER (1024u * 1024)
#define API_WRITE_LOW_WATER (64u * 1024)
/* How long a closing connection waits for its writes to drain and the peer to hang up. */
#define API_LINGER_MS 5000

struct route {
	char *method;
	char *pattern;
	char **segs; /* pattern segments; "{x}" matches any one non-empty segment */
	size_t nsegs;
	enum http_role least;  /* the least role a token needs */
	size_t max_body;       /* its body limit; 0: the server's */
	http_handler h;
	void *data;
};

/*
 * The budgets connections count against. Each listener has its own, and on
 * the unix socket the operator (a peer with the daemon's uid, or root) has
 * one of their own, so that no other client can take the last seat.
 */
enum conn_pool {
	POOL_TCP,       /* the TCP listener */
	POOL_OPERATOR,  /* unix socket, the operator */
	POOL_UNIX,      /* unix socket, any other uid (needs a token) */
	POOL_REFUSED,   /* being answered 503, then closed */
	NPOOLS,
};

/* Who a connection comes from, for the per-client limit. */
struct conn_peer {
	int family;             /* AF_INET, AF_INET6, AF_UNIX (then uid) */
	unsigned char addr[16];
	uid_t uid;
};

struct http_server {
	uv_loop_t *loop;
	char *unix_path;  /* the socket we created, unlinked by http_free */
	uv_pipe_t pipe;
	int has_pipe;
	uv_tcp_t tcp;
	int has_tcp;
	int tcp_port;
	size_t max_body;
	uint64_t header_timeout_ms;
	uint64_t idle_timeout_ms;
	unsigned max_conns;         /* per pool */
	unsigned max_client_conns;  /* per client in a pool (the operator's pool has none) */
	unsigned npool[NPOOLS];     /* live connections in each pool */
	uint64_t refused_logged_ms; /* when refusals were last logged */
	unsigned refused_unlogged;  /* refusals since */
	http_auth_cb auth;
	void *auth_data;
	struct route *routes;
	size_t nroutes;
	struct conn *conns;       /* socket connections, for http_free */
	unsigned nconns;          /* live connections, including one being fed */
	unsigned pending_closes;  /* listener handles whose close callback is due */
	int freeing;
};

struct http_req_priv {
	struct conn *conn;
	const struct route *route;
	char **segs;  /* decoded path segments */
	size_t nsegs;
	char **vals;  /* decoded query values handed out by http_req_query */
	size_t nvals;
};

struct conn {
	struct http_server *api;
	struct conn *prev, *next;
	int tcp;
	int operator;        /* the unix peer is the daemon's uid or root: admin, no token */
	enum conn_pool pool;
	struct conn_peer peer;
	int sock;            /* 1: libuv handles below; 0: writes go to `out` */
	struct buf *out;
	union {
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	uv_timer_t timer;
	uv_shutdown_t shutdown_req;
	int open_handles;

	http_parser parser;
	/* the request being parsed */
	int in_headers;      /* between message begin and headers complete */
	size_t header_bytes;
	struct buf url, field, value, authz, body;
	struct buf accept, last_event_id;
	struct buf xhdrs;    /* X-* and Content-Type headers: "name\0value\0"..., names lower case */
	int last_was_value;
	int saw_cl, saw_te, expect_continue;
	int nauthz;          /* Authorization headers seen */
	size_t max_body;     /* this request's body limit (its route's or the server's) */
	char *path;          /* decoded, "/a/b" */
	char *query;         /* raw, "" when none */
	struct http_req_priv priv;
	char actor[384];     /* the caller; the auth callback's 403 message meanwhile */

	/* set by a callback that wants an error response */
	int err_status;
	char err_msg[384];
	int err_auth;        /* add WWW-Authenticate */

	int stop;            /* stop parsing: close after writes drain */
	int want_close;      /* graceful close begun */
	int closing;         /* handles being closed */
	int paused;          /* reading stopped for backpressure */
	int peer_eof;        /* the peer ended its input */
	int shut_done;       /* our shutdown went out: all writes are flushed */
	int in_handler;      /* a handler runs: http_defer may be called */

	struct http_deferred *deferred; /* the request being answered later */
	int resume;          /* after a deferred answer: parse `pending` from the timer */
	struct buf pending;  /* bytes read while deferred, parsed after it */
};

/* Input kept while a request is deferred; past it, reading stops. */
#define API_MAX_PENDING (2 * API_MAX_HEADER)

struct http_deferred {
	struct conn *c;
	http_defer_cb cb;
	void *data;
	uint64_t deadline;     /* loop time (uv_now) of HTTP_DEFER_TIMEOUT */
	int keep_alive, head;  /* of the request */
	int streaming;         /* headers of a stream are out */
	int ending;            /* the callback runs */
	int gone;              /* nothing can be sent */
	int finished;          /* the handler's side ended it during the callback */
	int next;              /* ... and the connection goes on (keep-alive) */
	char *heartbeat;
	uint64_t heartbeat_ms;
	uint64_t last_write;   /* loop time of the last write */
};

static void conn_close(struct conn *c);
static void conn_feed(struct conn *c, const char *data, size_t len);
static void on_timer(uv_timer_t *t);
static void conn_begin_close(struct conn *c);
static void defer_end(struct conn *c, enum http_defer_end why);
static void defer_arm(struct conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void on_shutdown(uv_shutdown_t *req, int status);

/* --- small helpers --- */

/* Percent-decodes s[0..n) into out; fails on a bad escape or a NUL byte. */
static int pct_decode(const char *s, size_t n, int plus_space, struct buf *out)
{
	buf_reset(out);
	return buf_add_pct_decoded(out, s, n, plus_space != 0);
}

static const char *reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 423: return "Locked";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* --- responses --- */

void http_resp_json(struct http_resp *resp, int status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	buf_reset(&resp->body);
	resp->content_type = "application/json";
	if (!s) {
		resp->status = 500;
		buf_adds(&resp->body, "{\"error\":\"cannot encode the response\"}\n");
		return;
	}
	resp->status = status;
	buf_adds(&resp->body, s);
	buf_addc(&resp->body, '\n');
	free(s);
}

void http_resp_error(struct http_resp *resp, int status, const char *fmt, ...)
{
	struct buf raw = BUF_INIT, clean = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&raw, fmt, ap);
	va_end(ap);
	/* Messages may quote request bytes; jansson wants valid UTF-8. */
	sw_utf8_sanitize(&clean, buf_str(&raw), raw.len);
	http_resp_json(resp, status, json_pack("{s:s}", "error", buf_str(&clean)));
	buf_release(&raw);
	buf_release(&clean);
}

/* --- requests --- */

const char *http_req_param(const struct http_req *req, const char *name)
{
	const struct http_req_priv *pv = req->priv;
	if (!pv || !pv->route || !name)
		return NULL;
	size_t nl = strlen(name);
	for (size_t i = 0; i < pv->route->nsegs && i < pv->nsegs; i++) {
		const char *s = pv->route->segs[i];
		size_t sl = strlen(s);
		if (sl == nl + 2 && s[0] == '{' && s[sl - 1] == '}' && memcmp(s + 1, name, nl) == 0)
			return pv->segs[i];
	}
	return NULL;
}

const char *http_req_query(const struct http_req *req, const char *name)
{
	struct http_req_priv *pv = req->priv;
	const char *q = req->query;
	struct buf key = BUF_INIT, val = BUF_INIT;
	const char *found = NULL;
	if (!pv || !q || !name)
		return NULL;
	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		size_t kl = eq ? (size_t)(eq - q) : n;
		if (pct_decode(q, kl, 1, &key) == 0 && strcmp(buf_str(&key), name) == 0) {
			if (eq && pct_decode(eq + 1, n - kl - 1, 1, &val) < 0)
				break;
			if (!eq)
				buf_reset(&val);
			pv->vals = xrealloc(pv->vals, (pv->nvals + 1) * sizeof(*pv->vals));
			pv->vals[pv->nvals] = xstrdup(buf_str(&val));
			found = pv->vals[pv->nvals++];
			break;
		}
		q += n;
		if (*q == '&')
			q++;
	}
	buf_release(&key);
	buf_release(&val);
	return found;
}

/* Every pair must decode to UTF-8 without NULs, so handlers see clean text. */
static int query_valid(const char *q)
{
	struct buf tmp = BUF_INIT;
	int ok = 1;
	while (*q && ok) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		size_t kl = eq ? (size_t)(eq - q) : n;
		if (pct_decode(q, kl, 1, &tmp) < 0 || !sw_utf8_valid(tmp.s ? tmp.s : "", tmp.len))
			ok = 0;
		if (ok && eq && (pct_decode(eq + 1, n - kl - 1, 1, &tmp) < 0 ||
				 !sw_utf8_valid(tmp.s ? tmp.s : "", tmp.len)))
			ok = 0;
		q += n;
		if (*q == '&')
			q++;
	}
	buf_release(&tmp);
	return ok;
}

static void priv_release(struct http_req_priv *pv)
{
	for (size_t i = 0; i < pv->nsegs; i++)
		free(pv->segs[i]);
	for (size_t i = 0; i < pv->nvals; i++)
		free(pv->vals[i]);
	free(pv->segs);
	free(pv->vals);
	struct conn *c = pv->conn;
	memset(pv, 0, sizeof(*pv));
	pv->conn = c;
}

static void request_reset(struct conn *c)
{
	buf_reset(&c->url);
	buf_reset(&c->field);
	buf_reset(&c->value);
	buf_reset(&c->authz);
	buf_reset(&c->accept);
	buf_reset(&c->last_event_id);
	buf_reset(&c->xhdrs);
	buf_release(&c->body);
	c->in_headers = 0;
	c->header_bytes = 0;
	c->last_was_value = 0;
	c->saw_cl = c->saw_te = c->expect_continue = 0;
	c->nauthz = 0;
	free(c->path);
	free(c->query);
	c->path = c->query = NULL;
	priv_release(&c->priv);
	c->actor[0] = '\0';
}

static int fail(struct conn *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct conn *c, int status, const char *fmt, ...)
{
	if (!c->err_status) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err_msg, sizeof(c->err_msg), fmt, ap);
		va_end(ap);
		c->err_status = status;
	}
	return -1;
}

/* Splits and decodes the request target into path segments and query. */
static int parse_target(struct conn *c)
{
	struct http_parser_url u;
	const char *url = buf_str(&c->url);
	struct buf seg = BUF_INIT, path = BUF_INIT;
	int ret = -1;

	http_parser_url_init(&u);
	if (http_parser_parse_url(url, c->url.len, 0, &u) != 0 || !(u.field_set & (1 << UF_PATH))) {
		fail(c, 400, "invalid request target");
		goto out;
	}
	const char *p = url + u.field_data[UF_PATH].off;
	size_t plen = u.field_data[UF_PATH].len;
	if (plen == 0 || p[0] != '/') {
		fail(c, 400, "invalid request target");
		goto out;
	}
	p++;
	plen--;
	for (;;) {
		const char *slash = memchr(p, '/', plen);
		size_t n = slash ? (size_t)(slash - p) : plen;
		if (pct_decode(p, n, 0, &seg) < 0 || !sw_utf8_valid(buf_str(&seg), seg.len)) {
			fail(c, 400, "invalid path encoding");
			goto out;
		}
		c->priv.segs = xrealloc(c->priv.segs, (c->priv.nsegs + 1) * sizeof(char *));
		c->priv.segs[c->priv.nsegs++] = xstrdup(buf_str(&seg));
		buf_addc(&path, '/');
		buf_add(&path, seg.s ? seg.s : "", seg.len);
		if (!slash)
			break;
		p += n + 1;
		plen -= n + 1;
	}
	if (u.field_set & (1 << UF_QUERY))
		c->query = xstrndup(url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
	else
		c->query = xstrdup("");
	if (!query_valid(c->query)) {
		fail(c, 400, "invalid query string encoding");
		goto out;
	}
	c->path = buf_detach(&path);
	ret = 0;
out:
	buf_release(&seg);
	buf_release(&path);
	return ret;
}

static const struct route *find_route(const struct http_server *api, const char *method,
				       const struct http_req_priv *pv);

static int check_auth(struct conn *c)
{
	struct http_server *api = c->api;
	const char *method = http_method_str((enum http_method)c->parser.method);
	if (c->operator) {
		sw_strlcpy(c->actor, "local", sizeof(c->actor));
		return 0;
	}
	const struct route *open = find_route(api, method, &c->priv);
	if (open && open->least == HTTP_ROLE_PUBLIC) {
		/* the handler authenticates it (a webhook's signature) */
		sw_strlcpy(c->actor, "anonymous", sizeof(c->actor));
		return 0;
	}
	const char *h = buf_str(&c->authz);
	if (strncasecmp(h, "bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) {
		c->err_auth = 1;
		return fail(c, 401, "missing bearer token");
	}
	h += 6;
	while (*h == ' ' || *h == '\t')
		h++;
	size_t n = strlen(h);
	while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	char *token = xstrndup(h, n);
	enum http_role role = 0;
	c->actor[0] = '\0';
	int r = (n && api->auth) ? api->auth(token, c->actor, sizeof(c->actor), &role, api->auth_data) : -1;
	free(token);
	c->actor[sizeof(c->actor) - 1] = '\0';
	if (r != 0) {
		c->actor[0] = '\0';
		c->err_auth = 1;
		return fail(c, 401, n ? "invalid bearer token" : "missing bearer token");
	}
	/* An unknown endpoint is answered by dispatch (404/405) */
	const struct route *route = find_route(api, method, &c->priv);
	if (route && role < route->least) {
		fail(c, 403, "token \"%s\" (role %s) may not %s %s", c->actor, http_role_name(role),
		     method, c->path);
		c->actor[0] = '\0';
		return -1;
	}
	return 0;
}

/* --- output --- */

struct wreq {
	uv_write_t req;
	struct conn *conn;
	char *data;
};

static void conn_maybe_resume(struct conn *c)
{
	if (c->paused && !c->closing && !c->want_close &&
	    uv_stream_get_write_queue_size(&c->h.stream) < API_WRITE_LOW_WATER) {
		c->paused = 0;
		if (uv_read_start(&c->h.stream, on_alloc, on_read) < 0)
			conn_close(c);
	}
}

static void on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->conn;
	free(w->data);
	free(w);
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	conn_maybe_resume(c);
}

/* Takes b's contents: the bytes go to the socket, or to `out` when fed. */
static void conn_write(struct conn *c, struct buf *b)
{
	if (!c->sock) {
		buf_add(c->out, buf_str(b), b->len);
		buf_release(b);
		return;
	}
	if (c->closing || !b->len) {
		buf_release(b);
		return;
	}
	if (c->api->freeing && uv_stream_get_write_queue_size(&c->h.stream) == 0) {
		/* the loop may never run the queued write (upgrade re-executes) */
		uv_buf_t ub = uv_buf_init(b->s, (unsigned)b->len);
		int n = uv_try_write(&c->h.stream, &ub, 1);
		if (n > 0)
			buf_consume(b, (size_t)n);
		if (!b->len) {
			buf_release(b);
			return;
		}
	}
	struct wreq *w = xmalloc(sizeof(*w));
	size_t len = b->len;
	w->conn = c;
	w->data = buf_detach(b);
	uv_buf_t ub = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, &c->h.stream, &ub, 1, on_write) < 0) {
		free(w->data);
		free(w);
		conn_close(c);
	}
}

/* Keeps only well-formed "Name: value\r\n" lines; a bad one drops them all. */
static int extra_headers_ok(const char *h)
{
	while (*h) {
		const char *colon = NULL;
		const char *p = h;
		for (; *p && *p != '\r' && *p != '\n'; p++)
			if (*p == ':' && !colon)
				colon = p;
		if (!colon || colon == h || p[0] != '\r' || p[1] != '\n')
			return 0;
		h = p + 2;
	}
	return 1;
}

/* Appends the whole response to out. */
static void format_response(struct buf *out, struct http_resp *resp, int keep_alive, int head)
{
	int status = resp->status;
	const char *ct = resp->content_type ? resp->content_type : "application/json";

	if (status < 200 || status > 599) {
		http_resp_error(resp, 500, "handler returned invalid status %d", status);
		status = 500;
		ct = "application/json";
	}
	if (strpbrk(ct, "\r\n"))
		ct = "application/octet-stream";
	resp->extra_headers[sizeof(resp->extra_headers) - 1] = '\0';
	const char *extra = extra_headers_ok(resp->extra_headers) ? resp->extra_headers : "";
	int nobody = status == 204 || status == 304;
	size_t blen = nobody ? 0 : resp->body.len;

	buf_addf(out, "HTTP/1.1 %d %s\r\n", status, reason(status));
	if (!nobody)
		buf_addf(out, "Content-Type: %s\r\nContent-Length: %zu\r\n", ct, blen);
	buf_addf(out, "Connection: %s\r\n%s\r\n", keep_alive ? "keep-alive" : "close", extra);
	if (!head && blen)
		buf_add(out, buf_str(&resp->body), blen);
}

static void write_response(struct conn *c, struct http_resp *resp, int keep_alive, int head)
{
	struct buf out = BUF_INIT;
	format_response(&out, resp, keep_alive, head);
	conn_write(c, &out);
}

static void set_timer(struct conn *c, uint64_t ms);

/* Stops reading; closes once the queued writes have gone out. */
static void conn_begin_close(struct conn *c)
{
	c->stop = 1;
	if (!c->sock || c->want_close || c->closing)
		return;
	c->want_close = 1;
	/*
	 * Keep reading (and dropping) until the peer closes too: closing with
	 * unread input makes TCP send a reset, which can destroy the response
	 * (a 413 or 401 sent while the client is still sending its body)
	 * before the client reads it. The timer bounds both the wait for
	 * queued writes and this linger.
	 */
	if (c->paused && !c->peer_eof && uv_read_start(&c->h.stream, on_alloc, on_read) < 0) {
		conn_close(c);
		return;
	}
	c->paused = 0;
	uint64_t linger = c->pool == POOL_REFUSED ? API_REFUSE_LINGER_MS : API_LINGER_MS;
	set_timer(c, c->api->idle_timeout_ms < linger ? c->api->idle_timeout_ms : linger);
	if (uv_shutdown(&c->shutdown_req, &c->h.stream, on_shutdown) == 0)
		return;
	conn_close(c);
}

static void send_error(struct conn *c, int status, const char *msg, int auth)
{
	struct http_resp resp = {.status = status};
	http_resp_error(&resp, status, "%s", msg);
	if (auth)
		sw_strlcpy(resp.extra_headers, "WWW-Authenticate: Bearer\r\n", sizeof(resp.extra_headers));
	write_response(c, &resp, 0, 0);
	buf_release(&resp.body);
	conn_begin_close(c);
}

/* --- deferred responses --- */

struct http_deferred *http_defer(const struct http_req *req, uint64_t max_wait_ms, http_defer_cb cb,
				 void *data)
{
	struct conn *c = req->priv ? req->priv->conn : NULL;
	SW_ASSERT(c && c->in_handler && !c->deferred && cb);
	struct http_deferred *d = xcalloc(1, sizeof(*d));
	uint64_t now = c->sock ? uv_now(c->api->loop) : 0;
	d->c = c;
	d->cb = cb;
	d->data = data;
	d->deadline = now + (max_wait_ms == 0 || max_wait_ms > HTTP_DEFER_MAX_MS ? HTTP_DEFER_MAX_MS
										  : max_wait_ms);
	d->last_write = now;
	d->keep_alive = http_should_keep_alive(&c->parser) && !c->parser.upgrade;
	d->head = c->parser.method == HTTP_HEAD;
	c->deferred = d;
	return d;
}

/* The timer of a deferred request: its deadline, or its next heartbeat. */
static void defer_arm(struct conn *c)
{
	struct http_deferred *d = c->deferred;
	if (!c->sock || !d || c->closing)
		return;
	uint64_t now = uv_now(c->api->loop);
	uint64_t ms = d->deadline > now ? d->deadline - now : 0;
	if (d->streaming && d->heartbeat) {
		uint64_t due = d->last_write + d->heartbeat_ms;
		uint64_t hb = due > now ? due - now : 0;
		if (hb < ms)
			ms = hb;
	}
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Parses what came while a request was deferred. */
static void defer_resume(struct conn *c)
{
	struct buf pend = c->pending;
	c->resume = 0;
	c->pending = (struct buf)BUF_INIT;
	set_timer(c, c->api->idle_timeout_ms);
	if (c->sock)
		conn_maybe_resume(c);
	if (pend.len)
		conn_feed(c, pend.s, pend.len);
	buf_release(&pend);
}

/* Forgets the deferred request. With `next`, the connection goes on: the
 * requests the client sent meanwhile are parsed now. */
static void defer_done(struct conn *c, int next)
{
	struct http_deferred *d = c->deferred;
	c->deferred = NULL;
	free(d->heartbeat);
	free(d);
	if (!next || c->closing || c->stop)
		return;
	request_reset(c);
	http_parser_pause(&c->parser, 0);
	if (!c->sock) {
		defer_resume(c);
		return;
	}
	/* the answer may come from inside anything (an engine event): the
	 * next request is parsed from the timer, on a later turn */
	c->resume = 1;
	uv_timer_start(&c->timer, on_timer, 0, 0);
}

/* Ends the handler's side: at once, or after the callback when it runs. */
static void defer_finish(struct http_deferred *d, int next)
{
	struct conn *c = d->c;
	if (d->ending) {
		d->finished = 1;
		d->next = next;
		return;
	}
	defer_done(c, next);
	if (!next) {
		if (c->sock)
			conn_begin_close(c);
		else
			c->stop = 1;
	}
}

void http_deferred_answer(struct http_deferred *d, struct http_resp *resp)
{
	struct conn *c = d->c;
	SW_ASSERT(!d->streaming && !d->finished && !c->in_handler);
	int ka = d->keep_alive && !c->api->freeing && !c->closing && !d->gone;
	if (!d->gone)
		write_response(c, resp, ka, d->head);
	defer_finish(d, ka);
}

void http_deferred_stream(struct http_deferred *d, int status, const char *content_type,
			  const char *extra_headers, const char *heartbeat, uint64_t heartbeat_ms)
{
	struct conn *c = d->c;
	struct buf out = BUF_INIT;
	SW_ASSERT(!d->streaming && !d->finished);
	d->streaming = 1;
	if (heartbeat && heartbeat_ms) {
		d->heartbeat = xstrdup(heartbeat);
		d->heartbeat_ms = heartbeat_ms;
	}
	if (status < 200 || status > 599)
		status = 500;
	if (!content_type || strpbrk(content_type, "\r\n"))
		content_type = "application/octet-stream";
	if (!extra_headers || !extra_headers_ok(extra_headers))
		extra_headers = "";
	if (d->gone)
		return;
	buf_addf(&out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
		 "Connection: close\r\n%s\r\n", status, reason(status), content_type, extra_headers);
	conn_write(c, &out);
	if (c->sock)
		d->last_write = uv_now(c->api->loop);
	if (!c->in_handler && !d->ending)
		defer_arm(c);
}

int http_deferred_write(struct http_deferred *d, const char *data, size_t len)
{
	struct conn *c = d->c;
	SW_ASSERT(d->streaming && !d->finished);
	if (d->gone || d->head || c->closing)
		return 0;
	if (c->sock && uv_stream_get_write_queue_size(&c->h.stream) > API_WRITE_HIGH_WATER) {
		/* a client that does not read: it may come back (SSE resumes) */
		d->gone = 1;
		if (d->ending)
			return -1;
		defer_done(c, 0);
		conn_close(c);
		return -1;
	}
	struct buf b = BUF_INIT;
	buf_add(&b, data, len);
	conn_write(c, &b);
	if (c->sock && !c->closing) {
		d->last_write = uv_now(c->api->loop);
		if (!c->in_handler && !d->ending)
			defer_arm(c);
	}
	return 0;
}

void http_deferred_end(struct http_deferred *d)
{
	SW_ASSERT(d->streaming && !d->finished && !d->c->in_handler);
	defer_finish(d, 0);
}

/*
 * The server's side ends a deferred request: the callback first (it may
 * still answer or end it), then whatever it left: an error answer, the
 * end of the stream, or nothing when the client is gone.
 */
static void defer_end(struct conn *c, enum http_defer_end why)
{
	struct http_deferred *d = c->deferred;
	if (!d || d->ending)
		return;
	d->ending = 1;
	if (why == HTTP_DEFER_GONE)
		d->gone = 1;
	d->cb(d, why, d->data);
	d->ending = 0;
	if (d->finished) {
		int next = d->next;
		defer_finish(d, next);
		return;
	}
	if (d->gone) {
		defer_done(c, 0);
		return;
	}
	if (d->streaming) {
		defer_finish(d, 0);
		return;
	}
	struct http_resp resp = {0};
	if (why == HTTP_DEFER_SHUTDOWN) {
		http_resp_error(&resp, 503, "the server is shutting down; try again");
		sw_strlcpy(resp.extra_headers, "Retry-After: 1\r\n", sizeof(resp.extra_headers));
	} else {
		http_resp_error(&resp, 504, "no answer in time");
	}
	http_deferred_answer(d, &resp);
	buf_release(&resp.body);
}

/* --- routing --- */

static int route_match(const struct route *r, const struct http_req_priv *pv)
{
	if (r->nsegs != pv->nsegs)
		return 0;
	for (size_t i = 0; i < r->nsegs; i++) {
		const char *s = r->segs[i];
		if (s[0] == '{' && s[strlen(s) - 1] == '}') {
			if (!pv->segs[i][0])
				return 0;
		} else if (strcmp(s, pv->segs[i]) != 0) {
			return 0;
		}
	}
	return 1;
}

/* HEAD is served wherever GET is (without the body), unless a route says HEAD itself. */
static int method_match(const struct route *r, const char *method)
{
	return strcmp(r->method, method) == 0 || (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

static const struct route *find_route(const struct http_server *api, const char *method,
				       const struct http_req_priv *pv)
{
	const struct route *get = NULL;
	for (size_t i = 0; i < api->nroutes; i++) {
		const struct route *r = &api->routes[i];
		if (!route_match(r, pv) || !method_match(r, method))
			continue;
		if (strcmp(r->method, method) == 0)
			return r;
		if (!get)
			get = r;
	}
	return get;
}

/* Adds m to the Allow list once. */
static void allow_add(struct buf *allow, const char *m)
{
	size_t ml = strlen(m);
	const char *a = buf_str(allow);
	for (const char *p = a; (p = strstr(p, m)); p += ml)
		if ((p == a || p[-1] == ' ') && (p[ml] == ',' || p[ml] == '\0'))
			return;
	buf_addf(allow, "%s%s", allow->len ? ", " : "", m);
}

static void dispatch(struct conn *c, struct http_resp *resp)
{
	struct http_server *api = c->api;
	const char *method = http_method_str((enum http_method)c->parser.method);
	struct http_req req = {
		.method = method,
		.path = c->path,
		.query = c->query,
		.body = buf_str(&c->body),
		.body_len = c->body.len,
		.actor = c->actor,
		.tcp = c->tcp,
		.accept = buf_str(&c->accept),
		.last_event_id = buf_str(&c->last_event_id),
		.xhdrs = c->xhdrs.s,
		.xhdrs_len = c->xhdrs.len,
		.priv = &c->priv,
	};
	struct buf allow = BUF_INIT;
	const struct route *hit = find_route(api, method, &c->priv);

	for (size_t i = 0; i < api->nroutes && !hit; i++) {
		const struct route *r = &api->routes[i];
		if (!route_match(r, &c->priv))
			continue;
		allow_add(&allow, r->method);
		if (strcmp(r->method, "GET") == 0)
			allow_add(&allow, "HEAD");
	}
	if (hit) {
		c->priv.route = hit;
		c->in_handler = 1;
		hit->h(&req, resp, hit->data);
		c->in_handler = 0;
	} else if (allow.len) {
		http_resp_error(resp, 405, "method %s not allowed on %s (allowed: %s)", method, c->path,
			       buf_str(&allow));
		snprintf(resp->extra_headers, sizeof(resp->extra_headers), "Allow: %s\r\n", buf_str(&allow));
	} else {
		http_resp_error(resp, 404, "no such endpoint: %s %s", method, c->path);
	}
	buf_release(&allow);
}

/* --- parser callbacks --- */

static int count_header(struct conn *c, size_t n)
{
	c->header_bytes += n;
	if (c->header_bytes > API_MAX_HEADER)
		return fail(c, 431, "request headers larger than %u bytes", API_MAX_HEADER);
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct conn *c = p->data;
	request_reset(c);
	c->in_headers = 1;
	set_timer(c, c->api->header_timeout_ms);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	if (count_header(c, n) < 0)
		return -1;
	buf_add(&c->url, at, n);
	return 0;
}

static void finish_header(struct conn *c)
{
	const char *f = buf_str(&c->field), *v = buf_str(&c->value);
	if (!c->field.len)
		return;
	if (strcasecmp(f, "content-length") == 0)
		c->saw_cl = 1;
	else if (strcasecmp(f, "transfer-encoding") == 0)
		c->saw_te = 1;
	else if (strcasecmp(f, "authorization") == 0) {
		/* two would leave which one counts to whoever reads them */
		c->nauthz++;
		buf_reset(&c->authz);
		buf_add(&c->authz, v, c->value.len);
	} else if (strcasecmp(f, "expect") == 0 && strcasecmp(v, "100-continue") == 0) {
		c->expect_continue = 1;
	} else if (strcasecmp(f, "accept") == 0) {
		buf_reset(&c->accept);
		buf_add(&c->accept, v, c->value.len);
	} else if (strcasecmp(f, "last-event-id") == 0) {
		buf_reset(&c->last_event_id);
		buf_add(&c->last_event_id, v, c->value.len);
	} else if (strncasecmp(f, "x-", 2) == 0 || strcasecmp(f, "content-type") == 0) {
		/* for handlers that authenticate the request themselves
		 * (webhooks' signatures); bounded by the headers' limit */
		for (size_t i = 0; i < c->field.len; i++)
			buf_addc(&c->xhdrs, (char)tolower((unsigned char)f[i]));
		buf_addc(&c->xhdrs, '\0');
		buf_add(&c->xhdrs, v, c->value.len);
		buf_addc(&c->xhdrs, '\0');
	}
	buf_reset(&c->field);
	buf_reset(&c->value);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	if (count_header(c, n + 4) < 0)
		return -1;
	if (c->last_was_value)
		finish_header(c);
	c->last_was_value = 0;
	buf_add(&c->field, at, n);
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	if (count_header(c, n) < 0)
		return -1;
	c->last_was_value = 1;
	buf_add(&c->value, at, n);
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct conn *c = p->data;
	finish_header(c);
	c->in_headers = 0;
	if (p->http_major == 0)
		return fail(c, 400, "request line has no HTTP version (HTTP/1.1 is what this server speaks)");
	if (p->http_major != 1 || p->http_minor > 1)
		return fail(c, 505, "HTTP/%u.%u is not supported: use HTTP/1.1", p->http_major, p->http_minor);
	if (c->nauthz > 1)
		return fail(c, 400, "request has more than one Authorization header");
	if (c->saw_cl && c->saw_te)
		return fail(c, 400, "request has both Content-Length and Transfer-Encoding");
	if (parse_target(c) < 0)
		return -1;
	const struct route *r = find_route(c->api, http_method_str((enum http_method)p->method), &c->priv);
	c->max_body = r && r->max_body ? r->max_body : c->api->max_body;
	if (!(p->flags & F_CHUNKED) && c->saw_cl && p->content_length > c->max_body)
		return fail(c, 413, "request body larger than %zu bytes", c->max_body);
	if (check_auth(c) < 0)
		return -1;
	if (c->expect_continue && p->http_major == 1 && p->http_minor >= 1) {
		struct buf b = BUF_INIT;
		buf_adds(&b, "HTTP/1.1 100 Continue\r\n\r\n");
		conn_write(c, &b);
	}
	/* the body gets as long as an idle connection */
	set_timer(c, c->api->idle_timeout_ms);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	if (n > c->max_body - c->body.len)
		return fail(c, 413, "request body larger than %zu bytes", c->max_body);
	buf_add(&c->body, at, n);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct conn *c = p->data;
	struct http_resp resp = {.status = 200};
	int keep_alive = http_should_keep_alive(p) && !p->upgrade;
	int head = p->method == HTTP_HEAD;

	if (c->closing)
		return -1;
	if (!c->path)
		return fail(c, 400, "invalid request target");
	dispatch(c, &resp);
	if (c->deferred) {
		buf_release(&resp.body);
		if (head && c->deferred->streaming) {
			/* HEAD: the headers were all of it */
			defer_done(c, 0);
			c->stop = 1;
			return -1;
		}
		if (c->closing) {
			defer_end(c, HTTP_DEFER_GONE);
			return -1;
		}
		/* nothing more is parsed until it is answered */
		http_parser_pause(p, 1);
		defer_arm(c);
		return 0;
	}
	/* http_free from inside the handler closes this connection */
	if (c->closing)
		keep_alive = 0;
	write_response(c, &resp, keep_alive, head);
	buf_release(&resp.body);
	request_reset(c);
	set_timer(c, c->api->idle_timeout_ms);
	if (!keep_alive) {
		c->stop = 1;
		return -1;
	}
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* --- connections --- */

/* A fed connection (no socket) is the operator's, as the fuzz target wants. */
static void conn_init(struct conn *c, struct http_server *api, int tcp, enum conn_pool pool)
{
	memset(c, 0, sizeof(*c));
	c->api = api;
	c->tcp = tcp;
	c->operator = pool == POOL_OPERATOR;
	c->pool = pool;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->priv.conn = c;
	api->nconns++;
	api->npool[pool]++;
}

static void conn_release(struct conn *c)
{
	request_reset(c);
	buf_release(&c->url);
	buf_release(&c->field);
	buf_release(&c->value);
	buf_release(&c->authz);
	buf_release(&c->accept);
	buf_release(&c->last_event_id);
	buf_release(&c->xhdrs);
	buf_release(&c->body);
	buf_release(&c->pending);
	SW_ASSERT(!c->deferred);
	c->api->nconns--;
	c->api->npool[c->pool]--;
}

static void after_parse(struct conn *c, enum http_errno e)
{
	if (c->closing)
		return;
	if (c->err_status) {
		send_error(c, c->err_status, c->err_msg, c->err_auth);
	} else if (c->stop) {
		conn_begin_close(c);
	} else if (e != HPE_OK) {
		char msg[160];
		snprintf(msg, sizeof(msg), "malformed request: %s", http_errno_description(e));
		send_error(c, e == HPE_HEADER_OVERFLOW ? 431 : 400, msg, 0);
	} else if (c->parser.upgrade) {
		/* what follows is not HTTP we speak */
		conn_begin_close(c);
	} else if (c->in_headers && c->parser.nread > API_MAX_HEADER) {
		send_error(c, 431, "request headers too large", 0);
	}
}

static void conn_feed(struct conn *c, const char *data, size_t len)
{
	if (c->stop || c->closing)
		return;
	if (c->deferred || c->resume) {
		/* behind the deferred request, in order */
		buf_add(&c->pending, data, len);
		if (c->sock && c->pending.len > API_MAX_PENDING && !c->paused) {
			uv_read_stop(&c->h.stream);
			c->paused = 1;
		}
		return;
	}
	size_t used = http_parser_execute(&c->parser, &settings, data, len);
	if (c->deferred && HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED) {
		conn_feed(c, data + used, len - used);
		return;
	}
	after_parse(c, HTTP_PARSER_ERRNO(&c->parser));
	if (c->sock && !c->stop && !c->closing &&
	    uv_stream_get_write_queue_size(&c->h.stream) > API_WRITE_HIGH_WATER) {
		uv_read_stop(&c->h.stream);
		c->paused = 1;
	}
}

static void conn_eof(struct conn *c)
{
	if (c->deferred) {
		/* a client that ends its input is taken to have gone: released at once */
		defer_end(c, HTTP_DEFER_GONE);
		if (c->sock)
			conn_close(c);
		else
			c->stop = 1;
		return;
	}
	if (c->stop || c->closing)
		return;
	http_parser_execute(&c->parser, &settings, NULL, 0);
	enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
	if (e == HPE_INVALID_EOF_STATE && !c->err_status) {
		send_error(c, 400, "malformed request: connection ended inside a request", 0);
		return;
	}
	after_parse(c, e);
	conn_begin_close(c);
}

static void maybe_free_api(struct http_server *api)
{
	if (!api->freeing || api->nconns || api->pending_closes)
		return;
	for (size_t i = 0; i < api->nroutes; i++) {
		struct route *r = &api->routes[i];
		for (size_t k = 0; k < r->nsegs; k++)
			free(r->segs[k]);
		free(r->segs);
		free(r->method);
		free(r->pattern);
	}
	free(api->routes);
	free(api->unix_path);
	free(api);
}

static void on_conn_handle_close(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	struct http_server *api = c->api;
	conn_release(c);
	free(c);
	maybe_free_api(api);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	if (c->deferred)
		defer_end(c, HTTP_DEFER_GONE);
	c->stop = 1;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->api->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_close);
	uv_close((uv_handle_t *)&c->h.stream, on_conn_handle_close);
}

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (c->resume) {
		defer_resume(c);
		return;
	}
	if (c->deferred) {
		struct http_deferred *d = c->deferred;
		uint64_t now = uv_now(c->api->loop);
		if (now >= d->deadline) {
			defer_end(c, HTTP_DEFER_TIMEOUT);
			return;
		}
		if (d->streaming && d->heartbeat && now - d->last_write >= d->heartbeat_ms &&
		    http_deferred_write(d, d->heartbeat, strlen(d->heartbeat)) < 0)
			return;
		defer_arm(c);
		return;
	}
	if (c->want_close || !c->in_headers) {
		conn_close(c);
		return;
	}
	send_error(c, 408, "request headers not received in time", 0);
}

static void set_timer(struct conn *c, uint64_t ms)
{
	if (c->sock && !c->closing)
		uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	(void)h;
	if (suggested > 65536)
		suggested = 65536;
	b->base = xmalloc(suggested);
	b->len = suggested;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = s->data;
	if (nread == UV_EOF)
		c->peer_eof = 1;
	if (c->want_close) {
		/* lingering: input is dropped; the end of it ends the connection */
		if (nread < 0 && (c->shut_done || nread != UV_EOF))
			conn_close(c);
	} else if (nread > 0) {
		conn_feed(c, b->base, (size_t)nread);
	} else if (nread == UV_EOF) {
		conn_eof(c);
	} else if (nread < 0) {
		conn_close(c);
	}
	free(b->base);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->handle->data;
	c->shut_done = 1;
	if (status < 0 || c->peer_eof)
		conn_close(c);
}

/* Who is on the other end: the remote address, or the uid by SO_PEERCRED. */
static void conn_identify(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	memset(&c->peer, 0, sizeof(c->peer));
	if (c->tcp) {
		if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) < 0)
			return;
		c->peer.family = ss.ss_family;
		if (ss.ss_family == AF_INET)
			memcpy(c->peer.addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		else if (ss.ss_family == AF_INET6)
			memcpy(c->peer.addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		return;
	}
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)&c->h.pipe, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0)
		return; /* unknown: not the operator, needs a token */
	c->peer.family = AF_UNIX;
	c->peer.uid = cred.uid;
	c->operator = cred.uid == geteuid() || cred.uid == 0;
}

static int peer_equal(const struct conn_peer *a, const struct conn_peer *b)
{
	return a->family == b->family && a->uid == b->uid && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static void peer_name(const struct conn_peer *p, char *out, size_t size)
{
	if (p->family == AF_UNIX)
		snprintf(out, size, "uid %u", (unsigned)p->uid);
	else if (p->family == AF_INET || p->family == AF_INET6)
		inet_ntop(p->family, p->addr, out, (socklen_t)size);
	else
		snprintf(out, size, "an unknown peer");
}

/*
 * Whether c may take a seat in `pool`: the pool has room, and (but for the
 * operator's pool) its client holds fewer than max_client_conns there.
 * Otherwise the reason goes into why.
 */
static int admit(struct http_server *api, struct conn *c, enum conn_pool pool, char *why, size_t size)
{
	char who[INET6_ADDRSTRLEN + 16];
	if (api->npool[pool] >= api->max_conns) {
		snprintf(why, size, "the API has %u connections open, its limit; try again later", api->max_conns);
		return -1;
	}
	if (pool == POOL_OPERATOR)
		return 0;
	unsigned same = 0;
	for (const struct conn *o = api->conns; o; o = o->next)
		if (o != c && o->pool == pool && peer_equal(&o->peer, &c->peer))
			same++;
	if (same >= api->max_client_conns) {
		peer_name(&c->peer, who, sizeof(who));
		snprintf(why, size, "too many connections from %s (at most %u at a time); try again later", who,
			 api->max_client_conns);
		return -1;
	}
	return 0;
}

/*
 * Answers 503 with the reason and closes. Up to API_MAX_REFUSING at once
 * linger a little so that the client reads it; past that, the answer is
 * written if the socket takes it at once, and the connection closed.
 */
static void refuse(struct conn *c, const char *why)
{
	struct http_server *api = c->api;
	struct http_resp resp = {.status = 503};
	struct buf out = BUF_INIT;
	SW_ASSERT(c->pool == POOL_REFUSED);
	uint64_t now = uv_now(api->loop);
	api->refused_unlogged++;
	if (!api->refused_logged_ms || now - api->refused_logged_ms >= API_REFUSE_LOG_MS) {
		sw_warn("api: %u connection%s refused since the last report; the latest: %s",
			api->refused_unlogged, api->refused_unlogged == 1 ? "" : "s", why);
		api->refused_logged_ms = now;
		api->refused_unlogged = 0;
	}
	http_resp_error(&resp, 503, "%s", why);
	sw_strlcpy(resp.extra_headers, "Retry-After: 1\r\n", sizeof(resp.extra_headers));
	format_response(&out, &resp, 0, 0);
	buf_release(&resp.body);
	if (api->npool[POOL_REFUSED] > API_MAX_REFUSING ||
	    uv_read_start(&c->h.stream, on_alloc, on_read) < 0) {
		uv_buf_t ub = uv_buf_init(out.s, (unsigned)out.len);
		(void)uv_try_write(&c->h.stream, &ub, 1);
		buf_release(&out);
		conn_close(c);
		return;
	}
	conn_write(c, &out);
	conn_begin_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct http_server *api = server->data;
	int tcp = server == (uv_stream_t *)&api->tcp;
	char why[256];
	if (status < 0 || api->freeing)
		return;
	struct conn *c = xmalloc(sizeof(*c));
	/* counted as refused until admitted, so that a failed accept frees no seat it never had */
	conn_init(c, api, tcp, POOL_REFUSED);
	c->sock = 1;
	if (tcp)
		uv_tcp_init(api->loop, &c->h.tcp);
	else
		uv_pipe_init(api->loop, &c->h.pipe, 0);
	uv_timer_init(api->loop, &c->timer);
	c->h.stream.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	c->next = api->conns;
	if (c->next)
		c->next->prev = c;
	api->conns = c;
	if (uv_accept(server, &c->h.stream) < 0) {
		conn_close(c);
		return;
	}
	conn_identify(c);
	enum conn_pool pool = tcp ? POOL_TCP : c->operator ? POOL_OPERATOR : POOL_UNIX;
	if (admit(api, c, pool, why, sizeof(why)) < 0) {
		refuse(c, why);
		return;
	}
	api->npool[POOL_REFUSED]--;
	api->npool[pool]++;
	c->pool = pool;
	if (tcp)
		uv_tcp_nodelay(&c->h.tcp, 1);
	/* a stranger gets the short header timeout until a request of theirs passed auth */
	set_timer(c, c->operator ? api->idle_timeout_ms : api->header_timeout_ms);
	if (uv_read_start(&c->h.stream, on_alloc, on_read) < 0)
		conn_close(c);
}

static int feed(struct http_server *api, int tcp, const char *data, size_t len, struct buf *out)
{
	struct conn *c = xmalloc(sizeof(*c));
	conn_init(c, api, tcp, tcp ? POOL_TCP : POOL_OPERATOR);
	c->out = out;
	conn_feed(c, data, len);
	conn_eof(c);
	conn_release(c);
	free(c);
	maybe_free_api(api);
	return 0;
}

int http_feed_for_test(struct http_server *api, const char *data, size_t len, struct buf *out)
{
	return feed(api, 0, data, len, out);
}

int http_feed_tcp_for_test(struct http_server *api, const char *data, size_t len, struct buf *out)
{
	return feed(api, 1, data, len, out);
}

/* --- listeners --- */

/* Removes a socket file nothing listens on; refuses to touch a live one. */
static int clear_stale_socket(const char *path, struct sw_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return sw_errf(err, -1, "cannot check %s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return sw_errf(err, SW_EEXIST, "%s exists and is not a socket", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sw_errf(err, -1, "socket: %s", strerror(errno));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	sw_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	if (r == 0)
		return sw_errf(err, SW_EBUSY, "another daemon is listening on %s", path);
	if (e != ECONNREFUSED)
		return sw_errf(err, -1, "cannot check %s: %s", path, strerror(e));
	if (unlink(path) < 0 && errno != ENOENT)
		return sw_errf(err, -1, "cannot remove stale socket %s: %s", path, strerror(errno));
	return 0;
}

static int listen_unix(const char *path, int *out_fd, struct sw_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = -1;
	if (!path[0] || strlen(path) >= sizeof(sa.sun_path))
		return sw_errf(err, SW_EINVAL, "unix socket path \"%s\" is empty or longer than %zu bytes", path,
			       sizeof(sa.sun_path) - 1);
	if (clear_stale_socket(path, err) < 0)
		return err ? err->code : -1;
	sw_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sw_errf(err, -1, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return sw_errf(err, -1, "cannot listen on %s: %s", path, strerror(e));
	}
	/* before listen(), so nobody can connect while it is still open to all */
	if (chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return sw_errf(err, -1, "cannot listen on %s: %s", path, strerror(e));
	}
	*out_fd = fd;
	return 0;
}

static int listen_tcp(const char *addr, int *out_fd, int *out_port, struct sw_err *err)
{
	struct sw_addr a;
	struct sw_err e = {0};
	struct sockaddr_storage sa;
	socklen_t slen = sizeof(sa);
	int one = 1;
	if (sw_addr_parse(&a, addr, SW_ADDR_PORT0, &e) < 0)
		return sw_errf(err, SW_EINVAL, "invalid tcp address %s", e.msg);
	int fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sw_errf(err, -1, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a.sa, a.sa_len) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &slen) < 0) {
		int en = errno;
		close(fd);
		return sw_errf(err, -1, "cannot listen on %s: %s", addr, strerror(en));
	}
	*out_fd = fd;
	*out_port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
					     : ntohs(((struct sockaddr_in *)&sa)->sin_port);
	return 0;
}

int http_new(struct http_server **out, const struct http_config *cfg, struct sw_err *err)
{
	struct http_server *api = NULL;
	int ufd = -1, tfd = -1, port = -1, ret = -1;

	*out = NULL;
	if ((cfg->unix_path || cfg->tcp_addr) && !cfg->loop)
		return sw_errf(err, SW_EINVAL, "api: no event loop");
	if (cfg->tcp_addr && !cfg->auth)
		return sw_errf(err, SW_EINVAL, "api: a tcp listener needs a token check");
	if (cfg->unix_path && listen_unix(cfg->unix_path, &ufd, err) < 0)
		goto out;
	if (cfg->tcp_addr && listen_tcp(cfg->tcp_addr, &tfd, &port, err) < 0)
		goto out;

	api = xcalloc(1, sizeof(*api));
	api->loop = cfg->loop;
	api->max_body = cfg->max_body ? cfg->max_body : API_DEFAULT_MAX_BODY;
	api->header_timeout_ms = cfg->header_timeout_ms ? cfg->header_timeout_ms : API_DEFAULT_HEADER_TIMEOUT_MS;
	api->idle_timeout_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : API_DEFAULT_IDLE_TIMEOUT_MS;
	api->max_conns = cfg->max_conns ? cfg->max_conns : API_DEFAULT_MAX_CONNS;
	api->max_client_conns = cfg->max_client_conns ? cfg->max_client_conns : API_DEFAULT_MAX_CLIENT_CONNS;
	api->auth = cfg->auth;
	api->auth_data = cfg->auth_data;
	api->tcp_port = port;

	if (ufd >= 0) {
		api->unix_path = xstrdup(cfg->unix_path);
		uv_pipe_init(api->loop, &api->pipe, 0);
		api->pipe.data = api;
		api->has_pipe = 1;
		int r = uv_pipe_open(&api->pipe, ufd);
		ufd = -1; /* the handle owns it now */
		if (r == 0)
			r = uv_listen((uv_stream_t *)&api->pipe, 128, on_connection);
		if (r < 0) {
			sw_errf(err, -1, "cannot listen on %s: %s", cfg->unix_path, uv_strerror(r));
			goto out;
		}
	}
	if (tfd >= 0) {
		uv_tcp_init(api->loop, &api->tcp);
		api->tcp.data = api;
		api->has_tcp = 1;
		int r = uv_tcp_open(&api->tcp, tfd);
		if (r < 0)
			close(tfd);
		tfd = -1;
		if (r == 0)
			r = uv_listen((uv_stream_t *)&api->tcp, 128, on_connection);
		if (r < 0) {
			sw_errf(err, -1, "cannot listen on %s: %s", cfg->tcp_addr, uv_strerror(r));
			goto out;
		}
	}
	if (api->has_pipe || api->has_tcp) {
		struct sigaction old;
		if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
			signal(SIGPIPE, SIG_IGN);
	}
	*out = api;
	api = NULL;
	ret = 0;
out:
	if (ufd >= 0) {
		close(ufd);
		unlink(cfg->unix_path);
	}
	if (tfd >= 0)
		close(tfd);
	/* Only reached after handles exist when uv_listen failed: the memory
	 * goes when the caller's loop runs the closes. */
	http_free(api);
	return ret;
}

void http_route_max_body(struct http_server *api, const char *method, const char *pattern, size_t max_body)
{
	for (size_t i = 0; i < api->nroutes; i++)
		if (strcmp(api->routes[i].method, method) == 0 && strcmp(api->routes[i].pattern, pattern) == 0) {
			api->routes[i].max_body = max_body;
			return;
		}
	SW_ASSERT(!"http_route_max_body: no such route");
}

int http_tcp_port(const struct http_server *api)
{
	return api && api->has_tcp ? api->tcp_port : -1;
}

static const char *const role_names[] = {NULL, "viewer", "deployer", "admin"};

int http_status_of(int code)
{
	switch (code) {
	case SW_EINVAL: return 422;
	case SW_ENOTFOUND: return 404;
	case SW_ECONFLICT: return 409;
	case SW_EEXIST: return 409;
	case SW_EBUSY: return 503;
	case SW_EPERM: return 403;
	default: return 500;
	}
}

const char *http_req_header(const struct http_req *req, const char *name)
{
	for (size_t i = 0; req->xhdrs && i < req->xhdrs_len;) {
		const char *n = req->xhdrs + i, *v = n + strlen(n) + 1;
		if (strcasecmp(n, name) == 0)
			return v;
		i = (size_t)(v + strlen(v) + 1 - req->xhdrs);
	}
	return NULL;
}

const char *http_role_name(enum http_role r)
{
	return r >= HTTP_ROLE_VIEWER && r <= HTTP_ROLE_ADMIN ? role_names[r] : "none";
}

enum http_role http_role_parse(const char *name)
{
	for (int r = HTTP_ROLE_VIEWER; name && r <= HTTP_ROLE_ADMIN; r++)
		if (strcmp(name, role_names[r]) == 0)
			return (enum http_role)r;
	return 0;
}

void http_route(struct http_server *api, const char *method, const char *pattern, enum http_role least,
	       http_handler h, void *data)
{
	SW_ASSERT(method && pattern && pattern[0] == '/' && h && least >= HTTP_ROLE_PUBLIC &&
		  least <= HTTP_ROLE_ADMIN);
	api->routes = xrealloc(api->routes, (api->nroutes + 1) * sizeof(*api->routes));
	struct route *r = &api->routes[api->nroutes++];
	memset(r, 0, sizeof(*r));
	r->method = xstrdup(method);
	r->pattern = xstrdup(pattern);
	r->least = least;
	r->h = h;
	r->data = data;
	const char *p = pattern + 1;
	for (;;) {
		size_t n = strcspn(p, "/");
		r->segs = xrealloc(r->segs, (r->nsegs + 1) * sizeof(char *));
		r->segs[r->nsegs++] = xstrndup(p, n);
		if (!p[n])
			break;
		p += n + 1;
	}
}

static void on_listener_close(uv_handle_t *h)
{
	struct http_server *api = h->data;
	api->pending_closes--;
	maybe_free_api(api);
}

void http_free(struct http_server *api)
{
	if (!api || api->freeing)
		return;
	api->freeing = 1;
	/* deferred requests are answered (or their streams ended) first */
	for (struct conn *c = api->conns; c; c = c->next)
		if (c->deferred && !c->closing)
			defer_end(c, HTTP_DEFER_SHUTDOWN);
	if (api->has_pipe) {
		api->pending_closes++;
		uv_close((uv_handle_t *)&api->pipe, on_listener_close);
	}
	if (api->has_tcp) {
		api->pending_closes++;
		uv_close((uv_handle_t *)&api->tcp, on_listener_close);
	}
	if (api->unix_path)
		unlink(api->unix_path);
	while (api->conns)
		conn_close(api->conns);
	maybe_free_api(api);
}
