package ledger

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkContendedClaims: every goroutine buys one unit at a time from the
// same drop, so every purchase conflicts on one lot row — the worst case of
// a flash sale. Reported as committed purchases per second.
//
//	go test ./ledger -run '^$' -bench Contended -benchtime 3000x
func BenchmarkContendedClaims(b *testing.B) {
	l := newLedger(b)
	ctx := context.Background()
	const buyers = 64
	for i := 0; i < buyers; i++ {
		l.user(userName("b", i), MaxAmount/1024)
	}
	id := l.lot(LotSpec{Kind: KindDrop, Title: "bench", Price: 100, Qty: MaxQty})
	var next, busy atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			_, _, err := l.BuyDrop(ctx, Actor{User: userName("b", int(n%buyers)), Region: "us-east-1", RequestID: fmt.Sprint(n)}, id, 1)
			if CodeOf(err) == CodeBusy {
				busy.Add(1)
			} else if err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N-int(busy.Load()))/b.Elapsed().Seconds(), "claims/s")
	b.ReportMetric(float64(l.Stats().Conflicts)/float64(b.N), "retries/op")
	b.ReportMetric(float64(busy.Load()), "busy")
}

// BenchmarkUncontendedBids: each goroutine bids on its own English lots, two
// bidders alternating, so transactions never touch the same rows.
//
//	go test ./ledger -run '^$' -bench Uncontended -benchtime 3000x
func BenchmarkUncontendedBids(b *testing.B) {
	l := newLedger(b)
	ctx := context.Background()
	const lots = 64
	ids := make([]uuid.UUID, lots)
	for i := range ids {
		ids[i] = l.lot(LotSpec{Kind: KindEnglish, Title: "bench", StartPrice: 100, DurationS: 3600})
		l.user(userName("x", i), MaxAmount/1024)
		l.user(userName("y", i), MaxAmount/1024)
	}
	var slot atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(slot.Add(1)-1) % lots
		amount := int64(100)
		for n := 0; pb.Next(); n++ {
			user := userName("x", i)
			if n%2 == 1 {
				user = userName("y", i)
			}
			if _, _, err := l.PlaceBid(ctx, l.as(user), ids[i], amount, 0); err != nil {
				b.Error(err)
				return
			}
			amount = nextBid(amount)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "bids/s")
	b.ReportMetric(float64(l.Stats().Conflicts)/float64(b.N), "retries/op")
}
