package firehose

import (
	"math"
	"time"
)

// StreamStats is what the DynamoDB firehose reports about its reading of
// the table's stream, for /metrics.
type StreamStats struct {
	// GetRecords counts this node's GetRecords calls, on all shards.
	GetRecords uint64
	// CallsPerShard is this node's GetRecords calls per second on its
	// busiest shard, over the last rateWindow.
	CallsPerShard float64
	// Shards is how many shards this node is reading now (open, and their
	// parents read to the end).
	Shards int
	// Readers is how many nodes are registered as reading the stream, this
	// one included; 0 until first counted.
	Readers int
	// AdvisedReaders is the readers per shard AWS advises.
	AdvisedReaders int
	// Delivered counts messages handed to subscribers.
	Delivered uint64
	// Duplicates counts social messages dropped because they were handed
	// over already (the stream delivered them again).
	Duplicates uint64
	// CheckpointWrites counts writes of this node's positions.
	CheckpointWrites uint64
}

// rateWindow is how long CallsPerShard averages over.
const rateWindow = 10 * time.Second

// StreamStats reports the tailer's reads.
func (d *Dynamo) StreamStats() StreamStats {
	ts := d.ts
	return StreamStats{
		GetRecords: ts.getRecords.Load(), CallsPerShard: math.Float64frombits(ts.busiest.Load()), Shards: int(ts.reading.Load()),
		Readers: int(ts.readers.Load()), AdvisedReaders: d.cfg.AdvisedReaders, Delivered: ts.delivered.Load(),
		Duplicates: ts.duplicates.Load(), CheckpointWrites: ts.checkpoints.Load(),
	}
}

// measure updates the shards being read and, once per rateWindow, the
// busiest shard's call rate. The tail goroutine calls it every round.
func (ts *tailState) measure(shards map[string]*shard, now time.Time) {
	reading, busiest := 0, 0
	for _, sh := range shards {
		if !sh.done && sh.readable {
			reading++
		}
		busiest = max(busiest, sh.calls)
	}
	ts.reading.Store(int64(reading))
	if ts.windowStart.IsZero() {
		ts.windowStart = now
		return
	}
	if elapsed := now.Sub(ts.windowStart); elapsed >= rateWindow {
		ts.busiest.Store(math.Float64bits(float64(busiest) / elapsed.Seconds()))
		for _, sh := range shards {
			sh.calls = 0
		}
		ts.windowStart = now
	}
}
