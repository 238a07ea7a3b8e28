package hub

import (
	"encoding/json"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// This file is where a lot event changes form: a ledger event into the
// frame every session gets and into the firehose message other nodes get,
// and a firehose message back. Frames are built here and nowhere else.

// eventFrame encodes a ledger event as the protocol's event frame, once
// per event: the same bytes go to every session (live, gap fill and join
// replay alike). The payload is the ledger's encoded Data, passed through.
func eventFrame(ev ledger.Event) []byte {
	b, _ := json.Marshal(protocol.Event{
		Type: "event", Lot: ev.Lot.String(), Seq: ev.Seq, Kind: ev.Kind,
		At: protocol.Time(ev.At), Region: regionOrSystem(ev.Region), Data: ev.Data,
	})
	return b
}

// socialFrame encodes a chat, reaction or presence message as its event
// frame: social_seq instead of seq.
func socialFrame(m firehose.Message) []byte {
	b, _ := json.Marshal(protocol.Event{
		Type: "event", Lot: m.Lot, SocialSeq: m.Seq, Kind: m.Event, At: protocol.Time(m.At), Region: m.Region, Data: m.Data,
	})
	return b
}

// batchFrame encodes a room's coalesced social event frames, and the
// counts of what it did not show, as one batch frame.
func batchFrame(lot string, events [][]byte, suppressed map[string]int) []byte {
	raw := make([]json.RawMessage, len(events))
	for i, f := range events {
		raw[i] = f
	}
	b, _ := json.Marshal(protocol.Batch{Type: "batch", Lot: lot, Events: raw, Suppressed: suppressed})
	return b
}

// ledgerMessage is a committed ledger event as the firehose carries it,
// with the tally its leaderboards need read from the typed payload and the
// changed wallets for every node to push.
func ledgerMessage(ev ledger.Event) firehose.Message {
	m := firehose.Message{
		Kind: firehose.KindLedger, Lot: ev.Lot.String(), Seq: ev.Seq, Event: ev.Kind, At: ev.At,
		Region: regionOrSystem(ev.Region), Actor: ev.Actor, Data: ev.Data, Wallets: ev.Wallets,
		Tally: ledgerTally(ev),
	}
	if len(ev.Balances) > 0 {
		bs := make([]balance, len(ev.Balances))
		for i, w := range ev.Balances {
			bs[i] = balance{User: w.User, Funded: w.Funded, Held: w.Held, Spent: w.Spent, Earned: w.Earned, Version: w.Version,
				Owed: w.Owed, Paying: w.Paying}
		}
		m.Balances, _ = json.Marshal(bs)
	}
	return m
}

// balance is a changed wallet on its way to other nodes.
type balance struct {
	User    string `json:"user"`
	Funded  int64  `json:"funded"`
	Held    int64  `json:"held"`
	Spent   int64  `json:"spent"`
	Earned  int64  `json:"earned"`
	Version int64  `json:"version"`
	Owed    int64  `json:"owed,omitempty"`
	Paying  int64  `json:"paying,omitempty"`
}

// ledgerTally is what a bid or a purchase adds to the leaderboards; nil
// for every other kind (and for a payload that does not decode, which
// only costs a leaderboard line).
func ledgerTally(ev ledger.Event) *firehose.Tally {
	if ev.Kind != ledger.EventBid && ev.Kind != ledger.EventClaimed && ev.Kind != ledger.EventSold {
		return nil
	}
	data, err := ev.DecodeData()
	if err != nil {
		return nil
	}
	switch d := data.(type) {
	case ledger.BidData:
		return &firehose.Tally{User: d.Bidder, Bid: d.Amount}
	case ledger.ClaimedData:
		return saleTally(ledger.Sale(d))
	case ledger.SoldData:
		return saleTally(ledger.Sale(d))
	}
	return nil
}

func saleTally(s ledger.Sale) *firehose.Tally {
	return &firehose.Tally{User: s.Buyer, Units: s.Qty, Spent: s.Qty * s.Price}
}

// eventOf turns a relayed ledger message back into the ledger event.
func eventOf(m firehose.Message) (ledger.Event, bool) {
	lot, err := uuid.Parse(m.Lot)
	if err != nil {
		return ledger.Event{}, false
	}
	ev := ledger.Event{Lot: lot, Seq: m.Seq, Kind: m.Event, At: m.At, Region: m.Region, Actor: m.Actor,
		Data: m.Data, Wallets: m.Wallets}
	var bs []balance
	if len(m.Balances) > 0 && json.Unmarshal(m.Balances, &bs) == nil {
		for _, b := range bs {
			ev.Balances = append(ev.Balances, ledger.Wallet{User: b.User, Funded: b.Funded, Held: b.Held,
				Spent: b.Spent, Earned: b.Earned, Version: b.Version, Owed: b.Owed, Paying: b.Paying})
		}
	}
	return ev, true
}

func regionOrSystem(r string) string {
	if r == "" {
		return systemRegion
	}
	return r
}
