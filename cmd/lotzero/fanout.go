package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/lotzero/lotzero/internal/fanoutbench"
)

// runFanout is `lotzero fanout`: the fan-out benchmark of the README.
func runFanout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lotzero fanout")
	var cfg fanoutbench.Config
	fs.StringVar(&cfg.URL, "url", "", "a running server (http://host:port); empty starts one with this binary")
	fs.IntVar(&cfg.Clients, "clients", 5000, "WebSocket clients joined to one lot")
	fs.IntVar(&cfg.Users, "users", 500, "distinct users the clients log in as")
	fs.IntVar(&cfg.Bids, "bids", 20, "bid events measured")
	fs.DurationVar(&cfg.Interval, "interval", 250*time.Millisecond, "pause between measured bids")
	if err := fs.parse(args, stderr); err != nil {
		return err
	}
	cfg.Progress = func(s string) { fmt.Fprintln(stderr, "fanout:", s) }
	res, err := fanoutbench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "clients %d  arrivals %d (missing %d)  commit→client p50 %v  p99 %v  max %v  connect %v\n",
		res.Clients, res.Samples, res.Missing, res.P50.Round(time.Millisecond/10), res.P99.Round(time.Millisecond/10),
		res.Max.Round(time.Millisecond/10), res.ConnectTime.Round(time.Millisecond))
	if res.RSSPerConn > 0 {
		fmt.Fprintf(stdout, "server RSS %.1f MiB idle → %.1f MiB loaded: %.1f KiB per connection\n",
			float64(res.RSSBase)/(1<<20), float64(res.RSSLoaded)/(1<<20), res.RSSPerConn/1024)
	}
	return nil
}
