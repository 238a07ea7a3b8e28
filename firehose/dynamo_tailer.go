package firehose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
	// began is when a shard begun at LATEST was begun; until a record is
	// read it is the shard's position in the checkpoint.
	began time.Time
	// notBefore drops records created before it: a shard resumed from a
	// LATEST position is re-read from TRIM_HORIZON, and what it held
	// before this node began it is not news.
	notBefore time.Time
	resumed   bool // named by the checkpoint, or new since it
	done      bool
	readable  bool // not done, and its parent is read to the end (set each round)

	// Pacing (dynamo_pacing.go).
	read  time.Time     // the last GetRecords
	due   time.Time     // not read again before this
	idle  time.Duration // the current wait after empty reads; 0 while records flow
	calls int           // GetRecords calls in the current rate window
}

// tailState is the tailer's state beyond its shards (which only the tail
// goroutine touches): what it shares with the node item's writer, with
// Publish and with StreamStats.
type tailState struct {
	pace   pacer
	recent *recentIDs    // social messages handed over lately (tail goroutine only)
	kick   chan struct{} // Publish: a social message of ours is on its way through the stream
	dirty  chan struct{} // the tailer offered positions worth writing soon

	mu    sync.Mutex
	offer map[string]position // the newest positions offered; nil before the first

	readers     atomic.Int64 // registered readers, as last counted
	abandon     atomic.Bool  // tests: stop as a crash would, writing nothing more
	getRecords  atomic.Uint64
	delivered   atomic.Uint64
	duplicates  atomic.Uint64
	checkpoints atomic.Uint64
	busiest     atomic.Uint64 // float64 bits: calls per second on the busiest shard
	reading     atomic.Int64
	windowStart time.Time // tail goroutine only

	// Storage; tests of the tailer's logic replace it.
	loadCheckpoint func(context.Context) (checkpoint, error)
	saveNode       func(context.Context, nodeUpdate) error
	countReaders   func(context.Context) (int, error)
}

// initTailer applies the tailer's defaults and sets up its state; the
// constructor calls it once.
func (d *Dynamo) initTailer() {
	d.cfg.TailerConfig = d.cfg.TailerConfig.withDefaults()
	d.ts = &tailState{
		pace:   pacer{poll: d.cfg.Poll, maxPoll: d.cfg.MaxPoll, rate: d.cfg.ShardReadRate},
		recent: newRecentIDs(1 << 15), kick: make(chan struct{}, 1), dirty: make(chan struct{}, 1),
		loadCheckpoint: d.loadCheckpoint, saveNode: d.saveNode, countReaders: d.countReaders,
	}
}

// offerPositions hands the writer the shards' positions; urgent ones
// (messages were delivered) are written within CheckpointEvery, the others
// at the next heartbeat.
func (ts *tailState) offerPositions(shards map[string]*shard, urgent bool) {
	ps := positions(shards)
	ts.mu.Lock()
	ts.offer = ps
	ts.mu.Unlock()
	if urgent {
		select {
		case ts.dirty <- struct{}{}:
		default:
		}
	}
}

// offered is the newest positions offered (never changed once offered).
func (ts *tailState) offered() map[string]position {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.offer
}

func positions(shards map[string]*shard) map[string]position {
	ps := make(map[string]position, len(shards))
	for id, sh := range shards {
		ps[id] = positionOf(sh)
	}
	return ps
}

