/*
 * httpc: libcurl's multi interface driven by a libuv loop. curl tells us
 * which sockets to watch (on_socket) and when to wake it (on_timer_set);
 * libuv tells curl when a socket is ready or the timer fired (drive), and
 * completed transfers are collected with curl_multi_info_read (dispatch).
 * See docs/internals/httpc.md.
 */
#include "httpc/httpc.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

struct httpc_req {
	struct httpc_req *prev, *next; /* in httpc.reqs */
	uint64_t id;
	CURL *easy;
	struct curl_slist *headers;
	httpc_cb cb;
	void *data;
	struct buf body;     /* response body, cap = max_response */
	uint64_t timeout_ms; /* for the message */
	size_t max_response;
	int too_big; /* the write callback refused data for the cap */
	char *host;  /* from the URL, for messages */
	char *port;
	char *unix_socket; /* the request goes there instead of host:port */
	char errbuf[CURL_ERROR_SIZE];
};

/* One socket curl asked us to watch; assigned to the socket in curl
 * (curl_multi_assign) and freed in its close callback. */
struct httpc_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct httpc *h;
	struct httpc_sock *prev, *next; /* in httpc.socks */
};

struct httpc {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer; /* curl's single timeout */
	struct httpc_req *reqs;
	struct httpc_sock *socks;
	size_t npending;
	uint64_t next_id;
	int busy;    /* depth of drive() frames on the stack */
	int freeing; /* httpc_free was called; teardown when busy drops to 0 */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	/* Never cleaned up: libcurl's global state lives as long as the
	 * process, and cleanup is not safe while another thread uses curl. */
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void drive(struct httpc *h, curl_socket_t fd, int flags);

/* ---- sockets and the timer ---- */

static void on_sock_closed(uv_handle_t *handle)
{
	free(handle->data);
}

static void sock_close(struct httpc *h, struct httpc_sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		h->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	/* uv_poll_stop takes the fd out of epoll now, while it is still
	 * open; curl closes it right after this callback returns. */
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
	struct httpc_sock *s = poll->data;
	int flags = 0;

	if (status < 0) {
		flags = CURL_CSELECT_ERR;
	} else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	drive(s->h, s->fd, flags);
}

/* CURLMOPT_SOCKETFUNCTION. Never returns -1: that would make curl mark the
 * whole multi handle dead. If a socket cannot be watched, its transfer
 * still ends at its timeout. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct httpc *h = userp;
	struct httpc_sock *s = socketp;
	int events = 0, rc;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			sock_close(h, s);
			curl_multi_assign(h->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		rc = uv_poll_init_socket(h->loop, &s->poll, fd);
		if (rc != 0) {
			sw_warn("httpc: cannot watch socket %d: %s", (int)fd, uv_strerror(rc));
			free(s);
			return 0;
		}
		s->poll.data = s;
		s->fd = fd;
		s->h = h;
		s->next = h->socks;
		if (h->socks)
			h->socks->prev = s;
		h->socks = s;
		curl_multi_assign(h->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	rc = uv_poll_start(&s->poll, events, on_poll);
	if (rc != 0)
		sw_warn("httpc: cannot watch socket %d: %s", (int)fd, uv_strerror(rc));
	return 0;
}

static void on_timer(uv_timer_t *timer)
{
	drive(timer->data, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms the uv timer; curl must not be
 * called back from here, and a 0 timeout runs on the next loop turn. */
static int on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc *h = userp;

	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

/* ---- requests ---- */

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct httpc_req *r = userp;
	size_t len = size * nmemb;

	if (buf_add(&r->body, ptr, len) != 0) {
		r->too_big = 1;
		return 0; /* CURLE_WRITE_ERROR */
	}
	return len;
}

static void req_free(struct httpc_req *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	buf_release(&r->body);
	free(r->host);
	free(r->port);
	free(r->unix_socket);
	free(r);
}

/* Takes r out of the client: off the list and out of the multi handle
 * (which closes its connection if the transfer was still running). */
