package hub

import (
	"context"
	"sync"
	"time"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/protocol"
)

// presenceFresh is how old a lot's presence a join may be shown: a crowd of
// thousands joining within a second costs one presence read, not thousands
// (each of which lists the whole crowd).
const presenceFresh = time.Second

// presenceView is the node's memory of who is in each lot's room, across
// nodes: presence read from the firehose at most once per lot and maxAge
// however many ask, and the watcher counts the lobby shows, kept from
// those reads and from the presence events every node publishes — the
// lobby never reads the firehose.
type presenceView struct {
	fh   firehose.Presence
	node string

	mu   sync.Mutex
	lots map[string]*presenceRead
	// counts are the watchers per lot, from the latest read or presence
	// event; lots nobody watches are dropped.
	counts map[string]int
}

// presenceRead is one read of a lot's presence; never changed once made.
type presenceRead struct {
	users  []firehose.Present  // one per user, sorted by user
	list   []protocol.Presence // the first maxPresenceList users, as join replies show them
	here   map[string]bool     // users present
	remote map[string]bool     // users with a session on another node
	at     time.Time
	done   chan struct{} // closed when the read ends
}

func newPresenceView(p firehose.Presence, node string) *presenceView {
	return &presenceView{fh: p, node: node, lots: map[string]*presenceRead{}, counts: map[string]int{}}
}

// read returns the lot's presence as read at most maxAge ago, reading it
// once for all who ask meanwhile. A failed read is an empty one.
func (v *presenceView) read(ctx context.Context, lot string, maxAge time.Duration) *presenceRead {
	v.mu.Lock()
	cur := v.lots[lot]
	if cur != nil {
		select {
		case <-cur.done:
			if maxAge > 0 && time.Since(cur.at) <= maxAge {
				v.mu.Unlock()
				return cur
			}
		default: // a read is under way: share it
			v.mu.Unlock()
			select {
			case <-cur.done:
				return cur
			case <-ctx.Done():
				// The read is still filling cur: answer with nothing known.
				return &presenceRead{list: []protocol.Presence{}, here: map[string]bool{}, remote: map[string]bool{}}
			}
		}
	}
	next := &presenceRead{at: time.Now(), done: make(chan struct{})}
	v.lots[lot] = next
	v.mu.Unlock()

	ps, _ := v.fh.List(ctx, lot)
	next.users = firehose.Users(ps)
	next.list = presenceList(next.users) // built once for every join it serves
	next.here, next.remote = map[string]bool{}, map[string]bool{}
	for _, p := range ps {
		next.here[p.User] = true
		if p.Node != v.node {
			next.remote[p.User] = true
		}
	}
	v.setCount(lot, len(next.users))
	close(next.done)
	return next
}

// setCount records a lot's watchers.
func (v *presenceView) setCount(lot string, n int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n <= 0 {
		delete(v.counts, lot)
		return
	}
	v.counts[lot] = n
}

// count is a lot's watchers as last known here (0 when unknown).
func (v *presenceView) count(lot string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.counts[lot]
}

// forget drops a lot's cached read when nobody here is in its room.
func (v *presenceView) forget(lot string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if cur := v.lots[lot]; cur != nil {
		select {
		case <-cur.done:
			delete(v.lots, lot)
		default:
		}
	}
}
