package hub

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
)

// snapshotSamples are lots in the states a snapshot must show: each
// mechanic before opening, open with and without bids, held at a floor,
// and settled.
func snapshotSamples() map[string]*ledger.Lot {
	const t0 = int64(1_795_000_000_000) // 2026-11-18T11:06:40Z
	id := uuid.MustParse("67c27e07-72e5-46b1-a141-8c4af2a81a33")
	return map[string]*ledger.Lot{
		"english_scheduled": {ID: id, Kind: ledger.KindEnglish, Title: "Leica", Host: "auctioneer", Status: ledger.StatusScheduled,
			StartPrice: 50_000, DurationS: 3600, ExtensionS: 30},
		"english_open_no_bids": {ID: id, Kind: ledger.KindEnglish, Title: "Leica", Host: "auctioneer", Status: ledger.StatusOpen,
			Seq: 1, OpenedAtMS: t0, StartPrice: 50_000, Reserve: 70_000, DurationS: 3600, ExtensionS: 30, EndsAtMS: t0 + 3_600_000},
		"english_open_bids": {ID: id, Kind: ledger.KindEnglish, Title: "Leica", Host: "auctioneer", Status: ledger.StatusOpen,
			Seq: 4, OpenedAtMS: t0, StartPrice: 50_000, Reserve: 70_000, HighBid: 80_000, HighBidder: "alice", HighMax: 90_000,
			HighRegion: "eu-west-1", BidCount: 3, DurationS: 3600, ExtensionS: 30, HardEndS: 7200,
			EndsAtMS: t0 + 3_600_000, HardEndAtMS: t0 + 7_200_000},
		"english_settled": {ID: id, Kind: ledger.KindEnglish, Title: "Leica", Host: "auctioneer", Status: ledger.StatusSettled,
			Seq: 6, OpenedAtMS: t0, ClosedAtMS: t0 + 3_600_000, StartPrice: 50_000, HighBid: 80_000, HighBidder: "alice",
			HighRegion: "eu-west-1", BidCount: 1, DurationS: 3600, ExtensionS: 30, EndsAtMS: t0 + 3_600_000,
			Price: 80_000, QtyClaimed: 1, Proceeds: 80_000, Winner: "alice"},
		"dutch_open": {ID: id, Kind: ledger.KindDutch, Title: "Tea", Host: "auctioneer", Status: ledger.StatusOpen, Seq: 3,
			OpenedAtMS: t0, StartPrice: 10_000, Price: 9_000, Step: 500, FloorPrice: 5_000, IntervalMS: 1000, StepIndex: 2,
			NextTickAtMS: t0 + 3000, FloorAction: ledger.FloorClose, QtyTotal: 10, QtyClaimed: 2},
		"dutch_held_floor": {ID: id, Kind: ledger.KindDutch, Title: "Tea", Host: "auctioneer", Status: ledger.StatusOpen, Seq: 12,
			OpenedAtMS: t0, StartPrice: 10_000, Price: 5_000, Step: 500, FloorPrice: 5_000, IntervalMS: 1000, StepIndex: 10,
			FloorAction: ledger.FloorHold, QtyTotal: 10},
		"drop_open": {ID: id, Kind: ledger.KindDrop, Title: "Sneakers", Host: "auctioneer", Status: ledger.StatusOpen, Seq: 1,
			OpenedAtMS: t0, Price: 12_000, QtyTotal: 100, QtyClaimed: 7, PerUserLimit: 2},
		"drop_settled_no_limit": {ID: id, Kind: ledger.KindDrop, Title: "Sneakers", Host: "auctioneer", Status: ledger.StatusSettled,
			Seq: 9, OpenedAtMS: t0, ClosedAtMS: t0 + 60_000, Price: 12_000, QtyTotal: 3, QtyClaimed: 3, Proceeds: 36_000},
	}
}

// TestSnapshotGolden pins the snapshot's JSON for every mechanic and state
// to what the web UI and bots read (testdata/snapshot.golden.json, written
// from the snapshot as it was a map): same keys, same values, null where
// null. Key order is free.
func TestSnapshotGolden(t *testing.T) {
	got := map[string]json.RawMessage{}
	for name, l := range snapshotSamples() {
		b, err := json.Marshal(snapshot(l, 2))
		if err != nil {
			t.Fatal(err)
		}
		got[name] = b
	}
	raw, err := os.ReadFile("testdata/snapshot.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]json.RawMessage
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("golden has %d samples, the test %d", len(want), len(got))
	}
	for name, w := range want {
		if !sameJSON(t, w, got[name]) {
			t.Errorf("%s:\n got  %s\n want %s", name, got[name], compact(w))
		}
	}
}

// sameJSON reports whether two JSON texts hold the same value, numbers
// compared exactly.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	return reflect.DeepEqual(decodeJSON(t, a), decodeJSON(t, b))
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func compact(b []byte) string {
	var buf bytes.Buffer
	_ = json.Compact(&buf, b)
	return buf.String()
}
