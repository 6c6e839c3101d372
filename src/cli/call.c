/* The CLI's side of the API: one call, polling a rollout, JSON helpers. */
#include "cli_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/core.h"

const struct sw_opt cli_json_options[] = {CLI_OPT_JSON(struct cli_json_opts), {0}};

/* Whether the query of path has the parameter `name`. */
static bool has_param(const char *path, const char *name)
{
	const char *q = strchr(path, '?');
	size_t n = strlen(name);
	for (const char *p = q; p && *p; p = strchr(p + 1, '&'))
		if (strncmp(p + 1, name, n) == 0 && p[1 + n] == '=')
			return true;
	return false;
}

int cli_call(struct cli *c, const char *method, const char *path, json_t *body, json_t **out)
{
	struct buf resp = BUF_INIT, full = BUF_INIT;
	struct sw_err err = {0};
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int status = 0, r = 1;
	if (out)
		*out = NULL;
	buf_adds(&full, path);
	if (c->environment && !has_param(path, "environment"))
		cli_pathf(&full, strchr(path, '?') ? "&environment=%s" : "?environment=%s",
			  c->environment);
	if (http_client_request(&c->client, method, full.s, text, text ? strlen(text) : 0, &status,
			       &resp, &err) < 0) {
		fprintf(stderr, "slipway: %s\n", err.msg);
		goto out;
	}
	json_t *j = json_loadb(resp.s ? resp.s : "", resp.len, 0, NULL);
	if (status < 200 || status > 299) {
		/* messages quote what was sent: shown escaped, lines kept */
		struct buf msg = BUF_INIT;
		if (json_is_string(json_object_get(j, "error")))
			buf_adds(&msg, cli_jtext(j, "error"));
		else if (resp.len)
			cli_escape(&msg, resp.s, resp.len, true);
		fprintf(stderr, "slipway: %s\n", msg.len ? msg.s : "request failed");
		buf_release(&msg);
		json_decref(j);
		goto out;
	}
	if (!j) {
		fprintf(stderr, "slipway: the daemon sent a response that is not JSON\n");
		goto out;
	}
	if (out)
		*out = j;
	else
		json_decref(j);
	r = 0;
out:
	free(text);
	buf_release(&resp);
	buf_release(&full);
	return r;
}

const char *cli_app_label(json_t *o, const char *name_field, char *out, size_t size)
{
	const char *env = json_string_value(json_object_get(o, "environment"));
	const char *name = cli_jstr(o, name_field);
	if (env && *env && strcmp(env, "default") != 0)
		snprintf(out, size, "%s/%s", cli_jstr(o, "environment"), name);
	else
		snprintf(out, size, "%s", name);
	return out;
}

void cli_pathf(struct buf *out, const char *fmt, ...)
{
	static const char hex[] = "0123456789ABCDEF";
	va_list ap;
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			buf_addc(out, *f);
		} else if (f[1] == 's') {
			for (const unsigned char *v = va_arg(ap, const unsigned char *); *v; v++) {
				if (isalnum(*v) || strchr("-._~", *v)) {
					buf_addc(out, (char)*v);
				} else {
					buf_addc(out, '%');
					buf_addc(out, hex[*v >> 4]);
					buf_addc(out, hex[*v & 15]);
				}
			}
			f++;
		} else if (strncmp(f, "%lld", 4) == 0) {
			buf_addf(out, "%lld", va_arg(ap, long long));
			f += 3;
		} else if (f[1] == 'd') {
			buf_addf(out, "%d", va_arg(ap, int));
			f++;
		} else {
			SW_ASSERT(f[1] == '%');
			buf_addc(out, '%');
			f++;
		}
	}
	va_end(ap);
}

/* path, then '?' or '&' as the next query parameter needs */
static void page_path(struct buf *out, const char *path)
{
	buf_reset(out);
	buf_adds(out, path);
	buf_addc(out, strchr(path, '?') ? '&' : '?');
}

int cli_page_newest(struct cli *c, const char *path, const char *key, long long limit,
		    json_t **out)
{
	struct buf p = BUF_INIT;
	json_t *all = json_array();
	char *cursor = NULL;
	int r = 0;
	*out = NULL;
	for (;;) {
		json_t *j = NULL;
		long long left = limit ? limit - (long long)json_array_size(all) : 1000;
		page_path(&p, path);
		buf_addf(&p, "limit=%lld", left < 1000 ? left : 1000);
		if (cursor)
			cli_pathf(&p, "&before=%s", cursor);
		r = cli_call(c, "GET", p.s, NULL, &j);
		if (r)
			break;
		json_array_extend(all, json_object_get(j, key));
		const char *next = json_string_value(json_object_get(j, "next"));
		free(cursor);
		cursor = next ? xstrdup(next) : NULL;
		json_decref(j);
		if (!cursor || (limit && (long long)json_array_size(all) >= limit))
			break;
	}
	free(cursor);
	buf_release(&p);
	if (r) {
		json_decref(all);
		return r;
	}
	/* oldest first, the way a log reads */
	json_t *rev = json_array();
	for (size_t i = json_array_size(all); i-- > 0;)
		json_array_append(rev, json_array_get(all, i));
	json_decref(all);
	*out = rev;
	return 0;
}

