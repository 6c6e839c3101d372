/*
 * The proxy engine: listeners, client connections, upstream connections
 * and their pool, and the forwarding of one exchange between them. See
 * docs/internals/proxy.md for the life of a connection.
 *
 * A client connection parses requests with http-parser and handles one at
 * a time: the parser is paused when a request head is complete (while a
 * backend is picked and an upstream connection found) and again when the
 * request is complete (until its response is done), so pipelined requests
 * wait in `in` and are answered in order. Bodies are streamed: request
 * body bytes go to the upstream as the parser hands them over (re-chunked
 * when chunked, so the upstream sees framing we produced), response body
 * bytes go to the client the same way. Each side stops reading while the
 * other side's write backlog is above HIGH_WATER, so memory per exchange
 * is bounded whatever the body size.
 *
 * A client connection holds its request state (parser, buffers, header
 * list, exchange: struct creq) only while a request is under way: taken
 * from the engine's pool at the first byte of a request, given back as
 * soon as the connection is idle, so an idle connection is its struct
 * client alone. Client timeouts are deadlines in one list per mode, in
 * deadline order, woken by one timer per engine (client_timer, on_tick).
 *
 * Nothing is freed from inside a callback: closing a connection starts
 * uv_close on its handles and the memory goes in the close callback, so
 * code that closed something may still look at its flags.
 *
 * proxy_feed_for_test drives the same client code with no socket: input
 * comes from a buffer and writes are appended to another.
 */
#include "proxy.h"
#include "core/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_HEADER_TIMEOUT_MS 10000
#define DEFAULT_IDLE_TIMEOUT_MS 60000
#define DEFAULT_UPSTREAM_TIMEOUT_MS 60000
#define DEFAULT_MAX_HEADER_BYTES 16384
#define DEFAULT_POOL_PER_BACKEND 256

#define READ_BUF_SIZE (64u * 1024)
/* Stop reading one side while the other side has this much unwritten. */
#define HIGH_WATER (256u * 1024)
#define LOW_WATER (64u * 1024)
/* Unparsed client input kept while a request is in flight (pipelining). */
#define STASH_MAX (64u * 1024)
#define MAX_RESP_HEADER (64u * 1024)
/* Pooled upstream connections are closed after this much idleness (or
 * idle_timeout_ms if lower), before a backend's own keep-alive timeout
 * (often 60 s) makes a reused connection fail under us. */
#define POOL_IDLE_MAX_MS 30000
/* How long a closing client connection waits for its writes to drain and
 * the peer to hang up, so a final error response is not lost to a reset. */
#define LINGER_MS 2000
/* The client timeouts' tick wakes at most this often (a timeout ends at
 * most this much late), so clients whose deadlines are close together
 * are handled in one wake-up. */
#define TICK_MS 10
/* Request states kept for reuse (with their buffers) while no request
 * uses them: the hot path allocates nothing; beyond these, freed. */
#define REQ_POOL_MAX 256
/* After this many request states freed (a burst of requests is over),
 * the heap's free pages are given back to the kernel (malloc_trim), at
 * most once per TRIM_MIN_MS: the holes a burst leaves between the
 * connections that stay would otherwise count in RSS for good. */
#define TRIM_AFTER_FREES 256
#define TRIM_MIN_MS 1000
#define MAX_CONN_TOKENS 32
#define MAX_LISTENS 1024
#define LISTEN_BACKLOG 511
/* Buffers kept between requests of a connection are trimmed above this. */
#define KEEP_BUF_MAX 4096
/* Connections over max_conns being answered 503 at once; beyond, closed. */
#define REFUSING_MAX 256
/* ... and how long one of them has to send its request head. */
#define REFUSING_HEADER_MS 2000
/* At most one log line about refused connections per this. */
#define REFUSED_LOG_MS 10000

/* ------------------------------------------------------------------ */
/* types                                                               */

enum lkind {
	L_TABLE,   /* a listen address of the route table */
	L_METRICS, /* serves GET /metrics itself */
	L_TEST,    /* no socket: proxy_feed_for_test */
};

struct listener {
	struct proxy *p;
	struct listener *next;
	char *name;          /* the listen address as the table spells it */
	enum lkind kind;
	uv_tcp_t tcp;
	int refs;            /* the proxy's list until closed, plus one per client */
	bool closing;
	struct buf *test_out; /* L_TEST: what its one client is written */
};

/* What the proxy knows of one backend (instance), by id. */
struct bstat {
	struct bstat *next;
	char *id;
	char *addr;
	struct sockaddr_storage sa;
	bool sa_ok;
	bool in_table;
	int64_t inflight;       /* exchanges using it */
	int64_t conns;          /* open upstream connections */
	struct upstream *idle;  /* pooled connections, most recently used first */
	size_t nidle;
};

/* One header section: names and values NUL-terminated in `raw`. */
struct hfield {
	uint32_t name, nlen, val, vlen;
};

struct hlist {
	struct buf raw;
	struct hfield *f;
	uint32_t n, alloc;
	bool in_value;
};

enum cstate {
	C_HEAD,    /* reading a request head (or between requests) */
	C_CONNECT, /* head complete, waiting for an upstream connection */
	C_FORWARD, /* exchanging with the upstream */
	C_TUNNEL,  /* upgraded: raw bytes both ways */
};

enum framing {
	FR_NONE,    /* no body */
	FR_LENGTH,  /* Content-Length */
	FR_CHUNKED,
	FR_CLOSE,   /* until the connection closes */
};

/* A client's timeout: which list of its engine it is in (see "Timeouts"
 * in docs/internals/proxy.md). Every client is in exactly one. */
enum ctimer {
	CT_NONE,     /* no timeout: waiting for the upstream (its own timers run) */
	CT_IDLE,     /* keep-alive, no request begun: idle_timeout_ms */
	CT_HEADER,   /* the request head must be complete within header_timeout_ms */
	CT_REFUSING, /* the same, over max_conns: REFUSING_HEADER_MS at most */
	CT_ACTIVITY, /* response streaming or tunnel: idle_timeout_ms without progress */
	CT_LINGER,   /* closing: LINGER_MS */
	CT_N,
};

enum utimer {
	UT_NONE,
	UT_CONNECT,  /* connect_timeout_ms */
	UT_RESPONSE, /* response head within upstream_timeout_ms of the last request progress */
	UT_POOL,     /* idle in the pool */
};

struct exchange {
	bool begun;          /* a byte of the request arrived */
	bool active;         /* the head is complete, the exchange is not over */
	bool head_pending;   /* the head just completed: dispatch it */
	bool local;          /* answered by the proxy itself */
	bool req_done, resp_head_sent, resp_done;
	bool has_body, chunked, keep_alive, upgrade, expect_continue, is_head, idempotent, http10;
	bool retried, stale_retried, set_cookie, metered, metrics_done, logged, tunnel, client_keep;
	bool continue_sent;
	bool has_request_id;
	enum framing out;
	int status;
	bool proxy_error;
	char *app;
	int64_t revision;
	struct bstat *b;     /* counted in b->inflight while set */
	uint64_t start_ns;
	uint64_t bytes_in, bytes_out;
	char request_id[72];
	struct buf head;     /* the rewritten request head for the upstream */
	struct buf path;     /* path without the query, for routing and the log */
	struct buf app_name; /* app's storage, kept between requests (no malloc each) */
	size_t target_off;   /* where the origin-form target starts in the url */
};

/* What a client connection needs only while a request is under way:
 * taken from the engine's pool (proxy.reqs) when the first byte of a
 * request arrives and given back, buffers and all, as soon as the
 * connection is idle again, so an idle connection holds none of it. */
struct creq {
	struct creq *next;   /* in the pool */
	http_parser parser;
	struct buf in;       /* input the parser has not taken yet */
	struct buf out;      /* output not handed to the socket yet */
	struct buf url;
	struct hlist h;
	size_t head_bytes;
	int err_status;      /* set by a parser callback that refuses the request */
	const char *err_msg;
	uint64_t last_activity; /* uv_now of the last progress (CT_ACTIVITY) */
	struct exchange x;
};

/* One client connection. Kept small: there may be many idle ones. */
struct client {
	struct proxy *p;     /* first: on_alloc reads it */
	struct client *tprev, *tnext; /* in p->timers[tmode], in tdue order */
	struct listener *l;
	struct creq *r;      /* while a request is under way, else NULL */
	struct upstream *up;
	uint64_t tdue;       /* uv_now when the timeout of tmode ends */
	uv_tcp_t tcp;        /* never opened for a client of proxy_feed_for_test */
	uint8_t ip[16];      /* the peer's address: IPv4 in the first 4 bytes unless ip6 */
	uint8_t tmode;       /* enum ctimer */
	uint8_t state;       /* enum cstate */
	bool ip6, sock;      /* sock false: fed by proxy_feed_for_test */
	bool reading, closing, ending, peer_eof, shut_done, in_parse;
	bool refusing;       /* over max_conns: its request is answered 503 */
};

enum ustate { U_CONNECTING, U_BUSY, U_IDLE };

struct upstream {
	struct proxy *p;
	struct upstream *prev, *next;   /* every upstream, for proxy_free */
	struct upstream *iprev, *inext; /* in b->idle */
	struct bstat *b;
	struct client *c;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t creq;
	uv_shutdown_t shut;
	int handles;
	enum ustate state;
	enum utimer tmode;
	uint64_t tdue;       /* uv_now deadline of tmode (the timer may be armed earlier) */
	uint64_t last_progress;
	bool reading, closing, reused, got_bytes, interim, keep, peer_eof, shut_sent;
	http_parser parser;
	struct hlist h;
	struct buf reason;
	size_t head_bytes;
	struct buf out;
};

struct proxy {
	struct proxy_config cfg;
	uv_loop_t *loop;
	struct table *table;
	struct metrics *metrics;
	bool own_metrics;    /* false: shared by the workers, the caller's */
	struct listener *listeners;
	size_t nclients;
	struct upstream *upstreams;
	struct bstat *bstats;
	FILE *alog;
	uint64_t rng[2];
	size_t nlive;        /* clients, upstreams and listeners not freed yet */
	struct inherited {   /* listening sockets of the proxy this one replaces */
		char *name;
		bool metrics;
		int fd;      /* -1 once a listener took it */
	} *inherited;
	size_t ninherited;
	bool draining, freeing;
	struct ctlist {      /* the clients of one timeout mode, earliest tdue first */
		struct client *head, *tail;
	} timers[CT_N];      /* every client is in one; timers[CT_IDLE].head is the
			      * keep-alive client idle longest */
	uv_timer_t tick;     /* wakes for the earliest tdue of the lists */
	uint64_t tick_due;   /* uv_now it is armed for, 0 when not armed */
	struct creq *reqs;   /* pool of request states no client uses ... */
	size_t nreqs;        /* ... at most REQ_POOL_MAX */
	size_t reqs_freed;   /* since the last malloc_trim */
	uint64_t trim_ms;    /* uv_now of the last malloc_trim */
	size_t nrefusing;    /* clients with `refusing` set */
	uint64_t refused_log_ms, refused_unlogged;
	uv_timer_t refused_timer; /* reports refusals left unlogged at the end of a window */
	struct proxy_group *group;
	uv_async_t inbox_wake;   /* a connection was handed over (group only) */
	struct handoff {         /* sockets handed over, not taken yet (group's lock) */
		int fd;
		char *listener;  /* the listen address it was accepted on */
	} *inbox;
	size_t ninbox;
	size_t incoming;         /* handed over, not taken yet (atomic: others read it) */
	char rbuf[READ_BUF_SIZE];
};

static void client_close(struct client *c);
static void client_end(struct client *c);
static void client_sync(struct client *c);
static void client_resume(struct client *c);
static void client_timer(struct client *c, enum ctimer mode, uint64_t ms);
static int client_shutdown(struct client *c, uv_shutdown_cb cb);
static void upstream_close(struct upstream *u);
static void upstream_sync(struct upstream *u);
static void upstream_get(struct client *c);
static void local_response(struct client *c, int status, bool proxy_error, const char *ctype,
			   const char *body, size_t len);
static void local_text(struct client *c, int status, bool proxy_error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void proxy_maybe_free(struct proxy *p);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static const char *req_header(const char *name, void *data);
static void client_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void upstream_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

static uint64_t rng_next(struct proxy *p)
{
	/* xorshift128+: fast, and good enough for request ids */
	uint64_t s1 = p->rng[0];
	const uint64_t s0 = p->rng[1];
	p->rng[0] = s0;
	s1 ^= s1 << 23;
	p->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return p->rng[1] + s0;
}

static void request_id_new(struct proxy *p, char *out, size_t size)
{
	/* by hand: snprintf was a tenth of the proxy's user time per request */
	static const char hex[] = "0123456789abcdef";
	uint64_t w[2] = {rng_next(p), rng_next(p)};
	SW_ASSERT(size > 32);
	for (int i = 0; i < 32; i++)
		out[i] = hex[(w[i / 16] >> (60 - 4 * (i % 16))) & 0xf];
	out[32] = '\0';
}

/* "NAME: VALUE\r\n" of field i: the hot path's header copy (no format
 * string to interpret). */
static void add_field(struct buf *o, const struct hlist *h, uint32_t i)
{
	buf_add(o, h->raw.s + h->f[i].name, h->f[i].nlen);
	buf_add(o, ": ", 2);
	buf_add(o, h->raw.s + h->f[i].val, h->f[i].vlen);
	buf_add(o, "\r\n", 2);
}

/* The client's address as X-Forwarded-For names it; IPv4 by hand, as
 * it is written for every request. */
static void add_client_ip(struct buf *o, const struct client *c)
{
	char s[INET6_ADDRSTRLEN];
	size_t n = 0;
	if (c->ip6) {
		if (uv_inet_ntop(AF_INET6, c->ip, s, sizeof(s)) == 0)
			buf_adds(o, s);
		return;
	}
	for (int i = 0; i < 4; i++) {
		unsigned v = c->ip[i];
		if (i)
			s[n++] = '.';
		if (v >= 100)
			s[n++] = (char)('0' + v / 100);
		if (v >= 10)
			s[n++] = (char)('0' + v / 10 % 10);
		s[n++] = (char)('0' + v % 10);
	}
	buf_add(o, s, n);
}

/* Any address core/addr reads, into a sockaddr for bind/connect. */
static int parse_addr(const char *s, struct sockaddr_storage *out, struct sw_err *err)
{
	struct sw_addr a;

	if (sw_addr_parse(&a, s, 0, err) < 0)
		return -1;
	memcpy(out, &a.sa, sizeof(*out));
	return 0;
}

static const char *reason_of(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return http_status_str((enum http_status)status);
	}
}

