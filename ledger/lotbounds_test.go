package ledger

import "testing"

// TestDutchLotBounds: a Dutch lot's steps and run are bounded, so one host
// cannot schedule events without end (issue 11: 100 ms and ~2^53 steps).
func TestDutchLotBounds(t *testing.T) {
	ok := LotSpec{Kind: KindDutch, Title: "x", StartPrice: 1_000_000, FloorPrice: 1, Step: 100, IntervalMS: 100, Qty: 1}
	if err := ok.validate(); err != nil {
		t.Fatalf("10,000 steps of 100 ms: %v", err)
	}
	for name, s := range map[string]LotSpec{
		"2^53 steps":      {Kind: KindDutch, Title: "x", StartPrice: MaxAmount, FloorPrice: 1, Step: 1, IntervalMS: 100, Qty: 1},
		"10,001 steps":    {Kind: KindDutch, Title: "x", StartPrice: 10_002, FloorPrice: 1, Step: 1, IntervalMS: 100, Qty: 1},
		"a 41-day run":    {Kind: KindDutch, Title: "x", StartPrice: 1_000, FloorPrice: 1, Step: 1, IntervalMS: 3_600_000, Qty: 1},
		"interval 99 ms":  {Kind: KindDutch, Title: "x", StartPrice: 1_000, FloorPrice: 1, Step: 10, IntervalMS: 99, Qty: 1},
		"english 31 days": {Kind: KindEnglish, Title: "x", StartPrice: 1, DurationS: 31 * 24 * 3600},
		"extension 2 h":   {Kind: KindEnglish, Title: "x", StartPrice: 1, DurationS: 60, ExtensionS: 7200},
	} {
		if err := s.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
