// leakcost holds many blocked goroutines and serves net/http/pprof, to measure what a goroutine leak
// profile fetch costs against a goroutine profile fetch (the README's figures):
//
//	leakcost [-addr 127.0.0.1:0] [-portfile FILE] [-leaked N] [-blocked N] [-heap MiB]
//
// -leaked N goroutines wait to receive on channels nothing else references (what the leak profile's
// garbage collection cycle proves leaked); -blocked N wait on one channel a global holds (blocked, not
// leaked). Both park in a few frames of one function, as a leak in a service does. -heap keeps that many MiB
// of small linked objects live, as a service's caches do: a garbage collection cycle marks all of them.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"sync"
)

// held is reachable for the whole run: goroutines waiting on it are not leaked.
var held = make(chan struct{})

// node is a small heap object with a pointer, 64 bytes.
type node struct {
	next *node
	pad  [7]uint64
}

var live *node

func wait(ch chan struct{}, wg *sync.WaitGroup) {
	wg.Done()
	<-ch
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	portfile := flag.String("portfile", "", "write the bound port to this file once listening")
	leaked := flag.Int("leaked", 10000, "goroutines blocked on unreachable channels")
	blocked := flag.Int("blocked", 0, "goroutines blocked on a reachable channel")
	heap := flag.Int("heap", 0, "MiB of live heap objects")
	flag.Parse()
	for i := 0; i < *heap*(1<<20)/64; i++ {
		live = &node{next: live}
	}
	if *leaked < 0 || *blocked < 0 {
		fmt.Fprintln(os.Stderr, "leakcost: -leaked and -blocked must not be negative")
		os.Exit(2)
	}
	var wg sync.WaitGroup
	wg.Add(*leaked + *blocked)
	for i := 0; i < *leaked; i++ {
		go wait(make(chan struct{}), &wg)
	}
	for i := 0; i < *blocked; i++ {
		go wait(held, &wg)
	}
	wg.Wait()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "leakcost:", err)
		os.Exit(1)
	}
	if *portfile != "" {
		port := fmt.Sprintf("%d\n", ln.Addr().(*net.TCPAddr).Port)
		if err := os.WriteFile(*portfile+".tmp", []byte(port), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "leakcost:", err)
			os.Exit(1)
		}
		if err := os.Rename(*portfile+".tmp", *portfile); err != nil {
			fmt.Fprintln(os.Stderr, "leakcost:", err)
			os.Exit(1)
		}
	}
	fmt.Fprintln(os.Stderr, "leakcost: serving", ln.Addr())
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, "leakcost:", err)
		os.Exit(1)
	}
}
