// fleetsvc: one instance of a service as fleets run them, for the detector's fleet evaluation
// (tests/integration/eval.sh): an idle worker pool, a leak at one known line (or the fixed build of the same
// code), bursts of slow requests, and restarts on the same address with no gap. Serves net/http/pprof and
// GET /expected (the exact location of each site: the ground truth).
//
//	build/go/fleetsvc [-addr 127.0.0.1:0] [-portfile FILE] [-pool-size N] [-leak-rate R] [-leak-count N]
//	                  [-fixed] [-burst-size N] [-burst-every DUR] [-burst-hold DUR] [-burst-start DUR]
//	                  [-restart-every DUR] [-restart-first DUR] [-exit-after DUR]
//
// -addr, -portfile, -exit-after and durations as everywhere in tests/go (README.md). The service:
//   - -pool-size N (default 2000): N workers of main.poolWorker idle in `for j := range jobs` (chan receive), all
//     parked before the service answers its first request.
//   - -leak-rate R (per second, default 0) and -leak-count N (at start, default 0): requests that return on an
//     error path before receiving their child's result; the child (main.leakChild) blocks forever on `c <- v`
//     (chan send). The first rate request runs at start.
//   - -fixed: the same requests through the fixed code at the same line (the child's channel has a buffer of
//     one): the send completes, nothing stays parked.
//   - -burst-size N (default 0: none): every -burst-every (default 10s), N handlers (main.burstHandler, chan
//     receive) arrive evenly over -burst-hold (default 5s), then all drain at once; the first burst starts
//     -burst-start (default 0) after start.
//
// -restart-every DUR makes this process a supervisor. It binds -addr once, writes -portfile and runs the service
// as a child process that inherits the listening socket. After -restart-first (default: DUR), then every DUR, it
// stops the child (SIGTERM: the child stops accepting, finishes the requests in flight, closes its connections
// and exits) and starts the next one at once. The socket stays open in the supervisor throughout, so a
// connection that arrives between two children waits in the listen backlog instead of being refused: the address
// never goes down and no scrape fails; only the process restarts (new pid, new goroutine ids, new connections,
// every count back to its start value). Children die with the supervisor; SIGTERM/SIGINT end both.
//
// GET /expected (answered by the current process):
//
//	{"pid": 1234, "generation": 3, "fixed": false, "started": "2026-11-27T22:10:00.123Z",
//	 "locations": [{"pattern": "leak", "kind": "leak", "function": "main.leakChild",
//	   "file": "/src/tests/go/fleetsvc/main.go", "line": 123, "op": "chan send", "count": 42, "created": 42},
//	  {"pattern": "pool", "kind": "benign", ...}, {"pattern": "burst", "kind": "benign", ...}]}
//
// generation counts the children a supervisor started (1 for the first, and for a process without
// -restart-every). A site is listed once a goroutine reached it; with -leak-rate or -leak-count the leak site is
// listed before the first request is answered (with -fixed too: its count stays 0). count: parked there now;
// created: ever parked there.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Flags the supervisor keeps for itself; every other flag set on its command line is passed to each child.
var supervisorFlags = map[string]bool{"addr": true, "portfile": true, "restart-every": true,
	"restart-first": true, "exit-after": true, "child-fd": true, "generation": true}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (pprof and /expected)")
	portfile := flag.String("portfile", "", "write the bound port to this file once listening")
	poolSize := flag.Int("pool-size", 2000, "idle worker pool size")
	leakRate := flag.Float64("leak-rate", 0, "leaking requests per second")
	leakCount := flag.Int("leak-count", 0, "leaking requests at start")
	fixed := flag.Bool("fixed", false, "run the requests through the fixed code: nothing leaks")
	burstSize := flag.Int("burst-size", 0, "handlers per burst (0: no bursts)")
	burstEvery := flag.Duration("burst-every", 10*time.Second, "time between burst starts")
	burstHold := flag.Duration("burst-hold", 5*time.Second, "how long a burst builds up before it drains")
	burstStart := flag.Duration("burst-start", 0, "when the first burst starts")
	restartEvery := flag.Duration("restart-every", 0, "supervise the service, restarting it this often")
	restartFirst := flag.Duration("restart-first", 0, "the first restart after this long (default: -restart-every)")
	exitAfter := flag.Duration("exit-after", 0, "exit after this long (0: never)")
	childFd := flag.Int("child-fd", -1, "(internal) serve on this inherited listening socket")
	generation := flag.Int("generation", 1, "(internal) the child's number")
	flag.Parse()

	if *poolSize < 0 || *leakRate < 0 || *leakCount < 0 || *burstSize < 0 || *restartEvery < 0 ||
		*restartFirst < 0 || *burstHold <= 0 || *burstEvery <= 0 {
		fatal(fmt.Errorf("counts, rates and durations must not be negative (-burst-hold, -burst-every > 0)"))
	}
	if *childFd >= 0 {
		f := os.NewFile(uintptr(*childFd), "listener")
		ln, err := net.FileListener(f)
		if err != nil {
			fatal(fmt.Errorf("-child-fd %d: %v", *childFd, err))
		}
		f.Close()
		go watchParent()
		start(*poolSize, *leakRate, *leakCount, *fixed, *burstSize, *burstEvery, *burstHold, *burstStart)
		serve(ln, *generation, *fixed, true)
		return
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fatal(err)
	}
	if *restartEvery > 0 {
		if *restartFirst == 0 {
			*restartFirst = *restartEvery
		}
		var args []string
		flag.Visit(func(f *flag.Flag) {
			if !supervisorFlags[f.Name] {
				args = append(args, "-"+f.Name+"="+f.Value.String())
			}
		})
		if err := writePortfile(*portfile, ln); err != nil {
			fatal(err)
		}
		supervise(ln.(*net.TCPListener), args, *restartEvery, *restartFirst, *exitAfter)
		return
	}
	start(*poolSize, *leakRate, *leakCount, *fixed, *burstSize, *burstEvery, *burstHold, *burstStart)
	if err := writePortfile(*portfile, ln); err != nil {
		fatal(err)
	}
	if *exitAfter > 0 {
		go func() {
			time.Sleep(*exitAfter)
			os.Exit(0)
		}()
	}
	serve(ln, 1, *fixed, false)
}

