/* age v1 with X25519 recipients (age.h). */
#include "age.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "base64.h"
#include "paths.h"

#define VERSION_LINE "age-encryption.org/v1\n"
#define X25519_INFO "age-encryption.org/v1/X25519"
#define FILE_KEY_LEN 16
#define NONCE_LEN 16
#define TAG_LEN 16
#define CHUNK (64 * 1024)
#define ENC_CHUNK (CHUNK + TAG_LEN)
#define MAX_STANZAS 1024
#define KEYFILE_MAX (1024 * 1024)

/* ---- Bech32 (BIP 173, without its length limit) ------------------------ */

static const char bech32_charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t bech32_polymod_step(uint32_t chk, unsigned v)
{
	static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
	uint32_t top = chk >> 25;
	chk = (chk & 0x1ffffff) << 5 ^ v;
	for (int i = 0; i < 5; i++)
		if (top >> i & 1)
			chk ^= gen[i];
	return chk;
}

/* The checksum state after the lower-case hrp, expanded as BIP 173 says. */
static uint32_t bech32_hrp_state(const char *hrp, size_t n)
{
	uint32_t chk = 1;
	for (size_t i = 0; i < n; i++)
		chk = bech32_polymod_step(chk, (unsigned)(hrp[i] | 0x20) >> 5);
	chk = bech32_polymod_step(chk, 0);
	for (size_t i = 0; i < n; i++)
		chk = bech32_polymod_step(chk, (unsigned)(hrp[i] | 0x20) & 31);
	return chk;
}

/* hrp as given (its case is the output's); 32 bytes of data. */
static void bech32_encode(char *out, const char *hrp, const unsigned char data[AGE_KEY_LEN],
			  bool upper)
{
	size_t hn = strlen(hrp), o = 0, nv = 0;
	unsigned char v[64];
	unsigned acc = 0;
	int bits = 0;

	for (size_t i = 0; i < AGE_KEY_LEN; i++) {
		acc = acc << 8 | data[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			v[nv++] = acc >> bits & 31;
		}
	}
	if (bits)
		v[nv++] = acc << (5 - bits) & 31;
	uint32_t chk = bech32_hrp_state(hrp, hn);
	for (size_t i = 0; i < nv; i++)
		chk = bech32_polymod_step(chk, v[i]);
	for (int i = 0; i < 6; i++)
		chk = bech32_polymod_step(chk, 0);
	chk ^= 1;
	memcpy(out, hrp, hn);
	o = hn;
	out[o++] = '1';
	for (size_t i = 0; i < nv; i++)
		out[o++] = bech32_charset[v[i]];
	for (int i = 0; i < 6; i++)
		out[o++] = bech32_charset[chk >> (5 * (5 - i)) & 31];
	out[o] = '\0';
	for (size_t i = 0; upper && i < o; i++)
		if (out[i] >= 'a' && out[i] <= 'z')
			out[i] = (char)(out[i] - 32);
}

/*
 * Decodes a Bech32 string whose human-readable part is `hrp` (compared
 * without case) into 32 bytes. Returns NULL, or what is wrong.
 */
static const char *bech32_decode(unsigned char out[AGE_KEY_LEN], const char *s, const char *hrp)
{
	size_t n = strlen(s), hn = strlen(hrp);
	bool lower = false, upper = false;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < 33 || s[i] > 126)
			return "it holds a character that is not printable ASCII";
		lower |= s[i] >= 'a' && s[i] <= 'z';
		upper |= s[i] >= 'A' && s[i] <= 'Z';
	}
	if (lower && upper)
		return "it mixes upper and lower case";
	const char *sep = strrchr(s, '1');
	if (!sep || (size_t)(sep - s) != hn || strncasecmp(s, hrp, hn) != 0)
		return "its prefix is wrong";
	const char *d = sep + 1;
	size_t dn = n - hn - 1;
	if (dn < 6)
		return "it is too short";
	uint32_t chk = bech32_hrp_state(s, hn);
	unsigned acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < dn; i++) {
		const char *c = strchr(bech32_charset, d[i] | 0x20);
		if (!c || !d[i])
			return "it holds a character Bech32 does not use";
		unsigned v = (unsigned)(c - bech32_charset);
		chk = bech32_polymod_step(chk, v);
		if (i + 6 >= dn)
			continue; /* the checksum */
		acc = acc << 5 | v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (o == AGE_KEY_LEN)
				return "its key is longer than 32 bytes";
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (chk != 1)
		return "its checksum is wrong (a character is mistyped or missing)";
	if (o != AGE_KEY_LEN || bits >= 5 || (acc & ((1u << bits) - 1)))
		return "its key is not 32 bytes";
	return NULL;
}

