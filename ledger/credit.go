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
	res := CreditResult{User: user}
	if err := operator.validate(); err != nil {
		return res, err
	}
	if !ValidUser(user) {
		return res, errorf(CodeBadRequest, "user must match [a-z0-9_-]{1,32}")
	}
	if err := validAmount("amount", amount); err != nil {
		return res, err
	}
	if !ValidRef(ref) {
		return res, errorf(CodeBadRequest, "ref must be 1..64 printable characters")
	}
	key := Actor{User: creditsKey, Region: operator.Region, RequestID: ref}
	name := fmt.Sprintf("credit user=%s amount=%d", user, amount)
	o := newOp(key, name, true, &res, func(ctx context.Context, t *txn) error {
		t.by = operator.User
		w, err := t.wallet(ctx, user)
		switch {
		case CodeOf(err) == CodeNotFound && create:
			w = t.openWallet(user)
		case err != nil:
			return err
		}
		if err := t.requireInflowRoom(ctx, user, uuid.Nil, amount); err != nil {
			return err
		}
		t.move(user, EntryOperatorCredit, amount, nil, nil)
		w.Funded += amount
		w.Version++
		res.Wallet = w
		return nil
	})
	o.forgetRefusals = true
	l.submit(ctx, uuid.Nil, o)
	res.Wallet.User = user
	return res, o.err
}
