package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/lotzero/lotzero/proof"
	"github.com/lotzero/lotzero/proof/checker"
	"github.com/mattn/go-isatty"
)

// runProof is `lotzero proof`: one proof run, a table, an exit status.
func runProof(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lotzero proof")
	var cfg proof.Config
	fs.StringVar(&cfg.Scenario, "scenario", "oversell", "race: "+strings.Join(proof.Scenarios, ", "))
	fs.IntVar(&cfg.N, "n", 500, "participants: real WebSocket sessions")
	fs.IntVar(&cfg.K, "k", 0, "units for sale (oversell, dutch); default n/10 for oversell, 1 for dutch")
	fs.StringVar(&cfg.URL, "url", "", "a server in demo mode (http://host:port); empty starts one")
	fs.BoolVar(&cfg.Faults, "faults", false, "during the race: drop a third of the connections, restart PostgreSQL, SIGKILL and restart the node")
	fs.BoolVar(&cfg.RawBound, "raw-bound", false, "also time the bare claim statement from as many connections: the database's own limit")
	historyFile := fs.String("history", "", "write the history, one JSON operation per line, to this file")
	reportFile := fs.String("report", "", "write the JSON report to this file")
	if err := fs.parse(args, stderr); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	tty := false
	if f, ok := stderr.(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd())
	}
	cfg.Progress = func(s string) {
		if tty {
			fmt.Fprintf(stderr, "\r\033[K%s", s)
		} else if !strings.HasPrefix(s, "racing:") {
			fmt.Fprintln(stderr, s)
		}
	}
	rep, err := proof.Run(ctx, cfg)
	if tty {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	if *historyFile != "" {
		if err := writeFile(*historyFile, func(w io.Writer) error { return checker.WriteJSONL(w, rep.History) }); err != nil {
			return err
		}
	}
	if *reportFile != "" {
		if err := writeFile(*reportFile, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		}); err != nil {
			return err
		}
	}
	printReport(stdout, rep)
	if !rep.OK {
		return exitError(1)
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func printReport(w io.Writer, r *proof.Report) {
	fmt.Fprintf(w, "%s — %s, n=%d k=%d on %s / %s\n", r.Verdict, r.Scenario, r.N, r.K, r.Backends.Ledger, r.Backends.Firehose)
	codes := make([]string, 0, len(r.Check.Rejected))
	for c, n := range r.Check.Rejected {
		codes = append(codes, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(codes)
	fmt.Fprintf(w, "  %-22s %d\n", "ok", r.Check.Succeeded)
	fmt.Fprintf(w, "  %-22s %s\n", "rejected", strings.Join(codes, ", "))
	fmt.Fprintf(w, "  %-22s %d\n", "info (unknown)", r.Check.Unknown)
	fmt.Fprintf(w, "  %-22s %d\n", "sold", r.Check.Sold)
	fmt.Fprintf(w, "  %-22s p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", "latency", r.Latency.P50, r.Latency.P99, r.Latency.Max)
	fmt.Fprintf(w, "  %-22s %.1f ms\n", "duration", r.DurationMS)
	fmt.Fprintf(w, "  %-22s %d\n", "OCC retries", r.OCCRetries)
	regions := make([]string, 0, len(r.Regions))
	for reg := range r.Regions {
		regions = append(regions, reg)
	}
	sort.Strings(regions)
	for _, reg := range regions {
		c := r.Regions[reg]
		fmt.Fprintf(w, "  %-22s ok %d, rejected %d, info %d\n", reg, c.OK, c.Rejected, c.Info)
	}
	if rb := r.RawBound; rb != nil {
		fmt.Fprintf(w, "  %-22s %d statements on %d connections in %.1f ms: LotZero reaches %.0f%% of it\n",
			"raw database bound", rb.Statements, rb.Conns, rb.DurationMS, 100*rb.Fraction)
	}
	for _, f := range r.Faults {
		fmt.Fprintf(w, "  fault: %s\n", f)
	}
	for _, v := range r.Check.Violations {
		fmt.Fprintf(w, "  VIOLATION: %s\n", v)
	}
}
