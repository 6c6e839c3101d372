/*
 * Jobs: a hook's command run to completion, with a timeout per attempt,
 * retries and a log file (runtime.h). One struct runtime_job_priv per
 * job, holding one sw_proc at a time and one timer that serves as the
 * attempt's timeout and as the pause before a retry.
 *
 * Each attempt's process is a waiter (`slipway job-waiter`, at the end of
 * this file) that leads the group, waits for our go on a pipe, runs the
 * command and writes how it ended to the exit file: so its result is
 * known whether the waiter is our child or one adopted after a restart
 * (whose status the kernel gives only to its parent).
 *
 * The struct is freed only once every handle is closed: runtime_job_free
 * marks it released (no callback after that), kills a running attempt
 * and closes the timer; the last close frees.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/buf.h"
#include "runtime_int.h"

#define JOB_KILL_GRACE_MS 5000
#define JOB_RETRY_DELAY_MS 1000

struct job_proc {
	struct runtime_job_priv *owner; /* NULL once let go */
	struct sw_proc proc;
};

struct runtime_job_priv {
	struct runtime_job *job;
	uv_loop_t *loop;
	char *log_path;
	char *exit_path;                /* LOG_DIR/<app>/<id>.exit, the waiter's report */
	char *workdir;
	char **env;                     /* NULL: env_error says why it could not be built */
	char env_error[256];
	char **argv;
	uv_timer_t timer;
	bool retry_pending;             /* the timer waits for the next attempt */
	bool timed_out;                 /* the attempt in flight was stopped for its timeout */
	struct job_proc *running;       /* the attempt in flight, or NULL */
	bool released;                  /* runtime_job_free was called */
	int open_handles;               /* timer + proc closes pending */
	void (*on_change)(struct runtime_job *job, void *data);
	void (*on_attempt)(struct runtime_job *job, void *data);
};

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void job_destroy(struct runtime_job_priv *p)
{
	struct runtime_job *job = p->job;
	runtime_env_free(p->env);
	free_strv(p->argv);
	free(p->log_path);
	free(p->exit_path);
	free(p->workdir);
	spec_app_unref(job->spec);
	free(job->app);
	free(job);
	free(p);
}

static void handle_closed(struct runtime_job_priv *p)
{
	if (--p->open_handles == 0 && p->released)
		job_destroy(p);
}

static void timer_closed(uv_handle_t *h)
{
	handle_closed(h->data);
}

static void proc_closed(struct sw_proc *sp)
{
	struct job_proc *jp = sw_container_of(sp, struct job_proc, proc);
	struct runtime_job_priv *p = jp->owner;
	free(jp);
	if (p)
		handle_closed(p);
}

static void notify(struct runtime_job_priv *p)
{
	if (!p->released && p->on_change)
		p->on_change(p->job, p->job->data);
}

static void spawn_attempt(struct runtime_job_priv *p);
static void retry_cb(uv_timer_t *t);
static void spawn_failed_cb(uv_timer_t *t);

/* An attempt ended with `how` (NULL reason: success). */
static void attempt_over(struct runtime_job_priv *p, const char *why)
{
	struct runtime_job *job = p->job;
	uv_timer_stop(&p->timer);
	if (!why) {
		job->phase = RUNTIME_JOB_SUCCEEDED;
		job->duration_ms = sw_now_ms() - job->started_ms;
		snprintf(job->reason, sizeof(job->reason), "succeeded (attempt %u/%u)", job->attempt,
			 job->attempts);
		notify(p);
		return;
	}
	/* why is cut so that the attempt always shows */
	snprintf(job->reason, sizeof(job->reason), "%.200s (attempt %u/%u)", why, job->attempt,
		 job->attempts);
	if (job->attempt < job->attempts) {
		p->retry_pending = true;
		notify(p);
		if (p->released)
			return;
		uv_timer_start(&p->timer, retry_cb, JOB_RETRY_DELAY_MS, 0);
		return;
	}
	job->phase = RUNTIME_JOB_FAILED;
	job->duration_ms = sw_now_ms() - job->started_ms;
	notify(p);
}

static void retry_cb(uv_timer_t *t)
{
	struct runtime_job_priv *p = t->data;
	p->retry_pending = false;
	if (!p->released)
		spawn_attempt(p);
}

