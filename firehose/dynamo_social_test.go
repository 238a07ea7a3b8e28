package firehose

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A chat line whose publisher died between its marker and its line is put
// when the client retries, under the number the marker holds — once.
func TestDynamoChatRetryRepairsAHalfPublishedLine(t *testing.T) {
	_, start := newTable(t)
	d := start("a")
	defer d.Close()
	ctx := context.Background()
	m := Message{Kind: KindChat, ID: "alice:L9:1", Lot: "L9", Event: "chat", At: time.Now(), Region: "eu-west-1",
		Actor: "alice", Data: json.RawMessage(`{"text":"half"}`)}
	first := socialSeq(m.At, m.ID)
	// The first attempt wrote only its marker.
	if _, err := d.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.cfg.Table), Item: map[string]types.AttributeValue{
		"pk": strAttr(socialPK(m.Lot, m.ID)), "sk": strAttr(socialMarkSK(m.ID)), "seq": numAttr(first),
	}}); err != nil {
		t.Fatal(err)
	}
	m.At = m.At.Add(2 * time.Second) // the retry, later
	for i := 0; i < 2; i++ {
		if err := d.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	lines, err := d.Views().Chat(ctx, m.Lot, MaxChatHistory)
	if err != nil || len(lines) != 1 || lines[0].Seq != first || string(lines[0].Data) != `{"text":"half"}` {
		t.Fatalf("lines %+v %v; want the one line numbered %d", lines, err, first)
	}
}
