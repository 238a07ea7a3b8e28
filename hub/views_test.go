package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// frames decodes what a session was sent, by type.
type sent struct {
	join        *protocol.JoinResult
	watch       *protocol.WatchResult
	chat        []string // texts, in order
	socialSeqs  []int64
	boards      []protocol.Leaderboard
	feeds       []protocol.FeedFrame
	reactFrames []protocol.ReactionsFrame
}

func (s *session) sentViews(t *testing.T) sent {
	t.Helper()
	var out sent
	for _, frame := range s.out.drain() {
		var head struct {
			Type   string          `json:"type"`
			OK     bool            `json:"ok"`
			Kind   string          `json:"kind"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(frame, &head); err != nil {
			t.Fatalf("frame %s: %v", frame, err)
		}
		switch head.Type {
		case "reply":
			if !head.OK {
				t.Fatalf("failed reply: %s", frame)
			}
			var probe map[string]json.RawMessage
			_ = json.Unmarshal(head.Result, &probe)
			if _, ok := probe["leaderboards"]; ok {
				out.watch = new(protocol.WatchResult)
				_ = json.Unmarshal(head.Result, out.watch)
			} else if _, ok := probe["lot"]; ok {
				out.join = new(protocol.JoinResult)
				_ = json.Unmarshal(head.Result, out.join)
			}
		case "event":
			if head.Kind == "chat" {
				var ev protocol.Event
				var d protocol.ChatData
				_ = json.Unmarshal(frame, &ev)
				_ = json.Unmarshal(ev.Data, &d)
				out.chat = append(out.chat, d.Text)
				out.socialSeqs = append(out.socialSeqs, ev.SocialSeq)
			}
		case "leaderboard":
			var b protocol.Leaderboard
			_ = json.Unmarshal(frame, &b)
			out.boards = append(out.boards, b)
		case "feed":
			var f protocol.FeedFrame
			_ = json.Unmarshal(frame, &f)
			out.feeds = append(out.feeds, f)
		case "reactions":
			var r protocol.ReactionsFrame
			_ = json.Unmarshal(frame, &r)
			out.reactFrames = append(out.reactFrames, r)
		}
	}
	return out
}

func chatLine(lot string, i int) firehose.Message {
	d, _ := json.Marshal(protocol.ChatData{User: "alice", Region: "eu-west-1", Text: fmt.Sprintf("line %d", i)})
	return firehose.Message{Kind: firehose.KindChat, ID: fmt.Sprintf("alice:%s:%d", lot, i), Lot: lot, Event: protocol.EventChat,
		At: time.Now(), Region: "eu-west-1", Actor: "alice", Data: d}
}

// A joining session gets the room's last 50 chat lines after the join
// reply — lines from before the room existed (read from the views) and
// lines delivered live since, each once, in order — and then live lines.
func TestJoinShowsChatHistoryWithoutGapsOrDuplicates(t *testing.T) {
	ctx := context.Background()
	l := newFakeLedger()
	h := newTestHub(t, l, Options{Node: "n1"})
	lot := l.id.String()
	publish := func(i int) firehose.Message {
		t.Helper()
		m := chatLine(lot, i)
		if err := h.fh.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for i := 0; i < 55; i++ { // before anyone here joined
		publish(i)
	}
	a := testSession(h, "alice")
	if _, perr := a.join(ctx, protocol.Request{Type: "join", ID: "j1", Lot: lot}, l.id); perr != nil {
		t.Fatal(perr)
	}
	got := a.sentViews(t)
	if len(got.chat) != 50 || got.chat[0] != "line 5" || got.chat[49] != "line 54" {
		t.Fatalf("first join's history: %d lines %v", len(got.chat), got.chat)
	}
	// Three more lines, delivered live (as the dispatcher does). The
	// Memory firehose numbers them as it publishes.
	for i := 55; i < 58; i++ {
		publish(i)
		lines, _ := h.fh.Views().Chat(ctx, lot, 1)
		h.onSocial(lines[0])
	}
	// Lines close together are coalesced (coalesce.go): the first goes
	// out at once, the others at the end of the interval.
	var live []string
	eventually(t, "three live lines", func() bool {
		live = append(live, a.sentViews(t).chat...)
		return len(live) >= 3
	})
	if fmt.Sprint(live) != "[line 55 line 56 line 57]" {
		t.Fatalf("live lines: %v", live)
	}
	b := testSession(h, "bob")
	if _, perr := b.join(ctx, protocol.Request{Type: "join", ID: "j2", Lot: lot}, l.id); perr != nil {
		t.Fatal(perr)
	}
	got = b.sentViews(t)
	if len(got.chat) != 50 || got.chat[0] != "line 8" || got.chat[49] != "line 57" {
		t.Fatalf("second join's history: %d lines %v", len(got.chat), got.chat)
	}
	for i := 1; i < len(got.socialSeqs); i++ {
		if got.socialSeqs[i] <= got.socialSeqs[i-1] {
			t.Fatalf("history out of order or doubled: %v", got.socialSeqs)
		}
	}
}

// The join result carries the lot's reaction totals; a reaction marks them
// changed and the next flush pushes them to the room.
func TestReactionTotalsInJoinAndLive(t *testing.T) {
	ctx := context.Background()
	l := newFakeLedger()
	h := newTestHub(t, l, Options{Node: "n1"})
	lot := l.id.String()
	react := func(i int, emoji string) firehose.Message {
		m := firehose.Message{Kind: firehose.KindReaction, ID: fmt.Sprintf("u%d:%s:r", i, lot), Lot: lot, Event: protocol.EventReaction,
			At: time.Now(), Region: "eu-west-1", Data: json.RawMessage(`{}`), Tally: &firehose.Tally{User: fmt.Sprint("u", i), Emoji: emoji}}
		if err := h.fh.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	react(1, "🔥")
	react(2, "🔥")
	react(2, "🔥") // the same id again: a retry, counted once
	s := testSession(h, "alice")
	if _, perr := s.join(ctx, protocol.Request{Type: "join", ID: "j1", Lot: lot}, l.id); perr != nil {
		t.Fatal(perr)
	}
	got := s.sentViews(t)
	if got.join == nil || got.join.Reactions["🔥"] != 2 || len(got.join.Reactions) != 1 {
		t.Fatalf("join reactions: %+v", got.join)
	}
	h.onSocial(react(3, "👏"))
	h.flushViews(ctx)
	got = s.sentViews(t)
	if len(got.reactFrames) != 1 || got.reactFrames[0].Totals["👏"] != 1 || got.reactFrames[0].Totals["🔥"] != 2 {
		t.Fatalf("reactions frames: %+v", got.reactFrames)
	}
}

// TestBoardsBeforeReactionTotals: a flush that pushes a room both its
// leaderboards and its reaction totals pushes them in that order, every
// time (the rollouts are kept in a map, whose order is random).
func TestBoardsBeforeReactionTotals(t *testing.T) {
	ctx := context.Background()
	every := 2 * time.Millisecond
	h, l, s := memberHub(ctx, t, every)
	lot := l.id.String()
	for i := 1; i <= 20; i++ {
		recordBid(ctx, h, l, int64(i), int64(1000+i))
		react(ctx, t, h, lot, i)
		time.Sleep(every)
		h.flushViews(ctx)
		var types []string
		for _, f := range s.out.drain() {
			var head struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(f, &head)
			if head.Type != "event" {
				types = append(types, head.Type)
			}
		}
		if got := strings.Join(types, " "); got != "leaderboard leaderboard reactions" {
			t.Fatalf("flush %d pushed %q, want the boards, then the totals", i, got)
		}
	}
}

// A recorded bid changes the lot's and the overall leaderboards: the next
// flush pushes the lot's to its room and the overall ones, with the new
// feed events, to lobby watchers; a flush with nothing new pushes nothing.
func TestLeaderboardsAndFeedPushedWhenChanged(t *testing.T) {
	ctx := context.Background()
	l := newFakeLedger()
	h := newTestHub(t, l, Options{Node: "n1"})
	lot := l.id.String()
	member, watcher := testSession(h, "alice"), testSession(h, "bob")
	if _, perr := member.join(ctx, protocol.Request{Type: "join", ID: "j1", Lot: lot}, l.id); perr != nil {
		t.Fatal(perr)
	}
	res, perr := watcher.watch(ctx)
	if perr != nil {
		t.Fatal(perr)
	}
	if wr := res.(protocol.WatchResult); len(wr.Leaderboards) != 2 || len(wr.Feed) != 0 || wr.Leaderboards[0].Window != "recent" {
		t.Fatalf("watch result: %+v", wr)
	}
	member.out.drain()
	data, _ := json.Marshal(ledger.BidData{Bidder: "carol", BidderRegion: "sa-east-1", Amount: 1500})
	ev := ledger.Event{Lot: l.id, Seq: 1, Kind: ledger.EventBid, At: time.Now(), Region: "sa-east-1", Actor: "carol", Data: data}
	m := ledgerMessage(ev)
	h.record(ctx, m)
	h.onLedgerMessage(m, ev) // the firehose's copy: a feed event, recorded again later (a no-op)
	h.flushViews(ctx)
	room, lobby := member.sentViews(t), watcher.sentViews(t)
	if len(room.boards) != 2 || room.boards[0].Lot != lot || len(room.boards[0].Bidders.ByAmount) != 1 ||
		room.boards[0].Bidders.ByAmount[0] != (protocol.BoardLine{User: "carol", Count: 1, Amount: 1500}) {
		t.Fatalf("room leaderboards: %+v", room.boards)
	}
	if len(lobby.boards) != 2 || lobby.boards[0].Lot != "" || len(lobby.boards[1].Regions) != 1 || lobby.boards[1].Regions[0].Region != "sa-east-1" {
		t.Fatalf("lobby leaderboards: %+v", lobby.boards)
	}
	if len(lobby.feeds) != 1 || len(lobby.feeds[0].Events) != 1 || lobby.feeds[0].Events[0].Kind != "bid" || lobby.feeds[0].Events[0].Seq != 1 {
		t.Fatalf("lobby feed: %+v", lobby.feeds)
	}
	if len(room.feeds) != 0 {
		t.Fatalf("a room member got the lobby's feed: %+v", room.feeds)
	}
	h.record(ctx, m) // recorded again: counted once, nothing changed
	h.flushViews(ctx)
	if again := member.sentViews(t); len(again.boards) != 0 {
		t.Fatalf("an unchanged leaderboard was pushed again: %+v", again.boards)
	}
	h.unwatch(watcher)
	ev2 := ledger.Event{Lot: l.id, Seq: 2, Kind: ledger.EventBid, At: time.Now(), Data: data}
	h.onLedgerMessage(ledgerMessage(ev2), ev2)
	h.flushViews(ctx)
	if after := watcher.sentViews(t); len(after.feeds)+len(after.boards) != 0 {
		t.Fatalf("an unwatched session got lobby frames: %+v", after)
	}
}

// crowdHub is a hub flushing views every every, with a room of 2,500
// members (three groups) joined to the fake ledger's lot.
func crowdHub(t *testing.T, every time.Duration) (*Hub, *fakeLedger, []*session) {
	t.Helper()
	ctx := context.Background()
	l := newFakeLedger()
	h := newTestHub(t, l, Options{Node: "n1", ViewsEvery: every})
	crowd := make([]*session, 2500)
	for i := range crowd {
		crowd[i] = testSession(h, fmt.Sprint("fan", i))
		if _, perr := crowd[i].join(ctx, protocol.Request{Type: "join", ID: "j", Lot: l.id.String()}, l.id); perr != nil {
			t.Fatal(perr)
		}
		crowd[i].out.drain()
	}
	return h, l, crowd
}

// TestCrowdLeaderboardsRollOut: a crowd's leaderboards are read at most
// once per ⌈members/1000⌉ ViewsEvery, and each read goes to the members a
// group per flush (about 1,000 at a time), every member once: pushed to
// all 2,500 at once they were a burst of writes in the way of the room's
// bids.
func TestCrowdLeaderboardsRollOut(t *testing.T) {
	ctx := context.Background()
	every := 200 * time.Millisecond
	h, l, crowd := crowdHub(t, every)
	lot := l.id.String()
	bid := func(seq, amount int64) {
		data, _ := json.Marshal(ledger.BidData{Bidder: "carol", BidderRegion: "sa-east-1", Amount: amount})
		ev := ledger.Event{Lot: l.id, Seq: seq, Kind: ledger.EventBid, At: time.Now(), Region: "sa-east-1", Actor: "carol", Data: data}
		h.record(ctx, ledgerMessage(ev))
	}
	tops := make([][]int64, len(crowd)) // each member's boards so far, by top amount
	// flush runs one flush and returns how many members got boards in it.
	flush := func() int {
		h.flushViews(ctx)
		reached := 0
		for i, s := range crowd {
			if len(s.out.money) != 0 {
				t.Fatalf("a leaderboard went in the money lane")
			}
			boards := s.sentViews(t).boards
			for _, b := range boards {
				tops[i] = append(tops[i], b.Bidders.ByAmount[0].Amount)
			}
			if len(boards) > 0 {
				reached++
			}
		}
		return reached
	}
	// everyoneHas checks each member got exactly want (two windows per read).
	everyoneHas := func(when string, want ...int64) {
		t.Helper()
		for i, got := range tops {
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: member %d got boards topped by %v, want %v", when, i, got, want)
			}
		}
	}

	bid(1, 1500)
	read := time.Now()
	var reached []int
	var late *session
	for i := range 3 { // 2,500 members: three groups, one per flush
		reached = append(reached, flush())
		if i == 0 { // one who joins after the read waits for the next
			late = testSession(h, "late")
			late.spread = 2 // in the last group: reached after its join
			if _, perr := late.join(ctx, protocol.Request{Type: "join", ID: "j", Lot: lot}, l.id); perr != nil {
				t.Fatal(perr)
			}
			late.out.drain()
		}
	}
	for _, n := range reached {
		if n < 500 || n > 1200 {
			t.Fatalf("members reached per flush %v, want about a third of 2,500 each", reached)
		}
	}
	everyoneHas("after one rollout", 1500, 1500)

	bid(2, 1600) // a small room's boards would be read again at the next flush
	n := flush()
	if time.Since(read) < 3*every-every/2 && n != 0 {
		t.Fatalf("a crowd of 2,500 got a new read of its boards within %v", time.Since(read))
	}
	time.Sleep(3*every - time.Since(read))
	for range 4 { // the held-back change is read now, then rolls out; the fourth flush has nothing left
		flush()
	}
	everyoneHas("after the second rollout", 1500, 1500, 1600, 1600)
	var lateTops []int64
	for _, b := range late.sentViews(t).boards {
		lateTops = append(lateTops, b.Bidders.ByAmount[0].Amount)
	}
	if fmt.Sprint(lateTops) != "[1600 1600]" {
		t.Fatalf("a member who joined after the first read got boards topped by %v, want only the second read's [1600 1600]", lateTops)
	}
}

// TestEmptiedRoomForgetsItsBoards: a room's last pushed leaderboards
// (the frames and when) go with the room, not stay for the node's life.
func TestEmptiedRoomForgetsItsBoards(t *testing.T) {
	ctx := context.Background()
	l := newFakeLedger()
	h := newTestHub(t, l, Options{Node: "n1"})
	lot := l.id.String()
	member := testSession(h, "alice")
	if _, perr := member.join(ctx, protocol.Request{Type: "join", ID: "j1", Lot: lot}, l.id); perr != nil {
		t.Fatal(perr)
	}
	data, _ := json.Marshal(ledger.BidData{Bidder: "carol", BidderRegion: "sa-east-1", Amount: 1500})
	h.record(ctx, ledgerMessage(ledger.Event{Lot: l.id, Seq: 1, Kind: ledger.EventBid, At: time.Now(), Region: "sa-east-1", Actor: "carol", Data: data}))
	h.flushViews(ctx)
	if len(member.sentViews(t).boards) != 2 {
		t.Fatal("no boards pushed to the member")
	}
	held := func() int {
		h.live.mu.Lock()
		defer h.live.mu.Unlock()
		n := len(h.live.boardPushed) + len(h.live.reactsPushed) + len(h.live.rollouts)
		for key := range h.live.sent {
			if strings.HasPrefix(key, lot+"|") {
				n++
			}
		}
		return n
	}
	if held() == 0 {
		t.Fatal("nothing remembered of the pushed boards")
	}
	member.leave(ctx, lot)
	if h.existingRoom(lot) != nil {
		t.Fatal("the room outlived its last member")
	}
	if n := held(); n != 0 {
		t.Fatalf("%d entries of the emptied room's boards kept", n)
	}
}

// TestCrowdReactionTotalsRollOut: a reacting crowd's totals are read at
// most once per ⌈members/1000⌉ ViewsEvery and reach its members a group
// per flush, like its boards; each member gets each read once, the newest
// totals in the end.
func TestCrowdReactionTotalsRollOut(t *testing.T) {
	ctx := context.Background()
	every := 200 * time.Millisecond
	h, l, crowd := crowdHub(t, every)
	lot := l.id.String()
	reactions := 0
	reactAgain := func() {
		reactions++
		react(ctx, t, h, lot, reactions)
	}
	fires := make([][]int64, len(crowd)) // each member's totals frames so far
	flush := func() (reached int) {
		h.flushViews(ctx)
		for i, s := range crowd {
			got := s.sentViews(t).reactFrames
			for _, f := range got {
				fires[i] = append(fires[i], f.Totals["🔥"])
			}
			if len(got) > 0 {
				reached++
			}
		}
		return reached
	}
	reactAgain()
	read := time.Now()
	var reached []int
	for range 3 {
		reached = append(reached, flush())
		reactAgain() // a reacting crowd: the totals change every flush
	}
	for _, n := range reached {
		if n < 500 || n > 1200 {
			t.Fatalf("members reached per flush %v, want about a third of 2,500 each", reached)
		}
	}
	for i, got := range fires {
		if fmt.Sprint(got) != "[1]" {
			t.Fatalf("member %d got totals %v within the first read's rollout, want [1]", i, got)
		}
	}
	time.Sleep(3*every - time.Since(read))
	for range 3 {
		flush()
	}
	for i, got := range fires {
		if fmt.Sprint(got) != "[1 4]" {
			t.Fatalf("member %d got totals %v, want the first read's and then the newest [1 4]", i, got)
		}
	}
}

// TestReplacedRolloutKeepsUnchangedWindow: a read that replaces a rollout
// still under way carries the old frame of a window it found unchanged,
// so the groups not yet reached still get it.
func TestReplacedRolloutKeepsUnchangedWindow(t *testing.T) {
	lv := newLiveViews()
	members := make([]*session, 3000)
	for i := range members {
		members[i] = &session{spread: uint32(i)}
	}
	lv.startRollout("lot", "lot", [][]byte{[]byte("recent-1"), []byte("all-1")}, members)
	if got := len(lv.rollouts["lot"].groups); got != 3 {
		t.Fatalf("%d groups for 3,000 members, want 3", got)
	}
	lv.startRollout("lot", "lot", [][]byte{[]byte("recent-2"), nil}, members)
	if got := lv.rollouts["lot"].frames; string(got[0]) != "recent-2" || string(got[1]) != "all-1" {
		t.Fatalf("replacing rollout carries %q, want the new recent and the old all", got)
	}
	for g, group := range lv.rollouts["lot"].groups {
		for _, m := range group {
			if int(m.spread%3) != g {
				t.Fatalf("member with spread %d in group %d", m.spread, g)
			}
		}
	}
}

func TestBoardEveryGrowsWithTheRoom(t *testing.T) {
	for _, c := range []struct {
		members int
		want    time.Duration
	}{{0, time.Second}, {1, time.Second}, {1000, time.Second}, {1001, 2 * time.Second}, {5000, 5 * time.Second}, {15000, 15 * time.Second}} {
		if got := boardEvery(time.Second, c.members); got != c.want {
			t.Errorf("boardEvery(1s, %d) = %v, want %v", c.members, got, c.want)
		}
	}
}

// failingViews fails leaderboard and reaction-total reads while failing is
// set, as a firehose read can.
type failingViews struct {
	firehose.Views
	failing *atomic.Bool
}

func (v failingViews) Leaderboard(ctx context.Context, lot string, w firehose.Window) (firehose.Board, error) {
	if v.failing.Load() {
		return firehose.Board{}, errors.New("read failed")
	}
	return v.Views.Leaderboard(ctx, lot, w)
}

func (v failingViews) Reactions(ctx context.Context, lot string) (map[string]int64, error) {
	if v.failing.Load() {
		return nil, errors.New("read failed")
	}
	return v.Views.Reactions(ctx, lot)
}

type failingFirehose struct {
	firehose.Firehose
	failing *atomic.Bool
}

func (f failingFirehose) Views() firehose.Views { return failingViews{f.Firehose.Views(), f.failing} }

// A change whose view read fails is read again at the next flush, not
// lost: the members get the board and the totals once the read works.
func TestFailedViewReadIsRetried(t *testing.T) {
	ctx := context.Background()
	l := newFakeLedger()
	mem := firehose.NewMemory(0)
	t.Cleanup(func() { _ = mem.Close() })
	var failing atomic.Bool
	h := New(l, failingFirehose{mem, &failing}, Options{Node: "n1"})
	lot := l.id.String()
	s := testSession(h, "alice")
	if _, perr := s.join(ctx, protocol.Request{Type: "join", ID: "j", Lot: lot}, l.id); perr != nil {
		t.Fatal(perr)
	}
	s.out.drain()
	data, _ := json.Marshal(ledger.BidData{Bidder: "carol", BidderRegion: "sa-east-1", Amount: 1500})
	ev := ledger.Event{Lot: l.id, Seq: 1, Kind: ledger.EventBid, At: time.Now(), Region: "sa-east-1", Actor: "carol", Data: data}
	h.record(ctx, ledgerMessage(ev))
	react := firehose.Message{Kind: firehose.KindReaction, ID: "u1:" + lot + ":r", Lot: lot, Event: protocol.EventReaction,
		At: time.Now(), Region: "eu-west-1", Data: json.RawMessage(`{}`), Tally: &firehose.Tally{User: "u1", Emoji: "🔥"}}
	if err := mem.Publish(ctx, react); err != nil {
		t.Fatal(err)
	}
	h.onSocial(react)
	failing.Store(true)
	h.flushViews(ctx)
	if got := s.sentViews(t); len(got.boards)+len(got.reactFrames) != 0 {
		t.Fatalf("views pushed while their reads failed: %+v", got)
	}
	failing.Store(false)
	h.flushViews(ctx)
	got := s.sentViews(t)
	if len(got.boards) != 2 || len(got.reactFrames) != 1 || got.reactFrames[0].Totals["🔥"] != 1 {
		t.Fatalf("after the reads work again: boards %+v, reactions %+v", got.boards, got.reactFrames)
	}
}

// TestFarBehindMemberGetsTheNewestViews: a member whose connection has
// not taken its frames gets each board and the reaction totals once, the
// newest, and among a chat storm that fills its social lane the views are
// what stays.
func TestFarBehindMemberGetsTheNewestViews(t *testing.T) {
	ctx := context.Background()
	every := 20 * time.Millisecond
	h, l, member := memberHub(ctx, t, every)
	lot := l.id.String()
	for seq := int64(1); seq <= 3; seq++ {
		recordBid(ctx, h, l, seq, 1000*seq)
		react(ctx, t, h, lot, int(seq))
		time.Sleep(every)
		h.flushViews(ctx)
		// A chat storm between reads: more than the social lane holds.
		for i := range member.out.limit / 2 / 90 { // 99-byte frames
			member.out.pushSocial(fmt.Appendf(nil, `{"type":"event","kind":"chat","pad":"%060d"}`, i))
		}
	}
	got := member.sentViews(t)
	var tops, fires []int64
	for _, b := range got.boards {
		tops = append(tops, b.Bidders.ByAmount[0].Amount)
	}
	for _, r := range got.reactFrames {
		fires = append(fires, r.Totals["🔥"])
	}
	if fmt.Sprint(tops) != "[3000 3000]" || fmt.Sprint(fires) != "[3]" {
		t.Fatalf("a far-behind member holds boards topped by %v and totals %v, want the newest of each [3000 3000] and [3]", tops, fires)
	}
}

// recordBid records carol's bid of amount as the lot's event seq.
func recordBid(ctx context.Context, h *Hub, l *fakeLedger, seq, amount int64) {
	data, _ := json.Marshal(ledger.BidData{Bidder: "carol", BidderRegion: "sa-east-1", Amount: amount})
	h.record(ctx, ledgerMessage(ledger.Event{Lot: l.id, Seq: seq, Kind: ledger.EventBid, At: time.Now(), Region: "sa-east-1", Actor: "carol", Data: data}))
}

// react publishes user u<n>'s 🔥 on lot and hands it to the node.
func react(ctx context.Context, t *testing.T, h *Hub, lot string, n int) {
	t.Helper()
	m := firehose.Message{Kind: firehose.KindReaction, ID: fmt.Sprintf("r%d", n), Lot: lot, Event: protocol.EventReaction,
		At: time.Now(), Region: "eu-west-1", Data: json.RawMessage(`{}`), Tally: &firehose.Tally{User: fmt.Sprint("u", n), Emoji: "🔥"}}
	if err := h.fh.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	h.onSocial(m)
}

// memberHub is a node whose views flush every every, and alice, a member
// of its fake ledger's lot, her queue emptied after the join.
func memberHub(ctx context.Context, t *testing.T, every time.Duration) (*Hub, *fakeLedger, *session) {
	t.Helper()
	l := newFakeLedger()
	h := newTestHub(t, l, Options{Node: "n1", ViewsEvery: every})
	member := testSession(h, "alice")
	if _, perr := member.join(ctx, protocol.Request{Type: "join", ID: "j1", Lot: l.id.String()}, l.id); perr != nil {
		t.Fatal(perr)
	}
	member.out.drain()
	return h, l, member
}
