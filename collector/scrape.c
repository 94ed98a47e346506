/* collector/scrape.c: the scraper: one libcurl multi handle, scheduled per target, driven by the
 * caller.
 *
 * Targets live in a min-heap keyed by their next due time (monotonic ms); a target is out of the
 * heap while its one transfer is in flight, which is what keeps two scrapes of one target from
 * overlapping. Slots are laid on the wall clock (phase + k × interval) so a restarted daemon keeps
 * every target's place in the interval, and converted to monotonic time for waiting; a few targets
 * joining together start at once, off the grid, and join it one interval later at the earliest.
 * Bodies are fetched by fetch.c (capped, redirects followed hop by hop with the credentials kept
 * home), parsed in the loop thread, and freed as soon as the result is delivered. */
#include "base/url.h"
#include "base/clock.h"
#include "base/hash.h"
#include "collector/scrape.h"
#include "collector/scrape_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define DEFAULT_MAX_CONCURRENT 64
#define JITTER_CAP_MS 5000u
#define IN_HEAP_NONE SIZE_MAX
#define MAX_CACHED_CONNECTIONS 256

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void
global_init_once(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_ALL);
}

int
scrape_global_init(void)
{
	pthread_once(&global_once, global_init_once);
	return global_rc == CURLE_OK ? 0 : -1;
}

/* snprintf that always terminates and never reports truncation as an error: statuses are cut to
 * fit. */
void
scrape_fmt(char *dst, size_t cap, const char *f, ...)
{
	va_list ap;

	if (cap == 0)
		return;
	va_start(ap, f);
	if (vsnprintf(dst, cap, f, ap) < 0)
		dst[0] = '\0';
	va_end(ap);
}

/* xorshift64*: jitter only, no security role. */
static uint64_t
rng_next(struct scraper *sc)
{
	uint64_t x = sc->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	sc->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

uint64_t
scrape_phase_ms(const char *service, const char *url, uint64_t interval_ms)
{
	uint64_t h = HASH_FNV1A_INIT;

	if (interval_ms == 0)
		return 0;
	h = hash_fnv1a_str(h, service);
	h = hash_fnv1a_str(h, "\n");
	h = hash_fnv1a_str(h, url);
	return h % interval_ms;
}

uint64_t
scrape_backoff_ms(uint64_t interval_ms, unsigned failures)
{
	unsigned mult = 1;

	if (failures >= 4)
		mult = 8;
	else if (failures >= 2)
		mult = 1u << (failures - 1);
	if (interval_ms > UINT64_MAX / mult)
		return UINT64_MAX;
	return interval_ms * mult;
}

uint64_t
scrape_jitter_max_ms(uint64_t interval_ms)
{
	uint64_t j = interval_ms / 20;

	return j < JITTER_CAP_MS ? j : JITTER_CAP_MS;
}

/* --- the heap --------------------------------------------------------------------------------- */

static void
heap_swap(struct scraper *sc, size_t a, size_t b)
{
	struct target *t = sc->heap[a];

	sc->heap[a] = sc->heap[b];
	sc->heap[b] = t;
	sc->heap[a]->heap_idx = a;
	sc->heap[b]->heap_idx = b;
}

static void
heap_up(struct scraper *sc, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (sc->heap[p]->due_ms <= sc->heap[i]->due_ms)
			break;
		heap_swap(sc, p, i);
		i = p;
	}
}

static void
heap_down(struct scraper *sc, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < sc->nheap && sc->heap[l]->due_ms < sc->heap[m]->due_ms)
			m = l;
		if (r < sc->nheap && sc->heap[r]->due_ms < sc->heap[m]->due_ms)
			m = r;
		if (m == i)
			return;
		heap_swap(sc, i, m);
		i = m;
	}
}

/* The heap array is sized to hold every target (see scrape_set_targets), so pushing cannot fail. */
static void
heap_push(struct scraper *sc, struct target *t)
{
	t->heap_idx = sc->nheap;
	sc->heap[sc->nheap++] = t;
	heap_up(sc, t->heap_idx);
}

static void
heap_remove(struct scraper *sc, struct target *t)
{
	size_t i = t->heap_idx;

	if (i == IN_HEAP_NONE)
		return;
	t->heap_idx = IN_HEAP_NONE;
	sc->nheap--;
	if (i == sc->nheap)
		return;
	sc->heap[i] = sc->heap[sc->nheap];
	sc->heap[i]->heap_idx = i;
	heap_down(sc, i);
	heap_up(sc, i);
}

