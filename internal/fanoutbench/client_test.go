package fanoutbench

import (
	"encoding/json"
	"strings"
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

// A join reply gives its own seq (not the lot's), a refusal its error, and
// any other frame is passed over; a malformed reply is an error, never a
// frame waited past.
func TestJoinReplyReadsTheSeq(t *testing.T) {
	for _, c := range []struct {
		frame string
		seq   int64
		mine  bool
		err   string
	}{
		{`{"type":"welcome","server":{"node":"n1"}}`, 0, false, ""},
		{`{"type":"reply","re":"","ok":false,"error":{"code":"bad_request","message":"x"}}`, 0, false, ""},
		{`{"type":"reply","re":"join","ok":true,"result":{"lot":{"id":"l","seq":99},"seq":7,"presence":[{"user":"a","region":"r"}]}}`, 7, true, ""},
		{`{"type":"reply","re":"join","ok":true,"result":{"lot":{"id":"l","seq":0},"seq":0}}`, 0, true, ""},
		{`{"type":"reply","re":"join","ok":false,"error":{"code":"not_found","message":"no such lot"}}`, 0, true, "not_found"},
		{`{"type":"reply","re":"join","ok":false}`, 0, true, "without an error"},
		{`{"type":"reply","re":"join","ok":true,"result":{"lot":{"id":"l"}}}`, 0, true, "without a seq"},
		{`{"type":"reply","re":"join","ok":true,"result":{"seq":"7"}}`, 0, true, "join reply"},
		{`{"type":"reply","re":"join","ok":true,"result":[]}`, 0, true, "join reply"},
	} {
		seq, mine, err := joinReply([]byte(c.frame))
		if seq != c.seq || mine != c.mine || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: seq %d, mine %v, err %v; want %d, %v, %q", c.frame, seq, mine, err, c.seq, c.mine, c.err)
		}
	}
}
