package firehose

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// sideItems keeps the derived views current as messages arrive: the
// per-lot and overall leaderboards, the global activity feed and reaction
// counts. They run once per message (after its first, successful publish)
// and are best effort: a failure is logged, never returned. What they count
// comes from m.Tally; the payload is stored, never decoded.
func (d *Dynamo) sideItems(ctx context.Context, m Message) {
	var err error
	switch {
	case m.Kind == KindLedger:
		err = d.ledgerSideItems(ctx, m)
	case m.Kind == KindReaction && m.Tally != nil && m.Tally.Emoji != "":
		_, err = d.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(d.cfg.Table),
			Key:                       map[string]types.AttributeValue{"pk": strAttr(lotPK(m.Lot)), "sk": strAttr("REACT#" + m.Tally.Emoji)},
			UpdateExpression:          aws.String("ADD n :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": numAttr(1)},
		})
	}
	if err != nil {
		d.log.Warn().Err(err).Str("kind", m.Kind).Msg("dynamodb: side items")
	}
}

func (d *Dynamo) ledgerSideItems(ctx context.Context, m Message) error {
	// The global activity feed, by hour; a lot's own feed is its events.
	if _, err := d.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.cfg.Table), Item: map[string]types.AttributeValue{
		"pk": strAttr(feedPK(m.At)), "sk": strAttr(strconv.FormatInt(m.At.UnixMilli(), 10) + "#" + m.Lot + "#" + strconv.FormatInt(m.Seq, 10)),
		"lot": strAttr(m.Lot), "seq": numAttr(m.Seq), "event": strAttr(m.Event), "region": strAttr(m.Region), "data": strAttr(string(m.Data)),
		"ttl": numAttr(m.At.Add(7 * 24 * time.Hour).Unix()),
	}}); err != nil {
		return err
	}
	t := m.Tally
	switch {
	case t == nil:
	case t.Bid > 0:
		// Top bidders: each bidder's highest bid, per lot and overall.
		for _, scope := range []string{m.Lot, "ALL"} {
			_, err := d.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 aws.String(d.cfg.Table),
				Key:                       map[string]types.AttributeValue{"pk": strAttr(boardPK(scope)), "sk": strAttr("BID#" + t.User)},
				UpdateExpression:          aws.String("SET best = :a, #u = :u"),
				ConditionExpression:       aws.String("attribute_not_exists(best) OR best < :a"),
				ExpressionAttributeNames:  map[string]string{"#u": "user"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":a": numAttr(t.Bid), ":u": strAttr(t.User)},
			})
			var lower *types.ConditionalCheckFailedException
			if err != nil && !asErr(err, &lower) {
				return err
			}
		}
	case t.Units > 0:
		// Top buyers: units and money spent, per lot and overall.
		for _, scope := range []string{m.Lot, "ALL"} {
			if _, err := d.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 aws.String(d.cfg.Table),
				Key:                       map[string]types.AttributeValue{"pk": strAttr(boardPK(scope)), "sk": strAttr("BUY#" + t.User)},
				UpdateExpression:          aws.String("ADD units :q, spent :t SET #u = :u"),
				ExpressionAttributeNames:  map[string]string{"#u": "user"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":q": numAttr(t.Units), ":t": numAttr(t.Spent), ":u": strAttr(t.User)},
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// LeaderEntry is one line of a leaderboard.
type LeaderEntry struct {
	User  string `json:"user"`
	Best  int64  `json:"best,omitempty"`  // highest bid
	Units int64  `json:"units,omitempty"` // units bought
	Spent int64  `json:"spent,omitempty"` // money spent buying
}

// Leaderboard reads the bidders ("BID") or buyers ("BUY") board of a lot,
// or of everything with scope "ALL".
func (d *Dynamo) Leaderboard(ctx context.Context, scope, board string) ([]LeaderEntry, error) {
	out, err := d.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(d.cfg.Table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :b)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": strAttr(boardPK(scope)), ":b": strAttr(board + "#")},
	})
	if err != nil {
		return nil, err
	}
	var entries []LeaderEntry
	for _, it := range out.Items {
		entries = append(entries, LeaderEntry{User: str(it["user"]), Best: num(it["best"]), Units: num(it["units"]), Spent: num(it["spent"])})
	}
	return entries, nil
}

// Reactions reads a lot's reaction counts by emoji.
func (d *Dynamo) Reactions(ctx context.Context, lot string) (map[string]int64, error) {
	out, err := d.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(d.cfg.Table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :r)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": strAttr(lotPK(lot)), ":r": strAttr("REACT#")},
	})
	if err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	for _, it := range out.Items {
		counts[str(it["sk"])[len("REACT#"):]] = num(it["n"])
	}
	return counts, nil
}

func str(v types.AttributeValue) string {
	if x, ok := v.(*types.AttributeValueMemberS); ok {
		return x.Value
	}
	return ""
}

func num(v types.AttributeValue) int64 {
	if x, ok := v.(*types.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(x.Value, 10, 64)
		return i
	}
	return 0
}

// dynamoPresence keeps a heartbeat item per session with a TTL attribute;
// reads filter by expiry because TTL deletion lags.
type dynamoPresence struct{ d *Dynamo }

func (p *dynamoPresence) Join(ctx context.Context, lot string, e Present) error {
	exp := time.Now().Add(p.d.cfg.PresenceTTL)
	_, err := p.d.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(p.d.cfg.Table), Item: map[string]types.AttributeValue{
		"pk": strAttr(presencePK(lot)), "sk": strAttr(e.Session), "user": strAttr(e.User), "region": strAttr(e.Region), "node": strAttr(e.Node),
		"expires": numAttr(exp.UnixMilli()), "ttl": numAttr(exp.Unix()),
	}})
	return err
}

func (p *dynamoPresence) Leave(ctx context.Context, lot, session string) error {
	_, err := p.d.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(p.d.cfg.Table),
		Key: map[string]types.AttributeValue{"pk": strAttr(presencePK(lot)), "sk": strAttr(session)}})
	return err
}

func (p *dynamoPresence) List(ctx context.Context, lot string) ([]Present, error) {
	now := time.Now().UnixMilli()
	var out []Present
	var start map[string]types.AttributeValue
	for {
		page, err := p.d.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(p.d.cfg.Table),
			KeyConditionExpression:    aws.String("pk = :pk"),
			FilterExpression:          aws.String("expires > :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": strAttr(presencePK(lot)), ":now": numAttr(now)},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			out = append(out, Present{Session: str(it["sk"]), User: str(it["user"]), Region: str(it["region"]), Node: str(it["node"]),
				Expires: time.UnixMilli(num(it["expires"]))})
		}
		if page.LastEvaluatedKey == nil {
			break
		}
		start = page.LastEvaluatedKey
	}
	sortByUser(out)
	return out, nil
}
