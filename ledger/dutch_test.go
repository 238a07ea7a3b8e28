package ledger

import (
	"context"
	"sync"
	"testing"
	"time"
)

func dutchSpec() LotSpec {
	return LotSpec{Kind: KindDutch, Title: "tuna", StartPrice: 10_000, FloorPrice: 7_000, Step: 1_000, IntervalMS: 1_000, Qty: 3}
}

func TestDutchScheduleFloorAndIdempotentAdvance(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	id := l.lot(dutchSpec())

	res, evs, err := l.AdvanceDutch(ctx, id, 0, "us-east-1")
	mustOK(t, err)
	if res.Step != 0 || len(evs) != 0 {
		t.Fatal("advanced before the step was due")
	}
	l.clock.Advance(time.Second)
	due, err := l.DueTicks(ctx, 10)
	mustOK(t, err)
	if len(due) != 1 || due[0].Lot != id || due[0].Step != 0 {
		t.Fatalf("due ticks: %+v", due)
	}
	// Two tickers advancing from step 0 at once move the lot once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ticks := 0
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, evs, err := l.AdvanceDutch(ctx, id, 0, "us-east-1")
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			ticks += len(evs)
			mu.Unlock()
		}()
	}
	wg.Wait()
	lot := l.getLot(id)
	if ticks != 1 || lot.StepIndex != 1 || lot.Price != 9_000 {
		t.Fatalf("advance from step 0 four times: %d ticks, step %d, price %d", ticks, lot.StepIndex, lot.Price)
	}
	// Host ticks walk the price down to the floor, never below it.
	l.user("alice", 100_000)
	_, _, err = l.TickDutch(ctx, l.as("alice"), id, -1)
	wantCode(t, err, CodeForbidden)
	for _, want := range []int64{8_000, 7_000} {
		res, _, err := l.TickDutch(ctx, l.as("host"), id, -1)
		mustOK(t, err)
		if res.Price != want {
			t.Fatalf("tick: price %d, want %d", res.Price, want)
		}
	}
	// At the floor with units left, the default floor action closes it unsold.
	_, evs, err = l.TickDutch(ctx, l.as("host"), id, -1)
	mustOK(t, err)
	lot = l.getLot(id)
	if lot.Status != StatusSettled || lot.Price != 7_000 || len(evs) != 2 {
		t.Fatalf("floor close: %+v, %d events", lot, len(evs))
	}
}

func TestDutchFloorHold(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	spec := dutchSpec()
	spec.FloorAction = FloorHold
	spec.StartPrice, spec.Step = 8_000, 5_000 // one step lands on the floor
	id := l.lot(spec)
	l.clock.Advance(time.Second)
	res, _, err := l.AdvanceDutch(ctx, id, 0, "us-east-1")
	mustOK(t, err)
	lot := l.getLot(id)
	if res.Price != 7_000 || lot.NextTickAtMS != 0 || lot.Status != StatusOpen {
		t.Fatalf("hold at floor: %+v", lot)
	}
	due, err := l.DueTicks(ctx, 10)
	mustOK(t, err)
	if len(due) != 0 {
		t.Fatal("a lot held at its floor has no more ticks")
	}
}

