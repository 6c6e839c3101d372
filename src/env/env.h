/*
 * env: the Environment kind. An environment is a named isolation boundary
 * on a host (docs/environments.md; the design is docs/internals/
 * environments.md): app names are unique within one, its instances take
 * ports from its own range, and its apps' routes stay inside the listen
 * addresses it allows.
 *
 *	apiVersion: slipway/v1
 *	kind: Environment
 *	metadata: {name: staging, labels: {tier: pre}}
 *	spec:
 *	  ports: 21000-21999              # its instances' ports; default: the daemon's range
 *	  listen: ["127.0.0.1:9000-9099"] # where its routes may listen; default: anywhere
 *	  windows:                        # when new revisions may start; default: always
 *	    - {kind: deny, schedule: "0 22 * * 5", duration: 60h, timeZone: Europe/Berlin}
 *	  recipients: [age1...]           # the keys its valueFrom.age values are encrypted to
 *	  promotion:                      # releases come from staging (promotion.h)
 *	    from: dev
 *	    soak: 10m                     # Healthy upstream this long first
 *	    analysis: {templates: [golden]}
 *	    approvals: 2                  # distinct approvers
 *	    approvalTimeout: 24h          # an approval expires
 *	    automatic: true               # false: it also waits for `slipway promote`
 *
 * This module is the document and the rules, pure (no store, no I/O):
 * its field tables (registered with the spec engine by env_kinds_register,
 * so that `validate`, `apply` and `explain` know the kind), and the
 * checks the engine makes at apply (ranges that overlap, a listen address
 * an environment does not allow). The engine stores Environment documents
 * as objects like every module kind, and decides with these functions.
 * The environment "default" always exists and takes no document.
 *
 * Sync windows (env_window_check) say whether a new revision may start
 * now and until when, as a sentence for users; the engine holds the
 * revisions (src/engine/windows.c). Recipients are the public keys its
 * values are encrypted to; which of the daemon's keys open which
 * environment's values is env_key_usable's rule.
 * Windows and recipients come later: each is a row of the tables in env.c
 * and a field here. How a promotion moves through its gates is
 * promotion.h (pure, like the rollout).
 */
#ifndef SW_ENV_H
#define SW_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/age.h"
#include "core/core.h"
#include "core/window.h"
#include "spec/fields.h"
#include "spec/reference.h"
#include "spec/spec.h"

/* One pattern of spec.listen: an address with a range of ports. */
struct env_listen {
	char host[48];                /* the canonical host as core/addr writes it ("127.0.0.1",
					 "[::1]"), or "*" for any host */
	uint16_t min, max;            /* ports, min <= max */
};

/* spec.promotion: where the environment takes its releases from, and the
 * gates a release passes on the way (docs/environments.md, "Promotion"). */
struct env_promotion {
	char *from;                   /* the upstream environment, a DNS label; NULL: the
					 environment takes no promotions */
	char *from_at;                /* "file:line:col" of from, for messages */
	char *remote_api;             /* promotion.remote.api: the upstream environment lives
					 on the host whose API this is (http://host-a:7070);
					 NULL: on this host */
	char *remote_token_file;      /* promotion.remote.tokenFile: an absolute path on this
					 host to a token of a viewer of `from` there */
	bool automatic;               /* default true; false: applied on `slipway promote` */
	uint64_t soak_ms;             /* Healthy upstream this long first; default 0 */
	struct spec_analysis_ref analysis; /* against the upstream app; no templates: none */
	uint32_t approvals;           /* distinct approvers; default 0 */
	uint64_t approval_timeout_ms; /* an approval expires after it; default 24h */
};

#define ENV_APPROVAL_TIMEOUT_MS (24ull * 3600 * 1000)
#define ENV_APPROVALS_MAX 16      /* the most approvals a promotion may ask for */

