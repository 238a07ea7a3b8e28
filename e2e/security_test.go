package e2e

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/lotzero/lotzero/protocol"
)

// closeCode dials raw, sends the frames and returns the close status the
// server ends the connection with.
func closeCode(t *testing.T, url string, header http.Header, frames ...string) websocket.StatusCode {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.CloseNow()
	for _, f := range frames {
		if err := conn.Write(ctx, websocket.MessageText, []byte(f)); err != nil {
			break
		}
	}
	for {
		_, _, err := conn.Read(ctx)
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

func TestHelloRefusals(t *testing.T) {
	s := startServer(t, "", "LOTZERO_HELLO_TIMEOUT=1s")
	good := s.login(t, "alice", "eu-west-1")
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "roles": []string{"bidder"}, "iss": "lotzero", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte("not-the-key"))
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "roles": []string{"bidder"}, "iss": "lotzero", "exp": time.Now().Add(-time.Minute).Unix(),
	}).SignedString([]byte("lotzero-demo-mode-public-key"))
	none := strings.Join([]string{`eyJhbGciOiJub25lIn0`, `eyJzdWIiOiJhbGljZSJ9`, ``}, ".")
	cases := []struct {
		name  string
		frame string
		want  websocket.StatusCode
	}{
		{"forged token", `{"type":"hello","token":"` + forged + `","region":"eu-west-1"}`, protocol.CloseUnauthorized},
		{"expired token", `{"type":"hello","token":"` + expired + `","region":"eu-west-1"}`, protocol.CloseUnauthorized},
		{"alg none", `{"type":"hello","token":"` + none + `","region":"eu-west-1"}`, protocol.CloseUnauthorized},
		{"missing token", `{"type":"hello","region":"eu-west-1"}`, protocol.CloseUnauthorized},
		{"not a hello", `{"type":"bid","id":"1","lot":"x","amount":5}`, protocol.CloseUnauthorized},
	}
	for _, c := range cases {
		if got := closeCode(t, s.WS, nil, c.frame); got != c.want {
			t.Errorf("%s: closed with %d, want %d", c.name, got, c.want)
		}
	}
	if got := closeCode(t, s.WS, nil); got != protocol.CloseHelloTimeout {
		t.Errorf("no hello: closed with %d, want 4008", got)
	}
	foreign := http.Header{"Origin": []string{"https://evil.example"}}
	if got := closeCode(t, s.WS, foreign, `{"type":"hello","token":"`+good+`","region":"eu-west-1"}`); got != protocol.ClosePolicy {
		t.Errorf("foreign origin: closed with %d, want 1008", got)
	}
	// The server's own origin is fine.
	c, err := protocol.Dial(ctxT(t, 10*time.Second), s.WS, good, "eu-west-1",
		&protocol.DialOptions{HTTPHeader: http.Header{"Origin": []string{s.URL}}})
	if err != nil {
		t.Fatalf("same origin refused: %v", err)
	}
	c.Close()
}

