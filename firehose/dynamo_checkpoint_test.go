package firehose

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func chatMsg(lot string, i int) Message {
	return Message{Kind: KindChat, ID: fmt.Sprintf("bob:%s:%d", lot, i), Lot: lot, Event: "chat", At: time.Now(), Region: "us-east-1",
		Data: json.RawMessage(fmt.Sprintf(`{"text":"line %d"}`, i))}
}

// keyOf names a message the way subscribers tell them apart: ledger
// messages by seq, social ones by ID.
func keyOf(m Message) string {
	if m.Kind == KindLedger {
		return fmt.Sprintf("ledger/%d", m.Seq)
	}
	return m.ID
}

// TestDynamoCrashResumesFromTheCheckpoint: a node whose tailer dies
// without its clean-stop checkpoint (as in kill -9) resumes, under the
// same name, after what its periodic checkpoint covered: every message
// published while it was down arrives exactly once, nothing the checkpoint
// covered arrives again, and only what it delivered after its last
// checkpoint may (once).
func TestDynamoCrashResumesFromTheCheckpoint(t *testing.T) {
	_, start := newTable(t)
	ctx := context.Background()
	pub := start("publisher")
	defer pub.Close()
	fast := func(c *DynamoConfig) { c.CheckpointEvery, c.Heartbeat = 200*time.Millisecond, 300*time.Millisecond }
	node := start("n1", fast)
	sub, _ := node.Subscribe(ctx)
	time.Sleep(300 * time.Millisecond) // the tailer at LATEST

	publish := func(ms ...Message) {
		for _, m := range ms {
			if err := pub.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	var covered, after, down []Message
	for i := 1; i <= 5; i++ {
		covered = append(covered, chatMsg("L6", i))
	}
	covered = append(covered, ledgerMsg("L6", 1), ledgerMsg("L6", 2))
	publish(covered...)
	if got := collect(t, sub, len(covered), 10*time.Second); len(got) != len(covered) {
		t.Fatalf("before the crash: %d of %d", len(got), len(covered))
	}
	// The coalesced write after them and a heartbeat's cover them.
	writes := node.StreamStats().CheckpointWrites
	time.Sleep(800 * time.Millisecond)
	if node.StreamStats().CheckpointWrites == writes {
		t.Fatal("no checkpoint written in 800ms with a 300ms heartbeat")
	}

	for i := 6; i <= 8; i++ {
		after = append(after, chatMsg("L6", i))
	}
	publish(after...)
	if got := collect(t, sub, len(after), 10*time.Second); len(got) != len(after) {
		t.Fatalf("just before the crash: %d of %d", len(got), len(after))
	}
	crash(node) // its checkpoint may or may not cover these: they may come again

	for i := 9; i <= 12; i++ {
		down = append(down, chatMsg("L6", i))
	}
	down = append(down, ledgerMsg("L6", 3), ledgerMsg("L6", 4))
	publish(down...)

	again := start("n1", fast)
	defer again.Close()
	sub2, _ := again.Subscribe(ctx)
	got := collect(t, sub2, len(down)+len(after), 10*time.Second)
	seen := map[string]int{}
	for _, m := range got {
		seen[keyOf(m)]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times after the restart", k, n)
		}
	}
	for _, m := range down {
		if seen[keyOf(m)] != 1 {
			t.Errorf("%s, published while the node was down, was not delivered after the restart", keyOf(m))
		}
	}
	for _, m := range covered {
		if seen[keyOf(m)] != 0 {
			t.Errorf("%s, covered by the checkpoint, was delivered again", keyOf(m))
		}
	}
	redelivered := len(got) - len(down)
	t.Logf("after the restart: %d published while down, %d of the %d delivered after the last checkpoint came again", len(down), redelivered, len(after))
	noMore(t, sub2, 500*time.Millisecond)
}
