package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// work is one transaction attempt, shared by every operation batched into
// it (group commit, see lotline.go): the writes they queued, sent in one
// round trip at flush, and what the attempt has read and changed so far.
//
// An operation decides against the state the earlier operations of its
// batch left, which the database cannot show yet (their writes are still
// queued), so the reads that decisions depend on go through these caches:
// each holds the row as read in the transaction's snapshot with the queued
// changes applied. An operation that is refused is rolled back to its mark
// and leaves nothing behind: no queued write, no cached change.
//
// The caches only spare reads; they decide nothing the database does not
// check again. Every write keeps its guard (the lot's version, the wallet's
// invariant, a hold's status), so a cache that was wrong would fail the
// flush, not commit a wrong row.
type work struct {
	tx    pgx.Tx
	now   time.Time
	batch pgx.Batch
	// scans reads the rows of queued writes that return one, by position
	// in batch, and collects those of writes that return several; nil for
	// plain writes. rowsOf is how many rows each write must affect or
	// return.
	scans    []func(pgx.Row) error
	collects []func(pgx.Rows) (int, error)
	rowsOf   []int
	// appends are rows of append-only tables, inserted at flush.
	appends []appended
	// moves are the changes to wallets, written at flush one statement
	// for all (walletwrites.go); moved counts them per wallet.
	moves []walletMove
	moved map[string]int
	// afterFlush runs once every queued write succeeded.
	afterFlush []func()

	lots      map[uuid.UUID]*Lot
	saves     []*Lot // lots to write at flush, once each, in first-save order
	wallets   map[string]*walletState
	holds     map[lotUser]*holdState
	purchased map[lotUser]*countState
	// credits are pendingCredits(host, except) as read: no operation of a
	// batch changes a lot other than its own, which is the one excepted.
	credits map[lotUser]int64

	undo []func()
}

// lotUser keys what the caches hold per lot and user.
type lotUser struct {
	lot  uuid.UUID
	user string
}

// walletState is a wallet as this transaction left it. Until it is read,
// only the changes queued so far are known (deltas); the read adds them.
type walletState struct {
	w     Wallet
	known bool
	delta Wallet // column and version changes not yet applied to w
}

type holdState struct {
	h       hold
	present bool // false: the user holds nothing on the lot
}

type countState struct {
	n     int64
	known bool
	delta int64
}

func newWork(tx pgx.Tx, now time.Time) *work {
	return &work{
		tx: tx, now: now,
		lots:      map[uuid.UUID]*Lot{},
		wallets:   map[string]*walletState{},
		holds:     map[lotUser]*holdState{},
		purchased: map[lotUser]*countState{},
		credits:   map[lotUser]int64{},
		moved:     map[string]int{},
	}
}

func (w *work) nowMS() int64 { return w.now.UnixMilli() }

// mark is a point an operation can be rolled back to.
type mark struct{ writes, undo, saves, appends, moves int }

// mark records the state before an operation: the queued writes, and a
// copy of every cached lot (operations change lots in place).
func (w *work) mark() mark {
	m := mark{writes: w.batch.Len(), undo: len(w.undo), saves: len(w.saves), appends: len(w.appends), moves: len(w.moves)}
	for _, l := range w.lots {
		w.keepLot(l)
	}
	return m
}

// keepLot makes a rollback restore l as it is now.
func (w *work) keepLot(l *Lot) {
	was := *l
	w.undo = append(w.undo, func() { *l = was })
}

// rollback undoes everything queued and cached since m.
func (w *work) rollback(m mark) {
	for i := len(w.undo) - 1; i >= m.undo; i-- {
		w.undo[i]()
	}
	w.undo = w.undo[:m.undo]
	w.batch.QueuedQueries = w.batch.QueuedQueries[:m.writes]
	w.scans = w.scans[:m.writes]
	w.collects = w.collects[:m.writes]
	w.rowsOf = w.rowsOf[:m.writes]
	w.saves = w.saves[:m.saves]
	w.appends = w.appends[:m.appends]
	w.unmove(m.moves)
}

// rows is how many rows the attempt would modify if flushed now: one per
// queued write, lot to save, appended row and changed wallet.
func (w *work) rows() int { return w.batch.Len() + len(w.saves) + len(w.appends) + len(w.moved) }

// write queues a statement that must affect exactly one row.
func (w *work) write(sql string, args ...any) {
	w.writeRows(1, sql, args...)
}

// writeRows queues a statement that must affect exactly n rows.
func (w *work) writeRows(n int, sql string, args ...any) {
	w.batch.Queue(sql, args...)
	w.scans = append(w.scans, nil)
	w.collects = append(w.collects, nil)
	w.rowsOf = append(w.rowsOf, n)
}

