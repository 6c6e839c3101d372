/*
 * Pipeline runs on the daemon (server.h): triggers, checkouts, the
 * executor's callbacks written to the store and to log files, and the
 * endpoints that read them.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/paths.h"
#include "core/proc.h"
#include "engine/engine.h"
#include "http/http.h"
#include "pipeline_int.h"
#include "store/store.h"

#define LIST_DEFAULT 20
#define LIST_MAX 500
#define LOG_CHUNK (1024 * 1024) /* bytes of log one GET answers */

struct pjob {
	char *name, *slug;            /* the plan run's name; its file name */
	enum pipeline_state state;
	char *reason;
	int64_t started_ms, finished_ms;
	json_t *steps;                /* [{name, state, durationMs, attempt, reason}] */
	FILE *log;
	uint64_t log_bytes;
};

struct prun {
	struct pipeline_server *ps;
	struct prun *next;
	int64_t id;                   /* 0 until the row exists (a push waits for its paths) */
	void *doc;                    /* struct pipeline, from the stored JSON; owned */
	struct pipeline sub;          /* the jobs a --failed rerun runs (sub.jobs owned); or unused */
	const struct pipeline *p;     /* doc or &sub */
	char *owner;                  /* the Source the document came from, "" */
	struct pipeline_plan *plan;
	struct pipeline_exec *x;
	struct pjob *jobs;
	char *work;                   /* STATE/pipelines/work/N: checkout/ and the executor's */
	char *checkout;
	char *changed;                /* the file the prep writes the changed paths to */
	char *logs;                   /* STATE/logs/pipelines/ID */
	FILE *runlog;
	uint64_t runlog_bytes;
	struct sw_proc prep;
	bool prepping, prep_open;
	bool paths_filter;            /* a push with paths filters: decided after the prep */
	bool cancelled, finished;
	bool freeing;                 /* the executor is being freed: on_freed ends the run */
	json_t *ctx;
	char number[24];
	struct store_pipeline_run row;
};

struct pipeline_server {
	struct pipeline_server_config cfg;
	char *state_dir, *cache, *work_dir, *logs_dir;
	struct prun *runs;            /* in flight */
	uint64_t seq;
	bool stopping;
};

/* ---- filters (pure) ---- */

/* A pattern's pieces, for the matcher below: a double star followed by a
 * slash is one piece (G_DIRS), any number of whole directories, none too
 * (so that "a/", double star, "/b" matches "a/b"). */
enum { G_LIT, G_ONE, G_STAR, G_GLOBSTAR, G_DIRS };
struct gtok {
	unsigned char kind, c;
};

/* Adds state i and what it reaches matching nothing. */
static void reach(bool *set, const struct gtok *t, size_t n, size_t i)
{
	for (; i <= n && !set[i]; i++) {
		set[i] = true;
		if (i == n || t[i].kind == G_LIT || t[i].kind == G_ONE)
			return;
	}
}

/* Positions in the pattern walked over the text once (an NFA): time
 * len(pattern) x len(s) whatever the pattern, never backtracking. mid[i]:
 * inside a directory name of G_DIRS piece i. */
bool pipeline_glob(const char *p, const char *s)
{
	size_t plen = strlen(p), n = 0;
	struct gtok *t = xcalloc(plen + 1, sizeof(*t));
	for (size_t i = 0; i < plen; i++) {
		if (p[i] == '*' && p[i + 1] == '*') {
			while (p[i + 1] == '*')
				i++;
			bool dirs = p[i + 1] == '/';
			t[n++].kind = dirs ? G_DIRS : G_GLOBSTAR;
			i += dirs;
		} else if (p[i] == '*')
			t[n++].kind = G_STAR;
		else if (p[i] == '?')
			t[n++].kind = G_ONE;
		else
			t[n++] = (struct gtok){G_LIT, (unsigned char)p[i]};
	}
	bool *block = xcalloc(4 * (n + 1), sizeof(bool)), any = true;
	bool *cur = block, *next = block + (n + 1), *mid = next + (n + 1), *mid_next = mid + (n + 1);
	reach(cur, t, n, 0);
	for (; *s && any; s++) {
		unsigned char c = (unsigned char)*s;
		memset(next, 0, (n + 1) * sizeof(bool));
		memset(mid_next, 0, (n + 1) * sizeof(bool));
		for (size_t i = 0; i < n; i++) {
			if (mid[i] || (cur[i] && t[i].kind == G_DIRS)) {
				if (c == '/')
					reach(next, t, n, i);
				else
					mid_next[i] = true;
			}
			if (!cur[i])
				continue;
			switch (t[i].kind) {
			case G_LIT:
				if (t[i].c == c)
					reach(next, t, n, i + 1);
				break;
			case G_ONE:
				if (c != '/')
					reach(next, t, n, i + 1);
				break;
			case G_STAR:
				if (c != '/')
					reach(next, t, n, i);
				break;
			case G_GLOBSTAR:
				reach(next, t, n, i);
				break;
			}
		}
		any = false;
		for (size_t i = 0; i <= n; i++)
			any = any || next[i] || mid_next[i];
		bool *swap = cur;
		cur = next;
		next = swap;
		swap = mid;
		mid = mid_next;
		mid_next = swap;
	}
	bool ok = !*s && cur[n];
	free(t);
	free(block);
	return ok;
}

bool pipeline_filter(char *const *patterns, size_t n, const char *s)
{
	bool in = false;
	for (size_t i = 0; i < n; i++) {
		bool neg = patterns[i][0] == '!';
		if (pipeline_glob(patterns[i] + neg, s))
			in = !neg;
	}
	return in;
}

