// leaks.go: the leak patterns of the background doc, each parking at its own function and line. Every
// pattern is a "request" handler that, in leaky mode, leaves exactly one goroutine blocked forever; with
// -fixed the same code runs with its fix (at the same lines) and nothing stays blocked.
package main

import (
	"context"
	"errors"
	"sync"
	"time"
)

var (
	earlyReturnSite = newSite("early_return", "leak", "chan send", "chan send", "unknown", "chan send")
	timeoutSite     = newSite("timeout", "leak", "chan send", "chan send", "unknown", "chan send")
	ncastSite       = newSite("ncast", "leak", "chan send", "chan send", "unknown", "chan send")
	rangeSite       = newSite("range_unclosed", "leak", "chan receive", "chan receive", "unknown",
		"chan receive")
	nilSendSite = newSite("nil_send", "leak", "chan send", "chan send", "unknown", "chan send (nil chan)")
	nilRecvSite = newSite("nil_recv", "leak", "chan receive", "chan receive", "unknown",
		"chan receive (nil chan)")
	selectForeverSite = newSite("select_forever", "leak", "select (no cases)", "select (no cases)", "unknown",
		"select (no cases)")
	waitgroupSite = newSite("waitgroup", "leak", "sync.WaitGroup.Wait", "sync.WaitGroup.Wait",
		"sync.WaitGroup.Wait", "semacquire")
	mutexSite = newSite("mutex", "leak", "sync.Mutex.Lock", "sync.Mutex.Lock", "sync.Mutex.Lock",
		"semacquire")
	rwmutexSite = newSite("rwmutex", "leak", "sync.RWMutex.RLock", "sync.RWMutex.RLock", "sync.RWMutex.RLock",
		"semacquire")
	condSite       = newSite("cond", "leak", "sync.Cond.Wait", "sync.Cond.Wait", "sync.Cond.Wait", "sync.Cond.Wait")
	globalChanSite = newSite("global_chan", "leak", "chan send", "chan send", "unknown", "chan send")
)

// nil channel ops: Go 1.19 debug=2 names them "chan send (nil chan)"; leakprofd keeps that name for debug=2.
func init() {
	nilSendSite.opDebug2 = "chan send (nil chan)"
	nilRecvSite.opDebug2 = "chan receive (nil chan)"
}

// Go 1.20+ names the sync waits in the debug=2 header; Go 1.19 says "semacquire" for all of them.
func init() {
	if goMinor() >= 20 {
		waitgroupSite.waitReason = "sync.WaitGroup.Wait"
		mutexSite.waitReason = "sync.Mutex.Lock"
		rwmutexSite.waitReason = "sync.RWMutex.RLock"
	}
}

// Go's leak detection (the goroutineleak profile) reports a goroutine blocked on a channel, WaitGroup or Cond
// that nothing but blocked goroutines reaches. The poisoned Mutex and RWMutex and the global channel are package
// variables: their goroutines are never reported, though they never wake either.
func init() {
	for _, p := range leakPatterns {
		p.site.leaked = p.site != mutexSite && p.site != rwmutexSite && p.site != globalChanSite
	}
}

var errInvalid = errors.New("invalid request")

// --- early return: the parent returns on an error path before receiving the child's result.

func earlyReturnRequest(fixed bool) error {
	c := make(chan int, bufIf(fixed, 1))
	go earlyReturnChild(c)
	if err := validate(); err != nil {
		return err // the bug: nobody will ever receive from c
	}
	if r := <-c; r < 0 {
		return errInvalid
	}
	return nil
}

func validate() error { return errInvalid }

func earlyReturnChild(c chan<- int) {
	result := 42
	earlyReturnSite.arrive()
	c <- result
	earlyReturnSite.leave()
}

// --- timeout: the select takes ctx.Done(); the worker's later send has no receiver.

