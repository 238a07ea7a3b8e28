package ledger

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Money the payment provider takes back. A card top-up can be refunded or
// disputed after the wallet spent it: the ledger then records what is
// claimed back (a refund or dispute entry, owed += amount), takes what the
// wallet still has available at once (debit entries: from funded first,
// then earned), and what it cannot take — already held or spent — stays
// owed. A wallet that owes is frozen: bids, purchases and payouts are
// refused with CodeWalletFrozen (the wire's forbidden) until the debt is
// covered. Every later movement into the wallet — an operator credit, a
// top-up, a demo deposit, another claim's processing — first pays what is
// owed, so an operator credit of the owed amount unfreezes it. Holds
// released while frozen stay available and are taken by that next
// movement. The invariants never bend: nothing is taken beyond available.

// Claim is one report of money the provider took back from a top-up.
type Claim struct {
	// Payment is the top-up it concerns: the provider's payment id, the
	// topup entry's request id (a Stripe PaymentIntent).
	Payment string
	// ID names the claim: a charge's refunds ("ch_…", their running
	// total) or a dispute ("dp_…").
	ID string
	// Kind is EntryRefund or EntryDispute.
	Kind string
	// Amount is, for refunds, the charge's refunded total so far (Stripe's
	// amount_refunded); for a dispute, the disputed amount.
	Amount int64
	// Event is the provider's event id: the same event again answers its
	// first outcome.
	Event string
}

// DebitResult is the outcome of Debit.
type DebitResult struct {
	User string `json:"user"`
	// Claimed is what this report added to the claims on the payment:
	// 0 when it was already counted.
	Claimed int64 `json:"claimed"`
	// Taken is what was taken from the wallet now, Owed what it still owes.
	Taken int64 `json:"taken"`
	// Reversed is what a won dispute gave back (ReverseDispute).
	Reversed int64 `json:"reversed,omitempty"`
	// Released are the pending payouts released to pay the debt (collect).
	Released []uuid.UUID `json:"released,omitempty"`
	Wallet   Wallet      `json:"wallet"`
}

// collect takes what the user owes from what is available (releasing
// pending payouts if need be) and records it, with the wallet after, in res.
func (res *DebitResult) collect(ctx context.Context, t *txn, user string) error {
	taken, err := t.collect(ctx, user)
	if err != nil {
		return err
	}
	res.Taken, res.Released = taken, t.released
	res.Wallet, err = t.wallet(ctx, user)
	return err
}

// eventsKey is the request-record user under which provider events are
// stored, by event id.
const eventsKey = "~events"

