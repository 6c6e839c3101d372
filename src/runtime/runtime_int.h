/*
 * runtime internals shared by runtime.c, probe.c and logfile.c. Not a
 * public header: nothing outside src/runtime includes it.
 */
#ifndef SW_RUNTIME_INT_H
#define SW_RUNTIME_INT_H

#include "runtime.h"
#include "../core/proc.h"

#include <stddef.h>

#define sw_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct probe_run;

/* One probe (readiness or liveness) of one instance. */
struct probe_state {
	struct runtime_priv *owner;
	const struct spec_probe *spec; /* inside owner->inst->spec */
	bool liveness;
	uv_timer_t timer;              /* period tick */
	struct probe_run *run;         /* the attempt in flight, or NULL */
	uint32_t fails;                /* consecutive failures */
	uint32_t successes;            /* consecutive successes */
	bool seen_result;              /* a result arrived since probes started */
};

/* One running process of an instance (core/proc: spawned or adopted).
 * Allocated per process; outlives the instance if the instance is
 * forgotten while the close is pending. */
struct proc_watch {
	struct runtime_priv *owner;  /* NULL once detached */
	struct sw_proc proc;
};

enum priv_timer_mode {
	PRIV_TIMER_IDLE,
	PRIV_TIMER_BACKOFF,  /* respawn when it fires */
	PRIV_TIMER_FINISH,   /* complete a stop with no process to wait for */
};

/* logindex.c: what the writer knows of an instance's index (LOG.idx). */
enum logindex_kind {
	LOGINDEX_MARK = 0,     /* the log's size at a check */
	LOGINDEX_START = 1,    /* a process of the instance started here */
	LOGINDEX_ROTATED = 2,  /* the log was truncated (rotated): the index starts over */
};
struct logindex {
	bool loaded;           /* the fields below were read from the file */
	int64_t size;          /* the newest entry's offset; -1 when none */
	int64_t ms;            /* the newest entry's wall ms */
	size_t n;              /* entries in the file; (size_t)-1 when there is none */
};

struct runtime_priv {
	struct runtime *rt;
	struct runtime_instance *inst;
	struct runtime_priv *prev, *next;  /* rt->instances */
	struct proc_watch *watch;          /* non-NULL while a process runs */
	uv_timer_t timer;
	enum priv_timer_mode timer_mode;
	struct probe_state readiness, liveness;
	char *log_path;
	struct logindex index;             /* the log's time index */
	char **env;                        /* NULL-terminated, for the process and exec probes */
	uint32_t consecutive_failures;     /* for the backoff delay */
	bool stopping;                     /* runtime_stop was called: never restart */
	bool liveness_kill;                /* killed because liveness failed */
	struct runtime_ports ports;        /* its own range; 0-0: the runtime's, less the reserved */
	int pending_closes;                /* handle closes before the struct can go */
};

struct runtime {
	struct runtime_config cfg;
	char *log_dir;
	uv_timer_t log_timer;
	struct runtime_priv *instances;
	size_t count;
	uint32_t port_cursor;              /* offset into [port_min, port_max] */
	struct runtime_ports *reserved;    /* runtime_reserve_ports */
	size_t nreserved;
	void (*stop_all_done)(void *data);
	void *stop_all_data;
	/* spawn pacing: the spawns of one turn of the loop stop after
	 * SPAWN_BURST_MS; the rest wait a turn, after the loop's I/O. The
	 * check handle (after the poll) ends the burst. */
	uv_check_t burst_check;
	uint64_t burst_start_ms;           /* 0: no burst in this turn */
	int open_handles;                  /* log_timer, burst_check: freed at 0 */
};

/* Where an app's logs go under the log dir: its key ("hello",
 * "prod/hello"), so that apps of one name in two environments keep their
 * own; and the environment its processes are told (SLIPWAY_ENVIRONMENT). */
static inline const char *runtime_log_name(const struct spec_app *s)
{
	return s->key ? s->key : s->name;
}
static inline const char *runtime_env_name(const struct spec_app *s)
{
	return s->environment ? s->environment : SPEC_ENV_DEFAULT;
}

/* The identities that open spec's age values (runtime_config.age_ids_of). */
static inline const struct age_identities *runtime_age_ids(const struct runtime *rt,
							  const struct spec_app *spec)
{
	return rt->cfg.age_ids_of ? rt->cfg.age_ids_of(runtime_env_name(spec), rt->cfg.data)
				  : rt->cfg.age_ids;
}

/* runtime.c */
/* The process driver's handle "PID STARTTIME" (job.c's too). */
void handle_format(char out[64], pid_t pid, uint64_t start_time);
int handle_parse(const char *h, pid_t *pid, uint64_t *start_time, struct sw_err *err);
void runtime_emit(struct runtime_priv *p, enum runtime_event ev);
void runtime_liveness_failed(struct runtime_priv *p, const char *why);

/* probe.c */
void probe_init(struct probe_state *ps, struct runtime_priv *owner,
		const struct spec_probe *spec, bool liveness);
/* Starts ticking: first attempt after delay_ms, then every period. */
void probe_start(struct probe_state *ps, uint64_t delay_ms);
/* Stops ticking and abandons an attempt in flight. */
void probe_stop(struct probe_state *ps);
/* Closes the timer (its data must be the owner); close_cb is the
 * instance's close accounting. */
void probe_close(struct probe_state *ps, uv_close_cb close_cb);

/* logfile.c */
int logfile_mkdirs(const char *path, struct sw_err *err);
int logfile_open(const char *path, struct sw_err *err);
/* Rotates `path`, `size` bytes long (as the caller just saw it), if that is
 * more than max_bytes; returns 1 if it did. */
int logfile_rotate_if_needed(const char *path, int64_t size, uint64_t max_bytes, unsigned keep);

/* logindex.c */
/* Notes that the log at log_path is `size` bytes long at now_ms: a MARK
 * is appended only when the size changed since the newest entry; START
 * always; ROTATED (or a size below the newest) starts the index over.
 * Halves the file past its bound. Failures are logged, not returned. */
void logindex_note(const char *log_path, struct logindex *st, int64_t size, int64_t now_ms,
		   enum logindex_kind kind);

#endif
