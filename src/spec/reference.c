/*
 * The field reference (reference.h): kinds by the names users give them,
 * paths resolved through the field tables, defaults read from a parsed
 * smallest document, and the one table of descriptions.
 */
#include "reference.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/buf.h"
#include "node.h"

/* ------------------------------------------------------------------ */
/* Descriptions: the only place the reference's prose lives            */

struct ref_doc {
	const char *kind;    /* a kind's name, or "*" for every kind */
	const char *path;    /* "" for the document itself */
	const char *text;
	const char *default_text; /* where the default is not one value: prose instead */
};

/*
 * Where one table is reached by several paths, its fields are described
 * once: a path under `from` that has no description of its own takes the
 * one under `to` (liveness.period is described as readiness.period).
 */
struct ref_alias {
	const char *kind;
	const char *from;
	const char *to;
};

static const struct ref_alias aliases[] = {
	{"App", "spec.liveness", "spec.readiness"},
	{"App", "spec.strategy.canary.analysis", "spec.strategy.canary.steps.analysis"},
	{"App", "spec.strategy.blueGreen.prePromotionAnalysis", "spec.strategy.canary.steps.analysis"},
	{"App", "spec.strategy.blueGreen.postPromotionAnalysis", "spec.strategy.canary.steps.analysis"},
	{"App", "spec.hooks.postDeploy", "spec.hooks.preDeploy"},
	{"App", "spec.hooks.onAbort", "spec.hooks.preDeploy"},
	{"App", "spec.hooks.preDeploy.env", "spec.run.env"},
};

