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
// A room's leaderboards and reaction totals are views, kept beside the
// social frames: each frame is the whole of its view, so a newer one
// replaces the one still waiting, and chat and presence give way before
// any view. Dropped oldest-first like chat, a far-behind session's last
// board was lost and it showed a stale one until the board changed again.
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
	social      [][]byte
	views       []viewFrame // at most one per view, oldest first
	moneyBytes  int
	socialBytes int
	viewBytes   int // with socialBytes, at most half the bound
	limit       int
	closed      bool
	writing     bool
	// handed is the money the last next returned: the writer is done with
	// it by its next call, and its array takes the next pushes, so a
	// crowd's events allocate no slice per session.
	handed [][]byte
}

// viewFrame is the newest frame of a view: a room's board in one window,
// or its reaction totals.
type viewFrame struct {
	view string
	b    []byte
}

// socialChunk is how many social frames the writer takes at once: after
// them it looks for money frames again.
const socialChunk = 4

// socialTurnBytes bounds a social turn past its first frame.
const socialTurnBytes = 16 << 10

func newQueue(limit int) *queue {
	return &queue{limit: limit}
}

// push appends a money frame, dropping queued social frames (oldest first,
// then views) to make room. ok is false, queueing nothing, when the queue is closed or
// the frame does not fit even without them: the caller then closes the
// session as too slow. start is true when the caller must start a writer
// (none is running). dropped counts the social frames discarded.
func (q *queue) push(frame []byte) (ok, start bool, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, false, 0
	}
	for q.moneyBytes+q.socialBytes+q.viewBytes+len(frame) > q.limit && len(q.social)+len(q.views) > 0 {
		q.dropOne()
		dropped++
	}
	if q.moneyBytes+len(frame) > q.limit {
		return false, false, dropped
	}
	q.money = append(q.money, frame)
	q.moneyBytes += len(frame)
	return true, q.startWriter(), dropped
}

// pushSocial appends a social frame. Social frames and views may fill
// half the bound, so money always has room; over it the oldest social
// frames are dropped, and a frame that cannot fit without pushing out a
// view is dropped itself (queued is false), the others kept. A social
// frame never closes the session.
func (q *queue) pushSocial(frame []byte) (queued, start bool, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, false, 0
	}
	if !q.fitsSocial(q.viewBytes + len(frame)) {
		return false, false, 1
	}
	for !q.fitsSocial(q.socialBytes + q.viewBytes + len(frame)) {
		q.dropOldestSocial()
		dropped++
	}
	q.social = append(q.social, frame)
	q.socialBytes += len(frame)
	return true, q.startWriter(), dropped
}

// pushView queues the newest frame of a view in place of the one still
// waiting, if any (not counted as dropped: nothing it showed is lost). To
// fit, social frames are dropped first, the oldest views only when none
// are left; a frame that cannot fit even alone is refused.
func (q *queue) pushView(view string, frame []byte) (queued, start bool, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, false, 0
	}
	if !q.fitsSocial(len(frame)) {
		return false, false, 1
	}
	if i := slices.IndexFunc(q.views, func(v viewFrame) bool { return v.view == view }); i >= 0 {
		q.viewBytes -= len(q.views[i].b)
		q.views = slices.Delete(q.views, i, i+1)
	}
	for !q.fitsSocial(q.socialBytes + q.viewBytes + len(frame)) {
		q.dropOne()
		dropped++
	}
	q.views = append(q.views, viewFrame{view, frame})
	q.viewBytes += len(frame)
	return true, q.startWriter(), dropped
}

// fitsSocial reports whether the social lane may hold n bytes of social
// frames and views. The caller holds q.mu.
func (q *queue) fitsSocial(n int) bool {
	return n <= q.limit/2 && q.moneyBytes+n <= q.limit
}

func (q *queue) dropOldestSocial() {
	q.socialBytes -= len(q.social[0])
	q.social[0] = nil
	q.social = q.social[1:]
}

// dropOne drops the oldest social frame, or the oldest view when none is
// left. The caller holds q.mu and has one to drop.
func (q *queue) dropOne() {
	if len(q.social) > 0 {
		q.dropOldestSocial()
		return
	}
	q.viewBytes -= len(q.views[0].b)
	q.views = slices.Delete(q.views, 0, 1) // a handful: rooms × windows
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
// frame, or else up to socialChunk views and social frames, views first
// (socialTurnBytes). When there are none (or
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
	case len(q.views) > 0 || len(q.social) > 0:
		// The views first, then social frames: at most socialChunk frames
		// and, past the first, socialTurnBytes, so a money frame queued
		// meanwhile waits for one short turn, not for several 64 KiB
		// batches.
		out := make([][]byte, 0, min(socialChunk, len(q.views)+len(q.social)))
		size := 0
		take := func(b []byte) bool {
			if len(out) == socialChunk || (len(out) > 0 && size+len(b) > socialTurnBytes) {
				return false
			}
			out = append(out, b)
			size += len(b)
			return true
		}
		nv := 0
		for nv < len(q.views) && take(q.views[nv].b) {
			q.viewBytes -= len(q.views[nv].b)
			nv++
		}
		q.views = slices.Delete(q.views, 0, nv)
		ns := 0
		for ns < len(q.social) && take(q.social[ns]) {
			q.socialBytes -= len(q.social[ns])
			ns++
		}
		clear(q.social[:ns])
		q.social = q.social[ns:]
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
	n := len(q.money) + len(q.social) + len(q.views)
	q.closed, q.money, q.social, q.views = true, nil, nil, nil
	q.moneyBytes, q.socialBytes, q.viewBytes = 0, 0, 0
	return n
}
