package ledger

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// earnedHost gives the host earnings: a buyer buys out a drop of price.
func earnedHost(t *testing.T, l *testLedger, price int64) {
	t.Helper()
	l.user("buyer", 1_000_000)
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "lamp", Price: price, Qty: 1})
	_, _, err := l.BuyDrop(context.Background(), l.as("buyer"), drop, 1)
	mustOK(t, err)
	if l.wallet("host").Earned != price {
		t.Fatalf("host: %+v", l.wallet("host"))
	}
}

// TestPayoutHoldPaidFailed: a payout holds the amount at once; paid, it
// leaves the ledger; failed, it returns; each settles once; a request id
// pays out once; bounds and refusals change nothing.
func TestPayoutHoldPaidFailed(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	earnedHost(t, l, 10_000)
	ops := Actor{User: "ops", Region: "us-east-1"}

	a := l.as("host")
	res, err := l.RequestPayout(ctx, a, 6_000)
	mustOK(t, err)
	w := l.wallet("host")
	if res.Payout.Status != PayoutPending || res.Payout.Amount != 6_000 || w.Held != 6_000 || w.Paying != 6_000 || w.Available() != 4_001 || res.Wallet != w {
		t.Fatalf("requested: %+v, wallet %+v", res, w)
	}
	again, err := l.RequestPayout(ctx, a, 6_000)
	mustOK(t, err)
	if again.Payout.ID != res.Payout.ID || l.wallet("host").Paying != 6_000 {
		t.Fatalf("the same request id paid out again: %+v", again)
	}
	_, err = l.RequestPayout(ctx, a, 5_000)
	wantCode(t, err, CodeBadRequest)
	// Only earnings pay out: 4,000 earned is left (the host's 1 funded is not).
	_, err = l.RequestPayout(ctx, l.as("host"), 4_001)
	wantCode(t, err, CodeInsufficientFunds)
	_, err = l.RequestPayout(ctx, l.as("buyer"), 1)
	wantCode(t, err, CodeInsufficientFunds)
	_, err = l.RequestPayout(ctx, l.as("host"), 0)
	wantCode(t, err, CodeBadRequest)
	l.requireSound()

	paid, err := l.SettlePayout(ctx, ops, res.Payout.ID, Settlement{Paid: true, Transfer: "tr_1"})
	mustOK(t, err)
	w = l.wallet("host")
	if paid.Payout.Status != PayoutPaid || w.Earned != 4_000 || w.Held != 0 || w.Paying != 0 || w.Available() != 4_001 {
		t.Fatalf("paid: %+v, wallet %+v", paid, w)
	}
	// Settled once: paid again answers the payout; failed is refused.
	if _, err := l.SettlePayout(ctx, ops, res.Payout.ID, Settlement{Paid: true}); err != nil {
		t.Fatal(err)
	}
	_, err = l.SettlePayout(ctx, ops, res.Payout.ID, Settlement{Reason: "bank bounced"})
	wantCode(t, err, CodeForbidden)
	if w2 := l.wallet("host"); w2 != w {
		t.Fatalf("a repeated settlement changed the wallet: %+v → %+v", w, w2)
	}

	second, err := l.RequestPayout(ctx, l.as("host"), 4_000)
	mustOK(t, err)
	failed, err := l.SettlePayout(ctx, ops, second.Payout.ID, Settlement{Reason: "account closed"})
	mustOK(t, err)
	w = l.wallet("host")
	if failed.Payout.Status != PayoutFailed || failed.Payout.Reason != "account closed" || w.Held != 0 || w.Earned != 4_000 {
		t.Fatalf("failed: %+v, wallet %+v", failed, w)
	}
	list, err := l.Payouts(ctx, "host", "", 10)
	mustOK(t, err)
	if len(list) != 2 || list[0].ID != second.Payout.ID || list[1].Status != PayoutPaid || list[1].Transfer != "tr_1" {
		t.Fatalf("payouts: %+v", list)
	}
	_, err = l.SettlePayout(ctx, ops, l.getLot(l.lot(englishSpec())).ID, Settlement{Paid: true})
	wantCode(t, err, CodeNotFound)
}

