package hub

import (
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Scheduled work (Dutch ticks, English settlements) that fails for a lot is
// retried with a growing delay per lot, so a lot that keeps failing costs
// one attempt per delay instead of one per pass, and the lots behind it in
// the due list still get their turn.
const (
	backoffBase = time.Second     // delay after the first failure
	backoffMax  = 2 * time.Minute // the delay stops doubling here
	stuckAfter  = 3               // consecutive failures that make a lot "stuck"
	maxBackoffs = 10_000          // lots remembered per kind of work
)

type lotFailure struct {
	attempts int
	next     time.Time
}

// lotBackoff remembers the lots whose scheduled work keeps failing.
type lotBackoff struct {
	mu   sync.Mutex
	now  func() time.Time
	lots map[uuid.UUID]*lotFailure
}

func newLotBackoff() *lotBackoff {
	return &lotBackoff{now: time.Now, lots: map[uuid.UUID]*lotFailure{}}
}

// ready reports whether the lot's work may be tried now.
func (b *lotBackoff) ready(id uuid.UUID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.lots[id]
	return !ok || !b.now().Before(f.next)
}

// fail records a failure and returns the consecutive count and the delay
// before the next attempt.
func (b *lotBackoff) fail(id uuid.UUID) (int, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.lots[id]
	if !ok {
		if len(b.lots) >= maxBackoffs {
			return 0, 0 // remembered enough; this one is retried every pass
		}
		f = &lotFailure{}
		b.lots[id] = f
	}
	f.attempts++
	delay := backoffBase
	for i := 1; i < f.attempts && delay < backoffMax; i++ {
		delay *= 2
	}
	delay = min(delay, backoffMax)
	f.next = b.now().Add(delay)
	return f.attempts, delay
}

// succeed forgets the lot's failures; it reports whether it had any.
func (b *lotBackoff) succeed(id uuid.UUID) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.lots[id]
	if !ok {
		return 0, false
	}
	delete(b.lots, id)
	return f.attempts, true
}

// retain forgets the lots not in due: given a complete due list, a lot no
// longer in it was done elsewhere (another node, the host) or is gone.
func (b *lotBackoff) retain(due map[uuid.UUID]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id := range b.lots {
		if !due[id] {
			delete(b.lots, id)
		}
	}
}

// waiting is how many lots are backed off right now: the due list is read
// that much longer, so they cannot fill a pass's batch.
func (b *lotBackoff) waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	now, n := b.now(), 0
	for _, f := range b.lots {
		if now.Before(f.next) {
			n++
		}
	}
	return n
}

// stuck is how many lots failed at least stuckAfter times in a row.
func (b *lotBackoff) stuck() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, f := range b.lots {
		if f.attempts >= stuckAfter {
			n++
		}
	}
	return n
}

// stuckLots lists the lots that failed at least stuckAfter times in a row,
// for the audit report.
func (b *lotBackoff) stuckLots() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []string{}
	for id, f := range b.lots {
		if f.attempts >= stuckAfter {
			out = append(out, id.String())
		}
	}
	sort.Strings(out)
	return out
}