// wakeTailer tells the tailer a social message was just published here:
// this node's own sessions get it through the stream (ledger events they
// get at commit), so an idle shard should be read again at once.
func (d *Dynamo) wakeTailer(m Message) {
	if m.Kind == KindLedger || d.ts == nil {
		return
	}
	select {
	case d.ts.kick <- struct{}{}:
	default:
	}
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
	go d.probeHealth(ctx)
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

// tail follows every shard of the stream: parents before children; on a
// cold start each shard where this node's checkpoint left it, shards new
// since the checkpoint from TRIM_HORIZON and (without a checkpoint) open
// shards from LATEST; children found later from TRIM_HORIZON; a shard
// finished when it returns no next iterator; expired iterators re-acquired
// after the last sequence number applied; duplicates dropped by sequence
// number (and social messages by ID); shards re-discovered periodically.
// Each shard is read again at once while records flow and less often while
// it is idle (dynamo_pacing.go). Positions are saved as they advance
// (coalesced), at every heartbeat and when the tailer stops.
func (d *Dynamo) tail(ctx context.Context, arn string) {
	defer close(d.done)
	// A position must never pass a message no subscriber took: nothing is
	// read before the first subscriber.
	if !d.subs.waitFor(ctx) {
		return
	}
	if d.cfg.TailDelay > 0 {
		d.log.Warn().Dur("delay", d.cfg.TailDelay).Msg("dynamodb: fault injection: the stream tailer starts late")
		d.sleep(ctx, d.cfg.TailDelay)
	}
	registered := make(chan struct{})
	go func() {
		defer close(registered)
		d.keepRegistered(ctx, arn)
	}()
	shards := map[string]*shard{}
	cold := true
	var cp *checkpoint
	var nextDiscover time.Time
	backoff := d.cfg.Poll
	for ctx.Err() == nil {
		if !d.subs.waitFor(ctx) {
			break // the subscribers left: hold the positions for whoever resumes
		}
		now := time.Now()
		if !now.Before(nextDiscover) {
			var err error
			if cold {
				cp, err = d.resumePoint(ctx, arn)
			}
			added := false
			if err == nil {
				added, err = d.discover(ctx, arn, shards, cold, cp)
			}
			if err != nil {
				if ctx.Err() == nil && !d.health.Degraded() { // an outage is logged once, by the health tracker
					d.log.Warn().Err(err).Msg("dynamodb: discover shards")
				}
				d.sleep(ctx, backoff)
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			if cold && cp != nil {
				d.log.Info().Int("shards", len(cp.shards)).Dur("age", now.Sub(cp.saved).Round(time.Millisecond)).
					Msg("dynamodb: resuming the stream where this node's checkpoint left it")
			}
			backoff, cold = d.cfg.Poll, false
			nextDiscover = now.Add(d.cfg.Discover)
			d.lastPoll.Store(time.Now().UnixNano())
			// New shards' starting points (LATEST now) are worth saving soon.
			d.ts.offerPositions(shards, added)
		}
		readers := d.ts.readerCount()
		delivered, advanced, finished := 0, false, false
		for _, sh := range shards {
			sh.readable = !sh.done && d.ready(sh, shards)
			if !sh.readable || now.Before(sh.due) {
				continue
			}
			n, msgs, err := d.poll(ctx, arn, sh)
			if err != nil && ctx.Err() == nil && !d.health.Degraded() {
				d.log.Warn().Err(err).Str("shard", sh.id).Msg("dynamodb: read shard")
			}
			d.ts.pace.after(sh, time.Now(), n, err, readers)
			delivered += msgs
			advanced = advanced || n > 0
			finished = finished || sh.done
		}
		if advanced || finished {
			d.ts.offerPositions(shards, delivered > 0 || finished)
		}
		d.ts.measure(shards, now)
		if finished {
			nextDiscover = time.Time{} // take up the children at once
			continue
		}
		d.waitForDue(ctx, shards, nextDiscover, readers)
	}
	<-registered
	if d.ts.abandon.Load() {
		return
	}
	// Where this node stopped, for a restart to resume (unless it never
	// found out: the checkpoint it resumed from stays); the registration
	// lapses at once.
	final := nodeUpdate{stream: arn, stop: true}
	if !cold {
		final.shards = positions(shards)
	}
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := d.ts.saveNode(c, final); err != nil {
		d.log.Warn().Err(err).Msg("dynamodb: save tailer checkpoint")
	} else {
		d.ts.checkpoints.Add(1)
	}
}

// resumePoint loads this node's checkpoint for stream arn: nil when there
// is none that applies (the node starts fresh).
func (d *Dynamo) resumePoint(ctx context.Context, arn string) (*checkpoint, error) {
	saved, err := d.ts.loadCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	cp, err := saved.usable(arn, time.Now())
	if err != nil && len(saved.shards) > 0 {
		d.log.Info().Err(err).Msg("dynamodb: not resuming from this node's checkpoint")
	}
	return cp, nil
}

// waitForDue sleeps until a shard is due, discovery is, a social message
// of ours is on its way (which makes the idle shards due), or ctx ends.
func (d *Dynamo) waitForDue(ctx context.Context, shards map[string]*shard, nextDiscover time.Time, readers int) {
	wake := nextDiscover
	for _, sh := range shards {
		if sh.readable && sh.due.Before(wake) {
			wake = sh.due
		}
	}
	wait := time.Until(wake)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-d.ts.kick:
		now := time.Now()
		for _, sh := range shards {
			if sh.readable {
				d.ts.pace.wake(sh, now, readers)
			}
		}
	}
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

// discover lists the stream's shards (paginated), adds new ones and forgets
// finished ones the stream no longer lists. On a cold start each shard is
// placed by resumeAt (the checkpoint's position, TRIM_HORIZON for shards
// new since it, LATEST for open shards without one, closed ones skipped);
// shards appearing later are children and begin at TRIM_HORIZON.
// It reports whether it added any.
func (d *Dynamo) discover(ctx context.Context, arn string, shards map[string]*shard, cold bool, cp *checkpoint) (bool, error) {
	var listed []stypes.Shard
	var start *string
	for {
		out, err := d.streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn), ExclusiveStartShardId: start})
		if err != nil {
			return false, err
		}
		listed = append(listed, out.StreamDescription.Shards...)
		start = out.StreamDescription.LastEvaluatedShardId
		if start == nil {
			break
		}
	}
	parents := make(map[string]string, len(listed))
	for _, s := range listed {
		parents[aws.ToString(s.ShardId)] = aws.ToString(s.ParentShardId)
	}
	// descends reports whether a shard is the checkpoint's or new since it:
	// named by it, or a child of such a shard (the listing need not put
	// parents first).
	var descends func(id string, depth int) bool
	descends = func(id string, depth int) bool {
		if _, ok := cp.shards[id]; ok {
			return true
		}
		p, ok := parents[id]
		return ok && p != "" && depth < len(parents) && descends(p, depth+1)
	}
	now, added := time.Now(), false
	for _, s := range listed {
		id := aws.ToString(s.ShardId)
		if _, known := shards[id]; known {
			continue
		}
		sh := &shard{id: id, parent: aws.ToString(s.ParentShardId)}
		if cold {
			closed := s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil
			resumeAt(sh, closed, cp, func(parent string) bool { return cp != nil && descends(parent, 0) }, now)
		} else {
			sh.from = stypes.ShardIteratorTypeTrimHorizon
		}
		if sh.from == stypes.ShardIteratorTypeLatest {
			// LATEST means now: take the iterator at once.
			it, err := d.iterator(ctx, arn, id, sh.from, "")
			if err != nil {
				return added, err
			}
			sh.iterator = it
		}
		shards[id], added = sh, true
	}
	for id, sh := range shards {
		if _, ok := parents[id]; !ok && sh.done {
			delete(shards, id) // trimmed from the stream, and read to its end
		}
	}
	return added, nil
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

