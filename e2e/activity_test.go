package e2e

import (
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// TestMyActivityOverHTTP: GET /api/me/activity tells a shopper their bids
// with where they stand, their claims and purchases and their holds, lot by
// lot; a host sees the lots they host with proceeds; without a token the
// endpoint refuses.
func TestMyActivityOverHTTP(t *testing.T) {
	s := startServer(t, "")
	english := s.createLot(t, `{"kind":"english","title":"Rolex Submariner","start_price":1000,"duration_s":600}`)
	dutch := s.createLot(t, `{"kind":"dutch","title":"Tulip bulbs","start_price":20000,"floor_price":5000,"step":500,"interval_ms":600000,"qty":5}`)
	drop := s.createLot(t, `{"kind":"drop","title":"Vinyl drop","price":2500,"qty":10,"per_user_limit":3}`)
	alice, bob := s.dial(t, "alice", "eu-west-1"), s.dial(t, "bob", "us-west-2")
	mustOK(t, alice, protocol.Request{Type: "bid", Lot: english, Amount: 1000}, nil)
	mustOK(t, bob, protocol.Request{Type: "bid", Lot: english, Amount: 1200}, nil)
	mustOK(t, alice, protocol.Request{Type: "claim", Lot: dutch, Qty: 2}, nil)
	mustOK(t, alice, protocol.Request{Type: "buy", Lot: drop, Qty: 2}, nil)

	get := func(token string) protocol.Activity {
		t.Helper()
		var a protocol.Activity
		if err := protocol.GetJSON(ctxT(t, 10*time.Second), s.URL+"/api/me/activity", token, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	byLot := func(a protocol.Activity) map[string]protocol.LotActivity {
		m := map[string]protocol.LotActivity{}
		for _, l := range a.Lots {
			m[l.Lot.ID] = l
		}
		return m
	}
	a := byLot(get(s.login(t, "alice", "eu-west-1")))
	if e := a[english]; e.Standing != "outbid" || e.Bids != 1 || e.TopBid != 1000 || e.Held != 0 {
		t.Fatalf("alice on the English lot: %+v", e)
	}
	if d := a[dutch]; d.Bought != 2 || d.Paid != 40000 || d.Lot.Title != "Tulip bulbs" {
		t.Fatalf("alice's claim: %+v", d)
	}
	if d := a[drop]; d.Bought != 2 || d.Paid != 5000 || d.At == "" {
		t.Fatalf("alice's purchase: %+v", d)
	}
	b := get(s.login(t, "bob", "us-west-2"))
	if len(b.Lots) != 1 || b.Lots[0].Standing != "leading" || b.Lots[0].Held != 1200 || len(b.Hosting) != 0 {
		t.Fatalf("bob leads: %+v", b)
	}
	host := get(s.login(t, "auctioneer", "us-east-1"))
	proceeds := map[string]int64{}
	for _, h := range host.Hosting {
		proceeds[h.Lot.ID] = h.Proceeds
	}
	if proceeds[dutch] != 40000 || proceeds[drop] != 5000 || proceeds[english] != 0 {
		t.Fatalf("the host's lots and proceeds: %+v", proceeds)
	}
	var refused struct{}
	if err := protocol.GetJSON(ctxT(t, 10*time.Second), s.URL+"/api/me/activity", "", &refused); err == nil {
		t.Fatal("activity without a token must be refused")
	}
	var cfg struct {
		Demo bool `json:"demo"`
	}
	if err := protocol.GetJSON(ctxT(t, 10*time.Second), s.URL+"/api/config", "", &cfg); err != nil || !cfg.Demo {
		t.Fatalf("config: %+v %v", cfg, err)
	}
}
