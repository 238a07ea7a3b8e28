package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// batcher holds a lot's first batch back until the operations a test
// queued behind it have arrived, so they are decided in one transaction, in
// the order they were queued. sizes are the batches' sizes as taken.
type batcher struct {
	l       *testLedger
	lot     uuid.UUID
	release chan struct{}
	mu      sync.Mutex
	sizes   []int
}

func newBatcher(l *testLedger, lot uuid.UUID) *batcher {
	b := &batcher{l: l, lot: lot, release: make(chan struct{})}
	l.beforeBatch = func(n int) {
		b.mu.Lock()
		b.sizes = append(b.sizes, n)
		first := len(b.sizes) == 1
		b.mu.Unlock()
		if first {
			<-b.release
		}
	}
	return b
}

// queued is how many operations wait in the lot's queue.
func (b *batcher) queued() int {
	b.l.lines.mu.Lock()
	defer b.l.lines.mu.Unlock()
	if line := b.l.lines.lines[b.lot]; line != nil {
		return len(line.queue)
	}
	return 0
}

func (b *batcher) waitQueued(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.queued() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d operations queued, want %d", b.queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// start runs blocker, an operation on the lot that the held-back first
// batch decides, and returns once that batch is being held; wait waits
// for blocker.
func (b *batcher) start(blocker func()) (wait func()) {
	done := make(chan struct{})
	go func() { defer close(done); blocker() }()
	for {
		b.mu.Lock()
		started := len(b.sizes) > 0
		b.mu.Unlock()
		if started {
			return func() { <-done }
		}
		time.Sleep(time.Millisecond)
	}
}

// run starts blocker, then each of ops in order, each queued before the
// next starts, releases the lot, and waits for all of them.
func (b *batcher) run(t *testing.T, blocker func(), ops ...func()) {
	t.Helper()
	waitBlocker := b.start(blocker)
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Add(1)
		go func() { defer wg.Done(); op() }()
		b.waitQueued(t, i+1)
	}
	close(b.release)
	wg.Wait()
	waitBlocker()
}

type buy struct {
	user string
	qty  int64
	want Code // "" for success
}

