/* Webhook verification and payload fields (webhook.h): pure, no I/O. */
#include "webhook.h"

#include <fnmatch.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/buf.h"
#include "core/sha256.h"
#include "core/utf8.h"

enum sig_kind {
	SIG_HMAC_PREFIXED, /* "sha256=" + 64 hex of HMAC-SHA256(secret, body) */
	SIG_HMAC_HEX,	   /* 64 hex of HMAC-SHA256(secret, body) */
	SIG_TOKEN,	   /* the secret itself */
};

struct provider {
	const char *name;
	const char *sig_header;
	enum sig_kind kind;
	const char *event_header;
	/* where the payload names the repository's URLs: clone, ssh, web; each
	 * a list of dotted paths tried in order */
	const char *urls[3][2];
};

/* In detection order: Forgejo sends Gitea's headers too, Gitea GitHub's. */
static const struct provider providers[] = {
	{"forgejo", "X-Forgejo-Signature", SIG_HMAC_HEX, "X-Forgejo-Event",
	 {{"repository.clone_url"}, {"repository.ssh_url"}, {"repository.html_url"}}},
	{"gitea", "X-Gitea-Signature", SIG_HMAC_HEX, "X-Gitea-Event",
	 {{"repository.clone_url"}, {"repository.ssh_url"}, {"repository.html_url"}}},
	{"github", "X-Hub-Signature-256", SIG_HMAC_PREFIXED, "X-GitHub-Event",
	 {{"repository.clone_url"}, {"repository.ssh_url"}, {"repository.html_url"}}},
	{"gitlab", "X-Gitlab-Token", SIG_TOKEN, "X-Gitlab-Event",
	 {{"project.git_http_url", "repository.git_http_url"},
	  {"project.git_ssh_url", "repository.git_ssh_url"},
	  {"project.web_url", "repository.homepage"}}},
	{"generic", "X-Slipway-Signature", SIG_HMAC_PREFIXED, "X-Slipway-Event", {{NULL}}},
};

/* Event header values with a common name (matched without regard to case);
 * any other value is kept as it is. */
static const struct {
	const char *value;
	const char *event;
} event_names[] = {
	{"push", "push"},		/* github, gitea, forgejo, generic */
	{"Push Hook", "push"},		/* gitlab */
	{"Tag Push Hook", "tag_push"},	/* gitlab */
	{"tag_push", "tag_push"},	/* generic */
	{"ping", "ping"},		/* github */
};

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* The value of header `name` without surrounding spaces and tabs, its
 * length in *n, and how many times it appears in *count; NULL if absent. */
static const char *header_find(const struct webhook_header *h, size_t nh, const char *name,
			       size_t *n, size_t *count)
{
	const char *v = NULL;
	*count = 0;
	*n = 0;
	for (size_t i = 0; i < nh; i++) {
		if (!h[i].name || !h[i].value || strcasecmp(h[i].name, name) != 0)
			continue;
		if ((*count)++ == 0)
			v = h[i].value;
	}
	if (!v)
		return NULL;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t len = strlen(v);
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	*n = len;
	return v;
}

static int check_signature(const struct provider *p, const char *v, size_t vn, const char *body,
			   size_t len, const unsigned char *secret, size_t secret_len,
			   struct sw_err *err)
{
	if (p->kind == SIG_TOKEN) {
		/* equal lengths for CRYPTO_memcmp, and the token's length hidden */
		char want[65], got[65];
		sw_sha256_hex(secret, secret_len, want);
		sw_sha256_hex(v, vn, got);
		if (CRYPTO_memcmp(want, got, 64) != 0)
			return sw_errf(err, SW_EPERM, "%s does not match the source's secret",
				       p->sig_header);
		return 0;
	}
	if (p->kind == SIG_HMAC_PREFIXED) {
		if (vn < 7 || strncasecmp(v, "sha256=", 7) != 0)
			goto malformed;
		v += 7;
		vn -= 7;
	}
	unsigned char got[32];
	if (vn != 64)
		goto malformed;
	for (size_t i = 0; i < 32; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)v[2 * i]);
		int lo = OPENSSL_hexchar2int((unsigned char)v[2 * i + 1]);
		if (hi < 0 || lo < 0)
			goto malformed;
		got[i] = (unsigned char)(hi << 4 | lo);
	}
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;
	SW_ASSERT(secret_len <= INT_MAX);
	SW_ASSERT(HMAC(EVP_sha256(), secret, (int)secret_len,
		       (const unsigned char *)(body ? body : ""), len, mac, &ml) && ml == 32);
	if (CRYPTO_memcmp(mac, got, 32) != 0)
		return sw_errf(err, SW_EPERM, "%s does not match the source's secret", p->sig_header);
	return 0;
