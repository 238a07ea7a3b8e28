package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Payout statuses: a payout is requested pending and settled once, paid or
// failed.
const (
	PayoutPending = "pending"
	PayoutPaid    = "paid"
	PayoutFailed  = "failed"
)

// Payout is a host's request to take earnings out of the ledger.
type Payout struct {
	ID     uuid.UUID `json:"id"`
	User   string    `json:"user"`
	Amount int64     `json:"amount"`
	Status string    `json:"status"`
	// Transfer is the provider's id of the money sent (a Stripe Transfer),
	// when it went that way; Reason says why a payout failed.
	Transfer  string     `json:"transfer,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	SettledBy string     `json:"settled_by,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	SettledAt *time.Time `json:"settled_at,omitempty"`
}

// PayoutResult is a payout and its user's wallet after the operation.
type PayoutResult struct {
	Payout Payout `json:"payout"`
	Wallet Wallet `json:"wallet"`
}

// RequestPayout asks to pay amount of the actor's earnings out. The amount
// is held at once (held and paying += amount: it can no longer be spent)
// until the payout is settled (SettlePayout). It may not pass what the
// wallet earned and is not already paying out, nor what is available; a
// frozen wallet pays nothing out. Idempotent by the actor's request id.
// Two requests racing on one wallet both write its row, so one reruns on
// the other's result: together they never pay out more than was earned.
func (l *Ledger) RequestPayout(ctx context.Context, a Actor, amount int64) (PayoutResult, error) {
	if err := validAmount("amount", amount); err != nil {
		return PayoutResult{}, err
	}
	var res PayoutResult
	_, err := l.do(ctx, a, fmt.Sprintf("payout amount=%d", amount), uuid.Nil, &res, func(ctx context.Context, t *txn) error {
		w, err := t.wallet(ctx, a.User)
		if err != nil {
			return err
		}
		if w.Frozen() {
			return frozen(w)
		}
		if payable := w.Earned - w.Paying; amount > payable {
			return errorf(CodeInsufficientFunds, "a payout comes from earnings: %d earned and not being paid out, %d asked", max(0, payable), amount)
		}
		if err := requireFunds(w, amount); err != nil {
			return err
		}
		p := Payout{ID: uuid.New(), User: a.User, Amount: amount, Status: PayoutPending, CreatedAt: t.now.UTC().Truncate(time.Millisecond)}
		t.write(`INSERT INTO payouts (id, user_id, request_id, amount, status, region, settled_by, transfer, reason, created_at_ms, settled_at_ms)
VALUES ($1, $2, $3, $4, $5, $6, '', '', '', $7, 0)`, p.ID, a.User, a.RequestID, amount, PayoutPending, a.Region, t.nowMS())
		t.move(a.User, EntryPayoutHold, amount, nil, &p.ID)
		res.Payout = p
		res.Wallet, err = t.wallet(ctx, a.User)
		return err
	})
	res.Wallet.User = a.User
	return res, err
}

// Settlement is how a payout ended: paid (with the provider's transfer id
// when it went through one) or failed (with a reason). ByProvider marks
// the settlement of a payout handed to the provider (StartTransfer): only
// such a settlement may settle it, so an operator cannot fail a payout
// whose transfer may have gone out.
type Settlement struct {
	Paid       bool
	Transfer   string
	Reason     string
	ByProvider bool
}

// transferMark is the settled_by of a pending payout handed to the payment
// provider; its transfer column holds the destination until it settles.
const transferMark = "~provider"

