package firehose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// dynamoViews keeps the views in the firehose's table (key design in
// firehose/README.md): every aggregate is written to one of several
// shards and merged on read, every item has a ttl, and Record is
// idempotent by (lot, seq) across nodes.
type dynamoViews struct{ d *Dynamo }

// Views are the DynamoDB firehose's leaderboards, feed, reaction totals
// and chat history.
func (d *Dynamo) Views() Views { return dynamoViews{d} }

// errAlreadyDone says a transaction's first item (its idempotency marker)
// exists: the work was done before, by this node or another.
var errAlreadyDone = errors.New("already done")

// transact writes items in one transaction, retrying conflicts with other
// transactions (two nodes recording the same event at once). The first
// item must be the conditional marker: its failed condition is
// errAlreadyDone.
func (d *Dynamo) transact(ctx context.Context, writes []types.TransactWriteItem) error {
	var err error
	for attempt := 0; attempt < 6; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(ctx, time.Duration(10<<attempt)*time.Millisecond+time.Duration(rand.IntN(20))*time.Millisecond); err != nil {
				return err
			}
		}
		_, err = d.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
		var canceled *types.TransactionCanceledException
		var inProgress *types.TransactionInProgressException
		switch {
		case err == nil:
			return nil
		case errors.As(err, &canceled):
			reasons := canceled.CancellationReasons
			if len(reasons) > 0 && aws.ToString(reasons[0].Code) == "ConditionalCheckFailed" {
				return errAlreadyDone
			}
			if len(reasons) == 0 && strings.Contains(canceled.ErrorMessage(), "[ConditionalCheckFailed") {
				return errAlreadyDone // reasons only in the message (some emulators)
			}
			if !retryable(reasons) && !strings.Contains(canceled.ErrorMessage(), "TransactionConflict") {
				return err
			}
		case errors.As(err, &inProgress):
		default:
			return err
		}
	}
	return err
}

func retryable(reasons []types.CancellationReason) bool {
	for _, r := range reasons {
		switch aws.ToString(r.Code) {
		case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded":
			return true
		}
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func reactionSK(emoji string) string { return "REACT#" + emoji }

// Record writes a ledger event's derived items once: a marker
// (LOT#<lot>/DV#<seq>), its feed item and its leaderboard lines, in one
// transaction conditional on the marker. A node that finds the marker
// skips the event; two that race are ordered by the transaction. The
// highest bid is a max, not a sum, so it is set by idempotent conditional
// updates before the transaction (a crash between them leaves the
// transaction to whoever records the event next).
func (v dynamoViews) Record(ctx context.Context, m Message) error {
	if m.Kind != KindLedger {
		return nil
	}
	user, region, tallied := boardAdd(m)
	feed := FeedKinds[m.Event] && !m.Unlisted
	if !tallied && !feed {
		return nil
	}
	d := v.d
	table := aws.String(d.cfg.Table)
	marker := map[string]types.AttributeValue{"pk": strAttr(lotPK(m.Lot)), "sk": strAttr(derivedSK(m.Seq))}
	got, err := d.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: marker, ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("pk")})
	if err != nil {
		return fmt.Errorf("dynamodb: read record marker: %w", err)
	}
	if got.Item != nil {
		return nil // recorded before
	}
	now := time.Now()
	markerItem := map[string]types.AttributeValue{"pk": marker["pk"], "sk": marker["sk"],
		"ttl": numAttr(now.Add(d.cfg.EventRetention).Unix())}
	writes := []types.TransactWriteItem{{Put: &types.Put{TableName: table, Item: markerItem,
		ConditionExpression: aws.String("attribute_not_exists(pk)")}}}
	if feed {
		writes = append(writes, types.TransactWriteItem{Put: &types.Put{TableName: table, Item: map[string]types.AttributeValue{
			"pk":  strAttr(feedPK(m.At, hashShard(eventKey(m.Lot, m.Seq), d.cfg.FeedShards))),
			"sk":  strAttr(fmt.Sprintf("%013d#%s#%020d", m.At.UnixMilli(), m.Lot, m.Seq)),
			"lot": strAttr(m.Lot), "seq": numAttr(m.Seq), "event": strAttr(m.Event), "at": numAttr(m.At.UnixMilli()),
			"region": strAttr(m.Region), "actor": strAttr(m.Actor), "data": strAttr(string(m.Data)),
			"ttl": numAttr(now.Add(d.cfg.FeedRetention).Unix()),
		}}})
	}
	if tallied {
		shard := hashShard(eventKey(m.Lot, m.Seq), d.cfg.BoardShards)
		bucketStart := m.At.UTC().Truncate(BucketSize)
		windows := []struct {
			name string
			ttl  int64
		}{
			{bucketOf(m.At), bucketStart.Add((RecentBuckets + 2) * BucketSize).Unix()},
			{"all", now.Add(d.cfg.BoardRetention).Unix()},
		}
		var bests []types.AttributeValue
		for _, scope := range boardScopes(m) {
			for _, w := range windows {
				pk := strAttr(boardPK(scope, w.name, shard))
				bests = append(bests, pk)
				writes = append(writes,
					types.TransactWriteItem{Update: &types.Update{TableName: table,
						Key:                      map[string]types.AttributeValue{"pk": pk, "sk": strAttr("U#" + user.User)},
						UpdateExpression:         aws.String("SET #u = :u, #t = :t ADD #b :b, #k :k, #q :q, #s :s"),
						ExpressionAttributeNames: map[string]string{"#u": "user", "#t": "ttl", "#b": "bids", "#k": "buys", "#q": "units", "#s": "spent"},
						ExpressionAttributeValues: map[string]types.AttributeValue{":u": strAttr(user.User), ":t": numAttr(w.ttl),
							":b": numAttr(user.Bids), ":k": numAttr(user.Buys), ":q": numAttr(user.Units), ":s": numAttr(user.Spent)},
					}},
					types.TransactWriteItem{Update: &types.Update{TableName: table,
						Key:                      map[string]types.AttributeValue{"pk": pk, "sk": strAttr("R#" + region.Region)},
						UpdateExpression:         aws.String("SET #r = :r, #t = :t ADD #a :a, #s :s"),
						ExpressionAttributeNames: map[string]string{"#r": "region", "#t": "ttl", "#a": "actions", "#s": "spent"},
						ExpressionAttributeValues: map[string]types.AttributeValue{":r": strAttr(region.Region), ":t": numAttr(w.ttl),
							":a": numAttr(region.Actions), ":s": numAttr(region.Spent)},
					}})
			}
		}
		if user.Best > 0 {
			if err := d.raiseBests(ctx, bests, user); err != nil {
				return err
			}
		}
	}
	if err := d.transact(ctx, writes); err != nil && !errors.Is(err, errAlreadyDone) {
		return fmt.Errorf("dynamodb: record %s %s#%d: %w", m.Event, m.Lot, m.Seq, err)
	}
	return nil
}

