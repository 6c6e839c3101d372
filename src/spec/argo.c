/*
 * argo: Argo Rollouts documents to Slipway documents (argo.h). Each
 * converter reads the keys it knows from one mapping and hands the rest
 * to rest(), which warns once per key left, so that every field of the
 * input is either carried over or reported.
 */
#include "argo.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "node.h"

struct ictx {
	struct spec_argo *imp;
	const char *file;
};

static void warn(struct ictx *x, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void warn(struct ictx *x, int line, int col, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	buf_addf(&b, "%s:%d:%d: ", x->file, line ? line : 1, line ? col : 1);
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	x->imp->warnings = xrealloc(x->imp->warnings, (x->imp->nwarnings + 1) * sizeof(char *));
	x->imp->warnings[x->imp->nwarnings++] = buf_detach(&b);
}

/* Why a field has no counterpart, where a reason says more than "not carried over". */
static const struct {
	const char *key, *why;
} reasons[] = {
	{"trafficRouting", "is not supported; traffic goes through Slipway's proxy"},
	{"canaryService", "is not needed; Slipway's proxy routes to each version itself"},
	{"stableService", "is not needed; Slipway's proxy routes to each version itself"},
	{"activeService", "is not needed; Slipway's proxy routes to each version itself"},
	{"resources", "is not supported; Slipway does not limit an instance's resources yet"},
	{"namespace", "is not supported; Slipway has one namespace"},
};

/* Warns for every key of `map` not in `handled` (NULL-terminated). */
static void rest(struct ictx *x, const struct snode *map, const char *path, const char *const *handled)
{
	if (!map || map->type != SN_MAP)
		return;
	for (size_t i = 0; i + 1 < map->nkids; i += 2) {
		const struct snode *k = map->kids[i];
		bool known = false;
		for (size_t h = 0; handled[h] && !known; h++)
			known = strcmp(handled[h], k->text) == 0;
		if (known)
			continue;
		const char *why = "is not carried over";
		for (size_t r = 0; r < sizeof(reasons) / sizeof(reasons[0]); r++)
			if (strcmp(reasons[r].key, k->text) == 0)
				why = reasons[r].why;
		warn(x, k->line, k->col, "%s%s%s %s", path, *path ? "." : "", k->text, why);
	}
}

static const struct snode *get(const struct snode *map, const char *key)
{
	const struct snode *n = snode_get(map, key);
	return n && n->type != SN_NULL ? n : NULL;
}

static bool is_uint(const struct snode *n)
{
	return n && n->type == SN_SCALAR && n->len > 0 && strspn(n->text, "0123456789") == n->len;
}

/* A scalar as a JSON integer when it is one, else as a string. */
static json_t *scalar(const struct snode *n)
{
	if (!n || n->type != SN_SCALAR)
		return json_null();
	if (!n->quoted && is_uint(n) && n->len < 10)
		return json_integer(strtol(n->text, NULL, 10));
	return json_string(n->text);
}

/* Argo's integer seconds as a Slipway duration. */
static json_t *seconds(const struct snode *n)
{
	if (is_uint(n))
		return json_sprintf("%ss", n->text);
	return scalar(n);
}

static void copy(json_t *to, const char *key, const struct snode *map, const char *from)
{
	const struct snode *n = get(map, from);
	if (n)
		json_object_set_new(to, key, scalar(n));
}

static void copy_seconds(json_t *to, const char *key, const struct snode *map, const char *from)
{
	const struct snode *n = get(map, from);
	if (n)
		json_object_set_new(to, key, seconds(n));
}

static json_t *strings(const struct snode *seq)
{
	json_t *a = json_array();
	for (size_t i = 0; seq && seq->type == SN_SEQ && i < seq->nkids; i++)
		json_array_append_new(a, json_string(seq->kids[i]->text ? seq->kids[i]->text : ""));
	return a;
}

/* A container's command followed by its args, as Kubernetes runs them. */
static json_t *argv_of(const struct snode *container)
{
	json_t *cmd = strings(get(container, "command")), *args = strings(get(container, "args"));
	json_array_extend(cmd, args);
	json_decref(args);
	return cmd;
}

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *pathf(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return buf_detach(&b);
}

/* ---- analysis ---- */

static json_t *args_of(struct ictx *x, const struct snode *seq, const char *path, bool need_value)
{
	json_t *a = json_array();
	for (size_t i = 0; seq && seq->type == SN_SEQ && i < seq->nkids; i++) {
		const struct snode *arg = seq->kids[i];
		char *p = pathf("%s.args[%zu]", path, i);
		static const char *const known[] = {"name", "value", NULL};
		rest(x, arg, p, known);
		if (get(arg, "name") && (get(arg, "value") || !need_value)) {
			json_t *o = json_pack("{s:s}", "name", get(arg, "name")->text);
			if (get(arg, "value"))
				json_object_set_new(o, "value", json_string(get(arg, "value")->text));
			json_array_append_new(a, o);
		}
		free(p);
	}
	return a;
}

static json_t *aref(struct ictx *x, const struct snode *map, const char *path)
{
	static const char *const known[] = {"templates", "args", NULL};
	json_t *r = json_object();
	json_t *t = json_array();
	const struct snode *ts = get(map, "templates");
	rest(x, map, path, known);
	for (size_t i = 0; ts && ts->type == SN_SEQ && i < ts->nkids; i++) {
		static const char *const tk[] = {"templateName", "clusterScope", NULL};
		char *p = pathf("%s.templates[%zu]", path, i);
		rest(x, ts->kids[i], p, tk);
		if (get(ts->kids[i], "templateName"))
			json_array_append_new(t, json_pack("{s:s}", "templateName", get(ts->kids[i], "templateName")->text));
		free(p);
	}
	json_object_set_new(r, "templates", t);
	if (get(map, "args"))
		json_object_set_new(r, "args", args_of(x, get(map, "args"), path, true));
	return r;
}

static json_t *job_command(struct ictx *x, const struct snode *job, const struct snode *key, const char *path)
{
	const struct snode *cs = get(get(get(get(job, "spec"), "template"), "spec"), "containers");
	const struct snode *c0 = cs && cs->type == SN_SEQ && cs->nkids ? cs->kids[0] : NULL;
	json_t *cmd = argv_of(c0);
	warn(x, key->kline, key->kcol, "%s runs its container's command on this host (exec); image \"%s\" is not used",
	     path, get(c0, "image") ? get(c0, "image")->text : "");
	if (json_array_size(cmd) == 0)
		json_array_append_new(cmd, json_string("false"));
	return json_pack("{s:o}", "command", cmd);
}

static json_t *provider(struct ictx *x, const struct snode *map, const char *path)
{
	static const char *const known[] = {"prometheus", "web", "job", NULL};
	json_t *p = json_object();
	const struct snode *n;
	rest(x, map, path, known);
	if ((n = get(map, "prometheus"))) {
		static const char *const pk[] = {"address", "query", "timeout", NULL};
		char *pp = pathf("%s.prometheus", path);
		json_t *o = json_object();
		rest(x, n, pp, pk);
		copy(o, "address", n, "address");
		copy(o, "query", n, "query");
		copy_seconds(o, "timeout", n, "timeout");
		json_object_set_new(p, "prometheus", o);
		free(pp);
	} else if ((n = get(map, "web"))) {
		static const char *const wk[] = {"url", "method", "headers", "body", "jsonPath", "timeoutSeconds", NULL};
		char *pp = pathf("%s.web", path);
		json_t *o = json_object(), *h = json_array();
		const struct snode *hs = get(n, "headers");
		rest(x, n, pp, wk);
		copy(o, "url", n, "url");
		copy(o, "method", n, "method");
		for (size_t i = 0; hs && hs->type == SN_SEQ && i < hs->nkids; i++)
			if (get(hs->kids[i], "key") && get(hs->kids[i], "value"))
				json_array_append_new(h, json_pack("{s:s,s:s}", "name", get(hs->kids[i], "key")->text,
								   "value", get(hs->kids[i], "value")->text));
		if (json_array_size(h))
			json_object_set(o, "headers", h);
		json_decref(h);
		copy(o, "body", n, "body");
		copy(o, "jsonPath", n, "jsonPath");
		copy_seconds(o, "timeout", n, "timeoutSeconds");
		json_object_set_new(p, "web", o);
		free(pp);
	} else if ((n = get(map, "job"))) {
		char *pp = pathf("%s.job", path);
		const struct snode *key = NULL;
		for (size_t i = 0; i + 1 < map->nkids; i += 2)
			if (strcmp(map->kids[i]->text, "job") == 0)
				key = map->kids[i + 1];
		json_object_set_new(p, "exec", job_command(x, n, key, pp));
		free(pp);
	}
	return p;
}

static json_t *template_doc(struct ictx *x, const struct snode *doc)
{
	static const char *const dk[] = {"apiVersion", "kind", "metadata", "spec", NULL};
	static const char *const mk[] = {"name", "labels", NULL};
	static const char *const sk[] = {"args", "metrics", NULL};
	static const char *const metk[] = {"name", "interval", "count", "initialDelay", "failureLimit",
					   "inconclusiveLimit", "consecutiveErrorLimit", "successCondition",
					   "failureCondition", "provider", NULL};
	const struct snode *meta = get(doc, "metadata"), *spec = get(doc, "spec");
	json_t *s = json_object(), *ms = json_array();
	rest(x, doc, "", dk);
	rest(x, meta, "metadata", mk);
	rest(x, spec, "spec", sk);
	if (get(spec, "args"))
		json_object_set_new(s, "args", args_of(x, get(spec, "args"), "spec", false));
	const struct snode *mets = get(spec, "metrics");
	for (size_t i = 0; mets && mets->type == SN_SEQ && i < mets->nkids; i++) {
		const struct snode *m = mets->kids[i];
		char *p = pathf("spec.metrics[%zu]", i), *pp = pathf("%s.provider", p);
		json_t *o = json_object();
		rest(x, m, p, metk);
		for (size_t k = 0; k < 9; k++)
			copy(o, metk[k], m, metk[k]);
		json_object_set_new(o, "provider", provider(x, get(m, "provider"), pp));
		json_array_append_new(ms, o);
		free(p);
		free(pp);
	}
	json_object_set_new(s, "metrics", ms);
	return json_pack("{s:s,s:s,s:{s:s},s:o}", "apiVersion", "slipway/v1", "kind", "AnalysisTemplate", "metadata",
			 "name", get(meta, "name") ? get(meta, "name")->text : "", "spec", s);
}

/* ---- Rollout ---- */

static json_t *probe(struct ictx *x, const struct snode *p, const char *path, const char *port_name, long port)
{
	static const char *const pk[] = {"httpGet", "tcpSocket", "exec", "periodSeconds", "timeoutSeconds",
					 "initialDelaySeconds", "failureThreshold", "successThreshold", NULL};
	json_t *o = json_object();
	const struct snode *n;
	rest(x, p, path, pk);
	const char *kinds[] = {"httpGet", "tcpSocket"};
	for (size_t k = 0; k < 2; k++) {
		if (!(n = get(p, kinds[k])))
			continue;
		static const char *const hk[] = {"path", "port", NULL};
		char *pp = pathf("%s.%s", path, kinds[k]);
		json_t *h = json_object();
		const struct snode *pt = get(n, "port");
		rest(x, n, pp, hk);
		if (k == 0)
			copy(h, "path", n, "path");
		/* the container's own port is the instance's ${PORT} */
		if (pt && is_uint(pt) && strtol(pt->text, NULL, 10) != port)
			json_object_set_new(h, "port", scalar(pt));
		else if (pt && !is_uint(pt) && !(port_name && strcmp(pt->text, port_name) == 0))
			warn(x, pt->line, pt->col, "%s.port \"%s\" names no container port; the instance's port is probed",
			     pp, pt->text);
		json_object_set_new(o, k == 0 ? "http" : "tcp", h);
		free(pp);
	}
	if ((n = get(p, "exec")))
		json_object_set_new(o, "exec", json_pack("{s:o}", "command", strings(get(n, "command"))));
	copy_seconds(o, "period", p, "periodSeconds");
	copy_seconds(o, "timeout", p, "timeoutSeconds");
	copy_seconds(o, "initialDelay", p, "initialDelaySeconds");
	copy(o, "failureThreshold", p, "failureThreshold");
	copy(o, "successThreshold", p, "successThreshold");
	return o;
}

static json_t *steps(struct ictx *x, const struct snode *seq)
{
	json_t *a = json_array();
	for (size_t i = 0; seq && seq->type == SN_SEQ && i < seq->nkids; i++) {
		static const char *const known[] = {"setWeight", "pause", "analysis", NULL};
		const struct snode *s = seq->kids[i], *n;
		char *p = pathf("spec.strategy.canary.steps[%zu]", i);
		rest(x, s, p, known);
		if ((n = get(s, "setWeight"))) {
			json_array_append_new(a, json_pack("{s:o}", "setWeight", scalar(n)));
		} else if (snode_get(s, "pause")) {
			static const char *const pk[] = {"duration", NULL};
			char *pp = pathf("%s.pause", p);
			const struct snode *pause = snode_get(s, "pause");
			json_t *o = json_object();
			rest(x, pause, pp, pk);
			copy_seconds(o, "duration", pause, "duration");
			json_array_append_new(a, json_pack("{s:o}", "pause", o));
			free(pp);
		} else if ((n = get(s, "analysis"))) {
			char *pp = pathf("%s.analysis", p);
			json_array_append_new(a, json_pack("{s:o}", "analysis", aref(x, n, pp)));
			free(pp);
		}
		free(p);
	}
	return a;
}

static json_t *strategy(struct ictx *x, const struct snode *st)
{
	static const char *const sk[] = {"canary", "blueGreen", NULL};
	static const char *const ck[] = {"steps", "analysis", NULL};
	static const char *const bk[] = {"autoPromotionEnabled", "autoPromotionSeconds", "prePromotionAnalysis",
					 "postPromotionAnalysis", "scaleDownDelaySeconds", "activeService", NULL};
	const struct snode *n;
	rest(x, st, "spec.strategy", sk);
	if ((n = get(st, "canary"))) {
		json_t *c = json_object();
		rest(x, n, "spec.strategy.canary", ck);
		if (get(n, "steps"))
			json_object_set_new(c, "steps", steps(x, get(n, "steps")));
		if (get(n, "analysis"))
			json_object_set_new(c, "analysis", aref(x, get(n, "analysis"), "spec.strategy.canary.analysis"));
		return json_pack("{s:o}", "canary", c);
	}
	if ((n = get(st, "blueGreen"))) {
		json_t *b = json_object();
		rest(x, n, "spec.strategy.blueGreen", bk);
		copy(b, "autoPromotionSeconds", n, "autoPromotionSeconds");
		if (!get(n, "autoPromotionSeconds") && !(get(n, "autoPromotionEnabled") &&
							  strcmp(get(n, "autoPromotionEnabled")->text, "false") == 0))
			json_object_set_new(b, "autoPromotion", json_string("0s")); /* Argo promotes at once by default */
		if (get(n, "prePromotionAnalysis"))
			json_object_set_new(b, "prePromotionAnalysis",
					    aref(x, get(n, "prePromotionAnalysis"), "spec.strategy.blueGreen.prePromotionAnalysis"));
		if (get(n, "postPromotionAnalysis"))
			json_object_set_new(b, "postPromotionAnalysis",
					    aref(x, get(n, "postPromotionAnalysis"), "spec.strategy.blueGreen.postPromotionAnalysis"));
		copy_seconds(b, "scaleDownDelay", n, "scaleDownDelaySeconds");
		return json_pack("{s:o}", "blueGreen", b);
	}
	return NULL;
}

static json_t *rollout_doc(struct ictx *x, const struct snode *doc)
{
	static const char *const dk[] = {"apiVersion", "kind", "metadata", "spec", NULL};
	static const char *const mk[] = {"name", "labels", NULL};
	static const char *const sk[] = {"replicas", "selector", "template", "strategy", "progressDeadlineSeconds", NULL};
	static const char *const tk[] = {"metadata", "spec", NULL};
	static const char *const pk[] = {"containers", NULL};
	static const char *const ck[] = {"name", "image", "imagePullPolicy", "command", "args", "env", "ports",
					 "readinessProbe", "livenessProbe", NULL};
	const struct snode *meta = get(doc, "metadata"), *spec = get(doc, "spec");
	const struct snode *tmpl = get(spec, "template"), *pod = get(tmpl, "spec");
	const struct snode *cs = get(pod, "containers");
	const struct snode *c0 = cs && cs->type == SN_SEQ && cs->nkids ? cs->kids[0] : NULL;
	const char *image = get(c0, "image") ? get(c0, "image")->text : "";
	json_t *s = json_object(), *run = json_object();
	long port = 0;
	const char *port_name = NULL;

	rest(x, doc, "", dk);
	rest(x, meta, "metadata", mk);
	rest(x, spec, "spec", sk);
	rest(x, tmpl, "spec.template", tk);
	rest(x, pod, "spec.template.spec", pk);
	rest(x, c0, "spec.template.spec.containers[0]", ck);
	for (size_t i = 1; cs && i < cs->nkids; i++)
		warn(x, cs->kids[i]->line, cs->kids[i]->col,
		     "spec.template.spec.containers[%zu] is not carried over; an App runs one command", i);

	/* the image's tag is the version; a digest or no tag keeps the whole reference */
	const char *slash = strrchr(image, '/'), *colon = strrchr(slash ? slash : image, ':');
	json_object_set_new(s, "version", json_string(colon && !strchr(image, '@') ? colon + 1 : *image ? image : "1"));
	if (get(spec, "replicas"))
		json_object_set_new(s, "replicas", scalar(get(spec, "replicas")));

	const struct snode *img = snode_get(c0, "image");
	if (get(c0, "command") || get(c0, "args")) {
		json_object_set_new(run, "command", argv_of(c0));
		warn(x, img ? img->kline : 1, img ? img->kcol : 1,
		     "spec.template.spec.containers[0].image \"%s\" is not used: Slipway runs commands, not images "
		     "(there is no run.image yet); its command is run on this host",
		     image);
	} else {
		json_object_set_new(run, "command",
				    json_pack("[s,s]", "false", "fill in the command that runs the image, with --port ${PORT}"));
		warn(x, img ? img->kline : 1, img ? img->kcol : 1,
		     "spec.template.spec.containers[0].image \"%s\" cannot be run: Slipway runs commands, not images "
		     "(there is no run.image yet); fill in spec.run.command",
		     image);
	}
	const struct snode *env = get(c0, "env");
	json_t *e = json_array();
	for (size_t i = 0; env && env->type == SN_SEQ && i < env->nkids; i++) {
		static const char *const ek[] = {"name", "value", NULL};
		char *p = pathf("spec.template.spec.containers[0].env[%zu]", i);
		rest(x, env->kids[i], p, ek);
		if (get(env->kids[i], "name") && get(env->kids[i], "value"))
			json_array_append_new(e, json_pack("{s:s,s:s}", "name", get(env->kids[i], "name")->text, "value",
							   get(env->kids[i], "value")->text));
		free(p);
	}
	if (json_array_size(e))
		json_object_set(run, "env", e);
	json_decref(e);
	json_object_set_new(s, "run", run);

	const struct snode *ports = get(c0, "ports");
	for (size_t i = 0; ports && ports->type == SN_SEQ && i < ports->nkids; i++) {
		static const char *const pok[] = {"containerPort", "name", "protocol", NULL};
		char *p = pathf("spec.template.spec.containers[0].ports[%zu]", i);
		if (i == 0) {
			rest(x, ports->kids[i], p, pok);
			port = is_uint(get(ports->kids[0], "containerPort")) ?
				       strtol(get(ports->kids[0], "containerPort")->text, NULL, 10) : 0;
			port_name = get(ports->kids[0], "name") ? get(ports->kids[0], "name")->text : NULL;
		} else {
			warn(x, ports->kids[i]->line, ports->kids[i]->col,
			     "%s is not carried over; an instance listens on one port, ${PORT}", p);
		}
		free(p);
	}
	if (get(c0, "readinessProbe"))
		json_object_set_new(s, "readiness", probe(x, get(c0, "readinessProbe"),
							 "spec.template.spec.containers[0].readinessProbe", port_name, port));
	if (get(c0, "livenessProbe"))
		json_object_set_new(s, "liveness", probe(x, get(c0, "livenessProbe"),
							"spec.template.spec.containers[0].livenessProbe", port_name, port));
	copy_seconds(s, "progressDeadline", spec, "progressDeadlineSeconds");
	json_t *st = get(spec, "strategy") ? strategy(x, get(spec, "strategy")) : NULL;
	if (st)
		json_object_set_new(s, "strategy", st);
	json_t *d = json_pack("{s:s,s:s,s:{s:s},s:o}", "apiVersion", "slipway/v1", "kind", "App", "metadata", "name",
			      get(meta, "name") ? get(meta, "name")->text : "", "spec", s);
	if (port)
		json_object_set_new(d, "\x01port", json_integer(port)); /* for spec_argo_finish */
	return d;
}

/* ---- the module's API ---- */

void spec_argo_init(struct spec_argo *imp)
{
	memset(imp, 0, sizeof(*imp));
	imp->services = json_array();
}

static void add_doc(struct spec_argo *imp, json_t *doc)
{
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	const char *name = json_string_value(json_object_get(json_object_get(doc, "metadata"), "name"));
	imp->docs = xrealloc(imp->docs, (imp->ndocs + 1) * sizeof(json_t *));
	imp->names = xrealloc(imp->names, (imp->ndocs + 1) * sizeof(char *));
	imp->docs[imp->ndocs] = doc;
	/* a document without a name was warned about; its file still needs one */
	imp->names[imp->ndocs++] = pathf("%s-%s", kind && strcmp(kind, "App") == 0 ? "app" : "template",
					 name ? name : "unnamed");
}

int spec_argo_add(struct spec_argo *imp, const char *text, size_t len, const char *file, struct sw_err *err)
{
	struct snode **roots = NULL;
	size_t n = 0;
	struct ictx x = {imp, file};
	if (snode_from_yaml(&roots, &n, text, len, file, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct snode *d = roots[i], *kind = get(d, "kind");
		if (d->type == SN_NULL)
			continue;
		const char *k = kind && kind->type == SN_SCALAR ? kind->text : "";
		if (strcmp(k, "Rollout") == 0) {
			add_doc(imp, rollout_doc(&x, d));
		} else if (strcmp(k, "AnalysisTemplate") == 0 || strcmp(k, "ClusterAnalysisTemplate") == 0) {
			add_doc(imp, template_doc(&x, d));
		} else if (strcmp(k, "Service") == 0) {
			const struct snode *ps = get(get(d, "spec"), "ports");
			const struct snode *p0 = ps && ps->type == SN_SEQ && ps->nkids ? ps->kids[0] : NULL;
			if (is_uint(get(p0, "port")))
				json_array_append_new(imp->services,
						      json_pack("{s:o,s:o}", "port", scalar(get(p0, "port")), "targetPort",
								scalar(get(p0, "targetPort"))));
		} else {
			warn(&x, d->line, d->col, "kind \"%s\" is not carried over", k);
		}
	}
	for (size_t i = 0; i < n; i++)
		snode_free(roots[i]);
	free(roots);
	return 0;
}

void spec_argo_finish(struct spec_argo *imp)
{
	for (size_t i = 0; i < imp->ndocs; i++) {
		json_t *d = imp->docs[i], *port = json_object_get(d, "\x01port");
		size_t k;
		json_t *svc;
		json_array_foreach (imp->services, k, svc) {
			json_t *t = json_object_get(svc, "targetPort");
			if (port && (json_equal(t, port) || json_is_null(t))) {
				char *listen = pathf("127.0.0.1:%lld", (long long)json_integer_value(json_object_get(svc, "port")));
				json_object_set_new(json_object_get(d, "spec"), "route", json_pack("{s:s}", "listen", listen));
				free(listen);
			}
		}
		json_object_del(d, "\x01port");
	}
}

void spec_argo_release(struct spec_argo *imp)
{
	for (size_t i = 0; i < imp->ndocs; i++) {
		json_decref(imp->docs[i]);
		free(imp->names[i]);
	}
	for (size_t i = 0; i < imp->nwarnings; i++)
		free(imp->warnings[i]);
	free(imp->docs);
	free(imp->names);
	free(imp->warnings);
	json_decref(imp->services);
	memset(imp, 0, sizeof(*imp));
}

/* ---- YAML out ---- */

static void emit(struct buf *b, const json_t *v, int indent, bool in_seq);

/* A scalar as a JSON value, which is YAML too; what JSON cannot write (a
 * NaN) is null. */
static void emit_scalar(struct buf *b, const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
	buf_adds(b, s ? s : "null");
	free(s);
}

/* A key: plain when it is a plain word (every key a document of ours
 * has), else quoted as a JSON string, so any key the input held reads back. */
static void emit_key(struct buf *b, const char *key)
{
	bool plain = (key[0] >= 'a' && key[0] <= 'z') || (key[0] >= 'A' && key[0] <= 'Z') || key[0] == '_';
	for (const char *p = key; plain && *p; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			*p == '_' || *p == '-' || *p == '.';
	if (plain) {
		buf_adds(b, key);
	} else {
		json_t *k = json_string(key);
		emit_scalar(b, k);
		json_decref(k);
	}
	buf_addc(b, ':');
}

static void emit(struct buf *b, const json_t *v, int indent, bool in_seq)
{
	const char *key;
	json_t *val;
	size_t i;
	bool first = true;
	if (json_is_object(v) && json_object_size(v)) {
		json_object_foreach ((json_t *)v, key, val) {
			if (!(first && in_seq))
				buf_addf(b, "%*s", indent, "");
			first = false;
			emit_key(b, key);
			if ((json_is_object(val) && json_object_size(val)) || (json_is_array(val) && json_array_size(val))) {
				buf_addc(b, '\n');
				emit(b, val, indent + 2, false);
			} else {
				buf_addc(b, ' ');
				emit_scalar(b, val);
				buf_addc(b, '\n');
			}
		}
	} else if (json_is_array(v) && json_array_size(v)) {
		json_array_foreach (v, i, val) {
			buf_addf(b, "%*s- ", indent, "");
			if (json_is_object(val) && json_object_size(val)) {
				emit(b, val, indent + 2, true);
			} else {
				emit_scalar(b, val);
				buf_addc(b, '\n');
			}
		}
	} else {
		buf_addf(b, "%*s", indent, "");
		emit_scalar(b, v);
		buf_addc(b, '\n');
	}
}

char *spec_yaml_emit(const json_t *doc)
{
	struct buf b = BUF_INIT;
	emit(&b, doc, 0, false);
	return buf_detach(&b);
}
