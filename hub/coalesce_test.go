package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// socialSeen is what a session was sent of a room's social events, with
// the batch frames unpacked, and its ledger seqs.
type socialSeen struct {
	frames     int // social frames (an event or a batch)
	batches    int
	texts      []string
	suppressed map[string]int
	seqs       []int64
}

func (s *session) socialSeen(t *testing.T, into *socialSeen) {
	t.Helper()
	if into.suppressed == nil {
		into.suppressed = map[string]int{}
	}
	event := func(raw []byte) {
		var ev protocol.Event
		if err := json.Unmarshal(raw, &ev); err != nil || ev.Type != "event" {
			t.Fatalf("not an event frame: %s", raw)
		}
		if ev.Seq > 0 {
			into.seqs = append(into.seqs, ev.Seq)
			return
		}
		into.frames++
		if ev.Kind == protocol.EventChat {
			var d protocol.ChatData
			_ = json.Unmarshal(ev.Data, &d)
			into.texts = append(into.texts, d.Text)
		}
	}
	for _, frame := range s.out.drain() {
		var head struct{ Type string }
		_ = json.Unmarshal(frame, &head)
		switch head.Type {
		case "event":
			event(frame)
		case "batch":
			var b protocol.Batch
			if err := json.Unmarshal(frame, &b); err != nil {
				t.Fatalf("batch %s: %v", frame, err)
			}
			into.frames++
			into.batches++
			for _, raw := range b.Events {
				event(raw)
				into.frames--
			}
			for k, n := range b.Suppressed {
				into.suppressed[k] += n
			}
		}
	}
}

func deliverChat(t *testing.T, h *Hub, lot string, i int) {
	t.Helper()
	if err := h.fh.Publish(context.Background(), chatLine(lot, i)); err != nil {
		t.Fatal(err)
	}
	lines, _ := h.fh.Views().Chat(context.Background(), lot, 1)
	h.onSocial(lines[0])
}

// A storm of lines reaches a batch session as one frame per interval, a
// v1 session as one frame per line, both in order and complete; a quiet
// room's first line goes out at once.
func TestBusyRoomCoalescesSocialEvents(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{Node: "n1", SocialBatchEvery: time.Hour})
	lot := l.id.String()
	batched, v1 := testSession(h, "alice"), testSession(h, "bob")
	batched.batch = true
	doJoin(t, batched, l, nil)
	doJoin(t, v1, l, nil)
	batched.out.drain()
	v1.out.drain()

	deliverChat(t, h, lot, 0)
	var b, v socialSeen
	batched.socialSeen(t, &b)
	v1.socialSeen(t, &v)
	if b.frames != 1 || b.batches != 0 || v.frames != 1 {
		t.Fatalf("a quiet room's line goes out at once, alone: batch session %+v, v1 session %+v", b, v)
	}
	for i := 1; i <= 30; i++ {
		deliverChat(t, h, lot, i)
	}
	r := h.existingRoom(lot)
	if batched.out.moneyBytes+batched.out.socialBytes+batched.out.viewBytes != 0 {
		t.Fatal("lines within the interval went out before it ended")
	}
	h.flushSocial(r) // the interval's end
	batched.socialSeen(t, &b)
	v1.socialSeen(t, &v)
	if b.frames != 2 || b.batches != 1 || len(b.texts) != 31 || v.frames != 31 {
		t.Fatalf("30 lines: batch session %d frames (%d batches) %d lines, v1 session %d frames", b.frames, b.batches, len(b.texts), v.frames)
	}
	for i := range 31 {
		if want := fmt.Sprintf("line %d", i); b.texts[i] != want || v.texts[i] != want {
			t.Fatalf("line %d: batch session %q, v1 session %q", i, b.texts[i], v.texts[i])
		}
	}
}

