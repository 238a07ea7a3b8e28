package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// BenchmarkStreamReaders: three nodes on one DynamoDB Local table, the
// stream's readers. Reports each node's GetRecords calls per second per
// shard (the mean over the nodes, and the three together) while the nodes
// are quiet (no clients: only their own registrations on the stream) and
// under load — b.N bids committed on A, each awaited by a client on B and
// one on C, while a client on A chats 25 lines a second — and the
// cross-node delivery (commit on A → arrival on B or C) p50/p99 under that
// load. Servers on their defaults (presence heartbeats every 10 s) but
// without the demo lots, whose Dutch ticks would keep the stream busy.
//
//	bash .ci/with-dynamodb go test ./e2e -run '^$' -bench StreamReaders -benchtime 300x
func BenchmarkStreamReaders(b *testing.B) {
	env := clusterEnv(b, "LOTZERO_CHAT_RATE=1000", "LOTZERO_CHAT_BUDGET=1000", "LOTZERO_PRESENCE_TTL=30s", "LOTZERO_SEED=false")
	var nodes []*server
	for _, name := range []string{"node-a", "node-b", "node-c"} {
		nodes = append(nodes, startServer(b, "", slices.Concat(env, []string{"LOTZERO_NODE=" + name})...))
	}
	for _, n := range nodes {
		waitUntil(b, 60*time.Second, "every node to count three readers", func() bool {
			return metric(b, n.URL, "lotzero_firehose_stream_readers") == 3 && metric(b, n.URL, "lotzero_firehose_getrecords_total") > 0
		})
	}
	time.Sleep(3 * time.Second) // quiet long enough for the backoff to reach its bound
	idle := readRates(b, nodes)
	time.Sleep(15 * time.Second)
	idle.stop(b)

	a := nodes[0]
	lot := a.createLot(b, `{"kind":"english","title":"three readers","start_price":100,"duration_s":86400}`)
	var watchers []*protocol.Client
	for i, n := range nodes[1:] {
		w := n.dial(b, fmt.Sprintf("watcher%d", i), "eu-west-1")
		mustOK(b, w, protocol.Request{Type: "join", Lot: lot}, nil)
		watchers = append(watchers, w)
	}
	bidders := []*protocol.Client{a.dial(b, "alice", "us-east-1"), a.dial(b, "bob", "us-west-2")}
	for _, u := range []string{"alice", "bob"} {
		if err := protocol.PostJSON(ctxT(b, 10*time.Second), a.URL+"/api/wallet/deposit", a.login(b, u, "us-east-1"),
			[]byte(`{"amount":1000000000000}`), nil); err != nil {
			b.Fatal(err)
		}
	}
	chatter := a.dial(b, "chatter", "us-east-1")
	mustOK(b, chatter, protocol.Request{Type: "join", Lot: lot}, nil)
	drain(chatter)

	stop := make(chan struct{})
	chatting := make(chan struct{})
	go func() {
		defer close(chatting)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, _ = chatter.Do(ctx, protocol.Request{Type: "chat", Lot: lot, Text: fmt.Sprintf("line %d", i)})
			cancel()
		}
	}()
	cross := make([]time.Duration, 0, 2*b.N)
	amount := int64(100)
	load := readRates(b, nodes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var r protocol.BidResult
		mustOK(b, bidders[i%2], protocol.Request{Type: "bid", Lot: lot, Amount: amount}, &r)
		amount += 10_000
		for _, w := range watchers {
			m := next(b, w, 10*time.Second, func(m protocol.Message) bool { return m.Event != nil && m.Event.Seq == r.Seq })
			at, _ := time.Parse(time.RFC3339Nano, m.Event.At)
			cross = append(cross, m.Received.Sub(at))
		}
	}
	b.StopTimer()
	load.stop(b)
	close(stop)
	<-chatting

	sort.Slice(cross, func(i, j int) bool { return cross[i] < cross[j] })
	b.ReportMetric(float64(cross[len(cross)/2].Microseconds())/1000, "cross-p50-ms")
	b.ReportMetric(float64(cross[min(len(cross)-1, len(cross)*99/100)].Microseconds())/1000, "cross-p99-ms")
	b.ReportMetric(idle.perNode, "idle-calls/s/shard/node")
	b.ReportMetric(idle.total, "idle-calls/s/shard")
	b.ReportMetric(load.perNode, "load-calls/s/shard/node")
	b.ReportMetric(load.total, "load-calls/s/shard")
	b.ReportMetric(float64(idle.shards), "shards")
	b.Logf("GetRecords per shard per second — quiet %.2f per node (%.2f for the three), under load %.2f per node (%.2f) over %v; %d shards",
		idle.perNode, idle.total, load.perNode, load.total, load.took.Round(time.Millisecond), idle.shards)
}

// rates measures the nodes' GetRecords calls per shard per second between
// readRates and stop.
type rates struct {
	nodes          []*server
	calls          []float64
	began          time.Time
	took           time.Duration
	perNode, total float64 // per shard per second: a node's mean, and all together
	shards         int
}

func readRates(t testing.TB, nodes []*server) *rates {
	r := &rates{nodes: nodes, began: time.Now()}
	for _, n := range nodes {
		r.calls = append(r.calls, metric(t, n.URL, "lotzero_firehose_getrecords_total"))
	}
	return r
}

func (r *rates) stop(t testing.TB) {
	r.took = time.Since(r.began)
	for i, n := range r.nodes {
		shards := metric(t, n.URL, "lotzero_firehose_shards_reading")
		r.shards = max(r.shards, int(shards))
		calls := metric(t, n.URL, "lotzero_firehose_getrecords_total") - r.calls[i]
		r.total += calls / r.took.Seconds() / max(shards, 1)
	}
	r.perNode = r.total / float64(len(r.nodes))
}
