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
	latest  int            // LATEST iterators handed out: a tailer has placed itself
	served  map[string]int // per shard, how many records GetRecords has handed out
}

// placed waits until a tailer has taken its LATEST iterator: records added
// from then on are live (a fixed sleep was too short on a loaded machine).
func (f *fakeStream) placed(t *testing.T) {
	t.Helper()
	waitFor(t, "the tailer's LATEST iterator", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.latest > 0
	})
}

// readTo waits until the tailer has been handed n records of shard.
func (f *fakeStream) readTo(t *testing.T, shard string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d records of %s read", n, shard), func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.served[shard] >= n
	})
}

func newFakeStream(shards ...string) *fakeStream {
	return &fakeStream{shards: shards, parent: map[string]string{}, records: map[string][]stypes.Record{}, closed: map[string]bool{},
		served: map[string]int{}}
}

// add appends a ledger event with seq to a shard, created now.
func (f *fakeStream) add(shard string, seq int64) { f.addAt(shard, seq, time.Now()) }

func (f *fakeStream) addAt(shard string, seq int64, created time.Time) {
	f.addImage(shard, created, map[string]stypes.AttributeValue{
		"msg": &stypes.AttributeValueMemberBOOL{Value: true}, "kind": &stypes.AttributeValueMemberS{Value: KindLedger},
		"lot": &stypes.AttributeValueMemberS{Value: "L"}, "seq": &stypes.AttributeValueMemberN{Value: strconv.FormatInt(seq, 10)},
		"event": &stypes.AttributeValueMemberS{Value: "bid"}, "at": &stypes.AttributeValueMemberN{Value: "0"},
	})
}

// addChat appends a chat line with id to a shard.
func (f *fakeStream) addChat(shard, id string) {
	f.addImage(shard, time.Now(), map[string]stypes.AttributeValue{
		"msg": &stypes.AttributeValueMemberBOOL{Value: true}, "kind": &stypes.AttributeValueMemberS{Value: KindChat},
		"id": &stypes.AttributeValueMemberS{Value: id}, "lot": &stypes.AttributeValueMemberS{Value: "L"},
		"event": &stypes.AttributeValueMemberS{Value: "chat"}, "at": &stypes.AttributeValueMemberN{Value: "0"},
	})
}

func (f *fakeStream) addImage(shard string, created time.Time, img map[string]stypes.AttributeValue) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	f.records[shard] = append(f.records[shard], stypes.Record{Dynamodb: &stypes.StreamRecord{
		SequenceNumber: aws.String(fmt.Sprintf("%021d", f.seq)), NewImage: img, ApproximateCreationDateTime: aws.Time(created)}})
}

// lastSeq is the sequence number of a shard's newest record.
func (f *fakeStream) lastSeq(shard string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	rs := f.records[shard]
	return aws.ToString(rs[len(rs)-1].Dynamodb.SequenceNumber)
}

// openChild closes parent and opens child after it.
func (f *fakeStream) openChild(parent, child string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed[parent] = true
	f.shards = append(f.shards, child)
	f.parent[child] = parent
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
		f.latest++
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
	f.served[id] = max(f.served[id], pos+len(recs))
	out := &dynamodbstreams.GetRecordsOutput{Records: recs}
	if !f.closed[id] || len(recs) > 0 {
		out.NextShardIterator = aws.String(fmt.Sprintf("%s:%d", id, pos+len(recs)))
	}
	return out, nil
}

// fakeNodes keeps node items in memory, for tailers on a fakeStream.
type fakeNodes struct {
	mu    sync.Mutex
	items map[string]nodeUpdate
}

// tailer makes a Dynamo on f whose node item lives in n, and starts it
// with a subscriber.
func (n *fakeNodes) tailer(t *testing.T, f *fakeStream, node string) (*Dynamo, <-chan Message) {
	t.Helper()
	d := &Dynamo{cfg: DynamoConfig{Poll: 10 * time.Millisecond, Discover: 50 * time.Millisecond, Node: node,
		TailerConfig: TailerConfig{MaxPoll: 40 * time.Millisecond, CheckpointEvery: 10 * time.Millisecond, Heartbeat: time.Hour}},
		streams: f, done: make(chan struct{})}
	d.initTailer()
	d.ts.loadCheckpoint = func(context.Context) (checkpoint, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		u := n.items[node]
		return checkpoint{stream: u.stream, shards: u.shards, saved: time.Now()}, nil
	}
	d.ts.saveNode = func(_ context.Context, u nodeUpdate) error {
		n.mu.Lock()
		defer n.mu.Unlock()
		if u.shards == nil {
			u.shards = n.items[node].shards
		}
		n.items[node] = u
		return nil
	}
	d.ts.countReaders = func(context.Context) (int, error) { return 1, nil }
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	sub, _ := d.Subscribe(ctx)
	go d.tail(ctx, "arn")
	return d, sub
}

// saved is the node's saved position in a shard.
func (n *fakeNodes) saved(node, shard string) position {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.items[node].shards[shard]
}