bool pipeline_push_matches(const struct pipeline *p, const char *owner, const char *source, const char *ref,
			   char *const *changed, size_t n, const char **why)
{
	*why = NULL;
	if (!p->on_push) {
		*why = "it has no on: push";
		return false;
	}
	const char *want = p->push_source ? p->push_source : owner && *owner ? owner : NULL;
	if (want && strcmp(want, source) != 0) {
		*why = "it runs on pushes to another source";
		return false;
	}
	bool branch = strncmp(ref, "refs/heads/", 11) == 0;
	const char *name = branch ? ref + 11 : ref;
	if (p->nbranches && (!branch || !pipeline_filter(p->branches, p->nbranches, name))) {
		*why = "the branch is not in its branches";
		return false;
	}
	if (p->nbranches_ignore && branch && pipeline_filter(p->branches_ignore, p->nbranches_ignore, name)) {
		*why = "the branch is in its branches-ignore";
		return false;
	}
	if (!changed)
		return true;
	if (p->npaths) {
		for (size_t i = 0; i < n; i++)
			if (pipeline_filter(p->paths, p->npaths, changed[i]))
				return true;
		*why = "no changed file is in its paths";
		return false;
	}
	if (p->npaths_ignore) {
		for (size_t i = 0; i < n; i++)
			if (!pipeline_filter(p->paths_ignore, p->npaths_ignore, changed[i]))
				return true;
		*why = "every changed file is in its paths-ignore";
		return false;
	}
	return true;
}

/* ---- runs: the store and the logs ---- */

static void stamp(char *out, size_t size, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
		 tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100, (int)(ms % 1000));
}

/* One line to a log file, cut at PIPELINE_MAX_LOG with a note. */
static void log_put(FILE *f, uint64_t *bytes, const char *ts, const char *prefix, const char *text, size_t len)
{
	if (!f || *bytes > PIPELINE_MAX_LOG)
		return;
	size_t n = strlen(ts) + strlen(prefix) + len + 2;
	if (*bytes + n > PIPELINE_MAX_LOG) {
		fprintf(f, "%s %s!! the log is cut here: it reached its limit of %u bytes\n", ts, prefix,
			PIPELINE_MAX_LOG);
		*bytes = PIPELINE_MAX_LOG + 1;
	} else {
		fprintf(f, "%s %s%.*s\n", ts, prefix, (int)len, text);
		*bytes += n;
	}
	fflush(f);
}

static void run_line(struct prun *r, size_t job, int64_t ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void run_line(struct prun *r, size_t job, int64_t ms, const char *fmt, ...)
{
	char ts[40];
	va_list ap;
	va_start(ap, fmt);
	char *text = buf_vnewf(fmt, ap);
	va_end(ap);
	stamp(ts, sizeof(ts), ms);
	struct buf prefix = BUF_INIT;
	if (job != SIZE_MAX) {
		buf_addf(&prefix, "[%s] ", r->jobs[job].name);
		log_put(r->jobs[job].log, &r->jobs[job].log_bytes, ts, "", text, strlen(text));
	}
	log_put(r->runlog, &r->runlog_bytes, ts, buf_str(&prefix), text, strlen(text));
	buf_release(&prefix);
	free(text);
}

static void save_run(struct prun *r)
{
	struct sw_err err = {0};
	if (r->id && store_pipeline_run_put(r->ps->cfg.store, &r->row, &err) < 0)
		sw_warn("pipeline run %" PRId64 ": %s", r->id, err.msg);
}

static void save_job(struct prun *r, size_t i)
{
	struct pjob *j = &r->jobs[i];
	char *steps = json_dumps(j->steps, JSON_COMPACT);
	struct store_pipeline_job row = {
		.run = r->id, .idx = (int64_t)i, .name = j->name, .slug = j->slug,
		.state = (char *)pipeline_state_name(j->state), .reason = j->reason ? j->reason : "",
		.started_ms = j->started_ms, .finished_ms = j->finished_ms, .steps_json = steps,
	};
	struct sw_err err = {0};
	if (store_pipeline_job_put(r->ps->cfg.store, &row, &err) < 0)
		sw_warn("pipeline run %" PRId64 ": %s", r->id, err.msg);
	free(steps);
}

static void set_state(struct prun *r, const char *state, const char *reason)
{
	free(r->row.state);
	r->row.state = xstrdup(state);
	free(r->row.reason);
	r->row.reason = xstrdup(reason ? reason : "");
}

static void prun_free(struct prun *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->jobs && i < r->plan->nruns; i++) {
		free(r->jobs[i].name);
		free(r->jobs[i].slug);
		free(r->jobs[i].reason);
		json_decref(r->jobs[i].steps);
		if (r->jobs[i].log)
			fclose(r->jobs[i].log);
	}
	free(r->jobs);
	if (r->runlog)
		fclose(r->runlog);
	pipeline_plan_free(r->plan);
	free(r->sub.jobs);
	if (r->doc)
		pipeline_kind.free(r->doc);
	free(r->owner);
	free(r->work);
	free(r->checkout);
	free(r->changed);
	free(r->logs);
	json_decref(r->ctx);
	store_pipeline_run_release(&r->row);
	free(r);
}

static void unlink_run(struct prun *r)
{
	for (struct prun **at = &r->ps->runs; *at; at = &(*at)->next)
		if (*at == r) {
			*at = r->next;
			return;
		}
}

static void prep_closed(struct sw_proc *p)
{
	prun_free(p->data);
}

