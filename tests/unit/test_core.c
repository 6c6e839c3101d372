/*
 * core: the shared pieces. Durations are what users type in documents,
 * so their parser and formatter get a table of good and bad inputs. The
 * process helper runs real processes (sh, sleep) on a real loop, and
 * waits for their state by polling with a deadline, never by sleeping.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/addr.h"
#include "core/core.h"
#include "core/buf.h"
#include "core/sha256.h"
#include "core/utf8.h"
#include "core/proc.h"

static void test_core__duration_parse_accepts(void **state)
{
	static const struct {
		const char *in;
		uint64_t ms;
	} cases[] = {
		{"500ms", 500},     {"10s", 10000},     {"1m30s", 90000}, {"1.5s", 1500},
		{"2h", 7200000},    {"0s", 0},          {"1h1m1s1ms", 3661001},
		{"0.5m", 30000},    {"90m", 5400000},   {"1ms", 1},       {"1s500ms", 1500},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 12345;
		if (sw_duration_parse(cases[i].in, &ms) != 0)
			fail_msg("\"%s\" rejected", cases[i].in);
		assert_int_equal(ms, cases[i].ms);
	}
}

static void test_core__duration_parse_rejects(void **state)
{
	static const char *const cases[] = {"", "10", "s", "ms", "1x", "-1s", "1 s", " 1s", "1s ",
					    "1sec", "1d", "abc", "1.5", "1s2", "1e3s", "0x10s", "1.s", ".5s"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 0;
		if (sw_duration_parse(cases[i], &ms) == 0)
			fail_msg("\"%s\" accepted as %llu ms", cases[i], (unsigned long long)ms);
	}
	uint64_t ms;
	assert_int_equal(sw_duration_parse(NULL, &ms), -1);
	assert_int_equal(sw_duration_parse("99999999999999999999h", &ms), -1);
}

static void test_core__duration_format(void **state)
{
	static const struct {
		uint64_t ms;
		const char *out;
	} cases[] = {
		{0, "0s"},        {500, "500ms"},  {1000, "1s"},    {90000, "1m30s"},
		{3600000, "1h"},  {3661000, "1h1m1s"}, {1500, "1s500ms"}, {7200000, "2h"},
		{1234, "1s234ms"}, {3661500, "1h1m1s500ms"}, {90500, "1m30s500ms"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		uint64_t back = 0;
		sw_duration_format(out, sizeof(out), cases[i].ms);
		assert_string_equal(out, cases[i].out);
		/* What it writes, it reads back. */
		assert_int_equal(sw_duration_parse(out, &back), 0);
		assert_int_equal(back, cases[i].ms);
	}
}

static void test_core__edit_distance(void **state)
{
	assert_int_equal(sw_edit_distance("replica", "replicas"), 1);
	assert_int_equal(sw_edit_distance("setWieght", "setWeight"), 2);
	assert_int_equal(sw_edit_distance("", "abc"), 3);
	assert_int_equal(sw_edit_distance("same", "same"), 0);
	assert_int_equal(sw_edit_distance("kitten", "sitting"), 3);
}

static void test_core__first_error_wins(void **state)
{
	struct sw_err err = {0};
	assert_int_equal(sw_errf(&err, -2, "first %d", 1), -2);
	assert_int_equal(sw_errf(&err, -1, "second"), -1);
	assert_string_equal(err.msg, "first 1");
	assert_int_equal(err.code, -2);
	sw_err_clear(&err);
	assert_false(sw_err_isset(&err));
}

/* ---- proc ----------------------------------------------------------- */

struct watched {
	struct sw_proc p;
	bool exited, closed;
	struct sw_proc_exit how;
	uint64_t exit_ms;
};

static void on_exit_cb(struct sw_proc *p, const struct sw_proc_exit *how)
{
	struct watched *w = p->data;

	w->exited = true;
	w->how = *how;
	w->exit_ms = sw_now_ms();
}

static void on_closed_cb(struct sw_proc *p)
{
	struct watched *w = p->data;

	w->closed = true;
}

static void on_wake(uv_timer_t *t)
{
}

