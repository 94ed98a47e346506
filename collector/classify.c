/* collector/classify.c: location attribution and op inference from frame names. The tables name the
 * runtime and standard-library functions of Go 1.19 through 1.27 that sit between a blocked
 * goroutine's own code and the scheduler (see ../shared/docs/goroutine-profile-formats.md, "Leaf
 * frames that name the blocking op"). */
#include <string.h>

#include "collector/classify.h"

#define LIT(s) (s), (sizeof(s) - 1)

static bool
eq(const char *fn, size_t len, const char *lit, size_t litlen)
{
	return len == litlen && memcmp(fn, lit, len) == 0;
}

static bool
prefix(const char *fn, size_t len, const char *lit, size_t litlen)
{
	return len >= litlen && memcmp(fn, lit, litlen) == 0;
}

static bool
contains(const char *fn, size_t len, const char *lit, size_t litlen)
{
	return len >= litlen && memmem(fn, len, lit, litlen) != NULL;
}

/* The sync methods whose waits belong to their caller. */
static const struct {
	const char *s;
	size_t len;
} sync_blocking[] = {
    {LIT("sync.(*WaitGroup).Wait")}, {LIT("sync.(*Mutex).Lock")},   {LIT("sync.(*Mutex).lockSlow")},
    {LIT("sync.(*RWMutex).RLock")},  {LIT("sync.(*RWMutex).Lock")}, {LIT("sync.(*Cond).Wait")},
    {LIT("sync.(*Once).Do")},        {LIT("sync.(*Once).doSlow")},
};

bool
classify_internal(const char *fn, size_t len)
{
	if (len < 5)
		return false;
	switch (fn[0]) {
	case 'r':
		/* package runtime only: runtime/pprof, runtime/trace are ordinary code */
		return prefix(fn, len, LIT("runtime."));
	case 'i':
		return prefix(fn, len, LIT("internal/poll.")) ||
		       prefix(fn, len, LIT("internal/sync."));
	case 't':
		return eq(fn, len, LIT("time.Sleep"));
	case 's':
		if (!prefix(fn, len, LIT("sync.")))
			return false;
		if (prefix(fn, len, LIT("sync.runtime_")))
			return true;
		for (size_t i = 0; i < sizeof(sync_blocking) / sizeof(sync_blocking[0]); i++) {
			if (eq(fn, len, sync_blocking[i].s, sync_blocking[i].len))
				return true;
		}
		return false;
	default:
		return false;
	}
}

size_t
classify_location(const struct raw_frame *frames, size_t n, bool *found)
{
	for (size_t i = 0; i < n; i++) {
		if (!classify_internal(frames[i].fn, frames[i].fnlen)) {
			*found = true;
			return i;
		}
	}
	*found = false;
	return n > 0 ? n - 1 : 0;
}

const char *
classify_refine_semacquire(const struct raw_frame *frames, size_t n)
{
	/* The innermost sync caller decides, as the runtime does from Go 1.20 on: an RWMutex.Lock
	 * waiting on its inner mutex is a sync.Mutex.Lock wait. */
	for (size_t i = 0; i < n; i++) {
		const char *fn = frames[i].fn;
		size_t len = frames[i].fnlen;

		if (contains(fn, len, LIT("runtime_SemacquireWaitGroup")))
			return "sync.WaitGroup.Wait";
		if (contains(fn, len, LIT("runtime_SemacquireRWMutexR")))
			return "sync.RWMutex.RLock";
		if (len >= 25 && memcmp(fn + len - 25, "runtime_SemacquireRWMutex", 25) == 0)
			return "sync.RWMutex.Lock";
		if (prefix(fn, len, LIT("runtime.")) ||
		    contains(fn, len, LIT("runtime_Semacquire")))
			continue;
		if (eq(fn, len, LIT("sync.(*WaitGroup).Wait")))
			return "sync.WaitGroup.Wait";
		if (eq(fn, len, LIT("sync.(*Mutex).lockSlow")) ||
		    eq(fn, len, LIT("sync.(*Mutex).Lock")) ||
		    eq(fn, len, LIT("internal/sync.(*Mutex).lockSlow")) ||
		    eq(fn, len, LIT("internal/sync.(*Mutex).Lock")))
			return "sync.Mutex.Lock";
		if (eq(fn, len, LIT("sync.(*RWMutex).RLock")))
			return "sync.RWMutex.RLock";
		if (eq(fn, len, LIT("sync.(*RWMutex).Lock")))
			return "sync.RWMutex.Lock";
		break;
	}
	return "semacquire";
}

