package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lotzero/lotzero/internal/pgembed"
	"github.com/lotzero/lotzero/protocol"
)

// twoNodes starts two lotzero processes sharing one PostgreSQL and one
// DynamoDB Local table, as a deployment with two nodes would.
func twoNodes(t testing.TB, extra ...string) (*server, *server) {
	t.Helper()
	env := clusterEnv(t, extra...)
	a := startServer(t, "", slices.Concat(env, []string{"LOTZERO_NODE=node-a"})...)
	b := startServer(t, "", slices.Concat(env, []string{"LOTZERO_NODE=node-b"})...)
	return a, b
}

// clusterEnv starts a PostgreSQL and names a fresh DynamoDB Local table
// for nodes to share, and returns their environment (without a node name).
func clusterEnv(t testing.TB, extra ...string) []string {
	t.Helper()
	return clusterEnvAt(t, dynamoEndpoint(t), extra...)
}

// clusterEnvAt is clusterEnv on the DynamoDB endpoint ep.
func clusterEnvAt(t testing.TB, ep string, extra ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := pgembed.Start(ctx, pgembed.Options{DataDir: filepath.Join(filepath.Dir(dataDir(t)), "shared-pg"), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = pg.Stop(c)
	})
	if err := pg.EnsureDatabase(ctx, "lotzero"); err != nil {
		t.Fatal(err)
	}
	table := tableName()
	env := []string{"DATABASE_URL=" + pg.ConnString("lotzero"), "DYNAMODB_TABLE=" + table, "DYNAMODB_ENDPOINT=" + ep,
		"LOTZERO_PRESENCE_TTL=3s"}
	return slices.Concat(env, extra)
}

func TestTwoNodesShareEverything(t *testing.T) {
	a, b := twoNodes(t)
	lot := a.createLot(t, `{"kind":"english","title":"two nodes","start_price":1000,"duration_s":600}`)

	alice := a.dial(t, "alice", "eu-west-1")  // on node A
	bob := b.dial(t, "bob", "ap-southeast-1") // on node B
	carol := b.dial(t, "carol", "sa-east-1")  // a watcher on node B
	if alice.Welcome.Server.Node != "node-a" || bob.Welcome.Server.Node != "node-b" || bob.Welcome.Server.Firehose != "dynamodb" {
		t.Fatalf("welcome: %+v / %+v", alice.Welcome.Server, bob.Welcome.Server)
	}
	for _, c := range []*protocol.Client{alice, bob, carol} {
		mustOK(t, c, protocol.Request{Type: "join", Lot: lot}, nil)
	}
	// Presence on B lists alice, who is connected to A.
	m := next(t, carol, 10*time.Second, func(m protocol.Message) bool {
		return m.Event != nil && m.Event.Kind == "presence" && strings.Contains(string(m.Event.Data), `"alice"`)
	})
	_ = m
	var one struct {
		Lot protocol.Lot `json:"lot"`
	}
	if err := protocol.GetJSON(ctxT(t, 5*time.Second), b.URL+"/api/lots/"+lot, "", &one); err != nil || one.Lot.Watchers != 3 {
		t.Fatalf("watchers seen from B: %d %v", one.Lot.Watchers, err)
	}

	// A bid on A reaches the watcher on B; bob on B outbids, alice on A is told.
	var r protocol.BidResult
	mustOK(t, alice, protocol.Request{Type: "bid", Lot: lot, Amount: 1000}, &r)
	ev := next(t, carol, 10*time.Second, isEvent("bid"))
	if ev.Event.Seq != r.Seq || ev.Event.Region != "eu-west-1" {
		t.Fatalf("bid from A seen on B: %+v", ev.Event)
	}
	mustOK(t, bob, protocol.Request{Type: "bid", Lot: lot, Amount: 2000}, &r)
	o := next(t, alice, 10*time.Second, func(m protocol.Message) bool { return m.Outbid != nil })
	if o.Outbid.Amount != 2000 || o.Outbid.ByRegion != "ap-southeast-1" {
		t.Fatalf("outbid across nodes: %+v", o.Outbid)
	}
	next(t, alice, 10*time.Second, func(m protocol.Message) bool { return m.Wallet != nil && m.Wallet.Wallet.Held == 0 })

	// Chat and reactions on A appear on B.
	mustOK(t, alice, protocol.Request{Type: "chat", Lot: lot, Text: "hello from A"}, nil)
	mustOK(t, alice, protocol.Request{Type: "react", Lot: lot, Emoji: "🎉"}, nil)
	chat := next(t, carol, 10*time.Second, isEvent("chat"))
	var d map[string]any
	_ = json.Unmarshal(chat.Event.Data, &d)
	if d["text"] != "hello from A" || chat.Event.SocialSeq == 0 {
		t.Fatalf("chat across nodes: %+v %s", chat.Event, chat.Event.Data)
	}
	next(t, carol, 10*time.Second, isEvent("reaction"))

	// A client moving from A to B with since misses nothing.
	dave := a.dial(t, "dave", "us-west-2")
	var j protocol.JoinResult
	mustOK(t, dave, protocol.Request{Type: "join", Lot: lot}, &j)
	last := j.Seq
	dave.Close()
	var missed []int64
	for _, amt := range []int64{3000, 4000, 5000} {
		c := alice
		if amt == 4000 {
			c = bob
		}
		mustOK(t, c, protocol.Request{Type: "bid", Lot: lot, Amount: amt}, &r)
		missed = append(missed, r.Seq)
	}
	daveB := b.dial(t, "dave", "us-west-2")
	mustOK(t, daveB, protocol.Request{Type: "join", Lot: lot, Since: &last}, &j)
	var got []int64
	for len(got) < len(missed) {
		m := next(t, daveB, 10*time.Second, func(m protocol.Message) bool { return m.Event != nil && m.Event.Seq > 0 })
		got = append(got, m.Event.Seq)
	}
	if fmt.Sprint(got) != fmt.Sprint(missed) {
		t.Fatalf("moved client saw %v, missed bids at %v", got, missed)
	}

	if !strings.Contains(get(t, b.URL+"/metrics"), "lotzero_firehose_lag_seconds") {
		t.Fatal("/metrics lacks the stream tailer's lag")
	}

	// When node A dies, its users leave presence within the heartbeat TTL.
	a.kill()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if err := protocol.GetJSON(ctxT(t, 5*time.Second), b.URL+"/api/lots/"+lot, "", &one); err == nil && one.Lot.Watchers == 3 {
			// bob, carol and dave (on B) remain; alice (on A) is gone
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("presence still lists node A's users %v after it died (watchers %d)", time.Since(deadline), one.Lot.Watchers)
}
