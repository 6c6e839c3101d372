/*
 * age (core/age.h): the official test vectors (age-testkit/, from C2SP's
 * CCTV: every vector for X25519 identities, armor, headers, MACs and the
 * STREAM payload), then round trips, several recipients and identities,
 * key and identity-file parsing, and the checks apply makes.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/age.h"
#include "core/base64.h"
#include "core/buf.h"
#include "core/core.h"
#include "core/sha256.h"

/* the fuzz target's one input, replayed over its corpus below */
#include "../fuzz/fuzz_age.c"

#ifndef AGE_TESTKIT
#error "AGE_TESTKIT (the vectors' directory) is set by tests/unit/meson.build"
#endif

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	struct buf b = BUF_INIT;
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(&b, tmp, n);
	fclose(f);
	*len = b.len;
	return buf_detach(&b);
}

static void inflate_all(struct buf *out, const unsigned char *in, size_t len)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit(&z), Z_OK);
	z.next_in = (unsigned char *)in;
	z.avail_in = (unsigned)len;
	unsigned char tmp[65536];
	int rc;
	do {
		z.next_out = tmp;
		z.avail_out = sizeof(tmp);
		rc = inflate(&z, Z_NO_FLUSH);
		assert_true(rc == Z_OK || rc == Z_STREAM_END);
		buf_add(out, tmp, sizeof(tmp) - z.avail_out);
	} while (rc != Z_STREAM_END);
	inflateEnd(&z);
}

/* One vector: its header's keys, then the file. Returns false when it
 * needs what Slipway does not do (passphrases, post-quantum keys). */
static bool run_vector(const char *name, const char *text, size_t len)
{
	const char *body = strstr(text, "\n\n");
	assert_non_null(body);
	body += 2;
	char expect[64] = "", payload[65] = "";
	bool compressed = false, armored = false;
	struct age_identities ids = {0};
	struct sw_err err = {0};

	for (const char *l = text; l < body - 1;) {
		const char *nl = strchr(l, '\n');
		char line[256];
		snprintf(line, sizeof(line), "%.*s", (int)(nl - l), l);
		l = nl + 1;
		if (!strncmp(line, "expect: ", 8))
			sw_strlcpy(expect, line + 8, sizeof(expect));
		else if (!strncmp(line, "payload: ", 9))
			sw_strlcpy(payload, line + 9, sizeof(payload));
		else if (!strcmp(line, "compressed: zlib"))
			compressed = true;
		else if (!strcmp(line, "armored: yes"))
			armored = true;
		else if (!strncmp(line, "passphrase: ", 12) || !strncmp(line, "identity: AGE-SECRET-KEY-PQ-", 28))
			return false;
		else if (!strncmp(line, "identity: ", 10)) {
			struct sw_err e = {0};
			if (age_identities_parse(&ids, line + 10, strlen(line + 10), name, &e) < 0)
				fail_msg("%s: %s", name, e.msg);
		}
	}
	struct buf file = BUF_INIT, out = BUF_INIT;
	if (compressed)
		inflate_all(&file, (const unsigned char *)body, len - (size_t)(body - text));
	else
		buf_add(&file, body, len - (size_t)(body - text));

	int rc = age_decrypt(&out, &ids, file.s, file.len, &err);
	const char *got = rc == 0 ? "success"
			  : rc == SW_ENOTFOUND ? "no match"
			  : rc == SW_EINVAL ? "header failure"
			  : strstr(err.msg, "MAC") ? "HMAC failure" : "payload failure";
	const char *want = strcmp(expect, "armor failure") == 0 ? "header failure" : expect;
	if (strcmp(got, want) != 0)
		fail_msg("%s: expected %s, got %s (%d: %s)", name, expect, got, rc, err.msg);
	if (!strcmp(expect, "success") || !strcmp(expect, "payload failure")) {
		char hex[65];
		sw_sha256_hex(out.s ? out.s : "", out.len, hex);
		if (strcmp(hex, payload) != 0)
			fail_msg("%s: the plaintext released has the wrong hash", name);
	}
	if (!strcmp(expect, "success")) {
		struct sw_err e = {0};
		if (age_check(file.s, file.len, armored, &e) != 0)
			fail_msg("%s: age_check: %s", name, e.msg);
	}
	/* age_opens answers as decrypt does up to the payload, which it never reads */
	struct sw_err oe = {0};
	int orc = age_opens(&ids, file.s, file.len, &oe);
	bool header_ok = !strcmp(expect, "success") || !strcmp(expect, "payload failure");
	if (header_ok ? orc != 0 : orc != rc)
		fail_msg("%s: age_opens: %d (%s), decrypt %d", name, orc, oe.msg, rc);
	buf_release(&file);
	buf_release(&out);
	age_identities_release(&ids);
	return true;
}