// writeCollect queues a statement that must return exactly n rows, which
// collect reads (and counts) when flush executes it.
func (w *work) writeCollect(n int, collect func(pgx.Rows) (int, error), sql string, args ...any) {
	w.batch.Queue(sql, args...)
	w.scans = append(w.scans, nil)
	w.collects = append(w.collects, collect)
	w.rowsOf = append(w.rowsOf, n)
}

// writeReturning queues a statement that must return exactly one row, which
// scan reads when flush executes it.
func (w *work) writeReturning(scan func(pgx.Row) error, sql string, args ...any) {
	w.batch.Queue(sql, args...)
	w.scans = append(w.scans, scan)
	w.collects = append(w.collects, nil)
	w.rowsOf = append(w.rowsOf, 1)
}

// maxTxRows keeps every transaction under DSQL's limit of 3,000 modified
// rows, counted by rows(): one per queued single-row write, saved lot,
// appended row and changed wallet; a batch stops taking operations before
// it would pass it,
// and work that could grow past it (seeding, relays) is chunked.
const maxTxRows = 3_000

// flush writes the saved lots, then executes the queued writes and checks
// each touched exactly one row.
func (w *work) flush(ctx context.Context) error {
	for _, l := range w.saves {
		w.write(saveLotSQL, l.ID, l.Version, l.Status, l.Seq, l.OpenedAtMS, l.ClosedAtMS, l.HighBid, l.HighBidder,
			l.HighMax, l.HighRegion, l.BidCount, l.EndsAtMS, l.HardEndAtMS, l.Price, l.StepIndex, l.NextTickAtMS,
			l.QtyClaimed, l.Proceeds, l.Winner)
	}
	w.saves = nil
	if rows := w.rows(); rows > maxTxRows {
		return &Error{Code: CodeLimitExceeded, Message: "the operation would change too many rows at once",
			Err: fmt.Errorf("%d rows written in one transaction, limit %d", rows, maxTxRows)}
	}
	w.queueWalletWrites()
	w.queueAppends()
	n := w.batch.Len()
	if n == 0 {
		return nil
	}
	br := w.tx.SendBatch(ctx, &w.batch)
	for i := 0; i < n; i++ {
		if scan := w.scans[i]; scan != nil {
			err := scan(br.QueryRow())
			if errors.Is(err, pgx.ErrNoRows) {
				_ = br.Close()
				return &Error{Code: CodeInternal, Message: "a ledger guard refused a write; nothing changed",
					Err: fmt.Errorf("statement %d of %d returned no row: %s", i+1, n, w.batch.QueuedQueries[i].SQL)}
			}
			if err != nil {
				_ = br.Close()
				return err
			}
			continue
		}
		if collect := w.collects[i]; collect != nil {
			rows, err := br.Query()
			var got int
			if err == nil {
				got, err = collect(rows)
				rows.Close()
			}
			if err == nil {
				err = rows.Err()
			}
			if err != nil {
				_ = br.Close()
				return err
			}
			if got != w.rowsOf[i] {
				_ = br.Close()
				return &Error{Code: CodeInternal, Message: "a ledger guard refused a write; nothing changed",
					Err: fmt.Errorf("statement %d of %d returned %d rows, not %d: %s", i+1, n, got, w.rowsOf[i], w.batch.QueuedQueries[i].SQL)}
			}
			continue
		}
		tag, err := br.Exec()
		if err != nil {
			_ = br.Close()
			return err
		}
		if want := int64(w.rowsOf[i]); tag.RowsAffected() != want {
			_ = br.Close()
			return &Error{Code: CodeInternal, Message: "a ledger guard refused a write; nothing changed",
				Err: fmt.Errorf("statement %d of %d affected %d rows, not %d: %s", i+1, n, tag.RowsAffected(), want, w.batch.QueuedQueries[i].SQL)}
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	for _, f := range w.afterFlush {
		f()
	}
	return nil
}

// loadLot returns the lot as this transaction left it, reading it once.
func (w *work) loadLot(ctx context.Context, id uuid.UUID) (*Lot, error) {
	if l, ok := w.lots[id]; ok {
		return l, nil
	}
	l, err := readLot(ctx, w.tx, id)
	if err != nil {
		return nil, err
	}
	w.lots[id] = l
	w.keepLot(l) // the operation reading it may change it, then be refused
	return l, nil
}

// saveLot queues l to be written at flush: once, however many operations
// of the batch changed it, guarded by the version the transaction read.
func (w *work) saveLot(l *Lot) {
	for _, s := range w.saves {
		if s == l {
			return
		}
	}
	w.saves = append(w.saves, l)
}

// wallet returns the wallet as this transaction left it.
func (w *work) wallet(ctx context.Context, user string) (Wallet, error) {
	st := w.wallets[user]
	if st != nil && st.known {
		return st.w, nil
	}
	read, err := readWallet(ctx, w.tx, user)
	if err != nil {
		return read, err
	}
	w.learnWallet(read)
	return w.wallets[user].w, nil
}

// learnWallet records a wallet as read in the transaction's snapshot, with
// any changes already queued for it applied.
func (w *work) learnWallet(read Wallet) {
	st := w.wallets[read.User]
	if st == nil {
		st = &walletState{}
		w.wallets[read.User] = st
	}
	if st.known {
		return
	}
	d := st.delta
	read.Funded += d.Funded
	read.Held += d.Held
	read.Spent += d.Spent
	read.Earned += d.Earned
	read.Owed += d.Owed
	read.Paying += d.Paying
	read.Version += d.Version
	*st = walletState{w: read, known: true}
}

// openWallet queues a new, empty wallet for user and caches it, so the
// rest of the transaction sees it.
func (w *work) openWallet(user string) Wallet {
	w.write(`INSERT INTO wallets (user_id, funded, held, spent, earned, created_at_ms, updated_at_ms)
VALUES ($1, 0, 0, 0, 0, $2, $2)`, user, w.nowMS())
	st, had := w.wallets[user]
	var was walletState
	if had {
		was = *st
	}
	w.undo = append(w.undo, func() {
		if had {
			*w.wallets[user] = was
		} else {
			delete(w.wallets, user)
		}
	})
	w.wallets[user] = &walletState{w: Wallet{User: user}, known: true}
	return Wallet{User: user}
}

// changeWallet applies one entry's delta to the cached wallet.
func (w *work) changeWallet(user string, d delta) {
	st := w.wallets[user]
	if st == nil {
		st = &walletState{}
		w.wallets[user] = st
	}
	was := *st
	w.undo = append(w.undo, func() { *st = was })
	target := &st.delta
	if st.known {
		target = &st.w
	}
	target.Funded += d.funded
	target.Held += d.held
	target.Spent += d.spent
	target.Earned += d.earned
	target.Owed += d.owed
	target.Paying += d.paying
	target.Version++
}

// activeHold returns the user's open hold on a lot as this transaction
// left it. An English lot's high bidder always has exactly one; a missing
// one is a broken invariant.
func (w *work) activeHold(ctx context.Context, lot uuid.UUID, user string) (hold, error) {
	key := lotUser{lot, user}
	st := w.holds[key]
	if st == nil {
		st = &holdState{}
		err := w.tx.QueryRow(ctx, `SELECT id, amount FROM holds WHERE lot_id = $1 AND user_id = $2 AND status = 'held'`,
			lot, user).Scan(&st.h.ID, &st.h.Amount)
		switch {
		case err == nil:
			st.present = true
		case !errors.Is(err, pgx.ErrNoRows):
			return hold{}, fmt.Errorf("read hold: %w", err)
		}
		w.holds[key] = st
	}
	if !st.present {
		return hold{}, &Error{Code: CodeInternal, Message: "the high bidder's hold is missing",
			Err: fmt.Errorf("no held hold for %s on lot %s", user, lot)}
	}
	return st.h, nil
}

// setHold records the user's open hold on lot (present false: none).
func (w *work) setHold(lot uuid.UUID, user string, h hold, present bool) {
	key := lotUser{lot, user}
	st, had := w.holds[key]
	var was holdState
	if had {
		was = *st
	} else {
		st = &holdState{}
		w.holds[key] = st
	}
	w.undo = append(w.undo, func() {
		if had {
			*st = was
		} else {
			delete(w.holds, key)
		}
	})
	*st = holdState{h: h, present: present}
}

// bought is how many units of lot user has bought, as this transaction
// left it.
func (w *work) bought(ctx context.Context, lot uuid.UUID, user string) (int64, error) {
	key := lotUser{lot, user}
	st := w.purchased[key]
	if st != nil && st.known {
		return st.n, nil
	}
	var n int64
	if err := w.tx.QueryRow(ctx, `SELECT COALESCE(SUM(qty), 0) FROM purchases WHERE lot_id = $1 AND user_id = $2`,
		lot, user).Scan(&n); err != nil {
		return 0, fmt.Errorf("read purchases: %w", err)
	}
	if st == nil {
		st = &countState{}
		w.purchased[key] = st
	}
	*st = countState{n: n + st.delta, known: true}
	return st.n, nil
}

// addBought counts qty more units of lot bought by user.
func (w *work) addBought(lot uuid.UUID, user string, qty int64) {
	key := lotUser{lot, user}
	st := w.purchased[key]
	if st == nil {
		st = &countState{}
		w.purchased[key] = st
	}
	was := *st
	w.undo = append(w.undo, func() { *st = was })
	if st.known {
		st.n += qty
	} else {
		st.delta += qty
	}
}
