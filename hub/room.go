package hub

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
)

// room is one lot's sessions on this node. It delivers the lot's ledger
// events to its members in seq order, exactly once each, and keeps what a
// joining session needs in memory: the newest lot snapshot it read and the
// last events it delivered. Nothing under its lock waits on I/O: events
// past a gap wait in pending while the gap is read from the ledger outside
// the lock, and a stale snapshot is re-read outside it too.
type room struct {
	id  string
	lot uuid.UUID

	mu      sync.Mutex
	last    int64                  // last ledger seq delivered to the members
	history history                // the last events delivered, ending at last
	snap    *ledger.Lot            // the newest lot state read (its Seq may lag or lead last)
	members map[*session]int64     // session -> the seq it already has; later events go to it
	users   map[string]int         // sessions per user among the members
	pending map[int64]ledger.Event // events past a gap, waiting for it to be filled
	chat    chatHistory            // the last chat lines, for joining sessions
	social  socialBatch            // chat, reactions and presence waiting to go out (coalesce.go)
	budgets socialBudgets          // what the room shows of a storm
	dead    bool                   // removed from the hub; a joiner must fetch a new room

	filling   bool          // a gap fill is running
	loading   chan struct{} // closed when the first snapshot read ends (nil once loaded)
	loadErr   error         // the first snapshot read's error, for its waiters
	rereading *snapshotRead // a fresher snapshot being read, shared by the joins that wait for it
}

// roomFor returns the lot's room, creating it.
func (h *Hub) roomFor(id string, lot uuid.UUID) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[id]
	if r == nil {
		r = &room{id: id, lot: lot, members: map[*session]int64{}, users: map[string]int{}, pending: map[int64]ledger.Event{},
			history: newHistory(h.opts.RoomHistory), budgets: newSocialBudgets(h.opts)}
		h.rooms[id] = r
		h.metrics.rooms.Inc()
	}
	return r
}

// existingRoom returns the lot's room, or nil when nobody here joined it.
func (h *Hub) existingRoom(id string) *room {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.rooms[id]
}

// dropIfEmpty removes an empty room. The caller holds r.mu.
func (h *Hub) dropIfEmpty(r *room) {
	if len(r.members) > 0 || r.dead || r.loading != nil {
		return
	}
	r.dead = true
	h.presence.forget(r.id)
	h.mu.Lock()
	if h.rooms[r.id] == r {
		delete(h.rooms, r.id)
		h.metrics.rooms.Dec()
	}
	h.mu.Unlock()
	// Its last boards would otherwise stay for as long as the node runs,
	// one set per lot that ever had a room here.
	h.live.forgetSent(r.id)
}

// offer hands a ledger event to the room: delivered at once when it is the
// next seq, dropped when already delivered, held in pending past a gap (and
// the gap filled from the ledger in the background).
func (h *Hub) offer(r *room, ev ledger.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead || ev.Seq <= r.last {
		return
	}
	r.pending[ev.Seq] = ev
	if r.snap == nil {
		return // the first snapshot sets where delivery starts (see loadSnapshot)
	}
	h.drainPending(r)
	if len(r.pending) > 0 && !r.filling {
		r.filling = true
		go h.fillGap(r)
	}
}

// drainPending delivers the pending events that follow last, in order.
// The caller holds r.mu.
func (h *Hub) drainPending(r *room) {
	for {
		ev, ok := r.pending[r.last+1]
		if !ok {
			break
		}
		delete(r.pending, ev.Seq)
		h.deliverLocked(r, ev)
	}
	for seq := range r.pending {
		if seq <= r.last {
			delete(r.pending, seq)
		}
	}
}

// deliverLocked sends the next event to every member that does not have it
// yet and remembers it. The caller holds r.mu.
func (h *Hub) deliverLocked(r *room, ev ledger.Event) {
	frame := eventFrame(ev)
	b := make(broadcast, 0, len(r.members)) // usually every member's writer is idle
	for s, has := range r.members {
		if ev.Seq > has {
			b.send(s, frame)
		}
	}
	b.start()
	r.history.push(ev.Seq, frame)
	r.last = ev.Seq
	h.metrics.fanout.Observe(time.Since(ev.At).Seconds())
}

// fillGap reads the events missing before the room's pending ones from the
// ledger, outside the lock, and delivers them. Events from another node can
// overtake each other on the way here (and this node's own are delivered
// before the stream brings the others), so a gap is usual and short-lived.
// If the ledger cannot be read, the pending events go out after a few
// tries anyway: a client sees the gap in seq and rejoins with since.
func (h *Hub) fillGap(r *room) {
	backoff := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		r.mu.Lock()
		if r.dead || len(r.pending) == 0 || r.snap == nil {
			r.filling = false
			r.mu.Unlock()
			return
		}
		from, upTo := r.last, minSeq(r.pending)-1
		r.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		missing, err := h.ledger.EventsSince(ctx, r.lot, from, int(upTo-from))
		cancel()

		r.mu.Lock()
		if err == nil {
			for _, ev := range missing {
				if ev.Seq > r.last && ev.Seq <= upTo {
					r.pending[ev.Seq] = ev
				}
			}
		} else {
			h.log.Warn().Err(err).Str("lot", r.id).Msg("read events to fill a gap")
		}
		h.drainPending(r)
		if len(r.pending) > 0 && attempt >= 5 {
			h.log.Warn().Str("lot", r.id).Int64("from", r.last).Int64("to", minSeq(r.pending)).Msg("event gap not filled")
			r.last = minSeq(r.pending) - 1
			r.history.reset()
			h.drainPending(r)
		}
		if len(r.pending) == 0 {
			r.filling = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		time.Sleep(backoff)
		backoff = min(backoff*2, time.Second)
	}
}

func minSeq(m map[int64]ledger.Event) int64 {
	first := int64(-1)
	for seq := range m {
		if first < 0 || seq < first {
			first = seq
		}
	}
	return first
}

// memberList is a snapshot of the room's members, so a view frame (a
// leaderboard, reaction totals) goes to them outside the room's lock: a
// ledger event waiting for the room never waits behind a crowd's view
// frames. Views go in the social lane: derived from the firehose, pushed
// at most once a second and whole each time, they go behind money and give
// way under pressure — a session that far behind (half its queue bound in
// social frames) shows an old board until the next change or its next join.
func (r *room) memberList() []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	members := make([]*session, 0, len(r.members))
	for s := range r.members {
		members = append(members, s)
	}
	return members
}

// stillMembers is those of ss still in the room.
func (r *room) stillMembers(ss []*session) []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*session, 0, len(ss))
	for _, s := range ss {
		if _, ok := r.members[s]; ok {
			out = append(out, s)
		}
	}
	return out
}

func (r *room) memberCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members)
}
