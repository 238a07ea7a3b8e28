package protocol

import "encoding/json"

// Lot is a lot snapshot (GET /api/lots/{id}, POST /api/lots, join results).
// On the wire a lot has the common fields and then exactly its mechanic's
// fields, each present even when zero, false or null; the other
// mechanics' fields are absent. Because mechanics share field names
// (start_price: English and Dutch; price and the quantities: Dutch and
// drop), MarshalJSON writes the kind's set; decoding is plain, a field
// absent from the JSON staying zero.
type Lot struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"` // english | dutch | drop
	Title    string `json:"title"`
	Host     string `json:"host"`
	Status   string `json:"status"` // scheduled | open | closed | settled
	Seq      int64  `json:"seq"`
	Watchers int64  `json:"watchers"` // users present, across nodes
	// WatchersStale says Watchers is the last count this node knew: the
	// social store is unavailable (an extension of v1; absent when false).
	WatchersStale bool   `json:"watchers_stale,omitempty"`
	OpenedAt      string `json:"opened_at"` // "" (absent) until it opens
	ClosedAt      string `json:"closed_at"` // "" (absent) until it closes

	// English. The string fields below are null on the wire when "".
	StartPrice int64   `json:"start_price"` // English and Dutch
	HighBid    int64   `json:"high_bid"`    // 0 when none
	HighBidder *string `json:"high_bidder"` // nil (null) when none
	HighRegion string  `json:"high_region"`
	MinNextBid int64   `json:"min_next_bid"`
	EndsAt     string  `json:"ends_at"`
	ExtensionS int64   `json:"extension_s"`
	DurationS  int64   `json:"duration_s"`
	HardEndAt  string  `json:"hard_end_at"`
	ReserveMet bool    `json:"reserve_met"`
	HasReserve bool    `json:"has_reserve"` // the reserve itself stays hidden
	BidCount   int64   `json:"bid_count"`
	Winner     *string `json:"winner"` // nil (null) until won

	// Dutch (all of these) and drop (Price, QtyTotal, QtyClaimed,
	// PerUserLimit).
	Price        int64  `json:"price"`
	Step         int64  `json:"step"`       // the price decrement
	StepIndex    int64  `json:"step_index"` // steps taken
	FloorPrice   int64  `json:"floor_price"`
	IntervalMS   int64  `json:"interval_ms"`
	NextTickAt   string `json:"next_tick_at"` // null when no step is scheduled
	FloorAction  string `json:"floor_action"` // close | hold
	QtyTotal     int64  `json:"qty_total"`
	QtyClaimed   int64  `json:"qty_claimed"`
	PerUserLimit int64  `json:"per_user_limit"` // 0 = none
}

// The wire shapes MarshalJSON writes, one per mechanic over the common part.
type (
	lotCommon struct {
		ID       string `json:"id"`
		Kind     string `json:"kind"`
		Title    string `json:"title"`
		Host     string `json:"host"`
		Status   string `json:"status"`
		Seq      int64  `json:"seq"`
		Watchers int64  `json:"watchers"`
		Stale    bool   `json:"watchers_stale,omitempty"`
		OpenedAt string `json:"opened_at,omitempty"`
		ClosedAt string `json:"closed_at,omitempty"`
	}
	englishLot struct {
		lotCommon
		StartPrice int64   `json:"start_price"`
		HighBid    int64   `json:"high_bid"`
		HighBidder *string `json:"high_bidder"`
		HighRegion *string `json:"high_region"`
		MinNextBid int64   `json:"min_next_bid"`
		EndsAt     *string `json:"ends_at"`
		ExtensionS int64   `json:"extension_s"`
		DurationS  int64   `json:"duration_s"`
		HardEndAt  *string `json:"hard_end_at"`
		ReserveMet bool    `json:"reserve_met"`
		HasReserve bool    `json:"has_reserve"`
		BidCount   int64   `json:"bid_count"`
		Winner     *string `json:"winner"`
	}
	dutchLot struct {
		lotCommon
		Price       int64   `json:"price"`
		StartPrice  int64   `json:"start_price"`
		Step        int64   `json:"step"`
		StepIndex   int64   `json:"step_index"`
		FloorPrice  int64   `json:"floor_price"`
		IntervalMS  int64   `json:"interval_ms"`
		NextTickAt  *string `json:"next_tick_at"`
		FloorAction string  `json:"floor_action"`
		QtyTotal    int64   `json:"qty_total"`
		QtyClaimed  int64   `json:"qty_claimed"`
	}
	dropLot struct {
		lotCommon
		Price        int64 `json:"price"`
		QtyTotal     int64 `json:"qty_total"`
		QtyClaimed   int64 `json:"qty_claimed"`
		PerUserLimit int64 `json:"per_user_limit"`
	}
)

// MarshalJSON writes the common fields and those of the lot's kind.
func (l Lot) MarshalJSON() ([]byte, error) {
	c := lotCommon{ID: l.ID, Kind: l.Kind, Title: l.Title, Host: l.Host, Status: l.Status, Seq: l.Seq,
		Watchers: l.Watchers, Stale: l.WatchersStale, OpenedAt: l.OpenedAt, ClosedAt: l.ClosedAt}
	switch l.Kind {
	case "english":
		return json.Marshal(englishLot{lotCommon: c, StartPrice: l.StartPrice, HighBid: l.HighBid,
			HighBidder: l.HighBidder, HighRegion: nullable(l.HighRegion), MinNextBid: l.MinNextBid,
			EndsAt: nullable(l.EndsAt), ExtensionS: l.ExtensionS, DurationS: l.DurationS,
			HardEndAt: nullable(l.HardEndAt), ReserveMet: l.ReserveMet, HasReserve: l.HasReserve,
			BidCount: l.BidCount, Winner: l.Winner})
	case "dutch":
		return json.Marshal(dutchLot{lotCommon: c, Price: l.Price, StartPrice: l.StartPrice, Step: l.Step,
			StepIndex: l.StepIndex, FloorPrice: l.FloorPrice, IntervalMS: l.IntervalMS,
			NextTickAt: nullable(l.NextTickAt), FloorAction: l.FloorAction, QtyTotal: l.QtyTotal,
			QtyClaimed: l.QtyClaimed})
	case "drop":
		return json.Marshal(dropLot{lotCommon: c, Price: l.Price, QtyTotal: l.QtyTotal, QtyClaimed: l.QtyClaimed,
			PerUserLimit: l.PerUserLimit})
	}
	return json.Marshal(c)
}

// nullable is nil (null) for "", else a pointer to s.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
