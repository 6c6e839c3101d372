/*
 * age: the age file format, version 1 (age-encryption.org/v1, the C2SP
 * specification), with X25519 recipients, built on OpenSSL 3. Secret
 * values live in git as age files (docs/secrets.md): `slipway secret`
 * writes them, the daemon opens them when it starts an instance, and
 * Debian's `age` and `age-keygen` read and write the same files and keys.
 *
 * Keys. An identity is a 32-byte X25519 secret, written in Bech32 with
 * the prefix "AGE-SECRET-KEY-1" (upper case, 74 characters); its
 * recipient is the public key X25519(secret, 9), written "age1..." (lower
 * case, 62 characters). An identity file holds identities, one a line;
 * lines that are empty or start with '#' are skipped (age-keygen writes
 * "# created: ..." and "# public key: age1..." above the key). A
 * recipients file (`age -R`) is the same with recipients.
 *
 * A file. A text header, then the binary payload:
 *
 *	age-encryption.org/v1
 *	-> X25519 <ephemeral share, base64>        one stanza per recipient
 *	<the wrapped file key, base64, lines of 64, ended by a shorter line>
 *	--- <HMAC-SHA-256 of the header up to "---", base64>
 *	<16-byte nonce><ChaCha20-Poly1305 chunks of 64 KiB + 16-byte tag>
 *
 * The 16-byte file key is random per file; each stanza wraps it for one
 * recipient (X25519 with a fresh ephemeral key, HKDF-SHA-256, ChaCha20-
 * Poly1305). The header MAC's key and the payload key are HKDF-SHA-256 of
 * the file key ("header"; the nonce and "payload"). Chunk i's nonce is i
 * as 11 big-endian bytes and a last byte of 1 on the final chunk, 0
 * before it; the final chunk is empty only when the whole payload is.
 * Base64 is unpadded and must be canonical.
 *
 * Armor: the file as PEM (RFC 7468, strict): "-----BEGIN AGE ENCRYPTED
 * FILE-----", base64 with padding in lines of 64 (the last one 1 to 64),
 * "-----END AGE ENCRYPTED FILE-----". LF or CRLF line ends; whitespace
 * before and after the block, and nothing else, is allowed.
 *
 * Parsing is strict and every failure says what is wrong, never with key
 * material or plaintext in the message. Stanzas of other types are
 * skipped, as the specification says (a file may be for several kinds of
 * recipient), except scrypt (passphrase) stanzas, which must stand alone
 * and are refused: Slipway opens files with X25519 identities only.
 *
 * Pure: no I/O but age_identities_load, any thread; randomness from
 * OpenSSL's RAND_bytes. The official test vectors (C2SP/CCTV's age
 * testkit) run in tests/unit/test_age.c; tests/fuzz/fuzz_age.c fuzzes the
 * decryptor and the key parsers.
 */
#ifndef SW_CORE_AGE_H
#define SW_CORE_AGE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "core.h"

#define AGE_KEY_LEN 32
/* "age1" + 52 data + 6 checksum characters, and a NUL */
#define AGE_RECIPIENT_SIZE 63
/* "AGE-SECRET-KEY-1" + 52 + 6, and a NUL */
#define AGE_IDENTITY_SIZE 75

#define AGE_ARMOR_BEGIN "-----BEGIN AGE ENCRYPTED FILE-----"
#define AGE_ARMOR_END "-----END AGE ENCRYPTED FILE-----"

struct age_recipient {
	unsigned char pub[AGE_KEY_LEN]; /* X25519 public key */
};

struct age_identity {
	unsigned char secret[AGE_KEY_LEN]; /* X25519 private key */
	unsigned char pub[AGE_KEY_LEN];    /* its public key */
};

/* The keys of an identity file, in file order. */
struct age_identities {
	struct age_identity *keys;
	size_t n;
};

/* Parses "age1..." (lower case, as age writes it; upper case too, as
 * Bech32 allows). -1 with err: "\"age1x\" is not an age recipient: ...". */
