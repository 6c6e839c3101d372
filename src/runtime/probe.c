/*
 * Readiness and liveness probes: http (GET, status 200-399), tcp (connect)
 * and exec (exit status 0). Every attempt runs on the loop without
 * blocking, has a hard timeout, and never overlaps the previous attempt of
 * the same probe: a tick that finds an attempt in flight is skipped.
 *
 * An attempt (struct probe_run) owns its handles and frees itself once
 * they are closed, so it can be abandoned at any time — when the instance
 * stops, restarts or is forgotten — without waiting for it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/proc.h"
#include "runtime_int.h"

struct probe_run {
	struct probe_state *ps;   /* NULL once finished or abandoned */
	enum spec_probe_kind kind;
	bool finished;
	int pending;              /* handles not closed yet */
	uv_timer_t timer;         /* the hard timeout */
	bool tcp_open;
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	char *request;
	char resp[512];
	size_t resp_len;
	bool proc_open, proc_exited;
	struct sw_proc proc;      /* an exec probe's command, in its own group */
};

static void run_finish(struct probe_run *run, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void run_handle_closed(uv_handle_t *h)
{
	struct probe_run *run = h->data;

	if (--run->pending > 0)
		return;
	free(run->request);
	free(run);
}

static void run_proc_closed(struct sw_proc *proc)
{
	struct probe_run *run = proc->data;

	if (--run->pending > 0)
		return;
	free(run->request);
	free(run);
}

/* Releases the attempt's handles; an exec probe still running is killed
 * with its whole group and closed from the exit callback. */
static void run_cleanup(struct probe_run *run)
{
	uv_timer_stop(&run->timer);
	uv_close((uv_handle_t *)&run->timer, run_handle_closed);
	if (run->tcp_open)
		uv_close((uv_handle_t *)&run->tcp, run_handle_closed);
	if (run->proc_open) {
		if (run->proc_exited)
			sw_proc_close(&run->proc, run_proc_closed);
		else
			sw_proc_stop(&run->proc, SIGKILL, 0);
	}
}

static void probe_result(struct probe_state *ps, bool ok, const char *msg)
{
	struct runtime_priv *p = ps->owner;
	struct runtime_instance *inst = p->inst;
	uint32_t fthr = ps->spec->failure_threshold ? ps->spec->failure_threshold : 3;
	uint32_t sthr = ps->spec->success_threshold ? ps->spec->success_threshold : 1;
	bool first = !ps->seen_result;

	ps->seen_result = true;
	if (ok) {
		ps->fails = 0;
		ps->successes++;
	} else {
		ps->successes = 0;
		ps->fails++;
	}
	if (ps->liveness) {
		if (!ok && ps->fails >= fthr)
			runtime_liveness_failed(p, msg);
		return;
	}
	if (ok && !inst->ready && ps->successes >= sthr) {
		inst->ready = true;
		inst->ready_ms = sw_now_ms();
		inst->state = RUNTIME_RUNNING;
		inst->reason[0] = '\0';
		runtime_emit(p, RUNTIME_EV_READY);
	} else if (!ok && inst->ready && (ps->fails >= fthr || (first && inst->adopted))) {
		/* An adopted instance keeps the readiness it was given only
		 * until the first result says otherwise. */
		inst->ready = false;
		inst->ready_ms = 0;
		inst->state = RUNTIME_RUNNING;
		snprintf(inst->reason, sizeof(inst->reason), "readiness probe failed: %s", msg);
		runtime_emit(p, RUNTIME_EV_UNREADY);
	} else if (!ok && !inst->ready) {
		/* not an event, but `status` should say why it is not ready */
		snprintf(inst->reason, sizeof(inst->reason), "readiness probe failed: %s", msg);
	}
}

static void run_finish(struct probe_run *run, bool ok, const char *fmt, ...)
{
	struct probe_state *ps = run->ps;
	char msg[200];
	va_list ap;

	if (run->finished)
		return;
	run->finished = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	run->ps = NULL;
	if (ps)
		ps->run = NULL;
	run_cleanup(run);
	if (ps)
		probe_result(ps, ok, msg);
}

static void run_abandon(struct probe_run *run)
{
	run->ps = NULL;
	run->finished = true;
	run_cleanup(run);
}

static void on_timeout(uv_timer_t *t)
{
	struct probe_run *run = t->data;
	char d[32];

	sw_duration_format(d, sizeof(d), run->ps->spec->timeout_ms ? run->ps->spec->timeout_ms : 1000);
	run_finish(run, false, "timed out after %s", d);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct probe_run *run = h->data;

	b->base = run->resp + run->resp_len;
	b->len = sizeof(run->resp) - 1 - run->resp_len;
}

/* Looks at the status line once it is complete: "HTTP/1.1 200 OK". */
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct probe_run *run = s->data;
	char *eol;
	int status;

	if (run->finished)
		return;
	if (nread == UV_ENOBUFS) {
		run_finish(run, false, "status line too long");
		return;
	}
	if (nread < 0) {
		run_finish(run, false, "connection closed before a response");
		return;
	}
	run->resp_len += (size_t)nread;
	run->resp[run->resp_len] = '\0';
	eol = strchr(run->resp, '\n');
	if (!eol) {
		if (run->resp_len >= sizeof(run->resp) - 1)
			run_finish(run, false, "status line too long");
		return;
	}
	*eol = '\0';
	if (strncmp(run->resp, "HTTP/1.", 7) != 0 || run->resp[8] != ' ' ||
	    sscanf(run->resp + 9, "%3d", &status) != 1) {
		run_finish(run, false, "malformed response");
		return;
	}
	if (status >= 200 && status < 400)
		run_finish(run, true, "status %d", status);
	else
		run_finish(run, false, "status %d", status);
}