malformed:
	return sw_errf(err, SW_EPERM, "%s is not %s64 hex digits", p->sig_header,
		       p->kind == SIG_HMAC_PREFIXED ? "\"sha256=\" and " : "");
}

/* Copies a JSON string that is valid UTF-8 without control characters and
 * fits; otherwise leaves dst "". */
static void copy_string(char *dst, size_t size, const json_t *v)
{
	dst[0] = '\0';
	const char *s = json_string_value(v);
	if (!s)
		return;
	size_t n = json_string_length(v);
	if (n >= size || !sw_utf8_valid(s, n))
		return;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* root's member at a dotted path ("repository.clone_url"), or NULL. */
static json_t *json_path(json_t *root, const char *path)
{
	json_t *v = root;
	while (v && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		v = json_object_getn(v, path, n);
		path += n + (dot != NULL);
	}
	return v;
}

/* "payload=<url-encoded JSON>" among the &-separated pairs of a form body,
 * decoded into out; -1 when there is none or it does not decode. */
static int form_payload(struct buf *out, const char *body, size_t len)
{
	const char *end = body + len;
	for (const char *p = body; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		if (stop - p >= 8 && memcmp(p, "payload=", 8) == 0) {
			if (buf_add_pct_decoded(out, p + 8, (size_t)(stop - p - 8), true) < 0)
				return -1;
			return 0;
		}
		p = stop + 1;
	}
	return -1;
}

static bool is_form(const struct webhook_header *h, size_t nh, const char *body, size_t len)
{
	static const char form[] = "application/x-www-form-urlencoded";
	size_t n, count;
	const char *ct = header_find(h, nh, "Content-Type", &n, &count);
	if (ct) {
		const char *semi = memchr(ct, ';', n);
		size_t tn = semi ? (size_t)(semi - ct) : n;
		while (tn > 0 && (ct[tn - 1] == ' ' || ct[tn - 1] == '\t'))
			tn--;
		if (tn == sizeof(form) - 1 && strncasecmp(ct, form, tn) == 0)
			return true;
	}
	/* no JSON text starts so */
	return len >= 8 && memcmp(body, "payload=", 8) == 0;
}

static void event_from_header(struct webhook_result *out, const char *v, size_t n)
{
	if (!v || n == 0 || n >= sizeof(out->event))
		return;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return;
	for (size_t i = 0; i < sizeof(event_names) / sizeof(event_names[0]); i++)
		if (strlen(event_names[i].value) == n && strncasecmp(v, event_names[i].value, n) == 0) {
			sw_strlcpy(out->event, event_names[i].event, sizeof(out->event));
			return;
		}
	memcpy(out->event, v, n);
	out->event[n] = '\0';
}

/* ref as a full name: a "create"/"delete" event's short one with ref_type
 * gets its prefix; anything not under refs/ in the end is unknown. */
static void read_ref(struct webhook_result *out, json_t *root)
{
	char ref[sizeof(out->ref)];
	copy_string(ref, sizeof(ref), json_object_get(root, "ref"));
	if (!ref[0] || has_prefix(ref, "refs/")) {
		sw_strlcpy(out->ref, ref, sizeof(out->ref));
		return;
	}
	const char *type = json_string_value(json_object_get(root, "ref_type"));
	const char *prefix = !type			  ? NULL
			     : strcmp(type, "branch") == 0 ? "refs/heads/"
			     : strcmp(type, "tag") == 0	  ? "refs/tags/"
							  : NULL;
	struct buf b = BUF_INIT;
	b.cap = sizeof(out->ref) - 1;
	if (prefix && buf_addf(&b, "%s%s", prefix, ref) == 0)
		sw_strlcpy(out->ref, b.s, sizeof(out->ref));
	buf_release(&b);
}

static void read_after(struct webhook_result *out, json_t *root)
{
	char after[sizeof(out->after)];
	copy_string(after, sizeof(after), json_object_get(root, "after"));
	size_t n = strlen(after);
	if (n != 40 && n != 64)
		return;
	bool zero = true;
	for (size_t i = 0; i < n; i++) {
		int v = OPENSSL_hexchar2int((unsigned char)after[i]);
		if (v < 0)
			return;
		after[i] = "0123456789abcdef"[v];
		zero = zero && v == 0;
	}
	memcpy(out->after, after, n + 1);
	out->deleted = out->deleted || zero;
}

static void read_payload(struct webhook_result *out, const struct provider *p,
			 const struct webhook_header *h, size_t nh, const char *body, size_t len)
{
	struct buf form = BUF_INIT;
	json_t *root = NULL;
	if (len == 0)
		goto out;
	if (is_form(h, nh, body, len)) {
		form.cap = WEBHOOK_MAX_BODY;
		if (form_payload(&form, body, len) != 0)
			goto out;
		body = form.s;
		len = form.len;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root))
		goto out;
	out->parsed = true;
	read_ref(out, root);
	read_after(out, root);
	out->deleted = out->deleted || json_is_true(json_object_get(root, "deleted"));
	char *const urls[3] = {out->clone_url, out->ssh_url, out->web_url};
	for (size_t u = 0; u < 3; u++)
		for (size_t k = 0; k < 2 && p->urls[u][k] && !urls[u][0]; k++)
			copy_string(urls[u], sizeof(out->clone_url), json_path(root, p->urls[u][k]));
	if (!out->event[0] && json_is_string(json_object_get(root, "zen")) &&
	    json_object_get(root, "hook_id"))
		sw_strlcpy(out->event, "ping", sizeof(out->event));
out:
	json_decref(root);
	buf_release(&form);
}