// StartTransfer hands a pending payout to the payment provider before the
// transfer is asked for: from then on only a settlement ByProvider settles
// it. It returns the payout and the destination recorded for it: the first
// hand-over's, whatever a retry names (a retry must ask the provider for
// the same transfer, under the same idempotency key), and whether it was
// handed over before (a retry: a transfer may already have gone out). A
// payout already settled is returned as it is (no destination). A frozen
// wallet's payout is not handed over (CodeWalletFrozen); one already
// handed over is, since its transfer may be under way.
func (l *Ledger) StartTransfer(ctx context.Context, by Actor, id uuid.UUID, destination string) (Payout, string, bool, error) {
	var p Payout
	var dest string
	var retry bool
	if !ValidRef(destination) {
		return p, "", false, errorf(CodeBadRequest, "destination must be 1..64 printable characters")
	}
	_, err := l.system(ctx, by.Region, "start transfer", uuid.Nil, func(ctx context.Context, t *txn) error {
		var err error
		if p, err = readPayout(ctx, t.tx, id); err != nil {
			return err
		}
		dest, retry = "", false
		switch {
		case p.Status != PayoutPending:
		case p.SettledBy == transferMark:
			dest = p.Transfer
			retry = true
		default:
			// A frozen wallet's payout goes nowhere (read in this
			// transaction: a debit racing it reruns one or the other).
			w, err := t.wallet(ctx, p.User)
			if err != nil {
				return err
			}
			if w.Frozen() {
				return frozen(w)
			}
			t.write(`UPDATE payouts SET settled_by = $2, transfer = $3 WHERE id = $1 AND status = 'pending' AND settled_by = ''`,
				id, transferMark, destination)
			dest = destination
		}
		return nil
	})
	return p.public(), dest, retry, err
}

// SettlePayout settles a pending payout once: paid, the held amount leaves
// the ledger (a payout entry: held, paying and earned -= amount); failed,
// it is released back to the host (payout_release). The update is guarded
// by the pending status, so of two settlements racing one wins and the
// other reruns: asked again with the same outcome it answers the payout as
// it is, with the other outcome it is refused (forbidden) and changes
// nothing. by names the operator (or "stripe") in the entry. A frozen
// wallet's payout is not paid by hand (CodeWalletFrozen): only the
// provider's settlement of a transfer it was handed may pay it.
func (l *Ledger) SettlePayout(ctx context.Context, by Actor, id uuid.UUID, s Settlement) (PayoutResult, error) {
	var res PayoutResult
	if !ValidUser(by.User) {
		return res, errorf(CodeBadRequest, "the settling operator must match [a-z0-9_-]{1,32}")
	}
	if len(s.Transfer) > 255 || len(s.Reason) > 500 {
		return res, errorf(CodeBadRequest, "transfer must be at most 255 and reason at most 500 characters")
	}
	want := PayoutFailed
	if s.Paid {
		want = PayoutPaid
	}
	_, err := l.system(ctx, by.Region, "settle payout", uuid.Nil, func(ctx context.Context, t *txn) error {
		t.by, t.ref = by.User, id.String()
		p, err := readPayout(ctx, t.tx, id)
		if err != nil {
			return err
		}
		if p.Status == PayoutPending && (p.SettledBy == transferMark) != s.ByProvider {
			if s.ByProvider {
				return errorf(CodeForbidden, "payout %s was not handed to the payment provider", id)
			}
			return errorf(CodeForbidden, "payout %s was handed to the payment provider: settle it through the provider again", id)
		}
		if p.Status == PayoutPending && s.Paid && !s.ByProvider {
			// Money leaves a frozen wallet only through a transfer already
			// handed to the provider (it may have gone out).
			w, err := t.wallet(ctx, p.User)
			if err != nil {
				return err
			}
			if w.Frozen() {
				return frozen(w)
			}
		}
		if p.Status != PayoutPending {
			if p.Status != want {
				return errorf(CodeForbidden, "payout %s was already settled %s", id, p.Status)
			}
			res.Payout = p
			res.Wallet, err = t.wallet(ctx, p.User)
			return err
		}
		t.write(`UPDATE payouts SET status = $2, settled_by = $3, transfer = $4, reason = $5, settled_at_ms = $6
WHERE id = $1 AND status = 'pending'`, id, want, by.User, s.Transfer, s.Reason, t.nowMS())
		kind := EntryPayoutRelease
		if s.Paid {
			kind = EntryPayout
		}
		if _, err := t.wallet(ctx, p.User); err != nil {
			return err
		}
		t.move(p.User, kind, p.Amount, nil, &p.ID)
		at := t.now.UTC().Truncate(time.Millisecond)
		p.Status, p.SettledBy, p.Transfer, p.Reason, p.SettledAt = want, by.User, s.Transfer, s.Reason, &at
		res.Payout = p
		res.Wallet, err = t.wallet(ctx, p.User)
		return err
	})
	res.Wallet.User = res.Payout.User
	return res, err
}

// debtReleaser is the settled_by of a payout the ledger released to pay a
// debt (releaseForDebt).
const debtReleaser = "ledger"

