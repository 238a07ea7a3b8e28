package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

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

// do runs fn for actor as an idempotent operation in one OCC transaction.
// op names the operation and its arguments: the same id with other
// arguments is refused, never answered with another request's outcome. The
// first outcome under (actor.User, actor.RequestID) — the result, or a
// refusal that depends on ledger state — is stored in the transaction that
// decides it and returned to every later request with that id, which moves
// no money again. That holds even when a COMMIT's outcome was unknown: the
// retry finds the stored row. fn reads, decides, and queues writes on t; it
// must not keep state between attempts. do returns the events the first
// execution produced (none on a replay: the outbox relay owns those).
//
// lot, when not uuid.Nil, is the lot the operation works on: operations on
// one lot are decided in batches, one transaction each (see lotLines).
func (l *Ledger) do(ctx context.Context, a Actor, op string, lot uuid.UUID, result any, fn func(ctx context.Context, t *txn) error) ([]Event, error) {
	return l.doChecked(ctx, a, op, lot, result, nil, fn)
}

// doChecked is do with a settled check: settled, asked before joining the
// lot's queue, returns from memory a refusal that no later state can lift
// (sold out) for a request that cannot have another outcome. Such a
// request is refused without waiting behind the lot's writers, without a
// read and without a record — a retry under the same id meets the same
// settled state and gets the same answer.
func (l *Ledger) doChecked(ctx context.Context, a Actor, op string, lot uuid.UUID, result any,
	settled func(ctx context.Context, a Actor) *Error, fn func(ctx context.Context, t *txn) error) ([]Event, error) {
	if err := a.validate(); err != nil {
		return nil, err
	}
	if settled != nil {
		if e := settled(ctx, a); e != nil {
			return nil, e
		}
	}
	o := newOp(a, op, true, result, fn)
	l.submit(ctx, lot, o)
	return o.events, o.err
}

// system runs fn as an operation with no request record: the ticker's and
// closer's operations, which are idempotent by the state they check.
func (l *Ledger) system(ctx context.Context, region, name string, lot uuid.UUID, fn func(ctx context.Context, t *txn) error) ([]Event, error) {
	o := newOp(Actor{User: "", Region: region, RequestID: name}, name, false, nil, fn)
	l.submit(ctx, lot, o)
	return o.events, o.err
}
