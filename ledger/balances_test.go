package ledger

import (
	"context"
	"testing"
)

// TestEventsCarryTheWalletsTheyChanged: the events an operation returns
// carry every wallet it changed exactly as committed, so the hub pushes
// wallets without reading them; versions rise with each change.
func TestEventsCarryTheWalletsTheyChanged(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a, b := l.user("alice", 100_000), l.user("bob", 100_000)
	id := l.lot(englishSpec())

	_, evs, err := l.PlaceBid(ctx, l.as(a), id, 1_000, 0)
	mustOK(t, err)
	first := l.wallet(a)
	requireBalances(t, evs, first)
	_, evs, err = l.PlaceBid(ctx, l.as(b), id, 1_050, 0)
	mustOK(t, err)
	// Bob's hold and Alice's release, both on the outbid event.
	requireBalances(t, evs, l.wallet(a), l.wallet(b))
	if w := l.wallet(a); w.Version <= first.Version {
		t.Fatalf("alice's version must rise with her release: %d then %d", first.Version, w.Version)
	}

	drop := l.lot(LotSpec{Kind: KindDrop, Title: "drop", Price: 700, Qty: 3})
	_, evs, err = l.BuyDrop(ctx, l.as(a), drop, 1)
	mustOK(t, err)
	requireBalances(t, evs, l.wallet(a))
}

func requireBalances(t *testing.T, evs []Event, want ...Wallet) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	got := map[string]Wallet{}
	for _, ev := range evs {
		for _, w := range ev.Balances {
			got[w.User] = w
		}
	}
	if len(got) != len(want) {
		t.Fatalf("balances %+v, want %+v", got, want)
	}
	for _, w := range want {
		if got[w.User] != w {
			t.Fatalf("balance of %s: %+v, read %+v", w.User, got[w.User], w)
		}
	}
}
