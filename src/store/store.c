/*
 * store: Slipway's state in SQLite. See store.h for the API and
 * docs/internals/store.md for the schema and how to add a migration.
 */
#include "store.h"
#include "store_int.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Migrations, oldest first. Migration i (0-based) brings the schema from
 * user_version i to i + 1. Add a row at the end for a schema change; never
 * edit a row that has shipped: databases out there already ran it.
 */
struct store_migration {
	const char *name;
	const char *sql;
};

static const struct store_migration migrations[] = {
	{"initial schema",
	 "CREATE TABLE apps ("
	 " name TEXT PRIMARY KEY NOT NULL,"
	 " desired_revision INTEGER NOT NULL DEFAULT 0,"
	 " stable_revision INTEGER NOT NULL DEFAULT 0,"
	 " phase TEXT NOT NULL DEFAULT '',"
	 " reason TEXT NOT NULL DEFAULT '',"
	 " progress_ms INTEGER NOT NULL DEFAULT 0,"
	 " created_ms INTEGER NOT NULL,"
	 " updated_ms INTEGER NOT NULL"
	 ");"
	 "CREATE TABLE revisions ("
	 " app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,"
	 " number INTEGER NOT NULL,"
	 " hash TEXT NOT NULL,"
	 " spec_json TEXT NOT NULL,"
	 " version TEXT NOT NULL DEFAULT '',"
	 " source TEXT NOT NULL DEFAULT '',"
	 " created_ms INTEGER NOT NULL,"
	 " PRIMARY KEY (app, number),"
	 " UNIQUE (app, hash)"
	 ");"
	 "CREATE TABLE instances ("
	 " id TEXT PRIMARY KEY NOT NULL,"
	 " app TEXT NOT NULL,"
	 " revision INTEGER NOT NULL,"
	 " pid INTEGER NOT NULL DEFAULT 0,"
	 " start_time INTEGER NOT NULL DEFAULT 0,"
	 " port INTEGER NOT NULL DEFAULT 0,"
	 " ready INTEGER NOT NULL DEFAULT 0,"
	 " restarts INTEGER NOT NULL DEFAULT 0,"
	 " state TEXT NOT NULL DEFAULT '',"
	 " created_ms INTEGER NOT NULL"
	 ");"
	 "CREATE INDEX instances_by_app ON instances (app, created_ms, id);"
	 "CREATE TABLE events ("
	 " id INTEGER PRIMARY KEY AUTOINCREMENT,"
	 " time_ms INTEGER NOT NULL,"
	 " app TEXT NOT NULL DEFAULT '',"
	 " kind TEXT NOT NULL,"
	 " message TEXT NOT NULL DEFAULT '',"
	 " actor TEXT NOT NULL DEFAULT ''"
	 ");"
	 "CREATE INDEX events_by_app ON events (app, id);"
	 "CREATE TABLE seq ("
	 " app TEXT PRIMARY KEY NOT NULL,"
	 " value INTEGER NOT NULL"
	 ");"},
	{"rollout state of canary and blue/green rollouts",
	 "ALTER TABLE apps ADD COLUMN rollout TEXT NOT NULL DEFAULT '';"},
	{"analysis templates and measurements",
	 "CREATE TABLE templates ("
	 " name TEXT PRIMARY KEY NOT NULL,"
	 " hash TEXT NOT NULL,"
	 " spec_json TEXT NOT NULL,"
	 " source TEXT NOT NULL DEFAULT '',"
	 " updated_ms INTEGER NOT NULL"
	 ");"
	 "CREATE TABLE measurements ("
	 " id INTEGER PRIMARY KEY AUTOINCREMENT,"
	 " time_ms INTEGER NOT NULL,"
	 " app TEXT NOT NULL,"
	 " revision INTEGER NOT NULL,"
	 " run INTEGER NOT NULL,"
	 " kind TEXT NOT NULL DEFAULT '',"
	 " template TEXT NOT NULL DEFAULT '',"
	 " metric TEXT NOT NULL,"
	 " provider TEXT NOT NULL DEFAULT '',"
	 " query TEXT NOT NULL DEFAULT '',"
	 " value TEXT NOT NULL DEFAULT '',"
	 " condition TEXT NOT NULL DEFAULT '',"
	 " outcome TEXT NOT NULL,"
	 " reason TEXT NOT NULL DEFAULT ''"
	 ");"
	 "CREATE INDEX measurements_by_app ON measurements (app, revision, id);"},
	{"API tokens, kept as SHA-256 hashes",
	 "CREATE TABLE tokens ("
	 " name TEXT PRIMARY KEY NOT NULL,"
	 " hash TEXT NOT NULL UNIQUE,"
	 " role TEXT NOT NULL,"
	 " created_ms INTEGER NOT NULL,"
	 " last_used_ms INTEGER NOT NULL DEFAULT 0"
	 ");"},
	{"instances keep the runtime driver's opaque handle instead of pid and start time",
	 /* pid and start_time stay, unused: the process driver's handle of a
	  * running instance is "PID STARTTIME" */
	 "ALTER TABLE instances ADD COLUMN handle TEXT NOT NULL DEFAULT '';"
	 "UPDATE instances SET handle = pid || ' ' || start_time WHERE pid > 0;"},
	{"store settings (meta), and indexes by time for retention",
	 "CREATE TABLE IF NOT EXISTS meta ("
	 " key TEXT PRIMARY KEY NOT NULL,"
	 " value TEXT NOT NULL"
	 ");"
	 "CREATE INDEX IF NOT EXISTS events_by_time ON events (time_ms);"
	 "CREATE INDEX IF NOT EXISTS measurements_by_time ON measurements (time_ms);"},
	{"measurements by app and id, for paging an app's measurements newest first",
	 "CREATE INDEX IF NOT EXISTS measurements_by_app_id ON measurements (app, id);"},
	{"hook jobs in flight, so that a restarted daemon adopts them",
	 "CREATE TABLE IF NOT EXISTS jobs ("
	 " id TEXT PRIMARY KEY NOT NULL,"
	 " app TEXT NOT NULL,"
	 " run INTEGER NOT NULL,"
	 " attempt INTEGER NOT NULL,"
	 " handle TEXT NOT NULL DEFAULT '',"
	 " attempt_ms INTEGER NOT NULL,"
	 " started_ms INTEGER NOT NULL"
	 ");"
	 "CREATE INDEX IF NOT EXISTS jobs_by_app ON jobs (app);"},
	{"GitOps: an app's owner, a revision's origin, and documents of module kinds (objects)",
	 "ALTER TABLE apps ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
	 "ALTER TABLE revisions ADD COLUMN origin TEXT NOT NULL DEFAULT '';"
	 "CREATE TABLE IF NOT EXISTS objects ("
	 " kind TEXT NOT NULL,"
	 " name TEXT NOT NULL,"
	 " spec_json TEXT NOT NULL,"
	 " source TEXT NOT NULL DEFAULT '',"
	 " owner TEXT NOT NULL DEFAULT '',"
	 " status TEXT NOT NULL DEFAULT '',"
	 " created_ms INTEGER NOT NULL,"
	 " updated_ms INTEGER NOT NULL,"
	 " PRIMARY KEY (kind, name)"
	 ");"},
	{"GitOps: a template's owner and origin, as an app's",
	 "ALTER TABLE templates ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
	 "ALTER TABLE templates ADD COLUMN origin TEXT NOT NULL DEFAULT '';"},
	{"tokens scoped to environments: their names, comma-separated; '' = every environment",
	 "ALTER TABLE tokens ADD COLUMN environments TEXT NOT NULL DEFAULT '';"},
	{"promotions of releases between environments, and the environments a token approves for",
	 "CREATE TABLE IF NOT EXISTS promotions ("
	 " id INTEGER PRIMARY KEY AUTOINCREMENT,"
	 " target TEXT NOT NULL,"
	 " upstream TEXT NOT NULL,"
	 " release TEXT NOT NULL,"
	 " phase TEXT NOT NULL,"
	 " state TEXT NOT NULL,"
	 " created_ms INTEGER NOT NULL,"
	 " updated_ms INTEGER NOT NULL"
	 ");"
	 "CREATE INDEX IF NOT EXISTS promotions_by_target ON promotions (target, id);"
	 "ALTER TABLE tokens ADD COLUMN approve TEXT NOT NULL DEFAULT '';"},
	{"pipeline runs on the daemon and their job runs (each with its steps as JSON); logs are files",
	 "CREATE TABLE IF NOT EXISTS pipeline_runs ("
	 " id INTEGER PRIMARY KEY AUTOINCREMENT,"
	 " pipeline TEXT NOT NULL,"
	 " source TEXT NOT NULL DEFAULT '',"
	 " sha TEXT NOT NULL DEFAULT '',"
	 " ref TEXT NOT NULL DEFAULT '',"
	 " trigger TEXT NOT NULL,"
	 " actor TEXT NOT NULL DEFAULT '',"
	 " state TEXT NOT NULL,"
	 " reason TEXT NOT NULL DEFAULT '',"
	 " rerun_of INTEGER NOT NULL DEFAULT 0,"
	 " spec_json TEXT NOT NULL,"
	 " created_ms INTEGER NOT NULL,"
	 " started_ms INTEGER NOT NULL DEFAULT 0,"
	 " finished_ms INTEGER NOT NULL DEFAULT 0"
	 ");"
	 "CREATE INDEX IF NOT EXISTS pipeline_runs_by_name ON pipeline_runs (pipeline, id);"
	 "CREATE TABLE IF NOT EXISTS pipeline_jobs ("
	 " run INTEGER NOT NULL,"
	 " idx INTEGER NOT NULL,"
	 " name TEXT NOT NULL,"
	 " slug TEXT NOT NULL,"
	 " state TEXT NOT NULL,"
	 " reason TEXT NOT NULL DEFAULT '',"
	 " started_ms INTEGER NOT NULL DEFAULT 0,"
	 " finished_ms INTEGER NOT NULL DEFAULT 0,"
	 " steps_json TEXT NOT NULL DEFAULT '[]',"
	 " PRIMARY KEY (run, idx)"
	 ");"},
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Every statement the store runs more than once, prepared on first use and
 * kept for the life of the handle. */
enum stmt_id {
	ST_APP_PUT,
	ST_APP_GET,
	ST_APP_LIST,
	ST_APP_DELETE,
	ST_APP_DELETE_REVISIONS,
	ST_APP_DELETE_INSTANCES,
	ST_APP_DELETE_SEQ,
	ST_APP_EXISTS,
	ST_REV_BY_HASH,
	ST_REV_MAX,
	ST_REV_INSERT,
	ST_REV_GET,
	ST_REV_LIST,
	ST_INST_PUT,
	ST_INST_DELETE,
	ST_INST_LIST,
	ST_INST_LIST_APP,
	ST_SEQ_NEXT,
	ST_EVENT_ADD,
	ST_EVENT_LIST,
	ST_EVENT_LIST_APP,
	ST_TEMPLATE_PUT,
	ST_TEMPLATE_GET,
	ST_MEASURE_ADD,
	ST_MEASURE_LIST,
	ST_TOKEN_PUT,
	ST_TOKEN_GET_BY_HASH,
	ST_TOKEN_LIST,
	ST_TOKEN_DELETE,
	ST_TOKEN_TOUCH,
	ST_EVENT_PAGE,
	ST_EVENT_PAGE_APP,
	ST_META_GET,
	ST_META_PUT,
	ST_REV_REHASH,
	ST_MEASURE_PAGE,
	ST_MEASURE_PAGE_REV,
	ST_MEASURE_AFTER,
	ST_MEASURE_AFTER_REV,
	ST_REV_PAGE,
	ST_TOKEN_PAGE,
	ST_JOB_PUT,
	ST_JOB_LIST_APP,
	ST_JOB_DELETE,
	ST_APP_DELETE_JOBS,
	ST_TEMPLATE_LIST,
	ST_OBJ_PUT,
	ST_OBJ_STATUS,
	ST_OBJ_GET,
	ST_OBJ_LIST,
	ST_OBJ_DELETE,
	ST_TEMPLATE_DELETE,
	ST_TOKEN_GET,
	ST_PROMO_ADD,
	ST_PROMO_PUT,
	ST_PROMO_GET,
	ST_PROMO_LATEST,
	ST_PROMO_PAGE,
	ST_PROMO_TRIM,
	ST_COUNT
};

#define APP_COLS "name, desired_revision, stable_revision, phase, reason, progress_ms, created_ms, updated_ms, rollout, owner"
#define REV_COLS "app, number, hash, spec_json, version, source, created_ms, origin"
#define TEMPLATE_COLS "name, hash, spec_json, source, owner, origin, updated_ms"
#define OBJ_COLS "kind, name, spec_json, source, owner, status, created_ms, updated_ms"
#define INST_COLS "id, app, revision, handle, port, ready, restarts, state, created_ms"
#define JOB_COLS "id, app, run, attempt, handle, attempt_ms, started_ms"
#define EVENT_COLS "id, time_ms, app, kind, message, actor"

#define TOKEN_COLS "name, hash, role, created_ms, last_used_ms, environments, approve"
#define PROMO_COLS "id, target, upstream, release, phase, state, created_ms, updated_ms"

#define MEASURE_COLS "id, time_ms, app, revision, run, kind, template, metric, provider, query, value, condition, outcome, reason"

/* since (?4, 0 = any) as the first id at or after that time: the time index
 * finds it, and the scan by id stops there */
#define EVENT_SINCE " AND (?4 = 0 OR id >= coalesce((SELECT id FROM events WHERE time_ms >= ?4" \
		    " ORDER BY time_ms LIMIT 1), 9223372036854775807))"

static const char *const stmt_sql[ST_COUNT] = {
	/* newest first, below the cursor */
	[ST_EVENT_PAGE] = "SELECT " EVENT_COLS " FROM events WHERE id < ?1" EVENT_SINCE
			  " ORDER BY id DESC LIMIT ?2",
	[ST_EVENT_PAGE_APP] = "SELECT " EVENT_COLS " FROM events WHERE app = ?3 AND id < ?1"
			      EVENT_SINCE " ORDER BY id DESC LIMIT ?2",
	/* newest first below the cursor, or (AFTER) oldest first above it; on
	 * the (app, id) or (app, revision, id) index either way */
	[ST_MEASURE_PAGE] = "SELECT " MEASURE_COLS " FROM measurements WHERE app = ?1 AND id < ?2"
			    " ORDER BY id DESC LIMIT ?3",
	[ST_MEASURE_PAGE_REV] = "SELECT " MEASURE_COLS " FROM measurements WHERE app = ?1"
				" AND revision = ?4 AND id < ?2 ORDER BY id DESC LIMIT ?3",
	[ST_MEASURE_AFTER] = "SELECT " MEASURE_COLS " FROM measurements WHERE app = ?1 AND id > ?2"
			     " ORDER BY id LIMIT ?3",
	[ST_MEASURE_AFTER_REV] = "SELECT " MEASURE_COLS " FROM measurements WHERE app = ?1"
				 " AND revision = ?4 AND id > ?2 ORDER BY id LIMIT ?3",
	/* a listing's columns: no spec_json (up to SPEC_MAX_TEXT each) */
	[ST_REV_PAGE] = "SELECT app, number, hash, '', version, source, created_ms, origin FROM revisions"
			" WHERE app = ?1 AND number < ?2 ORDER BY number DESC LIMIT ?3",
	[ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[ST_META_PUT] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
			" ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[ST_JOB_PUT] = "INSERT INTO jobs (" JOB_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
		       " ON CONFLICT (id) DO UPDATE SET app = excluded.app, run = excluded.run,"
		       " attempt = excluded.attempt, handle = excluded.handle,"
		       " attempt_ms = excluded.attempt_ms, started_ms = excluded.started_ms",
	[ST_JOB_LIST_APP] = "SELECT " JOB_COLS " FROM jobs WHERE app = ?1 ORDER BY id",
	[ST_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?1",
	[ST_APP_DELETE_JOBS] = "DELETE FROM jobs WHERE app = ?1",
	[ST_REV_REHASH] = "UPDATE revisions SET hash = ?3 WHERE app = ?1 AND number = ?2",
	[ST_TOKEN_PUT] = "INSERT INTO tokens (" TOKEN_COLS ") VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)",
	[ST_PROMO_ADD] = "INSERT INTO promotions (target, upstream, release, phase, state, created_ms,"
			 " updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
	[ST_PROMO_PUT] = "UPDATE promotions SET phase = ?2, state = ?3, updated_ms = ?4 WHERE id = ?1",
	[ST_PROMO_GET] = "SELECT " PROMO_COLS " FROM promotions WHERE id = ?1",
	/* the newest of each target: the one a target's promotion is now */
	[ST_PROMO_LATEST] = "SELECT " PROMO_COLS " FROM promotions WHERE id IN"
			    " (SELECT max(id) FROM promotions GROUP BY target) ORDER BY target",
	[ST_PROMO_PAGE] = "SELECT " PROMO_COLS " FROM promotions WHERE target = ?1 AND id < ?2"
			  " ORDER BY id DESC LIMIT ?3",
	[ST_PROMO_TRIM] = "DELETE FROM promotions WHERE target = ?1 AND id <= (SELECT id FROM"
			  " promotions WHERE target = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
	[ST_TOKEN_GET_BY_HASH] = "SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?1",
	[ST_TOKEN_GET] = "SELECT " TOKEN_COLS " FROM tokens WHERE name = ?1",
	[ST_TOKEN_LIST] = "SELECT " TOKEN_COLS " FROM tokens ORDER BY name",
	[ST_TOKEN_PAGE] = "SELECT " TOKEN_COLS " FROM tokens WHERE name > ?1 ORDER BY name LIMIT ?2",
	[ST_TOKEN_DELETE] = "DELETE FROM tokens WHERE name = ?1",
	[ST_TOKEN_TOUCH] = "UPDATE tokens SET last_used_ms = ?2 WHERE name = ?1",
	[ST_TEMPLATE_PUT] = "INSERT INTO templates (" TEMPLATE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
			    " ON CONFLICT (name) DO UPDATE SET hash = excluded.hash,"
			    " spec_json = excluded.spec_json, source = excluded.source,"
			    " owner = excluded.owner, origin = excluded.origin,"
			    " updated_ms = excluded.updated_ms",
	[ST_TEMPLATE_GET] = "SELECT " TEMPLATE_COLS " FROM templates WHERE name = ?1",
	[ST_TEMPLATE_LIST] = "SELECT " TEMPLATE_COLS " FROM templates ORDER BY name",
	[ST_TEMPLATE_DELETE] = "DELETE FROM templates WHERE name = ?1",
	/* a put keeps the row's status and created_ms */
	[ST_OBJ_PUT] = "INSERT INTO objects (" OBJ_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, '', ?6, ?6)"
		       " ON CONFLICT (kind, name) DO UPDATE SET spec_json = excluded.spec_json,"
		       " source = excluded.source, owner = excluded.owner, updated_ms = excluded.updated_ms",
	[ST_OBJ_STATUS] = "UPDATE objects SET status = ?3 WHERE kind = ?1 AND name = ?2",
	[ST_OBJ_GET] = "SELECT " OBJ_COLS " FROM objects WHERE kind = ?1 AND name = ?2",
	[ST_OBJ_LIST] = "SELECT " OBJ_COLS " FROM objects WHERE kind = ?1 ORDER BY name",
	[ST_OBJ_DELETE] = "DELETE FROM objects WHERE kind = ?1 AND name = ?2",
	[ST_MEASURE_ADD] = "INSERT INTO measurements (time_ms, app, revision, run, kind, template,"
			   " metric, provider, query, value, condition, outcome, reason)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[ST_MEASURE_LIST] = "SELECT " MEASURE_COLS " FROM measurements WHERE app = ?1"
			    " AND (?2 = 0 OR revision = ?2) AND id > ?3 ORDER BY id",
	[ST_APP_PUT] = "INSERT INTO apps (" APP_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)"
		       " ON CONFLICT (name) DO UPDATE SET desired_revision = excluded.desired_revision,"
		       " stable_revision = excluded.stable_revision, phase = excluded.phase,"
		       " reason = excluded.reason, progress_ms = excluded.progress_ms,"
		       " updated_ms = excluded.updated_ms, rollout = excluded.rollout,"
		       " owner = excluded.owner",
	[ST_APP_GET] = "SELECT " APP_COLS " FROM apps WHERE name = ?1",
	[ST_APP_LIST] = "SELECT " APP_COLS " FROM apps ORDER BY name",
	[ST_APP_DELETE] = "DELETE FROM apps WHERE name = ?1",
	[ST_APP_DELETE_REVISIONS] = "DELETE FROM revisions WHERE app = ?1",
	[ST_APP_DELETE_INSTANCES] = "DELETE FROM instances WHERE app = ?1",
	[ST_APP_DELETE_SEQ] = "DELETE FROM seq WHERE app = ?1",
	[ST_APP_EXISTS] = "SELECT 1 FROM apps WHERE name = ?1",
	[ST_REV_BY_HASH] = "SELECT number FROM revisions WHERE app = ?1 AND hash = ?2",
	[ST_REV_MAX] = "SELECT coalesce(max(number), 0) FROM revisions WHERE app = ?1",
	[ST_REV_INSERT] = "INSERT INTO revisions (" REV_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_REV_GET] = "SELECT " REV_COLS " FROM revisions WHERE app = ?1 AND number = ?2",
	[ST_REV_LIST] = "SELECT " REV_COLS " FROM revisions WHERE app = ?1 ORDER BY number",
	[ST_INST_PUT] = "INSERT INTO instances (" INST_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
			" ON CONFLICT (id) DO UPDATE SET app = excluded.app, revision = excluded.revision,"
			" handle = excluded.handle, port = excluded.port,"
			" ready = excluded.ready, restarts = excluded.restarts, state = excluded.state,"
			" created_ms = CASE WHEN ?10 THEN excluded.created_ms ELSE created_ms END",
	[ST_INST_DELETE] = "DELETE FROM instances WHERE id = ?1",
	[ST_INST_LIST] = "SELECT " INST_COLS " FROM instances ORDER BY app, created_ms, id",
	[ST_INST_LIST_APP] = "SELECT " INST_COLS " FROM instances WHERE app = ?1 ORDER BY created_ms, id",
	[ST_SEQ_NEXT] = "INSERT INTO seq (app, value) VALUES (?1, 1)"
			" ON CONFLICT (app) DO UPDATE SET value = value + 1 RETURNING value",
	[ST_EVENT_ADD] = "INSERT INTO events (time_ms, app, kind, message, actor) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_EVENT_LIST] = "SELECT " EVENT_COLS " FROM events WHERE id > ?1" EVENT_SINCE
			  " ORDER BY id LIMIT ?2",
	[ST_EVENT_LIST_APP] = "SELECT " EVENT_COLS " FROM events WHERE app = ?3 AND id > ?1"
			      EVENT_SINCE " ORDER BY id LIMIT ?2",
};

struct store {
	sqlite3 *db;
	int version;       /* schema version after store_open */
	int depth;         /* nesting of store_begin */
	bool doomed;       /* an inner rollback happened; the outer commit rolls back */
	sqlite3_stmt *stmt[ST_COUNT];
};

/* Maps an SQLite result code to the SW_E* code callers act on. */
static int sw_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return SW_EBUSY;
	default:
		return -1;
	}
}