static void on_write(uv_write_t *w, int status)
{
	struct probe_run *run = w->data;

	if (!run->finished && status < 0)
		run_finish(run, false, "sending request: %s", uv_strerror(status));
}

static uint16_t probe_port(const struct probe_state *ps)
{
	return ps->spec->port ? ps->spec->port : ps->owner->inst->port;
}

static void on_connect(uv_connect_t *c, int status)
{
	struct probe_run *run = c->data;
	struct buf req = BUF_INIT;
	const char *path;
	uv_buf_t b;
	int r;

	if (run->finished)
		return;
	if (status < 0) {
		run_finish(run, false, "connecting: %s", uv_strerror(status));
		return;
	}
	if (run->kind == SPEC_PROBE_TCP) {
		run_finish(run, true, "connected");
		return;
	}
	path = run->ps->spec->http_path && run->ps->spec->http_path[0] ? run->ps->spec->http_path : "/";
	buf_addf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: slipway-probe\r\n"
		 "Accept: */*\r\nConnection: close\r\n\r\n", path, (unsigned)probe_port(run->ps));
	run->request = buf_detach(&req);
	b = uv_buf_init(run->request, (unsigned)strlen(run->request));
	run->write.data = run;
	r = uv_write(&run->write, (uv_stream_t *)&run->tcp, &b, 1, on_write);
	if (r == 0)
		r = uv_read_start((uv_stream_t *)&run->tcp, on_alloc, on_read);
	if (r < 0)
		run_finish(run, false, "sending request: %s", uv_strerror(r));
}

static void on_exec_exit(struct sw_proc *proc, const struct sw_proc_exit *how)
{
	struct probe_run *run = proc->data;

	run->proc_exited = true;
	if (run->finished) {
		sw_proc_close(proc, run_proc_closed);
		return;
	}
	if (how->signal || how->status)
		run_finish(run, false, "command %s", how->reason);
	else
		run_finish(run, true, "command succeeded");
}

static void run_start_net(struct probe_run *run)
{
	struct sockaddr_in sa;
	int r;

	uv_tcp_init(run->timer.loop, &run->tcp);
	run->tcp.data = run;
	run->tcp_open = true;
	run->pending++;
	uv_ip4_addr("127.0.0.1", probe_port(run->ps), &sa);
	run->connect.data = run;
	r = uv_tcp_connect(&run->connect, &run->tcp, (const struct sockaddr *)&sa, on_connect);
	if (r < 0)
		run_finish(run, false, "connecting: %s", uv_strerror(r));
}

static void run_start_exec(struct probe_run *run)
{
	const struct spec_probe *sp = run->ps->spec;
	struct runtime_priv *p = run->ps->owner;
	struct sw_proc_options o = {.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1,
				    .on_exit = on_exec_exit, .data = run};
	struct sw_err err = {0};

	if (!sp->exec_command || !sp->exec_command[0]) {
		run_finish(run, false, "no command");
		return;
	}
	o.argv = sp->exec_command;
	o.env = p->env;
	o.cwd = p->inst->spec->workdir;
	if (sw_proc_spawn(&run->proc, run->timer.loop, &o, &err) < 0) {
		run_finish(run, false, "%s", err.msg);
		return;
	}
	run->proc_open = true;
	run->pending++;
}

static void on_tick(uv_timer_t *t)
{
	struct probe_state *ps = sw_container_of(t, struct probe_state, timer);
	struct probe_run *run;

	if (ps->run)
		return;  /* the previous attempt is still in flight */
	run = xcalloc(1, sizeof(*run));
	run->ps = ps;
	run->kind = ps->spec->kind;
	ps->run = run;
	uv_timer_init(t->loop, &run->timer);
	run->timer.data = run;
	run->pending++;
	uv_timer_start(&run->timer, on_timeout, ps->spec->timeout_ms ? ps->spec->timeout_ms : 1000, 0);
	if (run->kind == SPEC_PROBE_EXEC)
		run_start_exec(run);
	else
		run_start_net(run);
}

void probe_init(struct probe_state *ps, struct runtime_priv *owner,
		const struct spec_probe *spec, bool liveness)
{
	memset(ps, 0, sizeof(*ps));
	ps->owner = owner;
	ps->spec = spec;
	ps->liveness = liveness;
	uv_timer_init(owner->rt->cfg.loop, &ps->timer);
	ps->timer.data = owner;
}

void probe_start(struct probe_state *ps, uint64_t delay_ms)
{
	uint64_t period = ps->spec->period_ms ? ps->spec->period_ms : 1000;

	probe_stop(ps);
	ps->fails = 0;
	ps->successes = 0;
	ps->seen_result = false;
	if (ps->spec->kind == SPEC_PROBE_NONE)
		return;
	uv_timer_start(&ps->timer, on_tick, delay_ms, period);
}

void probe_stop(struct probe_state *ps)
{
	struct probe_run *run = ps->run;

	uv_timer_stop(&ps->timer);
	if (run) {
		ps->run = NULL;
		run_abandon(run);
	}
}

void probe_close(struct probe_state *ps, uv_close_cb close_cb)
{
	probe_stop(ps);
	uv_close((uv_handle_t *)&ps->timer, close_cb);
}
