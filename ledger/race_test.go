package ledger

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// rush releases n goroutines at once through a barrier and collects each
// one's error code ("" for success).
func rush(n int, op func(i int) error) []Code {
	codes := make([]Code, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = CodeOf(op(i))
		}()
	}
	close(start)
	wg.Wait()
	return codes
}

// bothWays runs a race with group commit (the default) and with one
// transaction per operation: correctness must not depend on batching.
func bothWays(t *testing.T, race func(t *testing.T, batch int)) {
	t.Run("batched", func(t *testing.T) { race(t, 0) })
	t.Run("one-by-one", func(t *testing.T) { race(t, 1) })
}

func countCodes(codes []Code) map[Code]int {
	m := map[Code]int{}
	for _, c := range codes {
		m[c]++
	}
	return m
}

func TestOversellRace(t *testing.T) { bothWays(t, checkOversellRace) }

func checkOversellRace(t *testing.T, batch int) {
	l := newLedger(t, func(o *Options) { o.MaxBatch = batch })
	ctx := context.Background()
	const buyers, units, price = 500, 5, 2_500
	id := l.lot(LotSpec{Kind: KindDrop, Title: "rush", Price: price, Qty: units})
	for i := 0; i < buyers; i++ {
		l.user(userName("b", i), 10_000)
	}
	node := l.nodes()
	codes := rush(buyers, func(i int) error {
		_, _, err := node[i%2].BuyDrop(ctx, l.as(userName("b", i)), id, 1)
		return err
	})
	got := countCodes(codes)
	t.Logf("outcomes %v, node stats %+v %+v", got, node[0].Stats(), node[1].Stats())
	if got[""] != units {
		t.Fatalf("sold %d units of %d: %v", got[""], units, got)
	}
	if got[""]+got[CodeSoldOut]+got[CodeBusy] != buyers {
		t.Fatalf("unexpected outcomes: %v", got)
	}
	lot := l.getLot(id)
	if lot.QtyClaimed != units || l.wallet("host").Earned != units*price {
		t.Fatalf("lot %d claimed, host earned %d", lot.QtyClaimed, l.wallet("host").Earned)
	}
	var spent int64
	for i := 0; i < buyers; i++ {
		spent += l.wallet(userName("b", i)).Spent
	}
	if spent != units*price {
		t.Fatalf("buyers spent %d", spent)
	}
}

func TestDoubleSpendRace(t *testing.T) { bothWays(t, checkDoubleSpendRace) }

func checkDoubleSpendRace(t *testing.T, batch int) {
	l := newLedger(t, func(o *Options) { o.MaxBatch = batch })
	ctx := context.Background()
	const lots, price = 200, 7_000
	spender := l.user("spender", price) // funded for exactly one purchase
	ids := make([]uuid.UUID, lots)
	for i := range ids {
		ids[i] = l.lot(LotSpec{Kind: KindDrop, Title: "one of many", Price: price, Qty: 1})
	}
	node := l.nodes()
	codes := rush(lots, func(i int) error {
		_, _, err := node[i%2].BuyDrop(ctx, Actor{User: spender, Region: DemoRegions()[i%5], RequestID: userName("ds", i)}, ids[i], 1)
		return err
	})
	got := countCodes(codes)
	t.Logf("outcomes %v, node stats %+v %+v", got, node[0].Stats(), node[1].Stats())
	if got[""] != 1 || got[""]+got[CodeInsufficientFunds]+got[CodeBusy] != lots {
		t.Fatalf("exactly one purchase must succeed: %v", got)
	}
	if w := l.wallet(spender); w.Available() != 0 || w.Spent != price {
		t.Fatalf("wallet: %+v", w)
	}
}

// TestEnglishWar: 200 bidders, each with a private maximum, keep bidding
// the current minimum with their maximum as a proxy until they win the lead
// or the minimum passes their maximum. The largest maximum must win, with
// every other bidder priced out, and only the winner may hold funds.
func TestEnglishWar(t *testing.T) { bothWays(t, checkEnglishWar) }

func checkEnglishWar(t *testing.T, batch int) {
	l := newLedger(t, func(o *Options) { o.MaxBatch = batch })
	ctx := context.Background()
	const bidders = 200
	id := l.lot(LotSpec{Kind: KindEnglish, Title: "war", StartPrice: 1_000, DurationS: 3600})
	limits := make([]int64, bidders)
	perm := rand.Perm(bidders)
	for i := 0; i < bidders; i++ {
		l.user(userName("w", i), 10_000_000)
		// Distinct maxima spaced wider than the largest increment, so the
		// ladder never prices out a higher maximum.
		limits[i] = 1_000 + int64(perm[i])*10_007
	}
	var mu sync.Mutex
	tally := map[Code]int{}
	node := l.nodes()
	codes := rush(bidders, func(i int) error {
		me := userName("w", i)
		for {
			lot, err := l.Lot(ctx, id)
			if err != nil {
				return err
			}
			if lot.MinNextBid() > limits[i] || lot.HighBidder == me {
				return nil
			}
			_, _, err = node[i%2].PlaceBid(ctx, l.as(me), id, lot.MinNextBid(), limits[i])
			mu.Lock()
			tally[CodeOf(err)]++
			mu.Unlock()
			switch CodeOf(err) {
			case "":
				return nil // accepted: either leading, or our maximum was spent
			case CodeBidTooLow, CodeBusy:
				continue // the price moved under us: look again
			default:
				return err
			}
		}
	})
	t.Logf("bid outcomes %v, node stats %+v %+v", tally, node[0].Stats(), node[1].Stats())
	if got := countCodes(codes); got[""] != bidders {
		t.Fatalf("bidders ended with errors: %v", got)
	}
	winner, best, second := 0, int64(0), int64(0)
	for i, lim := range limits {
		if lim > best {
			second, best, winner = best, lim, i
		} else if lim > second {
			second = lim
		}
	}
	lot := l.getLot(id)
	// Everyone else was priced out: the next minimum is above their maximum.
	if lot.HighBidder != userName("w", winner) || lot.MinNextBid() <= second || lot.HighBid > best {
		t.Fatalf("high bidder %s at %d; want w%d (max %d) with the next minimum above %d", lot.HighBidder, lot.HighBid, winner, best, second)
	}
	for i := 0; i < bidders; i++ {
		held := l.wallet(userName("w", i)).Held
		if i == winner && held != best || i != winner && held != 0 {
			t.Fatalf("w%d holds %d (winner w%d)", i, held, winner)
		}
	}
	_, _, err := l.CloseLot(ctx, l.as("host"), id)
	mustOK(t, err)
	if w := l.wallet(userName("w", winner)); w.Spent != lot.HighBid || w.Held != 0 {
		t.Fatalf("winner after settlement: %+v", w)
	}
}
