package protocol

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const lotID = "0b6f3c1e-8a55-4c2e-9f4e-3d2b1a0c9e8f"

func TestParseRequestAccepts(t *testing.T) {
	cases := map[string]Request{
		`{"type":"bid","id":"1","lot":"` + lotID + `","amount":1500,"max":9000}`: {Type: "bid", ID: "1", Lot: lotID, Amount: 1500, Max: 9000},
		`{"type":"claim","id":"2","lot":"` + lotID + `"}`:                        {Type: "claim", ID: "2", Lot: lotID, Qty: 1},
		`{"type":"buy","id":"3","lot":"` + lotID + `","qty":2}`:                  {Type: "buy", ID: "3", Lot: lotID, Qty: 2},
		`{"type":"chat","id":"4","lot":"` + lotID + `","text":" hi "}`:           {Type: "chat", ID: "4", Lot: lotID, Text: "hi"},
		`{"type":"wallet","id":"5"}`:                                             {Type: "wallet", ID: "5"},
		`{"type":"ping","id":"✓"}`:                                               {Type: "ping", ID: "✓"},
	}
	for frame, want := range cases {
		got, err := ParseRequest([]byte(frame))
		if err != nil {
			t.Errorf("%s: %v", frame, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", frame, got, want)
		}
	}
	since := int64(7)
	got, err := ParseRequest([]byte(`{"type":"join","id":"j","lot":"` + lotID + `","since":7}`))
	if err != nil || got.Since == nil || *got.Since != since {
		t.Fatalf("join since: %+v %v", got, err)
	}
}

func TestParseRequestRefuses(t *testing.T) {
	for _, frame := range []string{
		``, `null`, `{}`, `"bid"`, `{"type":5,"id":"1"}`, `{"type":"bid","id":7}`,
		`{"type":"bid","id":"1","lot":"` + lotID + `","amount":1.0}`,
		`{"type":"bid","id":"1","lot":"` + lotID + `","amount":01}`,
		`{"type":"bid","id":"1","lot":"` + strings.ToUpper(lotID) + `","amount":1}`,
		`{"type":"buy","id":"1","lot":"` + lotID + `","qty":1000001}`,
		`{"type":"join","id":"1","lot":"` + lotID + `","since":-1}`,
		`{"type":"ping","id":"1","extra":true}`,
		"{\"type\":\"chat\",\"id\":\"1\",\"lot\":\"" + lotID + "\",\"text\":\"a\\u0007b\"}",
		string([]byte{'{', 0xff, '}'}),
	} {
		if _, err := ParseRequest([]byte(frame)); err == nil || err.Code != ErrBadRequest {
			t.Errorf("%q: want bad_request, got %v", frame, err)
		}
	}
}

// FuzzParseRequest: no input panics, every refusal is a bad_request with a
// message, and every accepted request survives a round trip unchanged with
// its values in range. The seed corpus is in testdata/fuzz.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"type":"bid","id":"1","lot":"` + lotID + `","amount":1500,"max":9000}`))
	f.Add([]byte(`{"type":"join","id":"j","lot":"` + lotID + `","since":0}`))
	f.Add([]byte(`{"type":"react","id":"r","lot":"` + lotID + `","emoji":"🔥"}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := ParseRequest(frame)
		if err != nil {
			if err.Code != ErrBadRequest || err.Message == "" {
				t.Fatalf("refusal %+v", err)
			}
			return
		}
		for _, v := range []int64{req.Amount, req.Max, req.Qty, req.MaxPrice} {
			if v < 0 || v > MaxAmount {
				t.Fatalf("accepted out-of-range value %d", v)
			}
		}
		if req.Type == "bid" && (req.Amount < 1 || req.Max != 0 && req.Max < req.Amount) {
			t.Fatalf("accepted bad bid %+v", req)
		}
		again, merr := json.Marshal(req)
		if merr != nil {
			t.Fatal(merr)
		}
		back, perr := ParseRequest(again)
		if perr != nil || !reflect.DeepEqual(back, req) {
			t.Fatalf("round trip: %+v -> %s -> %+v %v", req, again, back, perr)
		}
	})
}

func TestParseHello(t *testing.T) {
	if h, err := ParseHello([]byte(`{"type":"hello","token":"t","region":"eu-west-1"}`)); err != nil || h.Batch {
		t.Fatal(h, err)
	}
	if h, err := ParseHello([]byte(`{"type":"hello","token":"t","region":"eu-west-1","batch":true}`)); err != nil || !h.Batch {
		t.Fatal("a hello asking for batches:", h, err)
	}
	for frame, code := range map[string]string{
		`{"type":"hello","region":"eu-west-1"}`:                           ErrUnauthorized,
		`{"type":"ping","id":"1"}`:                                        ErrUnauthorized,
		`{"type":"hello","token":"t","region":"EU WEST"}`:                 ErrBadRequest,
		`{"type":"hello","token":"t"}`:                                    ErrBadRequest,
		`{"type":"hello","token":"t","region":"eu-west-1","batch":"yes"}`: ErrBadRequest,
		`nope`: ErrUnauthorized,
	} {
		if _, err := ParseHello([]byte(frame)); err == nil || err.Code != code {
			t.Errorf("%s: want %s, got %v", frame, code, err)
		}
	}
}

// TestParseHelloMalformedIsUnauthorized: a first frame that is not a
// well-formed hello is unauthorized (the socket closes with 4001), not a
// bad_request the client may follow with more frames.
func TestParseHelloMalformedIsUnauthorized(t *testing.T) {
	for _, frame := range []string{
		`nope`, `[]`, `{}`, `{"type":5}`, `{"type":"hello"} {}`,
		`{"type":"hello","token":"a","token":"b","region":"eu-west-1"}`,
	} {
		if _, err := ParseHello([]byte(frame)); err == nil || err.Code != ErrUnauthorized {
			t.Errorf("%s: want unauthorized, got %v", frame, err)
		}
	}
}

// TestParseRequestHardening: an explicit qty 0, duplicate keys, control
// characters and bidirectional overrides are refused.
func TestParseRequestHardening(t *testing.T) {
	for _, frame := range []string{
		`{"type":"claim","id":"1","lot":"` + lotID + `","qty":0}`,
		`{"type":"buy","id":"1","lot":"` + lotID + `","qty":0}`,
		`{"type":"bid","id":"1","lot":"` + lotID + `","amount":1,"amount":5000}`,
		`{"type":"bid","id":"1","id":"2","lot":"` + lotID + `","amount":1}`,
		`{"type":"bid","id":"1","lot":"` + lotID + `","amount":1,"\u0061mount":5000}`,
		`{"type":"ping","id":"a\u0000b"}`,
		`{"type":"ping","id":"a\u001bb"}`,
		`{"type":"ping","id":"a\u0085b"}`,
		`{"type":"ping","id":"a\u202eb"}`,
		`{"type":"ping","id":"a\n"}`,
		`{"type":"chat","id":"1","lot":"` + lotID + `","text":"evil\u202Etxt.exe"}`,
		`{"type":"chat","id":"1","lot":"` + lotID + `","text":"a\u2066b"}`,
		`{"type":"chat","id":"1","lot":"` + lotID + `","text":"a\u0000b"}`,
	} {
		if _, err := ParseRequest([]byte(frame)); err == nil || err.Code != ErrBadRequest {
			t.Errorf("%s: want bad_request, got %v", frame, err)
		}
	}
	// An absent qty is one; a chat line may still hold newlines and
	// directional marks.
	if r, err := ParseRequest([]byte(`{"type":"claim","id":"1","lot":"` + lotID + `"}`)); err != nil || r.Qty != 1 {
		t.Fatalf("claim without qty: %+v %v", r, err)
	}
	if _, err := ParseRequest([]byte(`{"type":"chat","id":"1","lot":"` + lotID + `","text":"a\nb\u200fc"}`)); err != nil {
		t.Fatalf("chat with a newline and a mark: %v", err)
	}
}

func TestDuplicateKey(t *testing.T) {
	for data, want := range map[string]string{
		`{"a":1,"b":2}`:             "",
		`{"a":{"b":1},"c":{"b":2}}`: "",
		`[{"a":1},{"a":1}]`:         "",
		`{"a":1,"a":2}`:             "a",
		`{"a":{"b":1,"b":2}}`:       "b",
		`[{"x":[{"y":1,"y":1}]}]`:   "y",
		`{"Amount":1,"amount":2}`:   "amount",
		`{"title":"x","TITLE":"y"}`: "TITLE",
		`{"\u0061":1,"a":2}`:        "a",
		`{"s":1,"\u017f":2}`:        "\u017f",
	} {
		got, err := DuplicateKey([]byte(data))
		if err != nil || got != want {
			t.Errorf("%s: got %q %v, want %q", data, got, err, want)
		}
	}
}