// TestBatchDecidesInOrder: purchases queued behind a commit are decided in
// one transaction, each against the state the earlier ones left — funds,
// the per-person limit, units left — and each gets its own outcome, record
// and events; the refused change nothing. The same requests decided one by
// one on a twin lot give the same outcomes.
func TestBatchDecidesInOrder(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	for _, u := range []string{"early", "alice", "carol", "dave", "erin", "frank"} {
		l.user(u, 1_000)
	}
	l.user("bob", 50)
	spec := LotSpec{Kind: KindDrop, Title: "sneakers", Price: 100, Qty: 4, PerUserLimit: 2}
	buys := []buy{
		{"alice", 1, ""},
		{"bob", 1, CodeInsufficientFunds},
		{"alice", 2, CodeLimitExceeded}, // 1 bought + 2 > 2
		{"carol", 1, ""},
		{"dave", 2, CodeSoldOut}, // only 1 left
		{"erin", 1, ""},          // the last unit: sold out, settled
		{"frank", 1, CodeSoldOut},
	}

	type outcome struct {
		res    PurchaseResult
		events []Event
		err    error
		actor  Actor
	}
	decide := func(lot uuid.UUID, batched bool) []outcome {
		out := make([]outcome, len(buys))
		ops := make([]func(), len(buys))
		for i, by := range buys {
			out[i].actor = l.as(by.user)
			ops[i] = func() {
				out[i].res, out[i].events, out[i].err = l.BuyDrop(ctx, out[i].actor, lot, by.qty)
			}
		}
		early := func() {
			_, _, err := l.BuyDrop(ctx, l.as("early"), lot, 1)
			mustOK(t, err)
		}
		if !batched {
			early()
			for _, op := range ops {
				op()
			}
			return out
		}
		b := newBatcher(l, lot)
		before := l.Stats()
		b.run(t, early, ops...)
		l.beforeBatch = nil
		if len(b.sizes) != 2 || b.sizes[1] != len(buys) {
			t.Fatalf("batches %v, want [1 %d]", b.sizes, len(buys))
		}
		after := l.Stats()
		if c, o := after.Commits-before.Commits, after.Operations-before.Operations; c != 2 || o != int64(len(buys)+1) {
			t.Fatalf("%d commits decided %d operations, want 2 and %d", c, o, len(buys)+1)
		}
		return out
	}

	batchedLot, serialLot := l.lot(spec), l.lot(spec)
	batched := decide(batchedLot, true)
	serial := decide(serialLot, false)

	var lastSeq int64 = 2 // opened, then early's sale
	for i, by := range buys {
		got := batched[i]
		if CodeOf(got.err) != by.want || CodeOf(serial[i].err) != by.want {
			t.Fatalf("buy %d (%s ×%d): batched %v, one by one %v; want %q", i, by.user, by.qty, got.err, serial[i].err, by.want)
		}
		if got.res != serial[i].res {
			t.Errorf("buy %d: batched %+v, one by one %+v", i, got.res, serial[i].res)
		}
		if by.want != "" {
			if len(got.events) != 0 {
				t.Errorf("buy %d was refused but produced %d events", i, len(got.events))
			}
			continue
		}
		// Each sale carries its own events, numbered on from the last.
		for _, ev := range got.events {
			if ev.Seq != lastSeq+1 {
				t.Fatalf("buy %d: event %s has seq %d, want %d", i, ev.Kind, ev.Seq, lastSeq+1)
			}
			lastSeq = ev.Seq
		}
		pushed := false
		for _, w := range got.events[len(got.events)-1].Balances {
			pushed = pushed || w.User == by.user
		}
		if !pushed {
			t.Errorf("buy %d: the wallet pushes %+v lack %s's wallet", i, got.events[len(got.events)-1].Balances, by.user)
		}
	}
	for _, id := range []uuid.UUID{batchedLot, serialLot} {
		lot := l.getLot(id)
		if lot.QtyClaimed != 4 || lot.Status != StatusSettled || lot.Seq != lastSeq {
			t.Fatalf("lot: claimed %d, %s, seq %d; want 4, settled, seq %d", lot.QtyClaimed, lot.Status, lot.Seq, lastSeq)
		}
	}
	for _, u := range []string{"alice", "carol", "erin"} {
		if w := l.wallet(u); w.Spent != 200 { // one unit from each lot
			t.Errorf("%s spent %d, want 200", u, w.Spent)
		}
	}
	for _, u := range []string{"bob", "dave", "frank"} {
		if w := l.wallet(u); w.Spent != 0 || w.Held != 0 {
			t.Errorf("%s was refused but has spent %d, held %d", u, w.Spent, w.Held)
		}
	}
	// Asked again under the same ids, every request gets its first outcome
	// and nothing moves.
	for i, by := range buys {
		res, events, err := l.BuyDrop(ctx, batched[i].actor, batchedLot, by.qty)
		if CodeOf(err) != by.want || res != batched[i].res || len(events) != 0 {
			t.Errorf("replay of buy %d: %+v, %d events, %v; want %+v, %q", i, res, len(events), err, batched[i].res, by.want)
		}
	}
	if w := l.wallet("host"); w.Earned != 800 {
		t.Errorf("host earned %d, want 800 (two lots of 4 × 100)", w.Earned)
	}
}

