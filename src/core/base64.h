/*
 * base64: the one Base 64 (RFC 4648, section 4: A-Z a-z 0-9 + /), strict.
 * Decoding takes no whitespace and only canonical text (the unused low
 * bits of the last character are zero, RFC 4648 section 3.5), so that one
 * value has one spelling: age's headers and armor need exactly that, and
 * known_hosts keys are written that way.
 */
#ifndef SW_CORE_BASE64_H
#define SW_CORE_BASE64_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/* Appends the encoding of data[0..len), with '=' padding when pad.
 * -1 only at out's cap (out unchanged). */
int sw_base64_encode(struct buf *out, const void *data, size_t len, bool pad);

/*
 * Appends the bytes s[0..n) encodes. With pad the length must be a
 * multiple of 4 with '=' padding (and '=' nowhere else); without, no '='
 * at all and never a length of 4k+1. Returns the number of bytes
 * appended, or -1 (out unchanged) for any character outside the
 * alphabet, wrong padding, non-canonical text, or out's cap.
 */
long sw_base64_decode(struct buf *out, const char *s, size_t n, bool pad);

/* The length of the encoding of len bytes. */
size_t sw_base64_len(size_t len, bool pad);

#endif