static const struct ref_doc docs[] = {
	/* every kind */
	{"*", "apiVersion", "Always \"slipway/v1\".", NULL},
	{"*", "kind", "The kind of the document.", NULL},
	{"*", "metadata", "The document's name and labels.", NULL},
	{"*", "metadata.name",
	 "The name: lower-case letters, digits and '-', starting and ending with a letter or digit, at "
	 "most 63 characters (a DNS label). Two documents of one kind may not share a name.", NULL},

	/* Patch */
	{"Patch", "",
	 "An environment's part of a base App (an App without metadata.environment): the fields it "
	 "sets are merged onto the base for that environment (Kustomize's strategic merge: mappings "
	 "merge, lists and scalars replace, null deletes, env merges by name). `slipway render ENV` "
	 "prints the result (docs/environments.md, \"Overlays\").", NULL},
	{"Patch", "metadata.name", "The base App this patches.", NULL},
	{"Patch", "metadata.environment", "The environment the patch is for (not default).", NULL},
	{"Patch", "metadata.labels", "Labels merged onto the base's.", NULL},
	{"Patch", "spec",
	 "Any of the App's spec fields (slipway explain app.spec), each optional: what differs in this "
	 "environment.", NULL},

	/* App */
	{"App", "",
	 "An app: how to run its instances, where the proxy serves them, and how a new version replaces "
	 "the old one. A change of its spec is a new revision and starts a rollout.", NULL},
	{"App", "metadata.environment",
	 "The environment the app lives in (a DNS label; a `kind: Environment` of that name must exist, "
	 "or come in the same apply). Apps of one name in two environments are two apps: their "
	 "instances, ports, routes and history are their own. A document without it goes to the "
	 "environment the command selects (`slipway -e ENV`); one that names another is refused "
	 "(docs/environments.md).", "default"},
	{"App", "metadata.labels",
	 "Labels for `slipway get -l` (kubectl's rules: a key is a name of at most 63 letters, digits, "
	 "'-', '_', '.' with an optional \"prefix/\"; a value is empty or such a name). They belong to the "
	 "app, not to a revision: changing only labels rolls nothing out.", NULL},
	{"App", "spec", "What the app runs and how it is rolled out.", NULL},
	{"App", "spec.version",
	 "The version being deployed, as text (1.10 stays \"1.10\"). A change of it, or of anything else "
	 "in the spec, is a new revision.", NULL},
	{"App", "spec.run", "How to start one instance.", NULL},
	{"App", "spec.run.command",
	 "The program and its arguments, run directly (no shell). ${PORT}, ${VERSION}, ${INSTANCE} and "
	 "${APP} are substituted per instance; \"$$\" is a literal \"$\". A relative program path is "
	 "found from workdir.", NULL},
	{"App", "spec.run.workdir",
	 "The working directory. A relative path is taken from the directory of the YAML file and made "
	 "absolute (\"..\" and \".\" resolved by name; it need not exist yet).",
	 "the directory of the file"},
	{"App", "spec.run.env",
	 "Environment variables, in the order written: a mapping of names to values ({GREETING: hi}), or "
	 "a list of {name, value} or {name, valueFrom: {file: PATH}} or {name, valueFrom: {age: ...}}. "
	 "Values may use the variables of command. Names must be unique.", NULL},
	{"App", "spec.run.env.name", "Letters, digits and '_', not starting with a digit.", NULL},
	{"App", "spec.run.env.value", "The value. Exactly one of value and valueFrom.", NULL},
	{"App", "spec.run.env.valueFrom",
	 "{file: PATH}: the file's content, less one trailing newline, is the value, marked secret. PATH "
	 "is relative to the YAML file; the daemon reads it only from its --secret-dir directories, "
	 "validate from anywhere. A regular UTF-8 file of at most 1 MiB. Or {age: ARMOR}: an armored "
	 "age file (`slipway secret encrypt`, or `age -a -r age1...`) that the revision keeps "
	 "encrypted; the daemon opens it with its identity (serve --age-identity) as it starts a "
	 "process, and the value is the plaintext less one trailing newline, not substituted "
	 "(docs/secrets.md).", NULL},
	{"App", "spec.run.env.secret",
	 "Secret values are stored but masked wherever Slipway shows the app; valueFrom makes a value "
	 "secret.", NULL},
	{"App", "spec.replicas", "Instances of the stable version.", NULL},
	{"App", "spec.readiness",
	 "When an instance may get traffic: exactly one of http, tcp, exec, and how often. Without it an "
	 "instance is ready as soon as its process runs.", NULL},
	{"App", "spec.readiness.http",
	 "GET a path on the instance; a status of 200 to 399 passes. `http: {}` probes \"/\".", NULL},
	{"App", "spec.readiness.http.path", "The path to GET; it starts with \"/\".", NULL},
	{"App", "spec.readiness.http.port", "The port to probe.", "the instance's ${PORT}"},
	{"App", "spec.readiness.tcp", "A TCP connect passes. `tcp: {}` probes ${PORT}.", NULL},
	{"App", "spec.readiness.tcp.port", "The port to connect to.", "the instance's ${PORT}"},
	{"App", "spec.readiness.exec",
	 "Run a command in the instance's workdir and environment; exit status 0 passes.", NULL},
	{"App", "spec.readiness.exec.command", "The program and its arguments.", NULL},
	{"App", "spec.readiness.period", "Time between probes.", NULL},
	{"App", "spec.readiness.timeout", "A probe taking longer fails.", NULL},
	{"App", "spec.readiness.initialDelay", "Wait after start before the first probe.", NULL},
	{"App", "spec.readiness.failureThreshold",
	 "Consecutive failures that make the instance not ready (readiness) or get it restarted "
	 "(liveness).", NULL},
	{"App", "spec.readiness.successThreshold", "Consecutive passes that make it ready again.", NULL},
	{"App", "spec.liveness",
	 "When a running instance is broken and must be restarted; the same fields as readiness.", NULL},
	{"App", "spec.stop", "How instances are stopped.", NULL},
	{"App", "spec.stop.signal",
	 "Sent to stop an instance: SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 or SIGKILL (the "
	 "\"SIG\" may be left out).", NULL},
	{"App", "spec.stop.timeout", "After this long the instance gets SIGKILL.", NULL},
	{"App", "spec.stop.drainTimeout",
	 "How long an instance taken out of the route keeps serving the requests it has before it is "
	 "sent signal.", NULL},
	{"App", "spec.progressDeadline",
	 "How long a rollout may wait for its new instances to become ready, without one more becoming "
	 "ready, before it is aborted. Time in a pause or an analysis step does not count.", NULL},
	{"App", "spec.route", "Where the proxy serves the app. Without listen the app is not routed.", NULL},
	{"App", "spec.route.listen",
	 "Where the proxy listens for this app: \"host:port\" with an IPv4 literal, an IPv6 literal in "
	 "brackets or localhost. Quote it.", "not routed"},
	{"App", "spec.route.host",
	 "Match the request's Host: an exact name (hello.localhost) or \"*.\" and a domain.", "any host"},
	{"App", "spec.route.pathPrefix", "Match requests whose path starts with it.", NULL},
	{"App", "spec.route.sticky",
	 "During a rollout, a client that got one version keeps getting it (a cookie).", NULL},
	{"App", "spec.route.headerRoutes",
	 "Requests whose header matches always go to the new version during a rollout.", NULL},
	{"App", "spec.route.headerRoutes.name", "The header's name (letters, digits, '-' and '_').", NULL},
	{"App", "spec.route.headerRoutes.exact", "The header's exact value. Exactly one of exact and regex.", NULL},
	{"App", "spec.route.headerRoutes.regex",
	 "A regular expression the whole value must match: the regular part of POSIX extended regular "
	 "expressions, matched in time linear in the value's length (no back-references, no \\d). "
	 "Exactly one of exact and regex.", NULL},
	{"App", "spec.strategy",
	 "How a new version replaces the old one: exactly one of rolling, canary, blueGreen.", NULL},
	{"App", "spec.strategy.rolling",
	 "Instances are replaced a few at a time; traffic follows readiness.", NULL},
	{"App", "spec.strategy.rolling.maxSurge",
	 "Instances started above replicas at a time; stopping (draining) instances do not count.", NULL},
	{"App", "spec.strategy.rolling.maxUnavailable",
	 "Instances that may be missing at a time. Not both it and maxSurge 0.", NULL},
	{"App", "spec.strategy.canary",
	 "The new version gets a share of traffic that grows step by step; analysis judges it on the "
	 "way and a failure rolls it back.", NULL},
	{"App", "spec.strategy.canary.steps",
	 "Run in order; each step has exactly one key. Without steps the new version goes straight to "
	 "100%.", NULL},
	{"App", "spec.strategy.canary.steps.setWeight", "Send this share (0 to 100%) of requests to the new version.", NULL},
	{"App", "spec.strategy.canary.steps.pause",
	 "Wait: `pause: {duration: 10s}` waits that long, `pause: {}` (or `pause:`) waits for `slipway "
	 "rollout promote`.", NULL},
	{"App", "spec.strategy.canary.steps.pause.duration",
	 "How long to wait. A bare number is seconds, as in Argo (10 is 10s).", "wait for promotion"},
	{"App", "spec.strategy.canary.steps.analysis",
	 "Run the templates' metrics; continue when they succeed, abort when one fails.", NULL},
	{"App", "spec.strategy.canary.steps.analysis.name",
	 "A label for the analysis, as Argo's step analysis takes; kept with the revision.", NULL},
	{"App", "spec.strategy.canary.steps.analysis.templates",
	 "AnalysisTemplate names, as [golden, latency] or Argo's [{templateName: golden}] (Argo's "
	 "clusterScope is accepted and changes nothing). Looked up when the analysis starts.", NULL},
	{"App", "spec.strategy.canary.steps.analysis.args",
	 "Values for the templates' args; names must be unique.", NULL},
	{"App", "spec.strategy.canary.steps.analysis.args.name", "The argument's name.", NULL},
	{"App", "spec.strategy.canary.steps.analysis.args.value", "The argument's value.", NULL},
	{"App", "spec.strategy.canary.steps.setHeaderRoute",
	 "From this step on, requests with this header go to the new version.", NULL},
	{"App", "spec.strategy.canary.steps.setHeaderRoute.name", "The header's name.", NULL},
	{"App", "spec.strategy.canary.steps.setHeaderRoute.match",
	 "How the value matches: exactly one of exact and regex.", NULL},
	{"App", "spec.strategy.canary.steps.setHeaderRoute.match.exact", "The exact value.", NULL},
	{"App", "spec.strategy.canary.steps.setHeaderRoute.match.regex",
	 "A regular expression the whole value must match (as in route.headerRoutes).", NULL},
	{"App", "spec.strategy.canary.analysis",
	 "Background analysis, running from the first step to the end of the rollout; a failure aborts.",
	 NULL},
	{"App", "spec.strategy.canary.canaryReplicas",
	 "Instances of the new version during the steps; 0 scales them with the weight.", NULL},
	{"App", "spec.strategy.blueGreen",
	 "The new version starts beside the old one with all its replicas, reachable on a preview "
	 "listener; promotion switches all traffic at once.", NULL},
	{"App", "spec.strategy.blueGreen.previewListen",
	 "Where the proxy serves the new version before promotion (\"host:port\", as route.listen).", NULL},
	{"App", "spec.strategy.blueGreen.autoPromotionSeconds",
	 "Argo's spelling of autoPromotion, in whole seconds; not both.", NULL},
	{"App", "spec.strategy.blueGreen.autoPromotion",
	 "Promote this long after the new version is ready.", "manual promotion"},
	{"App", "spec.strategy.blueGreen.prePromotionAnalysis", "Must succeed before promotion.", NULL},
	{"App", "spec.strategy.blueGreen.postPromotionAnalysis",
	 "Runs after the switch; a failure switches back.", NULL},
	{"App", "spec.strategy.blueGreen.scaleDownDelay",
	 "The old version's instances are kept this long after the switch.", NULL},
	{"App", "spec.hooks",
	 "Jobs run around a rollout (docs/hooks.md): preDeploy, postDeploy and onAbort lists.", NULL},
	{"App", "spec.hooks.preDeploy",
	 "Jobs run before any instance of the new revision starts; a failure aborts the rollout.", NULL},
	{"App", "spec.hooks.preDeploy.name",
	 "Unique in its list; names the job (APP-rREV-LIST-NAME) and its log.", NULL},
	{"App", "spec.hooks.preDeploy.command",
	 "An argv like run.command, or one string run by /bin/sh -c. ${VERSION}, ${APP} are "
	 "substituted.", NULL},
	{"App", "spec.hooks.preDeploy.env", "Environment over the revision's run.env, written as run.env.", NULL},
	{"App", "spec.hooks.preDeploy.timeout", "Per attempt; then the job's process group is killed.", NULL},
	{"App", "spec.hooks.preDeploy.retries", "Attempts after a failed first one.", NULL},
	{"App", "spec.hooks.preDeploy.migration",
	 "The job is a schema migration (preDeploy only); see compatibility.", NULL},
	{"App", "spec.hooks.preDeploy.migration.compatibility",
	 "\"expand\": the stable revision still works with the new schema; \"contract\": it does not, so "
	 "after a successful migration an abort freezes the rollout instead of rolling back.", NULL},
	{"App", "spec.hooks.postDeploy", "Jobs run once the new revision is Healthy.", NULL},
	{"App", "spec.hooks.onAbort", "Jobs run after the rollout of the revision was aborted.", NULL},
	{"App", "spec.dependsOn",
	 "Names of other apps (DNS labels, none twice, not the app itself). A new revision does not "
	 "start until each of them is Healthy at its newest revision: the old revision keeps serving "
	 "and the app is Waiting, saying for what (\"waiting for db (Progressing), cache (not "
	 "found)\"). An app that does not exist yet is waited for; a cycle is refused at apply. "
	 "Rollbacks, undo and changes of replicas only do not wait; `rollout promote` starts the "
	 "revision without waiting, `rollout abort` cancels it (docs/documents.md).", NULL},

	/* AnalysisTemplate */
	{"AnalysisTemplate", "",
	 "A list of metrics. Each is measured count times, every interval, by a provider; each "
	 "measurement is judged successful, failed or inconclusive, and the limits decide the metric's "
	 "outcome.", NULL},
	{"AnalysisTemplate", "metadata.labels",
	 "Labels for `slipway get -l` (the rules of an App's labels); part of the stored template.", NULL},
	{"AnalysisTemplate", "spec", "The template's arguments, metrics and synthetic load.", NULL},
	{"AnalysisTemplate", "spec.args",
	 "Arguments the template takes, used as {{args.NAME}} in conditions, queries and URLs; names "
	 "must be unique.", NULL},
	{"AnalysisTemplate", "spec.args.name", "The argument's name.", NULL},
	{"AnalysisTemplate", "spec.args.value", "The value when a reference gives none.", NULL},
	{"AnalysisTemplate", "spec.load",
	 "Synthetic traffic the analysis drives while it runs, for apps with too little traffic of "
	 "their own (docs/analysis.md).", NULL},
	{"AnalysisTemplate", "spec.load.rate", "Requests a second.", NULL},
	{"AnalysisTemplate", "spec.load.duration", "At most this long (1s to 1h).", NULL},
	{"AnalysisTemplate", "spec.load.path", "The path requested on the app's listener.", NULL},
	{"AnalysisTemplate", "spec.load.url", "A whole URL to request instead of the app's listener.", NULL},
	{"AnalysisTemplate", "spec.metrics", "The metrics; names must be unique.", NULL},
	{"AnalysisTemplate", "spec.metrics.name", "Shown in status and events.", NULL},
	{"AnalysisTemplate", "spec.metrics.interval", "Time between measurements.", NULL},
	{"AnalysisTemplate", "spec.metrics.count",
	 "Measurements to take. 0 (or interval alone) measures until a background analysis ends; an "
	 "analysis step, which must end by itself, then takes 5.",
	 "1 when interval is not written, else 0"},
	{"AnalysisTemplate", "spec.metrics.initialDelay", "Wait before the first measurement.", NULL},
	{"AnalysisTemplate", "spec.metrics.failureLimit",
	 "Failed measurements allowed; one more fails the metric.", NULL},
	{"AnalysisTemplate", "spec.metrics.maxFailures", "Argo's older name of failureLimit; not both.", NULL},
	{"AnalysisTemplate", "spec.metrics.inconclusiveLimit",
	 "Inconclusive measurements allowed; one more makes the metric inconclusive.", NULL},
	{"AnalysisTemplate", "spec.metrics.maxInconclusive",
	 "Argo's older name of inconclusiveLimit; not both.", NULL},
	{"AnalysisTemplate", "spec.metrics.consecutiveErrorLimit",
	 "Provider errors in a row allowed; one more fails the metric.", NULL},
	{"AnalysisTemplate", "spec.metrics.successCondition",
	 "An expression over result (docs/analysis.md); true means success. builtin, prometheus and web "
	 "metrics need this or failureCondition.", NULL},
	{"AnalysisTemplate", "spec.metrics.failureCondition",
	 "An expression over result; true means failure.", NULL},
	{"AnalysisTemplate", "spec.metrics.minSamples",
	 "Requests a builtin measurement needs to be judged; the metric waits for them. 0 judges any "
	 "answer with at least one request.",
	 "20 for a builtin metric, else 0"},
	{"AnalysisTemplate", "spec.metrics.noData",
	 "How a measurement with too little data counts once the data wait is over.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider", "Where the value comes from: exactly one provider.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.builtin",
	 "Golden metrics the proxy measures itself, per version.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.builtin.metric",
	 "Rates are fractions 0 to 1, latencies milliseconds, request rate per second.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.builtin.window", "The window measured.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.prometheus", "A PromQL query to a Prometheus server.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.prometheus.address", "The Prometheus server's URL.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.prometheus.query", "The PromQL query.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.prometheus.timeout", "A query taking longer is an error.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.web", "Call a URL and take a value out of its JSON answer.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.web.url", "The URL to call.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.web.method", "The HTTP method.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.web.headers",
	 "Request headers: a mapping of names to values, or a list of {name, value}.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.web.headers.name", "The header's name.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.web.headers.value", "The header's value.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.web.body", "The request body.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.web.jsonPath",
	 "Where the result is in the answer, e.g. $.data.ok.", "the whole answer"},
	{"AnalysisTemplate", "spec.metrics.provider.web.timeout", "A call taking longer is an error.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.exec", "Run a command; its output is the result.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.exec.command", "The program and its arguments.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.exec.timeout", "A command taking longer is killed: an error.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.compare",
	 "A statistical judge of the new version against the stable one, with no threshold to write: "
	 "error counts by a sequential binomial test, latencies by Mann-Whitney U (docs/analysis.md).",
	 NULL},
	{"AnalysisTemplate", "spec.metrics.provider.compare.metric", "What is compared.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.compare.confidence",
	 "How sure the judge must be that the new version is worse before it fails it.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.compare.maxIncrease",
	 "Relative worsening tolerated (0.1 = 10%).", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.compare.ignoreBelow",
	 "Latency: a worsening smaller than this passes, whatever its share (0.1 ms more on a "
	 "0.15 ms app is noise to its users); 0s: none.", NULL},
	{"AnalysisTemplate", "spec.metrics.provider.compare.minSamples",
	 "Samples (latency) or requests (error-rate) each version needs before a judgement; with fewer, "
	 "noData applies.", NULL},
};

