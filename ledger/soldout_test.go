package ledger

import (
	"context"
	"testing"
)

// TestSoldOutFromMemory: once a node has seen a lot sold out, a purchase
// request that cannot have another outcome is refused from memory — no
// connection taken, nothing written — while every request with a stored
// outcome still gets that outcome.
func TestSoldOutFromMemory(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	l.user("winner", 1_000)
	l.user("poor", 10)
	l.user("late", 1_000)
	id := l.lot(LotSpec{Kind: KindDrop, Title: "lamp", Price: 100, Qty: 1})

	refused := l.as("poor")
	_, _, err := l.BuyDrop(ctx, refused, id, 1)
	wantCode(t, err, CodeInsufficientFunds)
	won := l.as("winner")
	first, _, err := l.BuyDrop(ctx, won, id, 1)
	mustOK(t, err)

	before := l.Pool().Stat().AcquireCount()
	for i := 0; i < 50; i++ {
		_, _, err := l.BuyDrop(ctx, l.as("late"), id, 1)
		wantCode(t, err, CodeSoldOut)
	}
	if n := l.Pool().Stat().AcquireCount() - before; n != 0 {
		t.Fatalf("50 refusals after the sell-out took %d connections, want none", n)
	}
	var stored int
	mustOK(t, l.Pool().QueryRow(ctx, `SELECT count(*) FROM requests WHERE lot_id = $1`, id).Scan(&stored))
	if stored != 2 {
		t.Fatalf("%d requests stored on the lot, want 2 (the refusal for funds and the sale)", stored)
	}
	// Asked again, the sale and the refusal for funds get their first outcomes.
	again, _, err := l.BuyDrop(ctx, won, id, 1)
	mustOK(t, err)
	if again != first {
		t.Fatalf("the sale replayed as %+v, want %+v", again, first)
	}
	_, _, err = l.BuyDrop(ctx, refused, id, 1)
	wantCode(t, err, CodeInsufficientFunds)
	// The winner asking anew is sold out like anyone.
	_, _, err = l.BuyDrop(ctx, l.as("winner"), id, 1)
	wantCode(t, err, CodeSoldOut)
	// A second node learns it from its first batch on the lot.
	peer := l.peer()
	_, _, err = peer.BuyDrop(ctx, Actor{User: "late", Region: "eu-west-1", RequestID: "peer-late"}, id, 1)
	wantCode(t, err, CodeSoldOut)
	res, _, err := peer.BuyDrop(ctx, won, id, 1)
	mustOK(t, err)
	if res != first {
		t.Fatalf("the sale replayed on the second node as %+v, want %+v", res, first)
	}
}