// Debit records a claim against the user of its top-up. It is idempotent
// twice over: by event (the same event id answers its first outcome) and
// by claim (a charge's refunds count up to their reported total once; a
// dispute counts once), so replays, retries and several events about the
// same refund never take money twice. Claims on one payment never add up
// to more than the top-up credited. A payment that credited no top-up is
// not_found, not recorded: retried once the top-up is in, it goes through.
func (l *Ledger) Debit(ctx context.Context, c Claim, region string) (DebitResult, error) {
	var res DebitResult
	if c.Kind != EntryRefund && c.Kind != EntryDispute {
		return res, errorf(CodeBadRequest, "a claim is a refund or a dispute, not %q", c.Kind)
	}
	for name, v := range map[string]string{"payment": c.Payment, "claim": c.ID, "event": c.Event} {
		if !ValidRef(v) {
			return res, errorf(CodeBadRequest, "%s must be 1..64 printable characters", name)
		}
	}
	if c.Amount < 0 || c.Amount > MaxAmount {
		return res, errorf(CodeBadRequest, "amount must be between 0 and %d minor units", MaxAmount)
	}
	if !ValidRegion(region) {
		region = "us-east-1"
	}
	key := Actor{User: eventsKey, Region: region, RequestID: c.Event}
	name := fmt.Sprintf("%s payment=%s claim=%s amount=%d", c.Kind, c.Payment, c.ID, c.Amount)
	o := newOp(key, name, true, &res, func(ctx context.Context, t *txn) error {
		res = DebitResult{}
		t.by, t.ref = "payments", c.ID
		user, credited, err := topUpOf(ctx, t.tx, c.Payment)
		if err != nil {
			return err
		}
		res.User = user
		claims, err := claimsOf(ctx, t.tx, c.Payment)
		if err != nil {
			return err
		}
		var others int64
		prev, had := int64(0), false
		for id, amount := range claims {
			if id == c.ID {
				prev, had = amount, true
				continue
			}
			others += amount
		}
		total := min(c.Amount, max(0, credited-others))
		if _, reversed := claims[c.ID+reversalSuffix]; c.Kind == EntryDispute && (had || reversed) {
			total = prev // a dispute counts once, and not after it was reversed
		}
		if add := total - prev; add > 0 {
			if had {
				t.write(`UPDATE claims SET amount = $3, updated_at_ms = $4 WHERE payment = $1 AND claim = $2 AND amount = $5`,
					c.Payment, c.ID, total, t.nowMS(), prev)
			} else {
				t.write(`INSERT INTO claims (payment, claim, user_id, kind, amount, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6)`,
					c.Payment, c.ID, user, c.Kind, total, t.nowMS())
			}
			if _, err := t.wallet(ctx, user); err != nil {
				return err
			}
			t.move(user, c.Kind, add, nil, nil)
			res.Claimed = add
		}
		return res.collect(ctx, t, user)
	})
	o.forgetRefusals = true
	l.submit(ctx, uuid.Nil, o)
	res.Wallet.User = res.User
	return res, o.err
}

// topUpOf is the user and amount a payment credited, from its stored
// top-up outcome, or — for a top-up whose record is gone (records older
// than the request retention were pruned before top-up records were kept
// for good) — from its topup entry, whose request id is the payment.
func topUpOf(ctx context.Context, tx pgx.Tx, payment string) (string, int64, error) {
	r, found, err := loadRequest(ctx, tx, Actor{User: topUpsKey, RequestID: payment})
	if err != nil {
		return "", 0, err
	}
	if !found {
		return topUpEntryOf(ctx, tx, payment)
	}
	if !r.ok {
		return "", 0, errorf(CodeNotFound, "no top-up was credited for payment %s", payment)
	}
	var stored CreditResult
	if err := json.Unmarshal([]byte(r.result), &stored); err != nil {
		return "", 0, fmt.Errorf("decode top-up %s: %w", payment, err)
	}
	var user string
	var amount int64
	if _, err := fmt.Sscanf(r.op, EntryTopUp+" user=%s amount=%d", &user, &amount); err != nil || user != stored.User {
		return "", 0, fmt.Errorf("top-up %s: unreadable record %q", payment, r.op)
	}
	return user, amount, nil
}

