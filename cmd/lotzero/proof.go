package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/lotzero/lotzero/hub"
	"github.com/lotzero/lotzero/proof"
	"github.com/lotzero/lotzero/proof/checker"
	"github.com/mattn/go-isatty"
)

// Exit statuses of `lotzero proof`: 0 every invariant held, 1 one was
// violated, 2 the run could not be carried out (or a record not read).
const (
	exitViolated   = exitError(1)
	exitNotCarried = exitError(2)
)

// runProof is `lotzero proof`: one proof run, a table, an exit status; or
// `lotzero proof check FILE`, the checker again on a run's record.
func runProof(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "check" {
		return runProofCheck(args[1:], stdout, stderr)
	}
	fs := newFlagSet("lotzero proof")
	var cfg proof.Config
	fs.StringVar(&cfg.Scenario, "scenario", "oversell", "race: "+strings.Join(proof.Scenarios, ", "))
	fs.IntVar(&cfg.N, "n", 500, "participants: real WebSocket sessions")
	fs.IntVar(&cfg.K, "k", 0, "units for sale (oversell, dutch); default n/10 for oversell, 1 for dutch")
	authSecret := fs.String("auth-secret", "", "a production deployment's token secret: the proof signs its users' tokens and funds them by operator credits (demo mode when empty)")
	fs.bind("auth-secret", "LOTZERO_AUTH_SECRET")
	fs.Func("url", "a node of a running deployment, demo or production (http://host:port); repeat it for every node; none starts the proof's own", func(u string) error {
		cfg.URLs = append(cfg.URLs, u)
		return nil
	})
	fs.IntVar(&cfg.Nodes, "nodes", 1, "without --url: how many nodes to start, sharing one PostgreSQL (several: OCC decides between them)")
	firehoseKind := fs.String("firehose", "memory", "without --url: the nodes' firehose, memory or dynamodb (DynamoDB at --dynamodb-endpoint)")
	fs.StringVar(&cfg.DynamoEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint for --firehose dynamodb, e.g. DynamoDB Local")
	fs.bind("dynamodb-endpoint", "LOTZERO_DYNAMODB_ENDPOINT")
	fs.BoolVar(&cfg.Faults, "faults", false, "during the race: drop a third of the connections, restart PostgreSQL, SIGKILL and restart the node")
	fs.BoolVar(&cfg.RawBound, "raw-bound", false, "also time the bare claim statement from as many connections: the database's own limit")
	fs.DurationVar(&cfg.DBLatency, "db-latency", 0, "without --url: add this round trip between every node (and the raw bound) and the proof's own PostgreSQL, e.g. 20ms for a cross-Region commit")
	dsqlSim := fs.Bool("dsql-sim", false, "without --url: put the DSQL layer between the nodes and the proof's own PostgreSQL: aborted COMMITs (40001 OC000), statements DSQL refuses, 54000 limits, connections closed after their lifetime (with --db-latency it adds that too)")
	dsqlAbortShare := fs.Float64("dsql-abort-share", 0.05, "with --dsql-sim: the share of writing COMMITs aborted with 40001 OC000")
	dsqlLostShare := fs.Float64("dsql-lost-reply-share", 0.01, "with --dsql-sim: the share of writing COMMITs that commit but whose answer is lost (the connection cut): the outcome-unknown path")
	dsqlConnLifetime := fs.Duration("dsql-conn-lifetime", 20*time.Second, "with --dsql-sim: how long a database connection lives before the layer closes it (DSQL: 1h)")
	historyFile := fs.String("history", "", "write the run's record to this file: the final reads, then the history, one JSON operation per line (re-check it with `lotzero proof check FILE`)")
	reportFile := fs.String("report", "", "write the JSON report to this file")
	if err := fs.parse(args, stderr); err != nil {
		return err
	}
	switch {
	case *firehoseKind == "memory":
		cfg.DynamoEndpoint = ""
	case *firehoseKind == "dynamodb" && cfg.DynamoEndpoint == "":
		fmt.Fprintln(stderr, "lotzero proof: --firehose dynamodb needs --dynamodb-endpoint (or LOTZERO_DYNAMODB_ENDPOINT)")
		return exitNotCarried
	case *firehoseKind != "dynamodb":
		fmt.Fprintln(stderr, "lotzero proof: --firehose must be memory or dynamodb")
		return exitNotCarried
	}
	if *authSecret != "" {
		if err := hub.CheckSecret(*authSecret); err != nil {
			fmt.Fprintln(stderr, "lotzero proof:", err)
			return exitNotCarried
		}
		tokens := hub.NewTokens(*authSecret, 0)
		cfg.Mint = func(user string, roles []string) (string, error) { return tokens.Mint(user, roles, time.Hour) }
	}
	if *dsqlSim {
		opts := proof.DSQLSimDefaults(*dsqlAbortShare, *dsqlLostShare, *dsqlConnLifetime)
		cfg.DSQLSim = &opts
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "lotzero proof:", err)
		return exitNotCarried
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
		fmt.Fprintln(stderr, "lotzero proof: the run could not be carried out:", err)
		return exitNotCarried
	}
	if *historyFile != "" {
		if err := writeFile(*historyFile, func(w io.Writer) error { return checker.WriteRecord(w, rep.Final, rep.History) }); err != nil {
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
		return exitViolated
	}
	return nil
}

// runProofCheck re-runs the independent checker on a record file, offline.
func runProofCheck(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: lotzero proof check FILE (a record written by lotzero proof --history FILE)")
		return exitNotCarried
	}
	f, err := os.Open(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "lotzero proof check:", err)
		return exitNotCarried
	}
	defer f.Close()
	final, ops, err := checker.ReadRecord(f)
	if err != nil {
		fmt.Fprintln(stderr, "lotzero proof check:", err)
		return exitNotCarried
	}
	res := checker.Check(ops, final)
	verdict := "Invariant held"
	if !res.OK {
		verdict = "Invariant VIOLATED"
	}
	fmt.Fprintf(stdout, "%s — %s, n=%d k=%d, %d operations re-checked offline\n", verdict, final.Scenario, final.N, final.K, len(ops))
	fmt.Fprintf(stdout, "  %-22s %d\n  %-22s %d\n", "ok", res.Succeeded, "sold", res.Sold)
	for _, v := range res.Violations {
		fmt.Fprintf(stdout, "  VIOLATION: %s\n", v)
	}
	if !res.OK {
		return exitViolated
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
	if r.DBLatencyMS > 0 {
		fmt.Fprintf(w, "  %-22s %.1f ms per round trip, injected between every node and PostgreSQL\n", "database latency", r.DBLatencyMS)
	}
	if d := r.DSQLSim; d != nil {
		fmt.Fprintf(w, "  %-22s aborted %d of %d writing COMMITs (OC000 %d at share %.0f%%, OC001 %d), refused %d statements, 54000 %d, closed %d connections (lifetime %.0f s)\n",
			"DSQL layer", d.AbortedOC000+d.AbortedOC001, d.Commits+d.AbortedOC000+d.AbortedOC001, d.AbortedOC000, 100*d.AbortShare, d.AbortedOC001,
			d.RefusedTotal(), d.RowLimit+d.TimeLimit, d.ConnsClosed, d.ConnLifetimeMS/1000)
		fmt.Fprintf(w, "  %-22s %d COMMITs committed with their answer withheld (share %.0f%%): settled by the nodes' retries\n", "", d.LostReplies, 100*d.LostReplyShare)
		for rule, n := range d.Refused {
			fmt.Fprintf(w, "  %-22s %d statements refused: %s\n", "", n, rule)
		}
	}
	for _, n := range r.Nodes {
		fmt.Fprintf(w, "  %-22s commits %d, OCC retries %d, outcome unknown %d, busy %d\n", "node "+n.URL, n.Commits, n.OCCRetries, n.UnknownCommits, n.Busy)
	}
	regions := make([]string, 0, len(r.Regions))
	for reg := range r.Regions {
		regions = append(regions, reg)
	}
	sort.Strings(regions)
	for _, reg := range regions {
		c := r.Regions[reg]
		fmt.Fprintf(w, "  %-22s ok %d, rejected %d, info %d (on %s)\n", reg, c.OK, c.Rejected, c.Info, c.Node)
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
