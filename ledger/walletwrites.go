package ledger

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// walletMove is one entry's change to a wallet, queued until flush.
type walletMove struct {
	t    *txn
	user string
	d    delta
}

// moveWallet queues d for user's wallet row; t is the operation that made
// the change (it gets the wallet as this change left it, for its events).
func (w *work) moveWallet(t *txn, user string, d delta) {
	w.moves = append(w.moves, walletMove{t, user, d})
	w.moved[user]++
}

// unmove forgets the moves queued since the first n (a rollback).
func (w *work) unmove(n int) {
	for _, m := range w.moves[n:] {
		if w.moved[m.user]--; w.moved[m.user] == 0 {
			delete(w.moved, m.user)
		}
	}
	w.moves = w.moves[:n]
}

// walletSum is every change a transaction makes to one wallet: the sum of
// its moves, and how many there were (the version rises by one per move).
type walletSum struct {
	user string
	d    delta
	n    int64
}

// queueWalletWrites writes every changed wallet once, whatever number of
// operations changed it: a batch of a thousand sales is a few set-based
// UPDATEs instead of a thousand statements. Each UPDATE restates the
// invariants on the row it commits (as updateWalletSQLFor says), must
// touch every wallet it names, and returns them as written; from those
// each operation is given its wallets as its own moves left them
// (walletsAfterMoves).
func (w *work) queueWalletWrites() {
	if len(w.moves) == 0 {
		return
	}
	var sums []*walletSum
	byUser := map[string]*walletSum{}
	for _, m := range w.moves {
		s := byUser[m.user]
		if s == nil {
			s = &walletSum{user: m.user}
			byUser[m.user] = s
			sums = append(sums, s)
		}
		s.d = s.d.plus(m.d)
		s.n++
	}
	finals := make(map[string]Wallet, len(sums))
	for len(sums) > 0 {
		n := chunkRows(len(sums))
		args := make([]any, 0, 2+n*walletWriteWidth)
		args = append(args, w.nowMS(), MaxAmount)
		for _, s := range sums[:n] {
			args = append(args, s.user, s.d.funded, s.d.held, s.d.spent, s.d.earned, s.d.owed, s.d.paying, s.n)
		}
		w.writeCollect(n, func(rows pgx.Rows) (int, error) {
			count := 0
			for rows.Next() {
				var wl Wallet
				var owed, paying *int64
				if err := rows.Scan(&wl.User, &wl.Funded, &wl.Held, &wl.Spent, &wl.Earned, &wl.Version, &owed, &paying); err != nil {
					return count, err
				}
				wl.Owed, wl.Paying = deref(owed), deref(paying)
				finals[wl.User] = wl
				count++
			}
			return count, nil // flush checks rows.Err
		}, walletWritesSQL.of(n), args...)
		sums = sums[n:]
	}
	w.afterFlush = append(w.afterFlush, func() { w.walletsAfterMoves(finals) })
}

// walletsAfterMoves gives each operation the wallets it changed as its
// last change to each left them: the row as written, less the changes
// later operations of the batch made.
func (w *work) walletsAfterMoves(finals map[string]Wallet) {
	for i := len(w.moves) - 1; i >= 0; i-- {
		m := w.moves[i]
		cur := finals[m.user]
		if m.t.balances == nil {
			m.t.balances = map[string]Wallet{}
		}
		if _, set := m.t.balances[m.user]; !set {
			m.t.balances[m.user] = cur
		}
		cur.Funded -= m.d.funded
		cur.Held -= m.d.held
		cur.Spent -= m.d.spent
		cur.Earned -= m.d.earned
		cur.Owed -= m.d.owed
		cur.Paying -= m.d.paying
		cur.Version--
		finals[m.user] = cur
	}
}

func (d delta) plus(e delta) delta {
	return delta{d.funded + e.funded, d.held + e.held, d.spent + e.spent, d.earned + e.earned, d.owed + e.owed, d.paying + e.paying}
}

// walletWritesSQL is updateWalletsSQL for each chunk size, rendered once.
var walletWritesSQL = renderChunks(updateWalletsSQL)

// walletWriteWidth is the parameters of one wallet in updateWalletsSQL.
const walletWriteWidth = 8

// updateWalletsSQL applies n wallets' summed changes: $1 is the time, $2
// MaxAmount, then per wallet (user, funded, held, spent, earned, owed,
// paying, moves). The WHERE clause restates the double-spend invariant on
// the row as it will commit, so even a logic error elsewhere cannot commit
// a wallet with held + spent > funded + earned: the wallet is not touched,
// the statement returns fewer rows than it names and flush aborts the
// transaction. No column may go below zero, and pending payouts stay
// within held (owed and paying NULL are 0 for wallets older than those
// columns). It restates the money bound the same way: a wallet that takes
// money in (funded + earned rise) may not pass MaxAmount, which with the
// invariant bounds every column; one whose money only goes out is never
// blocked by the bound. It returns the wallets as written, which the
// events carry to the owners' sessions (no read per push).
func updateWalletsSQL(n int) string {
	var sb strings.Builder
	sb.WriteString(`UPDATE wallets AS w SET
	funded = w.funded + d.funded, held = w.held + d.held, spent = w.spent + d.spent, earned = w.earned + d.earned,
	owed = COALESCE(w.owed, 0) + d.owed, paying = COALESCE(w.paying, 0) + d.paying,
	version = COALESCE(w.version, 0) + d.n, updated_at_ms = $1
FROM (VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		p := 3 + i*walletWriteWidth
		sb.WriteString("($" + strconv.Itoa(p) + "::TEXT")
		for j := 1; j < walletWriteWidth; j++ {
			sb.WriteString(", $" + strconv.Itoa(p+j) + "::BIGINT")
		}
		sb.WriteByte(')')
	}
	sb.WriteString(`) AS d (user_id, funded, held, spent, earned, owed, paying, n)
WHERE w.user_id = d.user_id
	AND w.held + d.held >= 0 AND w.funded + d.funded >= 0 AND w.earned + d.earned >= 0
	AND COALESCE(w.owed, 0) + d.owed >= 0 AND COALESCE(w.paying, 0) + d.paying >= 0
	AND COALESCE(w.paying, 0) + d.paying <= w.held + d.held
	AND w.held + d.held + w.spent + d.spent <= w.funded + d.funded + w.earned + d.earned
	AND (d.funded + d.earned <= 0 OR w.funded + d.funded + w.earned + d.earned <= $2)
RETURNING w.user_id, w.funded, w.held, w.spent, w.earned, w.version, w.owed, w.paying`)
	return sb.String()
}