// topUpEntryOf is the user and amount of a payment's topup entry (read by
// the entries_request index). A payment credits once, so one entry.
func topUpEntryOf(ctx context.Context, tx pgx.Tx, payment string) (string, int64, error) {
	rows, err := tx.Query(ctx, `SELECT user_id, amount FROM entries WHERE request_id = $1 AND kind = $2 LIMIT 2`, payment, EntryTopUp)
	if err != nil {
		return "", 0, fmt.Errorf("read top-up entry %s: %w", payment, err)
	}
	defer rows.Close()
	var user string
	var amount int64
	n := 0
	for rows.Next() {
		if err := rows.Scan(&user, &amount); err != nil {
			return "", 0, fmt.Errorf("read top-up entry %s: %w", payment, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return "", 0, fmt.Errorf("read top-up entry %s: %w", payment, err)
	}
	switch n {
	case 0:
		return "", 0, errorf(CodeNotFound, "no top-up was credited for payment %s", payment)
	case 1:
		return user, amount, nil
	}
	return "", 0, fmt.Errorf("payment %s has several topup entries", payment)
}

// claimsOf is what was claimed back on a payment so far, by claim; a
// dispute's reversal (reversal.go) counts negative, under its own claim.
func claimsOf(ctx context.Context, tx pgx.Tx, payment string) (map[string]int64, error) {
	rows, err := tx.Query(ctx, `SELECT claim, CASE WHEN kind = $2 THEN -amount ELSE amount END FROM claims WHERE payment = $1`,
		payment, EntryDisputeReversal)
	if err != nil {
		return nil, fmt.Errorf("read claims of %s: %w", payment, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var amount int64
		if err := rows.Scan(&id, &amount); err != nil {
			return nil, fmt.Errorf("read claims of %s: %w", payment, err)
		}
		out[id] = amount
	}
	return out, rows.Err()
}

// collect takes from the user's wallet what it owes, as far as its
// available balance allows: from funded first, then from earned. When that
// is short, the wallet's pending payouts not yet handed to the payment
// provider are released first (releaseForDebt), newest first and only as
// many as the debt needs, so earnings held for a payout pay the debt
// instead of leaving the ledger. It returns what it took.
func (t *txn) collect(ctx context.Context, user string) (int64, error) {
	w, err := t.wallet(ctx, user)
	if err != nil {
		return 0, err
	}
	if w.Owed > max(0, w.Available()) {
		if err := t.releaseForDebt(ctx, user, w.Owed-max(0, w.Available())); err != nil {
			return 0, err
		}
		if w, err = t.wallet(ctx, user); err != nil {
			return 0, err
		}
	}
	take := min(w.Owed, max(0, w.Available()))
	if take <= 0 {
		return 0, nil
	}
	fromFunded := min(take, w.Funded)
	t.move(user, EntryDebit, fromFunded, nil, nil)
	t.move(user, EntryDebitEarned, take-fromFunded, nil, nil)
	return take, nil
}

// frozen is the refusal of a frozen wallet's bid, purchase or payout.
func frozen(w Wallet) error {
	return errorf(CodeWalletFrozen,
		"wallet frozen: it owes %d minor units that a refund or dispute took back after they were held or spent; funds that cover it unfreeze it",
		w.Owed)
}

// FrozenWallet explains one frozen wallet: what it owes, and the claims
// (refunds and disputes) that made the debt.
type FrozenWallet struct {
	User   string        `json:"user"`
	Owed   int64         `json:"owed"`
	Wallet Wallet        `json:"wallet"`
	Claims []ClaimRecord `json:"claims"`
}

// ClaimRecord is one stored claim.
type ClaimRecord struct {
	Payment string `json:"payment"`
	Claim   string `json:"claim"`
	Kind    string `json:"kind"`
	Amount  int64  `json:"amount"`
}

// FrozenWallets lists up to limit frozen wallets with what they owe and
// why. It reads every wallet: an operator's and the audit's read.
func (l *Ledger) FrozenWallets(ctx context.Context, limit int) ([]FrozenWallet, error) {
	out := []FrozenWallet{}
	err := l.read(ctx, func() error {
		out = out[:0]
		rows, err := l.pool.Query(ctx, `SELECT user_id FROM wallets WHERE owed > 0 ORDER BY user_id LIMIT $1`, limit)
		if err != nil {
			return fmt.Errorf("frozen wallets: %w", err)
		}
		var users []string
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return err
			}
			users = append(users, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, u := range users {
			w, err := readWallet(ctx, l.pool, u)
			if err != nil {
				return err
			}
			f := FrozenWallet{User: u, Owed: w.Owed, Wallet: w, Claims: []ClaimRecord{}}
			crows, err := l.pool.Query(ctx, `SELECT payment, claim, kind, amount FROM claims WHERE user_id = $1 ORDER BY payment, claim`, u)
			if err != nil {
				return err
			}
			for crows.Next() {
				var c ClaimRecord
				if err := crows.Scan(&c.Payment, &c.Claim, &c.Kind, &c.Amount); err != nil {
					crows.Close()
					return err
				}
				f.Claims = append(f.Claims, c)
			}
			crows.Close()
			if err := crows.Err(); err != nil {
				return err
			}
			out = append(out, f)
		}
		return nil
	})
	return out, err
}
