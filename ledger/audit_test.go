package ledger

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// TestAuditCatchesEachCorruption damages stored state one way at a time, the
// way a buggy transaction could, and requires Audit to name the invariant it
// breaks. An audit that cannot fail proves nothing.
func TestAuditCatchesEachCorruption(t *testing.T) {
	cases := []struct {
		name      string
		sql       string
		invariant string
		subject   string
	}{
		{"held drifts from entries", `UPDATE wallets SET held = held + 1 WHERE user_id = 'alice'`, InvNoDoubleSpend, "wallet alice"},
		{"double spend", `UPDATE wallets SET spent = funded + earned + 1 WHERE user_id = 'bob'`, InvNoDoubleSpend, "wallet bob"},
		{"lost deposit entry", `DELETE FROM entries WHERE user_id = 'carol' AND kind = 'deposit'`, InvNoDoubleSpend, "wallet carol"},
		{"oversell", `UPDATE lots SET qty_claimed = qty_total + 1 WHERE kind = 'drop'`, InvNoOversell, "drop"},
		{"sale without purchase", `UPDATE lots SET qty_claimed = qty_claimed + 1 WHERE kind = 'drop'`, InvNoOversell, "drop"},
		{"bid that does not rise", `INSERT INTO bids (id, lot_id, seq, user_id, amount, proxy, region, at_ms)
			SELECT gen_random_uuid(), id, 99, 'alice', 1, false, 'x', 0 FROM lots WHERE kind = 'english'`, InvHighBid, "english"},
		{"second open hold", `INSERT INTO holds (id, lot_id, user_id, amount, captured, status, created_at_ms, updated_at_ms)
			SELECT gen_random_uuid(), id, 'carol', 0, 0, 'held', 0, 0 FROM lots WHERE kind = 'english'`, InvHighBid, "english"},
		{"lost hold", `UPDATE holds SET status = 'released'`, InvHolds, "hold"},
		{"high bidder swapped", `UPDATE lots SET high_bidder = 'carol' WHERE kind = 'english'`, InvHighBid, "english"},
		{"money from nowhere", `INSERT INTO entries (id, user_id, kind, amount, lot_id, hold_id, request_id, region, at_ms)
			VALUES (gen_random_uuid(), 'carol', 'credit', 500, NULL, NULL, 'forged', 'x', 0)`, InvNoDoubleSpend, "wallet carol"},
		{"credit without a sale", `UPDATE wallets SET earned = earned + 500 WHERE user_id = 'carol';
			INSERT INTO entries (id, user_id, kind, amount, lot_id, hold_id, request_id, region, at_ms)
			VALUES (gen_random_uuid(), 'carol', 'credit', 500, NULL, NULL, 'forged', 'x', 0)`, InvConserved, "ledger"},
		{"proceeds to the wrong user", `UPDATE entries SET user_id = 'carol' WHERE kind = 'credit';
			UPDATE wallets SET earned = 0 WHERE user_id = 'host';
			UPDATE wallets SET earned = 2000 WHERE user_id = 'carol'`, InvConserved, "carol"},
		{"reserve met but unsold", `UPDATE lots SET winner = '' WHERE kind = 'english' AND status = 'settled'`, InvHighBid, "english"},
		{"lost event", `DELETE FROM lot_events WHERE seq = 1`, InvConserved, "lot"},
		{"per-user limit broken", `UPDATE purchases SET qty = 3 WHERE qty = 2;
			UPDATE lots SET qty_claimed = 3, proceeds = 3000 WHERE kind = 'drop';
			UPDATE wallets SET spent = 3000 WHERE user_id = 'bob';
			UPDATE entries SET amount = 3000 WHERE kind = 'spend'`, InvNoOversell, "drop"},
		{"wallet past the money bound", `UPDATE wallets SET funded = funded + 9007199254740991 WHERE user_id = 'carol';
			INSERT INTO entries (id, user_id, kind, amount, lot_id, hold_id, request_id, region, at_ms)
			VALUES (gen_random_uuid(), 'carol', 'deposit', 9007199254740991, NULL, NULL, 'forged', 'x', 0)`, InvBounded, "wallet carol"},
		{"proceeds skimmed", `UPDATE lots SET proceeds = proceeds - 1 WHERE kind = 'drop'`, InvConserved, "drop"},
	}
	for _, chunk := range []int{defaultAuditChunk, 1} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/chunk=%d", c.name, chunk), func(t *testing.T) {
				auditCorruption(t, chunk, c.sql, c.invariant, c.subject)
			})
		}
	}
}

