package ledger

import (
	"context"
	"testing"
)

// TestOperatorCredit: an operator's credit funds a wallet once per
// reference, whoever repeats it; a reference reused for another credit is
// refused; an unknown user is refused unless the credit opens the wallet;
// bounds hold; the entry names the operator; the audit (at cleanup) counts
// the credit as money in.
func TestOperatorCredit(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	l.user("alice", 0)
	ops := Actor{User: "ops", Region: "us-east-1", RequestID: "cli-1"}

	res, err := l.Credit(ctx, ops, "alice", 5_000, "wire-2026-001", false)
	mustOK(t, err)
	if res.Wallet.Funded != 5_000 || l.wallet("alice").Funded != 5_000 {
		t.Fatalf("after the credit: %+v, stored %+v", res.Wallet, l.wallet("alice"))
	}
	// The same reference again — from another operator, another request —
	// credits nothing more and answers the first outcome.
	other := Actor{User: "ops2", Region: "eu-west-1", RequestID: "cli-9"}
	again, err := l.Credit(ctx, other, "alice", 5_000, "wire-2026-001", false)
	mustOK(t, err)
	if again.Wallet.Funded != 5_000 || l.wallet("alice").Funded != 5_000 {
		t.Fatalf("a repeated reference credited again: %+v, stored %+v", again.Wallet, l.wallet("alice"))
	}
	_, err = l.Credit(ctx, ops, "alice", 7_000, "wire-2026-001", false)
	wantCode(t, err, CodeBadRequest)

	_, err = l.Credit(ctx, ops, "nobody", 100, "wire-2026-002", false)
	wantCode(t, err, CodeNotFound)
	// Refused, the reference is still free: once the wallet exists it credits.
	l.user("nobody", 0)
	res, err = l.Credit(ctx, ops, "nobody", 100, "wire-2026-002", false)
	mustOK(t, err)
	if res.Wallet.Funded != 100 {
		t.Fatalf("the retried credit: %+v", res.Wallet)
	}
	res, err = l.Credit(ctx, ops, "newcomer", 100, "wire-2026-003", true)
	mustOK(t, err)
	if w := l.wallet("newcomer"); w.Funded != 100 || res.Wallet.Funded != 100 {
		t.Fatalf("the opened wallet: %+v (result %+v)", w, res.Wallet)
	}

	for _, bad := range []struct {
		user   string
		amount int64
		ref    string
	}{{"alice", 0, "r1"}, {"alice", -5, "r2"}, {"alice", MaxAmount + 1, "r3"}, {"Alice", 5, "r4"}, {"alice", 5, ""}, {"alice", 5, "bad\nref"}} {
		_, err := l.Credit(ctx, ops, bad.user, bad.amount, bad.ref, true)
		wantCode(t, err, CodeBadRequest)
	}
	// The bound: a wallet may not take in more than MaxAmount in all.
	_, err = l.Credit(ctx, ops, "alice", MaxAmount, "wire-2026-004", false)
	wantCode(t, err, CodeLimitExceeded)
	if w := l.wallet("alice"); w.Funded != 5_000 {
		t.Fatalf("refused credits changed the wallet: %+v", w)
	}

	var kind, actor, ref string
	mustOK(t, l.Pool().QueryRow(ctx, `SELECT kind, actor, request_id FROM entries WHERE user_id = 'alice' AND kind = 'operator_credit'`).Scan(&kind, &actor, &ref))
	if actor != "ops" || ref != "wire-2026-001" {
		t.Fatalf("the credit's entry: kind %s, actor %q, ref %q", kind, actor, ref)
	}
}
