/* slipway logs APP: the output of an app's instances, optionally followed. */
#include "cli_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"

struct logs_opts {
	const char *instance;
	bool follow;
	bool previous;
	bool failed;
	long long tail;
	bool json;
	bool raw;
};

static const struct sw_opt options[] = {
	{.name = "instance", .letter = 'i', .kind = SW_OPT_STRING,
	 .offset = SW_OPT_AT(struct logs_opts, instance, const char *), .value = "ID",
	 .help = "only this instance's output"},
	{.name = "follow", .letter = 'f', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct logs_opts, follow, bool), .help = "keep following the output"},
	{.name = "previous", .letter = 'p', .kind = SW_OPT_FLAG,
	 .offset = SW_OPT_AT(struct logs_opts, previous, bool),
	 .help = "the instances that stopped, of the newest revision among them"},
	{.name = "failed", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct logs_opts, failed, bool),
	 .help = "the instances that failed (exited or crashed), of the newest revision among them"},
	{.name = "tail", .kind = SW_OPT_INT, .offset = SW_OPT_AT(struct logs_opts, tail, long long),
	 .value = "N", .expect = "be a number of lines", .min = 0,
	 .help = "only the last N lines of each instance (default: the last 16 KiB)"},
	{.name = "raw", .kind = SW_OPT_FLAG, .offset = SW_OPT_AT(struct logs_opts, raw, bool),
	 .help = "print the output as written, control characters too (else they are escaped)"},
	CLI_OPT_JSON(struct logs_opts),
	{0},
};

/* Prints an instance's text, each line prefixed with "[ID] " when asked,
 * "[ID stopped] " for an instance that is gone. */
static void print_text(json_t *x, bool prefix, bool raw)
{
	const char *text = raw ? cli_jraw(x, "text") : cli_jtext(x, "text");
	bool gone = json_is_true(json_object_get(x, "previous"));
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text + 1) : strlen(text);
		if (prefix)
			printf("[%s%s] ", cli_jstr(x, "id"), gone ? " stopped" : "");
		fwrite(text, 1, len, stdout);
		if (!nl)
			fputc('\n', stdout);
		text += len;
	}
}

/*
 * One request for what the instances wrote after `offsets` ("ID:OFFSET,..."
 * from the previous answer; empty the first time); prints it and replaces
 * offsets with where the next request starts.
 */
static int print_once(struct cli *c, const struct logs_opts *o, const char *app,
		      struct buf *offsets)
{
	struct buf path = BUF_INIT;
	json_t *j = NULL;
	/* tail=-1: the daemon's default, the last 16 KiB */
	cli_pathf(&path, "/v1/apps/%s/logs?tail=%lld", app, o->tail);
	if (o->instance)
		cli_pathf(&path, "&instance=%s", o->instance);
	if (o->previous)
		buf_addf(&path, "&previous=1");
	if (o->failed)
		buf_addf(&path, "&failed=1");
	if (offsets->len)
		cli_pathf(&path, "&offsets=%s", offsets->s);
	int r = cli_call(c, "GET", path.s, NULL, &j);
	buf_release(&path);
	if (r)
		return r;
	json_t *insts = json_object_get(j, "instances");
	bool prefix = json_array_size(insts) > 1 || !o->instance;
	bool first = !offsets->len;
	buf_reset(offsets);
	size_t i;
	json_t *x;
	json_array_foreach(insts, i, x) {
		if (first && !o->json && json_is_true(json_object_get(x, "previous")))
			printf("[%s stopped] (revision %lld%s%s)\n", cli_jstr(x, "id"),
			       cli_jint(x, "revision"), *cli_jstr(x, "reason") ? ": " : "",
			       cli_jstr(x, "reason"));
		if (o->json)
			cli_json_print_line(x);
		else
			print_text(x, prefix, o->raw);
		buf_addf(offsets, "%s%s:%lld", offsets->len ? "," : "", cli_jstr(x, "id"),
			 cli_jint(x, "offset"));
	}
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
	struct buf offsets = BUF_INIT;
	int r;
	while ((r = print_once(c, &o, argv[1], &offsets)) == 0 && o.follow) {
		struct timespec ts = {0, 500 * 1000000L};
		nanosleep(&ts, NULL);
	}
	buf_release(&offsets);
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
		.help = "Prints the output of the app's instances; -f keeps following it.\n"
			"When the newest revision has no instance running (its rollout was\n"
			"aborted), the output of its instance that stopped last is shown too,\n"
			"marked \"stopped\"; --previous shows only the stopped instances, --failed\n"
			"only those that failed (exited or crashed), without hunting for their ids.\n"
			"--tail N: the last N lines of each.",
	},
};
