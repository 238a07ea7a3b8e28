package ledger

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSameRequestIDReturnsFirstOutcome(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a := l.user("alice", 100_000)
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "x", Price: 1_000, Qty: 10})
	act := l.as(a)

	first, evs, err := l.BuyDrop(ctx, act, drop, 2)
	mustOK(t, err)
	if len(evs) != 1 {
		t.Fatal("first execution emits its event")
	}
	again, evs, err := l.BuyDrop(ctx, act, drop, 2)
	mustOK(t, err)
	if again != first || len(evs) != 0 {
		t.Fatalf("replay: %+v vs %+v, %d events", again, first, len(evs))
	}
	if w := l.wallet(a); w.Spent != 2_000 {
		t.Fatalf("a replay moved money again: %+v", w)
	}
	if lot := l.getLot(drop); lot.QtyClaimed != 2 {
		t.Fatalf("a replay sold again: %d", lot.QtyClaimed)
	}
	// The same id on another operation is refused, and changes nothing.
	eng := l.lot(englishSpec())
	_, _, err = l.PlaceBid(ctx, act, eng, 5_000, 0)
	wantCode(t, err, CodeBadRequest)
	if l.wallet(a).Held != 0 {
		t.Fatal("refused reuse held money")
	}
}

func TestRefusalIsRememberedUnderItsRequestID(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a := l.user("alice", 500)
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "x", Price: 1_000, Qty: 10})
	act := l.as(a)
	_, _, err := l.BuyDrop(ctx, act, drop, 1)
	wantCode(t, err, CodeInsufficientFunds)
	_, err = l.Deposit(ctx, l.as(a), 10_000)
	mustOK(t, err)
	// Funds arrived, but the retried request gets its first outcome.
	_, _, err = l.BuyDrop(ctx, act, drop, 1)
	wantCode(t, err, CodeInsufficientFunds)
	// A new request id buys.
	_, _, err = l.BuyDrop(ctx, l.as(a), drop, 1)
	mustOK(t, err)
}

func TestConcurrentDuplicatesApplyOnce(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a := l.user("alice", 100_000)
	eng := l.lot(englishSpec())
	act := l.as(a)
	var wg sync.WaitGroup
	results := make([]BidResult, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, err := l.PlaceBid(ctx, act, eng, 2_000, 4_000)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r != results[0] {
			t.Fatalf("duplicates disagree: %+v vs %+v", r, results[0])
		}
	}
	if w := l.wallet(a); w.Held != 4_000 {
		t.Fatalf("held %d after 16 duplicates of one bid", w.Held)
	}
	if lot := l.getLot(eng); lot.BidCount != 1 {
		t.Fatalf("%d bids recorded", lot.BidCount)
	}
}

func TestDepositAndValidation(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a := l.user("alice", 100)
	w, err := l.Deposit(ctx, l.as(a), 900)
	mustOK(t, err)
	if w.Funded != 1_000 || w.Available() != 1_000 {
		t.Fatalf("deposit: %+v", w)
	}
	for _, amt := range []int64{0, -1, MaxAmount + 1} {
		_, err := l.Deposit(ctx, l.as(a), amt)
		wantCode(t, err, CodeBadRequest)
	}
	_, err = l.Deposit(ctx, l.as(a), MaxAmount)
	wantCode(t, err, CodeLimitExceeded)
	_, err = l.Deposit(ctx, l.as("ghost"), 10)
	wantCode(t, err, CodeNotFound)
	for _, act := range []Actor{
		{User: "Alice", Region: "eu-west-1", RequestID: "1"},
		{User: "alice", Region: "EU", RequestID: "1"},
		{User: "alice", Region: "eu-west-1", RequestID: ""},
		{User: "alice", Region: "eu-west-1", RequestID: string(make([]byte, 65))},
	} {
		_, err := l.Deposit(ctx, act, 10)
		wantCode(t, err, CodeBadRequest)
	}
	_, _, err = l.BuyDrop(ctx, l.as(a), [16]byte{1}, 1)
	wantCode(t, err, CodeNotFound)
	if w := l.wallet(a); w.Funded != 1_000 {
		t.Fatalf("refusals changed the wallet: %+v", w)
	}
	created, err := l.EnsureUser(ctx, a, "eu-west-1", 0)
	mustOK(t, err)
	if created {
		t.Fatal("EnsureUser recreated an existing user")
	}
}

