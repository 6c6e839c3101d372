/*
 * runtime: instances as local processes. See runtime.h for the contract
 * and docs/internals/runtime.md for how instances outlive the daemon.
 *
 * Every instance has one struct runtime_priv with its timer (backoff,
 * deferred completion), its two probes and, while a process runs, a struct
 * proc_watch around a core/proc process. Nothing here blocks: core/proc
 * reports exits (of a child or, through a pidfd, of an adopted process)
 * and escalates a stop to SIGKILL of the group on its own timer.
 *
 * The process driver's handle is "PID STARTTIME": the start time makes a
 * reused pid tell itself apart.
 *
 * Callbacks may call runtime_stop() on the instance they were given. To
 * keep that safe, runtime_stop never completes synchronously (it arms the
 * instance timer or waits for the exit), and every path re-checks
 * `stopping` after it emitted an event.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/buf.h"
#include "../core/proc.h"
#include "runtime_int.h"

#include <openssl/crypto.h>

#define DEFAULT_BACKOFF_INITIAL_MS 1000
#define DEFAULT_BACKOFF_MAX_MS (5 * 60 * 1000)
#define DEFAULT_BACKOFF_RESET_MS (60 * 1000)
#define DEFAULT_LOG_MAX_BYTES (10u * 1024 * 1024)
#define DEFAULT_LOG_KEEP 3
#define DEFAULT_LOG_CHECK_MS 1000

extern char **environ;

static void spawn_instance(struct runtime_priv *p);

const char *runtime_state_name(enum runtime_state s)
{
	switch (s) {
	case RUNTIME_STARTING: return "Starting";
	case RUNTIME_RUNNING: return "Running";
	case RUNTIME_BACKOFF: return "CrashLoopBackOff";
	case RUNTIME_STOPPING: return "Stopping";
	case RUNTIME_STOPPED: return "Stopped";
	case RUNTIME_FAILED: return "Failed";
	}
	return "Unknown";
}

uint64_t runtime_backoff_ms(uint32_t restarts, uint64_t initial_ms, uint64_t max_ms)
{
	uint64_t d = initial_ms;

	for (uint32_t i = 1; i < restarts && d < max_ms; i++)
		d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
	return d < max_ms ? d : max_ms;
}

/* ---- handles -------------------------------------------------------- */

void handle_format(char out[64], pid_t pid, uint64_t start_time)
{
	snprintf(out, 64, "%d %llu", (int)pid, (unsigned long long)start_time);
}

/* Reads "PID STARTTIME" (decimal, one space, nothing else). */
int handle_parse(const char *h, pid_t *pid, uint64_t *start_time, struct sw_err *err)
{
	unsigned long long p = 0, st = 0;
	int n = 0;

	if (!h || !h[0])
		return sw_errf(err, SW_EINVAL, "no process recorded");
	if (h[0] < '0' || h[0] > '9' || sscanf(h, "%llu %llu%n", &p, &st, &n) != 2 || h[n] ||
	    p == 0 || p > INT32_MAX)
		return sw_errf(err, SW_EINVAL, "malformed process handle \"%s\"", h);
	*pid = (pid_t)p;
	*start_time = st;
	return 0;
}

pid_t runtime_instance_pid(const struct runtime_instance *inst)
{
	const struct runtime_priv *p = inst->priv;

	return p && p->watch ? p->watch->proc.pid : 0;
}

size_t runtime_count(struct runtime *rt)
{
	return rt->count;
}

void runtime_emit(struct runtime_priv *p, enum runtime_event ev)
{
	struct runtime *rt = p->rt;

	if (rt->cfg.on_change)
		rt->cfg.on_change(p->inst, ev, rt->cfg.data);
}

/* ---- ports ---------------------------------------------------------- */

static bool port_tracked(struct runtime *rt, uint16_t port, struct runtime_priv *self)
{
	for (struct runtime_priv *q = rt->instances; q; q = q->next)
		if (q != self && q->inst->port == port)
			return true;
	return false;
}

