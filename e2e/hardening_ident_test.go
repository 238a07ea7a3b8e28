package e2e

// Issue 11, roles, identity and input: each test here failed on the server
// before the fix it names.

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/lotzero/lotzero/protocol"
)

// prodSecret is the production-mode tests' auth secret (32+ bytes).
const prodSecret = "e2e-production-secret-0123456789abcdef"

// mint signs a token with secret as `lotzero token` would, issued at iat
// and living ttl.
func mint(t *testing.T, secret, user string, roles []string, iat time.Time, ttl time.Duration) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "roles": roles, "iss": "lotzero", "iat": iat.Unix(), "exp": iat.Add(ttl).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// httpCode is the error code of a failed HTTP call ("" when it succeeded).
func httpCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var perr *protocol.Error
	if !errors.As(err, &perr) {
		t.Fatalf("not an error answer: %v", err)
	}
	return perr.Code
}

// TestHostCommandsNeedHostRole: a bidder- or bot-only token for the host's
// own user name may not tick, open or close the host's lots.
func TestHostCommandsNeedHostRole(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"dutch","title":"wine","start_price":10000,"floor_price":1000,"step":500,"interval_ms":60000,"qty":5,"open":false}`)
	for _, roles := range [][]string{{"bidder"}, {"bot"}} {
		c := s.dial(t, "auctioneer", "us-east-1", roles...)
		for _, typ := range []string{"open", "tick", "close"} {
			r := do(t, c, protocol.Request{Type: typ, Lot: lot})
			if r.OK || r.Error.Code != protocol.ErrForbidden {
				t.Errorf("auctioneer as %v may %s: %+v", roles, typ, r.Error)
			}
		}
	}
	var l struct {
		Lot protocol.Lot `json:"lot"`
	}
	if err := protocol.GetJSON(ctxT(t, 5*time.Second), s.URL+"/api/lots/"+lot, "", &l); err != nil || l.Lot.Status != "scheduled" || l.Lot.Seq != 0 {
		t.Fatalf("the lot moved: %+v %v", l.Lot, err)
	}
	// With the host role the same user may.
	host := s.dial(t, "auctioneer", "us-east-1", "bidder", "host")
	mustOK(t, host, protocol.Request{Type: "open", Lot: lot}, nil)
	mustOK(t, host, protocol.Request{Type: "tick", Lot: lot}, nil)
	mustOK(t, host, protocol.Request{Type: "close", Lot: lot}, nil)
	s.audit(t)
}

// TestMalformedHelloCloses4001: a first frame that is not a well-formed
// hello closes with 4001, as the contract says (it got a bad_request and
// the socket stayed open).
func TestMalformedHelloCloses4001(t *testing.T) {
	s := startServer(t, "")
	good := s.login(t, "alice", "eu-west-1")
	for _, frame := range []string{
		`not json`,
		`[1,2]`,
		`{"token":"` + good + `","region":"eu-west-1"}`,
		`{"type":"hello","token":"x","token":"` + good + `","region":"eu-west-1"}`,
	} {
		if got := closeCode(t, s.WS, nil, frame); got != protocol.CloseUnauthorized {
			t.Errorf("%.40s: closed with %d, want 4001", frame, got)
		}
	}
	// A hello with a malformed region may still be corrected.
	ctx := ctxT(t, 10*time.Second)
	conn, _, err := websocket.Dial(ctx, s.WS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	for _, f := range []string{`{"type":"hello","token":"` + good + `","region":"EU"}`, `{"type":"hello","token":"` + good + `","region":"eu-west-1"}`} {
		if err := conn.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{`"bad_request"`, `"welcome"`} {
		_, b, err := conn.Read(ctx)
		if err != nil || !strings.Contains(string(b), want) {
			t.Fatalf("want %s: %s %v", want, b, err)
		}
	}
}

// TestChatIDReusedInAnotherLot: a chat id used in one lot and again in
// another is delivered in both (it was acknowledged and dropped).
func TestChatIDReusedInAnotherLot(t *testing.T) {
	s := startServer(t, "")
	a := s.createLot(t, `{"kind":"english","title":"lamp","start_price":1000,"duration_s":600}`)
	b := s.createLot(t, `{"kind":"english","title":"vase","start_price":1000,"duration_s":600}`)
	c := s.dial(t, "alice", "eu-west-1")
	mustOK(t, c, protocol.Request{Type: "join", Lot: a}, nil)
	mustOK(t, c, protocol.Request{Type: "join", Lot: b}, nil)
	for _, lot := range []string{a, b} {
		if err := c.WriteRaw(ctxT(t, 5*time.Second), []byte(`{"type":"chat","id":"same-id","lot":"`+lot+`","text":"hello `+lot+`"}`)); err != nil {
			t.Fatal(err)
		}
		next(t, c, 10*time.Second, func(m protocol.Message) bool {
			return m.Event != nil && m.Event.Kind == "chat" && m.Event.Lot == lot && strings.Contains(string(m.Event.Data), "hello "+lot)
		})
	}
}

// TestInputHardening: an explicit qty 0 buys nothing, duplicate keys,
// control characters and bidirectional overrides are refused on the
// WebSocket and over HTTP, and Dutch lots are bounded; nothing moves and
// the audit stays clean.
func TestInputHardening(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"dutch","title":"tuna","start_price":50000,"floor_price":1000,"step":1000,"interval_ms":60000,"qty":5}`)
	tok := s.login(t, "alice", "eu-west-1")
	c, err := protocol.Dial(ctxT(t, 10*time.Second), s.WS, tok, "eu-west-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := s.wallet(t, tok)
	for _, tc := range []struct{ frame, id string }{
		{`{"type":"claim","id":"q0","lot":"` + lot + `","qty":0}`, "q0"},
		{`{"type":"claim","id":"q1","lot":"` + lot + `","qty":1,"qty":0}`, "q1"},
		{`{"type":"claim","id":"n\u0000ul","lot":"` + lot + `"}`, "n\x00ul"},
	} {
		frame := tc.frame
		if err := c.WriteRaw(ctxT(t, 5*time.Second), []byte(frame)); err != nil {
			t.Fatal(err)
		}
		r := nextReply(t, c, tc.id)
		if r.OK || r.Error.Code != protocol.ErrBadRequest {
			t.Errorf("%s: %+v", frame, r)
		}
	}
	if after := s.wallet(t, tok); after != before {
		t.Fatalf("refused claims moved money: %+v -> %+v", before, after)
	}
	host := s.login(t, "auctioneer", "us-east-1")
	ctx := ctxT(t, 20*time.Second)
	for _, body := range []string{
		`{"kind":"drop","title":"nul\u0000title","price":100,"qty":1}`,
		`{"kind":"drop","title":"evil\u202etxt.exe","price":100,"qty":1}`,
		`{"kind":"drop","title":"bell\u0007","price":100,"qty":1}`,
		`{"kind":"drop","title":"a","title":"b","price":100,"qty":1}`,
		`{"kind":"drop","title":"x","price":100,"Price":1,"qty":1}`,
		`{"kind":"dutch","title":"forever","start_price":9007199254740991,"floor_price":1,"step":1,"interval_ms":100,"qty":1}`,
		`{"kind":"dutch","title":"slow","start_price":1000,"floor_price":1,"step":1,"interval_ms":3600000,"qty":1}`,
	} {
		if code := httpCode(t, protocol.PostJSON(ctx, s.URL+"/api/lots", host, []byte(body), nil)); code != protocol.ErrBadRequest {
			t.Errorf("POST /api/lots %s: %q, want bad_request", body, code)
		}
	}
	if code := httpCode(t, protocol.PostJSON(ctx, s.URL+"/api/wallet/deposit", tok, []byte(`{"amount":1,"amount":5000}`), nil)); code != protocol.ErrBadRequest {
		t.Errorf("deposit with a duplicate amount: %q", code)
	}
	if after := s.wallet(t, tok); after != before {
		t.Fatalf("refused requests moved money: %+v -> %+v", before, after)
	}
	s.audit(t)
}