// TestBatchBidsMatchOneByOne: English bids, proxies included, decided in
// one batch end exactly as the same bids decided one at a time.
func TestBatchBidsMatchOneByOne(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	for _, u := range []string{"ann", "ben", "cat", "dan"} {
		l.user(u, 100_000)
	}
	l.user("poor", 1_500)
	type bid struct {
		user        string
		amount, max int64
	}
	bids := []bid{
		{"ben", 1_100, 2_000}, // a proxy over ann's opening bid
		{"cat", 1_500, 0},     // ben's proxy answers
		{"poor", 3_000, 0},    // cannot cover it
		{"cat", 2_500, 4_000}, // beats ben's maximum
		{"ann", 2_000, 0},     // too low now
		{"ben", 5_000, 0},     // beats cat's maximum
		{"ben", 5_200, 9_000}, // the high bidder raises their own maximum
		{"dan", 9_000, 0},     // ties ben's maximum: the earlier keeps it
	}
	type outcome struct {
		res BidResult
		err error
	}
	decide := func(lot uuid.UUID, batched bool) []outcome {
		out := make([]outcome, len(bids))
		ops := make([]func(), len(bids))
		for i, bd := range bids {
			ops[i] = func() {
				out[i].res, _, out[i].err = l.PlaceBid(ctx, l.as(bd.user), lot, bd.amount, bd.max)
			}
		}
		opening := func() {
			_, _, err := l.PlaceBid(ctx, l.as("ann"), lot, 1_000, 0)
			mustOK(t, err)
		}
		if !batched {
			opening()
			for _, op := range ops {
				op()
			}
			return out
		}
		b := newBatcher(l, lot)
		b.run(t, opening, ops...)
		l.beforeBatch = nil
		if len(b.sizes) != 2 || b.sizes[1] != len(bids) {
			t.Fatalf("batches %v, want [1 %d]", b.sizes, len(bids))
		}
		return out
	}
	batchedLot, serialLot := l.lot(englishSpec()), l.lot(englishSpec())
	batched := decide(batchedLot, true)
	serial := decide(serialLot, false)
	for i := range bids {
		if CodeOf(batched[i].err) != CodeOf(serial[i].err) || batched[i].res.Amount != serial[i].res.Amount || batched[i].res.High != serial[i].res.High {
			t.Errorf("bid %d %+v: batched %+v %v, one by one %+v %v", i, bids[i], batched[i].res, batched[i].err, serial[i].res, serial[i].err)
		}
	}
	a, b := l.getLot(batchedLot), l.getLot(serialLot)
	if a.HighBid != b.HighBid || a.HighBidder != b.HighBidder || a.HighMax != b.HighMax || a.BidCount != b.BidCount || a.Seq != b.Seq {
		t.Fatalf("batched lot %d by %s (max %d, %d bids, seq %d); one by one %d by %s (max %d, %d bids, seq %d)",
			a.HighBid, a.HighBidder, a.HighMax, a.BidCount, a.Seq, b.HighBid, b.HighBidder, b.HighMax, b.BidCount, b.Seq)
	}
	// Only the high bidder holds anything, on each lot its maximum.
	if w := l.wallet(a.HighBidder); w.Held != 2*a.HighMax {
		t.Errorf("%s holds %d, want %d", a.HighBidder, w.Held, 2*a.HighMax)
	}
	for _, u := range []string{"ann", "ben", "cat", "dan", "poor"} {
		if u != a.HighBidder && l.wallet(u).Held != 0 {
			t.Errorf("%s was outbid but holds %d", u, l.wallet(u).Held)
		}
	}
}

// TestBatchRetriedAfterConflict: another node sells a unit of the same lot
// while a batch is being decided; the batch's commit conflicts, and the
// whole batch reruns on fresh state — every request applied exactly once.
func TestBatchRetriedAfterConflict(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	users := []string{"u1", "u2", "u3", "u4", "u5"}
	for _, u := range append(users, "early", "other") {
		l.user(u, 10_000)
	}
	id := l.lot(LotSpec{Kind: KindDrop, Title: "tee", Price: 100, Qty: 6})
	peer := l.peer()
	var once sync.Once
	l.beforeFlush = func() {
		once.Do(func() {
			if _, _, err := peer.BuyDrop(ctx, Actor{User: "other", Region: "ap-south-1", RequestID: "peer-1"}, id, 1); err != nil {
				t.Errorf("the other node's purchase: %v", err)
			}
		})
	}
	b := newBatcher(l, id)
	errs := make([]error, len(users))
	ops := make([]func(), len(users))
	for i, u := range users {
		ops[i] = func() { _, _, errs[i] = l.BuyDrop(ctx, l.as(u), id, 1) }
	}
	before := l.Stats()
	b.run(t, func() {
		_, _, err := l.BuyDrop(ctx, l.as("early"), id, 1)
		mustOK(t, err)
	}, ops...)
	l.beforeFlush, l.beforeBatch = nil, nil
	for i, err := range errs {
		if i < 4 && err != nil {
			t.Errorf("%s: %v", users[i], err)
		}
	}
	// Six units: early, the other node's buyer, u1..u4; u5 finds it sold out.
	wantCode(t, errs[4], CodeSoldOut)
	if got := l.Stats().Conflicts - before.Conflicts; got < 1 {
		t.Fatalf("%d conflicts: the other node's commit should have made the batch retry", got)
	}
	lot := l.getLot(id)
	if lot.QtyClaimed != 6 || lot.Status != StatusSettled {
		t.Fatalf("lot claimed %d, %s; want 6, settled", lot.QtyClaimed, lot.Status)
	}
	var purchases, entries int
	mustOK(t, l.Pool().QueryRow(ctx, `SELECT count(*) FROM purchases WHERE lot_id = $1`, id).Scan(&purchases))
	mustOK(t, l.Pool().QueryRow(ctx, `SELECT count(*) FROM entries WHERE lot_id = $1 AND kind = 'spend'`, id).Scan(&entries))
	if purchases != 6 || entries != 6 {
		t.Fatalf("%d purchases and %d spend entries, want 6 each", purchases, entries)
	}
}

