/*
 * buf: one growable, NUL-terminated string buffer with a size cap, used
 * wherever text is built. strcpy/strcat/sprintf are not used elsewhere.
 *
 *	struct buf b = BUF_INIT;
 *	buf_addf(&b, "%s:%d", file, line);
 *	... use b.s (always a valid C string, "" when empty) ...
 *	buf_release(&b);
 *
 * When an append would make the buffer exceed `cap` (0 = BUF_DEFAULT_CAP)
 * the append fails with -1, `toobig` is set and the contents stay as they
 * were before the call. Out of memory aborts.
 */
#ifndef SW_BUF_H
#define SW_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define BUF_DEFAULT_CAP (64u * 1024 * 1024)

struct buf {
	char *s;      /* NUL-terminated contents; never NULL after any call */
	size_t len;   /* bytes used, without the NUL */
	size_t alloc; /* bytes allocated */
	size_t cap;   /* max len; 0 means BUF_DEFAULT_CAP */
	int toobig;   /* set once an append was refused for the cap */
};

#define BUF_INIT {NULL, 0, 0, 0, 0}

/* Returns the contents ("" if nothing was ever added). */
const char *buf_str(struct buf *b);
int buf_add(struct buf *b, const void *data, size_t len);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Appends s with JSON string escaping (no surrounding quotes). */
int buf_add_json_escaped(struct buf *b, const char *s);
void buf_reset(struct buf *b);
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Appends s[0..n) percent-decoded ("%41" -> "A"; with plus_space "+" ->
 * " ", as forms and query strings write it). Returns 0, or -1 on a bad
 * escape, a decoded NUL byte or the buffer's cap (what was appended
 * before stays). The one decoder: URLs, queries, form bodies. */
int buf_add_pct_decoded(struct buf *b, const char *s, size_t n, bool plus_space);

/* Appends all that can be read from fd up to its end (retrying EINTR).
 * Returns 0, or -1 with errno set on a read error, or with `toobig` set
 * (errno EFBIG) at the cap; what was read before stays. */
int buf_add_fd(struct buf *b, int fd);

/* Hands the string to the caller (who frees it) and resets the buffer. */
char *buf_detach(struct buf *b);
/* A new string made by fmt (vsnprintf's rules, BUF_DEFAULT_CAP at most);
 * the caller frees it. */
char *buf_vnewf(const char *fmt, va_list ap);
void buf_release(struct buf *b);

#endif
