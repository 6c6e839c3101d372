/*
 * dbapp: a small database-backed HTTP app for the hooks and migrations
 * end-to-end test (tests/e2e/hooks.bats, docs/hooks.md). Every request to
 * / writes one row to PostgreSQL and reads it back, so a schema the
 * running version cannot use shows up as failed requests.
 *
 *	dbapp --port PORT
 *
 * Connection: libpq's PG* environment (PGHOST, PGPORT, PGUSER,
 * PGDATABASE). One thread and one connection per client connection.
 *
 * DBAPP_SCHEMA picks what the version knows of table items:
 *	v1   writes and reads `name`
 *	v2   dual-writes `name` and `title`, reads `title`; once `name` is
 *	     gone (a contract migration ran) it writes `title` alone
 *	v3   writes and reads `title` only
 * DBAPP_FAIL=1 answers 500 to every request to / (a bad build).
 *
 *	GET /         200 "ok SCHEMA ROW-ID" or 500 with the database's error
 *	GET /healthz  200 when the database answers, else 503
 *	GET /version  SLIPWAY_VERSION
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>

static const char *schema = "v1";
static const char *version = "";
static int fail_all;

/* PostgreSQL's SQLSTATE for "column does not exist" */
#define UNDEFINED_COLUMN "42703"

static PGresult *exec1(PGconn *db, const char *sql, const char *arg)
{
	const char *params[1] = {arg};
	return PQexecParams(db, sql, arg ? 1 : 0, NULL, arg ? params : NULL, NULL, NULL, 0);
}

static bool ok_result(PGresult *r)
{
	ExecStatusType s = PQresultStatus(r);
	return s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK;
}

static bool undefined_column(PGresult *r)
{
	const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	return st && strcmp(st, UNDEFINED_COLUMN) == 0;
}

/* One write and its read-back. Returns 0 with the row's text in out, or
 * -1 with the error. */
static int write_read(PGconn *db, char *out, size_t size)
{
	PGresult *r = NULL;
	const char *value = version;
	if (strcmp(schema, "v1") == 0) {
		r = exec1(db, "INSERT INTO items (name) VALUES ($1) RETURNING id, name", value);
	} else if (strcmp(schema, "v2") == 0) {
		r = exec1(db, "INSERT INTO items (name, title) VALUES ($1, $1) RETURNING id, title", value);
		if (!ok_result(r) && undefined_column(r)) {
			PQclear(r);
			r = exec1(db, "INSERT INTO items (title) VALUES ($1) RETURNING id, title", value);
		}
	} else {
		r = exec1(db, "INSERT INTO items (title) VALUES ($1) RETURNING id, title", value);
	}
	int rc = -1;
	if (ok_result(r) && PQntuples(r) == 1) {
		snprintf(out, size, "ok %s %s %s\n", schema, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
		rc = 0;
	} else {
		snprintf(out, size, "%s", PQerrorMessage(db));
	}
	PQclear(r);
	return rc;
}

static PGconn *connect_db(void)
{
	PGconn *db = PQconnectdb("");
	if (PQstatus(db) != CONNECTION_OK) {
		PQfinish(db);
		return NULL;
	}
	return db;
}

static void respond(int fd, int code, const char *body)
{
	char head[256];
	const char *text = code == 200 ? "OK" : code == 404 ? "Not Found" : code == 503
		? "Service Unavailable" : "Internal Server Error";
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
			 code, text, strlen(body));
	if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
		return;
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	PGconn *db = NULL;
	char buf[8192], body[1024];
	size_t len = 0;
	for (;;) {
		char *end = memmem(buf, len, "\r\n\r\n", 4);
		if (!end) {
			if (len == sizeof(buf))
				break;
			ssize_t k = read(fd, buf + len, sizeof(buf) - len);
			if (k <= 0)
				break;
			len += (size_t)k;
			continue;
		}
		size_t used = (size_t)(end + 4 - buf);
		char path[256] = "";
		if (sscanf(buf, "%*s %255s", path) != 1)
			break;
		if (!db || PQstatus(db) != CONNECTION_OK) {
			PQfinish(db);
			db = connect_db();
		}
		if (strcmp(path, "/healthz") == 0) {
			PGresult *r = db ? PQexec(db, "SELECT 1") : NULL;
			respond(fd, r && ok_result(r) ? 200 : 503, r && ok_result(r) ? "ok\n" : "no database\n");
			PQclear(r);
		} else if (strcmp(path, "/version") == 0) {
			snprintf(body, sizeof(body), "%s\n", version);
			respond(fd, 200, body);
		} else if (fail_all) {
			respond(fd, 500, "this build is broken (DBAPP_FAIL=1)\n");
		} else if (!db) {
			respond(fd, 500, "cannot connect to the database\n");
		} else if (write_read(db, body, sizeof(body)) == 0) {
			respond(fd, 200, body);
		} else {
			respond(fd, 500, body);
		}
		memmove(buf, buf + used, len - used);
		len -= used;
	}
	PQfinish(db);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	int port = 0;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "usage: dbapp --port PORT\n");
		return 2;
	}
	if (getenv("DBAPP_SCHEMA"))
		schema = getenv("DBAPP_SCHEMA");
	if (getenv("SLIPWAY_VERSION"))
		version = getenv("SLIPWAY_VERSION");
	fail_all = getenv("DBAPP_FAIL") && strcmp(getenv("DBAPP_FAIL"), "1") == 0;
	signal(SIGPIPE, SIG_IGN);

	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 128) < 0) {
		fprintf(stderr, "dbapp: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
		return 1;
	}
	fprintf(stderr, "dbapp %s (schema %s) listening on 127.0.0.1:%d\n", version, schema, port);
	for (;;) {
		int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, serve, (void *)(intptr_t)fd) != 0)
			close(fd);
		pthread_attr_destroy(&at);
	}
}