/* Removes a directory tree by a child process, not waited for. */
static void remove_tree(struct pipeline_server *ps, const char *dir)
{
	struct sw_proc *p = xcalloc(1, sizeof(*p));
	char *argv[] = {"rm", "-rf", "--", (char *)dir, NULL};
	struct sw_proc_options o = {.argv = argv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
	struct sw_err err = {0};
	if (sw_proc_spawn(p, ps->cfg.loop, &o, &err) < 0) {
		sw_warn("cannot remove \"%s\": %s", dir, err.msg);
		free(p);
		return;
	}
	sw_proc_close(p, (sw_proc_close_cb)free);
}

/* The run is over (or never began): forget it. */
static void prun_done(struct prun *r)
{
	unlink_run(r);
	if (r->work)
		remove_tree(r->ps, r->work);
	if (r->prep_open) {
		r->prep_open = false;
		r->prep.data = r;
		sw_proc_close(&r->prep, prep_closed);
		return;
	}
	prun_free(r);
}

static void finish(struct prun *r, enum pipeline_state result, const char *reason)
{
	struct pipeline_server *ps = r->ps;
	r->finished = true;
	r->row.finished_ms = sw_wall_ms();
	set_state(r, pipeline_state_name(result), result == PIPELINE_SUCCESS ? NULL : reason);
	save_run(r);
	run_line(r, SIZE_MAX, r->row.finished_ms, "run %s%s%s", pipeline_state_name(result),
		 result != PIPELINE_SUCCESS && reason ? ": " : "", result != PIPELINE_SUCCESS && reason ? reason : "");
	if (result == PIPELINE_SUCCESS)
		engine_event(ps->cfg.engine, NULL, "PipelineRunSucceeded", r->row.actor, "pipeline/%s run %" PRId64
			     " succeeded in %.1fs", r->row.pipeline, r->id,
			     (double)(r->row.finished_ms - r->row.created_ms) / 1000);
	else
		engine_event(ps->cfg.engine, NULL, "PipelineRunFailed", r->row.actor, "pipeline/%s run %" PRId64
			     " %s: %s", r->row.pipeline, r->id, pipeline_state_name(result),
			     reason ? reason : pipeline_state_name(result));
}

/* ---- the executor's callbacks ---- */

static void on_line(const struct pipeline_exec_line *ln, void *data)
{
	struct prun *r = data;
	run_line(r, ln->run, ln->wall_ms, "%s%.*s", ln->note ? "!! " : "", (int)ln->len, ln->text);
}

static void on_step(const struct pipeline_exec_step *s, void *data)
{
	struct prun *r = data;
	struct pjob *j = &r->jobs[s->run];
	json_t *st = json_array_get(j->steps, s->step);
	size_t n = json_array_size(j->steps);
	json_object_set_new(st, "state", json_string(pipeline_state_name(s->state)));
	json_object_set_new(st, "attempt", json_integer(s->attempt));
	json_object_set_new(st, "durationMs", json_integer((json_int_t)s->duration_ms));
	if (s->reason)
		json_object_set_new(st, "reason", json_string(s->reason));
	if (s->outcome_failed)
		json_object_set_new(st, "outcome", json_string("failure"));
	if (s->state == PIPELINE_RUNNING)
		run_line(r, s->run, sw_wall_ms(), "-- step %zu/%zu \"%s\"", s->step + 1, n, s->name);
	else if (s->state == PIPELINE_SKIPPED)
		run_line(r, s->run, sw_wall_ms(), "-- step %zu/%zu \"%s\": skipped", s->step + 1, n, s->name);
	else
		run_line(r, s->run, sw_wall_ms(), "-- step %zu/%zu \"%s\": %s%s%s in %" PRIu64 "ms", s->step + 1, n,
			 s->name, pipeline_state_name(s->state), s->reason ? ", " : "", s->reason ? s->reason : "",
			 s->duration_ms);
	save_job(r, s->run);
}

static void on_job(size_t run, enum pipeline_state st, const char *reason, uint64_t ms, void *data)
{
	struct prun *r = data;
	struct pjob *j = &r->jobs[run];
	j->state = st;
	if (st == PIPELINE_RUNNING) {
		j->started_ms = sw_wall_ms();
		struct buf path = BUF_INIT;
		buf_addf(&path, "%s/%s.log", r->logs, j->slug);
		j->log = fopen(path.s, "ae");
		if (!j->log)
			sw_warn("cannot write \"%s\": %s", path.s, strerror(errno));
		buf_release(&path);
		run_line(r, run, j->started_ms, "job started");
	} else {
		j->finished_ms = sw_wall_ms();
		free(j->reason);
		j->reason = reason ? xstrdup(reason) : NULL;
		run_line(r, run, j->finished_ms, "job %s%s%s in %" PRIu64 "ms", pipeline_state_name(st),
			 reason ? ": " : "", reason ? reason : "", ms);
		if (j->log) {
			fclose(j->log);
			j->log = NULL;
		}
	}
	save_job(r, run);
}

static void on_finish(enum pipeline_state result, const char *reason, void *data)
{
	struct prun *r = data;
	if (!r->ps->stopping)
		finish(r, result, reason);
	r->freeing = true;
	pipeline_exec_free(r->x); /* the run goes in on_freed: the executor reads the plan until then */
}

static void on_freed(void *data)
{
	struct prun *r = data;
	r->x = NULL;
	prun_done(r);
}

/* ---- starting a run ---- */

/* Makes the row (once), its jobs, its log directory; then the executor. */
static int begin(struct prun *r, struct sw_err *err)
{
	struct pipeline_server *ps = r->ps;
	if (!r->id && store_pipeline_run_add(ps->cfg.store, &r->row, &r->id, err) < 0)
		return -1;
	r->row.id = r->id;
	snprintf(r->number, sizeof(r->number), "%" PRId64, r->id);
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/%" PRId64, ps->logs_dir, r->id);
	r->logs = buf_detach(&b);
	if (sw_mkdir_p(r->logs, 0700) < 0)
		return sw_errf(err, -1, "cannot make \"%s\": %s", r->logs, strerror(errno));
	buf_addf(&b, "%s/run.log", r->logs);
	r->runlog = fopen(b.s, "ae");
	buf_release(&b);
	r->jobs = xcalloc(r->plan->nruns + 1, sizeof(*r->jobs));
	for (size_t i = 0; i < r->plan->nruns; i++) {
		struct pjob *j = &r->jobs[i];
		const struct pipeline_job *pj = &r->p->jobs[r->plan->runs[i].job];
		j->name = xstrdup(r->plan->runs[i].name);
		j->slug = pipeline_slug(j->name);
		for (size_t k = 0; k < i; k++) /* as the executor makes them unique */
			if (strcmp(r->jobs[k].slug, j->slug) == 0) {
				char *u = pipeline_newf("%s-%zu", j->slug, i + 1);
				free(j->slug);
				j->slug = u;
			}
		j->steps = json_array();
		for (size_t s = 0; s < pj->nsteps; s++) {
			const char *name = pj->steps[s].name ? pj->steps[s].name : pj->steps[s].run;
			json_array_append_new(j->steps, json_pack("{s:s%, s:s}", "name", name, strcspn(name, "\n"),
								  "state", "pending"));
		}
		save_job(r, i);
	}
	return 0;
}

static int exec_start(struct prun *r, struct sw_err *err)
{
	struct pipeline_server *ps = r->ps;
	r->ctx = json_pack("{ss ss ss ss ss ss}", "ref", r->row.ref, "ref_name",
			   strncmp(r->row.ref, "refs/heads/", 11) == 0 ? r->row.ref + 11 : r->row.ref, "sha",
			   r->row.sha, "event_name", strcmp(r->row.trigger, "push") == 0 ? "push" : "manual",
			   "run_number", r->number, "actor", r->row.actor);
	struct pipeline_exec_options o = {
		.checkout = r->checkout, .run_dir = r->work, .sandbox = ps->cfg.sandbox,
		.workers = ps->cfg.workers, .slipway = r->ctx, .run_number = r->number, .on_line = on_line,
		.on_step = on_step, .on_job = on_job, .on_finish = on_finish, .on_freed = on_freed,
		.data = r,
	};
	if (pipeline_exec_new(&r->x, ps->cfg.loop, r->plan, &o, err) < 0)
		return -1;
	r->row.started_ms = sw_wall_ms();
	set_state(r, "running", NULL);
	save_run(r);
	engine_event(ps->cfg.engine, NULL, "PipelineRunStarted", r->row.actor, "pipeline/%s run %" PRId64
		     " started (%s%s%.7s), %zu job run%s", r->row.pipeline, r->id, r->row.trigger,
		     *r->row.sha ? ", commit " : "", r->row.sha, r->plan->nruns, r->plan->nruns == 1 ? "" : "s");
	run_line(r, SIZE_MAX, r->row.started_ms, "pipeline/%s run %" PRId64 " (%s%s%.7s): %zu job run%s",
		 r->row.pipeline, r->id, r->row.trigger, *r->row.sha ? ", commit " : "", r->row.sha,
		 r->plan->nruns, r->plan->nruns == 1 ? "" : "s");
	pipeline_exec_start(r->x);
	return 0;
}

/* Reads the changed paths the prep wrote; NULL when unreadable. */
static char **read_changed(const char *path, size_t *n)
{
	struct buf b = BUF_INIT;
	b.cap = 64 << 20;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	*n = 0;
	if (fd < 0)
		return NULL;
	int rc = buf_add_fd(&b, fd);
	close(fd);
	if (rc < 0) {
		buf_release(&b);
		return NULL;
	}
	char **v = xcalloc(1, sizeof(char *));
	for (char *s = b.s, *e; s && *s; s = e ? e + 1 : NULL) {
		e = strchr(s, '\n');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (!len)
			continue;
		v = xrealloc(v, (*n + 2) * sizeof(char *));
		v[(*n)++] = xstrndup(s, len);
	}
	buf_release(&b);
	return v;
}

/* The checkout is there (or failed): start, or drop a push the paths exclude. */
static void on_prep(struct sw_proc *p, const struct sw_proc_exit *how)
{
	struct prun *r = p->data;
	struct sw_err err = {0};
	r->prepping = false;
	if (r->cancelled) {
		if (!r->id && begin(r, &err) < 0)
			sw_warn("pipeline/%s: %s", r->row.pipeline, err.msg);
		finish(r, PIPELINE_CANCELLED, "cancelled before it started");
		prun_done(r);
		return;
	}
	if (how->status != 0) {
		sw_errf(&err, -1, "cannot check out commit %.7s: git archive %s", r->row.sha, how->reason);
		goto failed;
	}
	if (r->paths_filter) {
		size_t n = 0;
		char **changed = read_changed(r->changed, &n);
		const char *why = NULL;
		bool go = changed && pipeline_push_matches(r->p, r->owner, r->row.source, r->row.ref, changed, n,
							   &why);
		pipeline_strv_free(changed, n);
		if (!go) {
			sw_info("pipeline/%s: push of %.7s to source %s runs nothing: %s", r->row.pipeline, r->row.sha,
				r->row.source, why ? why : "its changed files cannot be read");
			prun_done(r);
			return;
		}
	}
	if ((!r->id && begin(r, &err) < 0) || exec_start(r, &err) < 0)
		goto failed;
	return;
failed:
	if (!r->id && begin(r, &err) < 0) {
		sw_warn("pipeline/%s: %s", r->row.pipeline, err.msg);
		prun_done(r);
		return;
	}
	finish(r, PIPELINE_FAILURE, err.msg);
	prun_done(r);
}

/*
 * A new run of doc (owned from here on) as row says (pipeline, source,
 * sha, ref, trigger, actor; copied); jobs: the jobs to run (NULL: all).
 * git_dir: where the commit is (NULL: an empty checkout). push: decide
 * the paths filters once the changed paths are known, and make the row
 * only then. Returns the run (id 0 for a push), or NULL with err.
 */
static struct prun *run_new(struct pipeline_server *ps, void *doc, const char *owner,
			    const struct store_pipeline_run *row, bool *jobs, const char *git_dir,
			    const char *before, bool push, struct sw_err *err)
{
	struct prun *r = xcalloc(1, sizeof(*r));
	r->ps = ps;
	r->doc = doc;
	r->p = doc;
	r->owner = xstrdup(owner ? owner : "");
	r->row.pipeline = xstrdup(row->pipeline);
	r->row.source = xstrdup(row->source ? row->source : "");
	r->row.sha = xstrdup(row->sha ? row->sha : "");
	r->row.ref = xstrdup(row->ref ? row->ref : "");
	r->row.trigger = xstrdup(row->trigger);
	r->row.actor = xstrdup(row->actor ? row->actor : "");
	r->row.rerun_of = row->rerun_of;
	r->row.state = xstrdup("queued");
	r->row.reason = xstrdup("");
	json_t *j = pipeline_kind.to_json(doc);
	r->row.spec_json = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	r->row.created_ms = sw_wall_ms();
	if (jobs) {
		pipeline_select_jobs(&r->sub, r->p, jobs);
		r->p = &r->sub;
	}
	if (pipeline_plan_new(&r->plan, r->p, err) < 0)
		goto fail;
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/%" PRId64 "-%" PRIu64, ps->work_dir, r->row.created_ms, ++ps->seq);
	r->work = buf_detach(&b);
	buf_addf(&b, "%s/checkout", r->work);
	r->checkout = buf_detach(&b);
	buf_addf(&b, "%s/changed", r->work);
	r->changed = buf_detach(&b);
	if (sw_mkdir_p(r->checkout, 0700) < 0) {
		sw_errf(err, -1, "cannot make \"%s\": %s", r->checkout, strerror(errno));
		goto fail;
	}
	r->paths_filter = push && (r->p->npaths || r->p->npaths_ignore);
	if (!push && begin(r, err) < 0)
		goto fail;
	r->next = ps->runs;
	ps->runs = r;
	if (!git_dir || !*r->row.sha) {
		if (exec_start(r, err) < 0) {
			finish(r, PIPELINE_FAILURE, err->msg);
			unlink_run(r);
			remove_tree(ps, r->work);
			r->doc = NULL; /* the caller's on failure */
			prun_free(r);
			return NULL;
		}
		return r;
	}
	/* the commit's files, and what changed since the commit before */
	char *argv[] = {"sh", "-c",
			"set -e; git --git-dir=\"$1\" archive \"$2\" | tar -x -C \"$3\"; "
			"if [ -n \"$4\" ]; then git --git-dir=\"$1\" diff --name-only \"$4\" \"$2\"; "
			"else git --git-dir=\"$1\" ls-tree -r --name-only \"$2\"; fi > \"$5\"",
			"sh", (char *)git_dir, r->row.sha, r->checkout, (char *)(before ? before : ""), r->changed, NULL};
	struct sw_proc_options o = {.argv = argv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = 2,
				    .on_exit = on_prep, .data = r};
	if (sw_proc_spawn(&r->prep, ps->cfg.loop, &o, err) < 0) {
		unlink_run(r);
		goto fail;
	}
	r->prepping = r->prep_open = true;
	return r;
fail:
	if (r->id) {
		finish(r, PIPELINE_FAILURE, err->msg);
		if (r->work)
			remove_tree(ps, r->work);
	}
	r->doc = NULL; /* the caller's on failure */
	prun_free(r);
	return NULL;
}

/* The stored Pipeline `name`, parsed; SW_ENOTFOUND. */
static int pipeline_load(struct pipeline_server *ps, const char *name, void **out, char **owner,
			 struct sw_err *err)
{
	struct store_object o = {0};
	*out = NULL;
	if (engine_object_get(ps->cfg.engine, "Pipeline", name, &o, err) < 0)
		return -1;
	json_error_t jerr;
	json_t *j = json_loads(o.spec_json, 0, &jerr);
	int r = j ? spec_doc_from_json(&pipeline_kind, out, j, err) : sw_errf(err, -1, "pipeline/%s: %s", name,
									    jerr.text);
	json_decref(j);
	if (owner)
		*owner = xstrdup(o.owner ? o.owner : "");
	store_object_release(&o);
	return r;
}

/* The commit Source `name` synced last, into sha (41 bytes); false when none. */
static bool source_commit(struct pipeline_server *ps, const char *name, char *sha)
{
	struct store_object o = {0};
	struct sw_err err = {0};
	if (engine_object_get(ps->cfg.engine, "Source", name, &o, &err) < 0)
		return false;
	json_t *st = json_loads(o.status ? o.status : "", 0, NULL);
	const char *s = json_string_value(json_object_get(json_object_get(st, "commit"), "sha"));
	bool ok = s && strlen(s) == 40;
	if (ok)
		sw_strlcpy(sha, s, 41);
	json_decref(st);
	store_object_release(&o);
	return ok;
}

void pipeline_server_push(struct pipeline_server *ps, const char *source, const char *ref, const char *sha,
			  const char *before, const char *git_dir)
{
	struct store_object *objs = NULL;
	size_t n = 0;
	struct sw_err err = {0};
	if (ps->stopping)
		return;
	if (engine_objects(ps->cfg.engine, "Pipeline", &objs, &n, &err) < 0) {
		sw_warn("source %s: pipelines: %s", source, err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		void *doc = NULL;
		const char *why = NULL;
		json_t *j = json_loads(objs[i].spec_json, 0, NULL);
		if (!j || spec_doc_from_json(&pipeline_kind, &doc, j, &err) < 0) {
			sw_warn("pipeline/%s: %s", objs[i].name, err.msg);
			json_decref(j);
			continue;
		}
		json_decref(j);
		if (!pipeline_push_matches(doc, objs[i].owner, source, ref, NULL, 0, &why)) {
			pipeline_kind.free(doc);
			continue;
		}
		struct store_pipeline_run row = {.pipeline = objs[i].name, .source = (char *)source,
						 .sha = (char *)sha, .ref = (char *)ref, .trigger = "push"};
		char *actor = pipeline_newf("source/%s", source);
		row.actor = actor;
		if (!run_new(ps, doc, objs[i].owner, &row, NULL, git_dir, before, true, &err)) {
			sw_warn("pipeline/%s: %s", objs[i].name, err.msg);
			pipeline_kind.free(doc);
		}
		free(actor);
	}
	store_object_list_free(objs, n);
}

/* A manual run or a rerun: of doc (owned), on source's commit (sha) or none. */
static struct prun *run_on(struct pipeline_server *ps, void *doc, const char *owner, const char *source,
			   const char *sha, const char *ref, const char *trigger, const char *actor, int64_t rerun_of,
			   bool *jobs, struct sw_err *err)
{
	struct buf gd = BUF_INIT;
	if (source && *source && sha && *sha)
		buf_addf(&gd, "%s/%s.git", ps->cache, source);
	struct store_pipeline_run row = {.pipeline = ((struct pipeline *)doc)->name, .source = (char *)source,
					 .sha = (char *)sha, .ref = (char *)ref, .trigger = (char *)trigger,
					 .actor = (char *)actor, .rerun_of = rerun_of};
	struct prun *r = run_new(ps, doc, owner, &row, jobs, gd.len ? gd.s : NULL, NULL, false, err);
	buf_release(&gd);
	return r;
}

/* ---- the endpoints ---- */

static json_t *jobs_json(struct pipeline_server *ps, int64_t id)
{
	struct store_pipeline_job *js = NULL;
	size_t n = 0;
	struct sw_err err = {0};
	json_t *a = json_array();
	if (store_pipeline_job_list(ps->cfg.store, id, &js, &n, &err) < 0)
		return a;
	for (size_t i = 0; i < n; i++) {
		json_t *steps = json_loads(js[i].steps_json, 0, NULL);
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "name", js[i].name, "slug",
						   js[i].slug, "state", js[i].state, "reason", js[i].reason,
						   "startedAt", (json_int_t)js[i].started_ms, "finishedAt",
						   (json_int_t)js[i].finished_ms, "steps", steps ? steps : json_array()));
	}
	store_pipeline_job_list_free(js, n);
	return a;
}

