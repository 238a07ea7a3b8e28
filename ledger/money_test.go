package ledger

import (
	"context"
	"fmt"
	"testing"
)

// The money bound (money.go): no wallet takes in more than MaxAmount, and
// every operation that would make it is refused with limit_exceeded,
// changing nothing. newLedger's cleanup audits every test.

// requireUnchanged fails unless user's wallet is still w.
func (l *testLedger) requireUnchanged(user string, w Wallet) {
	l.t.Helper()
	if got := l.wallet(user); got != w {
		l.t.Fatalf("wallet %s changed by a refused operation: %+v -> %+v", user, w, got)
	}
}

func requireBounded(t *testing.T, w Wallet) {
	t.Helper()
	if w.Funded > MaxAmount || w.Earned > MaxAmount || w.Funded > MaxAmount-w.Earned {
		t.Fatalf("wallet %s past the bound: %+v", w.User, w)
	}
}

func TestDepositPastTheBound(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	u := l.user("rich", MaxAmount-10)
	w := l.wallet(u)
	_, err := l.Deposit(ctx, l.as(u), 11)
	wantCode(t, err, CodeLimitExceeded)
	l.requireUnchanged(u, w)
	_, err = l.Deposit(ctx, l.as(u), 10)
	mustOK(t, err)
	requireBounded(t, l.wallet(u))
}

// A deposit may not take the room a host's unsettled proceeds need: their
// settlement would otherwise be unable to credit them.
func TestDepositKeepsRoomForPendingProceeds(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	host := l.user("seller", MaxAmount/2)
	buyer := l.user("buyer", MaxAmount/2)
	res, _, err := l.CreateLot(ctx, l.as(host), LotSpec{Kind: KindDrop, Title: "half", Price: MaxAmount / 2, Qty: 2})
	mustOK(t, err)
	_, _, err = l.BuyDrop(ctx, l.as(buyer), res.Lot, 1) // proceeds MaxAmount/2 pending
	mustOK(t, err)
	w := l.wallet(host)
	_, err = l.Deposit(ctx, l.as(host), 2)
	wantCode(t, err, CodeLimitExceeded)
	l.requireUnchanged(host, w)
	_, _, err = l.CloseLot(ctx, l.as(host), res.Lot)
	mustOK(t, err)
	requireBounded(t, l.wallet(host))
}

// A sale whose proceeds the host could not be credited is refused, even
// when it would settle the lot in the same transaction.
func TestPurchasePastTheHostsBound(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	host := l.user("seller", MaxAmount)
	buyer := l.user("buyer", 1_000)
	res, _, err := l.CreateLot(ctx, l.as(host), LotSpec{Kind: KindDrop, Title: "one", Price: 100, Qty: 1})
	mustOK(t, err)
	wh, wb := l.wallet(host), l.wallet(buyer)
	_, _, err = l.BuyDrop(ctx, l.as(buyer), res.Lot, 1)
	wantCode(t, err, CodeLimitExceeded)
	l.requireUnchanged(host, wh)
	l.requireUnchanged(buyer, wb)
	if lot := l.getLot(res.Lot); lot.QtyClaimed != 0 || lot.Proceeds != 0 || lot.Status != StatusOpen {
		t.Fatalf("refused sale changed the lot: %+v", lot)
	}

	// Dutch claims are bounded the same way.
	d, _, err := l.CreateLot(ctx, l.as(host), LotSpec{Kind: KindDutch, Title: "d", StartPrice: 500, FloorPrice: 100, Step: 100, IntervalMS: 60_000, Qty: 3})
	mustOK(t, err)
	_, _, err = l.ClaimDutch(ctx, l.as(buyer), d.Lot, 1, 0)
	wantCode(t, err, CodeLimitExceeded)
	l.requireUnchanged(buyer, wb)
}

// A lot's proceeds and a purchase's qty × price stay within the bound.
func TestProceedsAndTotalBounds(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	host := l.user("seller", 1)
	a, b := l.user("a", MaxAmount), l.user("b", MaxAmount)
	half := MaxAmount/2 + 1
	lot, _, err := l.CreateLot(ctx, l.as(host), LotSpec{Kind: KindDrop, Title: "big", Price: half, Qty: 3})
	mustOK(t, err)
	// qty × price past the bound.
	_, _, err = l.BuyDrop(ctx, l.as(a), lot.Lot, 3)
	wantCode(t, err, CodeLimitExceeded)
	_, _, err = l.BuyDrop(ctx, l.as(a), lot.Lot, 2)
	wantCode(t, err, CodeLimitExceeded)
	_, _, err = l.BuyDrop(ctx, l.as(a), lot.Lot, 1)
	mustOK(t, err)
	// The lot's proceeds past the bound.
	wb := l.wallet(b)
	_, _, err = l.BuyDrop(ctx, l.as(b), lot.Lot, 1)
	wantCode(t, err, CodeLimitExceeded)
	l.requireUnchanged(b, wb)
	_, _, err = l.CloseLot(ctx, l.as(host), lot.Lot)
	mustOK(t, err)
	requireBounded(t, l.wallet(host))
}

