/*
 * hello: Slipway's demo app. A small HTTP/1.1 server in one file, libc and
 * pthreads only, with knobs to make it misbehave on purpose so that
 * rollouts, probes and the proxy can be tested against it.
 *
 *	hello [--host ADDR] [--port N]      (port also from $PORT; default 8080)
 *
 *	GET /            200 "hello from VERSION (instance INSTANCE)\n"
 *	GET /healthz     200 "ok\n" (503 before HELLO_READY_AFTER and once
 *	                 HELLO_FAIL_HEALTH_AFTER passed)
 *	GET /version     200 "VERSION\n"
 *	GET /info        200 {"version": VERSION, "instance": INSTANCE, "healthy": BOOL}
 *	                 (JSON, for checks that read a field; healthy as /healthz)
 *	GET /bytes?n=N   200 with N bytes of body, streamed
 *	any request with a body: read (streamed) and answered "received N bytes\n"
 *
 * VERSION is $SLIPWAY_VERSION, else $HELLO_VERSION, else "dev"; INSTANCE is
 * $SLIPWAY_INSTANCE or "-". Every response carries X-Version.
 *
 * Fault injection:
 *	HELLO_ERROR_RATE=0.3          that fraction of requests to / get 500
 *	HELLO_LATENCY_MS=200          requests to / wait that long first
 *	HELLO_READY_AFTER=5           /healthz answers 503 for the first 5 s (warming up,
 *	                              as a database does)
 *	HELLO_FAIL_HEALTH_AFTER=30    /healthz answers 503 after 30 s
 *	HELLO_CRASH_AFTER=60          exit(1) after 60 s, "crashing as asked"
 *
 * One thread per connection: injected latency then blocks only its own
 * connection, and the code reads top to bottom. SIGTERM (or SIGINT) stops
 * accepting, lets requests already started finish (their responses say
 * Connection: close), closes idle keep-alive connections and exits 0, or
 * after DRAIN_MS at the latest.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HEADER_MAX (16 * 1024)  /* request line + headers; beyond: 431 */
#define LINE_MAX_CHUNK 4096     /* a chunk-size line */
#define IDLE_TIMEOUT_MS 60000   /* keep-alive connection with no request */
#define READ_TIMEOUT_MS 30000   /* silence in the middle of a request */
#define WRITE_TIMEOUT_MS 30000
#define SLICE_MS 100            /* how often an idle connection checks for shutdown */
#define DRAIN_MS 10000          /* longest wait for in-flight requests on SIGTERM */
#define MAX_CONNS 1024
#define BYTES_MAX (1LL << 40)   /* largest /bytes?n= */

/* ---- configuration, read once at start ---------------------------------- */

static struct {
	const char *version;
	const char *instance;
	double error_rate;       /* 0..1 */
	long latency_ms;         /* 0 = none */
	double ready_after;      /* seconds; 0 = at once */
	double fail_health_after; /* seconds; < 0 = never */
	double crash_after;      /* seconds; < 0 = never */
} cfg;

static uint64_t start_ms;

static double uptime_s(void);

/* What /healthz and /info say: warmed up and not failing yet. */
static bool healthy_now(void)
{
	double up = uptime_s();
	return up >= cfg.ready_after && !(cfg.fail_health_after >= 0 && up >= cfg.fail_health_after);
}
static atomic_bool draining;
static atomic_int active_conns;
static atomic_ullong requests_served;
static pthread_mutex_t conns_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conns_cv = PTHREAD_COND_INITIALIZER;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double uptime_s(void)
{
	return (double)(now_ms() - start_ms) / 1000.0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* xorshift64*, seeded per process, shared by all connections. */
static uint64_t rng_state;
static pthread_mutex_t rng_mu = PTHREAD_MUTEX_INITIALIZER;

static double rng_next(void)
{
	pthread_mutex_lock(&rng_mu);
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	pthread_mutex_unlock(&rng_mu);
	return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / (double)(1ULL << 53);
}

static void die_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "hello: %s%s%s%s\n", msg, arg ? " \"" : "", arg ? arg : "", arg ? "\"" : "");
	fprintf(stderr, "usage: hello [--host ADDR] [--port N]\n");
	exit(2);
}

