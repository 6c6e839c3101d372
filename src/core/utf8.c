/* utf8: see utf8.h. */
#include <stdint.h>

#include "utf8.h"

/* Length of the valid sequence that starts s[0..len), or 0. */
static size_t seq_len(const unsigned char *s, size_t len)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;  /* a continuation byte, or 0xf8..0xff */
	}
	if (len < n)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t sw_utf8_invalid_at(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n;

	while (i < len && (n = seq_len(s + i, len - i)) > 0)
		i += n;
	return i;
}

bool sw_utf8_valid(const char *s, size_t len)
{
	return sw_utf8_invalid_at(s, len) == len;
}

int sw_utf8_sanitize(struct buf *out, const void *data, size_t len)
{
	const unsigned char *s = data;
	size_t i = 0;

	while (i < len) {
		size_t n = s[i] ? seq_len(s + i, len - i) : 0;
		int r = n ? buf_add(out, s + i, n) : buf_addc(out, '?');
		if (r < 0)
			return r;
		i += n ? n : 1;
	}
	return 0;
}

/* Bytes at the end of s[0..len) that could still become one valid
 * sequence when more bytes follow: 0 when there is none. */
static size_t incomplete_tail(const unsigned char *s, size_t len)
{
	for (size_t back = 1; back <= 3 && back <= len; back++) {
		unsigned c = s[len - back];
		if ((c & 0xc0) == 0x80)
			continue;  /* a continuation byte: look further back */
		size_t need = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
			      : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
		return need > back ? back : 0;
	}
	return 0;
}

int sw_utf8_escape(struct buf *out, const void *data, size_t len, bool more, size_t *used)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = data;
	size_t end = len - (more ? incomplete_tail(s, len) : 0);
	size_t i = 0;

	if (used)
		*used = end;
	while (i < end) {
		size_t n = s[i] ? seq_len(s + i, end - i) : 0;
		int r;
		if (n) {
			r = buf_add(out, s + i, n);
			i += n;
		} else {
			char e[4] = {'\\', 'x', hex[s[i] >> 4], hex[s[i] & 15]};
			r = buf_add(out, e, sizeof(e));
			i++;
		}
		if (r < 0)
			return r;
	}
	return 0;
}
