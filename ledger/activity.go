package ledger

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// LotActivity is one user's part in one lot: what a "my activity" page
// shows. Amounts are minor units.
type LotActivity struct {
	Lot      *Lot
	Bids     int64 // bids of the user that led when placed (English)
	TopBid   int64 // the highest of them
	Bought   int64 // units claimed (Dutch) or bought (drop)
	Paid     int64 // what those units cost
	Held     int64 // open holds of the user on the lot (a leading English bid)
	Earned   int64 // proceeds credited to the user as the lot's host
	LastAtMS int64 // the user's latest money movement on the lot
}

// Standing says where the user stands on an English lot they bid on:
// "leading" or "outbid" while it runs, "won" or "lost" once it closed; ""
// for other kinds or when the user never bid.
func (a LotActivity) Standing(user string) string {
	l := a.Lot
	if l.Kind != KindEnglish || a.Bids == 0 {
		return ""
	}
	switch l.Status {
	case StatusOpen, StatusScheduled:
		if l.HighBidder == user {
			return "leading"
		}
		return "outbid"
	case StatusSettled:
		if l.Winner == user {
			return "won"
		}
		return "lost"
	default: // closed, settling: the high bidder wins if the reserve is met
		if l.HighBidder == user && l.ReserveMet() {
			return "won"
		}
		return "lost"
	}
}

// activityScan is how many of a user's latest entries Activity reads to
// find the lots they touched: it bounds the read however long the history.
const activityScan = 500

// Activity returns the lots user moved money on lately (bids hold funds,
// claims and purchases spend them, settlement credits hosts), newest
// first, at most limit, each with the user's part in it. It reads one
// snapshot (a read-only REPEATABLE READ transaction) so a lot and the
// user's bids, purchases and holds on it agree. Every query is keyed by
// an index: entries (user_id, at_ms), lots by id, bids (lot_id, seq),
// purchases (lot_id, user_id), holds (lot_id, status).
func (l *Ledger) Activity(ctx context.Context, user string, limit int) ([]LotActivity, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []LotActivity
	err := l.read(ctx, func() error {
		tx, err := l.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return fmt.Errorf("activity of %q: %w", user, err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		out, err = activityIn(ctx, tx, user, limit)
		if err != nil {
			return fmt.Errorf("activity of %q: %w", user, err)
		}
		return tx.Commit(ctx)
	})
	return out, err
}

func activityIn(ctx context.Context, tx pgx.Tx, user string, limit int) ([]LotActivity, error) {
	rows, err := tx.Query(ctx, `SELECT lot_id, kind, amount, at_ms FROM entries
WHERE user_id = $1 AND lot_id IS NOT NULL ORDER BY at_ms DESC, id LIMIT $2`, user, activityScan)
	if err != nil {
		return nil, err
	}
	byLot := map[uuid.UUID]*LotActivity{}
	var order []uuid.UUID
	for rows.Next() {
		var (
			lot        uuid.UUID
			kind       string
			amount, at int64
		)
		if err := rows.Scan(&lot, &kind, &amount, &at); err != nil {
			rows.Close()
			return nil, err
		}
		a := byLot[lot]
		if a == nil {
			if len(order) == limit {
				continue
			}
			a = &LotActivity{LastAtMS: at}
			byLot[lot] = a
			order = append(order, lot)
		}
		if kind == EntryCredit {
			a.Earned += amount
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(order) == 0 {
		return nil, nil
	}
	lotIn, lotArgs := inList(1, order)
	lotRows, err := tx.Query(ctx, `SELECT `+lotColumns+` FROM lots WHERE id IN `+lotIn, lotArgs...)
	if err != nil {
		return nil, err
	}
	for lotRows.Next() {
		var lot Lot
		if err := lotRows.Scan(lot.fields()...); err != nil {
			lotRows.Close()
			return nil, err
		}
		byLot[lot.ID].Lot = &lot
	}
	lotRows.Close()
	if err := lotRows.Err(); err != nil {
		return nil, err
	}
	in, args := inList(2, order)
	userArgs := append([]any{user}, args...)
	if err := eachRow(ctx, tx, `SELECT lot_id, COUNT(*), COALESCE(MAX(amount), 0) FROM bids
WHERE lot_id IN `+in+` AND user_id = $1 GROUP BY lot_id`, userArgs, func(a *LotActivity, n, top int64) {
		a.Bids, a.TopBid = n, top
	}, byLot); err != nil {
		return nil, err
	}
	// Per-row sums in Go: SUM of BIGINT is NUMERIC in SQL, which the ledger
	// never reads back.
	if err := eachRow(ctx, tx, `SELECT lot_id, qty, total FROM purchases WHERE lot_id IN `+in+` AND user_id = $1`,
		userArgs, func(a *LotActivity, qty, total int64) { a.Bought += qty; a.Paid += total }, byLot); err != nil {
		return nil, err
	}
	if err := eachRow(ctx, tx, `SELECT lot_id, amount, captured FROM holds
WHERE lot_id IN `+in+` AND status = 'held' AND user_id = $1`,
		userArgs, func(a *LotActivity, amount, captured int64) { a.Held += amount - captured }, byLot); err != nil {
		return nil, err
	}
	out := make([]LotActivity, 0, len(order))
	for _, id := range order {
		if a := byLot[id]; a.Lot != nil { // a lot is never deleted; this is belt and braces
			out = append(out, *a)
		}
	}
	return out, nil
}

// eachRow runs a query whose rows are (lot_id, x, y) and hands each to fn
// with that lot's activity.
func eachRow(ctx context.Context, tx pgx.Tx, sql string, args []any, fn func(*LotActivity, int64, int64), byLot map[uuid.UUID]*LotActivity) error {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			lot  uuid.UUID
			x, y int64
		)
		if err := rows.Scan(&lot, &x, &y); err != nil {
			return err
		}
		if a := byLot[lot]; a != nil {
			fn(a, x, y)
		}
	}
	return rows.Err()
}

// inList spells "($first, $first+1, …)" for ids, with their arguments:
// DSQL has no arrays, so no "= ANY($1)".
func inList(first int, ids []uuid.UUID) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, len(ids))
	b.WriteByte('(')
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", first+i)
		args = append(args, id)
	}
	b.WriteByte(')')
	return b.String(), args
}
