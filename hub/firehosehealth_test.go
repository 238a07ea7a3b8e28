package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/protocol"
	dto "github.com/prometheus/client_model/go"
)

// frozenFirehose is the memory firehose behind a store that stopped
// answering: while frozen, every publish, presence call and view read
// waits until its context ends (as a frozen DynamoDB would until the
// call's deadline). Its health is set by the test.
type frozenFirehose struct {
	*firehose.Memory
	frozen   atomic.Bool
	degraded atomic.Bool
	since    time.Time
	waiting  atomic.Int32 // calls blocked on the frozen store now
}

func (f *frozenFirehose) wait(ctx context.Context) error {
	if !f.frozen.Load() {
		return nil
	}
	f.waiting.Add(1)
	defer f.waiting.Add(-1)
	<-ctx.Done()
	return ctx.Err()
}

func (f *frozenFirehose) Publish(ctx context.Context, m firehose.Message) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	return f.Memory.Publish(ctx, m)
}

func (f *frozenFirehose) Presence() firehose.Presence { return frozenPresence{f} }
func (f *frozenFirehose) Views() firehose.Views       { return frozenViews{f.Memory.Views(), f} }
func (f *frozenFirehose) Health() firehose.HealthState {
	return firehose.HealthState{Degraded: f.degraded.Load(), Since: f.since, LastError: "frozen"}
}

type frozenPresence struct{ f *frozenFirehose }

func (p frozenPresence) Join(ctx context.Context, lot string, e firehose.Present) error {
	if err := p.f.wait(ctx); err != nil {
		return err
	}
	return p.f.Memory.Presence().Join(ctx, lot, e)
}

func (p frozenPresence) Leave(ctx context.Context, lot, session string) error {
	if err := p.f.wait(ctx); err != nil {
		return err
	}
	return p.f.Memory.Presence().Leave(ctx, lot, session)
}

func (p frozenPresence) List(ctx context.Context, lot string) ([]firehose.Present, error) {
	if err := p.f.wait(ctx); err != nil {
		return nil, err
	}
	return p.f.Memory.Presence().List(ctx, lot)
}

type frozenViews struct {
	firehose.Views
	f *frozenFirehose
}

func (v frozenViews) Chat(ctx context.Context, lot string, n int) ([]firehose.Message, error) {
	if err := v.f.wait(ctx); err != nil {
		return nil, err
	}
	return v.Views.Chat(ctx, lot, n)
}

func (v frozenViews) Reactions(ctx context.Context, lot string) (map[string]int64, error) {
	if err := v.f.wait(ctx); err != nil {
		return nil, err
	}
	return v.Views.Reactions(ctx, lot)
}

func newFrozenHub(t *testing.T, l Ledger) (*Hub, *frozenFirehose) {
	t.Helper()
	fh := &frozenFirehose{Memory: firehose.NewMemory(0), since: time.Now()}
	t.Cleanup(func() { _ = fh.Close() })
	return New(l, fh, Options{}), fh
}

// lotPage serves h over HTTP and returns a reader of the fake's lot page.
func lotPage(t *testing.T, h *Hub, l *fakeLedger) func() protocol.Lot {
	srv := httptest.NewServer(h.Handler(nil))
	t.Cleanup(srv.Close)
	return func() protocol.Lot {
		var body struct {
			Lot protocol.Lot `json:"lot"`
		}
		if err := protocol.GetJSON(context.Background(), srv.URL+"/api/lots/"+l.id.String(), "", &body); err != nil {
			t.Fatal(err)
		}
		return body.Lot
	}
}

// within fails unless f returns within a bound far below the hang it
// guards against (a join used to wait out its 15 s command timeout).
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s waited on the frozen social store", what)
	}
}

