package checker

import (
	"fmt"
	"sort"
)

// Result is the checker's verdict.
type Result struct {
	OK         bool           `json:"ok"`
	Violations []string       `json:"violations"`
	Completed  int            `json:"completed"` // operations with an outcome
	Succeeded  int            `json:"succeeded"`
	Rejected   map[string]int `json:"rejected"` // fail, by error code
	Unknown    int            `json:"info"`     // info: outcome unknown
	Sold       int64          `json:"sold"`     // units sold (or 1 for an English lot with a winner)
	// Oversells counts units sold past what a lot had; DoubleSpends counts
	// purchases past the funds and wallets seen with less than nothing
	// available. Both are 0 in a sound run: the console shows them beside
	// the verdict.
	Oversells    int64 `json:"oversells"`
	DoubleSpends int64 `json:"double_spends"`
}

type checker struct {
	ops []Op
	f   Final
	res Result
}

func (c *checker) fail(format string, args ...any) {
	c.res.Violations = append(c.res.Violations, fmt.Sprintf(format, args...))
}

// Check judges one run. Every rule is stated where it is checked; the
// scenario rules add to the ones every run must satisfy.
func Check(ops []Op, f Final) Result {
	c := &checker{ops: ops, f: f, res: Result{Rejected: map[string]int{}, Violations: []string{}}}
	c.outcomes()
	c.walletsNeverNegative()
	c.conserved()
	c.failuresChangeNothing()
	c.eventsComplete()
	if !f.Audit.OK {
		c.fail("the server's audit found violations: %v", f.Audit.Violations)
	}
	switch f.Scenario {
	case "oversell":
		c.oversell()
	case "double-spend":
		c.doubleSpend()
	case "dutch":
		c.dutch()
	case "english":
		c.english()
	default:
		c.fail("unknown scenario %q", f.Scenario)
	}
	c.res.OK = len(c.res.Violations) == 0
	return c.res
}

// final is the last outcome of each (process, request id): a retry of an
// unknown outcome under the same id resolves it.
type final struct {
	op      Op
	unknown bool // only info outcomes
}

// outcomes counts outcomes and checks every completion answers an invoke.
func (c *checker) outcomes() {
	invoked := map[[2]any]bool{}
	for _, op := range c.ops {
		key := [2]any{op.Process, op.ID}
		switch op.Type {
		case Invoke:
			invoked[key] = true
		case OK, Fail, Info:
			if !invoked[key] {
				c.fail("process %d completed %s %q without invoking it", op.Process, op.F, op.ID)
			}
		}
	}
	for _, o := range c.lastOutcomes() {
		if o.op.F == "tick" {
			continue // the host's tick is part of the race, not a purchase
		}
		c.res.Completed++
		switch {
		case o.unknown:
			c.res.Unknown++
		case o.op.Type == OK:
			c.res.Succeeded++
		default:
			c.res.Rejected[o.op.Code]++
		}
	}
}