static void test_age__testkit_vectors(void **state)
{
	DIR *d = opendir(AGE_TESTKIT);
	assert_non_null(d);
	struct dirent *de;
	size_t ran = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "README.md"))
			continue;
		char path[1024];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", AGE_TESTKIT, de->d_name);
		char *text = slurp(path, &len);
		ran += run_vector(de->d_name, text, len);
		free(text);
	}
	closedir(d);
	assert_true(ran >= 90);
}

/* The keys of the specification's examples. */
static void test_age__spec_keys(void **state)
{
	struct age_identity id;
	struct age_recipient r;
	char rs[AGE_RECIPIENT_SIZE], is[AGE_IDENTITY_SIZE];
	struct sw_err err = {0};

	assert_int_equal(age_identity_parse(&id, "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX",
					    &err), 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(id.secret[i], 0x42);
	r = (struct age_recipient){{0}};
	memcpy(r.pub, id.pub, 32);
	age_recipient_format(&r, rs);
	assert_string_equal(rs, "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj");
	age_identity_format(&id, is);
	assert_string_equal(is, "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX");
	struct age_recipient back;
	assert_int_equal(age_recipient_parse(&back, rs, &err), 0);
	assert_memory_equal(back.pub, id.pub, 32);
	/* Bech32 allows all upper case; the checksum is the same */
	assert_int_equal(age_recipient_parse(&back, "AGE1ZVKYG2LQZRAA2LNJVQEJ32NKUU0UES2S82HZRYE869XEEXVN73EQUNUJWJ", &err), 0);
}

static void test_age__bad_keys(void **state)
{
	static const struct {
		const char *in;
		const char *why;
	} rcpts[] = {
		{"age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwk", "checksum"},
		{"age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujw", "checksum"},
		{"Age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj", "mixes"},
		{"agf1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj", "start"},
		{"AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX", "start"},
		{"age1", "short"},
		{"age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqb", "character"},
		{"", "start"},
		{"age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj ", "printable"},
	};
	for (size_t i = 0; i < sizeof(rcpts) / sizeof(rcpts[0]); i++) {
		struct age_recipient r;
		struct sw_err err = {0};
		assert_int_equal(age_recipient_parse(&r, rcpts[i].in, &err), SW_EINVAL);
		if (!strstr(err.msg, rcpts[i].why))
			fail_msg("%s: %s", rcpts[i].in, err.msg);
	}
	struct age_identity id;
	struct sw_err err = {0};
	const char *k = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEY";
	assert_int_equal(age_identity_parse(&id, k, &err), SW_EINVAL);
	assert_null(strstr(err.msg, "GFPYYSJZ")); /* a key is never echoed */
	assert_non_null(strstr(err.msg, "checksum"));
}

static void test_age__round_trip_sizes(void **state)
{
	static const size_t sizes[] = {0, 1, 7, 65535, 65536, 65537, 2 * 65536, 3 * 65536 + 5};
	struct age_identities ids = {0};
	struct age_recipient r;
	struct sw_err err = {0};

	ids.keys = xcalloc(1, sizeof(*ids.keys));
	ids.n = 1;
	assert_int_equal(age_identity_generate(&ids.keys[0], &err), 0);
	memcpy(r.pub, ids.keys[0].pub, 32);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		unsigned char *plain = xmalloc(sizes[s] + 1);
		for (size_t i = 0; i < sizes[s]; i++)
			plain[i] = (unsigned char)(i * 31 + s);
		for (int armor = 0; armor < 2; armor++) {
			struct buf ct = BUF_INIT, out = BUF_INIT;
			assert_int_equal(age_encrypt(&ct, &r, 1, plain, sizes[s], armor, &err), 0);
			if (armor) {
				assert_int_equal(strncmp(ct.s, AGE_ARMOR_BEGIN "\n", 35), 0);
				assert_non_null(strstr(ct.s, "\n" AGE_ARMOR_END "\n"));
			} else {
				assert_int_equal(strncmp(ct.s, "age-encryption.org/v1\n-> X25519 ", 32), 0);
			}
			assert_int_equal(age_check(ct.s, ct.len, armor, &err), 0);
			assert_int_equal(age_decrypt(&out, &ids, ct.s, ct.len, &err), 0);
			assert_int_equal(out.len, sizes[s]);
			if (sizes[s])
				assert_memory_equal(out.s, plain, sizes[s]);
			/* cut anywhere in the payload: refused, never a shorter value */
			if (!armor && ct.len > 200) {
				buf_reset(&out);
				struct sw_err e = {0};
				assert_int_equal(age_decrypt(&out, &ids, ct.s, ct.len - 1, &e), -1);
				assert_non_null(strstr(e.msg, "payload"));
			}
			buf_release(&ct);
			buf_release(&out);
		}
		free(plain);
	}
	age_identities_release(&ids);
}

