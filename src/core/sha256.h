/*
 * sha256: the one SHA-256, as lower-case hex. Token hashes, spec hashes
 * (revision identity) and artifact digests all go through it, so that two
 * of them computed in different places compare equal.
 */
#ifndef SW_CORE_SHA256_H
#define SW_CORE_SHA256_H

#include <stddef.h>

/* Writes the SHA-256 of data[0..len) as 64 lower-case hex digits and a NUL
 * into out. Never fails (an OpenSSL failure is a programming error). */
void sw_sha256_hex(const void *data, size_t len, char out[65]);

#endif
