package ledger

import (
	"context"
	"testing"
	"time"
)

func TestEnglishBidHoldsAndOutbidReleases(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a, b := l.user("alice", 100_000), l.user("bob", 100_000)
	id := l.lot(englishSpec())

	_, _, err := l.PlaceBid(ctx, l.as(a), id, 999, 0)
	wantCode(t, err, CodeBidTooLow)

	res, evs, err := l.PlaceBid(ctx, l.as(a), id, 1_000, 0)
	mustOK(t, err)
	if !res.High || res.Amount != 1_000 || res.Seq != 2 || len(evs) != 1 || evs[0].Kind != EventBid {
		t.Fatalf("first bid: %+v %+v", res, evs)
	}
	if w := l.wallet(a); w.Held != 1_000 || w.Available() != 99_000 {
		t.Fatalf("alice after bid: %+v", w)
	}
	// The increment at 1,000 is 50: 1,049 is too low, 1,050 is enough.
	_, _, err = l.PlaceBid(ctx, l.as(b), id, 1_049, 0)
	wantCode(t, err, CodeBidTooLow)
	res, evs, err = l.PlaceBid(ctx, l.as(b), id, 1_050, 0)
	mustOK(t, err)
	if !res.High || res.Amount != 1_050 {
		t.Fatalf("bob's bid: %+v", res)
	}
	if w := l.wallet(a); w.Held != 0 || w.Available() != 100_000 {
		t.Fatalf("alice's hold must be released when outbid: %+v", w)
	}
	if w := l.wallet(b); w.Held != 1_050 {
		t.Fatalf("bob's hold: %+v", w)
	}
	if len(evs) != 1 || evs[0].Wallets == nil || string(evs[0].Data) == "" {
		t.Fatalf("outbid event must name the changed wallets: %+v", evs)
	}
	lot := l.getLot(id)
	if lot.HighBidder != b || lot.HighBid != 1_050 || lot.MinNextBid() != 1_100 || lot.BidCount != 2 {
		t.Fatalf("lot: %+v", lot)
	}
}

func TestEnglishRefusals(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a := l.user("alice", 5_000)
	id := l.lot(englishSpec())
	_, _, err := l.PlaceBid(ctx, l.as("host"), id, 2_000, 0)
	wantCode(t, err, CodeForbidden)
	_, _, err = l.PlaceBid(ctx, l.as(a), id, 6_000, 0)
	wantCode(t, err, CodeInsufficientFunds)
	_, _, err = l.PlaceBid(ctx, l.as(a), id, 1_000, 6_000)
	wantCode(t, err, CodeInsufficientFunds) // the whole maximum is held
	_, _, err = l.PlaceBid(ctx, l.as(a), id, 2_000, 1_000)
	wantCode(t, err, CodeBadRequest)
	for _, amt := range []int64{0, -5, MaxAmount + 1} {
		_, _, err = l.PlaceBid(ctx, l.as(a), id, amt, 0)
		wantCode(t, err, CodeBadRequest)
	}
	_, _, err = l.PlaceBid(ctx, l.as("nobody"), id, 2_000, 0)
	wantCode(t, err, CodeNotFound)
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "x", Price: 10, Qty: 1})
	_, _, err = l.PlaceBid(ctx, l.as(a), drop, 2_000, 0)
	wantCode(t, err, CodeBadRequest)
	if w := l.wallet(a); w.Held != 0 || w.Spent != 0 {
		t.Fatalf("refusals moved money: %+v", w)
	}
}