// ---- the service

var (
	leakSite  = &site{pattern: "leak", kind: "leak", op: "chan send"}
	poolSite  = &site{pattern: "pool", kind: "benign", op: "chan receive"}
	burstSite = &site{pattern: "burst", kind: "benign", op: "chan receive"}
	poolJobs  = make(chan int)
	started   = time.Now()
)

// start sets up every goroutine of the service before it answers anything: the pool is complete and the first
// leaking request has run when the first profile is taken.
func start(poolSize int, leakRate float64, leakCount int, fixed bool, burstSize int,
	burstEvery, burstHold, burstStart time.Duration) {
	for i := 0; i < poolSize; i++ {
		go poolWorker(poolJobs)
	}
	for i := 0; i < leakCount; i++ {
		leakyRequest(fixed)
	}
	if leakRate > 0 {
		go drive(leakRate, fixed)
	}
	if burstSize > 0 {
		go runBursts(burstSize, burstStart, burstEvery, burstHold)
	}
	// Bounded wait for the goroutines started above to park (the drive's first request included).
	for i := 0; i < 500; i++ {
		leaked := leakRate == 0 && leakCount == 0 ||
			atomic.LoadInt32(&leakSite.located) == 1 && (fixed || leakSite.parked() >= int64(leakCount))
		if poolSite.parked() >= int64(poolSize) && leaked {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func poolWorker(jobs <-chan int) {
	poolSite.arrive()
	for j := range jobs {
		_ = j
	}
}

// leakyRequest asks a child for a result and returns on its error path without receiving it. The leaking build
// gives the child an unbuffered channel, so the child's send never completes; the fixed build a buffer of one.
func leakyRequest(fixed bool) {
	var c chan int
	if fixed {
		c = make(chan int, 1)
	} else {
		c = make(chan int)
	}
	go leakChild(c)
}

func leakChild(c chan<- int) {
	leakSite.arrive()
	c <- 42 // the leak: the line leakSite reports
	leakSite.leave()
}

// drive runs a leaking request every 1/rate seconds, the first one now.
func drive(rate float64, fixed bool) {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	for {
		leakyRequest(fixed)
		<-t.C
	}
}

// runBursts: size handlers arrive evenly over hold and block on a receive, then all drain at once.
func runBursts(size int, first, every, hold time.Duration) {
	time.Sleep(first)
	for {
		began := time.Now()
		release := make(chan struct{})
		step := hold / time.Duration(size+1)
		for i := 0; i < size; i++ {
			go burstHandler(release)
			time.Sleep(step)
		}
		time.Sleep(time.Until(began.Add(hold)))
		close(release)
		time.Sleep(time.Until(began.Add(every)))
	}
}

func burstHandler(release <-chan struct{}) {
	burstSite.arrive()
	<-release
	burstSite.leave()
}

// serve answers pprof and /expected on ln. A child (graceful) stops on SIGTERM after the requests in flight;
// otherwise SIGTERM/SIGINT end the process at once.
func serve(ln net.Listener, generation int, fixed, graceful bool) {
	http.HandleFunc("/expected", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]interface{}{
			"pid": os.Getpid(), "generation": generation, "fixed": fixed,
			"started":   started.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
			"locations": snapshot()})
	})
	srv := &http.Server{}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		if graceful {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			srv.Shutdown(ctx)
			cancel()
		}
		os.Exit(0)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		fatal(err)
	}
	select {} // Shutdown returned from Serve: the signal goroutine exits
}

