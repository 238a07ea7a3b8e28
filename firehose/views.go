package firehose

import (
	"context"
	"errors"
	"hash/fnv"
	"sort"
	"strconv"
	"time"
)

// Views are the social read models derived from the firehose's messages:
// leaderboards, the global activity feed, a lot's reaction totals and its
// chat history. Both firehoses implement them with the same behaviour (one
// shared test table runs on each).
//
// Chat lines and reaction totals are kept by Publish itself (a chat line is
// its own history; a reaction's count rises in the same write as the
// message). Leaderboards and the feed are derived by Record, off the reply
// path: every node records every ledger message it receives, and Record is
// idempotent by (lot, seq), so the nodes together write each event's
// derived items once, and one that dies leaves the work to the others.
type Views interface {
	// Record adds a ledger message to the feed (for FeedKinds) and, by its
	// Tally, to the leaderboards. A second Record of the same (lot, seq),
	// on this node or another, changes nothing. Other kinds are ignored.
	Record(ctx context.Context, m Message) error
	// Leaderboard merges a lot's board ("" for every lot) over a window.
	Leaderboard(ctx context.Context, lot string, w Window) (Board, error)
	// Feed returns the newest feed events across all lots, newest first.
	Feed(ctx context.Context, limit int) ([]Message, error)
	// Reactions returns a lot's reaction totals by emoji.
	Reactions(ctx context.Context, lot string) (map[string]int64, error)
	// Chat returns a lot's last chat lines, oldest first.
	Chat(ctx context.Context, lot string, limit int) ([]Message, error)
}

// Window is the time a leaderboard covers.
type Window string

const (
	// WindowRecent is the last hour, counted in BucketSize steps: the
	// current bucket and the RecentBuckets-1 before it (60 to 75 minutes).
	WindowRecent Window = "recent"
	// WindowAll is everything within the boards' retention.
	WindowAll Window = "all"
)

// ErrBadWindow is returned for a window other than recent or all.
var ErrBadWindow = errors.New("window must be recent or all")

// ParseWindow reads a window name; empty means recent.
func ParseWindow(s string) (Window, error) {
	switch Window(s) {
	case "", WindowRecent:
		return WindowRecent, nil
	case WindowAll:
		return WindowAll, nil
	}
	return "", ErrBadWindow
}

// Leaderboard buckets.
const (
	BucketSize    = 15 * time.Minute
	RecentBuckets = 5
)

// FeedKinds are the ledger event kinds the global activity feed shows.
var FeedKinds = map[string]bool{"bid": true, "claimed": true, "sold": true, "sold_out": true, "opened": true, "settled": true}

// MaxChatHistory is the most chat lines Chat returns (and Memory keeps per lot).
const MaxChatHistory = 50

// MaxFeed is the most feed events Feed returns (and Memory keeps).
const MaxFeed = 200

// Board is a leaderboard merged over its shards and buckets: one line per
// user and per Region, unranked (Top ranks them).
type Board struct {
	Users   []BoardUser
	Regions []BoardRegion
}

// BoardUser is one user's activity: as a bidder (bids placed, highest bid)
// and as a buyer (purchases, units and money spent).
type BoardUser struct {
	User  string
	Bids  int64
	Best  int64
	Buys  int64
	Units int64
	Spent int64
}

// BoardRegion is one Region's activity: bids and purchases made from it,
// and the money its purchases spent.
type BoardRegion struct {
	Region  string
	Actions int64
	Spent   int64
}

// TopBidders ranks the users who bid, by best bid or by number of bids,
// keeping n.
func (b Board) TopBidders(n int, byCount bool) []BoardUser {
	return topUsers(b.Users, n, func(u BoardUser) (int64, int64) {
		if byCount {
			return u.Bids, u.Best
		}
		return u.Best, u.Bids
	})
}

// TopBuyers ranks the users who bought, by money spent or by units, keeping n.
func (b Board) TopBuyers(n int, byCount bool) []BoardUser {
	return topUsers(b.Users, n, func(u BoardUser) (int64, int64) {
		if byCount {
			return u.Units, u.Spent
		}
		return u.Spent, u.Units
	})
}

// TopRegions ranks the Regions by actions, then money spent, keeping n.
func (b Board) TopRegions(n int) []BoardRegion {
	out := append([]BoardRegion(nil), b.Regions...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Actions != out[j].Actions {
			return out[i].Actions > out[j].Actions
		}
		if out[i].Spent != out[j].Spent {
			return out[i].Spent > out[j].Spent
		}
		return out[i].Region < out[j].Region
	})
	return out[:min(n, len(out))]
}