/* Reads a non-negative number from env `name`; dflt when unset or empty. */
static double env_number(const char *name, double dflt, double max)
{
	const char *v = getenv(name);
	char *end;
	if (!v || !*v)
		return dflt;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(d) || d < 0 || d > max) {
		fprintf(stderr, "hello: %s must be a number between 0 and %g, got \"%s\"\n", name, max, v);
		exit(2);
	}
	return d;
}

static const char *env_or(const char *a, const char *b, const char *dflt)
{
	const char *v = getenv(a);
	if (v && *v)
		return v;
	v = b ? getenv(b) : NULL;
	return v && *v ? v : dflt;
}

static int parse_port(const char *s)
{
	char *end;
	errno = 0;
	long p = strtol(s, &end, 10);
	if (errno || end == s || *end || p < 0 || p > 65535)
		die_usage("invalid port", s);
	return (int)p;
}

/* ---- connection I/O ------------------------------------------------------ */

struct conn {
	int fd;
	size_t len;               /* bytes in buf not yet used */
	char buf[HEADER_MAX + 1]; /* +1 keeps room for a NUL */
};

static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/*
 * Reads more bytes into c->buf. idle: no byte of a request is buffered, so
 * shutdown may close the connection. Returns bytes read, 0 on EOF, -1 on
 * error, timeout or a full buffer, -2 when shutting down while idle.
 */
static ssize_t conn_fill(struct conn *c, bool idle)
{
	uint64_t deadline = now_ms() + (idle ? IDLE_TIMEOUT_MS : READ_TIMEOUT_MS);

	if (c->len >= HEADER_MAX)
		return -1;
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int r = poll(&p, 1, SLICE_MS);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r > 0) {
			ssize_t n = read(c->fd, c->buf + c->len, HEADER_MAX - c->len);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n > 0)
				c->len += (size_t)n;
			return n;
		}
		if (idle && atomic_load(&draining))
			return -2;
		if (now_ms() >= deadline)
			return -1;
	}
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1; /* EAGAIN: SO_SNDTIMEO ran out on a client not reading */
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

struct request {
	char method[16];
	char target[HEADER_MAX];
	int minor;           /* HTTP/1.minor */
	int64_t content_length; /* -1 when absent */
	bool chunked;
	bool close;          /* the connection ends after this response */
	bool expect_continue;
};

static const char *status_text(int code)
{
	switch (code) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static int send_head(struct conn *c, int code, int64_t length, bool close, const char *type,
		     const char *extra)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %" PRId64 "\r\n"
			 "X-Version: %s\r\n"
			 "%s%s\r\n",
			 code, status_text(code), type, length, cfg.version, close ? "Connection: close\r\n" : "",
			 extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	return send_all(c->fd, head, (size_t)n);
}

/* Sends a whole small response; the body is skipped for HEAD. */
static int respond_as(struct conn *c, const struct request *rq, int code, const char *type,
		      const char *body, bool close)
{
	size_t len = strlen(body);
	bool head = rq && strcmp(rq->method, "HEAD") == 0;
	close = close || atomic_load(&draining);
	atomic_fetch_add(&requests_served, 1);
	if (send_head(c, code, (int64_t)len, close, type, NULL) < 0)
		return -1;
	return head ? 0 : send_all(c->fd, body, len);
}

static int respond(struct conn *c, const struct request *rq, int code, const char *body, bool close)
{
	return respond_as(c, rq, code, "text/plain; charset=utf-8", body, close);
}

/* Appends s to out[*len..size) as a JSON string; false when it does not fit. */
static bool json_string(char *out, size_t size, size_t *len, const char *s)
{
	if (*len + 1 >= size)
		return false;
	out[(*len)++] = '"';
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		int n = ch < 0x20 ? snprintf(out + *len, size - *len, "\\u%04x", ch)
		      : ch == '"' || ch == '\\' ? snprintf(out + *len, size - *len, "\\%c", ch)
		      : snprintf(out + *len, size - *len, "%c", ch);
		if (n < 0 || (size_t)n >= size - *len)
			return false;
		*len += (size_t)n;
	}
	if (*len + 1 >= size)
		return false;
	out[(*len)++] = '"';
	out[*len] = '\0';
	return true;
}

