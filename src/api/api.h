/*
 * api: Slipway's HTTP/1.1 + JSON API server and the client the CLI uses.
 *
 * The server listens on a unix socket (mode 0600, no auth: file
 * permissions are the access control) and optionally on a TCP address,
 * where every request needs `Authorization: Bearer <token>`; the check is
 * done by a callback so the daemon decides what a token may do (401 for
 * an unknown token, 403 for a call its role does not allow). Requests
 * are parsed with http-parser; bodies are buffered up to a limit (1 MiB by
 * default; bigger gets 413), headers up to 16 KiB (431). Keep-alive is
 * supported. Handlers are synchronous: they fill the response before
 * returning.
 *
 * Routes are a table of method + path pattern; a pattern segment "{x}"
 * matches one path segment and is available through api_req_param().
 */
#ifndef SW_API_H
#define SW_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "../core/buf.h"
#include "../core/core.h"

struct api;

struct api_req {
	const char *method;   /* "GET", "POST", ... */
	const char *path;     /* decoded path without the query */
	const char *query;    /* raw query string without '?', "" if none */
	const char *body;     /* NUL-terminated; "" if none */
	size_t body_len;
	const char *actor;    /* who is calling: "local" (unix socket) or the token name */
	int tcp;              /* 1 when it came over TCP */
	struct api_req_priv *priv;
};

struct api_resp {
	int status;           /* default 200 */
	const char *content_type; /* default "application/json" */
	struct buf body;
	char extra_headers[256]; /* "Name: value\r\n" lines, optional */
};

/* Path parameter {name} of the matched route, or NULL. */
const char *api_req_param(const struct api_req *req, const char *name);
/* Query parameter (URL-decoded, into a static-per-request buffer), or NULL. */
const char *api_req_query(const struct api_req *req, const char *name);

/* Response helpers: set status and a JSON body. api_resp_json steals `j`. */
void api_resp_json(struct api_resp *resp, int status, json_t *j);
/* {"error": "<msg>"} with the given status. */
void api_resp_error(struct api_resp *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

typedef void (*api_handler)(const struct api_req *req, struct api_resp *resp, void *data);

/*
 * Decides whether a bearer token may call; returns 0 and fills `actor`
 * (the token's name) when it may; -1 when the token is unknown (401);
 * API_AUTH_FORBIDDEN when the token is valid but may not make this call
 * (403), with the message for the caller in `actor` (e.g. `token "ci"
 * (role viewer) may not POST /v1/apply`). `method` and `path` (decoded)
 * let the daemon apply roles. It runs once the headers are in, before the
 * body is read.
 */
#define API_AUTH_FORBIDDEN (-2)
typedef int (*api_auth_cb)(const char *token, const char *method, const char *path,
			   char *actor, size_t actor_size, void *data);

struct api_config {
	uv_loop_t *loop;
	const char *unix_path;     /* required to listen; NULL (with tcp_addr NULL)
				      gives an api that only serves api_feed_for_test */
	const char *tcp_addr;      /* "127.0.0.1:PORT" (IPv4 literal; port 0 picks
				      a free one, see api_tcp_port) or NULL */
	size_t max_body;           /* 0 = 1 MiB */
	api_auth_cb auth;          /* required when tcp_addr is set */
	void *auth_data;
	uint64_t header_timeout_ms; /* 0 = 10 s: a request's headers must arrive in time (else 408) */
	uint64_t idle_timeout_ms;   /* 0 = 60 s: idle keep-alive connections are closed,
				       and a request body must arrive within it */
	unsigned max_conns;        /* 0 = 256; connections over it are closed at once */
};

/*
 * Starts listening. A unix socket path that exists is replaced only when it
 * is a socket nothing accepts on; if a server answers there, this fails with
 * "another daemon is listening on PATH". The socket is made mode 0600.
 * Ignores SIGPIPE if it has the default action (a client hanging up must
 * not kill the daemon).
 */
int api_new(struct api **out, const struct api_config *cfg, struct sw_err *err);
/* The TCP port actually bound (useful with port 0), or -1 without TCP. */
int api_tcp_port(const struct api *api);
/* Adds a route; patterns are like "/v1/apps/{name}/history". */
void api_route(struct api *api, const char *method, const char *pattern, api_handler h, void *data);
/*
 * Stops listening, unlinks the unix socket, closes every connection; the
 * memory is freed once the loop has run the close callbacks, so the caller
 * runs the loop (uv_run DEFAULT) after this before uv_loop_close. May be
 * called from inside a handler. NULL is fine.
 */
void api_free(struct api *api);

/*
 * Feeds raw bytes of one connection to the request parser and handlers
 * without a socket, for the fuzz target and unit tests: returns the bytes
 * the server would have written.
 */
int api_feed_for_test(struct api *api, const char *data, size_t len, struct buf *out);

/* --- client (blocking, for the CLI) --- */

struct api_client {
	char *unix_path;   /* set one of the two */
	char *tcp_addr;    /* "127.0.0.1:PORT" */
	char *token;       /* bearer token for TCP */
	int timeout_ms;    /* default 30000 */
};

/*
 * Sends one request and reads the whole response. body may be NULL.
 * Returns 0 with *out_status and the body in `out` (caller releases), or -1
 * with err set ("cannot connect to slipway at .../slipway.sock: ... is the
 * daemon running? start it with `slipway serve`").
 */
int api_client_request(const struct api_client *c, const char *method, const char *path,
		       const char *body, size_t body_len, int *out_status, struct buf *out,
		       struct sw_err *err);

#endif