int age_recipient_parse(struct age_recipient *out, const char *s, struct sw_err *err);
/* Writes the "age1..." form (AGE_RECIPIENT_SIZE bytes with the NUL). */
void age_recipient_format(const struct age_recipient *r, char out[AGE_RECIPIENT_SIZE]);

/* Parses "AGE-SECRET-KEY-1..." and computes its public key. The message
 * of a failure never holds the text. */
int age_identity_parse(struct age_identity *out, const char *s, struct sw_err *err);
/* Writes the "AGE-SECRET-KEY-1..." form; the caller cleanses out. */
void age_identity_format(const struct age_identity *id, char out[AGE_IDENTITY_SIZE]);
/* A new random identity. -1 only when OpenSSL has no randomness. */
int age_identity_generate(struct age_identity *out, struct sw_err *err);
/* Wipes the secret. */
void age_identity_cleanse(struct age_identity *id);

/*
 * Reads an identity file's text (`file` names it in messages): 0 with
 * every key, or -1 with "FILE:LINE: ..." for the first line that is not
 * an identity, or "FILE: holds no identity". Adds to what out holds
 * (start from {0}); free with age_identities_release.
 */
int age_identities_parse(struct age_identities *out, const char *text, size_t len,
			 const char *file, struct sw_err *err);
/* age_identities_parse of the file at path (at most 1 MiB); "cannot
 * read \"PATH\": ..." when it cannot be read. */
int age_identities_load(struct age_identities *out, const char *path, struct sw_err *err);
/* Wipes and frees the keys; ids is {0} after. */
void age_identities_release(struct age_identities *ids);

/*
 * Reads a recipients file's text, as `age -R` does: one "age1..." a line,
 * empty lines and '#' lines skipped. Appends to *out (realloc'd; *n
 * counts). -1 with "FILE:LINE: ..." or "FILE: holds no recipient".
 */
int age_recipients_parse(struct age_recipient **out, size_t *n, const char *text, size_t len,
			 const char *file, struct sw_err *err);

/*
 * Encrypts plain[0..len) to every recipient (n >= 1) and appends the age
 * file to out, armored when `armor`. -1 with err when out's cap is
 * reached or a recipient is not a usable X25519 key (a low-order point).
 */
int age_encrypt(struct buf *out, const struct age_recipient *rcpts, size_t n, const void *plain,
		size_t len, bool armor, struct sw_err *err);

/*
 * Decrypts an age file (armored or binary; armor is recognised by
 * "-----BEGIN" after leading whitespace) with the first identity that
 * opens one of its X25519 stanzas, and appends the plaintext to out.
 * Returns 0, or:
 *   SW_ENOTFOUND  "no identity matches any recipient of this value"
 *   SW_EINVAL     not an age file: bad armor, a bad header (the message
 *                 says which line and what), a scrypt stanza
 *   -1            the header's MAC does not match, the payload does not
 *                 authenticate or is truncated, out's cap
 * On a payload failure out keeps the chunks that authenticated before it
 * (what age's testkit checks); callers that want all or nothing drop out.
 * The caller cleanses and frees out's plaintext.
 */
int age_decrypt(struct buf *out, const struct age_identities *ids, const void *in, size_t len,
		struct sw_err *err);

/*
 * Whether one of ids opens the file: age_decrypt up to the payload (a
 * stanza unwrapped, the header's MAC checked), which it does not read,
 * so nothing of the plaintext is ever in memory. 0, or age_decrypt's
 * codes (SW_ENOTFOUND: no identity matches). For apply's check that a
 * value is for an environment's keys.
 */
int age_opens(const struct age_identities *ids, const void *in, size_t len, struct sw_err *err);

/*
 * Checks an age file without a key, as apply checks a committed value:
 * armor (required when need_armor), the header's syntax, at least one
 * well-formed X25519 stanza, no scrypt stanza, and a payload with its
 * nonce and at least one chunk's worth of bytes. 0, or SW_EINVAL with
 * the reason. Says nothing of who can open it.
 */
int age_check(const void *in, size_t len, bool need_armor, struct sw_err *err);

#endif