// TestPayoutRace: concurrent payout requests, on two nodes, never pay out
// more than was earned, and concurrent settlements settle each once.
func TestPayoutRace(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	earnedHost(t, l, 10_000)
	nodes := l.nodes()
	const n = 12
	var wg sync.WaitGroup
	results := make([]PayoutResult, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a := Actor{User: "host", Region: "us-east-1", RequestID: fmt.Sprintf("race-%d", i)}
			results[i], errs[i] = nodes[i%2].RequestPayout(ctx, a, 3_000)
		}(i)
	}
	wg.Wait()
	var ok int
	for i, err := range errs {
		switch CodeOf(err) {
		case "":
			ok++
		case CodeInsufficientFunds:
		default:
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if w := l.wallet("host"); ok != 3 || w.Paying != 9_000 || w.Held != 9_000 {
		t.Fatalf("%d payouts of 3,000 from 10,000 earned; wallet %+v", ok, w)
	}
	// Each pending payout settled by two racing operators, one paying and
	// one failing it: exactly one wins.
	var settled sync.WaitGroup
	for i := range results {
		if errs[i] != nil {
			continue
		}
		for j, paid := range []bool{true, false} {
			settled.Add(1)
			go func(id int, node int, paid bool) {
				defer settled.Done()
				_, err := nodes[node].SettlePayout(ctx, Actor{User: "ops", Region: "us-east-1"}, results[id].Payout.ID, Settlement{Paid: paid})
				if c := CodeOf(err); c != "" && c != CodeForbidden {
					t.Errorf("settle: %v", err)
				}
			}(i, j, paid)
		}
	}
	settled.Wait()
	w := l.wallet("host")
	list, err := l.Payouts(ctx, "host", "", 100)
	mustOK(t, err)
	var paidOut int64
	for _, p := range list {
		if p.Status == PayoutPending {
			t.Fatalf("payout still pending: %+v", p)
		}
		if p.Status == PayoutPaid {
			paidOut += p.Amount
		}
	}
	if w.Held != 0 || w.Paying != 0 || w.Earned != 10_000-paidOut {
		t.Fatalf("after settling: %+v, paid out %d", w, paidOut)
	}
}

// TestPayoutFrozen: a frozen wallet pays nothing out.
func TestPayoutFrozen(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	earnedHost(t, l, 10_000)
	_, err := l.TopUp(ctx, "host", 5_000, "pi_f", "us-east-1")
	mustOK(t, err)
	_, err = l.RequestPayout(ctx, l.as("host"), 10_000)
	mustOK(t, err)
	// Everything but the 5,001 funded is being paid out; a 5,000 refund is
	// taken, a dispute of what the host never had left owes.
	_, err = l.Debit(ctx, Claim{Payment: "pi_f", ID: "ch_f", Kind: EntryRefund, Amount: 5_000, Event: "evt_f1"}, "us-east-1")
	mustOK(t, err)
	if w := l.wallet("host"); w.Owed != 0 || w.Funded != 1 {
		t.Fatalf("after the refund: %+v", w)
	}
	l.user("owes", 0)
	_, err = l.TopUp(ctx, "owes", 100, "pi_o", "us-east-1")
	mustOK(t, err)
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "pin", Price: 100, Qty: 2})
	_, _, err = l.BuyDrop(ctx, l.as("owes"), drop, 1)
	mustOK(t, err)
	_, err = l.Debit(ctx, Claim{Payment: "pi_o", ID: "dp_o", Kind: EntryDispute, Amount: 100, Event: "evt_f2"}, "us-east-1")
	mustOK(t, err)
	_, err = l.RequestPayout(ctx, l.as("owes"), 1)
	wantCode(t, err, CodeWalletFrozen)
}

