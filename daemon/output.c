/* daemon/output.c: printing a struct profile for people (an aligned table) and for programs (JSON).
 * Function and file names come from scraped profiles, so they are escaped: jansson escapes JSON;
 * the table replaces control bytes and backslashes with \xNN so a hostile name cannot drive the
 * terminal. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/output.h"

static bool
shown(const struct prof_location *l, enum output_flags flags)
{
	return (flags & OUTPUT_ALL) || l->op_class != OP_CLASS_BENIGN;
}

static json_t *
frame_json(const struct frame *fr)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "function", json_string(fr->function)) < 0 ||
	    json_object_set_new(o, "file", json_string(fr->file)) < 0 ||
	    json_object_set_new(o, "line", json_integer(fr->line)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* [{"set": {...}, "count": N}, ...], then {"set": null, "count": N} for the goroutines of the sets
 * not kept: as the API shows a suspect's (without growth: one profile). */
static json_t *
labels_json(const struct prof_location *l)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i <= l->nlabels; i++) {
		json_t *set = NULL;
		uint64_t count = i < l->nlabels ? l->labels[i].count : l->labels_other;

		if (i == l->nlabels && l->labels_other == 0)
			break;
		if (i < l->nlabels) {
			set = json_loads(l->labels[i].set, 0, NULL);
			if (set == NULL)
				continue;
		}
		json_array_append_new(
		    arr, json_pack("{s:o*, s:I}", "set", set, "count", (json_int_t)count));
	}
	return arr;
}

static json_t *
location_json(const struct prof_location *l)
{
	json_t *o = frame_json(&l->loc), *stack = json_array();

	if (o == NULL || stack == NULL)
		goto out_fail;
	if (json_object_set_new(o, "op", json_string(l->op)) < 0 ||
	    json_object_set_new(o, "count", json_integer((json_int_t)l->count)) < 0 ||
	    json_object_set_new(o, "leaked", json_integer((json_int_t)l->leaked)) < 0 ||
	    json_object_set_new(o, "max_wait_minutes",
	                        l->max_wait_minutes < 0 ? json_null()
	                                                : json_integer(l->max_wait_minutes)) < 0)
		goto out_fail;
	for (size_t i = 0; i < l->nstack; i++) {
		if (json_array_append_new(stack, frame_json(&l->stack[i])) < 0)
			goto out_fail;
	}
	if (json_object_set_new(o, "stack", stack) < 0) {
		stack = NULL;
		goto out_fail;
	}
	if (json_object_set_new(o, "labels", labels_json(l)) < 0)
		goto out_fail;
	return o;
out_fail:
	json_decref(stack);
	json_decref(o);
	return NULL;
}

json_t *
output_profile_json(const struct profile *p, enum output_flags flags)
{
	json_t *root = json_object(), *locs = json_array();

	if (root == NULL || locs == NULL)
		goto out_fail;
	if (json_object_set_new(root, "format", json_string(format_name(p->format))) < 0 ||
	    json_object_set_new(root, "profile", json_string(profile_kind_name(p->kind))) < 0 ||
	    json_object_set_new(root, "total_goroutines",
	                        json_integer((json_int_t)p->total_goroutines)) < 0)
		goto out_fail;
	for (size_t i = 0; i < p->nlocations; i++) {
		json_t *l;

		if (!shown(&p->locations[i], flags))
			continue;
		l = location_json(&p->locations[i]);
		if (l == NULL || json_array_append_new(locs, l) < 0)
			goto out_fail;
	}
	if (json_object_set_new(root, "locations", locs) < 0) {
		locs = NULL;
		goto out_fail;
	}
	return root;
out_fail:
	json_decref(locs);
	json_decref(root);
	return NULL;
}

/* Escaped display width of 's'. */
static size_t
disp_len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '\\') ? 4 : 1;
	return n;
}

static int
put_escaped(FILE *f, const char *s, size_t width)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '\\') {
			if (fprintf(f, "\\x%02x", c) < 0)
				return -1;
			n += 4;
		} else {
			if (putc(c, f) == EOF)
				return -1;
			n++;
		}
	}
	for (; n < width; n++) {
		if (putc(' ', f) == EOF)
			return -1;
	}
	return 0;
}

static size_t
num_len(unsigned long long v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static int
output_table(FILE *f, const struct profile *p, enum output_flags flags)
{
	size_t wcount = 5, wop = 2, wfn = 8, wloc = 9, i, rows = 0;
	char num[32];

	for (i = 0; i < p->nlocations; i++) {
		const struct prof_location *l = &p->locations[i];
		size_t n;

		if (!shown(l, flags))
			continue;
		rows++;
		if (num_len(l->count) > wcount)
			wcount = num_len(l->count);
		if (disp_len(l->op) > wop)
			wop = disp_len(l->op);
		if (disp_len(l->loc.function) > wfn)
			wfn = disp_len(l->loc.function);
		n = disp_len(l->loc.file) + 1 + num_len(l->loc.line);
		if (n > wloc)
			wloc = n;
	}
	if (fprintf(f, "%s profile (%s): %llu goroutines, %zu locations%s\n",
	            profile_kind_name(p->kind), format_name(p->format),
	            (unsigned long long)p->total_goroutines, rows,
	            (flags & OUTPUT_ALL) ? "" : " that may leak") < 0)
		return -1;
	if (rows == 0)
		return 0;
	if (fprintf(f, "%*s  %-*s  %-*s  %-*s  %s\n", (int)wcount, "COUNT", (int)wop, "OP",
	            (int)wfn, "FUNCTION", (int)wloc, "FILE:LINE", "MAX WAIT") < 0)
		return -1;
	for (i = 0; i < p->nlocations; i++) {
		const struct prof_location *l = &p->locations[i];
		size_t n;

		if (!shown(l, flags))
			continue;
		if (fprintf(f, "%*llu  ", (int)wcount, (unsigned long long)l->count) < 0 ||
		    put_escaped(f, l->op, wop) < 0 || fputs("  ", f) == EOF ||
		    put_escaped(f, l->loc.function, wfn) < 0 || fputs("  ", f) == EOF ||
		    put_escaped(f, l->loc.file, 0) < 0)
			return -1;
		n = disp_len(l->loc.file) + 1 + num_len(l->loc.line);
		if (fprintf(f, ":%u%*s  ", l->loc.line, (int)(wloc - n), "") < 0)
			return -1;
		if (l->max_wait_minutes >= 0)
			snprintf(num, sizeof(num), "%d min", l->max_wait_minutes);
		else
			snprintf(num, sizeof(num), "-");
		if (l->leaked > 0 &&
		    fprintf(f, "%s  (%llu leaked)\n", num, (unsigned long long)l->leaked) < 0)
			return -1;
		if (l->leaked == 0 && fprintf(f, "%s\n", num) < 0)
			return -1;
	}
	return 0;
}

int
output_profile(FILE *f, const struct profile *p, enum output_flags flags)
{
	int ret = -1;

	if (flags & OUTPUT_JSON) {
		json_t *root = output_profile_json(p, flags);

		if (root == NULL)
			return -1;
		if (json_dumpf(root, f, JSON_INDENT(0) | JSON_PRESERVE_ORDER) == 0 &&
		    putc('\n', f) != EOF)
			ret = 0;
		json_decref(root);
	} else {
		ret = output_table(f, p, flags);
	}
	if (fflush(f) == EOF || ferror(f))
		ret = -1;
	return ret;
}
