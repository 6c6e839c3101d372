/*
 * gc: removes the checkouts (gitops.h "Checkouts") that no stored revision
 * names any more: those of pruned or deleted apps, of revisions retention
 * dropped, of refused commits and dry runs, and what a crash left half
 * made. A revision that is kept is one a rollback may go back to, so its
 * checkout stays exactly as long as the revision does.
 *
 * A pass runs on the loop, a short while after a sync and at most every
 * GC_GAP_MS: it reads the workdirs of the stored revisions in one query,
 * renames each unused checkout to ".gc-KEY" (so that a checkout of the same
 * content made a moment later is made afresh, not half deleted), and hands
 * the renamed directories to a detached thread that deletes them. A daemon
 * stopped while that thread works leaves ".gc-" directories, which the next
 * pass deletes.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/paths.h"
#include "engine/engine.h"
#include "gitops_int.h"
#include "store/store.h"

#define GC_DELAY_MS 2000u
#define GC_GAP_MS 10000u

struct doomed {
	char **paths;
	size_t n;
};

static void *delete_all(void *arg)
{
	struct doomed *d = arg;
	for (size_t i = 0; i < d->n; i++) {
		sw_rm_rf(d->paths[i]);
		free(d->paths[i]);
	}
	free(d->paths);
	free(d);
	return NULL;
}

struct in_use {
	struct sw_map keys; /* checkout names under trees_dir */
	const char *trees_dir;
	size_t len;
};

static void note_workdir(const char *workdir, void *data)
{
	struct in_use *u = data;
	if (strncmp(workdir, u->trees_dir, u->len) != 0 || workdir[u->len] != '/')
		return;
	const char *key = workdir + u->len + 1;
	size_t n = strcspn(key, "/");
	char name[128];
	if (n == 0 || n >= sizeof(name))
		return;
	memcpy(name, key, n);
	name[n] = '\0';
	if (!sw_map_get(&u->keys, name)) {
		char *k = xstrdup(name); /* the map borrows its keys: the value owns it */
		sw_map_put(&u->keys, k, k);
	}
}

static void in_use_release(struct in_use *u)
{
	size_t it = 0;
	const char *k;
	void *v;
	while (sw_map_next(&u->keys, &it, &k, &v))
		free(v);
	sw_map_release(&u->keys);
}

static void doom(struct doomed *d, const char *path)
{
	d->paths = xrealloc(d->paths, (d->n + 1) * sizeof(*d->paths));
	d->paths[d->n++] = xstrdup(path);
}

int gitops_gc(struct gitops *g, size_t *removed, struct sw_err *err)
{
	struct in_use u = {.trees_dir = g->trees_dir, .len = strlen(g->trees_dir)};
	struct doomed *d = xcalloc(1, sizeof(*d));
	struct buf from = BUF_INIT, to = BUF_INIT;
	int r = 0;
	*removed = 0;
	sw_map_init(&u.keys);
	DIR *dir = opendir(g->trees_dir);
	if (!dir) {
		if (errno != ENOENT)
			r = sw_errf(err, -1, "cannot read \"%s\": %s", g->trees_dir, strerror(errno));
		goto out;
	}
	if (store_revision_values(engine_store(g->e), "$.spec.run.workdir", note_workdir, &u, err) < 0) {
		r = -1;
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(dir))) {
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || sw_map_get(&u.keys, name))
			continue;
		buf_reset(&from);
		buf_addf(&from, "%s/%s", g->trees_dir, name);
		if (strncmp(name, ".gc-", 4) == 0 || strncmp(name, ".new-", 5) == 0) {
			/* a crash's leftovers: no checkout is being made now, this
			 * runs on the loop that makes them */
			doom(d, from.s);
			(*removed)++;
			continue;
		}
		buf_reset(&to);
		buf_addf(&to, "%s/.gc-%s", g->trees_dir, name);
		if (rename(from.s, to.s) == 0) {
			doom(d, to.s);
			(*removed)++;
		}
	}
out:
	if (dir)
		closedir(dir);
	in_use_release(&u);
	buf_release(&from);
	buf_release(&to);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (d->n == 0 || pthread_create(&t, &attr, delete_all, d) != 0)
		delete_all(d); /* nothing to do, or no thread: on the loop then */
	pthread_attr_destroy(&attr);
	return r;
}

static void on_gc(uv_timer_t *t)
{
	struct gitops *g = t->data;
	struct sw_err err = {0};
	size_t removed = 0;
	g->gc_last_ms = sw_now_ms();
	if (gitops_gc(g, &removed, &err) < 0)
		sw_warn("gitops: checkouts not cleaned up: %s", err.msg);
	else if (removed)
		sw_info("gitops: %zu unused checkout%s removed", removed, removed == 1 ? "" : "s");
}

void gitops_gc_soon(struct gitops *g)
{
	if (g->stopping || !g->gc_timer)
		return;
	uint64_t now = sw_now_ms(), at = now + GC_DELAY_MS;
	if (g->gc_last_ms && g->gc_last_ms + GC_GAP_MS > at)
		at = g->gc_last_ms + GC_GAP_MS;
	if (uv_is_active((uv_handle_t *)g->gc_timer))
		return; /* one pass is due already */
	uv_timer_start(g->gc_timer, on_gc, at - now, 0);
}

static void gc_closed(uv_handle_t *h)
{
	free(h);
}

void gitops_gc_init(struct gitops *g)
{
	g->gc_timer = xcalloc(1, sizeof(*g->gc_timer));
	uv_timer_init(g->cfg.loop, g->gc_timer);
	g->gc_timer->data = g;
}

void gitops_gc_stop(struct gitops *g)
{
	if (!g->gc_timer)
		return;
	uv_close((uv_handle_t *)g->gc_timer, gc_closed);
	g->gc_timer = NULL;
}