static json_t *run_json(struct pipeline_server *ps, const struct store_pipeline_run *r, bool jobs)
{
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id",
			      (json_int_t)r->id, "pipeline", r->pipeline, "source", r->source, "commit", r->sha, "ref",
			      r->ref, "trigger", r->trigger, "actor", r->actor, "state", r->state, "reason", r->reason,
			      "rerunOf", (json_int_t)r->rerun_of, "createdAt", (json_int_t)r->created_ms, "startedAt",
			      (json_int_t)r->started_ms, "finishedAt", (json_int_t)r->finished_ms);
	if (jobs)
		json_object_set_new(j, "jobs", jobs_json(ps, r->id));
	return j;
}

static bool run_id(const struct http_req *req, struct http_resp *resp, int64_t *id)
{
	const char *s = http_req_param(req, "id");
	char *end;
	long long v = s ? strtoll(s, &end, 10) : 0;
	if (!s || !*s || *end || v <= 0) {
		http_resp_error(resp, 404, "pipeline run \"%s\" not found (a run is a number)", s ? s : "");
		return false;
	}
	*id = v;
	return true;
}

static void answer_err(struct http_resp *resp, const struct sw_err *err)
{
	http_resp_error(resp, http_status_of(err->code), "%s", err->msg);
}

/* The run the path names, from the store; false when answered (404). */
static bool stored_run(struct pipeline_server *ps, const struct http_req *req, struct http_resp *resp,
		       int64_t *id, struct store_pipeline_run *out)
{
	struct sw_err err = {0};
	if (!run_id(req, resp, id))
		return false;
	if (store_pipeline_run_get(ps->cfg.store, *id, out, &err) < 0) {
		answer_err(resp, &err);
		return false;
	}
	return true;
}

