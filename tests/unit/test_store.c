/* Unit tests for src/store: SQLite state, migrations, transactions and
 * several writers on one file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sw_err err = {0};

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/slipway-store-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	if (store_open(&f->s, f->path, &err) < 0) {
		fprintf(stderr, "store_open: %s\n", err.msg);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->s);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Runs a query that returns one text value through a separate raw
 * connection, into out. */
static void raw_text(const char *path, const char *sql, char *out, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const unsigned char *v = sqlite3_column_text(st, 0);
	snprintf(out, size, "%s", v ? (const char *)v : "");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Closes the store, runs sql on the file (the schema and rows as an older
 * daemon left them, ending with its PRAGMA user_version) and opens it
 * again: migrated to the latest version. */
static void reopen_from(struct fixture *f, const char *sql)
{
	struct sw_err err = {0};
	store_close(f->s);
	f->s = NULL;
	raw_exec(f->path, sql);
	assert_int_equal(store_open(&f->s, f->path, &err), 0);
	assert_int_equal(store_schema_version(f->s), store_schema_latest());
}

static void put_app(struct store *s, const char *name)
{
	struct sw_err err = {0};
	struct store_app a = {.name = (char *)name, .phase = "Healthy"};
	assert_int_equal(store_app_put(s, &a, &err), 0);
}

static void test_store__open_migrates_and_reopens(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	char v[64], want[16];

	assert_true(store_schema_latest() >= 1);
	assert_int_equal(store_schema_version(f->s), store_schema_latest());
	put_app(f->s, "hello");
	store_close(f->s);
	f->s = NULL;

	snprintf(want, sizeof(want), "%d", store_schema_latest());
	raw_text(f->path, "PRAGMA user_version", v, sizeof(v));
	assert_string_equal(v, want);
	raw_text(f->path, "PRAGMA journal_mode", v, sizeof(v));
	assert_string_equal(v, "wal");

	assert_int_equal(store_open(&f->s, f->path, &err), 0);
	assert_int_equal(store_schema_version(f->s), store_schema_latest());
	struct store_app a;
	assert_int_equal(store_app_get(f->s, "hello", &a, &err), 0);
	assert_string_equal(a.phase, "Healthy");
	store_app_release(&a);
}

/* Migration 5 gives every running instance of an older database the
 * handle runtime_adopt takes: "PID STARTTIME". */
static void test_store__migration_backfills_instance_handles(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_instance *list = NULL;
	size_t n = 0;

	assert_true(store_schema_latest() >= 5);
	/* back to the version 4 table, with rows as a version 4 daemon wrote */
	reopen_from(f, "ALTER TABLE instances DROP COLUMN handle;"
		       "ALTER TABLE templates DROP COLUMN owner;"
		       "ALTER TABLE templates DROP COLUMN origin;"
		       "ALTER TABLE apps DROP COLUMN owner;"
		       "ALTER TABLE revisions DROP COLUMN origin;"
		       "DROP TABLE objects;"
		       "ALTER TABLE tokens DROP COLUMN environments;"
		       "ALTER TABLE tokens DROP COLUMN approve;"
		       "DROP TABLE promotions;"
		       "INSERT INTO instances (id, app, revision, pid, start_time, port, state,"
		       " created_ms) VALUES ('web-r1-1', 'web', 1, 4242, 987654321, 9001,"
		       " 'Running', 1), ('web-r1-2', 'web', 1, 0, 0, 9002, 'Starting', 2);"
		       "PRAGMA user_version = 4;");
	assert_int_equal(store_instance_list(f->s, "web", &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].handle, "4242 987654321");
	assert_string_equal(list[1].handle, "");  /* not running: nothing to adopt */
	store_instance_list_free(list, n);
}

static void test_store__newer_schema_is_refused(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store *s = NULL;
	char sql[64], want[160];
	int newer = store_schema_latest() + 2;

	store_close(f->s);
	f->s = NULL;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", newer);
	raw_exec(f->path, sql);

	assert_int_equal(store_open(&s, f->path, &err), -1);
	assert_null(s);
	snprintf(want, sizeof(want),
		 "state.db schema version %d is newer than this slipway (%d); upgrade slipway", newer,
		 store_schema_latest());
	assert_string_equal(err.msg, want);
}

static void test_store__garbage_file_is_an_error_not_a_crash(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store *s = NULL;
	char path[160];

	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 4096; i++)
		fputc("not a database "[i % 15], fp);
	fclose(fp);
	assert_true(store_open(&s, path, &err) < 0);
	assert_null(s);
	assert_non_null(strstr(err.msg, "not a database"));

	/* right version number, tables missing: calls fail, nothing crashes */
	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store_schema_latest());
	raw_exec(path, sql);
	sw_err_clear(&err);
	assert_int_equal(store_open(&s, path, &err), 0);
	struct store_app *apps = NULL;
	size_t n = 7;
	assert_int_equal(store_app_list(s, &apps, &n, &err), -1);
	assert_string_equal(err.msg, "store: list apps: no such table: apps");
	assert_null(apps);
	assert_int_equal(n, 0);
	int64_t num;
	bool created;
	sw_err_clear(&err);
	assert_int_equal(store_revision_add(s, "web", "h", "{}", "1", "", NULL, &num, &created, &err), -1);
	assert_non_null(strstr(err.msg, "no such table"));
	store_close(s);
	s = NULL;

	sw_err_clear(&err);
	assert_true(store_open(&s, "/nonexistent-dir/x/state.db", &err) < 0);
	assert_non_null(strstr(err.msg, "store: open /nonexistent-dir/x/state.db"));
}