/* ------------------------------------------------------------------ */
/* Shapes of the row types                                             */

static const struct spec_ref_shape public_shapes[] = {
	{&spec_t_str, "string", SPEC_REF_LEAF, NULL},
	{&spec_t_u32, "integer", SPEC_REF_LEAF, NULL},
	{&spec_t_u16, "integer", SPEC_REF_LEAF, NULL},
	{&spec_t_dur, "duration", SPEC_REF_LEAF, "\"1s\""},
	{&spec_t_bool, "boolean", SPEC_REF_LEAF, "false"},
	{&spec_t_double, "number", SPEC_REF_LEAF, NULL},
	{&spec_t_enum, NULL, SPEC_REF_LEAF, NULL},
	{&spec_t_sub, "object", SPEC_REF_MAP, NULL},
	{&spec_t_list, "list of object", SPEC_REF_LIST, NULL},
	{&spec_t_argv, "list of string", SPEC_REF_LEAF, "[\"a\"]"},
	{&spec_t_api_version, "string", SPEC_REF_LEAF, "\"slipway/v1\""},
	{&spec_t_kind, "string", SPEC_REF_LEAF, NULL},
	{&spec_t_labels, "map of string", SPEC_REF_LEAF, "{}"},
	{&spec_t_cron, "cron expression", SPEC_REF_LEAF, "\"@daily\""},
	{&spec_t_timezone, "time zone name", SPEC_REF_LEAF, "\"UTC\""},
	{NULL, NULL, 0, NULL},
};