// watchParent ends a child whose supervisor is gone (Pdeathsig is the first line of defence).
func watchParent() {
	parent := os.Getppid()
	for {
		time.Sleep(200 * time.Millisecond)
		if os.Getppid() != parent {
			os.Exit(0)
		}
	}
}

// ---- the supervisor

// supervise runs one child after another on ln, each with args, restarting after first and then every 'every',
// until exitAfter (0: never) or SIGTERM/SIGINT.
func supervise(ln *net.TCPListener, args []string, every, first, exitAfter time.Duration) {
	// The listening socket as the children's fd 3; the supervisor never accepts on it.
	f, err := ln.File()
	if err != nil {
		fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	var deadline <-chan time.Time
	if exitAfter > 0 {
		deadline = time.After(exitAfter)
	}
	// Pdeathsig is sent when the thread that forked the child ends: keep one thread for the forks.
	runtime.LockOSThread()
	wait := first
	for gen := 1; ; gen++ {
		argv := append(append([]string(nil), args...), "-child-fd=3", "-generation="+strconv.Itoa(gen))
		cmd := exec.Command(self, argv...)
		cmd.ExtraFiles = []*os.File{f}
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			fatal(err)
		}
		done := make(chan struct{})
		go func() {
			cmd.Wait()
			close(done)
		}()
		stop := false
		select {
		case <-time.After(wait):
		case <-done:
		case <-sigs:
			stop = true
		case <-deadline:
			stop = true
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if stop {
			os.Exit(0)
		}
		wait = every
	}
}

// ---- sites: where goroutines park, with exact counts

type site struct {
	pattern, kind, op string

	mu       sync.Mutex
	located  int32
	function string
	file     string
	line     int
	count    int64 // parked now
	created  int64 // ever parked
}

// arrive counts the calling goroutine as parked at the blocking statement on the line right after the call;
// the first call records that location (the caller's function and file, the caller's line + 1).
//
//go:noinline
func (s *site) arrive() {
	if atomic.LoadInt32(&s.located) == 0 {
		pcs := make([]uintptr, 1)
		// 0 = runtime.Callers, 1 = arrive, 2 = its caller.
		if runtime.Callers(2, pcs) == 1 {
			fr, _ := runtime.CallersFrames(pcs).Next()
			s.mu.Lock()
			if s.located == 0 {
				s.function, s.file, s.line = fr.Function, fr.File, fr.Line+1
				atomic.StoreInt32(&s.located, 1)
			}
			s.mu.Unlock()
		}
	}
	atomic.AddInt64(&s.count, 1)
	atomic.AddInt64(&s.created, 1)
}

func (s *site) leave() { atomic.AddInt64(&s.count, -1) }

func (s *site) parked() int64 { return atomic.LoadInt64(&s.count) }

type expectedLocation struct {
	Pattern  string `json:"pattern"`
	Kind     string `json:"kind"`
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Op       string `json:"op"`
	Count    int64  `json:"count"`
	Created  int64  `json:"created"`
}

// snapshot lists the sites reached so far, the leak first.
func snapshot() []expectedLocation {
	out := []expectedLocation{}
	for _, s := range []*site{leakSite, poolSite, burstSite} {
		if atomic.LoadInt32(&s.located) == 0 {
			continue
		}
		s.mu.Lock()
		out = append(out, expectedLocation{Pattern: s.pattern, Kind: s.kind, Function: s.function,
			File: s.file, Line: s.line, Op: s.op, Count: s.parked(),
			Created: atomic.LoadInt64(&s.created)})
		s.mu.Unlock()
	}
	return out
}

func writePortfile(path string, ln net.Listener) error {
	if path == "" {
		return nil
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if err := os.WriteFile(path+".tmp", []byte(port+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "fleetsvc: %v\n", err)
	os.Exit(2)
}
