package hub

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/protocol"
)

func (h *Hub) presenceTTL() time.Duration { return h.opts.PresenceTTL }

// presentView is who a joining session is told is in the room.
type presentView struct {
	list      []protocol.Presence // at most maxPresenceList users
	watchers  int                 // users present, across nodes
	elsewhere bool                // the user has a session in the room on another node
	stale     bool                // what the node last knew: the store did not answer in time
}

// presenceJoin records the session in the lot's presence and returns who
// is there, from the node's presence view (at most a second old), with the
// joining user in it. Whether the user arrived is decided by join, which
// knows the room's own members. It waits for the store only until ctx
// ends, and not at all while the firehose is degraded: the entry is then
// written by the next heartbeat after the store is back.
func (h *Hub) presenceJoin(ctx context.Context, s *session, lot string) presentView {
	me := firehose.Present{Session: s.id, User: s.ident.User, Region: s.region, Node: h.opts.Node}
	if !h.firehoseDown() {
		err := waitBounded(ctx, func(c context.Context) error { return h.fh.Presence().Join(c, lot, me) })
		if err != nil && ctx.Err() == nil && !h.firehoseDown() {
			h.log.Warn().Err(err).Msg("presence join")
		}
	}
	written := time.Now()
	pr, current := h.presence.read(ctx, lot, presenceFresh)
	// Counted at once, here and on this node's pages: a crowd's joins
	// share one read, and each must count.
	watchers := h.presence.arrived(lot, me.User, written, pr.here[me.User])
	view := presentView{list: pr.list, watchers: watchers, elsewhere: pr.remote[me.User], stale: !current}
	if !pr.here[me.User] { // the read predates this join
		if len(view.list) < maxPresenceList {
			// pr.list is shared by every join: append to a copy.
			view.list = append(view.list[:len(view.list):len(view.list)], protocol.Presence{User: me.User, Region: me.Region})
		}
	}
	return view
}

// presenceLeave removes the session and notes the user as gone when it was
// their last session in the lot: here (lastHere) and, as far as the
// presence view knows, on other nodes. Like presenceJoin it waits for the
// store at most socialWait, and not at all while it is degraded (the entry
// then expires by its TTL).
func (h *Hub) presenceLeave(ctx context.Context, s *session, lot string, lastHere bool) {
	ctx, cancel := context.WithTimeout(ctx, socialWait)
	defer cancel()
	if !h.firehoseDown() {
		err := waitBounded(ctx, func(c context.Context) error { return h.fh.Presence().Leave(c, lot, s.id) })
		if err != nil && ctx.Err() == nil && !h.firehoseDown() {
			h.log.Warn().Err(err).Msg("presence leave")
		}
	}
	if !lastHere {
		return
	}
	written := time.Now()
	if pr, _ := h.presence.read(ctx, lot, presenceFresh); pr.remote[s.ident.User] {
		return
	}
	h.presence.departed(lot, s.ident.User, written)
	h.presenceChanges.note(lot, s.ident.User, s.region, false)
}

// presenceChanges coalesces arrivals and departures per lot. Announcing
// each one at once costs a frame to every member per arrival — quadratic
// when thousands join a hot lot — so the hub publishes one presence event
// per lot and interval listing who joined and who left.
type presenceChanges struct {
	mu   sync.Mutex
	lots map[string]map[string]protocol.Presence // lot -> user -> last change
	in   map[string]map[string]bool              // lot -> user -> arrived (false: left)
}

func newPresenceChanges() *presenceChanges {
	return &presenceChanges{lots: map[string]map[string]protocol.Presence{}, in: map[string]map[string]bool{}}
}

func (pc *presenceChanges) note(lot, user, region string, arrived bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.lots[lot] == nil {
		pc.lots[lot], pc.in[lot] = map[string]protocol.Presence{}, map[string]bool{}
	}
	if prev, seen := pc.in[lot][user]; seen && prev != arrived {
		// Arrived and left (or the reverse) within one interval: no change.
		delete(pc.lots[lot], user)
		delete(pc.in[lot], user)
		return
	}
	pc.lots[lot][user] = protocol.Presence{User: user, Region: region}
	pc.in[lot][user] = arrived
}

