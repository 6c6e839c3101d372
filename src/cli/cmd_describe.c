/*
 * slipway describe KIND NAME: one object for a person, in kubectl
 * describe's manner: labels, what its spec asks for, its status, its
 * conditions, its instances and its recent events (newest last).
 */
#include "cli_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/core.h"

#define DESCRIBE_EVENTS 10

struct describe_opts {
	int output;
	bool json;
};

static const struct sw_opt options[] = {
	CLI_OPT_OUTPUT(struct describe_opts),
	CLI_OPT_JSON(struct describe_opts),
	{0},
};

/* "Label:" padded to the value column. */
static void field(int level, const char *label, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void field(int level, const char *label, const char *fmt, ...)
{
	char lab[64];
	va_list ap;
	snprintf(lab, sizeof(lab), "%s:", label);
	printf("%*s%-*s", level, "", 22 - level, lab);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void print_labels(json_t *labels)
{
	const char *keys[64];
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach(labels, k, v)
		if (n < 64)
			keys[n++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str);
	if (!n)
		field(0, "Labels", "<none>");
	for (size_t i = 0; i < n; i++) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s=%s", keys[i], json_string_value(json_object_get(labels, keys[i])));
		struct buf e = BUF_INIT;
		cli_escape(&e, b.s, b.len, false);
		if (i == 0)
			field(0, "Labels", "%s", e.s);
		else
			printf("%-22s%s\n", "", e.s);
		buf_release(&b);
		buf_release(&e);
	}
}

/* A copy of j without its null members, for one-line summaries. */
static json_t *no_nulls(json_t *j)
{
	if (json_is_object(j)) {
		json_t *o = json_object(), *v;
		const char *k;
		json_object_foreach(j, k, v)
			if (!json_is_null(v))
				json_object_set_new(o, k, no_nulls(v));
		return o;
	}
	if (json_is_array(j)) {
		json_t *a = json_array(), *v;
		size_t i;
		json_array_foreach(j, i, v)
			json_array_append_new(a, no_nulls(v));
		return a;
	}
	return json_incref(j);
}

/* j on one line, escaped for the terminal. */
static void print_compact(json_t *j)
{
	json_t *c = no_nulls(j);
	char *s = json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	struct buf b = BUF_INIT;
	cli_escape(&b, s ? s : "", s ? strlen(s) : 0, false);
	printf("%s", buf_str(&b));
	buf_release(&b);
	free(s);
	json_decref(c);
}

/* The app's newest events, oldest of them first (a log reads down). */
static int print_events(struct cli *c, const char *app, const char *only)
{
	struct buf p = BUF_INIT;
	json_t *evs = NULL;
	cli_pathf(&p, "/v1/events?app=%s", app);
	int r = cli_page_newest(c, p.s, "events", only ? 200 : DESCRIBE_EVENTS, &evs);
	buf_release(&p);
	if (r)
		return r;
	struct cli_table t;
	cli_table_init(&t, 3);
	cli_table_row(&t, "TIME", "KIND", "MESSAGE");
	size_t i, from = 0, n = 0;
	json_t *e;
	json_array_foreach(evs, i, e)
		if (!only || strstr(json_string_value(json_object_get(e, "message")) ?: "", only))
			n++;
	from = n > DESCRIBE_EVENTS ? n - DESCRIBE_EVENTS : 0;
	n = 0;
	json_array_foreach(evs, i, e) {
		if (only && !strstr(json_string_value(json_object_get(e, "message")) ?: "", only))
			continue;
		if (n++ < from)
			continue;
		cli_table_row(&t, cli_jstr(e, "time"), cli_jstr(e, "kind"), cli_jstr(e, "message"));
	}
	printf("\nEvents:\n");
	if (t.nrows == 1) {
		printf("  <none>\n");
	} else {
		cli_table_print_indented(&t, stdout, "  ");
	}
	cli_table_release(&t);
	json_decref(evs);
	return 0;
}

static void print_side(const char *label, json_t *side, const char *extra)
{
	if (!json_is_object(side)) {
		field(2, label, "none");
		return;
	}
	field(2, label, "revision %lld (version %s), %lld/%lld ready%s", cli_jint(side, "revision"),
	      cli_jstr(side, "version"), cli_jint(side, "ready"), cli_jint(side, "desired"),
	      extra ? extra : "");
}

static void print_app_spec(json_t *spec)
{
	printf("Spec:\n");
	field(2, "Version", "%s", cli_jstr(spec, "version"));
	field(2, "Replicas", "%lld", cli_jint(spec, "replicas"));
	json_t *run = json_object_get(spec, "run");
	struct buf cmd = BUF_INIT;
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(run, "command"), i, x)
		buf_addf(&cmd, "%s%s", i ? " " : "", json_string_value(x) ? json_string_value(x) : "");
	struct buf e = BUF_INIT;
	cli_escape(&e, buf_str(&cmd), cmd.len, false);
	field(2, "Command", "%s", buf_str(&e));
	buf_release(&cmd);
	buf_release(&e);
	field(2, "Workdir", "%s", cli_jstr(run, "workdir"));
	json_t *route = json_object_get(spec, "route");
	if (*cli_jstr(route, "listen")) {
		struct buf rb = BUF_INIT;
		buf_adds(&rb, cli_jstr(route, "listen"));
		if (*cli_jstr(route, "host"))
			buf_addf(&rb, ", host %s", cli_jstr(route, "host"));
		if (*cli_jstr(route, "pathPrefix"))
			buf_addf(&rb, ", path %s", cli_jstr(route, "pathPrefix"));
		field(2, "Route", "%s", rb.s);
		buf_release(&rb);
	} else {
		field(2, "Route", "none");
	}
	json_t *strategy = json_object_get(spec, "strategy");
	const char *k;
	json_object_foreach(strategy, k, x) {
		if (json_is_null(x))
			continue;
		field(2, "Strategy", "%s", k);
		json_t *v;
		const char *sk;
		json_object_foreach(x, sk, v) {
			if (json_is_null(v) || strcmp(sk, "steps") == 0)
				continue;
			printf("    %s: ", sk);
			print_compact(v);
			printf("\n");
		}
		json_t *steps = json_object_get(x, "steps");
		if (json_array_size(steps))
			printf("    Steps:\n");
		json_array_foreach(steps, i, v) {
			printf("      %zu. ", i + 1);
			const char *stk;
			json_t *sv;
			json_object_foreach(v, stk, sv) {
				if (json_is_null(sv))
					continue;
				printf("%s: ", stk);
				print_compact(sv);
			}
			printf("\n");
		}
	}
}

