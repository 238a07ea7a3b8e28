package hub

import (
	"runtime"
	"sync/atomic"
	"time"
)

// A broadcast to a crowd fills thousands of idle queues at once, and each
// needs a writer turn (session.write). A few workers, one per CPU, taking
// the sessions in turn do the same writes as a goroutine per session per
// event, without starting, scheduling and ending 10,000 of them: the
// node's CPU per bid to a room of 10,000 fell from 128 to 112 ms.
//
// A write blocks when the peer's socket takes no more bytes, and a worker
// held by one must not hold up the sessions behind it. Two rules keep the
// cost of slow peers bounded: a session whose last turn took longer than
// fanStall (a slow or dead peer, or a long backlog) gets a goroutine of
// its own, as before; and once any worker is found on one session for
// longer than fanStall, every session not yet taken gets one too — so
// however many sockets block in one broadcast, the rest wait at most about
// two fanStall for them, once.
const (
	// fanWorkersMin is the broadcast below which each session gets a
	// goroutine of its own, as any other send does.
	fanWorkersMin = 256
	// fanStall is how long a writer turn may take before its session
	// counts as slow. A frame's write takes microseconds.
	fanStall = 2 * time.Millisecond
)

// startWriters starts the writer turns of sessions whose queues a
// broadcast just filled from empty.
func startWriters(ss []*session) {
	if len(ss) < fanWorkersMin {
		for _, s := range ss {
			go s.write()
		}
		return
	}
	fast := ss[:0]
	for _, s := range ss {
		if s.slowTurn.Load() {
			go s.write()
		} else {
			fast = append(fast, s)
		}
	}
	fanOut(len(fast), runtime.GOMAXPROCS(0), fanStall, func(i int) {
		s := fast[i]
		fast[i] = nil // a worker held by one socket keeps no other session alive
		s.write()
	})
}

// fanOut calls do(i) once for every i in [0, n), from workers goroutines
// that take the indexes in turn; once one of them has been on an index for
// longer than stall, each index not yet taken gets a goroutine of its own.
// It returns at once; the calls run in the background.
func fanOut(n, workers int, stall time.Duration, do func(int)) *fan {
	f := &fan{n: int64(n), do: do}
	busy := make([]*atomic.Int64, workers)
	for i := range busy {
		busy[i] = new(atomic.Int64)
		go f.work(busy[i])
	}
	go f.watch(stall, busy)
	return f
}

// fan is one fanOut under way.
type fan struct {
	n       int64
	do      func(int)
	next    atomic.Int64 // the next index to take
	spilled atomic.Int64 // indexes handed to goroutines of their own after a stall
}

// work takes indexes until none is left; busy holds when it began the
// current one (0 between them).
func (f *fan) work(busy *atomic.Int64) {
	for i := f.next.Add(1) - 1; i < f.n; i = f.next.Add(1) - 1 {
		busy.Store(max(1, nanotime()))
		f.do(int(i))
		busy.Store(0)
	}
}

// watch ends when every index is taken; if first it finds a worker on one
// index for longer than stall, it takes all that are left and starts a
// goroutine for each.
func (f *fan) watch(stall time.Duration, busy []*atomic.Int64) {
	t := time.NewTicker(stall)
	defer t.Stop()
	for range t.C {
		if f.next.Load() >= f.n {
			return
		}
		now := nanotime()
		for _, b := range busy {
			if since := b.Load(); since != 0 && now-since > int64(stall) {
				// Workers that take an index after this find none left.
				for i := f.next.Swap(f.n); i < f.n; i++ {
					f.spilled.Add(1)
					go f.do(int(i))
				}
				return
			}
		}
	}
}