// acquire gets a shard's iterator: after the last record applied, or where
// the shard was first read. A position the stream has trimmed resumes at
// the oldest record kept; a shard the stream no longer has is finished.
func (d *Dynamo) acquire(ctx context.Context, arn string, sh *shard) error {
	typ, after := sh.from, ""
	switch {
	case sh.last != "":
		typ, after = stypes.ShardIteratorTypeAfterSequenceNumber, sh.last
	case typ == "":
		typ = stypes.ShardIteratorTypeTrimHorizon
	}
	it, err := d.iterator(ctx, arn, sh.id, typ, after)
	var trimmed *stypes.TrimmedDataAccessException
	var gone *stypes.ResourceNotFoundException
	switch {
	case err != nil && after != "" && asErr(err, &trimmed):
		d.log.Warn().Str("shard", sh.id).Str("after", after).
			Msg("dynamodb: the stream no longer holds this node's position (down longer than its retention?); resuming at the oldest record kept, what was between is lost")
		sh.last, sh.from = "", stypes.ShardIteratorTypeTrimHorizon
		return nil // acquired on the next read
	case err != nil && asErr(err, &gone):
		d.log.Warn().Str("shard", sh.id).Msg("dynamodb: the stream no longer has this shard")
		sh.done = true
		return nil
	case err != nil:
		return err
	}
	sh.iterator = it
	return nil
}

