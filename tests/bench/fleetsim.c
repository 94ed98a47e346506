/* tests/bench/fleetsim.c: a simulated fleet of Go services for the daemon benchmark.
 *
 * One process, one port on 127.0.0.1, many virtual targets: GET /t/<n>/debug/pprof/goroutine
 * answers target n's goroutine profile in Go's debug=0 format (gzipped pprof protobuf), shaped like
 * a real HTTP service's: an accept loop, keep-alive connections in IO wait, an idle worker pool on
 * a chan receive, a ticker select, sleepers, a few mutex and WaitGroup waiters, the profiling
 * goroutine itself, and leak locations whose counts grow every epoch
 * (-epoch seconds). Stacks carry the Go runtime frames a real Go 1.19 profile has, so the parser
 * does its real work. Bodies are built per (variant, epoch) and cached: serving costs a lookup and
 * a copy, which keeps the simulator cheap next to the daemon it measures.
 *
 * With -cycle SECONDS the leaks start and stop, the way a leak ships and its fix follows: in the
 * first half of every cycle they grow from their start as above; in the second half every target
 * runs "the fixed build", restarted at the half (its leak goroutines gone, the leak counts back to
 * the start and flat), so alerts on them fire and then resolve, once per cycle.
 *
 * With -leak-on-request the leaks stay flat at their start until GET /leak, which answers the
 * wall-clock time in milliseconds from which they grow: by one step at once and one more every
 * -leak-step seconds (the epoch / 6 by default, at least 1 s, so that consecutive scrapes an
 * interval apart always see a rise, whatever the scheduler's jitter). A benchmark measures from
 * that answer to the alert. -leak-targets N makes only targets 0..N-1 leak; the others keep their
 * leak locations flat at the start value (by default every target leaks).
 *
 * GET /stats answers JSON with the request count and the gaps between consecutive scrapes of the
 * same target (the scrape lag the daemon's scheduler achieves, seen from the targets); GET /reset
 * forgets the gaps seen so far.
 *
 * A fleet of 50,000 targets needs no more than a few hundred connections (a scraper reuses its
 * keep-alive connections to the one port), but the connection limit is 4,096 and the process
 * raises its descriptor limit to the hard limit, so a client that opens many at once is served.
 *
 * Usage: fleetsim -n TARGETS [-port P] [-portfile FILE] [-epoch SECONDS] [-cycle SECONDS]
 *                 [-variants V] [-leak-targets N] [-leak-on-request] [-leak-step SECONDS]
 *                 [-dump N]
 *   -dump N   write target N's body to stdout and exit (to check it with `leakprofd parse -`). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include <microhttpd.h>
#include <zlib.h>

#define MAX_TARGETS 1000000
#define MAX_VARIANTS 1024
#define GAP_BUCKETS 4096 /* gap histogram: 100 ms buckets up to 409.6 s */