static bool is_tchar(unsigned char ch)
{
	return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Trims spaces and tabs from both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* True when the comma-separated list [v, v + n) holds token tok. */
static bool list_has(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok);
	while (n) {
		const char *comma = memchr(v, ',', n);
		size_t item = comma ? (size_t)(comma - v) : n;
		const char *s = v;
		size_t sn = item;
		trim(&s, &sn);
		if (sn == tl && strncasecmp(s, tok, tl) == 0)
			return true;
		if (!comma)
			break;
		v += item + 1;
		n -= item + 1;
	}
	return false;
}

static bool header_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/*
 * Parses the request line and headers in c->buf[0, end). Returns 0, or the
 * HTTP status to answer with before closing.
 */
static int parse_head(const char *p, const char *end, struct request *rq)
{
	const char *eol = memchr(p, '\n', (size_t)(end - p));
	const char *line_end, *sp1, *sp2;
	bool keep_alive = false, saw_te = false;

	memset(rq, 0, sizeof(*rq));
	rq->content_length = -1;
	if (!eol)
		return 400;
	line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;

	/* METHOD SP target SP HTTP/1.x */
	sp1 = memchr(p, ' ', (size_t)(line_end - p));
	if (!sp1 || sp1 == p || (size_t)(sp1 - p) >= sizeof(rq->method))
		return sp1 && sp1 != p ? 501 : 400;
	for (const char *q = p; q < sp1; q++)
		if (!is_tchar((unsigned char)*q))
			return 400;
	memcpy(rq->method, p, (size_t)(sp1 - p));
	sp2 = memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		return 400;
	for (const char *q = sp1 + 1; q < sp2; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			return 400;
	memcpy(rq->target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	const char *ver = sp2 + 1;
	size_t vlen = (size_t)(line_end - ver);
	if (vlen != 8 || strncmp(ver, "HTTP/", 5) != 0 || !isdigit((unsigned char)ver[5]) ||
	    ver[6] != '.' || !isdigit((unsigned char)ver[7]))
		return 400;
	if (ver[5] != '1')
		return 505;
	rq->minor = ver[7] - '0';

	for (p = eol + 1; p < end;) {
		const char *colon, *value;
		size_t vn;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			return 400;
		line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if (line_end == p)
			break; /* the empty line */
		if (*p == ' ' || *p == '\t')
			return 400; /* obsolete line folding */
		colon = memchr(p, ':', (size_t)(line_end - p));
		if (!colon || colon == p)
			return 400;
		for (const char *q = p; q < colon; q++)
			if (!is_tchar((unsigned char)*q))
				return 400;
		value = colon + 1;
		vn = (size_t)(line_end - value);
		trim(&value, &vn);
		for (size_t i = 0; i < vn; i++)
			if ((unsigned char)value[i] < ' ' && value[i] != '\t')
				return 400;

		size_t nn = (size_t)(colon - p);
		if (header_is(p, nn, "content-length")) {
			int64_t v = 0;
			if (!vn)
				return 400;
			for (size_t i = 0; i < vn; i++) {
				if (!isdigit((unsigned char)value[i]) || v > (INT64_MAX - 9) / 10)
					return 400;
				v = v * 10 + (value[i] - '0');
			}
			if (rq->content_length >= 0 && rq->content_length != v)
				return 400;
			rq->content_length = v;
		} else if (header_is(p, nn, "transfer-encoding")) {
			/* only a plain "chunked" is supported */
			if (saw_te || !(vn == 7 && strncasecmp(value, "chunked", 7) == 0))
				return 501;
			saw_te = true;
			rq->chunked = true;
		} else if (header_is(p, nn, "connection")) {
			if (list_has(value, vn, "close"))
				rq->close = true;
			if (list_has(value, vn, "keep-alive"))
				keep_alive = true;
		} else if (header_is(p, nn, "expect")) {
			if (vn == 12 && strncasecmp(value, "100-continue", 12) == 0)
				rq->expect_continue = true;
		}
		p = eol + 1;
	}
	if (saw_te && rq->content_length >= 0)
		return 400; /* request smuggling shape: refuse */
	if (rq->minor == 0 && !keep_alive)
		rq->close = true;
	return 0;
}

/* Finds the end of the header block in c->buf: returns its length including
 * the empty line, or 0 when it is not all there yet. */
static size_t head_length(const struct conn *c)
{
	const char *p = c->buf, *end = c->buf + c->len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			return 0;
		if (eol == p || (eol == p + 1 && *p == '\r'))
			return (size_t)(eol + 1 - c->buf);
		p = eol + 1;
	}
	return 0;
}

/* Discards n body bytes, reading them as they come. */
static int skip_bytes(struct conn *c, uint64_t n)
{
	while (n > 0) {
		if (c->len == 0 && conn_fill(c, false) <= 0)
			return -1;
		size_t take = c->len < n ? c->len : (size_t)n;
		conn_consume(c, take);
		n -= take;
	}
	return 0;
}

/* Makes sure a whole line is buffered; returns its length with the '\n',
 * 0 on failure. */
static size_t need_line(struct conn *c, size_t max)
{
	for (;;) {
		char *eol = memchr(c->buf, '\n', c->len);
		if (eol)
			return (size_t)(eol - c->buf) + 1;
		if (c->len >= max || conn_fill(c, false) <= 0)
			return 0;
	}
}

/* Reads a chunked body, counting its bytes into *total. */
static int read_chunked(struct conn *c, uint64_t *total)
{
	for (;;) {
		size_t ll = need_line(c, LINE_MAX_CHUNK);
		uint64_t size = 0;
		size_t i = 0;
		if (!ll)
			return -1;
		for (; i < ll && isxdigit((unsigned char)c->buf[i]); i++) {
			if (size > (UINT64_MAX >> 4))
				return -1;
			int ch = tolower((unsigned char)c->buf[i]);
			size = size * 16 + (uint64_t)(isdigit(ch) ? ch - '0' : ch - 'a' + 10);
		}
		if (i == 0 || !(c->buf[i] == '\r' || c->buf[i] == '\n' || c->buf[i] == ';' ||
				c->buf[i] == ' ' || c->buf[i] == '\t'))
			return -1;
		conn_consume(c, ll);
		if (size == 0)
			break;
		if (skip_bytes(c, size) < 0)
			return -1;
		*total += size;
		ll = need_line(c, 2);
		if (!(ll == 1 || (ll == 2 && c->buf[0] == '\r')))
			return -1;
		conn_consume(c, ll);
	}
	/* trailer fields, up to the empty line */
	for (size_t seen = 0;;) {
		size_t ll = need_line(c, HEADER_MAX);
		if (!ll || (seen += ll) > HEADER_MAX)
			return -1;
		bool empty = ll == 1 || (ll == 2 && c->buf[0] == '\r');
		conn_consume(c, ll);
		if (empty)
			return 0;
	}
}

/* Value of query parameter `name` in target, or NULL. */
static const char *query_param(const char *target, const char *name, size_t *len)
{
	const char *q = strchr(target, '?');
	size_t nl = strlen(name);
	while (q) {
		q++;
		const char *amp = strchr(q, '&');
		size_t item = amp ? (size_t)(amp - q) : strlen(q);
		if (item > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
			*len = item - nl - 1;
			return q + nl + 1;
		}
		q = amp;
	}
	return NULL;
}

/* /bytes body: a repeating printable pattern, filled once in main */
static char bytes_chunk[64 * 1024];

static int serve_bytes(struct conn *c, const struct request *rq)
{
	size_t vl = 0;
	const char *v = query_param(rq->target, "n", &vl);
	int64_t n = 0;

	if (!v || !vl)
		return respond(c, rq, 400, "bytes: missing ?n=COUNT\n", rq->close);
	for (size_t i = 0; i < vl; i++) {
		if (!isdigit((unsigned char)v[i]) || n > BYTES_MAX / 10)
			return respond(c, rq, 400, "bytes: n must be a count up to 2^40\n", rq->close);
		n = n * 10 + (v[i] - '0');
	}
	if (n > BYTES_MAX)
		return respond(c, rq, 400, "bytes: n must be a count up to 2^40\n", rq->close);

	atomic_fetch_add(&requests_served, 1);
	if (send_head(c, 200, n, rq->close, "text/plain; charset=utf-8", NULL) < 0)
		return -1;
	if (strcmp(rq->method, "HEAD") == 0)
		return 0;
	while (n > 0) {
		size_t k = n < (int64_t)sizeof(bytes_chunk) ? (size_t)n : sizeof(bytes_chunk);
		if (send_all(c->fd, bytes_chunk, k) < 0)
			return -1;
		n -= (int64_t)k;
	}
	return 0;
}

/* Handles one request whose head is parsed; returns -1 to close. */
static int handle(struct conn *c, struct request *rq)
{
	char body[512];
	size_t plen = strcspn(rq->target, "?");
	bool get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
	bool has_body = rq->chunked || rq->content_length > 0 ||
			(rq->content_length == 0 && !get);

	if (atomic_load(&draining))
		rq->close = true;

	if (has_body) {
		uint64_t total = 0;
		if (rq->expect_continue && rq->minor >= 1 &&
		    send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
			return -1;
		if (rq->chunked) {
			if (read_chunked(c, &total) < 0) {
				respond(c, rq, 400, "bad chunked body\n", true);
				return -1;
			}
		} else {
			if (skip_bytes(c, (uint64_t)rq->content_length) < 0)
				return -1;
			total = (uint64_t)rq->content_length;
		}
		snprintf(body, sizeof(body), "received %" PRIu64 " bytes\n", total);
		return respond(c, rq, 200, body, rq->close);
	}

	if (!get) {
		bool known = (plen == 1 && rq->target[0] == '/') ||
			     (plen == 8 && strncmp(rq->target, "/healthz", 8) == 0) ||
			     (plen == 8 && strncmp(rq->target, "/version", 8) == 0) ||
			     (plen == 5 && strncmp(rq->target, "/info", 5) == 0) ||
			     (plen == 6 && strncmp(rq->target, "/bytes", 6) == 0);
		return respond(c, rq, known ? 405 : 404, known ? "method not allowed\n" : "not found\n",
			       rq->close);
	}
	if (plen == 1 && rq->target[0] == '/') {
		if (cfg.latency_ms > 0)
			sleep_ms(cfg.latency_ms);
		if (cfg.error_rate > 0 && rng_next() < cfg.error_rate)
			return respond(c, rq, 500, "injected error\n", rq->close);
		snprintf(body, sizeof(body), "hello from %s (instance %s)\n", cfg.version, cfg.instance);
		return respond(c, rq, 200, body, rq->close);
	}
	if (plen == 8 && strncmp(rq->target, "/healthz", 8) == 0) {
		if (uptime_s() < cfg.ready_after)
			return respond(c, rq, 503, "warming up as asked\n", rq->close);
		if (!healthy_now())
			return respond(c, rq, 503, "unhealthy as asked\n", rq->close);
		return respond(c, rq, 200, "ok\n", rq->close);
	}
	if (plen == 8 && strncmp(rq->target, "/version", 8) == 0) {
		snprintf(body, sizeof(body), "%s\n", cfg.version);
		return respond(c, rq, 200, body, rq->close);
	}
	if (plen == 5 && strncmp(rq->target, "/info", 5) == 0) {
		bool healthy = healthy_now();
		size_t len = 0;
		snprintf(body, sizeof(body), "{\"version\": ");
		len = strlen(body);
		if (!json_string(body, sizeof(body), &len, cfg.version) ||
		    (size_t)snprintf(body + len, sizeof(body) - len, ", \"instance\": ") >= sizeof(body) - len)
			return respond(c, rq, 500, "too long\n", rq->close);
		len = strlen(body);
		if (!json_string(body, sizeof(body), &len, cfg.instance) ||
		    (size_t)snprintf(body + len, sizeof(body) - len, ", \"healthy\": %s}\n",
				     healthy ? "true" : "false") >= sizeof(body) - len)
			return respond(c, rq, 500, "too long\n", rq->close);
		return respond_as(c, rq, 200, "application/json", body, rq->close);
	}
	if (plen == 6 && strncmp(rq->target, "/bytes", 6) == 0)
		return serve_bytes(c, rq);
	return respond(c, rq, 404, "not found\n", rq->close);
}

/* ---- connections and main ---------------------------------------------- */

static void conn_done(void)
{
	pthread_mutex_lock(&conns_mu);
	atomic_fetch_sub(&active_conns, 1);
	pthread_cond_broadcast(&conns_cv);
	pthread_mutex_unlock(&conns_mu);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct request *rq = malloc(sizeof(*rq));

	if (!rq)
		goto out;
	for (;;) {
		size_t hl;
		int status;

		/* Blank lines before a request line are allowed (RFC 9112 2.2). */
		while (c->len && (c->buf[0] == '\r' || c->buf[0] == '\n'))
			conn_consume(c, 1);
		while ((hl = head_length(c)) == 0) {
			if (c->len >= HEADER_MAX) {
				bool one_line = memchr(c->buf, '\n', c->len) == NULL;
				respond(c, NULL, one_line ? 414 : 431,
					one_line ? "request line too long\n" : "request headers too large\n", true);
				goto out;
			}
			ssize_t n = conn_fill(c, c->len == 0);
			if (n == 0 || n == -2)
				goto out; /* client gone, or shutdown while idle */
			if (n < 0) {
				if (c->len)
					respond(c, NULL, 408, "request timeout\n", true);
				goto out;
			}
			while (c->len && (c->buf[0] == '\r' || c->buf[0] == '\n'))
				conn_consume(c, 1);
		}
		status = parse_head(c->buf, c->buf + hl, rq);
		if (status) {
			respond(c, NULL, status, status == 505 ? "http version not supported\n"
					     : status == 501 ? "not implemented\n"
							     : "bad request\n",
				true);
			goto out;
		}
		conn_consume(c, hl);
		if (handle(c, rq) < 0 || rq->close || atomic_load(&draining))
			goto out;
	}
out:
	/* Half-close and drain a little so the client reads the last response
	 * instead of a reset caused by unread bytes. */
	shutdown(c->fd, SHUT_WR);
	{
		char sink[4096];
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		for (int i = 0; i < 10 && poll(&p, 1, 50) > 0; i++)
			if (read(c->fd, sink, sizeof(sink)) <= 0)
				break;
	}
	close(c->fd);
	free(c);
	free(rq);
	conn_done();
	return NULL;
}

static int listen_on(const char *host, int port, char *shown, size_t shown_size)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL, *ai;
	char portstr[16];
	int fd = -1, one = 1, rc;

	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "hello: cannot resolve \"%s\": %s\n", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 512) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		fprintf(stderr, "hello: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
		goto out;
	}
	/* show the port really bound (matters for --port 0) */
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char addr[NI_MAXHOST], serv[NI_MAXSERV];
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, addr, sizeof(addr), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(shown, shown_size, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", addr, serv);
	else
		snprintf(shown, shown_size, "%s:%d", host, port);
out:
	freeaddrinfo(res);
	return fd;
}

static void start_conn(int fd)
{
	pthread_attr_t attr;
	pthread_t t;
	struct conn *c;

	if (atomic_load(&active_conns) >= MAX_CONNS) {
		close(fd);
		return;
	}
	c = malloc(sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	struct timeval tv = {WRITE_TIMEOUT_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* head and body go out in separate writes: without this, Nagle and
	 * delayed ACKs add 40 ms to a keep-alive response */
	int nodelay = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay));
	c->fd = fd;
	c->len = 0;
	atomic_fetch_add(&active_conns, 1);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&t, &attr, conn_main, c) != 0) {
		close(fd);
		free(c);
		conn_done();
	}
	pthread_attr_destroy(&attr);
}