// rebindDial opens the WebSocket as a DNS-rebinding page would: to the
// server's address, but naming host in the URL (so in Host) and in Origin.
func rebindDial(t *testing.T, s *server, origin, host string) websocket.StatusCode {
	t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, s.addr)
	}}}
	ctx := ctxT(t, 10*time.Second)
	conn, _, err := websocket.Dial(ctx, "ws://"+net.JoinHostPort(host, port)+"/ws",
		&websocket.DialOptions{HTTPClient: client, HTTPHeader: http.Header{"Origin": []string{origin}}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.CloseNow()
	tok := s.login(t, "alice", "eu-west-1")
	_ = conn.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","token":"`+tok+`","region":"eu-west-1"}`))
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return websocket.CloseStatus(err)
		}
		if bytes.Contains(b, []byte(`"welcome"`)) {
			return websocket.StatusNormalClosure // let in
		}
	}
}

// TestOriginIsNotTheHostHeader: an Origin equal to the request's Host is
// no longer enough (a DNS-rebinding page controls both); the listen
// address and its localhost forms are the default public origins, and
// LOTZERO_PUBLIC_ORIGINS and LOTZERO_ALLOWED_ORIGINS add others.
func TestOriginIsNotTheHostHeader(t *testing.T) {
	s := startServer(t, "")
	_, port, _ := net.SplitHostPort(s.addr)
	if got := rebindDial(t, s, "http://rebind.evil.test:"+port, "rebind.evil.test"); got != protocol.ClosePolicy {
		t.Errorf("rebinding page: %d, want 1008", got)
	}
	for _, origin := range []string{s.URL, "http://localhost:" + port} {
		if got := rebindDial(t, s, origin, "127.0.0.1"); got != websocket.StatusNormalClosure {
			t.Errorf("default public origin %s: closed with %d", origin, got)
		}
	}
	cfg := startServer(t, "", "LOTZERO_PUBLIC_ORIGINS=https://auction.example", "LOTZERO_ALLOWED_ORIGINS=*.partner.example")
	for origin, want := range map[string]websocket.StatusCode{
		"https://auction.example":   websocket.StatusNormalClosure,
		"https://a.partner.example": websocket.StatusNormalClosure,
		"http://auction.example":    protocol.ClosePolicy,
		"https://evil.example":      protocol.ClosePolicy,
	} {
		if got := rebindDial(t, cfg, origin, "auction.example"); got != want {
			t.Errorf("configured origins, %s: %d, want %d", origin, got, want)
		}
	}
}