/* ---- a growable byte buffer with a hard cap ---- */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fleetsim: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void
buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 256;

		while (ncap < b->len + n)
			ncap *= 2;
		if (ncap > (64u << 20))
			die("profile buffer over 64 MiB");
		b->p = realloc(b->p, ncap);
		if (b->p == NULL)
			die("out of memory");
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void
pb_varint(struct buf *b, uint64_t v)
{
	unsigned char tmp[10];
	size_t n = 0;

	do {
		tmp[n] = v & 0x7f;
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	buf_add(b, tmp, n);
}

static void
pb_key(struct buf *b, unsigned field, unsigned wire)
{
	pb_varint(b, (uint64_t)field << 3 | wire);
}

static void
pb_uint(struct buf *b, unsigned field, uint64_t v)
{
	pb_key(b, field, 0);
	pb_varint(b, v);
}

static void
pb_bytes(struct buf *b, unsigned field, const void *data, size_t n)
{
	pb_key(b, field, 2);
	pb_varint(b, n);
	buf_add(b, data, n);
}

/* ---- the profile model: frames, stacks, string table ---- */

struct fn {
	const char *name;
	const char *file;
};

/* Go runtime and library functions (Go 1.19 paths) and the service's own. */
enum {
	F_GOPARK,
	F_GOPARKUNLOCK,
	F_CHANSEND,
	F_CHANSEND1,
	F_CHANRECV,
	F_CHANRECV1,
	F_SELECTGO,
	F_SEMACQUIRE1,
	F_SYNC_SEMACQUIRE,
	F_SYNC_SEMACQUIRE_MUTEX,
	F_WG_WAIT,
	F_MUTEX_LOCKSLOW,
	F_MUTEX_LOCK,
	F_NETPOLLBLOCK,
	F_POLLWAIT,
	F_PD_WAIT,
	F_PD_WAITREAD,
	F_FD_READ,
	F_FD_ACCEPT,
	F_NETFD_READ,
	F_NETFD_ACCEPT,
	F_CONN_READ,
	F_TCPL_ACCEPT,
	F_TCPL_ACCEPT2,
	F_CONNREADER_READ,
	F_BUFIO_FILL,
	F_BUFIO_PEEK,
	F_HTTP_CONN_SERVE,
	F_HTTP_SERVE,
	F_HTTP_LISTEN,
	F_BGREAD,
	F_TIME_SLEEP,
	F_GOEXIT,
	F_MAIN,
	F_RT_MAIN,
	F_PPROF_RTPROF,
	F_PPROF_WRITE_RT,
	F_PPROF_WRITE_GOR,
	F_PPROF_PROFILE_WRITE,
	F_PPROF_HANDLER,
	F_HTTP_HANDLERFUNC,
	F_HTTP_MUX,
	F_HTTP_SERVERHANDLER,
	F_POOL_WORKER,
	F_CACHE_REFRESH,
	F_HEARTBEAT,
	F_SESSION_LOCK,
	F_BATCH_WAIT,
	F_HANDLER_BASE,
	F_LEAK_FETCH,
	F_LEAK_NOTIFY,
	F_LEAK_WG,
	F_LEAK_TIMEOUT,
	F_NFUNCS
};

static const struct fn funcs[F_NFUNCS] = {
    [F_GOPARK] = {"runtime.gopark", "/usr/lib/go-1.19/src/runtime/proc.go"},
    [F_GOPARKUNLOCK] = {"runtime.goparkunlock", "/usr/lib/go-1.19/src/runtime/proc.go"},
    [F_CHANSEND] = {"runtime.chansend", "/usr/lib/go-1.19/src/runtime/chan.go"},
    [F_CHANSEND1] = {"runtime.chansend1", "/usr/lib/go-1.19/src/runtime/chan.go"},
    [F_CHANRECV] = {"runtime.chanrecv", "/usr/lib/go-1.19/src/runtime/chan.go"},
    [F_CHANRECV1] = {"runtime.chanrecv1", "/usr/lib/go-1.19/src/runtime/chan.go"},
    [F_SELECTGO] = {"runtime.selectgo", "/usr/lib/go-1.19/src/runtime/select.go"},
    [F_SEMACQUIRE1] = {"runtime.semacquire1", "/usr/lib/go-1.19/src/runtime/sema.go"},
    [F_SYNC_SEMACQUIRE] = {"sync.runtime_Semacquire", "/usr/lib/go-1.19/src/runtime/sema.go"},
    [F_SYNC_SEMACQUIRE_MUTEX] = {"sync.runtime_SemacquireMutex",
                                 "/usr/lib/go-1.19/src/runtime/sema.go"},
    [F_WG_WAIT] = {"sync.(*WaitGroup).Wait", "/usr/lib/go-1.19/src/sync/waitgroup.go"},
    [F_MUTEX_LOCKSLOW] = {"sync.(*Mutex).lockSlow", "/usr/lib/go-1.19/src/sync/mutex.go"},
    [F_MUTEX_LOCK] = {"sync.(*Mutex).Lock", "/usr/lib/go-1.19/src/sync/mutex.go"},
    [F_NETPOLLBLOCK] = {"runtime.netpollblock", "/usr/lib/go-1.19/src/runtime/netpoll.go"},
    [F_POLLWAIT] = {"internal/poll.runtime_pollWait", "/usr/lib/go-1.19/src/runtime/netpoll.go"},
    [F_PD_WAIT] = {"internal/poll.(*pollDesc).wait",
                   "/usr/lib/go-1.19/src/internal/poll/fd_poll_runtime.go"},
    [F_PD_WAITREAD] = {"internal/poll.(*pollDesc).waitRead",
                       "/usr/lib/go-1.19/src/internal/poll/fd_poll_runtime.go"},
    [F_FD_READ] = {"internal/poll.(*FD).Read", "/usr/lib/go-1.19/src/internal/poll/fd_unix.go"},
    [F_FD_ACCEPT] = {"internal/poll.(*FD).Accept", "/usr/lib/go-1.19/src/internal/poll/fd_unix.go"},
    [F_NETFD_READ] = {"net.(*netFD).Read", "/usr/lib/go-1.19/src/net/fd_posix.go"},
    [F_NETFD_ACCEPT] = {"net.(*netFD).accept", "/usr/lib/go-1.19/src/net/fd_unix.go"},
    [F_CONN_READ] = {"net.(*conn).Read", "/usr/lib/go-1.19/src/net/net.go"},
    [F_TCPL_ACCEPT] = {"net.(*TCPListener).accept", "/usr/lib/go-1.19/src/net/tcpsock_posix.go"},
    [F_TCPL_ACCEPT2] = {"net.(*TCPListener).Accept", "/usr/lib/go-1.19/src/net/tcpsock.go"},
    [F_CONNREADER_READ] = {"net/http.(*connReader).Read",
                           "/usr/lib/go-1.19/src/net/http/server.go"},
    [F_BUFIO_FILL] = {"bufio.(*Reader).fill", "/usr/lib/go-1.19/src/bufio/bufio.go"},
    [F_BUFIO_PEEK] = {"bufio.(*Reader).Peek", "/usr/lib/go-1.19/src/bufio/bufio.go"},
    [F_HTTP_CONN_SERVE] = {"net/http.(*conn).serve", "/usr/lib/go-1.19/src/net/http/server.go"},
    [F_HTTP_SERVE] = {"net/http.(*Server).Serve", "/usr/lib/go-1.19/src/net/http/server.go"},
    [F_HTTP_LISTEN] = {"net/http.(*Server).ListenAndServe",
                       "/usr/lib/go-1.19/src/net/http/server.go"},
    [F_BGREAD] = {"net/http.(*connReader).backgroundRead",
                  "/usr/lib/go-1.19/src/net/http/server.go"},
    [F_TIME_SLEEP] = {"time.Sleep", "/usr/lib/go-1.19/src/runtime/time.go"},
    [F_GOEXIT] = {"runtime.goexit", "/usr/lib/go-1.19/src/runtime/asm_amd64.s"},
    [F_MAIN] = {"main.main", "/src/svc/main.go"},
    [F_RT_MAIN] = {"runtime.main", "/usr/lib/go-1.19/src/runtime/proc.go"},
    [F_PPROF_RTPROF] = {"runtime/pprof.runtime_goroutineProfileWithLabels",
                        "/usr/lib/go-1.19/src/runtime/mprof.go"},
    [F_PPROF_WRITE_RT] = {"runtime/pprof.writeRuntimeProfile",
                          "/usr/lib/go-1.19/src/runtime/pprof/pprof.go"},
    [F_PPROF_WRITE_GOR] = {"runtime/pprof.writeGoroutine",
                           "/usr/lib/go-1.19/src/runtime/pprof/pprof.go"},
    [F_PPROF_PROFILE_WRITE] = {"runtime/pprof.(*Profile).WriteTo",
                               "/usr/lib/go-1.19/src/runtime/pprof/pprof.go"},
    [F_PPROF_HANDLER] = {"net/http/pprof.handler.ServeHTTP",
                         "/usr/lib/go-1.19/src/net/http/pprof/pprof.go"},
    [F_HTTP_HANDLERFUNC] = {"net/http.HandlerFunc.ServeHTTP",
                            "/usr/lib/go-1.19/src/net/http/server.go"},
    [F_HTTP_MUX] = {"net/http.(*ServeMux).ServeHTTP", "/usr/lib/go-1.19/src/net/http/server.go"},
    [F_HTTP_SERVERHANDLER] = {"net/http.serverHandler.ServeHTTP",
                              "/usr/lib/go-1.19/src/net/http/server.go"},
    [F_POOL_WORKER] = {"main.(*pool).worker", "/src/svc/pool.go"},
    [F_CACHE_REFRESH] = {"main.(*cache).refreshLoop", "/src/svc/cache.go"},
    [F_HEARTBEAT] = {"main.heartbeat", "/src/svc/main.go"},
    [F_SESSION_LOCK] = {"main.(*sessions).get", "/src/svc/sessions.go"},
    [F_BATCH_WAIT] = {"main.(*batcher).flush", "/src/svc/batch.go"},
    [F_HANDLER_BASE] = {"main.(*api).handle", "/src/svc/api.go"},
    [F_LEAK_FETCH] = {"main.(*client).fetchAsync.func1", "/src/svc/client.go"},
    [F_LEAK_NOTIFY] = {"main.(*notifier).send", "/src/svc/notify.go"},
    [F_LEAK_WG] = {"main.(*fanout).collect", "/src/svc/fanout.go"},
    [F_LEAK_TIMEOUT] = {"main.queryWithTimeout.func1", "/src/svc/query.go"},
};

struct frame {
	int fn;
	int line;
};

#define MAX_STACK 24

struct stack {
	struct frame f[MAX_STACK];
	int n;
	int64_t count;
};

struct strtab {
	const char **s;
	size_t n, cap;
};

static uint64_t
strtab_id(struct strtab *t, const char *s)
{
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->s[i], s) == 0)
			return i;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->s = realloc(t->s, t->cap * sizeof(*t->s));
		if (t->s == NULL)
			die("out of memory");
	}
	t->s[t->n] = s;
	return t->n++;
}

