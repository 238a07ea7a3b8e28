package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/lotzero/lotzero/protocol"
)

// TestUIRefusalsLimitsAndBigAmounts: a refused bid shows the server's own
// message (not a fixed line for its code); a lot's host sees no bid or buy
// form on their own lot; a drop's quantity is bounded by what is left as
// well as the shopper's limit; and a $150,000.00 wallet fits its cards,
// never broken mid-number, at both widths.
func TestUIRefusalsLimitsAndBigAmounts(t *testing.T) {
	s := startServer(t, "")
	english := s.createLot(t, `{"kind":"english","title":"Omega Speedmaster","start_price":1000,"duration_s":600}`)
	drop := s.createLot(t, `{"kind":"drop","title":"Cap drop","price":2000,"qty":5,"per_user_limit":4}`)
	b := newBrowser(t)
	b.open(t, s, "heidi", "eu-west-1", "#/lot/"+english)
	// bad_request covers many refusals: the page says the server's reason.
	b.run(t, textIs("#high", "$10.00"), chromedp.SetValue("#max", "5.00", chromedp.ByQuery), chromedp.Click("#bid", chromedp.ByQuery),
		textIs("#notice", "Max must be at least amount"))
	// The host's own lot: no bid form, and a line that says why.
	b.open(t, s, "auctioneer", "us-east-1", "#/lot/"+english)
	b.run(t, textIs("#own-lot", "This is your lot"), waitJS(`document.querySelector('form.action').hidden && document.querySelector('#held').hidden`))
	b.open(t, s, "auctioneer", "us-east-1", "#/lot/"+drop)
	b.run(t, textIs("#own-lot", "This is your lot"), waitJS(`document.querySelector('form.action').hidden`))
	// Three of five are gone: a limit of 4 leaves heidi 2, not 4.
	frank := s.dial(t, "frank", "us-west-2")
	mustOK(t, frank, protocol.Request{Type: "buy", Lot: drop, Qty: 3}, nil)
	b.open(t, s, "heidi", "eu-west-1", "#/lot/"+drop)
	b.run(t, textIs("#units", "2 of 5 left"), textIs("#can-buy", "You can buy 2 more"), waitJS(`document.querySelector('#qty').max === '2'`),
		chromedp.SetValue("#qty", "3", chromedp.ByQuery), chromedp.Click("#buy", chromedp.ByQuery), textIs("#notice", "You can buy 2 more."))
	b.checkPage(t, "a drop with 2 left at 1280 px")
	// A big balance, added from the page: $150,000.00 on one line in its card.
	b.run(t, chromedp.Navigate(s.URL+"/?user=heidi&region=eu-west-1#/wallet"), textIs("#available", "$10,000.00"),
		chromedp.SetValue("#fund-amount", "140000", chromedp.ByQuery), chromedp.Click("#add-funds", chromedp.ByQuery),
		textIs("#available", "$150,000.00"))
	const oneLine = `[...document.querySelectorAll('.stat-value')].every((v) => { const r = document.createRange(); r.selectNodeContents(v); const lines = new Set([...r.getClientRects()].map((x) => Math.round(x.top))); return lines.size === 1 && v.scrollWidth <= v.clientWidth && v.getBoundingClientRect().right <= v.parentElement.getBoundingClientRect().right; })`
	b.desktop(t)
	b.run(t, waitJS(oneLine))
	b.checkPage(t, "a $150,000.00 wallet at 1280 px")
	b.phone(t)
	b.run(t, waitJS(oneLine))
	b.checkPage(t, "a $150,000.00 wallet at 390 px")
}
