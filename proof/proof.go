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
	"sort"
	"strings"
	"sync"
	"time"

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
	// URL of a server in demo mode. Empty starts one from Binary (faults
	// need that: the runner must own the processes it kills).
	URL    string
	Binary string
	Faults bool
	// RawBound also measures the database's own limit: the same claim
	// statement alone, from as many connections (oversell and double-spend;
	// needs a server the proof starts itself).
	RawBound bool
	// Progress, when set, receives a line as the run advances.
	Progress func(string)
}

// Report is a run's outcome: the checker's verdict and what was measured.
type Report struct {
	Scenario   string                  `json:"scenario"`
	N          int                     `json:"n"`
	K          int                     `json:"k"`
	OK         bool                    `json:"ok"`
	Verdict    string                  `json:"verdict"` // "Invariant held" or "Invariant VIOLATED"
	Check      checker.Result          `json:"check"`
	DurationMS float64                 `json:"duration_ms"` // barrier release to the last outcome
	Latency    Latency                 `json:"latency_ms"`
	OCCRetries int64                   `json:"occ_retries"`
	Regions    map[string]RegionCounts `json:"regions"`
	Backends   protocol.ServerInfo     `json:"backends"`
	Faults     []string                `json:"faults,omitempty"`
	RawBound   *RawBound               `json:"raw_bound,omitempty"`
	History    []checker.Op            `json:"-"`
	Final      checker.Final           `json:"-"`
}

// Latency of operations from invoke to outcome, in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// RegionCounts are one Region's outcomes.
type RegionCounts struct {
	OK       int `json:"ok"`
	Rejected int `json:"rejected"`
	Info     int `json:"info"`
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
	if (c.Faults || c.RawBound) && c.URL != "" {
		return errors.New("faults and the raw bound need a server the proof starts itself (no --url)")
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
	if cfg.URL == "" {
		var err error
		if env, err = startNodes(ctx, cfg.Binary, cfg.Faults || cfg.RawBound); err != nil {
			return nil, err
		}
		defer env.stop()
		cfg.URL = env.URL
	}
	r := &run{cfg: cfg, rec: &recorder{}, ws: protocol.WSURL(cfg.URL), tag: fmt.Sprintf("p%04x", rand.IntN(1<<16))}
	return r.execute(ctx, env)
}

type run struct {
	cfg    Config
	rec    *recorder
	ws     string
	tag    string // makes this run's users and ids unique on a long-lived server
	host   string // the host's token
	parts  []*participant
	lots   []string
	prices map[string][]int64
	price  int64
	server protocol.ServerInfo
}

func (r *run) execute(ctx context.Context, env *nodes) (*Report, error) {
	cfg := r.cfg
	host, err := protocol.Login(ctx, cfg.URL, "auctioneer", "us-east-1")
	if err != nil {
		return nil, fmt.Errorf("log in as the host (the server must be in demo mode): %w", err)
	}
	r.host = host.Token
	hostBefore, err := r.wallet(ctx, r.host)
	if err != nil {
		return nil, err
	}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	cfg.say("%d sessions connected; %d lots ready", len(r.parts), len(r.lots))
	var obs *observer
	if len(r.lots) == 1 {
		if obs, err = r.observe(ctx, r.lots[0]); err != nil {
			return nil, err
		}
		defer obs.stop()
	}
	retriesBefore := occRetries(ctx, cfg.URL)

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

	if err := r.finish(ctx); err != nil {
		return nil, err
	}
	final, err := r.final(ctx, hostBefore)
	if err != nil {
		return nil, err
	}
	if obs != nil {
		obs.await(final.Lots[0].Seq, 15*time.Second)
		final.Observed = []string{obs.lot}
	}
	history := r.rec.history()
	res := checker.Check(history, final)
	rep := &Report{
		Scenario: cfg.Scenario, N: cfg.N, K: cfg.K, OK: res.OK, Check: res,
		DurationMS: millis(duration), Latency: latencies(outcomes), Regions: byRegion(outcomes),
		OCCRetries: occRetries(ctx, cfg.URL) - retriesBefore, Backends: r.server, Faults: faults,
		History: history, Final: final,
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

func byRegion(os []outcome) map[string]RegionCounts {
	m := map[string]RegionCounts{}
	for _, o := range os {
		c := m[o.region]
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
