/* slipway events [APP]: the event log, newest last; -f follows it. */
#include "cli_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"

/* A long poll's wait, under the client's 30 s timeout; a page's rows. */
#define EVENTS_WAIT_S 25
#define ENGINE_PAGE_MAX_CLI 1000

struct events_opts {
	const char *app;
	int64_t since_ms;  /* 0 = any time */
	long long limit;
	bool follow;
	bool json;
	bool all_envs;
};

static const struct sw_opt options[] = {
	{.name = "app", .kind = SW_OPT_STRING, .offset = SW_OPT_AT(struct events_opts, app, const char *),
	 .value = "APP", .help = "only this app's events (the same as giving APP)"},
	CLI_OPT_SINCE(struct events_opts, "only events this recent (10m: the last ten minutes) or "
				  "from this time on"),
	{.name = "limit", .kind = SW_OPT_INT, .offset = SW_OPT_AT(struct events_opts, limit, long long),
	 .value = "N", .expect = "be a number of events", .min = 0,
	 .help = "the newest N events (default 100; 0: all of them, or all --since)"},
	{.name = "follow", .letter = 'f', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct events_opts, follow, bool),
	 .help = "then keep printing new events as they are recorded"},
	{.name = "all-environments", .letter = 'A', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct events_opts, all_envs, bool),
	 .help = "the events of every environment (else the selected one's and the host's)"},
	CLI_OPT_JSON(struct events_opts),
	{0},
};