static void req_detach(struct httpc *h, struct httpc_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	h->npending--;
	curl_multi_remove_handle(h->multi, r->easy);
}

/* The message for a failed transfer, in the words of httpc.h. */
static void req_error(struct httpc_req *r, CURLcode rc, struct buf *out)
{
	long oserr = 0;

	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		buf_addf(out, "timed out after %llu ms", (unsigned long long)r->timeout_ms);
		return;
	case CURLE_FILESIZE_EXCEEDED:
		buf_addf(out, "response larger than %zu bytes", r->max_response);
		return;
	case CURLE_WRITE_ERROR:
		if (r->too_big) {
			buf_addf(out, "response larger than %zu bytes", r->max_response);
			return;
		}
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		buf_addf(out, "could not resolve host \"%s\"", r->host);
		return;
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr);
		if (oserr != 0 && r->unix_socket) {
			buf_addf(out, "connect to %s failed: %s", r->unix_socket,
				 strerror((int)oserr));
			return;
		}
		if (oserr != 0) {
			buf_addf(out, "connect to %s:%s failed: %s", r->host, r->port,
				 strerror((int)oserr));
			return;
		}
		break;
	default:
		break;
	}
	/* curl's own words; lower-case the first letter of a sentence
	 * ("Failed to ...") but not of an acronym ("SSL ..."). */
	const char *msg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
	size_t start = out->len;
	buf_adds(out, msg);
	if (out->len > start + 1 && isupper((unsigned char)out->s[start]) &&
	    islower((unsigned char)out->s[start + 1]))
		out->s[start] = (char)tolower((unsigned char)out->s[start]);
	while (out->len > start && (out->s[out->len - 1] == '\n' || out->s[out->len - 1] == '.'))
		out->s[--out->len] = '\0';
}

/* Reports a finished transfer to its owner and frees it. */
static void req_finish(struct httpc *h, struct httpc_req *r, CURLcode rc)
{
	struct buf msg = BUF_INIT;
	long status = 0;

	req_detach(h, r);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		r->cb((int)status, buf_str(&r->body), r->body.len, NULL, r->data);
	} else {
		req_error(r, rc, &msg);
		r->cb(0, "", 0, msg.s, r->data);
	}
	buf_release(&msg);
	req_free(r);
}

/* Collects finished transfers. A callback may start, cancel (curl then
 * drops the cancelled handle's queued message) or free the client. */
static void dispatch(struct httpc *h)
{
	CURLMsg *m;
	int left;

	while (!h->freeing && (m = curl_multi_info_read(h->multi, &left)) != NULL) {
		char *priv = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		CURLcode rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		SW_ASSERT(priv != NULL);
		req_finish(h, (struct httpc_req *)priv, rc);
	}
}

static void on_timer_closed(uv_handle_t *handle)
{
	free(handle->data);
}

/* Releases everything once no drive() frame is on the stack. */
static void teardown(struct httpc *h)
{
	while (h->socks)
		sock_close(h, h->socks);
	/* curl closes its cached connections now; our watchers are gone. */
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, NULL);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, NULL);
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}

static void drive(struct httpc *h, curl_socket_t fd, int flags)
{
	int running;

	h->busy++;
	curl_multi_socket_action(h->multi, fd, flags, &running);
	dispatch(h);
	h->busy--;
	if (h->freeing && h->busy == 0)
		teardown(h);
}

/* ---- public ---- */

int httpc_new(struct httpc **out, uv_loop_t *loop, struct sw_err *err)
{
	struct httpc *h = NULL;
	int rc = -1;

	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		sw_errf(err, -1, "httpc: curl_global_init: %s", curl_easy_strerror(global_rc));
		goto out;
	}
	h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	h->next_id = 1;
	h->multi = curl_multi_init();
	if (!h->multi) {
		sw_errf(err, -1, "httpc: curl_multi_init failed");
		goto out;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	*out = h;
	h = NULL;
	rc = 0;
out:
	if (h) {
		if (h->multi)
			curl_multi_cleanup(h->multi);
		free(h);
	}
	return rc;
}

