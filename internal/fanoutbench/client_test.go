package fanoutbench

import (
	"encoding/json"
	"testing"

	"github.com/lotzero/lotzero/protocol"
)

// The head scan must read what a JSON decode reads from the frames the
// server encodes, including data that repeats the field names.
func TestEventHeadReadsTheEncodedEvent(t *testing.T) {
	for _, ev := range []protocol.Event{
		{Type: "event", Lot: "9f1c2f7e-5d1e-4a33-9d43-0b8c9c1b2a10", Seq: 42, Kind: "bid", At: "2026-11-27T09:00:00.123Z", Region: "eu-west-1",
			Data: json.RawMessage(`{"amount":500,"bidder":"u","seq":7,"kind":"chat"}`)},
		{Type: "event", Lot: "l", SocialSeq: 9, Kind: "chat", At: "t", Region: "r", Data: json.RawMessage(`{"text":"\"seq\":5"}`)},
		{Type: "event", Lot: "l", Seq: 1234567, SocialSeq: 3, Kind: "purchase", At: "t", Region: "r", Data: json.RawMessage(`{}`)},
	} {
		frame, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		kind, seq := eventHead(frame)
		if kind != ev.Kind || seq != ev.Seq {
			t.Errorf("eventHead(%s) = %q, %d; want %q, %d", frame, kind, seq, ev.Kind, ev.Seq)
		}
	}
}
