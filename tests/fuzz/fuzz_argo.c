/*
 * libFuzzer target for `slipway import argo`: any bytes as an Argo
 * Rollouts file. The import must never crash or leak, and every document
 * it writes must be YAML that reads back (the emitter quotes what needs
 * quoting, whatever the input held).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec/argo.h"
#include "spec/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spec_argo imp;
	struct sw_err err = {0};

	spec_argo_init(&imp);
	if (spec_argo_add(&imp, (const char *)data, size, "fuzz.yaml", &err) != 0 && !err.msg[0])
		abort(); /* a refusal always says why */
	spec_argo_finish(&imp);
	for (size_t i = 0; i < imp.ndocs; i++) {
		char *text = spec_yaml_emit(imp.docs[i]);
		struct snode **docs = NULL;
		size_t n = 0;
		struct sw_err perr = {0};
		if (!text || snode_from_yaml(&docs, &n, text, strlen(text), "emitted.yaml", &perr) != 0)
			abort();
		for (size_t k = 0; k < n; k++)
			snode_free(docs[k]);
		free(docs);
		free(text);
	}
	spec_argo_release(&imp);
	return 0;
}