static void test_age__several_recipients_and_identities(void **state)
{
	struct age_identity a, b, c;
	struct sw_err err = {0};
	assert_int_equal(age_identity_generate(&a, &err), 0);
	assert_int_equal(age_identity_generate(&b, &err), 0);
	assert_int_equal(age_identity_generate(&c, &err), 0);
	struct age_recipient rs[2];
	memcpy(rs[0].pub, a.pub, 32);
	memcpy(rs[1].pub, b.pub, 32);
	struct buf ct = BUF_INIT;
	assert_int_equal(age_encrypt(&ct, rs, 2, "hunter2", 7, true, &err), 0);

	/* an identity file: comments, blank lines, CRLF, the key in the middle */
	char ka[AGE_IDENTITY_SIZE], kb[AGE_IDENTITY_SIZE], kc[AGE_IDENTITY_SIZE];
	age_identity_format(&a, ka);
	age_identity_format(&b, kb);
	age_identity_format(&c, kc);
	const struct {
		const char *keys[2];
		int rc;
	} cases[] = {
		{{kc, kb}, 0}, {{kc, ka}, 0}, {{kb, NULL}, 0}, {{kc, NULL}, SW_ENOTFOUND},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf file = BUF_INIT, out = BUF_INIT;
		buf_addf(&file, "# created: 2024-01-01T00:00:00Z\r\n# public key: age1...\r\n\r\n%s\r\n",
			 cases[i].keys[0]);
		if (cases[i].keys[1])
			buf_addf(&file, "  %s  \n# the end", cases[i].keys[1]);
		struct age_identities ids = {0};
		assert_int_equal(age_identities_parse(&ids, file.s, file.len, "key.txt", &err), 0);
		assert_int_equal(ids.n, cases[i].keys[1] ? 2 : 1);
		struct sw_err e = {0};
		assert_int_equal(age_decrypt(&out, &ids, ct.s, ct.len, &e), cases[i].rc);
		assert_int_equal(age_opens(&ids, ct.s, ct.len, &e), cases[i].rc);
		if (cases[i].rc == 0)
			assert_string_equal(out.s, "hunter2");
		else
			assert_string_equal(e.msg, "no identity matches any recipient of this value");
		age_identities_release(&ids);
		buf_release(&file);
		buf_release(&out);
	}
	buf_release(&ct);
}