// TestProductionIdentity runs with an auth secret: token lifetimes are
// capped, future tokens refused, a bidder-only host token cannot run the
// host's lots, and the audit is for operators and hosts, paced.
func TestProductionIdentity(t *testing.T) {
	// Production settings seed nothing by default; this test acts as the
	// demo users, so it asks for them.
	s := startServer(t, "", "LOTZERO_AUTH_SECRET="+prodSecret, "LOTZERO_AUDIT_EVERY=1m", "LOTZERO_SEED=true")
	now := time.Now()
	host := mint(t, prodSecret, "auctioneer", []string{"bidder", "host"}, now, time.Hour)
	ctx := ctxT(t, 30*time.Second)
	var created struct {
		Lot protocol.Lot `json:"lot"`
	}
	if err := protocol.PostJSON(ctx, s.URL+"/api/lots", host, []byte(`{"kind":"english","title":"clock","start_price":1000,"duration_s":600}`), &created); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"issued in an hour":    mint(t, prodSecret, "alice", []string{"bidder"}, now.Add(time.Hour), time.Hour),
		"living ten years":     mint(t, prodSecret, "alice", []string{"bidder"}, now, 10*365*24*time.Hour),
		"living 25 hours":      mint(t, prodSecret, "alice", []string{"bidder"}, now, 25*time.Hour),
		"signed with the demo": mint(t, "lotzero-demo-mode-public-key", "alice", []string{"bidder"}, now, time.Hour),
	} {
		if got := closeCode(t, s.WS, nil, `{"type":"hello","token":"`+tok+`","region":"eu-west-1"}`); got != protocol.CloseUnauthorized {
			t.Errorf("%s: closed with %d, want 4001", name, got)
		}
	}
	// Within the skew allowance is fine.
	skewed, err := protocol.Dial(ctx, s.WS, mint(t, prodSecret, "alice", []string{"bidder"}, now.Add(20*time.Second), time.Hour), "eu-west-1", nil)
	if err != nil {
		t.Fatalf("a token 20 s ahead: %v", err)
	}
	skewed.Close()
	// A bidder-only token for the host's name cannot close the host's lot.
	c, err := protocol.Dial(ctx, s.WS, mint(t, prodSecret, "auctioneer", []string{"bidder"}, now, time.Hour), "us-east-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r := do(t, c, protocol.Request{Type: "close", Lot: created.Lot.ID}); r.OK || r.Error.Code != protocol.ErrForbidden {
		t.Fatalf("bidder-only auctioneer closed the lot: %+v", r)
	}
	// The audit: no token 401, a bidder 403, an operator 200 twice (the
	// burst), then 429.
	audit := func(tok string) string {
		return httpCode(t, protocol.GetJSON(ctx, s.URL+"/api/audit", tok, nil))
	}
	bidder := mint(t, prodSecret, "alice", []string{"bidder"}, now, time.Hour)
	operator := mint(t, prodSecret, "ops", []string{"operator"}, now, time.Hour)
	if got := audit(""); got != protocol.ErrUnauthorized {
		t.Errorf("audit without a token: %q", got)
	}
	if got := audit(bidder); got != protocol.ErrForbidden {
		t.Errorf("audit as a bidder: %q", got)
	}
	var a struct {
		OK bool `json:"ok"`
	}
	if err := protocol.GetJSON(ctx, s.URL+"/api/audit", operator, &a); err != nil || !a.OK {
		t.Fatalf("audit as an operator: %+v %v", a, err)
	}
	if got := audit(host); got != "" {
		t.Errorf("audit as a host: %q", got)
	}
	if got := audit(operator); got != protocol.ErrRateLimited {
		t.Errorf("a third audit at once: %q, want rate_limited", got)
	}
}

