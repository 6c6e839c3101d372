/*
 * What a GitOps poll costs the source module (src/gitops/): a file://
 * repository of N (1,000) small App documents in one directory; a first
 * fetch into an empty cache; then ROUNDS (10) times: one new commit that
 * changes one file, its incremental fetch, and a read of all N files at
 * that commit (source_read, as the engine will call it). Prints the first
 * fetch and the median and max of the others, in ms. VIA=git fetches the
 * same repository over git:// from a `git daemon` on 127.0.0.1 instead
 * (through the module's own socket stream).
 *   bench/source-fetch.sh [N] [ROUNDS]
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "gitops/source.h"

static char dir[64], work[128];
static bool done;
static char sha[41], error[2048];

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(cmd, sizeof(cmd), "cd '%s' && ", work);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "failed: %s\n", cmd);
		exit(1);
	}
}

static void on_fetched(const struct source_commit *c, const char *err, void *data)
{
	done = true;
	if (err)
		snprintf(error, sizeof(error), "%s", err);
	else
		snprintf(sha, sizeof(sha), "%s", c->sha);
}

static double fetch(uv_loop_t *loop, struct source *s, const char *url)
{
	struct source_request req = {.name = "bench", .url = url, .ref = "main"};
	struct sw_err err = {0};
	uint64_t t0 = sw_now_ms();
	done = false;
	if (!source_fetch(s, &req, on_fetched, NULL, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	while (!done)
		uv_run(loop, UV_RUN_ONCE);
	if (error[0]) {
		fprintf(stderr, "%s\n", error);
		exit(1);
	}
	return (double)(sw_now_ms() - t0);
}

/* git daemon on a free 127.0.0.1 port, serving dir; returns its pid. */
static pid_t git_daemon(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		exit(1);
	close(fd);
	*port = ntohs(sa.sin_port);
	char portarg[32], base[128];
	snprintf(portarg, sizeof(portarg), "--port=%d", *port);
	snprintf(base, sizeof(base), "--base-path=%s", dir);
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		execlp("git", "git", "daemon", "--listen=127.0.0.1", portarg, base, "--export-all",
		       "--reuseaddr", dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		sa.sin_port = htons((uint16_t)*port);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (ok == 0)
			return pid;
		poll(NULL, 0, 20);
	}
	fprintf(stderr, "git daemon did not start\n");
	exit(1);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	int rounds = argc > 2 ? atoi(argv[2]) : 10;
	snprintf(dir, sizeof(dir), "/tmp/slipway-bench-source.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(work, sizeof(work), "%s/work", dir);
	setenv("HOME", dir, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "bench", 1);
	setenv("GIT_AUTHOR_EMAIL", "bench@example.org", 1);
	setenv("GIT_COMMITTER_NAME", "bench", 1);
	setenv("GIT_COMMITTER_EMAIL", "bench@example.org", 1);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "git init -q -b main '%s'", work);
	if (system(cmd) != 0)
		return 1;
	run("mkdir apps && for i in $(seq 1 %d); do printf 'apiVersion: slipway/v1\\nkind: App\\n"
	    "metadata: {name: app%%d}\\nspec:\\n  version: \"1\"\\n  run: {command: [./hello, "
	    "--port, \"${PORT}\"]}\\n' $i > apps/app$i.yaml; done && git add -A && "
	    "git commit -qm 'apps'",
	    n);

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct source *s;
	struct sw_err err = {0};
	char cache[128], url[160];
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(url, sizeof(url), "file://%s", work);
	pid_t daemon_pid = 0;
	const char *via = getenv("VIA") ? getenv("VIA") : "file";
	if (strcmp(via, "git") == 0) {
		int port;
		daemon_pid = git_daemon(&port);
		snprintf(url, sizeof(url), "git://127.0.0.1:%d/work", port);
	}
	if (source_new(&s, &loop, cache, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	double first = fetch(&loop, s, url);
	double *f = calloc((size_t)rounds, sizeof(double)), *r = calloc((size_t)rounds, sizeof(double));
	size_t files = 0, bytes = 0;
	for (int i = 0; i < rounds; i++) {
		run("printf 'apiVersion: slipway/v1\\nkind: App\\nmetadata: {name: app1}\\n"
		    "spec: {version: \"%d\", run: {command: [./hello]}}\\n' > apps/app1.yaml && "
		    "git commit -qam 'round %d'",
		    i + 2, i);
		f[i] = fetch(&loop, s, url);
		const char *paths[] = {"apps", NULL};
		struct source_files out;
		uint64_t t0 = sw_now_ms();
		if (source_read(&out, s, "bench", sha, paths, 0, &err) < 0) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		r[i] = (double)(sw_now_ms() - t0);
		files = out.n;
		bytes = 0;
		for (size_t k = 0; k < out.n; k++)
			bytes += out.v[k].len;
		source_files_release(&out);
	}
	qsort(f, (size_t)rounds, sizeof(double), cmp_d);
	qsort(r, (size_t)rounds, sizeof(double), cmp_d);
	if (daemon_pid) {
		kill(-daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
	}
	printf("%s: files %d (%zu read, %zu bytes)\n", url, n, files, bytes);
	printf("first fetch (empty cache)       %.0f ms\n", first);
	printf("incremental fetch of 1 commit   median %.0f ms, max %.0f ms (%d rounds)\n",
	       f[rounds / 2], f[rounds - 1], rounds);
	printf("read %zu files at a commit    median %.0f ms, max %.0f ms\n", files, r[rounds / 2],
	       r[rounds - 1]);
	source_free(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(f);
	free(r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