static void buf_trim(struct buf *b)
{
	if (b->alloc > KEEP_BUF_MAX)
		buf_release(b);
	else
		buf_reset(b);
}

/* JSON string for the access log: bytes outside printable ASCII escaped. */
static void add_json_str(struct buf *b, const char *s)
{
	if (!s) {
		buf_adds(b, "null");
		return;
	}
	buf_addc(b, '"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			buf_addf(b, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			buf_addf(b, "\\u%04x", ch);
		else
			buf_addc(b, (char)ch);
	}
	buf_addc(b, '"');
}

/* ------------------------------------------------------------------ */
/* header lists                                                        */

static void hl_reset(struct hlist *h)
{
	buf_reset(&h->raw);
	h->n = 0;
	h->in_value = false;
}

static void hl_release(struct hlist *h)
{
	buf_release(&h->raw);
	free(h->f);
	memset(h, 0, sizeof(*h));
}

static void hl_trim(struct hlist *h)
{
	buf_trim(&h->raw);
	if (h->alloc > 64) {
		free(h->f);
		h->f = NULL;
		h->alloc = 0;
	}
	h->n = 0;
	h->in_value = false;
}

static void hl_field(struct hlist *h, const char *at, size_t n)
{
	if (h->n == 0 || h->in_value) {
		if (h->n)
			buf_addc(&h->raw, '\0');
		if (h->n == h->alloc) {
			h->alloc = h->alloc ? h->alloc * 2 : 16;
			h->f = xrealloc(h->f, h->alloc * sizeof(*h->f));
		}
		h->f[h->n++] = (struct hfield){.name = (uint32_t)h->raw.len};
		h->in_value = false;
	}
	buf_add(&h->raw, at, n);
	h->f[h->n - 1].nlen += (uint32_t)n;
}

static void hl_value(struct hlist *h, const char *at, size_t n)
{
	if (!h->n)
		return;
	if (!h->in_value) {
		buf_addc(&h->raw, '\0');
		h->f[h->n - 1].val = (uint32_t)h->raw.len;
		h->in_value = true;
	}
	buf_add(&h->raw, at, n);
	h->f[h->n - 1].vlen += (uint32_t)n;
}

/* Ends the section: NUL-terminates the last value, trims trailing blanks,
 * and blanks out bytes that must never reach a header line we write. */
static void hl_finish(struct hlist *h)
{
	if (h->n && !h->in_value) {
		buf_addc(&h->raw, '\0');
		h->f[h->n - 1].val = (uint32_t)h->raw.len;
	}
	buf_addc(&h->raw, '\0');
	h->in_value = true;
	for (uint32_t i = 0; i < h->n; i++) {
		struct hfield *f = &h->f[i];
		char *v = h->raw.s + f->val;
		for (uint32_t k = 0; k < f->vlen; k++)
			if (v[k] == '\r' || v[k] == '\n' || v[k] == '\0')
				v[k] = ' ';
		while (f->vlen && (v[f->vlen - 1] == ' ' || v[f->vlen - 1] == '\t'))
			v[--f->vlen] = '\0';
		char *nm = h->raw.s + f->name;
		for (uint32_t k = 0; k < f->nlen; k++)
			if (nm[k] == '\r' || nm[k] == '\n' || nm[k] == '\0' || nm[k] == ':')
				nm[k] = '-';
	}
}

static const char *hl_name(const struct hlist *h, uint32_t i)
{
	return h->raw.s + h->f[i].name;
}

static const char *hl_val(const struct hlist *h, uint32_t i)
{
	return h->raw.s + h->f[i].val;
}

static const char *hl_get(const struct hlist *h, const char *name)
{
	for (uint32_t i = 0; i < h->n; i++)
		if (strcasecmp(hl_name(h, i), name) == 0)
			return hl_val(h, i);
	return NULL;
}

static unsigned hl_count(const struct hlist *h, const char *name)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < h->n; i++)
		if (strcasecmp(hl_name(h, i), name) == 0)
			n++;
	return n;
}

/* The names listed in Connection headers (hop-by-hop by declaration). */
struct tokens {
	const char *s[MAX_CONN_TOKENS];
	size_t len[MAX_CONN_TOKENS];
	size_t n;
};

static int conn_tokens(const struct hlist *h, struct tokens *t)
{
	t->n = 0;
	for (uint32_t i = 0; i < h->n; i++) {
		if (strcasecmp(hl_name(h, i), "connection") != 0)
			continue;
		const char *v = hl_val(h, i);
		while (*v) {
			v += strspn(v, " \t,");
			size_t n = strcspn(v, ",");
			size_t k = n;
			while (k && (v[k - 1] == ' ' || v[k - 1] == '\t'))
				k--;
			if (k) {
				if (t->n == MAX_CONN_TOKENS)
					return -1;
				t->s[t->n] = v;
				t->len[t->n++] = k;
			}
			v += n;
		}
	}
	return 0;
}

static bool tokens_has(const struct tokens *t, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < t->n; i++)
		if (t->len[i] == nl && strncasecmp(t->s[i], name, nl) == 0)
			return true;
	return false;
}

/* RFC 9110 token: what a header name may be made of. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", ch)))
			return false;
	}
	return true;
}

/* Every name of the section is a token (a response with one that is not
 * is refused like a request would be: a name we would forward must never
 * smuggle a different header to the next hop). */
static bool hl_names_valid(const struct hlist *h)
{
	for (uint32_t i = 0; i < h->n; i++)
		if (!is_token(hl_name(h, i)))
			return false;
	return true;
}

static bool is_hop(const char *name)
{
	static const char *const hop[] = {"connection", "keep-alive", "proxy-connection", "te",
					  "trailer", "transfer-encoding", "upgrade",
					  "proxy-authorization", NULL};
	for (size_t i = 0; hop[i]; i++)
		if (strcasecmp(name, hop[i]) == 0)
			return true;
	return false;
}

/* Whether a header named in Connection may be removed. Connection lists
 * hop-by-hop headers, but a client (or upstream) naming an end-to-end one
 * there must not make us drop what the other side needs: the routing and
 * framing headers, what identifies the request, and everything the proxy
 * sets itself. Those stay whatever Connection says. */