// auditCorruption builds a small sound ledger, audits it clean, applies
// sql, and requires the audit — reading chunk wallets and lots per
// transaction — to report invariant on subject. With one-key chunks the
// ledger-wide total is not checked (it needs one snapshot): what it would
// catch must be caught per wallet or per lot.
func auditCorruption(t *testing.T, chunk int, sql, invariant, subject string) {
	if chunk < defaultAuditChunk && subject == "ledger" {
		subject = "carol" // the stray credit, named by its owner
	}
	l := newLedger(t)
	l.auditChunk = chunk
	ctx := context.Background()
	a, b := l.user("alice", 100_000), l.user("bob", 100_000)
	l.user("carol", 100_000)
	eng := l.lot(englishSpec())
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "x", Price: 1_000, Qty: 5, PerUserLimit: 2})
	sold := l.lot(LotSpec{Kind: KindDrop, Title: "y", Price: 1_000, Qty: 2})
	_, _, err := l.PlaceBid(ctx, l.as(a), eng, 2_000, 3_000)
	mustOK(t, err)
	_, _, err = l.BuyDrop(ctx, l.as(b), drop, 2)
	mustOK(t, err)
	_, _, err = l.BuyDrop(ctx, l.as("carol"), sold, 2) // sells out: the host is credited
	mustOK(t, err)
	won := l.lot(englishSpec())
	_, _, err = l.PlaceBid(ctx, l.as(l.user("dave", 100_000)), won, 1_500, 0)
	mustOK(t, err)
	_, _, err = l.CloseLot(ctx, l.as("host"), won)
	mustOK(t, err)
	vs, err := l.Audit(ctx)
	mustOK(t, err)
	if len(vs) != 0 {
		t.Fatalf("sound ledger reported %v", vs)
	}

	l.corrupted = true
	for _, stmt := range strings.Split(sql, ";") {
		if _, err := l.Pool().Exec(ctx, stmt); err != nil {
			t.Fatalf("corrupt: %v", err)
		}
	}
	vs, err = l.Audit(ctx)
	mustOK(t, err)
	for _, v := range vs {
		if v.Invariant == invariant && strings.Contains(v.Subject, subject) {
			t.Logf("caught: %s", v)
			return
		}
	}
	t.Fatalf("audit missed it: want %s on %s, got %v", invariant, subject, vs)
}

// TestAuditInChunksWhileLive: an audit read in many small chunks (a
// transaction each) while purchases and bids commit between them reports
// nothing: every check it makes is within one snapshot.
func TestAuditInChunksWhileLive(t *testing.T) {
	l := newLedger(t)
	l.auditChunk = 3
	ctx := context.Background()
	const buyers, lots = 30, 6
	for i := 0; i < buyers; i++ {
		l.user(userName("live", i), 1_000_000)
	}
	ids := make([]uuid.UUID, lots)
	for i := range ids {
		if i%2 == 0 {
			ids[i] = l.lot(LotSpec{Kind: KindDrop, Title: "live", Price: 100, Qty: 1_000})
		} else {
			ids[i] = l.lot(englishSpec())
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < buyers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[(i+n)%lots]
				if (i+n)%lots%2 == 0 {
					_, _, _ = l.BuyDrop(ctx, l.as(userName("live", i)), id, 1)
				} else {
					lot, err := l.Lot(ctx, id)
					if err == nil {
						_, _, _ = l.PlaceBid(ctx, l.as(userName("live", i)), id, lot.MinNextBid(), 0)
					}
				}
			}
		}()
	}
	for round := 0; round < 5; round++ {
		vs, err := l.Audit(ctx)
		mustOK(t, err)
		if len(vs) != 0 {
			close(stop)
			wg.Wait()
			t.Fatalf("a live ledger audited in chunks reported %v", vs)
		}
	}
	close(stop)
	wg.Wait()
}
