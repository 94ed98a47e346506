// benign.go: healthy goroutines that look like leaks to a naive detector: an idle worker pool, sleep loops,
// bursts that rise and drain, a select on a ticker, a long-poll endpoint, a pool that grows once at start-up,
// and goroutines in IO wait on idle keep-alive connections.
package main

import (
	"io"
	"math/rand"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	poolSite    = newSite("pool", "benign", "chan receive", "chan receive", "unknown", "chan receive")
	sleepSite   = newSite("sleep", "benign", "sleep", "sleep", "sleep", "sleep")
	burstSite   = newSite("burst", "benign", "chan receive", "chan receive", "unknown", "chan receive")
	tickerSite  = newSite("ticker_select", "benign", "select", "select", "unknown", "select")
	pollSite    = newSite("longpoll", "benign", "select", "select", "unknown", "select")
	startupSite = newSite("startup_pool", "benign", "chan receive", "chan receive", "unknown",
		"chan receive")
	httpIdleSite = newSite("http_idle", "benign", "IO wait", "IO wait", "IO wait", "IO wait")
)

// --- an idle worker pool: size workers blocked on one channel receive, flat.

func startPool(size int) {
	jobs := make(chan int)
	for i := 0; i < size; i++ {
		go poolWorker(jobs)
	}
	keep(jobs)
}

func poolWorker(jobs <-chan int) {
	poolSite.arrive()
	for j := range jobs {
		poolSite.leave()
		_ = j
		poolSite.again()
	}
}

// --- time.Sleep loops.

func startSleepers(n int, every time.Duration) {
	for i := 0; i < n; i++ {
		go sleeper(every)
	}
}

func sleeper(every time.Duration) {
	for {
		sleepSite.arrive()
		time.Sleep(every)
		sleepSite.leave()
	}
}

// --- bursts of slow requests: size handlers arrive over hold, block on a channel, then all drain.

func runBursts(size int, every, hold time.Duration) {
	for {
		release := make(chan struct{})
		step := hold / time.Duration(size+1)
		for i := 0; i < size; i++ {
			go burstHandler(release)
			time.Sleep(step)
		}
		time.Sleep(hold - step*time.Duration(size))
		close(release)
		if every > hold {
			time.Sleep(every - hold)
		}
	}
}

func burstHandler(release <-chan struct{}) {
	burstSite.arrive()
	<-release
	burstSite.leave()
}

// --- a select on a ticker and a quit channel.

func startTickers(n int, tick time.Duration) {
	quit := make(chan struct{})
	for i := 0; i < n; i++ {
		go tickerLoop(tick, quit)
	}
	keep(quit)
}

func tickerLoop(tick time.Duration, quit <-chan struct{}) {
	t := time.NewTicker(tick)
	defer t.Stop()
	ticks := 0
	for {
		tickerSite.arrive()
		select {
		case <-t.C:
			tickerSite.leave()
			ticks++
		case <-quit:
			tickerSite.leave()
			return
		}
	}
}

// --- a long-poll endpoint: each request waits for an event, its client going away, or a 1-4 s timeout.

var pollEvents = make(chan int)

func longpollHandler(w http.ResponseWriter, r *http.Request) {
	timer := time.NewTimer(time.Second + time.Duration(rand.Int63n(int64(3*time.Second))))
	defer timer.Stop()
	pollSite.arrive()
	select {
	case ev := <-pollEvents:
		pollSite.leave()
		io.WriteString(w, "event "+itoa(ev)+"\n")
	case <-r.Context().Done():
		pollSite.leave()
	case <-timer.C:
		pollSite.leave()
		w.WriteHeader(http.StatusNoContent)
	}
}

// publishEvents wakes one waiting long-poll request now and then (non-blocking: nobody waiting, no event).
func publishEvents() {
	for i := 0; ; i++ {
		time.Sleep(time.Duration(300+rand.Intn(1200)) * time.Millisecond)
		select {
		case pollEvents <- i:
		default:
		}
	}
}