int cli_page_forward(struct cli *c, const char *path, const char *key, int64_t *after,
		     void (*cb)(json_t *rows, void *data), void *data)
{
	struct buf p = BUF_INIT;
	int r = 0;
	for (;;) {
		json_t *j = NULL;
		page_path(&p, path);
		buf_addf(&p, "limit=1000&after=%lld", (long long)*after);
		r = cli_call(c, "GET", p.s, NULL, &j);
		if (r)
			break;
		json_t *rows = json_object_get(j, key);
		if (json_array_size(rows)) {
			*after = cli_jint(json_array_get(rows, json_array_size(rows) - 1), "id");
			cb(rows, data);
		}
		bool more = json_is_string(json_object_get(j, "next"));
		json_decref(j);
		if (!more)
			break;
	}
	buf_release(&p);
	return r;
}

/* "stable 1 (1.0.0) 2/2, canary 2 (2.0.0) 1/2 ready": each side's own
 * ready instances out of those wanted of it, as `get apps` shows them
 * (the total over both sides would read 3/2 mid-rollout). */
static void sides_text(char *out, size_t size, json_t *app)
{
	static const char *const names[] = {"stable", "canary"};
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < 2; i++) {
		json_t *side = json_object_get(app, names[i]);
		if (!json_is_object(side))
			continue;
		int w = snprintf(out + n, size - n, "%s%s %lld (%s) %lld/%lld", n ? ", " : "",
				 names[i], cli_jint(side, "revision"), cli_jstr(side, "version"),
				 cli_jint(side, "ready"), cli_jint(side, "desired"));
		if (w < 0 || (size_t)w >= size - n)
			return;
		n += (size_t)w;
	}
	if (!n)
		snprintf(out, size, "%lld/%lld", cli_jint(app, "ready"), cli_jint(app, "replicas"));
}

bool cli_app_done(json_t *app, bool *failed)
{
	const char *phase = cli_jstr(app, "phase");
	*failed = strcmp(phase, "Degraded") == 0 || strcmp(phase, "Frozen") == 0;
	if (*failed)
		return true;
	/* Healthy is done once the data plane serves it (routed: null for an
	 * app without a route), failed when the data plane refused its routes */
	if (strcmp(phase, "Healthy") != 0)
		return false;
	if (json_is_string(json_object_get(app, "routedError")))
		return *failed = true;
	return !json_is_false(json_object_get(app, "routed"));
}

/* The abort's reason when the app's history marks `revision` failed, with
 * where the app is now; false while it is not (or the history is out of
 * reach: the wait goes on). */
static bool revision_aborted(struct cli *c, json_t *app, int64_t revision, char *msg, size_t size)
{
	struct buf path = BUF_INIT;
	json_t *h = NULL;
	bool aborted = false;
	cli_pathf(&path, "/v1/apps/%s/history?limit=100", cli_jstr(app, "name"));
	if (cli_call(c, "GET", path.s, NULL, &h) == 0) {
		size_t i;
		json_t *r;
		json_array_foreach(json_object_get(h, "revisions"), i, r)
			if (cli_jint(r, "revision") == revision && json_is_true(json_object_get(r, "failed"))) {
				snprintf(msg, size, "%s (the app is at revision %lld now)",
					 cli_jstr(r, "failedReason"), cli_jint(app, "revision"));
				aborted = true;
			}
	}
	json_decref(h);
	buf_release(&path);
	return aborted;
}

int cli_rollout_end(struct cli *c, json_t *app, int64_t revision, char *msg, size_t size)
{
	bool failed, at_rev = revision == 0 || cli_jint(app, "revision") == revision;
	bool done = cli_app_done(app, &failed);
	msg[0] = '\0';
	if (!at_rev)
		return revision_aborted(c, app, revision, msg, size) ? 1 : -1;
	if (done)
		return failed ? 1 : 0;
	if (strcmp(cli_jstr(app, "phase"), "Paused") == 0) {
		const char *cmd = strcmp(cli_jstr(app, "waitingFor"), "resume") == 0 ? "resume"
										    : "promote";
		snprintf(msg, size, "Paused: waiting for \"slipway rollout %s %s\"", cmd,
			 cli_jstr(app, "name"));
		return CLI_EXIT_PAUSED;
	}
	return -1;
}

/* The line with each duration ("4s", "1m30s", "250ms") taken out: two
 * lines that differ in a countdown only have the same key. */