/* Records "store: WHAT: sqlite message" and returns the matching code. */
static int db_err(struct store *s, int rc, const char *what, struct sw_err *err)
{
	const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
	/* sqlite3_errmsg may describe a later, unrelated call; fall back to
	 * the text of rc itself when it does not match. */
	if (s && s->db && (sqlite3_extended_errcode(s->db) & 0xff) != (rc & 0xff))
		msg = sqlite3_errstr(rc);
	return sw_errf(err, sw_code(rc), "store: %s: %s", what, msg);
}

static int exec_sql(struct store *s, const char *sql, const char *what, struct sw_err *err)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_err(s, rc, what, err);
	return 0;
}

/* Sets *out to the cached statement for id, reset and with no bindings. */
static int stmt_get(struct store *s, enum stmt_id id, sqlite3_stmt **out, const char *what,
		    struct sw_err *err)
{
	sqlite3_stmt *st = s->stmt[id];
	*out = NULL;
	if (!st) {
		int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
		if (rc != SQLITE_OK) {
			sqlite3_finalize(st);
			return db_err(s, rc, what, err);
		}
		s->stmt[id] = st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	*out = st;
	return 0;
}

/* Runs a statement that returns no rows; resets it. */
static int stmt_done(struct store *s, sqlite3_stmt *st, const char *what, struct sw_err *err)
{
	int rc = sqlite3_step(st);
	int ret = 0;
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = db_err(s, rc, what, err);
	sqlite3_reset(st);
	return ret;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static char *col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	return xstrdup(v ? (const char *)v : "");
}

/* Runs statement id (a DELETE of ?1 = name): SW_ENOTFOUND, "KIND \"name\"
 * not found", when it deleted nothing. */
static int delete_named(struct store *s, enum stmt_id id, const char *what, const char *kind,
			const char *name, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, id, &st, what, err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, name);
	ret = stmt_done(s, st, what, err);
	if (ret == 0 && sqlite3_changes(s->db) == 0)
		ret = sw_errf(err, SW_ENOTFOUND, "%s \"%s\" not found", kind, name);
	return ret;
}

