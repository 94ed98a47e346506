/* storage/store_ingest.c: one scrape into the store, in a transaction of its own or in a batch
 * (store_batch_begin()). See store_add_scrape() in store.h.
 *
 * A scrape's row, its per-location samples and its target's health are written together: on any
 * failure all of it is rolled back, with the rest of its batch. A failure is the scrape's own (a
 * constraint: it is rejected, and would be again) or the database's (full, locked, read-only: the
 * caller tries again later). Locations and stacks are
 * interned through small in-memory caches (struct store_ingest, one per connection) so that a
 * scrape of an unchanged service costs one INSERT per location and no lookups; a rollback drops the
 * caches, which may hold ids from the rolled-back transaction. Scraped strings are untrusted: they
 * are cut at a fixed length and made valid UTF-8 before they reach the database, so every reader
 * can put them into JSON as they are. On PostgreSQL each raw row carries its scrape's time
 * (scrape_ts), the key of the day partitions it goes into; a scrape of a day this connection has
 * not stored yet makes sure that day's partitions exist first.
 *
 * The same per-connection state remembers, per target, what its latest scrapes showed (the last
 * successful count scrape's time, total and largest locations with how long they held, the
 * intervals between successes, attempts that found no process since, the connection, the latest
 * debug=2 dump's largest goroutine id, its latest count scrapes): what lifetime_judge() compares a
 * new scrape with, and where lifetime_goid_place() may put a restart a dump shows. It is updated
 * only once a scrape is committed (in a batch: once it is written, so that a target's next scrape
 * in the same batch is judged against it; a batch rolled back forgets it all), and
 * forgotten as a whole when it holds too many targets; a
 * target it does not know is judged against its stored previous scrape, on the signals that the
 * database holds.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/hash.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "base/xalloc.h"
#include "storage/lifetime.h"
#include "storage/schema_pg.h"
#include "storage/store.h"
#include "storage/store_internal.h"

#define CACHE_MAX (1u << 17)        /* interned locations / stacks remembered per connection */
#define CACHE_KEY_BYTES (32u << 20) /* bytes of location keys remembered per connection */
#define TEXT_CAP 2048               /* bytes kept of a scraped function or file name */
#define OP_CAP 128                  /* bytes kept of an op name */
#define STATUS_CAP 512              /* bytes kept of a scrape status */
#define STACK_FRAMES 128            /* frames kept of a representative stack */
#define SEEN_SLACK_MS 30000         /* locations.last_seen is rewritten at most this often */
#define LIFE_TARGETS_MAX (1u << 16) /* targets whose latest scrapes a connection remembers */
#define LIFE_LOCS 32                /* largest locations remembered per target, for steep falls */
#define LIFE_GAPS 3                 /* intervals between successes remembered (their median) */
#define LIFE_RECENT 16 /* count scrapes remembered per target: a goid restart's place */
#define DAYS_KNOWN 4   /* PostgreSQL: days whose partitions a connection knows exist */

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

/* One location's count in a scrape, and for how many successful count scrapes in a row it has
 * held at least LIFETIME_FALL_MIN. */
struct life_loc {
	int64_t location_id;
	uint64_t count;
	unsigned held;
};

/* A recent successful count scrape of a target, where a goid restart may go. */
struct life_recent {
	int64_t scrape_id;
	int64_t ts;
	struct lifetime_candidate c;
};

/* What the latest scrapes of one target showed (see the file comment). */
struct life_target {
	int64_t target_id; /* 0: a free slot */
	bool have_ok;      /* a successful count scrape was seen on this connection */
	int64_t ok_ts;
	uint64_t total;
	int64_t gaps[LIFE_GAPS]; /* between successes, newest first */
	unsigned ngaps;
	unsigned down;           /* attempts since ok_ts that found no process */
	enum lifetime_conn conn; /* of the latest attempt */
	uint64_t goid;           /* largest goroutine id of the latest debug=2 dump; 0: none */
	int64_t goid_ts;
	struct life_loc locs[LIFE_LOCS]; /* of the last successful count scrape, largest first */
	size_t nlocs;
	struct life_recent recent[LIFE_RECENT]; /* its latest count scrapes, oldest first */
	size_t nrecent;
};

