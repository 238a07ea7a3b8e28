package firehose

import "context"

// Heartbeat is one session's presence refresh in one lot.
type Heartbeat struct {
	Lot     string
	Present Present
}

// Heartbeater refreshes many presence entries at once. Both firehoses'
// presences implement it: DynamoDB in BatchWriteItem calls of 25 puts (a
// node's heartbeat round is then a few dozen requests, not one per
// session and lot), Memory by looping.
type Heartbeater interface {
	JoinAll(ctx context.Context, beats []Heartbeat) error
}

func (p *memoryPresence) JoinAll(ctx context.Context, beats []Heartbeat) error {
	for _, b := range beats {
		if err := p.Join(ctx, b.Lot, b.Present); err != nil {
			return err
		}
	}
	return nil
}
