package ledger

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// Legitimate states must pass Audit (newLedger's cleanup audits).
func TestLegitimateEndingsPassAudit(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a, b := l.user("alice", 100_000), l.user("bob", 100_000)
	// reserve not met, proxy, own raise, then host closes
	s := englishSpec()
	s.Reserve = 50_000
	e1 := l.lot(s)
	_, _, err := l.PlaceBid(ctx, l.as(a), e1, 1_000, 3_000)
	mustOK(t, err)
	_, _, err = l.PlaceBid(ctx, l.as(a), e1, 1_000, 4_000) // raise own max
	mustOK(t, err)
	_, _, err = l.PlaceBid(ctx, l.as(b), e1, 2_000, 0) // answered by proxy
	mustOK(t, err)
	_, _, err = l.PlaceBid(ctx, l.as(a), e1, 3_000, 0) // own visible raise
	mustOK(t, err)
	_, _, err = l.CloseLot(ctx, l.as("host"), e1)
	mustOK(t, err)
	// reserve met via own max raise, then settles by time
	e2 := l.lot(s)
	_, _, err = l.PlaceBid(ctx, l.as(b), e2, 1_000, 2_000)
	mustOK(t, err)
	_, _, err = l.PlaceBid(ctx, l.as(b), e2, 1_000, 60_000)
	mustOK(t, err)
	if lot := l.getLot(e2); lot.HighBid != 50_000 {
		t.Fatalf("reserve jump on own raise: %d", lot.HighBid)
	}
	// scheduled english closed by host; scheduled dutch closed by host
	s3 := englishSpec()
	s3.Scheduled = true
	e3 := l.lot(s3)
	_, _, err = l.CloseLot(ctx, l.as("host"), e3)
	mustOK(t, err)
	d := dutchSpec()
	d.Scheduled = true
	d1 := l.lot(d)
	_, _, err = l.CloseLot(ctx, l.as("host"), d1)
	mustOK(t, err)
	// dutch closes at floor with units left, after one claim
	d2 := l.lot(dutchSpec())
	_, _, err = l.ClaimDutch(ctx, l.as(a), d2, 1, 0)
	mustOK(t, err)
	for i := 0; i < 6; i++ {
		l.clock.Advance(time.Second)
		lot := l.getLot(d2)
		_, _, err = l.AdvanceDutch(ctx, d2, lot.StepIndex, "x")
		mustOK(t, err)
	}
	if lot := l.getLot(d2); lot.Status != StatusSettled {
		t.Fatalf("dutch at floor: %+v", lot.Status)
	}
	// hold-floor dutch closed by host at floor
	dh := dutchSpec()
	dh.FloorAction = FloorHold
	d3 := l.lot(dh)
	for i := 0; i < 5; i++ {
		_, _, err = l.TickDutch(ctx, l.as("host"), d3, -1)
		mustOK(t, err)
	}
	_, _, err = l.ClaimDutch(ctx, l.as(b), d3, 2, 0)
	mustOK(t, err)
	_, _, err = l.CloseLot(ctx, l.as("host"), d3)
	mustOK(t, err)
	l.clock.Advance(20 * time.Minute)
	_, err = l.SettleDue(ctx, e2, "x")
	mustOK(t, err)
}

// A COMMIT whose reply is lost on the last allowed attempt must not be
// reported as busy ("nothing changed"): the retry finds the first outcome.
func TestLostCommitReplyOnLastAttemptIsNotBusy(t *testing.T) {
	l := newLedger(t, func(o *Options) { o.MaxAttempts = 1 })
	ctx := context.Background()
	a := l.user("alice", 100_000)
	id := l.lot(englishSpec())
	var n atomic.Int32
	l.afterCommit = func() error {
		if n.Add(1) == 1 {
			return io.ErrUnexpectedEOF
		}
		return nil
	}
	res, _, err := l.PlaceBid(ctx, l.as(a), id, 2_000, 0)
	l.afterCommit = nil
	mustOK(t, err)
	if !res.High || l.wallet(a).Held != 2_000 {
		t.Fatalf("after a lost COMMIT reply: %+v, held %d", res, l.wallet(a).Held)
	}
}

// The same request id with other arguments is refused, never answered with
// the first request's outcome.
func TestRequestIDReusedWithOtherArguments(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a := l.user("alice", 100_000)
	lotA, lotB := l.lot(englishSpec()), l.lot(englishSpec())
	act := Actor{User: a, Region: "us-east-1", RequestID: "1"}
	_, _, err := l.PlaceBid(ctx, act, lotA, 1_000, 0)
	mustOK(t, err)
	_, _, err = l.PlaceBid(ctx, act, lotB, 5_000, 0)
	wantCode(t, err, CodeBadRequest)
	_, _, err = l.PlaceBid(ctx, act, lotA, 1_100, 0)
	wantCode(t, err, CodeBadRequest)
	if l.getLot(lotB).HighBidder != "" {
		t.Fatal("the refused request bid on lot B")
	}
}

// At the largest amount the ladder cannot rise: an equal bid is too low.
func TestSaturatedLadderRefusesEqualBid(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a, b := l.user("alice", MaxAmount), l.user("bob", MaxAmount)
	l.user("host", 0) // room for the host to be credited the largest amount
	id := l.lot(LotSpec{Kind: KindEnglish, Title: "x", StartPrice: MaxAmount, DurationS: 600})
	_, _, err := l.PlaceBid(ctx, l.as(a), id, MaxAmount, 0)
	mustOK(t, err)
	_, _, err = l.PlaceBid(ctx, l.as(b), id, MaxAmount, 0)
	wantCode(t, err, CodeBidTooLow)
}

// A lot's proceeds never pass the largest amount JSON carries exactly.
func TestProceedsBounded(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a, b := l.user("alice", MaxAmount), l.user("bob", MaxAmount)
	l.user("host", 0) // room for exactly one sale at the largest amount
	id := l.lot(LotSpec{Kind: KindDrop, Title: "x", Price: MaxAmount, Qty: 2})
	_, _, err := l.BuyDrop(ctx, l.as(a), id, 1)
	mustOK(t, err)
	_, _, err = l.BuyDrop(ctx, l.as(b), id, 1)
	wantCode(t, err, CodeLimitExceeded)
}
