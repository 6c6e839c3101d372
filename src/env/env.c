/*
 * The Environment document (env.h): its field tables, read by the spec
 * engine like every kind, and the pure rules the engine applies with it.
 */
#include "env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/buf.h"
#include "spec/node.h"

/* Instances are unprivileged: what `serve --port-range` accepts too. */
#define ENV_PORT_MIN 1024

/* ---- spec.ports: "MIN-MAX" ---- */

static int parse_ports(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	struct env_spec *e = base;
	uint16_t a, b;
	int rc = spec_need_scalar(c, n, "a range of ports like 21000-21999");
	if (rc < 0)
		return rc;
	if (!strchr(n->text, '-') || sw_port_range_parse(n->text, &a, &b) < 0 || a < ENV_PORT_MIN)
		return spec_perr(c, n, "%s must be a range of ports MIN-MAX from %d to 65535, like "
				 "21000-21999, got \"%s\"", spec_subject(c), ENV_PORT_MIN, n->text);
	e->port_min = a;
	e->port_max = b;
	return 0;
}

static json_t *emit_ports(const void *base, const struct spec_field *f)
{
	char text[16];
	env_ports_text(text, sizeof(text), base);
	return *text ? json_string(text) : json_null();
}

static const struct spec_ftype t_ports = {parse_ports, emit_ports, NULL};

/* ---- spec.listen: ["HOST:PORT", "HOST:MIN-MAX", "*:PORT"] ---- */

