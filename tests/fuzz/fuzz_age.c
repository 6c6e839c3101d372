/*
 * libFuzzer target for age (core/age.h): any bytes as an age file,
 * armored or not, opened with one fixed identity (the testkit's, so that
 * seeds made from its vectors reach the payload), checked as apply checks
 * a value, and read as an identity file and as a recipients file; a short
 * input is also encrypted and must decrypt to itself. Never a crash, a
 * hang or a leak; a file that opens must pass age_check's structure
 * checks, and every result is one of the documented codes.
 * tests/unit/test_age.c replays the corpus (corpus/age/) through this
 * function.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/age.h"
#include "core/buf.h"

#define FUZZ_AGE_KEY "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"

static bool known_code(int rc)
{
	return rc == 0 || rc == -1 || rc == SW_EINVAL || rc == SW_ENOTFOUND;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct age_identities ids = {0};
	struct sw_err err = {0};
	struct buf out = BUF_INIT;

	if (age_identities_parse(&ids, FUZZ_AGE_KEY, strlen(FUZZ_AGE_KEY), "key", &err) != 0)
		abort();
	out.cap = 1 << 20;
	int rc = age_decrypt(&out, &ids, data, size, &err);
	if (!known_code(rc))
		abort();
	memset(&err, 0, sizeof(err));
	int ck = age_check(data, size, false, &err);
	if ((ck != 0 && ck != SW_EINVAL) || (rc == 0 && ck != 0))
		abort();
	buf_release(&out);

	struct age_identities more = {0};
	memset(&err, 0, sizeof(err));
	if (!known_code(age_identities_parse(&more, (const char *)data, size, "f", &err)))
		abort();
	age_identities_release(&more);
	struct age_recipient *rs = NULL;
	size_t n = 0;
	memset(&err, 0, sizeof(err));
	if (!known_code(age_recipients_parse(&rs, &n, (const char *)data, size, "f", &err)))
		abort();
	free(rs);

	if (size <= 4096) {
		struct age_recipient r;
		struct buf ct = BUF_INIT, back = BUF_INIT;
		memcpy(r.pub, ids.keys[0].pub, sizeof(r.pub));
		if (age_encrypt(&ct, &r, 1, data, size, size % 2, &err) != 0 ||
		    age_decrypt(&back, &ids, ct.s, ct.len, &err) != 0 || back.len != size ||
		    (size && memcmp(back.s, data, size) != 0))
			abort();
		buf_release(&ct);
		buf_release(&back);
	}
	age_identities_release(&ids);
	return 0;
}
