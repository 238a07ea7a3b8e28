package ledger

import (
	"context"
	"fmt"
	"testing"
)

func userName(prefix string, i int) string { return fmt.Sprintf("%s%d", prefix, i) }

func TestDropPerUserLimitAndSellOut(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a, b := l.user("alice", 100_000), l.user("bob", 100_000)
	id := l.lot(LotSpec{Kind: KindDrop, Title: "sneakers", Price: 10_000, Qty: 4, PerUserLimit: 2})

	_, _, err := l.BuyDrop(ctx, l.as(a), id, 3)
	wantCode(t, err, CodeLimitExceeded)
	res, _, err := l.BuyDrop(ctx, l.as(a), id, 2)
	mustOK(t, err)
	if res.Price != 10_000 || res.Qty != 2 || l.wallet(a).Spent != 20_000 {
		t.Fatalf("buy: %+v %+v", res, l.wallet(a))
	}
	_, _, err = l.BuyDrop(ctx, l.as(a), id, 1)
	wantCode(t, err, CodeLimitExceeded)
	_, _, err = l.BuyDrop(ctx, l.as(b), id, 1)
	mustOK(t, err)
	_, evs, err := l.BuyDrop(ctx, l.as(b), id, 1)
	mustOK(t, err)
	if len(evs) != 4 || evs[1].Kind != EventSoldOut {
		t.Fatalf("sell-out events: %+v", evs)
	}
	_, _, err = l.BuyDrop(ctx, l.as(b), id, 1)
	wantCode(t, err, CodeSoldOut)
	if l.wallet("host").Earned != 40_000 {
		t.Fatal("host proceeds")
	}
	lot := l.getLot(id)
	if lot.QtyClaimed != 4 || lot.Status != StatusSettled {
		t.Fatalf("drop: %+v", lot)
	}
}

func TestDropRemainingAndFunds(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	a := l.user("alice", 15_000)
	id := l.lot(LotSpec{Kind: KindDrop, Title: "vinyl", Price: 10_000, Qty: 3})
	_, _, err := l.BuyDrop(ctx, l.as(a), id, 2)
	wantCode(t, err, CodeInsufficientFunds)
	_, _, err = l.BuyDrop(ctx, l.as(a), id, 4)
	wantCode(t, err, CodeSoldOut)
	_, _, err = l.BuyDrop(ctx, l.as(a), id, MaxQty+1)
	wantCode(t, err, CodeBadRequest)
	mustOK(t, func() error { _, _, err := l.BuyDrop(ctx, l.as(a), id, 1); return err }())
	if w := l.wallet(a); w.Available() != 5_000 {
		t.Fatalf("wallet: %+v", w)
	}
	if l.wallet("host").Earned != 0 || l.getLot(id).Proceeds != 10_000 {
		t.Fatal("proceeds are pending on the lot until settlement")
	}
	_, _, err = l.CloseLot(ctx, l.as("host"), id)
	mustOK(t, err)
	if l.wallet("host").Earned != 10_000 {
		t.Fatal("host credited at close")
	}
}
