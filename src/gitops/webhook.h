/*
 * webhook: verify a push notification from a git host and read the few
 * fields the GitOps sync needs from it (issue 12). Pure: no I/O, no clock,
 * nothing allocated that outlives a call; the caller (the API route
 * POST /v1/sources/NAME/webhook) reads the request, the source's secret
 * file, and decides what to do.
 *
 * A webhook only ever triggers a fetch. The commit deployed is always what
 * the fetch of the source's own URL and ref finds, never the payload's
 * "after" or URLs, so a forged or replayed payload cannot choose what runs;
 * at worst it costs one fetch (and bursts coalesce into one fetch upstream).
 *
 *	struct webhook_result r;
 *	int rc = webhook_verify(&r, headers, nheaders, body, len, secret, secret_len, &err);
 *	if (rc == SW_ENOTFOUND || rc == SW_EPERM) ... 401, audit event with err.msg ...
 *	else if (rc == SW_EINVAL) ... 413 ...
 *	else if (rc < 0) ... 500 (the source's secret is unusable) ...
 *	else if (webhook_ref_matches(&r, source->ref)) ... queue one fetch ...
 *	else ... 202, nothing to do (a push to another branch) ...
 *
 * Formats. The provider is told by the signature header present, tried in
 * this order (Forgejo also sends Gitea's headers, and Gitea GitHub's):
 *
 *   provider  signature header                 value                       event header
 *   forgejo   X-Forgejo-Signature              64 hex, HMAC-SHA256(body)   X-Forgejo-Event
 *   gitea     X-Gitea-Signature                64 hex, HMAC-SHA256(body)   X-Gitea-Event
 *   github    X-Hub-Signature-256              "sha256=" + 64 hex          X-GitHub-Event
 *   gitlab    X-Gitlab-Token                   the secret itself           X-Gitlab-Event
 *   generic   X-Slipway-Signature              "sha256=" + 64 hex          X-Slipway-Event
 *
 * The HMAC key is the secret's bytes, the message the raw body as received
 * (before any decoding). Hex digits may be upper or lower case; anything
 * but exactly 64 of them (after the prefix, which is matched without
 * regard to case) is a bad signature. GitHub's older X-Hub-Signature
 * (HMAC-SHA1) is not accepted. Header names match in any case; values
 * lose leading and trailing spaces and tabs (HTTP's optional whitespace).
 *
 * The generic form is Slipway's own, for a CI job or a script: any body
 * (a JSON object with "ref" to say what was pushed, or empty for "something
 * changed"), signed like GitHub's. For example, with the secret in
 * /etc/slipway/shop.hook (the API strips one trailing newline, as does
 * $(cat), unless the file ends with several) and $API the address of
 * the TCP API listener:
 *
 *	body='{"ref":"refs/heads/main"}'
 *	sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$(cat /etc/slipway/shop.hook)" |
 *	      awk '{print $NF}')
 *	curl -fsS -X POST -H 'Content-Type: application/json' \
 *	     -H "X-Slipway-Signature: sha256=$sig" --data-binary "$body" \
 *	     "$API/v1/sources/shop/webhook"
 *
 * Comparison is constant-time: the computed HMAC and the received one are
 * compared as 32 bytes with CRYPTO_memcmp; GitLab's token, which has no
 * fixed length, is compared as the SHA-256 of each side (so neither its
 * bytes nor its length leak through timing).
 *
 * Payload. After the signature holds, the body is read as JSON (or, with
 * Content-Type application/x-www-form-urlencoded, as GitHub's and Gitea's
 * "payload=<url-encoded JSON>"). A body that is not a JSON object is no
 * error: the event is still known from its header and the other fields
 * stay empty (the signature is what matters, and an empty ref fetches).
 * Fields read, each left "" when absent, not a string, not valid UTF-8,
 * holding a control character or longer than its array:
 *
 *   ref        "ref", always a full name under refs/ or "" (a "create" or
 *              "delete" event's short name with "ref_type" branch or tag
 *              becomes refs/heads/NAME or refs/tags/NAME; any other short
 *              name is left "", unknown)
 *   after      "after" (github, gitlab, gitea) when 40 or 64 hex digits,
 *              lower-cased; informational only, never what is deployed
 *   URLs       github, gitea, forgejo: repository.clone_url, .ssh_url,
 *              .html_url; gitlab: project.git_http_url, .git_ssh_url,
 *              .web_url (repository.* as a fallback); generic: none
 *
 * Events are normalised: "push" for a push to a branch (GitHub, Gitea and
 * Forgejo "push"; GitLab "Push Hook"; generic when X-Slipway-Event is
 * absent), "tag_push" for GitLab's "Tag Push Hook" and for any push whose
 * ref is under refs/tags/, "ping" for GitHub's ping (also recognised from a
 * body with "zen" and "hook_id" when the event header is missing); any
 * other event keeps its header's value ("create", "Merge Request Hook"),
 * and "" when there is none usable (absent, over 63 bytes, not printable
 * ASCII).
 *
 * Size. WEBHOOK_MAX_BODY is 1 MiB. GitHub sends up to 25 MB, but all that
 * is needed is the ref; a push payload lists at most 20 commits with their
 * changed paths, so it passes 1 MiB only for commits touching thousands of
 * files. Such a push is refused (413) before any HMAC is computed, the git
 * host shows the failed delivery, and the source's periodic poll fetches it.
 */
