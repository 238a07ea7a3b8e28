package firehose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }

// shard is the tailer's view of one stream shard.
type shard struct {
	id       string
	parent   string
	iterator *string
	last     string // sequence number of the last record applied
	// from is where the shard was first read: LATEST for a root on a cold
	// start, TRIM_HORIZON for a child. An iterator lost before any record
	// was applied is re-acquired there.
	from stypes.ShardIteratorType
	done bool
}

// Start begins tailing the table's stream in the background. Every node
// runs its own tailer (see README: fan-out past DynamoDB Streams' advised
// two readers per shard).
func (d *Dynamo) Start(ctx context.Context) error {
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	arn, err := d.streamARN(ctx)
	if err != nil {
		d.cancel()
		close(d.done)
		return err
	}
	go d.tail(ctx, arn)
	return nil
}

func (d *Dynamo) streamARN(ctx context.Context) (string, error) {
	out, err := d.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.cfg.Table)})
	if err != nil {
		return "", fmt.Errorf("dynamodb: describe table %s: %w", d.cfg.Table, err)
	}
	if out.Table.LatestStreamArn == nil {
		return "", fmt.Errorf("dynamodb: table %s has no stream (run lotzero migrate)", d.cfg.Table)
	}
	return *out.Table.LatestStreamArn, nil
}

// tail follows every shard of the stream: parents before children, root
// shards from LATEST on a cold start and children from TRIM_HORIZON, a shard
// finished when it returns no next iterator, expired iterators re-acquired
// after the last sequence number applied, duplicates dropped by sequence
// number, and shards re-discovered periodically.
func (d *Dynamo) tail(ctx context.Context, arn string) {
	defer close(d.done)
	shards := map[string]*shard{}
	cold := true
	var nextDiscover time.Time
	backoff := d.cfg.Poll
	for ctx.Err() == nil {
		if time.Now().After(nextDiscover) {
			if err := d.discover(ctx, arn, shards, cold); err != nil {
				d.log.Warn().Err(err).Msg("dynamodb: discover shards")
				d.sleep(ctx, backoff)
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			cold = false
			nextDiscover = time.Now().Add(d.cfg.Discover)
			d.lastPoll.Store(time.Now().UnixNano())
		}
		got, finished := 0, false
		for _, sh := range shards {
			if sh.done || !d.ready(sh, shards) {
				continue
			}
			n, err := d.poll(ctx, arn, sh)
			if err != nil {
				d.log.Warn().Err(err).Str("shard", sh.id).Msg("dynamodb: read shard")
				var throttled *stypes.LimitExceededException
				if asErr(err, &throttled) {
					d.sleep(ctx, backoff)
					backoff = min(backoff*2, 5*time.Second)
				}
				continue
			}
			backoff = d.cfg.Poll
			got += n
			finished = finished || sh.done
		}
		if finished {
			nextDiscover = time.Time{} // take up the children at once
		}
		if got == 0 {
			d.sleep(ctx, d.cfg.Poll)
		}
	}
	d.saveCheckpointFn(context.WithoutCancel(ctx), shards)
}

func (d *Dynamo) sleep(ctx context.Context, t time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(t):
	}
}

// ready reports whether a shard may be read: its parent (if we know it)
// must be finished first, so a key's records are applied in order.
func (d *Dynamo) ready(sh *shard, shards map[string]*shard) bool {
	p, ok := shards[sh.parent]
	return sh.parent == "" || !ok || p.done
}

// discover lists the stream's shards (paginated) and adds new ones. On a
// cold start open shards begin at LATEST (history before this node is the
// ledger's to replay) — unless this node saved a checkpoint for them — and
// closed ones are skipped; shards appearing later are children and begin
// at TRIM_HORIZON.
func (d *Dynamo) discover(ctx context.Context, arn string, shards map[string]*shard, cold bool) error {
	var checkpoints map[string]string
	if cold {
		checkpoints = d.loadCheckpointFn(ctx)
	}
	var start *string
	for {
		out, err := d.streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn), ExclusiveStartShardId: start})
		if err != nil {
			return err
		}
		for _, s := range out.StreamDescription.Shards {
			id := aws.ToString(s.ShardId)
			if _, known := shards[id]; known {
				continue
			}
			sh := &shard{id: id, parent: aws.ToString(s.ParentShardId)}
			shards[id] = sh
			closed := s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil
			switch {
			case cold && checkpoints[id] != "":
				sh.last = checkpoints[id]
			case cold && closed:
				sh.done = true
			case cold:
				sh.from = stypes.ShardIteratorTypeLatest
				sh.iterator, err = d.iterator(ctx, arn, id, sh.from, "")
			default:
				sh.from = stypes.ShardIteratorTypeTrimHorizon
				sh.iterator, err = d.iterator(ctx, arn, id, sh.from, "")
			}
			if err != nil {
				return err
			}
		}
		start = out.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return nil
		}
	}
}

func (d *Dynamo) iterator(ctx context.Context, arn, shardID string, typ stypes.ShardIteratorType, after string) (*string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: aws.String(shardID), ShardIteratorType: typ}
	if after != "" {
		in.SequenceNumber = aws.String(after)
	}
	out, err := d.streams.GetShardIterator(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("shard iterator %s: %w", shardID, err)
	}
	return out.ShardIterator, nil
}

