package hub

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestQueueIsBoundedInBytes(t *testing.T) {
	q := newQueue(10)
	frame := []byte("12345")
	if ok, start, _ := q.push(frame); !ok || !start {
		t.Fatal("the first push starts a writer")
	}
	if ok, start, _ := q.push(frame); !ok || start {
		t.Fatal("a second push joins the running writer")
	}
	if ok, _, _ := q.push([]byte("x")); ok {
		t.Fatal("the queue passed its bound")
	}
	if got := q.next(); len(got) != 2 || &got[0][0] != &frame[0] {
		t.Fatal("frames are shared, not copied")
	}
	if got := q.next(); got != nil {
		t.Fatal("an empty queue ends the writer's turn")
	}
	if ok, start, _ := q.push(frame); !ok || !start {
		t.Fatal("a push after the writer stopped starts a new one")
	}
	if n := q.close(); n != 1 {
		t.Fatal("close drops what is queued")
	}
	if ok, _, _ := q.push(frame); ok || q.next() != nil {
		t.Fatal("a closed queue refuses and yields nothing")
	}
	if queued, _, _ := q.pushSocial(frame); queued {
		t.Fatal("a closed queue refuses social frames too")
	}
}

// Money frames overtake queued social frames; each lane keeps its order.
func TestQueueSendsMoneyFirst(t *testing.T) {
	q := newQueue(1 << 20)
	for i := range 6 {
		q.pushSocial([]byte(fmt.Sprintf("chat%d", i)))
	}
	q.push([]byte("bid1"))
	q.push([]byte("bid2"))
	var got []string
	for frames := q.next(); frames != nil; frames = q.next() {
		for _, f := range frames {
			got = append(got, string(f))
		}
		if len(got) == 6 {
			q.push([]byte("bid3")) // arrives while the writer sends chat
		}
	}
	want := "[bid1 bid2 chat0 chat1 chat2 chat3 bid3 chat4 chat5]"
	if fmt.Sprint(got) != want {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

// A social turn is short in bytes too: big batch frames go one per turn
// past the first, so money queued meanwhile waits for one frame at most.
func TestQueueSocialTurnIsShortInBytes(t *testing.T) {
	q := newQueue(1 << 20)
	big := func(i int) []byte { return append([]byte(fmt.Sprintf("batch%d:", i)), make([]byte, 40<<10)...) }
	for i := range 3 {
		q.pushSocial(big(i))
	}
	first := q.next()
	q.push([]byte("bid"))
	second := q.next()
	if len(first) != 1 || len(second) != 1 || string(second[0]) != "bid" {
		t.Fatalf("turns of %d then %d frames (second %.3q): a 40 KiB batch turn took more than one, or money waited", len(first), len(second), second)
	}
}

// Under pressure social frames give way: a full queue drops its oldest
// social frames for new ones and for money, and only money that cannot fit
// at all refuses (the session's 4009).
func TestQueueDropsSocialBeforeMoney(t *testing.T) {
	q := newQueue(100)
	ten := func(c byte) []byte { b := make([]byte, 10); b[0] = c; return b }
	for i := range 5 { // social may fill half the bound
		if queued, _, dropped := q.pushSocial(ten(byte('a' + i))); !queued || dropped != 0 {
			t.Fatalf("social frame %d not queued (dropped %d)", i, dropped)
		}
	}
	if queued, _, dropped := q.pushSocial(ten('f')); !queued || dropped != 1 {
		t.Fatalf("over its half, social drops its oldest: queued %v dropped %d", queued, dropped)
	}
	for i := range 5 {
		if ok, _, dropped := q.push(ten(byte('0' + i))); !ok || dropped != 0 {
			t.Fatalf("money frame %d: ok %v dropped %d", i, ok, dropped)
		}
	}
	if ok, _, dropped := q.push(make([]byte, 30)); !ok || dropped != 3 {
		t.Fatalf("money makes room by dropping social: ok %v dropped %d", ok, dropped)
	}
	if queued, _, dropped := q.pushSocial(ten('z')); !queued || dropped != 1 {
		t.Fatalf("a new social frame replaces the oldest: queued %v dropped %d", queued, dropped)
	}
	if queued, _, dropped := q.pushSocial(make([]byte, 60)); queued || dropped != 1 {
		t.Fatalf("a social frame that can never fit is dropped alone: queued %v dropped %d", queued, dropped)
	}
	q.pushSocial(ten('y'))
	if ok, _, _ := q.push(make([]byte, 21)); ok {
		t.Fatal("money that cannot fit without social frames refuses")
	}
	var money, social int
	for _, f := range q.drain() {
		if f[0] >= 'a' {
			social++
		} else {
			money++
		}
	}
	if money != 6 || social != 0 {
		t.Fatalf("left %d money and %d social frames, want 6 and 0", money, social)
	}
}

// A view (a room's board in one window, its reaction totals) is the whole
// of what it shows: a newer frame takes the place of the one waiting, and
// under pressure chat gives way before any view — a chat frame that could
// only fit by pushing one out is refused — so a far-behind session still
// gets the newest board. A social turn takes the views first.
func TestQueueKeepsTheNewestView(t *testing.T) {
	q := newQueue(100) // social frames and views may hold 50 bytes
	ten := func(s string) []byte { return fmt.Appendf(nil, "%-10s", s) }
	q.pushView("lot|0", ten("board1"))
	q.pushView("lot|1", ten("all1"))
	for i := range 3 {
		q.pushSocial(ten(fmt.Sprintf("chat%d", i)))
	}
	if queued, _, dropped := q.pushSocial(ten("chat3")); !queued || dropped != 1 {
		t.Fatalf("over its half the lane drops the oldest chat: queued %v dropped %d", queued, dropped)
	}
	if queued, _, dropped := q.pushView("lot|0", ten("board2")); !queued || dropped != 0 {
		t.Fatalf("a newer board replaces the waiting one, dropping nothing: queued %v dropped %d", queued, dropped)
	}
	if queued, _, dropped := q.pushView("lots|0", ten("other")); !queued || dropped != 1 {
		t.Fatalf("another view drops the oldest chat: queued %v dropped %d", queued, dropped)
	}
	if queued, _, dropped := q.pushView("lot|0", ten("board3")); !queued || dropped != 0 {
		t.Fatalf("a view waiting between others is replaced too: queued %v dropped %d", queued, dropped)
	}
	if queued, _, dropped := q.pushSocial(make([]byte, 25)); queued || dropped != 1 {
		t.Fatalf("a chat frame that fits only without views is refused alone: queued %v dropped %d", queued, dropped)
	}
	if q.socialBytes != 20 || q.viewBytes != 30 {
		t.Fatalf("social %d and view %d bytes queued, want 20 and 30", q.socialBytes, q.viewBytes)
	}
	var turns []string
	for frames := q.next(); frames != nil; frames = q.next() {
		var turn []string
		for _, f := range frames {
			turn = append(turn, strings.TrimSpace(string(f)))
		}
		turns = append(turns, fmt.Sprint(turn))
	}
	if want := "[[all1 other board3 chat2] [chat3]]"; fmt.Sprint(turns) != want {
		t.Fatalf("turns %v, want %v", turns, want)
	}
	if q.socialBytes != 0 || q.viewBytes != 0 {
		t.Fatalf("social %d and view %d bytes left after every turn", q.socialBytes, q.viewBytes)
	}

	q = newQueue(40) // only views: the oldest gives way at last
	for i := range 3 {
		q.pushView(fmt.Sprintf("v%d", i), ten(fmt.Sprintf("view%d", i)))
	}
	if ok, _, dropped := q.push([]byte(strings.Repeat(" ", 25))); !ok || dropped != 1 {
		t.Fatalf("money makes room by dropping a view when no chat is left: ok %v dropped %d", ok, dropped)
	}
	var got []string
	for _, f := range q.drain() {
		got = append(got, strings.TrimSpace(string(f)))
	}
	if want := "[ view2]"; fmt.Sprint(got) != want {
		t.Fatalf("left %q, want the money and the newest view", got)
	}
}

// Concurrent pushers of both lanes and a writer: every money frame comes
// out once, each lane in order (race-clean).
func TestQueueLanesKeepOrderConcurrently(t *testing.T) {
	q := newQueue(1 << 20)
	q.writing = true // this test is the writer
	const n = 2000
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range n {
			q.push([]byte(fmt.Sprintf("m%d", i)))
		}
	}()
	go func() {
		defer wg.Done()
		for i := range n {
			q.pushSocial([]byte(fmt.Sprintf("s%d", i)))
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	nextM, nextS := 0, 0
	check := func(frames [][]byte) {
		for _, f := range frames {
			var i int
			if f[0] == 'm' {
				fmt.Sscanf(string(f[1:]), "%d", &i)
				if i != nextM {
					t.Fatalf("money frame %d after %d", i, nextM-1)
				}
				nextM++
			} else {
				fmt.Sscanf(string(f[1:]), "%d", &i)
				if i < nextS {
					t.Fatalf("social frame %d after %d", i, nextS-1)
				}
				nextS = i + 1
			}
		}
	}
	for {
		select {
		case <-done:
			for frames := q.next(); frames != nil; frames = q.next() {
				check(frames)
			}
			if nextM != n || nextS != n {
				t.Fatalf("got money up to %d, social up to %d; want %d each", nextM, nextS, n)
			}
			return
		default:
			check(q.next())
			q.mu.Lock()
			q.writing = true
			q.mu.Unlock()
		}
	}
}

// TestQueueReusesItsMoneySlice: a session's queue takes a crowd's events
// one at a time without allocating, once its writer has had one turn.
func TestQueueReusesItsMoneySlice(t *testing.T) {
	q := newQueue(1 << 20)
	frame := []byte("bid")
	turn := func() {
		if ok, _, _ := q.push(frame); !ok {
			t.Fatal("push refused")
		}
		if got := q.next(); len(got) != 1 || &got[0][0] != &frame[0] {
			t.Fatalf("next: %q", got)
		}
		if got := q.next(); got != nil {
			t.Fatalf("second next: %q", got)
		}
	}
	turn()
	if n := testing.AllocsPerRun(100, turn); n != 0 {
		t.Fatalf("%v allocations per event, want 0", n)
	}
}
