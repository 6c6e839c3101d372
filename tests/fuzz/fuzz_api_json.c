/*
 * libFuzzer target for the API's request bodies: the real v1 handlers
 * (apply, rollback, rollout actions, tokens, delete, reads) and the real
 * engine behind the real HTTP request path, over a real store in a
 * temporary directory — without processes or a proxy (the engine is not
 * started; nothing runs the loop).
 * Inputs are raw HTTP requests; the corpus has one per endpoint.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http.h"
#include "api/api.h"
#include "core/buf.h"
#include "engine/engine.h"
#include "store/store.h"

static uv_loop_t loop;
static char *dir;
static struct store *store;
static struct engine *engine;
static struct http_server *api;
static struct api *v1;

static void cleanup(void)
{
	static const char *const files[] = {"state.db", "state.db-wal", "state.db-shm"};
	char path[256];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/slipway-fuzz-api.XXXXXX";
	struct sw_err err = {0};
	if (!mkdtemp(tmpl))
		abort();
	dir = xstrdup(tmpl);
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/state.db", dir);
	if (uv_loop_init(&loop) < 0 || store_open(&store, p.s, &err) < 0) {
		fprintf(stderr, "fuzz_api_json: %s\n", err.msg);
		abort();
	}
	buf_release(&p);
	/* the engine's use cases work before engine_start: nothing runs */
	struct engine_config ec = {.loop = &loop, .store = store, .state_dir = dir};
	struct http_config ac = {.loop = &loop}; /* no listeners: fed bytes only */
	if (engine_new(&engine, &ec, &err) < 0 || http_new(&api, &ac, &err) < 0) {
		fprintf(stderr, "fuzz_api_json: %s\n", err.msg);
		abort();
	}
	struct api_config vc = {.engine = engine, .logs_dir = dir, .state_dir = dir};
	api_new(&v1, api, &vc);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT;
	http_feed_for_test(api, (const char *)data, size, &out);
	/* every answer is HTTP */
	if (out.len && strncmp(out.s, "HTTP/1.1 ", 9) != 0)
		abort();
	buf_release(&out);
	return 0;
}
