package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/lotzero/lotzero/protocol"
)

// hostedLot waits for the host page to list a lot by its title and returns its id.
func hostedLot(t *testing.T, b *browser, title string) string {
	t.Helper()
	var id string
	b.run(t, textIs("#hosted", title), chromedp.Evaluate(fmt.Sprintf(
		`[...document.querySelectorAll('#hosted li.hosted')].find((li) => li.querySelector('h3').textContent === %q)?.dataset.lot || ''`, title), &id))
	if id == "" {
		t.Fatalf("the host page does not list %q", title)
	}
	return id
}

// hostedSel selects inside one hosted lot's line.
func hostedSel(id, sel string) string { return fmt.Sprintf(`#hosted li[data-lot="%s"] %s`, id, sel) }

// TestUIHostPage: a host creates an English lot (reserve, soft close, hard
// end, scheduled), a Dutch lot (holding at the floor) and a drop (limit per
// person) from the page; each is created with those options; the page lists
// them live — opening the scheduled one, dropping the Dutch price, units
// sold, proceeds and watchers as shoppers buy — and closes one. A shopper
// becomes a host in demo mode. Both widths.
func TestUIHostPage(t *testing.T) {
	s := startServer(t, "")
	b := newBrowser(t)
	b.open(t, s, "auctioneer", "us-east-1", "#/host")
	b.run(t, textIs("main", "New lot"),
		chromedp.SetValue("#f-title", "Patek Philippe 5711", chromedp.ByQuery),
		chromedp.SetValue("#f-start_price", "500.00", chromedp.ByQuery), chromedp.SetValue("#f-reserve", "900.00", chromedp.ByQuery),
		chromedp.SetValue("#f-duration_m", "30", chromedp.ByQuery), chromedp.SetValue("#f-extension_s", "45", chromedp.ByQuery),
		chromedp.SetValue("#f-hard_end_m", "60", chromedp.ByQuery), chromedp.Click("#f-open", chromedp.ByQuery),
		chromedp.Click("#create", chromedp.ByQuery), textIs("#notice", "Created “Patek Philippe 5711” — open it when you are ready"))
	english := hostedLot(t, b, "Patek Philippe 5711")
	// A refusal is said beside the button, in sight on a phone, naming the
	// form's field (the server names its API field, hard_end_s).
	b.phone(t)
	b.run(t, chromedp.SetValue("#f-title", "Too short", chromedp.ByQuery), chromedp.SetValue("#f-duration_m", "30", chromedp.ByQuery),
		chromedp.SetValue("#f-hard_end_m", "5", chromedp.ByQuery), chromedp.Click("#create", chromedp.ByQuery),
		textIs("#create-problem", "Check “Hard end”: “Hard end” must be at least “Runs for”"),
		waitJS(`document.querySelector('#f-hard_end_m').getAttribute('aria-invalid') === 'true'`),
		waitJS(`(() => { const r = document.querySelector('#create-problem').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; })()`))
	b.desktop(t)
	b.run(t, chromedp.SetValue("#f-hard_end_m", "", chromedp.ByQuery))
	b.run(t, textIs(hostedSel(english, ".pill"), "Opens soon"))

	// The kinds are real radio buttons: arrow keys move between them.
	b.run(t, chromedp.Focus(`.chip[data-kind="english"] input`, chromedp.ByQuery), chromedp.KeyEvent(kb.ArrowRight),
		waitJS(`document.querySelector('.chip[data-kind="dutch"] input').checked && !document.querySelector('fieldset[data-kind="dutch"]').hidden`))
	b.run(t, chromedp.Click(`.chip[data-kind="dutch"]`, chromedp.ByQuery), chromedp.SetValue("#f-title", "Dutch tulips", chromedp.ByQuery),
		chromedp.SetValue("#f-d_start_price", "120.00", chromedp.ByQuery), chromedp.SetValue("#f-floor_price", "100.00", chromedp.ByQuery),
		chromedp.SetValue("#f-step", "10.00", chromedp.ByQuery), chromedp.SetValue("#f-interval_s", "600", chromedp.ByQuery),
		chromedp.SetValue("#f-d_qty", "4", chromedp.ByQuery), chromedp.SetValue("#f-floor_action", "hold", chromedp.ByQuery),
		chromedp.Click("#f-open", chromedp.ByQuery), chromedp.Click("#create", chromedp.ByQuery), textIs("#notice", "it is live"))
	dutch := hostedLot(t, b, "Dutch tulips")

	b.run(t, chromedp.Click(`.chip[data-kind="drop"]`, chromedp.ByQuery), chromedp.SetValue("#f-title", "Tour hoodie", chromedp.ByQuery),
		chromedp.SetValue("#f-price", "45.00", chromedp.ByQuery), chromedp.SetValue("#f-qty", "50", chromedp.ByQuery),
		chromedp.SetValue("#f-per_user_limit", "3", chromedp.ByQuery), chromedp.Click("#create", chromedp.ByQuery), textIs("#notice", "Tour hoodie"))
	drop := hostedLot(t, b, "Tour hoodie")

	// Every option reached the ledger.
	get := func(id string) protocol.Lot {
		var one struct {
			Lot protocol.Lot `json:"lot"`
		}
		if err := protocol.GetJSON(ctxT(t, 10*time.Second), s.URL+"/api/lots/"+id, "", &one); err != nil {
			t.Fatal(err)
		}
		return one.Lot
	}
	if l := get(english); l.Status != "scheduled" || l.StartPrice != 50000 || !l.HasReserve || l.ExtensionS != 45 || l.DurationS != 1800 || l.Host != "auctioneer" {
		t.Fatalf("the English lot: %+v", l)
	}
	if l := get(dutch); l.Price != 12000 || l.FloorPrice != 10000 || l.Step != 1000 || l.IntervalMS != 600000 || l.QtyTotal != 4 || l.FloorAction != "hold" {
		t.Fatalf("the Dutch lot: %+v", l)
	}
	if l := get(drop); l.Price != 4500 || l.QtyTotal != 50 || l.PerUserLimit != 3 {
		t.Fatalf("the drop: %+v", l)
	}

	// Open, tick, live sales and proceeds, close: all from the page.
	b.run(t, chromedp.Click(hostedSel(english, `button[data-cmd="open"]`), chromedp.ByQuery), textIs(hostedSel(english, ".pill"), "Live"),
		textIs(hostedSel(english, "dl"), "Ends in"))
	if l := get(english); l.Status != "open" || l.HardEndAt == "" {
		t.Fatalf("the opened English lot: %+v", l)
	}
	b.run(t, chromedp.Click(hostedSel(dutch, `button[data-cmd="tick"]`), chromedp.ByQuery), textIs(hostedSel(dutch, "dl"), "$110.00"))
	shopper := s.dial(t, "carol", "sa-east-1")
	mustOK(t, shopper, protocol.Request{Type: "join", Lot: drop}, nil)
	mustOK(t, shopper, protocol.Request{Type: "buy", Lot: drop, Qty: 3}, nil)
	mustOK(t, shopper, protocol.Request{Type: "claim", Lot: dutch, Qty: 1}, nil)
	b.run(t, textIs(hostedSel(drop, "dl"), "3 of 50"), textIs(hostedSel(drop, "dl"), "$135.00"), textIs(hostedSel(drop, "dl"), "Watching1"),
		textIs(hostedSel(dutch, "dl"), "1 of 4"), textIs(hostedSel(dutch, "dl"), "$110.00"), textIs("#host-totals", "$245.00 taken"))
	b.bothWidths(t, "the host page", "host")
	// Close asks once more before it acts; its name says which lot.
	b.run(t, waitJS(fmt.Sprintf(`document.querySelector(%q).getAttribute('aria-label') === 'Close Tour hoodie'`, hostedSel(drop, `button[data-cmd="close"]`))),
		chromedp.Click(hostedSel(drop, `button[data-cmd="close"]`), chromedp.ByQuery), textIs(hostedSel(drop, `button[data-cmd="close"]`), "Close now?"))
	if l := get(drop); l.Status != "open" {
		t.Fatalf("one tap on Close closed the drop: %+v", l)
	}
	b.run(t, chromedp.Click(hostedSel(drop, `button[data-cmd="close"]`), chromedp.ByQuery), textIs(hostedSel(drop, ".pill"), "Closed"),
		waitJS(fmt.Sprintf(`document.querySelector(%q).hidden`, hostedSel(drop, `button[data-cmd="close"]`))))
	if l := get(drop); l.Status != "settled" && l.Status != "closed" {
		t.Fatalf("the closed drop: %+v", l)
	}

	// Paying out proceeds: the amount is set aside at once and listed as
	// on its way until an operator (or Stripe) pays it.
	b.desktop(t)
	// Asking more than may be paid out says the most, in dollars.
	// The closed drop's proceeds land first (its settlement may still be
	// committing when the close returns): the payable amount is then known.
	b.run(t, chromedp.Navigate(s.URL+"/?user=auctioneer&region=us-east-1#/wallet"), textIs("main", "Pay out"),
		textIs("#wallet-earned", "$135.00"),
		chromedp.SetValue("#payout-amount", "100000", chromedp.ByQuery), chromedp.Click("#pay-out", chromedp.ByQuery),
		waitJS(`/^You can pay out up to \$[0-9,]+\.[0-9]{2}\.$/.test(document.querySelector('#payout-result').textContent)`),
		chromedp.SetValue("#payout-amount", "1.00", chromedp.ByQuery), chromedp.Click("#pay-out", chromedp.ByQuery),
		textIs("#payout-result", "Payout of $1.00: on its way."), textIs("#payouts", "Payout · on its way"),
		textIs("#wallet-paying", "$1.00"))
	b.checkPage(t, "a host's wallet at 1280 px")

	// A shopper may host in the demo: one tap, then the form.
	shop := newBrowser(t)
	shop.phone(t)
	shop.open(t, s, "judy", "eu-west-1", "#/host")
	shop.run(t, textIs("main", "Hosting lots needs the host role"), chromedp.Click("#become-host", chromedp.ByQuery), textIs("main", "New lot"))
	shop.checkPage(t, "a new host's page at 390 px")
}

