/*
 * core: the small pieces every module shares: the error object, allocation
 * that aborts on out-of-memory, clocks, durations and logging.
 */
#ifndef SW_CORE_H
#define SW_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Return codes callers act on; -1 is every other failure. */
#define SW_ENOTFOUND (-2)
#define SW_EBUSY (-3)
#define SW_EINVAL (-4)
#define SW_EEXIST (-5)
#define SW_EPERM (-6)
#define SW_ECONFLICT (-7) /* the request does not apply in the current state */

#define SW_ASSERT(c) ((c) ? (void)0 : sw_assert_fail(#c, __FILE__, __LINE__))
void sw_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

/*
 * The error object a caller passes down. The first message set wins: a
 * callee's message is passed up unchanged, never overwritten by a caller.
 * `code` holds the SW_E* code that went with it (or -1).
 */
struct sw_err {
	int code;
	char msg[1024];
};

/* Sets the message if none is set yet; returns `code` so callers can
 * write `return sw_errf(err, -1, "...")`. err may be NULL. */
int sw_errf(struct sw_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void sw_err_clear(struct sw_err *err);
int sw_err_isset(const struct sw_err *err);

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Bounded copy that always NUL-terminates; returns strlen(src). */
size_t sw_strlcpy(char *dst, const char *src, size_t size);

/* Milliseconds since an arbitrary point (CLOCK_MONOTONIC). */
uint64_t sw_now_ms(void);
/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t sw_wall_ms(void);
/* Formats wall-clock ms as RFC 3339 UTC with milliseconds into out. */
void sw_format_time(char *out, size_t size, int64_t wall_ms);

/*
 * Parses a duration: one or more <number><unit> with units ms, s, m, h
 * ("500ms", "10s", "1m30s", "1.5s"). A bare integer is not accepted.
 * Returns 0 and the value in *out_ms, or -1.
 */
int sw_duration_parse(const char *s, uint64_t *out_ms);
/* Formats ms the way sw_duration_parse reads it ("1m30s", "500ms"). */
void sw_duration_format(char *out, size_t size, uint64_t ms);

/* Levenshtein distance, for "did you mean" suggestions. */
size_t sw_edit_distance(const char *a, const char *b);

/* Logging to stderr with a timestamp; level is "info", "warn", "error". */
void sw_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define sw_info(...) sw_log("info", __VA_ARGS__)
#define sw_warn(...) sw_log("warn", __VA_ARGS__)
#define sw_error(...) sw_log("error", __VA_ARGS__)

#endif