static bool conn_token_removable(const char *name)
{
	static const char *const keep[] = {"host", "content-length", "content-type", "content-encoding",
					   "content-range", "cookie", "set-cookie", "authorization",
					   "cache-control", "date", "location", "x-request-id",
					   "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
					   "forwarded", NULL};
	for (size_t i = 0; keep[i]; i++)
		if (strcasecmp(name, keep[i]) == 0)
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* backends                                                            */

static struct bstat *bstat_find(struct proxy *p, const char *id)
{
	for (struct bstat *b = p->bstats; b; b = b->next)
		if (strcmp(b->id, id) == 0)
			return b;
	return NULL;
}

/* Closes the pooled connections; b itself stays (the caller decides). */
static void bstat_close_idle(struct bstat *b)
{
	b->inflight++; /* pinned: closing its last connection must not drop it */
	while (b->idle)
		upstream_close(b->idle);
	b->inflight--;
}

/* The stats of a backend of the current table, made on first sight; a
 * backend whose address changed loses its pooled connections. */
static struct bstat *bstat_get(struct proxy *p, const struct table_backend *be)
{
	struct bstat *b = bstat_find(p, be->id);
	if (!b) {
		b = xcalloc(1, sizeof(*b));
		b->id = xstrdup(be->id);
		b->next = p->bstats;
		p->bstats = b;
	} else if (b->addr && strcmp(b->addr, be->addr) == 0) {
		b->in_table = true;
		return b;
	}
	bstat_close_idle(b);
	free(b->addr);
	b->addr = xstrdup(be->addr);
	b->sa_ok = parse_addr(be->addr, &b->sa, NULL) == 0;
	b->in_table = true;
	return b;
}

/* Forgets a backend that left the table once nothing uses it. */
static void bstat_maybe_drop(struct proxy *p, struct bstat *b)
{
	if (b->in_table || b->inflight || b->conns || p->freeing)
		return;
	for (struct bstat **pp = &p->bstats; *pp; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	}
	free(b->id);
	free(b->addr);
	free(b);
}

static void bstat_release(struct proxy *p, struct bstat *b)
{
	b->inflight--;
	bstat_maybe_drop(p, b);
}

/* ------------------------------------------------------------------ */
/* writing                                                             */

struct wreq {
	uv_write_t req;
	char data[];
};

/* Hands b's bytes to the stream (written now if the kernel takes them,
 * else queued) and empties b. Returns 0 or a libuv error. */
static int stream_send(uv_stream_t *s, struct buf *b, uv_write_cb cb)
{
	size_t off = 0;
	int r = 0;
	if (!b->len)
		return 0;
	uv_buf_t ub = uv_buf_init(b->s, (unsigned)b->len);
	r = uv_try_write(s, &ub, 1);
	if (r > 0)
		off = (size_t)r;
	else if (r != UV_EAGAIN && r != UV_ENOSYS)
		goto out;
	r = 0;
	if (off < b->len) {
		size_t n = b->len - off;
		struct wreq *w = xmalloc(sizeof(*w) + n);
		memcpy(w->data, b->s + off, n);
		ub = uv_buf_init(w->data, (unsigned)n);
		r = uv_write(&w->req, s, &ub, 1, cb);
		if (r < 0)
			free(w);
	}
out:
	buf_reset(b);
	return r;
}

static size_t client_backlog(struct client *c)
{
	size_t n = c->r ? c->r->out.len : 0;
	if (!c->sock || c->closing)
		return n;
	return n + uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

static size_t upstream_backlog(struct upstream *u)
{
	if (u->closing || u->state == U_CONNECTING)
		return u->out.len;
	return u->out.len + uv_stream_get_write_queue_size((uv_stream_t *)&u->tcp);
}

static void client_on_write(uv_write_t *req, int status);

static void client_flush(struct client *c)
{
	if (!c->r)
		return;
	if (c->closing) {
		buf_reset(&c->r->out);
		return;
	}
	if (!c->sock) {
		if (c->l->test_out)
			buf_add(c->l->test_out, buf_str(&c->r->out), c->r->out.len);
		buf_reset(&c->r->out);
		return;
	}
	if (stream_send((uv_stream_t *)&c->tcp, &c->r->out, client_on_write) < 0)
		client_close(c);
}

static void upstream_on_write(uv_write_t *req, int status);

static void upstream_flush(struct upstream *u)
{
	if (u->closing) {
		buf_reset(&u->out);
		return;
	}
	if (u->state == U_CONNECTING)
		return;
	if (stream_send((uv_stream_t *)&u->tcp, &u->out, upstream_on_write) < 0) {
		/* the read side reports the failure to the exchange */
		buf_reset(&u->out);
	}
}

/* ------------------------------------------------------------------ */
/* metrics and the access log                                          */

static void exchange_meter_end(struct client *c)
{
	struct exchange *x = &c->r->x;
	if (!x->metered || x->metrics_done)
		return;
	x->metrics_done = true;
	uint64_t lat = (uv_hrtime() - x->start_ns) / 1000;
	metrics_end(c->p->metrics, x->app, x->revision, x->status, x->proxy_error, lat, x->bytes_in,
		    x->bytes_out, sw_now_ms());
}

static void exchange_log(struct client *c)
{
	struct proxy *p = c->p;
	struct exchange *x = &c->r->x;
	struct buf l = BUF_INIT;
	char t[64];
	if (!p->alog || !x->active || x->logged)
		return;
	x->logged = true;
	sw_format_time(t, sizeof(t), sw_wall_ms());
	buf_addf(&l, "{\"time\":\"%s\",\"app\":", t);
	add_json_str(&l, x->app);
	buf_addf(&l, ",\"revision\":%" PRId64 ",\"backend\":", x->revision);
	add_json_str(&l, x->b ? x->b->id : NULL);
	buf_addf(&l, ",\"method\":\"%s\",\"path\":", http_method_str((enum http_method)c->r->parser.method));
	add_json_str(&l, buf_str(&x->path));
	buf_addf(&l, ",\"status\":%d,\"duration_ms\":%.3f,\"bytes\":%" PRIu64 ",\"bytes_in\":%" PRIu64
		     ",\"request_id\":",
		 x->status, (double)(uv_hrtime() - x->start_ns) / 1e6, x->bytes_out, x->bytes_in);
	add_json_str(&l, x->request_id);
	buf_adds(&l, "}\n");
	fwrite(buf_str(&l), 1, l.len, p->alog);
	buf_release(&l);
}

/* Ends the exchange's accounting and resets it for the next request. */
static void exchange_end(struct client *c)
{
	if (!c->r)
		return;
	struct exchange *x = &c->r->x;
	if (x->active) {
		exchange_meter_end(c);
		exchange_log(c);
	}
	if (x->b)
		bstat_release(c->p, x->b);
	struct buf head = x->head, path = x->path, app_name = x->app_name;
	buf_trim(&head);
	buf_trim(&path);
	buf_reset(&app_name);
	memset(x, 0, sizeof(*x));
	x->head = head;
	x->path = path;
	x->app_name = app_name;
}

/* ------------------------------------------------------------------ */
/* upstream connections                                                */

static void on_upstream_closed(uv_handle_t *h)
{
	struct upstream *u = h->data;
	if (--u->handles > 0)
		return;
	struct proxy *p = u->p;
	hl_release(&u->h);
	buf_release(&u->reason);
	buf_release(&u->out);
	free(u);
	p->nlive--;
	proxy_maybe_free(p);
}

static void idle_remove(struct upstream *u)
{
	struct bstat *b = u->b;
	if (u->iprev)
		u->iprev->inext = u->inext;
	else if (b->idle == u)
		b->idle = u->inext;
	else
		return;
	if (u->inext)
		u->inext->iprev = u->iprev;
	u->iprev = u->inext = NULL;
	b->nidle--;
}

static void upstream_close(struct upstream *u)
{
	struct proxy *p = u->p;
	if (u->closing)
		return;
	u->closing = true;
	if (u->state == U_IDLE)
		idle_remove(u);
	if (u->c) {
		u->c->up = NULL;
		u->c = NULL;
	}
	if (u->prev)
		u->prev->next = u->next;
	else
		p->upstreams = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->prev = u->next = NULL;
	u->b->conns--;
	uv_close((uv_handle_t *)&u->tcp, on_upstream_closed);
	uv_close((uv_handle_t *)&u->timer, on_upstream_closed);
	bstat_maybe_drop(p, u->b);
}

static void upstream_on_timer(uv_timer_t *t);

/* Timers are lazy: the uv timer is re-armed only when the new deadline is
 * earlier than the one it is armed for, and a timer set to UT_NONE stays
 * armed and finds nothing to do when it fires (on_timer re-arms one that
 * fires before tdue). Each request moved each timer four times, and the
 * heap operations were 3% of the proxy's time. */
static bool timer_lazy(uv_timer_t *t, uint64_t *tdue, bool none, uint64_t ms)
{
	if (none)
		return true;
	*tdue = uv_now(t->loop) + ms;
	return uv_is_active((uv_handle_t *)t) && uv_timer_get_due_in(t) <= ms;
}

/* In on_timer: true when the deadline has not come yet (re-armed for it). */
static bool timer_early(uv_timer_t *t, uint64_t tdue, uv_timer_cb cb)
{
	uint64_t now = uv_now(t->loop);
	if (now >= tdue)
		return false;
	uv_timer_start(t, cb, tdue - now, 0);
	return true;
}

static void upstream_timer(struct upstream *u, enum utimer mode, uint64_t ms)
{
	u->tmode = mode;
	if (u->closing || timer_lazy(&u->timer, &u->tdue, mode == UT_NONE, ms))
		return;
	uv_timer_start(&u->timer, upstream_on_timer, ms, 0);
}

static const http_parser_settings resp_settings;

static struct upstream *upstream_new(struct proxy *p, struct bstat *b)
{
	struct upstream *u = xcalloc(1, sizeof(*u));
	u->p = p;
	u->b = b;
	b->conns++;
	uv_tcp_init(p->loop, &u->tcp);
	uv_timer_init(p->loop, &u->timer);
	u->tcp.data = u;
	u->timer.data = u;
	u->creq.data = u;
	u->handles = 2;
	u->state = U_CONNECTING;
	http_parser_init(&u->parser, HTTP_RESPONSE);
	u->parser.data = u;
	u->next = p->upstreams;
	if (u->next)
		u->next->prev = u;
	p->upstreams = u;
	p->nlive++;
	return u;
}

static void upstream_update_read(struct upstream *u)
{
	if (u->closing || u->state == U_CONNECTING)
		return;
	bool want;
	if (u->peer_eof)
		want = false;
	else if (!u->c)
		want = true;
	else {
		size_t bl = client_backlog(u->c);
		want = u->reading ? bl < HIGH_WATER : bl < LOW_WATER;
	}
	if (want == u->reading)
		return;
	if (want && uv_read_start((uv_stream_t *)&u->tcp, on_alloc, upstream_on_read) < 0) {
		upstream_close(u);
		return;
	}
	if (!want)
		uv_read_stop((uv_stream_t *)&u->tcp);
	u->reading = want;
}

static void upstream_sync(struct upstream *u)
{
	upstream_flush(u);
	upstream_update_read(u);
}

/* Puts a connection whose exchange ended cleanly back in the pool, or
 * closes it. */
static void upstream_release(struct upstream *u)
{
	struct proxy *p = u->p;
	struct bstat *b = u->b;
	if (u->c) {
		u->c->up = NULL;
		u->c = NULL;
	}
	if (!u->keep || !b->in_table || b->nidle >= p->cfg.pool_per_backend || p->draining ||
	    u->peer_eof || u->out.len || upstream_backlog(u)) {
		upstream_close(u);
		return;
	}
	u->state = U_IDLE;
	u->reused = u->got_bytes = u->interim = false;
	hl_trim(&u->h);
	buf_trim(&u->reason);
	buf_trim(&u->out);
	http_parser_init(&u->parser, HTTP_RESPONSE);
	u->parser.data = u;
	u->inext = b->idle;
	u->iprev = NULL;
	if (b->idle)
		b->idle->iprev = u;
	b->idle = u;
	b->nidle++;
	uint64_t idle = p->cfg.idle_timeout_ms < POOL_IDLE_MAX_MS ? p->cfg.idle_timeout_ms : POOL_IDLE_MAX_MS;
	upstream_timer(u, UT_POOL, idle);
	upstream_update_read(u);
}

/* ------------------------------------------------------------------ */
/* building heads                                                      */

static void build_request_head(struct client *c)
{
	struct proxy *p = c->p;
	struct exchange *x = &c->r->x;
	struct hlist *h = &c->r->h;
	struct buf *o = &x->head;
	struct tokens t;
	const char *upgrade = NULL;
	bool xff = false;

	buf_reset(o);
	conn_tokens(h, &t); /* checked when the head completed */
	buf_adds(o, http_method_str((enum http_method)c->r->parser.method));
	buf_addc(o, ' ');
	buf_add(o, c->r->url.s + x->target_off, c->r->url.len - x->target_off);
	buf_adds(o, " HTTP/1.1\r\n");
	for (uint32_t i = 0; i < h->n; i++) {
		const char *n = hl_name(h, i), *v = hl_val(h, i);
		if (strcasecmp(n, "upgrade") == 0 && !upgrade)
			upgrade = v;
		if (is_hop(n) || (tokens_has(&t, n) && conn_token_removable(n)) ||
		    strcasecmp(n, "x-forwarded-proto") == 0)
			continue;
		if (strcasecmp(n, "x-forwarded-for") == 0) {
			xff = true;
			continue;
		}
		if (x->expect_continue && strcasecmp(n, "expect") == 0)
			continue;
		add_field(o, h, i);
	}
	if (x->upgrade && upgrade)
		buf_addf(o, "Connection: Upgrade\r\nUpgrade: %s\r\n", upgrade);
	buf_adds(o, "X-Forwarded-For: ");
	if (xff) {
		for (uint32_t i = 0; i < h->n; i++)
			if (strcasecmp(hl_name(h, i), "x-forwarded-for") == 0 && h->f[i].vlen)
				buf_addf(o, "%s, ", hl_val(h, i));
	}
	add_client_ip(o, c);
	buf_adds(o, "\r\nX-Forwarded-Proto: http\r\n");
	if (!x->has_request_id) {
		request_id_new(p, x->request_id, sizeof(x->request_id));
		buf_adds(o, "X-Request-Id: ");
		buf_add(o, x->request_id, 32);
		buf_adds(o, "\r\n");
	}
	if (x->chunked)
		buf_adds(o, "Transfer-Encoding: chunked\r\n");
	buf_adds(o, "\r\n");
}

/* The response head for the client, from the upstream's. */
static void write_response_head(struct client *c, struct upstream *u, int status, bool interim)
{
	struct exchange *x = &c->r->x;
	struct hlist *h = &u->h;
	struct buf *o = &c->r->out;
	struct tokens t;
	const char *upgrade = NULL;
	size_t before = o->len;
	char reason[64];
	size_t rl = 0;

	for (size_t i = 0; i < u->reason.len && rl < sizeof(reason) - 1; i++) {
		unsigned char ch = (unsigned char)u->reason.s[i];
		reason[rl++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
	}
	reason[rl] = '\0';
	if (!rl)
		sw_strlcpy(reason, reason_of(status), sizeof(reason));
	if (conn_tokens(h, &t) < 0)
		t.n = 0;
	SW_ASSERT(status >= 100 && status <= 999);
	char sl[14] = "HTTP/1.1 000 ";
	sl[9] = (char)('0' + status / 100);
	sl[10] = (char)('0' + status / 10 % 10);
	sl[11] = (char)('0' + status % 10);
	buf_add(o, sl, 13);
	buf_add(o, reason, rl ? rl : strlen(reason));
	buf_add(o, "\r\n", 2);
	for (uint32_t i = 0; i < h->n; i++) {
		const char *n = hl_name(h, i), *v = hl_val(h, i);
		if (strcasecmp(n, "upgrade") == 0 && !upgrade)
			upgrade = v;
		if (is_hop(n) || (tokens_has(&t, n) && conn_token_removable(n)))
			continue;
		if (!interim && strcasecmp(n, "content-length") == 0 &&
		    (x->out == FR_CHUNKED || x->out == FR_CLOSE))
			continue;
		add_field(o, h, i);
	}
	if (!interim) {
		if (status == 101)
			buf_addf(o, "Connection: Upgrade\r\nUpgrade: %s\r\n", upgrade ? upgrade : "");
		if (x->out == FR_CHUNKED)
			buf_adds(o, "Transfer-Encoding: chunked\r\n");
		if (x->set_cookie) {
			char cookie[128];
			table_cookie_format(cookie, sizeof(cookie), x->revision);
			buf_addf(o, "Set-Cookie: %s\r\n", cookie);
		}
		if (status != 101) {
			if (!x->client_keep)
				buf_adds(o, "Connection: close\r\n");
			else if (x->http10)
				buf_adds(o, "Connection: keep-alive\r\n");
		}
	}
	buf_adds(o, "\r\n");
	x->bytes_out += o->len - before;
}

/* ------------------------------------------------------------------ */
/* the exchange                                                        */

/* Both directions are complete: the upstream goes back to the pool, the
 * client waits for its next request (or is closed). */
static void exchange_finish(struct client *c)
{
	struct exchange *x = &c->r->x;
	/* a client that ended its input still gets answers to the requests
	 * it sent; client_sync closes once they are done */
	bool keep = x->client_keep && !c->p->draining;
	if (c->up)
		upstream_release(c->up);
	exchange_end(c);
	if (!keep) {
		client_end(c);
		return;
	}
	c->state = C_HEAD;
	buf_trim(&c->r->url);
	hl_trim(&c->r->h);
	if (c->r->in.len == 0)
		buf_trim(&c->r->in);
	http_parser_pause(&c->r->parser, 0);
	client_timer(c, CT_IDLE, c->p->cfg.idle_timeout_ms);
	client_resume(c);
}

static void exchange_progress(struct client *c)
{
	struct exchange *x = &c->r->x;
	if (c->closing || c->ending || !x->active || x->local || x->tunnel)
		return;
	if (x->resp_done && x->req_done) {
		exchange_finish(c);
	} else if (x->resp_done) {
		/* answered before the request body ended: the response said
		 * Connection: close; stop sending to the upstream */
		if (c->up)
			upstream_close(c->up);
		exchange_end(c);
		client_end(c);
	}
}

static void tunnel_begin(struct client *c, const char *rest, size_t n)
{
	struct exchange *x = &c->r->x;
	struct upstream *u = c->up;
	c->state = C_TUNNEL;
	exchange_meter_end(c);
	exchange_log(c);
	if (n) {
		buf_add(&c->r->out, rest, n);
		x->bytes_out += n;
	}
	/* what the client sent after its request is for the other protocol */
	if (c->r->in.len) {
		buf_add(&u->out, c->r->in.s, c->r->in.len);
		buf_reset(&c->r->in);
	}
	upstream_timer(u, UT_NONE, 0);
	c->r->last_activity = uv_now(c->p->loop);
	client_timer(c, CT_ACTIVITY, c->p->cfg.idle_timeout_ms);
}

/* A side of a tunnel ended its output: pass the end on; close once both
 * have ended. */
static void tunnel_check_eof(struct client *c)
{
	struct upstream *u = c->up;
	if (!u) {
		client_close(c);
		return;
	}
	if (c->peer_eof && u->peer_eof) {
		client_end(c);
		return;
	}
	if (c->peer_eof && !u->shut_sent) {
		upstream_flush(u);
		u->shut_sent = true;
		if (uv_shutdown(&u->shut, (uv_stream_t *)&u->tcp, NULL) < 0)
			client_close(c);
	}
	if (u->peer_eof && !c->shut_done && c->sock && !c->ending) {
		client_flush(c);
		c->shut_done = true;
		if (client_shutdown(c, NULL) < 0)
			client_close(c);
	}
}

/* Sends the request head to the attached upstream and lets the body flow. */
static void upstream_send(struct client *c)
{
	struct proxy *p = c->p;
	struct exchange *x = &c->r->x;
	struct upstream *u = c->up;
	c->state = C_FORWARD;
	u->state = U_BUSY;
	buf_add(&u->out, x->head.s, x->head.len);
	u->last_progress = uv_now(p->loop);
	upstream_timer(u, UT_RESPONSE, p->cfg.upstream_timeout_ms);
	if (x->expect_continue && x->has_body && !x->req_done && !x->continue_sent) {
		x->continue_sent = true;
		buf_adds(&c->r->out, "HTTP/1.1 100 Continue\r\n\r\n");
		x->bytes_out += 25;
	}
	if (!x->req_done)
		http_parser_pause(&c->r->parser, 0);
	client_resume(c);
}

static void upstream_attach(struct client *c, struct upstream *u)
{
	c->up = u;
	u->c = c;
	u->keep = false;
	u->got_bytes = false;
	u->interim = false;
}

/* Another backend for a retry, from the current table. */
static int exchange_repick(struct client *c)
{
	struct proxy *p = c->p;
	struct exchange *x = &c->r->x;
	struct table_route *r;
	struct table_group *g = NULL;
	struct table_backend *be = NULL, *ex = NULL;
	bool set_cookie = false;
	if (!p->table || !(r = table_match(p->table, c->l->name, hl_get(&c->r->h, "host"), buf_str(&x->path))) ||
	    strcmp(r->app, x->app) != 0)
		return -1;
	for (size_t i = 0; i < r->ngroups && !ex; i++)
		for (size_t k = 0; k < r->groups[i].nbackends && !ex; k++)
			if (x->b && strcmp(r->groups[i].backends[k].id, x->b->id) == 0)
				ex = &r->groups[i].backends[k];
	struct table_request tr = {
		.get_header = req_header,
		.data = c,
		.sticky_revision = r->sticky ? table_cookie_revision(hl_get(&c->r->h, "cookie")) : 0,
		.exclude = ex,
	};
	if (table_pick(r, &tr, &g, &be, &set_cookie) != 0)
		return -1;
	if (g->revision != x->revision) {
		/* the failed attempt counts against the revision that failed */
		x->status = 502;
		x->proxy_error = true;
		exchange_meter_end(c);
		x->metrics_done = false;
		x->proxy_error = false;
		x->status = 0;
		x->revision = g->revision;
		x->start_ns = uv_hrtime();
		metrics_begin(p->metrics, x->app, x->revision);
	}
	struct bstat *nb = bstat_get(p, be);
	nb->inflight++;
	if (x->b)
		bstat_release(p, x->b);
	x->b = nb;
	x->set_cookie = set_cookie;
	return 0;
}

static void upstream_connect_failed(struct upstream *u)
{
	struct client *c = u->c;
	upstream_close(u);
	if (!c)
		return;
	struct exchange *x = &c->r->x;
	if (x->idempotent && !x->retried) {
		x->retried = true;
		if (exchange_repick(c) == 0) {
			upstream_get(c);
			return;
		}
	}
	local_text(c, 502, true, "upstream connect failed\n");
}

static void on_connect(uv_connect_t *req, int status)
{
	struct upstream *u = req->data;
	if (u->closing)
		return;
	if (status < 0) {
		struct client *c = u->c;
		upstream_connect_failed(u);
		if (c)
			client_sync(c);
		return;
	}
	u->state = U_BUSY;
	uv_tcp_nodelay(&u->tcp, 1);
	upstream_timer(u, UT_NONE, 0);
	if (!u->c) {
		upstream_close(u);
		return;
	}
	struct client *c = u->c;
	upstream_send(c);
	client_sync(c);
}

/* Finds an idle pooled connection to the exchange's backend, or opens one. */
static void upstream_get(struct client *c)
{
	struct proxy *p = c->p;
	struct bstat *b = c->r->x.b;
	struct upstream *u = b->idle;
	if (u) {
		idle_remove(u);
		upstream_timer(u, UT_NONE, 0);
		upstream_attach(c, u);
		u->reused = true;
		upstream_send(c);
		return;
	}
	c->state = C_CONNECT;
	client_timer(c, CT_NONE, 0);
	u = upstream_new(p, b);
	upstream_attach(c, u);
	int r = b->sa_ok ? uv_tcp_connect(&u->creq, &u->tcp, (struct sockaddr *)&b->sa, on_connect) : UV_EINVAL;
	if (r < 0) {
		upstream_connect_failed(u);
		return;
	}
	upstream_timer(u, UT_CONNECT, p->cfg.connect_timeout_ms);
}

/* The upstream failed before the response was complete. */
static void upstream_failed(struct upstream *u, const char *why)
{
	struct client *c = u->c;
	bool reused = u->reused, got = u->got_bytes;
	upstream_close(u);
	if (!c)
		return;
	struct exchange *x = &c->r->x;
	if (x->resp_head_sent) {
		/* too late for an error response: cut the client off so it
		 * sees a truncated response, not a complete wrong one */
		client_close(c);
		return;
	}
	/* a pooled connection the backend had closed: try a fresh one */
	if (reused && !got && x->idempotent && !x->has_body && !x->stale_retried) {
		x->stale_retried = true;
		upstream_get(c);
		return;
	}
	local_text(c, 502, true, "%s\n", why);
}

/* ------------------------------------------------------------------ */
/* response parser callbacks                                           */

static int rs_count(struct upstream *u, size_t n)
{
	u->head_bytes += n;
	return u->head_bytes > MAX_RESP_HEADER ? -1 : 0;
}

static int rs_message_begin(http_parser *hp)
{
	struct upstream *u = hp->data;
	hl_reset(&u->h);
	buf_reset(&u->reason);
	u->head_bytes = 0;
	return 0;
}

static int rs_status(http_parser *hp, const char *at, size_t n)
{
	struct upstream *u = hp->data;
	if (rs_count(u, n) < 0)
		return -1;
	buf_add(&u->reason, at, n);
	return 0;
}

static int rs_field(http_parser *hp, const char *at, size_t n)
{
	struct upstream *u = hp->data;
	if (rs_count(u, n + 4) < 0)
		return -1;
	hl_field(&u->h, at, n);
	return 0;
}

static int rs_value(http_parser *hp, const char *at, size_t n)
{
	struct upstream *u = hp->data;
	if (rs_count(u, n) < 0)
		return -1;
	hl_value(&u->h, at, n);
	return 0;
}

static int rs_headers_complete(http_parser *hp)
{
	struct upstream *u = hp->data;
	struct client *c = u->c;
	struct proxy *p = u->p;
	struct exchange *x = &c->r->x;
	int status = hp->status_code;

	hl_finish(&u->h);
	if (status < 100 || status > 999 || !hl_names_valid(&u->h))
		return -1;
	if (status < 200 && status != 101) {
		u->interim = true;
		if (!x->http10) {
			x->out = FR_NONE;
			write_response_head(c, u, status, true);
		}
		return 1;
	}
	u->interim = false;
	upstream_timer(u, UT_NONE, 0);
	x->status = status;
	if (status == 101) {
		if (!x->upgrade)
			return -1;
		x->tunnel = true;
		x->out = FR_NONE;
		write_response_head(c, u, status, false);
		x->resp_head_sent = true;
		return 0;
	}
	enum framing in;
	if (x->is_head || status == 204 || status == 304)
		in = FR_NONE;
	else if (hp->flags & F_CHUNKED)
		in = FR_CHUNKED;
	else if (hp->flags & F_CONTENTLENGTH)
		in = FR_LENGTH;
	else
		in = FR_CLOSE;
	if (in == FR_NONE || in == FR_LENGTH)
		x->out = in;
	else
		x->out = x->http10 ? FR_CLOSE : FR_CHUNKED;
	x->client_keep = x->keep_alive && x->out != FR_CLOSE && x->req_done && !p->draining;
	write_response_head(c, u, status, false);
	x->resp_head_sent = true;
	c->r->last_activity = uv_now(p->loop);
	client_timer(c, CT_ACTIVITY, p->cfg.idle_timeout_ms);
	return in == FR_NONE ? 1 : 0;
}

static int rs_body(http_parser *hp, const char *at, size_t n)
{
	struct upstream *u = hp->data;
	struct client *c = u->c;
	struct exchange *x = &c->r->x;
	size_t before = c->r->out.len;
	if (u->interim || !n)
		return 0;
	if (x->out == FR_CHUNKED)
		buf_addf(&c->r->out, "%zx\r\n", n);
	buf_add(&c->r->out, at, n);
	if (x->out == FR_CHUNKED)
		buf_adds(&c->r->out, "\r\n");
	x->bytes_out += c->r->out.len - before;
	return 0;
}

static int rs_message_complete(http_parser *hp)
{
	struct upstream *u = hp->data;
	struct client *c = u->c;
	struct exchange *x = &c->r->x;
	if (u->interim) {
		u->interim = false;
		return 0;
	}
	if (x->out == FR_CHUNKED) {
		buf_adds(&c->r->out, "0\r\n\r\n");
		x->bytes_out += 5;
	}
	x->resp_done = true;
	u->keep = !x->tunnel && http_should_keep_alive(hp) && x->req_done;
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings resp_settings = {
	.on_message_begin = rs_message_begin,
	.on_status = rs_status,
	.on_header_field = rs_field,
	.on_header_value = rs_value,
	.on_headers_complete = rs_headers_complete,
	.on_body = rs_body,
	.on_message_complete = rs_message_complete,
};

static void upstream_parse(struct upstream *u, const char *data, size_t len)
{
	struct client *c = u->c;
	struct exchange *x = &c->r->x;
	if (HTTP_PARSER_ERRNO(&u->parser) == HPE_PAUSED) {
		/* bytes after a complete response: the connection is not clean */
		u->keep = false;
		return;
	}
	size_t m = http_parser_execute(&u->parser, &resp_settings, data, len);
	enum http_errno e = HTTP_PARSER_ERRNO(&u->parser);
	if (c->closing || u->closing)
		return;
	if (e == HPE_PAUSED) {
		if (x->tunnel)
			tunnel_begin(c, data + m, len - m);
		else if (m < len)
			u->keep = false;
	} else if (e != HPE_OK) {
		upstream_failed(u, "invalid response from upstream");
		return;
	} else if (x->tunnel && x->resp_done) {
		tunnel_begin(c, data + m, len - m);
	}
	exchange_progress(c);
}

static void upstream_input_end(struct upstream *u, ssize_t n)
{
	struct client *c = u->c;
	if (!c) {
		upstream_close(u);
		return;
	}
	struct exchange *x = &c->r->x;
	if (c->state == C_TUNNEL) {
		if (n != UV_EOF) {
			client_close(c);
			return;
		}
		u->peer_eof = true;
		uv_read_stop((uv_stream_t *)&u->tcp);
		u->reading = false;
		tunnel_check_eof(c);
		return;
	}
	u->peer_eof = true;
	if (n == UV_EOF && !x->resp_done && HTTP_PARSER_ERRNO(&u->parser) == HPE_OK) {
		/* ends a body delimited by the connection's end */
		http_parser_execute(&u->parser, &resp_settings, NULL, 0);
	}
	if (x->resp_done) {
		u->keep = false;
		exchange_progress(c);
		return;
	}
	upstream_failed(u, n == UV_EOF ? "upstream closed the connection" : "upstream connection failed");
}

static void upstream_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct upstream *u = s->data;
	struct client *c = u->c;
	if (u->closing || n == 0)
		return;
	if (n < 0) {
		upstream_input_end(u, n);
	} else if (!c) {
		/* an idle connection has nothing to say */
		upstream_close(u);
	} else {
		u->got_bytes = true;
		u->last_progress = uv_now(u->p->loop);
		c->r->last_activity = u->last_progress;
		if (c->state == C_TUNNEL) {
			buf_add(&c->r->out, b->base, (size_t)n);
			c->r->x.bytes_out += (uint64_t)n;
		} else {
			upstream_parse(u, b->base, (size_t)n);
		}
	}
	if (c)
		client_sync(c);
	else if (!u->closing)
		upstream_sync(u);
}

static void upstream_on_write(uv_write_t *req, int status)
{
	struct upstream *u = req->handle->data;
	free(req);
	if (u->closing)
		return;
	if (status < 0) {
		/* the read side sees the failure too; make sure something does */
		if (u->c && u->c->state == C_TUNNEL)
			client_close(u->c);
		else if (!u->c)
			upstream_close(u);
		return;
	}
	u->last_progress = uv_now(u->p->loop);
	if (u->c) {
		u->c->r->last_activity = u->last_progress;
		client_sync(u->c);
	}
}

static void upstream_on_timer(uv_timer_t *t)
{
	struct upstream *u = t->data;
	struct proxy *p = u->p;
	struct client *c = u->c;
	if (u->closing || u->tmode == UT_NONE || timer_early(t, u->tdue, upstream_on_timer))
		return;
	switch (u->tmode) {
	case UT_NONE:
		break;
	case UT_POOL:
		upstream_close(u);
		break;
	case UT_CONNECT:
		upstream_connect_failed(u);
		break;
	case UT_RESPONSE: {
		uint64_t now = uv_now(p->loop), due = u->last_progress + p->cfg.upstream_timeout_ms;
		if (now < due) {
			upstream_timer(u, UT_RESPONSE, due - now);
			break;
		}
		if (!c) {
			upstream_close(u);
			break;
		}
		bool client_slow = !c->r->x.req_done && upstream_backlog(u) == 0;
		upstream_close(u);
		if (client_slow)
			local_text(c, 408, false, "request body not received in time\n");
		else
			local_text(c, 504, true, "upstream timed out\n");
		break;
	}
	}
	if (c)
		client_sync(c);
}

/* ------------------------------------------------------------------ */
/* request parser callbacks                                            */

static int rq_count(struct client *c, size_t n)
{
	c->r->head_bytes += n;
	if (c->r->head_bytes > c->p->cfg.max_header_bytes) {
		c->r->err_status = 431;
		c->r->err_msg = "request header fields too large";
		return -1;
	}
	return 0;
}

static int rq_refuse(struct client *c, int status, const char *msg)
{
	c->r->err_status = status;
	c->r->err_msg = msg;
	return -1;
}

static int rq_message_begin(http_parser *hp)
{
	struct client *c = hp->data;
	c->r->x.begun = true;
	hl_reset(&c->r->h);
	buf_reset(&c->r->url);
	c->r->head_bytes = 0;
	if (c->tmode == CT_IDLE)
		client_timer(c, CT_HEADER, c->p->cfg.header_timeout_ms);
	return 0;
}

static int rq_url(http_parser *hp, const char *at, size_t n)
{
	struct client *c = hp->data;
	if (rq_count(c, n) < 0)
		return -1;
	buf_add(&c->r->url, at, n);
	return 0;
}

static int rq_field(http_parser *hp, const char *at, size_t n)
{
	struct client *c = hp->data;
	if (rq_count(c, n + 4) < 0)
		return -1;
	hl_field(&c->r->h, at, n);
	return 0;
}

static int rq_value(http_parser *hp, const char *at, size_t n)
{
	struct client *c = hp->data;
	if (rq_count(c, n) < 0)
		return -1;
	hl_value(&c->r->h, at, n);
	return 0;
}

static int rq_headers_complete(http_parser *hp)
{
	struct client *c = hp->data;
	struct exchange *x = &c->r->x;
	struct hlist *h = &c->r->h;
	struct tokens t;

	hl_finish(h);
	if (hp->http_major != 1)
		return rq_refuse(c, 400, "unsupported HTTP version");
	if (!hl_names_valid(h))
		return rq_refuse(c, 400, "invalid header name");
	/* request smuggling: only one way to find the body's end */
	unsigned nte = hl_count(h, "transfer-encoding"), ncl = hl_count(h, "content-length");
	if (nte && ncl)
		return rq_refuse(c, 400, "both Content-Length and Transfer-Encoding");
	if (nte > 1 || (nte && strcasecmp(hl_get(h, "transfer-encoding"), "chunked") != 0))
		return rq_refuse(c, 400, "unsupported Transfer-Encoding");
	if (ncl > 1) {
		const char *first = hl_get(h, "content-length");
		for (uint32_t i = 0; i < h->n; i++)
			if (strcasecmp(hl_name(h, i), "content-length") == 0 && strcmp(hl_val(h, i), first) != 0)
				return rq_refuse(c, 400, "conflicting Content-Length");
	}
	if (hl_count(h, "host") > 1)
		return rq_refuse(c, 400, "more than one Host header");
	if (hp->http_minor >= 1 && !hl_get(h, "host"))
		return rq_refuse(c, 400, "missing Host header");
	if (conn_tokens(h, &t) < 0)
		return rq_refuse(c, 400, "too many Connection options");

	x->active = true;
	x->head_pending = true;
	x->start_ns = uv_hrtime();
	x->http10 = hp->http_minor == 0;
	x->keep_alive = http_should_keep_alive(hp);
	x->chunked = (hp->flags & F_CHUNKED) != 0;
	x->has_body = x->chunked || (hp->content_length > 0 && hp->content_length != ULLONG_MAX);
	x->upgrade = hp->upgrade && hp->method != HTTP_CONNECT && hl_get(h, "upgrade") != NULL;
	x->is_head = hp->method == HTTP_HEAD;
	x->idempotent = hp->method == HTTP_GET || hp->method == HTTP_HEAD || hp->method == HTTP_OPTIONS ||
			hp->method == HTTP_PUT || hp->method == HTTP_DELETE || hp->method == HTTP_TRACE;
	const char *ex = hl_get(h, "expect");
	x->expect_continue = ex && !x->http10 && strcasecmp(ex, "100-continue") == 0;
	const char *rid = hl_get(h, "x-request-id");
	if (rid && *rid) {
		x->has_request_id = true;
		sw_strlcpy(x->request_id, rid, sizeof(x->request_id));
	}
	http_parser_pause(hp, 1);
	return 0;
}

static int rq_body(http_parser *hp, const char *at, size_t n)
{
	struct client *c = hp->data;
	struct upstream *u = c->up;
	if (c->r->x.local || !u || !n)
		return 0;
	if (c->r->x.chunked)
		buf_addf(&u->out, "%zx\r\n", n);
	buf_add(&u->out, at, n);
	if (c->r->x.chunked)
		buf_adds(&u->out, "\r\n");
	u->last_progress = uv_now(c->p->loop);
	return 0;
}

static int rq_message_complete(http_parser *hp)
{
	struct client *c = hp->data;
	struct exchange *x = &c->r->x;
	if (x->local) {
		/* answered already; go on with the next request */
		exchange_end(c);
		c->state = C_HEAD;
		if (c->tmode != CT_LINGER)
			client_timer(c, CT_IDLE, c->p->cfg.idle_timeout_ms);
		return 0;
	}
	if (x->chunked && c->up)
		buf_adds(&c->up->out, "0\r\n\r\n");
	x->req_done = true;
	if (c->up)
		c->up->last_progress = uv_now(c->p->loop);
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings req_settings = {
	.on_message_begin = rq_message_begin,
	.on_url = rq_url,
	.on_header_field = rq_field,
	.on_header_value = rq_value,
	.on_headers_complete = rq_headers_complete,
	.on_body = rq_body,
	.on_message_complete = rq_message_complete,
};

/* table_request.get_header */
static const char *req_header(const char *name, void *data)
{
	struct client *c = data;
	return hl_get(&c->r->h, name);
}

/* ------------------------------------------------------------------ */
/* local responses                                                     */

static void local_response(struct client *c, int status, bool proxy_error, const char *ctype,
			   const char *body, size_t len)
{
	struct proxy *p = c->p;
	struct exchange *x = &c->r->x;
	size_t before = c->r->out.len;

	if (c->up)
		upstream_close(c->up);
	x->status = status;
	x->proxy_error = proxy_error;
	x->local = true;
	x->resp_head_sent = x->resp_done = true;
	/* a request whose body was not read, or a broken one, ends the connection */
	bool keep = x->keep_alive && !p->draining && (x->req_done || !x->has_body) &&
		    status != 400 && status != 408 && status != 431 && c->state != C_TUNNEL;
	buf_addf(&c->r->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n", status,
		 reason_of(status), ctype, len);
	if (!keep)
		buf_adds(&c->r->out, "Connection: close\r\n");
	else if (x->http10)
		buf_adds(&c->r->out, "Connection: keep-alive\r\n");
	if (x->active && x->request_id[0])
		buf_addf(&c->r->out, "X-Request-Id: %s\r\n", x->request_id);
	if (c->refusing)
		buf_adds(&c->r->out, "Retry-After: 1\r\n");
	buf_adds(&c->r->out, "\r\n");
	if (!x->is_head)
		buf_add(&c->r->out, body, len);
	x->bytes_out += c->r->out.len - before;
	if (!keep) {
		exchange_end(c);
		client_end(c);
		return;
	}
	if (x->req_done || !x->active) {
		exchange_end(c);
		c->state = C_HEAD;
		http_parser_pause(&c->r->parser, 0);
		client_timer(c, CT_IDLE, p->cfg.idle_timeout_ms);
		client_resume(c);
		return;
	}
	/* the rest of a body-less request (its last byte) is still to be
	 * parsed; rq_message_complete ends the exchange */
	c->state = C_HEAD;
	http_parser_pause(&c->r->parser, 0);
	client_resume(c);
}

static void local_text(struct client *c, int status, bool proxy_error, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	local_response(c, status, proxy_error, "text/plain; charset=utf-8", buf_str(&b), b.len);
	buf_release(&b);
}

static void serve_metrics(struct client *c)
{
	struct proxy *p = c->p;
	struct buf body = BUF_INIT;
	int m = c->r->parser.method;
	if ((m == HTTP_GET || m == HTTP_HEAD) && strcmp(buf_str(&c->r->x.path), "/metrics") == 0) {
		metrics_prometheus(p->metrics, &body);
		local_response(c, 200, false, "text/plain; version=0.0.4; charset=utf-8", buf_str(&body),
			       body.len);
	} else {
		local_text(c, 404, false, "not found\n");
	}
	buf_release(&body);
}

/* ------------------------------------------------------------------ */
/* dispatch                                                            */

/* Splits the request target: x->path (no query) and where the origin
 * form starts (absolute-form targets are forwarded as origin form). */
static int parse_target(struct client *c)
{
	struct exchange *x = &c->r->x;
	struct http_parser_url u;
	const char *url = buf_str(&c->r->url);
	buf_reset(&x->path);
	x->target_off = 0;
	if (c->r->url.len == 0)
		return -1;
	if (url[0] != '/') {
		http_parser_url_init(&u);
		if (http_parser_parse_url(url, c->r->url.len, 0, &u) != 0 || !(u.field_set & (1 << UF_PATH)))
			return -1;
		x->target_off = u.field_data[UF_PATH].off;
	}
	size_t n = strcspn(url + x->target_off, "?#");
	buf_add(&x->path, url + x->target_off, n);
	if (!x->path.len || x->path.s[0] != '/')
		return -1;
	return 0;
}

static void client_dispatch(struct client *c)
{
	struct proxy *p = c->p;
	struct exchange *x = &c->r->x;
	struct table_group *g = NULL;
	struct table_backend *be = NULL;
	bool set_cookie = false;

	client_timer(c, CT_NONE, 0);
	if (c->refusing) {
		x->keep_alive = false;
		local_text(c, 503, false, "the proxy is at its connection limit (%zu); retry later\n",
			   p->cfg.max_conns);
		return;
	}
	if (parse_target(c) < 0) {
		local_text(c, 400, false, "bad request: invalid request target\n");
		return;
	}
	if (c->l->kind == L_METRICS) {
		serve_metrics(c);
		return;
	}
	if (c->r->parser.method == HTTP_CONNECT) {
		x->keep_alive = false;
		local_text(c, 405, false, "CONNECT is not supported\n");
		return;
	}
	const char *host = hl_get(&c->r->h, "host");
	struct table_route *r = p->table ? table_match(p->table, c->l->name, host, buf_str(&x->path)) : NULL;
	if (!r) {
		local_text(c, 404, false, "no route for %.200s%.500s\n", host ? host : "", buf_str(&x->path));
		return;
	}
	/* a copy: the table may be swapped while the request is in flight */
	buf_reset(&x->app_name);
	buf_adds(&x->app_name, r->app);
	x->app = x->app_name.s;
	struct table_request tr = {
		.get_header = req_header,
		.data = c,
		.sticky_revision = r->sticky ? table_cookie_revision(hl_get(&c->r->h, "cookie")) : 0,
	};
	if (table_pick(r, &tr, &g, &be, &set_cookie) != 0) {
		x->revision = 0;
		metrics_begin(p->metrics, x->app, 0);
		x->metered = true;
		local_text(c, 503, true, "no ready instance for %s\n", x->app);
		return;
	}
	x->revision = g->revision;
	x->set_cookie = set_cookie;
	x->b = bstat_get(p, be);
	x->b->inflight++;
	metrics_begin(p->metrics, x->app, x->revision);
	x->metered = true;
	build_request_head(c);
	upstream_get(c);
}

/* ------------------------------------------------------------------ */
/* client connections                                                  */

static void on_tick(uv_timer_t *t);
static void client_tick_arm(struct proxy *p, uint64_t due);
static int conn_admit(struct proxy *p, struct client *c);

static void client_timer_remove(struct client *c)
{
	struct ctlist *l = &c->p->timers[c->tmode];
	if (c->tprev)
		c->tprev->tnext = c->tnext;
	else if (l->head == c)
		l->head = c->tnext;
	if (c->tnext)
		c->tnext->tprev = c->tprev;
	else if (l->tail == c)
		l->tail = c->tprev;
	c->tprev = c->tnext = NULL;
}

/* Moves c to the list of `mode`, due `ms` from now. Every list but
 * CT_ACTIVITY's has one duration, so c goes at its tail; the walk back
 * is for CT_ACTIVITY (due from a time of progress) only. */
static void client_timer(struct client *c, enum ctimer mode, uint64_t ms)
{
	struct proxy *p = c->p;
	if (c->closing)
		return;
	client_timer_remove(c);
	struct ctlist *to = &p->timers[mode];
	c->tmode = (uint8_t)mode;
	c->tdue = mode == CT_NONE ? 0 : uv_now(p->loop) + ms;
	struct client *after = to->tail;
	while (after && after->tdue > c->tdue)
		after = after->tprev;
	c->tprev = after;
	c->tnext = after ? after->tnext : to->head;
	if (c->tnext)
		c->tnext->tprev = c;
	else
		to->tail = c;
	if (after)
		after->tnext = c;
	else
		to->head = c;
	if (mode != CT_NONE)
		client_tick_arm(p, c->tdue);
}

/* ------------------------------------------------------------------ */
/* request states                                                      */

/* c's request state, from the pool (or new) if it has none. */
static struct creq *client_req(struct client *c)
{
	struct proxy *p = c->p;
	struct creq *r = c->r;
	if (r)
		return r;
	if (p->reqs) {
		r = p->reqs;
		p->reqs = r->next;
		p->nreqs--;
		r->next = NULL;
	} else {
		r = xcalloc(1, sizeof(*r));
	}
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = c;
	c->r = r;
	return r;
}

static void creq_free(struct creq *r)
{
	hl_release(&r->h);
	buf_release(&r->in);
	buf_release(&r->out);
	buf_release(&r->url);
	buf_release(&r->x.head);
	buf_release(&r->x.path);
	buf_release(&r->x.app_name);
	free(r);
}

/* Whether c's request state holds nothing of a request: between requests
 * (no byte of the next one parsed, none stashed, nothing to write, no
 * exchange) and not inside the parser. */
static bool client_req_idle(const struct client *c)
{
	const struct creq *r = c->r;
	return r && !c->in_parse && !c->closing && c->state == C_HEAD && !c->up && !r->x.begun &&
	       !r->x.active && !r->x.b && !r->in.len && !r->out.len &&
	       HTTP_PARSER_ERRNO(&r->parser) == HPE_OK;
}

/* Gives c's request state (client_req_idle) back to the pool, its
 * buffers trimmed like between two requests, or frees it. */
static void client_req_put(struct client *c)
{
	struct proxy *p = c->p;
	struct creq *r = c->r;
	c->r = NULL;
	if (p->nreqs >= REQ_POOL_MAX || p->freeing) {
		creq_free(r);
		if (++p->reqs_freed == TRIM_AFTER_FREES)
			client_tick_arm(p, uv_now(p->loop) + TRIM_MIN_MS);
		return;
	}
	buf_trim(&r->in);
	buf_trim(&r->out);
	buf_trim(&r->url);
	buf_trim(&r->x.head);
	buf_trim(&r->x.path);
	buf_reset(&r->x.app_name);
	hl_trim(&r->h);
	r->head_bytes = 0;
	r->err_status = 0;
	r->err_msg = NULL;
	r->last_activity = 0;
	r->next = p->reqs;
	p->reqs = r;
	p->nreqs++;
}

/* ------------------------------------------------------------------ */
/* client connections                                                  */

static void listener_unref(struct listener *l)
{
	if (--l->refs > 0)
		return;
	struct proxy *p = l->p;
	free(l->name);
	free(l);
	p->nlive--;
	proxy_maybe_free(p);
}

static void on_client_closed(uv_handle_t *h)
{
	struct client *c = h->data;
	struct proxy *p = c->p;
	if (c->r)
		creq_free(c->r);
	listener_unref(c->l);
	free(c);
	p->nlive--;
	proxy_maybe_free(p);
}

/* Closes at once: an exchange in progress is cut off. */
static void client_close(struct client *c)
{
	struct proxy *p = c->p;
	if (c->closing)
		return;
	c->closing = true;
	if (c->up)
		upstream_close(c->up);
	exchange_end(c);
	client_timer_remove(c);
	__atomic_sub_fetch(&p->nclients, 1, __ATOMIC_RELAXED);
	if (c->refusing)
		p->nrefusing--;
	if (p->metrics)
		__atomic_sub_fetch(&metrics_conns(p->metrics)->open, 1, __ATOMIC_RELAXED);
	uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void on_client_shutdown(uv_shutdown_t *req, int status)
{
	struct client *c = req->data;
	free(req); /* client_shutdown's; libuv calls this before the close callback */
	if (c->closing)
		return;
	c->shut_done = true;
	if (status < 0 || c->peer_eof)
		client_close(c);
}

/* Closes after the queued output is written: stops parsing, sends FIN,
 * then drops input until the peer hangs up or LINGER_MS passed (closing
 * with unread input would send a reset that can destroy the response). */
static void client_end(struct client *c)
{
	if (c->closing || c->ending)
		return;
	c->ending = true;
	if (c->up)
		upstream_close(c->up);
	if (c->r && c->r->x.active)
		exchange_end(c);
	if (c->r)
		buf_reset(&c->r->in);
	if (!c->sock) {
		client_flush(c);
		client_close(c);
		return;
	}
	client_flush(c);
	if (c->closing)
		return;
	client_timer(c, CT_LINGER, LINGER_MS);
	if (c->shut_done) {
		/* a tunnel already sent its end */
		if (c->peer_eof)
			client_close(c);
		return;
	}
	if (client_shutdown(c, on_client_shutdown) < 0)
		client_close(c);
}

static void client_update_read(struct client *c)
{
	if (!c->sock || c->closing)
		return;
	bool want;
	if (c->peer_eof) {
		want = false;
	} else if (c->ending) {
		want = true;
	} else {
		switch (c->state) {
		case C_HEAD:
			want = !c->r || c->r->in.len < STASH_MAX;
			break;
		case C_CONNECT:
			want = false;
			break;
		case C_FORWARD:
			if (!c->r->x.req_done && c->up) {
				size_t bl = upstream_backlog(c->up);
				want = c->reading ? bl < HIGH_WATER : bl < LOW_WATER;
			} else {
				want = c->r->in.len < STASH_MAX;
			}
			break;
		case C_TUNNEL:
		default:
			if (c->up) {
				size_t bl = upstream_backlog(c->up);
				want = c->reading ? bl < HIGH_WATER : bl < LOW_WATER;
			} else {
				want = false;
			}
			break;
		}
	}
	if (want == c->reading)
		return;
	if (want && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, client_on_read) < 0) {
		client_close(c);
		return;
	}
	if (!want)
		uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = want;
}

/* After every event: writes what is pending, reacts to the client's end
 * of input, and sets reading on both sides for back-pressure. */
static void client_sync(struct client *c)
{
	if (c->closing)
		return;
	if (c->peer_eof && !c->ending) {
		if (c->state == C_HEAD && (!c->r || c->r->in.len == 0))
			client_end(c);
		else if (c->state == C_FORWARD && !c->r->x.req_done && c->r->in.len == 0 &&
			 HTTP_PARSER_ERRNO(&c->r->parser) != HPE_PAUSED)
			client_close(c); /* the request can never be completed */
	}
	if (c->closing)
		return;
	if (c->up)
		upstream_sync(c->up);
	client_flush(c);
	if (c->closing)
		return;
	if (c->up)
		upstream_update_read(c->up);
	client_update_read(c);
	if (client_req_idle(c))
		client_req_put(c);
}

/* http-parser reports a chunk size too large to hold as an invalid
 * Content-Length; a request that is chunked has no Content-Length (those
 * are refused together), so in its body that error is the chunk size's. */
static bool parse_error_in_chunk_size(const struct exchange *x, enum http_errno e)
{
	return e == HPE_INVALID_CHUNK_SIZE || (e == HPE_INVALID_CONTENT_LENGTH && x->active && x->chunked);
}

static void client_parse_error(struct client *c, enum http_errno e)
{
	struct exchange *x = &c->r->x;
	int status = c->r->err_status;
	char msg[160];
	if (!status)
		status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
	if (c->r->err_msg)
		snprintf(msg, sizeof(msg), "%s", c->r->err_msg);
	else if (parse_error_in_chunk_size(x, e))
		snprintf(msg, sizeof(msg), "bad request: invalid chunk size");
	else if (status == 431)
		snprintf(msg, sizeof(msg), "request header fields too large");
	else
		snprintf(msg, sizeof(msg), "bad request: %s", http_errno_description(e));
	if (x->resp_head_sent) {
		/* a broken request body after the response began */
		client_close(c);
		return;
	}
	x->keep_alive = false;
	if (status == 431)
		local_text(c, 431, false, "request header fields too large\n");
	else
		local_text(c, status, false, "%s\n", msg);
}

/* Parses what it can of data; returns how much the parser took. */
static size_t client_parse(struct client *c, const char *data, size_t len)
{
	struct exchange *x = &c->r->x;
	size_t off = 0;
	while (off < len && !c->closing && !c->ending) {
		if (c->state == C_TUNNEL) {
			if (c->up) {
				buf_add(&c->up->out, data + off, len - off);
				off = len;
			}
			break;
		}
		if (c->state == C_CONNECT || (c->state == C_FORWARD && x->req_done) ||
		    HTTP_PARSER_ERRNO(&c->r->parser) == HPE_PAUSED)
			break;
		size_t n = http_parser_execute(&c->r->parser, &req_settings, data + off, len - off);
		off += n;
		if (x->active)
			x->bytes_in += n;
		enum http_errno e = HTTP_PARSER_ERRNO(&c->r->parser);
		if (e == HPE_PAUSED) {
			if (x->head_pending) {
				x->head_pending = false;
				x->bytes_in = c->r->head_bytes;
				client_dispatch(c);
			}
			continue;
		}
		if (e != HPE_OK) {
			client_parse_error(c, e);
			break;
		}
	}
	return off;
}

/* Parses input stashed while the parser was paused. */
static void client_resume(struct client *c)
{
	if (c->in_parse || c->closing || c->ending || !c->r || !c->r->in.len)
		return;
	c->in_parse = true;
	size_t n = client_parse(c, c->r->in.s, c->r->in.len);
	if (!c->closing)
		buf_consume(&c->r->in, n);
	c->in_parse = false;
	/* a request completed by the stash may have been answered meanwhile */
	if (!c->closing && !c->ending && c->r->in.len && c->state == C_HEAD &&
	    HTTP_PARSER_ERRNO(&c->r->parser) == HPE_OK)
		client_resume(c);
}

static void client_input(struct client *c, const char *data, size_t len)
{
	if (c->ending)
		return; /* lingering: input is dropped */
	client_req(c)->last_activity = uv_now(c->p->loop);
	if (c->r->in.len || c->in_parse) {
		buf_add(&c->r->in, data, len);
		client_resume(c);
		return;
	}
	c->in_parse = true;
	size_t n = client_parse(c, data, len);
	if (!c->closing && !c->ending && n < len)
		buf_add(&c->r->in, data + n, len - n);
	c->in_parse = false;
	if (!c->closing && c->r->in.len && c->state == C_HEAD && HTTP_PARSER_ERRNO(&c->r->parser) == HPE_OK)
		client_resume(c);
}

static void client_input_end(struct client *c, ssize_t n)
{
	if (n != UV_EOF) {
		client_close(c);
		return;
	}
	c->peer_eof = true;
	if (c->sock) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
	if (c->ending) {
		if (c->shut_done || !c->sock)
			client_close(c);
		return;
	}
	if (c->state == C_TUNNEL)
		tunnel_check_eof(c);
}

static void client_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct client *c = s->data;
	if (c->closing || n == 0)
		return;
	if (n < 0)
		client_input_end(c, n);
	else
		client_input(c, b->base, (size_t)n);
	client_sync(c);
}

static void client_on_write(uv_write_t *req, int status)
{
	struct client *c = req->handle->data;
	free(req);
	if (c->closing)
		return;
	if (status < 0) {
		client_close(c);
		return;
	}
	if (c->r)
		c->r->last_activity = uv_now(c->p->loop);
	client_sync(c);
}

/* The timeout of c's mode has ended: moves c out of the head of its list
 * (to another list, or later in CT_ACTIVITY's), or closes it. */
static void client_timeout(struct client *c)
{
	struct proxy *p = c->p;
	struct creq *r = c->r;
	switch ((enum ctimer)c->tmode) {
	case CT_NONE:
	case CT_N:
		break;
	case CT_IDLE:
		client_end(c);
		break;
	case CT_HEADER:
	case CT_REFUSING:
		if (r && r->x.begun && !r->x.active) {
			r->x.keep_alive = false;
			local_text(c, 408, false, "request header timeout\n");
		} else {
			client_end(c);
		}
		break;
	case CT_ACTIVITY: {
		uint64_t now = uv_now(p->loop), due = r ? r->last_activity + p->cfg.idle_timeout_ms : 0;
		if (now < due)
			client_timer(c, CT_ACTIVITY, due - now);
		else
			client_close(c);
		break;
	}
	case CT_LINGER:
		client_close(c);
		break;
	}
}

/* Makes the tick wake by `due` (uv_now), TICK_MS later at most. */
static void client_tick_arm(struct proxy *p, uint64_t due)
{
	due = (due + TICK_MS - 1) / TICK_MS * TICK_MS;
	if ((p->tick_due && p->tick_due <= due) || p->freeing)
		return;
	uint64_t now = uv_now(p->loop);
	p->tick_due = due > now ? due : now;
	uv_timer_start(&p->tick, on_tick, p->tick_due - now, 0);
}

/* Ends the client timeouts that are due. A list is in due order, so only
 * its head needs looking at; the tick is armed for the earliest head
 * (client_timer arms it earlier when a client goes before it). */
static void on_tick(uv_timer_t *t)
{
	struct proxy *p = t->data;
	uint64_t now = uv_now(p->loop), next = 0;
	p->tick_due = 0;
	if (p->reqs_freed >= TRIM_AFTER_FREES) {
		if (now >= p->trim_ms + TRIM_MIN_MS) {
			malloc_trim(0);
			p->reqs_freed = 0;
			p->trim_ms = now;
		} else {
			next = p->trim_ms + TRIM_MIN_MS;
		}
	}
	for (int m = CT_NONE + 1; m < CT_N; m++) {
		struct client *c;
		while ((c = p->timers[m].head) && c->tdue <= now) {
			client_timeout(c);
			/* one its timeout cannot move (idle, but already
			 * ending) must not hold up the list */
			if (p->timers[m].head == c && c->tdue <= now)
				client_close(c);
			client_sync(c);
		}
	}
	for (int m = CT_NONE + 1; m < CT_N; m++) {
		struct client *c = p->timers[m].head;
		if (c && (!next || c->tdue < next))
			next = c->tdue;
	}
	if (next)
		client_tick_arm(p, next);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	/* every read is consumed (or copied) before the next one: one
	 * buffer. Clients and upstreams both start with their proxy. */
	struct proxy *p = *(struct proxy **)h->data;
	(void)suggested;
	b->base = p->rbuf;
	b->len = sizeof(p->rbuf);
}

static struct client *client_new(struct proxy *p, struct listener *l, bool sock)
{
	struct client *c = xcalloc(1, sizeof(*c));
	c->p = p;
	c->l = l;
	l->refs++;
	c->sock = sock;
	/* a test client's handle is never opened: it is only closed */
	uv_tcp_init(p->loop, &c->tcp);
	c->tcp.data = c;
	c->state = C_HEAD;
	c->ip[0] = 127;
	c->ip[3] = 1;
	__atomic_add_fetch(&p->nclients, 1, __ATOMIC_RELAXED);
	p->nlive++;
	__atomic_add_fetch(&metrics_conns(p->metrics)->open, 1, __ATOMIC_RELAXED);
	client_timer(c, CT_HEADER, p->cfg.header_timeout_ms);
	return c;
}

/* ------------------------------------------------------------------ */
/* the group: workers balance their connections                        */

struct proxy_group {
	pthread_mutex_t mu;  /* members, and every member's inbox */
	struct proxy **members;
	size_t n;
};

struct proxy_group *proxy_group_new(void)
{
	struct proxy_group *g = xcalloc(1, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	return g;
}

void proxy_group_free(struct proxy_group *g)
{
	if (!g)
		return;
	SW_ASSERT(g->n == 0);
	pthread_mutex_destroy(&g->mu);
	free(g->members);
	free(g);
}

/* What a member holds, as others see it: its clients and those on their
 * way to it. */
static size_t group_load(struct proxy *m)
{
	return __atomic_load_n(&m->nclients, __ATOMIC_RELAXED) + __atomic_load_n(&m->incoming, __ATOMIC_RELAXED);
}

static void group_join(struct proxy *p)
{
	struct proxy_group *g = p->group;
	pthread_mutex_lock(&g->mu);
	g->members = xrealloc(g->members, (g->n + 1) * sizeof(*g->members));
	g->members[g->n++] = p;
	pthread_mutex_unlock(&g->mu);
}

static void on_proxy_timer_closed(uv_handle_t *h);

/* Leaves the group: nothing is handed to p after this; what was, and was
 * not taken yet, is closed. */
static void group_leave(struct proxy *p)
{
	struct proxy_group *g = p->group;
	pthread_mutex_lock(&g->mu);
	for (size_t i = 0; i < g->n; i++)
		if (g->members[i] == p) {
			g->members[i] = g->members[--g->n];
			break;
		}
	struct handoff *in = p->inbox;
	size_t n = p->ninbox;
	p->inbox = NULL;
	p->ninbox = 0;
	pthread_mutex_unlock(&g->mu);
	for (size_t i = 0; i < n; i++) {
		close(in[i].fd);
		free(in[i].listener);
	}
	free(in);
	uv_close((uv_handle_t *)&p->inbox_wake, on_proxy_timer_closed);
}

/*
 * Hands fd, accepted by p on listener `name`, to the member that holds
 * fewest connections if that one holds fewer than p (ties stay: no
 * handover between equals). Returns true when handed over (the fd is the
 * other member's now), false when p keeps it.
 */
static bool group_hand_over(struct proxy *p, int fd, const char *name)
{
	struct proxy_group *g = p->group;
	/* less the new one, counted already */
	size_t mine = p->nclients - 1 + __atomic_load_n(&p->incoming, __ATOMIC_RELAXED);
	struct proxy *to = NULL;
	int moved = -1;
	pthread_mutex_lock(&g->mu);
	for (size_t i = 0; i < g->n; i++) {
		struct proxy *m = g->members[i];
		size_t load = group_load(m);
		if (m != p && !__atomic_load_n(&m->draining, __ATOMIC_RELAXED) && load < mine) {
			to = m;
			mine = load;
		}
	}
	/* our descriptor closes with our handle; the socket lives on in the
	 * copy the other member takes */
	if (to && (moved = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
		to = NULL;
	if (to) {
		to->inbox = xrealloc(to->inbox, (to->ninbox + 1) * sizeof(*to->inbox));
		to->inbox[to->ninbox++] = (struct handoff){moved, xstrdup(name)};
		__atomic_add_fetch(&to->incoming, 1, __ATOMIC_RELAXED);
		uv_async_send(&to->inbox_wake); /* under the lock: `to` is not closing it */
	}
	pthread_mutex_unlock(&g->mu);
	return to != NULL;
}

static void client_start(struct client *c);
static struct listener *listener_find(struct proxy *p, const char *name, enum lkind kind);
static void listener_unref(struct listener *l);

/* On the receiving member's loop: the sockets handed to it become its
 * clients, as if it had accepted them. */
static void on_inbox(uv_async_t *a)
{
	struct proxy *p = a->data;
	pthread_mutex_lock(&p->group->mu);
	struct handoff *in = p->inbox;
	size_t n = p->ninbox;
	p->inbox = NULL;
	p->ninbox = 0;
	pthread_mutex_unlock(&p->group->mu);
	for (size_t i = 0; i < n; i++) {
		if (p->freeing) {
			__atomic_sub_fetch(&p->incoming, 1, __ATOMIC_RELAXED);
			close(in[i].fd);
			free(in[i].listener);
			continue;
		}
		/* Its listener may have gone in between (p drains for an
		 * upgrade, or a new table closed it): the client was accepted
		 * before that and is served as if p had accepted it, under a
		 * record of the address that listens nowhere. */
		struct listener *l = listener_find(p, in[i].listener, L_TABLE), *gone = NULL;
		if (!l || l->closing) {
			gone = l = xcalloc(1, sizeof(*l));
			l->p = p;
			l->name = in[i].listener;
			in[i].listener = NULL;
			l->kind = L_TABLE;
			l->refs = 1;
			l->closing = true;
			p->nlive++;
		}
		free(in[i].listener);
		/* counted as a client before it stops counting as incoming */
		struct client *c = client_new(p, l, true);
		__atomic_sub_fetch(&p->incoming, 1, __ATOMIC_RELAXED);
		if (gone)
			listener_unref(gone); /* the client holds it now */
		if (uv_tcp_open(&c->tcp, in[i].fd) < 0) {
			close(in[i].fd);
			client_close(c);
			continue;
		}
		client_start(c);
	}
	free(in);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	struct proxy *p = l->p;
	if (status < 0 || l->closing || p->freeing)
		return;
	struct client *c = client_new(p, l, true);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 || p->draining) {
		client_close(c);
		return;
	}
	uv_os_fd_t fd;
	if (p->group && l->kind == L_TABLE && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 &&
	    group_hand_over(p, fd, l->name)) {
		client_close(c);
		return;
	}
	client_start(c);
}

/* A client whose socket is open (accepted here or handed over): admitted
 * or refused, then read. */
static void client_start(struct client *c)
{
	struct proxy *p = c->p;
	if (conn_admit(p, c) < 0) {
		client_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	struct sockaddr_storage sa;
	int salen = sizeof(sa);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) == 0) {
		c->ip6 = sa.ss_family == AF_INET6;
		if (c->ip6)
			memcpy(c->ip, &((struct sockaddr_in6 *)&sa)->sin6_addr, 16);
		else
			memcpy(c->ip, &((struct sockaddr_in *)&sa)->sin_addr, 4);
	}
	client_update_read(c);
}

/* ------------------------------------------------------------------ */
/* connection limit                                                    */

static void on_client_shutdown_free(uv_shutdown_t *req, int status)
{
	(void)status;
	free(req);
}

/* Sends FIN once the queued writes are out. The request is allocated only
 * while it is pending (most connections never need one while idle): cb
 * NULL means nothing to do but free it. */
static int client_shutdown(struct client *c, uv_shutdown_cb cb)
{
	uv_shutdown_t *req = xmalloc(sizeof(*req));
	req->data = c;
	int r = uv_shutdown(req, (uv_stream_t *)&c->tcp, cb ? cb : on_client_shutdown_free);
	if (r < 0)
		free(req);
	return r;
}

static void conn_refused_log(struct proxy *p);

static void on_refused_timer(uv_timer_t *t)
{
	struct proxy *p = t->data;
	if (p->refused_unlogged)
		conn_refused_log(p);
}

/* One line now if none was written in the last REFUSED_LOG_MS, else one
 * when that window ends, with every refusal since. */
static void conn_refused_note(struct proxy *p)
{
	uint64_t now = uv_now(p->loop);
	p->refused_unlogged++;
	if (p->refused_log_ms && now - p->refused_log_ms < REFUSED_LOG_MS) {
		if (!uv_is_active((uv_handle_t *)&p->refused_timer) && !p->freeing)
			uv_timer_start(&p->refused_timer, on_refused_timer,
				       p->refused_log_ms + REFUSED_LOG_MS - now, 0);
		return;
	}
	conn_refused_log(p);
}

static void conn_refused_log(struct proxy *p)
{
	sw_warn("proxy: at the connection limit (%zu client connections, --max-conns): refused %llu new "
		"connection%s since the last report (503 with Retry-After, or closed when %d already wait for "
		"theirs)",
		p->cfg.max_conns, (unsigned long long)p->refused_unlogged, p->refused_unlogged == 1 ? "" : "s",
		REFUSING_MAX);
	p->refused_log_ms = uv_now(p->loop);
	p->refused_unlogged = 0;
}

/*
 * Decides what a new client connection (already counted) gets when the
 * proxy holds max_conns: the keep-alive connection idle longest is closed
 * to make room; with none, the new one is only read for its request head,
 * answered 503 with Retry-After and closed (at most REFUSING_MAX of those
 * at once, with a short header timeout); beyond, it is closed at once.
 * Returns -1 when the caller must close it.
 */
static int conn_admit(struct proxy *p, struct client *c)
{
	struct metrics_conns *mc = metrics_conns(p->metrics);
	if (p->nclients - p->nrefusing <= p->cfg.max_conns)
		return 0;
	/* the longest idle; one whose next request is already in the kernel's
	 * buffer is not idle (as in proxy_drain): the next one, a few at most */
	struct client *v = p->timers[CT_IDLE].head;
	for (int tries = 0; v && tries < 8; tries++, v = v->tnext) {
		int pending = 0;
		uv_os_fd_t fd;
		if (v->sock && uv_fileno((uv_handle_t *)&v->tcp, &fd) == 0 && ioctl(fd, FIONREAD, &pending) == 0 &&
		    pending > 0)
			continue;
		__atomic_add_fetch(&mc->idle_closed, 1, __ATOMIC_RELAXED);
		client_close(v);
		return 0;
	}
	conn_refused_note(p);
	if (p->nrefusing >= REFUSING_MAX) {
		__atomic_add_fetch(&mc->refused_closed, 1, __ATOMIC_RELAXED);
		return -1;
	}
	__atomic_add_fetch(&mc->refused_503, 1, __ATOMIC_RELAXED);
	c->refusing = true;
	p->nrefusing++;
	client_timer(c, CT_REFUSING,
		     p->cfg.header_timeout_ms < REFUSING_HEADER_MS ? p->cfg.header_timeout_ms : REFUSING_HEADER_MS);
	return 0;
}

/* ------------------------------------------------------------------ */
/* listeners                                                           */

static void on_listener_closed(uv_handle_t *h)
{
	listener_unref(h->data);
}

static void listener_close(struct listener *l)
{
	struct proxy *p = l->p;
	if (l->closing)
		return;
	l->closing = true;
	for (struct listener **pp = &p->listeners; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	l->next = NULL;
	uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}

static int listener_open(struct proxy *p, const char *addr, enum lkind kind, struct listener **out,
			 struct sw_err *err)
{
	struct sockaddr_storage sa;
	struct sw_err e = {0};
	if (parse_addr(addr, &sa, &e) < 0)
		return sw_errf(err, SW_EINVAL, "invalid listen address %s", e.msg);
	struct listener *l = xcalloc(1, sizeof(*l));
	l->p = p;
	l->name = xstrdup(addr);
	l->kind = kind;
	l->refs = 1;
	p->nlive++;
	uv_tcp_init(p->loop, &l->tcp);
	l->tcp.data = l;
	int r = 0;
	struct inherited *in = NULL;
	for (size_t i = 0; i < p->ninherited && !in; i++)
		if (p->inherited[i].fd >= 0 && p->inherited[i].metrics == (kind == L_METRICS) &&
		    strcmp(p->inherited[i].name, addr) == 0)
			in = &p->inherited[i];
	if (in) {
		/* the predecessor's socket: already bound and listening, with
		 * its queue of connections not yet accepted */
		r = uv_tcp_open(&l->tcp, in->fd);
		if (r < 0)
			close(in->fd);
		in->fd = -1;
	} else {
		/* libuv sets SO_REUSEADDR on TCP binds */
		r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&sa, 0);
	}
	if (r == 0)
		r = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, on_connection);
	if (r < 0) {
		sw_errf(err, -1, "cannot listen on %s: %s", addr, uv_strerror(r));
		l->closing = true;
		uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
		return -1;
	}
	*out = l;
	return 0;
}

/* ------------------------------------------------------------------ */
/* public API                                                          */

/* The access log names clients and paths: created 0640, never readable
 * by every local user (an existing file keeps its mode). */
static FILE *access_log_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "a");
	if (!f) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return f;
}

int proxy_new(struct proxy **out, const struct proxy_config *cfg, struct sw_err *err)
{
	*out = NULL;
	if (!cfg->loop)
		return sw_errf(err, SW_EINVAL, "proxy: no event loop");
	struct proxy *p = xcalloc(1, sizeof(*p));
	p->cfg = *cfg;
	p->loop = cfg->loop;
	if (!p->cfg.connect_timeout_ms)
		p->cfg.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	if (!p->cfg.header_timeout_ms)
		p->cfg.header_timeout_ms = DEFAULT_HEADER_TIMEOUT_MS;
	if (!p->cfg.idle_timeout_ms)
		p->cfg.idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
	if (!p->cfg.upstream_timeout_ms)
		p->cfg.upstream_timeout_ms = DEFAULT_UPSTREAM_TIMEOUT_MS;
	if (!p->cfg.max_header_bytes)
		p->cfg.max_header_bytes = DEFAULT_MAX_HEADER_BYTES;
	if (!p->cfg.max_conns)
		p->cfg.max_conns = PROXY_DEFAULT_MAX_CONNS;
	if (!p->cfg.pool_per_backend)
		p->cfg.pool_per_backend = DEFAULT_POOL_PER_BACKEND;
	p->cfg.access_log = NULL;
	if (cfg->access_log) {
		p->alog = access_log_open(cfg->access_log);
		if (!p->alog) {
			int e = errno;
			free(p);
			return sw_errf(err, -1, "cannot open access log %s: %s", cfg->access_log, strerror(e));
		}
		setvbuf(p->alog, NULL, _IOLBF, 0);
	}
	if (getrandom(p->rng, sizeof(p->rng), 0) != (ssize_t)sizeof(p->rng)) {
		p->rng[0] = uv_hrtime() ^ 0x9e3779b97f4a7c15ull;
		p->rng[1] = (uint64_t)getpid() * 0xbf58476d1ce4e5b9ull;
	}
	if (!p->rng[0] && !p->rng[1])
		p->rng[1] = 1;
	p->own_metrics = !cfg->metrics;
	p->metrics = cfg->metrics ? cfg->metrics : metrics_new();
	if (p->own_metrics)
		metrics_conns(p->metrics)->limit = p->cfg.max_conns;
	uv_timer_init(p->loop, &p->refused_timer);
	p->refused_timer.data = p;
	uv_timer_init(p->loop, &p->tick);
	p->tick.data = p;
	p->nlive += 2;
	p->group = cfg->group;
	if (p->group) {
		uv_async_init(p->loop, &p->inbox_wake, on_inbox);
		p->inbox_wake.data = p;
		p->nlive++;
		group_join(p);
	}
	*out = p;
	return 0;
}

static struct listener *listener_find(struct proxy *p, const char *name, enum lkind kind)
{
	for (struct listener *l = p->listeners; l; l = l->next)
		if (l->kind == kind && strcmp(l->name, name) == 0)
			return l;
	return NULL;
}

int proxy_set_table(struct proxy *p, struct table *t, struct sw_err *err)
{
	const char **addrs = xcalloc(MAX_LISTENS, sizeof(*addrs));
	struct listener *fresh = NULL;
	int ret = -1;

	if (!t) {
		ret = sw_errf(err, SW_EINVAL, "no table");
		goto out;
	}
	size_t n = table_listens(t, addrs, MAX_LISTENS);
	if (n > MAX_LISTENS) {
		sw_errf(err, SW_EINVAL, "too many listen addresses (%zu, at most %d)", n, MAX_LISTENS);
		goto out;
	}
	/* open every new listener first: all or nothing */
	for (size_t i = 0; i < n; i++) {
		struct listener *l;
		if (listener_find(p, addrs[i], L_TABLE))
			continue;
		if (listener_open(p, addrs[i], L_TABLE, &l, err) < 0) {
			while (fresh) {
				struct listener *nx = fresh->next;
				fresh->next = NULL;
				fresh->closing = true;
				uv_close((uv_handle_t *)&fresh->tcp, on_listener_closed);
				fresh = nx;
			}
			goto out;
		}
		l->next = fresh;
		fresh = l;
	}
	/* close the ones no route uses any more */
	for (struct listener *l = p->listeners, *nx; l; l = nx) {
		nx = l->next;
		if (l->kind != L_TABLE)
			continue;
		bool used = false;
		for (size_t i = 0; i < n && !used; i++)
			used = strcmp(l->name, addrs[i]) == 0;
		if (!used)
			listener_close(l);
	}
	while (fresh) {
		struct listener *nx = fresh->next;
		fresh->next = p->listeners;
		p->listeners = fresh;
		fresh = nx;
	}
	table_carry_state(t, p->table);
	table_free(p->table);
	p->table = t;
	t = NULL;
	/* backends: the table's are in rotation, the others drain */
	for (struct bstat *b = p->bstats; b; b = b->next)
		b->in_table = false;
	for (size_t i = 0; i < p->table->nroutes; i++) {
		struct table_route *r = &p->table->routes[i];
		for (size_t g = 0; g < r->ngroups; g++)
			for (size_t k = 0; k < r->groups[g].nbackends; k++)
				bstat_get(p, &r->groups[g].backends[k]);
	}
	for (struct bstat *b = p->bstats, *nx; b; b = nx) {
		nx = b->next;
		if (!b->in_table) {
			bstat_close_idle(b);
			bstat_maybe_drop(p, b);
		}
	}
	ret = 0;
out:
	table_free(t);
	free(addrs);
	return ret;
}

const struct table *proxy_table(const struct proxy *p)
{
	return p->table;
}

struct metrics *proxy_metrics(struct proxy *p)
{
	return p->metrics;
}

json_t *proxy_backends_json(struct proxy *p)
{
	json_t *j = json_object();
	for (struct bstat *b = p->bstats; b; b = b->next)
		json_object_set_new(j, b->id,
				    json_pack("{s:I, s:I, s:b}", "inflight", (json_int_t)b->inflight, "conns",
					      (json_int_t)b->conns, "inTable", b->in_table));
	return j;
}

int proxy_serve_metrics(struct proxy *p, const char *addr, struct sw_err *err)
{
	struct listener *l;
	if (listener_open(p, addr, L_METRICS, &l, err) < 0)
		return -1;
	l->next = p->listeners;
	p->listeners = l;
	return 0;
}

/* proxy_drain: ends c if it is idle (no request begun). */
static void proxy_drain_idle(struct client *c)
{
	const struct creq *r = c->r;
	if (c->state != C_HEAD || (r && (r->x.begun || r->x.active || r->in.len)))
		return;
	/* A request the client already sent but the loop has not read
	 * yet makes the connection busy, not idle: it is answered (with
	 * Connection: close) rather than cut. */
	int pending = 0;
	uv_os_fd_t fd;
	if (c->sock && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, FIONREAD, &pending) == 0 &&
	    pending > 0)
		return;
	client_end(c);
}

