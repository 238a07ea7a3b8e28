package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// fakeLedger is a lot and its events in memory: enough for rooms, joins
// and gap fills. Any other ledger call panics (the embedded interface is
// nil), so a test also proves which reads a path makes.
type fakeLedger struct {
	Ledger
	id uuid.UUID

	mu     sync.Mutex
	seq    int64
	events []ledger.Event
	gate   chan struct{} // when set, EventsSince waits for it

	lotReads, eventReads atomic.Int64
}

func newFakeLedger() *fakeLedger { return &fakeLedger{id: uuid.New()} }

// commit appends the next event and returns it.
func (f *fakeLedger) commit() ledger.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	ev := ledger.Event{Lot: f.id, Seq: f.seq, Kind: ledger.EventSold, At: time.Now(), Region: "eu-west-1",
		Data: json.RawMessage(fmt.Sprintf(`{"qty_claimed":%d}`, f.seq))}
	f.events = append(f.events, ev)
	return ev
}

func (f *fakeLedger) Lot(_ context.Context, id uuid.UUID) (*ledger.Lot, error) {
	f.lotReads.Add(1)
	if id != f.id {
		return nil, &ledger.Error{Code: ledger.CodeNotFound, Message: "no such lot"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &ledger.Lot{ID: f.id, Kind: ledger.KindDrop, Title: "t", Host: "h", Status: ledger.StatusOpen,
		Seq: f.seq, Price: 100, QtyTotal: 1_000_000}, nil
}

// Unlisted: the fake's lots are all listed.
func (f *fakeLedger) Unlisted(context.Context, uuid.UUID) (bool, error) { return false, nil }

func (f *fakeLedger) EventsSince(ctx context.Context, _ uuid.UUID, since int64, limit int) ([]ledger.Event, error) {
	f.eventReads.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ledger.Event
	for _, ev := range f.events {
		if ev.Seq > since && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
}

func newTestHub(t *testing.T, l Ledger, opts Options) *Hub {
	t.Helper()
	fh := firehose.NewMemory(0)
	t.Cleanup(func() { _ = fh.Close() })
	return New(l, fh, opts)
}

// testSession is a session without a connection: its queue never starts a
// writer, and the test reads what was queued.
func testSession(h *Hub, user string) *session {
	s := h.newSession(nil, Identity{User: user, Roles: []string{RoleBidder}}, "eu-west-1", false)
	s.out.writing = true
	return s
}

// stream is what a session received: the join reply's seq, then the seqs
// of the ledger events after it.
type stream struct {
	joined bool
	base   int64
	seqs   []int64
}

func (s *session) received(t *testing.T) stream {
	t.Helper()
	var st stream
	for _, frame := range s.out.drain() {
		var m struct {
			Type   string          `json:"type"`
			OK     bool            `json:"ok"`
			Seq    int64           `json:"seq"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(frame, &m); err != nil {
			t.Fatalf("frame %s: %v", frame, err)
		}
		switch m.Type {
		case "reply":
			var jr protocol.JoinResult
			if !m.OK || json.Unmarshal(m.Result, &jr) != nil {
				t.Fatalf("join reply: %s", frame)
			}
			st.joined, st.base = true, jr.Seq
		case "event":
			if m.Seq > 0 {
				st.seqs = append(st.seqs, m.Seq)
			}
		}
	}
	return st
}

// requireExactly checks a session got every event after its snapshot up to
// last, once each, in order.
func (st stream) requireExactly(t *testing.T, last int64) {
	t.Helper()
	if !st.joined {
		t.Fatal("no join reply")
	}
	want := st.base
	for _, seq := range st.seqs {
		if seq != want+1 {
			t.Fatalf("after snapshot %d got %v: want each seq once, in order", st.base, st.seqs)
		}
		want = seq
	}
	if want != last {
		t.Fatalf("after snapshot %d got %v: want up to %d", st.base, st.seqs, last)
	}
}

func joinReq(l *fakeLedger, since *int64) protocol.Request {
	return protocol.Request{Type: "join", ID: "j", Lot: l.id.String(), Since: since}
}

func doJoin(t *testing.T, s *session, l *fakeLedger, since *int64) {
	t.Helper()
	if _, perr := s.join(context.Background(), joinReq(l, since), l.id); perr != nil {
		t.Fatalf("join: %v", perr)
	}
}

// eventually waits for cond, failing after a while.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// Events arriving out of order and twice reach members once each, in seq
// order; a gap is filled from the ledger.
func TestRoomDeliversInOrderOnce(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{})
	for i := 0; i < 3; i++ {
		l.commit()
	}
	s := testSession(h, "alice")
	doJoin(t, s, l, nil)
	var evs []ledger.Event
	for i := 0; i < 6; i++ {
		evs = append(evs, l.commit())
	}
	// 4..9 arrive as 5, 4, 4, 7, 9, 8 (6 never comes: the gap fill reads it).
	for _, i := range []int{1, 0, 0, 3, 5, 4} {
		h.onLedgerEvent(evs[i])
	}
	var got stream
	eventually(t, "every event", func() bool {
		st := s.received(t)
		got.joined = got.joined || st.joined
		if st.joined {
			got.base = st.base
		}
		got.seqs = append(got.seqs, st.seqs...)
		return len(got.seqs) > 0 && got.seqs[len(got.seqs)-1] == 9
	})
	got.requireExactly(t, 9)
	if n := l.eventReads.Load(); n < 1 {
		t.Fatalf("the gap at 6 must be filled from the ledger (%d reads)", n)
	}
}

// A crowd joining at once costs one lot read, and everyone joins.
func TestJoinStormReadsTheLotOnce(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{})
	l.commit()
	sessions := make([]*session, 2000)
	var wg sync.WaitGroup
	for i := range sessions {
		sessions[i] = testSession(h, fmt.Sprintf("u%d", i%300))
		wg.Add(1)
		go func() {
			defer wg.Done()
			doJoin(t, sessions[i], l, nil)
		}()
	}
	wg.Wait()
	if n := l.lotReads.Load(); n != 1 {
		t.Fatalf("%d joins read the lot %d times, want once", len(sessions), n)
	}
	if n := l.eventReads.Load(); n != 0 {
		t.Fatalf("joins without since read events %d times", n)
	}
	for _, s := range sessions {
		s.received(t).requireExactly(t, 1)
	}
}

// Sessions joining while events stream in each get every event after their
// snapshot exactly once, in order: the snapshot, the catch up from the
// room's history and live delivery never overlap or leave a hole.
func TestJoinDuringLiveEventsMissesNothing(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{RoomHistory: 32})
	first := testSession(h, "first")
	doJoin(t, first, l, nil)
	const events = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < events; i++ {
			ev := l.commit()
			h.onLedgerEvent(ev)
			if i%7 == 0 {
				h.onLedgerEvent(ev) // the firehose's copy of a local event
			}
		}
	}()
	var joiners []*session
	for i := 0; i < 200; i++ {
		s := testSession(h, fmt.Sprintf("j%d", i))
		doJoin(t, s, l, nil)
		joiners = append(joiners, s)
	}
	<-done
	for _, s := range append(joiners, first) {
		s.received(t).requireExactly(t, events)
	}
}

// A rejoin with since is caught up from the room's memory when it holds
// the missed events, and from the ledger when since is older.
func TestJoinWithSince(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{RoomHistory: 16})
	watcher := testSession(h, "watcher")
	doJoin(t, watcher, l, nil)
	for i := 0; i < 40; i++ {
		h.onLedgerEvent(l.commit())
	}
	recent := int64(30)
	s := testSession(h, "alice")
	doJoin(t, s, l, &recent)
	st := s.received(t)
	if st.base != 40 || len(st.seqs) != 10 || st.seqs[0] != 31 || st.seqs[9] != 40 {
		t.Fatalf("since 30: snapshot %d, events %v", st.base, st.seqs)
	}
	if n := l.eventReads.Load(); n != 0 {
		t.Fatalf("a since within the history must not read the ledger (%d reads)", n)
	}

	old := int64(5)
	b := testSession(h, "bob")
	doJoin(t, b, l, &old)
	st = b.received(t)
	if len(st.seqs) != 35 || st.seqs[0] != 6 || st.seqs[34] != 40 {
		t.Fatalf("since 5: events %v", st.seqs)
	}
	for i, seq := range st.seqs {
		if seq != int64(6+i) {
			t.Fatalf("since 5: events %v", st.seqs)
		}
	}
	if l.eventReads.Load() == 0 {
		t.Fatal("a since older than the history must read the ledger")
	}
}

// While a gap fill waits on the ledger, the room's lock is free: joins and
// other rooms go on, and the held events go out when the fill returns.
func TestGapFillHoldsNoLock(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{})
	s := testSession(h, "alice")
	doJoin(t, s, l, nil)
	l.gate = make(chan struct{})
	missing, next := l.commit(), l.commit()
	_ = missing
	h.onLedgerEvent(next) // seq 2 before 1: a gap, filled in the background
	eventually(t, "the fill to start", func() bool { return l.eventReads.Load() > 0 })

	joined := make(chan struct{})
	go func() {
		doJoin(t, testSession(h, "bob"), l, nil)
		close(joined)
	}()
	select {
	case <-joined:
	case <-time.After(5 * time.Second):
		t.Fatal("a join waited on a gap fill's ledger read")
	}
	close(l.gate)
	var seqs []int64
	eventually(t, "the held events", func() bool {
		seqs = append(seqs, s.received(t).seqs...)
		return len(seqs) == 2
	})
	if seqs[0] != 1 || seqs[1] != 2 {
		t.Fatalf("got %v", seqs)
	}
}

// An unknown lot leaves no room behind.
func TestJoinUnknownLot(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{})
	s := testSession(h, "alice")
	other := uuid.New()
	_, perr := s.join(context.Background(), protocol.Request{Type: "join", ID: "j", Lot: other.String()}, other)
	if perr == nil || perr.Code != protocol.ErrNotFound {
		t.Fatalf("join of an unknown lot: %v", perr)
	}
	if h.existingRoom(other.String()) != nil {
		t.Fatal("a room was left for an unknown lot")
	}
}

// Wallet pushes that arrive out of order leave the newest showing.
func TestWalletPushesKeepTheNewest(t *testing.T) {
	h := newTestHub(t, newFakeLedger(), Options{})
	s := testSession(h, "alice")
	h.register(s)
	for _, v := range []int64{3, 1, 2, 5, 4} {
		h.pushWalletState(ledger.Wallet{User: "alice", Funded: 100 * v, Version: v})
	}
	var versions []int64
	for _, frame := range s.out.drain() {
		var m protocol.WalletMsg
		if err := json.Unmarshal(frame, &m); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, m.Wallet.Version)
	}
	if fmt.Sprint(versions) != "[3 5]" {
		t.Fatalf("pushed versions %v, want [3 5]", versions)
	}
}

// drain takes what is queued, for tests whose sessions have no writer.
func (q *queue) drain() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.money
	for _, v := range q.views {
		out = append(out, v.b)
	}
	out = append(out, q.social...)
	q.money, q.social, q.views = nil, nil, nil
	q.moneyBytes, q.socialBytes, q.viewBytes = 0, 0, 0
	return out
}

// A client ahead of the room (it came from a node the stream reaches
// sooner) gets a fresher snapshot and then only what it lacks; the room's
// older members still get everything.
func TestJoinAheadOfTheRoom(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{})
	a := testSession(h, "alice")
	doJoin(t, a, l, nil)
	evs := []ledger.Event{l.commit(), l.commit(), l.commit()} // committed, not yet delivered here
	since := int64(2)
	b := testSession(h, "bob")
	doJoin(t, b, l, &since)
	for _, ev := range evs {
		h.onLedgerEvent(ev)
	}
	if st := a.received(t); fmt.Sprint(st.seqs) != "[1 2 3]" {
		t.Fatalf("alice got %v", st.seqs)
	}
	if st := b.received(t); st.base != 3 || fmt.Sprint(st.seqs) != "[3]" {
		t.Fatalf("bob (since 2) got snapshot %d and %v, want 3 and [3]", st.base, st.seqs)
	}
}
