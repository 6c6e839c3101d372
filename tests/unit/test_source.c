/*
 * source tests against real git: repositories are made with the `git` CLI
 * in a temp dir and fetched over file:// and over git:// from a `git
 * daemon` started here on 127.0.0.1. Faults use real sockets: a port with
 * no listener, and a listener that accepts and never answers. Every wait is
 * the loop run with a deadline; no timed assertions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/buf.h"
#include "gitops/source.h"

#define DEADLINE_MS 30000

struct fx {
	char dir[64];	  /* temp dir: work/ (the upstream), cache/ */
	char work[128];	  /* the upstream repository (non-bare) */
	char url[256];	  /* file:// URL of work */
	uv_loop_t loop;
	struct source *src;
	/* the last fetch's outcome */
	bool done;
	int calls;
	struct source_commit c;
	char ref[256], name[256], email[256], subject[256];
	char error[2048];
};

static void write_text(const char *path, const char *text);

/* Runs a shell command in the upstream; fails the test if it fails. */
static void sh(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sh(struct fx *f, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(cmd, sizeof(cmd), "cd '%s' && ", f->work);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	int r = system(cmd);
	if (r != 0)
		fail_msg("command failed (%d): %s", r, cmd);
}

/* The output of a git command in the upstream (first line). */
static void git_out(struct fx *f, char *out, size_t size, const char *args)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "cd '%s' && git %s", f->work, args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	if (!fgets(out, (int)size, p))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(pclose(p), 0);
}

