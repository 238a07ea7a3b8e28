package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// This file keeps the social views live on this node: it records every
// ledger event into the firehose's views (off the reply path), notes what
// changed, and once per ViewsEvery pushes the changed leaderboards and
// reaction totals, and the new feed events, to the lobby's watchers and
// the rooms' members.

// Sizes of what the views show.
const (
	boardTop     = 10  // lines per ranking
	lobbyFeed    = 50  // feed events a watch starts with
	maxFeedLimit = 200 // GET /api/feed's largest limit
	viewsFresh   = time.Second
)

// liveViews is what changed since the last push, and who watches the lobby.
type liveViews struct {
	mu            sync.Mutex
	boards        map[string]bool      // changed leaderboards: a lot id, or "" for every lot
	reacts        map[string]bool      // lots whose reaction totals changed
	feed          []firehose.Message   // feed events not yet pushed, oldest first
	recent        []firehose.Message   // the last lobbyFeed feed events seen here, oldest first
	sent          map[string][]byte    // the leaderboard frame last pushed, by scope and window
	boardPushed   map[string]time.Time // when a room's leaderboards were last pushed, by lot
	reactsPushed  map[string]time.Time // when a room's reaction totals were last pushed, by lot
	rollouts      map[string]*rollout  // a room's leaderboards (by lot) or reaction totals (reactionsKey) on their way to its members
	lobby         map[*session]bool    // sessions watching the lobby
	seen          *seenSet             // feed events seen (the firehose delivers at least once)
	done          *seenSet             // events recorded here: the firehose's copy needs no second look
	unlisted      *unlistedLots        // lots kept out of the overall views
	cache         *viewCache           // shared reads of the firehose's views
	now           chan recordJob       // ledger events this node committed: record at once
	later         chan recordJob       // ledger events from the firehose: record after RecordDelay
	sendMu        sync.Mutex           // orders pushes to the lobby
	dropped       int                  // events not queued for recording since the last log
	droppedLogged time.Time
}

type recordJob struct {
	m   firehose.Message
	due time.Time
}

func newLiveViews() *liveViews {
	return &liveViews{boards: map[string]bool{}, reacts: map[string]bool{}, sent: map[string][]byte{}, boardPushed: map[string]time.Time{}, reactsPushed: map[string]time.Time{}, rollouts: map[string]*rollout{},
		lobby: map[*session]bool{}, seen: newSeenSet(1 << 14), done: newSeenSet(1 << 14), unlisted: newUnlistedLots(), cache: newViewCache(),
		now: make(chan recordJob, 4096), later: make(chan recordJob, 1<<14)}
}

// recordCommitted queues events this node just committed and published
// for recording. Never blocks: a full queue leaves them to the firehose
// path, which every node (this one too) records after RecordDelay.
func (h *Hub) recordCommitted(m firehose.Message) {
	select {
	case h.live.now <- recordJob{m: m}:
	default:
	}
}

// onLedgerMessage notes a ledger event that came through the firehose: a
// feed event for the lobby, and a recording after RecordDelay (found done,
// usually, by the node that committed it).
func (h *Hub) onLedgerMessage(m firehose.Message, ev ledger.Event) {
	m.Tally = ledgerTally(ev)
	lv := h.live
	if firehose.FeedKinds[m.Event] && lv.seen.add(ledger.EventKey{Lot: ev.Lot, Seq: ev.Seq}) {
		lv.mu.Lock()
		lv.feed = append(lv.feed, m) // shown (and kept in recent) by flushViews, unless unlisted
		lv.mu.Unlock()
	}
	select {
	case lv.later <- recordJob{m: m, due: time.Now().Add(h.opts.RecordDelay)}:
	default:
		// Left to the other nodes (and lost to the views if none records
		// it): counted, and logged at most every 10s.
		lv.mu.Lock()
		lv.dropped++
		n, quiet := lv.dropped, time.Since(lv.droppedLogged) < 10*time.Second
		if !quiet {
			lv.dropped, lv.droppedLogged = 0, time.Now()
		}
		lv.mu.Unlock()
		if !quiet {
			h.log.Warn().Int("events", n).Msg("views: record queue full; events left to other nodes")
		}
	}
}

// onReaction notes that a lot's reaction totals changed.
func (h *Hub) onReaction(lot string) {
	h.live.mu.Lock()
	h.live.reacts[lot] = true
	h.live.mu.Unlock()
}

// recordLoop records queued events, each when due.
func (h *Hub) recordLoop(ctx context.Context, jobs <-chan recordJob) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-jobs:
			if wait := time.Until(j.due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			if !h.live.recorded(j.m) {
				h.record(ctx, j.m)
			}
		}
	}
}

