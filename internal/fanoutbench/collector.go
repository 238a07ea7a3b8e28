package fanoutbench

import (
	"sync"
	"sync/atomic"
	"time"
)

// dialAll has n sessions dial at the same instant, unpaced, as a crowd
// does: each that gets in starts reading at once (as a browser does), and
// each that does not is counted in res.JoinFailures; res.JoinTime and
// res.Joined say how long it took and how many got in.
func dialAll(n int, res *Result, dial func(i int) (*client, error), read func(*client)) []*client {
	clients := make([]*client, n)
	var failMu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := dial(i)
			if err != nil {
				failMu.Lock()
				res.JoinFailures[failure(err)]++
				failMu.Unlock()
				return
			}
			clients[i] = c
			go read(c)
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	res.JoinTime = time.Since(began)
	for _, c := range clients {
		if c != nil {
			res.Joined++
		}
	}
	return clients
}

// closeAll ends the run's sessions; a close now is expected.
func closeAll(clients []*client) {
	for _, c := range clients {
		if c != nil {
			c.closing.Store(true)
			_ = c.conn.Close()
		}
	}
}

// collector counts bid arrivals by seq, so the bidder can wait for every
// session before the next bid. The arrival times stay with each client:
// 5,000 sessions appending to one locked map was a contended lock in the
// clients' process, which shares the cores with the server measured.
type collector struct {
	counts  [1 << 12]atomic.Int64 // by seq modulo the size: a run's bids are far fewer
	changed chan struct{}
}

func newCollector() *collector {
	return &collector{changed: make(chan struct{}, 1)}
}

func (c *collector) arrived(seq int64) {
	c.counts[seq%int64(len(c.counts))].Add(1)
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// await returns once n arrivals of seq are in, or after wait.
func (c *collector) await(seq int64, n int, wait time.Duration) {
	deadline := time.After(wait)
	for c.counts[seq%int64(len(c.counts))].Load() < int64(n) {
		select {
		case <-c.changed:
		case <-deadline:
			return
		}
	}
}

// latencies are the clients' arrivals of the sent bids, each from its
// sending.
func latencies(clients []*client, sent map[int64]time.Time) []time.Duration {
	var out []time.Duration
	for _, c := range clients {
		if c == nil {
			continue
		}
		c.mu.Lock()
		for _, a := range c.arrivals {
			if at, ok := sent[a.seq]; ok {
				out = append(out, a.at.Sub(at))
			}
		}
		c.mu.Unlock()
	}
	return out
}