void httpc_free(struct httpc *h)
{
	if (!h || h->freeing)
		return;
	h->freeing = 1;
	while (h->reqs) {
		struct httpc_req *r = h->reqs;
		req_detach(h, r);
		r->cb(0, "", 0, "cancelled", r->data);
		req_free(r);
	}
	if (h->busy == 0)
		teardown(h);
}

size_t httpc_pending(const struct httpc *h)
{
	return h->npending;
}

static const struct {
	const char *name;
	int body; /* may carry a body */
} methods[] = {
	{"GET", 0}, {"HEAD", 0}, {"POST", 1}, {"PUT", 1}, {"PATCH", 1}, {"DELETE", 1},
};

static int check_header(const char *hdr, struct sw_err *err)
{
	const char *colon = strchr(hdr, ':');

	if (!colon || colon == hdr)
		return sw_errf(err, SW_EINVAL, "header \"%s\" is not \"Name: value\"", hdr);
	if (strpbrk(hdr, "\r\n"))
		return sw_errf(err, SW_EINVAL, "header \"%.*s\" contains a line break",
			       (int)(colon - hdr), hdr);
	for (const char *p = hdr; p < colon; p++)
		if (*p <= ' ' || *p == 0x7f)
			return sw_errf(err, SW_EINVAL, "header name \"%.*s\" is not a token",
				       (int)(colon - hdr), hdr);
	return 0;
}

/* Parses the URL the way curl will, so that a bad one is refused here
 * rather than reported later; keeps host and port for messages. */
static int check_url(struct httpc_req *r, const char *url, struct sw_err *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	int rc = -1;

	if (!u) {
		sw_errf(err, -1, "out of memory");
		goto out;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		sw_errf(err, SW_EINVAL, "invalid url \"%s\"", url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		sw_errf(err, SW_EINVAL, "url \"%s\": only http and https are supported", url);
		goto out;
	}
	char *host = NULL, *port = NULL;
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		curl_free(host);
		sw_errf(err, SW_EINVAL, "url \"%s\" has no host", url);
		goto out;
	}
	r->host = xstrdup(host);
	r->port = xstrdup(port);
	curl_free(host);
	curl_free(port);
	rc = 0;
out:
	curl_free(scheme);
	if (u)
		curl_url_cleanup(u);
	return rc;
}

/* Sets up r->easy for req; returns 0 or -1 with err set. */
static int req_setup(struct httpc_req *r, const struct httpc_request *req, int method,
		     struct sw_err *err)
{
	CURL *e = r->easy;
	CURLcode rc = CURLE_OK;
	const char *name = methods[method].name;

