package hub

import (
	"context"
	"time"

	"github.com/lotzero/lotzero/ledger"
)

// systemRegion tags what the ticker, closer and relay do.
const systemRegion = "system"

// publish sends events a transaction just committed to the firehose, then
// queues them to be marked published. A failure is only logged: the events
// are in the outbox, and the relay publishes them.
func (h *Hub) publish(ctx context.Context, events []ledger.Event) {
	if len(events) == 0 || h.opts.SkipPublish {
		return
	}
	keys := make([]ledger.EventKey, 0, len(events))
	for _, ev := range events {
		if err := h.fh.Publish(context.WithoutCancel(ctx), ledgerMessage(ev)); err != nil {
			h.log.Warn().Err(err).Str("lot", ev.Lot.String()).Int64("seq", ev.Seq).Msg("publish failed; the outbox relay will retry")
			return
		}
		keys = append(keys, ledger.EventKey{Lot: ev.Lot, Seq: ev.Seq})
	}
	h.metrics.published.Add(float64(len(keys)))
	select {
	case h.published <- keys:
	default: // the marker is behind: the relay will republish (idempotently) and mark
	}
}

// markLoop marks published events in batches, off the command path.
func (h *Hub) markLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var batch []ledger.EventKey
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		if err := h.ledger.MarkPublished(ctx, batch); err != nil {
			h.log.Warn().Err(err).Msg("mark events published")
		}
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case keys := <-h.published:
					batch = append(batch, keys...)
				default:
					c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
					flush(c)
					cancel()
					return
				}
			}
		case keys := <-h.published:
			batch = append(batch, keys...)
			if len(batch) >= 500 {
				flush(ctx)
			}
		case <-t.C:
			flush(ctx)
		}
	}
}

func (h *Hub) relayOutbox(ctx context.Context) { h.relayPending(ctx, h.opts.RelayEvery) }

// relayPending publishes outbox events older than minAge that no node
// marked published — what a node committed before dying — and marks them.
func (h *Hub) relayPending(ctx context.Context, minAge time.Duration) {
	for {
		evs, err := h.ledger.UnpublishedEvents(ctx, minAge, 500)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn().Err(err).Msg("read outbox")
			}
			return
		}
		if len(evs) == 0 {
			return
		}
		keys := make([]ledger.EventKey, 0, len(evs))
		for _, ev := range evs {
			if err := h.fh.Publish(ctx, ledgerMessage(ev)); err != nil {
				h.log.Warn().Err(err).Msg("relay publish")
				return
			}
			keys = append(keys, ledger.EventKey{Lot: ev.Lot, Seq: ev.Seq})
		}
		if err := h.ledger.MarkPublished(ctx, keys); err != nil {
			h.log.Warn().Err(err).Msg("relay mark published")
			return
		}
		h.metrics.relayed.Add(float64(len(keys)))
		h.log.Info().Int("events", len(keys)).Msg("relayed unpublished outbox events")
		if len(evs) < 500 {
			return
		}
	}
}

// schedule advances due Dutch steps and settles ended English lots. Every
// node runs it; the ledger makes each advance and settlement happen once.
func (h *Hub) schedule(ctx context.Context) {
	due, err := h.ledger.DueTicks(ctx, 200)
	if err != nil && ctx.Err() == nil {
		h.log.Warn().Err(err).Msg("due ticks")
	}
	for _, d := range due {
		_, evs, err := h.ledger.AdvanceDutch(ctx, d.Lot, d.Step, systemRegion)
		if err != nil {
			h.log.Warn().Err(err).Str("lot", d.Lot.String()).Msg("advance dutch lot")
			continue
		}
		h.deliverLocal(evs)
		h.publish(ctx, evs)
	}
	ended, err := h.ledger.DueLots(ctx, 200)
	if err != nil && ctx.Err() == nil {
		h.log.Warn().Err(err).Msg("due lots")
	}
	for _, id := range ended {
		evs, err := h.ledger.SettleDue(ctx, id, systemRegion)
		if err != nil {
			h.log.Warn().Err(err).Str("lot", id.String()).Msg("settle lot")
			continue
		}
		h.deliverLocal(evs)
		h.publish(ctx, evs)
	}
}
