package ledger

import (
	"context"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// creditsKey is the request-record user under which operator credits are
// stored, by their reference. It is outside the user alphabet, so no user
// shares it, and any operator repeating a reference meets the first outcome:
// a reference credits once, whoever sends it again.
const creditsKey = "~credits"

// CreditResult is the outcome of Credit: the credited wallet after it.
type CreditResult struct {
	User   string `json:"user"`
	Wallet Wallet `json:"wallet"`
}

// ValidRef reports whether ref can name an operator credit: 1..64
// printable characters.
func ValidRef(ref string) bool {
	n := utf8.RuneCountInString(ref)
	if n < 1 || n > 64 || !utf8.ValidString(ref) {
		return false
	}
	for _, r := range ref {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Credit puts amount into user's wallet (funded) on an operator's authority:
// money entering the ledger from outside it, recorded as an
// operator_credit entry that names the operator and carries ref. It is
// idempotent by ref: the same reference credits once, and asked again —
// by any operator — returns the first credit; the same reference with
// another user or amount is bad_request. A refused credit is not recorded:
// fixed (the wallet opened, say), the same reference goes through. An unknown user is refused
// (not_found) unless create is set, which opens the wallet first: a
// production user's wallet comes into being when it is first funded.
// Bounds as for deposits: 1 ≤ amount ≤ MaxAmount, and the wallet may not
// take in more than MaxAmount in all.
func (l *Ledger) Credit(ctx context.Context, operator Actor, user string, amount int64, ref string, create bool) (CreditResult, error) {
	if err := operator.validate(); err != nil {
		return CreditResult{User: user}, err
	}
	return l.fund(ctx, fundsIn{by: operator.User, region: operator.Region, key: creditsKey, kind: EntryOperatorCredit,
		user: user, amount: amount, ref: ref, create: create})
}

// topUpsKey is the request-record user under which card top-ups are stored,
// by payment id.
const topUpsKey = "~topups"

// TopUp credits a card payment that the payment provider confirmed: amount
// into user's wallet (funded) as a topup entry, recorded by payment — the
// provider's id for it (a Stripe PaymentIntent), so the same payment
// credits once however many confirmations arrive. The wallet is opened if
// the user has none (the user asked for the payment with a valid token).
func (l *Ledger) TopUp(ctx context.Context, user string, amount int64, payment, region string) (CreditResult, error) {
	if !ValidRegion(region) {
		region = "us-east-1"
	}
	return l.fund(ctx, fundsIn{by: "payments", region: region, key: topUpsKey, kind: EntryTopUp,
		user: user, amount: amount, ref: payment, create: true})
}

// fundsIn is money entering a wallet from outside the ledger.
type fundsIn struct {
	by, region, key, kind string
	user, ref             string
	amount                int64
	create                bool
}

// fund is Credit and TopUp: an idempotent credit under (f.key, f.ref).
func (l *Ledger) fund(ctx context.Context, f fundsIn) (CreditResult, error) {
	res := CreditResult{User: f.user}
	if !ValidUser(f.user) {
		return res, errorf(CodeBadRequest, "user must match [a-z0-9_-]{1,32}")
	}
	if err := validAmount("amount", f.amount); err != nil {
		return res, err
	}
	if !ValidRef(f.ref) {
		return res, errorf(CodeBadRequest, "ref must be 1..64 printable characters")
	}
	key := Actor{User: f.key, Region: f.region, RequestID: f.ref}
	name := fmt.Sprintf("%s user=%s amount=%d", f.kind, f.user, f.amount)
	o := newOp(key, name, true, &res, func(ctx context.Context, t *txn) error {
		t.by = f.by
		_, err := t.wallet(ctx, f.user)
		switch {
		case CodeOf(err) == CodeNotFound && f.create:
			t.openWallet(f.user)
		case err != nil:
			return err
		}
		if err := t.requireInflowRoom(ctx, f.user, uuid.Nil, f.amount); err != nil {
			return err
		}
		t.move(f.user, f.kind, f.amount, nil, nil)
		// Money in first pays what the wallet owes (debit.go).
		if _, err := t.collect(ctx, f.user); err != nil {
			return err
		}
		res.Wallet, err = t.wallet(ctx, f.user)
		return err
	})
	o.forgetRefusals = true
	l.submit(ctx, uuid.Nil, o)
	res.Wallet.User = f.user
	return res, o.err
}
