package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

func TestOriginAllowed(t *testing.T) {
	h := &Hub{opts: Options{AllowedOrigins: []string{"*.example.com", "shop.test:8443"},
		PublicOrigins: []string{"https://lotzero.local", "127.0.0.1:8080"}}}
	for origin, want := range map[string]bool{
		"":                       true,  // bots send none
		"https://lotzero.local":  true,  // a public origin
		"http://lotzero.local":   false, // ... with its scheme
		"http://127.0.0.1:8080":  true,  // a bare host:port, any scheme
		"http://127.0.0.1:9090":  false,
		"https://a.example.com":  true,
		"https://example.com":    false,
		"https://shop.test:8443": true,
		"https://evil.test":      false,
		"null":                   false,
	} {
		r := httptest.NewRequest("GET", "http://lotzero.local/ws", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if got := h.originAllowed(r); got != want {
			t.Errorf("origin %q: %v, want %v", origin, got, want)
		}
	}
}

// TestOriginIgnoresHost: a DNS-rebinding page names its own host in both
// Origin and Host; matching them must not let it in.
func TestOriginIgnoresHost(t *testing.T) {
	h := &Hub{opts: Options{PublicOrigins: []string{"127.0.0.1:8080", "localhost:8080"}}}
	r := httptest.NewRequest("GET", "http://rebind.evil.test:8080/ws", nil)
	r.Header.Set("Origin", "http://rebind.evil.test:8080")
	if h.originAllowed(r) {
		t.Fatal("an Origin equal to the Host header was accepted")
	}
}

// wsLedger is the fake ledger with what a connection's welcome reads.
type wsLedger struct{ *fakeLedger }

func (wsLedger) Wallet(context.Context, string) (ledger.Wallet, error) {
	return ledger.Wallet{}, errors.New("no wallets in this test")
}
func (wsLedger) Backend() ledger.Backend { return ledger.Backend("fake") }

// dialTestHub starts a hub's HTTP handler and dials it with a session of
// user, returning the connection after its welcome.
func dialTestHub(t *testing.T, h *Hub, user string) *websocket.Conn {
	t.Helper()
	srv := httptest.NewServer(h.Handler(nil))
	t.Cleanup(srv.Close)
	return dialServer(t, h, srv, user)
}

// dialServer is dialTestHub on a server of the test's making.
func dialServer(t *testing.T, h *Hub, srv *httptest.Server, user string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	token, err := h.Tokens().Mint(user, []string{RoleBidder}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	hello, _ := json.Marshal(protocol.Hello{Type: "hello", Token: token, Region: "eu-west-1"})
	if err := conn.Write(ctx, websocket.MessageText, hello); err != nil {
		t.Fatal(err)
	}
	if _, frame, err := conn.Read(ctx); err != nil || !strings.Contains(string(frame), `"welcome"`) {
		t.Fatalf("welcome: %s %v", frame, err)
	}
	return conn
}

// TestPingsSpreadOverTheInterval: sessions that arrive together are
// pinged at times spread over the ping interval, not all in one burst (a
// crowd's pings were a write per session at once, in its bids' way), and a
// turn pings only the sessions due.
func TestPingsSpreadOverTheInterval(t *testing.T) {
	h := newTestHub(t, wsLedger{newFakeLedger()}, Options{AuthSecret: "test-secret-test-secret-test-secret"})
	const n = 200
	start, interval := nanotime(), int64(h.opts.PingInterval)
	early := 0
	for i := range n {
		due := testSession(h, fmt.Sprintf("u%d", i)).pingDue.Load() - start
		if due < 0 || due > interval+int64(time.Second) {
			t.Fatalf("first ping due %v after arrival, want within the interval %v", time.Duration(due), h.opts.PingInterval)
		}
		if due < interval/2 {
			early++
		}
	}
	if early < n*3/10 || early > n*7/10 {
		t.Fatalf("%d of %d sessions due in the interval's first half, want about half", early, n)
	}

	ctx := context.Background()
	a, b := dialTestHub(t, h, "a"), dialTestHub(t, h, "b")
	for _, c := range []*websocket.Conn{a, b} {
		go func() { _, _, _ = c.Read(ctx) }() // answers pings
	}
	h.mu.RLock()
	sa, sb := onlySession(h, "a"), onlySession(h, "b")
	h.mu.RUnlock()
	now := nanotime()
	sa.pingDue.Store(now - 1)
	sb.pingDue.Store(now + interval/2)
	h.pingDue(ctx, now)
	for deadline := time.Now().Add(5 * time.Second); sa.pingSent.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the due session was not pinged")
		}
	}
	if sb.pingSent.Load() != 0 {
		t.Fatal("a session not yet due was pinged")
	}
	if next := sa.pingDue.Load(); next != now-1+interval {
		t.Fatalf("next ping due at %d, want one interval after the last (%d)", next, now-1+interval)
	}

	// Sessions far behind (turns that stalled) are spread again, not
	// lined up at one point.
	var behind []*session
	for i := range n {
		s := testSession(h, fmt.Sprintf("late%d", i))
		s.cancel() // its ping returns at once: only the schedule is checked
		if !h.register(s) {
			t.Fatal("register")
		}
		s.pingDue.Store(0)
		behind = append(behind, s)
	}
	now = nanotime() + 10*interval
	h.pingDue(ctx, now)
	early = 0
	for _, s := range behind {
		next := s.pingDue.Load()
		if next < now+interval/2 || next >= now+interval/2+interval {
			t.Fatalf("a late session's next ping at now%+v, want within [interval/2, 3/2 interval)", time.Duration(next-now))
		}
		if next < now+interval {
			early++
		}
	}
	if early < n*3/10 || early > n*7/10 {
		t.Fatalf("%d of %d late sessions due in the first half, want about half", early, n)
	}
}

