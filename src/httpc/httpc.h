/*
 * httpc: an asynchronous HTTP client on the daemon's libuv loop, built on
 * libcurl's multi interface. The analysis providers (prometheus, web) and
 * later webhooks and registries use it.
 *
 *	struct httpc *h;
 *	if (httpc_new(&h, loop, &err) != 0) ...
 *	struct httpc_request req = {.url = "http://127.0.0.1:9090/api/v1/query?query=up",
 *				    .timeout_ms = 2000};
 *	uint64_t id = httpc_request(h, &req, on_done, ctx, &err);
 *	...
 *	static void on_done(int status, const char *body, size_t len,
 *			    const char *error, void *data)
 *	{
 *		if (error) ... "timed out after 2000 ms" ...
 *		else ... status 200, body[0..len) ...
 *	}
 *	...
 *	httpc_free(h);   then let the loop run so the handles finish closing
 *
 * It never blocks the loop: sockets are watched with uv_poll_t, curl's
 * timeouts with one uv_timer_t, names are resolved by curl's resolver
 * threads, and every request has a hard deadline (timeout_ms) after which
 * it ends with an error. One struct httpc belongs to one loop and is used
 * only from that loop's thread.
 *
 * A request may go to a local unix socket instead of the URL's host
 * (unix_socket; the daemon's calls to `slipway proxy`), with the same
 * timeouts and callbacks.
 *
 * Only http:// and https:// URLs are accepted; proxies from the
 * environment are ignored, redirects are not followed unless asked for,
 * and TLS certificates are verified against the system store.
 */
#ifndef SW_HTTPC_H
#define SW_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/buf.h"
#include "core/core.h"

struct httpc; /* one per loop */

/*
 * Creates a client on `loop`. Returns 0 and the client in *out, or -1 with
 * err set. The first call in the process initialises libcurl (once).
 */
int httpc_new(struct httpc **out, uv_loop_t *loop, struct sw_err *err);

/*
 * Frees the client. Every request still in flight is cancelled and its
 * callback is called once, from inside httpc_free, with status 0 and error
 * "cancelled" (so owners that free their own state right after
 * httpc_free see their callbacks first). From those callbacks,
 * httpc_request fails ("client is shutting down") and httpc_cancel does
 * nothing. The uv handles are closed: the loop must run afterwards for the
 * memory to be released. May be called from inside a request's callback;
 * h must not be used after the call. NULL is ignored.
 */
void httpc_free(struct httpc *h);

/* One request. Zeroed fields take the defaults. Everything is copied by
 * httpc_request: nothing needs to outlive that call. */
struct httpc_request {
	const char *method;	    /* "GET" (default, also for NULL), "HEAD", "POST", "PUT",
				       "PATCH", "DELETE" */
	const char *url;	    /* http:// or https:// */
	const char *const *headers; /* "Name: value" each, NULL-terminated; may be NULL.
				       Replaces a header curl would send (User-Agent,
				       Content-Type); "Name:" with no value removes it */
	const char *body;	    /* sent as is; not allowed with GET or HEAD. Content-Type
				       is application/x-www-form-urlencoded unless a header
				       sets it */
	size_t body_len;	    /* bytes of body */
	uint64_t timeout_ms;	    /* whole request, connect to last byte; 0 means 5000 */
	size_t max_response;	    /* max response body in bytes; 0 means 1 MiB */
	unsigned max_redirects;	    /* 0 (default): a 3xx is returned as is; else follow up
				       to this many (http and https only) */
	const char *unix_socket;    /* path of a unix socket to connect to instead of the
				       URL's host:port (which still names the Host header,
				       e.g. "http://proxy/v1/stats"); NULL = TCP. A connect
				       failure reads "connect to PATH failed: ..." */
};

#define HTTPC_DEFAULT_TIMEOUT_MS 5000
#define HTTPC_DEFAULT_MAX_RESPONSE (1024u * 1024)

/*
 * Called exactly once per request that was not cancelled with
 * httpc_cancel. On a response, status is the HTTP status (any: 404 and
 * 500 are responses too), body/len the response body (NUL-terminated,
 * "" when empty) and error NULL. On failure status is 0, body "" and len
 * 0, and error says what went wrong, without the URL:
 *   "connect to 127.0.0.1:9 failed: Connection refused"
 *   "could not resolve host \"nosuch.invalid\""
 *   "timed out after 2000 ms"
 *   "response larger than 1048576 bytes"
 *   "cancelled"                       (only from httpc_free)
 * body and error are valid only during the call. The callback may start
 * and cancel requests and may call httpc_free.
 */
typedef void (*httpc_cb)(int status, const char *body, size_t len, const char *error, void *data);

/*
 * Starts a request. The callback is called exactly once (see httpc_cb),
 * always from the loop, never from inside httpc_request itself — even a
 * request that fails at once (a refused connection, a malformed host)
 * reports from the loop. Returns the request's id (never 0, never reused
 * by this client), or 0 with err set when the arguments are invalid (no
 * URL, a scheme other than http/https, an unknown method, a body with GET,
 * a header without ':' or with CR/LF) or the client is being freed.
 */
uint64_t httpc_request(struct httpc *h, const struct httpc_request *req, httpc_cb cb, void *data,
		       struct sw_err *err);

/*
 * Cancels one request: its connection is dropped (a name lookup still in
 * progress is abandoned, not waited for) and its callback is NOT
 * called, neither now nor later — after httpc_cancel returns, the
 * request's `data` is never used again, so the owner may free it at once.
 * An id that has already completed (including the one whose callback is
 * running), was cancelled, or was never issued is ignored. Safe from
 * inside any callback and while the client is being freed.
 */
void httpc_cancel(struct httpc *h, uint64_t id);

/* Number of requests in flight (started, callback not yet called). */
size_t httpc_pending(const struct httpc *h);

/*
 * Appends s URL-encoded for use as a query component or path segment:
 * every byte other than A-Z a-z 0-9 - . _ ~ becomes %XX (a space is %20).
 */
void httpc_urlencode(struct buf *out, const char *s);

#endif