// raiseBests raises the best bid on each board line at once.
func (d *Dynamo) raiseBests(ctx context.Context, pks []types.AttributeValue, u BoardUser) error {
	errs := make([]error, len(pks))
	var wg sync.WaitGroup
	for i, pk := range pks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.raiseBest(ctx, pk, u)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// raiseBest sets a board line's highest bid if the bid is higher: a max is
// idempotent, so it needs no marker.
func (d *Dynamo) raiseBest(ctx context.Context, pk types.AttributeValue, u BoardUser) error {
	for attempt := 0; ; attempt++ {
		_, err := d.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(d.cfg.Table),
			Key:                       map[string]types.AttributeValue{"pk": pk, "sk": strAttr("U#" + u.User)},
			UpdateExpression:          aws.String("SET best = :a, #u = :u"),
			ConditionExpression:       aws.String("attribute_not_exists(best) OR best < :a"),
			ExpressionAttributeNames:  map[string]string{"#u": "user"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": numAttr(u.Best), ":u": strAttr(u.User)},
		})
		var lower *types.ConditionalCheckFailedException
		var conflict *types.TransactionConflictException
		switch {
		case err == nil || errors.As(err, &lower):
			return nil
		case errors.As(err, &conflict) && attempt < 5:
			if err := sleepCtx(ctx, time.Duration(10<<attempt)*time.Millisecond); err != nil {
				return err
			}
		default:
			return fmt.Errorf("dynamodb: raise best bid: %w", err)
		}
	}
}

// queryAll runs one query per partition key, in parallel, following pages,
// and hands every item to each (serialized).
func (d *Dynamo) queryAll(ctx context.Context, pks []string, mod func(*dynamodb.QueryInput), each func(map[string]types.AttributeValue)) error {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
	)
	sem := make(chan struct{}, 8)
	for _, pk := range pks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			in := &dynamodb.QueryInput{
				TableName:                 aws.String(d.cfg.Table),
				KeyConditionExpression:    aws.String("pk = :pk"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": strAttr(pk)},
				ConsistentRead:            aws.Bool(true),
			}
			if mod != nil {
				mod(in)
			}
			for {
				out, err := d.db.Query(ctx, in)
				mu.Lock()
				if err != nil {
					if first == nil {
						first = fmt.Errorf("dynamodb: query %s: %w", pk, err)
					}
					mu.Unlock()
					return
				}
				for _, it := range out.Items {
					each(it)
				}
				mu.Unlock()
				if out.LastEvaluatedKey == nil || in.Limit != nil {
					return
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
		}()
	}
	wg.Wait()
	return first
}