#ifndef SW_WEBHOOK_H
#define SW_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

#define WEBHOOK_MAX_BODY (1024u * 1024)

/* One request header; both strings NUL-terminated, owned by the caller. */
struct webhook_header {
	const char *name;
	const char *value;
};

/* What a verified request says. Strings are fixed arrays inside the
 * struct (nothing to release); "" means unknown. */
struct webhook_result {
	const char *provider; /* "github", "gitlab", "gitea", "forgejo", "generic"
				 (static); NULL unless webhook_verify returned 0 */
	char event[64];	      /* "push", "tag_push", "ping", another event's name, or "" */
	char ref[1024];	      /* "refs/heads/main", "refs/tags/v1.2.0", or "" */
	char after[65];	      /* the payload's new commit (informational), or "" */
	bool deleted;	      /* the push deleted the ref ("after" all zeros, or
				 GitHub's "deleted": true) */
	bool parsed;	      /* the body was a JSON object (fields may still be "") */
	char clone_url[1024]; /* https clone URL */
	char ssh_url[1024];   /* ssh clone URL ("git@host:o/r.git" or ssh://) */
	char web_url[1024];   /* the repository's page */
};

/*
 * Verifies the request's signature against `secret` (secret_len bytes, as
 * read from the source's secret file with one trailing newline removed;
 * the caller does that, as for Slipway's other secret files) and, when it
 * holds, fills *out as described above. h[0..nh) are the request's
 * headers; body[0..len) the raw body (need not be NUL-terminated; NULL
 * when len is 0). *out is cleared first whatever the result.
 *
 * Returns
 *   0             verified; *out filled
 *   SW_ENOTFOUND  none of the signature headers above is present
 *   SW_EPERM      a signature header is present but does not hold: it
 *                 does not match the secret, is malformed, or appears twice
 *   SW_EINVAL     the body is larger than WEBHOOK_MAX_BODY (checked first)
 *   -1            the secret is empty (it would accept anyone's HMAC)
 * with err set on failure, e.g. "X-Hub-Signature-256 does not match the
 * source's secret". No message ever holds the secret, the expected
 * signature or the received one.
 */
int webhook_verify(struct webhook_result *out, const struct webhook_header *h, size_t nh,
		   const char *body, size_t len, const unsigned char *secret, size_t secret_len,
		   struct sw_err *err);

/*
 * Whether the push described by r may change what a source with ref
 * `source_ref` (as in source_request.ref) fetches, i.e. whether to fetch.
 * False only when it surely cannot; a wrong "true" costs one fetch that
 * finds the same commit. In order:
 *
 *   r->event "ping"                  false (nothing was pushed)
 *   r->ref ""                        true  (the payload did not say)
 *   source_ref NULL or ""            true  (the default branch, which the
 *                                           payload does not name reliably)
 *   source_ref "refs/..."            r->ref equals it
 *   source_ref with '*' ("v1.*")     r->ref is refs/tags/T and T matches the
 *                                    pattern (fnmatch, no flags: as the
 *                                    fetch picks tags)
 *   source_ref 4 to 40 hex digits    true  (a commit is looked up among all
 *                                           branches and tags; a branch of
 *                                           that name is covered too)
 *   any other name ("main", "v1.2.0") r->ref is refs/heads/NAME or
 *                                    refs/tags/NAME (the fetch tries a
 *                                    branch, then a tag)
 *
 * A push that deleted the ref matches like any other (the fetch then says
 * the ref is gone).
 */
bool webhook_ref_matches(const struct webhook_result *r, const char *source_ref);

#endif
