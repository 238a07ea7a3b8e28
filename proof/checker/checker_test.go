package checker

import (
	"bytes"
	"strings"
	"testing"
)

func w(funded, held, spent, earned int64) Wallet {
	return Wallet{Funded: funded, Held: held, Spent: spent, Earned: earned, Available: funded + earned - held - spent}
}

func strp(s string) *string { return &s }

// oversellRun is a sound run: 3 buyers rush a drop of 2 units at 100.
func oversellRun() ([]Op, Final) {
	ops := []Op{
		{Process: 0, Type: Invoke, F: "buy", User: "a", ID: "1", Qty: 1},
		{Process: 1, Type: Invoke, F: "buy", User: "b", ID: "1", Qty: 1},
		{Process: 2, Type: Invoke, F: "buy", User: "c", ID: "1", Qty: 1},
		{Process: 0, Type: OK, F: "buy", User: "a", ID: "1", Qty: 1, Price: 100, Seq: 2},
		{Process: 1, Type: OK, F: "buy", User: "b", ID: "1", Qty: 1, Price: 100, Seq: 3},
		{Process: 2, Type: Fail, F: "buy", User: "c", ID: "1", Code: "sold_out"},
		{Process: 0, Type: Read, F: "wallet", User: "a", Wallet: &Wallet{Funded: 1000, Spent: 100, Available: 900}},
	}
	f := Final{Scenario: "oversell", N: 3, K: 2, Host: "h", Price: 100, Audit: Audit{OK: true},
		Lots: []Lot{{ID: "L", Kind: "drop", Status: "settled", QtyTotal: 2, QtyClaimed: 2, Seq: 6}},
		Wallets: map[string]Pair{
			"a": {Before: w(1000, 0, 0, 0), After: w(1000, 0, 100, 0)},
			"b": {Before: w(1000, 0, 0, 0), After: w(1000, 0, 100, 0)},
			"c": {Before: w(1000, 0, 0, 0), After: w(1000, 0, 0, 0)},
			"h": {Before: w(1, 0, 0, 0), After: w(1, 0, 0, 200)},
		}}
	return ops, f
}

func mustPass(t *testing.T, ops []Op, f Final) {
	t.Helper()
	if r := Check(ops, f); !r.OK {
		t.Fatalf("a sound run failed: %v", r.Violations)
	}
}

func mustCatch(t *testing.T, ops []Op, f Final, want string) {
	t.Helper()
	r := Check(ops, f)
	if r.OK {
		t.Fatalf("the checker missed %q", want)
	}
	for _, v := range r.Violations {
		if strings.Contains(v, want) {
			return
		}
	}
	t.Fatalf("violations %v do not mention %q", r.Violations, want)
}

func TestCheckerPassesSoundOversell(t *testing.T) {
	ops, f := oversellRun()
	mustPass(t, ops, f)
	r := Check(ops, f)
	if r.Succeeded != 2 || r.Rejected["sold_out"] != 1 || r.Sold != 2 {
		t.Fatalf("counts: %+v", r)
	}
}

func TestCheckerCatchesOversell(t *testing.T) {
	ops, f := oversellRun()
	// c also got a unit: three sold of two.
	ops[5] = Op{Process: 2, Type: OK, F: "buy", User: "c", ID: "1", Qty: 1, Price: 100, Seq: 4}
	f.Lots[0].QtyClaimed = 3
	f.Wallets["c"] = Pair{Before: w(1000, 0, 0, 0), After: w(1000, 0, 100, 0)}
	f.Wallets["h"] = Pair{Before: w(1, 0, 0, 0), After: w(1, 0, 0, 300)}
	mustCatch(t, ops, f, "OVERSELL")
	if r := Check(ops, f); r.Oversells != 1 || r.DoubleSpends != 0 {
		t.Fatalf("oversells %d, double spends %d", r.Oversells, r.DoubleSpends)
	}
}

func TestCheckerCatchesFailureThatMovedMoney(t *testing.T) {
	ops, f := oversellRun()
	f.Wallets["c"] = Pair{Before: w(1000, 0, 0, 0), After: w(1000, 0, 100, 0)}
	mustCatch(t, ops, f, "failed")
}

func TestCheckerCatchesShortSale(t *testing.T) {
	ops, f := oversellRun()
	ops[4] = Op{Process: 1, Type: Fail, F: "buy", User: "b", ID: "1", Code: "sold_out"}
	f.Lots[0].QtyClaimed = 1
	f.Wallets["b"] = Pair{Before: w(1000, 0, 0, 0), After: w(1000, 0, 0, 0)}
	f.Wallets["h"] = Pair{Before: w(1, 0, 0, 0), After: w(1, 0, 0, 100)}
	mustCatch(t, ops, f, "exactly 2")
}