static void h_runs(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct pipeline_server *ps = data;
	const char *name = http_req_param(req, "name");
	if (!name)
		name = http_req_query(req, "pipeline");
	const char *lim = http_req_query(req, "limit");
	long long limit = lim ? strtoll(lim, NULL, 10) : LIST_DEFAULT;
	if (limit <= 0 || limit > LIST_MAX) {
		http_resp_error(resp, 422, "limit must be 1 to %d, got \"%s\"", LIST_MAX, lim);
		return;
	}
	struct store_pipeline_run *rs = NULL;
	size_t n = 0;
	struct sw_err err = {0};
	if (store_pipeline_run_list(ps->cfg.store, name, (size_t)limit, &rs, &n, &err) < 0) {
		answer_err(resp, &err);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, run_json(ps, &rs[i], true));
	store_pipeline_run_list_free(rs, n);
	http_resp_json(resp, 200, json_pack("{s:o}", "runs", a));
}

static void h_run(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct pipeline_server *ps = data;
	int64_t id;
	struct store_pipeline_run r;
	if (!stored_run(ps, req, resp, &id, &r))
		return;
	http_resp_json(resp, 200, run_json(ps, &r, true));
	store_pipeline_run_release(&r);
}

static void h_logs(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct pipeline_server *ps = data;
	int64_t id;
	struct store_pipeline_run r;
	struct sw_err err = {0};
	if (!stored_run(ps, req, resp, &id, &r))
		return;
	const char *job = http_req_query(req, "job"), *off = http_req_query(req, "offset");
	char *file = NULL;
	if (job && *job) {
		struct store_pipeline_job *js = NULL;
		size_t n = 0;
		struct buf names = BUF_INIT;
		if (store_pipeline_job_list(ps->cfg.store, id, &js, &n, &err) == 0)
			for (size_t i = 0; i < n; i++) {
				if (!file && (strcmp(js[i].name, job) == 0 || strcmp(js[i].slug, job) == 0))
					file = xstrdup(js[i].slug);
				buf_addf(&names, "%s%s", i ? ", " : "", js[i].name);
			}
		store_pipeline_job_list_free(js, n);
		if (!file) {
			http_resp_error(resp, 404, "pipeline run %" PRId64 " has no job \"%s\" (its jobs: %s)", id, job,
					names.len ? names.s : "none yet");
			buf_release(&names);
			store_pipeline_run_release(&r);
			return;
		}
		buf_release(&names);
	}
	struct buf path = BUF_INIT, text = BUF_INIT;
	buf_addf(&path, "%s/%" PRId64 "/%s.log", ps->logs_dir, id, file ? file : "run");
	long long from = off ? strtoll(off, NULL, 10) : 0;
	if (from < 0)
		from = 0;
	int fd = open(path.s, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char *chunk = xmalloc(LOG_CHUNK);
		ssize_t k = pread(fd, chunk, LOG_CHUNK, (off_t)from);
		if (k > 0) {
			/* whole lines only, so that a follower never splits one */
			ssize_t end = k;
			while (end > 0 && chunk[end - 1] != '\n')
				end--;
			if (end == 0 && k == LOG_CHUNK)
				end = k;
			buf_add(&text, chunk, (size_t)end);
		}
		free(chunk);
		close(fd);
	}
	bool done = strcmp(r.state, "queued") != 0 && strcmp(r.state, "running") != 0;
	json_t *j = json_pack("{s:s%, s:I, s:b, s:s}", "text", buf_str(&text), text.len, "offset",
			      (json_int_t)(from + (long long)text.len), "done", done, "state", r.state);
	http_resp_json(resp, 200, j);
	buf_release(&path);
	buf_release(&text);
	free(file);
	store_pipeline_run_release(&r);
}

