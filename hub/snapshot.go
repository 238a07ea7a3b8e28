package hub

import (
	"time"

	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// snapshot is a lot as the contract shows it: common fields, then the
// fields of its mechanic. The reserve and the high bidder's maximum stay
// hidden.
func snapshot(l *ledger.Lot, watchers int) map[string]any {
	m := map[string]any{
		"id": l.ID.String(), "kind": l.Kind, "title": l.Title, "host": l.Host,
		"status": l.Status, "seq": l.Seq, "watchers": watchers,
	}
	if l.OpenedAtMS > 0 {
		m["opened_at"] = msTime(l.OpenedAtMS)
	}
	if l.ClosedAtMS > 0 {
		m["closed_at"] = msTime(l.ClosedAtMS)
	}
	switch l.Kind {
	case ledger.KindEnglish:
		m["start_price"] = l.StartPrice
		m["high_bid"] = l.HighBid
		m["high_bidder"] = nullable(l.HighBidder)
		m["high_region"] = nullable(l.HighRegion)
		m["min_next_bid"] = l.MinNextBid()
		m["ends_at"] = nullableTime(l.EndsAtMS)
		m["extension_s"] = l.ExtensionS
		m["duration_s"] = l.DurationS
		m["hard_end_at"] = nullableTime(l.HardEndAtMS)
		m["reserve_met"] = l.ReserveMet()
		m["has_reserve"] = l.Reserve > 0
		m["bid_count"] = l.BidCount
		m["winner"] = nullable(l.Winner)
	case ledger.KindDutch:
		m["price"] = l.Price
		m["start_price"] = l.StartPrice
		m["step"] = l.Step
		m["step_index"] = l.StepIndex
		m["floor_price"] = l.FloorPrice
		m["interval_ms"] = l.IntervalMS
		m["next_tick_at"] = nullableTime(l.NextTickAtMS)
		m["floor_action"] = l.FloorAction
		m["qty_total"] = l.QtyTotal
		m["qty_claimed"] = l.QtyClaimed
	case ledger.KindDrop:
		m["price"] = l.Price
		m["qty_total"] = l.QtyTotal
		m["qty_claimed"] = l.QtyClaimed
		m["per_user_limit"] = l.PerUserLimit
	}
	return m
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullableTime(ms int64) any {
	if ms == 0 {
		return nil
	}
	return msTime(ms)
}

func msTime(ms int64) string { return protocol.Time(time.UnixMilli(ms)) }

func walletOf(w ledger.Wallet) protocol.Wallet {
	return protocol.Wallet{Funded: w.Funded, Held: w.Held, Spent: w.Spent, Earned: w.Earned, Available: max(0, w.Available())}
}