func timeoutRequest(fixed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	parentGone := make(chan struct{})
	defer close(parentGone)
	done := make(chan []byte, bufIf(fixed, 1))
	go timeoutWorker(done, parentGone)
	select {
	case data := <-done:
		_ = data
	case <-ctx.Done():
	}
}

// The backend answers only after the caller has given up (deterministically, so each request leaks one).
func timeoutWorker(done chan<- []byte, slowBackend <-chan struct{}) {
	<-slowBackend
	data := []byte("payload")
	timeoutSite.arrive()
	done <- data
	timeoutSite.leave()
}

// --- N-cast: n senders on one channel, one receive.

func ncastRequest(n int, fixed bool) int {
	ch := make(chan int, bufIf(fixed, n))
	for i := 0; i < n; i++ {
		go ncastSender(ch, i)
	}
	return <-ch
}

func ncastSender(ch chan<- int, i int) {
	ncastSite.arrive()
	ch <- i
	ncastSite.leave()
}

// --- for-range over a channel that is never closed.

func rangeRequest(fixed bool) {
	ch := make(chan int)
	go rangeConsumer(ch)
	for i := 0; i < 3; i++ {
		ch <- i
	}
	if fixed {
		close(ch)
	}
}

func rangeConsumer(ch <-chan int) {
	sum := 0
	rangeSite.arrive()
	for v := range ch {
		rangeSite.leave()
		sum += v
		rangeSite.again()
	}
	rangeSite.leave()
	_ = sum
}

// --- send to and receive from a nil channel (the fix: make the channel).

func nilSendRequest(fixed bool) {
	var ch chan int
	if fixed {
		ch = make(chan int, 1)
	}
	go nilSender(ch)
}

func nilSender(ch chan int) {
	nilSendSite.arrive()
	ch <- 1
	nilSendSite.leave()
}

func nilRecvRequest(fixed bool) {
	var ch chan int
	if fixed {
		ch = make(chan int)
		close(ch)
	}
	go nilReceiver(ch)
}

func nilReceiver(ch chan int) {
	nilRecvSite.arrive()
	<-ch
	nilRecvSite.leave()
}

// --- select {}: a goroutine parked forever (the fix: wait on a quit channel that gets closed).

func selectForeverRequest(fixed bool) { go selectForever(fixed) }

func selectForever(fixed bool) {
	if fixed {
		<-closedQuit
		return
	}
	selectForeverSite.arrive()
	select {}
}

var closedQuit = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func init() { selectForeverSite.unreachedWhenFixed = true }

// --- WaitGroup.Wait with a missing Done on an error path.

func waitgroupRequest(fixed bool) {
	wg := new(sync.WaitGroup)
	wg.Add(2)
	go waitgroupTask(wg, false)
	go waitgroupTask(wg, !fixed)
	go waitgroupWaiter(wg)
}

func waitgroupTask(wg *sync.WaitGroup, failing bool) {
	if failing {
		return // the bug: this error path forgets wg.Done()
	}
	wg.Done()
}

func waitgroupWaiter(wg *sync.WaitGroup) {
	waitgroupSite.arrive()
	wg.Wait()
	waitgroupSite.leave()
}

// --- a Mutex that an error path never unlocked: every later Lock blocks.

var zooMu sync.Mutex

// mutexPoison runs one failing request (synchronously, so it never parks): in leaky mode it leaves zooMu locked.
func mutexPoison(fixed bool) { mutexLocker(true, fixed) }

func mutexRequest(fixed bool) { go mutexLocker(false, fixed) }

func mutexLocker(failing, fixed bool) {
	mutexSite.arrive()
	zooMu.Lock()
	mutexSite.leave()
	if failing && !fixed {
		return // the bug: this error path forgets zooMu.Unlock()
	}
	zooMu.Unlock()
}

// --- an RWMutex whose writer never unlocked: every reader blocks in RLock.

var zooRW sync.RWMutex

func rwmutexPoison(fixed bool) {
	zooRW.Lock()
	if !fixed {
		return // the bug: the writer's error path forgets zooRW.Unlock()
	}
	zooRW.Unlock()
}