// TestFrozenStoreHoldsNoJoinAndNoLotPage: with the social store frozen a
// join and a lot page answer after at most socialWait — before the
// firehose is known to be down — and at once after, with the watchers
// marked stale; a lot page with the store answering is not stale.
func TestFrozenStoreHoldsNoJoinAndNoLotPage(t *testing.T) {
	l := newFakeLedger()
	h, fh := newFrozenHub(t, l)
	page := lotPage(t, h, l)
	if lot := page(); lot.WatchersStale {
		t.Fatalf("the store answers, yet the page is stale: %+v", lot)
	}
	fh.frozen.Store(true)
	for _, degraded := range []bool{false, true} {
		fh.degraded.Store(degraded)
		s := testSession(h, "alice")
		within(t, "a join", func() {
			res, perr := s.join(context.Background(), protocol.Request{Type: "join", ID: "j", Lot: l.id.String()}, l.id)
			if perr != nil || res != (alreadyReplied{}) {
				t.Errorf("join: %v %v", res, perr)
			}
		})
		frames := s.out.drain()
		var reply struct {
			Result protocol.JoinResult `json:"result"`
		}
		if len(frames) == 0 || json.Unmarshal(frames[0], &reply) != nil || !reply.Result.Lot.WatchersStale {
			t.Fatalf("degraded=%v: the join reply does not mark the watchers stale: %q", degraded, frames)
		}
		// The page answers from the node's last read at once; it says the
		// count is stale once the node knows the store is down (before,
		// the last read is less than presenceFresh old: current enough).
		within(t, "a lot page", func() {
			if lot := page(); degraded && !lot.WatchersStale {
				t.Errorf("degraded: the lot page does not mark the watchers stale: %+v", lot)
			}
		})
	}
}

// TestSocialRefusedWhileDegraded: chat, reactions and the lobby's views
// are refused at once with unavailable while the store is down, and
// /readyz says so (and since when) but stays ready: money still works.
func TestSocialRefusedWhileDegraded(t *testing.T) {
	l := newFakeLedger()
	h, fh := newFrozenHub(t, l)
	s := testSession(h, "alice")
	if _, perr := s.join(context.Background(), protocol.Request{Type: "join", ID: "j", Lot: l.id.String()}, l.id); perr != nil {
		t.Fatal(perr)
	}
	fh.frozen.Store(true)
	fh.degraded.Store(true)
	for _, req := range []protocol.Request{
		{Type: "chat", ID: "c1", Lot: l.id.String(), Text: "hello"},
		{Type: "react", ID: "r1", Lot: l.id.String(), Emoji: "🔥"},
		{Type: "watch", ID: "w1"},
	} {
		within(t, req.Type, func() {
			_, perr := s.run(context.Background(), req)
			if perr == nil || perr.Code != protocol.ErrUnavailable {
				t.Errorf("%s while degraded: %v, want %s", req.Type, perr, protocol.ErrUnavailable)
			}
		})
	}
	rec := httptest.NewRecorder()
	h.Handler(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/leaderboard", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"unavailable"`) {
		t.Fatalf("GET /api/leaderboard while degraded: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.Handler(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var ready struct {
		Ready    bool `json:"ready"`
		Firehose struct {
			Degraded bool   `json:"degraded"`
			Since    string `json:"since"`
		} `json:"firehose"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &ready); err != nil || rec.Code != http.StatusOK || !ready.Ready ||
		!ready.Firehose.Degraded || ready.Firehose.Since != protocol.Time(fh.since) {
		t.Fatalf("/readyz while degraded: %d %s", rec.Code, rec.Body)
	}
	// A committed event is left to the outbox relay at once: no publish
	// is even tried while the store is down.
	l.commit()
	within(t, "a publish", func() { h.publish(context.Background(), l.events[len(l.events)-1:]) })
	h.pub.waitPublishes()
	var m dto.Metric
	if err := h.metrics.deferred.Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
		t.Fatalf("events left to the relay: %v %v, want 1", m.GetCounter().GetValue(), err)
	}
}

func (f *fakeLedger) Ping(context.Context) error { return nil }

// TestLotPageAnswersFromItsLastRead: a lot page the node has read before
// never waits for the social store: with the store frozen (before the node
// knows), the page answers with the last read's watchers, not marked
// stale, while the new read it started is still blocked.
func TestLotPageAnswersFromItsLastRead(t *testing.T) {
	l := newFakeLedger()
	h, fh := newFrozenHub(t, l)
	page := lotPage(t, h, l)
	page()                                          // the node's first read of the lot's presence
	time.Sleep(presenceFresh + 50*time.Millisecond) // older than fresh: the next page starts a read
	fh.frozen.Store(true)
	if lot := page(); lot.WatchersStale {
		t.Fatalf("the page waited for its new read, or marked the last good one stale: %+v", lot)
	}
	// The refresh runs in the background: it may not have reached the
	// store yet when the page returns, but it must be blocked there soon
	// after — a page that had waited for it would find it ended.
	for deadline := time.Now().Add(500 * time.Millisecond); fh.waiting.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the page returned after its presence read ended: it waited on the store")
		}
	}
}
