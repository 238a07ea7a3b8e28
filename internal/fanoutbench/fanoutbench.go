// Package fanoutbench measures how fast one lot's events reach thousands of
// WebSocket clients: real clients against a real lotzero process, the time
// from each bid's commit to its arrival at every client, and the server's
// resident memory per connection.
package fanoutbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/lotzero/lotzero/internal/node"
	"github.com/lotzero/lotzero/protocol"
)

// Config is one benchmark run.
type Config struct {
	// URL of a running server (http://host:port). Empty starts a server
	// from Binary in a temporary data directory, which also lets the run
	// read the server's resident memory.
	URL    string
	Binary string
	// Clients joined to the lot; Users is how many distinct users they log
	// in as. Bids is how many events are measured, Interval apart.
	Clients  int
	Users    int
	Bids     int
	Interval time.Duration
	// Progress receives a line per phase (may be nil).
	Progress func(string)
}

// Result is what a run measured.
type Result struct {
	Clients       int
	Samples       int           // arrivals measured (clients × bids)
	Missing       int           // arrivals that never came
	P50, P99, Max time.Duration // commit → arrival at a client
	ConnectTime   time.Duration // to dial, authenticate and join every client
	RSSPerConn    float64       // bytes of server RSS per connection (0 when unknown)
	RSSBase       int64
	RSSLoaded     int64
}

func (c *Config) say(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(fmt.Sprintf(format, args...))
	}
}

// Run performs one benchmark.
func Run(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Clients: cfg.Clients}
	if cfg.Clients < 1 || cfg.Bids < 1 {
		return res, errors.New("clients and bids must be at least 1")
	}
	if cfg.Users < 1 {
		cfg.Users = 1
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	raiseFileLimit()
	pid := 0
	if cfg.URL == "" {
		dir, err := node.TempDir("lotzero-fanout-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		srv, err := node.Start(ctx, cfg.Binary, "LOTZERO_DATA_DIR="+filepath.Join(dir, "pg"),
			"LOTZERO_COMMAND_RATE=100000", "LOTZERO_COMMAND_BURST=100000")
		if err != nil {
			return res, fmt.Errorf("start the benchmark's server: %w", err)
		}
		defer srv.Stop()
		cfg.URL, pid = srv.URL, srv.Pid()
	}
	ws := protocol.WSURL(cfg.URL)

	host, err := protocol.Login(ctx, cfg.URL, "auctioneer", "us-east-1")
	if err != nil {
		return res, fmt.Errorf("login host: %w", err)
	}
	var created struct {
		Lot protocol.Lot `json:"lot"`
	}
	body := `{"kind":"english","title":"fan-out benchmark","start_price":100,"duration_s":86400}`
	if err := protocol.PostJSON(ctx, cfg.URL+"/api/lots", host.Token, []byte(body), &created); err != nil {
		return res, fmt.Errorf("create lot: %w", err)
	}
	lot := created.Lot.ID
	regions := []string{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1", "sa-east-1"}
	tokens := make([]string, cfg.Users)
	for i := range tokens {
		s, err := protocol.Login(ctx, cfg.URL, fmt.Sprintf("fan%d", i), regions[i%len(regions)])
		if err != nil {
			return res, fmt.Errorf("login: %w", err)
		}
		tokens[i] = s.Token
	}
	time.Sleep(time.Second)
	res.RSSBase = rss(pid)

	// Connect every client, 64 at a time; each records bid arrivals.
	arrivals := make(chan arrival, 1<<16)
	clients := make([]*websocket.Conn, cfg.Clients)
	began := time.Now()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var dialErr error
	var mu sync.Mutex
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := rawJoin(ctx, ws, tokens[i%len(tokens)], regions[i%len(regions)], lot)
			if err != nil {
				mu.Lock()
				dialErr = err
				mu.Unlock()
				return
			}
			clients[i] = c
			go record(c, arrivals)
		}()
		if (i+1)%1000 == 0 {
			cfg.say("connected %d of %d", i+1, cfg.Clients)
		}
	}
	wg.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				_ = c.CloseNow()
			}
		}
	}()
	if dialErr != nil {
		return res, fmt.Errorf("connect clients: %w", dialErr)
	}
	res.ConnectTime = time.Since(began)
	time.Sleep(2 * time.Second) // let presence announcements and joins settle
	res.RSSLoaded = rss(pid)
	if res.RSSBase > 0 && res.RSSLoaded > res.RSSBase {
		res.RSSPerConn = float64(res.RSSLoaded-res.RSSBase) / float64(cfg.Clients)
	}
	cfg.say("%d clients joined in %v; bidding", cfg.Clients, res.ConnectTime.Round(time.Millisecond))

	bidder, err := dialAndJoin(ctx, ws, tokens[0], "us-east-1", lot)
	if err != nil {
		return res, fmt.Errorf("bidder: %w", err)
	}
	defer bidder.Close()
	go func() {
		for range bidder.Messages() {
		}
	}()
	var lats []time.Duration
	amount := int64(100)
	for b := 0; b < cfg.Bids; b++ {
		var r protocol.BidResult
		if err := doBid(ctx, bidder, lot, amount, &r); err != nil {
			return res, err
		}
		amount += 1000
		got := collect(arrivals, r.Seq, cfg.Clients, 10*time.Second)
		res.Missing += cfg.Clients - len(got)
		lats = append(lats, got...)
		time.Sleep(cfg.Interval)
	}
	res.Samples = len(lats)
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	if len(lats) > 0 {
		res.P50 = lats[len(lats)/2]
		res.P99 = lats[min(len(lats)-1, len(lats)*99/100)]
		res.Max = lats[len(lats)-1]
	}
	return res, nil
}

