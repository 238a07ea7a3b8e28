package proof

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lotzero/lotzero/proof/checker"
	"github.com/lotzero/lotzero/protocol"
)

// Scenario parameters.
const (
	// spenderSessions is how many sessions the double-spend's one user
	// races on: under the server's default cap on one user's sessions, and
	// with its per-session concurrency carrying the N attempts at once.
	spenderSessions = 64
	dropPrice       = 2_500
	dutchStart      = 100_000
	dutchFloor      = 10_000
	dutchStep       = 1_000
	englishStart    = 1_000
	limitSpacing    = 10_007 // wider than the largest bid increment
)

// parallel runs f(i) for i < n, at most width at once, returning the first error.
func parallel(n, width int, f func(i int) error) error {
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// setup logs the participants in, connects them and creates the lots.
func (r *run) setup(ctx context.Context) error {
	n := r.cfg.N
	r.parts = make([]*participant, n)
	spender := ""
	if r.cfg.Scenario == "double-spend" {
		s, err := r.login(ctx, r.tag+"-spender", regions[0])
		if err != nil {
			return fmt.Errorf("log in: %w", err)
		}
		spender = s
	}
	// The spender's racers share spenderSessions sessions (a server caps
	// one user's sessions); everyone else races on a session of their own.
	owners := n
	if spender != "" {
		owners = min(n, spenderSessions)
	}
	for i := owners; i < n; i++ {
		r.parts[i] = &participant{id: i, user: r.tag + "-spender", token: spender, rec: r.rec}
	}
	err := parallel(owners, 32, func(i int) error {
		p := &participant{id: i, region: regions[i%len(regions)], wss: r.nodeOrder(i % len(regions)), rec: r.rec}
		if spender != "" {
			p.user, p.token = r.tag+"-spender", spender
		} else {
			p.user = fmt.Sprintf("%s-%d", r.tag, i)
			token, err := r.login(ctx, p.user, p.region)
			if err != nil {
				return fmt.Errorf("log in %s: %w", p.user, err)
			}
			p.token = token
		}
		if _, err := p.connect(ctx); err != nil {
			return err
		}
		r.parts[i] = p
		return nil
	})
	if err != nil {
		return err
	}
	for i := owners; i < n; i++ {
		r.parts[i].shared = r.parts[i%owners]
		r.parts[i].region, r.parts[i].wss = r.parts[i%owners].region, r.parts[i%owners].wss
	}
	r.server = r.parts[0].client.Welcome.Server
	r.prices = map[string][]int64{}
	switch r.cfg.Scenario {
	case "oversell":
		r.price = dropPrice
		return r.createLots(ctx, 1, fmt.Sprintf(`{"kind":"drop","unlisted":true,"title":"proof %s: %d units","price":%d,"qty":%d}`, r.tag, r.cfg.K, dropPrice, r.cfg.K))
	case "double-spend":
		r.price = r.parts[0].before.Available // funds for exactly one
		return r.createLots(ctx, n, fmt.Sprintf(`{"kind":"drop","unlisted":true,"title":"proof %s","price":%d,"qty":1}`, r.tag, r.price))
	case "dutch":
		if err := r.createLots(ctx, 1, fmt.Sprintf(`{"kind":"dutch","unlisted":true,"title":"proof %s","start_price":%d,"floor_price":%d,"step":%d,"interval_ms":3600000,"qty":%d}`,
			r.tag, dutchStart, dutchFloor, dutchStep, r.cfg.K)); err != nil {
			return err
		}
		for p := int64(dutchStart); p >= dutchFloor; p -= dutchStep {
			r.prices[r.lots[0]] = append(r.prices[r.lots[0]], p)
		}
		return nil
	case "english":
		return r.createLots(ctx, 1, fmt.Sprintf(`{"kind":"english","unlisted":true,"title":"proof %s","start_price":%d,"duration_s":4,"extension_s":2,"hard_end_s":15}`, r.tag, englishStart))
	}
	return nil
}

func (r *run) createLots(ctx context.Context, n int, body string) error {
	r.lots = make([]string, n)
	return parallel(n, 16, func(i int) error {
		var res struct {
			Lot protocol.Lot `json:"lot"`
		}
		if err := retrying(ctx, func() error {
			return protocol.PostJSON(ctx, r.home+"/api/lots", r.host, []byte(body), &res)
		}); err != nil {
			return fmt.Errorf("create lot: %w", err)
		}
		r.lots[i] = res.Lot.ID
		return nil
	})
}

// play is participant i's part of the race; it returns each operation's outcome.
func (r *run) play(ctx context.Context, i int, p *participant) []outcome {
	switch r.cfg.Scenario {
	case "oversell":
		_, o := p.do(ctx, protocol.Request{Type: "buy", ID: r.tag + "-buy", Lot: r.lots[0], Qty: 1}, checker.Op{F: "buy", Lot: r.lots[0], Qty: 1})
		return []outcome{o}
	case "double-spend":
		_, o := p.do(ctx, protocol.Request{Type: "buy", ID: fmt.Sprintf("%s-ds-%d", r.tag, i), Lot: r.lots[i], Qty: 1},
			checker.Op{F: "buy", Lot: r.lots[i], Qty: 1})
		return []outcome{o}
	case "dutch":
		ticked := make(chan struct{})
		if i == 0 {
			// The host ticks at the same instant as the claims.
			go func() { r.hostTick(ctx); close(ticked) }()
		} else {
			close(ticked)
		}
		_, o := p.do(ctx, protocol.Request{Type: "claim", ID: r.tag + "-claim", Lot: r.lots[0], Qty: 1}, checker.Op{F: "claim", Lot: r.lots[0], Qty: 1})
		<-ticked
		return []outcome{o}
	case "english":
		return r.bidUntilClosed(ctx, i, p)
	}
	return nil
}

func (r *run) hostTick(ctx context.Context) {
	step := int64(0)
	host := &participant{id: -1, user: "auctioneer", region: regions[0], token: r.host, wss: r.nodeOrder(0), rec: r.rec}
	defer host.close()
	host.do(ctx, protocol.Request{Type: "tick", ID: r.tag + "-tick", Lot: r.lots[0], Step: &step}, checker.Op{F: "tick", Lot: r.lots[0]})
}

// bidUntilClosed: a bidder with a private maximum bids the current minimum
// with that maximum as a proxy until they lead, are priced out, or the lot
// closes; outbid, they come back.
func (r *run) bidUntilClosed(ctx context.Context, i int, p *participant) []outcome {
	limit := int64(englishStart) + int64(i)*limitSpacing
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	var out []outcome
	for n := 0; ctx.Err() == nil; n++ {
		var lot struct {
			Lot protocol.Lot `json:"lot"`
		}
		if err := protocol.GetJSON(ctx, r.home+"/api/lots/"+r.lots[0], "", &lot); err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		l := lot.Lot
		if l.Status != "open" || l.MinNextBid > limit {
			return out
		}
		if l.HighBidder != nil && *l.HighBidder == p.user {
			time.Sleep(time.Duration(100+rng.IntN(200)) * time.Millisecond)
			continue
		}
		_, o := p.do(ctx, protocol.Request{Type: "bid", ID: fmt.Sprintf("%s-bid-%d", r.tag, n), Lot: r.lots[0], Amount: l.MinNextBid, Max: limit},
			checker.Op{F: "bid", Lot: r.lots[0], Amount: l.MinNextBid, Max: limit})
		out = append(out, o)
		time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
	}
	return out
}

// finish settles what the race left open, so the seller's earnings can be
// checked: unsold drops and Dutch lots are closed by the host; an English
// lot is settled by the server's closer at its end.
func (r *run) finish(ctx context.Context) error {
	if r.cfg.Scenario == "english" {
		deadline := time.Now().Add(45 * time.Second)
		for time.Now().Before(deadline) {
			var lot struct {
				Lot protocol.Lot `json:"lot"`
			}
			if err := protocol.GetJSON(ctx, r.home+"/api/lots/"+r.lots[0], "", &lot); err == nil && lot.Lot.Status == "settled" {
				return nil
			}
			time.Sleep(200 * time.Millisecond)
		}
		return fmt.Errorf("the English lot did not settle in time")
	}
	host := &participant{id: -2, user: "auctioneer", region: regions[0], token: r.host, wss: r.nodeOrder(0), rec: &recorder{}}
	defer host.close()
	pace := newHostPace()
	return parallel(len(r.lots), 8, func(i int) error {
		var lot struct {
			Lot protocol.Lot `json:"lot"`
		}
		if err := retrying(ctx, func() error { return protocol.GetJSON(ctx, r.home+"/api/lots/"+r.lots[i], "", &lot) }); err != nil {
			return err
		}
		if lot.Lot.Status == "settled" {
			return nil
		}
		if err := pace.Wait(ctx); err != nil {
			return err
		}
		reply, _ := host.do(ctx, protocol.Request{Type: "close", ID: fmt.Sprintf("%s-close-%d", r.tag, i), Lot: r.lots[i]}, checker.Op{F: "close"})
		if !reply.OK && reply.Error != nil && reply.Error.Code != protocol.ErrLotClosed {
			return fmt.Errorf("close lot: %v", reply.Error)
		}
		return nil
	})
}

// final reads, through the public API, every lot, every wallet and the audit.
func (r *run) final(ctx context.Context, hostBefore checker.Wallet) (checker.Final, error) {
	f := checker.Final{Scenario: r.cfg.Scenario, N: r.cfg.N, K: r.cfg.K, Host: "auctioneer", Price: r.price,
		Prices: r.prices, Wallets: map[string]checker.Pair{}, Lots: make([]checker.Lot, len(r.lots))}
	if err := parallel(len(r.lots), 16, func(i int) error {
		var lot struct {
			Lot checker.Lot `json:"lot"`
		}
		err := retrying(ctx, func() error { return protocol.GetJSON(ctx, r.home+"/api/lots/"+r.lots[i], "", &lot) })
		f.Lots[i] = lot.Lot
		return err
	}); err != nil {
		return f, fmt.Errorf("read lots: %w", err)
	}
	hostAfter, err := r.wallet(ctx, r.host)
	if err != nil {
		return f, err
	}
	f.Wallets["auctioneer"] = checker.Pair{Before: hostBefore, After: hostAfter}
	var mu sync.Mutex
	if err := parallel(len(r.parts), 32, func(i int) error {
		p := r.parts[i]
		mu.Lock()
		_, done := f.Wallets[p.user]
		mu.Unlock()
		if done {
			return nil
		}
		after, err := r.wallet(ctx, p.token)
		mu.Lock()
		f.Wallets[p.user] = checker.Pair{Before: p.session().before, After: after}
		mu.Unlock()
		return err
	}); err != nil {
		return f, err
	}
	if err := retrying(ctx, func() error { return protocol.GetJSON(ctx, r.home+"/api/audit", r.host, &f.Audit) }); err != nil {
		return f, fmt.Errorf("audit: %w", err)
	}
	for _, p := range r.parts {
		p.close()
	}
	return f, nil
}

func (r *run) wallet(ctx context.Context, token string) (checker.Wallet, error) {
	var w struct {
		Wallet checker.Wallet `json:"wallet"`
	}
	err := retrying(ctx, func() error { return protocol.GetJSON(ctx, r.home+"/api/wallet", token, &w) })
	return w.Wallet, err
}

// NodeStats are one node's ledger counters over the race, from its
// /metrics: what OCC did there.
type NodeStats struct {
	URL        string `json:"url"`
	Commits    int64  `json:"commits"`
	OCCRetries int64  `json:"occ_retries"` // attempts retried after a conflict
	// UnknownCommits are COMMITs whose answer was lost, settled by a retry.
	UnknownCommits int64 `json:"unknown_commits"`
	Busy           int64 `json:"busy"` // operations that gave up retrying
}

// nodeStats reads every node's counters (zero for a node that does not
// answer: it may be restarting).
func (r *run) nodeStats(ctx context.Context) []NodeStats {
	out := make([]NodeStats, len(r.urls))
	for i, u := range r.urls {
		out[i] = NodeStats{URL: u}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			name, value, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			v, _ := strconv.ParseFloat(strings.TrimSpace(value), 64)
			switch name {
			case "lotzero_ledger_commits_total":
				out[i].Commits = int64(v)
			case "lotzero_ledger_occ_retries_total":
				out[i].OCCRetries = int64(v)
			case "lotzero_ledger_unknown_commits_total":
				out[i].UnknownCommits = int64(v)
			case "lotzero_ledger_busy_total":
				out[i].Busy = int64(v)
			}
		}
	}
	return out
}

