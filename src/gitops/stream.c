/*
 * The plain socket stream this module registers with libgit2, so that a
 * fetch has a connect timeout, read/write deadlines and can be cancelled
 * (libgit2 1.5 has none of these). TLS (https) and ssh run over it.
 */
#include "source_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <git2/sys/stream.h>

#include "core/buf.h"

/* Must begin like libgit2's git_socket_stream: its ssh transport takes the
 * socket (s) from there. */
struct sstream {
	git_stream parent;
	char *host;
	char *port;
	int s;
	struct source_job *job; /* the fetch this thread runs, or NULL */
};

static __thread struct source_job *current;

void source_stream_set_job(struct source_job *job)
{
	current = job;
}

/* Milliseconds left before the job's deadline; -1 without a job. */
static int64_t left_ms(struct source_job *job)
{
	if (!job)
		return -1;
	int64_t l = (int64_t)job->deadline_ms - (int64_t)sw_now_ms();
	return l < 0 ? 0 : l;
}

/* Records why the job stops (first reason wins) and tells libgit2. */
static int fail(struct sstream *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct sstream *st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st->job)
		source_job_fail(st->job, "%s", msg);
	git_error_set_str(GIT_ERROR_NET, msg);
	return -1;
}

/* Waits until fd is ready for `events`, in slices so that a cancel is seen.
 * 0 ready, -1 failed (job failed with the reason). */
static int wait_fd(struct sstream *st, short events)
{
	for (;;) {
		struct source_job *job = st->job;
		if (job && atomic_load(&job->cancelled))
			return fail(st, "cancelled");
		int64_t l = left_ms(job);
		if (job && l == 0)
			return fail(st, "timed out after %s", job->timeout_text);
		int slice = l < 0 || l > 100 ? 100 : (int)l;
		struct pollfd p = {.fd = st->s, .events = events};
		int r = poll(&p, 1, slice);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return fail(st, "poll failed: %s", strerror(errno));
	}
}

static int try_connect(struct sstream *st, const struct addrinfo *ai, char *why, size_t whysz)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0) {
		snprintf(why, whysz, "%s", strerror(errno));
		return -1;
	}
	st->s = fd;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		snprintf(why, whysz, "%s", strerror(errno));
		goto bad;
	}
	if (wait_fd(st, POLLOUT) < 0)
		return -2; /* the job's deadline or cancel: do not try the next address */
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
	if (soerr) {
		snprintf(why, whysz, "%s", strerror(soerr));
		goto bad;
	}
	/* blocking from here on: libssh2 reads the socket itself, bounded by
	 * these timeouts and by shutdown() from source_cancel */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	int64_t l = left_ms(st->job);
	if (l > 0) {
		struct timeval tv = {.tv_sec = l / 1000, .tv_usec = (l % 1000) * 1000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (st->job)
		source_job_set_fd(st->job, fd);
	return 0;
bad:
	close(fd);
	st->s = -1;
	return -1;
}

static int s_connect(git_stream *stream)
{
	struct sstream *st = (struct sstream *)stream;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int r = getaddrinfo(st->host, st->port, &hints, &res);
	if (r != 0)
		return fail(st, "could not resolve host \"%s\": %s", st->host, gai_strerror(r));
	char why[256] = "no address";
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int c = try_connect(st, ai, why, sizeof(why));
		if (c == 0) {
			freeaddrinfo(res);
			return 0;
		}
		if (c == -2) {
			freeaddrinfo(res);
			return -1;
		}
	}
	freeaddrinfo(res);
	return fail(st, "connect to %s:%s failed: %s", st->host, st->port, why);
}

static ssize_t s_read(git_stream *stream, void *data, size_t len)
{
	struct sstream *st = (struct sstream *)stream;
	if (wait_fd(st, POLLIN) < 0)
		return -1;
	ssize_t n;
	do
		n = recv(st->s, data, len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fail(st, "read from %s:%s failed: %s", st->host, st->port, strerror(errno));
	return n;
}

static ssize_t s_write(git_stream *stream, const char *data, size_t len, int flags)
{
	struct sstream *st = (struct sstream *)stream;
	size_t off = 0;
	while (off < len) {
		if (wait_fd(st, POLLOUT) < 0)
			return -1;
		ssize_t n = send(st->s, data + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(st, "write to %s:%s failed: %s", st->host, st->port,
				    strerror(errno));
		off += (size_t)n;
	}
	return (ssize_t)len;
}

static int s_close(git_stream *stream)
{
	struct sstream *st = (struct sstream *)stream;
	if (st->s >= 0) {
		if (st->job)
			source_job_set_fd(st->job, -1);
		close(st->s);
		st->s = -1;
	}
	return 0;
}

static void s_free(git_stream *stream)
{
	struct sstream *st = (struct sstream *)stream;
	s_close(stream);
	free(st->host);
	free(st->port);
	free(st);
}

static int s_new(git_stream **out, const char *host, const char *port)
{
	struct sstream *st = xcalloc(1, sizeof(*st));
	st->parent.version = GIT_STREAM_VERSION;
	st->parent.connect = s_connect;
	st->parent.read = s_read;
	st->parent.write = s_write;
	st->parent.close = s_close;
	st->parent.free = s_free;
	st->host = xstrdup(host);
	st->port = xstrdup(port);
	st->s = -1;
	st->job = current;
	*out = &st->parent;
	return 0;
}

int source_stream_register(void)
{
	git_stream_registration reg = {.version = GIT_STREAM_VERSION, .init = s_new};
	return git_stream_register(GIT_STREAM_STANDARD, &reg);
}
