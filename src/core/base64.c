#include "base64.h"

#include "buf.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sw_base64_len(size_t len, bool pad)
{
	return pad ? (len + 2) / 3 * 4 : len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}

int sw_base64_encode(struct buf *out, const void *data, size_t len, bool pad)
{
	const unsigned char *p = data;
	size_t start = out->len;
	char q[4];

	for (size_t i = 0; i < len; i += 3) {
		size_t k = len - i < 3 ? len - i : 3;
		unsigned v = (unsigned)p[i] << 16 | (k > 1 ? (unsigned)p[i + 1] << 8 : 0) |
			     (k > 2 ? p[i + 2] : 0);
		q[0] = alphabet[v >> 18 & 63];
		q[1] = alphabet[v >> 12 & 63];
		q[2] = k > 1 ? alphabet[v >> 6 & 63] : '=';
		q[3] = k > 2 ? alphabet[v & 63] : '=';
		size_t w = pad ? 4 : k + 1;
		if (buf_add(out, q, w) < 0) {
			out->len = start;
			out->s[start] = '\0';
			return -1;
		}
	}
	return 0;
}

static int value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long sw_base64_decode(struct buf *out, const char *s, size_t n, bool pad)
{
	size_t start = out->len, npad = 0;

	if (pad) {
		if (n % 4)
			return -1;
		while (npad < 2 && npad < n && s[n - 1 - npad] == '=')
			npad++;
		n -= npad;
	}
	if (n % 4 == 1 || (pad && npad && n % 4 != 4 - npad))
		return -1;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = value_of(s[i]);
		if (v < 0)
			goto bad;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (buf_addc(out, (char)(acc >> bits & 0xff)) < 0)
				goto bad;
		}
	}
	/* the bits left over are padding and must be zero (canonical) */
	if (bits && (acc & ((1u << bits) - 1)))
		goto bad;
	return (long)(out->len - start);
bad:
	out->len = start;
	if (out->alloc)
		out->s[start] = '\0';
	return -1;
}
