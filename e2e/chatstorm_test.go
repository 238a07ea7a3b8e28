package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lotzero/lotzero/hub"
	"github.com/lotzero/lotzero/internal/fanoutbench"
	"github.com/lotzero/lotzero/protocol"
)

// TestChatStormKeepsEveryBid: 300 sessions joining at once on the default
// settings, 60 of them chatting at their rate limit (three times the
// room's chat budget) while bids go on. Every session gets every bid once,
// in seq order; no session is closed; the chatters' replies say which
// lines were broadcast, and every session's batch frames count the lines
// it was not shown. The benchmark of the README at a test's scale; no
// latency is asserted.
func TestChatStormKeepsEveryBid(t *testing.T) {
	s := startServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := fanoutbench.Run(ctx, fanoutbench.Config{URL: s.URL, Sessions: 300, Chatters: 60, Bids: 5, Rounds: 2, Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("%v: closed %v, missing %d, duplicated %d, out of order %d, join failures %v",
			err, res.Closed, res.Missing, res.Duplicates, res.OutOfOrder, res.JoinFailures)
	}
	if res.Joined != 300 || res.Quiet.Samples != 300*5*2 || res.Storm.Samples != 300*5*2 || len(res.Closed) != 0 {
		t.Fatalf("joined %d, quiet arrivals %d, storm arrivals %d, closed %v", res.Joined, res.Quiet.Samples, res.Storm.Samples, res.Closed)
	}
	c := res.Chat
	if c.Budget != hub.Defaults().ChatBudget {
		t.Fatalf("the welcome announced a chat budget of %v, the default is %v", c.Budget, hub.Defaults().ChatBudget)
	}
	if c.Broadcast == 0 || c.Suppressed == 0 || c.Failed != 0 || c.Broadcast+c.Suppressed+c.RateLimited != c.Sent {
		t.Fatalf("chat replies: %+v", c)
	}
	// Every session was shown every line broadcast and told of every line
	// suppressed (one node: the counts are all its own).
	if c.Received != float64(c.Broadcast) || c.Counted != float64(c.Suppressed) || c.Batches == 0 {
		t.Fatalf("an average session received %v of %d lines broadcast and counts of %v of %d suppressed, in %v batches",
			c.Received, c.Broadcast, c.Counted, c.Suppressed, c.Batches)
	}
	t.Logf("quiet p99 %v, storm p99 %v; chat %+v", res.Quiet.P99, res.Storm.P99, c)
}

// TestBatchFramesAreOptIn: a client whose hello does not ask for batches
// (every v1 bot) gets a busy room's lines as v1 event frames, never a
// batch; protocol.Client asks for them and delivers the same lines as
// events, in order.
func TestBatchFramesAreOptIn(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"english","title":"chatty","start_price":100,"duration_s":3600}`)
	ctx := ctxT(t, time.Minute)

	v1, _, err := websocket.Dial(ctx, s.WS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v1.CloseNow()
	hello, _ := json.Marshal(protocol.Hello{Type: "hello", Token: s.login(t, "oldbot", "eu-west-1"), Region: "eu-west-1"})
	_ = v1.Write(ctx, websocket.MessageText, hello)
	_ = v1.Write(ctx, websocket.MessageText, []byte(`{"type":"join","id":"j","lot":"`+lot+`"}`))

	batched := s.dial(t, "newbot", "us-east-1")
	mustOK(t, batched, protocol.Request{Type: "join", Lot: lot}, nil)
	chatter := s.dial(t, "talker", "us-west-2")
	mustOK(t, chatter, protocol.Request{Type: "join", Lot: lot}, nil)
	// Five lines at once (the per-session burst): the first goes out
	// alone, the rest within the coalescing interval, together.
	for i := range 5 {
		var res protocol.ChatResult
		mustOK(t, chatter, protocol.Request{Type: "chat", Lot: lot, Text: fmt.Sprint("line ", i)}, &res)
		if !res.Broadcast {
			t.Fatalf("line %d: not broadcast in a quiet room", i)
		}
	}
	var got []string
	for len(got) < 5 {
		m := next(t, batched, 10*time.Second, isEvent(protocol.EventChat))
		var d protocol.ChatData
		_ = json.Unmarshal(m.Event.Data, &d)
		got = append(got, d.Text)
	}
	if fmt.Sprint(got) != "[line 0 line 1 line 2 line 3 line 4]" {
		t.Fatalf("protocol.Client delivered %v", got)
	}
	var v1Got []string
	for len(v1Got) < 5 {
		_, frame, err := v1.Read(ctx)
		if err != nil {
			t.Fatalf("v1 client: %v after %v", err, v1Got)
		}
		var ev protocol.Event
		if err := json.Unmarshal(frame, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "batch" {
			t.Fatalf("a client that did not ask got a batch frame: %s", frame)
		}
		if ev.Type == "event" && ev.Kind == protocol.EventChat {
			var d protocol.ChatData
			_ = json.Unmarshal(ev.Data, &d)
			v1Got = append(v1Got, d.Text)
		}
	}
	if fmt.Sprint(v1Got) != "[line 0 line 1 line 2 line 3 line 4]" {
		t.Fatalf("v1 client got %v", v1Got)
	}
}
