/*
 * runtime: real processes on a real loop. Every case drives the loop with
 * a deadline (no sleeps) and the teardown stops or kills everything that
 * was started.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>

#include "core/age.h"
#include "core/proc.h"
#include "runtime/runtime.h"
#include "runtime/runtime_int.h" /* logindex_note, for the index's bound */
#include "core/buf.h"


struct rec {
	struct runtime_instance *inst;  /* compare only: freed after STOPPED */
	char id[96];
	enum runtime_event ev;
	enum runtime_state state;
	pid_t pid;
	uint16_t port;
	bool ready;
	bool adopted;
	uint32_t restarts;
	char reason[256];
	uint64_t at_ms;
};

struct fx {
	uv_loop_t loop;
	uv_timer_t wake;
	struct runtime *rt;
	char dir[128];
	char logs[160];
	struct rec ev[1024];
	size_t nev;
	pid_t pids[128];
	size_t npids;
	bool stopped_all;
	/* a tiny HTTP server on the loop, for the probes */
	uv_tcp_t srv;
	bool srv_open;
	uint16_t srv_port;
	int srv_status;          /* 0 = accept but never answer */
	char srv_request[256];   /* the last request line */
	int srv_requests;
};

static struct fx *F;

#define WAIT(cond, ms)                                                        \
	__extension__({                                                       \
		uint64_t dl_ = sw_now_ms() + (ms);                            \
		while (!(cond) && sw_now_ms() < dl_)                          \
			uv_run(&F->loop, UV_RUN_ONCE);                        \
		(bool)(cond);                                                 \
	})

/* Runs the loop for ms, whatever happens. */
static void run_for(uint64_t ms)
{
	uint64_t dl = sw_now_ms() + ms;

	while (sw_now_ms() < dl)
		uv_run(&F->loop, UV_RUN_ONCE);
}

static void on_change(struct runtime_instance *inst, enum runtime_event ev, void *data)
{
	struct rec *r;

	assert_ptr_equal(data, F);
	assert_true(F->nev < sizeof(F->ev) / sizeof(F->ev[0]));
	r = &F->ev[F->nev++];
	r->inst = inst;
	sw_strlcpy(r->id, inst->id, sizeof(r->id));
	r->ev = ev;
	r->state = inst->state;
	r->pid = runtime_instance_pid(inst);
	r->port = inst->port;
	r->ready = inst->ready;
	r->adopted = inst->adopted;
	r->restarts = inst->restarts;
	sw_strlcpy(r->reason, inst->reason, sizeof(r->reason));
	r->at_ms = sw_now_ms();
	if (ev == RUNTIME_EV_STARTED && F->npids < sizeof(F->pids) / sizeof(F->pids[0]))
		F->pids[F->npids++] = runtime_instance_pid(inst);
}

static size_t count_ev(const char *id, enum runtime_event ev)
{
	size_t n = 0;

	for (size_t i = 0; i < F->nev; i++)
		if (F->ev[i].ev == ev && strcmp(F->ev[i].id, id) == 0)
			n++;
	return n;
}

/* The nth (0-based) event of that kind for the instance, or NULL. */
static struct rec *nth_ev(const char *id, enum runtime_event ev, size_t nth)
{
	for (size_t i = 0; i < F->nev; i++)
		if (F->ev[i].ev == ev && strcmp(F->ev[i].id, id) == 0 && nth-- == 0)
			return &F->ev[i];
	return NULL;
}

static void on_wake(uv_timer_t *t)
{
}

static struct runtime_config test_config(void)
{
	struct runtime_config cfg = {
		.loop = &F->loop,
		.log_dir = F->logs,
		.port_min = 24100,
		.port_max = 24999,
		.log_max_bytes = 1024 * 1024,
		.log_keep = 3,
		.log_check_ms = 50,
		.backoff_initial_ms = 50,
		.backoff_max_ms = 400,
		.backoff_reset_ms = 60000,
		.on_change = on_change,
		.data = F,
	};
	return cfg;
}

static struct runtime *new_runtime(const struct runtime_config *cfg)
{
	struct runtime *rt = NULL;
	struct sw_err err = {0};

	assert_int_equal(runtime_new(&rt, cfg, &err), 0);
	return rt;
}

static int setup(void **state)
{
	struct runtime_config cfg;

	F = xcalloc(1, sizeof(*F));
	snprintf(F->dir, sizeof(F->dir), "/tmp/sw-runtime-test-XXXXXX");
	assert_non_null(mkdtemp(F->dir));
	snprintf(F->logs, sizeof(F->logs), "%s/logs", F->dir);
	assert_int_equal(uv_loop_init(&F->loop), 0);
	uv_timer_init(&F->loop, &F->wake);
	uv_timer_start(&F->wake, on_wake, 10, 10);
	cfg = test_config();
	F->rt = new_runtime(&cfg);
	*state = F;
	return 0;
}

static void stopped_all(void *data)
{
	F->stopped_all = true;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Whether any live (not zombie) process is in process group pgid. */
static bool group_alive(pid_t pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool alive = false;

	assert_non_null(d);
	while (!alive && (e = readdir(d))) {
		char path[300], data[1024], *s;
		int fd, pgrp = 0;
		ssize_t n;
		char st;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, data, sizeof(data) - 1);
		close(fd);
		if (n <= 0)
			continue;
		data[n] = '\0';
		s = strrchr(data, ')');
		if (s && sscanf(s + 2, "%c %*d %d", &st, &pgrp) == 2 && pgrp == pgid && st != 'Z')
			alive = true;
	}
	closedir(d);
	return alive;
}

static int teardown(void **state)
{
	if (F->rt) {
		runtime_stop_all(F->rt, stopped_all, NULL);
		assert_true(WAIT(F->stopped_all, 10000));
		assert_int_equal(runtime_count(F->rt), 0);
		runtime_free(F->rt);
	}
	for (size_t i = 0; i < F->npids; i++)
		if (kill(-F->pids[i], SIGKILL) < 0)
			kill(F->pids[i], SIGKILL);
	if (F->srv_open)
		uv_close((uv_handle_t *)&F->srv, NULL);
	uv_close((uv_handle_t *)&F->wake, NULL);
	uv_run(&F->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&F->loop), 0);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	nftw(F->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(F);
	F = NULL;
	return 0;
}

/* ---- specs ------------------------------------------------------------ */

static char **strv(const char *first, va_list ap)
{
	char **v = xcalloc(16, sizeof(*v));
	size_t n = 0;

	for (const char *s = first; s; s = va_arg(ap, const char *)) {
		assert_true(n < 15);
		v[n++] = xstrdup(s);
	}
	return v;
}

/* An app running argv (NULL-terminated), no probes, SIGTERM with 2 s. */
static struct spec_app *mkspec(const char *name, const char *arg0, ...)
{
	struct spec_app *s = xcalloc(1, sizeof(*s));
	va_list ap;

	va_start(ap, arg0);
	s->command = strv(arg0, ap);
	va_end(ap);
	while (s->command[s->argc])
		s->argc++;
	s->refs = 1;
	s->name = xstrdup(name);
	s->version = xstrdup("1.2.3");
	s->replicas = 1;
	s->stop_signal = SIGTERM;
	s->stop_timeout_ms = 2000;
	return s;
}

static void probe_exec(struct spec_probe *p, uint64_t period, uint32_t fthr, const char *arg0, ...)
{
	va_list ap;

	va_start(ap, arg0);
	p->exec_command = strv(arg0, ap);
	va_end(ap);
	while (p->exec_command[p->exec_argc])
		p->exec_argc++;
	p->kind = SPEC_PROBE_EXEC;
	p->period_ms = period;
	p->timeout_ms = 1000;
	p->failure_threshold = fthr;
	p->success_threshold = 1;
}

static void probe_net(struct spec_probe *p, enum spec_probe_kind kind, const char *path,
		      uint16_t port, uint64_t period, uint32_t fthr)
{
	p->kind = kind;
	p->http_path = path ? xstrdup(path) : NULL;
	p->port = port;
	p->period_ms = period;
	p->timeout_ms = 300;
	p->failure_threshold = fthr;
	p->success_threshold = 1;
}

static struct runtime_instance *start(struct spec_app *spec, const char *id)
{
	struct sw_err err = {0};
	struct runtime_instance *inst = runtime_start(F->rt, spec, 1, id, &err);