// A bid whose win could not be credited to the host is refused: the lot
// then settles without it, and no bidder's money is held forever.
func TestBidPastTheHostsBound(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	host := l.user("seller", MaxAmount-5_000)
	bidder := l.user("bidder", 1_000_000)
	res, _, err := l.CreateLot(ctx, l.as(host), englishSpec())
	mustOK(t, err)
	_, _, err = l.PlaceBid(ctx, l.as(bidder), res.Lot, 2_000, 0)
	mustOK(t, err)
	wb := l.wallet(bidder)
	// A proxy maximum past the host's room is refused, and so is raising it.
	_, _, err = l.PlaceBid(ctx, l.as(bidder), res.Lot, 2_000, 6_000)
	wantCode(t, err, CodeLimitExceeded)
	l.requireUnchanged(bidder, wb)
	other := l.user("other", 1_000_000)
	_, _, err = l.PlaceBid(ctx, l.as(other), res.Lot, 5_001, 0)
	wantCode(t, err, CodeLimitExceeded)
	_, _, err = l.PlaceBid(ctx, l.as(other), res.Lot, 5_000, 0)
	mustOK(t, err)
	l.clock.Advance(601 * 1e9)
	_, err = l.SettleDue(ctx, res.Lot, "system")
	mustOK(t, err)
	if lot := l.getLot(res.Lot); lot.Status != StatusSettled || lot.Winner != other {
		t.Fatalf("lot not settled to %s: %+v", other, lot)
	}
	requireBounded(t, l.wallet(host))
}

// If the host's wallet has no room at settlement after all (operations that
// raced past the reservation; here forged by a direct deposit), settlement
// is refused with limit_exceeded and changes nothing: the proceeds stay
// pending on the lot, money is conserved, the audit is clean.
func TestSettlementCreditPastTheBound(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	host := l.user("seller", 1_000)
	buyer := l.user("buyer", 1_000_000)
	eng, _, err := l.CreateLot(ctx, l.as(host), englishSpec())
	mustOK(t, err)
	drop, _, err := l.CreateLot(ctx, l.as(host), LotSpec{Kind: KindDrop, Title: "d", Price: 100, Qty: 5})
	mustOK(t, err)
	_, _, err = l.PlaceBid(ctx, l.as(buyer), eng.Lot, 2_000, 0)
	mustOK(t, err)
	_, _, err = l.BuyDrop(ctx, l.as(buyer), drop.Lot, 1)
	mustOK(t, err)
	// Fill the host's wallet to the bound, consistently with its entries.
	fill := MaxAmount - 1_000
	for _, sql := range []string{
		fmt.Sprintf(`UPDATE wallets SET funded = funded + %d WHERE user_id = 'seller'`, fill),
		fmt.Sprintf(`INSERT INTO entries (id, user_id, kind, amount, lot_id, hold_id, request_id, region, at_ms)
VALUES (gen_random_uuid(), 'seller', 'deposit', %d, NULL, NULL, 'forged', 'x', 0)`, fill),
	} {
		_, err := l.Pool().Exec(ctx, sql)
		mustOK(t, err)
	}
	wh, wb := l.wallet(host), l.wallet(buyer)
	_, _, err = l.CloseLot(ctx, l.as(host), drop.Lot)
	wantCode(t, err, CodeLimitExceeded)
	l.clock.Advance(601 * 1e9)
	_, err = l.SettleDue(ctx, eng.Lot, "system")
	wantCode(t, err, CodeLimitExceeded)
	l.requireUnchanged(host, wh)
	l.requireUnchanged(buyer, wb)
	if lot := l.getLot(eng.Lot); lot.Status != StatusOpen {
		t.Fatalf("refused settlement changed the lot: %+v", lot)
	}
}