/* ---- primitives ------------------------------------------------------ */

/* X25519(secret, peer), or the public key when peer is NULL. 0, or -1
 * when OpenSSL refuses (an all-zero result included). */
static int x25519(unsigned char out[AGE_KEY_LEN], const unsigned char secret[AGE_KEY_LEN],
		  const unsigned char *peer)
{
	EVP_PKEY *sk = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, secret, AGE_KEY_LEN);
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t len = AGE_KEY_LEN;
	int rc = -1;

	if (!sk)
		goto out;
	if (!peer) {
		rc = EVP_PKEY_get_raw_public_key(sk, out, &len) == 1 && len == AGE_KEY_LEN ? 0 : -1;
		goto out;
	}
	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, AGE_KEY_LEN);
	ctx = pk ? EVP_PKEY_CTX_new(sk, NULL) : NULL;
	if (ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, pk) == 1 &&
	    EVP_PKEY_derive(ctx, out, &len) == 1 && len == AGE_KEY_LEN)
		rc = 0;
	static const unsigned char zero[AGE_KEY_LEN];
	if (rc == 0 && CRYPTO_memcmp(out, zero, AGE_KEY_LEN) == 0)
		rc = -1; /* a low-order point: the specification says abort */
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(sk);
	ERR_clear_error();
	return rc;
}

/* HKDF-SHA-256 to 32 bytes. Never fails but for a broken OpenSSL. */
static void hkdf(unsigned char out[32], const void *ikm, size_t ikm_len, const void *salt,
		 size_t salt_len, const char *info)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[5], *q = p;
	static const unsigned char empty[1];

	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						 salt_len ? (void *)salt : (void *)empty, salt_len);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
	*q = OSSL_PARAM_construct_end();
	SW_ASSERT(ctx && EVP_KDF_derive(ctx, out, 32, p) == 1);
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
}

/* ChaCha20-Poly1305 with a 12-byte nonce and no associated data: seals
 * in[0..len) into out[0..len+16), or opens in[0..len) (len >= 16) into
 * out[0..len-16). 0, or -1 when opening fails to authenticate. */
static int aead(bool seal, unsigned char *out, const unsigned char key[32],
		const unsigned char nonce[12], const unsigned char *in, size_t len)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	size_t n = seal ? len : len - TAG_LEN;
	int w = 0, rc = -1;

	SW_ASSERT(ctx && (seal || len >= TAG_LEN) && n <= INT32_MAX);
	if (EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, nonce, seal) != 1)
		goto out;
	if (!seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN,
					 (void *)(in + n)) != 1)
		goto out;
	if (n && EVP_CipherUpdate(ctx, out, &w, in, (int)n) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + w, &w) != 1)
		goto out;
	if (seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + n) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

static void header_mac(unsigned char out[32], const unsigned char file_key[FILE_KEY_LEN],
		       const void *header, size_t len)
{
	unsigned char key[32];
	unsigned int ml = 0;

	hkdf(key, file_key, FILE_KEY_LEN, NULL, 0, "header");
	SW_ASSERT(HMAC(EVP_sha256(), key, sizeof(key), header, len, out, &ml) && ml == 32);
	OPENSSL_cleanse(key, sizeof(key));
}

/* ---- keys ------------------------------------------------------------ */

int age_recipient_parse(struct age_recipient *out, const char *s, struct sw_err *err)
{
	const char *why = strncasecmp(s, "age1", 4) != 0 ? "it does not start with \"age1\""
						       : bech32_decode(out->pub, s, "age");
	if (why)
		return sw_errf(err, SW_EINVAL, "\"%.80s\" is not an age recipient (age1...): %s", s, why);
	return 0;
}

void age_recipient_format(const struct age_recipient *r, char out[AGE_RECIPIENT_SIZE])
{
	bech32_encode(out, "age", r->pub, false);
}

int age_identity_parse(struct age_identity *out, const char *s, struct sw_err *err)
{
	const char *why = strncasecmp(s, "AGE-SECRET-KEY-1", 16) != 0
				  ? "it does not start with \"AGE-SECRET-KEY-1\""
				  : bech32_decode(out->secret, s, "AGE-SECRET-KEY-");
	if (!why && x25519(out->pub, out->secret, NULL) < 0)
		why = "OpenSSL refuses it as an X25519 key";
	if (why) {
		age_identity_cleanse(out);
		return sw_errf(err, SW_EINVAL, "not an age identity (AGE-SECRET-KEY-1...): %s", why);
	}
	return 0;
}