static void print_rows(json_t *evs, const struct events_opts *o, bool header)
{
	size_t i;
	json_t *x;
	if (o->json && o->follow) {
		json_array_foreach(evs, i, x)
			cli_json_print_line(x);
		fflush(stdout);
		return;
	}
	struct cli_table t;
	cli_table_init(&t, 5);
	if (header)
		cli_table_row(&t, "TIME", "APP", "KIND", "ACTOR", "MESSAGE");
	json_array_foreach(evs, i, x) {
		char app[200];
		cli_table_row(&t, cli_jstr(x, "time"), cli_app_label(x, "app", app, sizeof(app)),
			      cli_jstr(x, "kind"), cli_jstr(x, "actor"), cli_jstr(x, "message"));
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	fflush(stdout);
}

/* The list's path: /v1/events with the app and since asked for. */
static void events_path(struct buf *path, const struct events_opts *o)
{
	buf_adds(path, "/v1/events");
	if (o->app)
		cli_pathf(path, "?app=%s", o->app);
	if (o->since_ms)
		buf_addf(path, "%csince=%lld", o->app ? '&' : '?', (long long)o->since_ms);
	if (o->all_envs)
		buf_addf(path, "%cenvironment=*", strchr(path->s, '?') ? '&' : '?');
}

/*
 * The newest `limit` events since o->since_ms, read page by page newest
 * first (the CLI holds at most `limit`); returned oldest first, with
 * *last the newest id (0: none).
 */
static int read_newest(struct cli *c, const struct events_opts *o, long long limit,
		       json_t **out, int64_t *last)
{
	struct buf path = BUF_INIT;
	events_path(&path, o);
	int r = cli_page_newest(c, path.s, "events", limit, out);
	buf_release(&path);
	*last = r ? 0 : cli_jint(json_array_get(*out, json_array_size(*out) - 1), "id");
	return r;
}

struct forward {
	const struct events_opts *o;
	bool *header, *first_json;
};

static void print_page(json_t *evs, void *data)
{
	struct forward *f = data;
	if (f->o->json && !f->o->follow) {
		/* one JSON document, written a page at a time */
		size_t i;
		json_t *x;
		json_array_foreach(evs, i, x) {
			char *t = json_dumps(x, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			printf("%s\n    %s", *f->first_json ? "" : ",", t ? t : "null");
			free(t);
			*f->first_json = false;
		}
	} else {
		print_rows(evs, f->o, *f->header);
		*f->header = false;
	}
}

/*
 * Every event after *last (and since o->since_ms), oldest first, a page
 * at a time, each printed as it comes: memory stays that of one page
 * however long the log. *last ends at the newest id printed.
 */
static int print_forward(struct cli *c, const struct events_opts *o, int64_t *last,
			 bool *header, bool *first_json)
{
	struct buf path = BUF_INIT;
	struct forward f = {o, header, first_json};
	events_path(&path, o);
	int r = cli_page_forward(c, path.s, "events", last, print_page, &f);
	buf_release(&path);
	return r;
}

/*
 * One long poll (GET /v1/events?after=LAST&wait=...): the events after
 * *last as soon as there are any, printed; nothing when the wait ran out.
 * The wait stays under the client's timeout.
 */
static int wait_newer(struct cli *c, const struct events_opts *o, int64_t *last)
{
	struct buf path = BUF_INIT;
	json_t *j = NULL;
	events_path(&path, o);
	buf_addf(&path, "%cafter=%lld&limit=%d&wait=%ds", strchr(path.s, '?') ? '&' : '?',
		 (long long)*last, ENGINE_PAGE_MAX_CLI, EVENTS_WAIT_S);
	int r = cli_call(c, "GET", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	json_t *evs = json_object_get(j, "events");
	if (json_array_size(evs)) {
		print_rows(evs, o, false);
		*last = cli_jint(json_array_get(evs, json_array_size(evs) - 1), "id");
	}
	json_decref(j);
	return 0;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct events_opts o = {.limit = -1};
	int n = sw_opt_parse(&cli_cmd_events.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	if (!o.app && n > 0)
		o.app = argv[1];
	if (o.app && o.all_envs)
		return sw_opt_error("events", "-A is every environment's; an app is in one (slipway -e "
				    "ENV events APP)");
	/* --since alone means all of them since then */
	long long limit = o.limit >= 0 ? o.limit : o.since_ms ? 0 : 100;
	int64_t last = 0;
	bool header = true, first_json = true;
	int r;
	if (limit == 0) {
		if (o.json && !o.follow)
			printf("{\n  \"events\": [");
		r = print_forward(c, &o, &last, &header, &first_json);
		if (o.json && !o.follow)
			printf("%s]\n}\n", first_json ? "" : "\n  ");
		if (r)
			return r;
		if (header && !o.json) {
			json_t *none = json_array();
			print_rows(none, &o, true);
			json_decref(none);
		}
	} else {
		json_t *evs = NULL;
		r = read_newest(c, &o, limit, &evs, &last);
		if (r)
			return r;
		if (o.json && !o.follow) {
			json_t *doc = json_pack("{s:o}", "events", evs);
			cli_json_print(doc);
			json_decref(doc);
			return 0;
		}
		print_rows(evs, &o, true);
		json_decref(evs);
	}
	if (!o.follow)
		return 0;
	if (!last) {
		/* nothing matched: follow from the newest event there is */
		struct events_opts any = o;
		json_t *evs = NULL;
		any.since_ms = 0;
		r = read_newest(c, &any, 1, &evs, &last);
		json_decref(evs);
		if (r)
			return r;
	}
	for (;;) {
		r = wait_newer(c, &o, &last);
		if (r)
			return r;
	}
}

const struct cli_command cli_cmd_events = {
	.summary = "print the event log",
	.run = run,
	.usage = {
		.name = "events",
		.args = "[APP]",
		.max_args = 1,
		.opts = options,
		.help = "Prints the event log, oldest first: every state change, with time, reason\n"
			"and actor. By default the newest 100 events; --limit N the newest N (0:\n"
			"all), --since 10m or --since 2026-12-02T05:00:00Z those from then on.\n"
			"-f keeps printing new events as they are recorded. The events are the\n"
			"selected environment's (slipway -e ENV) and the host's; -A every one's,\n"
			"an app in another environment than default shown as ENV/NAME.",
	},
};
