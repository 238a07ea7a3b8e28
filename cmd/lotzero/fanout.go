package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/lotzero/lotzero/internal/fanoutbench"
)

// runFanout is `lotzero fanout`: the fan-out benchmark of the README.
func runFanout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lotzero fanout")
	var cfg fanoutbench.Config
	fs.StringVar(&cfg.URL, "url", "", "a running server (http://host:port); empty starts one with this binary on its defaults")
	fs.IntVar(&cfg.Sessions, "sessions", 5000, "WebSocket sessions that dial and join one lot at the same instant")
	fs.IntVar(&cfg.Users, "users", 0, "distinct users the sessions log in as; 0: one user per session")
	fs.IntVar(&cfg.Bids, "bids", 20, "bids measured")
	fs.DurationVar(&cfg.Interval, "interval", 250*time.Millisecond, "pause between measured bids")
	if err := fs.parse(args, stderr); err != nil {
		return err
	}
	cfg.Progress = func(s string) { fmt.Fprintln(stderr, "fanout:", s) }
	res, err := fanoutbench.Run(ctx, cfg)
	if err != nil && !errors.Is(err, fanoutbench.ErrLoss) {
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
	if res.ServerCPUPerBid > 0 {
		fmt.Fprintf(stdout, "server CPU per bid (its fan-out to every session): %v\n", res.ServerCPUPerBid.Round(time.Millisecond/10))
	}
	if res.RSSPerConn > 0 {
		fmt.Fprintf(stdout, "server RSS %.1f MiB before → %.1f MiB joined: %.1f KiB per session\n",
			float64(res.RSSBase)/(1<<20), float64(res.RSSLoaded)/(1<<20), res.RSSPerConn/1024)
	}
	if err != nil {
		fmt.Fprintln(stdout, "FAILED:", err)
		return exitError(1)
	}
	return nil
}
