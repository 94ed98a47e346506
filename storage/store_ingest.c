/* storage/store_ingest.c: one scrape into the store, in one transaction. See store_add_scrape() in
 * store.h.
 *
 * A scrape's row, its per-location samples and its target's health are written together: on any
 * failure all of it is rolled back. Locations and stacks are interned through small in-memory
 * caches (struct store_ingest, one per connection) so that a scrape of an unchanged service costs
 * one INSERT per location and no lookups; a rollback drops the caches, which may hold ids from the
 * rolled-back transaction. Scraped strings are untrusted: they are cut at a fixed length and made
 * valid UTF-8 before they reach the database, so every reader can put them into JSON as they are.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "base/hash.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "storage/store.h"
#include "storage/store_internal.h"

#define CACHE_MAX (1u << 17)        /* interned locations / stacks remembered per connection */
#define CACHE_KEY_BYTES (32u << 20) /* bytes of location keys remembered per connection */
#define TEXT_CAP 2048               /* bytes kept of a scraped function or file name */
#define OP_CAP 128                  /* bytes kept of an op name */
#define STATUS_CAP 512              /* bytes kept of a scrape status */
#define STACK_FRAMES 128            /* frames kept of a representative stack */
#define SEEN_SLACK_MS 30000         /* locations.last_seen is rewritten at most this often */

/* An interned location (or, with key NULL, a stack keyed by its hash alone). */
struct intern {
	uint64_t hash;
	/* locations: function \0 file \0 line \0 op; stacks: NULL (the hash is the key) */
	char *key;
	size_t keylen;
	int64_t id;
	int64_t stack_id;
	int64_t first_seen;
	int64_t last_seen;
	bool used;
};

struct intern_table {
	struct intern *slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
	size_t key_bytes; /* bytes of keys held, capped by CACHE_KEY_BYTES */
};

struct store_ingest {
	struct intern_table locs;
	struct intern_table stacks;
	char fn_buf[TEXT_CAP + 1]; /* cleaned location strings */
	char file_buf[TEXT_CAP + 1];
	/* cleaned stack frame strings (jansson copies them at once) */
	char frame_fn_buf[TEXT_CAP + 1];
	char frame_file_buf[TEXT_CAP + 1];
	char op_buf[OP_CAP + 1];
	char status_buf[STATUS_CAP + 1];
};

/* ---- Hashing and the intern caches ---- */

static void
intern_clear(struct intern_table *t)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		free(t->slots[i].key);
	free(t->slots);
	t->slots = NULL;
	t->cap = 0;
	t->n = 0;
	t->key_bytes = 0;
}

static struct intern *
intern_find(struct intern_table *t, uint64_t hash, const char *key, size_t keylen)
{
	size_t i;

	if (t->cap == 0)
		return NULL;
	for (i = hash & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		struct intern *e = &t->slots[i];

		if (!e->used)
			return NULL;
		if (e->hash == hash && e->keylen == keylen &&
		    (keylen == 0 || memcmp(e->key, key, keylen) == 0))
			return e;
	}
}

/* Add an entry (not present). Forgets everything when the table is at its entry or byte cap: it is
 * only a cache, and scraped names are untrusted (a hostile target may send a new 4 KiB location
 * every scrape). */
static struct intern *
intern_add(struct intern_table *t, uint64_t hash, const char *key, size_t keylen)
{
	struct intern *e;
	size_t i;

	if (t->n >= CACHE_MAX || t->key_bytes + keylen > CACHE_KEY_BYTES)
		intern_clear(t);
	if ((t->n + 1) * 4 > t->cap * 3) {
		struct intern_table bigger = {.cap = t->cap ? t->cap * 2 : 256};

		bigger.slots = xcalloc(bigger.cap, sizeof(*bigger.slots));
		for (i = 0; i < t->cap; i++) {
			size_t j;

			if (!t->slots[i].used)
				continue;
			for (j = t->slots[i].hash & (bigger.cap - 1); bigger.slots[j].used;
			     j = (j + 1) & (bigger.cap - 1))
				;
			bigger.slots[j] = t->slots[i];
		}
		bigger.n = t->n;
		bigger.key_bytes = t->key_bytes;
		free(t->slots);
		*t = bigger;
	}
	for (i = hash & (t->cap - 1); t->slots[i].used; i = (i + 1) & (t->cap - 1))
		;
	e = &t->slots[i];
	memset(e, 0, sizeof(*e));
	e->used = true;
	e->hash = hash;
	e->keylen = keylen;
	if (keylen > 0) {
		e->key = malloc(keylen);
		if (e->key == NULL) {
			log_err("store: out of memory");
			abort();
		}
		memcpy(e->key, key, keylen);
	}
	t->n++;
	t->key_bytes += keylen;
	return e;
}

