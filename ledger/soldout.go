package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// soldOutLot is what a node remembers of a Dutch or drop lot it saw sold
// out: a settled fact, since a lot cannot un-sell. Which requests on it
// have an outcome is final by then too (every later one is sold out, a
// settled refusal that is never stored), so the node answers each later
// purchase request from memory: one with a stored outcome, or from a user
// who bought from the lot, goes through the ledger, which replays it; any
// other is sold out, with no read and no write. That is what keeps the
// thousands arriving after the last unit of a rush cheap.
type soldOutLot struct {
	kind string
	// decided are the requests on the lot with a stored outcome, and
	// buyers the users who bought from it; nil when there were too many
	// to keep, and then a request's record is looked up.
	decided map[requestKey]bool
	buyers  map[string]bool
}

// maxRemembered bounds a sold-out lot's memory: past it the node reads
// the request's record instead (still no write).
const maxRemembered = 100_000

// soldOut is the settled check of purchases on lot id of kind: a refusal
// when the lot is known sold out and the request did not buy from it, nil
// when the batch must decide.
func (l *Ledger) soldOut(id uuid.UUID, kind string) func(ctx context.Context, a Actor) *Error {
	return func(ctx context.Context, a Actor) *Error {
		v, known := l.soldOutLots.Load(id)
		if !known {
			return nil
		}
		s := v.(*soldOutLot)
		if s.kind != kind {
			return nil // the wrong mechanic: the transaction explains
		}
		if s.decided == nil {
			if _, found, err := loadRequest(ctx, l.pool, a); err != nil || found {
				return nil
			}
		} else if s.decided[requestKey{a.User, a.RequestID}] || s.buyers[a.User] {
			return nil
		}
		return errorf(CodeSoldOut, "lot %s is sold out", id)
	}
}

// noteSoldOut remembers lot, which a committed transaction saw sold out.
// A failed read only leaves it to be noted next time.
func (l *Ledger) noteSoldOut(ctx context.Context, lot *Lot) {
	if lot.Kind == KindEnglish || lot.Remaining() > 0 {
		return
	}
	if _, known := l.soldOutLots.Load(lot.ID); known {
		return
	}
	s := &soldOutLot{kind: lot.Kind}
	var err error
	if s.decided, s.buyers, err = l.decidedOn(ctx, lot.ID); err != nil {
		l.log.Warn().Err(err).Str("lot", lot.ID.String()).Msg("could not read a sold-out lot's requests")
		return
	}
	l.soldOutLots.Store(lot.ID, s)
}

// decidedOn reads the requests on a lot that have a stored outcome, and
// the users who bought from it (purchases from before requests named
// their lot are found this way); nil, nil past maxRemembered.
func (l *Ledger) decidedOn(ctx context.Context, lot uuid.UUID) (map[requestKey]bool, map[string]bool, error) {
	decided, buyers := map[requestKey]bool{}, map[string]bool{}
	rows, err := l.pool.Query(ctx, `SELECT user_id, request_id FROM requests WHERE lot_id = $1 LIMIT $2`, lot, maxRemembered+1)
	if err != nil {
		return nil, nil, fmt.Errorf("requests on lot %s: %w", lot, err)
	}
	for rows.Next() {
		var k requestKey
		if err := rows.Scan(&k.user, &k.id); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("requests on lot %s: %w", lot, err)
		}
		decided[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("requests on lot %s: %w", lot, err)
	}
	rows, err = l.pool.Query(ctx, `SELECT DISTINCT user_id FROM purchases WHERE lot_id = $1 LIMIT $2`, lot, maxRemembered+1)
	if err != nil {
		return nil, nil, fmt.Errorf("buyers of lot %s: %w", lot, err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, nil, fmt.Errorf("buyers of lot %s: %w", lot, err)
		}
		buyers[u] = true
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("buyers of lot %s: %w", lot, err)
	}
	if len(decided) > maxRemembered || len(buyers) > maxRemembered {
		return nil, nil, nil
	}
	return decided, buyers, nil
}