// Lines over the room's chat budget are not published: the sender's reply
// says broadcast false, and the next batch counts them.
func TestChatBudgetSuppressesVisibly(t *testing.T) {
	ctx := context.Background()
	l := newFakeLedger()
	h := newTestHub(t, l, Options{Node: "n1", ChatBudget: 3, ChatRate: 1000, CommandRate: 1000, SocialBatchEvery: 10 * time.Millisecond})
	lot := l.id.String()
	sender, watcher := testSession(h, "alice"), testSession(h, "bob")
	watcher.batch = true
	doJoin(t, sender, l, nil)
	doJoin(t, watcher, l, nil)
	broadcast, suppressed := 0, 0
	for i := range 10 {
		res, perr := sender.social(ctx, protocol.Request{Type: "chat", ID: fmt.Sprint(i), Lot: lot, Text: "hi"})
		if perr != nil {
			t.Fatal(perr)
		}
		if res.(protocol.ChatResult).Broadcast {
			broadcast++
		} else {
			suppressed++
		}
	}
	if broadcast != 3 || suppressed != 7 {
		t.Fatalf("budget 3: %d broadcast, %d suppressed", broadcast, suppressed)
	}
	published, _ := h.fh.Views().Chat(ctx, lot, 100)
	if len(published) != 3 {
		t.Fatalf("%d lines published, want only the 3 broadcast", len(published))
	}
	var seen socialSeen
	eventually(t, "the suppressed count", func() bool {
		watcher.socialSeen(t, &seen)
		return seen.suppressed[protocol.EventChat] == 7
	})
	if seen.batches == 0 {
		t.Fatal("no batch carried the count")
	}
}

// A session joining while lines wait for the room's flush gets each line
// once: in the flush, not also in the chat history.
func TestJoinDuringABatchGetsEachLineOnce(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{Node: "n1", SocialBatchEvery: time.Hour})
	lot := l.id.String()
	first := testSession(h, "alice")
	doJoin(t, first, l, nil)
	for i := range 5 {
		deliverChat(t, h, lot, i) // line 0 at once, lines 1–4 wait
	}
	late := testSession(h, "carol")
	late.batch = true
	doJoin(t, late, l, nil)
	h.flushSocial(h.existingRoom(lot))
	var seen socialSeen
	late.socialSeen(t, &seen)
	if fmt.Sprint(seen.texts) != "[line 0 line 1 line 2 line 3 line 4]" {
		t.Fatalf("late joiner saw %v", seen.texts)
	}
}

