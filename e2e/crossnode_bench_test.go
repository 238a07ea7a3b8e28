package e2e

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// BenchmarkCrossNodeDelivery: a bid committed on node A, received by a
// client on node A (same node: delivered at commit, before the stream) and
// by a client on node B (through DynamoDB Local's stream). Reports p50/p99
// of commit → arrival for both, side by side; servers on their defaults.
//
//	bash .ci/with-dynamodb go test ./e2e -run '^$' -bench CrossNodeDelivery -benchtime 1000x
func BenchmarkCrossNodeDelivery(b *testing.B) {
	a, nb := twoNodes(b)
	lot := a.createLot(b, `{"kind":"english","title":"cross-node","start_price":100,"duration_s":86400}`)
	here := a.dial(b, "watcher-a", "us-east-1")
	there := nb.dial(b, "watcher-b", "eu-west-1")
	for _, w := range []*protocol.Client{here, there} {
		mustOK(b, w, protocol.Request{Type: "join", Lot: lot}, nil)
	}
	bidders := []*protocol.Client{a.dial(b, "alice", "us-east-1"), a.dial(b, "bob", "us-west-2")}
	for _, u := range []string{"alice", "bob"} {
		if err := protocol.PostJSON(ctxT(b, 10*time.Second), a.URL+"/api/wallet/deposit", a.login(b, u, "us-east-1"),
			[]byte(`{"amount":1000000000000}`), nil); err != nil {
			b.Fatal(err)
		}
	}
	same := make([]time.Duration, 0, b.N)
	cross := make([]time.Duration, 0, b.N)
	amount := int64(100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var r protocol.BidResult
		mustOK(b, bidders[i%2], protocol.Request{Type: "bid", Lot: lot, Amount: amount}, &r)
		amount += 10_000 // at least the largest bid increment
		for _, w := range []struct {
			c    *protocol.Client
			lats *[]time.Duration
		}{{here, &same}, {there, &cross}} {
			m := next(b, w.c, 10*time.Second, func(m protocol.Message) bool { return m.Event != nil && m.Event.Seq == r.Seq })
			at, _ := time.Parse(time.RFC3339Nano, m.Event.At)
			*w.lats = append(*w.lats, m.Received.Sub(at))
		}
	}
	b.StopTimer()
	for name, lats := range map[string][]time.Duration{"same": same, "cross": cross} {
		sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(lats[min(len(lats)-1, len(lats)*99/100)].Microseconds())/1000, name+"-p99-ms")
	}
}

// BenchmarkCrossNodeChat: chat lines sent on node A as fast as the server
// takes them, counted on node B; reports lines per second end to end.
//
//	bash .ci/with-dynamodb go test ./e2e -run '^$' -bench CrossNodeChat -benchtime 2000x
func BenchmarkCrossNodeChat(b *testing.B) {
	a, nb := twoNodes(b, "LOTZERO_COMMAND_RATE=100000", "LOTZERO_COMMAND_BURST=100000", "LOTZERO_CHAT_RATE=100000", "LOTZERO_CHAT_BUDGET=1000000")
	lot := a.createLot(b, `{"kind":"drop","title":"chatty","price":100,"qty":10}`)
	reader := nb.dial(b, "reader", "eu-west-1")
	mustOK(b, reader, protocol.Request{Type: "join", Lot: lot}, nil)
	count := drain(reader)
	chatters := make([]*protocol.Client, 8)
	for i := range chatters {
		chatters[i] = a.dial(b, fmt.Sprintf("chatter%d", i), "us-east-1")
		mustOK(b, chatters[i], protocol.Request{Type: "join", Lot: lot}, nil)
		drain(chatters[i])
	}
	b.ResetTimer()
	began := time.Now()
	for i := 0; i < b.N; i++ {
		frame := fmt.Sprintf(`{"type":"chat","id":"c%d","lot":"%s","text":"line %d"}`, i, lot, i)
		if err := chatters[i%len(chatters)].WriteRaw(ctxT(b, 5*time.Second), []byte(frame)); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(60 * time.Second); count.Load() < int64(b.N); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("node B got %d of %d chat lines", count.Load(), b.N)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "lines/s")
}
