package firehose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// viewsFirehoses opens each firehose for the shared views tests: the same
// table of cases runs on Memory and on DynamoDB Local. Each returns two
// handles on the same views (two nodes, for DynamoDB; the same Memory).
var viewsFirehoses = map[string]func(t *testing.T) (Firehose, Firehose){
	"memory": func(t *testing.T) (Firehose, Firehose) {
		m := NewMemory(0)
		return m, m
	},
	"dynamodb": func(t *testing.T) (Firehose, Firehose) {
		_, start := newTable(t)
		a, b := start("a"), start("b")
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	},
}

var viewsCases = []struct {
	name string
	run  func(t *testing.T, a, b Firehose)
}{
	{"leaderboards count each event once, per lot and overall, recent and all time", testViewsLeaderboards},
	{"the feed holds its kinds once, newest first", testViewsFeed},
	{"reaction totals count a retried reaction once", testViewsReactions},
	{"chat history is the last lines, oldest first, without retries", testViewsChat},
	{"an unlisted lot counts on its own board only, never overall or in the feed", testViewsUnlisted},
}

func TestViews(t *testing.T) {
	for name, open := range viewsFirehoses {
		t.Run(name, func(t *testing.T) {
			for _, c := range viewsCases {
				t.Run(c.name, func(t *testing.T) {
					a, b := open(t)
					c.run(t, a, b)
				})
			}
		})
	}
}

func tallied(lot string, seq int64, event, region string, at time.Time, tally *Tally) Message {
	return Message{Kind: KindLedger, Lot: lot, Seq: seq, Event: event, At: at, Region: region, Actor: tally.User,
		Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, seq)), Tally: tally}
}