	assert_non_null(inst);
	spec_app_unref(spec);  /* the instance holds its own reference */
	return inst;
}

static char *path_in_dir(const char *name)
{
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s/%s", F->dir, name);
	return buf_detach(&b);
}

static char *slurp(const char *path)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fd);
	return buf_detach(&b);
}

static bool file_contains(const char *path, const char *needle)
{
	char *s = slurp(path);
	bool yes = s && strstr(s, needle);

	free(s);
	return yes;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* ---- a tiny HTTP server on the loop ------------------------------------ */

struct conn {
	uv_tcp_t tcp;
	char in[1024];
	size_t len;
	bool answered;
	uv_write_t w;
	char out[128];
};

static void conn_closed(uv_handle_t *h)
{
	free(h->data);
}

static void conn_written(uv_write_t *w, int status)
{
	struct conn *c = w->data;

	uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	struct conn *c = h->data;

	b->base = c->in + c->len;
	b->len = sizeof(c->in) - 1 - c->len;
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;
	char *eol;
	uv_buf_t out;

	if (n < 0) {
		if (!uv_is_closing((uv_handle_t *)s))
			uv_close((uv_handle_t *)s, conn_closed);
		return;
	}
	c->len += (size_t)n;
	c->in[c->len] = '\0';
	if (c->answered || !strstr(c->in, "\r\n\r\n"))
		return;
	c->answered = true;
	eol = strstr(c->in, "\r\n");
	*eol = '\0';
	sw_strlcpy(F->srv_request, c->in, sizeof(F->srv_request));
	F->srv_requests++;
	if (!F->srv_status)
		return;  /* never answers: the probe must time out */
	snprintf(c->out, sizeof(c->out), "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", F->srv_status);
	out = uv_buf_init(c->out, (unsigned)strlen(c->out));
	c->w.data = c;
	uv_write(&c->w, s, &out, 1, conn_written);
}

static void srv_conn(uv_stream_t *srv, int status)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	uv_tcp_init(srv->loop, &c->tcp);
	c->tcp.data = c;
	assert_int_equal(uv_accept(srv, (uv_stream_t *)&c->tcp), 0);
	uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

static void server_start(int status)
{
	struct sockaddr_in sa;
	struct sockaddr_storage got;
	int len = sizeof(got);

	F->srv_status = status;
	uv_tcp_init(&F->loop, &F->srv);
	F->srv_open = true;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&F->srv, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&F->srv, 16, srv_conn), 0);
	uv_tcp_getsockname(&F->srv, (struct sockaddr *)&got, &len);
	F->srv_port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

/* ---- cases -------------------------------------------------------------- */

static void test_runtime__backoff_table(void **state)
{
	assert_int_equal(runtime_backoff_ms(1, 1000, 300000), 1000);
	assert_int_equal(runtime_backoff_ms(2, 1000, 300000), 2000);
	assert_int_equal(runtime_backoff_ms(3, 1000, 300000), 4000);
	assert_int_equal(runtime_backoff_ms(9, 1000, 300000), 256000);
	assert_int_equal(runtime_backoff_ms(10, 1000, 300000), 300000);
	assert_int_equal(runtime_backoff_ms(1000000, 1000, 300000), 300000);
	assert_int_equal(runtime_backoff_ms(0, 1000, 300000), 1000);
	assert_int_equal(runtime_backoff_ms(4, 50, 400), 400);
	assert_int_equal(runtime_backoff_ms(3, 50, 400), 200);
	assert_string_equal(runtime_state_name(RUNTIME_BACKOFF), "CrashLoopBackOff");
	assert_string_equal(runtime_state_name(RUNTIME_STARTING), "Starting");
	assert_string_equal(runtime_state_name(RUNTIME_RUNNING), "Running");
	assert_string_equal(runtime_state_name(RUNTIME_STOPPING), "Stopping");
	assert_string_equal(runtime_state_name(RUNTIME_STOPPED), "Stopped");
	assert_string_equal(runtime_state_name(RUNTIME_FAILED), "Failed");
}

static void test_runtime__ready_right_after_start_without_probe(void **state)
{
	struct runtime_instance *inst = start(mkspec("app", "sleep", "100", NULL), "a-1");
	struct rec *st, *rd;

	assert_int_equal(runtime_instance_pid(inst), 0);  /* spawned from the loop */
	assert_string_equal(inst->handle, "");
	assert_true(inst->port >= 24100 && inst->port <= 24999);
	assert_true(WAIT(count_ev("a-1", RUNTIME_EV_READY) == 1, 5000));
	st = nth_ev("a-1", RUNTIME_EV_STARTED, 0);
	rd = nth_ev("a-1", RUNTIME_EV_READY, 0);
	assert_non_null(st);
	assert_true(rd == st + 1);
	assert_int_equal(st->state, RUNTIME_STARTING);
	assert_true(st->pid > 0);
	assert_int_equal(rd->state, RUNTIME_RUNNING);
	assert_true(inst->ready);
	assert_int_equal(runtime_instance_pid(inst), st->pid);
	/* the process driver's handle: "PID STARTTIME" */
	char want[64];
	snprintf(want, sizeof(want), "%d %llu", (int)st->pid,
		 (unsigned long long)sw_proc_start_time(st->pid));
	assert_string_equal(inst->handle, want);
	assert_int_equal(runtime_count(F->rt), 1);
}

static void test_runtime__exec_probe_decides_ready(void **state)
{
	char *marker = path_in_dir("ready-marker");
	struct spec_app *spec = mkspec("app", "sleep", "100", NULL);
	struct runtime_instance *inst;

	probe_exec(&spec->readiness, 30, 3, "test", "-f", marker, NULL);
	inst = start(spec, "e-1");
	assert_true(WAIT(count_ev("e-1", RUNTIME_EV_STARTED) == 1, 5000));
	run_for(300);
	assert_int_equal(count_ev("e-1", RUNTIME_EV_READY), 0);
	assert_false(inst->ready);
	assert_int_equal(inst->state, RUNTIME_STARTING);
	close(open(marker, O_CREAT | O_WRONLY, 0644));
	assert_true(WAIT(inst->ready, 5000));
	assert_int_equal(inst->state, RUNTIME_RUNNING);
	assert_int_equal(count_ev("e-1", RUNTIME_EV_READY), 1);
	assert_true(inst->ready_ms >= inst->started_ms);
	free(marker);
}

static void test_runtime__tcp_probe(void **state)
{
	struct spec_app *spec = mkspec("app", "sleep", "100", NULL);
	struct spec_app *closed = mkspec("app", "sleep", "100", NULL);
	struct runtime_instance *inst, *inst2;

	server_start(200);
	probe_net(&spec->readiness, SPEC_PROBE_TCP, NULL, F->srv_port, 30, 3);
	/* port 0: the instance's own port, where nothing listens */
	probe_net(&closed->readiness, SPEC_PROBE_TCP, NULL, 0, 30, 3);
	inst = start(spec, "t-1");
	inst2 = start(closed, "t-2");
	assert_true(WAIT(inst->ready, 5000));
	run_for(200);
	assert_false(inst2->ready);
	assert_int_equal(inst2->state, RUNTIME_STARTING);
	assert_string_equal(inst2->reason, "readiness probe failed: connecting: connection refused");
}

static void test_runtime__http_probe_ready_unready(void **state)
{
	struct spec_app *spec = mkspec("app", "sleep", "100", NULL);
	struct runtime_instance *inst;

	server_start(200);
	probe_net(&spec->readiness, SPEC_PROBE_HTTP, "/healthz", F->srv_port, 30, 2);
	inst = start(spec, "h-1");
	assert_true(WAIT(inst->ready, 5000));
	assert_string_equal(F->srv_request, "GET /healthz HTTP/1.1");
	F->srv_status = 503;
	assert_true(WAIT(count_ev("h-1", RUNTIME_EV_UNREADY) == 1, 5000));
	assert_false(inst->ready);
	assert_int_equal(inst->state, RUNTIME_RUNNING);
	assert_non_null(strstr(inst->reason, "status 503"));
	F->srv_status = 302;  /* 200-399 passes */
	assert_true(WAIT(count_ev("h-1", RUNTIME_EV_READY) == 2, 5000));
	assert_true(inst->ready);
	assert_int_equal(count_ev("h-1", RUNTIME_EV_EXITED), 0);
}

