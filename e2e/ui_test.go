package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/lotzero/lotzero/protocol"
)

// browser is one headless Chromium tab that records console errors.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

// chromium finds Debian's Chromium, which the test command installs.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed: run `make test` (its prepare step installs it) or `sudo apt-get install -y chromium`")
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	profile, err := os.MkdirTemp("", "lotzero-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelA()
		// Chromium's helpers may still be writing its profile for a moment.
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	// The first Run starts the browser; it must be on the long-lived
	// context, since cancelling the context of that Run closes the tab.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	b := &browser{ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("console.error %v", e.Args))
				b.mu.Unlock()
			}
		case *runtime.EventExceptionThrown:
			b.mu.Lock()
			b.errors = append(b.errors, "exception: "+e.ExceptionDetails.Error())
			b.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errors {
			t.Errorf("browser console: %s", e)
		}
	})
	return b
}

func (b *browser) run(t *testing.T, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		// Say what the page showed: the notice and the start of the view.
		var seen string
		shown, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		_ = chromedp.Run(shown, chromedp.Evaluate(`(document.querySelector('#notice')?.hidden ? '' : 'notice: ' + document.querySelector('#notice')?.textContent + ' · ') +
			[...document.querySelectorAll('[role=status]')].filter((e) => e.textContent.trim()).map((e) => 'status ' + (e.id || '?') + ': ' + e.textContent.trim() + ' · ').join('') +
			'page: ' + (document.querySelector('main')?.innerText || '').slice(0, 600)`, &seen))
		t.Fatalf("%v\n%s", err, seen)
	}
}

// open loads a page as user from region and waits for the live connection.
func (b *browser) open(t *testing.T, s *server, user, region, hash string) {
	t.Helper()
	b.run(t, chromedp.Navigate(fmt.Sprintf("%s/?user=%s&region=%s%s", s.URL, user, region, hash)),
		waitJS(`document.querySelector('#conn').textContent.startsWith('live')`))
}

// waitJS polls a JavaScript condition until it holds.
func waitJS(cond string) chromedp.Action {
	return chromedp.Poll(cond, nil, chromedp.WithPollingTimeout(15*time.Second))
}

func textIs(sel, want string) chromedp.Action {
	return waitJS(fmt.Sprintf(`(document.querySelector(%q)?.textContent || '').includes(%q)`, sel, want))
}

// The two widths every page is checked at: a desktop and a phone.
const (
	desktopWidth = 1280
	phoneWidth   = 390
)

// desktop and phone size the page as a 1280 px desktop window or a 390 px
// phone (mobile emulation: the page's viewport meta applies).
func (b *browser) desktop(t *testing.T) {
	t.Helper()
	b.run(t, chromedp.EmulateViewport(desktopWidth, 900))
}

