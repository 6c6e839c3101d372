#include "buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char empty[1];

static size_t limit(const struct buf *b)
{
	return b->cap ? b->cap : BUF_DEFAULT_CAP;
}

static int grow(struct buf *b, size_t extra)
{
	if (extra > limit(b) || b->len > limit(b) - extra) {
		b->toobig = 1;
		return -1;
	}
	size_t need = b->len + extra + 1;
	if (need <= b->alloc)
		return 0;
	size_t n = b->alloc ? b->alloc : 64;
	while (n < need)
		n *= 2;
	char *p = realloc(b->alloc ? b->s : NULL, n);
	if (!p)
		abort();
	if (!b->alloc)
		p[0] = '\0';
	b->s = p;
	b->alloc = n;
	return 0;
}

const char *buf_str(struct buf *b)
{
	if (!b->alloc)
		b->s = empty;
	return b->s;
}

int buf_add(struct buf *b, const void *data, size_t len)
{
	if (grow(b, len) < 0)
		return -1;
	if (len)
		memcpy(b->s + b->len, data, len);
	b->len += len;
	b->s[b->len] = '\0';
	return 0;
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return -1;
	if (grow(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = buf_vaddf(b, fmt, ap);
	va_end(ap);
	return r;
}

int buf_add_json_escaped(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int r;
		switch (c) {
		case '"': r = buf_adds(b, "\\\""); break;
		case '\\': r = buf_adds(b, "\\\\"); break;
		case '\n': r = buf_adds(b, "\\n"); break;
		case '\r': r = buf_adds(b, "\\r"); break;
		case '\t': r = buf_adds(b, "\\t"); break;
		default:
			r = c < 0x20 ? buf_addf(b, "\\u%04x", c) : buf_addc(b, (char)c);
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->alloc)
		b->s[0] = '\0';
	b->toobig = 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->s, b->s + n, b->len - n);
	b->len -= n;
	b->s[b->len] = '\0';
}

char *buf_detach(struct buf *b)
{
	char *s = b->alloc ? b->s : strdup("");
	if (!s)
		abort();
	b->s = NULL;
	b->len = b->alloc = 0;
	b->toobig = 0;
	return s;
}

void buf_release(struct buf *b)
{
	if (b->alloc)
		free(b->s);
	b->s = NULL;
	b->len = b->alloc = 0;
	b->toobig = 0;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int buf_add_pct_decoded(struct buf *b, const char *s, size_t n, bool plus_space)
{
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '%') {
			if (n - i < 3)
				return -1;
			int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			ch = (char)(hi * 16 + lo);
			i += 2;
		} else if (ch == '+' && plus_space) {
			ch = ' ';
		}
		if (ch == '\0' || buf_addc(b, ch) != 0)
			return -1;
	}
	return 0;
}

int buf_add_fd(struct buf *b, int fd)
{
	char chunk[8192];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (buf_add(b, chunk, (size_t)n) < 0) {
			errno = EFBIG;
			return -1;
		}
	}
}

char *buf_vnewf(const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT;
	buf_vaddf(&b, fmt, ap);
	return buf_detach(&b);
}
