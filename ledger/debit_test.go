package ledger

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// TestRefundTakesWhatIsAvailable: a refund of an unspent top-up takes it
// back at once; the same event again, another event for the same refund
// total and a refund total that went down take nothing more; a later,
// higher total takes the difference; claims never pass the top-up.
func TestRefundTakesWhatIsAvailable(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	_, err := l.TopUp(ctx, "dora", 10_000, "pi_1", "us-east-1")
	mustOK(t, err)

	res, err := l.Debit(ctx, Claim{Payment: "pi_1", ID: "ch_1", Kind: EntryRefund, Amount: 4_000, Event: "evt_1"}, "us-east-1")
	mustOK(t, err)
	if res.User != "dora" || res.Claimed != 4_000 || res.Taken != 4_000 || res.Wallet.Funded != 6_000 || res.Wallet.Owed != 0 {
		t.Fatalf("the refund: %+v", res)
	}
	for _, c := range []Claim{
		{Payment: "pi_1", ID: "ch_1", Kind: EntryRefund, Amount: 4_000, Event: "evt_1"}, // replayed
		{Payment: "pi_1", ID: "ch_1", Kind: EntryRefund, Amount: 4_000, Event: "evt_2"}, // retried under a new event
		{Payment: "pi_1", ID: "ch_1", Kind: EntryRefund, Amount: 3_000, Event: "evt_3"}, // an older total, late
	} {
		_, err := l.Debit(ctx, c, "us-east-1")
		mustOK(t, err)
		if w := l.wallet("dora"); w.Funded != 6_000 {
			t.Fatalf("%+v took money again: %+v", c, w)
		}
	}
	// The same event id with other content is refused.
	_, err = l.Debit(ctx, Claim{Payment: "pi_1", ID: "ch_1", Kind: EntryRefund, Amount: 9_000, Event: "evt_1"}, "us-east-1")
	wantCode(t, err, CodeBadRequest)
	// A second partial refund: the total rises to 7,000.
	res, err = l.Debit(ctx, Claim{Payment: "pi_1", ID: "ch_1", Kind: EntryRefund, Amount: 7_000, Event: "evt_4"}, "us-east-1")
	mustOK(t, err)
	if res.Claimed != 3_000 || l.wallet("dora").Funded != 3_000 {
		t.Fatalf("the second refund: %+v, wallet %+v", res, l.wallet("dora"))
	}
	// A dispute on top: at most what is left of the top-up (3,000), once.
	res, err = l.Debit(ctx, Claim{Payment: "pi_1", ID: "dp_1", Kind: EntryDispute, Amount: 10_000, Event: "evt_5"}, "us-east-1")
	mustOK(t, err)
	if res.Claimed != 3_000 || l.wallet("dora").Funded != 0 {
		t.Fatalf("the dispute: %+v, wallet %+v", res, l.wallet("dora"))
	}
	res, err = l.Debit(ctx, Claim{Payment: "pi_1", ID: "dp_1", Kind: EntryDispute, Amount: 10_000, Event: "evt_6"}, "us-east-1")
	mustOK(t, err)
	if res.Claimed != 0 || l.wallet("dora").Owed != 0 {
		t.Fatalf("the dispute again: %+v", res)
	}
	// A payment that credited nothing is not_found, and not remembered.
	_, err = l.Debit(ctx, Claim{Payment: "pi_none", ID: "ch_9", Kind: EntryRefund, Amount: 100, Event: "evt_7"}, "us-east-1")
	wantCode(t, err, CodeNotFound)
	_, err = l.TopUp(ctx, "dora", 500, "pi_none", "us-east-1")
	mustOK(t, err)
	res, err = l.Debit(ctx, Claim{Payment: "pi_none", ID: "ch_9", Kind: EntryRefund, Amount: 100, Event: "evt_7"}, "us-east-1")
	mustOK(t, err)
	if res.Claimed != 100 || l.wallet("dora").Funded != 400 {
		t.Fatalf("the refund once its top-up is in: %+v", res)
	}
	_, err = l.Debit(ctx, Claim{Payment: "pi_1", ID: "ch_1", Kind: "chargeback", Amount: 1, Event: "evt_8"}, "us-east-1")
	wantCode(t, err, CodeBadRequest)
}

