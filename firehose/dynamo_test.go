package firehose

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// dynamoLocal is the DynamoDB Local endpoint the test command provides
// (.ci/with-dynamodb). These tests talk to it with the real SDK clients and
// fail — never skip — without it.
func dynamoLocal(t *testing.T) string {
	t.Helper()
	ep := os.Getenv("LOTZERO_DYNAMODB_ENDPOINT")
	if ep == "" {
		t.Fatal("LOTZERO_DYNAMODB_ENDPOINT is not set: run the tests with `make test` (or `bash .ci/with-dynamodb go test ./...`), which starts DynamoDB Local")
	}
	return ep
}

// newTable makes a fresh table and a started node on it.
func newTable(t *testing.T) (string, func(node string, cfg ...func(*DynamoConfig)) *Dynamo) {
	t.Helper()
	ep := dynamoLocal(t)
	table := fmt.Sprintf("lz_test_%d", rand.Int64())
	start := func(node string, mods ...func(*DynamoConfig)) *Dynamo {
		cfg := DynamoConfig{Table: table, Endpoint: ep, Node: node, Poll: 50 * time.Millisecond, Discover: time.Second}
		for _, m := range mods {
			m(&cfg)
		}
		d, err := NewDynamo(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.CreateTable(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := d.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return table, start
}

// tailing waits until each node's tailer has found its shards (and, on a
// cold start, taken their LATEST iterators): records written before that
// are history, not what a test of live fan-out expects. A fixed sleep was
// too short on a loaded machine. A tailer reads only once its node has a
// subscriber: pass subscribed nodes.
func tailing(t *testing.T, nodes ...*Dynamo) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, d := range nodes {
		for d.lastPoll.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("a tailer found no shards within 15s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func collect(t *testing.T, ch <-chan Message, n int, wait time.Duration) []Message {
	t.Helper()
	var got []Message
	deadline := time.After(wait)
	for len(got) < n {
		select {
		case m := <-ch:
			got = append(got, m)
		case <-deadline:
			return got
		}
	}
	return got
}

func noMore(t *testing.T, ch <-chan Message, wait time.Duration) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected message: %+v", m)
	case <-time.After(wait):
	}
}

func ledgerMsg(lot string, seq int64) Message {
	return Message{Kind: KindLedger, Lot: lot, Seq: seq, Event: "bid", At: time.Now(), Region: "eu-west-1", Actor: "alice",
		Data: json.RawMessage(fmt.Sprintf(`{"bidder":"alice","amount":%d}`, seq*100)), Wallets: []string{"alice"}}
}

func TestDynamoFansOutAcrossNodesOnce(t *testing.T) {
	_, start := newTable(t)
	a, b := start("a"), start("b")
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	subA, _ := a.Subscribe(ctx)
	subB, _ := b.Subscribe(ctx)
	tailing(t, a, b) // both tailers at LATEST
	for seq := int64(1); seq <= 5; seq++ {
		for i := 0; i < 2; i++ { // republished (a relay): stored and delivered once
			if err := a.Publish(ctx, ledgerMsg("L1", seq)); err != nil {
				t.Fatal(err)
			}
		}
	}
	chat := Message{Kind: KindChat, ID: "bob:1", Lot: "L1", Event: "chat", At: time.Now(), Region: "us-east-1", Data: json.RawMessage(`{"text":"hi"}`)}
	if err := b.Publish(ctx, chat); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, chat); err != nil {
		t.Fatal(err)
	}
	for name, sub := range map[string]<-chan Message{"a": subA, "b": subB} {
		got := collect(t, sub, 6, 10*time.Second)
		if len(got) != 6 {
			t.Fatalf("node %s got %d of 6 messages", name, len(got))
		}
		seen := map[string]int{}
		for _, m := range got {
			seen[fmt.Sprintf("%s/%d", m.Kind, m.Seq)]++
			if m.Kind == KindLedger && (m.Actor != "alice" || len(m.Wallets) != 1 || string(m.Data) == "") {
				t.Fatalf("decoded %+v", m)
			}
		}
		for k, c := range seen {
			if c != 1 {
				t.Fatalf("node %s got %s %d times", name, k, c)
			}
		}
		noMore(t, sub, 500*time.Millisecond)
	}
	if a.Lag() <= 0 || a.Ready(ctx) != nil {
		t.Fatalf("lag %v ready %v", a.Lag(), a.Ready(ctx))
	}
}

// TestDynamoCarriesWhenACountWasRead: a presence announcement's AsOf (when
// its count was read) reaches the other nodes, to the millisecond; a chat
// line, which has none, arrives with none.
func TestDynamoCarriesWhenACountWasRead(t *testing.T) {
	_, start := newTable(t)
	a, b := start("a"), start("b")
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	sub, _ := b.Subscribe(ctx)
	tailing(t, b)
	asOf := time.Now().Add(-300 * time.Millisecond).Truncate(time.Millisecond)
	for _, m := range []Message{
		{Kind: KindPresence, ID: "p1", Lot: "L3", Event: "presence", At: time.Now(), AsOf: asOf, Region: "system", Data: json.RawMessage(`{"count":2}`)},
		{Kind: KindChat, ID: "c1", Lot: "L3", Event: "chat", At: time.Now(), Region: "eu-west-1", Data: json.RawMessage(`{"text":"hi"}`)},
	} {
		if err := a.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	got := collect(t, sub, 2, 10*time.Second)
	if len(got) != 2 {
		t.Fatalf("got %d of 2 messages", len(got))
	}
	for _, m := range got {
		if want := map[string]time.Time{KindPresence: asOf}[m.Kind]; !m.AsOf.Equal(want) {
			t.Fatalf("%s arrived with AsOf %v, want %v", m.Kind, m.AsOf, want)
		}
	}
}

func TestDynamoRestartResumesWithoutLossOrDuplicates(t *testing.T) {
	_, start := newTable(t)
	ctx := context.Background()
	pub := start("publisher")
	defer pub.Close()
	node := start("n1")
	sub, _ := node.Subscribe(ctx)
	tailing(t, node) // the publisher has no subscriber: its tailer reads nothing
	for seq := int64(1); seq <= 3; seq++ {
		_ = pub.Publish(ctx, ledgerMsg("L2", seq))
	}
	if got := collect(t, sub, 3, 10*time.Second); len(got) != 3 {
		t.Fatalf("before restart: %d of 3", len(got))
	}
	node.Close() // saves where it stopped
	for seq := int64(4); seq <= 6; seq++ {
		_ = pub.Publish(ctx, ledgerMsg("L2", seq))
	}
	again := start("n1")
	defer again.Close()
	sub2, _ := again.Subscribe(ctx)
	got := collect(t, sub2, 3, 10*time.Second)
	if len(got) != 3 || got[0].Seq != 4 || got[2].Seq != 6 {
		t.Fatalf("after restart: %+v", got)
	}
	noMore(t, sub2, 500*time.Millisecond)
}

func TestDynamoPresenceExpires(t *testing.T) {
	_, start := newTable(t)
	d := start("a", func(c *DynamoConfig) { c.PresenceTTL = time.Second })
	defer d.Close()
	ctx := context.Background()
	p := d.Presence()
	_ = p.Join(ctx, "L3", Present{Session: "s1", User: "alice", Region: "eu-west-1", Node: "a"})
	_ = p.Join(ctx, "L3", Present{Session: "s2", User: "bob", Region: "us-east-1", Node: "b"})
	list, err := p.List(ctx, "L3")
	if err != nil || len(list) != 2 || list[0].User != "alice" {
		t.Fatalf("presence: %+v %v", list, err)
	}
	_ = p.Leave(ctx, "L3", "s1")
	if list, _ := p.List(ctx, "L3"); len(list) != 1 {
		t.Fatalf("after leave: %+v", list)
	}
	time.Sleep(1200 * time.Millisecond) // bob's node died: no heartbeat
	if list, _ := p.List(ctx, "L3"); len(list) != 0 {
		t.Fatalf("expired entries listed: %+v", list)
	}
}
