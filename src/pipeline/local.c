/*
 * `slipway pipeline run` (exec.h's pipeline_run_local): one run of a
 * pipeline in the current checkout, without a daemon. The executor runs
 * on a loop of its own; this file prints what it tells (timestamped lines
 * prefixed by the job run's name, each step's start and end), writes each
 * job run's log to .slipway/runs/N/SLUG.log, prints the summary table,
 * and turns the first SIGINT/SIGTERM into a cancel (cleanup steps run)
 * and the second into a kill.
 */
#include "exec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pipeline_int.h"
#include "results.h"

#define RUNS_DIR ".slipway/runs"

struct step_row {
	const char *name;           /* borrowed from the document */
	enum pipeline_state state;
	bool outcome_failed;
	unsigned attempt;
	uint64_t ms;
};

struct run_row {
	enum pipeline_state state;
	char *reason;
	uint64_t ms;
	struct step_row *steps;
	FILE *log;
	json_t *results;            /* its reports and gates, or NULL */
};

struct local {
	uv_loop_t loop;
	const struct pipeline_plan *plan;
	struct pipeline_exec *x;
	struct run_row *rows;
	const char *run_dir;
	uv_signal_t sigint, sigterm;
	int signals;
	bool done;
	enum pipeline_state result;
	char *reason;
	uint64_t began;
};

