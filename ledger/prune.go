package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pruneChunk is how many request records one pruning transaction deletes:
// well under DSQL's 3,000 modified rows per transaction.
const pruneChunk = 1000

// pruneMaxChunks bounds one PruneRequests call, so a large backlog is
// worked off over several passes instead of one long one.
const pruneMaxChunks = 100

// DefaultRequestRetention is how long a request's outcome is kept for
// idempotent retries unless configured otherwise.
const DefaultRequestRetention = 24 * time.Hour

// PruneRequests deletes the idempotency records (the requests table) older
// than retention, in transactions of at most pruneChunk rows, and returns
// how many it deleted. Within the retention a retry still gets its first
// outcome; after it, an id is forgotten and a request reusing it runs anew
// — so retention must be far longer than any client's retries.
//
// The records of money entering from outside (keys starting with "~":
// operator credits by reference, card top-ups by payment, provider events)
// are kept for good: a payment provider retries for days and an operator
// may repeat a reference at any time, and each must still credit once;
// refunds and disputes find a payment's user through its top-up's record
// (debit.go). There is one per outside payment, not per request.
func (l *Ledger) PruneRequests(ctx context.Context, retention time.Duration) (int, error) {
	if retention <= 0 {
		return 0, fmt.Errorf("prune requests: retention must be positive, got %v", retention)
	}
	cutoff := l.now().Add(-retention).UnixMilli()
	total := 0
	for chunk := 0; chunk < pruneMaxChunks; chunk++ {
		var n int64
		err := l.run(ctx, func(ctx context.Context, tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `DELETE FROM requests WHERE (user_id, request_id) IN
(SELECT user_id, request_id FROM requests WHERE at_ms < $1 AND user_id NOT LIKE '~%' LIMIT $2)`, cutoff, pruneChunk)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune requests: %w", err)
		}
		total += int(n)
		if n < pruneChunk {
			break
		}
	}
	return total, nil
}