struct life_table {
	struct life_target *slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

/* A sample as PostgreSQL's batch gathers it: its place in the profile keeps the first of two with
 * one location first, as SQLite's upsert does. */
struct pg_sample {
	int64_t loc, count, leaked;
	int32_t max_wait, min_wait, median_wait; /* -1: unknown */
	size_t order;
};

struct store_ingest {
	struct intern_table locs;
	struct intern_table stacks;
	struct life_table life;
	int64_t *ids;           /* this scrape's location ids, in profile order */
	int64_t *reps;          /* and their representative stacks' ids (0: none) */
	struct life_recent now; /* this count scrape, among its target's recent ones once stored */
	int64_t goid_marked;    /* an earlier count scrape this scrape's dump marked (0: none) */
	int64_t goid_marked_ts; /* and its time */
	/* PostgreSQL: the latest days whose partitions exist (made sure of on this connection) */
	int64_t days[DAYS_KNOWN];
	unsigned ndays;
	struct life_loc *cur;      /* this count scrape's (location id, count), sorted by id */
	size_t ncur, capcur;       /* capcur: of both arrays */
	char fn_buf[TEXT_CAP + 1]; /* cleaned location strings */
	char file_buf[TEXT_CAP + 1];
	/* cleaned stack frame strings (jansson copies them at once) */
	char frame_fn_buf[TEXT_CAP + 1];
	char frame_file_buf[TEXT_CAP + 1];
	char op_buf[OP_CAP + 1];
	char status_buf[STATUS_CAP + 1];
	/* PostgreSQL: this scrape's samples and call sites, each written by one statement */
	struct pg_sample *pgs;
	size_t npgs, cappgs;
	struct store_pg_row *pgk; /* call sites: (location, stack, count) */
	size_t npgk, cappgk;
	struct sbuf cols[6]; /* their columns as array text */
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
	free(ing->life.slots);
	free(ing->ids);
	free(ing->reps);
	free(ing->cur);
	free(ing->pgs);
	free(ing->pgk);
	for (size_t i = 0; i < sizeof(ing->cols) / sizeof(ing->cols[0]); i++)
		sbuf_release(&ing->cols[i]);
	free(ing);
}

void
store_ingest_forget(struct store_ingest *ing)
{
	intern_clear(&ing->locs);
	intern_clear(&ing->stacks);
	/* partitions made in a transaction rolled back, or dropped by retention */
	ing->ndays = 0;
}

void
store_ingest_forget_lifetimes(struct store_ingest *ing)
{
	free(ing->life.slots);
	ing->life = (struct life_table){0};
}

/* ---- What the latest scrapes of each target showed ---- */

static struct life_target *
life_find(struct life_table *t, int64_t target_id)
{
	size_t i;

	if (t->cap == 0)
		return NULL;
	for (i = hash_mix64((uint64_t)target_id) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		if (t->slots[i].target_id == target_id)
			return &t->slots[i];
		if (t->slots[i].target_id == 0)
			return NULL;
	}
}

/* The entry of 'target_id', added empty when new. Forgets every target when the table is full:
 * each then loses the signals of one scrape. */
static struct life_target *
life_get(struct life_table *t, int64_t target_id)
{
	struct life_target *e = life_find(t, target_id);
	size_t i;

	if (e != NULL)
		return e;
	if (t->n >= LIFE_TARGETS_MAX) {
		free(t->slots);
		*t = (struct life_table){0};
	}
	if ((t->n + 1) * 2 > t->cap) {
		struct life_table bigger = {.cap = t->cap ? t->cap * 2 : 64, .n = t->n};

		bigger.slots = xcalloc(bigger.cap, sizeof(*bigger.slots));
		for (i = 0; i < t->cap; i++) {
			size_t j;

			if (t->slots[i].target_id == 0)
				continue;
			for (j = hash_mix64((uint64_t)t->slots[i].target_id) & (bigger.cap - 1);
			     bigger.slots[j].target_id != 0; j = (j + 1) & (bigger.cap - 1))
				;
			bigger.slots[j] = t->slots[i];
		}
		free(t->slots);
		*t = bigger;
	}
	for (i = hash_mix64((uint64_t)target_id) & (t->cap - 1); t->slots[i].target_id != 0;
	     i = (i + 1) & (t->cap - 1))
		;
	e = &t->slots[i];
	*e = (struct life_target){.target_id = target_id};
	t->n++;
	return e;
}

static int
cmp_life_loc_id(const void *a, const void *b)
{
	const struct life_loc *x = a, *y = b;

	return (x->location_id > y->location_id) - (x->location_id < y->location_id);
}

/* This scrape's count at 'location_id' (ing->cur, sorted by id); 0 when absent. */
static uint64_t
cur_count(const struct store_ingest *ing, int64_t location_id)
{
	size_t lo = 0, hi = ing->ncur;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ing->cur[mid].location_id < location_id)
			lo = mid + 1;
		else if (ing->cur[mid].location_id > location_id)
			hi = mid;
		else
			return ing->cur[mid].count;
	}
	return 0;
}

static int64_t
median_gap(const struct life_target *e)
{
	int64_t g[LIFE_GAPS];

	if (e->ngaps == 0)
		return 0;
	memcpy(g, e->gaps, e->ngaps * sizeof(*g));
	for (unsigned i = 1; i < e->ngaps; i++)
		for (unsigned j = i; j > 0 && g[j - 1] > g[j]; j--) {
			int64_t x = g[j];

			g[j] = g[j - 1];
			g[j - 1] = x;
		}
	return g[e->ngaps / 2];
}

/* The target's stored successful count scrape before 'ts': 0 found (*ts_out, *total), 1 none,
 * -1 error (logged). */
static int
stored_previous(struct store *st, int64_t target_id, int64_t ts, int64_t *prev_ts, uint64_t *total,
                const char *what)
{
	struct db_stmt *stmt = store_prepare(
	    st, "SELECT ts, coalesce(total_goroutines, 0) FROM scrapes WHERE target_id = ?1"
	        " AND ts < ?2 AND status = 'ok' AND detail = 0 ORDER BY ts DESC LIMIT 1");
	char msg[256];
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, target_id);
	db_bind_int64(stmt, 2, ts);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		*prev_ts = db_column_int64(stmt, 0);
		*total = (uint64_t)db_column_int64(stmt, 1);
		store_stmt_done(stmt);
		return 0;
	}
	if (rc == DB_DONE) {
		store_stmt_done(stmt);
		return 1;
	}
	snprintf(msg, sizeof(msg), "%s: reading the previous scrape", what);
	store_log_db(st, msg);
	store_stmt_done(stmt);
	return -1;
}

/* Where a successful count scrape of 'rec' at 'ts' stands in its target's process lifetimes, with
 * ing->cur holding its counts. 'e' is what this connection saw of the target (NULL: nothing).
 * LIFETIME_SAME, a reason, or -1 on a storage error (logged). */
static int
judge_count_scrape(struct store *st, const struct scrape_record *rec, const struct profile *p,
                   const struct life_target *e, unsigned *held_falls, const char *what)
{
	struct store_ingest *ing = store_ingest_state(st);
	struct lifetime_fall falls[LIFE_LOCS];
	struct lifetime_step step = {
	    .ts = rec->ts,
	    .total = p->total_goroutines,
	    .conn = rec->connection,
	    .goid = p->max_goid,
	};
	int rc;

	if (e != NULL && e->have_ok && e->ok_ts < rec->ts) {
		step.have_prev = true;
		step.session = true;
		step.prev_ts = e->ok_ts;
		step.prev_total = e->total;
		step.interval_ms = median_gap(e);
		step.down_between = e->down;
		step.prev_conn = e->conn;
		/* Only a dump at or after the previous count scrape tells about this step; an older
		 * one leaves the place of a restart open (see place_goid_restart()). */
		if (e->goid_ts >= e->ok_ts)
			step.prev_goid = e->goid;
		for (size_t i = 0; i < e->nlocs; i++)
			falls[i] = (struct lifetime_fall){
			    .before = e->locs[i].count,
			    .after = cur_count(ing, e->locs[i].location_id),
			    .held = e->locs[i].held,
			};
		step.falls = e->nlocs ? falls : NULL;
		step.nfalls = e->nlocs;
		*held_falls = lifetime_count_falls(step.falls, step.nfalls).place;
		return (int)lifetime_judge(&step);
	}
	rc = stored_previous(st, rec->target_id, rec->ts, &step.prev_ts, &step.prev_total, what);
	if (rc < 0)
		return -1;
	step.have_prev = rc == 0;
	return (int)lifetime_judge(&step);
}

/* A debug=2 dump whose goroutine ids started again from low numbers since the target's dump at
 * 'prev_goid_ts': the process restarted in between, at one of the count scrapes since (the recent
 * ones 'e' remembers, and this one, ing->now, when 'count_scrape'). lifetime_goid_place() says
 * which: *reason becomes LIFETIME_GOID when it is this one, ing->goid_marked names it when it is
 * an earlier one. Nothing when more count scrapes came since the dump than 'e' remembers. */
