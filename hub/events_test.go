package hub

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

func sampleEvent(t *testing.T, data ledger.EventData) ledger.Event {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.Event{Lot: uuid.MustParse("67c27e07-72e5-46b1-a141-8c4af2a81a33"), Seq: 7, Kind: data.EventKind(),
		At: time.UnixMilli(1_795_000_000_123), Actor: "bob", Data: raw, Wallets: []string{"bob"}}
}

// The frame passes the ledger's bytes through untouched and tags a
// regionless (ticker, closer) event as system.
func TestEventFramePassesDataThrough(t *testing.T) {
	ev := sampleEvent(t, ledger.ClosedData{Reason: "ended"})
	var f protocol.Event
	if err := json.Unmarshal(eventFrame(ev), &f); err != nil {
		t.Fatal(err)
	}
	want := protocol.Event{Type: "event", Lot: ev.Lot.String(), Seq: 7, Kind: "closed", At: "2026-11-18T11:06:40.123Z",
		Region: "system", Data: ev.Data}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("frame %+v, want %+v", f, want)
	}
}

// A relayed message comes back as the same event, and bids and purchases
// carry the tallies the firehose's leaderboards count.
func TestLedgerMessageTallies(t *testing.T) {
	cases := []struct {
		data ledger.EventData
		want *firehose.Tally
	}{
		{ledger.BidData{Bidder: "bob", Amount: 900, Outbid: "alice"}, &firehose.Tally{User: "bob", Bid: 900}},
		{ledger.ClaimedData{Buyer: "carol", Qty: 3, Price: 250}, &firehose.Tally{User: "carol", Units: 3, Spent: 750}},
		{ledger.SoldData{Buyer: "dave", Qty: 2, Price: 100}, &firehose.Tally{User: "dave", Units: 2, Spent: 200}},
		{ledger.SoldOutData{QtyTotal: 5}, nil},
		{ledger.SettledData{Proceeds: 1}, nil},
	}
	for _, c := range cases {
		ev := sampleEvent(t, c.data)
		ev.Region = "eu-west-1"
		m := ledgerMessage(ev)
		if !reflect.DeepEqual(m.Tally, c.want) {
			t.Errorf("%s: tally %+v, want %+v", ev.Kind, m.Tally, c.want)
		}
		back, ok := eventOf(m)
		if !ok || !reflect.DeepEqual(back, ev) {
			t.Errorf("%s: back from the firehose %+v, want %+v", ev.Kind, back, ev)
		}
	}
}