// TestBadInput: every malformed request gets an error reply naming the
// problem, the socket stays open, and no money moves.
func TestBadInput(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"english","title":"lamp","start_price":1000,"duration_s":600}`)
	tok := s.login(t, "alice", "eu-west-1")
	c, err := protocol.Dial(ctxT(t, 10*time.Second), s.WS, tok, "eu-west-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := s.wallet(t, tok)
	long := strings.Repeat("x", 501)
	cases := []struct{ frame, code, says string }{
		{`not json`, "bad_request", "JSON object"},
		{`[1,2]`, "bad_request", "JSON object"},
		{`{"type":"bid"} {"type":"bid"}`, "bad_request", "exactly one"},
		{`{"id":"1"}`, "bad_request", "type"},
		{`{"type":"teleport","id":"1"}`, "bad_request", "unknown type"},
		{`{"type":"bid","lot":"` + lot + `","amount":1000}`, "bad_request", "id"},
		{`{"type":"bid","id":"","lot":"` + lot + `","amount":1000}`, "bad_request", "id"},
		{`{"type":"bid","id":"` + strings.Repeat("i", 65) + `","lot":"` + lot + `","amount":1000}`, "bad_request", "id"},
		{`{"type":"bid","id":"b1","lot":"` + lot + `"}`, "bad_request", "amount"},
		{`{"type":"bid","id":"b2","lot":"` + lot + `","amount":"1000"}`, "bad_request", "integer"},
		{`{"type":"bid","id":"b3","lot":"` + lot + `","amount":10.5}`, "bad_request", "integer"},
		{`{"type":"bid","id":"b4","lot":"` + lot + `","amount":1e3}`, "bad_request", "integer"},
		{`{"type":"bid","id":"b5","lot":"` + lot + `","amount":0}`, "bad_request", "amount"},
		{`{"type":"bid","id":"b6","lot":"` + lot + `","amount":-5}`, "bad_request", "amount"},
		{`{"type":"bid","id":"b7","lot":"` + lot + `","amount":9007199254740992}`, "bad_request", "range"},
		{`{"type":"bid","id":"b8","lot":"` + lot + `","amount":99999999999999999999999}`, "bad_request", "range"},
		{`{"type":"bid","id":"b9","lot":"` + lot + `","amount":2000,"max":1000}`, "bad_request", "max"},
		{`{"type":"bid","id":"b10","lot":"` + lot + `","amount":2000,"user":"bob"}`, "bad_request", "user"},
		{`{"type":"bid","id":"b11","lot":"nope","amount":2000}`, "bad_request", "lot"},
		{`{"type":"bid","id":"b12","lot":"00000000-0000-0000-0000-000000000000","amount":2000}`, "not_found", "lot"},
		{`{"type":"bid","id":"b13","lot":"` + lot + `","amount":2000000000}`, "insufficient_funds", "needs"},
		{`{"type":"claim","id":"c1","lot":"` + lot + `"}`, "bad_request", "english"},
		{`{"type":"buy","id":"d1","lot":"` + lot + `","qty":0}`, "bad_request", "qty"},
		{`{"type":"chat","id":"t1","lot":"` + lot + `","text":"` + long + `"}`, "bad_request", "text"},
		{`{"type":"chat","id":"t2","lot":"` + lot + `","text":"   "}`, "bad_request", "text"},
		{`{"type":"chat","id":"t3","lot":"` + lot + `","text":"hi"}`, "bad_request", "join"},
		{`{"type":"react","id":"r1","lot":"` + lot + `","emoji":"💩"}`, "bad_request", "emoji"},
		{`{"type":"tick","id":"k1","lot":"` + lot + `"}`, "forbidden", "host role"}, // a bidder: refused before the lot is read (issue 11)
		{`{"type":"hello","token":"x","region":"eu-west-1"}`, "bad_request", "hello"},
		// Issue 11, identity and input (lz11-ident): qty 0, duplicate keys,
		// control characters and bidirectional overrides.
		{`{"type":"claim","id":"c2","lot":"` + lot + `","qty":0}`, "bad_request", "qty"},
		{`{"type":"bid","id":"b14","lot":"` + lot + `","amount":1,"amount":5000}`, "bad_request", "duplicate"},
		{`{"type":"bid","id":"b15","lot":"` + lot + `","amount":5000,"\u0061mount":1}`, "bad_request", "duplicate"},
		{`{"type":"ping","id":"p\u0000"}`, "bad_request", "control"},
		{`{"type":"ping","id":"p\u001b[31m"}`, "bad_request", "control"},
		{`{"type":"ping","id":"p\u202e"}`, "bad_request", "bidirectional"},
		{`{"type":"chat","id":"t4","lot":"` + lot + `","text":"gnp.\u202eexe"}`, "bad_request", "bidirectional"},
		{`{"type":"chat","id":"t5","lot":"` + lot + `","text":"a\u2067b"}`, "bad_request", "bidirectional"},
		{`{"type":"chat","id":"t6","lot":"` + lot + `","text":"a\u0000b"}`, "bad_request", "control"},
		// End of issue 11, identity and input.
	}
	for _, tc := range cases {
		id := requestIDOf(tc.frame)
		if err := c.WriteRaw(ctxT(t, 5*time.Second), []byte(tc.frame)); err != nil {
			t.Fatalf("%s: %v", tc.frame, err)
		}
		r := nextReply(t, c, id)
		if r.OK || r.Error == nil || r.Error.Code != tc.code || !strings.Contains(strings.ToLower(r.Error.Message), strings.ToLower(tc.says)) {
			t.Errorf("%s\n  got %+v, want %s mentioning %q", tc.frame, r.Error, tc.code, tc.says)
		}
	}
	// Still open, and nothing moved.
	mustOK(t, c, protocol.Request{Type: "ping"}, nil)
	if after := s.wallet(t, tok); after != before {
		t.Fatalf("bad input moved money: %+v -> %+v", before, after)
	}
	// A frame over the read limit closes with 1009.
	if err := c.WriteRaw(ctxT(t, 5*time.Second), []byte(`{"type":"chat","id":"x","text":"`+strings.Repeat("y", protocol.ReadLimit)+`"}`)); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if got := websocket.CloseStatus(c.Err()); got != protocol.CloseTooBig {
		t.Fatalf("oversized frame: %v (status %d), want 1009", c.Err(), got)
	}
	s.audit(t)
}

// requestIDOf digs the id out of a test frame ("" if none).
func requestIDOf(frame string) string {
	r, _ := protocol.ParseRequest([]byte(frame))
	return r.ID
}

// nextReply reads raw frames for the reply to id (the client's read loop
// routes replies to pending requests only, so WriteRaw replies are read
// from a side channel of Messages: errors without a pending request).
func nextReply(t *testing.T, c *protocol.Client, id string) protocol.Reply {
	t.Helper()
	m := next(t, c, 5*time.Second, func(m protocol.Message) bool { return m.Reply != nil && m.Reply.Re == id })
	return *m.Reply
}

func TestHostOnlyCommandsAndRateLimit(t *testing.T) {
	s := startServer(t, "", "LOTZERO_COMMAND_RATE=5", "LOTZERO_COMMAND_BURST=5")
	lot := s.createLot(t, `{"kind":"dutch","title":"wine","start_price":10000,"floor_price":1000,"step":500,"interval_ms":60000,"qty":5}`)
	bidder := s.dial(t, "bob", "us-west-2")
	for _, typ := range []string{"tick", "open", "close"} {
		r := do(t, bidder, protocol.Request{Type: typ, Lot: lot})
		if r.OK || r.Error.Code != protocol.ErrForbidden {
			t.Fatalf("bidder %s: %+v", typ, r.Error)
		}
	}
	// A bidder cannot create lots either.
	err := protocol.PostJSON(ctxT(t, 5*time.Second), s.URL+"/api/lots", s.login(t, "bob", "us-west-2"),
		[]byte(`{"kind":"drop","title":"x","price":1,"qty":1}`), nil)
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.ErrForbidden {
		t.Fatalf("bidder creating a lot: %v", err)
	}
	// The host may tick.
	host := s.dial(t, "auctioneer", "us-east-1")
	var tick protocol.TickResult
	mustOK(t, host, protocol.Request{Type: "tick", Lot: lot}, &tick)
	if tick.Price != 9500 || tick.Step != 1 {
		t.Fatalf("tick: %+v", tick)
	}
	// Past the burst: rate_limited, and a session that keeps going is closed with 4029.
	limited := 0
	for i := 0; i < 60; i++ {
		r, err := bidder.Do(ctxT(t, 5*time.Second), protocol.Request{Type: "ping"})
		if err != nil {
			break
		}
		if !r.OK && r.Error.Code == protocol.ErrRateLimited {
			limited++
		}
	}
	<-bidder.Done()
	if limited == 0 || websocket.CloseStatus(bidder.Err()) != protocol.CloseRateLimited {
		t.Fatalf("rate limit: %d limited replies, closed with %v", limited, bidder.Err())
	}
}

func TestGracefulShutdownClosesWith1001(t *testing.T) {
	s := startServer(t, "")
	c := s.dial(t, "alice", "eu-west-1")
	mustOK(t, c, protocol.Request{Type: "ping"}, nil)
	s.stop()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("session not closed by shutdown")
	}
	if got := websocket.CloseStatus(c.Err()); got != protocol.CloseGoingAway {
		t.Fatalf("shutdown closed the session with %d (%v), want 1001", got, c.Err())
	}
}