	/* Each setopt below can only fail for out of memory or an option
	 * this libcurl lacks; the first failure is reported. */
#define SET(opt, val)                                         \
	do {                                                  \
		if (rc == CURLE_OK)                           \
			rc = curl_easy_setopt(e, opt, val);   \
	} while (0)
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	/* Without this, ending a transfer whose name lookup is still running
	 * (a timeout, a cancel) joins curl's resolver thread: the loop would
	 * wait for getaddrinfo, for as long as the name servers take. With
	 * it the thread is detached and frees its state when it returns. */
	SET(CURLOPT_QUICK_EXIT, 1L);
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, req->max_redirects > 0 ? 1L : 0L);
	SET(CURLOPT_MAXREDIRS, (long)req->max_redirects);
	SET(CURLOPT_TIMEOUT_MS, r->timeout_ms > LONG_MAX ? LONG_MAX : (long)r->timeout_ms);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_response);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_USERAGENT, "slipway/" SLIPWAY_VERSION);
	if (strcmp(name, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (strcmp(name, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(name, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, name);
		if (strcmp(name, "DELETE") != 0 || req->body_len > 0) {
			SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
			SET(CURLOPT_COPYPOSTFIELDS, req->body_len ? req->body : "");
		}
	}
	SET(CURLOPT_HTTPHEADER, r->headers);
	if (r->unix_socket)
		SET(CURLOPT_UNIX_SOCKET_PATH, r->unix_socket);
#undef SET
	if (rc != CURLE_OK)
		return sw_errf(err, -1, "httpc: %s", curl_easy_strerror(rc));
	return 0;
}

uint64_t httpc_request(struct httpc *h, const struct httpc_request *req, httpc_cb cb, void *data,
		       struct sw_err *err)
{
	struct httpc_req *r = NULL;
	int method = -1;
	uint64_t id = 0;

	SW_ASSERT(h && req && cb);
	if (h->freeing) {
		sw_errf(err, -1, "client is shutting down");
		goto out;
	}
	if (!req->url || !*req->url) {
		sw_errf(err, SW_EINVAL, "request has no url");
		goto out;
	}
	const char *mname = req->method ? req->method : "GET";
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(mname, methods[i].name) == 0)
			method = (int)i;
	if (method < 0) {
		sw_errf(err, SW_EINVAL, "unsupported method \"%s\"", mname);
		goto out;
	}
	if (req->body_len > 0 && !req->body) {
		sw_errf(err, SW_EINVAL, "body_len is %zu but body is NULL", req->body_len);
		goto out;
	}
	if (req->body_len > 0 && !methods[method].body) {
		sw_errf(err, SW_EINVAL, "%s request cannot have a body", mname);
		goto out;
	}

	r = xcalloc(1, sizeof(*r));
	r->cb = cb;
	r->data = data;
	r->timeout_ms = req->timeout_ms ? req->timeout_ms : HTTPC_DEFAULT_TIMEOUT_MS;
	r->max_response = req->max_response ? req->max_response : HTTPC_DEFAULT_MAX_RESPONSE;
	r->body.cap = r->max_response;
	if (check_url(r, req->url, err) != 0)
		goto out;
	if (req->unix_socket) {
		/* sun_path is 108 bytes with its NUL; curl would fail later */
		if (!*req->unix_socket || strlen(req->unix_socket) >= 108) {
			sw_errf(err, SW_EINVAL, "unix socket path \"%s\" is empty or too long",
				req->unix_socket);
			goto out;
		}
		r->unix_socket = xstrdup(req->unix_socket);
	}
	for (const char *const *hp = req->headers; hp && *hp; hp++) {
		if (check_header(*hp, err) != 0)
			goto out;
		struct curl_slist *n = curl_slist_append(r->headers, *hp);
		if (!n) {
			sw_errf(err, -1, "out of memory");
			goto out;
		}
		r->headers = n;
	}
	/* No "Expect: 100-continue" pause before a large body. */
	struct curl_slist *n = curl_slist_append(r->headers, "Expect:");
	if (!n) {
		sw_errf(err, -1, "out of memory");
		goto out;
	}
	r->headers = n;

	r->easy = curl_easy_init();
	if (!r->easy) {
		sw_errf(err, -1, "httpc: curl_easy_init failed");
		goto out;
	}
	if (req_setup(r, req, method, err) != 0)
		goto out;
	/* Arms the timer (at 0 ms): the transfer starts from the loop. */
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
		sw_errf(err, -1, "httpc: curl_multi_add_handle failed");
		goto out;
	}
	r->id = h->next_id++;
	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	h->npending++;
	id = r->id;
	r = NULL;
out:
	if (r)
		req_free(r);
	return id;
}

void httpc_cancel(struct httpc *h, uint64_t id)
{
	if (!h || id == 0)
		return;
	for (struct httpc_req *r = h->reqs; r; r = r->next) {
		if (r->id == id) {
			req_detach(h, r);
			req_free(r);
			return;
		}
	}
}

void httpc_urlencode(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			buf_addc(out, (char)*p);
		} else {
			char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			buf_add(out, enc, 3);
		}
	}
}