// releaseForDebt fails the user's pending payouts not yet handed to the
// payment provider, newest first, until need more is available or none is
// left: a refund or dispute is paid from earnings held for a payout before
// the wallet freezes. A payout handed to the provider stays: its transfer
// may have gone out. The update is guarded like SettlePayout's and by the
// hand-over mark, so a StartTransfer racing it makes one of them rerun.
func (t *txn) releaseForDebt(ctx context.Context, user string, need int64) error {
	rows, err := t.tx.Query(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE user_id = $1 AND status = $2 AND settled_by = ''
ORDER BY created_at_ms DESC, id`, user, PayoutPending)
	if err != nil {
		return fmt.Errorf("pending payouts of %s: %w", user, err)
	}
	var ps []Payout
	for rows.Next() {
		p, err := scanPayout(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("pending payouts of %s: %w", user, err)
		}
		ps = append(ps, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pending payouts of %s: %w", user, err)
	}
	for _, p := range ps {
		if need <= 0 {
			break
		}
		reason := fmt.Sprintf("released: the wallet owes %d minor units a refund or dispute took back", need)
		t.write(`UPDATE payouts SET status = $2, settled_by = $3, reason = $4, settled_at_ms = $5
WHERE id = $1 AND status = 'pending' AND settled_by = ''`, p.ID, PayoutFailed, debtReleaser, reason, t.nowMS())
		t.move(user, EntryPayoutRelease, p.Amount, nil, &p.ID)
		t.released = append(t.released, p.ID)
		need -= p.Amount
	}
	return nil
}

const payoutColumns = `id, user_id, amount, status, transfer, reason, settled_by, created_at_ms, settled_at_ms`

// public is the payout as callers see it: a pending payout handed to the
// provider shows as plain pending (its mark and destination are the
// ledger's business).
func (p Payout) public() Payout {
	if p.Status == PayoutPending {
		p.SettledBy, p.Transfer = "", ""
	}
	return p
}

func scanPayout(row pgx.Row) (Payout, error) {
	var p Payout
	var created, settled int64
	if err := row.Scan(&p.ID, &p.User, &p.Amount, &p.Status, &p.Transfer, &p.Reason, &p.SettledBy, &created, &settled); err != nil {
		return p, err
	}
	p.CreatedAt = time.UnixMilli(created).UTC()
	if settled > 0 {
		at := time.UnixMilli(settled).UTC()
		p.SettledAt = &at
	}
	return p, nil
}

func readPayout(ctx context.Context, q querier, id uuid.UUID) (Payout, error) {
	p, err := scanPayout(q.QueryRow(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, errorf(CodeNotFound, "no payout %s", id)
	}
	if err != nil {
		return p, fmt.Errorf("read payout %s: %w", id, err)
	}
	return p, nil
}

// PayoutByID returns one payout.
func (l *Ledger) PayoutByID(ctx context.Context, id uuid.UUID) (Payout, error) {
	var p Payout
	err := l.read(ctx, func() (err error) { p, err = readPayout(ctx, l.pool, id); return err })
	return p.public(), err
}

// Payouts lists payouts, newest first: a user's (user != ""), or every
// user's in a status (status != ""), at most limit.
func (l *Ledger) Payouts(ctx context.Context, user, status string, limit int) ([]Payout, error) {
	out := []Payout{}
	err := l.read(ctx, func() error {
		out = out[:0]
		// A user's payouts are read by their index (user_id, created_at_ms);
		// every user's (an operator's list) by a scan.
		sql := `SELECT ` + payoutColumns + ` FROM payouts WHERE user_id = $1 AND ($2 = '' OR status = $2)
ORDER BY created_at_ms DESC, id LIMIT $3`
		if user == "" {
			sql = `SELECT ` + payoutColumns + ` FROM payouts WHERE $1 = '' AND ($2 = '' OR status = $2)
ORDER BY created_at_ms DESC, id LIMIT $3`
		}
		rows, err := l.pool.Query(ctx, sql, user, status, limit)
		if err != nil {
			return fmt.Errorf("payouts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanPayout(rows)
			if err != nil {
				return fmt.Errorf("payouts: %w", err)
			}
			out = append(out, p.public())
		}
		return rows.Err()
	})
	return out, err
}