static void
heap_update(struct scraper *sc, struct target *t)
{
	heap_down(sc, t->heap_idx);
	heap_up(sc, t->heap_idx);
}

/* --- schedule --------------------------------------------------------------------------------- */

/* The first slot strictly after 'after' (wall clock) on the grid phase + k × interval of 'url'. */
static int64_t
grid_slot_after(const char *service, const char *url, uint64_t interval_ms, int64_t after)
{
	int64_t iv = (int64_t)interval_ms;
	int64_t phase = (int64_t)scrape_phase_ms(service, url, interval_ms);
	int64_t k;

	if (after < phase)
		return phase;
	k = (after - phase) / iv + 1;
	return phase + k * iv;
}

/* The same on the grid of the target's regular scrapes. */
static int64_t
slot_after(const struct target *t, int64_t after)
{
	return grid_slot_after(t->cfg.t.service, t->cfg.t.url, t->cfg.t.interval_ms, after);
}

unsigned
scrape_start_at_once_max(unsigned max_concurrent)
{
	return max_concurrent < SCRAPE_START_AT_ONCE ? max_concurrent : SCRAPE_START_AT_ONCE;
}

uint64_t
scrape_first_delay_ms(const char *service, const char *url, uint64_t interval_ms, int64_t now_wall,
                      size_t nnew, unsigned max_concurrent)
{
	if (interval_ms == 0 || nnew <= scrape_start_at_once_max(max_concurrent))
		return 0;
	return (uint64_t)(grid_slot_after(service, url, interval_ms, now_wall) - now_wall);
}

/* Put 't' in the heap for its next regular scrape: the first slot at least 'gap' after its previous
 * slot and in the future, plus jitter. */
static void
schedule_regular(struct scraper *sc, struct target *t, uint64_t now_mono, int64_t now_wall,
                 uint64_t gap)
{
	int64_t earliest = t->slot_wall_ms + (int64_t)gap - 1;
	int64_t slot;
	uint64_t jmax = scrape_jitter_max_ms(t->cfg.t.interval_ms);
	uint64_t jitter = jmax ? rng_next(sc) % (jmax + 1) : 0;

	if (t->slot_wall_ms == 0 || earliest < now_wall)
		earliest = now_wall;
	slot = slot_after(t, earliest);
	/* The wall clock stepped back: do not wait out the step, take the next slot from now. */
	if (slot > now_wall && (uint64_t)(slot - now_wall) > gap &&
	    (uint64_t)(slot - now_wall) - gap > t->cfg.t.interval_ms)
		slot = slot_after(t, now_wall);
	t->slot_wall_ms = slot;
	t->due_ms = now_mono + (uint64_t)(slot - now_wall) + jitter;
	t->next = FETCH_REGULAR;
	heap_push(sc, t);
}

/* When the first leak profile fetch of 't' is due (monotonic): 0, after its first ok regular
 * scrape, when it joins 'at_once'; else once its slot on the grid of its own (phase + k ×
 * leak_interval_ms) has come, so that a fleet's first leak fetches spread over that interval
 * instead of doubling the first round. */
static uint64_t
leak_first_due(const struct target *t, uint64_t now_mono, int64_t now_wall, bool at_once)
{
	const struct scrape_target *c = &t->cfg.t;

	if (at_once || !c->leak_url)
		return 0;
	return now_mono +
	       (uint64_t)(grid_slot_after(c->service, c->leak_url, c->leak_interval_ms, now_wall) -
	                  now_wall);
}

/* Put a target new to the scraper in the heap for its first regular scrape: at once when it joins
 * 'at_once' (few targets joined together), else at the next slot of its grid, so that many new
 * targets spread over their interval (scrape_first_delay_ms()). Either way the scrape after it
 * comes at the first slot of the grid at least an interval later. */
static void
schedule_first(struct scraper *sc, struct target *t, uint64_t now_mono, int64_t now_wall,
               bool at_once)
{
	t->leak_due_ms = leak_first_due(t, now_mono, now_wall, at_once);
	if (!at_once) {
		t->slot_wall_ms = 0;
		schedule_regular(sc, t, now_mono, now_wall, 0);
		return;
	}
	t->slot_wall_ms = now_wall;
	t->due_ms = now_mono;
	t->next = FETCH_REGULAR;
	heap_push(sc, t);
}

/* --- target settings -------------------------------------------------------------------------- */

