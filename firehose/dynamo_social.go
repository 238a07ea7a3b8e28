package firehose

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

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
	_, err := p.d.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(p.d.cfg.Table),
		Item: p.presenceItem(lot, e, time.Now().Add(p.d.cfg.PresenceTTL))})
	return err
}

// presenceItem is a session's heartbeat item, expiring at exp.
func (p *dynamoPresence) presenceItem(lot string, e Present, exp time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": strAttr(presencePK(lot)), "sk": strAttr(e.Session), "user": strAttr(e.User), "region": strAttr(e.Region), "node": strAttr(e.Node),
		"expires": numAttr(exp.UnixMilli()), "ttl": numAttr(exp.Unix()),
	}
}

// JoinAll writes heartbeats in BatchWriteItem calls of 25, resending what
// DynamoDB leaves unprocessed (throttling) with a short backoff.
func (p *dynamoPresence) JoinAll(ctx context.Context, beats []Heartbeat) error {
	exp := time.Now().Add(p.d.cfg.PresenceTTL)
	for start := 0; start < len(beats); start += 25 {
		var reqs []types.WriteRequest
		for _, b := range beats[start:min(start+25, len(beats))] {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: p.presenceItem(b.Lot, b.Present, exp)}})
		}
		pending := map[string][]types.WriteRequest{p.d.cfg.Table: reqs}
		for attempt := 0; len(pending[p.d.cfg.Table]) > 0; attempt++ {
			if attempt > 0 {
				if attempt > 5 {
					return fmt.Errorf("dynamodb: presence heartbeats: %d left unprocessed", len(pending[p.d.cfg.Table]))
				}
				if err := sleepCtx(ctx, time.Duration(25<<attempt)*time.Millisecond); err != nil {
					return err
				}
			}
			out, err := p.d.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("dynamodb: presence heartbeats: %w", err)
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
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
			TableName: aws.String(p.d.cfg.Table),
			// A read must see every join written before it started: the
			// hub counts later joins on top of it.
			ConsistentRead:            aws.Bool(true),
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
