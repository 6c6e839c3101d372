/*
 * The history the engine keeps: events, measurements and revisions read
 * page by page (newest first, a hard cap per page) and the retention timer that trims events,
 * measurements and revisions off the hot path, a small batch per loop
 * turn, never touching a revision a rollback or a running instance needs.
 */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#define RETENTION_BATCH 500
#define RETENTION_AGAIN_MS 10 /* between batches while a backlog lasts */

const struct store_retention engine_retention_defaults = {
	.events = {ENGINE_RETAIN_EVENTS_AGE_MS, ENGINE_RETAIN_EVENTS_COUNT},
	.measurements = {ENGINE_RETAIN_MEASUREMENTS_AGE_MS, ENGINE_RETAIN_MEASUREMENTS_COUNT},
	.revisions = {ENGINE_RETAIN_REVISIONS_AGE_MS, ENGINE_RETAIN_REVISIONS_COUNT},
};

size_t engine_page_limit(size_t limit)
{
	if (limit == 0)
		return ENGINE_PAGE_DEFAULT;
	return limit > ENGINE_PAGE_MAX ? ENGINE_PAGE_MAX : limit;
}

int engine_events_page(struct engine *e, const char *app, int64_t before_id, int64_t since_ms,
		       size_t limit, store_event_cb cb, void *data, struct sw_err *err)
{
	return store_event_page(e->cfg.store, app, before_id, since_ms, engine_page_limit(limit), cb,
				data, err);
}

int engine_measurements_page(struct engine *e, const char *app, int64_t revision, int64_t cursor,
			     bool forward, size_t limit, store_measurement_cb cb, void *data,
			     struct sw_err *err)
{
	return store_measurement_page(e->cfg.store, app, revision, cursor, forward,
				      engine_page_limit(limit), cb, data, err);
}

int engine_revisions_page(struct engine *e, const char *app, int64_t before, size_t limit,
			  struct store_revision **out, size_t *n, struct sw_err *err)
{
	return store_revision_page(e->cfg.store, app, before, engine_page_limit(limit), out, n, err);
}

int engine_events_after(struct engine *e, const char *app, int64_t after_id, int64_t since_ms,
			size_t limit, struct store_event **out, size_t *n, struct sw_err *err)
{
	if (limit == 0 || limit > ENGINE_EVENTS_PAGE_MAX)
		limit = ENGINE_EVENTS_PAGE_MAX;
	return store_event_list_since(e->cfg.store, app, after_id, since_ms, limit, out, n, err);
}

/*
 * What a rollback may need, so retention keeps it: the desired and stable
 * revisions, the one aborted, the one the instances converge to, the one
 * before desired (`slipway rollback` with no revision goes there when
 * stable is desired) and every revision an instance runs. An app the
 * engine does not know (deleted: its rows go with it) keeps everything.
 */
static bool keep_revision(const char *name, int64_t number, void *data)
{
	struct engine *e = data;
	struct engine_app *a = engine_app_find(e, name);
	if (!a)
		return true;
	const struct rollout_state *st = &a->st;
	if (number == st->desired || number == st->stable || number == st->failed ||
	    number == rollout_target(st) || number == st->desired - 1)
		return true;
	for (size_t i = 0; i < a->ninsts; i++)
		if (a->insts[i]->rt && a->insts[i]->rt->revision == number)
			return true;
	/* It goes: out of the parsed-spec cache too, or a rollback to it
	 * would still find it there (and leave a desired revision the store
	 * no longer has). A failed deletion only costs a re-parse. */
	for (size_t i = 0; i < a->nspecs; i++)
		if (a->specs[i].revision == number) {
			spec_app_unref(a->specs[i].spec);
			a->specs[i] = a->specs[--a->nspecs];
			break;
		}
	return false;
}

static void on_retention(uv_timer_t *t)
{
	struct engine *e = t->data;
	struct sw_err err = {0};
	size_t deleted = 0;
	bool more = false;

	if (e->stopping)
		return;
	engine_store_wait(e, false);
	if (store_retention_step(e->cfg.store, &e->retain, (int64_t)sw_wall_ms(), RETENTION_BATCH,
				 &deleted, &more, &err) < 0) {
		/* a busy store: try again next period */
		sw_warn("retention: %s", err.msg);
		more = false;
	}
	uv_timer_start(&e->retention, on_retention,
		       more ? RETENTION_AGAIN_MS : e->cfg.retention_interval_ms, 0);
}

void engine_retention_start(struct engine *e)
{
	e->retain = e->cfg.retention ? *e->cfg.retention : engine_retention_defaults;
	e->retain.keep_revision = keep_revision;
	e->retain.data = e;
	if (!e->cfg.retention_interval_ms)
		e->cfg.retention_interval_ms = ENGINE_RETENTION_INTERVAL_MS;
	/* the first pass soon after start, not in the middle of adopting */
	uv_timer_start(&e->retention, on_retention, 1000, 0);
}
