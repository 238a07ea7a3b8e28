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
		chromedp.UserDataDir(profile), chromedp.WindowSize(1200, 900))
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
		t.Fatal(err)
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

// shot saves a screenshot as a test artifact; with LOTZERO_UPDATE_DOCS=1 it
// also refreshes the README's picture in docs/.
func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	var png []byte
	b.run(t, chromedp.Sleep(300*time.Millisecond), chromedp.CaptureScreenshot(&png))
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

// TestUIEnglishTwoBrowsers: two shoppers in two Regions bid on one lot;
// each sees the other's bid live, and the outbid one sees the notice and
// their held line drop.
func TestUIEnglishTwoBrowsers(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"english","title":"Leica M3","start_price":1000,"duration_s":600}`)
	alice, bob := newBrowser(t), newBrowser(t)
	alice.open(t, s, "alice", "eu-west-1", "#/lot/"+lot)
	bob.open(t, s, "bob", "ap-southeast-1", "#/lot/"+lot)
	alice.run(t, textIs("#high", "$10.00"), chromedp.SetValue("#amount", "10.00", chromedp.ByQuery), chromedp.Click("#bid", chromedp.ByQuery),
		textIs("#held", "Held in your wallet: $10.00"))
	bob.run(t, textIs("#high", "$10.00"), textIs("#leader", "alice from eu-west-1"))
	bob.run(t, waitJS(`document.querySelector('#amount').value === '10.50'`),
		chromedp.SetValue("#amount", "12.00", chromedp.ByQuery), chromedp.Click("#bid", chromedp.ByQuery))
	alice.run(t, textIs("#high", "$12.00"), textIs("#leader", "bob from ap-southeast-1"),
		textIs("#notice", "outbid"), textIs("#held", "Held in your wallet: $0.00"))
	alice.shot(t, "english-room")
	bob.run(t, textIs("#notice", "You lead"))
}

// TestUIDutchClaimOnce: a claim from the page succeeds once, and the
// other page shows the lot sold out.
func TestUIDutchClaimOnce(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"dutch","title":"Bluefin tuna","start_price":90000,"floor_price":30000,"step":1000,"interval_ms":600000,"qty":1}`)
	a, b := newBrowser(t), newBrowser(t)
	a.open(t, s, "carol", "sa-east-1", "#/lot/"+lot)
	b.open(t, s, "dave", "us-west-2", "#/lot/"+lot)
	a.run(t, textIs("#price", "$900.00"), chromedp.Click("#claim", chromedp.ByQuery), textIs("#notice", "Claimed at $900.00"))
	b.run(t, textIs("#units", "Sold out"), waitJS(`document.querySelector('#claim').disabled`))
	b.shot(t, "dutch-room")
	host := newBrowser(t)
	host.open(t, s, "auctioneer", "us-east-1", "#/lot/"+s.createLot(t, `{"kind":"dutch","title":"Tulips","start_price":20000,"floor_price":5000,"step":500,"interval_ms":600000,"qty":5}`))
	host.run(t, textIs("#price", "$200.00"), chromedp.Click("#tick", chromedp.ByQuery), textIs("#price", "$195.00"))
}

// TestUIDropLobbyWalletAndProof: the drop room, the lobby, the wallet view,
// and the proof console showing "Invariant held" with its numbers.
func TestUIDropLobbyWalletAndProof(t *testing.T) {
	s := startServer(t, "")
	lot := s.createLot(t, `{"kind":"drop","title":"Sneaker drop","price":18000,"qty":3,"per_user_limit":2}`)
	b := newBrowser(t)
	b.open(t, s, "erin", "us-east-1", "#/lot/"+lot)
	b.run(t, textIs("#units", "3 of 3 left"), chromedp.Click("#buy", chromedp.ByQuery), textIs("#notice", "Bought 1"), textIs("#units", "2 of 3 left"))
	b.shot(t, "drop-room")
	b.run(t, chromedp.Navigate(s.URL+"/?user=erin&region=us-east-1#/"), textIs("main", "English auctions"), textIs("main", "Sneaker drop"))
	b.shot(t, "lobby")
	b.run(t, chromedp.Navigate(s.URL+"/?user=erin&region=us-east-1#/wallet"), textIs("#available", "$9,820.00"), textIs("main", "spend"))
	b.shot(t, "wallet")
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
	b.run(t, textIs("#proof-runs", "oversell n=100 k=10"), textIs("#proof-runs", "record"))
	b.shot(t, "proof-console")
	b.run(t, chromedp.Navigate(s.URL+"/?user=erin&region=us-east-1#/"), textIs("main", "English auctions"))
	var lobby string
	b.run(t, chromedp.Text("main", &lobby, chromedp.ByQuery))
	if strings.Contains(lobby, "proof ") {
		t.Fatalf("a proof lot is in the lobby: %s", lobby)
	}
}
