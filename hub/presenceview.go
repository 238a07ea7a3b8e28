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
// however many ask, and the watcher counts pages and the lobby show, kept
// from those reads, from the presence events every node publishes and
// from this node's own joins and leaves — the lobby never reads the
// firehose. A caller waits for a read only as long as its context allows;
// then, and at once while the firehose is degraded, it gets what the node
// last knew, marked not current.
type presenceView struct {
	fh   firehose.Presence
	node string
	down func() bool // the firehose is degraded: answer from memory

	mu   sync.Mutex
	lots map[string]*presenceRead // the newest read, done or under way
	last map[string]*presenceRead // the newest read that succeeded
	// counts are the watchers per lot; lots nobody watches are dropped.
	counts map[string]*watchers
}

// presenceRead is one read of a lot's presence; never changed once made.
type presenceRead struct {
	users  []firehose.Present  // one per user, sorted by user
	list   []protocol.Presence // the first maxPresenceList users, as join replies show them
	here   map[string]bool     // users present
	remote map[string]bool     // users with a session on another node
	failed bool                // the read failed: the fields are the last good read's
	at     time.Time
	done   chan struct{} // closed when the read ends
}

func newPresenceView(p firehose.Presence, node string, down func() bool) *presenceView {
	return &presenceView{fh: p, node: node, down: down, lots: map[string]*presenceRead{}, last: map[string]*presenceRead{},
		counts: map[string]*watchers{}}
}

// read returns the lot's presence as read at most maxAge ago, reading it
// once for all who ask meanwhile, and whether it is current: false when
// the firehose is degraded, the read failed, or ctx ended before it did —
// then the answer is the last good read with the newest count this node
// knows (from presence events), or nobody.
func (v *presenceView) read(ctx context.Context, lot string, maxAge time.Duration) (*presenceRead, bool) {
	v.mu.Lock()
	if v.down() {
		defer v.mu.Unlock()
		return v.knownLocked(lot), false
	}
	cur := v.lots[lot]
	if cur != nil {
		select {
		case <-cur.done:
			if maxAge > 0 && time.Since(cur.at) <= maxAge {
				v.mu.Unlock()
				return cur, !cur.failed
			}
			cur = nil
		default: // a read is under way: share it
		}
	}
	if cur == nil {
		cur = v.startLocked(lot)
	}
	v.mu.Unlock()
	select {
	case <-cur.done:
		return cur, !cur.failed
	case <-ctx.Done():
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.knownLocked(lot), false
	}
}

// startLocked starts a read of the lot's presence. The caller holds v.mu.
func (v *presenceView) startLocked(lot string) *presenceRead {
	cur := &presenceRead{at: time.Now(), done: make(chan struct{})}
	v.lots[lot] = cur
	go v.fill(lot, cur)
	return cur
}

// cached is read for a caller that must not wait (count then has the
// lot's watchers): whether the node's last read of the lot's presence is
// current, starting a new read when the last is older than maxAge. ok is
// false only when the node never read the lot's presence: then only read
// can answer (a page about a lot the node has never shown).
func (v *presenceView) cached(lot string, maxAge time.Duration) (current, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.down() {
		_, ok = v.last[lot]
		return false, ok
	}
	if v.last[lot] == nil {
		return false, false
	}
	cur := v.lots[lot]
	fresh := false
	if cur != nil {
		select {
		case <-cur.done:
			fresh = time.Since(cur.at) <= maxAge
		default: // a read is under way
			fresh = true
		}
	}
	if !fresh {
		cur = v.startLocked(lot)
	}
	// The last good read is current unless the newest finished read failed.
	failed := false
	if cur != nil {
		select {
		case <-cur.done:
			failed = cur.failed
		default:
		}
	}
	return !failed, true
}

