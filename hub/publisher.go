package hub

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
)

const (
	// publishTimeout bounds the publish of what one transaction committed.
	// Past it the events are left to the outbox relay.
	publishTimeout = 2 * time.Second
	// maxPublishing bounds the publishes under way on a node: past it (a
	// slow store and a busy node) events are left to the outbox relay
	// rather than piling up goroutines.
	maxPublishing = 512
)

// publisher runs the publishes beside the replies: each on its own
// goroutine, bounded in time and number, and those of one lot one after
// the other in the order their commands called publish — normally seq
// order, so other nodes rarely see a gap. When two commits of a lot call
// publish in the other order, or one is left to the relay while the next
// goes out, the other nodes see a gap and fill it from the ledger: later
// reads, never a lost or reordered event.
type publisher struct {
	slots chan struct{} // one per publish under way

	mu    sync.Mutex
	tails map[uuid.UUID]chan struct{} // lot -> closed when its newest publish under way ends
}

func newPublisher() *publisher {
	return &publisher{slots: make(chan struct{}, maxPublishing), tails: map[uuid.UUID]chan struct{}{}}
}

// publish hands events a transaction just committed to the firehose,
// beside the reply: it never waits. While the firehose is degraded, when
// too many publishes are under way, or when one does not finish within
// publishTimeout, the events stay unpublished in the outbox, and the relay
// publishes them (once, in order) when the store answers again. This
// node's sessions have them already (deliverLocal).
func (h *Hub) publish(ctx context.Context, events []ledger.Event) {
	if len(events) == 0 || h.opts.SkipPublish {
		return
	}
	p := h.pub
	if h.firehoseDown() {
		h.metrics.deferred.Add(float64(len(events)))
		return
	}
	select {
	case p.slots <- struct{}{}:
	default:
		h.metrics.deferred.Add(float64(len(events)))
		return
	}
	lot := events[0].Lot
	done := make(chan struct{})
	p.mu.Lock()
	prev := p.tails[lot]
	p.tails[lot] = done
	p.mu.Unlock()
	go func() {
		defer func() { <-p.slots }()
		defer func() {
			p.mu.Lock()
			if p.tails[lot] == done {
				delete(p.tails, lot)
			}
			p.mu.Unlock()
			close(done)
		}()
		if prev != nil {
			// The wait for the lot's previous publish has its own bound:
			// a publish that starts with its budget spent would fail at
			// once and count against a store that never saw it.
			wait := time.NewTimer(publishTimeout)
			select {
			case <-prev:
				wait.Stop()
			case <-wait.C:
				h.metrics.deferred.Add(float64(len(events)))
				return
			}
		}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
		defer cancel()
		h.publishNow(pctx, events)
	}()
}

// waitPublishes waits for the publishes under way (each ends within
// publishTimeout), when the node shuts down, by taking every slot: one
// started meanwhile finds none and is left to the relay, which runs next.
func (p *publisher) waitPublishes() {
	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
	for range cap(p.slots) {
		<-p.slots
	}
}

// publishNow publishes events in order, then queues them to be marked
// published. A failure stops it: the rest are in the outbox, and the
// relay publishes them.
func (h *Hub) publishNow(ctx context.Context, events []ledger.Event) {
	keys := make([]ledger.EventKey, 0, len(events))
	for i, ev := range events {
		m := ledgerMessage(ev)
		if err := h.fh.Publish(ctx, m); err != nil {
			h.metrics.deferred.Add(float64(len(events) - i))
			if !h.firehoseDown() {
				h.log.Warn().Err(err).Str("lot", ev.Lot.String()).Int64("seq", ev.Seq).Msg("publish failed; the outbox relay will retry")
			}
			break
		}
		keys = append(keys, ledger.EventKey{Lot: ev.Lot, Seq: ev.Seq})
		h.recordCommitted(m) // its views, off the reply path
	}
	if len(keys) == 0 {
		return
	}
	h.metrics.published.Add(float64(len(keys)))
	select {
	case h.published <- keys:
	default: // the marker is behind: the relay will republish (idempotently) and mark
	}
}
