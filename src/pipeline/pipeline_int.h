/* pipeline_int: what the files of src/pipeline share, not its contract. */
#ifndef SW_PIPELINE_INT_H
#define SW_PIPELINE_INT_H

#include <stdbool.h>

#include "spec/reference.h"

/* A job, step, service or output id: [A-Za-z_][A-Za-z0-9_-]*, at most 100. */
bool pipeline_id_ok(const char *s);
/* An environment variable's name: [A-Za-z_][A-Za-z0-9_]*. */
bool pipeline_env_name_ok(const char *s);

/* The field descriptions of the kind (docs.c), for `slipway explain pipeline`. */
extern const struct spec_ref_doc pipeline_docs[];

struct buf;
/* Runs argv (looked up in PATH) in cwd (NULL: ours) to its end, stdout
 * and stderr appended to out; its exit status, 128+N for signal N, 127
 * when it cannot run. For short commands (git rev-parse, bwrap's check). */
int pipeline_capture(struct buf *out, char *const *argv, const char *cwd);
/* A file name made of a job run's name: lower case, [a-z0-9._] kept, runs
 * of anything else one '-'. A new string. */
char *pipeline_slug(const char *name);

struct pipeline;
/* A shallow copy of p with the jobs marked in want (p->njobs of them) and
 * every job they need, transitively (want is updated to say which), in
 * document order; free out->jobs only. */
void pipeline_select_jobs(struct pipeline *out, const struct pipeline *p, bool *want);

/* A new string, printf's format. */
char *pipeline_newf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Frees v and its n strings. */
void pipeline_strv_free(char **v, size_t n);

#endif
