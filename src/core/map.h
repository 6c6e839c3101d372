/*
 * map: a hash map from C strings to pointers (open addressing, linear
 * probing, FNV-1a). Keys are borrowed: the caller keeps each key alive
 * and unchanged while its entry exists (typically the key is a field of
 * the value). Lookups, inserts and deletes are O(1) on average; the table
 * grows at 3/4 load and never shrinks.
 *
 *	struct sw_map apps;
 *	sw_map_init(&apps);
 *	sw_map_put(&apps, a->name, a);
 *	struct app *x = sw_map_get(&apps, "hello");
 *	size_t it = 0; const char *k; void *v;
 *	while (sw_map_next(&apps, &it, &k, &v)) ...   (any order)
 *	sw_map_release(&apps);                         (values are not freed)
 */
#ifndef SW_CORE_MAP_H
#define SW_CORE_MAP_H

#include <stdbool.h>
#include <stddef.h>

struct sw_map_slot {
	const char *key;   /* NULL: empty; SW_MAP_TOMBSTONE: deleted */
	void *value;
	size_t hash;
};

struct sw_map {
	struct sw_map_slot *slots;
	size_t cap;        /* 0 or a power of two */
	size_t n;          /* live entries */
	size_t used;       /* live entries + tombstones */
};

void sw_map_init(struct sw_map *m);
/* Frees the table (not the keys or values) and zeroes m. */
void sw_map_release(struct sw_map *m);
/* The value for key, or NULL. */
void *sw_map_get(const struct sw_map *m, const char *key);
/* Sets key's value (replacing an existing one); value must not be NULL. */
void sw_map_put(struct sw_map *m, const char *key, void *value);
/* Removes key; returns its value, or NULL when absent. */
void *sw_map_del(struct sw_map *m, const char *key);
static inline size_t sw_map_count(const struct sw_map *m) { return m->n; }
/* Iterates: start with *it = 0; returns false after the last entry. The
 * map must not change during an iteration except by sw_map_del of the
 * entry just returned. */
bool sw_map_next(const struct sw_map *m, size_t *it, const char **key, void **value);

#endif
