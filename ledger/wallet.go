package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Wallet is one user's balances in minor units. The double-spend invariant
// is Held + Spent <= Funded + Earned, i.e. Available() >= 0.
type Wallet struct {
	User   string `json:"-"`
	Funded int64  `json:"funded"`
	Held   int64  `json:"held"`
	Spent  int64  `json:"spent"`
	Earned int64  `json:"earned"`
	// Version rises by one with every change to the wallet: of two reads
	// of a wallet, the higher version is the newer.
	Version int64 `json:"version"`
	// Owed is what refunds and disputes took back that the wallet could not
	// cover (it was held or spent): while it is above zero the wallet is
	// frozen for bids, purchases and payouts (debit.go).
	Owed int64 `json:"owed,omitempty"`
	// Paying is the part of Held that pending payouts hold (payout.go).
	Paying int64 `json:"paying,omitempty"`
}

// Frozen reports whether the wallet owes money it could not cover.
func (w Wallet) Frozen() bool { return w.Owed > 0 }

// Available is what the user can still commit: funded + earned − held − spent.
func (w Wallet) Available() int64 { return w.Funded + w.Earned - w.Held - w.Spent }

func readWallet(ctx context.Context, q querier, user string) (Wallet, error) {
	w := Wallet{User: user}
	err := q.QueryRow(ctx, `SELECT funded, held, spent, earned, COALESCE(version, 0), COALESCE(owed, 0), COALESCE(paying, 0)
FROM wallets WHERE user_id = $1`, user).
		Scan(&w.Funded, &w.Held, &w.Spent, &w.Earned, &w.Version, &w.Owed, &w.Paying)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, errorf(CodeNotFound, "no user %q", user)
	}
	if err != nil {
		return w, fmt.Errorf("read wallet %q: %w", user, err)
	}
	return w, nil
}

// requireFunds refuses when the wallet cannot commit amount more, or is
// frozen: it owes what a refund or dispute took back (debit.go).
func requireFunds(w Wallet, amount int64) error {
	if w.Frozen() {
		return frozen(w)
	}
	if w.Available() < amount {
		return errorf(CodeInsufficientFunds, "needs %d available, wallet has %d", amount, w.Available())
	}
	return nil
}

// Wallet returns a user's wallet.
func (l *Ledger) Wallet(ctx context.Context, user string) (Wallet, error) {
	var w Wallet
	err := l.read(ctx, func() (err error) { w, err = readWallet(ctx, l.pool, user); return err })
	return w, err
}

// EnsureUser creates user with a wallet funded with balance (0 for an
// empty wallet; DemoBalance() for a demo user) unless the user exists. It
// reports whether it created the user. Safe to call concurrently.
func (l *Ledger) EnsureUser(ctx context.Context, user, region string, balance int64) (bool, error) {
	if !ValidUser(user) {
		return false, errorf(CodeBadRequest, "user must match [a-z0-9_-]{1,32}")
	}
	if !ValidRegion(region) {
		return false, errorf(CodeBadRequest, "region must match [a-z0-9-]{1,32}")
	}
	if balance != 0 {
		if err := validAmount("balance", balance); err != nil {
			return false, err
		}
	}
	var created bool
	_, err := l.system(ctx, region, "signup", uuid.Nil, func(ctx context.Context, t *txn) error {
		created = false
		_, err := t.wallet(ctx, user)
		if err == nil {
			return nil
		}
		if CodeOf(err) != CodeNotFound {
			return err
		}
		t.openWallet(user)
		t.move(user, EntryDeposit, balance, nil, nil)
		created = true
		return nil
	})
	return created, err
}

// DepositResult is the outcome of Deposit.
type DepositResult struct {
	Wallet Wallet `json:"wallet"`
}

// Deposit adds amount to the actor's funded balance.
func (l *Ledger) Deposit(ctx context.Context, a Actor, amount int64) (Wallet, error) {
	if err := validAmount("amount", amount); err != nil {
		return Wallet{}, err
	}
	var res DepositResult
	_, err := l.do(ctx, a, fmt.Sprintf("deposit amount=%d", amount), uuid.Nil, &res, func(ctx context.Context, t *txn) error {
		_, err := t.wallet(ctx, a.User)
		if err != nil {
			return err
		}
		// The room a deposit may take excludes what the user's own unsettled
		// lots will credit them: those settlements must still fit.
		if err := t.requireInflowRoom(ctx, a.User, uuid.Nil, amount); err != nil {
			return err
		}
		t.move(a.User, EntryDeposit, amount, nil, nil)
		if _, err := t.collect(ctx, a.User); err != nil {
			return err
		}
		res.Wallet, err = t.wallet(ctx, a.User)
		return err
	})
	res.Wallet.User = a.User
	return res.Wallet, err
}

// Entry is one movement of money, as stored in the append-only entries table.
type Entry struct {
	ID        uuid.UUID
	User      string
	Kind      string
	Amount    int64
	Lot       *uuid.UUID
	RequestID string
	Region    string
	At        time.Time
}

// Entries returns a user's most recent entries, newest first.
func (l *Ledger) Entries(ctx context.Context, user string, limit int) ([]Entry, error) {
	rows, err := l.pool.Query(ctx, `SELECT id, user_id, kind, amount, lot_id, request_id, region, at_ms
FROM entries WHERE user_id = $1 ORDER BY at_ms DESC, id LIMIT $2`, user, limit)
	if err != nil {
		return nil, fmt.Errorf("entries of %q: %w", user, err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var at int64
		if err := rows.Scan(&e.ID, &e.User, &e.Kind, &e.Amount, &e.Lot, &e.RequestID, &e.Region, &at); err != nil {
			return nil, fmt.Errorf("scan entry: %w", err)
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