static void commit_file(struct fx *f, const char *path, const char *content, const char *msg)
{
	sh(f, "mkdir -p \"$(dirname '%s')\" && printf '%%s' '%s' > '%s' && git add -A && "
	      "git commit -qm '%s'",
	   path, content, path, msg);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	snprintf(f->dir, sizeof(f->dir), "/tmp/sw-source-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->work, sizeof(f->work), "%s/work", f->dir);
	snprintf(f->url, sizeof(f->url), "file://%s", f->work);
	/* git must not read the user's config; fixed identities */
	setenv("HOME", f->dir, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "Ada Lovelace", 1);
	setenv("GIT_AUTHOR_EMAIL", "ada@example.org", 1);
	setenv("GIT_COMMITTER_NAME", "Ada Lovelace", 1);
	setenv("GIT_COMMITTER_EMAIL", "ada@example.org", 1);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "git init -q -b main '%s'", f->work);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	char cache[128];
	snprintf(cache, sizeof(cache), "%s/cache", f->dir);
	struct sw_err err = {0};
	assert_int_equal(source_new(&f->src, &f->loop, cache, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int calls = f->calls;
	source_free(f->src);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->calls, calls); /* never a callback after source_free */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void on_fetched(const struct source_commit *c, const char *error, void *data)
{
	struct fx *f = data;
	f->calls++;
	f->done = true;
	f->error[0] = '\0';
	memset(&f->c, 0, sizeof(f->c));
	if (error) {
		snprintf(f->error, sizeof(f->error), "%s", error);
		return;
	}
	f->c = *c;
	snprintf(f->ref, sizeof(f->ref), "%s", c->ref);
	snprintf(f->name, sizeof(f->name), "%s", c->author_name);
	snprintf(f->email, sizeof(f->email), "%s", c->author_email);
	snprintf(f->subject, sizeof(f->subject), "%s", c->subject);
}

/* Runs the loop until the fetch reports (or the test's deadline). */
static void wait_done(struct fx *f)
{
	uint64_t end = sw_now_ms() + DEADLINE_MS;
	while (!f->done && sw_now_ms() < end)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_true(f->done);
}

/* Fetches and waits; returns true on success. */
static bool fetch(struct fx *f, const struct source_request *req)
{
	struct sw_err err = {0};
	f->done = false;
	uint64_t id = source_fetch(f->src, req, on_fetched, f, &err);
	if (id == 0)
		fail_msg("source_fetch: %s", err.msg);
	wait_done(f);
	return f->error[0] == '\0';
}

static void rev(struct fx *f, char *out, const char *what)
{
	char args[128];
	snprintf(args, sizeof(args), "rev-parse %s", what);
	git_out(f, out, 64, args);
}

/* ------------------------------------------------------------------ */

static void test_source__branch(void **state)
{
	struct fx *f = *state;
	commit_file(f, "deploy/app.yaml", "a: 1\n", "First commit\n\nWith a body.");
	sh(f, "git checkout -qb dev && git commit -q --allow-empty -m 'on dev' && git checkout -q main");
	char main_sha[64], dev_sha[64];
	rev(f, main_sha, "main");
	rev(f, dev_sha, "dev");

	struct source_request req = {.name = "shop", .url = f->url, .ref = "main"};
	assert_true(fetch(f, &req));
	assert_string_equal(f->c.sha, main_sha);
	assert_string_equal(f->ref, "refs/heads/main");
	assert_string_equal(f->name, "Ada Lovelace");
	assert_string_equal(f->email, "ada@example.org");
	assert_string_equal(f->subject, "First commit");
	assert_true(f->c.time > 1600000000);
	assert_int_equal(f->c.history, SOURCE_HISTORY_FIRST);

	req.ref = "dev";
	assert_true(fetch(f, &req));
	assert_string_equal(f->c.sha, dev_sha);
	assert_string_equal(f->subject, "on dev");

	req.ref = NULL; /* the remote's default branch */
	assert_true(fetch(f, &req));
	assert_string_equal(f->c.sha, main_sha);
	assert_string_equal(f->ref, "refs/heads/main");
}

static void test_source__tag_and_tag_range(void **state)
{
	struct fx *f = *state;
	commit_file(f, "a.yaml", "v: 1\n", "one");
	sh(f, "git tag -a v1.2.0 -m 'release 1.2.0'");
	commit_file(f, "a.yaml", "v: 2\n", "two");
	sh(f, "git tag v1.10.0");
	char want[64];
	rev(f, want, "HEAD");
	commit_file(f, "a.yaml", "v: 3\n", "three");
	sh(f, "git tag v2.0.0 && git tag v1.10.0-rc1 && git tag v1.9.9");
	char v12[64];
	rev(f, v12, "v1.2.0^{commit}");

	struct source_request req = {.name = "t", .url = f->url, .ref = "v1.2.0"};
	assert_true(fetch(f, &req));
	assert_string_equal(f->c.sha, v12); /* the annotated tag's commit */
	assert_string_equal(f->ref, "refs/tags/v1.2.0");
	assert_string_equal(f->subject, "one");

	req.ref = "v1.*"; /* highest by number: 1.10 > 1.2 */
	assert_true(fetch(f, &req));
	assert_string_equal(f->c.sha, want);
	assert_string_equal(f->ref, "refs/tags/v1.10.0");

	req.ref = "v3.*";
	assert_false(fetch(f, &req));
	assert_non_null(strstr(f->error, "no tag matches \"v3.*\""));
}

static void test_source__sha_full_and_short(void **state)
{
	struct fx *f = *state;
	commit_file(f, "a.yaml", "v: 1\n", "one");
	char old[64];
	rev(f, old, "HEAD");
	commit_file(f, "a.yaml", "v: 2\n", "two");

	struct source_request req = {.name = "s", .url = f->url, .ref = old};
	assert_true(fetch(f, &req));
	assert_string_equal(f->c.sha, old);
	assert_string_equal(f->subject, "one");

	char shortsha[8];
	snprintf(shortsha, sizeof(shortsha), "%.7s", old);
	req.ref = shortsha;
	assert_true(fetch(f, &req));
	assert_string_equal(f->c.sha, old);

	req.ref = "deadbeefdeadbeef";
	assert_false(fetch(f, &req));
	assert_non_null(strstr(f->error, "commit \"deadbeefdeadbeef\" not found on any branch or tag"));
}

static void test_source__new_commit_fetched_incrementally(void **state)
{
	struct fx *f = *state;
	/* enough content that a full fetch is clearly bigger than one commit */
	sh(f, "mkdir -p deploy && for i in $(seq 1 200); do "
	      "printf 'apiVersion: slipway/v1\\nkind: App\\nmetadata: {name: app%%d}\\n' $i "
	      "> deploy/app$i.yaml; done && git add -A && git commit -qm 'two hundred apps'");
	struct source_request req = {.name = "inc", .url = f->url, .ref = "main"};
	assert_true(fetch(f, &req));
	char first[41];
	snprintf(first, sizeof(first), "%s", f->c.sha);
	uint64_t full = f->c.received_bytes;

	commit_file(f, "deploy/app7.yaml", "changed: true\n", "change app7");
	req.previous = first;
	assert_true(fetch(f, &req));
	char now[64];
	rev(f, now, "HEAD");
	assert_string_equal(f->c.sha, now);
	assert_int_equal(f->c.history, SOURCE_HISTORY_FORWARD);
	assert_true(f->c.received_bytes < full);

	/* nothing new */
	req.previous = now;
	assert_true(fetch(f, &req));
	assert_int_equal(f->c.history, SOURCE_HISTORY_SAME);
}

static void test_source__force_push_is_rewritten(void **state)
{
	struct fx *f = *state;
	commit_file(f, "a.yaml", "v: 1\n", "one");
	commit_file(f, "a.yaml", "v: 2\n", "two");
	struct source_request req = {.name = "fp", .url = f->url, .ref = "main"};
	assert_true(fetch(f, &req));
	char before[41];
	snprintf(before, sizeof(before), "%s", f->c.sha);

	sh(f, "git reset -q --hard HEAD~1");
	commit_file(f, "a.yaml", "v: 3\n", "rewritten two");
	char now[64];
	rev(f, now, "HEAD");
	req.previous = before;
	assert_true(fetch(f, &req));
	assert_string_equal(f->c.sha, now); /* the new tip all the same */
	assert_int_equal(f->c.history, SOURCE_HISTORY_REWRITTEN);
	assert_string_equal(f->subject, "rewritten two");

	/* a previous commit the cache never saw */
	req.previous = "0123456789012345678901234567890123456789";
	assert_true(fetch(f, &req));
	assert_int_equal(f->c.history, SOURCE_HISTORY_UNKNOWN);
}

static void test_source__unknown_ref(void **state)
{
	struct fx *f = *state;
	commit_file(f, "a.yaml", "v: 1\n", "one");
	sh(f, "git branch dev && git tag v1.0.0");
	struct source_request req = {.name = "u", .url = f->url, .ref = "mian"};
	assert_false(fetch(f, &req));
	char want[1024];
	snprintf(want, sizeof(want),
		 "fetch %s: ref \"mian\" not found: branches dev, main; tags v1.0.0 "
		 "(did you mean \"main\"?)",
		 f->url);
	assert_string_equal(f->error, want);
	assert_int_equal(f->calls, 1);

	/* an empty repository says so */
	char empty[256], url[300];
	snprintf(empty, sizeof(empty), "%s/empty", f->dir);
	snprintf(url, sizeof(url), "file://%s", empty);
	sh(f, "git init -q --bare '%s'", empty);
	struct source_request e = {.name = "e", .url = url, .ref = "main"};
	assert_false(fetch(f, &e));
	snprintf(want, sizeof(want), "fetch %s: the repository is empty (no branches or tags)", url);
	assert_string_equal(f->error, want);
	e.ref = NULL;
	assert_false(fetch(f, &e));
	assert_string_equal(f->error, want);

	/* no repository at all */
	snprintf(url, sizeof(url), "file://%s/nosuch", f->dir);
	e.url = url;
	assert_false(fetch(f, &e));
	snprintf(want, sizeof(want),
		 "fetch %s: cannot connect: failed to resolve path '%s/nosuch': No such file or "
		 "directory",
		 url, f->dir);
	assert_string_equal(f->error, want);
}

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void test_source__connection_refused(void **state)
{
	struct fx *f = *state;
	int port = free_port();
	char url[128];
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/r.git", port);
	struct source_request req = {.name = "r", .url = url, .ref = "main"};
	assert_false(fetch(f, &req));
	char want[256];
	snprintf(want, sizeof(want), "fetch %s: connect to 127.0.0.1:%d failed: Connection refused",
		 url, port);
	assert_string_equal(f->error, want);

	/* a password in the URL never shows */
	snprintf(url, sizeof(url), "http://deploy:s3cret@127.0.0.1:%d/r.git", port);
	assert_false(fetch(f, &req));
	assert_null(strstr(f->error, "s3cret"));
	assert_non_null(strstr(f->error, "http://deploy@127.0.0.1:"));
}

/* A listener that accepts and never answers (the kernel completes the
 * handshake from the backlog). */
static int silent_listener(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A git:// URL of a silent listener (returned: close it when done). */
static int silent_remote(char *url, size_t size)
{
	int port;
	int fd = silent_listener(&port);
	snprintf(url, size, "git://127.0.0.1:%d/r.git", port);
	return fd;
}

static void test_source__time_limit(void **state)
{
	struct fx *f = *state;
	int port;
	int fd = silent_listener(&port);
	char url[128];
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/r.git", port);
	struct source_request req = {.name = "hang", .url = url, .ref = "main", .timeout_ms = 1000};
	assert_false(fetch(f, &req));
	char want[256];
	snprintf(want, sizeof(want), "fetch %s: timed out after 1s", url);
	assert_string_equal(f->error, want);
	/* smart HTTP and TLS (waiting for the handshake) run over the same stream */
	/* and ssh, where libssh2 reads the socket itself */
	char kh[256];
	snprintf(kh, sizeof(kh), "%s/known_hosts", f->dir);
	write_text(kh, "");
	req.cred.known_hosts_file = kh;
	static const char *const schemes[] = {"http", "https", "ssh"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(url, sizeof(url), "%s://127.0.0.1:%d/r.git", schemes[i], port);
		assert_false(fetch(f, &req));
		snprintf(want, sizeof(want), "fetch %s: timed out after 1s", url);
		assert_string_equal(f->error, want);
	}
	close(fd);
}

/* connect itself hangs: a listener whose backlog is full drops new SYNs */
static void test_source__connect_time_limit(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 0), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	int fill[4];
	for (int i = 0; i < 4; i++) { /* more than the backlog holds */
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	char url[128];
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/r.git", ntohs(sa.sin_port));
	struct source_request req = {.name = "syn", .url = url, .ref = "main", .timeout_ms = 1000};
	assert_false(fetch(f, &req));
	char want[256];
	snprintf(want, sizeof(want), "fetch %s: timed out after 1s", url);
	assert_string_equal(f->error, want);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(fd);
}

static void test_source__cancel(void **state)
{
	struct fx *f = *state;
	char url[128];
	int fd = silent_remote(url, sizeof(url));
	struct source_request req = {.name = "c", .url = url, .ref = "main"};
	struct sw_err err = {0};
	f->done = false;
	uint64_t id = source_fetch(f->src, &req, on_fetched, f, &err);
	assert_true(id != 0);
	/* one fetch per cache repository */
	assert_int_equal(source_fetch(f->src, &req, on_fetched, f, &err), 0);
	assert_int_equal(err.code, SW_EBUSY);
	assert_int_equal(source_pending(f->src), 1);
	source_cancel(f->src, id);
	assert_int_equal(source_pending(f->src), 0);
	/* the thread ends soon and the name is free again; no callback */
	uint64_t end = sw_now_ms() + DEADLINE_MS;
	for (;;) {
		struct sw_err e = {0};
		uv_run(&f->loop, UV_RUN_NOWAIT);
		uint64_t again = source_fetch(f->src, &req, on_fetched, f, &e);
		if (again) {
			source_cancel(f->src, again);
			break;
		}
		assert_true(sw_now_ms() < end);
		poll(NULL, 0, 10);
	}
	assert_int_equal(f->calls, 0);
	close(fd);
	/* teardown's source_free joins the second, cancelled fetch */
}

static void on_tick(uv_timer_t *t)
{
	(*(int *)t->data)++;
}

static void on_other(const struct source_commit *c, const char *error, void *data)
{
	*(int *)data = error ? -1 : 1;
}

/* A fetch that hangs blocks neither the loop nor another source's fetch;
 * source_free ends it without a callback. */
static void test_source__hanging_fetch_blocks_nothing(void **state)
{
	struct fx *f = *state;
	commit_file(f, "a.yaml", "v: 1\n", "one");
	char url[128];
	int fd = silent_remote(url, sizeof(url));
	struct source_request hang = {.name = "hang", .url = url, .ref = "main"};
	struct source_request ok = {.name = "ok", .url = f->url, .ref = "main"};
	struct sw_err err = {0};
	int other = 0, ticks = 0;
	assert_true(source_fetch(f->src, &hang, on_fetched, f, &err) != 0);
	assert_true(source_fetch(f->src, &ok, on_other, &other, &err) != 0);
	uv_timer_t tick;
	uv_timer_init(&f->loop, &tick);
	tick.data = &ticks;
	uv_timer_start(&tick, on_tick, 1, 1);
	uint64_t end = sw_now_ms() + DEADLINE_MS;
	while (other == 0 && sw_now_ms() < end)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(other, 1);
	assert_true(ticks > 0);
	assert_int_equal(f->calls, 0); /* the hanging one is still running */
	assert_int_equal(source_pending(f->src), 1);
	uv_close((uv_handle_t *)&tick, NULL);
	close(fd);
	/* teardown: source_free cancels and joins it; no callback */
}

struct seen {
	int order;	 /* callbacks so far, shared */
	int *counter;
	char error[512];
	bool ok;
};

static void on_seen(const struct source_commit *c, const char *error, void *data)
{
	struct seen *x = data;
	x->order = ++*x->counter;
	x->ok = error == NULL;
	snprintf(x->error, sizeof(x->error), "%s", error ? error : "");
}

/* SOURCE_MAX_RUNNING fetches run at once; the next waits for a free slot,
 * and its time limit starts when it runs; a waiting fetch can be cancelled. */
static void test_source__fetches_beyond_the_limit_wait(void **state)
{
	struct fx *f = *state;
	commit_file(f, "a.yaml", "v: 1\n", "one");
	char url[128];
	int fd = silent_remote(url, sizeof(url));
	int counter = 0;
	struct seen hang[SOURCE_MAX_RUNNING] = {0}, last = {.counter = &counter},
		    dropped = {.counter = &counter};
	struct sw_err err = {0};
	for (int i = 0; i < SOURCE_MAX_RUNNING; i++) {
		char name[32];
		snprintf(name, sizeof(name), "hang%d", i);
		hang[i].counter = &counter;
		struct source_request req = {.name = name, .url = url, .ref = "main",
					     .timeout_ms = 1000};
		assert_true(source_fetch(f->src, &req, on_seen, &hang[i], &err) != 0);
	}
	/* a fast one waits behind them, with a limit shorter than their wait */
	struct source_request fast = {.name = "fast", .url = f->url, .ref = "main", .timeout_ms = 500};
	assert_true(source_fetch(f->src, &fast, on_seen, &last, &err) != 0);
	struct source_request gone = {.name = "gone", .url = f->url, .ref = "main"};
	uint64_t id = source_fetch(f->src, &gone, on_seen, &dropped, &err);
	assert_true(id != 0);
	assert_int_equal(source_pending(f->src), SOURCE_MAX_RUNNING + 2);
	source_cancel(f->src, id); /* waiting: gone at once */
	assert_int_equal(source_pending(f->src), SOURCE_MAX_RUNNING + 1);

	uint64_t end = sw_now_ms() + DEADLINE_MS;
	while (source_pending(f->src) > 0 && sw_now_ms() < end)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(source_pending(f->src), 0);
	close(fd);
	assert_true(last.ok);		    /* its 500 ms did not pass while it waited */
	assert_true(last.order > 1);	    /* it ran only once a slot was free */
	assert_int_equal(dropped.order, 0); /* never called */
	for (int i = 0; i < SOURCE_MAX_RUNNING; i++)
		assert_non_null(strstr(hang[i].error, "timed out after 1s"));
	assert_int_equal(counter, SOURCE_MAX_RUNNING + 1);
}

static int count_packs(struct fx *f, const char *name)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "ls '%s/cache/%s.git/objects/pack' | grep -c '\\.pack$'", f->dir, name);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	int n = -1;
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

/* One pack per fetch would pile up; past SOURCE_MAX_PACKS they become one,
 * and every commit fetched before stays readable. */
static void test_source__packs_are_compacted(void **state)
{
	struct fx *f = *state;
	commit_file(f, "deploy/app.yaml", "v: 0\n", "v0");
	char first[64];
	rev(f, first, "HEAD");
	struct source_request req = {.name = "packs", .url = f->url, .ref = "main"};
	assert_true(fetch(f, &req));
	int most = 0;
	for (int i = 1; i <= SOURCE_MAX_PACKS + 5; i++) {
		char content[32], msg[32];
		snprintf(content, sizeof(content), "v: %d\n", i);
		snprintf(msg, sizeof(msg), "v%d", i);
		commit_file(f, "deploy/app.yaml", content, msg);
		assert_true(fetch(f, &req));
		int n = count_packs(f, "packs");
		most = n > most ? n : most;
	}
	assert_true(most <= SOURCE_MAX_PACKS + 1);
	assert_true(count_packs(f, "packs") < SOURCE_MAX_PACKS);
	struct sw_err err = {0};
	struct source_files files;
	const char *deploy[] = {"deploy", NULL};
	assert_int_equal(source_read(&files, f->src, "packs", first, deploy, 0, &err), 0);
	assert_string_equal(files.v[0].data, "v: 0\n");
	source_files_release(&files);
	/* and fetching goes on incrementally */
	commit_file(f, "deploy/app.yaml", "v: last\n", "last");
	req.previous = f->c.sha;
	assert_true(fetch(f, &req));
	assert_int_equal(f->c.history, SOURCE_HISTORY_FORWARD);
	assert_int_equal(source_read(&files, f->src, "packs", f->c.sha, deploy, 0, &err), 0);
	assert_string_equal(files.v[0].data, "v: last\n");
	source_files_release(&files);
}

static void test_source__size_limit(void **state)
{
	struct fx *f = *state;
	sh(f, "head -c 2000000 /dev/urandom > big.bin && git add -A && git commit -qm big");
	struct source_request req = {.name = "big", .url = f->url, .ref = "main",
				     .max_bytes = 500000};
	assert_false(fetch(f, &req));
	char want[512];
	snprintf(want, sizeof(want), "fetch %s: repository larger than 500000 bytes (the fetch limit)",
		 f->url);
	assert_string_equal(f->error, want);
	/* with the default limit it fetches */
	req.max_bytes = 0;
	assert_true(fetch(f, &req));
}

static void test_source__bad_requests(void **state)
{
	struct fx *f = *state;
	struct sw_err err = {0};
	struct source_request req = {.name = "x", .url = "ftp://h/r.git"};
	assert_int_equal(source_fetch(f->src, &req, on_fetched, f, &err), 0);
	assert_string_equal(err.msg, "url \"ftp://h/r.git\" must be file://, git://, http(s)://, "
				     "ssh:// or user@host:path");
	sw_err_clear(&err);
	req.url = f->url;
	req.name = "../x";
	assert_int_equal(source_fetch(f->src, &req, on_fetched, f, &err), 0);
	assert_non_null(strstr(err.msg, "source name \"../x\""));
	sw_err_clear(&err);
	req.name = "x";
	req.url = "git@example.org:team/repo.git";
	assert_int_equal(source_fetch(f->src, &req, on_fetched, f, &err), 0);
	assert_string_equal(err.msg, "an ssh url needs a known_hosts file");

	static const struct {
		const char *url;
		int ok, ssh;
	} urls[] = {
		{"file:///srv/r.git", 1, 0},	     {"git://h/r.git", 1, 0},
		{"http://h/r.git", 1, 0},	     {"https://h:8443/r.git", 1, 0},
		{"ssh://git@h:2222/r.git", 1, 1},    {"git@github.com:team/r.git", 1, 1},
		{"h:r.git", 1, 1},		     {"ftp://h/r.git", 0, 0},
		{"/srv/r.git", 0, 0},		     {"https://", 0, 0},
		{"", 0, 0},			     {"relative/path", 0, 0},
	};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		bool ssh = false;
		sw_err_clear(&err);
		int r = source_url_check(urls[i].url, &ssh, &err);
		if ((r == 0) != urls[i].ok || (r == 0 && ssh != urls[i].ssh))
			fail_msg("url \"%s\": got %d ssh %d (%s)", urls[i].url, r, ssh, err.msg);
	}
	sw_err_clear(&err);
	assert_true(source_url_check("ftp://u:pw@h/r", NULL, &err) < 0);
	assert_string_equal(err.msg, "url \"ftp://u@h/r\" must be file://, git://, http(s)://, ssh:// or "
				     "user@host:path");

	struct buf b = BUF_INIT;
	source_url_redact(&b, "https://u:secret@h.example/r.git");
	assert_string_equal(b.s, "https://u@h.example/r.git");
	buf_reset(&b);
	source_url_redact(&b, "https://h.example/a@b.git");
	assert_string_equal(b.s, "https://h.example/a@b.git");
	buf_release(&b);
}

/* ------------------------------------------------------------------ */
/* git daemon                                                          */

static pid_t start_git_daemon(struct fx *f, int *port)
{
	*port = free_port();
	char portarg[32], base[160];
	snprintf(portarg, sizeof(portarg), "--port=%d", *port);
	snprintf(base, sizeof(base), "--base-path=%s", f->dir);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		execlp("git", "git", "daemon", "--listen=127.0.0.1", portarg, base, "--export-all",
		       "--reuseaddr", f->dir, (char *)NULL);
		_exit(127);
	}
	uint64_t end = sw_now_ms() + DEADLINE_MS;
	for (;;) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (ok == 0)
			return pid;
		assert_true(sw_now_ms() < end);
		assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
		poll(NULL, 0, 20);
	}
}

