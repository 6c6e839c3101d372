/*
 * Retention: trims events, measurements and revisions to the limits of a
 * store_retention, a batch at a time (see store.h and
 * docs/internals/store.md). Events and measurements are deleted oldest
 * first by id (ids grow with time), by count through the id of the
 * max_count-th newest row and by age through the time index, so one step
 * costs O(batch log n) however big the table is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_int.h"

/* Runs sql (binding ?1 = a, ?2 = b when the statement has them) and sets
 * *out to the first column of the first row, or leaves it when there is
 * none. Returns sqlite's code, SQLITE_OK on success. */
static int one_int(sqlite3 *db, const char *sql, int64_t a, int64_t b, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto out;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
out:
	sqlite3_finalize(st);
	return rc;
}

static int run(sqlite3 *db, const char *sql, int64_t a, int64_t b, size_t *changed)
{
	int64_t unused = 0;
	int rc = one_int(db, sql, a, b, &unused);
	if (rc == SQLITE_OK)
		*changed = (size_t)sqlite3_changes(db);
	return rc;
}

/* Trims one append-only table (events, measurements) to its limits. */
static int trim_log(sqlite3 *db, const char *table, const struct store_retention_kind *k,
		    int64_t now_ms, size_t batch, size_t *deleted, bool *more)
{
	char sql[256];
	size_t n = 0;
	int rc;

	if (k->max_count > 0) {
		int64_t cutoff = 0;
		snprintf(sql, sizeof(sql), "SELECT id FROM %s ORDER BY id DESC LIMIT 1 OFFSET ?1", table);
		rc = one_int(db, sql, k->max_count - 1, 0, &cutoff);
		if (rc != SQLITE_OK)
			return rc;
		if (cutoff > 0) {
			snprintf(sql, sizeof(sql),
				 "DELETE FROM %s WHERE id IN (SELECT id FROM %s WHERE id < ?1"
				 " ORDER BY id LIMIT ?2)", table, table);
			rc = run(db, sql, cutoff, (int64_t)batch, &n);
			if (rc != SQLITE_OK)
				return rc;
			*deleted += n;
			*more = *more || n == batch;
		}
	}
	if (k->max_age_ms > 0 && n < batch) {
		snprintf(sql, sizeof(sql),
			 "DELETE FROM %s WHERE id IN (SELECT id FROM %s WHERE time_ms < ?1"
			 " ORDER BY time_ms LIMIT ?2)", table, table);
		size_t m = 0;
		rc = run(db, sql, now_ms - k->max_age_ms, (int64_t)(batch - n), &m);
		if (rc != SQLITE_OK)
			return rc;
		*deleted += m;
		*more = *more || m == batch - n;
	}
	return SQLITE_OK;
}

/* Revisions: walks each app's newest first; a revision past the count or
 * the age goes unless the app's newest or protected by keep_revision. */
static int trim_revisions(sqlite3 *db, const struct store_retention *r, int64_t now_ms,
			  size_t batch, size_t *deleted, bool *more)
{
	const struct store_retention_kind *k = &r->revisions;
	sqlite3_stmt *st = NULL, *del = NULL;
	char *app = NULL;
	int64_t rank = 0;
	size_t n = 0;
	int rc;

	if (k->max_count <= 0 && k->max_age_ms <= 0)
		return SQLITE_OK;
	rc = sqlite3_prepare_v2(db, "SELECT app, number, created_ms FROM revisions"
				" ORDER BY app, number DESC", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "DELETE FROM revisions WHERE app = ?1 AND number = ?2",
					-1, &del, NULL);
	if (rc != SQLITE_OK)
		goto out;
	/* Victims are collected first: deleting while the scan runs would
	 * change the table under it. */
	struct victim {
		char *app;
		int64_t number;
	} *v = NULL;
	size_t nv = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && nv < batch) {
		const char *a = (const char *)sqlite3_column_text(st, 0);
		int64_t number = sqlite3_column_int64(st, 1), created = sqlite3_column_int64(st, 2);
		a = a ? a : "";
		if (!app || strcmp(app, a) != 0) {
			free(app);
			app = xstrdup(a);
			rank = 0;
		}
		rank++;
		bool over = (k->max_count > 0 && rank > k->max_count) ||
			    (k->max_age_ms > 0 && created < now_ms - k->max_age_ms);
		if (rank == 1 || !over || (r->keep_revision && r->keep_revision(a, number, r->data)))
			continue;
		v = xrealloc(v, (nv + 1) * sizeof(*v));
		v[nv].app = xstrdup(a);
		v[nv].number = number;
		nv++;
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
	for (size_t i = 0; i < nv; i++) {
		if (rc == SQLITE_OK) {
			sqlite3_reset(del);
			sqlite3_bind_text(del, 1, v[i].app, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(del, 2, v[i].number);
			rc = sqlite3_step(del) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
			n += rc == SQLITE_OK;
		}
		free(v[i].app);
	}
	free(v);
	*deleted += n;
	*more = *more || nv == batch;
out:
	free(app);
	sqlite3_finalize(st);
	sqlite3_finalize(del);
	return rc;
}

int store_retention_step(struct store *s, const struct store_retention *r, int64_t now_ms,
			 size_t batch, size_t *out_deleted, bool *out_more, struct sw_err *err)
{
	sqlite3 *db = store_db(s);
	size_t deleted = 0;
	bool more = false;
	int rc, ret;

	*out_deleted = 0;
	*out_more = false;
	if (batch == 0)
		batch = 1;
	ret = store_begin(s, err);
	if (ret < 0)
		return ret;
	rc = trim_log(db, "events", &r->events, now_ms, batch, &deleted, &more);
	if (rc == SQLITE_OK)
		rc = trim_log(db, "measurements", &r->measurements, now_ms, batch, &deleted, &more);
	if (rc == SQLITE_OK)
		rc = trim_revisions(db, r, now_ms, batch, &deleted, &more);
	if (rc != SQLITE_OK) {
		ret = sw_errf(err, (rc & 0xff) == SQLITE_BUSY ? SW_EBUSY : -1, "store: retention: %s",
			      sqlite3_errmsg(db));
		store_rollback(s);
		return ret;
	}
	ret = store_commit(s, err);
	if (ret == 0) {
		*out_deleted = deleted;
		*out_more = more;
	}
	return ret;
}

int store_count(struct store *s, const char *table, int64_t *out, struct sw_err *err)
{
	char sql[96];
	*out = 0;
	if (strcmp(table, "events") != 0 && strcmp(table, "measurements") != 0 &&
	    strcmp(table, "revisions") != 0)
		return sw_errf(err, SW_EINVAL, "store: cannot count \"%s\"", table);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	int rc = one_int(store_db(s), sql, 0, 0, out);
	if (rc != SQLITE_OK)
		return sw_errf(err, -1, "store: count %s: %s", table, sqlite3_errmsg(store_db(s)));
	return 0;
}

int store_revision_values(struct store *s, const char *json_path, store_value_cb cb, void *data,
			  struct sw_err *err)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT DISTINCT json_extract(spec_json, ?1) FROM revisions"
				    " WHERE json_valid(spec_json)", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, json_path, -1, SQLITE_TRANSIENT);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_TEXT)
			cb((const char *)sqlite3_column_text(st, 0), data);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sw_errf(err, -1, "store: revision values %s: %s", json_path, sqlite3_errmsg(db));
	return 0;
}
