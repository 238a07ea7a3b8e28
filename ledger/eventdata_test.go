package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
)

// payloadCases pairs each typed payload with the JSON the ledger wrote for
// it when payloads were maps (the outbox of an existing database holds
// exactly this): the same keys present or absent in the same cases, null
// where it was null. Key order is free.
var payloadCases = []struct {
	name string
	data EventData
	json string
}{
	{"opened english", OpenedData{Status: StatusOpen, EndsAt: "2026-11-26T18:17:00.260Z", StartPrice: 50000},
		`{"status":"open","ends_at":"2026-11-26T18:17:00.260Z","start_price":50000}`},
	{"opened dutch", OpenedData{Status: StatusOpen, Price: 10000, NextTickAt: "2026-11-26T17:17:01.260Z"},
		`{"status":"open","price":10000,"next_tick_at":"2026-11-26T17:17:01.260Z"}`},
	{"opened drop", OpenedData{Status: StatusOpen, Price: 12000, QtyTotal: 100},
		`{"status":"open","price":12000,"qty_total":100}`},
	{"bid", BidData{Bidder: "alice", BidderRegion: "eu-west-1", Amount: 80000, Proxy: true, HighBid: 80000,
		HighBidder: "alice", MinNextBid: 81000, BidCount: 2},
		`{"amount":80000,"bid_count":2,"bidder":"alice","bidder_region":"eu-west-1","high_bid":80000,"high_bidder":"alice",
		  "min_next_bid":81000,"proxy":true,"reserve_met":false}`},
	{"bid outbidding", BidData{Bidder: "bob", BidderRegion: "ap-southeast-1", Amount: 90000, HighBid: 90000,
		HighBidder: "bob", MinNextBid: 91000, BidCount: 3, ReserveMet: true, Outbid: "alice"},
		`{"amount":90000,"bid_count":3,"bidder":"bob","bidder_region":"ap-southeast-1","high_bid":90000,"high_bidder":"bob",
		  "min_next_bid":91000,"outbid":"alice","proxy":false,"reserve_met":true}`},
	{"extended", ExtendedData{EndsAt: "2026-11-26T18:17:30.000Z", ExtensionS: 30},
		`{"ends_at":"2026-11-26T18:17:30.000Z","extension_s":30}`},
	{"price_tick", PriceTickData{Price: 9500, Step: 1, FloorPrice: 5000, NextTickAt: "2026-11-26T17:17:02.260Z"},
		`{"price":9500,"step":1,"floor_price":5000,"next_tick_at":"2026-11-26T17:17:02.260Z"}`},
	{"price_tick held at the floor", PriceTickData{Price: 5000, Step: 10, FloorPrice: 5000},
		`{"price":5000,"step":10,"floor_price":5000}`},
	{"claimed", ClaimedData{Buyer: "carol", BuyerRegion: "us-east-1", Qty: 2, Price: 9500, QtyClaimed: 2, Remaining: 8},
		`{"buyer":"carol","qty":2,"price":9500,"buyer_region":"us-east-1","qty_claimed":2,"remaining":8}`},
	{"sold", SoldData{Buyer: "dave", BuyerRegion: "sa-east-1", Qty: 1, Price: 12000, QtyClaimed: 100, Remaining: 0},
		`{"buyer":"dave","qty":1,"price":12000,"buyer_region":"sa-east-1","qty_claimed":100,"remaining":0}`},
	{"sold_out", SoldOutData{QtyTotal: 100}, `{"qty_total":100}`},
	{"closed", ClosedData{Reason: "sold_out"}, `{"reason":"sold_out"}`},
	{"settled english won", SettledData{Proceeds: 90000, QtySold: 1,
		EnglishSettlement: &EnglishSettlement{Winner: strp("bob"), Price: 90000, ReserveMet: true}},
		`{"proceeds":90000,"qty_sold":1,"winner":"bob","price":90000,"reserve_met":true}`},
	{"settled english unsold", SettledData{EnglishSettlement: &EnglishSettlement{}},
		`{"proceeds":0,"qty_sold":0,"winner":null,"price":0,"reserve_met":false}`},
	{"settled dutch or drop", SettledData{Proceeds: 36000, QtySold: 3}, `{"proceeds":36000,"qty_sold":3}`},
}

func strp(s string) *string { return &s }

func TestEventPayloadsKeepTheirJSON(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range payloadCases {
		got, err := json.Marshal(c.data)
		mustOK(t, err)
		if !sameJSON(t, got, []byte(c.json)) {
			t.Errorf("%s encodes as\n %s\nwant\n %s", c.name, got, c.json)
		}
		back, err := DecodeEventData(c.data.EventKind(), []byte(c.json))
		mustOK(t, err)
		if !reflect.DeepEqual(back, c.data) {
			t.Errorf("%s decodes as %#v, want %#v", c.name, back, c.data)
		}
		seen[c.data.EventKind()] = true
	}
	for _, k := range EventKinds() {
		if !seen[k] {
			t.Errorf("no payload case for kind %s", k)
		}
		if _, ok := eventDecoders[k]; !ok {
			t.Errorf("no decoder for kind %s", k)
		}
	}
	if len(eventDecoders) != len(EventKinds()) {
		t.Errorf("%d decoders for %d kinds", len(eventDecoders), len(EventKinds()))
	}
	if _, err := DecodeEventData("nope", []byte(`{}`)); err == nil {
		t.Error("an unknown kind decoded")
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	dec := func(b []byte) any {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		mustOK(t, d.Decode(&v))
		return v
	}
	return reflect.DeepEqual(dec(a), dec(b))
}

// TestReturnedEventsDecodeAsStored: the events an operation returns answer
// DecodeData from what the ledger encoded, which is what their stored JSON
// decodes to.
func TestReturnedEventsDecodeAsStored(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	l.user("ann", 10_000)
	lot := l.lot(LotSpec{Kind: KindDrop, Title: "pins", Price: 10, Qty: 2})
	_, events, err := l.BuyDrop(ctx, l.as("ann"), lot, 2) // sold, sold out, closed, settled
	mustOK(t, err)
	if len(events) < 2 {
		t.Fatalf("%d events, want the sale and the sell-out", len(events))
	}
	for _, ev := range events {
		if ev.decoded == nil {
			t.Errorf("%s: returned without its decoded data", ev.Kind)
		}
		got, err := ev.DecodeData()
		mustOK(t, err)
		stored, err := DecodeEventData(ev.Kind, ev.Data)
		mustOK(t, err)
		if !reflect.DeepEqual(got, stored) {
			t.Errorf("%s: decoded %+v, stored %+v", ev.Kind, got, stored)
		}
	}
}