static size_t
opt_len(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static const char *
opt_copy(char **pos, const char *s)
{
	size_t n;
	char *d;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	d = *pos;
	memcpy(d, s, n);
	*pos += n;
	return d;
}

void
target_cfg_release(struct target_cfg *c)
{
	free(c->headers);
	free(c->strings);
	memset(c, 0, sizeof(*c));
}

int
target_cfg_copy(struct target_cfg *dst, const struct scrape_target *src)
{
	size_t total = 0, i;
	char *pos;

	memset(dst, 0, sizeof(*dst));
	total += opt_len(src->service) + opt_len(src->url) + opt_len(src->detail_url) +
	         opt_len(src->leak_url);
	total +=
	    opt_len(src->bearer_token) + opt_len(src->basic_user) + opt_len(src->basic_password);
	total +=
	    opt_len(src->tls_ca_file) + opt_len(src->tls_cert_file) + opt_len(src->tls_key_file);
	total += opt_len(src->proxy);
	for (i = 0; i < src->nheaders; i++)
		total += opt_len(src->headers[i].name) + opt_len(src->headers[i].value);
	dst->strings = malloc(total ? total : 1);
	if (!dst->strings)
		return -1;
	if (src->nheaders) {
		dst->headers = calloc(src->nheaders, sizeof(*dst->headers));
		if (!dst->headers) {
			free(dst->strings);
			dst->strings = NULL;
			return -1;
		}
	}
	dst->t = *src;
	pos = dst->strings;
	dst->t.service = opt_copy(&pos, src->service);
	dst->t.url = opt_copy(&pos, src->url);
	dst->t.detail_url = opt_copy(&pos, src->detail_url);
	dst->t.leak_url = opt_copy(&pos, src->leak_url);
	dst->t.bearer_token = opt_copy(&pos, src->bearer_token);
	dst->t.basic_user = opt_copy(&pos, src->basic_user);
	dst->t.basic_password = opt_copy(&pos, src->basic_password);
	dst->t.tls_ca_file = opt_copy(&pos, src->tls_ca_file);
	dst->t.tls_cert_file = opt_copy(&pos, src->tls_cert_file);
	dst->t.tls_key_file = opt_copy(&pos, src->tls_key_file);
	dst->t.proxy = opt_copy(&pos, src->proxy);
	for (i = 0; i < src->nheaders; i++) {
		dst->headers[i].name = opt_copy(&pos, src->headers[i].name);
		dst->headers[i].value = opt_copy(&pos, src->headers[i].value);
	}
	dst->t.headers = dst->headers;
	return 0;
}

/* A header name is a token; a value has no line breaks (no header injection from a config or
 * file_sd). */
static bool
header_ok(const struct scrape_header *h)
{
	const char *p;

	if (!h->name || !h->value || !h->name[0])
		return false;
	for (p = h->name; *p; p++)
		if (*p <= ' ' || *p >= 127 || *p == ':')
			return false;
	return !strpbrk(h->value, "\r\n");
}

static int
target_validate(const struct scrape_target *t, char *err, size_t errlen)
{
	size_t i;

	if (!t->service || !t->service[0]) {
		scrape_fmt(err, errlen, "scrape: target '%s': no service name",
		           t->url ? t->url : "(null)");
		return -1;
	}
	if (!t->url || url_problem(t->url) != NULL) {
		scrape_fmt(err, errlen, "scrape: target '%s': not an http or https URL",
		           t->url ? t->url : "(null)");
		return -1;
	}
	if (t->detail_url && url_problem(t->detail_url) != NULL) {
		scrape_fmt(err, errlen,
		           "scrape: target '%s': detail URL '%s' is not an http or https URL",
		           t->url, t->detail_url);
		return -1;
	}
	if (t->leak_url && url_problem(t->leak_url) != NULL) {
		scrape_fmt(err, errlen,
		           "scrape: target '%s': leak profile URL '%s' is not an http or https URL",
		           t->url, t->leak_url);
		return -1;
	}
	if (t->leak_url && t->leak_interval_ms == 0) {
		scrape_fmt(err, errlen,
		           "scrape: target '%s': a leak profile URL needs an interval > 0", t->url);
		return -1;
	}
	if (t->interval_ms == 0 || t->timeout_ms == 0 || t->max_body_bytes == 0) {
		scrape_fmt(err, errlen,
		           "scrape: target '%s': interval, timeout and max body bytes must be > 0",
		           t->url);
		return -1;
	}
	if (t->bearer_token && t->basic_user) {
		scrape_fmt(err, errlen, "scrape: target '%s': both a bearer token and basic auth",
		           t->url);
		return -1;
	}
	if ((t->bearer_token && strpbrk(t->bearer_token, "\r\n")) ||
	    (t->basic_user && strchr(t->basic_user, ':'))) {
		scrape_fmt(
		    err, errlen,
		    "scrape: target '%s': bad credentials (line break in token or ':' in user)",
		    t->url);
		return -1;
	}
	for (i = 0; i < t->nheaders; i++) {
		if (!header_ok(&t->headers[i])) {
			scrape_fmt(err, errlen, "scrape: target '%s': bad header '%s'", t->url,
			           t->headers[i].name ? t->headers[i].name : "(null)");
			return -1;
		}
	}
	return 0;
}

/* --- the scraper ------------------------------------------------------------------------------ */

struct scraper *
scrape_new(const struct scrape_options *opt)
{
	struct scraper *sc;
	uint64_t seed = 0;

	if (!opt || !opt->done || scrape_global_init() != 0)
		return NULL;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return NULL;
	sc->opt = *opt;
	if (sc->opt.max_concurrent == 0)
		sc->opt.max_concurrent = DEFAULT_MAX_CONCURRENT;
	sc->user_agent = strdup(opt->user_agent ? opt->user_agent : "leakprofd");
	sc->multi = curl_multi_init();
	if (!sc->user_agent || !sc->multi)
		goto out_free;
	sc->opt.user_agent = sc->user_agent;
	curl_multi_setopt(sc->multi, CURLMOPT_MAXCONNECTS, (long)sc->opt.max_concurrent);
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint64_t)clock_wall_ms() ^ (uint64_t)(uintptr_t)sc;
	sc->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
	return sc;

out_free:
	if (sc->multi)
		curl_multi_cleanup(sc->multi);
	free(sc->user_agent);
	free(sc);
	return NULL;
}