void age_identity_format(const struct age_identity *id, char out[AGE_IDENTITY_SIZE])
{
	bech32_encode(out, "age-secret-key-", id->secret, true);
}

int age_identity_generate(struct age_identity *out, struct sw_err *err)
{
	if (RAND_bytes(out->secret, AGE_KEY_LEN) != 1 || x25519(out->pub, out->secret, NULL) < 0) {
		age_identity_cleanse(out);
		return sw_errf(err, -1, "cannot make a key: OpenSSL has no randomness");
	}
	return 0;
}

void age_identity_cleanse(struct age_identity *id)
{
	OPENSSL_cleanse(id, sizeof(*id));
}

/*
 * Calls line() for each line of a key file that is neither empty nor a
 * '#' comment (surrounding spaces and a CR trimmed), with its 1-based
 * number. The line is copied into a buffer that is cleansed after.
 */
static int key_lines(const char *text, size_t len, const char *file, void *data,
		     int (*line)(const char *s, size_t lineno, void *data, struct sw_err *err),
		     struct sw_err *err)
{
	char tmp[256];
	size_t lineno = 0;
	int rc = 0;

	for (size_t i = 0; i < len && rc == 0;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - text) : len, b = i;
		lineno++;
		i = e + 1;
		while (b < e && (text[b] == ' ' || text[b] == '\t'))
			b++;
		while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\t' || text[e - 1] == '\r'))
			e--;
		if (b == e || text[b] == '#')
			continue;
		if (e - b >= sizeof(tmp) || memchr(text + b, '\0', e - b)) {
			rc = sw_errf(err, SW_EINVAL, "%s:%zu: not a key (a line of %zu bytes)", file, lineno,
				     e - b);
			break;
		}
		memcpy(tmp, text + b, e - b);
		tmp[e - b] = '\0';
		struct sw_err lerr = {0};
		if (line(tmp, lineno, data, &lerr) < 0)
			rc = sw_errf(err, SW_EINVAL, "%s:%zu: %s", file, lineno, lerr.msg);
	}
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return rc;
}

static int identity_line(const char *s, size_t lineno, void *data, struct sw_err *err)
{
	struct age_identities *ids = data;
	struct age_identity id;
	if (age_identity_parse(&id, s, err) < 0)
		return -1;
	ids->keys = xrealloc(ids->keys, (ids->n + 1) * sizeof(*ids->keys));
	ids->keys[ids->n++] = id;
	age_identity_cleanse(&id);
	return 0;
}

int age_identities_parse(struct age_identities *out, const char *text, size_t len,
			 const char *file, struct sw_err *err)
{
	size_t before = out->n;
	int rc = key_lines(text, len, file, out, identity_line, err);
	if (rc < 0)
		return rc;
	if (out->n == before)
		return sw_errf(err, SW_EINVAL, "%s: holds no identity (AGE-SECRET-KEY-1...)", file);
	return 0;
}

int age_identities_load(struct age_identities *out, const char *path, struct sw_err *err)
{
	struct buf text = BUF_INIT;
	int rc = sw_read_file(&text, path, KEYFILE_MAX, err);
	if (rc == 0)
		rc = age_identities_parse(out, text.s ? text.s : "", text.len, path, err);
	if (text.alloc)
		OPENSSL_cleanse(text.s, text.alloc);
	buf_release(&text);
	return rc;
}

void age_identities_release(struct age_identities *ids)
{
	if (ids->keys)
		OPENSSL_cleanse(ids->keys, ids->n * sizeof(*ids->keys));
	free(ids->keys);
	ids->keys = NULL;
	ids->n = 0;
}

struct rcpt_list {
	struct age_recipient **out;
	size_t *n;
};

static int recipient_line(const char *s, size_t lineno, void *data, struct sw_err *err)
{
	struct rcpt_list *l = data;
	struct age_recipient r;
	if (age_recipient_parse(&r, s, err) < 0)
		return -1;
	*l->out = xrealloc(*l->out, (*l->n + 1) * sizeof(**l->out));
	(*l->out)[(*l->n)++] = r;
	return 0;
}

int age_recipients_parse(struct age_recipient **out, size_t *n, const char *text, size_t len,
			 const char *file, struct sw_err *err)
{
	struct rcpt_list l = {out, n};
	size_t before = *n;
	int rc = key_lines(text, len, file, &l, recipient_line, err);
	if (rc < 0)
		return rc;
	if (*n == before)
		return sw_errf(err, SW_EINVAL, "%s: holds no recipient (age1...)", file);
	return 0;
}