// longpollClient polls, sometimes gives up early, and sometimes goes away for a while.
func longpollClient(base string) {
	tr := &http.Transport{DisableKeepAlives: true}
	for {
		c := &http.Client{Transport: tr, Timeout: time.Duration(500+rand.Intn(4000)) * time.Millisecond}
		if resp, err := c.Get(base + "/poll"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		time.Sleep(time.Duration(rand.Intn(2000)) * time.Millisecond)
	}
}

// --- a pool that grows once at start-up (one worker per ramp step), then stays flat.

func startStartupPool(size int, ramp time.Duration) {
	jobs := make(chan int)
	keep(jobs)
	step := time.Duration(0)
	if size > 0 {
		step = ramp / time.Duration(size)
	}
	for i := 0; i < size; i++ {
		go startupWorker(jobs)
		time.Sleep(step)
	}
}

func startupWorker(jobs <-chan int) {
	startupSite.arrive()
	for j := range jobs {
		startupSite.leave()
		_ = j
		startupSite.again()
	}
}

// --- idle keep-alive connections: n clients make one request each and keep their connection open.
// The server side of each waits in IO wait inside net/http; the site is located by hand (see README).

func startHTTPIdle(base string, n int) {
	for i := 0; i < n; i++ {
		tr := &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: 0}
		c := &http.Client{Transport: tr}
		resp, err := c.Get(base + "/idle")
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		keep(tr)
		httpIdleSite.again() // the server end
		httpIdleSite.again() // the client end (its read loop)
	}
}

func idleHandler(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }

// serveApp starts the internal application listener (long-poll and idle endpoints). Returns its address.
func serveApp() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/poll", longpollHandler)
	mux.HandleFunc("/idle", idleHandler)
	go (&http.Server{Handler: mux}).Serve(ln)
	return ln.Addr().String(), nil
}

// keep holds a reference forever so nothing above is ever collected or closed.
var (
	keptMu sync.Mutex
	kept   []interface{}
)

func keep(v interface{}) {
	keptMu.Lock()
	kept = append(kept, v)
	keptMu.Unlock()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// locateHTTPIdle finds where the server end of an idle keep-alive connection waits, the way leakprofd
// attributes it: the first frame, outside runtime.* and internal/poll.*, of a goroutine in IO wait under
// net/http.(*conn).serve (Go 1.19: net.(*netFD).Read in net/fd_posix.go). The location is shared with every
// other connection reading in the process (both ends of the zoo's own idle connections wait there), so the
// entry is inexact: its count is the zoo's idle connections times two (server and client end), a lower bound.
// Called once the connections are idle; retries briefly while they settle.
func locateHTTPIdle() {
	s := httpIdleSite
	fn, file, line := "net/http.(*conn).serve", runtime.GOROOT()+"/src/net/http/server.go", 0
	for try := 0; try < 50; try++ {
		if f, fl, l, ok := findIdleFrame(); ok {
			fn, file, line = f, fl, l
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	s.function, s.file, s.line, s.exact = fn, file, line, false
	atomic.StoreInt32(&s.located, 1)
	s.mu.Unlock()
}

func findIdleFrame() (string, string, int, bool) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, rec := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(rec, " [IO wait") || !strings.Contains(rec, "\nnet/http.(*conn).serve(") {
			continue
		}
		lines := strings.Split(rec, "\n")
		for i := 1; i+1 < len(lines); i += 2 {
			fn := lines[i]
			if j := strings.LastIndexByte(fn, '('); j > 0 {
				fn = fn[:j]
			}
			if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/poll.") {
				continue
			}
			loc := strings.TrimPrefix(lines[i+1], "\t")
			if j := strings.LastIndex(loc, " +0x"); j > 0 {
				loc = loc[:j]
			}
			k := strings.LastIndexByte(loc, ':')
			line, err := strconv.Atoi(loc[k+1:])
			if k < 0 || err != nil {
				return "", "", 0, false
			}
			return fn, loc[:k], line, true
		}
	}
	return "", "", 0, false
}
