/*
 * libFuzzer target for overlays: any bytes as a file of base Apps and
 * Patches, rendered and printed back (render_oracle.h says what must
 * hold). The Patch kind's parse is also the spec target's; the merge,
 * the instances per environment and the printer are this one's.
 */
#include <stddef.h>
#include <stdint.h>

#include "render_oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	render_oracle((const char *)data, size);
	return 0;
}