/* ---- the header ------------------------------------------------------ */

struct stanza {
	const char *args[8]; /* into the header text, each ended by ' ' or '\n' */
	size_t arglen[8];
	size_t nargs;
	size_t line;          /* of its "->" line, 1-based */
	unsigned char body[32];
	size_t body_len;      /* bodies longer than 32 bytes are kept only as long */
	bool x25519;          /* a well-formed X25519 stanza */
};

struct header {
	struct stanza *st;
	size_t n;
	size_t nx25519;
	size_t mac_at;        /* where "---" starts */
	unsigned char mac[32];
	size_t end;           /* where the payload starts */
};

static void header_release(struct header *h)
{
	free(h->st);
	memset(h, 0, sizeof(*h));
}

static bool is_b64char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

static bool arg_is(const struct stanza *s, size_t i, const char *word)
{
	return i < s->nargs && s->arglen[i] == strlen(word) && memcmp(s->args[i], word, s->arglen[i]) == 0;
}

/* Decodes exactly `want` bytes of canonical unpadded base64. */
static bool b64_exact(unsigned char *out, const char *s, size_t n, size_t want)
{
	struct buf b = BUF_INIT;
	bool ok = n == sw_base64_len(want, false) && sw_base64_decode(&b, s, n, false) == (long)want;
	if (ok)
		memcpy(out, b.s, want);
	buf_release(&b);
	return ok;
}

/* Checks a stanza its type names: X25519 (two arguments, a 32-byte share,
 * a 32-byte body) and scrypt (refused). Others are skipped. */
static int stanza_check(struct stanza *s, struct sw_err *err)
{
	if (arg_is(s, 0, "scrypt"))
		return sw_errf(err, SW_EINVAL, "line %zu: a passphrase (scrypt) stanza: Slipway opens age "
			       "files made for X25519 recipients (age1...) only", s->line);
	if (!arg_is(s, 0, "X25519"))
		return 0;
	unsigned char share[32];
	if (s->nargs != 2)
		return sw_errf(err, SW_EINVAL, "line %zu: an X25519 stanza has %zu arguments, not 2",
			       s->line, s->nargs);
	if (!b64_exact(share, s->args[1], s->arglen[1], 32))
		return sw_errf(err, SW_EINVAL, "line %zu: the X25519 share is not 32 bytes in canonical "
			       "base64", s->line);
	if (s->body_len != 32)
		return sw_errf(err, SW_EINVAL, "line %zu: the X25519 stanza's body is %zu bytes, not 32",
			       s->line, s->body_len);
	s->x25519 = true;
	return 0;
}

/*
 * Parses the binary header at the start of in[0..len). Messages say
 * "bad age header: line N: ...".
 */
