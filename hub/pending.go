package hub

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// pendingSlots counts connections that have not yet said hello, in total
// and per client IP. A connection over a cap waits for a slot instead of
// being refused at once: a crowd arriving together (or a benchmark from
// one address) passes in turn, while sockets that never say hello hold
// their slots until HelloTimeout and make newcomers from their address
// wait and then fail.
//
// A freed slot is handed to one waiter, first come first served within
// an address and in turn across addresses. Waking every waiter on every
// release, as it did before, had thousands of connections from one
// address retry for each slot while a crowd arrived.
type pendingSlots struct {
	mu     sync.Mutex
	total  int
	byIP   map[string]int
	queues map[string]*list.List // waiters by address, oldest first (*slotWaiter)
	// turns holds the addresses with waiters that their own cap lets
	// through, in the order they are served; an address's element is in
	// inTurn.
	turns  *list.List
	inTurn map[string]*list.Element
	max    int
	maxIP  int
	waited time.Duration
}

// slotWaiter is a connection waiting for a slot.
type slotWaiter struct {
	ip      string
	granted chan struct{} // closed when a slot is handed to it
	elem    *list.Element // its place in queues[ip] while it waits
}

func newPendingSlots(maxTotal, maxIP int, wait time.Duration) *pendingSlots {
	return &pendingSlots{byIP: map[string]int{}, queues: map[string]*list.List{}, turns: list.New(),
		inTurn: map[string]*list.Element{}, max: maxTotal, maxIP: maxIP, waited: wait}
}

// errPendingIP and errPendingTotal say which cap refused a connection.
var (
	errPendingIP    = errors.New("too many connections from this address have not said hello")
	errPendingTotal = errors.New("too many connections on this node have not said hello")
)

// acquire takes a slot for ip, waiting up to the configured wait for one.
// The returned release must be called once (after the hello, or when the
// connection ends without one); more calls do nothing.
func (p *pendingSlots) acquire(ctx context.Context, ip string) (release func(), err error) {
	p.mu.Lock()
	err = p.refusal(ip)
	if err == nil {
		p.take(ip)
		p.mu.Unlock()
		return p.releaser(ip), nil
	}
	w := &slotWaiter{ip: ip, granted: make(chan struct{})}
	q := p.queues[ip]
	if q == nil {
		q = list.New()
		p.queues[ip] = q
	}
	w.elem = q.PushBack(w)
	p.mayTakeTurns(ip)
	p.mu.Unlock()

	timer := time.NewTimer(p.waited)
	defer timer.Stop()
	select {
	case <-w.granted:
		return p.releaser(ip), nil
	case <-timer.C:
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.elem == nil { // handed a slot as it gave up: it has it
		return p.releaser(ip), nil
	}
	p.leaveQueue(w)
	if err := p.refusal(ip); err != nil {
		return nil, err // the cap it waited on, or the other one now
	}
	p.take(ip) // not reached while handOver keeps no slot from a waiter
	return p.releaser(ip), nil
}

// refusal is the cap that keeps ip from a slot now, or nil. The caller
// holds p.mu.
func (p *pendingSlots) refusal(ip string) error {
	switch {
	case p.byIP[ip] >= p.maxIP:
		return errPendingIP
	case p.total >= p.max:
		return errPendingTotal
	}
	return nil
}

func (p *pendingSlots) take(ip string) {
	p.byIP[ip]++
	p.total++
}

func (p *pendingSlots) releaser(ip string) func() {
	var once sync.Once
	return func() { once.Do(func() { p.release(ip) }) }
}

func (p *pendingSlots) release(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total--
	if p.byIP[ip]--; p.byIP[ip] <= 0 {
		delete(p.byIP, ip)
	}
	p.mayTakeTurns(ip)
	p.handOver()
}

// mayTakeTurns puts ip among the addresses served if it has waiters and
// its own cap lets one through. The caller holds p.mu.
func (p *pendingSlots) mayTakeTurns(ip string) {
	if p.queues[ip] == nil || p.inTurn[ip] != nil || p.byIP[ip] >= p.maxIP {
		return
	}
	p.inTurn[ip] = p.turns.PushBack(ip)
}

// handOver gives free slots to waiters, one per address in turn. The
// caller holds p.mu.
func (p *pendingSlots) handOver() {
	for p.total < p.max && p.turns.Len() > 0 {
		front := p.turns.Front()
		ip := front.Value.(string)
		p.turns.Remove(front)
		delete(p.inTurn, ip)
		w := p.queues[ip].Front().Value.(*slotWaiter)
		p.leaveQueue(w)
		p.take(ip)
		close(w.granted)
		p.mayTakeTurns(ip) // to the back: the next address goes first
	}
}

// leaveQueue takes w out of its address's queue, and the address out of
// the turns once nobody from it waits. The caller holds p.mu.
func (p *pendingSlots) leaveQueue(w *slotWaiter) {
	q := p.queues[w.ip]
	q.Remove(w.elem)
	w.elem = nil
	if q.Len() == 0 {
		delete(p.queues, w.ip)
		if e := p.inTurn[w.ip]; e != nil {
			p.turns.Remove(e)
			delete(p.inTurn, w.ip)
		}
	}
}