static void
place_goid_restart(struct store_ingest *ing, const struct life_target *e, int64_t prev_goid_ts,
                   bool count_scrape, int *reason)
{
	struct lifetime_candidate c[LIFE_RECENT + 1];
	const struct life_recent *r[LIFE_RECENT + 1];
	size_t n = 0, k;

	if (e->nrecent == LIFE_RECENT && e->recent[0].ts > prev_goid_ts)
		return;
	for (size_t i = 0; i < e->nrecent; i++) {
		if (e->recent[i].ts <= prev_goid_ts)
			continue;
		r[n] = &e->recent[i];
		c[n++] = e->recent[i].c;
	}
	if (count_scrape) {
		r[n] = &ing->now;
		c[n++] = ing->now.c;
	}
	k = lifetime_goid_place(c, n);
	if (k == n)
		return;
	if (r[k] == &ing->now)
		*reason = LIFETIME_GOID;
	else {
		ing->goid_marked = r[k]->scrape_id;
		ing->goid_marked_ts = r[k]->ts;
	}
}

/* After a committed scrape: remember what it showed of its target. */
static void
life_remember(struct store *st, const struct scrape_record *rec, const struct profile *p, bool ok)
{
	struct store_ingest *ing = store_ingest_state(st);
	struct life_loc prev[LIFE_LOCS];
	struct life_target *e;
	size_t nprev;

	if (!ok) {
		e = life_find(&ing->life, rec->target_id);
		if (e != NULL) {
			if (lifetime_status_down(rec->status))
				e->down++;
			e->conn = LIFETIME_CONN_UNKNOWN;
		}
		return;
	}
	e = life_get(&ing->life, rec->target_id);
	if (e->have_ok && rec->ts <= e->ok_ts)
		return; /* out of order: keep the latest */
	e->conn = rec->connection;
	if (p->max_goid > 0) {
		e->goid = p->max_goid;
		e->goid_ts = rec->ts;
	}
	for (size_t i = 0; ing->goid_marked != 0 && i < e->nrecent; i++)
		if (e->recent[i].scrape_id == ing->goid_marked)
			e->recent[i].c.restart = true;
	if (rec->detail)
		return;
	if (e->nrecent == LIFE_RECENT)
		memmove(e->recent, e->recent + 1, (LIFE_RECENT - 1) * sizeof(*e->recent));
	else
		e->nrecent++;
	e->recent[e->nrecent - 1] = ing->now;
	if (e->have_ok) {
		memmove(e->gaps + 1, e->gaps, (LIFE_GAPS - 1) * sizeof(*e->gaps));
		e->gaps[0] = rec->ts - e->ok_ts;
		if (e->ngaps < LIFE_GAPS)
			e->ngaps++;
	}
	e->have_ok = true;
	e->ok_ts = rec->ts;
	e->total = p->total_goroutines;
	e->down = 0;
	/* The LIFE_LOCS largest that can fall steeply, largest first, with how long they held. */
	memcpy(prev, e->locs, e->nlocs * sizeof(*prev));
	nprev = e->nlocs;
	e->nlocs = 0;
	for (size_t i = 0; i < ing->ncur; i++) {
		struct life_loc l = ing->cur[i];
		size_t k;

		if (l.count < LIFETIME_FALL_MIN)
			continue;
		if (e->nlocs == LIFE_LOCS && l.count <= e->locs[LIFE_LOCS - 1].count)
			continue;
		l.held = 1;
		for (size_t j = 0; j < nprev; j++)
			if (prev[j].location_id == l.location_id)
				l.held = prev[j].held + 1;
		k = e->nlocs < LIFE_LOCS ? e->nlocs++ : LIFE_LOCS - 1;
		while (k > 0 && e->locs[k - 1].count < l.count) {
			e->locs[k] = e->locs[k - 1];
			k--;
		}
		e->locs[k] = l;
	}
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
		size_t n;

		/* printable ASCII, nearly every byte of a Go name: no call per byte */
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			i++;
			continue;
		}
		n = utf8_seq(p + i, len - i);
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

/* The stack's id, inserting it when new, its last_seen brought to 'ts' when due. 0 when the stack
 * is empty, -1 on error. */
static int64_t
intern_stack(struct store *st, const struct frame *stack, size_t nstack, int64_t ts,
             const char *what)
{
	struct store_ingest *ing = store_ingest_state(st);
	struct intern *e;
	struct db_stmt *stmt;
	uint64_t h = HASH_FNV1A_INIT;
	json_t *arr;
	char *text;
	int64_t id, seen = 0;
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
		goto out_seen;

	stmt = store_prepare(st, "SELECT id, last_seen FROM stacks WHERE hash = ?1");
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, (int64_t)h);
	switch (db_step(stmt)) {
	case DB_ROW:
		id = db_column_int64(stmt, 0);
		seen = db_column_int64(stmt, 1);
		store_stmt_done(stmt);
		goto out_cache;
	case DB_DONE:
		store_stmt_done(stmt);
		break;
	default:
		snprintf(msg, sizeof(msg), "%s: looking up a stack", what);
		store_log_db(st, msg);
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
	stmt = store_prepare(
	    st, "INSERT INTO stacks (hash, frames, last_seen) VALUES (?1, ?2, ?3) RETURNING id");
	if (stmt == NULL) {
		free(text);
		return -1;
	}
	db_bind_int64(stmt, 1, (int64_t)h);
	db_bind_text(stmt, 2, text);
	db_bind_int64(stmt, 3, ts);
	snprintf(msg, sizeof(msg), "%s: storing a stack", what);
	id = store_step_id(st, stmt, msg);
	free(text);
	if (id < 0)
		return -1;
	seen = ts;
out_cache:
	e = intern_add(&ing->stacks, h, NULL, 0);
	e->id = id;
	e->last_seen = seen;
out_seen:
	/* last_seen tells retention the stack is in use: rewritten at most every SEEN_SLACK_MS. */
	if (ts < e->last_seen + SEEN_SLACK_MS)
		return e->id;
	stmt = store_prepare(
	    st, "UPDATE stacks SET last_seen = " STORE_SQL_MAX("last_seen", "?2") " WHERE id = ?1");
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, e->id);
	db_bind_int64(stmt, 2, ts);
	snprintf(msg, sizeof(msg), "%s: updating a stack", what);
	if (store_step_write(st, stmt, msg) != 0)
		return -1;
	e->last_seen = ts;
	return e->id;
}