static int header_parse(struct header *h, const char *in, size_t len, struct sw_err *err)
{
	struct sw_err e = {0};
	struct buf body = BUF_INIT;
	size_t pos = 0, line = 1;
	int rc = SW_EINVAL;

	memset(h, 0, sizeof(*h));
	if (len < strlen(VERSION_LINE) || memcmp(in, VERSION_LINE, strlen(VERSION_LINE)) != 0) {
		if (len >= 19 && memcmp(in, "age-encryption.org/", 19) == 0) {
			const char *nl = memchr(in, '\n', len);
			size_t vn = (nl ? (size_t)(nl - in) : len) - 19;
			bool shown = vn <= 16;
			for (size_t i = 0; shown && i < vn; i++)
				shown = in[19 + i] > 32 && in[19 + i] < 127;
			if (shown)
				sw_errf(&e, rc, "its version \"%.*s\" is not supported (only v1)", (int)vn, in + 19);
			else
				sw_errf(&e, rc, "its version line is not \"age-encryption.org/v1\"");
		} else {
			sw_errf(&e, rc, "it does not start with \"age-encryption.org/v1\"");
		}
		goto out;
	}
	pos = strlen(VERSION_LINE);
	line = 2;
	for (;;) {
		const char *l = in + pos;
		const char *nl = memchr(l, '\n', len - pos);
		if (!nl) {
			sw_errf(&e, rc, "line %zu: the header ends before its \"---\" line", line);
			goto out;
		}
		size_t ln = (size_t)(nl - l);
		if (ln >= 3 && memcmp(l, "---", 3) == 0) {
			if (h->n == 0) {
				sw_errf(&e, rc, "line %zu: the header has no recipient stanza", line);
				goto out;
			}
			if (ln != 4 + 43 || l[3] != ' ' || !b64_exact(h->mac, l + 4, 43, 32)) {
				sw_errf(&e, rc, "line %zu: the MAC line is not \"--- \" and 43 characters of "
					"canonical base64", line);
				goto out;
			}
			h->mac_at = pos;
			h->end = pos + ln + 1;
			break;
		}
		if (ln < 3 || memcmp(l, "-> ", 3) != 0) {
			sw_errf(&e, rc, "line %zu: expected a stanza (\"-> \") or the MAC (\"--- \")", line);
			goto out;
		}
		if (h->n == MAX_STANZAS) {
			sw_errf(&e, rc, "line %zu: more than %d stanzas", line, MAX_STANZAS);
			goto out;
		}
		h->st = xrealloc(h->st, (h->n + 1) * sizeof(*h->st));
		struct stanza *s = &h->st[h->n++];
		memset(s, 0, sizeof(*s));
		s->line = line;
		for (size_t i = 3; i <= ln;) {
			size_t k = i;
			while (k < ln && l[k] != ' ')
				k++;
			if (k == i) {
				sw_errf(&e, rc, "line %zu: a stanza argument is empty", line);
				goto out;
			}
			for (size_t j = i; j < k; j++)
				if (l[j] < 33 || l[j] > 126) {
					sw_errf(&e, rc, "line %zu: a stanza argument holds a character that is "
						"not printable ASCII", line);
					goto out;
				}
			if (s->nargs < 8) {
				s->args[s->nargs] = l + i;
				s->arglen[s->nargs] = k - i;
			}
			s->nargs++;
			i = k + 1;
		}
		pos += ln + 1;
		line++;
		/* the body: lines of 64 base64 characters, ended by a shorter one */
		buf_reset(&body);
		for (;;) {
			const char *b = in + pos;
			const char *bnl = memchr(b, '\n', len - pos);
			if (!bnl) {
				sw_errf(&e, rc, "line %zu: the header ends inside a stanza's body", line);
				goto out;
			}
			size_t bn = (size_t)(bnl - b);
			for (size_t j = 0; j < bn; j++)
				if (!is_b64char(b[j]) || j >= 64) {
					sw_errf(&e, rc, "line %zu: a stanza's body line %s", line,
						j >= 64 ? "is longer than 64 characters"
							: "holds a character that is not base64");
					goto out;
				}
			buf_add(&body, b, bn);
			pos += bn + 1;
			line++;
			if (bn < 64)
				break;
		}
		struct buf dec = BUF_INIT;
		long dn = sw_base64_decode(&dec, body.s ? body.s : "", body.len, false);
		if (dn < 0) {
			buf_release(&dec);
			sw_errf(&e, rc, "line %zu: a stanza's body is not canonical base64", line - 1);
			goto out;
		}
		s->body_len = (size_t)dn;
		if (dn > 0) /* an empty body leaves dec.s NULL */
			memcpy(s->body, dec.s, dn < 32 ? (size_t)dn : 32);
		buf_release(&dec);
		if (stanza_check(s, &e) < 0)
			goto out;
		h->nx25519 += s->x25519;
	}
	for (size_t i = 0; i < h->n; i++)
		if (arg_is(&h->st[i], 0, "scrypt") && h->n > 1) {
			sw_errf(&e, rc, "a scrypt stanza must be the only one");
			goto out;
		}
	rc = 0;
out:
	buf_release(&body);
	if (rc < 0) {
		sw_errf(err, rc, "bad age header: %s", e.msg);
		header_release(h);
	}
	return rc;
}

/* ---- armor ------------------------------------------------------------ */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool armored(const char *in, size_t len)
{
	size_t i = 0;
	while (i < len && is_space(in[i]))
		i++;
	return len - i >= 10 && memcmp(in + i, "-----BEGIN", 10) == 0;
}

/* The end of the line that starts at i (its LF or CRLF not included), and
 * where the next line starts; false when no line end follows. */
static bool next_line(const char *in, size_t len, size_t i, size_t *end, size_t *next)
{
	const char *nl = memchr(in + i, '\n', len - i);
	if (!nl)
		return false;
	*end = (size_t)(nl - in);
	*next = *end + 1;
	if (*end > i && in[*end - 1] == '\r')
		(*end)--;
	return true;
}

