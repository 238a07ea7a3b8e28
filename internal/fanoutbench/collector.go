package fanoutbench

import (
	"sort"
	"sync/atomic"
	"time"
)

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
	eachArrival(clients, sent, func(_ int64, d time.Duration) { out = append(out, d) })
	return out
}

// perBidP99 is each sent bid's p99 across the clients, in seq order (0
// for a bid no client received).
func perBidP99(clients []*client, sent map[int64]time.Time) []time.Duration {
	bySeq := make(map[int64][]time.Duration, len(sent))
	eachArrival(clients, sent, func(seq int64, d time.Duration) { bySeq[seq] = append(bySeq[seq], d) })
	seqs := make([]int64, 0, len(sent))
	for seq := range sent {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	out := make([]time.Duration, len(seqs))
	for i, seq := range seqs {
		out[i] = latencyOf(bySeq[seq]).P99
	}
	return out
}

// eachArrival calls f with every client's arrival of a sent bid: its seq
// and the time from its sending.
func eachArrival(clients []*client, sent map[int64]time.Time, f func(seq int64, d time.Duration)) {
	for _, c := range clients {
		if c == nil {
			continue
		}
		c.mu.Lock()
		for _, a := range c.arrivals {
			if at, ok := sent[a.seq]; ok {
				f(a.seq, a.at.Sub(at))
			}
		}
		c.mu.Unlock()
	}
}
