package ledger

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkContendedClaims: every goroutine buys one unit at a time from the
// same drop, so every purchase conflicts on one lot row — the worst case of
// a flash sale. Reported as committed purchases per second.
//
//	go test ./ledger -run '^$' -bench Contended -benchtime 3000x
//
// With LOTZERO_BENCH_DB_LATENCY=20ms every round trip to PostgreSQL costs
// 20 ms more (internal/dblatency), as from a node in another Region.
func BenchmarkContendedClaims(b *testing.B) {
	benchContendedClaims(b, 64, 8, envLatency(b))
}

// BenchmarkContendedClaimsRemote20ms is the README's aim for one hot lot
// served from one node whose database is 20 ms away (a cross-Region Aurora
// DSQL commit): ≥ 1,000 claims/s. 256 buyers in as many goroutines, on the
// node's 16 connections, so that group commit has a crowd to batch: a
// batch of purchases costs three round trips, each 20 ms —
//
//	go test ./ledger -run '^$' -bench ContendedClaimsRemote -benchtime 5000x
func BenchmarkContendedClaimsRemote20ms(b *testing.B) {
	const goroutines = 256
	benchContendedClaims(b, goroutines, max(1, goroutines/runtime.GOMAXPROCS(0)), 20*time.Millisecond)
}

// BenchmarkContendedClaimsCrowd is the flash sale as users make it: 256
// buyers at once on the node's 16 connections (BenchmarkRawHotRowCrowd is
// the database's bound for the same crowd on as many connections).
//
//	go test ./ledger -run '^$' -bench 'Crowd' -benchtime 20000x
func BenchmarkContendedClaimsCrowd(b *testing.B) {
	const goroutines = 256
	benchContendedClaims(b, goroutines, max(1, goroutines/runtime.GOMAXPROCS(0)), envLatency(b))
}

// benchContendedClaims has buyers funded users buy one unit at a time of one
// drop from parallelism × GOMAXPROCS goroutines, through a ledger latency
// away from its database (set-up is near).
func benchContendedClaims(b *testing.B, buyers, parallelism int, latency time.Duration) {
	l := newLedger(b)
	ctx := context.Background()
	for i := 0; i < buyers; i++ {
		l.user(userName("b", i), MaxAmount/1024)
	}
	id := l.lot(LotSpec{Kind: KindDrop, Title: "bench", Price: 100, Qty: MaxQty})
	node := l.at(latency)
	var next, busy atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			_, _, err := node.BuyDrop(ctx, Actor{User: userName("b", int(n%int64(buyers))), Region: "us-east-1", RequestID: fmt.Sprint(n)}, id, 1)
			if CodeOf(err) == CodeBusy {
				busy.Add(1)
			} else if err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N-int(busy.Load()))/b.Elapsed().Seconds(), "claims/s")
	st := node.Stats()
	b.ReportMetric(float64(st.Conflicts)/float64(b.N), "retries/op")
	b.ReportMetric(float64(st.Operations)/float64(max(st.Commits, 1)), "ops/commit")
	b.ReportMetric(float64(busy.Load()), "busy")
}

// BenchmarkRawHotRow is the database's own bound for the contended claim:
// the single conditional UPDATE at the heart of a purchase, autocommitted,
// on one row, from as many goroutines and connections as
// BenchmarkContendedClaims (8 × GOMAXPROCS on 16), in a table of the
// test's own database. Nothing a transaction of several statements does
// can beat it; the two side by side say what the ledger's work costs.
// LOTZERO_BENCH_DB_LATENCY puts the same distance in front of it.
//
//	go test ./ledger -run '^$' -bench 'ContendedClaims$|RawHotRow' -benchtime 3000x
func BenchmarkRawHotRow(b *testing.B) {
	benchRawHotRow(b, 8)
}

// BenchmarkRawHotRowCrowd is BenchmarkRawHotRow from 256 goroutines on the
// same 16 connections: the bound beside BenchmarkContendedClaimsCrowd.
func BenchmarkRawHotRowCrowd(b *testing.B) {
	benchRawHotRow(b, max(1, 256/runtime.GOMAXPROCS(0)))
}

func benchRawHotRow(b *testing.B, parallelism int) {
	l := newLedger(b)
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE TABLE raw_hot_row (id BIGINT PRIMARY KEY, claimed BIGINT NOT NULL, total BIGINT NOT NULL)`,
		`INSERT INTO raw_hot_row (id, claimed, total) VALUES (1, 0, 9223372036854775807)`,
	} {
		if _, err := l.pool.Exec(ctx, stmt); err != nil {
			b.Fatal(err)
		}
	}
	pool := l.poolAt(envLatency(b))
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := pool.Exec(ctx, `UPDATE raw_hot_row SET claimed = claimed + 1 WHERE id = 1 AND claimed < total`); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	var claimed int64
	if err := l.pool.QueryRow(ctx, `SELECT claimed FROM raw_hot_row WHERE id = 1`).Scan(&claimed); err != nil {
		b.Fatal(err)
	}
	if claimed != int64(b.N) {
		b.Fatalf("%d updates committed %d claims", b.N, claimed)
	}
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