static struct prun *live(struct pipeline_server *ps, int64_t id)
{
	for (struct prun *r = ps->runs; r; r = r->next)
		if (r->id == id && !r->finished)
			return r;
	return NULL;
}

static void h_cancel(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct pipeline_server *ps = data;
	int64_t id;
	struct store_pipeline_run row;
	if (!stored_run(ps, req, resp, &id, &row))
		return;
	struct prun *r = live(ps, id);
	if (!r) {
		http_resp_error(resp, 409, "pipeline run %" PRId64 " is not running: it is %s", id, row.state);
		store_pipeline_run_release(&row);
		return;
	}
	if (!r->cancelled) {
		r->cancelled = true;
		engine_event(ps->cfg.engine, NULL, "PipelineRunCancelling", req->actor,
			     "pipeline/%s run %" PRId64 ": cancel asked by %s", r->row.pipeline, id, req->actor);
		if (r->prepping)
			sw_proc_stop(&r->prep, SIGTERM, PIPELINE_STOP_GRACE_MS);
		else if (r->x)
			pipeline_exec_cancel(r->x, false);
	}
	json_t *j = run_json(ps, &row, false);
	json_object_set_new(j, "cancelling", json_true());
	http_resp_json(resp, 202, j);
	store_pipeline_run_release(&row);
}