func (b *browser) phone(t *testing.T) {
	t.Helper()
	b.run(t, chromedp.EmulateViewport(phoneWidth, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
}

// pageProblemsJS lists what is wrong with the page as shown: a page wider
// than the window, an element sticking out of the window or whose content
// spills out of its box (or scrolls sideways inside it), a control without
// a label (or, on a phone, under 40 px high), and the words "null",
// "undefined" or "NaN" anywhere in the text.
const pageProblemsJS = `(() => {
  const bad = [];
  const W = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > W + 1) bad.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + W);
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (typeof e.className === 'string' && e.className.trim() ? '.' + e.className.trim().split(/\s+/).join('.') : '');
  for (const e of document.body.querySelectorAll('*')) {
    if (['INPUT', 'SELECT', 'TEXTAREA', 'OPTION', 'SCRIPT', 'STYLE', 'NOSCRIPT'].includes(e.tagName)) continue;
    if (e.closest('[hidden], .sr, .skip')) continue;
    const cs = getComputedStyle(e);
    if (cs.display === 'none' || cs.visibility === 'hidden') continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < -1 || r.right > W + 1) bad.push(name(e) + ' sticks out of the window (' + Math.round(r.left) + '..' + Math.round(r.right) + ' of ' + W + '): ' + e.textContent.slice(0, 50));
    if (cs.overflowX !== 'hidden' && cs.overflowX !== 'clip' && e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) bad.push(name(e) + ' overflows its box (' + e.scrollWidth + ' > ' + e.clientWidth + '): ' + e.textContent.slice(0, 50));
  }
  // Every control is named for a screen reader, and on a phone big enough to tap.
  for (const e of document.body.querySelectorAll('input, select, textarea, button')) {
    if (e.closest('[hidden]') || e.type === 'hidden' || getComputedStyle(e).display === 'none') continue;
    const named = e.tagName === 'BUTTON' ? (e.textContent.trim() || e.getAttribute('aria-label')) : (e.labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby'));
    if (!named) bad.push(name(e) + ' has no label');
    const r = e.getBoundingClientRect();
    if (W < 600 && e.type !== 'checkbox' && r.height < 40) bad.push(name(e) + ' is too small to tap (' + Math.round(r.height) + ' px high)');
  }
  const text = document.body.innerText;
  const m = text.match(/\b(null|undefined|NaN)\b/);
  if (m) bad.push('the page shows "' + m[0] + '": ' + text.slice(Math.max(0, m.index - 50), m.index + 20).replace(/\s+/g, ' '));
  return bad.slice(0, 12);
})()`

// checkPage fails the test when the page overflows anywhere or shows
// null, undefined or NaN.
func (b *browser) checkPage(t *testing.T, what string) {
	t.Helper()
	var problems []string
	b.run(t, chromedp.Sleep(200*time.Millisecond), chromedp.Evaluate(pageProblemsJS, &problems))
	for _, p := range problems {
		t.Errorf("%s: %s", what, p)
	}
}

// bothWidths checks the page at the desktop and the phone width (leaving
// the phone width set), saving a screenshot of each when name is given.
func (b *browser) bothWidths(t *testing.T, what, name string) {
	t.Helper()
	b.desktop(t)
	b.checkPage(t, what+" at 1280 px")
	if name != "" {
		b.shot(t, name)
	}
	b.phone(t)
	b.checkPage(t, what+" at 390 px")
	if name != "" {
		b.shot(t, name+"-phone")
	}
}

// shot saves a screenshot as a test artifact; with LOTZERO_UPDATE_DOCS=1 it
// also refreshes the README's picture in docs/.
func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	var png []byte
	b.run(t, chromedp.Evaluate(`window.scrollTo(0, 0)`, nil), chromedp.Sleep(300*time.Millisecond), chromedp.CaptureScreenshot(&png))
	for _, dir := range []string{"artifacts", map[bool]string{true: "../docs"}[os.Getenv("LOTZERO_UPDATE_DOCS") == "1"]} {
		if dir == "" {
			continue
		}
		_ = os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUIEnglishTwoBrowsers: two shoppers in two Regions, one on a desktop
// and one on a phone, bid on one lot; each sees the other's bid live, in
// words; the outbid one sees the notice, their held line drop and a
// one-tap re-bid at the minimum, which leads again; the countdown ticks;
// when the host closes the lot both pages say who won at what price.
func TestUIEnglishTwoBrowsers(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"english","title":"Leica M3","start_price":1000,"duration_s":600}`)
	alice, bob := newBrowser(t), newBrowser(t)
	bob.phone(t)
	alice.open(t, s, "alice", "eu-west-1", "#/lot/"+lot)
	bob.open(t, s, "bob", "ap-southeast-1", "#/lot/"+lot)
	// The countdown ticks every second.
	var before string
	alice.run(t, textIs("#countdown", "m"), chromedp.Text("#countdown", &before, chromedp.ByQuery))
	alice.run(t, waitJS(fmt.Sprintf(`document.querySelector('#countdown').textContent !== %q`, before)))
	alice.run(t, textIs("#high", "$10.00"), chromedp.SetValue("#amount", "10.00", chromedp.ByQuery), chromedp.Click("#bid", chromedp.ByQuery),
		textIs("#held", "Held in your wallet: $10.00"), textIs("#standing", "You lead at $10.00"))
	bob.run(t, textIs("#high", "$10.00"), textIs("#leader", "alice from eu-west-1"),
		textIs("[aria-label=Activity]", "alice (eu-west-1) bid $10.00"))
	// Bob types his bid and presses Enter: once it goes through, the box
	// shows the new minimum (not his old bid).
	bob.run(t, waitJS(`document.querySelector('#amount').value === '10.50'`),
		chromedp.Evaluate(`document.querySelector('#amount').value = ''`, nil), chromedp.SendKeys("#amount", "12.00", chromedp.ByQuery),
		chromedp.SendKeys("#amount", kb.Enter, chromedp.ByQuery), textIs("#standing", "You lead at $12.00"),
		waitJS(`document.querySelector('#amount').value === '12.50'`), textIs("#min", "Minimum $12.50"))
	// Inside the room the standing box says "outbid"; the top notice does
	// not say it again, and her "You lead" notice leaves (no longer true).
	alice.run(t, textIs("#high", "$12.00"), textIs("#leader", "bob from ap-southeast-1"),
		textIs("#held", "Held in your wallet: $0.00"),
		textIs("#standing", "You were outbid — bid $12.50 to lead again"), textIs("#rebid", "Bid $12.50"),
		chromedp.Sleep(300*time.Millisecond),
		waitJS(`document.querySelector('#notice').hidden || !/outbid|You lead/.test(document.querySelector('#notice').textContent)`))
	carol := s.dial(t, "carol", "sa-east-1")
	mustOK(t, carol, protocol.Request{Type: "join", Lot: lot}, nil)
	mustOK(t, carol, protocol.Request{Type: "chat", ID: "c1", Lot: lot, Text: "That Leica is mint 👀"}, nil)
	mustOK(t, carol, protocol.Request{Type: "react", ID: "r1", Lot: lot, Emoji: "🔥"}, nil)
	alice.run(t, textIs("[aria-label=Chat]", "That Leica is mint 👀"), textIs(`button[data-emoji="🔥"]`, "1"))
	alice.checkPage(t, "the English room, outbid, at 1280 px")
	alice.shot(t, "english-room")
	bob.run(t, textIs("#notice", "You lead"), textIs("#standing", "You lead at $12.00"))
	// One tap bids the minimum and leads again.
	alice.run(t, chromedp.Click("#rebid", chromedp.ByQuery), textIs("#standing", "You lead at $12.50"), textIs("#held", "Held in your wallet: $12.50"))
	// Bob left the box alone: it follows the minimum.
	bob.run(t, textIs("#standing", "You were outbid — bid $13.00 to lead again"), waitJS(`document.querySelector('#amount').value === '13.00'`))
	bob.checkPage(t, "the English room, outbid, at 390 px")
	bob.shot(t, "english-room-phone")
	// What he types stays through live changes (the close below).
	bob.run(t, chromedp.Evaluate(`document.querySelector('#amount').value = ''`, nil), chromedp.SendKeys("#amount", "30", chromedp.ByQuery))
	// The host closes it: who won, at what price, on both pages.
	host := s.dial(t, "auctioneer", "us-east-1")
	mustOK(t, host, protocol.Request{Type: "close", Lot: lot}, nil)
	bob.run(t, textIs("#result", "Won by alice (eu-west-1) at $12.50"), textIs("#standing", "You did not win"),
		waitJS(`document.querySelector('#bid').disabled`), waitJS(`document.querySelector('#amount').value === '30'`))
	alice.run(t, textIs("#result", "Won by alice"), textIs("#standing", "You won at $12.50"), textIs("#countdown", "ended"))
	alice.checkPage(t, "the closed English room at 1280 px")
	bob.checkPage(t, "the closed English room at 390 px")
}

// TestUISoftCloseExtends: a bid in the soft-close window says, in the room,
// that bidding was extended and until when.
func TestUISoftCloseExtends(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"english","title":"Late lot","start_price":500,"duration_s":20,"extension_s":120}`)
	b := newBrowser(t)
	b.open(t, s, "grace", "us-west-2", "#/lot/"+lot)
	b.run(t, textIs("main", "Soft close: a bid in the last 120s"), chromedp.Click("#bid", chromedp.ByQuery),
		textIs("#extended", "Extended — a late bid came in"), textIs("[aria-label=Activity]", "A late bid extended bidding: it now ends at"),
		textIs("#countdown", "m"))
	b.checkPage(t, "the extended room at 1280 px")
}

// TestUIDutchClaimOnce: a claim from the page succeeds once, and the
// other page (a phone's) shows the lot sold out — and no "null" beside
// the claim button for someone who is not the host. The host's page shows
// the clock to the next step, drops the price with a visible change and
// says it in words.
func TestUIDutchClaimOnce(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"dutch","title":"Bluefin tuna","start_price":90000,"floor_price":30000,"step":1000,"interval_ms":600000,"qty":1}`)
	a, b := newBrowser(t), newBrowser(t)
	b.phone(t)
	a.open(t, s, "carol", "sa-east-1", "#/lot/"+lot)
	b.open(t, s, "dave", "us-west-2", "#/lot/"+lot)
	b.run(t, textIs("#next-drop", "Next drop to $890.00 in 9m"), textIs("#claim", "Claim now at $900.00"))
	b.checkPage(t, "the Dutch room at 390 px")
	a.run(t, textIs("#price", "$900.00"), chromedp.Click("#claim", chromedp.ByQuery), textIs("#notice", "You claimed 1 at $900.00"),
		textIs("#standing", "You claimed 1 at $900.00"))
	b.run(t, textIs("#units", "None of 1 left"), waitJS(`document.querySelector('#claim').disabled`),
		textIs("#result", "Sold out · carol bought 1 at $900.00"), textIs("[aria-label=Activity]", "carol (sa-east-1) claimed 1 at $900.00"),
		textIs("[aria-label=Activity]", "Sold out"),
		// "Sold out" is said by the result and the event, not four times
		waitJS(`(document.querySelector('main').innerText.match(/sold out/gi) || []).length <= 2`))
	b.checkPage(t, "the sold-out Dutch room at 390 px")
	b.shot(t, "dutch-room-phone")
	a.checkPage(t, "the sold-out Dutch room at 1280 px")
	a.shot(t, "dutch-room")
	host := newBrowser(t)
	host.open(t, s, "auctioneer", "us-east-1", "#/lot/"+s.createLot(t, `{"kind":"dutch","title":"Tulips","start_price":20000,"floor_price":5000,"step":500,"interval_ms":600000,"qty":5}`))
	host.run(t, textIs("#price", "$200.00"), textIs("#next-drop", "Next drop to $195.00"), chromedp.Click("#tick", chromedp.ByQuery),
		textIs("#price", "$195.00"), waitJS(`document.querySelector('#price').classList.contains('dropped')`),
		textIs("#price-live", "Price dropped to $195.00"), textIs("[aria-label=Activity]", "Price dropped to $195.00"))
	host.bothWidths(t, "the host's Dutch room", "")
}

// TestUIDropLobbyWalletAndProof: the drop room (what I bought, and the
// notice leaving with the page), the lobby (cards that read as cards, live
// lots first, "just opened", closed lots apart), the wallet view (amounts
// inside their cards, entries in words, adding funds), and the proof
// console showing "Invariant held" with its numbers — each at both widths.
func TestUIDropLobbyWalletAndProof(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"drop","title":"Sneaker drop","price":18000,"qty":3,"per_user_limit":2}`)
	gone := s.createLot(t, `{"kind":"drop","title":"Signed poster","price":5000,"qty":1}`)
	soon := s.createLot(t, `{"kind":"english","title":"Last call watch","start_price":1000,"duration_s":120}`)
	buyer := s.dial(t, "frank", "eu-west-1")
	mustOK(t, buyer, protocol.Request{Type: "buy", Lot: gone, Qty: 1}, nil)
	b := newBrowser(t)
	b.open(t, s, "erin", "us-east-1", "#/lot/"+lot)
	b.run(t, textIs("#units", "3 of 3 left"), textIs("#can-buy", "You can buy 2 more"), chromedp.Click("#buy", chromedp.ByQuery), textIs("#notice", "You bought 1 at $180.00"),
		textIs("#units", "2 of 3 left"), textIs("#standing", "You bought 1 at $180.00"),
		textIs("#can-buy", "You can buy 1 more"), waitJS(`document.querySelector('#qty').max === '1'`),
		textIs("[aria-label=Activity]", "erin (us-east-1) bought 1 at $180.00"))
	b.bothWidths(t, "the drop room", "drop-room")
	// The notice belongs to the room: following a link away clears it.
	b.run(t, chromedp.Click(`nav.main a[data-page=""]`, chromedp.ByQuery), textIs("main", "English auctions"), textIs("#live-lots", "Sneaker drop"),
		waitJS(`document.querySelector('#notice').hidden`))
	b.run(t, textIs(`[data-lot="`+lot+`"]`, "Just opened"), textIs(`[data-lot="`+lot+`"]`, "2 of 3"),
		textIs("#closed-lots", "Signed poster"), textIs("#closed-lots", "1 of 1 sold"),
		// a card is a card: its title is the one link, and not underlined
		waitJS(`[...document.querySelectorAll('.lot-card')].every((c) => c.querySelectorAll('a').length === 1 && getComputedStyle(c.querySelector('a')).textDecorationLine === 'none')`))
	// Ending soon comes first; a card shows the Regions its lot's buyers
	// came from; a card is reached and opened from the keyboard.
	b.run(t, textIs("#live-lots .lot-card:first-child", "Last call watch"), textIs("#live-lots .lot-card:first-child", "Ending soon"),
		textIs(`[data-lot="`+lot+`"] .regions`, "us-east-1 ×1"))
	var closedInLive bool
	b.run(t, chromedp.Evaluate(`!!document.querySelector('#live-lots [data-lot="`+gone+`"]')`, &closedInLive))
	if closedInLive {
		t.Fatal("a sold-out lot is among the live lots")
	}
	b.bothWidths(t, "the lobby", "lobby")
	b.desktop(t)
	b.run(t, chromedp.Focus(`[data-lot="`+soon+`"] a`, chromedp.ByQuery), chromedp.KeyEvent(kb.Enter), textIs("h1", "Last call watch"),
		waitJS(`document.activeElement === document.querySelector('#view')`))
	b.run(t, chromedp.Navigate(s.URL+"/?user=erin&region=us-east-1#/wallet"), textIs("#available", "$9,820.00"), textIs("#entries", "Bought"),
		textIs("#entries", "Sneaker drop"), textIs("#entries", "−$180.00"))
	b.run(t, chromedp.SetValue("#fund-amount", "50", chromedp.ByQuery), chromedp.Click("#add-funds", chromedp.ByQuery),
		textIs("#fund-result", "Added $50.00"), textIs("#available", "$9,870.00"), textIs("#entries", "Added funds"))
	b.bothWidths(t, "the wallet", "wallet")
	// A wallet frozen after a refund or dispute (a server with money-out
	// marks it so) says so on the page and in the header.
	var injected bool
	b.run(t, chromedp.Evaluate(`window.lotzero.frame({type: 'wallet', wallet: {funded: 1000000, held: 0, spent: 18000, earned: 0, available: 987000, version: 1000000, frozen: true, owed: 5000}}); true`, &injected),
		textIs("#frozen", "You owe $50.00 after a card refund or dispute; add funds to clear it"), textIs("#wallet-chip", "Wallet frozen"),
		textIs("#wallet-owed", "$50.00"))
	b.checkPage(t, "a frozen wallet at 390 px")
	b.desktop(t)
	b.run(t, chromedp.Navigate(s.URL+"/?user=erin&region=us-east-1#/proof"), waitJS(`!!document.querySelector('#run')`),
		chromedp.SetValue("#n", "100", chromedp.ByQuery), chromedp.SetValue("#k", "10", chromedp.ByQuery), chromedp.Click("#run", chromedp.ByQuery))
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.Poll(`(document.querySelector('#verdict')?.textContent || '') !== ''`, nil, chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		t.Fatal(err)
	}
	var verdict, ok, counters string
	b.run(t, chromedp.Text("#verdict", &verdict, chromedp.ByQuery), chromedp.Text(`td[data-k="Succeeded"]`, &ok, chromedp.ByQuery),
		chromedp.Text("#counters", &counters, chromedp.ByQuery))
	if verdict != "Invariant held" || strings.TrimSpace(ok) != "10" || strings.TrimSpace(counters) != "oversells 0 · double-spends 0" {
		t.Fatalf("proof console: %q, succeeded %q, %q", verdict, ok, counters)
	}
	// The run is listed with its downloads, and its lot stays out of the lobby.
	b.run(t, textIs("#proof-runs", "Oversell: 100 buyers for 10 units"), textIs("#proof-runs", "record"))
	b.bothWidths(t, "the proof console", "proof-console")
	b.run(t, chromedp.Navigate(s.URL+"/?user=erin&region=us-east-1#/"), textIs("main", "English auctions"))
	var lobby string
	b.run(t, chromedp.Text("main", &lobby, chromedp.ByQuery))
	if strings.Contains(lobby, "proof ") {
		t.Fatalf("a proof lot is in the lobby: %s", lobby)
	}
}