/* ---- The ingest's state, owned by the store ---- */

struct store_ingest *
store_ingest_new(void)
{
	return xcalloc(1, sizeof(struct store_ingest));
}

void
store_ingest_free(struct store_ingest *ing)
{
	if (ing == NULL)
		return;
	intern_clear(&ing->locs);
	intern_clear(&ing->stacks);
	free(ing);
}

void
store_ingest_forget(struct store_ingest *ing)
{
	intern_clear(&ing->locs);
	intern_clear(&ing->stacks);
}

/* ---- Untrusted text ---- */

/* Length of the valid UTF-8 sequence at s (at most 'avail' bytes), or 0 when invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t avail)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > avail)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* 's' cut to at most 'cap' bytes on a character boundary, invalid UTF-8 and control bytes
 * replaced by '?'. Returns 's' itself when it needs no change, else 'buf' (cap + 1 bytes). NULL
 * reads as "". */
static const char *
clean_text(const char *s, size_t cap, char *buf)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t i = 0, o = 0, len = strlen((const char *)p);
	bool changed = len > cap;

	for (i = 0; i < len && !changed;) {
		size_t n = utf8_seq(p + i, len - i);

		if (n == 0 || p[i] < 0x20 || p[i] == 0x7f)
			changed = true;
		i += n ? n : 1;
	}
	if (!changed)
		return (const char *)p;
	for (i = 0; i < len;) {
		size_t n = utf8_seq(p + i, len - i);

		if (n == 0 || (n == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
			if (o + 1 > cap)
				break;
			buf[o++] = '?';
			i++;
			continue;
		}
		if (o + n > cap)
			break;
		memcpy(buf + o, p + i, n);
		o += n;
		i += n;
	}
	buf[o] = '\0';
	return buf;
}

/* ---- Ingest ---- */

/* The stack's id, inserting it when new. 0 when the stack is empty, -1 on error. */
static int64_t
intern_stack(struct store *st, const struct frame *stack, size_t nstack, const char *what)
{
	struct store_ingest *ing = store_ingest_state(st);
	struct intern *e;
	sqlite3_stmt *stmt;
	uint64_t h = HASH_FNV1A_INIT;
	json_t *arr;
	char *text;
	int64_t id;
	char msg[256];
	size_t i;

	if (nstack == 0 || stack == NULL)
		return 0;
	if (nstack > STACK_FRAMES)
		nstack = STACK_FRAMES;
	for (i = 0; i < nstack; i++) {
		const char *fn = stack[i].function ? stack[i].function : "";
		const char *file = stack[i].file ? stack[i].file : "";

		h = hash_fnv1a(h, fn, strlen(fn) + 1);
		h = hash_fnv1a(h, file, strlen(file) + 1);
		h = hash_fnv1a(h, &stack[i].line, sizeof(stack[i].line));
	}
	h = hash_mix64(h);
	e = intern_find(&ing->stacks, h, NULL, 0);
	if (e != NULL)
		return e->id;

	stmt = store_prepare(st, "SELECT id FROM stacks WHERE hash = ?1");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (int64_t)h);
	switch (sqlite3_step(stmt)) {
	case SQLITE_ROW:
		id = sqlite3_column_int64(stmt, 0);
		store_stmt_done(stmt);
		goto out_cache;
	case SQLITE_DONE:
		store_stmt_done(stmt);
		break;
	default:
		snprintf(msg, sizeof(msg), "%s: looking up a stack", what);
		store_log_sqlite(st, msg);
		store_stmt_done(stmt);
		return -1;
	}

	arr = json_array();
	if (arr == NULL)
		abort();
	for (i = 0; i < nstack; i++) {
		json_t *f = json_object();

		if (f == NULL)
			abort();
		json_object_set_new(
		    f, "function",
		    json_string(clean_text(stack[i].function, TEXT_CAP, ing->frame_fn_buf)));
		json_object_set_new(
		    f, "file",
		    json_string(clean_text(stack[i].file, TEXT_CAP, ing->frame_file_buf)));
		json_object_set_new(f, "line", json_integer(stack[i].line));
		json_array_append_new(arr, f);
	}
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (text == NULL) {
		log_err("store: '%s': encoding a stack as JSON failed", store_path(st));
		return -1;
	}
	stmt = store_prepare(st, "INSERT INTO stacks (hash, frames) VALUES (?1, ?2) RETURNING id");
	if (stmt == NULL) {
		free(text);
		return -1;
	}
	sqlite3_bind_int64(stmt, 1, (int64_t)h);
	sqlite3_bind_text(stmt, 2, text, -1, SQLITE_STATIC);
	snprintf(msg, sizeof(msg), "%s: storing a stack", what);
	id = store_step_id(st, stmt, msg);
	free(text);
	if (id < 0)
		return -1;
