package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// answerBound is how long a money command or a lot read may take while the
// firehose is down: generous for a loaded 2-core CI, far below the hang it
// guards against (replies used to wait for DynamoDB until the command's
// 15 s timeout; a lot page until the client's 30 s one).
const answerBound = 5 * time.Second

// TestFirehoseOutageKeepsMoneyMoving: two nodes on one PostgreSQL and a
// DynamoDB Local of the test's own, which goes down for several seconds
// while bids, claims and lot reads go to node A — frozen (SIGSTOP: it
// accepts connections and never answers), or killed and restarted on its
// kept data. Every money command is answered within answerBound, lot reads
// too, and chat is refused with unavailable once the node knows the store
// is down, which /readyz and /metrics say. When the store is back, every
// committed event reaches the watchers on both nodes once and in seq
// order (node B's through the outbox relay), chat works again, and the
// audit is clean.
func TestFirehoseOutageKeepsMoneyMoving(t *testing.T) {
	for _, mode := range []string{"frozen", "killed"} {
		t.Run(mode, func(t *testing.T) { testFirehoseOutage(t, mode) })
	}
}

func testFirehoseOutage(t *testing.T, mode string) {
	ddb := startDynamoLocal(t)
	env := clusterEnvAt(t, ddb.Endpoint)
	a := startServer(t, "", slices.Concat(env, []string{"LOTZERO_NODE=node-a"})...)
	b := startServer(t, "", slices.Concat(env, []string{"LOTZERO_NODE=node-b"})...)

	english := a.createLot(t, `{"kind":"english","title":"outage","start_price":1000,"duration_s":3600}`)
	dutch := a.createLot(t, `{"kind":"dutch","title":"outage","start_price":1000,"floor_price":100,"step":100,"interval_ms":600000,"qty":100}`)
	lots := []string{english, dutch}

	alice := a.dial(t, "alice", "eu-west-1")
	bob := a.dial(t, "bob", "us-west-2")
	carol := a.dial(t, "carol", "sa-east-1")
	watchA := a.dial(t, "wanda", "us-east-1")
	watchB := b.dial(t, "walter", "ap-southeast-1")
	logA, logB := logSeqs(t, watchA, lots), logSeqs(t, watchB, lots)
	mustOK(t, alice, protocol.Request{Type: "join", Lot: english}, nil)

	// Before: a bid on A reaches B through the stream.
	amount := int64(0)
	bid := func(c *protocol.Client) protocol.BidResult {
		t.Helper()
		amount += 10_000
		var r protocol.BidResult
		mustOK(t, c, protocol.Request{Type: "bid", Lot: english, Amount: amount}, &r)
		return r
	}
	first := bid(alice)
	logB.waitFor(t, english, first.Seq, 20*time.Second)

	switch mode {
	case "frozen":
		ddb.freeze()
	case "killed":
		ddb.kill()
	}
	down := time.Now()

	// Money commands and lot reads answer while the store is down.
	slowest := map[string]time.Duration{}
	defer func() { t.Logf("%s: slowest answers during the outage: %v", mode, slowest) }()
	timed := func(what string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		took := time.Since(start)
		slowest[what] = max(slowest[what], took.Round(time.Millisecond))
		if took > answerBound {
			t.Fatalf("%s during the outage took %v (bound %v)", what, took.Round(time.Millisecond), answerBound)
		}
	}
	var last = map[string]int64{english: first.Seq}
	bidders := []*protocol.Client{bob, alice}
	for i := range 8 {
		timed("a bid", func() { last[english] = bid(bidders[i%2]).Seq })
		timed("a claim", func() {
			var r protocol.PurchaseResult
			mustOK(t, carol, protocol.Request{Type: "claim", Lot: dutch, Qty: 1}, &r)
			last[dutch] = r.Seq
		})
		timed("a lot page", func() {
			var one struct {
				Lot protocol.Lot `json:"lot"`
			}
			if err := protocol.GetJSON(ctxT(t, 30*time.Second), a.URL+"/api/lots/"+english, "", &one); err != nil {
				t.Fatal(err)
			}
			if one.Lot.Seq < last[english] {
				t.Fatalf("the lot page shows seq %d after the bid at %d committed", one.Lot.Seq, last[english])
			}
		})
		timed("the lobby", func() {
			var lobby struct {
				Lots []protocol.Lot `json:"lots"`
			}
			if err := protocol.GetJSON(ctxT(t, 30*time.Second), a.URL+"/api/lots", "", &lobby); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Node A's own watcher has them at once (local-first delivery).
	logA.waitFor(t, english, last[english], answerBound)
	logA.waitFor(t, dutch, last[dutch], answerBound)

	// Node A notices the outage and says so; chat is then refused at once.
	since := waitReady(t, a, true, 60*time.Second)
	if !since.After(down.Add(-time.Second)) {
		t.Fatalf("degraded since %v, before the outage began at %v", since, down)
	}
	if v := metric(t, a.URL, "lotzero_firehose_degraded"); v != 1 {
		t.Fatalf("lotzero_firehose_degraded = %v during the outage", v)
	}
	var one struct {
		Lot protocol.Lot `json:"lot"`
	}
	timed("a lot page", func() {
		if err := protocol.GetJSON(ctxT(t, 30*time.Second), a.URL+"/api/lots/"+english, "", &one); err != nil {
			t.Fatal(err)
		}
	})
	if !one.Lot.WatchersStale {
		t.Fatalf("the lot page does not mark its watchers stale during the outage: %+v", one.Lot)
	}
	timed("a chat line", func() {
		r := do(t, alice, protocol.Request{Type: "chat", Lot: english, Text: "anyone there?"})
		if r.OK || r.Error == nil || r.Error.Code != protocol.ErrUnavailable {
			t.Fatalf("chat during the outage: %+v", r)
		}
	})
	timed("a bid", func() { last[english] = bid(alice).Seq })
	// Several seconds down in all, then back.
	if wait := 6*time.Second - time.Since(down); wait > 0 {
		time.Sleep(wait)
	}
	switch mode {
	case "frozen":
		ddb.thaw()
	case "killed":
		ddb.start()
	}

	// Every committed event reaches both nodes' watchers, once, in order.
	for _, lot := range lots {
		logA.waitFor(t, lot, last[lot], 60*time.Second)
		logB.waitFor(t, lot, last[lot], 60*time.Second)
	}
	waitReady(t, a, false, 60*time.Second)
	// Chat works again (the first tries may still find the store waking).
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := do(t, alice, protocol.Request{Type: "chat", Lot: english, Text: "back"})
		if r.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chat after the outage: %+v", r.Error)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, l := range []*seqLog{logA, logB} {
		l.check(t, last)
	}
	a.audit(t)
}

// waitReady polls a node's /readyz until its firehose is (or is no longer)
// degraded, and returns since when. The node stays ready throughout.
func waitReady(t *testing.T, s *server, degraded bool, d time.Duration) time.Time {
	t.Helper()
	var body struct {
		Ready    bool `json:"ready"`
		Firehose struct {
			Degraded bool   `json:"degraded"`
			Since    string `json:"since"`
		} `json:"firehose"`
	}
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctxT(t, 10*time.Second), http.MethodGet, s.URL+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !body.Ready {
			t.Fatalf("/readyz during a firehose outage: %d %+v %v", resp.StatusCode, body, err)
		}
		if body.Firehose.Degraded == degraded {
			at, _ := time.Parse(time.RFC3339, body.Firehose.Since)
			return at
		}
	}
	t.Fatalf("/readyz did not report degraded=%v within %v: %+v", degraded, d, body)
	return time.Time{}
}

// seqLog is the ledger events one client received, per lot, in order,
// after the snapshot its join returned.
type seqLog struct {
	user string
	mu   sync.Mutex
	base map[string]int64
	seqs map[string][]int64
}

// logSeqs joins c to lots and records every ledger event it receives.
func logSeqs(t *testing.T, c *protocol.Client, lots []string) *seqLog {
	t.Helper()
	l := &seqLog{user: c.Welcome.User, base: map[string]int64{}, seqs: map[string][]int64{}}
	for _, lot := range lots {
		var j protocol.JoinResult
		mustOK(t, c, protocol.Request{Type: "join", Lot: lot}, &j)
		l.base[lot] = j.Seq
	}
	go func() {
		for m := range c.Messages() {
			if m.Event == nil || m.Event.Seq == 0 {
				continue
			}
			l.mu.Lock()
			l.seqs[m.Event.Lot] = append(l.seqs[m.Event.Lot], m.Event.Seq)
			l.mu.Unlock()
		}
	}()
	return l
}

// newest is the highest seq received for lot (its join's snapshot before any).
func (l *seqLog) newest(lot string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.base[lot]
	for _, s := range l.seqs[lot] {
		n = max(n, s)
	}
	return n
}

func (l *seqLog) waitFor(t *testing.T, lot string, seq int64, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if l.newest(lot) >= seq {
			return
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Fatalf("%s did not receive lot %s's event %d within %v: got %v after %d", l.user, lot, seq, d, l.seqs[lot], l.base[lot])
}

// check requires every event after the join's snapshot up to last, each
// exactly once, in seq order.
func (l *seqLog) check(t *testing.T, last map[string]int64) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for lot, upTo := range last {
		var want []int64
		for s := l.base[lot] + 1; s <= upTo; s++ {
			want = append(want, s)
		}
		if got := l.seqs[lot]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s got lot %s's events %v; want each of %v once, in order", l.user, lot, got, want)
		}
	}
}