static const char *
runtime_op(const char *fn, size_t len)
{
	static const struct {
		const char *s;
		size_t len;
		const char *op;
	} tab[] = {
	    {LIT("runtime.chansend1"), "chan send"},
	    {LIT("runtime.chansend"), "chan send"},
	    {LIT("runtime.chanrecv1"), "chan receive"},
	    {LIT("runtime.chanrecv2"), "chan receive"},
	    {LIT("runtime.chanrecv"), "chan receive"},
	    {LIT("runtime.selectgo"), "select"},
	    {LIT("runtime.block"), "select (no cases)"},
	    {LIT("runtime.Gosched"), "runnable"},
	    {LIT("runtime.goschedguarded"), "runnable"},
	    {LIT("runtime.goschedIfBusy"), "runnable"},
	    {LIT("runtime.gopreempt_m"), "runnable"},
	    {LIT("runtime.asyncPreempt"), "runnable"},
	    {LIT("runtime.asyncPreempt2"), "runnable"},
	    {LIT("runtime.notetsleepg"), "syscall"},
	    {LIT("runtime.Stack"), "running"},
	    {LIT("runtime.GoroutineProfile"), "running"},
	    {LIT("runtime.goroutineProfileWithLabels"), "running"},
	    {LIT("runtime.goroutineProfileWithLabelsConcurrent"), "running"},
	    {LIT("runtime.goroutineProfileWithLabelsSync"), "running"},
	    {LIT("runtime.goroutineLeakProfileWithLabels"), "running"},
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (eq(fn, len, tab[i].s, tab[i].len))
			return tab[i].op;
	}
	return NULL;
}

const char *
classify_infer_op(const struct raw_frame *frames, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *fn = frames[i].fn;
		size_t len = frames[i].fnlen;
		const char *op;

		if (prefix(fn, len, LIT("runtime."))) {
			op = runtime_op(fn, len);
			if (op != NULL)
				return op;
			continue; /* gopark, semacquire1, netpollblock, ...: look further */
		}
		if ((prefix(fn, len, LIT("sync.")) || prefix(fn, len, LIT("internal/sync."))) &&
		    contains(fn, len, LIT(".runtime_Semacquire")))
			return classify_refine_semacquire(frames + i, n - i);
		if (eq(fn, len, LIT("sync.runtime_notifyListWait")))
			return "sync.Cond.Wait";
		if (eq(fn, len, LIT("internal/poll.runtime_pollWait")))
			return "IO wait";
		if (eq(fn, len, LIT("time.Sleep")))
			return "sleep";
		if (prefix(fn, len, LIT("runtime/pprof.")))
			return "running";
		if (prefix(fn, len, LIT("syscall.Syscall")) ||
		    prefix(fn, len, LIT("syscall.RawSyscall")) ||
		    prefix(fn, len, LIT("runtime/internal/syscall.")) ||
		    prefix(fn, len, LIT("internal/runtime/syscall.")))
			return "syscall";
		return "unknown";
	}
	/* Nothing but runtime frames: a runtime worker, never a leak of the program's own. */
	return n > 0 ? "waiting" : "unknown";
}

/* Wait reasons that end in a parenthesised word of their own. */
static const char *const paren_reasons[] = {
    "select (no cases)",  "force gc (idle)",           "timer goroutine (idle)", "GC worker (idle)",
    "GC worker (active)", "GOMAXPROCS updater (idle)", "trace reader (blocked)",
};

size_t
classify_strip_markers(const char *s, size_t len, bool *leaked)
{
	for (;;) {
		size_t i, open = 0;
		bool known = false;

		if (len < 4 || s[len - 1] != ')')
			return len;
		for (i = 0; i < sizeof(paren_reasons) / sizeof(paren_reasons[0]); i++) {
			if (strlen(paren_reasons[i]) == len &&
			    memcmp(paren_reasons[i], s, len) == 0)
				known = true;
		}
		if (known)
			return len;
		for (i = len - 1; i-- > 0;) {
			if (s[i] == '(') {
				open = i;
				break;
			}
			if (s[i] == ' ' || s[i] == ')')
				return len; /* "(nil chan)": not a one-word marker */
		}
		if (open < 1 || s[open - 1] != ' ' || open + 2 >= len)
			return len;
		if (len - open - 2 == 6 && memcmp(s + open + 1, "leaked", 6) == 0)
			*leaked = true;
		len = open - 1;
	}
}
