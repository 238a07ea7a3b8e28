package hub

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
)

// systemRegion tags what the ticker, closer and relay do.
const systemRegion = "system"

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
				if !h.firehoseDown() { // an outage is logged once, by the firehose
					h.log.Warn().Err(err).Msg("relay publish")
				}
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

// scheduleBatch bounds the attempts of each kind of scheduled work per pass.
const scheduleBatch = 200

// schedule advances due Dutch steps and settles ended English lots. Every
// node runs it; the ledger makes each advance and settlement happen once.
// Each pass takes the longest-overdue lots first and tries at most
// scheduleBatch of each kind; a lot whose work fails is backed off (per
// lot, a growing delay) and skipped until its delay passes, and the due
// list is read past the backed-off lots, so a lot that keeps failing never
// starves the others.
func (h *Hub) schedule(ctx context.Context) {
	ticks, settles := h.metrics.ticks, h.metrics.settles
	limit := scheduleBatch + ticks.waiting()
	due, err := h.ledger.DueTicks(ctx, limit)
	if err != nil && ctx.Err() == nil {
		h.log.Warn().Err(err).Msg("due ticks")
	}
	seen, tried := make(map[uuid.UUID]bool, len(due)), 0
	for _, d := range due {
		seen[d.Lot] = true
		if tried == scheduleBatch || !ticks.ready(d.Lot) {
			continue
		}
		tried++
		_, evs, err := h.ledger.AdvanceDutch(ctx, d.Lot, d.Step, systemRegion)
		if err != nil {
			h.scheduleFailed(ctx, "tick", ticks, d.Lot, err)
			continue
		}
		h.scheduleDone("tick", ticks, d.Lot)
		h.deliverLocal(evs)
		h.publish(ctx, evs)
	}
	if err == nil && len(due) < limit { // the whole due list: forget lots done elsewhere
		ticks.retain(seen)
	}
	limit = scheduleBatch + settles.waiting()
	ended, err := h.ledger.DueLots(ctx, limit)
	if err != nil && ctx.Err() == nil {
		h.log.Warn().Err(err).Msg("due lots")
	}
	seen, tried = make(map[uuid.UUID]bool, len(ended)), 0
	for _, id := range ended {
		seen[id] = true
		if tried == scheduleBatch || !settles.ready(id) {
			continue
		}
		tried++
		evs, err := h.ledger.SettleDue(ctx, id, systemRegion)
		if err != nil {
			h.scheduleFailed(ctx, "settle", settles, id, err)
			continue
		}
		h.scheduleDone("settle", settles, id)
		h.deliverLocal(evs)
		h.publish(ctx, evs)
	}
	if err == nil && len(ended) < limit {
		settles.retain(seen)
	}
}

// scheduleFailed backs the lot's work off and reports it: every failure is
// counted and logged with its code and the delay; reaching stuckAfter
// failures in a row logs an error (the lot is then in lotzero_stuck_lots).
func (h *Hub) scheduleFailed(ctx context.Context, work string, b *lotBackoff, id uuid.UUID, err error) {
	if ctx.Err() != nil {
		return // shutting down: not the lot's fault
	}
	attempts, delay := b.fail(id)
	h.metrics.scheduleFailures.WithLabelValues(work).Inc()
	ev := h.log.Warn()
	if attempts == stuckAfter {
		ev = h.log.Error()
	}
	ev.Err(err).Str("lot", id.String()).Str("work", work).Str("code", string(ledger.CodeOf(err))).
		Int("attempts", attempts).Dur("retry_in", delay).Bool("stuck", attempts >= stuckAfter).
		Msg("scheduled lot work failed; backing off")
}

// scheduleDone clears a lot's backoff, logging a recovery.
func (h *Hub) scheduleDone(work string, b *lotBackoff, id uuid.UUID) {
	if attempts, was := b.succeed(id); was {
		h.log.Info().Str("lot", id.String()).Str("work", work).Int("failed_attempts", attempts).
			Msg("scheduled lot work succeeded after failures")
	}
}
