package ledger

import (
	"context"
	"encoding/binary"

	"github.com/google/uuid"
)

// lotStripes is the number of in-process queues operations on lots are
// spread over. Unrelated lots share a stripe with probability 1/lotStripes.
const lotStripes = 1024

// lotQueues serializes operations on one lot within this process before
// they reach the database. OCC stays the guarantee (other nodes still
// conflict, and correctness never depends on this), but on a hot lot the
// process no longer sends N transactions that all abort but one: they wait
// their turn here, so a flash sale costs one commit per purchase instead of
// a storm of retries that could end in busy.
type lotQueues []chan struct{}

func newLotQueues() lotQueues {
	q := make(lotQueues, lotStripes)
	for i := range q {
		q[i] = make(chan struct{}, 1)
	}
	return q
}

// acquire waits for the lot's turn, or for ctx. The returned func releases it.
func (q lotQueues) acquire(ctx context.Context, lot uuid.UUID) (func(), error) {
	if lot == uuid.Nil {
		return func() {}, nil
	}
	ch := q[binary.BigEndian.Uint64(lot[8:])%uint64(len(q))]
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