func TestCheckerUnknownOutcomesCountEitherWay(t *testing.T) {
	ops, f := oversellRun()
	// b's outcome is unknown (connection lost): the sale may have happened.
	ops[4] = Op{Process: 1, Type: Info, F: "buy", User: "b", ID: "1", Code: "connection lost"}
	mustPass(t, ops, f)
	// ... or not.
	f.Lots[0].QtyClaimed = 1
	f.Wallets["b"] = Pair{Before: w(1000, 0, 0, 0), After: w(1000, 0, 0, 0)}
	f.Wallets["h"] = Pair{Before: w(1, 0, 0, 0), After: w(1, 0, 0, 100)}
	mustPass(t, ops, f)
}

func TestCheckerCatchesDoubleSpend(t *testing.T) {
	f := Final{Scenario: "double-spend", N: 2, K: 1, Host: "h", Price: 500, Audit: Audit{OK: true},
		Lots: []Lot{{ID: "A", Status: "settled", QtyTotal: 1, QtyClaimed: 1}, {ID: "B", Status: "settled", QtyTotal: 1, QtyClaimed: 1}},
		Wallets: map[string]Pair{
			"s": {Before: w(500, 0, 0, 0), After: w(500, 0, 1000, 0)},
			"h": {Before: w(1, 0, 0, 0), After: w(1, 0, 0, 1000)},
		}}
	ops := []Op{
		{Process: 0, Type: Invoke, F: "buy", User: "s", ID: "1", Lot: "A"},
		{Process: 1, Type: Invoke, F: "buy", User: "s", ID: "2", Lot: "B"},
		{Process: 0, Type: OK, F: "buy", User: "s", ID: "1", Lot: "A", Price: 500, Qty: 1},
		{Process: 1, Type: OK, F: "buy", User: "s", ID: "2", Lot: "B", Price: 500, Qty: 1},
		{Process: 1, Type: Read, F: "wallet", User: "s", Wallet: &Wallet{Funded: 500, Spent: 1000, Available: -500}},
	}
	mustCatch(t, ops, f, "DOUBLE SPEND")
	mustCatch(t, ops, f, "impossible wallet")
	// One purchase past the funds, one wallet read below zero, another
	// wallet impossible after the race: the console's counter says 3.
	if r := Check(ops, f); r.DoubleSpends != 3 || r.Oversells != 0 {
		t.Fatalf("double spends %d, oversells %d", r.DoubleSpends, r.Oversells)
	}
}

// englishRun is a sound English run: a bids 100, b outbids at 150, b wins.
func englishRun() ([]Op, Final) {
	ops := []Op{
		{Process: 0, Type: Invoke, F: "bid", User: "a", ID: "1", Amount: 100},
		{Process: 0, Type: OK, F: "bid", User: "a", ID: "1", Amount: 100, High: true, Seq: 2},
		{Process: 1, Type: Invoke, F: "bid", User: "b", ID: "1", Amount: 150},
		{Process: 1, Type: OK, F: "bid", User: "b", ID: "1", Amount: 150, High: true, Seq: 3},
		{Process: 9, Type: Read, F: "event", Lot: "L", Seq: 1, Kind: "opened"},
		{Process: 9, Type: Read, F: "event", Lot: "L", Seq: 2, Kind: "bid", Actor: "a", Amount: 100},
		{Process: 9, Type: Read, F: "event", Lot: "L", Seq: 3, Kind: "bid", Actor: "b", Amount: 150},
		{Process: 9, Type: Read, F: "event", Lot: "L", Seq: 4, Kind: "closed"},
		{Process: 9, Type: Read, F: "event", Lot: "L", Seq: 5, Kind: "settled"},
	}
	f := Final{Scenario: "english", N: 2, Host: "h", Audit: Audit{OK: true},
		Lots: []Lot{{ID: "L", Kind: "english", Status: "settled", Seq: 5, HighBid: 150, HighBidder: strp("b"), Winner: strp("b")}},
		Wallets: map[string]Pair{
			"a": {Before: w(1000, 0, 0, 0), After: w(1000, 0, 0, 0)},
			"b": {Before: w(1000, 0, 0, 0), After: w(1000, 0, 150, 0)},
			"h": {Before: w(1, 0, 0, 0), After: w(1, 0, 0, 150)},
		}}
	return ops, f
}

func TestCheckerPassesSoundEnglish(t *testing.T) {
	ops, f := englishRun()
	mustPass(t, ops, f)
}

func TestCheckerCatchesNonRisingBid(t *testing.T) {
	ops, f := englishRun()
	ops[6].Amount, ops[3].Amount = 90, 90
	f.Lots[0].HighBid = 90
	f.Wallets["b"] = Pair{Before: w(1000, 0, 0, 0), After: w(1000, 0, 90, 0)}
	f.Wallets["h"] = Pair{Before: w(1, 0, 0, 0), After: w(1, 0, 0, 90)}
	mustCatch(t, ops, f, "do not rise")
}