// TestUIMyActivity: my bids (leading, then outbid with a one-tap re-bid,
// then won), my purchases and claims, and my holds, each linked to its
// lot, updated live as others bid and the host closes — on a phone and a
// desktop. In a storming room the server's batch frames are shown line by
// line, with the count of lines the room's budget left out.
func TestUIMyActivity(t *testing.T) {
	s := startServer(t, "")
	english := s.createLot(t, `{"kind":"english","title":"Rolex Daytona","start_price":1000,"duration_s":600}`)
	dutch := s.createLot(t, `{"kind":"dutch","title":"Saffron","start_price":17500,"floor_price":5000,"step":500,"interval_ms":600000,"qty":5}`)
	drop := s.createLot(t, `{"kind":"drop","title":"Vinyl box set","price":6000,"qty":20,"per_user_limit":4}`)
	alice := s.dial(t, "alice", "eu-west-1")
	mustOK(t, alice, protocol.Request{Type: "bid", Lot: english, Amount: 1000}, nil)
	mustOK(t, alice, protocol.Request{Type: "claim", Lot: dutch, Qty: 2}, nil)
	mustOK(t, alice, protocol.Request{Type: "buy", Lot: drop, Qty: 1}, nil)

	b := newBrowser(t)
	b.phone(t)
	b.open(t, s, "alice", "eu-west-1", "#/me")
	b.run(t, textIs("#my-bids", "Rolex Daytona"), textIs("#my-bids", "Leading"), textIs("#my-bids", "You lead at $10.00"),
		textIs("#my-buys", "You claimed 2 at $175.00"), textIs("#my-buys", "You bought 1 at $60.00"),
		textIs("#my-holds", "$10.00 held"),
		waitJS(fmt.Sprintf(`!!document.querySelector('#my-bids a[href="#/lot/%s"]') && !!document.querySelector('#my-buys a[href="#/lot/%s"]')`, english, drop)))
	// Outbid, live: the page says so and offers the minimum in one tap.
	bob := s.dial(t, "bob", "us-west-2")
	mustOK(t, bob, protocol.Request{Type: "bid", Lot: english, Amount: 1500}, nil)
	b.run(t, textIs("#my-bids", "Outbid"), textIs("#my-bids", "the high bid is now $15.00"), textIs("#notice", "You were outbid on Rolex Daytona"),
		textIs(`[data-rebid]`, "Bid $15.50"), textIs("#my-holds", "No money is held"))
	b.bothWidths(t, "my activity, outbid", "activity")
	// A live list keeps the keyboard focus: nothing changed, nothing is rebuilt.
	b.run(t, chromedp.Focus(`[data-rebid]`, chromedp.ByQuery), chromedp.Sleep(4500*time.Millisecond),
		waitJS(`document.activeElement === document.querySelector('[data-rebid]')`))
	// The re-bid reads the lot first: bob's newer bid is not answered with a
	// minimum it already passed.
	mustOK(t, bob, protocol.Request{Type: "bid", Lot: english, Amount: 1600}, nil)
	b.run(t, chromedp.Click(`[data-rebid]`, chromedp.ByQuery), textIs("#my-bids", "You lead at $16.50"), textIs("#my-holds", "$16.50 held"))
	host := s.dial(t, "auctioneer", "us-east-1")
	mustOK(t, host, protocol.Request{Type: "close", Lot: english}, nil)
	b.run(t, textIs("#my-bids", "Won"), textIs("#my-bids", "You won at $16.50"))
	b.checkPage(t, "my activity, won, at 390 px")
	bobPage := newBrowser(t)
	bobPage.open(t, s, "bob", "us-west-2", "#/me")
	bobPage.run(t, textIs("#my-bids", "Lost"), textIs("#my-bids", "Won by alice at $16.50"), textIs("#my-buys", "Nothing bought yet"))
	bobPage.checkPage(t, "bob's activity at 1280 px")

	// A storming room, on the server's default chat budget: ten shoppers
	// send five lines each at once. The page (which asks for batch frames)
	// shows every line the server broadcast and says how many it skipped —
	// exactly what the senders' replies said.
	b.desktop(t)
	b.run(t, chromedp.Navigate(s.URL+"/?user=alice&region=eu-west-1#/lot/"+drop), waitJS(`document.querySelector('#conn').textContent.startsWith('live')`),
		textIs("#units", "19 of 20 left"))
	var mu sync.Mutex
	var shown, skipped int
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		c := s.dial(t, fmt.Sprintf("storm%d", i), "ap-southeast-1")
		mustOK(t, c, protocol.Request{Type: "join", Lot: drop}, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 5; k++ {
				var res protocol.ChatResult
				r, err := c.Do(ctxT(t, 10*time.Second), protocol.Request{Type: "chat", Lot: drop, Text: fmt.Sprintf("storm line %d", k)})
				if err == nil {
					err = r.Decode(&res)
				}
				if err != nil {
					t.Errorf("chat: %v", err)
					return
				}
				mu.Lock()
				if res.Broadcast {
					shown++
				} else {
					skipped++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if skipped == 0 || shown == 0 {
		t.Fatalf("50 lines at once on the default budget: %d shown, %d skipped; want some of each", shown, skipped)
	}
	b.run(t, waitJS(fmt.Sprintf(`[...document.querySelectorAll('[aria-label=Chat] li')].filter((li) => li.textContent.includes('storm line')).length === %d`, shown)),
		textIs("#skipped", fmt.Sprintf("%d chat lines skipped", skipped)))
	b.checkPage(t, "a storming room at 1280 px")
}

// TestUIReconnects: a room whose server restarts says it is reconnecting,
// comes back live by itself, rejoins with the last seq, and shows what
// happens next — no reload.
func TestUIReconnects(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"english","title":"Hasselblad 500C","start_price":1000,"duration_s":900}`)
	b := newBrowser(t)
	b.open(t, s, "ivan", "eu-west-1", "#/lot/"+lot)
	b.run(t, chromedp.Click("#bid", chromedp.ByQuery), textIs("#standing", "You lead at $10.00"))
	s.stop()
	b.run(t, textIs("#conn", "reconnecting"))
	s.restart()
	b.run(t, textIs("#conn", "live"))
	bob := s.dial(t, "bob", "us-west-2")
	mustOK(t, bob, protocol.Request{Type: "bid", Lot: lot, Amount: 2000}, nil)
	b.run(t, textIs("#high", "$20.00"), textIs("[aria-label=Activity]", "bob (us-west-2) bid $20.00"),
		textIs("#standing", "You were outbid — bid $20.50 to lead again"))
	b.checkPage(t, "a room after a reconnect at 1280 px")
}