/* kubectl's conditions, from what the app reports. */
static void print_conditions(json_t *a)
{
	const char *phase = cli_jstr(a, "phase");
	bool healthy = strcmp(phase, "Healthy") == 0;
	bool rolling = json_is_object(json_object_get(a, "canary"));
	char avail[64];
	snprintf(avail, sizeof(avail), "%lld/%lld instances ready", cli_jint(a, "ready"),
		 cli_jint(a, "replicas"));
	struct cli_table t;
	cli_table_init(&t, 3);
	cli_table_row(&t, "TYPE", "STATUS", "REASON");
	cli_table_row(&t, "Available", cli_jint(a, "ready") >= cli_jint(a, "replicas") ? "True" : "False",
		      avail);
	bool waiting = strcmp(phase, "Waiting") == 0; /* for its dependencies or a window */
	cli_table_row(&t, "Progressing",
		      rolling || waiting || strcmp(phase, "Progressing") == 0 ? "True" : "False",
		      waiting ? cli_jstr(a, "reason") : rolling ? "a new revision is rolling out"
		      : healthy ? "rollout complete" : phase);
	json_t *routed = json_object_get(a, "routed");
	const char *rstatus = "-", *rreason = "no route"; /* routed null or absent */
	if (json_is_boolean(routed)) {
		rstatus = json_is_true(routed) ? "True" : "False";
		rreason = *cli_jstr(a, "routedError") ? cli_jstr(a, "routedError")
			  : json_is_true(routed) ? "the proxy serves its routes"
			  : "waiting for the proxy";
	}
	cli_table_row(&t, "Routed", rstatus, rreason);
	bool degraded = strcmp(phase, "Degraded") == 0;
	cli_table_row(&t, "Degraded", degraded ? "True" : "False", degraded ? cli_jstr(a, "reason") : "");
	printf("Conditions:\n");
	cli_table_print_indented(&t, stdout, "  ");
	cli_table_release(&t);
}