static void
target_free(struct scraper *sc, struct target *t)
{
	if (!t)
		return;
	heap_remove(sc, t);
	if (t->xfer) {
		transfer_free(t->xfer);
		sc->running--;
		t->xfer = NULL;
	}
	target_cfg_release(&t->cfg);
	free(t);
}

void
scrape_free(struct scraper *sc)
{
	size_t i;

	if (!sc)
		return;
	for (i = 0; i < sc->ntargets; i++)
		target_free(sc, sc->targets[i]);
	free(sc->targets);
	free(sc->heap);
	curl_multi_cleanup(sc->multi);
	free(sc->user_agent);
	free(sc);
}

static int
key_cmp(const struct scrape_target *a, const struct scrape_target *b)
{
	int c = strcmp(a->service, b->service);

	return c ? c : strcmp(a->url, b->url);
}

static int
target_ptr_cmp(const void *a, const void *b)
{
	const struct target *x = *(struct target *const *)a;
	const struct target *y = *(struct target *const *)b;

	return key_cmp(&x->cfg.t, &y->cfg.t);
}

static int
spec_ptr_cmp(const void *a, const void *b)
{
	return key_cmp(*(const struct scrape_target *const *)a,
	               *(const struct scrape_target *const *)b);
}

static struct target *
find_sorted(struct target **sorted, size_t n, const struct scrape_target *k)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(k, &sorted[mid]->cfg.t);

		if (c == 0)
			return sorted[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int
scrape_set_targets(struct scraper *sc, const struct scrape_target *targets, size_t n, char *err,
                   size_t errlen)
{
	struct target **nt = NULL, **fresh = NULL, **heap = NULL, **old_sorted = NULL;
	const struct scrape_target **spec_sorted = NULL;
	struct target_cfg *cfgs = NULL;
	size_t i, ncfg = 0, cap = n ? n : 1, nnew = 0, nreleak = 0;
	uint64_t now_mono = clock_mono_ms();
	int64_t now_wall = clock_wall_ms();
	bool at_once, releak_at_once;

	if (err && errlen)
		err[0] = '\0';
	for (i = 0; i < n; i++)
		if (target_validate(&targets[i], err, errlen) != 0)
			return -1;
	spec_sorted = calloc(cap, sizeof(*spec_sorted));
	if (!spec_sorted)
		goto out_nomem;
	for (i = 0; i < n; i++)
		spec_sorted[i] = &targets[i];
	qsort(spec_sorted, n, sizeof(*spec_sorted), spec_ptr_cmp);
	for (i = 1; i < n; i++) {
		if (key_cmp(spec_sorted[i - 1], spec_sorted[i]) == 0) {
			scrape_fmt(err, errlen, "scrape: target '%s' of service '%s' listed twice",
			           spec_sorted[i]->url, spec_sorted[i]->service);
			goto out_free;
		}
	}
	/* Allocate everything first: past this block nothing can fail, so a failure leaves the old
	 * set. */
	nt = calloc(cap, sizeof(*nt));
	fresh = calloc(cap, sizeof(*fresh));
	heap = calloc(cap, sizeof(*heap));
	old_sorted = calloc(sc->ntargets ? sc->ntargets : 1, sizeof(*old_sorted));
	cfgs = calloc(cap, sizeof(*cfgs));
	if (!nt || !fresh || !heap || !old_sorted || !cfgs)
		goto out_nomem;
	for (ncfg = 0; ncfg < n; ncfg++)
		if (target_cfg_copy(&cfgs[ncfg], &targets[ncfg]) != 0)
			goto out_nomem;
	for (i = 0; i < n; i++) {
		fresh[i] = calloc(1, sizeof(**fresh));
		if (!fresh[i])
			goto out_nomem;
	}
	if (sc->ntargets)
		memcpy(old_sorted, sc->targets, sc->ntargets * sizeof(*old_sorted));
	qsort(old_sorted, sc->ntargets, sizeof(*old_sorted), target_ptr_cmp);

	/* Commit. A kept target keeps its struct (a transfer in flight points to it) and takes the
	 * new settings; a new one gets a fresh struct. */
	for (i = 0; i < sc->ntargets; i++)
		sc->targets[i]->mark = false;
	for (i = 0; i < n; i++) {
		struct target *t = find_sorted(old_sorted, sc->ntargets, &targets[i]);

		if (t) {
			const char *ol = t->cfg.t.leak_url, *nl = cfgs[i].t.leak_url;

			t->mark = true;
			/* A new interval puts the target on a new grid (below). */
			t->regrid = t->cfg.t.interval_ms != cfgs[i].t.interval_ms;
			/* Another leak URL may be served where the old one was not: ask again, as
			 * a new target would be asked (below). A new interval counts from the last
			 * leak fetch's start; a first fetch still to come is placed again. */
			t->releak = !ol || !nl || strcmp(ol, nl) != 0;
			if (t->releak) {
				t->leak_unserved = false;
				nreleak++;
			} else if (!t->leak_unserved && t->leak_due_ms != 0 &&
			           t->leak_scrapes > 0) {
				t->leak_due_ms = t->leak_due_ms - t->cfg.t.leak_interval_ms +
				                 cfgs[i].t.leak_interval_ms;
			} else if (!t->leak_unserved && t->leak_due_ms != 0 &&
			           t->cfg.t.leak_interval_ms != cfgs[i].t.leak_interval_ms) {
				t->releak = true;
				nreleak++;
			}
			target_cfg_release(&t->cfg);
			t->cfg = cfgs[i];
			free(fresh[i]);
		} else {
			t = fresh[i];
			t->cfg = cfgs[i];
			t->heap_idx = IN_HEAP_NONE;
			nnew++;
		}
		fresh[i] = NULL;
		nt[i] = t;
	}
	for (i = 0; i < sc->ntargets; i++)
		if (!sc->targets[i]->mark)
			target_free(sc, sc->targets[i]);
	/* Only kept targets remain in the old heap; their positions stay valid in the new array. */
	if (sc->nheap)
		memcpy(heap, sc->heap, sc->nheap * sizeof(*heap));
	free(sc->heap);
	sc->heap = heap;
	free(sc->targets);
	sc->targets = nt;
	sc->ntargets = n;
	/* Few new targets start at once; many spread over their interval at their phase, so that
	 * no start-up, reload or discovery burst exceeds what the transfers and the writer behind
	 * them take. The same for first leak fetches. */
	at_once = nnew <= scrape_start_at_once_max(sc->opt.max_concurrent);
	releak_at_once = nreleak <= scrape_start_at_once_max(sc->opt.max_concurrent);
	for (i = 0; i < n; i++) {
		struct target *t = nt[i];

		if (t->releak)
			t->leak_due_ms = leak_first_due(t, now_mono, now_wall, releak_at_once);
		t->releak = false;
		if (t->heap_idx == IN_HEAP_NONE && !t->xfer) {
			schedule_first(sc, t, now_mono, now_wall, at_once);
			continue;
		}
		if (!t->regrid)
			continue;
		t->regrid = false;
		/* A transfer in flight, or a detail or leak fetch queued after it: slot_wall_ms is
		 * the slot of the last regular scrape, and the next one is scheduled from it on the
		 * new grid when they finish. */
		if (t->xfer || t->next != FETCH_REGULAR)
			continue;
		/* Idle: from the slot of the last regular scrape, at least the new gap later (never
		 * sooner than the new interval allows); never scraped: as a new target. */
		heap_remove(sc, t);
		t->slot_wall_ms = t->last_slot_wall_ms;
		if (t->slot_wall_ms == 0)
			schedule_regular(sc, t, now_mono, now_wall, 0);
		else
			schedule_regular(sc, t, now_mono, now_wall,
			                 scrape_backoff_ms(t->cfg.t.interval_ms, t->failures));
	}
	/* Targets are scraped round-robin, so an LRU connection cache smaller than the fleet never
	 * hits: keep a connection per target for small fleets, and for large ones only what is in
	 * flight (file descriptors are the scarcer resource there). */
	curl_multi_setopt(sc->multi, CURLMOPT_MAXCONNECTS,
	                  (long)(n > sc->opt.max_concurrent && n <= MAX_CACHED_CONNECTIONS
	                             ? n
	                             : sc->opt.max_concurrent));
	free(fresh);
	free(old_sorted);
	free(cfgs);
	free(spec_sorted);
	return 0;

out_nomem:
	scrape_fmt(err, errlen, "scrape: out of memory setting %zu targets", n);
out_free:
	for (i = 0; fresh && i < n; i++)
		free(fresh[i]);
	for (i = 0; i < ncfg; i++)
		target_cfg_release(&cfgs[i]);
	free(nt);
	free(fresh);
	free(heap);
	free(old_sorted);
	free(cfgs);
	free(spec_sorted);
	return -1;
}

/* The leak profile is due after an ok regular scrape of 't' (and its detail scrape). */
static bool
leak_due(const struct target *t, uint64_t now_mono)
{
	return t->cfg.t.leak_url && t->up && t->leak_due_ms <= now_mono;
}

/* Queue 'fetch' of 't' at once: right after the fetch that just finished and before the next
 * regular scrape, so two never overlap. */
static void
queue_next(struct scraper *sc, struct target *t, enum fetch fetch, uint64_t now_mono)
{
	t->next = fetch;
	t->due_ms = now_mono;
	heap_push(sc, t);
}

/* Record a finished scrape in its target's health and schedule what comes next. */
static void
target_finish(struct scraper *sc, struct target *t, struct scrape_result *res, uint64_t now_mono)
{
	int64_t now_wall = clock_wall_ms();
	const struct scrape_target *c = &t->cfg.t;

	if (res->leak) {
		/* A 404 says the target's Go does not serve the profile: no failure, asked again
		 * rarely. Any other failure waits for the next interval like a success, so an
		 * expensive fetch that times out is not repeated at the regular cadence. */
		t->leak_scrapes++;
		t->leak_unserved = res->http_code == 404;
		if (t->leak_unserved)
			t->leak_due_ms =
			    now_mono + (c->leak_retry_ms ? c->leak_retry_ms : SCRAPE_LEAK_RETRY_MS);
		res->consecutive_failures = t->failures;
		schedule_regular(sc, t, now_mono, now_wall,
		                 scrape_backoff_ms(c->interval_ms, t->failures));
		return;
	}
	if (res->detail) {
		t->detail_scrapes++;
		res->consecutive_failures = t->failures;
		if (leak_due(t, now_mono)) {
			queue_next(sc, t, FETCH_LEAK, now_mono);
			return;
		}
		schedule_regular(sc, t, now_mono, now_wall,
		                 scrape_backoff_ms(c->interval_ms, t->failures));
		return;
	}
	t->scraped = true;
	t->up = res->ok;
	memcpy(t->status, res->status, sizeof(t->status));
	t->last_start_ms = res->start_ms;
	t->last_duration_ms = res->duration_ms;
	t->last_bytes = res->bytes;
	t->scrapes++;
	if (res->ok) {
		t->failures = 0;
		t->last_total = res->profile.total_goroutines;
		t->have_total = true;
	} else if (t->failures < UINT_MAX) {
		t->failures++;
	}
	res->consecutive_failures = t->failures;
	if (res->ok && c->detail_url && c->detail_every > 0 && t->scrapes % c->detail_every == 0 &&
	    t->last_total <= c->detail_max_goroutines) {
		queue_next(sc, t, FETCH_DETAIL, now_mono);
		return;
	}
	if (leak_due(t, now_mono)) {
		queue_next(sc, t, FETCH_LEAK, now_mono);
		return;
	}
	schedule_regular(sc, t, now_mono, now_wall, scrape_backoff_ms(c->interval_ms, t->failures));
}

/* Start one scrape of 't' (out of the heap). On a setup failure the scrape finishes at once as
 * failed. */
static void
target_start(struct scraper *sc, struct target *t, uint64_t now_mono, int *delivered)
{
	/* A reload may have dropped the detail or leak URL since the fetch was queued. */
	enum fetch fetch = t->next;
	struct transfer *x;
	struct scrape_result res;

	if ((fetch == FETCH_DETAIL && !t->cfg.t.detail_url) ||
	    (fetch == FETCH_LEAK && !t->cfg.t.leak_url))
		fetch = FETCH_REGULAR;
	/* The interval counts from the start of a leak fetch, whatever it answers. */
	if (fetch == FETCH_LEAK)
		t->leak_due_ms = now_mono + t->cfg.t.leak_interval_ms;
	if (fetch == FETCH_REGULAR)
		t->last_slot_wall_ms = t->slot_wall_ms;
	x = transfer_new(&t->cfg, fetch, sc->user_agent);

	if (x) {
		x->sc = sc;
		x->t = t;
		x->start_mono_ms = now_mono;
		x->start_wall_ms = clock_wall_ms();
		x->lag_ms = now_mono > t->due_ms ? now_mono - t->due_ms : 0;
		if (curl_multi_add_handle(sc->multi, x->easy) == CURLM_OK) {
			t->xfer = x;
			sc->running++;
			return;
		}
		x->sc = NULL; /* not in the multi handle: nothing to remove */
		transfer_free(x);
	}
	memset(&res, 0, sizeof(res));
	res.id = t->cfg.t.id;
	res.service = t->cfg.t.service;
	res.url = fetch == FETCH_DETAIL ? t->cfg.t.detail_url
	          : fetch == FETCH_LEAK ? t->cfg.t.leak_url
	                                : t->cfg.t.url;
	res.detail = fetch == FETCH_DETAIL;
	res.leak = fetch == FETCH_LEAK;
	res.start_ms = clock_wall_ms();
	scrape_fmt(res.status, sizeof(res.status),
	           "error: cannot set up the transfer (out of memory)");
	target_finish(sc, t, &res, now_mono);
	sc->opt.done(sc->opt.done_arg, &res);
	(*delivered)++;
}

static void
start_due(struct scraper *sc, int *delivered)
{
	uint64_t now = clock_mono_ms();

	while (sc->running < sc->opt.max_concurrent && sc->nheap > 0 &&
	       sc->heap[0]->due_ms <= now) {
		struct target *t = sc->heap[0];

		heap_remove(sc, t);
		target_start(sc, t, now, delivered);
	}
}

/* Finish every transfer curl reports done: result, health, schedule, callback. */
static void
collect_done(struct scraper *sc, int *delivered)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(sc->multi, &left)) != NULL) {
		struct transfer *x = NULL;
		struct scrape_result res;
		struct target *t;
		CURLcode rc;

		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (!x)
			continue;
		if (transfer_follow(sc, x, rc))
			continue;
		t = x->t;
		transfer_result(x, rc, &res);
		transfer_note_redirect(x, &res);
		res.id = t->cfg.t.id;
		t->xfer = NULL;
		sc->running--;
		target_finish(sc, t, &res, clock_mono_ms());
		/* The callback may replace the target set: nothing below touches 't'. Strings in
		 * 'res' belong to the transfer, which is freed after the callback. */
		sc->opt.done(sc->opt.done_arg, &res);
		profile_release(&res.profile);
		transfer_free(x);
		(*delivered)++;
	}
}