// lastOutcomes returns, per (process, id) of a money operation, its
// determinate outcome if any attempt had one, else an unknown one.
func (c *checker) lastOutcomes() []final {
	byKey := map[[2]any]*final{}
	var order [][2]any
	for _, op := range c.ops {
		if op.F == "wallet" || op.F == "event" || op.Type == Invoke || op.Type == Read {
			continue
		}
		key := [2]any{op.Process, op.ID}
		cur := byKey[key]
		if cur == nil {
			order = append(order, key)
			byKey[key] = &final{op: op, unknown: provisional(op)}
			continue
		}
		if !provisional(op) {
			if !cur.unknown && cur.op.Type != op.Type {
				c.fail("process %d request %q had two outcomes: %s then %s", op.Process, op.ID, cur.op.Type, op.Type)
			}
			cur.op, cur.unknown = op, false
		}
	}
	out := make([]final, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out
}

// provisional outcomes may be followed by a retry under the same id: info
// (unknown), busy (the server gave up; nothing changed) and internal (the
// server asks for a retry with the same id).
func provisional(op Op) bool {
	return op.Type == Info || op.Type == Fail && (op.Code == "busy" || op.Code == "internal")
}

// consistent: the wallet's columns add up (every entry kind keeps
// available = funded + earned − held − spent: debits lower funded or
// earned, payouts hold in held and leave from held and earned), pending
// payouts are part of held, and a wallet is frozen exactly when it owes.
func consistent(w Wallet) bool {
	return w.Available >= 0 && w.Held >= 0 && w.Spent >= 0 && w.Funded >= 0 && w.Earned >= 0 &&
		w.Held+w.Spent <= w.Funded+w.Earned && w.Available == w.Funded+w.Earned-w.Held-w.Spent &&
		w.Owed >= 0 && w.PayoutPending >= 0 && w.PayoutPending <= w.Held && w.Frozen == (w.Owed > 0)
}

// walletsNeverNegative: no wallet any client read, during or after the
// race, shows available below zero or columns that do not add up.
func (c *checker) walletsNeverNegative() {
	for _, op := range c.ops {
		if op.Wallet != nil && !consistent(*op.Wallet) {
			c.res.DoubleSpends++
			c.fail("process %d (%s) read an impossible wallet %+v", op.Process, op.User, *op.Wallet)
		}
	}
	for _, u := range c.users() {
		p := c.f.Wallets[u]
		if !consistent(p.Before) || !consistent(p.After) {
			c.res.DoubleSpends++
			c.fail("wallet of %s is impossible: before %+v after %+v", u, p.Before, p.After)
		}
	}
}

// conserved: money only moved between the participants and the host —
// the sum of funded + earned − spent over all of them is unchanged — and
// once every lot is settled nobody holds anything. The run's users are its
// own: no deposit, credit, top-up, refund, dispute, dispute reversal or
// payout touches them during the race, so any of those would show here as
// money not conserved (a refund or dispute lowers funded or earned, a
// dispute reversal raises funded, a paid payout earned, and a pending
// payout stays in held).
func (c *checker) conserved() {
	var before, after int64
	for _, u := range c.users() {
		p := c.f.Wallets[u]
		before += p.Before.Funded + p.Before.Earned - p.Before.Spent
		after += p.After.Funded + p.After.Earned - p.After.Spent
		if c.allSettled() && p.After.Held != p.Before.Held {
			c.fail("%s holds %d after every lot settled (held %d before)", u, p.After.Held, p.Before.Held)
		}
	}
	if before != after {
		c.fail("money not conserved: funded+earned-spent summed %d before, %d after", before, after)
	}
	if c.allSettled() {
		host := c.f.Wallets[c.f.Host]
		earned := host.After.Earned - host.Before.Earned
		var spent int64
		for _, u := range c.users() {
			if u != c.f.Host {
				spent += c.spent(u)
			}
		}
		if earned != spent {
			c.fail("the host earned %d but buyers spent %d", earned, spent)
		}
	}
}

// failuresChangeNothing: a participant whose every operation failed has the
// wallet they started with.
func (c *checker) failuresChangeNothing() {
	outcome := map[string][]final{}
	for _, o := range c.lastOutcomes() {
		outcome[o.op.User] = append(outcome[o.op.User], o)
	}
	for u, os := range outcome {
		allFailed := true
		for _, o := range os {
			if o.unknown || o.op.Type == OK || o.op.F == "tick" {
				allFailed = false
			}
		}
		if p, ok := c.f.Wallets[u]; ok && allFailed && (p.After.Spent != p.Before.Spent || p.After.Held != p.Before.Held) {
			c.fail("%s's operations all failed, yet their wallet changed: %+v -> %+v", u, p.Before, p.After)
		}
	}
}

func (c *checker) users() []string {
	us := make([]string, 0, len(c.f.Wallets))
	for u := range c.f.Wallets {
		us = append(us, u)
	}
	sort.Strings(us)
	return us
}

func (c *checker) spent(u string) int64 {
	p := c.f.Wallets[u]
	return p.After.Spent - p.Before.Spent
}

func (c *checker) allSettled() bool {
	for _, l := range c.f.Lots {
		if l.Status != "settled" {
			return false
		}
	}
	return len(c.f.Lots) > 0
}

// determinate reports whether every operation has a known outcome and none
// gave up with busy: only then must demand be met exactly.
func (c *checker) determinate() bool {
	return c.res.Unknown == 0 && c.res.Rejected["busy"] == 0 && c.res.Rejected["internal"] == 0
}

// buyers maps each participant to what they paid, and checks a user whose
// operation failed paid nothing and one whose succeeded paid.
func (c *checker) buyers(unit func(string) []int64) map[string]int64 {
	paid := map[string]int64{}
	for _, o := range c.lastOutcomes() {
		if o.op.F == "tick" {
			continue
		}
		s := c.spent(o.op.User)
		switch {
		case o.unknown:
		case o.op.Type == OK && s == 0:
			c.fail("%s's %s succeeded (%s) but they paid nothing", o.op.User, o.op.F, o.op.ID)
		case o.op.Type == Fail && s != 0 && !c.hasOK(o.op.User):
			c.fail("%s's %s failed with %s but they paid %d", o.op.User, o.op.F, o.op.Code, s)
		}
	}
	for _, u := range c.users() {
		if u == c.f.Host {
			continue
		}
		if s := c.spent(u); s != 0 {
			paid[u] = s
			if prices := unit(u); prices != nil && !contains(prices, s) {
				c.fail("%s paid %d, which is no price the lot had (%v)", u, s, prices)
			}
		}
	}
	return paid
}

func (c *checker) hasOK(user string) bool {
	for _, o := range c.lastOutcomes() {
		if o.op.User == user && !o.unknown && o.op.Type == OK {
			return true
		}
	}
	return false
}

func contains(xs []int64, v int64) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

// oversell: N buyers of one unit each rush a drop of K units. At most K
// sell, each buyer pays the price once, and — with every outcome known and
// none busy — exactly min(N, K) sell; the seller earns exactly sold × price.
func (c *checker) oversell() {
	if len(c.f.Lots) != 1 {
		c.fail("oversell needs one lot, got %d", len(c.f.Lots))
		return
	}
	lot := c.f.Lots[0]
	paid := c.buyers(func(string) []int64 { return []int64{c.f.Price} })
	c.res.Sold = lot.QtyClaimed
	if lot.QtyClaimed > lot.QtyTotal {
		c.res.Oversells = max(c.res.Oversells, lot.QtyClaimed-lot.QtyTotal)
		c.fail("OVERSELL: %d units sold of %d", lot.QtyClaimed, lot.QtyTotal)
	}
	if int64(len(paid)) != lot.QtyClaimed {
		c.fail("%d buyers paid but the lot sold %d units", len(paid), lot.QtyClaimed)
	}
	if int64(c.res.Succeeded) > lot.QtyClaimed {
		c.res.Oversells = max(c.res.Oversells, int64(c.res.Succeeded)-lot.QtyClaimed)
		c.fail("OVERSELL: %d purchases succeeded but the lot sold %d units", c.res.Succeeded, lot.QtyClaimed)
	}
	if want := int64(min(c.f.N, c.f.K)); c.determinate() && (int64(c.res.Succeeded) != want || lot.QtyClaimed != want) {
		c.fail("expected exactly %d purchases to succeed, got %d (lot sold %d)", want, c.res.Succeeded, lot.QtyClaimed)
	}
	if c.allSettled() {
		host := c.f.Wallets[c.f.Host]
		if earned := host.After.Earned - host.Before.Earned; earned != lot.QtyClaimed*c.f.Price {
			c.fail("the seller earned %d, not %d × %d", earned, lot.QtyClaimed, c.f.Price)
		}
	}
}

// doubleSpend: one wallet funded for exactly one purchase tries N lots at
// once. At most one succeeds, the wallet never goes below zero.
func (c *checker) doubleSpend() {
	var sold int64
	for _, l := range c.f.Lots {
		sold += l.QtyClaimed
	}
	c.res.Sold = sold
	paid := c.buyers(func(string) []int64 { return []int64{c.f.Price} })
	if c.res.Succeeded > 1 || sold > 1 {
		c.res.DoubleSpends += max(int64(c.res.Succeeded), sold) - 1
		c.fail("DOUBLE SPEND: %d purchases succeeded, %d units sold, with funds for one", c.res.Succeeded, sold)
	}
	if c.determinate() && c.res.Succeeded != 1 {
		c.fail("expected exactly one purchase to succeed, got %d", c.res.Succeeded)
	}
	var total int64
	for _, p := range paid {
		total += p
	}
	if total != sold*c.f.Price {
		c.fail("the spender paid %d for %d units of %d", total, sold, c.f.Price)
	}
}

// dutch: claimers race a host's tick. Nothing oversells, and every claim
// pays a price the lot actually had at one of its steps.
func (c *checker) dutch() {
	if len(c.f.Lots) != 1 {
		c.fail("dutch needs one lot, got %d", len(c.f.Lots))
		return
	}
	lot := c.f.Lots[0]
	c.res.Sold = lot.QtyClaimed
	prices := c.f.Prices[lot.ID]
	paid := c.buyers(func(string) []int64 { return prices })
	if lot.QtyClaimed > lot.QtyTotal {
		c.res.Oversells = max(c.res.Oversells, lot.QtyClaimed-lot.QtyTotal)
		c.fail("OVERSELL: %d units claimed of %d", lot.QtyClaimed, lot.QtyTotal)
	}
	if int64(len(paid)) != lot.QtyClaimed {
		c.fail("%d claimers paid but the lot sold %d units", len(paid), lot.QtyClaimed)
	}
	for _, op := range c.ops {
		if op.F == "claim" && op.Type == OK && !contains(prices, op.Price) {
			c.fail("%s claimed at %d, which is no price the lot had", op.User, op.Price)
		}
	}
	if want := int64(min(c.f.N, c.f.K)); c.determinate() && lot.QtyClaimed != want {
		c.fail("expected %d units claimed, got %d", want, lot.QtyClaimed)
	}
}

// english: bidders with proxy maxima fight until the lot closes. The bids
// clients saw rise strictly with no seq missing, every accepted leading bid
// is among them, the winner is the last bidder and pays the last bid, and
// every other bidder's hold was released: they end as they began.
func (c *checker) english() {
	if len(c.f.Lots) != 1 {
		c.fail("english needs one lot, got %d", len(c.f.Lots))
		return
	}
	lot := c.f.Lots[0]
	if lot.Status != "settled" {
		c.fail("the lot is %s, not settled", lot.Status)
	}
	var bids []Op
	seen := map[int64]bool{}
	for _, op := range c.ops {
		if op.F == "event" && op.Lot == lot.ID && op.Kind == "bid" && !seen[op.Seq] {
			seen[op.Seq] = true // an observer that reconnected may see an event again
			bids = append(bids, op)
		}
	}
	sort.Slice(bids, func(i, j int) bool { return bids[i].Seq < bids[j].Seq })
	bySeq := map[int64]Op{}
	for i, b := range bids {
		bySeq[b.Seq] = b
		if i > 0 && b.Amount <= bids[i-1].Amount {
			c.fail("bids do not rise: seq %d at %d after seq %d at %d", b.Seq, b.Amount, bids[i-1].Seq, bids[i-1].Amount)
		}
	}
	for _, op := range c.ops {
		if op.F == "bid" && op.Type == OK && op.High {
			if b, ok := bySeq[op.Seq]; !ok || b.Actor != op.User || b.Amount != op.Amount {
				c.fail("%s's accepted bid at seq %d (%d) is not the bid event seen there (%+v)", op.User, op.Seq, op.Amount, b)
			}
		}
	}
	if len(bids) == 0 {
		return
	}
	last := bids[len(bids)-1]
	if lot.Winner == nil || *lot.Winner != last.Actor || lot.HighBid != last.Amount {
		c.fail("the winner is %v at %d, but the last bid was %s at %d", deref(lot.Winner), lot.HighBid, last.Actor, last.Amount)
	}
	c.res.Sold = 1
	for _, u := range c.users() {
		if u == c.f.Host {
			continue
		}
		s := c.spent(u)
		switch {
		case u == last.Actor && s != last.Amount:
			c.fail("the winner %s paid %d, not the last bid %d", u, s, last.Amount)
		case u != last.Actor && s != 0:
			c.fail("LOST HOLD: %s did not win but paid %d", u, s)
		}
	}
}

// eventsComplete: an observer that follows a lot — reconnecting with since
// whenever its connection breaks — sees every seq from 1 to the lot's last,
// in order, none twice within one connection.
func (c *checker) eventsComplete() {
	seen := map[string]map[int64]bool{}
	for _, op := range c.ops {
		if op.F != "event" || op.Seq == 0 {
			continue
		}
		if seen[op.Lot] == nil {
			seen[op.Lot] = map[int64]bool{}
		}
		seen[op.Lot][op.Seq] = true
	}
	observed := map[string]bool{}
	for _, id := range c.f.Observed {
		observed[id] = true
	}
	for _, l := range c.f.Lots {
		s := seen[l.ID]
		if s == nil {
			if observed[l.ID] && l.Seq > 0 {
				c.fail("lot %s: its observer saw none of its %d events", l.ID, l.Seq)
			}
			continue
		}
		for q := int64(1); q <= l.Seq; q++ {
			if !s[q] {
				c.fail("lot %s: event seq %d was never seen by its observer", l.ID, q)
				break
			}
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "nobody"
	}
	return *s
}
