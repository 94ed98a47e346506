// fixturegen parks goroutines in every blocking operation Go can show, each pattern with its own count and its
// own function, then writes this process's goroutine profile in all three formats:
// OUT/goroutine.debug0.pb.gz, OUT/goroutine.debug1.txt, OUT/goroutine.debug2.txt; where the runtime has the
// goroutineleak profile (Go 1.26 with GOEXPERIMENT=goroutineleakprofile, Go 1.27) also
// OUT/goroutineleak.debug0.pb.gz, OUT/goroutineleak.debug1.txt, OUT/goroutineleak.debug2.txt (written last: the
// leak detection marks goroutines leaked for good); and OUT/expected.txt ("count op function file:line leaked"
// per pattern, the line being where the goroutine parks, leaked what the goroutineleak profile reports there).
//
// With -age DUR (at least 1m, under 2m) the profiles are written DUR after a GC stamped every parked goroutine's
// wait start, so debug=2 headers carry ", 1 minutes"; the goroutines of main.nilRecv are started in two groups,
// the later one half-way through DUR, so that one location holds waits of 1 and of 0 minutes.
//
//	fixturegen -out DIR [-age 61s]
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var parked int64

type expect struct {
	count  int
	op     string
	fn     string
	line   int // 0: inside the standard library, not checked
	leaked bool
}

var expected []expect

var (
	arrivedMu sync.Mutex
	arrived   = map[string]int{} // function -> the line right after its arrive() call
)

// arrive counts the calling goroutine as parked at the statement right after the call, and records that line
// under the caller's name: every arrive() is immediately followed by the blocking statement.
//
//go:noinline
func arrive() {
	pcs := make([]uintptr, 1)
	if runtime.Callers(2, pcs) == 1 {
		f, _ := runtime.CallersFrames(pcs).Next()
		arrivedMu.Lock()
		arrived[f.Function] = f.Line + 1
		arrivedMu.Unlock()
	}
	atomic.AddInt64(&parked, 1)
}

func chanSend(c chan int) {
	arrive()
	c <- 1
}

func chanRecv(c chan int) {
	arrive()
	<-c
}

func rangeRecv(c chan int) {
	arrive()
	for range c {
	}
}

func nilSend() {
	var c chan int
	arrive()
	c <- 1
}

func nilRecv() {
	var c chan int
	arrive()
	<-c
}

func selectTwo(a, b chan int) {
	arrive()
	select {
	case <-a:
	case <-b:
	}
}

// selectForever also holds its OS thread: the header says ", locked to thread".
func selectForever() {
	runtime.LockOSThread()
	arrive()
	select {}
}

func wgWait(wg *sync.WaitGroup) {
	arrive()
	wg.Wait()
}

func mutexLock(mu *sync.Mutex) {
	arrive()
	mu.Lock()
}

func rwRLock(rw *sync.RWMutex) {
	arrive()
	rw.RLock()
}

func rwLock(rw *sync.RWMutex) {
	arrive()
	rw.Lock()
}

func condWait(c *sync.Cond) {
	c.L.Lock()
	arrive()
	c.Wait()
}

func sleeper() {
	arrive()
	time.Sleep(time.Hour)
}

func acceptor(l net.Listener) {
	atomic.AddInt64(&parked, 1)
	l.Accept()
}

// deep recurses so the stack exceeds debug=2's 100-frame limit.
func deep(n int, c chan int) {
	if n == 0 {
		arrive()
		<-c
		return
	}
	deep(n-1, c)
}

func labeled(c chan int) {
	// Label values are arbitrary text: one needs quoting, one holds what a header parser could mistake for
	// its own syntax.
	pprof.Do(context.Background(), pprof.Labels("leak", "labeled", "k2", "v 2",
		"route", "/items/{id}], 5 minutes"), func(context.Context) {
		arrive()
		<-c
	})
}

// Locks shared the way a service keeps them: reachable from package variables, so Go's leak detection never
// reports the goroutines blocked on them. Every channel, WaitGroup and Cond below is reachable only from the
// goroutines blocked on it: those goroutines are leaked.
var (
	sharedMu  sync.Mutex
	sharedRW  sync.RWMutex
	sharedRW2 sync.RWMutex
)

// start runs f in n goroutines, expected to park in fn with op; leaked: the goroutineleak profile reports them.
func start(n int, op, fn string, leaked bool, f func()) {
	for i := 0; i < n; i++ {
		go f()
	}
	expected = append(expected, expect{count: n, op: op, fn: fn, leaked: leaked})
}

// startWaitGroup and startCond keep the WaitGroup and the Cond in no frame that outlives them.
func startWaitGroup(n int) {
	wg := new(sync.WaitGroup)
	wg.Add(1)
	start(n, "sync.WaitGroup.Wait", "main.wgWait", true, func() { wgWait(wg) })
}

func startCond(n int) {
	cond := sync.NewCond(new(sync.Mutex))
	start(n, "sync.Cond.Wait", "main.condWait", true, func() { condWait(cond) })
}