func TestEnglishProxyBidding(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a, b, c := l.user("alice", 100_000), l.user("bob", 100_000), l.user("carol", 100_000)
	id := l.lot(englishSpec())

	// Alice: opening bid with a hidden maximum of 5,000; all of it is held.
	res, _, err := l.PlaceBid(ctx, l.as(a), id, 1_000, 5_000)
	mustOK(t, err)
	if res.Amount != 1_000 || l.wallet(a).Held != 5_000 {
		t.Fatalf("proxy open: %+v held %d", res, l.wallet(a).Held)
	}
	// Bob bids 2,000: Alice's proxy answers one increment above (2,050).
	res, evs, err := l.PlaceBid(ctx, l.as(b), id, 2_000, 0)
	mustOK(t, err)
	if res.High || res.Amount != 2_000 || len(evs) != 2 {
		t.Fatalf("bob vs proxy: %+v %d events", res, len(evs))
	}
	lot := l.getLot(id)
	if lot.HighBidder != a || lot.HighBid != 2_050 || l.wallet(b).Held != 0 {
		t.Fatalf("after proxy answer: %s at %d, bob held %d", lot.HighBidder, lot.HighBid, l.wallet(b).Held)
	}
	// Bob bids exactly Alice's maximum: the earlier bidder wins the tie at 5,000.
	res, _, err = l.PlaceBid(ctx, l.as(b), id, 5_000, 0)
	mustOK(t, err)
	lot = l.getLot(id)
	if res.High || lot.HighBidder != a || lot.HighBid != 5_000 {
		t.Fatalf("tie: %+v, %s at %d", res, lot.HighBidder, lot.HighBid)
	}
	// Carol's maximum 9,000 beats Alice's 5,000: she wins at 5,000 + 100.
	res, _, err = l.PlaceBid(ctx, l.as(c), id, 5_100, 9_000)
	mustOK(t, err)
	lot = l.getLot(id)
	if !res.High || res.Amount != 5_100 || lot.HighBidder != c || lot.HighMax != 9_000 {
		t.Fatalf("carol: %+v, lot %s at %d max %d", res, lot.HighBidder, lot.HighBid, lot.HighMax)
	}
	if l.wallet(a).Held != 0 || l.wallet(c).Held != 9_000 {
		t.Fatalf("holds: alice %d carol %d", l.wallet(a).Held, l.wallet(c).Held)
	}
	// Two proxies: Bob's 8,000 loses to Carol's 9,000, who is shown at 8,100.
	_, _, err = l.PlaceBid(ctx, l.as(b), id, 5_200, 8_000)
	mustOK(t, err)
	lot = l.getLot(id)
	if lot.HighBidder != c || lot.HighBid != 8_100 {
		t.Fatalf("proxy vs proxy: %s at %d", lot.HighBidder, lot.HighBid)
	}
	// Carol raises her own maximum: only the difference is held, the
	// visible price does not move, and no event is emitted.
	res, evs, err = l.PlaceBid(ctx, l.as(c), id, 8_100, 12_000)
	mustOK(t, err)
	if !res.High || res.Amount != 8_100 || len(evs) != 0 || l.wallet(c).Held != 12_000 {
		t.Fatalf("raise own max: %+v events %d held %d", res, len(evs), l.wallet(c).Held)
	}
	_, _, err = l.PlaceBid(ctx, l.as(c), id, 8_100, 12_000)
	wantCode(t, err, CodeBidTooLow)
	// Bob outbids the bigger proxy by one increment over it.
	res, _, err = l.PlaceBid(ctx, l.as(b), id, 13_000, 0)
	mustOK(t, err)
	lot = l.getLot(id)
	if !res.High || lot.HighBidder != b || lot.HighBid != 13_000 || l.wallet(c).Held != 0 {
		t.Fatalf("bob over proxy: %+v %s at %d", res, lot.HighBidder, lot.HighBid)
	}
}

func TestEnglishReserve(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a, b := l.user("alice", 100_000), l.user("bob", 100_000)

	// Not met: the lot closes unsold and the high bidder's hold is released.
	spec := englishSpec()
	spec.Reserve = 10_000
	unsold := l.lot(spec)
	_, _, err := l.PlaceBid(ctx, l.as(a), unsold, 2_000, 0)
	mustOK(t, err)
	if l.getLot(unsold).ReserveMet() {
		t.Fatal("reserve reported met")
	}
	l.clock.Advance(11 * time.Minute)
	_, err = l.SettleDue(ctx, unsold, "us-east-1")
	mustOK(t, err)
	lot := l.getLot(unsold)
	if lot.Status != StatusSettled || lot.Winner != "" || l.wallet(a).Held != 0 || l.wallet(a).Spent != 0 || l.wallet("host").Earned != 0 {
		t.Fatalf("unsold lot: %+v wallet %+v", lot, l.wallet(a))
	}

	// A maximum that reaches the reserve lifts the price to it.
	met := l.lot(spec)
	res, _, err := l.PlaceBid(ctx, l.as(b), met, 2_000, 15_000)
	mustOK(t, err)
	if res.Amount != 10_000 || !l.getLot(met).ReserveMet() {
		t.Fatalf("reserve jump: %+v", res)
	}
	l.clock.Advance(11 * time.Minute)
	_, err = l.SettleDue(ctx, met, "us-east-1")
	mustOK(t, err)
	if w := l.wallet(b); w.Spent != 10_000 || w.Held != 0 {
		t.Fatalf("winner paid the reserve price: %+v", w)
	}
	if l.wallet("host").Earned != 10_000 {
		t.Fatal("host not credited")
	}
}