func topUsers(us []BoardUser, n int, key func(BoardUser) (int64, int64)) []BoardUser {
	var out []BoardUser
	for _, u := range us {
		if k, _ := key(u); k > 0 {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a1, a2 := key(out[i])
		b1, b2 := key(out[j])
		if a1 != b1 {
			return a1 > b1
		}
		if a2 != b2 {
			return a2 > b2
		}
		return out[i].User < out[j].User
	})
	return out[:min(n, len(out))]
}

// boardAdd is what one ledger message adds to a board, from its Tally.
func boardAdd(m Message) (BoardUser, BoardRegion, bool) {
	t := m.Tally
	if t == nil || t.User == "" || (t.Bid <= 0 && t.Units <= 0) {
		return BoardUser{}, BoardRegion{}, false
	}
	u := BoardUser{User: t.User}
	r := BoardRegion{Region: m.Region, Actions: 1}
	if t.Bid > 0 {
		u.Bids, u.Best = 1, t.Bid
	} else {
		u.Buys, u.Units, u.Spent = 1, t.Units, t.Spent
		r.Spent = t.Spent
	}
	return u, r, true
}

// boardScopes are the boards a ledger message counts on: its lot's, and the
// overall one ("ALL") unless the lot is unlisted.
func boardScopes(m Message) []string {
	if m.Unlisted {
		return []string{m.Lot}
	}
	return []string{m.Lot, "ALL"}
}

// merge folds one user's line into another's: counts add, the best bid is
// the higher.
func (u *BoardUser) merge(o BoardUser) {
	u.Bids += o.Bids
	u.Best = max(u.Best, o.Best)
	u.Buys += o.Buys
	u.Units += o.Units
	u.Spent += o.Spent
}

// boardMerger merges board lines from shards and buckets.
type boardMerger struct {
	users   map[string]*BoardUser
	regions map[string]*BoardRegion
}

func newBoardMerger() *boardMerger {
	return &boardMerger{users: map[string]*BoardUser{}, regions: map[string]*BoardRegion{}}
}

func (bm *boardMerger) user(u BoardUser) {
	if cur := bm.users[u.User]; cur != nil {
		cur.merge(u)
		return
	}
	bm.users[u.User] = &u
}

func (bm *boardMerger) region(r BoardRegion) {
	if cur := bm.regions[r.Region]; cur != nil {
		cur.Actions += r.Actions
		cur.Spent += r.Spent
		return
	}
	bm.regions[r.Region] = &r
}

func (bm *boardMerger) board() Board {
	b := Board{Users: []BoardUser{}, Regions: []BoardRegion{}}
	for _, u := range bm.users {
		// A best bid raised before its record's transaction (Record raises
		// bests first) is not a line until that transaction counts it.
		if u.Bids == 0 && u.Buys == 0 {
			continue
		}
		b.Users = append(b.Users, *u)
	}
	for _, r := range bm.regions {
		b.Regions = append(b.Regions, *r)
	}
	sort.Slice(b.Users, func(i, j int) bool { return b.Users[i].User < b.Users[j].User })
	sort.Slice(b.Regions, func(i, j int) bool { return b.Regions[i].Region < b.Regions[j].Region })
	return b
}

// bucketOf names the leaderboard bucket holding t.
func bucketOf(t time.Time) string { return t.UTC().Truncate(BucketSize).Format("20060102T1504") }

// recentBuckets names the buckets of the recent window at now, newest first.
func recentBuckets(now time.Time) []string {
	out := make([]string, RecentBuckets)
	for i := range out {
		out[i] = bucketOf(now.Add(-time.Duration(i) * BucketSize))
	}
	return out
}

// eventKey names a ledger event: lot and seq.
func eventKey(lot string, seq int64) string { return lot + "#" + strconv.FormatInt(seq, 10) }

// hashShard spreads keys over n write shards.
func hashShard(key string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// sortChat orders chat lines oldest first by their social sequence.
func sortChat(ms []Message) {
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Seq < ms[j].Seq })
}

// sortFeed orders feed events newest first.
func sortFeed(ms []Message) {
	sort.SliceStable(ms, func(i, j int) bool {
		if !ms[i].At.Equal(ms[j].At) {
			return ms[i].At.After(ms[j].At)
		}
		if ms[i].Lot != ms[j].Lot {
			return ms[i].Lot < ms[j].Lot
		}
		return ms[i].Seq > ms[j].Seq
	})
}
