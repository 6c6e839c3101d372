/*
 * Pipeline runs and their job runs (store.h, "Pipeline runs"). Not hot:
 * a row changes when a step starts or ends, so each call prepares its
 * statement.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/core.h"

#define RUN_COLS "id, pipeline, source, sha, ref, trigger, actor, state, reason, rerun_of, spec_json," \
		 " created_ms, started_ms, finished_ms"
#define JOB_COLS "run, idx, name, slug, state, reason, started_ms, finished_ms, steps_json"

static int fail(sqlite3 *db, const char *what, struct sw_err *err)
{
	return sw_errf(err, -1, "store: %s: %s", what, sqlite3_errmsg(db));
}

static int prepare(struct store *s, sqlite3_stmt **st, const char *sql, const char *what, struct sw_err *err)
{
	if (sqlite3_prepare_v2(store_db(s), sql, -1, st, NULL) != SQLITE_OK)
		return fail(store_db(s), what, err);
	return 0;
}

static char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return xstrdup(t ? (const char *)t : "");
}

static void text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

/* Steps st to its end: 0, or -1 with err. */
static int done(struct store *s, sqlite3_stmt *st, const char *what, struct sw_err *err)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : fail(store_db(s), what, err);
	sqlite3_finalize(st);
	return r;
}

int store_pipeline_run_add(struct store *s, const struct store_pipeline_run *r, int64_t *out_id,
			   struct sw_err *err)
{
	sqlite3_stmt *st;
	if (prepare(s, &st, "INSERT INTO pipeline_runs (pipeline, source, sha, ref, trigger, actor, state,"
			    " reason, rerun_of, spec_json, created_ms, started_ms, finished_ms)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
		    "add pipeline run", err) < 0)
		return -1;
	text(st, 1, r->pipeline);
	text(st, 2, r->source);
	text(st, 3, r->sha);
	text(st, 4, r->ref);
	text(st, 5, r->trigger);
	text(st, 6, r->actor);
	text(st, 7, r->state);
	text(st, 8, r->reason);
	sqlite3_bind_int64(st, 9, r->rerun_of);
	text(st, 10, r->spec_json);
	sqlite3_bind_int64(st, 11, r->created_ms ? r->created_ms : sw_wall_ms());
	sqlite3_bind_int64(st, 12, r->started_ms);
	sqlite3_bind_int64(st, 13, r->finished_ms);
	if (done(s, st, "add pipeline run", err) < 0)
		return -1;
	*out_id = sqlite3_last_insert_rowid(store_db(s));
	return 0;
}

