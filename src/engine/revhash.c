/*
 * Revision hashes: HMAC-SHA-256 of a revision's canonical JSON under a
 * random key kept in STATE_DIR/revision.key (0600). The hash is shown to
 * every viewer (`slipway history`) and the canonical JSON holds the
 * values of secret env vars: a plain SHA-256 would let a viewer try every
 * 4-digit PIN in a blink. Under the key the hash still tells identical
 * content apart (the store dedups revisions by it) and says nothing about
 * the values to whoever lacks the key. docs/internals/store.md says why
 * this and not a hash of the secrets' file names.
 */
#include "engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/buf.h"
#include "core/sha256.h"
#include "store/store.h"

#define KEY_LEN 32
#define META_KEY "revision_hash_key"

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int unhex(const char *in, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(in + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

/* Reads DIR/revision.key, creating it (0600, O_EXCL) on first start. */
static int load_key(struct engine *e, struct sw_err *err)
{
	struct buf path = BUF_INIT;
	char text[2 * KEY_LEN + 2];
	int fd = -1, ret = -1;

	if (!e->state_dir) {
		/* no state dir (tests): a key for this run only */
		if (RAND_bytes(e->revision_key, KEY_LEN) != 1)
			return sw_errf(err, -1, "cannot make a revision key: no randomness");
		return 0;
	}
	buf_addf(&path, "%s/revision.key", e->state_dir);
	fd = open(path.s, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		unsigned char raw[KEY_LEN];
		if (RAND_bytes(raw, sizeof(raw)) != 1) {
			sw_errf(err, -1, "cannot make a revision key: no randomness");
			goto out;
		}
		hex(raw, sizeof(raw), text);
		text[2 * KEY_LEN] = '\n';
		fd = open(path.s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 || write(fd, text, 2 * KEY_LEN + 1) != 2 * KEY_LEN + 1 || fsync(fd) < 0) {
			sw_errf(err, -1, "cannot write \"%s\": %s", path.s, strerror(errno));
			goto out;
		}
		memcpy(e->revision_key, raw, KEY_LEN);
		ret = 0;
		goto out;
	}
	ssize_t k = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	if (k < 2 * KEY_LEN || unhex(text, e->revision_key, KEY_LEN) < 0) {
		sw_errf(err, -1, "\"%s\" holds no revision key (want %d hex digits)%s%s", path.s,
			2 * KEY_LEN, fd < 0 ? ": " : "", fd < 0 ? strerror(errno) : "");
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	buf_release(&path);
	return ret;
}

void engine_revision_hash(struct engine *e, const char *text, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (!HMAC(EVP_sha256(), e->revision_key, KEY_LEN, (const unsigned char *)text, strlen(text),
		  md, &len) || len != 32)
		abort(); /* OpenSSL cannot fail here but for a broken build */
	hex(md, 32, out);
}

static void rehash(const char *spec_json, char out[65], void *data)
{
	engine_revision_hash(data, spec_json, out);
}

int engine_revision_key_init(struct engine *e, struct sw_err *err)
{
	char id[65], *had = NULL;
	struct sw_err serr = {0};
	int r;

	if (load_key(e, err) < 0)
		return -1;
	/* Which key made the stored hashes: a fingerprint, not the key. A
	 * store from before keyed hashes, or a key file replaced, has its
	 * revisions rehashed once so that identical content still compares
	 * equal ("unchanged"). */
	{
		struct buf b = BUF_INIT;
		char k[2 * KEY_LEN + 1];
		hex(e->revision_key, KEY_LEN, k);
		buf_addf(&b, "slipway revision key id %s", k);
		sw_sha256_hex(b.s, b.len, id);
		buf_release(&b);
	}
	r = store_meta_get(e->cfg.store, META_KEY, &had, &serr);
	if (r < 0 && r != SW_ENOTFOUND) {
		sw_errf(err, -1, "%s", serr.msg);
		return -1;
	}
	if (!had || strcmp(had, id) != 0) {
		if (store_revision_rehash(e->cfg.store, rehash, e, &serr) < 0 ||
		    store_meta_put(e->cfg.store, META_KEY, id, &serr) < 0) {
			free(had);
			sw_errf(err, -1, "%s", serr.msg);
			return -1;
		}
	}
	free(had);
	return 0;
}