static void on_timeout(uv_timer_t *t)
{
	struct runtime_job_priv *p = t->data;
	if (!p->running)
		return;
	p->timed_out = true;
	sw_proc_stop(&p->running->proc, SIGTERM, JOB_KILL_GRACE_MS);
}

/*
 * How an attempt's command ended, from the waiter's exit file: writes
 * the reason to why ("" for success). Returns 1 when the file had this
 * attempt's result, 0 when the waiter got no go (nothing ran), -1 when
 * there is no result for this attempt.
 */
static int read_exit(struct runtime_job_priv *p, char *why, size_t size)
{
	char text[128], word[24];
	unsigned attempt = 0;
	long long v = 0;
	int n = -1;
	FILE *f = fopen(p->exit_path, "re");
	if (!f)
		return -1;
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	if (sscanf(text, "%u %23s %lld", &attempt, word, &v) < 2 || attempt != p->job->attempt)
		return -1;
	why[0] = '\0';
	if (strcmp(word, "not-started") == 0)
		return 0;
	if (strcmp(word, "exited") == 0) {
		n = 1;
		if (v != 0)
			snprintf(why, size, "exited with status %lld", v);
	} else if (strcmp(word, "signal") == 0) {
		const char *abbrev = v > 0 && v < 128 ? sigabbrev_np((int)v) : NULL;
		n = 1;
		if (abbrev)
			snprintf(why, size, "killed by signal %lld (SIG%s)", v, abbrev);
		else
			snprintf(why, size, "killed by signal %lld", v);
	} else if (strcmp(word, "cannot-start") == 0) {
		n = 1;
		snprintf(why, size, "cannot start \"%s\": %s", p->argv[0], strerror((int)v));
	}
	return n;
}

/* The attempt's waiter is gone (how: as core/proc saw it, NULL when it
 * was gone before we could watch it). */
static void attempt_ended(struct runtime_job_priv *p, const struct sw_proc_exit *how)
{
	char why[200];
	int r = read_exit(p, why, sizeof(why));
	p->job->handle[0] = '\0';
	if (p->timed_out) {
		char d[32];
		sw_duration_format(d, sizeof(d), p->job->hook->timeout_ms);
		snprintf(why, sizeof(why), "timed out after %s", d);
	} else if (r == 0 && (p->job->adopted || p->job->resumed)) {
		/* its daemon died before the go: nothing ran, run it now */
		p->job->adopted = p->job->resumed = false;
		p->job->attempt--;
		spawn_attempt(p);
		return;
	} else if (r == 0) {
		snprintf(why, sizeof(why), "its waiter got no go from the daemon");
	} else if (r < 0) {
		snprintf(why, sizeof(why), "%s",
			 how ? how->reason : "ended while the daemon was down, status unknown");
	}
	attempt_over(p, why[0] ? why : NULL);
}

static void on_exit_cb(struct sw_proc *sp, const struct sw_proc_exit *how)
{
	struct job_proc *jp = sw_container_of(sp, struct job_proc, proc);
	struct runtime_job_priv *p = jp->owner;
	sw_proc_close(sp, proc_closed);
	if (!p)
		return;
	p->running = NULL;
	if (p->released)
		return;
	attempt_ended(p, how);
}

static void log_line(const char *path, const char *line)
{
	struct sw_err err = {0};
	int fd = logfile_open(path, &err);
	if (fd < 0)
		return;
	ssize_t w = write(fd, line, strlen(line));
	(void)w;
	close(fd);
}