// poll reads one batch of a shard and delivers its messages. It returns
// how many records it read and how many messages it delivered.
func (d *Dynamo) poll(ctx context.Context, arn string, sh *shard) (records, delivered int, err error) {
	if sh.iterator == nil {
		if err := d.acquire(ctx, arn, sh); err != nil || sh.iterator == nil {
			return 0, 0, err
		}
	}
	d.ts.getRecords.Add(1)
	sh.calls++
	out, err := d.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: sh.iterator, Limit: aws.Int32(1000)})
	var expired *stypes.ExpiredIteratorException
	var trimmed *stypes.TrimmedDataAccessException
	switch {
	case asErr(err, &expired):
		sh.iterator = nil // re-acquired after the last record applied
		return 0, 0, nil
	case asErr(err, &trimmed):
		// What we wanted is gone: resume at the oldest record kept.
		sh.iterator, sh.last, sh.from = nil, "", stypes.ShardIteratorTypeTrimHorizon
		return 0, 0, nil
	case err != nil:
		return 0, 0, err
	}
	d.lastPoll.Store(time.Now().UnixNano())
	for _, r := range out.Records {
		seq := aws.ToString(r.Dynamodb.SequenceNumber)
		if sh.last != "" && !seqAfter(seq, sh.last) {
			continue // seen already
		}
		created := r.Dynamodb.ApproximateCreationDateTime
		before := !sh.notBefore.IsZero() && created != nil && created.Before(sh.notBefore)
		if !before {
			sh.notBefore = time.Time{} // a shard's records come in time order
		}
		m, ok := messageOf(r.Dynamodb.NewImage)
		switch {
		case !ok || before:
		case !d.subs.any():
			// The subscribers left (shutting down): the position stays
			// before it, for whoever resumes.
			sh.iterator = nil
			return len(out.Records), delivered, nil
		case m.Kind != KindLedger && !d.ts.recent.add(m.Lot+"\x00"+m.ID):
			d.ts.duplicates.Add(1)
		default:
			d.deliver(ctx, m)
			if ctx.Err() != nil {
				return len(out.Records), delivered, ctx.Err() // undelivered: the position stays before it
			}
			delivered++
			d.ts.delivered.Add(1)
		}
		sh.last, sh.began = seq, time.Time{}
		if created != nil {
			d.lastApplied.Store(created.UnixNano())
		}
	}
	sh.iterator = out.NextShardIterator
	if sh.iterator == nil {
		sh.done = true // closed, and read to its end
	}
	return len(out.Records), delivered, nil
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
	if asOf := geti("asof"); asOf != 0 {
		m.AsOf = time.UnixMilli(asOf)
	}
	if ws, ok := img["wallets"].(*stypes.AttributeValueMemberSS); ok {
		m.Wallets = ws.Value
	}
	if b := get("balances"); b != "" {
		m.Balances = json.RawMessage(b)
	}
	return m, true
}