// TestRefundAfterSpendingFreezes: a refund of money already spent takes
// what is available, owes the rest instead of going negative, and freezes
// the wallet for bids, purchases and payouts; an operator credit pays the
// debt first and unfreezes it. The audit is clean throughout.
func TestRefundAfterSpendingFreezes(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	_, err := l.TopUp(ctx, "erin", 10_000, "pi_2", "us-east-1")
	mustOK(t, err)
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "print", Price: 7_000, Qty: 5})
	_, _, err = l.BuyDrop(ctx, l.as("erin"), drop, 1)
	mustOK(t, err)
	l.requireSound()

	res, err := l.Debit(ctx, Claim{Payment: "pi_2", ID: "ch_2", Kind: EntryRefund, Amount: 10_000, Event: "evt_r"}, "us-east-1")
	mustOK(t, err)
	w := l.wallet("erin")
	if res.Taken != 3_000 || w.Owed != 7_000 || w.Funded != 7_000 || w.Spent != 7_000 || w.Available() != 0 || !w.Frozen() {
		t.Fatalf("after the refund: %+v, wallet %+v", res, w)
	}
	l.requireSound()
	_, _, err = l.BuyDrop(ctx, l.as("erin"), drop, 1)
	wantCode(t, err, CodeWalletFrozen)
	eng := l.lot(englishSpec())
	_, _, err = l.PlaceBid(ctx, l.as("erin"), eng, 1_000, 0)
	wantCode(t, err, CodeWalletFrozen)
	frozen, err := l.FrozenWallets(ctx, 10)
	mustOK(t, err)
	if len(frozen) != 1 || frozen[0].User != "erin" || frozen[0].Owed != 7_000 || len(frozen[0].Claims) != 1 || frozen[0].Claims[0].Amount != 10_000 {
		t.Fatalf("frozen wallets: %+v", frozen)
	}

	// An operator credit of less than owed pays part of it: still frozen.
	ops := Actor{User: "ops", Region: "us-east-1", RequestID: "cli"}
	_, err = l.Credit(ctx, ops, "erin", 2_000, "cover-1", false)
	mustOK(t, err)
	if w := l.wallet("erin"); w.Owed != 5_000 || w.Available() != 0 || w.Funded != 7_000 {
		t.Fatalf("after a partial cover: %+v", w)
	}
	res2, err := l.Credit(ctx, ops, "erin", 6_000, "cover-2", false)
	mustOK(t, err)
	if w := l.wallet("erin"); w.Owed != 0 || w.Frozen() || w.Available() != 1_000 || res2.Wallet != w {
		t.Fatalf("after covering the debt: %+v (result %+v)", w, res2.Wallet)
	}
	_, _, err = l.PlaceBid(ctx, l.as("erin"), eng, 1_000, 0)
	mustOK(t, err)
	frozen, err = l.FrozenWallets(ctx, 10)
	mustOK(t, err)
	if len(frozen) != 0 {
		t.Fatalf("frozen wallets after the cover: %+v", frozen)
	}
}

// TestRefundTakesEarnings: a host whose top-up is refunded after spending
// it pays from earnings when funded cannot cover it.
func TestRefundTakesEarnings(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	l.user("buyer", 50_000)
	_, err := l.TopUp(ctx, "host", 1_000, "pi_h", "us-east-1")
	mustOK(t, err)
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "mug", Price: 5_000, Qty: 1})
	_, _, err = l.BuyDrop(ctx, l.as("buyer"), drop, 1) // sells out and settles: the host earns 5,000
	mustOK(t, err)
	l.user("maker", 0)
	other, _, err := l.CreateLot(ctx, l.as("maker"), LotSpec{Kind: KindDrop, Title: "cup", Price: 1_000, Qty: 3})
	mustOK(t, err)
	_, _, err = l.BuyDrop(ctx, l.as("host"), other.Lot, 1) // the host spends 1,000
	mustOK(t, err)
	res, err := l.Debit(ctx, Claim{Payment: "pi_h", ID: "dp_h", Kind: EntryDispute, Amount: 1_000, Event: "evt_h"}, "us-east-1")
	mustOK(t, err)
	w := l.wallet("host")
	if res.Taken != 1_000 || w.Owed != 0 || w.Earned+w.Funded != 5_000 || w.Funded < 0 {
		t.Fatalf("the dispute on the host: %+v, wallet %+v", res, w)
	}
}

