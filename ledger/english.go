package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// BidResult is the outcome of PlaceBid. High is false when the bid was
// accepted but a standing proxy maximum answered it at once.
type BidResult struct {
	Amount int64 `json:"amount"`
	High   bool  `json:"high"`
	Seq    int64 `json:"seq"`
}

// PlaceBid bids amount on an English lot, with an optional hidden proxy
// maximum (0 for none). Rules (ledger/README.md):
//   - a bid must reach MinNextBid (the start price, or high bid + increment);
//   - the high bidder's maximum is held; the previous high bidder's hold is
//     released in the same transaction;
//   - a high bidder raising their own maximum is held only for the difference;
//   - proxies resolve as on eBay: the higher maximum wins at one increment
//     over the other (capped at its maximum), an equal maximum loses to the
//     earlier bidder, and a maximum that reaches the hidden reserve lifts the
//     price to the reserve;
//   - a bid within the extension window before the end pushes the end to
//     now + window, never past the hard end; no bid is taken after the end.
func (l *Ledger) PlaceBid(ctx context.Context, a Actor, lotID uuid.UUID, amount, maxBid int64) (BidResult, []Event, error) {
	var res BidResult
	if err := validAmount("amount", amount); err != nil {
		return res, nil, err
	}
	if maxBid != 0 {
		if err := validAmount("max", maxBid); err != nil {
			return res, nil, err
		}
		if maxBid < amount {
			return res, nil, errorf(CodeBadRequest, "max must be at least amount")
		}
	}
	limit := max(amount, maxBid)
	op := fmt.Sprintf("bid lot=%s amount=%d max=%d", lotID, amount, maxBid)
	events, err := l.do(ctx, a, op, lotID, &res, func(ctx context.Context, t *txn) error {
		lot, err := t.lot(ctx, lotID, KindEnglish)
		if err != nil {
			return err
		}
		if err := requireOpen(lot); err != nil {
			return err
		}
		if t.nowMS() >= lot.EndsAtMS {
			return errorf(CodeLotClosed, "bidding on lot %s ended at %s", lot.ID, msTime(lot.EndsAtMS))
		}
		if lot.Host == a.User {
			return errorf(CodeForbidden, "a host cannot bid on their own lot")
		}
		w, err := t.wallet(ctx, a.User)
		if err != nil {
			return err
		}
		if lot.HighBidder == a.User {
			res, err = t.raiseOwnBid(ctx, lot, w, amount, limit)
		} else {
			res, err = t.bidAgainst(ctx, lot, w, amount, limit)
		}
		if err != nil {
			return err
		}
		t.saveLot(lot)
		// The seq of the bidder's own bid event (a soft-close extension may
		// follow it); the lot's seq when no bid of theirs was recorded.
		res.Seq = lot.Seq
		if t.ownBidSeq > 0 {
			res.Seq = t.ownBidSeq
		}
		return nil
	})
	return res, events, err
}

// bidAgainst handles a bid from anyone but the current high bidder.
func (t *txn) bidAgainst(ctx context.Context, lot *Lot, w Wallet, amount, limit int64) (BidResult, error) {
	user, region := t.actor.User, t.actor.Region
	minBid := lot.MinNextBid()
	if lot.HighBidder != "" && minBid <= lot.HighBid {
		return BidResult{}, errorf(CodeBidTooLow, "the high bid %d is the largest amount the ledger takes", lot.HighBid)
	}
	if amount < minBid {
		return BidResult{}, errorf(CodeBidTooLow, "the minimum bid is %d", minBid)
	}
	if err := requireFunds(w, limit); err != nil {
		return BidResult{}, err
	}
	// A new high maximum is what settlement may credit the host: it must
	// fit the host's wallet (a standing proxy that answers keeps its own,
	// already reserved).
	if limit > lot.HighMax || lot.HighBidder == "" {
		if err := t.requireInflowRoom(ctx, lot.Host, lot.ID, limit); err != nil {
			return BidResult{}, err
		}
	}
	prev, prevMax, prevRegion := lot.HighBidder, lot.HighMax, lot.HighRegion
	switch {
	case prev == "":
		p := reserveJump(amount, limit, lot.Reserve)
		t.placeHold(lot.ID, user, limit)
		lot.HighMax = limit
		if err := t.recordBid(lot, user, region, p, p > amount, ""); err != nil {
			return BidResult{}, err
		}
		return BidResult{Amount: p, High: true}, t.softClose(lot)

	case limit > prevMax:
		// The challenger's maximum beats the standing one: the standing
		// proxy is shown bidding its whole maximum, then the challenger
		// wins one increment above it.
		if prevMax > lot.HighBid {
			if err := t.recordBid(lot, prev, prevRegion, prevMax, true, ""); err != nil {
				return BidResult{}, err
			}
		}
		p := reserveJump(min(limit, max(amount, nextBid(prevMax))), limit, lot.Reserve)
		h, err := t.activeHold(ctx, lot.ID, prev)
		if err != nil {
			return BidResult{}, err
		}
		t.releaseHold(lot.ID, prev, h)
		t.placeHold(lot.ID, user, limit)
		lot.HighMax = limit
		if err := t.recordBid(lot, user, region, p, p > amount, prev); err != nil {
			return BidResult{}, err
		}
		return BidResult{Amount: p, High: true}, t.softClose(lot)

	default:
		// The standing maximum answers at once. The challenger's bid is
		// shown at its own maximum, then the standing proxy one increment
		// above (capped at its maximum); on a tie the earlier bidder keeps
		// the lot at that amount. The challenger holds nothing.
		if limit < prevMax {
			if err := t.recordBid(lot, user, region, limit, limit > amount, ""); err != nil {
				return BidResult{}, err
			}
		}
		p := reserveJump(min(prevMax, nextBid(limit)), prevMax, lot.Reserve)
		if err := t.recordBid(lot, prev, prevRegion, p, true, user); err != nil {
			return BidResult{}, err
		}
		return BidResult{Amount: limit, High: false}, t.softClose(lot)
	}
}

