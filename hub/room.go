package hub

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
)

// room is one lot's sessions on this node. It delivers the lot's ledger
// events to its members in seq order, exactly once each: duplicates from the
// firehose are dropped by seq, and a gap (an event published out of order or
// lost) is filled from the ledger's outbox before anything later goes out.
type room struct {
	id  string
	lot uuid.UUID

	mu      sync.Mutex
	last    int64 // last ledger seq delivered to the members
	members map[*session]struct{}
	dead    bool // removed from the hub; a joiner must fetch a new room
}

// roomFor returns the lot's room, creating it.
func (h *Hub) roomFor(id string, lot uuid.UUID) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[id]
	if r == nil {
		r = &room{id: id, lot: lot, members: map[*session]struct{}{}}
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
	if len(r.members) > 0 || r.dead {
		return
	}
	r.dead = true
	h.mu.Lock()
	if h.rooms[r.id] == r {
		delete(h.rooms, r.id)
		h.metrics.rooms.Dec()
	}
	h.mu.Unlock()
}

// lockLive locks the lot's live room, creating one if needed.
func (h *Hub) lockLive(id string, lot uuid.UUID) *room {
	for {
		r := h.roomFor(id, lot)
		r.mu.Lock()
		if !r.dead {
			return r
		}
		r.mu.Unlock()
	}
}

// deliver sends ledger events to the members, in order, each once. The
// caller holds r.mu.
func (h *Hub) deliver(ctx context.Context, r *room, events []ledger.Event) {
	for _, ev := range events {
		if ev.Seq <= r.last {
			continue
		}
		if ev.Seq > r.last+1 && !h.fillGap(ctx, r, ev.Seq-1) {
			// The gap could not be read: deliver what we have rather than
			// stall; a client sees the gap in seq and rejoins with since.
			h.log.Warn().Str("lot", r.id).Int64("from", r.last).Int64("to", ev.Seq).Msg("event gap not filled")
		}
		h.broadcast(r, eventFrame(ev))
		h.metrics.fanout.Observe(time.Since(ev.At).Seconds())
		r.last = ev.Seq
	}
}

// fillGap delivers the events after r.last up to seq `upTo` from the ledger.
func (h *Hub) fillGap(ctx context.Context, r *room, upTo int64) bool {
	missing, err := h.ledger.EventsSince(ctx, r.lot, r.last, int(upTo-r.last))
	if err != nil {
		h.log.Error().Err(err).Str("lot", r.id).Msg("read events to fill a gap")
		return false
	}
	for _, ev := range missing {
		if ev.Seq != r.last+1 {
			return false
		}
		h.broadcast(r, eventFrame(ev))
		r.last = ev.Seq
	}
	return r.last == upTo
}

// broadcast queues one encoded frame to every member: the bytes are shared.
func (h *Hub) broadcast(r *room, frame []byte) {
	for s := range r.members {
		s.send(frame)
	}
}
