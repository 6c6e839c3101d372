/*
 * The Environment document's field descriptions, for `slipway explain
 * environment` (spec/reference.h): the only place this prose lives in
 * code. tests/unit/test_spec_reference.c fails when a field of env.c's
 * tables has none here, or a path here names no field.
 */
#include "env.h"

const struct spec_ref_doc env_docs[] = {
	{"",
	 "An environment (dev, staging, prod...): an isolation boundary on one host. App names are "
	 "unique within it, its instances take their own ports, its routes stay within the addresses "
	 "it allows, and tokens can be scoped to it. Apps name it in metadata.environment; "
	 "\"default\" always exists and takes no document (docs/environments.md).", NULL},
	{"metadata.labels",
	 "Labels for `slipway get environments -l` (the rules of an App's labels).", NULL},
	{"spec", "What the environment's apps get and may use.", NULL},
	{"spec.ports",
	 "The ports its instances get, MIN-MAX (from 1024). The ranges of two environments may not "
	 "overlap, and instances of other environments never take a port in it.",
	 "the daemon's --port-range, shared with every environment without one"},
	{"spec.listen",
	 "Where its apps' routes may listen: addresses \"HOST:PORT\" or \"HOST:MIN-MAX\" (HOST an IP "
	 "address, localhost, or * for any host). An App whose route.listen (or previewListen) is "
	 "outside them is refused at apply.", "any address"},
	{NULL, NULL, NULL},
};
