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

// presenceJoin records the session in the lot's presence, notes the user
// as arrived if they were not already there, and returns who is present.
func (h *Hub) presenceJoin(ctx context.Context, s *session, lot string) []firehose.Present {
	p := h.fh.Presence()
	before, _ := p.List(ctx, lot)
	if err := p.Join(ctx, lot, firehose.Present{Session: s.id, User: s.ident.User, Region: s.region, Node: h.opts.Node}); err != nil {
		h.log.Warn().Err(err).Msg("presence join")
	}
	after, _ := p.List(ctx, lot)
	if !hasUser(before, s.ident.User) {
		h.presenceChanges.note(lot, s.ident.User, s.region, true)
	}
	return after
}

// presenceLeave removes the session and notes the user as gone when it was
// their last session in the lot.
func (h *Hub) presenceLeave(ctx context.Context, s *session, lot string) {
	p := h.fh.Presence()
	if err := p.Leave(ctx, lot, s.id); err != nil {
		h.log.Warn().Err(err).Msg("presence leave")
	}
	after, _ := p.List(ctx, lot)
	if !hasUser(after, s.ident.User) {
		h.presenceChanges.note(lot, s.ident.User, s.region, false)
	}
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
		now, _ := h.fh.Presence().List(ctx, lot)
		data, _ := json.Marshal(protocol.PresenceData{Joined: joined, Left: left, Count: len(firehose.Users(now))})
		err := h.fh.Publish(ctx, firehose.Message{
			Kind: firehose.KindPresence, ID: uuid.NewString(), Lot: lot, Event: protocol.EventPresence, At: time.Now(),
			Region: systemRegion, Data: data,
		})
		if err != nil {
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
	for _, s := range all {
		s.mu.Lock()
		lots := make([]string, 0, len(s.rooms))
		for id := range s.rooms {
			lots = append(lots, id)
		}
		s.mu.Unlock()
		for _, lot := range lots {
			_ = h.fh.Presence().Join(ctx, lot, firehose.Present{Session: s.id, User: s.ident.User, Region: s.region, Node: h.opts.Node})
		}
	}
}

func hasUser(ps []firehose.Present, user string) bool {
	for _, p := range ps {
		if p.User == user {
			return true
		}
	}
	return false
}

// maxPresenceList caps the users a join reply lists; the lot's watchers
// field has the full count. A hot lot's ten thousand names would make every
// join reply hundreds of kilobytes.
const maxPresenceList = 100

func presenceList(ps []firehose.Present) []protocol.Presence {
	out := []protocol.Presence{}
	for _, p := range firehose.Users(ps) {
		if len(out) == maxPresenceList {
			break
		}
		out = append(out, protocol.Presence{User: p.User, Region: p.Region})
	}
	return out
}

// watchers counts the users present in a lot's room, across nodes.
func (h *Hub) watchers(ctx context.Context, lot string) int {
	ps, err := h.fh.Presence().List(ctx, lot)
	if err != nil {
		return 0
	}
	return len(firehose.Users(ps))
}

// leave removes the session from the lot's room.
func (s *session) leave(ctx context.Context, lot string) {
	s.mu.Lock()
	r := s.rooms[lot]
	delete(s.rooms, lot)
	s.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	delete(r.members, s)
	s.h.dropIfEmpty(r)
	r.mu.Unlock()
	s.h.presenceLeave(ctx, s, lot)
}

// leaveAll leaves every room, when the session ends.
func (s *session) leaveAll(ctx context.Context) {
	s.mu.Lock()
	lots := make([]string, 0, len(s.rooms))
	for id := range s.rooms {
		lots = append(lots, id)
	}
	s.mu.Unlock()
	for _, lot := range lots {
		s.leave(ctx, lot)
	}
}

// social publishes a chat line or a reaction to the lot's room on every node.
func (s *session) social(ctx context.Context, req protocol.Request) (any, *protocol.Error) {
	s.mu.Lock()
	_, joined := s.rooms[req.Lot]
	s.mu.Unlock()
	if !joined {
		return nil, protocol.Errorf(protocol.ErrBadRequest, "join the lot before you "+req.Type)
	}
	m := firehose.Message{
		Kind: firehose.KindChat, ID: s.ident.User + ":" + req.ID, Lot: req.Lot, Event: protocol.EventChat, At: time.Now(),
		Region: s.region, Actor: s.ident.User,
	}
	if req.Type == "chat" {
		m.Data, _ = json.Marshal(protocol.ChatData{User: s.ident.User, Region: s.region, Text: req.Text})
	} else {
		m.Kind, m.Event = firehose.KindReaction, protocol.EventReaction
		m.Data, _ = json.Marshal(protocol.ReactionData{User: s.ident.User, Region: s.region, Emoji: req.Emoji})
		m.Tally = &firehose.Tally{User: s.ident.User, Emoji: req.Emoji}
	}
	err := s.h.fh.Publish(ctx, m)
	if err != nil {
		return nil, s.h.protocolError(err)
	}
	return struct{}{}, nil
}