// fill reads the lot's presence into next, on a context of its own: a
// caller that stops waiting does not cut it short for the others.
func (v *presenceView) fill(lot string, next *presenceRead) {
	ctx, cancel := context.WithTimeout(context.Background(), socialCallLimit)
	ps, err := v.fh.List(ctx, lot)
	cancel()
	if err != nil {
		v.mu.Lock()
		known := v.knownLocked(lot)
		v.mu.Unlock()
		next.users, next.list, next.here, next.remote = known.users, known.list, known.here, known.remote
		next.failed = true
		close(next.done)
		return
	}
	next.users = firehose.Users(ps)
	next.list = presenceList(next.users) // built once for every join it serves
	next.here, next.remote = map[string]bool{}, map[string]bool{}
	for _, p := range ps {
		next.here[p.User] = true
		if p.Node != v.node {
			next.remote[p.User] = true
		}
	}
	v.mu.Lock()
	v.countLocked(lot).read(next.at, next.here)
	v.dropIfNobodyLocked(lot)
	if v.lots[lot] == next {
		v.last[lot] = next
	}
	v.mu.Unlock()
	close(next.done)
}

// knownLocked is what the node knows of the lot's presence without a read:
// the last good read (count has the newest watchers). The caller holds v.mu.
func (v *presenceView) knownLocked(lot string) *presenceRead {
	k := &presenceRead{list: []protocol.Presence{}, here: map[string]bool{}, remote: map[string]bool{}, done: closedChan}
	if last := v.last[lot]; last != nil {
		k.users, k.list, k.here, k.remote, k.at = last.users, last.list, last.here, last.remote, last.at
	}
	return k
}

// closedChan is the done of reads that were never under way.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// published takes a lot's watchers from a presence event: a count its
// node read at asOf.
func (v *presenceView) published(lot string, n int, asOf time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.countLocked(lot).published(n, asOf)
	v.dropIfNobodyLocked(lot)
}

// arrived counts a user who joined the lot's room here, their presence
// written at at, and returns the lot's watchers with them. inRead says
// the read the join was served from has the user already.
func (v *presenceView) arrived(lot, user string, at time.Time, inRead bool) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.countLocked(lot)
	c.note(localChange{arrived: true, inRead: inRead, at: at}, user)
	return c.total()
}

// departed uncounts a user who left the lot's room here and is in it on
// no other node, their presence removed at at. A lot the node keeps no
// count of has none to lower: a read after the departure dropped it.
func (v *presenceView) departed(lot, user string, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if c := v.counts[lot]; c != nil {
		c.note(localChange{at: at}, user)
		v.dropIfNobodyLocked(lot)
	}
}

// countAsOf is a lot's watchers and when the read they start from began.
func (v *presenceView) countAsOf(lot string) (int, time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok := v.counts[lot]; ok {
		return c.total(), c.at
	}
	return 0, time.Time{}
}

// count is a lot's watchers as last known here (0 when unknown).
func (v *presenceView) count(lot string) int {
	n, _ := v.countAsOf(lot)
	return n
}

// countLocked is the lot's count, made when missing. The caller holds v.mu.
func (v *presenceView) countLocked(lot string) *watchers {
	c := v.counts[lot]
	if c == nil {
		c = &watchers{}
		v.counts[lot] = c
	}
	return c
}

// dropIfNobodyLocked forgets the count of a lot nobody watches. The
// caller holds v.mu.
func (v *presenceView) dropIfNobodyLocked(lot string) {
	if c := v.counts[lot]; c != nil && c.empty() {
		delete(v.counts, lot)
	}
}

// forget drops a lot's cached read when nobody here is in its room, and
// folds this node's arrivals and departures into its count.
func (v *presenceView) forget(lot string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if c := v.counts[lot]; c != nil {
		c.settle()
		v.dropIfNobodyLocked(lot)
	}
	if cur := v.lots[lot]; cur != nil {
		select {
		case <-cur.done:
			delete(v.lots, lot)
			delete(v.last, lot)
		default:
		}
	}
}
