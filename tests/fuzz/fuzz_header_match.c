/*
 * The proxy's header-route matcher: input is "REGEX\nVALUE". The regex goes
 * through the route table's validation (table_from_json) as a control plane
 * would send it; when accepted, a request whose header holds VALUE (and
 * VALUE repeated to 16 KiB, the largest header section) is routed with
 * table_pick, and each pick must finish within a time budget: no value
 * may stall the proxy, whatever the regex. Oracle: on short values the
 * answer is the one glibc's regexec gives for "^(REGEX)$" (the language
 * core/re.h accepts is a part of POSIX ERE and must mean the same).
 */
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/re.h"
#include "proxy/table.h"

/* Per pick, under ASan and on a busy machine; a linear matcher needs
 * well under a millisecond per KiB. */
#define BUDGET_NS (200ull * 1000 * 1000)
#define LONG_VALUE (16 * 1024)

static const char *value_of;

static const char *get_header(const char *name, void *data)
{
	(void)data;
	return strcasecmp(name, "x-canary") == 0 ? value_of : NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t pick(struct table *t, const char *value)
{
	struct table_group *g = NULL;
	struct table_backend *b = NULL;
	bool cookie = false;
	struct table_request req = {.get_header = get_header};
	value_of = value;
	uint64_t t0 = now_ns();
	if (table_pick(&t->routes[0], &req, &g, &b, &cookie) != 0)
		abort();
	uint64_t took = now_ns() - t0;
	if (took > BUDGET_NS) {
		fprintf(stderr, "header match took %llu ms on %zu bytes\n", (unsigned long long)(took / 1000000),
			strlen(value));
		abort();
	}
	return g->revision;
}

/* Where glibc cannot be the oracle: stacked repetitions ("t**+++++") take
 * its regcomp minutes; anchors inside the regex ("(a?$){5}" matches "aa"
 * for glibc, which POSIX does not allow) it gets wrong. */
static bool glibc_unreliable(const char *src)
{
	for (const char *s = src; *s && s[1]; s++)
		if (strchr("*+?}", s[0]) && strchr("*+?{", s[1]))
			return true;
	size_t n = strlen(src);
	for (size_t i = 0; i < n; i++)
		if ((src[i] == '^' && i > 0) || (src[i] == '$' && i + 1 < n))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	if (!nl || size > 4096)
		return 0;
	char *src = strndup((const char *)data, (size_t)(nl - (const char *)data));
	size_t vlen = size - (size_t)(nl - (const char *)data) - 1;
	char *value = strndup(nl + 1, vlen);
	vlen = strlen(value); /* header values never hold a NUL */
	struct table *t = NULL;
	json_t *j = json_pack("{s:I, s:[{s:s, s:s, s:[{s:s, s:s, s:I}], s:[{s:I, s:I, s:[{s:s, s:s}]}, "
			      "{s:I, s:I, s:[{s:s, s:s}]}]}]}",
			      "version", (json_int_t)1, "routes", "app", "a", "listen", "127.0.0.1:8080",
			      "headerRoutes", "name", "X-Canary", "regex", src, "revision", (json_int_t)2,
			      "groups", "revision", (json_int_t)1, "weight", (json_int_t)100, "backends", "id",
			      "b1", "addr", "127.0.0.1:9001", "revision", (json_int_t)2, "weight",
			      (json_int_t)0, "backends", "id", "b2", "addr", "127.0.0.1:9002");
	if (!j || table_from_json(&t, j, NULL) != 0)
		goto out;

	bool matched = pick(t, value) == 2;
	if (vlen && vlen < LONG_VALUE) {
		char *big = malloc(LONG_VALUE + 1);
		for (size_t i = 0; i < LONG_VALUE; i++)
			big[i] = value[i % vlen];
		big[LONG_VALUE] = '\0';
		pick(t, big);
		free(big);
	}

	/* the oracle, on values glibc is quick on; a header value never holds
	 * CR or LF (and glibc lets `^` match after a newline in `a.*^b`) */
	if (vlen <= 64 && !strpbrk(value, "\r\n") && !glibc_unreliable(src)) {
		regex_t r;
		size_t n = strlen(src) + 5;
		char *anchored = malloc(n);
		snprintf(anchored, n, "^(%s)$", src);
		if (regcomp(&r, anchored, REG_EXTENDED | REG_NOSUB) == 0) {
			bool want = regexec(&r, value, 0, NULL, 0) == 0;
			regfree(&r);
			if (want != matched) {
				fprintf(stderr, "regex \"%s\" on \"%s\": ours %d, regexec %d\n", src, value, matched,
					want);
				abort();
			}
		}
		free(anchored);
	}
out:
	table_free(t);
	json_decref(j);
	free(src);
	free(value);
	return 0;
}
