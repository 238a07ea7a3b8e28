package e2e

import (
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// bidUp places n rising bids on an English lot from two alternating users
// and returns the seq of each committed bid.
func bidUp(t *testing.T, a, b *protocol.Client, lot string, from int64, n int) []int64 {
	t.Helper()
	var seqs []int64
	amount := from
	for i := 0; i < n; i++ {
		c := a
		if i%2 == 1 {
			c = b
		}
		var res protocol.BidResult
		mustOK(t, c, protocol.Request{Type: "bid", Lot: lot, Amount: amount}, &res)
		seqs = append(seqs, res.Seq)
		amount += 1000
	}
	return seqs
}

// TestReconnectWithSince: a client that disconnects and misses events gets
// each missed event exactly once, in order, when it rejoins with since,
// and then live events.
func TestReconnectWithSince(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"english","title":"guitar","start_price":1000,"duration_s":600}`)
	a, b := s.dial(t, "alice", "eu-west-1"), s.dial(t, "bob", "us-west-2")
	watcherTok := s.login(t, "carol", "sa-east-1")
	w1, err := protocol.Dial(ctxT(t, 10*time.Second), s.WS, watcherTok, "sa-east-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	var j protocol.JoinResult
	mustOK(t, w1, protocol.Request{Type: "join", Lot: lot}, &j)
	bidUp(t, a, b, lot, 1000, 3)
	var last int64
	for i := 0; i < 3; i++ {
		last = next(t, w1, 5*time.Second, isEvent("bid")).Event.Seq
	}
	w1.Close()

	missed := bidUp(t, a, b, lot, 10000, 5)
	w2, err := protocol.Dial(ctxT(t, 10*time.Second), s.WS, watcherTok, "sa-east-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	mustOK(t, w2, protocol.Request{Type: "join", Lot: lot, Since: &last}, &j)
	if j.Resync || j.Replayed != len(missed) || j.Seq != missed[len(missed)-1] {
		t.Fatalf("join since %d: %+v, missed %v", last, j, missed)
	}
	for _, want := range missed {
		m := next(t, w2, 5*time.Second, func(m protocol.Message) bool { return m.Event != nil && m.Event.Seq > 0 })
		if m.Event.Seq != want {
			t.Fatalf("replayed seq %d, want %d", m.Event.Seq, want)
		}
	}
	live := bidUp(t, a, b, lot, 30000, 1)
	m := next(t, w2, 5*time.Second, func(m protocol.Message) bool { return m.Event != nil && m.Event.Seq > 0 })
	if m.Event.Seq != live[0] {
		t.Fatalf("live seq %d after replay, want %d (nothing doubled)", m.Event.Seq, live[0])
	}
	// Far behind: resync with a fresh snapshot.
	zero := int64(0)
	var j2 protocol.JoinResult
	mustOK(t, w2, protocol.Request{Type: "join", Lot: lot, Since: &zero}, &j2)
	// Every event from seq 1, in order: at least up to the snapshot's seq
	// (the node may add the events it delivered after its snapshot).
	if j2.Resync || j2.Replayed < int(j2.Seq) {
		t.Fatalf("since 0 replays everything (%d events): %+v", j2.Seq, j2)
	}
	for want := int64(1); want <= int64(j2.Replayed); want++ {
		m := next(t, w2, 5*time.Second, func(m protocol.Message) bool { return m.Event != nil && m.Event.Seq > 0 })
		if m.Event.Seq != want {
			t.Fatalf("since 0: replayed seq %d, want %d", m.Event.Seq, want)
		}
	}
}

// TestKilledAfterCommitsLosesNothing: the process is killed with SIGKILL
// right after commits; after a restart a rejoining client gets every
// committed event.
func TestKilledAfterCommitsLosesNothing(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"english","title":"book","start_price":1000,"duration_s":600}`)
	aTok, bTok := s.login(t, "alice", "eu-west-1"), s.login(t, "bob", "us-east-1")
	a, err := protocol.Dial(ctxT(t, 10*time.Second), s.WS, aTok, "eu-west-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := protocol.Dial(ctxT(t, 10*time.Second), s.WS, bTok, "us-east-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	seqs := bidUp(t, a, b, lot, 1000, 20)
	s.kill()
	s.restart()

	c := s.dial(t, "carol", "sa-east-1")
	zero := int64(0)
	var j protocol.JoinResult
	mustOK(t, c, protocol.Request{Type: "join", Lot: lot, Since: &zero}, &j)
	if j.Seq < seqs[len(seqs)-1] {
		t.Fatalf("after restart the lot is at seq %d, but seq %d was committed", j.Seq, seqs[len(seqs)-1])
	}
	got := map[int64]bool{}
	for i := int64(1); i <= j.Seq; i++ {
		m := next(t, c, 5*time.Second, func(m protocol.Message) bool { return m.Event != nil && m.Event.Seq > 0 })
		if m.Event.Seq != i {
			t.Fatalf("replay seq %d, want %d", m.Event.Seq, i)
		}
		got[m.Event.Seq] = true
	}
	for _, sq := range seqs {
		if !got[sq] {
			t.Fatalf("committed bid seq %d was lost", sq)
		}
	}
	s.audit(t)
}

// TestOutboxRelayDeliversUnpublished: a node that commits but never
// publishes (as if it died between COMMIT and publish) still gets every
// event to live clients, through the outbox relay.
func TestOutboxRelayDeliversUnpublished(t *testing.T) {
	s := startServer(t, "", "LOTZERO_FAULT_SKIP_PUBLISH=1", "LOTZERO_RELAY_EVERY=300ms")
	lot := s.createLot(t, `{"kind":"drop","title":"pass","price":500,"qty":10}`)
	watcher := s.dial(t, "carol", "sa-east-1")
	var j protocol.JoinResult
	mustOK(t, watcher, protocol.Request{Type: "join", Lot: lot}, &j)
	buyer := s.dial(t, "alice", "eu-west-1")
	var p protocol.PurchaseResult
	mustOK(t, buyer, protocol.Request{Type: "buy", Lot: lot, Qty: 2}, &p)
	m := next(t, watcher, 10*time.Second, isEvent("sold"))
	if m.Event.Seq != p.Seq {
		t.Fatalf("relayed event seq %d, want %d", m.Event.Seq, p.Seq)
	}
}
