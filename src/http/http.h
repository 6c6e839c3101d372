/*
 * api: Slipway's HTTP/1.1 + JSON API server and the client the CLI uses.
 *
 * The server listens on a unix socket (mode 0600) and optionally on a TCP
 * address. On the unix socket the peer is known by SO_PEERCRED: the
 * daemon's own uid or root is the operator ("local", admin, no token);
 * any other uid, and every TCP request, needs `Authorization: Bearer
 * <token>`. The check is done by a callback so the daemon decides what a
 * token may do (401 for an unknown token, 403 for a call its role does not
 * allow). Requests are parsed with http-parser; HTTP/1.0 and 1.1 only
 * (505 for others, 400 without a version); bodies are buffered up to a
 * limit (1 MiB by default, a route may have its own; bigger gets 413),
 * headers up to 16 KiB (431);
 * two Authorization headers get 400. HEAD is answered wherever GET is.
 * Keep-alive is supported. A handler fills the response before it
 * returns, or defers it (http_defer, below) to answer later or stream.
 *
 * Connections are budgeted so that no client can starve the others: each
 * listener has max_conns seats, the operator has max_conns of their own on
 * the unix socket, and any other client (a remote address on TCP, a uid on
 * the unix socket) at most max_client_conns. A connection over a limit
 * gets 503 with the reason and `Retry-After`, then is closed. A
 * connection that has not yet had a request through auth must send its
 * headers within header_timeout_ms; after that, idle_timeout_ms applies.
 *
 * Routes are a table of method + path pattern; a pattern segment "{x}"
 * matches one path segment and is available through http_req_param().
 */
#ifndef SW_HTTP_H
#define SW_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "../core/buf.h"
#include "../core/core.h"

struct http_server;

struct http_req {
	const char *method;   /* "GET", "POST", ... */
	const char *path;     /* decoded path without the query */
	const char *query;    /* raw query string without '?', "" if none */
	const char *body;     /* NUL-terminated; "" if none */
	size_t body_len;
	const char *actor;    /* who is calling: "local" (unix socket) or the token name */
	int tcp;              /* 1 when it came over TCP */
	const char *accept;   /* the Accept header, "" if none */
	const char *last_event_id; /* the Last-Event-ID header (an SSE client resuming), "" if none */
	const char *xhdrs;    /* see http_req_header */
	size_t xhdrs_len;
	struct http_req_priv *priv;
};

struct http_resp {
	int status;           /* default 200 */
	const char *content_type; /* default "application/json" */
	struct buf body;
	char extra_headers[256]; /* "Name: value\r\n" lines, optional */
};

/* Path parameter {name} of the matched route, or NULL. */
const char *http_req_param(const struct http_req *req, const char *name);
/* Query parameter (URL-decoded, into a static-per-request buffer), or NULL. */
const char *http_req_query(const struct http_req *req, const char *name);

/* The value of the request's header `name` (any case), for X-* headers
 * and Content-Type only (the rest are the server's), or NULL; of two
 * with one name, the first. */
const char *http_req_header(const struct http_req *req, const char *name);

/* The HTTP status of an error code (core.h): SW_EINVAL 422, SW_ENOTFOUND
 * 404, SW_ECONFLICT and SW_EEXIST 409, SW_EBUSY 503, anything else 500. */
int http_status_of(int code);

