// Package proof runs LotZero's claim as an experiment: hundreds to
// thousands of real WebSocket sessions race for scarce units and funds, a
// history of what each saw is recorded, and an independent checker
// (proof/checker) judges it with the server's own audit. Faults — a node
// killed and restarted, dropped connections, a database restart — can be
// injected during the race.
package proof

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lotzero/lotzero/internal/dsqlsim"
	"github.com/lotzero/lotzero/proof/checker"
	"github.com/lotzero/lotzero/protocol"
)

// Scenarios are the races Run knows.
var Scenarios = []string{"oversell", "double-spend", "dutch", "english"}

// Config is one proof run.
type Config struct {
	Scenario string
	N        int // participants
	K        int // units (oversell, dutch); ignored otherwise
	// URL of a server in demo mode, and URLs of more nodes of the same
	// deployment (sharing its database): participants are spread over them
	// by Region. Empty starts Nodes servers from Binary (faults need that:
	// the runner must own the processes it kills).
	URL    string
	URLs   []string
	Binary string
	// Nodes is how many servers to start when no URL is given: more than
	// one share one PostgreSQL (and, with DynamoEndpoint, one DynamoDB
	// firehose table), so the same wallet is raced on several nodes at
	// once and OCC decides. Zero means 1.
	Nodes          int
	DynamoEndpoint string
	Faults         bool
	// RawBound also measures the database's own limit: the same claim
	// statement alone, from as many connections (oversell and double-spend;
	// needs a server the proof starts itself).
	RawBound bool
	// DBLatency, when positive, is a round trip added between every node
	// and PostgreSQL (internal/dblatency), and between the raw bound and
	// it: a database in another Region (a cross-Region Aurora DSQL commit)
	// on one machine. It needs a PostgreSQL the proof owns (no URL).
	DBLatency time.Duration
	// Mint, when set, signs the run's tokens for a production deployment
	// (an auth secret): its users are funded by an operator credit instead
	// of demo sign-up. Nil means demo mode.
	Mint Minter `json:"-"`
	// DSQLSim, when set, puts the DSQL layer (internal/dsqlsim) between the
	// nodes and the proof's own PostgreSQL, with these options: aborted
	// COMMITs, refused statements, connections closed after their
	// lifetime. DBLatency is then the layer's round trip. It needs a
	// PostgreSQL the proof owns (no URL).
	DSQLSim *dsqlsim.Options
	// Progress, when set, receives a line as the run advances.
	Progress func(string)
}

// Report is a run's outcome: the checker's verdict and what was measured.
type Report struct {
	ID         string                  `json:"id,omitempty"` // a console run's id (its downloads)
	At         string                  `json:"at"`           // when the race started
	Lots       []string                `json:"lots"`         // the lots the run created (unlisted), at most 20
	Scenario   string                  `json:"scenario"`
	N          int                     `json:"n"`
	K          int                     `json:"k"`
	OK         bool                    `json:"ok"`
	Verdict    string                  `json:"verdict"` // "Invariant held" or "Invariant VIOLATED"
	Check      checker.Result          `json:"check"`
	DurationMS float64                 `json:"duration_ms"` // barrier release to the last outcome
	Latency    Latency                 `json:"latency_ms"`
	OCCRetries int64                   `json:"occ_retries"` // over every node
	Nodes      []NodeStats             `json:"nodes"`       // per node, during the race
	Regions    map[string]RegionCounts `json:"regions"`
	Backends   protocol.ServerInfo     `json:"backends"`
	Faults     []string                `json:"faults,omitempty"`
	RawBound   *RawBound               `json:"raw_bound,omitempty"`
	// DBLatencyMS is the round trip injected between the nodes and the
	// database (Config.DBLatency); absent when none was.
	DBLatencyMS float64 `json:"db_latency_ms,omitempty"`
	// DSQLSim is what the DSQL layer injected during the race (Config.DSQLSim);
	// absent without it.
	DSQLSim *DSQLSimReport `json:"dsql_sim,omitempty"`
	History []checker.Op   `json:"-"`
	Final   checker.Final  `json:"-"`
}

// Latency of operations from invoke to outcome, in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// RegionCounts are one Region's outcomes.
type RegionCounts struct {
	OK       int    `json:"ok"`
	Rejected int    `json:"rejected"`
	Info     int    `json:"info"`
	Node     string `json:"node"` // the node the Region's sessions started on
}

var regions = []string{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1", "sa-east-1"}

func (c Config) say(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(fmt.Sprintf(format, args...))
	}
}

