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
	added chan struct{} // closed at the next add (waitFor)
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
	if s.added != nil {
		close(s.added)
		s.added = nil
	}
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

// any reports whether anyone subscribes now.
func (s *subscribers) any() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.chans) > 0
}

// waitFor returns once there is a subscriber (true) or ctx ends (false):
// the stream tailer reads nothing nobody would receive.
func (s *subscribers) waitFor(ctx context.Context) bool {
	for {
		s.mu.Lock()
		if len(s.chans) > 0 {
			s.mu.Unlock()
			return true
		}
		if s.added == nil {
			s.added = make(chan struct{})
		}
		added := s.added
		s.mu.Unlock()
		select {
		case <-added:
		case <-ctx.Done():
			return false
		}
	}
}