static void spawn_attempt(struct runtime_job_priv *p)
{
	struct runtime_job *job = p->job;
	struct sw_err err = {0};
	struct buf b = BUF_INIT;
	char when[32], exe[PATH_MAX], attempt[16];
	time_t now = time(NULL);
	struct tm tm;
	int fd = -1, go[2] = {-1, -1};
	size_t argc = 0;

	job->attempt++;
	p->timed_out = false;
	unlink(p->exit_path);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	buf_addf(&b, "--- %s hook \"%s\" of revision %lld, attempt %u/%u at %s ---\n",
		 job->id, job->hook->name, (long long)job->revision, job->attempt, job->attempts, when);
	log_line(p->log_path, b.s);
	buf_release(&b);

	fd = logfile_open(p->log_path, &err);
	if (fd < 0) {
		attempt_over(p, err.msg);
		return;
	}
	if (!p->env) { /* an age value its keys cannot open: a failed attempt */
		close(fd);
		sw_errf(&err, -1, "%s", p->env_error);
		goto failed;
	}
	if (pipe2(go, O_CLOEXEC) < 0) {
		close(fd);
		sw_errf(&err, -1, "cannot start the job's waiter: %s", strerror(errno));
		goto failed;
	}
	/* the waiter is this binary; /proc/self/exe when the file on disk
	 * cannot be named (an upgrade replaced it) */
	if (sw_proc_self_exe(exe, sizeof(exe), NULL) < 0 || access(exe, X_OK) < 0)
		sw_strlcpy(exe, "/proc/self/exe", sizeof(exe));
	snprintf(attempt, sizeof(attempt), "%u", job->attempt);
	while (p->argv[argc])
		argc++;
	char **argv = xcalloc(argc + 6, sizeof(*argv));
	argv[0] = exe;
	argv[1] = "job-waiter";
	argv[2] = p->exit_path;
	argv[3] = attempt;
	argv[4] = "--";
	for (size_t i = 0; i < argc; i++)
		argv[5 + i] = p->argv[i];
	struct job_proc *jp = xcalloc(1, sizeof(*jp));
	struct sw_proc_options o = {
		.argv = argv,
		.env = p->env,
		.cwd = p->workdir,
		.stdin_fd = go[0],
		.stdout_fd = fd,
		.stderr_fd = fd,
		.on_exit = on_exit_cb,
		.data = jp,
	};
	int r = sw_proc_spawn(&jp->proc, p->loop, &o, &err);
	free(argv);
	close(fd);
	close(go[0]);
	if (r < 0) {
		close(go[1]);
		free(jp);
		goto failed;
	}
	jp->owner = p;
	p->running = jp;
	p->open_handles++;
	handle_format(job->handle, jp->proc.pid, jp->proc.start_time);
	job->attempt_wall_ms = sw_wall_ms();
	if (job->attempt == 1)
		job->started_wall_ms = job->attempt_wall_ms;
	/* the handle is stored before the command may run */
	if (p->on_attempt && !p->released)
		p->on_attempt(job, job->data);
	if (!p->released) {
		ssize_t w;
		do
			w = write(go[1], "g", 1);
		while (w < 0 && errno == EINTR);
	}
	/* let go of from on_attempt: the waiter sees EOF and runs nothing */
	close(go[1]);
	if (!p->released)
		uv_timer_start(&p->timer, on_timeout, job->hook->timeout_ms, 0);
	return;
failed:
	log_line(p->log_path, err.msg);
	log_line(p->log_path, "\n");
	/* from the loop, like every other result */
	sw_strlcpy(job->reason, err.msg, sizeof(job->reason));
	uv_timer_start(&p->timer, spawn_failed_cb, 0, 0);
}

static void spawn_failed_cb(uv_timer_t *t)
{
	struct runtime_job_priv *p = t->data;
	char why[256];
	snprintf(why, sizeof(why), "%s", p->job->reason);
	attempt_over(p, why);
}

static void first_attempt(uv_timer_t *t)
{
	struct runtime_job_priv *p = t->data;
	if (!p->released)
		spawn_attempt(p);
}

/* A stored attempt whose waiter had ended before we could watch it. */
static void resume_cb(uv_timer_t *t)
{
	struct runtime_job_priv *p = t->data;
	if (!p->released)
		attempt_ended(p, NULL);
}

