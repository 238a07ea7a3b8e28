package ledger

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
)

// walletDelta is what one entry kind does to the four wallet columns.
func walletDelta(kind string, amount int64) (funded, held, spent, earned int64) {
	switch kind {
	case EntryDeposit, EntryOperatorCredit, EntryTopUp:
		return amount, 0, 0, 0
	case EntryHold:
		return 0, amount, 0, 0
	case EntryRelease:
		return 0, -amount, 0, 0
	case EntryCapture:
		return 0, -amount, amount, 0
	case EntrySpend:
		return 0, 0, amount, 0
	case EntryCredit:
		return 0, 0, 0, amount
	}
	panic("ledger: unknown entry kind " + kind)
}

// updateWalletSQL applies one entry's delta. The WHERE clause restates the
// double-spend invariant, so even a logic error elsewhere cannot commit a
// wallet with held + spent > funded + earned: the write affects no row and
// flush aborts the transaction. It restates the money bound the same way:
// a write that takes money in ($2 + $5 > 0) may not lift funded + earned
// past MaxAmount ($7), which with the invariant bounds every column. A
// movement out of a wallet is never blocked by the bound. It returns the wallet as written, which the
// events carry to the owner's sessions (no read per push).
const updateWalletSQL = `UPDATE wallets SET
	funded = funded + $2, held = held + $3, spent = spent + $4, earned = earned + $5, updated_at_ms = $6,
	version = COALESCE(version, 0) + 1
WHERE user_id = $1
	AND held + $3 >= 0
	AND held + $3 + spent + $4 <= funded + $2 + earned + $5
	AND ($2 + $5 <= 0 OR funded + $2 + earned + $5 <= $7)
RETURNING funded, held, spent, earned, version`

// move records one entry and applies it to the user's wallet.
func (t *txn) move(user, kind string, amount int64, lot, hold *uuid.UUID) {
	if amount == 0 {
		return
	}
	f, h, s, e := walletDelta(kind, amount)
	w := &Wallet{User: user}
	t.writeReturning(func(row pgx.Row) error {
		if err := row.Scan(&w.Funded, &w.Held, &w.Spent, &w.Earned, &w.Version); err != nil {
			return err
		}
		if t.balances == nil {
			t.balances = map[string]Wallet{}
		}
		t.balances[user] = *w // the statement queued last is the final state
		return nil
	}, updateWalletSQL, user, f, h, s, e, t.nowMS(), MaxAmount)
	t.insert(entriesTable, uuid.New(), user, kind, amount, lot, hold, t.actor.RequestID, t.actor.Region, t.nowMS(), t.entryActor())
	t.changeWallet(user, f, h, s, e)
	if t.touched == nil {
		t.touched = map[string]bool{}
	}
	t.touched[user] = true
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
		Actor: t.actor.User, Data: raw,
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