static void test_runtime__probe_times_out(void **state)
{
	struct spec_app *spec = mkspec("app", "sleep", "100", NULL);
	struct runtime_instance *inst;
	int before;

	server_start(0);  /* accepts, never answers */
	probe_net(&spec->liveness, SPEC_PROBE_HTTP, "/", F->srv_port, 20, 2);
	spec->liveness.timeout_ms = 100;
	inst = start(spec, "to-1");
	assert_true(WAIT(count_ev("to-1", RUNTIME_EV_LIVENESS) == 1, 5000));
	assert_non_null(strstr(nth_ev("to-1", RUNTIME_EV_LIVENESS, 0)->reason, "timed out"));
	/* a 20 ms period with a 100 ms timeout: ticks were skipped while an
	 * attempt was in flight, so two failures took two timeouts */
	before = F->srv_requests;
	assert_true(before <= 3);
	assert_true(WAIT(count_ev("to-1", RUNTIME_EV_STARTED) == 2, 5000));
	assert_int_equal(inst->restarts, 1);
}

static void test_runtime__env_and_substitution(void **state)
{
	struct spec_app *spec = mkspec("envapp", "sh", "-c",
				       "echo \"$PORT|$SLIPWAY_APP|$SLIPWAY_VERSION|$SLIPWAY_INSTANCE|"
				       "$GREETING|$RT_TEST_INHERITED|$1|$(pwd)\" > out.txt; exec sleep 100",
				       "sh", "arg-${PORT}-${APP}", NULL);
	struct runtime_instance *inst;
	struct buf want = BUF_INIT;
	char *out = path_in_dir("out.txt"), *got;

	spec->workdir = xstrdup(F->dir);
	spec->nenv = 2;
	spec->env = xcalloc(2, sizeof(*spec->env));
	spec->env[0].name = xstrdup("GREETING");
	spec->env[0].value = xstrdup("hi ${INSTANCE} v${VERSION}");
	spec->env[1].name = xstrdup("RT_TEST_INHERITED");
	spec->env[1].value = xstrdup("from-spec");
	setenv("PORT", "1", 1);  /* the daemon's own PORT must not leak through */
	setenv("RT_TEST_INHERITED", "from-daemon", 1);
	setenv("RT_TEST_PLAIN", "plain", 1);
	inst = start(spec, "env-1");
	assert_true(WAIT(file_contains(out, "\n"), 5000));
	got = slurp(out);
	buf_addf(&want, "%u|envapp|1.2.3|env-1|hi env-1 v1.2.3|from-spec|arg-%u-envapp|%s\n",
		 inst->port, inst->port, F->dir);
	assert_string_equal(got, want.s);
	unsetenv("PORT");
	unsetenv("RT_TEST_INHERITED");
	unsetenv("RT_TEST_PLAIN");
	free(got);
	free(out);
	buf_release(&want);
}

/* valueFrom.age: opened as the environment is built, the plaintext less
 * one newline and not substituted; a key that does not open it names the
 * variable, never its value. */
static void test_runtime__env_opens_age_values(void **state)
{
	struct age_identities ids = {0}, other = {0};
	struct sw_err err = {0};
	ids.keys = xcalloc(1, sizeof(*ids.keys));
	other.keys = xcalloc(1, sizeof(*other.keys));
	ids.n = other.n = 1;
	assert_int_equal(age_identity_generate(&ids.keys[0], &err), 0);
	assert_int_equal(age_identity_generate(&other.keys[0], &err), 0);
	struct age_recipient r;
	memcpy(r.pub, ids.keys[0].pub, 32);
	struct buf armor = BUF_INIT;
	assert_int_equal(age_encrypt(&armor, &r, 1, "s3cr3t ${PORT}\n", 15, true, &err), 0);

	struct spec_app *spec = mkspec("agey", "true", NULL);
	spec->nenv = 1;
	spec->env = xcalloc(1, sizeof(*spec->env));
	spec->env[0].name = xstrdup("DB_PASSWORD");
	spec->env[0].value = buf_detach(&armor);
	spec->env[0].secret = spec->env[0].age = true;
	struct spec_vars vars = {.port = "8080"};
	char *own[] = {NULL};

	char **env = runtime_env_build(spec, &vars, NULL, 0, own, &ids, &err);
	assert_non_null(env);
	bool found = false;
	for (char **e = env; *e; e++)
		found |= strcmp(*e, "DB_PASSWORD=s3cr3t ${PORT}") == 0;
	assert_true(found);
	runtime_env_free(env);

	assert_null(runtime_env_build(spec, &vars, NULL, 0, own, &other, &err));
	assert_string_equal(err.msg, "env DB_PASSWORD: no identity matches any recipient of this value");
	memset(&err, 0, sizeof(err));
	assert_null(runtime_env_build(spec, &vars, NULL, 0, own, NULL, &err));
	assert_non_null(strstr(err.msg, "env DB_PASSWORD: the daemon has no age identity"));
	spec_app_unref(spec);
	age_identities_release(&ids);
	age_identities_release(&other);
}

static void test_runtime__daemon_env_inherited(void **state)
{
	struct spec_app *spec = mkspec("app", "sh", "-c", "echo \"$RT_TEST_PLAIN\" > plain.txt; exec sleep 100", NULL);
	char *out = path_in_dir("plain.txt");

	spec->workdir = xstrdup(F->dir);
	setenv("RT_TEST_PLAIN", "plain-value", 1);
	start(spec, "pl-1");
	assert_true(WAIT(file_contains(out, "\n"), 5000));
	assert_true(file_contains(out, "plain-value\n"));
	unsetenv("RT_TEST_PLAIN");
	free(out);
}

static void test_runtime__kill_restarts_with_new_pid(void **state)
{
	struct runtime_instance *inst = start(mkspec("app", "sleep", "100", NULL), "k-1");
	struct rec *ex, *bo, *st2;
	pid_t first;
	uint16_t port;

	assert_true(WAIT(inst->ready, 5000));
	first = runtime_instance_pid(inst);
	port = inst->port;
	assert_int_equal(kill(first, SIGKILL), 0);
	assert_true(WAIT(count_ev("k-1", RUNTIME_EV_STARTED) == 2, 5000));
	ex = nth_ev("k-1", RUNTIME_EV_EXITED, 0);
	bo = nth_ev("k-1", RUNTIME_EV_BACKOFF, 0);
	st2 = nth_ev("k-1", RUNTIME_EV_STARTED, 1);
	assert_non_null(ex);
	assert_non_null(bo);
	assert_string_equal(ex->reason, "killed by signal 9 (SIGKILL)");
	assert_false(ex->ready);
	assert_int_equal(ex->restarts, 1);
	assert_true(bo > ex && st2 > bo);
	assert_int_equal(bo->state, RUNTIME_BACKOFF);
	assert_string_equal(bo->reason, "back-off 50ms restarting failed instance");
	assert_true(st2->at_ms - bo->at_ms >= 45);
	assert_int_equal(st2->restarts, 1);
	assert_true(st2->pid > 0 && st2->pid != first);
	assert_int_equal(inst->port, port);  /* an instance keeps its port */
	assert_true(WAIT(inst->ready, 5000));
}

static void test_runtime__crash_loop_backs_off(void **state)
{
	struct runtime_instance *inst = start(mkspec("app", "sh", "-c", "exit 1", NULL), "c-1");
	static const char *const want[] = {"50ms", "100ms", "200ms", "400ms", "400ms"};
	struct buf b = BUF_INIT;

	assert_true(WAIT(count_ev("c-1", RUNTIME_EV_BACKOFF) == 5, 10000));
	assert_string_equal(nth_ev("c-1", RUNTIME_EV_EXITED, 0)->reason, "exited with status 1");
	for (size_t i = 0; i < 5; i++) {
		struct rec *bo = nth_ev("c-1", RUNTIME_EV_BACKOFF, i);
		buf_reset(&b);
		buf_addf(&b, "back-off %s restarting failed instance", want[i]);
		assert_string_equal(bo->reason, b.s);
		assert_int_equal(bo->state, RUNTIME_BACKOFF);
		assert_string_equal(runtime_state_name(bo->state), "CrashLoopBackOff");
		assert_int_equal(bo->restarts, i + 1);
	}
	/* the delays really grow: each restart waits at least its back-off */
	for (size_t i = 0; i < 4; i++) {
		struct rec *bo = nth_ev("c-1", RUNTIME_EV_BACKOFF, i);
		struct rec *st = nth_ev("c-1", RUNTIME_EV_STARTED, i + 1);
		uint64_t min = runtime_backoff_ms((uint32_t)i + 1, 50, 400);
		assert_non_null(st);
		assert_true(st->at_ms - bo->at_ms >= min - 5);
	}
	assert_true(nth_ev("c-1", RUNTIME_EV_STARTED, 3)->at_ms - nth_ev("c-1", RUNTIME_EV_STARTED, 2)->at_ms >
		    nth_ev("c-1", RUNTIME_EV_STARTED, 1)->at_ms - nth_ev("c-1", RUNTIME_EV_STARTED, 0)->at_ms);
	assert_true(inst->restarts >= 5);
	buf_release(&b);
}