type arrival struct {
	seq     int64
	latency time.Duration
}

// record sends the latency of every bid event the client receives. The
// client is deliberately lean (a raw connection, one small decode per
// frame): it shares the machine's cores with the server it measures.
func record(c *websocket.Conn, out chan<- arrival) {
	var ev struct {
		Type string `json:"type"`
		Kind string `json:"kind"`
		Seq  int64  `json:"seq"`
		At   string `json:"at"`
	}
	for {
		_, frame, err := c.Read(context.Background())
		if err != nil {
			return
		}
		now := time.Now()
		if !bytes.Contains(frame, []byte(`"kind":"bid"`)) {
			continue
		}
		ev.Type, ev.Kind = "", ""
		if json.Unmarshal(frame, &ev) != nil || ev.Type != "event" || ev.Kind != "bid" {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, ev.At)
		if err != nil {
			continue
		}
		out <- arrival{seq: ev.Seq, latency: now.Sub(at)}
	}
}

// rawJoin connects a lean client: hello, welcome, join, join reply.
func rawJoin(ctx context.Context, ws, token, region, lot string) (*websocket.Conn, error) {
	c, _, err := websocket.Dial(ctx, ws, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	hello, _ := json.Marshal(protocol.Hello{Type: "hello", Token: token, Region: region})
	join, _ := json.Marshal(protocol.Request{Type: "join", ID: "join", Lot: lot})
	for _, f := range [][]byte{hello, join} {
		if err := c.Write(ctx, websocket.MessageText, f); err != nil {
			c.CloseNow()
			return nil, err
		}
	}
	for {
		_, frame, err := c.Read(ctx)
		if err != nil {
			c.CloseNow()
			return nil, err
		}
		var r protocol.Reply
		if json.Unmarshal(frame, &r) == nil && r.Type == "reply" && r.Re == "join" {
			if !r.OK {
				c.CloseNow()
				return nil, r.Error
			}
			return c, nil
		}
	}
}

// collect gathers the arrivals of event seq from n clients.
func collect(in <-chan arrival, seq int64, n int, wait time.Duration) []time.Duration {
	out := make([]time.Duration, 0, n)
	deadline := time.After(wait)
	for len(out) < n {
		select {
		case a := <-in:
			if a.seq == seq {
				out = append(out, a.latency)
			}
		case <-deadline:
			return out
		}
	}
	return out
}

func doBid(ctx context.Context, c *protocol.Client, lot string, amount int64, r *protocol.BidResult) error {
	reply, err := c.Do(ctx, protocol.Request{Type: "bid", Lot: lot, Amount: amount})
	if err != nil {
		return fmt.Errorf("bid: %w", err)
	}
	if err := reply.Decode(r); err != nil {
		return fmt.Errorf("bid: %w", err)
	}
	return nil
}

func dialAndJoin(ctx context.Context, ws, token, region, lot string) (*protocol.Client, error) {
	c, err := protocol.Dial(ctx, ws, token, region, &protocol.DialOptions{Buffer: 64})
	if err != nil {
		return nil, err
	}
	reply, err := c.Do(ctx, protocol.Request{Type: "join", Lot: lot})
	if err == nil {
		err = reply.Decode(nil)
	}
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("join: %w", err)
	}
	return c, nil
}

// rss is a process's resident set size in bytes (0 when unknown).
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// raiseFileLimit lifts the soft open-files limit to the hard one: every
// client is a socket.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
