/*
 * utf8: the one UTF-8 check. Valid means RFC 3629: sequences of one to
 * four bytes, no overlong forms, no surrogates (U+D800..U+DFFF), nothing
 * above U+10FFFF. Documents are checked with it; text from elsewhere (an
 * instance's log, a command's output) is made valid with sw_utf8_sanitize
 * before it goes into JSON.
 */
#ifndef SW_CORE_UTF8_H
#define SW_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* The offset of the first byte of s[0..len) that does not start a valid
 * sequence (a truncated sequence at the end counts as invalid), or len
 * when all of it is valid. NUL is valid UTF-8: callers that refuse it
 * check for it themselves. */
size_t sw_utf8_invalid_at(const char *s, size_t len);

/* sw_utf8_invalid_at(s, len) == len. */
bool sw_utf8_valid(const char *s, size_t len);

/*
 * Appends s[0..len) to out as valid UTF-8 without NUL: each byte that does
 * not start a valid sequence, and each NUL, becomes one '?'; valid
 * sequences are copied. Returns 0, or buf_add's failure when out's cap is
 * reached (what was appended before stays).
 */
int sw_utf8_sanitize(struct buf *out, const void *s, size_t len);

/*
 * Appends bytes from elsewhere (an instance's log) to out as valid UTF-8
 * that keeps every byte: valid sequences are copied, and each byte that
 * does not start one, and each NUL, is written as the four characters
 * "\xHH" (uppercase hex). Nothing is dropped or merged, so the answer
 * says exactly what was written.
 *
 * more: the bytes continue after len (a read cut short). An incomplete
 * sequence at the very end (a lead byte and fewer continuation bytes
 * than it announces) is then left for the next call instead of being
 * escaped; *used says how many bytes were consumed (len otherwise).
 * Returns 0, or buf_add's failure when out's cap is reached.
 */
int sw_utf8_escape(struct buf *out, const void *s, size_t len, bool more, size_t *used);

#endif
