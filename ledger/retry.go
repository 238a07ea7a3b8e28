package ledger

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// retryable reports whether a failed attempt may run again from scratch.
//   - 40001 serialization failure: PostgreSQL's concurrent update under
//     REPEATABLE READ, and DSQL's OCC conflicts (OC000 data, OC001 schema).
//   - 40P01 deadlock (PostgreSQL only).
//   - 23505 unique violation: two attempts raced to insert the same request
//     id or user; the retry reads the winner's row.
//   - a broken connection, even during COMMIT: the outcome is unknown, and
//     the request id makes the retry return the first outcome instead of
//     applying the operation twice.
//
// 54000 (DSQL's transaction row/size limits) is never retried: it would fail
// the same way again.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01", "23505":
			return true
		case "57P01", "57P02", "57P03": // server shutting down or starting: a restart in progress
			return true
		case "XX000": // DSQL's transient "server unavailable": retry the whole transaction
			return strings.Contains(strings.ToLower(pgErr.Message), "server unavailable")
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection exceptions
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded)
}

// backoff is full-jitter exponential backoff: a random wait in
// [0, min(cap, base·2^attempt)), so racing retries spread out.
func backoff(attempt int) time.Duration {
	const base, limit = 2 * time.Millisecond, 100 * time.Millisecond
	d := base << min(attempt, 10)
	if d > limit {
		d = limit
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// read runs a read outside any transaction, again — on another connection
// — when the one it was given turned out broken (the server closed it
// while it sat in the pool) or the attempt otherwise failed in a way worth
// retrying. Reads change nothing: repeating one is always safe.
func (l *Ledger) read(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if err = fn(); err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// minAttempts is how many attempts an operation gets before the time bound
// may end it.
const minAttempts = 4

// run executes fn as one REPEATABLE READ transaction, retrying the whole
// transaction on conflict with fresh reads, up to the Options' bounds. fn
// must not keep state between attempts. When the bound is hit the caller
// gets CodeBusy and nothing changed.
func (l *Ledger) run(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return l.runOpening(ctx, nil, fn)
}

// opening queues, for each attempt, reads that travel with the BEGIN in
// one round trip, and returns what reads their results (in queue order).
type opening func(b *pgx.Batch) (read func(br pgx.BatchResults) error)

// runOpening is run whose attempts begin with open's reads.
func (l *Ledger) runOpening(ctx context.Context, open opening, fn func(ctx context.Context, tx pgx.Tx) error) error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := l.attempt(ctx, open, fn)
		var unknown *commitUnknown
		if errors.As(err, &unknown) && attempt < l.opts.MaxAttempts+3 {
			// The COMMIT may have happened: never answer busy ("nothing
			// changed") for it. The next attempt settles the question — a
			// replay of the stored outcome, or an idempotent state check.
			l.stats.conflicts.Add(1)
			l.stats.unknown.Add(1)
			continue
		}
		if err == nil {
			l.stats.commits.Add(1)
			return nil
		}
		if !retryable(err) {
			return err
		}
		l.stats.conflicts.Add(1)
		// The time bound needs a few attempts behind it: on a loaded machine
		// one slow attempt can spend it, and one unlucky abort (DSQL aborts
		// some commits whatever we do) must not answer busy.
		if attempt >= l.opts.MaxAttempts || time.Since(start) >= l.opts.MaxElapsed && attempt >= minAttempts {
			l.stats.busy.Add(1)
			l.log.Warn().Err(err).Int("attempts", attempt).Msg("ledger transaction gave up")
			return &Error{Code: CodeBusy, Message: "the ledger is busy; nothing changed, try again", Err: err}
		}
		t := time.NewTimer(backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// attempt opens the transaction as REPEATABLE READ (snapshot isolation, what
// DSQL provides) in the BEGIN itself; SET TRANSACTION and SERIALIZABLE are
// never used. With open, the BEGIN and open's reads go in one round trip
// (a distant commit makes every round trip count).
func (l *Ledger) attempt(ctx context.Context, open opening, fn func(ctx context.Context, tx pgx.Tx) error) error {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var b pgx.Batch
	b.BeginTx(pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	var read func(pgx.BatchResults) error
	if open != nil {
		read = open(&b)
	}
	br := conn.SendBatch(ctx, &b)
	tx := br.Tx()
	_, err = br.Exec()
	if err == nil && read != nil {
		err = read(br)
	}
	if closeErr := br.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = fn(ctx, tx)
	}
	if err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return err // the server answered: the transaction rolled back
		}
		return &commitUnknown{err}
	}
	if l.afterCommit != nil {
		if err := l.afterCommit(); err != nil {
			return &commitUnknown{err}
		}
	}
	return nil
}

// commitUnknown is a COMMIT whose outcome the client could not learn (the
// connection broke before the server's answer arrived).
type commitUnknown struct{ err error }

func (c *commitUnknown) Error() string { return "commit outcome unknown: " + c.err.Error() }
func (c *commitUnknown) Unwrap() error { return c.err }
