/* known_hosts lookup (source_known_hosts_check): pure, no I/O. */
#include "source.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/base64.h"
#include "core/buf.h"

/* Decodes base64 (padded, no whitespace inside) into out; returns the
 * length or -1. */
static long b64_decode(const char *s, size_t n, unsigned char **out)
{
	struct buf b = BUF_INIT;
	if (n == 0 || n > (1u << 20)) /* the length a key or a hash can have */
		return -1;
	long len = sw_base64_decode(&b, s, n, true);
	if (len < 0) {
		buf_release(&b);
		return -1;
	}
	*out = (unsigned char *)buf_detach(&b);
	return len;
}

/* "|1|salt|hash": HMAC-SHA1(salt, name) == hash */
static bool hashed_match(const char *pat, size_t n, const char *name)
{
	if (n < 4 || memcmp(pat, "|1|", 3) != 0)
		return false;
	const char *salt = pat + 3;
	const char *bar = memchr(salt, '|', n - 3);
	if (!bar)
		return false;
	unsigned char *sb = NULL, *hb = NULL;
	long sl = b64_decode(salt, (size_t)(bar - salt), &sb);
	long hl = b64_decode(bar + 1, (size_t)(pat + n - bar - 1), &hb);
	bool ok = false;
	if (sl > 0 && hl == 20) {
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int ml = 0;
		if (HMAC(EVP_sha1(), sb, (int)sl, (const unsigned char *)name, strlen(name), mac, &ml) &&
		    ml == 20 && memcmp(mac, hb, 20) == 0)
			ok = true;
	}
	free(sb);
	free(hb);
	return ok;
}

/* OpenSSH's host patterns: '*' and '?' only ('[' is literal, as in
 * "[host]:port"), case-insensitive. */
static bool glob(const char *p, const char *s)
{
	const char *star = NULL, *retry = NULL; /* linear: back up to the last '*' only */
	while (*s) {
		if (*p == '*') {
			star = p++;
			retry = s;
		} else if (*p && (*p == '?' || tolower((unsigned char)*p) == tolower((unsigned char)*s))) {
			p++;
			s++;
		} else if (star) {
			p = star + 1;
			s = ++retry;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return !*p;
}

/* Does the HOSTS field [p, p+n) name `name`? A negated match vetoes. */
static bool hosts_match(const char *p, size_t n, const char *name)
{
	if (n > 0 && p[0] == '|')
		return hashed_match(p, n, name);
	bool hit = false;
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && p[j] != ',')
			j++;
		bool neg = p[i] == '!';
		char *pat = xstrndup(p + i + neg, j - i - neg);
		bool m = pat[0] && glob(pat, name);
		free(pat);
		if (m && neg)
			return false;
		if (m)
			hit = true;
		i = j + 1;
	}
	return hit;
}

/* Splits off the next space-separated field of [*p, end). */
static bool field(const char **p, const char *end, const char **f, size_t *n)
{
	const char *s = *p;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	const char *e = s;
	while (e < end && *e != ' ' && *e != '\t')
		e++;
	*f = s;
	*n = (size_t)(e - s);
	*p = e;
	return e > s;
}

int source_known_hosts_check(const char *text, size_t len, const char *host, int port,
			     const unsigned char *key, size_t keylen)
{
	char name[300];
	if (port > 0 && port != 22)
		snprintf(name, sizeof(name), "[%s]:%d", host, port);
	else
		snprintf(name, sizeof(name), "%s", host);
	int result = 0;
	const char *end = text + len;
	for (const char *line = text; line < end;) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		const char *p = line, *f;
		size_t n;
		line = eol + 1;
		if (!field(&p, eol, &f, &n) || f[0] == '#')
			continue;
		bool revoked = false;
		if (f[0] == '@') {
			if (n == 8 && memcmp(f, "@revoked", 8) == 0)
				revoked = true;
			else
				continue; /* @cert-authority: not supported */
			if (!field(&p, eol, &f, &n))
				continue;
		}
		const char *hosts = f;
		size_t hn = n;
		const char *b64;
		size_t bn;
		if (!field(&p, eol, &f, &n) || !field(&p, eol, &b64, &bn))
			continue;
		while (bn > 0 && b64[bn - 1] == '\r')
			bn--;
		if (!hosts_match(hosts, hn, name))
			continue;
		unsigned char *blob = NULL;
		long bl = b64_decode(b64, bn, &blob);
		if (bl < 0)
			continue;
		bool same = (size_t)bl == keylen && memcmp(blob, key, keylen) == 0;
		free(blob);
		if (revoked && same)
			return -1;
		if (revoked)
			continue;
		if (same)
			result = 1;
		else if (result == 0)
			result = -1;
	}
	return result;
}