/* A call site's row: on PostgreSQL with its scrape's time, the partition key (?5). */
#define SAMPLE_STACK_UPSERT " DO UPDATE SET count = sample_stacks.count + excluded.count"
static const char stacks_sqlite[] =
    "INSERT INTO sample_stacks (scrape_id, location_id, stack_id, count) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (scrape_id, location_id, stack_id)" SAMPLE_STACK_UPSERT;
/* PostgreSQL writes a scrape's call sites at once (pg_flush()): (?1 scrape, ?2 its ts) and the
 * rows' columns as arrays, one after the other (unnest). */
static const char stacks_pg[] =
    "INSERT INTO sample_stacks (scrape_id, location_id, stack_id, count, scrape_ts)"
    " SELECT ?1, u.l, u.k, u.c, ?2 FROM unnest(CAST(?3 AS BIGINT[]), CAST(?4 AS BIGINT[]),"
    " CAST(?5 AS BIGINT[])) AS u (l, k, c)"
    " ON CONFLICT (scrape_id, location_id, stack_id, scrape_ts)" SAMPLE_STACK_UPSERT;

/* The distinct stacks behind the location of 'pl' in count scrape 'scrape_id' (its stack alone
 * for a profile that has no per-stack counts), stored when its op may leak: which caller of a
 * shared helper holds its goroutines. A location whose goroutines all have its representative
 * stack ('rep') stores none: its sample says it all. 0, or -1 on error. */
static int
store_sample_stacks(struct store *st, int64_t scrape_id, int64_t location_id,
                    const struct prof_location *pl, int64_t rep, int64_t ts, const char *what)
{
	const struct prof_stack one = {
	    .frames = pl->stack, .nframes = pl->nstack, .count = pl->count};
	const struct prof_stack *v = pl->nstacks ? pl->stacks : &one;
	size_t n = pl->nstacks ? pl->nstacks : 1;
	struct db_stmt *stmt;
	bool pg = store_on_pg(st);

	if (!profile_op_may_leak(pl->op))
		return 0;
	for (size_t i = 0; i < n; i++) {
		int64_t stack_id;

		if (v[i].count == 0)
			continue;
		stack_id = intern_stack(st, v[i].frames, v[i].nframes, ts, what);
		if (stack_id <= 0) {
			if (stack_id < 0)
				return -1;
			continue;
		}
		if (n == 1 && stack_id == rep && v[i].count == pl->count)
			return 0;
		if (pg) {
			struct store_ingest *ing = store_ingest_state(st);

			if (ing->npgk == ing->cappgk) {
				ing->cappgk = ing->cappgk ? ing->cappgk * 2 : 64;
				ing->pgk = xrealloc(ing->pgk, ing->cappgk * sizeof(*ing->pgk));
			}
			ing->pgk[ing->npgk++] = (struct store_pg_row){
			    .a = location_id,
			    .b = stack_id,
			    .count = v[i].count > INT64_MAX ? INT64_MAX : (int64_t)v[i].count};
			continue;
		}
		stmt = store_prepare(st, stacks_sqlite);
		if (stmt == NULL)
			return -1;
		db_bind_int64(stmt, 1, scrape_id);
		db_bind_int64(stmt, 2, location_id);
		db_bind_int64(stmt, 3, stack_id);
		db_bind_int64(stmt, 4, v[i].count > INT64_MAX ? INT64_MAX : (int64_t)v[i].count);
		if (store_step_write(st, stmt, what) != 0)
			return -1;
	}
	return 0;
}

/* A known location seen again: the times widened, the stack set when it had none. */
/* clang-format off */
static const char location_touch_sql[] =
    "UPDATE locations SET last_seen = " STORE_SQL_MAX("last_seen", "?2") ","
    " first_seen = " STORE_SQL_MIN("first_seen", "?2") ","
    " stack_id = coalesce(stack_id, ?3) WHERE id = ?1";
#define LOCATION_LAST_SEEN STORE_SQL_MAX("locations.last_seen", "excluded.last_seen")
#define LOCATION_FIRST_SEEN STORE_SQL_MIN("locations.first_seen", "excluded.first_seen")
/* clang-format on */

/* The location's id, inserting it (and its stack) or refreshing its last_seen and stack when due,
 * with its representative stack's id in '*rep' (0: none). -1 on error. */
static int64_t
intern_location(struct store *st, const struct prof_location *pl, int64_t ts, int64_t *rep,
                const char *what)
{
	struct store_ingest *ing = store_ingest_state(st);
	const char *fn = clean_text(pl->loc.function, TEXT_CAP, ing->fn_buf);
	const char *file = clean_text(pl->loc.file, TEXT_CAP, ing->file_buf);
	const char *op = clean_text(pl->op, OP_CAP, ing->op_buf);
	size_t fnlen = strlen(fn), filelen = strlen(file), oplen = strlen(op);
	char key[TEXT_CAP * 2 + OP_CAP + 16];
	struct intern *e;
	struct db_stmt *stmt;
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
		db_bind_text_n(stmt, 1, fn, fnlen);
		db_bind_text_n(stmt, 2, file, filelen);
		db_bind_int64(stmt, 3, pl->loc.line);
		db_bind_text_n(stmt, 4, op, oplen);
		switch (db_step(stmt)) {
		case DB_ROW:
			e = intern_add(&ing->locs, h, key, keylen);
			e->id = db_column_int64(stmt, 0);
			e->stack_id = db_column_int64(stmt, 1);
			e->first_seen = db_column_int64(stmt, 2);
			e->last_seen = db_column_int64(stmt, 3);
			break;
		case DB_DONE:
			break;
		default:
			snprintf(msg, sizeof(msg), "%s: looking up a location", what);
			store_log_db(st, msg);
			store_stmt_done(stmt);
			return -1;
		}
		store_stmt_done(stmt);
	}
	*rep = e != NULL ? e->stack_id : 0;
	if (e != NULL && ts < e->last_seen + SEEN_SLACK_MS && ts >= e->first_seen &&
	    (e->stack_id > 0 || pl->nstack == 0))
		return e->id;
	stack_id = 0;
	if (e == NULL || e->stack_id == 0) {
		stack_id = intern_stack(st, pl->stack, pl->nstack, ts, what);
		if (stack_id < 0)
			return -1;
	}
	if (e != NULL) {
		stmt = store_prepare(st, location_touch_sql);
		if (stmt == NULL)
			return -1;
		db_bind_int64(stmt, 1, e->id);
		db_bind_int64(stmt, 2, ts);
		if (stack_id > 0)
			db_bind_int64(stmt, 3, stack_id);
		if (db_step(stmt) != DB_DONE) {
			snprintf(msg, sizeof(msg), "%s: updating a location", what);
			store_log_db(st, msg);
			store_stmt_done(stmt);
			return -1;
		}
		store_stmt_done(stmt);
		if (stack_id > 0)
			e->stack_id = stack_id;
		*rep = e->stack_id;
		if (ts > e->last_seen)
			e->last_seen = ts;
		if (ts < e->first_seen)
			e->first_seen = ts;
		return e->id;
	}

	stmt = store_prepare(
	    st, "INSERT INTO locations (function, file, line, op, stack_id, first_seen, last_seen)"
	        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)"
	        " ON CONFLICT (function, file, line, op) DO UPDATE SET"
	        " last_seen = " LOCATION_LAST_SEEN ", first_seen = " LOCATION_FIRST_SEEN ","
	        " stack_id = coalesce(locations.stack_id, excluded.stack_id)"
	        " RETURNING id, stack_id, first_seen, last_seen");
	if (stmt == NULL)
		return -1;
	db_bind_text_n(stmt, 1, fn, fnlen);
	db_bind_text_n(stmt, 2, file, filelen);
	db_bind_int64(stmt, 3, pl->loc.line);
	db_bind_text_n(stmt, 4, op, oplen);
	if (stack_id > 0)
		db_bind_int64(stmt, 5, stack_id);
	db_bind_int64(stmt, 6, ts);
	if (db_step(stmt) != DB_ROW) {
		snprintf(msg, sizeof(msg), "%s: storing a location", what);
		store_log_db(st, msg);
		store_stmt_done(stmt);
		return -1;
	}
	e = intern_add(&ing->locs, h, key, keylen);
	e->id = db_column_int64(stmt, 0);
	e->stack_id = db_column_int64(stmt, 1);
	e->first_seen = db_column_int64(stmt, 2);
	e->last_seen = db_column_int64(stmt, 3);
	*rep = e->stack_id;
	store_stmt_done(stmt);
	return e->id;
}

