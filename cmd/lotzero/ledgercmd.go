package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/lotzero/lotzero/firehose"
	"github.com/lotzero/lotzero/ledger"
	"github.com/rs/zerolog"
)

// openLedger parses the shared flags, opens the ledger and migrates it.
func openLedger(ctx context.Context, name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (*ledger.Ledger, error) {
	l, _, err := openLedgerLogged(ctx, name, args, stderr, extra)
	return l, err
}

// openLedgerLogged is openLedger that also returns the configured logger.
func openLedgerLogged(ctx context.Context, name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (*ledger.Ledger, zerolog.Logger, error) {
	fs := flag.NewFlagSet("lotzero "+name, flag.ContinueOnError)
	var lf ledgerFlags
	lf.register(fs)
	if extra != nil {
		extra(fs)
	}
	var log zerolog.Logger
	if err := parse(fs, args, stderr); err != nil {
		return nil, log, err
	}
	cfg, err := lf.config()
	if err != nil {
		return nil, log, err
	}
	if log, err = lf.logger(stderr); err != nil {
		return nil, log, err
	}
	l, err := ledger.Open(ctx, cfg, ledger.Options{Logger: log})
	if err != nil {
		return nil, log, err
	}
	if err := l.Migrate(ctx); err != nil {
		l.Close()
		return nil, log, err
	}
	return l, log, nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var table, endpoint string
	l, err := openLedger(ctx, "migrate", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&table, "dynamodb-table", env("DYNAMODB_TABLE", ""), "also create this DynamoDB table (stream NEW_IMAGE, TTL) if missing (env DYNAMODB_TABLE)")
		fs.StringVar(&endpoint, "dynamodb-endpoint", env("DYNAMODB_ENDPOINT", ""), "DynamoDB endpoint override (env DYNAMODB_ENDPOINT)")
	})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(stdout, "schema up to date on %s\n", l.Backend())
	if table != "" {
		d, err := firehose.NewDynamo(ctx, firehose.DynamoConfig{Table: table, Endpoint: endpoint})
		if err != nil {
			return err
		}
		if err := d.CreateTable(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "DynamoDB table %s ready\n", table)
	}
	return nil
}

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	l, err := openLedger(ctx, "seed", args, stderr, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	evs, err := l.Seed(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo data ready on %s (%d lots opened now)\n", l.Backend(), len(evs))
	return nil
}

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	l, err := openLedger(ctx, "audit", args, stderr, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	vs, err := l.Audit(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"ok": len(vs) == 0, "violations": vs}); err != nil {
		return err
	}
	if len(vs) > 0 {
		return exitError(1)
	}
	return nil
}