/* A column's text, borrowed until the next step ("" for NULL). */
static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	return v ? (const char *)v : "";
}

/* A LIMIT for SQLite: -1 for none. */
static int64_t sql_limit(size_t limit)
{
	return limit > 0 && limit < INT64_MAX ? (int64_t)limit : -1;
}

/*
 * Steps st and hands each row to read(row_into = element i of a growing
 * array of elem_size bytes). Resets st. On failure frees what was read
 * with free_list and returns the error.
 */
typedef void (*row_reader)(sqlite3_stmt *st, void *elem);
typedef void (*list_freer)(void *elems, size_t n);

static int read_list(struct store *s, sqlite3_stmt *st, size_t elem_size, row_reader read,
		     list_freer free_list, void **out, size_t *n, const char *what, struct sw_err *err)
{
	char *arr = NULL;
	size_t len = 0, alloc = 0;
	int rc, ret = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == alloc) {
			alloc = alloc ? alloc * 2 : 8;
			arr = xrealloc(arr, alloc * elem_size);
		}
		memset(arr + len * elem_size, 0, elem_size);
		read(st, arr + len * elem_size);
		len++;
	}
	if (rc != SQLITE_DONE) {
		ret = db_err(s, rc, what, err);
		free_list(arr, len);
		arr = NULL;
		len = 0;
	}
	sqlite3_reset(st);
	*out = arr;
	*n = len;
	return ret;
}

