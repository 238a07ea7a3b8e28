package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Event kinds. The ledger's (EventOpened … EventSettled) carry seq; the
// social ones (EventChat, EventReaction, EventPresence) carry social_seq.
const (
	EventOpened    = "opened"
	EventBid       = "bid"
	EventExtended  = "extended"
	EventPriceTick = "price_tick"
	EventClaimed   = "claimed"
	EventSold      = "sold"
	EventSoldOut   = "sold_out"
	EventClosed    = "closed"
	EventSettled   = "settled"

	EventChat     = "chat"
	EventReaction = "reaction"
	EventPresence = "presence"
)

// EventData is the typed data of one event kind: see Event.DecodeData.
type EventData interface {
	EventKind() string
}

// OpenedData: a lot opened. Only its mechanic's fields are present:
// EndsAt and StartPrice (English), Price and NextTickAt (Dutch), Price and
// QtyTotal (drop).
type OpenedData struct {
	Status     string `json:"status"`
	EndsAt     string `json:"ends_at,omitempty"`
	StartPrice int64  `json:"start_price,omitempty"`
	Price      int64  `json:"price,omitempty"`
	NextTickAt string `json:"next_tick_at,omitempty"`
	QtyTotal   int64  `json:"qty_total,omitempty"`
}

// BidData: a new high bid. Proxy says a proxy maximum placed it; Outbid
// names the displaced high bidder ("" when there was none).
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

// ExtendedData: an English lot's end moved by its soft close.
type ExtendedData struct {
	EndsAt     string `json:"ends_at"`
	ExtensionS int64  `json:"extension_s"`
}

// PriceTickData: a Dutch step down. NextTickAt is "" (absent) while the
// price holds at the floor.
type PriceTickData struct {
	Price      int64  `json:"price"`
	Step       int64  `json:"step"`
	FloorPrice int64  `json:"floor_price"`
	NextTickAt string `json:"next_tick_at,omitempty"`
}

// Sale is the data of claimed (Dutch) and sold (drop): units bought at a
// unit Price.
type Sale struct {
	Buyer       string `json:"buyer"`
	BuyerRegion string `json:"buyer_region"`
	Qty         int64  `json:"qty"`
	Price       int64  `json:"price"`
	QtyClaimed  int64  `json:"qty_claimed"`
	Remaining   int64  `json:"remaining"`
}

// ClaimedData is a Dutch claim, SoldData a drop purchase; Sale(d) reads
// either.
type (
	ClaimedData Sale
	SoldData    Sale
)

// SoldOutData: the last unit sold.
type SoldOutData struct {
	QtyTotal int64 `json:"qty_total"`
}

// ClosedData: the lot closed; Reason is ended, host, sold_out or floor.
type ClosedData struct {
	Reason string `json:"reason"`
}

// SettledData: the lot settled. EnglishSettlement is set for English lots
// only (check it before reading Winner, Price or ReserveMet).
type SettledData struct {
	Proceeds int64 `json:"proceeds"`
	QtySold  int64 `json:"qty_sold"`
	*EnglishSettlement
}

// EnglishSettlement: Winner is nil (null) when nobody won.
type EnglishSettlement struct {
	Winner     *string `json:"winner"`
	Price      int64   `json:"price"`
	ReserveMet bool    `json:"reserve_met"`
}

// ChatData: a chat line.
type ChatData struct {
	User   string `json:"user"`
	Region string `json:"region"`
	Text   string `json:"text"`
}

// ReactionData: an emoji reaction.
type ReactionData struct {
	User   string `json:"user"`
	Region string `json:"region"`
	Emoji  string `json:"emoji"`
}

// PresenceData: who arrived and left since the last presence event, and
// how many users are present now. Joined and Left name at most
// MaxPresenceChange users each; MoreJoined and MoreLeft count the rest (an
// extension of v1: when a crowd arrives, naming everyone to everyone would
// cost each member the whole crowd's names every interval).
type PresenceData struct {
	Joined     []Presence `json:"joined"`
	Left       []Presence `json:"left"`
	Count      int        `json:"count"`
	MoreJoined int        `json:"more_joined,omitempty"`
	MoreLeft   int        `json:"more_left,omitempty"`
}

// MaxPresenceChange is the most users a presence event names as joined (or
// as left).
const MaxPresenceChange = 20

func (OpenedData) EventKind() string    { return EventOpened }
func (BidData) EventKind() string       { return EventBid }
func (ExtendedData) EventKind() string  { return EventExtended }
func (PriceTickData) EventKind() string { return EventPriceTick }
func (ClaimedData) EventKind() string   { return EventClaimed }
func (SoldData) EventKind() string      { return EventSold }
func (SoldOutData) EventKind() string   { return EventSoldOut }
func (ClosedData) EventKind() string    { return EventClosed }
func (SettledData) EventKind() string   { return EventSettled }
func (ChatData) EventKind() string      { return EventChat }
func (ReactionData) EventKind() string  { return EventReaction }
func (PresenceData) EventKind() string  { return EventPresence }

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
	EventChat:      decodeAs[ChatData],
	EventReaction:  decodeAs[ReactionData],
	EventPresence:  decodeAs[PresenceData],
}

func decodeAs[T EventData](raw []byte) (EventData, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

// ErrUnknownKind is wrapped by DecodeEventData for a kind this package does
// not know: a newer server's. Clients should skip such events.
var ErrUnknownKind = errors.New("unknown event kind")

// DecodeEventData decodes an event's data into its kind's type, a value
// such as BidData. Unknown fields are ignored, as the contract may add
// optional ones.
func DecodeEventData(kind string, raw []byte) (EventData, error) {
	decode, ok := eventDecoders[kind]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKind, kind)
	}
	v, err := decode(raw)
	if err != nil {
		return nil, fmt.Errorf("decode %s data: %w", kind, err)
	}
	return v, nil
}

// DecodeData decodes the event's data: see DecodeEventData.
//
//	d, err := m.Event.DecodeData()
//	if bid, ok := d.(protocol.BidData); ok { … }
func (e *Event) DecodeData() (EventData, error) { return DecodeEventData(e.Kind, e.Data) }
