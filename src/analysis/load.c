/*
 * load: a paced GET generator on httpc (load.h has the contract).
 *
 * A repeating timer computes how many requests are due since the start
 * (rate * elapsed, so a late tick catches up evenly instead of drifting)
 * and starts them while a slot for one in flight is free; the slots hold
 * the httpc ids so that stop can cancel each.
 */
#include "load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/core.h"

struct load_slot {
	struct analysis_load *l;
	uint64_t id;              /* httpc's; 0 = free */
};

struct analysis_load {
	uv_timer_t timer;
	struct httpc *h;
	char *url;
	char *host_header;        /* "Host: x", or NULL */
	char *header;             /* cfg->header, or NULL */
	uint32_t rate;
	uint64_t duration_ms;
	uint64_t start_ms;        /* sw_now_ms() at start */
	uint64_t due;             /* requests due so far: sent + skipped */
	struct analysis_load_stats stats;
	size_t inflight;
	struct load_slot slots[ANALYSIS_LOAD_MAX_INFLIGHT];
};

static void on_response(int status, const char *body, size_t len, const char *error, void *data)
{
	struct load_slot *s = data;
	(void)body;
	(void)len;
	(void)error;
	s->id = 0;
	s->l->inflight--;
	if (status > 0)
		s->l->stats.answered++;
	else
		s->l->stats.failed++;
}

static struct load_slot *free_slot(struct analysis_load *l)
{
	for (size_t i = 0; i < ANALYSIS_LOAD_MAX_INFLIGHT; i++)
		if (!l->slots[i].id)
			return &l->slots[i];
	return NULL;
}

static void send_one(struct analysis_load *l)
{
	struct load_slot *s = l->inflight < ANALYSIS_LOAD_MAX_INFLIGHT ? free_slot(l) : NULL;
	if (!s) {
		l->stats.skipped++;
		return;
	}
	const char *headers[4] = {"User-Agent: slipway-load"};
	size_t n = 1;
	if (l->host_header)
		headers[n++] = l->host_header;
	if (l->header)
		headers[n++] = l->header;
	headers[n] = NULL;
	struct httpc_request req = {.method = "GET", .url = l->url, .headers = headers};
	struct sw_err err = {0};
	s->l = l;
	s->id = httpc_request(l->h, &req, on_response, s, &err);
	if (!s->id) { /* invalid arguments or a client being freed: nothing will come */
		l->stats.failed++;
		return;
	}
	l->inflight++;
	l->stats.sent++;
}

static void on_tick(uv_timer_t *t)
{
	struct analysis_load *l = t->data;
	uint64_t elapsed = sw_now_ms() - l->start_ms;

	if (elapsed >= l->duration_ms) {
		elapsed = l->duration_ms;
		l->stats.done = true;
		uv_timer_stop(&l->timer);
	}
	uint64_t due = l->rate * elapsed / 1000;
	while (l->due < due) {
		l->due++;
		send_one(l);
	}
}

struct analysis_load *analysis_load_start(uv_loop_t *loop, struct httpc *h,
					  const struct analysis_load_config *cfg)
{
	struct analysis_load *l = xcalloc(1, sizeof(*l));
	l->h = h;
	l->url = xstrdup(cfg->url);
	l->header = cfg->header ? xstrdup(cfg->header) : NULL;
	if (cfg->host) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "Host: %s", cfg->host);
		l->host_header = buf_detach(&b);
	}
	l->rate = cfg->rate < 1 ? 1 : cfg->rate > ANALYSIS_LOAD_MAX_RATE ? ANALYSIS_LOAD_MAX_RATE : cfg->rate;
	l->duration_ms = cfg->duration_ms ? cfg->duration_ms : 1;
	l->start_ms = sw_now_ms();
	uv_timer_init(loop, &l->timer);
	l->timer.data = l;
	uv_timer_start(&l->timer, on_tick, ANALYSIS_LOAD_TICK_MS, ANALYSIS_LOAD_TICK_MS);
	return l;
}

void analysis_load_stats(const struct analysis_load *l, struct analysis_load_stats *out)
{
	*out = l->stats;
}

static void closed(uv_handle_t *h)
{
	struct analysis_load *l = h->data;
	free(l->url);
	free(l->host_header);
	free(l->header);
	free(l);
}

void analysis_load_stop(struct analysis_load *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < ANALYSIS_LOAD_MAX_INFLIGHT; i++)
		if (l->slots[i].id) {
			httpc_cancel(l->h, l->slots[i].id);
			l->slots[i].id = 0;
		}
	l->inflight = 0;
	uv_timer_stop(&l->timer);
	uv_close((uv_handle_t *)&l->timer, closed);
}