/* Whether a server could listen on 127.0.0.1:port right now. */
static bool port_bindable(uint16_t port)
{
	struct sockaddr_in sa;
	int fd, one = 1;
	bool ok;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static bool port_reserved(const struct runtime *rt, uint16_t port)
{
	for (size_t i = 0; i < rt->nreserved; i++)
		if (port >= rt->reserved[i].min && port <= rt->reserved[i].max)
			return true;
	return false;
}

/* The range an instance's ports come from: its own, else the runtime's. */
static struct runtime_ports port_range(const struct runtime *rt, const struct runtime_priv *p)
{
	if (p && p->ports.min)
		return p->ports;
	return (struct runtime_ports){rt->cfg.port_min, rt->cfg.port_max};
}

/* A free port from the instance's range, searched from a cursor that
 * moves on so that a port just given up is not handed out again at once.
 * 0 if none. */
static uint16_t port_pick(struct runtime *rt, struct runtime_priv *self)
{
	struct runtime_ports r = port_range(rt, self);
	bool own = self && self->ports.min;
	uint32_t span = (uint32_t)r.max - r.min + 1;

	for (uint32_t i = 0; i < span; i++) {
		uint16_t port = (uint16_t)(r.min + (rt->port_cursor + i) % span);
		if (port_tracked(rt, port, self) || (!own && port_reserved(rt, port)) ||
		    !port_bindable(port))
			continue;
		rt->port_cursor = (rt->port_cursor + i + 1) % span;
		return port;
	}
	return 0;
}

void runtime_reserve_ports(struct runtime *rt, const struct runtime_ports *ranges, size_t n)
{
	free(rt->reserved);
	rt->reserved = n ? xmalloc(n * sizeof(*rt->reserved)) : NULL;
	if (n)
		memcpy(rt->reserved, ranges, n * sizeof(*rt->reserved));
	rt->nreserved = n;
}

void runtime_instance_ports(struct runtime_instance *inst, const struct runtime_ports *ports)
{
	inst->priv->ports = ports && ports->min ? *ports : (struct runtime_ports){0, 0};
}

/* ---- environment and command ---------------------------------------- */

static void free_strv(char **v)
{
	if (!v)
		return;
	for (char **s = v; *s; s++)
		free(*s);
	free(v);
}

static bool name_is(const char *name, size_t len, const char *other)
{
	return strlen(other) == len && memcmp(name, other, len) == 0;
}

/* True when "NAME=..." names one of the NULL-terminated "K=V" list. */
static bool in_kv(const char *name, size_t len, char *const *kv)
{
	for (size_t i = 0; kv && kv[i]; i++) {
		const char *eq = strchr(kv[i], '=');
		if (eq && (size_t)(eq - kv[i]) == len && memcmp(kv[i], name, len) == 0)
			return true;
	}
	return false;
}

static bool in_env(const char *name, size_t len, const struct spec_env *env, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (name_is(name, len, env[i].name))
			return true;
	return false;
}

static char *substitute(const char *in, const struct spec_vars *vars)
{
	char *s = spec_substitute(in, vars);

	return s ? s : xstrdup(in);
}

void runtime_env_free(char **env)
{
	if (!env)
		return;
	for (char **s = env; *s; s++) {
		OPENSSL_cleanse(*s, strlen(*s));
		free(*s);
	}
	free(env);
}

/* "NAME=" and the plaintext of an age value of an app in environment
 * `in` (NULL: default) into b; -1 with err. */
static int env_open_age(struct buf *b, const struct spec_env *e, const char *in,
			const struct age_identities *ids, struct sw_err *err)
{
	struct buf plain = BUF_INIT;
	struct sw_err aerr = {0};
	int rc = -1;

	plain.cap = 1024 * 1024;
	if ((!ids || ids->n == 0) && in)
		sw_errf(err, -1, "env %s: the daemon has no age key for environment %s (one its "
			"spec.recipients list, or without them one no environment lists: slipway serve "
			"--age-identity FILE)", e->name, in);
	else if (!ids || ids->n == 0)
		sw_errf(err, -1, "env %s: the daemon has no age identity to open it (slipway serve "
			"--age-identity FILE, or STATE_DIR/age.key)", e->name);
	else if (age_decrypt(&plain, ids, e->value, strlen(e->value), &aerr) < 0)
		sw_errf(err, -1, "env %s: %s%s%s", e->name, aerr.msg,
			in ? " with the keys of environment " : "", in ? in : "");
	else if (memchr(plain.s ? plain.s : "", '\0', plain.len))
		sw_errf(err, -1, "env %s: its decrypted value holds a NUL byte, which an environment "
			"variable cannot", e->name);
	else
		rc = 0;
	if (rc == 0) {
		size_t n = plain.len && plain.s[plain.len - 1] == '\n' ? plain.len - 1 : plain.len;
		buf_addf(b, "%s=", e->name);
		buf_add(b, plain.s ? plain.s : "", n);
	}
	if (plain.alloc)
		OPENSSL_cleanse(plain.s, plain.alloc);
	buf_release(&plain);
	return rc;
}

char **runtime_env_build(const struct spec_app *spec, const struct spec_vars *vars,
			 const struct spec_env *extra, size_t nextra, char *const *own,
			 const struct age_identities *ids, struct sw_err *err)
{
	struct buf b = BUF_INIT;
	size_t n = 0, nenv = 0, nown = 0;
	char **env;

	while (environ && environ[nenv])
		nenv++;
	while (own && own[nown])
		nown++;
	env = xcalloc(nenv + spec->nenv + nextra + nown + 1, sizeof(*env));
	for (size_t i = 0; i < nenv; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t len = eq ? (size_t)(eq - environ[i]) : 0;
		if (eq && (in_kv(environ[i], len, own) || in_env(environ[i], len, spec->env, spec->nenv) ||
			   in_env(environ[i], len, extra, nextra)))
			continue;
		env[n++] = xstrdup(environ[i]);
	}
	for (size_t l = 0; l < 2; l++) {
		const struct spec_env *list = l ? extra : spec->env;
		size_t count = l ? nextra : spec->nenv;
		for (size_t i = 0; i < count; i++) {
			const char *name = list[i].name;
			size_t len = strlen(name);
			if (in_kv(name, len, own) || (l == 0 && in_env(name, len, extra, nextra)))
				continue;
			if (list[i].age) {
				if (env_open_age(&b, &list[i], spec->environment, ids, err) < 0) {
					env[n] = NULL;
					runtime_env_free(env);
					return NULL;
				}
				env[n++] = buf_detach(&b);
				continue;
			}
			char *value = substitute(list[i].value ? list[i].value : "", vars);
			buf_addf(&b, "%s=%s", name, value);
			env[n++] = buf_detach(&b);
			free(value);
		}
	}
	for (size_t i = 0; i < nown; i++)
		env[n++] = xstrdup(own[i]);
	env[n] = NULL;
	return env;
}

static void vars_init(struct spec_vars *vars, const struct runtime_instance *inst, char port[8])
{
	snprintf(port, 8, "%u", (unsigned)inst->port);
	vars->port = port;
	vars->version = inst->spec->version ? inst->spec->version : "";
	vars->instance = inst->id;
	vars->app = inst->app;
}

/*
 * The daemon's environment, then spec run.env (substituted), then PORT and
 * the SLIPWAY_* variables, which always win.
 */
static char **env_build(const struct runtime_instance *inst, struct sw_err *err)
{
	struct spec_vars vars;
	struct buf b = BUF_INIT;
	char port[8];
	char *own[6];

	vars_init(&vars, inst, port);
	buf_addf(&b, "PORT=%s", port);
	own[0] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_APP=%s", inst->app);
	own[1] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_VERSION=%s", vars.version);
	own[2] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_INSTANCE=%s", inst->id);
	own[3] = buf_detach(&b);
	buf_addf(&b, "SLIPWAY_ENVIRONMENT=%s", runtime_env_name(inst->spec));
	own[4] = buf_detach(&b);
	own[5] = NULL;
	char **env = runtime_env_build(inst->spec, &vars, NULL, 0, own,
				       runtime_age_ids(inst->priv->rt, inst->spec), err);
	for (size_t i = 0; i < 5; i++)
		free(own[i]);
	return env;
}

static char **argv_build(const struct runtime_instance *inst)
{
	const struct spec_app *spec = inst->spec;
	struct spec_vars vars;
	char port[8];
	size_t argc = 0;
	char **argv;

	vars_init(&vars, inst, port);
	while (spec->command[argc])
		argc++;
	argv = xcalloc(argc + 1, sizeof(*argv));
	for (size_t i = 0; i < argc; i++)
		argv[i] = substitute(spec->command[i], &vars);
	return argv;
}

/* ---- instance bookkeeping ------------------------------------------- */

static void priv_handle_closed(uv_handle_t *h)
{
	struct runtime_priv *p = h->data;
	struct runtime_instance *inst = p->inst;

	if (--p->pending_closes > 0)
		return;
	spec_app_unref(inst->spec);
	free(inst->app);
	free(p->log_path);
	runtime_env_free(p->env);
	free(p);
	free(inst);
}

static void watch_closed(struct sw_proc *proc)
{
	free(sw_container_of(proc, struct proc_watch, proc));
}

/* Stops watching the process without touching it. */
static void watch_detach(struct proc_watch *w)
{
	w->owner = NULL;
	sw_proc_close(&w->proc, watch_closed);
}

static void on_priv_timer(uv_timer_t *t);

static struct runtime_priv *instance_new(struct runtime *rt, struct spec_app *spec,
					 int64_t revision, const char *id)
{
	struct runtime_instance *inst = xcalloc(1, sizeof(*inst));
	struct runtime_priv *p = xcalloc(1, sizeof(*p));
	struct buf path = BUF_INIT;

	sw_strlcpy(inst->id, id, sizeof(inst->id));
	inst->app = xstrdup(spec->name);
	inst->revision = revision;
	inst->spec = spec_app_ref(spec);
	inst->state = RUNTIME_STARTING;
	inst->priv = p;
	p->rt = rt;
	p->inst = inst;
	uv_timer_init(rt->cfg.loop, &p->timer);
	p->timer.data = p;
	probe_init(&p->readiness, p, &spec->readiness, false);
	probe_init(&p->liveness, p, &spec->liveness, true);
	buf_addf(&path, "%s/%s/%s.log", rt->log_dir, runtime_log_name(spec), inst->id);
	p->log_path = buf_detach(&path);
	p->next = rt->instances;
	if (rt->instances)
		rt->instances->prev = p;
	rt->instances = p;
	rt->count++;
	return p;
}

/* Forgets the instance: unlinks it and frees it once its handles closed.
 * A process still running is left alone. */
static void instance_release(struct runtime_priv *p)
{
	struct runtime *rt = p->rt;

	if (p->prev)
		p->prev->next = p->next;
	else
		rt->instances = p->next;
	if (p->next)
		p->next->prev = p->prev;
	rt->count--;
	if (p->watch) {
		watch_detach(p->watch);
		p->watch = NULL;
	}
	uv_timer_stop(&p->timer);
	p->pending_closes = 3;
	uv_close((uv_handle_t *)&p->timer, priv_handle_closed);
	probe_close(&p->readiness, priv_handle_closed);
	probe_close(&p->liveness, priv_handle_closed);
}

static void timer_arm(struct runtime_priv *p, enum priv_timer_mode mode, uint64_t ms)
{
	p->timer_mode = mode;
	/* from now, not from the loop's cached time: the event just emitted
	 * may have taken a while (the engine writes the store), and a backoff
	 * must not come out shorter than it says */
	uv_update_time(p->timer.loop);
	uv_timer_start(&p->timer, on_priv_timer, ms, 0);
}

static void timer_disarm(struct runtime_priv *p)
{
	p->timer_mode = PRIV_TIMER_IDLE;
	uv_timer_stop(&p->timer);
}

static void finish_stop(struct runtime_priv *p)
{
	struct runtime *rt = p->rt;
	struct runtime_instance *inst = p->inst;
	void (*done)(void *) = NULL;
	void *done_data = NULL;

	timer_disarm(p);
	inst->state = RUNTIME_STOPPED;
	inst->handle[0] = '\0';
	inst->ready = false;
	inst->ready_ms = 0;
	runtime_emit(p, RUNTIME_EV_STOPPED);
	instance_release(p);
	if (rt->count == 0 && rt->stop_all_done) {
		done = rt->stop_all_done;
		done_data = rt->stop_all_data;
		rt->stop_all_done = NULL;
		rt->stop_all_data = NULL;
	}
	if (done)
		done(done_data);  /* last: it may free the runtime */
}

/* Waits before the next spawn, longer the more often it failed in a row. */
static uint64_t next_backoff(struct runtime_priv *p, bool ran_long)
{
	const struct runtime_config *c = &p->rt->cfg;

	if (ran_long)
		p->consecutive_failures = 0;
	p->consecutive_failures++;
	return runtime_backoff_ms(p->consecutive_failures, c->backoff_initial_ms, c->backoff_max_ms);
}

static void spawn_failed(struct runtime_priv *p, const char *why, bool unstartable)
{
	struct runtime_instance *inst = p->inst;
	uint64_t delay;

	inst->handle[0] = '\0';
	inst->started_ms = 0;
	inst->ready = false;
	inst->ready_ms = 0;
	inst->state = RUNTIME_FAILED;
	inst->unstartable = unstartable;
	sw_strlcpy(inst->reason, why, sizeof(inst->reason));
	snprintf(inst->exit_reason, sizeof(inst->exit_reason), "could not start: %.70s", why);
	delay = next_backoff(p, false);
	inst->backoff_ms = delay;
	runtime_emit(p, RUNTIME_EV_FAILED);
	if (p->stopping)
		return;
	timer_arm(p, PRIV_TIMER_BACKOFF, delay);
}

/* The instance's process is gone (not through runtime_stop, or through
 * it: then the stop completes). `why` is how it ended. */
static void process_gone(struct runtime_priv *p, const char *why)
{
	struct runtime_instance *inst = p->inst;
	uint64_t now = sw_now_ms(), delay;
	bool ran_long;
	char d[32];

	/* core/proc has killed whatever was left of its process group, so
	 * no straggler keeps the port or runs on unwatched. */
	probe_stop(&p->readiness);
	probe_stop(&p->liveness);
	ran_long = inst->started_ms && now - inst->started_ms >= p->rt->cfg.backoff_reset_ms;
	inst->handle[0] = '\0';
	inst->ready = false;
	inst->ready_ms = 0;
	p->liveness_kill = false;
	if (p->stopping) {
		finish_stop(p);
		return;
	}
	inst->restarts++;
	inst->state = RUNTIME_BACKOFF;
	sw_strlcpy(inst->reason, why, sizeof(inst->reason));
	sw_strlcpy(inst->exit_reason, why, sizeof(inst->exit_reason));
	runtime_emit(p, RUNTIME_EV_EXITED);
	if (p->stopping)
		return;
	delay = next_backoff(p, ran_long);
	inst->backoff_ms = delay;
	sw_duration_format(d, sizeof(d), delay);
	inst->state = RUNTIME_BACKOFF;
	snprintf(inst->reason, sizeof(inst->reason), "back-off %s restarting failed instance", d);
	runtime_emit(p, RUNTIME_EV_BACKOFF);
	if (p->stopping)
		return;
	timer_arm(p, PRIV_TIMER_BACKOFF, delay);
}

/* The process exited (a child) or its pidfd said so (adopted). */
static void on_proc_exit(struct sw_proc *proc, const struct sw_proc_exit *how)
{
	struct proc_watch *w = proc->data;
	struct runtime_priv *p = w->owner;

	w->owner = NULL;
	sw_proc_close(proc, watch_closed);
	if (!p)
		return;
	p->watch = NULL;
	process_gone(p, how->reason);
}

static void spawn_instance(struct runtime_priv *p)
{
	struct runtime *rt = p->rt;
	struct runtime_instance *inst = p->inst;
	struct spec_app *spec = inst->spec;
	struct sw_err err = {0};
	struct proc_watch *w = NULL;
	struct sw_proc_options o = {.stdin_fd = -1, .on_exit = on_proc_exit};
	char **argv = NULL, *dir = NULL, *slash;
	int logfd = -1;
	bool unstartable = false;

	inst->adopted = false;
	if (!inst->port || !port_bindable(inst->port))
		inst->port = port_pick(rt, p);
	if (!inst->port) {
		struct runtime_ports r = port_range(rt, p);
		sw_errf(&err, -1, "no free port in %u-%u", (unsigned)r.min, (unsigned)r.max);
		goto out;
	}
	dir = xstrdup(p->log_path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (logfile_mkdirs(dir, &err) < 0)
		goto out;
	logfd = logfile_open(p->log_path, &err);
	if (logfd < 0)
		goto out;
	struct stat lst;
	if (fstat(logfd, &lst) == 0) /* for logs --previous: where this process's output starts */
		logindex_note(p->log_path, &p->index, lst.st_size, sw_wall_ms(), LOGINDEX_START);
	runtime_env_free(p->env);
	p->env = env_build(inst, &err);
	if (!p->env) {
		unstartable = true;
		goto out;
	}
	argv = argv_build(inst);

	w = xcalloc(1, sizeof(*w));
	o.argv = argv;
	o.env = p->env;
	o.cwd = spec->workdir;
	o.stdout_fd = logfd;
	o.stderr_fd = logfd;
	o.data = w;
	/* its own session and process group (core/proc), so it survives us
	 * and a signal to the group reaches everything it started */
	if (sw_proc_spawn(&w->proc, rt->cfg.loop, &o, &err) < 0) {
		free(w);
		w = NULL;
		goto out;
	}
	w->owner = p;
	p->watch = w;
	handle_format(inst->handle, w->proc.pid, w->proc.start_time);
	inst->started_ms = sw_now_ms();
	inst->ready = false;
	inst->ready_ms = 0;
	inst->state = RUNTIME_STARTING;
	inst->unstartable = false;
	inst->reason[0] = '\0';
	inst->backoff_ms = 0;
out:
	if (logfd >= 0)
		close(logfd);
	free(dir);
	free_strv(argv);
	if (!w) {
		spawn_failed(p, err.msg, unstartable);
		return;
	}
	runtime_emit(p, RUNTIME_EV_STARTED);
	if (p->stopping)
		return;
	if (spec->readiness.kind == SPEC_PROBE_NONE) {
		inst->ready = true;
		inst->ready_ms = sw_now_ms();
		inst->state = RUNTIME_RUNNING;
		runtime_emit(p, RUNTIME_EV_READY);
		if (p->stopping)
			return;
	}
	probe_start(&p->readiness, spec->readiness.initial_delay_ms);
	probe_start(&p->liveness, spec->liveness.initial_delay_ms);
}

/* Spawning blocks the loop for a fork and an exec each (milliseconds):
 * a commit that starts 1,000 instances does so in bursts of this length,
 * and the API, probes and the proxy's answers are served between them. */
#define SPAWN_BURST_MS 20

static void on_burst_check(uv_check_t *c)
{
	struct runtime *rt = c->data;
	rt->burst_start_ms = 0;
	uv_check_stop(c);
}

/* Whether a spawn may happen in this turn of the loop. */
static bool burst_allows(struct runtime *rt)
{
	uint64_t now = sw_now_ms();
	if (!rt->burst_start_ms) {
		rt->burst_start_ms = now;
		uv_check_start(&rt->burst_check, on_burst_check);
		return true;
	}
	return now - rt->burst_start_ms < SPAWN_BURST_MS;
}

static void on_priv_timer(uv_timer_t *t)
{
	struct runtime_priv *p = t->data;
	enum priv_timer_mode mode = p->timer_mode;

	p->timer_mode = PRIV_TIMER_IDLE;
	switch (mode) {
	case PRIV_TIMER_BACKOFF:
		if (p->stopping)
			break;
		if (!burst_allows(p->rt)) {
			timer_arm(p, PRIV_TIMER_BACKOFF, 1); /* a later turn */
			break;
		}
		spawn_instance(p);
		break;
	case PRIV_TIMER_FINISH:
		finish_stop(p);
		break;
	case PRIV_TIMER_IDLE:
		break;
	}
}

/* Asks the process to stop (spec stop signal to its group); core/proc
 * sends SIGKILL to the group if it has not gone after stop.timeout. A
 * second call (a stop during a liveness kill) never lengthens that. */
static void terminate(struct runtime_priv *p)
{
	const struct spec_app *spec = p->inst->spec;
	int sig = spec->stop_signal > 0 ? spec->stop_signal : SIGTERM;

	/* grace 0 would mean "SIGKILL at once", not "send sig" */
	sw_proc_stop(&p->watch->proc, sig, spec->stop_timeout_ms ? spec->stop_timeout_ms : 1);
}

void runtime_liveness_failed(struct runtime_priv *p, const char *why)
{
	struct runtime_instance *inst = p->inst;

	if (p->stopping || p->liveness_kill || !p->watch)
		return;
	p->liveness_kill = true;
	probe_stop(&p->readiness);
	probe_stop(&p->liveness);
	inst->ready = false;
	inst->ready_ms = 0;
	snprintf(inst->reason, sizeof(inst->reason), "liveness probe failed: %s", why);
	runtime_emit(p, RUNTIME_EV_LIVENESS);
	if (p->stopping)
		return;
	terminate(p);
}

/* ---- log rotation and time index ------------------------------------ */

static void on_log_timer(uv_timer_t *t)
{
	struct runtime *rt = t->data;

	int64_t now = sw_wall_ms();
	struct stat st;

	for (struct runtime_priv *p = rt->instances; p; p = p->next) {
		if (stat(p->log_path, &st) < 0)
			continue;
		if (logfile_rotate_if_needed(p->log_path, st.st_size, rt->cfg.log_max_bytes,
					     rt->cfg.log_keep) > 0) {
			logindex_note(p->log_path, &p->index, 0, now, LOGINDEX_ROTATED);
			continue;
		}
		/* the time index: where the output of this second ends */
		logindex_note(p->log_path, &p->index, st.st_size, now, LOGINDEX_MARK);
	}
}

/* ---- public API ----------------------------------------------------- */

int runtime_new(struct runtime **out, const struct runtime_config *cfg, struct sw_err *err)
{
	struct runtime *rt;

	*out = NULL;
	if (!cfg->loop || !cfg->log_dir || !cfg->log_dir[0])
		return sw_errf(err, SW_EINVAL, "runtime needs a loop and a log directory");
	uint16_t pmin = cfg->port_min ? cfg->port_min : 20000;
	uint16_t pmax = cfg->port_max ? cfg->port_max : (pmin > 29999 ? pmin : 29999);

	if (pmin > pmax)
		return sw_errf(err, SW_EINVAL, "port range %u-%u is empty", (unsigned)pmin, (unsigned)pmax);
	rt = xcalloc(1, sizeof(*rt));
	rt->cfg = *cfg;
	rt->log_dir = xstrdup(cfg->log_dir);
	rt->cfg.log_dir = rt->log_dir;
	rt->cfg.port_min = pmin;
	rt->cfg.port_max = pmax;
	if (!rt->cfg.log_max_bytes)
		rt->cfg.log_max_bytes = DEFAULT_LOG_MAX_BYTES;
	if (!rt->cfg.log_keep)
		rt->cfg.log_keep = DEFAULT_LOG_KEEP;
	if (!rt->cfg.log_check_ms)
		rt->cfg.log_check_ms = DEFAULT_LOG_CHECK_MS;
	if (!rt->cfg.backoff_initial_ms)
		rt->cfg.backoff_initial_ms = DEFAULT_BACKOFF_INITIAL_MS;
	if (!rt->cfg.backoff_max_ms)
		rt->cfg.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
	if (!rt->cfg.backoff_reset_ms)
		rt->cfg.backoff_reset_ms = DEFAULT_BACKOFF_RESET_MS;
	uv_timer_init(cfg->loop, &rt->log_timer);
	rt->log_timer.data = rt;
	uv_timer_start(&rt->log_timer, on_log_timer, rt->cfg.log_check_ms, rt->cfg.log_check_ms);
	uv_unref((uv_handle_t *)&rt->log_timer);
	uv_check_init(cfg->loop, &rt->burst_check);
	rt->burst_check.data = rt;
	uv_unref((uv_handle_t *)&rt->burst_check);
	rt->open_handles = 2;
	*out = rt;
	return 0;
}

static void runtime_closed(uv_handle_t *h)
{
	struct runtime *rt = h->data;

	if (--rt->open_handles > 0)
		return;
	free(rt->log_dir);
	free(rt->reserved);
	free(rt);
}

void runtime_free(struct runtime *rt)
{
	if (!rt)
		return;
	while (rt->instances)
		instance_release(rt->instances);
	uv_timer_stop(&rt->log_timer);
	uv_close((uv_handle_t *)&rt->log_timer, runtime_closed);
	uv_check_stop(&rt->burst_check);
	uv_close((uv_handle_t *)&rt->burst_check, runtime_closed);
}

static bool id_valid(const char *id)
{
	return id && id[0] && strlen(id) < sizeof(((struct runtime_instance *)0)->id) &&
	       !strchr(id, '/') && strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
}

static bool spec_runnable(const struct spec_app *spec)
{
	return spec && spec->name && spec->name[0] && !strchr(spec->name, '/') &&
	       spec->command && spec->command[0];
}

struct runtime_instance *runtime_start(struct runtime *rt, struct spec_app *spec,
				       int64_t revision, const char *id,
				       struct sw_err *err)
{
	return runtime_start_in(rt, spec, revision, id, NULL, err);
}

struct runtime_instance *runtime_start_in(struct runtime *rt, struct spec_app *spec,
					  int64_t revision, const char *id,
					  const struct runtime_ports *ports, struct sw_err *err)
{
	struct runtime_priv *p;

	if (!spec_runnable(spec)) {
		sw_errf(err, SW_EINVAL, "app has no name or no command");
		return NULL;
	}
	if (!id_valid(id)) {
		sw_errf(err, SW_EINVAL, "invalid instance id \"%s\"", id ? id : "");
		return NULL;
	}
	p = instance_new(rt, spec, revision, id);
	runtime_instance_ports(p->inst, ports);
	/* The port is known at once; the spawn happens from the loop, so
	 * that no callback runs before the caller has the instance. */
	p->inst->port = port_pick(rt, p);
	timer_arm(p, PRIV_TIMER_BACKOFF, 0);
	return p->inst;
}

/* Milliseconds since the process with this start time (clock ticks
 * after boot) started. */
static uint64_t proc_age_ms(uint64_t start_time)
{
	struct timespec ts;
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t now_ms, start_ms;

	if (hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		return 0;
	now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	start_ms = start_time * 1000 / (uint64_t)hz;
	return now_ms > start_ms ? now_ms - start_ms : 0;
}

struct runtime_instance *runtime_adopt(struct runtime *rt, struct spec_app *spec,
				       int64_t revision, const char *id, const char *handle,
				       uint16_t port, bool ready, uint32_t restarts,
				       struct sw_err *err)
{
	struct sw_proc_options o = {.on_exit = on_proc_exit};
	struct runtime_priv *p;
	struct runtime_instance *inst;
	struct proc_watch *w;
	uint64_t now, age, start_time = 0;
	pid_t pid = 0;

	if (!spec_runnable(spec) || !id_valid(id)) {
		sw_errf(err, SW_EINVAL, "invalid arguments to adopt \"%s\"", id ? id : "");
		return NULL;
	}
	if (handle_parse(handle, &pid, &start_time, err) < 0)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	o.data = w;
	if (sw_proc_adopt(&w->proc, rt->cfg.loop, pid, start_time, &o, err) < 0) {
		free(w);
		return NULL;
	}

	p = instance_new(rt, spec, revision, id);
	inst = p->inst;
	w->owner = p;
	p->watch = w;
	handle_format(inst->handle, pid, start_time);
	inst->port = port;
	inst->restarts = restarts;
	inst->adopted = true;
	now = sw_now_ms();
	age = proc_age_ms(start_time);
	inst->started_ms = now > age ? now - age : 1;
	if (spec->readiness.kind == SPEC_PROBE_NONE)
		ready = true;
	inst->ready = ready;
	inst->ready_ms = ready ? now : 0;
	inst->state = ready ? RUNTIME_RUNNING : RUNTIME_STARTING;
	struct sw_err eerr = {0};
	p->env = env_build(inst, &eerr);
	if (!p->env) /* it runs with what it got then; its exec probes get the daemon's */
		sw_warn("instance %s: %s", inst->id, eerr.msg);

	/* Its initial delay is long past; the first result matters now. */
	probe_start(&p->readiness, 0);
	probe_start(&p->liveness, 0);
	return inst;
}

static bool pid_tracked(struct runtime *rt, pid_t pid)
{
	for (struct runtime_priv *q = rt->instances; q; q = q->next)
		if (q->watch && q->watch->proc.pid == pid)
			return true;
	return false;
}

void runtime_orphans(struct runtime *rt, const char *state_dir,
		     void (*found)(const char *instance_id, const char *handle, void *data),
		     void *data)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;

	if (!proc)
		return;
	while ((de = readdir(proc))) {
		char *end, dir[PATH_MAX], id[128], handle[64];
		long v = strtol(de->d_name, &end, 10);
		pid_t pid = (pid_t)v;
		uint64_t start_time;

		if (*end || v <= 1 || pid == getpid())
			continue;
		if (sw_proc_session(pid) != pid ||
		    !sw_proc_env(pid, "SLIPWAY_STATE_DIR", dir, sizeof(dir)) ||
		    strcmp(dir, state_dir) != 0 ||
		    !sw_proc_env(pid, "SLIPWAY_INSTANCE", id, sizeof(id)) || pid_tracked(rt, pid))
			continue;
		start_time = sw_proc_start_time(pid);
		if (!start_time)
			continue;  /* gone since, or a zombie */
		handle_format(handle, pid, start_time);
		found(id, handle, data);
	}
	closedir(proc);
}

int runtime_kill_handle(struct runtime *rt, const char *handle)
{
	uint64_t start_time = 0;
	pid_t pid = 0;
	int r;

	if ((r = handle_parse(handle, &pid, &start_time, NULL)) < 0)
		return r;
	return sw_proc_kill(pid, start_time, SIGKILL);
}

void runtime_stop(struct runtime *rt, struct runtime_instance *inst)
{
	struct runtime_priv *p = inst->priv;

	if (p->stopping)
		return;
	p->stopping = true;
	probe_stop(&p->readiness);
	probe_stop(&p->liveness);
	if (p->watch) {
		inst->state = RUNTIME_STOPPING;
		terminate(p);
	} else {
		timer_arm(p, PRIV_TIMER_FINISH, 0);
	}
}

void runtime_stop_all(struct runtime *rt, void (*done)(void *data), void *data)
{
	if (rt->count == 0) {
		if (done)
			done(data);
		return;
	}
	rt->stop_all_done = done;
	rt->stop_all_data = data;
	for (struct runtime_priv *p = rt->instances; p; p = p->next)
		runtime_stop(rt, p->inst);
}