// TestAuditCatchesMoneyOutCorruption: the audit names a payout settled
// without its entries, a debt forgiven without a credit, a claim lost and
// a pending payout dropped from the wallet — in one chunk and per key.
func TestAuditCatchesMoneyOutCorruption(t *testing.T) {
	cases := []struct{ name, sql, invariant, subject string }{
		{"payout marked paid without its entry", `UPDATE payouts SET status = 'paid' WHERE status = 'pending'`, InvPayouts, "payout"},
		{"debt forgiven", `UPDATE wallets SET owed = 0 WHERE user_id = 'erin'`, InvOwed, "wallet erin"},
		{"claim lost", `DELETE FROM claims`, InvOwed, "wallet erin"},
		{"pending payout dropped", `UPDATE wallets SET paying = 0 WHERE user_id = 'host'`, InvPayouts, "wallet host"},
		{"payout paid twice", `INSERT INTO entries (id, user_id, kind, amount, lot_id, hold_id, request_id, region, at_ms)
			SELECT gen_random_uuid(), user_id, 'payout', amount, NULL, id, 'forged', 'x', 0 FROM payouts WHERE status = 'paid'`, InvPayouts, "payout"},
	}
	for _, chunk := range []int{defaultAuditChunk, 1} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/chunk=%d", c.name, chunk), func(t *testing.T) {
				l := newLedger(t)
				l.auditChunk = chunk
				ctx := context.Background()
				earnedHost(t, l, 10_000)
				ops := Actor{User: "ops", Region: "us-east-1"}
				p, err := l.RequestPayout(ctx, l.as("host"), 3_000)
				mustOK(t, err)
				_, err = l.SettlePayout(ctx, ops, p.Payout.ID, Settlement{Paid: true})
				mustOK(t, err)
				_, err = l.RequestPayout(ctx, l.as("host"), 2_000)
				mustOK(t, err)
				_, err = l.TopUp(ctx, "erin", 1_000, "pi_e", "us-east-1")
				mustOK(t, err)
				_, err = l.RequestPayout(ctx, l.as("erin"), 1) // nothing earned
				wantCode(t, err, CodeInsufficientFunds)
				drop := l.lot(LotSpec{Kind: KindDrop, Title: "z", Price: 600, Qty: 3})
				_, _, err = l.BuyDrop(ctx, l.as("erin"), drop, 1)
				mustOK(t, err)
				_, err = l.Debit(ctx, Claim{Payment: "pi_e", ID: "ch_e", Kind: EntryRefund, Amount: 1_000, Event: "evt_e"}, "us-east-1")
				mustOK(t, err)
				vs, err := l.Audit(ctx)
				mustOK(t, err)
				if len(vs) != 0 || l.wallet("erin").Owed != 600 {
					t.Fatalf("sound ledger reported %v (erin %+v)", vs, l.wallet("erin"))
				}
				l.corrupted = true
				for _, stmt := range strings.Split(c.sql, ";") {
					if _, err := l.Pool().Exec(ctx, stmt); err != nil {
						t.Fatalf("corrupt: %v", err)
					}
				}
				vs, err = l.Audit(ctx)
				mustOK(t, err)
				for _, v := range vs {
					if v.Invariant == c.invariant && strings.Contains(v.Subject, c.subject) {
						return
					}
				}
				t.Fatalf("audit missed it: want %s on %s, got %v", c.invariant, c.subject, vs)
			})
		}
	}
}

// TestPayoutThroughProvider: a payout handed to the provider keeps its
// first destination, cannot be settled by hand, and settles once through
// the provider.
func TestPayoutThroughProvider(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	earnedHost(t, l, 5_000)
	ops := Actor{User: "ops", Region: "us-east-1"}
	req, err := l.RequestPayout(ctx, l.as("host"), 5_000)
	mustOK(t, err)
	id := req.Payout.ID
	_, err = l.SettlePayout(ctx, ops, id, Settlement{Paid: true, ByProvider: true})
	wantCode(t, err, CodeForbidden) // not handed over yet
	p, dest, retry, err := l.StartTransfer(ctx, ops, id, "acct_1")
	mustOK(t, err)
	if dest != "acct_1" || retry || p.Status != PayoutPending || p.Transfer != "" {
		t.Fatalf("handed over: %+v to %q", p, dest)
	}
	_, dest, retry, err = l.StartTransfer(ctx, ops, id, "acct_2")
	mustOK(t, err)
	if dest != "acct_1" || !retry {
		t.Fatalf("a retry changed the destination to %q", dest)
	}
	_, err = l.SettlePayout(ctx, ops, id, Settlement{Reason: "by hand"})
	wantCode(t, err, CodeForbidden)
	res, err := l.SettlePayout(ctx, ops, id, Settlement{Paid: true, Transfer: "tr_9", ByProvider: true})
	mustOK(t, err)
	if res.Payout.Status != PayoutPaid || res.Payout.Transfer != "tr_9" || res.Wallet.Earned != 0 || res.Wallet.Held != 0 {
		t.Fatalf("paid through the provider: %+v", res)
	}
	p, dest, _, err = l.StartTransfer(ctx, ops, id, "acct_1")
	mustOK(t, err)
	if dest != "" || p.Status != PayoutPaid {
		t.Fatalf("a settled payout handed over again: %+v %q", p, dest)
	}
}

// frozenHost is the reviewer's scenario: the host earned 10,000, topped
// up 500 (pi_h), asked to pay out 10,000 and spent the 500. It returns
// the payout.
func frozenHost(t *testing.T, l *testLedger) Payout {
	t.Helper()
	ctx := context.Background()
	earnedHost(t, l, 10_000)
	_, err := l.TopUp(ctx, "host", 500, "pi_h", "us-east-1")
	mustOK(t, err)
	req, err := l.RequestPayout(ctx, l.as("host"), 10_000)
	mustOK(t, err)
	l.user("other", 0)
	drop, _, err := l.CreateLot(ctx, l.as("other"), LotSpec{Kind: KindDrop, Title: "mug", Price: 501, Qty: 1})
	mustOK(t, err)
	_, _, err = l.BuyDrop(ctx, l.as("host"), drop.Lot, 1)
	mustOK(t, err)
	if w := l.wallet("host"); w.Available() != 0 {
		t.Fatalf("the host should have nothing available: %+v", w)
	}
	return req.Payout
}