// Validate checks a configuration before anything starts.
func (c *Config) Validate() error {
	known := false
	for _, s := range Scenarios {
		known = known || s == c.Scenario
	}
	if !known {
		return fmt.Errorf("scenario must be one of %s", strings.Join(Scenarios, ", "))
	}
	if c.N < 1 || c.N > 20_000 {
		return errors.New("n must be between 1 and 20000")
	}
	if c.K == 0 {
		c.K = 1
		if c.Scenario == "oversell" {
			c.K = max(1, c.N/10)
		}
	}
	if c.K < 1 || c.K > 1_000_000 {
		return errors.New("k must be between 1 and 1000000")
	}
	if c.URL != "" {
		c.URLs = append([]string{c.URL}, c.URLs...)
		c.URL = ""
	}
	if c.Nodes == 0 {
		c.Nodes = 1
	}
	switch {
	case c.Nodes < 1 || c.Nodes > 8:
		return errors.New("nodes must be between 1 and 8")
	case len(c.URLs) > 0 && c.Nodes > 1:
		return errors.New("give either the nodes' URLs or how many nodes to start, not both")
	case (c.Faults || c.RawBound) && len(c.URLs) > 0:
		return errors.New("faults and the raw bound need servers the proof starts itself (no --url)")
	case c.DBLatency < 0 || c.DBLatency > time.Second:
		return errors.New("db latency must be between 0 and 1s")
	case c.DBLatency > 0 && len(c.URLs) > 0:
		return errors.New("db latency needs servers and a PostgreSQL the proof starts itself (no --url)")
	case c.DSQLSim != nil && len(c.URLs) > 0:
		return errors.New("the DSQL layer needs servers and a PostgreSQL the proof starts itself (no --url)")
	case c.DSQLSim != nil && (c.DSQLSim.AbortShare < 0 || c.DSQLSim.AbortShare > 0.5):
		return errors.New("the DSQL layer's abort share must be between 0 and 0.5")
	}
	return nil
}

// Run performs one proof run. The error is for runs that could not be
// carried out; a violation is a Report with OK false.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// A run never hangs: a server that never comes back fails it.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var env *nodes
	if len(cfg.URLs) == 0 {
		var err error
		ownDatabase := cfg.Faults || cfg.RawBound || cfg.DBLatency > 0 || cfg.DSQLSim != nil
		if env, err = startNodes(ctx, cfg.Binary, cfg.Nodes, ownDatabase, cfg.DynamoEndpoint, cfg.DBLatency, cfg.DSQLSim); err != nil {
			return nil, err
		}
		defer env.stop()
		cfg.URLs = env.urls()
	}
	r := &run{cfg: cfg, rec: &recorder{}, urls: cfg.URLs, home: cfg.URLs[0], tag: fmt.Sprintf("p%04x", rand.IntN(1<<16))}
	for _, u := range cfg.URLs {
		r.wss = append(r.wss, protocol.WSURL(u))
	}
	return r.execute(ctx, env)
}

type run struct {
	cfg  Config
	rec  *recorder
	urls []string // the deployment's nodes
	wss  []string // their WebSocket URLs
	home string   // the node the set-up and the final reads use
	tag  string   // makes this run's users and ids unique on a long-lived server
	host string   // the host's token
	// operator is the token that funds users in production (login).
	operator string
	parts    []*participant
	lots     []string
	prices   map[string][]int64
	price    int64
	server   protocol.ServerInfo
}

func (r *run) execute(ctx context.Context, env *nodes) (*Report, error) {
	cfg := r.cfg
	hostUser := "auctioneer"
	if cfg.Mint != nil {
		hostUser = r.tag + "-host" // no demo users in production
	}
	host, err := r.login(ctx, hostUser, "us-east-1", "bidder", "host")
	if err != nil {
		return nil, fmt.Errorf("log in as the host (demo mode, or give the proof the auth secret): %w", err)
	}
	r.host = host
	hostBefore, err := r.wallet(ctx, r.host)
	if err != nil {
		return nil, err
	}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	cfg.say("%d sessions connected; %d lots ready", len(r.parts), len(r.lots))
	var obs []*observer
	if len(r.lots) == 1 {
		for node := range r.urls {
			o, err := r.observe(ctx, r.lots[0], node)
			if err != nil {
				return nil, err
			}
			defer o.stop()
			obs = append(obs, o)
		}
	}
	statsBefore := r.nodeStats(ctx)
	var simBefore dsqlsim.Stats
	if env != nil && env.sim != nil {
		simBefore = env.sim.Stats()
	}

	// The race: everyone waits at the barrier, then goes at once.
	start := make(chan struct{})
	outcomes := make([]outcome, 0, len(r.parts))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var done int
	for i, p := range r.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for _, o := range r.play(ctx, i, p) {
				mu.Lock()
				outcomes = append(outcomes, o)
				done++
				mu.Unlock()
			}
		}()
	}
	raceCtx, stopFaults := context.WithCancel(ctx)
	var faults []string
	faultsDone := make(chan struct{})
	began := time.Now()
	close(start)
	if cfg.Faults && env != nil {
		go func() {
			defer close(faultsDone)
			faults = r.inject(raceCtx, env, cfg.say)
		}()
	} else {
		close(faultsDone)
	}
	progress := time.NewTicker(250 * time.Millisecond)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