bool
store_on_pg(struct store *st)
{
	return db_kind(store_dbh(st)) == DB_POSTGRES;
}

/* PostgreSQL: whether the partitions of the day of 'ts' exist, made when missing if 'create'
 * (outside any transaction: making one locks its parent table, and every reader of it, until the
 * commit). A day found is remembered, so that its next scrapes do not ask again. 0 they exist, 1
 * missing, -1 error (logged). */
static int
ensure_day(struct store *st, int64_t ts, bool create, const char *what)
{
	struct store_ingest *ing = store_ingest_state(st);
	int64_t day = schema_pg_day(ts);
	struct db_stmt *stmt;
	char err[512];

	for (unsigned i = 0; i < ing->ndays; i++)
		if (ing->days[i] == day)
			return 0;
	if (create) {
		if (schema_pg_create_days(store_dbh(st), ts, ts, err, sizeof(err)) < 0) {
			store_set_error(st, "%s", err);
			log_err("store: '%s': %s: %s", store_path(st), what, err);
			return -1;
		}
	} else {
		stmt = store_prepare(
		    st, "SELECT bool_and(to_regclass(leakprofd_partition_name(p.t,"
		        " ?1)) IS NOT NULL) FROM unnest(leakprofd_partitioned()) AS p(t)");
		if (stmt == NULL)
			return -1;
		db_bind_int64(stmt, 1, day);
		switch (store_step_id(st, stmt, what)) {
		case -1:
			return -1;
		case 0:
			return 1;
		}
	}
	if (ing->ndays == DAYS_KNOWN) {
		memmove(ing->days, ing->days + 1, (DAYS_KNOWN - 1) * sizeof(*ing->days));
		ing->ndays--;
	}
	ing->days[ing->ndays++] = day;
	return 0;
}

/* PostgreSQL, in a batch: make the partitions of the day of 'ts', which are missing, between two
 * transactions when the batch has written nothing yet (it is committed empty and begun again).
 * 0 made, 1 not (the batch has written: the caller refuses it, to be made outside it), -1 error
 * (logged; the batch may be closed). */
static int
batch_restart(struct store *st, int64_t ts, const char *what)
{
	struct db_stmt *stmt = store_prepare(st, "SELECT txid_current_if_assigned() IS NULL");
	int64_t none;

	if (stmt == NULL)
		return -1;
	none = store_step_id(st, stmt, what);
	if (none < 0)
		return -1;
	if (none == 0)
		return 1;
	if (store_batch_commit(st) < 0 || ensure_day(st, ts, true, what) < 0 ||
	    store_batch_begin(st) < 0)
		return -1;
	return 0;
}

/* A scrape's row: on PostgreSQL its id from RETURNING; on SQLite from the connection, as RETURNING
 * costs a temporary table per scrape there (about 1% of the ingest's instructions). */
#define SCRAPE_INSERT                                                                              \
	"INSERT INTO scrapes (target_id, ts, duration_ms, bytes, status, format, kind, detail,"    \
	" total_goroutines, restart) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
static const char scrape_sqlite[] = SCRAPE_INSERT;
static const char scrape_pg[] = SCRAPE_INSERT " RETURNING id";

/* A sample's row: on PostgreSQL with its scrape's time, the partition key (?8). The waits keep
 * SQLite's max(NULL, x): unknown stays unknown. */
/* clang-format off */
#define SAMPLE_UPSERT                                                                              \
	" DO UPDATE SET count = samples.count + excluded.count,"                                   \
	" leaked = samples.leaked + excluded.leaked,"                                              \
	" max_wait = " STORE_SQL_MAX("samples.max_wait", "excluded.max_wait") ","                  \
	" min_wait = " STORE_SQL_MIN("samples.min_wait", "excluded.min_wait")
/* clang-format on */
static const char sample_sqlite[] =
    "INSERT INTO samples (scrape_id, location_id, count, leaked, max_wait, min_wait, median_wait)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (scrape_id, location_id)" SAMPLE_UPSERT;
/* PostgreSQL writes a scrape's samples at once (pg_flush()): (?1 scrape, ?2 its ts) and the rows'
 * columns as arrays. A statement per row cost a round trip and an executor start each, most of
 * a scrape's time on both sides. */