/* Takes over the attempt o->handle names (see runtime_job_start). */
static int job_adopt(struct runtime_job_priv *p, const struct runtime_job_options *o,
		     struct sw_err *err)
{
	struct runtime_job *job = p->job;
	uint64_t start_time = 0;
	pid_t pid = 0;
	if (handle_parse(o->handle, &pid, &start_time, err) < 0)
		return -1;
	job->attempt = o->attempt ? o->attempt : 1;
	job->attempt_wall_ms = o->attempt_wall_ms;
	job->started_wall_ms = o->started_wall_ms;
	/* the monotonic start, as far as the wall clock tells */
	int64_t since = sw_wall_ms() - o->started_wall_ms;
	if (since > 0 && (uint64_t)since < job->started_ms)
		job->started_ms -= (uint64_t)since;
	struct job_proc *jp = xcalloc(1, sizeof(*jp));
	struct sw_proc_options po = {.on_exit = on_exit_cb, .data = jp};
	if (sw_proc_adopt(&jp->proc, p->loop, pid, start_time, &po, NULL) < 0) {
		/* ended while no daemon watched: its exit file says how. After
		 * an upgrade (exec) it was our child: reap the zombie (a pid
		 * cannot be reused while it is one) */
		waitpid(pid, NULL, WNOHANG);
		free(jp);
		job->resumed = true;
		uv_timer_start(&p->timer, resume_cb, 0, 0);
		return 0;
	}
	jp->owner = p;
	p->running = jp;
	p->open_handles++;
	job->adopted = true;
	sw_strlcpy(job->handle, o->handle, sizeof(job->handle));
	int64_t ran = sw_wall_ms() - o->attempt_wall_ms;
	uint64_t left = job->hook->timeout_ms;
	if (ran > 0)
		left = (uint64_t)ran >= left ? 0 : left - (uint64_t)ran;
	uv_timer_start(&p->timer, on_timeout, left, 0);
	return 0;
}

struct runtime_job *runtime_job_start(struct runtime *rt, struct spec_app *spec, int64_t revision,
				      const struct spec_hook *hook,
				      const struct runtime_job_options *o, struct sw_err *err)
{
	struct buf b = BUF_INIT;
	const char *id = o->id;
	if (!id || !id[0] || strchr(id, '/') || strlen(id) >= sizeof(((struct runtime_job *)0)->id)) {
		sw_errf(err, SW_EINVAL, "bad job id \"%s\"", id ? id : "");
		return NULL;
	}
	buf_addf(&b, "%s/%s", rt->log_dir, runtime_log_name(spec));
	if (logfile_mkdirs(b.s, err) < 0) {
		buf_release(&b);
		return NULL;
	}
	size_t dir_len = b.len;
	buf_addf(&b, "/%s.exit", id);
	char *exit_path = buf_detach(&b);
	buf_add(&b, exit_path, dir_len);
	buf_addf(&b, "/%s.log", id);

	struct runtime_job *job = xcalloc(1, sizeof(*job));
	struct runtime_job_priv *p = xcalloc(1, sizeof(*p));
	job->priv = p;
	p->job = job;
	snprintf(job->id, sizeof(job->id), "%s", id);
	job->app = xstrdup(spec->name);
	job->revision = revision;
	job->spec = spec_app_ref(spec);
	job->hook = hook;
	job->phase = RUNTIME_JOB_RUNNING;
	job->attempts = hook->retries + 1;
	job->started_ms = sw_now_ms();
	job->data = o->data;
	p->loop = rt->cfg.loop;
	p->log_path = buf_detach(&b);
	p->exit_path = exit_path;
	p->workdir = xstrdup(spec->workdir);
	p->on_change = o->on_change;
	p->on_attempt = o->on_attempt;

	struct spec_vars vars = {.port = "", .version = spec->version, .instance = id,
				 .app = spec->name};
	p->argv = xcalloc(hook->argc + 1, sizeof(char *));
	for (size_t i = 0; i < hook->argc; i++) {
		char *s = spec_substitute(hook->command[i], &vars);
		p->argv[i] = s ? s : xstrdup(hook->command[i]);
	}
	char *own[7];
	buf_addf(&b, "SLIPWAY_APP=%s", spec->name);
	own[0] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_ENVIRONMENT=%s", runtime_env_name(spec));
	own[5] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_VERSION=%s", spec->version ? spec->version : "");
	own[1] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_REVISION=%lld", (long long)revision);
	own[2] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_HOOK=%s", o->kind_name);
	own[3] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_JOB=%s", id);
	own[4] = buf_detach(&b);
	own[6] = NULL;
	struct sw_err eerr = {0};
	p->env = runtime_env_build(spec, &vars, hook->env, hook->nenv, own, runtime_age_ids(rt, spec),
				   &eerr);
	if (!p->env) /* each attempt fails with it, as any that cannot start */
		sw_strlcpy(p->env_error, eerr.msg, sizeof(p->env_error));
	for (size_t i = 0; i < 6; i++)
		free(own[i]);

	uv_timer_init(p->loop, &p->timer);
	p->timer.data = p;
	p->open_handles = 1;
	if (o->handle && o->handle[0]) {
		if (job_adopt(p, o, err) < 0) {
			runtime_job_free(job);
			return NULL;
		}
		return job;
	}
	/* the first attempt from the loop: on_change never runs inside this call */
	uv_timer_start(&p->timer, first_attempt, 0, 0);
	return job;
}

