/* detect/suspect_labels.h: what a suspect's pprof label sets say, in the forms the API, the
 * dashboard, the alerts and `leakprofd suspects` show, and the label filter they share. */
#ifndef SUSPECT_LABELS_H
#define SUSPECT_LABELS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sbuf.h"
#include "storage/store.h"

/* The label sets of 's' over the window its ranking covers, [generated_at - window, generated_at],
 * at most 'limit' (0: all stored): store_labels_top(). 0, or -1 (logged). Caller releases 'out'
 * with store_labels_release(). */
int suspect_labels_load(struct store *st, const struct suspect *s, int64_t generated_at,
                        uint64_t window_seconds, size_t limit, struct store_labels *out)
    __attribute__((warn_unused_result));

/* Whether 's' has goroutines now under a set holding label 'key' = 'value' in that window: 1 yes,
 * 0 no, -1 error (logged). */
int suspect_labels_match(struct store *st, const struct suspect *s, int64_t generated_at,
                         uint64_t window_seconds, const char *key, const char *value);

/* [{"set": {...}, "count": N, "growth": N}, ...] (growth: count minus the count at the start of the
 * window, negative when it fell), then {"set": null, ...} for the goroutines of the sets not kept
 * when there are any. New reference; never NULL. */
json_t *suspect_labels_json(const struct store_labels *l);

/* One label (key = value) over the kept sets of a suspect: the goroutines of the sets holding it
 * now and what they gained over the window. */
struct suspect_label_value {
	char *key;
	char *value;
	int64_t count;
	int64_t growth;
};

/* Which label values grow: every (key, value) of l's sets (the sets not kept aside), growth
 * descending, then count descending, then key and value. Returns how many; caller frees '*out' with
 * suspect_label_values_free(). */
size_t suspect_label_values(const struct store_labels *l, struct suspect_label_value **out);
void suspect_label_values_free(struct suspect_label_value *v, size_t n);

/* Append a set's JSON text as "k=v, k2=v2" to 'b', at most 'max' bytes of names (the rest cut,
 * ending in "…"); '?' for a set that is not a JSON object. Plain text: the caller escapes it for
 * its context. */
void suspect_labels_text(struct sbuf *b, const char *set_json, size_t max);

#endif
