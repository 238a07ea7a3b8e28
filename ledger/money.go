package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MaxAmount is the largest amount of minor units the ledger accepts in one
// field: 2^53-1, the largest integer a JSON number carries exactly. It also
// bounds every wallet: funded + earned (all the money a wallet ever took
// in) never passes it, so held, spent, available and every sum a wallet
// can reach stay within it too (held + spent <= funded + earned).
const MaxAmount int64 = 1<<53 - 1

// MaxQty bounds a lot's units so qty × price stays far from int64 overflow.
const MaxQty int64 = 1_000_000

func validAmount(name string, v int64) error {
	if v < 1 || v > MaxAmount {
		return errorf(CodeBadRequest, "%s must be between 1 and %d minor units", name, MaxAmount)
	}
	return nil
}

// mulAmount multiplies a unit price by a quantity, refusing results over
// MaxAmount instead of overflowing.
func mulAmount(price, qty int64) (int64, error) {
	if qty <= 0 || price <= 0 {
		return 0, errorf(CodeBadRequest, "price and quantity must be positive")
	}
	if price > MaxAmount/qty {
		return 0, errorf(CodeLimitExceeded, "total of %d × %d exceeds the largest amount", qty, price)
	}
	return price * qty, nil
}

// addBounded adds non-negative amounts, saturating at MaxAmount+1 so the
// result is never wrong by overflow: anything over MaxAmount is "too much".
func addBounded(vs ...int64) int64 {
	var sum int64
	for _, v := range vs {
		if v < 0 {
			v = 0
		}
		if v > MaxAmount || sum > MaxAmount-v {
			return MaxAmount + 1
		}
		sum += v
	}
	return sum
}

// inflow is what a wallet has taken in: funded + earned, saturated.
func (w Wallet) inflow() int64 { return addBounded(w.Funded, w.Earned) }

// pendingCredits is what the host is still owed by lots not yet settled:
// each Dutch or drop lot's accumulated proceeds, and each English lot's
// standing high maximum (the most its settlement can credit). except
// names a lot whose figure the caller supplies itself. Summed in Go,
// saturating, so no number of lots overflows it.
func (t *txn) pendingCredits(ctx context.Context, host string, except uuid.UUID) (int64, error) {
	// An operation of a batch changes only its own lot, the one excepted:
	// the sum of the host's other lots holds for the whole transaction.
	key := lotUser{except, host}
	if sum, ok := t.credits[key]; ok && except != uuid.Nil {
		return sum, nil
	}
	sum, err := t.readPendingCredits(ctx, host, except)
	if err == nil && except != uuid.Nil {
		t.credits[key] = sum
	}
	return sum, err
}

func (t *txn) readPendingCredits(ctx context.Context, host string, except uuid.UUID) (int64, error) {
	rows, err := t.tx.Query(ctx, pendingCreditsSQL, host)
	if err != nil {
		return 0, fmt.Errorf("pending credits of %q: %w", host, err)
	}
	sum, err := sumPendingCredits(rows, except)
	if err != nil {
		return 0, fmt.Errorf("pending credits of %q: %w", host, err)
	}
	return sum, nil
}

const pendingCreditsSQL = `SELECT id, kind, proceeds, high_bidder, high_max FROM lots
WHERE host = $1 AND status IN ('scheduled', 'open', 'closed')`

// sumPendingCredits adds up pendingCreditsSQL's rows, except one lot's.
func sumPendingCredits(rows pgx.Rows, except uuid.UUID) (int64, error) {
	defer rows.Close()
	var sum int64
	for rows.Next() {
		var id uuid.UUID
		var kind, bidder string
		var proceeds, highMax int64
		if err := rows.Scan(&id, &kind, &proceeds, &bidder, &highMax); err != nil {
			return 0, err
		}
		if id == except {
			continue
		}
		if kind == KindEnglish {
			if bidder != "" {
				sum = addBounded(sum, highMax)
			}
			continue
		}
		sum = addBounded(sum, proceeds)
	}
	return sum, rows.Err()
}

// requireInflowRoom refuses, with limit_exceeded, an operation after which
// user's wallet could be asked to take in more than MaxAmount: its inflow,
// what its unsettled lots owe it (except the lot the caller accounts for)
// and amount. Sales and bids check the host here, so the credit at
// settlement fits; deposits check it so they cannot take the room a
// pending settlement needs.
//
// Far from the bound the check is a read, so a host's lots keep selling
// concurrently without contending on the host's wallet. Past half the
// bound the operation also writes the wallet row (touchSQL): concurrent
// operations reserving room on the same wallet then conflict and rerun
// with fresh reads (OCC) instead of each spending the same room.
func (t *txn) requireInflowRoom(ctx context.Context, user string, except uuid.UUID, amount int64) error {
	w, err := t.wallet(ctx, user)
	if err != nil {
		return err
	}
	pending, err := t.pendingCredits(ctx, user, except)
	if err != nil {
		return err
	}
	total := addBounded(w.inflow(), pending, amount)
	if total > MaxAmount {
		return errorf(CodeLimitExceeded,
			"wallet %s would take in more than %d minor units (funded + earned %d, owed by unsettled lots %d, this %d)",
			user, MaxAmount, w.inflow(), pending, amount)
	}
	if total > MaxAmount/2 && !t.reserved[user] {
		if t.reserved == nil {
			t.reserved = map[string]bool{}
		}
		t.reserved[user] = true
		t.write(touchWalletSQL, user, t.nowMS())
	}
	return nil
}

// touchWalletSQL writes a wallet row without changing its money or version:
// it only puts the row in the transaction's write set.
const touchWalletSQL = `UPDATE wallets SET updated_at_ms = $2 WHERE user_id = $1`
