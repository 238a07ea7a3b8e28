package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// op is one operation waiting for its lot's turn, and then its outcome.
type op struct {
	actor Actor
	// name is the operation and its arguments, stored with its outcome;
	// record says whether it has one (system operations do not: they are
	// idempotent by the state they check).
	name   string
	record bool
	// forgetRefusals keeps refusals out of the record: a retry under the
	// same id is decided again (an operator's credit, refused for an
	// unknown user, goes through once the wallet exists).
	forgetRefusals bool
	result         any
	fn             func(ctx context.Context, t *txn) error

	// The outcome, set by the batch before done closes.
	events []Event
	err    error
	done   chan struct{}
	taken  bool // guarded by lotLines.mu: a batch has it

	t *txn // this attempt's part, while it is decided
}

func newOp(a Actor, name string, record bool, result any, fn func(ctx context.Context, t *txn) error) *op {
	return &op{actor: a, name: name, record: record, result: result, fn: fn, done: make(chan struct{})}
}

type requestKey struct{ user, id string }

func (o *op) key() requestKey { return requestKey{o.actor.User, o.actor.RequestID} }

// runBatch decides ops in one transaction, in order, each against the state
// the earlier ones left, and commits once. It returns the tail of ops the
// transaction had no room for (DSQL's row limit), which did not run.
//
// Each operation gets its own outcome, request record, entries and events:
// a stored outcome is replayed; a refusal rolls its operation back to its
// mark and records only the refusal; a success queues its writes. A
// conflict at commit reruns the whole batch on fresh state; as the request
// rows commit with the changes they record, no operation is applied twice.
// If the batch fails for a reason one of its operations caused (a guard
// refused a write), every operation is run again alone, so one cannot fail
// the others.
func (l *Ledger) runBatch(ctx context.Context, lot uuid.UUID, ops []*op) (rest []*op) {
	var w *work
	var stored map[requestKey]storedRequest
	open := func(b *pgx.Batch) func(pgx.BatchResults) error {
		w, stored = newWork(nil, l.now()), map[requestKey]storedRequest{}
		return l.prefetch(b, w, lot, ops, stored)
	}
	err := l.runOpening(ctx, open, func(ctx context.Context, tx pgx.Tx) error {
		rest = nil
		w.tx = tx
		for i, o := range ops {
			o.events, o.err, o.t = nil, nil, nil
			if prior, found := stored[o.key()]; found && o.record {
				o.err = prior.replay(o.name, o.result)
				continue
			}
			m := w.mark()
			t := &txn{work: w, actor: o.actor}
			err := o.fn(ctx, t)
			if err == nil {
				err = t.finish(o, lot)
			}
			if err == nil {
				o.t = t
			} else {
				w.rollback(m)
				var refusal *Error
				if !errors.As(err, &refusal) {
					return err // the database's trouble: the whole attempt
				}
				o.err = refusal
				if o.record && !o.forgetRefusals && recordable(refusal.Code) && !settledRefusal(refusal.Code) {
					w.insert(requestsTable, o.actor.User, o.actor.RequestID, o.name, false, string(refusal.Code), refusal.Message, "", w.nowMS(), lotOrNull(lot))
				}
			}
			if i > 0 && w.rows() > maxTxRows {
				// No room for this one: it and the rest wait for the next batch.
				w.rollback(m)
				o.err, o.t = nil, nil
				rest = ops[i:]
				break
			}
		}
		if l.beforeFlush != nil {
			l.beforeFlush()
		}
		if err := w.flush(ctx); err != nil {
			return err
		}
		for _, o := range ops {
			if o.t != nil {
				o.t.attachBalances()
				o.events, o.t = o.t.events, nil
			}
		}
		return nil
	})
	decided := len(ops) - len(rest)
	if err == nil {
		l.stats.operations.Add(int64(decided))
		if lot := w.lots[lot]; lot != nil {
			l.noteSoldOut(ctx, lot)
		}
		return rest
	}
	if e := (*Error)(nil); errors.As(err, &e) && decided > 1 && (e.Code == CodeInternal || e.Code == CodeLimitExceeded) {
		l.log.Warn().Err(err).Int("operations", decided).Msg("a batch failed; running its operations one by one")
		for _, o := range ops[:decided] {
			l.runBatch(ctx, lot, []*op{o})
		}
		return rest
	}
	for _, o := range ops[:decided] {
		o.events, o.err, o.t = nil, err, nil
	}
	return rest
}

// finish queues what every successful operation writes besides its own
// changes: its outbox events and, for a request, its stored outcome.
func (t *txn) finish(o *op, lot uuid.UUID) error {
	t.finishEvents()
	if !o.record {
		return nil
	}
	raw, err := json.Marshal(o.result)
	if err != nil {
		return fmt.Errorf("encode %s result: %w", o.name, err)
	}
	t.insert(requestsTable, o.actor.User, o.actor.RequestID, o.name, true, "", "", string(raw), t.nowMS(), lotOrNull(lot))
	return nil
}