const struct spec_ref_shape *spec_ref_shape_of(const struct spec_ftype *type)
{
	for (size_t i = 0; public_shapes[i].type; i++)
		if (public_shapes[i].type == type)
			return &public_shapes[i];
	for (size_t i = 0; spec_ref_shapes[i].type; i++)
		if (spec_ref_shapes[i].type == type)
			return &spec_ref_shapes[i];
	const struct spec_ref_kind *k;
	for (size_t i = 0; (k = spec_ref_kind_at(i)); i++)
		for (const struct spec_ref_shape *sh = k->shapes; sh && sh->type; sh++)
			if (sh->type == type)
				return sh;
	return NULL;
}

/* The table under a row, or NULL for a value. */
static const struct spec_table *sub_table(const struct spec_field *f)
{
	const struct spec_ref_shape *s = spec_ref_shape_of(f->type);
	if (s && s->nest == SPEC_REF_DICT)
		return *(const struct spec_table *const *)f->arg;
	return s && s->nest != SPEC_REF_LEAF ? f->arg : NULL;
}

static bool is_dict(const struct spec_field *f)
{
	const struct spec_ref_shape *s = spec_ref_shape_of(f->type);
	return s && s->nest == SPEC_REF_DICT;
}

static void type_text(struct buf *out, const struct spec_field *f)
{
	const struct spec_ref_shape *s = spec_ref_shape_of(f->type);
	if (f->type == &spec_t_enum) {
		const char *const *names = f->arg;
		buf_adds(out, "one of ");
		for (size_t i = 0; names[i]; i++)
			buf_addf(out, "%s\"%s\"", i ? ", " : "", names[i]);
	} else {
		buf_adds(out, s && s->name ? s->name : "value");
	}
}