// drainRecords records what this node committed and has not recorded yet,
// when it shuts down (the firehose's copies are left to the other nodes).
func (h *Hub) drainRecords(ctx context.Context) {
	for ctx.Err() == nil {
		select {
		case j := <-h.live.now:
			h.record(ctx, j.m)
		default:
			return
		}
	}
}

// record writes one event's derived views (idempotent), retrying a few
// times, and marks its leaderboards changed.
func (h *Hub) record(ctx context.Context, m firehose.Message) {
	m.Unlisted = h.unlisted(ctx, m.Lot)
	var err error
	for attempt := 0; attempt < 3 && ctx.Err() == nil; attempt++ {
		// While the store is down the event waits here and is recorded
		// late; the queue behind it fills meanwhile, and what it then
		// drops (with a log line) is left to the nodes that get the
		// event from the stream.
		for h.firehoseDown() && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
		rctx, cancel := context.WithTimeout(ctx, viewReadTimeout)
		err = h.fh.Views().Record(rctx, m)
		cancel()
		if err == nil {
			if key, ok := eventKeyOf(m); ok {
				h.live.done.add(key)
			}
			if m.Tally != nil {
				h.live.mu.Lock()
				h.live.boards[m.Lot], h.live.boards[""] = true, true
				h.live.mu.Unlock()
			}
			return
		}
		time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
	}
	if ctx.Err() == nil && !h.firehoseDown() {
		h.log.Warn().Err(err).Str("lot", m.Lot).Int64("seq", m.Seq).Msg("views: record event")
	}
}

// flushViews pushes what changed since the last call: leaderboards (only
// when their frame differs from the one last pushed), reaction totals and
// new feed events. Reads happen here, outside every room's lock, at most
// once per ViewsEvery per changed view.
func (h *Hub) flushViews(ctx context.Context) {
	if h.firehoseDown() {
		return // what changed waits for the store
	}
	lv := h.live
	lv.mu.Lock()
	boards, reacts, feed := lv.boards, lv.reacts, lv.feed
	lv.boards, lv.reacts, lv.feed = map[string]bool{}, map[string]bool{}, nil
	watchers := len(lv.lobby)
	lv.mu.Unlock()

	now := time.Now()
	// Boards that wait for their crowd's interval, and views whose read
	// failed, are marked changed again for the next flush.
	var later, laterReacts []string
	defer func() {
		lv.mu.Lock()
		for _, scope := range later {
			lv.boards[scope] = true
		}
		for _, lot := range laterReacts {
			lv.reacts[lot] = true
		}
		lv.mu.Unlock()
	}()
	for scope := range boards {
		var room *room
		if scope != "" {
			if room = h.existingRoom(scope); room == nil {
				lv.forgetSent(scope)
				continue
			}
			if !lv.due(lv.boardPushed, scope, now, h.opts.ViewsEvery, room.memberCount()) {
				later = append(later, scope)
				continue
			}
		} else if watchers == 0 {
			continue
		}
		frames := make([][]byte, 2) // by window, nil where it did not change
		for i, w := range []firehose.Window{firehose.WindowRecent, firehose.WindowAll} {
			board, err := h.leaderboard(ctx, scope, w, 0)
			if err != nil {
				h.log.Warn().Err(err).Str("lot", scope).Msg("views: read leaderboard")
				later = append(later, scope) // read again next time: the change is not lost
				continue
			}
			board.Type = "leaderboard"
			frame, _ := json.Marshal(board)
			if !lv.changed(scope+"|"+string(w), frame) {
				continue
			}
			if room != nil {
				frames[i] = frame
			} else {
				h.toLobby(frame)
			}
		}
		if frames[0] != nil || frames[1] != nil {
			lv.pushed(lv.boardPushed, scope, now)
			// Listed now, after the reads: a member who joined during them
			// gets this read too.
			lv.startRollout(scope, scope, frames, room.memberList())
		}
	}
	for lot := range reacts {
		room := h.existingRoom(lot)
		if room == nil {
			continue
		}
		// A crowd's totals are paced and rolled out as its boards are: a
		// reacting crowd changes them every second.
		if !lv.due(lv.reactsPushed, lot, now, h.opts.ViewsEvery, room.memberCount()) {
			laterReacts = append(laterReacts, lot)
			continue
		}
		totals, err := h.reactionTotals(ctx, lot, 0)
		if err != nil {
			h.log.Warn().Err(err).Str("lot", lot).Msg("views: read reaction totals")
			laterReacts = append(laterReacts, lot)
			continue
		}
		frame, _ := json.Marshal(protocol.ReactionsFrame{Type: "reactions", Lot: lot, Totals: totals})
		lv.pushed(lv.reactsPushed, lot, now)
		lv.startRollout(reactionsKey(lot), lot, [][]byte{frame}, room.memberList())
	}
	h.rollViews()
	feed = h.listedFeed(ctx, feed)
	if len(feed) > 0 && watchers > 0 {
		events := make([]protocol.Event, 0, len(feed))
		for i := len(feed) - 1; i >= 0; i-- {
			events = append(events, feedEvent(feed[i]))
		}
		frame, _ := json.Marshal(protocol.FeedFrame{Type: "feed", Events: events})
		h.toLobby(frame)
	}
}

