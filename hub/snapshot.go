package hub

import (
	"time"

	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// snapshot is a lot as the contract shows it: common fields, then the
// fields of its mechanic (protocol.Lot's MarshalJSON writes only those).
// The reserve and the high bidder's maximum stay hidden.
func snapshot(l *ledger.Lot, watchers int) protocol.Lot {
	out := protocol.Lot{
		ID: l.ID.String(), Kind: l.Kind, Title: l.Title, Host: l.Host,
		Status: l.Status, Seq: l.Seq, Watchers: int64(watchers),
		OpenedAt: timeOrEmpty(l.OpenedAtMS), ClosedAt: timeOrEmpty(l.ClosedAtMS),
	}
	switch l.Kind {
	case ledger.KindEnglish:
		out.StartPrice = l.StartPrice
		out.HighBid = l.HighBid
		out.HighBidder = nullable(l.HighBidder)
		out.HighRegion = l.HighRegion
		out.MinNextBid = l.MinNextBid()
		out.EndsAt = timeOrEmpty(l.EndsAtMS)
		out.ExtensionS = l.ExtensionS
		out.DurationS = l.DurationS
		out.HardEndAt = timeOrEmpty(l.HardEndAtMS)
		out.ReserveMet = l.ReserveMet()
		out.HasReserve = l.Reserve > 0
		out.BidCount = l.BidCount
		out.Winner = nullable(l.Winner)
	case ledger.KindDutch:
		out.Price = l.Price
		out.StartPrice = l.StartPrice
		out.Step = l.Step
		out.StepIndex = l.StepIndex
		out.FloorPrice = l.FloorPrice
		out.IntervalMS = l.IntervalMS
		out.NextTickAt = timeOrEmpty(l.NextTickAtMS)
		out.FloorAction = l.FloorAction
		out.QtyTotal = l.QtyTotal
		out.QtyClaimed = l.QtyClaimed
	case ledger.KindDrop:
		out.Price = l.Price
		out.QtyTotal = l.QtyTotal
		out.QtyClaimed = l.QtyClaimed
		out.PerUserLimit = l.PerUserLimit
	}
	return out
}

// nullable is nil (JSON null) for "".
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// timeOrEmpty renders a Unix-millisecond time, or "" for 0 (unset), which
// protocol.Lot writes as null or omits.
func timeOrEmpty(ms int64) string {
	if ms == 0 {
		return ""
	}
	return msTime(ms)
}

func msTime(ms int64) string { return protocol.Time(time.UnixMilli(ms)) }

func walletOf(w ledger.Wallet) protocol.Wallet {
	return protocol.Wallet{Funded: w.Funded, Held: w.Held, Spent: w.Spent, Earned: w.Earned, Available: max(0, w.Available()),
		Version: w.Version, Owed: w.Owed, Frozen: w.Frozen(), PayoutPending: w.Paying}
}
