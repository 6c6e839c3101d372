/* pipeline_int: what the files of src/pipeline share, not its contract. */
#ifndef SW_PIPELINE_INT_H
#define SW_PIPELINE_INT_H

#include <stdbool.h>

#include "spec/reference.h"

/* A job, step, service or output id: [A-Za-z_][A-Za-z0-9_-]*, at most 100. */
bool pipeline_id_ok(const char *s);

/* The field descriptions of the kind (docs.c), for `slipway explain pipeline`. */
extern const struct spec_ref_doc pipeline_docs[];

#endif
