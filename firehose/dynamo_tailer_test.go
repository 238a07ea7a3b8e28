package firehose

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// fakeStream is a stream whose shards the test controls: it can close a
// shard, start its child, and expire an iterator — what DynamoDB Local
// cannot be made to do on demand. It checks the tailer's logic only; the
// real client is exercised against DynamoDB Local in dynamo_test.go.
type fakeStream struct {
	mu      sync.Mutex
	shards  []string
	parent  map[string]string
	records map[string][]stypes.Record
	closed  map[string]bool
	expire  bool // the next GetRecords fails with an expired iterator
	seq     int
}

func (f *fakeStream) add(shard string, seq int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	img := map[string]stypes.AttributeValue{
		"msg": &stypes.AttributeValueMemberBOOL{Value: true}, "kind": &stypes.AttributeValueMemberS{Value: KindLedger},
		"lot": &stypes.AttributeValueMemberS{Value: "L"}, "seq": &stypes.AttributeValueMemberN{Value: strconv.FormatInt(seq, 10)},
		"event": &stypes.AttributeValueMemberS{Value: "bid"}, "at": &stypes.AttributeValueMemberN{Value: "0"},
	}
	f.records[shard] = append(f.records[shard], stypes.Record{Dynamodb: &stypes.StreamRecord{
		SequenceNumber: aws.String(fmt.Sprintf("%021d", f.seq)), NewImage: img, ApproximateCreationDateTime: aws.Time(time.Now())}})
}

func (f *fakeStream) DescribeStream(_ context.Context, _ *dynamodbstreams.DescribeStreamInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []stypes.Shard
	for _, id := range f.shards {
		sh := stypes.Shard{ShardId: aws.String(id), SequenceNumberRange: &stypes.SequenceNumberRange{}}
		if p := f.parent[id]; p != "" {
			sh.ParentShardId = aws.String(p)
		}
		if f.closed[id] {
			sh.SequenceNumberRange.EndingSequenceNumber = aws.String("9")
		}
		out = append(out, sh)
	}
	return &dynamodbstreams.DescribeStreamOutput{StreamDescription: &stypes.StreamDescription{Shards: out}}, nil
}

// Iterators are "shard:position".
func (f *fakeStream) GetShardIterator(_ context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, pos := aws.ToString(in.ShardId), 0
	switch in.ShardIteratorType {
	case stypes.ShardIteratorTypeLatest:
		pos = len(f.records[id])
	case stypes.ShardIteratorTypeAfterSequenceNumber:
		for i, r := range f.records[id] {
			if aws.ToString(r.Dynamodb.SequenceNumber) == aws.ToString(in.SequenceNumber) {
				pos = i + 1
			}
		}
	}
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%s:%d", id, pos))}, nil
}

func (f *fakeStream) GetRecords(_ context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.expire {
		f.expire = false
		return nil, &stypes.ExpiredIteratorException{Message: aws.String("expired")}
	}
	id, p, _ := strings.Cut(aws.ToString(in.ShardIterator), ":")
	pos, _ := strconv.Atoi(p)
	recs := f.records[id][pos:]
	out := &dynamodbstreams.GetRecordsOutput{Records: recs}
	if !f.closed[id] || len(recs) > 0 {
		out.NextShardIterator = aws.String(fmt.Sprintf("%s:%d", id, pos+len(recs)))
	}
	return out, nil
}

func TestTailerFollowsClosedShardIntoChildAndExpiredIterators(t *testing.T) {
	f := &fakeStream{shards: []string{"root"}, parent: map[string]string{}, records: map[string][]stypes.Record{}, closed: map[string]bool{}}
	f.add("root", 1) // before the tailer starts: not delivered (cold start at LATEST)
	d := &Dynamo{cfg: DynamoConfig{Poll: 10 * time.Millisecond, Discover: 50 * time.Millisecond, Node: "t"},
		streams: f, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	sub, _ := d.Subscribe(ctx)
	d.cancel = cancel
	d.loadCheckpointFn = func(context.Context) map[string]string { return nil }
	d.saveCheckpointFn = func(context.Context, map[string]*shard) {}
	go d.tail(ctx, "arn")
	time.Sleep(100 * time.Millisecond)

	f.add("root", 2)
	f.add("root", 3)
	time.Sleep(100 * time.Millisecond)
	f.mu.Lock()
	f.expire = true // the iterator in hand expires: resume after seq 3's record
	f.mu.Unlock()
	f.add("root", 4)
	time.Sleep(100 * time.Millisecond)
	// The root closes after one more record; its child opens with records
	// that must come after the parent's last.
	f.mu.Lock()
	f.closed["root"] = true
	f.shards = append(f.shards, "child")
	f.parent["child"] = "root"
	f.mu.Unlock()
	f.add("child", 5)
	f.add("child", 6)

	got := collect(t, sub, 5, 5*time.Second)
	noMore(t, sub, 200*time.Millisecond)
	d.Close()
	var seqs []int64
	for _, m := range got {
		seqs = append(seqs, m.Seq)
	}
	if fmt.Sprint(seqs) != "[2 3 4 5 6]" {
		t.Fatalf("delivered %v, want [2 3 4 5 6]: each once, parent before child", seqs)
	}
}