/* Marks the job released and closes its handles; a running attempt is
 * killed (kill) or left running (forget). */
static void job_release(struct runtime_job *job, bool kill)
{
	if (!job)
		return;
	struct runtime_job_priv *p = job->priv;
	SW_ASSERT(!p->released);
	p->released = true;
	if (p->running) {
		struct job_proc *jp = p->running;
		p->running = NULL;
		if (kill)
			/* on_exit closes it and the close accounts for the handle */
			sw_proc_stop(&jp->proc, SIGKILL, 0);
		else
			sw_proc_close(&jp->proc, proc_closed);
	}
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, timer_closed);
}

void runtime_job_free(struct runtime_job *job)
{
	job_release(job, true);
}

void runtime_job_forget(struct runtime_job *job)
{
	job_release(job, false);
}

/* ---- the waiter: `slipway job-waiter` ---- */

static void write_exit(const char *path, const char *attempt, const char *what, long long v)
{
	char tmp[PATH_MAX], text[96];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return;
	int n = snprintf(text, sizeof(text), "%s %s %lld\n", attempt, what, v);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	bool ok = write(fd, text, (size_t)n) == n;
	/* a result must survive the machine too: the daemon acts on it */
	ok = fsync(fd) == 0 && ok;
	if (close(fd) == 0 && ok)
		rename(tmp, path);
	else
		unlink(tmp);
}

int runtime_job_waiter_main(int argc, char **argv)
{
	static const int ignored[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
	int i = 1;
	/* main.c puts the state dir first; the waiter has no use for it */
	while (i + 1 < argc && strcmp(argv[i], "--state-dir") == 0)
		i += 2;
	if (argc - i < 4 || strcmp(argv[i + 2], "--") != 0) {
		fprintf(stderr, "usage: slipway job-waiter EXIT_FILE ATTEMPT -- COMMAND...\n"
				"(run by slipway serve for hook jobs, docs/internals/runtime.md)\n");
		return 2;
	}
	const char *exit_path = argv[i], *attempt = argv[i + 1];
	char **cmd = argv + i + 3;
	char go;
	ssize_t n;
	do
		n = read(0, &go, 1);
	while (n < 0 && errno == EINTR);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		close(null);
	}
	if (n != 1) {
		/* the daemon died before it stored our handle: run nothing */
		write_exit(exit_path, attempt, "not-started", 0);
		return 0;
	}
	for (size_t k = 0; k < sizeof(ignored) / sizeof(ignored[0]); k++)
		signal(ignored[k], SIG_IGN);
	/* exec failures come back through a close-on-exec pipe */
	int errp[2];
	if (pipe2(errp, O_CLOEXEC) < 0) {
		write_exit(exit_path, attempt, "cannot-start", errno);
		return 1;
	}
	pid_t child = fork();
	if (child < 0) {
		write_exit(exit_path, attempt, "cannot-start", errno);
		return 1;
	}
	if (child == 0) {
		for (size_t k = 0; k < sizeof(ignored) / sizeof(ignored[0]); k++)
			signal(ignored[k], SIG_DFL);
		close(errp[0]);
		execvp(cmd[0], cmd);
		int e = errno;
		ssize_t w = write(errp[1], &e, sizeof(e));
		(void)w;
		_exit(127);
	}
	close(errp[1]);
	int e = 0;
	do
		n = read(errp[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(errp[0]);
	int st = 0;
	pid_t r;
	do
		r = waitpid(child, &st, 0);
	while (r < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(e))
		write_exit(exit_path, attempt, "cannot-start", e);
	else if (r == child && WIFSIGNALED(st))
		write_exit(exit_path, attempt, "signal", WTERMSIG(st));
	else if (r == child)
		write_exit(exit_path, attempt, "exited", WEXITSTATUS(st));
	/* what the job left in its group goes now, and we with it */
	if (getpgrp() == getpid())
		kill(0, SIGKILL);
	return 0;
}
