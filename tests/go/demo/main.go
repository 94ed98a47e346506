// demo: a small Go service for `make run` that leaks goroutines slowly next to healthy ones, so leakprofd has
// something real to find. Internal clients call its own HTTP endpoints: /lookup leaks one goroutine per call on
// an early-return path (about every 3 s), /fetch leaks one per call after a timeout (about every 10 s). A healthy
// idle worker pool, heartbeat sleepers and a select on a ticker stay flat. See tests/go/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"strconv"
	"time"
)

var errNotFound = errors.New("not found")

// /lookup: asks the backend in a goroutine, but returns early when the key is invalid, without receiving the
// backend's answer: the backend goroutine blocks forever on its send (fix: make(chan string, 1)).
func handleLookup(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	answer := make(chan string)
	go func() {
		answer <- lookupBackend(key)
	}()
	if len(key) < 4 {
		http.Error(w, "invalid key", http.StatusBadRequest)
		return
	}
	io.WriteString(w, <-answer+"\n")
}

func lookupBackend(key string) string {
	time.Sleep(time.Millisecond)
	return "value of " + key
}

// /fetch: gives up after 5 ms; the worker answers later and blocks forever on its send (fix: a buffer of 1).
func handleFetch(w http.ResponseWriter, r *http.Request) {
	body, err := fetchWithTimeout(r.Context(), 5*time.Millisecond)
	if err != nil {
		http.Error(w, err.Error(), http.StatusGatewayTimeout)
		return
	}
	w.Write(body)
}

func fetchWithTimeout(ctx context.Context, d time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan []byte)
	go func() {
		done <- fetchBackend()
	}()
	select {
	case b := <-done:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func fetchBackend() []byte {
	time.Sleep(50 * time.Millisecond) // a slow backend
	return []byte("fetched\n")
}

// A healthy pool: 64 workers waiting for jobs, one job a second.
func poolWorker(jobs <-chan int) {
	for j := range jobs {
		_ = j * j
	}
}

func heartbeat(every time.Duration) {
	for {
		time.Sleep(every)
	}
}

func metricsFlusher(quit <-chan struct{}) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-quit:
			return
		}
	}
}

// client calls path every 'every' (with a little jitter) forever.
func client(url string, every time.Duration) {
	c := &http.Client{Timeout: 5 * time.Second}
	for {
		time.Sleep(every + time.Duration(rand.Int63n(int64(every/10)+1)))
		if resp, err := c.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6060", "listen address (pprof and the demo endpoints)")
	portfile := flag.String("portfile", "", "write the bound port to this file once listening")
	flag.Parse()

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "leakprofd demo: leaks in main.handleLookup.func1 (~1/3 s) and main.fetchWithTimeout.func1 (~1/10 s); "+
			"profiles at /debug/pprof/goroutine\n")
	})
	http.HandleFunc("/lookup", handleLookup)
	http.HandleFunc("/fetch", handleFetch)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(2)
	}
	go http.Serve(ln, nil)

	jobs := make(chan int)
	for i := 0; i < 64; i++ {
		go poolWorker(jobs)
	}
	go func() {
		for i := 0; ; i++ {
			time.Sleep(time.Second)
			jobs <- i
		}
	}()
	for i := 0; i < 4; i++ {
		go heartbeat(time.Duration(5+i) * time.Second)
	}
	go metricsFlusher(make(chan struct{}))

	base := "http://" + ln.Addr().String()
	go client(base+"/lookup?key=x", 3*time.Second)
	go client(base+"/fetch", 10*time.Second)

	if *portfile != "" {
		tmp := *portfile + ".tmp"
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		if err := os.WriteFile(tmp, []byte(port+"\n"), 0o644); err == nil {
			err = os.Rename(tmp, *portfile)
		}
	}
	fmt.Fprintf(os.Stderr, "demo: listening on %s (pid %d); leaking slowly\n", ln.Addr(), os.Getpid())
	for {
		time.Sleep(time.Hour)
	}
}