func waitParked() {
	want := int64(0)
	for _, e := range expected {
		want += int64(e.count)
	}
	for atomic.LoadInt64(&parked) < want {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "fixturegen:", err)
	os.Exit(1)
}

func write(dir, name, profile string, debug int) {
	w, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		fatal(err)
	}
	if err := pprof.Lookup(profile).WriteTo(w, debug); err != nil {
		fatal(err)
	}
	if err := w.Close(); err != nil {
		fatal(err)
	}
}

func main() {
	out := flag.String("out", ".", "output directory")
	age := flag.Duration("age", 0, "write the profiles this long after a GC stamped the waits (1m to 2m)")
	flag.Parse()
	if *age != 0 && (*age < time.Minute || *age >= 2*time.Minute) {
		fatal(fmt.Errorf("-age %v: want at least 1m and under 2m (headers then say '1 minutes')", *age))
	}

	sharedMu.Lock()
	sharedRW.Lock()
	sharedRW2.RLock()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}

	// Counts are distinct so a mix-up between patterns shows.
	start(1, "chan send", "main.chanSend", true, func() { chanSend(make(chan int)) })
	start(2, "chan receive", "main.chanRecv", true, func() { chanRecv(make(chan int)) })
	start(3, "chan receive", "main.rangeRecv", true, func() { rangeRecv(make(chan int)) })
	start(4, "chan send (nil chan)", "main.nilSend", true, nilSend)
	lateNilRecv := 0
	if *age != 0 {
		lateNilRecv = 2 // started half-way through -age: waits under a minute at the same location
	}
	start(5-lateNilRecv, "chan receive (nil chan)", "main.nilRecv", true, nilRecv)
	start(6, "select", "main.selectTwo", true, func() { selectTwo(make(chan int), make(chan int)) })
	start(7, "select (no cases)", "main.selectForever", true, selectForever)
	startWaitGroup(8)
	start(9, "sync.Mutex.Lock", "main.mutexLock", false, func() { mutexLock(&sharedMu) })
	start(10, "sync.RWMutex.RLock", "main.rwRLock", false, func() { rwRLock(&sharedRW) })
	// 11 writers on sharedRW2: the first holds its writer mutex and waits for the reader to leave
	// (sync.RWMutex.Lock); the other 10 wait for that mutex, which Go 1.20+ reports as sync.Mutex.Lock.
	start(11, "sync.RWMutex.Lock", "main.rwLock", false, func() { rwLock(&sharedRW2) })
	startCond(12)
	start(13, "sleep", "main.sleeper", false, sleeper)
	start(1, "IO wait", "net.(*netFD).accept", false, func() { acceptor(l) })
	start(14, "chan receive", "main.deep", true, func() { deep(150, make(chan int)) })
	start(15, "chan receive", "main.labeled.func1", true, func() { labeled(make(chan int)) })
	waitParked()
	if *age != 0 {
		// A GC stamps each waiting goroutine it finds unstamped with the time of the previous GC's mark
		// termination (none before the first): the second one stamps every goroutine parked so far.
		runtime.GC()
		runtime.GC()
		time.Sleep(*age / 2)
		for i := 0; i < lateNilRecv; i++ {
			go nilRecv()
		}
		for i := range expected {
			if expected[i].fn == "main.nilRecv" {
				expected[i].count += lateNilRecv
			}
		}
		waitParked()
		time.Sleep(*age - *age/2 - 300*time.Millisecond)
	}

	arrivedMu.Lock()
	for i := range expected {
		e := &expected[i]
		if strings.HasPrefix(e.fn, "main.") {
			if e.line = arrived[e.fn]; e.line == 0 {
				fatal(fmt.Errorf("no goroutine arrived in %s", e.fn))
			}
		}
	}
	arrivedMu.Unlock()
	for i, e := range expected {
		if e.fn == "main.rwLock" {
			expected[i].count = 1
			tail := append([]expect{{10, "sync.Mutex.Lock", e.fn, e.line, false}}, expected[i:]...)
			expected = append(expected[:i], tail...)
			break
		}
	}

	write(*out, "goroutine.debug0.pb.gz", "goroutine", 0)
	write(*out, "goroutine.debug1.txt", "goroutine", 1)
	write(*out, "goroutine.debug2.txt", "goroutine", 2)
	// The leak detection marks the goroutines it finds leaked for good: the goroutine profiles come first.
	if pprof.Lookup("goroutineleak") != nil {
		write(*out, "goroutineleak.debug0.pb.gz", "goroutineleak", 0)
		write(*out, "goroutineleak.debug1.txt", "goroutineleak", 1)
		write(*out, "goroutineleak.debug2.txt", "goroutineleak", 2)
	}

	w, err := os.Create(filepath.Join(*out, "expected.txt"))
	if err != nil {
		fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	for _, e := range expected {
		leaked := 0
		if e.leaked {
			leaked = e.count
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s:%d\t%d\n", e.count, e.op, e.fn, filepath.Base(file), e.line, leaked)
	}
	if err := w.Close(); err != nil {
		fatal(err)
	}
}