// TestRefundRacesPurchases: a refund arriving while the wallet buys on two
// nodes never lets it go below zero: whatever was spent first is owed, the
// rest taken, and a frozen wallet buys nothing more.
func TestRefundRacesPurchases(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	_, err := l.TopUp(ctx, "fay", 10_000, "pi_r", "us-east-1")
	mustOK(t, err)
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "tee", Price: 1_000, Qty: 20})
	nodes := l.nodes()
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, _, err := nodes[i%2].BuyDrop(ctx, l.as("fay"), drop, 1)
			if c := CodeOf(err); c != "" && c != CodeWalletFrozen && c != CodeInsufficientFunds {
				t.Errorf("buy %d: %v", i, err)
			}
		}(i)
	}
	var res DebitResult
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		res, err = nodes[1].Debit(ctx, Claim{Payment: "pi_r", ID: "ch_r", Kind: EntryRefund, Amount: 10_000, Event: "evt_r"}, "us-east-1")
		if err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
	w := l.wallet("fay")
	if w.Available() < 0 || res.Taken+w.Owed != 10_000 || w.Funded != 10_000-res.Taken || w.Owed != w.Spent {
		t.Fatalf("after the race: wallet %+v, refund %+v", w, res)
	}
}

// TestRefundOfPrunedTopUp: a top-up whose request record is gone (pruned
// before top-up records were kept for good) is found by its topup entry:
// a refund takes from the user it credited, never past its amount.
func TestRefundOfPrunedTopUp(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	_, err := l.TopUp(ctx, "olga", 3_000, "pi_old", "us-east-1")
	mustOK(t, err)
	tag, err := l.Pool().Exec(ctx, `DELETE FROM requests WHERE user_id = '~topups' AND request_id = 'pi_old'`)
	mustOK(t, err)
	if tag.RowsAffected() != 1 {
		t.Fatalf("deleted %d top-up records", tag.RowsAffected())
	}
	res, err := l.Debit(ctx, Claim{Payment: "pi_old", ID: "ch_old", Kind: EntryRefund, Amount: 5_000, Event: "evt_old"}, "us-east-1")
	mustOK(t, err)
	if res.User != "olga" || res.Claimed != 3_000 || res.Taken != 3_000 || l.wallet("olga").Funded != 0 {
		t.Fatalf("the refund: %+v, wallet %+v", res, l.wallet("olga"))
	}
	_, err = l.Debit(ctx, Claim{Payment: "pi_never", ID: "ch_n", Kind: EntryRefund, Amount: 1, Event: "evt_n"}, "us-east-1")
	wantCode(t, err, CodeNotFound)
	l.requireSound()
}