void proxy_drain(struct proxy *p)
{
	__atomic_store_n(&p->draining, true, __ATOMIC_RELAXED); /* the group reads it */
	while (p->listeners)
		listener_close(p->listeners);
	for (int m = 0; m < CT_N; m++) {
		if (m == CT_LINGER)
			continue;
		for (struct client *c = p->timers[m].head, *nx; c; c = nx) {
			nx = c->tnext;
			proxy_drain_idle(c);
		}
	}
	for (struct bstat *b = p->bstats; b; b = b->next)
		bstat_close_idle(b);
}

size_t proxy_active_conns(const struct proxy *p)
{
	size_t n = 0;
	for (int m = 0; m < CT_N; m++)
		for (const struct client *c = p->timers[m].head; c; c = c->tnext)
			if (!c->ending)
				n++;
	return n;
}

size_t proxy_open_conns(const struct proxy *p)
{
	return p->nclients;
}

size_t proxy_listen_fds(const struct proxy *p, struct proxy_listen_fd *out, size_t max)
{
	size_t n = 0;
	for (const struct listener *l = p->listeners; l; l = l->next) {
		uv_os_fd_t fd;
		if (l->closing || (l->kind != L_TABLE && l->kind != L_METRICS) ||
		    uv_fileno((const uv_handle_t *)&l->tcp, &fd) < 0)
			continue;
		if (n < max)
			out[n] = (struct proxy_listen_fd){l->name, l->kind == L_METRICS, fd};
		n++;
	}
	return n;
}

