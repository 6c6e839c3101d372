#include "map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static const char tombstone;
#define TOMB (&tombstone)

static size_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

void sw_map_init(struct sw_map *m)
{
	memset(m, 0, sizeof(*m));
}

void sw_map_release(struct sw_map *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

/* The slot holding key, or the first free slot of its probe sequence. */
static struct sw_map_slot *probe(const struct sw_map *m, const char *key, size_t h, bool for_insert)
{
	struct sw_map_slot *free_slot = NULL;
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct sw_map_slot *s = &m->slots[i];
		if (!s->key)
			return for_insert && free_slot ? free_slot : s;
		if (s->key == TOMB) {
			if (!free_slot)
				free_slot = s;
		} else if (s->hash == h && strcmp(s->key, key) == 0) {
			return s;
		}
	}
}

static void grow(struct sw_map *m)
{
	struct sw_map old = *m;
	m->cap = old.cap ? old.cap * 2 : 16;
	/* rehash in place when tombstones, not entries, filled the table */
	if (old.cap && old.n * 2 < old.cap)
		m->cap = old.cap;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	m->n = m->used = 0;
	for (size_t i = 0; i < old.cap; i++) {
		struct sw_map_slot *s = &old.slots[i];
		if (s->key && s->key != TOMB) {
			struct sw_map_slot *d = probe(m, s->key, s->hash, true);
			*d = *s;
			m->n++;
			m->used++;
		}
	}
	free(old.slots);
}

void *sw_map_get(const struct sw_map *m, const char *key)
{
	if (!m->cap)
		return NULL;
	struct sw_map_slot *s = probe(m, key, hash_str(key), false);
	return s->key ? s->value : NULL;
}

void sw_map_put(struct sw_map *m, const char *key, void *value)
{
	SW_ASSERT(key && value && key != TOMB);
	if ((m->used + 1) * 4 > m->cap * 3)
		grow(m);
	size_t h = hash_str(key);
	struct sw_map_slot *s = probe(m, key, h, false);
	if (s->key) { /* replace */
		s->key = key;
		s->value = value;
		return;
	}
	s = probe(m, key, h, true);
	if (!s->key)
		m->used++;
	*s = (struct sw_map_slot){key, value, h};
	m->n++;
}

void *sw_map_del(struct sw_map *m, const char *key)
{
	if (!m->cap)
		return NULL;
	struct sw_map_slot *s = probe(m, key, hash_str(key), false);
	if (!s->key)
		return NULL;
	void *v = s->value;
	s->key = TOMB;
	s->value = NULL;
	m->n--;
	return v;
}

bool sw_map_next(const struct sw_map *m, size_t *it, const char **key, void **value)
{
	for (; *it < m->cap; (*it)++) {
		struct sw_map_slot *s = &m->slots[*it];
		if (s->key && s->key != TOMB) {
			*key = s->key;
			*value = s->value;
			(*it)++;
			return true;
		}
	}
	return false;
}
