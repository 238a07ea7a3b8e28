package hub

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/protocol"
)

// nodeB is a hub on node B of a lot whose room has alice on node A, and
// ways to join it, and to check the node's count of its watchers.
type nodeB struct {
	t   *testing.T
	h   *Hub
	fh  *firehose.Memory
	l   *fakeLedger
	lot string
}

func newNodeB(t *testing.T) *nodeB {
	l := newFakeLedger()
	fh := firehose.NewMemory(0)
	t.Cleanup(func() { _ = fh.Close() })
	b := &nodeB{t: t, h: New(l, fh, Options{Node: "node-b"}), fh: fh, l: l, lot: l.id.String()}
	if err := fh.Presence().Join(context.Background(), b.lot, firehose.Present{Session: "a1", User: "alice", Region: "eu-west-1", Node: "node-a"}); err != nil {
		t.Fatal(err)
	}
	return b
}

// join joins user's new session and returns it with its reply's watchers.
func (b *nodeB) join(user string) (*session, int) {
	b.t.Helper()
	s := testSession(b.h, user)
	if _, perr := s.join(context.Background(), protocol.Request{Type: "join", ID: "j", Lot: b.lot}, b.l.id); perr != nil {
		b.t.Fatal(perr)
	}
	var reply struct {
		Result protocol.JoinResult `json:"result"`
	}
	if frames := s.out.drain(); len(frames) == 0 || json.Unmarshal(frames[0], &reply) != nil {
		b.t.Fatalf("%s's join reply: %q", user, frames)
	}
	return s, int(reply.Result.Lot.Watchers)
}

func (b *nodeB) expect(when string, want int) {
	b.t.Helper()
	if got := b.h.presence.count(b.lot); got != want {
		b.t.Fatalf("%s: the node counts %d watchers, want %d", when, got, want)
	}
}

// TestWatchersCountNewestKnowledge: a lot's watchers on a node count its
// own joins at once, although a crowd's joins share one presence read, and
// a presence event another node published before this node's newer
// knowledge (the stream brings it late) never lowers the count.
func TestWatchersCountNewestKnowledge(t *testing.T) {
	b := newNodeB(t)
	h, lot, expect, ctx := b.h, b.lot, b.expect, context.Background()
	aliceOnly := time.Now() // node A read alice alone and published it
	joined := func(user string) int {
		t.Helper()
		_, n := b.join(user)
		return n
	}
	if n := joined("bob"); n != 2 {
		t.Fatalf("bob's join reply: %d watchers, want 2", n)
	}
	expect("bob joined", 2)
	// carol's join is served from the read bob's made: she counts anyway.
	if n := joined("carol"); n != 3 {
		t.Fatalf("carol's join reply: %d watchers, want 3", n)
	}
	expect("carol joined on bob's read", 3)

	alicePublished := func() {
		h.onSocial(firehose.Message{Kind: firehose.KindPresence, ID: "p-a", Lot: lot, Event: protocol.EventPresence,
			At: aliceOnly, Region: systemRegion, Data: json.RawMessage(`{"joined":[{"user":"alice","region":"eu-west-1"}],"left":[],"count":1}`)})
	}
	alicePublished()
	expect("node A's older count arrived", 3)
	if _, current := h.presence.read(ctx, lot, 0); !current {
		t.Fatal("a fresh read is not current")
	}
	expect("read again", 3)
	alicePublished()
	expect("node A's older count arrived after the read", 3)

	// A count node A read after this node's read is taken at once, and
	// stays when an older one comes after it.
	h.onSocial(firehose.Message{Kind: firehose.KindPresence, ID: "p-a2", Lot: lot, Event: protocol.EventPresence,
		At: time.Now(), AsOf: time.Now(), Region: systemRegion, Data: json.RawMessage(`{"joined":[],"left":[],"count":7,"more_joined":4}`)})
	expect("node A's newer count", 7)
	alicePublished()
	expect("node A's older count after its newer one", 7)
}