static void crash_if_due(void)
{
	if (cfg.crash_after >= 0 && uptime_s() >= cfg.crash_after) {
		fprintf(stderr, "crashing as asked\n");
		_exit(1);
	}
}

/* Milliseconds poll may wait before the crash is due (-1: forever). */
static int crash_wait_ms(int cap)
{
	if (cfg.crash_after < 0)
		return cap;
	double left = cfg.crash_after - uptime_s();
	int ms = left <= 0 ? 0 : (int)ceil(left * 1000);
	return cap >= 0 && cap < ms ? cap : ms;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	const char *port_env = getenv("PORT");
	int port = port_env && *port_env ? parse_port(port_env) : 8080;
	char shown[NI_MAXHOST + 16];
	sigset_t sigs;
	int lfd, sfd, signo = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--port") == 0 || strcmp(a, "--host") == 0) {
			if (i + 1 >= argc)
				die_usage("missing value for", a);
			if (a[2] == 'p')
				port = parse_port(argv[++i]);
			else
				host = argv[++i];
		} else if (strncmp(a, "--port=", 7) == 0) {
			port = parse_port(a + 7);
		} else if (strncmp(a, "--host=", 7) == 0) {
			host = a + 7;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("usage: hello [--host ADDR] [--port N]\n");
			return 0;
		} else {
			die_usage("unknown argument", a);
		}
	}

	start_ms = now_ms();
	cfg.version = env_or("SLIPWAY_VERSION", "HELLO_VERSION", "dev");
	cfg.instance = env_or("SLIPWAY_INSTANCE", NULL, "-");
	cfg.error_rate = env_number("HELLO_ERROR_RATE", 0, 1);
	cfg.latency_ms = (long)env_number("HELLO_LATENCY_MS", 0, 3600000);
	cfg.ready_after = env_number("HELLO_READY_AFTER", 0, 1e9);
	cfg.fail_health_after = env_number("HELLO_FAIL_HEALTH_AFTER", -1, 1e9);
	cfg.crash_after = env_number("HELLO_CRASH_AFTER", -1, 1e9);
	rng_state = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ 0x9E3779B97F4A7C15ULL;
	for (size_t i = 0; i < sizeof(bytes_chunk); i++)
		bytes_chunk[i] = (char)('a' + i % 26);
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Signals arrive through a signalfd in this thread only; connection
	 * threads inherit the blocked mask. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "hello: signalfd: %s\n", strerror(errno));
		return 1;
	}
	lfd = listen_on(host, port, shown, sizeof(shown));
	if (lfd < 0)
		return 1;
	printf("hello %s listening on %s\n", cfg.version, shown);

	while (!signo) {
		struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		int r = poll(p, 2, crash_wait_ms(-1));
		crash_if_due();
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "hello: poll: %s\n", strerror(errno));
			return 1;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				signo = (int)si.ssi_signo;
		}
		if (!signo && (p[0].revents & POLLIN)) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				start_conn(fd);
			else if (errno == EMFILE || errno == ENFILE)
				sleep_ms(10); /* let connections close */
		}
	}

	/* Stop accepting, let requests in flight finish, then go. */
	close(lfd);
	atomic_store(&draining, true);
	uint64_t deadline = now_ms() + DRAIN_MS;
	pthread_mutex_lock(&conns_mu);
	while (atomic_load(&active_conns) > 0 && now_ms() < deadline) {
		pthread_mutex_unlock(&conns_mu);
		crash_if_due();
		pthread_mutex_lock(&conns_mu);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (atomic_load(&active_conns) > 0)
			pthread_cond_timedwait(&conns_cv, &conns_mu, &ts);
	}
	int left = atomic_load(&active_conns);
	pthread_mutex_unlock(&conns_mu);
	printf("hello %s shutting down on %s after %llu requests%s\n", cfg.version, strsignal(signo),
	       (unsigned long long)atomic_load(&requests_served),
	       left ? " (drain timed out)" : "");
	fflush(stdout);
	_exit(0);
}