// poll reads one batch of a shard and delivers its messages.
func (d *Dynamo) poll(ctx context.Context, arn string, sh *shard) (int, error) {
	if sh.iterator == nil {
		var err error
		switch {
		case sh.last != "":
			sh.iterator, err = d.iterator(ctx, arn, sh.id, stypes.ShardIteratorTypeAfterSequenceNumber, sh.last)
		case sh.from != "":
			sh.iterator, err = d.iterator(ctx, arn, sh.id, sh.from, "")
		default:
			sh.iterator, err = d.iterator(ctx, arn, sh.id, stypes.ShardIteratorTypeTrimHorizon, "")
		}
		if err != nil {
			return 0, err
		}
	}
	out, err := d.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: sh.iterator, Limit: aws.Int32(1000)})
	var expired *stypes.ExpiredIteratorException
	var trimmed *stypes.TrimmedDataAccessException
	switch {
	case asErr(err, &expired):
		sh.iterator = nil // re-acquired after the last record applied
		return 0, nil
	case asErr(err, &trimmed):
		// What we wanted is gone: resume at the oldest record kept.
		sh.iterator, sh.last, sh.from = nil, "", stypes.ShardIteratorTypeTrimHorizon
		return 0, nil
	case err != nil:
		return 0, err
	}
	d.lastPoll.Store(time.Now().UnixNano())
	for _, r := range out.Records {
		if ctx.Err() != nil {
			break // undelivered: the checkpoint must stay before this record
		}
		seq := aws.ToString(r.Dynamodb.SequenceNumber)
		if sh.last != "" && !seqAfter(seq, sh.last) {
			continue // seen already
		}
		sh.last = seq
		if r.Dynamodb.ApproximateCreationDateTime != nil {
			d.lastApplied.Store(r.Dynamodb.ApproximateCreationDateTime.UnixNano())
		}
		if m, ok := messageOf(r.Dynamodb.NewImage); ok {
			d.deliver(ctx, m)
		}
	}
	if ctx.Err() != nil {
		return len(out.Records), ctx.Err()
	}
	sh.iterator = out.NextShardIterator
	if sh.iterator == nil {
		sh.done = true // closed, and read to its end
	}
	return len(out.Records), nil
}

// seqAfter compares stream sequence numbers (decimal strings, up to 40 digits).
func seqAfter(a, b string) bool {
	x, okx := new(big.Int).SetString(a, 10)
	y, oky := new(big.Int).SetString(b, 10)
	if !okx || !oky {
		return a > b
	}
	return x.Cmp(y) > 0
}

// messageOf decodes a stream image; only message items (msg = true) are
// messages — presence heartbeats, counters and boards are not.
func messageOf(img map[string]stypes.AttributeValue) (Message, bool) {
	if b, ok := img["msg"].(*stypes.AttributeValueMemberBOOL); !ok || !b.Value {
		return Message{}, false
	}
	get := func(k string) string {
		if v, ok := img[k].(*stypes.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	geti := func(k string) int64 {
		if v, ok := img[k].(*stypes.AttributeValueMemberN); ok {
			var i int64
			_, _ = fmt.Sscan(v.Value, &i)
			return i
		}
		return 0
	}
	m := Message{Kind: get("kind"), ID: get("id"), Lot: get("lot"), Seq: geti("seq"), Event: get("event"),
		At: time.UnixMilli(geti("at")), Region: get("region"), Actor: get("actor"), Data: json.RawMessage(get("data"))}
	if ws, ok := img["wallets"].(*stypes.AttributeValueMemberSS); ok {
		m.Wallets = ws.Value
	}
	if b := get("balances"); b != "" {
		m.Balances = json.RawMessage(b)
	}
	return m, true
}

// saveCheckpoint records where this node's tailer stopped, so a graceful
// restart resumes there without loss or duplicates.
func (d *Dynamo) saveCheckpoint(ctx context.Context, shards map[string]*shard) {
	for _, sh := range shards {
		if sh.last == "" || sh.done {
			continue
		}
		_, err := d.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.cfg.Table), Item: map[string]types.AttributeValue{
			"pk": strAttr(checkpointPK(d.cfg.Node)), "sk": strAttr("SHARD#" + sh.id), "seq": strAttr(sh.last),
			"ttl": numAttr(time.Now().Add(24 * time.Hour).Unix()),
		}})
		if err != nil {
			d.log.Warn().Err(err).Msg("dynamodb: save tailer checkpoint")
		}
	}
}

func (d *Dynamo) loadCheckpoint(ctx context.Context) map[string]string {
	out, err := d.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(d.cfg.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": strAttr(checkpointPK(d.cfg.Node))},
	})
	cps := map[string]string{}
	if err != nil {
		d.log.Warn().Err(err).Msg("dynamodb: load tailer checkpoint")
		return cps
	}
	for _, it := range out.Items {
		cps[str(it["sk"])[len("SHARD#"):]] = str(it["seq"])
	}
	return cps
}