func TestDutchClaim(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a, b := l.user("alice", 25_000), l.user("bob", 100_000)
	id := l.lot(dutchSpec())

	_, _, err := l.ClaimDutch(ctx, l.as(a), id, 3, 0)
	wantCode(t, err, CodeInsufficientFunds)
	_, _, err = l.ClaimDutch(ctx, l.as(a), id, 1, 9_500)
	wantCode(t, err, CodePriceChanged)
	_, _, err = l.ClaimDutch(ctx, l.as("host"), id, 1, 0)
	wantCode(t, err, CodeForbidden)
	_, _, err = l.ClaimDutch(ctx, l.as(a), id, 4, 0)
	wantCode(t, err, CodeSoldOut)
	_, _, err = l.ClaimDutch(ctx, l.as(a), id, 0, 0)
	wantCode(t, err, CodeBadRequest)

	res, evs, err := l.ClaimDutch(ctx, l.as(a), id, 2, 0)
	mustOK(t, err)
	if res.Price != 10_000 || res.Qty != 2 || len(evs) != 1 || evs[0].Kind != EventClaimed {
		t.Fatalf("claim: %+v %+v", res, evs)
	}
	l.clock.Advance(time.Second)
	_, _, err = l.AdvanceDutch(ctx, id, 0, "us-east-1")
	mustOK(t, err)
	// The last unit sells at the new step's price and ends the lot.
	res, evs, err = l.ClaimDutch(ctx, l.as(b), id, 1, 9_000)
	mustOK(t, err)
	kinds := []string{}
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	if res.Price != 9_000 || len(kinds) != 4 || kinds[1] != EventSoldOut || kinds[3] != EventSettled {
		t.Fatalf("last unit: %+v %v", res, kinds)
	}
	if w := l.wallet("host"); w.Earned != 29_000 {
		t.Fatalf("host proceeds: %+v", w)
	}
	_, _, err = l.ClaimDutch(ctx, l.as(b), id, 1, 0)
	wantCode(t, err, CodeSoldOut)
}

// TestDutchTickVersusClaimRace races scheduled ticks against claimers: every
// claim must pay exactly the price of the step it committed against, which
// the event log shows as the latest price before the claim.
func TestDutchTickVersusClaimRace(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	spec := LotSpec{Kind: KindDutch, Title: "race", StartPrice: 100_000, FloorPrice: 1_000, Step: 1_000, IntervalMS: 100, Qty: 20}
	id := l.lot(spec)
	const claimers = 40
	users := make([]string, claimers)
	for i := range users {
		users[i] = l.user(userName("c", i), 1_000_000)
	}
	node := l.nodes()
	stop := make(chan struct{})
	var tickerWG sync.WaitGroup
	tickerWG.Add(2)
	for n := 0; n < 2; n++ { // two nodes' tickers
		go func() {
			nl := node[n]
			defer tickerWG.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				l.clock.Advance(100 * time.Millisecond)
				due, err := nl.DueTicks(ctx, 10)
				if err != nil {
					t.Error(err)
					return
				}
				for _, d := range due {
					if _, _, err := nl.AdvanceDutch(ctx, d.Lot, d.Step, "eu-west-1"); err != nil && CodeOf(err) != CodeBusy {
						t.Error(err)
					}
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Stagger the claimers so they meet the ticks at many steps.
			time.Sleep(time.Duration(i) * 3 * time.Millisecond)
			_, _, err := node[i%2].ClaimDutch(ctx, l.as(u), id, 1, 0)
			switch CodeOf(err) {
			case "", CodeSoldOut, CodeLotClosed, CodeBusy:
			default:
				t.Errorf("claim: %v", err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	tickerWG.Wait()

	evs, err := l.EventsSince(ctx, id, 0, 10_000)
	mustOK(t, err)
	price, claimed := spec.StartPrice, int64(0)
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event seq gap: %d at %d", e.Seq, i)
		}
		data, err := e.DecodeData()
		mustOK(t, err)
		switch d := data.(type) {
		case PriceTickData:
			if d.Price >= price {
				t.Fatalf("price rose: %d -> %d", price, d.Price)
			}
			price = d.Price
		case ClaimedData:
			if d.Price != price {
				t.Fatalf("claim at seq %d paid %d while the step's price was %d", e.Seq, d.Price, price)
			}
			claimed += d.Qty
		}
	}
	lot := l.getLot(id)
	if lot.StepIndex == 0 || claimed == 0 {
		t.Fatalf("the race never mixed ticks and claims: step %d, claimed %d", lot.StepIndex, claimed)
	}
	if claimed != lot.QtyClaimed || lot.QtyClaimed > lot.QtyTotal {
		t.Fatalf("claimed %d, lot says %d of %d", claimed, lot.QtyClaimed, lot.QtyTotal)
	}
	t.Logf("claimed %d of %d, final price %d, %d events, stats %+v", lot.QtyClaimed, lot.QtyTotal, lot.Price, len(evs), l.Stats())
}
