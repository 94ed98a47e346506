// zoo: a Go service that leaks goroutines in every pattern of the background doc, next to benign look-alikes,
// and knows exactly how many goroutines it has parked at each location (GET /expected). See tests/go/README.md.
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
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

var settled int32

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (pprof and /expected)")
	portfile := flag.String("portfile", "", "write the bound port to this file once listening")
	leakList := flag.String("leak", "", "comma-separated leak patterns (name or name=N), or all")
	leakCount := flag.Int("leak-count", 0, "goroutines leaked per pattern at start")
	leakRate := flag.Float64("leak-rate", 0, "leaked goroutines per second per pattern")
	fixed := flag.Bool("fixed", false, "run the same traffic through the fixed code: nothing leaks")
	benignList := flag.String("benign", "", "comma-separated benign patterns, or all")
	poolSize := flag.Int("pool-size", 1000, "idle worker pool size")
	exitAfter := flag.Duration("exit-after", 0, "exit after this long (0: never)")
	sleepers := flag.Int("sleepers", 4, "goroutines in time.Sleep loops")
	sleepInterval := flag.Duration("sleep-interval", 10*time.Second, "sleepers' sleep")
	burstSize := flag.Int("burst-size", 100, "handlers per burst")
	burstEvery := flag.Duration("burst-every", 30*time.Second, "time between burst starts")
	burstHold := flag.Duration("burst-hold", 5*time.Second, "how long a burst builds up before it drains")
	tickers := flag.Int("tickers", 4, "goroutines in a select on a ticker")
	tick := flag.Duration("tick", 5*time.Second, "ticker period")
	pollClients := flag.Int("longpoll-clients", 8, "internal long-poll clients")
	startupSize := flag.Int("startup-size", 200, "workers of the start-up pool")
	startupRamp := flag.Duration("startup-ramp", 3*time.Second, "how long the start-up pool takes to grow")
	httpIdle := flag.Int("http-idle", 8, "idle keep-alive connections")
	flag.Parse()

	leaks, err := parseLeakList(*leakList, *leakCount)
	if err != nil {
		fatal(err)
	}
	benign, err := parseBenignList(*benignList)
	if err != nil {
		fatal(err)
	}
	if *leakRate < 0 || *leakCount < 0 || *poolSize < 0 {
		fatal(fmt.Errorf("-leak-rate, -leak-count and -pool-size must not be negative"))
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fatal(err)
	}
	appAddr := ""
	if benign["longpoll"] || benign["http_idle"] {
		if appAddr, err = serveApp(); err != nil {
			fatal(err)
		}
	}
	http.HandleFunc("/expected", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]interface{}{
			"pid": os.Getpid(), "go_version": runtime.Version(), "goroot": runtime.GOROOT(),
			"goroutineleak": pprof.Lookup("goroutineleak") != nil,
			"fixed":         *fixed,
			"settled":       atomic.LoadInt32(&settled) == 1, "app_addr": appAddr, "locations": snapshot()})
	})
	go http.Serve(ln, nil)

	// Leaks: poison shared locks, then the start counts, then steady traffic.
	names := make([]string, 0, len(leaks))
	for name := range leaks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := leakPatterns[name]
		p.site.enable()
		if p.prepare != nil {
			p.prepare(*fixed)
		}
		labeled(name, func() {
			if p.start != nil {
				p.start(leaks[name], *fixed)
			} else {
				repeat(p.request)(leaks[name], *fixed)
			}
		})
		if *leakRate > 0 {
			go drive(name, p, *leakRate, *fixed)
		}
	}

	// Benign look-alikes.
	if benign["pool"] {
		poolSite.enable()
		startPool(*poolSize)
	}
	if benign["sleep"] {
		sleepSite.enable()
		startSleepers(*sleepers, *sleepInterval)
	}
	if benign["burst"] {
		burstSite.enable()
		go runBursts(*burstSize, *burstEvery, *burstHold)
	}
	if benign["ticker_select"] {
		tickerSite.enable()
		startTickers(*tickers, *tick)
	}
	if benign["longpoll"] {
		pollSite.enable()
		go publishEvents()
		for i := 0; i < *pollClients; i++ {
			go longpollClient("http://" + appAddr)
		}
	}
	if benign["startup_pool"] {
		startupSite.enable()
		go startStartupPool(*startupSize, *startupRamp)
	}
	if benign["http_idle"] {
		startHTTPIdle("http://"+appAddr, *httpIdle)
		locateHTTPIdle()
		httpIdleSite.enable()
	}

	// Every enabled site with traffic locates itself on its first arrival: wait for that (bounded) so
	// /expected is complete by the time the port file exists.
	for i := 0; i < 500 && !allLocated(*fixed); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	go settle(leaks, *fixed, benign, *poolSize, *sleepers, *startupSize)

	if *portfile != "" {
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		if err := writeFileAtomic(*portfile, []byte(port+"\n")); err != nil {
			fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "zoo: listening on %s (pid %d)\n", ln.Addr(), os.Getpid())
	if *exitAfter > 0 {
		time.Sleep(*exitAfter)
		os.Exit(0)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// drive runs one request of p every 1/rate seconds, the first one now.
func drive(name string, p *leakPattern, rate float64, fixed bool) {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	for {
		labeled(name, func() { p.request(fixed) })
		<-t.C
	}
}

// labeled runs a request of leak pattern 'name' under pprof labels, as services label their handlers: the
// goroutines it starts inherit them (Go 1.27 prints them in debug=2 headers, debug=1 and debug=0 carry them at
// every Go version), and their stacks stay as they are.
func labeled(name string, f func()) {
	pprof.Do(context.Background(), pprof.Labels("handler", "GET /"+name, "pattern", name),
		func(context.Context) { f() })
}

// settle sets settled once every start-count goroutine (and the fixed-size benign groups) are parked.
func settle(leaks map[string]int, fixed bool, benign map[string]bool, poolSize, sleepers, startupSize int) {
	type want struct {
		s *site
		n int64
	}
	var wants []want
	for name, n := range leaks {
		w := int64(n)
		if fixed {
			w = 0
		}
		wants = append(wants, want{leakPatterns[name].site, w})
	}
	if benign["pool"] {
		wants = append(wants, want{poolSite, int64(poolSize)})
	}
	if benign["sleep"] {
		wants = append(wants, want{sleepSite, int64(sleepers)})
	}
	if benign["startup_pool"] {
		wants = append(wants, want{startupSite, int64(startupSize)})
	}
	for {
		ok := true
		for _, w := range wants {
			c := w.s.parked()
			if (fixed && w.s.kind == "leak" && c != 0) || c < w.n {
				ok = false
			}
		}
		if ok {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	atomic.StoreInt32(&settled, 1)
}

func parseLeakList(list string, defCount int) (map[string]int, error) {
	out := map[string]int{}
	if list == "" {
		return out, nil
	}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, n := item, defCount
		if i := strings.IndexByte(item, '='); i >= 0 {
			v, err := strconv.Atoi(item[i+1:])
			if err != nil || v < 0 {
				return nil, fmt.Errorf("-leak: bad count in %q", item)
			}
			name, n = item[:i], v
		}
		if name == "all" {
			for _, k := range leakOrder {
				out[k] = n
			}
			continue
		}
		if leakPatterns[name] == nil {
			return nil, fmt.Errorf("-leak: unknown pattern %q (known: %s)", name,
				strings.Join(leakOrder, ", "))
		}
		out[name] = n
	}
	return out, nil
}

var benignOrder = []string{"pool", "sleep", "burst", "ticker_select", "longpoll", "startup_pool", "http_idle"}

func parseBenignList(list string) (map[string]bool, error) {
	out := map[string]bool{}
	if list == "" {
		return out, nil
	}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "all" {
			for _, k := range benignOrder {
				out[k] = true
			}
			continue
		}
		known := false
		for _, k := range benignOrder {
			known = known || k == name
		}
		if !known {
			return nil, fmt.Errorf("-benign: unknown pattern %q (known: %s)", name,
				strings.Join(benignOrder, ", "))
		}
		out[name] = true
	}
	return out, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "zoo: %v\n", err)
	os.Exit(2)
}
