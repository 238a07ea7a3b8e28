// Command lotzero is the LotZero server and its operator tools. It only
// wires packages together — the money in ledger/, the rooms in hub/, the
// social stream in firehose/, the proof in proof/ — and owns the
// configuration: flags, each bound to an environment variable, with the
// defaults of the package that applies them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

const usage = `lotzero — real-time auctions on a strongly consistent ledger

Usage:
  lotzero [serve]    run the server: HTTP API, WebSocket at /ws, web UI at /
  lotzero token      mint a token: --user U --role bidder|host|bot|operator --ttl 24h (needs LOTZERO_AUTH_SECRET)
  lotzero demo       migrate, seed, run a short live rush against the ledger, print the audit
  lotzero proof      race N real sessions (--scenario oversell|double-spend|dutch|english -n N -k K
                     [--url U ... | --nodes N] [--faults] [--raw-bound] [--db-latency D] [--dsql-sim]
                     [--history FILE]) and check every invariant from the history; --db-latency adds D per
                     database round trip (the proof's own PostgreSQL); --dsql-sim makes that PostgreSQL
                     behave as Aurora DSQL (aborted COMMITs, refusals, limits, connection lifetimes);
                     exit 1 on a violation, 2 if not carried out
  lotzero proof check FILE   re-check a run's record offline
  lotzero fanout     benchmark: --sessions N join one lot at once (--users U); bid sent → received, CPU, memory
  lotzero migrate    apply the ledger schema
  lotzero seed       apply the schema and create the demo data (idempotent)
  lotzero audit      check every ledger invariant; exit status 1 on a violation
  lotzero credit     an operator credits a wallet: --user U --amount A --ref R [--create] (idempotent by --ref)
  lotzero payout     an operator lists host payouts [--status pending|paid|failed], or settles one once:
                     --id P --paid [--transfer REF] | --failed [--reason TEXT]

Run 'lotzero <command> -h' for the flags of a command. Every flag can also be
set by the environment variable named in its help.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] != "" && args[0][0] != '-') {
		cmd, args = args[0], args[1:]
	}
	commands := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"serve": runServe, "token": runToken, "proof": runProof, "fanout": runFanout,
		"demo": runDemo, "migrate": runMigrate, "seed": runSeed, "audit": runAudit, "credit": runCredit,
		"payout": runPayout,
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		fmt.Fprintln(stdout, "\nFlags of lotzero serve (the default command):")
		fs := newFlagSet("lotzero serve")
		fs.SetOutput(stdout)
		(&ledgerFlags{}).register(fs)
		(&hubFlags{}).register(fs)
		fs.PrintDefaults()
		return 0
	}
	runCmd, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "lotzero: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	err := runCmd(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var exit exitError
	if errors.As(err, &exit) {
		return int(exit)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lotzero %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// exitError ends the program with a status and no further message.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// newLogger logs JSON, or readable console lines when stderr is a terminal.
func newLogger(w io.Writer, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("log level: %w", err)
	}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