// onlySession is user's one session; the caller holds h.mu.
func onlySession(h *Hub, user string) *session {
	for s := range h.users[user] {
		return s
	}
	return nil
}

// TestUnansweredPingCloses: a peer that answers no ping within a ping
// round is closed with 1001 "ping timeout", the close frame waiting for it
// to read again; one that answers stays.
func TestUnansweredPingCloses(t *testing.T) {
	h := newTestHub(t, wsLedger{newFakeLedger()}, Options{AuthSecret: "test-secret-test-secret-test-secret"})
	ctx := context.Background()
	silent := dialTestHub(t, h, "silent") // reads nothing, so answers no ping
	alive := dialTestHub(t, h, "alive")
	aliveErr := make(chan error, 1)
	go func() {
		_, _, err := alive.Read(ctx) // answers pings while it waits
		aliveErr <- err
	}()
	h.pingDue(ctx, nanotime()+int64(time.Hour)) // every session is due
	// The pings go out from goroutines: the second round must come after
	// the first has reached the silent peer, which a loaded machine can delay.
	// So does the answer of the peer that reads.
	h.mu.RLock()
	ss, as := onlySession(h, "silent"), onlySession(h, "alive")
	h.mu.RUnlock()
	for deadline := time.Now().Add(10 * time.Second); ss.pingSent.Load() == 0 || as.pingSent.Load() == 0 || as.pongSeen.Load() < as.pingSent.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first round of pings was not sent and answered")
		}
	}
	h.pingDue(ctx, nanotime()+int64(2*time.Hour)) // silent has not answered: closed
	// Its ping round runs on a goroutine too: reading before it has run
	// would answer the first ping, and the round would ping again.
	select {
	case <-ss.ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a peer that answered no ping was not closed")
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _, err := silent.Read(rctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseGoingAway || ce.Reason != "ping timeout" {
		t.Fatalf("silent peer: %v, want 1001 ping timeout", err)
	}
	select {
	case err := <-aliveErr:
		t.Fatalf("a peer answering pings was closed: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	// The silent session is gone once its close handshake is over.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h.mu.RLock()
		n, aliveThere := len(h.sessions), len(h.users["alive"]) == 1
		h.mu.RUnlock()
		if n == 1 && aliveThere {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left (alive's there: %v), want only the one answering pings", n, aliveThere)
		}
	}
}
