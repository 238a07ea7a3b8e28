package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestRetryableClassification(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40001", Message: "change conflicts with another transaction (OC000)"}, true},
		{&pgconn.PgError{Code: "40001", Message: "schema has been updated by another transaction (OC001)"}, true},
		{&pgconn.PgError{Code: "40P01"}, true},
		{&pgconn.PgError{Code: "23505"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "54000", Message: "transaction row limit exceeded"}, false},
		{&pgconn.PgError{Code: "23502"}, false},
		{fmt.Errorf("commit: %w", io.ErrUnexpectedEOF), true},
		{context.Canceled, false},
		{errorf(CodeSoldOut, "x"), false},
		{errors.New("plain"), false},
	}
	for _, c := range cases {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestBackoffIsBoundedAndJittered(t *testing.T) {
	seen := map[time.Duration]bool{}
	for attempt := 1; attempt < 40; attempt++ {
		d := backoff(attempt)
		if d <= 0 || d > 100*time.Millisecond {
			t.Fatalf("backoff(%d) = %v", attempt, d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatal("backoff is not jittered")
	}
}

// TestConflictsExhaustToBusy: an operation that conflicts on every attempt
// ends with busy after MaxAttempts, having changed nothing.
func TestConflictsExhaustToBusy(t *testing.T) {
	l := newLedger(t, func(o *Options) { o.MaxAttempts = 4 })
	ctx := context.Background()
	l.user("alice", 100)
	var attempts atomic.Int32
	err := l.run(ctx, func(ctx context.Context, tx pgx.Tx) error {
		attempts.Add(1)
		if _, err := tx.Exec(ctx, `UPDATE wallets SET funded = funded + 1 WHERE user_id = 'alice'`); err != nil {
			return err
		}
		return &pgconn.PgError{Code: "40001", Message: "conflict (OC000)"}
	})
	wantCode(t, err, CodeBusy)
	if attempts.Load() != 4 {
		t.Fatalf("attempts: %d", attempts.Load())
	}
	if w := l.wallet("alice"); w.Funded != 100 {
		t.Fatalf("a busy operation changed the wallet: %+v", w)
	}
	if s := l.Stats(); s.Busy != 1 || s.Conflicts != 4 {
		t.Fatalf("stats: %+v", s)
	}
}

// TestRealConflictIsRetried makes two transactions really collide on one
// row and checks the loser is retried to success with fresh reads.
func TestRealConflictIsRetried(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	l.user("alice", 100)
	var attempts atomic.Int32
	err := l.run(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var funded int64
		if err := tx.QueryRow(ctx, `SELECT funded FROM wallets WHERE user_id = 'alice'`).Scan(&funded); err != nil {
			return err
		}
		if attempts.Add(1) == 1 {
			// Another transaction commits a change to the row after our snapshot.
			if _, err := l.Pool().Exec(ctx, `UPDATE wallets SET updated_at_ms = updated_at_ms + 1 WHERE user_id = 'alice'`); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE wallets SET updated_at_ms = $1 WHERE user_id = 'alice' AND funded = $2`, 7, funded)
		return err
	})
	mustOK(t, err)
	if attempts.Load() != 2 {
		t.Fatalf("attempts: %d (the first must conflict with SQLSTATE 40001)", attempts.Load())
	}
}

func TestTransactionRowLimit(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	err := l.run(ctx, func(ctx context.Context, tx pgx.Tx) error {
		w := newWork(tx, time.Now())
		for i := 0; i <= maxTxRows; i++ {
			w.write(`UPDATE wallets SET held = held WHERE user_id = $1`, "nobody")
		}
		return w.flush(ctx)
	})
	wantCode(t, err, CodeLimitExceeded)
}