func TestEnglishSoftCloseAndHardEnd(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a, b := l.user("alice", 100_000), l.user("bob", 100_000)
	spec := englishSpec()
	spec.DurationS, spec.ExtensionS, spec.HardEndS = 600, 30, 660
	id := l.lot(spec)
	end := l.getLot(id).EndsAtMS

	_, evs, err := l.PlaceBid(ctx, l.as(a), id, 1_000, 0)
	mustOK(t, err)
	if len(evs) != 1 || l.getLot(id).EndsAtMS != end {
		t.Fatal("a bid outside the window must not extend")
	}
	l.clock.Advance(590 * time.Second) // 10 s before the end
	_, evs, err = l.PlaceBid(ctx, l.as(b), id, 1_050, 0)
	mustOK(t, err)
	lot := l.getLot(id)
	if len(evs) != 2 || evs[1].Kind != EventExtended || lot.EndsAtMS <= end {
		t.Fatalf("soft close: %d events, end %d -> %d", len(evs), end, lot.EndsAtMS)
	}
	// Repeated late bids never push past the hard end.
	for i := 0; i < 5; i++ {
		l.clock.Advance(25 * time.Second)
		bidder := a
		if i%2 == 1 {
			bidder = b
		}
		_, _, err = l.PlaceBid(ctx, l.as(bidder), id, l.getLot(id).MinNextBid(), 0)
		if CodeOf(err) == CodeLotClosed {
			break
		}
		mustOK(t, err)
	}
	lot = l.getLot(id)
	if lot.EndsAtMS > lot.HardEndAtMS {
		t.Fatalf("extended past the hard end: %d > %d", lot.EndsAtMS, lot.HardEndAtMS)
	}
	l.clock.Advance(2 * time.Minute)
	_, _, err = l.PlaceBid(ctx, l.as(a), id, 100_000, 0)
	wantCode(t, err, CodeLotClosed)
}

func TestEnglishSettlesExactlyOnce(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a, b := l.user("alice", 100_000), l.user("bob", 100_000)
	id := l.lot(englishSpec())
	_, _, err := l.PlaceBid(ctx, l.as(a), id, 1_000, 3_000)
	mustOK(t, err)
	_, _, err = l.PlaceBid(ctx, l.as(b), id, 2_000, 0)
	mustOK(t, err) // alice's proxy answers at 2,050

	evs, err := l.SettleDue(ctx, id, "us-east-1")
	mustOK(t, err)
	if len(evs) != 0 {
		t.Fatal("settled before the end")
	}
	l.clock.Advance(10 * time.Minute)
	// Every node's closer may try at once: the lot settles once.
	errs := make(chan error, 8)
	settledEvents := make(chan int, 8)
	for i := 0; i < 8; i++ {
		go func() {
			evs, err := l.SettleDue(ctx, id, "us-east-1")
			errs <- err
			settledEvents <- len(evs)
		}()
	}
	total := 0
	for i := 0; i < 8; i++ {
		mustOK(t, <-errs)
		total += <-settledEvents
	}
	if total != 2 { // closed + settled, once
		t.Fatalf("settlement events across 8 closers: %d", total)
	}
	lot := l.getLot(id)
	if lot.Status != StatusSettled || lot.Winner != a || lot.Proceeds != 2_050 {
		t.Fatalf("settled lot: %+v", lot)
	}
	if w := l.wallet(a); w.Spent != 2_050 || w.Held != 0 || w.Available() != 100_000-2_050 {
		t.Fatalf("winner: %+v", w)
	}
	if w := l.wallet(b); w.Held != 0 || w.Spent != 0 {
		t.Fatalf("loser: %+v", w)
	}
	if w := l.wallet("host"); w.Earned != 2_050 {
		t.Fatalf("host: %+v", w)
	}
	_, _, err = l.CloseLot(ctx, l.as("host"), id)
	wantCode(t, err, CodeLotClosed)
}

func TestHostClosesEarly(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a := l.user("alice", 100_000)
	id := l.lot(englishSpec())
	_, _, err := l.PlaceBid(ctx, l.as(a), id, 1_500, 0)
	mustOK(t, err)
	_, _, err = l.CloseLot(ctx, l.as(a), id)
	wantCode(t, err, CodeForbidden)
	_, evs, err := l.CloseLot(ctx, l.as("host"), id)
	mustOK(t, err)
	if len(evs) != 2 || evs[0].Kind != EventClosed || evs[1].Kind != EventSettled {
		t.Fatalf("close events: %+v", evs)
	}
	if l.wallet(a).Spent != 1_500 {
		t.Fatal("winner not charged")
	}
}

func TestScheduledLotOpensByHost(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a := l.user("alice", 100_000)
	spec := englishSpec()
	spec.Scheduled = true
	id := l.lot(spec)
	lot := l.getLot(id)
	if lot.Status != StatusScheduled || lot.Seq != 0 {
		t.Fatalf("scheduled lot: %+v", lot)
	}
	_, _, err := l.PlaceBid(ctx, l.as(a), id, 1_000, 0)
	wantCode(t, err, CodeLotNotOpen)
	_, _, err = l.OpenLot(ctx, l.as(a), id)
	wantCode(t, err, CodeForbidden)
	res, evs, err := l.OpenLot(ctx, l.as("host"), id)
	mustOK(t, err)
	if res.Seq != 1 || len(evs) != 1 || evs[0].Kind != EventOpened {
		t.Fatalf("open: %+v %+v", res, evs)
	}
	_, _, err = l.PlaceBid(ctx, l.as(a), id, 1_000, 0)
	mustOK(t, err)
}