/* The range a numeric row takes, or nothing. */
static void range_text(struct buf *out, const struct spec_field *f)
{
	if ((f->type == &spec_t_u32 || f->type == &spec_t_u16) && f->arg) {
		const struct spec_range *r = f->arg;
		buf_addf(out, "%llu to %llu", (unsigned long long)r->min, (unsigned long long)r->max);
	} else if (f->type == &spec_t_double && f->arg) {
		const struct spec_drange *r = f->arg;
		buf_addf(out, r->open ? "strictly between %g and %g" : "%g to %g", r->min, r->max);
	} else if (f->type == &spec_t_dur && f->arg) {
		const struct spec_range *r = f->arg;
		if (r->min == 1)
			buf_adds(out, "more than 0s");
		else if (r->min % 1000 == 0)
			buf_addf(out, "at least %llus", (unsigned long long)(r->min / 1000));
		else
			buf_addf(out, "at least %llums", (unsigned long long)r->min);
	}
}

/* ------------------------------------------------------------------ */
/* Kinds                                                               */

/* The names a kind answers to, besides its own in any case. */
static const struct {
	const char *kind;
	const char *short_name;
} short_names[] = {
	{"AnalysisTemplate", "at"},
};

static void lower(char *out, size_t size, const char *s)
{
	size_t i = 0;
	for (; s[i] && i + 1 < size; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

#define MAX_REGISTERED 32

/* The kinds modules registered, after spec.c's own. */
static const struct spec_ref_kind *registered[MAX_REGISTERED];
static size_t nregistered;

const struct spec_ref_kind *spec_ref_kind_at(size_t i)
{
	size_t nbuilt = 0;
	while (spec_ref_kinds[nbuilt].kind)
		nbuilt++;
	if (i < nbuilt)
		return &spec_ref_kinds[i];
	return i - nbuilt < nregistered ? registered[i - nbuilt] : NULL;
}

int spec_ref_register(const struct spec_ref_kind *kind)
{
	const struct spec_ref_kind *k;
	SW_ASSERT(kind && kind->kind && kind->table && kind->docs);
	for (size_t i = 0; (k = spec_ref_kind_at(i)); i++)
		if (strcmp(k->kind->name, kind->kind->name) == 0)
			return k == kind ? 0 : -1;
	if (nregistered == MAX_REGISTERED)
		return -1;
	registered[nregistered++] = kind;
	return 0;
}

const struct spec_ref_kind *spec_ref_kind_find(const char *word, struct sw_err *err)
{
	const char *names[64];
	char low[16][64];
	size_t n = 0;
	struct buf b = BUF_INIT;
	const struct spec_ref_kind *rk;

	for (size_t i = 0; (rk = spec_ref_kind_at(i)); i++) {
		const char *name = rk->kind->name;
		size_t len = strlen(name), wlen = strlen(word);
		if (strcasecmp(word, name) == 0 ||
		    (wlen == len + 1 && strncasecmp(word, name, len) == 0 && tolower((unsigned char)word[len]) == 's'))
			return rk;
		for (size_t k = 0; k < sizeof(short_names) / sizeof(short_names[0]); k++)
			if (strcmp(short_names[k].kind, name) == 0 && strcasecmp(short_names[k].short_name, word) == 0)
				return rk;
		if (n < 16) {
			lower(low[n], sizeof(low[n]), name);
			names[n] = low[n];
			n++;
		}
	}
	names[n] = NULL;
	buf_addf(&b, "unknown kind \"%s\"", word);
	spec_add_suggestion(&b, word, names);
	buf_adds(&b, "; kinds: ");
	for (size_t i = 0; i < n; i++)
		buf_addf(&b, "%s%s", i ? ", " : "", names[i]);
	sw_errf(err, -1, "%s", b.s);
	buf_release(&b);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Descriptions                                                        */

/* The registered kind named `kind` (a module's), or NULL. */
static const struct spec_ref_kind *registered_kind(const char *kind)
{
	for (size_t i = 0; i < nregistered; i++)
		if (strcmp(registered[i]->kind->name, kind) == 0)
			return registered[i];
	return NULL;
}

/* The description of kind's path into *out: the kind's own table, then
 * reference.c's (through its aliases), then what every kind shares. */
static bool doc_find(const char *kind, const char *path, int depth, struct spec_ref_doc *out)
{
	const struct spec_ref_kind *rk = registered_kind(kind);
	for (const struct spec_ref_doc *d = rk ? rk->docs : NULL; d && d->path; d++)
		if (strcmp(d->path, path) == 0) {
			*out = *d;
			return true;
		}
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		if (strcmp(docs[i].kind, kind) == 0 && strcmp(docs[i].path, path) == 0) {
			*out = (struct spec_ref_doc){docs[i].path, docs[i].text, docs[i].default_text};
			return true;
		}
	for (size_t i = 0; depth < 8 && i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		size_t len = strlen(aliases[i].from);
		if (strcmp(aliases[i].kind, kind) != 0 || strncmp(path, aliases[i].from, len) != 0 ||
		    path[len] != '.')
			continue;
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s%s", aliases[i].to, path + len);
		bool found = doc_find(kind, b.s, depth + 1, out);
		buf_release(&b);
		if (found)
			return true;
	}
	/* a Patch's spec is the App's: its fields read as the App's do */
	if (strcmp(kind, "Patch") == 0 && strncmp(path, "spec.", 5) == 0)
		return doc_find("App", path, depth + 1, out);
	if (strcmp(kind, "*") != 0)
		return doc_find("*", path, depth, out);
	return false;
}

const char *spec_ref_description(const struct spec_kind *kind, const char *path)
{
	struct spec_ref_doc d;
	return doc_find(kind->name, path, 0, &d) ? d.text : NULL;
}

void spec_ref_each_description(void (*cb)(const char *kind, const char *path, void *data), void *data)
{
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		cb(docs[i].kind, docs[i].path, data);
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		cb(aliases[i].kind, aliases[i].from, data);
		cb(aliases[i].kind, aliases[i].to, data);
	}
	for (size_t i = 0; i < nregistered; i++)
		for (const struct spec_ref_doc *d = registered[i]->docs; d->path; d++)
			cb(registered[i]->kind->name, d->path, data);
}

json_t *spec_ref_kinds_json(void)
{
	json_t *a = json_array();
	const struct spec_ref_kind *k;
	for (size_t i = 0; (k = spec_ref_kind_at(i)); i++) {
		char low[64];
		lower(low, sizeof(low), k->kind->name);
		const char *text = spec_ref_description(k->kind, "");
		json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "kind", k->kind->name, "name", low,
						   "description", text ? text : ""));
	}
	return a;
}

