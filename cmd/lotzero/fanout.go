package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lotzero/lotzero/internal/fanoutbench"
)

// runFanout is `lotzero fanout`: the fan-out benchmark of the README.
func runFanout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lotzero fanout")
	var cfg fanoutbench.Config
	fs.StringVar(&cfg.URL, "url", "", "a running server (http://host:port); empty starts one with this binary on its defaults")
	fs.IntVar(&cfg.Pid, "pid", 0, "with --url: the server's process id, so its CPU and memory are measured too")
	peer := fs.String("peer", "", `measure a peer with the same clients instead: "centrifugo" (at --url, its client and HTTP API insecure; --pid for its CPU and memory)`)
	fs.StringVar(&cfg.Binary, "binary", "", "the lotzero binary the started server runs (empty: this one), e.g. another build to compare")
	fs.IntVar(&cfg.Sessions, "sessions", 5000, "WebSocket sessions that dial and join one lot at the same instant")
	fs.IntVar(&cfg.Users, "users", 0, "distinct users the sessions log in as; 0: one user per session")
	fs.IntVar(&cfg.Bids, "bids", 20, "bids measured")
	fs.DurationVar(&cfg.Interval, "interval", 250*time.Millisecond, "pause between measured bids")
	fs.IntVar(&cfg.Chatters, "chatters", 0, "sessions that chat during a second round of bids (the chat storm); 0: one quiet round")
	fs.IntVar(&cfg.Rounds, "rounds", 1, "with --chatters: quiet and storm rounds alternated this many times, so other load on the machine falls on both alike")
	fs.Float64Var(&cfg.ChatRate, "chat-rate", 2, "chat lines per second per chatter (the server's default limit is 2)")
	profile := fs.String("client-profile", "", "write a CPU profile of the clients over the measured bids to this file")
	if err := fs.parse(args, stderr); err != nil {
		return err
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.ClientProfile = f
	}
	cfg.Progress = func(s string) { fmt.Fprintln(stderr, "fanout:", s) }
	run := fanoutbench.Run
	switch *peer {
	case "":
	case "centrifugo":
		run = fanoutbench.RunCentrifugo
	default:
		return fmt.Errorf("--peer must be centrifugo")
	}
	res, err := run(ctx, cfg)
	if err != nil && !errors.Is(err, fanoutbench.ErrLoss) && !errors.Is(err, fanoutbench.ErrClosed) {
		return err
	}
	fmt.Fprintf(stdout, "sessions %d (users %d): joined %d in %v", res.Sessions, res.Users, res.Joined, res.JoinTime.Round(time.Millisecond))
	if len(res.JoinFailures) > 0 {
		var fails []string
		for why, n := range res.JoinFailures {
			fails = append(fails, fmt.Sprintf("%s ×%d", why, n))
		}
		sort.Strings(fails)
		fmt.Fprintf(stdout, ", failed: %s", strings.Join(fails, ", "))
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "bid sent → received: p50 %v  p99 %v  max %v over %d arrivals (missing %d, duplicated %d, out of order %d)\n",
		res.P50.Round(time.Millisecond/10), res.P99.Round(time.Millisecond/10), res.Max.Round(time.Millisecond/10),
		res.Samples, res.Missing, res.Duplicates, res.OutOfOrder)
	if len(res.BidP99) > 1 {
		ms := make([]string, len(res.BidP99))
		for i, d := range res.BidP99 {
			ms[i] = strconv.FormatInt(d.Milliseconds(), 10)
		}
		fmt.Fprintf(stdout, "each quiet bid's p99 in the order sent (ms): %s\n", strings.Join(ms, " "))
	}
	if cfg.Chatters > 0 {
		printStorm(stdout, cfg, res)
	}
	if res.ServerCPUPerBid > 0 {
		fmt.Fprintf(stdout, "server CPU per bid in the quiet room (its fan-out to every session): %v\n", res.ServerCPUPerBid.Round(time.Millisecond/10))
	}
	if res.RSSPerConn > 0 {
		fmt.Fprintf(stdout, "server RSS %.1f MiB before → %.1f MiB joined: %.1f KiB per session (%.1f MiB after the bids)\n",
			float64(res.RSSBase)/(1<<20), float64(res.RSSLoaded)/(1<<20), res.RSSPerConn/1024, float64(res.RSSAfter)/(1<<20))
	}
	if err != nil {
		fmt.Fprintln(stdout, "FAILED:", err)
		return exitError(1)
	}
	return nil
}

// printStorm reports the chat-storm round against the quiet one.
func printStorm(w io.Writer, cfg fanoutbench.Config, res fanoutbench.Result) {
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond / 10) }
	q, s, c := res.Quiet, res.Storm, res.Chat
	fmt.Fprintf(w, "quiet room:  p50 %v  p99 %v  max %v (%d arrivals)\n", ms(q.P50), ms(q.P99), ms(q.Max), q.Samples)
	fmt.Fprintf(w, "chat storm:  p50 %v  p99 %v  max %v (%d arrivals)", ms(s.P50), ms(s.P99), ms(s.Max), s.Samples)
	if q.P99 > 0 {
		fmt.Fprintf(w, "  storm p99 / quiet p99 = %.2f", float64(s.P99)/float64(q.P99))
	}
	fmt.Fprintln(w)
	secs := c.Duration.Seconds()
	if secs <= 0 {
		secs = 1
	}
	fmt.Fprintf(w, "chat: %d chatters at %.3g lines/s sent %d lines in %.1fs (%.0f/s): broadcast %d (%.0f/s), suppressed over the room's budget %d, rate limited %d, failed %d\n",
		cfg.Chatters, cfg.ChatRate, c.Sent, secs, float64(c.Sent)/secs, c.Broadcast, float64(c.Broadcast)/secs, c.Suppressed, c.RateLimited, c.Failed)
	share := 0.0
	if c.Sent > 0 {
		share = 100 * float64(c.Broadcast) / float64(c.Sent)
	}
	fmt.Fprintf(w, "room chat budget %.3g lines/s: %.1f%% of lines shown; each session received %.0f lines and %.0f suppressed counts in %.0f batch frames\n",
		c.Budget, share, c.Received, c.Counted, c.Batches)
	closed := 0
	for _, n := range res.Closed {
		closed += n
	}
	fmt.Fprintf(w, "sessions closed by the server: %d %v\n", closed, res.Closed)
	if res.QuietCores > 0 {
		fmt.Fprintf(w, "server CPU: %.2f cores in the quiet room, %.2f in the storm; the clients' (this process): %.2f and %.2f\n",
			res.QuietCores, res.StormCores, res.ClientQuietCores, res.ClientStormCores)
	}
}
