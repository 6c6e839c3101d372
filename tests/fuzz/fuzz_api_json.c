/*
 * libFuzzer target for the daemon's API request bodies: the real handlers
 * (apply, rollback, rollout actions, tokens, delete, reads) behind the real
 * HTTP request path, over a real store in a temporary directory — without
 * processes or a proxy (the runtime is not started; nothing runs the loop).
 * Inputs are raw HTTP requests; the corpus has one per endpoint.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon_int.h"

static struct daemon d;
static struct daemon_options opt;

static void cleanup(void)
{
	static const char *const files[] = {"state.db", "state.db-wal", "state.db-shm"};
	char path[256];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", d.dir, files[i]);
		unlink(path);
	}
	rmdir(d.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/slipway-fuzz-api.XXXXXX";
	struct sw_err err = {0};
	char *dir = mkdtemp(tmpl);
	if (!dir)
		abort();
	d.dir = xstrdup(dir);
	struct buf p = BUF_INIT;
	buf_addf(&p, "%s/logs", dir);
	d.logs_dir = buf_detach(&p);
	buf_addf(&p, "%s/state.db", dir);
	opt.state_dir = d.dir;
	d.opt = &opt;
	if (uv_loop_init(&d.loop) < 0 || store_open(&d.store, p.s, &err) < 0) {
		fprintf(stderr, "fuzz_api_json: %s\n", err.msg);
		abort();
	}
	buf_release(&p);
	uv_timer_init(&d.loop, &d.kick);
	uv_timer_init(&d.loop, &d.tick);
	uv_timer_init(&d.loop, &d.drain);
	d.kick.data = d.tick.data = d.drain.data = &d;
	struct api_config ac = {.loop = &d.loop}; /* no listeners: fed bytes only */
	if (api_new(&d.api, &ac, &err) < 0) {
		fprintf(stderr, "fuzz_api_json: %s\n", err.msg);
		abort();
	}
	handlers_register(&d);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT;
	api_feed_for_test(d.api, (const char *)data, size, &out);
	/* every answer is HTTP */
	if (out.len && strncmp(out.s, "HTTP/1.1 ", 9) != 0)
		abort();
	buf_release(&out);
	return 0;
}