static void
st_push(struct stack *s, int fn, int line)
{
	if (s->n < MAX_STACK)
		s->f[s->n++] = (struct frame){fn, line};
}

/* Common leaf sequences, as Go 1.19 prints them. */
static void
leaf_chan_send(struct stack *s)
{
	st_push(s, F_GOPARK, 363);
	st_push(s, F_CHANSEND, 259);
	st_push(s, F_CHANSEND1, 145);
}

static void
leaf_chan_recv(struct stack *s)
{
	st_push(s, F_GOPARK, 363);
	st_push(s, F_CHANRECV, 583);
	st_push(s, F_CHANRECV1, 442);
}

static void
leaf_select(struct stack *s)
{
	st_push(s, F_GOPARK, 363);
	st_push(s, F_SELECTGO, 328);
}

static void
leaf_wg(struct stack *s)
{
	st_push(s, F_GOPARK, 363);
	st_push(s, F_GOPARKUNLOCK, 369);
	st_push(s, F_SEMACQUIRE1, 150);
	st_push(s, F_SYNC_SEMACQUIRE, 62);
	st_push(s, F_WG_WAIT, 139);
}

static void
leaf_mutex(struct stack *s)
{
	st_push(s, F_GOPARK, 363);
	st_push(s, F_GOPARKUNLOCK, 369);
	st_push(s, F_SEMACQUIRE1, 150);
	st_push(s, F_SYNC_SEMACQUIRE_MUTEX, 77);
	st_push(s, F_MUTEX_LOCKSLOW, 171);
	st_push(s, F_MUTEX_LOCK, 90);
}

