package protocol

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fullLot is a lot of the given kind with every field set, so nothing is
// left out for being zero.
func fullLot(kind string) Lot {
	s := func(v string) *string { return &v }
	return Lot{ID: "67c27e07-72e5-46b1-a141-8c4af2a81a33", Kind: kind, Title: "t", Host: "h", Status: "settled", Seq: 9,
		Watchers: 2, OpenedAt: "2026-11-26T17:17:00.260Z", ClosedAt: "2026-11-26T18:17:00.260Z",
		StartPrice: 1, HighBid: 2, HighBidder: s("a"), HighRegion: "eu-west-1", MinNextBid: 3, EndsAt: "2026-11-26T18:17:00.260Z",
		ExtensionS: 30, DurationS: 60, HardEndAt: "2026-11-26T18:17:00.260Z", ReserveMet: true, HasReserve: true, BidCount: 4,
		Winner: s("a"), Price: 5, Step: 6, StepIndex: 7, FloorPrice: 8, IntervalMS: 100, NextTickAt: "2026-11-26T18:17:00.260Z",
		FloorAction: "hold", QtyTotal: 10, QtyClaimed: 3, PerUserLimit: 2}
}

func lotKeys(t *testing.T, l Lot) []string {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLotFieldsAreTheDocumentedOnes: for each kind, the JSON of a lot has
// exactly the fields README.md lists for all lots and for that kind.
func TestLotFieldsAreTheDocumentedOnes(t *testing.T) {
	doc := readme(t)
	listed := map[string][]string{}
	field := regexp.MustCompile("`([a-z_]+)`")
	for _, line := range strings.Split(doc, "\n") {
		for _, kind := range []string{"all", "english", "dutch", "drop"} {
			if rest, ok := strings.CutPrefix(line, "- "+kind+": "); ok {
				for _, m := range field.FindAllStringSubmatch(rest, -1) {
					listed[kind] = append(listed[kind], m[1])
				}
			}
		}
	}
	if len(listed) != 4 {
		t.Fatalf("README.md lists lot fields for %d of 4 groups: %v", len(listed), listed)
	}
	for _, kind := range []string{"english", "dutch", "drop"} {
		want := slices.Concat(listed["all"], listed[kind])
		slices.Sort(want)
		if got := lotKeys(t, fullLot(kind)); !slices.Equal(got, want) {
			t.Errorf("%s lot JSON has %v;\nREADME.md documents %v", kind, got, want)
		}
	}
	// A lot not yet opened has no opened_at or closed_at.
	l := fullLot("drop")
	l.OpenedAt, l.ClosedAt = "", ""
	if got := lotKeys(t, l); slices.Contains(got, "opened_at") || slices.Contains(got, "closed_at") {
		t.Errorf("unset times are written: %v", got)
	}
}

// TestJoinExampleRoundTrips decodes the README's join reply strictly (so
// every field it shows is one protocol.Lot has) and encodes the lot back to
// the same JSON.
func TestJoinExampleRoundTrips(t *testing.T) {
	doc := readme(t)
	start := strings.Index(doc, `← {"type":"reply","re":"j1"`)
	if start < 0 {
		t.Fatal("README.md has no join reply example")
	}
	end := strings.Index(doc[start:], "```")
	example := strings.TrimPrefix(doc[start:start+end], "← ")
	var reply struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal([]byte(example), &reply); err != nil {
		t.Fatalf("the example does not parse: %v\n%s", err, example)
	}
	var res JoinResult
	dec := json.NewDecoder(bytes.NewReader(reply.Result))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("the example's result does not decode strictly: %v", err)
	}
	var shown struct {
		Lot json.RawMessage `json:"lot"`
	}
	_ = json.Unmarshal(reply.Result, &shown)
	again, _ := json.Marshal(res.Lot)
	var a, b any
	_ = json.Unmarshal(shown.Lot, &a)
	_ = json.Unmarshal(again, &b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("the example's lot\n %s\nencodes back as\n %s", shown.Lot, again)
	}
}
