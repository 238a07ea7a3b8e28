package firehose

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestMemoryDeliversOnceToEverySubscriber(t *testing.T) {
	m := NewMemory(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, _ := m.Subscribe(ctx)
	b, _ := m.Subscribe(ctx)
	ev := Message{Kind: KindLedger, Lot: "L", Seq: 1, Event: "bid", Data: json.RawMessage(`{}`)}
	for i := 0; i < 3; i++ { // republished by a relay: delivered once
		if err := m.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	chat := Message{Kind: KindChat, ID: "u:1", Lot: "L", Event: "chat"}
	_ = m.Publish(ctx, chat)
	_ = m.Publish(ctx, chat)
	_ = m.Publish(ctx, Message{Kind: KindChat, ID: "u:2", Lot: "L", Event: "chat"})
	for _, ch := range []<-chan Message{a, b} {
		got := []Message{<-ch, <-ch, <-ch}
		if got[0].Seq != 1 || got[1].Seq != 1 || got[2].Seq != 2 || got[1].Kind != KindChat {
			t.Fatalf("delivery: %+v", got)
		}
		select {
		case extra := <-ch:
			t.Fatalf("duplicate delivered: %+v", extra)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestMemoryPresenceExpires(t *testing.T) {
	m := NewMemory(100 * time.Millisecond)
	p := m.Presence()
	ctx := context.Background()
	_ = p.Join(ctx, "L", Present{Session: "s1", User: "bob", Region: "us-east-1"})
	_ = p.Join(ctx, "L", Present{Session: "s2", User: "alice", Region: "eu-west-1"})
	_ = p.Join(ctx, "L", Present{Session: "s3", User: "alice", Region: "eu-west-1"})
	list, _ := p.List(ctx, "L")
	if users := Users(list); len(list) != 3 || len(users) != 2 || users[0].User != "alice" {
		t.Fatalf("presence: %+v", list)
	}
	_ = p.Leave(ctx, "L", "s1")
	time.Sleep(150 * time.Millisecond) // no heartbeat: the rest expire
	if list, _ := p.List(ctx, "L"); len(list) != 0 {
		t.Fatalf("expired entries listed: %+v", list)
	}
	_ = m.Close()
	if err := m.Ready(ctx); err == nil {
		t.Fatal("a closed firehose reports ready")
	}
}

// The dedup memory is bounded by age: a retry within DedupRetention is
// still dropped, and what is older is forgotten, ids and quiet lots alike.
func TestMemoryForgetsAfterRetention(t *testing.T) {
	m := NewMemory(0)
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, _ := m.Subscribe(ctx)
	go func() {
		for range sub {
		}
	}()
	publish := func(msg Message) {
		t.Helper()
		if err := m.Publish(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		publish(Message{Kind: KindChat, Lot: "L", ID: "chat-" + string(rune('a'+i%26)) + time.Duration(i).String()})
		publish(Message{Kind: KindLedger, Lot: "lot-" + time.Duration(i).String(), Seq: 1, Event: "bid"})
	}
	now = now.Add(DedupRetention - time.Second)
	publish(Message{Kind: KindChat, Lot: "L", ID: "chat-a0s"}) // a retry within the retention
	if got := m.socialSeq["L"]; got != 100 {
		t.Fatalf("a retry within the retention was published again: social seq %d, want 100", got)
	}
	now = now.Add(2 * time.Second)
	publish(Message{Kind: KindChat, Lot: "L", ID: "late"})
	m.mu.Lock()
	ids, order := len(m.seenIDs), len(m.idOrder)
	m.mu.Unlock()
	if ids != 1 || order != 1 {
		t.Fatalf("after the retention Memory still remembers %d ids (%d queued); want 1", ids, order)
	}
	// Quiet lots are swept a few times per retention.
	now = now.Add(DedupRetention / 4)
	publish(Message{Kind: KindChat, Lot: "L", ID: "later"})
	m.mu.Lock()
	lots := len(m.seen)
	m.mu.Unlock()
	if lots != 0 {
		t.Fatalf("Memory still remembers %d quiet lots after the retention", lots)
	}
}