void proxy_inherit_fd(struct proxy *p, const char *addr, bool metrics, int fd)
{
	p->inherited = xrealloc(p->inherited, (p->ninherited + 1) * sizeof(*p->inherited));
	p->inherited[p->ninherited++] = (struct inherited){xstrdup(addr), metrics, fd};
}

size_t proxy_inherit_done(struct proxy *p)
{
	size_t unused = 0;
	for (size_t i = 0; i < p->ninherited; i++) {
		if (p->inherited[i].fd >= 0) {
			close(p->inherited[i].fd);
			unused++;
		}
		free(p->inherited[i].name);
	}
	free(p->inherited);
	p->inherited = NULL;
	p->ninherited = 0;
	return unused;
}

/* the close callback of the proxy's own handles (timers, inbox_wake) */
static void on_proxy_timer_closed(uv_handle_t *h)
{
	struct proxy *p = h->data;
	p->nlive--;
	proxy_maybe_free(p);
}

static void proxy_maybe_free(struct proxy *p)
{
	if (!p->freeing || p->nlive)
		return;
	while (p->reqs) {
		struct creq *r = p->reqs;
		p->reqs = r->next;
		creq_free(r);
	}

	while (p->bstats) {
		struct bstat *b = p->bstats;
		p->bstats = b->next;
		free(b->id);
		free(b->addr);
		free(b);
	}
	free(p);
}