/* ------------------------------------------------------------------ */
/* Walking the tables                                                  */

static void each_field(const struct spec_table *t, struct buf *path, int depth,
		       void (*cb)(const char *path, const struct spec_field *row, void *data), void *data)
{
	if (depth > 32)
		return;
	for (const struct spec_field *f = t->fields; f->name; f++) {
		size_t old = path->len;
		if (old)
			buf_addc(path, '.');
		buf_adds(path, f->name);
		cb(path->s, f, data);
		const struct spec_table *sub = sub_table(f);
		if (sub)
			each_field(sub, path, depth + 1, cb, data);
		path->len = old;
		path->s[old] = '\0';
	}
}

void spec_ref_each_field(const struct spec_ref_kind *kind,
			 void (*cb)(const char *path, const struct spec_field *row, void *data), void *data)
{
	struct buf path = BUF_INIT;
	buf_adds(&path, "");
	cb("", NULL, data);
	each_field(kind->table, &path, 0, cb, data);
	buf_release(&path);
}

/* ------------------------------------------------------------------ */
/* Defaults: read from the smallest document that holds a path          */

#define MAX_CHAIN 32
#define MAX_DIGITS 16

/* The search for a document that parses: an odometer over the one-of
 * choices the path leaves free, and one optional value filled in besides
 * (a check may want one, as a metric wants a condition). */
struct synth {
	size_t digit[MAX_DIGITS], radix[MAX_DIGITS], ndigits, pos;
	const struct spec_field *extra;            /* filled too, or NULL */
	const struct spec_field *candidates[128];  /* optional values seen, for `extra` */
	size_t ncandidates;
	const struct spec_field *target;           /* never filled */
};

static json_t *synth_table(struct synth *s, const struct spec_table *t, const struct spec_field *const *chain,
			   size_t n);

/* The first of a few strings that the row's validator takes. */
static json_t *sample_string(const struct spec_field *f)
{
	static const char *const tries[] = {"a", "/a", "http://a", "A", "A <a@a>"};
	spec_validator_fn v = (spec_validator_fn)f->arg;
	if (!v)
		return json_string("a");
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct sw_err e = {0};
		struct spec_pctx c = {.file = "sample", .err = &e, .path = BUF_INIT, .root = "sample"};
		struct snode node = {.type = SN_SCALAR, .text = (char *)tries[i], .len = strlen(tries[i])};
		int rc = v(&c, &node, tries[i]);
		buf_release(&c.path);
		if (rc == 0)
			return json_string(tries[i]);
	}
	return json_string("a");
}

static json_t *synth_value(struct synth *s, const struct spec_field *f, const struct spec_field *const *chain,
			   size_t n)
{
	const struct spec_ref_shape *shape = spec_ref_shape_of(f->type);
	if (!shape)
		return NULL;
	if (shape->nest == SPEC_REF_MAP)
		return synth_table(s, f->arg, chain, n);
	if (shape->nest == SPEC_REF_DICT) {
		json_t *d = json_object();
		json_object_set_new(d, "a", synth_table(s, sub_table(f), chain, n));
		return d;
	}
	if (shape->nest == SPEC_REF_LIST) {
		json_t *a = json_array();
		json_array_append_new(a, synth_table(s, f->arg, chain, n));
		return a;
	}
	if (f->type == &spec_t_dur && f->arg) { /* the shortest it takes (a window's 1m) */
		char d[32];
		sw_duration_format(d, sizeof(d), ((const struct spec_range *)f->arg)->min);
		return json_string(d);
	}
	if (shape->sample)
		return json_loads(shape->sample, JSON_DECODE_ANY, NULL);
	if (f->type == &spec_t_kind)
		return json_string(f->arg);
	if (f->type == &spec_t_enum)
		return json_string(((const char *const *)f->arg)[0]);
	if (f->type == &spec_t_u32 || f->type == &spec_t_u16) {
		const struct spec_range *r = f->arg;
		return json_integer(r ? (json_int_t)(r->min ? r->min : r->max >= 1 ? 1 : 0) : 1);
	}
	if (f->type == &spec_t_double) {
		const struct spec_drange *r = f->arg;
		return json_real(r ? (r->open ? (r->min + r->max) / 2 : r->min) : 1);
	}
	return sample_string(f);
}