/* ---- open, migrate, close ---------------------------------------------- */

static int pragma_int(struct store *s, const char *sql, int *out, struct sw_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	int ret = 0;
	if (rc != SQLITE_OK) {
		ret = db_err(s, rc, "read schema version", err);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		ret = db_err(s, rc, "read schema version", err);
		goto out;
	}
	*out = sqlite3_column_int(st, 0);
out:
	sqlite3_finalize(st);
	return ret;
}

/* Switches to WAL. A fresh file switched by several openers at once can
 * report SQLITE_BUSY without waiting, so retry until the busy timeout. */
static int set_wal(struct store *s, const char *path, struct sw_err *err)
{
	uint64_t deadline = sw_now_ms() + 5000;
	sqlite3_stmt *st = NULL;
	int ret = 0;

	for (;;) {
		int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const unsigned char *mode = sqlite3_column_text(st, 0);
			if (!mode || (strcmp((const char *)mode, "wal") != 0 &&
				      strcmp((const char *)mode, "memory") != 0))
				ret = sw_errf(err, -1, "store: %s: cannot use WAL journal mode (got \"%s\")",
					      path, mode ? (const char *)mode : "");
			goto out;
		}
		if ((rc & 0xff) != SQLITE_BUSY || sw_now_ms() >= deadline) {
			ret = db_err(s, rc, "set journal mode", err);
			goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
		sqlite3_sleep(10);
	}
out:
	sqlite3_finalize(st);
	return ret;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static int migrate(struct store *s, const char *path, struct sw_err *err)
{
	int version = 0, ret;
	char sql[64];

	/* The write lock comes first so that two openers of a fresh file do
	 * not both run migration 1. */
	ret = store_begin(s, err);
	if (ret < 0)
		return ret;
	ret = pragma_int(s, "PRAGMA user_version", &version, err);
	if (ret < 0)
		goto out;
	if (version > NMIGRATIONS) {
		ret = sw_errf(err, -1, "%s schema version %d is newer than this slipway (%d); upgrade slipway",
			      base_name(path), version, NMIGRATIONS);
		goto out;
	}
	if (version < 0) {
		ret = sw_errf(err, -1, "%s has an invalid schema version %d", base_name(path), version);
		goto out;
	}
	for (int i = version; i < NMIGRATIONS; i++) {
		int rc = sqlite3_exec(s->db, migrations[i].sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			ret = sw_errf(err, sw_code(rc), "store: migration %d (%s): %s", i + 1,
				      migrations[i].name, sqlite3_errmsg(s->db));
			goto out;
		}
	}
	if (version < NMIGRATIONS) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", NMIGRATIONS);
		ret = exec_sql(s, sql, "set schema version", err);
		if (ret < 0)
			goto out;
	}
	s->version = NMIGRATIONS;
out:
	if (ret < 0) {
		store_rollback(s);
		return ret;
	}
	return store_commit(s, err);
}