static void
leaf_ioread(struct stack *s)
{
	st_push(s, F_GOPARK, 363);
	st_push(s, F_NETPOLLBLOCK, 526);
	st_push(s, F_POLLWAIT, 305);
	st_push(s, F_PD_WAIT, 84);
	st_push(s, F_PD_WAITREAD, 89);
	st_push(s, F_FD_READ, 167);
	st_push(s, F_NETFD_READ, 55);
	st_push(s, F_CONN_READ, 183);
}

static void
http_tail(struct stack *s, int handler_line)
{
	st_push(s, F_HANDLER_BASE, handler_line);
	st_push(s, F_HTTP_HANDLERFUNC, 2109);
	st_push(s, F_HTTP_MUX, 2487);
	st_push(s, F_HTTP_SERVERHANDLER, 2947);
	st_push(s, F_HTTP_CONN_SERVE, 1991);
	st_push(s, F_GOEXIT, 1594);
}

/* Small deterministic PRNG (splitmix64) so a variant's body is reproducible. */
static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

#define MAX_STACKS 256

/* The stacks of variant 'v' at 'epoch'. Leak counts grow with the epoch; everything else stays
 * flat. */
static size_t
build_stacks(unsigned v, uint64_t epoch, struct stack *out)
{
	uint64_t r = mix(v);
	size_t n = 0;
	int conns = 8 + (int)(r % 48);
	int handlers = 40 + (int)(mix(r) % 120);
	struct stack *s;

#define NEW() (s = &out[n++], (void)memset(s, 0, sizeof(*s)))
	/* main waiting on the server, the accept loop */
	NEW();
	leaf_chan_recv(s);
	st_push(s, F_MAIN, 88);
	st_push(s, F_RT_MAIN, 250);
	st_push(s, F_GOEXIT, 1594);
	s->count = 1;
	NEW();
	st_push(s, F_GOPARK, 363);
	st_push(s, F_NETPOLLBLOCK, 526);
	st_push(s, F_POLLWAIT, 305);
	st_push(s, F_PD_WAIT, 84);
	st_push(s, F_PD_WAITREAD, 89);
	st_push(s, F_FD_ACCEPT, 614);
	st_push(s, F_NETFD_ACCEPT, 172);
	st_push(s, F_TCPL_ACCEPT, 142);
	st_push(s, F_TCPL_ACCEPT2, 288);
	st_push(s, F_HTTP_SERVE, 3070);
	st_push(s, F_HTTP_LISTEN, 2999);
	st_push(s, F_MAIN, 84);
	st_push(s, F_GOEXIT, 1594);
	s->count = 1;
	/* keep-alive connections waiting for their next request, and their background readers */
	NEW();
	leaf_ioread(s);
	st_push(s, F_CONNREADER_READ, 780);
	st_push(s, F_BUFIO_FILL, 106);
	st_push(s, F_BUFIO_PEEK, 144);
	st_push(s, F_HTTP_CONN_SERVE, 1926);
	st_push(s, F_GOEXIT, 1594);
	s->count = conns;
	NEW();
	leaf_ioread(s);
	st_push(s, F_BGREAD, 672);
	st_push(s, F_GOEXIT, 1594);
	s->count = 1 + conns / 8;
	/* the idle worker pool, a ticker loop, a heartbeat */
	NEW();
	leaf_chan_recv(s);
	st_push(s, F_POOL_WORKER, 42);
	st_push(s, F_GOEXIT, 1594);
	s->count = 64 << (r >> 8 & 3);
	NEW();
	leaf_select(s);
	st_push(s, F_CACHE_REFRESH, 57);
	st_push(s, F_GOEXIT, 1594);
	s->count = 1;
	NEW();
	st_push(s, F_GOPARK, 363);
	st_push(s, F_TIME_SLEEP, 195);
	st_push(s, F_HEARTBEAT, 131);
	st_push(s, F_GOEXIT, 1594);
	s->count = 2;
	/* in-flight requests at many handler lines: IO, mutex, select on a context */
	for (int i = 0; i < handlers && n < MAX_STACKS - 8; i++) {
		uint64_t h = mix(r + (uint64_t)i);

		NEW();
		switch (h % 4) {
		case 0:
			leaf_ioread(s);
			break;
		case 1:
			leaf_mutex(s);
			st_push(s, F_SESSION_LOCK, 30 + (int)(h >> 8 & 7));
			break;
		case 2:
			leaf_select(s);
			break;
		default:
			leaf_chan_recv(s);
			st_push(s, F_BATCH_WAIT, 70 + (int)(h >> 8 & 3));
			break;
		}
		http_tail(s, 100 + i * 7);
		s->count = 1 + (int64_t)((h >> 16) % 5);
	}
	/* the goroutine serving this very profile request */
	NEW();
	st_push(s, F_PPROF_RTPROF, 845);
	st_push(s, F_PPROF_WRITE_RT, 734);
	st_push(s, F_PPROF_WRITE_GOR, 695);
	st_push(s, F_PPROF_PROFILE_WRITE, 329);
	st_push(s, F_PPROF_HANDLER, 261);
	st_push(s, F_HTTP_MUX, 2487);
	st_push(s, F_HTTP_SERVERHANDLER, 2947);
	st_push(s, F_HTTP_CONN_SERVE, 1991);
	st_push(s, F_GOEXIT, 1594);
	s->count = 1;
	/* leaks: two on every variant, two more on half of them; they grow every epoch */
	NEW();
	leaf_chan_send(s);
	st_push(s, F_LEAK_FETCH, 66);
	st_push(s, F_GOEXIT, 1594);
	s->count = 3 + (int64_t)(epoch * (1 + v % 3));
	NEW();
	leaf_select(s);
	st_push(s, F_LEAK_TIMEOUT, 41);
	st_push(s, F_GOEXIT, 1594);
	s->count = 1 + (int64_t)(epoch * 2);
	if (v % 2 == 0) {
		NEW();
		leaf_chan_send(s);
		st_push(s, F_LEAK_NOTIFY, 118);
		http_tail(s, 412);
		s->count = 1 + (int64_t)epoch;
		NEW();
		leaf_wg(s);
		st_push(s, F_LEAK_WG, 93);
		st_push(s, F_GOEXIT, 1594);
		s->count = 1 + (int64_t)(epoch / 2);
	}
#undef NEW
	return n;
}