loop:
	for {
		select {
		case <-finished:
			break loop
		case <-progress.C:
			mu.Lock()
			cfg.say("racing: %d of %d operations done, %v", done, len(r.parts), time.Since(began).Round(time.Millisecond))
			mu.Unlock()
		}
	}
	progress.Stop()
	duration := time.Since(began)
	stopFaults()
	<-faultsDone
	raceStats := since(statsBefore, r.nodeStats(ctx))
	var simReport *DSQLSimReport
	if env != nil && env.sim != nil {
		simReport = dsqlSimReport(env.sim.Options(), simBefore, env.sim.Stats())
	}

	if err := r.finish(ctx); err != nil {
		return nil, err
	}
	final, err := r.final(ctx, hostBefore)
	if err != nil {
		return nil, err
	}
	if len(obs) > 0 {
		awaitObserved(obs, final.Lots[0].Seq, 15*time.Second)
		final.Observed = []string{r.lots[0]}
	}
	history := r.rec.history()
	res := checker.Check(history, final)
	rep := &Report{
		Scenario: cfg.Scenario, N: cfg.N, K: cfg.K, OK: res.OK, Check: res,
		DurationMS: millis(duration), Latency: latencies(outcomes), Regions: r.byRegion(outcomes),
		Nodes: raceStats, Backends: r.server, Faults: faults, At: protocol.Time(began), Lots: r.lots[:min(len(r.lots), 20)],
		History: history, Final: final, DBLatencyMS: millis(cfg.DBLatency), DSQLSim: simReport,
	}
	for _, n := range rep.Nodes {
		rep.OCCRetries += n.OCCRetries
	}
	if cfg.RawBound && env != nil {
		rb, err := rawBound(ctx, env, cfg.N, cfg.K)
		if err != nil {
			return nil, fmt.Errorf("raw bound: %w", err)
		}
		if rep.DurationMS > 0 {
			rb.Fraction = rb.DurationMS / rep.DurationMS
		}
		rep.RawBound = &rb
	}
	rep.Verdict = "Invariant held"
	if !rep.OK {
		rep.Verdict = "Invariant VIOLATED"
	}
	return rep, nil
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func latencies(os []outcome) Latency {
	if len(os) == 0 {
		return Latency{}
	}
	ds := make([]time.Duration, len(os))
	for i, o := range os {
		ds[i] = o.latency
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return Latency{P50: millis(ds[len(ds)/2]), P99: millis(ds[min(len(ds)-1, len(ds)*99/100)]), Max: millis(ds[len(ds)-1])}
}

func (r *run) byRegion(os []outcome) map[string]RegionCounts {
	m := map[string]RegionCounts{}
	for _, o := range os {
		c := m[o.region]
		c.Node = r.urls[r.nodeOf(max(0, slices.Index(regions, o.region)))]
		switch o.code {
		case "":
			c.OK++
		case "info":
			c.Info++
		default:
			c.Rejected++
		}
		m[o.region] = c
	}
	return m
}

// nodeOf is the node a Region's participants use: Regions are spread over
// the nodes, so on several nodes one wallet is raced from two of them.
func (r *run) nodeOf(region int) int { return region % len(r.wss) }

// nodeOrder is the WebSocket URLs a participant of the Region tries: its
// own node first, then the others in turn.
func (r *run) nodeOrder(region int) []string {
	first := r.nodeOf(region)
	out := make([]string, 0, len(r.wss))
	for k := range r.wss {
		out = append(out, r.wss[(first+k)%len(r.wss)])
	}
	return out
}