static const char sample_pg[] =
    "INSERT INTO samples (scrape_id, location_id, count, leaked, max_wait, min_wait, median_wait,"
    " scrape_ts) SELECT ?1, u.l, u.c, u.k, u.mx, u.mn, u.md, ?2 FROM unnest(CAST(?3 AS BIGINT[]),"
    " CAST(?4 AS BIGINT[]), CAST(?5 AS BIGINT[]), CAST(?6 AS BIGINT[]), CAST(?7 AS BIGINT[]),"
    " CAST(?8 AS BIGINT[])) AS u (l, c, k, mx, mn, md)"
    " ON CONFLICT (scrape_id, location_id, scrape_ts)" SAMPLE_UPSERT;

static int
cmp_pg_sample(const void *a, const void *b)
{
	const struct pg_sample *x = a, *y = b;

	if (x->loc != y->loc)
		return x->loc < y->loc ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

static int
cmp_pg_row(const void *a, const void *b)
{
	const struct store_pg_row *x = a, *y = b;

	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	return (x->b > y->b) - (x->b < y->b);
}

/* SQLite's max(a, b) and min(a, b) of two waits (-1: NULL, unknown) */
static int32_t
wait_max(int32_t a, int32_t b)
{
	return a < 0 || b < 0 ? -1 : a > b ? a : b;
}

static int32_t
wait_min(int32_t a, int32_t b)
{
	return a < 0 || b < 0 ? -1 : a < b ? a : b;
}

/* Count 'a' plus 'b', saturated: a merged row's count. */
static int64_t
count_add(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* A scrape's rows of one raw table go to PostgreSQL as 'k' columns of array text ("{1,2,NULL}")
 * in c[0..k): start them empty, append a value to one, and write them with 'sql' (?1 the scrape's
 * id, ?2 its ts, ?3 onwards the columns). */
static void
arrays_open(struct sbuf *c, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		c[i].len = 0;
		c[i].failed = false;
		sbuf_puts(&c[i], "{");
	}
}

/* Append 'v' (NULL when 'null') to array text 'b'. */
static void
array_add(struct sbuf *b, int64_t v, bool null)
{
	sbuf_puts(b, b->len > 1 ? "," : "");
	if (null)
		sbuf_puts(b, "NULL");
	else
		sbuf_addf(b, "%" PRId64, v);
}

/* 0, or -1 (logged). */
static int
arrays_write(struct store *st, const char *sql, int64_t scrape_id, int64_t ts, struct sbuf *c,
             size_t k, const char *what)
{
	struct db_stmt *stmt;

	for (size_t i = 0; i < k; i++) {
		sbuf_puts(&c[i], "}");
		if (c[i].failed) {
			store_set_error(st, "%s: out of memory", what);
			log_err("store: '%s': %s", store_path(st), store_errmsg(st));
			return -1;
		}
	}
	stmt = store_prepare(st, sql);
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, scrape_id);
	db_bind_int64(stmt, 2, ts);
	for (size_t i = 0; i < k; i++)
		db_bind_text_n(stmt, (int)i + 3, c[i].p, c[i].len);
	return store_step_write(st, stmt, what);
}

/* Write the samples and call sites gathered for scrape 'scrape_id' taken at 'ts' (PostgreSQL),
 * rows of one key merged as the upserts of SQLite's statement-per-row merge them: counts added,
 * waits by SQLite's max and min, the first median. 0, or -1 (logged). */
static int
pg_flush(struct store *st, struct store_ingest *ing, int64_t scrape_id, int64_t ts,
         const char *what)
{
	struct sbuf *c = ing->cols;
	size_t i, n;

	qsort(ing->pgs, ing->npgs, sizeof(*ing->pgs), cmp_pg_sample);
	for (i = n = 0; i < ing->npgs; i++) {
		struct pg_sample *x = &ing->pgs[i];

		if (n > 0 && ing->pgs[n - 1].loc == x->loc) {
			struct pg_sample *m = &ing->pgs[n - 1];

			m->count = count_add(m->count, x->count);
			m->leaked = count_add(m->leaked, x->leaked);
			m->max_wait = wait_max(m->max_wait, x->max_wait);
			m->min_wait = wait_min(m->min_wait, x->min_wait);
			continue;
		}
		ing->pgs[n++] = *x;
	}
	ing->npgs = 0;
	if (n > 0) {
		arrays_open(c, 6);
		for (i = 0; i < n; i++) {
			const struct pg_sample *x = &ing->pgs[i];

			array_add(&c[0], x->loc, false);
			array_add(&c[1], x->count, false);
			array_add(&c[2], x->leaked, false);
			array_add(&c[3], x->max_wait, x->max_wait < 0);
			array_add(&c[4], x->min_wait, x->min_wait < 0);
			array_add(&c[5], x->median_wait, x->median_wait < 0);
		}
		if (arrays_write(st, sample_pg, scrape_id, ts, c, 6, what) != 0)
			return -1;
	}
	n = ing->npgk;
	ing->npgk = 0;
	return store_pg_write_rows(st, stacks_pg, scrape_id, ts, ing->pgk, n, what);
}

int
store_pg_write_rows(struct store *st, const char *sql, int64_t scrape_id, int64_t ts,
                    struct store_pg_row *rows, size_t nrows, const char *what)
{
	struct sbuf *c = store_ingest_state(st)->cols;
	size_t i, n;

	if (nrows == 0)
		return 0;
	qsort(rows, nrows, sizeof(*rows), cmp_pg_row);
	for (i = n = 0; i < nrows; i++) {
		if (n > 0 && rows[n - 1].a == rows[i].a && rows[n - 1].b == rows[i].b)
			rows[n - 1].count = count_add(rows[n - 1].count, rows[i].count);
		else
			rows[n++] = rows[i];
	}
	arrays_open(c, 3);
	for (i = 0; i < n; i++) {
		array_add(&c[0], rows[i].a, false);
		array_add(&c[1], rows[i].b, false);
		array_add(&c[2], rows[i].count, false);
	}
	return arrays_write(st, sql, scrape_id, ts, c, 3, what);
}

/* A restart placed on an earlier scrape (?1), for the readers that follow them; on PostgreSQL with
 * that scrape's time (?2). */
static const char move_sqlite[] = "INSERT INTO restart_moves (scrape_id) VALUES (?1)";
static const char move_pg[] =
    "INSERT INTO restart_moves (scrape_id, scrape_ts) VALUES (?1, ?2) RETURNING seq";

/* store_add_scrape(), once: sets *no_partition (the scrape rolled back, -1) when PostgreSQL had no
 * partition for a row of it. */
