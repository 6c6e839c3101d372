/* slipway logs APP: the output of an app's instances, optionally followed. */
#include "cli_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* A long poll's wait, under the client's 30 s timeout (as events -f). */
#define LOGS_WAIT_S 25

struct logs_opts {
	const char *instance;
	bool follow;
	bool previous;
	bool failed;
	long long tail;
	int64_t since_ms;  /* 0 = any time */
	bool json;
	bool raw;
};

static const struct sw_opt options[] = {
	{.name = "instance", .letter = 'i', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct logs_opts, instance, const char *), .value = "ID",
	 .help = "only this instance's output"},
	{.name = "follow", .letter = 'f', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct logs_opts, follow, bool),
	 .help = "keep following the output, of new instances too"},
	{.name = "previous", .letter = 'p', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct logs_opts, previous, bool),
	 .help = "the process before each restart; else the instances that stopped, of the newest "
		 "revision among them"},
	{.name = "failed", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct logs_opts, failed, bool),
	 .help = "the instances that failed (exited or crashed), of the newest revision among them"},
	{.name = "tail", .kind = SW_OPT_INT, .offset = SW_OPT_AT(struct logs_opts, tail, long long),
	 .value = "N", .expect = "be a number of lines", .min = 0,
	 .help = "only the last N lines of each instance (default: the last 16 KiB)"},
	CLI_OPT_SINCE(struct logs_opts, "only output this recent (10m: the last ten minutes) or "
				"written from this time on"),
	{.name = "raw", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct logs_opts, raw, bool),
	 .help = "print the output as written, control characters too (else they are escaped)"},
	CLI_OPT_JSON(struct logs_opts),
	{0},
};

/* The word after an instance's id: "stopped" for an instance that is gone,
 * "previous" for the process of a live one before its restart. */
static const char *mark_of(json_t *x)
{
	if (json_is_true(json_object_get(x, "restarted")))
		return " previous";
	return json_is_true(json_object_get(x, "previous")) ? " stopped" : "";
}

/* Prints an instance's text, each line prefixed with "[ID] " when asked,
 * "[ID stopped] " for an instance that is gone. */
static void print_text(json_t *x, bool prefix, bool raw)
{
	const char *text = raw ? cli_jraw(x, "text") : cli_jtext(x, "text");
	const char *mark = mark_of(x);
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text + 1) : strlen(text);
		if (prefix)
			printf("[%s%s] ", cli_jstr(x, "id"), mark);
		fwrite(text, 1, len, stdout);
		if (!nl)
			fputc('\n', stdout);
		text += len;
	}
}

static void print_stop_line(json_t *x)
{
	const char *reason = cli_jstr(x, "reason");
	if (json_object_get(x, "revision"))
		printf("[%s%s] (revision %lld%s%s)\n", cli_jstr(x, "id"), mark_of(x),
		       cli_jint(x, "revision"), *reason ? ": " : "", reason);
	else
		printf("[%s stopped]\n", cli_jstr(x, "id"));
}

/* Whether ",ID," is in the set `live` (",a,b,"); with `set`, adds or removes it. */
static bool live_has(struct buf *live, const char *id, int set)
{
	struct buf key = BUF_INIT;
	buf_addf(&key, ",%s,", id);
	char *at = live->len ? strstr(live->s, key.s) : NULL;
	if (set > 0 && !at)
		buf_addf(live, "%s%s,", live->len ? "" : ",", id);
	if (set < 0 && at) {
		size_t drop = key.len - 1; /* ",ID": the comma after it stays */
		memmove(at, at + drop, strlen(at + drop) + 1);
		live->len -= drop;
	}
	buf_release(&key);
	return at != NULL;
}

/*
 * One request for what the instances wrote after `offsets` ("ID:OFFSET,..."
 * from the previous answer; empty the first time), waiting up to `wait`
 * seconds for news when following; prints it and replaces offsets with
 * where the next request starts. *more: some instance has more to read
 * at once.
 */
