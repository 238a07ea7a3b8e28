package ledger

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// The invariants Audit checks, named as in ledger/README.md.
const (
	InvHighBid       = "high-bid"        // 1: bids rise strictly; exactly one high bidder holds funds
	InvNoOversell    = "no-oversell"     // 2: qty_claimed <= qty_total, and equals the purchases
	InvNoDoubleSpend = "no-double-spend" // 3: held + spent <= funded + earned, columns equal entries
	InvHolds         = "holds"           // holds are released or captured exactly once
	InvConserved     = "conserved"       // 4: every movement balances across the ledger
	InvBounded       = "bounded"         // 5: funded + earned <= MaxAmount for every wallet
	// InvOwed: a wallet's owed equals the refunds and disputes claimed on
	// its top-ups (each claim recorded once) less what was taken back.
	InvOwed = "owed"
	// InvPayouts: each payout is held once and paid or released at most
	// once; a wallet's paying equals its pending payouts.
	InvPayouts = "payouts"
)

// Violation is one broken invariant, with what was expected and what the
// stored state shows.
type Violation struct {
	Invariant string `json:"invariant"`
	Subject   string `json:"subject"`
	Expected  string `json:"expected"`
	Found     string `json:"found"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s: expected %s, found %s", v.Invariant, v.Subject, v.Expected, v.Found)
}

type auditor struct {
	tx  pgx.Tx
	out []Violation
	// users and lots are the key ranges this transaction checks, size
	// their most keys each.
	size  int
	users userRange
	lots  lotRange
	// Ledger-wide totals for invariant 4, summed in Go without a bound:
	// with many wallets they pass int64 even when every column is bounded,
	// and DSQL has no unbounded SQL type to sum them in.
	spent, earned, pending big.Int
	// paidOut and takenFromEarned are earnings that left the ledger
	// (payouts paid, debits of earnings): Σ spent counts them too.
	paidOut, takenFromEarned big.Int
}

// sqlSum is a SUM (or any integer) read from SQL. PostgreSQL returns
// SUM(bigint) as numeric, which can exceed int64; scanning it into an
// int64 would fail the whole audit. Scanned as numeric and clamped, a sum
// out of range is simply a value no bounded column can equal: reported as
// a violation, never an error.
type sqlSum struct{ pgtype.Numeric }

// int64 is the sum, saturated to the int64 range.
func (s *sqlSum) int64() int64 {
	if !s.Valid || s.NaN || s.InfinityModifier != pgtype.Finite || s.Int == nil {
		return 0
	}
	v := new(big.Int).Set(s.Int)
	if s.Exp > 0 {
		v.Mul(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s.Exp)), nil))
	} else if s.Exp < 0 {
		v.Quo(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-s.Exp)), nil))
	}
	switch {
	case v.IsInt64():
		return v.Int64()
	case v.Sign() > 0:
		return math.MaxInt64
	default:
		return math.MinInt64
	}
}

func (a *auditor) fail(inv, subject, expected, found string, args ...any) {
	a.out = append(a.out, Violation{Invariant: inv, Subject: subject,
		Expected: fmt.Sprintf(expected, args...), Found: found})
}

func (a *auditor) check(inv, subject string, want, got int64, what string) {
	if want != got {
		a.out = append(a.out, Violation{Invariant: inv, Subject: subject,
			Expected: fmt.Sprintf("%s = %d", what, want), Found: fmt.Sprintf("%d", got)})
	}
}

// defaultAuditChunk is how many wallets, and how many lots, one audit
// transaction reads: it keeps each transaction short, far inside DSQL's
// five-minute limit, however large the ledger grows.
const defaultAuditChunk = 2_000

// Audit checks every invariant from stored state and returns each
// violation found (none means the ledger is sound). It reads in chunks: each
// REPEATABLE READ, read-only transaction takes the next auditChunk wallets
// (by user) and the next auditChunk lots (by id) and checks them within its
// one snapshot — a wallet against all its entries and open holds, a lot
// against its purchases, bids, holds, entries and events — so every
// per-wallet and per-lot check is exact even while the ledger is live. The
// ledger-wide total of invariant 4 (Σ spent = Σ earned + pending
// proceeds) needs one snapshot of everything: it is checked when the whole
// ledger fits one transaction; beyond that it follows from the per-lot
// checks (each lot's spends equal its proceeds, credited once settled, and
// no credit goes anywhere but a lot's host) and the per-wallet ones (each
// column equals its entries). It reads whole tables in time: meant for
// tests, the proof and an operator's check, not for a hot path.
func (l *Ledger) Audit(ctx context.Context) ([]Violation, error) {
	a := &auditor{out: []Violation{}, size: l.auditChunk}
	usersDone, lotsDone := false, false
	for chunk := 0; !usersDone || !lotsDone; chunk++ {
		tx, err := l.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		a.tx = tx
		err = a.chunk(ctx, &usersDone, &lotsDone)
		_ = tx.Rollback(ctx) // read-only
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if chunk == 0 && usersDone && lotsDone {
			a.balance() // everything was in this one snapshot
		}
	}
	return a.out, nil
}

// chunk checks the next range of wallets and of lots in a.tx.
func (a *auditor) chunk(ctx context.Context, usersDone, lotsDone *bool) error {
	if !*usersDone {
		hi, err := nextBound[string](ctx, a.tx, `SELECT user_id FROM wallets WHERE user_id > $1 ORDER BY user_id OFFSET $2 LIMIT 1`, a.users.lo, a.size)
		if err != nil {
			return err
		}
		a.users.hi = hi
		if err := a.wallets(ctx); err != nil {
			return err
		}
		if err := a.holds(ctx); err != nil {
			return err
		}
		if hi == nil {
			*usersDone = true
		} else {
			a.users.lo = *hi
		}
	}
	if !*lotsDone {
		hi, err := nextBound[uuid.UUID](ctx, a.tx, `SELECT id FROM lots WHERE id > $1 ORDER BY id OFFSET $2 LIMIT 1`, a.lots.lo, a.size)
		if err != nil {
			return err
		}
		a.lots.hi = hi
		if err := a.lotChecks(ctx); err != nil {
			return err
		}
		if hi == nil {
			*lotsDone = true
		} else {
			a.lots.lo, a.lots.started = *hi, true
		}
	}
	return nil
}

// nextBound is the last key of the next chunk after lo, or nil when the
// rest fits one chunk (the range is then open above).
func nextBound[K any](ctx context.Context, tx pgx.Tx, sql string, lo K, size int) (*K, error) {
	var k K
	err := tx.QueryRow(ctx, sql, lo, size-1).Scan(&k)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// userRange is the users a chunk checks: above lo, up to hi (nil: all the
// rest). lotRange the same for lots, from the nil id.
type userRange struct {
	lo string
	hi *string
}

type lotRange struct {
	lo      uuid.UUID
	hi      *uuid.UUID
	started bool // past the first chunk
}

// in is the range as a predicate on col, with its two parameters.
func (r userRange) in(col string, first int) string {
	return fmt.Sprintf("(%s > $%d AND ($%d::text IS NULL OR %s <= $%d))", col, first, first+1, col, first+1)
}

func (r userRange) args() []any { return []any{r.lo, r.hi} }

func (r lotRange) in(col string, first int) string {
	return fmt.Sprintf("(%s > $%d AND ($%d::uuid IS NULL OR %s <= $%d))", col, first, first+1, col, first+1)
}

func (r lotRange) args() []any { return []any{r.lo, r.hi} }

// sums runs a "key, value" query into a map.
func sums[K comparable](ctx context.Context, tx pgx.Tx, sql string, args ...any) (map[K]int64, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[K]int64{}
	for rows.Next() {
		var k K
		var v sqlSum
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v.int64()
	}
	return out, rows.Err()
}

// wallets: invariant 3, and every wallet column equals the sum of its
// entries (walletDelta, stated again in SQL).
func (a *auditor) wallets(ctx context.Context) error {
	rows, err := a.tx.Query(ctx, `SELECT w.user_id, w.funded, w.held, w.spent, w.earned, COALESCE(w.owed, 0), COALESCE(w.paying, 0),
	COALESCE(SUM(CASE WHEN e.kind IN ('deposit', 'operator_credit', 'topup', 'dispute_reversal') THEN e.amount WHEN e.kind = 'debit' THEN -e.amount ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.kind IN ('hold', 'payout_hold') THEN e.amount WHEN e.kind IN ('release', 'capture', 'payout', 'payout_release') THEN -e.amount ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.kind IN ('capture', 'spend') THEN e.amount ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.kind = 'credit' THEN e.amount WHEN e.kind IN ('payout', 'debit_earned') THEN -e.amount ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.kind IN ('refund', 'dispute') THEN e.amount WHEN e.kind IN ('debit', 'debit_earned') THEN -e.amount ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.kind = 'payout_hold' THEN e.amount WHEN e.kind IN ('payout', 'payout_release') THEN -e.amount ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.kind = 'payout' THEN e.amount ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.kind = 'debit_earned' THEN e.amount ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.kind IN ('refund', 'dispute') THEN e.amount WHEN e.kind = 'dispute_reversal' THEN -e.amount ELSE 0 END), 0)
FROM wallets w LEFT JOIN entries e ON e.user_id = w.user_id
WHERE `+a.users.in("w.user_id", 1)+`
GROUP BY w.user_id, w.funded, w.held, w.spent, w.earned, w.owed, w.paying`, a.users.args()...)
	if err != nil {
		return err
	}
	defer rows.Close()
	claimedBy := map[string]int64{}
	for rows.Next() {
		var w Wallet
		var fs, hs, ss, es, os, ps, paid, fromEarned, claimed sqlSum
		if err := rows.Scan(&w.User, &w.Funded, &w.Held, &w.Spent, &w.Earned, &w.Owed, &w.Paying,
			&fs, &hs, &ss, &es, &os, &ps, &paid, &fromEarned, &claimed); err != nil {
			return err
		}
		f, h, s, e := fs.int64(), hs.int64(), ss.int64(), es.int64()
		a.spent.Add(&a.spent, big.NewInt(w.Spent))
		a.earned.Add(&a.earned, big.NewInt(w.Earned))
		a.paidOut.Add(&a.paidOut, big.NewInt(paid.int64()))
		a.takenFromEarned.Add(&a.takenFromEarned, big.NewInt(fromEarned.int64()))
		claimedBy[w.User] = claimed.int64()
		subj := "wallet " + w.User
		if w.Funded > MaxAmount || w.Held > MaxAmount || w.Spent > MaxAmount || w.Earned > MaxAmount ||
			w.Funded > MaxAmount-w.Earned {
			a.fail(InvBounded, subj, "every column and funded + earned <= %d", fmt.Sprintf("%+v", w), MaxAmount)
		}
		if w.Held < 0 || w.Spent < 0 || w.Funded < 0 || w.Earned < 0 || w.Owed < 0 || w.Paying < 0 {
			a.fail(InvNoDoubleSpend, subj, "no negative column", fmt.Sprintf("%+v", w))
		}
		// Compared in big integers: columns past the bound must not wrap.
		if new(big.Int).Add(big.NewInt(w.Held), big.NewInt(w.Spent)).Cmp(
			new(big.Int).Add(big.NewInt(w.Funded), big.NewInt(w.Earned))) > 0 {
			a.fail(InvNoDoubleSpend, subj, "held + spent <= funded + earned",
				fmt.Sprintf("held %d + spent %d > funded %d + earned %d", w.Held, w.Spent, w.Funded, w.Earned))
		}
		a.check(InvNoDoubleSpend, subj, f, w.Funded, "funded (deposit, operator_credit, topup and dispute_reversal entries − debit entries)")
		a.check(InvNoDoubleSpend, subj, h, w.Held, "held (hold + payout_hold − release − capture − payout − payout_release entries)")
		a.check(InvNoDoubleSpend, subj, s, w.Spent, "spent (capture + spend entries)")
		a.check(InvNoDoubleSpend, subj, e, w.Earned, "earned (credit − payout − debit_earned entries)")
		a.check(InvOwed, subj, os.int64(), w.Owed, "owed (refund + dispute − debit − debit_earned entries)")
		a.check(InvPayouts, subj, ps.int64(), w.Paying, "paying (payout_hold − payout − payout_release entries)")
		if w.Paying > w.Held {
			a.fail(InvPayouts, subj, "paying <= held", fmt.Sprintf("paying %d, held %d", w.Paying, w.Held))
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// Every refund, dispute or dispute_reversal entry is a claim recorded
	// once (debit.go, reversal.go).
	claims, err := sums[string](ctx, a.tx, `SELECT user_id, SUM(CASE WHEN kind = 'dispute_reversal' THEN -amount ELSE amount END)
FROM claims WHERE `+a.users.in("user_id", 1)+` GROUP BY user_id`, a.users.args()...)
	if err != nil {
		return err
	}
	for u, n := range claimedBy {
		a.check(InvOwed, "wallet "+u, claims[u], n, "refund + dispute − dispute_reversal entries (the claims recorded on its top-ups)")
	}
	if err := a.claimsWithinTopUps(ctx); err != nil {
		return err
	}
	if err := a.payouts(ctx); err != nil {
		return err
	}
	orphans, err := sums[string](ctx, a.tx, `SELECT e.user_id, COUNT(*) FROM entries e
WHERE `+a.users.in("e.user_id", 1)+` AND (NOT EXISTS (SELECT 1 FROM wallets w WHERE w.user_id = e.user_id) OR e.amount <= 0)
GROUP BY e.user_id`, a.users.args()...)
	if err != nil {
		return err
	}
	for u, n := range orphans {
		a.fail(InvConserved, "entries of "+u, "a positive amount on a known wallet", fmt.Sprintf("%d bad entries", n))
	}
	return nil
}

// holds: each hold's entries place it once and end it at most once; a
// wallet's held equals its open holds.
func (a *auditor) holds(ctx context.Context) error {
	rows, err := a.tx.Query(ctx, `SELECT h.id, h.user_id, h.amount, h.captured, h.status,
	COALESCE(SUM(CASE WHEN e.kind = 'hold' THEN e.amount ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.kind = 'release' THEN e.amount ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.kind = 'capture' THEN e.amount ELSE 0 END), 0)
FROM holds h LEFT JOIN entries e ON e.hold_id = h.id
WHERE `+a.users.in("h.user_id", 1)+`
GROUP BY h.id, h.user_id, h.amount, h.captured, h.status`, a.users.args()...)
	if err != nil {
		return err
	}
	defer rows.Close()
	openByUser := map[string]int64{}
	for rows.Next() {
		var id uuid.UUID
		var user, status string
		var amount, captured int64
		var heldSum, releasedSum, captSum sqlSum
		if err := rows.Scan(&id, &user, &amount, &captured, &status, &heldSum, &releasedSum, &captSum); err != nil {
			return err
		}
		held, released, capt := heldSum.int64(), releasedSum.int64(), captSum.int64()
		subj := fmt.Sprintf("hold %s of %s", id, user)
		a.check(InvHolds, subj, amount, held, "hold entries")
		switch status {
		case HoldHeld:
			openByUser[user] += amount
			a.check(InvHolds, subj, 0, released+capt, "release + capture entries of an open hold")
		case HoldReleased:
			a.check(InvHolds, subj, amount, released, "released exactly once")
			a.check(InvHolds, subj, 0, capt, "capture entries of a released hold")
		case HoldCaptured:
			a.check(InvHolds, subj, captured, capt, "captured exactly once")
			a.check(InvHolds, subj, amount-captured, released, "remainder released exactly once")
		default:
			a.fail(InvHolds, subj, "status held, released or captured", status)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	held, err := sums[string](ctx, a.tx, `SELECT user_id, held FROM wallets WHERE `+a.users.in("user_id", 1), a.users.args()...)
	if err != nil {
		return err
	}
	paying, err := sums[string](ctx, a.tx, `SELECT user_id, COALESCE(paying, 0) FROM wallets WHERE `+a.users.in("user_id", 1), a.users.args()...)
	if err != nil {
		return err
	}
	for u, h := range held {
		a.check(InvHolds, "wallet "+u, openByUser[u]+paying[u], h, "held (sum of open holds + pending payouts)")
	}
	return nil
}

// lotChecks: invariants 1 and 2 per lot, and 4 per lot.
func (a *auditor) lotChecks(ctx context.Context) error {
	in, args := a.lots.in, a.lots.args()
	rows, err := a.tx.Query(ctx, `SELECT `+lotColumns+` FROM lots WHERE `+in("id", 1), args...)
	if err != nil {
		return err
	}
	var lots []*Lot
	for rows.Next() {
		var l Lot
		if err := rows.Scan(l.fields()...); err != nil {
			rows.Close()
			return err
		}
		lots = append(lots, &l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	qty, err := sums[uuid.UUID](ctx, a.tx, `SELECT lot_id, SUM(qty) FROM purchases WHERE `+in("lot_id", 1)+` GROUP BY lot_id`, args...)
	if err != nil {
		return err
	}
	paid, err := sums[uuid.UUID](ctx, a.tx, `SELECT lot_id, SUM(total) FROM purchases WHERE `+in("lot_id", 1)+` GROUP BY lot_id`, args...)
	if err != nil {
		return err
	}
	spends, err := sums[uuid.UUID](ctx, a.tx, `SELECT lot_id, SUM(amount) FROM entries WHERE kind IN ('spend', 'capture') AND `+in("lot_id", 1)+` GROUP BY lot_id`, args...)
	if err != nil {
		return err
	}
	credits, err := sums[uuid.UUID](ctx, a.tx, `SELECT e.lot_id, SUM(e.amount) FROM entries e JOIN lots l ON l.id = e.lot_id
WHERE e.kind = 'credit' AND e.user_id = l.host AND `+in("e.lot_id", 1)+` GROUP BY e.lot_id`, args...)
	if err != nil {
		return err
	}
	// Credits on no lot at all are counted with the first chunk.
	stray, err := sums[string](ctx, a.tx, `SELECT e.user_id, SUM(e.amount) FROM entries e LEFT JOIN lots l ON l.id = e.lot_id
WHERE e.kind = 'credit' AND (l.id IS NULL OR e.user_id <> l.host) AND (`+in("e.lot_id", 1)+` OR (e.lot_id IS NULL AND NOT $3))
GROUP BY e.user_id`, append(args, a.lots.started)...)
	if err != nil {
		return err
	}
	for u, n := range stray {
		a.fail(InvConserved, "credits of "+u, "credits only to a lot's host", fmt.Sprintf("%d credited otherwise", n))
	}
	eventCount, err := sums[uuid.UUID](ctx, a.tx, `SELECT lot_id, COUNT(*) FROM lot_events WHERE `+in("lot_id", 1)+` GROUP BY lot_id`, args...)
	if err != nil {
		return err
	}
	eventMax, err := sums[uuid.UUID](ctx, a.tx, `SELECT lot_id, MAX(seq) FROM lot_events WHERE `+in("lot_id", 1)+` GROUP BY lot_id`, args...)
	if err != nil {
		return err
	}
	overLimit, err := a.overLimit(ctx)
	if err != nil {
		return err
	}
	bids, err := a.bidHistories(ctx)
	if err != nil {
		return err
	}
	holds, err := a.lotHolds(ctx)
	if err != nil {
		return err
	}
	for _, l := range lots {
		subj := fmt.Sprintf("lot %s (%s)", l.ID, l.Kind)
		// Every seq up to the lot's is in the outbox: no event is ever skipped.
		if eventCount[l.ID] != l.Seq || eventMax[l.ID] != l.Seq {
			a.fail(InvConserved, subj, "events 1..%d in the outbox", fmt.Sprintf("%d events, highest seq %d", eventCount[l.ID], eventMax[l.ID]), l.Seq)
		}
		for _, u := range overLimit[l.ID] {
			a.fail(InvNoOversell, subj, "at most %d per buyer", "over the limit: "+u, l.PerUserLimit)
		}
		if l.QtyClaimed < 0 || l.QtyClaimed > l.QtyTotal {
			a.fail(InvNoOversell, subj, "0 <= qty_claimed <= qty_total",
				fmt.Sprintf("qty_claimed %d of qty_total %d", l.QtyClaimed, l.QtyTotal))
		}
		settled := l.Status == StatusSettled
		if !settled {
			a.pending.Add(&a.pending, big.NewInt(l.Proceeds))
		}
		if settled {
			a.check(InvConserved, subj, l.Proceeds, credits[l.ID], "host credit (proceeds)")
		} else {
			a.check(InvConserved, subj, 0, credits[l.ID], "host credit before settlement")
		}
		if l.Kind == KindEnglish {
			a.english(l, subj, bids[l.ID], holds[l.ID])
			a.check(InvConserved, subj, l.Proceeds, spends[l.ID], "winner's capture (proceeds)")
			continue
		}
		a.check(InvNoOversell, subj, qty[l.ID], l.QtyClaimed, "qty_claimed (sum of purchases)")
		a.check(InvConserved, subj, paid[l.ID], l.Proceeds, "proceeds (sum of purchases)")
		a.check(InvConserved, subj, paid[l.ID], spends[l.ID], "buyers' spend entries (sum of purchases)")
		if len(holds[l.ID]) > 0 {
			a.fail(InvHolds, subj, "no holds on a %s lot", fmt.Sprintf("%d holds", len(holds[l.ID])), l.Kind)
		}
	}
	return nil
}

// overLimit lists, per drop, the buyers whose purchases pass its per-user limit.
func (a *auditor) overLimit(ctx context.Context) (map[uuid.UUID][]string, error) {
	rows, err := a.tx.Query(ctx, `SELECT p.lot_id, p.user_id FROM purchases p JOIN lots l ON l.id = p.lot_id
WHERE l.per_user_limit > 0 AND `+a.lots.in("p.lot_id", 1)+`
GROUP BY p.lot_id, p.user_id, l.per_user_limit HAVING SUM(p.qty) > l.per_user_limit`, a.lots.args()...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uuid.UUID][]string{}
	for rows.Next() {
		var id uuid.UUID
		var u string
		if err := rows.Scan(&id, &u); err != nil {
			return nil, err
		}
		out[id] = append(out[id], u)
	}
	return out, rows.Err()
}

type bidRow struct {
	seq    int64
	user   string
	amount int64
}

type holdRow struct {
	user             string
	amount, captured int64
	status           string
}

func (a *auditor) bidHistories(ctx context.Context) (map[uuid.UUID][]bidRow, error) {
	rows, err := a.tx.Query(ctx, `SELECT lot_id, seq, user_id, amount FROM bids WHERE `+a.lots.in("lot_id", 1)+` ORDER BY lot_id, seq`, a.lots.args()...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uuid.UUID][]bidRow{}
	for rows.Next() {
		var id uuid.UUID
		var b bidRow
		if err := rows.Scan(&id, &b.seq, &b.user, &b.amount); err != nil {
			return nil, err
		}
		out[id] = append(out[id], b)
	}
	return out, rows.Err()
}

func (a *auditor) lotHolds(ctx context.Context) (map[uuid.UUID][]holdRow, error) {
	rows, err := a.tx.Query(ctx, `SELECT lot_id, user_id, amount, captured, status FROM holds WHERE `+a.lots.in("lot_id", 1), a.lots.args()...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uuid.UUID][]holdRow{}
	for rows.Next() {
		var id uuid.UUID
		var h holdRow
		if err := rows.Scan(&id, &h.user, &h.amount, &h.captured, &h.status); err != nil {
			return nil, err
		}
		out[id] = append(out[id], h)
	}
	return out, rows.Err()
}

// english checks invariant 1 for one lot: its bid history rises strictly
// and ends at the lot's high bid and bidder, and exactly the high bidder
// holds funds (nobody once settled; the winner's hold captured at the price).
func (a *auditor) english(l *Lot, subj string, bids []bidRow, holds []holdRow) {
	for i := 1; i < len(bids); i++ {
		if bids[i].amount <= bids[i-1].amount {
			a.fail(InvHighBid, subj, "bids strictly rising",
				fmt.Sprintf("bid seq %d of %d after seq %d of %d", bids[i].seq, bids[i].amount, bids[i-1].seq, bids[i-1].amount))
		}
	}
	a.check(InvHighBid, subj, int64(len(bids)), l.BidCount, "bid_count (bids recorded)")
	if n := len(bids); n > 0 {
		last := bids[n-1]
		if last.user != l.HighBidder || last.amount != l.HighBid {
			a.fail(InvHighBid, subj, "high bidder %s at %d (the last bid)",
				fmt.Sprintf("%q at %d", l.HighBidder, l.HighBid), last.user, last.amount)
		}
	} else if l.HighBidder != "" || l.HighBid != 0 {
		a.fail(InvHighBid, subj, "no high bidder without bids", fmt.Sprintf("%q at %d", l.HighBidder, l.HighBid))
	}
	var open []holdRow
	for _, h := range holds {
		if h.status == HoldHeld {
			open = append(open, h)
		}
	}
	switch {
	case l.Status == StatusSettled:
		if len(open) != 0 {
			a.fail(InvHighBid, subj, "no open holds after settlement", fmt.Sprintf("%d open holds", len(open)))
		}
	case l.HighBidder == "":
		if len(open) != 0 {
			a.fail(InvHighBid, subj, "no open holds without a high bidder", fmt.Sprintf("%d open holds", len(open)))
		}
	default:
		if len(open) != 1 || open[0].user != l.HighBidder {
			a.fail(InvHighBid, subj, "exactly one open hold, by high bidder %s", fmt.Sprintf("%+v", open), l.HighBidder)
		} else if open[0].amount != l.HighMax || l.HighMax < l.HighBid {
			a.fail(InvHighBid, subj, "the high bidder's hold = their maximum %d >= high bid %d",
				fmt.Sprintf("hold %d", open[0].amount), l.HighMax, l.HighBid)
		}
	}
	if l.Status == StatusSettled {
		want := ""
		if l.ReserveMet() {
			want = l.HighBidder
		}
		if l.Winner != want {
			a.fail(InvHighBid, subj, "winner %q (the high bidder, when the reserve is met)", fmt.Sprintf("%q", l.Winner), want)
		}
	}
	if l.Winner != "" {
		var captured []holdRow
		for _, h := range holds {
			if h.status == HoldCaptured {
				captured = append(captured, h)
			}
		}
		if len(captured) != 1 || captured[0].user != l.Winner || captured[0].captured != l.HighBid {
			a.fail(InvHighBid, subj, "one captured hold by winner %s at %d", fmt.Sprintf("%+v", captured), l.Winner, l.HighBid)
		}
	}
}

// balance: invariant 4. Money enters only by deposit, operator credit or
// top-up, and leaves only by debits (refunds, disputes) and payouts; every
// spend or capture is owed to a host, and is either credited (settled lots)
// or still pending as an unsettled lot's proceeds. Credited earnings stay
// in earned or left the ledger (paid out, or taken back by a debit).
func (a *auditor) balance() {
	owed := new(big.Int).Add(&a.earned, &a.pending)
	owed.Add(owed, &a.paidOut)
	owed.Add(owed, &a.takenFromEarned)
	if a.spent.Cmp(owed) != 0 {
		a.fail(InvConserved, "ledger", "total spent = total earned + paid out + debited from earnings + pending proceeds (%s + %s + %s + %s)",
			"total spent "+a.spent.String(), a.earned.String(), a.paidOut.String(), a.takenFromEarned.String(), a.pending.String())
	}
}

// claimsWithinTopUps: what is claimed back on a payment (refunds and
// disputes less their reversals) never passes its top-up, and every claim
// names the user the top-up credited.
func (a *auditor) claimsWithinTopUps(ctx context.Context) error {
	type claimed struct {
		users  map[string]bool
		amount int64
	}
	rows, err := a.tx.Query(ctx, `SELECT payment, user_id, SUM(CASE WHEN kind = 'dispute_reversal' THEN -amount ELSE amount END)
FROM claims WHERE `+a.users.in("user_id", 1)+` GROUP BY payment, user_id`, a.users.args()...)
	if err != nil {
		return err
	}
	byPayment := map[string]*claimed{}
	for rows.Next() {
		var payment, user string
		var n sqlSum
		if err := rows.Scan(&payment, &user, &n); err != nil {
			rows.Close()
			return err
		}
		c := byPayment[payment]
		if c == nil {
			c = &claimed{users: map[string]bool{}}
			byPayment[payment] = c
		}
		c.users[user] = true
		c.amount += n.int64()
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	type topUp struct {
		user   string
		amount int64
		count  int
	}
	topUps := map[string]*topUp{}
	rows, err = a.tx.Query(ctx, `SELECT request_id, user_id, amount FROM entries WHERE kind = 'topup' AND request_id IN
(SELECT payment FROM claims WHERE `+a.users.in("user_id", 1)+`)`, a.users.args()...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var payment, user string
		var amount int64
		if err := rows.Scan(&payment, &user, &amount); err != nil {
			rows.Close()
			return err
		}
		tu := topUps[payment]
		if tu == nil {
			tu = &topUp{}
			topUps[payment] = tu
		}
		tu.user, tu.amount, tu.count = user, tu.amount+amount, tu.count+1
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for payment, c := range byPayment {
		subj := "claims on payment " + payment
		tu := topUps[payment]
		if tu == nil || tu.count != 1 {
			n := 0
			if tu != nil {
				n = tu.count
			}
			a.fail(InvOwed, subj, "one topup entry for the payment", fmt.Sprintf("%d topup entries", n))
			continue
		}
		for u := range c.users {
			if u != tu.user {
				a.fail(InvOwed, subj, "claims on the user its top-up credited (%s)", u, tu.user)
			}
		}
		if c.amount > tu.amount || c.amount < 0 {
			a.fail(InvOwed, subj, "0 <= claimed <= the top-up (%d)", fmt.Sprintf("claimed %d", c.amount), tu.amount)
		}
	}
	return nil
}

// payouts: each payout's entries hold it once and settle it as its status
// says, at most once; a wallet's paying is its pending payouts.
func (a *auditor) payouts(ctx context.Context) error {
	rows, err := a.tx.Query(ctx, `SELECT p.id, p.user_id, p.amount, p.status,
	COALESCE(SUM(CASE WHEN e.kind = 'payout_hold' THEN e.amount ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.kind = 'payout' THEN e.amount ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN e.kind = 'payout_release' THEN e.amount ELSE 0 END), 0)
FROM payouts p LEFT JOIN entries e ON e.hold_id = p.id AND e.user_id = p.user_id
WHERE `+a.users.in("p.user_id", 1)+`
GROUP BY p.id, p.user_id, p.amount, p.status`, a.users.args()...)
	if err != nil {
		return err
	}
	defer rows.Close()
	pending := map[string]int64{}
	for rows.Next() {
		var id uuid.UUID
		var user, status string
		var amount int64
		var heldSum, paidSum, releasedSum sqlSum
		if err := rows.Scan(&id, &user, &amount, &status, &heldSum, &paidSum, &releasedSum); err != nil {
			return err
		}
		subj := fmt.Sprintf("payout %s of %s", id, user)
		paid, released := paidSum.int64(), releasedSum.int64()
		a.check(InvPayouts, subj, amount, heldSum.int64(), "payout_hold entries (held once)")
		switch status {
		case PayoutPending:
			pending[user] += amount
			a.check(InvPayouts, subj, 0, paid+released, "payout + payout_release entries of a pending payout")
		case PayoutPaid:
			a.check(InvPayouts, subj, amount, paid, "paid exactly once")
			a.check(InvPayouts, subj, 0, released, "payout_release entries of a paid payout")
		case PayoutFailed:
			a.check(InvPayouts, subj, amount, released, "released exactly once")
			a.check(InvPayouts, subj, 0, paid, "payout entries of a failed payout")
		default:
			a.fail(InvPayouts, subj, "status pending, paid or failed", status)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	paying, err := sums[string](ctx, a.tx, `SELECT user_id, COALESCE(paying, 0) FROM wallets WHERE `+a.users.in("user_id", 1), a.users.args()...)
	if err != nil {
		return err
	}
	for u, p := range paying {
		a.check(InvPayouts, "wallet "+u, pending[u], p, "paying (sum of pending payouts)")
	}
	return nil
}