static void print_instances(json_t *insts)
{
	printf("Instances:\n");
	if (!json_array_size(insts)) {
		printf("  <none>\n");
		return;
	}
	struct cli_table t;
	cli_table_init(&t, 7);
	cli_table_row(&t, "NAME", "REVISION", "STATE", "READY", "RESTARTS", "PORT", "REASON");
	size_t i;
	json_t *x;
	json_array_foreach(insts, i, x) {
		char rev[24], restarts[24], port[24];
		snprintf(rev, sizeof(rev), "%lld", cli_jint(x, "revision"));
		snprintf(restarts, sizeof(restarts), "%lld", cli_jint(x, "restarts"));
		snprintf(port, sizeof(port), "%lld", cli_jint(x, "port"));
		cli_table_row(&t, cli_jstr(x, "id"), rev, cli_jstr(x, "state"),
			      json_is_true(json_object_get(x, "ready")) ? "yes" : "no", restarts, port,
			      cli_jstr(x, "reason"));
	}
	cli_table_print_indented(&t, stdout, "  ");
	cli_table_release(&t);
}

static void print_app(json_t *a)
{
	field(0, "Name", "%s", cli_jstr(a, "name"));
	field(0, "Kind", "App");
	print_labels(json_object_get(a, "labels"));
	json_t *spec = json_object_get(a, "spec");
	if (json_is_object(spec))
		print_app_spec(spec);
	printf("Status:\n");
	const char *phase = cli_jstr(a, "phase");
	if (*cli_jstr(a, "reason"))
		field(2, "Phase", "%s (%s)", phase, cli_jstr(a, "reason"));
	else
		field(2, "Phase", "%s", phase);
	field(2, "Revision", "%lld (stable %lld)", cli_jint(a, "revision"), cli_jint(a, "stableRevision"));
	print_side("Stable", json_object_get(a, "stable"), NULL);
	bool bg = strcmp(cli_jstr(a, "strategy"), "blueGreen") == 0;
	char w[64] = "";
	if (json_is_integer(json_object_get(a, "weight")))
		snprintf(w, sizeof(w), ", %lld%% of requests", cli_jint(a, "weight"));
	print_side(bg ? "Preview" : "Canary", json_object_get(a, "canary"), w);
	json_t *ro = json_object_get(a, "rollout");
	if (json_is_object(ro) && strcmp(cli_jstr(a, "strategy"), "canary") == 0) {
		long long step = cli_jint(ro, "step"), steps = cli_jint(ro, "steps");
		field(2, "Step", "%lld/%lld", step > steps ? steps : step, steps);
	}
	json_t *failed = json_object_get(a, "failed");
	if (json_is_object(failed))
		field(2, "Failed", "revision %lld (version %s): %s", cli_jint(failed, "revision"),
		      cli_jstr(failed, "version"), cli_jstr(failed, "reason"));
	size_t i;
	json_t *run;
	json_array_foreach(json_object_get(ro, "analysisRuns"), i, run)
		field(2, "Analysis", "%s run %lld of revision %lld: %s%s%s", cli_jstr(run, "kind"),
		      cli_jint(run, "id"), cli_jint(run, "revision"), cli_jstr(run, "phase"),
		      *cli_jstr(run, "reason") ? ": " : "", cli_jstr(run, "reason"));
	print_conditions(a);
	print_instances(json_object_get(a, "instances"));
}

