package hub

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/ledger"
)

// scheduleLedger is a closer's and ticker's view of a ledger: due lots in
// due order, some of which always fail to settle or tick.
type scheduleLedger struct {
	Ledger // unused methods panic
	mu     sync.Mutex
	lots   []uuid.UUID // due English lots, longest overdue first
	ticks  []uuid.UUID // due Dutch lots, longest overdue first
	broken map[uuid.UUID]bool
	calls  map[uuid.UUID]int
	done   map[uuid.UUID]bool
}

func (f *scheduleLedger) Stats() ledger.Stats { return ledger.Stats{} }

func (f *scheduleLedger) due(ids []uuid.UUID, limit int) []uuid.UUID {
	var out []uuid.UUID
	for _, id := range ids {
		if !f.done[id] && len(out) < limit {
			out = append(out, id)
		}
	}
	return out
}

func (f *scheduleLedger) DueLots(_ context.Context, limit int) ([]uuid.UUID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.due(f.lots, limit), nil
}

func (f *scheduleLedger) DueTicks(_ context.Context, limit int) ([]ledger.DueTick, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ledger.DueTick
	for _, id := range f.due(f.ticks, limit) {
		out = append(out, ledger.DueTick{Lot: id})
	}
	return out, nil
}

func (f *scheduleLedger) work(id uuid.UUID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[id]++
	if f.broken[id] {
		return &ledger.Error{Code: ledger.CodeLimitExceeded, Message: "the host's wallet has no room", Err: errors.New("forged")}
	}
	f.done[id] = true
	return nil
}

func (f *scheduleLedger) SettleDue(_ context.Context, id uuid.UUID, _ string) ([]ledger.Event, error) {
	return nil, f.work(id)
}

func (f *scheduleLedger) AdvanceDutch(_ context.Context, id uuid.UUID, _ int64, _ string) (ledger.TickResult, []ledger.Event, error) {
	return ledger.TickResult{}, nil, f.work(id)
}

// TestStuckLotsDoNotStarveOthers: more failing lots than a pass's batch sit
// at the head of the due lists (longest overdue). Each is tried once and
// backed off; the lots behind them are settled and ticked on the next pass;
// the failing ones are retried only when their growing delay has passed,
// and are reported as stuck.
func TestStuckLotsDoNotStarveOthers(t *testing.T) {
	f := &scheduleLedger{broken: map[uuid.UUID]bool{}, calls: map[uuid.UUID]int{}, done: map[uuid.UUID]bool{}}
	var good []uuid.UUID
	for i := 0; i < scheduleBatch+50; i++ {
		lot, tick := uuid.New(), uuid.New()
		f.lots, f.ticks = append(f.lots, lot), append(f.ticks, tick)
		if i < scheduleBatch {
			f.broken[lot], f.broken[tick] = true, true
		} else {
			good = append(good, lot, tick)
		}
	}
	h := newTestHub(t, f, Options{SkipPublish: true})
	now := time.Now()
	clock := func() time.Time { return now }
	h.metrics.ticks.now, h.metrics.settles.now = clock, clock
	ctx := context.Background()

	for pass := 0; pass < 5; pass++ {
		h.schedule(ctx)
	}
	for _, id := range good {
		if !f.done[id] {
			t.Fatalf("lot %s behind the failing ones was never done in 5 passes", id)
		}
	}
	for id := range f.broken {
		if f.calls[id] != 1 {
			t.Fatalf("failing lot %s tried %d times within its backoff, want 1", id, f.calls[id])
		}
	}
	// The delay grows: after 1s each is retried once, then not again for 2s.
	for _, step := range []struct {
		after time.Duration
		calls int
	}{{time.Second, 2}, {time.Second, 2}, {time.Second, 3}, {3 * time.Second, 3}, {time.Second, 4}} {
		now = now.Add(step.after)
		h.schedule(ctx)
		for id := range f.broken {
			if f.calls[id] != step.calls {
				t.Fatalf("after +%v: failing lot tried %d times, want %d", step.after, f.calls[id], step.calls)
			}
		}
	}
	for _, name := range []string{"lotzero_schedule_failures_total", "lotzero_stuck_lots"} {
		for _, work := range []string{"tick", "settle"} {
			want := float64(scheduleBatch)
			if name == "lotzero_schedule_failures_total" {
				want = 4 * scheduleBatch
			}
			if got := metricValue(t, h, name, work); got != want {
				t.Fatalf("%s{work=%s} = %v, want %v", name, work, got, want)
			}
		}
	}

	// Fixed, the lots settle on their next attempt and are no longer stuck.
	f.mu.Lock()
	f.broken = map[uuid.UUID]bool{}
	f.mu.Unlock()
	now = now.Add(backoffMax)
	h.schedule(ctx)
	h.schedule(ctx)
	if n := metricValue(t, h, "lotzero_stuck_lots", "settle") + metricValue(t, h, "lotzero_stuck_lots", "tick"); n != 0 {
		t.Fatalf("%v lots still reported stuck after they were done", n)
	}
}

// metricValue reads one series of the hub's registry, as /metrics shows it.
func metricValue(t *testing.T, h *Hub, name, work string) float64 {
	t.Helper()
	mfs, err := h.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "work" && lp.GetValue() == work {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{work=%q}", name, work)
	return 0
}

// A lot that failed stuckAfter times in a row is named for the audit.
func TestStuckLotsNamed(t *testing.T) {
	b := newLotBackoff()
	id := uuid.New()
	for i := 0; i < stuckAfter-1; i++ {
		b.fail(id)
	}
	if got := b.stuckLots(); len(got) != 0 {
		t.Fatalf("stuck after %d failures: %v", stuckAfter-1, got)
	}
	b.fail(id)
	if got := b.stuckLots(); len(got) != 1 || got[0] != id.String() {
		t.Fatalf("stuck lots %v, want [%s]", got, id)
	}
}
