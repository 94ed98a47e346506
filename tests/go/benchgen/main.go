// benchgen parks many goroutines and writes this process's goroutine profile, as input for
// tests/bench/bench_parse.sh (which caches the files under build/bench/).
//
//	benchgen -kind deep -out DIR   65,536 distinct stacks (8 varying levels of 4 callers, plus a fixed tail)
//	                               over 100,000 goroutines: DIR/goroutine.debug0.pb.gz, DIR/goroutine.debug1.txt
//	benchgen -kind wide -out DIR   100,000 goroutines with short stacks: DIR/goroutine.debug2.txt (runtime.Stack
//	                               stops at 64 MiB, so debug=2 stacks are kept short to stay whole)
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

const fixedTail = 1

var (
	parked int64
	recvq  = make(chan int) // never sent on
	sendq  = make(chan int) // never received from
	mu     sync.Mutex
)

// The leaf: four parking places (and ops) chosen by the goroutine id.
//
//go:noinline
func leaf(id int) {
	atomic.AddInt64(&parked, 1)
	switch id % 4 {
	case 0:
		<-recvq
	case 1:
		sendq <- 1
	case 2:
		select {
		case <-recvq:
		case sendq <- 2:
		}
	default:
		mu.Lock()
	}
}

//go:noinline
func l0(level, id int) { next(level, id) }

//go:noinline
func l1(level, id int) { next(level, id) }

//go:noinline
func l2(level, id int) { next(level, id) }

//go:noinline
func l3(level, id int) { next(level, id) }

// next calls one of four functions per level: 8 varying levels give 4^8 = 65,536 distinct stacks.
//
//go:noinline
func next(level, id int) {
	if level == 8+fixedTail {
		leaf(id)
		return
	}
	digit := 0
	if level < 8 {
		digit = (id >> (2 * level)) & 3
	}
	switch digit {
	case 0:
		l0(level+1, id)
	case 1:
		l1(level+1, id)
	case 2:
		l2(level+1, id)
	default:
		l3(level+1, id)
	}
}

func write(dir, name string, debug int) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.Lookup("goroutine").WriteTo(f, debug); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	kind := flag.String("kind", "deep", "deep (debug=0 and debug=1) or wide (debug=2)")
	out := flag.String("out", ".", "output directory")
	n := flag.Int("goroutines", 100000, "goroutines to park")
	flag.Parse()

	mu.Lock()
	for i := 0; i < *n; i++ {
		if *kind == "deep" {
			go next(0, i%65536)
		} else {
			go next(8, i) // the fixed tail only: about 500 bytes per goroutine
		}
	}
	for atomic.LoadInt64(&parked) < int64(*n) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if *kind == "deep" {
		write(*out, "goroutine.debug0.pb.gz", 0)
		write(*out, "goroutine.debug1.txt", 1)
	} else {
		write(*out, "goroutine.debug2.txt", 2)
	}
}
