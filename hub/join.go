package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// join adds the session to the lot's room and answers with the room's
// snapshot and the events after it (after since, when given). The room
// keeps its snapshot and its last events in memory, so a crowd joining
// costs a snapshot read per change of the lot, shared by everyone joining
// meanwhile, not a read per join; and since is served from memory unless
// it is older than the room's history. Every read is outside the room's
// lock. Under the lock the reply, the catch
// up and the membership go out together, so no event is lost or doubled
// between them and live delivery.
func (s *session) join(ctx context.Context, req protocol.Request, lot uuid.UUID) (any, *protocol.Error) {
	h, id := s.h, req.Lot
	// Joins in flight count against the cap too, so concurrent joins
	// cannot pass it together.
	s.mu.Lock()
	_, rejoin := s.rooms[id]
	if !rejoin && len(s.rooms)+s.joining >= h.opts.MaxRoomsPerSession {
		s.mu.Unlock()
		h.metrics.limited.WithLabelValues("rooms").Inc()
		return nil, protocol.Errorf(protocol.ErrLimitExceeded, fmt.Sprintf("a session may be in at most %d lots at once; leave one first", h.opts.MaxRoomsPerSession))
	}
	s.joining++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.joining--
		s.mu.Unlock()
	}()
	r, err := h.roomSnapshot(ctx, id, lot)
	if err != nil {
		return nil, h.protocolError(err) // unknown lot: no presence, no room
	}
	// The social store gets socialWait in all: presence, chat history and
	// reaction totals that are not there by then (or at all, while it is
	// degraded) are what the node knows, and the join goes on.
	sctx, cancel := context.WithTimeout(ctx, socialWait)
	present := h.presenceJoin(sctx, s, id)
	h.seedChat(sctx, r)
	reactions, rerr := h.reactionTotals(sctx, id, viewsFresh)
	cancel()
	if rerr != nil {
		if sctx.Err() == nil && !errors.Is(rerr, errFirehoseDown) {
			h.log.Warn().Err(rerr).Str("lot", id).Msg("views: read reaction totals for a join")
		}
		reactions = map[string]int64{}
	}
	var fetched []ledger.Event
	fresh := false // a snapshot was read for this join
	if err := h.freshSnapshot(ctx, r, false); err != nil {
		return nil, h.protocolError(err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		r.mu.Lock()
		if r.dead {
			r.mu.Unlock()
			if r, err = h.roomSnapshot(ctx, id, lot); err != nil {
				return nil, h.protocolError(err)
			}
			sctx, cancel := context.WithTimeout(ctx, socialWait)
			h.seedChat(sctx, r)
			cancel()
			continue
		}
		plan := r.planJoin(req.Since, h.opts.MaxReplay, fetched, fresh)
		switch {
		case plan.refresh:
			r.mu.Unlock()
			if err := h.freshSnapshot(ctx, r, true); err != nil {
				return nil, h.protocolError(err)
			}
			fresh = true
			continue
		case plan.fetchAfter >= 0:
			r.mu.Unlock()
			fetched, err = h.ledger.EventsSince(ctx, lot, plan.fetchAfter, int(plan.fetchUpTo-plan.fetchAfter))
			if err != nil {
				return nil, h.protocolError(err)
			}
			continue
		}
		lotNow := snapshot(r.snap, present.watchers)
		lotNow.WatchersStale = present.stale
		res := protocol.JoinResult{
			Lot: lotNow, Seq: r.snap.Seq, Resync: plan.resync,
			Replayed: len(plan.replay), Presence: present.list, Reactions: reactions,
		}
		reply, rerr := okReply(req.ID, res)
		if rerr != nil {
			r.mu.Unlock()
			return nil, protocol.Errorf(protocol.ErrInternal, "encode join result")
		}
		// The session is a member before its reply goes out: a chat or
		// react it sends on reading the reply finds it joined. Nothing
		// reaches it in between — live delivery needs r.mu, held here.
		if _, again := r.members[s]; !again {
			if r.users[s.ident.User] == 0 && !present.elsewhere {
				h.presenceChanges.note(id, s.ident.User, s.region, true)
			}
			r.users[s.ident.User]++
		}
		r.members[s] = max(plan.base, r.last)
		s.mu.Lock()
		s.rooms[id] = r
		s.mu.Unlock()
		// The reply goes out first so the client reads the snapshot before
		// the events after it; handle must not reply again.
		s.reply(reply)
		for _, frame := range plan.replay {
			s.send(frame)
		}
		// Then the room's chat history: live lines follow from here on,
		// through the same lock, so none is missed between the two.
		// Lines still waiting in the room's next flush reach it there.
		for _, frame := range r.chat.frames {
			if !r.pendingSocial(frame) {
				s.sendSocial(frame)
			}
		}
		r.mu.Unlock()
		return alreadyReplied{}, nil
	}
	return nil, protocol.Errorf(protocol.ErrBusy, "the lot moved too fast to catch up; join again")
}

