/*
 * addr: the one parser of "host:port" addresses, with one canonical form.
 * Documents (route.listen, previewListen), the proxy's route table and
 * listeners, the API's --api address and its client all read addresses
 * through it, so that what one accepts the others accept too: a listener
 * that the spec takes is a listener the proxy can open.
 *
 * Accepted:
 *	127.0.0.1:8080        an IPv4 literal (no leading zeros in octets)
 *	[::1]:8080            an IPv6 literal in brackets (any form inet_pton reads)
 *	localhost:8080        the loopback name, read as 127.0.0.1 (never looked up)
 *	0.0.0.0:8080, [::]:8080  any address
 * The port is 1..65535 in decimal without leading zeros (0 only with
 * SW_ADDR_PORT0: "pick a free port"). Names other than localhost are
 * refused: a listener is bound, not resolved.
 *
 * Canonical form: IPv4 as dotted quad, IPv6 as inet_ntop writes it, in
 * brackets; localhost becomes 127.0.0.1. Two addresses are the same
 * listener exactly when their canonical texts are equal.
 *
 * Pure: no I/O, no resolver.
 */
#ifndef SW_CORE_ADDR_H
#define SW_CORE_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core.h"

#define SW_ADDR_PORT0 0x1  /* port 0 is allowed */

/* "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535" + NUL */
#define SW_ADDR_MAX 56

struct sw_addr {
	int family;                  /* AF_INET or AF_INET6 */
	uint16_t port;
	struct sockaddr_storage sa;  /* ready for bind/connect */
	socklen_t sa_len;
	char text[SW_ADDR_MAX];      /* canonical form */
};

/*
 * Parses s. Returns 0 and fills *out, or -1 with err saying what is wrong
 * in words a user can act on, quoting s:
 *	"localhost:http": the port must be a number from 1 to 65535
 *	"example.com:80": the host must be an IP address or "localhost"
 *	"8080": expected "host:port", e.g. "127.0.0.1:8080"
 */
int sw_addr_parse(struct sw_addr *out, const char *s, unsigned flags, struct sw_err *err);

/* Writes the canonical form of s into out (SW_ADDR_MAX bytes). Returns 0,
 * or -1 with err when s does not parse. */
int sw_addr_canonical(char out[SW_ADDR_MAX], const char *s, unsigned flags, struct sw_err *err);

/* True when s parses and is already in canonical form. */
bool sw_addr_is_canonical(const char *s, unsigned flags);

/*
 * A range of ports "MIN-MAX" (each 1..65535 in decimal without leading
 * zeros, MIN <= MAX; "8080" alone is MIN = MAX): `serve --port-range`,
 * an Environment's ports and listen patterns. Returns 0, or -1 (nothing
 * written). Pure.
 */
int sw_port_range_parse(const char *s, uint16_t *min, uint16_t *max);

/* True for 127.0.0.0/8 and ::1. */
bool sw_addr_is_loopback(const struct sw_addr *a);

#endif