static int print_once(struct cli *c, const struct logs_opts *o, const char *app,
		      struct buf *offsets, struct buf *live, int wait, bool *more)
{
	struct buf path = BUF_INIT;
	json_t *j = NULL;
	bool first = !offsets->len;
	/* tail=-1: the daemon's default, the last 16 KiB */
	cli_pathf(&path, "/v1/apps/%s/logs?tail=%lld", app, o->tail);
	if (o->instance)
		cli_pathf(&path, "&instance=%s", o->instance);
	if (o->previous)
		buf_addf(&path, "&previous=1");
	if (o->failed)
		buf_addf(&path, "&failed=1");
	if (o->since_ms)
		buf_addf(&path, "&since=%lld", (long long)o->since_ms);
	if (!first)
		cli_pathf(&path, "&offsets=%s", offsets->s);
	if (!first && wait)
		buf_addf(&path, "&wait=%ds", wait);
	int r = cli_call(c, "GET", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	json_t *insts = json_object_get(j, "instances");
	bool prefix = json_array_size(insts) > 1 || !o->instance;
	struct buf next = BUF_INIT;
	size_t i;
	json_t *x;
	*more = false;
	json_array_foreach(insts, i, x) {
		bool stopped = json_is_true(json_object_get(x, "stopped"));
		if (first && !o->json && json_is_true(json_object_get(x, "previous")))
			print_stop_line(x);
		if (o->json)
			cli_json_print_line(x);
		else
			print_text(x, prefix, o->raw);
		bool gone = json_is_true(json_object_get(x, "previous"));
		/* one followed while it ran that has stopped since: said once */
		bool was_live = gone && live_has(live, cli_jstr(x, "id"), -1);
		bool ended = stopped || was_live;
		if (ended && !o->json)
			print_stop_line(x);
		if (!gone)
			live_has(live, cli_jstr(x, "id"), 1);
		if (stopped)
			continue; /* and dropped */
		*more = *more || json_is_true(json_object_get(x, "more"));
		buf_addf(&next, "%s%s:%lld%s", next.len ? "," : "", cli_jstr(x, "id"),
			 cli_jint(x, "offset"), gone ? ":s" : "");
	}
	/* "-" when nothing is followed any more: the next answer names any
	 * instance that starts as new */
	buf_reset(offsets);
	buf_adds(offsets, next.len ? next.s : "-");
	buf_release(&next);
	fflush(stdout);
	json_decref(j);
	return 0;
}

static int run(struct cli *c, int argc, char **argv)
{
	struct logs_opts o = {.tail = -1};
	int n = sw_opt_parse(&cli_cmd_logs.usage, &o, argc, argv);
	if (n < 0)
		return SW_OPT_EXIT(n);
	if (o.follow && (o.previous || o.failed))
		return sw_opt_error("logs", "-f cannot follow --%s: that output has ended",
				    o.previous ? "previous" : "failed");
	struct buf offsets = BUF_INIT, live = BUF_INIT;
	bool more = false;
	int r = print_once(c, &o, argv[1], &offsets, &live, 0, &more);
	/* what is past one answer's 256 KiB comes at once; then the long poll */
	while (r == 0 && (more || o.follow))
		r = print_once(c, &o, argv[1], &offsets, &live, more ? 0 : LOGS_WAIT_S, &more);
	buf_release(&offsets);
	buf_release(&live);
	return r;
}

const struct cli_command cli_cmd_logs = {
	.summary = "print the output of an app's instances",
	.run = run,
	.usage = {
		.name = "logs",
		.args = "APP",
		.min_args = 1,
		.max_args = 1,
		.opts = options,
		.help = "Prints the output of the app's instances; -f keeps following it, and the\n"
			"instances that start meanwhile (a rollout's), marking those that stop.\n"
			"When the newest revision has no instance running (its rollout was\n"
			"aborted), the output of its instance that stopped last is shown too,\n"
			"marked \"stopped\". --previous shows what an instance that was restarted\n"
			"wrote before its restart (with how that process ended), or when none was,\n"
			"the stopped instances; --failed only those that failed (exited or\n"
			"crashed), without hunting for their ids. --tail N: the last N lines of\n"
			"each; --since 10m or --since 2026-12-02T05:00:00Z: what was written since\n"
			"then (with --tail, the last N lines of that).",
	},
};