static void stamp(char *out, size_t size, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	snprintf(out, size, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void emit(struct local *l, size_t run, int64_t ms, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void emit(struct local *l, size_t run, int64_t ms, const char *fmt, ...)
{
	char ts[32];
	va_list ap;
	va_start(ap, fmt);
	char *text = buf_vnewf(fmt, ap);
	va_end(ap);
	stamp(ts, sizeof(ts), ms);
	printf("%s [%s] %s\n", ts, l->plan->runs[run].name, text);
	fflush(stdout);
	if (l->rows[run].log)
		fprintf(l->rows[run].log, "%s %s\n", ts, text);
	free(text);
}

static int64_t now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_line(const struct pipeline_exec_line *ln, void *data)
{
	struct local *l = data;
	emit(l, ln->run, ln->wall_ms, "%s%.*s", ln->note ? "!! " : "", (int)ln->len, ln->text);
}

static void dur(char *out, size_t size, uint64_t ms)
{
	if (ms < 1000)
		snprintf(out, size, "%llums", (unsigned long long)ms);
	else if (ms < 60000)
		snprintf(out, size, "%.1fs", (double)ms / 1000);
	else
		snprintf(out, size, "%llum%02llus", (unsigned long long)(ms / 60000),
			 (unsigned long long)(ms / 1000 % 60));
}

static void on_step(const struct pipeline_exec_step *s, void *data)
{
	struct local *l = data;
	struct step_row *row = &l->rows[s->run].steps[s->step];
	size_t n = l->plan->p->jobs[l->plan->runs[s->run].job].nsteps;
	row->state = s->state;
	row->attempt = s->attempt;
	row->ms = s->duration_ms;
	row->outcome_failed = s->outcome_failed;
	if (s->state == PIPELINE_RUNNING) {
		emit(l, s->run, now_wall(), "-- step %zu/%zu \"%s\"", s->step + 1, n, s->name);
		return;
	}
	char d[32];
	dur(d, sizeof(d), s->duration_ms);
	if (s->state == PIPELINE_SKIPPED)
		emit(l, s->run, now_wall(), "-- step %zu/%zu \"%s\": skipped (its if: is false)", s->step + 1, n,
		     s->name);
	else
		emit(l, s->run, now_wall(), "-- step %zu/%zu \"%s\": %s%s%s in %s%s", s->step + 1, n, s->name,
		     pipeline_state_name(s->state), s->reason ? ", " : "", s->reason ? s->reason : "", d,
		     s->outcome_failed ? " (continue-on-error)" : "");
}

static void on_job(size_t run, enum pipeline_state st, const char *reason, uint64_t ms, void *data)
{
	struct local *l = data;
	struct run_row *row = &l->rows[run];
	row->state = st;
	row->ms = ms;
	if (st == PIPELINE_RUNNING) {
		struct buf path = BUF_INIT;
		buf_addf(&path, "%s/%s.log", l->run_dir, pipeline_exec_slug(l->x, run));
		row->log = fopen(path.s, "we");
		buf_release(&path);
		emit(l, run, now_wall(), "job started");
		return;
	}
	free(row->reason);
	row->reason = reason ? xstrdup(reason) : NULL;
	char d[32];
	dur(d, sizeof(d), ms);
	emit(l, run, now_wall(), "job %s%s%s%s%s", pipeline_state_name(st), reason ? ": " : "", reason ? reason : "",
	     ms ? " in " : "", ms ? d : "");
	if (row->log) {
		fclose(row->log);
		row->log = NULL;
	}
}

/* After a job's steps: its counts, its first failed tests, its gates. */
static void on_results(size_t run, const json_t *res, void *data)
{
	struct local *l = data;
	struct buf line = BUF_INIT;
	json_decref(l->rows[run].results);
	l->rows[run].results = json_deep_copy(res);
	pipeline_results_line(&line, res);
	if (line.len)
		emit(l, run, now_wall(), "results: %s", line.s);
	const json_t *t = json_object_get(res, "tests"), *f, *g;
	size_t i;
	json_array_foreach(json_object_get(t, "failures"), i, f)
		emit(l, run, now_wall(), "  FAILED %s: %s", json_string_value(json_object_get(f, "name")),
		     json_string_value(json_object_get(f, "message")));
	json_int_t bad = json_integer_value(json_object_get(t, "failed")) + json_integer_value(json_object_get(t, "errors"));
	if (bad > (json_int_t)json_array_size(json_object_get(t, "failures")))
		emit(l, run, now_wall(), "  ... and %lld more (the first %d are named; results.json)",
		     (long long)(bad - (json_int_t)json_array_size(json_object_get(t, "failures"))),
		     PIPELINE_RESULTS_SHOWN);
	if (json_object_get(t, "note"))
		emit(l, run, now_wall(), "  note: %s", json_string_value(json_object_get(t, "note")));
	if (json_object_get(res, "error"))
		emit(l, run, now_wall(), "  error: %s", json_string_value(json_object_get(res, "error")));
	json_array_foreach(json_object_get(res, "gates"), i, g)
		emit(l, run, now_wall(), "  gate %s: %s", json_is_true(json_object_get(g, "passed")) ? "passed" : "FAILED",
		     json_string_value(json_object_get(g, "reason")));
	buf_release(&line);
}

/* RUN_DIR/results.json: each job run with reports or gates, for the daemon's slice to store. */
static void results_write(struct local *l, const char *pipeline, const char *number)
{
	json_t *runs = json_array();
	for (size_t r = 0; r < l->plan->nruns; r++)
		if (l->rows[r].results)
			json_array_append_new(runs, json_pack("{ss ss sO}", "job", l->plan->runs[r].name, "result",
							      pipeline_state_name(l->rows[r].state), "results",
							      l->rows[r].results));
	json_t *doc = json_pack("{ss ss ss so}", "pipeline", pipeline, "run", number, "result",
				pipeline_state_name(l->result), "jobs", runs);
	struct buf path = BUF_INIT;
	buf_addf(&path, "%s/results.json", l->run_dir);
	if (json_dump_file(doc, path.s, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
		fprintf(stderr, "cannot write \"%s\"\n", path.s);
	buf_release(&path);
	json_decref(doc);
}

static void on_finish(enum pipeline_state result, const char *reason, void *data)
{
	struct local *l = data;
	l->done = true;
	l->result = result;
	l->reason = reason ? xstrdup(reason) : NULL;
	uv_signal_stop(&l->sigint);
	uv_signal_stop(&l->sigterm);
}

static void on_signal(uv_signal_t *h, int sig)
{
	struct local *l = h->data;
	if (l->done)
		return;
	if (l->signals++ == 0) {
		fprintf(stderr, "%s: cancelling: stopping the steps, then the cleanup steps (if: always(), "
				"cancelled()); again to kill at once\n",
			sig == SIGINT ? "SIGINT" : "SIGTERM");
		pipeline_exec_cancel(l->x, false);
	} else {
		fprintf(stderr, "killing every step now, no cleanup\n");
		pipeline_exec_cancel(l->x, true);
	}
}

static void summary(struct local *l)
{
	const struct pipeline_plan *plan = l->plan;
	size_t wj = 3, ws = 4;
	for (size_t r = 0; r < plan->nruns; r++) {
		const struct pipeline_job *pj = &plan->p->jobs[plan->runs[r].job];
		if (strlen(plan->runs[r].name) > wj)
			wj = strlen(plan->runs[r].name);
		for (size_t s = 0; s < pj->nsteps; s++)
			if (strcspn(l->rows[r].steps[s].name, "\n") > ws)
				ws = strcspn(l->rows[r].steps[s].name, "\n");
	}
	if (ws > 40)
		ws = 40;
	printf("\n%-*s  %-*s  %-10s %8s\n", (int)wj, "JOB", (int)ws, "STEP", "RESULT", "TIME");
	for (size_t r = 0; r < plan->nruns; r++) {
		const struct pipeline_job *pj = &plan->p->jobs[plan->runs[r].job];
		struct run_row *row = &l->rows[r];
		char d[32];
		dur(d, sizeof(d), row->ms);
		printf("%-*s  %-*s  %-10s %8s%s%s\n", (int)wj, plan->runs[r].name, (int)ws, "", pipeline_state_name(row->state),
		       row->ms ? d : "-", row->reason ? "  " : "", row->reason ? row->reason : "");
		if (row->results) {
			struct buf line = BUF_INIT;
			pipeline_results_line(&line, row->results);
			printf("%-*s  %s\n", (int)wj, "", line.s);
			buf_release(&line);
		}
		for (size_t s = 0; s < pj->nsteps; s++) {
			struct step_row *st = &row->steps[s];
			if (st->state == PIPELINE_PENDING)
				continue;
			size_t len = strcspn(st->name, "\n");
			dur(d, sizeof(d), st->ms);
			printf("%-*s  %-*.*s  %-10s %8s%s\n", (int)wj, "", (int)ws, (int)(len < ws ? len : ws), st->name,
			       st->outcome_failed ? "failure*" : pipeline_state_name(st->state),
			       st->state == PIPELINE_SKIPPED ? "-" : d,
			       st->attempt > 1 ? "  (retried)" : "");
		}
	}
}

/* .slipway/runs/N, N one more than the highest there; made here. */
static int run_dir_make(struct buf *out, struct sw_err *err)
{
	if ((mkdir(".slipway", 0755) < 0 && errno != EEXIST) || (mkdir(RUNS_DIR, 0755) < 0 && errno != EEXIST))
		return sw_errf(err, -1, "cannot make \"%s\": %s", RUNS_DIR, strerror(errno));
	/* the runs never show up in git status, nor in a workspace's copy */
	FILE *f = fopen(RUNS_DIR "/.gitignore", "wxe");
	if (f) {
		fputs("*\n", f);
		fclose(f);
	}
	for (;;) {
		unsigned long max = 0;
		DIR *d = opendir(RUNS_DIR);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			char *end;
			unsigned long n = strtoul(e->d_name, &end, 10);
			if (*end == '\0' && n > max)
				max = n;
		}
		if (d)
			closedir(d);
		buf_reset(out);
		buf_addf(out, RUNS_DIR "/%lu", max + 1);
		if (mkdir(out->s, 0755) == 0)
			return 0;
		if (errno != EEXIST)
			return sw_errf(err, -1, "cannot make \"%s\": %s", out->s, strerror(errno));
	}
}

/* "NAME" (from the environment) or "NAME=@FILE". */
static int secret_read(struct pipeline_secret *out, const char *arg, struct sw_err *err)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
	out->name = xstrndup(arg, n);
	if (!pipeline_env_name_ok(out->name))
		return sw_errf(err, -1, "--secret \"%s\": a name is letters, digits and _ (NAME or NAME=@FILE)", arg);
	if (!eq) {
		const char *v = getenv(out->name);
		if (!v)
			return sw_errf(err, -1, "--secret %s: %s is not set in the environment (or give %s=@FILE)",
				       out->name, out->name, out->name);
		out->value = xstrdup(v);
		return 0;
	}
	if (eq[1] != '@')
		return sw_errf(err, -1,
			       "--secret %s: give NAME (read from the environment) or NAME=@FILE, never the value "
			       "itself (it would stay in the shell's history and the process list)",
			       out->name);
	int fd = open(eq + 2, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sw_errf(err, -1, "--secret %s: cannot read \"%s\": %s", out->name, eq + 2, strerror(errno));
	struct buf b = BUF_INIT;
	b.cap = 1 << 20;
	int r = buf_add_fd(&b, fd);
	close(fd);
	if (r < 0) {
		buf_release(&b);
		return sw_errf(err, -1, "--secret %s: \"%s\" is over 1 MiB", out->name, eq + 2);
	}
	if (b.len && b.s[b.len - 1] == '\n')
		b.s[--b.len] = '\0';
	out->value = buf_detach(&b);
	return 0;
}

/* The jobs --job J runs: J and what it needs, in document order. */
static int select_jobs(struct pipeline *out, const struct pipeline *p, const char *job, struct sw_err *err)
{
	size_t at;
	if (!pipeline_job_find(p, job, &at)) {
		struct buf ids = BUF_INIT;
		for (size_t i = 0; i < p->njobs; i++)
			buf_addf(&ids, "%s%s", i ? ", " : "", p->jobs[i].id);
		int rc = sw_errf(err, -1, "--job %s: pipeline/%s has no such job (its jobs: %s)", job, p->name, ids.s);
		buf_release(&ids);
		return rc;
	}
	bool *want = xcalloc(p->njobs, sizeof(bool));
	want[at] = true;
	pipeline_select_jobs(out, p, want);
	free(want);
	return 0;
}

void pipeline_select_jobs(struct pipeline *out, const struct pipeline *p, bool *want)
{
	size_t *stack = xcalloc(p->njobs + 1, sizeof(size_t)), n = 0, count = 0;
	for (size_t i = 0; i < p->njobs; i++)
		if (want[i])
			stack[n++] = i;
	while (n) {
		const struct pipeline_job *j = &p->jobs[stack[--n]];
		for (size_t k = 0; k < j->nneeds; k++) {
			size_t i;
			if (pipeline_job_find(p, j->needs[k], &i) && !want[i]) {
				want[i] = true;
				stack[n++] = i;
			}
		}
	}
	*out = *p;
	out->jobs = xcalloc(p->njobs + 1, sizeof(*out->jobs));
	for (size_t i = 0; i < p->njobs; i++)
		if (want[i])
			out->jobs[count++] = p->jobs[i];
	out->njobs = count;
	free(stack);
}

static json_t *slipway_context(const char *number)
{
	struct buf ref = BUF_INIT, sha = BUF_INIT;
	char *a1[] = {"git", "symbolic-ref", "-q", "HEAD", NULL};
	char *a2[] = {"git", "rev-parse", "-q", "--verify", "HEAD", NULL};
	if (pipeline_capture(&ref, a1, NULL) != 0)
		buf_reset(&ref);
	if (pipeline_capture(&sha, a2, NULL) != 0)
		buf_reset(&sha);
	while (ref.len && ref.s[ref.len - 1] == '\n')
		ref.s[--ref.len] = '\0';
	while (sha.len && sha.s[sha.len - 1] == '\n')
		sha.s[--sha.len] = '\0';
	const char *name = strncmp(ref.s, "refs/heads/", 11) == 0 ? ref.s + 11 : ref.s;
	const char *user = getenv("USER");
	json_t *c = json_pack("{ss ss ss ss ss ss}", "ref", ref.s, "ref_name", name, "sha", sha.s, "event_name",
			      "manual", "run_number", number, "actor", user ? user : "");
	buf_release(&ref);
	buf_release(&sha);
	return c;
}

static int pick(const struct pipeline **out, const struct spec_set *set, const char *file, struct sw_err *err)
{
	*out = NULL;
	struct buf names = BUF_INIT;
	size_t n = 0;
	for (size_t i = 0; i < set->ndocs; i++)
		if (set->docs[i].kind == &pipeline_kind) {
			const struct pipeline *p = set->docs[i].obj;
			buf_addf(&names, "%s%s", n++ ? ", " : "", p->name);
			if (!*out)
				*out = p;
		}
	int rc = 0;
	if (n == 0)
		rc = sw_errf(err, -1, "%s: no Pipeline document in it (kind: Pipeline)", file);
	else if (n > 1)
		rc = sw_errf(err, -1, "%s: holds %zu pipelines (%s); run takes a file with one", file, n, names.s);
	buf_release(&names);
	return rc;
}

int pipeline_run_local(const char *file, const char *job, char *const *secret_args, size_t nsecrets,
		       const char *sandbox, unsigned workers, struct sw_err *err)
{
	struct spec_set set = {0};
	struct pipeline sub = {0};
	struct pipeline_plan *plan = NULL;
	struct pipeline_secret *secrets = xcalloc(nsecrets + 1, sizeof(*secrets));
	struct buf dir = BUF_INIT;
	struct local l = {0};
	json_t *ctx = NULL;
	const struct pipeline *p = NULL;
	int rc = -1;
	bool loop_init = false;

	enum pipeline_sandbox sb = PIPELINE_SANDBOX_BWRAP;
	if (sandbox && strcmp(sandbox, "none") == 0)
		sb = PIPELINE_SANDBOX_NONE;
	else if (sandbox && strcmp(sandbox, "bwrap") != 0) {
		sw_errf(err, -1, "--sandbox must be bwrap or none, got \"%s\"", sandbox);
		goto out;
	}
	for (size_t i = 0; i < nsecrets; i++)
		if (secret_read(&secrets[i], secret_args[i], err) < 0)
			goto out;
	if (spec_parse_path(&set, file, err) < 0 || pick(&p, &set, file, err) < 0)
		goto out;
	if (job) {
		if (select_jobs(&sub, p, job, err) < 0)
			goto out;
		p = &sub;
	}
	if (pipeline_plan_new(&plan, p, err) < 0)
		goto out;
	if (run_dir_make(&dir, err) < 0)
		goto out;
	const char *number = strrchr(dir.s, '/') + 1;
	ctx = slipway_context(number);
	uv_loop_init(&l.loop);
	loop_init = true;
	l.plan = plan;
	l.run_dir = dir.s;
	l.rows = xcalloc(plan->nruns + 1, sizeof(*l.rows));
	for (size_t r = 0; r < plan->nruns; r++) {
		const struct pipeline_job *pj = &p->jobs[plan->runs[r].job];
		l.rows[r].steps = xcalloc(pj->nsteps + 1, sizeof(struct step_row));
		for (size_t s = 0; s < pj->nsteps; s++)
			l.rows[r].steps[s].name = pj->steps[s].name ? pj->steps[s].name : pj->steps[s].run;
	}
	struct pipeline_exec_options o = {
		.checkout = ".", .run_dir = dir.s, .sandbox = sb, .workers = workers, .secrets = secrets,
		.nsecrets = nsecrets, .slipway = ctx, .run_number = number, .on_line = on_line,
		.on_step = on_step, .on_job = on_job, .on_finish = on_finish, .on_results = on_results,
		.data = &l,
	};
	if (pipeline_exec_new(&l.x, &l.loop, plan, &o, err) < 0) {
		rmdir(dir.s);
		goto out;
	}
	uv_signal_init(&l.loop, &l.sigint);
	uv_signal_init(&l.loop, &l.sigterm);
	l.sigint.data = l.sigterm.data = &l;
	uv_signal_start(&l.sigint, on_signal, SIGINT);
	uv_signal_start(&l.sigterm, on_signal, SIGTERM);
	printf("pipeline/%s: run %s, %zu job run%s, logs in %s/\n", p->name, number, plan->nruns,
	       plan->nruns == 1 ? "" : "s", dir.s);
	fflush(stdout);
	l.began = sw_now_ms();
	pipeline_exec_start(l.x);
	uv_run(&l.loop, UV_RUN_DEFAULT);
	summary(&l);
	results_write(&l, p->name, number);
	char d[32];
	dur(d, sizeof(d), sw_now_ms() - l.began);
	bool why = l.reason && l.result != PIPELINE_SUCCESS && strcmp(l.reason, pipeline_state_name(l.result)) != 0;
	printf("\npipeline/%s run %s: %s%s%s in %s (logs: %s/)\n", p->name, number, pipeline_state_name(l.result),
	       why ? ": " : "", why ? l.reason : "", d, dir.s);
	fflush(stdout);
	pipeline_exec_free(l.x);
	uv_close((uv_handle_t *)&l.sigint, NULL);
	uv_close((uv_handle_t *)&l.sigterm, NULL);
	uv_run(&l.loop, UV_RUN_DEFAULT);
	rc = l.result == PIPELINE_SUCCESS ? 0 : l.result == PIPELINE_CANCELLED ? 130 : 1;
out:
	if (loop_init)
		uv_loop_close(&l.loop);
	if (l.rows) {
		for (size_t r = 0; r < plan->nruns; r++) {
			free(l.rows[r].reason);
			free(l.rows[r].steps);
			json_decref(l.rows[r].results);
			if (l.rows[r].log)
				fclose(l.rows[r].log);
		}
		free(l.rows);
	}
	free(l.reason);
	json_decref(ctx);
	for (size_t i = 0; i < nsecrets; i++) {
		free(secrets[i].name);
		free(secrets[i].value);
	}
	free(secrets);
	pipeline_plan_free(plan);
	free(sub.jobs);
	spec_set_release(&set);
	buf_release(&dir);
	return rc;
}