/* Encode 'stacks' as Go's goroutine profile (pprof protobuf), gzipped. */
static void
encode_profile(const struct stack *stacks, size_t nstacks, int64_t now_ns, struct buf *out)
{
	struct strtab st = {0};
	struct buf prof = {0}, msg = {0}, sub = {0}, packed = {0};
	/* one location per distinct (fn, line) */
	struct frame locs[F_NFUNCS * 8];
	size_t nlocs = 0;
	uint64_t s_goroutine, s_count;

	strtab_id(&st, "");
	s_goroutine = strtab_id(&st, "goroutine");
	s_count = strtab_id(&st, "count");
	/* sample_type = [goroutine/count] */
	msg.len = 0;
	pb_uint(&msg, 1, s_goroutine);
	pb_uint(&msg, 2, s_count);
	pb_bytes(&prof, 1, msg.p, msg.len);
	for (size_t i = 0; i < nstacks; i++) {
		msg.len = 0;
		packed.len = 0;
		for (int j = 0; j < stacks[i].n; j++) {
			size_t k;

			for (k = 0; k < nlocs; k++) {
				if (locs[k].fn == stacks[i].f[j].fn &&
				    locs[k].line == stacks[i].f[j].line)
					break;
			}
			if (k == nlocs) {
				if (nlocs == sizeof(locs) / sizeof(locs[0]))
					die("too many locations");
				locs[nlocs++] = stacks[i].f[j];
			}
			pb_varint(&packed, k + 1);
		}
		pb_bytes(&msg, 1, packed.p, packed.len);
		packed.len = 0;
		pb_varint(&packed, (uint64_t)stacks[i].count);
		pb_bytes(&msg, 2, packed.p, packed.len);
		pb_bytes(&prof, 2, msg.p, msg.len);
	}
	/* one mapping for the executable */
	msg.len = 0;
	pb_uint(&msg, 1, 1);
	pb_uint(&msg, 2, 0x400000);
	pb_uint(&msg, 3, 0x1000000);
	pb_uint(&msg, 5, strtab_id(&st, "/src/svc/svc"));
	pb_uint(&msg, 7, 1); /* has_functions */
	pb_uint(&msg, 8, 1); /* has_filenames */
	pb_uint(&msg, 9, 1); /* has_line_numbers */
	pb_bytes(&prof, 3, msg.p, msg.len);
	for (size_t k = 0; k < nlocs; k++) {
		msg.len = 0;
		sub.len = 0;
		pb_uint(&msg, 1, k + 1);
		pb_uint(&msg, 2, 1);
		pb_uint(&msg, 3, 0x401000 + (uint64_t)locs[k].fn * 0x1000 + (uint64_t)locs[k].line);
		pb_uint(&sub, 1, (uint64_t)locs[k].fn + 1);
		pb_uint(&sub, 2, (uint64_t)locs[k].line);
		pb_bytes(&msg, 4, sub.p, sub.len);
		pb_bytes(&prof, 4, msg.p, msg.len);
	}
	for (int f = 0; f < F_NFUNCS; f++) {
		uint64_t name = strtab_id(&st, funcs[f].name);

		msg.len = 0;
		pb_uint(&msg, 1, (uint64_t)f + 1);
		pb_uint(&msg, 2, name);
		pb_uint(&msg, 3, name);
		pb_uint(&msg, 4, strtab_id(&st, funcs[f].file));
		pb_bytes(&prof, 5, msg.p, msg.len);
	}
	for (size_t i = 0; i < st.n; i++)
		pb_bytes(&prof, 6, st.s[i], strlen(st.s[i]));
	pb_uint(&prof, 9, (uint64_t)now_ns);
	msg.len = 0;
	pb_uint(&msg, 1, s_goroutine);
	pb_uint(&msg, 2, s_count);
	pb_bytes(&prof, 11, msg.p, msg.len);
	pb_uint(&prof, 12, 1);

	/* gzip, as runtime/pprof writes it */
	{
		z_stream z = {0};
		uLong bound;

		if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
		                 Z_DEFAULT_STRATEGY) != Z_OK)
			die("deflateInit2 failed");
		bound = deflateBound(&z, prof.len) + 32;
		out->len = 0;
		if (out->cap < bound) {
			free(out->p);
			out->p = malloc(bound);
			if (out->p == NULL)
				die("out of memory");
			out->cap = bound;
		}
		z.next_in = prof.p;
		z.avail_in = (uInt)prof.len;
		z.next_out = out->p;
		z.avail_out = (uInt)out->cap;
		if (deflate(&z, Z_FINISH) != Z_STREAM_END)
			die("deflate failed");
		out->len = out->cap - z.avail_out;
		deflateEnd(&z);
	}
	free(prof.p);
	free(msg.p);
	free(sub.p);
	free(packed.p);
	free(st.s);
}

