/* Reads for listings (`get`, `describe`): the stored templates and the
 * apps that use them, and label selectors applied to what the engine
 * keeps. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/selector.h"

int engine_templates(struct engine *e, struct store_template **out, size_t *n, struct sw_err *err)
{
	return store_template_list(e->cfg.store, out, n, err);
}

const struct engine_app *engine_template_user(struct engine *e, const char *name,
					      int64_t *revision)
{
	struct engine_app **all = NULL;
	const struct engine_app *user = NULL;
	size_t n = engine_apps(e, &all);
	for (size_t i = 0; i < n && !user; i++) {
		int64_t revs[2] = {all[i]->st.desired, all[i]->st.stable};
		for (size_t k = 0; k < 2 && !user; k++) {
			struct sw_err err = {0};
			const struct spec_app *sa =
				revs[k] > 0 ? engine_app_spec(e, all[i], revs[k], &err) : NULL;
			if (sa && spec_app_uses_template(sa, name)) {
				user = all[i];
				*revision = revs[k];
			}
		}
	}
	free(all);
	return user;
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
