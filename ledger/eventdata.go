package ledger

import (
	"encoding/json"
	"fmt"
)

// EventData is the typed payload of one event kind. The transaction that
// emits an event builds one of these; it is encoded once, at emit, into
// Event.Data and the outbox. The JSON is the wire's: protocol/eventdata.go
// holds the same shapes for clients, and a hub test pins the two together.
type EventData interface {
	EventKind() string
}

// OpenedData reports a lot opening. Only the fields of its mechanic are
// set; the others are zero and omitted (every one of them is positive or a
// time when set, so omitempty drops exactly the other mechanics' fields).
type OpenedData struct {
	Status string `json:"status"`
	// English.
	EndsAt     string `json:"ends_at,omitempty"`
	StartPrice int64  `json:"start_price,omitempty"`
	// Dutch (Price, NextTickAt) and drop (Price, QtyTotal).
	Price      int64  `json:"price,omitempty"`
	NextTickAt string `json:"next_tick_at,omitempty"`
	QtyTotal   int64  `json:"qty_total,omitempty"`
}

// BidData reports a new high bid on an English lot. Proxy says a standing
// proxy maximum placed it; Outbid names the displaced high bidder, or is
// empty (and absent) when there was none.
type BidData struct {
	Bidder       string `json:"bidder"`
	BidderRegion string `json:"bidder_region"`
	Amount       int64  `json:"amount"`
	Proxy        bool   `json:"proxy"`
	HighBid      int64  `json:"high_bid"`
	HighBidder   string `json:"high_bidder"`
	MinNextBid   int64  `json:"min_next_bid"`
	BidCount     int64  `json:"bid_count"`
	ReserveMet   bool   `json:"reserve_met"`
	Outbid       string `json:"outbid,omitempty"`
}

// ExtendedData reports a soft-close extension of an English lot.
type ExtendedData struct {
	EndsAt     string `json:"ends_at"`
	ExtensionS int64  `json:"extension_s"`
}

// PriceTickData reports a Dutch step down. NextTickAt is empty (absent)
// when the price holds at the floor and no further step is scheduled.
type PriceTickData struct {
	Price      int64  `json:"price"`
	Step       int64  `json:"step"`
	FloorPrice int64  `json:"floor_price"`
	NextTickAt string `json:"next_tick_at,omitempty"`
}

// Sale is a purchase of units at a unit price: the payload of claimed
// (Dutch) and sold (drop), which differ only in kind.
type Sale struct {
	Buyer       string `json:"buyer"`
	BuyerRegion string `json:"buyer_region"`
	Qty         int64  `json:"qty"`
	Price       int64  `json:"price"` // per unit
	QtyClaimed  int64  `json:"qty_claimed"`
	Remaining   int64  `json:"remaining"`
}

// ClaimedData is a Dutch claim; SoldData a drop purchase.
type (
	ClaimedData Sale
	SoldData    Sale
)

// SoldOutData reports that the last unit sold.
type SoldOutData struct {
	QtyTotal int64 `json:"qty_total"`
}

// ClosedData reports a lot closing: Reason is ended, host, sold_out or floor.
type ClosedData struct {
	Reason string `json:"reason"`
}

// SettledData reports a settlement. English lots add EnglishSettlement
// (nil for the other mechanics, whose payload then lacks its fields).
type SettledData struct {
	Proceeds int64 `json:"proceeds"`
	QtySold  int64 `json:"qty_sold"`
	*EnglishSettlement
}

// EnglishSettlement is the outcome of an English lot. Winner is nil (JSON
// null, not absent) when nobody won: no bids, or the reserve was not met.
type EnglishSettlement struct {
	Winner     *string `json:"winner"`
	Price      int64   `json:"price"`
	ReserveMet bool    `json:"reserve_met"`
}

func (OpenedData) EventKind() string    { return EventOpened }
func (BidData) EventKind() string       { return EventBid }
func (ExtendedData) EventKind() string  { return EventExtended }
func (PriceTickData) EventKind() string { return EventPriceTick }
func (ClaimedData) EventKind() string   { return EventClaimed }
func (SoldData) EventKind() string      { return EventSold }
func (SoldOutData) EventKind() string   { return EventSoldOut }
func (ClosedData) EventKind() string    { return EventClosed }
func (SettledData) EventKind() string   { return EventSettled }

// eventDecoders decodes each kind's payload into its type.
var eventDecoders = map[string]func([]byte) (EventData, error){
	EventOpened:    decodeAs[OpenedData],
	EventBid:       decodeAs[BidData],
	EventExtended:  decodeAs[ExtendedData],
	EventPriceTick: decodeAs[PriceTickData],
	EventClaimed:   decodeAs[ClaimedData],
	EventSold:      decodeAs[SoldData],
	EventSoldOut:   decodeAs[SoldOutData],
	EventClosed:    decodeAs[ClosedData],
	EventSettled:   decodeAs[SettledData],
}

func decodeAs[T EventData](raw []byte) (EventData, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

// EventKinds lists every kind the ledger emits.
func EventKinds() []string {
	return []string{EventOpened, EventBid, EventExtended, EventPriceTick, EventClaimed, EventSold, EventSoldOut,
		EventClosed, EventSettled}
}

// DecodeEventData decodes an event's payload into its kind's type (a value,
// e.g. BidData). It reads what the outbox holds, including rows written
// before the payloads had types: their JSON is the same.
func DecodeEventData(kind string, raw []byte) (EventData, error) {
	decode, ok := eventDecoders[kind]
	if !ok {
		return nil, fmt.Errorf("ledger: unknown event kind %q", kind)
	}
	v, err := decode(raw)
	if err != nil {
		return nil, fmt.Errorf("ledger: decode %s event: %w", kind, err)
	}
	return v, nil
}

// DecodeData decodes the event's payload: see DecodeEventData.
func (e Event) DecodeData() (EventData, error) {
	if e.decoded != nil {
		return e.decoded, nil
	}
	return DecodeEventData(e.Kind, e.Data)
}
