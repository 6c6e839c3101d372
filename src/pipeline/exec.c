/*
 * The executor (exec.h): the scheduler's actions done on a libuv loop.
 *
 * Events for the scheduler are queued and fed one at a time by feed(),
 * so that an action that ends a job at once (a stop of a job still
 * waiting for a worker) never feeds the scheduler from inside itself.
 * A job run is a little state machine of its own: begin (workspace,
 * environment), then for each step: decide its if:, spawn, read its log,
 * wait for the three things that end a step (the process exited, its
 * pipe reached EOF, its struct closed), read its files, retry or go on;
 * after the last step, its outputs and DONE.
 */
#include "exec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/proc.h"
#include "pipeline_int.h"
#include "results.h"

extern char **environ;

#define LINE_MAX_BYTES (64 * 1024) /* a longer line is handed on in pieces */

enum job_phase { J_IDLE, J_QUEUED, J_RUNNING, J_DONE };

struct job {
	struct pipeline_exec *x;
	size_t run;
	const struct pipeline_job *pj;
	enum job_phase phase;
	char *slug;                 /* file name made of its run's name */
	char *ws, *files, *out_path, *env_path, *tmp;
	json_t *env;                /* object: pipeline, job env and what $SLIPWAY_ENV added */
	json_t *steps;              /* the steps context */
	size_t step;                /* the step running or next */
	unsigned attempt;
	bool failed;                /* a step failed (not continue-on-error) */
	bool stopped;               /* the scheduler stopped it */
	bool step_timed_out;
	bool step_live;             /* a process runs for the current step */
	char *reason;               /* why it failed, the first reason */
	uint64_t began_ms, step_began_ms;
	/* the current step's process */
	struct sw_proc proc;
	uv_pipe_t *pipe;
	uv_timer_t timer;           /* the step's timeout */
	bool timer_init;
	int pending;                /* of exit, EOF, close */
	struct sw_proc_exit how;
	struct buf partial;
	uint64_t log_bytes;
	bool log_cut;
};

struct queued_event {
	struct pipeline_event ev;
	json_t *outputs;            /* owned */
};

struct pipeline_exec {
	uv_loop_t *loop;
	const struct pipeline_plan *plan;
	struct pipeline_exec_options o;
	struct pipeline_secret *secrets;
	char **mask;                /* secret values as pipeline_mask takes them */
	size_t nmask;
	struct pipeline_dag dag;
	struct job *jobs;           /* per plan run */
	size_t *queue, qhead, qlen; /* runs waiting for a worker */
	unsigned workers, busy;
	uv_timer_t dag_timer;
	uv_timer_t kick;            /* start and cancel act from the loop, never inside the call */
	bool start_pending, cancel_pending, force_pending;
	struct queued_event *evq;
	size_t nev, evalloc;
	bool feeding, finished, force, freed;
	int handles;                /* open uv handles */
	char *bwrap, *shell;        /* absolute paths; bwrap NULL without the sandbox */
	bool bash;
	char *run_dir;              /* absolute */
	char *checkout;             /* absolute */
	char *gitdir;               /* the checkout's repository when it is its top, or NULL */
	enum pipeline_state result;
	char *result_reason;
};

static void feed(struct pipeline_exec *x, const struct pipeline_event *ev);
static void next_step(struct job *j);
static void job_end(struct job *j);

/* ---- small helpers ---------------------------------------------------- */

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An absolute path of an executable named `name` in PATH, or NULL. */
static char *which(const char *name)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p;) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n) {
			struct buf b = BUF_INIT;
			buf_addf(&b, "%.*s/%s", (int)n, p, name);
			if (access(b.s, X_OK) == 0 && b.s[0] == '/')
				return buf_detach(&b);
			buf_release(&b);
		}
		p += n + (e ? 1 : 0);
	}
	return NULL;
}