// TestProductionSecretAndTokenCommand: a secret under 32 bytes stops serve
// and token at start, and token without a secret fails instead of minting
// with the public demo key.
func TestProductionSecretAndTokenCommand(t *testing.T) {
	env := func(extra ...string) []string {
		var out []string
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "LOTZERO_AUTH_SECRET=") {
				out = append(out, e)
			}
		}
		return append(out, extra...)
	}
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(binary, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(env(), "token", "--user", "alice"); err == nil || strings.Count(out, ".") >= 2 && !strings.Contains(out, "LOTZERO_AUTH_SECRET") {
		t.Errorf("token without a secret: %v %q", err, out)
	}
	if out, err := run(env("LOTZERO_AUTH_SECRET=s3cret"), "token", "--user", "alice"); err == nil || !strings.Contains(out, "32") {
		t.Errorf("token with a short secret: %v %q", err, out)
	}
	if out, err := run(env("LOTZERO_AUTH_SECRET="+prodSecret), "token", "--user", "alice", "--ttl", "48h"); err == nil {
		t.Errorf("token over the lifetime cap: %q", out)
	}
	out, err := run(env("LOTZERO_AUTH_SECRET="+prodSecret), "token", "--user", "ops", "--role", "operator")
	if err != nil || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("token: %v %q", err, out)
	}
	cmd := exec.Command(binary, "serve", "--addr", freeAddr(t), "--data-dir", dataDir(t), "--log-level", "warn")
	cmd.Env = env("LOTZERO_AUTH_SECRET=s3cret")
	done := make(chan error, 1)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(logs.String(), "32 bytes") {
			t.Fatalf("serve with a short secret: %v %s", err, logs.String())
		}
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("serve with a short secret kept running")
	}
}

// TestProductionStartsEmpty: with an auth secret (a production deployment)
// the server seeds no demo lots or users unless asked to.
func TestProductionStartsEmpty(t *testing.T) {
	s := startServer(t, "", "LOTZERO_AUTH_SECRET="+prodSecret)
	ctx := ctxT(t, 30*time.Second)
	var lobby struct {
		Lots   []protocol.Lot `json:"lots"`
		Recent []protocol.Lot `json:"recent"`
	}
	if err := protocol.GetJSON(ctx, s.URL+"/api/lots", "", &lobby); err != nil {
		t.Fatal(err)
	}
	if n := len(lobby.Lots) + len(lobby.Recent); n != 0 {
		t.Fatalf("a production server listed %d lots on its first start, want none (no demo seed)", n)
	}
}
