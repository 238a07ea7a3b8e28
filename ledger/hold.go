package ledger

import (
	"github.com/google/uuid"
)

// Holds are two-phase: placed (status held) when a bidder becomes the high
// bidder, then exactly once either released (outbid, unsold) or captured
// (won, at settlement, with any unused part of a proxy maximum released).
const (
	HoldHeld     = "held"
	HoldReleased = "released"
	HoldCaptured = "captured"
)

type hold struct {
	ID     uuid.UUID
	Amount int64
}

func (t *txn) placeHold(lot uuid.UUID, user string, amount int64) {
	id := uuid.New()
	t.write(`INSERT INTO holds (id, lot_id, user_id, amount, captured, status, created_at_ms, updated_at_ms)
VALUES ($1, $2, $3, $4, 0, 'held', $5, $5)`, id, lot, user, amount, t.nowMS())
	t.move(user, EntryHold, amount, &lot, &id)
	t.setHold(lot, user, hold{ID: id, Amount: amount}, true)
}

// raiseHold grows an open hold: a high bidder raising their own maximum is
// held only for the difference.
func (t *txn) raiseHold(lot uuid.UUID, user string, h hold, by int64) {
	t.write(`UPDATE holds SET amount = amount + $2, updated_at_ms = $3 WHERE id = $1 AND status = 'held'`,
		h.ID, by, t.nowMS())
	t.move(user, EntryHold, by, &lot, &h.ID)
	t.setHold(lot, user, hold{ID: h.ID, Amount: h.Amount + by}, true)
}

// releaseHold voids a hold; the status guard makes a second release fail
// the transaction rather than return money twice.
func (t *txn) releaseHold(lot uuid.UUID, user string, h hold) {
	t.write(`UPDATE holds SET status = 'released', updated_at_ms = $2 WHERE id = $1 AND status = 'held'`, h.ID, t.nowMS())
	t.move(user, EntryRelease, h.Amount, &lot, &h.ID)
	t.setHold(lot, user, hold{}, false)
}

// captureHold pays price from a hold and releases the rest of it.
func (t *txn) captureHold(lot uuid.UUID, user string, h hold, price int64) {
	t.write(`UPDATE holds SET status = 'captured', captured = $2, updated_at_ms = $3 WHERE id = $1 AND status = 'held'`,
		h.ID, price, t.nowMS())
	t.move(user, EntryCapture, price, &lot, &h.ID)
	t.move(user, EntryRelease, h.Amount-price, &lot, &h.ID)
	t.setHold(lot, user, hold{}, false)
}
