/*
 * libFuzzer target for what a step writes to $SLIPWAY_OUTPUT and
 * $SLIPWAY_ENV (pipeline_kv_parse, exec.h): any bytes either parse into
 * string values or give a message; and masking any line with secrets
 * made of the same bytes never leaves a secret in it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *o = json_object();
	struct sw_err err = {0};
	if (pipeline_kv_parse(o, (const char *)data, size, &err) < 0) {
		if (err.msg[0] == '\0')
			abort();
	} else {
		const char *k;
		json_t *v;
		json_object_foreach(o, k, v)
			if (!json_is_string(v))
				abort();
	}
	json_decref(o);
	/* the first line's first half is a secret (when it has no '*'), the rest the log line */
	size_t half = size / 2;
	char *secret = strndup((const char *)data, half);
	if (strlen(secret) == half && !strchr(secret, '*') && !strchr(secret, '\n') && !strchr(secret, '\r')) {
		struct pipeline_secret s = {"S", secret};
		size_t n = 0;
		char **v = pipeline_mask_values(&s, 1, &n);
		struct buf b = BUF_INIT;
		pipeline_mask(&b, (const char *)data + half, size - half, v, n);
		if (n && memmem(b.s, b.len, secret, half))
			abort();
		buf_release(&b);
		pipeline_mask_values_free(v, n);
	}
	free(secret);
	return 0;
}