static void answer_run(struct pipeline_server *ps, struct http_resp *resp, struct prun *r)
{
	struct store_pipeline_run row;
	struct sw_err err = {0};
	int64_t id = r->id;
	if (store_pipeline_run_get(ps->cfg.store, id, &row, &err) < 0) {
		answer_err(resp, &err);
		return;
	}
	http_resp_json(resp, 201, run_json(ps, &row, true));
	store_pipeline_run_release(&row);
}

static void h_start(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct pipeline_server *ps = data;
	const char *name = http_req_param(req, "name");
	void *doc = NULL;
	char *owner = NULL;
	struct sw_err err = {0};
	char sha[41] = "";
	if (pipeline_load(ps, name, &doc, &owner, &err) < 0) {
		if (err.code == SW_ENOTFOUND)
			http_resp_error(resp, 404, "pipeline \"%s\" not found (apply a kind: Pipeline document, or "
					"sync a Source whose paths hold one)", name);
		else
			answer_err(resp, &err);
		free(owner);
		return;
	}
	const struct pipeline *p = doc;
	if ((p->on_push || p->nschedules) && !p->on_manual) {
		http_resp_error(resp, 409, "pipeline/%s does not run by hand: its on: has no manual (add "
				"manual: {} to run it with pipeline run --server)", name);
		pipeline_kind.free(doc);
		free(owner);
		return;
	}
	const char *source = p->push_source ? p->push_source : *owner ? owner : NULL;
	if (source && !source_commit(ps, source, sha))
		source = NULL;
	struct prun *r = run_on(ps, doc, owner, source, sha, "", "manual", req->actor, 0, NULL, &err);
	free(owner);
	if (!r) {
		pipeline_kind.free(doc);
		answer_err(resp, &err);
		return;
	}
	answer_run(ps, resp, r);
}

