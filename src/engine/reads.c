/* Reads for listings (`get`, `describe`): the stored templates, and
 * label selectors applied to what the engine keeps. */
#include "engine_int.h"

#include <string.h>

#include "core/selector.h"

int engine_templates(struct engine *e, struct store_template **out, size_t *n, struct sw_err *err)
{
	return store_template_list(e->cfg.store, out, n, err);
}

static const char *label_of(const char *key, void *data)
{
	return json_string_value(json_object_get(data, key));
}

bool engine_labels_match(const json_t *labels, const struct sw_selector *sel)
{
	json_t *empty = NULL;
	if (!labels)
		labels = empty = json_object();
	bool ok = sw_selector_match(sel, label_of, (void *)labels);
	json_decref(empty);
	return ok;
}