func TestLotSpecValidation(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	l.user("host", 1)
	bad := []LotSpec{
		{Kind: "vickrey", Title: "x"},
		{Kind: KindEnglish, Title: "", StartPrice: 100, DurationS: 60},
		{Kind: KindEnglish, Title: "x", StartPrice: 0, DurationS: 60},
		{Kind: KindEnglish, Title: "x", StartPrice: 100, DurationS: 0},
		{Kind: KindEnglish, Title: "x", StartPrice: 100, DurationS: 60, HardEndS: 30},
		{Kind: KindEnglish, Title: "x", StartPrice: 100, DurationS: 60, Qty: 3},
		{Kind: KindDutch, Title: "x", StartPrice: 100, FloorPrice: 100, Step: 1, IntervalMS: 1000, Qty: 1},
		{Kind: KindDutch, Title: "x", StartPrice: 100, FloorPrice: 10, Step: 0, IntervalMS: 1000, Qty: 1},
		{Kind: KindDutch, Title: "x", StartPrice: 100, FloorPrice: 10, Step: 1, IntervalMS: 5, Qty: 1},
		{Kind: KindDutch, Title: "x", StartPrice: 100, FloorPrice: 10, Step: 1, IntervalMS: 1000, Qty: 0},
		{Kind: KindDutch, Title: "x", StartPrice: 100, FloorPrice: 10, Step: 1, IntervalMS: 1000, Qty: 1, FloorAction: "melt"},
		{Kind: KindDrop, Title: "x", Price: MaxAmount + 1, Qty: 1},
		{Kind: KindDrop, Title: "x", Price: 10, Qty: 2, PerUserLimit: 3},
		{Kind: KindDrop, Title: "x", Price: 10, Qty: 2, StartPrice: 4},
	}
	for i, s := range bad {
		_, _, err := l.CreateLot(ctx, l.as("host"), s)
		if CodeOf(err) != CodeBadRequest {
			t.Errorf("spec %d: want bad_request, got %v", i, err)
		}
	}
	lots, err := l.Lots(ctx, 100)
	mustOK(t, err)
	if len(lots) != 0 {
		t.Fatalf("invalid specs created %d lots", len(lots))
	}
	_, _, err = l.CreateLot(ctx, l.as("stranger"), englishSpec())
	wantCode(t, err, CodeNotFound)
}

func TestSeedIsIdempotent(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	evs, err := l.Seed(ctx)
	mustOK(t, err)
	if len(evs) != 9 {
		t.Fatalf("seed opened %d lots", len(evs))
	}
	evs, err = l.Seed(ctx)
	mustOK(t, err)
	if len(evs) != 0 {
		t.Fatal("second seed emitted events")
	}
	lots, err := l.Lots(ctx, 100)
	mustOK(t, err)
	kinds := map[string]int{}
	for _, lot := range lots {
		kinds[lot.Kind]++
	}
	if len(lots) != 9 || kinds[KindEnglish] != 3 || kinds[KindDutch] != 3 || kinds[KindDrop] != 3 {
		t.Fatalf("seeded lots: %v", kinds)
	}
	if w := l.wallet("alice"); w.Funded != DefaultDemoBalance {
		t.Fatalf("demo balance: %+v", w)
	}
	if err := l.Migrate(ctx); err != nil {
		t.Fatalf("migrate twice: %v", err)
	}
}