static void stop_git_daemon(pid_t pid)
{
	kill(-pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static void test_source__git_daemon(void **state)
{
	struct fx *f = *state;
	commit_file(f, "deploy/app.yaml", "a: 1\n", "over git://");
	sh(f, "git tag v1.0.0");
	int port;
	pid_t pid = start_git_daemon(f, &port);
	char url[128];
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/work", port);
	char main_sha[64];
	rev(f, main_sha, "main");

	struct source_request req = {.name = "gd", .url = url, .ref = "main"};
	bool ok = fetch(f, &req);
	if (!ok)
		stop_git_daemon(pid);
	assert_true(ok);
	assert_string_equal(f->c.sha, main_sha);
	assert_string_equal(f->subject, "over git://");
	assert_true(f->c.received_bytes > 0);

	commit_file(f, "deploy/app.yaml", "a: 2\n", "second");
	req.previous = main_sha;
	ok = fetch(f, &req);
	rev(f, main_sha, "main");
	req.ref = "mian";
	bool bad = fetch(f, &req);
	char error[2048];
	snprintf(error, sizeof(error), "%s", f->error);
	char nourl[160];
	snprintf(nourl, sizeof(nourl), "git://127.0.0.1:%d/nosuch", port);
	req.url = nourl;
	req.ref = "main";
	bool missing = fetch(f, &req);
	char e_missing[2048];
	snprintf(e_missing, sizeof(e_missing), "%s", f->error);
	stop_git_daemon(pid);
	assert_false(missing);
	char want_missing[512];
	snprintf(want_missing, sizeof(want_missing),
		 "fetch %s: cannot connect: remote error: access denied or repository not exported: "
		 "/nosuch",
		 nourl);
	assert_string_equal(e_missing, want_missing);
	assert_true(ok);
	assert_false(bad);
	char want[512];
	snprintf(want, sizeof(want),
		 "fetch %s: ref \"mian\" not found: branches main; tags v1.0.0 (did you mean \"main\"?)",
		 url);
	assert_string_equal(error, want);
}

/* ------------------------------------------------------------------ */
/* ssh (sshd) and smart HTTP (git http-backend behind nginx + fcgiwrap) */

/* Starts argv in its own process group, stderr to DIR/NAME.log. */
static pid_t spawn(struct fx *f, const char *name, char *const argv[])
{
	char log[256];
	snprintf(log, sizeof(log), "%s/%s.log", f->dir, name);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t pid)
{
	kill(-pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* Waits until 127.0.0.1:port accepts, or the process died. */
static bool wait_port(pid_t pid, int port)
{
	uint64_t end = sw_now_ms() + DEADLINE_MS;
	while (sw_now_ms() < end) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (ok == 0)
			return true;
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return false;
		poll(NULL, 0, 20);
	}
	return false;
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_source__ssh(void **state)
{
	struct fx *f = *state;
	if (access("/usr/sbin/sshd", X_OK) != 0)
		fail_msg("no /usr/sbin/sshd: scripts/deps.sh installs openssh-server");
	/* root's sshd needs its privilege separation directory */
	if (geteuid() == 0 && access("/run/sshd", F_OK) != 0)
		assert_int_equal(system("mkdir -p -m 0755 /run/sshd"), 0);
	commit_file(f, "deploy/app.yaml", "a: 1\n", "over ssh");
	char main_sha[64];
	rev(f, main_sha, "main");
	sh(f, "ssh-keygen -q -t ed25519 -N '' -f ../hostkey && ssh-keygen -q -t ed25519 -N '' -f ../userkey && "
	      "ssh-keygen -q -t ed25519 -N '' -f ../otherkey && cp ../userkey.pub ../authorized_keys");
	int port = free_port();
	char conf[1024], path[256];
	snprintf(conf, sizeof(conf),
		 "Port %d\nListenAddress 127.0.0.1\nHostKey %s/hostkey\nAuthorizedKeysFile %s/authorized_keys\n"
		 "PidFile %s/sshd.pid\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n"
		 "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
		 port, f->dir, f->dir, f->dir);
	snprintf(path, sizeof(path), "%s/sshd_config", f->dir);
	write_text(path, conf);
	char *argv[] = {"/usr/sbin/sshd", "-D", "-e", "-f", path, NULL};
	pid_t pid = spawn(f, "sshd", argv);
	if (!wait_port(pid, port)) {
		stop(pid);
		fail_msg("sshd did not start; see %s/sshd.log", f->dir);
	}
	/* known_hosts: the server's key under [127.0.0.1]:port */
	char kh[256], bad_kh[256], key[256], other[256];
	snprintf(kh, sizeof(kh), "%s/known_hosts", f->dir);
	snprintf(bad_kh, sizeof(bad_kh), "%s/known_hosts_other", f->dir);
	snprintf(key, sizeof(key), "%s/userkey", f->dir);
	snprintf(other, sizeof(other), "%s/otherkey", f->dir);
	sh(f, "printf '[127.0.0.1]:%d ' > %s && cat ../hostkey.pub >> %s && "
	      "printf '[127.0.0.1]:%d ' > %s && cat ../otherkey.pub >> %s",
	   port, kh, kh, port, bad_kh, bad_kh);
	char url[512];
	const char *user = getenv("USER") ? getenv("USER") : "root";
	if (geteuid() == 0)
		user = "root";
	snprintf(url, sizeof(url), "ssh://%s@127.0.0.1:%d%s", user, port, f->work);

	struct source_request req = {.name = "ssh", .url = url, .ref = "main",
				     .cred = {.ssh_key_file = key, .known_hosts_file = kh}};
	bool ok = fetch(f, &req);
	char e1[2048];
	snprintf(e1, sizeof(e1), "%s", f->error);
	char sha[41];
	snprintf(sha, sizeof(sha), "%s", f->c.sha);

	/* no user in the URL: the name comes from the credentials */
	char nouser[512];
	snprintf(nouser, sizeof(nouser), "ssh://127.0.0.1:%d%s", port, f->work);
	struct source_request req2 = req;
	req2.url = nouser;
	req2.name = "ssh2";
	req2.cred.username = user;
	bool ok2 = fetch(f, &req2);
	char e0[2048];
	snprintf(e0, sizeof(e0), "%s", f->error);

	req.cred.known_hosts_file = bad_kh; /* the host presents another key */
	bool bad_host = fetch(f, &req);
	char e2[2048];
	snprintf(e2, sizeof(e2), "%s", f->error);

	req.cred.known_hosts_file = kh; /* a key the server does not authorize */
	req.cred.ssh_key_file = other;
	bool bad_key = fetch(f, &req);
	char e3[2048];
	snprintf(e3, sizeof(e3), "%s", f->error);
	stop(pid);

	if (!ok)
		fail_msg("ssh fetch: %s", e1);
	assert_string_equal(sha, main_sha);
	if (!ok2)
		fail_msg("ssh fetch without a user in the URL: %s", e0);
	assert_false(bad_host);
	char want[1024];
	snprintf(want, sizeof(want),
		 "fetch %s: host key of \"127.0.0.1\" does not match known_hosts \"%s\" (refusing)", url,
		 bad_kh);
	assert_string_equal(e2, want);
	assert_false(bad_key);
	snprintf(want, sizeof(want), "fetch %s: authentication refused (check the credentials in \"%s\")",
		 url, other);
	assert_string_equal(e3, want);
}

static void test_source__smart_http_basic_auth(void **state)
{
	struct fx *f = *state;
	if (access("/usr/sbin/nginx", X_OK) != 0 || access("/usr/sbin/fcgiwrap", X_OK) != 0)
		fail_msg("no nginx or fcgiwrap: scripts/deps.sh installs them");
	commit_file(f, "deploy/app.yaml", "a: 1\n", "over http");
	char main_sha[64];
	rev(f, main_sha, "main");
	sh(f, "printf 'deploy:%%s\\n' \"$(openssl passwd -apr1 hunter2)\" > ../htpasswd && "
	      "printf 'hunter2\\n' > ../password && printf 'not-hunter2-s3cret\\n' > ../wrong && mkdir -p ../nginx");
	int port = free_port();
	char conf[4096], path[256], sock[256];
	snprintf(sock, sizeof(sock), "%s/fcgi.sock", f->dir);
	snprintf(conf, sizeof(conf),
		 "%s"
		 "daemon off; master_process off; pid %s/nginx.pid; error_log %s/nginx/error.log;\n"
		 "events {}\n"
		 "http {\n"
		 "  access_log off; client_body_temp_path %s/nginx;\n"
		 "  fastcgi_temp_path %s/nginx; proxy_temp_path %s/nginx;\n"
		 "  uwsgi_temp_path %s/nginx; scgi_temp_path %s/nginx;\n"
		 "  server {\n"
		 "    listen 127.0.0.1:%d;\n"
		 "    location / {\n"
		 "      auth_basic \"git\"; auth_basic_user_file %s/htpasswd;\n"
		 "      include /etc/nginx/fastcgi_params;\n"
		 "      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;\n"
		 "      fastcgi_param GIT_PROJECT_ROOT %s;\n"
		 "      fastcgi_param GIT_HTTP_EXPORT_ALL \"\";\n"
		 "      fastcgi_param PATH_INFO $uri;\n"
		 "      fastcgi_param REMOTE_USER $remote_user;\n"
		 "      fastcgi_pass unix:%s;\n"
		 "    }\n"
		 "  }\n"
		 "}\n",
		 geteuid() == 0 ? "user root;\n" : "", f->dir, f->dir, f->dir, f->dir, f->dir, f->dir,
		 f->dir, port, f->dir, f->dir, sock);
	snprintf(path, sizeof(path), "%s/nginx.conf", f->dir);
	write_text(path, conf);
	char sockarg[300];
	snprintf(sockarg, sizeof(sockarg), "unix:%s", sock);
	char *fargv[] = {"/usr/sbin/fcgiwrap", "-s", sockarg, NULL};
	pid_t fcgi = spawn(f, "fcgiwrap", fargv);
	char *nargv[] = {"/usr/sbin/nginx", "-e", "stderr", "-c", path, "-p", f->dir, NULL};
	pid_t nginx = spawn(f, "nginx", nargv);
	if (!wait_port(nginx, port)) {
		stop(nginx);
		stop(fcgi);
		fail_msg("nginx did not start; see %s/nginx.log", f->dir);
	}
	char url[256], pw[256], wrong[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/work", port);
	snprintf(pw, sizeof(pw), "%s/password", f->dir);
	snprintf(wrong, sizeof(wrong), "%s/wrong", f->dir);

	struct source_request req = {.name = "http", .url = url, .ref = "main",
				     .cred = {.username = "deploy", .password_file = pw}};
	bool ok = fetch(f, &req);
	char e1[2048], sha[41];
	snprintf(e1, sizeof(e1), "%s", f->error);
	snprintf(sha, sizeof(sha), "%s", f->c.sha);

	req.cred.password_file = wrong;
	bool refused = fetch(f, &req);
	char e2[2048];
	snprintf(e2, sizeof(e2), "%s", f->error);

	req.cred.password_file = NULL;
	bool none = fetch(f, &req);
	char e3[2048];
	snprintf(e3, sizeof(e3), "%s", f->error);
	stop(nginx);
	stop(fcgi);

	if (!ok)
		fail_msg("http fetch: %s", e1);
	assert_string_equal(sha, main_sha);
	assert_false(refused);
	char want[1024];
	snprintf(want, sizeof(want), "fetch %s: authentication refused (check the credentials in \"%s\")",
		 url, wrong);
	assert_string_equal(e2, want);
	assert_null(strstr(e2, "s3cret")); /* a password never shows */
	assert_null(strstr(e1, "hunter2"));
	assert_false(none);
	snprintf(want, sizeof(want),
		 "fetch %s: authentication required, but no password or token file is configured", url);
	assert_string_equal(e3, want);
}

/* ------------------------------------------------------------------ */
/* reading a commit                                                    */

static void test_source__read_directories(void **state)
{
	struct fx *f = *state;
	sh(f, "mkdir -p deploy/sub other && printf 'b: 1\\n' > deploy/b.yaml && "
	      "printf 'a: 1\\n' > deploy/a.yml && printf 'h: 1\\n' > deploy/.hidden.yaml && "
	      "printf 'text\\n' > deploy/notes.txt && printf 'c: 1\\n' > deploy/sub/c.yaml && "
	      "printf 'y\\n' > deploy/.yaml && printf 'B: 1\\n' > deploy/B.yaml && "
	      "ln -s b.yaml deploy/link.yaml && printf 'o: 1\\n' > other/app.yaml && "
	      "git add -A && git commit -qm one");
	struct source_request req = {.name = "rd", .url = f->url, .ref = "main"};
	assert_true(fetch(f, &req));
	char one[41];
	snprintf(one, sizeof(one), "%s", f->c.sha);
	commit_file(f, "deploy/b.yaml", "b: 2\n", "two");
	assert_true(fetch(f, &req));

	struct sw_err err = {0};
	struct source_files files;
	const char *paths[] = {"deploy", "./other/app.yaml", "deploy/sub/", NULL};
	assert_int_equal(source_read(&files, f->src, "rd", one, paths, 0, &err), 0);
	assert_int_equal(files.n, 5);
	assert_string_equal(files.v[0].path, "deploy/B.yaml"); /* strcmp order, as apply */
	assert_string_equal(files.v[1].path, "deploy/a.yml");
	assert_string_equal(files.v[2].path, "deploy/b.yaml");
	assert_string_equal(files.v[2].data, "b: 1\n"); /* at commit one */
	assert_int_equal(files.v[2].len, 5);
	assert_string_equal(files.v[3].path, "other/app.yaml");
	assert_string_equal(files.v[4].path, "deploy/sub/c.yaml");
	source_files_release(&files);

	const char *deploy[] = {"deploy", NULL};
	assert_int_equal(source_read(&files, f->src, "rd", f->c.sha, deploy, 0, &err), 0);
	assert_string_equal(files.v[2].data, "b: 2\n");
	source_files_release(&files);

	/* short SHA; the root */
	char shortsha[8];
	snprintf(shortsha, sizeof(shortsha), "%.7s", one);
	const char *root[] = {"", NULL};
	assert_int_equal(source_read(&files, f->src, "rd", shortsha, root, 0, &err), SW_ENOTFOUND);
	char want[256];
	snprintf(want, sizeof(want), "no *.yaml or *.yml files in \".\" at %.7s", one);
	assert_string_equal(err.msg, want);
	assert_int_equal(files.n, 0);
}

static void test_source__read_errors(void **state)
{
	struct fx *f = *state;
	commit_file(f, "deploy/app.yaml", "a: 1\n", "one");
	sh(f, "mkdir -p docs && printf 'x' > docs/readme.txt && "
	      "head -c 5000000 /dev/zero > deploy/huge.yaml && git add -A && git commit -qm two");
	struct source_request req = {.name = "re", .url = f->url, .ref = "main"};
	assert_true(fetch(f, &req));
	struct sw_err err = {0};
	struct source_files files;
	char want[256];

	const char *missing[] = {"deploy/app.yaml", "nope", NULL};
	assert_int_equal(source_read(&files, f->src, "re", f->c.sha, missing, 0, &err), SW_ENOTFOUND);
	snprintf(want, sizeof(want), "path \"nope\" not found at %.7s", f->c.sha);
	assert_string_equal(err.msg, want);
	assert_int_equal(files.n, 0);

	sw_err_clear(&err);
	const char *docs[] = {"docs", NULL};
	assert_int_equal(source_read(&files, f->src, "re", f->c.sha, docs, 0, &err), SW_ENOTFOUND);
	snprintf(want, sizeof(want), "no *.yaml or *.yml files in \"docs\" at %.7s", f->c.sha);
	assert_string_equal(err.msg, want);

	sw_err_clear(&err);
	const char *deploy[] = {"deploy", NULL};
	assert_true(source_read(&files, f->src, "re", f->c.sha, deploy, 0, &err) < 0);
	assert_string_equal(err.msg, "deploy/huge.yaml:1:1: file is larger than 4 MiB");

	sw_err_clear(&err);
	const char *app[] = {"deploy/app.yaml", NULL};
	assert_true(source_read(&files, f->src, "re", f->c.sha, app, 3, &err) < 0);
	snprintf(want, sizeof(want),
		 "deploy/app.yaml: the files at %.7s together are larger than 3 bytes", f->c.sha);
	assert_string_equal(err.msg, want);

	sw_err_clear(&err);
	assert_int_equal(source_read(&files, f->src, "re", "0123456", app, 0, &err), SW_ENOTFOUND);
	assert_string_equal(err.msg, "commit \"0123456\" not found in the cache of \"re\"");
	sw_err_clear(&err);
	assert_int_equal(source_read(&files, f->src, "never", "0123456", app, 0, &err), SW_ENOTFOUND);
	assert_string_equal(err.msg, "source \"never\" has not been fetched");
}

/* ------------------------------------------------------------------ */
/* known_hosts                                                         */

static void b64(const unsigned char *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static void test_source__known_hosts(void **state)
{
	const unsigned char key[] = "\0\0\0\x0b" "ssh-ed25519\0\0\0\x20" "abcdefghijklmnopqrstuvwxyz012345";
	size_t keylen = sizeof(key) - 1;
	const unsigned char other[] = "\0\0\0\x0b" "ssh-ed25519\0\0\0\x20" "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
	char kb[128], ob[128];
	b64(key, keylen, kb);
	b64(other, keylen, ob);
	char text[2048];

	snprintf(text, sizeof(text), "# comment\n\ngit.example.org,10.0.0.1 ssh-ed25519 %s user@x\n", kb);
	assert_int_equal(source_known_hosts_check(text, strlen(text), "git.example.org", 22, key, keylen), 1);
	assert_int_equal(source_known_hosts_check(text, strlen(text), "10.0.0.1", 22, key, keylen), 1);
	assert_int_equal(source_known_hosts_check(text, strlen(text), "evil.example", 22, key, keylen), 0);
	assert_int_equal(source_known_hosts_check(text, strlen(text), "git.example.org", 22, other, keylen), -1);
	/* another port needs a [host]:port entry */
	assert_int_equal(source_known_hosts_check(text, strlen(text), "git.example.org", 2222, key, keylen), 0);
	snprintf(text, sizeof(text), "[127.0.0.1]:2222 ssh-ed25519 %s\n*.corp ssh-ed25519 %s\n", kb, kb);
	assert_int_equal(source_known_hosts_check(text, strlen(text), "127.0.0.1", 2222, key, keylen), 1);
	assert_int_equal(source_known_hosts_check(text, strlen(text), "a.corp", 22, key, keylen), 1);
	snprintf(text, sizeof(text), "*.corp,!bad.corp ssh-ed25519 %s\n", kb);
	assert_int_equal(source_known_hosts_check(text, strlen(text), "bad.corp", 22, key, keylen), 0);

	/* hashed: |1|base64(salt)|base64(HMAC-SHA1(salt, host)) */
	unsigned char salt[20] = "0123456789abcdefghij", mac[20];
	unsigned int ml;
	HMAC(EVP_sha1(), salt, 20, (const unsigned char *)"git.example.org", 15, mac, &ml);
	char sb[64], hb[64];
	b64(salt, 20, sb);
	b64(mac, 20, hb);
	snprintf(text, sizeof(text), "|1|%s|%s ssh-ed25519 %s\n", sb, hb, kb);
	assert_int_equal(source_known_hosts_check(text, strlen(text), "git.example.org", 22, key, keylen), 1);
	assert_int_equal(source_known_hosts_check(text, strlen(text), "git2.example.org", 22, key, keylen), 0);

	/* a revoked key is refused even when listed */
	snprintf(text, sizeof(text), "h ssh-ed25519 %s\n@revoked h ssh-ed25519 %s\n", kb, kb);
	assert_int_equal(source_known_hosts_check(text, strlen(text), "h", 22, key, keylen), -1);
	/* garbage is skipped */
	snprintf(text, sizeof(text), "h\nh ssh-ed25519\nh ssh-ed25519 !!!!\n@cert-authority h x %s\n", kb);
	assert_int_equal(source_known_hosts_check(text, strlen(text), "h", 22, key, keylen), 0);
}

/*
 * libgit2 1.5.1's ssh transport (its known_hosts code, libssh2's auth list)
 * leaks some 100 bytes per connection inside git_remote_connect, none of it
 * reachable by us. Under ASan these two leaks are suppressed by name; the
 * slow unwinder is needed for the stack to reach git_remote_connect through
 * libgit2's frames.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:git_remote_connect\n";
}
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

/* ---- write-back (source_push) ---- */

struct pushed {
	bool done;
	char sha[41], base[41], file[256], error[2048];
	bool redone;
};

static void on_pushed(const struct source_pushed *p, const char *error, void *data)
{
	struct pushed *r = data;
	r->done = true;
	if (error) {
		snprintf(r->error, sizeof(r->error), "%s", error);
		return;
	}
	snprintf(r->sha, sizeof(r->sha), "%s", p->sha);
	snprintf(r->base, sizeof(r->base), "%s", p->base);
	snprintf(r->file, sizeof(r->file), "%s", p->file ? p->file : "");
	r->redone = p->redone;
}

/* Pushes hello's document of target onto base; waits for the answer. */
static void push(struct fx *f, const char *url, const char *base, const char *target,
		 struct pushed *r)
{
	const char *paths[] = {"deploy", NULL};
	struct source_push_request req = {
		.name = "shop", .url = url, .branch = "main", .base = base, .target = target,
		.app = "hello", .paths = paths, .author_name = "Roll Back",
		.author_email = "rb@example.org", .message = "Roll back hello\n\nbecause.\n",
	};
	struct sw_err err = {0};
	memset(r, 0, sizeof(*r));
	if (!source_push(f->src, &req, on_pushed, r, &err))
		fail_msg("source_push: %s", err.msg);
	uint64_t end = sw_now_ms() + DEADLINE_MS;
	while (!r->done && sw_now_ms() < end)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_true(r->done);
}

#define WB_HELLO(v) "kind: App\nmetadata: {name: hello}\nspec: {version: \"" v "\"}\n"
#define WB_OTHER "# other\nkind: App\nmetadata: {name: other}\n"

/* A bare upstream (a push cannot update a checked-out branch): a commit,
 * a rollback of one document in a two-document file, a push that finds
 * the branch moved and is made again, a moved app, nothing to do. */
static void test_source__push_write_back(void **state)
{
	struct fx *f = *state;
	char url[300], out[256], sha1[64], sha2[64], sha3[64];
	commit_file(f, "deploy/apps.yaml", WB_HELLO("1") "---\n" WB_OTHER, "one");
	rev(f, sha1, "HEAD");
	commit_file(f, "deploy/apps.yaml", WB_HELLO("2") "---\n" WB_OTHER, "two");
	rev(f, sha2, "HEAD");
	sh(f, "git clone -q --bare . ../up.git && git remote add up ../up.git");
	snprintf(url, sizeof(url), "file://%s/up.git", f->dir);
	struct source_request req = {.name = "shop", .url = url, .ref = "main"};
	assert_true(fetch(f, &req));

	struct pushed r;
	push(f, url, sha2, sha1, &r);
	assert_string_equal(r.error, "");
	assert_false(r.redone);
	assert_string_equal(r.file, "deploy/apps.yaml");
	assert_string_equal(r.base, sha2);
	sh(f, "git fetch -q up && test \"$(git rev-parse up/main)\" = %s", r.sha);
	sh(f, "test \"$(git log -1 --format='%%an <%%ae>|%%P|%%s' up/main)\" = 'Roll Back <rb@example.org>|%s|Roll back hello'",
	   sha2);
	sh(f, "git show up/main:deploy/apps.yaml > ../got && git show %s:deploy/apps.yaml | cmp - ../got",
	   sha1);

	/* someone pushes meanwhile: the commit is made again on their head */
	sh(f, "git merge -q --ff-only up/main");
	commit_file(f, "deploy/apps.yaml", WB_HELLO("3") "---\n" WB_OTHER "x: 1\n", "three");
	sh(f, "git push -q up main");
	rev(f, sha3, "HEAD");
	char head[64];
	snprintf(head, sizeof(head), "%s", r.sha);
	push(f, url, head, sha2, &r);
	assert_string_equal(r.error, "");
	assert_true(r.redone);
	assert_string_equal(r.base, sha3);
	sh(f, "git fetch -q up && test \"$(git log -1 --format=%%P up/main)\" = %s", sha3);
	git_out(f, out, sizeof(out), "show up/main:deploy/apps.yaml | tail -1");
	assert_string_equal(out, "x: 1"); /* other's document as at sha3 */
	git_out(f, out, sizeof(out), "show up/main:deploy/apps.yaml | sed -n 3p");
	assert_string_equal(out, "spec: {version: \"2\"}");

	/* nothing to do: the head has the document already */
	sh(f, "git merge -q --ff-only up/main");
	rev(f, head, "HEAD");
	push(f, url, head, sha2, &r);
	assert_string_equal(r.error, "");
	assert_string_equal(r.sha, "");

	/* the app moved to another file: not written back */
	sh(f, "git mv deploy/apps.yaml deploy/all.yaml && git commit -qm moved && git push -q up main");
	rev(f, head, "HEAD");
	assert_true(fetch(f, &req));
	push(f, url, head, sha1, &r);
	assert_non_null(strstr(r.error, "push to file://"));
	assert_non_null(strstr(r.error, "app \"hello\" is in deploy/apps.yaml at "));
	assert_non_null(strstr(r.error, "but in deploy/all.yaml at "));
	assert_non_null(strstr(r.error, "it moved"));

	/* a remote without receive-pack: the push fails, with the reason */
	char daemon[300];
	int port = 0;
	pid_t pid = start_git_daemon(f, &port);
	snprintf(daemon, sizeof(daemon), "git://127.0.0.1:%d/up.git", port);
	push(f, daemon, head, sha1, &r);
	stop_git_daemon(pid);
	assert_non_null(strstr(r.error, "push to git://127.0.0.1"));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (getenv("TEST_FILTER")) /* e.g. TEST_FILTER='*ssh*' */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_source__branch),
		T(test_source__tag_and_tag_range),
		T(test_source__sha_full_and_short),
		T(test_source__new_commit_fetched_incrementally),
		T(test_source__force_push_is_rewritten),
		T(test_source__unknown_ref),
		T(test_source__connection_refused),
		T(test_source__time_limit),
		T(test_source__connect_time_limit),
		T(test_source__cancel),
		T(test_source__hanging_fetch_blocks_nothing),
		T(test_source__fetches_beyond_the_limit_wait),
		T(test_source__packs_are_compacted),
		T(test_source__size_limit),
		T(test_source__bad_requests),
		T(test_source__git_daemon),
		T(test_source__ssh),
		T(test_source__smart_http_basic_auth),
		T(test_source__read_directories),
		T(test_source__read_errors),
		T(test_source__known_hosts),
		T(test_source__push_write_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
