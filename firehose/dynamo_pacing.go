package firehose

import (
	"time"

	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// TailerConfig tunes the DynamoDB stream tailer: how often it reads each
// shard, how often it saves where it is, and how it registers the node.
// Zero values mean the documented defaults.
type TailerConfig struct {
	// MaxPoll is the longest wait between two reads of an idle shard: the
	// wait after an empty read starts at DynamoConfig.Poll and doubles up to
	// it. Zero means 1s.
	MaxPoll time.Duration
	// ShardReadRate is how many GetRecords calls per second all nodes
	// together may make on one shard. Each node takes an equal share, as
	// the node registry counts them: while records flow a shard is read
	// again as soon as this node's share allows. Zero means 10 (two readers,
	// AWS's advice, at 5 a second each).
	ShardReadRate float64
	// CheckpointEvery is the shortest time between two checkpoint writes
	// after messages were delivered; a crash re-delivers at most about this
	// much. Zero means 1s.
	CheckpointEvery time.Duration
	// Heartbeat is how often the node renews its registration (and its
	// checkpoint) and counts the stream's readers; a registration not
	// renewed within three heartbeats lapses. Zero means 10s.
	Heartbeat time.Duration
	// AdvisedReaders is how many readers per shard AWS advises; past it the
	// node logs a warning (once each time the count goes past). Zero means 2.
	AdvisedReaders int
	// TailDelay is fault injection for tests: the tailer reads nothing for
	// this long after its first subscriber, so a client can join a restarted
	// node before it catches up from its checkpoint. Zero means none.
	TailDelay time.Duration
}

// DefaultShardReadRate is TailerConfig.ShardReadRate's default: two
// readers, AWS's advice, at 5 GetRecords calls a second each.
const DefaultShardReadRate = 10

// withDefaults fills the zero fields.
func (c TailerConfig) withDefaults() TailerConfig {
	if c.MaxPoll <= 0 {
		c.MaxPoll = time.Second
	}
	if c.ShardReadRate <= 0 {
		c.ShardReadRate = DefaultShardReadRate
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 10 * time.Second
	}
	if c.AdvisedReaders <= 0 {
		c.AdvisedReaders = 2
	}
	return c
}

// maxThrottleWait bounds the wait after a throttled read.
const maxThrottleWait = 5 * time.Second

// pacer decides when each shard is read next. It is the tail goroutine's.
type pacer struct {
	poll, maxPoll time.Duration // the idle wait's first step and bound
	rate          float64       // ShardReadRate: calls per second per shard, all nodes
}

// gap is the shortest time between two reads of a shard by this node: its
// share of the shard's read budget when `readers` nodes read it.
func (p pacer) gap(readers int) time.Duration {
	return time.Duration(float64(time.Second) * float64(max(readers, 1)) / p.rate)
}

// after sets when sh is read next, after a read at `at` that returned n
// records (or failed with err): at once within this node's share while
// records flow; after a wait that doubles from poll to maxPoll while the
// shard is idle; longer, up to maxThrottleWait, while it is throttled.
func (p pacer) after(sh *shard, at time.Time, n int, err error, readers int) {
	gap := p.gap(readers)
	var throttled *stypes.LimitExceededException
	switch {
	case err != nil && asErr(err, &throttled):
		sh.idle = min(max(sh.idle, p.poll)*2, maxThrottleWait)
	case err != nil:
		sh.idle = max(sh.idle, p.poll)
	case n > 0:
		sh.idle = 0
	case sh.idle == 0:
		sh.idle = p.poll
	default:
		sh.idle = min(sh.idle*2, p.maxPoll)
	}
	sh.read = at
	sh.due = at.Add(max(sh.idle, gap))
}

// wake makes an idle shard due again as soon as this node's share allows:
// this node just published a message its own subscribers get through the
// stream, so a record is on its way.
func (p pacer) wake(sh *shard, now time.Time, readers int) {
	sh.idle = 0
	due := sh.read.Add(p.gap(readers))
	if due.Before(now) {
		due = now
	}
	if due.Before(sh.due) {
		sh.due = due
	}
}