func (v dynamoViews) Leaderboard(ctx context.Context, lot string, w Window) (Board, error) {
	d := v.d
	scope := lot
	if scope == "" {
		scope = "ALL"
	}
	var windows []string
	switch w {
	case WindowAll:
		windows = []string{"all"}
	case WindowRecent:
		windows = recentBuckets(time.Now())
	default:
		return Board{}, ErrBadWindow
	}
	var pks []string
	for _, win := range windows {
		for s := 0; s < d.cfg.BoardShards; s++ {
			pks = append(pks, boardPK(scope, win, s))
		}
	}
	bm := newBoardMerger()
	err := d.queryAll(ctx, pks, nil, func(it map[string]types.AttributeValue) {
		sk := str(it["sk"])
		switch {
		case strings.HasPrefix(sk, "U#"):
			bm.user(BoardUser{User: sk[2:], Bids: num(it["bids"]), Best: num(it["best"]), Buys: num(it["buys"]),
				Units: num(it["units"]), Spent: num(it["spent"])})
		case strings.HasPrefix(sk, "R#"):
			bm.region(BoardRegion{Region: sk[2:], Actions: num(it["actions"]), Spent: num(it["spent"])})
		}
	})
	if err != nil {
		return Board{}, err
	}
	return bm.board(), nil
}

// Feed reads the newest hour's feed shards first, then earlier hours, until
// it has limit events or reaches the feed's retention.
func (v dynamoViews) Feed(ctx context.Context, limit int) ([]Message, error) {
	d := v.d
	var out []Message
	now := time.Now()
	hours := int(d.cfg.FeedRetention/time.Hour) + 1
	for h := 0; h < hours && len(out) < limit; h++ {
		t := now.Add(-time.Duration(h) * time.Hour)
		pks := make([]string, d.cfg.FeedShards)
		for s := range pks {
			pks[s] = feedPK(t, s)
		}
		var hour []Message
		err := d.queryAll(ctx, pks, func(in *dynamodb.QueryInput) {
			in.ScanIndexForward, in.Limit = aws.Bool(false), aws.Int32(int32(limit))
		}, func(it map[string]types.AttributeValue) {
			hour = append(hour, Message{Kind: KindLedger, Lot: str(it["lot"]), Seq: num(it["seq"]), Event: str(it["event"]),
				At: time.UnixMilli(num(it["at"])), Region: str(it["region"]), Actor: str(it["actor"]), Data: json.RawMessage(str(it["data"]))})
		})
		if err != nil {
			return nil, err
		}
		sortFeed(hour)
		out = append(out, hour...)
	}
	return out[:min(limit, len(out))], nil
}

func (v dynamoViews) Reactions(ctx context.Context, lot string) (map[string]int64, error) {
	counts := map[string]int64{}
	err := v.d.queryAll(ctx, v.socialPKs(lot), func(in *dynamodb.QueryInput) {
		in.KeyConditionExpression = aws.String("pk = :pk AND begins_with(sk, :r)")
		in.ExpressionAttributeValues[":r"] = strAttr("REACT#")
	}, func(it map[string]types.AttributeValue) {
		counts[strings.TrimPrefix(str(it["sk"]), "REACT#")] += num(it["n"])
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// Chat reads the newest lines of each of the lot's social shards and keeps
// the newest limit of them all.
func (v dynamoViews) Chat(ctx context.Context, lot string, limit int) ([]Message, error) {
	var lines []Message
	err := v.d.queryAll(ctx, v.socialPKs(lot), func(in *dynamodb.QueryInput) {
		in.KeyConditionExpression = aws.String("pk = :pk AND begins_with(sk, :c)")
		in.ExpressionAttributeValues[":c"] = strAttr(KindChat + "#")
		in.ScanIndexForward, in.Limit = aws.Bool(false), aws.Int32(int32(limit))
	}, func(it map[string]types.AttributeValue) {
		lines = append(lines, Message{Kind: KindChat, ID: str(it["id"]), Lot: lot, Seq: num(it["seq"]), Event: str(it["event"]),
			At: time.UnixMilli(num(it["at"])), Region: str(it["region"]), Actor: str(it["actor"]), Data: json.RawMessage(str(it["data"]))})
	})
	if err != nil {
		return nil, err
	}
	sortChat(lines)
	if len(lines) > limit {
		lines = lines[len(lines)-limit:]
	}
	return lines, nil
}

func (v dynamoViews) socialPKs(lot string) []string {
	pks := make([]string, chatShards)
	for s := range pks {
		pks[s] = fmt.Sprintf("LOT#%s#S%d", lot, s)
	}
	return pks
}