int
scrape_poll(struct scraper *sc, const int *extra_fds, size_t nextra, int timeout_ms, char *err,
            size_t errlen)
{
	struct curl_waitfd fds[8];
	int delivered = 0, still = 0, nfds = 0;
	CURLMcode mc;
	uint64_t now;
	size_t i;

	if (timeout_ms < 0)
		timeout_ms = 0;
	if (nextra > sizeof(fds) / sizeof(fds[0])) {
		scrape_fmt(err, errlen, "scrape: at most %zu extra descriptors",
		           sizeof(fds) / sizeof(fds[0]));
		return -1;
	}
	for (i = 0; i < nextra; i++)
		fds[i] = (struct curl_waitfd){.fd = extra_fds[i], .events = CURL_WAIT_POLLIN};

	start_due(sc, &delivered);
	mc = curl_multi_perform(sc->multi, &still);
	if (mc != CURLM_OK)
		goto out_mc;
	collect_done(sc, &delivered);
	start_due(sc, &delivered);
	if (delivered > 0)
		timeout_ms = 0; /* let the caller see the results; it calls again at once */
	now = clock_mono_ms();
	if (sc->running < sc->opt.max_concurrent && sc->nheap > 0) {
		uint64_t until = sc->heap[0]->due_ms > now ? sc->heap[0]->due_ms - now : 0;

		if (until < (uint64_t)timeout_ms)
			timeout_ms = (int)until;
	}
	mc = curl_multi_poll(sc->multi, nextra ? fds : NULL, (unsigned)nextra, timeout_ms, &nfds);
	if (mc != CURLM_OK)
		goto out_mc;
	mc = curl_multi_perform(sc->multi, &still);
	if (mc != CURLM_OK)
		goto out_mc;
	collect_done(sc, &delivered);
	start_due(sc, &delivered);
	return delivered;

out_mc:
	scrape_fmt(err, errlen, "scrape: curl multi: %s", curl_multi_strerror(mc));
	return -1;
}

