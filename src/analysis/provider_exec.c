/*
 * exec: runs a command; a number printed on stdout (with exit status 0) is
 * the result, otherwise the exit status decides (0 is true).
 *
 * The command runs in its own session and process group (core/proc): a
 * timeout, or a stop of the run, kills the whole group, so a shell's child
 * cannot keep stdout open and hold the measurement past its timeout. The
 * answer comes once the process has exited and stdout is closed, or at the
 * timeout, whichever is first.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/proc.h"
#include "provider.h"

#define EXEC_OUTPUT_MAX (64u * 1024)

struct exec_settings {
	char **argv;             /* NULL-terminated */
	uint64_t timeout_ms;
	char *line;              /* argv joined by spaces, shown as the query */
};

static const struct provider_field exec_fields[] = {
	{"command", PF_ARGV, offsetof(struct exec_settings, argv), true, NULL},
	{"timeout", PF_DURATION, offsetof(struct exec_settings, timeout_ms), false, NULL},
	{NULL, 0, 0, false, NULL},
};

static int exec_parse(void *settings, const json_t *json, const struct provider_parse_ctx *ctx,
		      struct sw_err *err)
{
	struct exec_settings *s = settings;
	struct buf line = BUF_INIT;
	s->timeout_ms = 10000;
	if (provider_fields_parse(s, exec_fields, json, "exec", ctx, err) < 0)
		return -1;
	for (size_t i = 0; s->argv[i]; i++)
		buf_addf(&line, "%s%s", i ? " " : "", s->argv[i]);
	s->line = buf_detach(&line);
	return 0;
}

static void exec_release(void *settings)
{
	struct exec_settings *s = settings;
	provider_fields_release(s, exec_fields);
	free(s->line);
	s->line = NULL;
}

static void exec_describe(struct buf *out, const void *settings, const struct provider_env *env)
{
	const struct exec_settings *s = settings;
	buf_adds(out, s->line);
}

struct exec_call {
	struct sw_proc proc;
	uv_pipe_t pipe;          /* the command's stdout */
	uv_timer_t timer;        /* the timeout */
	struct buf out;
	uint64_t timeout_ms;
	int open;                /* handles not closed yet: the struct is freed at 0 */
	bool timer_init;
	bool exited;             /* on_exit came: how is set */
	bool eof;                /* stdout closed (or given up at the timeout) */
	bool timed_out;          /* the timeout killed it */
	bool over;               /* answered or cancelled: done is not called (again) */
	struct sw_proc_exit how;
	provider_done_cb done;
	void *data;
};

static void call_unref(struct exec_call *c)
{
	if (--c->open > 0)
		return;
	buf_release(&c->out);
	free(c);
}

static void handle_closed(uv_handle_t *h)
{
	call_unref(h->data);
}

static void proc_closed(struct sw_proc *p)
{
	call_unref(p->data);
}

static void close_pipe(struct exec_call *c)
{
	if (c->eof)
		return;
	c->eof = true;
	uv_read_stop((uv_stream_t *)&c->pipe);
	uv_close((uv_handle_t *)&c->pipe, handle_closed);
}

static void close_timer(struct exec_call *c)
{
	if (!c->timer_init || uv_is_closing((uv_handle_t *)&c->timer))
		return;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
}

static void answer(struct exec_call *c)
{
	struct measure_input in;
	char detail[160];
	const char *text = buf_str(&c->out);
	char *end;

	if (c->over || !c->exited || !c->eof)
		return;
	c->over = true;
	close_timer(c);
	double v = strtod(text, &end);
	while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r')
		end++;
	if (c->timed_out) {
		char d[32];
		sw_duration_format(d, sizeof(d), c->timeout_ms);
		snprintf(detail, sizeof(detail), "timed out after %s", d);
		in = measure_input_error(detail);
	} else if (c->how.signal) {
		in = measure_input_error(c->how.reason);
	} else if (end != text && *end == '\0' && c->how.status == 0) {
		in = measure_input_value(expr_number(v), MEASURE_SAMPLES_UNKNOWN);
	} else {
		in = measure_input_value(expr_bool(c->how.status == 0), MEASURE_SAMPLES_UNKNOWN);
		snprintf(detail, sizeof(detail), "exit status %lld", (long long)c->how.status);
		in.detail = detail;
	}
	c->done(&in, c->data);
}

static void exec_exited(struct sw_proc *p, const struct sw_proc_exit *how)
{
	struct exec_call *c = p->data;
	c->exited = true;
	c->how = *how;
	sw_proc_close(p, proc_closed);
	answer(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	static char chunk[4096];
	b->base = chunk;
	b->len = sizeof(chunk);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct exec_call *c = s->data;
	if (n > 0) {
		buf_add(&c->out, b->base, (size_t)n); /* beyond the cap: dropped */
	} else if (n < 0) {
		close_pipe(c);
		answer(c);
	}
}

/* The group gets SIGKILL; stdout is given up at once, since something
 * that left the group may still hold it. */
static void on_timeout(uv_timer_t *t)
{
	struct exec_call *c = t->data;
	if (!c->exited) {
		c->timed_out = true;
		sw_proc_stop(&c->proc, SIGKILL, 0);
	}
	close_pipe(c);
	answer(c);
}

static struct provider_call *exec_measure(struct measure_input *now, const void *settings,
					  const struct provider_env *env, provider_done_cb done,
					  void *data, struct sw_err *err)
{
	const struct exec_settings *s = settings;
	struct exec_call *c = xcalloc(1, sizeof(*c));
	struct sw_proc_options o = {
		.argv = s->argv,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.stderr_fd = -1,
		.stdout_pipe = &c->pipe,
		.on_exit = exec_exited,
		.data = c,
	};

	c->out.cap = EXEC_OUTPUT_MAX;
	c->timeout_ms = s->timeout_ms;
	c->done = done;
	c->data = data;
	uv_pipe_init(env->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->open = 1;
	if (sw_proc_spawn(&c->proc, env->loop, &o, err) < 0) {
		c->over = true;
		close_pipe(c); /* frees c once closed */
		*now = measure_input_error(err->msg);
		return NULL;
	}
	c->open++;
	uv_timer_init(env->loop, &c->timer);
	c->timer.data = c;
	c->timer_init = true;
	c->open++;
	uv_timer_start(&c->timer, on_timeout, s->timeout_ms, 0);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
	return (struct provider_call *)c;
}

/* Kills the group; the struct lives until the process is reaped. */
static void exec_cancel(struct provider_call *call)
{
	struct exec_call *c = (struct exec_call *)call;
	c->over = true;
	close_timer(c);
	close_pipe(c);
	if (!c->exited)
		sw_proc_stop(&c->proc, SIGKILL, 0);
}

const struct analysis_provider analysis_provider_exec = {
	.name = "exec",
	.settings_size = sizeof(struct exec_settings),
	.parse = exec_parse,
	.describe = exec_describe,
	.measure = exec_measure,
	.cancel = exec_cancel,
	.release = exec_release,
};