static void mask_durations(const char *in, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = in; *p && n + 2 < size;) {
		if (!isdigit((unsigned char)*p)) {
			out[n++] = *p++;
			continue;
		}
		const char *q = p;
		bool unit = false;
		for (;;) {
			while (isdigit((unsigned char)*q) || *q == '.')
				q++;
			if (!strchr("hms", *q) || !*q)
				break;
			while (*q && strchr("hms", *q))
				q++;
			unit = true;
			if (!isdigit((unsigned char)*q))
				break;
		}
		if (unit && !isalpha((unsigned char)*q)) {
			out[n++] = '#';
		} else {
			for (const char *c = p; c < q && n + 2 < size; c++)
				out[n++] = *c;
		}
		p = q;
	}
	out[n] = '\0';
}

#define WAIT_COUNTDOWN_MS 5000 /* a line that only counts down, at most this often */

int cli_wait_rollout(struct cli *c, const char *name, int64_t revision, uint64_t timeout_ms,
		     bool quiet)
{
	uint64_t start = sw_now_ms(), last_ms = 0;
	struct buf path = BUF_INIT;
	cli_pathf(&path, "/v1/apps/%s", name);
	int r = 1;
	char last[768] = "", last_key[768] = "", line[768] = "", key[768], msg[256];
	FILE *out = quiet ? stderr : stdout;
	for (;;) {
		json_t *j = NULL;
		if (cli_call(c, "GET", path.s, NULL, &j) != 0)
			break;
		bool failed, done = cli_app_done(j, &failed);
		char sides[320];
		sides_text(sides, sizeof(sides), j);
		snprintf(line, sizeof(line), "%s: %s, %s ready - %s", name, cli_jstr(j, "phase"), sides,
			 json_is_string(json_object_get(j, "routedError"))
				 ? cli_jstr(j, "routedError")
			 : strcmp(cli_jstr(j, "phase"), "Healthy") == 0 && !done
				 ? "waiting for the proxy to serve its routes" : cli_jstr(j, "reason"));
		mask_durations(line, key, sizeof(key));
		uint64_t now = sw_now_ms();
		bool changed = strcmp(key, last_key) != 0 ||
			       (strcmp(line, last) != 0 && now - last_ms >= WAIT_COUNTDOWN_MS);
		int end = cli_rollout_end(c, j, revision, msg, sizeof(msg));
		if (!quiet && changed) {
			printf("%s\n", line);
			fflush(stdout);
			sw_strlcpy(last, line, sizeof(last));
			sw_strlcpy(last_key, key, sizeof(last_key));
			last_ms = now;
		}
		json_decref(j);
		if (end >= 0) {
			if (msg[0]) {
				fprintf(out, "%s\n", msg);
				fflush(out);
			}
			r = end;
			break;
		}
		if (timeout_ms && now - start >= timeout_ms) {
			char d[32];
			sw_duration_format(d, sizeof(d), timeout_ms);
			fprintf(stderr, "slipway: %s: timed out after %s waiting for its rollout (%s)\n",
				name, d, line);
			r = CLI_EXIT_TIMEOUT;
			break;
		}
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
	}
	buf_release(&path);
	return r;
}

/*
 * jansson escapes C0 controls in strings but writes DEL and the C1
 * controls (U+0080..U+009F, which terminals obey as escapes) as they are:
 * they become \u007F and \u0080..\u009F (upper case, as jansson writes),
 * still the same JSON. They occur only inside strings, so the whole text
 * can be rewritten.
 */
static void json_write_safe(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == 0x7f)
			fputs("\\u007F", f);
		else if (ch == 0xc2 && (unsigned char)s[1] >= 0x80 && (unsigned char)s[1] <= 0x9f)
			fprintf(f, "\\u%04X", (unsigned char)*++s);
		else
			fputc(ch, f);
	}
	fputc('\n', f);
}

void cli_json_print(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_write_safe(stdout, s);
	free(s);
}

void cli_json_print_line(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_write_safe(stdout, s);
	free(s);
}

const char *cli_jstr(json_t *o, const char *key)
{
	return cli_escape_in(o, key, false);
}

const char *cli_jtext(json_t *o, const char *key)
{
	return cli_escape_in(o, key, true);
}

const char *cli_jraw(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

const char *cli_join(struct buf *out, json_t *arr, const char *sep)
{
	size_t i;
	json_t *x;
	json_array_foreach(arr, i, x)
		buf_addf(out, "%s%s", i ? sep : "", json_string_value(x) ? json_string_value(x) : "");
	return buf_str(out);
}

const char *cli_window_now(struct buf *out, json_t *window, bool full)
{
	const char *why = json_is_object(window) ? cli_jstr(window, "reason") : "";
	const char *paren = full ? NULL : strstr(why, " (");
	if (!*why)
		buf_adds(out, "-");
	else
		buf_add(out, why, paren ? (size_t)(paren - why) : strlen(why));
	return buf_str(out);
}

long long cli_jint(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}