// since is what happened on each node between two readings.
func since(before, after []NodeStats) []NodeStats {
	out := make([]NodeStats, len(after))
	for i := range after {
		out[i] = after[i]
		if i < len(before) {
			out[i].Commits -= before[i].Commits
			out[i].OCCRetries -= before[i].OCCRetries
			out[i].UnknownCommits -= before[i].UnknownCommits
			out[i].Busy -= before[i].Busy
		}
		// A node restarted during the race counts from zero again.
		out[i].Commits, out[i].OCCRetries, out[i].Busy = max(out[i].Commits, 0), max(out[i].OCCRetries, 0), max(out[i].Busy, 0)
		out[i].UnknownCommits = max(out[i].UnknownCommits, 0)
	}
	return out
}

// observer follows one lot's events from seq 1 on one node, reconnecting
// with since whenever its connection breaks, and records each event it
// sees. With several nodes there is one per node: each sees at least the
// events its node committed, so together they see every event.
type observer struct {
	r       *run
	lot     string
	token   string
	ws      string
	process int
	mu      sync.Mutex
	last    int64
	seen    map[int64]bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func (r *run) observe(ctx context.Context, lot string, node int) (*observer, error) {
	token, err := r.login(ctx, fmt.Sprintf("%s-observer-%d", r.tag, node), "eu-west-1")
	if err != nil {
		return nil, err
	}
	octx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o := &observer{r: r, lot: lot, token: token, ws: r.wss[node], process: -3 - node, seen: map[int64]bool{},
		cancel: cancel, done: make(chan struct{})}
	go o.follow(octx)
	return o, nil
}

// awaitObserved waits until the observers together have seen every event
// up to seq, or the timeout.
func awaitObserved(obs []*observer, seq int64, timeout time.Duration) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		missing := false
		for s := int64(1); s <= seq && !missing; s++ {
			seen := false
			for _, o := range obs {
				o.mu.Lock()
				seen = seen || o.seen[s]
				o.mu.Unlock()
			}
			missing = !seen
		}
		if !missing {
			return
		}
	}
}