// raiseOwnBid lets the high bidder raise their maximum (held only for the
// difference) and, with an amount at or over the next minimum, their
// visible bid.
func (t *txn) raiseOwnBid(ctx context.Context, lot *Lot, w Wallet, amount, limit int64) (BidResult, error) {
	visible := lot.HighBid
	if amount > lot.HighBid {
		if min := lot.MinNextBid(); amount < min {
			return BidResult{}, errorf(CodeBidTooLow, "you are the high bidder at %d; a higher bid must be at least %d", lot.HighBid, min)
		}
		visible = amount
	}
	newMax := max(limit, lot.HighMax)
	visible = reserveJump(visible, newMax, lot.Reserve)
	if newMax == lot.HighMax && visible == lot.HighBid {
		return BidResult{}, errorf(CodeBidTooLow, "you are already the high bidder at %d with a maximum of %d", lot.HighBid, lot.HighMax)
	}
	diff := newMax - lot.HighMax
	if err := requireFunds(w, diff); err != nil {
		return BidResult{}, err
	}
	if diff > 0 {
		if err := t.requireInflowRoom(ctx, lot.Host, lot.ID, newMax); err != nil {
			return BidResult{}, err
		}
		h, err := t.activeHold(ctx, lot.ID, t.actor.User)
		if err != nil {
			return BidResult{}, err
		}
		t.raiseHold(lot.ID, t.actor.User, h, diff)
		lot.HighMax = newMax
	}
	if visible != lot.HighBid {
		if err := t.recordBid(lot, t.actor.User, t.actor.Region, visible, visible > amount, ""); err != nil {
			return BidResult{}, err
		}
		if err := t.softClose(lot); err != nil {
			return BidResult{}, err
		}
	}
	return BidResult{Amount: lot.HighBid, High: true}, nil
}

// reserveJump lifts a price to the hidden reserve when the bidder's maximum
// reaches it, so a maximum that would meet the reserve is not left below it.
func reserveJump(price, limit, reserve int64) int64 {
	if reserve > price && limit >= reserve {
		return reserve
	}
	return price
}

// recordBid makes user the high bidder at amount: a bids row and a bid
// event with the same seq. outbid names a displaced high bidder, if any.
func (t *txn) recordBid(lot *Lot, user, region string, amount int64, proxy bool, outbid string) error {
	lot.HighBid, lot.HighBidder, lot.HighRegion = amount, user, region
	lot.BidCount++
	data := BidData{
		Bidder: user, BidderRegion: region, Amount: amount, Proxy: proxy,
		HighBid: amount, HighBidder: user, MinNextBid: lot.MinNextBid(),
		BidCount: lot.BidCount, ReserveMet: lot.ReserveMet(), Outbid: outbid,
	}
	if err := t.emit(lot, data); err != nil {
		return err
	}
	if user == t.actor.User {
		t.ownBidSeq = lot.Seq
	}
	t.insert(bidsTable, uuid.New(), lot.ID, lot.Seq, user, amount, proxy, region, t.nowMS())
	return nil
}

// softClose extends a lot whose end is within its extension window.
func (t *txn) softClose(lot *Lot) error {
	window := lot.ExtensionS * 1000
	if lot.EndsAtMS-t.nowMS() > window {
		return nil
	}
	end := t.nowMS() + window
	if lot.HardEndAtMS > 0 && end > lot.HardEndAtMS {
		end = lot.HardEndAtMS
	}
	if end <= lot.EndsAtMS {
		return nil
	}
	lot.EndsAtMS = end
	return t.emit(lot, ExtendedData{EndsAt: msTime(end), ExtensionS: lot.ExtensionS})
}