/* Runs the loop until *flag is set or ms have passed; true if it was set. */
static bool run_until(uv_loop_t *loop, const bool *flag, uint64_t ms)
{
	uint64_t deadline = sw_now_ms() + ms;
	uv_timer_t wake;
	bool ok;

	uv_timer_init(loop, &wake);
	uv_timer_start(&wake, on_wake, 10, 10);
	while (!*flag && sw_now_ms() < deadline)
		uv_run(loop, UV_RUN_ONCE);
	ok = *flag;
	uv_close((uv_handle_t *)&wake, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return ok;
}

/* Polls until the process is gone (or a zombie); true if it went. */
static bool wait_gone(pid_t pid, uint64_t ms)
{
	uint64_t deadline = sw_now_ms() + ms;
	uv_loop_t loop;
	bool never = false;

	uv_loop_init(&loop);
	while (sw_proc_start_time(pid) != 0 && sw_now_ms() < deadline)
		run_until(&loop, &never, 10);
	uv_loop_close(&loop);
	return sw_proc_start_time(pid) == 0;
}

static void spawn_ok(struct watched *w, uv_loop_t *loop, struct sw_proc_options *o)
{
	struct sw_err err = {0};

	memset(w, 0, sizeof(*w));
	o->on_exit = on_exit_cb;
	o->data = w;
	if (sw_proc_spawn(&w->p, loop, o, &err) < 0)
		fail_msg("spawn: %s", err.msg);
	assert_true(w->p.pid > 0);
	assert_true(w->p.start_time > 0);
	assert_true(sw_proc_running(&w->p));
}

static void close_and_check(struct watched *w, uv_loop_t *loop)
{
	sw_proc_close(&w->p, on_closed_cb);
	assert_false(w->closed);  /* never from inside the call */
	assert_true(run_until(loop, &w->closed, 5000));
}

static struct sw_proc_options opts(char *const *argv)
{
	return (struct sw_proc_options){.argv = argv, .stdin_fd = -1, .stdout_fd = -1,
					.stderr_fd = -1};
}

/* Reads one line (a pid) a child writes to fd; the child is quick. */
static pid_t read_pid(int fd)
{
	char line[32] = {0};
	size_t n = 0;

	while (n < sizeof(line) - 1) {
		ssize_t k = read(fd, line + n, 1);
		if (k <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return (pid_t)atoi(line);
}

static void test_core__proc_spawn_exit_status(void **state)
{
	char *argv[] = {"sh", "-c", "exit 3", NULL};
	char *bad[] = {"/nonexistent/slipway-test", NULL};
	struct sw_proc_options o = opts(argv);
	struct sw_err err = {0};
	struct watched w;
	struct sw_proc p;
	uv_loop_t loop;

	uv_loop_init(&loop);
	spawn_ok(&w, &loop, &o);
	assert_true(sw_proc_session(w.p.pid) == w.p.pid);  /* its own session */
	assert_false(w.exited);
	assert_true(run_until(&loop, &w.exited, 5000));
	assert_int_equal(w.how.status, 3);
	assert_int_equal(w.how.signal, 0);
	assert_false(w.how.escalated);
	assert_string_equal(w.how.reason, "exited with status 3");
	assert_false(sw_proc_running(&w.p));
	assert_int_equal(w.p.pid, 0);
	close_and_check(&w, &loop);

	o = opts(bad);
	assert_int_equal(sw_proc_spawn(&p, &loop, &o, &err), -1);
	assert_string_equal(err.msg,
			    "cannot start \"/nonexistent/slipway-test\": no such file or directory");
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_core__proc_stop_escalates_to_the_group(void **state)
{
	char *argv[] = {"sh", "-c", "trap '' TERM; sleep 30 & echo $!; wait", NULL};
	struct sw_proc_options o = opts(argv);
	struct watched w;
	uv_loop_t loop;
	int fds[2];
	pid_t sleeper;
	uint64_t t0;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	o.stdout_fd = fds[1];
	uv_loop_init(&loop);
	spawn_ok(&w, &loop, &o);
	close(fds[1]);
	sleeper = read_pid(fds[0]);
	close(fds[0]);
	assert_true(sleeper > 0);
	assert_true(sw_proc_start_time(sleeper) > 0);

	t0 = sw_now_ms();
	sw_proc_stop(&w.p, SIGTERM, 200);
	sw_proc_stop(&w.p, SIGTERM, 60000);  /* never lengthens the grace */
	assert_false(w.exited);
	assert_true(run_until(&loop, &w.exited, 5000));
	assert_true(w.exit_ms - t0 >= 190);
	assert_true(w.how.escalated);
	assert_int_equal(w.how.signal, SIGKILL);
	assert_int_equal(w.how.status, -1);
	assert_string_equal(w.how.reason, "killed by signal 9 (SIGKILL)");
	assert_true(wait_gone(sleeper, 5000));  /* the child ignored TERM too */
	close_and_check(&w, &loop);
	assert_int_equal(uv_loop_close(&loop), 0);
}

struct pipe_reader {
	uv_pipe_t pipe;
	bool eof;
	uint64_t eof_ms;
	char buf[256];
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct pipe_reader *r = h->data;

	*b = uv_buf_init(r->buf, sizeof(r->buf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct pipe_reader *r = s->data;

	if (n < 0) {
		r->eof = true;
		r->eof_ms = sw_now_ms();
		uv_read_stop(s);
	}
}

static void on_stop_timer(uv_timer_t *t)
{
	sw_proc_stop(t->data, SIGTERM, 10000);
}

static void test_core__proc_shell_child_dies_with_the_group(void **state)
{
	char *argv[] = {"sh", "-c", "sleep 20; echo 1", NULL};
	struct sw_proc_options o = opts(argv);
	struct pipe_reader r = {0};
	struct watched w;
	uv_timer_t stop;
	uv_loop_t loop;
	uint64_t t0;

	uv_loop_init(&loop);
	uv_pipe_init(&loop, &r.pipe, 0);
	r.pipe.data = &r;
	o.stdout_pipe = &r.pipe;
	spawn_ok(&w, &loop, &o);
	assert_int_equal(uv_read_start((uv_stream_t *)&r.pipe, on_alloc, on_read), 0);
	uv_timer_init(&loop, &stop);
	stop.data = &w.p;
	t0 = sw_now_ms();
	uv_timer_start(&stop, on_stop_timer, 100, 0);
	assert_true(run_until(&loop, &w.exited, 5000));
	assert_true(run_until(&loop, &r.eof, 5000));
	/* the shell died of TERM, and its sleep with it: nobody holds the
	 * pipe, long before the 20 s sleep or the 10 s grace */
	assert_int_equal(w.how.signal, SIGTERM);
	assert_false(w.how.escalated);
	assert_true(w.exit_ms - t0 < 3000);
	assert_true(r.eof_ms - t0 < 3000);
	uv_close((uv_handle_t *)&stop, NULL);
	uv_close((uv_handle_t *)&r.pipe, NULL);
	close_and_check(&w, &loop);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Starts a `sleep 30` that is not our child: its shell exits at once and
 * it is re-parented. The shell stays in our process group (keep_session),
 * so its exit takes no group down with it. Returns the sleep's pid. */
static pid_t orphan_sleep(uv_loop_t *loop)
{
	char *argv[] = {"sh", "-c", "sleep 30 >/dev/null & echo $!", NULL};
	struct sw_proc_options o = opts(argv);
	struct watched w;
	int fds[2];
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	o.stdout_fd = fds[1];
	o.keep_session = true;
	spawn_ok(&w, loop, &o);
	assert_int_not_equal(sw_proc_session(w.p.pid), w.p.pid);
	close(fds[1]);
	pid = read_pid(fds[0]);
	close(fds[0]);
	assert_true(run_until(loop, &w.exited, 5000));
	assert_int_equal(w.how.status, 0);
	close_and_check(&w, loop);
	assert_true(pid > 0);
	return pid;
}

static void test_core__proc_adopt_a_process_that_is_not_our_child(void **state)
{
	struct sw_proc_options o = {.on_exit = on_exit_cb};
	struct sw_err err = {0};
	struct watched w = {0};
	uv_loop_t loop;
	pid_t pid;

	uv_loop_init(&loop);
	pid = orphan_sleep(&loop);
	o.data = &w;
	/* the shell that started it is gone; the sleep still runs */
	if (sw_proc_adopt(&w.p, &loop, pid, sw_proc_start_time(pid), &o, &err) < 0)
		fail_msg("adopt: %s", err.msg);
	assert_true(w.p.adopted);
	assert_int_equal(w.p.pid, pid);
	assert_true(sw_proc_running(&w.p));
	sw_proc_stop(&w.p, SIGTERM, 5000);
	assert_true(run_until(&loop, &w.exited, 5000));
	assert_false(w.how.escalated);
	assert_false(sw_proc_running(&w.p));
	close_and_check(&w, &loop);
	assert_true(wait_gone(pid, 5000));
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_core__proc_adopt_refuses_a_reused_pid(void **state)
{
	char *argv[] = {"sleep", "30", NULL};
	struct sw_proc_options o = opts(argv);
	struct sw_proc_options ao = {.on_exit = on_exit_cb};
	struct sw_err err = {0};
	struct watched w, a = {0};
	uv_loop_t loop;

	uv_loop_init(&loop);
	spawn_ok(&w, &loop, &o);
	ao.data = &a;
	/* the same pid with another start time: what a reused pid looks like */
	assert_int_equal(sw_proc_adopt(&a.p, &loop, w.p.pid, w.p.start_time + 1, &ao, &err),
			 SW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "is not the one recorded (start time differs)"));
	assert_true(sw_proc_running(&w.p));  /* and it was not signalled */
	sw_proc_stop(&w.p, SIGTERM, 5000);
	assert_true(run_until(&loop, &w.exited, 5000));
	assert_int_equal(w.how.signal, SIGTERM);
	close_and_check(&w, &loop);

	sw_err_clear(&err);
	assert_int_equal(sw_proc_adopt(&a.p, &loop, w.p.pid ? w.p.pid : 999999999, 1, &ao, &err),
			 SW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "is gone"));
	assert_false(a.exited);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_core__proc_env_and_session(void **state)
{
	char *argv[] = {"sleep", "30", NULL};
	char *env[] = {"SLIPWAY_TEST_A=one", "SLIPWAY_TEST_AB=two", NULL};
	struct sw_proc_options o = opts(argv);
	struct watched w;
	uv_loop_t loop;
	char v[32];

	o.env = env;
	uv_loop_init(&loop);
	spawn_ok(&w, &loop, &o);
	assert_true(sw_proc_env(w.p.pid, "SLIPWAY_TEST_AB", v, sizeof(v)));
	assert_string_equal(v, "two");
	assert_true(sw_proc_env(w.p.pid, "SLIPWAY_TEST_A", v, sizeof(v)));
	assert_string_equal(v, "one");
	assert_false(sw_proc_env(w.p.pid, "SLIPWAY_TEST", v, sizeof(v)));
	assert_int_equal(sw_proc_session(w.p.pid), w.p.pid);
	assert_int_equal(sw_proc_session(getpid()), getsid(0));
	sw_proc_stop(&w.p, SIGKILL, 0);
	assert_true(run_until(&loop, &w.exited, 5000));
	assert_false(w.how.escalated);
	assert_int_equal(w.how.signal, SIGKILL);
	close_and_check(&w, &loop);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Copies src to dst with mode 0755. */
static void copy_file(const char *src, const char *dst)
{
	char buf[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ssize_t n;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

static void test_core__proc_exe_of_a_deleted_binary(void **state)
{
	char dir[] = "/tmp/sw-proc-XXXXXX", bin[64], raw[128], exe[128], link[64];
	char *argv[] = {bin, "30", NULL};
	struct sw_proc_options o = opts(argv);
	struct sw_err err = {0};
	struct watched w;
	uv_loop_t loop;
	ssize_t n;

	assert_non_null(mkdtemp(dir));
	snprintf(bin, sizeof(bin), "%s/sleep", dir);
	copy_file("/bin/sleep", bin);
	uv_loop_init(&loop);
	spawn_ok(&w, &loop, &o);
	/* exec'd: the link names the copy, then the copy goes, as a package
	 * upgrade replaces a binary */
	for (uint64_t deadline = sw_now_ms() + 5000; sw_now_ms() < deadline;) {
		assert_int_equal(sw_proc_exe(w.p.pid, exe, sizeof(exe), &err), 0);
		if (strcmp(exe, bin) == 0)
			break;
		run_until(&loop, &w.exited, 10);
	}
	assert_string_equal(exe, bin);
	assert_int_equal(unlink(bin), 0);
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)w.p.pid);
	n = readlink(link, raw, sizeof(raw) - 1);
	assert_true(n > 0);
	raw[n] = '\0';
	assert_non_null(strstr(raw, " (deleted)"));
	assert_int_equal(sw_proc_exe(w.p.pid, exe, sizeof(exe), &err), 0);
	assert_string_equal(exe, bin);

	assert_int_equal(sw_proc_self_exe(exe, sizeof(exe), &err), 0);
	assert_non_null(strstr(exe, "test_core"));
	assert_int_equal(sw_proc_exe(w.p.pid, exe, 4, &err), -1);
	assert_non_null(strstr(err.msg, "path too long"));

	sw_proc_stop(&w.p, SIGTERM, 5000);
	assert_true(run_until(&loop, &w.exited, 5000));
	close_and_check(&w, &loop);
	assert_int_equal(uv_loop_close(&loop), 0);
	rmdir(dir);
}

/* ---- addr ----------------------------------------------------------- */

static void test_core__addr_accepts_every_form(void **state)
{
	static const struct {
		const char *in, *canonical;
		int family;
		uint16_t port;
	} ok[] = {
		{"127.0.0.1:8080", "127.0.0.1:8080", AF_INET, 8080},
		{"0.0.0.0:1", "0.0.0.0:1", AF_INET, 1},
		{"10.20.30.40:65535", "10.20.30.40:65535", AF_INET, 65535},
		{"255.255.255.255:80", "255.255.255.255:80", AF_INET, 80},
		{"localhost:18082", "127.0.0.1:18082", AF_INET, 18082},
		{"LocalHost:80", "127.0.0.1:80", AF_INET, 80},
		{"[::1]:8080", "[::1]:8080", AF_INET6, 8080},
		{"[::]:8080", "[::]:8080", AF_INET6, 8080},
		{"[0:0:0:0:0:0:0:1]:9", "[::1]:9", AF_INET6, 9},
		{"[2001:DB8:0:0:0:0:0:1]:443", "[2001:db8::1]:443", AF_INET6, 443},
		{"[::ffff:192.0.2.1]:80", "[::ffff:192.0.2.1]:80", AF_INET6, 80},
	};
	struct sw_err err = {0};
	struct sw_addr a;
	char text[SW_ADDR_MAX];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (sw_addr_parse(&a, ok[i].in, 0, &err) < 0)
			fail_msg("\"%s\" refused: %s", ok[i].in, err.msg);
		assert_string_equal(a.text, ok[i].canonical);
		assert_int_equal(a.family, ok[i].family);
		assert_int_equal(a.port, ok[i].port);
		assert_int_equal(a.sa.ss_family, ok[i].family);
		if (a.family == AF_INET) {
			const struct sockaddr_in *sa = (const struct sockaddr_in *)&a.sa;
			assert_int_equal(a.sa_len, sizeof(*sa));
			assert_int_equal(ntohs(sa->sin_port), ok[i].port);
		} else {
			const struct sockaddr_in6 *sa = (const struct sockaddr_in6 *)&a.sa;
			assert_int_equal(a.sa_len, sizeof(*sa));
			assert_int_equal(ntohs(sa->sin6_port), ok[i].port);
		}
		assert_int_equal(sw_addr_canonical(text, ok[i].in, 0, &err), 0);
		assert_string_equal(text, ok[i].canonical);
		assert_true(sw_addr_is_canonical(ok[i].canonical, 0));
		assert_int_equal(sw_addr_is_canonical(ok[i].in, 0),
				 strcmp(ok[i].in, ok[i].canonical) == 0);
	}
}

static void test_core__addr_refuses_with_a_reason(void **state)
{
	static const struct {
		const char *in, *msg;
	} bad[] = {
		{"8080", "\"8080\": expected \"host:port\", e.g. \"127.0.0.1:8080\""},
		{"", "\"\": expected \"host:port\", e.g. \"127.0.0.1:8080\""},
		{"localhost:http", "\"localhost:http\": the port must be a number from 1 to 65535"},
		{"127.0.0.1:", "\"127.0.0.1:\": the port must be a number from 1 to 65535"},
		{"127.0.0.1:0", "\"127.0.0.1:0\": the port must be a number from 1 to 65535"},
		{"127.0.0.1:65536", "\"127.0.0.1:65536\": the port must be a number from 1 to 65535"},
		{"127.0.0.1:08080", "\"127.0.0.1:08080\": the port must be a number from 1 to 65535"},
		{"127.0.0.1:+80", "\"127.0.0.1:+80\": the port must be a number from 1 to 65535"},
		{"127.0.0.1:123456", "\"127.0.0.1:123456\": the port must be a number from 1 to 65535"},
		{"example.com:80", "\"example.com:80\": the host must be an IP address or \"localhost\""},
		{":8080", "\":8080\": the host must be an IP address or \"localhost\""},
		{"127.000.0.1:80", "\"127.000.0.1:80\": \"127.000.0.1\" is not an IPv4 address (four "
				   "numbers 0-255 without leading zeros)"},
		{"010.0.0.1:80", "\"010.0.0.1:80\": \"010.0.0.1\" is not an IPv4 address (four numbers "
				 "0-255 without leading zeros)"},
		{"1.2.3:80", "\"1.2.3:80\": \"1.2.3\" is not an IPv4 address (four numbers 0-255 "
			     "without leading zeros)"},
		{"256.0.0.1:80", "\"256.0.0.1:80\": \"256.0.0.1\" is not an IPv4 address (four "
				 "numbers 0-255 without leading zeros)"},
		{"1.2.3.4.5:80", "\"1.2.3.4.5:80\": \"1.2.3.4.5\" is not an IPv4 address (four "
				 "numbers 0-255 without leading zeros)"},
		{"::1:8080", "\"::1:8080\": an IPv6 address must be in brackets, e.g. \"[::1]:8080\""},
		{"[::1]8080", "\"[::1]8080\": expected \"[IPv6]:port\", e.g. \"[::1]:8080\""},
		{"[::1:8080", "\"[::1:8080\": expected \"[IPv6]:port\", e.g. \"[::1]:8080\""},
		{"[]:80", "\"[]:80\": the host must be an IP address or \"localhost\""},
		{"[127.0.0.1]:80", "\"[127.0.0.1]:80\": \"127.0.0.1\" is not an IPv6 address"},
		{"[fe80::1%eth0]:80", "\"[fe80::1%eth0]:80\": \"fe80::1%eth0\" is not an IPv6 address"},
		{"[::1]:0", "\"[::1]:0\": the port must be a number from 1 to 65535"},
	};
	struct sw_addr a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sw_err err = {0};
		if (sw_addr_parse(&a, bad[i].in, 0, &err) == 0)
			fail_msg("\"%s\" accepted as %s", bad[i].in, a.text);
		assert_string_equal(err.msg, bad[i].msg);
		assert_false(sw_addr_is_canonical(bad[i].in, 0));
	}
}

static void test_core__addr_port0_only_when_allowed(void **state)
{
	struct sw_err err = {0};
	struct sw_addr a;

	assert_int_equal(sw_addr_parse(&a, "127.0.0.1:0", SW_ADDR_PORT0, &err), 0);
	assert_int_equal(a.port, 0);
	assert_string_equal(a.text, "127.0.0.1:0");
	assert_int_equal(sw_addr_parse(&a, "[::1]:0", SW_ADDR_PORT0, &err), 0);
	assert_string_equal(a.text, "[::1]:0");
	assert_true(sw_addr_is_canonical("127.0.0.1:0", SW_ADDR_PORT0));
	assert_false(sw_addr_is_canonical("127.0.0.1:0", 0));
	assert_int_equal(sw_addr_parse(&a, "127.0.0.1:00", SW_ADDR_PORT0, &err), -1);
	assert_string_equal(err.msg, "\"127.0.0.1:00\": the port must be a number from 0 to 65535");
	sw_err_clear(&err);
	assert_int_equal(sw_addr_parse(&a, "127.0.0.1:0", 0, &err), -1);
}

static void test_core__addr_same_listener_same_text(void **state)
{
	char a[SW_ADDR_MAX], b[SW_ADDR_MAX];
	struct sw_addr x;

	assert_int_equal(sw_addr_canonical(a, "localhost:8080", 0, NULL), 0);
	assert_int_equal(sw_addr_canonical(b, "127.0.0.1:8080", 0, NULL), 0);
	assert_string_equal(a, b);
	assert_int_equal(sw_addr_canonical(a, "[0::1]:8080", 0, NULL), 0);
	assert_int_equal(sw_addr_canonical(b, "[::0:1]:8080", 0, NULL), 0);
	assert_string_equal(a, b);
	assert_int_equal(sw_addr_canonical(b, "127.0.0.1:8081", 0, NULL), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(sw_addr_canonical(a, "nope", 0, NULL), -1);

	assert_int_equal(sw_addr_parse(&x, "127.1.2.3:1", 0, NULL), 0);
	assert_true(sw_addr_is_loopback(&x));
	assert_int_equal(sw_addr_parse(&x, "localhost:1", 0, NULL), 0);
	assert_true(sw_addr_is_loopback(&x));
	assert_int_equal(sw_addr_parse(&x, "[::1]:1", 0, NULL), 0);
	assert_true(sw_addr_is_loopback(&x));
	assert_int_equal(sw_addr_parse(&x, "0.0.0.0:1", 0, NULL), 0);
	assert_false(sw_addr_is_loopback(&x));
	assert_int_equal(sw_addr_parse(&x, "[::]:1", 0, NULL), 0);
	assert_false(sw_addr_is_loopback(&x));
	assert_int_equal(sw_addr_parse(&x, "128.0.0.1:1", 0, NULL), 0);
	assert_false(sw_addr_is_loopback(&x));
}

/* ---- sha256, utf8 --------------------------------------------------- */

static void test_core__sha256_known_vectors(void **state)
{
	char out[65];

	sw_sha256_hex("", 0, out);
	assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sw_sha256_hex("abc", 3, out);
	assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sw_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, out);
	assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* bytes, not a string: a NUL inside counts */
	sw_sha256_hex("a\0b", 3, out);
	assert_string_not_equal(out, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
	assert_int_equal(strlen(out), 64);
}

static void test_core__utf8_valid_and_invalid(void **state)
{
	static const struct {
		const char *s;
		size_t len, bad_at;  /* bad_at == len: valid */
	} cases[] = {
		{"", 0, 0},
		{"plain ascii", 11, 11},
		{"caf\xc3\xa9", 5, 5},                        /* é, 2 bytes */
		{"\xe2\x82\xac", 3, 3},                       /* €, 3 bytes */
		{"\xf0\x9f\x9a\x80", 4, 4},                   /* U+1F680, 4 bytes */
		{"\xf4\x8f\xbf\xbf", 4, 4},                   /* U+10FFFF, the last */
		{"\xed\x9f\xbf", 3, 3},                       /* U+D7FF, just below surrogates */
		{"a\0b", 3, 3},                               /* NUL is UTF-8 */
		{"ab\xc0\xaf", 4, 2},                         /* overlong '/' */
		{"\xe0\x80\xaf", 3, 0},                       /* overlong, 3 bytes */
		{"\xf0\x80\x80\xaf", 4, 0},                   /* overlong, 4 bytes */
		{"x\xed\xa0\x80", 4, 1},                      /* U+D800, a surrogate */
		{"\xed\xbf\xbf", 3, 0},                       /* U+DFFF */
		{"\xf4\x90\x80\x80", 4, 0},                   /* above U+10FFFF */
		{"ok\xe2\x82", 4, 2},                         /* truncated at the end */
		{"\xc3", 1, 0},
		{"\xe2\x28\xa1", 3, 0},                       /* bad continuation */
		{"\x80", 1, 0},                               /* lone continuation */
		{"\xf8\x88\x80\x80\x80", 5, 0},               /* 5-byte form */
		{"\xff", 1, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t at = sw_utf8_invalid_at(cases[i].s, cases[i].len);
		if (at != cases[i].bad_at)
			fail_msg("case %zu: invalid at %zu, want %zu", i, at, cases[i].bad_at);
		assert_int_equal(sw_utf8_valid(cases[i].s, cases[i].len),
				 cases[i].bad_at == cases[i].len);
	}
}

static void test_core__utf8_sanitize_replaces_bad_bytes(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{"caf\xc3\xa9 \xe2\x82\xac", 9, "caf\xc3\xa9 \xe2\x82\xac"},
		{"a\xc0\xafz", 4, "a??z"},              /* overlong: each byte */
		{"\xed\xa0\x80z", 4, "???z"},           /* surrogate */
		{"log\xe2\x82", 5, "log??"},            /* truncated */
		{"a\0b", 3, "a?b"},                     /* NUL */
		{"\xff\xfe", 2, "??"},
	};
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		assert_int_equal(sw_utf8_sanitize(&b, cases[i].in, cases[i].len), 0);
		assert_string_equal(buf_str(&b), cases[i].out);
		assert_true(sw_utf8_valid(b.s, b.len));
	}
	buf_release(&b);
	/* the cap stops it, and what fit stays */
	b.cap = 4;
	assert_true(sw_utf8_sanitize(&b, "abcdefgh", 8) < 0);
	assert_true(b.len <= 4);
	buf_release(&b);
}

static void test_core__utf8_escape_keeps_every_byte(void **state)
{
	(void)state;
	const struct {
		const char *in;
		size_t len;
		bool more;
		const char *out;
		size_t used;
	} cases[] = {
		{"caf\xc3\xa9", 5, false, "caf\xc3\xa9", 5},
		{"a\xc0\x80z", 4, false, "a\\xC0\\x80z", 4},   /* overlong NUL */
		{"\x80", 1, false, "\\x80", 1},                /* lone continuation */
		{"a\0b", 3, false, "a\\x00b", 3},
		{"log\xe2\x82", 5, false, "log\\xE2\\x82", 5}, /* truncated, at the end */
		{"log\xe2\x82", 5, true, "log", 3},            /* ... or cut: left for later */
		{"log\xc0", 4, true, "log\\xC0", 4},           /* never valid: not held */
		{"\xed\xa0\x80", 3, false, "\\xED\\xA0\\x80", 3},
	};
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t used = 99;
		buf_reset(&b);
		assert_int_equal(sw_utf8_escape(&b, cases[i].in, cases[i].len, cases[i].more, &used), 0);
		assert_string_equal(buf_str(&b), cases[i].out);
		assert_int_equal(used, cases[i].used);
	}
	buf_release(&b);
}

/* buf_add_fd reads to the end, in chunks, and stops at the cap. */
static void test_core__buf_add_fd_reads_to_the_end_within_the_cap(void **state)
{
	int fds[2];
	struct buf b = BUF_INIT;
	char big[20000];
	memset(big, 'x', sizeof(big));
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "head:", 5), 5);
	assert_int_equal(write(fds[1], big, sizeof(big) / 2), (ssize_t)sizeof(big) / 2);
	close(fds[1]);
	buf_adds(&b, ">");
	assert_int_equal(buf_add_fd(&b, fds[0]), 0);
	close(fds[0]);
	assert_int_equal(b.len, 1 + 5 + sizeof(big) / 2);
	assert_memory_equal(b.s, ">head:xxx", 9);
	buf_release(&b);

	int fd = open("/dev/zero", O_RDONLY);
	assert_true(fd >= 0);
	b.cap = 10000;
	assert_int_equal(buf_add_fd(&b, fd), -1);
	assert_int_equal(errno, EFBIG);
	assert_true(b.toobig && b.len <= 10000);
	close(fd);
	buf_release(&b);
	assert_int_equal(buf_add_fd(&b, -1), -1);
	assert_int_equal(errno, EBADF);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_core__buf_add_fd_reads_to_the_end_within_the_cap),
		cmocka_unit_test(test_core__duration_parse_accepts),
		cmocka_unit_test(test_core__duration_parse_rejects),
		cmocka_unit_test(test_core__duration_format),
		cmocka_unit_test(test_core__edit_distance),
		cmocka_unit_test(test_core__first_error_wins),
		cmocka_unit_test(test_core__proc_spawn_exit_status),
		cmocka_unit_test(test_core__proc_stop_escalates_to_the_group),
		cmocka_unit_test(test_core__proc_shell_child_dies_with_the_group),
		cmocka_unit_test(test_core__proc_adopt_a_process_that_is_not_our_child),
		cmocka_unit_test(test_core__proc_adopt_refuses_a_reused_pid),
		cmocka_unit_test(test_core__proc_env_and_session),
		cmocka_unit_test(test_core__proc_exe_of_a_deleted_binary),
		cmocka_unit_test(test_core__addr_accepts_every_form),
		cmocka_unit_test(test_core__addr_refuses_with_a_reason),
		cmocka_unit_test(test_core__addr_port0_only_when_allowed),
		cmocka_unit_test(test_core__addr_same_listener_same_text),
		cmocka_unit_test(test_core__sha256_known_vectors),
		cmocka_unit_test(test_core__utf8_valid_and_invalid),
		cmocka_unit_test(test_core__utf8_sanitize_replaces_bad_bytes),
		cmocka_unit_test(test_core__utf8_escape_keeps_every_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