// TestDisputeReleasesPendingPayout: a dispute on a wallet whose money is
// held for a payout not yet handed to the provider releases the payout
// and takes the debt from it: nothing stays owed, the payout is failed and
// cannot be paid after all.
func TestDisputeReleasesPendingPayout(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	p := frozenHost(t, l)
	res, err := l.Debit(ctx, Claim{Payment: "pi_h", ID: "dp_h", Kind: EntryDispute, Amount: 500, Event: "evt_h"}, "us-east-1")
	mustOK(t, err)
	w := l.wallet("host")
	if res.Taken != 500 || w.Owed != 0 || w.Paying != 0 || w.Held != 0 || len(res.Released) != 1 || res.Released[0] != p.ID {
		t.Fatalf("the dispute: %+v, wallet %+v", res, w)
	}
	got, err := l.PayoutByID(ctx, p.ID)
	mustOK(t, err)
	if got.Status != PayoutFailed || got.SettledBy != debtReleaser || !strings.Contains(got.Reason, "owes 500") {
		t.Fatalf("the payout: %+v", got)
	}
	_, err = l.SettlePayout(ctx, Actor{User: "ops", Region: "us-east-1"}, p.ID, Settlement{Paid: true})
	wantCode(t, err, CodeForbidden)
	if w.Earned+w.Funded-w.Spent != 10_000+500+1-501-500 {
		t.Fatalf("the host's money: %+v", w)
	}
	l.requireSound()
}

// TestFrozenPayoutNotPaid: a payout handed to the provider is not
// released by a debt (its transfer may be out); the wallet freezes, no
// operator can pay a frozen wallet's payout by hand, a frozen wallet's
// payout is not handed over, and the provider's settlement of one already
// handed over still goes through.
func TestFrozenPayoutNotPaid(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	ops := Actor{User: "ops", Region: "us-east-1"}
	p := frozenHost(t, l)
	_, _, _, err := l.StartTransfer(ctx, ops, p.ID, "acct_h")
	mustOK(t, err)
	second, err := l.RequestPayout(ctx, l.as("other"), 501)
	mustOK(t, err)
	_, err = l.Debit(ctx, Claim{Payment: "pi_h", ID: "dp_h", Kind: EntryDispute, Amount: 500, Event: "evt_h"}, "us-east-1")
	mustOK(t, err)
	if w := l.wallet("host"); w.Owed != 500 || w.Paying != 10_000 {
		t.Fatalf("a handed-over payout was released: %+v", w)
	}
	// "other" is not frozen: its payout pays by hand. Freeze a third one.
	_, err = l.SettlePayout(ctx, ops, second.Payout.ID, Settlement{Paid: true})
	mustOK(t, err)
	_, _, _, err = l.StartTransfer(ctx, ops, p.ID, "acct_h") // a retry of the hand-over: allowed
	mustOK(t, err)
	_, err = l.SettlePayout(ctx, ops, p.ID, Settlement{Paid: true, Transfer: "tr_h", ByProvider: true})
	mustOK(t, err)
	l.requireSound()
}

// TestFrozenWalletPayoutRefused: with the release impossible (a debt
// recorded before this branch, planted here), a pending payout of a frozen
// wallet is neither paid by hand nor handed to the provider.
func TestFrozenWalletPayoutRefused(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	ops := Actor{User: "ops", Region: "us-east-1"}
	p := frozenHost(t, l)
	l.corrupted = true // a wallet owing with a pending payout: the state before releases existed
	if _, err := l.Pool().Exec(ctx, `UPDATE wallets SET owed = 500 WHERE user_id = 'host'`); err != nil {
		t.Fatal(err)
	}
	_, err := l.SettlePayout(ctx, ops, p.ID, Settlement{Paid: true, Transfer: "by hand"})
	wantCode(t, err, CodeWalletFrozen)
	_, _, _, err = l.StartTransfer(ctx, ops, p.ID, "acct_h")
	wantCode(t, err, CodeWalletFrozen)
	got, err := l.PayoutByID(ctx, p.ID)
	mustOK(t, err)
	if got.Status != PayoutPending || l.wallet("host").Paying != 10_000 {
		t.Fatalf("a refused settlement changed the payout: %+v", got)
	}
	// Failing it by hand is allowed: the money returns to the host.
	_, err = l.SettlePayout(ctx, ops, p.ID, Settlement{Reason: "frozen"})
	mustOK(t, err)
}