// TestWatchersThroughReloadsAndAnEmptyRoom: a user who leaves and comes
// back within a read's age (a page reload) counts once; after the room
// here empties, the next join counts from what the store says.
func TestWatchersThroughReloadsAndAnEmptyRoom(t *testing.T) {
	b := newNodeB(t)
	h, lot, expect, ctx := b.h, b.lot, b.expect, context.Background()
	join := func(user string) *session {
		t.Helper()
		s, _ := b.join(user)
		return s
	}
	bob, carol := join("bob"), join("carol")
	expect("bob and carol joined", 3)
	h.presence.read(ctx, lot, 0) // as the presence flush does: a read with carol in it
	carol.leave(ctx, lot)
	expect("carol left", 2)
	carol = join("carol") // served from that read, which has her
	expect("carol reloaded", 3)
	// alice leaves node A; then the room here empties: nobody is left.
	if err := b.fh.Presence().Leave(ctx, lot, "a1"); err != nil {
		t.Fatal(err)
	}
	bob.leave(ctx, lot)
	carol.leave(ctx, lot)
	expect("the room here emptied", 0)
	join("dave")
	expect("dave joined the empty room", 1)
}

// TestWatchersTally: the rules a lot's count follows, on one clock.
func TestWatchersTally(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	set := func(users ...string) map[string]bool {
		m := map[string]bool{}
		for _, u := range users {
			m[u] = true
		}
		return m
	}
	arrived := func(w *watchers, user string, ms int, inRead bool) {
		w.note(localChange{arrived: true, inRead: inRead, at: at(ms)}, user)
	}
	left := func(w *watchers, user string, ms int) { w.note(localChange{at: at(ms)}, user) }
	expect := func(w *watchers, what string, want int) {
		t.Helper()
		if n := w.total(); n != want {
			t.Fatalf("%s: %d watchers, want %d", what, n, want)
		}
	}
	var w watchers
	w.read(at(0), set("alice", "bob"))
	arrived(&w, "carol", 5, false) // joined after the read started
	arrived(&w, "bob", 4, true)    // a second session: already counted
	expect(&w, "a read of 2 and carol", 3)
	left(&w, "alice", 7)
	expect(&w, "alice left", 2)
	arrived(&w, "alice", 8, true) // a reload: back within the read's age
	expect(&w, "alice back", 3)
	left(&w, "alice", 9)
	left(&w, "carol", 9) // arrived after the read and gone: as the read has it
	expect(&w, "alice and carol left", 1)
	arrived(&w, "carol", 10, false)
	left(&w, "erin", -5) // written before the read started: in it already
	expect(&w, "carol back", 2)

	// A read that started before the base changes nothing; nor does
	// another node's count read before it.
	w.read(at(-1), set("dave"))
	w.published(9, at(-1))
	expect(&w, "older reads", 2)
	// A newer read counts what was written before it started (alice's
	// departure at 9); what came as it started stays (carol's return).
	w.read(at(10), set("bob", "carol"))
	if n, notes := w.total(), len(w.local); n != 2 || notes != 1 {
		t.Fatalf("after a newer read: %d watchers, %d notes (want 2 and 1: carol's)", n, notes)
	}
	// Another node's newer count, with the changes here since it was read.
	arrived(&w, "frank", 20, false)
	w.published(9, at(15))
	expect(&w, "another node's count of 9 and frank", 10)
	left(&w, "frank", 21) // arrived after that count: not in it
	expect(&w, "frank left", 9)
	left(&w, "grace", 22) // counted in a base that names nobody
	expect(&w, "grace left", 8)
	arrived(&w, "grace", 23, true)
	expect(&w, "grace back", 9)
	w.settle()
	if n, notes := w.total(), len(w.local); n != 9 || notes != 0 {
		t.Fatalf("settled: %d watchers, %d notes", n, notes)
	}
}

// TestWatchersDeltaMatchesARecount: the running delta a crowd's joins keep
// equals a count made from scratch, whatever the order of reads, other
// nodes' counts, joins, leaves and settling.
func TestWatchersDeltaMatchesARecount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Now()
	users := []string{"a", "b", "c", "d", "e", "f"}
	var w watchers
	for i := range 5000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		back := now.Add(-time.Duration(rng.IntN(50)) * time.Millisecond)
		switch op := rng.IntN(10); {
		case op < 6:
			w.note(localChange{arrived: rng.IntN(2) == 0, inRead: rng.IntN(2) == 0, at: back}, users[rng.IntN(len(users))])
		case op < 8:
			read := map[string]bool{}
			for _, u := range users {
				if rng.IntN(2) == 0 {
					read[u] = true
				}
			}
			w.read(back, read)
		case op < 9:
			w.published(rng.IntN(8), back)
		default:
			w.settle()
		}
		want := w.base
		for u, c := range w.local {
			want += w.adds(u, c)
		}
		if got := w.total(); got != max(want, 0) {
			t.Fatalf("step %d: total %d, recounted %d", i, got, max(want, 0))
		}
	}
}