void
scrape_wakeup(struct scraper *sc)
{
	if (sc)
		curl_multi_wakeup(sc->multi);
}

void
scrape_trigger_all(struct scraper *sc)
{
	uint64_t now = clock_mono_ms();
	size_t i;

	for (i = 0; i < sc->ntargets; i++) {
		struct target *t = sc->targets[i];

		if (t->heap_idx == IN_HEAP_NONE || t->due_ms <= now)
			continue;
		t->due_ms = now;
		heap_update(sc, t);
	}
}

size_t
scrape_count(const struct scraper *sc)
{
	return sc->ntargets;
}

void
scrape_get_health(const struct scraper *sc, size_t index, struct scrape_health *out)
{
	const struct target *t = sc->targets[index];
	uint64_t now = clock_mono_ms();

	memset(out, 0, sizeof(*out));
	out->id = t->cfg.t.id;
	out->service = t->cfg.t.service;
	out->url = t->cfg.t.url;
	out->scraped = t->scraped;
	out->up = t->scraped && t->up;
	out->in_flight = t->xfer != NULL;
	memcpy(out->status, t->status, sizeof(out->status));
	out->last_start_ms = t->last_start_ms;
	out->last_duration_ms = t->last_duration_ms;
	out->last_bytes = t->last_bytes;
	out->last_total_goroutines = t->last_total;
	out->consecutive_failures = t->failures;
	out->scrapes = t->scrapes;
	out->detail_scrapes = t->detail_scrapes;
	out->leak_scrapes = t->leak_scrapes;
	out->leak_unserved = t->leak_unserved;
	out->leak_next_in_ms = t->cfg.t.leak_url && t->leak_due_ms > now ? t->leak_due_ms - now : 0;
	out->next_in_ms = t->heap_idx != IN_HEAP_NONE && t->due_ms > now ? t->due_ms - now : 0;
}

