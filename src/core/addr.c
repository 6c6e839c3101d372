/*
 * addr: "host:port" parsing and its canonical form. See addr.h.
 *
 * IPv4 is read here, not by inet_pton, so that what is accepted does not
 * depend on the C library (some accept "1.2.3", octal or leading zeros).
 * IPv6 goes through inet_pton, which reads every textual form, and comes
 * back out through inet_ntop, which writes the one canonical form.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"

#define HOST_MAX 64

/* Dotted quad, each octet 0..255 in decimal without leading zeros. */
static bool ipv4_read(const char *s, struct in_addr *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned octet = 0;
		const char *start;

		if (i > 0 && *s++ != '.')
			return false;
		start = s;
		while (*s >= '0' && *s <= '9' && s - start < 3)
			octet = octet * 10 + (unsigned)(*s++ - '0');
		if (s == start || octet > 255 || (s - start > 1 && *start == '0'))
			return false;
		v = v << 8 | octet;
	}
	if (*s)
		return false;
	out->s_addr = htonl(v);
	return true;
}

/* Decimal without leading zeros; 0 only when allowed. */
static bool port_read(const char *s, unsigned flags, uint16_t *out)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || strspn(s, "0123456789") != n || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (v > 65535 || (v == 0 && !(flags & SW_ADDR_PORT0)))
		return false;
	*out = (uint16_t)v;
	return true;
}

int sw_port_range_parse(const char *s, uint16_t *min, uint16_t *max)
{
	char low[8];
	const char *dash = strchr(s, '-');
	size_t n = dash ? (size_t)(dash - s) : strlen(s);
	uint16_t a, b;
	if (n >= sizeof(low))
		return -1;
	memcpy(low, s, n);
	low[n] = '\0';
	if (!port_read(low, 0, &a) || !port_read(dash ? dash + 1 : low, 0, &b) || a > b)
		return -1;
	*min = a;
	*max = b;
	return 0;
}

int sw_addr_parse(struct sw_addr *out, const char *s, unsigned flags, struct sw_err *err)
{
	char host[HOST_MAX], ip[INET6_ADDRSTRLEN];
	const char *port, *h = s;
	size_t hl;
	bool bracketed = s[0] == '[';

	memset(out, 0, sizeof(*out));
	if (bracketed) {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return sw_errf(err, -1, "\"%s\": expected \"[IPv6]:port\", e.g. \"[::1]:8080\"", s);
		h = s + 1;
		hl = (size_t)(end - h);
		port = end + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon)
			return sw_errf(err, -1, "\"%s\": expected \"host:port\", e.g. \"127.0.0.1:8080\"", s);
		hl = (size_t)(colon - s);
		port = colon + 1;
		if (memchr(s, ':', hl))
			return sw_errf(err, -1,
				       "\"%s\": an IPv6 address must be in brackets, e.g. \"[::1]:8080\"", s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return sw_errf(err, -1, "\"%s\": the host must be an IP address or \"localhost\"", s);
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (!port_read(port, flags, &out->port))
		return sw_errf(err, -1, "\"%s\": the port must be a number from %d to 65535", s,
			       flags & SW_ADDR_PORT0 ? 0 : 1);

	if (bracketed) {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&out->sa;
		if (inet_pton(AF_INET6, host, &sa->sin6_addr) != 1)
			return sw_errf(err, -1, "\"%s\": \"%s\" is not an IPv6 address", s, host);
		sa->sin6_family = AF_INET6;
		sa->sin6_port = htons(out->port);
		out->family = AF_INET6;
		out->sa_len = sizeof(*sa);
		inet_ntop(AF_INET6, &sa->sin6_addr, ip, sizeof(ip));
		snprintf(out->text, sizeof(out->text), "[%s]:%u", ip, (unsigned)out->port);
		return 0;
	}

	struct sockaddr_in *sa = (struct sockaddr_in *)&out->sa;
	if (strcasecmp(host, "localhost") == 0) {
		sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (!ipv4_read(host, &sa->sin_addr)) {
		if (strspn(host, "0123456789.") == hl)
			return sw_errf(err, -1,
				       "\"%s\": \"%s\" is not an IPv4 address (four numbers 0-255 "
				       "without leading zeros)", s, host);
		return sw_errf(err, -1, "\"%s\": the host must be an IP address or \"localhost\"", s);
	}
	sa->sin_family = AF_INET;
	sa->sin_port = htons(out->port);
	out->family = AF_INET;
	out->sa_len = sizeof(*sa);
	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(out->text, sizeof(out->text), "%s:%u", ip, (unsigned)out->port);
	return 0;
}

int sw_addr_canonical(char out[SW_ADDR_MAX], const char *s, unsigned flags, struct sw_err *err)
{
	struct sw_addr a;

	if (sw_addr_parse(&a, s, flags, err) < 0)
		return -1;
	memcpy(out, a.text, SW_ADDR_MAX);
	return 0;
}

bool sw_addr_is_canonical(const char *s, unsigned flags)
{
	struct sw_addr a;

	return sw_addr_parse(&a, s, flags, NULL) == 0 && strcmp(a.text, s) == 0;
}

bool sw_addr_is_loopback(const struct sw_addr *a)
{
	if (a->family == AF_INET) {
		const struct sockaddr_in *sa = (const struct sockaddr_in *)&a->sa;
		return (ntohl(sa->sin_addr.s_addr) >> 24) == 127;
	}
	if (a->family == AF_INET6) {
		const struct sockaddr_in6 *sa = (const struct sockaddr_in6 *)&a->sa;
		return IN6_IS_ADDR_LOOPBACK(&sa->sin6_addr);
	}
	return false;
}