static int dearmor(struct buf *out, const char *in, size_t len, struct sw_err *err)
{
	static const char begin[] = AGE_ARMOR_BEGIN, end[] = AGE_ARMOR_END;
	size_t i = 0, e = 0, next = 0, lineno = 1;
	struct buf b64 = BUF_INIT;
	const char *why = NULL;
	bool last_short = false;

	while (i < len && is_space(in[i])) {
		lineno += in[i] == '\n';
		i++;
	}
	if (!next_line(in, len, i, &e, &next) || e - i != strlen(begin) ||
	    memcmp(in + i, begin, e - i) != 0) {
		why = "its first line is not \"" AGE_ARMOR_BEGIN "\"";
		goto out;
	}
	for (;;) {
		i = next;
		lineno++;
		bool has_end = next_line(in, len, i, &e, &next);
		if (!has_end) {
			e = len;
			next = len;
		}
		if (e - i == strlen(end) && memcmp(in + i, end, e - i) == 0)
			break;
		if (!has_end) {
			why = "it has no \"" AGE_ARMOR_END "\" line";
			goto out;
		}
		size_t n = e - i;
		if (last_short || n == 0 || n > 64) {
			why = n == 0 ? "an empty line" : n > 64 ? "a line longer than 64 characters"
							     : "a short line before the last one";
			goto out;
		}
		for (size_t k = i; k < e; k++)
			if (!is_b64char(in[k]) && in[k] != '=') {
				why = "a character that is not base64";
				goto out;
			}
		last_short = n < 64;
		buf_add(&b64, in + i, n);
	}
	for (i = next; i < len; i++)
		if (!is_space(in[i])) {
			why = "text after its end line";
			goto out;
		}
	if (b64.len % 4 || sw_base64_decode(out, b64.len ? b64.s : "", b64.len, true) < 0) {
		why = "its base64 is not canonical, padded base64";
		goto out;
	}
out:
	buf_release(&b64);
	if (why)
		return sw_errf(err, SW_EINVAL, "bad age armor: line %zu: %s", lineno, why);
	return 0;
}

static int armor(struct buf *out, const char *bin, size_t len)
{
	struct buf b64 = BUF_INIT;
	int rc = sw_base64_encode(&b64, bin, len, true);
	rc |= buf_adds(out, AGE_ARMOR_BEGIN "\n");
	for (size_t i = 0; rc == 0 && i < b64.len; i += 64) {
		rc |= buf_add(out, b64.s + i, b64.len - i < 64 ? b64.len - i : 64);
		rc |= buf_addc(out, '\n');
	}
	rc |= buf_adds(out, AGE_ARMOR_END "\n");
	buf_release(&b64);
	return rc ? -1 : 0;
}

/* ---- encrypt ---------------------------------------------------------- */

static void chunk_nonce(unsigned char nonce[12], uint64_t i, bool last)
{
	memset(nonce, 0, 12);
	for (int k = 0; k < 8; k++)
		nonce[10 - k] = (unsigned char)(i >> (8 * k));
	nonce[11] = last;
}