int store_open(struct store **out, const char *path, struct sw_err *err)
{
	struct store *s = xcalloc(1, sizeof(*s));
	int ret = 0, rc;

	*out = NULL;
	/* The database holds secrets (env values from files, token hashes):
	 * create it private. SQLite gives its -wal and -shm files the mode of
	 * the database file. */
	if (strcmp(path, ":memory:") != 0) {
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		ret = sw_errf(err, sw_code(rc), "store: open %s: %s", path,
			      s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	ret = set_wal(s, path, err);
	if (ret < 0)
		goto out;
	ret = exec_sql(s, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", "set pragmas", err);
	if (ret < 0)
		goto out;
	ret = migrate(s, path, err);
out:
	if (ret < 0) {
		store_close(s);
		return ret;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	if (s->db && s->depth > 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(s->db);
	free(s);
}

int store_schema_version(struct store *s)
{
	return s->version;
}

int store_schema_latest(void)
{
	return NMIGRATIONS;
}

void store_set_busy_timeout(struct store *s, int ms)
{
	sqlite3_busy_timeout(s->db, ms);
}

/* ---- transactions ------------------------------------------------------ */

int store_begin(struct store *s, struct sw_err *err)
{
	if (s->depth == 0) {
		int ret = exec_sql(s, "BEGIN IMMEDIATE", "begin transaction", err);
		if (ret < 0)
			return ret;
		s->doomed = false;
	}
	s->depth++;
	return 0;
}

int store_commit(struct store *s, struct sw_err *err)
{
	int ret;

	SW_ASSERT(s->depth > 0);
	if (--s->depth > 0)
		return 0;
	if (s->doomed) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		s->doomed = false;
		return sw_errf(err, -1, "store: commit: an inner transaction was rolled back");
	}
	ret = exec_sql(s, "COMMIT", "commit", err);
	if (ret < 0 && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

void store_rollback(struct store *s)
{
	if (s->depth == 0)
		return;
	if (--s->depth > 0) {
		s->doomed = true;
		return;
	}
	s->doomed = false;
	/* SQLite may already have rolled back on its own (e.g. after SQLITE_FULL). */
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- apps -------------------------------------------------------------- */

static void read_app(sqlite3_stmt *st, void *elem)
{
	struct store_app *a = elem;
	a->name = col_str(st, 0);
	a->desired_revision = sqlite3_column_int64(st, 1);
	a->stable_revision = sqlite3_column_int64(st, 2);
	a->phase = col_str(st, 3);
	a->reason = col_str(st, 4);
	a->progress_ms = sqlite3_column_int64(st, 5);
	a->created_ms = sqlite3_column_int64(st, 6);
	a->updated_ms = sqlite3_column_int64(st, 7);
	a->rollout_json = col_str(st, 8);
	a->owner = col_str(st, 9);
}

int store_app_put(struct store *s, const struct store_app *app, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_APP_PUT, &st, "put app", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, app->name);
	sqlite3_bind_int64(st, 2, app->desired_revision);
	sqlite3_bind_int64(st, 3, app->stable_revision);
	bind_text(st, 4, app->phase);
	bind_text(st, 5, app->reason);
	sqlite3_bind_int64(st, 6, app->progress_ms);
	sqlite3_bind_int64(st, 7, sw_wall_ms());
	bind_text(st, 8, app->rollout_json ? app->rollout_json : "");
	bind_text(st, 9, app->owner ? app->owner : "");
	return stmt_done(s, st, "put app", err);
}

int store_app_get(struct store *s, const char *name, struct store_app *out, struct sw_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = stmt_get(s, ST_APP_GET, &st, "get app", err);

	memset(out, 0, sizeof(*out));
	if (ret < 0)
		return ret;
	bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_app(st, out);
	else if (rc == SQLITE_DONE)
		ret = sw_errf(err, SW_ENOTFOUND, "app \"%s\" not found", name);
	else
		ret = db_err(s, rc, "get app", err);
	sqlite3_reset(st);
	return ret;
}

static void free_apps(void *elems, size_t n)
{
	store_app_list_free(elems, n);
}

int store_app_list(struct store *s, struct store_app **out, size_t *n, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_APP_LIST, &st, "list apps", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	return read_list(s, st, sizeof(**out), read_app, free_apps, (void **)out, n, "list apps", err);
}

int store_app_delete(struct store *s, const char *name, struct sw_err *err)
{
	static const struct {
		enum stmt_id id;
		const char *what;
	} steps[] = {
		{ST_APP_DELETE_INSTANCES, "delete instances"},
		{ST_APP_DELETE_JOBS, "delete jobs"},
		{ST_APP_DELETE_REVISIONS, "delete revisions"},
		{ST_APP_DELETE_SEQ, "delete counter"},
		{ST_APP_DELETE, "delete app"},
	};
	int ret = store_begin(s, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		sqlite3_stmt *st;
		ret = stmt_get(s, steps[i].id, &st, steps[i].what, err);
		if (ret < 0)
			goto out;
		bind_text(st, 1, name);
		ret = stmt_done(s, st, steps[i].what, err);
		if (ret < 0)
			goto out;
	}
out:
	if (ret < 0) {
		store_rollback(s);
		return ret;
	}
	return store_commit(s, err);
}

void store_app_release(struct store_app *app)
{
	if (!app)
		return;
	free(app->name);
	free(app->phase);
	free(app->reason);
	free(app->rollout_json);
	free(app->owner);
	memset(app, 0, sizeof(*app));
}

void store_app_list_free(struct store_app *apps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_app_release(&apps[i]);
	free(apps);
}

/* ---- revisions --------------------------------------------------------- */

static void read_revision(sqlite3_stmt *st, void *elem)
{
	struct store_revision *r = elem;
	r->app = col_str(st, 0);
	r->number = sqlite3_column_int64(st, 1);
	r->hash = col_str(st, 2);
	r->spec_json = col_str(st, 3);
	r->version = col_str(st, 4);
	r->source = col_str(st, 5);
	r->created_ms = sqlite3_column_int64(st, 6);
	r->origin = col_str(st, 7);
}

/* Runs a one-row, one-integer query bound to app (and hash when not NULL).
 * Returns 1 with *out set, 0 when there is no row, or an error. */
static int query_int(struct store *s, enum stmt_id id, const char *app, const char *hash,
		     int64_t *out, const char *what, struct sw_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = stmt_get(s, id, &st, what, err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, app);
	if (hash)
		bind_text(st, 2, hash);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		ret = 1;
	} else if (rc == SQLITE_DONE) {
		ret = 0;
	} else {
		ret = db_err(s, rc, what, err);
	}
	sqlite3_reset(st);
	return ret;
}

int store_revision_add(struct store *s, const char *app, const char *hash,
		       const char *spec_json, const char *version, const char *source,
		       const char *origin, int64_t *out_number, bool *out_created, struct sw_err *err)
{
	int64_t number = 0, one;
	sqlite3_stmt *st;
	int ret = store_begin(s, err);

	if (ret < 0)
		return ret;
	ret = query_int(s, ST_REV_BY_HASH, app, hash, &number, "find revision", err);
	if (ret < 0)
		goto out;
	if (ret == 1) {
		*out_number = number;
		*out_created = false;
		ret = 0;
		goto out;
	}
	ret = query_int(s, ST_APP_EXISTS, app, NULL, &one, "find app", err);
	if (ret < 0)
		goto out;
	if (ret == 0) {
		ret = sw_errf(err, SW_ENOTFOUND, "app \"%s\" not found", app);
		goto out;
	}
	ret = query_int(s, ST_REV_MAX, app, NULL, &number, "number revision", err);
	if (ret < 0)
		goto out;
	ret = stmt_get(s, ST_REV_INSERT, &st, "insert revision", err);
	if (ret < 0)
		goto out;
	bind_text(st, 1, app);
	sqlite3_bind_int64(st, 2, number + 1);
	bind_text(st, 3, hash);
	bind_text(st, 4, spec_json);
	bind_text(st, 5, version);
	bind_text(st, 6, source);
	sqlite3_bind_int64(st, 7, sw_wall_ms());
	bind_text(st, 8, origin ? origin : "");
	ret = stmt_done(s, st, "insert revision", err);
	if (ret < 0)
		goto out;
	*out_number = number + 1;
	*out_created = true;
out:
	if (ret < 0) {
		store_rollback(s);
		return ret;
	}
	return store_commit(s, err);
}

int store_revision_get(struct store *s, const char *app, int64_t number,
		       struct store_revision *out, struct sw_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = stmt_get(s, ST_REV_GET, &st, "get revision", err);

	memset(out, 0, sizeof(*out));
	if (ret < 0)
		return ret;
	bind_text(st, 1, app);
	sqlite3_bind_int64(st, 2, number);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_revision(st, out);
	else if (rc == SQLITE_DONE)
		ret = sw_errf(err, SW_ENOTFOUND, "revision %lld of app \"%s\" not found",
			      (long long)number, app);
	else
		ret = db_err(s, rc, "get revision", err);
	sqlite3_reset(st);
	return ret;
}

static void free_revisions(void *elems, size_t n)
{
	store_revision_list_free(elems, n);
}

int store_revision_list(struct store *s, const char *app, struct store_revision **out,
			size_t *n, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_REV_LIST, &st, "list revisions", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	bind_text(st, 1, app);
	return read_list(s, st, sizeof(**out), read_revision, free_revisions, (void **)out, n,
			 "list revisions", err);
}

int store_revision_page(struct store *s, const char *app, int64_t before, size_t limit,
			struct store_revision **out, size_t *n, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_REV_PAGE, &st, "list revisions", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	bind_text(st, 1, app);
	sqlite3_bind_int64(st, 2, before > 0 ? before : INT64_MAX);
	sqlite3_bind_int64(st, 3, sql_limit(limit));
	return read_list(s, st, sizeof(**out), read_revision, free_revisions, (void **)out, n,
			 "list revisions", err);
}

void store_revision_release(struct store_revision *rev)
{
	if (!rev)
		return;
	free(rev->app);
	free(rev->hash);
	free(rev->spec_json);
	free(rev->version);
	free(rev->source);
	free(rev->origin);
	memset(rev, 0, sizeof(*rev));
}

void store_revision_list_free(struct store_revision *revs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_revision_release(&revs[i]);
	free(revs);
}

/* ---- jobs -------------------------------------------------------------- */

static void read_job(sqlite3_stmt *st, void *elem)
{
	struct store_job *j = elem;
	j->id = col_str(st, 0);
	j->app = col_str(st, 1);
	j->run = sqlite3_column_int64(st, 2);
	j->attempt = (uint32_t)sqlite3_column_int64(st, 3);
	j->handle = col_str(st, 4);
	j->attempt_ms = sqlite3_column_int64(st, 5);
	j->started_ms = sqlite3_column_int64(st, 6);
}

int store_job_put(struct store *s, const struct store_job *j, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_JOB_PUT, &st, "put job", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, j->id);
	bind_text(st, 2, j->app);
	sqlite3_bind_int64(st, 3, j->run);
	sqlite3_bind_int64(st, 4, j->attempt);
	bind_text(st, 5, j->handle);
	sqlite3_bind_int64(st, 6, j->attempt_ms);
	sqlite3_bind_int64(st, 7, j->started_ms);
	return stmt_done(s, st, "put job", err);
}

int store_job_delete(struct store *s, const char *id, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_JOB_DELETE, &st, "delete job", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, id);
	return stmt_done(s, st, "delete job", err);
}

static void free_jobs(void *elems, size_t n)
{
	store_job_list_free(elems, n);
}

int store_job_list(struct store *s, const char *app, struct store_job **out, size_t *n,
		   struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_JOB_LIST_APP, &st, "list jobs", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	bind_text(st, 1, app);
	return read_list(s, st, sizeof(**out), read_job, free_jobs, (void **)out, n, "list jobs", err);
}

void store_job_list_free(struct store_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(jobs[i].id);
		free(jobs[i].app);
		free(jobs[i].handle);
	}
	free(jobs);
}

/* ---- instances --------------------------------------------------------- */

static void read_instance(sqlite3_stmt *st, void *elem)
{
	struct store_instance *in = elem;
	in->id = col_str(st, 0);
	in->app = col_str(st, 1);
	in->revision = sqlite3_column_int64(st, 2);
	in->handle = col_str(st, 3);
	in->port = sqlite3_column_int(st, 4);
	in->ready = sqlite3_column_int(st, 5) != 0;
	in->restarts = sqlite3_column_int(st, 6);
	in->state = col_str(st, 7);
	in->created_ms = sqlite3_column_int64(st, 8);
}

int store_instance_put(struct store *s, const struct store_instance *inst, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_INST_PUT, &st, "put instance", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, inst->id);
	bind_text(st, 2, inst->app);
	sqlite3_bind_int64(st, 3, inst->revision);
	bind_text(st, 4, inst->handle);
	sqlite3_bind_int(st, 5, inst->port);
	sqlite3_bind_int(st, 6, inst->ready ? 1 : 0);
	sqlite3_bind_int(st, 7, inst->restarts);
	bind_text(st, 8, inst->state);
	/* created_ms 0 means "now" on insert and "keep" on replace. */
	sqlite3_bind_int64(st, 9, inst->created_ms ? inst->created_ms : sw_wall_ms());
	sqlite3_bind_int(st, 10, inst->created_ms != 0);
	return stmt_done(s, st, "put instance", err);
}

int store_instance_delete(struct store *s, const char *id, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_INST_DELETE, &st, "delete instance", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, id);
	return stmt_done(s, st, "delete instance", err);
}

