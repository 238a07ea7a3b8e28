package firehose

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
)

// Memory is the in-process firehose: one node, no external service. It
// remembers what it published for DedupRetention, so a republish (the
// outbox relay, a client's retry of a chat) within that time is dropped,
// and forgets it afterwards: its memory is bounded by the traffic of one
// retention period, not by the process's lifetime.
type Memory struct {
	mu        sync.Mutex
	subs      subscribers
	seen      map[string]*lotSeen // lot -> ledger seqs seen
	seenIDs   map[string]time.Time
	idOrder   []seenID // seenIDs in publish order, oldest first
	lastSweep time.Time
	socialSeq map[string]int64
	presence  *memoryPresence
	views     *memoryViews
	closed    bool

	retention time.Duration
	now       func() time.Time
}

type lotSeen struct {
	seqs map[int64]struct{}
	last time.Time // the lot's last ledger publish
}

type seenID struct {
	id string
	at time.Time
}

// seenWindow bounds how many ledger seqs per lot Memory remembers: a
// republish older than that is dropped by subscribers' own seq check.
const seenWindow = 4096

// DedupRetention is how long Memory remembers a published message for
// deduplication. Longer than any retry (the outbox relay republishes
// within seconds; a client's retry of a chat within its reconnect); a
// republished ledger event older than it is still dropped by the
// subscribers' seq check.
const DedupRetention = 10 * time.Minute

// NewMemory returns an empty in-process firehose. presenceTTL is how long a
// presence entry lives without a heartbeat; zero means DefaultPresenceTTL.
func NewMemory(presenceTTL time.Duration) *Memory {
	if presenceTTL <= 0 {
		presenceTTL = DefaultPresenceTTL
	}
	m := &Memory{
		seen:      map[string]*lotSeen{},
		seenIDs:   map[string]time.Time{},
		socialSeq: map[string]int64{},
		presence:  &memoryPresence{ttl: presenceTTL, lots: map[string]map[string]Present{}},
		retention: DedupRetention,
		now:       time.Now,
	}
	m.views = newMemoryViews(func() time.Time { return m.now() })
	return m
}

func (m *Memory) Name() string { return "memory" }

// ErrClosed is returned by a closed firehose.
var ErrClosed = errors.New("firehose closed")

func (m *Memory) Publish(ctx context.Context, msg Message) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	now := m.now()
	m.forget(now)
	if msg.Kind == KindLedger {
		ls := m.seen[msg.Lot]
		if ls == nil {
			ls = &lotSeen{seqs: map[int64]struct{}{}}
			m.seen[msg.Lot] = ls
		}
		if _, dup := ls.seqs[msg.Seq]; dup {
			m.mu.Unlock()
			return nil
		}
		ls.seqs[msg.Seq] = struct{}{}
		ls.last = now
		if len(ls.seqs) > seenWindow {
			for s := range ls.seqs {
				if s < msg.Seq-seenWindow {
					delete(ls.seqs, s)
				}
			}
		}
	} else {
		if msg.ID != "" {
			if _, dup := m.seenIDs[msg.ID]; dup {
				m.mu.Unlock()
				return nil
			}
			m.seenIDs[msg.ID] = now
			m.idOrder = append(m.idOrder, seenID{msg.ID, now})
		}
		m.socialSeq[msg.Lot]++
		msg.Seq = m.socialSeq[msg.Lot]
	}
	m.mu.Unlock()
	m.views.published(msg)
	// Delivered to every subscriber whatever the publisher's context: the
	// message is marked seen, so a fan-out cut short would lose it for good.
	m.subs.send(context.Background(), msg)
	return nil
}

// forget drops what is older than the retention: message ids from the
// front of their queue at every publish (amortized O(1)), and lots with no
// ledger publish for a retention, swept a few times per retention. The
// caller holds m.mu.
func (m *Memory) forget(now time.Time) {
	cutoff := now.Add(-m.retention)
	n := 0
	for n < len(m.idOrder) && m.idOrder[n].at.Before(cutoff) {
		delete(m.seenIDs, m.idOrder[n].id)
		m.idOrder[n] = seenID{} // the next growth of the slice copies only the live tail
		n++
	}
	m.idOrder = m.idOrder[n:]
	if now.Sub(m.lastSweep) < m.retention/4 {
		return
	}
	m.lastSweep = now
	for lot, ls := range m.seen {
		if ls.last.Before(cutoff) {
			delete(m.seen, lot)
		}
	}
}

func (m *Memory) Subscribe(ctx context.Context) (<-chan Message, error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	return m.subs.add(ctx), nil
}

func (m *Memory) Presence() Presence { return m.presence }

// Views are Memory's leaderboards, feed, reaction totals and chat history.
func (m *Memory) Views() Views { return m.views }

func (m *Memory) Ready(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}

type memoryPresence struct {
	ttl  time.Duration
	mu   sync.Mutex
	lots map[string]map[string]Present // lot -> session -> entry
}

func (p *memoryPresence) Join(_ context.Context, lot string, e Present) error {
	e.Expires = time.Now().Add(p.ttl)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lots[lot] == nil {
		p.lots[lot] = map[string]Present{}
	}
	p.lots[lot][e.Session] = e
	return nil
}

func (p *memoryPresence) Leave(_ context.Context, lot, session string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.lots[lot], session)
	if len(p.lots[lot]) == 0 {
		delete(p.lots, lot)
	}
	return nil
}

func (p *memoryPresence) List(_ context.Context, lot string) ([]Present, error) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Present
	for s, e := range p.lots[lot] {
		if e.Expires.Before(now) {
			delete(p.lots[lot], s)
			continue
		}
		out = append(out, e)
	}
	sortByUser(out)
	return out, nil
}

func sortByUser(ps []Present) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].User != ps[j].User {
			return ps[i].User < ps[j].User
		}
		return ps[i].Session < ps[j].Session
	})
}
