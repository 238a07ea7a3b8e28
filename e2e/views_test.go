package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/lotzero/lotzero/protocol"
)

// TestViewsOverTheWire: the social views on a running server (and, in the
// DynamoDB pass, on DynamoDB Local): a lobby watcher gets the overall
// leaderboard and the feed live; a room member gets the lot's leaderboard
// and reaction totals live; a late joiner gets the reaction totals in its
// join result and the last 50 chat lines after it, once each, in order;
// the HTTP views answer the same, and refuse bad parameters clearly.
func TestViewsOverTheWire(t *testing.T) {
	s := startServer(t, "", "LOTZERO_CHAT_RATE=200", "LOTZERO_CHAT_BUDGET=1000")
	lot := s.createLot(t, `{"kind":"english","title":"Views test","start_price":1000,"duration_s":600}`)
	watcher := s.dial(t, "carol", "sa-east-1")
	var watched protocol.WatchResult
	mustOK(t, watcher, protocol.Request{Type: "watch"}, &watched)
	if len(watched.Leaderboards) != 2 || watched.Leaderboards[0].Window != "recent" || watched.Leaderboards[1].Window != "all" {
		t.Fatalf("watch result: %+v", watched)
	}
	alice := s.dial(t, "alice", "eu-west-1")
	mustOK(t, alice, protocol.Request{Type: "join", Lot: lot}, nil)
	for i := 0; i < 55; i++ {
		mustOK(t, alice, protocol.Request{Type: "chat", ID: fmt.Sprintf("c%d", i), Lot: lot, Text: fmt.Sprintf("line %d", i)}, nil)
	}
	mustOK(t, alice, protocol.Request{Type: "chat", ID: "c54", Lot: lot, Text: "line 54"}, nil) // a retry: not a new line
	for i, e := range []string{"🔥", "🔥", "👏"} {
		mustOK(t, alice, protocol.Request{Type: "react", ID: fmt.Sprintf("r%d", i), Lot: lot, Emoji: e}, nil)
	}
	bob := s.dial(t, "bob", "ap-southeast-1")
	mustOK(t, bob, protocol.Request{Type: "bid", Lot: lot, Amount: 1200}, nil)

	// The room member: the lot's leaderboard and the reaction totals, live,
	// in either order (they are separate views, pushed in the same flush).
	var board *protocol.Leaderboard
	var totals bool
	for board == nil || !totals {
		m := next(t, alice, 20*time.Second, func(m protocol.Message) bool {
			return m.Leaderboard != nil && m.Leaderboard.Lot == lot && m.Leaderboard.Window == "all" && len(m.Leaderboard.Bidders.ByAmount) > 0 ||
				m.Reactions != nil && m.Reactions.Lot == lot && m.Reactions.Totals["🔥"] == 2 && m.Reactions.Totals["👏"] == 1
		})
		if m.Leaderboard != nil {
			board = m.Leaderboard
		} else {
			totals = true
		}
	}
	if top := board.Bidders.ByAmount[0]; top != (protocol.BoardLine{User: "bob", Count: 1, Amount: 1200}) || board.Regions[0].Region != "ap-southeast-1" {
		t.Fatalf("room leaderboard: %+v", board)
	}
	// The lobby watcher: the overall leaderboard and the bid in the feed.
	next(t, watcher, 20*time.Second, func(m protocol.Message) bool {
		return m.Leaderboard != nil && m.Leaderboard.Lot == "" && hasBidder(m.Leaderboard.Bidders.ByCount, "bob")
	})
	next(t, watcher, 20*time.Second, func(m protocol.Message) bool {
		if m.Feed == nil {
			return false
		}
		for _, ev := range m.Feed.Events {
			if ev.Lot == lot && ev.Kind == "bid" {
				return true
			}
		}
		return false
	})

	// A late joiner: totals in the result, then the last 50 lines in order.
	dave := s.dial(t, "dave", "us-west-2")
	var joined protocol.JoinResult
	mustOK(t, dave, protocol.Request{Type: "join", Lot: lot}, &joined)
	if joined.Reactions["🔥"] != 2 || joined.Reactions["👏"] != 1 {
		t.Fatalf("join reactions: %v", joined.Reactions)
	}
	var lines []string
	var last int64
	for len(lines) < 50 {
		m := next(t, dave, 10*time.Second, isEvent("chat"))
		var d protocol.ChatData
		_ = json.Unmarshal(m.Event.Data, &d)
		if m.Event.SocialSeq <= last {
			t.Fatalf("chat history out of order or doubled at %q: %d after %d", d.Text, m.Event.SocialSeq, last)
		}
		last = m.Event.SocialSeq
		lines = append(lines, d.Text)
	}
	if lines[0] != "line 5" || lines[49] != "line 54" {
		t.Fatalf("history: %v", lines)
	}
	mustOK(t, alice, protocol.Request{Type: "chat", ID: "after", Lot: lot, Text: "live after the history"}, nil)
	m := next(t, dave, 10*time.Second, isEvent("chat"))
	if !strings.Contains(string(m.Event.Data), "live after the history") {
		t.Fatalf("after the history came %s", m.Raw)
	}

	// Over HTTP.
	var lb struct {
		Leaderboard protocol.Leaderboard `json:"leaderboard"`
	}
	if err := protocol.GetJSON(ctxT(t, 10*time.Second), s.URL+"/api/leaderboard?lot="+lot+"&window=all", "", &lb); err != nil ||
		!hasBidder(lb.Leaderboard.Bidders.ByAmount, "bob") || lb.Leaderboard.Lot != lot {
		t.Fatalf("GET /api/leaderboard: %+v %v", lb, err)
	}
	var feed struct {
		Events []protocol.Event `json:"events"`
	}
	if err := protocol.GetJSON(ctxT(t, 10*time.Second), s.URL+"/api/feed?limit=10", "", &feed); err != nil || len(feed.Events) == 0 {
		t.Fatalf("GET /api/feed: %+v %v", feed, err)
	}
	for path, want := range map[string]string{
		"/api/leaderboard?window=week":     "window must be recent or all",
		"/api/leaderboard?lot=nope":        "lot must be a lot id",
		"/api/leaderboard?sort=amount":     "unknown parameter",
		"/api/feed?limit=0":                "limit must be an integer 1..200",
		"/api/feed?limit=10&limit=20":      "given twice",
		"/api/leaderboard?window=":         "window must be recent or all",
		"/api/feed?limit=9999999999999999": "limit must be an integer",
	} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), want) || !strings.Contains(string(body), `"bad_request"`) {
			t.Fatalf("GET %s: %d %s; want 400 saying %q", path, resp.StatusCode, body, want)
		}
	}
	mustOK(t, watcher, protocol.Request{Type: "unwatch"}, nil)
}

