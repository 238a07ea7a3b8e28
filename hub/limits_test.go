package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/lotzero/lotzero/protocol"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Garbage counts against the rate limit, more than a request does: a
// flood of it is answered rate_limited and ends in 4029.
func TestInvalidFramesAreRateLimited(t *testing.T) {
	h := newTestHub(t, newFakeLedger(), Options{CommandRate: 1, CommandBurst: 40, RateStrikes: 5})
	s := testSession(h, "alice")
	for i := 0; i < 40; i++ {
		s.handle([]byte(`{"type":"nonsense"`))
	}
	// A burst of 40 requests' worth is 40/invalidFrameCost invalid frames;
	// the rest are refused (their replies die with the closed queue).
	limited := counterValue(t, h.metrics.commands, "invalid", protocol.ErrRateLimited)
	if limited < float64(40-40/invalidFrameCost-1) {
		t.Fatalf("%v of 40 invalid frames were rate limited", limited)
	}
	if s.ctx.Err() == nil {
		t.Fatal("a session flooding invalid frames was not closed (4029)")
	}
}

func TestRoomsPerSessionCap(t *testing.T) {
	l := newFakeLedger()
	h := newTestHub(t, l, Options{MaxRoomsPerSession: 1})
	s := testSession(h, "alice")
	doJoin(t, s, l, nil)
	// A second lot is refused by the cap before any read; the same lot
	// again is a re-join, not a new room.
	_, perr := s.join(context.Background(), protocol.Request{Type: "join", ID: "j2", Lot: uuid.NewString()}, uuid.New())
	if perr == nil || perr.Code != protocol.ErrLimitExceeded {
		t.Fatalf("join past the cap: %v, want limit_exceeded", perr)
	}
	doJoin(t, s, l, nil)
}

func TestSessionsPerUserCap(t *testing.T) {
	h := newTestHub(t, newFakeLedger(), Options{MaxSessionsPerUser: 2})
	a, b, c := testSession(h, "alice"), testSession(h, "alice"), testSession(h, "alice")
	if !h.register(a) || !h.register(b) {
		t.Fatal("sessions within the cap refused")
	}
	if h.register(c) {
		t.Fatal("a third session for one user registered past the cap of 2")
	}
	if !h.register(testSession(h, "bob")) {
		t.Fatal("another user was refused")
	}
	h.unregister(a)
	if !h.register(c) {
		t.Fatal("a session was refused after another of its user ended")
	}
}

func TestPostBodiesAreBounded(t *testing.T) {
	h := newTestHub(t, newFakeLedger(), Options{MaxBodyBytes: 1024})
	srv := httptest.NewServer(h.Handler(nil))
	defer srv.Close()
	body := `{"user":"` + strings.Repeat("a", 4096) + `"}`
	for _, chunked := range []bool{false, true} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/session", strings.NewReader(body))
		if chunked {
			req.ContentLength = -1 // no length: the limit is found while reading
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error protocol.Error }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Code != protocol.ErrLimitExceeded {
			t.Fatalf("chunked=%v: %d %q, want 413 limit_exceeded", chunked, resp.StatusCode, e.Error.Code)
		}
	}
}

// counterValue reads one series of a hub counter.
func counterValue(t *testing.T, c *prometheus.CounterVec, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.WithLabelValues(labels...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
