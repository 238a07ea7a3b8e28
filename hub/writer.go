package hub

import (
	"sync"
)

// queue is a session's outbound queue, bounded in bytes. Frames are shared
// byte slices: a broadcast encodes an event once and every session's queue
// holds the same bytes. No goroutine waits on an idle queue: the first push
// after it drained starts a writer, which exits when the queue is empty
// again, so an idle connection costs one goroutine (its reader), not two.
type queue struct {
	mu      sync.Mutex
	frames  [][]byte
	bytes   int
	limit   int
	closed  bool
	writing bool
}

func newQueue(limit int) *queue {
	return &queue{limit: limit}
}

// push appends a frame. ok is false, queueing nothing, when the queue is
// closed or the frame would take it over its bound: the caller then closes
// the session as too slow. start is true when the caller must start a
// writer (none is running).
func (q *queue) push(frame []byte) (ok, start bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.bytes+len(frame) > q.limit {
		return false, false
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
	if q.writing {
		return true, false
	}
	q.writing = true
	return true, true
}

// next removes and returns every queued frame; when there are none (or the
// queue is closed) it ends the writer's turn and returns nil.
func (q *queue) next() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || len(q.frames) == 0 {
		q.writing = false
		return nil
	}
	out := q.frames
	q.frames, q.bytes = nil, 0
	return out
}

// close stops the queue and returns how many frames it dropped.
func (q *queue) close() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.frames)
	q.closed, q.frames, q.bytes = true, nil, 0
	return n
}