/* Response helpers: set status and a JSON body. http_resp_json steals `j`. */
void http_resp_json(struct http_resp *resp, int status, json_t *j);
/* {"error": "<msg>"} with the given status. */
void http_resp_error(struct http_resp *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

typedef void (*http_handler)(const struct http_req *req, struct http_resp *resp, void *data);

/*
 * Roles, in order: each may do what the ones before it may. Every route
 * names the least role it needs (http_route); the server answers 403 to a
 * token whose role is below it, so no second table of what a role may do
 * exists anywhere.
 */
enum http_role {
	HTTP_ROLE_PUBLIC = 0,   /* no token: the handler authenticates the request
				   itself (a webhook's signature); actor "anonymous" */
	HTTP_ROLE_VIEWER = 1,   /* reads */
	HTTP_ROLE_DEPLOYER,     /* reads, apply, rollback, delete, rollout commands */
	HTTP_ROLE_ADMIN,        /* everything: tokens, upgrade */
};
/* "viewer", "deployer", "admin" */
const char *http_role_name(enum http_role r);
/* Inverse of http_role_name; 0 when unknown. */
enum http_role http_role_parse(const char *name);

/*
 * Looks a bearer token up: returns 0 with the token's name in `name` (the
 * actor of its calls) and its role, or -1 when the token is unknown (401).
 * It runs once the headers are in, before the body is read. The operator
 * on the unix socket (the daemon's uid or root, by SO_PEERCRED) is
 * "local" with HTTP_ROLE_ADMIN and never reaches it.
 */
typedef int (*http_auth_cb)(const char *token, char *name, size_t name_size,
			   enum http_role *role, void *data);

struct http_config {
	uv_loop_t *loop;
	const char *unix_path;     /* required to listen; NULL (with tcp_addr NULL)
				      gives an api that only serves http_feed_for_test */
	const char *tcp_addr;      /* "127.0.0.1:PORT", "[::1]:PORT": what core/addr
				      reads (port 0 picks a free one, see
				      http_tcp_port) or NULL */
	size_t max_body;           /* 0 = 1 MiB; a route may have its own (http_route_max_body) */
	http_auth_cb auth;          /* required when tcp_addr is set */
	void *auth_data;
	uint64_t header_timeout_ms; /* 0 = 5 s: a request's headers must arrive in time (else 408),
				       and a new connection's first bytes (else it is closed), but
				       for the operator's */
	uint64_t idle_timeout_ms;   /* 0 = 60 s: idle keep-alive connections are closed,
				       and a request body must arrive within it */
	unsigned max_conns;        /* 0 = 256: seats of each budget (TCP, the unix socket's
				      operator, the unix socket's other uids); over it: 503 */
	unsigned max_client_conns; /* 0 = 32: seats one client (remote address, uid) may hold
				      in a budget; the operator has no such limit */
};

/*
 * Starts listening. A unix socket path that exists is replaced only when it
 * is a socket nothing accepts on; if a server answers there, this fails with
 * "another daemon is listening on PATH". The socket is made mode 0600.
 * Ignores SIGPIPE if it has the default action (a client hanging up must
 * not kill the daemon).
 */
int http_new(struct http_server **out, const struct http_config *cfg, struct sw_err *err);
/* The TCP port actually bound (useful with port 0), or -1 without TCP. */
int http_tcp_port(const struct http_server *api);
/* Adds a route; patterns are like "/v1/apps/{name}/history". `least` is
 * the least role a TCP caller needs. */
void http_route(struct http_server *api, const char *method, const char *pattern, enum http_role least,
	       http_handler h, void *data);
/* Gives the route added as method + pattern its own body limit (0: the
 * server's), checked like the server's: 413 before the body is read. */
void http_route_max_body(struct http_server *api, const char *method, const char *pattern, size_t max_body);
/*
 * Stops listening, unlinks the unix socket, closes every connection; the
 * memory is freed once the loop has run the close callbacks, so the caller
 * runs the loop (uv_run DEFAULT) after this before uv_loop_close. May be
 * called from inside a handler. NULL is fine.
 */
void http_free(struct http_server *api);

/*
 * Feeds raw bytes of one connection to the request parser and handlers
 * without a socket, for the fuzz target and unit tests: returns the bytes
 * the server would have written. The peer is the operator on the unix
 * socket; with _tcp_, a TCP client (a token needed).
 */
int http_feed_for_test(struct http_server *api, const char *data, size_t len, struct buf *out);
int http_feed_tcp_for_test(struct http_server *api, const char *data, size_t len, struct buf *out);

/*
 * Deferred responses: a handler that has nothing to say yet (a long poll,
 * a stream of events) calls http_defer() before it returns; the `resp` it
 * was given is then ignored, and the request stays open until the handler
 * ends it or the server does. The request's strings (`req`, its params and
 * query values) are not valid after the handler returned: copy what you
 * need.
 *
 * While a request is deferred its connection holds its seat in its budget,
 * the header and idle timeouts do not apply (its headers are in), and no
 * further request of the connection is read (pipelined ones wait and are
 * answered in order after it). What bounds it instead:
 *
 *  - max_wait_ms (0, or above HTTP_DEFER_MAX_MS: HTTP_DEFER_MAX_MS): then
 *    the callback gets HTTP_DEFER_TIMEOUT;
 *  - the client hanging up, or ending its input: HTTP_DEFER_GONE at once;
 *  - http_free (daemon shutdown, upgrade): HTTP_DEFER_SHUTDOWN, before the
 *    connection is closed.
 *
 * Exactly one of two things ends a deferred request: the handler's side
 * (http_deferred_answer, or http_deferred_end after a stream; or a failed
 * http_deferred_write) — later, never from inside the handler that
 * deferred it (a handler with its answer at hand answers through `resp`
 * and does not defer) — after which the callback is never called; or the
 * callback, called once, never from inside one of these calls. With
 * TIMEOUT or SHUTDOWN the callback may still answer or write and end from
 * inside; if it leaves the request open, the server ends it: 504 (timeout)
 * or 503 with Retry-After: 1 (shutdown) when nothing was sent yet, else
 * the end of the stream. With GONE nothing can be sent any more. Either
 * way `d` is freed when the callback returns and is never used again.
 * Answers written at shutdown go to the socket at once when it takes them,
 * so that they are not lost when the daemon exits or re-executes.
 */
struct http_deferred;

#define HTTP_DEFER_MAX_MS (60u * 60 * 1000)

enum http_defer_end {
	HTTP_DEFER_TIMEOUT = 1,  /* max_wait_ms passed */
	HTTP_DEFER_GONE,         /* the client hung up: nothing can be sent */
	HTTP_DEFER_SHUTDOWN,     /* http_free: the server is closing */
};

typedef void (*http_defer_cb)(struct http_deferred *d, enum http_defer_end why, void *data);

/* Only from inside a handler, once per request. Never NULL. */
struct http_deferred *http_defer(const struct http_req *req, uint64_t max_wait_ms, http_defer_cb cb,
				 void *data);
/* Answers as a handler would have (resp's body is copied; the caller
 * releases it) and ends the deferred request; the connection then reads
 * its next request (keep-alive) or closes. Safe from any callback of the
 * loop: requests the client pipelined meanwhile are handled on a later
 * turn of the loop, never inside this call. */
void http_deferred_answer(struct http_deferred *d, struct http_resp *resp);
/*
 * Starts a streamed answer: the status line and headers (Content-Type
 * `content_type`, `extra_headers` "Name: value\r\n" lines or NULL), no
 * Content-Length: the body is what http_deferred_write sends, and ends
 * when the connection closes (http_deferred_end). When `heartbeat` is set,
 * it is written after every heartbeat_ms without a write, so that idle
 * proxies and clients see the stream alive (an SSE comment, ": \n\n").
 * For HEAD only the headers go out.
 */
void http_deferred_stream(struct http_deferred *d, int status, const char *content_type,
			  const char *extra_headers, const char *heartbeat, uint64_t heartbeat_ms);
/*
 * Writes len bytes of a started stream. Returns 0, or -1 when the client
 * does not read what it was sent (more than 1 MiB waiting): the
 * connection is then closed and `d` is gone (the callback is not called).
 */
int http_deferred_write(struct http_deferred *d, const char *data, size_t len);
/* Ends a stream (the connection closes once its writes drained). */
void http_deferred_end(struct http_deferred *d);

/* --- client (blocking, for the CLI) --- */

struct http_client {
	char *unix_path;   /* set one of the two */
	char *tcp_addr;    /* "127.0.0.1:PORT" or "[::1]:PORT" (core/addr) */
	char *token;       /* bearer token for TCP */
	int timeout_ms;    /* default 30000 */
};

/*
 * Sends one request and reads the whole response. body may be NULL.
 * Returns 0 with *out_status and the body in `out` (caller releases), or -1
 * with err set ("cannot connect to slipway at .../slipway.sock: ... is the
 * daemon running? start it with `slipway serve`").
 */
int http_client_request(const struct http_client *c, const char *method, const char *path,
		       const char *body, size_t body_len, int *out_status, struct buf *out,
		       struct sw_err *err);

#endif