/* ---- the server ---- */

static unsigned ntargets;
static unsigned nvariants = 64;
static unsigned epoch_seconds = 60;
static unsigned cycle_seconds; /* 0: leaks grow for ever */
static unsigned leak_targets;  /* targets 0..leak_targets-1 leak */
static bool leak_on_request;   /* flat until GET /leak */
static unsigned leak_step_ms;  /* with leak_on_request: one more step this often */
static int64_t leak_start_ms;  /* guarded by lock: mono ms of GET /leak, 0: not yet */
static int64_t leak_wall_ms;   /* guarded by lock: the same in wall-clock ms */
static struct timespec start_ts;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct buf *bodies;      /* [nvariants]: the leaking targets' bodies at bodies_key */
static struct buf *flat_bodies; /* [nvariants]: the others', leak counts at their start */
static uint64_t bodies_key = UINT64_MAX;
static int64_t *last_req_ms; /* [ntargets], monotonic ms of the last request, -1: none */
static uint64_t requests, gaps;
static uint64_t gap_hist[GAP_BUCKETS];
static int64_t gap_max_ms;

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
current_epoch(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)(ts.tv_sec - start_ts.tv_sec) / epoch_seconds;
}

/* How many epochs the leaks have grown at 'epoch': all of them without -cycle; with it, the epochs
 * since the cycle began in its leaking half, and 0 (the fixed build) in the other half. With
 * -leak-on-request: 0 until GET /leak, then its steps so far, the first at once. Called with 'lock'
 * held. */
static uint64_t
leak_epochs(uint64_t epoch)
{
	uint64_t secs = epoch * epoch_seconds, pos;

	if (leak_on_request)
		return leak_start_ms ? 1 + (uint64_t)(mono_ms() - leak_start_ms) / leak_step_ms : 0;
	if (cycle_seconds == 0)
		return epoch;
	pos = secs % cycle_seconds;
	return pos < cycle_seconds / 2 ? pos / epoch_seconds : 0;
}

