package hub

import (
	"slices"
	"sync"
)

// queue is a session's outbound queue, bounded in bytes, in two lanes:
// money (ledger events, replies, outbid, wallet frames, the lobby's feed
// and boards) and social (chat, reactions, presence, their batches, and a
// room's leaderboards and reaction totals). The writer takes money
// frames first, so a bid never waits behind chat; each lane keeps its own
// order. Under pressure social frames give way — the oldest dropped, never
// a money frame — and only a money frame that cannot fit closes the
// session (4009).
//
// A room's leaderboards and reaction totals are views: each frame is the
// whole of its view, so a newer one replaces the one still waiting, and
// the chat and presence around them are dropped before any view. Dropped
// oldest-first like chat, a far-behind session's last board was lost and
// it showed a stale one until the board changed again.
//
// Frames are shared byte slices: a broadcast encodes an event once and
// every session's queue holds the same bytes. No goroutine waits on an idle
// queue: the first push after it drained starts a writer (for a room's
// broadcast, a first write that never waits: writeFirst), which exits when
// the queue is empty again, so an idle connection costs one goroutine (its
// reader), not two.
type queue struct {
	mu          sync.Mutex
	money       [][]byte
	social      []laneFrame
	moneyBytes  int
	socialBytes int
	limit       int
	closed      bool
	writing     bool
	// handed is the money the last next returned: the writer is done with
	// it by its next call, and its array takes the next pushes, so a
	// crowd's events allocate no slice per session.
	handed [][]byte
}

// laneFrame is a frame of the social lane; view names the view it is
// the whole of (a room's board in one window, its reaction totals), ""
// for chat, presence and their batches.
type laneFrame struct {
	b    []byte
	view string
}

// socialChunk is how many social frames the writer takes at once: after
// them it looks for money frames again.
const socialChunk = 4

// socialTurnBytes bounds a social turn past its first frame.
const socialTurnBytes = 16 << 10

func newQueue(limit int) *queue {
	return &queue{limit: limit}
}

// push appends a money frame, dropping queued social frames (oldest first)
// to make room. ok is false, queueing nothing, when the queue is closed or
// the frame does not fit even without them: the caller then closes the
// session as too slow. start is true when the caller must start a writer
// (none is running). dropped counts the social frames discarded.
func (q *queue) push(frame []byte) (ok, start bool, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, false, 0
	}
	for q.moneyBytes+q.socialBytes+len(frame) > q.limit && len(q.social) > 0 {
		q.dropOldestSocial()
		dropped++
	}
	if q.moneyBytes+len(frame) > q.limit {
		return false, false, dropped
	}
	q.money = append(q.money, frame)
	q.moneyBytes += len(frame)
	return true, q.startWriter(), dropped
}

// pushSocial appends a social frame. Social frames may fill half the
// bound, so money always has room; over it the oldest social frames are
// dropped (views last), and a frame that cannot fit even alone is dropped
// itself (queued is false), the others kept. A social frame never closes
// the session.
func (q *queue) pushSocial(frame []byte) (queued, start bool, dropped int) {
	return q.pushSocialFrame(laneFrame{b: frame})
}

// pushView appends the newest frame of a view, in place of the one of the
// same view still waiting, if any: that one is not counted as dropped, as
// nothing it showed is lost.
func (q *queue) pushView(view string, frame []byte) (queued, start bool, dropped int) {
	return q.pushSocialFrame(laneFrame{b: frame, view: view})
}

func (q *queue) pushSocialFrame(f laneFrame) (queued, start bool, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, false, 0
	}
	if len(f.b) > q.limit/2 || q.moneyBytes+len(f.b) > q.limit {
		return false, false, 1 // it cannot fit even alone: what is queued stays
	}
	if f.view != "" {
		if i := slices.IndexFunc(q.social, func(g laneFrame) bool { return g.view == f.view }); i >= 0 {
			q.removeSocial(i) // appended below: the newest stays after what it was read after
		}
	}
	for q.socialBytes+len(f.b) > q.limit/2 || q.moneyBytes+q.socialBytes+len(f.b) > q.limit {
		q.dropOldestSocial()
		dropped++
	}
	q.social = append(q.social, f)
	q.socialBytes += len(f.b)
	return true, q.startWriter(), dropped
}

// dropOldestSocial drops the oldest chat or presence frame, or the oldest
// view when the lane holds nothing else.
func (q *queue) dropOldestSocial() {
	i := slices.IndexFunc(q.social, func(g laneFrame) bool { return g.view == "" })
	q.removeSocial(max(i, 0))
}

func (q *queue) removeSocial(i int) {
	q.socialBytes -= len(q.social[i].b)
	if i == 0 {
		q.social[0] = laneFrame{}
		q.social = q.social[1:]
		return
	}
	q.social = slices.Delete(q.social, i, i+1)
}

// startWriter reports whether a writer must be started. The caller holds
// q.mu.
func (q *queue) startWriter() bool {
	if q.writing {
		return false
	}
	q.writing = true
	return true
}

// next removes and returns what the writer sends next: every queued money
// frame, or else up to socialChunk social frames (socialTurnBytes). When there are none (or
// the queue is closed) it ends the writer's turn and returns nil. The
// caller is done with what the previous call returned: the writer's role
// is one goroutine's at a time, and it frames a turn before asking again.
func (q *queue) next() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	var spare [][]byte
	if q.handed != nil {
		clear(q.handed) // the frames' bytes are the broadcasts', not kept here
		spare, q.handed = q.handed[:0], nil
		if len(q.money) == 0 && !q.closed {
			q.money, spare = spare, nil
		}
	}
	switch {
	case q.closed:
	case len(q.money) > 0:
		out := q.money
		q.money, q.moneyBytes = spare, 0
		if cap(out) <= maxReused {
			q.handed = out
		}
		return out
	case len(q.social) > 0:
		// At most socialChunk frames and, past the first, socialTurnBytes:
		// a money frame queued meanwhile waits for one short turn, not
		// for several 64 KiB batches.
		n, size := 0, 0
		for n < len(q.social) && n < socialChunk && (n == 0 || size+len(q.social[n].b) <= socialTurnBytes) {
			size += len(q.social[n].b)
			n++
		}
		out := make([][]byte, n)
		for i := range out {
			out[i] = q.social[i].b
		}
		q.socialBytes -= size
		clear(q.social[:n])
		q.social = q.social[n:]
		if len(q.social) == 0 {
			q.social = nil
		}
		return out
	}
	q.writing = false
	return nil
}

// maxReused bounds the money slice a queue keeps for reuse: a backlog's
// long slice is left to the collector.
const maxReused = 16

// close stops the queue and returns how many frames it dropped.
func (q *queue) close() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.money) + len(q.social)
	q.closed, q.money, q.social, q.moneyBytes, q.socialBytes = true, nil, nil, 0, 0
	return n
}
