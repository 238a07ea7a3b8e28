package e2e

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/lotzero/lotzero/protocol"
)

// TestOutbid: a bid outbids another user. Both get replies, every room
// member gets the bid events, the outbid user gets outbid and wallet
// pushes, and their hold is released in /api/wallet.
func TestOutbid(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"english","title":"camera","start_price":1000,"duration_s":600}`)
	aliceTok := s.login(t, "alice", "eu-west-1")
	alice, err := protocol.Dial(ctxT(t, 10*time.Second), s.WS, aliceTok, "eu-west-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	bob := s.dial(t, "bob", "ap-southeast-1")
	carol := s.dial(t, "carol", "sa-east-1")
	for _, c := range []*protocol.Client{alice, bob, carol} {
		var j protocol.JoinResult
		mustOK(t, c, protocol.Request{Type: "join", Lot: lot}, &j)
		if j.Lot.ID != lot || j.Lot.Kind != "english" || j.Lot.HighBidder != nil {
			t.Fatalf("join snapshot: %+v", j.Lot)
		}
	}
	var res protocol.BidResult
	mustOK(t, alice, protocol.Request{Type: "bid", Lot: lot, Amount: 1000}, &res)
	if !res.High || res.Amount != 1000 {
		t.Fatalf("alice: %+v", res)
	}
	if w := s.wallet(t, aliceTok); w.Held != 1000 {
		t.Fatalf("alice's hold: %+v", w)
	}
	mustOK(t, bob, protocol.Request{Type: "bid", Lot: lot, Amount: 1500}, &res)
	if !res.High || res.Amount != 1500 {
		t.Fatalf("bob: %+v", res)
	}
	// Carol, a watcher, sees both bids in order.
	for _, want := range []int64{1000, 1500} {
		m := next(t, carol, 5*time.Second, isEvent("bid"))
		var d struct {
			Amount int64  `json:"amount"`
			Bidder string `json:"bidder"`
		}
		_ = json.Unmarshal(m.Event.Data, &d)
		if d.Amount != want {
			t.Fatalf("carol saw bid %d, want %d", d.Amount, want)
		}
	}
	o := next(t, alice, 5*time.Second, func(m protocol.Message) bool { return m.Outbid != nil })
	if o.Outbid.Lot != lot || o.Outbid.Amount != 1500 || o.Outbid.ByRegion != "ap-southeast-1" {
		t.Fatalf("outbid: %+v", o.Outbid)
	}
	w := next(t, alice, 5*time.Second, func(m protocol.Message) bool { return m.Wallet != nil && m.Wallet.Wallet.Held == 0 })
	if w.Wallet.Wallet.Available != w.Wallet.Wallet.Funded {
		t.Fatalf("wallet push: %+v", w.Wallet)
	}
	if w := s.wallet(t, aliceTok); w.Held != 0 {
		t.Fatalf("alice's hold after outbid: %+v", w)
	}
	s.audit(t)
}

// TestDutchLastUnitRace: 200 sessions claim the last Dutch unit at once.
func TestDutchLastUnitRace(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"dutch","title":"tuna","start_price":50000,"floor_price":1000,"step":1000,"interval_ms":60000,"qty":1}`)
	const n = 200
	clients := make([]*protocol.Client, n)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := protocol.Login(ctxT(t, 30*time.Second), s.URL, userName("claimer", i), regions[i%len(regions)])
			if err != nil {
				t.Error(err)
				return
			}
			c, err := protocol.Dial(ctxT(t, 30*time.Second), s.WS, tok.Token, regions[i%len(regions)], nil)
			if err != nil {
				t.Error(err)
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	codes := make([]string, n)
	start := make(chan struct{})
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := c.Do(ctxT(t, 30*time.Second), protocol.Request{Type: "claim", Lot: lot})
			if err != nil {
				t.Error(err)
				return
			}
			if r.OK {
				codes[i] = "ok"
			} else {
				codes[i] = r.Error.Code
			}
		}()
	}
	close(start)
	wg.Wait()
	tally := map[string]int{}
	for _, c := range codes {
		tally[c]++
	}
	if tally["ok"] != 1 || tally[protocol.ErrSoldOut] != n-1 {
		t.Fatalf("outcomes: %v", tally)
	}
	s.audit(t)
}

var regions = []string{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1", "sa-east-1"}

func userName(prefix string, i int) string { return prefix + itoa(i) }

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