static void free_instances(void *elems, size_t n)
{
	store_instance_list_free(elems, n);
}

int store_instance_list(struct store *s, const char *app, struct store_instance **out,
			size_t *n, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, app ? ST_INST_LIST_APP : ST_INST_LIST, &st, "list instances", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	if (app)
		bind_text(st, 1, app);
	return read_list(s, st, sizeof(**out), read_instance, free_instances, (void **)out, n,
			 "list instances", err);
}

void store_instance_release(struct store_instance *inst)
{
	if (!inst)
		return;
	free(inst->id);
	free(inst->app);
	free(inst->handle);
	free(inst->state);
	memset(inst, 0, sizeof(*inst));
}

void store_instance_list_free(struct store_instance *insts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_instance_release(&insts[i]);
	free(insts);
}

int store_next_seq(struct store *s, const char *app, int64_t *out, struct sw_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = stmt_get(s, ST_SEQ_NEXT, &st, "next sequence", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, app);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		ret = sw_errf(err, -1, "store: next sequence: no value returned");
	else
		ret = db_err(s, rc, "next sequence", err);
	/* The RETURNING row is read; reset completes the statement. */
	rc = sqlite3_reset(st);
	if (ret == 0 && rc != SQLITE_OK)
		ret = db_err(s, rc, "next sequence", err);
	return ret;
}

/* ---- events ------------------------------------------------------------ */

static void read_event(sqlite3_stmt *st, void *elem)
{
	struct store_event *e = elem;
	e->id = sqlite3_column_int64(st, 0);
	e->time_ms = sqlite3_column_int64(st, 1);
	e->app = col_str(st, 2);
	e->kind = col_str(st, 3);
	e->message = col_str(st, 4);
	e->actor = col_str(st, 5);
}

int store_event_add(struct store *s, const char *app, const char *kind, const char *message,
		    const char *actor, int64_t *out_id, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_EVENT_ADD, &st, "add event", err);
	if (ret < 0)
		return ret;
	sqlite3_bind_int64(st, 1, sw_wall_ms());
	bind_text(st, 2, app);
	bind_text(st, 3, kind);
	bind_text(st, 4, message);
	bind_text(st, 5, actor);
	ret = stmt_done(s, st, "add event", err);
	if (ret == 0 && out_id)
		*out_id = sqlite3_last_insert_rowid(s->db);
	return ret;
}

static void free_events(void *elems, size_t n)
{
	store_event_list_free(elems, n);
}

int store_event_list(struct store *s, const char *app, int64_t after_id, size_t limit,
		     struct store_event **out, size_t *n, struct sw_err *err)
{
	return store_event_list_since(s, app, after_id, 0, limit, out, n, err);
}

int store_event_list_since(struct store *s, const char *app, int64_t after_id, int64_t since_ms,
			   size_t limit, struct store_event **out, size_t *n, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, app ? ST_EVENT_LIST_APP : ST_EVENT_LIST, &st, "list events", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int64(st, 2, sql_limit(limit));
	if (app)
		bind_text(st, 3, app);
	sqlite3_bind_int64(st, 4, since_ms);
	return read_list(s, st, sizeof(**out), read_event, free_events, (void **)out, n,
			 "list events", err);
}

void store_event_list_free(struct store_event *evs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(evs[i].app);
		free(evs[i].kind);
		free(evs[i].message);
		free(evs[i].actor);
	}
	free(evs);
}

/*
 * Steps st and hands each row to emit(st, cb, data), which passes the row
 * on with borrowed strings: nothing is kept, so memory does not grow with
 * the rows. Resets st. Returns the number of rows or an error.
 */
typedef void (*row_emitter)(sqlite3_stmt *st, void *cb, void *data);

static int stream_rows(struct store *s, sqlite3_stmt *st, row_emitter emit, void *cb, void *data,
		       const char *what, struct sw_err *err)
{
	size_t n = 0;
	int rc, ret = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		emit(st, cb, data);
		n++;
	}
	if (rc != SQLITE_DONE)
		ret = db_err(s, rc, what, err);
	sqlite3_reset(st);
	return ret < 0 ? ret : (int)(n > INT32_MAX ? INT32_MAX : n);
}

static void emit_event(sqlite3_stmt *st, void *cb, void *data)
{
	struct store_event e = {
		.id = sqlite3_column_int64(st, 0),
		.time_ms = sqlite3_column_int64(st, 1),
		.app = (char *)col_text(st, 2),
		.kind = (char *)col_text(st, 3),
		.message = (char *)col_text(st, 4),
		.actor = (char *)col_text(st, 5),
	};
	((store_event_cb)cb)(&e, data);
}

int store_event_page(struct store *s, const char *app, int64_t before_id, int64_t since_ms,
		     size_t limit, store_event_cb cb, void *data, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, app ? ST_EVENT_PAGE_APP : ST_EVENT_PAGE, &st, "list events", err);
	if (ret < 0)
		return ret;
	sqlite3_bind_int64(st, 1, before_id > 0 ? before_id : INT64_MAX);
	sqlite3_bind_int64(st, 2, sql_limit(limit));
	if (app)
		bind_text(st, 3, app);
	sqlite3_bind_int64(st, 4, since_ms);
	return stream_rows(s, st, emit_event, (void *)cb, data, "list events", err);
}

/* ---- analysis templates and measurements -------------------------------- */

int store_template_put(struct store *s, const struct store_template *t, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_TEMPLATE_PUT, &st, "put template", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, t->name);
	bind_text(st, 2, t->hash ? t->hash : "");
	bind_text(st, 3, t->spec_json);
	bind_text(st, 4, t->source ? t->source : "");
	bind_text(st, 5, t->owner ? t->owner : "");
	bind_text(st, 6, t->origin ? t->origin : "");
	sqlite3_bind_int64(st, 7, sw_wall_ms());
	return stmt_done(s, st, "put template", err);
}

static void read_template(sqlite3_stmt *st, void *elem)
{
	struct store_template *t = elem;
	t->name = col_str(st, 0);
	t->hash = col_str(st, 1);
	t->spec_json = col_str(st, 2);
	t->source = col_str(st, 3);
	t->owner = col_str(st, 4);
	t->origin = col_str(st, 5);
	t->updated_ms = sqlite3_column_int64(st, 6);
}

int store_template_get(struct store *s, const char *name, struct store_template *out,
		       struct sw_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = stmt_get(s, ST_TEMPLATE_GET, &st, "get template", err);
	memset(out, 0, sizeof(*out));
	if (ret < 0)
		return ret;
	bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_template(st, out);
	else if (rc == SQLITE_DONE)
		ret = sw_errf(err, SW_ENOTFOUND, "AnalysisTemplate \"%s\" not found (apply it first)", name);
	else
		ret = db_err(s, rc, "get template", err);
	sqlite3_reset(st);
	return ret;
}

int store_template_delete(struct store *s, const char *name, struct sw_err *err)
{
	return delete_named(s, ST_TEMPLATE_DELETE, "delete template", "AnalysisTemplate", name, err);
}

void store_template_release(struct store_template *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->hash);
	free(t->spec_json);
	free(t->source);
	free(t->owner);
	free(t->origin);
	memset(t, 0, sizeof(*t));
}

void store_template_list_free(struct store_template *ts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_template_release(&ts[i]);
	free(ts);
}

static void free_templates(void *elems, size_t n)
{
	store_template_list_free(elems, n);
}

int store_template_list(struct store *s, struct store_template **out, size_t *n,
			struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_TEMPLATE_LIST, &st, "list templates", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	return read_list(s, st, sizeof(**out), read_template, free_templates, (void **)out, n,
			 "list templates", err);
}

/* ---- objects: documents of module kinds ---------------------------------- */

int store_object_put(struct store *s, const struct store_object *o, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_OBJ_PUT, &st, "put object", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, o->kind);
	bind_text(st, 2, o->name);
	bind_text(st, 3, o->spec_json);
	bind_text(st, 4, o->source ? o->source : "");
	bind_text(st, 5, o->owner ? o->owner : "");
	sqlite3_bind_int64(st, 6, sw_wall_ms());
	return stmt_done(s, st, "put object", err);
}