// joinPlan is what a join needs, decided under the room's lock without I/O:
// either the frames to send after the snapshot, or a read to do first.
type joinPlan struct {
	base       int64    // the seq the session has once caught up to the snapshot or since
	replay     [][]byte // frames of the events after base, up to the room's last
	resync     bool     // since was too far behind: the snapshot replaces the client's state
	refresh    bool     // read a fresher snapshot first
	fetchAfter int64    // >= 0: read the events after it (up to fetchUpTo) first
	fetchUpTo  int64
}

// planJoin decides a join from the room's state. The caller holds r.mu.
// fetched are events read earlier for this join (since older than the
// history), oldest first; fresh says the snapshot was read for this join.
func (r *room) planJoin(since *int64, maxReplay int, fetched []ledger.Event, fresh bool) joinPlan {
	p := joinPlan{base: r.snap.Seq, fetchAfter: -1}
	if since != nil {
		switch {
		case *since > r.snap.Seq && !fresh:
			// The client is ahead of the snapshot (it came from a node the
			// stream has not caught up with here): a fresher one first, or
			// it would be shown an older lot than it knows.
			p.refresh = true
			return p
		case *since > r.snap.Seq:
			p.resync = true // ahead of the ledger itself: start over
		case r.snap.Seq-*since > int64(maxReplay):
			p.resync = true
		default:
			p.base = *since
		}
	}
	if p.base >= r.last {
		return p // nothing delivered here after base; live events follow
	}
	if r.history.covers(p.base, r.last) {
		p.replay = r.history.since(p.base)
		return p
	}
	if p.base == r.snap.Seq {
		p.refresh = true // the snapshot is older than the history reaches
		return p
	}
	// since is older than the history: the events read for it, then the
	// history from where they end.
	upTo := p.base
	var frames [][]byte
	for _, ev := range fetched {
		if ev.Seq != upTo+1 {
			break
		}
		frames = append(frames, eventFrame(ev))
		upTo = ev.Seq
	}
	if upTo >= r.last {
		p.replay = frames[:len(frames)-int(upTo-r.last)]
		return p
	}
	if len(frames) > 0 && r.history.covers(upTo, r.last) {
		p.replay = append(frames, r.history.since(upTo)...)
		return p
	}
	p.fetchAfter, p.fetchUpTo = p.base, r.last
	return p
}

// roomSnapshot returns the lot's live room with a snapshot, reading the lot
// from the ledger when the room has none yet: one read for however many
// joiners arrive meanwhile. An unknown lot leaves no room behind.
func (h *Hub) roomSnapshot(ctx context.Context, id string, lot uuid.UUID) (*room, error) {
	for {
		r := h.roomFor(id, lot)
		r.mu.Lock()
		if r.dead {
			r.mu.Unlock()
			continue
		}
		if r.snap != nil {
			r.mu.Unlock()
			return r, nil
		}
		if r.loading == nil {
			r.loading = make(chan struct{})
			go h.loadSnapshot(r, r.loading)
		}
		loading := r.loading
		r.mu.Unlock()
		select {
		case <-loading:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		r.mu.Lock()
		snap, err := r.snap, r.loadErr
		r.mu.Unlock()
		if snap != nil {
			return r, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// loadSnapshot reads a new room's first snapshot. Delivery starts after it:
// events that arrived meanwhile wait in pending and go out now (those the
// snapshot already holds are dropped).
func (h *Hub) loadSnapshot(r *room, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	l, err := h.ledger.Lot(ctx, r.lot)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loading = nil
	close(done)
	if err != nil {
		r.loadErr = err
		h.dropIfEmpty(r)
		return
	}
	r.snap = l
	r.last = max(r.last, l.Seq)
	h.drainPending(r)
	if len(r.pending) > 0 && !r.filling {
		r.filling = true
		go h.fillGap(r)
	}
}

// freshSnapshot brings the room's snapshot up to the events it delivered
// (or, with force, to the ledger's newest), reading the lot once for every
// join that asks meanwhile. The lock is not held while it reads.
func (h *Hub) freshSnapshot(ctx context.Context, r *room, force bool) error {
	r.mu.Lock()
	if !force && r.snap.Seq >= r.last {
		r.mu.Unlock()
		return nil
	}
	read := r.rereading
	if read == nil {
		read = &snapshotRead{done: make(chan struct{})}
		r.rereading = read
		go func() {
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			l, err := h.ledger.Lot(rctx, r.lot)
			cancel()
			r.mu.Lock()
			if err == nil && l.Seq > r.snap.Seq {
				r.snap = l
			}
			read.err = err
			r.rereading = nil
			r.mu.Unlock()
			close(read.done)
		}()
	}
	r.mu.Unlock()
	select {
	case <-read.done:
		return read.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// snapshotRead is one snapshot read in flight, shared by its waiters.
type snapshotRead struct {
	done chan struct{}
	err  error
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
	_, member := r.members[s]
	delete(r.members, s)
	if member {
		r.users[s.ident.User]--
		if r.users[s.ident.User] <= 0 {
			delete(r.users, s.ident.User)
		}
	}
	lastHere := r.users[s.ident.User] == 0
	s.h.dropIfEmpty(r)
	r.mu.Unlock()
	s.h.presenceLeave(ctx, s, lot, lastHere)
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