/* Build the bodies of 'epoch' unless they are cached: they change with the epoch (the profile's
 * time) and with the leaks' growth. Called with 'lock' held. */
static void
bodies_refresh(uint64_t epoch)
{
	struct stack stacks[MAX_STACKS];
	struct timespec now;
	uint64_t grown = leak_epochs(epoch);
	uint64_t key = epoch << 32 | (grown & 0xffffffffu);
	int64_t now_ns;

	if (key == bodies_key)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	for (unsigned v = 0; v < nvariants; v++) {
		size_t n = build_stacks(v, grown, stacks);

		encode_profile(stacks, n, now_ns, &bodies[v]);
		if (leak_targets < ntargets) {
			n = build_stacks(v, 0, stacks);
			encode_profile(stacks, n, now_ns, &flat_bodies[v]);
		}
	}
	bodies_key = key;
}

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned status, const char *type, const void *body, size_t len)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
serve_stats(struct MHD_Connection *c)
{
	char out[1024];
	uint64_t seen = 0, p50 = 0, p99 = 0;
	int n;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < GAP_BUCKETS; i++) {
		seen += gap_hist[i];
		if (p50 == 0 && gaps && seen * 2 >= gaps)
			p50 = (uint64_t)i * 100 + 100;
		if (p99 == 0 && gaps && seen * 100 >= gaps * 99)
			p99 = (uint64_t)i * 100 + 100;
	}
	n = snprintf(out, sizeof(out),
	             "{\"targets\":%u,\"requests\":%" PRIu64 ",\"gaps\":%" PRIu64
	             ",\"gap_p50_ms\":%" PRIu64 ",\"gap_p99_ms\":%" PRIu64
	             ",\"gap_max_ms\":%" PRId64 ",\"body_bytes\":%zu}\n",
	             ntargets, requests, gaps, p50, p99, gap_max_ms,
	             bodies_key != UINT64_MAX ? bodies[0].len : 0);
	pthread_mutex_unlock(&lock);
	return answer(c, 200, "application/json", out, (size_t)n);
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
       const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	static const char suffix[] = "/debug/pprof/goroutine";
	unsigned long long t;
	char *end;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	(void)upload_data;
	(void)upload_size;
	/* Answer on the second call, once MHD has read the whole request: an answer queued on the
	 * first one makes MHD close the connection after it ("Connection: close"), and a scraper
	 * would open a connection per scrape (at 50,000 targets a minute, tens of thousands of
	 * sockets in TIME-WAIT and ephemeral ports running short). */
	if (*con_cls == NULL) {
		static int seen;

		*con_cls = &seen;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0)
		return answer(c, 405, "text/plain", "GET only\n", 9);
	if (strcmp(url, "/stats") == 0)
		return serve_stats(c);
	if (strcmp(url, "/reset") == 0) {
		pthread_mutex_lock(&lock);
		for (unsigned i = 0; i < ntargets; i++)
			last_req_ms[i] = -1;
		memset(gap_hist, 0, sizeof(gap_hist));
		gaps = 0;
		gap_max_ms = 0;
		pthread_mutex_unlock(&lock);
		return answer(c, 200, "text/plain", "reset\n", 6);
	}
	if (strcmp(url, "/leak") == 0) {
		char out[64];
		int n;

		static const char no[] = "not started with -leak-on-request\n";

		if (!leak_on_request)
			return answer(c, 409, "text/plain", no, sizeof(no) - 1);
		pthread_mutex_lock(&lock);
		if (leak_start_ms == 0) { /* a second request answers when the first started them */
			struct timespec now;

			clock_gettime(CLOCK_REALTIME, &now);
			leak_start_ms = mono_ms();
			leak_wall_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
		}
		n = snprintf(out, sizeof(out), "%lld\n", (long long)leak_wall_ms);
		pthread_mutex_unlock(&lock);
		return answer(c, 200, "text/plain", out, (size_t)n);
	}
	if (strncmp(url, "/t/", 3) != 0)
		return answer(c, 404, "text/plain", "not found\n", 10);
	errno = 0;
	t = strtoull(url + 3, &end, 10);
	if (errno || end == url + 3 || t >= ntargets || strcmp(end, suffix) != 0)
		return answer(c, 404, "text/plain", "no such target\n", 15);
	pthread_mutex_lock(&lock);
	{
		int64_t now = mono_ms();
		struct buf *b;

		bodies_refresh(current_epoch());
		requests++;
		if (last_req_ms[t] >= 0) {
			int64_t gap = now - last_req_ms[t];
			size_t bucket = (size_t)(gap / 100);

			gap_hist[bucket < GAP_BUCKETS ? bucket : GAP_BUCKETS - 1]++;
			gaps++;
			if (gap > gap_max_ms)
				gap_max_ms = gap;
		}
		last_req_ms[t] = now;
		b = t < leak_targets ? &bodies[(t * 7919u) % nvariants]
		                     : &flat_bodies[(t * 7919u) % nvariants];
		ret = answer(c, 200, "application/octet-stream", b->p, b->len);
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

static unsigned long
parse_num(const char *flag, const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		die("%s: bad number '%s'", flag, s);
	return v;
}

int
main(int argc, char **argv)
{
	unsigned port = 0;
	const char *portfile = NULL;
	long dump = -1;
	long leak_n = -1, leak_step = -1;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	sigset_t set;
	int sig;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-leak-on-request") == 0) {
			leak_on_request = true;
			continue;
		}
		if (v == NULL)
			die("usage: fleetsim -n TARGETS [-port P] [-portfile F] [-epoch S] "
			    "[-cycle S] [-variants V] [-leak-targets N] [-leak-on-request] "
			    "[-leak-step S] [-dump N]");
		if (strcmp(a, "-n") == 0)
			ntargets = (unsigned)parse_num(a, v, MAX_TARGETS);
		else if (strcmp(a, "-port") == 0)
			port = (unsigned)parse_num(a, v, 65535);
		else if (strcmp(a, "-portfile") == 0)
			portfile = v;
		else if (strcmp(a, "-epoch") == 0)
			epoch_seconds = (unsigned)parse_num(a, v, 86400);
		else if (strcmp(a, "-cycle") == 0)
			cycle_seconds = (unsigned)parse_num(a, v, 7 * 86400);
		else if (strcmp(a, "-variants") == 0)
			nvariants = (unsigned)parse_num(a, v, MAX_VARIANTS);
		else if (strcmp(a, "-leak-targets") == 0)
			leak_n = (long)parse_num(a, v, MAX_TARGETS);
		else if (strcmp(a, "-leak-step") == 0)
			leak_step = (long)parse_num(a, v, 86400);
		else if (strcmp(a, "-dump") == 0)
			dump = (long)parse_num(a, v, MAX_TARGETS);
		else
			die("unknown flag '%s'", a);
		i++;
	}
	if (epoch_seconds == 0 || nvariants == 0)
		die("-epoch and -variants must be > 0");
	if (cycle_seconds != 0 && cycle_seconds < 2 * epoch_seconds)
		die("-cycle must be at least two epochs");
	if (leak_on_request && cycle_seconds != 0)
		die("-leak-on-request and -cycle do not go together");
	if (leak_step == 0)
		die("-leak-step must be > 0");
	leak_step_ms = leak_step > 0 ? (unsigned)leak_step * 1000 : epoch_seconds * 1000 / 6;
	if (leak_step_ms < 1000)
		leak_step_ms = 1000;
	leak_targets =
	    leak_n >= 0 && (unsigned long)leak_n < ntargets ? (unsigned)leak_n : ntargets;
	clock_gettime(CLOCK_MONOTONIC, &start_ts);
	bodies = calloc(nvariants, sizeof(*bodies));
	flat_bodies = calloc(nvariants, sizeof(*flat_bodies));
	if (bodies == NULL || flat_bodies == NULL)
		die("out of memory");
	if (dump >= 0) {
		struct buf *b;

		bodies_refresh(0);
		b = &bodies[((unsigned long)dump * 7919u) % nvariants];
		return fwrite(b->p, 1, b->len, stdout) == b->len ? 0 : 1;
	}
	if (ntargets == 0)
		die("-n TARGETS is required");
	last_req_ms = malloc(ntargets * sizeof(*last_req_ms));
	if (last_req_ms == NULL)
		die("out of memory");
	for (unsigned i = 0; i < ntargets; i++)
		last_req_ms[i] = -1;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	{
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		d = MHD_start_daemon(
		    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL,
		    handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_CONNECTION_TIMEOUT,
		    (unsigned)120, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
	}
	if (d == NULL)
		die("cannot listen on 127.0.0.1:%u", port);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL)
		die("cannot get the bound port");
	fprintf(stderr, "fleetsim: %u targets on http://127.0.0.1:%u/t/<n>/debug/pprof/goroutine\n",
	        ntargets, (unsigned)info->port);
	if (portfile) {
		char tmp[PATH_MAX];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
		f = fopen(tmp, "w");
		if (f == NULL || fprintf(f, "%u\n", (unsigned)info->port) < 0 || fclose(f) != 0 ||
		    rename(tmp, portfile) != 0)
			die("cannot write '%s': %s", portfile, strerror(errno));
	}
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	for (unsigned v = 0; v < nvariants; v++) {
		free(bodies[v].p);
		free(flat_bodies[v].p);
	}
	free(bodies);
	free(flat_bodies);
	free(last_req_ms);
	return 0;
}