int store_object_status(struct store *s, const char *kind, const char *name, const char *status,
			struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_OBJ_STATUS, &st, "put object status", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, kind);
	bind_text(st, 2, name);
	bind_text(st, 3, status ? status : "");
	return stmt_done(s, st, "put object status", err);
}

static void read_object(sqlite3_stmt *st, void *elem)
{
	struct store_object *o = elem;
	o->kind = col_str(st, 0);
	o->name = col_str(st, 1);
	o->spec_json = col_str(st, 2);
	o->source = col_str(st, 3);
	o->owner = col_str(st, 4);
	o->status = col_str(st, 5);
	o->created_ms = sqlite3_column_int64(st, 6);
	o->updated_ms = sqlite3_column_int64(st, 7);
}

void store_object_release(struct store_object *o)
{
	if (!o)
		return;
	free(o->kind);
	free(o->name);
	free(o->spec_json);
	free(o->source);
	free(o->owner);
	free(o->status);
	memset(o, 0, sizeof(*o));
}

void store_object_list_free(struct store_object *os, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_object_release(&os[i]);
	free(os);
}

static void free_objects(void *elems, size_t n)
{
	store_object_list_free(elems, n);
}

int store_object_get(struct store *s, const char *kind, const char *name, struct store_object *out,
		     struct sw_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = stmt_get(s, ST_OBJ_GET, &st, "get object", err);
	memset(out, 0, sizeof(*out));
	if (ret < 0)
		return ret;
	bind_text(st, 1, kind);
	bind_text(st, 2, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_object(st, out);
	else if (rc == SQLITE_DONE)
		ret = sw_errf(err, SW_ENOTFOUND, "%s \"%s\" not found", kind, name);
	else
		ret = db_err(s, rc, "get object", err);
	sqlite3_reset(st);
	return ret;
}

int store_object_list(struct store *s, const char *kind, struct store_object **out, size_t *n,
		      struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_OBJ_LIST, &st, "list objects", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	bind_text(st, 1, kind);
	return read_list(s, st, sizeof(**out), read_object, free_objects, (void **)out, n,
			 "list objects", err);
}

int store_object_delete(struct store *s, const char *kind, const char *name, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_OBJ_DELETE, &st, "delete object", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, kind);
	bind_text(st, 2, name);
	return stmt_done(s, st, "delete object", err);
}

int store_measurement_add(struct store *s, const struct store_measurement *m, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_MEASURE_ADD, &st, "add measurement", err);
	if (ret < 0)
		return ret;
	sqlite3_bind_int64(st, 1, m->time_ms ? m->time_ms : sw_wall_ms());
	bind_text(st, 2, m->app);
	sqlite3_bind_int64(st, 3, m->revision);
	sqlite3_bind_int64(st, 4, m->run);
	bind_text(st, 5, m->kind);
	bind_text(st, 6, m->template_name);
	bind_text(st, 7, m->metric);
	bind_text(st, 8, m->provider);
	bind_text(st, 9, m->query);
	bind_text(st, 10, m->value);
	bind_text(st, 11, m->condition);
	bind_text(st, 12, m->outcome);
	bind_text(st, 13, m->reason);
	return stmt_done(s, st, "add measurement", err);
}

static void read_measurement(sqlite3_stmt *st, void *elem)
{
	struct store_measurement *m = elem;
	m->id = sqlite3_column_int64(st, 0);
	m->time_ms = sqlite3_column_int64(st, 1);
	m->app = col_str(st, 2);
	m->revision = sqlite3_column_int64(st, 3);
	m->run = sqlite3_column_int64(st, 4);
	m->kind = col_str(st, 5);
	m->template_name = col_str(st, 6);
	m->metric = col_str(st, 7);
	m->provider = col_str(st, 8);
	m->query = col_str(st, 9);
	m->value = col_str(st, 10);
	m->condition = col_str(st, 11);
	m->outcome = col_str(st, 12);
	m->reason = col_str(st, 13);
}

static void free_measurements(void *elems, size_t n)
{
	store_measurement_list_free(elems, n);
}

int store_measurement_list(struct store *s, const char *app, int64_t revision, int64_t after_id,
			   struct store_measurement **out, size_t *n, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_MEASURE_LIST, &st, "list measurements", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	bind_text(st, 1, app);
	sqlite3_bind_int64(st, 2, revision);
	sqlite3_bind_int64(st, 3, after_id);
	return read_list(s, st, sizeof(**out), read_measurement, free_measurements, (void **)out, n,
			 "list measurements", err);
}

void store_measurement_list_free(struct store_measurement *ms, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct store_measurement *m = &ms[i];
		free(m->app);
		free(m->kind);
		free(m->template_name);
		free(m->metric);
		free(m->provider);
		free(m->query);
		free(m->value);
		free(m->condition);
		free(m->outcome);
		free(m->reason);
	}
	free(ms);
}

static void emit_measurement(sqlite3_stmt *st, void *cb, void *data)
{
	struct store_measurement m = {
		.id = sqlite3_column_int64(st, 0),
		.time_ms = sqlite3_column_int64(st, 1),
		.app = (char *)col_text(st, 2),
		.revision = sqlite3_column_int64(st, 3),
		.run = sqlite3_column_int64(st, 4),
		.kind = (char *)col_text(st, 5),
		.template_name = (char *)col_text(st, 6),
		.metric = (char *)col_text(st, 7),
		.provider = (char *)col_text(st, 8),
		.query = (char *)col_text(st, 9),
		.value = (char *)col_text(st, 10),
		.condition = (char *)col_text(st, 11),
		.outcome = (char *)col_text(st, 12),
		.reason = (char *)col_text(st, 13),
	};
	((store_measurement_cb)cb)(&m, data);
}

int store_measurement_page(struct store *s, const char *app, int64_t revision, int64_t cursor,
			   bool forward, size_t limit, store_measurement_cb cb, void *data,
			   struct sw_err *err)
{
	static const enum stmt_id ids[2][2] = {{ST_MEASURE_PAGE, ST_MEASURE_PAGE_REV},
					       {ST_MEASURE_AFTER, ST_MEASURE_AFTER_REV}};
	sqlite3_stmt *st;
	int ret = stmt_get(s, ids[forward][revision > 0], &st, "list measurements", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, app);
	sqlite3_bind_int64(st, 2, forward ? cursor : cursor > 0 ? cursor : INT64_MAX);
	sqlite3_bind_int64(st, 3, sql_limit(limit));
	if (revision > 0)
		sqlite3_bind_int64(st, 4, revision);
	return stream_rows(s, st, emit_measurement, (void *)cb, data, "list measurements", err);
}

/* ---- API tokens ---------------------------------------------------------- */

static void read_token(sqlite3_stmt *st, void *elem)
{
	struct store_token *t = elem;
	t->name = col_str(st, 0);
	t->hash = col_str(st, 1);
	t->role = col_str(st, 2);
	t->created_ms = sqlite3_column_int64(st, 3);
	t->last_used_ms = sqlite3_column_int64(st, 4);
	t->environments = col_str(st, 5);
	t->approve = col_str(st, 6);
}

int store_token_put(struct store *s, const struct store_token *t, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_TOKEN_PUT, &st, "put token", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, t->name);
	bind_text(st, 2, t->hash);
	bind_text(st, 3, t->role);
	sqlite3_bind_int64(st, 4, t->created_ms ? t->created_ms : sw_wall_ms());
	bind_text(st, 5, t->environments);
	bind_text(st, 6, t->approve);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		ret = sw_errf(err, SW_EEXIST, "token \"%s\" exists", t->name);
	else if ((rc & 0xff) == SQLITE_CONSTRAINT)
		ret = sw_errf(err, SW_EEXIST, "a token with the same hash exists");
	else if (rc != SQLITE_DONE)
		ret = db_err(s, rc, "put token", err);
	sqlite3_reset(st);
	return ret;
}

/* The token whose column (by id's statement) is key. */
static int token_get(struct store *s, enum stmt_id id, const char *key, struct store_token *out,
		     struct sw_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = stmt_get(s, id, &st, "get token", err);

	memset(out, 0, sizeof(*out));
	if (ret < 0)
		return ret;
	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_token(st, out);
	else if (rc == SQLITE_DONE)
		ret = sw_errf(err, SW_ENOTFOUND, "no such token");
	else
		ret = db_err(s, rc, "get token", err);
	sqlite3_reset(st);
	return ret;
}

int store_token_get_by_hash(struct store *s, const char *hash, struct store_token *out,
			    struct sw_err *err)
{
	return token_get(s, ST_TOKEN_GET_BY_HASH, hash, out, err);
}