func TestUnknownCommitOutcomeIsRetriedSafely(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a := l.user("alice", 100_000)
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "x", Price: 1_000, Qty: 10})
	var lost atomic.Int32
	l.afterCommit = func() error {
		if lost.Add(1) == 1 {
			return io.ErrUnexpectedEOF // the COMMIT happened, but its reply was lost
		}
		return nil
	}
	res, _, err := l.BuyDrop(ctx, l.as(a), drop, 3)
	mustOK(t, err)
	l.afterCommit = nil
	if res.Qty != 3 || l.wallet(a).Spent != 3_000 || l.getLot(drop).QtyClaimed != 3 {
		t.Fatalf("after an unknown commit: %+v, wallet %+v", res, l.wallet(a))
	}
	if lost.Load() != 2 {
		t.Fatalf("expected one retry, saw %d commits", lost.Load())
	}
}

// Request records are pruned by age, in chunks: a retry within the
// retention still replays its first outcome; after it the id is forgotten.
func TestPruneRequestsByAge(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a := l.user("alice", 1_000_000)
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "x", Price: 10, Qty: 10_000})
	// Money from outside is remembered for good (not counted below).
	_, err := l.TopUp(ctx, "payer", 500, "pi_old", "us-east-1")
	mustOK(t, err)
	_, err = l.Credit(ctx, Actor{User: "ops", Region: "us-east-1", RequestID: "cli"}, "payer", 700, "wire-old", false)
	mustOK(t, err)
	old := Actor{User: a, Region: "eu-west-1", RequestID: "old"}
	_, _, err = l.BuyDrop(ctx, old, drop, 1)
	mustOK(t, err)
	// More old records than one chunk, so pruning takes several transactions.
	for i := 0; i < pruneChunk+50; i++ {
		_, _, err := l.BuyDrop(ctx, l.as(a), drop, 1)
		mustOK(t, err)
	}
	var before int
	if err := l.pool.QueryRow(ctx, `SELECT count(*) FROM requests WHERE user_id NOT LIKE '~%'`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	l.clock.Advance(2 * time.Hour)
	recent := Actor{User: a, Region: "eu-west-1", RequestID: "recent"}
	_, _, err = l.BuyDrop(ctx, recent, drop, 1)
	mustOK(t, err)

	n, err := l.PruneRequests(ctx, time.Hour)
	mustOK(t, err)
	if n != before || n <= pruneChunk {
		t.Fatalf("pruned %d records, want the %d older than the retention", n, before)
	}
	spent := l.wallet(a).Spent
	// The recent request is still remembered: its retry moves nothing.
	_, evs, err := l.BuyDrop(ctx, recent, drop, 1)
	mustOK(t, err)
	if len(evs) != 0 || l.wallet(a).Spent != spent {
		t.Fatal("a retry within the retention ran again")
	}
	var left int
	if err := l.pool.QueryRow(ctx, `SELECT count(*) FROM requests`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 3 {
		t.Fatalf("%d request records left, want 3 (the recent one, the top-up, the credit)", left)
	}
	// Past the retention the top-up and the credit still count once, and a
	// refund still finds the top-up's user.
	_, err = l.TopUp(ctx, "payer", 500, "pi_old", "us-east-1")
	mustOK(t, err)
	_, err = l.Credit(ctx, Actor{User: "ops2", Region: "us-east-1", RequestID: "cli"}, "payer", 700, "wire-old", false)
	mustOK(t, err)
	if w := l.wallet("payer"); w.Funded != 1_200 {
		t.Fatalf("outside money credited again after pruning: %+v", w)
	}
	res, err := l.Debit(ctx, Claim{Payment: "pi_old", ID: "ch_old", Kind: EntryRefund, Amount: 500, Event: "evt_old"}, "us-east-1")
	mustOK(t, err)
	if res.User != "payer" || l.wallet("payer").Funded != 700 {
		t.Fatalf("a refund after pruning: %+v", res)
	}
}
