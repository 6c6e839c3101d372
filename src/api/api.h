/*
 * api: the Slipway API's v1 endpoints on an HTTP server (http/http.h). Handlers are
 * thin: decode JSON, call the engine, encode JSON; each route carries the
 * least role it needs. docs/api.md is the reference.
 */
#ifndef SW_API_H
#define SW_API_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"
#include "core/buf.h"
#include "engine/engine.h"

struct api_config {
	struct engine *engine;
	uv_loop_t *loop;            /* for long polls on the logs; NULL: they answer at once */
	const char *logs_dir;       /* DIR/logs: instance logs */
	const char *state_dir;      /* DIR, named in messages */
	int64_t started_ms;         /* wall clock; tells a re-executed daemon apart */
	/* POST /v1/upgrade: schedules the re-exec; false when it cannot */
	bool (*upgrade)(void *data);
	/* GET /metrics: appends the data plane's Prometheus text; -1 when unknown */
	int (*metrics_text)(struct buf *out, void *data);
	void *data;
};

struct api;

/* Registers every endpoint on `server`; cfg is copied. */
int api_new(struct api **out, struct http_server *server, const struct api_config *cfg);
void api_free(struct api *v);

#endif