static void test_runtime__backoff_resets_after_uptime(void **state)
{
	struct runtime_config cfg = test_config();

	runtime_free(F->rt);
	cfg.backoff_reset_ms = 150;
	F->rt = new_runtime(&cfg);
	start(mkspec("app", "sh", "-c", "sleep 0.3; exit 3", NULL), "r-1");
	assert_true(WAIT(count_ev("r-1", RUNTIME_EV_BACKOFF) == 3, 10000));
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(nth_ev("r-1", RUNTIME_EV_BACKOFF, i)->reason,
				    "back-off 50ms restarting failed instance");
	assert_string_equal(nth_ev("r-1", RUNTIME_EV_EXITED, 2)->reason, "exited with status 3");
	assert_int_equal(nth_ev("r-1", RUNTIME_EV_EXITED, 2)->restarts, 3);
}

static void test_runtime__liveness_failure_restarts(void **state)
{
	struct spec_app *spec = mkspec("app", "sleep", "100", NULL);
	struct runtime_instance *inst;
	pid_t first;

	probe_exec(&spec->liveness, 30, 2, "false", NULL);
	inst = start(spec, "l-1");
	assert_true(WAIT(count_ev("l-1", RUNTIME_EV_STARTED) == 1, 5000));
	first = runtime_instance_pid(inst);
	assert_true(WAIT(count_ev("l-1", RUNTIME_EV_STARTED) == 2, 5000));
	assert_non_null(nth_ev("l-1", RUNTIME_EV_LIVENESS, 0));
	assert_string_equal(nth_ev("l-1", RUNTIME_EV_LIVENESS, 0)->reason,
			    "liveness probe failed: command exited with status 1");
	assert_false(nth_ev("l-1", RUNTIME_EV_LIVENESS, 0)->ready);
	assert_string_equal(nth_ev("l-1", RUNTIME_EV_EXITED, 0)->reason, "killed by signal 15 (SIGTERM)");
	assert_non_null(nth_ev("l-1", RUNTIME_EV_BACKOFF, 0));
	assert_int_equal(nth_ev("l-1", RUNTIME_EV_STARTED, 1)->restarts, 1);
	assert_true(runtime_instance_pid(inst) != first);
}

static void test_runtime__stop_escalates_to_sigkill(void **state)
{
	struct spec_app *spec = mkspec("app", "sh", "-c",
				       "trap '' TERM; sleep 100 & echo armed > armed.txt; wait", NULL);
	char *armed = path_in_dir("armed.txt");
	struct runtime_instance *inst;
	uint64_t t0;
	pid_t pgid;

	spec->workdir = xstrdup(F->dir);
	spec->stop_timeout_ms = 300;
	inst = start(spec, "s-1");
	assert_true(WAIT(file_contains(armed, "armed"), 5000));
	pgid = runtime_instance_pid(inst);
	assert_true(group_alive(pgid));
	t0 = sw_now_ms();
	runtime_stop(F->rt, inst);
	assert_int_equal(inst->state, RUNTIME_STOPPING);
	runtime_stop(F->rt, inst);  /* idempotent */
	assert_true(WAIT(count_ev("s-1", RUNTIME_EV_STOPPED) == 1, 5000));
	assert_true(sw_now_ms() - t0 >= 290);
	assert_int_equal(nth_ev("s-1", RUNTIME_EV_STOPPED, 0)->state, RUNTIME_STOPPED);
	assert_int_equal(runtime_count(F->rt), 0);
	assert_true(WAIT(!group_alive(pgid), 2000));
	assert_int_equal(count_ev("s-1", RUNTIME_EV_EXITED), 0);
	run_for(200);
	assert_int_equal(count_ev("s-1", RUNTIME_EV_STARTED), 1);  /* never restarted */
	free(armed);
}

static void test_runtime__stop_signal_reaches_group(void **state)
{
	struct spec_app *spec = mkspec("app", "sh", "-c",
				       "trap 'echo leader >> sig.txt; wait; exit 0' TERM; "
				       "(trap 'echo child >> sig.txt; exit 0' TERM; while :; do sleep 0.02; done) & "
				       "echo armed > armed.txt; wait", NULL);
	char *armed = path_in_dir("armed.txt"), *sig = path_in_dir("sig.txt");
	struct runtime_instance *inst;
	uint64_t t0;

	spec->workdir = xstrdup(F->dir);
	spec->stop_timeout_ms = 5000;
	inst = start(spec, "g-1");
	assert_true(WAIT(file_contains(armed, "armed"), 5000));
	run_for(100);  /* let the subshell install its trap */
	t0 = sw_now_ms();
	runtime_stop(F->rt, inst);
	assert_true(WAIT(count_ev("g-1", RUNTIME_EV_STOPPED) == 1, 5000));
	assert_true(sw_now_ms() - t0 < 4000);  /* no SIGKILL needed */
	assert_true(file_contains(sig, "leader"));
	assert_true(file_contains(sig, "child"));
	free(armed);
	free(sig);
}

static void test_runtime__stop_during_backoff(void **state)
{
	struct runtime_config cfg = test_config();
	struct runtime_instance *inst;
	uint64_t t0;

	runtime_free(F->rt);
	cfg.backoff_initial_ms = 5000;
	F->rt = new_runtime(&cfg);
	inst = start(mkspec("app", "sh", "-c", "exit 2", NULL), "b-1");
	assert_true(WAIT(count_ev("b-1", RUNTIME_EV_BACKOFF) == 1, 5000));
	assert_int_equal(inst->state, RUNTIME_BACKOFF);
	t0 = sw_now_ms();
	runtime_stop(F->rt, inst);
	runtime_stop(F->rt, inst);
	assert_true(WAIT(count_ev("b-1", RUNTIME_EV_STOPPED) == 1, 1000));
	assert_true(sw_now_ms() - t0 < 1000);
	assert_int_equal(runtime_count(F->rt), 0);
	assert_int_equal(count_ev("b-1", RUNTIME_EV_STARTED), 1);
}

static struct runtime *g_stop_rt;

static void stop_on_exit(struct runtime_instance *inst, enum runtime_event ev, void *data)
{
	on_change(inst, ev, data);
	if (ev == RUNTIME_EV_EXITED)
		runtime_stop(g_stop_rt, inst);
}

static void test_runtime__stop_from_callback_wins_over_restart(void **state)
{
	struct runtime_config cfg = test_config();

	runtime_free(F->rt);
	cfg.on_change = stop_on_exit;
	F->rt = g_stop_rt = new_runtime(&cfg);
	start(mkspec("app", "sh", "-c", "exit 1", NULL), "cb-1");
	assert_true(WAIT(count_ev("cb-1", RUNTIME_EV_STOPPED) == 1, 5000));
	run_for(200);
	assert_int_equal(count_ev("cb-1", RUNTIME_EV_STARTED), 1);
	assert_int_equal(count_ev("cb-1", RUNTIME_EV_BACKOFF), 0);
	assert_int_equal(runtime_count(F->rt), 0);
}