// The ping-pong: two hosts with large wallets sell max-priced lots
// to each other. Each sale moves money in a circle, but the inflow of each
// wallet grows; it ends in limit_exceeded, with every wallet bounded and
// the audit clean, instead of growing until a bigint overflows.
func TestOverflowPingPong(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	price := MaxAmount / 4
	users := [2]string{l.user("ping", price), l.user("pong", price)}
	for cycle := 0; cycle < 40; cycle++ {
		host, buyer := users[cycle%2], users[1-cycle%2]
		res, _, err := l.CreateLot(ctx, l.as(host), LotSpec{Kind: KindDrop, Title: "max", Price: price, Qty: 1})
		mustOK(t, err)
		wh, wb := l.wallet(host), l.wallet(buyer)
		_, _, err = l.BuyDrop(ctx, l.as(buyer), res.Lot, 1)
		if CodeOf(err) == CodeLimitExceeded {
			l.requireUnchanged(host, wh)
			l.requireUnchanged(buyer, wb)
			t.Logf("refused after %d sales: %v", cycle, err)
			for _, u := range users {
				requireBounded(t, l.wallet(u))
			}
			_, _, err = l.CloseLot(ctx, l.as(host), res.Lot)
			mustOK(t, err)
			return
		}
		mustOK(t, err)
		requireBounded(t, l.wallet(host))
	}
	t.Fatalf("40 max-priced sales back and forth and no limit_exceeded: %+v %+v", l.wallet(users[0]), l.wallet(users[1]))
}

// The audit's ledger-wide totals pass int64 with enough wallets near the
// bound, each of them sound: the audit must still answer, and clean.
func TestAuditSumsPastInt64(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	const n = 1_100 // 1,100 × (2^53−1) > 2^63−1
	stmts := []string{
		// Buyer i deposited MaxAmount and spent it all on lot i; host i was
		// credited it when lot i settled.
		`INSERT INTO wallets (user_id, funded, held, spent, earned, created_at_ms, updated_at_ms)
SELECT 'b' || i, $1, 0, $1, 0, 0, 0 FROM generate_series(1, $2) i`,
		`INSERT INTO wallets (user_id, funded, held, spent, earned, created_at_ms, updated_at_ms)
SELECT 'h' || i, 0, 0, 0, $1, 0, 0 FROM generate_series(1, $2) i`,
		`INSERT INTO lots (id, kind, title, host, status, seq, version, region, created_at_ms, opened_at_ms, closed_at_ms,
	start_price, reserve, high_bid, high_bidder, high_max, high_region, bid_count, duration_s, extension_s, hard_end_s,
	ends_at_ms, hard_end_at_ms, price, step, floor_price, interval_ms, step_index, next_tick_at_ms, floor_action,
	qty_total, qty_claimed, per_user_limit, proceeds, winner)
SELECT md5('lot' || i)::uuid, 'drop', 'x', 'h' || i, 'settled', 0, 1, 'x', 0, 0, 0,
	0, 0, 0, '', 0, '', 0, 0, 0, 0, 0, 0, $1, 0, 0, 0, 0, 0, '', 1, 1, 0, $1, '' FROM generate_series(1, $2) i`,
		`INSERT INTO purchases (id, lot_id, user_id, qty, unit_price, total, seq, region, at_ms)
SELECT gen_random_uuid(), md5('lot' || i)::uuid, 'b' || i, 1, $1, $1, 0, 'x', 0 FROM generate_series(1, $2) i`,
		`INSERT INTO entries (id, user_id, kind, amount, lot_id, hold_id, request_id, region, at_ms)
SELECT gen_random_uuid(), 'b' || i, 'deposit', $1, NULL, NULL, 'seed', 'x', 0 FROM generate_series(1, $2) i`,
		`INSERT INTO entries (id, user_id, kind, amount, lot_id, hold_id, request_id, region, at_ms)
SELECT gen_random_uuid(), 'b' || i, 'spend', $1, md5('lot' || i)::uuid, NULL, 'seed', 'x', 0 FROM generate_series(1, $2) i`,
		`INSERT INTO entries (id, user_id, kind, amount, lot_id, hold_id, request_id, region, at_ms)
SELECT gen_random_uuid(), 'h' || i, 'credit', $1, md5('lot' || i)::uuid, NULL, 'seed', 'x', 0 FROM generate_series(1, $2) i`,
	}
	for _, s := range stmts {
		_, err := l.Pool().Exec(ctx, s, MaxAmount, n)
		mustOK(t, err)
	}
	vs, err := l.Audit(ctx)
	if err != nil {
		t.Fatalf("audit of sums past int64: %v", err)
	}
	if len(vs) != 0 {
		t.Fatalf("sound ledger reported %v", vs)
	}
	// And a real imbalance of that size is still found, not an error.
	_, err = l.Pool().Exec(ctx, `UPDATE lots SET status = 'open' WHERE host = 'h1'`)
	mustOK(t, err)
	l.corrupted = true
	vs, err = l.Audit(ctx)
	mustOK(t, err)
	for _, v := range vs {
		if v.Invariant == InvConserved {
			return
		}
	}
	t.Fatalf("audit missed an unsettled lot's credit: %v", vs)
}
