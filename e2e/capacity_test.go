package e2e

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lotzero/lotzero/protocol"
)

// TestConnectionCapRefusesBeforeUpgrade: a node at its connection cap
// refuses a new connection with HTTP 503 (and Retry-After) before the
// WebSocket upgrade, counts it in /metrics, and takes connections again once
// one closes. Sessions already in are untouched.
func TestConnectionCapRefusesBeforeUpgrade(t *testing.T) {
	s := startServer(t, "", "LOTZERO_MAX_SESSIONS=3")
	var in []*protocol.Client
	for _, u := range []string{"alice", "bob", "carol"} {
		in = append(in, s.dial(t, u, "eu-west-1"))
	}
	_, resp, err := websocket.Dial(ctxT(t, 5*time.Second), s.WS, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("a fourth connection over a cap of 3: err %v, status %d", err, status)
	}
	if !strings.Contains(get(t, s.URL+"/metrics"), `lotzero_connections_refused_total{reason="capacity"} 1`) {
		t.Fatal("/metrics must count the refusal")
	}
	if _, err := in[0].Do(ctxT(t, 5*time.Second), protocol.Request{Type: "ping"}); err != nil {
		t.Fatalf("a session already in must be untouched: %v", err)
	}
	in[0].Close()
	var again *protocol.Client
	for deadline := time.Now().Add(5 * time.Second); again == nil; time.Sleep(20 * time.Millisecond) {
		c, err := protocol.Dial(ctxT(t, 5*time.Second), s.WS, s.login(t, "dave", "eu-west-1"), "eu-west-1", nil)
		if err == nil {
			again = c
			break
		}
		var ce websocket.CloseError
		if time.Now().After(deadline) || errors.As(err, &ce) {
			t.Fatalf("after a session closed, a new one must get in: %v", err)
		}
	}
	again.Close()
}