static void h_rerun(const struct http_req *req, struct http_resp *resp, void *data)
{
	struct pipeline_server *ps = data;
	int64_t id;
	struct store_pipeline_run row;
	struct sw_err err = {0};
	if (!stored_run(ps, req, resp, &id, &row))
		return;
	json_t *body = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : json_object();
	bool failed = json_is_true(json_object_get(body, "failed"));
	json_decref(body);
	void *doc = NULL;
	json_t *j = json_loads(row.spec_json, 0, NULL);
	bool *want = NULL;
	struct prun *r = NULL;
	if (!j || spec_doc_from_json(&pipeline_kind, &doc, j, &err) < 0) {
		answer_err(resp, &err);
		goto out;
	}
	if (live(ps, id)) {
		http_resp_error(resp, 409, "pipeline run %" PRId64 " is still running (cancel it first)", id);
		goto out;
	}
	if (failed) {
		/* the jobs of the stored run that did not succeed, by their
		 * plan index: plan the same document again to map them */
		const struct pipeline *p = doc;
		struct pipeline_plan *plan = NULL;
		struct store_pipeline_job *js = NULL;
		size_t n = 0, count = 0;
		want = xcalloc(p->njobs + 1, sizeof(bool));
		if (pipeline_plan_new(&plan, p, &err) < 0 || store_pipeline_job_list(ps->cfg.store, id, &js, &n, &err) < 0) {
			pipeline_plan_free(plan);
			answer_err(resp, &err);
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			if (strcmp(js[i].state, "success") != 0 && strcmp(js[i].state, "skipped") != 0 &&
			    (size_t)js[i].idx < plan->nruns && !want[plan->runs[js[i].idx].job]) {
				want[plan->runs[js[i].idx].job] = true;
				count++;
			}
		store_pipeline_job_list_free(js, n);
		pipeline_plan_free(plan);
		if (!count) {
			http_resp_error(resp, 409, "pipeline run %" PRId64 " has no failed job to run again (it is %s)",
					id, row.state);
			goto out;
		}
	}
	r = run_on(ps, doc, NULL, row.source, row.sha, row.ref, "rerun", req->actor, id, want, &err);
	if (!r) {
		answer_err(resp, &err);
		goto out;
	}
	doc = NULL;
	answer_run(ps, resp, r);
out:
	if (doc)
		pipeline_kind.free(doc);
	free(want);
	json_decref(j);
	store_pipeline_run_release(&row);
}

void pipeline_server_routes(struct pipeline_server *ps, struct http_server *http)
{
	http_route(http, "GET", "/v1/pipeline-runs", HTTP_ROLE_VIEWER, h_runs, ps);
	http_route(http, "GET", "/v1/pipeline-runs/{id}", HTTP_ROLE_VIEWER, h_run, ps);
	http_route(http, "GET", "/v1/pipeline-runs/{id}/logs", HTTP_ROLE_VIEWER, h_logs, ps);
	http_route(http, "POST", "/v1/pipeline-runs/{id}/cancel", HTTP_ROLE_DEPLOYER, h_cancel, ps);
	http_route(http, "POST", "/v1/pipeline-runs/{id}/rerun", HTTP_ROLE_DEPLOYER, h_rerun, ps);
	http_route(http, "GET", "/v1/pipelines/{name}/runs", HTTP_ROLE_VIEWER, h_runs, ps);
	http_route(http, "POST", "/v1/pipelines/{name}/runs", HTTP_ROLE_DEPLOYER, h_start, ps);
}

/* ---- life ---- */

int pipeline_server_new(struct pipeline_server **out, const struct pipeline_server_config *cfg,
			struct sw_err *err)
{
	struct pipeline_server *ps = xcalloc(1, sizeof(*ps));
	ps->cfg = *cfg;
	ps->state_dir = xstrdup(cfg->state_dir);
	ps->cache = xstrdup(cfg->sources_cache);
	ps->cfg.state_dir = ps->state_dir;
	ps->cfg.sources_cache = ps->cache;
	ps->work_dir = pipeline_newf("%s/pipelines/work", cfg->state_dir);
	ps->logs_dir = pipeline_newf("%s/logs/pipelines", cfg->state_dir);
	if (sw_mkdir_p(ps->logs_dir, 0700) < 0) {
		int r = sw_errf(err, -1, "cannot make \"%s\": %s", ps->logs_dir, strerror(errno));
		pipeline_server_free(ps);
		return r;
	}
	*out = ps;
	return 0;
}

int pipeline_server_start(struct pipeline_server *ps, struct sw_err *err)
{
	int64_t *ids = NULL;
	size_t n = 0;
	if (store_pipeline_run_fail_open(ps->cfg.store, PIPELINE_SERVER_STOPPED, sw_wall_ms(), &ids, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct store_pipeline_run r;
		struct sw_err gerr = {0};
		if (store_pipeline_run_get(ps->cfg.store, ids[i], &r, &gerr) < 0)
			continue;
		engine_event(ps->cfg.engine, NULL, "PipelineRunFailed", "daemon", "pipeline/%s run %" PRId64 " failed: %s",
			     r.pipeline, r.id, PIPELINE_SERVER_STOPPED);
		store_pipeline_run_release(&r);
	}
	free(ids);
	/* an old daemon's workspaces: nothing uses them now */
	struct stat st;
	if (stat(ps->work_dir, &st) == 0) {
		char *old = pipeline_newf("%s.old-%" PRId64, ps->work_dir, sw_wall_ms());
		if (rename(ps->work_dir, old) == 0)
			remove_tree(ps, old);
		free(old);
	}
	if (sw_mkdir_p(ps->work_dir, 0700) < 0)
		return sw_errf(err, -1, "cannot make \"%s\": %s", ps->work_dir, strerror(errno));
	return 0;
}

void pipeline_server_stop(struct pipeline_server *ps)
{
	ps->stopping = true;
	for (struct prun *r = ps->runs; r; r = r->next) {
		if (r->prepping)
			sw_proc_stop(&r->prep, SIGKILL, 0);
		if (r->x && !r->freeing)
			pipeline_exec_cancel(r->x, true);
		if (r->id && !r->finished) {
			r->finished = true;
			r->row.finished_ms = sw_wall_ms();
			set_state(r, "failure", PIPELINE_SERVER_STOPPED);
			save_run(r);
			for (size_t i = 0; r->jobs && i < r->plan->nruns; i++)
				if (!pipeline_state_final(r->jobs[i].state)) {
					r->jobs[i].state = r->jobs[i].state == PIPELINE_RUNNING ? PIPELINE_FAILURE
												  : PIPELINE_CANCELLED;
					free(r->jobs[i].reason);
					r->jobs[i].reason = xstrdup(PIPELINE_SERVER_STOPPED);
					save_job(r, i);
				}
		}
	}
}

void pipeline_server_free(struct pipeline_server *ps)
{
	if (!ps)
		return;
	/* runs still here had their handles closed with the loop: their
	 * executors' memory goes with the process */
	free(ps->state_dir);
	free(ps->cache);
	free(ps->work_dir);
	free(ps->logs_dir);
	free(ps);
}