// listedFeed drops the feed events of unlisted lots and keeps the rest in
// recent, for the feed reads that come before the firehose holds them.
func (h *Hub) listedFeed(ctx context.Context, feed []firehose.Message) []firehose.Message {
	out := feed[:0]
	for _, m := range feed {
		if !h.unlisted(ctx, m.Lot) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil
	}
	lv := h.live
	lv.mu.Lock()
	lv.recent = append(lv.recent, out...)
	if len(lv.recent) > lobbyFeed {
		lv.recent = append(lv.recent[:0:0], lv.recent[len(lv.recent)-lobbyFeed:]...)
	}
	lv.mu.Unlock()
	return out
}

// changed reports whether frame differs from the last one pushed for key,
// remembering it.
func (lv *liveViews) changed(key string, frame []byte) bool {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if bytes.Equal(lv.sent[key], frame) {
		return false
	}
	lv.sent[key] = frame
	return true
}

// crowdStep is how many members a room's leaderboards reach per
// ViewsEvery: a crowd's boards change with every bid, and each push is a
// frame (two: one per window) to every member, which costs the node as
// much as the bids themselves, so a room of n members gets them once per
// ⌈n / crowdStep⌉ intervals.
const crowdStep = 1000

// boardEvery is how often a room of members may get its leaderboards.
func boardEvery(every time.Duration, members int) time.Duration {
	return every * time.Duration(crowdGroups(members))
}

// crowdGroups is how many ViewsEvery a room of members takes for one
// round of leaderboards, and so how many groups its members are pushed
// them in, one group per flush (see rollout).
func crowdGroups(members int) int {
	return max(1, (members+crowdStep-1)/crowdStep)
}

// due reports whether a room of members may get its leaderboards (or its
// reaction totals: last is their map of push times) now, boardEvery after
// the last push. The flush runs every ViewsEvery (every), give or take its
// own jitter: half of it as slack keeps a small room at once per flush.
func (lv *liveViews) due(last map[string]time.Time, lot string, now time.Time, every time.Duration, members int) bool {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	at, ok := last[lot]
	return !ok || now.Sub(at) >= boardEvery(every, members)-every/2
}

func (lv *liveViews) pushed(last map[string]time.Time, lot string, now time.Time) {
	lv.mu.Lock()
	last[lot] = now
	lv.mu.Unlock()
}

// forgetSent drops a lot's last pushed frames, and those on their way,
// when nobody here is in its room.
func (lv *liveViews) forgetSent(lot string) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	delete(lv.boardPushed, lot)
	delete(lv.reactsPushed, lot)
	delete(lv.rollouts, lot)
	delete(lv.rollouts, reactionsKey(lot))
	for _, w := range []firehose.Window{firehose.WindowRecent, firehose.WindowAll} {
		delete(lv.sent, lot+"|"+string(w))
	}
}

// viewsError reports a failed read of the views: the firehose's, not the
// request's, fault.
func (h *Hub) viewsError(err error) *protocol.Error {
	if errors.Is(err, errFirehoseDown) || h.firehoseDown() {
		return socialUnavailable("the social views")
	}
	h.log.Warn().Err(err).Msg("views: read")
	return protocol.Errorf(protocol.ErrBusy, "the social views could not be read; try again")
}

// leaderboard reads a lot's ("" for every lot) leaderboard, as read at most
// maxAge ago, in its wire shape.
func (h *Hub) leaderboard(ctx context.Context, lot string, w firehose.Window, maxAge time.Duration) (protocol.Leaderboard, error) {
	if h.firehoseDown() {
		return protocol.Leaderboard{}, errFirehoseDown
	}
	v, err := h.live.cache.get(ctx, "board|"+lot+"|"+string(w), maxAge, func(ctx context.Context) (any, error) {
		b, err := h.fh.Views().Leaderboard(ctx, lot, w)
		if err != nil {
			return nil, err
		}
		return leaderboardOf(b, lot, w, time.Now()), nil
	})
	if err != nil {
		return protocol.Leaderboard{}, err
	}
	return v.(protocol.Leaderboard), nil
}