// Ledger events and a chat storm delivered concurrently: every session
// gets every event once in seq order, and the lines, whatever the
// interleaving (race-clean).
func TestStormKeepsLedgerOrder(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{Node: "n1", SocialBatchEvery: time.Millisecond})
	lot := l.id.String()
	var sessions []*session
	for i := range 20 {
		s := testSession(h, fmt.Sprint("u", i))
		s.batch = i%2 == 0
		doJoin(t, s, l, nil)
		s.out.drain()
		sessions = append(sessions, s)
	}
	seen := make([]socialSeen, len(sessions))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 200 {
			h.onLedger(ledgerMessage(l.commit()))
		}
	}()
	go func() {
		defer wg.Done()
		for i := range 300 {
			m := chatLine(lot, i)
			m.Seq = int64(i + 1)
			h.onSocial(m)
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	drainAll := func() {
		for i, s := range sessions {
			s.socialSeen(t, &seen[i])
		}
	}
	for loop := true; loop; {
		select {
		case <-done:
			loop = false
		default:
			drainAll()
		}
	}
	eventually(t, "every line", func() bool {
		drainAll()
		for _, s := range seen {
			if len(s.texts) < 300 {
				return false
			}
		}
		return true
	})
	for i, s := range seen {
		if len(s.seqs) != 200 {
			t.Fatalf("session %d got %d ledger events, want 200", i, len(s.seqs))
		}
		for j, seq := range s.seqs {
			if seq != int64(j+1) {
				t.Fatalf("session %d: event %d has seq %d", i, j, seq)
			}
		}
		if len(s.texts) != 300 {
			t.Fatalf("session %d got %d lines, want 300", i, len(s.texts))
		}
	}
}

// A flush larger than a quarter of the session queue goes out as several
// batch frames, each within it, the suppressed counts on the last; a
// flush of nothing but counts is one frame with an empty events array.
func TestBatchFramesFitTheQueue(t *testing.T) {
	h := newTestHub(t, newFakeLedger(), Options{Node: "n1", QueueBytes: 4000})
	var events [][]byte
	for i := range 20 {
		events = append(events, []byte(fmt.Sprintf(`{"type":"event","kind":"chat","social_seq":%d,"data":{"text":"%0150d"}}`, i+1, 0)))
	}
	frames := h.batchFrames("lot", events, map[string]int{"chat": 7})
	var seqs []int64
	for i, f := range frames {
		if len(f) > 1000+200 {
			t.Fatalf("frame %d is %d bytes, over a quarter of the queue", i, len(f))
		}
		var b protocol.Batch
		if err := json.Unmarshal(f, &b); err != nil {
			t.Fatal(err)
		}
		for _, raw := range b.Events {
			var ev protocol.Event
			_ = json.Unmarshal(raw, &ev)
			seqs = append(seqs, ev.SocialSeq)
		}
		if last := i == len(frames)-1; (b.Suppressed["chat"] == 7) != last {
			t.Fatalf("frame %d of %d has suppressed %v", i, len(frames), b.Suppressed)
		}
	}
	if len(frames) < 4 || len(seqs) != 20 || seqs[0] != 1 || seqs[19] != 20 {
		t.Fatalf("%d frames carrying seqs %v", len(frames), seqs)
	}
	only := h.batchFrames("lot", nil, map[string]int{"reaction": 3})
	if len(only) != 1 || !strings.Contains(string(only[0]), `"events":[]`) {
		t.Fatalf("a flush of counts only: %s", only)
	}
}

// A dispatch worker with a backlog of chat takes the ledger event first.
func TestDispatchTakesMoneyFirst(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{Node: "n1"})
	lot := l.id.String()
	s := testSession(h, "alice")
	doJoin(t, s, l, nil)
	sh := dispatchShard{money: make(chan firehose.Message, 1), social: make(chan firehose.Message, 100)}
	for i := range 100 {
		m := chatLine(lot, i)
		m.Seq = int64(i + 1)
		sh.social <- m
	}
	sh.money <- ledgerMessage(l.commit())
	r := h.existingRoom(lot)
	r.mu.Lock() // the worker stops inside the first message it takes
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.dispatchShard(ctx, sh)
	eventually(t, "the worker to take a message", func() bool { return len(sh.money) == 0 || len(sh.social) < 100 })
	took := len(sh.money) == 0 && len(sh.social) == 100
	r.mu.Unlock()
	if !took {
		t.Fatalf("the worker took chat before the ledger event (money %d, social %d left)", len(sh.money), len(sh.social))
	}
	eventually(t, "the chat backlog", func() bool { return len(sh.social) == 0 })
}

// TestOverflowNeverWaitsForTheRoom: a busy room whose dispatch line
// overflows while its lock is held (a fan-out to thousands, a flush) does
// not stall the dispatcher: another lot's ledger event is still handed to
// its worker, and the dropped lines are counted for the room's next batch.
func TestOverflowNeverWaitsForTheRoom(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{Node: "n1", DispatchShards: 8})
	lot := l.id.String()
	doJoin(t, testSession(h, "alice"), l, nil)
	r := h.existingRoom(lot)
	other := uuid.New()
	for shardOf(other.String(), 8) == shardOf(lot, 8) {
		other = uuid.New()
	}
	msgs := make(chan firehose.Message)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.dispatch(ctx, msgs)
	r.mu.Lock()
	for i := range socialBacklog + 2 { // the worker takes one and waits; the line fills; the rest overflow
		msgs <- chatLine(lot, i)
	}
	select {
	case msgs <- ledgerMessage(ledger.Event{Lot: other, Seq: 1, Kind: ledger.EventBid, At: time.Now()}):
	case <-time.After(10 * time.Second):
		r.mu.Unlock()
		t.Fatal("the dispatcher waits on the busy room's lock: another lot's ledger event is not taken")
	}
	c, ok := r.social.overflow.Load(protocol.EventChat)
	r.mu.Unlock()
	if !ok || c.(*atomic.Int64).Load() == 0 {
		t.Fatal("the lines dropped while the room was locked were not counted for its next batch")
	}
}