out_cache:
	e = intern_add(&ing->stacks, h, NULL, 0);
	e->id = id;
	return id;
}

/* The location's id, inserting it (and its stack) or refreshing its last_seen and stack when due.
 * -1 on error. */
static int64_t
intern_location(struct store *st, const struct prof_location *pl, int64_t ts, const char *what)
{
	struct store_ingest *ing = store_ingest_state(st);
	const char *fn = clean_text(pl->loc.function, TEXT_CAP, ing->fn_buf);
	const char *file = clean_text(pl->loc.file, TEXT_CAP, ing->file_buf);
	const char *op = clean_text(pl->op, OP_CAP, ing->op_buf);
	size_t fnlen = strlen(fn), filelen = strlen(file), oplen = strlen(op);
	char key[TEXT_CAP * 2 + OP_CAP + 16];
	struct intern *e;
	sqlite3_stmt *stmt;
	int64_t stack_id;
	size_t keylen;
	char msg[256];
	uint64_t h;
	int n;

	memcpy(key, fn, fnlen + 1);
	memcpy(key + fnlen + 1, file, filelen + 1);
	keylen = fnlen + 1 + filelen + 1;
	n = snprintf(key + keylen, sizeof(key) - keylen, "%" PRIu32, pl->loc.line);
	keylen += (size_t)n + 1;
	memcpy(key + keylen, op, oplen);
	keylen += oplen;
	h = hash_mix64(hash_fnv1a(HASH_FNV1A_INIT, key, keylen));

	/* A known location is rewritten only when its last_seen is due (or it has no stack yet):
	 * every instance of a service reports it each interval. Its representative stack is the
	 * first one seen: following later ones would leave stacks that no location refers to,
	 * growing with every variant. */
	e = intern_find(&ing->locs, h, key, keylen);
	if (e == NULL) {
		/* Not cached (a new connection, or the cache was dropped): the row may exist all
		 * the same. */
		stmt = store_prepare(
		    st, "SELECT id, stack_id, first_seen, last_seen FROM locations"
		        " WHERE function = ?1 AND file = ?2 AND line = ?3 AND op = ?4");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_text(stmt, 1, fn, (int)fnlen, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, file, (int)filelen, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 3, pl->loc.line);
		sqlite3_bind_text(stmt, 4, op, (int)oplen, SQLITE_STATIC);
		switch (sqlite3_step(stmt)) {
		case SQLITE_ROW:
			e = intern_add(&ing->locs, h, key, keylen);
			e->id = sqlite3_column_int64(stmt, 0);
			e->stack_id = sqlite3_column_int64(stmt, 1);
			e->first_seen = sqlite3_column_int64(stmt, 2);
			e->last_seen = sqlite3_column_int64(stmt, 3);
			break;
		case SQLITE_DONE:
			break;
		default:
			snprintf(msg, sizeof(msg), "%s: looking up a location", what);
			store_log_sqlite(st, msg);
			store_stmt_done(stmt);
			return -1;
		}
		store_stmt_done(stmt);
	}
	if (e != NULL && ts < e->last_seen + SEEN_SLACK_MS && ts >= e->first_seen &&
	    (e->stack_id > 0 || pl->nstack == 0))
		return e->id;
	stack_id = 0;
	if (e == NULL || e->stack_id == 0) {
		stack_id = intern_stack(st, pl->stack, pl->nstack, what);
		if (stack_id < 0)
			return -1;
	}
	if (e != NULL) {
		stmt = store_prepare(st, "UPDATE locations SET last_seen = max(last_seen, ?2), "
		                         "first_seen = min(first_seen, ?2),"
		                         " stack_id = coalesce(stack_id, ?3) WHERE id = ?1");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, e->id);
		sqlite3_bind_int64(stmt, 2, ts);
		if (stack_id > 0)
			sqlite3_bind_int64(stmt, 3, stack_id);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			snprintf(msg, sizeof(msg), "%s: updating a location", what);
			store_log_sqlite(st, msg);
			store_stmt_done(stmt);
			return -1;
		}
		store_stmt_done(stmt);
		if (stack_id > 0)
			e->stack_id = stack_id;
		if (ts > e->last_seen)
			e->last_seen = ts;
		if (ts < e->first_seen)
			e->first_seen = ts;
		return e->id;
	}

	stmt = store_prepare(
	    st, "INSERT INTO locations (function, file, line, op, stack_id, first_seen, last_seen)"
	        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)"
	        " ON CONFLICT (function, file, line, op) DO UPDATE SET last_seen = max(last_seen, "
	        "excluded.last_seen),"
	        " first_seen = min(first_seen, excluded.first_seen), stack_id = coalesce(stack_id, "
	        "excluded.stack_id)"
	        " RETURNING id, stack_id, first_seen, last_seen");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, fn, (int)fnlen, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, file, (int)filelen, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, pl->loc.line);
	sqlite3_bind_text(stmt, 4, op, (int)oplen, SQLITE_STATIC);
	if (stack_id > 0)
		sqlite3_bind_int64(stmt, 5, stack_id);
	sqlite3_bind_int64(stmt, 6, ts);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		snprintf(msg, sizeof(msg), "%s: storing a location", what);
		store_log_sqlite(st, msg);
		store_stmt_done(stmt);
		return -1;
	}
	e = intern_add(&ing->locs, h, key, keylen);
	e->id = sqlite3_column_int64(stmt, 0);
	e->stack_id = sqlite3_column_int64(stmt, 1);
	e->first_seen = sqlite3_column_int64(stmt, 2);
	e->last_seen = sqlite3_column_int64(stmt, 3);
	store_stmt_done(stmt);
	return e->id;
}