int age_encrypt(struct buf *out, const struct age_recipient *rcpts, size_t n, const void *plain,
		size_t len, bool armor_it, struct sw_err *err)
{
	unsigned char file_key[FILE_KEY_LEN], key[32], nonce[NONCE_LEN], mac[32];
	struct buf bin = BUF_INIT;
	unsigned char *chunk = NULL;
	int rc = -1;

	SW_ASSERT(n >= 1);
	bin.cap = out->cap;
	if (RAND_bytes(file_key, sizeof(file_key)) != 1 || RAND_bytes(nonce, sizeof(nonce)) != 1) {
		sw_errf(err, -1, "cannot encrypt: OpenSSL has no randomness");
		goto out;
	}
	buf_adds(&bin, VERSION_LINE);
	for (size_t i = 0; i < n; i++) {
		unsigned char eph[32], share[32], shared[32], salt[64], body[32];
		static const unsigned char zero_nonce[12];
		if (RAND_bytes(eph, sizeof(eph)) != 1 || x25519(share, eph, NULL) < 0) {
			OPENSSL_cleanse(eph, sizeof(eph));
			sw_errf(err, -1, "cannot encrypt: OpenSSL has no randomness");
			goto out;
		}
		int bad = x25519(shared, eph, rcpts[i].pub);
		OPENSSL_cleanse(eph, sizeof(eph));
		if (bad < 0) {
			char r[AGE_RECIPIENT_SIZE];
			age_recipient_format(&rcpts[i], r);
			sw_errf(err, SW_EINVAL, "cannot encrypt to %s: it is not a usable X25519 key", r);
			goto out;
		}
		memcpy(salt, share, 32);
		memcpy(salt + 32, rcpts[i].pub, 32);
		hkdf(key, shared, 32, salt, sizeof(salt), X25519_INFO);
		OPENSSL_cleanse(shared, sizeof(shared));
		SW_ASSERT(aead(true, body, key, zero_nonce, file_key, FILE_KEY_LEN) == 0);
		buf_adds(&bin, "-> X25519 ");
		sw_base64_encode(&bin, share, 32, false);
		buf_addc(&bin, '\n');
		sw_base64_encode(&bin, body, 32, false); /* 43 characters: one short line */
		buf_addc(&bin, '\n');
	}
	buf_adds(&bin, "---");
	header_mac(mac, file_key, bin.s, bin.len);
	buf_addc(&bin, ' ');
	sw_base64_encode(&bin, mac, 32, false);
	buf_addc(&bin, '\n');
	buf_add(&bin, nonce, NONCE_LEN);
	hkdf(key, file_key, FILE_KEY_LEN, nonce, NONCE_LEN, "payload");
	chunk = xmalloc(ENC_CHUNK);
	const unsigned char *p = plain;
	uint64_t i = 0;
	size_t off = 0;
	do {
		size_t k = len - off > CHUNK ? CHUNK : len - off;
		unsigned char cn[12];
		chunk_nonce(cn, i++, off + k == len);
		SW_ASSERT(aead(true, chunk, key, cn, p + off, k) == 0);
		if (buf_add(&bin, chunk, k + TAG_LEN) < 0)
			break;
		off += k;
	} while (off < len);
	if (bin.toobig || (armor_it ? armor(out, bin.s, bin.len) : buf_add(out, bin.s, bin.len)) < 0) {
		sw_errf(err, -1, "cannot encrypt: the result would be larger than %zu bytes",
			out->cap ? out->cap : (size_t)BUF_DEFAULT_CAP);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(file_key, sizeof(file_key));
	OPENSSL_cleanse(key, sizeof(key));
	if (chunk) {
		OPENSSL_cleanse(chunk, ENC_CHUNK);
		free(chunk);
	}
	buf_release(&bin);
	return rc;
}

/* ---- decrypt ---------------------------------------------------------- */

/* The file key from the first X25519 stanza an identity opens. */
static int unwrap(unsigned char file_key[FILE_KEY_LEN], const struct header *h,
		  const struct age_identities *ids, struct sw_err *err)
{
	static const unsigned char zero_nonce[12];
	for (size_t i = 0; i < h->n; i++) {
		const struct stanza *s = &h->st[i];
		unsigned char share[32], shared[32], salt[64], key[32];
		if (!s->x25519)
			continue;
		SW_ASSERT(b64_exact(share, s->args[1], s->arglen[1], 32));
		for (size_t k = 0; ids && k < ids->n; k++) {
			if (x25519(shared, ids->keys[k].secret, share) < 0)
				return sw_errf(err, SW_EINVAL, "bad age header: line %zu: the X25519 share is "
					       "a low-order point", s->line);
			memcpy(salt, share, 32);
			memcpy(salt + 32, ids->keys[k].pub, 32);
			hkdf(key, shared, 32, salt, sizeof(salt), X25519_INFO);
			OPENSSL_cleanse(shared, sizeof(shared));
			int ok = aead(false, file_key, key, zero_nonce, s->body, 32);
			OPENSSL_cleanse(key, sizeof(key));
			if (ok == 0)
				return 0;
		}
	}
	return sw_errf(err, SW_ENOTFOUND, "no identity matches any recipient of this value");
}

static int payload_open(struct buf *out, const unsigned char file_key[FILE_KEY_LEN],
			const unsigned char *p, size_t len, struct sw_err *err)
{
	unsigned char key[32], cn[12];
	unsigned char *chunk = xmalloc(CHUNK);
	int rc = -1;

	SW_ASSERT(len >= NONCE_LEN);
	hkdf(key, file_key, FILE_KEY_LEN, p, NONCE_LEN, "payload");
	p += NONCE_LEN;
	len -= NONCE_LEN;
	for (uint64_t i = 0;; i++) {
		if (len < TAG_LEN) {
			sw_errf(err, -1, "the age file is truncated: %s", i == 0 ? "it has no payload"
						: "its payload ends before its final chunk");
			goto out;
		}
		bool last = len <= ENC_CHUNK;
		size_t k = last ? len : ENC_CHUNK;
		chunk_nonce(cn, i, last);
		int ok = aead(false, chunk, key, cn, p, k);
		if (ok < 0 && k == ENC_CHUNK) {
			/* a full chunk: a final one with more after it, or one
			 * that is not final at the very end (then truncated) */
			chunk_nonce(cn, i, !last);
			if ((ok = aead(false, chunk, key, cn, p, k)) == 0)
				last = !last;
		}
		if (ok < 0) {
			sw_errf(err, -1, "the age payload does not authenticate at chunk %llu (it was "
				"changed, or cut short)", (unsigned long long)i + 1);
			goto out;
		}
		if (last && k == TAG_LEN && i > 0) {
			sw_errf(err, -1, "the age payload's final chunk is empty");
			goto out;
		}
		if (buf_add(out, chunk, k - TAG_LEN) < 0) {
			sw_errf(err, -1, "the decrypted value is too large");
			goto out;
		}
		p += k;
		len -= k;
		if (last)
			break;
		if (len == 0) {
			sw_errf(err, -1, "the age file is truncated: its payload ends before its final chunk");
			goto out;
		}
	}
	if (len) {
		sw_errf(err, -1, "the age file has %zu bytes after its final chunk", len);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(chunk, CHUNK);
	free(chunk);
	return rc;
}

/* The binary file: in itself, or the armor's contents in bin. */
static int binary_of(struct buf *bin, const char **p, size_t *n, const void *in, size_t len,
		     bool need_armor, struct sw_err *err)
{
	if (!armored(in, len)) {
		if (need_armor)
			return sw_errf(err, SW_EINVAL, "not an armored age file (it must start with \"%s\")",
				       AGE_ARMOR_BEGIN);
		*p = in;
		*n = len;
		return 0;
	}
	if (dearmor(bin, in, len, err) < 0)
		return SW_EINVAL;
	*p = bin->s ? bin->s : "";
	*n = bin->len;
	return 0;
}

/* The file key of the binary file p[0..n) (its header parsed into h):
 * unwrapped by the first identity that opens a stanza, the header's MAC
 * checked with it. age_decrypt's codes. */
static int file_key_of(unsigned char file_key[FILE_KEY_LEN], struct header *h, const char *p,
		       size_t n, const struct age_identities *ids, struct sw_err *err)
{
	unsigned char mac[32];
	int rc;
	if ((rc = header_parse(h, p, n, err)) < 0)
		return rc;
	if (n - h->end < NONCE_LEN)
		return sw_errf(err, SW_EINVAL, "bad age header: the payload's nonce is missing or short");
	if ((rc = unwrap(file_key, h, ids, err)) < 0)
		return rc;
	header_mac(mac, file_key, p, h->mac_at + 3);
	if (CRYPTO_memcmp(mac, h->mac, 32) != 0)
		return sw_errf(err, -1, "the age header's MAC does not match (the header was changed)");
	return 0;
}

/* age_decrypt, or (out NULL) age_opens: the header only. */
static int open_file(struct buf *out, const struct age_identities *ids, const void *in, size_t len,
		     struct sw_err *err)
{
	struct buf bin = BUF_INIT;
	struct header h = {0};
	unsigned char file_key[FILE_KEY_LEN];
	const char *p = NULL;
	size_t n = 0;
	int rc;

	if ((rc = binary_of(&bin, &p, &n, in, len, false, err)) == 0 &&
	    (rc = file_key_of(file_key, &h, p, n, ids, err)) == 0 && out)
		rc = payload_open(out, file_key, (const unsigned char *)p + h.end, n - h.end, err);
	OPENSSL_cleanse(file_key, sizeof(file_key));
	header_release(&h);
	if (bin.alloc)
		OPENSSL_cleanse(bin.s, bin.len);
	buf_release(&bin);
	return rc;
}

int age_decrypt(struct buf *out, const struct age_identities *ids, const void *in, size_t len,
		struct sw_err *err)
{
	return open_file(out, ids, in, len, err);
}

int age_opens(const struct age_identities *ids, const void *in, size_t len, struct sw_err *err)
{
	return open_file(NULL, ids, in, len, err);
}

int age_check(const void *in, size_t len, bool need_armor, struct sw_err *err)
{
	struct buf bin = BUF_INIT;
	struct header h = {0};
	const char *p = NULL;
	size_t n = 0;
	int rc;

	if ((rc = binary_of(&bin, &p, &n, in, len, need_armor, err)) < 0)
		goto out;
	if ((rc = header_parse(&h, p, n, err)) < 0)
		goto out;
	if (h.nx25519 == 0)
		rc = sw_errf(err, SW_EINVAL, "the age file has no X25519 recipient (age1...) stanza");
	else if (n - h.end < NONCE_LEN + TAG_LEN)
		rc = sw_errf(err, SW_EINVAL, "the age file is truncated: %s",
			     n - h.end < NONCE_LEN ? "the payload's nonce is missing or short"
						   : "it has no payload");
out:
	header_release(&h);
	buf_release(&bin);
	return rc;
}