// take returns and clears the pending changes.
func (pc *presenceChanges) take() (map[string]map[string]protocol.Presence, map[string]map[string]bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	lots, in := pc.lots, pc.in
	pc.lots, pc.in = map[string]map[string]protocol.Presence{}, map[string]map[string]bool{}
	return lots, in
}

// flushPresence publishes each lot's pending changes as one presence event:
// {"joined":[{user,region}],"left":[…],"count":n}.
func (h *Hub) flushPresence(ctx context.Context) {
	if h.firehoseDown() {
		return // the changes wait for the store (and coalesce meanwhile)
	}
	lots, in := h.presenceChanges.take()
	for lot, users := range lots {
		joined, left := []protocol.Presence{}, []protocol.Presence{}
		for u, p := range users {
			if in[lot][u] {
				joined = append(joined, p)
			} else {
				left = append(left, p)
			}
		}
		if len(joined)+len(left) == 0 {
			continue
		}
		sortPresence(joined)
		sortPresence(left)
		moreJoined, moreLeft := max(0, len(joined)-protocol.MaxPresenceChange), max(0, len(left)-protocol.MaxPresenceChange)
		joined, left = joined[:len(joined)-moreJoined], left[:len(left)-moreLeft]
		h.presence.read(ctx, lot, 0) // a fresh count, or the last one known when the store is slow
		count, asOf := h.presence.countAsOf(lot)
		data, _ := json.Marshal(protocol.PresenceData{Joined: joined, Left: left, Count: count,
			MoreJoined: moreJoined, MoreLeft: moreLeft})
		err := h.fh.Publish(ctx, firehose.Message{
			Kind: firehose.KindPresence, ID: uuid.NewString(), Lot: lot, Event: protocol.EventPresence, At: time.Now(),
			AsOf: asOf, Region: systemRegion, Data: data,
		})
		if err != nil && !h.firehoseDown() {
			h.log.Warn().Err(err).Msg("publish presence")
		}
	}
}

func sortPresence(ps []protocol.Presence) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].User < ps[j].User })
}

// heartbeat refreshes presence for every session's rooms, so entries of
// live sessions never expire and those of a dead node do.
func (h *Hub) heartbeat(ctx context.Context) {
	h.mu.RLock()
	all := make([]*session, 0, len(h.sessions))
	for s := range h.sessions {
		all = append(all, s)
	}
	h.mu.RUnlock()
	beats := h.beats[:0]
	defer func() {
		clear(beats) // their strings are the sessions'
		h.beats = beats[:0]
	}()
	for _, s := range all {
		s.mu.Lock()
		for id := range s.rooms {
			beats = append(beats, firehose.Heartbeat{Lot: id,
				Present: firehose.Present{Session: s.id, User: s.ident.User, Region: s.region, Node: h.opts.Node}})
		}
		s.mu.Unlock()
	}
	if hb, ok := h.fh.Presence().(firehose.Heartbeater); ok {
		if err := hb.JoinAll(ctx, beats); err != nil && ctx.Err() == nil && !h.firehoseDown() {
			h.log.Warn().Err(err).Int("sessions", len(beats)).Msg("presence heartbeats")
		}
		return
	}
	for _, b := range beats {
		_ = h.fh.Presence().Join(ctx, b.Lot, b.Present)
	}
}

// maxPresenceList caps the users a join reply lists; the lot's watchers
// field has the full count. A hot lot's ten thousand names would make every
// join reply hundreds of kilobytes.
const maxPresenceList = 100

func presenceList(users []firehose.Present) []protocol.Presence {
	out := make([]protocol.Presence, 0, min(len(users), maxPresenceList))
	for _, p := range users[:min(len(users), maxPresenceList)] {
		out = append(out, protocol.Presence{User: p.User, Region: p.Region})
	}
	return out
}
