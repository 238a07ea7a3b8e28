package ledger

import (
	"context"
	"testing"
	"time"
)

// TestActivityTellsEachUsersPart: bids (leading, outbid, won, lost),
// claims, purchases, holds and a host's proceeds, newest lot first, each
// user seeing only their own part.
func TestActivityTellsEachUsersPart(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a, b := l.user("alice", 100_000), l.user("bob", 100_000)
	camera := l.lot(englishSpec())
	mustOK(t, first(l.PlaceBid(ctx, l.as(a), camera, 1_000, 0)))
	mustOK(t, first(l.PlaceBid(ctx, l.as(b), camera, 1_100, 0)))
	l.clock.Advance(5 * time.Millisecond) // entries order by time: no ties between lots
	tuna := l.lot(dutchSpec())
	mustOK(t, first(l.ClaimDutch(ctx, l.as(a), tuna, 2, 0)))
	l.clock.Advance(5 * time.Millisecond)
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "sneakers", Price: 700, Qty: 3, PerUserLimit: 2})
	mustOK(t, first(l.BuyDrop(ctx, l.as(a), drop, 1)))
	mustOK(t, first(l.BuyDrop(ctx, l.as(a), drop, 1)))

	got := activityOf(t, l, a)
	if len(got) != 3 || got[0].Lot.ID != drop || got[1].Lot.ID != tuna || got[2].Lot.ID != camera {
		t.Fatalf("alice's lots, newest first: %+v", got)
	}
	if d := got[0]; d.Bought != 2 || d.Paid != 1_400 || d.Held != 0 || d.Standing(a) != "" {
		t.Fatalf("alice's drop: %+v", d)
	}
	if d := got[1]; d.Bought != 2 || d.Paid != 20_000 {
		t.Fatalf("alice's claim: %+v", d)
	}
	if c := got[2]; c.Bids != 1 || c.TopBid != 1_000 || c.Held != 0 || c.Standing(a) != "outbid" {
		t.Fatalf("alice outbid on the camera: %+v (%s)", c, c.Standing(a))
	}
	bob := activityOf(t, l, b)
	if len(bob) != 1 || bob[0].Held != 1_100 || bob[0].Standing(b) != "leading" || bob[0].Bought != 0 {
		t.Fatalf("bob leads the camera: %+v", bob)
	}

	// Closing settles: bob won, alice lost, the host earned the price.
	mustOK(t, first(l.CloseLot(ctx, l.as("host"), camera)))
	if bob := activityOf(t, l, b); bob[0].Standing(b) != "won" || bob[0].Held != 0 {
		t.Fatalf("bob after the close: %+v", bob[0])
	}
	if got := activityOf(t, l, a); got[0].Lot.ID != drop || got[2].Standing(a) != "lost" {
		t.Fatalf("alice after the close: %+v", got)
	}
	host := activityOf(t, l, "host")
	if len(host) != 1 || host[0].Lot.ID != camera || host[0].Earned != 1_100 || host[0].Bids != 0 {
		t.Fatalf("the host's proceeds: %+v", host)
	}
	// The limit keeps the newest lots; nobody's activity is empty, not an error.
	if got, err := l.Activity(ctx, a, 1); err != nil || len(got) != 1 || got[0].Lot.ID != drop {
		t.Fatalf("limit 1: %+v %v", got, err)
	}
	if got, err := l.Activity(ctx, "nobody", 10); err != nil || len(got) != 0 {
		t.Fatalf("a user with no activity: %+v %v", got, err)
	}
}

func activityOf(t *testing.T, l *testLedger, user string) []LotActivity {
	t.Helper()
	got, err := l.Activity(context.Background(), user, 50)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// first keeps the error of an operation's (result, events, error).
func first[R any, E any](_ R, _ E, err error) error { return err }
