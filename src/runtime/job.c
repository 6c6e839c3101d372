/*
 * Jobs: a hook's command run to completion, with a timeout per attempt,
 * retries and a log file (runtime.h). One struct runtime_job_priv per
 * job, holding one sw_proc at a time and one timer that serves as the
 * attempt's timeout and as the pause before a retry.
 *
 * The struct is freed only once every handle is closed: runtime_job_free
 * marks it released (no callback after that), kills a running attempt
 * and closes the timer; the last close frees.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
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
	char *workdir;
	char **env;
	char **argv;
	uv_timer_t timer;
	bool retry_pending;             /* the timer waits for the next attempt */
	bool timed_out;                 /* the attempt in flight was stopped for its timeout */
	struct job_proc *running;       /* the attempt in flight, or NULL */
	bool released;                  /* runtime_job_free was called */
	int open_handles;               /* timer + proc closes pending */
	void (*on_change)(struct runtime_job *job, void *data);
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
	free_strv(p->env);
	free_strv(p->argv);
	free(p->log_path);
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
	char why[160];
	if (p->timed_out) {
		char d[32];
		sw_duration_format(d, sizeof(d), p->job->hook->timeout_ms);
		snprintf(why, sizeof(why), "timed out after %s", d);
	} else if (how->status == 0 && how->signal == 0) {
		attempt_over(p, NULL);
		return;
	} else {
		snprintf(why, sizeof(why), "%s", how->reason);
	}
	attempt_over(p, why);
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
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	int fd = -1;

	job->attempt++;
	p->timed_out = false;
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
	struct job_proc *jp = xcalloc(1, sizeof(*jp));
	struct sw_proc_options o = {
		.argv = p->argv,
		.env = p->env,
		.cwd = p->workdir,
		.stdin_fd = -1,
		.stdout_fd = fd,
		.stderr_fd = fd,
		.on_exit = on_exit_cb,
		.data = jp,
	};
	if (sw_proc_spawn(&jp->proc, p->loop, &o, &err) < 0) {
		close(fd);
		free(jp);
		log_line(p->log_path, err.msg);
		log_line(p->log_path, "\n");
		/* from the loop, like every other result */
		sw_strlcpy(job->reason, err.msg, sizeof(job->reason));
		uv_timer_start(&p->timer, spawn_failed_cb, 0, 0);
		return;
	}
	close(fd);
	jp->owner = p;
	p->running = jp;
	p->open_handles++;
	uv_timer_start(&p->timer, on_timeout, job->hook->timeout_ms, 0);
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

struct runtime_job *runtime_job_start(struct runtime *rt, struct spec_app *spec, int64_t revision,
				      const struct spec_hook *hook, const char *kind_name,
				      const char *id,
				      void (*on_change)(struct runtime_job *job, void *data),
				      void *data, struct sw_err *err)
{
	struct buf b = BUF_INIT;
	if (!id || !id[0] || strchr(id, '/') || strlen(id) >= sizeof(((struct runtime_job *)0)->id)) {
		sw_errf(err, SW_EINVAL, "bad job id \"%s\"", id ? id : "");
		return NULL;
	}
	buf_addf(&b, "%s/%s", rt->log_dir, spec->name);
	if (logfile_mkdirs(b.s, err) < 0) {
		buf_release(&b);
		return NULL;
	}
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
	job->data = data;
	p->loop = rt->cfg.loop;
	p->log_path = buf_detach(&b);
	p->workdir = xstrdup(spec->workdir);
	p->on_change = on_change;

	struct spec_vars vars = {.port = "", .version = spec->version, .instance = id,
				 .app = spec->name};
	p->argv = xcalloc(hook->argc + 1, sizeof(char *));
	for (size_t i = 0; i < hook->argc; i++) {
		char *s = spec_substitute(hook->command[i], &vars);
		p->argv[i] = s ? s : xstrdup(hook->command[i]);
	}
	char *own[6];
	buf_addf(&b, "SLIPWAY_APP=%s", spec->name);
	own[0] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_VERSION=%s", spec->version ? spec->version : "");
	own[1] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_REVISION=%lld", (long long)revision);
	own[2] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_HOOK=%s", kind_name);
	own[3] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_JOB=%s", id);
	own[4] = buf_detach(&b);
	own[5] = NULL;
	p->env = runtime_env_build(spec, &vars, hook->env, hook->nenv, own);
	for (size_t i = 0; i < 5; i++)
		free(own[i]);

	uv_timer_init(p->loop, &p->timer);
	p->timer.data = p;
	p->open_handles = 1;
	/* the first attempt from the loop: on_change never runs inside this call */
	uv_timer_start(&p->timer, first_attempt, 0, 0);
	return job;
}

void runtime_job_free(struct runtime_job *job)
{
	if (!job)
		return;
	struct runtime_job_priv *p = job->priv;
	SW_ASSERT(!p->released);
	p->released = true;
	if (p->running) {
		struct job_proc *jp = p->running;
		p->running = NULL;
		sw_proc_stop(&jp->proc, SIGKILL, 0);
		/* on_exit closes it and the close accounts for the handle */
	}
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, timer_closed);
}