func TestCheckerCatchesLostHold(t *testing.T) {
	ops, f := englishRun()
	// a's hold was captured as well as b's: a paid without winning.
	f.Wallets["a"] = Pair{Before: w(1000, 0, 0, 0), After: w(1000, 0, 100, 0)}
	f.Wallets["h"] = Pair{Before: w(1, 0, 0, 0), After: w(1, 0, 0, 250)}
	mustCatch(t, ops, f, "LOST HOLD")
	// a's hold was never released.
	_, f = englishRun()
	f.Wallets["a"] = Pair{Before: w(1000, 0, 0, 0), After: w(1000, 100, 0, 0)}
	mustCatch(t, ops, f, "holds 100")
}

func TestCheckerCatchesMissedEventAndWrongWinner(t *testing.T) {
	ops, f := englishRun()
	mustCatch(t, append(ops[:5:5], ops[6:]...), f, "seq 2 was never seen")
	_, f = englishRun()
	f.Lots[0].Winner = strp("a")
	mustCatch(t, ops, f, "winner")
}

func TestCheckerCatchesMoneyFromNowhere(t *testing.T) {
	ops, f := oversellRun()
	f.Wallets["h"] = Pair{Before: w(1, 0, 0, 0), After: w(1, 0, 0, 900)}
	mustCatch(t, ops, f, "conserved")
}

func TestHistoryRoundTrip(t *testing.T) {
	ops, _ := englishRun()
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, ops); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSONL(&buf)
	if err != nil || len(back) != len(ops) || back[3] != ops[3] {
		t.Fatalf("round trip: %v %+v", err, back)
	}
}

func TestCheckerBusyThenRetried(t *testing.T) {
	ops, f := oversellRun()
	// b's first attempt gave up with busy; the retry under the same id won.
	busy := Op{Process: 1, Type: Fail, F: "buy", User: "b", ID: "1", Code: "busy"}
	ops = append(ops[:4:4], append([]Op{busy, {Process: 1, Type: Invoke, F: "buy", User: "b", ID: "1"}}, ops[4:]...)...)
	mustPass(t, ops, f)
}

func TestCheckerCatchesSilentObserver(t *testing.T) {
	ops, f := englishRun()
	f.Observed = []string{"L"}
	var noEvents []Op
	for _, op := range ops {
		if op.F != "event" {
			noEvents = append(noEvents, op)
		}
	}
	mustCatch(t, noEvents, f, "saw none")
}

// A record written and read back judges the same; editing it (one more
// winner, one lost hold) fails it.
func TestRecordRoundTrip(t *testing.T) {
	ops, f := oversellRun()
	var buf bytes.Buffer
	if err := WriteRecord(&buf, f, ops); err != nil {
		t.Fatal(err)
	}
	f2, ops2, err := ReadRecord(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if r := Check(ops2, f2); !r.OK {
		t.Fatalf("the record of a clean run must pass: %v", r.Violations)
	}
}

// Money leaving mid-run is caught: a refund (funded lowered), a paid
// payout (earned lowered), and wallets whose new fields do not add up.
func TestCheckerCatchesMoneyOut(t *testing.T) {
	ops, f := oversellRun()
	f.Wallets["a"] = Pair{Before: w(1000, 0, 0, 0), After: w(900, 0, 100, 0)} // a refund of 100 taken
	mustCatch(t, ops, f, "conserved")
	_, f = oversellRun()
	f.Wallets["h"] = Pair{Before: w(1, 0, 0, 0), After: w(1, 0, 0, 150)} // 50 paid out
	mustCatch(t, ops, f, "conserved")
	for name, bad := range map[string]Wallet{
		"frozen without a debt":      {Funded: 10, Available: 10, Frozen: true},
		"a debt without the freeze":  {Funded: 10, Available: 10, Owed: 5},
		"a payout pending past held": {Funded: 10, Held: 2, Available: 8, PayoutPending: 3},
	} {
		ops, f := oversellRun()
		bad := bad
		ops = append(ops, Op{Process: 0, Type: Read, F: "wallet", User: "a", Wallet: &bad})
		r := Check(ops, f)
		if r.OK {
			t.Fatalf("%s: the checker passed %+v", name, bad)
		}
	}
	// A frozen wallet that adds up, and a pending payout within held, pass.
	ops, f = oversellRun()
	ops = append(ops,
		Op{Process: 0, Type: Read, F: "wallet", User: "a", Wallet: &Wallet{Funded: 100, Spent: 100, Owed: 50, Frozen: true}},
		Op{Process: 0, Type: Read, F: "wallet", User: "h", Wallet: &Wallet{Funded: 1, Earned: 200, Held: 50, PayoutPending: 50, Available: 151}})
	mustPass(t, ops, f)
}