static void test_age__key_files(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} bad[] = {
		{"# only comments\n\n", "key.txt: holds no identity (AGE-SECRET-KEY-1...)"},
		{"", "key.txt: holds no identity (AGE-SECRET-KEY-1...)"},
		{"# a\nssh-ed25519 AAAA me@host\n", "key.txt:2: not an age identity (AGE-SECRET-KEY-1...): "
						    "it does not start with \"AGE-SECRET-KEY-1\""},
		{"age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj\n",
		 "key.txt:1: not an age identity (AGE-SECRET-KEY-1...): it does not start with \"AGE-SECRET-KEY-1\""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct age_identities ids = {0};
		struct sw_err err = {0};
		assert_int_equal(age_identities_parse(&ids, bad[i].text, strlen(bad[i].text), "key.txt", &err),
				 SW_EINVAL);
		assert_string_equal(err.msg, bad[i].msg);
		age_identities_release(&ids);
	}
	/* a missing file is told apart: the daemon's default key is optional */
	struct age_identities none = {0};
	struct sw_err lerr = {0};
	assert_int_equal(age_identities_load(&none, "/nonexistent/age.key", &lerr), SW_ENOTFOUND);
	assert_string_equal(lerr.msg, "cannot read \"/nonexistent/age.key\": No such file or directory");
	struct age_recipient *rs = NULL;
	size_t n = 0;
	struct sw_err err = {0};
	const char *file = "# ops\nage1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj\n\n";
	assert_int_equal(age_recipients_parse(&rs, &n, file, strlen(file), "r.txt", &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(age_recipients_parse(&rs, &n, "x\n", 2, "r.txt", &err), SW_EINVAL);
	assert_string_equal(err.msg, "r.txt:1: \"x\" is not an age recipient (age1...): it does not start "
				     "with \"age1\"");
	free(rs);
}

/* What apply checks of a committed value, without a key. */
static void test_age__check(void **state)
{
	struct age_identity a;
	struct age_recipient r;
	struct sw_err err = {0};
	assert_int_equal(age_identity_generate(&a, &err), 0);
	memcpy(r.pub, a.pub, 32);
	struct buf arm = BUF_INIT, bin = BUF_INIT;
	assert_int_equal(age_encrypt(&arm, &r, 1, "v", 1, true, &err), 0);
	assert_int_equal(age_encrypt(&bin, &r, 1, "v", 1, false, &err), 0);

	struct sw_err e = {0};
	assert_int_equal(age_check(bin.s, bin.len, true, &e), SW_EINVAL);
	assert_string_equal(e.msg, "not an armored age file (it must start with \"-----BEGIN AGE ENCRYPTED FILE-----\")");

	/* a line of the armor cut short */
	struct buf cut = BUF_INIT;
	buf_add(&cut, arm.s, arm.len);
	char *second = strchr(cut.s, '\n') + 1;
	memmove(second + 10, second + 11, strlen(second + 11) + 1);
	cut.len--;
	memset(&e, 0, sizeof(e));
	assert_int_equal(age_check(cut.s, cut.len, true, &e), SW_EINVAL);
	assert_non_null(strstr(e.msg, "bad age armor: line "));

	/* a header stanza that is not X25519 only: refused */
	const char *other = "age-encryption.org/v1\n-> example.com/enigma x\nAAAA\n--- "
			    "WyJp9F/9FOZh7gJdheq2WIJcwHgYc8NIVh3ddwhrcNg\n0123456789abcdef0123456789abcdef";
	memset(&e, 0, sizeof(e));
	assert_int_equal(age_check(other, strlen(other), false, &e), SW_EINVAL);
	assert_string_equal(e.msg, "the age file has no X25519 recipient (age1...) stanza");

	/* a binary file whose header is cut */
	memset(&e, 0, sizeof(e));
	assert_int_equal(age_check(bin.s, 40, false, &e), SW_EINVAL);
	assert_non_null(strstr(e.msg, "bad age header: line "));
	memset(&e, 0, sizeof(e));
	assert_int_equal(age_check("hello", 5, false, &e), SW_EINVAL);
	assert_string_equal(e.msg, "bad age header: it does not start with \"age-encryption.org/v1\"");
	buf_release(&arm);
	buf_release(&bin);
	buf_release(&cut);
}

static void test_age__base64_strict(void **state)
{
	static const struct {
		const char *in;
		bool pad;
		long n;
	} cases[] = {
		{"", false, 0}, {"Zg", false, 1}, {"Zh", false, -1}, {"Zm8", false, 2}, {"Zm9", false, -1},
		{"Zg==", true, 1}, {"Zg=", true, -1}, {"Zg", true, -1}, {"Zm8=", true, 2}, {"Z===", true, -1},
		{"Zg==", false, -1}, {"Z", false, -1}, {"Zm9v", true, 3}, {"Zm 9v", false, -1}, {"Z=g=", true, -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = BUF_INIT;
		long n = sw_base64_decode(&b, cases[i].in, strlen(cases[i].in), cases[i].pad);
		if (n != cases[i].n)
			fail_msg("\"%s\" (pad %d): got %ld, want %ld", cases[i].in, cases[i].pad, n, cases[i].n);
		assert_int_equal(b.len, n < 0 ? 0 : (size_t)n);
		buf_release(&b);
	}
	struct buf b = BUF_INIT;
	sw_base64_encode(&b, "foob", 4, true);
	assert_string_equal(b.s, "Zm9vYg==");
	buf_reset(&b);
	sw_base64_encode(&b, "foob", 4, false);
	assert_string_equal(b.s, "Zm9vYg");
	assert_int_equal(sw_base64_len(4, false), 6);
	assert_int_equal(sw_base64_len(4, true), 8);
	buf_release(&b);
}

/* Every seed of tests/fuzz/corpus/age through the fuzz target's checks. */
static void test_age__fuzz_corpus_replays(void **state)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/../../fuzz/corpus/age", AGE_TESTKIT);
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	size_t n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[2048];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		char *data = slurp(path, &len);
		assert_int_equal(LLVMFuzzerTestOneInput((const uint8_t *)data, len), 0);
		free(data);
		n++;
	}
	closedir(d);
	assert_true(n >= 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_age__testkit_vectors),
		cmocka_unit_test(test_age__spec_keys),
		cmocka_unit_test(test_age__bad_keys),
		cmocka_unit_test(test_age__round_trip_sizes),
		cmocka_unit_test(test_age__several_recipients_and_identities),
		cmocka_unit_test(test_age__key_files),
		cmocka_unit_test(test_age__check),
		cmocka_unit_test(test_age__base64_strict),
		cmocka_unit_test(test_age__fuzz_corpus_replays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