static void test_runtime__stop_all(void **state)
{
	struct runtime_instance *a = start(mkspec("app", "sleep", "100", NULL), "m-1");
	struct runtime_instance *b = start(mkspec("app", "sleep", "100", NULL), "m-2");
	struct runtime_instance *c = start(mkspec("app", "sleep", "100", NULL), "m-3");

	assert_true(a->port != b->port && b->port != c->port && a->port != c->port);
	assert_true(WAIT(a->ready && b->ready && c->ready, 5000));
	assert_int_equal(runtime_count(F->rt), 3);
	runtime_stop_all(F->rt, stopped_all, NULL);
	assert_true(WAIT(F->stopped_all, 5000));
	assert_int_equal(runtime_count(F->rt), 0);
	assert_int_equal(count_ev("m-1", RUNTIME_EV_STOPPED) + count_ev("m-2", RUNTIME_EV_STOPPED) +
			 count_ev("m-3", RUNTIME_EV_STOPPED), 3);
}

static void test_runtime__free_keeps_process_and_adopt_takes_over(void **state)
{
	struct runtime_config cfg = test_config();
	struct runtime_instance *inst;
	struct sw_err err = {0};
	struct spec_app *spec;
	uint64_t start_time;
	char handle[64];
	uint16_t port;
	pid_t pid;

	inst = start(mkspec("app", "sleep", "100", NULL), "ad-1");
	assert_true(WAIT(inst->ready, 5000));
	pid = runtime_instance_pid(inst);
	start_time = sw_proc_start_time(pid);
	sw_strlcpy(handle, inst->handle, sizeof(handle));
	port = inst->port;

	runtime_free(F->rt);  /* like a daemon crash */
	F->rt = NULL;
	for (int i = 0; i < 5; i++)
		uv_run(&F->loop, UV_RUN_NOWAIT);
	assert_int_equal(kill(pid, 0), 0);
	assert_int_equal(sw_proc_start_time(pid), start_time);

	F->rt = new_runtime(&cfg);
	spec = mkspec("app", "sleep", "100", NULL);
	inst = runtime_adopt(F->rt, spec, 1, "ad-1", handle, port, true, 4, &err);
	spec_app_unref(spec);
	assert_non_null(inst);
	assert_int_equal(runtime_instance_pid(inst), pid);
	assert_int_equal(inst->port, port);
	assert_string_equal(inst->handle, handle);
	assert_true(inst->adopted);
	assert_true(inst->ready);
	assert_int_equal(inst->restarts, 4);
	assert_int_equal(inst->state, RUNTIME_RUNNING);
	assert_int_equal(runtime_count(F->rt), 1);
	run_for(300);
	assert_int_equal(count_ev("ad-1", RUNTIME_EV_EXITED), 0);
	assert_int_equal(count_ev("ad-1", RUNTIME_EV_STARTED), 1);  /* only the first spawn */

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_true(WAIT(count_ev("ad-1", RUNTIME_EV_STARTED) == 2, 5000));
	assert_string_equal(nth_ev("ad-1", RUNTIME_EV_EXITED, 0)->reason,
			    "killed by signal 9 (SIGKILL)");  /* still our child: reaped */
	assert_int_equal(nth_ev("ad-1", RUNTIME_EV_EXITED, 0)->restarts, 5);
	assert_non_null(nth_ev("ad-1", RUNTIME_EV_BACKOFF, 0));
	assert_true(runtime_instance_pid(inst) != pid);
	assert_false(inst->adopted);
	assert_int_equal(inst->port, port);
}

static void test_runtime__adopted_instance_first_probe_decides(void **state)
{
	struct runtime_config cfg = test_config();
	struct runtime_instance *inst;
	struct sw_err err = {0};
	struct spec_app *spec;
	char handle[64];
	pid_t pid;

	inst = start(mkspec("app", "sleep", "100", NULL), "ap-1");
	assert_true(WAIT(inst->ready, 5000));
	pid = runtime_instance_pid(inst);
	sw_strlcpy(handle, inst->handle, sizeof(handle));
	runtime_free(F->rt);
	F->rt = new_runtime(&cfg);
	spec = mkspec("app", "sleep", "100", NULL);
	probe_exec(&spec->readiness, 30, 3, "false", NULL);
	inst = runtime_adopt(F->rt, spec, 1, "ap-1", handle, 24555, true, 0, &err);
	spec_app_unref(spec);
	assert_non_null(inst);
	assert_true(inst->ready);
	assert_true(WAIT(count_ev("ap-1", RUNTIME_EV_UNREADY) == 1, 5000));
	assert_false(inst->ready);
	assert_int_equal(runtime_instance_pid(inst), pid);
}

static int orphans_seen;

static void on_orphan_seen(const char *id, const char *handle, void *data)
{
	assert_string_equal(id, "or-1");
	assert_string_equal(handle, data);
	orphans_seen++;
}

static void test_runtime__adopt_refuses_other_process(void **state)
{
	struct runtime_instance *inst = start(mkspec("app", "sleep", "100", NULL), "w-1");
	struct spec_app *spec = mkspec("app", "sleep", "100", NULL);
	struct sw_err err = {0};
	struct buf want = BUF_INIT;
	pid_t gone;

	assert_true(WAIT(runtime_instance_pid(inst) > 0, 5000));
	/* the same pid with another start time: a reused pid */
	char handle[64];
	pid_t pid = runtime_instance_pid(inst);
	snprintf(handle, sizeof(handle), "%d %llu", (int)pid,
		 (unsigned long long)sw_proc_start_time(pid) + 1);
	assert_null(runtime_adopt(F->rt, spec, 1, "x-9", handle, 24500, false, 0, &err));
	buf_addf(&want, "process %d is not the one recorded (start time differs)", (int)pid);
	assert_string_equal(err.msg, want.s);
	assert_int_equal(err.code, SW_ENOTFOUND);
	assert_int_equal(runtime_kill_handle(F->rt, handle), SW_ENOTFOUND);
	assert_int_equal(kill(pid, 0), 0);  /* not signalled */

	/* handles that name nothing */
	sw_err_clear(&err);
	assert_null(runtime_adopt(F->rt, spec, 1, "x-9", "", 24500, false, 0, &err));
	assert_string_equal(err.msg, "no process recorded");
	assert_int_equal(err.code, SW_EINVAL);
	sw_err_clear(&err);
	assert_null(runtime_adopt(F->rt, spec, 1, "x-9", "12 x", 24500, false, 0, &err));
	assert_string_equal(err.msg, "malformed process handle \"12 x\"");
	assert_int_equal(runtime_kill_handle(F->rt, "-1 5"), SW_EINVAL);

	gone = fork();
	if (gone == 0)
		_exit(0);
	assert_true(gone > 0);
	assert_int_equal(waitpid(gone, NULL, 0), gone);
	sw_err_clear(&err);
	snprintf(handle, sizeof(handle), "%d 12345", (int)gone);
	assert_null(runtime_adopt(F->rt, spec, 1, "x-9", handle, 24500, false, 0, &err));
	buf_reset(&want);
	buf_addf(&want, "process %d is gone", (int)gone);
	assert_string_equal(err.msg, want.s);
	assert_int_equal(runtime_count(F->rt), 1);
	assert_int_equal(sw_proc_start_time(gone), 0);
	spec_app_unref(spec);
	buf_release(&want);
}

