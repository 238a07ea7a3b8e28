package hub

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// socialBatch is a room's chat, reactions and presence on their way out.
// A quiet room sends each at once, as v1 did; once the room sent social
// frames within the last SocialBatchEvery, what follows waits for the
// interval to end and goes out as one batch frame, encoded once for the
// room — a storm of lines costs each session a frame per interval, not a
// frame per line. Sessions that did not ask for batches get the same
// events one frame each, at the same moment.
type socialBatch struct {
	events     [][]byte       // event frames waiting for the flush, in arrival order
	suppressed map[string]int // by kind, not shown since the last flush
	armed      bool           // a flush is scheduled
	last       time.Time      // when the room last sent social frames
	// overflow counts, by kind, what the dispatcher dropped while the room
	// was locked: it never waits for a room's lock (every lot's ledger
	// events queue behind it), so the next flush folds these in.
	overflow sync.Map // kind -> *atomic.Int64
}

// addOverflow counts a message the dispatcher dropped without the room's
// lock.
func (b *socialBatch) addOverflow(kind string) {
	c, _ := b.overflow.LoadOrStore(kind, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
}

// foldOverflow moves the dispatcher's counts into suppressed. The caller
// holds r.mu.
func (b *socialBatch) foldOverflow() {
	b.overflow.Range(func(k, v any) bool {
		if n := v.(*atomic.Int64).Swap(0); n > 0 {
			if b.suppressed == nil {
				b.suppressed = map[string]int{}
			}
			b.suppressed[k.(string)] += int(n)
		}
		return true
	})
}

// queueSocial sends or queues a social event frame to the room. The caller
// holds r.mu.
func (h *Hub) queueSocial(r *room, kind string, frame []byte) {
	if kind == protocol.EventReaction && !r.budgets.react.Allow() {
		h.suppressLocked(r, kind)
		return
	}
	b := &r.social
	now := time.Now()
	if !b.armed && now.Sub(b.last) >= h.opts.SocialBatchEvery {
		b.last = now
		var out broadcast
		for s := range r.members {
			out.sendSocial(s, frame)
		}
		out.start()
		return
	}
	b.events = append(b.events, frame)
	h.armFlush(r, now)
}

// suppress counts a chat line or reaction the room does not show; the
// next batch reports it.
func (h *Hub) suppress(r *room, kind string) {
	r.mu.Lock()
	h.suppressLocked(r, kind)
	r.mu.Unlock()
}

// suppressLocked is suppress for a caller holding r.mu.
func (h *Hub) suppressLocked(r *room, kind string) {
	h.metrics.suppressed.WithLabelValues(kind).Inc()
	if r.social.suppressed == nil {
		r.social.suppressed = map[string]int{}
	}
	r.social.suppressed[kind]++
	h.armFlush(r, time.Now())
}

// armFlush schedules the room's next flush, SocialBatchEvery after its
// last social frames. The caller holds r.mu.
func (h *Hub) armFlush(r *room, now time.Time) {
	if r.social.armed {
		return
	}
	r.social.armed = true
	time.AfterFunc(max(0, r.social.last.Add(h.opts.SocialBatchEvery).Sub(now)), func() { h.flushSocial(r) })
}

// flushSocial sends what the room queued since its last social frames:
// one batch frame to the sessions that asked for batches, the events one
// frame each to the others.
func (h *Hub) flushSocial(r *room) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &r.social
	b.foldOverflow()
	events, suppressed := b.events, b.suppressed
	b.events, b.suppressed, b.armed = nil, nil, false
	if r.dead || len(events)+len(suppressed) == 0 {
		return
	}
	b.last = time.Now()
	var batches [][]byte // encoded once, for the first session that asked for batches
	var out broadcast
	for s := range r.members {
		if !s.batch {
			for _, f := range events {
				out.sendSocial(s, f)
			}
			continue
		}
		if batches == nil {
			batches = h.batchFrames(r.id, events, suppressed)
		}
		for _, f := range batches {
			out.sendSocial(s, f)
		}
	}
	out.start()
}

// batchFrames encodes a flush as batch frames of at most a quarter of a
// session's queue (and 64 KiB) each, so one always fits the social share
// of a queue: a burst of long lines is several frames, not one that could
// never be queued. A single event goes out as its own frame.
func (h *Hub) batchFrames(lot string, events [][]byte, suppressed map[string]int) [][]byte {
	if len(events) == 1 && len(suppressed) == 0 {
		return events
	}
	limit := min(64<<10, h.opts.QueueBytes/4)
	var out [][]byte
	for start := 0; start < len(events) || len(out) == 0; {
		end, size := start, 0
		for end < len(events) && (end == start || size+len(events[end]) <= limit) {
			size += len(events[end]) + 1
			end++
		}
		var sup map[string]int
		if end == len(events) {
			sup = suppressed // the counts ride on the last frame
		}
		out = append(out, batchFrame(lot, events[start:end], sup))
		start = end
	}
	return out
}

// pendingSocial reports whether frame waits in the room's next flush (a
// joining session gets it there, not in the chat history). The caller
// holds r.mu.
func (r *room) pendingSocial(frame []byte) bool {
	for _, f := range r.social.events {
		if len(f) > 0 && len(frame) > 0 && &f[0] == &frame[0] {
			return true
		}
	}
	return false
}
