package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// closeAndSettle ends a lot and settles it in the same transaction, which is
// what makes settlement happen exactly once: the status moves to settled
// under the lot's version guard, and a second attempt finds it settled.
//   - English: with a high bidder and the reserve met, the winner's hold is
//     captured at the high bid (the rest of their maximum released) and the
//     host is credited the price; otherwise the hold is released in full.
//   - Dutch and drop: buyers paid at each claim; the host is credited the
//     accumulated proceeds.
//
// The caller saves the lot.
func (t *txn) closeAndSettle(ctx context.Context, lot *Lot, reason string) error {
	lot.Status = StatusSettled
	lot.ClosedAtMS = t.nowMS()
	lot.NextTickAtMS = 0
	if lot.Kind == KindEnglish && lot.HighBidder != "" {
		h, err := t.activeHold(ctx, lot.ID, lot.HighBidder)
		if err != nil {
			return err
		}
		if lot.ReserveMet() {
			t.captureHold(lot.ID, lot.HighBidder, h, lot.HighBid)
			lot.Winner, lot.Proceeds, lot.Price = lot.HighBidder, lot.HighBid, lot.HighBid
		} else {
			t.releaseHold(lot.ID, lot.HighBidder, h)
		}
	}
	if lot.Proceeds > 0 {
		// Sales and bids reserved room for this credit on the host's
		// wallet (requireInflowRoom), so it fits unless two of them raced
		// past the bound. Then the settlement is refused and nothing
		// changes: the lot stays unsettled with its proceeds pending (money
		// conserved), and the closer backs it off and reports it stuck.
		h, err := t.wallet(ctx, lot.Host)
		if err != nil {
			return err
		}
		if addBounded(h.inflow(), lot.Proceeds) > MaxAmount {
			return errorf(CodeLimitExceeded, "crediting %d to host %s would pass the largest amount %d (funded + earned %d)",
				lot.Proceeds, lot.Host, MaxAmount, h.inflow())
		}
		t.move(lot.Host, EntryCredit, lot.Proceeds, &lot.ID, nil)
	}
	if err := t.emit(lot, ClosedData{Reason: reason}); err != nil {
		return err
	}
	settled := SettledData{Proceeds: lot.Proceeds, QtySold: lot.QtyClaimed}
	if lot.Kind == KindEnglish {
		settled.EnglishSettlement = &EnglishSettlement{Price: lot.Price, ReserveMet: lot.ReserveMet()}
		if lot.Winner != "" {
			winner := lot.Winner
			settled.Winner = &winner
			lot.QtyClaimed = 1
			settled.QtySold = 1
		}
	}
	return t.emit(lot, settled)
}

// CloseLot ends a lot now and settles it; only its host may.
func (l *Ledger) CloseLot(ctx context.Context, a Actor, id uuid.UUID) (LotResult, []Event, error) {
	var res LotResult
	events, err := l.do(ctx, a, "close lot="+id.String(), id, &res, func(ctx context.Context, t *txn) error {
		lot, err := t.lot(ctx, id, "")
		if err != nil {
			return err
		}
		if lot.Host != a.User {
			return errorf(CodeForbidden, "only the lot's host may close it")
		}
		if lot.Status == StatusClosed || lot.Status == StatusSettled {
			return errorf(CodeLotClosed, "lot %s is already %s", lot.ID, lot.Status)
		}
		if err := t.closeAndSettle(ctx, lot, "host"); err != nil {
			return err
		}
		t.saveLot(lot)
		res = LotResult{Lot: lot.ID, Seq: lot.Seq}
		return nil
	})
	return res, events, err
}

// SettleDue closes and settles an English lot whose (extended) end has
// passed. It is what the closer calls on every node: running it twice, or
// on two nodes at once, settles once; a lot that is not due is left alone.
func (l *Ledger) SettleDue(ctx context.Context, id uuid.UUID, region string) ([]Event, error) {
	return l.system(ctx, region, "system:settle", id, func(ctx context.Context, t *txn) error {
		lot, err := t.lot(ctx, id, KindEnglish)
		if err != nil {
			return err
		}
		if lot.Status != StatusOpen || t.nowMS() < lot.EndsAtMS {
			return nil
		}
		if err := t.closeAndSettle(ctx, lot, "ended"); err != nil {
			return err
		}
		t.saveLot(lot)
		return nil
	})
}

// DueLots lists open English lots whose end has passed, the longest overdue
// first: work for the closer, which pages past lots it is backing off.
func (l *Ledger) DueLots(ctx context.Context, limit int) ([]uuid.UUID, error) {
	return l.lotIDs(ctx, `SELECT id FROM lots WHERE status = 'open' AND kind = 'english' AND ends_at_ms <= $1
ORDER BY ends_at_ms, id LIMIT $2`,
		l.now().UnixMilli(), limit)
}

func (l *Ledger) lotIDs(ctx context.Context, sql string, args ...any) ([]uuid.UUID, error) {
	rows, err := l.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list lots: %w", err)
	}
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan lot id: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
