package firehose

import (
	"context"
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
