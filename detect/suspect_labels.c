/* detect/suspect_labels.c: a suspect's pprof label sets over its ranking's window (storage's
 * label_samples), as JSON and as text, and the key=value filter of the API, the dashboard and
 * `leakprofd suspects`. One rule for all of them: a suspect matches when goroutines at its
 * location carry the label at the end of the window. */
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

#include "detect/suspect_labels.h"

int
suspect_labels_load(struct store *st, const struct suspect *s, int64_t generated_at,
                    uint64_t window_seconds, size_t limit, struct store_labels *out)
{
	int64_t since = generated_at - (int64_t)window_seconds * 1000;

	return store_labels_top(st, s->service_id, s->location_id, since, generated_at, limit, NULL,
	                        NULL, out);
}

int
suspect_labels_match(struct store *st, const struct suspect *s, int64_t generated_at,
                     uint64_t window_seconds, const char *key, const char *value)
{
	int64_t since = generated_at - (int64_t)window_seconds * 1000;
	struct store_labels l;
	int match;

	if (store_labels_top(st, s->service_id, s->location_id, since, generated_at, 1, key, value,
	                     &l) < 0)
		return -1;
	match = l.n > 0 && l.sets[0].count > 0;
	store_labels_release(&l);
	return match;
}

static json_t *
entry(json_t *set, uint64_t count, uint64_t first)
{
	json_t *e = json_object();

	json_object_set_new(e, "set", set);
	json_object_set_new(e, "count", json_integer((json_int_t)count));
	json_object_set_new(e, "growth", json_integer((json_int_t)count - (json_int_t)first));
	return e;
}

json_t *
suspect_labels_json(const struct store_labels *l)
{
	json_t *arr = json_array();

	for (size_t i = 0; l != NULL && i < l->n; i++) {
		json_t *set = json_loads(l->sets[i].set, JSON_REJECT_DUPLICATES, NULL);

		if (set == NULL || !json_is_object(set)) {
			json_decref(set);
			continue;
		}
		json_array_append_new(arr, entry(set, l->sets[i].count, l->sets[i].first));
	}
	if (l != NULL && (l->other > 0 || l->other_first > 0))
		json_array_append_new(arr, entry(json_null(), l->other, l->other_first));
	return arr;
}

void
suspect_labels_text(struct sbuf *b, const char *set_json, size_t max)
{
	json_t *set = json_loads(set_json, 0, NULL), *v;
	struct sbuf t = {0};
	const char *k;
	bool first = true;

	if (set == NULL || !json_is_object(set)) {
		json_decref(set);
		sbuf_puts(b, "?");
		return;
	}
	json_object_foreach(set, k, v)
	{
		if (!first)
			sbuf_puts(&t, ", ");
		first = false;
		sbuf_addf(&t, "%s=%s", k, json_is_string(v) ? json_string_value(v) : "?");
	}
	json_decref(set);
	if (t.len > max) {
		size_t n = max;

		/* cut between characters */
		while (n > 0 && ((unsigned char)t.p[n] & 0xc0) == 0x80)
			n--;
		sbuf_add(b, t.p, n);
		sbuf_puts(b, "…");
	} else if (t.p != NULL) {
		sbuf_add(b, t.p, t.len);
	}
	sbuf_release(&t);
}

static int
cmp_value(const void *a, const void *b)
{
	const struct suspect_label_value *x = a, *y = b;
	int c;

	if (x->growth != y->growth)
		return x->growth > y->growth ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	c = strcmp(x->key, y->key);
	return c != 0 ? c : strcmp(x->value, y->value);
}

size_t
suspect_label_values(const struct store_labels *l, struct suspect_label_value **out)
{
	struct suspect_label_value *v = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; l != NULL && i < l->n; i++) {
		json_t *set = json_loads(l->sets[i].set, 0, NULL), *jv;
		int64_t count = (int64_t)l->sets[i].count;
		int64_t growth = count - (int64_t)l->sets[i].first;
		const char *k;

		if (set == NULL || !json_is_object(set)) {
			json_decref(set);
			continue;
		}
		json_object_foreach(set, k, jv)
		{
			const char *val = json_is_string(jv) ? json_string_value(jv) : "?";
			size_t j;

			for (j = 0; j < n; j++) {
				if (strcmp(v[j].key, k) == 0 && strcmp(v[j].value, val) == 0)
					break;
			}
			if (j == n) {
				if (n == cap) {
					cap = cap ? 2 * cap : 16;
					v = xrealloc(v, cap * sizeof(*v));
				}
				v[n++] = (struct suspect_label_value){.key = xstrdup(k),
				                                      .value = xstrdup(val)};
			}
			v[j].count += count;
			v[j].growth += growth;
		}
		json_decref(set);
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_value);
	*out = v;
	return n;
}

void
suspect_label_values_free(struct suspect_label_value *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}
