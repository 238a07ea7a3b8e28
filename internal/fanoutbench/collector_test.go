package fanoutbench

import (
	"fmt"
	"testing"
	"time"
)

// Each bid's p99 is its own arrivals', in seq order (0 for one that
// reached nobody, so the list stays aligned), and arrivals of seqs that
// were not sent (a storm round's, say) count for none.
func TestPerBidP99(t *testing.T) {
	t0 := time.Now()
	sent := map[int64]time.Time{7: t0, 5: t0, 9: t0} // 9 reached nobody
	var clients []*client
	for i := range 100 {
		c := &client{}
		c.arrivals = []arrival{
			{seq: 5, at: t0.Add(time.Duration(i+1) * time.Millisecond)},     // 1..100 ms
			{seq: 6, at: t0.Add(time.Hour)},                                 // not a sent bid
			{seq: 7, at: t0.Add(time.Duration(2*(i+1)) * time.Millisecond)}, // 2..200 ms
		}
		clients = append(clients, c, nil)
	}
	got := perBidP99(clients, sent)
	if want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("per-bid p99 %v, want %v", got, want)
	}
	if n := len(latencies(clients, sent)); n != 200 {
		t.Fatalf("%d latencies, want 200", n)
	}
}