static void test_store__app_put_get_list_delete(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_app a = {.name = "web", .desired_revision = 2, .stable_revision = 1,
			      .phase = "Progressing", .reason = NULL, .progress_ms = 1234};
	struct store_app got, *list = NULL;
	size_t n = 0;

	assert_int_equal(store_app_get(f->s, "web", &got, &err), SW_ENOTFOUND);
	assert_string_equal(err.msg, "app \"web\" not found");
	sw_err_clear(&err);

	assert_int_equal(store_app_put(f->s, &a, &err), 0);
	assert_int_equal(store_app_get(f->s, "web", &got, &err), 0);
	assert_string_equal(got.name, "web");
	assert_int_equal(got.desired_revision, 2);
	assert_int_equal(got.stable_revision, 1);
	assert_string_equal(got.phase, "Progressing");
	assert_string_equal(got.reason, "");
	assert_int_equal(got.progress_ms, 1234);
	assert_true(got.created_ms > 0);
	int64_t created = got.created_ms;
	store_app_release(&got);

	/* replace keeps created_ms */
	a.stable_revision = 2;
	a.phase = "Healthy";
	a.reason = "rolled out";
	assert_int_equal(store_app_put(f->s, &a, &err), 0);
	assert_int_equal(store_app_get(f->s, "web", &got, &err), 0);
	assert_int_equal(got.stable_revision, 2);
	assert_string_equal(got.phase, "Healthy");
	assert_string_equal(got.reason, "rolled out");
	assert_int_equal(got.created_ms, created);
	assert_true(got.updated_ms >= created);
	store_app_release(&got);

	put_app(f->s, "api");
	assert_int_equal(store_app_list(f->s, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "api");
	assert_string_equal(list[1].name, "web");
	store_app_list_free(list, n);

	assert_int_equal(store_app_delete(f->s, "web", &err), 0);
	assert_int_equal(store_app_get(f->s, "web", &got, &err), SW_ENOTFOUND);
	sw_err_clear(&err);
	assert_int_equal(store_app_list(f->s, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "api");
	store_app_list_free(list, n);
	/* deleting what is not there is not an error */
	assert_int_equal(store_app_delete(f->s, "web", &err), 0);
}

static void test_store__revisions_dedupe_by_hash_and_number_up(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	int64_t num = 0;
	bool created = false;
	struct store_revision rev, *revs = NULL;
	size_t n = 0;

	assert_int_equal(store_revision_add(f->s, "web", "h1", "{}", "1.0", "a.yaml", NULL, &num, &created, &err),
			 SW_ENOTFOUND);
	sw_err_clear(&err);

	put_app(f->s, "web");
	put_app(f->s, "api");
	assert_int_equal(store_revision_add(f->s, "web", "h1", "{\"a\":1}", "1.0", "a.yaml", NULL, &num, &created, &err), 0);
	assert_int_equal(num, 1);
	assert_true(created);
	assert_int_equal(store_revision_add(f->s, "web", "h2", "{\"a\":2}", "2.0", "a.yaml", NULL, &num, &created, &err), 0);
	assert_int_equal(num, 2);
	assert_true(created);
	/* same content again: the existing number, nothing new */
	assert_int_equal(store_revision_add(f->s, "web", "h1", "{\"a\":1}", "1.0", "b.yaml", NULL, &num, &created, &err), 0);
	assert_int_equal(num, 1);
	assert_false(created);
	/* numbering and hashes are per app */
	assert_int_equal(store_revision_add(f->s, "api", "h1", "{}", NULL, NULL, NULL, &num, &created, &err), 0);
	assert_int_equal(num, 1);
	assert_true(created);
	assert_int_equal(store_revision_add(f->s, "web", "h3", "{\"a\":3}", "3.0", "a.yaml", NULL, &num, &created, &err), 0);
	assert_int_equal(num, 3);

	assert_int_equal(store_revision_get(f->s, "web", 2, &rev, &err), 0);
	assert_string_equal(rev.app, "web");
	assert_int_equal(rev.number, 2);
	assert_string_equal(rev.hash, "h2");
	assert_string_equal(rev.spec_json, "{\"a\":2}");
	assert_string_equal(rev.version, "2.0");
	assert_string_equal(rev.source, "a.yaml");
	assert_true(rev.created_ms > 0);
	store_revision_release(&rev);
	assert_int_equal(store_revision_get(f->s, "web", 9, &rev, &err), SW_ENOTFOUND);
	sw_err_clear(&err);

	assert_int_equal(store_revision_list(f->s, "web", &revs, &n, &err), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(revs[i].number, (int64_t)i + 1);
	store_revision_list_free(revs, n);

	assert_int_equal(store_revision_get(f->s, "api", 1, &rev, &err), 0);
	assert_string_equal(rev.version, "");
	assert_string_equal(rev.source, "");
	store_revision_release(&rev);
}

static void test_store__instances_put_list_delete(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_instance *list = NULL;
	size_t n = 0;
	struct store_instance a = {.id = "web-r1-1", .app = "web", .revision = 1,
				   .handle = "100 123456789012", .port = 9001, .ready = true,
				   .restarts = 0, .state = "Running", .created_ms = 1000};
	struct store_instance b = {.id = "web-r1-2", .app = "web", .revision = 1,
				   .handle = "101 5", .port = 9002, .state = "Starting",
				   .created_ms = 2000};
	struct store_instance c = {.id = "api-r1-1", .app = "api", .revision = 1, .port = 9003,
				   .state = "Starting", .created_ms = 500};

	assert_int_equal(store_instance_put(f->s, &b, &err), 0);
	assert_int_equal(store_instance_put(f->s, &a, &err), 0);
	assert_int_equal(store_instance_put(f->s, &c, &err), 0);

	assert_int_equal(store_instance_list(f->s, "web", &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "web-r1-1");
	assert_string_equal(list[0].handle, "100 123456789012");
	assert_int_equal(list[0].port, 9001);
	assert_true(list[0].ready);
	assert_string_equal(list[0].state, "Running");
	assert_int_equal(list[0].created_ms, 1000);
	assert_string_equal(list[1].id, "web-r1-2");
	assert_false(list[1].ready);
	store_instance_list_free(list, n);

	assert_int_equal(store_instance_list(f->s, NULL, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].id, "api-r1-1");
	store_instance_list_free(list, n);

	/* replace by id; created_ms 0 keeps the stored one */
	b.ready = true;
	b.restarts = 2;
	b.state = "Running";
	b.created_ms = 0;
	assert_int_equal(store_instance_put(f->s, &b, &err), 0);
	assert_int_equal(store_instance_delete(f->s, "web-r1-1", &err), 0);
	assert_int_equal(store_instance_list(f->s, "web", &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "web-r1-2");
	assert_true(list[0].ready);
	assert_int_equal(list[0].restarts, 2);
	assert_string_equal(list[0].state, "Running");
	assert_int_equal(list[0].created_ms, 2000);
	store_instance_list_free(list, n);

	assert_int_equal(store_instance_list(f->s, "none", &list, &n, &err), 0);
	assert_int_equal(n, 0);
	store_instance_list_free(list, n);
}

static void test_store__next_seq_counts_per_app(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	int64_t v = 0;

	put_app(f->s, "web");
	for (int64_t i = 1; i <= 3; i++) {
		assert_int_equal(store_next_seq(f->s, "web", &v, &err), 0);
		assert_int_equal(v, i);
	}
	assert_int_equal(store_next_seq(f->s, "api", &v, &err), 0);
	assert_int_equal(v, 1);
	assert_int_equal(store_app_delete(f->s, "web", &err), 0);
	assert_int_equal(store_next_seq(f->s, "web", &v, &err), 0);
	assert_int_equal(v, 1);
}

static void test_store__events_order_after_limit_and_app(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_event *evs = NULL;
	size_t n = 0;
	int64_t ids[6];
	const char *apps[6] = {"web", "api", "web", NULL, "web", "api"};

	for (int i = 0; i < 6; i++) {
		char msg[32];
		snprintf(msg, sizeof(msg), "event %d", i);
		assert_int_equal(store_event_add(f->s, apps[i], "Applied", msg, "cli", &ids[i], &err), 0);
		if (i > 0)
			assert_true(ids[i] > ids[i - 1]);
	}
	assert_int_equal(store_event_add(f->s, "web", "Note", "no id wanted", "daemon", NULL, &err), 0);

	assert_int_equal(store_event_list(f->s, NULL, 0, 0, &evs, &n, &err), 0);
	assert_int_equal(n, 7);
	for (size_t i = 0; i < 6; i++) {
		char msg[32];
		snprintf(msg, sizeof(msg), "event %zu", i);
		assert_int_equal(evs[i].id, ids[i]);
		assert_string_equal(evs[i].message, msg);
		assert_string_equal(evs[i].app, apps[i] ? apps[i] : "");
		assert_string_equal(evs[i].kind, "Applied");
		assert_string_equal(evs[i].actor, "cli");
		assert_true(evs[i].time_ms > 0);
	}
	assert_string_equal(evs[6].actor, "daemon");
	store_event_list_free(evs, n);

	assert_int_equal(store_event_list(f->s, NULL, ids[2], 2, &evs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(evs[0].id, ids[3]);
	assert_int_equal(evs[1].id, ids[4]);
	store_event_list_free(evs, n);

	assert_int_equal(store_event_list(f->s, "web", 0, 0, &evs, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_int_equal(evs[0].id, ids[0]);
	assert_int_equal(evs[1].id, ids[2]);
	assert_int_equal(evs[2].id, ids[4]);
	store_event_list_free(evs, n);

	assert_int_equal(store_event_list(f->s, "web", ids[0], 1, &evs, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(evs[0].id, ids[2]);
	store_event_list_free(evs, n);

	assert_int_equal(store_event_list(f->s, "api", ids[5], 0, &evs, &n, &err), 0);
	assert_int_equal(n, 0);
	store_event_list_free(evs, n);
}

static void test_store__app_delete_keeps_events(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_event *evs = NULL;
	struct store_revision *revs = NULL;
	struct store_instance *insts = NULL;
	size_t n = 0;
	int64_t num, seq;
	bool created;
	struct store_instance in = {.id = "web-r1-1", .app = "web", .revision = 1, .state = "Running"};

	put_app(f->s, "web");
	put_app(f->s, "api");
	assert_int_equal(store_revision_add(f->s, "web", "h1", "{}", "1", "", NULL, &num, &created, &err), 0);
	assert_int_equal(store_revision_add(f->s, "api", "h1", "{}", "1", "", NULL, &num, &created, &err), 0);
	assert_int_equal(store_instance_put(f->s, &in, &err), 0);
	assert_int_equal(store_next_seq(f->s, "web", &seq, &err), 0);
	assert_int_equal(store_event_add(f->s, "web", "Applied", "revision 1", "cli", NULL, &err), 0);
	assert_int_equal(store_event_add(f->s, "web", "Deleted", "bye", "cli", NULL, &err), 0);

	assert_int_equal(store_app_delete(f->s, "web", &err), 0);

	assert_int_equal(store_revision_list(f->s, "web", &revs, &n, &err), 0);
	assert_int_equal(n, 0);
	store_revision_list_free(revs, n);
	assert_int_equal(store_revision_list(f->s, "api", &revs, &n, &err), 0);
	assert_int_equal(n, 1);
	store_revision_list_free(revs, n);
	assert_int_equal(store_instance_list(f->s, "web", &insts, &n, &err), 0);
	assert_int_equal(n, 0);
	store_instance_list_free(insts, n);
	assert_int_equal(store_event_list(f->s, "web", 0, 0, &evs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(evs[1].kind, "Deleted");
	store_event_list_free(evs, n);

	/* a recreated app starts numbering afresh */
	put_app(f->s, "web");
	assert_int_equal(store_revision_add(f->s, "web", "h9", "{}", "9", "", NULL, &num, &created, &err), 0);
	assert_int_equal(num, 1);
}

static void test_store__rollback_really_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_app got;
	int64_t num;
	bool created;
	struct store_event *evs = NULL;
	size_t n = 0;

	put_app(f->s, "web");
	assert_int_equal(store_begin(f->s, &err), 0);
	put_app(f->s, "api");
	assert_int_equal(store_revision_add(f->s, "web", "h1", "{}", "1", "", NULL, &num, &created, &err), 0);
	assert_int_equal(store_event_add(f->s, "web", "Applied", "x", "cli", NULL, &err), 0);
	store_rollback(f->s);

	assert_int_equal(store_app_get(f->s, "api", &got, &err), SW_ENOTFOUND);
	sw_err_clear(&err);
	assert_int_equal(store_revision_get(f->s, "web", 1, &(struct store_revision){0}, &err), SW_ENOTFOUND);
	sw_err_clear(&err);
	assert_int_equal(store_event_list(f->s, NULL, 0, 0, &evs, &n, &err), 0);
	assert_int_equal(n, 0);
	store_event_list_free(evs, n);

	/* nested commit: only the outermost one writes */
	assert_int_equal(store_begin(f->s, &err), 0);
	assert_int_equal(store_begin(f->s, &err), 0);
	put_app(f->s, "api");
	assert_int_equal(store_commit(f->s, &err), 0);
	assert_int_equal(store_commit(f->s, &err), 0);
	assert_int_equal(store_app_get(f->s, "api", &got, &err), 0);
	store_app_release(&got);

	/* an inner rollback dooms the outer transaction */
	assert_int_equal(store_begin(f->s, &err), 0);
	put_app(f->s, "db");
	assert_int_equal(store_begin(f->s, &err), 0);
	store_rollback(f->s);
	assert_int_equal(store_commit(f->s, &err), -1);
	assert_non_null(strstr(err.msg, "rolled back"));
	sw_err_clear(&err);
	assert_int_equal(store_app_get(f->s, "db", &got, &err), SW_ENOTFOUND);
	sw_err_clear(&err);

	/* and the handle is usable afterwards */
	assert_int_equal(store_begin(f->s, &err), 0);
	put_app(f->s, "db");
	assert_int_equal(store_commit(f->s, &err), 0);
	assert_int_equal(store_app_get(f->s, "db", &got, &err), 0);
	store_app_release(&got);
}

static void test_store__two_handles_see_each_others_commits(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store *s2 = NULL;
	struct store_app got;
	struct store_app a = {.name = "late", .phase = "Healthy"};

	assert_int_equal(store_open(&s2, f->path, &err), 0);
	put_app(f->s, "web");
	assert_int_equal(store_app_get(s2, "web", &got, &err), 0);
	store_app_release(&got);

	/* while one handle writes, the other still reads the last commit and
	 * a write from it fails with SW_EBUSY once its timeout runs out */
	assert_int_equal(store_begin(f->s, &err), 0);
	put_app(f->s, "api");
	assert_int_equal(store_app_get(s2, "api", &got, &err), SW_ENOTFOUND);
	sw_err_clear(&err);
	store_set_busy_timeout(s2, 50);
	assert_int_equal(store_app_put(s2, &a, &err), SW_EBUSY);
	assert_int_equal(err.code, SW_EBUSY);
	assert_string_equal(err.msg, "store: put app: database is locked");
	sw_err_clear(&err);
	assert_int_equal(store_begin(s2, &err), SW_EBUSY);
	sw_err_clear(&err);
	assert_int_equal(store_commit(f->s, &err), 0);

	assert_int_equal(store_app_get(s2, "api", &got, &err), 0);
	store_app_release(&got);
	assert_int_equal(store_app_put(s2, &a, &err), 0);
	assert_int_equal(store_app_get(f->s, "late", &got, &err), 0);
	store_app_release(&got);
	store_close(s2);
}

#define NPROC 20
#define PER_PROC 10

/* One child: its own handle, PER_PROC revisions of its own plus one that
 * every child adds. Exit status 0 when all went well. */
static int child_adds_revisions(const char *path, int k)
{
	struct sw_err err = {0};
	struct store *s = NULL;
	int64_t num;
	bool created;

	if (store_open(&s, path, &err) < 0) {
		fprintf(stderr, "child %d: %s\n", k, err.msg);
		return 1;
	}
	store_set_busy_timeout(s, 30000);
	for (int i = 0; i < PER_PROC; i++) {
		char hash[32], json[64];
		snprintf(hash, sizeof(hash), "c%d-%d", k, i);
		snprintf(json, sizeof(json), "{\"child\":%d,\"i\":%d}", k, i);
		if (store_revision_add(s, "web", hash, json, "1", "", NULL, &num, &created, &err) < 0 || !created) {
			fprintf(stderr, "child %d: %s\n", k, err.msg);
			store_close(s);
			return 1;
		}
		if (i == PER_PROC / 2 &&
		    store_revision_add(s, "web", "shared", "{}", "1", "", NULL, &num, &created, &err) < 0) {
			fprintf(stderr, "child %d: %s\n", k, err.msg);
			store_close(s);
			return 1;
		}
	}
	if (store_event_add(s, "web", "ChildDone", "", "test", NULL, &err) < 0) {
		store_close(s);
		return 1;
	}
	store_close(s);
	return 0;
}

static void test_store__concurrent_processes_number_uniquely(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	pid_t pids[NPROC];
	struct store_revision *revs = NULL;
	struct store_event *evs = NULL;
	size_t n = 0;
	char ok[64];

	put_app(f->s, "web");
	/* no connection may cross a fork */
	store_close(f->s);
	f->s = NULL;

	for (int k = 0; k < NPROC; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0)
			_exit(child_adds_revisions(f->path, k));
	}
	for (int k = 0; k < NPROC; k++) {
		int status = 0;
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}

	raw_text(f->path, "PRAGMA integrity_check", ok, sizeof(ok));
	assert_string_equal(ok, "ok");

	assert_int_equal(store_open(&f->s, f->path, &err), 0);
	assert_int_equal(store_revision_list(f->s, "web", &revs, &n, &err), 0);
	assert_int_equal(n, NPROC * PER_PROC + 1);
	int shared = 0;
	for (size_t i = 0; i < n; i++) {
		/* ascending and gapless means unique */
		assert_int_equal(revs[i].number, (int64_t)i + 1);
		if (strcmp(revs[i].hash, "shared") == 0)
			shared++;
	}
	assert_int_equal(shared, 1);
	store_revision_list_free(revs, n);
	assert_int_equal(store_event_list(f->s, "web", 0, 0, &evs, &n, &err), 0);
	assert_int_equal(n, NPROC);
	store_event_list_free(evs, n);
}

/* Twenty openers of a file that does not exist yet: exactly one of them
 * migrates it, none fails. */
static void test_store__concurrent_first_open_migrates_once(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	pid_t pids[NPROC];
	char path[160], ok[64];
	struct store *s = NULL;
	struct store_revision *revs = NULL;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/fresh.db", f->dir);
	for (int k = 0; k < NPROC; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			struct store *cs = NULL;
			struct store_app a = {.name = "web", .phase = "Healthy"};
			char hash[16];
			int64_t num;
			bool created;
			snprintf(hash, sizeof(hash), "h%d", k);
			if (store_open(&cs, path, &err) < 0 || store_app_put(cs, &a, &err) < 0 ||
			    store_revision_add(cs, "web", hash, "{}", "1", "", NULL, &num, &created, &err) < 0) {
				fprintf(stderr, "child %d: %s\n", k, err.msg);
				store_close(cs);
				_exit(1);
			}
			store_close(cs);
			_exit(0);
		}
	}
	for (int k = 0; k < NPROC; k++) {
		int status = 0;
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	raw_text(path, "PRAGMA integrity_check", ok, sizeof(ok));
	assert_string_equal(ok, "ok");
	assert_int_equal(store_open(&s, path, &err), 0);
	assert_int_equal(store_revision_list(s, "web", &revs, &n, &err), 0);
	assert_int_equal(n, NPROC);
	store_revision_list_free(revs, n);
	store_close(s);
}

static void test_store__tokens_put_find_list_touch_delete(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_token t, *ts = NULL;
	size_t n = 0;
	const char *h1 = "1111111111111111111111111111111111111111111111111111111111111111";
	const char *h2 = "2222222222222222222222222222222222222222222222222222222222222222";

	struct store_token ci = {.name = "ci", .hash = (char *)h1, .role = "deployer"};
	struct store_token ro = {.name = "dash", .hash = (char *)h2, .role = "viewer",
				 .created_ms = 1000, .environments = "staging,dev", .approve = "prod"};
	assert_int_equal(store_token_put(f->s, &ci, &err), 0);
	assert_int_equal(store_token_put(f->s, &ro, &err), 0);

	/* names are unique; so are hashes */
	struct store_token dup = {.name = "ci", .hash = "33", .role = "admin"};
	assert_int_equal(store_token_put(f->s, &dup, &err), SW_EEXIST);
	assert_string_equal(err.msg, "token \"ci\" exists");
	struct store_token same = {.name = "other", .hash = (char *)h1, .role = "admin"};
	assert_int_equal(store_token_put(f->s, &same, &err), SW_EEXIST);

	assert_int_equal(store_token_get_by_hash(f->s, h1, &t, &err), 0);
	assert_string_equal(t.name, "ci");
	assert_string_equal(t.role, "deployer");
	assert_true(t.created_ms > 1000);
	assert_int_equal(t.last_used_ms, 0);
	store_token_release(&t);
	assert_int_equal(store_token_get_by_hash(f->s, "44", &t, &err), SW_ENOTFOUND);
	store_token_release(&t);
	/* by name too, with the environments it is scoped to ("" for all) */
	assert_int_equal(store_token_get(f->s, "dash", &t, &err), 0);
	assert_string_equal(t.environments, "staging,dev");
	assert_string_equal(t.approve, "prod");
	store_token_release(&t);
	assert_int_equal(store_token_get(f->s, "ci", &t, &err), 0);
	assert_string_equal(t.environments, "");
	assert_string_equal(t.approve, "");
	store_token_release(&t);
	assert_int_equal(store_token_get(f->s, "nobody", &t, &err), SW_ENOTFOUND);
	store_token_release(&t);

	assert_int_equal(store_token_touch(f->s, "ci", 12345, &err), 0);
	assert_int_equal(store_token_list(f->s, &ts, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ts[0].name, "ci");
	assert_int_equal(ts[0].last_used_ms, 12345);
	assert_string_equal(ts[0].hash, h1);
	assert_string_equal(ts[1].name, "dash");
	assert_string_equal(ts[1].role, "viewer");
	assert_int_equal(ts[1].created_ms, 1000);
	assert_int_equal(ts[1].last_used_ms, 0);
	store_token_list_free(ts, n);

	/* a revoked token is not found at once, and its name can be reused */
	assert_int_equal(store_token_delete(f->s, "ci", &err), 0);
	assert_int_equal(store_token_get_by_hash(f->s, h1, &t, &err), SW_ENOTFOUND);
	store_token_release(&t);
	struct sw_err err2 = {0};
	assert_int_equal(store_token_delete(f->s, "ci", &err2), SW_ENOTFOUND);
	assert_string_equal(err2.msg, "token \"ci\" not found");
	assert_int_equal(store_token_put(f->s, &ci, &err), 0);

	/* they survive a reopen */
	store_close(f->s);
	assert_int_equal(store_open(&f->s, f->path, &err), 0);
	assert_int_equal(store_token_list(f->s, &ts, &n, &err), 0);
	assert_int_equal(n, 2);
	store_token_list_free(ts, n);
}

static void test_store__database_file_is_private(void **state)
{
	struct fixture *f = *state;
	struct stat sb;
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	put_app(f->s, "hello"); /* the WAL file exists now */
	char wal[160];
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

struct page {
	int64_t ids[64];
	size_t n;
};

static void page_cb(const struct store_event *ev, void *data)
{
	struct page *p = data;
	if (p->n < 64)
		p->ids[p->n++] = ev->id;
}

static void mpage_cb(const struct store_measurement *m, void *data)
{
	struct page *p = data;
	assert_string_equal(m->reason, "fine");
	if (p->n < 64)
		p->ids[p->n++] = m->id;
}

/* Pages come newest first below the cursor; app and since filter. */
static void test_store__event_pages_newest_first_with_cursor(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	int64_t ids[10];
	for (int i = 0; i < 10; i++)
		assert_int_equal(store_event_add(f->s, i % 2 ? "odd" : "even", "Note", "m", "cli",
						 &ids[i], &err), 0);
	struct page p = {0};
	assert_int_equal(store_event_page(f->s, NULL, 0, 0, 4, page_cb, &p, &err), 4);
	assert_int_equal(p.ids[0], ids[9]);
	assert_int_equal(p.ids[3], ids[6]);
	int64_t cursor = p.ids[3];
	p.n = 0;
	assert_int_equal(store_event_page(f->s, NULL, cursor, 0, 4, page_cb, &p, &err), 4);
	assert_int_equal(p.ids[0], ids[5]);
	cursor = p.ids[3];
	assert_int_equal(cursor, ids[2]);
	p.n = 0;
	/* the last page: what is left below the cursor */
	assert_int_equal(store_event_page(f->s, NULL, cursor, 0, 4, page_cb, &p, &err), 2);
	assert_int_equal(p.ids[1], ids[0]);
	/* one app's only */
	p.n = 0;
	assert_int_equal(store_event_page(f->s, "odd", 0, 0, 100, page_cb, &p, &err), 5);
	for (size_t i = 0; i < p.n; i++)
		assert_int_equal(p.ids[i], ids[9 - 2 * i]);
	/* since: rows at or after a time only */
	raw_exec(f->path, "UPDATE events SET time_ms = id * 1000");
	p.n = 0;
	assert_int_equal(store_event_page(f->s, NULL, 0, ids[7] * 1000, 100, page_cb, &p, &err), 3);
	assert_int_equal(p.ids[2], ids[7]);
	p.n = 0;
	assert_int_equal(store_event_page(f->s, NULL, 0, (ids[9] + 1) * 1000, 100, page_cb, &p, &err), 0);
}

/* Measurements page newest first below a cursor, or forwards above it,
 * per app and per revision, on the indexes (not a scan of the table). */
static void test_store__measurement_pages_newest_first_and_forwards(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	int64_t id[12];
	for (int i = 0; i < 12; i++) {
		struct store_measurement m = {.app = i % 3 == 2 ? "other" : "web",
					      .revision = 1 + i % 2, .run = 1, .metric = "m",
					      .outcome = "Successful", .reason = "fine"};
		assert_int_equal(store_measurement_add(f->s, &m, &err), 0);
		id[i] = i + 1; /* a fresh table's ids */
	}
	/* web: 0 1 3 4 6 7 9 10 (revision 1: the even ones) */
	struct page p = {0};
	assert_int_equal(store_measurement_page(f->s, "web", 0, 0, false, 3, mpage_cb, &p, &err), 3);
	assert_int_equal(p.ids[0], id[10]);
	assert_int_equal(p.ids[2], id[7]);
	p.n = 0;
	assert_int_equal(store_measurement_page(f->s, "web", 0, id[7], false, 3, mpage_cb, &p, &err), 3);
	assert_int_equal(p.ids[0], id[6]);
	assert_int_equal(p.ids[2], id[3]);
	p.n = 0;
	assert_int_equal(store_measurement_page(f->s, "web", 0, id[3], false, 3, mpage_cb, &p, &err), 2);
	assert_int_equal(p.ids[1], id[0]);
	/* one revision */
	p.n = 0;
	assert_int_equal(store_measurement_page(f->s, "web", 1, 0, false, 0, mpage_cb, &p, &err), 4);
	assert_int_equal(p.ids[0], id[10]);
	assert_int_equal(p.ids[3], id[0]);
	/* forwards, oldest first */
	p.n = 0;
	assert_int_equal(store_measurement_page(f->s, "web", 0, id[1], true, 2, mpage_cb, &p, &err), 2);
	assert_int_equal(p.ids[0], id[3]);
	assert_int_equal(p.ids[1], id[4]);
	p.n = 0;
	assert_int_equal(store_measurement_page(f->s, "web", 2, 0, true, 0, mpage_cb, &p, &err), 4);
	assert_int_equal(p.ids[0], id[1]);
	assert_int_equal(p.ids[3], id[9]);
	/* the planner uses an index for both orders */
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "EXPLAIN QUERY PLAN SELECT id FROM measurements WHERE app = 'web'"
					    " AND id < 99 ORDER BY id DESC LIMIT 3", -1, &st, NULL),
			 SQLITE_OK);
	bool indexed = false, sorted = false;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 3);
		indexed |= strstr(d, "measurements_by_app_id") != NULL;
		sorted |= strstr(d, "TEMP B-TREE") != NULL;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_true(indexed);
	assert_false(sorted);
}

/* A listing's revisions come newest first, a page at a time, without
 * their specs. */
static void test_store__revision_pages_without_specs(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_revision *revs = NULL;
	size_t n = 0;
	int64_t number;
	bool created;
	char hash[16];
	put_app(f->s, "web");
	for (int i = 1; i <= 5; i++) {
		snprintf(hash, sizeof(hash), "h%d", i);
		assert_int_equal(store_revision_add(f->s, "web", hash, "{\"big\":1}", "v", "f", NULL,
						    &number, &created, &err), 0);
	}
	assert_int_equal(store_revision_page(f->s, "web", 0, 2, &revs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(revs[0].number, 5);
	assert_int_equal(revs[1].number, 4);
	assert_string_equal(revs[0].spec_json, "");
	assert_string_equal(revs[0].hash, "h5");
	store_revision_list_free(revs, n);
	assert_int_equal(store_revision_page(f->s, "web", 2, 10, &revs, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(revs[0].number, 1);
	store_revision_list_free(revs, n);
}

static bool keep_three(const char *app, int64_t number, void *data)
{
	(void)data;
	return strcmp(app, "web") == 0 && number == 3;
}

/* Retention: counts and ages per kind, a batch at a time, protected and
 * newest revisions kept. */
static void test_store__retention_trims_in_batches_and_keeps_protected(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	int64_t n, number;
	bool created, more;
	size_t deleted;
	char hash[16], spec[16];

	for (int i = 0; i < 25; i++)
		assert_int_equal(store_event_add(f->s, "web", "Note", "m", "cli", NULL, &err), 0);
	put_app(f->s, "web");
	for (int i = 1; i <= 8; i++) {
		snprintf(hash, sizeof(hash), "h%d", i);
		snprintf(spec, sizeof(spec), "{\"v\":%d}", i);
		assert_int_equal(store_revision_add(f->s, "web", hash, spec, "v", "f", NULL, &number,
						    &created, &err), 0);
	}
	struct store_retention r = {.events = {0, 10}, .revisions = {0, 2},
				    .keep_revision = keep_three};
	/* batch 4: 15 events to go take four steps */
	int steps = 0;
	do {
		assert_int_equal(store_retention_step(f->s, &r, sw_wall_ms(), 4, &deleted, &more, &err), 0);
		steps++;
	} while (more && steps < 20);
	assert_int_equal(steps, 4);
	assert_int_equal(store_count(f->s, "events", &n, &err), 0);
	assert_int_equal(n, 10);
	/* the newest 10 are the ones left */
	struct page p = {0};
	assert_int_equal(store_event_page(f->s, NULL, 0, 0, 0, page_cb, &p, &err), 10);
	assert_int_equal(p.ids[9], 16);
	/* revisions: 8 and 7 by count, 3 protected */
	struct store_revision *revs = NULL;
	size_t nr = 0;
	assert_int_equal(store_revision_list(f->s, "web", &revs, &nr, &err), 0);
	assert_int_equal(nr, 3);
	assert_int_equal(revs[0].number, 3);
	assert_int_equal(revs[1].number, 7);
	assert_int_equal(revs[2].number, 8);
	store_revision_list_free(revs, nr);
	/* numbers are not reused after trimming */
	assert_int_equal(store_revision_add(f->s, "web", "h9", "{\"v\":9}", "v", "f", NULL, &number,
					    &created, &err), 0);
	assert_int_equal(number, 9);

	/* by age: everything older than an hour goes, except the newest revision */
	raw_exec(f->path, "UPDATE events SET time_ms = 1; UPDATE revisions SET created_ms = 1;");
	struct store_retention old = {.events = {3600000, 0}, .revisions = {3600000, 0}};
	assert_int_equal(store_retention_step(f->s, &old, sw_wall_ms(), 100, &deleted, &more, &err), 0);
	assert_false(more);
	assert_int_equal(store_count(f->s, "events", &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_count(f->s, "revisions", &n, &err), 0);
	assert_int_equal(n, 1);
	/* measurements: by count, then by age */
	for (int i = 0; i < 7; i++) {
		struct store_measurement m = {.app = "web", .revision = 9, .run = 1, .metric = "m",
					      .outcome = "Successful", .time_ms = 1000 + i};
		assert_int_equal(store_measurement_add(f->s, &m, &err), 0);
	}
	struct store_retention meas = {.measurements = {0, 5}};
	assert_int_equal(store_retention_step(f->s, &meas, sw_wall_ms(), 100, &deleted, &more, &err), 0);
	assert_int_equal(deleted, 2);
	struct store_measurement *ms = NULL;
	size_t nm = 0;
	assert_int_equal(store_measurement_list(f->s, "web", 0, 0, &ms, &nm, &err), 0);
	assert_int_equal(nm, 5);
	assert_int_equal(ms[0].time_ms, 1002); /* the oldest two went */
	store_measurement_list_free(ms, nm);
	/* at time 2005, an age limit of 1000 ms keeps times 1005 and 1006 */
	meas = (struct store_retention){.measurements = {1000, 0}};
	assert_int_equal(store_retention_step(f->s, &meas, 2005, 100, &deleted, &more, &err), 0);
	assert_int_equal(deleted, 3);
	assert_int_equal(store_count(f->s, "measurements", &n, &err), 0);
	assert_int_equal(n, 2);
	/* no limits: nothing happens */
	struct store_retention none = {0};
	assert_int_equal(store_retention_step(f->s, &none, sw_wall_ms(), 100, &deleted, &more, &err), 0);
	assert_int_equal(deleted, 0);
}

static void upper(const char *spec_json, char out[65], void *data)
{
	(void)data;
	snprintf(out, 65, "k:%s", spec_json);
}

/* Hook jobs in flight: upserted per attempt, listed per app, gone with
 * the job or with the app. */
static void test_store__jobs_put_list_delete(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_job *list = NULL;
	size_t n = 0;
	struct store_app app = {.name = "web", .desired_revision = 2, .phase = "Progressing"};
	struct store_job a = {.id = "web-r2-predeploy-migrate", .app = "web", .run = 7,
			      .attempt = 1, .handle = "100 5", .attempt_ms = 1000,
			      .started_ms = 1000};
	struct store_job b = {.id = "api-r1-predeploy-seed", .app = "api", .run = 1,
			      .attempt = 1, .handle = "", .attempt_ms = 10, .started_ms = 10};

	assert_int_equal(store_app_put(f->s, &app, &err), 0);
	assert_int_equal(store_job_put(f->s, &a, &err), 0);
	assert_int_equal(store_job_put(f->s, &b, &err), 0);
	/* the next attempt replaces the row */
	a.attempt = 2;
	a.handle = "200 9";
	a.attempt_ms = 3000;
	assert_int_equal(store_job_put(f->s, &a, &err), 0);
	assert_int_equal(store_job_list(f->s, "web", &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "web-r2-predeploy-migrate");
	assert_int_equal(list[0].run, 7);
	assert_int_equal(list[0].attempt, 2);
	assert_string_equal(list[0].handle, "200 9");
	assert_int_equal(list[0].attempt_ms, 3000);
	assert_int_equal(list[0].started_ms, 1000);
	store_job_list_free(list, n);

	assert_int_equal(store_app_delete(f->s, "web", &err), 0);
	assert_int_equal(store_job_list(f->s, "web", &list, &n, &err), 0);
	assert_int_equal(n, 0);
	store_job_list_free(list, n);
	assert_int_equal(store_job_delete(f->s, "api-r1-predeploy-seed", &err), 0);
	assert_int_equal(store_job_list(f->s, "api", &list, &n, &err), 0);
	assert_int_equal(n, 0);
	store_job_list_free(list, n);
}

static void test_store__meta_and_rehash(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	char *v = NULL;
	int64_t number;
	bool created;
	assert_int_equal(store_meta_get(f->s, "x", &v, &err), SW_ENOTFOUND);
	assert_int_equal(store_meta_put(f->s, "x", "1", &err), 0);
	assert_int_equal(store_meta_put(f->s, "x", "2", &err), 0);
	assert_int_equal(store_meta_get(f->s, "x", &v, &err), 0);
	assert_string_equal(v, "2");
	free(v);
	put_app(f->s, "web");
	assert_int_equal(store_revision_add(f->s, "web", "plain", "{\"a\":1}", "v", "f", NULL, &number,
					    &created, &err), 0);
	assert_int_equal(store_revision_rehash(f->s, upper, NULL, &err), 0);
	struct store_revision rev;
	assert_int_equal(store_revision_get(f->s, "web", number, &rev, &err), 0);
	assert_string_equal(rev.hash, "k:{\"a\":1}");
	store_revision_release(&rev);
	/* the same content under the new hash is still "the same" */
	assert_int_equal(store_revision_add(f->s, "web", "k:{\"a\":1}", "{\"a\":1}", "v", "f", NULL, &number,
					    &created, &err), 0);
	assert_false(created);
}

/* Objects keep their document, owner and the module's status; a put
 * keeps the status, a delete forgets the row. */
static void test_store__objects_put_status_list_delete(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_object o = {.kind = "Source", .name = "shop", .spec_json = "{\"a\":1}",
				 .source = "s.yaml", .owner = ""};
	assert_int_equal(store_object_put(f->s, &o, &err), 0);
	assert_int_equal(store_object_status(f->s, "Source", "shop", "{\"commit\":1}", &err), 0);
	o.spec_json = "{\"a\":2}";
	assert_int_equal(store_object_put(f->s, &o, &err), 0);
	struct store_object got = {0};
	assert_int_equal(store_object_get(f->s, "Source", "shop", &got, &err), 0);
	assert_string_equal(got.spec_json, "{\"a\":2}");
	assert_string_equal(got.status, "{\"commit\":1}");
	store_object_release(&got);
	struct store_object *list = NULL;
	size_t n = 0;
	assert_int_equal(store_object_list(f->s, "Source", &list, &n, &err), 0);
	assert_int_equal(n, 1);
	store_object_list_free(list, n);
	assert_int_equal(store_object_list(f->s, "Pipeline", &list, &n, &err), 0);
	assert_int_equal(n, 0);
	store_object_list_free(list, n);
	assert_int_equal(store_object_delete(f->s, "Source", "shop", &err), 0);
	struct sw_err nf = {0};
	assert_int_equal(store_object_get(f->s, "Source", "shop", &got, &nf), SW_ENOTFOUND);
}

/* Templates keep their document, owner and origin; a put replaces all
 * three (a hand apply leaves no origin), a delete says when there was
 * nothing to delete. */
static void test_store__templates_put_get_list_delete_with_owner(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_template t = {.name = "golden", .hash = "h1", .spec_json = "{\"a\":1}",
				   .source = "deploy/golden.yaml", .owner = "shop",
				   .origin = "{\"commit\":\"1a2b\"}"};
	assert_int_equal(store_template_put(f->s, &t, &err), 0);
	struct store_template got = {0};
	assert_int_equal(store_template_get(f->s, "golden", &got, &err), 0);
	assert_string_equal(got.spec_json, "{\"a\":1}");
	assert_string_equal(got.hash, "h1");
	assert_string_equal(got.source, "deploy/golden.yaml");
	assert_string_equal(got.owner, "shop");
	assert_string_equal(got.origin, "{\"commit\":\"1a2b\"}");
	assert_true(got.updated_ms > 0);
	store_template_release(&got);
	/* changed by hand: still owned, no origin */
	t.spec_json = "{\"a\":2}";
	t.source = "hand.yaml";
	t.origin = NULL;
	assert_int_equal(store_template_put(f->s, &t, &err), 0);
	t.name = "latency";
	t.owner = NULL;
	assert_int_equal(store_template_put(f->s, &t, &err), 0);
	struct store_template *list = NULL;
	size_t n = 0;
	assert_int_equal(store_template_list(f->s, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "golden");
	assert_string_equal(list[0].spec_json, "{\"a\":2}");
	assert_string_equal(list[0].owner, "shop");
	assert_string_equal(list[0].origin, "");
	assert_string_equal(list[1].name, "latency");
	assert_string_equal(list[1].owner, "");
	store_template_list_free(list, n);
	assert_int_equal(store_template_delete(f->s, "golden", &err), 0);
	struct sw_err nf = {0};
	assert_int_equal(store_template_get(f->s, "golden", &got, &nf), SW_ENOTFOUND);
	assert_string_equal(nf.msg, "AnalysisTemplate \"golden\" not found (apply it first)");
	sw_err_clear(&nf);
	assert_int_equal(store_template_delete(f->s, "golden", &nf), SW_ENOTFOUND);
	assert_string_equal(nf.msg, "AnalysisTemplate \"golden\" not found");
}

/* A store from before templates had owners: its templates read back
 * with none, and can be owned from then on. */
static void test_store__migration_gives_templates_no_owner(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	char v[16];

	/* back to version 9, with a template as a version 9 daemon wrote it */
	reopen_from(f, "ALTER TABLE templates DROP COLUMN owner;"
		       "ALTER TABLE templates DROP COLUMN origin;"
		       "ALTER TABLE tokens DROP COLUMN environments;"
		       "ALTER TABLE tokens DROP COLUMN approve;"
		       "DROP TABLE promotions;"
		       "INSERT INTO templates (name, hash, spec_json, source, updated_ms)"
		       " VALUES ('golden', 'h', '{}', 'golden.yaml', 5);"
		       "PRAGMA user_version = 9;");
	raw_text(f->path, "SELECT count(*) FROM pragma_table_info('templates')"
			  " WHERE name IN ('owner', 'origin')", v, sizeof(v));
	assert_string_equal(v, "2");
	struct store_template got = {0};
	assert_int_equal(store_template_get(f->s, "golden", &got, &err), 0);
	assert_string_equal(got.owner, "");
	assert_string_equal(got.origin, "");
	assert_string_equal(got.source, "golden.yaml");
	assert_int_equal(got.updated_ms, 5);
	store_template_release(&got);
}

/* Migration 11: tokens of an older database may use every environment. */
static void test_store__migration_scopes_old_tokens_to_none(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	reopen_from(f, "ALTER TABLE tokens DROP COLUMN environments;"
		       "ALTER TABLE tokens DROP COLUMN approve;"
		       "DROP TABLE promotions;"
		       "INSERT INTO tokens (name, hash, role, created_ms) VALUES ('ci', 'h', 'deployer', 1);"
		       "PRAGMA user_version = 10;");
	struct store_token t = {0};
	assert_int_equal(store_token_get(f->s, "ci", &t, &err), 0);
	assert_string_equal(t.environments, "");
	assert_string_equal(t.approve, "");
	assert_string_equal(t.role, "deployer");
	store_token_release(&t);
}

/* Promotions: rows by id, the newest of each target, pages newest first,
 * and a target keeps its newest STORE_PROMOTIONS_KEPT. */
static void test_store__promotions_add_put_latest_page_trim(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_promotion *ps = NULL, got;
	size_t n = 0;
	int64_t id = 0, first = 0, hello = 0;
	char release[16];
	for (int i = 0; i < STORE_PROMOTIONS_KEPT + 5; i++) {
		snprintf(release, sizeof(release), "1.%d.0", i);
		struct store_promotion p = {.target = "prod/hello", .upstream = "staging/hello",
					    .release = release, .phase = "Pending", .state = "{}"};
		assert_int_equal(store_promotion_add(f->s, &p, &id, &err), 0);
		if (!first)
			first = id;
	}
	hello = id;
	struct store_promotion w = {.target = "prod/web", .upstream = "staging/web", .release = "3.0.0",
				    .phase = "Pending", .state = "{}", .created_ms = 7};
	assert_int_equal(store_promotion_add(f->s, &w, &id, &err), 0);
	struct store_promotion upd = {.id = hello, .phase = "Promoted", .state = "{\"x\":1}"};
	assert_int_equal(store_promotion_put(f->s, &upd, &err), 0);
	upd.id = 999999;
	assert_int_equal(store_promotion_put(f->s, &upd, &err), SW_ENOTFOUND);

	assert_int_equal(store_promotion_latest(f->s, &ps, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ps[0].target, "prod/hello");
	assert_int_equal(ps[0].id, hello);
	assert_string_equal(ps[0].phase, "Promoted");
	assert_string_equal(ps[0].state, "{\"x\":1}");
	assert_string_equal(ps[1].target, "prod/web");
	assert_int_equal(ps[1].created_ms, 7);
	store_promotion_list_free(ps, n);

	assert_int_equal(store_promotion_page(f->s, "prod/hello", 0, 3, &ps, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ps[0].id, hello);
	assert_string_equal(ps[2].release, "1.52.0");
	int64_t before = ps[2].id;
	store_promotion_list_free(ps, n);
	assert_int_equal(store_promotion_page(f->s, "prod/hello", before, 0, &ps, &n, &err), 0);
	assert_int_equal(n, STORE_PROMOTIONS_KEPT - 3);
	store_promotion_list_free(ps, n);
	/* the oldest went */
	assert_int_equal(store_promotion_get(f->s, first, &got, &err), SW_ENOTFOUND);
	assert_int_equal(store_promotion_get(f->s, hello, &got, &err), 0);
	assert_string_equal(got.upstream, "staging/hello");
	store_promotion_release(&got);
}

static void test_store__pipeline_runs_and_open_runs_failed(void **state)
{
	struct fixture *f = *state;
	struct sw_err err = {0};
	struct store_pipeline_run r = {.pipeline = "ci", .source = "shop", .sha = "abc", .ref = "refs/heads/main",
				       .trigger = "push", .actor = "source/shop", .state = "running",
				       .spec_json = "{}"};
	int64_t a = 0, b = 0;
	assert_int_equal(store_pipeline_run_add(f->s, &r, &a, &err), 0);
	r.state = "success";
	assert_int_equal(store_pipeline_run_add(f->s, &r, &b, &err), 0);
	assert_true(b > a);
	struct store_pipeline_job j = {.run = a, .idx = 0, .name = "build (gcc)", .slug = "build-gcc",
				       .state = "running", .steps_json = "[{\"name\":\"cc\",\"state\":\"running\"}]"};
	assert_int_equal(store_pipeline_job_put(f->s, &j, &err), 0);
	j.idx = 1;
	j.state = "pending";
	j.steps_json = "[]";
	assert_int_equal(store_pipeline_job_put(f->s, &j, &err), 0);

	struct store_pipeline_run *rs = NULL;
	size_t n = 0;
	assert_int_equal(store_pipeline_run_list(f->s, "ci", 10, &rs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rs[0].id, b); /* newest first */
	store_pipeline_run_list_free(rs, n);
	assert_int_equal(store_pipeline_run_list(f->s, "other", 10, &rs, &n, &err), 0);
	assert_int_equal(n, 0);
	store_pipeline_run_list_free(rs, n);

	int64_t *ids = NULL;
	assert_int_equal(store_pipeline_run_fail_open(f->s, "the daemon stopped", 99, &ids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], a);
	free(ids);
	struct store_pipeline_run got;
	assert_int_equal(store_pipeline_run_get(f->s, a, &got, &err), 0);
	assert_string_equal(got.state, "failure");
	assert_string_equal(got.reason, "the daemon stopped");
	assert_int_equal(got.finished_ms, 99);
	store_pipeline_run_release(&got);
	struct store_pipeline_job *js = NULL;
	assert_int_equal(store_pipeline_job_list(f->s, a, &js, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(js[0].state, "failure");
	assert_string_equal(js[0].steps_json, "[{\"name\":\"cc\",\"state\":\"failure\"}]");
	assert_string_equal(js[1].state, "cancelled");
	assert_string_equal(js[1].reason, "the daemon stopped");
	store_pipeline_job_list_free(js, n);
	assert_int_equal(store_pipeline_run_get(f->s, 12345, &got, &err), SW_ENOTFOUND);
	assert_string_equal(err.msg, "pipeline run 12345 not found");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store__open_migrates_and_reopens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__promotions_add_put_latest_page_trim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__migration_backfills_instance_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__newer_schema_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__garbage_file_is_an_error_not_a_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__app_put_get_list_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__revisions_dedupe_by_hash_and_number_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__instances_put_list_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__next_seq_counts_per_app, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__events_order_after_limit_and_app, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__app_delete_keeps_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__rollback_really_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__two_handles_see_each_others_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__concurrent_processes_number_uniquely, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__concurrent_first_open_migrates_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__tokens_put_find_list_touch_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__database_file_is_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__event_pages_newest_first_with_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__retention_trims_in_batches_and_keeps_protected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__meta_and_rehash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__measurement_pages_newest_first_and_forwards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__revision_pages_without_specs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__jobs_put_list_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__objects_put_status_list_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__templates_put_get_list_delete_with_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__migration_gives_templates_no_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__migration_scopes_old_tokens_to_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__pipeline_runs_and_open_runs_failed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
