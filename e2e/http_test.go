package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

func TestHTTPAPI(t *testing.T) {
	s := startServer(t, "")
	ctx := ctxT(t, 60*time.Second)
	host := s.login(t, "auctioneer", "us-east-1")

	var list struct {
		Lots []protocol.Lot `json:"lots"`
	}
	if err := protocol.GetJSON(ctx, s.URL+"/api/lots", "", &list); err != nil || len(list.Lots) < 9 {
		t.Fatalf("seeded lots: %d %v", len(list.Lots), err)
	}
	for _, body := range []string{
		`{"kind":"english","title":"watch","start_price":5000,"reserve":9000,"duration_s":300,"extension_s":20,"hard_end_s":600}`,
		`{"kind":"dutch","title":"fish","start_price":9000,"floor_price":1000,"step":500,"interval_ms":1000,"qty":3}`,
		`{"kind":"drop","title":"tees","price":2500,"qty":100,"per_user_limit":2,"open":false}`,
	} {
		var res struct {
			Lot map[string]any `json:"lot"`
		}
		if err := protocol.PostJSON(ctx, s.URL+"/api/lots", host, []byte(body), &res); err != nil {
			t.Fatalf("create %s: %v", body, err)
		}
		if _, hidden := res.Lot["reserve"]; hidden {
			t.Fatal("the reserve must stay hidden")
		}
		var one struct {
			Lot protocol.Lot `json:"lot"`
		}
		if err := protocol.GetJSON(ctx, s.URL+"/api/lots/"+res.Lot["id"].(string), "", &one); err != nil || one.Lot.ID != res.Lot["id"] {
			t.Fatalf("get lot: %+v %v", one, err)
		}
		if strings.Contains(body, `"open":false`) && one.Lot.Status != "scheduled" {
			t.Fatalf("open:false must schedule: %s", one.Lot.Status)
		}
	}
	bad := []struct{ body, code string }{
		{`{"kind":"drop","title":"x","price":25.5,"qty":1}`, "bad_request"},
		{`{"kind":"drop","title":"x","price":"25","qty":1}`, "bad_request"},
		{`{"kind":"drop","title":"x","price":25,"qty":1,"color":"red"}`, "bad_request"},
		{`{"kind":"auction","title":"x"}`, "bad_request"},
		{`{"kind":"english","title":"x","start_price":-1,"duration_s":60}`, "bad_request"},
		{`not json`, "bad_request"},
	}
	for _, b := range bad {
		err := protocol.PostJSON(ctx, s.URL+"/api/lots", host, []byte(b.body), nil)
		var perr *protocol.Error
		if !errors.As(err, &perr) || perr.Code != b.code {
			t.Errorf("POST /api/lots %s: %v, want %s", b.body, err, b.code)
		}
	}
	// Authentication.
	var perr *protocol.Error
	if err := protocol.GetJSON(ctx, s.URL+"/api/wallet", "", nil); !errors.As(err, &perr) || perr.Code != "unauthorized" {
		t.Fatalf("wallet without a token: %v", err)
	}
	if err := protocol.GetJSON(ctx, s.URL+"/api/wallet", "garbage", nil); !errors.As(err, &perr) || perr.Code != "unauthorized" {
		t.Fatalf("wallet with a bad token: %v", err)
	}
	if err := protocol.GetJSON(ctx, s.URL+"/api/lots/00000000-0000-0000-0000-000000000000", "", nil); !errors.As(err, &perr) || perr.Code != "not_found" {
		t.Fatalf("unknown lot: %v", err)
	}
	// Deposits, idempotent by Idempotency-Key.
	tok := s.login(t, "newcomer", "ap-southeast-1")
	before := s.wallet(t, tok)
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/wallet/deposit", strings.NewReader(`{"amount":12345}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Idempotency-Key", "dep-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("deposit: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	if after := s.wallet(t, tok); after.Funded != before.Funded+12345 {
		t.Fatalf("deposit twice under one key: %+v -> %+v", before, after)
	}
	if err := protocol.PostJSON(ctx, s.URL+"/api/wallet/deposit", tok, []byte(`{"amount":0}`), nil); !errors.As(err, &perr) || perr.Code != "bad_request" {
		t.Fatalf("zero deposit: %v", err)
	}
	// Health, readiness, metrics, the UI.
	mustOK(t, s.dial(t, "alice", "eu-west-1"), protocol.Request{Type: "ping"}, nil)
	for path, want := range map[string]string{
		"/healthz": `"ok":true`, "/readyz": `"ready":true`,
		"/metrics": "lotzero_commands_total", "/": "<title>LotZero</title>",
	} {
		body := get(t, s.URL+path)
		if !strings.Contains(body, want) {
			t.Errorf("GET %s lacks %q", path, want)
		}
	}
	for _, name := range []string{"lotzero_sessions", "lotzero_rooms", "lotzero_ledger_occ_retries_total",
		"lotzero_queue_dropped_frames_total", "lotzero_slow_consumer_closes_total", "lotzero_event_delivery_seconds"} {
		if !strings.Contains(get(t, s.URL+"/metrics"), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	s.audit(t)
}

func get(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestChatReactionsPresence: social events reach the room, and presence
// follows who is there.
func TestChatReactionsPresence(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"drop","title":"social","price":100,"qty":10}`)
	a := s.dial(t, "alice", "eu-west-1")
	var j protocol.JoinResult
	mustOK(t, a, protocol.Request{Type: "join", Lot: lot}, &j)
	bTok := s.login(t, "bob", "us-west-2")
	b, err := protocol.Dial(ctxT(t, 10*time.Second), s.WS, bTok, "us-west-2", nil)
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, b, protocol.Request{Type: "join", Lot: lot}, &j)
	if len(j.Presence) != 2 || j.Lot.Watchers != 2 {
		t.Fatalf("presence at join: %+v watchers %d", j.Presence, j.Lot.Watchers)
	}
	m := next(t, a, 5*time.Second, func(m protocol.Message) bool {
		return m.Event != nil && m.Event.Kind == "presence" && strings.Contains(string(m.Event.Data), `"bob"`)
	})
	var pres struct {
		Joined []protocol.Presence `json:"joined"`
		Count  int                 `json:"count"`
	}
	_ = json.Unmarshal(m.Event.Data, &pres)
	if !slices.Contains(pres.Joined, protocol.Presence{User: "bob", Region: "us-west-2"}) || pres.Count != 2 {
		t.Fatalf("presence join: %s", m.Event.Data)
	}
	mustOK(t, b, protocol.Request{Type: "chat", Lot: lot, Text: "  hello there  "}, nil)
	mustOK(t, b, protocol.Request{Type: "react", Lot: lot, Emoji: "🔥"}, nil)
	chat := next(t, a, 5*time.Second, isEvent("chat"))
	var d map[string]any
	_ = json.Unmarshal(chat.Event.Data, &d)
	if d["text"] != "hello there" || d["user"] != "bob" || chat.Event.Region != "us-west-2" || chat.Event.SocialSeq == 0 || chat.Event.Seq != 0 {
		t.Fatalf("chat: %+v %s", chat.Event, chat.Event.Data)
	}
	if r := next(t, a, 5*time.Second, isEvent("reaction")); !strings.Contains(string(r.Event.Data), "🔥") {
		t.Fatalf("reaction: %s", r.Event.Data)
	}
	b.Close()
	m = next(t, a, 5*time.Second, func(m protocol.Message) bool {
		return m.Event != nil && m.Event.Kind == "presence" && strings.Contains(string(m.Event.Data), `"left":[{"user":"bob"`)
	})
	if !strings.Contains(string(m.Event.Data), `"count":1`) {
		t.Fatalf("presence leave: %s", m.Event.Data)
	}
}