int store_pipeline_run_put(struct store *s, const struct store_pipeline_run *r, struct sw_err *err)
{
	sqlite3_stmt *st;
	if (prepare(s, &st, "UPDATE pipeline_runs SET state = ?2, reason = ?3, started_ms = ?4, finished_ms = ?5"
			    " WHERE id = ?1", "update pipeline run", err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, r->id);
	text(st, 2, r->state);
	text(st, 3, r->reason);
	sqlite3_bind_int64(st, 4, r->started_ms);
	sqlite3_bind_int64(st, 5, r->finished_ms);
	return done(s, st, "update pipeline run", err);
}

static void read_run(sqlite3_stmt *st, struct store_pipeline_run *r)
{
	r->id = sqlite3_column_int64(st, 0);
	r->pipeline = col(st, 1);
	r->source = col(st, 2);
	r->sha = col(st, 3);
	r->ref = col(st, 4);
	r->trigger = col(st, 5);
	r->actor = col(st, 6);
	r->state = col(st, 7);
	r->reason = col(st, 8);
	r->rerun_of = sqlite3_column_int64(st, 9);
	r->spec_json = col(st, 10);
	r->created_ms = sqlite3_column_int64(st, 11);
	r->started_ms = sqlite3_column_int64(st, 12);
	r->finished_ms = sqlite3_column_int64(st, 13);
}

int store_pipeline_run_get(struct store *s, int64_t id, struct store_pipeline_run *out, struct sw_err *err)
{
	sqlite3_stmt *st;
	memset(out, 0, sizeof(*out));
	if (prepare(s, &st, "SELECT " RUN_COLS " FROM pipeline_runs WHERE id = ?1", "get pipeline run", err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st), r = 0;
	if (rc == SQLITE_ROW)
		read_run(st, out);
	else if (rc == SQLITE_DONE)
		r = sw_errf(err, SW_ENOTFOUND, "pipeline run %lld not found", (long long)id);
	else
		r = fail(store_db(s), "get pipeline run", err);
	sqlite3_finalize(st);
	return r;
}

int store_pipeline_run_list(struct store *s, const char *pipeline, size_t limit,
			    struct store_pipeline_run **out, size_t *n, struct sw_err *err)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	if (prepare(s, &st, "SELECT " RUN_COLS " FROM pipeline_runs WHERE (?1 = '' OR pipeline = ?1)"
			    " ORDER BY id DESC LIMIT ?2", "list pipeline runs", err) < 0)
		return -1;
	text(st, 1, pipeline);
	sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		memset(&(*out)[*n], 0, sizeof(**out));
		read_run(st, &(*out)[(*n)++]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_pipeline_run_list_free(*out, *n);
		*out = NULL;
		*n = 0;
		return fail(store_db(s), "list pipeline runs", err);
	}
	return 0;
}

/* A step still running or waiting in a job that ended with the daemon. */
static char *steps_failed(const char *steps_json)
{
	json_t *a = json_loads(steps_json, 0, NULL), *it;
	size_t i;
	json_array_foreach(a, i, it) {
		const char *state = json_string_value(json_object_get(it, "state"));
		if (state && strcmp(state, "running") == 0)
			json_object_set_new(it, "state", json_string("failure"));
	}
	char *t = a ? json_dumps(a, JSON_COMPACT) : xstrdup("[]");
	json_decref(a);
	return t;
}

int store_pipeline_run_fail_open(struct store *s, const char *reason, int64_t now_ms, int64_t **out,
				 size_t *n, struct sw_err *err)
{
	sqlite3_stmt *st = NULL;
	*out = NULL;
	*n = 0;
	if (prepare(s, &st, "SELECT id FROM pipeline_runs WHERE state IN ('queued', 'running') ORDER BY id",
		    "open pipeline runs", err) < 0)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < *n; i++) {
		struct store_pipeline_job *jobs = NULL;
		size_t nj = 0;
		if (store_pipeline_job_list(s, (*out)[i], &jobs, &nj, err) < 0)
			return -1;
		for (size_t k = 0; k < nj; k++) {
			if (strcmp(jobs[k].state, "running") != 0 && strcmp(jobs[k].state, "queued") != 0 &&
			    strcmp(jobs[k].state, "pending") != 0)
				continue;
			char *steps = steps_failed(jobs[k].steps_json);
			free(jobs[k].steps_json);
			jobs[k].steps_json = steps;
			bool ran = strcmp(jobs[k].state, "running") == 0;
			free(jobs[k].state);
			jobs[k].state = xstrdup(ran ? "failure" : "cancelled");
			free(jobs[k].reason);
			jobs[k].reason = xstrdup(reason);
			if (ran)
				jobs[k].finished_ms = now_ms;
			if (store_pipeline_job_put(s, &jobs[k], err) < 0) {
				store_pipeline_job_list_free(jobs, nj);
				return -1;
			}
		}
		store_pipeline_job_list_free(jobs, nj);
		if (prepare(s, &st, "UPDATE pipeline_runs SET state = 'failure', reason = ?2, finished_ms = ?3"
				    " WHERE id = ?1", "fail pipeline run", err) < 0)
			return -1;
		sqlite3_bind_int64(st, 1, (*out)[i]);
		text(st, 2, reason);
		sqlite3_bind_int64(st, 3, now_ms);
		if (done(s, st, "fail pipeline run", err) < 0)
			return -1;
	}
	return 0;
}

void store_pipeline_run_release(struct store_pipeline_run *r)
{
	free(r->pipeline);
	free(r->source);
	free(r->sha);
	free(r->ref);
	free(r->trigger);
	free(r->actor);
	free(r->state);
	free(r->reason);
	free(r->spec_json);
	memset(r, 0, sizeof(*r));
}

void store_pipeline_run_list_free(struct store_pipeline_run *rs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_pipeline_run_release(&rs[i]);
	free(rs);
}

int store_pipeline_job_put(struct store *s, const struct store_pipeline_job *j, struct sw_err *err)
{
	sqlite3_stmt *st;
	if (prepare(s, &st, "INSERT OR REPLACE INTO pipeline_jobs (" JOB_COLS ")"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", "put pipeline job", err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, j->run);
	sqlite3_bind_int64(st, 2, j->idx);
	text(st, 3, j->name);
	text(st, 4, j->slug);
	text(st, 5, j->state);
	text(st, 6, j->reason);
	sqlite3_bind_int64(st, 7, j->started_ms);
	sqlite3_bind_int64(st, 8, j->finished_ms);
	text(st, 9, j->steps_json && *j->steps_json ? j->steps_json : "[]");
	return done(s, st, "put pipeline job", err);
}

int store_pipeline_job_list(struct store *s, int64_t run, struct store_pipeline_job **out, size_t *n,
			    struct sw_err *err)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	if (prepare(s, &st, "SELECT " JOB_COLS " FROM pipeline_jobs WHERE run = ?1 ORDER BY idx",
		    "list pipeline jobs", err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, run);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		struct store_pipeline_job *j = &(*out)[(*n)++];
		j->run = sqlite3_column_int64(st, 0);
		j->idx = sqlite3_column_int64(st, 1);
		j->name = col(st, 2);
		j->slug = col(st, 3);
		j->state = col(st, 4);
		j->reason = col(st, 5);
		j->started_ms = sqlite3_column_int64(st, 6);
		j->finished_ms = sqlite3_column_int64(st, 7);
		j->steps_json = col(st, 8);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_pipeline_job_list_free(*out, *n);
		*out = NULL;
		*n = 0;
		return fail(store_db(s), "list pipeline jobs", err);
	}
	return 0;
}

void store_pipeline_job_list_free(struct store_pipeline_job *js, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(js[i].name);
		free(js[i].slug);
		free(js[i].state);
		free(js[i].reason);
		free(js[i].steps_json);
	}
	free(js);
}
