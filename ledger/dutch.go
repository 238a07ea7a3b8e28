package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// TickResult is the outcome of a Dutch advance: the price and step index
// after it.
type TickResult struct {
	Price int64 `json:"price"`
	Step  int64 `json:"step"`
	Seq   int64 `json:"seq"`
}

// dutchPrice is the price at step idx: start − idx·step, never below floor.
func dutchPrice(lot *Lot, idx int64) int64 {
	if idx > (lot.StartPrice-lot.FloorPrice)/lot.Step {
		return lot.FloorPrice
	}
	return max(lot.FloorPrice, lot.StartPrice-idx*lot.Step)
}

// advance moves a Dutch lot from step fromStep to the next one. It is a
// no-op when the lot is no longer at fromStep, which makes every advance
// idempotent: the ticker on two nodes and a host's tick can race on the
// same step and the lot moves once. At the floor the lot closes unsold or
// stays, as its floor action says. It reports whether anything changed.
func (t *txn) advance(ctx context.Context, lot *Lot, fromStep int64) (bool, error) {
	if lot.StepIndex != fromStep {
		return false, nil
	}
	if lot.Price <= lot.FloorPrice {
		if lot.FloorAction == FloorHold {
			if lot.NextTickAtMS == 0 {
				return false, nil
			}
			lot.NextTickAtMS = 0
			return true, nil
		}
		return true, t.closeAndSettle(ctx, lot, "floor")
	}
	lot.StepIndex++
	lot.Price = dutchPrice(lot, lot.StepIndex)
	lot.NextTickAtMS = t.nowMS() + lot.IntervalMS
	if lot.Price == lot.FloorPrice && lot.FloorAction == FloorHold {
		lot.NextTickAtMS = 0
	}
	data := PriceTickData{Price: lot.Price, Step: lot.StepIndex, FloorPrice: lot.FloorPrice}
	if lot.NextTickAtMS > 0 {
		data.NextTickAt = msTime(lot.NextTickAtMS)
	}
	return true, t.emit(lot, data)
}

// AdvanceDutch is the ticker's advance of a lot from fromStep, the step it
// saw due. Idempotent: see advance.
func (l *Ledger) AdvanceDutch(ctx context.Context, id uuid.UUID, fromStep int64, region string) (TickResult, []Event, error) {
	var res TickResult
	events, err := l.system(ctx, region, "system:tick", id, func(ctx context.Context, t *txn) error {
		lot, err := t.lot(ctx, id, KindDutch)
		if err != nil {
			return err
		}
		res = TickResult{Price: lot.Price, Step: lot.StepIndex, Seq: lot.Seq}
		if lot.Status != StatusOpen || lot.NextTickAtMS == 0 || t.nowMS() < lot.NextTickAtMS {
			return nil
		}
		changed, err := t.advance(ctx, lot, fromStep)
		if err != nil || !changed {
			return err
		}
		t.saveLot(lot)
		res = TickResult{Price: lot.Price, Step: lot.StepIndex, Seq: lot.Seq}
		return nil
	})
	return res, events, err
}

// TickDutch is a host's manual advance of their own Dutch lot by one step,
// regardless of the schedule. fromStep is the step the host saw (so a tick
// racing the scheduled one moves the lot once); a negative fromStep means
// whatever step the lot is at.
func (l *Ledger) TickDutch(ctx context.Context, a Actor, id uuid.UUID, fromStep int64) (TickResult, []Event, error) {
	var res TickResult
	events, err := l.do(ctx, a, fmt.Sprintf("tick lot=%s from=%d", id, fromStep), id, &res, func(ctx context.Context, t *txn) error {
		lot, err := t.lot(ctx, id, KindDutch)
		if err != nil {
			return err
		}
		if lot.Host != a.User {
			return errorf(CodeForbidden, "only the lot's host may tick it")
		}
		if err := requireOpen(lot); err != nil {
			return err
		}
		if fromStep < 0 {
			fromStep = lot.StepIndex
		}
		changed, err := t.advance(ctx, lot, fromStep)
		if err != nil {
			return err
		}
		if changed {
			t.saveLot(lot)
		}
		res = TickResult{Price: lot.Price, Step: lot.StepIndex, Seq: lot.Seq}
		return nil
	})
	return res, events, err
}

// DueTick is a Dutch lot whose next step is due, and the step it is at.
type DueTick struct {
	Lot  uuid.UUID
	Step int64
}

// DueTicks lists open Dutch lots whose scheduled step is due, the longest
// overdue first: the ticker's work.
func (l *Ledger) DueTicks(ctx context.Context, limit int) ([]DueTick, error) {
	rows, err := l.pool.Query(ctx, `SELECT id, step_index FROM lots
WHERE status = 'open' AND kind = 'dutch' AND next_tick_at_ms > 0 AND next_tick_at_ms <= $1
ORDER BY next_tick_at_ms, id LIMIT $2`,
		l.now().UnixMilli(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DueTick
	for rows.Next() {
		var d DueTick
		if err := rows.Scan(&d.Lot, &d.Step); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimDutch claims qty units of a Dutch lot at its current step's price.
// The first claim anywhere wins the last unit. maxPrice (0 for none) guards
// the claimer's expectation: a price above it is refused with price_changed.
// A claim racing a tick conflicts on the lot row and retries with fresh
// state, so it pays exactly the price of the step it committed against.
func (l *Ledger) ClaimDutch(ctx context.Context, a Actor, id uuid.UUID, qty, maxPrice int64) (PurchaseResult, []Event, error) {
	var res PurchaseResult
	if err := validQty(qty); err != nil {
		return res, nil, err
	}
	if maxPrice != 0 {
		if err := validAmount("max_price", maxPrice); err != nil {
			return res, nil, err
		}
	}
	op := fmt.Sprintf("claim lot=%s qty=%d max_price=%d", id, qty, maxPrice)
	events, err := l.doChecked(ctx, a, op, id, &res, l.soldOut(id, KindDutch), func(ctx context.Context, t *txn) error {
		lot, err := t.openForSale(ctx, id, KindDutch, qty)
		if err != nil {
			return err
		}
		if maxPrice > 0 && lot.Price > maxPrice {
			return errorf(CodePriceChanged, "the price is %d, above your max_price %d", lot.Price, maxPrice)
		}
		res, err = t.purchase(ctx, lot, qty, EventClaimed)
		return err
	})
	return res, events, err
}
