//go:build go1.25

// The goroutine dump of a testing/synctest bubble (Go 1.25+): goroutines blocked on what the bubble made are
// "durably blocked", and debug=2 headers say so: "[chan receive (durable), synctest bubble 1]:". Services never
// run bubbles, but a scraper meets such dumps from tests that serve pprof; fixturegen's capture runs this with
// FIXTUREGEN_SYNCTEST_OUT=FILE (go test -run TestSynctestDump).
package main

import (
	"os"
	"runtime/pprof"
	"sync"
	"testing"
	"testing/synctest"
)

func bubbled(c chan int) {
	arrive()
	<-c
}

func TestSynctestDump(t *testing.T) {
	out := os.Getenv("FIXTUREGEN_SYNCTEST_OUT")
	if out == "" {
		t.Skip("FIXTUREGEN_SYNCTEST_OUT names no file to write")
	}
	synctest.Test(t, func(t *testing.T) {
		c := make(chan int)
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				bubbled(c)
			}()
		}
		synctest.Wait() // every other goroutine of the bubble is durably blocked now
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup("goroutine").WriteTo(f, 2); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		close(c)
		wg.Wait()
	})
}