static json_t *synth_table(struct synth *s, const struct spec_table *t, const struct spec_field *const *chain,
			   size_t n)
{
	json_t *o = json_object();
	const struct spec_field *want = n ? chain[0] : NULL;
	const struct spec_field *choices[32];
	size_t nchoices = 0;

	for (const struct spec_field *f = t->fields; f->name; f++) {
		if ((f->flags & SPEC_F_ONEOF) && !(f->flags & SPEC_F_NOEMIT) && nchoices < 32)
			choices[nchoices++] = f;
		bool optional_value = !(f->flags & (SPEC_F_REQUIRED | SPEC_F_ONEOF | SPEC_F_NOEMIT)) &&
				      !sub_table(f) && f != s->target;
		if (optional_value && s->ncandidates < 128) {
			bool seen = false;
			for (size_t i = 0; i < s->ncandidates; i++)
				seen |= s->candidates[i] == f;
			if (!seen)
				s->candidates[s->ncandidates++] = f;
		}
		json_t *v = NULL;
		if (f == want)
			v = synth_value(s, f, chain + 1, n - 1);
		else if ((f->flags & SPEC_F_REQUIRED) || (f == s->extra && f != s->target))
			v = synth_value(s, f, NULL, 0);
		if (v)
			json_object_set_new(o, f->name, v);
	}
	if (nchoices && !(want && (want->flags & SPEC_F_ONEOF))) {
		size_t k = 0;
		if (s->pos < MAX_DIGITS) {
			if (s->pos == s->ndigits)
				s->digit[s->ndigits++] = 0;
			s->radix[s->pos] = nchoices;
			k = s->digit[s->pos] % nchoices;
			s->pos++;
		}
		json_t *v = synth_value(s, choices[k], NULL, 0);
		if (v)
			json_object_set_new(o, choices[k]->name, v);
	}
	return o;
}

/* The next one-of choices to try; false when all were tried. */
static bool odometer_next(struct synth *s)
{
	for (size_t i = s->pos; i-- > 0;) {
		if (++s->digit[i] < s->radix[i]) {
			s->ndigits = i + 1;
			return true;
		}
		s->digit[i] = 0;
	}
	return false;
}

/* The value at chain in canonical JSON; lists are crossed at their first element. */
static json_t *json_at(json_t *j, const struct spec_field *const *chain, size_t n)
{
	for (size_t i = 0; j && i < n; i++) {
		if (json_is_array(j))
			j = json_array_get(j, 0);
		j = json_object_get(j, chain[i]->name);
		if (j && is_dict(chain[i])) { /* the one value synth_value made */
			void *it = json_object_iter(j);
			j = it ? json_object_iter_value(it) : NULL;
		}
	}
	if (json_is_array(j) && n && sub_table(chain[n - 1]))
		j = json_array_get(j, 0);
	return j;
}

/*
 * The canonical JSON at the end of chain in the smallest document of kind
 * that holds it: a new reference, or NULL when none was found. *extra is
 * the optional row that had to be filled in too (its value is not a
 * default), or NULL. `target` is the row whose default is wanted: never
 * filled in.
 */
static json_t *defaults_at(const struct spec_ref_kind *k, const struct spec_field *const *chain, size_t n,
			   const struct spec_field *target, const struct spec_field **extra, bool *parsed)
{
	struct synth s = {.target = target};
	json_t *found = NULL;
	bool ok = false;
	size_t tries = 0;

	*extra = NULL;
	for (size_t e = 0; !ok && e <= s.ncandidates && tries < 4000; e++) {
		s.extra = e == 0 ? NULL : s.candidates[e - 1];
		s.ndigits = 0;
		do {
			s.pos = 0;
			json_t *doc = synth_table(&s, k->table, chain, n);
			struct sw_err err = {0};
			void *obj = NULL;
			tries++;
			if (spec_doc_from_json(k->kind, &obj, doc, &err) == 0) {
				json_t *canon = k->kind->to_json(obj);
				found = json_incref(json_at(canon, chain, n));
				json_decref(canon);
				k->kind->free(obj);
				*extra = s.extra;
				ok = true;
			}
			json_decref(doc);
		} while (!ok && tries < 4000 && odometer_next(&s));
	}
	if (parsed)
		*parsed = ok;
	return found;
}

/* A default as the reference tells it: no nulls, no empty lists or
 * mappings; NULL when nothing is left. Takes v. */
static json_t *trim(json_t *v)
{
	if (json_is_object(v)) {
		json_t *o = json_object();
		const char *key;
		json_t *x;
		json_object_foreach(v, key, x) {
			json_t *t = trim(json_incref(x));
			if (t)
				json_object_set_new(o, key, t);
		}
		json_decref(v);
		v = o;
	}
	if (!v || json_is_null(v) || (json_is_array(v) && !json_array_size(v)) ||
	    (json_is_object(v) && !json_object_size(v))) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* A row's default read from `parent` (its mapping's canonical JSON), or NULL. */
static json_t *row_default(const struct spec_field *f, json_t *parent, const struct spec_field *extra)
{
	if (!parent || f == extra || (f->flags & (SPEC_F_REQUIRED | SPEC_F_ONEOF | SPEC_F_NOEMIT)))
		return NULL;
	return trim(json_incref(json_object_get(parent, f->name)));
}

/* ------------------------------------------------------------------ */
/* Explaining                                                          */

struct explain {
	const struct spec_ref_kind *kind;
	bool recursive;
	const struct spec_field *chain[MAX_CHAIN];
	size_t n;
};

static void set_doc(json_t *o, const struct spec_ref_kind *k, const char *path, json_t *def)
{
	struct spec_ref_doc d = {0};
	bool found = doc_find(k->kind->name, path, 0, &d);
	if (d.default_text)
		json_object_set_new(o, "default", json_string(d.default_text));
	else if (def)
		json_object_set(o, "default", def);
	json_object_set_new(o, "description", json_string(found ? d.text : ""));
}

static json_t *fields_of(struct explain *x, const struct spec_table *t, struct buf *path);

/* One entry of "fields": name, type, required, one of, default, description. */
static json_t *field_entry(struct explain *x, const struct spec_field *f, struct buf *path, json_t *parent,
			   const struct spec_field *extra)
{
	json_t *o = json_object();
	struct buf b = BUF_INIT;
	size_t old = path->len;

	if (old)
		buf_addc(path, '.');
	buf_adds(path, f->name);
	json_object_set_new(o, "name", json_string(f->name));
	type_text(&b, f);
	json_object_set_new(o, "type", json_string(b.s));
	buf_reset(&b);
	range_text(&b, f);
	if (b.len)
		json_object_set_new(o, "range", json_string(b.s));
	json_object_set_new(o, "required", json_boolean(f->flags & SPEC_F_REQUIRED));
	if (f->flags & SPEC_F_ONEOF)
		json_object_set_new(o, "oneOf", json_true());
	json_t *def = row_default(f, parent, extra);
	set_doc(o, x->kind, path->s, def);
	json_decref(def);
	const struct spec_table *sub = sub_table(f);
	if (x->recursive && sub && x->n < MAX_CHAIN) {
		x->chain[x->n++] = f;
		json_object_set_new(o, "fields", fields_of(x, sub, path));
		x->n--;
	}
	path->len = old;
	path->s[old] = '\0';
	buf_release(&b);
	return o;
}