static int
add_scrape(struct store *st, const struct scrape_record *rec, bool *no_partition)
{
	struct store_ingest *ing = store_ingest_state(st);
	const struct profile *p;
	const struct life_target *e;
	struct db_stmt *stmt;
	int64_t scrape_id;
	const char *status;
	bool ok, count_scrape, batch = store_batch_open(st), rejected = false, pg = store_on_pg(st);
	bool missing_day = false;
	int reason = LIFETIME_SAME;
	unsigned held_falls = 0;
	size_t i;
	char what[128];

	status = clean_text(rec->status ? rec->status : "unknown", STATUS_CAP, ing->status_buf);
	ok = strcmp(status, "ok") == 0;
	p = ok ? rec->profile : NULL;
	if (ok && p == NULL) {
		store_set_error(st, "scrape with status ok has no profile");
		log_err("store: '%s': target %" PRId64 ": %s", store_path(st), rec->target_id,
		        store_errmsg(st));
		if (batch)
			store_rollback(st); /* as for any failure */
		return 1;
	}
	count_scrape = p != NULL && !rec->detail;
	snprintf(what, sizeof(what), "recording a scrape of target %" PRId64, rec->target_id);
	/* PostgreSQL: the day's partitions made before the transaction when it is the scrape's own;
	 * in a batch, found, or made between two transactions (batch_restart()) */
	if (pg && !batch && ensure_day(st, rec->ts, true, what) < 0)
		return -1;
	if (pg && batch) {
		int rc = ensure_day(st, rec->ts, false, what);

		if (rc > 0)
			rc = batch_restart(st, rec->ts, what);
		if (rc < 0)
			goto out_rollback;
		if (rc > 0) {
			store_set_error(st, "no partitions for the day of %" PRId64, rec->ts);
			missing_day = true;
			goto out_rollback;
		}
	}
	if (!batch && store_begin(st) < 0)
		return -1;

	/* Locations first: the lifetime is judged on their counts before the scrape's row is
	 * written. */
	ing->ncur = 0;
	if (p != NULL && p->nlocations > ing->capcur) {
		free(ing->ids);
		free(ing->reps);
		free(ing->cur);
		ing->capcur = p->nlocations;
		ing->ids = xcalloc(ing->capcur, sizeof(*ing->ids));
		ing->reps = xcalloc(ing->capcur, sizeof(*ing->reps));
		ing->cur = xcalloc(ing->capcur, sizeof(*ing->cur));
	}
	for (i = 0; p != NULL && i < p->nlocations; i++) {
		ing->ids[i] = intern_location(st, &p->locations[i], rec->ts, &ing->reps[i], what);
		if (ing->ids[i] < 0)
			goto out_rollback;
	}
	e = life_find(&ing->life, rec->target_id);
	if (count_scrape) {
		for (i = 0; i < p->nlocations; i++)
			ing->cur[i] = (struct life_loc){.location_id = ing->ids[i],
			                                .count = p->locations[i].count};
		if (p->nlocations > 1)
			qsort(ing->cur, p->nlocations, sizeof(*ing->cur), cmp_life_loc_id);
		/* Summed by location: two entries may share one once their text is cleaned. */
		for (i = 0; i < p->nlocations; i++) {
			if (ing->ncur > 0 &&
			    ing->cur[ing->ncur - 1].location_id == ing->cur[i].location_id)
				ing->cur[ing->ncur - 1].count += ing->cur[i].count;
			else
				ing->cur[ing->ncur++] = ing->cur[i];
		}
		reason = judge_count_scrape(st, rec, p, e, &held_falls, what);
		if (reason < 0)
			goto out_rollback;
	}
	ing->now = (struct life_recent){
	    .ts = rec->ts, .c = {.restart = reason != LIFETIME_SAME, .held_falls = held_falls}};
	ing->goid_marked = 0;
	/* A dump that the previous count scrape's step could not be judged with (a detail scrape,
	 * or one older than that scrape) places a goid restart among the scrapes since. */
	if (p != NULL && p->max_goid > 0 && e != NULL && e->goid > 0 && e->goid_ts < rec->ts &&
	    (rec->detail || !e->have_ok || e->goid_ts < e->ok_ts) &&
	    lifetime_goid_restarted(e->goid, p->max_goid))
		place_goid_restart(ing, e, e->goid_ts, count_scrape, &reason);
	ing->now.c.restart = reason != LIFETIME_SAME;

	stmt = store_prepare(st, pg ? scrape_pg : scrape_sqlite);
	if (stmt == NULL)
		goto out_rollback;
	db_bind_int64(stmt, 1, rec->target_id);
	db_bind_int64(stmt, 2, rec->ts);
	db_bind_int64(stmt, 3, rec->duration_ms);
	db_bind_int64(stmt, 4, rec->bytes > INT64_MAX ? INT64_MAX : (int64_t)rec->bytes);
	db_bind_text(stmt, 5, status);
	if (p != NULL) {
		db_bind_text(stmt, 6, format_name(p->format));
		db_bind_text(stmt, 7, profile_kind_name(p->kind));
		db_bind_int64(stmt, 9,
		              p->total_goroutines > INT64_MAX ? INT64_MAX
		                                              : (int64_t)p->total_goroutines);
	}
	db_bind_int64(stmt, 8, rec->detail ? 1 : 0);
	if (reason != LIFETIME_SAME)
		db_bind_text(stmt, 10, lifetime_reason_name((enum lifetime_reason)reason));
	if (pg) {
		scrape_id = store_step_id(st, stmt, what);
		if (scrape_id < 0)
			goto out_rollback;
	} else {
		if (store_step_write(st, stmt, what) != 0)
			goto out_rollback;
		scrape_id = db_last_insert_rowid(store_dbh(st));
	}
	ing->now.scrape_id = scrape_id;
	store_mark_written(st, scrape_id, 0);

	/* PostgreSQL: gathered, then written at once (pg_flush()) */
	if (pg && p != NULL && p->nlocations > 0) {
		ing->npgs = ing->npgk = 0;
		if (ing->cappgs < p->nlocations) {
			ing->cappgs = p->nlocations;
			ing->pgs = xrealloc(ing->pgs, ing->cappgs * sizeof(*ing->pgs));
		}
		for (i = 0; i < p->nlocations; i++) {
			const struct prof_location *pl = &p->locations[i];

			ing->pgs[ing->npgs++] = (struct pg_sample){
			    .loc = ing->ids[i],
			    .count = pl->count > INT64_MAX ? INT64_MAX : (int64_t)pl->count,
			    .leaked = pl->leaked > INT64_MAX ? INT64_MAX : (int64_t)pl->leaked,
			    .max_wait = pl->max_wait_minutes < 0 ? -1 : pl->max_wait_minutes,
			    .min_wait = pl->min_wait_minutes < 0 ? -1 : pl->min_wait_minutes,
			    .median_wait =
			        pl->median_wait_minutes < 0 ? -1 : pl->median_wait_minutes,
			    .order = i};
			if (count_scrape && store_sample_stacks(st, scrape_id, ing->ids[i], pl,
			                                        ing->reps[i], rec->ts, what) != 0)
				goto out_rollback;
		}
		if (pg_flush(st, ing, scrape_id, rec->ts, what) != 0)
			goto out_rollback;
	}
	/* SQLite: one statement for every sample: each step rebinds all but the scrape's id */
	if (!pg && p != NULL && p->nlocations > 0) {
		stmt = store_prepare(st, sample_sqlite);
		if (stmt == NULL)
			goto out_rollback;
		db_bind_int64(stmt, 1, scrape_id);
		for (i = 0; i < p->nlocations; i++) {
			const struct prof_location *pl = &p->locations[i];

			db_bind_int64(stmt, 2, ing->ids[i]);
			db_bind_int64(stmt, 3,
			              pl->count > INT64_MAX ? INT64_MAX : (int64_t)pl->count);
			db_bind_int64(stmt, 4,
			              pl->leaked > INT64_MAX ? INT64_MAX : (int64_t)pl->leaked);
			store_bind_wait(stmt, 5, pl->max_wait_minutes);
			store_bind_wait(stmt, 6, pl->min_wait_minutes);
			store_bind_wait(stmt, 7, pl->median_wait_minutes);
			if (db_step(stmt) != DB_DONE) {
				store_log_db(st, what);
				store_stmt_done(stmt);
				goto out_rollback;
			}
			/* the next binding starts the next run, ?1 (and ?8) kept */
			if (count_scrape && store_sample_stacks(st, scrape_id, ing->ids[i], pl,
			                                        ing->reps[i], rec->ts, what) != 0) {
				store_stmt_done(stmt);
				goto out_rollback;
			}
		}
		store_stmt_done(stmt);
	}
	if (count_scrape && store_labels_add(st, scrape_id, rec->ts, p, ing->ids) < 0)
		goto out_rollback;

	stmt = store_prepare(st, "UPDATE targets SET last_scrape = ?2, last_duration_ms = ?3, "
	                         "last_bytes = ?4, last_status = ?5,"
	                         " consecutive_failures = ?6,"
	                         " last_success = CASE WHEN ?7 <> 0 THEN ?2 ELSE last_success END,"
	                         " last_goroutines = CASE WHEN ?7 <> 0 THEN ?8"
	                         " ELSE last_goroutines END"
	                         " WHERE id = ?1");
	if (stmt == NULL)
		goto out_rollback;
	db_bind_int64(stmt, 1, rec->target_id);
	db_bind_int64(stmt, 2, rec->ts);
	db_bind_int64(stmt, 3, rec->duration_ms);
	db_bind_int64(stmt, 4, rec->bytes > INT64_MAX ? INT64_MAX : (int64_t)rec->bytes);
	db_bind_text(stmt, 5, status);
	db_bind_int64(stmt, 6, rec->consecutive_failures);
	db_bind_int64(stmt, 7, ok ? 1 : 0);
	if (p != NULL)
		db_bind_int64(stmt, 8,
		              p->total_goroutines > INT64_MAX ? INT64_MAX
		                                              : (int64_t)p->total_goroutines);
	if (db_step(stmt) != DB_DONE) {
		store_log_db(st, what);
		store_stmt_done(stmt);
		goto out_rollback;
	}
	store_stmt_done(stmt);
	if (db_changes(store_dbh(st)) != 1) {
		store_set_error(st, "no target with id %" PRId64, rec->target_id);
		log_err("store: '%s': %s: %s", store_path(st), what, store_errmsg(st));
		rejected = true;
		goto out_rollback;
	}
	if (ing->goid_marked != 0) {
		stmt =
		    store_prepare(st, "UPDATE scrapes SET restart = ?2 WHERE id = ?1 AND ts = ?3");
		if (stmt == NULL)
			goto out_rollback;
		db_bind_int64(stmt, 1, ing->goid_marked);
		db_bind_text(stmt, 2, lifetime_reason_name(LIFETIME_GOID));
		db_bind_int64(stmt, 3, ing->goid_marked_ts);
		if (store_step_write(st, stmt, what) != 0)
			goto out_rollback;
		stmt = store_prepare(st, pg ? move_pg : move_sqlite);
		if (stmt == NULL)
			goto out_rollback;
		db_bind_int64(stmt, 1, ing->goid_marked);
		if (pg) {
			int64_t seq;

			db_bind_int64(stmt, 2, ing->goid_marked_ts);
			seq = store_step_id(st, stmt, what);
			if (seq < 0)
				goto out_rollback;
			store_mark_written(st, 0, seq);
		} else {
			if (store_step_write(st, stmt, what) != 0)
				goto out_rollback;
			store_mark_written(st, 0, db_last_insert_rowid(store_dbh(st)));
		}
	}
	if (!batch && store_commit(st) < 0)
		return -1;
	life_remember(st, rec, p, ok);
	return 0;

out_rollback:
	/* Read before the rollback sets its own. A failure that belongs to the scrape (its data)
	 * rather than to the database (full, locked, read-only, an I/O error) rejects it: trying it
	 * again would fail again. A row of a day without partitions (SQLSTATE 23514: no partition
	 * of the table holds it; the raw tables have no CHECK constraint) is no such failure. */
	*no_partition =
	    missing_day || (!rejected && pg && strcmp(db_sqlstate(store_dbh(st)), "23514") == 0);
	rejected = !*no_partition && (rejected || db_failure(store_dbh(st)) == DB_FAIL_DATA);
	/* in a batch, the whole of it: part of this scrape would stay in it otherwise */
	store_rollback(st);
	return rejected ? 1 : -1;
}

int
store_add_scrape(struct store *st, const struct scrape_record *rec)
{
	bool batch = store_batch_open(st), no_partition = false;
	char what[128];
	int r = add_scrape(st, rec, &no_partition);

	if (!no_partition)
		return r;
	/* Its day had no partitions after all (dropped since this connection made sure of them, or
	 * made in a transaction rolled back): make them, outside any transaction now, and store the
	 * scrape once more. A batch is rolled back whole: its caller stores it again later. */
	snprintf(what, sizeof(what), "recording a scrape of target %" PRId64, rec->target_id);
	if (ensure_day(st, rec->ts, true, what) < 0 || batch)
		return -1;
	no_partition = false;
	r = add_scrape(st, rec, &no_partition);
	return no_partition ? -1 : r;
}
