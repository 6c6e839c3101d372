/*
 * libFuzzer target for `slipway explain`'s paths (spec/reference.h): any
 * bytes as KIND[.FIELD...]. Explaining must never crash, hang or leak; it
 * either fails with one of its messages and nothing made, or gives an
 * answer whose kind and field explain again to the same answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "spec/reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	struct sw_err err = {0};
	json_t *j = NULL;
	if (spec_ref_explain(&j, text, false, &err) != 0) {
		if (j || (strncmp(err.msg, "unknown ", 8) != 0 && strncmp(err.msg, "bad path", 8) != 0 &&
			  strncmp(err.msg, "path ", 5) != 0))
			abort();
	} else {
		struct buf again = BUF_INIT;
		const char *field = json_string_value(json_object_get(j, "field"));
		buf_addf(&again, "%s%s%s", json_string_value(json_object_get(j, "kind")), *field ? "." : "", field);
		json_t *k = NULL;
		if (spec_ref_explain(&k, again.s, false, NULL) != 0 || !json_equal(j, k) ||
		    !json_is_string(json_object_get(j, "description")))
			abort();
		json_decref(k);
		buf_release(&again);
	}
	json_decref(j);
	free(text);
	return 0;
}