/* A validated Environment document. */
struct env_spec {
	char *name;                   /* metadata.name, a DNS label, never "default" */
	json_t *labels;               /* metadata.labels, NULL when none */
	uint16_t port_min, port_max;  /* spec.ports; both 0: the daemon's range, shared */
	struct env_listen *listen;    /* spec.listen; none: any address */
	size_t nlisten;
	struct sw_window *windows;    /* spec.windows, in document order */
	size_t nwindows;
	struct age_recipient *recipients; /* spec.recipients; none: the daemon's keys that no
					 environment lists open its values */
	size_t nrecipients;
	struct env_promotion promotion;
	char *source;                 /* "file:line:col" of the document */
};

extern const struct spec_kind env_kind;
extern const struct spec_table env_table;
/* Its fields' descriptions (docs.c), for `slipway explain environment`. */
extern const struct spec_ref_doc env_docs[];

/* Registers the kind with the spec engine and the reference, once,
 * before anything is parsed (src/main.c, for every role). */
void env_kinds_register(void);

void env_spec_free(struct env_spec *e);
/* Inverse of the kind's to_json (a stored document), validated as the
 * YAML path is. */
int env_spec_from_json(struct env_spec **out, const json_t *json, struct sw_err *err);

/* Whether the two environments have ports in common (one without a range
 * has none in common with anyone). */
bool env_ports_overlap(const struct env_spec *a, const struct env_spec *b);

/* Whether the environment allows a route to listen on `listen` (canonical
 * "host:port", as a parsed App has it): true without spec.listen, else
 * when a pattern has its host (or "*") and its port in range. */
bool env_listen_allows(const struct env_spec *e, const char *listen);

/*
 * The chain of `promotion.from` that leads from environment `name` back
 * to itself, when there is one: out gets "prod -> staging -> prod" and
 * the call returns true. lookup(name, data) gives an environment's
 * document as it will be (NULL: none, or default, which takes none).
 * Pure; for the engine's check at apply.
 */
typedef const struct env_spec *(*env_lookup_fn)(const char *name, void *data);
bool env_promotion_cycle(const char *name, env_lookup_fn lookup, void *data, char *out,
			 size_t size);

/* spec.ports as written ("21000-21999"), "" without a range; and
 * spec.listen joined with ", " ("any" without one), cut at size. */
void env_ports_text(char *out, size_t size, const struct env_spec *e);
void env_listen_text(char *out, size_t size, const struct env_spec *e);

/* ---- sync windows ---- */

/* What the windows say at an instant, for users and for the hold. */
struct env_window_answer {
	bool allowed;                 /* a new revision may start now */
	int64_t until_ms;             /* when that changes; SW_WINDOW_NEVER: not within
					 SW_WINDOW_HORIZON_MS */
	/* "denied until 2026-12-07 08:00 Europe/Berlin (deny \"0 22 * * 5\" 60h)",
	 * "open until 2026-12-04 22:00 Europe/Berlin (deny \"0 22 * * 5\" 60h starts)",
	 * "open (no sync windows)": until in the zone of the window that
	 * decides (the one that changes then when none is active), to the
	 * minute, and that window */
	char text[200];
};

/* The windows of e at now_ms (sw_window_check's rules: deny wins, allow
 * windows allow only their union, none allows always). Pure. */
void env_window_check(struct env_window_answer *out, const struct env_spec *e, int64_t now_ms);

/* One window as users read it: deny "0 22 * * 5" 60h (Europe/Berlin is
 * left to the time that names it). */
void env_window_text(char *out, size_t size, const struct sw_window *w);

/* ---- recipients and keys ---- */

/* Whether r is one of e's recipients. */
bool env_lists_recipient(const struct env_spec *e, const struct age_recipient *r);

/*
 * The rule of who opens what (docs/secrets.md, "Environments"): a key
 * of the daemon whose recipient (public key) is `pub` may open values of
 * environment e (NULL: default) exactly when
 *  - e lists it in spec.recipients, or
 *  - e lists no recipients and no environment of all[0..n) lists it.
 * So a key that one environment names is that environment's only, and a
 * staging key can never open a prod value, whatever it is encrypted to.
 */
bool env_key_usable(const struct env_spec *e, const struct env_spec *const *all, size_t n,
		    const struct age_recipient *pub);

#endif
