package firehose

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
)

// Memory is the in-process firehose: one node, no external service. It
// keeps a bounded window of seen ledger keys per lot for idempotency.
type Memory struct {
	mu        sync.Mutex
	subs      subscribers
	seen      map[string]map[int64]struct{} // lot -> ledger seqs seen
	seenIDs   map[string]time.Time          // social message ids -> when
	socialSeq map[string]int64
	presence  *memoryPresence
	closed    bool
}

// seenWindow bounds how many ledger seqs per lot Memory remembers: a
// republish older than that is dropped by subscribers' own seq check.
const seenWindow = 4096

// NewMemory returns an empty in-process firehose. presenceTTL is how long a
// presence entry lives without a heartbeat; zero means DefaultPresenceTTL.
func NewMemory(presenceTTL time.Duration) *Memory {
	if presenceTTL <= 0 {
		presenceTTL = DefaultPresenceTTL
	}
	return &Memory{
		seen:      map[string]map[int64]struct{}{},
		seenIDs:   map[string]time.Time{},
		socialSeq: map[string]int64{},
		presence:  &memoryPresence{ttl: presenceTTL, lots: map[string]map[string]Present{}},
	}
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
	if msg.Kind == KindLedger {
		seen := m.seen[msg.Lot]
		if seen == nil {
			seen = map[int64]struct{}{}
			m.seen[msg.Lot] = seen
		}
		if _, dup := seen[msg.Seq]; dup {
			m.mu.Unlock()
			return nil
		}
		seen[msg.Seq] = struct{}{}
		if len(seen) > seenWindow {
			for s := range seen {
				if s < msg.Seq-seenWindow {
					delete(seen, s)
				}
			}
		}
	} else {
		if msg.ID != "" {
			if _, dup := m.seenIDs[msg.ID]; dup {
				m.mu.Unlock()
				return nil
			}
			m.seenIDs[msg.ID] = time.Now()
			if len(m.seenIDs) > 4*seenWindow {
				cutoff := time.Now().Add(-time.Minute)
				for id, at := range m.seenIDs {
					if at.Before(cutoff) {
						delete(m.seenIDs, id)
					}
				}
			}
		}
		m.socialSeq[msg.Lot]++
		msg.Seq = m.socialSeq[msg.Lot]
	}
	m.mu.Unlock()
	// Delivered to every subscriber whatever the publisher's context: the
	// message is marked seen, so a fan-out cut short would lose it for good.
	m.subs.send(context.Background(), msg)
	return nil
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
