package ledger

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// txn is one operation's part of a transaction attempt: the shared work
// (reads, caches, queued writes) plus what belongs to this operation alone —
// its actor, its events, the wallets it changed. Operations read first,
// decide, and queue every write; the batch flushes them all in one round
// trip, each required to touch exactly one row, so a guard that fails
// aborts the whole transaction instead of committing a partial change.
type txn struct {
	*work
	actor   Actor
	events  []Event
	touched map[string]bool // users whose wallets changed
	// balances are the changed wallets as written, known after flush.
	balances map[string]Wallet
	// reserved names the wallets this operation already touched for room
	// near the money bound (requireInflowRoom).
	reserved map[string]bool
	// ownBidSeq is the seq of the acting user's latest bid event, if any.
	ownBidSeq int64
	// by names who moved the money when it is not the actor (an operator
	// crediting under the credits' own request key).
	by string
	// ref, when set, is the request id the entries record instead of the
	// actor's: the provider's charge or dispute id of a debit, a payout's id.
	ref string
	// released are the pending payouts collect released to pay a debt.
	released []uuid.UUID
}

// entryActor is who an entry records as having moved the money: NULL for
// the system (ticker, closer, signup).
func (t *txn) entryActor() *string {
	who := t.actor.User
	if t.by != "" {
		who = t.by
	}
	if who == "" {
		return nil
	}
	return &who
}

// Entry kinds: every movement of money is one append-only entry, and each
// kind changes exactly these wallet columns.
const (
	EntryDeposit = "deposit" // funded += amount (money enters the ledger)
	// EntryOperatorCredit is money an operator puts in a wallet (funded +=
	// amount): its entry names the operator (actor) and its reference.
	EntryOperatorCredit = "operator_credit"
	// EntryTopUp is a card payment the payment provider confirmed (funded
	// += amount); its request id is the provider's payment id.
	EntryTopUp   = "topup"
	EntryHold    = "hold"    // held += amount (an English high bid reserves funds)
	EntryRelease = "release" // held -= amount (outbid, unsold, or the unused part of a proxy maximum)
	EntryCapture = "capture" // held -= amount, spent += amount (a won lot is paid from its hold)
	EntrySpend   = "spend"   // spent += amount (an immediate Dutch claim or drop purchase)
	EntryCredit  = "credit"  // earned += amount (a host is paid a settled lot's proceeds)
	// EntryRefund and EntryDispute record money the payment provider took
	// back from a top-up (a refund, a dispute opened): owed += amount. What
	// the wallet can cover is taken at once by debit entries; the rest stays
	// owed and freezes the wallet (debit.go).
	EntryRefund  = "refund"
	EntryDispute = "dispute"
	// EntryDebit takes owed money from funded (funded -= amount, owed -=
	// amount); EntryDebitEarned from earned when funded cannot cover it.
	EntryDebit       = "debit"
	EntryDebitEarned = "debit_earned"
	// EntryDisputeReversal is a won dispute's claim given back (funded +=
	// amount); what the wallet still owes is then paid from it first by
	// debit entries (reversal.go).
	EntryDisputeReversal = "dispute_reversal"
	// Payouts (payout.go): a host's request holds the amount (held and
	// paying += amount); paid, it leaves the ledger (held, paying and earned
	// -= amount); failed, it is released (held and paying -= amount).
	EntryPayoutHold    = "payout_hold"
	EntryPayout        = "payout"
	EntryPayoutRelease = "payout_release"
)

// delta is what one entry does to a wallet's columns.
type delta struct{ funded, held, spent, earned, owed, paying int64 }

// walletDelta is what one entry kind does to the wallet columns.
func walletDelta(kind string, amount int64) delta {
	switch kind {
	case EntryDeposit, EntryOperatorCredit, EntryTopUp, EntryDisputeReversal:
		return delta{funded: amount}
	case EntryHold:
		return delta{held: amount}
	case EntryRelease:
		return delta{held: -amount}
	case EntryCapture:
		return delta{held: -amount, spent: amount}
	case EntrySpend:
		return delta{spent: amount}
	case EntryCredit:
		return delta{earned: amount}
	case EntryRefund, EntryDispute:
		return delta{owed: amount}
	case EntryDebit:
		return delta{funded: -amount, owed: -amount}
	case EntryDebitEarned:
		return delta{earned: -amount, owed: -amount}
	case EntryPayoutHold:
		return delta{held: amount, paying: amount}
	case EntryPayout:
		return delta{held: -amount, earned: -amount, paying: -amount}
	case EntryPayoutRelease:
		return delta{held: -amount, paying: -amount}
	}
	panic("ledger: unknown entry kind " + kind)
}

// move records one entry and applies it to the user's wallet: the cached
// wallet at once, the row at flush, where every change a batch made to a
// wallet is written by one statement (walletwrites.go).
func (t *txn) move(user, kind string, amount int64, lot, hold *uuid.UUID) {
	if amount == 0 {
		return
	}
	d := walletDelta(kind, amount)
	t.moveWallet(t, user, d)
	ref := t.actor.RequestID
	if t.ref != "" {
		ref = t.ref
	}
	t.insert(entriesTable, uuid.New(), user, kind, amount, lot, hold, ref, t.actor.Region, t.nowMS(), t.entryActor())
	t.changeWallet(user, d)
	if t.touched == nil {
		t.touched = map[string]bool{}
	}
	t.touched[user] = true
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// emit appends the next event of lot, bumping its seq; its kind is the
// payload's. The payload is encoded here, once: the outbox, the firehose
// and every session get these bytes. The lot row itself is written by
// saveLot with the new seq.
func (t *txn) emit(lot *Lot, data EventData) error {
	kind := data.EventKind()
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", kind, err)
	}
	lot.Seq++
	ev := Event{
		Lot: lot.ID, Seq: lot.Seq, Kind: kind, At: t.now, Region: t.actor.Region,
		Actor: t.actor.User, Data: raw, decoded: data,
	}
	t.events = append(t.events, ev)
	return nil
}

// finishEvents stamps the users whose wallets changed on the transaction's
// last event (so each gets one wallet push) and queues the outbox rows. It
// runs once, after the operation.
func (t *txn) finishEvents() {
	if len(t.events) > 0 && len(t.touched) > 0 {
		wallets := make([]string, 0, len(t.touched))
		for u := range t.touched {
			wallets = append(wallets, u)
		}
		slices.Sort(wallets)
		t.events[len(t.events)-1].Wallets = wallets
	}
	for _, ev := range t.events {
		t.insert(outboxTable, ev.Lot, ev.Seq, ev.Kind, ev.At.UnixMilli(), ev.Region, ev.Actor,
			string(ev.Data), joinUsers(ev.Wallets), false)
	}
}

// attachBalances puts the changed wallets, as flush wrote them, on the
// event that names them: the hub pushes them without reading the ledger.
func (t *txn) attachBalances() {
	if len(t.events) == 0 || len(t.balances) == 0 {
		return
	}
	last := &t.events[len(t.events)-1]
	last.Balances = make([]Wallet, 0, len(t.balances))
	for _, u := range last.Wallets {
		if w, ok := t.balances[u]; ok {
			last.Balances = append(last.Balances, w)
		}
	}
}
