// fixturegen parks goroutines in every blocking operation Go 1.19 can show, each pattern with its own count
// and its own function, then writes this process's goroutine profile in all three formats:
// OUT/goroutine.debug0.pb.gz, OUT/goroutine.debug1.txt, OUT/goroutine.debug2.txt, and OUT/expected.txt
// ("count op function file:line" per pattern, the line being where the goroutine parks).
//
//	fixturegen -out DIR
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
	"sync"
	"sync/atomic"
	"time"
)

var parked int64

type expect struct {
	count int
	op    string
	fn    string
	file  string
	line  int
}

var expected []expect

func note(n int, op, fn string, file string, line int) {
	expected = append(expected, expect{n, op, fn, file, line})
}

func chanSend(c chan int) {
	atomic.AddInt64(&parked, 1)
	c <- 1
}

func chanRecv(c chan int) {
	atomic.AddInt64(&parked, 1)
	<-c
}

func rangeRecv(c chan int) {
	atomic.AddInt64(&parked, 1)
	for range c {
	}
}

func nilSend() {
	var c chan int
	atomic.AddInt64(&parked, 1)
	c <- 1
}

func nilRecv() {
	var c chan int
	atomic.AddInt64(&parked, 1)
	<-c
}

func selectTwo(a, b chan int) {
	atomic.AddInt64(&parked, 1)
	select {
	case <-a:
	case <-b:
	}
}

func selectForever() {
	atomic.AddInt64(&parked, 1)
	select {}
}

func wgWait(wg *sync.WaitGroup) {
	atomic.AddInt64(&parked, 1)
	wg.Wait()
}

func mutexLock(mu *sync.Mutex) {
	atomic.AddInt64(&parked, 1)
	mu.Lock()
}

func rwRLock(rw *sync.RWMutex) {
	atomic.AddInt64(&parked, 1)
	rw.RLock()
}

func rwLock(rw *sync.RWMutex) {
	atomic.AddInt64(&parked, 1)
	rw.Lock()
}

func condWait(c *sync.Cond) {
	c.L.Lock()
	atomic.AddInt64(&parked, 1)
	c.Wait()
}

func sleeper() {
	atomic.AddInt64(&parked, 1)
	time.Sleep(time.Hour)
}

func acceptor(l net.Listener) {
	atomic.AddInt64(&parked, 1)
	l.Accept()
}

// deep recurses so the stack exceeds debug=2's 100-frame limit.
func deep(n int, c chan int) {
	if n == 0 {
		atomic.AddInt64(&parked, 1)
		<-c
		return
	}
	deep(n-1, c)
}

func labeled(c chan int) {
	pprof.Do(context.Background(), pprof.Labels("leak", "labeled", "k2", "v 2"), func(context.Context) {
		atomic.AddInt64(&parked, 1)
		<-c
	})
}

func start(n int, op, fn string, line int, f func()) {
	for i := 0; i < n; i++ {
		go f()
	}
	_, file, _, _ := runtime.Caller(0)
	note(n, op, fn, file, line)
}

func main() {
	out := flag.String("out", ".", "output directory")
	flag.Parse()

	var wg sync.WaitGroup
	wg.Add(1)
	var mu sync.Mutex
	mu.Lock()
	var rw sync.RWMutex
	rw.Lock()
	var rw2 sync.RWMutex
	rw2.RLock()
	cond := sync.NewCond(&sync.Mutex{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	// Counts are distinct so a mix-up between patterns shows. Lines: see the functions above.
	start(1, "chan send", "main.chanSend", 41, func() { chanSend(make(chan int)) })
	start(2, "chan receive", "main.chanRecv", 46, func() { chanRecv(make(chan int)) })
	start(3, "chan receive", "main.rangeRecv", 51, func() { rangeRecv(make(chan int)) })
	start(4, "chan send (nil chan)", "main.nilSend", 58, nilSend)
	start(5, "chan receive (nil chan)", "main.nilRecv", 64, nilRecv)
	start(6, "select", "main.selectTwo", 69, func() { selectTwo(make(chan int), make(chan int)) })
	start(7, "select (no cases)", "main.selectForever", 77, selectForever)
	start(8, "sync.WaitGroup.Wait", "main.wgWait", 82, func() { wgWait(&wg) })
	start(9, "sync.Mutex.Lock", "main.mutexLock", 87, func() { mutexLock(&mu) })
	start(10, "sync.RWMutex.RLock", "main.rwRLock", 92, func() { rwRLock(&rw) })
	note(10, "sync.Mutex.Lock", "main.rwLock", "main.go", 97) // the others wait for rw.w, as Go 1.20+ reports it
	start(11, "sync.RWMutex.Lock", "main.rwLock", 97, func() { rwLock(&rw2) })
	expected[len(expected)-1].count = 1 // the one holding rw.w waits on the writer semaphore
	start(12, "sync.Cond.Wait", "main.condWait", 103, func() { condWait(cond) })
	start(13, "sleep", "main.sleeper", 108, sleeper)
	start(1, "IO wait", "net.(*netFD).accept", 0, func() { acceptor(l) })
	start(14, "chan receive", "main.deep", 120, func() { deep(150, make(chan int)) })
	start(15, "chan receive", "main.labeled.func1", 129, func() { labeled(make(chan int)) })

	want := int64(0)
	for _, e := range expected {
		want += int64(e.count)
	}
	for atomic.LoadInt64(&parked) < want {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)

	for _, f := range []struct {
		name  string
		debug int
	}{{"goroutine.debug0.pb.gz", 0}, {"goroutine.debug1.txt", 1}, {"goroutine.debug2.txt", 2}} {
		w, err := os.Create(filepath.Join(*out, f.name))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.Lookup("goroutine").WriteTo(w, f.debug); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		w.Close()
	}
	w, err := os.Create(filepath.Join(*out, "expected.txt"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, e := range expected {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s:%d\n", e.count, e.op, e.fn, filepath.Base(e.file), e.line)
	}
	w.Close()
}
