// Package fanoutbench measures the live moment the way a crowd makes it:
// thousands of WebSocket sessions dial and join one lot at the same
// instant, unpaced, then a bidder bids and every session must receive every
// bid — exactly once, in seq order — and the time from each bid's sending
// to its arrival at each session is measured, with the server's resident
// memory per session. Clients are real sockets against a real lotzero
// process on its default settings; they share the machine with it.
//
// With Chatters, the bids are measured twice in one run: in the quiet room,
// then while that many of the sessions chat as fast as their rate limit
// lets them (the chat storm of the live moment), so the two latencies
// compare on the same machine and the same sessions. Sessions ask for
// batch frames, as the web client does.
package fanoutbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lotzero/lotzero/internal/node"
	"github.com/lotzero/lotzero/ledger"
	"github.com/lotzero/lotzero/protocol"
)

// Config is one benchmark run.
type Config struct {
	// URL of a running server (http://host:port). Empty starts one from
	// Binary (empty: this executable) in a temporary data directory, on its
	// default settings, which also lets the run read its resident memory.
	URL    string
	Binary string
	// Pid is the process of the server at URL, when known: its CPU and
	// resident memory are then measured too.
	Pid int
	// Sessions join the lot at once; they log in as Users distinct users
	// (zero: one user per session), so Users < Sessions gives users with
	// many sessions each.
	Sessions int
	Users    int
	// Bids is how many bids are measured, Interval apart.
	Bids     int
	Interval time.Duration
	// Chatters of the sessions chat during a second round of Bids bids,
	// each at ChatRate lines per second (zero: 2, the server's default
	// per-session limit), waiting out any rate_limited reply.
	Chatters int
	ChatRate float64
	// Rounds alternates that many quiet rounds and storms (zero: 1), so
	// the machine's other load falls on both alike.
	Rounds int
	// Progress receives a line per phase (may be nil).
	Progress func(string)
	// ClientProfile, when set, receives a CPU profile of this process (the
	// clients) over the measured bids: they share the cores with the
	// server, so what they spend is part of every figure.
	ClientProfile io.Writer
}

// Result is what a run measured.
type Result struct {
	Sessions     int
	Users        int
	Joined       int            // sessions whose join succeeded
	JoinFailures map[string]int // by error (code or transport error)
	JoinTime     time.Duration  // first dial to the last join reply
	Samples      int            // bid arrivals measured (sessions × bids when nothing is lost)
	Missing      int            // bid arrivals that never came
	Duplicates   int            // ledger events a session received twice
	OutOfOrder   int            // ledger events a session received past a gap or out of seq order
	P50, P99     time.Duration  // bid sent → received by a session (every round)
	Max          time.Duration
	// Quiet and Storm split the bid arrivals by round when Chatters > 0.
	Quiet, Storm Latency
	// BidP99 is each quiet-round bid's p99 in the order sent: whether a
	// run's p99 is every bid's or a few slow ones'.
	BidP99 []time.Duration
	Chat   ChatStats
	// Closed counts sessions the server closed during the run, by close
	// code (a session the run closed itself at its end is not counted).
	Closed     map[int]int
	RSSBase    int64   // server RSS before the sessions connect (0 when unknown)
	RSSLoaded  int64   // after every session joined
	RSSAfter   int64   // after the measured bids, the sessions still in
	RSSPerConn float64 // bytes per session
	// ServerCPUPerBid is the server's CPU time (user + system) over the
	// measured bids, per bid: the cost of one event's fan-out (0 when
	// unknown).
	ServerCPUPerBid time.Duration
	// ServerCores is the server's CPU use (cores busy, user + system) in
	// the quiet round and in the storm (0 when unknown).
	QuietCores, StormCores float64
	// ClientQuietCores and ClientStormCores are the same for this process:
	// the clients, on the same machine.
	ClientQuietCores, ClientStormCores float64
}

// Latency is one round's bid arrivals.
type Latency struct {
	Samples       int
	P50, P99, Max time.Duration
}

func latencyOf(lats []time.Duration) Latency {
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	l := Latency{Samples: len(lats)}
	if len(lats) > 0 {
		l.P50 = lats[len(lats)/2]
		l.P99 = lats[min(len(lats)-1, len(lats)*99/100)]
		l.Max = lats[len(lats)-1]
	}
	return l
}

// ChatStats is what the chatters sent and what the room showed.
type ChatStats struct {
	Duration    time.Duration // how long the chatters chatted
	Sent        int64         // chat requests sent
	Broadcast   int64         // replies with broadcast true
	Suppressed  int64         // replies with broadcast false (over the room's budget)
	RateLimited int64         // rate_limited replies (the chatter's own limit)
	Failed      int64         // other error replies
	// Budget is the room's chat budget the server announced (lines/s per
	// node; 0 when it announces none).
	Budget float64
	// Received is the chat lines an average session received; Counted the
	// suppressed counts its batch frames reported; Batches its batch frames.
	Received, Counted, Batches float64
}

