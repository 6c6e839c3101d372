/*
 * libFuzzer target for webhook_verify and webhook_ref_matches
 * (gitops/webhook.h). The input is
 *
 *   byte 0   which signature header: forgejo, gitea, github, gitlab,
 *            generic, or none (value % 6)
 *   byte 1   flags: 1 sign the body correctly (else the signature is the
 *            input up to the first '\n' after byte 2), 2 form content type,
 *            4 the signature header twice, 8 header names upper-cased,
 *            16 hex upper-cased, 32 no event header
 *   byte 2   the event header's value, from a table
 *   rest     the body (not NUL-terminated)
 *
 * so that most inputs get past the signature and into the payload reader.
 * It must never crash, hang or leak; a correctly signed single header
 * always verifies; every field of a result is a C string within its array.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gitops/webhook.h"

static const char secret[] = "fuzz-secret";

static void check_string(const char *s, size_t size)
{
	if (strnlen(s, size) >= size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sig_names[] = {"X-Forgejo-Signature", "X-Gitea-Signature",
						"X-Hub-Signature-256", "X-Gitlab-Token",
						"X-Slipway-Signature"};
	static const char *const event_names[] = {"X-Forgejo-Event", "X-Gitea-Event", "X-GitHub-Event",
						  "X-Gitlab-Event", "X-Slipway-Event"};
	static const char *const events[] = {"push", "ping", "Push Hook", "Tag Push Hook", "create",
					     "", "PUSH", "tag_push", "x\x01y"};
	static const char *const refs[] = {NULL, "", "main", "refs/heads/main", "v1.*", "v1.2.0",
					   "0d1a26e", "refs/tags/v1.2.0", "[", "*"};
	if (size < 3)
		return 0;
	unsigned which = data[0] % 6, flags = data[1];
	const char *event = events[data[2] % (sizeof(events) / sizeof(events[0]))];
	const char *body = (const char *)data + 3;
	size_t len = size - 3;

	char sig[128] = "";
	if (which < 5 && (flags & 1)) {
		if (which == 3) {
			snprintf(sig, sizeof(sig), "%s", secret);
		} else {
			unsigned char mac[EVP_MAX_MD_SIZE];
			unsigned int ml = 0;
			if (!HMAC(EVP_sha256(), secret, (int)strlen(secret),
				  (const unsigned char *)(len ? body : ""), len, mac, &ml))
				abort();
			size_t o = 0;
			if (which == 2 || which == 4)
				o = (size_t)snprintf(sig, sizeof(sig), "sha256=");
			for (unsigned i = 0; i < ml; i++)
				o += (size_t)snprintf(sig + o, sizeof(sig) - o,
						      (flags & 16) ? "%02X" : "%02x", mac[i]);
		}
	} else {
		const char *nl = memchr(body, '\n', len < 100 ? len : 100);
		size_t n = nl ? (size_t)(nl - body) : 0;
		memcpy(sig, body, n);
		sig[n] = '\0'; /* a NUL inside ends the value early, as a C string */
		body += nl ? n + 1 : 0;
		len -= nl ? n + 1 : 0;
	}
	char names[2][64];
	struct webhook_header h[4];
	size_t nh = 0;
	if (which < 5) {
		snprintf(names[0], sizeof(names[0]), "%s", sig_names[which]);
		snprintf(names[1], sizeof(names[1]), "%s", event_names[which]);
		if (flags & 8)
			for (int k = 0; k < 2; k++)
				for (char *c = names[k]; *c; c++)
					*c = (char)toupper((unsigned char)*c);
		h[nh++] = (struct webhook_header){names[0], sig};
		if (flags & 4)
			h[nh++] = (struct webhook_header){sig_names[which], sig};
		if (!(flags & 32))
			h[nh++] = (struct webhook_header){names[1], event};
	}
	if (flags & 2)
		h[nh++] = (struct webhook_header){"Content-Type",
						  "application/x-www-form-urlencoded; charset=utf-8"};

	/* a copy of exactly len bytes, so ASan sees any read past the end */
	char *copy = malloc(len ? len : 1);
	memcpy(copy, body, len);
	struct webhook_result r;
	struct sw_err err;
	sw_err_clear(&err);
	int rc = webhook_verify(&r, h, nh, len ? copy : NULL, len, (const unsigned char *)secret,
				strlen(secret), &err);
	if (rc != 0 && rc != SW_ENOTFOUND && rc != SW_EPERM && rc != SW_EINVAL)
		abort();
	if (rc != 0 && (!err.msg[0] || strstr(err.msg, secret)))
		abort();
	if (which < 5 && (flags & 1) && !(flags & 4) && len <= WEBHOOK_MAX_BODY && rc != 0)
		abort();
	if (rc == 0) {
		if (!r.provider)
			abort();
		check_string(r.event, sizeof(r.event));
		check_string(r.ref, sizeof(r.ref));
		check_string(r.after, sizeof(r.after));
		check_string(r.clone_url, sizeof(r.clone_url));
		check_string(r.ssh_url, sizeof(r.ssh_url));
		check_string(r.web_url, sizeof(r.web_url));
		if (r.ref[0] && strncmp(r.ref, "refs/", 5) != 0)
			abort();
		for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
			(void)webhook_ref_matches(&r, refs[i]);
		(void)webhook_ref_matches(&r, sig);
	}
	free(copy);
	return 0;
}
