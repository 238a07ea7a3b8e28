package hub

import (
	"runtime"
	"sync/atomic"
)

// broadcast is one frame, or a few, on their way to many sessions: it
// queues them and collects the sessions whose writer was idle, whose first
// write start makes (writeFirst) once every frame is queued.
type broadcast []*session

func (b *broadcast) send(s *session, frame []byte) {
	if s.enqueue(frame) {
		*b = append(*b, s)
	}
}

func (b *broadcast) sendSocial(s *session, frame []byte) {
	if s.enqueueSocial(frame) {
		*b = append(*b, s)
	}
}

// sendView queues the newest frame of a view (queue.pushView).
func (b *broadcast) sendView(s *session, view string, frame []byte) {
	if s.enqueueView(view, frame) {
		*b = append(*b, s)
	}
}

// start makes the first writes in the background: a caller holding a
// room's lock never waits on a socket.
func (b broadcast) start() {
	if len(b) > 0 {
		go writeFirst(b)
	}
}

// firstWriteChunk is how many sessions a writeFirst goroutine takes at a
// time.
const firstWriteChunk = 16

// writeFirst makes a room event's first write to each session whose writer
// was idle (session.writeNow), from at most GOMAXPROCS goroutines taking
// the sessions a chunk at a time: no socket makes it wait, so a slow peer
// delays nobody, and a descheduled goroutine holds up at most its chunk —
// the others take the rest.
func writeFirst(ss []*session) {
	var taken atomic.Int64
	work := func() {
		for {
			end := int(taken.Add(firstWriteChunk))
			start := end - firstWriteChunk
			if start >= len(ss) {
				return
			}
			for _, s := range ss[start:min(end, len(ss))] {
				s.writeNow()
			}
		}
	}
	chunks := (len(ss) + firstWriteChunk - 1) / firstWriteChunk
	for range min(runtime.GOMAXPROCS(0), chunks) - 1 {
		go work()
	}
	work()
}