int store_token_get(struct store *s, const char *name, struct store_token *out, struct sw_err *err)
{
	return token_get(s, ST_TOKEN_GET, name, out, err);
}

static void free_tokens(void *elems, size_t n)
{
	store_token_list_free(elems, n);
}

int store_token_list(struct store *s, struct store_token **out, size_t *n, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_TOKEN_LIST, &st, "list tokens", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	return read_list(s, st, sizeof(**out), read_token, free_tokens, (void **)out, n,
			 "list tokens", err);
}

int store_token_page(struct store *s, const char *after, size_t limit, struct store_token **out,
		     size_t *n, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_TOKEN_PAGE, &st, "list tokens", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	bind_text(st, 1, after);
	sqlite3_bind_int64(st, 2, sql_limit(limit));
	return read_list(s, st, sizeof(**out), read_token, free_tokens, (void **)out, n,
			 "list tokens", err);
}

int store_token_delete(struct store *s, const char *name, struct sw_err *err)
{
	return delete_named(s, ST_TOKEN_DELETE, "delete token", "token", name, err);
}

int store_token_touch(struct store *s, const char *name, int64_t when_ms, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_TOKEN_TOUCH, &st, "touch token", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, when_ms ? when_ms : sw_wall_ms());
	return stmt_done(s, st, "touch token", err);
}

void store_token_release(struct store_token *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->hash);
	free(t->role);
	free(t->environments);
	free(t->approve);
	memset(t, 0, sizeof(*t));
}

void store_token_list_free(struct store_token *ts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_token_release(&ts[i]);
	free(ts);
}

/* ---- promotions ---------------------------------------------------------- */

static void read_promotion(sqlite3_stmt *st, void *elem)
{
	struct store_promotion *p = elem;
	p->id = sqlite3_column_int64(st, 0);
	p->target = col_str(st, 1);
	p->upstream = col_str(st, 2);
	p->release = col_str(st, 3);
	p->phase = col_str(st, 4);
	p->state = col_str(st, 5);
	p->created_ms = sqlite3_column_int64(st, 6);
	p->updated_ms = sqlite3_column_int64(st, 7);
}

static void free_promotions(void *elems, size_t n)
{
	store_promotion_list_free(elems, n);
}

int store_promotion_add(struct store *s, const struct store_promotion *p, int64_t *out_id,
			struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = store_begin(s, err);
	if (ret < 0)
		return ret;
	if ((ret = stmt_get(s, ST_PROMO_ADD, &st, "add promotion", err)) < 0)
		goto fail;
	bind_text(st, 1, p->target);
	bind_text(st, 2, p->upstream);
	bind_text(st, 3, p->release);
	bind_text(st, 4, p->phase);
	bind_text(st, 5, p->state);
	sqlite3_bind_int64(st, 6, p->created_ms ? p->created_ms : sw_wall_ms());
	if ((ret = stmt_done(s, st, "add promotion", err)) < 0)
		goto fail;
	*out_id = sqlite3_last_insert_rowid(s->db);
	if ((ret = stmt_get(s, ST_PROMO_TRIM, &st, "trim promotions", err)) < 0)
		goto fail;
	bind_text(st, 1, p->target);
	sqlite3_bind_int64(st, 2, STORE_PROMOTIONS_KEPT);
	if ((ret = stmt_done(s, st, "trim promotions", err)) < 0)
		goto fail;
	return store_commit(s, err);
fail:
	store_rollback(s);
	return ret;
}

int store_promotion_put(struct store *s, const struct store_promotion *p, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_PROMO_PUT, &st, "put promotion", err);
	if (ret < 0)
		return ret;
	sqlite3_bind_int64(st, 1, p->id);
	bind_text(st, 2, p->phase);
	bind_text(st, 3, p->state);
	sqlite3_bind_int64(st, 4, p->updated_ms ? p->updated_ms : sw_wall_ms());
	ret = stmt_done(s, st, "put promotion", err);
	if (ret == 0 && sqlite3_changes(s->db) == 0)
		ret = sw_errf(err, SW_ENOTFOUND, "promotion %lld not found", (long long)p->id);
	return ret;
}

int store_promotion_get(struct store *s, int64_t id, struct store_promotion *out,
			struct sw_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = stmt_get(s, ST_PROMO_GET, &st, "get promotion", err);
	memset(out, 0, sizeof(*out));
	if (ret < 0)
		return ret;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_promotion(st, out);
	else if (rc == SQLITE_DONE)
		ret = sw_errf(err, SW_ENOTFOUND, "promotion %lld not found", (long long)id);
	else
		ret = db_err(s, rc, "get promotion", err);
	sqlite3_reset(st);
	return ret;
}

int store_promotion_latest(struct store *s, struct store_promotion **out, size_t *n,
			   struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_PROMO_LATEST, &st, "list promotions", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	return read_list(s, st, sizeof(**out), read_promotion, free_promotions, (void **)out, n,
			 "list promotions", err);
}

int store_promotion_page(struct store *s, const char *target, int64_t before, size_t limit,
			 struct store_promotion **out, size_t *n, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_PROMO_PAGE, &st, "list promotions", err);
	*out = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	bind_text(st, 1, target);
	sqlite3_bind_int64(st, 2, before > 0 ? before : INT64_MAX);
	sqlite3_bind_int64(st, 3, sql_limit(limit));
	return read_list(s, st, sizeof(**out), read_promotion, free_promotions, (void **)out, n,
			 "list promotions", err);
}

void store_promotion_release(struct store_promotion *p)
{
	if (!p)
		return;
	free(p->target);
	free(p->upstream);
	free(p->release);
	free(p->phase);
	free(p->state);
	memset(p, 0, sizeof(*p));
}

void store_promotion_list_free(struct store_promotion *ps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_promotion_release(&ps[i]);
	free(ps);
}

/* ---- meta: the store's own settings -------------------------------------- */

int store_meta_get(struct store *s, const char *key, char **out, struct sw_err *err)
{
	sqlite3_stmt *st;
	int rc, ret = stmt_get(s, ST_META_GET, &st, "read setting", err);
	*out = NULL;
	if (ret < 0)
		return ret;
	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = col_str(st, 0);
	else if (rc == SQLITE_DONE)
		ret = SW_ENOTFOUND;
	else
		ret = db_err(s, rc, "read setting", err);
	sqlite3_reset(st);
	return ret;
}

int store_meta_put(struct store *s, const char *key, const char *value, struct sw_err *err)
{
	sqlite3_stmt *st;
	int ret = stmt_get(s, ST_META_PUT, &st, "write setting", err);
	if (ret < 0)
		return ret;
	bind_text(st, 1, key);
	bind_text(st, 2, value);
	return stmt_done(s, st, "write setting", err);
}

int store_revision_rehash(struct store *s, store_rehash_fn fn, void *data, struct sw_err *err)
{
	sqlite3_stmt *all = NULL, *up;
	struct store_revision *revs = NULL;
	size_t n = 0, alloc = 0;
	int rc, ret = store_begin(s, err);
	if (ret < 0)
		return ret;
	rc = sqlite3_prepare_v2(s->db, "SELECT app, number, spec_json FROM revisions", -1, &all, NULL);
	if (rc != SQLITE_OK) {
		ret = db_err(s, rc, "rehash revisions", err);
		goto out;
	}
	/* Read first, then write: the updates change the (app, hash) index
	 * the scan might otherwise walk. */
	while ((rc = sqlite3_step(all)) == SQLITE_ROW) {
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 16;
			revs = xrealloc(revs, alloc * sizeof(*revs));
		}
		memset(&revs[n], 0, sizeof(revs[n]));
		revs[n].app = col_str(all, 0);
		revs[n].number = sqlite3_column_int64(all, 1);
		revs[n].spec_json = col_str(all, 2);
		n++;
	}
	if (rc != SQLITE_DONE) {
		ret = db_err(s, rc, "rehash revisions", err);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char hash[65];
		fn(revs[i].spec_json, hash, data);
		ret = stmt_get(s, ST_REV_REHASH, &up, "rehash revisions", err);
		if (ret < 0)
			goto out;
		bind_text(up, 1, revs[i].app);
		sqlite3_bind_int64(up, 2, revs[i].number);
		bind_text(up, 3, hash);
		ret = stmt_done(s, up, "rehash revisions", err);
		if (ret < 0)
			goto out;
	}
out:
	sqlite3_finalize(all);
	store_revision_list_free(revs, n);
	if (ret < 0) {
		store_rollback(s);
		return ret;
	}
	return store_commit(s, err);
}

sqlite3 *store_db(struct store *s)
{
	return s->db;
}
