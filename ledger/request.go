package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// errRejected aborts an attempt whose operation was refused by a business
// rule, so its reads roll back without holding anything; the refusal is then
// recorded on its own (see do).
var errRejected = errors.New("rejected")

type storedRequest struct {
	op      string
	ok      bool
	code    string
	message string
	result  string
}

func loadRequest(ctx context.Context, q querier, a Actor) (storedRequest, bool, error) {
	var r storedRequest
	err := q.QueryRow(ctx, `SELECT op, ok, code, message, result FROM requests WHERE user_id = $1 AND request_id = $2`,
		a.User, a.RequestID).Scan(&r.op, &r.ok, &r.code, &r.message, &r.result)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("read request: %w", err)
	}
	return r, true, nil
}

// replay turns a stored outcome back into the operation's result or error.
func (r storedRequest) replay(op string, result any) error {
	if r.op != op {
		return errorf(CodeBadRequest, "request id already used for another request (%s)", r.op)
	}
	if !r.ok {
		return &Error{Code: Code(r.code), Message: r.message}
	}
	if err := json.Unmarshal([]byte(r.result), result); err != nil {
		return fmt.Errorf("decode stored %s result: %w", op, err)
	}
	return nil
}

const insertRequestSQL = `INSERT INTO requests (user_id, request_id, op, ok, code, message, result, at_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// do runs fn for actor as one idempotent OCC transaction. op names the
// operation and its arguments: the same id with other arguments is refused,
// never answered with another request's outcome. The first outcome
// under (actor.User, actor.RequestID) — the result, or a refusal that
// depends on ledger state — is stored and returned to every later request
// with that id, which moves no money again. That holds even when a COMMIT's
// outcome was unknown: the retry finds the stored row. fn reads, decides,
// and queues writes on t; do flushes them with the request row and the
// outbox events. It returns the events the first execution produced (none
// on a replay: the outbox relay owns those).
//
// lot, when not uuid.Nil, is the lot the operation works on: operations on
// one lot take turns in this process (see lotQueues).
func (l *Ledger) do(ctx context.Context, a Actor, op string, lot uuid.UUID, result any, fn func(ctx context.Context, t *txn) error) ([]Event, error) {
	return l.doChecked(ctx, a, op, lot, result, nil, fn)
}

// doChecked is do with a settled check: settled, run before taking the
// lot's turn, returns a refusal that no later state can lift (sold out).
// Such a request is refused without waiting behind the lot's writers and
// without a record — a retry under the same id meets the same settled state
// and gets the same answer — so in a flash sale the thousands refused after
// the last unit cost two reads each, in parallel, and no commit.
func (l *Ledger) doChecked(ctx context.Context, a Actor, op string, lot uuid.UUID, result any,
	settled func(ctx context.Context) *Error, fn func(ctx context.Context, t *txn) error) ([]Event, error) {
	if err := a.validate(); err != nil {
		return nil, err
	}
	if settled != nil {
		// A read error here only skips the shortcut: the transaction below
		// retries what is transient.
		prior, found, err := loadRequest(ctx, l.pool, a)
		if err == nil && found {
			return nil, prior.replay(op, result)
		}
		if err == nil {
			if e := settled(ctx); e != nil {
				return nil, e
			}
		}
	}
	release, err := l.queues.acquire(ctx, lot)
	if err != nil {
		return nil, err
	}
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	var events []Event
	var refusal *Error
	err = l.run(ctx, func(ctx context.Context, tx pgx.Tx) error {
		events, refusal = nil, nil
		prior, found, err := loadRequest(ctx, tx, a)
		if err != nil {
			return err
		}
		if found {
			return prior.replay(op, result)
		}
		t := &txn{tx: tx, now: l.now(), actor: a}
		if err := fn(ctx, t); err != nil {
			var e *Error
			if errors.As(err, &e) && recordable(e.Code) {
				refusal = e
				return errRejected
			}
			return err
		}
		raw, err := json.Marshal(result)
		if err != nil {
			return fmt.Errorf("encode %s result: %w", op, err)
		}
		t.finishEvents()
		t.write(insertRequestSQL, a.User, a.RequestID, op, true, "", "", string(raw), t.nowMS())
		if err := t.flush(ctx); err != nil {
			return err
		}
		t.attachBalances()
		events = t.events
		return nil
	})
	if errors.Is(err, errRejected) {
		// The refusal's record touches no lot: the lot's next writer need
		// not wait for it.
		release()
		released = true
		return nil, l.recordRefusal(ctx, a, op, refusal, result)
	}
	if err != nil {
		return nil, err
	}
	return events, nil
}

// recordRefusal stores a refusal in a transaction of its own, after the
// refused attempt rolled back: the refused attempt never holds a lot's row
// while it commits, which keeps a sold-out rush cheap. If a concurrent
// duplicate of the same request stored an outcome first, that one wins and
// is returned.
func (l *Ledger) recordRefusal(ctx context.Context, a Actor, op string, refusal *Error, result any) error {
	var outcome error = refusal
	err := l.run(ctx, func(ctx context.Context, tx pgx.Tx) error {
		prior, found, err := loadRequest(ctx, tx, a)
		if err != nil {
			return err
		}
		if found {
			outcome = prior.replay(op, result)
			return nil
		}
		outcome = refusal
		_, err = tx.Exec(ctx, insertRequestSQL, a.User, a.RequestID, op, false, string(refusal.Code), refusal.Message, "", l.now().UnixMilli())
		return err
	})
	if err != nil {
		// The refusal itself stands (nothing changed); only its record failed.
		l.log.Warn().Err(err).Str("user", a.User).Str("request", a.RequestID).Msg("could not record refusal")
		return refusal
	}
	return outcome
}

// system runs fn as a transaction with no request record: the ticker's and
// closer's operations, which are idempotent by the state they check.
func (l *Ledger) system(ctx context.Context, region, name string, lot uuid.UUID, fn func(ctx context.Context, t *txn) error) ([]Event, error) {
	release, err := l.queues.acquire(ctx, lot)
	if err != nil {
		return nil, err
	}
	defer release()
	var events []Event
	err = l.run(ctx, func(ctx context.Context, tx pgx.Tx) error {
		events = nil
		t := &txn{tx: tx, now: l.now(), actor: Actor{User: "", Region: region, RequestID: name}}
		if err := fn(ctx, t); err != nil {
			return err
		}
		t.finishEvents()
		if err := t.flush(ctx); err != nil {
			return err
		}
		t.attachBalances()
		events = t.events
		return nil
	})
	return events, err
}