// ErrLoss is returned (with the Result) when a join failed or any session
// missed, doubled or reordered an event: the run measured a broken system.
var ErrLoss = errors.New("not every session joined and received every event exactly once in order")

// ErrClosed is returned (with the Result) when the server closed a session
// during the run.
var ErrClosed = errors.New("the server closed sessions during the run")

func (c *Config) say(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(fmt.Sprintf(format, args...))
	}
}

var regions = []string{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1", "sa-east-1"}

// Run performs one benchmark.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Sessions < 1 || cfg.Bids < 1 {
		return Result{}, errors.New("sessions and bids must be at least 1")
	}
	if cfg.Users < 1 || cfg.Users > cfg.Sessions {
		cfg.Users = cfg.Sessions
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	res := Result{Sessions: cfg.Sessions, Users: cfg.Users, JoinFailures: map[string]int{}, Closed: map[int]int{}}
	if cfg.ChatRate <= 0 {
		cfg.ChatRate = 2
	}
	cfg.Chatters = min(max(cfg.Chatters, 0), cfg.Sessions)
	raiseFileLimit()
	pid := cfg.Pid
	if cfg.URL == "" {
		dir, err := node.TempDir("lotzero-fanout-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		srv, err := node.Start(ctx, cfg.Binary, "LOTZERO_DATA_DIR="+filepath.Join(dir, "pg"))
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
	cfg.say("logging in %d users", cfg.Users)
	tokens, err := login(ctx, cfg.URL, cfg.Users)
	if err != nil {
		return res, err
	}
	time.Sleep(time.Second)
	res.RSSBase = rss(pid)

	// Every session dials, says hello and joins at the same instant.
	cfg.say("%d sessions joining at once", cfg.Sessions)
	col := newCollector()
	clients := dialAll(cfg.Sessions, &res, func(i int) (*client, error) {
		return join(ctx, ws, tokens[i%len(tokens)], regions[i%len(regions)], lot)
	}, func(c *client) { c.read(col) })
	defer closeAll(clients)
	cfg.say("%d of %d joined in %v", res.Joined, cfg.Sessions, res.JoinTime.Round(time.Millisecond))
	time.Sleep(2 * time.Second) // presence announcements settle
	res.RSSLoaded = rss(pid)
	if res.RSSBase > 0 && res.RSSLoaded > res.RSSBase && res.Joined > 0 {
		res.RSSPerConn = float64(res.RSSLoaded-res.RSSBase) / float64(res.Joined)
	}

	bidderSession, err := protocol.Login(ctx, cfg.URL, "fanbidder", "us-east-1")
	if err != nil {
		return res, fmt.Errorf("login bidder: %w", err)
	}
	bidder, err := protocol.Dial(ctx, ws, bidderSession.Token, "us-east-1", &protocol.DialOptions{Buffer: 64})
	if err != nil {
		return res, fmt.Errorf("bidder: %w", err)
	}
	defer bidder.Close()
	go func() {
		for range bidder.Messages() {
		}
	}()
	res.Chat.Budget = bidder.Welcome.Server.ChatBudget
	amount := int64(100)
	bid := func(round map[int64]time.Time) error {
		at := time.Now()
		reply, err := bidder.Do(ctx, protocol.Request{Type: "bid", Lot: lot, Amount: amount})
		var r protocol.BidResult
		if err == nil {
			err = reply.Decode(&r)
		}
		if err != nil {
			return fmt.Errorf("bid: %w", err)
		}
		round[r.Seq] = at
		amount = r.Amount + ledger.BidIncrement(r.Amount) // the lowest next bid: many rounds stay within the bidder's funds
		col.await(r.Seq, res.Joined, 10*time.Second)
		time.Sleep(cfg.Interval)
		return nil
	}
	quiet, storm := map[int64]time.Time{}, map[int64]time.Time{}
	var chatters []*client
	for _, c := range clients {
		if c != nil && len(chatters) < cfg.Chatters {
			chatters = append(chatters, c)
		}
	}
	rounds := 1
	if len(chatters) > 0 {
		rounds = max(1, cfg.Rounds)
	}
	var quietCPU, quietWall, stormCPU, stormWall, clientQuiet, clientStorm time.Duration
	self := os.Getpid()
	if cfg.ClientProfile != nil {
		if err := pprof.StartCPUProfile(cfg.ClientProfile); err != nil {
			return res, fmt.Errorf("client profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	for round := 0; round < rounds; round++ {
		cpu0, t0, client0 := cpuTime(pid), time.Now(), cpuTime(self)
		for b := 0; b < cfg.Bids; b++ {
			if err := bid(quiet); err != nil {
				return res, err
			}
		}
		quietCPU, quietWall = quietCPU+cpuTime(pid)-cpu0, quietWall+time.Since(t0)
		clientQuiet += cpuTime(self) - client0
		if len(chatters) == 0 {
			break
		}
		cfg.say("round %d: %d sessions chatting at %.3g lines/s each", round+1, len(chatters), cfg.ChatRate)
		var clientUsed time.Duration
		used, wall, err := cfg.storm(ctx, chatters, &res.Chat, pid, func() error {
			client0 := cpuTime(self)
			defer func() { clientUsed = cpuTime(self) - client0 }()
			for b := 0; b < cfg.Bids; b++ {
				if err := bid(storm); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		stormCPU, stormWall, clientStorm = stormCPU+used, stormWall+wall, clientStorm+clientUsed
	}
	if quietWall > 0 {
		res.ClientQuietCores = clientQuiet.Seconds() / quietWall.Seconds()
	}
	if stormWall > 0 {
		res.ClientStormCores = clientStorm.Seconds() / stormWall.Seconds()
	}
	if quietCPU > 0 {
		res.ServerCPUPerBid = quietCPU / time.Duration(len(quiet))
		res.QuietCores = quietCPU.Seconds() / quietWall.Seconds()
	}
	if stormCPU > 0 {
		res.StormCores = stormCPU.Seconds() / stormWall.Seconds()
	}
	for _, c := range chatters {
		res.Chat.Sent += c.chatSent.Load()
		res.Chat.Broadcast += c.chatShown.Load()
		res.Chat.Suppressed += c.chatHidden.Load()
		res.Chat.RateLimited += c.chatLimited.Load()
		res.Chat.Failed += c.chatFailed.Load()
	}

	res.RSSAfter = rss(pid)
	for _, c := range clients {
		if c != nil {
			c.closing.Store(true)
		}
	}
	quietLats, stormLats := latencies(clients, quiet), latencies(clients, storm)
	res.Quiet, res.Storm = latencyOf(quietLats), latencyOf(stormLats)
	res.BidP99 = perBidP99(clients, quiet)
	all := slices.Concat(quietLats, stormLats)
	res.Samples = len(all)
	bids := len(quiet) + len(storm)
	var lines, counted, batches int64
	res.Missing = res.Joined*bids - res.Samples
	tally(&res, clients)
	for _, c := range clients {
		if c != nil {
			lines, counted, batches = lines+c.chatLines.Load(), counted+c.chatCounted.Load(), batches+c.batches.Load()
		}
	}
	if res.Joined > 0 {
		n := float64(res.Joined)
		res.Chat.Received, res.Chat.Counted, res.Chat.Batches = float64(lines)/n, float64(counted)/n, float64(batches)/n
	}
	all2 := latencyOf(all)
	res.P50, res.P99, res.Max = all2.P50, all2.P99, all2.Max
	if res.Joined != cfg.Sessions || res.Missing != 0 || res.Duplicates != 0 || res.OutOfOrder != 0 {
		return res, ErrLoss
	}
	if len(res.Closed) > 0 {
		return res, ErrClosed
	}
	return res, nil
}

// storm runs measure while the chatters chat, after two seconds for the
// storm to build up, and returns the server's CPU time and the wall time
// over measure.
func (cfg *Config) storm(ctx context.Context, chatters []*client, stats *ChatStats, pid int, measure func() error) (cpu, wall time.Duration, err error) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	began := time.Now()
	for i, c := range chatters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.chat(ctx, i, cfg.ChatRate, stop)
		}()
	}
	time.Sleep(2 * time.Second)
	cpu0, t0 := cpuTime(pid), time.Now()
	err = measure()
	cpu, wall = cpuTime(pid)-cpu0, time.Since(t0)
	close(stop)
	wg.Wait()
	stats.Duration += time.Since(began)
	time.Sleep(2 * time.Second) // the last replies and batches arrive
	return cpu, wall, err
}

// login creates the users' sessions (demo mode), a few at a time: set-up,
// not part of what is measured.
func login(ctx context.Context, url string, users int) ([]string, error) {
	tokens := make([]string, users)
	errs := make(chan error, users)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := protocol.Login(ctx, url, fmt.Sprintf("fan%d", i), regions[i%len(regions)])
			if err != nil {
				errs <- fmt.Errorf("login fan%d: %w", i, err)
				return
			}
			tokens[i] = s.Token
		}()
	}
	wg.Wait()
	close(errs)
	return tokens, <-errs
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

// cpuTime is a process's user plus system CPU time (0 when unknown).
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// raiseFileLimit lifts the soft open-files limit to the hard one: every
// session is a socket.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
