package firehose

import (
	"context"
	"sync"
	"time"
)

// subscribers is the set of channels a node's firehose delivers to, shared
// by both implementations.
type subscribers struct {
	mu    sync.Mutex
	chans map[chan Message]struct{}
}

// add registers a subscriber until ctx ends. Its channel is then drained
// for a while, because a delivery in progress may still hold it.
func (s *subscribers) add(ctx context.Context) <-chan Message {
	ch := make(chan Message, 4096)
	s.mu.Lock()
	if s.chans == nil {
		s.chans = map[chan Message]struct{}{}
	}
	s.chans[ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		delete(s.chans, ch)
		s.mu.Unlock()
		for {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
				return
			}
		}
	}()
	return ch
}

// send hands m to every subscriber, waiting for those that are behind
// (backpressure, never loss) until ctx ends.
func (s *subscribers) send(ctx context.Context, m Message) {
	s.mu.Lock()
	chans := make([]chan Message, 0, len(s.chans))
	for ch := range s.chans {
		chans = append(chans, ch)
	}
	s.mu.Unlock()
	for _, ch := range chans {
		select {
		case ch <- m:
		case <-ctx.Done():
			return
		}
	}
}