/* One pattern into out; -1 with the message set. */
static int listen_read(struct spec_pctx *c, const struct snode *n, struct env_listen *out)
{
	const char *s = n->text, *ports;
	char host[64], probe[80], canon[SW_ADDR_MAX];
	size_t hl;
	int rc = spec_need_scalar(c, n, "an address like \"127.0.0.1:9000-9099\"");
	if (rc < 0)
		return rc;
	const char *end = s[0] == '[' ? strchr(s, ']') : NULL;
	const char *colon = end ? (end[1] == ':' ? end + 1 : NULL) : strrchr(s, ':');
	if (!colon)
		return spec_perr(c, n, "%s must be \"HOST:PORT\" or \"HOST:MIN-MAX\" (HOST an IP address, "
				 "localhost or *), got \"%s\"", spec_subject(c), s);
	hl = (size_t)(colon - s);
	ports = colon + 1;
	if (hl == 0 || hl >= sizeof(host) || sw_port_range_parse(ports, &out->min, &out->max) < 0)
		return spec_perr(c, n, "%s must be \"HOST:PORT\" or \"HOST:MIN-MAX\" (ports 1 to 65535, "
				 "MIN <= MAX), got \"%s\"", spec_subject(c), s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (strcmp(host, "*") == 0) {
		snprintf(out->host, sizeof(out->host), "*");
		return 0;
	}
	struct sw_err why = {0};
	snprintf(probe, sizeof(probe), "%s:1", host);
	if (sw_addr_canonical(canon, probe, 0, &why) < 0)
		return spec_perr(c, n, "%s: the host of \"%s\" must be an IP address, localhost or *",
				 spec_subject(c), s);
	canon[strlen(canon) - 2] = '\0'; /* less ":1" */
	snprintf(out->host, sizeof(out->host), "%s", canon);
	return 0;
}

static void free_listen(void *base, const struct spec_field *f)
{
	struct env_spec *e = base;
	free(e->listen);
	e->listen = NULL;
	e->nlisten = 0;
}

static int parse_listen(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	struct env_spec *e = base;
	char gotbuf[128];
	free_listen(base, f);
	if (n->type != SN_SEQ)
		return spec_perr(c, n, "%s must be a list of addresses, got %s", spec_subject(c),
				 SPEC_GOT(n));
	if (n->nkids == 0)
		return spec_perr(c, n, "%s must not be empty (leave it out to allow any address)",
				 spec_subject(c));
	e->listen = xcalloc(n->nkids, sizeof(*e->listen));
	for (size_t i = 0; i < n->nkids; i++) {
		size_t old = spec_path_push_index(c, i);
		int rc = listen_read(c, n->kids[i], &e->listen[i]);
		spec_path_pop(c, old);
		if (rc < 0)
			return rc;
		e->nlisten = i + 1;
	}
	return 0;
}

static void pattern_text(char *out, size_t size, const struct env_listen *l)
{
	if (l->min == l->max)
		snprintf(out, size, "%s:%u", l->host, (unsigned)l->min);
	else
		snprintf(out, size, "%s:%u-%u", l->host, (unsigned)l->min, (unsigned)l->max);
}

static json_t *emit_listen(const void *base, const struct spec_field *f)
{
	const struct env_spec *e = base;
	if (!e->nlisten)
		return json_null();
	json_t *arr = json_array();
	for (size_t i = 0; i < e->nlisten; i++) {
		char p[80];
		pattern_text(p, sizeof(p), &e->listen[i]);
		json_array_append_new(arr, json_string(p));
	}
	return arr;
}

static const struct spec_ftype t_listen = {parse_listen, emit_listen, free_listen};

/* ---- spec.recipients: ["age1..."] ---- */

static void free_recipients(void *base, const struct spec_field *f)
{
	struct env_spec *e = base;
	free(e->recipients);
	e->recipients = NULL;
	e->nrecipients = 0;
}

static int parse_recipients(struct spec_pctx *c, const struct snode *n, void *base,
			    const struct spec_field *f)
{
	struct env_spec *e = base;
	char gotbuf[128];
	free_recipients(base, f);
	if (n->type != SN_SEQ)
		return spec_perr(c, n, "%s must be a list of age recipients (\"age1...\"), got %s",
				 spec_subject(c), SPEC_GOT(n));
	if (n->nkids == 0)
		return spec_perr(c, n, "%s must not be empty (leave it out: the daemon's keys that no "
				 "environment lists open its values)", spec_subject(c));
	e->recipients = xcalloc(n->nkids, sizeof(*e->recipients));
	for (size_t i = 0; i < n->nkids; i++) {
		const struct snode *k = n->kids[i];
		struct sw_err why = {0};
		size_t old = spec_path_push_index(c, i);
		int rc = spec_need_scalar(c, k, "an age recipient like \"age1...\"");
		if (rc == 0 && age_recipient_parse(&e->recipients[i], k->text, &why) < 0)
			rc = spec_perr(c, k, "%s: %s", spec_subject(c), why.msg);
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (memcmp(e->recipients[j].pub, e->recipients[i].pub, AGE_KEY_LEN) == 0)
				rc = spec_perr(c, k, "%s: the recipient is listed twice (first as "
					       "recipients[%zu])", spec_subject(c), j);
		spec_path_pop(c, old);
		if (rc < 0)
			return rc;
		e->nrecipients = i + 1;
	}
	return 0;
}

/* Left out when none, as windows: documents stored before them read the same. */
static json_t *emit_recipients(const void *base, const struct spec_field *f)
{
	const struct env_spec *e = base;
	if (!e->nrecipients)
		return NULL;
	json_t *arr = json_array();
	for (size_t i = 0; i < e->nrecipients; i++) {
		char r[AGE_RECIPIENT_SIZE];
		age_recipient_format(&e->recipients[i], r);
		json_array_append_new(arr, json_string(r));
	}
	return arr;
}

static const struct spec_ftype t_recipients = {parse_recipients, emit_recipients, free_recipients};

/* ---- spec.windows: a list of spec_window_table, left out when empty ---- */

static json_t *emit_windows(const void *base, const struct spec_field *f)
{
	return ((const struct env_spec *)base)->nwindows ? spec_emit_list(base, f) : NULL;
}

static const struct spec_ftype t_windows = {spec_parse_list, emit_windows, spec_free_list};
/* ---- spec.promotion ---- */

/* promotion.from: a DNS label, and where it was written (for the cycle
 * and unknown-environment messages of the engine's check at apply). */
static int parse_from(struct spec_pctx *c, const struct snode *n, void *base, const struct spec_field *f)
{
	struct env_promotion *p = base;
	int rc = spec_t_str.parse(c, n, base, f);
	if (rc < 0)
		return rc;
	free(p->from_at);
	p->from_at = spec_position(c->file, n);
	return 0;
}

static void free_from(void *base, const struct spec_field *f)
{
	struct env_promotion *p = base;
	spec_free_str(base, f);
	free(p->from_at);
	p->from_at = NULL;
}

static const struct spec_ftype t_from = {parse_from, spec_emit_str, free_from};

/* promotion.remote.tokenFile: a path on the daemon's host, absolute
 * (relative to what? the document may come from a laptop or from git). */
static int v_abs_path(struct spec_pctx *c, const struct snode *n, const char *s)
{
	char gotbuf[128];
	if (s[0] == '/')
		return 0;
	return spec_perr(c, n, "%s must be an absolute path on the daemon's host, got %s",
			 spec_subject(c), SPEC_GOT(n));
}

static const struct spec_field remote_fields[] = {
	{"api", &spec_t_str, offsetof(struct env_promotion, remote_api), SPEC_F_REQUIRED, 0,
	 spec_v_url, 0},
	{"tokenFile", &spec_t_str, offsetof(struct env_promotion, remote_token_file),
	 SPEC_F_REQUIRED, 0, v_abs_path, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table remote_table = {remote_fields, -1, 0, NULL, NULL};

/* Without remote the stored form stays what it was before the field. */
static json_t *emit_remote(const void *base, const struct spec_field *f)
{
	const struct env_promotion *p = base;
	return p->remote_api ? spec_table_emit(f->arg, base) : NULL;
}

static const struct spec_ftype t_remote = {spec_parse_sub, emit_remote, spec_free_sub};

static const struct spec_range r_approvals = {0, ENV_APPROVALS_MAX};
static const struct spec_range r_soak = {0, 30ull * 24 * 3600 * 1000};
static const struct spec_range r_approval_timeout = {1000, 366ull * 24 * 3600 * 1000};

static const struct spec_field promotion_fields[] = {
	{"from", &t_from, offsetof(struct env_promotion, from), SPEC_F_REQUIRED, 0, spec_v_dns_label, 0},
	{"remote", &t_remote, 0, 0, 0, &remote_table, 0},
	{"automatic", &spec_t_bool, offsetof(struct env_promotion, automatic), 0, 0, NULL, 0},
	{"soak", &spec_t_dur, offsetof(struct env_promotion, soak_ms), 0, 0, &r_soak, 0},
	{"analysis", &spec_t_analysis_ref, offsetof(struct env_promotion, analysis), 0, 0,
	 &spec_analysis_ref_table, 0},
	{"approvals", &spec_t_u32, offsetof(struct env_promotion, approvals), 0, 0, &r_approvals, 0},
	{"approvalTimeout", &spec_t_dur, offsetof(struct env_promotion, approval_timeout_ms), 0, 0,
	 &r_approval_timeout, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table promotion_table = {promotion_fields, -1, 0, NULL, NULL};

/* The defaults come first: a document says only what differs. */
static int parse_promotion(struct spec_pctx *c, const struct snode *n, void *base,
			   const struct spec_field *f)
{
	struct env_promotion *p = SPEC_AT(base, f->off, struct env_promotion);
	p->automatic = true;
	p->approval_timeout_ms = ENV_APPROVAL_TIMEOUT_MS;
	return spec_parse_sub(c, n, base, f);
}

/* An environment without promotion has none in its stored form, which so
 * stays what it was before the field existed. */
static json_t *emit_promotion(const void *base, const struct spec_field *f)
{
	const struct env_promotion *p = SPEC_CAT(base, f->off, struct env_promotion);
	return p->from ? spec_table_emit(&promotion_table, p) : NULL;
}

static const struct spec_ftype t_promotion = {parse_promotion, emit_promotion, spec_free_sub};

/* ---- the tables ---- */

static const struct spec_field spec_fields[] = {
	{"ports", &t_ports, 0, 0, 0, NULL, 0},
	{"listen", &t_listen, 0, 0, 0, NULL, 0},
	{"windows", &t_windows, offsetof(struct env_spec, windows), 0, 0, &spec_window_table,
	 offsetof(struct env_spec, nwindows)},
	{"recipients", &t_recipients, 0, 0, 0, NULL, 0},
	{"promotion", &t_promotion, offsetof(struct env_spec, promotion), 0, 0, &promotion_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table spec_table = {spec_fields, -1, 0, NULL, NULL};

static int check_meta(struct spec_pctx *c, const struct snode *map, void *base)
{
	const struct env_spec *e = base;
	if (e->name && strcmp(e->name, SPEC_ENV_DEFAULT) == 0)
		return spec_perr(c, snode_get(map, "name"), "environment \"default\" always exists and "
				 "takes no document: name another one");
	return 0;
}

static const struct spec_field meta_fields[] = {
	{"name", &spec_t_str, offsetof(struct env_spec, name), SPEC_F_REQUIRED, 0, spec_v_dns_label, 0},
	{"labels", &spec_t_labels, offsetof(struct env_spec, labels), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct spec_table meta_table = {meta_fields, -1, 0, NULL, check_meta};

static const struct spec_field doc_fields[] = {
	{"apiVersion", &spec_t_api_version, 0, SPEC_F_REQUIRED, 0, NULL, 0},
	{"kind", &spec_t_kind, 0, SPEC_F_REQUIRED, 0, "Environment", 0},
	{"metadata", &spec_t_sub, 0, SPEC_F_REQUIRED, 0, &meta_table, 0},
	{"spec", &spec_t_sub, 0, 0, 0, &spec_table, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct spec_table env_table = {doc_fields, -1, 0, NULL, NULL};

/* ---- the kind ---- */

void env_spec_free(struct env_spec *e)
{
	if (!e)
		return;
	spec_table_free(&env_table, e);
	free(e->source);
	free(e);
}

static int kind_parse(struct spec_pctx *c, const struct snode *root, void **out)
{
	struct env_spec *e = xcalloc(1, sizeof(*e));
	int rc = spec_table_parse(c, root, e, &env_table);
	if (rc < 0) {
		env_spec_free(e);
		return rc;
	}
	if (e->promotion.from && strcmp(e->promotion.from, e->name) == 0) {
		sw_errf(c->err, -1, "%s: spec.promotion.from is \"%s\", the environment itself: name "
			"the environment its releases come from", e->promotion.from_at, e->name);
		env_spec_free(e);
		return -1;
	}
	e->source = spec_position(c->file, root);
	*out = e;
	return 0;
}

static const char *kind_name(const void *obj)
{
	return ((const struct env_spec *)obj)->name;
}

static const char *kind_source(const void *obj)
{
	return ((const struct env_spec *)obj)->source;
}

static json_t *kind_json(const void *obj)
{
	return spec_table_emit(&env_table, obj);
}

static void kind_free(void *obj)
{
	env_spec_free(obj);
}

const struct spec_kind env_kind = {"Environment", kind_parse, kind_name, kind_source, kind_json,
				   kind_free};

static const struct spec_ref_shape shapes[] = {
	{&t_ports, "string", SPEC_REF_LEAF, "\"21000-21999\""},
	{&t_listen, "list of string", SPEC_REF_LEAF, "[\"127.0.0.1:9000-9099\"]"},
	{&t_windows, "list of object", SPEC_REF_LIST, NULL},
	{&t_recipients, "list of string", SPEC_REF_LEAF,
	 "[\"age1gq3jfvpj0w05x0ygzkkh5a0aefqhafpvv2gd568zdf3vnzfs04qqza3ynx\"]"},
	{&t_promotion, "object", SPEC_REF_MAP, NULL},
	{&t_from, "string", SPEC_REF_LEAF, "\"staging\""},
	{&t_remote, "object", SPEC_REF_MAP, NULL},
	{NULL, NULL, 0, NULL},
};

static const struct spec_ref_kind ref_env = {&env_kind, &env_table, env_docs, shapes};

void env_kinds_register(void)
{
	int r = spec_kind_register(&env_kind);
	SW_ASSERT(r == 0);
	r = spec_ref_register(&ref_env);
	SW_ASSERT(r == 0);
}

int env_spec_from_json(struct env_spec **out, const json_t *json, struct sw_err *err)
{
	return spec_doc_from_json(&env_kind, (void **)out, json, err);
}

/* ---- the rules ---- */

bool env_ports_overlap(const struct env_spec *a, const struct env_spec *b)
{
	if (!a->port_min || !b->port_min)
		return false;
	return a->port_min <= b->port_max && b->port_min <= a->port_max;
}

bool env_listen_allows(const struct env_spec *e, const char *listen)
{
	if (!e->nlisten)
		return true;
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	uint16_t port, ignored;
	if (!colon || sw_port_range_parse(colon + 1, &port, &ignored) < 0)
		return false;
	size_t hl = (size_t)(colon - listen);
	for (size_t i = 0; i < e->nlisten; i++) {
		const struct env_listen *l = &e->listen[i];
		bool host = strcmp(l->host, "*") == 0 ||
			    (strlen(l->host) == hl && strncmp(l->host, listen, hl) == 0);
		if (host && port >= l->min && port <= l->max)
			return true;
	}
	return false;
}

bool env_promotion_cycle(const char *name, env_lookup_fn lookup, void *data, char *out,
			 size_t size)
{
	/* a chain longer than the environments there are has a cycle; the
	 * walk from `name` is one path (each environment has one from) */
	struct buf b = BUF_INIT;
	const char *at = name;
	bool cycle = false;
	buf_adds(&b, name);
	for (size_t hops = 0; hops < 256; hops++) {
		const struct env_spec *x = lookup(at, data);
		if (!x || !x->promotion.from || x->promotion.remote_api)
			break; /* a remote upstream is another host's chain */
		at = x->promotion.from;
		buf_addf(&b, " -> %s", at);
		if (strcmp(at, name) == 0) {
			cycle = true;
			break;
		}
	}
	snprintf(out, size, "%s", cycle ? b.s : "");
	buf_release(&b);
	return cycle;
}

void env_ports_text(char *out, size_t size, const struct env_spec *e)
{
	if (e->port_min)
		snprintf(out, size, "%u-%u", (unsigned)e->port_min, (unsigned)e->port_max);
	else if (size)
		*out = '\0';
}

void env_listen_text(char *out, size_t size, const struct env_spec *e)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < e->nlisten; i++) {
		char p[80];
		pattern_text(p, sizeof(p), &e->listen[i]);
		buf_addf(&b, "%s%s", i ? ", " : "", p);
	}
	snprintf(out, size, "%s", e->nlisten ? b.s : "any");
	buf_release(&b);
}

/* ---- sync windows ---- */

void env_window_text(char *out, size_t size, const struct sw_window *w)
{
	char d[32];
	sw_duration_format(d, sizeof(d), w->duration_ms);
	snprintf(out, size, "%s \"%s\" %s", w->kind == SW_WINDOW_DENY ? "deny" : "allow",
		 w->schedule.text, d);
}

/* "2026-12-07 08:00 Europe/Berlin": the instant's wall time in tz. */
static void local_text(char *out, size_t size, int64_t ms, const struct sw_tz *tz)
{
	int64_t secs = ms / 1000 - (ms % 1000 < 0);
	struct sw_civil c;
	sw_civil_from_seconds(&c, secs + sw_tz_utoff(tz, secs));
	snprintf(out, size, "%04lld-%02d-%02d %02d:%02d %s", (long long)c.year, c.mon, c.mday, c.hour,
		 c.min, sw_tz_name(tz));
}

/* The window whose run starts or ends at `at` (the one that changes the
 * answer there when none decides now), or -1. */
static int changes_at(const struct env_spec *e, int64_t now, int64_t at)
{
	for (size_t i = 0; i < e->nwindows; i++) {
		bool before, after;
		int64_t ignored;
		sw_window_at(&before, &ignored, &e->windows[i], at - 1 > now ? at - 1 : now);
		sw_window_at(&after, &ignored, &e->windows[i], at);
		if (before != after)
			return (int)i;
	}
	return -1;
}

void env_window_check(struct env_window_answer *out, const struct env_spec *e, int64_t now_ms)
{
	struct sw_window_state st;
	char when[80], what[120] = "";
	memset(out, 0, sizeof(*out));
	if (!e || !e->nwindows) {
		out->allowed = true;
		out->until_ms = SW_WINDOW_NEVER;
		snprintf(out->text, sizeof(out->text), "open (no sync windows)");
		return;
	}
	sw_window_check(&st, e->windows, e->nwindows, now_ms);
	out->allowed = st.allowed;
	out->until_ms = st.until_ms;
	int by = st.by, then = st.until_ms == SW_WINDOW_NEVER ? -1 : changes_at(e, now_ms, st.until_ms);
	int zone = by >= 0 ? by : then;
	const struct sw_window *w = by >= 0 ? &e->windows[by] : then >= 0 ? &e->windows[then] : NULL;
	if (w)
		env_window_text(what, sizeof(what), w);
	if (st.until_ms == SW_WINDOW_NEVER) {
		snprintf(when, sizeof(when), ", and no window changes that within 400 days");
	} else {
		char t[64];
		local_text(t, sizeof(t), st.until_ms, zone >= 0 ? e->windows[zone].tz : NULL);
		snprintf(when, sizeof(when), " until %s", t);
	}
	if (by >= 0)
		snprintf(out->text, sizeof(out->text), "%s%s (%s)", st.allowed ? "open" : "denied",
			 when, what);
	else if (!st.allowed)
		snprintf(out->text, sizeof(out->text), "denied%s (no allow window is open%s%s%s)", when,
			 w ? "; " : "", what, w ? " opens then" : "");
	else
		snprintf(out->text, sizeof(out->text), "open%s%s%s%s", when, w ? " (" : "", what,
			 w ? " starts then)" : "");
}

/* ---- recipients and keys ---- */

bool env_lists_recipient(const struct env_spec *e, const struct age_recipient *r)
{
	for (size_t i = 0; e && i < e->nrecipients; i++)
		if (memcmp(e->recipients[i].pub, r->pub, AGE_KEY_LEN) == 0)
			return true;
	return false;
}

bool env_key_usable(const struct env_spec *e, const struct env_spec *const *all, size_t n,
		    const struct age_recipient *pub)
{
	if (e && e->nrecipients)
		return env_lists_recipient(e, pub);
	for (size_t i = 0; i < n; i++)
		if (env_lists_recipient(all[i], pub))
			return false;
	return true;
}
