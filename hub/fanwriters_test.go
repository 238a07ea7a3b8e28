package hub

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFanOutCallsEachOnce: every index is handed out exactly once, by the
// workers and those the watcher adds alike.
func TestFanOutCallsEachOnce(t *testing.T) {
	const n = 20000
	calls := make([]atomic.Int32, n)
	var wg sync.WaitGroup
	wg.Add(n)
	fanOut(n, 2, 50*time.Microsecond, func(i int) {
		if i%1000 == 0 {
			time.Sleep(time.Millisecond) // long enough for the watcher to add workers
		}
		calls[i].Add(1)
		wg.Done()
	})
	wg.Wait()
	for i := range calls {
		if c := calls[i].Load(); c != 1 {
			t.Fatalf("index %d called %d times", i, c)
		}
	}
}

// TestFanOutStuckWorkersHoldUpNobody: with both workers held by sockets
// that take no bytes, the remaining indexes are still all called while
// those two stay stuck (without the watcher they would wait for them).
func TestFanOutStuckWorkersHoldUpNobody(t *testing.T) {
	const n = 1000
	release := make(chan struct{})
	var others sync.WaitGroup
	others.Add(n - 2)
	stuck := make(chan int, 2)
	fanOut(n, 2, time.Millisecond, func(i int) {
		if i < 2 {
			stuck <- i
			<-release
			return
		}
		others.Done()
	})
	<-stuck
	<-stuck
	finished := make(chan struct{})
	go func() { others.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second): // a bound against a hang, not a speed limit
		t.Fatal("the other sessions waited for the stuck ones")
	}
	close(release)
}