// reactionTotals reads a lot's reaction totals as read at most maxAge ago.
func (h *Hub) reactionTotals(ctx context.Context, lot string, maxAge time.Duration) (map[string]int64, error) {
	if h.firehoseDown() {
		return nil, errFirehoseDown
	}
	v, err := h.live.cache.get(ctx, "react|"+lot, maxAge, func(ctx context.Context) (any, error) {
		return h.fh.Views().Reactions(ctx, lot)
	})
	if err != nil {
		return nil, err
	}
	return v.(map[string]int64), nil
}

// feed returns the newest feed events, newest first: the firehose's feed
// (read at most viewsFresh ago) with the events this node saw that it may
// not hold yet (they are recorded off the reply path), each once.
func (h *Hub) feed(ctx context.Context, limit int) ([]protocol.Event, error) {
	if h.firehoseDown() {
		return nil, errFirehoseDown
	}
	v, err := h.live.cache.get(ctx, "feed", viewsFresh, func(ctx context.Context) (any, error) {
		return h.fh.Views().Feed(ctx, maxFeedLimit)
	})
	if err != nil {
		return nil, err
	}
	stored := v.([]firehose.Message)
	h.live.mu.Lock()
	ms := append(append([]firehose.Message(nil), h.live.recent...), stored...)
	h.live.mu.Unlock()
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].At.After(ms[j].At) })
	out := make([]protocol.Event, 0, min(limit, len(ms)))
	seen := map[string]bool{}
	for _, m := range ms {
		if len(out) == limit {
			break
		}
		k := feedKey(m)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, feedEvent(m))
	}
	return out, nil
}

func feedKey(m firehose.Message) string { return m.Lot + "#" + strconv.FormatInt(m.Seq, 10) }

// feedEvent is a feed event in the wire's event shape.
func feedEvent(m firehose.Message) protocol.Event {
	return protocol.Event{Type: "event", Lot: m.Lot, Seq: m.Seq, Kind: m.Event, At: protocol.Time(m.At),
		Region: regionOrSystem(m.Region), Data: m.Data}
}

// leaderboardOf ranks a merged board for the wire.
func leaderboardOf(b firehose.Board, lot string, w firehose.Window, now time.Time) protocol.Leaderboard {
	out := protocol.Leaderboard{Lot: lot, Window: string(w), Regions: []protocol.RegionLine{}}
	if w == firehose.WindowRecent {
		out.From = protocol.Time(now.UTC().Truncate(firehose.BucketSize).Add(-(firehose.RecentBuckets - 1) * firehose.BucketSize))
	}
	bidder := func(us []firehose.BoardUser) []protocol.BoardLine {
		lines := make([]protocol.BoardLine, 0, len(us))
		for _, u := range us {
			lines = append(lines, protocol.BoardLine{User: u.User, Count: u.Bids, Amount: u.Best})
		}
		return lines
	}
	buyer := func(us []firehose.BoardUser) []protocol.BoardLine {
		lines := make([]protocol.BoardLine, 0, len(us))
		for _, u := range us {
			lines = append(lines, protocol.BoardLine{User: u.User, Count: u.Units, Amount: u.Spent})
		}
		return lines
	}
	out.Bidders = protocol.Ranks{ByAmount: bidder(b.TopBidders(boardTop, false)), ByCount: bidder(b.TopBidders(boardTop, true))}
	out.Buyers = protocol.Ranks{ByAmount: buyer(b.TopBuyers(boardTop, false)), ByCount: buyer(b.TopBuyers(boardTop, true))}
	for _, r := range b.TopRegions(boardTop) {
		out.Regions = append(out.Regions, protocol.RegionLine{Region: r.Region, Count: r.Actions, Amount: r.Spent})
	}
	return out
}

// recorded reports whether this node recorded the event already.
func (lv *liveViews) recorded(m firehose.Message) bool {
	key, ok := eventKeyOf(m)
	return ok && lv.done.has(key)
}

func eventKeyOf(m firehose.Message) (ledger.EventKey, bool) {
	lot, err := uuid.Parse(m.Lot)
	return ledger.EventKey{Lot: lot, Seq: m.Seq}, err == nil
}

// validLot reports whether s is a lot id (for the views' HTTP parameters).
func validLot(s string) bool {
	id, err := uuid.Parse(s)
	return err == nil && id.String() == s
}