int pipeline_capture(struct buf *out, char *const *argv, const char *cwd)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		if (cwd && chdir(cwd) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	buf_add_fd(out, fds[0]);
	close(fds[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

char *pipeline_newf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = buf_vnewf(fmt, ap);
	va_end(ap);
	return s;
}

void pipeline_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

char *pipeline_slug(const char *name)
{
	struct buf b = BUF_INIT;
	for (const char *s = name; *s; s++) {
		char c = *s;
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.')
			buf_addc(&b, c);
		else if (c >= 'A' && c <= 'Z')
			buf_addc(&b, (char)(c - 'A' + 'a'));
		else if (b.len && b.s[b.len - 1] != '-')
			buf_addc(&b, '-');
	}
	while (b.len && b.s[b.len - 1] == '-')
		b.s[--b.len] = '\0';
	if (!b.len || b.s[0] == '.')
		buf_adds(&b, "job");
	return buf_detach(&b);
}

static int mkdir_p(const char *path, struct sw_err *err)
{
	char *p = xstrdup(path);
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s == '/' || !*s) {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST) {
				rc = sw_errf(err, -1, "cannot make \"%s\": %s", p, strerror(errno));
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

static int write_file(const char *path, const char *text, struct sw_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t n = strlen(text);
	if (fd < 0 || (n && write(fd, text, n) != (ssize_t)n)) {
		if (fd >= 0)
			close(fd);
		return sw_errf(err, -1, "cannot write \"%s\": %s", path, strerror(errno));
	}
	close(fd);
	return 0;
}

/* ---- the workspace: a copy of the checkout ---------------------------- */

static int copy_file(const char *src, const char *dst, mode_t mode, struct sw_err *err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
	if (in < 0)
		return sw_errf(err, -1, "cannot read \"%s\": %s", src, strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
	if (out < 0) {
		rc = sw_errf(err, -1, "cannot write \"%s\": %s", dst, strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n == 0)
			break;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		/* another file system or kernel: plain reads and writes */
		char b[65536];
		ssize_t k;
		while ((k = read(in, b, sizeof(b))) > 0)
			if (write(out, b, (size_t)k) != k) {
				k = -1;
				break;
			}
		if (k < 0)
			rc = sw_errf(err, -1, "cannot copy \"%s\": %s", src, strerror(errno));
		break;
	}
out:
	close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* Copies checkout/rel to ws/rel, making its parents. */
static int copy_entry(const char *checkout, const char *ws, const char *rel, struct sw_err *err)
{
	struct buf src = BUF_INIT, dst = BUF_INIT;
	struct stat st;
	int rc = 0;
	buf_addf(&src, "%s/%s", checkout, rel);
	buf_addf(&dst, "%s/%s", ws, rel);
	if (lstat(src.s, &st) < 0)
		goto out; /* listed but deleted since: as git would see it */
	char *slash = strrchr(dst.s, '/');
	*slash = '\0';
	rc = mkdir_p(dst.s, err);
	*slash = '/';
	if (rc < 0)
		goto out;
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(src.s, target, sizeof(target) - 1);
		if (n >= 0) {
			target[n] = '\0';
			if (symlink(target, dst.s) < 0 && errno != EEXIST)
				rc = sw_errf(err, -1, "cannot make \"%s\": %s", dst.s, strerror(errno));
		}
	} else if (S_ISREG(st.st_mode)) {
		rc = copy_file(src.s, dst.s, st.st_mode, err);
	} else if (S_ISDIR(st.st_mode)) {
		rc = mkdir_p(dst.s, err);
	}
out:
	buf_release(&src);
	buf_release(&dst);
	return rc;
}

/* Without git: every file but .git and .slipway/runs, recursively. */
static int copy_tree(const char *checkout, const char *ws, struct buf *rel, struct sw_err *err)
{
	struct buf dir = BUF_INIT;
	buf_addf(&dir, "%s%s%s", checkout, rel->len ? "/" : "", rel->s);
	DIR *d = opendir(dir.s);
	int rc = 0;
	if (!d) {
		rc = sw_errf(err, -1, "cannot read \"%s\": %s", dir.s, strerror(errno));
		goto out;
	}
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		size_t keep = rel->len;
		buf_addf(rel, "%s%s", rel->len ? "/" : "", e->d_name);
		if (strcmp(rel->s, ".git") == 0 || strcmp(rel->s, ".slipway/runs") == 0) {
			/* skipped */
		} else if (e->d_type == DT_DIR) {
			rc = copy_tree(checkout, ws, rel, err);
		} else {
			rc = copy_entry(checkout, ws, rel->s, err);
		}
		rel->len = keep;
		rel->s[keep] = '\0';
	}
	closedir(d);
out:
	buf_release(&dir);
	return rc;
}

static int workspace_make(struct pipeline_exec *x, const char *ws, struct sw_err *err)
{
	if (mkdir_p(ws, err) < 0)
		return -1;
	struct buf list = BUF_INIT;
	char *argv[] = {"git", "-C", x->checkout, "ls-files", "-z", "-co", "--exclude-standard", NULL};
	int rc = 0;
	if (x->gitdir && pipeline_capture(&list, argv, NULL) == 0) {
		for (size_t i = 0; i < list.len && rc == 0; i += strlen(list.s + i) + 1) {
			const char *rel = list.s + i;
			if (strncmp(rel, ".slipway/runs/", 14) == 0 || !*rel)
				continue;
			rc = copy_entry(x->checkout, ws, rel, err);
		}
		if (rc == 0) {
			/* git reads work in the copy; the repository stays read-only in the sandbox */
			struct buf path = BUF_INIT, text = BUF_INIT;
			buf_addf(&path, "%s/.git", ws);
			buf_addf(&text, "gitdir: %s\n", x->gitdir);
			rc = write_file(path.s, text.s, err);
			buf_release(&path);
			buf_release(&text);
		}
	} else {
		struct buf rel = BUF_INIT;
		buf_adds(&rel, "");
		rc = copy_tree(x->checkout, ws, &rel, err);
		buf_release(&rel);
	}
	buf_release(&list);
	return rc;
}

/* ---- outputs files and masking (pure) -------------------------------- */

static bool kv_name_ok(const char *s, size_t n)
{
	char *name = xstrndup(s, n);
	bool ok = pipeline_id_ok(name);
	free(name);
	return ok;
}

int pipeline_kv_parse(json_t *into, const char *text, size_t len, struct sw_err *err)
{
	size_t i = 0, line = 0;
	while (i < len) {
		const char *s = text + i, *nl = memchr(s, '\n', len - i);
		size_t n = nl ? (size_t)(nl - s) : len - i;
		i += n + (nl ? 1 : 0);
		line++;
		if (n && s[n - 1] == '\r')
			n--;
		if (!n)
			continue;
		const char *eq = memchr(s, '=', n), *here = NULL;
		for (size_t k = 0; k + 1 < n; k++)
			if (s[k] == '<' && s[k + 1] == '<') {
				here = s + k;
				break;
			}
		if (here && (!eq || here < eq)) {
			size_t nlen = (size_t)(here - s), dlen = n - nlen - 2, start_line = line;
			const char *delim = here + 2;
			if (!kv_name_ok(s, nlen) || !dlen)
				return sw_errf(err, -1, "line %zu: \"%.*s\" is not NAME=VALUE or NAME<<DELIMITER",
					       line, (int)(n > 60 ? 60 : n), s);
			struct buf v = BUF_INIT;
			bool closed = false, first = true;
			while (i < len) {
				const char *t = text + i, *tnl = memchr(t, '\n', len - i);
				size_t tn = tnl ? (size_t)(tnl - t) : len - i;
				i += tn + (tnl ? 1 : 0);
				line++;
				size_t cmp = tn && t[tn - 1] == '\r' ? tn - 1 : tn;
				if (cmp == dlen && memcmp(t, delim, dlen) == 0) {
					closed = true;
					break;
				}
				if (!first)
					buf_addc(&v, '\n');
				first = false;
				buf_add(&v, t, cmp);
			}
			if (!closed) {
				buf_release(&v);
				return sw_errf(err, -1, "line %zu: no line \"%.*s\" closes the value of \"%.*s\"",
					       start_line, (int)(dlen > 60 ? 60 : dlen), delim, (int)nlen, s);
			}
			char *name = xstrndup(s, nlen);
			json_object_set_new(into, name, json_stringn_nocheck(v.s ? v.s : "", v.len));
			free(name);
			buf_release(&v);
			continue;
		}
		if (!eq || !kv_name_ok(s, (size_t)(eq - s)))
			return sw_errf(err, -1, "line %zu: \"%.*s\" is not NAME=VALUE or NAME<<DELIMITER", line,
				       (int)(n > 60 ? 60 : n), s);
		char *name = xstrndup(s, (size_t)(eq - s));
		json_object_set_new(into, name, json_stringn_nocheck(eq + 1, n - (size_t)(eq - s) - 1));
		free(name);
	}
	return 0;
}

static int cmp_len_desc(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
	return la < lb ? 1 : la > lb ? -1 : strcmp(*(char *const *)a, *(char *const *)b);
}

char **pipeline_mask_values(const struct pipeline_secret *secrets, size_t nsecrets, size_t *n)
{
	char **v = NULL;
	size_t k = 0, alloc = 0;
	for (size_t i = 0; i < nsecrets; i++) {
		const char *s = secrets[i].value;
		while (*s) {
			const char *nl = strchr(s, '\n');
			size_t len = nl ? (size_t)(nl - s) : strlen(s);
			if (len && s[len - 1] == '\r')
				len--;
			if (len >= 3) {
				if (k == alloc) {
					alloc = alloc ? alloc * 2 : 8;
					v = xrealloc(v, alloc * sizeof(*v));
				}
				v[k++] = xstrndup(s, len);
			}
			s = nl ? nl + 1 : s + strlen(s);
		}
	}
	if (k)
		qsort(v, k, sizeof(*v), cmp_len_desc);
	*n = k;
	return v;
}

void pipeline_mask_values_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void pipeline_mask(struct buf *out, const char *line, size_t len, char *const *values, size_t n)
{
	size_t i = 0, from = 0;
	while (i < len) {
		size_t hit = 0;
		for (size_t k = 0; k < n && !hit; k++) {
			size_t vl = strlen(values[k]);
			if (vl <= len - i && memcmp(line + i, values[k], vl) == 0)
				hit = vl;
		}
		if (hit) {
			buf_add(out, line + from, i - from);
			buf_adds(out, "***");
			i += hit;
			from = i;
		} else {
			i++;
		}
	}
	buf_add(out, line + from, len - from);
}

/* ---- expressions in a step ------------------------------------------- */

struct step_ctx {
	struct job *j;
	json_t *env;                /* the env context */
	json_t *needs, *job, *runner, *strategy, *secrets;
};

static json_t *step_context(const char *name, void *data)
{
	struct step_ctx *c = data;
	struct job *j = c->j;
	struct pipeline_exec *x = j->x;
	const struct pipeline_plan *plan = x->plan;
	const struct pipeline_plan_run *r = &plan->runs[j->run];
	if (strcmp(name, "slipway") == 0)
		return x->dag.slipway;
	if (strcmp(name, "inputs") == 0)
		return x->dag.inputs;
	if (strcmp(name, "matrix") == 0)
		return r->matrix;
	if (strcmp(name, "env") == 0)
		return c->env;
	if (strcmp(name, "steps") == 0)
		return j->steps;
	if (strcmp(name, "needs") == 0) {
		if (!c->needs)
			c->needs = pipeline_dag_needs(&x->dag, j->run);
		return c->needs;
	}
	if (strcmp(name, "job") == 0) {
		if (!c->job)
			c->job = json_pack("{ss}", "status", j->stopped ? "cancelled" : j->failed ? "failure" : "success");
		return c->job;
	}
	if (strcmp(name, "runner") == 0) {
		if (!c->runner)
			c->runner = json_pack("{ss ss ss}", "os", "Linux", "temp", j->tmp, "arch",
#if defined(__x86_64__)
					      "X64"
#elif defined(__aarch64__)
					      "ARM64"
#else
					      "unknown"
#endif
			);
		return c->runner;
	}
	if (strcmp(name, "strategy") == 0) {
		if (!c->strategy) {
			const struct pipeline_plan_job *pj = &plan->jobs[r->job];
			c->strategy = json_pack("{sb sI sI sI}", "fail-fast", j->pj->strategy.fail_fast, "max-parallel",
						(json_int_t)(j->pj->strategy.max_parallel ? j->pj->strategy.max_parallel
											  : pj->nruns),
						"job-index", (json_int_t)(j->run - pj->first_run), "job-total",
						(json_int_t)pj->nruns);
		}
		return c->strategy;
	}
	if (strcmp(name, "secrets") == 0) {
		if (!c->secrets) {
			c->secrets = json_object();
			for (size_t k = 0; k < x->o.nsecrets; k++)
				json_object_set_new(c->secrets, x->secrets[k].name, json_string(x->secrets[k].value));
		}
		return c->secrets;
	}
	return NULL;
}

static void step_ctx_release(struct step_ctx *c)
{
	json_decref(c->needs);
	json_decref(c->job);
	json_decref(c->runner);
	json_decref(c->strategy);
	json_decref(c->secrets);
}

/* hashFiles() comes with the cache (docs/pipelines.md, "Not built yet"). */
static int hash_files(json_t **out, const char *const *patterns, size_t n, void *data, struct sw_err *err)
{
	*out = NULL;
	return sw_errf(err, -1, "hashFiles() is not built yet (it comes with the cache)");
}

static struct pipeline_expr_env expr_env(struct step_ctx *c)
{
	struct job *j = c->j;
	struct pipeline_expr_env e = {.context = step_context, .hash_files = hash_files, .data = c};
	e.cancelled = j->stopped || j->x->dag.cancelled;
	e.failure = j->failed;
	e.success = !e.failure && !e.cancelled;
	return e;
}

/* Sets each var of v into env, evaluating its template with env as it is. */
static int env_layer(json_t *env, const struct pipeline_var *v, size_t n, struct step_ctx *c,
		     struct sw_err *err)
{
	for (size_t i = 0; i < n; i++) {
		struct buf b = BUF_INIT;
		struct pipeline_expr_env e = expr_env(c);
		if (pipeline_template_eval(&b, v[i].value, &e, err) < 0) {
			buf_release(&b);
			char msg[sizeof(err->msg)];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			sw_err_clear(err); /* sw_errf keeps a message already set */
			return sw_errf(err, -1, "env %s: %s", v[i].name, msg);
		}
		json_object_set_new(env, v[i].name, json_string_nocheck(b.s));
		buf_release(&b);
	}
	return 0;
}

/* ---- reporting --------------------------------------------------------- */

static const char *step_name(const struct pipeline_step *s, struct buf *tmp)
{
	if (s->name)
		return s->name;
	const char *nl = strchr(s->run, '\n');
	buf_reset(tmp);
	buf_add(tmp, s->run, nl ? (size_t)(nl - s->run) : strlen(s->run));
	return tmp->s;
}

static void note(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct job *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = buf_vnewf(fmt, ap);
	va_end(ap);
	if (j->x->o.on_line) {
		struct pipeline_exec_line l = {j->run, j->step, text, strlen(text), wall_ms(), true};
		j->x->o.on_line(&l, j->x->o.data);
	}
	free(text);
}

static void report_step(struct job *j, enum pipeline_state st, bool outcome_failed, const char *reason)
{
	struct pipeline_exec *x = j->x;
	if (!x->o.on_step)
		return;
	struct buf tmp = BUF_INIT;
	struct pipeline_exec_step s = {
		.run = j->run, .step = j->step, .name = step_name(&j->pj->steps[j->step], &tmp), .state = st,
		.outcome_failed = outcome_failed, .attempt = j->attempt ? j->attempt : 1,
		.duration_ms = st == PIPELINE_RUNNING || st == PIPELINE_SKIPPED ? 0 : sw_now_ms() - j->step_began_ms,
		.reason = reason,
	};
	x->o.on_step(&s, x->o.data);
	buf_release(&tmp);
}

/* The step's result into the steps context (when it has an id). */
static void step_record(struct job *j, const char *outcome, const char *conclusion, json_t *outputs)
{
	const struct pipeline_step *s = &j->pj->steps[j->step];
	if (s->id)
		json_object_set_new(j->steps, s->id,
				    json_pack("{so ss ss}", "outputs", outputs ? outputs : json_object(), "outcome",
					      outcome, "conclusion", conclusion));
	else
		json_decref(outputs);
}

static void fail_reason(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_reason(struct job *j, const char *fmt, ...)
{
	if (j->reason)
		return;
	va_list ap;
	va_start(ap, fmt);
	j->reason = buf_vnewf(fmt, ap);
	va_end(ap);
}

/* ---- one step's process ------------------------------------------------ */

static void line_out(struct job *j, const char *s, size_t n)
{
	struct pipeline_exec *x = j->x;
	if (j->log_cut)
		return;
	if (j->log_bytes + n + 1 > PIPELINE_MAX_LOG) {
		j->log_cut = true;
		note(j, "the step's log is cut here: at most %u MiB per step", PIPELINE_MAX_LOG >> 20);
		return;
	}
	j->log_bytes += n + 1;
	if (!x->o.on_line)
		return;
	struct buf b = BUF_INIT;
	pipeline_mask(&b, s, n, x->mask, x->nmask);
	struct pipeline_exec_line l = {j->run, j->step, b.s, b.len, wall_ms(), false};
	x->o.on_line(&l, x->o.data);
	buf_release(&b);
}

static void lines_flush(struct job *j, bool all)
{
	struct buf *p = &j->partial;
	size_t from = 0;
	if (!p->len)
		return; /* nothing read yet (p->s may be NULL) */
	for (;;) {
		char *nl = memchr(p->s + from, '\n', p->len - from);
		if (!nl)
			break;
		size_t n = (size_t)(nl - (p->s + from));
		line_out(j, p->s + from, n && p->s[from + n - 1] == '\r' ? n - 1 : n);
		from += n + 1;
	}
	if (p->len - from >= LINE_MAX_BYTES || (all && p->len > from)) {
		line_out(j, p->s + from, p->len - from);
		from = p->len;
	}
	buf_consume(p, from);
}

static void step_settled(struct job *j);

static void piece_done(struct job *j)
{
	if (--j->pending == 0)
		step_settled(j);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	(void)h;
	(void)suggested;
	static char chunk[65536];
	b->base = chunk;
	b->len = sizeof(chunk);
}

static void pipe_closed(uv_handle_t *h)
{
	struct job *j = h->data;
	free(h);
	j->x->handles--;
	piece_done(j);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct job *j = s->data;
	if (n > 0) {
		buf_add(&j->partial, b->base, (size_t)n);
		lines_flush(j, false);
		return;
	}
	if (n == 0)
		return;
	lines_flush(j, true);
	uv_read_stop(s);
	uv_close((uv_handle_t *)s, pipe_closed);
	j->pipe = NULL;
}

static void proc_closed(struct sw_proc *p)
{
	struct job *j = p->data;
	j->x->handles--;
	piece_done(j);
}

static void step_exited(struct sw_proc *p, const struct sw_proc_exit *how)
{
	struct job *j = p->data;
	j->how = *how;
	j->step_live = false;
	uv_timer_stop(&j->timer);
	sw_proc_close(p, proc_closed);
	piece_done(j);
}

static void on_step_timeout(uv_timer_t *t)
{
	struct job *j = t->data;
	if (!j->step_live)
		return;
	j->step_timed_out = true;
	sw_proc_stop(&j->proc, SIGTERM, PIPELINE_STOP_GRACE_MS);
}

static bool keep_var(const char *name)
{
	static const char *const keep[] = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TERM", NULL};
	for (size_t i = 0; keep[i]; i++)
		if (strcmp(name, keep[i]) == 0)
			return true;
	return strncmp(name, "LC_", 3) == 0;
}

/*
 * Builds the step's environment block as NUL-separated K=V in b, *n
 * entries. Each name once, the later layer winning: what we keep of our
 * environment, the executor's variables, the document's env (with what
 * $SLIPWAY_ENV added), the secrets.
 */
static void env_block(struct job *j, json_t *env, struct buf *b, size_t *n)
{
	struct pipeline_exec *x = j->x;
	json_t *all = json_object();
	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		char *name = xstrndup(*e, (size_t)(eq - *e));
		if (keep_var(name))
			json_object_set_new(all, name, json_string_nocheck(eq + 1));
		free(name);
	}
	const struct pipeline_plan_run *r = &x->plan->runs[j->run];
	const char *ref = json_string_value(json_object_get(x->dag.slipway, "ref"));
	const char *sha = json_string_value(json_object_get(x->dag.slipway, "sha"));
	const char *event = json_string_value(json_object_get(x->dag.slipway, "event_name"));
	char *matrix = json_dumps(r->matrix, JSON_COMPACT | JSON_SORT_KEYS);
	const struct { const char *a, *b, *value; } vars[] = {
		{"CI", NULL, "true"},
		{"SLIPWAY", NULL, "true"},
		{"SLIPWAY_WORKSPACE", "GITHUB_WORKSPACE", j->ws},
		{"SLIPWAY_OUTPUT", "GITHUB_OUTPUT", j->out_path},
		{"SLIPWAY_ENV", "GITHUB_ENV", j->env_path},
		{"RUNNER_TEMP", NULL, j->tmp},
		{"RUNNER_OS", NULL, "Linux"},
		{"SLIPWAY_JOB", "GITHUB_JOB", j->pj->id},
		{"SLIPWAY_JOB_RUN", NULL, r->name},
		{"SLIPWAY_MATRIX", NULL, matrix},
		{"SLIPWAY_PIPELINE", "GITHUB_WORKFLOW", x->plan->p->name},
		{"SLIPWAY_RUN_NUMBER", "GITHUB_RUN_NUMBER", x->o.run_number ? x->o.run_number : "1"},
		{"SLIPWAY_REF", "GITHUB_REF", ref ? ref : ""},
		{"SLIPWAY_SHA", "GITHUB_SHA", sha ? sha : ""},
		{"SLIPWAY_EVENT_NAME", "GITHUB_EVENT_NAME", event ? event : "manual"},
		{"GIT_OPTIONAL_LOCKS", NULL, "0"}, /* git never writes the checkout's index for us */
	};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		json_object_set_new(all, vars[i].a, json_string_nocheck(vars[i].value));
		if (vars[i].b)
			json_object_set_new(all, vars[i].b, json_string_nocheck(vars[i].value));
	}
	free(matrix);
	json_object_update(all, env);
	for (size_t i = 0; i < x->o.nsecrets; i++)
		json_object_set_new(all, x->secrets[i].name, json_string_nocheck(x->secrets[i].value));
	const char *k;
	json_t *v;
	json_object_foreach(all, k, v) {
		buf_addf(b, "%s=%s", k, json_string_value(v));
		buf_add(b, "", 1); /* entries are NUL-separated; pointers are made after */
		(*n)++;
	}
	json_decref(all);
}

static int resolve_wd(struct job *j, const char *wd, struct buf *out, struct sw_err *err)
{
	buf_adds(out, j->ws);
	if (!wd || !*wd)
		return 0;
	bool up = false;
	for (const char *p = wd; *p;) {
		size_t n = strcspn(p, "/");
		up |= n == 2 && p[0] == '.' && p[1] == '.';
		p += n + (p[n] == '/');
	}
	if (wd[0] == '/' || up)
		return sw_errf(err, -1, "working-directory \"%s\" is not inside the workspace", wd);
	buf_addf(out, "/%s", wd);
	struct stat st;
	if (stat(out->s, &st) < 0 || !S_ISDIR(st.st_mode))
		return sw_errf(err, -1, "working-directory \"%s\" is not a directory of the workspace", wd);
	return 0;
}

/* Spawns the current step's attempt; -1 with err when it cannot start. */
static int step_spawn(struct job *j, const char *run, json_t *env, const char *wd, struct sw_err *err)
{
	struct pipeline_exec *x = j->x;
	struct buf block = BUF_INIT, cwd = BUF_INIT;
	char **envp = NULL, *argv[40];
	size_t nenv = 0, a = 0;
	int fds[2] = {-1, -1}, rc = -1;

	if (write_file(j->out_path, "", err) < 0 || write_file(j->env_path, "", err) < 0)
		goto out;
	if (resolve_wd(j, wd, &cwd, err) < 0)
		goto out;
	env_block(j, env, &block, &nenv);
	envp = xcalloc(nenv + 1, sizeof(*envp));
	for (size_t i = 0, k = 0; k < nenv; k++) {
		envp[k] = block.s + i;
		i += strlen(block.s + i) + 1;
	}
	if (x->bwrap) {
		char *const sb[] = {x->bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
				    "--tmpfs", "/tmp", "--ro-bind", x->checkout, x->checkout, /* under /tmp too */
				    "--bind", j->ws, j->ws, "--bind", j->files, j->files,
				    "--unshare-pid", "--die-with-parent", "--chdir", cwd.s};
		for (size_t i = 0; i < sizeof(sb) / sizeof(sb[0]); i++)
			argv[a++] = sb[i];
		if (j->pj->network == PIPELINE_NETWORK_NONE)
			argv[a++] = "--unshare-net";
		argv[a++] = "--";
	}
	argv[a++] = x->shell;
	if (x->bash) {
		argv[a++] = "--noprofile";
		argv[a++] = "--norc";
		argv[a++] = "-e";
		argv[a++] = "-o";
		argv[a++] = "pipefail";
	} else {
		argv[a++] = "-e";
	}
	argv[a++] = "-c";
	argv[a++] = (char *)run;
	argv[a] = NULL;
	if (uv_pipe(fds, 0, 0) < 0) {
		sw_errf(err, -1, "cannot make a pipe: %s", strerror(errno));
		goto out;
	}
	struct sw_proc_options po = {.argv = argv, .env = envp, .cwd = cwd.s, .stdin_fd = -1,
				     .stdout_fd = fds[1], .stderr_fd = fds[1], .on_exit = step_exited, .data = j};
	if (sw_proc_spawn(&j->proc, x->loop, &po, err) < 0)
		goto out;
	x->handles++;
	close(fds[1]);
	fds[1] = -1;
	j->pipe = xcalloc(1, sizeof(*j->pipe));
	uv_pipe_init(x->loop, j->pipe, 0);
	uv_pipe_open(j->pipe, fds[0]);
	fds[0] = -1;
	j->pipe->data = j;
	x->handles++;
	uv_read_start((uv_stream_t *)j->pipe, alloc_cb, on_read);
	j->pending = 3;
	j->step_live = true;
	j->step_timed_out = false;
	j->log_bytes = 0;
	j->log_cut = false;
	buf_reset(&j->partial);
	uint64_t limit = j->pj->steps[j->step].timeout_ms;
	if (limit)
		uv_timer_start(&j->timer, on_step_timeout, limit, 0);
	rc = 0;
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	free(envp);
	buf_release(&block);
	buf_release(&cwd);
	return rc;
}

static int read_capped(const char *path, const char *name, struct buf *b, struct sw_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* removed by the step: nothing written */
	b->cap = PIPELINE_MAX_OUTPUTS;
	int r = buf_add_fd(b, fd);
	close(fd);
	if (r < 0 && b->toobig)
		return sw_errf(err, -1, "%s holds more than %d MiB; at most %d MiB", name,
			       PIPELINE_MAX_OUTPUTS >> 20, PIPELINE_MAX_OUTPUTS >> 20);
	return 0;
}

/* What the step left in $SLIPWAY_OUTPUT and $SLIPWAY_ENV. */
static int step_files(struct job *j, json_t *outputs, struct sw_err *err)
{
	struct buf b = BUF_INIT;
	int rc = read_capped(j->out_path, "$SLIPWAY_OUTPUT", &b, err);
	if (rc == 0 && pipeline_kv_parse(outputs, b.s, b.len, err) < 0) {
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%s", err->msg);
		sw_err_clear(err); /* sw_errf keeps a message already set */
		rc = sw_errf(err, -1, "$SLIPWAY_OUTPUT %s", msg);
	}
	buf_release(&b);
	if (rc < 0)
		return rc;
	json_t *env = json_object();
	rc = read_capped(j->env_path, "$SLIPWAY_ENV", &b, err);
	if (rc == 0 && pipeline_kv_parse(env, b.s, b.len, err) < 0) {
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%s", err->msg);
		sw_err_clear(err); /* sw_errf keeps a message already set */
		rc = sw_errf(err, -1, "$SLIPWAY_ENV %s", msg);
	}
	if (rc == 0)
		json_object_update(j->env, env);
	json_decref(env);
	buf_release(&b);
	return rc;
}

static void step_finish(struct job *j, bool ok, const char *reason)
{
	const struct pipeline_step *s = &j->pj->steps[j->step];
	if (!ok && !j->stopped && s->continue_on_error) {
		note(j, "continue-on-error: the job goes on (%s)", reason);
		report_step(j, PIPELINE_SUCCESS, true, reason);
	} else if (!ok) {
		report_step(j, j->stopped && !j->step_timed_out ? PIPELINE_CANCELLED : PIPELINE_FAILURE, false,
			    reason);
		if (!j->stopped) {
			j->failed = true;
			struct buf tmp = BUF_INIT;
			fail_reason(j, "step \"%s\" %s", step_name(s, &tmp), reason);
			buf_release(&tmp);
		}
	} else {
		report_step(j, PIPELINE_SUCCESS, false, NULL);
	}
	j->step++;
	j->attempt = 0;
	next_step(j);
}

/* The process exited, its pipe closed and its struct too. */
static void step_settled(struct job *j)
{
	struct pipeline_exec *x = j->x;
	const struct pipeline_step *s = &j->pj->steps[j->step];
	struct sw_err err = {0};
	char reason[160];
	bool ok = j->how.status == 0 && !j->step_timed_out;
	json_t *outputs = json_object();
	if (j->step_timed_out) {
		char d[32];
		sw_duration_format(d, sizeof(d), s->timeout_ms);
		snprintf(reason, sizeof(reason), "timed out after %s", d);
	} else {
		snprintf(reason, sizeof(reason), "%s", j->how.reason);
	}
	if (step_files(j, outputs, &err) < 0) {
		note(j, "%s", err.msg);
		if (ok)
			snprintf(reason, sizeof(reason), "%.150s", err.msg);
		ok = false;
	}
	bool timed_out = j->step_timed_out;
	step_record(j, ok ? "success" : "failure", ok || s->continue_on_error ? "success" : "failure",
		    json_incref(outputs));
	json_decref(outputs);
	if (!ok && !j->stopped && !x->force && j->attempt <= s->retry_max &&
	    (s->retry_when & (timed_out ? PIPELINE_RETRY_TIMEOUT : PIPELINE_RETRY_FAILURE))) {
		note(j, "%s; retrying (attempt %u of %u)", reason, j->attempt + 1, s->retry_max + 1);
		j->attempt++;
		next_step(j);
		return;
	}
	step_finish(j, ok, reason);
}

/* Decides and starts the current step, or ends the job after the last. */
static void next_step(struct job *j)
{
	struct pipeline_exec *x = j->x;
	while (j->step < j->pj->nsteps) {
		const struct pipeline_step *s = &j->pj->steps[j->step];
		struct step_ctx c = {.j = j};
		struct sw_err err = {0};
		bool run = false;
		json_t *env = json_deep_copy(j->env);
		c.env = env;
		struct pipeline_expr_env e = expr_env(&c);
		if (j->attempt == 0) {
			struct pipeline_expr *cond = NULL;
			size_t at = 0;
			if (x->force) {
				run = false;
			} else if (!s->if_text) {
				run = e.success;
			} else if (pipeline_cond_compile(&cond, s->if_text, PIPELINE_CTX_STEP_IF, &at, &err) < 0 ||
				   pipeline_expr_eval_cond(&run, cond, &e, &err) < 0) {
				pipeline_expr_free(cond);
				j->step_began_ms = sw_now_ms();
				char msg[sizeof(err.msg) + 8];
				snprintf(msg, sizeof(msg), "if: %s", err.msg);
				json_decref(env);
				step_ctx_release(&c);
				step_record(j, "failure", "failure", NULL);
				step_finish(j, false, msg);
				return;
			}
			pipeline_expr_free(cond);
			if (!run) {
				j->step_began_ms = sw_now_ms();
				report_step(j, PIPELINE_SKIPPED, false, NULL);
				step_record(j, "skipped", "skipped", NULL);
				json_decref(env);
				step_ctx_release(&c);
				j->step++;
				continue;
			}
			j->step_began_ms = sw_now_ms();
			j->attempt = 1;
			report_step(j, PIPELINE_RUNNING, false, NULL);
		}
		struct buf text = BUF_INIT, wd = BUF_INIT;
		int rc = env_layer(env, s->env, s->nenv, &c, &err);
		e = expr_env(&c);
		if (rc == 0)
			rc = pipeline_template_eval(&text, s->run, &e, &err);
		if (rc == 0 && s->working_directory)
			rc = pipeline_template_eval(&wd, s->working_directory, &e, &err);
		if (rc == 0)
			rc = step_spawn(j, text.s, env, s->working_directory ? wd.s : NULL, &err);
		buf_release(&text);
		buf_release(&wd);
		json_decref(env);
		step_ctx_release(&c);
		if (rc < 0) {
			step_record(j, "failure", "failure", NULL);
			step_finish(j, false, err.msg);
		}
		return;
	}
	job_end(j);
}

/* ---- job runs ---------------------------------------------------------- */

static void timer_closed(uv_handle_t *h)
{
	struct job *j = h->data;
	j->x->handles--;
	if (j->x->freed && j->x->handles == 0)
		pipeline_exec_free(j->x);
}

static void queue_event(struct pipeline_exec *x, size_t run, enum pipeline_state result, json_t *outputs)
{
	struct pipeline_event ev = {.kind = PIPELINE_EV_DONE, .now_ms = sw_now_ms(), .run = run,
				    .result = result, .outputs = outputs};
	feed(x, &ev);
}

static void pump(struct pipeline_exec *x);

static void job_end(struct job *j)
{
	struct pipeline_exec *x = j->x;
	json_t *outputs = json_object();
	size_t bytes = 0;
	struct step_ctx c = {.j = j, .env = j->env};
	for (size_t i = 0; i < j->pj->noutputs && !j->stopped; i++) {
		struct buf b = BUF_INIT;
		struct sw_err err = {0};
		struct pipeline_expr_env e = expr_env(&c);
		if (pipeline_template_eval(&b, j->pj->outputs[i].value, &e, &err) < 0) {
			fail_reason(j, "output %s: %s", j->pj->outputs[i].name, err.msg);
			j->failed = true;
		}
		bytes += strlen(j->pj->outputs[i].name) + b.len;
		json_object_set_new(outputs, j->pj->outputs[i].name, json_string_nocheck(b.s));
		buf_release(&b);
	}
	step_ctx_release(&c);
	if (bytes > PIPELINE_MAX_OUTPUTS) {
		fail_reason(j, "its outputs are %zu bytes; at most %d MiB", bytes, PIPELINE_MAX_OUTPUTS >> 20);
		j->failed = true;
		json_object_clear(outputs);
	}
	if (!j->stopped && j->ws) {
		json_t *res = NULL;
		struct buf why = BUF_INIT;
		if (pipeline_results_collect(&res, j->pj, j->ws, &why) < 0) {
			fail_reason(j, "%s", why.s);
			j->failed = true;
		}
		if (res && x->o.on_results)
			x->o.on_results(j->run, res, x->o.data);
		json_decref(res);
		buf_release(&why);
	}
	enum pipeline_state st = j->stopped ? (x->dag.timed_out[j->run] ? PIPELINE_FAILURE : PIPELINE_CANCELLED)
			       : j->failed ? PIPELINE_FAILURE : PIPELINE_SUCCESS;
	if (j->stopped && x->dag.timed_out[j->run])
		fail_reason(j, "timed out (the job's timeout)");
	j->phase = J_DONE;
	if (x->o.on_job)
		x->o.on_job(j->run, st, st == PIPELINE_SUCCESS ? NULL : j->reason, sw_now_ms() - j->began_ms,
			    x->o.data);
	uv_close((uv_handle_t *)&j->timer, timer_closed);
	x->busy--;
	queue_event(x, j->run, st == PIPELINE_FAILURE && x->dag.timed_out[j->run] ? PIPELINE_CANCELLED : st,
		    outputs);
	json_decref(outputs);
	pump(x);
}

static int job_begin(struct job *j, struct sw_err *err)
{
	struct pipeline_exec *x = j->x;
	const struct pipeline *p = x->plan->p;
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/work/%s", x->run_dir, j->slug);
	j->ws = buf_detach(&b);
	buf_addf(&b, "%s/files/%s", x->run_dir, j->slug);
	j->files = buf_detach(&b);
	buf_addf(&b, "%s/output", j->files);
	j->out_path = buf_detach(&b);
	buf_addf(&b, "%s/env", j->files);
	j->env_path = buf_detach(&b);
	buf_addf(&b, "%s/tmp", j->files);
	j->tmp = buf_detach(&b);
	j->env = json_object();
	j->steps = json_object();
	uv_timer_init(x->loop, &j->timer);
	j->timer.data = j;
	j->timer_init = true;
	x->handles++;
	if (mkdir_p(j->tmp, err) < 0 || workspace_make(x, j->ws, err) < 0)
		return -1;
	struct step_ctx c = {.j = j, .env = j->env};
	int rc = env_layer(j->env, p->env, p->nenv, &c, err);
	if (rc == 0)
		rc = env_layer(j->env, j->pj->env, j->pj->nenv, &c, err);
	step_ctx_release(&c);
	return rc;
}

static void pump(struct pipeline_exec *x)
{
	while (x->busy < x->workers && x->qhead < x->qlen) {
		struct job *j = &x->jobs[x->queue[x->qhead++]];
		struct sw_err err = {0};
		if (j->phase != J_QUEUED)
			continue;
		j->phase = J_RUNNING;
		j->began_ms = sw_now_ms();
		x->busy++;
		if (x->o.on_job)
			x->o.on_job(j->run, PIPELINE_RUNNING, NULL, 0, x->o.data);
		if (job_begin(j, &err) < 0) {
			j->failed = true;
			fail_reason(j, "%s", err.msg);
			j->step = j->pj->nsteps;
		}
		next_step(j);
	}
}

static void job_stop(struct pipeline_exec *x, size_t run)
{
	struct job *j = &x->jobs[run];
	if (j->phase == J_QUEUED) {
		j->phase = J_DONE;
		if (x->o.on_job)
			x->o.on_job(run, PIPELINE_CANCELLED, "cancelled before it started", 0, x->o.data);
		queue_event(x, run, PIPELINE_CANCELLED, NULL);
		return;
	}
	if (j->phase != J_RUNNING || j->stopped)
		return;
	j->stopped = true;
	if (j->step_live) {
		note(j, "stopping the step: SIGTERM to its processes, SIGKILL after %ds",
		     PIPELINE_STOP_GRACE_MS / 1000);
		sw_proc_stop(&j->proc, SIGTERM, PIPELINE_STOP_GRACE_MS);
	}
}

/* ---- the scheduler's loop --------------------------------------------- */

static void on_dag_timer(uv_timer_t *t)
{
	struct pipeline_exec *x = t->data;
	struct pipeline_event ev = {.kind = PIPELINE_EV_TIMER, .now_ms = sw_now_ms()};
	feed(x, &ev);
}

static void apply(struct pipeline_exec *x, const struct pipeline_action *a)
{
	struct job *j = a->run < x->plan->nruns ? &x->jobs[a->run] : NULL;
	switch (a->kind) {
	case PIPELINE_ACT_START:
		j->phase = J_QUEUED;
		x->queue[x->qlen++] = a->run;
		break;
	case PIPELINE_ACT_END:
		j->phase = J_DONE;
		if (x->o.on_job)
			x->o.on_job(a->run, a->result, a->reason, 0, x->o.data);
		break;
	case PIPELINE_ACT_STOP:
		if (j->phase == J_RUNNING && a->reason)
			note(j, "stopped: %s", a->reason);
		job_stop(x, a->run);
		break;
	case PIPELINE_ACT_FINISH:
		x->finished = true;
		x->result = a->result;
		x->result_reason = a->reason ? xstrdup(a->reason) : NULL;
		break;
	}
}

static void feed(struct pipeline_exec *x, const struct pipeline_event *ev)
{
	if (x->nev == x->evalloc) {
		x->evalloc = x->evalloc ? x->evalloc * 2 : 16;
		x->evq = xrealloc(x->evq, x->evalloc * sizeof(*x->evq));
	}
	x->evq[x->nev].ev = *ev;
	x->evq[x->nev].outputs = json_incref(ev->outputs);
	x->nev++;
	if (x->feeding)
		return;
	x->feeding = true;
	for (size_t i = 0; i < x->nev; i++) {
		struct pipeline_actions acts = {0};
		struct queued_event q = x->evq[i];
		pipeline_dag_step(&x->dag, &q.ev, &acts);
		json_decref(q.outputs);
		for (size_t k = 0; k < acts.n; k++)
			apply(x, &acts.v[k]);
		pipeline_actions_release(&acts);
		pump(x);
	}
	x->nev = 0;
	x->feeding = false;
	if (x->dag.next_timer_ms && !x->finished) {
		uint64_t now = sw_now_ms();
		uv_timer_start(&x->dag_timer, on_dag_timer,
			       x->dag.next_timer_ms > now ? x->dag.next_timer_ms - now : 0, 0);
	} else {
		uv_timer_stop(&x->dag_timer);
	}
	if (x->finished && x->o.on_finish) {
		void (*fin)(enum pipeline_state, const char *, void *) = x->o.on_finish;
		x->o.on_finish = NULL;
		fin(x->result, x->result_reason, x->o.data);
	}
}

/* ---- set-up ----------------------------------------------------------- */

static int sandbox_check(struct pipeline_exec *x, struct sw_err *err)
{
	x->bwrap = which("bwrap");
	if (!x->bwrap)
		return sw_errf(err, -1,
			       "the sandbox needs bubblewrap, and bwrap is not in PATH: install it "
			       "(Debian, Ubuntu: apt-get install bubblewrap) or run with --sandbox none");
	struct buf out = BUF_INIT;
	char *argv[] = {x->bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
			"--unshare-pid", "--unshare-net", "--die-with-parent", "true", NULL};
	int st = pipeline_capture(&out, argv, NULL);
	int rc = 0;
	if (st != 0) {
		while (out.len && (out.s[out.len - 1] == '\n'))
			out.s[--out.len] = '\0';
		rc = sw_errf(err, -1,
			     "the sandbox cannot start: bwrap says \"%.200s\" (it needs user namespaces: "
			     "sysctl kernel.unprivileged_userns_clone=1, or run as root); "
			     "--sandbox none runs steps without it",
			     out.s);
	}
	buf_release(&out);
	return rc;
}

/* What this slice does not run yet, refused before anything starts. */
static int unbuilt_check(const struct pipeline *p, enum pipeline_sandbox sandbox, struct sw_err *err)
{
	for (size_t i = 0; i < p->njobs; i++) {
		const struct pipeline_job *j = &p->jobs[i];
		const char *what = j->work == PIPELINE_WORK_DEPLOY ? "deploy"
				   : j->nservices               ? "services"
				   : j->ncache                  ? "cache"
				   : j->nupload || j->ndownload ? "artifacts"
				   : j->environment             ? "environment"
								: NULL;
		if (what)
			return sw_errf(err, -1,
				       "job \"%s\": %s is not run by `pipeline run` yet (docs/pipelines.md, "
				       "\"Not built yet\"); --job runs the jobs without it",
				       j->id, what);
		if (j->network == PIPELINE_NETWORK_NONE && sandbox == PIPELINE_SANDBOX_NONE)
			return sw_errf(err, -1, "job \"%s\": network: none needs the sandbox (not --sandbox none)",
				       j->id);
	}
	return 0;
}

int pipeline_exec_new(struct pipeline_exec **out, uv_loop_t *loop, const struct pipeline_plan *plan,
		      const struct pipeline_exec_options *o, struct sw_err *err)
{
	struct pipeline_exec *x = xcalloc(1, sizeof(*x));
	char path[PATH_MAX];
	int rc = -1;
	x->loop = loop;
	x->plan = plan;
	x->o = *o;
	if (unbuilt_check(plan->p, o->sandbox, err) < 0)
		goto out;
	if (o->nsecrets > PIPELINE_MAX_SECRETS) {
		sw_errf(err, -1, "%zu secrets; at most %d", o->nsecrets, PIPELINE_MAX_SECRETS);
		goto out;
	}
	if (!realpath(o->checkout, path)) {
		sw_errf(err, -1, "cannot read \"%s\": %s", o->checkout, strerror(errno));
		goto out;
	}
	x->checkout = xstrdup(path);
	if (!realpath(o->run_dir, path)) {
		sw_errf(err, -1, "cannot read \"%s\": %s", o->run_dir, strerror(errno));
		goto out;
	}
	x->run_dir = xstrdup(path);
	if (o->sandbox == PIPELINE_SANDBOX_BWRAP && sandbox_check(x, err) < 0)
		goto out;
	x->shell = which("bash");
	x->bash = x->shell != NULL;
	if (!x->shell)
		x->shell = xstrdup("/bin/sh");
	{
		struct buf top = BUF_INIT, dir = BUF_INIT;
		char *a1[] = {"git", "-C", x->checkout, "rev-parse", "--show-toplevel", NULL};
		char *a2[] = {"git", "-C", x->checkout, "rev-parse", "--absolute-git-dir", NULL};
		if (pipeline_capture(&top, a1, NULL) == 0 && pipeline_capture(&dir, a2, NULL) == 0) {
			while (top.len && top.s[top.len - 1] == '\n')
				top.s[--top.len] = '\0';
			while (dir.len && dir.s[dir.len - 1] == '\n')
				dir.s[--dir.len] = '\0';
			if (strcmp(top.s, x->checkout) == 0)
				x->gitdir = buf_detach(&dir);
		}
		buf_release(&top);
		buf_release(&dir);
	}
	x->secrets = xcalloc(o->nsecrets + 1, sizeof(*x->secrets));
	for (size_t i = 0; i < o->nsecrets; i++) {
		x->secrets[i].name = xstrdup(o->secrets[i].name);
		x->secrets[i].value = xstrdup(o->secrets[i].value);
	}
	x->o.secrets = x->secrets;
	x->mask = pipeline_mask_values(x->secrets, o->nsecrets, &x->nmask);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	x->workers = o->workers ? o->workers : cpus > 0 ? (unsigned)cpus : 1;
	x->jobs = xcalloc(plan->nruns + 1, sizeof(*x->jobs));
	x->queue = xcalloc(plan->nruns + 1, sizeof(*x->queue));
	for (size_t r = 0; r < plan->nruns; r++) {
		struct job *j = &x->jobs[r];
		j->x = x;
		j->run = r;
		j->pj = &plan->p->jobs[plan->runs[r].job];
		j->slug = pipeline_slug(plan->runs[r].name);
		for (size_t k = 0; k < r; k++)
			if (strcmp(x->jobs[k].slug, j->slug) == 0) {
				struct buf b = BUF_INIT;
				buf_addf(&b, "%s-%zu", j->slug, r + 1);
				free(j->slug);
				j->slug = buf_detach(&b);
				break;
			}
	}
	pipeline_dag_init(&x->dag, plan, o->slipway, NULL);
	uv_timer_init(loop, &x->dag_timer);
	x->dag_timer.data = x;
	uv_timer_init(loop, &x->kick);
	x->kick.data = x;
	x->handles = 2;
	rc = 0;
out:
	if (rc < 0) {
		free(x->checkout);
		free(x->run_dir);
		free(x->bwrap);
		free(x);
		x = NULL;
	}
	*out = x;
	return rc;
}

const char *pipeline_exec_slug(const struct pipeline_exec *x, size_t run)
{
	return x->jobs[run].slug;
}

static void on_kick(uv_timer_t *t)
{
	struct pipeline_exec *x = t->data;
	if (x->start_pending) {
		x->start_pending = false;
		struct pipeline_event ev = {.kind = PIPELINE_EV_START, .now_ms = sw_now_ms()};
		feed(x, &ev);
	}
	if (x->cancel_pending && !x->finished) {
		x->cancel_pending = false;
		if (x->force_pending && !x->force) {
			x->force = true;
			for (size_t r = 0; r < x->plan->nruns; r++)
				if (x->jobs[r].step_live)
					sw_proc_stop(&x->jobs[r].proc, SIGKILL, 0);
		}
		struct pipeline_event ev = {.kind = PIPELINE_EV_CANCEL, .now_ms = sw_now_ms()};
		feed(x, &ev);
	}
}

void pipeline_exec_start(struct pipeline_exec *x)
{
	x->start_pending = true;
	uv_timer_start(&x->kick, on_kick, 0, 0);
}

void pipeline_exec_cancel(struct pipeline_exec *x, bool force)
{
	if (x->finished)
		return;
	x->cancel_pending = true;
	x->force_pending |= force;
	uv_timer_start(&x->kick, on_kick, 0, 0);
}

/* The executor's own timers: the memory goes with the last handle. */
static void dag_timer_closed(uv_handle_t *h)
{
	struct pipeline_exec *x = h->data;
	x->handles--;
	if (x->handles == 0)
		pipeline_exec_free(x);
}

void pipeline_exec_free(struct pipeline_exec *x)
{
	if (!x)
		return;
	if (!x->freed) {
		x->freed = true;
		x->o.on_line = NULL;
		x->o.on_step = NULL;
		x->o.on_job = NULL;
		x->o.on_finish = NULL;
		uv_close((uv_handle_t *)&x->dag_timer, dag_timer_closed);
		uv_close((uv_handle_t *)&x->kick, dag_timer_closed);
		return;
	}
	if (x->handles > 0)
		return;
	for (size_t r = 0; r < x->plan->nruns; r++) {
		struct job *j = &x->jobs[r];
		free(j->slug);
		free(j->ws);
		free(j->files);
		free(j->out_path);
		free(j->env_path);
		free(j->tmp);
		free(j->reason);
		json_decref(j->env);
		json_decref(j->steps);
		buf_release(&j->partial);
	}
	for (size_t i = 0; i < x->o.nsecrets; i++) {
		free(x->secrets[i].name);
		free(x->secrets[i].value);
	}
	free(x->secrets);
	pipeline_mask_values_free(x->mask, x->nmask);
	pipeline_dag_release(&x->dag);
	free(x->jobs);
	free(x->queue);
	free(x->evq);
	free(x->bwrap);
	free(x->shell);
	free(x->run_dir);
	free(x->checkout);
	free(x->gitdir);
	free(x->result_reason);
	void (*freed)(void *) = x->o.on_freed;
	void *data = x->o.data;
	free(x);
	if (freed)
		freed(data);
}