void
scrape_count_up(const struct scraper *sc, size_t *up, size_t *down)
{
	size_t i, u = 0, d = 0;

	for (i = 0; i < sc->ntargets; i++) {
		if (!sc->targets[i]->scraped)
			continue;
		if (sc->targets[i]->up)
			u++;
		else
			d++;
	}
	*up = u;
	*down = d;
}

unsigned
scrape_in_flight(const struct scraper *sc)
{
	return sc->running;
}

struct once_ctx {
	struct scrape_result *res;
	bool got;
};

static void
once_done(void *arg, struct scrape_result *res)
{
	struct once_ctx *ctx = arg;

	*ctx->res = *res;
	memset(&res->profile, 0, sizeof(res->profile)); /* stolen */
	ctx->got = true;
}

int
scrape_once(const struct scrape_target *t, struct scrape_result *res)
{
	struct once_ctx ctx = {.res = res};
	struct scrape_options opt = {.max_concurrent = 1, .done = once_done, .done_arg = &ctx};
	struct scraper *sc;
	char err[256];

	memset(res, 0, sizeof(*res));
	res->service = t->service;
	res->url = t->url;
	sc = scrape_new(&opt);
	if (!sc) {
		scrape_fmt(res->status, sizeof(res->status), "error: cannot initialise libcurl");
		return -1;
	}
	if (scrape_set_targets(sc, t, 1, err, sizeof(err)) != 0) {
		scrape_fmt(res->status, sizeof(res->status), "error: %s", err);
		goto out_free;
	}
	scrape_trigger_all(sc);
	while (!ctx.got) {
		if (scrape_poll(sc, NULL, 0, 1000, err, sizeof(err)) < 0) {
			scrape_fmt(res->status, sizeof(res->status), "error: %s", err);
			goto out_free;
		}
	}
	/* The result's strings belonged to the freed transfer: point them at the caller's. */
	res->service = t->service;
	res->url = t->url;
out_free:
	scrape_free(sc);
	return res->ok ? 0 : -1;
}