int webhook_verify(struct webhook_result *out, const struct webhook_header *h, size_t nh,
		   const char *body, size_t len, const unsigned char *secret, size_t secret_len,
		   struct sw_err *err)
{
	SW_ASSERT(out && (h || nh == 0) && (body || len == 0));
	memset(out, 0, sizeof(*out));
	if (len > WEBHOOK_MAX_BODY)
		return sw_errf(err, SW_EINVAL, "webhook payload larger than %u bytes (the limit)",
			       WEBHOOK_MAX_BODY);
	if (!secret || secret_len == 0)
		return sw_errf(err, -1, "the source's webhook secret is empty");

	const struct provider *p = NULL;
	const char *v = NULL;
	size_t vn = 0, count = 0;
	for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]) && !v; i++) {
		p = &providers[i];
		v = header_find(h, nh, p->sig_header, &vn, &count);
	}
	if (!v)
		return sw_errf(err, SW_ENOTFOUND, "no webhook signature header (%s, %s, %s, %s or %s)",
			       "X-Hub-Signature-256", "X-Gitlab-Token", "X-Gitea-Signature",
			       "X-Forgejo-Signature", "X-Slipway-Signature");
	if (count > 1)
		return sw_errf(err, SW_EPERM, "%s appears more than once", p->sig_header);
	int rc = check_signature(p, v, vn, body, len, secret, secret_len, err);
	if (rc != 0)
		return rc;

	out->provider = p->name;
	v = header_find(h, nh, p->event_header, &vn, &count);
	event_from_header(out, v, vn);
	read_payload(out, p, h, nh, body, len);
	if (!out->event[0] && strcmp(p->name, "generic") == 0)
		sw_strlcpy(out->event, "push", sizeof(out->event));
	if (strcmp(out->event, "push") == 0 && has_prefix(out->ref, "refs/tags/"))
		sw_strlcpy(out->event, "tag_push", sizeof(out->event));
	return 0;
}

static bool is_hex_sha(const char *s)
{
	size_t n = strlen(s);
	return n >= 4 && n <= 40 && strspn(s, "0123456789abcdefABCDEF") == n;
}

bool webhook_ref_matches(const struct webhook_result *r, const char *source_ref)
{
	SW_ASSERT(r);
	if (strcmp(r->event, "ping") == 0)
		return false;
	if (!r->ref[0] || !source_ref || !source_ref[0])
		return true;
	if (has_prefix(source_ref, "refs/"))
		return strcmp(r->ref, source_ref) == 0;
	if (strchr(source_ref, '*'))
		return has_prefix(r->ref, "refs/tags/") && fnmatch(source_ref, r->ref + 10, 0) == 0;
	if (is_hex_sha(source_ref))
		return true;
	return (has_prefix(r->ref, "refs/heads/") && strcmp(r->ref + 11, source_ref) == 0) ||
	       (has_prefix(r->ref, "refs/tags/") && strcmp(r->ref + 10, source_ref) == 0);
}
