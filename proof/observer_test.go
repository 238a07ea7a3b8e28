package proof

import (
	"encoding/json"
	"testing"

	"github.com/lotzero/lotzero/proof/checker"
	"github.com/lotzero/lotzero/protocol"
)

// The observer records who acted, a bid's amount and the stated price,
// whatever the kind; what an event lacks stays zero.
func TestObservedReadsEachKind(t *testing.T) {
	cases := []struct {
		kind, data string
		actor      string
		amount     int64
		price      int64
	}{
		{"bid", `{"bidder":"alice","bidder_region":"eu-west-1","amount":800,"proxy":false,"high_bid":800,"high_bidder":"alice","min_next_bid":850,"bid_count":1,"reserve_met":true}`, "alice", 800, 0},
		{"claimed", `{"buyer":"bob","buyer_region":"us-east-1","qty":1,"price":950,"qty_claimed":1,"remaining":9}`, "bob", 0, 950},
		{"sold", `{"buyer":"carol","buyer_region":"us-east-1","qty":2,"price":120,"qty_claimed":2,"remaining":0}`, "carol", 0, 120},
		{"price_tick", `{"price":900,"step":2,"floor_price":500}`, "", 0, 900},
		{"opened", `{"status":"open","price":1000,"next_tick_at":"2026-11-26T17:17:01.260Z"}`, "", 0, 1000},
		{"settled", `{"proceeds":800,"qty_sold":1,"winner":"alice","price":800,"reserve_met":true}`, "", 0, 800},
		{"settled", `{"proceeds":240,"qty_sold":2}`, "", 0, 0},
		{"closed", `{"reason":"ended"}`, "", 0, 0},
	}
	for _, c := range cases {
		var op checker.Op
		observed(&op, &protocol.Event{Kind: c.kind, Data: json.RawMessage(c.data)})
		if op.Actor != c.actor || op.Amount != c.amount || op.Price != c.price {
			t.Errorf("%s %s: actor %q amount %d price %d", c.kind, c.data, op.Actor, op.Amount, op.Price)
		}
	}
}