func rwmutexRequest(fixed bool) { go rwmutexReader() }

func rwmutexReader() {
	rwmutexSite.arrive()
	zooRW.RLock()
	rwmutexSite.leave()
	zooRW.RUnlock()
}

// --- sync.Cond.Wait with no Signal.

type condState struct {
	c       *sync.Cond
	ready   bool
	waiting bool
}

func condRequest(fixed bool) {
	st := &condState{c: sync.NewCond(new(sync.Mutex))}
	go condWaiter(st)
	if fixed {
		go condSignaler(st)
	}
}

// condSignaler is the fix: once the waiter waits, set the condition and wake it.
func condSignaler(st *condState) {
	for {
		st.c.L.Lock()
		if st.waiting {
			st.ready = true
			st.c.L.Unlock()
			st.c.Broadcast()
			return
		}
		st.c.L.Unlock()
		time.Sleep(time.Millisecond)
	}
}

func condWaiter(st *condState) {
	st.c.L.Lock()
	for !st.ready {
		st.waiting = true
		condSite.arrive()
		st.c.Wait()
		condSite.leave()
	}
	st.c.L.Unlock()
}

// --- a channel held by a package variable: a job queue whose consumer is never started. Every request hands
// it a job and blocks; the garbage collector reaches the channel from the global, so Go's leak detection never
// reports these goroutines (the fix: start the consumer).

var globalJobs = make(chan int)

func globalChanPrepare(fixed bool) {
	if fixed {
		go globalChanConsumer()
	}
}

func globalChanConsumer() {
	for range globalJobs {
	}
}

func globalChanRequest(fixed bool) { go globalChanSender() }

func globalChanSender() {
	globalChanSite.arrive()
	globalJobs <- 1
	globalChanSite.leave()
}

func bufIf(fixed bool, n int) int {
	if fixed {
		return n
	}
	return 0
}

// leakPatterns maps each pattern name to its site and one request (each leaves one goroutine in leaky mode).
type leakPattern struct {
	site    *site
	request func(fixed bool)
	// start runs the start count: n leaked goroutines at once (ncast fans one request out to n+1 senders).
	start func(n int, fixed bool)
	// prepare runs once before any request (poisoning the shared lock).
	prepare func(fixed bool)
}

func repeat(f func(bool)) func(int, bool) {
	return func(n int, fixed bool) {
		for i := 0; i < n; i++ {
			f(fixed)
		}
	}
}

var leakPatterns = map[string]*leakPattern{
	"early_return": {site: earlyReturnSite, request: func(f bool) { _ = earlyReturnRequest(f) }},
	"timeout":      {site: timeoutSite, request: timeoutRequest},
	"ncast": {site: ncastSite, request: func(f bool) { ncastRequest(2, f) },
		start: func(n int, f bool) {
			if n > 0 {
				ncastRequest(n+1, f)
			}
		}},
	"range_unclosed": {site: rangeSite, request: rangeRequest},
	"nil_send":       {site: nilSendSite, request: nilSendRequest},
	"nil_recv":       {site: nilRecvSite, request: nilRecvRequest},
	"select_forever": {site: selectForeverSite, request: selectForeverRequest},
	"waitgroup":      {site: waitgroupSite, request: waitgroupRequest},
	"mutex":          {site: mutexSite, request: mutexRequest, prepare: mutexPoison},
	"rwmutex":        {site: rwmutexSite, request: rwmutexRequest, prepare: rwmutexPoison},
	"cond":           {site: condSite, request: condRequest},
	"global_chan":    {site: globalChanSite, request: globalChanRequest, prepare: globalChanPrepare},
}

var leakOrder = []string{"early_return", "timeout", "ncast", "range_unclosed", "nil_send", "nil_recv",
	"select_forever", "waitgroup", "mutex", "rwmutex", "cond", "global_chan"}
