package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// smallBufferClient dials with a tiny socket receive buffer, so a client
// that stops reading backs up into the server quickly.
func smallBufferClient() *http.Client {
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// drain counts chat events on a client in the background, so it never
// backs up.
func drain(c *protocol.Client) *atomic.Int64 {
	var n atomic.Int64
	go func() {
		for m := range c.Messages() {
			if m.Event != nil && m.Event.Kind == "chat" {
				n.Add(1)
			}
		}
	}()
	return &n
}

// TestSlowReaderClosedWith4009: a client that never reads first loses
// social frames — chat it would have been shown — and stays connected;
// only when money frames (ledger events) no longer fit its queue is it
// closed with 4009, while the others keep receiving everything.
func TestSlowReaderClosedWith4009(t *testing.T) {
	// The queue bound is the hub's, whatever the firehose: this test keeps
	// the in-process one in both passes of the suite, because pushing the
	// megabytes it needs through DynamoDB Local (two writes per chat line)
	// took minutes on a loaded machine. The DynamoDB path has its own tests.
	// The slow reader answers no ping (it reads nothing): a ping round
	// must not close it before its queue does, however long the flood
	// takes on a loaded machine.
	s := startServer(t, "", "DYNAMODB_TABLE=", "LOTZERO_QUEUE_BYTES=65536", "LOTZERO_CHAT_RATE=100000",
		"LOTZERO_CHAT_BUDGET=100000", "LOTZERO_COMMAND_RATE=100000", "LOTZERO_COMMAND_BURST=100000", "LOTZERO_PING_INTERVAL=1h")
	lot := s.createLot(t, `{"kind":"english","title":"flood","start_price":100,"duration_s":3600}`)

	// Filling the kernel's buffers toward a reader that reads nothing takes
	// a few megabytes; on a loaded machine with the DynamoDB firehose that
	// is a minute or more.
	ctx := ctxT(t, 240*time.Second)
	slow, _, err := websocket.Dial(ctx, s.WS, &websocket.DialOptions{HTTPClient: smallBufferClient()})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	hello, _ := json.Marshal(protocol.Hello{Type: "hello", Token: s.login(t, "sloth", "sa-east-1"), Region: "sa-east-1"})
	_ = slow.Write(ctx, websocket.MessageText, hello)
	_, _, _ = slow.Read(ctx) // welcome
	_ = slow.Write(ctx, websocket.MessageText, []byte(`{"type":"join","id":"j","lot":"`+lot+`"}`))
	_, _, _ = slow.Read(ctx) // join reply; from now on it reads nothing

	fast := s.dial(t, "alice", "eu-west-1")
	mustOK(t, fast, protocol.Request{Type: "join", Lot: lot}, nil)
	fastCount := drain(fast)
	chatter := s.dial(t, "bob", "us-east-1")
	mustOK(t, chatter, protocol.Request{Type: "join", Lot: lot}, nil)
	drain(chatter)

	// ~700-byte chat frames in bursts of 30 (about 21 KiB, under the
	// social half of a reading session's 64 KiB queue), each drained by the
	// fast reader before the next, until the slow reader's queue has
	// dropped social frames: it is not closed for that.
	text := strings.Repeat("lorem ipsum ", 40)
	sent := 0
	for sent < 20000 && metricValue(t, s, "lotzero_social_frames_dropped_total") == 0 {
		for i := 0; i < 30; i++ {
			sent++
			frame := `{"type":"chat","id":"m` + itoa(sent) + `","lot":"` + lot + `","text":"` + text + `"}`
			if err := chatter.WriteRaw(ctx, []byte(frame)); err != nil {
				t.Fatal(err)
			}
		}
		for deadline := time.Now().Add(30 * time.Second); fastCount.Load() < int64(sent); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the fast reader fell behind: %d of %d chats", fastCount.Load(), sent)
			}
		}
	}
	if metricValue(t, s, "lotzero_social_frames_dropped_total") == 0 {
		t.Fatalf("the slow reader's queue never dropped chat after %d lines", sent)
	}
	if n := metricValue(t, s, "lotzero_slow_consumer_closes_total"); n != 0 {
		t.Fatalf("the slow reader was closed for chat (%v closes); only money frames may close it", n)
	}
	// Now money: bids, alternating between two bidders, until the slow
	// reader's queue cannot take a ledger event.
	bidders := []*protocol.Client{s.dial(t, "carol", "us-east-1"), s.dial(t, "dave", "eu-west-1")}
	for _, b := range bidders {
		drain(b)
	}
	price, bids := int64(100), 0
	for ; bids < 400 && slowCloses(t, s) == 0; bids++ {
		var r protocol.BidResult
		mustOK(t, bidders[bids%2], protocol.Request{Type: "bid", Lot: lot, Amount: price}, &r)
		price = r.Amount + ledger.BidIncrement(r.Amount)
	}
	if slowCloses(t, s) == 0 {
		t.Fatalf("slow reader never closed after %d chats and %d bids", sent, bids)
	}
	// The slow reader now reads: after what was buffered, it finds 4009.
	var status websocket.StatusCode = -1
	for {
		_, _, err := slow.Read(ctx)
		if err != nil {
			status = websocket.CloseStatus(err)
			break
		}
	}
	if status != protocol.CloseTooSlow {
		t.Fatalf("slow reader closed with %d, want 4009", status)
	}
	// Everyone else got every chat.
	if got := fastCount.Load(); got != int64(sent) {
		t.Fatalf("fast reader got %d of %d chats", got, sent)
	}
	t.Logf("slow reader lost chat after %d lines and was closed with 4009 after %d bids; fast reader got every line", sent, bids)
}

// slowCloses reads lotzero_slow_consumer_closes_total from /metrics.
func slowCloses(t *testing.T, s *server) int {
	t.Helper()
	if metricValue(t, s, "lotzero_slow_consumer_closes_total") != 0 {
		return 1
	}
	return 0
}
