package firehose

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// keepRegistered is the node item's only writer while the tailer runs
// (dynamo_checkpoint.go describes the item). It registers the node and
// renews the registration every heartbeat, counting the stream's readers
// then, and writes the checkpoint the tailer offers, coalesced to at most
// one write every CheckpointEvery. It returns when ctx ends; the tailer
// writes the last checkpoint itself, after it.
func (d *Dynamo) keepRegistered(ctx context.Context, arn string) {
	hb := time.NewTicker(d.cfg.Heartbeat)
	defer hb.Stop()
	var last time.Time
	var later <-chan time.Time // a coalesced checkpoint write waiting for its turn
	write := func() {
		shards := d.ts.offered()
		if err := d.ts.saveNode(ctx, nodeUpdate{stream: arn, shards: shards}); err != nil {
			if ctx.Err() == nil && !d.health.Degraded() { // an outage is logged once, by the health tracker
				d.log.Warn().Err(err).Msg("dynamodb: write node registration and checkpoint")
			}
			return
		}
		last, later = time.Now(), nil
		if shards != nil {
			d.ts.checkpoints.Add(1)
		}
	}
	heartbeat := func() {
		write()
		n, err := d.ts.countReaders(ctx)
		if err != nil {
			if ctx.Err() == nil && !d.health.Degraded() {
				d.log.Warn().Err(err).Msg("dynamodb: count the stream's readers")
			}
			return
		}
		d.noteReaders(n)
	}
	heartbeat()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hb.C:
			heartbeat()
		case <-d.ts.dirty:
			if wait := d.cfg.CheckpointEvery - time.Since(last); wait > 0 {
				if later == nil {
					later = time.After(wait)
				}
				continue
			}
			write()
		case <-later:
			write()
		}
	}
}

// noteReaders records how many nodes read the stream and warns, once each
// time the count goes past the advice, that they exceed it.
func (d *Dynamo) noteReaders(n int) {
	before := d.ts.readers.Swap(int64(n))
	advised := int64(d.cfg.AdvisedReaders)
	if int64(n) > advised && (before <= advised) {
		d.log.Warn().Int("readers", n).Int("advised", d.cfg.AdvisedReaders).
			Msg("dynamodb: more nodes read the stream's shards than AWS advises; reads may be throttled and each node polls less often (see firehose/README.md: past two readers per shard)")
	}
}

// readers is how many nodes read the stream, this one included (1 until
// first counted).
func (ts *tailState) readerCount() int { return max(int(ts.readers.Load()), 1) }

// countReaders counts the live registrations: nodes whose heartbeat has not
// lapsed. All of them are in one partition.
func (d *Dynamo) countReaders(ctx context.Context) (int, error) {
	now := time.Now().UnixMilli()
	var n int32
	var start map[string]types.AttributeValue
	for {
		out, err := d.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(d.cfg.Table),
			KeyConditionExpression:    aws.String("pk = :pk"),
			FilterExpression:          aws.String("expires > :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": strAttr(nodesPK), ":now": numAttr(now)},
			Select:                    types.SelectCount,
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return 0, fmt.Errorf("dynamodb: count readers: %w", err)
		}
		n += out.Count
		if out.LastEvaluatedKey == nil {
			return int(n), nil
		}
		start = out.LastEvaluatedKey
	}
}
