package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// A dispute the platform wins gives its money back: the provider reinstates
// the disputed funds. ReverseDispute gives the claim back to the wallet it
// was taken from — a dispute_reversal entry (funded += the claim) — and, as
// every movement in does, that first pays what the wallet owes (collect):
// owed is lowered first and the rest stays funded. It returns exactly the
// claim recorded (at most the top-up), never the provider's figure.

// reversalSuffix names a dispute's reversal in the claims table: claim
// "<dispute id>/reversed", kind dispute_reversal, its amount what was given
// back. The row marks the dispute reversed even when nothing was claimed
// (an inquiry, or a reversal reported before its dispute): a dispute
// reported after its reversal takes nothing.
const reversalSuffix = "/reversed"

// Reversal is a provider's report that a dispute was won.
type Reversal struct {
	// Payment is the disputed top-up's payment id, Dispute the dispute's
	// id ("dp_…"), Event the provider's event id.
	Payment, Dispute, Event string
}

// ReverseDispute gives a won dispute's claim back to its wallet. It is
// idempotent by event (the same event answers its first outcome) and by
// dispute (a dispute is reversed once, however many events report it). A
// payment that credited no top-up is not_found, not recorded.
func (l *Ledger) ReverseDispute(ctx context.Context, r Reversal, region string) (DebitResult, error) {
	var res DebitResult
	for name, v := range map[string]string{"payment": r.Payment, "event": r.Event} {
		if !ValidRef(v) {
			return res, errorf(CodeBadRequest, "%s must be 1..64 printable characters", name)
		}
	}
	if !ValidRef(r.Dispute + reversalSuffix) {
		return res, errorf(CodeBadRequest, "dispute must be 1..%d printable characters", 64-len(reversalSuffix))
	}
	if !ValidRegion(region) {
		region = "us-east-1"
	}
	key := Actor{User: eventsKey, Region: region, RequestID: r.Event}
	name := fmt.Sprintf("%s payment=%s claim=%s", EntryDisputeReversal, r.Payment, r.Dispute)
	o := newOp(key, name, true, &res, func(ctx context.Context, t *txn) error {
		res = DebitResult{}
		t.by, t.ref = "payments", r.Dispute
		user, _, err := topUpOf(ctx, t.tx, r.Payment)
		if err != nil {
			return err
		}
		res.User = user
		claims, err := claimsOf(ctx, t.tx, r.Payment)
		if err != nil {
			return err
		}
		if _, err := t.wallet(ctx, user); err != nil {
			return err
		}
		if _, done := claims[r.Dispute+reversalSuffix]; !done {
			amount := max(0, claims[r.Dispute])
			t.write(`INSERT INTO claims (payment, claim, user_id, kind, amount, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6)`,
				r.Payment, r.Dispute+reversalSuffix, user, EntryDisputeReversal, amount, t.nowMS())
			if amount > 0 {
				if err := t.requireInflowRoom(ctx, user, uuid.Nil, amount); err != nil {
					return err
				}
				t.move(user, EntryDisputeReversal, amount, nil, nil)
			}
			res.Reversed = amount
		}
		return res.collect(ctx, t, user)
	})
	o.forgetRefusals = true
	l.submit(ctx, uuid.Nil, o)
	res.Wallet.User = res.User
	return res, o.err
}