func testViewsLeaderboards(t *testing.T, a, b Firehose) {
	ctx := context.Background()
	lot1, lot2 := fmt.Sprintf("lot1-%d", time.Now().UnixNano()), fmt.Sprintf("lot2-%d", time.Now().UnixNano())
	now := time.Now()
	old := now.Add(-3 * time.Hour) // outside the recent window
	msgs := []Message{
		tallied(lot1, 1, "bid", "eu-west-1", old, &Tally{User: "alice", Bid: 900}),
		tallied(lot1, 2, "bid", "us-east-1", now, &Tally{User: "bob", Bid: 500}),
		tallied(lot1, 3, "bid", "eu-west-1", now, &Tally{User: "alice", Bid: 700}),
		tallied(lot1, 4, "bid", "us-east-1", now, &Tally{User: "bob", Bid: 800}),
		tallied(lot2, 1, "sold", "ap-southeast-1", now, &Tally{User: "carol", Units: 2, Spent: 600}),
		tallied(lot2, 2, "claimed", "eu-west-1", now, &Tally{User: "alice", Units: 1, Spent: 250}),
		{Kind: KindLedger, Lot: lot2, Seq: 3, Event: "sold_out", At: now, Region: "system", Data: json.RawMessage(`{}`)},
	}
	for _, m := range msgs {
		// Recorded by both nodes, twice: counted once.
		for _, fh := range []Firehose{a, b, a} {
			if err := fh.Views().Record(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	all, err := b.Views().Leaderboard(ctx, lot1, WindowAll)
	if err != nil {
		t.Fatal(err)
	}
	top := all.TopBidders(10, false)
	if len(top) != 2 || top[0].User != "alice" || top[0].Best != 900 || top[0].Bids != 2 || top[1].User != "bob" || top[1].Best != 800 || top[1].Bids != 2 {
		t.Fatalf("lot all-time bidders by amount: %+v", top)
	}
	recent, err := a.Views().Leaderboard(ctx, lot1, WindowRecent)
	if err != nil {
		t.Fatal(err)
	}
	top = recent.TopBidders(10, true)
	if len(top) != 2 || top[0].User != "bob" || top[0].Bids != 2 || top[1].User != "alice" || top[1].Bids != 1 || top[1].Best != 700 {
		t.Fatalf("lot recent bidders by count: %+v", top)
	}
	regions := recent.TopRegions(10)
	if len(regions) != 2 || regions[0].Region != "us-east-1" || regions[0].Actions != 2 || regions[1].Actions != 1 {
		t.Fatalf("lot recent regions: %+v", regions)
	}
	overall, err := a.Views().Leaderboard(ctx, "", WindowRecent)
	if err != nil {
		t.Fatal(err)
	}
	buyers := overall.TopBuyers(10, false)
	if len(buyers) != 2 || buyers[0].User != "carol" || buyers[0].Spent != 600 || buyers[0].Units != 2 || buyers[1].User != "alice" || buyers[1].Units != 1 {
		t.Fatalf("overall recent buyers by amount: %+v", buyers)
	}
	if byCount := overall.TopBuyers(1, true); len(byCount) != 1 || byCount[0].User != "carol" {
		t.Fatalf("overall recent buyers by count: %+v", byCount)
	}
	// Overall, alice both bid and bought; ap-southeast-1 spent the most.
	var alice BoardUser
	for _, u := range overall.Users {
		if u.User == "alice" {
			alice = u
		}
	}
	if alice.Bids != 1 || alice.Best != 700 || alice.Units != 1 || alice.Spent != 250 {
		t.Fatalf("overall alice: %+v", alice)
	}
	if _, err := a.Views().Leaderboard(ctx, lot1, Window("week")); !errors.Is(err, ErrBadWindow) {
		t.Fatalf("a bad window: %v", err)
	}
}

func testViewsFeed(t *testing.T, a, b Firehose) {
	ctx := context.Background()
	lot := fmt.Sprintf("feed-%d", time.Now().UnixNano())
	base := time.Now().Add(-time.Minute)
	kinds := []string{"opened", "bid", "price_tick", "extended", "claimed", "sold", "sold_out", "closed", "settled"}
	for i, k := range kinds {
		m := Message{Kind: KindLedger, Lot: lot, Seq: int64(i + 1), Event: k, At: base.Add(time.Duration(i) * time.Second),
			Region: "eu-west-1", Actor: "alice", Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
		for _, fh := range []Firehose{a, b} {
			if err := fh.Views().Record(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	feed, err := b.Views().Feed(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range feed {
		if m.Lot == lot {
			got = append(got, fmt.Sprintf("%d:%s", m.Seq, m.Event))
			if m.Region != "eu-west-1" || m.Actor != "alice" || string(m.Data) != fmt.Sprintf(`{"i":%d}`, m.Seq-1) {
				t.Fatalf("feed item %+v", m)
			}
		}
	}
	want := "[9:settled 7:sold_out 6:sold 5:claimed 2:bid 1:opened]"
	if fmt.Sprint(got) != want {
		t.Fatalf("feed %v, want %s", got, want)
	}
	if two, _ := a.Views().Feed(ctx, 2); len(two) != 2 || two[0].Seq != 9 || two[1].Seq != 7 {
		t.Fatalf("feed limited to 2: %+v", two)
	}
}

func testViewsReactions(t *testing.T, a, b Firehose) {
	ctx := context.Background()
	lot := fmt.Sprintf("react-%d", time.Now().UnixNano())
	for i, e := range []string{"🔥", "🔥", "👏", "🔥"} {
		m := Message{Kind: KindReaction, ID: fmt.Sprintf("u%d:%s:r", i, lot), Lot: lot, Event: "reaction", At: time.Now(),
			Region: "eu-west-1", Data: json.RawMessage(`{}`), Tally: &Tally{User: fmt.Sprintf("u%d", i), Emoji: e}}
		for _, fh := range []Firehose{a, b} { // a retry on another node
			if err := fh.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := a.Views().Reactions(ctx, lot)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["🔥"] != 3 || got["👏"] != 1 {
		t.Fatalf("reactions %v", got)
	}
	if none, err := b.Views().Reactions(ctx, "no-such-lot"); err != nil || len(none) != 0 {
		t.Fatalf("reactions of a quiet lot: %v %v", none, err)
	}
}

func testViewsChat(t *testing.T, a, b Firehose) {
	ctx := context.Background()
	lot := fmt.Sprintf("chat-%d", time.Now().UnixNano())
	base := time.Now()
	for i := 0; i < 60; i++ {
		m := Message{Kind: KindChat, ID: fmt.Sprintf("alice:%s:%d", lot, i), Lot: lot, Event: "chat", At: base.Add(time.Duration(i) * time.Millisecond),
			Region: "eu-west-1", Actor: "alice", Data: json.RawMessage(fmt.Sprintf(`{"text":"line %d"}`, i))}
		if err := a.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 { // a retry, later, on another node: not a new line
			m.At = m.At.Add(time.Second)
			if err := b.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	lines, err := b.Views().Chat(ctx, lot, MaxChatHistory)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != MaxChatHistory {
		t.Fatalf("%d chat lines, want %d", len(lines), MaxChatHistory)
	}
	for i, l := range lines {
		if want := fmt.Sprintf(`{"text":"line %d"}`, i+10); string(l.Data) != want || l.Seq <= 0 || (i > 0 && l.Seq <= lines[i-1].Seq) {
			t.Fatalf("line %d: %s seq %d, want %s in rising seq", i, l.Data, l.Seq, want)
		}
	}
	if few, _ := a.Views().Chat(ctx, lot, 3); len(few) != 3 || string(few[2].Data) != `{"text":"line 59"}` {
		t.Fatalf("last 3 lines: %+v", few)
	}
}

// A social sequence rises with time, is exact in JavaScript, and differs
// for two ids in the same millisecond (but for a 1 in 4096 hash collision).
func TestSocialSeqRisesWithTimeBelow2To53(t *testing.T) {
	at := time.Date(2095, 8, 1, 0, 0, 0, 0, time.UTC)
	a, b := socialSeq(at, "alice:lot:1"), socialSeq(at, "bob:lot:1")
	later := socialSeq(at.Add(time.Millisecond), "alice:lot:1")
	if a >= 1<<53 || b >= 1<<53 || later >= 1<<53 {
		t.Fatalf("social seq %d / %d past 2^53", a, later)
	}
	if a == b || later <= a || later <= b {
		t.Fatalf("social seqs %d %d then %d", a, b, later)
	}
}

// Memory's views are bounded: 50 chat lines per lot, MaxFeed feed events.
func TestMemoryViewsAreBounded(t *testing.T) {
	m := NewMemory(0)
	ctx := context.Background()
	for i := 0; i < 120; i++ {
		_ = m.Publish(ctx, Message{Kind: KindChat, ID: fmt.Sprint("c", i), Lot: "L", Event: "chat", At: time.Now()})
	}
	for i := 1; i <= MaxFeed+50; i++ {
		_ = m.Views().Record(ctx, Message{Kind: KindLedger, Lot: "L", Seq: int64(i), Event: "opened", At: time.Now()})
	}
	m.views.mu.Lock()
	chat, feed := len(m.views.lots["L"].chat), len(m.views.feed)
	m.views.mu.Unlock()
	if chat != MaxChatHistory || feed != MaxFeed {
		t.Fatalf("Memory holds %d chat lines and %d feed events", chat, feed)
	}
}

func testViewsUnlisted(t *testing.T, a, b Firehose) {
	ctx := context.Background()
	lot := fmt.Sprintf("unlisted-%d", time.Now().UnixNano())
	user := fmt.Sprintf("prover%d", time.Now().UnixNano()%1e6)
	now := time.Now()
	for i, m := range []Message{
		tallied(lot, 1, "bid", "eu-west-1", now, &Tally{User: user, Bid: 500}),
		tallied(lot, 2, "sold", "eu-west-1", now, &Tally{User: user, Units: 1, Spent: 300}),
	} {
		m.Unlisted = true
		if err := []Firehose{a, b}[i%2].Views().Record(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	own, err := b.Views().Leaderboard(ctx, lot, WindowAll)
	if err != nil {
		t.Fatal(err)
	}
	if len(own.Users) != 1 || own.Users[0].User != user || own.Users[0].Bids != 1 || own.Users[0].Units != 1 {
		t.Fatalf("the unlisted lot's own board: %+v", own.Users)
	}
	for _, w := range []Window{WindowRecent, WindowAll} {
		overall, err := a.Views().Leaderboard(ctx, "", w)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range overall.Users {
			if u.User == user {
				t.Fatalf("the unlisted lot's bidder is on the overall %s board: %+v", w, u)
			}
		}
	}
	feed, err := a.Views().Feed(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range feed {
		if m.Lot == lot {
			t.Fatalf("the unlisted lot is in the feed: %+v", m)
		}
	}
}

// TestBestRaisedBeforeItsRecordIsNoLine: Record raises a bid's best before
// the transaction that counts it; a board read in between (or after a
// crash between them) shows no line for a bidder nothing counted yet.
func TestBestRaisedBeforeItsRecordIsNoLine(t *testing.T) {
	_, start := newTable(t)
	d := start("a")
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	lot := fmt.Sprintf("best-%d", time.Now().UnixNano())
	pk := strAttr(boardPK(lot, "all", 0))
	if err := d.raiseBests(ctx, []types.AttributeValue{pk}, BoardUser{User: "early", Best: 900}); err != nil {
		t.Fatal(err)
	}
	b, err := d.Views().Leaderboard(ctx, lot, WindowAll)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Users) != 0 {
		t.Fatalf("a best nothing counted yet is on the board: %+v", b.Users)
	}
	if err := d.Views().Record(ctx, tallied(lot, 1, "bid", "eu-west-1", time.Now(), &Tally{User: "early", Bid: 900})); err != nil {
		t.Fatal(err)
	}
	if b, err = d.Views().Leaderboard(ctx, lot, WindowAll); err != nil || len(b.Users) != 1 || b.Users[0].Bids != 1 || b.Users[0].Best != 900 {
		t.Fatalf("after its record: %+v %v", b.Users, err)
	}
}