/* The "fields" of table t, which is at x->chain (the document when empty). */
static json_t *fields_of(struct explain *x, const struct spec_table *t, struct buf *path)
{
	const struct spec_field *extra = NULL;
	json_t *parent = defaults_at(x->kind, x->chain, x->n, NULL, &extra, NULL);
	json_t *a = json_array();
	for (const struct spec_field *f = t->fields; f->name; f++)
		json_array_append_new(a, field_entry(x, f, path, parent, extra));
	json_decref(parent);
	return a;
}

/* "metrics[0]" and "metrics[]" name "metrics". */
static size_t segment_len(const char *s)
{
	size_t len = strcspn(s, ".");
	const char *br = memchr(s, '[', len);
	return br ? (size_t)(br - s) : len;
}

int spec_ref_explain(json_t **out, const char *path, bool recursive, struct sw_err *err)
{
	struct explain x = {.recursive = recursive};
	struct buf word = BUF_INIT, field = BUF_INIT, b = BUF_INIT;
	const struct spec_table *t;
	const struct spec_field *row = NULL;
	json_t *o = NULL;
	int rc = -1;

	*out = NULL;
	size_t klen = strcspn(path, ".");
	buf_add(&word, path, klen);
	if (!(x.kind = spec_ref_kind_find(word.s, err)))
		goto out;
	t = x.kind->table;
	for (const char *p = path + klen; *p == '.'; p += strcspn(p, ".")) {
		p++;
		size_t len = segment_len(p);
		char name[128];
		snprintf(name, sizeof(name), "%.*s", (int)(len < 127 ? len : 127), p);
		if (!t) {
			buf_reset(&b);
			type_text(&b, row);
			sw_errf(err, -1, "unknown field \"%s\" in %s.%s: %s is a value (%s) and has no fields", name,
				word.s, buf_str(&field), row->name, b.s);
			goto out;
		}
		const struct spec_field *f;
		for (f = t->fields; f->name && strcmp(f->name, name) != 0; f++)
			;
		if (!f->name) {
			const char *names[64];
			size_t nn = 0;
			for (const struct spec_field *g = t->fields; g->name && nn < 63; g++)
				names[nn++] = g->name;
			names[nn] = NULL;
			buf_reset(&b);
			buf_addf(&b, "unknown field \"%s\" in %s%s%s", name, word.s, field.len ? "." : "",
				 buf_str(&field));
			spec_add_suggestion(&b, name, names);
			sw_errf(err, -1, "%s", b.s);
			goto out;
		}
		if (x.n == MAX_CHAIN) {
			sw_errf(err, -1, "path \"%s\" is too deep", path);
			goto out;
		}
		x.chain[x.n++] = row = f;
		if (field.len)
			buf_addc(&field, '.');
		buf_adds(&field, f->name);
		t = sub_table(f);
	}
	if (path[klen] && path[klen] != '.') {
		sw_errf(err, -1, "bad path \"%s\": write KIND.FIELD.FIELD...", path);
		goto out;
	}

	o = json_object();
	json_object_set_new(o, "kind", json_string(x.kind->kind->name));
	json_object_set_new(o, "field", json_string(buf_str(&field)));
	buf_reset(&b);
	if (row) {
		type_text(&b, row);
		json_object_set_new(o, "type", json_string(b.s));
		buf_reset(&b);
		range_text(&b, row);
		if (b.len)
			json_object_set_new(o, "range", json_string(b.s));
		json_object_set_new(o, "required", json_boolean(row->flags & SPEC_F_REQUIRED));
		if (row->flags & SPEC_F_ONEOF) {
			const struct spec_table *pt = x.n > 1 ? sub_table(x.chain[x.n - 2]) : x.kind->table;
			json_t *group = json_array();
			for (const struct spec_field *g = pt->fields; g->name; g++)
				if (g->flags & SPEC_F_ONEOF)
					json_array_append_new(group, json_string(g->name));
			json_object_set_new(o, "oneOf", group);
		}
		const struct spec_field *extra = NULL;
		json_t *parent = defaults_at(x.kind, x.chain, x.n - 1, row, &extra, NULL);
		json_t *def = row_default(row, parent, extra);
		set_doc(o, x.kind, buf_str(&field), def);
		json_decref(def);
		json_decref(parent);
	} else {
		json_object_set_new(o, "type", json_string("object"));
		json_object_set_new(o, "required", json_true());
		set_doc(o, x.kind, "", NULL);
	}
	if (t) {
		struct buf p2 = BUF_INIT;
		buf_adds(&p2, buf_str(&field));
		json_object_set_new(o, "fields", fields_of(&x, t, &p2));
		buf_release(&p2);
	}
	*out = o;
	o = NULL;
	rc = 0;
out:
	json_decref(o);
	buf_release(&word);
	buf_release(&field);
	buf_release(&b);
	return rc;
}

bool spec_ref_has_document(const struct spec_ref_kind *kind, const char *path)
{
	const struct spec_field *chain[MAX_CHAIN], *extra = NULL;
	const struct spec_table *t = kind->table;
	size_t n = 0;
	bool parsed = false;

	for (const char *p = path; *p && t && n < MAX_CHAIN; p += strcspn(p, "."), p += *p == '.') {
		size_t len = strcspn(p, ".");
		const struct spec_field *f;
		for (f = t->fields; f->name && (strlen(f->name) != len || strncmp(f->name, p, len) != 0); f++)
			;
		if (!f->name || (f->flags & SPEC_F_NOEMIT))
			return false;
		chain[n++] = f;
		t = sub_table(f);
	}
	json_decref(defaults_at(kind, chain, n, NULL, &extra, &parsed));
	return parsed;
}
