package hub

import (
	"sync"
)

// queue is a session's outbound queue, bounded in bytes. Frames are shared
// byte slices: a broadcast encodes an event once and every session's queue
// holds the same bytes.
type queue struct {
	mu     sync.Mutex
	frames [][]byte
	bytes  int
	limit  int
	closed bool
	wake   chan struct{}
}

func newQueue(limit int) *queue {
	return &queue{limit: limit, wake: make(chan struct{}, 1)}
}

// push appends a frame. It reports false, queueing nothing, when the queue
// is closed or the frame would take it over its bound: the caller then
// closes the session as too slow.
func (q *queue) push(frame []byte) bool {
	q.mu.Lock()
	if q.closed || q.bytes+len(frame) > q.limit {
		q.mu.Unlock()
		return false
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// take removes and returns every queued frame.
func (q *queue) take() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
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