// crash stops a tailer as a crash would: nothing more is written.
func crash(d *Dynamo) {
	d.ts.abandon.Store(true)
	d.Close()
}

func seqsOf(ms []Message) string {
	var seqs []int64
	for _, m := range ms {
		seqs = append(seqs, m.Seq)
	}
	return fmt.Sprint(seqs)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestTailerFollowsClosedShardIntoChildAndExpiredIterators(t *testing.T) {
	f := newFakeStream("root")
	f.add("root", 1) // before the tailer starts: not delivered (cold start at LATEST)
	d, sub := (&fakeNodes{items: map[string]nodeUpdate{}}).tailer(t, f, "t")
	f.placed(t)

	f.add("root", 2)
	f.add("root", 3)
	f.readTo(t, "root", 3)
	f.mu.Lock()
	f.expire = true // the iterator in hand expires: resume after seq 3's record
	f.mu.Unlock()
	f.add("root", 4)
	f.readTo(t, "root", 4)
	// The root closes; its child opens with records that must come after
	// the parent's last.
	f.openChild("root", "child")
	f.add("child", 5)
	f.add("child", 6)

	got := collect(t, sub, 5, 5*time.Second)
	noMore(t, sub, 200*time.Millisecond)
	d.Close()
	if seqsOf(got) != "[2 3 4 5 6]" {
		t.Fatalf("delivered %v, want [2 3 4 5 6]: each once, parent before child", seqsOf(got))
	}
}

// TestTailerResumesAfterACrash: a tailer that dies without its clean-stop
// checkpoint resumes after the last record its periodic checkpoint
// covered; the shard it was reading closed meanwhile, and the child it
// never knew is read from TRIM_HORIZON, after the rest of its parent.
func TestTailerResumesAfterACrash(t *testing.T) {
	f := newFakeStream("root")
	nodes := &fakeNodes{items: map[string]nodeUpdate{}}
	d, sub := nodes.tailer(t, f, "n")
	f.placed(t)
	f.add("root", 1)
	f.add("root", 2)
	if got := collect(t, sub, 2, 5*time.Second); seqsOf(got) != "[1 2]" {
		t.Fatalf("before the crash: %v", seqsOf(got))
	}
	waitFor(t, "the checkpoint to cover seq 2", func() bool { return nodes.saved("n", "root").seq == f.lastSeq("root") })
	crash(d)

	f.add("root", 3) // while the node is down
	f.openChild("root", "child")
	f.add("child", 4)
	f.add("child", 5)
	again, sub2 := nodes.tailer(t, f, "n")
	defer again.Close()
	got := collect(t, sub2, 3, 5*time.Second)
	noMore(t, sub2, 200*time.Millisecond)
	if seqsOf(got) != "[3 4 5]" {
		t.Fatalf("after the restart: %v, want [3 4 5]", seqsOf(got))
	}
}

// TestTailerResumesALatestPositionFromItsTime: a shard begun at LATEST in
// which nothing was read is saved with the time it was begun; after a crash
// it is re-read from TRIM_HORIZON and only what was written from then on is
// delivered.
func TestTailerResumesALatestPositionFromItsTime(t *testing.T) {
	f := newFakeStream("root")
	f.addAt("root", 1, time.Now().Add(-time.Minute)) // history before the node
	nodes := &fakeNodes{items: map[string]nodeUpdate{}}
	d, _ := nodes.tailer(t, f, "n")
	waitFor(t, "the LATEST position saved", func() bool { return !nodes.saved("n", "root").latest.IsZero() })
	crash(d)
	f.add("root", 2) // while the node is down
	again, sub := nodes.tailer(t, f, "n")
	defer again.Close()
	got := collect(t, sub, 1, 5*time.Second)
	noMore(t, sub, 200*time.Millisecond)
	if seqsOf(got) != "[2]" {
		t.Fatalf("after the restart: %v, want [2]", seqsOf(got))
	}
}

// TestTailerDropsARedeliveredSocialMessage: a social message the stream
// hands over twice (here: the same item image read again) is delivered once.
func TestTailerDropsARedeliveredSocialMessage(t *testing.T) {
	f := newFakeStream("root")
	d, sub := (&fakeNodes{items: map[string]nodeUpdate{}}).tailer(t, f, "n")
	defer d.Close()
	f.placed(t)
	f.addChat("root", "alice:L:1")
	f.addChat("root", "alice:L:1")
	f.addChat("root", "bob:L:1")
	got := collect(t, sub, 2, 5*time.Second)
	noMore(t, sub, 200*time.Millisecond)
	if len(got) != 2 || got[0].ID != "alice:L:1" || got[1].ID != "bob:L:1" || d.StreamStats().Duplicates != 1 {
		t.Fatalf("delivered %+v, duplicates %d", got, d.StreamStats().Duplicates)
	}
}

// TestTailerReadsNothingWithoutASubscriber: positions never pass messages
// nobody received.
func TestTailerReadsNothingWithoutASubscriber(t *testing.T) {
	f := newFakeStream("root")
	d := &Dynamo{cfg: DynamoConfig{Poll: 10 * time.Millisecond, Discover: 50 * time.Millisecond, Node: "n"}, streams: f, done: make(chan struct{})}
	d.initTailer()
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go d.tail(ctx, "arn")
	time.Sleep(100 * time.Millisecond)
	d.Close()
	if n := d.StreamStats().GetRecords; n != 0 {
		t.Fatalf("%d GetRecords calls without a subscriber", n)
	}
}

func TestPacerReadsAtOnceWhileRecordsFlowAndBacksOffWhenIdle(t *testing.T) {
	p := pacer{poll: 200 * time.Millisecond, maxPoll: time.Second, rate: 10}
	at := time.Unix(1000, 0)
	sh := &shard{}
	var waits []time.Duration
	for _, n := range []int{5, 0, 0, 0, 0, 0, 3} {
		p.after(sh, at, n, nil, 1)
		waits = append(waits, sh.due.Sub(at))
	}
	// One reader: within its share (10/s) at once while records flow; idle
	// 200ms, doubling to 1s.
	if fmt.Sprint(waits) != "[100ms 200ms 400ms 800ms 1s 1s 100ms]" {
		t.Fatalf("waits %v", waits)
	}
	p.after(sh, at, 7, nil, 3) // three readers share the budget
	if w := sh.due.Sub(at); w != 300*time.Millisecond {
		t.Fatalf("three readers: wait %v, want 300ms", w)
	}
	p.after(sh, at, 0, nil, 1)
	p.after(sh, at, 0, nil, 1)
	p.wake(sh, at.Add(50*time.Millisecond), 1) // a message of ours is on its way
	if w := sh.due.Sub(at); w != 100*time.Millisecond {
		t.Fatalf("woken: due after %v, want 100ms (the share, not the idle wait)", w)
	}
	for i := 0; i < 10; i++ {
		p.after(sh, at, 0, &stypes.LimitExceededException{}, 1)
	}
	if w := sh.due.Sub(at); w != maxThrottleWait {
		t.Fatalf("throttled: wait %v, want %v", w, maxThrottleWait)
	}
}

func TestPositionsSurviveTheirEncoding(t *testing.T) {
	for _, p := range []position{{seq: "000123"}, {done: true}, {latest: time.UnixMilli(1700000000123)}, {}} {
		got, ok := decodePosition(p.encode())
		if !ok || got != p {
			t.Fatalf("%+v came back as %+v (%v)", p, got, ok)
		}
	}
	if _, ok := decodePosition("bogus"); ok {
		t.Fatal("a bogus position decoded")
	}
}

// TestResumeAtPlacesEveryKindOfShard: where a cold start reads each shard
// from, with and without a checkpoint.
func TestResumeAtPlacesEveryKindOfShard(t *testing.T) {
	began := time.UnixMilli(1_700_000_000_000)
	now := began.Add(time.Hour)
	cp := &checkpoint{shards: map[string]position{"seq": {seq: "42"}, "done": {done: true}, "latest": {latest: began}, "trim": {}}}
	parents := map[string]string{"child": "seq", "grandchild": "child"}
	var descends func(string) bool
	descends = func(id string) bool {
		_, named := cp.shards[id]
		return named || (parents[id] != "" && descends(parents[id]))
	}
	for _, c := range []struct {
		id     string
		closed bool
		cp     *checkpoint
		want   string // last, from, notBefore, done
	}{
		{"seq", false, cp, "42 false false"},
		{"done", true, cp, " false true"},
		{"latest", false, cp, " TRIM_HORIZON true false"},
		{"trim", false, cp, " TRIM_HORIZON false false"},
		{"child", false, cp, " TRIM_HORIZON false false"},
		{"grandchild", true, cp, " TRIM_HORIZON false false"}, // closed, but new since the checkpoint
		{"old", true, cp, " false true"},
		{"other", false, cp, " LATEST false false"},
		{"seq", false, nil, " LATEST false false"}, // no checkpoint: a fresh start
		{"seq", true, nil, " false true"},
	} {
		sh := &shard{id: c.id, parent: parents[c.id]}
		resumeAt(sh, c.closed, c.cp, descends, now)
		got := fmt.Sprint(sh.last, " ", sh.from, " ", !sh.notBefore.IsZero(), " ", sh.done)
		if sh.from == "" {
			got = fmt.Sprint(sh.last, " ", !sh.notBefore.IsZero(), " ", sh.done)
		}
		if got != c.want {
			t.Errorf("%s (closed %v, checkpoint %v): %q, want %q", c.id, c.closed, c.cp != nil, got, c.want)
		}
		if c.id == "latest" && c.cp != nil && !sh.notBefore.Equal(began.Add(-time.Second)) {
			t.Errorf("latest: records dropped before %v, want a second before %v", sh.notBefore, began)
		}
	}
}