// TestDisputeReversal: a won dispute gives its claim back — first paying
// what the wallet owes, the rest to funded — once, by event and by
// dispute; a dispute reported after its reversal takes nothing.
func TestDisputeReversal(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	_, err := l.TopUp(ctx, "rita", 1_000, "pi_r", "us-east-1")
	mustOK(t, err)
	drop := l.lot(LotSpec{Kind: KindDrop, Title: "cup", Price: 600, Qty: 2})
	_, _, err = l.BuyDrop(ctx, l.as("rita"), drop, 1)
	mustOK(t, err)
	_, err = l.Debit(ctx, Claim{Payment: "pi_r", ID: "dp_r", Kind: EntryDispute, Amount: 1_000, Event: "evt_r1"}, "us-east-1")
	mustOK(t, err)
	if w := l.wallet("rita"); w.Owed != 600 || w.Funded != 600 {
		t.Fatalf("the dispute: %+v", w)
	}
	res, err := l.ReverseDispute(ctx, Reversal{Payment: "pi_r", Dispute: "dp_r", Event: "evt_r2"}, "us-east-1")
	mustOK(t, err)
	w := l.wallet("rita")
	if res.Reversed != 1_000 || res.Taken != 600 || w.Owed != 0 || w.Funded != 1_000 || w.Available() != 400 {
		t.Fatalf("the reversal: %+v, wallet %+v", res, w)
	}
	for _, r := range []Reversal{
		{Payment: "pi_r", Dispute: "dp_r", Event: "evt_r2"}, // replayed
		{Payment: "pi_r", Dispute: "dp_r", Event: "evt_r3"}, // closed as won after funds_reinstated
	} {
		_, err := l.ReverseDispute(ctx, r, "us-east-1")
		mustOK(t, err)
	}
	// The dispute reported again (funds_withdrawn, late) takes nothing.
	_, err = l.Debit(ctx, Claim{Payment: "pi_r", ID: "dp_r", Kind: EntryDispute, Amount: 1_000, Event: "evt_r4"}, "us-east-1")
	mustOK(t, err)
	if w2 := l.wallet("rita"); w2 != w {
		t.Fatalf("a repeated reversal or dispute moved money: %+v → %+v", w, w2)
	}
	// A reversal before its dispute: nothing to give back, and the late
	// dispute takes nothing.
	_, err = l.TopUp(ctx, "rita", 200, "pi_s", "us-east-1")
	mustOK(t, err)
	res, err = l.ReverseDispute(ctx, Reversal{Payment: "pi_s", Dispute: "dp_s", Event: "evt_s1"}, "us-east-1")
	mustOK(t, err)
	if res.Reversed != 0 {
		t.Fatalf("a reversal of nothing: %+v", res)
	}
	d, err := l.Debit(ctx, Claim{Payment: "pi_s", ID: "dp_s", Kind: EntryDispute, Amount: 200, Event: "evt_s2"}, "us-east-1")
	mustOK(t, err)
	if d.Claimed != 0 || l.wallet("rita").Funded != 1_200 {
		t.Fatalf("a dispute after its reversal: %+v", d)
	}
	// A refund may then claim what the reversal gave back.
	d, err = l.Debit(ctx, Claim{Payment: "pi_r", ID: "ch_r", Kind: EntryRefund, Amount: 1_000, Event: "evt_r5"}, "us-east-1")
	mustOK(t, err)
	if d.Claimed != 1_000 {
		t.Fatalf("a refund after the reversal: %+v", d)
	}
	l.requireSound()
}

// TestAuditCatchesBadClaims: claims past their top-up, or on another
// user than the top-up credited, are violations.
func TestAuditCatchesBadClaims(t *testing.T) {
	for _, c := range []struct{ name, sql string }{
		{"claims past the top-up", `UPDATE claims SET amount = 5000 WHERE claim = 'ch_a'`},
		{"claim on another user", `UPDATE claims SET user_id = 'bob' WHERE claim = 'ch_a'`},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLedger(t)
			ctx := context.Background()
			_, err := l.TopUp(ctx, "ann", 1_000, "pi_a", "us-east-1")
			mustOK(t, err)
			_, err = l.TopUp(ctx, "bob", 1_000, "pi_b", "us-east-1")
			mustOK(t, err)
			_, err = l.Debit(ctx, Claim{Payment: "pi_a", ID: "ch_a", Kind: EntryRefund, Amount: 400, Event: "evt_a"}, "us-east-1")
			mustOK(t, err)
			l.requireSound()
			l.corrupted = true
			_, err = l.Pool().Exec(ctx, c.sql)
			mustOK(t, err)
			vs, err := l.Audit(ctx)
			mustOK(t, err)
			for _, v := range vs {
				if v.Invariant == InvOwed && strings.Contains(v.Subject, "claims on payment pi_a") {
					return
				}
			}
			t.Fatalf("audit missed it: %v", vs)
		})
	}
}