int
store_add_scrape(struct store *st, const struct scrape_record *rec)
{
	const struct profile *p;
	sqlite3_stmt *stmt;
	int64_t scrape_id;
	const char *status;
	bool ok;
	size_t i;
	char what[128];

	status = clean_text(rec->status ? rec->status : "unknown", STATUS_CAP,
	                    store_ingest_state(st)->status_buf);
	ok = strcmp(status, "ok") == 0;
	p = ok ? rec->profile : NULL;
	if (ok && p == NULL) {
		store_set_error(st, "scrape with status ok has no profile");
		log_err("store: '%s': target %" PRId64 ": %s", store_path(st), rec->target_id,
		        store_errmsg(st));
		return -1;
	}
	snprintf(what, sizeof(what), "recording a scrape of target %" PRId64, rec->target_id);
	if (store_begin(st) < 0)
		return -1;

	stmt = store_prepare(st, "INSERT INTO scrapes (target_id, ts, duration_ms, bytes, status, "
	                         "format, kind, detail, total_goroutines)"
	                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
	if (stmt == NULL)
		goto out_rollback;
	sqlite3_bind_int64(stmt, 1, rec->target_id);
	sqlite3_bind_int64(stmt, 2, rec->ts);
	sqlite3_bind_int64(stmt, 3, rec->duration_ms);
	sqlite3_bind_int64(stmt, 4, rec->bytes > INT64_MAX ? INT64_MAX : (int64_t)rec->bytes);
	sqlite3_bind_text(stmt, 5, status, -1, SQLITE_STATIC);
	if (p != NULL) {
		sqlite3_bind_text(stmt, 6, format_name(p->format), -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 7, profile_kind_name(p->kind), -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 9,
		                   p->total_goroutines > INT64_MAX ? INT64_MAX
		                                                   : (int64_t)p->total_goroutines);
	}
	sqlite3_bind_int(stmt, 8, rec->detail ? 1 : 0);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		store_log_sqlite(st, what);
		store_stmt_done(stmt);
		goto out_rollback;
	}
	store_stmt_done(stmt);
	scrape_id = sqlite3_last_insert_rowid(store_db(st));

	for (i = 0; p != NULL && i < p->nlocations; i++) {
		const struct prof_location *pl = &p->locations[i];
		int64_t location_id;

		location_id = intern_location(st, pl, rec->ts, what);
		if (location_id < 0)
			goto out_rollback;
		stmt = store_prepare(st, "INSERT INTO samples (scrape_id, location_id, count, "
		                         "leaked, max_wait, min_wait, median_wait)"
		                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
		                         " ON CONFLICT (scrape_id, location_id) DO UPDATE SET "
		                         "count = count + excluded.count,"
		                         " leaked = leaked + excluded.leaked, max_wait = "
		                         "max(max_wait, excluded.max_wait),"
		                         " min_wait = min(min_wait, excluded.min_wait)");
		if (stmt == NULL)
			goto out_rollback;
		sqlite3_bind_int64(stmt, 1, scrape_id);
		sqlite3_bind_int64(stmt, 2, location_id);
		sqlite3_bind_int64(stmt, 3, pl->count > INT64_MAX ? INT64_MAX : (int64_t)pl->count);
		sqlite3_bind_int64(stmt, 4,
		                   pl->leaked > INT64_MAX ? INT64_MAX : (int64_t)pl->leaked);
		store_bind_wait(stmt, 5, pl->max_wait_minutes);
		store_bind_wait(stmt, 6, pl->min_wait_minutes);
		store_bind_wait(stmt, 7, pl->median_wait_minutes);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			store_log_sqlite(st, what);
			store_stmt_done(stmt);
			goto out_rollback;
		}
		store_stmt_done(stmt);
	}

	stmt = store_prepare(st, "UPDATE targets SET last_scrape = ?2, last_duration_ms = ?3, "
	                         "last_bytes = ?4, last_status = ?5,"
	                         " consecutive_failures = ?6,"
	                         " last_success = CASE WHEN ?7 THEN ?2 ELSE last_success END,"
	                         " last_goroutines = CASE WHEN ?7 THEN ?8 ELSE last_goroutines END"
	                         " WHERE id = ?1");
	if (stmt == NULL)
		goto out_rollback;
	sqlite3_bind_int64(stmt, 1, rec->target_id);
	sqlite3_bind_int64(stmt, 2, rec->ts);
	sqlite3_bind_int64(stmt, 3, rec->duration_ms);
	sqlite3_bind_int64(stmt, 4, rec->bytes > INT64_MAX ? INT64_MAX : (int64_t)rec->bytes);
	sqlite3_bind_text(stmt, 5, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 6, rec->consecutive_failures);
	sqlite3_bind_int(stmt, 7, ok ? 1 : 0);
	if (p != NULL)
		sqlite3_bind_int64(stmt, 8,
		                   p->total_goroutines > INT64_MAX ? INT64_MAX
		                                                   : (int64_t)p->total_goroutines);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		store_log_sqlite(st, what);
		store_stmt_done(stmt);
		goto out_rollback;
	}
	store_stmt_done(stmt);
	if (sqlite3_changes(store_db(st)) != 1) {
		store_set_error(st, "no target with id %" PRId64, rec->target_id);
		log_err("store: '%s': %s: %s", store_path(st), what, store_errmsg(st));
		goto out_rollback;
	}
	if (store_commit(st) < 0)
		return -1;
	return 0;

out_rollback:
	store_rollback(st);
	return -1;
}