static void print_template(json_t *t)
{
	field(0, "Name", "%s", cli_jstr(t, "name"));
	field(0, "Kind", "AnalysisTemplate");
	print_labels(json_object_get(t, "labels"));
	field(0, "Source", "%s", cli_jstr(t, "source"));
	field(0, "Updated", "%s", cli_jstr(t, "updated"));
	json_t *spec = json_object_get(json_object_get(t, "document"), "spec");
	size_t i;
	json_t *x;
	if (json_array_size(json_object_get(spec, "args"))) {
		printf("Args:\n");
		json_array_foreach(json_object_get(spec, "args"), i, x) {
			printf("  ");
			print_compact(x);
			printf("\n");
		}
	}
	printf("Metrics:\n");
	json_array_foreach(json_object_get(spec, "metrics"), i, x) {
		printf("  %s:\n", cli_jstr(x, "name"));
		const char *k;
		json_t *v;
		json_object_foreach(x, k, v) {
			if (json_is_null(v) || strcmp(k, "name") == 0)
				continue;
			printf("    %s: ", k);
			print_compact(v);
			printf("\n");
		}
	}
}

static void print_environment(json_t *x)
{
	struct buf b = BUF_INIT;
	field(0, "Name", "%s", cli_jstr(x, "name"));
	field(0, "Kind", "Environment");
	print_labels(json_object_get(x, "labels"));
	field(0, "Ports", "%s", *cli_jstr(x, "ports") ? cli_jstr(x, "ports") : "the daemon's");
	field(0, "Listen", "%s", *cli_join(&b, json_object_get(x, "listen"), ", ") ? b.s : "any");
	field(0, "Apps", "%lld", cli_jint(x, "apps"));
	field(0, "Source", "%s", *cli_jstr(x, "source") ? cli_jstr(x, "source") : "-");
	field(0, "Updated", "%s", *cli_jstr(x, "updated") ? cli_jstr(x, "updated") : "-");
	buf_reset(&b);
	field(0, "Sync window", "%s", cli_window_now(&b, json_object_get(x, "window"), true));
	size_t i;
	json_t *w;
	if (json_array_size(json_object_get(x, "windows")))
		printf("Windows:\n");
	json_array_foreach(json_object_get(x, "windows"), i, w)
		printf("  %-5s \"%s\" for %s (%s)\n", cli_jstr(w, "kind"), cli_jstr(w, "schedule"),
		       cli_jstr(w, "duration"), cli_jstr(w, "timeZone"));
	buf_reset(&b);
	field(0, "Recipients", "%s",
	      *cli_join(&b, json_object_get(x, "recipients"), ", ") ? b.s : "<none>");
	field(0, "Keys", "%lld of the daemon's open its values", cli_jint(x, "keys"));
	buf_release(&b);
}

static void print_instance(json_t *x)
{
	field(0, "Name", "%s", cli_jstr(x, "id"));
	field(0, "Kind", "Instance");
	field(0, "App", "%s", cli_jstr(x, "app"));
	field(0, "Revision", "%lld (version %s)", cli_jint(x, "revision"), cli_jstr(x, "version"));
	field(0, "State", "%s", cli_jstr(x, "state"));
	field(0, "Ready", "%s", json_is_true(json_object_get(x, "ready")) ? "yes" : "no");
	field(0, "PID", "%lld", cli_jint(x, "pid"));
	field(0, "Port", "%lld", cli_jint(x, "port"));
	field(0, "Restarts", "%lld", cli_jint(x, "restarts"));
	field(0, "Created", "%s", cli_jstr(x, "created"));
	field(0, "Adopted", "%s", json_is_true(json_object_get(x, "adopted")) ? "yes" : "no");
	if (*cli_jstr(x, "reason"))
		field(0, "Reason", "%s", cli_jstr(x, "reason"));
}

/* The instance named id, from every app's (new reference), or NULL. */
static int find_instance(struct cli *c, const char *id, json_t **out)
{
	json_t *j = NULL;
	*out = NULL;
	if (cli_call(c, "GET", "/v1/instances", NULL, &j))
		return 1;
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(j, "instances"), i, x)
		if (strcmp(json_string_value(json_object_get(x, "id")), id) == 0)
			*out = json_incref(x);
	json_decref(j);
	if (*out)
		return 0;
	struct buf e = BUF_INIT;
	cli_escape(&e, id, strlen(id), false);
	fprintf(stderr, "slipway: instance \"%s\" not found\n", buf_str(&e));
	buf_release(&e);
	return 1;
}