void proxy_free(struct proxy *p)
{
	if (!p || p->freeing)
		return;
	__atomic_store_n(&p->draining, true, __ATOMIC_RELAXED);
	while (p->listeners)
		listener_close(p->listeners);
	for (int m = 0; m < CT_N; m++)
		while (p->timers[m].head)
			client_close(p->timers[m].head);
	while (p->upstreams)
		upstream_close(p->upstreams);
	uv_close((uv_handle_t *)&p->refused_timer, on_proxy_timer_closed);
	uv_close((uv_handle_t *)&p->tick, on_proxy_timer_closed);
	if (p->group)
		group_leave(p);
	p->freeing = true;
	proxy_inherit_done(p);
	if (p->alog)
		fclose(p->alog);
	p->alog = NULL;
	if (p->own_metrics)
		metrics_free(p->metrics);
	p->metrics = NULL;
	table_free(p->table);
	p->table = NULL;
	proxy_maybe_free(p);
}

static void on_feed_deadline(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

static void on_feed_timer_closed(uv_handle_t *h)
{
	*(bool *)h->data = true;
}

int proxy_feed_for_test(struct proxy *p, const char *listen, const char *data, size_t len,
			struct buf *out, uint64_t timeout_ms)
{
	struct listener *l = xcalloc(1, sizeof(*l));
	bool expired = false, closed = false;
	uv_timer_t deadline;

	l->p = p;
	l->name = xstrdup(listen);
	l->kind = L_TEST;
	l->refs = 1;
	p->nlive++;
	l->test_out = out;
	struct client *c = client_new(p, l, false);
	client_input(c, data, len);
	if (!c->closing)
		client_input_end(c, UV_EOF);
	client_sync(c);
	uv_timer_init(p->loop, &deadline);
	deadline.data = &expired;
	uv_timer_start(&deadline, on_feed_deadline, timeout_ms, 0);
	while (l->refs > 1 && !expired)
		uv_run(p->loop, UV_RUN_ONCE);
	if (l->refs > 1)
		client_close(c);
	deadline.data = &closed;
	uv_close((uv_handle_t *)&deadline, on_feed_timer_closed);
	while (l->refs > 1 || !closed)
		uv_run(p->loop, UV_RUN_ONCE);
	listener_unref(l);
	return 0;
}