// lotOrNull is a lot id as a nullable column: NULL for none.
func lotOrNull(lot uuid.UUID) *uuid.UUID {
	if lot == uuid.Nil {
		return nil
	}
	return &lot
}

// prefetch queues, to travel with the BEGIN, the reads a batch's
// operations will ask for: their stored outcomes, their lot (uuid.Nil:
// none), their actors' wallets and, once the lot's host is known, the
// host's wallet and pending credits. It returns what stores the results in
// w and stored. What it misses is read when asked: nothing depends on it
// but the number of round trips.
func (l *Ledger) prefetch(b *pgx.Batch, w *work, lot uuid.UUID, ops []*op, stored map[requestKey]storedRequest) func(pgx.BatchResults) error {
	var keys []requestKey
	users := map[string]bool{}
	var names []string
	addUser := func(u string) {
		if u != "" && !users[u] {
			users[u] = true
			names = append(names, u)
		}
	}
	for _, o := range ops {
		if o.record {
			keys = append(keys, o.key())
		}
		addUser(o.actor.User)
	}
	host := ""
	if lot != uuid.Nil {
		if h, ok := l.hosts.Load(lot); ok {
			host = h.(string)
			addUser(host)
		}
	}
	var reads []func(pgx.BatchResults) error
	if lot != uuid.Nil {
		b.Queue(`SELECT `+lotColumns+` FROM lots WHERE id = $1`, lot)
		reads = append(reads, func(br pgx.BatchResults) error {
			var read Lot
			err := br.QueryRow().Scan(read.fields()...)
			switch {
			case err == nil:
				w.lots[lot] = &read
				l.hosts.Store(lot, read.Host)
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("read lot %s: %w", lot, err)
			}
			return nil
		})
	}
	if len(keys) > 0 {
		args := make([]any, 0, 2*padded(len(keys)))
		for _, k := range keys {
			args = append(args, k.user, k.id)
		}
		for range padded(len(keys)) - len(keys) {
			args = append(args, nil, nil) // NULL joins nothing
		}
		b.Queue(`SELECT r.user_id, r.request_id, r.op, r.ok, r.code, r.message, r.result
FROM (VALUES `+placeholders(padded(len(keys)), 2, true)+`) AS k (user_id, request_id)
JOIN requests r ON r.user_id = k.user_id AND r.request_id = k.request_id`, args...)
		reads = append(reads, func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("read requests: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var k requestKey
				var r storedRequest
				if err := rows.Scan(&k.user, &k.id, &r.op, &r.ok, &r.code, &r.message, &r.result); err != nil {
					return fmt.Errorf("scan request: %w", err)
				}
				stored[k] = r
			}
			return rows.Err()
		})
	}
	if len(names) > 0 {
		args := make([]any, 0, padded(len(names)))
		for _, u := range names {
			args = append(args, u)
		}
		for range padded(len(names)) - len(names) {
			args = append(args, nil)
		}
		b.Queue(`SELECT w.user_id, w.funded, w.held, w.spent, w.earned, COALESCE(w.version, 0), COALESCE(w.owed, 0), COALESCE(w.paying, 0)
FROM (VALUES `+placeholders(padded(len(names)), 1, true)+`) AS k (user_id) JOIN wallets w ON w.user_id = k.user_id`, args...)
		reads = append(reads, func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("read wallets: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var wl Wallet
				if err := rows.Scan(&wl.User, &wl.Funded, &wl.Held, &wl.Spent, &wl.Earned, &wl.Version, &wl.Owed, &wl.Paying); err != nil {
					return fmt.Errorf("scan wallet: %w", err)
				}
				w.learnWallet(wl)
			}
			return rows.Err()
		})
	}
	if host != "" {
		b.Queue(pendingCreditsSQL, host)
		reads = append(reads, func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("pending credits of %q: %w", host, err)
			}
			sum, err := sumPendingCredits(rows, lot)
			if err != nil {
				return fmt.Errorf("pending credits of %q: %w", host, err)
			}
			w.credits[lotUser{lot, host}] = sum
			return nil
		})
	}
	return func(br pgx.BatchResults) error {
		for _, read := range reads {
			if err := read(br); err != nil {
				return err
			}
		}
		return nil
	}
}

// padded rounds n up to a power of two, so a batch's reads are one of a
// few statement texts (the drivers' statement caches stay small); the
// rows past n are NULLs, which match nothing.
func padded(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

// placeholders renders n groups of width parameters: ($1, $2), ($3, $4) …,
// or $1, $2 … for width 1 unless rows asks for ($1), ($2) … (VALUES rows).
func placeholders(n, width int, rows ...bool) string {
	group := width > 1 || len(rows) > 0 && rows[0]
	sb := make([]byte, 0, n*width*7)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb = append(sb, ", "...)
		}
		if group {
			sb = append(sb, '(')
		}
		for j := 0; j < width; j++ {
			if j > 0 {
				sb = append(sb, ", "...)
			}
			sb = append(sb, '$')
			sb = strconv.AppendInt(sb, int64(i*width+j+1), 10)
		}
		if group {
			sb = append(sb, ')')
		}
	}
	return string(sb)
}