// TestBatchRowBound: a queue that would pass DSQL's 3,000 modified rows in
// one transaction is split; every operation is decided, none twice.
func TestBatchRowBound(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	const n = 700 // about five rows each: past 3,000 in one batch
	users := make([]string, n)
	for i := range users {
		users[i] = l.user(userName("r", i), 1_000)
	}
	l.user("early", 1_000)
	id := l.lot(LotSpec{Kind: KindDrop, Title: "pins", Price: 10, Qty: 1_000})
	b := newBatcher(l, id)
	waitBlocker := b.start(func() {
		_, _, err := l.BuyDrop(ctx, l.as("early"), id, 1)
		mustOK(t, err)
	})
	errs := make(chan error, n)
	for _, u := range users {
		go func() {
			_, _, err := l.BuyDrop(ctx, l.as(u), id, 1)
			errs <- err
		}()
	}
	b.waitQueued(t, n)
	close(b.release)
	waitBlocker()
	for range users {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	l.beforeBatch = nil
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.sizes) < 3 || b.sizes[1] != n {
		t.Fatalf("batches %v: want the %d queued taken at once, then the rest of them split off", b.sizes, n)
	}
	if lot := l.getLot(id); lot.QtyClaimed != n+1 {
		var purchases, requests int
		mustOK(t, l.Pool().QueryRow(ctx, `SELECT count(*) FROM purchases WHERE lot_id = $1`, id).Scan(&purchases))
		mustOK(t, l.Pool().QueryRow(ctx, `SELECT count(*) FROM requests`).Scan(&requests))
		t.Fatalf("claimed %d, want %d (%d purchases, %d requests, batches %v)", lot.QtyClaimed, n+1, purchases, requests, b.sizes)
	}
}

// TestBatchWithdrawsCancelled: a request whose caller gives up while it is
// still queued is withdrawn and changes nothing.
func TestBatchWithdrawsCancelled(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	l.user("early", 1_000)
	l.user("quitter", 1_000)
	id := l.lot(LotSpec{Kind: KindDrop, Title: "mug", Price: 10, Qty: 5})
	b := newBatcher(l, id)
	quit, cancel := context.WithCancel(ctx)
	a := l.as("quitter")
	waitBlocker := b.start(func() {
		_, _, err := l.BuyDrop(ctx, l.as("early"), id, 1)
		mustOK(t, err)
	})
	done := make(chan error)
	go func() {
		_, _, err := l.BuyDrop(quit, a, id, 1)
		done <- err
	}()
	b.waitQueued(t, 1)
	cancel()
	err := <-done
	close(b.release)
	waitBlocker()
	l.beforeBatch = nil
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the withdrawn request: %v, want context.Canceled", err)
	}
	if w := l.wallet("quitter"); w.Spent != 0 {
		t.Fatalf("the withdrawn request spent %d", w.Spent)
	}
	// Its id is still free: asked again, it is decided now.
	res, _, err := l.BuyDrop(ctx, a, id, 1)
	mustOK(t, err)
	if res.Qty != 1 {
		t.Fatal(fmt.Sprint(res))
	}
}
