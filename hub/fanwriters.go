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
// node's CPU per bid to a room of 10,000 fell from 128 to 112 ms. A socket that stops taking bytes must not
// hold up the sessions behind it, so a watcher adds a worker for each one
// that has spent longer than fanStall on one session: the stuck worker
// stays with its session (the hub's write watchdog closes it), the others
// go on.
const (
	// fanWorkersMin is the broadcast below which each session gets a
	// goroutine of its own, as any other send does.
	fanWorkersMin = 256
	// fanStall is how long a worker may spend on one session before
	// another worker takes its place. A frame's write takes microseconds.
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
	fanOut(len(ss), runtime.GOMAXPROCS(0), fanStall, func(i int) { ss[i].write() })
}

// fanOut calls do(i) once for every i in [0, n), from workers goroutines
// that take the indexes in turn, plus one more for every worker found on
// one index for longer than stall. It returns at once; the calls run in
// the background.
func fanOut(n, workers int, stall time.Duration, do func(int)) {
	f := &fan{n: int64(n), do: do}
	busy := make([]*atomic.Int64, workers)
	for i := range busy {
		busy[i] = new(atomic.Int64)
		go f.work(busy[i])
	}
	go f.watch(stall, busy)
}

// fan is one fanOut under way.
type fan struct {
	n    int64
	do   func(int)
	next atomic.Int64 // the next index to take
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

// watch adds a worker for each one on the same index for longer than
// stall, once per index, until every index is taken.
func (f *fan) watch(stall time.Duration, busy []*atomic.Int64) {
	t := time.NewTicker(stall)
	defer t.Stop()
	replaced := make([]int64, len(busy)) // the start of the index each worker was last replaced on
	for range t.C {
		if f.next.Load() >= f.n {
			return
		}
		now := nanotime()
		for i := range busy {
			if since := busy[i].Load(); since != 0 && since != replaced[i] && now-since > int64(stall) {
				replaced[i] = since
				w := new(atomic.Int64)
				busy, replaced = append(busy, w), append(replaced, 0)
				go f.work(w)
			}
		}
	}
}
