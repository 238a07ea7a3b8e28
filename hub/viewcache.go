package hub

import (
	"context"
	"sync"
	"time"
)

// viewReadTimeout bounds one read of the firehose's views.
const viewReadTimeout = 5 * time.Second

// viewCache shares reads of the firehose's views: a read younger than the
// caller's maxAge is answered from memory, and callers that ask while a
// read is under way wait for it — a crowd opening the lobby or joining a
// lot costs one read per key per maxAge, not one each.
type viewCache struct {
	mu    sync.Mutex
	reads map[string]*viewRead
}

type viewRead struct {
	at   time.Time
	val  any
	err  error
	done chan struct{}
}

func newViewCache() *viewCache { return &viewCache{reads: map[string]*viewRead{}} }

// get returns key's value as read at most maxAge ago, reading it with read
// when needed; maxAge 0 is a read that starts now (and serves later callers). The read runs on its own
// context: a caller that gives up does not cut it short for the others.
func (c *viewCache) get(ctx context.Context, key string, maxAge time.Duration, read func(context.Context) (any, error)) (any, error) {
	c.mu.Lock()
	cur := c.reads[key]
	if maxAge <= 0 {
		cur = nil // a fresh read, whatever is cached or under way
	}
	if cur != nil {
		select {
		case <-cur.done:
			if maxAge > 0 && time.Since(cur.at) <= maxAge && cur.err == nil {
				c.mu.Unlock()
				return cur.val, nil
			}
			cur = nil
		default: // under way: share it
		}
	}
	if cur == nil {
		cur = &viewRead{at: time.Now(), done: make(chan struct{})}
		c.reads[key] = cur
		if len(c.reads) > 4096 {
			c.pruneLocked()
		}
		go func() {
			rctx, cancel := context.WithTimeout(context.Background(), viewReadTimeout)
			cur.val, cur.err = read(rctx)
			cancel()
			close(cur.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-cur.done:
		return cur.val, cur.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pruneLocked forgets finished reads older than a minute. The caller holds c.mu.
func (c *viewCache) pruneLocked() {
	for k, r := range c.reads {
		select {
		case <-r.done:
			if time.Since(r.at) > time.Minute {
				delete(c.reads, k)
			}
		default:
		}
	}
}
