package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// PurchaseResult is the outcome of ClaimDutch and BuyDrop: Price is the unit
// price paid.
type PurchaseResult struct {
	Price int64 `json:"price"`
	Qty   int64 `json:"qty"`
	Seq   int64 `json:"seq"`
}

func validQty(qty int64) error {
	if qty < 1 || qty > MaxQty {
		return errorf(CodeBadRequest, "qty must be between 1 and %d", MaxQty)
	}
	return nil
}

// requireUnits refuses a purchase of qty units from a lot that has fewer
// left: the zero-oversell invariant, checked on the lot row this
// transaction then writes.
func requireUnits(lot *Lot, qty int64) error {
	switch left := lot.Remaining(); {
	case left <= 0:
		return errorf(CodeSoldOut, "lot %s is sold out", lot.ID)
	case qty > left:
		return errorf(CodeSoldOut, "only %d left on lot %s", left, lot.ID)
	}
	return nil
}

// sell moves qty units at unit price to the actor, who pays at once; the
// host's proceeds accumulate on the lot and are credited at settlement, so
// concurrent sales of one host's lots never contend on the host's wallet.
// Selling the last unit ends and settles the lot in the same transaction.
func (t *txn) sell(ctx context.Context, lot *Lot, qty, price, total int64, kind string) error {
	user := t.actor.User
	lot.QtyClaimed += qty
	lot.Proceeds += total
	t.move(user, EntrySpend, total, &lot.ID, nil)
	sale := Sale{
		Buyer: user, BuyerRegion: t.actor.Region, Qty: qty, Price: price,
		QtyClaimed: lot.QtyClaimed, Remaining: lot.Remaining(),
	}
	var data EventData = SoldData(sale)
	if kind == EventClaimed {
		data = ClaimedData(sale)
	}
	if err := t.emit(lot, data); err != nil {
		return err
	}
	t.addBought(lot.ID, user, qty)
	t.insert(purchaseTable, uuid.New(), lot.ID, user, qty, price, total, lot.Seq, t.actor.Region, t.nowMS())
	if lot.Remaining() == 0 {
		if err := t.emit(lot, SoldOutData{QtyTotal: lot.QtyTotal}); err != nil {
			return err
		}
		return t.closeAndSettle(ctx, lot, "sold_out")
	}
	return nil
}

// purchase is the shared path of ClaimDutch and BuyDrop after the mechanic's
// own checks: funds, the sale, and the lot write.
func (t *txn) purchase(ctx context.Context, lot *Lot, qty int64, kind string) (PurchaseResult, error) {
	total, err := mulAmount(lot.Price, qty)
	if err != nil {
		return PurchaseResult{}, err
	}
	if lot.Proceeds > MaxAmount-total {
		return PurchaseResult{}, errorf(CodeLimitExceeded, "the lot's proceeds would pass the largest amount")
	}
	// The host is credited the proceeds at settlement (perhaps in this very
	// transaction): refuse now a sale whose credit could not fit then.
	if err := t.requireInflowRoom(ctx, lot.Host, lot.ID, lot.Proceeds+total); err != nil {
		return PurchaseResult{}, err
	}
	w, err := t.wallet(ctx, t.actor.User)
	if err != nil {
		return PurchaseResult{}, err
	}
	if err := requireFunds(w, total); err != nil {
		return PurchaseResult{}, err
	}
	price := lot.Price
	if err := t.sell(ctx, lot, qty, price, total, kind); err != nil {
		return PurchaseResult{}, err
	}
	t.saveLot(lot)
	return PurchaseResult{Price: price, Qty: qty, Seq: lot.Seq}, nil
}

// openForSale reads a lot of kind and checks it can be bought from by the
// actor right now.
func (t *txn) openForSale(ctx context.Context, id uuid.UUID, kind string, qty int64) (*Lot, error) {
	lot, err := t.lot(ctx, id, kind)
	if err != nil {
		return nil, err
	}
	// A sold-out lot says so, even though selling its last unit also closed it.
	if lot.Remaining() <= 0 {
		return nil, requireUnits(lot, qty)
	}
	if err := requireOpen(lot); err != nil {
		return nil, err
	}
	if lot.Host == t.actor.User {
		return nil, errorf(CodeForbidden, "a host cannot buy from their own lot")
	}
	return lot, requireUnits(lot, qty)
}

// BuyDrop buys qty units of a fixed-price drop. It succeeds only if qty is
// at most the units left, the per-user limit allows it and funds suffice:
// exactly qty_total units sell when demand reaches it.
func (l *Ledger) BuyDrop(ctx context.Context, a Actor, id uuid.UUID, qty int64) (PurchaseResult, []Event, error) {
	var res PurchaseResult
	if err := validQty(qty); err != nil {
		return res, nil, err
	}
	events, err := l.doChecked(ctx, a, fmt.Sprintf("buy lot=%s qty=%d", id, qty), id, &res, l.soldOut(id, KindDrop), func(ctx context.Context, t *txn) error {
		lot, err := t.openForSale(ctx, id, KindDrop, qty)
		if err != nil {
			return err
		}
		if lot.PerUserLimit > 0 {
			// Every purchase writes the lot row, so purchases of one lot are
			// serialized and this sum cannot be stale at commit.
			bought, err := t.bought(ctx, lot.ID, a.User)
			if err != nil {
				return err
			}
			if bought+qty > lot.PerUserLimit {
				return errorf(CodeLimitExceeded, "the limit is %d per person and you have bought %d", lot.PerUserLimit, bought)
			}
		}
		res, err = t.purchase(ctx, lot, qty, EventSold)
		return err
	})
	return res, events, err
}