func (o *observer) follow(ctx context.Context) {
	defer close(o.done)
	for ctx.Err() == nil {
		c, err := protocol.Dial(ctx, o.ws, o.token, "eu-west-1", &protocol.DialOptions{Buffer: 1 << 14})
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		o.mu.Lock()
		since := o.last
		o.mu.Unlock()
		reply, err := c.Do(ctx, protocol.Request{Type: "join", Lot: o.lot, Since: &since})
		if err != nil || !reply.OK {
			_ = c.Close()
			continue
		}
		o.read(ctx, c)
		_ = c.Close()
	}
}

func (o *observer) read(ctx context.Context, c *protocol.Client) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-c.Messages():
			if !ok {
				return
			}
			if m.Event == nil || m.Event.Seq == 0 {
				continue
			}
			op := checker.Op{Process: o.process, Type: checker.Read, F: "event", Lot: o.lot, Seq: m.Event.Seq, Kind: m.Event.Kind}
			observed(&op, m.Event)
			o.r.rec.add(op)
			o.mu.Lock()
			o.last = max(o.last, m.Event.Seq)
			o.seen[m.Event.Seq] = true
			o.mu.Unlock()
		}
	}
}

// observed fills in what the checker reads from an event: who acted (the
// bidder or buyer), a bid's amount and the price the event states. An
// event whose data does not decode is still recorded, by kind and seq.
func observed(op *checker.Op, ev *protocol.Event) {
	data, err := ev.DecodeData()
	if err != nil {
		return
	}
	switch d := data.(type) {
	case protocol.BidData:
		op.Actor, op.Amount = d.Bidder, d.Amount
	case protocol.ClaimedData:
		op.Actor, op.Price = d.Buyer, d.Price
	case protocol.SoldData:
		op.Actor, op.Price = d.Buyer, d.Price
	case protocol.PriceTickData:
		op.Price = d.Price
	case protocol.OpenedData:
		op.Price = d.Price
	case protocol.SettledData:
		if d.EnglishSettlement != nil {
			op.Price = d.Price
		}
	}
}

func (o *observer) stop() {
	o.cancel()
	<-o.done
}