func hasBidder(lines []protocol.BoardLine, user string) bool {
	for _, l := range lines {
		if l.User == user {
			return true
		}
	}
	return false
}

// TestUIViews: the lobby's live leaderboard and feed (in sentences), and a
// room's leaderboard, reaction totals on the buttons and chat history.
func TestUIViews(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"english","title":"Omega Speedmaster","start_price":2000,"duration_s":900}`)
	lobby := newBrowser(t)
	lobby.open(t, s, "erin", "us-east-1", "#/")
	lobby.run(t, textIs("main", "Omega Speedmaster"), textIs("[aria-label=Leaderboard]", "Top bidders"))

	frank := s.dial(t, "frank", "eu-west-1")
	mustOK(t, frank, protocol.Request{Type: "join", Lot: lot}, nil)
	mustOK(t, frank, protocol.Request{Type: "bid", Lot: lot, Amount: 2500}, nil)
	mustOK(t, frank, protocol.Request{Type: "chat", ID: "hello", Lot: lot, Text: "earlier, before you came"}, nil)
	grace := s.dial(t, "grace", "ap-southeast-1")
	mustOK(t, grace, protocol.Request{Type: "bid", Lot: lot, Amount: 3000}, nil)

	// Live, in words: no raw kinds.
	lobby.run(t, textIs("#global-feed", "grace (ap-southeast-1) bid $30.00 on Omega Speedmaster"),
		textIs("#global-feed", "frank (eu-west-1) bid $25.00 on Omega Speedmaster"),
		textIs("[aria-label=Leaderboard]", "grace"), textIs("[aria-label=Leaderboard]", "$30.00 high"))
	lobby.shot(t, "lobby-live")

	room := newBrowser(t)
	room.open(t, s, "heidi", "sa-east-1", "#/lot/"+lot)
	room.run(t, textIs("[aria-label=Chat]", "earlier, before you came"),
		textIs("[aria-label='Leaderboard for this lot']", "grace"),
		chromedp.Click(`button[data-emoji="🔥"]`, chromedp.ByQuery),
		textIs(`button[data-emoji="🔥"]`, "1"))
	mustOK(t, frank, protocol.Request{Type: "react", ID: "r1", Lot: lot, Emoji: "🔥"}, nil)
	mustOK(t, frank, protocol.Request{Type: "bid", Lot: lot, Amount: 4000}, nil)
	room.run(t, textIs(`button[data-emoji="🔥"]`, "2"), textIs("[aria-label='Leaderboard for this lot']", "$40.00 high"),
		chromedp.Click(`[aria-label='Leaderboard for this lot'] button[data-window="all"]`, chromedp.ByQuery),
		textIs("[aria-label='Leaderboard for this lot']", "frank"))
	// Chat history once: a reload joins again and shows the line once.
	room.run(t, chromedp.Reload(), waitJS(`document.querySelector('#conn').textContent.startsWith('live')`),
		textIs("[aria-label=Chat]", "earlier, before you came"), chromedp.Sleep(500*time.Millisecond),
		waitJS(`[...document.querySelectorAll('[aria-label=Chat] li')].filter((li) => li.textContent.includes('earlier, before you came')).length === 1`))
	room.shot(t, "leaderboard")
}

// TestViewsAcrossNodes: two nodes on one DynamoDB table, neither publishing
// after commit (the outbox relay publishes), so no node records an event
// on its reply path: the leaderboards and the feed still fill, derived by
// the nodes from the relayed messages, each event once. A room first
// opened on node B shows the chat lines sent on node A before it existed.
func TestViewsAcrossNodes(t *testing.T) {
	a, b := twoNodes(t, "LOTZERO_FAULT_SKIP_PUBLISH=1", "LOTZERO_RELAY_EVERY=300ms", "LOTZERO_CHAT_RATE=100", "LOTZERO_CHAT_BUDGET=1000")
	lot := a.createLot(t, `{"kind":"english","title":"across nodes","start_price":1000,"duration_s":600}`)
	alice := a.dial(t, "alice", "eu-west-1")
	mustOK(t, alice, protocol.Request{Type: "join", Lot: lot}, nil)
	for i := 0; i < 3; i++ {
		mustOK(t, alice, protocol.Request{Type: "chat", Lot: lot, Text: fmt.Sprintf("from A %d", i)}, nil)
	}
	watcher := b.dial(t, "carol", "sa-east-1")
	mustOK(t, watcher, protocol.Request{Type: "watch"}, nil)
	for i, amount := range []int64{1200, 1500} {
		bidder := a.dial(t, fmt.Sprintf("bidder%d", i), "ap-southeast-1")
		mustOK(t, bidder, protocol.Request{Type: "bid", Lot: lot, Amount: amount}, nil)
	}
	board := next(t, watcher, 30*time.Second, func(m protocol.Message) bool {
		return m.Leaderboard != nil && m.Leaderboard.Window == "all" && hasBidder(m.Leaderboard.Bidders.ByAmount, "bidder1") &&
			hasBidder(m.Leaderboard.Bidders.ByAmount, "bidder0")
	}).Leaderboard
	for _, l := range board.Bidders.ByCount {
		if (l.User == "bidder0" || l.User == "bidder1") && l.Count != 1 {
			t.Fatalf("a bid counted %d times: %+v", l.Count, board.Bidders.ByCount)
		}
	}
	var lb struct {
		Leaderboard protocol.Leaderboard `json:"leaderboard"`
	}
	if err := protocol.GetJSON(ctxT(t, 10*time.Second), a.URL+"/api/leaderboard?lot="+lot+"&window=all", "", &lb); err != nil ||
		len(lb.Leaderboard.Regions) != 1 || lb.Leaderboard.Regions[0] != (protocol.RegionLine{Region: "ap-southeast-1", Count: 2}) {
		t.Fatalf("node A's view of the lot's board: %+v %v", lb.Leaderboard, err)
	}
	var feed struct {
		Events []protocol.Event `json:"events"`
	}
	if err := protocol.GetJSON(ctxT(t, 10*time.Second), b.URL+"/api/feed", "", &feed); err != nil {
		t.Fatal(err)
	}
	bids := 0
	for _, ev := range feed.Events {
		if ev.Lot == lot && ev.Kind == "bid" {
			bids++
		}
	}
	if bids != 2 {
		t.Fatalf("node B's feed holds %d of the 2 bids: %+v", bids, feed.Events)
	}
	dave := b.dial(t, "dave", "us-west-2")
	mustOK(t, dave, protocol.Request{Type: "join", Lot: lot}, nil)
	for i := 0; i < 3; i++ {
		m := next(t, dave, 10*time.Second, isEvent("chat"))
		if want := fmt.Sprintf("from A %d", i); !strings.Contains(string(m.Event.Data), want) {
			t.Fatalf("history line %d: %s, want %q", i, m.Raw, want)
		}
	}
}

// TestUnlistedLotsStayOutOfOverallViews: an unlisted lot's bids (the
// proof's lots are unlisted) count on that lot's own leaderboard but never
// on the overall one or in the activity feed, on the node that committed
// them and on the node that got them from the firehose.
func TestUnlistedLotsStayOutOfOverallViews(t *testing.T) {
	a, b := twoNodes(t)
	hidden := a.createLot(t, `{"kind":"english","unlisted":true,"title":"unlisted","start_price":1000,"duration_s":600}`)
	listed := a.createLot(t, `{"kind":"english","title":"listed","start_price":1000,"duration_s":600}`)
	watcher := b.dial(t, "carol", "sa-east-1")
	mustOK(t, watcher, protocol.Request{Type: "watch"}, nil)
	erin := a.dial(t, "erin", "eu-west-1")
	mustOK(t, erin, protocol.Request{Type: "bid", Lot: hidden, Amount: 1500}, nil)
	frank := a.dial(t, "frank", "us-west-2")
	mustOK(t, frank, protocol.Request{Type: "bid", Lot: listed, Amount: 1200}, nil)

	// Once the listed bid is on B's overall board and the unlisted one on
	// its own lot's board, both have been recorded.
	next(t, watcher, 30*time.Second, func(m protocol.Message) bool {
		return m.Leaderboard != nil && m.Leaderboard.Lot == "" && m.Leaderboard.Window == "all" && hasBidder(m.Leaderboard.Bidders.ByAmount, "frank")
	})
	var lb struct {
		Leaderboard protocol.Leaderboard `json:"leaderboard"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := protocol.GetJSON(ctxT(t, 10*time.Second), b.URL+"/api/leaderboard?lot="+hidden+"&window=all", "", &lb); err != nil {
			t.Fatal(err)
		}
		if hasBidder(lb.Leaderboard.Bidders.ByAmount, "erin") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unlisted lot's own board never showed its bid: %+v", lb.Leaderboard)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, node := range []*server{a, b} {
		for _, w := range []string{"recent", "all"} {
			if err := protocol.GetJSON(ctxT(t, 10*time.Second), node.URL+"/api/leaderboard?window="+w, "", &lb); err != nil {
				t.Fatal(err)
			}
			if !hasBidder(lb.Leaderboard.Bidders.ByAmount, "frank") || hasBidder(lb.Leaderboard.Bidders.ByAmount, "erin") {
				t.Fatalf("%s's overall %s board should hold frank and not erin: %+v", node.URL, w, lb.Leaderboard.Bidders)
			}
		}
		var feed struct {
			Events []protocol.Event `json:"events"`
		}
		if err := protocol.GetJSON(ctxT(t, 10*time.Second), node.URL+"/api/feed?limit=200", "", &feed); err != nil {
			t.Fatal(err)
		}
		sawListed := false
		for _, ev := range feed.Events {
			if ev.Lot == hidden {
				t.Fatalf("%s's feed holds the unlisted lot's %s", node.URL, ev.Kind)
			}
			sawListed = sawListed || ev.Lot == listed
		}
		if !sawListed {
			t.Fatalf("%s's feed lacks the listed lot: %+v", node.URL, feed.Events)
		}
	}
}