static void test_runtime__log_gets_output(void **state)
{
	struct buf path = BUF_INIT;
	struct stat st;

	start(mkspec("logapp", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exec sleep 100", NULL), "lg-1");
	buf_addf(&path, "%s/logapp/lg-1.log", F->logs);
	assert_true(WAIT(file_contains(path.s, "to-stderr\n") && file_contains(path.s, "to-stdout\n"), 5000));
	assert_int_equal(stat(path.s, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	buf_release(&path);
}

static void test_runtime__log_rotates(void **state)
{
	struct runtime_config cfg = test_config();
	struct buf path = BUF_INIT, p1 = BUF_INIT, p2 = BUF_INIT, p3 = BUF_INIT;

	runtime_free(F->rt);
	cfg.log_max_bytes = 2000;
	cfg.log_keep = 2;
	F->rt = new_runtime(&cfg);
	start(mkspec("logapp", "sh", "-c",
		     "while :; do echo 'line of output ......................................................'; "
		     "sleep 0.01; done", NULL), "rot-1");
	buf_addf(&path, "%s/logapp/rot-1.log", F->logs);
	buf_addf(&p1, "%s.1", path.s);
	buf_addf(&p2, "%s.2", path.s);
	buf_addf(&p3, "%s.3", path.s);
	assert_true(WAIT(exists(p2.s), 10000));
	assert_true(file_contains(p1.s, "line of output"));
	/* three more rotations: .3 never appears, the live file stays small */
	for (int i = 0; i < 3; i++) {
		off_t before = file_size(p1.s);
		struct stat a, b;
		stat(p1.s, &a);
		assert_true(WAIT(stat(p1.s, &b) == 0 &&
				 (b.st_ino != a.st_ino || b.st_mtim.tv_nsec != a.st_mtim.tv_nsec ||
				  b.st_mtim.tv_sec != a.st_mtim.tv_sec), 10000));
		(void)before;
	}
	assert_false(exists(p3.s));
	assert_true(file_size(p1.s) > 2000);
	assert_true(file_size(path.s) < 20000);
	buf_release(&path);
	buf_release(&p1);
	buf_release(&p2);
	buf_release(&p3);
}

/* The log's bytes [from, to) as a string. */
static void log_range(struct buf *out, const char *path, int64_t from, int64_t to)
{
	int64_t next;
	buf_reset(out);
	runtime_log_read(path, from, to < 0 ? 1 << 20 : (size_t)(to - from), out, &next);
}

static void test_runtime__log_index_since_and_previous(void **state)
{
	struct buf path = BUF_INIT, go = BUF_INIT, cmd = BUF_INIT, text = BUF_INIT, idx = BUF_INIT;
	buf_addf(&go, "%s/go", F->dir);
	/* the first process says "first" and crashes; the second says "early",
	 * then "late" once go exists */
	buf_addf(&cmd, "if [ -e %s.crashed ]; then echo early; until [ -e %s ]; do sleep 0.02; done; "
		 "echo late; exec sleep 100; fi; touch %s.crashed; echo first; exit 3",
		 go.s, go.s, go.s);
	start(mkspec("idxapp", "sh", "-c", cmd.s, NULL), "idx-1");
	buf_addf(&path, "%s/idxapp/idx-1.log", F->logs);
	buf_addf(&idx, "%s.idx", path.s);
	assert_true(WAIT(file_contains(path.s, "early\n"), 10000));
	int64_t from = -1, to = -1;
	assert_true(runtime_log_previous(path.s, &from, &to));
	log_range(&text, path.s, from, to);
	assert_string_equal(text.s, "first\n");
	/* a check (every 50 ms here) notes where "early" ends */
	run_for(200);
	int64_t mid = sw_wall_ms();
	run_for(20);
	assert_int_equal(creat(go.s, 0600) >= 0, 1);
	assert_true(WAIT(file_contains(path.s, "late\n"), 10000));
	log_range(&text, path.s, runtime_log_since_offset(path.s, mid), -1);
	assert_string_equal(text.s, "late\n");
	log_range(&text, path.s, runtime_log_since_offset(path.s, 1), -1);
	assert_string_equal(text.s, "first\nearly\nlate\n");
	/* a time before the index: all of it; a missing index: all of it */
	assert_int_equal(runtime_log_since_offset(path.s, 0), 0);
	assert_int_equal(unlink(idx.s), 0);
	assert_int_equal(runtime_log_since_offset(path.s, mid), 0);
	assert_false(runtime_log_previous(path.s, &from, &to));
	buf_release(&path);
	buf_release(&go);
	buf_release(&cmd);
	buf_release(&text);
	buf_release(&idx);
}

static void test_runtime__log_index_stays_bounded(void **state)
{
	struct buf path = BUF_INIT, idx = BUF_INIT;
	struct logindex st = {0};
	buf_addf(&path, "%s/bounded.log", F->dir);
	buf_addf(&idx, "%s.idx", path.s);
	int fd = open(path.s, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1000000), 0);
	close(fd);
	logindex_note(path.s, &st, 0, 1000, LOGINDEX_START);
	off_t biggest = 0;
	/* a week of one line a second, at a mark per line */
	for (int64_t i = 1; i <= 20000; i++) {
		logindex_note(path.s, &st, i * 10, 1000 + i * 1000, LOGINDEX_MARK);
		off_t n = file_size(idx.s);
		biggest = n > biggest ? n : biggest;
	}
	assert_true(biggest <= 16 + 4097 * 24);
	/* old steps are coarser but still there; new ones exact */
	assert_int_equal(runtime_log_since_offset(path.s, 1000 + 19990 * 1000), 199900);
	int64_t old = runtime_log_since_offset(path.s, 1000 + 10 * 1000);
	assert_true(old <= 100);
	assert_int_equal(runtime_log_since_offset(path.s, 999), 0);
	/* the start is kept through every halving */
	int64_t from, to;
	logindex_note(path.s, &st, 200010, 1000 + 20001 * 1000, LOGINDEX_START);
	assert_true(runtime_log_previous(path.s, &from, &to));
	assert_int_equal(from, 0);
	assert_int_equal(to, 200010);
	/* a rotation starts over: the offsets of before mean nothing now */
	logindex_note(path.s, &st, 0, 1000 + 20002 * 1000, LOGINDEX_ROTATED);
	assert_true(file_size(idx.s) == 16 + 24);
	assert_int_equal(runtime_log_since_offset(path.s, 1000 + 20000 * 1000), 0);
	/* the wall clock stepping back keeps the index ordered */
	logindex_note(path.s, &st, 50, 5, LOGINDEX_MARK);
	assert_int_equal(runtime_log_since_offset(path.s, 1000 + 20002 * 1000), 50);
	/* another writer (a restarted daemon) goes on from the newest entry */
	struct logindex again = {0};
	logindex_note(path.s, &again, 50, 1000 + 20003 * 1000, LOGINDEX_MARK);
	assert_int_equal(file_size(idx.s), 16 + 2 * 24);
	unlink(idx.s);
	unlink(path.s);
	buf_release(&path);
	buf_release(&idx);
}

static void test_runtime__spawn_failure_reports_failed(void **state)
{
	struct spec_app *spec = mkspec("app", "./nope", NULL);
	struct runtime_instance *inst;
	struct rec *f;

	spec->workdir = xstrdup(F->dir);
	inst = start(spec, "f-1");
	assert_true(WAIT(count_ev("f-1", RUNTIME_EV_FAILED) == 2, 5000));  /* retried */
	f = nth_ev("f-1", RUNTIME_EV_FAILED, 0);
	assert_string_equal(f->reason, "cannot start \"./nope\": no such file or directory");
	assert_int_equal(f->state, RUNTIME_FAILED);
	assert_int_equal(f->pid, 0);
	assert_true(nth_ev("f-1", RUNTIME_EV_FAILED, 1)->at_ms - f->at_ms >= 45);
	assert_int_equal(inst->state, RUNTIME_FAILED);
	assert_int_equal(count_ev("f-1", RUNTIME_EV_STARTED), 0);
	runtime_stop(F->rt, inst);
	assert_true(WAIT(count_ev("f-1", RUNTIME_EV_STOPPED) == 1, 2000));
}

static void test_runtime__invalid_arguments(void **state)
{
	struct spec_app *spec = mkspec("app", "sleep", "1", NULL);
	struct sw_err err = {0};

	assert_null(runtime_start(F->rt, spec, 1, "", &err));
	assert_true(sw_err_isset(&err));
	sw_err_clear(&err);
	assert_null(runtime_start(F->rt, spec, 1, "../x", &err));
	assert_int_equal(runtime_count(F->rt), 0);
	spec_app_unref(spec);
	{
		struct runtime_config cfg = test_config();
		struct runtime *rt = NULL;
		cfg.port_min = 0;
		cfg.port_max = 1000;  /* below the default minimum */
		sw_err_clear(&err);
		assert_int_equal(runtime_new(&rt, &cfg, &err), SW_EINVAL);
		assert_null(rt);
		assert_string_equal(err.msg, "port range 20000-1000 is empty");
	}
}

/* ---- with the demo app ------------------------------------------------- */

static const char *hello_bin(void)
{
	const char *bin = getenv("HELLO_BIN");

	return bin && access(bin, X_OK) == 0 ? bin : NULL;
}

static void test_runtime__hello_http_probe(void **state)
{
	const char *bin = hello_bin();
	struct spec_app *spec;
	struct runtime_instance *inst;

	if (!bin)
		skip();
	spec = mkspec("hello", bin, "--port", "${PORT}", NULL);
	probe_net(&spec->readiness, SPEC_PROBE_HTTP, "/healthz", 0, 50, 2);
	spec->nenv = 1;
	spec->env = xcalloc(1, sizeof(*spec->env));
	spec->env[0].name = xstrdup("HELLO_FAIL_HEALTH_AFTER");
	spec->env[0].value = xstrdup("1");
	inst = start(spec, "hello-1");
	assert_true(WAIT(inst->ready, 5000));
	assert_true(WAIT(count_ev("hello-1", RUNTIME_EV_UNREADY) == 1, 5000));
	assert_false(inst->ready);
	assert_non_null(strstr(inst->reason, "status 503"));
}

static void test_runtime__hello_crash_restarts(void **state)
{
	const char *bin = hello_bin();
	struct spec_app *spec;
	struct runtime_instance *inst;

	if (!bin)
		skip();
	spec = mkspec("hello", bin, "--port", "${PORT}", NULL);
	probe_net(&spec->readiness, SPEC_PROBE_HTTP, "/healthz", 0, 50, 2);
	spec->nenv = 1;
	spec->env = xcalloc(1, sizeof(*spec->env));
	spec->env[0].name = xstrdup("HELLO_CRASH_AFTER");
	spec->env[0].value = xstrdup("1");
	inst = start(spec, "hello-2");
	assert_true(WAIT(inst->ready, 5000));
	assert_true(WAIT(count_ev("hello-2", RUNTIME_EV_READY) == 2, 10000));
	assert_int_equal(inst->restarts, 1);
	assert_non_null(nth_ev("hello-2", RUNTIME_EV_EXITED, 0));
}

static void test_runtime__spec_from_yaml(void **state)
{
	const char *bin = hello_bin();
	struct spec_set set = {0};
	struct sw_err err = {0};
	struct runtime_instance *inst;
	struct buf yaml = BUF_INIT;

	if (!bin)
		skip();
	buf_addf(&yaml,
		 "apiVersion: slipway/v1\n"
		 "kind: App\n"
		 "metadata: {name: yaml-hello}\n"
		 "spec:\n"
		 "  version: \"2.0.0\"\n"
		 "  run:\n"
		 "    command: [\"%s\", \"--port\", \"${PORT}\"]\n"
		 "    env: {GREETING: \"hi ${INSTANCE}\"}\n"
		 "  readiness: {http: {path: /healthz}, period: 100ms, timeout: 500ms}\n"
		 "  liveness: {tcp: {}, period: 100ms}\n"
		 "  stop: {signal: SIGTERM, timeout: 2s}\n", bin);
	if (spec_parse_text(&set, yaml.s, yaml.len, "/tmp/app.yaml", &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(set.napps, 1);
	inst = runtime_start(F->rt, set.apps[0], 7, "yaml-hello-1", &err);
	assert_non_null(inst);
	spec_set_release(&set);
	assert_true(WAIT(inst->ready, 5000));
	assert_int_equal(inst->revision, 7);
	run_for(400);  /* the liveness probe keeps passing */
	assert_int_equal(count_ev("yaml-hello-1", RUNTIME_EV_LIVENESS), 0);
	assert_int_equal(inst->restarts, 0);
	buf_release(&yaml);
}

/* A process the last runtime started but nobody recorded is found by its
 * environment, once, and its handle kills it with its group. */
static void test_runtime__orphans_are_found_and_killed_by_handle(void **state)
{
	struct runtime_config cfg = test_config();
	struct runtime_instance *inst;
	char handle[64];
	pid_t pid;

	assert_int_equal(setenv("SLIPWAY_STATE_DIR", F->dir, 1), 0);
	inst = start(mkspec("app", "sh", "-c", "sleep 100 & wait", NULL), "or-1");
	assert_true(WAIT(runtime_instance_pid(inst) > 0, 5000));
	pid = runtime_instance_pid(inst);
	sw_strlcpy(handle, inst->handle, sizeof(handle));
	orphans_seen = 0;
	runtime_orphans(F->rt, F->dir, on_orphan_seen, handle);
	assert_int_equal(orphans_seen, 0);  /* tracked: not an orphan */

	runtime_free(F->rt);  /* the process runs on, unrecorded */
	F->rt = new_runtime(&cfg);
	runtime_orphans(F->rt, "/somewhere/else", on_orphan_seen, handle);
	assert_int_equal(orphans_seen, 0);
	runtime_orphans(F->rt, F->dir, on_orphan_seen, handle);
	assert_int_equal(orphans_seen, 1);
	unsetenv("SLIPWAY_STATE_DIR");

	assert_int_equal(runtime_kill_handle(F->rt, handle), 0);
	assert_true(WAIT(sw_proc_start_time(pid) == 0, 5000));
	assert_int_equal(waitpid(pid, NULL, 0), pid);  /* our child, in this test */
	assert_int_equal(runtime_kill_handle(F->rt, handle), SW_ENOTFOUND);
	/* the shell's sleep went with the group */
	assert_true(WAIT(!group_alive(pid), 5000));
}

/* ---- jobs: the waiter and adoption ---- */

struct jobrec {
	bool attempted, done;
	uint32_t attempts_seen;
	char handle[64];
	uint32_t attempt;
	int64_t attempt_ms, started_ms;
	bool forget_in_attempt;
	struct runtime_job *job;
};

static void job_attempt(struct runtime_job *job, void *data)
{
	struct jobrec *r = data;
	r->attempted = true;
	r->attempts_seen++;
	sw_strlcpy(r->handle, job->handle, sizeof(r->handle));
	r->attempt = job->attempt;
	r->attempt_ms = job->attempt_wall_ms;
	r->started_ms = job->started_wall_ms;
	if (r->forget_in_attempt) {
		runtime_job_forget(job);
		r->job = NULL;
	}
}

static void job_change(struct runtime_job *job, void *data)
{
	struct jobrec *r = data;
	if (job->phase != RUNTIME_JOB_RUNNING)
		r->done = true;
}

static struct spec_hook *mkhook(uint64_t timeout_ms, const char *script)
{
	struct spec_hook *h = xcalloc(1, sizeof(*h));
	h->name = xstrdup("migrate");
	h->command = xcalloc(4, sizeof(char *));
	h->command[0] = xstrdup("/bin/sh");
	h->command[1] = xstrdup("-c");
	h->command[2] = xstrdup(script);
	h->argc = 3;
	h->timeout_ms = timeout_ms;
	return h;
}

static void hook_free(struct spec_hook *h)
{
	for (size_t i = 0; i < h->argc; i++)
		free(h->command[i]);
	free(h->command);
	free(h->name);
	free(h);
}

static struct runtime_job *job_start(struct spec_app *spec, const struct spec_hook *h,
				     struct jobrec *r, const struct jobrec *adopt)
{
	struct sw_err err = {0};
	struct runtime_job_options o = {.kind_name = "preDeploy", .id = "app-r1-predeploy-migrate",
					.on_attempt = job_attempt, .on_change = job_change,
					.data = r};
	if (adopt) {
		o.handle = adopt->handle;
		o.attempt = adopt->attempt;
		o.attempt_wall_ms = adopt->attempt_ms;
		o.started_wall_ms = adopt->started_ms;
	}
	r->job = runtime_job_start(F->rt, spec, 1, h, &o, &err);
	assert_non_null(r->job);
	return r->job;
}

static struct spec_app *job_spec(void)
{
	struct spec_app *spec = mkspec("app", "true", NULL);
	spec->workdir = xstrdup(F->dir);
	return spec;
}

static size_t count_lines(const char *path, const char *line)
{
	char *t = slurp(path);
	size_t n = 0, l = strlen(line);
	for (char *s = t; s && (s = strstr(s, line)); s += l)
		n++;
	free(t);
	return n;
}

/* A job let go of while it runs (a daemon crash) is adopted by its handle:
 * it runs once, and its exit status, which only its parent could see,
 * comes from the waiter's exit file. */
static void test_runtime__job_adopted_runs_once_with_its_status(void **state)
{
	struct jobrec r1 = {0}, r2 = {0};
	char *runs = path_in_dir("runs");
	char script[512];
	snprintf(script, sizeof(script), "echo start >>%s; sleep 1; echo end >>%s; exit 3", runs,
		 runs);
	struct spec_app *spec = job_spec();
	struct spec_hook *h = mkhook(30000, script);
	job_start(spec, h, &r1, NULL);
	assert_true(WAIT(r1.attempted && exists(runs), 5000));
	assert_int_equal(r1.attempt, 1);
	assert_true(r1.handle[0]);
	runtime_job_forget(r1.job);
	struct runtime_job *j2 = job_start(spec, h, &r2, &r1);
	assert_true(j2->adopted);
	assert_string_equal(j2->handle, r1.handle);
	assert_true(WAIT(r2.done, 10000));
	assert_int_equal(j2->phase, RUNTIME_JOB_FAILED);
	assert_string_equal(j2->reason, "exited with status 3 (attempt 1/1)");
	assert_false(r2.attempted); /* never a second spawn */
	assert_int_equal(count_lines(runs, "start"), 1);
	assert_int_equal(count_lines(runs, "end"), 1);
	runtime_job_free(j2);
	run_for(50);
	hook_free(h);
	spec_app_unref(spec);
	free(runs);
}

/* A job that ended while nobody watched is not run again: its result is
 * read from its exit file. */
static void test_runtime__job_ended_while_down_keeps_its_result(void **state)
{
	struct jobrec r1 = {0}, r2 = {0};
	char *runs = path_in_dir("runs");
	char script[512];
	snprintf(script, sizeof(script), "echo ran >>%s", runs);
	struct spec_app *spec = job_spec();
	struct spec_hook *h = mkhook(30000, script);
	job_start(spec, h, &r1, NULL);
	assert_true(WAIT(r1.attempted, 5000));
	runtime_job_forget(r1.job);
	char *exitf = path_in_dir("logs/app/app-r1-predeploy-migrate.exit");
	assert_true(WAIT(exists(exitf), 5000));
	pid_t pid = (pid_t)atoi(r1.handle);
	/* a zombie of ours until reaped: gone for adoption either way */
	assert_true(WAIT(sw_proc_start_time(pid) == 0, 5000));
	struct runtime_job *j2 = job_start(spec, h, &r2, &r1);
	assert_false(j2->adopted);
	assert_true(j2->resumed);
	assert_true(WAIT(r2.done, 5000));
	assert_int_equal(j2->phase, RUNTIME_JOB_SUCCEEDED);
	assert_false(r2.attempted);
	assert_int_equal(count_lines(runs, "ran"), 1);
	runtime_job_free(j2);
	run_for(50);
	waitpid(pid, NULL, WNOHANG);
	hook_free(h);
	spec_app_unref(spec);
	free(exitf);
	free(runs);
}

/* Let go of before its go (the daemon died before it stored the handle):
 * the waiter runs nothing, and the adopting side runs the attempt. */
static void test_runtime__job_without_go_runs_nothing_then_once(void **state)
{
	struct jobrec r1 = {.forget_in_attempt = true}, r2 = {0};
	char *runs = path_in_dir("runs");
	char script[512];
	snprintf(script, sizeof(script), "echo ran >>%s", runs);
	struct spec_app *spec = job_spec();
	struct spec_hook *h = mkhook(30000, script);
	job_start(spec, h, &r1, NULL);
	assert_true(WAIT(r1.attempted, 5000));
	char *exitf = path_in_dir("logs/app/app-r1-predeploy-migrate.exit");
	assert_true(WAIT(exists(exitf), 5000));
	assert_true(file_contains(exitf, "1 not-started"));
	assert_false(exists(runs));
	struct runtime_job *j2 = job_start(spec, h, &r2, &r1);
	assert_true(WAIT(r2.done, 5000));
	assert_int_equal(j2->phase, RUNTIME_JOB_SUCCEEDED);
	assert_true(r2.attempted);
	assert_int_equal(r2.attempt, 1);
	assert_int_equal(count_lines(runs, "ran"), 1);
	runtime_job_free(j2);
	run_for(50);
	hook_free(h);
	spec_app_unref(spec);
	free(exitf);
	free(runs);
}

/* The adopted attempt gets what is left of its timeout, not a new one:
 * one that started 30 s ago with a 20 s timeout is stopped at once, long
 * before the command's echo at 5 s (a new timeout would let it echo, and
 * end only at 20 s). */
static void test_runtime__job_adopted_keeps_its_timeout(void **state)
{
	struct jobrec r1 = {0}, r2 = {0};
	char *runs = path_in_dir("runs");
	char script[512];
	snprintf(script, sizeof(script), "sleep 5; echo survived >>%s", runs);
	struct spec_app *spec = job_spec();
	struct spec_hook *h = mkhook(20000, script);
	job_start(spec, h, &r1, NULL);
	assert_true(WAIT(r1.attempted, 5000));
	runtime_job_forget(r1.job);
	r1.attempt_ms -= 30000;
	struct runtime_job *j2 = job_start(spec, h, &r2, &r1);
	assert_true(j2->adopted);
	assert_true(WAIT(r2.done, 10000));
	assert_int_equal(j2->phase, RUNTIME_JOB_FAILED);
	assert_string_equal(j2->reason, "timed out after 20s (attempt 1/1)");
	/* its whole group is gone: the command never gets to its echo */
	assert_true(WAIT(!group_alive((pid_t)atoi(r1.handle)), 5000));
	assert_false(exists(runs));
	runtime_job_free(j2);
	run_for(50);
	hook_free(h);
	spec_app_unref(spec);
	free(runs);
}

/* A command that cannot be executed is reported by the waiter. */
static void test_runtime__job_command_that_cannot_start(void **state)
{
	struct jobrec r = {0};
	struct spec_app *spec = job_spec();
	struct spec_hook *h = mkhook(30000, "x");
	free(h->command[0]);
	h->command[0] = xstrdup("./no-such-command");
	h->argc = 1;
	free(h->command[1]);
	free(h->command[2]);
	h->command[1] = h->command[2] = NULL;
	struct runtime_job *j = job_start(spec, h, &r, NULL);
	assert_true(WAIT(r.done, 5000));
	assert_int_equal(j->phase, RUNTIME_JOB_FAILED);
	assert_string_equal(j->reason, "cannot start \"./no-such-command\": No such file or "
				       "directory (attempt 1/1)");
	runtime_job_free(j);
	run_for(50);
	hook_free(h);
	spec_app_unref(spec);
}

int main(int argc, char **argv)
{
	/* jobs run under the binary itself as their waiter, as under slipway */
	if (argc > 1 && strcmp(argv[1], "job-waiter") == 0)
		return runtime_job_waiter_main(argc - 1, argv + 1);
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_runtime__backoff_table),
		T(test_runtime__job_adopted_runs_once_with_its_status),
		T(test_runtime__job_ended_while_down_keeps_its_result),
		T(test_runtime__job_without_go_runs_nothing_then_once),
		T(test_runtime__job_adopted_keeps_its_timeout),
		T(test_runtime__job_command_that_cannot_start),
		T(test_runtime__ready_right_after_start_without_probe),
		T(test_runtime__exec_probe_decides_ready),
		T(test_runtime__tcp_probe),
		T(test_runtime__http_probe_ready_unready),
		T(test_runtime__probe_times_out),
		T(test_runtime__env_and_substitution),
		T(test_runtime__daemon_env_inherited),
		T(test_runtime__env_opens_age_values),
		T(test_runtime__kill_restarts_with_new_pid),
		T(test_runtime__crash_loop_backs_off),
		T(test_runtime__backoff_resets_after_uptime),
		T(test_runtime__liveness_failure_restarts),
		T(test_runtime__stop_escalates_to_sigkill),
		T(test_runtime__stop_signal_reaches_group),
		T(test_runtime__stop_during_backoff),
		T(test_runtime__stop_from_callback_wins_over_restart),
		T(test_runtime__stop_all),
		T(test_runtime__free_keeps_process_and_adopt_takes_over),
		T(test_runtime__orphans_are_found_and_killed_by_handle),
		T(test_runtime__adopted_instance_first_probe_decides),
		T(test_runtime__adopt_refuses_other_process),
		T(test_runtime__log_gets_output),
		T(test_runtime__log_rotates),
		T(test_runtime__log_index_since_and_previous),
		T(test_runtime__log_index_stays_bounded),
		T(test_runtime__spawn_failure_reports_failed),
		T(test_runtime__invalid_arguments),
		T(test_runtime__hello_http_probe),
		T(test_runtime__hello_crash_restarts),
		T(test_runtime__spec_from_yaml),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
