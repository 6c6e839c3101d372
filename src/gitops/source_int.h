/* source internals shared by source.c, stream.c and known_hosts.c. */
#ifndef SW_SOURCE_INT_H
#define SW_SOURCE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <git2.h>

#include "source.h"

/* One fetch: owned by the loop side, run by its own thread. */
struct source_job {
	struct source *s;
	struct source_job *next;
	uint64_t id;
	source_cb cb;
	void *data;
	uv_thread_t thread;
	atomic_bool cancelled;	 /* set by the loop: stop, no callback */
	bool started;		 /* loop thread only: the job has (had) a thread */
	bool done;		 /* under s->lock: the thread has finished */
	uint64_t timeout_ms;
	uint64_t deadline_ms;	 /* sw_now_ms() value, set when the thread starts */
	char timeout_text[32];	 /* "2s" */
	uint64_t max_bytes;
	char *name, *url, *ref, *previous, *shown_url;
	char *username, *password_file, *ssh_key_file, *known_hosts_file;
	int auth_tries;		 /* credential callback calls */
	pthread_mutex_t fd_lock; /* guards fd against source_cancel's shutdown */
	int fd;			 /* the socket of the connection, or -1 */
	char err[1024];		 /* why it failed (first reason wins), "" = ok */
	struct source_commit commit;
	char *c_ref, *c_name, *c_email, *c_subject;
	/* a write-back (source_push) instead of a fetch */
	bool push;
	source_push_cb push_cb;
	char *branch, *base, *target, *app, *author_name, *author_email, *message;
	char *version;		 /* a promotion's: set the app's spec.version (no target) */
	char **paths;		 /* NULL-terminated */
	struct source_pushed pushed;
	char *p_file;
	char rejected[512];	 /* the remote's refusal of the ref, "" = none */
};

/* Sets job->err unless already set. */
void source_job_fail(struct source_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void source_job_set_fd(struct source_job *job, int fd);

/* stream.c */
int source_stream_register(void);
void source_stream_set_job(struct source_job *job); /* for this thread's streams */

#endif
