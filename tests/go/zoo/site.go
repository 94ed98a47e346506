// site.go: a parking site, i.e. one source location where goroutines of one pattern block, with an exact
// count of the goroutines parked there now. /expected reports every site; tests compare it with what
// leakprofd parses out of the process's own goroutine profiles.
package main

import (
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

type site struct {
	pattern    string
	kind       string // "leak" or "benign"
	opDebug2   string // canonical op leakprofd reports for debug=2 profiles
	opProto    string // for debug=0 profiles
	opDebug1   string // for debug=1 profiles ("unknown" where runtime frames are hidden)
	waitReason string // the raw debug=2 header text of the Go version running
	exact      bool
	leaked     bool // Go's goroutineleak profile reports this site's goroutines
	// unreachedWhenFixed: the fixed code never reaches the blocking line, so with -fixed the site is never
	// located and not listed.
	unreachedWhenFixed bool

	mu       sync.Mutex
	located  int32
	function string
	file     string
	line     int

	count   int64 // parked now
	created int64 // ever parked
}

var (
	sitesMu sync.Mutex
	sites   []*site
)

func newSite(pattern, kind, opDebug2, opProto, opDebug1, waitReason string) *site {
	s := &site{pattern: pattern, kind: kind, opDebug2: opDebug2, opProto: opProto, opDebug1: opDebug1,
		waitReason: waitReason, exact: true}
	return s
}

// enable makes the site visible in /expected.
func (s *site) enable() {
	sitesMu.Lock()
	defer sitesMu.Unlock()
	for _, e := range sites {
		if e == s {
			return
		}
	}
	sites = append(sites, s)
}

// arrive counts the calling goroutine as parked at the blocking operation on the line right after the call.
// The first call records that location (the caller's function and file, the caller's line + 1), so every
// call site of arrive must be immediately followed by the blocking statement.
//
//go:noinline
func (s *site) arrive() {
	if atomic.LoadInt32(&s.located) == 0 {
		pcs := make([]uintptr, 1)
		// 0 = runtime.Callers, 1 = arrive, 2 = its caller.
		if runtime.Callers(2, pcs) == 1 {
			f, _ := runtime.CallersFrames(pcs).Next()
			s.mu.Lock()
			if s.located == 0 {
				s.function, s.file, s.line = f.Function, f.File, f.Line+1
				atomic.StoreInt32(&s.located, 1)
			}
			s.mu.Unlock()
		}
	}
	atomic.AddInt64(&s.count, 1)
	atomic.AddInt64(&s.created, 1)
}

// again counts the goroutine as parked once more at the already located site (a loop coming back to it).
func (s *site) again() {
	atomic.AddInt64(&s.count, 1)
	atomic.AddInt64(&s.created, 1)
}

// leave: the goroutine got past the blocking operation.
func (s *site) leave() { atomic.AddInt64(&s.count, -1) }

func (s *site) parked() int64 { return atomic.LoadInt64(&s.count) }

type expectedLocation struct {
	Pattern    string `json:"pattern"`
	Kind       string `json:"kind"`
	Function   string `json:"function"`
	File       string `json:"file"`
	Line       int    `json:"line"`
	Op         string `json:"op"`
	OpDebug2   string `json:"op_debug2"`
	OpProto    string `json:"op_proto"`
	OpDebug1   string `json:"op_debug1"`
	WaitReason string `json:"wait_reason"`
	Leaked     bool   `json:"leaked"`
	Count      int64  `json:"count"`
	Created    int64  `json:"created"`
	Exact      bool   `json:"exact"`
}

// snapshot lists the enabled sites that have been located, leaks first, in a stable order.
func snapshot() []expectedLocation {
	sitesMu.Lock()
	list := append([]*site(nil), sites...)
	sitesMu.Unlock()
	out := []expectedLocation{}
	for _, s := range list {
		if atomic.LoadInt32(&s.located) == 0 {
			continue
		}
		s.mu.Lock()
		e := expectedLocation{Pattern: s.pattern, Kind: s.kind, Function: s.function, File: s.file,
			Line: s.line, Op: s.opDebug2, OpDebug2: s.opDebug2, OpProto: s.opProto, OpDebug1: s.opDebug1,
			WaitReason: s.waitReason, Leaked: s.leaked, Count: atomic.LoadInt64(&s.count),
			Created: atomic.LoadInt64(&s.created), Exact: s.exact}
		s.mu.Unlock()
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind == "leak"
		}
		return false
	})
	return out
}

// allLocated reports whether every enabled site has recorded its location (with -fixed, sites whose fixed
// code never reaches the blocking line are left out).
func allLocated(fixed bool) bool {
	sitesMu.Lock()
	defer sitesMu.Unlock()
	for _, s := range sites {
		if atomic.LoadInt32(&s.located) == 0 && !(fixed && s.unreachedWhenFixed) {
			return false
		}
	}
	return true
}

// goMinor is the minor version of the Go that built this program: 19 for go1.19.8, 27 for go1.27.3 (0 if
// runtime.Version() names none, as a development build may).
func goMinor() int {
	v := runtime.Version()
	i := strings.Index(v, "go1.")
	if i < 0 {
		return 0
	}
	v = v[i+4:]
	n := 0
	for n < len(v) && v[n] >= '0' && v[n] <= '9' {
		n++
	}
	m, _ := strconv.Atoi(v[:n])
	return m
}