/* For -o json|yaml: the object with its recent events. */
static int with_events(struct cli *c, json_t *obj, const char *app)
{
	struct buf p = BUF_INIT;
	json_t *evs = NULL;
	cli_pathf(&p, "/v1/events?app=%s", app);
	int r = cli_page_newest(c, p.s, "events", DESCRIBE_EVENTS, &evs);
	buf_release(&p);
	if (!r)
		json_object_set_new(obj, "events", evs);
	return r;
}

/* An object without events: GET path, printed by print or as -o asks. */
static int describe_one(struct cli *c, const char *path, enum cli_output fmt, void (*print)(json_t *))
{
	json_t *j = NULL;
	if (cli_call(c, "GET", path, NULL, &j))
		return 1;
	if (!cli_output_doc(fmt, j))
		print(j);
	json_decref(j);
	return 0;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct describe_opts o = {0};
	int n = sw_opt_parse(&cli_cmd_describe.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	enum cli_output fmt = cli_output_of(o.output, o.json);
	const char *kind = argv[1], *name = argv[2];
	struct buf p = BUF_INIT;
	json_t *j = NULL;
	int r = 1;
	if (strcmp(kind, "app") == 0 || strcmp(kind, "apps") == 0) {
		cli_pathf(&p, "/v1/apps/%s", name);
		if (cli_call(c, "GET", p.s, NULL, &j))
			goto out;
		if (fmt == CLI_OUT_JSON || fmt == CLI_OUT_YAML) {
			r = with_events(c, j, name);
			if (!r)
				cli_output_doc(fmt, j);
			goto out;
		}
		print_app(j);
		r = print_events(c, name, NULL);
	} else if (strcmp(kind, "analysistemplate") == 0 || strcmp(kind, "analysistemplates") == 0 ||
		   strcmp(kind, "at") == 0) {
		cli_pathf(&p, "/v1/analysistemplates/%s", name);
		r = describe_one(c, p.s, fmt, print_template);
	} else if (strcmp(kind, "instance") == 0 || strcmp(kind, "instances") == 0 ||
		   strcmp(kind, "inst") == 0) {
		if (find_instance(c, name, &j))
			goto out;
		if (cli_output_doc(fmt, j)) {
			r = 0;
			goto out;
		}
		char app[128];
		sw_strlcpy(app, json_string_value(json_object_get(j, "app")), sizeof(app));
		print_instance(j);
		r = print_events(c, app, name);
	} else if (strcmp(kind, "environment") == 0 || strcmp(kind, "environments") == 0 ||
		   strcmp(kind, "env") == 0) {
		cli_pathf(&p, "/v1/environments/%s", name);
		r = describe_one(c, p.s, fmt, print_environment);
	} else {
		struct buf e = BUF_INIT;
		cli_escape(&e, kind, strlen(kind), false);
		r = sw_opt_error("describe", "unknown kind \"%s\" (kinds: app, analysistemplate, "
				 "instance, environment)", buf_str(&e));
		buf_release(&e);
	}
out:
	json_decref(j);
	buf_release(&p);
	return r;
}

const struct cli_command cli_cmd_describe = {
	.summary = "show one app, analysis template, instance or environment in detail",
	.run = run,
	.usage = {
		.name = "describe",
		.args = "KIND NAME",
		.min_args = 2,
		.max_args = 2,
		.opts = options,
		.help = "Shows one object for a person: its labels, what its spec asks for\n"
			"(version, replicas, command, route, strategy and steps), its status\n"
			"(phase and reason, stable and canary revisions with ready instances,\n"
			"weight, step, analysis runs), conditions (Available, Progressing,\n"
			"Routed, Degraded), instances and its last 10 events, newest last.\n"
			"KIND: app, analysistemplate (at), instance (inst) or environment (env:\n"
			"its ports, listen, sync windows and whether they are open now and until\n"
			"when, its age recipients). -o json|yaml: the API's answer (an app's with\n"
			"its events).",
	},
};
