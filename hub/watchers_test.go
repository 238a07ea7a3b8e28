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

// TestWatchersCountNewestKnowledge: a lot's watchers on a node count its
// own joins at once, although a crowd's joins share one presence read, and
// a presence event another node published before this node's newer
// knowledge (the stream brings it late) never lowers the count.
func TestWatchersCountNewestKnowledge(t *testing.T) {
	l := newFakeLedger()
	fh := firehose.NewMemory(0)
	t.Cleanup(func() { _ = fh.Close() })
	h := New(l, fh, Options{Node: "node-b"})
	lot := l.id.String()
	ctx := context.Background()

	// alice is in the room on node A; node A read that and published it.
	if err := fh.Presence().Join(ctx, lot, firehose.Present{Session: "a1", User: "alice", Region: "eu-west-1", Node: "node-a"}); err != nil {
		t.Fatal(err)
	}
	aliceOnly := time.Now()
	joined := func(user string) int {
		t.Helper()
		s := testSession(h, user)
		if _, perr := s.join(ctx, protocol.Request{Type: "join", ID: "j", Lot: lot}, l.id); perr != nil {
			t.Fatal(perr)
		}
		var reply struct {
			Result protocol.JoinResult `json:"result"`
		}
		if frames := s.out.drain(); len(frames) == 0 || json.Unmarshal(frames[0], &reply) != nil {
			t.Fatalf("%s's join reply: %q", user, frames)
		}
		return int(reply.Result.Lot.Watchers)
	}
	expect := func(when string, want int) {
		t.Helper()
		if got := h.presence.count(lot); got != want {
			t.Fatalf("%s: the node counts %d watchers, want %d", when, got, want)
		}
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
	var w watchers
	w.read(at(0), set("alice", "bob"))
	w.note("carol", true, at(5)) // joined after the read started
	w.note("bob", true, at(4))   // a second session: already counted
	if n := w.total(); n != 3 {
		t.Fatalf("read of 2 and carol: %d", n)
	}
	w.note("alice", false, at(7))
	if n := w.total(); n != 2 {
		t.Fatalf("alice left: %d", n)
	}
	// A read that started before the newest one changes nothing.
	w.read(at(-1), set("dave"))
	if n := w.total(); n != 2 {
		t.Fatalf("an older read was taken: %d", n)
	}
	// A read that started after carol's and bob's joins has them: their notes go;
	// alice's departure after its start stays.
	w.read(at(6), set("alice", "bob", "carol"))
	if n, notes := w.total(), len(w.local); n != 2 || notes != 1 {
		t.Fatalf("after a newer read: %d watchers, %d notes (want 2 and 1)", n, notes)
	}
	// Another node's count is ignored while this node's read is fresh…
	w.published(9, at(8), at(100), presenceFresh)
	if n := w.total(); n != 2 {
		t.Fatalf("another node's count replaced a fresh read: %d", n)
	}
	// …and taken after, with the changes here since it was published.
	w.note("erin", true, at(2000))
	w.published(9, at(1500), at(2100), presenceFresh)
	if n := w.total(); n != 10 {
		t.Fatalf("another node's count of 9 and erin: %d", n)
	}
	w.settle()
	if n, notes := w.total(), len(w.local); n != 10 || notes != 0 {
		t.Fatalf("settled: %d watchers, %d notes", n, notes)
	}
	w.note("erin", false, at(2200)) // counted in the base, which names nobody
	if n := w.total(); n != 9 {
		t.Fatalf("erin left after settling: %d", n)
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
			w.note(users[rng.IntN(len(users))], rng.IntN(2) == 0, now)
		case op < 8:
			read := map[string]bool{}
			for _, u := range users {
				if rng.IntN(2) == 0 {
					read[u] = true
				}
			}
			w.read(back, read)
		case op < 9:
			w.published(rng.IntN(8), back, now, 20*time.Millisecond)
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
