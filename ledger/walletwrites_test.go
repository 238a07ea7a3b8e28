package ledger

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestBatchWalletPushesPerOperation: a batch writes each wallet once, yet
// every operation's wallet push is the wallet as that operation left it —
// one buyer's three purchases in one batch push spent 100, 200, 300 at
// versions one apart — and the row holds the last of them.
func TestBatchWalletPushesPerOperation(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	l.user("early", 1_000)
	l.user("alice", 1_000)
	l.user("bob", 1_000)
	lot := l.lot(LotSpec{Kind: KindDrop, Title: "caps", Price: 100, Qty: 10})
	before := l.wallet("alice")
	buyers := []string{"alice", "bob", "alice", "alice"}
	pushes := make([]Wallet, len(buyers))
	ops := make([]func(), len(buyers))
	for i, u := range buyers {
		ops[i] = func() {
			_, events, err := l.BuyDrop(ctx, l.as(u), lot, 1)
			mustOK(t, err)
			for _, w := range events[len(events)-1].Balances {
				if w.User == u {
					pushes[i] = w
				}
			}
		}
	}
	b := newBatcher(l, lot)
	b.run(t, func() { _, _, err := l.BuyDrop(ctx, l.as("early"), lot, 1); mustOK(t, err) }, ops...)
	l.beforeBatch = nil
	if len(b.sizes) != 2 || b.sizes[1] != len(buyers) {
		t.Fatalf("batches %v, want [1 %d]", b.sizes, len(buyers))
	}
	for i, k := range []int{0, 2, 3} {
		want := before
		want.Spent += int64(100 * (i + 1))
		want.Version += int64(i + 1)
		if pushes[k] != want {
			t.Errorf("purchase %d pushed alice's wallet %+v, want %+v", k, pushes[k], want)
		}
	}
	if got := l.wallet("alice"); got != pushes[3] {
		t.Errorf("alice's wallet is %+v, the last push %+v", got, pushes[3])
	}
	if bob := l.wallet("bob"); pushes[1] != bob || bob.Spent != 100 {
		t.Errorf("bob's push %+v, wallet %+v; want spent 100", pushes[1], bob)
	}
}

// TestWalletWriteGuards: the batch's wallet UPDATE restates the
// invariants on the row it would commit, whatever the moves were decided
// on: two spends that each fit but together pass the funds, a spend that
// does not fit at all, and a credit past MaxAmount are all refused with
// nothing written, while the same moves within bounds are written.
func TestWalletWriteGuards(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	l.user("ann", 1_000)
	l.user("ben", 1_000)
	type move struct {
		user, kind string
		amount     int64
	}
	cases := []struct {
		name  string
		moves []move
		ok    bool
	}{
		{"within funds", []move{{"ann", EntrySpend, 600}, {"ben", EntrySpend, 1_000}, {"ann", EntrySpend, 400}}, true},
		{"together past funds", []move{{"ann", EntrySpend, 600}, {"ben", EntrySpend, 10}, {"ann", EntrySpend, 401}}, false},
		{"past funds", []move{{"ben", EntrySpend, 1_001}}, false},
		{"held past funds", []move{{"ann", EntryHold, 700}, {"ann", EntrySpend, 301}}, false},
		{"past the money bound", []move{{"ann", EntryCredit, MaxAmount}}, false},
		{"release more than held", []move{{"ann", EntryRelease, 1}}, false},
	}
	for _, c := range cases {
		err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
			w := newWork(tx, l.now())
			for _, m := range c.moves {
				(&txn{work: w, actor: l.as(m.user)}).move(m.user, m.kind, m.amount, nil, nil)
			}
			if err := w.flush(ctx); err != nil {
				return err
			}
			return errRollback // keep the wallets as they were for the next case
		})
		switch {
		case c.ok && !errors.Is(err, errRollback):
			t.Errorf("%s: flush: %v", c.name, err)
		case !c.ok && CodeOf(err) != CodeInternal:
			t.Errorf("%s: flush: %v, want the guard's refusal (%s)", c.name, err, CodeInternal)
		}
	}
	for _, u := range []string{"ann", "ben"} {
		if w := l.wallet(u); w.Spent != 0 || w.Held != 0 || w.Earned != 0 {
			t.Errorf("%s changed: %+v", u, w)
		}
	}
}

var errRollback = errors.New("rolled back on purpose")
